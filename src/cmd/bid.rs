//! `bidseal tender` and `bidseal project`: tender packages and bid projects, including the
//! bidder's scans on their own project (`project seal|generate|trial-decrypt`, through
//! `bidseal_workflow::project_flow`, the same functions `bidseal demo` uses). Open and demo live
//! in `hall.rs`.

use anyhow::Result;
use bidseal_bid::compose::compose;
use bidseal_bid::project::index::ProjectIndex;
use bidseal_bid::project::{AttachmentKind, BidProject, ProjectError};
use bidseal_bid::tender::{
    PackageInputs, PlatformCertificate, PlatformSigner, PlatformTrust, TenderError, TenderManifest,
    TenderSpec, TrustedPlatforms,
};
use bidseal_bid::time::format_description::well_known::Rfc3339;
use bidseal_bid::time::OffsetDateTime;
use bidseal_workflow::history::{ScanOperation, ScanOutcome};
use bidseal_workflow::relay::{check_relay_url, ScanRelay};
use bidseal_workflow::report::format_beijing_time;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `bidseal tender make`: the platform's inputs, given one by one or as a `phone init` world.
#[derive(Debug, Args)]
struct TenderMakeArgs {
    /// phone init 生成的文件夹：认可其中的测试 CA（pki/ca-*.pem），以其平台证书与私钥
    /// （pki/platform.crt、pki/platform.key.pem）签名 / accept a `phone init` world's CAs
    #[arg(long, conflicts_with_all = ["cas", "key", "cert"])]
    world: Option<PathBuf>,
    /// 招标要求（JSON：项目、标段、组成部分、投标函字段、签章节点；默认内置演示招标） / spec
    #[arg(long, alias = "from")]
    spec: Option<PathBuf>,
    /// 招标文件正文 PDF（默认内置演示招标文件） / the tender document PDF
    #[arg(long)]
    pdf: Option<PathBuf>,
    /// 可接受的 CA 根证书（PEM，可重复；不用 --world 时必填） / accepted CA root (repeatable)
    #[arg(long = "ca")]
    cas: Vec<PathBuf>,
    /// 平台签名私钥（PKCS#8 PEM，P-256；不用 --world 时必填） / platform signing key
    #[arg(long)]
    key: Option<PathBuf>,
    /// 平台证书（PEM；不用 --world 时必填） / platform certificate
    #[arg(long)]
    cert: Option<PathBuf>,
    /// 输出文件（.zip） / the package to write
    #[arg(long)]
    out: PathBuf,
    /// 签发时间（RFC 3339，默认当前时间） / issue time
    #[arg(long)]
    issued_at: Option<String>,
    /// 投标截止时间（RFC 3339，覆盖招标要求中的时间） / bid deadline
    #[arg(long)]
    deadline: Option<String>,
    /// 开标时间（RFC 3339，覆盖招标要求中的时间；不得早于投标截止时间） / opening time
    #[arg(long)]
    opening_time: Option<String>,
}

// The demo tender's spec and PDF are the default of `tender make` (the same `bidseal demo` uses).
use bidseal_bid::tender::demo::{DEMO_PDF as TEMPLATE_PDF, DEMO_SPEC as TEMPLATE_SPEC};

/// `bidseal tender`: make, inspect and verify tender packages.
#[derive(Debug, Args)]
pub struct TenderArgs {
    #[command(subcommand)]
    cmd: TenderCmd,
}

#[derive(Debug, Subcommand)]
enum TenderCmd {
    /// 制作并签名招标文件包（交易平台使用） / build and sign a tender package
    #[command(
        after_help = "示例 / example:\n  bidseal tender make --world world --out tender.zip --opening-time 2027-06-30T09:30:00+08:00\n  bidseal tender make --spec spec.json --pdf 招标文件.pdf --ca ca.pem --key platform.key.pem --cert platform.crt --out tender.zip"
    )]
    Make(TenderMakeArgs),
    /// 查看招标文件包内容（校验包内签名，不要求信任平台） / show what a package asks for
    #[command(after_help = "示例 / example:\n  bidseal tender inspect tender.zip --json")]
    Inspect {
        /// 招标文件包（.zip） / the tender package
        package: PathBuf,
        /// 以 JSON 输出清单（字段见 docs/tender-format.md） / print the manifest as JSON
        #[arg(long)]
        json: bool,
    },
    /// 校验招标文件包（签名、摘要、结构；可指定信任的平台证书） / verify a package
    #[command(
        after_help = "示例 / example:\n  bidseal tender verify tender.zip --platform-cert world/pki/platform.crt"
    )]
    Verify {
        /// 招标文件包（.zip） / the tender package
        package: PathBuf,
        /// 信任的交易平台证书（PEM，可重复）
        #[arg(long = "platform-cert")]
        platform_certs: Vec<PathBuf>,
    },
}

