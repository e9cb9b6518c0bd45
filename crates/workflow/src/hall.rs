//! The opening hall (开标, seed 五 5.1): for each bid file, a `decrypt` scan by one of its
//! recipients (on site or remote), then the full verification of `bidseal_bid::opening`.
//!
//! Guarantees: every bid gets a report, whatever fails; a scan failure or phone refusal
//! (revoked certificate, not a recipient, before opening time, wrong PIN...) is a failed
//! `decrypt_scan` check with the phone's reason, and nothing is decrypted. Does not: fetch bid
//! files from the platform.

use crate::phone_adapters::{DecryptContext, PhoneKeyAgreement};
use crate::scan_session::{ScanPresenter, ScanSession, ScanTarget};
use bidseal_bid::opening::{open_bid_file, BidOpeningReport, HallContext, OpeningCheck};
use bidseal_cms::envelope;
use bidseal_scan::OperationKind;
use std::path::Path;

/// Opens one bid file by scan. `opens_at` is the tender's opening time (unix seconds).
pub async fn open_by_scan(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    hall: &HallContext,
    bid_file: &Path,
    work: &Path,
    opens_at: u64,
) -> BidOpeningReport {
    let mut report = BidOpeningReport::new(bid_file);
    let fail = |report: &mut BidOpeningReport, code: &str, detail: String| {
        report.push(OpeningCheck::fail("decrypt_scan", "扫码解密", code, detail));
    };
    let header = match envelope::inspect_file(bid_file) {
        Ok(h) => h,
        Err(e) => {
            report.push(OpeningCheck::fail(
                "envelope",
                "数字信封",
                e.code(),
                format!("投标文件无法读取或已损坏：{e}"),
            ));
            return report;
        }
    };
    // The recipients' certificates travel inside the bid file (originatorInfo); only those
    // naming a bound recipient entry and chaining to a CA the tender accepts are shown to the
    // phone.
    let recipients: Vec<_> = header
        .recipient_certificates
        .iter()
        .filter(|c| hall.accepted.verify_chain(c, &[], hall.at).is_ok())
        .cloned()
        .collect();
    let envelope_digest = match sha256_file(bid_file) {
        Ok(d) => d,
        Err(e) => {
            fail(
                &mut report,
                "E_IO",
                format!("无法读取 {}：{e}", bid_file.display()),
            );
            return report;
        }
    };
    let ctx = DecryptContext {
        bid_file: bid_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        envelope_digest,
        recipients,
        opens_at,
    };
    let session = match ScanSession::start(target, OperationKind::Decrypt, false, presenter).await {
        Ok(s) => s,
        Err(e) => {
            fail(&mut report, e.code(), e.to_string());
            return report;
        }
    };
    let agreement = PhoneKeyAgreement::obtain(&session, target, &header, &ctx).await;
    session.end().await;
    let agreement = match agreement {
        Ok(a) => a,
        Err(e) => {
            fail(&mut report, e.code(), e.to_string());
            return report;
        }
    };
    report.push(OpeningCheck {
        key: "decrypt_scan".into(),
        name: "扫码解密".into(),
        passed: true,
        detail: format!(
            "手机（{}）以证书 {} 完成解密运算",
            session.phone().device,
            bidseal_cms::envelope::KeyAgreement::certificate(&agreement).subject_string()
        ),
        code: None,
    });
    let mut opened = open_bid_file(bid_file, work, &agreement, hall).await;
    let mut checks = report.checks;
    checks.append(&mut opened.checks);
    opened.checks = Vec::new();
    for c in checks {
        opened.push(c);
    }
    opened
}

/// What the hall knows from a verified tender package (the caller pinned its platform):
/// accepted CAs, project, bid deadline and opening time; and the opening time (unix seconds)
/// the phone is shown.
pub fn hall_from_tender(
    tender: &bidseal_bid::tender::TenderPackage,
    at: std::time::SystemTime,
) -> Result<(HallContext, u64), crate::FlowError> {
    let hall = HallContext::from_tender(tender, at)?;
    let opens_at = hall.opens_at;
    Ok((hall, opens_at))
}

/// SHA-256 of a file, streamed.
fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}
