//! The command line as scripts meet it: `bidseal --help` lists every subcommand and the exit
//! codes; every subcommand's help describes each argument and shows an example; each exit code
//! (0 success, 1 said no, 2 usage, 3 input/environment, 4 interrupted/time-out) is produced
//! where docs/cli.md says; output to a closed pipe or a full disk never panics.
//!
//! No subcommand is "not built" today (none returns `[E_NOT_BUILT]`), so there is no test for
//! that path; an unknown subcommand is a usage error (2).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bidseal")
}

fn bidseal(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        // `phone init` takes its split keys from the test key pool (docs/key-split.md).
        .env(
            bidseal_phone::provision::TEST_KEY_POOL_ENV,
            bidseal_phone::provision::test_key_pool_dir(),
        )
        .stdin(Stdio::null())
        .output()
        .expect("the bidseal binary built by cargo runs")
}

fn demo_tender() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo-tender/demo.tender.zip")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_subcommand() {
    let out = bidseal(&["--help"]);
    assert!(out.status.success(), "--help failed: {out:?}");
    let text = text(&out.stdout);
    for sub in [
        "seal", "verify", "envelope", "relay", "scan", "phone", "tender", "project", "open", "demo",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(sub)),
            "--help does not list `{sub}`:\n{text}"
        );
    }
}

#[test]
fn help_documents_the_exit_codes() {
    let en = text(&bidseal(&["--lang", "en", "--help"]).stdout);
    for line in [
        "0  success",
        "2  usage error",
        "4  interrupted (Ctrl-C) or timed out",
    ] {
        assert!(en.contains(line), "--lang en --help lacks `{line}`:\n{en}");
    }
    let out = bidseal(&["--help"]);
    let text = text(&out.stdout);
    for line in [
        "0  成功",
        "1  校验或操作未通过",
        "2  用法错误",
        "3  输入或环境错误",
        "4  已中断",
    ] {
        assert!(text.contains(line), "--help lacks `{line}`:\n{text}");
    }
}

#[test]
fn version_matches_the_workspace() {
    let out = bidseal(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("bidseal {}", env!("CARGO_PKG_VERSION"))
    );
}

/// clap's headings and the example label in each language (`src/cmd/lang/*.txt`).
struct Words {
    lang: &'static str,
    commands: &'static str,
    arguments: &'static str,
    options: &'static str,
    example: &'static str,
}

const ZH: Words = Words {
    lang: "zh-CN",
    commands: "命令:",
    arguments: "参数:",
    options: "选项:",
    example: "示例：",
};
const EN: Words = Words {
    lang: "en",
    commands: "Commands:",
    arguments: "Arguments:",
    options: "Options:",
    example: "Example:",
};

/// `bidseal --lang LANG ARGS…`.
fn bidseal_in(words: &Words, args: &[&str]) -> Output {
    let mut all = vec!["--lang", words.lang];
    all.extend_from_slice(args);
    bidseal(&all)
}

