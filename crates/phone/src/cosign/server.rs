//! The co-signing service as an HTTP server (axum): the phone's back office.
//!
//! Routes (JSON bodies, at most [`MAX_BODY`] bytes):
//! - `POST /v1/certs/{id}/authorise` `{pin, who, context}` → `200 {share}` (hex, the key share
//!   for this one operation) or `403 {refusal}` ([`RefusalReason`], typed).
//! - `POST /v1/certs/{id}/split-sign`, `POST /v1/certs/{id}/split-sign/finish`: the two
//!   rounds of a joint signature with a split key ([`super::split`]); the share never leaves.
//! - `POST /v1/admin/certs/{id}` [`AdminAction`] → `200 {}`; `GET /v1/admin/certs` (summary),
//!   `GET /v1/admin/certs/{id}/log` (证书日志). Admin routes need `Authorization: Bearer
//!   <token>` with the token from `<state>/admin-token`.
//! - `GET /healthz`.
//!
//! Guarantees: a PIN call is first checked for the phone's device signature and the rate
//! limits ([`super::device`], [`super::limits`]); only then is the body parsed. Every decision
//! goes through [`CosignBook::authorise_checked`] and is committed to `<state>/state.db` (one
//! SQLite transaction) before the answer is sent, so a crash never forgets a wrong PIN or a
//! log line; PBKDF2 runs outside the book's lock. PINs and shares never appear in logs or
//! error texts.

use super::device::{self, DeviceRoute};
use super::limits::{self, RateLimiter, ReplayGuard};
use super::state::{
    AdminAction, CertState, CosignBook, OperationContext, PinCheck, PinVerifier, RefusalReason,
    ResetRefusal, UsageLogEntry,
};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// Largest request body accepted.
pub const MAX_BODY: usize = 256 * 1024;
/// File name of the state inside the state dir.
pub const STATE_FILE: &str = "state.db";
/// Header of `GET /v1/admin/certs/{id}/log` carrying the chain head the service keeps.
pub const LOG_HEAD_HEADER: &str = "x-bidseal-log-head";
/// File name of the admin token inside the state dir.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// A secret text field (PIN, hex share) that is wiped from memory when dropped and never
/// printed by `Debug`.
#[derive(Clone, Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    /// Wraps a secret.
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

/// Request to authorise one operation.
#[derive(Serialize, Deserialize)]
pub struct AuthoriseRequest {
    /// The certificate PIN, as typed (never logged).
    pub pin: SecretText,
    /// Holder name for the log.
    pub who: String,
    /// What the phone is about to do.
    pub context: OperationContext,
}

/// Successful answer.
#[derive(Serialize, Deserialize)]
pub struct AuthoriseGrant {
    /// Hex of the 32-byte share.
    pub share: SecretText,
}

/// Refusal answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct AuthoriseRefusal {
    /// Why.
    pub refusal: RefusalReason,
}

/// Request of 忘记证书密码.
#[derive(Serialize, Deserialize)]
pub struct ResetPinRequest {
    /// The one-time verification code.
    pub code: SecretText,
    /// The new 6-digit PIN.
    pub new_pin: SecretText,
}

/// Answer of a successful PIN reset: both shares, hex.
#[derive(Serialize, Deserialize)]
pub struct ResetPinGrant {
    /// The normal share.
    pub share: SecretText,
    /// The recovery share.
    pub recovery_share: SecretText,
}

/// Refused PIN reset.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResetPinRefusal {
    /// Why.
    pub refusal: ResetRefusal,
}

/// One line of `GET /v1/admin/certs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertSummary {
    /// Keystore id.
    pub id: String,
    /// Holder.
    pub holder: String,
    /// State.
    pub state: CertState,
    /// Wrong PINs in a row.
    pub wrong_pins: u32,
    /// Authorisation end, Unix seconds.
    pub authorised_until: Option<i64>,
    /// Certificate notAfter, Unix seconds.
    pub not_after: i64,
}

/// Configuration of a running service beyond its state folder.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {
    /// Platform certificates trusted to state tender opening times (`--platform-cert`).
    pub platform_pins: super::opening::PlatformPins,
    /// Serve https with these settings (`--tls-cert`/`--tls-key`); plain http when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

