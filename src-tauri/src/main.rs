//! BidSeal desktop app: a Tauri 2 shell whose commands are thin wrappers over the `workflow`
//! crate (see `commands`). State lives in managed structs; scan progress goes to the window as
//! typed updates on a channel.

// Hide the console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;

use tauri::Manager;

fn main() {
    let result = tauri::Builder::default()
        // Native 打开/保存 dialogs for the window's path fields (the UI calls the plugin's
        // `open`/`save` commands; paths can still be typed).
        .plugin(tauri_plugin_dialog::init())
        .manage(commands::DesktopState::new())
        .manage(commands::scan::ScanTasks::default())
        // 开标大厅 and 平台测试 (deskhall)
        .manage(commands::hall::HallState::default())
        .manage(commands::staff::StaffState::default())
        .on_window_event(|window, event| {
            // 平台测试's processes end with the window.
            if let tauri::WindowEvent::Destroyed = event {
                window.state::<commands::staff::StaffState>().shutdown();
            }
        })
        // The page view's PDFs (an ArrayBuffer for `fetch`; see `commands::pages::PDF_SCHEME`).
        .register_asynchronous_uri_scheme_protocol(
            commands::pages::PDF_SCHEME,
            |_ctx, request, responder| {
                tauri::async_runtime::spawn_blocking(move || {
                    responder.respond(commands::pages::pdf_scheme_response(&request))
                });
            },
        )
        .setup(|app| {
            app.state::<commands::DesktopState>().start_embedded_relay();
            // First run (deskhall): the demo world's co-signing service, if there is one.
            app.state::<commands::staff::StaffState>().start_demo();
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::set_language,
            commands::scan::start_auth_scan,
            commands::scan::start_seal_scan,
            commands::scan::cancel_scan,
            commands::project::recent_projects,
            commands::project::open_project,
            commands::project::new_project,
            // Bidder: pages, composing, seal placement (deskbid).
            commands::pages::compose_project,
            commands::pages::place_seal,
            commands::pages::verify_sealed,
            commands::bidform::preview_field,
            commands::bidform::save_bid_form,
            commands::bidform::attach_file,
            commands::generate::generation_check,
            commands::generate::start_generate_scan,
            commands::generate::start_trial_decrypt_scan,
            // 开标大厅 (deskhall)
            commands::hall::hall_load,
            commands::hall::hall_add_bids,
            commands::hall::hall_view,
            commands::hall::start_hall_scan,
            commands::hall::hall_export_pdf,
            commands::hall::hall_fetch_from_platform,
            commands::staff::staff_open,
            commands::staff::staff_view,
            commands::staff::staff_service,
            commands::staff::start_staff_run,
            commands::staff::first_run,
            // 交易平台 (deskplat)
            commands::platform::platform_status,
            commands::platform::start_platform_login,
            commands::platform::start_library_sync,
            commands::platform::integrity_records,
            commands::platform::cite_records,
            commands::platform::start_bid_upload,
            commands::platform::withdraw_platform_bid,
            commands::platform::platform_receipts,
            commands::platform::platform_tenders,
            commands::platform::new_project_from_platform,
        ])
        .run(tauri::generate_context!());
    if let Err(err) = result {
        eprintln!("BidSeal 启动失败: {err}");
        std::process::exit(1);
    }
}
