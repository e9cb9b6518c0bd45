//! The bid's pages in the window: compose the project (`bidseal_bid::compose`), hand the
//! composed or sealed PDF to the page view (pdf.js renders it in the window), and store where
//! the bidder puts a seal (`BidProject::place_seal`), and verify the sealed PDF's signatures
//! for the signatures panel (`workflow::project_flow::verify_sealed`).
//!
//! Guarantees: the composed PDF is handed over only while it is the one recorded (SHA-256 of
//! the composition), the sealed PDF only while its sealing record is current, so the pages
//! the bidder places seals on are the pages that will be sealed; a placement is checked and
//! stored by the `bid` crate (nothing decided here). The file work runs off the window's
//! thread. Does not: render pages (pdf.js in the window does) or seal.

use super::project::{project_err, project_view, ProjectView};
use super::CommandError;
use bidseal_bid::compose::placement::NodePosition;
use bidseal_bid::project::BidProject;
use bidseal_bid::tender::SealKind;
use bidseal_bid::time::OffsetDateTime;
use bidseal_workflow::project_flow::{composed_pdf_bytes, sealed_pdf_bytes};
use bidseal_workflow::FlowError;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tauri::ipc::Response;

/// Which PDF of the project the page view shows.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BidPdf {
    /// `out/bid.pdf`, what seals are placed on.
    Composed,
    /// `out/sealed.pdf`, with the seals as they print.
    Sealed,
}

fn open(path: &str) -> Result<BidProject, CommandError> {
    BidProject::open(Path::new(path)).map_err(project_err)
}

pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::coded("E_INTERNAL", format!("后台任务失败：{e}，请重试")))?
}

fn flow_err(e: FlowError) -> CommandError {
    CommandError::coded(e.code(), e)
}

/// Composes the project's bid PDF (cover, contents, forms, attachments) and records where
/// every signing node landed; returns the project as the window shows it.
#[tauri::command]
pub async fn compose_project(project_path: String) -> Result<ProjectView, CommandError> {
    off_thread(move || {
        let mut project = open(&project_path)?;
        bidseal_bid::compose::compose(&mut project, OffsetDateTime::now_utc())
            .map_err(|e| CommandError::coded(e.code(), e))?;
        Ok(project_view(&project))
    })
    .await
}

/// The composed or sealed PDF of the project, as raw bytes (an `ArrayBuffer` in the window).
#[tauri::command]
pub async fn bid_pdf(project_path: String, which: BidPdf) -> Result<Response, CommandError> {
    off_thread(move || {
        let project = open(&project_path)?;
        let bytes = match which {
            BidPdf::Composed => composed_pdf_bytes(&project),
            BidPdf::Sealed => sealed_pdf_bytes(&project),
        };
        bytes.map(Response::new).map_err(flow_err)
    })
    .await
}

/// Stores where the bidder puts `node`'s seal of `kind` (`None`: the node's only kind or a
/// 骑缝章); refused with a `PLACE_…` code when it does not fit. A change retires a sealed PDF
/// made on the old places.
#[tauri::command]
pub async fn place_seal(
    project_path: String,
    node: String,
    kind: Option<SealKind>,
    position: NodePosition,
) -> Result<ProjectView, CommandError> {
    off_thread(move || {
        let mut project = open(&project_path)?;
        project
            .place_seal(&node, kind, &position)
            .map_err(project_err)?;
        Ok(project_view(&project))
    })
    .await
}

/// One signature of the sealed PDF as the signatures panel shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureView {
    pub field_name: String,
    /// Seal kind (`/Reason`), zh-CN.
    pub seal_kind: Option<String>,
    pub signer: Option<String>,
    pub organization: Option<String>,
    pub credit_code: Option<String>,
    /// `/M` as written in the PDF (`D:YYYYMMDDHHmmSS+08'00'`).
    pub signing_time: Option<String>,
    /// Intact, trusted by the tender's CAs, nothing but signatures added afterwards.
    pub valid: bool,
    pub covers_whole_file: bool,
    /// Bytes the signature covers.
    pub covered_end: u64,
    /// Why it is not valid, zh-CN (empty when valid).
    pub problems: Vec<String>,
    /// What later revisions changed.
    pub changes: Vec<ChangeView>,
}

/// A change made after a signature.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeView {
    /// The sealed-bid policy accepts it (a later signature and its bookkeeping).
    pub allowed: bool,
    /// zh-CN.
    pub description: String,
    /// 1-based page, when known.
    pub page: Option<usize>,
}

/// The signatures panel: every signature of the sealed PDF.
#[derive(Debug, Clone, Serialize)]
pub struct SignaturesView {
    pub file: String,
    pub file_len: u64,
    pub revisions: usize,
    pub all_valid: bool,
    pub signatures: Vec<SignatureView>,
}

/// Verifies every signature of the project's sealed PDF (`workflow::project_flow::verify_sealed`).
#[tauri::command]
pub async fn verify_sealed(project_path: String) -> Result<SignaturesView, CommandError> {
    off_thread(move || {
        let project = open(&project_path)?;
        let report = bidseal_workflow::project_flow::verify_sealed(&project).map_err(flow_err)?;
        let signatures = report
            .signatures
            .iter()
            .map(|s| {
                let mut problems: Vec<String> = s.error.iter().cloned().collect();
                if !s.byte_range_ok {
                    problems.push("签名范围异常（/ByteRange 与签名值不符）".into());
                }
                if !s.digest_ok {
                    problems.push("摘要不符：签名覆盖的内容被修改".into());
                }
                if !s.signature_ok {
                    problems.push("签名值无效".into());
                }
                if let Some(c) = &s.chain_error {
                    problems.push(format!("证书不受招标文件认可的 CA 信任：{c}"));
                }
                problems.extend(
                    s.violations()
                        .map(|c| format!("签名后有不允许的修改：{}", c.description)),
                );
                SignatureView {
                    field_name: s.field_name.clone(),
                    seal_kind: s.seal_kind.clone(),
                    signer: s.signer.clone(),
                    organization: s.organization.clone(),
                    credit_code: s.credit_code.clone(),
                    signing_time: s.signing_time.clone(),
                    valid: s.is_valid(),
                    covers_whole_file: s.covers_whole_file,
                    covered_end: s.covered_end,
                    problems,
                    changes: s
                        .changes
                        .iter()
                        .map(|c| ChangeView {
                            allowed: c.allowed,
                            description: c.description.clone(),
                            page: c.page,
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(SignaturesView {
            file: project
                .dir()
                .join(bidseal_workflow::project_flow::SEALED_PDF)
                .display()
                .to_string(),
            file_len: report.file_len,
            revisions: report.revisions,
            all_valid: report.all_valid(),
            signatures,
        })
    })
    .await
}
