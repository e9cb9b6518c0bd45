//! Async clients of the relay: the desktop's [`start_scan`] and the phone's [`join`].
//!
//! Both drive the sans-IO state machines of [`crate::session`] over one WebSocket each
//! (paths in [`crate::wire`]) and add the clocks: QR expiry, response time-out, session-mode
//! idle time-out. Every way a scan can end is a [`ScanEvent`] (desktop) or a
//! [`ScanError`] (phone); nothing hangs: a relay that restarts or vanishes closes the socket
//! and both ends report `scan.relay_lost`.
//!
//! Admission: the desktop registers the commitment to the join token when it creates the
//! session; the phone presents the token (derived from the QR secret, see
//! [`crate::wire::JoinToken`]) when it joins, so a stranger who knows only the session id is
//! refused by the relay. A hello that still fails to authenticate (a lying relay, a broken
//! phone) is ignored by the desktop, which keeps waiting for the real phone, up to
//! [`MAX_REFUSED_HELLOS`].
//!
//! Transport: `http://` relays over `ws://`, `https://` relays over `wss://` (rustls, ring),
//! trusting the system roots plus an optional extra CA ([`set_relay_ca`] or the
//! [`RELAY_CA_ENV`] environment variable).
//!
//! Does not retry or reconnect (a scan is single use; the user rescans).

use crate::channel::{SessionBinding, MAX_FRAME_BYTES};
use crate::error::ScanError;
use crate::message::{
    OperationOutcome, OperationRequest, OperationResponse, PhoneHello, SessionEndReason,
    SessionGrant, SessionModeRequest,
};
use crate::payload::{OperationKind, QrPayload};
use crate::refusal::RefusalReason;
use crate::session::{
    DesktopEvent, DesktopOffer, DesktopSession, IncomingRequest, PhoneEvent, PhoneSession,
};
use crate::wire::{self, JoinToken, RelayEvent};
use futures_util::{SinkExt, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long to wait for the relay to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Hellos that fail to authenticate which the desktop ignores (keeps waiting for the real
/// phone); the next one fails the scan with the hello's error.
pub const MAX_REFUSED_HELLOS: u32 = 4;

/// Environment variable naming an extra CA certificate file (PEM) trusted for `https://`
/// relays, on top of the system roots (used unless [`set_relay_ca`] was called).
pub const RELAY_CA_ENV: &str = "BIDSEAL_RELAY_CA";

/// Desktop-side options of one scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// QR lifetime (1 s – 5 min; default 3 min).
    pub ttl: Duration,
    /// How long the phone may take to answer one request (user reads, enters PIN).
    pub response_timeout: Duration,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            ttl: crate::session::DEFAULT_QR_TTL,
            response_timeout: Duration::from_secs(180),
        }
    }
}

/// What the desktop sees happen, in order. `Expired`, `Failed` and `SessionEnded` are final;
/// after `Confirmed`/`Rejected` of a scan without session mode the stream ends too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEvent {
    /// The relay holds the session; show the QR until `expires_at`.
    Waiting { expires_at: u64 },
    /// The phone scanned (authenticated hello). `binding` is what auth signatures are bound to.
    Scanned {
        phone: PhoneHello,
        binding: SessionBinding,
    },
    /// Request `id` was confirmed on the phone.
    Confirmed {
        id: u32,
        response: OperationResponse,
        session: Option<SessionGrant>,
    },
    /// Request `id` was refused on the phone.
    Rejected { id: u32, reason: RefusalReason },
    /// Nobody scanned before the QR expired.
    Expired,
    /// Session mode ended ("结束会话" on either side, or idle time-out).
    SessionEnded {
        reason: SessionEndReason,
        by_phone: bool,
    },
    /// The scan failed; the error says why and what to do.
    Failed(ScanError),
}

impl ScanEvent {
    /// Short state name for logs and the CLI: waiting, scanned, confirmed, rejected, expired,
    /// ended, failed.
    pub fn state(&self) -> &'static str {
        match self {
            ScanEvent::Waiting { .. } => "waiting",
            ScanEvent::Scanned { .. } => "scanned",
            ScanEvent::Confirmed { .. } => "confirmed",
            ScanEvent::Rejected { .. } => "rejected",
            ScanEvent::Expired => "expired",
            ScanEvent::SessionEnded { .. } => "ended",
            ScanEvent::Failed(_) => "failed",
        }
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Confirmed {
        response: OperationResponse,
        session: Option<SessionGrant>,
    },
    Rejected(RefusalReason),
}

