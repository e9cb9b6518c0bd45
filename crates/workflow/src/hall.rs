//! The opening hall (开标, seed 五 5.1): for each bid file, a `decrypt` scan by one of its
//! recipients (on site or remote), then the full verification of `bidseal_bid::opening`.
//!
//! Guarantees: every bid gets a report, whatever fails; a scan failure or phone refusal
//! (revoked certificate, not a recipient, before opening time, wrong PIN, a tender the phone
//! cannot verify...) is a failed `decrypt_scan` check with the phone's reason, and nothing is
//! decrypted. The opening time is never the desktop's: the phone reads it from the
//! platform-signed tender sent with the request. Does not: fetch bid files from the platform.

use crate::phone_adapters::{DecryptContext, PhoneKeyAgreement};
use crate::scan_session::{ScanPresenter, ScanSession, ScanTarget};
use bidseal_bid::opening::{open_bid_file, BidOpeningReport, HallContext, OpeningCheck};
use bidseal_cms::envelope::{self, EnvelopeHeader};
use bidseal_scan::{OperationKind, SignedTender};
use std::path::Path;

/// What opening needs from the bid file before the scan: its envelope header and digest.
pub(crate) struct PreparedBid {
    pub header: EnvelopeHeader,
    pub ctx: DecryptContext,
}

/// Reads the envelope header and digest of `bid_file`; a failure is pushed to `report`.
pub(crate) fn prepare(
    bid_file: &Path,
    tender: &SignedTender,
    report: &mut BidOpeningReport,
) -> Option<PreparedBid> {
    let header = match envelope::inspect_file(bid_file) {
        Ok(h) => h,
        Err(e) => {
            report.push(OpeningCheck::fail(
                "envelope",
                "数字信封",
                e.code(),
                format!("投标文件无法读取或已损坏：{e}"),
            ));
            return None;
        }
    };
    let envelope_digest = match sha256_file(bid_file) {
        Ok(d) => d,
        Err(e) => {
            fail_scan(
                report,
                "E_IO",
                format!("无法读取 {}：{e}", bid_file.display()),
            );
            return None;
        }
    };
    Some(PreparedBid {
        header,
        ctx: DecryptContext {
            bid_file: bid_file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            envelope_digest,
            tender: tender.clone(),
        },
    })
}

/// A failed `decrypt_scan` check.
pub(crate) fn fail_scan(report: &mut BidOpeningReport, code: &str, detail: String) {
    report.push(OpeningCheck::fail("decrypt_scan", "扫码解密", code, detail));
}

/// A bid opened by scan, with the scan's own error (phone refusal, expiry, broken channel)
/// kept typed for a window that shows it as a scan state; the report has it as a failed
/// `decrypt_scan` check either way.
#[derive(Debug)]
pub struct ScanOpening {
    /// The opening report (every check).
    pub report: BidOpeningReport,
    /// Why the scan itself did not give a key, if it did not.
    pub scan_error: Option<crate::FlowError>,
}

