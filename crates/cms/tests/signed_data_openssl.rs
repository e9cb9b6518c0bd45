//! Scenario: a bid manifest / PDF byte range is signed through the `Signer` trait with a local
//! PKCS#8 key; `openssl cms -verify` (an independent implementation) accepts the detached
//! SignedData, and our own verification reports digest, signature and chain.

mod test_pki;

use bidseal_cms::cert::TrustStore;
use bidseal_cms::signed_data::{
    sha256, sign_detached, verify_detached, AttributeProfile, LocalKeySigner, SignedAttributes,
    Signer,
};
use std::future::Future;
use std::process::Command;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;
use test_pki::{make_ca_and_leaf, tempdir};

/// Polls a future that is ready at once (the local signer never waits).
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("local signer should complete immediately"),
    }
}

fn openssl_verifies(dir: &std::path::Path, sig: &[u8], content: &[u8]) -> bool {
    std::fs::write(dir.join("sig.der"), sig).unwrap();
    std::fs::write(dir.join("content.bin"), content).unwrap();
    let out = Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.der",
        ])
        .args([
            "-content",
            "content.bin",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ])
        .current_dir(dir)
        .output()
        .expect("openssl must be installed");
    out.status.success()
}

#[test]
fn pades_signed_data_from_local_key_verifies_in_openssl_and_here() {
    let dir = tempdir("sd-pades");
    make_ca_and_leaf(&dir, "ca", "leaf");
    let signer =
        LocalKeySigner::from_files(&dir.join("leaf.key"), &dir.join("leaf.pem"), &[]).unwrap();
    let content = "投标文件 第一章 商务部分".repeat(100).into_bytes();
    let digest = sha256(&content);
    let der = ready(sign_detached(
        &signer,
        digest,
        AttributeProfile::Pades,
        "测试",
    ))
    .unwrap();
    assert!(
        openssl_verifies(&dir, &der, &content),
        "openssl cms -verify rejected our SignedData"
    );
    assert!(
        !openssl_verifies(&dir, &der, b"tampered"),
        "openssl accepted other content"
    );

    let mut trust = TrustStore::new();
    trust.add_pem_file(&dir.join("ca.pem")).unwrap();
    // Zero padding as in a PDF /Contents placeholder is accepted.
    let mut padded = der.clone();
    padded.resize(der.len() + 500, 0);
    let report = verify_detached(&padded, &digest, &trust, SystemTime::now()).unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert!(
        report.signing_time.is_none(),
        "PAdES must not carry signingTime"
    );
    assert_eq!(report.signer.common_name().as_deref(), Some("张三"));

    let wrong = verify_detached(&der, &sha256(b"other"), &trust, SystemTime::now()).unwrap();
    assert!(!wrong.digest_matches && !wrong.is_valid());
    let untrusted = verify_detached(&der, &digest, &TrustStore::new(), SystemTime::now()).unwrap();
    assert!(untrusted.chain.is_err());
}

#[test]
fn raw_and_der_signature_values_are_both_accepted_and_a_foreign_key_is_refused() {
    let dir = tempdir("sd-raw");
    make_ca_and_leaf(&dir, "ca", "leaf");
    make_ca_and_leaf(&dir, "ca2", "other");
    let signer =
        LocalKeySigner::from_files(&dir.join("leaf.key"), &dir.join("leaf.pem"), &[]).unwrap();
    let other =
        LocalKeySigner::from_files(&dir.join("other.key"), &dir.join("other.pem"), &[]).unwrap();
    let digest = sha256(b"manifest");
    let attrs = SignedAttributes::new(
        digest,
        signer.certificate_chain().to_vec(),
        AttributeProfile::CmsWithSigningTime(SystemTime::now()),
    )
    .unwrap();
    // Persist and restore the pending attributes, as an interrupted signing would.
    let tbs = attrs.to_be_signed().unwrap();
    let restored = SignedAttributes::from_parts(&tbs, attrs.chain().to_vec()).unwrap();
    let req = bidseal_cms::signed_data::SignRequest {
        to_be_signed: tbs,
        content_digest: digest,
        description: String::new(),
    };
    let raw = ready(signer.sign(&req)).unwrap();
    assert_eq!(raw.len(), 64);
    let from_raw = restored.assemble(&raw).unwrap();
    assert!(openssl_verifies(&dir, &from_raw, b"manifest"));
    let der_sig = p256::ecdsa::Signature::from_slice(&raw)
        .unwrap()
        .to_der()
        .as_bytes()
        .to_vec();
    assert!(restored.assemble(&der_sig).is_ok());
    let foreign = ready(other.sign(&req)).unwrap();
    assert_eq!(
        restored.assemble(&foreign).unwrap_err().code(),
        "E_SIG_KEY_MISMATCH"
    );
    assert_eq!(
        restored.assemble(&[1, 2, 3]).unwrap_err().code(),
        "E_SIG_VALUE_FORMAT"
    );
    // A key that does not match the certificate is refused when the signer is built.
    let err =
        LocalKeySigner::from_files(&dir.join("other.key"), &dir.join("leaf.pem"), &[]).unwrap_err();
    assert_eq!(err.code(), "E_SIG_KEY_MISMATCH");
}
