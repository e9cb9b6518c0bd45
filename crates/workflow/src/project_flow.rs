//! A bidder's own project through the scan flows: seal the composed bid (标书签章), generate
//! the bid file (生成标书) and try it (试解密). `bidseal project seal|generate|trial-decrypt`,
//! `bidseal demo` and the desktop app all call these, so they cannot disagree.
//!
//! Guarantees: sealing writes the sealed PDF (`out/sealed.pdf`) and a record (`out/seals.json`)
//! naming the composition it sealed and the sealed PDF's SHA-256, both atomically; generation
//! refuses with [`FlowError::MissingSeals`] listing every mandatory node not sealed when the
//! record is absent, stale (composed again since) or the sealed PDF changed afterwards. Does
//! not: choose the relay or show QR codes (the caller's [`ScanPresenter`] does).

use crate::auth::authenticate;
use crate::error::FlowError;
use crate::generate::{generate_bid_file, trial_decrypt_typed, GenerateJob};
use crate::hall::ScanOpening;
use crate::phone_adapters::SealPolicy;
use crate::scan_session::{ScanPresenter, ScanTarget};
use crate::seal::{
    ensure_mandatory_sealed, placements_from_composition, seal_by_scan, SealJob, SealedPlacement,
};
use bidseal_bid::bidfile::{
    accepted_cas, BidFileSummary, BidManifest, BidPart, BidProjectIds, BidderIds, MANIFEST_FORMAT,
};
use bidseal_bid::compose::Composition;
use bidseal_bid::opening::BidOpeningReport;
use bidseal_bid::project::BidProject;
use bidseal_scan::CertificateChoice;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use bidseal_bid::project::{SEALED_PDF, SEAL_RECORD};
/// The record of the last bid file generated from the project (`project status` compares it).
pub const GENERATION_RECORD: &str = "out/generated.json";
/// Format tag of the sealing record.
pub const SEAL_RECORD_FORMAT: &str = "bidseal-seals/1";
/// Name of the sealed PDF inside the bid file (and shown on the phone).
pub const BID_PART: &str = "投标文件.pdf";
/// The exact manifest bytes of the last generated bid file (private: it holds the price);
/// a trial decryption re-confirms them on the phone.
pub const BID_MANIFEST: &str = "out/bid-manifest.json";

/// One signature recorded after sealing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealEntry {
    /// Signing nodes covered.
    pub node_ids: Vec<String>,
    /// PDF signature field.
    pub field_name: String,
    /// Signer subject.
    pub signer: String,
}

/// What sealing produced (`out/seals.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealRecord {
    /// [`SEAL_RECORD_FORMAT`].
    pub format: String,
    /// SHA-256 (hex) of the composed PDF that was sealed.
    pub composition_sha256: String,
    /// Sealed PDF, relative to the project folder.
    pub sealed: String,
    /// SHA-256 (hex) of the sealed PDF.
    pub sealed_sha256: String,
    /// Signatures made.
    pub seals: Vec<SealEntry>,
}

impl SealRecord {
    fn placements(&self) -> Vec<SealedPlacement> {
        self.seals
            .iter()
            .map(|s| SealedPlacement {
                node_ids: s.node_ids.clone(),
                field_name: s.field_name.clone(),
                signer: s.signer.clone(),
            })
            .collect()
    }
}

fn system<E: std::fmt::Display>(what: &str, e: E) -> FlowError {
    FlowError::System {
        detail: format!("{what}：{e}"),
    }
}

