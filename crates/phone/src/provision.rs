//! `bidseal phone init DIR`: makes a complete test world in one folder — the test PKI, the
//! phone keystore and the co-signing service's state — so no key is ever checked in.
//!
//! ```text
//! DIR/pki/ca-1.pem ca-2.pem trust.pem          test CA certificates (trust.pem = both)
//! DIR/pki/ca-N.key.pem                          test CA keys (PKCS#8; test only)
//! DIR/pki/<id>.pem <id>.chain.pem <id>.key.pem leaf, leaf+CA, PKCS#8 key (test escrow for
//!                                              independent tools such as `openssl cms`)
//! DIR/pki/platform.crt platform.key.pem        the world's trading-platform tender-signing
//!                                              identity (`bidseal tender make --world DIR`)
//! DIR/phone/keystore.json, DIR/phone/seals/*.png   what the phone carries (sealed keys)
//! DIR/cosign/state.db, DIR/cosign/admin-token      what the co-signing service keeps
//! ```
//!
//! Guarantees: every file is written atomically; secrets (keys, token, state) are mode 0600 on
//! Unix; the phone keystore holds each key only sealed under PIN + service share. The plain
//! keys in `pki/` exist because independent validators need them in tests; the phone never
//! reads them. It refuses to overwrite an existing `DIR/phone/keystore.json`.

use crate::cosign::device::DeviceKey;
use crate::cosign::state::{write_atomic, CertRecord, CertShares, CosignBook};
use crate::key_seal::{new_share, RecoverySeal, SealedKey};
use crate::keystore::{
    KeystoreEntry, KeystoreManifest, SealImageRef, KEYSTORE_FILE, KEYSTORE_VERSION, SEALS_DIR,
};
use crate::pki::{self, HolderRole, PkiError, TestCa};
use crate::seal_image::{self, SealFont, SealImageKind};
use rand_core::{OsRng, RngCore};
use std::path::{Path, PathBuf};

