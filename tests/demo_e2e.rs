//! `bidseal demo --out DIR` as a real process, then everything it leaves checked with
//! independent tools (pdfsig, pyHanko, openssl, zbarimg); and `bidseal open` at the hall with
//! real processes for the co-signing service and the phone (`bidseal phone ...`), including
//! a revoked certificate and the opening-time lock. The phones' keys are split between phone and
//! co-signing service (docs/key-split.md) except the one `-plain` certificate, whose key lets
//! openssl open the bid file; afterwards no file, output or log holds a split key whole.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

const BIDSEAL: &str = env!("CARGO_BIN_EXE_bidseal");
const BID: &str = "bid/投标文件.bidseal";
const SEALED: &str = "sealed/投标文件.pdf";
const PLAIN: &str = bidseal_phone::pki::PLAIN_CERT_ID;
const PIN: &str = "123456";

fn tools_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("BIDSEAL_TOOLS_DIR").unwrap_or_else(|_| "/var/cache/bidseal".into()),
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/setup.sh installs it)"))
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs the demo once for all tests of this file.
fn demo() -> &'static Path {
    &demo_run().0
}

/// Runs the demo once for all tests of this file: (output folder, exit success, stderr).
fn demo_run() -> &'static (PathBuf, bool, String) {
    static DEMO: OnceLock<(PathBuf, bool, String)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("bidseal-demo-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let out = base.join("demo");
        // The phones' split keys come from the test key pool (docs/key-split.md).
        let res = run(Command::new(BIDSEAL).args(["demo", "--out"]).arg(&out).env(
            bidseal_phone::provision::TEST_KEY_POOL_ENV,
            bidseal_phone::provision::test_key_pool_dir(),
        ));
        let log = String::from_utf8_lossy(&res.stderr).into_owned();
        // Kept for the leak search (hall test): what the demo printed is an output too.
        let _ = std::fs::write(base.join("demo.stdout.log"), &res.stdout);
        let _ = std::fs::write(base.join("demo.stderr.log"), &res.stderr);
        assert!(
            out.join("README.txt").exists(),
            "bidseal demo left no README.txt: {log}"
        );
        (out, res.status.success(), log)
    })
}

