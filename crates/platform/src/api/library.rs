//! The integrity library (诚信库): a company reads its signed records; staff list companies
//! and create, edit (version bump, re-sign) and delete records.

use super::JsonBody;
use crate::auth::{CompanyAuth, StaffAuth};
use crate::db::{Company, StoredRecord};
use crate::error::ApiError;
use crate::records::{new_record_id, sign_record, RecordContent, RecordKind, SignedRecord};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One record as sent: the exact signed JSON and its signature.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct RecordView {
    /// Record id.
    pub id: String,
    /// Version.
    pub version: i64,
    /// Kind tag.
    pub kind: String,
    /// SHA-256 of `record_json`.
    pub sha256: String,
    /// The signed bytes (UTF-8 JSON, format `bidseal-record/1`).
    pub record_json: String,
    /// Base64 DER ECDSA P-256 signature over `record_json` by the platform certificate.
    pub signature: String,
}

impl From<StoredRecord> for RecordView {
    fn from(r: StoredRecord) -> Self {
        RecordView {
            id: r.id,
            version: r.version,
            kind: r.kind,
            sha256: r.sha256,
            record_json: r.record_json,
            signature: r.signature,
        }
    }
}

/// A company's library.
#[derive(Debug, Serialize)]
pub struct Library {
    /// The company.
    pub company: Company,
    /// Fingerprint of the certificate that signed the records.
    pub platform_fingerprint: String,
    /// The records, by id.
    pub records: Vec<RecordView>,
    /// The whole list as signed (`bidseal-library/1`: company, list version, time, every
    /// record's id, version and SHA-256), exactly.
    pub list_json: String,
    /// Base64 DER ECDSA signature over `list_json`.
    pub list_signature: String,
}

async fn library_of(state: &AppState, company: Company) -> Result<Library, ApiError> {
    let (version, records) = state.db.library(&company.uscc).await?;
    let (list_json, list_signature) = crate::records::sign_library(
        &state.identity,
        &company,
        version,
        &records,
        state.clock.now_unix(),
    )?;
    Ok(Library {
        company,
        platform_fingerprint: state.identity.fingerprint().to_string(),
        records: records.into_iter().map(RecordView::from).collect(),
        list_json,
        list_signature,
    })
}

/// `GET /records`: the caller's own library.
pub async fn company_records(
    State(state): State<AppState>,
    auth: CompanyAuth,
) -> Result<Json<Library>, ApiError> {
    Ok(Json(library_of(&state, auth.company).await?))
}

/// `GET /staff/companies`.
pub async fn staff_companies(
    State(state): State<AppState>,
    _staff: StaffAuth,
) -> Result<Json<Vec<Company>>, ApiError> {
    Ok(Json(state.db.companies().await?))
}

/// Body of a company registration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCompany {
    /// 统一社会信用代码 (checked: GB 32100 check characters).
    pub uscc: String,
    /// 企业名称.
    pub name: String,
    /// Initial password of the company account (at least 8 characters).
    pub password: String,
}

/// `POST /staff/companies`: registers a company and its account (login = its code).
pub async fn staff_register(
    State(state): State<AppState>,
    _staff: StaffAuth,
    JsonBody(body): JsonBody<NewCompany>,
) -> Result<(StatusCode, Json<Company>), ApiError> {
    let uscc = bidseal_phone::uscc::UnifiedSocialCreditCode::parse(&body.uscc)
        .map_err(|e| {
            ApiError::bad_request(
                "E_COMPANY_INVALID",
                format!("统一社会信用代码“{}”无效：{e}", body.uscc),
            )
        })?
        .as_str()
        .to_string();
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request(
            "E_COMPANY_INVALID",
            "企业名称不能为空且不超过 100 个字",
        ));
    }
    if body.password.chars().count() < 8 || body.password.len() > 256 {
        return Err(ApiError::bad_request(
            "E_COMPANY_INVALID",
            "初始密码至少 8 个字符",
        ));
    }
    if state.db.account(&uscc).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_COMPANY_EXISTS",
            format!("统一社会信用代码 {uscc} 已有账号"),
        ));
    }
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal("hash task", e))??;
    let company = Company { uscc, name };
    let now = state.clock.now_unix();
    state.db.upsert_company(&company, now).await?;
    if !state
        .db
        .create_account(
            &company.uscc,
            crate::db::Role::Company,
            Some(&company.uscc),
            &company.name,
            &hash,
            now,
        )
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "E_COMPANY_EXISTS",
            format!("统一社会信用代码 {} 已有账号", company.uscc),
        ));
    }
    Ok((StatusCode::CREATED, Json(company)))
}

