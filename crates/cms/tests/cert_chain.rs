//! Scenario: a bidder's certificate issued by a CA made with `openssl` (not our code) is read
//! and trusted through the multi-CA trust store; a certificate from an unknown CA is refused.

use bidseal_cms::cert::{Certificate, KeyUsages, TrustStore};
mod test_pki;
use std::time::{Duration, SystemTime};
use test_pki::{make_ca_and_leaf, tempdir};

#[test]
fn bidder_certificate_from_openssl_ca_is_read_and_trusted() {
    let dir = tempdir("trusted");
    make_ca_and_leaf(&dir, "ca", "leaf");
    let leaf = Certificate::load_pem_chain(&dir.join("leaf.pem"))
        .unwrap()
        .remove(0);
    let ca = Certificate::load_pem_chain(&dir.join("ca.pem"))
        .unwrap()
        .remove(0);

    assert_eq!(leaf.common_name().as_deref(), Some("张三"));
    assert_eq!(leaf.organization().as_deref(), Some("某某建设工程有限公司"));
    assert_eq!(leaf.credit_code().as_deref(), Some("91350100M000100Y43"));
    assert!(leaf.allows(KeyUsages::DigitalSignature));
    assert!(!leaf.allows(KeyUsages::KeyCertSign));
    assert!(!leaf.is_ca());
    assert!(ca.is_ca());
    assert!(leaf.p256_public_key().is_ok());
    assert_eq!(leaf.issuer_and_serial().issuer, *ca.subject());

    let store = TrustStore::with_roots([ca.clone()]);
    let path = store.verify_chain(&leaf, &[], SystemTime::now()).unwrap();
    assert_eq!(path.len(), 2);
    assert_eq!(path[1], ca);

    // Two years from now the leaf (365 days) has expired.
    let later = SystemTime::now() + Duration::from_secs(2 * 365 * 86400);
    assert_eq!(
        store.verify_chain(&leaf, &[], later).unwrap_err().code(),
        "E_CERT_EXPIRED"
    );
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let dir = tempdir("untrusted");
    make_ca_and_leaf(&dir, "ca1", "leaf1");
    make_ca_and_leaf(&dir, "ca2", "leaf2");
    let leaf2 = Certificate::load_pem_chain(&dir.join("leaf2.pem"))
        .unwrap()
        .remove(0);
    let mut store = TrustStore::new();
    store.add_pem_file(&dir.join("ca1.pem")).unwrap();
    let err = store
        .verify_chain(&leaf2, &[], SystemTime::now())
        .unwrap_err();
    assert_eq!(err.code(), "E_CERT_UNTRUSTED");
    // Trusting the second CA as well (互认, several CAs) makes leaf2 acceptable.
    store.add_pem_file(&dir.join("ca2.pem")).unwrap();
    assert!(store.verify_chain(&leaf2, &[], SystemTime::now()).is_ok());
}
