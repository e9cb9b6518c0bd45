//! `bidseal open` and `bidseal demo`: the bid-opening hall (decrypt by scan, verify, report)
//! and the headless end-to-end demo on embedded defaults.
//!
//! Thin: parses arguments, shows QR codes (payload text on stderr, PNG files), prints the
//! result table, writes the JSON report atomically; the flows are in `bidseal_workflow`.

mod demo;

use anyhow::{anyhow, Context, Result};
use bidseal_bid::opening::BidOpeningReport;
use bidseal_bid::tender::PriceFormField;
use bidseal_scan::client::ScanOptions;
use bidseal_scan::{OperationKind, QrPayload};
use bidseal_workflow::qr_files::QrFiles;
use bidseal_workflow::relay::{check_relay_url, ScanRelay};
use bidseal_workflow::report;
use bidseal_workflow::scan_session::{ScanPresenter, ScanTarget};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// 开标：逐个投标文件扫码解密，验证数字信封、清单签名、文件摘要与每个 PDF 签章。
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// 投标文件（可多个）
    #[arg(required_unless_present = "from_platform")]
    pub bid_files: Vec<PathBuf>,
    /// 从交易平台获取投标文件（平台地址，投标截止后；文件存入 WORK/platform-bids/，逐个核对平台回执）
    #[arg(long, requires = "staff_account")]
    pub from_platform: Option<String>,
    /// 交易平台工作人员账号（与 --from-platform 一起）
    #[arg(long, requires = "from_platform")]
    pub staff_account: Option<String>,
    /// 工作人员账号的密码（与 --from-platform 一起）
    #[arg(long, requires = "from_platform", conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// 从标准输入读取工作人员密码（第一行；不出现在进程列表中）
    #[arg(long, requires = "from_platform")]
    pub password_stdin: bool,
    /// 招标文件包（提供认可的 CA、项目标段、投标截止与开标时间）
    #[arg(long)]
    pub tender: PathBuf,
    /// 信任的交易平台证书（PEM，可重复）：招标文件包必须由其中之一签发
    #[arg(long = "platform-cert", required = true)]
    pub platform_certs: Vec<PathBuf>,
    /// 扫码中继地址（默认在 127.0.0.1 上启动内置中继）
    #[arg(long)]
    pub relay: Option<String>,
    /// 解密后文件的存放目录（默认 ./opened）
    #[arg(long, default_value = "opened")]
    pub work: PathBuf,
    /// 二维码图片目录：每次运行一个子目录 run-时间-进程号，内为 qr-NN-操作.png（默认同 --work）
    #[arg(long)]
    pub qr_dir: Option<PathBuf>,
    /// 结果报告（JSON）
    #[arg(long)]
    pub report_json: Option<PathBuf>,
    /// 结果报告（PDF，中文）
    #[arg(long)]
    pub report_pdf: Option<PathBuf>,
    /// 每个二维码的有效期（秒）
    #[arg(long, default_value_t = 180)]
    pub qr_ttl: u64,
}

/// Shows each QR as its payload (stderr, for `bidseal phone scan`) and a PNG file named by
/// `bidseal_workflow::qr_files` (`qr-NN-<operation>.png`).
pub struct TerminalQr {
    files: QrFiles,
}

impl TerminalQr {
    /// Writes the numbered QR images into `dir` (which must exist).
    pub fn new(dir: PathBuf) -> Self {
        TerminalQr {
            files: QrFiles::new(dir),
        }
    }
}

impl ScanPresenter for TerminalQr {
    fn show_qr(&mut self, op: OperationKind, payload: &QrPayload) {
        match self.files.write_png(op, payload) {
            Ok(path) => eprintln!(
                "{}",
                crate::words!(
                    "out.qr.file",
                    operation = super::lang::operation_name(op),
                    file = path.display()
                )
            ),
            Err(e) => eprintln!(
                "{}",
                crate::words!(
                    "out.qr.write_failed",
                    error = crate::cmd::lang::error_words(Some(e.code()), &e)
                )
            ),
        }
        eprintln!(
            "{}",
            crate::words!("out.sync.qr_payload", payload = payload.to_url())
        );
    }

