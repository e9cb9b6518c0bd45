//! Tender packages (招标文件): the format (`manifest`), the platform signature (`signature`), the
//! zip container and its safety limits (`package`), and trust in the publishing platform.
//!
//! The format is documented for outsiders in `docs/tender-format.md`.
//!
//! Guarantees: [`verify`] returns a package only if it is structurally sound, signed by the
//! certificate inside it, and (when the caller pins platforms) that certificate is one of the
//! pinned ones. Does not: fetch tenders from a platform (the platform crate publishes them).

pub mod demo;
pub mod manifest;
pub mod package;
pub mod signature;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use manifest::{
    BidSection, FieldKind, GeneratedForm, Lot, PackagedFile, PageAnchor, PlatformRef,
    PriceFormField, SealKind, SectionKind, SectionPage, SigningNode, TenderManifest, TenderProject,
    Tenderer,
};
pub use package::{make, open, PackageInputs, TenderPackage};
pub use signature::{PlatformCertificate, PlatformSigner};

/// What a tender author writes (`tender make --spec`): the manifest without the parts the
/// packer computes (format tag, issue time, file hashes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenderSpec {
    pub project: TenderProject,
    pub tenderer: Tenderer,
    pub platform: PlatformRef,
    #[serde(with = "time::serde::rfc3339")]
    pub bid_deadline: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub opening_time: OffsetDateTime,
    pub sections: Vec<BidSection>,
    pub price_form: Vec<PriceFormField>,
    pub signing_nodes: Vec<SigningNode>,
}

/// Platform certificates the user trusts to publish tenders (pinned by certificate).
#[derive(Debug, Clone, Default)]
pub struct TrustedPlatforms {
    certs: Vec<PlatformCertificate>,
}

impl TrustedPlatforms {
    /// Trusts these certificates.
    pub fn pinned(certs: Vec<PlatformCertificate>) -> Self {
        Self { certs }
    }

