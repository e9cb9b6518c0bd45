//! Errors of bid-file generation and opening, each with a stable code and a zh-CN message that
//! says what to do.

use std::path::Path;

/// Everything that can go wrong writing or opening a bid file.
#[derive(Debug, thiserror::Error)]
pub enum BidFileError {
    /// Reading or writing a file failed.
    #[error("读写 {path} 失败：{why}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        why: String,
    },
    /// The bidder's certificate does not chain to a CA the tender accepts.
    #[error("投标人证书（{subject}）不是招标文件认可的 CA 签发的（{why}），请使用招标文件认可的 CA 证书")]
    CaNotAccepted {
        /// Certificate subject.
        subject: String,
        /// Why the chain failed.
        why: String,
    },
    /// The certificate belongs to another enterprise than the project's bidder.
    #[error("证书单位“{cert_name}”（统一社会信用代码 {cert_code}）与本项目投标人“{bidder_name}”（{bidder_code}）不一致，请使用本单位的证书")]
    WrongCompany {
        /// Organisation in the certificate.
        cert_name: String,
        /// Credit code in the certificate.
        cert_code: String,
        /// The project's bidder.
        bidder_name: String,
        /// The project's bidder credit code.
        bidder_code: String,
    },
    /// An encryption certificate chosen on the phone is not usable.
    #[error("参与加密的证书无效：{why}")]
    RecipientRefused {
        /// Why, zh-CN.
        why: String,
    },
    /// A part name is not a plain file name, or appears twice.
    #[error("投标文件包中的文件名“{name}”不合规（必须是不含路径的唯一文件名）")]
    BadPartName {
        /// The name.
        name: String,
    },
    /// The manifest signature could not be built.
    #[error("投标文件清单签名失败：{why}")]
    ManifestSignature {
        /// Why.
        why: String,
    },
    /// The envelope layer failed (not a recipient, tampered, malformed...).
    #[error("{0}")]
    Envelope(#[from] bidseal_cms::envelope::EnvelopeError),
    /// The decrypted package is not a valid bid package.
    #[error("投标文件包结构无效（{why}），文件可能已损坏或被篡改")]
    PackageInvalid {
        /// What is wrong.
        why: String,
    },
}

impl BidFileError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BidFileError::Io { .. } => "BID_IO",
            BidFileError::CaNotAccepted { .. } => "BID_CA_NOT_ACCEPTED",
            BidFileError::WrongCompany { .. } => "BID_WRONG_COMPANY",
            BidFileError::RecipientRefused { .. } => "BID_RECIPIENT_REFUSED",
            BidFileError::BadPartName { .. } => "BID_BAD_PART_NAME",
            BidFileError::ManifestSignature { .. } => "BID_MANIFEST_SIGNATURE",
            BidFileError::Envelope(e) => e.code(),
            BidFileError::PackageInvalid { .. } => "BID_PACKAGE_INVALID",
        }
    }

    pub(crate) fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        BidFileError::Io {
            path: path.display().to_string(),
            why: e.to_string(),
        }
    }

    pub(crate) fn invalid(why: impl Into<String>) -> Self {
        BidFileError::PackageInvalid { why: why.into() }
    }
}