    fn status(&mut self, line: &str) {
        // The flows' progress words (zh-CN), in the language of this run.
        let line = crate::cmd::lang::phrase(line);
        eprintln!("{line}");
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .with_context(|| crate::words!("error.runtime"))
}

pub use super::exit::flow_err;

/// The check details of `report` in the command line's words ([`super::exit::cli_words`]:
/// "rerun the command", not "refresh the QR on the desktop").
fn in_cli_words(mut report: BidOpeningReport) -> BidOpeningReport {
    for check in &mut report.checks {
        let words = check
            .code
            .as_deref()
            .and_then(|c| super::exit::cli_words(c, super::lang::current()));
        if let Some(words) = words {
            check.detail = super::lang::tr("out.open.rerun_one", &[("words", &words)]);
        }
    }
    report
}

/// Prints the result table on stdout: zh-CN as `bidseal_workflow::report::opening_table` lays
/// it out; English with the same rows, the check names and details put into English by
/// `bidseal_workflow::i18n` (data — bid file, bidder, price labels and units — as it is).
pub fn print_table(reports: &[BidOpeningReport], form: &[PriceFormField]) {
    use super::lang::{current, Lang};
    if current() == Lang::ZhCn {
        for line in report::opening_table(reports, form) {
            crate::outln!("{line}");
        }
        return;
    }
    crate::say!("out.table.header", count = reports.len());
    for (i, r) in reports.iter().enumerate() {
        let bidder = match &r.bidder {
            Some(b) => format!("{} ({})", b.name, b.credit_code),
            None => crate::words!("out.table.not_decrypted"),
        };
        let price = r.price_texts(form);
        let price = if price.is_empty() {
            "-".to_string()
        } else {
            price.join(", ")
        };
        let verdict = if r.passed {
            crate::words!("out.table.passed")
        } else {
            crate::words!("out.table.failed")
        };
        crate::say!(
            "out.table.row",
            n = i + 1,
            file = r.bid_file,
            bidder = bidder,
            price = price,
            verdict = verdict
        );
        for c in &r.checks {
            let mark = if c.passed {
                crate::words!("out.table.check_passed")
            } else {
                crate::words!("out.table.check_failed")
            };
            let code = c
                .code
                .as_deref()
                .map(|code| format!(" ({code})"))
                .unwrap_or_default();
            crate::say!(
                "out.table.check",
                mark = mark,
                name = super::lang::phrase(&c.name),
                detail = super::lang::error_words(c.code.as_deref(), &c.detail),
                code = code
            );
        }
    }
}

/// The tender package at `path`, only if signed by one of the pinned platform certificates
/// and that certificate is valid now.
fn pinned_tender(
    path: &Path,
    platform_certs: &[PathBuf],
) -> Result<bidseal_bid::tender::TenderPackage> {
    use bidseal_bid::tender::{PlatformCertificate, TrustedPlatforms};
    let mut certs = Vec::new();
    for p in platform_certs {
        let pem = std::fs::read_to_string(p)
            .with_context(|| format!("[E_IO] 无法读取平台证书 {}", p.display()))?;
        certs.push(PlatformCertificate::from_pem(&pem).map_err(|e| anyhow!("[{}] {e}", e.code()))?);
    }
    let verified = bidseal_bid::tender::verify(
        path,
        &TrustedPlatforms::pinned(certs),
        bidseal_bid::time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| anyhow!("[{}] {e}", e.code()))?;
    Ok(verified.package)
}

/// Runs `bidseal open`.
pub fn open(args: OpenArgs) -> Result<ExitCode> {
    if let Some(relay) = &args.relay {
        check_relay_url(relay).map_err(flow_err)?;
    }
    let now = SystemTime::now();
    let package = pinned_tender(&args.tender, &args.platform_certs)?;
    let (hall, signed) = bidseal_workflow::hall::hall_from_tender(&package, now)
        .map_err(|e| anyhow!("[{}] {e}", e.code()))?;
    let (platform, project) = bidseal_workflow::scan_session::refs_from_tender(&package.manifest);
    bidseal_bid::fsio::create_private_dir(&args.work)
        .with_context(|| crate::words!("error.mkdir", dir = args.work.display()))?;
    let swept = bidseal_bid::opening::sweep_work(&args.work);
    if swept > 0 {
        eprintln!("{}", crate::words!("out.open.swept", count = swept));
    }
    // One folder per run, so this run's QR images never share names with an earlier run's.
    let qr_base = args.qr_dir.as_ref().unwrap_or(&args.work);
    let qr_dir = bidseal_workflow::qr_files::create_run_dir(qr_base)
        .with_context(|| format!("[E_IO] 无法创建目录 {}", qr_base.display()))?;
    let rt = runtime()?;
    let mut given = args.bid_files.clone();
    let mut fetch_refused = false;
    let password = match (&args.password, args.password_stdin) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some(super::secret_from_stdin(&crate::words!(
            "error.password_stdin"
        ))?),
        (None, false) => None,
    };
    if let Some(url) = &args.from_platform {
        let (Some(account), Some(password)) = (&args.staff_account, &password) else {
            return Err(super::exit::coded(
                "E_USAGE",
                "--from-platform 需要工作人员账号 --staff-account 和密码 --password（或 --password-stdin）",
            ));
        };
        let target = bidseal_workflow::hall_fetch::FetchTarget::new(
            &package.manifest_bytes,
            package.platform.clone(),
            args.work.join(bidseal_workflow::hall_fetch::FETCH_DIR),
        );
        let (fetched, refused) = fetch_from_platform(&rt, url, account, password, &target)?;
        given.extend(fetched);
        fetch_refused = refused;
    }
    // One bid, one report: a file given twice (or a copy of it) is opened and counted once.
    let (bid_files, repeated) = bidseal_workflow::hall::distinct_bid_files(&given);
    for r in &repeated {
        eprintln!(
            "{}",
            crate::words!(
                "out.open.repeated",
                file = r.file.display(),
                same_as = r.same_as.display()
            )
        );
    }
    let reports = rt.block_on(async {
        let relay = ScanRelay::start(args.relay.as_deref())
            .await
            .map_err(flow_err)?;
        if relay.is_embedded() {
            eprintln!("{}", crate::words!("out.open.relay", url = relay.url()));
        }
        let target = ScanTarget {
            relay: relay.url(),
            platform,
            project,
            options: ScanOptions {
                ttl: Duration::from_secs(args.qr_ttl.clamp(1, 300)),
                response_timeout: Duration::from_secs(180),
            },
        };
        let mut presenter = TerminalQr::new(qr_dir);
        let mut reports = Vec::new();
        for bid in &bid_files {
            eprintln!("{}", crate::words!("out.open.bid", file = bid.display()));
            reports.push(in_cli_words(
                bidseal_workflow::hall::open_by_scan(
                    &target,
                    &mut presenter,
                    &hall,
                    bid,
                    &args.work,
                    &signed,
                )
                .await,
            ));
            // Written after every bid, so that the reports of the bids already opened survive
            // if a later bid brings the process down.
            if let Some(path) = &args.report_json {
                if let Err(e) = report::write_json_report(path, &reports) {
                    eprintln!("[{}] {e}", e.code());
                }
            }
        }
        relay.shutdown().await;
        Ok::<_, anyhow::Error>(reports)
    })?;
    print_table(&reports, &package.manifest.price_form);
    if let Some(path) = &args.report_json {
        report::write_json_report(path, &reports).map_err(flow_err)?;
        eprintln!(
            "{}",
            crate::words!("out.open.report", file = path.display())
        );
    }
    if let Some(path) = &args.report_pdf {
        report::write_pdf_report(path, &reports, &package.manifest.price_form).map_err(flow_err)?;
        eprintln!(
            "{}",
            crate::words!("out.open.report", file = path.display())
        );
    }
    if fetch_refused {
        return Ok(super::exit::Exit::No.into());
    }
    Ok(opening_exit(&reports).into())
}

