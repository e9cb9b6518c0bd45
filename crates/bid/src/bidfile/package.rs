//! The bid package: a zip (stored, not compressed — PDFs are compressed already) with
//! `manifest.json`, `manifest.p7s` and every part named in the manifest.
//!
//! Guarantees: writing streams each part from disk. Reading is in two steps so that the hall
//! checks the bidder's signature before anything is inflated: [`open_package`] walks the raw
//! central directory (duplicate names, which the `zip` crate would merge silently, are refused),
//! reads only the manifest and its signature (each bounded), and refuses entries not named in
//! the manifest, missing entries, names that are not plain file names, symlinks, a declared
//! size different from the manifest's, and implausible compression ratios;
//! [`OpenedPackage::extract`] then refuses a package whose declared total does not fit on the
//! disk, writes each part (mode `0600`) inside the given folder only, never more than its
//! declared size, and removes what it wrote when it fails. Does not: check hashes or
//! signatures (see `opening`).

use super::error::BidFileError;
use super::manifest::{check_part_name, BidManifest, MANIFEST_NAME, MAX_PARTS, SIGNATURE_NAME};
use crate::zipcheck::{central_directory_names, check_entry_sizes, ZipCheckError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// Largest manifest signature accepted.
pub const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;
/// Largest single part (the envelope format allows more; a bid part above 64 GiB is refused).
pub const MAX_PART_BYTES: u64 = 64 << 30;
/// Free space left on the hall's disk after extracting a package.
pub const DISK_RESERVE: u64 = 256 << 20;

/// Writes the package zip to `path` (a temporary file chosen by the caller), mode `0600`.
pub fn write_package(
    path: &Path,
    manifest_bytes: &[u8],
    signature_der: &[u8],
    parts: &[(String, PathBuf)],
) -> Result<(), BidFileError> {
    let file = crate::fsio::create_private(path).map_err(|e| BidFileError::io(path, e))?;
    let mut zip = zip::ZipWriter::new(file);
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    let zerr = |e: zip::result::ZipError| BidFileError::io(path, e);
    zip.start_file(MANIFEST_NAME, opts).map_err(zerr)?;
    zip.write_all(manifest_bytes)
        .map_err(|e| BidFileError::io(path, e))?;
    zip.start_file(SIGNATURE_NAME, opts).map_err(zerr)?;
    zip.write_all(signature_der)
        .map_err(|e| BidFileError::io(path, e))?;
    for (name, source) in parts {
        check_part_name(name)?;
        let big = File::open(source)
            .and_then(|f| f.metadata())
            .map(|m| m.len() >= u32::MAX as u64)
            .map_err(|e| BidFileError::io(source, e))?;
        zip.start_file(name.as_str(), opts.large_file(big))
            .map_err(zerr)?;
        let mut input = File::open(source).map_err(|e| BidFileError::io(source, e))?;
        std::io::copy(&mut input, &mut zip).map_err(|e| BidFileError::io(source, e))?;
    }
    let file = zip.finish().map_err(zerr)?;
    file.sync_all().map_err(|e| BidFileError::io(path, e))?;
    Ok(())
}

/// A package read back and its parts extracted.
#[derive(Debug, Clone)]
pub struct ExtractedPackage {
    /// The exact manifest bytes (what the signature covers).
    pub manifest_bytes: Vec<u8>,
    /// The parsed manifest.
    pub manifest: BidManifest,
    /// DER of `manifest.p7s`.
    pub signature_der: Vec<u8>,
    /// Part name → extracted file.
    pub parts: BTreeMap<String, PathBuf>,
}

fn read_limited(entry: &mut impl Read, limit: u64, what: &str) -> Result<Vec<u8>, BidFileError> {
    let mut out = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| BidFileError::invalid(format!("{what} 无法读取：{e}")))?;
    if out.len() as u64 > limit {
        return Err(BidFileError::invalid(format!("{what} 超过大小上限")));
    }
    Ok(out)
}

/// A package whose directory passed every check and whose manifest and signature were read,
/// nothing else inflated: check the signature, then [`OpenedPackage::extract`].
pub struct OpenedPackage {
    zip: zip::ZipArchive<File>,
    /// The exact manifest bytes (what the signature covers).
    pub manifest_bytes: Vec<u8>,
    /// The parsed manifest.
    pub manifest: BidManifest,
    /// DER of `manifest.p7s`.
    pub signature_der: Vec<u8>,
}

