//! The co-signing service as an HTTP server (axum): the phone's back office.
//!
//! Routes (JSON bodies, at most [`MAX_BODY`] bytes):
//! - `POST /v1/certs/{id}/authorise` `{pin, who, context}` → `200 {share}` (hex, the key share
//!   for this one operation) or `403 {refusal}` ([`RefusalReason`], typed).
//! - `POST /v1/certs/{id}/split-sign` (+ `/round`, `/finish`), `POST /v1/certs/{id}/split-ecdh`:
//!   joint signatures and the service's ECDH part with a split key ([`super::split`]); the
//!   service's share never leaves.
//! - `POST /v1/admin/certs/{id}` [`AdminAction`] → `200 {}`; `GET /v1/admin/certs` (summary),
//!   `GET /v1/admin/certs/{id}/log` (证书日志). Admin routes need `Authorization: Bearer
//!   <token>` with the token from `<state>/admin-token`.
//! - `POST /v1/certs/{id}/enrol` (+ `/round`, `/csr`, `/csr-finish`, `/certificate`): 开通 —
//!   the key generation (DKG) of a new certificate with the phone, the CSR signed jointly, the
//!   issued certificate registered ([`enrol`]); `POST /v1/admin/enrolments/{id}` `{holder,
//!   kdf_iterations}` → `{code}` issues the one-time enrolment code (admin token).
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
/// File name, inside the state dir, of the CA certificates (PEM) whose certificates 开通 may
/// register: the enrolled certificate must be issued by one of them (read at each enrolment,
/// so the administrator can change it without a restart; missing: every enrolment refused).
pub const ENROL_ISSUERS_FILE: &str = "enrol-issuers.pem";

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
    /// 换机 refreshes between their calls.
    refreshes: Mutex<super::split::RefreshTable>,
    /// 开通 enrolments (DKG + CSR) between their calls.
    enrolments: Mutex<super::split::EnrolTable>,
    /// `<state>/`[`ENROL_ISSUERS_FILE`].
    enrol_issuers: std::path::PathBuf,
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
        refreshes: Mutex::new(super::split::RefreshTable::default()),
        enrolments: Mutex::new(super::split::EnrolTable::default()),
        enrol_issuers: state_dir.join(ENROL_ISSUERS_FILE),
    });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/certs/{id}/authorise", post(authorise))
        .route("/v1/certs/{id}/reset-pin", post(reset_pin))
        .route(
            "/v1/certs/{id}/split-sign",
            post(split_sign).layer(DefaultBodyLimit::max(SPLIT_MAX_BODY)),
        )
        .route("/v1/certs/{id}/split-ecdh", post(split_ecdh))
        .route("/v1/certs/{id}/split-refresh", post(split_refresh))
        .route("/v1/certs/{id}/enrol", post(enrol))
        .route("/v1/certs/{id}/enrol/certificate", post(enrol_certificate))
        .route("/v1/admin/enrolments/{id}", post(admin_enrol_code))
        .route("/v1/admin/certs", get(list))
        .route("/v1/admin/certs/{id}", post(admin))
        .route("/v1/admin/certs/{id}/log", get(log));
    let app = [DeviceRoute::SplitSignRound, DeviceRoute::SplitSignFinish]
        .into_iter()
        .fold(app, |app, route| step_route(app, route, split_round));
    let app = [
        DeviceRoute::SplitRefreshRound,
        DeviceRoute::SplitRefreshFinish,
    ]
    .into_iter()
    .fold(app, |app, route| step_route(app, route, split_refresh_step));
    let app = [
        DeviceRoute::EnrolRound,
        DeviceRoute::EnrolCsr,
        DeviceRoute::EnrolCsrFinish,
    ]
    .into_iter()
    .fold(app, |app, route| step_route(app, route, enrol_step));
    Ok(app
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(service))
}

/// One step of a multi-call protocol (joint signing, refresh, enrolment) as a route:
/// `POST /v1/certs/{id}/<route name>` with the split-key body limit, handled by `step` with
/// `route` (one step function serves every step of its protocol).
fn step_route<F, Fut>(
    app: Router<Arc<Service>>,
    route: DeviceRoute,
    step: F,
) -> Router<Arc<Service>>
where
    F: Fn(Arc<Service>, String, HeaderMap, axum::body::Bytes, DeviceRoute) -> Fut
        + Clone
        + Send
        + Sync
        + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let handler =
        move |State(svc): State<Arc<Service>>,
              UrlPath(id): UrlPath<String>,
              headers: HeaderMap,
              body: axum::body::Bytes| step(svc, id, headers, body, route);
    app.route(
        &format!("/v1/certs/{{id}}/{}", route.name()),
        post(handler).layer(DefaultBodyLimit::max(SPLIT_MAX_BODY)),
    )
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
    device_gate_with(svc, route, id, headers, body, now, true)
}

