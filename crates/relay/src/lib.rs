//! The scan relay: an HTTP/WebSocket server that forwards ciphertext between a desktop and a
//! phone. It can neither read nor forge what passes through it (see `bidseal_scan::channel`).
//! Embedded in the desktop by default ([`Relay::bind`] on a loopback or LAN address), standalone
//! for a platform's deadline rush (`bidseal relay --listen ADDR`).
//!
//! Routes (see `bidseal_scan::wire`): `GET /v1/sessions/{sid}/desktop?ttl=S` (WebSocket; creates
//! a single-use session), `GET /v1/sessions/{sid}/phone` (WebSocket; joins it),
//! `GET /v1/health`, and for benchmarks `GET /v1/echo` (WebSocket echo) and `POST /v1/echo`.
//!
//! Guarantees: sessions expire (TTL ≤ 5 min until a phone joins; idle and lifetime limits
//! after); per-connection frame size, rate and byte limits; shutdown tells every connected end
//! `relay.shutdown` and closes it, and a relay that dies closes the sockets, so no end hangs.
//! Logs carry session-id prefixes and event names only, never frame contents. Admits a phone
//! only with the session's join token (`bidseal_scan::wire::JoinToken`; the desktop registers
//! its commitment), so knowing a session id is not enough to take a session's phone slot.
//! Terminates TLS itself when given a certificate ([`RelayConfig::tls`], [`tls`]); the
//! desktop's embedded relay stays plain HTTP on loopback. Does not share state between
//! instances yet ([`store::SessionStore`] is the seam for a Redis backend).

mod connection;
pub mod fault;
pub mod store;
pub mod tls;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use bidseal_scan::wire::{self, JoinCommitment, Role};
use bidseal_scan::SessionId;
use futures_channel::mpsc;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::{MemoryStore, SessionStore, StoreError};
use tokio::sync::watch;

/// Limits and knobs of one relay.
#[derive(Clone)]
pub struct RelayConfig {
    /// Largest binary frame forwarded.
    pub max_frame_bytes: usize,
    /// Most bytes one end may send over a session's life.
    pub max_session_bytes: u64,
    /// Sustained frames per second per end (bursts up to `burst_frames`).
    pub frames_per_second: u32,
    /// Burst allowance of the rate limit.
    pub burst_frames: u32,
    /// Sessions held at once.
    pub max_sessions: usize,
    /// Longest TTL a desktop may ask for.
    pub max_ttl: Duration,
    /// A joined session with no frame for this long is closed.
    pub idle_timeout: Duration,
    /// Hard lifetime of a joined session.
    pub max_lifetime: Duration,
    /// Per-connection socket read buffer (small: most frames are < 4 KiB).
    pub read_buffer_bytes: usize,
    /// Test-only misbehaviour (see [`fault`]); `None` in production.
    pub fault: Option<Arc<dyn fault::FrameFault>>,
    /// Print one line per session event to stderr (ids shortened, no contents).
    pub log: bool,
    /// Serve HTTPS/WSS with these settings ([`tls::server_config`]); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            max_frame_bytes: bidseal_scan::channel::MAX_FRAME_BYTES,
            max_session_bytes: 16 * 1024 * 1024,
            frames_per_second: 20,
            burst_frames: 40,
            max_sessions: 200_000,
            max_ttl: bidseal_scan::session::MAX_QR_TTL,
            idle_timeout: Duration::from_secs(
                u64::from(bidseal_scan::session::MAX_IDLE_TIMEOUT_SECS) + 60,
            ),
            max_lifetime: Duration::from_secs(4 * 3600),
            read_buffer_bytes: 512,
            fault: None,
            log: false,
            tls: None,
        }
    }
}

/// Errors starting the relay.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("无法监听地址 {addr}（{detail}），请换一个端口或检查权限")]
    Bind { addr: String, detail: String },
    #[error(
        "无法使用 TLS 证书或私钥 {path}（{detail}），请检查 --tls-cert / --tls-key 指定的 PEM 文件"
    )]
    Tls { path: String, detail: String },
}

impl RelayError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RelayError::Bind { .. } => "relay.bind",
            RelayError::Tls { .. } => "relay.tls",
        }
    }
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) config: RelayConfig,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// The relay server.
pub struct Relay;

impl Relay {
    /// Binds `addr` (e.g. `127.0.0.1:0`) with default limits and starts serving.
    pub async fn bind(addr: &str) -> Result<RelayHandle, RelayError> {
        Relay::bind_with(addr, RelayConfig::default()).await
    }

