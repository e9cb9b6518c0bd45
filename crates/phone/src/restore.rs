//! 换机 / 恢复 on the new phone (seed 2.6.1.6.1.2 证书未同步; `bidseal phone restore`): the
//! new phone brings the certificate's phone share from the old phone or its backup (a copy of
//! the old `keystore.json` + `seals/`), the administrator's one-time refresh code and the PIN;
//! the co-signing service checks code and PIN and releases the seal share that opens the
//! brought share, both sides refresh their shares (the public key and the certificate stay,
//! `docs/key-split.md`), and the certificate is added to the new phone's keystore sealed under
//! PIN + the service's NEW seal share, with the new phone's own device key.
//!
//! Guarantees: the old share is opened only in memory and only after the service's decision;
//! the new keystore is written atomically (a new phone folder gets a fresh device key; an
//! existing one keeps its key and gains or replaces the entry); afterwards the old phone's
//! device key and share no longer work. Does not: undo the refresh if writing the new keystore
//! fails after the service finished (the administrator issues a new code; the old share is
//! already void), or move a whole-key (`-plain`) certificate (there is nothing to refresh).

use crate::cosign::client::{CosignCallError, CosignClient};
use crate::cosign::device::DeviceKey;
use crate::key_seal::{RecoverySeal, SealedKey, ServiceShare};
use crate::key_split::{KeyShare, Side};
use crate::keystore::{
    Keystore, KeystoreError, KeystoreManifest, KEYSTORE_FILE, KEYSTORE_VERSION, SEALS_DIR,
};
use std::path::Path;

/// Errors of a restore.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A keystore (old or new) could not be read or written.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The co-signing service refused or could not be reached.
    #[error(transparent)]
    Cosign(#[from] CosignCallError),
    /// The certificate's key is whole (`-plain`): no share to refresh.
    #[error("证书 {0} 的密钥未拆分，无需也不能换机刷新；请直接复制证书库")]
    NotSplit(String),
    /// The new phone folder is the old one.
    #[error("新手机的证书库不能与旧手机的相同（{0}）：请给出新手机的文件夹")]
    SameKeystore(String),
    /// An existing new-phone keystore without a device key.
    #[error("新手机的证书库 {0} 没有设备密钥，请换一个空文件夹")]
    NoDeviceKey(String),
    /// Writing the new phone's files.
    #[error("写入 {path} 失败：{source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Sealing the new share.
    #[error(transparent)]
    Seal(#[from] crate::key_seal::SealError),
}

impl RestoreError {
    /// The stable code for the command line.
    pub fn code(&self) -> String {
        match self {
            Self::Cosign(CosignCallError::Refused(r)) => r.code().to_string(),
            Self::Cosign(CosignCallError::ResetRefused(r)) => match r {
                crate::cosign::state::ResetRefusal::WrongPin { .. } => "wrong_pin".into(),
                crate::cosign::state::ResetRefusal::PinLocked => "pin_locked".into(),
                _ => "E_RESTORE_REFUSED".into(),
            },
            Self::Cosign(CosignCallError::UnknownCertificate(_)) => "E_UNKNOWN_CERT".into(),
            Self::Cosign(_) => "co_signing_unavailable".into(),
            Self::Keystore(KeystoreError::UnknownCert(_)) => "E_UNKNOWN_CERT".into(),
            Self::NotSplit(_) => "E_RESTORE_NOT_SPLIT".into(),
            Self::SameKeystore(_) => "E_RESTORE_SAME_DIR".into(),
            Self::Keystore(_) | Self::NoDeviceKey(_) | Self::Io { .. } | Self::Seal(_) => {
                "E_RESTORE_KEYSTORE".into()
            }
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// Certificate id.
    pub cert: String,
    /// Who / what it is (`张伟（法人证书，华夏…）`).
    pub label: String,
    /// SHA-256 fingerprint of the certificate (unchanged).
    pub fingerprint: String,
    /// The new phone's device public key (hex SEC1), now the certificate's device.
    pub device: String,
    /// True when the new phone's keystore was created by this restore.
    pub new_keystore: bool,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Restores certificate `cert` of the old keystore `from` onto the new phone folder `new_dir`
/// over `client` (its device key is replaced by the new phone's).
pub async fn restore_certificate(
    from: &Keystore,
    new_dir: &Path,
    client: CosignClient,
    cert: &str,
    code: &str,
    pin: &str,
) -> Result<RestoreReport, RestoreError> {
    let entry = from.entry(cert)?.clone();
    if !entry.split {
        return Err(RestoreError::NotSplit(cert.to_string()));
    }
    let same = match (from.dir().canonicalize(), new_dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(RestoreError::SameKeystore(new_dir.display().to_string()));
    }
    let existing = new_dir.join(KEYSTORE_FILE).exists();
    let mut manifest = if existing {
        Keystore::load(new_dir)?.manifest
    } else {
        KeystoreManifest {
            version: KEYSTORE_VERSION,
            certificates: Vec::new(),
            device_key: Some(DeviceKey::generate()),
        }
    };
    let device = manifest
        .device_key
        .clone()
        .ok_or_else(|| RestoreError::NoDeviceKey(new_dir.display().to_string()))?;
    let open = |seal: &ServiceShare| -> Option<KeyShare> {
        let bytes = entry
            .sealed_key
            .unseal(pin, seal, &entry.fingerprint)
            .ok()?;
        KeyShare::from_secret_bytes(&bytes, Side::Phone).ok()
    };
    // The new phone's folder is made before the refresh: after it the old share is void.
    let seals = new_dir.join(SEALS_DIR);
    std::fs::create_dir_all(&seals).map_err(io(&seals))?;
    let refreshed = client
        .with_device_key(Some(&device))
        .split_refresh(cert, code, pin, &open)
        .await?;
    let secret = refreshed
        .share
        .to_secret_bytes()
        .map_err(|e| KeystoreError::Format(e.to_string()))?;
    let mut new_entry = entry.clone();
    new_entry.sealed_key = SealedKey::seal(
        &secret,
        pin,
        &refreshed.seal_share,
        &entry.fingerprint,
        entry.sealed_key.iterations,
    )?;
    new_entry.recovery = Some(RecoverySeal::seal(
        &secret,
        &refreshed.recovery_share,
        &entry.fingerprint,
    )?);
    for seal in &entry.seals {
        let png = from.seal_png(seal)?;
        let path = seals.join(&seal.file);
        crate::cosign::state::write_atomic(&path, &png).map_err(io(&path))?;
    }
    let report = RestoreReport {
        cert: cert.to_string(),
        label: entry.label(),
        fingerprint: entry.fingerprint.clone(),
        device: device.public_hex(),
        new_keystore: !existing,
    };
    manifest.certificates.retain(|e| e.id != cert);
    manifest.certificates.push(new_entry);
    let path = new_dir.join(KEYSTORE_FILE);
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec_pretty(&manifest).map_err(|e| KeystoreError::Format(e.to_string()))?,
    );
    crate::cosign::state::write_atomic(&path, &json).map_err(io(&path))?;
    Ok(report)
}
