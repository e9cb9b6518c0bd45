//! The QR payload: what the desktop shows and the phone scans.
//!
//! Format (one URL, the secret only in the fragment so it never reaches a server log):
//!
//! ```text
//! bidseal://scan?r=<relay base URL, percent-encoded>&s=<session id, base64url>&op=<auth|sign|generate|decrypt>&x=<expiry, unix seconds>#<base64url(desktop ephemeral P-256 key, SEC1 compressed 33 bytes ‖ QR secret 16 bytes)>
//! ```
//!
//! Guarantees: `QrPayload::parse(&p.to_url()) == Ok(p)`; parsing never panics, rejects
//! unknown schemes, missing or duplicate fields, a key that is not a P-256 point and a URL
//! longer than [`MAX_PAYLOAD_LEN`]. Does not check expiry: that is the caller's clock
//! (see [`QrPayload::check_not_expired`]).

use crate::error::ScanError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Longest payload URL accepted by the parser (a version-10-M QR holds 213 bytes).
pub const MAX_PAYLOAD_LEN: usize = 213;
/// URL scheme and path of every payload.
pub const PAYLOAD_PREFIX: &str = "bidseal://scan?";
/// Length of a SEC1-compressed P-256 public key.
pub const PUBLIC_KEY_LEN: usize = 33;
/// Length of the QR secret.
pub const QR_SECRET_LEN: usize = 16;
/// Length of a session id.
pub const SESSION_ID_LEN: usize = 16;

/// A random 16-byte scan session id, shown base64url (22 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; SESSION_ID_LEN]);

impl SessionId {
    /// A fresh random session id.
    pub fn random() -> Result<Self, ScanError> {
        let mut id = [0u8; SESSION_ID_LEN];
        crate::fill_random(&mut id)?;
        Ok(SessionId(id))
    }

    /// The base64url form used in URLs and relay paths.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses the base64url form.
    pub fn from_base64(text: &str) -> Result<Self, ScanError> {
        let bytes = decode_b64(text, "会话编号")?;
        let id: [u8; SESSION_ID_LEN] = bytes
            .try_into()
            .map_err(|_| bad("会话编号长度不是 16 字节"))?;
        Ok(SessionId(id))
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionId({})", self.to_base64())
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// Which operation the scan authorises; fixed by the QR and bound into the channel keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// CA authentication (扫码认证 / 扫码绑定 / 同步诚信库).
    Auth,
    /// Seal placement: sign one or more hashes (标书签章, 会话签章).
    Sign,
    /// Generate the bid file: sign the manifest, choose encryption certificates (生成标书).
    Generate,
    /// Decrypt at the opening: ECDH with the envelope's originator keys (扫码解密).
    Decrypt,
}

impl OperationKind {
    /// The token used in the URL and in key derivation.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Auth => "auth",
            OperationKind::Sign => "sign",
            OperationKind::Generate => "generate",
            OperationKind::Decrypt => "decrypt",
        }
    }

    /// Parses the URL token.
    pub fn parse(text: &str) -> Result<Self, ScanError> {
        match text {
            "auth" => Ok(OperationKind::Auth),
            "sign" => Ok(OperationKind::Sign),
            "generate" => Ok(OperationKind::Generate),
            "decrypt" => Ok(OperationKind::Decrypt),
            other => Err(bad(format!("未知操作 {other:?}"))),
        }
    }

    /// zh-CN name shown to the user.
    pub fn name_zh(self) -> &'static str {
        match self {
            OperationKind::Auth => "扫码认证",
            OperationKind::Sign => "扫码签章",
            OperationKind::Generate => "生成投标文件",
            OperationKind::Decrypt => "扫码解密",
        }
    }
}

/// The 16-byte secret carried only in the QR's fragment; zeroized on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct QrSecret(pub(crate) [u8; QR_SECRET_LEN]);

impl QrSecret {
    /// A fresh random secret.
    pub fn random() -> Result<Self, ScanError> {
        let mut s = [0u8; QR_SECRET_LEN];
        crate::fill_random(&mut s)?;
        Ok(QrSecret(s))
    }

    /// Wraps known bytes (tests, and a phone that received the secret some other way).
    pub fn from_bytes(bytes: [u8; QR_SECRET_LEN]) -> Self {
        QrSecret(bytes)
    }

    /// The secret bytes (for key derivation only).
    pub fn expose(&self) -> &[u8; QR_SECRET_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for QrSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QrSecret(<redacted>)")
    }
}

/// A SEC1-compressed P-256 public key that is known to be a valid curve point.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EphemeralKey(pub(crate) [u8; PUBLIC_KEY_LEN]);