/// `--from-platform`: downloads the tender's bid files as staff; returns the files that match
/// their receipts, and whether any bid was not fetched or did not match (reported on stderr,
/// not opened).
fn fetch_from_platform(
    rt: &tokio::runtime::Runtime,
    url: &str,
    account: &str,
    password: &str,
    target: &bidseal_workflow::hall_fetch::FetchTarget,
) -> Result<(Vec<PathBuf>, bool)> {
    use bidseal_workflow::i18n::error_text;
    eprintln!(
        "{}",
        crate::words!(
            "out.open.fetching",
            platform = url,
            tender = target.tender_id
        )
    );
    let mut last_file = 0;
    let outcome = rt
        .block_on(bidseal_workflow::hall_fetch::fetch_bids(
            url,
            account,
            password,
            target,
            &mut |p| {
                if p.file != last_file {
                    last_file = p.file;
                    eprintln!(
                        "{}",
                        crate::words!(
                            "out.open.fetch_file",
                            n = p.file,
                            files = p.files,
                            bidder = p.bidder
                        )
                    );
                }
            },
        ))
        .map_err(|e| {
            let text = error_text(super::lang::current(), Some(e.code()), &e.to_string());
            super::exit::coded(e.code(), text)
        })?;
    let mut files = Vec::new();
    let mut refused = false;
    for f in &outcome.fetched {
        if f.facts.matches_receipt {
            eprintln!(
                "{}",
                crate::words!(
                    "out.open.fetched",
                    bidder = f.facts.bidder,
                    file = f.path.display(),
                    receipt = f.facts.receipt_id,
                    time = f.facts.received_at_text
                )
            );
            files.push(f.path.clone());
        } else {
            refused = true;
            eprintln!(
                "{}",
                crate::words!(
                    "out.open.fetch_mismatch",
                    bidder = f.facts.bidder,
                    file = f.path.display(),
                    sha256 = f.sha256,
                    receipt = f.facts.receipt_id,
                    receipt_sha256 = f.facts.receipt_sha256
                )
            );
        }
    }
    for s in &outcome.skipped {
        refused = true;
        eprintln!(
            "{}",
            crate::words!(
                "out.open.fetch_skipped",
                bidder = s.bidder,
                code = s.error.code(),
                error = error_text(
                    super::lang::current(),
                    Some(s.error.code()),
                    &s.error.to_string()
                )
            )
        );
    }
    if outcome.withdrawn > 0 {
        eprintln!(
            "{}",
            crate::words!("out.open.fetch_withdrawn", count = outcome.withdrawn)
        );
    }
    if files.is_empty() && !refused {
        return Err(super::exit::coded(
            "E_HALL_FETCH_EMPTY",
            crate::words!("error.open.fetch_empty", tender = target.tender_id),
        ));
    }
    Ok((files, refused))
}

/// The exit code of an opening: 0 when every bid passed; 4 when the only failures are scans
/// that timed out (QR expired, phone did not answer: run again for those bids); else 1.
fn opening_exit(reports: &[BidOpeningReport]) -> super::exit::Exit {
    use super::exit::{class_of, Exit};
    let failed: Vec<&bidseal_bid::opening::OpeningCheck> = reports
        .iter()
        .flat_map(|r| r.checks.iter().filter(|c| !c.passed))
        .collect();
    if reports.iter().all(|r| r.passed) {
        Exit::Success
    } else if !failed.is_empty()
        && failed
            .iter()
            .all(|c| c.code.as_deref().map(class_of) == Some(Exit::Interrupted))
    {
        Exit::Interrupted
    } else {
        Exit::No
    }
}

/// 以内置默认配置跑通完整流程：内置中继、模拟手机、演示招标文件，结果写入 --out 目录。
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// 输出目录（须不存在或为空）
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `bidseal demo`.
pub fn demo(args: DemoArgs) -> Result<ExitCode> {
    runtime()?.block_on(demo::run_demo(&args.out))
}
