//! The opening hall as a session the desktop window holds (开标大厅): a tender pinned to its
//! platform, the bid files loaded for it, one opening report per bid once its recipient has
//! scanned, the price reading table (唱标) and the report PDF.
//!
//! Guarantees: a tender is accepted only if signed by one of the pinned platform certificates
//! and that certificate is valid now; a file is a row only if its envelope header reads (a
//! stranger's file or a broken one is refused with its code before any scan); the same file is
//! never listed twice (by SHA-256, whatever its path); the reading table shows a price only
//! from a report whose every check passed — a bid that failed any check is read as 不通过 with
//! its first failing check, never with a price. The recipients named before decryption are a
//! hint from the envelope (bound to the content, authenticated only once decrypted).
//! Does not: scan or decrypt (that is [`crate::hall::open_by_scan`], run by the caller with
//! [`OpeningHall::bid_job`]), download from the platform (that is [`crate::hall_fetch`]; its
//! files come back through [`OpeningHall::add_fetched`], each row carrying the receipt's facts
//! and whether the file matches them — a row that does not is never opened), or keep state on
//! disk.

use crate::hall::{hall_from_tender, sha256_file};
use crate::hall_fetch::{FetchOutcome, FetchTarget, PlatformFacts, FETCH_DIR};
use crate::report::{format_beijing_time, write_pdf_report};
use crate::FlowError;
use bidseal_bid::opening::{BidOpeningReport, HallContext};
use bidseal_bid::tender::{PlatformCertificate, PriceFormField, TenderPackage, TrustedPlatforms};
use bidseal_bid::time::OffsetDateTime;
use bidseal_cms::envelope;
use bidseal_scan::SignedTender;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// File extensions a folder's bid files are listed by: `.bsbid` (the CLI's examples) and
/// `.bidseal` (what `bidseal demo` writes).
pub const BID_FILE_EXTENSIONS: [&str; 2] = ["bsbid", "bidseal"];

/// Most bid files one hall session lists (a hostile folder cannot make the window unusable).
pub const MAX_BIDS: usize = 500;

/// One loaded bid file.
#[derive(Debug, Clone)]
struct HallBid {
    path: PathBuf,
    sha256: [u8; 32],
    size: u64,
    recipients: Vec<String>,
    report: Option<BidOpeningReport>,
    platform: Option<PlatformFacts>,
}

/// State of a row as the hall reads it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BidRowState {
    /// 未解密: no scan finished yet.
    Pending,
    /// 已解密: decrypted and every check passed.
    Opened,
    /// 失败: the scan was refused or a check failed (see `reason`).
    Failed,
}

/// One row of the hall's table.
#[derive(Debug, Clone, Serialize)]
pub struct BidRow {
    /// Position in the hall (stable for the session; what the window passes back).
    pub index: usize,
    /// File name.
    pub file_name: String,
    /// Full path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Holders of the certificates that can open it, from the envelope (a hint until opened).
    pub recipients: Vec<String>,
    /// 未解密 / 已解密 / 失败.
    pub state: BidRowState,
    /// First failing check as `[code] name：detail` when failed.
    pub reason: Option<String>,
    /// The full report once a scan finished.
    pub report: Option<BidOpeningReport>,
    /// For a file fetched from the trading platform: its receipt's facts and whether the file
    /// matches them.
    pub platform: Option<PlatformFacts>,
}

/// One line of the reading table (唱标).
#[derive(Debug, Clone, Serialize)]
pub struct ReadingRow {
    /// Row index of the bid.
    pub index: usize,
    /// File name.
    pub file_name: String,
    /// Bidder from the verified manifest (only when passed).
    pub bidder: Option<String>,
    /// 统一社会信用代码 (only when passed).
    pub credit_code: Option<String>,
    /// Priced entries, `投标总价 4321000.50 元` (only when passed).
    pub price: Vec<String>,
    /// 未解密 / 已解密 / 失败.
    pub state: BidRowState,
}

