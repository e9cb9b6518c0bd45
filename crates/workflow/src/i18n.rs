//! The language of the words BidSeal shows a person, and the English of every coded error.
//!
//! One way for every user-facing error of the workspace (library crates, command line,
//! desktop): the error keeps its stable code (`E_PDF_IO`, `TENDER_SIGNATURE_INVALID`,
//! `wrong_pin`, …) and its zh-CN message where it is defined (`#[error("…")]`, the refusal's
//! `message_zh`, the command line's `coded("CODE", …)` / `bail!("[CODE] …")`). The English
//! lives in one resource file, `lang/errors.en.txt` (`KEY = text`, the same `{placeholders}`
//! as the zh-CN text). `lang/errors.zh-CN.txt` mirrors the zh-CN texts of the sources; the test
//! `tests/error_words.rs` extracts every coded error of the workspace from the sources, fails
//! when the mirror differs (`BIDSEAL_BLESS=1` rewrites it) and when a key lacks its English or
//! the placeholders differ.
//!
//! At run time an error is what the user would see in zh-CN: its code and its zh-CN message.
//! [`error_text`] finds the zh-CN template the message was made from (the code's first, then
//! any — a wrapped error carries its inner one's text), reads the placeholder values back out
//! of the message, translates values that are themselves error messages, and fills the English
//! template. Library crates do not change: nothing to pass through them.
//!
//! Guarantees: never panics and never returns an empty text — a message no template explains
//! (an unknown code, a text built elsewhere) comes back as the zh-CN message itself; the
//! caller prints it with its `[CODE]`. Values are inserted with control characters escaped
//! ([`escape_controls`]: an ANSI escape in a file name cannot colour or move the terminal).
//! Does not: translate free zh-CN details computed at run time that have no template of their
//! own (they stay zh-CN inside the English sentence), or JSON/codes (never translated).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// A language of the words for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文 (the default).
    ZhCn,
    /// English.
    En,
}

impl Lang {
    /// The language named `name` (`zh-CN`, `zh`, `en`, `en-US`, `en_US.UTF-8`…; case does not
    /// matter), `None` for any other.
    pub fn parse(name: &str) -> Option<Lang> {
        let name = name.trim().to_ascii_lowercase();
        if name == "zh" || name.starts_with("zh-") || name.starts_with("zh_") {
            Some(Lang::ZhCn)
        } else if name == "en" || name.starts_with("en-") || name.starts_with("en_") {
            Some(Lang::En)
        } else {
            None
        }
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

/// Sets the language of this process (the command line's `--lang`, the window's switch).
pub fn set_language(lang: Lang) {
    CURRENT.store(
        match lang {
            Lang::ZhCn => 0,
            Lang::En => 1,
        },
        Ordering::Relaxed,
    );
}

/// The language of this process (zh-CN until [`set_language`]).
pub fn language() -> Lang {
    match CURRENT.load(Ordering::Relaxed) {
        1 => Lang::En,
        _ => Lang::ZhCn,
    }
}

/// The zh-CN texts of every coded error (a mirror of the sources, checked by a test).
pub const ERRORS_ZH_CN: &str = include_str!("../lang/errors.zh-CN.txt");
/// The English texts, same keys and placeholders.
pub const ERRORS_EN: &str = include_str!("../lang/errors.en.txt");
/// Words for people the library crates compute that are not errors (to-do items, a project's
/// next step, why a file is stale): zh-CN as in the sources (checked by the same test).
pub const PHRASES_ZH_CN: &str = include_str!("../lang/phrases.zh-CN.txt");
/// Their English.
pub const PHRASES_EN: &str = include_str!("../lang/phrases.en.txt");

/// A resource file as `key → text` (`# comment` lines skipped, `\n` turned into a line break).
/// Keys are a code (`E_PDF_IO`), a code with `#tag` when one code has several texts, or
/// `crate::Type::Variant` for an error without a code of its own (always shown inside a coded
/// one).
pub fn parse_resource(source: &str) -> Vec<(String, String)> {
    source
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim_end().replace("\\n", "\n")))
        .collect()
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Words.
    Text(String),
    /// A `{name}` filled at run time.
    Value(String),
}

