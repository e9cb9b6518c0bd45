//! `bidseal seal` and `bidseal verify`: visible seals as PDF signatures, and their verification.
//!
//! Thin: parses arguments, runs `bidseal_pdf` with a local PKCS#8 key (staff tools and tests;
//! bidders sign with the phone through the workflow crate), prints results. The output is
//! written atomically next to OUT (temporary file, fsync, rename); the input is never modified.

use super::lang::{beijing_time, current, tr, Lang};
use anyhow::{bail, Result};
use bidseal_cms::cert::Certificate;
use bidseal_cms::signed_data::{LocalKeySigner, Signer};
use bidseal_pdf::diff::Policy;
use bidseal_pdf::pages::page_count;
use bidseal_pdf::seal::CONTENTS_SLACK;
use bidseal_pdf::{PageRect, SealKind, SealRequest, WidgetLayout, WorkingCopy};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// 在 PDF 上加盖印章：可见印章图片 + PAdES 数字签名（增量更新，原文件字节不变）。
#[derive(Debug, Args)]
pub struct SealArgs {
    /// 输入 PDF（不会被修改）
    pub input: PathBuf,
    /// 输出 PDF（先写临时文件，完成后原子替换）
    pub output: PathBuf,
    /// 签名私钥（PKCS#8 PEM，P-256）
    #[arg(long)]
    pub key: PathBuf,
    /// 签名证书（PEM，可含中间证书）
    #[arg(long)]
    pub cert: PathBuf,
    /// 额外嵌入的 CA 证书（PEM），可重复；可含签名证书本身，顺序和重复不影响
    #[arg(long)]
    pub chain: Vec<PathBuf>,
    /// 受信任的 CA 根证书（PEM），可重复：位于签发路径上的根证书会一并嵌入签名
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// 印章图片（PNG，建议透明背景）
    #[arg(long)]
    pub image: PathBuf,
    /// 页码（从 1 开始）
    #[arg(long, default_value_t = 1)]
    pub page: usize,
    /// 印章矩形 X,Y,宽,高（单位：点；原点为页面显示方向的左下角）
    #[arg(long)]
    pub rect: String,
    /// 同一签名盖在多页上，如 1,3,5-7；骑缝章时为参与的页（默认全部页）
    #[arg(long)]
    pub pages: Option<String>,
    /// 骑缝章：印章按页数纵向切片，第 i 片贴在第 i 页右边缘（使用 --rect 的 Y、宽、高）
    #[arg(long)]
    pub cross_page: bool,
    /// 印章类型：公章、法人章、法人手写签名、私章或其他名称
    #[arg(long, default_value = "公章")]
    pub kind: String,
}

