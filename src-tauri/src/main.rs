//! BidSeal desktop app: a Tauri 2 shell whose commands are thin wrappers over the `workflow`
//! crate (see `commands`). State lives in managed structs; progress goes to the UI as events.

// Hide the console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;

use tauri::Manager;

fn main() {
    let result = tauri::Builder::default()
        .manage(commands::DesktopState::new())
        .setup(|app| {
            app.state::<commands::DesktopState>().start_embedded_relay();
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![commands::app_info])
        .run(tauri::generate_context!());
    if let Err(err) = result {
        eprintln!("BidSeal 启动失败: {err}");
        std::process::exit(1);
    }
}
