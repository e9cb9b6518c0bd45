//! The encrypted bid file (投标文件, seed 4.4 / 2.13): a package of the signed PDFs, a manifest
//! and the bidder's detached CMS signature over the manifest, encrypted as one CMS
//! AuthEnvelopedData to the bidder's certificate and the colleagues chosen on the phone, so
//! any one of them opens it (and `openssl cms -decrypt -inform DER` does too).
//!
//! Generation is split so that the signature can come from the phone:
//! 1. [`BidManifest`] lists project, bidder, every part's SHA-256, the price summary;
//! 2. [`manifest_signed_attributes`] gives the CMS signed attributes for the bidder's chain;
//!    the phone signs SHA-256 of their DER (the `generate` scan); `assemble` makes the
//!    `manifest.p7s`;
//! 3. [`write_bid_file`] checks the bidder's certificate ([`identity`]), re-hashes every
//!    input against the manifest, writes the package to a temporary file next to the output,
//!    encrypts it to the output atomically and deletes the temporary package.
//!
//! Guarantees: nothing is written at the output path until the whole envelope is complete and
//! fsynced (temporary file + rename; a crash or kill -9 at any point leaves the previous bid
//! file as it was); inputs are only read; a part that changed after the manifest was signed
//! is refused. The bid file is self-contained: the recipient certificates (public data) travel
//! inside the envelope (`originatorInfo`), so that a hall can tell the phone which
//! certificates may open a file that was copied alone.
//!
//! Does not: upload the file, or decide which colleagues to add (the phone does).

pub mod error;
pub mod identity;
pub mod manifest;
pub mod package;

pub use error::BidFileError;
pub use identity::{accepted_cas, check_bidder_certificate, check_same_company};
pub use manifest::{BidManifest, BidPart, BidProjectIds, BidderIds, MANIFEST_FORMAT};

use bidseal_cms::cert::{Certificate, TrustStore};
use bidseal_cms::envelope::{self, RecipientSet};
use bidseal_cms::signed_data::{sha256, AttributeProfile, SignedAttributes};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The signed attributes of the manifest signature for `chain` (signer first): plain CMS with
/// signingTime, over SHA-256 of `manifest_bytes`.
pub fn manifest_signed_attributes(
    manifest_bytes: &[u8],
    chain: Vec<Certificate>,
    at: SystemTime,
) -> Result<SignedAttributes, BidFileError> {
    SignedAttributes::new(
        sha256(manifest_bytes),
        chain,
        AttributeProfile::CmsWithSigningTime(at),
    )
    .map_err(|e| BidFileError::ManifestSignature { why: e.to_string() })
}

/// Everything needed to write one bid file.
#[derive(Debug, Clone)]
pub struct BidFileInputs {
    /// The manifest (its `parts` must describe `files`).
    pub manifest: BidManifest,
    /// The exact manifest bytes that were signed.
    pub manifest_bytes: Vec<u8>,
    /// DER `ContentInfo` of the detached signature over `manifest_bytes`.
    pub manifest_signature: Vec<u8>,
    /// Part name → file on disk.
    pub files: Vec<(String, PathBuf)>,
    /// Recipient certificates: the bidder's first, then colleagues.
    pub recipients: Vec<Certificate>,
    /// RFC 5753 user keying material for every recipient entry (BidSeal: `bidseal-ukm/v1` ‖
    /// SHA-256(tender.json) ‖ SHA-256(manifest), see `bidseal_scan::EnvelopeUkm`).
    pub ukm: Option<Vec<u8>>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct BidFileSummary {
    /// The bid file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Lower-case hex SHA-256 of the bid file.
    pub sha256: String,
    /// Recipient subjects.
    pub recipients: Vec<String>,
}

/// A temporary file deleted on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Checks and writes the bid file at `output` (see the module doc for the steps).
/// `accepted` is the tender's CA trust store; `at` the time of the checks.
pub fn write_bid_file(
    output: &Path,
    inputs: &BidFileInputs,
    accepted: &TrustStore,
    signer_chain: &[Certificate],
    at: SystemTime,
) -> Result<BidFileSummary, BidFileError> {
    write_bid_file_with(
        output,
        inputs,
        accepted,
        signer_chain,
        at,
        &mut |_, _, _| {},
    )
}

/// A stage of writing the bid file, for progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStage {
    /// Packaging the parts into the plaintext zip: `(0, total)` when it starts, `(total,
    /// total)` when done (bytes of the parts).
    Packaging,
    /// Encrypting the package: plaintext bytes done of the package's size, per chunk.
    Encrypting,
}

