//! Scenario: an attacker hands a bidder small PDFs that claim huge structures (an xref stream
//! of 32 M entries per section, a table of 10 M rows, an object stream of 1 M objects, an array
//! of 8 M values, a stream that inflates to 64 MiB, a predictor with gigantic rows, a catalog of
//! 100 000 keys). The real `bidseal seal` and `bidseal verify` binaries run under a 512 MB
//! address-space limit and a 20 s timeout: each file is refused with a clear `E_PDF_*` code (or
//! handled in time), never an abort on allocation failure, a hang, or a crash.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tool(dir: &Path, program: &str, args: &[&str]) -> Output {
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
    out
}

/// Key, certificate, seal image and the bombs (made by `make_bombs.py`) in a fresh folder.
fn fixture() -> (PathBuf, Vec<String>) {
    let dir = bidseal_testkit::tempdir("bombs", "pdf");
    // A self-signed signing certificate is enough: these PDFs are refused before any trust.
    bidseal_testkit::self_signed(&dir, "leaf", "/CN=Bomb Test", 30);
    tool(&dir, "convert", &["-size", "60x60", "xc:red", "seal.png"]);
    let tools = std::env::var("BIDSEAL_TOOLS_DIR").unwrap_or_else(|_| "/var/cache/bidseal".into());
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/pdf/tests/corpus/make_bombs.py");
    let out = tool(
        &dir,
        &format!("{tools}/venv/bin/python"),
        &[script.to_str().expect("utf8"), "."],
    );
    let names = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (dir, names)
}

/// Runs the bidseal binary under `prlimit --as=512MB` and `timeout 20`.
fn limited(dir: &Path, args: &[&str]) -> Output {
    Command::new("prlimit")
        .arg("--as=536870912")
        .args(["timeout", "20"])
        .arg(env!("CARGO_BIN_EXE_bidseal"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("prlimit and timeout (util-linux, coreutils) must be installed")
}

/// Ended by itself (not a signal, not the timeout), and not by a panic.
fn assert_clean_exit(what: &str, out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c != 124 && c != 101),
        "{what}: killed, timed out or panicked ({:?}):\n{err}",
        out.status
    );
    assert!(
        !err.contains("memory allocation") && !err.contains("panicked"),
        "{what}: {err}"
    );
}

#[test]
fn hostile_pdfs_are_refused_within_memory_and_time_limits() {
    let (dir, names) = fixture();
    assert!(names.len() >= 7, "{names:?}");
    let mut report = Vec::new();
    for name in &names {
        let _ = std::fs::remove_file(dir.join("out.pdf"));
        let seal = limited(
            &dir,
            &[
                "seal",
                name,
                "out.pdf",
                "--key",
                "leaf.key",
                "--cert",
                "leaf.crt",
                "--image",
                "seal.png",
                "--rect",
                "10,10,50,50",
            ],
        );
        assert_clean_exit(&format!("seal {name}"), &seal);
        let verify = limited(&dir, &["verify", name, "--trust", "leaf.crt"]);
        assert_clean_exit(&format!("verify {name}"), &verify);
        let seal_err = String::from_utf8_lossy(&seal.stderr).into_owned();
        let verify_out = format!(
            "{}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        report.push(format!("{name}: seal {seal_err} verify {verify_out}"));
        if name == "many-keys.pdf" {
            // Large but honest: sealed in time (a quadratic key check would not finish).
            assert!(seal.status.success(), "{seal_err}");
            continue;
        }
        assert!(!seal.status.success(), "seal {name} succeeded");
        assert!(seal_err.contains("[E_PDF_"), "seal {name}: {seal_err}");
        assert!(!dir.join("out.pdf").exists(), "seal {name} left an output");
        // verify either refuses with a code or finds nothing to verify (it loads no pages).
        assert!(
            verify_out.contains("[E_PDF_") || verify_out.contains("[无签名]"),
            "verify {name}: {verify_out}"
        );
    }
    let find = |n: &str| {
        report
            .iter()
            .find(|l| l.starts_with(n))
            .cloned()
            .unwrap_or_default()
    };
    let bomb = find("xref-stream-bomb.pdf");
    assert_eq!(bomb.matches("E_PDF_XREF_TOO_LARGE").count(), 2, "{bomb}");
    assert!(find("flate-bomb.pdf").contains("E_PDF_FLATE_BOMB"));
    assert!(find("array-bomb.pdf").contains("E_PDF_OBJECT_TOO_LARGE"));
}
