//! Tenders: the public list, one tender, its package; staff publish a package.

use crate::auth::StaffAuth;
use crate::db::Tender;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenders::MAX_TENDER_PACKAGE;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// A tender as the API shows it.
#[derive(Debug, Serialize)]
pub struct TenderView {
    #[serde(flatten)]
    tender: Tender,
    /// 投标截止时间, RFC 3339 UTC.
    bid_deadline_rfc3339: String,
    /// 开标时间, RFC 3339 UTC.
    opening_time_rfc3339: String,
    /// Whether bids are still accepted now.
    accepting_bids: bool,
}

/// The API view of a tender at `now`.
pub fn view(tender: Tender, now: i64) -> TenderView {
    TenderView {
        bid_deadline_rfc3339: crate::clock::rfc3339(tender.bid_deadline),
        opening_time_rfc3339: crate::clock::rfc3339(tender.opening_time),
        accepting_bids: now < tender.bid_deadline,
        tender,
    }
}

/// `GET /tenders`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TenderView>>, ApiError> {
    let now = state.clock.now_unix();
    Ok(Json(
        state
            .db
            .tenders()
            .await?
            .into_iter()
            .map(|t| view(t, now))
            .collect(),
    ))
}

/// `GET /tenders/{id}`.
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TenderView>, ApiError> {
    let tender = state
        .db
        .tender(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    Ok(Json(view(tender, state.clock.now_unix())))
}

/// `GET /tenders/{id}/package`: the signed tender package (zip).
pub async fn package(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = state
        .db
        .tender_package(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.zip\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /staff/tenders`: publish a tender package (body: the zip).
pub async fn publish(
    State(state): State<AppState>,
    _staff: StaffAuth,
    body: Bytes,
) -> Result<Json<TenderView>, ApiError> {
    if body.len() > MAX_TENDER_PACKAGE {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "E_TOO_LARGE",
            "招标文件包过大",
        ));
    }
    let tender = crate::tenders::publish(&state, body.to_vec()).await?;
    Ok(Json(view(tender, state.clock.now_unix())))
}

/// The published opening reading as sent: the exact signed JSON and its signature.
#[derive(Debug, Serialize)]
pub struct OpeningReportView {
    /// Tender.
    tender: String,
    /// The signed `bidseal-opening/1` JSON, exactly.
    report_json: String,
    /// Base64 DER ECDSA signature over `report_json`.
    signature: String,
    /// SHA-256 of `report_json`.
    sha256: String,
}

/// `GET /tenders/{id}/opening-report`: the signed reading (唱标), public once the opening ended
/// (404 before).
pub async fn opening_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OpeningReportView>, ApiError> {
    let r = state
        .db
        .opening_report(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("开标记录（开标结束后发布）"))?;
    Ok(Json(OpeningReportView {
        tender: r.tender_id,
        report_json: r.report_json,
        signature: r.signature,
        sha256: r.sha256,
    }))
}