struct Service {
    book: Mutex<CosignBook>,
    admin_token_hash: [u8; 32],
    guards: Mutex<(RateLimiter, ReplayGuard)>,
    /// Joint signatures waiting for their second round ([`super::split`]).
    pending: Mutex<super::split::PendingTable>,
}

/// Errors starting the service.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The book could not be loaded.
    #[error(transparent)]
    Book(#[from] super::state::BookError),
    /// The admin token is missing.
    #[error("找不到管理员令牌文件 {0}，请先执行 bidseal phone init")]
    Token(String),
    /// The listener failed.
    #[error("协同签名服务监听失败：{0}")]
    Io(#[from] std::io::Error),
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Builds the router over the state dir (loads `state.json` and `admin-token`).
pub fn router(state_dir: &Path, config: ServiceConfig) -> Result<Router, ServeError> {
    let state_path = state_dir.join(STATE_FILE);
    let mut book = CosignBook::load(&state_path)?;
    book.platform_pins = config.platform_pins;
    let token_path = state_dir.join(ADMIN_TOKEN_FILE);
    let token = Zeroizing::new(
        std::fs::read_to_string(&token_path)
            .map_err(|_| ServeError::Token(token_path.display().to_string()))?,
    );
    let admin_token_hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    let service = Arc::new(Service {
        book: Mutex::new(book),
        admin_token_hash,
        guards: Mutex::new((RateLimiter::default(), ReplayGuard::default())),
        pending: Mutex::new(super::split::PendingTable::default()),
    });
    Ok(Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/certs/{id}/authorise", post(authorise))
        .route("/v1/certs/{id}/reset-pin", post(reset_pin))
        .route("/v1/certs/{id}/split-sign", post(split_sign))
        .route("/v1/certs/{id}/split-sign/finish", post(split_sign_finish))
        .route("/v1/admin/certs", get(list))
        .route("/v1/admin/certs/{id}", post(admin))
        .route("/v1/admin/certs/{id}/log", get(log))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(service))
}

/// Serves until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, state_dir: &Path) -> Result<(), ServeError> {
    serve_with(listener, state_dir, ServiceConfig::default()).await
}

/// Serves with `config` (pinned platform certificates) until the listener fails.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state_dir: &Path,
    config: ServiceConfig,
) -> Result<(), ServeError> {
    let tls = config.tls.clone();
    let app = router(state_dir, config)?;
    match tls {
        Some(tls) => axum::serve(super::tls::listener(listener, tls), app).await?,
        None => axum::serve(listener, app).await?,
    }
    Ok(())
}

/// The gate in front of every PIN call: the device signature of the phone bound to the
/// certificate (unknown certificate, missing, wrong, stale or replayed signature →
/// `device_not_recognised`, nothing logged, nothing counted), then the rate limits per device
/// and per certificate. Returns the device's public key (hex).
fn device_gate(
    svc: &Service,
    route: DeviceRoute,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<String, RefusalReason> {
    let device_key = {
        let book = svc
            .book
            .lock()
            .map_err(|_| RefusalReason::CoSigningUnavailable)?;
        let mut book = book;
        book.record(id)
            .map_err(|_| RefusalReason::CoSigningUnavailable)?
            .and_then(|r| r.device_key.clone())
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(public), Some(time), Some(nonce), Some(signature)) = (
        device_key,
        header(device::TIME_HEADER),
        header(device::NONCE_HEADER),
        header(device::SIGNATURE_HEADER),
    ) else {
        return Err(RefusalReason::DeviceNotRecognised);
    };
    let call = device::SignedCall {
        time,
        nonce,
        signature,
    };
    if !device::verify_call(&public, route, id, &call, body, now) {
        return Err(RefusalReason::DeviceNotRecognised);
    }
    let mut guards = svc
        .guards
        .lock()
        .map_err(|_| RefusalReason::CoSigningUnavailable)?;
    let (limiter, replay) = &mut *guards;
    if !replay.first_use(call.nonce.as_bytes(), now, device::CLOCK_SKEW_SECS) {
        return Err(RefusalReason::DeviceNotRecognised);
    }
    limiter
        .hit(&format!("device:{public}"), limits::PER_DEVICE, now)
        .and_then(|()| limiter.hit(&format!("cert:{id}"), limits::PER_CERT, now))
        .map_err(|retry_after_secs| RefusalReason::TooManyAttempts { retry_after_secs })?;
    Ok(public)
}

/// The answer of a PIN call decided on a blocking thread: the grant, the typed refusal, or a
/// 500 for a broken lock / store / task.
fn answer<T: Serialize>(
    outcome: Result<Result<Result<T, RefusalReason>, &'static str>, tokio::task::JoinError>,
) -> Response {
    match outcome {
        Ok(Ok(Ok(grant))) => Json(grant).into_response(),
        Ok(Ok(Err(refusal))) => refused(refusal),
        Ok(Err(msg)) => error(StatusCode::INTERNAL_SERVER_ERROR, msg),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "内部错误"),
    }
}