/// A template (`文件读写失败（{path}）：{detail}`) as pieces; `{{`/`}}` are literal braces.
pub fn pieces(template: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                    name.push(n);
                }
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Value(name));
            }
            _ => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// The placeholder names of a template, sorted, each once.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names: Vec<String> = pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Value(n) => Some(n),
            Piece::Text(_) => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

struct Entry {
    key: String,
    zh: Vec<Piece>,
    en: String,
}

fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let en: HashMap<String, String> = parse_resource(ERRORS_EN)
            .into_iter()
            .chain(parse_resource(PHRASES_EN))
            .collect();
        parse_resource(ERRORS_ZH_CN)
            .into_iter()
            .chain(parse_resource(PHRASES_ZH_CN))
            .filter_map(|(key, zh)| {
                let en = en.get(&key)?.clone();
                let zh = pieces(&zh);
                // A template of values only would match any message: it says nothing itself.
                zh.iter()
                    .any(|p| matches!(p, Piece::Text(_)))
                    .then_some(Entry { key, zh, en })
            })
            .collect()
    })
}

/// The code part of a resource key (`E_PLATFORM_SIGNATURE#bid` → `E_PLATFORM_SIGNATURE`).
fn key_code(key: &str) -> &str {
    key.split('#').next().unwrap_or(key)
}

/// The values of `template`'s placeholders if `message` is that template filled in: the first
/// reading found (shortest values first).
#[cfg(test)]
fn read_values(template: &[Piece], message: &str) -> Option<Vec<(String, String)>> {
    readings(template, message, 1).into_iter().next()
}

/// Up to `most` readings of `message` as `template` filled in, shortest values first (a value
/// may hold the words that follow it: `（{0}，{1} 字节）` over `颁发者 …，序列号 …`).
fn readings(template: &[Piece], message: &str, most: usize) -> Vec<Vec<(String, String)>> {
    fn go(
        pieces: &[Piece],
        rest: &str,
        values: &mut Vec<(String, String)>,
        budget: &mut u32,
        found: &mut Vec<Vec<(String, String)>>,
        most: usize,
    ) -> bool {
        if *budget == 0 || found.len() >= most {
            return true;
        }
        *budget -= 1;
        match pieces.split_first() {
            None => {
                if rest.is_empty() {
                    found.push(values.clone());
                }
                found.len() >= most
            }
            Some((Piece::Text(t), tail)) => match rest.strip_prefix(t.as_str()) {
                Some(r) => go(tail, r, values, budget, found, most),
                None => false,
            },
            Some((Piece::Value(name), tail)) => {
                // The shortest value that lets the rest match (a value holding the next
                // words is the rarer case).
                let mut cuts: Vec<usize> = rest.char_indices().map(|(i, _)| i).collect();
                cuts.push(rest.len());
                if tail.is_empty() {
                    cuts = vec![rest.len()];
                } else if let Some(Piece::Text(next)) = tail.first() {
                    cuts.retain(|&i| rest[i..].starts_with(next.as_str()));
                }
                for cut in cuts {
                    values.push((name.clone(), rest[..cut].to_string()));
                    let done = go(tail, &rest[cut..], values, budget, found, most);
                    values.pop();
                    if done {
                        return true;
                    }
                }
                false
            }
        }
    }
    let mut found = Vec::new();
    let mut budget = 10_000;
    go(
        template,
        message,
        &mut Vec::new(),
        &mut budget,
        &mut found,
        most,
    );
    found
}

