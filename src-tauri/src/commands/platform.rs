//! The trading platform (交易平台) in the window, over `workflow::platform_flow`,
//! `library_sync` and `bid_upload`: 扫码登录 and 同步诚信库 in the shared scan dialog (the
//! platform's QR and the phone's states as [`ScanUpdate`]s), the kept records and which ones
//! the bid cites, 上传 with bytes as updates and the verified receipt, 撤回, the kept
//! receipts, and 新建项目 from the platform's published tenders.
//!
//! Guarantees: nothing here checks a signature or decides a deadline — the workflow functions
//! the CLI uses do; a failure reaches the window with the platform's code when it gave one
//! (`E_DEADLINE_PASSED`, `PLATFORM_CERT_NOT_BOUND`, …) else the client's (`E_PLATFORM_OFFLINE`,
//! `E_SESSION_EXPIRED`, `E_PLATFORM_SIGNATURE`). Does not: keep a session of its own (the
//! project's `work/platform-session.json` is the one the CLI uses too).

use super::project::{new_project, project_err, ProjectView};
use super::scan::{ScanTasks, ScanUpdate, WindowPresenter};
use super::staff::StaffState;
use super::CommandError;
use bidseal_bid::platform_docs::CompanyRef;
use bidseal_bid::project::BidProject;
use bidseal_workflow::bid_upload::{kept_receipts, upload_bid, withdraw_bid, KeptReceipt};
use bidseal_workflow::library_sync::{local_records, set_cited, sync_library, KeptRecordLine};
use bidseal_workflow::platform_client::{PlatformClient, PlatformClientError};
use bidseal_workflow::platform_flow::{
    download_tender_package, login_by_scan, published_tenders, remember_platform,
    remembered_platform, resume_session, LoginStep, PublishedTender, SavedSession,
};
use bidseal_workflow::report::format_beijing;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tauri::ipc::Channel;

/// Environment variable naming the platform URL a project without one starts with.
pub const PLATFORM_ENV: &str = "BIDSEAL_PLATFORM_URL";

/// A platform failure as the window shows it: the platform's own code when it refused.
pub(crate) fn platform_err(e: PlatformClientError) -> CommandError {
    let code = e.platform_code().unwrap_or(e.code()).to_string();
    CommandError::coded(&code, e)
}

/// The final update of a scan login that did not end in a session: the QR expired, the phone
/// or the platform refused (with its code), or anything else failed.
fn login_failure(e: PlatformClientError) -> ScanUpdate {
    match &e {
        PlatformClientError::ScanLogin { code, .. }
            if code.as_deref() == Some("PLATFORM_SCAN_EXPIRED") =>
        {
            ScanUpdate::Expired
        }
        PlatformClientError::ScanLogin { .. } | PlatformClientError::LoginFailed(_) => {
            let c = platform_err(e);
            ScanUpdate::Rejected {
                code: c.code,
                message: c.message,
            }
        }
        _ => failed(e),
    }
}

/// Any other failure as the final update `failed`, with the platform's code when it gave one.
fn failed(e: PlatformClientError) -> ScanUpdate {
    let c = platform_err(e);
    ScanUpdate::Failed {
        code: c.code,
        message: c.message,
    }
}

/// A receipt as the window shows it (verified; time in Beijing time).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReceiptView {
    pub id: String,
    /// `submit`, `replace` or `withdraw`.
    pub action: String,
    pub sequence: i64,
    pub tender_id: String,
    pub project_id: String,
    pub lot_id: String,
    pub bidder_name: String,
    pub bidder_uscc: String,
    pub sha256: String,
    pub size: i64,
    /// The platform's time, `2026-12-01 16:53:00（北京时间）`.
    pub received_at: String,
    /// Where the project keeps it.
    pub path: String,
}

