//! Login, logout, who am I, and the platform's public identity.

use super::JsonBody;
use crate::auth::{issue_session, session_cookie, verify_password, AnyAuth};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// `POST /login` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// 统一社会信用代码 (company) or staff login.
    pub login: String,
    /// Password.
    pub password: String,
}

/// Who a session belongs to.
#[derive(Debug, Serialize)]
pub struct Me {
    /// Login.
    pub login: String,
    /// `company` or `staff`.
    pub role: crate::db::Role,
    /// Display name.
    pub display_name: String,
    /// The company, for a company account.
    pub company: Option<crate::db::Company>,
    /// Fingerprint of the certificate bound by scan, if any.
    pub bound_cert_fingerprint: Option<String>,
    /// Session end, Unix seconds.
    pub expires_at: i64,
}

/// `POST /login` answer.
#[derive(Debug, Serialize)]
pub struct LoginAnswer {
    /// Bearer token (also set as the session cookie).
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Who logged in.
    pub me: Me,
}

/// `POST /login`: password login.
pub async fn login(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let now = state.clock.now_unix();
    if req.login.len() > 64 || req.password.len() > 256 {
        return Err(ApiError::bad_request("E_BAD_REQUEST", "账号或密码过长"));
    }
    state.login_throttle.check(&req.login, now)?;
    let wrong = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "E_LOGIN_FAILED",
            "账号或密码错误（企业账号为统一社会信用代码），请重新输入或使用扫码登录",
        )
    };
    let account = state.db.account(&req.login).await?;
    // Verify against a dummy hash when the login is unknown, so timing does not tell.
    let phc = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let password = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| ApiError::internal("verify task", e))?;
    let Some(account) = account.filter(|_| ok) else {
        state.login_throttle.failed(&req.login, now);
        return Err(wrong());
    };
    state.login_throttle.succeeded(&req.login);
    let (token, expires_at) = issue_session(&state, &account.login, "password").await?;
    let answer = LoginAnswer {
        token: token.clone(),
        expires_at,
        me: me_of(&account, expires_at),
    };
    Ok((
        [(header::SET_COOKIE, session_cookie(Some(&token)))],
        Json(answer),
    )
        .into_response())
}

/// An Argon2id hash of a random string, checked when the login does not exist.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| crate::auth::hash_password(&crate::auth::new_token()).unwrap_or_default())
}

/// The `me` view of an account.
pub fn me_of(account: &crate::db::Account, expires_at: i64) -> Me {
    Me {
        login: account.login.clone(),
        role: account.role,
        display_name: account.display_name.clone(),
        company: account.company.clone(),
        bound_cert_fingerprint: account.bound_cert_fingerprint.clone(),
        expires_at,
    }
}

/// `POST /logout`: ends the session (token or cookie).
pub async fn logout(State(state): State<AppState>, auth: AnyAuth) -> Result<Response, ApiError> {
    state.db.delete_session(&auth.token_hash).await?;
    Ok((
        [(header::SET_COOKIE, session_cookie(None))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// `GET /me`.
pub async fn me(auth: AnyAuth) -> Json<Me> {
    Json(me_of(&auth.account, auth.expires_at))
}

/// `GET /platform` answer.
#[derive(Debug, Serialize)]
pub struct PlatformInfo {
    /// The platform certificate (PEM) that signs tenders, records and receipts.
    pub certificate_pem: String,
    /// Its SHA-256 fingerprint (hex).
    pub fingerprint: String,
    /// Its subject.
    pub subject: String,
    /// The scan relay, if configured.
    pub relay_url: Option<String>,
}

/// `GET /platform`: the platform's certificate (public).
pub async fn platform_info(State(state): State<AppState>) -> Json<PlatformInfo> {
    let cert = state.identity.certificate();
    Json(PlatformInfo {
        certificate_pem: cert.pem().to_string(),
        fingerprint: cert.fingerprint().to_string(),
        subject: cert.subject(),
        relay_url: state.relay_url.clone(),
    })
}
