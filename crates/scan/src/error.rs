//! Errors of the scan protocol, each with a stable code and a zh-CN message that tells the
//! user what to do.
//!
//! Guarantees: every failure a desktop or phone can meet in the scan channel is one of these
//! variants; the `Display` text is the zh-CN message, `code()` is stable across versions.
//! Does not cover refusals decided by the phone's user or the co-signing service: those are
//! [`crate::RefusalReason`], delivered inside an authenticated response.

/// A failure of the scan channel, its transport or its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The QR payload could not be parsed or is not ours.
    #[error("二维码内容无效（{detail}），请扫描 BidSeal 桌面端显示的二维码")]
    BadPayload { detail: String },
    /// The QR (or the scan session) expired before the phone joined.
    #[error("二维码已过期，请在桌面端刷新二维码后重新扫码")]
    Expired,
    /// A frame failed authentication: the relay or the network changed it, or it belongs to
    /// another session.
    #[error("消息认证失败：数据在传输中被篡改或不属于本次会话，本次扫码已作废，请重新扫码")]
    Tampered,
    /// An authentic frame arrived out of order: a replay, a dropped or a reordered frame.
    #[error("消息顺序异常（重放、丢失或乱序：应为第 {expected} 条，收到第 {got} 条），本次扫码已作废，请重新扫码")]
    OutOfOrder { expected: u64, got: u64 },
    /// A frame or message is not well formed.
    #[error("消息格式错误（{detail}），本次扫码已作废，请重新扫码")]
    Malformed { detail: String },
    /// An authentic answer of the phone that the protocol does not allow (a size, format or
    /// index out of bounds: [`crate::answer`]); nothing of it was used.
    #[error("手机的应答不符合协议（{detail}），未予采用，本次扫码已作废：请确认手机端为 BidSeal 正式版本后重新扫码")]
    BadAnswer { detail: String },
    /// A message is larger than the protocol allows.
    #[error("消息过大（{size} 字节，上限 {limit} 字节），请减少一次签章的文件或页数")]
    TooLarge { size: usize, limit: usize },
    /// A message arrived that is not allowed in the current state.
    #[error("扫码协议状态错误（{detail}），本次扫码已作废，请重新扫码")]
    Protocol { detail: String },
    /// The request's operation differs from the one the QR announced.
    #[error("请求的操作（{got}）与二维码声明的操作（{expected}）不符，手机已拒绝")]
    OperationMismatch { expected: String, got: String },
    /// The phone joined but did not answer in time.
    #[error("手机未在规定时间内确认，请重新扫码")]
    PhoneTimeout,
    /// Session mode ended after its idle timeout.
    #[error("签章会话空闲超时，已自动结束；如需继续请重新扫码建立会话")]
    IdleTimeout,
    /// The session was ended (by either side) and can carry no more requests.
    #[error("签章会话已结束；如需继续请重新扫码建立会话")]
    SessionEnded,
    /// The connection to the relay broke (relay restarted, network down).
    #[error("与扫码中继的连接中断（{detail}），请检查网络后重新扫码")]
    RelayLost { detail: String },
    /// The other end left the relay before the scan finished.
    #[error("对方已断开连接（{who}关闭或网络中断），请重新扫码")]
    PeerLeft { who: String },
    /// The relay could not be reached at all.
    #[error("无法连接扫码中继 {relay}（{detail}），请检查中继地址与网络")]
    RelayUnreachable { relay: String, detail: String },
    /// The relay refused the request with a code of its own.
    #[error("扫码中继拒绝了请求（{code}：{detail}）")]
    Relay { code: String, detail: String },
    /// The relay does not know this session (never created, expired or relay restarted).
    #[error("扫码会话不存在或已结束，请在桌面端刷新二维码后重新扫码")]
    UnknownSession,
    /// Another phone already scanned this single-use QR.
    #[error("该二维码已被扫描过（二维码只能使用一次），请在桌面端刷新二维码")]
    AlreadyScanned,
    /// The payload does not fit in a QR of version 10 at error correction M.
    #[error("二维码内容过长（{bytes} 字节），请使用更短的中继地址")]
    QrTooLarge { bytes: usize },
    /// Writing the QR image failed.
    #[error("无法写入二维码图片 {path}（{detail}）")]
    Io { path: String, detail: String },
    /// The system clock or random source failed.
    #[error("系统时钟或随机数不可用（{detail}）")]
    System { detail: String },
    /// The relay refused to let this phone join: it did not prove it saw the QR.
    #[error("扫码中继拒绝加入：二维码内容不完整或不属于该会话，请重新扫描桌面端显示的二维码")]
    NotAdmitted,
    /// No TLS connection to an `https://` relay (unknown CA, bad certificate, bad CA file).
    #[error("无法与扫码中继建立安全连接（{detail}），请检查中继证书，或用 --relay-ca / BIDSEAL_RELAY_CA 指定签发它的 CA 证书文件")]
    RelayTls { detail: String },
}

impl ScanError {
    /// Stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ScanError::BadPayload { .. } => "scan.bad_payload",
            ScanError::Expired => "scan.expired",
            ScanError::Tampered => "scan.tampered",
            ScanError::OutOfOrder { .. } => "scan.out_of_order",
            ScanError::Malformed { .. } => "scan.malformed",
            ScanError::BadAnswer { .. } => "scan.bad_answer",
            ScanError::TooLarge { .. } => "scan.too_large",
            ScanError::Protocol { .. } => "scan.protocol",
            ScanError::OperationMismatch { .. } => "scan.operation_mismatch",
            ScanError::PhoneTimeout => "scan.phone_timeout",
            ScanError::IdleTimeout => "scan.idle_timeout",
            ScanError::SessionEnded => "scan.session_ended",
            ScanError::RelayLost { .. } => "scan.relay_lost",
            ScanError::PeerLeft { .. } => "scan.peer_left",
            ScanError::RelayUnreachable { .. } => "scan.relay_unreachable",
            ScanError::Relay { .. } => "scan.relay_refused",
            ScanError::UnknownSession => "scan.unknown_session",
            ScanError::AlreadyScanned => "scan.already_scanned",
            ScanError::QrTooLarge { .. } => "scan.qr_too_large",
            ScanError::Io { .. } => "scan.io",
            ScanError::System { .. } => "scan.system",
            ScanError::NotAdmitted => "scan.not_admitted",
            ScanError::RelayTls { .. } => "scan.relay_tls",
        }
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        ScanError::Malformed {
            detail: detail.into(),
        }
    }

    pub(crate) fn protocol(detail: impl Into<String>) -> Self {
        ScanError::Protocol {
            detail: detail.into(),
        }
    }
}