fn zip_refused(e: ZipCheckError) -> BidFileError {
    BidFileError::invalid(e.to_string())
}

/// Opens the package at `zip_path` and checks its directory without inflating any part:
/// no duplicate names (raw central directory), at most [`MAX_PARTS`] + 2 entries, only the
/// manifest, its signature and the listed parts, each declared at exactly its listed size
/// with a plausible compression ratio.
pub fn open_package(zip_path: &Path) -> Result<OpenedPackage, BidFileError> {
    let mut file = File::open(zip_path).map_err(|e| BidFileError::io(zip_path, e))?;
    let zip_len = file
        .metadata()
        .map_err(|e| BidFileError::io(zip_path, e))?
        .len();
    let names = central_directory_names(&mut file, MAX_PARTS as u64 + 2).map_err(zip_refused)?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| BidFileError::invalid(format!("不是有效的 zip：{e}")))?;
    if zip.len() != names.len() {
        return Err(BidFileError::invalid("zip 目录条目数不一致"));
    }
    let manifest_bytes = {
        let mut entry = zip
            .by_name(MANIFEST_NAME)
            .map_err(|_| BidFileError::invalid("缺少 manifest.json"))?;
        read_limited(&mut entry, MAX_MANIFEST_BYTES, MANIFEST_NAME)?
    };
    let manifest = BidManifest::from_bytes(&manifest_bytes)?;
    let signature_der = {
        let mut entry = zip
            .by_name(SIGNATURE_NAME)
            .map_err(|_| BidFileError::invalid("缺少投标人签名 manifest.p7s"))?;
        read_limited(&mut entry, MAX_SIGNATURE_BYTES, SIGNATURE_NAME)?
    };
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| BidFileError::invalid(format!("第 {i} 个条目损坏：{e}")))?;
        let name = entry
            .name()
            .map_err(|e| BidFileError::invalid(format!("第 {i} 个条目名称无效：{e}")))?
            .to_string();
        if name == MANIFEST_NAME || name == SIGNATURE_NAME {
            continue;
        }
        check_part_name(&name)?;
        if entry.is_symlink() || entry.is_dir() {
            return Err(BidFileError::BadPartName { name });
        }
        let declared = manifest
            .part(&name)
            .ok_or_else(|| BidFileError::invalid(format!("包含清单未列出的文件“{name}”")))?;
        if entry.size() != declared.size {
            return Err(BidFileError::invalid(format!(
                "文件“{name}”在 zip 目录中声明 {} 字节，清单中为 {} 字节",
                entry.size(),
                declared.size
            )));
        }
        if entry.compressed_size() > zip_len {
            return Err(BidFileError::invalid(format!(
                "文件“{name}”的压缩大小超过整个文件包"
            )));
        }
        check_entry_sizes(&name, entry.size(), entry.compressed_size(), MAX_PART_BYTES)
            .map_err(zip_refused)?;
    }
    for part in &manifest.parts {
        if !names.contains(&part.name) {
            return Err(BidFileError::invalid(format!(
                "缺少清单列出的文件“{}”",
                part.name
            )));
        }
    }
    Ok(OpenedPackage {
        zip,
        manifest_bytes,
        manifest,
        signature_der,
    })
}

impl OpenedPackage {
    /// Total size of the parts the manifest lists.
    pub fn declared_total(&self) -> u64 {
        self.manifest
            .parts
            .iter()
            .fold(0u64, |t, p| t.saturating_add(p.size))
    }

    /// Extracts every part into `into` (which must exist), files created `0600` on Unix.
    /// Refuses first when the declared total does not fit on the disk of `into` (with a
    /// reserve); never writes more than a part's declared size. On error the parts written so
    /// far are removed.
    pub fn extract(self, into: &Path) -> Result<ExtractedPackage, BidFileError> {
        let free = crate::fsio::free_space(into);
        self.extract_within(into, free)
    }

