//! What the trading platform signs for a bidder besides the tender: integrity-library records
//! (诚信库, `bidseal-record/1`), the company's record list as a whole (`bidseal-library/1`),
//! upload receipts (回执, `bidseal-receipt/1`) and the opening reading (唱标, `bidseal-opening/1`).
//! Shared by the platform (which signs) and the bid tool (which verifies), so the two read one
//! format.
//!
//! Each document travels as its exact JSON bytes plus a base64 DER ECDSA P-256 / SHA-256
//! signature by the platform certificate — the one pinned from the tender package
//! ([`crate::tender::PlatformCertificate`]). [`verify_signed`] checks signature, format and the
//! fingerprint the document names, and returns the parsed document.
//!
//! Guarantees: a document is returned only if the signature over its exact bytes verifies
//! with the pinned certificate and it names that certificate. Does not: decide whether the
//! facts inside are current (the caller compares versions, bidder, tender).

use crate::tender::PlatformCertificate;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Format tag of a signed record.
pub const RECORD_FORMAT: &str = "bidseal-record/1";
/// Format tag of a signed receipt.
pub const RECEIPT_FORMAT: &str = "bidseal-receipt/1";
/// Format tag of a signed opening reading (唱标).
pub const OPENING_FORMAT: &str = "bidseal-opening/1";
/// Format tag of a company's signed record list.
pub const LIBRARY_FORMAT: &str = "bidseal-library/1";

/// A company as the platform names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyRef {
    /// 统一社会信用代码.
    pub uscc: String,
    /// 企业名称.
    pub name: String,
}

/// The kinds of integrity-library record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 基本信息.
    Basic,
    /// 资质 (type, grade, number, validity).
    Qualification,
    /// 人员 (with their certificates).
    Personnel,
    /// 业绩.
    Performance,
    /// 财务.
    Finance,
    /// 奖项.
    Award,
}

impl RecordKind {
    /// Every kind, in display order.
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Basic,
        RecordKind::Qualification,
        RecordKind::Personnel,
        RecordKind::Performance,
        RecordKind::Finance,
        RecordKind::Award,
    ];

    /// The tag stored and sent (`qualification`, ...).
    pub fn tag(self) -> &'static str {
        match self {
            RecordKind::Basic => "basic",
            RecordKind::Qualification => "qualification",
            RecordKind::Personnel => "personnel",
            RecordKind::Performance => "performance",
            RecordKind::Finance => "finance",
            RecordKind::Award => "award",
        }
    }

    /// The zh-CN name.
    pub fn zh(self) -> &'static str {
        match self {
            RecordKind::Basic => "基本信息",
            RecordKind::Qualification => "资质",
            RecordKind::Personnel => "人员",
            RecordKind::Performance => "业绩",
            RecordKind::Finance => "财务",
            RecordKind::Award => "奖项",
        }
    }

    /// Parses a tag.
    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }
}

/// One version of a record, as signed (field order is the serialization order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRecord {
    /// [`RECORD_FORMAT`].
    pub format: String,
    /// Record id.
    pub id: String,
    /// Version, from 1, bumped on every edit.
    pub version: i64,
    /// The company it belongs to.
    pub company: CompanyRef,
    /// Kind.
    pub kind: RecordKind,
    /// Short title.
    pub title: String,
    /// Kind-specific fields.
    pub fields: Map<String, Value>,
    /// When the platform signed this version, RFC 3339 UTC.
    pub signed_at: String,
    /// SHA-256 fingerprint of the signing platform certificate.
    pub platform_fingerprint: String,
}

/// The tender a receipt is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptTender {
    /// Platform id of the tender.
    pub id: String,
    /// 项目编号.
    pub project_id: String,
    /// 标段编号.
    pub lot_id: String,
    /// SHA-256 of the tender manifest (`tender.json`).
    pub manifest_sha256: String,
}

/// An upload receipt (回执), as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// [`RECEIPT_FORMAT`].
    pub format: String,
    /// Receipt id.
    pub id: String,
    /// 1 for the bidder's first receipt for this tender, then 2, 3, … (the latest wins).
    pub sequence: i64,
    /// `submit`, `replace` or `withdraw`.
    pub action: String,
    /// The tender.
    pub tender: ReceiptTender,
    /// The bidder.
    pub bidder: CompanyRef,
    /// SHA-256 of the bid file (for a withdrawal: of the bid withdrawn).
    pub sha256: String,
    /// Size of the bid file, bytes.
    pub size: i64,
    /// The platform's time, RFC 3339 UTC.
    pub received_at: String,
    /// The same, Unix seconds.
    pub received_at_unix: i64,
    /// SHA-256 fingerprint of the platform certificate that signs.
    pub platform_fingerprint: String,
}

/// One bid of an opening reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningBid {
    /// The platform's bid id.
    pub bid: String,
    /// The bidder.
    pub bidder: CompanyRef,
    /// SHA-256 of the bid file opened (the one its latest receipt names).
    pub bid_sha256: String,
    /// `decrypted` or `failed`.
    pub state: String,
    /// Stable code of the failure.
    pub code: Option<String>,
    /// Why it failed, zh-CN.
    pub reason: Option<String>,
    /// 唱标 fields of the verified bid manifest (empty when failed).
    pub price: std::collections::BTreeMap<String, String>,
    /// The same as read out, labelled by the tender's price form.
    pub reading: Vec<String>,
}

