//! Generating the bid file (生成标书, seed 4.4 / 2.13) and trying it (试解密).
//!
//! [`generate_bid_file`]: with the chain learned by [`crate::auth::authenticate`], check it
//! against the tender (accepted CA, bidder name + credit code) *before* anything is signed;
//! build the manifest's CMS signed attributes; one `generate` scan — the phone signs their
//! SHA-256 and returns the colleague certificates picked there (已选择参与加密证书 N 本); check
//! the answer (same certificate, signature verifies); write the bid file atomically.
//!
//! [`trial_decrypt`]: a `decrypt` scan right after generation, the full opening verification
//! on a private copy, then the plaintext is deleted: the bidder learns before the deadline
//! that the file opens and every check passes.
//!
//! Guarantees: a refusal, a time-out or a failed check leaves the previous bid file and all
//! inputs untouched. Does not: upload.

use crate::auth::AuthenticatedBidder;
use crate::error::FlowError;
use crate::hall::open_by_scan;
use crate::phone_adapters::{parse_chain, verify_prehash};
use crate::scan_session::{ScanPresenter, ScanSession, ScanTarget};
use bidseal_bid::bidfile::{
    check_bidder_certificate, manifest_signed_attributes, write_bid_file, BidFileInputs,
    BidFileSummary, BidManifest,
};
use bidseal_bid::opening::{BidOpeningReport, HallContext};
use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_scan::{
    CertificateChoice, Digest32, GenerateRequest, OperationKind, OperationRequest,
    OperationResponse,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateJob {
    /// The manifest (parts describe `files`).
    pub manifest: BidManifest,
    /// Part name → file.
    pub files: Vec<(String, PathBuf)>,
    /// Where to write the bid file.
    pub output: PathBuf,
    /// How many colleague certificates the phone must pick.
    pub colleagues: CertificateChoice,
}

/// Runs the `generate` scan and writes the bid file.
pub async fn generate_bid_file(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    accepted: &TrustStore,
    bidder: &AuthenticatedBidder,
    job: &GenerateJob,
) -> Result<BidFileSummary, FlowError> {
    let now = SystemTime::now();
    check_bidder_certificate(&bidder.chain, accepted, &job.manifest.bidder, now)?;
    let manifest_bytes = job.manifest.to_bytes()?;
    let attrs = manifest_signed_attributes(&manifest_bytes, bidder.chain.clone(), now)?;
    let tbs = attrs.to_be_signed().map_err(|e| FlowError::System {
        detail: e.to_string(),
    })?;
    let digest = Digest32(Sha256::digest(&tbs).into());
    let session = ScanSession::start(target, OperationKind::Generate, false, presenter).await?;
    let request = OperationRequest::Generate(GenerateRequest {
        platform: target.platform.clone(),
        project: target.project.clone(),
        manifest_digest: digest,
        choose: job.colleagues,
    });
    let response = session.perform(request).await;
    session.end().await;
    let OperationResponse::Generate(resp) = response? else {
        return Err(FlowError::BadPhoneAnswer {
            detail: "不是生成标书应答".into(),
        });
    };
    let chain = parse_chain(&resp.certificate_chain)?;
    if chain[0] != bidder.chain[0] {
        return Err(FlowError::BadPhoneAnswer {
            detail: "手机签名所用证书与认证时的证书不同，请用同一证书扫码".into(),
        });
    }
    verify_prehash(&chain[0], &digest.0, &resp.signature.0)?;
    let signature = attrs
        .assemble(&resp.signature.0)
        .map_err(|e| FlowError::BadPhoneAnswer {
            detail: e.to_string(),
        })?;
    let recipients = resp
        .encryption_certificates
        .iter()
        .map(|c| Certificate::from_der(&c.0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FlowError::BadPhoneAnswer {
            detail: format!("加密证书无法解析：{e}"),
        })?;
    presenter.status(&format!("已选择参与加密证书 {} 本", recipients.len()));
    let inputs = BidFileInputs {
        manifest: job.manifest.clone(),
        manifest_bytes,
        manifest_signature: signature,
        files: job.files.clone(),
        recipients,
    };
    let summary = write_bid_file(&job.output, &inputs, accepted, &bidder.chain, now)?;
    presenter.status(&format!(
        "投标文件已生成：{}（{} 字节）",
        summary.path.display(),
        summary.size
    ));
    Ok(summary)
}

/// Trial decryption (试解密) of `bid_file` by a `decrypt` scan; the plaintext is removed
/// afterwards. The co-signing service's opening-time lock does not apply: `opens_at` is now.
pub async fn trial_decrypt(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    hall: &HallContext,
    bid_file: &Path,
    work: &Path,
) -> BidOpeningReport {
    let report = open_by_scan(
        target,
        presenter,
        hall,
        bid_file,
        work,
        bidseal_scan::unix_now(),
    )
    .await;
    let _ = std::fs::remove_dir_all(bidseal_bid::opening::opened_dir(work, bid_file));
    report
}