    /// Binds `addr` with `config` and starts serving on the current tokio runtime.
    pub async fn bind_with(addr: &str, config: RelayConfig) -> Result<RelayHandle, RelayError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| RelayError::Bind {
                addr: addr.into(),
                detail: e.to_string(),
            })?;
        let local = listener.local_addr().map_err(|e| RelayError::Bind {
            addr: addr.into(),
            detail: e.to_string(),
        })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new(config.max_sessions));
        let tls = config.tls.clone();
        let shared = Arc::new(Shared {
            store: store.clone(),
            config,
            shutdown: stop_rx.clone(),
        });
        let app = Router::new()
            .route("/v1/sessions/{sid}/desktop", get(desktop))
            .route("/v1/sessions/{sid}/phone", get(phone))
            .route("/v1/health", get(health))
            .route("/v1/echo", get(echo_ws).post(echo_http))
            .with_state(shared.clone());
        let mut stop_serve = stop_rx.clone();
        let stopped = async move {
            let _ = stop_serve.wait_for(|s| *s).await;
        };
        let server = match tls.clone() {
            Some(config) => {
                let listener = tls::TlsListener::new(listener, config);
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await;
                })
            }
            None => tokio::spawn(async move {
                // Small frames both ways: disable Nagle so a forwarded frame leaves at once.
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await;
            }),
        };
        let mut stop_sweep = stop_rx;
        let sweeper = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        store.sweep(bidseal_scan::unix_now());
                    }
                    _ = async { let _ = stop_sweep.wait_for(|s| *s).await; } => return,
                }
            }
        });
        Ok(RelayHandle {
            addr: local,
            stop: stop_tx,
            server,
            sweeper,
            shared,
        })
    }
}

/// A running relay.
pub struct RelayHandle {
    /// The bound address.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl RelayHandle {
    /// The base URL to put in QR payloads: `http://ADDR`, or `https://ADDR` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.shared.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Sessions currently held.
    pub fn sessions(&self) -> usize {
        self.shared.store.len()
    }

    /// Stops: every connected end is told `relay.shutdown` and closed; waits for the server.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        self.sweeper.abort();
    }
}

#[derive(Deserialize)]
struct DesktopQuery {
    ttl: Option<u64>,
    /// Commitment to the phone's join token (base64url SHA-256), see `wire::JoinToken`.
    jc: Option<String>,
}

fn parse_sid(text: &str) -> Result<SessionId, (StatusCode, &'static str)> {
    SessionId::from_base64(text).map_err(|_| (StatusCode::BAD_REQUEST, "会话编号无效"))
}

fn configure(ws: WebSocketUpgrade, config: &RelayConfig) -> WebSocketUpgrade {
    // Allow up to twice the frame limit at the socket so an oversized frame gets a clear
    // `relay.too_large` instead of a protocol error.
    ws.read_buffer_size(config.read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(config.max_frame_bytes.saturating_mul(2))
        .max_frame_size(config.max_frame_bytes.saturating_mul(2))
}

async fn desktop(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    Query(q): Query<DesktopQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let sid = match parse_sid(&sid) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let ttl = q.ttl.unwrap_or(180);
    if ttl == 0 || ttl > shared.config.max_ttl.as_secs() {
        return (StatusCode::BAD_REQUEST, "有效期超出范围").into_response();
    }
    let Some(commitment) = q.jc.as_deref().and_then(JoinCommitment::from_base64) else {
        return (StatusCode::BAD_REQUEST, "缺少或无效的加入凭据承诺 jc").into_response();
    };
    let expires_at = bidseal_scan::unix_now() + ttl;
    let (tx, rx) = mpsc::channel(16);
    if let Err(e) = shared.store.create(sid, expires_at, commitment, tx) {
        return store_refusal(e);
    }
    connection::log(&shared, sid, Role::Desktop, "created");
    configure(ws, &shared.config)
        .on_failed_upgrade(move |_| {})
        .on_upgrade(move |socket| {
            connection::run(shared, sid, Role::Desktop, socket, rx, Some(expires_at))
        })
}

async fn phone(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let sid = match parse_sid(&sid) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let token = headers
        .get(wire::JOIN_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok());
    let (tx, rx) = mpsc::channel(16);
    if let Err(e) = shared.store.join(sid, bidseal_scan::unix_now(), token, tx) {
        if e == StoreError::NotAdmitted {
            connection::log(&shared, sid, Role::Phone, "refused (no valid join token)");
        }
        return store_refusal(e);
    }
    connection::log(&shared, sid, Role::Phone, "joined");
    configure(ws, &shared.config)
        .on_upgrade(move |socket| connection::run(shared, sid, Role::Phone, socket, rx, None))
}

fn store_refusal(e: StoreError) -> Response {
    let status = match e {
        StoreError::Conflict | StoreError::Taken => StatusCode::CONFLICT,
        StoreError::NotAdmitted => StatusCode::FORBIDDEN,
        StoreError::Unknown => StatusCode::NOT_FOUND,
        StoreError::Expired => StatusCode::GONE,
        StoreError::Full | StoreError::Backpressure => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, e.to_string()).into_response()
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    Json(serde_json::json!({ "status": "ok", "sessions": shared.store.len() })).into_response()
}

async fn echo_http(body: axum::body::Bytes) -> Response {
    body.into_response()
}

async fn echo_ws(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    configure(ws, &shared.config).on_upgrade(connection::echo)
}