/// [`device_gate`] without the rate limits: for the rounds of a grant that was decided (and
/// counted) already.
fn device_gate_unlimited(
    svc: &Service,
    route: DeviceRoute,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<String, RefusalReason> {
    device_gate_with(svc, route, id, headers, body, now, false)
}

fn device_gate_with(
    svc: &Service,
    route: DeviceRoute,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    limited: bool,
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
    key_gate(svc, route, id, headers, body, now, limited, device_key)
}

/// The device-signature check, replay guard and (when `limited`) rate limits against the
/// public key `device_key` (hex SEC1): the registered phone's, or for 换机 the new phone's.
#[allow(clippy::too_many_arguments)]
fn key_gate(
    svc: &Service,
    route: DeviceRoute,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    limited: bool,
    device_key: Option<String>,
) -> Result<String, RefusalReason> {
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
    if !limited {
        return Ok(public);
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

/// The multi-call operations whose calls name a waiting entry by token.
#[derive(Clone, Copy)]
enum WaitingStep {
    SplitSign,
    Refresh,
    Enrol,
}

/// The refusal of a call whose token names nothing waiting: an unknown token (used, never
/// issued, another certificate's) and one that waited too long say so differently.
fn not_waiting(why: super::split::NotWaiting, step: WaitingStep) -> RefusalReason {
    use super::split::NotWaiting::{Expired, Unknown};
    let detail = match (step, why) {
        (WaitingStep::SplitSign, Unknown) => "联合签名的这一轮不属于任何进行中的签名（已用过、已超时、顺序不对或属于其他证书），请重新扫码",
        (WaitingStep::SplitSign, Expired) => "联合签名的这一轮来得太晚（距上一步超过等待时限），本次签名已作废，请重新扫码",
        (WaitingStep::Refresh, Unknown) => "换机刷新的这一步不属于任何进行中的刷新（已用过、已超时、顺序不对或属于其他证书），请重新验证身份",
        (WaitingStep::Refresh, Expired) => "换机刷新的这一步来得太晚（距上一步超过等待时限），本次刷新已作废，请重新验证身份",
        (WaitingStep::Enrol, Unknown) => "开通的这一步不属于任何进行中的开通（已用过、已超时、顺序不对或属于其他证书），请向管理员重新申请开通码",
        (WaitingStep::Enrol, Expired) => "开通的这一步来得太晚（距上一步超过等待时限），本次开通已作废，请向管理员重新申请开通码",
    };
    RefusalReason::InvalidRequest {
        detail: detail.into(),
    }
}

fn refused(refusal: RefusalReason) -> Response {
    (StatusCode::FORBIDDEN, Json(AuthoriseRefusal { refusal })).into_response()
}

fn protocol_refusal(e: &crate::key_split::KeySplitError) -> RefusalReason {
    RefusalReason::InvalidRequest {
        detail: format!("{}：{e}", e.code()),
    }
}

/// Body limit of the split-key routes (a grant's rounds carry ~80 KB per digest).
pub const SPLIT_MAX_BODY: usize = 4 * 1024 * 1024;

/// The device check, then the one decision with the PIN on a blocking thread; `binding` is
/// appended to the log detail; on success `then` runs with the released split share and the
/// seal share (still on the blocking thread).
fn split_decision<T>(
    svc: &Service,
    id: &str,
    pin: &str,
    who: &str,
    context: &OperationContext,
    binding: &str,
    then: impl FnOnce(crate::key_split::KeyShare, String) -> Result<T, RefusalReason>,
) -> Result<Result<T, RefusalReason>, &'static str> {
    let Some(check) = check_pin(svc, id, pin)? else {
        return Ok(Err(RefusalReason::NoSuitableCertificate));
    };
    let released = svc
        .book
        .lock()
        .map_err(|_| "状态锁损坏")?
        .authorise_split_checked(id, pin, check, context, who, now(), binding);
    Ok(released.and_then(|(share, seal_share)| then(share, hex::encode(seal_share.as_ref()))))
}

/// `split-sign`: the whole decision with the PIN for a batch of digests; on success the grant
/// waits for its two rounds ([`super::split`]).
async fn split_sign(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use super::split::{self, GrantStage, PendingGrant, SplitSignGrant, SplitSignRequest};
    let body = Zeroizing::new(body.to_vec());
    let device = match device_gate(&svc, DeviceRoute::SplitSign, &id, &headers, &body, now()) {
        Ok(d) => d,
        Err(refusal) => return refused(refusal),
    };
    let req: SplitSignRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let digests: Option<Vec<[u8; 32]>> = req
        .digests
        .iter()
        .map(|d| split::hex_exact::<32>(d))
        .collect();
    let (Some(digests), Some(_)) = (digests, split::hex_exact::<16>(&req.nonce)) else {
        return refused(RefusalReason::InvalidRequest {
            detail: "联合签名请求的摘要或随机数格式错误".into(),
        });
    };
    if digests.is_empty() || digests.len() > split::MAX_BATCH {
        return refused(RefusalReason::InvalidRequest {
            detail: format!("一次联合签名须含 1–{} 个摘要", split::MAX_BATCH),
        });
    }
    let bound: Vec<([u8; 32], [u8; 32])> = digests
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let hex_digest = hex::encode(d);
            (
                *d,
                split::sign_id(&id, &device, &req.context, &hex_digest, &req.nonce, i),
            )
        })
        .collect();
    let binding = format!(
        "联合签名 {} 个摘要 SHA-256 [{}]，设备 {}，随机数 {}",
        digests.len(),
        digests
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(", "),
        device,
        req.nonce.to_ascii_lowercase()
    );
    let outcome = tokio::task::spawn_blocking(move || {
        let pending = &svc.pending;
        split_decision(
            &svc,
            &id,
            req.pin.expose(),
            &req.who,
            &req.context,
            &binding,
            |share, seal_share| {
                let grant = PendingGrant {
                    cert_id: id.clone(),
                    who: req.who.clone(),
                    context: req.context.clone(),
                    digests: bound,
                    share,
                    stage: GrantStage::Granted,
                };
                let token = pending
                    .lock()
                    .map_err(|_| RefusalReason::CoSigningUnavailable)?
                    .insert(grant)
                    .ok_or(RefusalReason::TooManyAttempts {
                        retry_after_secs: split::PENDING_TTL_SECS as u64,
                    })?;
                Ok(SplitSignGrant {
                    token,
                    seal_share: SecretText::new(seal_share),
                })
            },
        )
    })
    .await;
    answer(outcome)
}

