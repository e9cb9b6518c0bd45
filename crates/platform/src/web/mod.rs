//! The platform's web pages (zh-CN, server-rendered, one small script, no build step): home
//! with the published tenders, login with account + password and a 扫码登录 QR that turns into
//! the logged-in page by itself, 扫码绑定证书, the company's integrity library, staff pages
//! (publish a tender, bids and receipts, edit companies' records, start the opening) and the
//! 开标大厅 with each bidder's state live. Built on the same [`AppState`] and auth extractors
//! as the REST API; the scan and push routes of the API are here too ([`api_router`]).
//!
//! Guarantees: see [`layout`] (escaping, CSP), [`pages`] (cookies of scan logins), [`staff`]
//! (staff only, opening time). Does not: work without JavaScript for the scan panels and the
//! live hall (password login and every other page do not need it... except that the password
//! form posts JSON through the script as well).

pub mod layout;
pub mod pages;
pub mod services;
pub mod staff;

use crate::remote_opening::http::PushApi;
use crate::scan::http::ScanApi;
use crate::state::AppState;
use axum::http::header;
use axum::routing::{get, post};
use axum::Router;
use services::PlatformAccounts;
use std::sync::Arc;

pub use services::WebServices;

/// The web pages' routes, merged into the app beside `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_page))
        .route("/logout", post(pages::logout))
        .route("/me", get(pages::me))
        .route("/bind", get(pages::bind_page))
        .route("/library", get(pages::library))
        .route("/web/scan/login", post(pages::start_login))
        .route("/web/scan/login/{id}", get(pages::wait_login))
        .route("/web/scan/login/{id}/qr.svg", get(pages::qr_login))
        .route("/web/scan/bind", post(pages::start_bind))
        .route("/web/scan/bind/{id}", get(pages::wait_bind))
        .route("/web/scan/bind/{id}/qr.svg", get(pages::qr_bind))
        .route("/staff", get(staff::tenders))
        .route("/staff/tenders/{id}", get(staff::tender))
        .route("/staff/companies", get(staff::companies))
        .route("/staff/companies/{uscc}", get(staff::company))
        .route(
            "/web/staff/tenders/{id}/opening",
            post(staff::start_opening),
        )
        .route("/hall/{id}", get(staff::hall))
        .route("/web/hall/{id}/board", get(staff::board))
        .route("/assets/site.css", get(css))
        .route("/assets/app.js", get(js))
}

/// The API routes of scans and pushes (`/scan-login`, `/scan-bind`, `/opening/push`),
/// to be nested under `/api/v1` beside the platform's API.
pub fn api_router(state: &AppState) -> Router<AppState> {
    let accounts = Arc::new(PlatformAccounts(state.clone()));
    let mut router = Router::new().merge(crate::remote_opening::http::router(PushApi {
        mailbox: state.web.mailbox.clone(),
        caller: accounts.clone(),
        accounts: accounts.clone(),
    }));
    if let Some(hub) = &state.web.scans {
        router = router.merge(crate::scan::http::router(ScanApi {
            hub: hub.clone(),
            caller: accounts.clone(),
            accounts,
        }));
    }
    router
}

async fn css() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        layout::SITE_CSS,
    )
}

async fn js() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        layout::APP_JS,
    )
}
