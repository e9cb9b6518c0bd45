//! The two ends of a scan as state machines, without any I/O ("sans-IO").
//!
//! Desktop: [`DesktopOffer::new`] → show [`DesktopOffer::payload`] as a QR → on the phone's first
//! frame [`DesktopOffer::accept_hello`] consumes the offer and yields a [`DesktopSession`] (or,
//! for a frame that does not authenticate, hands the offer back to wait on) →
//! [`DesktopSession::seal_request`] / [`DesktopSession::open_frame`] / [`DesktopSession::seal_end`].
//!
//! Phone: [`PhoneSession::join`] (checks expiry, makes the hello frame) →
//! [`PhoneSession::open_frame`] yields a [`PhoneEvent::Request`] carrying an
//! [`IncomingRequest`] token → show it, ask for the PIN (or not, in session mode with
//! auto-confirm) → [`PhoneSession::seal_response`] consumes the token, so a request is answered
//! exactly once and no answer exists without a request.
//!
//! Guarantees: an offer accepts exactly one phone; each request's operation equals the QR's,
//! with one exception: a `generate` scan whose Generate was confirmed may carry exactly one
//! `decrypt` request after it (the trial decryption, 试解密); a second request is otherwise
//! only possible after the phone granted session mode, and then at most the grant's
//! `max_requests` in all; after an end, a failure or a tampered frame the session refuses
//! everything; every answer (and the hello) has the shape its request allows
//! ([`crate::answer`]) or the session fails with `BadAnswer`. Does not do time-outs or
//! networking: [`crate::client`] drives these over the relay.

use crate::answer::AnswerShape;
use crate::channel::{ChannelCrypto, End, SessionBinding};
use crate::error::ScanError;
use crate::message::{
    DesktopMessage, OperationOutcome, OperationRequest, PhoneHello, PhoneMessage, SessionEndReason,
    SessionGrant, SessionModeRequest,
};
use crate::payload::{EphemeralKey, OperationKind, QrPayload, QrSecret, SessionId};
use p256::ecdh::EphemeralSecret;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use std::time::Duration;

/// Shortest QR lifetime accepted by [`DesktopOffer::new`] (tests use short ones).
pub const MIN_QR_TTL: Duration = Duration::from_secs(1);
/// Default QR lifetime: 3 minutes.
pub const DEFAULT_QR_TTL: Duration = Duration::from_secs(180);
/// Longest QR lifetime: 5 minutes.
pub const MAX_QR_TTL: Duration = Duration::from_secs(300);
/// Longest session-mode idle timeout either end accepts: 30 minutes.
pub const MAX_IDLE_TIMEOUT_SECS: u32 = 1800;

fn public_key_of(secret: &EphemeralSecret) -> Result<EphemeralKey, ScanError> {
    let point = secret.public_key().to_encoded_point(true);
    EphemeralKey::from_bytes(point.as_bytes())
}

fn new_ephemeral() -> EphemeralSecret {
    EphemeralSecret::random(&mut rand_core::OsRng)
}

/// A desktop waiting for a phone to scan its QR.
pub struct DesktopOffer {
    secret: EphemeralSecret,
    payload: QrPayload,
}

impl std::fmt::Debug for DesktopOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopOffer")
            .field("payload", &self.payload)
            .finish()
    }
}

impl DesktopOffer {
    /// A fresh offer: new ephemeral key, secret and session id; expires `ttl` after `now`
    /// (unix seconds). `ttl` must be within [`MIN_QR_TTL`]..=[`MAX_QR_TTL`].
    pub fn new(relay: &str, op: OperationKind, ttl: Duration, now: u64) -> Result<Self, ScanError> {
        if ttl < MIN_QR_TTL || ttl > MAX_QR_TTL {
            return Err(ScanError::protocol(format!(
                "二维码有效期 {} 秒不在 1–300 秒之间",
                ttl.as_secs()
            )));
        }
        let secret = new_ephemeral();
        let payload = QrPayload {
            relay: relay.to_string(),
            session: SessionId::random()?,
            op,
            expires_at: now.saturating_add(ttl.as_secs()),
            desktop_key: public_key_of(&secret)?,
            secret: QrSecret::random()?,
        };
        let len = payload.to_url().len();
        if len > crate::payload::MAX_PAYLOAD_LEN {
            return Err(ScanError::QrTooLarge { bytes: len });
        }
        Ok(DesktopOffer { secret, payload })
    }

