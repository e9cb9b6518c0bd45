//! The platform's clock: every deadline, expiry and receipt time is read here, so that a test
//! or a deployment can see one source of time.
//!
//! Guarantees: Unix seconds, UTC. [`Clock::system`] is the host's clock, nothing else. A test
//! clock ([`Clock::adjustable`], `bidseal platform serve --test-clock`) is the host's clock
//! plus an offset that only moves forward, through `POST /test/clock`; the server refuses to
//! start with it on any address but loopback (`server::serve`), so a deployment's deadlines
//! cannot be moved. Does not: synchronise with a time server (the host's NTP does that), sign
//! time stamps (receipts carry the platform's time under its signature), or move the phones'
//! and the co-signing service's clocks (they check an opening time by their own).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest single step of the test clock, seconds (a year).
pub const MAX_ADVANCE_SECS: i64 = 365 * 24 * 3600;

/// Where the platform reads the time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Seconds added to the host's clock (test clock only).
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The host's clock.
    pub fn system() -> Self {
        Clock { offset: None }
    }

    /// A test clock: the host's clock, movable forward by [`Clock::advance`].
    pub fn adjustable() -> Self {
        Clock {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Whether this is a test clock.
    pub fn is_adjustable(&self) -> bool {
        self.offset.is_some()
    }

    fn offset_secs(&self) -> i64 {
        self.offset.as_ref().map_or(0, |o| o.load(Ordering::SeqCst))
    }

    /// Moves a test clock `secs` (1–[`MAX_ADVANCE_SECS`]) forward and returns the new time;
    /// `None` for the host's clock or a step out of range.
    pub fn advance(&self, secs: i64) -> Option<i64> {
        let offset = self.offset.as_ref()?;
        if !(1..=MAX_ADVANCE_SECS).contains(&secs) {
            return None;
        }
        offset.fetch_add(secs, Ordering::SeqCst);
        Some(self.now_unix())
    }

    /// Now, in Unix seconds.
    pub fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
            .saturating_add(self.offset_secs())
    }

    /// Now, in Unix milliseconds (upload progress, benchmark latencies).
    pub fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
            .saturating_add(self.offset_secs().saturating_mul(1000))
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

/// Unix seconds in Beijing time (UTC+8); `None` when out of range.
pub fn in_beijing(unix: i64) -> Option<time::OffsetDateTime> {
    let offset = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .map(|t| t.to_offset(offset))
}

/// Unix seconds in Beijing time for people (`2027-06-30 09:30:00（北京时间）`), as the desktop
/// and the web pages show times; the number itself when out of range.
pub fn beijing_text(unix: i64) -> String {
    match in_beijing(unix) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}（北京时间）",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => unix.to_string(),
    }
}

/// `POST /test/clock` (routed only with a test clock): body `{"advance_secs": N}` moves the
/// clock N seconds forward (1–[`MAX_ADVANCE_SECS`]) and answers `{"now": UNIX}`; anything else
/// is 400 `E_BAD_REQUEST`.
pub mod http {
    use super::MAX_ADVANCE_SECS;
    use crate::state::AppState;
    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use axum::{Json, Router};
    use serde::Deserialize;

    /// Body of `POST /test/clock`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Advance {
        /// Seconds to move forward.
        pub advance_secs: i64,
    }

    /// The route (merge at the root only when the state's clock is a test clock).
    pub fn router() -> Router<AppState> {
        Router::new().route("/test/clock", post(advance))
    }

    async fn advance(State(state): State<AppState>, body: Option<Json<Advance>>) -> Response {
        match body.and_then(|Json(b)| state.clock.advance(b.advance_secs)) {
            Some(now) => Json(serde_json::json!({ "now": now })).into_response(),
            None => crate::error::ApiError::bad_request(
                "E_BAD_REQUEST",
                format!(
                    "请求体须为 JSON，advance_secs 为 1–{MAX_ADVANCE_SECS} 的整数秒（测试时钟只能向前拨）"
                ),
            )
            .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_for_people_are_beijing_time_and_out_of_range_stays_a_number() {
        // 2027-06-30T17:30:05Z: the next day in Beijing.
        assert_eq!(
            beijing_text(1_814_376_605),
            "2027-07-01 01:30:05（北京时间）"
        );
        assert_eq!(beijing_text(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn only_a_test_clock_moves_and_only_forward() {
        let host = Clock::system();
        assert_eq!(host.advance(30), None, "the host's clock never moves");
        let test = Clock::adjustable();
        let before = test.now_unix();
        let after = test.advance(30).expect("moved");
        assert!((30..=32).contains(&(after - before)), "{before} → {after}");
        for bad in [0, -30, MAX_ADVANCE_SECS + 1, i64::MIN, i64::MAX] {
            assert_eq!(test.advance(bad), None, "{bad}");
        }
        // Clones share the offset (the state is cloned into every handler).
        let clone = test.clone();
        clone.advance(100).expect("moved");
        assert!(test.now_unix() - host.now_unix() >= 130);
    }
}