    /// [`Self::extract`] with the free space of `into` given (`None`: unknown, not checked).
    pub fn extract_within(
        mut self,
        into: &Path,
        free: Option<u64>,
    ) -> Result<ExtractedPackage, BidFileError> {
        let total = self.declared_total();
        if let Some(free) = free {
            if total.saturating_add(DISK_RESERVE) > free {
                return Err(BidFileError::invalid(format!(
                    "解压需要 {total} 字节，目录 {} 只剩 {free} 字节可用",
                    into.display()
                )));
            }
        }
        let mut parts = BTreeMap::new();
        let result = self.extract_into(into, &mut parts);
        if result.is_err() {
            for path in parts.values() {
                let _ = std::fs::remove_file(path);
            }
        }
        result?;
        Ok(ExtractedPackage {
            manifest_bytes: self.manifest_bytes,
            manifest: self.manifest,
            signature_der: self.signature_der,
            parts,
        })
    }

    fn extract_into(
        &mut self,
        into: &Path,
        parts: &mut BTreeMap<String, PathBuf>,
    ) -> Result<(), BidFileError> {
        for declared in self.manifest.parts.clone() {
            let name = declared.name.clone();
            let mut entry = self
                .zip
                .by_name(&name)
                .map_err(|e| BidFileError::invalid(format!("文件“{name}”无法读取：{e}")))?;
            let target = into.join(&name);
            let mut out =
                crate::fsio::create_private(&target).map_err(|e| BidFileError::io(&target, e))?;
            parts.insert(name.clone(), target.clone());
            let copied = std::io::copy(&mut (&mut entry).take(declared.size + 1), &mut out)
                .map_err(|e| BidFileError::invalid(format!("文件“{name}”无法解压：{e}")))?;
            if copied != declared.size {
                return Err(BidFileError::invalid(format!(
                    "文件“{name}”解压后为 {copied}{} 字节，清单声明 {} 字节",
                    if copied > declared.size { "+" } else { "" },
                    declared.size
                )));
            }
        }
        Ok(())
    }
}