impl From<&KeptReceipt> for ReceiptView {
    fn from(k: &KeptReceipt) -> Self {
        let r = &k.receipt;
        ReceiptView {
            id: r.id.clone(),
            action: r.action.clone(),
            sequence: r.sequence,
            tender_id: r.tender.id.clone(),
            project_id: r.tender.project_id.clone(),
            lot_id: r.tender.lot_id.clone(),
            bidder_name: r.bidder.name.clone(),
            bidder_uscc: r.bidder.uscc.clone(),
            sha256: r.sha256.clone(),
            size: r.size,
            received_at: format_beijing(r.received_at_unix),
            path: k.path.display().to_string(),
        }
    }
}

/// The project's platform and whether its saved session is alive.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformStatus {
    /// The platform URL (empty: none known yet).
    pub url: String,
    /// The logged-in company while the saved session is alive.
    pub company: Option<CompanyRef>,
    /// Why the platform could not be asked (offline…).
    pub error: Option<CommandError>,
}

fn open(project_path: &str) -> Result<BidProject, CommandError> {
    BidProject::open(Path::new(project_path)).map_err(project_err)
}

/// The project's platform (`platform`, else the one the project noted, else
/// `BIDSEAL_PLATFORM_URL`, else the 平台测试 lab's platform — the first run's) and its session
/// state.
#[tauri::command]
pub async fn platform_status(
    staff: tauri::State<'_, StaffState>,
    project_path: String,
    platform: String,
) -> Result<PlatformStatus, CommandError> {
    let lab_platform = staff.platform_url().await;
    let dir = PathBuf::from(&project_path);
    let url = Some(platform.trim().to_string())
        .filter(|u| !u.is_empty())
        .or_else(|| {
            (!project_path.is_empty())
                .then(|| remembered_platform(&dir))
                .flatten()
        })
        .or_else(|| std::env::var(PLATFORM_ENV).ok())
        .or(lab_platform)
        .unwrap_or_default();
    if url.is_empty() || project_path.is_empty() {
        return Ok(PlatformStatus {
            url,
            company: None,
            error: None,
        });
    }
    match resume_session(&url, &dir).await {
        Ok(SavedSession::Alive(client)) => Ok(PlatformStatus {
            url,
            company: client.company,
            error: None,
        }),
        Ok(_) => Ok(PlatformStatus {
            url,
            company: None,
            error: None,
        }),
        Err(e) => Ok(PlatformStatus {
            url,
            company: None,
            error: Some(platform_err(e)),
        }),
    }
}

/// Scan login at `platform` with `presenter` showing the platform's QR and the phone.
async fn scan_login(
    window: &WindowPresenter,
    platform: &str,
    project: &BidProject,
    purpose: &str,
) -> Result<PlatformClient, PlatformClientError> {
    let bidder = project.file().bidder.credit_code.clone();
    // The dialog names the operation: 同步诚信库 or 扫码登录.
    let operation = if purpose == "sync_integrity" {
        "sync"
    } else {
        "login"
    };
    login_by_scan(platform, project.dir(), &bidder, purpose, &mut |step| {
        window.send(match step {
            LoginStep::Qr(payload) => WindowPresenter::qr_update(operation, &payload),
            LoginStep::Scanned(device) => ScanUpdate::Scanned { device },
        })
    })
    .await
}

/// 扫码登录 to `platform` for the project: the platform's QR, then `logged_in` (the session
/// is kept in the project) or why not.
#[tauri::command]
pub fn start_platform_login(
    tasks: tauri::State<'_, ScanTasks>,
    project_path: String,
    platform: String,
    updates: Channel<ScanUpdate>,
) -> Result<u64, CommandError> {
    let project = open(&project_path)?;
    Ok(tasks.spawn_local(move || async move {
        let window = WindowPresenter { updates };
        let update = match scan_login(&window, &platform, &project, "login").await {
            Ok(client) => ScanUpdate::LoggedIn {
                platform: client.base().to_string(),
                company: client.company.clone(),
            },
            Err(e) => login_failure(e),
        };
        window.send(update);
    }))
}

