//! The language of the command line's words for people: zh-CN by default, English with
//! `--lang en` or `BIDSEAL_LANG=en`. The words live in resource files, `lang/zh-CN.txt` and
//! `lang/en.txt` (built into the binary): every subcommand's and argument's help, the examples,
//! clap's own headings (用法, 参数, 选项, 命令), its help/version flags and its error messages,
//! and the framing of errors (`错误:` / `error:`).
//!
//! Guarantees: both files have the same keys and every command and argument of the CLI has one
//! (tests below); a key missing at run time falls back to zh-CN, then to clap's own text, never
//! to nothing. JSON output, stable error codes and file formats do not change with the
//! language. The library crates' typed errors are put into English by
//! `bidseal_workflow::i18n` (one resource file for every error code; see `exit::report`).

use clap::error::{ContextKind, ErrorKind};
use clap::{Arg, ArgAction, Command};
use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::OnceLock;

/// Environment variable choosing the language when `--lang` is not given.
pub const LANG_ENV: &str = "BIDSEAL_LANG";

const ZH_CN: &str = include_str!("lang/zh-CN.txt");
const EN: &str = include_str!("lang/en.txt");

pub use bidseal_workflow::i18n::Lang;

fn source(lang: Lang) -> &'static str {
    match lang {
        Lang::ZhCn => ZH_CN,
        Lang::En => EN,
    }
}

/// The language of this run: `--lang X` / `--lang=X` anywhere on the command line, else
/// `BIDSEAL_LANG`, else zh-CN. A value that names no language is left for clap to refuse.
pub fn detect(args: &[OsString], env: Option<&str>) -> Lang {
    let mut given = None;
    let mut iter = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        if let Some(v) = arg.strip_prefix("--lang=") {
            given = Some(v.to_string());
        } else if arg == "--lang" {
            given = iter.next().map(str::to_string);
        }
    }
    given
        .as_deref()
        .and_then(Lang::parse)
        .or_else(|| env.and_then(Lang::parse))
        .unwrap_or(Lang::ZhCn)
}

/// Sets the language of this run (for the command line's words and, through
/// `bidseal_workflow::i18n`, the library crates' error messages).
pub fn set(lang: Lang) {
    bidseal_workflow::i18n::set_language(lang);
}

/// The language of this run (zh-CN until [`set`]).
pub fn current() -> Lang {
    bidseal_workflow::i18n::language()
}

/// The parsed resource file of `lang`: key → text with `\n` and `\t` turned into line breaks
/// and tabs; a text in double quotes keeps the spaces at its ends.
fn table(lang: Lang) -> &'static HashMap<&'static str, String> {
    static ZH: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    static ENGLISH: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    let cell = match lang {
        Lang::ZhCn => &ZH,
        Lang::En => &ENGLISH,
    };
    cell.get_or_init(|| parse(source(lang)))
}

fn parse(source: &'static str) -> HashMap<&'static str, String> {
    source
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| {
            let v = v.trim_end();
            // `"…"` keeps spaces at its ends (`out.list_joint = ", "`).
            let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => inner,
                None => v,
            };
            (k.trim(), v.replace("\\n", "\n").replace("\\t", "\t"))
        })
        .collect()
}

/// An error's message in the language of this run: its `code` (when it has one) and the zh-CN
/// text it displays, put into English by `bidseal_workflow::i18n::error_text` (the one way for
/// every library error the command line prints).
pub fn error_words(code: Option<&str>, message: &dyn std::fmt::Display) -> String {
    bidseal_workflow::i18n::error_text(current(), code, &message.to_string())
}

/// Words for people a library computed in zh-CN (a progress line, a check's detail, a change
/// found after signing) in the language of this run (`lang/phrases.*.txt` of the workflow).
pub fn phrase(text: &str) -> String {
    bidseal_workflow::i18n::error_text(current(), None, text)
}

/// The text of `key` in the current language (zh-CN if the current language lacks it).
pub fn lookup(key: &str) -> Option<&'static str> {
    lookup_in(current(), key)
}

fn lookup_in(lang: Lang, key: &str) -> Option<&'static str> {
    table(lang)
        .get(key)
        .or_else(|| table(Lang::ZhCn).get(key))
        .map(String::as_str)
}