/// Control characters of `value` other than the line break written as escapes (`\u{1b}`,
/// `\r`, `\t`), so that a value from outside (a file name, a server's text) cannot move the
/// cursor, colour the terminal or rewrite a line. Line breaks stay (a list in a message is
/// one item a line); the command line indents the lines after the first, so that none can
/// pass for a message of its own.
pub fn escape_controls(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_cjk(c: char) -> bool {
    ('\u{3000}'..='\u{9fff}').contains(&c) || ('\u{ff00}'..='\u{ffef}').contains(&c)
}

fn has_cjk(text: &str) -> bool {
    text.chars().any(is_cjk)
}

/// How many CJK characters `text` still has (what a reading left untranslated).
fn cjk_count(text: &str) -> usize {
    text.chars().filter(|&c| is_cjk(c)).count()
}

fn english(code: Option<&str>, message: &str, depth: u8) -> Option<String> {
    if depth > 4 || !has_cjk(message) {
        return None;
    }
    let mut best = english_template(code, message, depth);
    // A list the zh-CN text joined with `；` or `、`: each item on its own, when at least one
    // item is words we know (a list of data stays as it is). Read this way when it leaves
    // fewer Chinese characters than the best template (a template ending in `（{x}）` also
    // matches a whole list whose last item ends so; the items then read better one by one).
    for (joint, english_joint) in [('；', "; "), ('、', ", ")] {
        if !message.contains(joint) {
            continue;
        }
        let items: Vec<Option<String>> = message
            .split(joint)
            .map(|item| english(None, item, depth + 1))
            .collect();
        if items.iter().any(Option::is_some) {
            let items: Vec<String> = items
                .into_iter()
                .zip(message.split(joint))
                .map(|(en, zh)| en.unwrap_or_else(|| zh.to_string()))
                .collect();
            let split = items.join(english_joint);
            if best
                .as_ref()
                .is_none_or(|b| cjk_count(&split) < cjk_count(b))
            {
                best = Some(split);
            }
        }
    }
    best
}

fn english_template(code: Option<&str>, message: &str, depth: u8) -> Option<String> {
    let all = entries();
    // The code's own templates first; among those that match, the most specific (the most
    // words of its own: `未填写投标函“{0}”…` over `未填写{label}…`).
    let words = |e: &Entry| -> usize {
        e.zh.iter()
            .map(|p| match p {
                Piece::Text(t) => t.chars().count(),
                Piece::Value(_) => 0,
            })
            .sum()
    };
    // Of a template's readings, the one whose values are most often words we know (or no
    // Chinese at all): the reading that splits the message where its author did.
    let understood = |values: &Vec<(String, String)>| -> usize {
        values
            .iter()
            .filter(|(_, v)| !has_cjk(v) || english(None, v, depth + 1).is_some())
            .count()
    };
    let best = |of_code: bool| {
        all.iter()
            .filter(|e| !of_code || code.is_some_and(|c| key_code(&e.key) == c))
            .filter_map(|e| {
                let mut readings = readings(&e.zh, message, 8);
                // The first reading wins ties (shortest values first).
                let mut best: Option<(usize, Vec<(String, String)>)> = None;
                for r in readings.drain(..) {
                    let score = understood(&r);
                    if best.as_ref().is_none_or(|(s, _)| score > *s) {
                        best = Some((score, r));
                    }
                }
                best.map(|(_, v)| (e, v))
            })
            .max_by_key(|(e, _)| words(e))
    };
    let (entry, values) = best(true).or_else(|| best(false))?;
    {
        let mut text = String::new();
        for piece in pieces(&entry.en) {
            match piece {
                Piece::Text(t) => text.push_str(&t),
                Piece::Value(name) => {
                    let value = values
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.as_str())
                        .unwrap_or_default();
                    // A list the zh-CN text joined with `、` reads as a list in English too.
                    let value = english(None, value, depth + 1)
                        .unwrap_or_else(|| value.replace('、', ", "));
                    text.push_str(&escape_controls(&value));
                }
            }
        }
        Some(text)
    }
}

