//! The bid's pages in the window: compose the project (`bidseal_bid::compose`), hand the
//! composed or sealed PDF to the page view (pdf.js renders it in the window), and store where
//! the bidder puts a seal (`BidProject::place_seal`).
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
use serde::Deserialize;
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

async fn off_thread<T: Send + 'static>(
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
