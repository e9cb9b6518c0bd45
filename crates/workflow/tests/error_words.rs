//! Every coded error of the workspace has its English, with the same placeholders.
//!
//! Reads the sources (`src/`, `crates/*/src/`, `src-tauri/src/`; test modules left out) and
//! extracts each user-facing error text: `#[error("…")]` of a typed error (its code from the
//! type's `fn code` in the same file), the refusal texts of `fn message_zh`, and the command
//! line's `bail!("[CODE] …")`, `anyhow!("[CODE] …")` and `coded("CODE", "…"|format!("…"))`.
//! The result must equal `lang/errors.zh-CN.txt` (run with `BIDSEAL_BLESS=1` to rewrite it
//! after changing a zh-CN text), and `lang/errors.en.txt` must have every key, no other, with
//! the same placeholders. A changed zh-CN text of a code with several texts changes its key
//! (`CODE#hash`), so its English must be looked at again.

use bidseal_workflow::i18n::{parse_resource, placeholders};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
}

/// A small Rust lexer: identifiers, string literals (escapes, raw strings), punctuation;
/// comments and whitespace dropped.
fn lex(src: &str) -> Vec<Tok> {
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (b.get(i + 1) == Some(&'"') || b.get(i + 1) == Some(&'#')) && {
            let mut j = i + 1;
            while b.get(j) == Some(&'#') {
                j += 1;
            }
            b.get(j) == Some(&'"')
        } {
            let mut j = i + 1;
            let mut hashes = 0;
            while b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            let start = j;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    break;
                }
                j += 1;
            }
            out.push(Tok::Str(b[start..j.min(b.len())].iter().collect()));
            i = j + 1 + hashes;
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                    match b.get(i) {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('\\') => s.push('\\'),
                        Some('"') => s.push('"'),
                        Some('\'') => s.push('\''),
                        Some('0') => s.push('\0'),
                        Some('\n') => {
                            while i + 1 < b.len() && b[i + 1].is_whitespace() {
                                i += 1;
                            }
                        }
                        Some('u') => {
                            let mut hex = String::new();
                            i += 2; // 'u' '{'
                            while i < b.len() && b[i] != '}' {
                                hex.push(b[i]);
                                i += 1;
                            }
                            if let Some(ch) =
                                u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                            {
                                s.push(ch);
                            }
                        }
                        Some(other) => s.push(*other),
                        None => {}
                    }
                    i += 1;
                } else {
                    s.push(b[i]);
                    i += 1;
                }
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{1b}') or a lifetime ('a).
            if b.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
            out.push(Tok::Punct('\''));
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(b[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// A format string with `{}`/`{:?}` numbered (`{0}`, `{1}`…) and format specs dropped, so that
/// the zh-CN and English texts name the same values.
fn normalise(template: &str) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c == '{' && chars.peek() == Some(&'{') {
            chars.next();
            out.push_str("{{");
        } else if c == '}' && chars.peek() == Some(&'}') {
            chars.next();
            out.push_str("}}");
        } else if c == '{' {
            let mut inner = String::new();
            for n in chars.by_ref() {
                if n == '}' {
                    break;
                }
                inner.push(n);
            }
            let name = inner.split(':').next().unwrap_or("").trim().to_string();
            let name = if name.is_empty() {
                next += 1;
                (next - 1).to_string()
            } else {
                name
            };
            out.push('{');
            out.push_str(&name);
            out.push('}');
        } else {
            out.push(c);
        }
    }
    out
}

/// `[CODE] rest` → (`CODE`, `rest`) for a literal code; `[{code}] rest` → (None, `rest`).
fn split_code(template: &str) -> (Option<String>, String) {
    if let Some(rest) = template.strip_prefix('[') {
        if let Some((code, text)) = rest.split_once("] ") {
            let literal = !code.is_empty()
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if literal {
                return (Some(code.to_string()), text.to_string());
            }
            if code.starts_with('{') {
                return (None, text.to_string());
            }
        }
    }
    (None, template.to_string())
}

#[derive(Debug, Clone)]
struct Found {
    /// The code, or `crate::Type::Variant` for an error without one.
    base: String,
    zh: String,
    /// Where, for the mirror's comments.
    origin: String,
}

