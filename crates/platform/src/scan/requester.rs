//! Who asked for a platform scan: the [`Requester`] the platform puts into the `auth` request
//! of a 扫码登录 / 扫码绑定 QR, so the phone can show "登录请求来自 203.0.113.5（Chrome 131 /
//! Windows）" and a user who scans a QR relayed from an attacker's browser sees an address
//! and browser that are not theirs (QR-jacking).
//!
//! Guarantees: the address is the TCP peer's IP; `X-Forwarded-For` is read only when the peer
//! is one of the configured trusted proxies (`--trusted-proxy`), and then only its rightmost
//! entry that is not itself a trusted proxy (the one a trusted proxy appended; entries further
//! left are the client's own words). The agent is built from a fixed vocabulary (browser
//! family, major version digits, system family), so a hostile `User-Agent` (10 KB, control
//! characters, bidirectional overrides, forged words) can never reach the phone's screen
//! through it; the phone cleans and cuts both fields again
//! ([`bidseal_scan::screen_safe`]).
//!
//! Does not: prove anything about the browser (a proxy, VPN or NAT shows its own address, and
//! a `User-Agent` is whatever the browser says); it tells the user what the platform saw.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use bidseal_scan::Requester;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// Longest `User-Agent` the summary looks at, bytes (the rest is ignored).
pub const MAX_AGENT_BYTES: usize = 1024;
/// Longest `X-Forwarded-For` read, bytes (a longer header is not used).
pub const MAX_FORWARDED_BYTES: usize = 1024;
/// The address shown when the platform could not tell (no TCP peer known).
pub const UNKNOWN_ADDRESS: &str = "未知地址";

/// What a request says about its sender, raw (before any policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    /// The TCP peer's IP (`None` when the server was not started with connection info, as
    /// in a test calling the router directly).
    pub peer: Option<IpAddr>,
    /// The `X-Forwarded-For` header, if any and readable.
    pub forwarded_for: Option<String>,
    /// The `User-Agent` header, if any and readable.
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(RequestOrigin {
            peer: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
            forwarded_for: header("x-forwarded-for").filter(|v| v.len() <= MAX_FORWARDED_BYTES),
            user_agent: parts
                .headers
                .get(USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        })
    }
}

impl RequestOrigin {
    /// The requester to show on the phone, with `trusted_proxies` (see the module doc).
    pub fn requester(&self, trusted_proxies: &[IpAddr]) -> Requester {
        Requester {
            address: self
                .client_address(trusted_proxies)
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| UNKNOWN_ADDRESS.into()),
            agent: summarize_user_agent(self.user_agent.as_deref().unwrap_or("")),
        }
    }

    /// The client's IP: the peer, or, when the peer is a trusted proxy, the rightmost
    /// `X-Forwarded-For` entry that is not a trusted proxy (the peer when the header is
    /// missing or an entry is not an IP address).
    fn client_address(&self, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
        let peer = self.peer?.to_canonical();
        if !trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let Some(header) = &self.forwarded_for else {
            return Some(peer);
        };
        for entry in header.rsplit(',') {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                return Some(peer);
            };
            let ip = ip.to_canonical();
            if !trusted_proxies.contains(&ip) {
                return Some(ip);
            }
        }
        Some(peer)
    }
}

/// Browser families, most specific first (Edge and Opera also say `Chrome/`, Chrome also says
/// `Safari/`): the token to find and the name to show.
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("OPR/", "Opera"),
    ("MicroMessenger/", "WeChat"),
    ("QQBrowser/", "QQBrowser"),
    ("UCBrowser/", "UCBrowser"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "HeadlessChrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("CriOS/", "Chrome"),
    ("FxiOS/", "Firefox"),
    ("Version/", "Safari"),
    ("BidSeal (", "BidSeal 投标工具"),
    ("curl/", "curl"),
    ("python-requests/", "python-requests"),
];

/// System families, most specific first (Android also says `Linux`, iOS says `like Mac OS X`).
const SYSTEMS: &[(&str, &str)] = &[
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("HarmonyOS", "HarmonyOS"),
    ("Linux", "Linux"),
];