/// What the window shows of the hall.
#[derive(Debug, Clone, Serialize)]
pub struct HallView {
    /// Project and lot.
    pub project_name: String,
    /// Project id.
    pub project_id: String,
    /// Lot name.
    pub lot_name: String,
    /// Tenderer.
    pub tenderer: String,
    /// Platform name.
    pub platform: String,
    /// The tender's id on its platform (`T` + 12 hex of the manifest SHA-256): what
    /// 从交易平台获取 fetches the bids of.
    pub platform_tender_id: String,
    /// Opening time, Beijing time.
    pub opening_time: String,
    /// Whether the opening time has come (the phone decides; this is for the window's note).
    pub opening_reached: bool,
    /// Folder where decrypted parts go.
    pub work: String,
    /// One row per bid file.
    pub bids: Vec<BidRow>,
    /// The reading table.
    pub reading: Vec<ReadingRow>,
}

/// What one scan needs to open one bid, detached from the hall (the scan runs elsewhere).
#[derive(Debug, Clone)]
pub struct BidJob {
    /// Row index.
    pub index: usize,
    /// The bid file.
    pub path: PathBuf,
    /// The hall's context (accepted CAs, project, deadline).
    pub hall: HallContext,
    /// Platform-signed tender the phone verifies.
    pub signed: SignedTender,
    /// Working folder.
    pub work: PathBuf,
    /// SHA-256 of the file when loaded: a report for a file changed since is not recorded.
    pub sha256: [u8; 32],
}

/// An opening session.
#[derive(Debug)]
pub struct OpeningHall {
    package: TenderPackage,
    hall: HallContext,
    signed: SignedTender,
    work: PathBuf,
    bids: Vec<HallBid>,
}

fn not_ready(code: &'static str, message: String) -> FlowError {
    FlowError::NotReady { code, message }
}

/// The tender package at `path`, only if signed by one of `platform_certs` (PEM files) and that
/// certificate is valid now.
pub fn pinned_tender(path: &Path, platform_certs: &[PathBuf]) -> Result<TenderPackage, FlowError> {
    if platform_certs.is_empty() {
        return Err(not_ready(
            "E_NO_PLATFORM_CERT",
            "请给出交易平台证书（PEM）：招标文件包必须由该平台签名才能开标".into(),
        ));
    }
    let mut certs = Vec::new();
    for p in platform_certs {
        let pem = std::fs::read_to_string(p).map_err(|e| {
            not_ready(
                "E_IO",
                format!("无法读取平台证书 {}（{e}），请检查路径", p.display()),
            )
        })?;
        certs.push(
            PlatformCertificate::from_pem(&pem)
                .map_err(|e| not_ready(e.code(), format!("平台证书 {}：{e}", p.display())))?,
        );
    }
    let verified = bidseal_bid::tender::verify(
        path,
        &TrustedPlatforms::pinned(certs),
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| not_ready(e.code(), e.to_string()))?;
    Ok(verified.package)
}

/// The first failing check of a report as the record prints it (`[失败] name：detail（code）`).
pub fn first_failure(report: &BidOpeningReport) -> Option<String> {
    report.first_failure().map(|c| c.line())
}