fn is_ident(t: Option<&Tok>, s: &str) -> bool {
    matches!(t, Some(Tok::Ident(x)) if x == s)
}
fn is_punct(t: Option<&Tok>, c: char) -> bool {
    matches!(t, Some(Tok::Punct(x)) if *x == c)
}

/// The index after the `}` closing the block whose `{` is at or after `from`.
fn block_end(toks: &[Tok], from: usize) -> usize {
    let mut i = from;
    while i < toks.len() && !is_punct(toks.get(i), '{') {
        i += 1;
    }
    let mut depth = 0;
    while i < toks.len() {
        if is_punct(toks.get(i), '{') {
            depth += 1;
        } else if is_punct(toks.get(i), '}') {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
        i += 1;
    }
    toks.len()
}

/// `Type::Variant` paths and the string after `=>` in the arms of `fn name` bodies of `toks`:
/// ((type, variant), text) with `Self` resolved to the `impl` type.
fn arms(toks: &[Tok], name: &str) -> Vec<((String, String), String)> {
    let mut out = Vec::new();
    let mut impl_type = String::new();
    let mut i = 0;
    while i < toks.len() {
        if is_ident(toks.get(i), "impl") {
            // `impl X {` or `impl Trait for X {`: the last identifier before `{`.
            let mut j = i + 1;
            while j < toks.len() && !is_punct(toks.get(j), '{') {
                if let Some(Tok::Ident(x)) = toks.get(j) {
                    if x != "for" {
                        impl_type = x.clone();
                    }
                }
                j += 1;
            }
        }
        if is_ident(toks.get(i), "fn") && is_ident(toks.get(i + 1), name) {
            let end = block_end(toks, i);
            let mut pending: Vec<(String, String)> = Vec::new();
            let mut j = i + 2;
            while j < end {
                if let (Some(Tok::Ident(t)), true, true, Some(Tok::Ident(v))) = (
                    toks.get(j),
                    is_punct(toks.get(j + 1), ':'),
                    is_punct(toks.get(j + 2), ':'),
                    toks.get(j + 3),
                ) {
                    let t = if t == "Self" {
                        impl_type.clone()
                    } else {
                        t.clone()
                    };
                    if t.chars().next().is_some_and(char::is_uppercase) {
                        pending.push((t, v.clone()));
                    }
                    j += 4;
                    continue;
                }
                if is_punct(toks.get(j), '=') && is_punct(toks.get(j + 1), '>') {
                    // The first string of the arm (`"lit"`, `"lit".into()`, `format!("…")`).
                    let mut k = j + 2;
                    let arm_end = (k..end)
                        .find(|&x| {
                            matches!(toks.get(x), Some(Tok::Ident(t)) if t.chars().next().is_some_and(char::is_uppercase))
                                && is_punct(toks.get(x + 1), ':')
                                && is_punct(toks.get(x + 2), ':')
                        })
                        .unwrap_or(end);
                    let mut text = None;
                    while k < arm_end {
                        if let Some(Tok::Str(s)) = toks.get(k) {
                            text = Some(s.clone());
                            break;
                        }
                        // Only a string right in the arm: `e.code()` has none.
                        if name == "code" && k > j + 2 {
                            break;
                        }
                        k += 1;
                    }
                    if let Some(text) = text {
                        for p in pending.drain(..) {
                            out.push((p, text.clone()));
                        }
                    }
                    pending.clear();
                    j += 2;
                    continue;
                }
                j += 1;
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

fn extract(file: &Path, krate: &str, rel: &str, found: &mut Vec<Found>) {
    let Ok(src) = std::fs::read_to_string(file) else {
        return;
    };
    // Unit-test modules are not user-facing.
    let src = match src.find("\n#[cfg(test)]\nmod ") {
        Some(at) => &src[..at],
        None => &src[..],
    };
    let toks = lex(src);
    let codes: BTreeMap<(String, String), String> = arms(&toks, "code").into_iter().collect();
    let mut push = |code: Option<String>, owner: String, zh: String| {
        let zh = normalise(&zh);
        let (embedded, zh) = split_code(&zh);
        let code = code.or(embedded);
        // A text of values only (`{0}`, transparent) has no words of its own.
        if zh.is_ascii() || zh.trim().is_empty() {
            return;
        }
        found.push(Found {
            base: code.unwrap_or_else(|| format!("{krate}::{owner}")),
            zh,
            origin: format!("{rel} {}", owner),
        });
    };
    let mut enum_name = String::new();
    let mut i = 0;
    while i < toks.len() {
        if is_ident(toks.get(i), "enum") {
            if let Some(Tok::Ident(n)) = toks.get(i + 1) {
                enum_name = n.clone();
            }
        }
        // #[error("…", …)]
        if is_punct(toks.get(i), '#')
            && is_punct(toks.get(i + 1), '[')
            && is_ident(toks.get(i + 2), "error")
            && is_punct(toks.get(i + 3), '(')
        {
            if let Some(Tok::Str(template)) = toks.get(i + 4) {
                // The item it belongs to: skip to the closing `]`, other attributes, `pub`.
                let mut j = i + 5;
                while j < toks.len() && !is_punct(toks.get(j), ']') {
                    j += 1;
                }
                j += 1;
                loop {
                    if is_punct(toks.get(j), '#') {
                        let mut depth = 0;
                        j += 1;
                        while j < toks.len() {
                            if is_punct(toks.get(j), '[') {
                                depth += 1;
                            } else if is_punct(toks.get(j), ']') {
                                depth -= 1;
                                if depth == 0 {
                                    j += 1;
                                    break;
                                }
                            }
                            j += 1;
                        }
                    } else if is_ident(toks.get(j), "pub") {
                        j += 1;
                        if is_punct(toks.get(j), '(') {
                            while j < toks.len() && !is_punct(toks.get(j), ')') {
                                j += 1;
                            }
                            j += 1;
                        }
                    } else {
                        break;
                    }
                }
                let (owner, key) =
                    if is_ident(toks.get(j), "struct") || is_ident(toks.get(j), "enum") {
                        let n = match toks.get(j + 1) {
                            Some(Tok::Ident(n)) => n.clone(),
                            _ => String::new(),
                        };
                        (n.clone(), (n, String::new()))
                    } else {
                        let v = match toks.get(j) {
                            Some(Tok::Ident(v)) => v.clone(),
                            _ => String::new(),
                        };
                        (format!("{enum_name}::{v}"), (enum_name.clone(), v))
                    };
                push(codes.get(&key).cloned(), owner, template.clone());
            }
        }
        // bail!("[CODE] …") / anyhow!("[CODE] …")
        if (is_ident(toks.get(i), "bail") || is_ident(toks.get(i), "anyhow"))
            && is_punct(toks.get(i + 1), '!')
            && is_punct(toks.get(i + 2), '(')
        {
            if let Some(Tok::Str(t)) = toks.get(i + 3) {
                if let (Some(code), _) = split_code(t) {
                    push(Some(code.clone()), code, t.clone());
                }
            }
        }
        // coded(e.code(), format!("…")): a text around another error's, code decided at run time.
        if is_ident(toks.get(i), "coded")
            && is_punct(toks.get(i + 1), '(')
            && !matches!(toks.get(i + 2), Some(Tok::Str(_)))
        {
            let mut j = i + 2;
            let mut depth = 0;
            while j < toks.len() {
                match toks.get(j) {
                    Some(Tok::Punct('(')) => depth += 1,
                    Some(Tok::Punct(')')) if depth == 0 => break,
                    Some(Tok::Punct(')')) => depth -= 1,
                    Some(Tok::Punct(',')) if depth == 0 => break,
                    _ => {}
                }
                j += 1;
            }
            if is_punct(toks.get(j), ',')
                && is_ident(toks.get(j + 1), "format")
                && is_punct(toks.get(j + 2), '!')
            {
                if let Some(Tok::Str(t)) = toks.get(j + 4) {
                    push(None, "coded".to_string(), t.clone());
                }
            }
        }
        // Any call with a literal code and its text: `not_ready("E_CODE", format!("…"))`,
        // `ApiError::new(StatusCode::X, "E_CODE", "…")` (the platform's answers, which the
        // command line and the window show inside their own errors). The staff lab's own
        // `E_LAB_*` stay zh-CN (docs/cli.md).
        // Also a struct's fields: `code: "E_CODE".into(), message: format!("…")`.
        let mut after = i + 1;
        if is_punct(toks.get(after), '.')
            && matches!(toks.get(after + 1), Some(Tok::Ident(m)) if m == "into" || m == "to_string")
            && is_punct(toks.get(after + 2), '(')
            && is_punct(toks.get(after + 3), ')')
        {
            after += 4;
        }
        let mut text_at = after + 1;
        if matches!(toks.get(text_at), Some(Tok::Ident(_)))
            && is_punct(toks.get(text_at + 1), ':')
            && !is_punct(toks.get(text_at + 2), ':')
        {
            text_at += 2;
        }
        if let (Some(Tok::Str(code)), true) = (toks.get(i), is_punct(toks.get(after), ',')) {
            let is_code = code.len() > 2
                && code.starts_with("E_")
                && code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            let text = match (toks.get(text_at), toks.get(text_at + 3)) {
                (Some(Tok::Str(t)), _) => Some(t.clone()),
                (Some(Tok::Ident(f)), Some(Tok::Str(t)))
                    if f == "format" && is_punct(toks.get(text_at + 1), '!') =>
                {
                    Some(t.clone())
                }
                _ => None,
            };
            if let (true, Some(t)) = (is_code, text) {
                push(Some(code.clone()), code.clone(), t);
            }
        }
        // coded("CODE", "…") / coded("CODE", format!("…"))
        if is_ident(toks.get(i), "coded") && is_punct(toks.get(i + 1), '(') {
            if let (Some(Tok::Str(code)), true) = (toks.get(i + 2), is_punct(toks.get(i + 3), ','))
            {
                let text = match (toks.get(i + 4), toks.get(i + 7)) {
                    (Some(Tok::Str(t)), _) => Some(t.clone()),
                    (Some(Tok::Ident(f)), Some(Tok::Str(t))) if f == "format" => Some(t.clone()),
                    _ => None,
                };
                if let Some(t) = text {
                    push(Some(code.clone()), code.clone(), t);
                }
            }
        }
        i += 1;
    }
    for ((t, v), text) in arms(&toks, "message_zh") {
        let code = codes.get(&(t.clone(), v.clone())).cloned();
        push(code, format!("{t}::{v}"), text);
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn fnv(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{:06x}", h & 0xff_ffff)
}

/// Every user-facing error text of the workspace as `key → (zh-CN, origin)`.
fn extracted() -> BTreeMap<String, (String, String)> {
    let ws = workspace();
    let mut roots = vec![("cli".to_string(), ws.join("src"))];
    if let Ok(crates) = std::fs::read_dir(ws.join("crates")) {
        for c in crates.filter_map(Result::ok) {
            let name = c.file_name().to_string_lossy().into_owned();
            if name != "testkit" {
                roots.push((name, c.path().join("src")));
            }
        }
    }
    roots.push(("desktop".to_string(), ws.join("src-tauri/src")));
    let mut found = Vec::new();
    for (krate, root) in roots {
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        for f in files {
            let rel = f
                .strip_prefix(&ws)
                .unwrap_or(&f)
                .to_string_lossy()
                .into_owned();
            extract(&f, &krate, &rel, &mut found);
        }
    }
    let mut by_base: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in found {
        by_base
            .entry(f.base)
            .or_default()
            .entry(f.zh)
            .or_insert(f.origin);
    }
    let mut out = BTreeMap::new();
    for (base, texts) in by_base {
        let several = texts.len() > 1;
        for (zh, origin) in texts {
            let key = if several {
                format!("{base}#{}", fnv(&zh))
            } else {
                base.clone()
            };
            out.insert(key, (zh, origin));
        }
    }
    out
}

fn mirror(entries: &BTreeMap<String, (String, String)>) -> String {
    let mut text = String::from(
        "# The zh-CN texts of every coded error, extracted from the sources by\n\
         # crates/workflow/tests/error_words.rs (do not edit: change the source, then run the test\n\
         # with BIDSEAL_BLESS=1). The English is in errors.en.txt under the same keys.\n",
    );
    for (key, (zh, origin)) in entries {
        text.push_str(&format!(
            "\n# {origin}\n{key} = {}\n",
            zh.replace('\n', "\\n")
        ));
    }
    text
}

#[test]
fn the_zh_cn_mirror_is_what_the_sources_say() {
    let entries = extracted();
    assert!(
        entries.len() > 200,
        "extraction found only {}",
        entries.len()
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("lang/errors.zh-CN.txt");
    let expected = mirror(&entries);
    if std::env::var_os("BIDSEAL_BLESS").is_some() {
        std::fs::write(&path, &expected).expect("write the mirror");
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let a: BTreeSet<_> = parse_resource(&actual).into_iter().collect();
        let e: BTreeSet<_> = parse_resource(&expected).into_iter().collect();
        let gone: Vec<_> = a.difference(&e).collect();
        let new: Vec<_> = e.difference(&a).collect();
        panic!(
            "lang/errors.zh-CN.txt differs from the sources; rerun with BIDSEAL_BLESS=1 and \
             update errors.en.txt.\nonly in the file: {gone:#?}\nonly in the sources: {new:#?}"
        );
    }
}

#[test]
fn every_error_has_its_english_with_the_same_placeholders() {
    let entries = extracted();
    let en: BTreeMap<String, String> = parse_resource(bidseal_workflow::i18n::ERRORS_EN)
        .into_iter()
        .collect();
    let mut problems = Vec::new();
    for (key, (zh, origin)) in &entries {
        match en.get(key) {
            None => problems.push(format!("no English for {key} ({origin}): {zh}")),
            Some(text) if text.trim().is_empty() => problems.push(format!("{key}: empty")),
            Some(text) => {
                if placeholders(text) != placeholders(zh) {
                    problems.push(format!(
                        "{key}: placeholders {:?} in English, {:?} in zh-CN",
                        placeholders(text),
                        placeholders(zh)
                    ));
                }
                if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
                    problems.push(format!("{key}: the English has CJK: {text}"));
                }
            }
        }
    }
    for key in en.keys() {
        if !entries.contains_key(key) {
            problems.push(format!("English for no error (stale key): {key}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every string literal of the sources with CJK characters or full-width punctuation in it
/// (`{head}（{code}）`), normalised like the templates.
fn source_literals() -> BTreeSet<String> {
    let ws = workspace();
    let mut files = Vec::new();
    rust_files(&ws.join("crates"), &mut files);
    rust_files(&ws.join("src"), &mut files);
    rust_files(&ws.join("src-tauri/src"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let Ok(src) = std::fs::read_to_string(&f) else {
            continue;
        };
        for t in lex(&src) {
            if let Tok::Str(s) = t {
                if s.chars().any(|c| {
                    ('\u{4e00}'..='\u{9fff}').contains(&c)
                        || ('\u{3000}'..='\u{303f}').contains(&c)
                        || ('\u{ff00}'..='\u{ffef}').contains(&c)
                }) {
                    out.insert(normalise(&s));
                }
            }
        }
    }
    out
}

/// The phrases (library words for people that are not errors) are format strings of the
/// sources word for word, and each has its English with the same placeholders.
#[test]
fn every_phrase_is_in_the_sources_and_has_its_english() {
    use bidseal_workflow::i18n::{PHRASES_EN, PHRASES_ZH_CN};
    let literals = source_literals();
    let zh: BTreeMap<String, String> = parse_resource(PHRASES_ZH_CN).into_iter().collect();
    let en: BTreeMap<String, String> = parse_resource(PHRASES_EN).into_iter().collect();
    let mut problems = Vec::new();
    for (key, text) in &zh {
        if !literals.contains(text) {
            problems.push(format!("{key}: no source string says “{text}” (changed?)"));
        }
        match en.get(key) {
            None => problems.push(format!("{key}: no English")),
            Some(e) if placeholders(e) != placeholders(text) => {
                problems.push(format!("{key}: placeholders differ"))
            }
            Some(_) => {}
        }
    }
    for key in en.keys() {
        if !zh.contains_key(key) {
            problems.push(format!("{key}: English for no phrase"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The lexer and extractor see what the sources say (a guard against an extractor that
/// silently finds nothing in a file).
#[test]
fn the_extractor_knows_each_kind_of_definition() {
    let entries = extracted();
    let has = |key: &str, part: &str| entries.get(key).is_some_and(|(zh, _)| zh.contains(part));
    assert!(has("E_PDF_IO", "{path}"), "thiserror variant with a code");
    assert!(has("wrong_pin", "{remaining_tries}"), "refusal message_zh");
    assert!(has("E_SAME_FILE", "输出文件"), "command line bail!");
    assert!(
        entries
            .keys()
            .any(|k| k.starts_with("phone::ResetRefusal::")),
        "errors without a code are keyed by their type"
    );
}