enum Command {
    Request {
        request: Box<OperationRequest>,
        session: Option<SessionModeRequest>,
        done: oneshot::Sender<Result<u32, ScanError>>,
    },
    End,
}

/// The desktop's handle on one scan. Dropping it closes the connection.
pub struct DesktopScan {
    payload: QrPayload,
    events: mpsc::Receiver<ScanEvent>,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for DesktopScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopScan")
            .field("payload", &self.payload)
            .finish()
    }
}

/// Starts a scan for `op` at the relay `relay` (`http://host:port`): creates the session at
/// the relay, then returns the handle whose [`DesktopScan::payload`] is the QR to show. The
/// first event is `Waiting`.
pub async fn start_scan(
    relay: &str,
    op: OperationKind,
    options: ScanOptions,
) -> Result<DesktopScan, ScanError> {
    let relay = relay.trim_end_matches('/');
    let offer = DesktopOffer::new(relay, op, options.ttl, crate::unix_now())?;
    let commitment = offer.payload().join_token()?.commitment();
    let path = wire::desktop_path(&offer.payload().session, options.ttl.as_secs(), &commitment);
    let mut ws = connect(relay, &path, None).await?;
    // The relay answers with `waiting` once the session exists.
    let first = tokio::time::timeout(CONNECT_TIMEOUT, ws.next())
        .await
        .map_err(|_| ScanError::RelayUnreachable {
            relay: relay.into(),
            detail: "中继无应答".into(),
        })?;
    let expires_at = match first {
        Some(Ok(Message::Text(t))) => match serde_json::from_str::<RelayEvent>(t.as_str()) {
            Ok(RelayEvent::Waiting { expires_at }) => expires_at,
            Ok(RelayEvent::Error { code, message }) => return Err(relay_error(&code, &message)),
            _ => return Err(ScanError::protocol("中继的第一条事件不是 waiting")),
        },
        Some(Ok(_)) => return Err(ScanError::protocol("中继的第一条事件不是 waiting")),
        Some(Err(e)) => {
            return Err(ScanError::RelayLost {
                detail: e.to_string(),
            })
        }
        None => {
            return Err(ScanError::RelayLost {
                detail: "连接已关闭".into(),
            })
        }
    };
    let payload = offer.payload().clone();
    let (event_tx, events) = mpsc::channel(64);
    let (commands, command_rx) = mpsc::channel(8);
    let _ = event_tx.send(ScanEvent::Waiting { expires_at }).await;
    let driver = DesktopDriver {
        ws,
        events: event_tx,
        commands: command_rx,
        options,
        state: DesktopState::Offered(offer),
        refused_hellos: 0,
        deadline: None,
        idle: None,
    };
    tokio::spawn(driver.run());
    Ok(DesktopScan {
        payload,
        events,
        commands,
    })
}

impl DesktopScan {
    /// The QR payload to show.
    pub fn payload(&self) -> &QrPayload {
        &self.payload
    }

    /// The next event, `None` once the scan is over.
    pub async fn next_event(&mut self) -> Option<ScanEvent> {
        self.events.recv().await
    }

    /// The events as a `Stream`.
    pub fn into_events(self) -> impl futures_util::Stream<Item = ScanEvent> {
        futures_util::stream::unfold(self, |mut scan| async move {
            scan.next_event().await.map(|e| (e, scan))
        })
    }

    /// Waits until the phone scanned; `Err` with the reason if the scan ended first.
    pub async fn wait_scanned(&mut self) -> Result<(PhoneHello, SessionBinding), ScanError> {
        loop {
            match self.next_event().await {
                Some(ScanEvent::Scanned { phone, binding }) => return Ok((phone, binding)),
                Some(ScanEvent::Waiting { .. }) => continue,
                Some(other) => return Err(final_error(other)),
                None => return Err(ScanError::SessionEnded),
            }
        }
    }

