//! 开标大厅 in the window: thin commands over `workflow::opening_hall` (the hall session: pinned
//! tender, bid rows, reading table, report PDF) and `workflow::hall::open_by_scan_typed` (one
//! 扫码解密 per row, progress on the scan channel like every other flow).
//!
//! Guarantees: one hall session per window, replaced by `hall_load`; a scan's report is recorded
//! only for the row that still holds the same file; an expired or cancelled scan leaves the row
//! 未解密; 从交易平台获取 (`hall_fetch_from_platform`, over `workflow::hall_fetch`) adds the
//! downloaded files as rows with the platform receipt's facts, a file that does not match its
//! receipt flagged on its row. Does not: decide anything about a bid (the workflow does).

use super::scan::{final_update, scan_options, ScanTasks, ScanUpdate, WindowPresenter};
use super::{lock, CommandError, DesktopState};
use bidseal_workflow::hall::open_by_scan_typed;
use bidseal_workflow::hall_fetch::{fetch_bids, FetchProgress};
use bidseal_workflow::opening_hall::{first_failure, HallView, OpeningHall};
use bidseal_workflow::scan_session::{refs_from_tender, ScanTarget};
use bidseal_workflow::FlowError;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tauri::ipc::Channel;
use tauri::Manager;

/// The window's hall session.
#[derive(Default)]
pub struct HallState(Mutex<Option<OpeningHall>>);

fn flow_err(e: FlowError) -> CommandError {
    CommandError::coded(e.code(), e)
}

fn no_hall() -> CommandError {
    CommandError::coded(
        "E_HALL_NOT_LOADED",
        "尚未载入招标文件包：请先选择招标文件包与交易平台证书并点「载入」",
    )
}

/// Loads the tender at `tender` (signed by the platform certificate `platform_cert`, PEM) for
/// opening; decrypted parts go to `work`. Replaces any earlier hall session.
#[tauri::command]
pub fn hall_load(
    state: tauri::State<'_, HallState>,
    tender: String,
    platform_cert: String,
    work: String,
) -> Result<HallView, CommandError> {
    let hall = OpeningHall::load(
        Path::new(&tender),
        &[PathBuf::from(platform_cert)],
        Path::new(&work),
    )
    .map_err(flow_err)?;
    let view = hall.view();
    *lock(&state.0) = Some(hall);
    Ok(view)
}

/// A bid file that was not loaded, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedBid {
    /// The path given.
    pub path: String,
    /// Stable code.
    pub code: String,
    /// What to do, zh-CN.
    pub message: String,
}

/// The hall after adding bid files.
#[derive(Debug, Clone, Serialize)]
pub struct HallAdded {
    /// The hall now.
    pub view: HallView,
    /// Files refused, each with its reason.
    pub refused: Vec<RefusedBid>,
}

/// Adds bid files or folders of them (each checked on its own; a refused one does not stop
/// the others).
#[tauri::command]
pub fn hall_add_bids(
    state: tauri::State<'_, HallState>,
    paths: Vec<String>,
) -> Result<HallAdded, CommandError> {
    let mut guard = lock(&state.0);
    let hall = guard.as_mut().ok_or_else(no_hall)?;
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    let refused = hall
        .add_paths(&paths)
        .into_iter()
        .map(|(path, e)| RefusedBid {
            path: path.display().to_string(),
            code: e.code().into(),
            message: e.to_string(),
        })
        .collect();
    Ok(HallAdded {
        view: hall.view(),
        refused,
    })
}

/// The hall as it is now (none before `hall_load`).
#[tauri::command]
pub fn hall_view(state: tauri::State<'_, HallState>) -> Option<HallView> {
    lock(&state.0).as_ref().map(OpeningHall::view)
}

