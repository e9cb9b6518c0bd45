//! The relay's wire protocol: paths, the events the relay sends and its limits.
//!
//! Both the relay server (`bidseal-relay`) and the clients in [`crate::client`] use these, so
//! the two cannot drift. Transport: one WebSocket per end.
//!
//! ```text
//! desktop: GET /v1/sessions/{sid}/desktop?ttl={secs}&jc={join commitment}   (creates the session, single use)
//! phone:   GET /v1/sessions/{sid}/phone, header Bidseal-Join: {join token}
//!          (joins it; 403 wrong or missing token, 404 unknown, 409 taken, 410 expired)
//! binary frames: opaque ciphertext, forwarded to the other end unchanged
//! text frames:   relay → end only, one RelayEvent as JSON
//! bench:   GET /v1/echo (WebSocket echo), POST /v1/echo (HTTP echo), GET /v1/health
//! ```
//!
//! Admission: the relay lets in only a phone that proves it saw the QR. Both ends derive
//!
//! ```text
//! join token T      = HKDF-SHA256(salt = none, ikm = QR secret S, info = "bidseal-scan/v1/join" ‖ sid)   32 bytes
//! join commitment C = SHA-256("bidseal-scan/v1/join-commitment" ‖ T)                                      32 bytes
//! ```
//!
//! The desktop registers C when it creates the session, the phone presents T when it joins,
//! the relay admits the phone iff SHA-256(label ‖ T) equals C (constant-time compare). So
//! knowing the session id is not enough to take the phone slot, a store dump (C only) does
//! not let anyone join, and S never reaches the relay (T is a one-way function of it).
//!
//! Guarantees: events carry no secrets (the relay never learns any). Does not authenticate
//! events: a lying relay can send a false `peer_joined`; the desktop therefore reports
//! "scanned" only on the phone's authenticated hello.

use crate::error::ScanError;
use crate::payload::{QrSecret, SessionId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// HTTP header carrying the phone's join token (base64url).
pub const JOIN_TOKEN_HEADER: &str = "bidseal-join";
/// HKDF info prefix of the join token.
pub const JOIN_TOKEN_LABEL: &[u8] = b"bidseal-scan/v1/join";
/// Hash prefix of the join commitment.
pub const JOIN_COMMITMENT_LABEL: &[u8] = b"bidseal-scan/v1/join-commitment";

/// What the phone shows the relay to be admitted: derived from the QR secret and the
/// session id; zeroized on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct JoinToken([u8; 32]);

impl JoinToken {
    /// The token of session `session` under QR secret `secret`.
    pub fn derive(secret: &QrSecret, session: &SessionId) -> Result<Self, ScanError> {
        let hk = Hkdf::<Sha256>::new(None, secret.expose());
        let mut info = Vec::with_capacity(JOIN_TOKEN_LABEL.len() + session.0.len());
        info.extend_from_slice(JOIN_TOKEN_LABEL);
        info.extend_from_slice(&session.0);
        let mut t = [0u8; 32];
        hk.expand(&info, &mut t).map_err(|_| ScanError::System {
            detail: "HKDF expand".into(),
        })?;
        Ok(JoinToken(t))
    }

    /// The commitment the desktop registers at the relay.
    pub fn commitment(&self) -> JoinCommitment {
        JoinCommitment::of(&self.0)
    }

    /// base64url form sent in [`JOIN_TOKEN_HEADER`].
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinToken(<redacted>)")
    }
}

/// SHA-256 commitment to a join token; what the relay stores per session.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct JoinCommitment(pub [u8; 32]);

impl JoinCommitment {
    fn of(token: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(JOIN_COMMITMENT_LABEL);
        h.update(token);
        JoinCommitment(h.finalize().into())
    }

