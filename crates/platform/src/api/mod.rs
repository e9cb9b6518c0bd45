//! The REST API under `/api/v1` (JSON; documented in `docs/platform-api.yaml`).
//!
//! Guarantees: every error is `{"code","message"}` with a 4xx/5xx status, also for malformed
//! JSON, wrong content types and oversized bodies; protected routes take the auth extractors,
//! so a handler never runs for a caller without the right role. Does not: serve pages (see
//! `web`).

mod account;
mod bid;
mod library;
mod tender;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;

/// The API routes (nested under `/api/v1`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/platform", get(account::platform_info))
        .route("/login", post(account::login))
        .route("/logout", post(account::logout))
        .route("/me", get(account::me))
        .route("/tenders", get(tender::list))
        .route("/tenders/{id}", get(tender::one))
        .route("/tenders/{id}/package", get(tender::package))
        .route("/tenders/{id}/opening-report", get(tender::opening_report))
        .route("/records", get(library::company_records))
        .route("/tenders/{id}/uploads", post(bid::start))
        .route("/uploads/{id}", get(bid::status).put(bid::chunk))
        .route("/uploads/{id}/complete", post(bid::complete))
        .route("/tenders/{id}/bid", get(bid::current).delete(bid::withdraw))
        .route("/receipts/{id}", get(bid::receipt))
        .route("/staff/tenders/{id}/bids", get(bid::staff_bids))
        .route(
            "/staff/tenders/{id}/bids/{bid}/file",
            get(bid::staff_bid_file),
        )
        .route(
            "/staff/tenders",
            post(tender::publish).layer(axum::extract::DefaultBodyLimit::max(
                crate::tenders::MAX_TENDER_PACKAGE,
            )),
        )
        .route(
            "/staff/companies",
            get(library::staff_companies).post(library::staff_register),
        )
        .route(
            "/staff/companies/{uscc}/records",
            get(library::staff_records).post(library::staff_create),
        )
        .route(
            "/staff/records/{id}",
            put(library::staff_update).delete(library::staff_delete),
        )
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::not_found("接口")
}

/// A JSON request body whose rejections are [`ApiError`]s (400 `E_BAD_REQUEST`, 413).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(rejection) => {
                let status = rejection.status();
                let code = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    "E_TOO_LARGE"
                } else {
                    "E_BAD_REQUEST"
                };
                Err(ApiError::new(
                    if status.is_client_error() {
                        status
                    } else {
                        axum::http::StatusCode::BAD_REQUEST
                    },
                    code,
                    format!("请求无效：{}", rejection.body_text()),
                ))
            }
        }
    }
}
