//! 平台测试 (staff test console) in the window: thin commands over `workflow::staff_lab` — open
//! a lab over a `bidseal phone init` world, start and stop its relay and co-signing service,
//! run a scan flow with a simulated phone under a fault, the steps arriving on a `Channel`.
//!
//! Guarantees: one lab per window; a run holds the lab until it ends (the console shows it
//! running); the lab's processes are stopped when the window is destroyed (`shutdown`).
//! Does not: decide anything (the lab does).

use super::CommandError;
use bidseal_workflow::staff_lab::{
    cli_binary, DemoWorld, LabEvent, LabFault, LabFlow, LabView, PhoneAnswer, StaffLab,
};
use bidseal_workflow::FlowError;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use tauri::ipc::Channel;
use tokio::sync::Mutex;

/// The window's lab, and why the demo world's co-signing service or platform did not start
/// (if one did not).
#[derive(Default, Clone)]
pub struct StaffState(
    Arc<Mutex<Option<StaffLab>>>,
    Arc<Mutex<Option<String>>>,
    Arc<Mutex<Option<String>>>,
);

impl StaffState {
    /// First run: with a demo world (`BIDSEAL_DEMO_DIR`), opens the lab over it and starts its
    /// relay, co-signing service and reference platform (data in the demo folder's
    /// `platform/`) in the background (stopped with the window). A platform that does not
    /// start leaves the rest running.
    pub fn start_demo(&self) {
        let Some(demo) = DemoWorld::from_env() else {
            return;
        };
        let (lab, error, platform_error) = (self.0.clone(), self.1.clone(), self.2.clone());
        tauri::async_runtime::spawn(async move {
            let started = async {
                let mut new = StaffLab::new(Path::new(&demo.world), &cli_binary())?;
                new.start_relay().await?;
                new.start_cosign().await?;
                Ok::<_, FlowError>(new)
            }
            .await;
            match started {
                Ok(mut new) => {
                    let data = Path::new(&demo.dir).join("platform");
                    if let Err(e) = new.start_platform(Some(&data)).await {
                        *platform_error.lock().await = Some(format!("[{}] {e}", e.code()));
                    }
                    *lab.lock().await = Some(new)
                }
                Err(e) => *error.lock().await = Some(format!("[{}] {e}", e.code())),
            }
        });
    }

    /// The lab's reference platform URL while it runs — the first run's (deskplat: the
    /// default platform of 同步诚信库, 上传 and 从交易平台新建).
    pub async fn platform_url(&self) -> Option<String> {
        self.0
            .lock()
            .await
            .as_ref()
            .and_then(|lab| lab.platform_url())
    }

    /// Stops every service of the lab (window closing) without waiting: dropping the lab closes
    /// the co-signing service's lifeline (its shell stops it) and the relay. A run in progress
    /// holds the lab; its services then end with this process (the lifeline closes at exit).
    pub fn shutdown(&self) {
        if let Ok(mut lab) = self.0.try_lock() {
            *lab = None;
        }
    }
}

fn flow_err(e: FlowError) -> CommandError {
    CommandError::coded(e.code(), e)
}

fn no_lab() -> CommandError {
    CommandError::coded(
        "E_LAB_NOT_OPEN",
        "尚未打开测试世界：请填写 bidseal phone init 生成的文件夹并点「打开」",
    )
}

/// Opens a lab over the world at `world` (stops any earlier lab's services).
#[tauri::command]
pub async fn staff_open(
    state: tauri::State<'_, StaffState>,
    world: String,
) -> Result<LabView, CommandError> {
    let lab = StaffLab::new(Path::new(&world), &cli_binary()).map_err(flow_err)?;
    let mut guard = state.0.lock().await;
    if let Some(old) = guard.as_mut() {
        old.shutdown().await;
    }
    let view = lab.view().await;
    *guard = Some(lab);
    Ok(view)
}