#[test]
fn demo_leaves_results_anyone_can_check_without_bidseal() {
    let dir = demo();
    let readme = std::fs::read_to_string(dir.join("README.txt")).unwrap_or_default();
    for f in [
        "tender.zip",
        "composed-before-seal.pdf",
        SEALED,
        BID,
        "opening-report.json",
        "opening-report.pdf",
        "phones/pki",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
        assert!(readme.contains(f), "README.txt does not explain {f}");
    }
    // The composed PDF is a byte prefix of the sealed one (incremental update).
    let composed = std::fs::read(dir.join("composed-before-seal.pdf")).unwrap_or_default();
    let sealed = std::fs::read(dir.join(SEALED)).unwrap_or_default();
    assert!(!composed.is_empty() && sealed.starts_with(&composed));

    // pdfsig: every signature entry (one per widget) is valid.
    let out = run_ok(Command::new("pdfsig").arg(dir.join(SEALED)));
    let text = String::from_utf8_lossy(&out.stdout);
    let entries = text.matches("Signature #").count();
    assert!(entries >= 5, "every signing node sealed: {text}");
    assert_eq!(
        text.matches("Signature Validation: Signature is Valid.")
            .count(),
        entries,
        "{text}"
    );

    // Every QR image shown decodes with zbar and is a BidSeal scan payload.
    let qrs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("qr-"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        qrs.len() >= 7,
        "sign, auth, generate, trial, 1 early + 3 openings: {qrs:?}"
    );
    for qr in &qrs {
        let out = run_ok(
            Command::new("zbarimg")
                .args(["-q", "--raw", "-Sdisable", "-Sqrcode.enable"])
                .arg(qr),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("bidseal://scan?"),
            "{}: {text}",
            qr.display()
        );
        let name = qr
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(readme.contains(&name), "README.txt does not list {name}");
    }

    // openssl opens the bid file with the `-plain` recipient's key (the other two recipients'
    // keys are split: the demo opened with them by scan, see the report below); the manifest
    // signature verifies against the test CAs; the package's PDF is the sealed one.
    let pki = dir.join("phones/pki");
    let id = PLAIN;
    let zip = dir.join(format!("openssl-{id}.zip"));
    run_ok(
        Command::new("openssl")
            .args(["cms", "-decrypt", "-inform", "DER", "-in"])
            .arg(dir.join(BID))
            .arg("-recip")
            .arg(pki.join(format!("{id}.pem")))
            .arg("-inkey")
            .arg(pki.join(format!("{id}.key.pem")))
            .arg("-out")
            .arg(&zip),
    );
    let part = |name: &str| run_ok(Command::new("unzip").arg("-p").arg(&zip).arg(name)).stdout;
    assert_eq!(
        part("投标文件.pdf"),
        sealed,
        "{id}: packaged PDF is the sealed one"
    );
    let p7s = dir.join(format!("{id}.p7s"));
    let manifest = dir.join(format!("{id}.manifest.json"));
    std::fs::write(&p7s, part("manifest.p7s")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&manifest, part("manifest.json")).unwrap_or_else(|e| panic!("{e}"));
    run_ok(
        Command::new("openssl")
            .args([
                "cms", "-verify", "-inform", "DER", "-binary", "-purpose", "any", "-in",
            ])
            .arg(&p7s)
            .arg("-content")
            .arg(&manifest)
            .arg("-CAfile")
            .arg(pki.join("trust.pem"))
            .args(["-out", "/dev/null"]),
    );
    // A stranger's key does not open it.
    let scratch = dir.parent().unwrap_or(dir).join("stranger");
    std::fs::create_dir_all(&scratch).unwrap_or_else(|e| panic!("{e}"));
    let (key, cert) = bidseal_testkit::self_signed(&scratch, "stranger", "/CN=陌生人", 30);
    let out = run(Command::new("openssl")
        .args(["cms", "-decrypt", "-inform", "DER", "-in"])
        .arg(dir.join(BID))
        .arg("-recip")
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .args(["-out", "/dev/null"]));
    assert!(
        !out.status.success(),
        "a stranger's key must not open the bid"
    );

    // The PDF report reads back in Chinese.
    let out = run_ok(
        Command::new("pdftotext")
            .arg(dir.join("opening-report.pdf"))
            .arg("-"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("开标记录") && text.contains("华夏建设工程有限公司"),
        "{text}"
    );

    // The opening report: three openings, every check passed.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("opening-report.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("report: {e}"));
    let reports = report.as_array().cloned().unwrap_or_default();
    assert_eq!(reports.len(), 3);
    for r in &reports {
        assert_eq!(r["passed"], serde_json::Value::Bool(true), "{r:#}");
        assert_eq!(r["price"]["price"], "4321000.50");
    }
    let (_, ok, log) = demo_run();
    assert!(ok, "bidseal demo must exit 0: {log}");
}

#[test]
fn demo_sealed_pdf_validates_in_pyhanko() {
    let dir = demo();
    let pyhanko = tools_dir().join("venv/bin/pyhanko");
    let out = run(Command::new(&pyhanko)
        .args(["sign", "validate", "--trust-replace", "--trust"])
        .arg(dir.join("phones/pki/trust.pem"))
        .arg(dir.join(SEALED)));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("BidSeal")).collect();
    // The demo tender's five nodes make four signatures: both 公章 nodes are one signature
    // (a widget at each), plus 法人章, 法人手写签名 and the 骑缝章.
    assert!(
        lines.len() == 4,
        "pyHanko output: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in &lines {
        assert!(
            line.contains(":INTACT:TRUSTED,") && !line.contains("ILLEGAL_MODIFICATIONS"),
            "pyHanko: {line}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(out.status.success(), "pyHanko: {text}");
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A file (appended to) for a child's output: logs are searched for keys too.
fn log_file(path: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `bidseal phone serve-cosign` on 127.0.0.1, as its own process.
fn cosign(state: &Path) -> (Killed, String) {
    let mut child = Command::new(BIDSEAL)
        .args([
            "phone",
            "serve-cosign",
            "--listen",
            "127.0.0.1:0",
            "--state",
        ])
        .arg(state)
        // The demo's platform, whose signed tender states the opening time.
        .arg("--platform-cert")
        .arg(state.parent().unwrap_or(state).join("platform.pem"))
        .stdout(Stdio::piped())
        .stderr(log_file(
            &state.parent().unwrap_or(state).join("cosign.stderr.log"),
        ))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{e}"));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .to_string();
    (Killed(child), url)
}

/// Runs `bidseal open ARGS`; when it shows a QR, `bidseal phone scan` answers as `cert`.
fn open_with_phone(
    dir: &Path,
    cosign_url: &str,
    cert: &str,
    args: &[&str],
    tag: &str,
) -> (bool, serde_json::Value) {
    let work = dir.join(format!("cli-{tag}"));
    let report = work.join("report.json");
    let mut hall = Command::new(BIDSEAL)
        .arg("open")
        .arg(dir.join(BID))
        .args(args)
        .arg("--work")
        .arg(&work)
        .arg("--report-json")
        .arg(&report)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = hall.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut lines = BufReader::new(stderr).lines();
    let payload = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("bidseal open ended without a QR"))
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(p) = line.strip_prefix("扫码内容：") {
            break p.to_string();
        }
    };
    let phone = run(Command::new(BIDSEAL)
        .args(["phone", "scan", &payload, "--keystore"])
        .arg(dir.join("phones"))
        .args(["--cosign", cosign_url, "--pin", "123456", "--cert", cert])
        .arg("--platform-cert")
        .arg(dir.join("platform.pem")));
    std::fs::write(
        work.join("phone.log"),
        [phone.stdout.as_slice(), &phone.stderr].concat(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rest: Vec<String> = lines.by_ref().map_while(Result::ok).collect();
    std::fs::write(work.join("open.stderr.log"), rest.join("\n")).unwrap_or_else(|e| panic!("{e}"));
    let status = hall.wait().unwrap_or_else(|e| panic!("{e}"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or_default();
    (status.success(), json)
}

#[test]
fn hall_opens_by_scan_with_real_processes_and_says_why_a_bid_fails() {
    let dir = demo();
    let (_service, url) = cosign(&dir.join("phones"));
    // The hall takes everything from the tender, pinned to the demo platform's certificate;
    // the demo waited for the tender's opening time, so opening is allowed now.
    let tender = dir.join("tender.zip").to_string_lossy().into_owned();
    let platform = dir.join("platform.pem").to_string_lossy().into_owned();
    let pinned = [
        "--tender",
        tender.as_str(),
        "--platform-cert",
        platform.as_str(),
    ];

    // The enterprise admin revokes a colleague's certificate: it can no longer decrypt.
    run_ok(
        Command::new(BIDSEAL)
            .args(["phone", "admin", "--cosign", &url, "--state"])
            .arg(dir.join("phones"))
            .args(["revoke", "colleague-wang"]),
    );
    let (ok, report) = open_with_phone(dir, &url, "colleague-wang", &pinned, "wang");
    assert!(!ok);
    let failed: Vec<&serde_json::Value> = report[0]["checks"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["passed"] == false).collect())
        .unwrap_or_default();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["code"], "certificate_revoked", "{report:#}");

    // Without the platform pin the tender is not trusted: refused before any scan.
    let out = run(Command::new(BIDSEAL)
        .arg("open")
        .arg(dir.join(BID))
        .args(["--tender", &tender, "--work"])
        .arg(dir.join("cli-nopin")));
    assert!(!out.status.success());

    // Last: the enterprise certificate (split key: joint ECDH between the phone process and
    // the service process) opens it: exit 0, every check passed.
    let (ok, report) = open_with_phone(dir, &url, "ent-huaxia", &pinned, "huaxia");
    assert!(ok, "{report:#}");
    assert_eq!(report[0]["passed"], serde_json::Value::Bool(true));

    // After the whole demo (auth, seals in session mode, generate, trial decryption, openings)
    // and these openings by real processes: no file, output or log under the demo's folder
    // (its world, bid, hall work, QR images, reports, saved stdout/stderr of every process)
    // holds the whole key of any split certificate, in any encoding.
    let world = dir.join("phones");
    let base = dir.parent().unwrap_or(dir);
    let traces = bidseal_phone::provision::whole_key_traces_in(&world, PIN, &[base])
        .unwrap_or_else(|e| panic!("leak search: {e}"));
    assert!(traces.is_empty(), "after the demo: {traces:?}");
    assert!(base.join("demo.stderr.log").exists() && dir.join("cli-huaxia/phone.log").exists());
    // The search finds a key that is there: the enterprise key, base64 inside a log line.
    let holder = bidseal_phone::provision::WorldKeyHolder::load(&world, PIN, "ent-huaxia")
        .unwrap_or_else(|e| panic!("{e}"));
    let planted = tempfile_dir(base, "planted");
    let whole = holder
        .whole_key_for_leak_search()
        .unwrap_or_else(|e| panic!("{e}"));
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode([&[4u8][..], &whole[..]].concat());
    std::fs::write(planted.join("leak.log"), format!("debug: key={text}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let traces = bidseal_phone::provision::whole_key_traces_in(&world, PIN, &[&planted])
        .unwrap_or_else(|e| panic!("leak search: {e}"));
    assert_eq!(traces.len(), 1, "{traces:?}");
}

fn tempfile_dir(base: &Path, name: &str) -> PathBuf {
    let d = base.with_file_name(format!(
        "{}-{name}",
        base.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}
