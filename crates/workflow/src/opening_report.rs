//! 开标记录 (the opening reading, 唱标一览表) as the platform publishes it after a remote opening:
//! fetch `GET /api/v1/tenders/{id}/opening-report` and verify it against the platform
//! certificate pinned in the project's tender package.
//!
//! Guarantees: a reading is returned only if the signature verifies over its exact bytes with
//! the pinned certificate, it names that certificate, and it is the reading of this very
//! tender (platform id and manifest SHA-256); with [`own_bid`], the bidder's own line must
//! name the SHA-256 of the file its latest kept receipt names. Does not: re-open any bid (the
//! hall does), or judge the prices.

use crate::platform_client::{PlatformClient, PlatformClientError};
use bidseal_bid::platform_docs::{document_sha256, verify_signed, OpeningBid, SignedOpeningReport};
use bidseal_bid::project::BidProject;
use bidseal_bid::tender::PlatformCertificate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The reading as the platform sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningReportWire {
    /// The platform's tender id.
    pub tender: String,
    /// The signed JSON, exactly.
    pub report_json: String,
    /// Base64 DER signature.
    pub signature: String,
    /// SHA-256 the platform claims (recomputed, not trusted).
    #[serde(default)]
    pub sha256: String,
}

/// Verifies a reading sent by the platform: signature by `cert` over the exact bytes, the
/// certificate it names, and that it is the reading of tender `tender_id` whose manifest has
/// SHA-256 `manifest_sha256`.
pub fn verify_opening_report(
    cert: &PlatformCertificate,
    tender_id: &str,
    manifest_sha256: &str,
    wire: &OpeningReportWire,
) -> Result<SignedOpeningReport, PlatformClientError> {
    let report: SignedOpeningReport = verify_signed(cert, &wire.report_json, &wire.signature)
        .map_err(|e| PlatformClientError::BadSignature(format!("开标记录：{e}")))?;
    let bad = |what: String| PlatformClientError::BadSignature(format!("开标记录内容不符：{what}"));
    if report.tender.id != tender_id || wire.tender != tender_id {
        return Err(bad(format!("记录针对的招标项目是 {}", report.tender.id)));
    }
    if report.tender.manifest_sha256 != manifest_sha256 {
        return Err(bad(format!(
            "记录中的招标文件清单 SHA-256 {} 不是本项目的 {manifest_sha256}",
            report.tender.manifest_sha256
        )));
    }
    if !wire.sha256.is_empty() && wire.sha256 != document_sha256(&wire.report_json) {
        return Err(bad("平台给出的 SHA-256 与记录内容不一致".into()));
    }
    Ok(report)
}

/// Fetches and verifies the reading of the project's tender (see [`verify_opening_report`]).
pub async fn fetch_opening_report(
    client: &PlatformClient,
    project: &BidProject,
) -> Result<SignedOpeningReport, PlatformClientError> {
    let tender_id = crate::bid_upload::find_tender(client, project).await?;
    let wire: OpeningReportWire = client
        .get_json(&format!("/tenders/{tender_id}/opening-report"))
        .await?;
    let manifest_sha = hex::encode(Sha256::digest(&project.tender().manifest_bytes));
    verify_opening_report(&project.tender().platform, &tender_id, &manifest_sha, &wire)
}

/// The project's own line of a verified reading: the bidder's, and naming the bid file of its
/// latest kept receipt (a reading that opened another file for this bidder is refused).
pub fn own_bid<'a>(
    project: &BidProject,
    report: &'a SignedOpeningReport,
) -> Result<Option<&'a OpeningBid>, PlatformClientError> {
    let uscc = &project.file().bidder.credit_code;
    let Some(line) = report.bids.iter().find(|b| &b.bidder.uscc == uscc) else {
        return Ok(None);
    };
    let latest = crate::bid_upload::kept_receipts(project)?
        .into_iter()
        .filter(|k| k.receipt.tender.id == report.tender.id)
        .max_by_key(|k| k.receipt.sequence);
    if let Some(kept) = latest {
        if kept.receipt.sha256 != line.bid_sha256 {
            return Err(PlatformClientError::BadSignature(format!(
                "开标记录中本企业的投标文件 SHA-256 {} 不是回执记载的 {}",
                line.bid_sha256, kept.receipt.sha256
            )));
        }
    }
    Ok(Some(line))
}