    /// base64url form (the desktop path's `jc` parameter).
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses the base64url form; `None` unless exactly 32 bytes.
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(JoinCommitment(bytes.try_into().ok()?))
    }

    /// Whether `presented` (the header value a phone sent, base64url) is the token committed
    /// to. Compares the hashes in constant time; any malformed value is simply not admitted.
    pub fn admits(&self, presented: &str) -> bool {
        let Ok(mut token) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
            return false;
        };
        let ok = token.len() == 32 && bool::from(JoinCommitment::of(&token).0.ct_eq(&self.0));
        token.zeroize();
        ok
    }
}

/// Path where the desktop creates and attaches to a session, registering the commitment to
/// the phone's join token.
pub fn desktop_path(session: &SessionId, ttl_secs: u64, commitment: &JoinCommitment) -> String {
    format!(
        "/v1/sessions/{}/desktop?ttl={ttl_secs}&jc={}",
        session.to_base64(),
        commitment.to_base64()
    )
}

/// Path where the phone joins a session.
pub fn phone_path(session: &SessionId) -> String {
    format!("/v1/sessions/{}/phone", session.to_base64())
}

/// Which end a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Desktop,
    Phone,
}

/// A transport event from the relay (WebSocket text frame, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RelayEvent {
    /// Session created; waiting for a phone until `expires_at` (unix seconds).
    Waiting { expires_at: u64 },
    /// The other end connected.
    PeerJoined,
    /// The other end disconnected.
    PeerLeft,
    /// Nobody joined before the expiry; the session is gone.
    Expired,
    /// The relay refuses or ends the session: `code` is one of the `RELAY_*` codes.
    Error { code: String, message: String },
}

/// Session id already in use.
pub const RELAY_CONFLICT: &str = "relay.conflict";
/// Session unknown (never created, expired, relay restarted).
pub const RELAY_UNKNOWN: &str = "relay.unknown_session";
/// The phone slot is taken (single use).
pub const RELAY_TAKEN: &str = "relay.already_joined";
/// The session expired.
pub const RELAY_EXPIRED: &str = "relay.expired";
/// A frame exceeded the size limit.
pub const RELAY_TOO_LARGE: &str = "relay.too_large";
/// Too many frames per second or in total.
pub const RELAY_RATE_LIMITED: &str = "relay.rate_limited";
/// Text frames from ends are not allowed.
pub const RELAY_BAD_FRAME: &str = "relay.bad_frame";
/// The relay is shutting down.
pub const RELAY_SHUTDOWN: &str = "relay.shutdown";
/// Too many sessions on this relay.
pub const RELAY_FULL: &str = "relay.full";
/// Session idle too long or past its lifetime.
pub const RELAY_IDLE: &str = "relay.idle";
/// The phone did not present the session's join token (HTTP 403).
pub const RELAY_NOT_ADMITTED: &str = "relay.not_admitted";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_of_this_qr_and_session_is_admitted() {
        let sid = SessionId([4; 16]);
        let secret = QrSecret::from_bytes([9; 16]);
        let token = JoinToken::derive(&secret, &sid).unwrap();
        let jc = token.commitment();
        assert!(jc.admits(&token.to_base64()));
        assert_eq!(JoinCommitment::from_base64(&jc.to_base64()), Some(jc));
        // The commitment is not the token (a store dump does not let anyone join).
        assert!(!jc.admits(&jc.to_base64()));
        let other_sid = JoinToken::derive(&secret, &SessionId([5; 16])).unwrap();
        let other_qr = JoinToken::derive(&QrSecret::from_bytes([8; 16]), &sid).unwrap();
        assert_ne!(other_sid, token);
        assert!(!jc.admits(&other_sid.to_base64()));
        assert!(!jc.admits(&other_qr.to_base64()));
        let t = token.to_base64();
        for bad in ["", "=", "AAAA", &t[..t.len() - 2], &format!("{t}AA"), "é"] {
            assert!(!jc.admits(bad), "{bad:?}");
        }
        for bad in ["", "AAAA", "not base64!", &t[..10]] {
            assert_eq!(JoinCommitment::from_base64(bad), None, "{bad:?}");
        }
        assert!(!format!("{token:?}").contains(&t[..8]));
    }
}
