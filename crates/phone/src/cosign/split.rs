//! Transport of the joint-signature rounds ([`crate::key_split`]) between phone and co-signing
//! service over the co-signing HTTP API.
//!
//! ```text
//! POST /v1/certs/{id}/split-sign          {pin, who, context, digest, nonce, message}
//!      → 200 {token, message}  |  403 {refusal}
//! POST /v1/certs/{id}/split-sign/finish   {token, message}
//!      → 200 {message}         |  403 {refusal}
//! ```
//!
//! Both calls are signed with the phone's device key like every PIN call ([`super::device`],
//! routes `split-sign` and `split-sign/finish`), so a request changed in flight is refused
//! before it is parsed. The first call goes through the service's whole decision (device,
//! rate limits, PIN, lockout, certificate state, 授权结束, decrypt rules; logged); only then
//! does the service's share take part. The protocol's sign id is [`sign_id`] over the
//! certificate, the phone's device key, the operation context (session, operation), the
//! digest and a fresh phone nonce — so the service's rounds fit only this one signature, and
//! the service signs only the digest it logged. The second call must name a token the service
//! issued for the same certificate within [`PENDING_TTL_SECS`]; a token is used once (taken
//! out of the table before its round runs, whatever the outcome). The end of every use is
//! logged with the signature's hash or the failure code.
//!
//! Does not: carry the DKG or the ECDH part (later steps of issue #14).

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

/// First round (phone → service).
#[derive(Serialize, Deserialize)]
pub struct SplitSignRequest {
    /// The certificate PIN (never logged).
    pub pin: super::server::SecretText,
    /// Holder name for the log.
    pub who: String,
    /// What the phone is about to do.
    pub context: OperationContext,
    /// Hex SHA-256 digest to sign (64 hex digits).
    pub digest: String,
    /// Hex 16-byte fresh nonce of the phone (part of the sign id).
    pub nonce: String,
    /// Base64 of the phone's first protocol message.
    pub message: String,
}

/// First round answer.
#[derive(Serialize, Deserialize)]
pub struct SplitSignStarted {
    /// Names the waiting second round (hex, single use).
    pub token: String,
    /// Base64 of the service's protocol message.
    pub message: String,
}

/// Second round (phone → service).
#[derive(Serialize, Deserialize)]
pub struct SplitSignFinishRequest {
    /// From [`SplitSignStarted::token`].
    pub token: String,
    /// Base64 of the phone's second protocol message.
    pub message: String,
}

/// Second round answer.
#[derive(Serialize, Deserialize)]
pub struct SplitSignDone {
    /// Base64 of the service's last protocol message.
    pub message: String,
}

/// The protocol's sign id: SHA-256 over a tag and the length-prefixed binding fields.
pub fn sign_id(
    cert_id: &str,
    device_public_hex: &str,
    context: &OperationContext,
    digest_hex: &str,
    nonce_hex: &str,
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

/// One joint signature waiting for its second round.
pub struct PendingSign {
    /// The certificate.
    pub cert_id: String,
    /// Holder (for the log line of the end).
    pub who: String,
    /// The context it was authorised for.
    pub context: OperationContext,
    /// The digest authorised (hex).
    pub digest: String,
    /// The service's share (secret; zeroized on drop).
    pub share: KeyShare,
    /// The service's protocol state.
    pub state: ServiceSign,
    /// Service clock when started.
    pub started: i64,
}

/// The table of waiting second rounds.
#[derive(Default)]
pub struct PendingTable {
    waiting: HashMap<String, PendingSign>,
}

impl PendingTable {
    /// Adds one; returns its token, or `None` when [`MAX_PENDING`] are waiting.
    pub fn insert(&mut self, pending: PendingSign, now: i64) -> Option<String> {
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

    /// Takes the one named `token` for `cert_id` (single use: gone from the table whatever
    /// the caller does next). Expired or another certificate's → `None` (and it is dropped
    /// only when it belongs to `cert_id`).
    pub fn take(&mut self, token: &str, cert_id: &str, now: i64) -> Option<PendingSign> {
        if self.waiting.get(token)?.cert_id != cert_id {
            return None;
        }
        let pending = self.waiting.remove(token)?;
        (now - pending.started <= PENDING_TTL_SECS && pending.started <= now).then_some(pending)
    }
}
