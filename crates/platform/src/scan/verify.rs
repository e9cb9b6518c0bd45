//! Checks the phone's `auth` answer and reads who it is: the chain must reach a CA the
//! platform trusts and be valid now, the leaf's key must have signed this scan's transcript
//! hash, and the leaf must name an enterprise (O) and its unified social credit code.
//!
//! Does not: decide about accounts (the caller does), check revocation.

use super::{CertificateSummary, Company, ScanRefusal};
use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_scan::{AuthResponse, Digest32};
use bidseal_workflow::phone_adapters::{parse_chain, verify_prehash};
use bidseal_workflow::FlowError;
use std::time::SystemTime;

/// A verified certificate of a company (or of one of its staff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// Enterprise name (O) and credit code from the subject.
    pub company: Company,
    /// Subject CN: the person for a staff certificate, the company for an enterprise one.
    pub holder: String,
    /// Issuer CN.
    pub issuer: String,
    /// SHA-256 of the leaf DER, lower-case hex.
    pub fingerprint: String,
    /// Serial number, hex.
    pub serial: String,
    /// Full subject, for records.
    pub subject: String,
    /// Leaf DER.
    pub leaf_der: Vec<u8>,
}

impl CertIdentity {
    /// What the page shows of it.
    pub fn summary(&self) -> CertificateSummary {
        CertificateSummary {
            holder: self.holder.clone(),
            fingerprint: self.fingerprint.clone(),
            issuer: self.issuer.clone(),
        }
    }

    /// Reads the identity of an already verified leaf.
    pub fn of_leaf(leaf: &Certificate) -> Result<Self, ScanRefusal> {
        let name = leaf
            .organization()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or(ScanRefusal::NotACompanyCertificate {
                missing: "企业名称",
            })?;
        let uscc = leaf
            .credit_code()
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| s.len() == 18 && s.chars().all(|c| c.is_ascii_alphanumeric()))
            .ok_or(ScanRefusal::NotACompanyCertificate {
                missing: "统一社会信用代码",
            })?;
        Ok(CertIdentity {
            company: Company { uscc, name },
            holder: leaf.common_name().unwrap_or_default(),
            issuer: issuer_cn(leaf),
            fingerprint: hex(&leaf.sha256_fingerprint()),
            serial: leaf.serial_hex(),
            subject: leaf.subject_string(),
            leaf_der: leaf.der().to_vec(),
        })
    }
}

