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
use crate::generate::{generate_bid_file, trial_decrypt, GenerateJob};
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

/// The sealed bid PDF inside the project folder.
pub const SEALED_PDF: &str = "out/sealed.pdf";
/// The sealing record inside the project folder.
pub const SEAL_RECORD: &str = "out/seals.json";
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
    let dir = project.dir();
    let sealed = dir.join(SEALED_PDF);
    let record: Option<SealRecord> = std::fs::read(dir.join(SEAL_RECORD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let current = record.filter(|r| {
        r.format == SEAL_RECORD_FORMAT
            && r.composition_sha256 == c.sha256
            && sha256_file(&sealed).is_ok_and(|h| h == r.sealed_sha256)
    });
    let placements = current.map(|r| r.placements()).unwrap_or_default();
    ensure_mandatory_sealed(&c.placements, &placements)?;
    Ok(sealed)
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
        integrity_records: Vec::new(),
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
    Ok(summary)
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
    let (mut hall, tender) = crate::hall::hall_from_tender(project.tender(), SystemTime::now())?;
    hall.at = SystemTime::now();
    let manifest = std::fs::read(project.dir().join(BID_MANIFEST)).map_err(|_| {
        FlowError::TrialNotPossible {
            why: format!("找不到本项目生成投标文件时的清单（{BID_MANIFEST}），请先生成投标文件"),
        }
    })?;
    Ok(trial_decrypt(target, presenter, &hall, &tender, &manifest, bid_file, work).await)
}
