//! A bidder seals and generates THEIR OWN project at the command line, with real processes on
//! 127.0.0.1: `bidseal relay`, `bidseal phone serve-cosign`, and for every QR the desktop writes
//! a `bidseal phone scan --qr-png FILE` process (the phone's camera). The tender accepts the
//! phones' two test CAs. Checked with independent tools: pdfsig validates every signature of
//! the sealed PDF, `openssl cms -decrypt` opens the bid file with the key of the world's one
//! `-plain` recipient certificate (every other key is split between phone and co-signing
//! service, docs/key-split.md, and no file of the world holds it afterwards).
//! Generation before sealing is refused with the list of missing mandatory seals.

mod scan_common;

use scan_common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The colleagues the phone picks: a split key and the `-plain` certificate (openssl's key).
const COLLEAGUES: [&str; 2] = ["colleague-wang", bidseal_phone::pki::PLAIN_CERT_ID];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/setup.sh installs it)"))
}

fn ok(cmd: &mut Command) -> Output {
    let out = tool(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `bidseal ARGS` with the recent-project index inside the test folder.
fn bidseal(world: &World) -> Command {
    let mut c = Command::new(bin());
    c.env("BIDSEAL_INDEX", world.path("index.sqlite"));
    c
}

/// Runs `bidseal ARGS`; each QR it shows (a `二维码（…）：PNG` line on stderr) is scanned by a
/// new `bidseal phone scan --qr-png PNG` process with the next entry of `phones` as its extra
/// arguments. Returns (success, stdout, stderr, phone stderrs).
fn run_with_phones(
    world: &World,
    args: &[&str],
    phones: &[&[&str]],
) -> (bool, String, String, Vec<String>) {
    let mut desktop = bidseal(world)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = desktop.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });
    let stderr = desktop.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut log = String::new();
    let mut running = Vec::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
        let Some(png) = line
            .strip_prefix("二维码（")
            .and_then(|r| r.split_once("）："))
            .map(|(_, p)| PathBuf::from(p))
        else {
            continue;
        };
        let extra = phones
            .get(running.len())
            .unwrap_or_else(|| panic!("more QR codes than phones expected: {log}"));
        assert!(png.exists(), "QR PNG {} not written", png.display());
        running.push(
            Command::new(bin())
                .args(["phone", "scan", "--qr-png"])
                .arg(&png)
                .arg("--keystore")
                .arg(&world.dir.0)
                .args(["--cosign", &world.cosign.url, "--pin", PIN, "--confirm"])
                .args(*extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let status = desktop.wait().unwrap_or_else(|e| panic!("{e}"));
    let stdout = out_thread.join().unwrap_or_default();
    let phone_logs = running
        .into_iter()
        .map(|p| {
            let o = p.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
            String::from_utf8_lossy(&o.stderr).into_owned()
        })
        .collect();
    (status.success(), stdout, log, phone_logs)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("non-UTF-8 test path"))
}

/// A project of the world's bidder, from a tender made with `tender make --world`, filled in
/// and ready to compose. Returns (project folder, tender package).
fn filled_project(world: &World) -> (PathBuf, PathBuf) {
    let dir = world.path("bidder");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let pki = world.path("pki");
    let demo = repo().join("assets/demo-tender");
    // The platform publishes a tender accepting the phones' two test CAs: the world's own
    // platform identity (`phone init`) signs it (`tender make --world`).
    let cert = world.path("pki/platform.crt");
    let tender = dir.join("tender.zip");
    ok(bidseal(world).args([
        "tender",
        "make",
        "--world",
        s(&world.dir.0),
        "--out",
        s(&tender),
    ]));

    // The bidder's project: the enterprise named in the phone's enterprise certificate.
    let ent = bidseal_cms::cert::Certificate::from_pem(
        &std::fs::read(pki.join("ent-huaxia.pem")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("ent-huaxia.pem: {e}"));
    let name = ent.organization().unwrap_or_default();
    let code = ent.credit_code().unwrap_or_default();
    let proj = dir.join("我的投标.bidproj");
    let p = s(&proj);
    ok(bidseal(world).args([
        "project",
        "new",
        p,
        "--tender",
        s(&tender),
        "--platform-cert",
        s(&cert),
    ]));
    for section in ["business", "technical", "qualification"] {
        ok(bidseal(world).args([
            "project",
            "attach",
            p,
            "--section",
            section,
            s(&demo.join("tender.pdf")),
        ]));
    }
    ok(bidseal(world).args(["project", "set", p]).args([
        format!("bidder.name={name}"),
        format!("bidder.credit_code={code}"),
        "bidder.legal_representative=张伟".into(),
        "price=4321000.50".into(),
        "duration=300".into(),
        "quality=合格".into(),
        "project_manager=王芳".into(),
    ]));
    (proj, tender)
}

/// Every seal, the generate signature and the trial decryption are joint between phone and
/// co-signing service for the split certificates (密钥拆分, docs/key-split.md); pdfsig and
/// pyHanko see ordinary signatures.
#[test]
fn bidder_seals_generates_and_trial_decrypts_their_own_project_by_scan() {
    seal_generate_and_trial_decrypt(World::new());
}

fn seal_generate_and_trial_decrypt(world: World) {
    let dir = world.path("bidder");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let pki = world.path("pki");
    let status = |w: &World| -> serde_json::Value {
        let out = ok(bidseal(w).args([
            "project",
            "status",
            s(&w.path("bidder/我的投标.bidproj")),
            "--json",
        ]));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("status JSON: {e}"))
    };

    let (proj, _tender) = filled_project(&world);
    let p = s(&proj);
    let composed = ok(bidseal(&world).args(["project", "compose", p, "--json"]));
    let composition: serde_json::Value =
        serde_json::from_slice(&composed.stdout).unwrap_or_else(|e| panic!("{e}"));
    let mandatory: Vec<String> = composition["placements"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|n| n["mandatory"] == true)
                .filter_map(|n| n["node_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(!mandatory.is_empty(), "demo tender has mandatory nodes");

    // Generating before sealing is refused, before any scan, listing every missing seal.
    let bid = dir.join("投标文件.bidseal");
    let early = tool(bidseal(&world).args([
        "project",
        "generate",
        p,
        "--relay",
        &world.relay.url,
        "--out",
        s(&bid),
    ]));
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success(), "generation before sealing: {err}");
    assert!(err.contains("[E_MISSING_SEALS]"), "{err}");
    for id in &mandatory {
        assert!(
            err.contains(id.as_str()),
            "missing seal {id} not listed: {err}"
        );
    }
    assert!(!err.contains("二维码"), "no scan before the refusal: {err}");
    assert!(!bid.exists());

    // Checks before any QR: a relay address without a scheme, a bid file that is not one —
    // each refused with its code, no QR shown.
    let no_scheme =
        tool(bidseal(&world).args(["project", "seal", p, "--relay", "127.0.0.1:47800"]));
    let err = String::from_utf8_lossy(&no_scheme.stderr);
    assert_eq!(no_scheme.status.code(), Some(2), "{err}");
    assert!(
        err.contains("[E_RELAY_URL]") && err.contains("http://"),
        "{err}"
    );
    let not_a_bid =
        tool(bidseal(&world).args(["project", "trial-decrypt", p, s(&proj.join("out/bid.pdf"))]));
    let err = String::from_utf8_lossy(&not_a_bid.stderr);
    assert_eq!(not_a_bid.status.code(), Some(3), "{err}");
    assert!(err.contains("[E_ENV_") && !err.contains("二维码"), "{err}");

    // Seal every node by one scan (session mode, the phone ticks 自动确认).
    let qr_seal = dir.join("qr-seal");
    let (sealed_ok, stdout, log, phones) = run_with_phones(
        &world,
        &[
            "project",
            "seal",
            p,
            "--relay",
            &world.relay.url,
            "--qr-dir",
            s(&qr_seal),
        ],
        &[&["--auto-confirm"]],
    );
    assert!(sealed_ok, "project seal: {log}\nphone: {phones:?}");
    assert!(
        log.contains("将在手机上依次确认") && log.contains("测试CA 一"),
        "the prompt says what will be asked: {log}"
    );
    assert_eq!(phones.len(), 1, "one scan seals everything: {log}");
    assert!(log.contains("扫码内容：bidseal://scan?"), "{log}");
    let sealed = proj.join("out/sealed.pdf");
    assert!(stdout.contains("已签章"), "{stdout}");
    let out = ok(Command::new("pdfsig").arg(&sealed));
    let text = String::from_utf8_lossy(&out.stdout);
    let entries = text.matches("Signature #").count();
    assert!(entries >= mandatory.len(), "every node sealed: {text}");
    assert_eq!(
        text.matches("Signature Validation: Signature is Valid.")
            .count(),
        entries,
        "{text}"
    );

    // The seals' widgets as written in the PDF (read by pyHanko's PDF reader): none overlaps
    // another on its page, except the slices of the 骑缝章 which sit at the right edge.
    let tools_dir =
        std::env::var("BIDSEAL_TOOLS_DIR").unwrap_or_else(|_| "/var/cache/bidseal".into());
    let program = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
r = PdfFileReader(open(sys.argv[1], 'rb'))
bad = []
seen = 0
for i, page in enumerate(r.root['/Pages']['/Kids']):
    page = page.get_object()
    rects = []
    for a in page.get('/Annots', []):
        a = a.get_object()
        if a.get('/Subtype') == '/Widget':
            x1, y1, x2, y2 = [float(v) for v in a['/Rect']]
            if x2 - x1 > 20:  # a whole seal, not a cross-page slice
                rects.append((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    seen += len(rects)
    for j, a in enumerate(rects):
        for b in rects[j + 1:]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                bad.append((i + 1, a, b))
print(len(bad), seen, bad)
"#;
    let out = ok(Command::new(Path::new(&tools_dir).join("venv/bin/python3"))
        .arg("-c")
        .arg(program)
        .arg(&sealed));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    assert_eq!(words.next(), Some("0"), "overlapping seal widgets: {text}");
    let seen: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(seen >= mandatory.len(), "the widgets were found: {text}");

    // The project knows it is sealed: every node, the sealed PDF current, next is generate.
    let st = status(&world);
    assert_eq!(st["sealed"]["current"], true, "{st}");
    assert!(
        st["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().all(|n| n["sealed"] == true)),
        "{st}"
    );
    assert!(
        st["next"]
            .as_str()
            .unwrap_or_default()
            .contains("project generate"),
        "{st}"
    );
    assert!(st["bid_file"].is_null(), "{st}");

    // pyHanko agrees: every signature intact and trusted under the phones' test CAs.
    let tools = std::env::var("BIDSEAL_TOOLS_DIR").unwrap_or_else(|_| "/var/cache/bidseal".into());
    let out = tool(
        Command::new(Path::new(&tools).join("venv/bin/pyhanko"))
            .args(["sign", "validate", "--trust-replace", "--trust"])
            .arg(pki.join("trust.pem"))
            .arg(&sealed),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("BidSeal")).collect();
    assert!(!lines.is_empty() && out.status.success(), "pyHanko: {text}");
    for line in &lines {
        assert!(
            line.contains(":INTACT:TRUSTED,") && !line.contains("ILLEGAL_MODIFICATIONS"),
            "pyHanko: {line}"
        );
    }

    // Sealed, but the output folder does not exist: refused before the first QR, not after
    // both scans.
    let no_folder = tool(bidseal(&world).args([
        "project",
        "generate",
        p,
        "--out",
        s(&dir.join("没有这个文件夹/投标文件.bsbid")),
    ]));
    let err = String::from_utf8_lossy(&no_folder.stderr);
    assert_eq!(no_folder.status.code(), Some(3), "{err}");
    assert!(
        err.contains("[E_OUTPUT_DIR]") && !err.contains("二维码"),
        "{err}"
    );

    // Generate: auth scan, then the generate scan where the phone picks 2 colleagues.
    let qr_gen = dir.join("qr-generate");
    let (gen_ok, stdout, log, phones) = run_with_phones(
        &world,
        &[
            "project",
            "generate",
            p,
            "--relay",
            &world.relay.url,
            "--qr-dir",
            s(&qr_gen),
            "--out",
            s(&bid),
        ],
        &[
            &[],
            &[
                "--pick-colleague",
                COLLEAGUES[0],
                "--pick-colleague",
                COLLEAGUES[1],
            ],
        ],
    );
    assert!(gen_ok, "project generate: {log}\nphones: {phones:?}");
    assert!(log.contains("须另选恰好 2 张同事的加密证书"), "{log}");
    assert_eq!(phones.len(), 2, "auth + generate scans: {log}");
    assert!(stdout.contains("已生成投标文件"), "{stdout}");
    let sealed_bytes = std::fs::read(&sealed).unwrap_or_default();
    // openssl opens it with the `-plain` recipient's key (the split recipients are opened by
    // the trial decryption below, jointly).
    let decrypt = |recip: &Path, key: &Path, out: &Path| {
        tool(
            Command::new("openssl")
                .args(["cms", "-decrypt", "-inform", "DER", "-in"])
                .arg(&bid)
                .arg("-recip")
                .arg(recip)
                .arg("-inkey")
                .arg(key)
                .arg("-out")
                .arg(out),
        )
    };
    let plain = COLLEAGUES[1];
    let zip = dir.join(format!("openssl-{plain}.zip"));
    let opened = decrypt(
        &pki.join(format!("{plain}.pem")),
        &pki.join(format!("{plain}.key.pem")),
        &zip,
    );
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let part = ok(Command::new("unzip")
        .arg("-p")
        .arg(&zip)
        .arg("投标文件.pdf"))
    .stdout;
    assert_eq!(part, sealed_bytes, "the packaged PDF is the sealed one");
    // A stranger's key and certificate cannot open it.
    let (key, cert) = bidseal_testkit::self_signed(&dir, "stranger", "/CN=陌生人", 30);
    let other = decrypt(&cert, &key, &dir.join("nope.zip"));
    assert!(!other.status.success(), "a stranger is not a recipient");

    let st = status(&world);
    assert_eq!(st["bid_file"]["current"], true, "{st}");
    assert!(
        st["next"]
            .as_str()
            .unwrap_or_default()
            .contains("trial-decrypt"),
        "{st}"
    );

    // 试解密 by a decrypt scan, this time through the relay the command starts in-process:
    // the file opens and every check passes.
    let (trial_ok, stdout, log, phones) = run_with_phones(
        &world,
        &[
            "project",
            "trial-decrypt",
            p,
            s(&bid),
            "--qr-dir",
            s(&dir.join("qr-trial")),
        ],
        // The phone pins the platform; the trial is one generate scan (re-confirm + decrypt).
        &[&["--platform-cert", s(&world.path("pki/platform.crt"))]],
    );
    assert!(
        trial_ok,
        "trial decryption: {stdout}{log}\nphones: {phones:?}"
    );
    assert!(stdout.contains("试解密通过"), "{stdout}");
    assert!(log.contains("内置扫码中继：http://127.0.0.1:"), "{log}");

    // Changing the bid after sealing: the seals belong to the old composition, so generating
    // from the new one is refused again with the missing seals, and the bid file stays as it was.
    let before = std::fs::read(&bid).unwrap_or_default();
    let changed = ok(bidseal(&world).args(["project", "set", p, "price=4320000.00"]));
    let warning = String::from_utf8_lossy(&changed.stderr);
    assert!(
        warning.contains("原签章已失效"),
        "the edit says so: {warning}"
    );
    assert!(
        !sealed.exists(),
        "no stale sealed PDF where a current one is expected"
    );
    let st = status(&world);
    assert!(st["sealed"].is_null() && st["composed"].is_null(), "{st}");
    assert_eq!(st["bid_file"]["current"], false, "{st}");
    assert_eq!(
        st["retired_seals"].as_array().map(Vec::len),
        Some(1),
        "{st}"
    );
    assert!(
        st["next"]
            .as_str()
            .unwrap_or_default()
            .contains("project compose"),
        "{st}"
    );
    ok(bidseal(&world).args(["project", "compose", p]));
    let stale = tool(bidseal(&world).args([
        "project",
        "generate",
        p,
        "--relay",
        &world.relay.url,
        "--out",
        s(&bid),
    ]));
    let err = String::from_utf8_lossy(&stale.stderr);
    assert!(
        !stale.status.success() && err.contains("[E_MISSING_SEALS]"),
        "{err}"
    );
    assert_eq!(std::fs::read(&bid).unwrap_or_default(), before);
    let traces = bidseal_phone::provision::whole_key_traces(&world.dir.0, PIN)
        .unwrap_or_else(|e| panic!("leak search: {e}"));
    assert!(traces.is_empty(), "after seal, generate, trial: {traces:?}");
}

/// Ctrl-C while the sealing QR waits for the phone: the command exits 4 with
/// `[E_INTERRUPTED]`, and the temporary working copy next to `out/sealed.pdf` is gone.
#[test]
fn ctrl_c_during_sealing_exits_4_and_leaves_no_temporary_file() {
    let world = World::new();
    let (proj, _) = filled_project(&world);
    ok(bidseal(&world).args(["project", "compose", s(&proj)]));
    let mut desktop = bidseal(&world)
        .args(["project", "seal", s(&proj), "--relay", &world.relay.url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = desktop.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let mut log = String::new();
    for line in lines.by_ref() {
        log.push_str(&line);
        log.push('\n');
        if line.starts_with("二维码（") {
            break;
        }
    }
    let temporaries = || -> Vec<String> {
        std::fs::read_dir(proj.join("out"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        temporaries().len(),
        1,
        "the working copy exists while waiting: {log}"
    );
    ok(Command::new("kill").args(["-INT", &desktop.id().to_string()]));
    for line in lines {
        log.push_str(&line);
        log.push('\n');
    }
    let status = desktop.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(4), "{log}");
    assert!(log.contains("[E_INTERRUPTED]"), "{log}");
    assert!(
        temporaries().is_empty(),
        "temporary file left behind: {:?}",
        temporaries()
    );
    assert!(!proj.join("out/sealed.pdf").exists());
}
