//! Generating the bid file (生成标书, seed 4.4 / 2.13) and trying it (试解密).
//!
//! [`generate_bid_file`]: with the chain learned by [`crate::auth::authenticate`], check it
//! against the tender (accepted CA, bidder name + credit code) *before* anything is signed;
//! build the manifest's CMS signed attributes; one `generate` scan — the phone signs their
//! SHA-256 and returns the colleague certificates picked there (已选择参与加密证书 N 本); check
//! the answer (same certificate, signature verifies); write the bid file atomically.
//!
//! Every envelope entry carries the `ukm` `"bidseal-ukm/v1" ‖ SHA-256(tender.json) ‖
//! SHA-256(manifest.json)` ([`EnvelopeUkm`]): its key-encryption key is bound to this tender
//! and this manifest.
//!
//! [`trial_decrypt`] (试解密, before the opening time): one `generate` scan in which the phone
//! first re-confirms the bid's manifest (a Generate with `trial: true` over fresh signed
//! attributes of the same manifest bytes), then — on the same channel — one `decrypt`
//! request; the phone gives the key-encryption key only for an entry whose `ukm` names that
//! manifest, and the co-signing service only for the digest signed in that scan (its rule B).
//! Then the full opening verification on a private copy, and the plaintext is deleted.
//!
//! Guarantees: a refusal, a time-out or a failed check leaves the previous bid file and all
//! inputs untouched. Does not: upload.

use crate::auth::AuthenticatedBidder;
use crate::error::FlowError;
use crate::hall::{decrypt_in_session_typed, fail_scan, prepare, ScanOpening};
use crate::phone_adapters::{parse_chain, verify_prehash};
use crate::scan_session::{ScanPresenter, ScanSession, ScanTarget};
use bidseal_bid::bidfile::{
    check_bidder_certificate, manifest_signed_attributes, write_bid_file_with, BidFileInputs,
    BidFileSummary, BidManifest, WriteStage,
};
use bidseal_bid::opening::{BidOpeningReport, HallContext};
use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_scan::{
    Bytes, CertificateChoice, Digest32, EnvelopeUkm, GenerateRequest, OperationKind,
    OperationRequest, OperationResponse, SignedTender,
};
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
    /// SHA-256 of the tender's exact `tender.json` (named in every envelope entry's `ukm`).
    pub tender_digest: Digest32,
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
    let request = GenerateRequest {
        platform: target.platform.clone(),
        project: target.project.clone(),
        manifest: Bytes(manifest_bytes.clone()),
        signed_attributes: Bytes(tbs),
        choose: job.colleagues,
        trial: false,
    };
    let digest = request.manifest_digest();
    let ukm = EnvelopeUkm {
        tender: job.tender_digest,
        manifest: Digest32::of(&manifest_bytes),
    };
    let session = ScanSession::start(target, OperationKind::Generate, false, presenter).await?;
    let request = OperationRequest::Generate(request);
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
        ukm: Some(ukm.to_bytes()),
    };
    let summary = write_bid_file_with(
        &job.output,
        &inputs,
        accepted,
        &bidder.chain,
        now,
        &mut |stage, done, total| {
            let stage = match stage {
                WriteStage::Packaging => "打包",
                WriteStage::Encrypting => "加密",
            };
            presenter.bytes(stage, done, total);
        },
    )?;
    presenter.status(&format!(
        "投标文件已生成：{}（{} 字节）",
        summary.path.display(),
        summary.size
    ));
    Ok(summary)
}

/// Trial decryption (试解密) of `bid_file`, made from `manifest_bytes` for `tender`, by one
/// `generate` scan (re-confirm the manifest, then decrypt on the same channel); the plaintext
/// is removed afterwards. Works before the opening time for this bid only (see module doc).
pub async fn trial_decrypt(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    hall: &HallContext,
    tender: &SignedTender,
    manifest_bytes: &[u8],
    bid_file: &Path,
    work: &Path,
) -> BidOpeningReport {
    trial_decrypt_typed(
        target,
        presenter,
        hall,
        tender,
        manifest_bytes,
        bid_file,
        work,
    )
    .await
    .report
}