    /// What to show in the QR.
    pub fn payload(&self) -> &QrPayload {
        &self.payload
    }

    /// Accepts the phone's first frame. Consumes the offer: one QR, one phone.
    /// `Expired` if `now` is past the QR's expiry (the offer is gone). Any other refusal (not a
    /// hello, a bad key, a hello that does not authenticate under this QR's secret) hands the
    /// offer back in [`RefusedHello::offer`]: such a frame is not from the phone that scanned
    /// the QR, so the caller may keep waiting for that phone — except `BadAnswer`, an
    /// authentic hello whose device or app name the protocol does not allow
    /// ([`crate::answer::check_hello`]): the offer is gone.
    pub fn accept_hello(
        self,
        frame: &[u8],
        now: u64,
    ) -> Result<(DesktopSession, PhoneHello), RefusedHello> {
        if let Err(error) = self.payload.check_not_expired(now) {
            return Err(RefusedHello { error, offer: None });
        }
        match self.open_hello(frame) {
            Ok(accepted) => Ok(accepted),
            // An authentic hello the protocol does not allow: the scanning phone itself sent
            // it, so there is no other phone to wait for.
            Err(error @ ScanError::BadAnswer { .. }) => Err(RefusedHello { error, offer: None }),
            Err(error) => Err(RefusedHello {
                error,
                offer: Some(Box::new(self)),
            }),
        }
    }

    fn open_hello(&self, frame: &[u8]) -> Result<(DesktopSession, PhoneHello), ScanError> {
        if frame.first() != Some(&crate::channel::FRAME_HELLO) {
            return Err(ScanError::protocol("手机的第一条消息不是 hello"));
        }
        let phone_key = EphemeralKey::from_bytes(
            frame
                .get(1..34)
                .ok_or_else(|| ScanError::malformed("hello 帧过短"))?,
        )
        .map_err(|_| ScanError::malformed("hello 帧中的公钥无效"))?;
        let shared = self.secret.diffie_hellman(&phone_key.public_key()?);
        let p = &self.payload;
        let binding = SessionBinding::new(
            p.session,
            p.op,
            p.expires_at,
            &p.relay,
            p.desktop_key,
            phone_key,
        );
        let mut crypto =
            ChannelCrypto::derive(shared.raw_secret_bytes(), &p.secret, &binding, End::Desktop)?;
        let hello = match crypto.open_hello::<PhoneMessage>(frame)? {
            PhoneMessage::Hello(h) => h,
            _ => return Err(ScanError::protocol("手机的第一条消息不是 hello")),
        };
        crate::answer::check_hello(&hello).map_err(|detail| ScanError::BadAnswer { detail })?;
        let session = DesktopSession {
            binding,
            crypto,
            next_id: 1,
            pending: None,
            mode: Mode::Single,
            ended: false,
        };
        Ok((session, hello))
    }
}

/// Why [`DesktopOffer::accept_hello`] refused a frame, and the offer back when it is still
/// valid (the frame was not the scanning phone's hello; the QR has not expired).
#[derive(Debug)]
pub struct RefusedHello {
    /// What was wrong with the frame (`Expired`, `Tampered`, `Malformed`, `Protocol`).
    pub error: ScanError,
    /// The untouched offer, unless it expired (boxed: keeps the `Result` small).
    pub offer: Option<Box<DesktopOffer>>,
}

