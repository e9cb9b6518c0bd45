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
//! device key and share no longer work.
//!
//! Crash safety: the finish call is the point after which the old share is void. Before it, the
//! new phone writes its device key (a skeleton `keystore.json` in a new folder) and the new
//! entry — its new share sealed under PIN + the seal share the finish will store, exactly as in
//! the keystore — to `NEW_DIR/restore-<id>.staged.json`. If anything fails after that (the
//! keystore write, the process, the answer of the finish), the next run of `phone restore` for
//! the same folder and certificate finds the staged file and finishes from it: it proves the
//! staged entry with one joint signature at the service (logged as 认证 with detail
//! `换机恢复：核对暂存的新密钥分量`) and installs it; if the service never finished (the new
//! device is not the certificate's), the staged file is void and removed and the old share
//! still works. Does not: move a whole-key (`-plain`) certificate (there is nothing to
//! refresh).

use crate::cosign::client::{CosignCallError, CosignClient};
use crate::cosign::device::DeviceKey;
use crate::key_seal::{RecoverySeal, SealedKey, ServiceShare};
use crate::key_split::{KeyShare, Side};
use crate::keystore::{
    Keystore, KeystoreEntry, KeystoreError, KeystoreManifest, KEYSTORE_FILE, KEYSTORE_VERSION,
    SEALS_DIR,
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
    /// The service finished (or may have finished) the refresh but the new keystore was not
    /// written: the new share is staged and the next run finishes.
    #[error("换机未写完：{why}。新的密钥分量已加密暂存于 {staged}，请排除问题后重新运行同一条 bidseal phone restore 命令完成换机（无需新的验证码）")]
    Unfinished {
        /// What went wrong.
        why: String,
        /// The staged file.
        staged: String,
    },
    /// The staged share of an earlier run was never registered by the service (it did not
    /// finish): removed; the old phone's share is still valid.
    #[error("上次换机没有完成（协同签名服务未登记新手机），暂存的分量已作废并删除；旧手机的分量仍然有效：请向管理员重新申请换机验证码后重新换机")]
    StagedVoid,
    /// A certificate id that cannot name the staged file.
    #[error("证书编号 “{0}” 无效：只能含字母、数字、- 和 _")]
    BadCertId(String),
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
            Self::Cosign(CosignCallError::Unavailable(_)) => "E_COSIGN_UNREACHABLE".into(),
            Self::Cosign(CosignCallError::Staging(_)) => "E_RESTORE_KEYSTORE".into(),
            Self::Cosign(_) => "co_signing_unavailable".into(),
            Self::Unfinished { .. } => "E_RESTORE_UNFINISHED".into(),
            Self::StagedVoid => "E_RESTORE_STAGED_VOID".into(),
            Self::BadCertId(_) => "E_RESTORE_CERT_ID".into(),
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

/// Test only: where a restore is made to fail on purpose (`BIDSEAL_TEST_RESTORE_FAULT`, read by
/// the command line), to prove the staged share is finished or voided by the next run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestoreFault {
    /// No fault.
    #[default]
    None,
    /// Stop after staging, before the finish call (the service never finishes).
    BeforeFinish,
    /// Fail the keystore write after the service finished.
    AfterFinish,
}

/// The environment variable with which a test asks for a [`RestoreFault`]
/// (`before-finish` / `after-finish`). Never set outside tests.
pub const RESTORE_FAULT_ENV: &str = "BIDSEAL_TEST_RESTORE_FAULT";

impl RestoreFault {
    /// The fault named by [`RESTORE_FAULT_ENV`]'s value.
    pub fn from_env_value(value: &str) -> Self {
        match value {
            "before-finish" => Self::BeforeFinish,
            "after-finish" => Self::AfterFinish,
            _ => Self::None,
        }
    }
}

/// The phone share sealed in `entry`, opened with `pin` and the service's `seal` share.
fn open_entry(entry: &KeystoreEntry, pin: &str, seal: &ServiceShare) -> Option<KeyShare> {
    let bytes = entry
        .sealed_key
        .unseal(pin, seal, &entry.fingerprint)
        .ok()?;
    KeyShare::from_secret_bytes(&bytes, Side::Phone).ok()
}