use super::exit::{coded, flow_err, Exit};

/// Pretty JSON of a result type (these serialise infallibly: plain structs of strings and
/// numbers); `{}` if serde ever says otherwise, never a panic.
fn json_or_empty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into())
}

fn tender_err(e: TenderError) -> anyhow::Error {
    coded(e.code(), e)
}

fn project_err(e: ProjectError) -> anyhow::Error {
    coded(e.code(), e)
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| coded("IO", format!("无法读取 {}: {e}", path.display())))
}

fn trusted_platforms(paths: &[PathBuf]) -> Result<TrustedPlatforms> {
    let mut certs = Vec::new();
    for p in paths {
        certs.push(PlatformCertificate::from_pem(&read_text(p)?).map_err(tender_err)?);
    }
    Ok(TrustedPlatforms::pinned(certs))
}

/// A list joined the way the language joins lists (`、` / `, `).
fn joined<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    items.join(&crate::words!("out.list_joint"))
}

/// A Beijing time of a tender in the language of this run.
fn tender_time(t: OffsetDateTime) -> String {
    super::lang::beijing_time(&format_beijing_time(t))
}

/// A section kind's name in the language of this run.
fn section_kind(k: bidseal_bid::tender::manifest::SectionKind) -> String {
    use bidseal_bid::tender::manifest::SectionKind;
    match super::lang::current() {
        super::lang::Lang::ZhCn => k.zh().to_string(),
        super::lang::Lang::En => match k {
            SectionKind::Business => crate::words!("out.section.business"),
            SectionKind::Technical => crate::words!("out.section.technical"),
            SectionKind::Price => crate::words!("out.section.price"),
            SectionKind::Qualification => crate::words!("out.section.qualification"),
        },
    }
}

/// A seal kind's name in the language of this run.
fn seal_kind(k: bidseal_bid::tender::manifest::SealKind) -> String {
    use bidseal_bid::tender::manifest::SealKind;
    match super::lang::current() {
        super::lang::Lang::ZhCn => k.zh().to_string(),
        super::lang::Lang::En => match k {
            SealKind::Enterprise => crate::words!("out.seal_kind.enterprise"),
            SealKind::LegalPerson => crate::words!("out.seal_kind.legal_person"),
            SealKind::LegalPersonSignature => crate::words!("out.seal_kind.legal_signature"),
            SealKind::Personal => crate::words!("out.seal_kind.personal"),
            SealKind::Department => crate::words!("out.seal_kind.department"),
        },
    }
}

fn print_manifest(m: &TenderManifest) {
    crate::say!(
        "out.tender.project",
        name = m.project.name,
        id = m.project.id
    );
    crate::say!(
        "out.tender.lot",
        name = m.project.lot.name,
        id = m.project.lot.id
    );
    crate::say!("out.tender.tenderer", name = m.tenderer.name);
    crate::say!(
        "out.tender.platform",
        name = m.platform.name,
        id = m.platform.id
    );
    crate::say!("out.tender.deadline", time = tender_time(m.bid_deadline));
    crate::say!("out.tender.opening", time = tender_time(m.opening_time));
    let cas: Vec<&str> = m.accepted_cas.iter().map(|c| c.title.as_str()).collect();
    crate::say!(
        "out.tender.cas",
        cas = cas.join(&crate::words!("out.list_joint_strong"))
    );
    crate::say!("out.tender.sections");
    for s in &m.sections {
        crate::say!(
            "out.tender.section",
            id = s.id,
            title = s.title,
            kind = section_kind(s.kind),
            content = joined(&s.required_content)
        );
    }
    crate::say!("out.tender.fields");
    for f in &m.price_form {
        let required = if f.required {
            crate::words!("out.tender.required")
        } else {
            String::new()
        };
        let max = f
            .max
            .as_deref()
            .map(|m| crate::words!("out.tender.max", max = m))
            .unwrap_or_default();
        crate::say!(
            "out.tender.field",
            key = f.key,
            label = f.label,
            required = required,
            max = max
        );
    }
    crate::say!("out.tender.nodes");
    for n in &m.signing_nodes {
        let kinds: Vec<String> = n.seal_kinds.iter().map(|k| seal_kind(*k)).collect();
        let mandatory = if n.mandatory {
            crate::words!("out.tender.mandatory")
        } else {
            String::new()
        };
        crate::say!(
            "out.tender.node",
            id = n.id,
            label = n.label,
            section = n.section,
            kinds = joined(&kinds),
            mandatory = mandatory
        );
    }
}