impl From<RefusedHello> for ScanError {
    fn from(r: RefusedHello) -> Self {
        r.error
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// One request, no session mode (yet).
    Single,
    /// Session mode asked for on the pending request.
    Asked,
    /// Session mode granted.
    Open(SessionGrant),
    /// Single request answered without session mode: nothing more may be sent.
    Spent,
    /// A `generate` scan's Generate was confirmed: one trial `decrypt` request may follow.
    Trial,
}

/// Whether a request of `kind` may follow on a channel of `op` after a confirmed Generate.
fn is_trial_follow_up(op: OperationKind, kind: OperationKind) -> bool {
    op == OperationKind::Generate && kind == OperationKind::Decrypt
}

/// A request the desktop sent and awaits the answer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingRequest {
    /// Request id within the session.
    pub id: u32,
}

/// What the desktop learned from a phone frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesktopEvent {
    /// The answer to a pending request.
    Outcome { id: u32, outcome: OperationOutcome },
    /// The phone ended the session.
    Ended { reason: SessionEndReason },
}

/// The desktop's end of an established channel.
pub struct DesktopSession {
    binding: SessionBinding,
    crypto: ChannelCrypto,
    next_id: u32,
    /// The request awaiting its answer, and the shape that answer must have.
    pending: Option<(u32, OperationKind, AnswerShape)>,
    mode: Mode,
    ended: bool,
}

impl std::fmt::Debug for DesktopSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopSession")
            .field("session", &self.binding.session)
            .field("op", &self.binding.op)
            .field("pending", &self.pending)
            .finish()
    }
}

impl DesktopSession {
    /// What this session is bound to.
    pub fn binding(&self) -> &SessionBinding {
        &self.binding
    }

    /// The session-mode grant, once the phone opened one.
    pub fn grant(&self) -> Option<SessionGrant> {
        match self.mode {
            Mode::Open(g) => Some(g),
            _ => None,
        }
    }

    /// Whether another request may be sent now.
    pub fn can_request(&self) -> bool {
        !self.ended
            && self.pending.is_none()
            && matches!(self.mode, Mode::Single | Mode::Open(_) | Mode::Trial)
            && (self.next_id == 1 || matches!(self.mode, Mode::Open(_) | Mode::Trial))
    }

    /// Seals a request. The first request may ask for session mode; later ones are only
    /// allowed once the phone granted it, one at a time, and only of the QR's operation.
    pub fn seal_request(
        &mut self,
        request: OperationRequest,
        session: Option<SessionModeRequest>,
    ) -> Result<(PendingRequest, Vec<u8>), ScanError> {
        if self.ended {
            return Err(ScanError::SessionEnded);
        }
        if self.pending.is_some() {
            return Err(ScanError::protocol("上一个请求尚未得到手机回应"));
        }
        if !self.can_request() {
            return Err(ScanError::SessionEnded);
        }
        let kind = request.kind();
        let allowed = if self.mode == Mode::Trial {
            is_trial_follow_up(self.binding.op, kind)
        } else {
            kind == self.binding.op
        };
        if !allowed {
            return Err(ScanError::OperationMismatch {
                expected: self.binding.op.as_str().into(),
                got: kind.as_str().into(),
            });
        }
        if session.is_some() && self.next_id != 1 {
            return Err(ScanError::protocol("只有第一个请求可以建立会话"));
        }
        if let Some(s) = session {
            if s.idle_timeout_secs == 0 || s.idle_timeout_secs > MAX_IDLE_TIMEOUT_SECS {
                return Err(ScanError::protocol("会话空闲超时须在 1–1800 秒之间"));
            }
        }
        let id = self.next_id;
        let shape = AnswerShape::of(&request);
        let frame = self.crypto.seal(&DesktopMessage::Request {
            id,
            request,
            session,
        })?;
        self.next_id += 1;
        self.pending = Some((id, kind, shape));
        if session.is_some() {
            self.mode = Mode::Asked;
        }
        Ok((PendingRequest { id }, frame))
    }

