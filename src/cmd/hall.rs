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
use bidseal_workflow::scan_session::{ScanPresenter, ScanTarget};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// 开标：逐个投标文件扫码解密，验证数字信封、清单签名、文件摘要与每个 PDF 签章。
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// 投标文件（可多个）
    #[arg(required = true)]
    pub bid_files: Vec<PathBuf>,
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
    /// 二维码图片目录（qr-N.png，默认同 --work）
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

/// Shows each QR as its payload (stderr, for `bidseal phone scan`) and a PNG file.
pub struct TerminalQr {
    dir: PathBuf,
    count: usize,
    /// Files written, in order.
    pub written: Vec<PathBuf>,
}

impl TerminalQr {
    /// Writes `qr-N.png` files into `dir`.
    pub fn new(dir: PathBuf) -> Self {
        TerminalQr {
            dir,
            count: 0,
            written: Vec::new(),
        }
    }
}

impl ScanPresenter for TerminalQr {
    fn show_qr(&mut self, op: OperationKind, payload: &QrPayload) {
        self.count += 1;
        let path = self
            .dir
            .join(format!("qr-{}-{}.png", self.count, op.as_str()));
        match bidseal_scan::qr::render_png(payload)
            .and_then(|png| bidseal_scan::qr::write_atomic(&path, &png))
        {
            Ok(()) => {
                eprintln!("二维码（{}）：{}", op.name_zh(), path.display());
                self.written.push(path);
            }
            Err(e) => eprintln!("二维码图片写出失败：{e}"),
        }
        eprintln!("扫码内容：{}", payload.to_url());
    }

    fn status(&mut self, line: &str) {
        eprintln!("{line}");
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("无法启动异步运行时")
}

/// Prints the result table (bidder, price with the labels of the tender's price form `form`,
/// every check).
pub fn print_table(reports: &[BidOpeningReport], form: &[PriceFormField]) {
    println!("开标结果（{} 份投标文件）", reports.len());
    for (i, r) in reports.iter().enumerate() {
        let bidder = r
            .bidder
            .as_ref()
            .map(|b| format!("{}（{}）", b.name, b.credit_code))
            .unwrap_or_else(|| "（未能解密）".into());
        let price: Vec<String> = r
            .price
            .iter()
            .map(|(k, v)| bidseal_bid::opening::price_entry(form, k, v))
            .collect();
        println!(
            "{}. {} 投标人：{} 报价：{} 结论：{}",
            i + 1,
            r.bid_file,
            bidder,
            if price.is_empty() {
                "-".into()
            } else {
                price.join("，")
            },
            if r.passed { "通过" } else { "不通过" }
        );
        for c in &r.checks {
            println!(
                "   [{}] {}：{}{}",
                if c.passed { "通过" } else { "失败" },
                c.name,
                c.detail,
                c.code
                    .as_deref()
                    .map(|c| format!("（{c}）"))
                    .unwrap_or_default()
            );
        }
    }
}

/// Writes the JSON report atomically.
pub fn write_json_report(path: &Path, reports: &[BidOpeningReport]) -> Result<()> {
    let json = serde_json::to_vec_pretty(reports)?;
    bidseal_bid::fsio::write_atomic(path, &json)
        .with_context(|| format!("写出报告 {} 失败", path.display()))
}

/// Writes the PDF report atomically.
pub fn write_pdf_report(path: &Path, reports: &[BidOpeningReport]) -> Result<()> {
    // Beijing time to the second, as the hall reads it (not raw UTC with nanoseconds).
    let beijing = bidseal_bid::time::UtcOffset::from_hms(8, 0, 0)
        .unwrap_or(bidseal_bid::time::UtcOffset::UTC);
    let now = bidseal_bid::time::OffsetDateTime::now_utc().to_offset(beijing);
    let stamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}（北京时间）",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    bidseal_bid::opening::report_pdf::write_report_pdf(
        path,
        "开标记录（BidSeal 扫码解密与验证）",
        &format!("生成时间：{stamp}"),
        reports,
    )
    .map_err(|e| anyhow!("[{}] {e}", e.code()))
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
    let now = SystemTime::now();
    let package = pinned_tender(&args.tender, &args.platform_certs)?;
    let (hall, signed) = bidseal_workflow::hall::hall_from_tender(&package, now)
        .map_err(|e| anyhow!("[{}] {e}", e.code()))?;
    let (platform, project) = bidseal_workflow::scan_session::refs_from_tender(&package.manifest);
    bidseal_bid::fsio::create_private_dir(&args.work)
        .with_context(|| format!("无法创建目录 {}", args.work.display()))?;
    let swept = bidseal_bid::opening::sweep_work(&args.work);
    if swept > 0 {
        eprintln!("已删除上次中断的开标留下的 {swept} 个临时明文文件");
    }
    let qr_dir = args.qr_dir.clone().unwrap_or_else(|| args.work.clone());
    std::fs::create_dir_all(&qr_dir)
        .with_context(|| format!("无法创建目录 {}", qr_dir.display()))?;
    let rt = runtime()?;
    let reports = rt.block_on(async {
        let (relay_url, _relay) = match &args.relay {
            Some(url) => (url.clone(), None),
            None => {
                let handle = bidseal_relay::Relay::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| anyhow!("内置扫码中继无法启动：{e}"))?;
                eprintln!("内置扫码中继：{}", handle.url());
                (handle.url(), Some(handle))
            }
        };
        let target = ScanTarget {
            relay: relay_url,
            platform,
            project,
            options: ScanOptions {
                ttl: Duration::from_secs(args.qr_ttl.clamp(1, 300)),
                response_timeout: Duration::from_secs(180),
            },
        };
        let mut presenter = TerminalQr::new(qr_dir);
        let mut reports = Vec::new();
        for bid in &args.bid_files {
            eprintln!("开启投标文件：{}", bid.display());
            reports.push(
                bidseal_workflow::hall::open_by_scan(
                    &target,
                    &mut presenter,
                    &hall,
                    bid,
                    &args.work,
                    &signed,
                )
                .await,
            );
            // Written after every bid, so that the reports of the bids already opened survive
            // if a later bid brings the process down.
            if let Some(path) = &args.report_json {
                if let Err(e) = write_json_report(path, &reports) {
                    eprintln!("{e:#}");
                }
            }
        }
        Ok::<_, anyhow::Error>(reports)
    })?;
    print_table(&reports, &package.manifest.price_form);
    if let Some(path) = &args.report_json {
        write_json_report(path, &reports)?;
        eprintln!("报告已写出：{}", path.display());
    }
    if let Some(path) = &args.report_pdf {
        write_pdf_report(path, &reports)?;
        eprintln!("报告已写出：{}", path.display());
    }
    Ok(if reports.iter().all(|r| r.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
