//! The platform's web pages (zh-CN): home, login with 扫码登录, 扫码绑定证书, the integrity
//! library, staff pages and the opening hall. Built on the same [`AppState`] and auth
//! extractors as the REST API.
//!
//! Not built yet in this branch: the router is empty; the pages are being added on top of it.

use crate::state::AppState;
use axum::Router;

/// The web pages' routes, merged into the app beside `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
}
