//! Transport of the split-key protocols ([`crate::key_split`]) between phone and co-signing
//! service over the co-signing HTTP API.
//!
//! ```text
//! POST /v1/certs/{id}/split-sign         {pin, who, context, digests[hex], nonce}
//!      → 200 {token, seal_share}  |  403 {refusal}
//! POST /v1/certs/{id}/split-sign/round   {token, messages[b64]} → 200 {messages[b64]}
//! POST /v1/certs/{id}/split-sign/finish  {token, messages[b64]} → 200 {messages[b64]}
//! POST /v1/certs/{id}/split-ecdh         {pin, who, context, originator, ukm}
//!      → 200 {seal_share, part}   |  403 {refusal}
//! ```
//!
//! Every call is signed with the phone's device key like every PIN call ([`super::device`]),
//! so a request changed in flight is refused before it is parsed. The first call of each goes
//! through the service's whole decision (device, rate limits, PIN, lockout, certificate state,
//! 授权结束, decrypt rules; logged with the digests / envelope it is for); only then does the
//! service's share take part, and `seal_share` (which opens the phone's sealed share, see
//! `docs/key-split.md`) is released. The protocol's sign id of digest *i* is [`sign_id`] over the
//! certificate, the phone's device key, the operation context (session, operation), the digest
//! and the phone's nonce with *i* — so the service's rounds fit only these signatures, and the
//! service signs only the digests it logged. `round` and `finish` must name a token issued for
//! the same certificate within [`PENDING_TTL_SECS`], in that order, once each (the grant is
//! taken out of the table before a round runs, whatever its outcome). The end of every use is
//! logged with the signatures' hashes or the failure code.
//!
//! `split-ecdh` answers `d₂·P` for the originator key `P` after the decrypt gates (opening time
//! from the platform-signed tender, or the trial rule) and, when a tender is given, only for an
//! envelope whose `ukm` names that tender; the phone adds `d₁·P` last.

use super::state::OperationContext;
use crate::key_split::{KeyShare, ServiceSign};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A started joint signature waits at most this long for its second round.
pub const PENDING_TTL_SECS: i64 = 60;
/// At most this many joint signatures wait for their second round at once (memory bound).
pub const MAX_PENDING: usize = 64;

/// Most digests one grant may sign (bounded by body size: ~80 KB of protocol per digest).
pub const MAX_BATCH: usize = 24;

/// First call of a joint signature (phone → service).
#[derive(Serialize, Deserialize)]
pub struct SplitSignRequest {
    /// The certificate PIN (never logged).
    pub pin: super::server::SecretText,
    /// Holder name for the log.
    pub who: String,
    /// What the phone is about to do.
    pub context: OperationContext,
    /// Hex SHA-256 digests to sign (64 hex digits each, 1..=[`MAX_BATCH`]).
    pub digests: Vec<String>,
    /// Hex 16-byte fresh nonce of the phone (part of every sign id).
    pub nonce: String,
}

/// Answer of the first call.
#[derive(Serialize, Deserialize)]
pub struct SplitSignGrant {
    /// Names the grant for the two protocol rounds (hex, single use each).
    pub token: String,
    /// Hex of the service's seal share (opens the phone's sealed key share).
    pub seal_share: super::server::SecretText,
}

/// A protocol round for every digest of a grant (both directions).
#[derive(Serialize, Deserialize)]
pub struct SplitRound {
    /// The grant (requests only; empty in answers).
    #[serde(default)]
    pub token: String,
    /// Base64 protocol messages, one per digest, in the grant's order.
    pub messages: Vec<String>,
}

/// Joint ECDH request: the service's part for one envelope entry.
#[derive(Serialize, Deserialize)]
pub struct SplitEcdhRequest {
    /// The certificate PIN (never logged).
    pub pin: super::server::SecretText,
    /// Holder name for the log.
    pub who: String,
    /// The decrypt context (tender evidence or trial digest).
    pub context: OperationContext,
    /// Hex SEC1 originator (ephemeral) public key of the envelope entry.
    pub originator: String,
    /// Hex `ukm` of the envelope entry (names the tender and the bid manifest).
    pub ukm: String,
}

/// Joint ECDH answer.
#[derive(Serialize, Deserialize)]
pub struct SplitEcdhPart {
    /// Hex of the service's seal share (opens the phone's sealed key share).
    pub seal_share: super::server::SecretText,
    /// Hex SEC1 `d₂·P`.
    pub part: String,
}

