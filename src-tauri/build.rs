//! Generates Tauri's context (config, capabilities, embedded UI assets from `ui/dist`).
//!
//! `ui/dist` is built by `scripts/build-ui.sh` (Vite). When it is missing — a plain
//! `cargo build --workspace` in a fresh clone — a one-page placeholder is written there so that
//! the workspace still compiles, and cargo prints a warning; the placeholder window says what to
//! run. The E2E tests fail on it (no home screen), so it cannot pass for the real front end.
use std::path::Path;

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>BidSeal 投标签章</title></head>
<body><p>前端尚未构建：请运行 <code>bash scripts/build-ui.sh</code> 后重新编译 bidseal-desktop。</p>
<p>The front end is not built: run <code>bash scripts/build-ui.sh</code>, then rebuild.</p></body></html>
"#;

fn main() {
    let dist = Path::new("../ui/dist");
    let index = dist.join("index.html");
    println!("cargo:rerun-if-changed=../ui/dist/index.html");
    if !index.exists() {
        println!("cargo:warning=ui/dist is missing: embedding a placeholder page; run scripts/build-ui.sh");
        if let Err(e) =
            std::fs::create_dir_all(dist).and_then(|_| std::fs::write(&index, PLACEHOLDER))
        {
            println!("cargo:warning=cannot write the placeholder ui/dist/index.html: {e}");
        }
    }
    tauri_build::build()
}