    /// Sends a request (after `Scanned`); the answer arrives as a `Confirmed`/`Rejected` event.
    /// Returns the request id.
    pub async fn request(
        &self,
        request: OperationRequest,
        session: Option<SessionModeRequest>,
    ) -> Result<u32, ScanError> {
        let (done, rx) = oneshot::channel();
        self.commands
            .send(Command::Request {
                request: Box::new(request),
                session,
                done,
            })
            .await
            .map_err(|_| ScanError::SessionEnded)?;
        rx.await.map_err(|_| ScanError::SessionEnded)?
    }

    /// Sends a request and waits for its answer.
    pub async fn perform(
        &mut self,
        request: OperationRequest,
        session: Option<SessionModeRequest>,
    ) -> Result<Answer, ScanError> {
        let id = self.request(request, session).await?;
        loop {
            match self.next_event().await {
                Some(ScanEvent::Confirmed {
                    id: got,
                    response,
                    session,
                }) if got == id => return Ok(Answer::Confirmed { response, session }),
                Some(ScanEvent::Rejected { id: got, reason }) if got == id => {
                    return Ok(Answer::Rejected(reason))
                }
                Some(ScanEvent::Waiting { .. } | ScanEvent::Scanned { .. }) => continue,
                Some(other) => return Err(final_error(other)),
                None => return Err(ScanError::SessionEnded),
            }
        }
    }

    /// Ends the session ("结束会话"); the phone is told, the event stream ends with
    /// `SessionEnded`.
    pub async fn end(&self) -> Result<(), ScanError> {
        self.commands
            .send(Command::End)
            .await
            .map_err(|_| ScanError::SessionEnded)
    }
}

fn final_error(event: ScanEvent) -> ScanError {
    match event {
        ScanEvent::Expired => ScanError::Expired,
        ScanEvent::Failed(e) => e,
        ScanEvent::SessionEnded {
            reason: SessionEndReason::IdleTimeout,
            ..
        } => ScanError::IdleTimeout,
        _ => ScanError::SessionEnded,
    }
}

enum DesktopState {
    Offered(DesktopOffer),
    Open(Box<DesktopSession>),
    Done,
}

struct DesktopDriver {
    ws: Ws,
    events: mpsc::Sender<ScanEvent>,
    commands: mpsc::Receiver<Command>,
    options: ScanOptions,
    state: DesktopState,
    /// Hellos that failed to authenticate so far (ignored up to [`MAX_REFUSED_HELLOS`]).
    refused_hellos: u32,
    /// Response deadline of the pending request.
    deadline: Option<Instant>,
    /// Session-mode idle deadline.
    idle: Option<Instant>,
}

impl DesktopDriver {
    async fn run(mut self) {
        let expiry = match &self.state {
            DesktopState::Offered(o) => instant_at(o.payload().expires_at + 1),
            _ => Instant::now(),
        };
        // One timer, re-armed only when its deadline changes (not once per message).
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let timer = tokio::time::sleep_until(far);
        tokio::pin!(timer);
        let mut armed = far;
        loop {
            if matches!(self.state, DesktopState::Done) {
                let _ = self.ws.close(None).await;
                return;
            }
            let next = match (&self.state, self.deadline, self.idle) {
                (DesktopState::Offered(_), _, _) => Some((expiry, Timer::Expiry)),
                (_, Some(d), _) => Some((d, Timer::Response)),
                (_, None, Some(i)) => Some((i, Timer::Idle)),
                _ => None,
            };
            let (at, which) = next.unwrap_or((far, Timer::None));
            if at != armed {
                timer.as_mut().reset(at);
                armed = at;
            }
            tokio::select! {
                msg = self.ws.next() => self.on_ws(msg).await,
                cmd = self.commands.recv() => self.on_command(cmd).await,
                _ = &mut timer => {
                    armed = far;
                    timer.as_mut().reset(far);
                    self.on_timer(which).await
                }
            }
        }
    }

    async fn finish(&mut self, event: ScanEvent) {
        self.state = DesktopState::Done;
        let _ = self.events.send(event).await;
    }

