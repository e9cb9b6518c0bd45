//! Test support, for tests only (a dev-dependency; `publish = false`): a test PKI made with the
//! `openssl` command — an implementation independent of BidSeal's own certificate code, so
//! that what our code accepts or refuses is decided on certificates it did not make.
//!
//! One builder for every test that needs CA and leaf certificates (it replaces three copies in
//! crates/cms, crates/pdf and the CLI tests). Files are written into the test's folder by name:
//! `NAME.pem` (certificate), `NAME.key` (PKCS#8 P-256 private key, unencrypted), plus the
//! openssl side files `NAME.csr`, `NAME.ext`, `ISSUER.srl`.
//!
//! Guarantees: every key is P-256; CA certificates carry `basicConstraints=critical,CA:TRUE`
//! and `keyUsage=critical,keyCertSign,cRLSign`; leaves carry `basicConstraints=CA:FALSE` and
//! the key usage asked for; subjects are UTF-8 (`-utf8`). A failing openssl call panics with
//! its stderr (this is test code). Does not: make anything a production path could use.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `openssl ARGS` in `dir`; panics with openssl's stderr if it fails or is missing.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl must be installed (scripts/setup.sh): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh, empty folder `bidseal-PREFIX-NAME-PID` under the system's temporary folder.
pub fn tempdir(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bidseal-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("temporary folder {}: {e}", dir.display()));
    dir
}

const CA_EXTENSIONS: &str =
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text)
        .unwrap_or_else(|e| panic!("writing {file} in {}: {e}", dir.display()));
}

/// A P-256 key `NAME.key` (PKCS#8).
pub fn key(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &format!("{name}.key"),
        ],
    );
}

/// A self-signed root CA `NAME.pem` / `NAME.key` with `subject` (`/CN=…/O=…`), valid `days`.
pub fn root_ca(dir: &Path, name: &str, subject: &str, days: u32) {
    key(dir, name);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-utf8",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            &days.to_string(),
            "-subj",
            subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A self-signed certificate that is not a CA (a platform's signing identity), with the
/// default extensions of `openssl req -x509`. Returns (key, certificate) paths.
pub fn self_signed(dir: &Path, name: &str, subject: &str, days: u32) -> (PathBuf, PathBuf) {
    key(dir, name);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-utf8",
            "-sha256",
            "-key",
            &format!("{name}.key"),
            "-days",
            &days.to_string(),
            "-subj",
            subject,
            "-out",
            &format!("{name}.crt"),
        ],
    );
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.crt")),
    )
}

/// Issues `NAME.pem` (new key `NAME.key`) from the CA `issuer` (`ISSUER.pem`/`ISSUER.key` in
/// `dir`) with the extensions `extensions` (openssl extfile lines).
fn issue(dir: &Path, name: &str, issuer: &str, subject: &str, days: u32, extensions: &str) {
    key(dir, name);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-utf8",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subject,
        ],
    );
    write(dir, &format!("{name}.ext"), extensions);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-days",
            &days.to_string(),
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// An issuing (intermediate) CA `NAME.pem` / `NAME.key` under `issuer`.
pub fn issuing_ca(dir: &Path, name: &str, issuer: &str, subject: &str, days: u32) {
    issue(dir, name, issuer, subject, days, CA_EXTENSIONS);
}

/// A leaf `NAME.pem` / `NAME.key` under `issuer` with `key_usage` (e.g.
/// `digitalSignature,nonRepudiation`, `keyAgreement`).
pub fn leaf(dir: &Path, name: &str, issuer: &str, subject: &str, key_usage: &str, days: u32) {
    issue(
        dir,
        name,
        issuer,
        subject,
        days,
        &format!("basicConstraints=CA:FALSE\nkeyUsage=critical,{key_usage}\n"),
    );
}

/// Concatenates the certificates `NAMES` (`NAME.pem`, in order) into `file`, as CAs hand out
/// chains.
pub fn chain_file(dir: &Path, file: &str, names: &[&str]) {
    let text: String = names
        .iter()
        .map(|n| {
            std::fs::read_to_string(dir.join(format!("{n}.pem")))
                .unwrap_or_else(|e| panic!("{n}.pem: {e}"))
        })
        .collect();
    write(dir, file, &text);
}

/// The signing key usage of a bidder's or staff member's seal certificate.
pub const SIGNING: &str = "digitalSignature,nonRepudiation";

/// A root CA `CA` and a signing leaf `LEAF` under it: the most common test PKI.
pub fn ca_and_leaf(dir: &Path, ca: &str, ca_subject: &str, leaf_name: &str, leaf_subject: &str) {
    root_ca(dir, ca, ca_subject, 3650);
    leaf(dir, leaf_name, ca, leaf_subject, SIGNING, 365);
}

/// Three levels: root `root`, issuing CA `inter` under it, signing leaf `LEAF` under that, and
/// `chain.pem` = leaf + issuing CA (what CAs hand out; the root comes from a trust list).
pub fn three_level(
    dir: &Path,
    root_subject: &str,
    inter_subject: &str,
    leaf_name: &str,
    leaf_subject: &str,
) {
    root_ca(dir, "root", root_subject, 3650);
    issuing_ca(dir, "inter", "root", inter_subject, 1000);
    leaf(dir, leaf_name, "inter", leaf_subject, SIGNING, 365);
    chain_file(dir, "chain.pem", &[leaf_name, "inter"]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// The chain verifies with openssl itself; a leaf of another root does not; the leaf is
    /// no CA and its key is PKCS#8 P-256.
    #[test]
    fn three_levels_verify_with_openssl_and_a_stranger_does_not() {
        let dir = tempdir("testkit", "three");
        three_level(
            &dir,
            "/CN=Kit Root/O=Test CA",
            "/CN=Kit Issuing CA/O=Test CA",
            "leaf",
            "/CN=王五/O=某某公司",
        );
        let ok = text(
            &dir,
            &[
                "verify",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "inter.pem",
                "leaf.pem",
            ],
        );
        assert!(ok.contains("leaf.pem: OK"), "{ok}");
        let details = text(&dir, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        assert!(details.contains("CA:FALSE"), "{details}");
        assert!(
            details.contains("Digital Signature, Non Repudiation"),
            "{details}"
        );
        assert!(
            details.contains("prime256v1") || details.contains("P-256"),
            "{details}"
        );
        let key = std::fs::read_to_string(dir.join("leaf.key")).expect("key");
        assert!(
            key.starts_with("-----BEGIN PRIVATE KEY-----"),
            "PKCS#8: {key}"
        );
        let chain = std::fs::read_to_string(dir.join("chain.pem")).expect("chain");
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);

        let other = tempdir("testkit", "stranger");
        ca_and_leaf(&other, "ca", "/CN=Stranger CA", "leaf", "/CN=Mallory");
        let refused = text(
            &dir,
            &[
                "verify",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "inter.pem",
                &other.join("leaf.pem").display().to_string(),
            ],
        );
        assert!(!refused.contains(": OK"), "{refused}");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other);
    }
}
