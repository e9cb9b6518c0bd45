//! `bidseal seal` and `bidseal verify`: visible seals as PDF signatures, and their verification.
//!
//! Thin: parses arguments, runs `bidseal_pdf` with a local PKCS#8 key (staff tools and tests;
//! bidders sign with the phone through the workflow crate), prints results. The output is
//! written atomically next to OUT (temporary file, fsync, rename); the input is never modified.

use anyhow::{bail, Result};
use bidseal_cms::cert::{Certificate, TrustStore};
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
        "已签章：{}（签名域 {}，{}，新增 {} 字节）",
        args.output.display(),
        pending.field_name,
        SealKind::parse(&args.kind).label(),
        pending.update_len
    );
    Ok(ExitCode::SUCCESS)
}

/// 验证 PDF 中的每个签名：摘要、签名值、证书链与签名后的修改。
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// 要验证的 PDF
    pub file: PathBuf,
    /// 受信任的 CA 根证书（PEM），可重复
    #[arg(long, required = true)]
    pub trust: Vec<PathBuf>,
    /// 宽松模式：签名后新增的普通注释（批注、图章等）也视为允许（相当于 pyHanko 的
    /// “允许注释”级别）；投标文件验证请勿使用，默认严格
    #[arg(long)]
    pub lenient: bool,
}

/// Runs `bidseal verify`: one line per signature; exit code 0 only if all are valid.
pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let mut trust = TrustStore::new();
    for path in &args.trust {
        trust
            .add_pem_file(path)
            .map_err(|e| anyhow::anyhow!("[{}] {e}", e.code()))?;
    }
    let policy = if args.lenient {
        Policy::AnnotationsAllowed
    } else {
        Policy::SealedBid
    };
    let report =
        bidseal_pdf::verify::verify_file_with(&args.file, &trust, SystemTime::now(), policy)
            .map_err(pdf_err)?;
    if report.signatures.is_empty() {
        crate::outln!("[无签名] {} 中没有找到数字签名", args.file.display());
        return Ok(ExitCode::FAILURE);
    }
    if args.lenient {
        crate::outln!("注意：宽松模式（允许签名后新增注释），不适用于投标文件");
    }
    for sig in &report.signatures {
        crate::outln!("{}", sig.summary_line());
        for change in &sig.changes {
            let mark = if change.allowed { "允许" } else { "违规" };
            crate::outln!("    签名后修改 [{mark}] {}", change.description);
        }
    }
    let valid = report.signatures.iter().filter(|s| s.is_valid()).count();
    crate::outln!(
        "共 {} 个签名，{} 个有效，文件共 {} 次修订",
        report.signatures.len(),
        valid,
        report.revisions
    );
    Ok(if report.all_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