fn parse_time(what: &str, text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        coded(
            "E_USAGE",
            format!("{what}“{text}”无效（{e}），应为 RFC 3339 时间，如 2027-06-30T09:30:00+08:00"),
        )
    })
}

/// The accepted CA roots of a `phone init` world: `pki/ca-*.pem` (not the keys).
fn world_cas(pki: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(pki).map_err(|e| {
        coded(
            "IO",
            format!(
                "无法读取 {}（{e}）：--world 应为 bidseal phone init 生成的文件夹",
                pki.display()
            ),
        )
    })?;
    let mut cas: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("ca-") && n.ends_with(".pem") && !n.ends_with(".key.pem")
            })
        })
        .collect();
    cas.sort();
    if cas.is_empty() {
        return Err(coded(
            "IO",
            format!(
                "{} 中没有 CA 证书（ca-*.pem）：--world 应为 bidseal phone init 生成的文件夹",
                pki.display()
            ),
        ));
    }
    Ok(cas)
}

/// Runs `bidseal tender make`.
fn make_tender(args: TenderMakeArgs) -> Result<ExitCode> {
    let (cas, key, cert) = match &args.world {
        Some(world) => {
            let pki = world.join("pki");
            let key = pki.join(bidseal_phone::provision::PLATFORM_KEY_FILE);
            let cert = pki.join(bidseal_phone::provision::PLATFORM_CERT_FILE);
            if !key.exists() || !cert.exists() {
                return Err(coded(
                    "IO",
                    format!(
                        "{} 中没有平台证书与私钥（platform.crt、platform.key.pem）：请用本版本的 bidseal phone init 重新生成测试环境",
                        pki.display()
                    ),
                ));
            }
            (world_cas(&pki)?, key, cert)
        }
        None => match (&args.key, &args.cert) {
            (Some(k), Some(c)) if !args.cas.is_empty() => (args.cas.clone(), k.clone(), c.clone()),
            _ => {
                return Err(coded(
                    "E_USAGE",
                    "请给出 --world DIR，或同时给出 --ca、--key 与 --cert",
                ))
            }
        },
    };
    let spec_text = match &args.spec {
        Some(p) => read_text(p)?,
        None => TEMPLATE_SPEC.to_string(),
    };
    let mut spec: TenderSpec = serde_json::from_str(&spec_text).map_err(|e| {
        coded(
            "TENDER_SPEC_INVALID",
            format!(
                "招标要求 {} 无法解析: {e}",
                args.spec
                    .as_deref()
                    .map_or_else(|| "（内置模板）".to_string(), |p| p.display().to_string())
            ),
        )
    })?;
    if let Some(t) = &args.deadline {
        spec.bid_deadline = parse_time("投标截止时间", t)?;
    }
    if let Some(t) = &args.opening_time {
        spec.opening_time = parse_time("开标时间", t)?;
    }
    if spec.opening_time < spec.bid_deadline {
        return Err(coded(
            "E_USAGE",
            format!(
                "开标时间 {} 早于投标截止时间 {}：请同时调整 --deadline 与 --opening-time",
                format_beijing_time(spec.opening_time),
                format_beijing_time(spec.bid_deadline)
            ),
        ));
    }
    let pdf_bytes = match &args.pdf {
        Some(pdf) => std::fs::read(pdf)
            .map_err(|e| coded("IO", format!("无法读取 {}: {e}", pdf.display())))?,
        None => TEMPLATE_PDF.to_vec(),
    };
    let platform_cert = PlatformCertificate::from_pem(&read_text(&cert)?).map_err(tender_err)?;
    let signer = PlatformSigner::from_pem_file(&key).map_err(tender_err)?;
    let mut accepted = Vec::new();
    for ca in &cas {
        let pem = std::fs::read(ca)
            .map_err(|e| coded("IO", format!("无法读取 {}: {e}", ca.display())))?;
        let stem: String = ca
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            })
            .unwrap_or_else(|| "ca".into());
        let title = PlatformCertificate::parse_any_pem(&pem)
            .map(|c| c.tbs_certificate.subject.to_string())
            .map_err(|why| {
                coded(
                    "TENDER_CA_INVALID",
                    format!("CA 证书 {} 无法解析: {why}", ca.display()),
                )
            })?;
        accepted.push((stem, title, pem));
    }
    let issued_at = match &args.issued_at {
        Some(t) => parse_time("签发时间", t)?,
        None => OffsetDateTime::now_utc(),
    };
    let inputs = PackageInputs {
        tender_pdf: &pdf_bytes,
        extra_docs: Vec::new(),
        accepted_cas: accepted,
        platform_cert: &platform_cert,
        signer: &signer,
    };
    let manifest =
        bidseal_bid::tender::make(spec, inputs, issued_at, &args.out).map_err(tender_err)?;
    crate::say!(
        "out.tender.made",
        file = args.out.display(),
        project = manifest.project.id,
        lot = manifest.project.lot.id,
        fingerprint = platform_cert.fingerprint()
    );
    let cas: Vec<&str> = manifest
        .accepted_cas
        .iter()
        .map(|c| c.title.as_str())
        .collect();
    crate::say!(
        "out.tender.made_cas",
        cas = cas.join(&crate::words!("out.list_joint_strong"))
    );
    crate::say!(
        "out.tender.made_times",
        deadline = tender_time(manifest.bid_deadline),
        opening = tender_time(manifest.opening_time)
    );
    crate::say!("out.tender.made_hint", cert = cert.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs `bidseal tender`.
pub fn tender(args: TenderArgs) -> Result<ExitCode> {
    match args.cmd {
        TenderCmd::Make(args) => make_tender(args),
        TenderCmd::Inspect { package, json } => {
            let v = bidseal_bid::tender::verify(
                &package,
                &TrustedPlatforms::default(),
                OffsetDateTime::now_utc(),
            )
            .map_err(tender_err)?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&v.package.manifest)?);
            } else {
                print_manifest(&v.package.manifest);
                crate::say!(
                    "out.tender.inspect_signature",
                    subject = v.package.platform.subject(),
                    fingerprint = v.package.platform.fingerprint()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TenderCmd::Verify {
            package,
            platform_certs,
        } => {
            let trusted = trusted_platforms(&platform_certs)?;
            let v = bidseal_bid::tender::verify(&package, &trusted, OffsetDateTime::now_utc())
                .map_err(tender_err)?;
            match &v.trust {
                PlatformTrust::Pinned { fingerprint } => {
                    crate::say!("out.tender.verified_pinned", fingerprint = fingerprint)
                }
                PlatformTrust::SignatureOnly { fingerprint } => {
                    crate::say!("out.tender.verified_unpinned", fingerprint = fingerprint)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `bidseal project`: bid projects.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[command(subcommand)]
    cmd: ProjectCmd,
}

#[derive(Debug, Subcommand)]
enum ProjectCmd {
    /// 导入招标文件，新建投标项目文件夹（NAME.bidproj） / new project from a tender
    #[command(
        after_help = "示例 / example:\n  bidseal project new 我的投标.bidproj --tender tender.zip --platform-cert world/pki/platform.crt"
    )]
    New {
        /// 新建的项目文件夹（须以 .bidproj 结尾，不存在或为空） / project folder to create
        dir: PathBuf,
        /// 招标文件包
        #[arg(long)]
        tender: PathBuf,
        /// 信任的交易平台证书（PEM，可重复）
        #[arg(long = "platform-cert", required = true)]
        platform_certs: Vec<PathBuf>,
    },
    /// 为某个组成部分添加附件（PDF，或 JPG/PNG 扫描件） / attach PDFs or scans to a section
    #[command(
        after_help = "示例 / example:\n  bidseal project attach 我的投标.bidproj --section qualification 营业执照.pdf 资质证书.jpg"
    )]
    Attach {
        /// 投标项目文件夹 / project folder
        dir: PathBuf,
        /// 组成部分编号（见 project show） / section id
        #[arg(long)]
        section: String,
        /// 附件文件（PDF、JPG 或 PNG，可多个） / files to attach
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// 填写投标人信息与投标函字段（KEY=VALUE，全部有效才写入） / fill the bid form
    #[command(
        after_help = "示例 / example:\n  bidseal project set 我的投标.bidproj price=4321000.50 duration=300"
    )]
    Set {
        /// 投标项目文件夹 / project folder
        dir: PathBuf,
        /// 字段赋值 KEY=VALUE（字段见 project show） / KEY=VALUE assignments
        #[arg(required = true)]
        assignments: Vec<String>,
    },
    /// 显示投标项目 / show a project
    #[command(after_help = "示例 / example:\n  bidseal project show 我的投标.bidproj --json")]
    Show {
        /// 投标项目文件夹 / project folder
        dir: PathBuf,
        /// 以 JSON 输出项目文件（project.json） / print project.json
        #[arg(long)]
        json: bool,
    },
    /// 项目进度：是否已合成、各签章节点是否已签、签章与投标文件是否最新、下一步 / status
    #[command(after_help = "示例 / example:\n  bidseal project status 我的投标.bidproj --json")]
    Status {
        /// 投标项目文件夹 / project folder
        dir: PathBuf,
        /// 以 JSON 输出（字段见 docs/cli.md） / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 合成投标文件 PDF（封面、目录、投标函、附件、页码、书签） / compose the bid PDF
    #[command(after_help = "示例 / example:\n  bidseal project compose 我的投标.bidproj")]
    Compose {
        /// 投标项目文件夹 / project folder
        dir: PathBuf,
        /// 以 JSON 输出合成结果（字段见 docs/cli.md） / print JSON
        #[arg(long)]
        json: bool,
    },
    /// 扫码签章：一次扫码（会话模式）盖全部签章节点 / seal every signing node by one scan
    #[command(
        after_help = "示例 / example:\n  bidseal project seal 我的投标.bidproj --relay http://127.0.0.1:47800"
    )]
    Seal {
        /// 投标项目文件夹（须已合成） / project folder (composed)
        dir: PathBuf,
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// 扫码认证并生成加密投标文件（手机上选择参与加密的同事证书） / generate the bid file
    #[command(
        after_help = "示例 / example:\n  bidseal project generate 我的投标.bidproj --out 投标文件.bsbid --colleagues 2"
    )]
    Generate {
        /// 投标项目文件夹（须已签章） / project folder (sealed)
        dir: PathBuf,
        #[command(flatten)]
        scan: ScanArgs,
        /// 投标文件输出路径（原子写出，失败时保留旧文件）
        #[arg(long)]
        out: PathBuf,
        /// 需在手机上另选的同事证书数量
        #[arg(long, default_value_t = 2)]
        colleagues: u8,
    },
    /// 试解密：扫码解密并做开标时的全部检查 / trial decryption by scan
    #[command(
        after_help = "示例 / example:\n  bidseal project trial-decrypt 我的投标.bidproj 投标文件.bsbid"
    )]
    TrialDecrypt {
        /// 投标项目文件夹 / project folder
        dir: PathBuf,
        /// 要试解密的投标文件 / the bid file to try
        bid_file: PathBuf,
        #[command(flatten)]
        scan: ScanArgs,
    },
    /// 最近的投标项目 / recent projects
    #[command(after_help = "示例 / example:\n  bidseal project list")]
    List,
}

