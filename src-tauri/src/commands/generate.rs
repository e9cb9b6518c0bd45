//! 生成标书 and 试解密 in the window: the checklist before any scan
//! (`workflow::project_flow::generation_checklist`), generation by scan
//! (`generate_project`: 扫码认证 then the generate scan) and trial decryption by scan
//! (`trial_decrypt_project`), their QR, phone states and outcome as [`ScanUpdate`]s on the
//! caller's channel.
//!
//! Guarantees: a generation is not started while the checklist has a blocking item (the same
//! checks the flow makes again itself); every started scan ends with one final update unless
//! cancelled. Does not: upload to the platform (`bidseal upload` does; not in the window yet).

use super::pages::off_thread;
use super::project::project_err;
use super::scan::{final_update, scan_options, ScanTasks, ScanUpdate, WindowPresenter};
use super::{CommandError, DesktopState};
use bidseal_bid::project::BidProject;
use bidseal_bid::time::OffsetDateTime;
use bidseal_scan::CertificateChoice;
use bidseal_workflow::project_flow::{
    generate_project, generation_checklist, trial_decrypt_project, CheckItem,
};
use bidseal_workflow::scan_session::{refs_from_tender, ScanTarget};
use std::path::{Path, PathBuf};
use tauri::ipc::Channel;

/// Most colleague certificates a bid file may add (the phone's list is short).
pub const MAX_COLLEAGUES: u8 = 8;

fn target(
    state: &DesktopState,
    project: &BidProject,
    qr_ttl_secs: u64,
) -> Result<ScanTarget, CommandError> {
    let (platform, project_ref) = refs_from_tender(project.manifest());
    Ok(ScanTarget {
        relay: state.relay_url()?,
        platform,
        project: project_ref,
        options: scan_options(qr_ttl_secs),
    })
}

/// The default place of the bid file: `out/投标文件.bsbid` in the project.
fn default_output(project: &BidProject) -> PathBuf {
    project.dir().join("out").join("投标文件.bsbid")
}

/// The 生成标书 checklist for writing the bid file to `output` (empty: the default place);
/// returns the output used and the items.
#[tauri::command]
pub async fn generation_check(
    project_path: String,
    output: String,
) -> Result<(String, Vec<CheckItem>), CommandError> {
    off_thread(move || {
        let project = BidProject::open(Path::new(&project_path)).map_err(project_err)?;
        let output = if output.trim().is_empty() {
            default_output(&project)
        } else {
            PathBuf::from(output.trim())
        };
        let items = generation_checklist(&project, &output, OffsetDateTime::now_utc());
        Ok((output.display().to_string(), items))
    })
    .await
}

/// 生成标书: 扫码认证 then the generate scan, writing the bid file to `output`, encrypted for
/// the bidder's certificate and exactly `colleagues` colleague certificates picked on the
/// phone. Refused before any scan while the checklist has a blocking item.
#[tauri::command]
pub fn start_generate_scan(
    state: tauri::State<'_, DesktopState>,
    tasks: tauri::State<'_, ScanTasks>,
    project_path: String,
    output: String,
    colleagues: u8,
    qr_ttl_secs: u64,
    updates: Channel<ScanUpdate>,
) -> Result<u64, CommandError> {
    let project = BidProject::open(Path::new(&project_path)).map_err(project_err)?;
    let output = PathBuf::from(output.trim());
    if colleagues > MAX_COLLEAGUES {
        return Err(CommandError::coded(
            "E_COLLEAGUES",
            format!("同事证书最多 {MAX_COLLEAGUES} 张，请减少数量"),
        ));
    }
    if let Some(blocking) = generation_checklist(&project, &output, OffsetDateTime::now_utc())
        .into_iter()
        .find(|i| i.ok == Some(false))
    {
        return Err(CommandError::coded("E_NOT_READY", blocking.line));
    }
    let target = target(&state, &project, qr_ttl_secs)?;
    Ok(tasks.spawn_local(move || async move {
        let mut window = WindowPresenter { updates };
        let choice = CertificateChoice {
            min_extra: colleagues,
            max_extra: colleagues,
        };
        let result = generate_project(&target, &mut window, &project, &output, choice).await;
        window.send(final_update(result, |s| ScanUpdate::Generated {
            path: s.path.display().to_string(),
            size: s.size,
            sha256: s.sha256,
            recipients: s.recipients,
        }));
    }))
}

/// 试解密 of the bid file at `bid_file` by scan: opened as at the opening, in a scratch folder
/// of the project (`work/trial`), every check reported.
#[tauri::command]
pub fn start_trial_decrypt_scan(
    state: tauri::State<'_, DesktopState>,
    tasks: tauri::State<'_, ScanTasks>,
    project_path: String,
    bid_file: String,
    qr_ttl_secs: u64,
    updates: Channel<ScanUpdate>,
) -> Result<u64, CommandError> {
    let project = BidProject::open(Path::new(&project_path)).map_err(project_err)?;
    let target = target(&state, &project, qr_ttl_secs)?;
    let work = project.dir().join("work").join("trial");
    Ok(tasks.spawn_local(move || async move {
        let mut window = WindowPresenter { updates };
        let result =
            trial_decrypt_project(&target, &mut window, &project, Path::new(&bid_file), &work)
                .await;
        window.send(final_update(result, |r| ScanUpdate::TrialDecrypted {
            passed: r.passed,
            opened_as: r.opened_as.clone(),
            checks: r
                .checks
                .iter()
                .map(|c| {
                    format!(
                        "[{}] {}：{}",
                        if c.passed { "通过" } else { "未通过" },
                        c.name,
                        c.detail
                    )
                })
                .collect(),
        }));
    }))
}