impl EphemeralKey {
    /// Validates and wraps a compressed point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ScanError> {
        let arr: [u8; PUBLIC_KEY_LEN] =
            bytes.try_into().map_err(|_| bad("公钥长度不是 33 字节"))?;
        p256::PublicKey::from_sec1_bytes(&arr).map_err(|_| bad("公钥不是有效的 P-256 点"))?;
        Ok(EphemeralKey(arr))
    }

    /// The compressed point bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    pub(crate) fn public_key(&self) -> Result<p256::PublicKey, ScanError> {
        p256::PublicKey::from_sec1_bytes(&self.0).map_err(|_| bad("公钥不是有效的 P-256 点"))
    }
}

impl std::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EphemeralKey({})", URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// Everything in the QR code.
#[derive(Clone, PartialEq, Eq)]
pub struct QrPayload {
    /// Relay base URL, `http://host:port` (the client speaks WebSocket to it).
    pub relay: String,
    /// Session id at the relay.
    pub session: SessionId,
    /// The operation this scan authorises.
    pub op: OperationKind,
    /// Unix seconds after which the phone must not join.
    pub expires_at: u64,
    /// The desktop's ephemeral public key.
    pub desktop_key: EphemeralKey,
    /// The secret known only to whoever saw the QR.
    pub secret: QrSecret,
}

impl std::fmt::Debug for QrPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrPayload")
            .field("relay", &self.relay)
            .field("session", &self.session)
            .field("op", &self.op)
            .field("expires_at", &self.expires_at)
            .field("desktop_key", &self.desktop_key)
            .field("secret", &self.secret)
            .finish()
    }
}

impl QrPayload {
    /// The payload URL (contains the secret: show it only as a QR, never log it).
    pub fn to_url(&self) -> String {
        let mut frag = Vec::with_capacity(PUBLIC_KEY_LEN + QR_SECRET_LEN);
        frag.extend_from_slice(&self.desktop_key.0);
        frag.extend_from_slice(&self.secret.0);
        let url = format!(
            "{PAYLOAD_PREFIX}r={}&s={}&op={}&x={}#{}",
            percent_encode(&self.relay),
            self.session.to_base64(),
            self.op.as_str(),
            self.expires_at,
            URL_SAFE_NO_PAD.encode(&frag)
        );
        frag.zeroize();
        url
    }

    /// The payload URL without its secret fragment, safe for logs.
    pub fn redacted_url(&self) -> String {
        format!(
            "{PAYLOAD_PREFIX}r={}&s={}&op={}&x={}#<secret>",
            percent_encode(&self.relay),
            self.session.to_base64(),
            self.op.as_str(),
            self.expires_at
        )
    }

    /// Parses a scanned payload URL.
    pub fn parse(text: &str) -> Result<Self, ScanError> {
        let text = text.trim();
        if text.len() > MAX_PAYLOAD_LEN {
            return Err(bad(format!(
                "长度 {} 超过上限 {MAX_PAYLOAD_LEN}",
                text.len()
            )));
        }
        let rest = text
            .strip_prefix(PAYLOAD_PREFIX)
            .ok_or_else(|| bad("不是 bidseal://scan 链接"))?;
        let (query, fragment) = rest.split_once('#').ok_or_else(|| bad("缺少密钥片段"))?;
        let (mut relay, mut session, mut op, mut expiry) = (None, None, None, None);
        for pair in query.split('&') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("参数 {pair:?} 缺少 '='")))?;
            let slot = match key {
                "r" => &mut relay,
                "s" => &mut session,
                "op" => &mut op,
                "x" => &mut expiry,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(bad(format!("参数 {key} 重复")));
            }
        }
        let relay = relay.ok_or_else(|| bad("缺少中继地址 r"))?;
        // Canonical form only: every byte the printer would encode must arrive encoded (so
        // printing a parsed payload never makes it longer), and no control characters once
        // decoded (found by fuzzing: raw NULs in `r` parsed, then printed too long).
        if relay.bytes().any(|b| !(keep_char(b) || b == b'%')) {
            return Err(bad("中继地址含有未编码的字符"));
        }
        let relay = percent_decode(relay)?;
        if relay.chars().any(char::is_control) {
            return Err(bad("中继地址含有控制字符"));
        }
        if !(relay.starts_with("http://") || relay.starts_with("https://")) {
            return Err(bad("中继地址必须以 http:// 或 https:// 开头"));
        }
        let session = SessionId::from_base64(session.ok_or_else(|| bad("缺少会话编号 s"))?)?;
        let op = OperationKind::parse(op.ok_or_else(|| bad("缺少操作 op"))?)?;
        let expires_at = expiry
            .ok_or_else(|| bad("缺少有效期 x"))?
            .parse::<u64>()
            .map_err(|_| bad("有效期 x 不是数字"))?;
        let mut frag = decode_b64(fragment, "密钥片段")?;
        if frag.len() != PUBLIC_KEY_LEN + QR_SECRET_LEN {
            frag.zeroize();
            return Err(bad("密钥片段长度不是 49 字节"));
        }
        let desktop_key = EphemeralKey::from_bytes(&frag[..PUBLIC_KEY_LEN]);
        let mut secret = [0u8; QR_SECRET_LEN];
        secret.copy_from_slice(&frag[PUBLIC_KEY_LEN..]);
        frag.zeroize();
        let secret = QrSecret(secret);
        Ok(QrPayload {
            relay,
            session,
            op,
            expires_at,
            desktop_key: desktop_key?,
            secret,
        })
    }

    /// The token the phone presents to the relay to join this session (see
    /// [`crate::wire::JoinToken`]); the desktop registers its commitment.
    pub fn join_token(&self) -> Result<crate::wire::JoinToken, ScanError> {
        crate::wire::JoinToken::derive(&self.secret, &self.session)
    }

    /// `Err(Expired)` when `now` (unix seconds) is past the expiry.
    pub fn check_not_expired(&self, now: u64) -> Result<(), ScanError> {
        if now > self.expires_at {
            Err(ScanError::Expired)
        } else {
            Ok(())
        }
    }
}

