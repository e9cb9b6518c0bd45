//! The private-key step of opening an envelope, behind a trait so that it can happen
//! elsewhere: [`KeyAgreement`] returns the key-encryption key of one recipient entry — ECDH
//! between the recipient's private key and the entry's originator key, through the RFC 5753
//! KDF with the entry's `ukm` — nothing more (never the raw ECDH secret across a trust
//! boundary). The opening hall gets it from the phone (via the scan protocol); tests and the
//! CLI use [`LocalKeyAgreement`].
//!
//! Guarantees: shared secrets and keys are held in zeroizing buffers; [`LocalKeyAgreement`] refuses
//! a key that does not belong to its certificate. Does not: decide whether the certificate is
//! trusted, or talk to the phone (that implementation lives with the scan protocol).

use super::error::EnvelopeError;
use super::recipient::{KeyEncryptionKey, RecipientEntry};
use crate::cert::Certificate;
use std::future::Future;
use std::path::Path;
use zeroize::Zeroizing;

/// The x-coordinate of the ECDH shared point (32 bytes for P-256), zeroized on drop.
pub struct SharedSecret(Zeroizing<[u8; 32]>);

impl SharedSecret {
    /// Wraps raw shared-secret bytes (e.g. as returned by the phone).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

/// Performs ECDH with one recipient's private key, wherever that key lives.
pub trait KeyAgreement {
    /// The certificate whose private key this agreement uses.
    fn certificate(&self) -> &Certificate;

    /// The key-encryption key of `entry` (this certificate's recipient entry): ECDH with the
    /// entry's originator key, then the KDF with the entry's `ukm`.
    fn key_encryption_key(
        &self,
        entry: &RecipientEntry,
    ) -> impl Future<Output = Result<KeyEncryptionKey, EnvelopeError>> + Send;
}

/// Key agreement with a P-256 private key held in this process (tests, CLI, local use).
pub struct LocalKeyAgreement {
    certificate: Certificate,
    key: p256::SecretKey,
}

impl LocalKeyAgreement {
    /// Pairs a certificate with its private key; refuses a key that does not match.
    pub fn new(certificate: Certificate, key: p256::SecretKey) -> Result<Self, EnvelopeError> {
        let subject = certificate.subject_string();
        let public =
            certificate
                .p256_public_key()
                .map_err(|_| EnvelopeError::UnsupportedKeyType {
                    subject: subject.clone(),
                    key_type: "非 P-256".to_string(),
                })?;
        if public != key.public_key() {
            return Err(EnvelopeError::KeyMismatch { subject });
        }
        Ok(Self { certificate, key })
    }

    /// Loads a PEM certificate and a PEM private key (SEC 1 `EC PRIVATE KEY` or PKCS#8).
    pub fn from_pem_files(certificate: &Path, key: &Path) -> Result<Self, EnvelopeError> {
        let cert_pem = std::fs::read(certificate).map_err(|e| EnvelopeError::io(certificate, e))?;
        let certificate =
            Certificate::from_pem(&cert_pem).map_err(|e| EnvelopeError::CertificateUnreadable {
                detail: e.to_string(),
            })?;
        let key_pem =
            Zeroizing::new(std::fs::read_to_string(key).map_err(|e| EnvelopeError::io(key, e))?);
        Self::new(certificate, parse_private_key_pem(&key_pem)?)
    }
}

/// Parses a P-256 private key from PEM text that may hold other blocks (e.g. `EC PARAMETERS`).
pub fn parse_private_key_pem(pem: &str) -> Result<p256::SecretKey, EnvelopeError> {
    use p256::pkcs8::DecodePrivateKey;
    for (label, sec1) in [("EC PRIVATE KEY", true), ("PRIVATE KEY", false)] {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let Some(start) = pem.find(&begin) else {
            continue;
        };
        let Some(stop) = pem[start..].find(&end) else {
            continue;
        };
        let block = &pem[start..start + stop + end.len()];
        let parsed = if sec1 {
            p256::SecretKey::from_sec1_pem(block).map_err(|e| e.to_string())
        } else {
            p256::SecretKey::from_pkcs8_pem(block).map_err(|e| e.to_string())
        };
        return parsed.map_err(|detail| EnvelopeError::KeyUnreadable { detail });
    }
    Err(EnvelopeError::KeyUnreadable {
        detail: "文件中没有 EC PRIVATE KEY 或 PRIVATE KEY 块".to_string(),
    })
}

impl KeyAgreement for LocalKeyAgreement {
    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn key_encryption_key(
        &self,
        entry: &RecipientEntry,
    ) -> impl Future<Output = Result<KeyEncryptionKey, EnvelopeError>> + Send {
        let result = entry.originator_key().and_then(|originator| {
            let shared =
                p256::ecdh::diffie_hellman(self.key.to_nonzero_scalar(), originator.as_affine());
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(shared.raw_secret_bytes());
            let secret = SharedSecret::from_bytes(bytes);
            zeroize::Zeroize::zeroize(&mut bytes);
            entry.key_encryption_key(&secret)
        });
        std::future::ready(result)
    }
}
