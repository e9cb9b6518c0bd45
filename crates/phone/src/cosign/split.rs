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
    /// Service clock when granted.
    pub started: i64,
}

/// The table of grants waiting for their rounds.
#[derive(Default)]
pub struct PendingTable {
    waiting: HashMap<String, PendingGrant>,
}

impl PendingTable {
    /// Adds one; returns its token, or `None` when [`MAX_PENDING`] are waiting.
    pub fn insert(&mut self, pending: PendingGrant, now: i64) -> Option<String> {
        self.waiting
            .retain(|_, p| now - p.started <= PENDING_TTL_SECS && p.started <= now);
        if self.waiting.len() >= MAX_PENDING {
            return None;
        }
        let mut raw = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
        let token = hex::encode(raw);
        self.waiting.insert(token.clone(), pending);
        Some(token)
    }

    /// Puts a grant back after its first round under the same token.
    pub fn put_back(&mut self, token: String, pending: PendingGrant) {
        self.waiting.insert(token, pending);
    }

    /// Takes the grant named `token` for `cert_id` (gone from the table whatever the caller
    /// does next). Expired or another certificate's → `None` (another certificate's stays).
    pub fn take(&mut self, token: &str, cert_id: &str, now: i64) -> Option<PendingGrant> {
        if self.waiting.get(token)?.cert_id != cert_id {
            return None;
        }
        let pending = self.waiting.remove(token)?;
        (now - pending.started <= PENDING_TTL_SECS && pending.started <= now).then_some(pending)
    }
}