/// Runs `bidseal seal`.
pub fn seal(args: SealArgs) -> Result<ExitCode> {
    if same_file(&args.input, &args.output) {
        bail!("[E_SAME_FILE] 输出文件不能与输入文件相同：输入文件不会被修改，请指定新的输出路径");
    }
    let image_png = std::fs::read(&args.image).map_err(|e| {
        anyhow::anyhow!(
            "[E_IMAGE_IO] 无法读取印章图片 {}：{e}",
            args.image.display()
        )
    })?;
    let chain: Vec<&Path> = args.chain.iter().map(PathBuf::as_path).collect();
    let mut roots = Vec::new();
    for path in &args.trust {
        roots.extend(
            Certificate::load_pem_chain(path).map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?,
        );
    }
    let signer = LocalKeySigner::from_files_with_roots(&args.key, &args.cert, &chain, &roots)
        .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    let rect = PageRect::parse(&args.rect).map_err(pdf_err)?;
    let mut work = WorkingCopy::create(&args.input, &args.output).map_err(pdf_err)?;
    let count = page_count(work.reader()).map_err(pdf_err)?;
    let layout = if args.cross_page {
        let pages = match &args.pages {
            Some(list) => parse_pages(list, count)?,
            None => (1..=count).collect(),
        };
        WidgetLayout::CrossPage {
            pages,
            y: rect.y,
            width: rect.w,
            height: rect.h,
        }
    } else {
        let pages = match &args.pages {
            Some(list) => parse_pages(list, count)?,
            None => vec![args.page],
        };
        WidgetLayout::SameRect { pages, rect }
    };
    let leaf = signer.certificate_chain().first().cloned();
    let request = SealRequest {
        kind: SealKind::parse(&args.kind),
        image_png,
        layout,
        signer_name: leaf
            .as_ref()
            .and_then(|c| c.common_name())
            .unwrap_or_default(),
        time: SystemTime::now(),
        contents_capacity: CONTENTS_SLACK,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pending = runtime
        .block_on(work.seal(request, &signer))
        .map_err(pdf_err)?;
    work.commit(&args.output).map_err(pdf_err)?;
    crate::outln!(
        "{}",
        tr(
            "out.seal.done",
            &[
                ("file", &args.output.display().to_string()),
                ("field", &pending.field_name),
                ("kind", SealKind::parse(&args.kind).label()),
                ("bytes", &pending.update_len.to_string()),
            ]
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// 验证 PDF 中的每个签名：摘要、签名值、证书链与签名后的修改。
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// 要验证的 PDF
    pub file: PathBuf,
    /// 受信任的 CA 根证书（PEM），可重复；不给出时用 --project / --tender 的认可 CA，再不然用系统信任库
    #[arg(long, conflicts_with_all = ["project", "tender"])]
    pub trust: Vec<PathBuf>,
    /// 投标项目文件夹：以其招标文件认可的 CA 为信任列表
    #[arg(long, conflicts_with = "tender")]
    pub project: Option<PathBuf>,
    /// 招标文件包：以其认可的 CA 为信任列表
    #[arg(long)]
    pub tender: Option<PathBuf>,
    /// 信任的交易平台证书（PEM，可重复）：--tender 须由其中之一签名
    #[arg(long = "platform-cert", requires = "tender")]
    pub platform_certs: Vec<PathBuf>,
    /// 宽松模式：签名后新增的普通注释（批注、图章等）也视为允许（相当于 pyHanko 的
    /// “允许注释”级别）；投标文件验证请勿使用，默认严格
    #[arg(long)]
    pub lenient: bool,
    /// 以 JSON 输出（字段见 docs/cli.md）
    #[arg(long)]
    pub json: bool,
}

/// The trust list of `verify`: `--trust`, else the tender's accepted CAs (`--project`,
/// `--tender`), else the system's trust store.
fn verify_trust(args: &VerifyArgs) -> Result<bidseal_workflow::trust::TrustList> {
    use bidseal_bid::tender::{PlatformCertificate, TrustedPlatforms};
    use bidseal_workflow::trust;
    let flow = super::exit::flow_err;
    if !args.trust.is_empty() {
        return trust::from_files(&args.trust).map_err(flow);
    }
    if let Some(dir) = &args.project {
        let project = bidseal_bid::project::BidProject::open(dir)
            .map_err(|e| super::exit::coded(e.code(), e))?;
        return trust::from_tender(project.tender(), true).map_err(flow);
    }
    if let Some(tender) = &args.tender {
        let mut certs = Vec::new();
        for p in &args.platform_certs {
            let pem = std::fs::read_to_string(p).map_err(|e| {
                super::exit::coded("E_IO", format!("无法读取平台证书 {}：{e}", p.display()))
            })?;
            certs.push(
                PlatformCertificate::from_pem(&pem).map_err(|e| super::exit::coded(e.code(), e))?,
            );
        }
        let pinned = !certs.is_empty();
        let trusted = if pinned {
            TrustedPlatforms::pinned(certs)
        } else {
            TrustedPlatforms::default()
        };
        let verified = bidseal_bid::tender::verify(
            tender,
            &trusted,
            bidseal_bid::time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| super::exit::coded(e.code(), e))?;
        return trust::from_tender(&verified.package, pinned).map_err(flow);
    }
    trust::system().map_err(flow)
}

/// One signature of `verify --json` (fields in docs/cli.md).
fn signature_json(sig: &bidseal_pdf::verify::SignatureReport) -> serde_json::Value {
    let time_unix = sig
        .signing_time
        .as_deref()
        .and_then(bidseal_pdf::date::parse_pdf_date);
    serde_json::json!({
        "field": sig.field_name,
        "valid": sig.is_valid(),
        "seal_kind": sig.seal_kind,
        "signer": sig.signer,
        "organization": sig.organization,
        "credit_code": sig.credit_code,
        "signing_time": time_unix.map(bidseal_pdf::date::format_beijing),
        "signing_time_unix": time_unix,
        "covers_whole_file": sig.covers_whole_file,
        "covered_end": sig.covered_end,
        "byte_range_ok": sig.byte_range_ok,
        "digest_ok": sig.digest_ok,
        "signature_ok": sig.signature_ok,
        "chain_error": sig.chain_error,
        "error": sig.error,
        "changes": sig.changes.iter().map(|c| serde_json::json!({
            "allowed": c.allowed,
            "description": c.description,
        })).collect::<Vec<_>>(),
        "summary": sig.summary_line(),
    })
}

/// Runs `bidseal verify`: which trust list, one line per signature; exit code 0 only if there
/// are signatures and all are valid.
pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let trust = verify_trust(&args)?;
    let policy = if args.lenient {
        Policy::AnnotationsAllowed
    } else {
        Policy::SealedBid
    };
    let report =
        bidseal_pdf::verify::verify_file_with(&args.file, &trust.store, SystemTime::now(), policy)
            .map_err(pdf_err)?;
    let valid = report.signatures.iter().filter(|s| s.is_valid()).count();
    let code = if report.all_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if args.json {
        let mut trust_json = serde_json::to_value(&trust.source)?;
        if let Some(obj) = trust_json.as_object_mut() {
            obj.insert("roots".into(), trust.store.roots().len().into());
            obj.insert("description".into(), trust.describe_zh().into());
        }
        let value = serde_json::json!({
            "file": args.file.display().to_string(),
            "trust": trust_json,
            "lenient": args.lenient,
            "revisions": report.revisions,
            "signatures": report.signatures.iter().map(signature_json).collect::<Vec<_>>(),
            "valid": valid,
            "all_valid": report.all_valid(),
        });
        crate::outln!("{value:#}");
        return Ok(code);
    }
    crate::outln!("{}", describe_trust(&trust));
    if report.signatures.is_empty() {
        crate::outln!(
            "{}",
            tr(
                "out.verify.none",
                &[("file", &args.file.display().to_string())]
            )
        );
        return Ok(code);
    }
    if args.lenient {
        crate::outln!("{}", tr("out.verify.lenient", &[]));
    }
    for sig in &report.signatures {
        crate::outln!("{}", summary_line(sig));
        for change in &sig.changes {
            let mark = if change.allowed {
                tr("out.verify.allowed", &[])
            } else {
                tr("out.verify.violation", &[])
            };
            crate::outln!(
                "{}",
                tr(
                    "out.verify.change",
                    &[
                        ("mark", &mark),
                        ("description", &super::lang::phrase(&change.description)),
                    ]
                )
            );
        }
    }
    crate::outln!(
        "{}",
        tr(
            "out.verify.total",
            &[
                ("count", &report.signatures.len().to_string()),
                ("valid", &valid.to_string()),
                ("revisions", &report.revisions.to_string()),
            ]
        )
    );
    Ok(code)
}

/// Which trust list `verify` used, in the language of this run (zh-CN: the workflow's own
/// `describe_zh`, word for word).
fn describe_trust(trust: &bidseal_workflow::trust::TrustList) -> String {
    use bidseal_workflow::trust::TrustSource;
    if current() == Lang::ZhCn {
        return trust.describe_zh();
    }
    let roots = trust.store.roots().len().to_string();
    match &trust.source {
        TrustSource::Files { files } => tr(
            "out.verify.trust_files",
            &[("files", &files.join(", ")), ("roots", &roots)],
        ),
        TrustSource::Tender {
            project,
            cas,
            platform_pinned,
        } => {
            let pinned = if *platform_pinned {
                tr("out.verify.trust_pinned", &[])
            } else {
                tr("out.verify.trust_not_pinned", &[])
            };
            tr(
                "out.verify.trust_tender",
                &[
                    ("project", project),
                    ("cas", &cas.join(", ")),
                    ("roots", &roots),
                    ("pinned", &pinned),
                ],
            )
        }
        TrustSource::System { file, skipped } => tr(
            "out.verify.trust_system",
            &[
                ("file", file),
                ("roots", &roots),
                ("skipped", &skipped.to_string()),
            ],
        ),
    }
}

/// One signature's line in the language of this run (zh-CN: the engine's `summary_line`,
/// word for word); the engine's descriptions of later changes through the workflow's phrases.
fn summary_line(sig: &bidseal_pdf::verify::SignatureReport) -> String {
    use bidseal_pdf::verify::LaterChanges;
    if current() == Lang::ZhCn {
        return sig.summary_line();
    }
    let mut problems = Vec::new();
    if let Some(e) = &sig.error {
        problems.push(super::lang::phrase(e));
    }
    for (failed, key) in [
        (!sig.byte_range_ok, "out.verify.problem_range"),
        (!sig.digest_ok, "out.verify.problem_digest"),
        (!sig.signature_ok, "out.verify.problem_signature"),
    ] {
        if failed {
            problems.push(tr(key, &[]));
        }
    }
    if let Some(c) = &sig.chain_error {
        let c = super::lang::phrase(c);
        problems.push(tr("out.verify.problem_chain", &[("chain", &c)]));
    }
    if sig.later_changes == LaterChanges::Other {
        problems.push(tr("out.verify.problem_changes", &[]));
        problems.extend(
            sig.violations()
                .map(|c| super::lang::phrase(&c.description)),
        );
    }
    let coverage = if sig.covers_whole_file {
        tr("out.verify.covers_all", &[])
    } else {
        let appended: Vec<String> = sig
            .changes
            .iter()
            .filter(|c| c.allowed)
            .map(|c| super::lang::phrase(&c.description))
            .collect();
        let appended = if appended.is_empty() {
            "-".to_string()
        } else {
            appended.join(", ")
        };
        tr(
            "out.verify.covers_part",
            &[
                ("bytes", &sig.covered_end.to_string()),
                ("appended", &appended),
            ],
        )
    };
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let time = sig.signing_time.as_deref().map_or_else(
        || "-".to_string(),
        |t| beijing_time(&bidseal_pdf::date::display_pdf_date(t)),
    );
    let verdict = if sig.is_valid() {
        tr("out.verify.valid", &[])
    } else {
        tr("out.verify.invalid", &[])
    };
    let mut line = tr(
        "out.verify.signature",
        &[
            ("verdict", &verdict),
            ("field", &sig.field_name),
            ("kind", &dash(&sig.seal_kind)),
            ("signer", &dash(&sig.signer)),
            ("organization", &dash(&sig.organization)),
            ("credit_code", &dash(&sig.credit_code)),
            ("time", &time),
            ("coverage", &coverage),
        ],
    );
    if !problems.is_empty() {
        line.push_str(&tr(
            "out.verify.problems",
            &[("problems", &problems.join("; "))],
        ));
    }
    line
}

fn pdf_err(e: bidseal_pdf::PdfError) -> anyhow::Error {
    anyhow::anyhow!("[{}] {e}", e.code())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Parses `1,3,5-7` into page numbers within 1..=count.
fn parse_pages(list: &str, count: usize) -> Result<Vec<usize>> {
    let mut pages = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>(), b.trim().parse::<usize>()),
            None => (part.parse::<usize>(), part.parse::<usize>()),
        };
        let (Ok(from), Ok(to)) = (from, to) else {
            bail!("[E_PDF_PAGE_LIST] 页码列表“{list}”无效，应为如 1,3,5-7 的格式");
        };
        if from == 0 || to < from || to > count {
            bail!("[E_PDF_PAGE_RANGE] 页码“{part}”超出范围：文件共 {count} 页");
        }
        pages.extend(from..=to);
    }
    if pages.is_empty() {
        bail!("[E_PDF_PAGE_LIST] 页码列表为空");
    }
    Ok(pages)
}