/// 扫码解密 of row `index`: the QR goes to the window; the bidder's phone decides (opening time
/// from the platform-signed tender, certificate state); then the full verification. Returns the
/// scan id (for `cancel_scan`).
#[tauri::command]
pub fn start_hall_scan(
    app: tauri::AppHandle,
    state: tauri::State<'_, DesktopState>,
    halls: tauri::State<'_, HallState>,
    tasks: tauri::State<'_, ScanTasks>,
    index: usize,
    qr_ttl_secs: u64,
    updates: Channel<ScanUpdate>,
) -> Result<u64, CommandError> {
    let relay = state.relay_url()?;
    let (job, target) = {
        let guard = lock(&halls.0);
        let hall = guard.as_ref().ok_or_else(no_hall)?;
        let job = hall.bid_job(index).map_err(flow_err)?;
        let (platform, project) = refs_from_tender(&hall.tender().manifest);
        let target = ScanTarget {
            relay,
            platform,
            project,
            options: scan_options(qr_ttl_secs),
        };
        (job, target)
    };
    Ok(tasks.spawn_local(move || async move {
        let mut window = WindowPresenter { updates };
        let opening = open_by_scan_typed(
            &target,
            &mut window,
            &job.hall,
            &job.path,
            &job.work,
            &job.signed,
        )
        .await;
        let report = opening.report;
        let expired = matches!(
            &opening.scan_error,
            Some(FlowError::Scan(bidseal_scan::ScanError::Expired))
        );
        let update = final_update(
            match opening.scan_error {
                Some(e) => Err(e),
                None => Ok(&report),
            },
            |r| ScanUpdate::Opened {
                index: job.index,
                passed: r.passed,
                bidder: r
                    .bidder
                    .as_ref()
                    .filter(|_| r.passed)
                    .map(|b| b.name.clone()),
                reason: first_failure(r).map(|line| super::in_window_words(&line)),
            },
        );
        if !expired {
            if let Some(hall) = lock(&app.state::<HallState>().0).as_mut() {
                hall.record(&job, report);
            }
        }
        window.send(update);
    }))
}

/// Writes the opening report PDF (开标记录) of the bids opened so far to `path`; returns how
/// many bids it records.
#[tauri::command]
pub fn hall_export_pdf(
    state: tauri::State<'_, HallState>,
    path: String,
) -> Result<usize, CommandError> {
    let guard = lock(&state.0);
    let hall = guard.as_ref().ok_or_else(no_hall)?;
    hall.write_report_pdf(Path::new(&path)).map_err(flow_err)
}

/// 从交易平台获取投标文件: logs in to `platform` as staff (`account`, `password`), downloads the
/// loaded tender's bid files into `WORK/platform-bids/` (progress on `progress`) and adds them
/// as rows; bids not fetched and files refused come back in `refused`.
#[tauri::command]
pub async fn hall_fetch_from_platform(
    state: tauri::State<'_, HallState>,
    platform: String,
    account: String,
    password: String,
    progress: Channel<FetchProgress>,
) -> Result<HallAdded, CommandError> {
    let target = lock(&state.0).as_ref().ok_or_else(no_hall)?.fetch_target();
    let outcome = fetch_bids(
        platform.trim(),
        account.trim(),
        &password,
        &target,
        &mut |p| {
            let _ = progress.send(p);
        },
    )
    .await
    .map_err(|e| CommandError::coded(e.code(), e))?;
    let mut guard = lock(&state.0);
    let hall = guard.as_mut().ok_or_else(no_hall)?;
    let mut refused: Vec<RefusedBid> = outcome
        .skipped
        .iter()
        .map(|s| RefusedBid {
            path: s.bidder.clone(),
            code: s.error.code().into(),
            message: s.error.to_string(),
        })
        .collect();
    refused.extend(
        hall.add_fetched(&outcome)
            .into_iter()
            .map(|(path, e)| RefusedBid {
                path: path.display().to_string(),
                code: e.code().into(),
                message: e.to_string(),
            }),
    );
    Ok(HallAdded {
        view: hall.view(),
        refused,
    })
}
