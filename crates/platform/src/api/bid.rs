//! Bid upload, status, replace and withdraw (company), receipts, and the staff's view of a
//! tender's bids.

use super::JsonBody;
use crate::auth::{AnyAuth, CompanyAuth, StaffAuth};
use crate::bids::{self, ReceiptView, MAX_CHUNK};
use crate::db::{Role, Upload};
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

/// `POST /tenders/{id}/uploads` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartUpload {
    /// File size, bytes.
    pub size: i64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// An upload's state.
#[derive(Debug, Serialize)]
pub struct UploadView {
    /// Upload id.
    pub id: String,
    /// Tender id.
    pub tender_id: String,
    /// Declared size.
    pub size: i64,
    /// Declared SHA-256.
    pub sha256: String,
    /// Bytes stored so far: resume from here.
    pub received: i64,
    /// `open`, `complete` or `aborted`.
    pub state: String,
    /// Largest chunk the platform takes in one `PUT`.
    pub max_chunk: usize,
}

fn upload_view(u: Upload) -> UploadView {
    UploadView {
        id: u.id,
        tender_id: u.tender_id,
        size: u.size,
        sha256: u.sha256,
        received: u.received,
        state: u.state,
        max_chunk: MAX_CHUNK,
    }
}

/// `POST /tenders/{id}/uploads`.
pub async fn start(
    State(state): State<AppState>,
    auth: CompanyAuth,
    Path(tender_id): Path<String>,
    JsonBody(body): JsonBody<StartUpload>,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
    let upload = bids::start_upload(
        &state,
        &tender_id,
        &auth.company.uscc,
        body.size,
        &body.sha256,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(upload_view(upload))))
}

/// `GET /uploads/{id}`.
pub async fn status(
    State(state): State<AppState>,
    auth: CompanyAuth,
    Path(id): Path<String>,
) -> Result<Json<UploadView>, ApiError> {
    Ok(Json(upload_view(
        bids::own_upload(&state, &id, &auth.company.uscc).await?,
    )))
}

/// `?offset=N` of a chunk.
#[derive(Debug, Deserialize)]
pub struct ChunkQuery {
    /// Where the chunk starts.
    pub offset: i64,
}

/// `PUT /uploads/{id}?offset=N` (body: the bytes).
pub async fn chunk(
    State(state): State<AppState>,
    auth: CompanyAuth,
    Path(id): Path<String>,
    Query(q): Query<ChunkQuery>,
    body: Bytes,
) -> Result<Json<UploadView>, ApiError> {
    let upload = bids::own_upload(&state, &id, &auth.company.uscc).await?;
    let received = bids::put_chunk(&state, &upload, q.offset, body).await?;
    Ok(Json(UploadView {
        received,
        ..upload_view(upload)
    }))
}

/// `POST /uploads/{id}/complete` → the signed receipt.
pub async fn complete(
    State(state): State<AppState>,
    auth: CompanyAuth,
    Path(id): Path<String>,
) -> Result<Json<ReceiptView>, ApiError> {
    let upload = bids::own_upload(&state, &id, &auth.company.uscc).await?;
    Ok(Json(
        bids::complete(&state, &upload, &auth.company).await?.into(),
    ))
}

/// A company's bid for a tender.
#[derive(Debug, Serialize)]
pub struct BidView {
    /// `submitted` or `withdrawn`.
    pub state: String,
    /// SHA-256 of the bid file.
    pub sha256: String,
    /// Size.
    pub size: i64,
    /// Unix seconds of the last change.
    pub updated_at: i64,
    /// The latest receipt.
    pub receipt: ReceiptView,
}