/// 同步诚信库 by scan: 扫码登录 (purpose `sync_integrity`), then the company's records are
/// fetched, verified and kept (`library_sync::sync_library`); final `synced` with the report.
#[tauri::command]
pub fn start_library_sync(
    tasks: tauri::State<'_, ScanTasks>,
    project_path: String,
    platform: String,
    updates: Channel<ScanUpdate>,
) -> Result<u64, CommandError> {
    let project = open(&project_path)?;
    Ok(tasks.spawn_local(move || async move {
        let window = WindowPresenter { updates };
        let client = match scan_login(&window, &platform, &project, "sync_integrity").await {
            Ok(c) => c,
            Err(e) => return window.send(login_failure(e)),
        };
        window.send(ScanUpdate::Status {
            line: "已登录，正在同步诚信库并逐条验证平台签名…".into(),
        });
        window.send(match sync_library(&client, &project).await {
            Ok(report) => ScanUpdate::Synced(report),
            Err(e) => failed(e),
        });
    }))
}

/// The project's kept 诚信库 records and whether the bid cites each.
#[tauri::command]
pub fn integrity_records(project_path: String) -> Result<Vec<KeptRecordLine>, CommandError> {
    local_records(Path::new(&project_path)).map_err(platform_err)
}

/// The bidder picks the kept records the bid cites (its manifest's `integrity_records`).
#[tauri::command]
pub fn cite_records(
    project_path: String,
    ids: Vec<String>,
) -> Result<Vec<KeptRecordLine>, CommandError> {
    let dir = Path::new(&project_path);
    set_cited(dir, &ids).map_err(platform_err)?;
    local_records(dir).map_err(platform_err)
}

/// A client with the project's live session on `platform`, or `E_SESSION_EXPIRED`.
async fn session(platform: &str, dir: &Path) -> Result<PlatformClient, PlatformClientError> {
    match resume_session(platform, dir).await? {
        SavedSession::Alive(client) => Ok(client),
        _ => Err(PlatformClientError::SessionExpired),
    }
}

/// 上传 `bid_file` to `platform` with the project's session: `bytes` updates (stage 上传) as
/// chunks are acknowledged, final `uploaded` with the verified, kept receipt, or `failed`.
#[tauri::command]
pub fn start_bid_upload(
    tasks: tauri::State<'_, ScanTasks>,
    project_path: String,
    platform: String,
    bid_file: String,
    updates: Channel<ScanUpdate>,
) -> Result<u64, CommandError> {
    let project = open(&project_path)?;
    Ok(tasks.spawn_local(move || async move {
        let window = WindowPresenter { updates };
        let result = async {
            let client = session(&platform, project.dir()).await?;
            upload_bid(
                &client,
                &project,
                Path::new(&bid_file),
                &mut |sent, total| {
                    window.send(ScanUpdate::Bytes {
                        stage: "上传".into(),
                        done: sent.max(0) as u64,
                        total: total.max(0) as u64,
                    })
                },
            )
            .await
        }
        .await;
        window.send(match result {
            Ok(outcome) => ScanUpdate::Uploaded(ReceiptView::from(&outcome.receipt)),
            Err(e) => failed(e),
        });
    }))
}

/// 撤回 the project's bid on `platform` (before the deadline): the verified, kept withdrawal
/// receipt.
#[tauri::command]
pub async fn withdraw_platform_bid(
    project_path: String,
    platform: String,
) -> Result<ReceiptView, CommandError> {
    let project = open(&project_path)?;
    let client = session(&platform, project.dir())
        .await
        .map_err(platform_err)?;
    let kept = withdraw_bid(&client, &project)
        .await
        .map_err(platform_err)?;
    Ok(ReceiptView::from(&kept))
}

/// The project's kept receipts that verify, oldest first.
#[tauri::command]
pub fn platform_receipts(project_path: String) -> Result<Vec<ReceiptView>, CommandError> {
    let project = open(&project_path)?;
    Ok(kept_receipts(&project)
        .map_err(platform_err)?
        .iter()
        .map(ReceiptView::from)
        .collect())
}