    /// Opens a frame from the phone.
    pub fn open_frame(&mut self, frame: &[u8]) -> Result<DesktopEvent, ScanError> {
        if self.ended {
            return Err(ScanError::SessionEnded);
        }
        match self.crypto.open::<PhoneMessage>(frame)? {
            PhoneMessage::Hello(_) => Err(self.fail("会话中收到第二个 hello")),
            PhoneMessage::Response { id, outcome } => {
                let (kind, shape) = match self.pending {
                    Some((pending, kind, shape)) if pending == id => (kind, shape),
                    _ => return Err(self.fail(format!("收到未请求的回应 {id}"))),
                };
                self.pending = None;
                if let OperationOutcome::Confirmed { response, .. } = &outcome {
                    if response.kind() == kind {
                        if let Err(detail) = shape.check(response) {
                            self.ended = true;
                            return Err(ScanError::BadAnswer { detail });
                        }
                    }
                }
                match (&outcome, self.mode) {
                    (OperationOutcome::Confirmed { response, .. }, Mode::Trial) => {
                        if response.kind() != kind {
                            return Err(self.fail("回应的操作与请求不符"));
                        }
                        self.mode = Mode::Spent;
                    }
                    (OperationOutcome::Confirmed { response, session }, mode) => {
                        if response.kind() != kind {
                            return Err(self.fail("回应的操作与请求不符"));
                        }
                        self.mode = match (mode, session) {
                            (Mode::Asked, Some(g))
                                if g.idle_timeout_secs > 0
                                    && g.idle_timeout_secs <= MAX_IDLE_TIMEOUT_SECS =>
                            {
                                Mode::Open(*g)
                            }
                            (Mode::Single, None) if kind == OperationKind::Generate => Mode::Trial,
                            (Mode::Asked | Mode::Single, None) => Mode::Spent,
                            (Mode::Open(g), None) => Mode::Open(g),
                            _ => return Err(self.fail("手机的会话授权不符合请求")),
                        };
                    }
                    (OperationOutcome::Refused { .. }, Mode::Open(g)) => self.mode = Mode::Open(g),
                    (OperationOutcome::Refused { .. }, _) => self.mode = Mode::Spent,
                }
                Ok(DesktopEvent::Outcome { id, outcome })
            }
            PhoneMessage::EndSession { reason } => {
                self.ended = true;
                Ok(DesktopEvent::Ended { reason })
            }
        }
    }

    /// Seals "结束会话" and ends this side.
    pub fn seal_end(&mut self, reason: SessionEndReason) -> Result<Vec<u8>, ScanError> {
        if self.ended {
            return Err(ScanError::SessionEnded);
        }
        let frame = self.crypto.seal(&DesktopMessage::EndSession { reason })?;
        self.ended = true;
        Ok(frame)
    }

    fn fail(&mut self, detail: impl Into<String>) -> ScanError {
        self.ended = true;
        ScanError::protocol(detail)
    }
}

/// A request the phone received; answer it with [`PhoneSession::seal_response`].
#[derive(Debug)]
pub struct IncomingRequest {
    /// Request id within the session.
    pub id: u32,
    /// What is asked.
    pub request: OperationRequest,
    /// The desktop asks to open session mode with this request.
    pub session_mode: Option<SessionModeRequest>,
    /// Whether the phone must ask the user: always for the first request; in session mode
    /// "扫码签章确认" unless the user chose auto-confirm.
    pub needs_confirmation: bool,
}

/// What the phone learned from a desktop frame.
#[allow(clippy::large_enum_variant)] // returned once and matched at once
#[derive(Debug)]
pub enum PhoneEvent {
    /// A request to show and answer.
    Request(IncomingRequest),
    /// The desktop ended the session.
    Ended { reason: SessionEndReason },
}

