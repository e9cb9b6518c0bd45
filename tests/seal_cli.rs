//! Scenario at the command line: staff seal a tender PDF with `bidseal seal` (公章 on one page,
//! then a cross-page seal 骑缝章), check it with `bidseal verify`, and meet clear zh-CN errors
//! on bad input — with no output file left behind and the input never modified.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bidseal(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bidseal"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run bidseal")
}

fn tool(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("required tool {program} missing ({e}); run scripts/setup.sh"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// PKI (openssl), seal image (ImageMagick) and a 3-page PDF (reportlab) in a fresh folder.
fn fixture(name: &str) -> PathBuf {
    let dir = bidseal_testkit::tempdir("cli", name);
    bidseal_testkit::root_ca(&dir, "ca", "/CN=CLI Test CA", 30);
    bidseal_testkit::leaf(
        &dir,
        "leaf",
        "ca",
        "/CN=李四/O=某某招标代理有限公司",
        "digitalSignature",
        30,
    );
    tool(
        &dir,
        "convert",
        &[
            "-size",
            "200x200",
            "xc:none",
            "-fill",
            "none",
            "-stroke",
            "rgb(220,0,0)",
            "-strokewidth",
            "10",
            "-draw",
            "circle 100,100 100,10",
            "seal.png",
        ],
    );
    let tools = std::env::var("BIDSEAL_TOOLS_DIR").unwrap_or_else(|_| "/var/cache/bidseal".into());
    let python = format!("{tools}/venv/bin/python");
    tool(&dir, &python, &["-c", "from reportlab.pdfgen import canvas\nc=canvas.Canvas('in.pdf')\nfor i in range(3):\n    c.drawString(72,760,'page %d'%i); c.showPage()\nc.save()"]);
    dir
}

const SIGNER: [&str; 6] = [
    "--key", "leaf.key", "--cert", "leaf.pem", "--image", "seal.png",
];

#[test]
fn seal_then_cross_page_seal_then_verify() {
    let dir = fixture("ok");
    let original = std::fs::read(dir.join("in.pdf")).expect("read");
    let mut args = vec!["seal", "in.pdf", "one.pdf"];
    args.extend(SIGNER);
    args.extend(["--page", "2", "--rect", "100,100,120,120", "--kind", "公章"]);
    let out = bidseal(&args, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("已签章"));

    let mut args = vec!["seal", "one.pdf", "two.pdf"];
    args.extend(SIGNER);
    args.extend([
        "--rect",
        "0,300,90,90",
        "--cross-page",
        "--pages",
        "1-3",
        "--kind",
        "骑缝章",
    ]);
    let out = bidseal(&args, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(
        std::fs::read(dir.join("in.pdf")).expect("read"),
        original,
        "input was modified"
    );
    let two = std::fs::read(dir.join("two.pdf")).expect("read");
    assert!(two.starts_with(&original));

    let out = bidseal(&["verify", "two.pdf", "--trust", "ca.pem"], &dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "verify failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("[有效]") && lines[0].contains("公章") && lines[0].contains("李四"),
        "{text}"
    );
    assert!(
        lines[1].contains("骑缝章") && lines[1].contains("覆盖整个文件"),
        "{text}"
    );

    // pdfsig (poppler/NSS, trusting only ca.pem) agrees: one entry for the 公章 and one per
    // widget of the 骑缝章 (3 pages), every one valid and trusted.
    let sig = pdfsig(&dir, "two.pdf", "ca.pem");
    assert_pdfsig_all_valid_and_trusted(&sig, 4);
}

/// pdfsig's report on `file`, with a fresh NSS database that trusts only `anchor`.
fn pdfsig(dir: &Path, file: &str, anchor: &str) -> String {
    let nss = dir.join(format!("nss-{}", anchor.replace('.', "-")));
    if !nss.exists() {
        std::fs::create_dir_all(&nss).expect("nss dir");
        let db = format!("sql:{}", nss.display());
        tool(dir, "certutil", &["-N", "-d", &db, "--empty-password"]);
        tool(
            dir,
            "certutil",
            &[
                "-A", "-d", &db, "-n", "anchor", "-t", "CT,C,C", "-i", anchor,
            ],
        );
    }
    let o = Command::new("pdfsig")
        .arg("-nssdir")
        .arg(format!("sql:{}", nss.display()))
        .arg(dir.join(file))
        .output()
        .expect("pdfsig must be installed");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exactly `entries` signature entries, each "Signature is Valid" and "Certificate is
/// Trusted", and no "Unknown issue" anywhere.
fn assert_pdfsig_all_valid_and_trusted(report: &str, entries: usize) {
    assert_eq!(
        report.matches("Signature Validation:").count(),
        entries,
        "{report}"
    );
    assert_eq!(
        report.matches("Signature is Valid").count(),
        entries,
        "{report}"
    );
    assert_eq!(
        report.matches("Certificate is Trusted").count(),
        entries,
        "{report}"
    );
    assert!(!report.contains("Unknown issue"), "{report}");
}

/// A root, an issuing CA under it and a leaf under that (`root.pem`, `inter.pem`,
/// `leaf3.pem`/`leaf3.key`), and `chain.pem` = leaf + issuing CA, as CAs hand them out.
fn three_level_pki(dir: &Path) {
    bidseal_testkit::three_level(
        dir,
        "/CN=CLI Root CA",
        "/CN=CLI Issuing CA",
        "leaf3",
        "/CN=王五/O=某某公司",
    );
}

#[test]
fn chain_file_with_the_leaf_seals_twice_and_pdfsig_trusts_every_widget() {
    let dir = fixture("chain");
    three_level_pki(&dir);
    // `--chain chain.pem` holds the leaf again (this failed with "SET OF contains duplicate");
    // the root comes from --trust and is embedded, so poppler/NSS can build the path.
    let signer3 = [
        "--key",
        "leaf3.key",
        "--cert",
        "leaf3.pem",
        "--chain",
        "chain.pem",
        "--trust",
        "root.pem",
        "--image",
        "seal.png",
    ];
    let mut args = vec!["seal", "in.pdf", "one.pdf"];
    args.extend(signer3);
    args.extend(["--page", "1", "--rect", "100,100,120,120"]);
    let out = bidseal(&args, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second seal by the same certificate, with one widget on each of the three pages.
    let mut args = vec!["seal", "one.pdf", "two.pdf"];
    args.extend(signer3);
    args.extend([
        "--pages",
        "1-3",
        "--rect",
        "300,300,100,100",
        "--kind",
        "法人章",
    ]);
    let out = bidseal(&args, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = pdfsig(&dir, "two.pdf", "root.pem");
    assert_pdfsig_all_valid_and_trusted(&sig, 4);
    let out = bidseal(&["verify", "two.pdf", "--trust", "root.pem"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A chain file that does not connect (root without the issuing CA) is explained.
    let mut args = vec!["seal", "in.pdf", "bad.pdf"];
    args.extend([
        "--key",
        "leaf3.key",
        "--cert",
        "leaf3.pem",
        "--chain",
        "root.pem",
        "--image",
        "seal.png",
        "--rect",
        "100,100,120,120",
    ]);
    let out = bidseal(&args, &dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("E_CERT_CHAIN_BROKEN") && err.contains("CLI Issuing CA"),
        "{err}"
    );
    assert!(!dir.join("bad.pdf").exists());
}

#[test]
fn verify_without_the_right_trust_anchor_fails() {
    let dir = fixture("untrusted");
    let mut args = vec!["seal", "in.pdf", "one.pdf"];
    args.extend(SIGNER);
    args.extend(["--rect", "100,100,120,120"]);
    assert!(bidseal(&args, &dir).status.success());
    // Another CA (same name, different key) is not the issuer.
    bidseal_testkit::root_ca(&dir, "other", "/CN=CLI Test CA", 30);
    let out = bidseal(&["verify", "one.pdf", "--trust", "other.pem"], &dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("[无效]"));
}

#[test]
fn bad_input_gives_a_zh_cn_error_and_no_output() {
    let dir = fixture("bad");
    std::fs::write(dir.join("notes.pdf"), "只是一段文字").expect("write");
    let mut args = vec!["seal", "notes.pdf", "out.pdf"];
    args.extend(SIGNER);
    args.extend(["--rect", "100,100,120,120"]);
    let out = bidseal(&args, &dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E_PDF_NOT_PDF") && err.contains("不是 PDF"),
        "{err}"
    );
    assert!(!dir.join("out.pdf").exists());

    // Output = input is refused before anything is written.
    let mut args = vec!["seal", "in.pdf", "in.pdf"];
    args.extend(SIGNER);
    args.extend(["--rect", "100,100,120,120"]);
    let out = bidseal(&args, &dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("E_SAME_FILE"));

    // A page that does not exist.
    let mut args = vec!["seal", "in.pdf", "out.pdf"];
    args.extend(SIGNER);
    args.extend(["--page", "9", "--rect", "100,100,120,120"]);
    let out = bidseal(&args, &dir);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("超出范围"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("out.pdf").exists());
    let leftovers = std::fs::read_dir(&dir)
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".bidseal-"))
        .count();
    assert_eq!(leftovers, 0);
}
