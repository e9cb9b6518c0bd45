//! Tauri commands: each one calls the `workflow` crate and returns typed data to the UI.
//! Nothing here decides anything a CLI user would not also get.

use bidseal_relay::{Relay, RelayHandle};
use bidseal_workflow::about::AppInfo;
use std::sync::Mutex;

/// State shared by every command of the main window.
pub struct DesktopState {
    info: Mutex<AppInfo>,
    /// The embedded scan relay; kept alive for the life of the app.
    relay: Mutex<Option<RelayHandle>>,
}

impl DesktopState {
    /// State for a freshly started app, before the embedded relay is up.
    pub fn new() -> Self {
        DesktopState {
            info: Mutex::new(AppInfo::new(None, "嵌入式扫码中继正在启动")),
            relay: Mutex::new(None),
        }
    }

    /// Starts the embedded relay on loopback. On failure the app still runs and the home
    /// screen shows why scanning is unavailable.
    pub fn start_embedded_relay(&self) {
        let started = tauri::async_runtime::block_on(Relay::bind("127.0.0.1:0"));
        let info = match started {
            Ok(handle) => {
                let info = AppInfo::new(
                    Some(handle.url()),
                    "嵌入式扫码中继运行中（本机回环地址，供本机模拟手机使用）",
                );
                *lock(&self.relay) = Some(handle);
                info
            }
            Err(err) => AppInfo::new(None, format!("嵌入式扫码中继启动失败：{err}")),
        };
        *lock(&self.info) = info;
    }
}

impl Default for DesktopState {
    fn default() -> Self {
        Self::new()
    }
}

/// Locks a mutex, recovering the data if another command panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Version of the app and the address of its embedded relay, for the home screen.
#[tauri::command]
pub fn app_info(state: tauri::State<'_, DesktopState>) -> AppInfo {
    lock(&state.info).clone()
}