/// The phone's end of the channel.
pub struct PhoneSession {
    binding: SessionBinding,
    crypto: ChannelCrypto,
    expected_id: u32,
    pending: Option<(u32, OperationKind)>,
    grant: Option<SessionGrant>,
    spent: bool,
    /// A Generate was confirmed: one trial `decrypt` may follow.
    trial_open: bool,
    ended: bool,
}

impl std::fmt::Debug for PhoneSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneSession")
            .field("session", &self.binding.session)
            .field("op", &self.binding.op)
            .field("grant", &self.grant)
            .finish()
    }
}

impl PhoneSession {
    /// Joins a scanned QR at time `now` (unix seconds): checks expiry, makes a fresh ephemeral
    /// key, derives the channel and returns the hello frame to send first.
    pub fn join(
        payload: &QrPayload,
        hello: &PhoneHello,
        now: u64,
    ) -> Result<(PhoneSession, Vec<u8>), ScanError> {
        payload.check_not_expired(now)?;
        let secret = new_ephemeral();
        let phone_key = public_key_of(&secret)?;
        let shared = secret.diffie_hellman(&payload.desktop_key.public_key()?);
        drop(secret);
        let binding = SessionBinding::new(
            payload.session,
            payload.op,
            payload.expires_at,
            &payload.relay,
            payload.desktop_key,
            phone_key,
        );
        let mut crypto = ChannelCrypto::derive(
            shared.raw_secret_bytes(),
            &payload.secret,
            &binding,
            End::Phone,
        )?;
        let frame = crypto.seal_hello(&phone_key, &PhoneMessage::Hello(hello.clone()))?;
        let session = PhoneSession {
            binding,
            crypto,
            expected_id: 1,
            pending: None,
            grant: None,
            spent: false,
            trial_open: false,
            ended: false,
        };
        Ok((session, frame))
    }

    /// What this session is bound to (show platform/op; bind signatures with it).
    pub fn binding(&self) -> &SessionBinding {
        &self.binding
    }

    /// The session-mode grant, once given.
    pub fn grant(&self) -> Option<SessionGrant> {
        self.grant
    }

    /// Opens a frame from the desktop.
    pub fn open_frame(&mut self, frame: &[u8]) -> Result<PhoneEvent, ScanError> {
        if self.ended {
            return Err(ScanError::SessionEnded);
        }
        match self.crypto.open::<DesktopMessage>(frame)? {
            DesktopMessage::Request {
                id,
                request,
                session,
            } => {
                if self.pending.is_some() {
                    return Err(self.fail("上一个请求尚未回应"));
                }
                if id != self.expected_id {
                    return Err(self.fail(format!("请求编号应为 {}，收到 {id}", self.expected_id)));
                }
                let trial = self.trial_open;
                if self.spent && self.grant.is_none() && !trial {
                    return Err(self.fail("未建立会话，不能发送第二个请求"));
                }
                if let Some(g) = self.grant {
                    if id > g.max_requests {
                        return Err(self.fail(format!(
                            "本次会话最多 {} 个请求，已用完，请重新扫码",
                            g.max_requests
                        )));
                    }
                }
                if session.is_some() && id != 1 {
                    return Err(self.fail("只有第一个请求可以建立会话"));
                }
                let kind = request.kind();
                let allowed = if trial {
                    is_trial_follow_up(self.binding.op, kind)
                } else {
                    kind == self.binding.op
                };
                if !allowed {
                    let e = ScanError::OperationMismatch {
                        expected: self.binding.op.as_str().into(),
                        got: kind.as_str().into(),
                    };
                    self.ended = true;
                    return Err(e);
                }
                self.trial_open = false;
                self.expected_id += 1;
                self.pending = Some((id, kind));
                let needs_confirmation = match self.grant {
                    Some(g) => !g.auto_confirm,
                    None => true,
                };
                Ok(PhoneEvent::Request(IncomingRequest {
                    id,
                    request,
                    session_mode: session,
                    needs_confirmation,
                }))
            }
            DesktopMessage::EndSession { reason } => {
                self.ended = true;
                Ok(PhoneEvent::Ended { reason })
            }
        }
    }