/// Checks `pin` against the certificate's verifier outside the book's lock (PBKDF2 is slow);
/// `None` for an unknown certificate.
fn check_pin(svc: &Service, id: &str, pin: &str) -> Result<Option<PinCheck>, &'static str> {
    let verifier = svc
        .book
        .lock()
        .map_err(|_| "状态锁损坏")?
        .pin_verifier(id)
        .map_err(|_| "状态读取失败")?;
    Ok(verifier.map(|verifier| PinCheck {
        matches: verifier.matches(pin),
        verifier,
    }))
}

fn refused(refusal: RefusalReason) -> Response {
    (StatusCode::FORBIDDEN, Json(AuthoriseRefusal { refusal })).into_response()
}

fn protocol_refusal(e: &crate::key_split::KeySplitError) -> RefusalReason {
    RefusalReason::InvalidRequest {
        detail: format!("{}：{e}", e.code()),
    }
}

/// First round of a joint signature: the whole decision with the PIN, then the service's
/// share answers the phone's first message ([`super::split`]).
async fn split_sign(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use super::split::{self, PendingSign, SplitSignRequest, SplitSignStarted};
    let body = Zeroizing::new(body.to_vec());
    let device = match device_gate(&svc, DeviceRoute::SplitSign, &id, &headers, &body, now()) {
        Ok(d) => d,
        Err(refusal) => return refused(refusal),
    };
    let req: SplitSignRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let (Some(digest), Some(_), Some(message)) = (
        split::hex_exact::<32>(&req.digest),
        split::hex_exact::<16>(&req.nonce),
        split::unb64(&req.message),
    ) else {
        return refused(RefusalReason::InvalidRequest {
            detail: "联合签名请求的摘要、随机数或协议消息格式错误".into(),
        });
    };
    let sign_id = split::sign_id(&id, &device, &req.context, &req.digest, &req.nonce);
    let outcome = tokio::task::spawn_blocking(move || {
        let Some(check) = check_pin(&svc, &id, req.pin.expose())? else {
            return Ok(Err(RefusalReason::NoSuitableCertificate));
        };
        let binding = format!(
            "联合签名：摘要 SHA-256 {}，签名标识 {}，设备 {}",
            req.digest.to_ascii_lowercase(),
            hex::encode(sign_id),
            device
        );
        let started = now();
        let share = {
            let mut book = svc.book.lock().map_err(|_| "状态锁损坏")?;
            match book.authorise_split_checked(
                &id,
                req.pin.expose(),
                check,
                &req.context,
                &req.who,
                started,
                &binding,
            ) {
                Ok(share) => share,
                Err(refusal) => return Ok(Err(refusal)),
            }
        };
        let (state, reply) =
            match crate::key_split::ServiceSign::answer(&share, &sign_id, &digest, &message) {
                Ok(r) => r,
                Err(e) => {
                    svc.book
                        .lock()
                        .map_err(|_| "状态锁损坏")?
                        .log_split_use(
                            &id,
                            &req.who,
                            &req.context,
                            e.code(),
                            "联合签名第一轮失败",
                            now(),
                        )
                        .map_err(|_| "状态写入失败")?;
                    return Ok(Err(protocol_refusal(&e)));
                }
            };
        let pending = PendingSign {
            cert_id: id,
            who: req.who.clone(),
            context: req.context.clone(),
            digest: req.digest.to_ascii_lowercase(),
            share,
            state,
            started,
        };
        let token = svc
            .pending
            .lock()
            .map_err(|_| "状态锁损坏")?
            .insert(pending, started);
        Ok::<_, &'static str>(match token {
            Some(token) => Ok(SplitSignStarted {
                token,
                message: split::b64(&reply),
            }),
            None => Err(RefusalReason::TooManyAttempts {
                retry_after_secs: split::PENDING_TTL_SECS as u64,
            }),
        })
    })
    .await;
    answer(outcome)
}