    /// Whether no platform is pinned (only the package's own signature can be checked).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// How far a verified package can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "level")]
pub enum PlatformTrust {
    /// Signed by a pinned platform certificate.
    Pinned { fingerprint: String },
    /// Signed by the certificate inside the package, which nobody pinned: fine to inspect,
    /// not enough to import.
    SignatureOnly { fingerprint: String },
}

/// A package that passed [`verify`].
#[derive(Debug, Clone)]
pub struct VerifiedTender {
    pub package: TenderPackage,
    pub trust: PlatformTrust,
}

/// Opens `path`, checks everything [`package::open`] checks, the platform certificate's
/// validity at `now`, and, when `trusted` is not empty, that the signer is pinned.
pub fn verify(
    path: &std::path::Path,
    trusted: &TrustedPlatforms,
    now: OffsetDateTime,
) -> Result<VerifiedTender, TenderError> {
    let package = package::open(path)?;
    package
        .platform
        .check_validity(now.unix_timestamp().max(0) as u64)?;
    let fingerprint = package.platform.fingerprint().to_string();
    let trust = if trusted.is_empty() {
        PlatformTrust::SignatureOnly { fingerprint }
    } else if trusted.certs.iter().any(|c| c.fingerprint() == fingerprint) {
        PlatformTrust::Pinned { fingerprint }
    } else {
        return Err(TenderError::UntrustedPlatform {
            subject: package.platform.subject(),
            fingerprint,
        });
    };
    Ok(VerifiedTender { package, trust })
}

/// Everything that can go wrong with a tender package. Each has a stable code ([`Self::code`])
/// and a zh-CN message telling the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum TenderError {
    #[error("无法读取 {path}: {why}")]
    Io { path: String, why: String },
    #[error("招标文件包不是有效的 zip 文件（{why}），请向交易平台重新下载")]
    NotAZip { why: String },
    #[error("招标文件包条目过多（{count} 个，上限 {limit}），拒绝打开")]
    TooManyEntries { count: usize, limit: usize },
    #[error("招标文件包条目“{entry}”超过大小上限 {limit} 字节，拒绝打开")]
    TooLarge { entry: String, limit: u64 },
    #[error("招标文件包条目“{entry}”压缩比异常（疑似压缩炸弹），拒绝打开")]
    ZipBomb { entry: String },
    #[error("招标文件包含不允许的条目“{name}”（路径穿越、符号链接、重复或未知文件），拒绝打开")]
    ForbiddenEntry { name: String },
    #[error("招标文件包含清单未列出的文件“{name}”，可能被篡改，请向交易平台重新下载")]
    UnlistedEntry { name: String },
    #[error("招标文件包缺少“{name}”，请向交易平台重新下载")]
    MissingEntry { name: String },
    #[error("招标文件包条目“{entry}”已损坏（{why}），请向交易平台重新下载")]
    Corrupt { entry: String, why: String },
    #[error("招标文件包未签名（缺少平台签名或平台证书），不能使用，请向交易平台重新下载")]
    Unsigned,
    #[error("招标文件清单的平台签名无效：文件已被篡改或不是该平台发布，请向交易平台重新下载")]
    SignatureInvalid,
    #[error("招标文件“{entry}”与清单中的摘要不符：文件已被篡改，请向交易平台重新下载")]
    HashMismatch { entry: String },
    #[error("不支持的招标文件格式“{found}”，请升级 BidSeal")]
    UnsupportedFormat { found: String },
    #[error("招标文件清单不合规：{why}")]
    ManifestInvalid { why: String },
    #[error("平台证书无效：{why}")]
    PlatformCertificate { why: String },
    #[error("平台证书不在有效期内（{not_before} 至 {not_after}），请向交易平台确认")]
    PlatformCertificateExpired {
        not_before: String,
        not_after: String,
    },
    #[error("招标文件由未受信任的平台证书签发（{subject}，SHA-256 {fingerprint}），请确认来源后使用该平台的证书")]
    UntrustedPlatform {
        subject: String,
        fingerprint: String,
    },
    #[error("平台私钥无法读取（需要 PKCS#8 PEM 格式的 P-256 私钥）")]
    PlatformKey,
    #[error("平台私钥与平台证书不匹配")]
    KeyCertMismatch,
    #[error("写出招标文件包失败：{why}")]
    Write { why: String },
}

impl TenderError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TenderError::Io { .. } => "TENDER_IO",
            TenderError::NotAZip { .. } => "TENDER_NOT_ZIP",
            TenderError::TooManyEntries { .. } => "TENDER_TOO_MANY_ENTRIES",
            TenderError::TooLarge { .. } => "TENDER_TOO_LARGE",
            TenderError::ZipBomb { .. } => "TENDER_ZIP_BOMB",
            TenderError::ForbiddenEntry { .. } => "TENDER_FORBIDDEN_ENTRY",
            TenderError::UnlistedEntry { .. } => "TENDER_UNLISTED_ENTRY",
            TenderError::MissingEntry { .. } => "TENDER_MISSING_ENTRY",
            TenderError::Corrupt { .. } => "TENDER_CORRUPT",
            TenderError::Unsigned => "TENDER_UNSIGNED",
            TenderError::SignatureInvalid => "TENDER_SIGNATURE_INVALID",
            TenderError::HashMismatch { .. } => "TENDER_HASH_MISMATCH",
            TenderError::UnsupportedFormat { .. } => "TENDER_UNSUPPORTED_FORMAT",
            TenderError::ManifestInvalid { .. } => "TENDER_MANIFEST_INVALID",
            TenderError::PlatformCertificate { .. } => "TENDER_PLATFORM_CERT",
            TenderError::PlatformCertificateExpired { .. } => "TENDER_PLATFORM_CERT_EXPIRED",
            TenderError::UntrustedPlatform { .. } => "TENDER_UNTRUSTED_PLATFORM",
            TenderError::PlatformKey => "TENDER_PLATFORM_KEY",
            TenderError::KeyCertMismatch => "TENDER_KEY_CERT_MISMATCH",
            TenderError::Write { .. } => "TENDER_WRITE",
        }
    }
}