/// Obtains the phone's key-encryption key in `session` (already scanned) and runs the full
/// opening verification; the session is ended either way.
pub(crate) async fn decrypt_in_session_typed(
    session: &ScanSession,
    target: &ScanTarget,
    hall: &HallContext,
    bid_file: &Path,
    work: &Path,
    prepared: &PreparedBid,
    mut report: BidOpeningReport,
) -> ScanOpening {
    let agreement =
        PhoneKeyAgreement::obtain(session, target, &prepared.header, &prepared.ctx).await;
    session.end().await;
    let agreement = match agreement {
        Ok(a) => a,
        Err(e) => {
            fail_scan(&mut report, e.code(), e.to_string());
            return ScanOpening {
                report,
                scan_error: Some(e),
            };
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
    ScanOpening {
        report: opened,
        scan_error: None,
    }
}

/// Opens one bid file by scan. `tender` is the platform-signed tender: the phone verifies it
/// and takes the opening time from it (the desktop's clock and word do not count).
pub async fn open_by_scan(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    hall: &HallContext,
    bid_file: &Path,
    work: &Path,
    tender: &SignedTender,
) -> BidOpeningReport {
    open_by_scan_typed(target, presenter, hall, bid_file, work, tender)
        .await
        .report
}

/// [`open_by_scan`], keeping the scan's own error typed (see [`ScanOpening`]).
pub async fn open_by_scan_typed(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    hall: &HallContext,
    bid_file: &Path,
    work: &Path,
    tender: &SignedTender,
) -> ScanOpening {
    let mut report = BidOpeningReport::new(bid_file);
    let Some(prepared) = prepare(bid_file, tender, &mut report) else {
        return ScanOpening {
            report,
            scan_error: None,
        };
    };
    let session = match ScanSession::start(target, OperationKind::Decrypt, false, presenter).await {
        Ok(s) => s,
        Err(e) => {
            fail_scan(&mut report, e.code(), e.to_string());
            return ScanOpening {
                report,
                scan_error: Some(e),
            };
        }
    };
    decrypt_in_session_typed(&session, target, hall, bid_file, work, &prepared, report).await
}

/// The platform-signed tender of a package, as the phone verifies it.
pub fn signed_tender(tender: &bidseal_bid::tender::TenderPackage) -> SignedTender {
    SignedTender {
        manifest: tender.manifest_bytes.clone().into(),
        signature: tender.signature.clone().into(),
    }
}

/// What the hall knows from a verified tender package (the caller pinned its platform):
/// accepted CAs, project, bid deadline and opening time; and the platform-signed tender the
/// phone checks (the phone takes the opening time from it, never from the desktop).
pub fn hall_from_tender(
    tender: &bidseal_bid::tender::TenderPackage,
    at: std::time::SystemTime,
) -> Result<(HallContext, SignedTender), crate::FlowError> {
    let hall = HallContext::from_tender(tender, at)?;
    Ok((hall, signed_tender(tender)))
}

/// A bid file given more than once (the same path twice, or a copy with the same content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedBid {
    /// The file as given again.
    pub file: std::path::PathBuf,
    /// The earlier entry it repeats (the one that is opened).
    pub same_as: std::path::PathBuf,
}

/// The bid files to open, each once: a file given again (the same content, by SHA-256, under
/// the same or another name) is left out and listed, so one bid is scanned, opened and counted
/// once. A file that cannot be read is kept (its own report says why).
pub fn distinct_bid_files(
    files: &[std::path::PathBuf],
) -> (Vec<std::path::PathBuf>, Vec<RepeatedBid>) {
    let mut seen: Vec<([u8; 32], std::path::PathBuf)> = Vec::new();
    let mut distinct = Vec::new();
    let mut repeated = Vec::new();
    for file in files {
        match sha256_file(file) {
            Ok(digest) => match seen.iter().find(|(d, _)| *d == digest) {
                Some((_, first)) => repeated.push(RepeatedBid {
                    file: file.clone(),
                    same_as: first.clone(),
                }),
                None => {
                    seen.push((digest, file.clone()));
                    distinct.push(file.clone());
                }
            },
            Err(_) => distinct.push(file.clone()),
        }
    }
    (distinct, repeated)
}

/// SHA-256 of a file, streamed.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bid_file_given_again_is_opened_once() {
        let dir = std::env::temp_dir().join(format!("bidseal-distinct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let a = dir.join("甲.bsbid");
        let copy = dir.join("甲-副本.bsbid");
        let b = dir.join("乙.bsbid");
        std::fs::write(&a, b"bid a").expect("a");
        std::fs::write(&copy, b"bid a").expect("copy");
        // One byte apart: a different bid, opened on its own.
        std::fs::write(&b, b"bid b").expect("b");
        let missing = dir.join("缺失.bsbid");
        let given = vec![
            a.clone(),
            a.clone(),
            b.clone(),
            copy.clone(),
            missing.clone(),
            missing.clone(),
        ];
        let (distinct, repeated) = distinct_bid_files(&given);
        assert_eq!(distinct, vec![a.clone(), b, missing.clone(), missing]);
        assert_eq!(
            repeated,
            vec![
                RepeatedBid {
                    file: a.clone(),
                    same_as: a.clone()
                },
                RepeatedBid {
                    file: copy,
                    same_as: a
                },
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