/// Second round of a joint signature: takes the waiting round (single use), finishes the
/// service's part, checks the joint signature and logs the end.
async fn split_sign_finish(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use super::split::{self, SplitSignDone, SplitSignFinishRequest};
    let body = Zeroizing::new(body.to_vec());
    if let Err(refusal) = device_gate(
        &svc,
        DeviceRoute::SplitSignFinish,
        &id,
        &headers,
        &body,
        now(),
    ) {
        return refused(refusal);
    }
    let req: SplitSignFinishRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let at = now();
        let Some(pending) = svc
            .pending
            .lock()
            .map_err(|_| "状态锁损坏")?
            .take(&req.token, &id, at)
        else {
            return Ok(Err(RefusalReason::InvalidRequest {
                detail: "联合签名的第二轮不属于任何进行中的签名（已用过、已超时或属于其他证书），请重新扫码".into(),
            }));
        };
        let result = split::unb64(&req.message)
            .ok_or_else(|| {
                crate::key_split::KeySplitError::Message("协议消息不是 base64".into())
            })
            .and_then(|message| pending.state.finish(&pending.share, &message));
        let mut book = svc.book.lock().map_err(|_| "状态锁损坏")?;
        match result {
            Ok((done, signature)) => {
                let detail = format!(
                    "联合签名完成：摘要 SHA-256 {}，签名 SHA-256 {}",
                    pending.digest,
                    hex::encode(Sha256::digest(signature.to_der().as_bytes()))
                );
                book.log_split_use(&id, &pending.who, &pending.context, "OK", &detail, at)
                    .map_err(|_| "状态写入失败")?;
                Ok::<_, &'static str>(Ok(SplitSignDone {
                    message: split::b64(&done),
                }))
            }
            Err(e) => {
                book.log_split_use(
                    &id,
                    &pending.who,
                    &pending.context,
                    e.code(),
                    &format!("联合签名失败：摘要 SHA-256 {}", pending.digest),
                    at,
                )
                .map_err(|_| "状态写入失败")?;
                Ok(Err(protocol_refusal(&e)))
            }
        }
    })
    .await;
    answer(outcome)
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("请求格式错误：{e}"),
        ))
    })
}

async fn authorise(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body = Zeroizing::new(body.to_vec());
    if let Err(refusal) = device_gate(&svc, DeviceRoute::Authorise, &id, &headers, &body, now()) {
        return (StatusCode::FORBIDDEN, Json(AuthoriseRefusal { refusal })).into_response();
    }
    let req: AuthoriseRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    // PBKDF2 is slow on purpose: keep it off the async workers and outside the book's lock
    // (the lock is held for reading the verifier, then for the one decision transaction).
    let outcome = tokio::task::spawn_blocking(move || {
        let Some(check) = check_pin(&svc, &id, req.pin.expose())? else {
            return Ok(Err(RefusalReason::NoSuitableCertificate));
        };
        let mut book = svc.book.lock().map_err(|_| "状态锁损坏")?;
        Ok::<_, &'static str>(book.authorise_checked(
            &id,
            req.pin.expose(),
            check,
            &req.context,
            &req.who,
            now(),
        ))
    })
    .await;
    answer(outcome.map(|o| {
        o.map(|decision| {
            decision.map(|share| AuthoriseGrant {
                share: SecretText::new(hex::encode(share.as_ref())),
            })
        })
    }))
}