    /// Seals the answer to `request` (consumed: answered exactly once). A session grant is only
    /// allowed when the request asked for session mode, with an idle timeout no longer than
    /// asked.
    pub fn seal_response(
        &mut self,
        request: IncomingRequest,
        outcome: OperationOutcome,
    ) -> Result<Vec<u8>, ScanError> {
        if self.ended {
            return Err(ScanError::SessionEnded);
        }
        let kind = match self.pending {
            Some((id, kind)) if id == request.id => kind,
            _ => return Err(ScanError::protocol("该请求不属于本会话或已回应")),
        };
        if let OperationOutcome::Confirmed { response, session } = &outcome {
            if response.kind() != kind {
                return Err(ScanError::OperationMismatch {
                    expected: kind.as_str().into(),
                    got: response.kind().as_str().into(),
                });
            }
            match (session, request.session_mode) {
                (Some(g), Some(asked))
                    if g.idle_timeout_secs > 0
                        && g.idle_timeout_secs <= asked.idle_timeout_secs
                        && g.max_requests >= 1 => {}
                (Some(_), _) => return Err(ScanError::protocol("会话授权与请求不符")),
                (None, _) => {}
            }
        }
        let frame = self.crypto.seal(&PhoneMessage::Response {
            id: request.id,
            outcome: outcome.clone(),
        })?;
        self.pending = None;
        let first = !self.spent;
        self.spent = true;
        match outcome {
            OperationOutcome::Confirmed {
                session: Some(g), ..
            } => self.grant = Some(g),
            OperationOutcome::Confirmed { session: None, .. }
                if first && kind == OperationKind::Generate && self.grant.is_none() =>
            {
                self.trial_open = true
            }
            _ => {}
        }
        Ok(frame)
    }

    /// Whether the desktop may still send requests (session mode open, not ended).
    pub fn is_open(&self) -> bool {
        !self.ended && (!self.spent || self.grant.is_some() || self.trial_open)
    }

    /// Seals "结束会话" and ends this side.
    pub fn seal_end(&mut self, reason: SessionEndReason) -> Result<Vec<u8>, ScanError> {
        if self.ended {
            return Err(ScanError::SessionEnded);
        }
        let frame = self.crypto.seal(&PhoneMessage::EndSession { reason })?;
        self.ended = true;
        Ok(frame)
    }

