//! Rate limits of the co-signing service, per device key and per certificate, with back-off.
//!
//! Only calls that passed the device signature check are counted (an outsider cannot use up a
//! certificate's allowance). A key may make at most `max` calls in any [`WINDOW_SECS`]; the
//! first call over it blocks the key for [`BASE_BLOCK_SECS`], and every further violation
//! doubles the block up to [`MAX_BLOCK_SECS`]. A key that stays within its allowance for a
//! whole window has its violations forgotten.
//!
//! Also: [`ReplayGuard`], which refuses a device signature seen before within the clock-skew
//! window. Both live in memory only: a restart forgets them (the PIN lockout itself is
//! persistent in the book).

use std::collections::{HashMap, VecDeque};

/// The sliding window.
pub const WINDOW_SECS: i64 = 60;
/// First block after exceeding the allowance.
pub const BASE_BLOCK_SECS: i64 = 30;
/// Longest block.
pub const MAX_BLOCK_SECS: i64 = 900;
/// Calls per window for one certificate: a whole signing session (会话签章, at most
/// [`bidseal_scan::MAX_GRANT_REQUESTS`] seals, each one authorisation) twice over, so an honest
/// bidder sealing a large bid is never stopped, while scripted guessing still is (and the 5th
/// wrong PIN in a row locks anyway).
pub const PER_CERT: usize = 2 * bidseal_scan::MAX_GRANT_REQUESTS as usize;
/// Calls per window for one device key (a phone holds several certificates).
pub const PER_DEVICE: usize = 2 * PER_CERT;

#[derive(Debug, Default)]
struct Bucket {
    hits: VecDeque<i64>,
    strikes: u32,
    blocked_until: i64,
}

/// Sliding-window counters by key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// Counts one call of `key` at `now`; `Err(retry_after_secs)` when over `max` per window
    /// or blocked.
    pub fn hit(&mut self, key: &str, max: usize, now: i64) -> Result<(), u64> {
        if self.buckets.len() > 100_000 {
            self.buckets.retain(|_, b| {
                b.blocked_until > now || b.hits.back().is_some_and(|t| now - t < WINDOW_SECS)
            });
        }
        let b = self.buckets.entry(key.to_string()).or_default();
        if now < b.blocked_until {
            return Err((b.blocked_until - now) as u64);
        }
        while b.hits.front().is_some_and(|t| now - t >= WINDOW_SECS) {
            b.hits.pop_front();
        }
        if b.strikes > 0 && now >= b.blocked_until + WINDOW_SECS {
            b.strikes = 0;
        }
        if b.hits.len() >= max {
            b.strikes = b.strikes.saturating_add(1);
            let block = BASE_BLOCK_SECS
                .saturating_mul(1i64 << (b.strikes - 1).min(10))
                .min(MAX_BLOCK_SECS);
            b.blocked_until = now + block;
            b.hits.clear();
            return Err(block as u64);
        }
        b.hits.push_back(now);
        Ok(())
    }
}

/// Remembers device-call nonces (by hash) for twice the clock-skew window and refuses a
/// second use.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: HashMap<[u8; 32], i64>,
}

impl ReplayGuard {
    /// True the first time `nonce` is seen (within `2 × window` seconds of `now`).
    pub fn first_use(&mut self, nonce: &[u8], now: i64, window: i64) -> bool {
        use sha2::Digest;
        self.seen.retain(|_, at| now - *at <= 2 * window);
        let h: [u8; 32] = sha2::Sha256::digest(nonce).into();
        if self.seen.contains_key(&h) {
            return false;
        }
        self.seen.insert(h, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_allowance_blocks_with_doubling_back_off_and_keys_are_separate() {
        let mut l = RateLimiter::default();
        for i in 0..3 {
            assert!(l.hit("a", 3, 100 + i).is_ok());
        }
        assert_eq!(l.hit("a", 3, 103), Err(BASE_BLOCK_SECS as u64));
        assert!(l.hit("b", 3, 103).is_ok(), "another key is not affected");
        assert_eq!(l.hit("a", 3, 104), Err(BASE_BLOCK_SECS as u64 - 1));
        let t = 103 + BASE_BLOCK_SECS;
        for i in 0..3 {
            assert!(l.hit("a", 3, t + i).is_ok());
        }
        assert_eq!(
            l.hit("a", 3, t + 3),
            Err(2 * BASE_BLOCK_SECS as u64),
            "back-off doubles"
        );
        // After a quiet period the violations are forgotten.
        let later = t + 3 + 2 * BASE_BLOCK_SECS + WINDOW_SECS;
        for i in 0..3 {
            assert!(l.hit("a", 3, later + i).is_ok());
        }
        assert_eq!(l.hit("a", 3, later + 3), Err(BASE_BLOCK_SECS as u64));
        // Calls spread over more than a window are fine.
        let mut m = RateLimiter::default();
        for i in 0..10 {
            assert!(m.hit("k", 3, i * WINDOW_SECS / 2).is_ok());
        }
    }

    #[test]
    fn a_signature_is_accepted_once() {
        let mut g = ReplayGuard::default();
        assert!(g.first_use(b"sig", 0, 120));
        assert!(!g.first_use(b"sig", 10, 120));
        assert!(g.first_use(b"sig2", 10, 120));
    }
}