/// Where the scans of `project seal|generate|trial-decrypt` go.
#[derive(Debug, Args)]
struct ScanArgs {
    /// 扫码中继地址（默认在本进程内启动内置中继，仅监听 127.0.0.1）
    #[arg(long)]
    relay: Option<String>,
    /// 二维码图片写入的目录，每次运行一个子目录 run-时间-进程号（默认 PROJECT/work/qr）
    #[arg(long)]
    qr_dir: Option<PathBuf>,
    /// 二维码有效期（秒）
    #[arg(long, default_value_t = 180)]
    qr_ttl: u64,
    /// 以 JSON 输出结果（字段见 docs/cli.md）；进度与二维码提示仍在标准错误 / print JSON
    #[arg(long)]
    json: bool,
}

/// What a scanning subcommand does once the relay is up.
enum ScanStep {
    Seal,
    Generate { out: PathBuf, colleagues: u8 },
    TrialDecrypt { bid_file: PathBuf },
}

/// Runs one scanning step on `dir`: embedded relay unless `--relay`, QR as PNG + payload line.
fn scan_step(dir: &Path, scan: &ScanArgs, step: ScanStep) -> Result<ExitCode> {
    use bidseal_workflow::project_flow;
    let project = BidProject::open(dir).map_err(project_err)?;
    if let Some(relay) = &scan.relay {
        check_relay_url(relay).map_err(flow_err)?;
    }
    // Everything checkable without the phone, before any QR: then say what will be asked.
    let flow_step = match &step {
        ScanStep::Seal => project_flow::ProjectStep::Seal,
        ScanStep::Generate { out, colleagues } => project_flow::ProjectStep::Generate {
            output: out,
            colleagues: *colleagues,
        },
        ScanStep::TrialDecrypt { bid_file } => project_flow::ProjectStep::TrialDecrypt { bid_file },
    };
    for line in project_flow::preflight(&project, flow_step).map_err(flow_err)? {
        let line = crate::cmd::lang::phrase(&line);
        eprintln!("{line}");
    }
    // One folder per run, so this run's QR files never reuse an earlier run's names.
    let qr_base = scan
        .qr_dir
        .clone()
        .unwrap_or_else(|| dir.join("work").join("qr"));
    let qr_dir = bidseal_workflow::qr_files::create_run_dir(&qr_base)
        .map_err(|e| coded("IO", format!("无法创建目录 {}: {e}", qr_base.display())))?;
    let operation = match &step {
        ScanStep::Seal => ScanOperation::Seal,
        ScanStep::Generate { .. } => ScanOperation::Generate,
        ScanStep::TrialDecrypt { .. } => ScanOperation::TrialDecrypt,
    };
    let (platform, project_ref) =
        bidseal_workflow::scan_session::refs_from_tender(project.manifest());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| coded("IO", format!("无法启动异步运行时: {e}")))?;
    let code = rt.block_on(async {
        let relay = ScanRelay::start(scan.relay.as_deref())
            .await
            .map_err(flow_err)?;
        if relay.is_embedded() {
            eprintln!("{}", crate::words!("out.open.relay", url = relay.url()));
        }
        let target = bidseal_workflow::scan_session::ScanTarget {
            relay: relay.url(),
            platform,
            project: project_ref,
            options: bidseal_scan::client::ScanOptions {
                ttl: std::time::Duration::from_secs(scan.qr_ttl.clamp(1, 300)),
                response_timeout: std::time::Duration::from_secs(180),
            },
        };
        let mut presenter = super::hall::TerminalQr::new(qr_dir);
        let work = async {
            match step {
                ScanStep::Seal => project_flow::seal_project(&target, &mut presenter, &project)
                    .await
                    .map(|r| {
                        if scan.json {
                            crate::outln!("{}", json_or_empty(&r));
                            return ExitCode::SUCCESS;
                        }
                        crate::say!(
                            "out.project.sealed",
                            count = r.seals.len(),
                            file = dir.join(&r.sealed).display(),
                            sha256 = r.sealed_sha256
                        );
                        for s in &r.seals {
                            crate::outln!(
                                "  {} [{}] {}",
                                s.field_name,
                                joined(&s.node_ids),
                                s.signer
                            );
                        }
                        ExitCode::SUCCESS
                    }),
                ScanStep::Generate { out, colleagues } => project_flow::generate_project(
                    &target,
                    &mut presenter,
                    &project,
                    &out,
                    bidseal_scan::CertificateChoice {
                        min_extra: colleagues,
                        max_extra: colleagues,
                    },
                )
                .await
                .map(|s| {
                    if scan.json {
                        let value = serde_json::json!({
                            "bid_file": s.path.display().to_string(),
                            "size": s.size,
                            "sha256": s.sha256,
                            "recipients": s.recipients,
                        });
                        crate::outln!("{value:#}");
                        return ExitCode::SUCCESS;
                    }
                    crate::say!(
                        "out.project.generated",
                        file = s.path.display(),
                        size = s.size
                    );
                    for r in &s.recipients {
                        crate::say!("out.project.recipient", recipient = r);
                    }
                    ExitCode::SUCCESS
                }),
                ScanStep::TrialDecrypt { bid_file } => project_flow::trial_decrypt_project(
                    &target,
                    &mut presenter,
                    &project,
                    &bid_file,
                    &dir.join("work").join("trial"),
                )
                .await
                .map(|report| {
                    if scan.json {
                        crate::outln!("{}", json_or_empty(&report));
                    } else {
                        super::hall::print_table(
                            std::slice::from_ref(&report),
                            &project.tender().manifest.price_form,
                        );
                        if report.passed {
                            crate::say!("out.project.trial_passed");
                        }
                    }
                    if report.passed {
                        ExitCode::SUCCESS
                    } else {
                        Exit::No.into()
                    }
                }),
            }
        };
        // Ctrl-C drops the scan (its temporary files clean themselves up) and exits 4.
        let result = tokio::select! {
            r = work => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        relay.shutdown().await;
        let Some(result) = result else {
            note_scan(
                &project,
                operation,
                ScanOutcome::Interrupted,
                "E_INTERRUPTED",
            );
            return Err(coded(
                "E_INTERRUPTED",
                "已中断（Ctrl-C），本次操作未完成，未写出任何结果；需要时请重新运行",
            ));
        };
        let (outcome, detail) = ScanOutcome::of(&result, |code| *code == ExitCode::SUCCESS);
        note_scan(&project, operation, outcome, &detail);
        result.map_err(flow_err)
    })?;
    Ok(code)
}