/// `split-sign/round` and `split-sign/finish`: one protocol round for every digest of a grant.
async fn split_round(
    svc: Arc<Service>,
    id: String,
    headers: HeaderMap,
    body: axum::body::Bytes,
    route: DeviceRoute,
) -> Response {
    use super::split::{self, GrantStage, SplitRound};
    let body = Zeroizing::new(body.to_vec());
    // Bound to a decided grant: device-checked and replay-guarded, not rate limited.
    if let Err(refusal) = device_gate_unlimited(&svc, route, &id, &headers, &body, now()) {
        return refused(refusal);
    }
    let req: SplitRound = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let at = now();
        let taken = svc
            .pending
            .lock()
            .map_err(|_| "状态锁损坏")?
            .take(&req.token, &id);
        let mut grant = match taken {
            Ok(grant) => grant,
            Err(why) => return Ok(Err(not_waiting(why, WaitingStep::SplitSign))),
        };
        let messages: Option<Vec<Vec<u8>>> = req.messages.iter().map(|m| split::unb64(m)).collect();
        let messages = match messages {
            Some(m) if m.len() == grant.digests.len() => m,
            _ => {
                let e = crate::key_split::KeySplitError::Message("消息个数或编码不符".into());
                return log_failed_use(&svc, &grant, &e, at).map(|()| Err(protocol_refusal(&e)));
            }
        };
        let stage = std::mem::replace(&mut grant.stage, GrantStage::Granted);
        match (route, stage) {
            (DeviceRoute::SplitSignRound, GrantStage::Granted) => {
                let mut states = Vec::with_capacity(messages.len());
                let mut replies = Vec::with_capacity(messages.len());
                for ((digest, sign_id), message) in grant.digests.iter().zip(&messages) {
                    match crate::key_split::ServiceSign::answer(
                        &grant.share,
                        sign_id,
                        digest,
                        message,
                    ) {
                        Ok((state, reply)) => {
                            states.push(state);
                            replies.push(split::b64(&reply));
                        }
                        Err(e) => {
                            return log_failed_use(&svc, &grant, &e, at)
                                .map(|()| Err(protocol_refusal(&e)))
                        }
                    }
                }
                grant.stage = GrantStage::Answered(states);
                svc.pending
                    .lock()
                    .map_err(|_| "状态锁损坏")?
                    .put_back(req.token, grant);
                Ok(Ok(SplitRound {
                    token: String::new(),
                    messages: replies,
                }))
            }
            (DeviceRoute::SplitSignFinish, GrantStage::Answered(states)) => {
                let mut replies = Vec::with_capacity(messages.len());
                for (state, message) in states.into_iter().zip(&messages) {
                    match state.finish(&grant.share, message) {
                        Ok((done, _signature)) => replies.push(split::b64(&done)),
                        Err(e) => {
                            return log_failed_use(&svc, &grant, &e, at)
                                .map(|()| Err(protocol_refusal(&e)))
                        }
                    }
                }
                Ok(Ok(SplitRound {
                    token: String::new(),
                    messages: replies,
                }))
            }
            _ => Ok(Err(not_waiting(
                super::split::NotWaiting::Unknown,
                WaitingStep::SplitSign,
            ))),
        }
    })
    .await;
    answer(outcome)
}

/// Logs a grant whose joint protocol failed (a `KEYSPLIT_*` code: a changed or replayed
/// message, a modified app). A grant that ends in signatures writes nothing more: its one log
/// line is the decision, which already names the digests, device and nonce it was for — one
/// line per grant, as for every other operation (docs/key-split.md).
fn log_failed_use(
    svc: &Service,
    grant: &super::split::PendingGrant,
    error: &crate::key_split::KeySplitError,
    at: i64,
) -> Result<(), &'static str> {
    let digests = grant
        .digests
        .iter()
        .map(|(d, _)| hex::encode(d))
        .collect::<Vec<_>>()
        .join(", ");
    svc.book
        .lock()
        .map_err(|_| "状态锁损坏")?
        .log_split_use(
            &grant.cert_id,
            &grant.who,
            &grant.context,
            error.code(),
            &format!("联合签名失败：摘要 [{digests}]"),
            at,
        )
        .map_err(|_| "状态写入失败")
}