/// Errors of `phone init`.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// PKI generation.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Sealing a key.
    #[error(transparent)]
    Seal(#[from] crate::key_seal::SealError),
    /// Persisting the service state.
    #[error(transparent)]
    Book(#[from] crate::cosign::state::BookError),
    /// I/O.
    #[error("写入 {path} 失败：{source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Already initialised.
    #[error("{0} 已存在测试证书库，请换一个目录或先删除它")]
    Exists(String),
    /// PIN format.
    #[error("PIN 码必须是 6 位数字")]
    BadPin,
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct ProvisionReport {
    /// The folder.
    pub dir: PathBuf,
    /// Certificate ids and labels.
    pub certificates: Vec<(String, String)>,
    /// True when seals were drawn without text (no CJK font).
    pub font_missing: bool,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    write_atomic(path, bytes).map_err(|source| ProvisionError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Like [`write`] but readable by everyone (certificates, seal images: nothing secret).
fn write_public(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    write(path, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(
            |source| ProvisionError::Io {
                path: path.display().to_string(),
                source,
            },
        )?;
    }
    Ok(())
}

fn mkdir(path: &Path) -> Result<(), ProvisionError> {
    std::fs::create_dir_all(path).map_err(|source| ProvisionError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Checks a 6-digit PIN.
pub fn check_pin_format(pin: &str) -> Result<(), ProvisionError> {
    if pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ProvisionError::BadPin)
    }
}

/// Makes the test world in `dir` with the same `pin` on every certificate.
/// `kdf_iterations` is the PBKDF2 count of every PIN-derived key and PIN verifier
/// ([`crate::key_seal::PIN_KDF_ITERATIONS`] by default).
pub fn init_test_world(
    dir: &Path,
    pin: &str,
    kdf_iterations: u32,
) -> Result<ProvisionReport, ProvisionError> {
    check_pin_format(pin)?;
    let (pki_dir, phone_dir, cosign_dir) = (dir.join("pki"), dir.join("phone"), dir.join("cosign"));
    if phone_dir.join(KEYSTORE_FILE).exists() {
        return Err(ProvisionError::Exists(dir.display().to_string()));
    }
    for d in [
        &pki_dir,
        &phone_dir,
        &phone_dir.join(SEALS_DIR),
        &cosign_dir,
    ] {
        mkdir(d)?;
    }
    let cas = [
        TestCa::generate("ca-1", "BidSeal 测试CA 一")?,
        TestCa::generate("ca-2", "BidSeal 测试CA 二")?,
    ];
    let mut trust = String::new();
    for ca in &cas {
        let pem = pki::cert_pem(&ca.cert)?;
        write_public(&pki_dir.join(format!("{}.pem", ca.id)), pem.as_bytes())?;
        write(
            &pki_dir.join(format!("{}.key.pem", ca.id)),
            ca.key_pem()?.as_bytes(),
        )?;
        trust.push_str(&pem);
    }
    write_public(&pki_dir.join("trust.pem"), trust.as_bytes())?;
    write_platform_identity(&pki_dir)?;

    let font = SealFont::load();
    let device = DeviceKey::generate();
    let mut book = CosignBook::create(&cosign_dir.join(crate::cosign::server::STATE_FILE))?;
    let mut entries = Vec::new();
    let mut report = Vec::new();
    for spec in pki::standard_specs()? {
        let ca = &cas[spec.ca_index.min(1)];
        let issued = ca.issue(&spec)?;
        let fp = pki::fingerprint(&issued.cert)?;
        write_public(
            &pki_dir.join(format!("{}.pem", spec.id)),
            pki::cert_pem(&issued.cert)?.as_bytes(),
        )?;
        write_public(
            &pki_dir.join(format!("{}.chain.pem", spec.id)),
            issued.chain_pem()?.as_bytes(),
        )?;
        write(
            &pki_dir.join(format!("{}.key.pem", spec.id)),
            issued.key_pem()?.as_bytes(),
        )?;

        let share = new_share();
        let recovery_share = new_share();
        let recovery = RecoverySeal::seal(&issued.key_pkcs8, &recovery_share, &fp)?;
        let sealed = SealedKey::seal(&issued.key_pkcs8, pin, &share, &fp, kdf_iterations)?;
        let holder = spec.person.clone().unwrap_or_else(|| spec.company.clone());
        book.insert(
            &CertRecord::new(
                &spec.id,
                &fp,
                &holder,
                issued.not_after_unix(),
                pin,
                CertShares {
                    share: &share,
                    recovery_share: &recovery_share,
                },
                kdf_iterations,
            )
            .with_device(&device.public_hex()),
        )?;

        let mut seals = Vec::new();
        let mut add =
            |kind: SealImageKind, index: u8, png: Vec<u8>| -> Result<(), ProvisionError> {
                let file = format!("{}-{}-{}.png", spec.id, serde_kind(kind), index + 1);
                write_public(&phone_dir.join(SEALS_DIR).join(&file), &png)?;
                seals.push(SealImageRef { kind, index, file });
                Ok(())
            };
        match (spec.role, &spec.person) {
            (HolderRole::Enterprise, _) => add(
                SealImageKind::EnterpriseSeal,
                0,
                seal_image::enterprise_seal(&font, &spec.company),
            )?,
            (HolderRole::LegalPerson, Some(p)) => {
                add(
                    SealImageKind::LegalPersonSeal,
                    0,
                    seal_image::legal_person_seal(&font, p),
                )?;
                add(
                    SealImageKind::LegalPersonSignature,
                    0,
                    seal_image::handwritten_signature(&font, p),
                )?;
            }
            _ => {}
        }
        if let Some(p) = &spec.person {
            for i in 0..spec.personal_seals.min(3) {
                add(
                    SealImageKind::PersonalSeal,
                    i,
                    seal_image::personal_seal(&font, p, i),
                )?;
            }
        }
        let entry = KeystoreEntry {
            id: spec.id.clone(),
            role: spec.role,
            company: spec.company.clone(),
            uscc: spec.uscc.clone(),
            person: spec.person.clone(),
            ca: ca.id.to_string(),
            fingerprint: fp,
            cert_pem: pki::cert_pem(&issued.cert)?,
            chain_pem: issued.chain_pem()?,
            sealed_key: sealed,
            recovery: Some(recovery),
            seals,
        };
        report.push((entry.id.clone(), entry.label()));
        entries.push(entry);
    }
    let manifest = KeystoreManifest {
        version: KEYSTORE_VERSION,
        certificates: entries,
        device_key: Some(device),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ProvisionError::Io {
        path: KEYSTORE_FILE.into(),
        source: std::io::Error::other(e),
    })?;
    write(&phone_dir.join(KEYSTORE_FILE), &json)?;
    let mut token = [0u8; 32];
    OsRng.fill_bytes(&mut token);
    write(
        &cosign_dir.join(crate::cosign::server::ADMIN_TOKEN_FILE),
        hex::encode(token).as_bytes(),
    )?;
    Ok(ProvisionReport {
        dir: dir.to_path_buf(),
        certificates: report,
        font_missing: font.is_missing(),
    })
}

/// The world's platform certificate (public), for `bidseal tender make --world` and
/// `project new --platform-cert`.
pub const PLATFORM_CERT_FILE: &str = "platform.crt";
/// The world's platform signing key (PKCS#8 PEM, mode 0600).
pub const PLATFORM_KEY_FILE: &str = "platform.key.pem";

/// Writes the world's trading-platform identity into `pki_dir`: a fresh self-signed P-256
/// certificate and its key, with which `bidseal tender make --world` signs tender packages
/// that accept this world's CAs. Test only, like every key of the world.
pub fn write_platform_identity(pki_dir: &Path) -> Result<(), ProvisionError> {
    let platform = TestCa::generate("platform", "BidSeal 测试交易平台")?;
    write_public(
        &pki_dir.join(PLATFORM_CERT_FILE),
        pki::cert_pem(&platform.cert)?.as_bytes(),
    )?;
    write(
        &pki_dir.join(PLATFORM_KEY_FILE),
        platform.key_pem()?.as_bytes(),
    )
}

fn serde_kind(kind: SealImageKind) -> &'static str {
    match kind {
        SealImageKind::EnterpriseSeal => "enterprise_seal",
        SealImageKind::LegalPersonSeal => "legal_person_seal",
        SealImageKind::LegalPersonSignature => "legal_person_signature",
        SealImageKind::PersonalSeal => "personal_seal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::Keystore;

    #[test]
    fn init_makes_a_keystore_whose_keys_open_only_with_the_service_share() {
        let dir = tempfile::tempdir().unwrap();
        let report = init_test_world(dir.path(), "123456", 1000).unwrap();
        assert_eq!(report.certificates.len(), 7);
        let ks = Keystore::load(&dir.path().join("phone")).unwrap();
        let ent = ks.entry("ent-huaxia").unwrap();
        assert_eq!(ent.seals.len(), 1);
        assert!(ks.seal_png(&ent.seals[0]).unwrap().starts_with(b"\x89PNG"));
        assert_eq!(ks.entry("staff-li").unwrap().seals.len(), 3);
        let mut book = CosignBook::load(&dir.path().join("cosign/state.db")).unwrap();
        assert!(book
            .record("ent-huaxia")
            .unwrap()
            .unwrap()
            .pin
            .matches("123456"));
        assert!(
            init_test_world(dir.path(), "123456", 1000).is_err(),
            "must not overwrite"
        );
        let platform = std::fs::read_to_string(dir.path().join("pki/platform.crt")).unwrap();
        assert!(platform.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::read_to_string(dir.path().join("pki/platform.key.pem")).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let keystore_text =
            std::fs::read_to_string(dir.path().join("phone/keystore.json")).unwrap();
        assert!(!keystore_text.contains("PRIVATE KEY"));

        // Every key opens with the PIN and its own service share, and is the certificate's key;
        // a wrong share, another certificate's share or a wrong PIN opens nothing.
        let shares: Vec<_> = ks
            .manifest
            .certificates
            .iter()
            .map(|e| book.record(&e.id).unwrap().unwrap().share().unwrap())
            .collect();
        for (i, e) in ks.manifest.certificates.iter().enumerate() {
            use p256::pkcs8::DecodePrivateKey;
            use x509_cert::der::DecodePem;
            let pkcs8 = e
                .sealed_key
                .unseal("123456", &shares[i], &e.fingerprint)
                .unwrap();
            let key = p256::SecretKey::from_pkcs8_der(&pkcs8).unwrap();
            let cert = x509_cert::Certificate::from_pem(e.cert_pem.as_bytes()).unwrap();
            assert_eq!(
                key.public_key().to_sec1_bytes().as_ref(),
                cert.tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
                "{}: the sealed key is the certificate's key",
                e.id
            );
            let other = &shares[(i + 1) % shares.len()];
            assert!(e
                .sealed_key
                .unseal("123456", other, &e.fingerprint)
                .is_err());
            let mut flipped = *shares[i];
            flipped[0] ^= 1;
            assert!(e
                .sealed_key
                .unseal("123456", &zeroize::Zeroizing::new(flipped), &e.fingerprint)
                .is_err());
            assert!(e
                .sealed_key
                .unseal("654321", &shares[i], &e.fingerprint)
                .is_err());
        }
    }
}