/// The reading-table line of a bid: bidder and price only from a report that passed.
fn reading_row(index: usize, b: &HallBid, form: &[PriceFormField]) -> ReadingRow {
    let passed = b.report.as_ref().filter(|r| r.passed);
    ReadingRow {
        index,
        file_name: b.file_name(),
        bidder: passed.and_then(|r| r.bidder.as_ref().map(|x| x.name.clone())),
        credit_code: passed.and_then(|r| r.bidder.as_ref().map(|x| x.credit_code.clone())),
        price: passed.map(|r| r.price_texts(form)).unwrap_or_default(),
        state: b.state(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl HallBid {
    fn state(&self) -> BidRowState {
        match &self.report {
            None => BidRowState::Pending,
            Some(r) if r.passed => BidRowState::Opened,
            Some(_) => BidRowState::Failed,
        }
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl OpeningHall {
    /// A hall for the tender at `tender`, pinned to `platform_certs`; decrypted parts go into
    /// `work` (created private; plaintext left by an interrupted opening is swept).
    pub fn load(
        tender: &Path,
        platform_certs: &[PathBuf],
        work: &Path,
    ) -> Result<OpeningHall, FlowError> {
        let package = pinned_tender(tender, platform_certs)?;
        let (hall, signed) = hall_from_tender(&package, SystemTime::now())?;
        bidseal_bid::fsio::create_private_dir(work).map_err(|e| {
            not_ready(
                "E_OUTPUT_DIR",
                format!("无法创建开标工作目录 {}（{e}）", work.display()),
            )
        })?;
        bidseal_bid::opening::sweep_work(work);
        Ok(OpeningHall {
            package,
            hall,
            signed,
            work: work.to_path_buf(),
            bids: Vec::new(),
        })
    }

    /// Adds the bid file at `path`; refused (with its code) if it is not a readable envelope,
    /// is already listed, or the hall is full.
    pub fn add_bid(&mut self, path: &Path) -> Result<usize, FlowError> {
        if self.bids.len() >= MAX_BIDS {
            return Err(not_ready(
                "E_HALL_FULL",
                format!("一次开标最多载入 {MAX_BIDS} 份投标文件"),
            ));
        }
        let header = envelope::inspect_file(path).map_err(|e| {
            not_ready(
                e.code(),
                format!(
                    "{} 不是可开启的投标文件（{e}），请确认文件完整、未被改动",
                    path.display()
                ),
            )
        })?;
        let meta = std::fs::metadata(path)
            .map_err(|e| not_ready("E_IO", format!("无法读取 {}（{e}）", path.display())))?;
        let sha256 = sha256_file(path)
            .map_err(|e| not_ready("E_IO", format!("无法读取 {}（{e}）", path.display())))?;
        if let Some(other) = self.bids.iter().find(|b| b.sha256 == sha256) {
            return Err(not_ready(
                "E_HALL_DUPLICATE",
                format!(
                    "{} 与已载入的 {} 是同一份投标文件（SHA-256 相同），未重复载入",
                    path.display(),
                    other.path.display()
                ),
            ));
        }
        let recipients = header
            .recipient_certificates
            .iter()
            .map(|c| {
                let who = c.common_name().unwrap_or_default();
                match c.organization() {
                    Some(o) if o != who => format!("{o} / {who}"),
                    _ => who,
                }
            })
            .collect();
        self.bids.push(HallBid {
            path: path.to_path_buf(),
            sha256,
            size: meta.len(),
            recipients,
            report: None,
            platform: None,
        });
        Ok(self.bids.len() - 1)
    }

    /// What [`crate::hall_fetch::fetch_bids`] needs: the tender as the platform names it, the
    /// certificate that signed it, and `WORK/platform-bids/` for the files.
    pub fn fetch_target(&self) -> FetchTarget {
        FetchTarget::new(
            &self.package.manifest_bytes,
            self.package.platform.clone(),
            self.work.join(FETCH_DIR),
        )
    }

    /// Adds the files of a fetch as rows (like [`OpeningHall::add_bid`]), each with the
    /// platform's facts; returns the refused files with their errors (a file whose envelope
    /// does not read, or that is already listed). A file that does not match its receipt is a
    /// row flagged `matches_receipt == false` (if its envelope reads) and cannot be opened.
    pub fn add_fetched(&mut self, outcome: &FetchOutcome) -> Vec<(PathBuf, FlowError)> {
        let mut refused = Vec::new();
        for f in &outcome.fetched {
            match self.add_bid(&f.path) {
                Ok(i) => self.bids[i].platform = Some(f.facts.clone()),
                Err(e) if !f.facts.matches_receipt => refused.push((
                    f.path.clone(),
                    mismatch(&f.path, &f.facts, &f.sha256, Some(&e)),
                )),
                Err(e) => refused.push((f.path.clone(), e)),
            }
        }
        refused
    }

    /// Adds every path: a file as a bid file, a folder as every `*.bidseal` file directly in
    /// it (sorted by name). Returns the refused paths with their errors; the others are added.
    pub fn add_paths(&mut self, paths: &[PathBuf]) -> Vec<(PathBuf, FlowError)> {
        let mut refused = Vec::new();
        for p in paths {
            if p.is_dir() {
                let listed = std::fs::read_dir(p).map(|entries| {
                    let mut files: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| {
                            f.is_file()
                                && f.extension()
                                    .is_some_and(|x| BID_FILE_EXTENSIONS.iter().any(|e| x == *e))
                        })
                        .collect();
                    files.sort();
                    files
                });
                match listed {
                    Ok(files) if files.is_empty() => refused.push((
                        p.clone(),
                        not_ready(
                            "E_HALL_EMPTY_FOLDER",
                            format!(
                                "文件夹 {} 中没有投标文件（*.bsbid、*.bidseal）",
                                p.display()
                            ),
                        ),
                    )),
                    Ok(files) => {
                        for f in files {
                            if let Err(e) = self.add_bid(&f) {
                                refused.push((f, e));
                            }
                        }
                    }
                    Err(e) => refused.push((
                        p.clone(),
                        not_ready("E_IO", format!("无法读取文件夹 {}（{e}）", p.display())),
                    )),
                }
            } else if let Err(e) = self.add_bid(p) {
                refused.push((p.clone(), e));
            }
        }
        refused
    }

    /// What one scan needs to open row `index`.
    pub fn bid_job(&self, index: usize) -> Result<BidJob, FlowError> {
        let bid = self.bids.get(index).ok_or_else(|| {
            not_ready(
                "E_HALL_NO_BID",
                format!("没有第 {} 份投标文件，请重新载入", index + 1),
            )
        })?;
        if let Some(facts) = bid.platform.as_ref().filter(|f| !f.matches_receipt) {
            return Err(mismatch(&bid.path, facts, &hex(&bid.sha256), None));
        }
        Ok(BidJob {
            index,
            path: bid.path.clone(),
            hall: self.hall.clone(),
            signed: self.signed.clone(),
            work: self.work.clone(),
            sha256: bid.sha256,
        })
    }

    /// Records the report of a finished scan of `job`. A report for a row that no longer holds
    /// the same file (the hall was reloaded meanwhile) is dropped: returns false.
    pub fn record(&mut self, job: &BidJob, report: BidOpeningReport) -> bool {
        match self.bids.get_mut(job.index) {
            Some(bid) if bid.sha256 == job.sha256 && bid.path == job.path => {
                bid.report = Some(report);
                true
            }
            _ => false,
        }
    }

    /// The tender package.
    pub fn tender(&self) -> &TenderPackage {
        &self.package
    }

    /// The view of the hall, its words for people (check names and details, the first
    /// failure, the opening time) in the language of this process ([`crate::i18n::language`]).
    pub fn view(&self) -> HallView {
        let lang = crate::i18n::language();
        let m = &self.package.manifest;
        let form = &m.price_form;
        let bids = self
            .bids
            .iter()
            .enumerate()
            .map(|(index, b)| BidRow {
                index,
                file_name: b.file_name(),
                path: b.path.display().to_string(),
                size: b.size,
                sha256: hex(&b.sha256),
                recipients: b.recipients.clone(),
                state: b.state(),
                reason: b
                    .report
                    .as_ref()
                    .and_then(first_failure)
                    .map(|line| crate::i18n::error_text(lang, None, &line)),
                report: b.report.clone().map(|r| crate::report::checks_in(lang, r)),
                platform: b.platform.clone(),
            })
            .collect();
        let reading = self
            .bids
            .iter()
            .enumerate()
            .map(|(index, b)| reading_row(index, b, form))
            .collect();
        HallView {
            project_name: m.project.name.clone(),
            project_id: m.project.id.clone(),
            lot_name: m.project.lot.name.clone(),
            tenderer: m.tenderer.name.clone(),
            platform: m.platform.name.clone(),
            platform_tender_id: self.fetch_target().tender_id,
            opening_time: crate::i18n::error_text(lang, None, &format_beijing_time(m.opening_time)),
            opening_reached: OffsetDateTime::now_utc() >= m.opening_time,
            work: self.work.display().to_string(),
            bids,
            reading,
        }
    }

    /// Writes the opening report PDF (开标记录) of every row opened so far; refused while no
    /// bid has been opened (an empty record is not a record).
    pub fn write_report_pdf(&self, path: &Path) -> Result<usize, FlowError> {
        let reports: Vec<BidOpeningReport> =
            self.bids.iter().filter_map(|b| b.report.clone()).collect();
        if reports.is_empty() {
            return Err(not_ready(
                "E_HALL_NOTHING_OPENED",
                "还没有解密任何投标文件，开标记录无内容；请先扫码解密".into(),
            ));
        }
        write_pdf_report(path, &reports, &self.package.manifest.price_form)?;
        Ok(reports.len())
    }
}

/// `E_HALL_FETCH_HASH`: the file fetched is not what the platform's receipt names.
fn mismatch(
    path: &Path,
    facts: &PlatformFacts,
    sha256: &str,
    also: Option<&FlowError>,
) -> FlowError {
    not_ready(
        "E_HALL_FETCH_HASH",
        format!(
            "从交易平台获取的 {} 的 SHA-256 为 {sha256}，与平台回执 {}（{}）中的 {} 不一致：该文件不是平台收到的投标文件，不能开启；请联系平台核实{}",
            path.display(),
            facts.receipt_id,
            facts.bidder,
            facts.receipt_sha256,
            also.map(|e| format!("（{e}）")).unwrap_or_default()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_bid::bidfile::BidderIds;
    use bidseal_bid::opening::OpeningCheck;
    use bidseal_bid::tender::FieldKind;

    fn form() -> Vec<PriceFormField> {
        vec![PriceFormField {
            key: "bid_price".into(),
            label: "投标总价".into(),
            kind: FieldKind::Money,
            unit: Some("元".into()),
            required: true,
            max: None,
        }]
    }

    fn bid_with(report: Option<BidOpeningReport>) -> HallBid {
        HallBid {
            path: PathBuf::from("/hall/投标文件.bsbid"),
            sha256: [7; 32],
            size: 10,
            recipients: vec![],
            report,
            platform: None,
        }
    }

    fn report(passed: bool) -> BidOpeningReport {
        let mut r = BidOpeningReport::new(Path::new("/hall/投标文件.bsbid"));
        r.bidder = Some(BidderIds {
            name: "华夏建设工程有限公司".into(),
            credit_code: "91110108715267269X".into(),
        });
        r.price.insert("bid_price".into(), "4321000.50".into());
        r.price.insert("extra".into(), "x".into());
        for key in [
            "decrypt_scan",
            "envelope",
            "package",
            "manifest_signature",
            "project",
        ] {
            r.push(OpeningCheck {
                key: key.into(),
                name: key.into(),
                passed: true,
                detail: "ok".into(),
                code: None,
            });
        }
        if !passed {
            r.push(OpeningCheck::fail(
                "pdf:投标文件.pdf",
                "PDF 签章",
                "E_PDF_MODIFIED",
                "签章后被修改",
            ));
        }
        r
    }

    #[test]
    fn a_passed_bid_is_read_with_the_tender_labels() {
        let row = reading_row(0, &bid_with(Some(report(true))), &form());
        assert_eq!(row.state, BidRowState::Opened);
        assert_eq!(row.bidder.as_deref(), Some("华夏建设工程有限公司"));
        // A key the form does not name is shown as itself, never dropped.
        assert_eq!(row.price, vec!["投标总价 4321000.50 元", "extra：x"]);
    }

    /// The attack: a bid whose PDF was changed after sealing still carries a price in its
    /// manifest; the hall must not read it out.
    #[test]
    fn a_bid_that_failed_any_check_is_not_read() {
        let failed = bid_with(Some(report(false)));
        let row = reading_row(0, &failed, &form());
        assert_eq!(row.state, BidRowState::Failed);
        assert!(row.price.is_empty(), "{:?}", row.price);
        assert_eq!(row.bidder, None);
        assert_eq!(
            failed.report.as_ref().and_then(first_failure).as_deref(),
            Some("[失败] PDF 签章：签章后被修改（E_PDF_MODIFIED）")
        );
        let pending = reading_row(1, &bid_with(None), &form());
        assert_eq!(pending.state, BidRowState::Pending);
        assert!(pending.price.is_empty());
    }

    #[test]
    fn a_tender_without_a_pinned_platform_or_with_a_bad_certificate_is_refused() {
        let e = pinned_tender(Path::new("/nonexistent/tender.zip"), &[]);
        assert!(
            matches!(&e, Err(e) if e.code() == "E_NO_PLATFORM_CERT"),
            "{e:?}"
        );
        let dir = std::env::temp_dir().join(format!("bidseal-hall-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let cert = dir.join("platform.pem");
        let _ = std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let e = pinned_tender(Path::new("/nonexistent/tender.zip"), &[cert]);
        assert!(
            matches!(&e, Err(e) if e.code() != "E_NO_PLATFORM_CERT" && e.to_string().contains("平台证书")),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
