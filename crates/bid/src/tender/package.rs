//! The tender package on disk: a zip holding the manifest, its signature, the platform
//! certificate, the tender PDF(s) and the accepted CA certificates.
//!
//! Guarantees when [`open`] returns `Ok`: the zip had only the entries the format allows (no
//! path traversal, no absolute paths, no symlinks, no duplicates, no unlisted files), no entry
//! exceeded its size limit or an implausible compression ratio (zip bombs), the manifest bytes
//! carry a valid platform signature (checked before any other entry is read: at most three
//! small entries are inflated for an unsigned or forged package), the listed files together
//! hold at most [`MAX_UNPACKED_BYTES`], the manifest passed [`TenderManifest::check`], and every
//! listed file matched its size and SHA-256. Does not: decide whether the platform is trusted
//! (see [`super::verify`]) or whether the deadline has passed (the caller decides what to do
//! with a past deadline).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zip::write::SimpleFileOptions;

pub use super::manifest::TENDER_PDF;
use super::manifest::{is_plain_id, PackagedFile, TenderManifest, TENDER_FORMAT};
use super::signature::{PlatformCertificate, PlatformSigner};
use super::{TenderError, TenderSpec};
use crate::fsio::write_atomic;
use crate::zipcheck::{central_directory_names, check_entry_sizes, ZipCheckError};

/// The manifest entry (signed bytes).
pub const MANIFEST: &str = "tender.json";
/// DER ECDSA signature over [`MANIFEST`].
pub const MANIFEST_SIG: &str = "tender.json.sig";
/// The platform's certificate, PEM.
pub const PLATFORM_CERT: &str = "platform.crt";

/// Folder of accepted CA certificates (`trust/NAME.pem`).
pub const TRUST_DIR: &str = "trust/";
/// Folder of further tender documents (`docs/NAME.pdf`: drawings, bill of quantities).
pub const DOCS_DIR: &str = "docs/";

/// Largest package file accepted.
pub const MAX_PACKAGE_BYTES: u64 = 512 * 1024 * 1024;
/// Most entries a package may have.
pub const MAX_ENTRIES: usize = 128;
/// Largest manifest.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// Largest certificate or signature entry.
pub const MAX_SMALL_ENTRY_BYTES: u64 = 64 * 1024;
/// Largest single PDF.
pub const MAX_PDF_BYTES: u64 = 256 * 1024 * 1024;
/// Highest uncompressed/compressed ratio accepted for entries above 1 MiB (PDFs are mostly
/// compressed already; text compresses ~10x; a bomb compresses ~1000x).
pub const MAX_COMPRESSION_RATIO: u64 = crate::zipcheck::MAX_COMPRESSION_RATIO;
/// Most bytes the listed files may hold together (they are kept in memory).
pub const MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;

/// A package whose signature, structure and hashes checked out.
#[derive(Debug, Clone)]
pub struct TenderPackage {
    /// The parsed manifest.
    pub manifest: TenderManifest,
    /// The exact signed bytes of `tender.json`.
    pub manifest_bytes: Vec<u8>,
    /// The DER signature.
    pub signature: Vec<u8>,
    /// The platform certificate that made the signature.
    pub platform: PlatformCertificate,
    /// Every other entry (tender PDF, docs, trust anchors) by name.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl TenderPackage {
    /// The accepted CA certificates as PEM text, by file name.
    pub fn accepted_ca_pems(&self) -> Vec<(&str, &[u8])> {
        self.manifest
            .accepted_cas
            .iter()
            .filter_map(|f| {
                self.files
                    .get(&f.file)
                    .map(|b| (f.file.as_str(), b.as_slice()))
            })
            .collect()
    }