/// `split-refresh` (换机 / 恢复, seed 2.6.1.6.1.2): signed by the new phone's device key named
/// in the body; the certificate's state, the administrator's one-time code and the PIN
/// ([`CosignBook::begin_refresh`]); then a refresh token, the refresh id and the seal share that
/// opens the phone share the new phone brings.
async fn split_refresh(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use super::split::{refresh_id, PendingRefresh, RefreshBegin, RefreshBegun, RefreshStage};
    let body = Zeroizing::new(body.to_vec());
    let refused_reset = |refusal: ResetRefusal| {
        (StatusCode::FORBIDDEN, Json(ResetPinRefusal { refusal })).into_response()
    };
    // The body names the key that signed it: parse first (bounded), check the signature
    // before anything else is looked at.
    let req: RefreshBegin = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let new_device = req.new_device.trim().to_ascii_lowercase();
    if let Err(r) = key_gate(
        &svc,
        DeviceRoute::SplitRefresh,
        &id,
        &headers,
        &body,
        now(),
        true,
        Some(new_device.clone()),
    ) {
        return refused_reset(match r {
            RefusalReason::TooManyAttempts { retry_after_secs } => {
                ResetRefusal::TooManyAttempts { retry_after_secs }
            }
            _ => ResetRefusal::DeviceNotRecognised,
        });
    }
    let outcome = tokio::task::spawn_blocking(move || {
        let at = now();
        let grant = svc.book.lock().map_err(|_| "状态锁损坏")?.begin_refresh(
            &id,
            req.code.expose(),
            req.pin.expose(),
            &new_device,
            at,
        );
        let grant = match grant {
            Ok(g) => g,
            Err(r) => return Ok(Err(r)),
        };
        let mut random = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut random);
        let rid = refresh_id(&id, &new_device, &random);
        let next_seal_share = crate::key_seal::new_share();
        let token = svc
            .refreshes
            .lock()
            .map_err(|_| "状态锁损坏")?
            .insert(PendingRefresh {
                cert_id: id.clone(),
                new_device,
                refresh_id: rid,
                next_seal_share: next_seal_share.clone(),
                stage: RefreshStage::Begun(Box::new(grant.split_share)),
            });
        let hex_of =
            |share: &crate::key_seal::ServiceShare| SecretText::new(hex::encode(share.as_ref()));
        Ok::<_, &'static str>(match token {
            Some(token) => Ok(RefreshBegun {
                token,
                refresh_id: hex::encode(rid),
                seal_share: hex_of(&grant.seal_share),
                next_seal_share: hex_of(&next_seal_share),
                recovery_share: hex_of(&grant.recovery_share),
            }),
            None => Err(ResetRefusal::TooManyAttempts {
                retry_after_secs: super::split::PENDING_TTL_SECS as u64,
            }),
        })
    })
    .await;
    match outcome {
        Ok(Ok(Ok(begun))) => Json(begun).into_response(),
        Ok(Ok(Err(refusal))) => refused_reset(refusal),
        Ok(Err(msg)) => error(StatusCode::INTERNAL_SERVER_ERROR, msg),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "内部错误"),
    }
}