/// The opening reading (唱标一览表) the platform publishes when a remote opening ends, as
/// signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedOpeningReport {
    /// [`OPENING_FORMAT`].
    pub format: String,
    /// The tender.
    pub tender: ReceiptTender,
    /// When staff started the opening, Unix seconds.
    pub started_at_unix: i64,
    /// When the platform signed the reading, RFC 3339 UTC.
    pub published_at: String,
    /// Every bid opened, in the hall's order.
    pub bids: Vec<OpeningBid>,
    /// SHA-256 fingerprint of the platform certificate that signs.
    pub platform_fingerprint: String,
}

/// One record as a signed list names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryEntry {
    /// Record id.
    pub id: String,
    /// Its current version.
    pub version: i64,
    /// SHA-256 of its signed bytes.
    pub sha256: String,
}

/// A company's whole record list as signed: which records exist now, at which version — so a
/// record left out of an answer is detectable, not "removed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedLibrary {
    /// [`LIBRARY_FORMAT`].
    pub format: String,
    /// The company.
    pub company: CompanyRef,
    /// Grows with every change of the company's records (add, edit, delete).
    pub list_version: i64,
    /// When the platform signed the list, RFC 3339 UTC.
    pub signed_at: String,
    /// The same, Unix seconds.
    pub signed_at_unix: i64,
    /// Every record of the company, by id.
    pub records: Vec<LibraryEntry>,
    /// SHA-256 fingerprint of the platform certificate that signs.
    pub platform_fingerprint: String,
}

/// A document that names the certificate that signed it.
pub trait PlatformSigned: DeserializeOwned {
    /// The format tag it must carry.
    const FORMAT: &'static str;
    /// Its format field.
    fn format(&self) -> &str;
    /// The fingerprint it names.
    fn platform_fingerprint(&self) -> &str;
}

impl PlatformSigned for SignedRecord {
    const FORMAT: &'static str = RECORD_FORMAT;
    fn format(&self) -> &str {
        &self.format
    }
    fn platform_fingerprint(&self) -> &str {
        &self.platform_fingerprint
    }
}

impl PlatformSigned for SignedReceipt {
    const FORMAT: &'static str = RECEIPT_FORMAT;
    fn format(&self) -> &str {
        &self.format
    }
    fn platform_fingerprint(&self) -> &str {
        &self.platform_fingerprint
    }
}

impl PlatformSigned for SignedOpeningReport {
    const FORMAT: &'static str = OPENING_FORMAT;
    fn format(&self) -> &str {
        &self.format
    }
    fn platform_fingerprint(&self) -> &str {
        &self.platform_fingerprint
    }
}

impl PlatformSigned for SignedLibrary {
    const FORMAT: &'static str = LIBRARY_FORMAT;
    fn format(&self) -> &str {
        &self.format
    }
    fn platform_fingerprint(&self) -> &str {
        &self.platform_fingerprint
    }
}

/// Why a platform document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformDocError {
    /// The signature does not verify with the pinned certificate.
    #[error("平台签名无效（内容被改动或不是该平台签发）")]
    BadSignature,
    /// The signature is not base64.
    #[error("平台签名格式错误")]
    SignatureEncoding,
    /// Signed, but not a document of the expected format.
    #[error("平台文档格式不符（{0}）")]
    Format(String),
    /// Signed by the pinned key but naming another certificate.
    #[error("平台文档声明的平台证书（{named}）与招标文件中的平台证书不一致")]
    OtherPlatform {
        /// The fingerprint the document names.
        named: String,
    },
}

impl PlatformDocError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PlatformDocError::BadSignature | PlatformDocError::SignatureEncoding => {
                "E_PLATFORM_SIGNATURE"
            }
            PlatformDocError::Format(_) => "E_PLATFORM_DOC_FORMAT",
            PlatformDocError::OtherPlatform { .. } => "E_PLATFORM_SIGNATURE",
        }
    }
}

/// SHA-256 of a document's exact bytes, lower-case hex (how a bid cites a record).
pub fn document_sha256(json: &str) -> String {
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// Verifies `signature_b64` over the exact bytes of `json` with `cert`, then parses and
/// checks the format tag and the named fingerprint.
pub fn verify_signed<T: PlatformSigned>(
    cert: &PlatformCertificate,
    json: &str,
    signature_b64: &str,
) -> Result<T, PlatformDocError> {
    let sig = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| PlatformDocError::SignatureEncoding)?;
    cert.verify(json.as_bytes(), &sig)
        .map_err(|_| PlatformDocError::BadSignature)?;
    let doc: T = serde_json::from_str(json).map_err(|e| PlatformDocError::Format(e.to_string()))?;
    if doc.format() != T::FORMAT {
        return Err(PlatformDocError::Format(format!(
            "格式“{}”，应为“{}”",
            doc.format(),
            T::FORMAT
        )));
    }
    if doc.platform_fingerprint() != cert.fingerprint() {
        return Err(PlatformDocError::OtherPlatform {
            named: doc.platform_fingerprint().to_string(),
        });
    }
    Ok(doc)
}
