//! Accounts and login sessions: Argon2id password hashes, random session tokens, and the
//! request extractors [`CompanyAuth`] / [`StaffAuth`] / [`AnyAuth`] that every protected
//! handler (API or web page) takes.
//!
//! A token is 32 random bytes (base64url); it is given to the client once — as a bearer token
//! in the login answer and as the `bidseal_session` cookie (HttpOnly, SameSite=Strict) — and
//! stored only as its SHA-256. `Authorization: Bearer` wins over the cookie.
//!
//! Guarantees: an unknown, logged-out or expired token is refused with 401 (`E_AUTH_REQUIRED`
//! / `E_SESSION_EXPIRED`); a company token never passes [`StaffAuth`] and the reverse; wrong
//! passwords for a login are counted and the login is refused for a while after
//! [`MAX_FAILED_LOGINS`] (429). Does not: CSRF tokens (SameSite=Strict cookies and JSON bodies
//! stand in), scan login (the web module makes those sessions with [`issue_session`]).

use crate::db::{Account, Company, Role};
use crate::error::ApiError;
use crate::state::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "bidseal_session";
/// How long a session lasts, seconds.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Wrong passwords for one login before it is refused for [`LOCKOUT_SECONDS`].
pub const MAX_FAILED_LOGINS: u32 = 5;
/// How long a login stays refused after too many wrong passwords.
pub const LOCKOUT_SECONDS: i64 = 300;

/// Hashes a password (Argon2id, random salt) to a PHC string. CPU-heavy: call it off the
/// async workers (`spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal("argon2 hash", e))
}

/// Whether `password` matches the PHC string (constant-time inside argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// SHA-256 of a token, lower-case hex (what the database keeps).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token (32 bytes, base64url without padding).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new session for `login`: stored, and returned as (token, expiry).
pub async fn issue_session(
    state: &AppState,
    login: &str,
    via: &str,
) -> Result<(String, i64), ApiError> {
    let token = new_token();
    let now = state.clock.now_unix();
    let expires_at = now + SESSION_SECONDS;
    state
        .db
        .create_session(&token_hash(&token), login, via, now, expires_at)
        .await?;
    Ok((token, expires_at))
}

/// The `Set-Cookie` value for a session token (or, with `None`, one that clears it).
pub fn session_cookie(token: Option<&str>) -> String {
    match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}"
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    }
}

/// Counts wrong passwords per login (in memory; a restart forgets, which only helps the
/// legitimate user).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl LoginThrottle {
    /// Refuses with 429 if `login` is locked at `now`.
    pub fn check(&self, login: &str, now: i64) -> Result<(), ApiError> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(login) {
            Some(&(n, since)) if n >= MAX_FAILED_LOGINS && now - since < LOCKOUT_SECONDS => {
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "E_LOGIN_LOCKED",
                    format!(
                        "密码错误次数过多，账号暂时锁定，请 {} 秒后再试或使用扫码登录",
                        LOCKOUT_SECONDS - (now - since)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Records a wrong password.
    pub fn failed(&self, login: &str, now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now - *since < LOCKOUT_SECONDS);
        }
        let entry = map.entry(login.to_string()).or_insert((0, now));
        if now - entry.1 >= LOCKOUT_SECONDS {
            *entry = (0, now);
        }
        entry.0 += 1;
        entry.1 = now;
    }

    /// Forgets the failures of a login after a good password.
    pub fn succeeded(&self, login: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(login);
    }
}

/// A logged-in caller of any role.
#[derive(Debug, Clone)]
pub struct AnyAuth {
    /// The account.
    pub account: Account,
    /// SHA-256 of the token (logout deletes by it).
    pub token_hash: String,
    /// When the session ends, Unix seconds.
    pub expires_at: i64,
}

/// A logged-in company (bidder).
#[derive(Debug, Clone)]
pub struct CompanyAuth {
    /// The session.
    pub session: AnyAuth,
    /// The company.
    pub company: Company,
}

/// A logged-in staff member.
#[derive(Debug, Clone)]
pub struct StaffAuth {
    /// The session.
    pub session: AnyAuth,
}

/// The token a request carries: `Authorization: Bearer …`, else the session cookie.
pub fn request_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let t = v.strip_prefix("Bearer ")?.trim();
        return (!t.is_empty()).then(|| t.to_string());
    }
    for value in parts.headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == SESSION_COOKIE && !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

impl FromRequestParts<AppState> for AnyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = request_token(parts).ok_or_else(ApiError::auth_required)?;
        if token.len() > 256 {
            return Err(ApiError::auth_required());
        }
        let hash = token_hash(&token);
        let row = state
            .db
            .session(&hash)
            .await?
            .ok_or_else(ApiError::session_expired)?;
        if row.expires_at <= state.clock.now_unix() {
            return Err(ApiError::session_expired());
        }
        Ok(AnyAuth {
            account: row.account,
            token_hash: hash,
            expires_at: row.expires_at,
        })
    }
}

impl FromRequestParts<AppState> for CompanyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session = AnyAuth::from_request_parts(parts, state).await?;
        match (session.account.role, session.account.company.clone()) {
            (Role::Company, Some(company)) => Ok(CompanyAuth { session, company }),
            _ => Err(ApiError::forbidden("此功能仅供投标企业账号使用")),
        }
    }
}

impl FromRequestParts<AppState> for StaffAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session = AnyAuth::from_request_parts(parts, state).await?;
        if session.account.role == Role::Staff {
            Ok(StaffAuth { session })
        } else {
            Err(ApiError::forbidden("此功能仅供交易平台工作人员使用"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_same_password() {
        let phc = hash_password("Demo@1234").expect("hash");
        assert!(verify_password("Demo@1234", &phc));
        assert!(!verify_password("Demo@1235", &phc));
        assert!(!verify_password("Demo@1234", "not a phc string"));
    }

    #[test]
    fn throttle_locks_after_the_limit_and_forgets_after_the_lockout() {
        let t = LoginThrottle::default();
        for _ in 0..MAX_FAILED_LOGINS {
            assert!(t.check("x", 100).is_ok());
            t.failed("x", 100);
        }
        assert_eq!(t.check("x", 101).unwrap_err().code, "E_LOGIN_LOCKED");
        assert!(t.check("y", 101).is_ok());
        assert!(t.check("x", 100 + LOCKOUT_SECONDS).is_ok());
    }
}