/// Reads the package at `zip_path` and extracts its parts into `into` (which must exist),
/// without checking the signature in between: for tools and tests. The hall uses
/// [`open_package`], checks the signature, then [`OpenedPackage::extract`].
pub fn read_package(zip_path: &Path, into: &Path) -> Result<ExtractedPackage, BidFileError> {
    open_package(zip_path)?.extract(into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bidfile::manifest::{BidPart, BidProjectIds, BidderIds, MANIFEST_FORMAT};

    fn manifest(parts: Vec<BidPart>) -> Vec<u8> {
        let m = BidManifest {
            format: MANIFEST_FORMAT.into(),
            project: BidProjectIds {
                project_id: "P".into(),
                project_name: "项目".into(),
                lot_id: "1".into(),
                lot_name: "一标段".into(),
                platform_id: "p".into(),
            },
            bidder: BidderIds {
                name: "华夏".into(),
                credit_code: "9111010871526726X9".into(),
            },
            parts,
            price: BTreeMap::new(),
            integrity_records: vec![],
            tool_version: "t".into(),
            created_at: "now".into(),
        };
        m.to_bytes().unwrap_or_else(|e| panic!("{e}"))
    }

    fn part(name: &str, size: u64) -> BidPart {
        BidPart {
            name: name.into(),
            section: None,
            size,
            sha256: "00".repeat(32),
        }
    }

    /// A zip with the given raw entries.
    fn zip_of(dir: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("p.zip");
        let file = File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut zip = zip::ZipWriter::new(file);
        for (name, bytes) in entries {
            zip.start_file(*name, SimpleFileOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            zip.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
        }
        zip.finish().unwrap_or_else(|e| panic!("{e}"));
        path
    }

    fn refused(entries: &[(&str, &[u8])]) -> String {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let zip = zip_of(dir.path(), entries);
        let out = dir.path().join("x");
        std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
        match read_package(&zip, &out) {
            Ok(_) => panic!("package accepted"),
            Err(e) => {
                assert_eq!(e.code(), "BID_PACKAGE_INVALID", "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn a_well_formed_package_reads_back_with_its_parts_extracted() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let m = manifest(vec![part("a.pdf", 3)]);
        let zip = zip_of(
            dir.path(),
            &[
                (MANIFEST_NAME, &m),
                (SIGNATURE_NAME, b"sig"),
                ("a.pdf", b"abc"),
            ],
        );
        let out = dir.path().join("x");
        std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
        let p = read_package(&zip, &out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.manifest_bytes, m);
        assert_eq!(p.signature_der, b"sig");
        assert_eq!(std::fs::read(out.join("a.pdf")).unwrap_or_default(), b"abc");
    }

    #[test]
    fn an_entry_not_in_the_manifest_is_refused() {
        let m = manifest(vec![part("a.pdf", 3)]);
        let why = refused(&[
            (MANIFEST_NAME, &m),
            (SIGNATURE_NAME, b"sig"),
            ("a.pdf", b"abc"),
            ("extra.pdf", b"x"),
        ]);
        assert!(why.contains("extra.pdf"), "{why}");
    }

    #[test]
    fn a_listed_part_that_is_missing_is_refused() {
        let m = manifest(vec![part("a.pdf", 3), part("b.pdf", 1)]);
        let why = refused(&[
            (MANIFEST_NAME, &m),
            (SIGNATURE_NAME, b"s"),
            ("a.pdf", b"abc"),
        ]);
        assert!(why.contains("b.pdf"), "{why}");
    }

    #[test]
    fn a_part_larger_than_declared_is_refused() {
        let m = manifest(vec![part("a.pdf", 3)]);
        let why = refused(&[
            (MANIFEST_NAME, &m),
            (SIGNATURE_NAME, b"s"),
            ("a.pdf", b"abcdef"),
        ]);
        assert!(why.contains("a.pdf"), "{why}");
    }

    #[test]
    fn a_package_that_does_not_fit_on_the_disk_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // Incompressible (a compressible body would be refused as a bomb first).
        let mut x: u32 = 0x9E37_79B9;
        let body: Vec<u8> = (0..2 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let m = manifest(vec![part("a.pdf", body.len() as u64)]);
        let zip = zip_of(
            dir.path(),
            &[
                (MANIFEST_NAME, &m),
                (SIGNATURE_NAME, b"s"),
                ("a.pdf", &body),
            ],
        );
        let out = dir.path().join("x");
        std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
        let opened = open_package(&zip).unwrap_or_else(|e| panic!("{e}"));
        let free = Some(DISK_RESERVE + (1 << 20));
        let err = opened
            .extract_within(&out, free)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("可用")),
            "{err:?}"
        );
        assert_eq!(std::fs::read_dir(&out).map(|d| d.count()).ok(), Some(0));
        // With room for it, the same package extracts.
        let opened = open_package(&zip).unwrap_or_else(|e| panic!("{e}"));
        let free = Some(DISK_RESERVE + (3 << 20));
        assert!(opened.extract_within(&out, free).is_ok());
    }

    #[test]
    fn a_duplicate_part_name_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let m = manifest(vec![part("a.pdf", 3)]);
        let zip = zip_of(
            dir.path(),
            &[
                (MANIFEST_NAME, &m),
                (SIGNATURE_NAME, b"s"),
                ("a.pdf", b"abc"),
                ("b.pdf", b"xyz"),
            ],
        );
        // Rename b.pdf to a.pdf in place (local header and central directory).
        let mut bytes = std::fs::read(&zip).unwrap_or_default();
        for i in 0..bytes.len().saturating_sub(5) {
            if &bytes[i..i + 5] == b"b.pdf" {
                bytes[i..i + 5].copy_from_slice(b"a.pdf");
            }
        }
        std::fs::write(&zip, bytes).unwrap_or_else(|e| panic!("{e}"));
        let err = open_package(&zip).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("重复")),
            "{err:?}"
        );
    }

    #[test]
    fn a_path_outside_the_folder_is_refused() {
        let m = manifest(vec![part("a.pdf", 3)]);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let zip = zip_of(
            dir.path(),
            &[
                (MANIFEST_NAME, &m),
                (SIGNATURE_NAME, b"s"),
                ("../a.pdf", b"abc"),
            ],
        );
        let out = dir.path().join("x");
        std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
        let err = read_package(&zip, &out).err().map(|e| e.code());
        assert_eq!(err, Some("BID_BAD_PART_NAME"));
        assert!(!dir.path().join("a.pdf").exists());
    }

    #[test]
    fn a_missing_signature_or_unknown_format_is_refused() {
        let m = manifest(vec![]);
        let why = refused(&[(MANIFEST_NAME, &m)]);
        assert!(why.contains("manifest.p7s"), "{why}");
        let other = String::from_utf8_lossy(&m).replace(MANIFEST_FORMAT, "other/9");
        let why = refused(&[(MANIFEST_NAME, other.as_bytes()), (SIGNATURE_NAME, b"s")]);
        assert!(why.contains("other/9"), "{why}");
    }
}