/// `split-refresh/round` and `split-refresh/finish`: the refresh protocol, each call signed by
/// the new phone's key the refresh is bound to; single use and in order. The finish stores the
/// refreshed service share, a new seal share and the new device in one transaction.
async fn split_refresh_step(
    svc: Arc<Service>,
    id: String,
    headers: HeaderMap,
    body: axum::body::Bytes,
    route: DeviceRoute,
) -> Response {
    use super::split::{self, RefreshFinished, RefreshStage, SplitRound};
    let body = Zeroizing::new(body.to_vec());
    let req: SplitRound = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let stale = || {
        refused(not_waiting(
            split::NotWaiting::Unknown,
            WaitingStep::Refresh,
        ))
    };
    let device = match svc.refreshes.lock() {
        Ok(table) => table.device_of(&req.token, &id),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "状态锁损坏"),
    };
    let Some(device) = device else {
        return stale();
    };
    if let Err(refusal) = key_gate(
        &svc,
        route,
        &id,
        &headers,
        &body,
        now(),
        false,
        Some(device),
    ) {
        return refused(refusal);
    }
    let outcome = tokio::task::spawn_blocking(move || {
        let at = now();
        let taken = svc
            .refreshes
            .lock()
            .map_err(|_| "状态锁损坏")?
            .take(&req.token, &id);
        let pending = match taken {
            Ok(pending) => pending,
            Err(why) => return Ok(Some(Err(not_waiting(why, WaitingStep::Refresh)))),
        };
        let split::PendingRefresh {
            cert_id,
            new_device,
            refresh_id,
            next_seal_share,
            stage,
        } = pending;
        let message = match req.messages.as_slice() {
            [m] => split::unb64(m),
            _ => None,
        };
        let Some(message) = message else {
            return Ok(Some(Err(RefusalReason::InvalidRequest {
                detail: "换机刷新的消息个数或编码不符".into(),
            })));
        };
        let protocol = |e: crate::key_split::KeySplitError| protocol_refusal(&e);
        Ok(Some(match (route, stage) {
            (DeviceRoute::SplitRefreshRound, RefreshStage::Begun(share)) => {
                match crate::key_split::ServiceRefresh::answer(*share, &refresh_id, &message) {
                    Ok((state, reply)) => {
                        svc.refreshes.lock().map_err(|_| "状态锁损坏")?.put_back(
                            req.token,
                            split::PendingRefresh {
                                cert_id,
                                new_device,
                                refresh_id,
                                next_seal_share,
                                stage: RefreshStage::Answered(Box::new(state)),
                            },
                        );
                        Ok(serde_json::to_value(SplitRound {
                            token: String::new(),
                            messages: vec![split::b64(&reply)],
                        })
                        .map_err(|_| "编码失败")?)
                    }
                    Err(e) => Err(protocol(e)),
                }
            }
            (DeviceRoute::SplitRefreshFinish, RefreshStage::Answered(state)) => {
                match state.finish(&message) {
                    Ok(refreshed) => {
                        let done = svc.book.lock().map_err(|_| "状态锁损坏")?.finish_refresh(
                            &id,
                            &refreshed,
                            &new_device,
                            &next_seal_share,
                            at,
                        );
                        match done {
                            Ok(done) => Ok(serde_json::to_value(RefreshFinished {
                                seal_share: SecretText::new(hex::encode(done.seal_share.as_ref())),
                                recovery_share: SecretText::new(hex::encode(
                                    done.recovery_share.as_ref(),
                                )),
                            })
                            .map_err(|_| "编码失败")?),
                            Err(_) => Err(RefusalReason::NoSuitableCertificate),
                        }
                    }
                    Err(e) => Err(protocol(e)),
                }
            }
            _ => Err(RefusalReason::InvalidRequest {
                detail: "换机刷新的步骤顺序不对，请重新验证身份".into(),
            }),
        }))
    })
    .await;
    match outcome {
        Ok(Ok(Some(Ok(answer)))) => Json(answer).into_response(),
        Ok(Ok(Some(Err(refusal)))) => refused(refusal),
        Ok(Ok(None)) => stale(),
        Ok(Err(msg)) => error(StatusCode::INTERNAL_SERVER_ERROR, msg),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "内部错误"),
    }
}

/// `split-ecdh`: the decrypt decision with the PIN (opening time / trial rule), the envelope's
/// `ukm` checked against the platform-signed tender, then `d₂·P`.
async fn split_ecdh(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use super::split::{SplitEcdhPart, SplitEcdhRequest};
    let body = Zeroizing::new(body.to_vec());
    let device = match device_gate(&svc, DeviceRoute::SplitEcdh, &id, &headers, &body, now()) {
        Ok(d) => d,
        Err(refusal) => return refused(refusal),
    };
    let req: SplitEcdhRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let invalid = |detail: &str| {
        refused(RefusalReason::InvalidRequest {
            detail: detail.to_string(),
        })
    };
    if req.context.operation != super::state::CosignOperation::Decrypt {
        return invalid("联合解密请求的操作必须是解密");
    }
    let Some(originator) = hex::decode(&req.originator)
        .ok()
        .and_then(|b| p256::PublicKey::from_sec1_bytes(&b).ok())
    else {
        return invalid("发送方临时公钥不是 P-256 点");
    };
    let Some(ukm) = hex::decode(&req.ukm)
        .ok()
        .and_then(|b| bidseal_scan::EnvelopeUkm::parse(&b))
    else {
        return invalid("信封的 ukm 不是 BidSeal 格式");
    };
    if let Some(tender) = &req.context.tender {
        if bidseal_scan::Digest32::of(&tender.manifest.0) != ukm.tender {
            return refused(RefusalReason::SuspiciousRequest {
                detail: "该信封属于另一份招标文件，不是请求中平台签名的招标文件".into(),
            });
        }
    }
    let binding = format!(
        "联合解密：发起方公钥 {}…，招标文件 {}，清单 {}，设备 {}",
        &req.originator[..req.originator.len().min(18)],
        hex::encode(ukm.tender.0),
        hex::encode(ukm.manifest.0),
        device
    );
    let outcome = tokio::task::spawn_blocking(move || {
        split_decision(
            &svc,
            &id,
            req.pin.expose(),
            &req.who,
            &req.context,
            &binding,
            |share, seal_share| {
                let part = crate::key_split::ecdh_part(&share, &originator)
                    .map_err(|e| protocol_refusal(&e))?;
                Ok(SplitEcdhPart {
                    seal_share: SecretText::new(seal_share),
                    part: hex::encode(part),
                })
            },
        )
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
        Err(e @ super::state::BookError::Unknown(_)) => unknown_to_admin(&mut book, &e.to_string()),
        Err(e) => error(StatusCode::CONFLICT, &e.to_string()),
    }
}

/// The `404` of an admin call on an id the service does not know: the message and the ids it
/// does know (`known`), so that the administrator's tool can name them without a second call.
/// Only after the admin token was checked: a stranger gets `401` and no ids.
fn unknown_to_admin(book: &mut CosignBook, message: &str) -> Response {
    let known: Vec<String> = book
        .records()
        .map(|rs| rs.iter().map(|r| r.id.clone()).collect())
        .unwrap_or_default();
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({
            "error": message,
            "code": "unknown_certificate",
            "known": known,
        })),
    )
        .into_response()
}