    async fn on_timer(&mut self, which: Timer) {
        match which {
            Timer::Expiry => self.finish(ScanEvent::Expired).await,
            Timer::Response => {
                self.finish(ScanEvent::Failed(ScanError::PhoneTimeout))
                    .await
            }
            Timer::Idle => {
                if let DesktopState::Open(s) = &mut self.state {
                    if let Ok(frame) = s.seal_end(SessionEndReason::IdleTimeout) {
                        let _ = self.ws.send(Message::binary(frame)).await;
                    }
                }
                self.finish(ScanEvent::SessionEnded {
                    reason: SessionEndReason::IdleTimeout,
                    by_phone: false,
                })
                .await
            }
            Timer::None => {}
        }
    }

    async fn on_command(&mut self, cmd: Option<Command>) {
        match cmd {
            // The handle was dropped: close quietly.
            None => self.state = DesktopState::Done,
            Some(Command::End) => {
                if let DesktopState::Open(s) = &mut self.state {
                    if let Ok(frame) = s.seal_end(SessionEndReason::EndedByUser) {
                        let _ = self.ws.send(Message::binary(frame)).await;
                    }
                }
                self.finish(ScanEvent::SessionEnded {
                    reason: SessionEndReason::EndedByUser,
                    by_phone: false,
                })
                .await
            }
            Some(Command::Request {
                request,
                session,
                done,
            }) => {
                let result = match &mut self.state {
                    DesktopState::Open(s) => s.seal_request(*request, session),
                    DesktopState::Offered(_) => Err(ScanError::protocol("手机尚未扫码")),
                    DesktopState::Done => Err(ScanError::SessionEnded),
                };
                match result {
                    Ok((pending, frame)) => {
                        if let Err(e) = self.ws.send(Message::binary(frame)).await {
                            let err = ScanError::RelayLost {
                                detail: e.to_string(),
                            };
                            let _ = done.send(Err(err.clone()));
                            self.finish(ScanEvent::Failed(err)).await;
                            return;
                        }
                        self.deadline = Some(Instant::now() + self.options.response_timeout);
                        self.idle = None;
                        let _ = done.send(Ok(pending.id));
                    }
                    Err(e) => {
                        let _ = done.send(Err(e));
                    }
                }
            }
        }
    }

    async fn on_ws(&mut self, msg: Option<Result<Message, tungstenite::Error>>) {
        let msg = match msg {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                return self
                    .finish(ScanEvent::Failed(ScanError::RelayLost {
                        detail: e.to_string(),
                    }))
                    .await
            }
            None => {
                return self
                    .finish(ScanEvent::Failed(ScanError::RelayLost {
                        detail: "中继关闭了连接".into(),
                    }))
                    .await
            }
        };
        match msg {
            Message::Text(t) => match serde_json::from_str::<RelayEvent>(t.as_str()) {
                Ok(RelayEvent::Expired) => self.finish(ScanEvent::Expired).await,
                Ok(RelayEvent::Error { code, message }) => {
                    self.finish(ScanEvent::Failed(relay_error(&code, &message)))
                        .await
                }
                Ok(RelayEvent::PeerLeft) => {
                    self.finish(ScanEvent::Failed(ScanError::PeerLeft {
                        who: "手机端".into(),
                    }))
                    .await
                }
                Ok(RelayEvent::Waiting { .. } | RelayEvent::PeerJoined) => {}
                Err(_) => {
                    self.finish(ScanEvent::Failed(ScanError::malformed("中继事件无法解析")))
                        .await
                }
            },
            Message::Binary(frame) => self.on_frame(&frame).await,
            Message::Close(_) => {
                self.finish(ScanEvent::Failed(ScanError::RelayLost {
                    detail: "中继关闭了连接".into(),
                }))
                .await
            }
            _ => {}
        }
    }

    async fn on_frame(&mut self, frame: &[u8]) {
        match std::mem::replace(&mut self.state, DesktopState::Done) {
            DesktopState::Offered(offer) => match offer.accept_hello(frame, crate::unix_now()) {
                Ok((session, phone)) => {
                    let binding = session.binding().clone();
                    self.state = DesktopState::Open(Box::new(session));
                    self.deadline = Some(Instant::now() + self.options.response_timeout);
                    let _ = self
                        .events
                        .send(ScanEvent::Scanned { phone, binding })
                        .await;
                }
                Err(refused) => match refused.offer {
                    // Not from the real phone (which holds the QR secret): ignore it and keep
                    // waiting, so a stranger's frame cannot end the scan, up to the limit.
                    Some(offer) if self.refused_hellos < MAX_REFUSED_HELLOS => {
                        self.refused_hellos += 1;
                        self.state = DesktopState::Offered(*offer);
                    }
                    _ if refused.error == ScanError::Expired => {
                        self.finish(ScanEvent::Expired).await
                    }
                    _ => self.finish(ScanEvent::Failed(refused.error)).await,
                },
            },
            DesktopState::Open(mut session) => match session.open_frame(frame) {
                Ok(DesktopEvent::Outcome { id, outcome }) => {
                    self.deadline = None;
                    let event = match outcome {
                        OperationOutcome::Confirmed { response, session } => ScanEvent::Confirmed {
                            id,
                            response,
                            session,
                        },
                        OperationOutcome::Refused { reason } => ScanEvent::Rejected { id, reason },
                    };
                    let _ = self.events.send(event).await;
                    if let Some(g) = session.grant() {
                        self.idle = Some(
                            Instant::now() + Duration::from_secs(u64::from(g.idle_timeout_secs)),
                        );
                    }
                    if session.can_request() || session.grant().is_some() {
                        self.state = DesktopState::Open(session);
                    } else {
                        self.state = DesktopState::Done;
                    }
                }
                Ok(DesktopEvent::Ended { reason }) => {
                    self.finish(ScanEvent::SessionEnded {
                        reason,
                        by_phone: true,
                    })
                    .await
                }
                Err(e) => self.finish(ScanEvent::Failed(e)).await,
            },
            DesktopState::Done => {}
        }
    }
}