/// The text of `key` with each `{name}` replaced by its value; the key itself if no file has
/// it (a visible mistake, never an empty message).
pub fn tr(key: &str, values: &[(&str, &str)]) -> String {
    tr_in(current(), key, values)
}

/// [`tr`] in `lang` rather than the language of this run.
pub fn tr_in(lang: Lang, key: &str, values: &[(&str, &str)]) -> String {
    use bidseal_workflow::i18n::{pieces, Piece};
    // One pass: a value that holds `{name}` (a hostile file name) is never filled in again.
    let mut text = String::new();
    for piece in pieces(lookup_in(lang, key).unwrap_or(key)) {
        match piece {
            Piece::Text(t) => text.push_str(&t),
            Piece::Value(name) => match values.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => text.push_str(value),
                None => text.push_str(&format!("{{{name}}}")),
            },
        }
    }
    text
}

/// The words of `key` in the language of this run with each `name = value` filled in
/// (`words!("out.seal.done", file = path.display(), bytes = n)`): a result line's text.
#[macro_export]
macro_rules! words {
    ($key:literal $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::cmd::lang::tr($key, &[$((stringify!($name), &($value).to_string())),*])
    };
}

/// [`words!`] written as one line to stdout ([`crate::outln!`]).
#[macro_export]
macro_rules! say {
    ($key:literal $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::outln!("{}", $crate::words!($key $(, $name = $value)*))
    };
}

/// The name of a scan operation for people (`扫码签章` / `sealing scan`).
pub fn operation_name(op: bidseal_scan::OperationKind) -> String {
    match current() {
        Lang::ZhCn => op.name_zh().to_string(),
        Lang::En => tr(&format!("op.{}", op.as_str()), &[]),
    }
}

/// A Beijing time as the libraries write it (`2026-12-02 00:06:58（北京时间）`) in the
/// language of this run (`2026-12-02 00:06:58 (Beijing time)`).
pub fn beijing_time(text: &str) -> String {
    match current() {
        Lang::ZhCn => text.to_string(),
        Lang::En => text.replace(
            "（北京时间）",
            &format!(" ({})", tr("out.beijing_time", &[])),
        ),
    }
}

/// The text of a fixed `key` (clap's headings take `&'static str`).
fn word(key: &'static str) -> &'static str {
    lookup(key).unwrap_or(key)
}

/// The command tree with every help text, heading and clap flag in the current language.
pub fn localise(cmd: Command) -> Command {
    let cmd = localise_command(cmd, "", true);
    cmd.arg(
        Arg::new("lang")
            .long("lang")
            .global(true)
            .value_name("LANG")
            .value_parser(["zh-CN", "en"])
            .hide_possible_values(true)
            .help(word("clap.lang"))
            .help_heading(word("clap.options")),
    )
}

fn localise_command(mut cmd: Command, path: &str, top: bool) -> Command {
    let key = if top {
        "app".to_string()
    } else {
        format!("cmd.{path}")
    };
    if let Some(text) = lookup(&format!("{key}.about")) {
        cmd = cmd.about(text);
    }
    if let Some(text) = lookup(&format!("{key}.after_help")) {
        cmd = cmd.after_help(text);
    }
    let arg_path = if top { "app" } else { path };
    let ids: Vec<(String, bool)> = cmd
        .get_arguments()
        .map(|a| (a.get_id().as_str().to_string(), a.is_positional()))
        .collect();
    let (arguments, options) = (word("clap.arguments"), word("clap.options"));
    for (id, positional) in ids {
        let help = lookup(&format!("arg.{arg_path}.{id}"));
        let heading = if positional { arguments } else { options };
        cmd = cmd.mut_arg(&id, |a| {
            // clap's "[default: …]" and "[possible values: …]" are English: said here instead.
            let mut text = help
                .map(str::to_string)
                .unwrap_or_else(|| a.get_help().map(|h| h.to_string()).unwrap_or_default());
            let is_flag = matches!(
                a.get_action(),
                ArgAction::SetTrue
                    | ArgAction::SetFalse
                    | ArgAction::Count
                    | ArgAction::Help
                    | ArgAction::Version
            );
            if is_flag {
                return a.help_heading(heading).help(text);
            }
            let possible: Vec<String> = if a.is_hide_possible_values_set() {
                Vec::new()
            } else {
                a.get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect()
            };
            if !possible.is_empty() {
                text.push_str(&tr(
                    "clap.possible_values",
                    &[("values", &possible.join(", "))],
                ));
            }
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() && !a.is_hide_default_value_set() {
                text.push_str(&tr(
                    "clap.default_value",
                    &[("value", &defaults.join(", "))],
                ));
            }
            a.help_heading(heading)
                .help(text)
                .hide_possible_values(true)
                .hide_default_value(true)
        });
    }
    cmd = cmd
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .subcommand_help_heading(word("clap.commands"))
        .subcommand_value_name(word("clap.command_value"))
        .help_template(format!(
            "{{before-help}}{{about-with-newline}}\n{}: {{usage}}\n\n{{all-args}}{{after-help}}",
            tr("clap.usage", &[])
        ))
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help(tr("clap.help", &[]))
                .help_heading(options),
        );
    if top {
        cmd = cmd.disable_version_flag(true).arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help(tr("clap.version", &[]))
                .help_heading(options),
        );
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub_path = if top {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        cmd = cmd.mut_subcommand(&name, |s| localise_command(s, &sub_path, false));
    }
    cmd
}

