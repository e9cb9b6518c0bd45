//! Exit codes of `bidseal`, in one place, and the stdout writer every subcommand prints with.
//!
//! Guarantees: every subcommand ends with one of five codes (documented in `bidseal --help` and
//! docs/cli.md):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the check or operation said no (invalid signature, refusal on the phone, failed trial) |
//! | 2 | usage error (arguments; clap's own errors also exit 2) |
//! | 3 | input or environment error (missing file, unreadable input, network, project not ready) |
//! | 4 | interrupted (Ctrl-C) or timed out (QR expired, phone did not answer) |
//!
//! Errors travel as `anyhow::Error` whose message starts with `[CODE]` (the stable code of the
//! typed error); [`class_of`] maps a code to its exit code — the only such table. An error
//! without a code is an input/environment error (3).
//!
//! Writing results: [`outln!`] writes one line to stdout. A closed pipe (`bidseal tender
//! inspect X | head -1`) ends the process quietly with 0 (the reader took what it wanted); any
//! other write failure (a full disk, `>/dev/full`) ends it with `[E_STDOUT]` on stderr and 3. It
//! never panics, unlike `println!`.

use std::io::Write;
use std::process::ExitCode;

/// The five exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Success = 0,
    /// 1: the check or the operation said no.
    No = 1,
    /// 2: usage error.
    Usage = 2,
    /// 3: input or environment error.
    Input = 3,
    /// 4: interrupted or timed out.
    Interrupted = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// The exit code of an error code (`TENDER_SIGNATURE_INVALID`, `wrong_pin`, `scan.expired`, …).
pub fn class_of(code: &str) -> Exit {
    // Refusals from the phone or the co-signing service (scan protocol `RefusalReason` codes).
    const REFUSALS: &[&str] = &[
        "rejected_by_user",
        "wrong_pin",
        "pin_locked",
        "certificate_disabled",
        "certificate_revoked",
        "certificate_expired",
        "authorisation_ended",
        "before_opening_time",
        "not_a_recipient",
        "no_suitable_certificate",
        "seal_not_available",
        "platform_not_allowed",
        "co_signing_unavailable",
        "invalid_request",
    ];
    // A check that said no: a signature, digest or trust decision, a rule of the tender.
    const SAID_NO: &[&str] = &[
        "TENDER_UNSIGNED",
        "TENDER_SIGNATURE_INVALID",
        "TENDER_HASH_MISMATCH",
        "TENDER_UNTRUSTED_PLATFORM",
        "TENDER_PLATFORM_CERT_EXPIRED",
        "PROJECT_PLATFORM_NOT_PINNED",
        "PROJECT_DEADLINE_PASSED",
        "PROJECT_TENDER_REPLACED",
        "PROJECT_VALUE_REFUSED",
        "PROJECT_SEALS_STALE",
        "BID_CA_NOT_ACCEPTED",
        "BID_WRONG_COMPANY",
        "BID_RECIPIENT_REFUSED",
        "BID_MANIFEST_SIGNATURE",
        "E_ENV_RECIPIENTS_TAMPERED",
        "E_ENV_TAMPERED",
        "E_ENV_NOT_RECIPIENT",
        "E_ENV_KEY_MISMATCH",
        "E_CERT_BAD_SIGNATURE",
        "E_CERT_UNTRUSTED",
        "E_CERT_EXPIRED",
        "E_CERT_NOT_YET_VALID",
        "E_PDF_CERTIFIED_NO_CHANGES",
        "E_PDF_CERTIFIED_FORMS_ONLY",
        "E_BAD_PHONE_ANSWER",
        "E_MISSING_SEALS",
        "E_CHECK_FAILED",
        "E_CA_NOT_ACCEPTED",
        "E_TOO_FEW_COLLEAGUES",
        // The trading platform (sync, upload).
        "E_DEADLINE_PASSED",
        "E_PLATFORM_SIGNATURE",
        "E_RECEIPT_MISMATCH",
        "E_BID_WITHDRAWN",
        "E_LOGIN_FAILED",
        // The hall's fetch from the platform.
        "E_HALL_FETCH_NOT_STAFF",
        "E_HALL_FETCH_SEALED",
        "E_HALL_FETCH_HASH",
        // phone restore: the service refused the code (wrong, used up, expired).
        "E_RESTORE_REFUSED",
        // phone restore: a staged share the service never registered (voided).
        "E_RESTORE_STAGED_VOID",
        // phone enroll: the service refused the code, or the CA / the joint key said no.
        "E_ENROL_REFUSED",
        "E_ENROL_FAILED",
    ];
    const USAGE: &[&str] = &[
        "E_USAGE",
        "E_RELAY_URL",
        "E_UNKNOWN_CERT",
        "E_SAME_FILE",
        "E_RESTORE_NOT_SPLIT",
        "E_RESTORE_SAME_DIR",
        "E_ENROL_CERT_ID",
        "E_RESTORE_CERT_ID",
        "E_PDF_PAGE_LIST",
        "PROJECT_BAD_ASSIGNMENT",
        "PROJECT_UNKNOWN_KEY",
        "PROJECT_UNKNOWN_SECTION",
    ];
    const INTERRUPTED: &[&str] = &[
        "E_INTERRUPTED",
        "scan.expired",
        "scan.phone_timeout",
        "scan.idle_timeout",
    ];
    if REFUSALS.contains(&code) || SAID_NO.contains(&code) {
        Exit::No
    } else if USAGE.contains(&code) {
        Exit::Usage
    } else if INTERRUPTED.contains(&code) {
        Exit::Interrupted
    } else {
        Exit::Input
    }
}