/// [`trial_decrypt`], keeping the scan's own error (phone refusal, expiry, broken channel)
/// typed, as [`crate::hall::open_by_scan_typed`] does; the report has it as a failed
/// `decrypt_scan` check either way.
pub async fn trial_decrypt_typed(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    hall: &HallContext,
    tender: &SignedTender,
    manifest_bytes: &[u8],
    bid_file: &Path,
    work: &Path,
) -> ScanOpening {
    let mut report = BidOpeningReport::new(bid_file);
    let failed = |mut report: BidOpeningReport, e: FlowError| {
        fail_scan(&mut report, e.code(), e.to_string());
        ScanOpening {
            report,
            scan_error: Some(e),
        }
    };
    let Some(prepared) = prepare(bid_file, tender, &mut report) else {
        return ScanOpening {
            report,
            scan_error: None,
        };
    };
    let request = match trial_request(target, &prepared, manifest_bytes, tender) {
        Ok(r) => r,
        Err(e) => return failed(report, e),
    };
    let session = match ScanSession::start(target, OperationKind::Generate, false, presenter).await
    {
        Ok(s) => s,
        Err(e) => return failed(report, e),
    };
    let digest = request.0.manifest_digest();
    let confirmed = match session.perform(OperationRequest::Generate(request.0)).await {
        Ok(OperationResponse::Generate(resp)) => {
            verify_prehash(&request.1, &digest.0, &resp.signature.0)
        }
        Ok(_) => Err(FlowError::BadPhoneAnswer {
            detail: "不是生成标书应答".into(),
        }),
        Err(e) => Err(e),
    };
    if let Err(e) = confirmed {
        session.end().await;
        return failed(report, e);
    }
    let opening =
        decrypt_in_session_typed(&session, target, hall, bid_file, work, &prepared, report).await;
    let _ = std::fs::remove_dir_all(bidseal_bid::opening::opened_dir(work, bid_file));
    opening
}

/// The trial's Generate request (fresh signed attributes over the same manifest bytes, for
/// the bidder's certificate = the envelope's first recipient) and that certificate; refuses
/// when the envelope's `ukm` does not name this tender and manifest.
fn trial_request(
    target: &ScanTarget,
    prepared: &crate::hall::PreparedBid,
    manifest_bytes: &[u8],
    tender: &SignedTender,
) -> Result<(GenerateRequest, Certificate), FlowError> {
    let expected = EnvelopeUkm {
        tender: tender.digest(),
        manifest: Digest32::of(manifest_bytes),
    };
    let named = prepared
        .header
        .recipients
        .entries
        .iter()
        .all(|e| e.ukm().and_then(EnvelopeUkm::parse) == Some(expected));
    if !named || prepared.header.recipients.entries.is_empty() {
        return Err(FlowError::TrialNotPossible {
            why: "该投标文件不是由本项目最近一次生成的清单和本招标文件生成的，请重新生成投标文件后再试解密".into(),
        });
    }
    // The bidder's enterprise certificate (CN = O = the bidder named in the manifest, with its
    // credit code) is among the recipients; their certificates travel inside the bid file
    // (originatorInfo). Recipient entries are a DER SET, so their order says nothing.
    let manifest = bidseal_bid::bidfile::BidManifest::from_bytes(manifest_bytes).map_err(|e| {
        FlowError::TrialNotPossible {
            why: format!("投标文件清单无法读取：{e}"),
        }
    })?;
    let bidder = &manifest.bidder;
    let leaf = prepared
        .header
        .recipient_certificates
        .iter()
        .find(|c| {
            c.credit_code().as_deref() == Some(bidder.credit_code.as_str())
                && c.common_name().as_deref() == Some(bidder.name.as_str())
                && c.organization().as_deref() == Some(bidder.name.as_str())
        })
        .cloned()
        .ok_or_else(|| FlowError::TrialNotPossible {
            why: "投标文件中没有投标人企业证书（接收者证书），无法试解密，请重新生成投标文件"
                .into(),
        })?;
    let attrs = manifest_signed_attributes(manifest_bytes, vec![leaf.clone()], SystemTime::now())?;
    let tbs = attrs.to_be_signed().map_err(|e| FlowError::System {
        detail: e.to_string(),
    })?;
    Ok((
        GenerateRequest {
            platform: target.platform.clone(),
            project: target.project.clone(),
            manifest: Bytes(manifest_bytes.to_vec()),
            signed_attributes: Bytes(tbs),
            choose: CertificateChoice {
                min_extra: 0,
                max_extra: 0,
            },
            trial: true,
        },
        leaf,
    ))
}
