//! Everything that can go wrong while sealing or opening a bid envelope, each with a stable
//! code (`E_ENV_…`) and a zh-CN message that tells the user what to do.

use std::path::PathBuf;
use thiserror::Error;

/// Why an envelope could not be made, read or opened.
#[derive(Debug, Error)]
pub enum EnvelopeError {
    /// No recipient certificate was given.
    #[error("没有选择接收证书：请至少选择一张可解密投标文件的证书")]
    NoRecipients,
    /// More than [`super::MAX_RECIPIENTS`] recipients.
    #[error("接收证书过多（{count} 张）：一个投标文件最多可加密给 {max} 张证书")]
    TooManyRecipients {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The same certificate (issuer + serial) was given twice.
    #[error("接收证书重复：“{subject}”（序列号 {serial}）被选择了两次，请去掉重复的证书")]
    DuplicateRecipient {
        /// Subject of the repeated certificate.
        subject: String,
        /// Its serial number (hex).
        serial: String,
    },
    /// A certificate file could not be parsed.
    #[error("无法读取接收证书：{detail}")]
    CertificateUnreadable {
        /// What the certificate parser said.
        detail: String,
    },
    /// The certificate's key is not ECC P-256 (RSA, SM2, other curves).
    #[error("证书“{subject}”的公钥类型为 {key_type}，不能作为投标文件的接收证书：请选择 ECC P-256（prime256v1）加密证书")]
    UnsupportedKeyType {
        /// Subject of the certificate.
        subject: String,
        /// What kind of key it has, e.g. "RSA" or "SM2".
        key_type: String,
    },
    /// keyUsage is present but lacks keyAgreement.
    #[error("证书“{subject}”的密钥用法不含“密钥协商”（keyAgreement），不能用于加密投标文件：请选择加密证书")]
    NoKeyAgreementUsage {
        /// Subject of the certificate.
        subject: String,
    },
    /// The certificate is outside its validity window.
    #[error("证书“{subject}”{state}（有效期 {not_before} 至 {not_after}，UTC），不能作为接收证书：请更换有效证书")]
    CertificateNotValid {
        /// Subject of the certificate.
        subject: String,
        /// "已过期" or "尚未生效".
        state: &'static str,
        /// Start of validity (UTC, RFC 3339-like).
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// The offered certificate is not among the envelope's recipients.
    #[error("不是本投标文件的接收者；可解密的证书为：{}", .recipients.join("；"))]
    NotRecipient {
        /// Every recipient of the envelope, as "颁发者 …，序列号 …".
        recipients: Vec<String>,
    },
    /// The private key does not belong to the offered certificate.
    #[error("私钥与证书不匹配：请选择与证书“{subject}”配对的私钥")]
    KeyMismatch {
        /// Subject of the certificate.
        subject: String,
    },
    /// A private key file could not be parsed.
    #[error("无法读取私钥：{detail}（需要 PEM 格式的 P-256 私钥）")]
    KeyUnreadable {
        /// What the parser said.
        detail: String,
    },
    /// The key-agreement step (local key or phone) failed.
    #[error("密钥协商失败：{detail}")]
    Agreement {
        /// What the key-agreement implementation reported.
        detail: String,
    },
    /// RFC 3394 unwrap failed: wrong key or changed recipient info.
    #[error("无法解开内容密钥：私钥与本文件的接收者信息不符，或文件已被篡改；请确认证书与私钥正确，或向投标人重新获取文件")]
    KeyUnwrapFailed,
    /// The file is not a well-formed envelope.
    #[error("投标文件格式错误（第 {offset} 字节处：{what}）：文件不是有效的加密投标文件，或已损坏、被篡改；请重新获取原文件")]
    Malformed {
        /// Byte offset where the problem was found.
        offset: u64,
        /// What was wrong, in zh-CN.
        what: String,
    },
    /// The file ends too early.
    #[error(
        "投标文件不完整（在第 {offset} 字节处意外结束）：文件可能未下载或复制完整，请重新获取"
    )]
    Truncated {
        /// Where the data ended.
        offset: u64,
    },
    /// A declared length exceeds what we accept.
    #[error("投标文件中声明的{what}长度 {len} 字节超过上限 {limit} 字节，文件已损坏或被篡改")]
    TooLarge {
        /// Which part.
        what: &'static str,
        /// The declared length.
        len: u64,
        /// Our limit.
        limit: u64,
    },
    /// A valid CMS feature we do not implement.
    #[error("不支持的加密文件格式：{what}；请使用 BidSeal 或 openssl cms -encrypt -aes-256-gcm 生成的文件")]
    Unsupported {
        /// What is unsupported.
        what: String,
    },
    /// The recipient list does not match the digest bound into the nonce.
    #[error("投标文件的接收者列表已被篡改（与加密时的记录不符），未输出任何内容；请向投标人重新获取文件")]
    RecipientsTampered,
    /// The GCM tag did not verify.
    #[error("投标文件已被篡改或损坏（完整性校验失败），未输出任何内容；请向投标人重新获取文件")]
    Tampered,
    /// The input file changed size while being encrypted.
    #[error("加密过程中原文件 {path} 被修改（长度变化），请关闭占用该文件的程序后重试")]
    InputChanged {
        /// The input file.
        path: PathBuf,
    },
    /// The plaintext is longer than AES-GCM allows.
    #[error("文件过大（{len} 字节），超过 AES-GCM 单个文件上限 {limit} 字节")]
    PlaintextTooLong {
        /// The length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A file could not be read or written.
    #[error("文件读写失败（{path}）：{source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl EnvelopeError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeError::NoRecipients => "E_ENV_NO_RECIPIENTS",
            EnvelopeError::TooManyRecipients { .. } => "E_ENV_TOO_MANY_RECIPIENTS",
            EnvelopeError::DuplicateRecipient { .. } => "E_ENV_DUPLICATE_RECIPIENT",
            EnvelopeError::CertificateUnreadable { .. } => "E_ENV_CERT_UNREADABLE",
            EnvelopeError::UnsupportedKeyType { .. } => "E_ENV_KEY_TYPE",
            EnvelopeError::NoKeyAgreementUsage { .. } => "E_ENV_KEY_USAGE",
            EnvelopeError::CertificateNotValid { .. } => "E_ENV_CERT_NOT_VALID",
            EnvelopeError::NotRecipient { .. } => "E_ENV_NOT_RECIPIENT",
            EnvelopeError::KeyMismatch { .. } => "E_ENV_KEY_MISMATCH",
            EnvelopeError::KeyUnreadable { .. } => "E_ENV_KEY_UNREADABLE",
            EnvelopeError::Agreement { .. } => "E_ENV_AGREEMENT",
            EnvelopeError::KeyUnwrapFailed => "E_ENV_KEY_UNWRAP",
            EnvelopeError::Malformed { .. } => "E_ENV_MALFORMED",
            EnvelopeError::Truncated { .. } => "E_ENV_TRUNCATED",
            EnvelopeError::TooLarge { .. } => "E_ENV_TOO_LARGE",
            EnvelopeError::Unsupported { .. } => "E_ENV_UNSUPPORTED",
            EnvelopeError::RecipientsTampered => "E_ENV_RECIPIENTS_TAMPERED",
            EnvelopeError::Tampered => "E_ENV_TAMPERED",
            EnvelopeError::InputChanged { .. } => "E_ENV_INPUT_CHANGED",
            EnvelopeError::PlaintextTooLong { .. } => "E_ENV_TOO_LONG",
            EnvelopeError::Io { .. } => "E_ENV_IO",
        }
    }

    pub(crate) fn malformed(offset: u64, what: impl Into<String>) -> Self {
        EnvelopeError::Malformed {
            offset,
            what: what.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EnvelopeError::Io {
            path: path.into(),
            source,
        }
    }
}
