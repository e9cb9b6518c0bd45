//! How the phone keeps a certificate's private key: sealed with AES-256-GCM under a key that
//! needs BOTH the user's PIN and a per-certificate share held by the co-signing service.
//!
//! ```text
//! pin_key   = PBKDF2-HMAC-SHA256(PIN, phone_salt, iterations)            (on the phone)
//! share     = 32 random bytes, kept by the co-signing service, released only after it
//!             checked the PIN and the certificate state                    (service)
//! seal_key  = HKDF-SHA256(ikm = pin_key ‖ share, salt = cert fingerprint,
//!                         info = "bidseal/phone/key-seal/v1")
//! sealed    = AES-256-GCM(seal_key, nonce, PKCS#8 DER, aad = cert fingerprint)
//! ```
//!
//! Guarantees: without the share the sealed file is useless, so a phone cannot use a key
//! unless the service agreed (and logged it); without the PIN the share is useless; every
//! intermediate secret is zeroized. A wrong PIN or share fails the GCM tag and yields
//! [`SealError::Unseal`], never garbage. It does not split the key itself (a threshold
//! signature with a service half is a later issue): once unsealed, the phone holds the whole
//! key for the duration of one operation.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// PBKDF2 iterations for new keystores. A 6-digit PIN is brute-forceable offline at any cost,
/// so the real protection is the service share plus the service's wrong-PIN lockout; the
/// iterations only slow a thief who has both the phone file and a leaked share. The count is
/// stored with every sealed key and verifier, so a keystore can choose another (the end-to-end
/// tests use a small count because debug builds run PBKDF2 ~20× slower than release).
pub const PIN_KDF_ITERATIONS: u32 = 100_000;
/// Upper bound accepted when reading a keystore (a hostile file cannot make us spin).
pub const MAX_KDF_ITERATIONS: u32 = 10_000_000;
const HKDF_INFO: &[u8] = b"bidseal/phone/key-seal/v1";

/// Errors sealing or unsealing a key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Tag mismatch: wrong PIN, wrong share, or tampered keystore.
    #[error(
        "无法解开手机上的证书私钥（PIN 或服务端密钥分量不符，或密钥文件被改动），请联系管理员"
    )]
    Unseal,
    /// A field of the sealed file is not valid hex / has the wrong length.
    #[error("手机密钥文件格式错误（{0}），请重新初始化测试证书")]
    Format(&'static str),
}

/// A private key sealed under PIN + service share (stored in the phone keystore as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedKey {
    /// Hex salt for the PIN KDF.
    pub phone_salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Hex 96-bit GCM nonce.
    pub nonce: String,
    /// Hex ciphertext + tag of the PKCS#8 DER.
    pub ciphertext: String,
}

/// A second sealing of the same key for "忘记证书密码" (forgotten PIN): under a key from a
/// phone-side recovery secret and a service-side recovery share, which the service releases
/// only against a one-time verification code (see `cosign::state::CosignBook::reset_pin`).
/// Without the service's recovery share this copy is as useless as the main one.
///
/// ```text
/// recovery_key = HKDF-SHA256(ikm = phone_secret ‖ recovery_share, salt = fingerprint,
///                            info = "bidseal/phone/key-recovery/v1")
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoverySeal {
    /// Hex 32-byte phone half.
    pub phone_secret: String,
    /// Hex GCM nonce.
    pub nonce: String,
    /// Hex ciphertext + tag of the PKCS#8 DER.
    pub ciphertext: String,
}

const RECOVERY_INFO: &[u8] = b"bidseal/phone/key-recovery/v1";

fn hkdf32(a: &[u8; 32], b: &[u8; 32], fingerprint: &str, info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(a);
    ikm[32..].copy_from_slice(b);
    let hk = Hkdf::<Sha256>::new(Some(fingerprint.as_bytes()), ikm.as_ref());
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    if hk.expand(info, okm.as_mut()).is_err() {
        okm.fill(0);
    }
    okm
}

fn gcm_seal(key: &[u8; 32], aad: &[u8], msg: &[u8]) -> Result<(String, String), SealError> {
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| SealError::Format("key"))?;
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
        .map_err(|_| SealError::Unseal)?;
    Ok((hex::encode(nonce), hex::encode(ct)))
}

fn gcm_open(
    key: &[u8; 32],
    aad: &[u8],
    nonce_hex: &str,
    ct_hex: &str,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let nonce = hex::decode(nonce_hex).map_err(|_| SealError::Format("nonce"))?;
    if nonce.len() != 12 {
        return Err(SealError::Format("nonce"));
    }
    let ct = hex::decode(ct_hex).map_err(|_| SealError::Format("ciphertext"))?;
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| SealError::Format("key"))?;
    cipher
        .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError::Unseal)
}

