//! The phone's keystore: which certificates the phone carries, their chains, sealed private
//! keys (see [`crate::key_seal`]) and seal images, as `keystore.json` plus PNG files.
//!
//! Guarantees: loading checks the manifest version and that every certificate and chain is
//! PEM that parses; no certificate private key is ever in the clear on disk (the keystore
//! holds only [`SealedKey`]s). The phone's device key (which only proves "this phone", not
//! any certificate) is stored as is in the mode-0600 `keystore.json`, standing in for a
//! hardware-keystore key. Paths in the manifest are file names inside the keystore's `seals/`
//! folder; anything with a path separator or `..` is refused. It does not check trust
//! (that is the desktop's job) or certificate state (the co-signing service's).

use crate::cosign::device::DeviceKey;
use crate::key_seal::{RecoverySeal, SealedKey};
use crate::pki::HolderRole;
use crate::seal_image::SealImageKind;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Manifest file name inside the keystore folder.
pub const KEYSTORE_FILE: &str = "keystore.json";
/// Folder of seal images inside the keystore folder.
pub const SEALS_DIR: &str = "seals";
/// Manifest format version.
pub const KEYSTORE_VERSION: u32 = 1;

/// Errors loading the keystore.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// I/O.
    #[error("读取手机证书库失败（{path}）：{source}，请先执行 bidseal phone init")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not valid JSON / wrong shape / wrong version / bad PEM.
    #[error("手机证书库格式错误：{0}，请重新执行 bidseal phone init")]
    Format(String),
    /// No certificate with that id.
    #[error("手机中没有证书 “{0}”")]
    UnknownCert(String),
}

/// A seal image the certificate can apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealImageRef {
    /// Kind.
    pub kind: SealImageKind,
    /// 0-based index among seals of this kind (私章 has up to 3).
    pub index: u8,
    /// File name in `seals/`.
    pub file: String,
}

/// One certificate on the phone.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeystoreEntry {
    /// Stable id.
    pub id: String,
    /// Role of the holder.
    pub role: HolderRole,
    /// Company (O).
    pub company: String,
    /// Unified social credit code of the company.
    pub uscc: String,
    /// Person name, for person certificates.
    pub person: Option<String>,
    /// Which test CA issued it.
    pub ca: String,
    /// SHA-256 fingerprint of the certificate DER (hex).
    pub fingerprint: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Leaf then CA, PEM.
    pub chain_pem: String,
    /// The sealed private key, or for a split key ([`KeystoreEntry::split`]) the sealed phone
    /// share of it (`key_split::KeyShare` encoding).
    pub sealed_key: SealedKey,
    /// True when the key is split between phone and co-signing service (`docs/key-split.md`):
    /// no whole key exists; signatures and ECDH are joint.
    #[serde(default)]
    pub split: bool,
    /// The recovery copy for 忘记证书密码.
    #[serde(default)]
    pub recovery: Option<RecoverySeal>,
    /// Seal images.
    pub seals: Vec<SealImageRef>,
}

impl KeystoreEntry {
    /// Holder name for screens and logs: the person, else the company.
    pub fn holder(&self) -> &str {
        self.person.as_deref().unwrap_or(&self.company)
    }

    /// zh-CN label, e.g. `张伟（法人证书，华夏建设工程有限公司）`.
    pub fn label(&self) -> String {
        let role = match self.role {
            HolderRole::Enterprise => "企业证书",
            HolderRole::LegalPerson => "法人证书",
            HolderRole::Personal => "个人证书",
            HolderRole::Colleague => "同事证书",
        };
        match &self.person {
            Some(person) => format!("{person}（{role}，{}）", self.company),
            None => format!("{}（{role}）", self.company),
        }
    }
}

/// The manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeystoreManifest {
    /// Format version, [`KEYSTORE_VERSION`].
    pub version: u32,
    /// Certificates.
    pub certificates: Vec<KeystoreEntry>,
    /// This phone's device key, registered with the co-signing service for every certificate
    /// above (stands in for a hardware-keystore key; see [`crate::cosign::device`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<DeviceKey>,
}

/// A loaded keystore.
#[derive(Debug, Clone)]
pub struct Keystore {
    dir: PathBuf,
    /// The manifest.
    pub manifest: KeystoreManifest,
}

fn safe_file_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && !name.contains('\\') && !name.contains("..")
}