/// The message of an error with `code` (if known) whose zh-CN text is `message`, in `lang`.
/// zh-CN: `message` unchanged. English: the English text of the template it was made from, or
/// `message` itself when no template explains it (never empty unless `message` is). Also the
/// way to put a library's computed words for people ([`PHRASES_ZH_CN`]) into English.
pub fn error_text(lang: Lang, code: Option<&str>, message: &str) -> String {
    match lang {
        Lang::ZhCn => message.to_string(),
        Lang::En => english(code, message, 0).unwrap_or_else(|| message.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_reads_its_values_back() {
        let t = pieces("文件读写失败（{path}）：{detail}");
        let v = read_values(&t, "文件读写失败（/tmp/a（1）.pdf）：权限不足").unwrap();
        assert_eq!(v[0], ("path".into(), "/tmp/a（1）.pdf".into()));
        assert_eq!(v[1], ("detail".into(), "权限不足".into()));
        assert!(read_values(&t, "别的消息").is_none());
        assert_eq!(
            pieces("{{x}} {a}"),
            vec![Piece::Text("{x} ".into()), Piece::Value("a".into())]
        );
    }

    #[test]
    fn english_fills_the_values_and_translates_nested_errors() {
        let zh = "PDF 签章失败：页码 9 超出范围：文件共 3 页";
        let en = error_text(Lang::En, Some("E_PDF_SEAL"), zh);
        assert!(!has_cjk(&en), "{en}");
        assert!(en.contains('9') && en.contains('3'), "{en}");
        assert_eq!(error_text(Lang::ZhCn, Some("E_PDF_SEAL"), zh), zh);
    }

    #[test]
    fn a_value_holding_the_next_words_is_read_where_its_author_split_it() {
        // `（{0}，{1} 字节）` over a recipient that has a `，` of its own.
        let zh = "解密成功，完整性校验通过（颁发者 CN=A,C=CN，序列号 0A1B，452727 字节）";
        let en = error_text(Lang::En, None, zh);
        assert_eq!(
            en,
            "decrypted, integrity verified (issuer CN=A,C=CN, serial 0A1B, 452727 bytes)"
        );
    }

    #[test]
    fn an_unknown_code_or_text_falls_back_to_the_zh_cn_message() {
        let zh = "某个没有模板的消息";
        assert_eq!(error_text(Lang::En, Some("E_NO_SUCH_CODE"), zh), zh);
        assert_eq!(error_text(Lang::En, None, zh), zh);
        assert_eq!(error_text(Lang::En, Some("E_X"), ""), "");
        assert_eq!(error_text(Lang::En, None, "plain ascii"), "plain ascii");
    }

    /// Library words that are not errors read back in English through the phrases: a change
    /// found after signing (with its page and role nested), a failed opening check with its
    /// code, a simulated phone's screen line (title, project, a list of items); zh-CN as is.
    #[test]
    fn library_words_read_back_in_english() {
        for (zh, en) in [
            (
                "签名后页面内容被替换：第 3 页（对象 12）",
                "page content replaced after signing: page 3 (object 12)",
            ),
            (
                "签名后对象被删除：第 2 页的内容（对象 7）",
                "object deleted after signing: content of page 2 (object 7)",
            ),
            (
                "签名后对象被修改：对象 9（字典）",
                "object modified after signing: object 9 (dictionary)",
            ),
            (
                "[失败] PDF 签章 a.pdf：文件没有任何签章（OPEN_PDF_UNSIGNED）",
                "[failed] PDF seals a.pdf: the file has no seal at all (OPEN_PDF_UNSIGNED)",
            ),
            (
                "[通过] 投标人清单签名：有效，签名人 Zhang（Acme）",
                "[passed] bidder's manifest signature: valid, signed by Zhang (Acme)",
            ),
            (
                "[请确认] 扫码认证：平台 P（p1），用途 登录，挑战 ab12…；登录请求来自 203.0.113.5（Chrome 131 / Windows），如非本人操作请拒绝",
                "[please confirm] authentication: platform P (p1), purpose login, challenge ab12…; login request from 203.0.113.5 (Chrome 131 / Windows): if you did not start it, reject",
            ),
            (
                "[请确认] 扫码认证：平台 P（p1），用途 登录，项目 X1 Y，挑战 ab12…",
                "[please confirm] authentication: platform P (p1), purpose login, project X1 Y, challenge ab12…",
            ),
            (
                "已拒绝：手机端用户已拒绝本次操作",
                "refused: The phone's user refused this operation",
            ),
            (
                "2026-12-02 00:06:58（北京时间）",
                "2026-12-02 00:06:58 (Beijing time)",
            ),
        ] {
            assert_eq!(error_text(Lang::En, None, zh), en, "{zh}");
            assert_eq!(error_text(Lang::ZhCn, None, zh), zh);
        }
    }

    #[test]
    fn hostile_values_are_escaped() {
        let zh = "文件读写失败（/tmp/\u{1b}[31mred\r）：权限不足";
        let en = error_text(Lang::En, Some("E_PDF_IO"), zh);
        assert!(!en.contains('\u{1b}') && !en.contains('\r'), "{en:?}");
        assert!(en.contains("\\u{1b}[31mred\\r"), "{en:?}");
    }

    #[test]
    fn a_pathological_message_ends_quickly() {
        // Many candidate cuts: the budget bounds the search.
        let zh = format!("文件读写失败（{}", "）：".repeat(2000));
        let started = std::time::Instant::now();
        let _ = error_text(Lang::En, None, &zh);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