async fn log(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if !admin_ok(&svc, &headers) {
        return error(StatusCode::UNAUTHORIZED, "管理员令牌错误");
    }
    let Ok(mut book) = svc.book.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "状态锁损坏");
    };
    match book.log(&id) {
        Ok((entries, Some(head))) => (
            [(LOG_HEAD_HEADER, head)],
            Json::<Vec<UsageLogEntry>>(entries),
        )
            .into_response(),
        Ok((_, None)) => unknown_to_admin(&mut book, "没有这本证书"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

// ---------------------------------------------------------------- 开通 (enrolment)

/// Body of `POST /v1/admin/enrolments/{id}`.
#[derive(Serialize, Deserialize)]
pub struct EnrolCodeRequest {
    /// Holder shown in the certificate's log.
    pub holder: String,
    /// PBKDF2 count of the PIN verifier (default [`crate::key_seal::PIN_KDF_ITERATIONS`];
    /// at least 1000).
    #[serde(default)]
    pub kdf_iterations: Option<u32>,
}

/// `POST /v1/admin/enrolments/{id}`: the administrator allows one phone to create the
/// certificate `id` with this service; answers the one-time code (16 digits, 10 minutes).
async fn admin_enrol_code(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    Json(req): Json<EnrolCodeRequest>,
) -> Response {
    if !admin_ok(&svc, &headers) {
        return error(StatusCode::UNAUTHORIZED, "管理员令牌错误");
    }
    let iterations = req
        .kdf_iterations
        .unwrap_or(crate::key_seal::PIN_KDF_ITERATIONS);
    let valid_id = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_id || !(1000..=10_000_000).contains(&iterations) || req.holder.trim().is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "证书编号只能含字母、数字、- 和 _（至多 64 个），持有人不能为空，PIN 迭代次数须在 1000–10000000 之间",
        );
    }
    let Ok(mut book) = svc.book.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "状态锁损坏");
    };
    match book.issue_enrolment_code(&id, req.holder.trim(), iterations, now()) {
        Ok(code) => Json(serde_json::json!({ "code": code })).into_response(),
        Err(e) => error(StatusCode::CONFLICT, &e.to_string()),
    }
}

/// `enrol`: signed by the device key the body names; the one-time enrolment code
/// ([`CosignBook::begin_enrolment`]: wrong codes count, the right one is consumed); then a
/// token and the DKG session id (bound to certificate, device and the service's randomness).
async fn enrol(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use super::split::{enrol_session_id, EnrolBegin, EnrolBegun, EnrolStage, PendingEnrol};
    let body = Zeroizing::new(body.to_vec());
    let refused_code = |refusal: ResetRefusal| {
        (StatusCode::FORBIDDEN, Json(ResetPinRefusal { refusal })).into_response()
    };
    let req: EnrolBegin = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let device = req.device.trim().to_ascii_lowercase();
    if let Err(r) = key_gate(
        &svc,
        DeviceRoute::Enrol,
        &id,
        &headers,
        &body,
        now(),
        true,
        Some(device.clone()),
    ) {
        return refused_code(match r {
            RefusalReason::TooManyAttempts { retry_after_secs } => {
                ResetRefusal::TooManyAttempts { retry_after_secs }
            }
            _ => ResetRefusal::DeviceNotRecognised,
        });
    }
    let at = now();
    let grant = match svc.book.lock() {
        Ok(mut book) => book.begin_enrolment(&id, req.code.expose(), at),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "状态锁损坏"),
    };
    let grant = match grant {
        Ok(g) => g,
        Err(r) => return refused_code(r),
    };
    let mut random = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut random);
    let session_id = enrol_session_id(&id, &device, &random);
    let token = match svc.enrolments.lock() {
        Ok(mut table) => table.insert(PendingEnrol {
            cert_id: id,
            device,
            session_id,
            grant,
            stage: EnrolStage::Begun,
        }),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "状态锁损坏"),
    };
    match token {
        Some(token) => Json(EnrolBegun {
            token,
            session_id: hex::encode(session_id),
        })
        .into_response(),
        None => refused_code(ResetRefusal::TooManyAttempts {
            retry_after_secs: super::split::PENDING_TTL_SECS as u64,
        }),
    }
}

/// The common start of every enrolment step after `enrol`: the token names an enrolment of
/// this certificate, the call is signed by the device it is bound to; the enrolment is taken
/// out of the table (single use: a replayed or out-of-order call finds nothing or the wrong
/// stage, and the enrolment is over).
fn enrol_take(
    svc: &Service,
    route: DeviceRoute,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    token: &str,
) -> Result<super::split::PendingEnrol, Box<Response>> {
    let stale = |why| refused(not_waiting(why, WaitingStep::Enrol));
    let device = match svc.enrolments.lock() {
        Ok(table) => table.device_of(token, id),
        Err(_) => {
            return Err(Box::new(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "状态锁损坏",
            )))
        }
    };
    let Some(device) = device else {
        return Err(Box::new(stale(super::split::NotWaiting::Unknown)));
    };
    if let Err(refusal) = key_gate(svc, route, id, headers, body, now(), false, Some(device)) {
        return Err(Box::new(refused(refusal)));
    }
    match svc.enrolments.lock() {
        Ok(mut table) => table.take(token, id).map_err(|why| Box::new(stale(why))),
        Err(_) => Err(Box::new(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "状态锁损坏",
        ))),
    }
}

