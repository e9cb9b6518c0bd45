//! Tauri commands: each one calls the `workflow` (or `bid`) crate and returns typed data to
//! the UI; long work reports through a `Channel` of typed updates (see [`scan`]). Nothing here
//! decides anything a CLI user would not also get.
//!
//! Commands live in submodules (a `#[tauri::command] pub fn` at the crate root clashes with the
//! macro's generated items, E0255).

pub mod project;
pub mod scan;
// 开标大厅 and 平台测试 (deskhall)
pub mod hall;
pub mod staff;

// Bidder: the bid's pages, composing and seal placement (deskbid).
pub mod bidform;
pub mod generate;
pub mod pages;

// 交易平台: login, 同步诚信库, upload, tenders (deskplat).
pub mod platform;

use bidseal_relay::RelayHandle;
use bidseal_workflow::about::AppInfo;
use serde::Serialize;
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
        let started =
            tauri::async_runtime::block_on(bidseal_workflow::relay::start_embedded_relay());
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

    /// The embedded relay's URL, or why scanning is unavailable.
    pub fn relay_url(&self) -> Result<String, CommandError> {
        let info = lock(&self.info);
        info.relay_address.clone().ok_or_else(|| CommandError {
            code: "E_RELAY_DOWN".into(),
            message: format!("扫码中继未运行：{}，请重启 BidSeal", info.relay_status),
        })
    }
}

impl Default for DesktopState {
    fn default() -> Self {
        Self::new()
    }
}

/// Sets the language of the messages the window gets (`zh-CN`, `en`; anything else zh-CN):
/// errors and refusals are worded by `bidseal_workflow::i18n` when they are sent.
#[tauri::command]
pub fn set_language(locale: String) {
    bidseal_workflow::i18n::set_language(
        bidseal_workflow::i18n::Lang::parse(&locale).unwrap_or(bidseal_workflow::i18n::Lang::ZhCn),
    );
}

/// `message` (zh-CN, of an error with `code`) in the window's language.
pub(crate) fn in_window_language(code: &str, message: &str) -> String {
    use bidseal_workflow::i18n::{error_text, language};
    error_text(language(), Some(code), message)
}

/// Words for people a library computed in zh-CN (a flow's progress line, a check's detail) in
/// the window's language (the workflow's phrases, [`set_language`]).
pub(crate) fn in_window_words(text: &str) -> String {
    use bidseal_workflow::i18n::{error_text, language};
    error_text(language(), None, text)
}

/// An error a command returns to the window: stable code and a message saying what to do,
/// held in zh-CN and sent in the window's language ([`set_language`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// Stable code (`E_...`, `PROJECT_...`).
    pub code: String,
    /// What happened and what to do, zh-CN.
    pub message: String,
}

impl Serialize for CommandError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CommandError", 2)?;
        st.serialize_field("code", &self.code)?;
        st.serialize_field("message", &in_window_language(&self.code, &self.message))?;
        st.end()
    }
}

impl CommandError {
    /// From any coded error of the library crates.
    pub fn coded(code: &str, err: impl std::fmt::Display) -> Self {
        CommandError {
            code: code.into(),
            message: err.to_string(),
        }
    }
}

/// Locks a mutex, recovering the data if another command panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Version of the app and the address of its embedded relay, for the home screen (the
/// relay's state in the window's language).
#[tauri::command]
pub fn app_info(state: tauri::State<'_, DesktopState>) -> AppInfo {
    let mut info = lock(&state.info).clone();
    info.relay_status = in_window_words(&info.relay_status);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window's language reaches the Rust side's errors: English under `en`, the zh-CN
    /// text under `zh-CN` (and any other value), the code always.
    #[test]
    fn errors_go_to_the_window_in_its_language() -> Result<(), serde_json::Error> {
        let zh = "不是 PDF 文件（缺少 %PDF- 文件头），请选择正确的 PDF 文件";
        let e = CommandError::coded("E_PDF_NOT_PDF", zh);
        set_language("en".into());
        let en = serde_json::to_value(&e)?;
        let unknown = serde_json::to_value(CommandError::coded("E_NEW", "新的错误"))?;
        // A flow's status line and a failed opening check (one test: the language is global).
        let status = in_window_words("请用手机扫码（扫码签章）");
        let check = in_window_words("[失败] PDF 签章 a.pdf：文件没有任何签章（OPEN_PDF_UNSIGNED）");
        // The signatures panel's problems and changes (verify_sealed).
        let digest = in_window_words("摘要不符：签名覆盖的内容被修改");
        let change = in_window_words("新增签名控件：第 3 页");
        let relay = in_window_words("嵌入式扫码中继运行中（本机回环地址，供本机模拟手机使用）");
        set_language("fr".into());
        assert_eq!(
            in_window_words("请用手机扫码（扫码签章）"),
            "请用手机扫码（扫码签章）"
        );
        let fallback = serde_json::to_value(&e)?;
        set_language("zh-CN".into());
        let back = serde_json::to_value(&e)?;
        assert_eq!(en["code"], "E_PDF_NOT_PDF");
        assert_eq!(
            en["message"],
            "Not a PDF file (no %PDF- header); choose the right PDF file"
        );
        assert_eq!(unknown["message"], "新的错误");
        assert_eq!(status, "scan with the phone (sealing scan)");
        assert_eq!(
            check,
            "[failed] PDF seals a.pdf: the file has no seal at all (OPEN_PDF_UNSIGNED)"
        );
        assert_eq!(
            digest,
            "digest mismatch: what the signature covers was changed"
        );
        assert_eq!(change, "signature widget added: page 3");
        assert!(relay.starts_with("Embedded scan relay running"), "{relay}");
        assert_eq!(fallback["message"], zh);
        assert_eq!(back["message"], zh);
        Ok(())
    }
}
