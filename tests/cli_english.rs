//! `--lang en` through the real binary: each command family's result lines, progress and
//! errors carry no Chinese words except data.
//!
//! Data is excluded by design, not by a list of expected lines: every maximal run of CJK
//! characters in stdout/stderr must be a substring of the data the run was given — the tender's
//! manifest (`tender inspect --json`: titles, labels, CA names), the test world's keystore and
//! certificate names, the seal kind passed on the command line. Any run of our own words
//! (`已签章`, `未填写…`, `北京时间`) is not data and fails the test with the command and line.
//! The scan families run through `demo` (seal, generate, trial decryption, opening, the phones'
//! screens and the report PDF); `verify` of files changed after signing, and `sync`, `upload`,
//! `platform serve` against the real platform have tests of their own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod platform_support;
mod scan_common;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bidseal")
}

/// A Chinese character (the full-width punctuation between data items separates runs).
fn is_cjk(c: char) -> bool {
    ('\u{3400}'..='\u{9fff}').contains(&c)
}

/// The runs of CJK characters in `text` that are not part of `data`.
fn foreign_runs(text: &str, data: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\n')) {
        if is_cjk(c) {
            run.push(c);
        } else if !run.is_empty() {
            if !data.contains(run.as_str()) {
                runs.push(run.clone());
            }
            run.clear();
        }
    }
    runs
}

struct English {
    dir: PathBuf,
    data: String,
    index: PathBuf,
}

impl English {
    /// Runs `bidseal --lang en ARGS` in the work folder; checks the exit code and that no
    /// words but data are Chinese.
    fn run(&self, want: i32, args: &[&str]) -> Output {
        let out = Command::new(bin())
            .arg("--lang")
            .arg("en")
            .args(args)
            .current_dir(&self.dir)
            .env("BIDSEAL_INDEX", &self.index)
            .env_remove("BIDSEAL_LANG")
            .stdin(Stdio::null())
            .output()
            .expect("run bidseal");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(want),
            "bidseal {args:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            for line in text.lines() {
                let runs = foreign_runs(line, &self.data);
                assert!(
                    runs.is_empty(),
                    "bidseal --lang en {args:?}: {name} has words that are not data {runs:?}:\n{line}"
                );
            }
        }
        out
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy fixture");
}