/// Adds the scan to the project's history in the local index (never blocks the bid).
fn note_scan(project: &BidProject, operation: ScanOperation, outcome: ScanOutcome, detail: &str) {
    if let Err(e) = bidseal_workflow::history::record_scan(project, operation, outcome, detail) {
        eprintln!("{}", crate::words!("out.project.history_failed", error = e));
    }
}

/// Tells the bidder when an edit retired the sealed PDF (stderr: a warning, not a result).
fn warn_retired(project: &BidProject) {
    if let Some(old) = project.retired_seals() {
        eprintln!(
            "{}",
            crate::words!("out.project.retired", dir = old.display())
        );
    }
}

/// `project status` for people.
fn print_status(st: &bidseal_workflow::project_flow::ProjectStatus) {
    let library = |text: &str| -> String { crate::cmd::lang::phrase(text) };
    crate::say!("out.status.project", project = st.project);
    for m in &st.missing {
        crate::say!("out.project.todo", item = library(m));
    }
    match &st.composed {
        Some(c) if c.current => {
            crate::say!("out.status.composed", file = c.output, pages = c.pages)
        }
        Some(c) => crate::say!("out.status.composed_changed", file = c.output),
        None => crate::say!("out.status.not_composed"),
    }
    match &st.sealed {
        Some(s) if s.current => crate::say!("out.status.sealed", file = s.sealed),
        Some(s) => crate::say!(
            "out.status.sealed_stale",
            file = s.sealed,
            reason = library(s.stale_reason.as_deref().unwrap_or(""))
        ),
        None => crate::say!("out.status.not_sealed"),
    }
    for n in &st.nodes {
        let mandatory = if n.mandatory {
            crate::words!("out.tender.mandatory")
        } else {
            String::new()
        };
        let state = if n.sealed {
            crate::words!("out.status.node_sealed")
        } else {
            crate::words!("out.status.node_unsealed")
        };
        crate::say!(
            "out.status.node",
            id = n.node_id,
            label = n.label,
            mandatory = mandatory,
            state = state
        );
    }
    match &st.bid_file {
        Some(b) if b.current => crate::say!("out.status.bid_file", file = b.bid_file),
        Some(b) => crate::say!(
            "out.status.bid_file_stale",
            file = b.bid_file,
            reason = library(b.stale_reason.as_deref().unwrap_or(""))
        ),
        None => crate::say!("out.status.no_bid_file"),
    }
    if !st.retired_seals.is_empty() {
        crate::say!("out.status.retired", count = st.retired_seals.len());
    }
    crate::say!("out.status.next", next = library(&st.next));
}