/// The protocol's sign id: SHA-256 over a tag and the length-prefixed binding fields.
pub fn sign_id(
    cert_id: &str,
    device_public_hex: &str,
    context: &OperationContext,
    digest_hex: &str,
    nonce_hex: &str,
    index: usize,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"bidseal/split-sign/v1");
    let operation = context.operation.zh_name();
    for field in [
        cert_id,
        device_public_hex,
        operation,
        context.session_id.as_str(),
        &digest_hex.to_ascii_lowercase(),
        &nonce_hex.to_ascii_lowercase(),
        &index.to_string(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// Parses a hex field of exactly `N` bytes.
pub fn hex_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Base64 (standard) of a protocol message.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a base64 protocol message, bounded by [`crate::key_split::MAX_MESSAGE`].
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    if text.len() > crate::key_split::MAX_MESSAGE * 4 / 3 + 4 {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Where a grant is in the protocol.
pub enum GrantStage {
    /// Waiting for the phone's first round.
    Granted,
    /// Waiting for the phone's second round, with the service's state per digest.
    Answered(Vec<ServiceSign>),
}

/// One authorised batch of joint signatures waiting for its rounds.
pub struct PendingGrant {
    /// The certificate.
    pub cert_id: String,
    /// Holder (for the log line of the end).
    pub who: String,
    /// The context it was authorised for.
    pub context: OperationContext,
    /// The digests authorised, with their sign ids.
    pub digests: Vec<([u8; 32], [u8; 32])>,
    /// The service's share (secret; zeroized on drop).
    pub share: KeyShare,
    /// Protocol progress.
    pub stage: GrantStage,
}

/// What a token table needs of its entries.
pub trait Pending {
    /// The certificate the entry belongs to.
    fn cert_id(&self) -> &str;
    /// How long it may wait for its next call (seconds).
    fn ttl(&self) -> i64 {
        PENDING_TTL_SECS
    }
}

impl Pending for PendingGrant {
    fn cert_id(&self) -> &str {
        &self.cert_id
    }
}

/// Entries waiting for their next call, by random token: at most [`MAX_PENDING`], each for
/// its [`Pending::ttl`] after it was put in, taken out for each call (single use) and put
/// back when it goes on. Waits are measured on the monotonic clock: a wall clock stepped back
/// or forward (NTP, a VM resumed) neither ends nor stretches a wait.
pub struct TokenTable<T> {
    waiting: HashMap<String, (std::time::Instant, T)>,
}

/// Why [`TokenTable::take`] found nothing to continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotWaiting {
    /// No entry under that token for that certificate (used, never issued, another's).
    Unknown,
    /// The entry waited longer than its time to live (it is gone now).
    Expired,
}

impl<T> Default for TokenTable<T> {
    fn default() -> Self {
        Self {
            waiting: HashMap::new(),
        }
    }
}

/// Joint signatures waiting for their rounds.
pub type PendingTable = TokenTable<PendingGrant>;

impl<T: Pending> TokenTable<T> {
    /// Keeps `pending` under a fresh token; `None` when too many are waiting.
    pub fn insert(&mut self, pending: T) -> Option<String> {
        self.waiting.retain(|_, (at, p)| alive(*at, p));
        if self.waiting.len() >= MAX_PENDING {
            return None;
        }
        let mut raw = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
        let token = hex::encode(raw);
        self.waiting
            .insert(token.clone(), (std::time::Instant::now(), pending));
        Some(token)
    }

    /// Puts an entry back under its token; its next call has a fresh time to live.
    pub fn put_back(&mut self, token: String, pending: T) {
        self.waiting
            .insert(token, (std::time::Instant::now(), pending));
    }

    /// Takes the entry of `token` for `cert_id` out, if it has not timed out.
    pub fn take(&mut self, token: &str, cert_id: &str) -> Result<T, NotWaiting> {
        if self.peek(token, cert_id).is_none() {
            return Err(NotWaiting::Unknown);
        }
        let (at, pending) = self.waiting.remove(token).ok_or(NotWaiting::Unknown)?;
        if alive(at, &pending) {
            Ok(pending)
        } else {
            Err(NotWaiting::Expired)
        }
    }

    /// The entry of `token` for `cert_id`, left in place.
    fn peek(&self, token: &str, cert_id: &str) -> Option<&T> {
        self.waiting
            .get(token)
            .map(|(_, p)| p)
            .filter(|p| p.cert_id() == cert_id)
    }
}

/// True while an entry put in at `at` is within its time to live.
fn alive<T: Pending>(at: std::time::Instant, pending: &T) -> bool {
    at.elapsed().as_secs() <= u64::try_from(pending.ttl()).unwrap_or(0)
}

// ---------------------------------------------------------------- 换机 / 恢复 (key refresh)

/// `POST /v1/certs/{id}/split-refresh`: the identity check of a new phone. Signed by the NEW
/// device key (`new_device`, hex SEC1), which proves the phone holds it; the service binds the
/// refresh and, once it is finished, the certificate to that key.
#[derive(Serialize, Deserialize)]
pub struct RefreshBegin {
    /// The administrator's one-time code (`phone admin refresh-code`).
    pub code: super::server::SecretText,
    /// The certificate PIN.
    pub pin: super::server::SecretText,
    /// The new phone's device public key (hex SEC1).
    pub new_device: String,
}

/// The answer to [`RefreshBegin`].
#[derive(Serialize, Deserialize)]
pub struct RefreshBegun {
    /// Names the refresh in the next two calls.
    pub token: String,
    /// The refresh id both sides bind the protocol to (hex).
    pub refresh_id: String,
    /// Opens the phone share the new phone brings (old phone / sealed backup).
    pub seal_share: super::server::SecretText,
    /// The seal share the finish will store (hex): the new phone seals its new share under PIN
    /// + this and stages it before the finish, so a crash after the finish loses nothing.
    pub next_seal_share: super::server::SecretText,
    /// The recovery share (hex), for the staged recovery seal.
    pub recovery_share: super::server::SecretText,
}

/// The answer to `split-refresh/finish`: what the new phone seals its new share with.
#[derive(Serialize, Deserialize)]
pub struct RefreshFinished {
    /// The new seal share (hex).
    pub seal_share: super::server::SecretText,
    /// The recovery share (hex), for the recovery seal of 忘记证书密码.
    pub recovery_share: super::server::SecretText,
}

/// The refresh id: bound to the certificate, the new device and the service's randomness.
pub fn refresh_id(cert_id: &str, new_device: &str, random: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"bidseal/split-refresh/v1");
    for field in [cert_id.as_bytes(), new_device.as_bytes(), random.as_slice()] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.finalize().into()
}

/// Where a refresh is.
pub enum RefreshStage {
    /// Identity checked; waiting for the phone's first message.
    Begun(Box<KeyShare>),
    /// The service answered; waiting for the phone's last message.
    Answered(Box<crate::key_split::ServiceRefresh>),
}

/// A refresh between its calls (in memory, [`PENDING_TTL_SECS`]).
pub struct PendingRefresh {
    /// The certificate.
    pub cert_id: String,
    /// The new phone's device key (hex), the only key that may continue it.
    pub new_device: String,
    /// The protocol's refresh id.
    pub refresh_id: [u8; 32],
    /// The seal share the finish stores (given to the new phone at the begin, so it can stage
    /// its new share sealed before the finish: `docs/key-split.md`, crash safety of 换机).
    pub next_seal_share: crate::key_seal::ServiceShare,
    /// Progress.
    pub stage: RefreshStage,
}

impl Pending for PendingRefresh {
    fn cert_id(&self) -> &str {
        &self.cert_id
    }
}

/// Refreshes waiting for their next call, by token.
pub type RefreshTable = TokenTable<PendingRefresh>;

impl TokenTable<PendingRefresh> {
    /// The new device bound to `token` for `cert_id` (to check the call's signature first).
    pub fn device_of(&self, token: &str, cert_id: &str) -> Option<String> {
        self.peek(token, cert_id).map(|p| p.new_device.clone())
    }
}

// ---------------------------------------------------------------- 开通 (enrolment: DKG)

/// `POST /v1/certs/{id}/enrol`: a phone asks to create the new certificate `id`'s key with the
/// service. Signed by the device key named in `device` (the phone proves it holds it; the
/// certificate will be bound to it); authorised by the administrator's one-time enrolment code
/// (`phone admin enrol-code`).
#[derive(Serialize, Deserialize)]
pub struct EnrolBegin {
    /// The one-time enrolment code.
    pub code: super::server::SecretText,
    /// The phone's device public key (hex SEC1).
    pub device: String,
}

/// The answer to [`EnrolBegin`].
#[derive(Serialize, Deserialize)]
pub struct EnrolBegun {
    /// Names the enrolment in its next calls (single use each, in order).
    pub token: String,
    /// The DKG session id both sides bind the protocol to (hex): [`enrol_session_id`].
    pub session_id: String,
}

/// `POST /v1/certs/{id}/enrol/certificate`: the certificate the CA issued from the jointly
/// signed CSR, and the PIN the service will check from now on.
#[derive(Serialize, Deserialize)]
pub struct EnrolCertificate {
    /// The enrolment.
    pub token: String,
    /// The 6-digit PIN (the service keeps only its PBKDF2 verifier).
    pub pin: super::server::SecretText,
    /// The issued certificate, PEM.
    pub certificate: String,
}

/// The enrolment's DKG session id: the certificate, the device and the service's randomness.
pub fn enrol_session_id(cert_id: &str, device: &str, random: &[u8; 32]) -> [u8; 32] {
    bound_hash(
        b"bidseal/enrol/dkg/v1",
        &[cert_id.as_bytes(), device.as_bytes(), random.as_slice()],
    )
}

/// The sign id of the enrolment's CSR signature: bound to the DKG session.
pub fn enrol_csr_sign_id(cert_id: &str, device: &str, session_id: &[u8; 32]) -> [u8; 32] {
    bound_hash(
        b"bidseal/enrol/csr/v1",
        &[cert_id.as_bytes(), device.as_bytes(), session_id.as_slice()],
    )
}

fn bound_hash(tag: &[u8], fields: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    for field in fields {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.finalize().into()
}

/// Where an enrolment is.
pub enum EnrolStage {
    /// Code checked; waiting for the phone's DKG message.
    Begun,
    /// The service answered the DKG; waiting for its last message and the CSR.
    DkgAnswered(Box<crate::key_split::ServiceDkg>),
    /// The key exists; the CSR's signature is under way.
    CsrAnswered {
        /// The service's new share.
        share: Box<KeyShare>,
        /// The signing state.
        sign: Box<ServiceSign>,
        /// DER of the subject the CSR asks for.
        subject: Vec<u8>,
    },
    /// The CSR is signed; waiting for the certificate.
    Signed {
        /// The service's new share.
        share: Box<KeyShare>,
        /// DER of the subject the signed CSR asks for (the certificate must carry it).
        subject: Vec<u8>,
    },
}

/// How long an enrolment waits for its next call: the phone's half of a DKG between two calls
/// takes seconds, and `phone init` runs seven at once on whatever cores there are.
pub const ENROL_STEP_TTL_SECS: i64 = 300;

/// An enrolment between its calls (in memory; each call must come within
/// [`ENROL_STEP_TTL_SECS`] of the previous one).
pub struct PendingEnrol {
    /// The certificate id being created.
    pub cert_id: String,
    /// The enrolling phone's device key (hex); only it may continue.
    pub device: String,
    /// The DKG session id.
    pub session_id: [u8; 32],
    /// What the administrator decided (holder, PIN verifier cost).
    pub grant: super::state::EnrolmentGrant,
    /// Progress.
    pub stage: EnrolStage,
}

impl Pending for PendingEnrol {
    fn cert_id(&self) -> &str {
        &self.cert_id
    }
    fn ttl(&self) -> i64 {
        ENROL_STEP_TTL_SECS
    }
}

/// Enrolments waiting for their next call, by token.
pub type EnrolTable = TokenTable<PendingEnrol>;

impl TokenTable<PendingEnrol> {
    /// The device bound to `token` for `cert_id` (to check the call's signature first).
    pub fn device_of(&self, token: &str, cert_id: &str) -> Option<String> {
        self.peek(token, cert_id).map(|p| p.device.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    struct Waiting(&'static str);

    impl Pending for Waiting {
        fn cert_id(&self) -> &str {
            self.0
        }
    }

    #[test]
    fn a_token_is_single_use_and_only_for_its_certificate() {
        let mut table = TokenTable::default();
        let token = table.insert(Waiting("a")).unwrap();
        assert_eq!(table.take(&token, "b").err(), Some(NotWaiting::Unknown));
        assert_eq!(
            table.take("not-a-token", "a").err(),
            Some(NotWaiting::Unknown)
        );
        assert!(
            table.take(&token, "a").is_ok(),
            "another certificate's call leaves it"
        );
        assert_eq!(table.take(&token, "a").err(), Some(NotWaiting::Unknown));
        table.put_back(token.clone(), Waiting("a"));
        assert!(table.take(&token, "a").is_ok(), "put back, it goes on");
    }

    #[test]
    fn a_wait_ends_on_the_monotonic_clock_and_says_it_expired() {
        let mut table = TokenTable::default();
        let token = table.insert(Waiting("a")).unwrap();
        let past = Instant::now().checked_sub(Duration::from_secs(PENDING_TTL_SECS as u64 + 2));
        let Some(past) = past else {
            return; // a machine up for less than a minute: nothing to go back to
        };
        if let Some(entry) = table.waiting.get_mut(&token) {
            entry.0 = past;
        }
        assert_eq!(table.take(&token, "a").err(), Some(NotWaiting::Expired));
        assert_eq!(table.take(&token, "a").err(), Some(NotWaiting::Unknown));
        // A full table is purged of expired entries before it refuses a new one.
        for _ in 0..MAX_PENDING {
            let t = table.insert(Waiting("b")).unwrap();
            table.waiting.get_mut(&t).unwrap().0 = past;
        }
        assert!(table.insert(Waiting("c")).is_some());
    }
}