    /// The tender PDF bytes.
    pub fn tender_pdf(&self) -> Option<&[u8]> {
        self.files.get(TENDER_PDF).map(|v| v.as_slice())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum EntryRole {
    Manifest,
    Signature,
    PlatformCert,
    Pdf,
    TrustAnchor,
}

fn entry_role(name: &str) -> Option<EntryRole> {
    match name {
        MANIFEST => return Some(EntryRole::Manifest),
        MANIFEST_SIG => return Some(EntryRole::Signature),
        PLATFORM_CERT => return Some(EntryRole::PlatformCert),
        TENDER_PDF => return Some(EntryRole::Pdf),
        _ => {}
    }
    let leaf = |prefix: &str, ext: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(ext))
            .is_some_and(is_plain_id)
    };
    if leaf(TRUST_DIR, ".pem") {
        Some(EntryRole::TrustAnchor)
    } else if leaf(DOCS_DIR, ".pdf") {
        Some(EntryRole::Pdf)
    } else {
        None
    }
}

fn limit(role: EntryRole) -> u64 {
    match role {
        EntryRole::Manifest => MAX_MANIFEST_BYTES,
        EntryRole::Signature | EntryRole::PlatformCert | EntryRole::TrustAnchor => {
            MAX_SMALL_ENTRY_BYTES
        }
        EntryRole::Pdf => MAX_PDF_BYTES,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn zip_check_error(e: ZipCheckError) -> TenderError {
    match e {
        ZipCheckError::Duplicate(name) => TenderError::ForbiddenEntry { name },
        ZipCheckError::TooMany { count, limit } => TenderError::TooManyEntries {
            count: count as usize,
            limit: limit as usize,
        },
        ZipCheckError::TooLarge { name, limit, .. } => TenderError::TooLarge { entry: name, limit },
        ZipCheckError::Bomb { name, .. } => TenderError::ZipBomb { entry: name },
        ZipCheckError::Io(why) | ZipCheckError::Malformed(why) => TenderError::NotAZip { why },
    }
}

/// Reads entry `index` (named `name`), at most `cap` bytes, and requires exactly `expected`.
fn read_entry(
    zip: &mut zip::ZipArchive<File>,
    index: usize,
    name: &str,
    cap: u64,
    expected: u64,
) -> Result<Vec<u8>, TenderError> {
    let entry = zip
        .by_index(index)
        .map_err(|e| TenderError::NotAZip { why: e.to_string() })?;
    let mut bytes = Vec::with_capacity(expected.min(cap) as usize);
    entry
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TenderError::Corrupt {
            entry: name.to_string(),
            why: e.to_string(),
        })?;
    if bytes.len() as u64 > cap {
        return Err(TenderError::TooLarge {
            entry: name.to_string(),
            limit: cap,
        });
    }
    if bytes.len() as u64 != expected {
        return Err(TenderError::Corrupt {
            entry: name.to_string(),
            why: "实际长度与目录记录不符".into(),
        });
    }
    Ok(bytes)
}

/// Opens and checks a package (see the module doc for what is guaranteed). Order: the raw
/// central directory (duplicates, entry count), every entry's name, declared size and
/// compression ratio (nothing inflated yet), then the manifest, its signature and the
/// platform certificate (small entries), the signature, the manifest; only then the listed
/// files, each declared at exactly its listed size, within [`MAX_UNPACKED_BYTES`] in total.
pub fn open(path: &Path) -> Result<TenderPackage, TenderError> {
    let io = |e: std::io::Error| TenderError::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > MAX_PACKAGE_BYTES {
        return Err(TenderError::TooLarge {
            entry: path.display().to_string(),
            limit: MAX_PACKAGE_BYTES,
        });
    }
    let names = central_directory_names(&mut file, MAX_ENTRIES as u64).map_err(zip_check_error)?;
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| TenderError::NotAZip { why: e.to_string() })?;
    if zip.len() != names.len() {
        return Err(TenderError::NotAZip {
            why: "目录条目数不一致".into(),
        });
    }
    // name → (index, role, declared size)
    let mut entries: BTreeMap<String, (usize, EntryRole, u64)> = BTreeMap::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| TenderError::NotAZip { why: e.to_string() })?;
        let name = entry
            .name()
            .map_err(|e| TenderError::NotAZip { why: e.to_string() })?
            .to_string();
        if entry.is_dir() && (name == TRUST_DIR || name == DOCS_DIR) {
            continue;
        }
        if entry.is_symlink() || entry.enclosed_name().is_none() {
            return Err(TenderError::ForbiddenEntry { name });
        }
        let Some(role) = entry_role(&name) else {
            return Err(TenderError::ForbiddenEntry { name });
        };
        check_entry_sizes(&name, entry.size(), entry.compressed_size(), limit(role))
            .map_err(zip_check_error)?;
        if entry.compressed_size() > len {
            return Err(TenderError::Corrupt {
                entry: name,
                why: "压缩大小超过整个文件".into(),
            });
        }
        let declared = entry.size();
        drop(entry);
        if entries.insert(name.clone(), (i, role, declared)).is_some() {
            return Err(TenderError::ForbiddenEntry { name });
        }
    }

    let mut small = |name: &str| -> Result<Option<Vec<u8>>, TenderError> {
        match entries.remove(name) {
            Some((i, role, declared)) => {
                read_entry(&mut zip, i, name, limit(role), declared).map(Some)
            }
            None => Ok(None),
        }
    };
    let manifest_bytes = small(MANIFEST)?.ok_or(TenderError::MissingEntry {
        name: MANIFEST.into(),
    })?;
    let signature = small(MANIFEST_SIG)?.ok_or(TenderError::Unsigned)?;
    let cert_pem = small(PLATFORM_CERT)?.ok_or(TenderError::Unsigned)?;
    let cert_pem = String::from_utf8(cert_pem).map_err(|_| TenderError::PlatformCertificate {
        why: "不是 PEM 文本".into(),
    })?;
    let platform = PlatformCertificate::from_pem(&cert_pem)?;
    platform.verify(&manifest_bytes, &signature)?;

    let manifest: TenderManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| TenderError::ManifestInvalid {
            why: format!("JSON 解析失败: {e}"),
        })?;
    manifest.check()?;

    let listed: Vec<(&PackagedFile, bool)> = manifest
        .documents
        .iter()
        .map(|d| (d, false))
        .chain(manifest.accepted_cas.iter().map(|c| (c, true)))
        .collect();
    if let Some(name) = entries
        .keys()
        .find(|n| !listed.iter().any(|(f, _)| f.file == **n))
    {
        return Err(TenderError::UnlistedEntry { name: name.clone() });
    }
    let mut total = 0u64;
    let mut files = BTreeMap::new();
    for (listed_file, is_ca) in listed {
        let Some((index, role, declared)) = entries.remove(&listed_file.file) else {
            return Err(TenderError::MissingEntry {
                name: listed_file.file.clone(),
            });
        };
        let expected_role = if is_ca {
            EntryRole::TrustAnchor
        } else {
            EntryRole::Pdf
        };
        if role != expected_role {
            return Err(TenderError::ForbiddenEntry {
                name: listed_file.file.clone(),
            });
        }
        if declared != listed_file.size {
            return Err(TenderError::HashMismatch {
                entry: listed_file.file.clone(),
            });
        }
        total = total.saturating_add(declared);
        if total > MAX_UNPACKED_BYTES {
            return Err(TenderError::TooLarge {
                entry: listed_file.file.clone(),
                limit: MAX_UNPACKED_BYTES,
            });
        }
        let bytes = read_entry(&mut zip, index, &listed_file.file, limit(role), declared)?;
        if sha256_hex(&bytes) != listed_file.sha256 {
            return Err(TenderError::HashMismatch {
                entry: listed_file.file.clone(),
            });
        }
        if is_ca {
            PlatformCertificate::parse_any_pem(&bytes).map_err(|why| {
                TenderError::ManifestInvalid {
                    why: format!("可接受的 CA 证书 {} 无法解析: {why}", listed_file.file),
                }
            })?;
        } else if !bytes.starts_with(b"%PDF-") {
            return Err(TenderError::Corrupt {
                entry: listed_file.file.clone(),
                why: "不是 PDF 文件".into(),
            });
        }
        files.insert(listed_file.file.clone(), bytes);
    }
    Ok(TenderPackage {
        manifest,
        manifest_bytes,
        signature,
        platform,
        files,
    })
}