fn sha256_file(path: &Path) -> Result<String, FlowError> {
    let bytes = std::fs::read(path).map_err(|e| system(&path.display().to_string(), e))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn composition(project: &BidProject) -> Result<&Composition, FlowError> {
    project
        .file()
        .composition
        .as_ref()
        .ok_or(FlowError::NotComposed)
}

/// Seals every signing node of the composed bid by one scan in session mode and records the
/// result in the project. Fails with [`FlowError::MissingSeals`] if a mandatory node is left.
pub async fn seal_project(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    project: &BidProject,
) -> Result<SealRecord, FlowError> {
    let c = composition(project)?;
    let dir = project.dir();
    let job = SealJob {
        input: dir.join(&c.output),
        output: dir.join(SEALED_PDF),
        document: BID_PART.into(),
        placements: placements_from_composition(&c.placements),
        policy: SealPolicy {
            accepted: accepted_cas(project.tender())?,
            bidder: project_bidder(project),
        },
    };
    let sealed = seal_by_scan(target, presenter, &job).await?;
    let record = SealRecord {
        format: SEAL_RECORD_FORMAT.into(),
        composition_sha256: c.sha256.clone(),
        sealed: SEALED_PDF.into(),
        sealed_sha256: sha256_file(&job.output)?,
        seals: sealed
            .iter()
            .map(|s| SealEntry {
                node_ids: s.node_ids.clone(),
                field_name: s.field_name.clone(),
                signer: s.signer.clone(),
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| system("签章记录", e))?;
    bidseal_bid::fsio::write_atomic(&dir.join(SEAL_RECORD), &json)
        .map_err(|e| system("签章记录写出失败", e))?;
    ensure_mandatory_sealed(&c.placements, &sealed)?;
    Ok(record)
}

/// The sealed PDF ready for generation, or [`FlowError::MissingSeals`] with every mandatory
/// node not covered by a current sealing record.
pub fn sealed_for_generation(project: &BidProject) -> Result<PathBuf, FlowError> {
    let c = composition(project)?;
    let placements = current_seal_record(project)
        .map(|r| r.placements())
        .unwrap_or_default();
    ensure_mandatory_sealed(&c.placements, &placements)?;
    Ok(project.dir().join(SEALED_PDF))
}

/// The sealing record of `project`, only when it is current: same format, made on the current
/// composition, and the sealed PDF's SHA-256 still the one recorded (the desktop's node states
/// and generation both ask this).
pub fn current_seal_record(project: &BidProject) -> Option<SealRecord> {
    let dir = project.dir();
    let record: SealRecord = std::fs::read(dir.join(SEAL_RECORD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())?;
    let composition = project.file().composition.as_ref()?;
    (record.format == SEAL_RECORD_FORMAT
        && record.composition_sha256 == composition.sha256
        && sha256_file(&dir.join(SEALED_PDF)).is_ok_and(|h| h == record.sealed_sha256))
    .then_some(record)
}

/// The composed PDF's bytes, only while they are the recorded composition (what the seal
/// placements describe); else `E_NOT_COMPOSED` / `E_COMPOSED_CHANGED`.
pub fn composed_pdf_bytes(project: &BidProject) -> Result<Vec<u8>, FlowError> {
    let c = project.file().composition.as_ref().ok_or_else(|| {
        not_ready(
            "E_NOT_COMPOSED",
            "投标文件尚未合成，请先合成投标文件".into(),
        )
    })?;
    read_recorded(
        &project.dir().join(&c.output),
        &c.sha256,
        "请重新合成投标文件",
    )
}

/// The sealed PDF's bytes, only while its sealing record is current ([`current_seal_record`]).
pub fn sealed_pdf_bytes(project: &BidProject) -> Result<Vec<u8>, FlowError> {
    let record = current_seal_record(project).ok_or_else(|| {
        not_ready(
            "E_NOT_SEALED",
            "没有与当前合成一致的签章文件，请先完成标书签章".into(),
        )
    })?;
    read_recorded(
        &project.dir().join(&record.sealed),
        &record.sealed_sha256,
        "请重新签章",
    )
}

/// Every signature of the project's sealed PDF (`out/sealed.pdf`, current or not: a changed
/// file is exactly what the bidder must see), verified against the tender's accepted CAs now,
/// under the sealed-bid policy (`bidseal_pdf::verify`, as `bidseal verify` and the hall).
pub fn verify_sealed(
    project: &BidProject,
) -> Result<bidseal_pdf::verify::VerificationReport, FlowError> {
    let path = project.dir().join(SEALED_PDF);
    if !path.is_file() {
        return Err(not_ready(
            "E_NOT_SEALED",
            "项目中还没有签章后的投标文件，请先完成标书签章".into(),
        ));
    }
    let trust = accepted_cas(project.tender())?;
    bidseal_pdf::verify::verify_file(&path, &trust, SystemTime::now())
        .map_err(|e| not_ready(e.code(), format!("无法验证 {}：{e}", path.display())))
}

/// Reads `path` once and checks it against the recorded SHA-256 (hex).
fn read_recorded(path: &Path, sha256: &str, what_to_do: &str) -> Result<Vec<u8>, FlowError> {
    let bytes = std::fs::read(path).map_err(|e| system(&path.display().to_string(), e))?;
    let actual: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if actual != sha256 {
        return Err(not_ready(
            "E_COMPOSED_CHANGED",
            format!("{} 在记录后被修改，{what_to_do}", path.display()),
        ));
    }
    Ok(bytes)
}

/// The bidder as entered in the project.
pub fn project_bidder(project: &BidProject) -> BidderIds {
    let b = &project.file().bidder;
    BidderIds {
        name: b.name.clone(),
        credit_code: b.credit_code.clone(),
    }
}

/// The bid manifest of `project` with `sealed_pdf` as its one part.
pub fn bid_manifest(project: &BidProject, sealed_pdf: &Path) -> Result<BidManifest, FlowError> {
    let m = &project.tender().manifest;
    Ok(BidManifest {
        format: MANIFEST_FORMAT.into(),
        project: BidProjectIds {
            project_id: m.project.id.clone(),
            project_name: m.project.name.clone(),
            lot_id: m.project.lot.id.clone(),
            lot_name: m.project.lot.name.clone(),
            platform_id: m.platform.id.clone(),
        },
        bidder: project_bidder(project),
        parts: vec![BidPart::from_file(BID_PART, None, sealed_pdf)?],
        price: project.file().form.clone(),
        // 诚信库 records kept by `bidseal sync`, cited as ID@vVERSION:sha256:HEX.
        integrity_records: crate::library_sync::citations(project.dir()).map_err(|e| {
            FlowError::System {
                detail: e.to_string(),
            }
        })?,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: bidseal_bid::time::OffsetDateTime::now_utc()
            .format(&bidseal_bid::time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

/// 扫码认证 then 生成标书 for `project`: refuses first when mandatory seals are missing; the
/// bid file is written atomically to `output`, encrypted for the bidder's certificate and the
/// colleague certificates picked on the phone (`colleagues`).
pub async fn generate_project(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    project: &BidProject,
    output: &Path,
    colleagues: CertificateChoice,
) -> Result<BidFileSummary, FlowError> {
    let sealed = sealed_for_generation(project)?;
    let accepted = accepted_cas(project.tender())?;
    let who = authenticate(target, presenter, &accepted, &project_bidder(project)).await?;
    let job = GenerateJob {
        manifest: bid_manifest(project, &sealed)?,
        files: vec![(BID_PART.into(), sealed)],
        output: output.to_path_buf(),
        colleagues,
        tender_digest: crate::hall::signed_tender(project.tender()).digest(),
    };
    let summary = generate_bid_file(target, presenter, &accepted, &who, &job).await?;
    let bytes = job.manifest.to_bytes()?;
    bidseal_bid::fsio::write_atomic(&project.dir().join(BID_MANIFEST), &bytes)
        .map_err(|e| system("投标文件清单写出失败", e))?;
    record_generation(project, &summary);
    Ok(summary)
}

/// What `out/generated.json` says about the last bid file generated from the project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationRecord {
    /// The bid file (absolute when it could be resolved).
    pub bid_file: String,
    /// Its SHA-256 (hex) when written.
    pub sha256: String,
    /// SHA-256 of the sealed PDF it carries.
    pub sealed_sha256: String,
}

/// Notes the generated bid file in the project (best effort: the bid file itself is what
/// counts; a failure here only means `project status` cannot vouch for it).
fn record_generation(project: &BidProject, summary: &BidFileSummary) {
    let dir = project.dir();
    let Ok(sealed_sha256) = sha256_file(&dir.join(SEALED_PDF)) else {
        return;
    };
    let path = std::fs::canonicalize(&summary.path).unwrap_or_else(|_| summary.path.clone());
    let record = GenerationRecord {
        bid_file: path.display().to_string(),
        sha256: summary.sha256.clone(),
        sealed_sha256,
    };
    if let Ok(json) = serde_json::to_vec_pretty(&record) {
        let _ = bidseal_bid::fsio::write_atomic(&dir.join(GENERATION_RECORD), &json);
    }
}

/// A scanning step of a project, for [`preflight`].
#[derive(Debug, Clone, Copy)]
pub enum ProjectStep<'a> {
    /// 标书签章.
    Seal,
    /// 生成标书 into `output`, with exactly `colleagues` colleague certificates.
    Generate {
        /// The bid file to write.
        output: &'a Path,
        /// Colleague certificates the phone must pick.
        colleagues: u8,
    },
    /// 试解密 of `bid_file`.
    TrialDecrypt {
        /// The bid file to open.
        bid_file: &'a Path,
    },
}

fn not_ready(code: &'static str, message: String) -> FlowError {
    FlowError::NotReady { code, message }
}

/// The accepted CAs' titles, for prompts.
fn accepted_titles(project: &BidProject) -> String {
    project
        .manifest()
        .accepted_cas
        .iter()
        .map(|c| c.title.as_str())
        .collect::<Vec<_>>()
        .join("；")
}

/// Checks everything about `step` that can be checked without the phone, before any QR is
/// shown, and returns what each scan will ask (zh-CN lines for the bidder). Seal: a current
/// composition (the composed PDF unchanged on disk) and readable accepted CAs. Generate: the
/// mandatory seals (as [`sealed_for_generation`]), an output folder that exists and is
/// writable, an output that is not a folder nor the sealed PDF. Trial decryption: the bid file
/// exists and is an envelope whose header reads.
pub fn preflight(project: &BidProject, step: ProjectStep<'_>) -> Result<Vec<String>, FlowError> {
    let dir = project.dir();
    let cas = accepted_titles(project);
    accepted_cas(project.tender())?;
    match step {
        ProjectStep::Seal => {
            let c = composition(project)?;
            if sha256_file(&dir.join(&c.output)).ok().as_deref() != Some(c.sha256.as_str()) {
                return Err(not_ready(
                    "E_COMPOSED_CHANGED",
                    format!(
                        "合成的投标文件 {} 在合成后被修改或删除，请重新运行 bidseal project compose",
                        c.output
                    ),
                ));
            }
            let mut lines = vec![format!(
                "本次扫码（会话模式，一次扫码）将在手机上依次确认 {} 个签章节点，须使用招标文件认可的 CA（{cas}）签发的证书：",
                c.placements.len()
            )];
            for n in &c.placements {
                let kinds: Vec<&str> = n.seal_kinds.iter().map(|k| k.zh()).collect();
                let pages: Vec<String> = n
                    .rects
                    .iter()
                    .map(|r| (r.page_index + 1).to_string())
                    .collect();
                lines.push(format!(
                    "  {}（{}，第 {} 页）{}",
                    n.label,
                    kinds.join("、"),
                    pages.join("、"),
                    if n.mandatory { "，必须" } else { "" }
                ));
            }
            Ok(lines)
        }
        ProjectStep::Generate { output, colleagues } => {
            let sealed = sealed_for_generation(project)?;
            check_output(output, &sealed)?;
            let b = &project.file().bidder;
            Ok(vec![
                format!(
                    "第 1 次扫码：扫码认证，须使用 {}（统一社会信用代码 {}）的企业证书，由招标文件认可的 CA（{cas}）签发",
                    b.name, b.credit_code
                ),
                format!(
                    "第 2 次扫码：生成投标文件，手机上须另选恰好 {colleagues} 张同事的加密证书（连同企业证书共 {} 张可解密）",
                    u32::from(colleagues) + 1
                ),
            ])
        }
        ProjectStep::TrialDecrypt { bid_file } => {
            let header = bidseal_cms::envelope::inspect_file(bid_file).map_err(|e| {
                not_ready(
                    e.code(),
                    format!("投标文件 {} 无法试解密：{e}", bid_file.display()),
                )
            })?;
            Ok(vec![format!(
                "本次扫码：试解密，须使用投标文件的 {} 个接收证书之一（手机上确认解密）",
                header.recipients.entries.len()
            )])
        }
    }
}

/// One line of the 生成标书 checklist.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckItem {
    /// Stable key: `seals`, `bidder`, `certificate`, `ca`, `deadline`, `output`.
    pub key: &'static str,
    /// `Some(true)` passed, `Some(false)` blocks generation, `None` checked during the scan.
    pub ok: Option<bool>,
    /// What was found and, when it blocks, what to do (zh-CN).
    pub line: String,
}

/// Everything about 生成标书 that can be checked before a scan, as a checklist: mandatory
/// seals (current sealing record), the bidder's name and credit code entered, the tender's
/// accepted CAs readable (the certificate itself is matched to the bidder and the CAs during the
/// first scan: `None`), the bid deadline not passed at `now`, and the output place
/// ([`check_output`]). Generation may start only when no item is `Some(false)`.
pub fn generation_checklist(
    project: &BidProject,
    output: &Path,
    now: bidseal_bid::time::OffsetDateTime,
) -> Vec<CheckItem> {
    let item = |key, r: Result<String, String>| match r {
        Ok(line) => CheckItem {
            key,
            ok: Some(true),
            line,
        },
        Err(line) => CheckItem {
            key,
            ok: Some(false),
            line,
        },
    };
    let seals = sealed_for_generation(project);
    let b = &project.file().bidder;
    let deadline = project.manifest().bid_deadline;
    let cas = accepted_titles(project);
    vec![
        item(
            "seals",
            match &seals {
                Ok(_) => Ok("所有必须的签章节点均已签章，签章文件未被修改".into()),
                Err(e) => Err(format!("{e}（请在「页面与签章」放置印章后点「标书签章」）")),
            },
        ),
        item(
            "bidder",
            if b.name.is_empty() || b.credit_code.is_empty() {
                Err("未填写投标人名称或统一社会信用代码（请在「投标函与附件」填写）".into())
            } else {
                Ok(format!("投标人：{}（{}）", b.name, b.credit_code))
            },
        ),
        CheckItem {
            key: "certificate",
            ok: None,
            line: format!(
                "第 1 次扫码（扫码认证）时核对：证书须属于 {}（{}）",
                b.name, b.credit_code
            ),
        },
        item(
            "ca",
            accepted_cas(project.tender())
                .map(|_| format!("招标文件认可的 CA：{cas}（扫码认证时核对证书由其签发）"))
                .map_err(|e| format!("招标文件中的 CA 证书无法读取：{e}（请重新导入招标文件）")),
        ),
        item(
            "deadline",
            if now < deadline {
                Ok(format!(
                    "投标截止时间 {shown} 之前",
                    shown = crate::report::format_beijing_time(deadline)
                ))
            } else {
                Err(format!(
                    "投标截止时间 {shown} 已过，不能再生成投标文件",
                    shown = crate::report::format_beijing_time(deadline)
                ))
            },
        ),
        item(
            "output",
            match &seals {
                Ok(sealed) => check_output(output, sealed)
                    .map(|()| format!("投标文件将写到 {}", output.display()))
                    .map_err(|e| e.to_string()),
                Err(_) => check_output(output, &project.dir().join(SEALED_PDF))
                    .map(|()| format!("投标文件将写到 {}", output.display()))
                    .map_err(|e| e.to_string()),
            },
        ),
    ]
}

/// The bid file's folder exists and takes a new file; the output is neither a folder nor the
/// sealed PDF itself.
fn check_output(output: &Path, sealed: &Path) -> Result<(), FlowError> {
    if output.is_dir() {
        return Err(not_ready(
            "E_OUTPUT_IS_DIR",
            format!(
                "--out {} 是一个文件夹，请给出投标文件的文件名",
                output.display()
            ),
        ));
    }
    let same = |a: &Path, b: &Path| matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y);
    if same(output, sealed) {
        return Err(not_ready(
            "E_OUTPUT_IS_INPUT",
            "--out 不能是签章后的 PDF 本身，请另给投标文件的文件名".into(),
        ));
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(not_ready(
            "E_OUTPUT_DIR",
            format!(
                "投标文件的输出文件夹 {} 不存在，请先创建它或换一个位置",
                parent.display()
            ),
        ));
    }
    let probe = parent.join(format!(".bidseal-write-test-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(not_ready(
            "E_OUTPUT_DIR",
            format!(
                "不能在 {} 中写入投标文件（{e}），请换一个有写权限的位置",
                parent.display()
            ),
        )),
    }
}

/// One signing node in [`ProjectStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub node_id: String,
    pub label: String,
    pub mandatory: bool,
    /// Covered by a signature of the current sealed PDF.
    pub sealed: bool,
}

/// The composed PDF in [`ProjectStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct ComposedStatus {
    pub output: String,
    pub sha256: String,
    pub pages: u32,
    /// The file on disk is still the one recorded.
    pub current: bool,
}

/// The sealed PDF in [`ProjectStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct SealedStatus {
    pub sealed: String,
    /// Seals the current composition and the file is unchanged since sealing.
    pub current: bool,
    /// Why not current (zh-CN), when not.
    pub stale_reason: Option<String>,
}