/// The staged file of `cert` in the new phone's folder.
pub fn staged_path(new_dir: &Path, cert: &str) -> std::path::PathBuf {
    new_dir.join(format!("restore-{cert}.staged.json"))
}

/// What the staged file holds: the new entry, sealed as in the keystore.
#[derive(serde::Serialize, serde::Deserialize)]
struct StagedRestore {
    /// Format tag.
    format: String,
    /// The entry to install.
    entry: KeystoreEntry,
}

const STAGED_FORMAT: &str = "bidseal-restore-staged/1";

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), RestoreError> {
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec_pretty(value).map_err(|e| KeystoreError::Format(e.to_string()))?,
    );
    crate::cosign::state::write_atomic(path, &json).map_err(io(path))
}

/// Restores certificate `cert` of the old keystore `from` onto the new phone folder `new_dir`
/// over `client` (its device key is replaced by the new phone's). When `new_dir` holds a
/// staged share of `cert` from an earlier run, finishes that instead (module doc; the code is
/// not used). `fault` is [`RestoreFault::None`] outside tests.
pub async fn restore_certificate(
    from: &Keystore,
    new_dir: &Path,
    client: CosignClient,
    cert: &str,
    code: &str,
    pin: &str,
    fault: RestoreFault,
) -> Result<RestoreReport, RestoreError> {
    let entry = from.entry(cert)?.clone();
    if !entry.split {
        return Err(RestoreError::NotSplit(cert.to_string()));
    }
    let safe_id = !cert.is_empty()
        && cert
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !safe_id {
        return Err(RestoreError::BadCertId(cert.to_string()));
    }
    let same = match (from.dir().canonicalize(), new_dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(RestoreError::SameKeystore(new_dir.display().to_string()));
    }
    let staged = staged_path(new_dir, cert);
    if staged.exists() {
        return finish_staged(new_dir, client, cert, pin, &staged).await;
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
    let open = |seal: &ServiceShare| open_entry(&entry, pin, seal);
    // The new phone's folder and seal images (public) are made before the refresh.
    let seals = new_dir.join(SEALS_DIR);
    std::fs::create_dir_all(&seals).map_err(io(&seals))?;
    for seal in &entry.seals {
        let png = from.seal_png(seal)?;
        let path = seals.join(&seal.file);
        crate::cosign::state::write_atomic(&path, &png).map_err(io(&path))?;
    }
    let sealed_entry = |refreshed: &crate::cosign::client::RefreshedShare| {
        let secret = refreshed
            .share
            .to_secret_bytes()
            .map_err(|e| RestoreError::Keystore(KeystoreError::Format(e.to_string())))?;
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
        Ok::<_, RestoreError>(new_entry)
    };
    // Before the finish: the device key on disk, the new entry staged (sealed).
    let new_entry = std::sync::Mutex::new(None);
    let stage = |refreshed: &crate::cosign::client::RefreshedShare| {
        let result = (|| {
            if !existing {
                write_json(&new_dir.join(KEYSTORE_FILE), &manifest)?;
            }
            let sealed = sealed_entry(refreshed)?;
            write_json(
                &staged,
                &StagedRestore {
                    format: STAGED_FORMAT.into(),
                    entry: sealed.clone(),
                },
            )?;
            if let Ok(mut slot) = new_entry.lock() {
                *slot = Some(sealed);
            }
            if fault == RestoreFault::BeforeFinish {
                return Err(RestoreError::Io {
                    path: staged.display().to_string(),
                    source: std::io::Error::other("测试注入的故障：完成前中断"),
                });
            }
            Ok(())
        })();
        result.map_err(|e| e.to_string())
    };
    let outcome = client
        .with_device_key(Some(&device))
        .split_refresh_staged(cert, code, pin, &open, &stage)
        .await;
    let unfinished = |why: String| RestoreError::Unfinished {
        why,
        staged: staged.display().to_string(),
    };
    match outcome {
        Ok(_) => {}
        // The service's answer to the finish was lost (or never came): it may have finished.
        Err(CosignCallError::Unavailable(why)) if staged.exists() => {
            return Err(unfinished(format!(
                "协同签名服务没有答复换机的最后一步（{why}）"
            )))
        }
        // Stopped before the finish (a staging fault): the next run finds the service never
        // finished. Anything the service refused: nothing changed there.
        Err(CosignCallError::Staging(why)) if staged.exists() => {
            return Err(unfinished(format!("换机在最后一步之前中断（{why}）")))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e.into());
        }
    }
    let new_entry = new_entry
        .into_inner()
        .ok()
        .flatten()
        .ok_or_else(|| unfinished("暂存的条目缺失".into()))?;
    let report = RestoreReport {
        cert: cert.to_string(),
        label: entry.label(),
        fingerprint: entry.fingerprint.clone(),
        device: device.public_hex(),
        new_keystore: !existing,
    };
    manifest.certificates.retain(|e| e.id != cert);
    manifest.certificates.push(new_entry);
    let written = if fault == RestoreFault::AfterFinish {
        Err(RestoreError::Io {
            path: new_dir.join(KEYSTORE_FILE).display().to_string(),
            source: std::io::Error::other("测试注入的故障：写入失败"),
        })
    } else {
        write_json(&new_dir.join(KEYSTORE_FILE), &manifest)
    };
    written.map_err(|e| unfinished(e.to_string()))?;
    let _ = std::fs::remove_file(&staged);
    Ok(report)
}

