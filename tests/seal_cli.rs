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
    let dir = std::env::temp_dir().join(format!("bidseal-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let o = |args: &[&str]| tool(&dir, "openssl", args);
    o(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=CLI Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    o(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "leaf.key",
    ]);
    o(&[
        "req",
        "-new",
        "-utf8",
        "-key",
        "leaf.key",
        "-subj",
        "/CN=李四/O=某某招标代理有限公司",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )
    .expect("ext");
    o(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
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

    // pdfsig (poppler) agrees.
    let o = Command::new("pdfsig")
        .arg(dir.join("two.pdf"))
        .output()
        .expect("pdfsig must be installed");
    let sig = String::from_utf8_lossy(&o.stdout);
    assert!(sig.matches("Signature is Valid").count() >= 2, "{sig}");
}

#[test]
fn verify_without_the_right_trust_anchor_fails() {
    let dir = fixture("untrusted");
    let mut args = vec!["seal", "in.pdf", "one.pdf"];
    args.extend(SIGNER);
    args.extend(["--rect", "100,100,120,120"]);
    assert!(bidseal(&args, &dir).status.success());
    // Another CA (same name, different key) is not the issuer.
    tool(
        &dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-days",
            "30",
            "-subj",
            "/CN=CLI Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
    );
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