/// The `[CODE]` an error message starts with, if any (the outermost context first).
pub fn code_of(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(|e| {
        let text = e.to_string();
        let rest = text.strip_prefix('[')?;
        let (code, _) = rest.split_once(']')?;
        let well_formed = !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        well_formed.then(|| code.to_string())
    })
}

/// Prints the error on stderr (`错误: [CODE] 消息`, in English under `--lang en`) and returns
/// its exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let class = code_of(err).map_or(Exit::Input, |c| class_of(&c));
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "{}: {}",
        super::lang::tr("error.prefix", &[]),
        message_in(err, super::lang::current())
    );
    class.into()
}

/// The pieces of an error's chain that say something: each context, then each cause whose
/// text is not already said. A typed error that prints its source (`[scan.expired] {0}` over
/// the scan error) would otherwise say everything twice (`…请重新扫码: …请重新扫码`).
fn pieces_of(err: &anyhow::Error) -> Vec<String> {
    let mut said = String::new();
    let mut pieces = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || said.contains(text) {
            continue;
        }
        said.push_str(text);
        pieces.push(text.to_string());
    }
    pieces
}

/// One message for the whole chain of an error, in zh-CN (see [`message_in`]).
#[cfg(test)]
pub fn message_of(err: &anyhow::Error) -> String {
    message_in(err, bidseal_workflow::i18n::Lang::ZhCn)
}

/// One message for the whole chain of an error in `lang`: each piece ([`pieces_of`]) keeps its
/// `[CODE]`; its text is put into `lang` by `bidseal_workflow::i18n::error_text` (the zh-CN
/// text when no English is known: never an empty line). Control characters from the values
/// (a file name with an ANSI escape or a newline) are printed escaped.
pub fn message_in(err: &anyhow::Error, lang: bidseal_workflow::i18n::Lang) -> String {
    use bidseal_workflow::i18n::{error_text, escape_controls, Lang};
    let joint = match lang {
        Lang::ZhCn => "：",
        Lang::En => ": ",
    };
    let mut message = String::new();
    for piece in pieces_of(err) {
        let (code, text) = split_code(&piece);
        // zh-CN: the text as it was made (`flow_err` already chose the command line's words);
        // English: the command line's words for the scan codes that speak of the desktop.
        let words = match lang {
            Lang::ZhCn => None,
            Lang::En => code.and_then(|c| cli_words(c, lang)),
        };
        let text = words.unwrap_or_else(|| error_text(lang, code, text));
        if !message.is_empty() {
            message.push_str(joint);
        }
        if let Some(code) = code {
            message.push_str(&format!("[{code}] "));
        }
        message.push_str(&text);
    }
    // One error, one message: a line break (a list, or a hostile value) continues indented,
    // so that no line can pass for another `错误:` line.
    escape_controls(&message).replace('\n', "\n  ")
}

/// `[CODE] text` → (`CODE`, `text`) for a well-formed code, else (None, the whole piece).
fn split_code(piece: &str) -> (Option<&str>, &str) {
    let parsed = piece.strip_prefix('[').and_then(|rest| {
        let (code, text) = rest.split_once(']')?;
        let well_formed = !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        well_formed.then(|| (code, text.trim_start()))
    });
    match parsed {
        Some((code, text)) => (Some(code), text),
        None => (None, piece),
    }
}

/// The scan layer's words for an expired, unknown or used QR ask to "在桌面端刷新二维码": the
/// command line has no refresh button, a new QR comes from running the command again. These
/// are the command line's words for those codes (`error.cli.CODE` in the language files).
pub fn cli_words(code: &str, lang: bidseal_workflow::i18n::Lang) -> Option<String> {
    match code {
        "scan.expired" | "scan.unknown_session" | "scan.already_scanned" => {
            Some(super::lang::tr_in(lang, &format!("error.cli.{code}"), &[]))
        }
        _ => None,
    }
}

/// A workflow error as the command line reports it: `[CODE] message`, in [`cli_words`] where
/// the scan layer's words speak of the desktop (the language is chosen when it is printed).
pub fn flow_err(e: bidseal_workflow::FlowError) -> anyhow::Error {
    match cli_words(e.code(), bidseal_workflow::i18n::Lang::ZhCn) {
        Some(text) => coded(e.code(), text),
        None => coded(e.code(), e),
    }
}

/// An error with a code, as the subcommands return it: `[CODE] message`.
pub fn coded<E: std::fmt::Display>(code: &str, err: E) -> anyhow::Error {
    anyhow::anyhow!("[{code}] {err}")
}