    fn fail(&mut self, detail: impl Into<String>) -> ScanError {
        self.ended = true;
        ScanError::protocol(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{MAX_CERTIFICATE_BYTES, MAX_NAME_CHARS};
    use crate::message::*;

    const NOW: u64 = 1_800_000_000;

    fn pair(op: OperationKind) -> (DesktopSession, PhoneSession) {
        let offer = DesktopOffer::new("http://127.0.0.1:1", op, DEFAULT_QR_TTL, NOW)
            .unwrap_or_else(|e| panic!("{e}"));
        let hello = PhoneHello {
            device: "d".into(),
            app: "a".into(),
        };
        let (phone, frame) =
            PhoneSession::join(offer.payload(), &hello, NOW).unwrap_or_else(|e| panic!("{e}"));
        let (desktop, _) = offer
            .accept_hello(&frame, NOW)
            .unwrap_or_else(|e| panic!("{}", e.error));
        (desktop, phone)
    }

    fn sign_request() -> OperationRequest {
        OperationRequest::Sign(SignRequest {
            platform: PlatformRef {
                id: "p".into(),
                name: "平台".into(),
            },
            project: None,
            items: vec![],
            lookup: vec![],
        })
    }

    #[test]
    fn a_desktop_that_skips_its_own_check_gets_its_foreign_operation_refused_by_the_phone() {
        let (mut desktop, mut phone) = pair(OperationKind::Auth);
        // Sealed below `seal_request`, as a modified desktop would.
        let frame = desktop
            .crypto
            .seal(&DesktopMessage::Request {
                id: 1,
                request: sign_request(),
                session: None,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            phone.open_frame(&frame),
            Err(ScanError::OperationMismatch { .. })
        ));
        assert!(!phone.is_open());
    }

    #[test]
    fn a_phone_that_skips_its_own_check_gets_its_foreign_answer_refused_by_the_desktop() {
        let (mut desktop, mut phone) = pair(OperationKind::Sign);
        let (pending, frame) = desktop
            .seal_request(sign_request(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        let Ok(PhoneEvent::Request(_)) = phone.open_frame(&frame) else {
            panic!("no request")
        };
        // An auth answer to a sign request, sealed below `seal_response`.
        let answer = phone
            .crypto
            .seal(&PhoneMessage::Response {
                id: pending.id,
                outcome: OperationOutcome::Confirmed {
                    response: OperationResponse::Auth(AuthResponse {
                        certificate_chain: vec![],
                        signature: Bytes(vec![1]),
                        signed_at: NOW,
                    }),
                    session: None,
                },
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            desktop.open_frame(&answer),
            Err(ScanError::Protocol { .. })
        ));
        assert!(!desktop.can_request());
    }

    fn decrypt_request(recipients: usize) -> OperationRequest {
        OperationRequest::Decrypt(DecryptRequest {
            platform: PlatformRef {
                id: "p".into(),
                name: "平台".into(),
            },
            project: ProjectRef {
                code: "P1".into(),
                name: "工程".into(),
            },
            bid_file: "b.bsbid".into(),
            envelope_digest: Digest32([1; 32]),
            tender: SignedTender {
                manifest: Bytes(b"{}".to_vec()),
                signature: Bytes(vec![0x30, 0]),
            },
            recipients: (0..recipients)
                .map(|_| DecryptRecipient {
                    recipient: Bytes(vec![0x30, 0]),
                    originator_key: Bytes(vec![4; 65]),
                    ukm: Bytes(vec![0; UKM_LEN]),
                })
                .collect(),
        })
    }

    /// The desktop's verdict on a decrypt answer written as raw JSON by a hostile phone (an
    /// authentic frame: the phone holds the channel keys).
    fn desktop_reads(answer: serde_json::Value) -> Result<DesktopEvent, ScanError> {
        let (mut desktop, mut phone) = pair(OperationKind::Decrypt);
        let (_, frame) = desktop
            .seal_request(decrypt_request(2), None)
            .unwrap_or_else(|e| panic!("{e}"));
        let Ok(PhoneEvent::Request(_)) = phone.open_frame(&frame) else {
            panic!("no request")
        };
        let frame = phone
            .crypto
            .seal(&serde_json::json!({
                "type": "response",
                "id": 1,
                "outcome": {"outcome": "confirmed", "session": null, "response": answer},
            }))
            .unwrap_or_else(|e| panic!("{e}"));
        let event = desktop.open_frame(&frame);
        if matches!(event, Err(ScanError::BadAnswer { .. })) {
            assert!(
                matches!(
                    desktop.seal_end(SessionEndReason::Completed),
                    Err(ScanError::SessionEnded)
                ),
                "a refused answer ends the session"
            );
        }
        event
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn a_decrypt_answer_is_used_only_in_the_documented_shape() {
        let cert = {
            let mut c = vec![0x30, 0x82, 0x01, 0x00];
            c.resize(260, 7);
            c
        };
        let answer = |certificate: &[u8], recipient: serde_json::Value, kek: &[u8]| {
            serde_json::json!({
                "op": "decrypt",
                "certificate": b64(certificate),
                "recipient": recipient,
                "key_encryption_key": b64(kek),
            })
        };
        // The documented shape passes.
        let ok = desktop_reads(answer(&cert, 1.into(), &[9; 32]));
        assert!(matches!(ok, Ok(DesktopEvent::Outcome { .. })), "{ok:?}");
        // Sizes, formats and indexes out of bounds: BadAnswer naming the field.
        for (field, hostile) in [
            ("key_encryption_key", answer(&cert, 1.into(), &[9; 33])),
            ("key_encryption_key", answer(&cert, 1.into(), &[])),
            ("recipient", answer(&cert, 2.into(), &[9; 32])),
            ("recipient", answer(&cert, u32::MAX.into(), &[9; 32])),
            (
                "certificate",
                answer(&vec![0x30; MAX_CERTIFICATE_BYTES + 1], 0.into(), &[9; 32]),
            ),
            ("certificate", answer(b"not DER", 0.into(), &[9; 32])),
            ("certificate", answer(&[], 0.into(), &[9; 32])),
        ] {
            match desktop_reads(hostile.clone()) {
                Err(ScanError::BadAnswer { detail }) => {
                    assert!(detail.contains(field), "{field}: {detail}")
                }
                other => panic!("{hostile} must be refused as BadAnswer, got {other:?}"),
            }
        }
        // Wrong types, an unknown field, a missing field, an unknown operation: Malformed.
        let mut extra = answer(&cert, 0.into(), &[9; 32]);
        extra["note"] = "更多数据".into();
        let mut missing = answer(&cert, 0.into(), &[9; 32]);
        missing
            .as_object_mut()
            .map(|m| m.remove("key_encryption_key"));
        for hostile in [
            answer(&cert, "0".into(), &[9; 32]),
            answer(&cert, (-1).into(), &[9; 32]),
            answer(&cert, 4_294_967_296_u64.into(), &[9; 32]),
            serde_json::json!({"op": "decrypt", "certificate": 5, "recipient": 0, "key_encryption_key": b64(&[9; 32])}),
            serde_json::json!({"op": "decrypt", "certificate": "!!not base64!!", "recipient": 0, "key_encryption_key": b64(&[9; 32])}),
            extra,
            missing,
            serde_json::json!({"op": "unwrap_everything"}),
        ] {
            match desktop_reads(hostile.clone()) {
                Err(ScanError::Malformed { .. }) => {}
                other => panic!("{hostile} must be refused as Malformed, got {other:?}"),
            }
        }
    }

    /// The desktop's verdict on a hello naming `device`.
    fn hello_with(device: &str) -> Result<(DesktopSession, PhoneHello), RefusedHello> {
        let offer = DesktopOffer::new(
            "http://127.0.0.1:1",
            OperationKind::Decrypt,
            DEFAULT_QR_TTL,
            NOW,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let hello = PhoneHello {
            device: device.into(),
            app: "BidSeal 手机模拟器 0.1.0".into(),
        };
        let (_, frame) =
            PhoneSession::join(offer.payload(), &hello, NOW).unwrap_or_else(|e| panic!("{e}"));
        offer.accept_hello(&frame, NOW)
    }

    #[test]
    fn a_hello_with_a_hostile_device_name_ends_the_offer() {
        for device in [
            String::new(),
            "张".repeat(MAX_NAME_CHARS + 1),
            "华夏的手机\u{202E}".into(),
            "华夏的手机\n已解密".into(),
        ] {
            match hello_with(&device) {
                Err(RefusedHello {
                    error: ScanError::BadAnswer { detail },
                    offer: None,
                }) => assert!(detail.contains("device"), "{detail}"),
                Err(other) => panic!("{device:?}: {:?}", other.error),
                Ok(_) => panic!("{device:?} accepted"),
            }
        }
        // 64 characters with inner spaces are fine.
        assert!(hello_with(&format!("华夏 {}", "机".repeat(MAX_NAME_CHARS - 3))).is_ok());
    }
}
