//! The platform's clock: every deadline, expiry and receipt time is read here, so that a test
//! or a deployment can see one source of time.
//!
//! Guarantees: Unix seconds, UTC. Does not: synchronise with a time server (the host's NTP
//! does that) or sign time stamps (receipts carry the platform's time under its signature).

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the platform reads the time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock;

impl Clock {
    /// The host's clock.
    pub fn system() -> Self {
        Clock
    }

    /// Now, in Unix seconds.
    pub fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    /// Now, in Unix milliseconds (upload progress, benchmark latencies).
    pub fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// Unix seconds as RFC 3339 UTC (`2027-06-30T01:30:00Z`); the number itself when out of range.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
