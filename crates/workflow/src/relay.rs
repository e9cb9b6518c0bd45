//! The scan relay a flow talks to: the one the user named (`--relay URL`, checked before any
//! QR) or one embedded in this process on 127.0.0.1. Shared by the command line and the
//! desktop app, so both start it and check addresses the same way.
//!
//! Guarantees: a relay address without `http://`/`https://` or without a host is refused
//! before anything is shown (the phone could not use it); the embedded relay listens on the
//! loopback interface only. Does not: reach out to a relay to see whether it answers (the scan
//! does that and reports `scan.relay_unreachable`).

use crate::FlowError;
use bidseal_relay::{Relay, RelayHandle};

/// Checks that `url` is a relay address a phone can use: `http://` or `https://` followed by
/// a host (`127.0.0.1:47800` alone would only fail later, as an unreadable QR).
pub fn check_relay_url(url: &str) -> Result<(), FlowError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && !host.starts_with('/')
                && !host.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(FlowError::RelayUrl {
            url: url.to_string(),
        }),
    }
}

/// Starts a relay in this process on 127.0.0.1 (a free port); it runs until the handle is shut
/// down or dropped.
pub async fn start_embedded_relay() -> Result<RelayHandle, FlowError> {
    Relay::bind("127.0.0.1:0")
        .await
        .map_err(|e| FlowError::RelayDown {
            detail: e.to_string(),
        })
}

/// The relay of one run: the one the user gave or an embedded one.
pub enum ScanRelay {
    /// A relay elsewhere, address checked by [`check_relay_url`].
    Given(String),
    /// A relay running in this process.
    Embedded(RelayHandle),
}

impl ScanRelay {
    /// The relay at `given` (checked), or a freshly started embedded one when `None`.
    pub async fn start(given: Option<&str>) -> Result<ScanRelay, FlowError> {
        match given {
            Some(url) => {
                check_relay_url(url)?;
                Ok(ScanRelay::Given(url.to_string()))
            }
            None => Ok(ScanRelay::Embedded(start_embedded_relay().await?)),
        }
    }

    /// The address the QR carries.
    pub fn url(&self) -> String {
        match self {
            ScanRelay::Given(url) => url.clone(),
            ScanRelay::Embedded(handle) => handle.url(),
        }
    }

    /// Whether the relay runs in this process (worth telling the user where it listens).
    pub fn is_embedded(&self) -> bool {
        matches!(self, ScanRelay::Embedded(_))
    }

    /// Stops an embedded relay (a given one is left alone).
    pub async fn shutdown(self) {
        if let ScanRelay::Embedded(handle) = self {
            handle.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_addresses_need_a_scheme_and_a_host() {
        for good in [
            "http://127.0.0.1:47800",
            "https://relay.example.cn",
            "http://[::1]:1/x",
        ] {
            assert!(check_relay_url(good).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1:47800",
            "relay.example.cn",
            "http://",
            "https:///path",
            "ftp://relay.example.cn",
            "ws://127.0.0.1:1",
            "HTTP//127.0.0.1",
            "",
            "http://a b",
        ] {
            let err = check_relay_url(bad).expect_err(bad);
            assert_eq!(err.code(), "E_RELAY_URL");
            assert!(err.to_string().contains("http://"), "{err}");
        }
    }

    #[tokio::test]
    async fn the_embedded_relay_listens_on_loopback_and_a_given_one_is_kept() {
        let relay = ScanRelay::start(None).await.expect("embedded relay");
        assert!(relay.is_embedded());
        assert!(
            relay.url().starts_with("http://127.0.0.1:"),
            "{}",
            relay.url()
        );
        relay.shutdown().await;
        let given = ScanRelay::start(Some("https://relay.example.cn"))
            .await
            .expect("given");
        assert!(!given.is_embedded());
        assert_eq!(given.url(), "https://relay.example.cn");
        assert!(ScanRelay::start(Some("relay.example.cn")).await.is_err());
    }
}