/// The platform's published tenders (home screen: 从交易平台新建).
#[tauri::command]
pub async fn platform_tenders(platform: String) -> Result<Vec<PublishedTender>, CommandError> {
    let client = PlatformClient::new(platform.trim()).map_err(platform_err)?;
    published_tenders(&client).await.map_err(platform_err)
}

/// A new project in `dir` from tender `tender_id` of `platform`: the package is downloaded and
/// then verified against the platform certificate the user names (`platform_cert`, PEM) by the
/// same `new_project` as a package file; the project notes the platform.
#[tauri::command]
pub async fn new_project_from_platform(
    dir: String,
    platform: String,
    tender_id: String,
    platform_cert: String,
) -> Result<ProjectView, CommandError> {
    let client = PlatformClient::new(platform.trim()).map_err(platform_err)?;
    let target = PathBuf::from(&dir);
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| {
        CommandError::coded("E_IO", format!("无法创建目录 {}：{e}", parent.display()))
    })?;
    let package = parent.join(format!(".bidseal-tender-{}.zip", std::process::id()));
    download_tender_package(&client, tender_id.trim(), &package)
        .await
        .map_err(platform_err)?;
    let tender = package.display().to_string();
    let made =
        tauri::async_runtime::spawn_blocking(move || new_project(dir, tender, platform_cert))
            .await
            .map_err(|e| CommandError::coded("E_INTERNAL", format!("后台任务失败：{e}，请重试")));
    let _ = std::fs::remove_file(&package);
    let view = made??;
    remember_platform(&target, client.base()).map_err(platform_err)?;
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_login_ends_expired_rejected_with_the_platforms_code_or_failed() {
        let expired = login_failure(PlatformClientError::ScanLogin {
            code: Some("PLATFORM_SCAN_EXPIRED".into()),
            reason: "二维码已过期".into(),
        });
        assert_eq!(expired, ScanUpdate::Expired);
        let unbound = login_failure(PlatformClientError::ScanLogin {
            code: Some("PLATFORM_CERT_NOT_BOUND".into()),
            reason: "尚未绑定（在 http://p/bind 绑定）".into(),
        });
        assert!(
            matches!(&unbound, ScanUpdate::Rejected { code, message }
                if code == "PLATFORM_CERT_NOT_BOUND" && message.contains("http://p/bind")),
            "{unbound:?}"
        );
        let stranger = login_failure(PlatformClientError::LoginFailed("另一家企业".into()));
        assert!(
            matches!(&stranger, ScanUpdate::Rejected { code, .. } if code == "E_LOGIN_FAILED"),
            "{stranger:?}"
        );
        let offline = login_failure(PlatformClientError::Offline {
            url: "http://p".into(),
            detail: "连接被拒绝".into(),
        });
        assert!(
            matches!(&offline, ScanUpdate::Failed { code, .. } if code == "E_PLATFORM_OFFLINE"),
            "{offline:?}"
        );
        // A refusal keeps the platform's own code (the window advises on it).
        let late = failed(PlatformClientError::DeadlinePassed(
            "已过投标截止时间".into(),
        ));
        assert!(
            matches!(&late, ScanUpdate::Failed { code, .. } if code == "E_DEADLINE_PASSED"),
            "{late:?}"
        );
    }

    /// The window (ui/src/api.ts) reads these exact shapes.
    #[test]
    fn platform_updates_serialise_with_the_type_tag_the_window_reads() {
        let v = serde_json::to_value(ScanUpdate::LoggedIn {
            platform: "http://p".into(),
            company: Some(CompanyRef {
                uscc: "9".into(),
                name: "华夏".into(),
            }),
        })
        .unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"type": "logged_in", "platform": "http://p",
                               "company": {"uscc": "9", "name": "华夏"}})
        );
        let v = serde_json::to_value(ScanUpdate::Synced(Default::default())).unwrap_or_default();
        assert_eq!(v["type"], "synced");
        assert_eq!(v["refused"], serde_json::json!([]));
    }
}