fn issuer_cn(leaf: &Certificate) -> String {
    leaf.issuer()
        .to_string()
        .split(',')
        .find_map(|part| part.trim().strip_prefix("CN=").map(str::to_string))
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bad(e: FlowError) -> ScanRefusal {
    match e {
        FlowError::BadPhoneAnswer { detail } => ScanRefusal::BadAnswer { detail },
        other => ScanRefusal::BadAnswer {
            detail: other.to_string(),
        },
    }
}

/// Verifies an `auth` answer against `expected` (the transcript hash of this scan) and the
/// platform's `trust` at `at`; returns who signed.
pub fn identify(
    response: &AuthResponse,
    expected: &Digest32,
    trust: &TrustStore,
    at: SystemTime,
) -> Result<CertIdentity, ScanRefusal> {
    let chain = parse_chain(&response.certificate_chain).map_err(bad)?;
    let leaf = &chain[0];
    trust
        .verify_chain(leaf, &chain[1..], at)
        .map_err(|e| ScanRefusal::Untrusted {
            subject: leaf.subject_string(),
            why: e.to_string(),
        })?;
    verify_prehash(leaf, &expected.0, &response.signature.0).map_err(bad)?;
    CertIdentity::of_leaf(leaf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_phone::pki::{cert_pem, standard_specs, IssuedCert, TestCa};
    use bidseal_scan::Bytes;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::DecodePrivateKey;

    fn cms(cert: &x509_cert::Certificate) -> Certificate {
        Certificate::from_pem(cert_pem(cert).expect("pem").as_bytes()).expect("cert")
    }

    struct Fixture {
        trust: TrustStore,
        leaf: IssuedCert,
        other: IssuedCert,
        stranger_ca: TestCa,
    }

    fn fixture() -> Fixture {
        let ca = TestCa::generate("ca-1", "测试CA 一").expect("ca");
        let specs = standard_specs().expect("specs");
        let leaf = ca.issue(&specs[0]).expect("leaf");
        let other = ca.issue(&specs[5]).expect("other");
        // Same CA name, another key: what a forger would make.
        let stranger_ca = TestCa::generate("ca-1", "测试CA 一").expect("stranger");
        Fixture {
            trust: TrustStore::with_roots([cms(&ca.cert)]),
            leaf,
            other,
            stranger_ca,
        }
    }

    fn chain(issued: &IssuedCert) -> Vec<Bytes> {
        vec![
            Bytes(cms(&issued.cert).der().to_vec()),
            Bytes(cms(&issued.issuer).der().to_vec()),
        ]
    }

    fn sign(issued: &IssuedCert, digest: &Digest32) -> Bytes {
        let key = SigningKey::from_pkcs8_der(
            issued
                .key_pkcs8
                .as_deref()
                .expect("ca.issue makes a plain key"),
        )
        .expect("key");
        let sig: Signature = key.sign_prehash(&digest.0).expect("sign");
        Bytes(sig.to_der().as_bytes().to_vec())
    }

    fn answer(chain: Vec<Bytes>, signature: Bytes) -> AuthResponse {
        AuthResponse {
            certificate_chain: chain,
            signature,
            signed_at: 0,
        }
    }

    #[test]
    fn a_valid_answer_names_the_company_and_credit_code() {
        let f = fixture();
        let hash = Digest32::of(b"transcript");
        let id = identify(
            &answer(chain(&f.leaf), sign(&f.leaf, &hash)),
            &hash,
            &f.trust,
            SystemTime::now(),
        )
        .expect("identified");
        assert_eq!(id.company.name, "华夏建设工程有限公司");
        assert_eq!(id.company.uscc.len(), 18);
        assert_eq!(id.fingerprint.len(), 64);
        assert_eq!(id.issuer, "测试CA 一", "{}", cms(&f.leaf.cert).issuer());
    }

    #[test]
    fn a_signature_over_another_transcript_or_by_another_key_is_refused() {
        let f = fixture();
        let hash = Digest32::of(b"transcript");
        // Signed for another scan.
        let other_scan = sign(&f.leaf, &Digest32::of(b"another scan"));
        let r = identify(
            &answer(chain(&f.leaf), other_scan),
            &hash,
            &f.trust,
            SystemTime::now(),
        );
        assert!(matches!(r, Err(ScanRefusal::BadAnswer { .. })), "{r:?}");
        // Huaxia's chain with Jiangnan's signature.
        let r = identify(
            &answer(chain(&f.leaf), sign(&f.other, &hash)),
            &hash,
            &f.trust,
            SystemTime::now(),
        );
        assert!(matches!(r, Err(ScanRefusal::BadAnswer { .. })), "{r:?}");
        // One changed byte of a good signature.
        let mut sig = sign(&f.leaf, &hash);
        let last = sig.0.len() - 1;
        sig.0[last] ^= 1;
        let r = identify(
            &answer(chain(&f.leaf), sig),
            &hash,
            &f.trust,
            SystemTime::now(),
        );
        assert!(matches!(r, Err(ScanRefusal::BadAnswer { .. })), "{r:?}");
    }

    #[test]
    fn a_chain_from_a_same_named_forged_ca_or_an_expired_leaf_is_untrusted() {
        let f = fixture();
        let hash = Digest32::of(b"transcript");
        let specs = standard_specs().expect("specs");
        let forged = f.stranger_ca.issue(&specs[0]).expect("forged");
        let r = identify(
            &answer(chain(&forged), sign(&forged, &hash)),
            &hash,
            &f.trust,
            SystemTime::now(),
        );
        assert!(matches!(r, Err(ScanRefusal::Untrusted { .. })), "{r:?}");
        // The genuine leaf, three years from now (valid 730 days).
        let later = SystemTime::now() + std::time::Duration::from_secs(3 * 365 * 86_400);
        let r = identify(
            &answer(chain(&f.leaf), sign(&f.leaf, &hash)),
            &hash,
            &f.trust,
            later,
        );
        assert!(matches!(r, Err(ScanRefusal::Untrusted { .. })), "{r:?}");
    }

    #[test]
    fn garbage_and_empty_chains_are_refused_without_panicking() {
        let f = fixture();
        let hash = Digest32::of(b"transcript");
        for bad_chain in [vec![], vec![Bytes(vec![0x30, 0x03, 1, 2, 3])]] {
            let r = identify(
                &answer(bad_chain, Bytes(vec![])),
                &hash,
                &f.trust,
                SystemTime::now(),
            );
            assert!(matches!(r, Err(ScanRefusal::BadAnswer { .. })), "{r:?}");
        }
        let r = identify(
            &answer(chain(&f.leaf), Bytes(vec![1, 2, 3])),
            &hash,
            &f.trust,
            SystemTime::now(),
        );
        assert!(matches!(r, Err(ScanRefusal::BadAnswer { .. })), "{r:?}");
    }
}
