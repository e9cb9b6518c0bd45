//! The platform's signature over the manifest: ECDSA P-256 with SHA-256 over the exact bytes
//! of `tender.json`, DER-encoded (`tender.json.sig`), with the platform's X.509 certificate
//! (`platform.crt`, PEM) beside it.
//!
//! This is the same signature `openssl dgst -sha256 -sign platform.key` makes, so a tender can
//! be checked without our code: `openssl x509 -in platform.crt -pubkey -noout > pub.pem &&
//! openssl dgst -sha256 -verify pub.pem -signature tender.json.sig tender.json`.
//!
//! Guarantees: a signature verifies only for the exact manifest bytes and the certificate's
//! P-256 key; a certificate outside its validity period is refused. Does not: decide whether
//! the certificate belongs to a platform the user trusts (the caller pins it, see
//! [`super::TrustedPlatforms`]). When `bidseal_cms::signed_data` (detached CMS) lands, a
//! `tender.json.p7s` can be added beside this file as a second accepted form.

use der::{DecodePem, Encode};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use pkcs8::{DecodePrivateKey, DecodePublicKey};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use super::TenderError;

/// A platform certificate, parsed, with its P-256 key.
#[derive(Debug, Clone)]
pub struct PlatformCertificate {
    pem: String,
    cert: Certificate,
    key: VerifyingKey,
    fingerprint: String,
}

impl PlatformCertificate {
    /// Parses a PEM certificate carrying a P-256 public key.
    pub fn from_pem(pem: &str) -> Result<Self, TenderError> {
        let cert = Certificate::from_pem(pem.as_bytes()).map_err(|e| {
            TenderError::PlatformCertificate {
                why: format!("无法解析证书: {e}"),
            }
        })?;
        let spki_der = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| TenderError::PlatformCertificate { why: e.to_string() })?;
        let key = p256::PublicKey::from_public_key_der(&spki_der)
            .map(VerifyingKey::from)
            .map_err(|_| TenderError::PlatformCertificate {
                why: "证书公钥不是 P-256 ECDSA 公钥".into(),
            })?;
        let der = cert
            .to_der()
            .map_err(|e| TenderError::PlatformCertificate { why: e.to_string() })?;
        let fingerprint = hex::encode(Sha256::digest(&der));
        Ok(Self {
            pem: pem.to_string(),
            cert,
            key,
            fingerprint,
        })
    }

    /// Parses any PEM certificate (a CA trust anchor may use any key type); returns why not.
    pub fn parse_any_pem(pem: &[u8]) -> Result<Certificate, String> {
        Certificate::from_pem(pem).map_err(|e| e.to_string())
    }

    /// The PEM text as stored in the package.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// SHA-256 of the DER certificate, lower-case hex (what users pin and compare).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The subject as an RFC 4514 string.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// Refuses a certificate that is not valid at `now` (seconds since the Unix epoch).
    pub fn check_validity(&self, now_unix: u64) -> Result<(), TenderError> {
        let v = &self.cert.tbs_certificate.validity;
        let nb = v.not_before.to_unix_duration().as_secs();
        let na = v.not_after.to_unix_duration().as_secs();
        if now_unix < nb || now_unix > na {
            return Err(TenderError::PlatformCertificateExpired {
                not_before: v.not_before.to_string(),
                not_after: v.not_after.to_string(),
            });
        }
        Ok(())
    }

    /// Verifies a DER ECDSA signature over `message`.
    pub fn verify(&self, message: &[u8], signature_der: &[u8]) -> Result<(), TenderError> {
        let sig = p256::ecdsa::Signature::from_der(signature_der)
            .map_err(|_| TenderError::SignatureInvalid)?;
        self.key
            .verify(message, &sig)
            .map_err(|_| TenderError::SignatureInvalid)
    }
}

/// The platform's signing key (PKCS#8 PEM, P-256). Held only by `tender make`; zeroized on drop
/// by `p256`.
pub struct PlatformSigner {
    key: SigningKey,
}

impl PlatformSigner {
    /// Reads a PKCS#8 PEM P-256 private key (`openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256`).
    pub fn from_pkcs8_pem(pem: Zeroizing<String>) -> Result<Self, TenderError> {
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|_| TenderError::PlatformKey)?;
        Ok(Self { key })
    }

    /// Reads the key from a PEM file; the text is zeroized after parsing.
    pub fn from_pem_file(path: &std::path::Path) -> Result<Self, TenderError> {
        let text = std::fs::read_to_string(path).map_err(|e| TenderError::Io {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        Self::from_pkcs8_pem(Zeroizing::new(text))
    }

    /// Signs `message`, returning a DER signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let sig: DerSignature = self.key.sign(message);
        sig.as_bytes().to_vec()
    }

    /// Whether `cert` carries this key's public half.
    pub fn matches(&self, cert: &PlatformCertificate) -> bool {
        VerifyingKey::from(&self.key) == cert.key
    }
}
