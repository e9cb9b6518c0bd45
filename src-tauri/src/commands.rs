//! Tauri commands: each one calls the `workflow` crate and returns typed data to the UI.
//! Nothing here decides anything a CLI user would not also get.

use bidseal_workflow::about::AppInfo;

/// State shared by every command of the main window.
pub struct DesktopState {
    info: AppInfo,
}

impl DesktopState {
    /// State for a freshly started app.
    pub fn new() -> Self {
        DesktopState {
            info: AppInfo::new(None, "嵌入式扫码中继尚未实现（issue #5）"),
        }
    }
}

/// Version of the app and the address of its embedded relay, for the home screen.
#[tauri::command]
pub fn app_info(state: tauri::State<'_, DesktopState>) -> AppInfo {
    state.info.clone()
}