/// The subcommand names listed under the commands heading of one help text.
fn subcommands(help: &str, words: &Words) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.starts_with(words.commands) {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with("  ") {
                break;
            }
            if let Some(name) = line.split_whitespace().next() {
                if name != "help" {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

/// Every leaf subcommand's `--help`, in both languages: each positional argument and each
/// option has a description, `--json` (where present) says what it prints, there is an
/// example, and nothing of the other language's headings is left.
#[test]
fn every_subcommand_help_describes_its_arguments_and_shows_an_example() {
    for words in [&ZH, &EN] {
        every_help_in(words);
    }
}

fn every_help_in(words: &Words) {
    let other = if words.lang == "en" { &ZH } else { &EN };
    let top = text(&bidseal_in(words, &["--help"]).stdout);
    let mut queue: Vec<Vec<String>> = subcommands(&top, words)
        .into_iter()
        .map(|s| vec![s])
        .collect();
    assert!(queue.len() >= 10, "{}: {top}", words.lang);
    let mut leaves = 0;
    let mut problems = Vec::new();
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = bidseal_in(words, &args);
        assert!(out.status.success(), "{args:?} failed");
        let help = text(&out.stdout);
        let name = path.join(" ");
        for foreign in [
            other.commands,
            other.arguments,
            other.options,
            other.example,
        ] {
            if help.lines().any(|l| l.starts_with(foreign)) {
                problems.push(format!("`{name}` ({}): heading `{foreign}`", words.lang));
            }
        }
        for english in ["[default:", "[possible values:", "Print help", "Usage:"] {
            if words.lang != "en" && help.contains(english) {
                problems.push(format!("`{name}` (zh-CN): clap's `{english}`"));
            }
        }
        let children = subcommands(&help, words);
        if !children.is_empty() {
            for c in children {
                let mut p = path.clone();
                p.push(c);
                queue.push(p);
            }
            continue;
        }
        leaves += 1;
        if !help.contains(words.example) {
            problems.push(format!("`{name}` ({}) --help has no example", words.lang));
        }
        // Arguments and options: a line `  <NAME>` or `  --flag` with nothing after it and
        // no indented description on the next line is undocumented.
        let lines: Vec<&str> = help.lines().collect();
        let mut section = "";
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with(' ') {
                section = line;
                continue;
            }
            if !(section.starts_with(words.arguments) || section.starts_with(words.options)) {
                continue;
            }
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if indent > 6
                || !(trimmed.starts_with('-')
                    || trimmed.starts_with('<')
                    || trimmed.starts_with('['))
            {
                continue;
            }
            let described_inline = trimmed.trim_end().contains("  ");
            let described_below = lines
                .get(i + 1)
                .is_some_and(|next| next.len() - next.trim_start().len() > indent + 2);
            if !described_inline && !described_below {
                problems.push(format!(
                    "`{name}` ({}): `{trimmed}` has no description",
                    words.lang
                ));
            }
        }
    }
    assert!(leaves >= 25, "only {leaves} leaf subcommands found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// clap's own errors in each language: the message, the usage line and the hint, exit 2; the
/// language from `--lang` or `BIDSEAL_LANG`.
#[test]
fn usage_errors_speak_the_chosen_language() {
    let out = bidseal(&["project", "seal"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("错误: 缺少必需的参数：<DIR>"), "{err}");
    assert!(err.contains("用法: bidseal project seal <DIR>"), "{err}");
    assert!(err.contains("更多信息请运行"), "{err}");
    assert!(!err.contains("error:") && !err.contains("Usage:"), "{err}");

    let out = Command::new(bin())
        .args(["project", "seal"])
        .env("BIDSEAL_LANG", "en")
        .output()
        .expect("run");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: the following required arguments were not provided: <DIR>"),
        "{err}"
    );
    assert!(err.contains("Usage: bidseal project seal <DIR>"), "{err}");

    let out = bidseal(&["scan", "--op", "bad"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("“bad” 无效（可选：auth, sign, generate, decrypt）"),
        "{err}"
    );
    let out = bidseal(&["projet"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("没有子命令 “projet”") && err.contains("“project”"),
        "{err}"
    );
    let out = bidseal(&["--lang", "en", "tender", "inspect", "x.zip", "--jsn"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unexpected argument '--jsn'") && err.contains("--json"),
        "{err}"
    );
    // A language that is not one: a usage error, said in the default language.
    let out = bidseal(&["--lang", "fr", "--help"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("“fr” 无效"),
        "{}",
        text(&out.stderr)
    );
    // Runtime errors carry the chosen language's prefix; the code stays the same.
    let out = bidseal(&[
        "--lang",
        "en",
        "tender",
        "inspect",
        "/nonexistent/tender.zip",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.starts_with("error: [TENDER_IO]"), "{err}");
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = bidseal(&["no-such-thing"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_input_file_is_an_input_error() {
    let out = bidseal(&["tender", "inspect", "/nonexistent/tender.zip"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("[TENDER_IO]"));
}

#[test]
fn an_untrusted_platform_is_a_no() {
    // A certificate that is not the demo platform's: the demo's own CA certificate.
    let stranger =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo-tender/ca-demo-1.pem");
    let tender = demo_tender();
    let out = bidseal(&[
        "tender",
        "verify",
        tender.to_str().expect("utf-8 path"),
        "--platform-cert",
        stranger.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("[TENDER_UNTRUSTED_PLATFORM]"));
    // The same package with its own platform certificate: 0.
    let platform =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo-tender/platform.crt");
    let out = bidseal(&[
        "tender",
        "verify",
        tender.to_str().expect("utf-8 path"),
        "--platform-cert",
        platform.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn an_expired_qr_is_a_time_out() {
    let out = bidseal(&["scan", "--ttl", "1", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stdout));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each --json line is JSON"))
        .collect();
    assert_eq!(
        events.first().and_then(|e| e["event"].as_str()),
        Some("started")
    );
    assert_eq!(
        events.last().and_then(|e| e["event"].as_str()),
        Some("expired")
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let tender = demo_tender();
    let mut child = Command::new(bin())
        .args(["tender", "inspect", tender.to_str().expect("utf-8 path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The reader goes away before bidseal writes anything (as `| head -0` would).
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "a closed pipe is not an error: {stderr}");
}

#[test]
fn a_full_disk_is_a_clear_input_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("no /dev/full on this system; skipped");
        return;
    };
    let tender = demo_tender();
    let out = Command::new(bin())
        .args(["tender", "inspect", tender.to_str().expect("utf-8 path")])
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("[E_STDOUT]"), "{stderr}");
}

mod scan_common;

/// `bidseal scan --json` against the world's relay, answered by `bidseal phone scan` with
/// `phone_args`: returns (desktop exit code, desktop events, phone exit code, phone stdout).
fn scan_answered_by(
    world: &scan_common::World,
    phone_pin: &str,
    phone_args: &[&str],
) -> (Option<i32>, Vec<serde_json::Value>, Option<i32>, String) {
    use std::io::BufRead;
    let mut desktop = Command::new(bin())
        .args(["scan", "--op", "auth", "--json", "--response-timeout", "30"])
        .args(["--relay", &world.relay.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scan");
    let mut lines = std::io::BufReader::new(desktop.stdout.take().expect("stdout")).lines();
    let first: serde_json::Value =
        serde_json::from_str(&lines.next().expect("a first line").expect("read")).expect("json");
    let payload = first["payload"].as_str().expect("payload").to_string();
    let phone = world
        .phone_with_pin(&payload, phone_pin, phone_args)
        .wait_with_output()
        .expect("phone");
    let mut events = vec![first];
    for line in lines {
        events.push(serde_json::from_str(&line.expect("read")).expect("json line"));
    }
    let status = desktop.wait().expect("wait scan");
    (
        status.code(),
        events,
        phone.status.code(),
        text(&phone.stdout),
    )
}

#[test]
fn refusals_on_the_phone_exit_1_on_both_sides() {
    let world = scan_common::World::new();
    // Wrong PIN: the phone's answer is a refusal, and it says so with its exit code.
    let (desktop, events, phone, summary) = scan_answered_by(&world, "000000", &[]);
    assert_eq!(phone, Some(1), "phone scan with a wrong PIN: {summary}");
    assert!(summary.contains("\"wrong_pin\""), "{summary}");
    assert_eq!(desktop, Some(1), "{events:?}");
    assert!(events
        .iter()
        .any(|e| e["event"] == "rejected" && e["code"] == "wrong_pin"));
    // The user presses 拒绝.
    let (desktop, _, phone, summary) = scan_answered_by(&world, scan_common::PIN, &["--reject"]);
    assert_eq!((desktop, phone), (Some(1), Some(1)), "{summary}");
    assert!(summary.contains("\"rejected_by_user\""), "{summary}");
    // Confirmed with the right PIN: 0 on both sides.
    let (desktop, events, phone, summary) = scan_answered_by(&world, scan_common::PIN, &[]);
    assert_eq!((desktop, phone), (Some(0), Some(0)), "{summary} {events:?}");
    assert!(events.iter().any(|e| e["event"] == "confirmed"));
}

#[test]
fn admin_list_is_a_table_for_people_and_json_on_request() {
    let world = scan_common::World::new();
    let table = text(&world.admin(&["list"]).stdout);
    let header = table.lines().next().unwrap_or_default();
    assert!(header.starts_with("证书\t持有人\t状态"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ent-huaxia\t") && l.contains("\t正常\t")),
        "{table}"
    );
    assert!(table.contains("（北京时间）"), "{table}");
    // An id the service does not know is named as such, not "service unavailable".
    let out = Command::new(bin())
        .args(["phone", "admin", "--cosign", &world.cosign.url, "--state"])
        .arg(&world.dir.0)
        .args(["disable", "no-such-cert"])
        .output()
        .expect("run phone admin");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[E_UNKNOWN_CERT]") && err.contains("ent-huaxia") && !err.contains("暂不可用"),
        "{err}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&world.admin(&["list", "--json"]).stdout).expect("JSON");
    let first = &json[0];
    for field in [
        "id",
        "holder",
        "state",
        "wrong_pins",
        "authorised_until",
        "not_after",
    ] {
        assert!(first.get(field).is_some(), "no `{field}` in {first}");
    }
}

/// Output that claims no more than it checked, and messages that say what is wrong.
#[test]
fn inspect_refuses_truncated_envelopes_and_commands_fail_before_claiming_readiness() {
    let dir = scan_common::TempDir::new("cli-messages");
    let world = dir.0.join("world");
    let init = bidseal(&[
        "phone",
        "init",
        world.to_str().expect("utf-8"),
        "--kdf-iterations",
        "1000",
    ]);
    assert!(init.status.success(), "{}", text(&init.stderr));
    let plain = dir.0.join("plain.txt");
    std::fs::write(&plain, vec![7u8; 5000]).expect("write");
    let env = dir.0.join("plain.bsbid");
    let to = world.join("pki/ent-huaxia.pem");
    let enc = bidseal(&[
        "envelope",
        "encrypt",
        plain.to_str().expect("utf-8"),
        env.to_str().expect("utf-8"),
        "--to",
        to.to_str().expect("utf-8"),
    ]);
    assert!(enc.status.success(), "{}", text(&enc.stderr));
    let inspect = |path: &std::path::Path| {
        bidseal(&[
            "envelope",
            "inspect",
            path.to_str().expect("utf-8"),
            "--json",
        ])
    };
    let whole = inspect(&env);
    assert_eq!(whole.status.code(), Some(0), "{}", text(&whole.stderr));
    let json: serde_json::Value = serde_json::from_slice(&whole.stdout).expect("JSON");
    assert_eq!(json["length"], "complete");
    assert_eq!(json["content_integrity"], "not_checked");
    assert_eq!(json["recipient_binding"], "verified");
    let human = bidseal(&["envelope", "inspect", env.to_str().expect("utf-8")]);
    assert!(
        text(&human.stdout).contains("内容完整性：未校验"),
        "{}",
        text(&human.stdout)
    );
    // Cut short by one byte, or with a byte appended: refused, nothing claimed.
    let bytes = std::fs::read(&env).expect("read");
    let cut = dir.0.join("cut.bsbid");
    std::fs::write(&cut, &bytes[..bytes.len() - 1]).expect("write");
    let out = inspect(&cut);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        out.stdout.is_empty() && text(&out.stderr).contains("[E_ENV_TRUNCATED]"),
        "{}",
        text(&out.stderr)
    );
    let long = dir.0.join("long.bsbid");
    std::fs::write(&long, [bytes.as_slice(), b"x"].concat()).expect("write");
    let out = inspect(&long);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("[E_ENV_MALFORMED]"),
        "{}",
        text(&out.stderr)
    );

    // The co-signing service reads its state before saying it listens.
    let out = bidseal(&[
        "phone",
        "serve-cosign",
        "--listen",
        "127.0.0.1:0",
        "--state",
        "/nonexistent",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        out.stdout.is_empty(),
        "nothing claimed: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("[E_COSIGN_STATE]"),
        "{}",
        text(&out.stderr)
    );

    // A relay address without a scheme is a usage error, before any QR.
    let out = bidseal(&["scan", "--relay", "127.0.0.1:47800"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty() && text(&out.stderr).contains("http://"),
        "{}",
        text(&out.stderr)
    );
}