fn touch_index(project: &BidProject) {
    // The index is a convenience: a failure is reported but never blocks the bid.
    match ProjectIndex::open_default().and_then(|i| i.touch(&project.recent_entry())) {
        Ok(()) => {}
        Err(e) => eprintln!("{}", crate::words!("out.project.index_failed", error = e)),
    }
}

/// Runs `bidseal project`.
pub fn project(args: ProjectArgs) -> Result<ExitCode> {
    match args.cmd {
        ProjectCmd::New {
            dir,
            tender,
            platform_certs,
        } => {
            let trusted = trusted_platforms(&platform_certs)?;
            let p = BidProject::create(&dir, &tender, &trusted, OffsetDateTime::now_utc())
                .map_err(project_err)?;
            touch_index(&p);
            crate::say!(
                "out.project.created",
                dir = dir.display(),
                project = p.manifest().project.name,
                lot = p.manifest().project.lot.name
            );
            for m in p.missing() {
                crate::say!("out.project.todo", item = crate::cmd::lang::phrase(&m));
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjectCmd::Attach {
            dir,
            section,
            files,
        } => {
            let mut p = BidProject::open(&dir).map_err(project_err)?;
            for f in files {
                let a = p.attach(&section, &f).map_err(project_err)?;
                let what = match a.kind {
                    AttachmentKind::Pdf => crate::words!("out.project.pages", pages = a.pages),
                    AttachmentKind::Image => crate::words!("out.project.scan_page"),
                    AttachmentKind::Chapter => crate::words!("out.project.chapter"),
                };
                crate::say!(
                    "out.project.attached",
                    name = a.original_name,
                    what = what,
                    file = a.file
                );
            }
            warn_retired(&p);
            touch_index(&p);
            Ok(ExitCode::SUCCESS)
        }
        ProjectCmd::Set { dir, assignments } => {
            let mut p = BidProject::open(&dir).map_err(project_err)?;
            let mut pairs = Vec::new();
            for a in &assignments {
                let Some((k, v)) = a.split_once('=') else {
                    return Err(coded(
                        "PROJECT_BAD_ASSIGNMENT",
                        format!("“{a}”应写成 KEY=VALUE（未写入任何字段）"),
                    ));
                };
                pairs.push((k.trim(), v));
            }
            // All or nothing: one refused value leaves the project as it was.
            let stored = p
                .set_all(&pairs)
                .map_err(|e| coded(e.code(), format!("{e}（全部未写入，请改正后重新运行）")))?;
            for ((k, _), v) in pairs.iter().zip(&stored) {
                crate::outln!("{k} = {v}");
            }
            warn_retired(&p);
            touch_index(&p);
            Ok(ExitCode::SUCCESS)
        }
        ProjectCmd::Status { dir, json } => {
            let p = BidProject::open(&dir).map_err(project_err)?;
            let st = bidseal_workflow::project_flow::project_status(&p);
            if json {
                crate::outln!("{}", json_or_empty(&st));
            } else {
                print_status(&st);
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjectCmd::Show { dir, json } => {
            let p = BidProject::open(&dir).map_err(project_err)?;
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(p.file())?);
                return Ok(ExitCode::SUCCESS);
            }
            let f = p.file();
            print_manifest(p.manifest());
            crate::say!(
                "out.project.bidder",
                name = f.bidder.name,
                code = f.bidder.credit_code,
                legal = f.bidder.legal_representative
            );
            for (k, v) in &f.form {
                crate::outln!("  {k} = {v}");
            }
            for s in &p.manifest().sections {
                for a in f.attachments.get(&s.id).into_iter().flatten() {
                    crate::say!(
                        "out.project.attachment",
                        section = s.id,
                        name = a.original_name,
                        pages = a.pages
                    );
                }
            }
            match &f.composition {
                Some(c) => crate::say!(
                    "out.project.composition",
                    file = c.output,
                    pages = c.pages,
                    sha256 = c.sha256
                ),
                None => crate::say!("out.project.not_composed"),
            }
            for m in p.missing() {
                crate::say!("out.project.todo", item = crate::cmd::lang::phrase(&m));
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjectCmd::Compose { dir, json } => {
            let mut p = BidProject::open(&dir).map_err(project_err)?;
            let c = compose(&mut p, OffsetDateTime::now_utc()).map_err(|e| coded(e.code(), e))?;
            warn_retired(&p);
            touch_index(&p);
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                crate::say!(
                    "out.project.composed",
                    file = dir.join(&c.output).display(),
                    pages = c.pages,
                    size = c.size
                );
                for n in &c.placements {
                    let pages: Vec<String> = n
                        .rects
                        .iter()
                        .map(|r| (r.page_index + 1).to_string())
                        .collect();
                    crate::say!(
                        "out.project.placement",
                        id = n.node_id,
                        label = n.label,
                        pages = joined(&pages)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ProjectCmd::Seal { dir, scan } => scan_step(&dir, &scan, ScanStep::Seal),
        ProjectCmd::Generate {
            dir,
            scan,
            out,
            colleagues,
        } => scan_step(&dir, &scan, ScanStep::Generate { out, colleagues }),
        ProjectCmd::TrialDecrypt {
            dir,
            bid_file,
            scan,
        } => scan_step(&dir, &scan, ScanStep::TrialDecrypt { bid_file }),
        ProjectCmd::List => {
            let index = ProjectIndex::open_default().map_err(|e| coded("INDEX", e))?;
            for r in index.recent(50).map_err(|e| coded("INDEX", e))? {
                crate::outln!("{}\t{}\t{}", r.path, r.tender_project_id, r.title);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