/// A short summary of a `User-Agent`, `浏览器 主版本 / 系统`, e.g. `Chrome 131 / Windows`:
/// only names from a fixed list and at most 4 version digits, `未知浏览器` / `未知系统` for the
/// rest. Looks at the first [`MAX_AGENT_BYTES`] bytes only.
pub fn summarize_user_agent(user_agent: &str) -> String {
    let mut end = user_agent.len().min(MAX_AGENT_BYTES);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    let ua = user_agent.get(..end).unwrap_or("");
    let browser = BROWSERS
        .iter()
        .find_map(|(token, name)| {
            let at = ua.find(token)?;
            let digits: String = ua
                .get(at + token.len()..)
                .unwrap_or("")
                .chars()
                .take_while(char::is_ascii_digit)
                .take(4)
                .collect();
            Some(if digits.is_empty() {
                (*name).to_string()
            } else {
                format!("{name} {digits}")
            })
        })
        .unwrap_or_else(|| "未知浏览器".into());
    let system = SYSTEMS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| *name)
        .unwrap_or("未知系统");
    format!("{browser} / {system}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bid_tool_is_named_as_itself() {
        assert_eq!(
            summarize_user_agent("BidSeal (Linux; desktop 0.1.0)"),
            "BidSeal 投标工具 / Linux"
        );
        assert_eq!(
            summarize_user_agent("BidSeal (Windows NT; desktop 0.1.0)"),
            "BidSeal 投标工具 / Windows"
        );
    }

    const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn common_agents_read_as_browser_version_and_system() {
        for (ua, want) in [
            (CHROME_WIN, "Chrome 131 / Windows"),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 HeadlessChrome/131.0.6778.85 Safari/537.36",
                "HeadlessChrome 131 / Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                 Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70",
                "Edge 131 / Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like \
                 Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome 131 / Android",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
                "Safari 17 / iOS",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox 128 / Linux",
            ),
            ("", "未知浏览器 / 未知系统"),
        ] {
            assert_eq!(summarize_user_agent(ua), want, "{ua}");
        }
    }

    /// Whatever a hostile agent says, the summary is names from the list and digits.
    #[test]
    fn a_hostile_agent_cannot_put_its_own_words_into_the_summary() {
        let huge = format!("Chrome/{} Windows", "9".repeat(10 * 1024));
        assert_eq!(summarize_user_agent(&huge), "Chrome 9999 / 未知系统");
        for ua in [
            "Chrome/131\u{202E}swodniW\r\n[请确认] 平台已验证",
            "\u{0}\u{1b}[2JChrome/\u{661}\u{662}",
            "平台安全认证通过（请直接确认）",
            &"é".repeat(MAX_AGENT_BYTES),
        ] {
            let s = summarize_user_agent(ua);
            assert!(
                s.chars().all(|c| c.is_ascii_alphanumeric()
                    || " /".contains(c)
                    || "未知浏览器系统".contains(c)),
                "{s}"
            );
            assert!(s.len() < 48, "{s}");
        }
    }

    fn origin(peer: &str, xff: Option<&str>) -> RequestOrigin {
        RequestOrigin {
            peer: peer.parse().ok(),
            forwarded_for: xff.map(str::to_string),
            user_agent: Some(CHROME_WIN.into()),
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        // No trusted proxy: the header is the client's own words, ignored.
        let r = origin("198.51.100.9", Some("203.0.113.5")).requester(&[]);
        assert_eq!(r.address, "198.51.100.9");
        // A trusted proxy appended the client: its entry counts, not the forged one left of it.
        let r = origin("10.0.0.2", Some("192.0.2.1, 203.0.113.5")).requester(&[proxy]);
        assert_eq!(r.address, "203.0.113.5");
        assert_eq!(r.agent, "Chrome 131 / Windows");
        // A peer that is not the trusted proxy cannot use the header.
        let r = origin("198.51.100.9", Some("203.0.113.5")).requester(&[proxy]);
        assert_eq!(r.address, "198.51.100.9");
        // Garbage in the header: the proxy's own address, never the garbage.
        let r = origin("10.0.0.2", Some("evil\u{202E}, x")).requester(&[proxy]);
        assert_eq!(r.address, "10.0.0.2");
        // IPv4-mapped IPv6 peers read as IPv4; no peer known reads as unknown.
        let r = origin("::ffff:203.0.113.5", None).requester(&[]);
        assert_eq!(r.address, "203.0.113.5");
        assert_eq!(
            RequestOrigin::default().requester(&[]).address,
            UNKNOWN_ADDRESS
        );
    }
}