/// `GET /staff/companies/{uscc}/records`.
pub async fn staff_records(
    State(state): State<AppState>,
    _staff: StaffAuth,
    Path(uscc): Path<String>,
) -> Result<Json<Library>, ApiError> {
    let company = state
        .db
        .company(&uscc)
        .await?
        .ok_or_else(|| ApiError::not_found("企业"))?;
    Ok(Json(library_of(&state, company).await?))
}

/// Body of a record create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// Kind tag.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Kind-specific fields.
    pub fields: Map<String, Value>,
}

/// Body of a record edit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordEdit {
    /// The version the editor saw (refused with 409 if someone saved in between).
    pub version: i64,
    /// New title.
    pub title: String,
    /// New fields.
    pub fields: Map<String, Value>,
}

fn parse_kind(tag: &str) -> Result<RecordKind, ApiError> {
    RecordKind::from_tag(tag).ok_or_else(|| {
        ApiError::bad_request(
            "E_RECORD_INVALID",
            format!(
                "记录类别“{tag}”无效，应为 basic、qualification、personnel、performance、finance 或 award"
            ),
        )
    })
}

/// `POST /staff/companies/{uscc}/records`: creates a record (version 1, signed).
pub async fn staff_create(
    State(state): State<AppState>,
    _staff: StaffAuth,
    Path(uscc): Path<String>,
    JsonBody(body): JsonBody<NewRecord>,
) -> Result<(StatusCode, Json<RecordView>), ApiError> {
    let company = state
        .db
        .company(&uscc)
        .await?
        .ok_or_else(|| ApiError::not_found("企业"))?;
    let kind = parse_kind(&body.kind)?;
    let rec = sign_record(
        &state.identity,
        &new_record_id(),
        1,
        &company,
        RecordContent {
            kind,
            title: body.title,
            fields: body.fields,
        },
        state.clock.now_unix(),
    )?;
    if !state.db.insert_record(&rec).await? {
        return Err(ApiError::internal("record id collision", &rec.id));
    }
    Ok((StatusCode::CREATED, Json(rec.into())))
}

/// `PUT /staff/records/{id}`: edits a record (version + 1, re-signed).
pub async fn staff_update(
    State(state): State<AppState>,
    _staff: StaffAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RecordEdit>,
) -> Result<Json<RecordView>, ApiError> {
    let old = state
        .db
        .record(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("诚信库记录"))?;
    if body.version != old.version {
        return Err(conflict(old.version));
    }
    let signed: SignedRecord = serde_json::from_str(&old.record_json)
        .map_err(|e| ApiError::internal("stored record", e))?;
    let rec = sign_record(
        &state.identity,
        &old.id,
        old.version + 1,
        &signed.company,
        RecordContent {
            kind: signed.kind,
            title: body.title,
            fields: body.fields,
        },
        state.clock.now_unix(),
    )?;
    if !state.db.update_record(&rec).await? {
        return Err(conflict(old.version + 1));
    }
    Ok(Json(rec.into()))
}

fn conflict(current: i64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "E_RECORD_VERSION",
        format!("该记录已被他人修改（当前版本 {current}），请刷新后再编辑"),
    )
}

/// `DELETE /staff/records/{id}`.
pub async fn staff_delete(
    State(state): State<AppState>,
    _staff: StaffAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.db.delete_record(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("诚信库记录"))
    }
}