#[derive(Clone, Copy)]
enum Timer {
    Expiry,
    Response,
    Idle,
    None,
}

fn instant_at(unix: u64) -> Instant {
    let now = crate::unix_now();
    Instant::now() + Duration::from_secs(unix.saturating_sub(now))
}

fn relay_error(code: &str, message: &str) -> ScanError {
    match code {
        wire::RELAY_UNKNOWN => ScanError::UnknownSession,
        wire::RELAY_TAKEN => ScanError::AlreadyScanned,
        wire::RELAY_NOT_ADMITTED => ScanError::NotAdmitted,
        wire::RELAY_EXPIRED => ScanError::Expired,
        wire::RELAY_SHUTDOWN => ScanError::RelayLost {
            detail: "中继服务已停止".into(),
        },
        _ => ScanError::Relay {
            code: code.into(),
            detail: message.into(),
        },
    }
}

/// Read buffer of the clients' sockets. Scan frames are mostly < 2 KiB and the buffer grows
/// for a larger frame; tungstenite zero-fills the whole free buffer before every socket read
/// (also the reads that find nothing), so its 128 KiB default cost ~10 µs per read.
pub const READ_BUFFER_BYTES: usize = 4096;

/// WebSocket settings of the desktop and phone clients (frame limit, small read buffer).
pub fn ws_config() -> WebSocketConfig {
    let mut c = WebSocketConfig::default();
    c.max_message_size = Some(MAX_FRAME_BYTES);
    c.max_frame_size = Some(MAX_FRAME_BYTES);
    c.read_buffer_size = READ_BUFFER_BYTES;
    c
}

/// The extra CA file set by [`set_relay_ca`] (`None`: use [`RELAY_CA_ENV`]).
static RELAY_CA: Mutex<Option<PathBuf>> = Mutex::new(None);
/// The TLS client settings last built, with the extra CA they were built for.
static RELAY_TLS: Mutex<Option<(Option<PathBuf>, Arc<rustls::ClientConfig>)>> = Mutex::new(None);

/// Trusts the CA certificate(s) in `path` (PEM) for `https://` relays, on top of the system
/// roots, for every later connection of this process (overrides [`RELAY_CA_ENV`]). Checks the
/// file now: `Err(RelayTls)` if it is unreadable or holds no certificate.
pub fn set_relay_ca(path: &Path) -> Result<(), ScanError> {
    let config = tls_config(Some(path))?;
    *RELAY_CA.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.to_path_buf());
    *RELAY_TLS.lock().unwrap_or_else(|p| p.into_inner()) = Some((Some(path.into()), config));
    Ok(())
}

