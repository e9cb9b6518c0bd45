//! Shared helpers for the bid end-to-end tests: run the real `bidseal` binary and the
//! independent tools (openssl, qpdf, poppler, python's zipfile) on real files. A missing tool
//! fails the test with a message naming it; nothing is skipped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn demo() -> PathBuf {
    repo().join("assets/demo-tender")
}

/// Runs `bidseal` with the index pointed into `index_dir`.
pub fn bidseal(index_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bidseal"))
        .args(args)
        .env("BIDSEAL_INDEX", index_dir.join("index.sqlite"))
        // `phone init` takes its split keys from the test key pool (docs/key-split.md).
        .env(
            bidseal_phone::provision::TEST_KEY_POOL_ENV,
            bidseal_phone::provision::test_key_pool_dir(),
        )
        .output()
        .expect("the bidseal binary built by cargo runs")
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts failure with the given stable error code; returns stderr.
pub fn refused(out: &Output, code: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected refusal [{code}], but it succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        err.contains(&format!("[{code}]")),
        "expected error code [{code}], got: {err}"
    );
    err
}

/// Runs an external tool, failing loudly if it is not installed.
pub fn tool(name: &str, args: &[&str]) -> Output {
    Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("validator `{name}` is required (scripts/setup.sh installs it): {e}")
    })
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Generates a P-256 key and a self-signed platform certificate with openssl
/// (`NAME.key`, `NAME.crt`).
pub fn platform_identity(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    bidseal_testkit::self_signed(dir, name, &format!("/O=Test/CN={name}"), 30)
}

/// Makes a signed tender package from the demo spec, with a fresh platform identity.
/// Returns (package, platform certificate, platform key).
pub fn make_tender(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (key, cert) = platform_identity(dir, "platform");
    let out = dir.join("t.tender.zip");
    let d = demo();
    ok(&bidseal(
        dir,
        &[
            "tender",
            "make",
            "--spec",
            s(&d.join("spec.json")),
            "--pdf",
            s(&d.join("tender.pdf")),
            "--ca",
            s(&d.join("ca-demo-1.pem")),
            "--ca",
            s(&d.join("ca-demo-2.pem")),
            "--key",
            s(&key),
            "--cert",
            s(&cert),
            "--out",
            s(&out),
        ],
    ));
    (out, cert, key)
}

/// Rewrites a zip with python's zipfile: `script` gets `entries` (dict name -> bytes) to edit.
pub fn rewrite_zip(src: &Path, dst: &Path, script: &str) {
    let program = format!(
        "import sys, zipfile\n\
         src, dst = sys.argv[1], sys.argv[2]\n\
         entries = {{}}\n\
         with zipfile.ZipFile(src) as z:\n    \
             for n in z.namelist(): entries[n] = z.read(n)\n\
         {script}\n\
         with zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as z:\n    \
             for n, b in entries.items(): z.writestr(n, b)\n"
    );
    ok(&tool("python3", &["-c", &program, s(src), s(dst)]));
}

/// Extracts one zip entry to a file.
pub fn extract(src: &Path, name: &str, dst: &Path) {
    let program = "import sys, zipfile\nopen(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))";
    ok(&tool("python3", &["-c", program, s(src), name, s(dst)]));
}

/// A temporary folder removed on drop (the root package has no tempfile dev-dependency).
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "bidseal-test-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