/// `GET /tenders/{id}/bid`.
pub async fn current(
    State(state): State<AppState>,
    auth: CompanyAuth,
    Path(tender_id): Path<String>,
) -> Result<Json<BidView>, ApiError> {
    let bid = state
        .db
        .bid(&tender_id, &auth.company.uscc)
        .await?
        .ok_or_else(|| ApiError::not_found("投标文件"))?;
    let receipt = state
        .db
        .receipt(&bid.receipt_id)
        .await?
        .ok_or_else(|| ApiError::internal("receipt missing", &bid.receipt_id))?;
    Ok(Json(BidView {
        state: bid.state,
        sha256: bid.sha256,
        size: bid.size,
        updated_at: bid.updated_at,
        receipt: receipt.into(),
    }))
}

/// `DELETE /tenders/{id}/bid` → the signed withdrawal receipt.
pub async fn withdraw(
    State(state): State<AppState>,
    auth: CompanyAuth,
    Path(tender_id): Path<String>,
) -> Result<Json<ReceiptView>, ApiError> {
    Ok(Json(
        bids::withdraw(&state, &tender_id, &auth.company)
            .await?
            .into(),
    ))
}

/// `GET /receipts/{id}`: the owner company or staff.
pub async fn receipt(
    State(state): State<AppState>,
    auth: AnyAuth,
    Path(id): Path<String>,
) -> Result<Json<ReceiptView>, ApiError> {
    let r = state
        .db
        .receipt(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("回执"))?;
    let allowed = match auth.account.role {
        Role::Staff => true,
        Role::Company => auth
            .account
            .company
            .as_ref()
            .is_some_and(|c| c.uscc == r.company_uscc),
    };
    if !allowed {
        return Err(ApiError::not_found("回执"));
    }
    Ok(Json(r.into()))
}

/// A bid as staff see it.
#[derive(Debug, Serialize)]
pub struct StaffBidView {
    /// Bidder.
    pub company: crate::db::Company,
    /// `submitted` or `withdrawn`.
    pub state: String,
    /// SHA-256 of the bid file.
    pub sha256: String,
    /// Size.
    pub size: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// The latest receipt id.
    pub receipt_id: String,
    /// The bid id to download (`GET /staff/tenders/{id}/bids/{bid}/file`); `None` once
    /// withdrawn.
    pub bid: Option<String>,
    /// When the platform received the current version (the receipt's time, RFC 3339 UTC).
    pub received_at: String,
    /// The latest receipt, signed: what a downloaded file is checked against.
    pub receipt: ReceiptView,
}

/// `GET /staff/tenders/{id}/bids`.
pub async fn staff_bids(
    State(state): State<AppState>,
    _staff: StaffAuth,
    Path(tender_id): Path<String>,
) -> Result<Json<Vec<StaffBidView>>, ApiError> {
    let mut out = Vec::new();
    for b in state.db.bids_of_tender(&tender_id).await? {
        let company = state
            .db
            .company(&b.company_uscc)
            .await?
            .ok_or_else(|| ApiError::internal("company missing", &b.company_uscc))?;
        let receipt = state
            .db
            .receipt(&b.receipt_id)
            .await?
            .ok_or_else(|| ApiError::internal("receipt missing", &b.receipt_id))?;
        let bid = b.upload_id.filter(|_| b.state == "submitted");
        out.push(StaffBidView {
            company,
            state: b.state,
            sha256: b.sha256,
            size: b.size,
            updated_at: b.updated_at,
            receipt_id: b.receipt_id,
            bid,
            received_at: crate::clock::rfc3339(receipt.created_at),
            receipt: receipt.into(),
        });
    }
    Ok(Json(out))
}

/// `GET /staff/tenders/{id}/bids/{bid}/file`: the stored bid file, streamed, after the
/// deadline (see [`crate::bid_files`]).
pub async fn staff_bid_file(
    State(state): State<AppState>,
    _staff: StaffAuth,
    Path((tender_id, bid_id)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    let bid = crate::bid_files::downloadable_bid(&state, &tender_id, &bid_id).await?;
    crate::bid_files::stream_bid(&state, &bid).await
}