/// The TLS settings for `https://` relays: system roots plus the extra CA of
/// [`set_relay_ca`] or, failing that, of [`RELAY_CA_ENV`].
fn relay_tls() -> Result<Arc<rustls::ClientConfig>, ScanError> {
    let extra = RELAY_CA
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .or_else(|| {
            std::env::var_os(RELAY_CA_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
    let mut cache = RELAY_TLS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((for_ca, config)) = cache.as_ref() {
        if *for_ca == extra {
            return Ok(config.clone());
        }
    }
    let config = tls_config(extra.as_deref())?;
    *cache = Some((extra, config.clone()));
    Ok(config)
}

fn tls_config(extra_ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ScanError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let tls_err = |detail: String| ScanError::RelayTls { detail };
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system roots are not fatal: the extra CA may be all that is needed.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| tls_err(format!("CA 文件 {} 无法读取：{e}", path.display())))?;
        if certs.is_empty() {
            return Err(tls_err(format!("CA 文件 {} 中没有证书", path.display())));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| tls_err(format!("CA 文件 {} 中的证书无效：{e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn connect(relay: &str, path: &str, join: Option<&JoinToken>) -> Result<Ws, ScanError> {
    let (base, tls) = if let Some(rest) = relay.strip_prefix("http://") {
        (format!("ws://{rest}"), false)
    } else if let Some(rest) = relay.strip_prefix("https://") {
        (format!("wss://{rest}"), true)
    } else {
        return Err(ScanError::BadPayload {
            detail: "中继地址必须以 http:// 或 https:// 开头".into(),
        });
    };
    let unreachable = |detail: String| ScanError::RelayUnreachable {
        relay: relay.into(),
        detail,
    };
    let mut request =
        format!("{base}{path}")
            .into_client_request()
            .map_err(|e| ScanError::BadPayload {
                detail: format!("中继地址无效：{e}"),
            })?;
    if let Some(token) = join {
        let value = HeaderValue::from_str(&token.to_base64())
            .map_err(|e| ScanError::protocol(e.to_string()))?;
        request.headers_mut().insert(wire::JOIN_TOKEN_HEADER, value);
    }
    let connector = if tls {
        Connector::Rustls(relay_tls()?)
    } else {
        Connector::Plain
    };
    let attempt = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(ws_config()),
        true,
        Some(connector),
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Err(_) => Err(unreachable("连接超时".into())),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => Err(match resp.status().as_u16() {
            403 => ScanError::NotAdmitted,
            404 => ScanError::UnknownSession,
            409 => ScanError::AlreadyScanned,
            410 => ScanError::Expired,
            s => ScanError::Relay {
                code: format!("http.{s}"),
                detail: "中继拒绝了连接".into(),
            },
        }),
        Ok(Err(tungstenite::Error::Tls(e))) => Err(ScanError::RelayTls {
            detail: e.to_string(),
        }),
        // tokio-rustls reports a failed handshake (unknown CA, name mismatch) as InvalidData.
        Ok(Err(tungstenite::Error::Io(e)))
            if tls && e.kind() == std::io::ErrorKind::InvalidData =>
        {
            Err(ScanError::RelayTls {
                detail: e.to_string(),
            })
        }
        Ok(Err(e)) => Err(unreachable(e.to_string())),
    }
}

/// Phone-side options.
#[derive(Debug, Clone, Copy)]
pub struct PhoneOptions {
    /// How long to wait for the desktop's first request after the hello.
    pub first_request_timeout: Duration,
}

impl Default for PhoneOptions {
    fn default() -> Self {
        PhoneOptions {
            first_request_timeout: Duration::from_secs(60),
        }
    }
}

/// The phone's connection to one scan session.
pub struct PhoneLink {
    ws: Ws,
    session: PhoneSession,
    options: PhoneOptions,
    idle_deadline: Instant,
}

impl std::fmt::Debug for PhoneLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneLink")
            .field("session", &self.session)
            .finish()
    }
}

/// Joins the scan described by `payload` (the phone scanned it): checks expiry, connects to
/// the relay presenting the join token, sends the authenticated hello.
pub async fn join(
    payload: &QrPayload,
    hello: &PhoneHello,
    options: PhoneOptions,
) -> Result<PhoneLink, ScanError> {
    payload.check_not_expired(crate::unix_now())?;
    let token = payload.join_token()?;
    let mut ws = connect(
        &payload.relay,
        &wire::phone_path(&payload.session),
        Some(&token),
    )
    .await?;
    let (session, frame) = PhoneSession::join(payload, hello, crate::unix_now())?;
    ws.send(Message::binary(frame))
        .await
        .map_err(|e| ScanError::RelayLost {
            detail: e.to_string(),
        })?;
    let idle_deadline = Instant::now() + options.first_request_timeout;
    Ok(PhoneLink {
        ws,
        session,
        options,
        idle_deadline,
    })
}

impl PhoneLink {
    /// What the session is bound to (sign `auth` transcripts with it).
    pub fn binding(&self) -> &SessionBinding {
        self.session.binding()
    }

    /// The session-mode grant, once given.
    pub fn grant(&self) -> Option<SessionGrant> {
        self.session.grant()
    }

    /// The next request; `Ok(None)` when the desktop ended the session. In session mode the
    /// idle time-out ends the session (the desktop is told) with `Err(IdleTimeout)`; before
    /// the first request, `Err(PhoneTimeout)` after `first_request_timeout`.
    pub async fn next_request(&mut self) -> Result<Option<IncomingRequest>, ScanError> {
        loop {
            let msg = tokio::select! {
                m = self.ws.next() => m,
                _ = sleep_until(self.idle_deadline) => {
                    if self.session.grant().is_some() {
                        let _ = self.end(SessionEndReason::IdleTimeout).await;
                        return Err(ScanError::IdleTimeout);
                    }
                    let _ = self.ws.close(None).await;
                    return Err(ScanError::PhoneTimeout);
                }
            };
            match msg {
                None | Some(Ok(Message::Close(_))) => {
                    return Err(ScanError::RelayLost {
                        detail: "中继关闭了连接".into(),
                    })
                }
                Some(Err(e)) => {
                    return Err(ScanError::RelayLost {
                        detail: e.to_string(),
                    })
                }
                Some(Ok(Message::Text(t))) => {
                    match serde_json::from_str::<RelayEvent>(t.as_str()) {
                        Ok(RelayEvent::PeerLeft) => {
                            return Err(ScanError::PeerLeft {
                                who: "桌面端".into(),
                            })
                        }
                        Ok(RelayEvent::Error { code, message }) => {
                            return Err(relay_error(&code, &message))
                        }
                        Ok(RelayEvent::Expired) => return Err(ScanError::Expired),
                        Ok(_) => continue,
                        Err(_) => return Err(ScanError::malformed("中继事件无法解析")),
                    }
                }
                Some(Ok(Message::Binary(frame))) => match self.session.open_frame(&frame)? {
                    PhoneEvent::Request(r) => return Ok(Some(r)),
                    PhoneEvent::Ended { .. } => {
                        let _ = self.ws.close(None).await;
                        return Ok(None);
                    }
                },
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Answers `request` (consumed). After a single-request scan the link is done.
    pub async fn respond(
        &mut self,
        request: IncomingRequest,
        outcome: OperationOutcome,
    ) -> Result<(), ScanError> {
        let frame = self.session.seal_response(request, outcome)?;
        self.ws
            .send(Message::binary(frame))
            .await
            .map_err(|e| ScanError::RelayLost {
                detail: e.to_string(),
            })?;
        if let Some(g) = self.session.grant() {
            self.idle_deadline =
                Instant::now() + Duration::from_secs(u64::from(g.idle_timeout_secs));
        } else {
            self.idle_deadline = Instant::now() + self.options.first_request_timeout;
        }
        Ok(())
    }

    /// Whether more requests may come (session mode open).
    pub fn is_open(&self) -> bool {
        self.session.is_open()
    }

    /// Ends the session ("结束会话" on the phone).
    pub async fn end(&mut self, reason: SessionEndReason) -> Result<(), ScanError> {
        let frame = self.session.seal_end(reason)?;
        let sent = self.ws.send(Message::binary(frame)).await;
        let _ = self.ws.close(None).await;
        sent.map_err(|e| ScanError::RelayLost {
            detail: e.to_string(),
        })
    }

    /// Closes the connection without a word (a phone that goes away).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