/// The last generated bid file in [`ProjectStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct BidFileStatus {
    pub bid_file: String,
    /// Carries the current sealed PDF and is unchanged since generation.
    pub current: bool,
    /// Why not current (zh-CN), when not.
    pub stale_reason: Option<String>,
}

/// Where a project stands (`bidseal project status`).
#[derive(Debug, Clone, Serialize)]
pub struct ProjectStatus {
    pub project: String,
    /// What is missing before composing (zh-CN).
    pub missing: Vec<String>,
    pub composed: Option<ComposedStatus>,
    pub sealed: Option<SealedStatus>,
    pub nodes: Vec<NodeStatus>,
    pub bid_file: Option<BidFileStatus>,
    /// Sealed PDFs retired by edits (`out/stale/`).
    pub retired_seals: Vec<String>,
    /// What to do next (zh-CN, a command line where there is one).
    pub next: String,
}

/// Reads where `project` stands, from its files: nothing is changed.
pub fn project_status(project: &BidProject) -> ProjectStatus {
    let dir = project.dir();
    let dir_text = dir.display().to_string();
    let composed = project.file().composition.as_ref().map(|c| ComposedStatus {
        output: c.output.clone(),
        sha256: c.sha256.clone(),
        pages: c.pages,
        current: sha256_file(&dir.join(&c.output)).is_ok_and(|h| h == c.sha256),
    });
    let record: Option<SealRecord> = std::fs::read(dir.join(SEAL_RECORD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let sealed_now = sha256_file(&dir.join(SEALED_PDF)).ok();
    let sealed = match (&record, &sealed_now) {
        (None, None) => None,
        (None, Some(_)) => Some(SealedStatus {
            sealed: SEALED_PDF.into(),
            current: false,
            stale_reason: Some("没有签章记录（out/seals.json）".into()),
        }),
        (Some(r), _) => {
            let reason = if sealed_now.as_deref() != Some(r.sealed_sha256.as_str()) {
                Some("签章后的 PDF 已被修改或删除".to_string())
            } else if composed.as_ref().map(|c| c.sha256.as_str())
                != Some(r.composition_sha256.as_str())
            {
                Some("签章后又修改或重新合成了投标文件".to_string())
            } else {
                None
            };
            Some(SealedStatus {
                sealed: r.sealed.clone(),
                current: reason.is_none(),
                stale_reason: reason,
            })
        }
    };
    let sealed_current = sealed.as_ref().is_some_and(|s| s.current);
    let covered: Vec<String> = record
        .as_ref()
        .filter(|_| sealed_current)
        .map(|r| r.seals.iter().flat_map(|s| s.node_ids.clone()).collect())
        .unwrap_or_default();
    let nodes: Vec<NodeStatus> = project
        .manifest()
        .signing_nodes
        .iter()
        .map(|n| NodeStatus {
            node_id: n.id.clone(),
            label: n.label.clone(),
            mandatory: n.mandatory,
            sealed: covered.contains(&n.id),
        })
        .collect();
    let generation: Option<GenerationRecord> = std::fs::read(dir.join(GENERATION_RECORD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let bid_file = generation.map(|g| {
        let reason =
            if sha256_file(Path::new(&g.bid_file)).ok().as_deref() != Some(g.sha256.as_str()) {
                Some("投标文件已被修改、移动或删除".to_string())
            } else if !sealed_current || sealed_now.as_deref() != Some(g.sealed_sha256.as_str()) {
                Some("生成后投标内容或签章已变化，须重新生成".to_string())
            } else {
                None
            };
        BidFileStatus {
            bid_file: g.bid_file,
            current: reason.is_none(),
            stale_reason: reason,
        }
    });
    let retired_seals = std::fs::read_dir(dir.join(bidseal_bid::project::STALE_DIR))
        .map(|d| {
            let mut v: Vec<String> = d
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
                .map(|p| p.display().to_string())
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    let missing = project.missing();
    let unsealed_mandatory = nodes.iter().any(|n| n.mandatory && !n.sealed);
    let next = if !missing.is_empty() {
        format!("补全投标内容：{}", missing.join("；"))
    } else if !composed.as_ref().is_some_and(|c| c.current) {
        format!("合成投标文件：bidseal project compose {dir_text}")
    } else if !sealed_current || unsealed_mandatory {
        format!("扫码签章：bidseal project seal {dir_text}")
    } else if !bid_file.as_ref().is_some_and(|b| b.current) {
        format!("生成加密投标文件：bidseal project generate {dir_text} --out 投标文件.bsbid")
    } else {
        let file = bid_file.as_ref().map_or("", |b| b.bid_file.as_str());
        format!("可试解密后上传：bidseal project trial-decrypt {dir_text} {file}")
    };
    ProjectStatus {
        project: dir_text,
        missing,
        composed,
        sealed,
        nodes,
        bid_file,
        retired_seals,
        next,
    }
}

/// 试解密 of `bid_file` against `project`'s tender, now: one `generate` scan re-confirms the
/// manifest of the last generation ([`BID_MANIFEST`]) and decrypts on the same channel.
pub async fn trial_decrypt_project(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    project: &BidProject,
    bid_file: &Path,
    work: &Path,
) -> Result<BidOpeningReport, FlowError> {
    trial_decrypt_project_typed(target, presenter, project, bid_file, work)
        .await
        .map(|o| o.report)
}

/// [`trial_decrypt_project`], keeping the scan's own error typed (the 平台测试 console shows a
/// refusal as a refusal).
pub async fn trial_decrypt_project_typed(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    project: &BidProject,
    bid_file: &Path,
    work: &Path,
) -> Result<ScanOpening, FlowError> {
    let (mut hall, tender) = crate::hall::hall_from_tender(project.tender(), SystemTime::now())?;
    hall.at = SystemTime::now();
    let manifest = std::fs::read(project.dir().join(BID_MANIFEST)).map_err(|_| {
        FlowError::TrialNotPossible {
            why: format!("找不到本项目生成投标文件时的清单（{BID_MANIFEST}），请先生成投标文件"),
        }
    })?;
    Ok(trial_decrypt_typed(target, presenter, &hall, &tender, &manifest, bid_file, work).await)
}
