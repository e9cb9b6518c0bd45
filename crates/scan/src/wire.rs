//! The relay's wire protocol: paths, the events the relay sends and its limits.
//!
//! Both the relay server (`bidseal-relay`) and the clients in [`crate::client`] use these, so
//! the two cannot drift. Transport: one WebSocket per end.
//!
//! ```text
//! desktop: GET /v1/sessions/{sid}/desktop?ttl={secs}   (creates the session, single use)
//! phone:   GET /v1/sessions/{sid}/phone                (joins it; 404 unknown, 409 taken, 410 expired)
//! binary frames: opaque ciphertext, forwarded to the other end unchanged
//! text frames:   relay → end only, one RelayEvent as JSON
//! bench:   GET /v1/echo (WebSocket echo), POST /v1/echo (HTTP echo), GET /v1/health
//! ```
//!
//! Guarantees: events carry no secrets (the relay never learns any). Does not authenticate
//! events: a lying relay can send a false `peer_joined`; the desktop therefore reports
//! "scanned" only on the phone's authenticated hello.

use crate::payload::SessionId;
use serde::{Deserialize, Serialize};

/// Path where the desktop creates and attaches to a session.
pub fn desktop_path(session: &SessionId, ttl_secs: u64) -> String {
    format!(
        "/v1/sessions/{}/desktop?ttl={ttl_secs}",
        session.to_base64()
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
