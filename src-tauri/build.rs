//! Generates Tauri's context (config, capabilities, embedded UI assets).
fn main() {
    tauri_build::build()
}
