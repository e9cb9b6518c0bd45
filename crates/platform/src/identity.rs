//! The platform's signing identity: a P-256 key and its certificate, used for tender
//! manifests, integrity-library records and upload receipts.
//!
//! Kept as `DATA/pki/platform.crt` + `DATA/pki/platform.key.pem` (mode 0600). On first start
//! it is copied from the demo world (`WORLD/pki/platform.*`, what `bidseal tender make
//! --world` signs with, so the demo tender verifies against the running platform) or made
//! fresh. Signatures are ECDSA P-256 / SHA-256, DER, over exact bytes — the same as the
//! tender manifest's, so `openssl dgst -sha256 -verify` checks any of them.
//!
//! Guarantees: the key never leaves this module except as signatures; a key that does not
//! match the certificate is refused at start. Does not: rotate keys or publish revocations.

use crate::error::PlatformError;
use bidseal_bid::tender::{PlatformCertificate, PlatformSigner};
use bidseal_phone::provision::{write_platform_identity, PLATFORM_CERT_FILE, PLATFORM_KEY_FILE};
use std::path::Path;

/// The platform's key and certificate.
pub struct PlatformIdentity {
    cert: PlatformCertificate,
    signer: PlatformSigner,
}

impl std::fmt::Debug for PlatformIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformIdentity")
            .field("fingerprint", &self.cert.fingerprint())
            .finish_non_exhaustive()
    }
}

impl PlatformIdentity {
    /// Loads `pki_dir/platform.*`; when absent, copies them from `world_pki` if given, else
    /// makes a fresh self-signed identity.
    pub fn load_or_create(pki_dir: &Path, world_pki: Option<&Path>) -> Result<Self, PlatformError> {
        let cert_path = pki_dir.join(PLATFORM_CERT_FILE);
        let key_path = pki_dir.join(PLATFORM_KEY_FILE);
        if !cert_path.exists() || !key_path.exists() {
            std::fs::create_dir_all(pki_dir).map_err(|e| PlatformError::io(pki_dir, e))?;
            match world_pki {
                Some(world) => {
                    for name in [PLATFORM_CERT_FILE, PLATFORM_KEY_FILE] {
                        let from = world.join(name);
                        let bytes = std::fs::read(&from).map_err(|e| PlatformError::DemoWorld {
                            path: from.display().to_string(),
                            why: e.to_string(),
                        })?;
                        write_private(&pki_dir.join(name), &bytes)?;
                    }
                }
                None => write_platform_identity(pki_dir)
                    .map_err(|e| PlatformError::Identity(e.to_string()))?,
            }
        }
        let pem =
            std::fs::read_to_string(&cert_path).map_err(|e| PlatformError::io(&cert_path, e))?;
        let cert = PlatformCertificate::from_pem(&pem)
            .map_err(|e| PlatformError::Identity(e.to_string()))?;
        let signer = PlatformSigner::from_pem_file(&key_path)
            .map_err(|e| PlatformError::Identity(e.to_string()))?;
        if !signer.matches(&cert) {
            return Err(PlatformError::Identity(format!(
                "{} 与 {} 不匹配",
                key_path.display(),
                cert_path.display()
            )));
        }
        Ok(Self { cert, signer })
    }

    /// Signs `message` (ECDSA P-256, SHA-256, DER).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signer.sign(message)
    }

    /// The signer, for packing tender manifests (`bidseal_bid::tender::make`).
    pub(crate) fn signer(&self) -> &PlatformSigner {
        &self.signer
    }

    /// The certificate.
    pub fn certificate(&self) -> &PlatformCertificate {
        &self.cert
    }

    /// SHA-256 of the DER certificate, lower-case hex.
    pub fn fingerprint(&self) -> &str {
        self.cert.fingerprint()
    }
}

/// Writes a file readable by the owner only (the key), atomically enough for a first start.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PlatformError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| PlatformError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| PlatformError::io(path, e))
}