fn bad(detail: impl Into<String>) -> ScanError {
    ScanError::BadPayload {
        detail: detail.into(),
    }
}

fn decode_b64(text: &str, what: &str) -> Result<Vec<u8>, ScanError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad(format!("{what}不是有效的 base64url")))
}

/// Characters kept as is in the relay parameter; everything else is `%XX`.
fn keep_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/@!$'()*,;[]".contains(&b)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if keep_char(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Result<String, ScanError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("中继地址的百分号编码无效"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("中继地址不是 UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QrPayload {
        let key = p256::SecretKey::from_slice(&[7u8; 32]).unwrap_or_else(|_| unreachable!());
        let point =
            p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key.public_key(), true);
        QrPayload {
            relay: "http://127.0.0.1:47001".into(),
            session: SessionId([9u8; 16]),
            op: OperationKind::Sign,
            expires_at: 1_800_000_000,
            desktop_key: EphemeralKey::from_bytes(point.as_bytes())
                .unwrap_or_else(|e| panic!("{e}")),
            secret: QrSecret([3u8; 16]),
        }
    }

    #[test]
    fn payload_url_round_trips_and_stays_short() {
        let p = sample();
        let url = p.to_url();
        assert!(url.len() < 180, "{} bytes: {url}", url.len());
        assert_eq!(QrPayload::parse(&url), Ok(p.clone()));
        assert!(!p.redacted_url().contains(&url[url.len() - 10..]));
        assert!(!format!("{p:?}").contains("[3, 3"));
    }

    #[test]
    fn relay_with_query_characters_round_trips() {
        let mut p = sample();
        p.relay = "https://relay.example.cn/a b?x=1&y#".into();
        assert_eq!(
            QrPayload::parse(&p.to_url()).map(|q| q.relay),
            Ok(p.relay.clone())
        );
    }

    #[test]
    fn malformed_payloads_are_refused_with_a_reason() {
        let url = sample().to_url();
        let (head, frag) = url.split_once('#').unwrap_or_default();
        let cases = [
            String::new(),
            "https://evil/".into(),
            head.to_string(),
            format!("{head}#AAAA"),
            format!("{head}&s=AAAAAAAAAAAAAAAAAAAAAA#{frag}"),
            url.replace("op=sign", "op=pay"),
            url.replace("x=1800000000", "x=soon"),
            url.replace("r=http", "r=ftp"),
            format!("{}#{}", head, "A".repeat(66)),
            url.replace("r=http", "r=%GGhttp"),
            "x".repeat(5000),
        ];
        for case in cases {
            let err = QrPayload::parse(&case).err();
            assert!(
                matches!(err, Some(ScanError::BadPayload { .. })),
                "{case:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn expiry_is_checked_against_the_clock() {
        let p = sample();
        assert_eq!(p.check_not_expired(p.expires_at), Ok(()));
        assert_eq!(
            p.check_not_expired(p.expires_at + 1),
            Err(ScanError::Expired)
        );
    }
}