/// Inputs of [`make`] besides the spec.
pub struct PackageInputs<'a> {
    /// The tender PDF.
    pub tender_pdf: &'a [u8],
    /// Further documents: (file stem, title, bytes), stored as `docs/STEM.pdf`.
    pub extra_docs: Vec<(String, String, Vec<u8>)>,
    /// Accepted CA certificates: (file stem, title, PEM bytes), stored as `trust/STEM.pem`.
    pub accepted_cas: Vec<(String, String, Vec<u8>)>,
    /// The platform's certificate.
    pub platform_cert: &'a PlatformCertificate,
    /// The platform's key.
    pub signer: &'a PlatformSigner,
}

/// Builds, signs and writes (atomically) a tender package; returns the manifest it signed.
pub fn make(
    spec: TenderSpec,
    inputs: PackageInputs<'_>,
    issued_at: OffsetDateTime,
    out: &Path,
) -> Result<TenderManifest, TenderError> {
    if !inputs.signer.matches(inputs.platform_cert) {
        return Err(TenderError::KeyCertMismatch);
    }
    if !inputs.tender_pdf.starts_with(b"%PDF-") {
        return Err(TenderError::Corrupt {
            entry: TENDER_PDF.into(),
            why: "不是 PDF 文件".into(),
        });
    }
    let packaged = |file: String, title: String, bytes: &[u8]| PackagedFile {
        file,
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
        title,
    };
    let mut documents = vec![packaged(
        TENDER_PDF.into(),
        "招标文件".into(),
        inputs.tender_pdf,
    )];
    let mut extra: Vec<(String, &[u8])> = Vec::new();
    for (stem, title, bytes) in &inputs.extra_docs {
        if !is_plain_id(stem) || !bytes.starts_with(b"%PDF-") {
            return Err(TenderError::ForbiddenEntry {
                name: format!("{DOCS_DIR}{stem}.pdf"),
            });
        }
        let name = format!("{DOCS_DIR}{stem}.pdf");
        documents.push(packaged(name.clone(), title.clone(), bytes));
        extra.push((name, bytes));
    }
    let mut accepted_cas = Vec::new();
    for (stem, title, pem) in &inputs.accepted_cas {
        let name = format!("{TRUST_DIR}{stem}.pem");
        if !is_plain_id(stem) {
            return Err(TenderError::ForbiddenEntry { name });
        }
        PlatformCertificate::parse_any_pem(pem).map_err(|why| TenderError::ManifestInvalid {
            why: format!("CA 证书 {stem} 无法解析: {why}"),
        })?;
        accepted_cas.push(packaged(name.clone(), title.clone(), pem));
        extra.push((name, pem));
    }
    let manifest = TenderManifest {
        format: TENDER_FORMAT.into(),
        project: spec.project,
        tenderer: spec.tenderer,
        platform: spec.platform,
        bid_deadline: spec.bid_deadline,
        opening_time: spec.opening_time,
        issued_at,
        accepted_cas,
        documents,
        sections: spec.sections,
        price_form: spec.price_form,
        signing_nodes: spec.signing_nodes,
    };
    manifest.check()?;
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| TenderError::ManifestInvalid { why: e.to_string() })?;
    let signature = inputs.signer.sign(&manifest_bytes);

    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let mut put = |name: &str, bytes: &[u8]| -> Result<(), TenderError> {
            zip.start_file(name, opts)
                .map_err(|e| TenderError::Write { why: e.to_string() })?;
            zip.write_all(bytes)
                .map_err(|e| TenderError::Write { why: e.to_string() })
        };
        put(MANIFEST, &manifest_bytes)?;
        put(MANIFEST_SIG, &signature)?;
        put(PLATFORM_CERT, inputs.platform_cert.pem().as_bytes())?;
        put(TENDER_PDF, inputs.tender_pdf)?;
        for (name, bytes) in extra {
            put(&name, bytes)?;
        }
        zip.finish()
            .map_err(|e| TenderError::Write { why: e.to_string() })?;
    }
    write_atomic(out, buf.get_ref()).map_err(|e| TenderError::Io {
        path: out.display().to_string(),
        why: e.to_string(),
    })?;
    Ok(manifest)
}