#[test]
fn every_command_family_speaks_english_except_data() {
    let world = scan_common::World::new();
    let w = world.dir.0.clone();
    let work = w.join("en");
    std::fs::create_dir_all(&work).expect("work dir");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    copy(
        &repo.join("assets/demo-tender/tender.pdf"),
        &work.join("doc.pdf"),
    );
    copy(
        &w.join("phone/seals/ent-huaxia-enterprise_seal-1.png"),
        &work.join("seal.png"),
    );
    let w_s = w.to_string_lossy().to_string();
    let platform_cert = w.join("pki/platform.crt").to_string_lossy().to_string();

    // The data of this run: the test world's names (keystore, certificate labels) and the
    // seal kind we pass. The tender's manifest is added once it exists.
    let mut data = std::fs::read_to_string(w.join("phone/keystore.json")).unwrap_or_default();
    data.push_str("公章 测试交易平台 BidSeal 测试CA 一 BidSeal 测试CA 二 BidSeal 测试");
    // Certificate subjects are data too (`OU=统一社会信用代码:…`).
    for entry in std::fs::read_dir(w.join("pki")).expect("pki").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        if let Ok(certs) = bidseal_cms::cert::Certificate::many_from_pem_or_der(&bytes) {
            for c in certs {
                data.push_str(&c.subject_string());
                data.push('\n');
            }
        }
    }
    let mut en = English {
        dir: work.clone(),
        data,
        index: w.join("index.sqlite"),
    };

    // tender
    en.run(0, &["tender", "make", "--world", &w_s, "--out", "t.zip"]);
    let manifest = Command::new(bin())
        .args(["tender", "inspect", "t.zip", "--json"])
        .current_dir(&work)
        .output()
        .expect("inspect --json");
    en.data.push_str(&text(&manifest.stdout));
    let inspect = en.run(0, &["tender", "inspect", "t.zip"]);
    assert!(text(&inspect.stdout).contains("signing nodes:"));
    // What is wrong inside a file that is not a zip / not a bid file is said in English too.
    let not_zip = en.run(3, &["tender", "inspect", "doc.pdf"]);
    assert!(
        text(&not_zip.stderr).contains("no end-of-central-directory record"),
        "{}",
        text(&not_zip.stderr)
    );
    let not_cms = en.run(3, &["envelope", "inspect", "doc.pdf"]);
    assert!(
        text(&not_cms.stderr).contains("does not start with a CMS ContentInfo"),
        "{}",
        text(&not_cms.stderr)
    );
    en.run(
        0,
        &[
            "tender",
            "verify",
            "t.zip",
            "--platform-cert",
            &platform_cert,
        ],
    );

    // project
    en.run(
        0,
        &[
            "project",
            "new",
            "p.bidproj",
            "--tender",
            "t.zip",
            "--platform-cert",
            &platform_cert,
        ],
    );
    let status = en.run(0, &["project", "status", "p.bidproj"]);
    assert!(
        text(&status.stdout).contains("next: complete the bid"),
        "{}",
        text(&status.stdout)
    );
    en.run(
        0,
        &[
            "project",
            "set",
            "p.bidproj",
            "bidder.name=Acme Construction",
            "bidder.credit_code=9111010871526726X9",
            "bidder.legal_representative=Zhang Wei",
            "price=4321000.50",
            "duration=300",
            "quality=qualified",
            "project_manager=Wang Fang",
        ],
    );
    for section in ["business", "technical", "qualification"] {
        en.run(
            0,
            &[
                "project",
                "attach",
                "p.bidproj",
                "--section",
                section,
                "doc.pdf",
            ],
        );
    }
    en.run(0, &["project", "compose", "p.bidproj"]);
    en.run(0, &["project", "show", "p.bidproj"]);
    let status = en.run(0, &["project", "status", "p.bidproj"]);
    assert!(text(&status.stdout).contains("next: seal by scan"));
    en.run(2, &["project", "set", "p.bidproj", "no-such-key=1"]);

    // seal and verify
    let key = w
        .join(format!("pki/{}.key.pem", bidseal_phone::pki::PLAIN_CERT_ID))
        .to_string_lossy()
        .to_string();
    let cert = w
        .join(format!(
            "pki/{}.chain.pem",
            bidseal_phone::pki::PLAIN_CERT_ID
        ))
        .to_string_lossy()
        .to_string();
    en.run(
        0,
        &[
            "seal",
            "doc.pdf",
            "sealed.pdf",
            "--key",
            &key,
            "--cert",
            &cert,
            "--image",
            "seal.png",
            "--rect",
            "400,100,120,120",
            "--kind",
            "公章",
        ],
    );
    let trust = w.join("pki/trust.pem").to_string_lossy().to_string();
    let verify = en.run(0, &["verify", "sealed.pdf", "--trust", &trust]);
    assert!(text(&verify.stdout).contains("(Beijing time)"));
    en.run(0, &["verify", "sealed.pdf", "--project", "p.bidproj"]);
    en.run(1, &["verify", "doc.pdf", "--trust", &trust]);
    en.run(3, &["verify", "t.zip", "--trust", &trust]);

    // envelope
    let to = w
        .join(format!("pki/{}.pem", bidseal_phone::pki::PLAIN_CERT_ID))
        .to_string_lossy()
        .to_string();
    let to_key = w
        .join(format!("pki/{}.key.pem", bidseal_phone::pki::PLAIN_CERT_ID))
        .to_string_lossy()
        .to_string();
    en.run(
        0,
        &["envelope", "encrypt", "doc.pdf", "x.bsbid", "--to", &to],
    );
    en.run(0, &["envelope", "inspect", "x.bsbid"]);
    en.run(
        0,
        &[
            "envelope", "decrypt", "x.bsbid", "back.pdf", "--key", &to_key, "--cert", &to,
        ],
    );
    std::fs::write(work.join("cut.bsbid"), b"\x30\x82\x10\x00\x06").expect("write");
    en.run(3, &["envelope", "inspect", "cut.bsbid"]);

    // phone: admin table, an unknown id (one answer names the known ids)
    let admin = |action: &[&str]| {
        let mut args = vec![
            "phone",
            "admin",
            "--cosign",
            &world.cosign.url,
            "--state",
            &w_s,
        ];
        args.extend_from_slice(action);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let list = admin(&["list"]);
    let list: Vec<&str> = list.iter().map(String::as_str).collect();
    let table = en.run(0, &list);
    assert!(text(&table.stdout).starts_with("certificate\tholder\tstate"));
    let unknown = admin(&["disable", "no-such-cert"]);
    let unknown: Vec<&str> = unknown.iter().map(String::as_str).collect();
    let out = en.run(2, &unknown);
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "error: [E_UNKNOWN_CERT] The co-signing service has no certificate \"no-such-cert\""
        ) && err.contains("ent-huaxia"),
        "{err}"
    );

    // scan: a QR nobody scans expires (exit 4), the events in English
    let out = en.run(
        4,
        &[
            "scan",
            "--op",
            "sign",
            "--relay",
            &world.relay.url,
            "--ttl",
            "1",
        ],
    );
    assert!(
        text(&out.stdout).contains("state: expired the QR code expired"),
        "{}",
        text(&out.stdout)
    );

    // relay: the listening line
    let mut relay = Command::new(bin())
        .args(["--lang", "en", "relay", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("relay");
    let mut line = String::new();
    if let Some(out) = relay.stdout.take() {
        use std::io::BufRead;
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    let _ = relay.kill();
    let _ = relay.wait();
    assert!(
        line.starts_with("relay listening: http://127.0.0.1:"),
        "{line}"
    );
    assert!(foreign_runs(&line, "").is_empty(), "{line}");

    // errors of the library crates, with their codes
    let out = en.run(3, &["tender", "inspect", "missing.zip"]);
    assert!(text(&out.stderr).starts_with("error: [TENDER_IO] Could not read"));
    en.run(2, &["open", "x.bsbid"]);

    // A hostile file name (ANSI escape, a line break) is printed escaped, on one error line.
    let out = en.run(
        3,
        &["tender", "inspect", "a\u{1b}[31mred\nerror: forged.zip"],
    );
    let err = text(&out.stderr);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("\\u{1b}[31mred"), "{err:?}");
    assert!(
        err.lines().skip(1).all(|l| l.starts_with("  ")),
        "a later line passes for a message of its own: {err:?}"
    );
}

/// Runs `bidseal ARGS` (zh-CN, the default) in `dir`; its stdout.
fn run_zh(dir: &Path, want: i32, args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("BIDSEAL_LANG")
        .stdin(Stdio::null())
        .output()
        .expect("run bidseal");
    assert_eq!(
        out.status.code(),
        Some(want),
        "{args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The test world's data for the CJK check: keystore names and certificate subjects.
fn world_data(w: &Path) -> String {
    let mut data = std::fs::read_to_string(w.join("phone/keystore.json")).unwrap_or_default();
    for entry in std::fs::read_dir(w.join("pki")).expect("pki").flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        if let Ok(certs) = bidseal_cms::cert::Certificate::many_from_pem_or_der(&bytes) {
            for c in certs {
                data.push_str(&c.subject_string());
                data.push('\n');
            }
        }
    }
    data
}

/// `verify` of a sealed PDF changed after signing (the independent attacks of
/// crates/pdf/tests/attacks/attack.py): every signature line, every description of a change
/// and the totals in English; the zh-CN output still names the change in zh-CN.
#[test]
fn verify_describes_changes_after_signing_in_english() {
    let w = scan_common::TempDir::new("en-verify");
    let init = Command::new(bin())
        .args(["phone", "init"])
        .arg(&w.0)
        .args(["--pin", "123456", "--kdf-iterations", "1000"])
        .env(
            bidseal_phone::provision::TEST_KEY_POOL_ENV,
            bidseal_phone::provision::test_key_pool_dir(),
        )
        .output()
        .expect("phone init");
    assert!(init.status.success(), "{}", text(&init.stderr));
    let work = w.0.join("en");
    std::fs::create_dir_all(&work).expect("work dir");
    let tools = std::env::var_os("BIDSEAL_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/bidseal".into());
    let python = tools.join("venv/bin/python");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/pdf/tests/attacks/attack.py");
    let attack = |args: &[&str]| {
        let out = Command::new(&python)
            .arg(&script)
            .args(args)
            .current_dir(&work)
            .output()
            .expect("attack.py");
        assert!(
            out.status.success(),
            "attack.py {args:?}: {}",
            text(&out.stderr)
        );
    };
    attack(&["make-input", "in.pdf"]);
    copy(
        &w.0.join("phone/seals/ent-huaxia-enterprise_seal-1.png"),
        &work.join("seal.png"),
    );
    let pki = |name: String| w.0.join("pki").join(name).to_string_lossy().to_string();
    let id = bidseal_phone::pki::PLAIN_CERT_ID;
    let (key, cert, trust) = (
        pki(format!("{id}.key.pem")),
        pki(format!("{id}.chain.pem")),
        pki("trust.pem".into()),
    );
    run_zh(
        &work,
        0,
        &[
            "seal",
            "in.pdf",
            "sealed.pdf",
            "--key",
            &key,
            "--cert",
            &cert,
            "--image",
            "seal.png",
            "--rect",
            "300,100,120,120",
            "--kind",
            "公章",
        ],
    );
    let mut data = world_data(&w.0);
    data.push_str("公章");
    let en = English {
        dir: work.clone(),
        data,
        index: w.0.join("index.sqlite"),
    };
    // A second seal: an allowed change after the first signature, described in English.
    run_zh(
        &work,
        0,
        &[
            "seal",
            "sealed.pdf",
            "twice.pdf",
            "--key",
            &key,
            "--cert",
            &cert,
            "--image",
            "seal.png",
            "--rect",
            "100,100,120,120",
            "--kind",
            "公章",
        ],
    );
    let out = text(
        &en.run(0, &["verify", "twice.pdf", "--trust", &trust])
            .stdout,
    );
    assert!(out.contains("[allowed]"), "{out}");
    for (name, expect) in [
        ("stream-swap", "page content replaced after signing: page 1"),
        (
            "annot-FreeText",
            "annotation added after signing: page 1 (FreeText)",
        ),
        ("rotate", "page attribute modified after signing: page 1"),
        ("resources", "after signing"),
        ("font", "font replaced after signing: page 1"),
        ("eof-junk", "after signing"),
        ("text-widget", "after signing"),
    ] {
        let file = format!("{name}.pdf");
        attack(&[name, "sealed.pdf", &file]);
        let out = text(&en.run(1, &["verify", &file, "--trust", &trust]).stdout);
        assert!(out.contains("[INVALID]"), "{name}: {out}");
        assert!(out.contains(expect), "{name}: {expect:?} not in\n{out}");
        let zh = run_zh(&work, 1, &["verify", &file, "--trust", &trust]);
        assert!(
            zh.contains("[无效]") && zh.contains("签名后"),
            "{name}: {zh}"
        );
    }
}

/// `platform serve`, `sync` and `upload` against the real platform process, all `--lang en`:
/// the server's own lines, the sync report, the upload receipt lines, a replaced upload, the
/// receipt check (match and mismatch), a file that is not a bid file, a wrong password and a
/// platform that is not there; nothing Chinese but data (the world's names, the tender, the
/// integrity library's records as `sync --json` lists them).
#[test]
fn sync_upload_and_platform_serve_speak_english() {
    use std::io::{BufRead, BufReader};
    use std::sync::{Arc, Mutex};
    let home = scan_common::TempDir::new("en-platform");
    let h = home.0.clone();
    let world = h.join("world");
    let s = |p: &Path| p.to_string_lossy().to_string();
    let ok = |cmd: &mut Command| {
        let out = cmd.output().expect("run bidseal");
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
    };
    ok(platform_support::bidseal(&h).args([
        "phone",
        "init",
        &s(&world),
        "--pin",
        "123456",
        "--kdf-iterations",
        "1000",
    ]));
    // The platform, started in English; every line it prints is kept for the check.
    let mut server = Command::new(bin())
        .args([
            "--lang",
            "en",
            "platform",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(h.join("data"))
        .arg("--demo-world")
        .arg(&world)
        .env_remove("BIDSEAL_LANG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("platform serve");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    for stream in [
        server
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        server
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut l) = lines.lock() {
                    l.push(line);
                }
            }
        });
    }
    let started = std::time::Instant::now();
    let base = loop {
        let found = lines.lock().ok().and_then(|l| {
            l.iter().find_map(|line| {
                line.strip_prefix("listening on ")
                    .map(|u| u.trim().to_string())
            })
        });
        if let Some(url) = found {
            break url;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no listening line: {:?}",
            lines.lock().map(|l| l.clone()).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let api = format!("{base}/api/v1");
    let tenders = platform_support::curl("GET", &format!("{api}/tenders"), None, &[]).json();
    let demo_id = tenders[0]["id"].as_str().expect("demo tender").to_string();
    let zip = h.join("demo.zip");
    platform_support::curl(
        "GET",
        &format!("{api}/tenders/{demo_id}/package"),
        None,
        &["-o", &s(&zip)],
    );
    let ent = bidseal_cms::cert::Certificate::from_pem(
        &std::fs::read(world.join("pki/ent-huaxia.pem")).expect("ent pem"),
    )
    .expect("ent cert");
    let new_project = |name: &str| {
        let proj = h.join(name);
        ok(platform_support::bidseal(&h)
            .args(["project", "new", &s(&proj), "--tender", &s(&zip)])
            .args(["--platform-cert", &s(&world.join("pki/platform.crt"))]));
        ok(platform_support::bidseal(&h)
            .args(["project", "set", &s(&proj)])
            .args([
                format!("bidder.name={}", ent.organization().unwrap_or_default()),
                format!(
                    "bidder.credit_code={}",
                    ent.credit_code().unwrap_or_default()
                ),
            ]));
        proj
    };
    let proj = new_project("demo.bidproj");
    // A project without a saved session, for a wrong password.
    let fresh = new_project("fresh.bidproj");

    // The data of this run: the world, the tender, the library's records.
    let mut data = world_data(&world);
    data.push_str(&text(
        &ok(Command::new(bin()).args(["tender", "inspect", "--json", &s(&zip)])).stdout,
    ));
    let login = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["--platform", &base, "--project", &s(&proj)]
            .iter()
            .map(|x| x.to_string())
            .collect();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let json_sync = {
        let mut args = vec!["sync".to_string()];
        args.extend(login(&["--password", "Demo@1234", "--json"]));
        // A separate project copy is not needed: the JSON run is the first sync, the English
        // runs below then see every record unchanged and, after a reset, added.
        ok(platform_support::bidseal(&h).args(&args))
    };
    data.push_str(&text(&json_sync.stdout));
    let en = English {
        dir: h.clone(),
        data,
        index: h.join("index.sqlite"),
    };
    let run = |want: i32, cmd: &str, extra: &[&str]| {
        let mut args = vec![cmd.to_string()];
        args.extend(login(extra));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        en.run(want, &args)
    };
    let out = run(0, "sync", &["--password", "Demo@1234"]);
    assert!(
        text(&out.stdout).contains("7 unchanged"),
        "{}",
        text(&out.stdout)
    );
    let fresh_s = s(&fresh);
    let out = en.run(
        1,
        &[
            "sync",
            "--platform",
            &base,
            "--project",
            &fresh_s,
            "--password",
            "wrong-password",
        ],
    );
    // The platform's own answer (zh-CN on the wire) in English inside ours.
    assert!(
        text(&out.stderr).contains("Login failed: Wrong account or password"),
        "{}",
        text(&out.stderr)
    );

    // Upload: our envelope to the bidder's enterprise certificate.
    let plain = h.join("bid.plain");
    std::fs::write(&plain, vec![7u8; 300 * 1024]).expect("plain");
    let bid1 = h.join("bid1.bsbid");
    let bid2 = h.join("bid2.bsbid");
    for b in [&bid1, &bid2] {
        ok(Command::new(bin())
            .args(["envelope", "encrypt", &s(&plain), &s(b), "--to"])
            .arg(world.join("pki/ent-huaxia.pem")));
    }
    run(
        0,
        "upload",
        &["--password", "Demo@1234", "--file", &s(&bid1)],
    );
    run(
        0,
        "upload",
        &["--password", "Demo@1234", "--file", &s(&bid2)],
    );
    run(
        0,
        "upload",
        &["--password", "Demo@1234", "--check", &s(&bid2)],
    );
    let out = run(
        1,
        "upload",
        &["--password", "Demo@1234", "--check", &s(&bid1)],
    );
    assert!(text(&out.stderr).contains("[E_RECEIPT_MISMATCH]"));
    let pdf = h.join("not-a-bid.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\n% not an envelope\n").expect("w");
    let out = run(
        3,
        "upload",
        &["--password", "Demo@1234", "--file", &s(&pdf)],
    );
    assert!(text(&out.stderr).contains("[E_NOT_BID_FILE]"));
    run(0, "upload", &["--password", "Demo@1234", "--withdraw"]);

    // A platform that is not there.
    let gone = English { ..en };
    let mut args = vec!["sync", "--platform", "http://127.0.0.1:9", "--project"];
    let proj_s = s(&proj);
    args.push(&proj_s);
    args.extend(["--password", "Demo@1234"]);
    gone.run(3, &args);

    let _ = server.kill();
    let _ = server.wait();
    let printed = lines.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(!printed.is_empty());
    for line in &printed {
        let runs = foreign_runs(line, &gone.data);
        assert!(
            runs.is_empty(),
            "platform serve: not data {runs:?}:\n{line}"
        );
    }
}

/// `demo` runs the whole flow (seal, generate, trial decryption, opening) by scan: its
/// narrative, the flows' progress, the simulated phones' screens (`    [device] …` lines) and
/// the opening table in English; the demo's device names, file names and tender are data.
#[test]
fn demo_speaks_english_except_data() {
    let dir = std::env::temp_dir().join(format!("bidseal-en-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(bin())
        .args(["--lang", "en", "demo", "--out"])
        .arg(&dir)
        .env("BIDSEAL_INDEX", dir.with_extension("sqlite"))
        .env_remove("BIDSEAL_LANG")
        .stdin(Stdio::null())
        .output()
        .expect("run demo");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let manifest = Command::new(bin())
        .args(["tender", "inspect", "--json"])
        .arg(dir.join("tender.zip"))
        .output()
        .expect("inspect");
    let mut data = text(&manifest.stdout);
    data.push_str(
        &std::fs::read_to_string(dir.join("phones/phone/keystore.json")).unwrap_or_default(),
    );
    for entry in std::fs::read_dir(dir.join("phones/pki"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        if let Ok(certs) = bidseal_cms::cert::Certificate::many_from_pem_or_der(&bytes) {
            for c in certs {
                data.push_str(&c.subject_string());
            }
        }
    }
    // The demo's own data: device names, file names, the bidder's form values.
    data.push_str(
        "张伟的手机 华夏建设的手机 王芳的手机 刘洋的手机 陈静的手机 投标文件.bidseal 投标文件.pdf 附件.pdf \
         合格 王芳 元 日历天 BidSeal 演示交易平台",
    );
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        for line in text.lines() {
            let runs = foreign_runs(line, &data);
            assert!(runs.is_empty(), "demo {name}: not data {runs:?}:\n{line}");
        }
    }
    assert!(
        stdout.starts_with("opening result (3 bid files)"),
        "{stdout}"
    );
    // The report PDF in English too (pdftotext reads it back); the JSON record keeps zh-CN.
    let pdf = Command::new("pdftotext")
        .arg(dir.join("opening-report.pdf"))
        .arg("-")
        .output()
        .expect("pdftotext");
    let pdf = text(&pdf.stdout);
    assert!(pdf.contains("Opening record"), "{pdf}");
    for line in pdf.lines() {
        let runs = foreign_runs(line, &data);
        assert!(runs.is_empty(), "report PDF: not data {runs:?}:\n{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(dir.with_extension("sqlite"));
}

/// The check itself: our own words are caught, data is not (so the test above can fail).
#[test]
fn the_check_tells_words_from_data() {
    let data = "投标函落款（投标人盖章） 华夏建设工程有限公司";
    assert!(foreign_runs("[letter] 投标函落款（投标人盖章） (mandatory)", data).is_empty());
    assert_eq!(
        foreign_runs("sealed: 华夏建设工程有限公司 已签章", data),
        vec!["已签章".to_string()]
    );
    assert_eq!(
        foreign_runs("2026-12-02 00:06:58（北京时间）", data),
        vec!["北京时间".to_string()]
    );
}