/// Parses the command line `args` with the localised command tree. On help or version, prints
/// it and returns exit code 0; on a usage error, prints it in the current language and returns
/// 2 (clap's own rendering stays out of sight).
pub fn parse_cli(args: Vec<OsString>) -> Result<super::Cli, std::process::ExitCode> {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = localise(super::Cli::command());
    let bin = command.get_name().to_string();
    let failed = |e: &clap::Error| {
        eprint!("{}", render_error(e, &bin));
        std::process::ExitCode::from(super::exit::Exit::Usage as u8)
    };
    match command.try_get_matches_from_mut(args) {
        Ok(matches) => super::Cli::from_arg_matches(&matches).map_err(|e| failed(&e)),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                Err(std::process::ExitCode::SUCCESS)
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                Err(std::process::ExitCode::from(super::exit::Exit::Usage as u8))
            }
            _ => Err(failed(&e)),
        },
    }
}

/// A clap error (not help or version) in the current language: the message, a hint where
/// clap has one, the usage line and where to read more. Printed on stderr; exit code 2.
pub fn render_error(err: &clap::Error, bin: &str) -> String {
    let get = |kind: ContextKind| err.get(kind).map(|v| v.to_string()).unwrap_or_default();
    let arg = get(ContextKind::InvalidArg);
    let value = get(ContextKind::InvalidValue);
    let valid = match err.get(ContextKind::ValidValue) {
        Some(v) => tr("clap.error.valid_values", &[("values", &v.to_string())]),
        None => String::new(),
    };
    let message = match err.kind() {
        ErrorKind::UnknownArgument => tr("clap.error.unknown_argument", &[("arg", &arg)]),
        ErrorKind::InvalidSubcommand => tr(
            "clap.error.invalid_subcommand",
            &[("arg", &get(ContextKind::InvalidSubcommand))],
        ),
        ErrorKind::InvalidValue if value.is_empty() => {
            tr("clap.error.missing_value", &[("arg", &arg)])
        }
        ErrorKind::InvalidValue => tr(
            "clap.error.invalid_value",
            &[("arg", &arg), ("value", &value), ("valid", &valid)],
        ),
        ErrorKind::MissingRequiredArgument => tr("clap.error.missing_required", &[("args", &arg)]),
        ErrorKind::ArgumentConflict => tr(
            "clap.error.conflict",
            &[("arg", &arg), ("prior", &get(ContextKind::PriorArg))],
        ),
        ErrorKind::NoEquals => tr("clap.error.no_equals", &[("arg", &arg)]),
        ErrorKind::ValueValidation => {
            let reason = std::error::Error::source(err)
                .map(|s| s.to_string())
                .unwrap_or_default();
            tr(
                "clap.error.value_validation",
                &[("arg", &arg), ("value", &value), ("reason", &reason)],
            )
        }
        ErrorKind::TooManyValues => tr(
            "clap.error.too_many_values",
            &[("arg", &arg), ("value", &value)],
        ),
        ErrorKind::TooFewValues => tr("clap.error.too_few_values", &[("arg", &arg)]),
        ErrorKind::WrongNumberOfValues => tr("clap.error.wrong_number", &[("arg", &arg)]),
        ErrorKind::MissingSubcommand => tr("clap.error.missing_subcommand", &[]),
        ErrorKind::InvalidUtf8 => tr("clap.error.invalid_utf8", &[]),
        _ => tr(
            "clap.error.other",
            &[("message", err.render().to_string().trim())],
        ),
    };
    let mut out = format!("{}: {message}\n", tr("error.prefix", &[]));
    let suggested = [
        ContextKind::SuggestedArg,
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .find_map(|k| match err.get(k) {
        Some(clap::error::ContextValue::Strings(v)) => Some(v.join(word("clap.or"))),
        Some(v) => Some(v.to_string()),
        None => None,
    });
    if let Some(s) = suggested {
        out.push_str(&format!(
            "\n  {}\n",
            tr("clap.tip_suggest", &[("suggested", &s)])
        ));
    }
    if let Some(usage) = err.get(ContextKind::Usage) {
        let usage = usage.to_string();
        let usage = usage
            .trim()
            .strip_prefix("Usage:")
            .unwrap_or(usage.trim())
            .trim();
        out.push_str(&format!("\n{}: {usage}\n", tr("clap.usage", &[])));
    }
    out.push_str(&format!("\n{}\n", tr("clap.more", &[("cmd", bin)])));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn keys(source: &'static str) -> std::collections::BTreeSet<&'static str> {
        parse(source).into_keys().collect()
    }

    #[test]
    fn both_languages_have_the_same_keys_and_no_empty_text() {
        assert_eq!(keys(ZH_CN), keys(EN));
        for (name, source) in [("zh-CN", ZH_CN), ("en", EN)] {
            for (k, v) in parse(source) {
                assert!(!v.trim().is_empty(), "{name}: {k} is empty");
            }
        }
    }

    /// Every command and argument of the CLI has its help in the files (else a new option
    /// would show the mixed text of its doc comment).
    #[test]
    fn every_command_and_argument_has_its_words() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let key = if path.is_empty() {
                "app".to_string()
            } else {
                format!("cmd.{path}")
            };
            if !parse(ZH_CN).contains_key(format!("{key}.about").as_str()) {
                missing.push(format!("{key}.about"));
            }
            let is_group = cmd.get_subcommands().next().is_some();
            if !is_group && !parse(ZH_CN).contains_key(format!("{key}.after_help").as_str()) {
                missing.push(format!("{key}.after_help (example)"));
            }
            let arg_path = if path.is_empty() { "app" } else { path };
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                let k = format!("arg.{arg_path}.{id}");
                if !parse(ZH_CN).contains_key(k.as_str()) {
                    missing.push(k);
                }
            }
            for sub in cmd.get_subcommands() {
                let p = if path.is_empty() {
                    sub.get_name().to_string()
                } else {
                    format!("{path}.{}", sub.get_name())
                };
                walk(sub, &p, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::super::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no words for: {missing:#?}");
    }

    #[test]
    fn the_language_comes_from_the_flag_then_the_environment() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(detect(&args(&["bidseal", "--help"]), None), Lang::ZhCn);
        assert_eq!(detect(&args(&["bidseal", "--lang", "en"]), None), Lang::En);
        assert_eq!(
            detect(&args(&["bidseal", "x", "--lang=en"]), None),
            Lang::En
        );
        assert_eq!(detect(&args(&["bidseal"]), Some("en_US.UTF-8")), Lang::En);
        assert_eq!(
            detect(&args(&["bidseal", "--lang", "zh-CN"]), Some("en")),
            Lang::ZhCn
        );
        // After `--` it is a file name, not the flag.
        assert_eq!(
            detect(&args(&["bidseal", "--", "--lang=en"]), None),
            Lang::ZhCn
        );
        assert_eq!(detect(&args(&["bidseal"]), Some("fr")), Lang::ZhCn);
    }
}