impl RecoverySeal {
    /// Seals `pkcs8` under a fresh phone secret and the service's `recovery_share`.
    pub fn seal(
        pkcs8: &[u8],
        recovery_share: &[u8; 32],
        fingerprint: &str,
    ) -> Result<Self, SealError> {
        let phone_secret = new_share();
        let key = hkdf32(&phone_secret, recovery_share, fingerprint, RECOVERY_INFO);
        let (nonce, ciphertext) = gcm_seal(&key, fingerprint.as_bytes(), pkcs8)?;
        Ok(Self {
            phone_secret: hex::encode(phone_secret.as_ref()),
            nonce,
            ciphertext,
        })
    }

    /// Opens the recovery copy with the service's recovery share.
    pub fn open(
        &self,
        recovery_share: &[u8; 32],
        fingerprint: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let raw = Zeroizing::new(
            hex::decode(&self.phone_secret).map_err(|_| SealError::Format("phone_secret"))?,
        );
        let mut phone_secret = Zeroizing::new([0u8; 32]);
        if raw.len() != 32 {
            return Err(SealError::Format("phone_secret"));
        }
        phone_secret.copy_from_slice(&raw);
        let key = hkdf32(&phone_secret, recovery_share, fingerprint, RECOVERY_INFO);
        gcm_open(&key, fingerprint.as_bytes(), &self.nonce, &self.ciphertext)
    }
}

/// The service's 32-byte share for one certificate.
pub type ServiceShare = Zeroizing<[u8; 32]>;

/// Makes a fresh random service share.
pub fn new_share() -> ServiceShare {
    let mut s = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(s.as_mut());
    s
}

fn pin_key(pin: &str, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), salt, iterations, out.as_mut());
    out
}

fn seal_key(pin_key: &[u8; 32], share: &[u8; 32], fingerprint: &str) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(pin_key);
    ikm[32..].copy_from_slice(share);
    let hk = Hkdf::<Sha256>::new(Some(fingerprint.as_bytes()), ikm.as_ref());
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    if hk.expand(HKDF_INFO, okm.as_mut()).is_err() {
        okm.fill(0);
    }
    okm
}

impl SealedKey {
    /// Seals `pkcs8` for the certificate with `fingerprint`.
    pub fn seal(
        pkcs8: &[u8],
        pin: &str,
        share: &[u8; 32],
        fingerprint: &str,
        iterations: u32,
    ) -> Result<Self, SealError> {
        let iterations = iterations.clamp(1, MAX_KDF_ITERATIONS);
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let pk = pin_key(pin, &salt, iterations);
        let key = seal_key(&pk, share, fingerprint);
        let cipher =
            Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| SealError::Format("key"))?;
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: pkcs8,
                    aad: fingerprint.as_bytes(),
                },
            )
            .map_err(|_| SealError::Unseal)?;
        Ok(Self {
            phone_salt: hex::encode(salt),
            iterations,
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ct),
        })
    }

    /// Unseals the PKCS#8 DER with the PIN and the share the service released.
    pub fn unseal(
        &self,
        pin: &str,
        share: &[u8; 32],
        fingerprint: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let salt = hex::decode(&self.phone_salt).map_err(|_| SealError::Format("phone_salt"))?;
        let nonce = hex::decode(&self.nonce).map_err(|_| SealError::Format("nonce"))?;
        if nonce.len() != 12 {
            return Err(SealError::Format("nonce"));
        }
        let ct = hex::decode(&self.ciphertext).map_err(|_| SealError::Format("ciphertext"))?;
        if self.iterations == 0 || self.iterations > MAX_KDF_ITERATIONS {
            return Err(SealError::Format("iterations"));
        }
        let pk = pin_key(pin, &salt, self.iterations);
        let key = seal_key(&pk, share, fingerprint);
        let cipher =
            Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| SealError::Format("key"))?;
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: fingerprint.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_opens_only_with_both_pin_and_share() {
        let share = new_share();
        let sealed = SealedKey::seal(b"secret pkcs8", "123456", &share, "fp", 1000).unwrap();
        assert_eq!(
            sealed.unseal("123456", &share, "fp").unwrap().as_slice(),
            b"secret pkcs8"
        );
        assert!(matches!(
            sealed.unseal("654321", &share, "fp"),
            Err(SealError::Unseal)
        ));
        assert!(matches!(
            sealed.unseal("123456", &new_share(), "fp"),
            Err(SealError::Unseal)
        ));
        let recovery_share = new_share();
        let recovery = RecoverySeal::seal(b"secret pkcs8", &recovery_share, "fp").unwrap();
        assert_eq!(
            recovery.open(&recovery_share, "fp").unwrap().as_slice(),
            b"secret pkcs8"
        );
        assert!(matches!(
            recovery.open(&share, "fp"),
            Err(SealError::Unseal)
        ));
        assert!(matches!(
            sealed.unseal("123456", &share, "other"),
            Err(SealError::Unseal)
        ));
    }
}