async fn reset_pin(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body = Zeroizing::new(body.to_vec());
    if let Err(r) = device_gate(&svc, DeviceRoute::ResetPin, &id, &headers, &body, now()) {
        let refusal = match r {
            RefusalReason::TooManyAttempts { retry_after_secs } => {
                ResetRefusal::TooManyAttempts { retry_after_secs }
            }
            _ => ResetRefusal::DeviceNotRecognised,
        };
        return (StatusCode::FORBIDDEN, Json(ResetPinRefusal { refusal })).into_response();
    }
    let req: ResetPinRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    if crate::provision::check_pin_format(req.new_pin.expose()).is_err() {
        return (
            StatusCode::FORBIDDEN,
            Json(ResetPinRefusal {
                refusal: ResetRefusal::BadPin,
            }),
        )
            .into_response();
    }
    let outcome = tokio::task::spawn_blocking(move || {
        let iterations = svc
            .book
            .lock()
            .map_err(|_| "状态锁损坏")?
            .pin_verifier(&id)
            .map_err(|_| "状态读取失败")?
            .map(|v| v.iterations);
        let Some(iterations) = iterations else {
            return Ok(Err(ResetRefusal::Unknown));
        };
        // The new verifier's PBKDF2 runs outside the lock.
        let verifier = PinVerifier::new(req.new_pin.expose(), iterations);
        let mut book = svc.book.lock().map_err(|_| "状态锁损坏")?;
        Ok::<_, &'static str>(book.reset_pin_checked(&id, req.code.expose(), verifier, now()))
    })
    .await;
    match outcome {
        Ok(Ok(Ok(grant))) => Json(ResetPinGrant {
            share: SecretText::new(hex::encode(grant.share.as_ref())),
            recovery_share: SecretText::new(hex::encode(grant.recovery_share.as_ref())),
        })
        .into_response(),
        Ok(Ok(Err(refusal))) => {
            (StatusCode::FORBIDDEN, Json(ResetPinRefusal { refusal })).into_response()
        }
        Ok(Err(msg)) => error(StatusCode::INTERNAL_SERVER_ERROR, msg),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "内部错误"),
    }
}

fn admin_ok(svc: &Service, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return false;
    };
    let got: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    got.iter()
        .zip(svc.admin_token_hash.iter())
        .fold(0u8, |a, (x, y)| a | (x ^ y))
        == 0
}

async fn list(State(svc): State<Arc<Service>>, headers: HeaderMap) -> Response {
    if !admin_ok(&svc, &headers) {
        return error(StatusCode::UNAUTHORIZED, "管理员令牌错误");
    }
    let Ok(mut book) = svc.book.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "状态锁损坏");
    };
    let records = match book.records() {
        Ok(r) => r,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let list: Vec<CertSummary> = records
        .iter()
        .map(|r| CertSummary {
            id: r.id.clone(),
            holder: r.holder.clone(),
            state: r.state,
            wrong_pins: r.wrong_pins,
            authorised_until: r.authorised_until,
            not_after: r.not_after,
        })
        .collect();
    Json(list).into_response()
}

async fn admin(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    Json(action): Json<AdminAction>,
) -> Response {
    if !admin_ok(&svc, &headers) {
        return error(StatusCode::UNAUTHORIZED, "管理员令牌错误");
    }
    let Ok(mut book) = svc.book.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "状态锁损坏");
    };
    match book.admin(&id, &action, now()) {
        Ok(code) => Json(serde_json::json!({ "code": code })).into_response(),
        Err(e @ super::state::BookError::Unknown(_)) => {
            error(StatusCode::NOT_FOUND, &e.to_string())
        }
        Err(e) => error(StatusCode::CONFLICT, &e.to_string()),
    }
}

async fn log(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if !admin_ok(&svc, &headers) {
        return error(StatusCode::UNAUTHORIZED, "管理员令牌错误");
    }
    let Ok(book) = svc.book.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "状态锁损坏");
    };
    match book.log(&id) {
        Ok((entries, Some(head))) => (
            [(LOG_HEAD_HEADER, head)],
            Json::<Vec<UsageLogEntry>>(entries),
        )
            .into_response(),
        Ok((_, None)) => error(StatusCode::NOT_FOUND, "没有这本证书"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