impl Keystore {
    /// Loads `dir/keystore.json`.
    pub fn load(dir: &Path) -> Result<Self, KeystoreError> {
        let path = dir.join(KEYSTORE_FILE);
        let bytes = std::fs::read(&path).map_err(|source| KeystoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let manifest: KeystoreManifest =
            serde_json::from_slice(&bytes).map_err(|e| KeystoreError::Format(e.to_string()))?;
        if manifest.version != KEYSTORE_VERSION {
            return Err(KeystoreError::Format(format!(
                "不支持的版本 {}",
                manifest.version
            )));
        }
        for e in &manifest.certificates {
            use x509_cert::der::DecodePem;
            x509_cert::Certificate::from_pem(e.cert_pem.as_bytes()).map_err(|err| {
                KeystoreError::Format(format!("证书 {} 不是有效的 PEM：{err}", e.id))
            })?;
            if e.seals.iter().any(|s| !safe_file_name(&s.file)) {
                return Err(KeystoreError::Format(format!(
                    "证书 {} 的印章文件名不安全",
                    e.id
                )));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The entry with `id`.
    pub fn entry(&self, id: &str) -> Result<&KeystoreEntry, KeystoreError> {
        self.manifest
            .certificates
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| KeystoreError::UnknownCert(id.to_string()))
    }

    /// The PNG bytes of a seal image.
    pub fn seal_png(&self, seal: &SealImageRef) -> Result<Vec<u8>, KeystoreError> {
        if !safe_file_name(&seal.file) {
            return Err(KeystoreError::Format("印章文件名不安全".into()));
        }
        let path = self.dir.join(SEALS_DIR).join(&seal.file);
        std::fs::read(&path).map_err(|source| KeystoreError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// 忘记证书密码, phone side: opens the recovery copy with the service's recovery share and
    /// re-seals the key under `new_pin` (same KDF iterations) and the normal `share`, then
    /// saves the keystore atomically. The caller got both shares from
    /// `CosignClient::reset_pin`, which already set the new PIN at the service.
    pub fn reseal_after_pin_reset(
        &mut self,
        id: &str,
        new_pin: &str,
        share: &[u8; 32],
        recovery_share: &[u8; 32],
    ) -> Result<(), KeystoreError> {
        let entry = self
            .manifest
            .certificates
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| KeystoreError::UnknownCert(id.to_string()))?;
        let recovery = entry.recovery.as_ref().ok_or_else(|| {
            KeystoreError::Format(format!("证书 {id} 没有恢复副本，无法重置证书密码"))
        })?;
        let pkcs8 = recovery
            .open(recovery_share, &entry.fingerprint)
            .map_err(|e| KeystoreError::Format(e.to_string()))?;
        entry.sealed_key = SealedKey::seal(
            &pkcs8,
            new_pin,
            share,
            &entry.fingerprint,
            entry.sealed_key.iterations,
        )
        .map_err(|e| KeystoreError::Format(e.to_string()))?;
        self.save()
    }

    /// Writes `keystore.json` atomically.
    pub fn save(&self) -> Result<(), KeystoreError> {
        let path = self.dir.join(KEYSTORE_FILE);
        let json = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| KeystoreError::Format(e.to_string()))?;
        crate::cosign::state::write_atomic(&path, &json).map_err(|source| KeystoreError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// The phone's device key, if the keystore has one (made by `phone init`).
    pub fn device_key(&self) -> Option<&DeviceKey> {
        self.manifest.device_key.as_ref()
    }

    /// The folder the keystore lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbled_or_hostile_keystore_files_are_refused_not_panicked_on() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Keystore::load(dir.path()),
            Err(KeystoreError::Io { .. })
        ));
        std::fs::write(
            dir.path().join(KEYSTORE_FILE),
            b"{\"version\":1,\"certificates\":[{",
        )
        .unwrap();
        assert!(matches!(
            Keystore::load(dir.path()),
            Err(KeystoreError::Format(_))
        ));
        std::fs::write(
            dir.path().join(KEYSTORE_FILE),
            b"{\"version\":99,\"certificates\":[]}",
        )
        .unwrap();
        assert!(matches!(
            Keystore::load(dir.path()),
            Err(KeystoreError::Format(_))
        ));

        // A real keystore whose seal file name tries to leave the folder.
        let world = tempfile::tempdir().unwrap();
        crate::provision::pooled_test_world(world.path()).unwrap();
        let phone = world.path().join("phone");
        let text = std::fs::read_to_string(phone.join(KEYSTORE_FILE)).unwrap();
        let hostile = text.replacen("\"file\": \"", "\"file\": \"../../", 1);
        std::fs::write(phone.join(KEYSTORE_FILE), hostile).unwrap();
        assert!(matches!(
            Keystore::load(&phone),
            Err(KeystoreError::Format(_))
        ));
    }
}