/// The lab now (none before `staff_open`).
#[tauri::command]
pub async fn staff_view(
    state: tauri::State<'_, StaffState>,
) -> Result<Option<LabView>, CommandError> {
    let guard = state.0.lock().await;
    Ok(match guard.as_ref() {
        Some(lab) => Some(lab.view().await),
        None => None,
    })
}

/// Starts (`run` true) or stops service `name` (`relay`, `cosign`, `platform`).
#[tauri::command]
pub async fn staff_service(
    state: tauri::State<'_, StaffState>,
    name: String,
    run: bool,
) -> Result<LabView, CommandError> {
    let mut guard = state.0.lock().await;
    let lab = guard.as_mut().ok_or_else(no_lab)?;
    match (name.as_str(), run) {
        ("relay", true) => lab.start_relay().await.map(drop).map_err(flow_err)?,
        ("relay", false) => lab.stop_relay().await,
        ("cosign", true) => lab.start_cosign().await.map(drop).map_err(flow_err)?,
        ("cosign", false) => lab.stop_cosign().await,
        ("platform", true) => lab.start_platform(None).await.map(drop).map_err(flow_err)?,
        ("platform", false) => lab.stop_platform().await,
        _ => {
            return Err(CommandError::coded(
                "E_LAB_SERVICE",
                format!("没有名为 {name} 的服务"),
            ))
        }
    }
    Ok(lab.view().await)
}

/// Runs `flow` once with the simulated phone holding `cert` answering `answer`, under `fault`;
/// steps, the QR and the outcome arrive on `events`.
#[tauri::command]
pub async fn start_staff_run(
    state: tauri::State<'_, StaffState>,
    flow: LabFlow,
    cert: String,
    answer: PhoneAnswer,
    fault: LabFault,
    events: Channel<LabEvent>,
) -> Result<(), CommandError> {
    let lab = state.0.clone();
    if lab.lock().await.is_none() {
        return Err(no_lab());
    }
    // A thread of its own driven by the app's runtime: sealing holds the PDF reader (not
    // `Send`) across the scan's awaits, as the project view's sealing does.
    std::thread::spawn(move || {
        tauri::async_runtime::block_on(async move {
            let guard = lab.lock().await;
            if let Some(lab) = guard.as_ref() {
                let sink = move |e: LabEvent| {
                    // The window may be gone; the run ends on its own time-outs.
                    let _ = events.send(e);
                };
                lab.run(flow, &cert, answer, fault, &sink).await;
            }
        })
    });
    Ok(())
}

/// The demo world of a first run and its co-signing service, for the newcomer's guide.
#[derive(Debug, Clone, Serialize)]
pub struct FirstRunView {
    /// Paths and PIN of the demo world.
    #[serde(flatten)]
    pub demo: DemoWorld,
    /// The co-signing service the simulated phone calls (none while starting or if it failed).
    pub cosign_url: Option<String>,
    /// Why it is not running, when it failed.
    pub cosign_error: Option<String>,
    /// The reference platform (none while starting or if it failed).
    pub platform_url: Option<String>,
    /// Why it is not running, when it failed.
    pub platform_error: Option<String>,
}

/// The first-run guide's facts (none without `BIDSEAL_DEMO_DIR`).
#[tauri::command]
pub async fn first_run(
    state: tauri::State<'_, StaffState>,
) -> Result<Option<FirstRunView>, CommandError> {
    let Some(demo) = DemoWorld::from_env() else {
        return Ok(None);
    };
    let services = match state.0.lock().await.as_ref() {
        Some(lab) => lab.view().await.services,
        None => Vec::new(),
    };
    let url_of = |name: &str| {
        services
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.url.clone())
    };
    Ok(Some(FirstRunView {
        cosign_url: url_of("cosign"),
        platform_url: url_of("platform"),
        demo,
        cosign_error: state.1.lock().await.clone(),
        platform_error: state.2.lock().await.clone(),
    }))
}
