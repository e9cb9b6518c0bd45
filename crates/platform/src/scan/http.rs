//! The REST face of [`ScanHub`]: `POST /api/v1/scan-login`, `GET /api/v1/scan-login/{id}`
//! (long poll), its QR as SVG, and the same under `/api/v1/scan-bind` for a logged-in account.
//!
//! Guarantees: an unknown id and another account's bind scan are the same 404; a long poll
//! holds at most [`super::LONG_POLL_MAX`]; refusals are JSON `{code, message}` with a 4xx/5xx
//! status, never a panic. Does not: know how callers are authenticated (the server passes a
//! [`CallerAccount`]).

use super::{
    RequestOrigin, ScanAccounts, ScanHub, ScanPurpose, ScanRefusal, ScanState, LONG_POLL_MAX,
};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Who is calling (from the request's bearer token or session cookie).
pub trait CallerAccount: Send + Sync + 'static {
    /// The company account of the caller, `None` when not logged in.
    fn account<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<String>>;
}

/// What the scan routes need.
#[derive(Clone)]
pub struct ScanApi {
    /// The scans.
    pub hub: ScanHub,
    /// How to tell the caller.
    pub caller: Arc<dyn CallerAccount>,
    /// Accounts, bindings and sessions.
    pub accounts: Arc<dyn ScanAccounts>,
}

/// The routes relative to the API root (`/scan-login`, ...), to be nested under `/api/v1`.
pub fn router<S: Clone + Send + Sync + 'static>(api: ScanApi) -> Router<S> {
    Router::new()
        .route("/scan-login", post(start_login))
        .route("/scan-login/{id}", get(poll_login))
        .route("/scan-login/{id}/qr.svg", get(qr_login))
        .route("/scan-bind", post(start_bind))
        .route("/scan-bind/{id}", get(poll_bind))
        .route("/scan-bind/{id}/qr.svg", get(qr_bind))
        .with_state(api)
}

/// A JSON error `{code, message}` with its status.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"code": code, "message": message})),
    )
        .into_response()
}

fn refusal(r: &ScanRefusal) -> Response {
    let status = match r {
        ScanRefusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ScanRefusal::Scan(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &r.code(), &r.to_string())
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "PLATFORM_SCAN_UNKNOWN",
        "没有这个扫码请求（已过期或不属于当前账号），请刷新二维码",
    )
}

fn login_required() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "PLATFORM_LOGIN_REQUIRED",
        "请先用账号密码登录，再扫码绑定证书",
    )
}

/// Body of `POST /api/v1/scan-login` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartLogin {
    /// `login` (default) or `sync_integrity` (the phone shows 同步诚信库).
    #[serde(default)]
    pub purpose: Option<String>,
}

/// Query of the long poll.
#[derive(Debug, Default, Deserialize)]
pub struct PollQuery {
    /// Return as soon as the state differs from this one (the page's current state);
    /// without it, return when the scan is over.
    pub known: Option<String>,
    /// Longest wait in seconds (0–25, default 25).
    pub wait: Option<u64>,
}

async fn start(api: &ScanApi, purpose: ScanPurpose, origin: &RequestOrigin) -> Response {
    match api
        .hub
        .start_with(purpose, api.accounts.clone(), None, Some(origin))
        .await
    {
        Ok(started) => ([(header::CACHE_CONTROL, "no-store")], Json(started)).into_response(),
        Err(r) => refusal(&r),
    }
}

fn purpose_of(body: Option<StartLogin>) -> Option<ScanPurpose> {
    match body.and_then(|b| b.purpose).as_deref() {
        None | Some("login") => Some(ScanPurpose::Login),
        Some("sync_integrity") => Some(ScanPurpose::SyncIntegrity),
        Some(_) => None,
    }
}

async fn poll(api: &ScanApi, id: &str, viewer: Option<&str>, q: PollQuery) -> Response {
    let known = match q.known.as_deref() {
        None => None,
        Some(text) => match ScanState::parse(text) {
            Some(s) => Some(s),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "PLATFORM_BAD_REQUEST",
                    "known 只能是 waiting、scanned、done、rejected 或 expired",
                )
            }
        },
    };
    let wait = Duration::from_secs(q.wait.unwrap_or(LONG_POLL_MAX.as_secs()));
    match api.hub.wait(id, viewer, known, wait).await {
        Some(status) => ([(header::CACHE_CONTROL, "no-store")], Json(status)).into_response(),
        None => not_found(),
    }
}

async fn svg(api: &ScanApi, id: &str, viewer: Option<&str>) -> Response {
    match api.hub.qr_svg(id, viewer).await {
        Some(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            svg,
        )
            .into_response(),
        None => not_found(),
    }
}

async fn start_login(
    State(api): State<ScanApi>,
    origin: RequestOrigin,
    body: Option<Json<StartLogin>>,
) -> Response {
    match purpose_of(body.map(|Json(b)| b)) {
        Some(p) => start(&api, p, &origin).await,
        None => error(
            StatusCode::BAD_REQUEST,
            "PLATFORM_BAD_REQUEST",
            "purpose 只能是 login 或 sync_integrity",
        ),
    }
}

async fn poll_login(
    State(api): State<ScanApi>,
    Path(id): Path<String>,
    Query(q): Query<PollQuery>,
) -> Response {
    poll(&api, &id, None, q).await
}

async fn qr_login(State(api): State<ScanApi>, Path(id): Path<String>) -> Response {
    svg(&api, &id, None).await
}

async fn start_bind(
    State(api): State<ScanApi>,
    origin: RequestOrigin,
    headers: HeaderMap,
) -> Response {
    match api.caller.account(&headers).await {
        Some(account) => start(&api, ScanPurpose::Bind { account }, &origin).await,
        None => login_required(),
    }
}

async fn poll_bind(
    State(api): State<ScanApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PollQuery>,
) -> Response {
    match api.caller.account(&headers).await {
        Some(account) => poll(&api, &id, Some(&account), q).await,
        None => login_required(),
    }
}

async fn qr_bind(
    State(api): State<ScanApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match api.caller.account(&headers).await {
        Some(account) => svg(&api, &id, Some(&account)).await,
        None => login_required(),
    }
}
