//! Scenario: a bidder hands over certificates the way CAs and tools deliver them — a chain
//! file that starts with the leaf again, certificates in any order, duplicates — and the
//! signature embeds each certificate once: leaf, path upwards, root when known. A chain that
//! does not connect is refused with words that say where it breaks.

mod test_pki;

use bidseal_cms::cert::{signing_chain, Certificate};
use bidseal_cms::signed_data::{sha256, sign_detached, AttributeProfile, LocalKeySigner, Signer};
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::task::{Context, Poll, Waker};
use test_pki::{make_three_level, openssl, tempdir};

fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("local signer should complete immediately"),
    }
}

fn cert(dir: &Path, name: &str) -> Certificate {
    Certificate::load_pem_chain(&dir.join(name))
        .unwrap()
        .remove(0)
}

fn subjects(chain: &[Certificate]) -> Vec<String> {
    chain
        .iter()
        .map(|c| c.common_name().unwrap_or_default())
        .collect()
}

#[test]
fn leaf_duplicates_and_any_order_give_leaf_then_path_then_root() {
    let dir = tempdir("chain-order");
    make_three_level(&dir);
    let (leaf, inter, root) = (
        cert(&dir, "leaf.pem"),
        cert(&dir, "inter.pem"),
        cert(&dir, "root.pem"),
    );
    let expected = vec!["王五", "Chain Test Issuing CA", "Chain Test Root"];
    // Root in the given certificates, everything twice, upside down.
    let given = vec![
        root.clone(),
        inter.clone(),
        leaf.clone(),
        inter.clone(),
        leaf.clone(),
    ];
    assert_eq!(
        subjects(&signing_chain(&leaf, &given, &[]).unwrap()),
        expected
    );
    // Root only known from the trust anchors (unrelated anchors are fine).
    let other = tempdir("chain-order-other");
    make_three_level(&other);
    let roots = vec![cert(&other, "root.pem"), root.clone()];
    assert_eq!(
        subjects(&signing_chain(&leaf, std::slice::from_ref(&inter), &roots).unwrap()),
        expected
    );
    // Root unknown: the path stops at the issuing CA, which is not an error.
    assert_eq!(
        subjects(&signing_chain(&leaf, &[leaf.clone(), inter.clone()], &[]).unwrap()),
        expected[..2]
    );
}

#[test]
fn a_chain_file_that_contains_the_leaf_signs_and_openssl_verifies() {
    let dir = tempdir("chain-file");
    make_three_level(&dir);
    // `--cert leaf.pem --chain chain.pem` where chain.pem = leaf + issuing CA, root as anchor:
    // this failed with "SET OF contains duplicate" before.
    let signer = LocalKeySigner::from_files_with_roots(
        &dir.join("leaf.key"),
        &dir.join("leaf.pem"),
        &[&dir.join("chain.pem")],
        &[cert(&dir, "root.pem")],
    )
    .unwrap();
    assert_eq!(signer.certificate_chain().len(), 3);
    let content = b"bid manifest".repeat(50);
    let der = ready(sign_detached(
        &signer,
        sha256(&content),
        AttributeProfile::Pades,
        "test",
    ))
    .unwrap();
    std::fs::write(dir.join("sig.der"), &der).unwrap();
    std::fs::write(dir.join("content.bin"), &content).unwrap();
    // Each certificate is embedded exactly once.
    openssl(
        &dir,
        &[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            "sig.der",
            "-out",
            "print.txt",
        ],
    );
    let print = std::fs::read_to_string(dir.join("print.txt")).unwrap();
    assert_eq!(print.matches("subject: ").count(), 3, "{print}");
    // openssl finds the whole path in the signature with only the root as anchor.
    let out = Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.der",
        ])
        .args([
            "-content",
            "content.bin",
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
        ])
        .args(["-out", "/dev/null"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Key and certificates in another order: the leaf is the one matching the key.
    let signer = LocalKeySigner::from_files(
        &dir.join("leaf.key"),
        &dir.join("inter.pem"),
        &[&dir.join("chain.pem"), &dir.join("root.pem")],
    )
    .unwrap();
    assert_eq!(
        subjects(signer.certificate_chain()),
        ["王五", "Chain Test Issuing CA", "Chain Test Root"]
    );
}

#[test]
fn a_broken_path_is_explained() {
    let dir = tempdir("chain-broken");
    make_three_level(&dir);
    let (leaf, root) = (cert(&dir, "leaf.pem"), cert(&dir, "root.pem"));
    // The issuing CA is missing: leaf + root do not connect.
    let err = signing_chain(&leaf, std::slice::from_ref(&root), &[]).unwrap_err();
    assert_eq!(err.code(), "E_CERT_CHAIN_BROKEN");
    let msg = err.to_string();
    assert!(
        msg.contains("Chain Test Issuing CA") && msg.contains("中断") && msg.contains("缺少"),
        "{msg}"
    );
    // A same-named issuing CA with another key.
    let other = tempdir("chain-broken-other");
    make_three_level(&other);
    let err = signing_chain(&leaf, &[cert(&other, "inter.pem")], &[]).unwrap_err();
    assert_eq!(err.code(), "E_CERT_CHAIN_BROKEN");
    assert!(err.to_string().contains("同名"), "{err}");
    // An unrelated certificate in the chain file (someone else's leaf).
    let err = signing_chain(
        &leaf,
        &[cert(&dir, "inter.pem"), cert(&other, "leaf.pem")],
        &[],
    )
    .unwrap_err();
    assert_eq!(err.code(), "E_CERT_CHAIN_BROKEN");
    // A key that matches none of the certificates.
    let err = LocalKeySigner::from_files(&other.join("leaf.key"), &dir.join("chain.pem"), &[])
        .unwrap_err();
    assert_eq!(err.code(), "E_SIG_KEY_MISMATCH");
}
