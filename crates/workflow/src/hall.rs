//! The opening hall (开标, seed 五 5.1): for each bid file, a `decrypt` scan by one of its
//! recipients (on site or remote), then the full verification of `bidseal_bid::opening`.
//!
//! Guarantees: every bid gets a report, whatever fails; a scan failure or phone refusal
//! (revoked certificate, not a recipient, before opening time, wrong PIN...) is a failed
//! `decrypt_scan` check with the phone's reason, and nothing is decrypted. Does not: fetch bid
//! files from the platform.

use crate::phone_adapters::{DecryptContext, PhoneKeyAgreement};
use crate::scan_session::{ScanPresenter, ScanSession, ScanTarget};
use bidseal_bid::bidfile::read_recipients_sidecar;
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
    let recipients = match read_recipients_sidecar(bid_file) {
        Ok(r) => r,
        Err(e) => {
            fail(&mut report, e.code(), e.to_string());
            return report;
        }
    };
    let envelope_digest = match bidseal_bid::bidfile::manifest::hash_file(bid_file) {
        Ok((hex_digest, _)) => {
            let mut d = [0u8; 32];
            for (i, b) in d.iter_mut().enumerate() {
                *b = u8::from_str_radix(hex_digest.get(2 * i..2 * i + 2).unwrap_or("00"), 16)
                    .unwrap_or(0);
            }
            d
        }
        Err(e) => {
            fail(&mut report, e.code(), e.to_string());
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