/// `enrol/round`, `enrol/csr`, `enrol/csr-finish`: the DKG and the CSR's joint signature.
async fn enrol_step(
    svc: Arc<Service>,
    id: String,
    headers: HeaderMap,
    body: axum::body::Bytes,
    route: DeviceRoute,
) -> Response {
    use super::split::{self, EnrolStage, SplitRound};
    let body = Zeroizing::new(body.to_vec());
    let req: SplitRound = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let pending = match enrol_take(&svc, route, &id, &headers, &body, &req.token) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let mut pending = pending;
        let messages: Option<Vec<Vec<u8>>> = req.messages.iter().map(|m| split::unb64(m)).collect();
        let invalid = |detail: &str| RefusalReason::InvalidRequest {
            detail: detail.to_string(),
        };
        let protocol = |e: crate::key_split::KeySplitError| protocol_refusal(&e);
        let stage = std::mem::replace(&mut pending.stage, EnrolStage::Begun);
        let reply = match (route, stage, messages.as_deref()) {
            (DeviceRoute::EnrolRound, EnrolStage::Begun, Some([hello])) => {
                let (dkg, reply) = crate::key_split::ServiceDkg::answer(&pending.session_id, hello)
                    .map_err(protocol)?;
                pending.stage = EnrolStage::DkgAnswered(Box::new(dkg));
                reply
            }
            (DeviceRoute::EnrolCsr, EnrolStage::DkgAnswered(dkg), Some([finish, info, hello])) => {
                let share = dkg.finish(finish).map_err(protocol)?;
                let public = share.public_key().map_err(protocol)?;
                let requested = <x509_cert::request::CertReqInfo as der::Decode>::from_der(info)
                    .ok()
                    .and_then(|i| {
                        let key = p256::PublicKey::from_sec1_bytes(
                            i.public_key.subject_public_key.raw_bytes(),
                        )
                        .ok()?;
                        Some((key, der::Encode::to_der(&i.subject).ok()?))
                    });
                let Some((requested, subject)) = requested else {
                    return Err(invalid("证书申请（CSR）格式错误"));
                };
                if requested != public {
                    return Err(invalid("证书申请（CSR）不是为本次联合生成的公钥"));
                }
                let digest: [u8; 32] = Sha256::digest(info).into();
                let sign_id = split::enrol_csr_sign_id(
                    &pending.cert_id,
                    &pending.device,
                    &pending.session_id,
                );
                let (sign, reply) =
                    crate::key_split::ServiceSign::answer(&share, &sign_id, &digest, hello)
                        .map_err(protocol)?;
                pending.stage = EnrolStage::CsrAnswered {
                    share: Box::new(share),
                    sign: Box::new(sign),
                    subject,
                };
                reply
            }
            (
                DeviceRoute::EnrolCsrFinish,
                EnrolStage::CsrAnswered {
                    share,
                    sign,
                    subject,
                },
                Some([finish]),
            ) => {
                let (done, _signature) = sign.finish(&share, finish).map_err(protocol)?;
                pending.stage = EnrolStage::Signed { share, subject };
                done
            }
            (_, _, None) => return Err(invalid("开通的协议消息不是 base64")),
            _ => {
                return Err(invalid(
                    "开通的步骤顺序或消息个数不对，请向管理员重新申请开通码",
                ))
            }
        };
        let token = req.token;
        svc.enrolments
            .lock()
            .map_err(|_| RefusalReason::CoSigningUnavailable)?
            .put_back(token, pending);
        Ok(SplitRound {
            token: String::new(),
            messages: vec![split::b64(&reply)],
        })
    })
    .await;
    match outcome {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(refusal)) => refused(refusal),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "内部错误"),
    }
}