/// [`write_bid_file`], reporting `(stage, bytes done, bytes total)` to `progress`.
pub fn write_bid_file_with(
    output: &Path,
    inputs: &BidFileInputs,
    accepted: &TrustStore,
    signer_chain: &[Certificate],
    at: SystemTime,
    progress: &mut (dyn FnMut(WriteStage, u64, u64) + Send),
) -> Result<BidFileSummary, BidFileError> {
    // 1. Who signs: accepted CA + the project's bidder.
    check_bidder_certificate(signer_chain, accepted, &inputs.manifest.bidder, at)?;
    // 2. The signature really covers these manifest bytes, by this certificate.
    let check = bidseal_cms::signed_data::verify_detached(
        &inputs.manifest_signature,
        &sha256(&inputs.manifest_bytes),
        accepted,
        at,
    )
    .map_err(|e| BidFileError::ManifestSignature { why: e.to_string() })?;
    let leaf = signer_chain
        .first()
        .ok_or_else(|| BidFileError::ManifestSignature {
            why: "没有签名证书".into(),
        })?;
    if !check.is_valid() || check.signer != *leaf {
        return Err(BidFileError::ManifestSignature {
            why: "清单签名无效或不是投标人证书所签".into(),
        });
    }
    if check.signing_time.is_none() {
        return Err(BidFileError::ManifestSignature {
            why: "清单签名没有签名时间属性（不是生成标书的清单签名）".into(),
        });
    }
    if BidManifest::from_bytes(&inputs.manifest_bytes)? != inputs.manifest {
        return Err(BidFileError::ManifestSignature {
            why: "签名的清单与待打包的清单不一致".into(),
        });
    }
    // 3. Recipients: the signer first, colleagues of the same enterprise.
    let first = inputs
        .recipients
        .first()
        .ok_or_else(|| BidFileError::RecipientRefused {
            why: "没有参与加密的证书".into(),
        })?;
    for cert in &inputs.recipients {
        check_same_company(cert, &inputs.manifest.bidder).map_err(|e| {
            BidFileError::RecipientRefused {
                why: format!("{}：{e}", cert.subject_string()),
            }
        })?;
        accepted
            .verify_chain(cert, &[], at)
            .map_err(|e| BidFileError::RecipientRefused {
                why: format!("{}：{e}", cert.subject_string()),
            })?;
    }
    if first.credit_code() != leaf.credit_code() {
        return Err(BidFileError::RecipientRefused {
            why: "第一本加密证书必须是投标人本单位的证书".into(),
        });
    }
    let mut recipients = RecipientSet::new(inputs.recipients.clone(), at)?;
    if let Some(ukm) = &inputs.ukm {
        recipients = recipients.with_ukm(ukm)?;
    }
    // 4. Every input still is what the manifest says.
    inputs.manifest.check_parts()?;
    if inputs.files.len() != inputs.manifest.parts.len() {
        return Err(BidFileError::invalid(
            "待打包文件与清单列出的文件数量不一致",
        ));
    }
    for (name, path) in &inputs.files {
        let part = inputs
            .manifest
            .part(name)
            .ok_or_else(|| BidFileError::invalid(format!("清单中没有文件“{name}”")))?;
        let (hash, size) = manifest::hash_file(path)?;
        if hash != part.sha256 || size != part.size {
            return Err(BidFileError::invalid(format!(
                "文件“{name}”在签名后被修改，请重新生成"
            )));
        }
    }
    // 5. Package → private temporary file beside the output (plaintext: 0600; a killed
    //    writer's is swept here next time); encrypt → output (atomic inside encrypt_file).
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::fsio::sweep_stale_plaintext(&dir, SystemTime::now());
    let package = TempFile(dir.join(crate::fsio::plaintext_temp_name(".zip")));
    let parts: u64 = inputs
        .files
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    progress(WriteStage::Packaging, 0, parts);
    package::write_package(
        &package.0,
        &inputs.manifest_bytes,
        &inputs.manifest_signature,
        &inputs.files,
    )?;
    progress(WriteStage::Packaging, parts, parts);
    envelope::encrypt_file(&package.0, output, &recipients, &mut |done, total| {
        progress(WriteStage::Encrypting, done, total)
    })?;
    drop(package);
    let (sha256, size) = manifest::hash_file(output)?;
    Ok(BidFileSummary {
        path: output.to_path_buf(),
        size,
        sha256,
        recipients: inputs
            .recipients
            .iter()
            .map(Certificate::subject_string)
            .collect(),
    })
}