/// The next run after a restore that staged its new share: proves the staged entry with one
/// joint signature at the service and installs it; if the service does not know the new
/// device for the certificate, it never finished — the staged file is void and removed.
async fn finish_staged(
    new_dir: &Path,
    client: CosignClient,
    cert: &str,
    pin: &str,
    staged: &Path,
) -> Result<RestoreReport, RestoreError> {
    use sha2::Digest;
    let mut keystore = Keystore::load(new_dir)?;
    let device = keystore
        .device_key()
        .cloned()
        .ok_or_else(|| RestoreError::NoDeviceKey(new_dir.display().to_string()))?;
    let bytes = zeroize::Zeroizing::new(std::fs::read(staged).map_err(io(staged))?);
    let file: StagedRestore = serde_json::from_slice(&bytes).map_err(|e| {
        KeystoreError::Format(format!("暂存文件 {} 格式错误：{e}", staged.display()))
    })?;
    if file.format != STAGED_FORMAT || file.entry.id != cert {
        return Err(KeystoreError::Format(format!(
            "暂存文件 {} 不是证书 {cert} 的换机暂存",
            staged.display()
        ))
        .into());
    }
    let entry = file.entry;
    let open = |seal: &ServiceShare| open_entry(&entry, pin, seal);
    let context = crate::cosign::state::OperationContext {
        operation: crate::cosign::state::CosignOperation::Auth,
        desktop: "新手机".into(),
        session_id: format!("restore-{cert}"),
        detail: "换机恢复：核对暂存的新密钥分量".into(),
        tender: None,
        bound_digest: None,
    };
    let digest: [u8; 32] = sha2::Sha256::new()
        .chain_update(b"bidseal/restore/staged-check/v1\n")
        .chain_update(entry.fingerprint.as_bytes())
        .chain_update(device.public_hex().as_bytes())
        .finalize()
        .into();
    let checked = client
        .with_device_key(Some(&device))
        .split_sign(cert, pin, entry.holder(), &context, &[digest], &open)
        .await;
    match checked {
        Ok(_) => {}
        Err(CosignCallError::Refused(crate::cosign::state::RefusalReason::DeviceNotRecognised)) => {
            std::fs::remove_file(staged).map_err(io(staged))?;
            return Err(RestoreError::StagedVoid);
        }
        Err(e) => return Err(e.into()),
    }
    let report = RestoreReport {
        cert: cert.to_string(),
        label: entry.label(),
        fingerprint: entry.fingerprint.clone(),
        device: device.public_hex(),
        new_keystore: false,
    };
    keystore.manifest.certificates.retain(|e| e.id != cert);
    keystore.manifest.certificates.push(entry);
    keystore.save()?;
    std::fs::remove_file(staged).map_err(io(staged))?;
    Ok(report)
}