/// Ends the process after stdout failed: quietly with 0 on a closed pipe, else with
/// `[E_STDOUT]` and 3.
pub fn stdout_failed(err: &std::io::Error) -> ! {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(Exit::Success as i32);
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "{}: [E_STDOUT] {}",
        super::lang::tr("error.prefix", &[]),
        super::lang::tr("error.stdout", &[("err", &err.to_string())])
    );
    std::process::exit(Exit::Input as i32);
}

/// Writes `args` and a newline to stdout; see the module doc for what happens when it fails.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        stdout_failed(&e);
    }
    if let Err(e) = out.flush() {
        stdout_failed(&e);
    }
}

/// `println!` that never panics: see [`write_line`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cmd::exit::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cmd::exit::write_line(format_args!($($arg)*))
    };
}

/// The one panic the standard library raises on output (`println!` on a closed pipe or a full
/// disk, in code not yet on [`outln!`]): recognised by its message so that main can end as
/// [`stdout_failed`] would instead of printing a panic.
pub fn is_stdout_panic(payload: &(dyn std::any::Any + Send)) -> Option<std::io::Error> {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    if !text.starts_with("failed printing to stdout") {
        return None;
    }
    let kind = if text.contains("Broken pipe") {
        std::io::ErrorKind::BrokenPipe
    } else {
        std::io::ErrorKind::Other
    };
    let detail = text.trim_start_matches("failed printing to stdout: ");
    Some(std::io::Error::new(kind, detail.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_their_class() {
        assert_eq!(class_of("wrong_pin"), Exit::No);
        assert_eq!(class_of("TENDER_SIGNATURE_INVALID"), Exit::No);
        assert_eq!(class_of("PROJECT_BAD_ASSIGNMENT"), Exit::Usage);
        assert_eq!(class_of("scan.expired"), Exit::Interrupted);
        assert_eq!(class_of("TENDER_IO"), Exit::Input);
        assert_eq!(class_of("anything else"), Exit::Input);
    }

    /// Like the phone's `PhoneScanError`: prints its source and returns it as source.
    #[derive(Debug, thiserror::Error)]
    enum Wrapper {
        #[error("[scan.expired] {0}")]
        Scan(#[from] Inner),
    }
    #[derive(Debug, thiserror::Error)]
    #[error("二维码已过期，请重新运行本命令后重新扫码")]
    struct Inner;

    #[test]
    fn a_chained_error_says_each_thing_once() {
        let err = anyhow::Error::from(Wrapper::from(Inner));
        let text = message_of(&err);
        assert_eq!(
            text,
            "[scan.expired] 二维码已过期，请重新运行本命令后重新扫码"
        );
        assert_eq!(text.matches("重新扫码").count(), 1, "{text}");
        // Contexts that add something are all kept, outermost first.
        let err = anyhow::Error::from(Wrapper::from(Inner)).context("[E_IO] 无法读取 a.txt");
        assert_eq!(
            message_of(&err),
            "[E_IO] 无法读取 a.txt：[scan.expired] 二维码已过期，请重新运行本命令后重新扫码"
        );
        let err = anyhow::anyhow!("磁盘已满").context("写出报告失败");
        assert_eq!(message_of(&err), "写出报告失败：磁盘已满");
    }

    #[test]
    fn code_is_read_from_the_message_only_when_well_formed() {
        assert_eq!(
            code_of(&coded("E_ENV_TAMPERED", "x")).as_deref(),
            Some("E_ENV_TAMPERED")
        );
        assert_eq!(code_of(&anyhow::anyhow!("[ no code ] x")), None);
        assert_eq!(code_of(&anyhow::anyhow!("plain")), None);
        // A context without a code over an error with one: the inner code counts.
        let e = coded("wrong_pin", "x").context("扫码失败");
        assert_eq!(code_of(&e).as_deref(), Some("wrong_pin"));
    }

    #[test]
    fn an_error_in_english_keeps_its_code_and_never_goes_empty() {
        use bidseal_workflow::i18n::Lang;
        let err =
            anyhow::Error::from(Wrapper::from(Inner)).context("[E_PDF_PAGE_LIST] 页码列表为空");
        assert_eq!(
            message_in(&err, Lang::En),
            "[E_PDF_PAGE_LIST] The page list is empty: [scan.expired] the QR code expired: run \
             this command again and scan the new QR code"
        );
        // A code nobody knows, a text no template explains: the zh-CN text with its code.
        let err = coded("E_FROM_THE_FUTURE", "未来的错误");
        assert_eq!(message_in(&err, Lang::En), "[E_FROM_THE_FUTURE] 未来的错误");
        // Hostile values: escaped in both languages, one line.
        let err = coded("E_PDF_IO", "文件读写失败（a\u{1b}[2J\n错误: 伪造）：x");
        for lang in [Lang::En, Lang::ZhCn] {
            let text = message_in(&err, lang);
            assert!(!text.contains('\u{1b}'), "{text:?}");
            assert!(text.contains("\\u{1b}[2J\n  错误: 伪造"), "{text:?}");
        }
    }
}