/// Whether the certificate `pem` (already checked to certify the joint key and the CSR's
/// subject) was issued by one of the CAs in `issuers_file` ([`ENROL_ISSUERS_FILE`]): its
/// signature verifies under that CA's key, and the CA is valid now and allowed to sign
/// certificates. The certificate's own validity is not looked at (an already expired one is
/// registered like any other; its uses are refused). The refusal says what to do.
fn check_enrol_issuer(issuers_file: &Path, pem: &[u8]) -> Result<(), String> {
    // The refusal goes to the phone: it names the file, not where the service keeps it.
    let mut issuers = bidseal_cms::cert::TrustStore::new();
    if issuers.add_pem_file(issuers_file).is_err() {
        let missing = std::fs::metadata(issuers_file).is_err();
        return Err(if missing {
            format!(
                "协同签名服务没有配置开通证书的签发 CA（状态目录中的 {ENROL_ISSUERS_FILE}），不能开通；请管理员放入签发 CA 的证书后重新申请开通码"
            )
        } else {
            format!(
                "协同签名服务的签发 CA 文件（状态目录中的 {ENROL_ISSUERS_FILE}）不是 PEM 格式的证书，不能开通；请管理员修正后重新申请开通码"
            )
        });
    }
    if issuers.roots().is_empty() {
        return Err(format!(
            "协同签名服务的签发 CA 文件（状态目录中的 {ENROL_ISSUERS_FILE}）中没有证书，不能开通；请管理员放入签发 CA 的证书后重新申请开通码"
        ));
    }
    let leaf = bidseal_cms::cert::Certificate::from_pem(pem)
        .map_err(|_| "证书不是 PEM 格式的 X.509 证书".to_string())?;
    let mut why = None;
    for ca in issuers
        .roots()
        .iter()
        .filter(|ca| ca.subject() == leaf.issuer())
    {
        match bidseal_cms::cert::check_issuer(&leaf, ca, std::time::SystemTime::now()) {
            Ok(()) => return Ok(()),
            Err(e) => why = Some(e.to_string()),
        }
    }
    let why = why.unwrap_or_else(|| format!("签发者“{}”不在其中", leaf.issuer()));
    Err(format!(
        "证书不是由本服务信任的 CA 签发的（{why}），不能开通；请用本平台 CA 签发的证书重新开通"
    ))
}

/// `enrol/certificate`: the certificate must be for the joint key and for the subject of the
/// CSR the service signed; the
/// service stores its share, the PIN verifier, a new seal and recovery share and the device
/// (one transaction, the certificate's first log line) and answers the two shares the phone
/// seals its own share with.
async fn enrol_certificate(
    State(svc): State<Arc<Service>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use super::split::{EnrolCertificate, EnrolStage, RefreshFinished};
    use super::state::{CertRecord, CertShares};
    let body = Zeroizing::new(body.to_vec());
    let req: EnrolCertificate = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let pending = match enrol_take(
        &svc,
        DeviceRoute::EnrolCertificate,
        &id,
        &headers,
        &body,
        &req.token,
    ) {
        Ok(p) => p,
        Err(resp) => return *resp,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let invalid = |detail: &str| {
            Ok(Err(RefusalReason::InvalidRequest {
                detail: detail.to_string(),
            }))
        };
        let EnrolStage::Signed { share, subject } = pending.stage else {
            return invalid("开通的步骤顺序不对，请向管理员重新申请开通码");
        };
        if crate::provision::check_pin_format(req.pin.expose()).is_err() {
            return invalid("PIN 码必须是 6 位数字");
        }
        let Ok(cert) =
            <x509_cert::Certificate as der::DecodePem>::from_pem(req.certificate.as_bytes())
        else {
            return invalid("证书不是 PEM 格式的 X.509 证书");
        };
        let public = p256::PublicKey::from_sec1_bytes(
            cert.tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes(),
        )
        .ok();
        if public.is_none() || public != share.public_key().ok() {
            return invalid("证书不是为本次联合生成的公钥签发的");
        }
        if der::Encode::to_der(&cert.tbs_certificate.subject).ok() != Some(subject) {
            return invalid("证书的主体与联合签名的证书申请（CSR）不符");
        }
        if let Err(refusal) = check_enrol_issuer(&svc.enrol_issuers, req.certificate.as_bytes()) {
            return invalid(&refusal);
        }
        let at = now();
        let not_after = cert
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs() as i64;
        // An expired certificate is registered like any other (the test world has one on
        // purpose): every use after its notAfter is refused (`certificate_expired`).
        let Ok(fingerprint) = crate::pki::fingerprint(&cert) else {
            return invalid("证书无法编码");
        };
        let seal_share = crate::key_seal::new_share();
        let recovery_share = crate::key_seal::new_share();
        // PBKDF2 of the PIN verifier runs outside the book's lock.
        let record = CertRecord::new(
            &id,
            &fingerprint,
            &pending.grant.holder,
            not_after,
            req.pin.expose(),
            CertShares {
                share: &seal_share,
                recovery_share: &recovery_share,
            },
            pending.grant.kdf_iterations,
        )
        .with_device(&pending.device)
        .with_split_share(&share)
        .map_err(|_| "编码失败")?;
        let detail = format!(
            "联合生成密钥（DKG 会话 {}），证书申请联合签名，证书指纹 {}；设备 {}；开通码签发于 {}",
            hex::encode(pending.session_id),
            fingerprint,
            pending.device,
            super::state::rfc3339(pending.grant.issued_at),
        );
        let stored = svc
            .book
            .lock()
            .map_err(|_| "状态锁损坏")?
            .finish_enrolment(&record, &detail, at);
        Ok::<_, &'static str>(match stored {
            Ok(()) => Ok(RefreshFinished {
                seal_share: SecretText::new(hex::encode(seal_share.as_ref())),
                recovery_share: SecretText::new(hex::encode(recovery_share.as_ref())),
            }),
            Err(_) => Err(RefusalReason::InvalidRequest {
                detail: "证书编号已被占用，开通未完成".into(),
            }),
        })
    })
    .await;
    answer(outcome)
}
