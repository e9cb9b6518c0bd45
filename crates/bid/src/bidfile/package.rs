//! The bid package: a zip (stored, not compressed — PDFs are compressed already) with
//! `manifest.json`, `manifest.p7s` and every part named in the manifest.
//!
//! Guarantees: writing streams each part from disk; reading refuses more entries than the
//! manifest allows, entries not named in the manifest, missing entries, names that are not
//! plain file names, and parts larger than declared (so a crafted zip cannot fill the disk);
//! extracted parts are written inside the given folder only. Does not: check hashes or
//! signatures (see `opening`).

use super::error::BidFileError;
use super::manifest::{check_part_name, BidManifest, MANIFEST_NAME, MAX_PARTS, SIGNATURE_NAME};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// Largest manifest signature accepted.
pub const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// Writes the package zip to `path` (a temporary file chosen by the caller).
pub fn write_package(
    path: &Path,
    manifest_bytes: &[u8],
    signature_der: &[u8],
    parts: &[(String, PathBuf)],
) -> Result<(), BidFileError> {
    let file = File::create(path).map_err(|e| BidFileError::io(path, e))?;
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

/// Reads the package at `zip_path` and extracts its parts into `into` (which must exist).
pub fn read_package(zip_path: &Path, into: &Path) -> Result<ExtractedPackage, BidFileError> {
    let file = File::open(zip_path).map_err(|e| BidFileError::io(zip_path, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| BidFileError::invalid(format!("不是有效的 zip：{e}")))?;
    if zip.len() > MAX_PARTS + 2 {
        return Err(BidFileError::invalid(format!("条目过多（{}）", zip.len())));
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
    let mut parts = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| BidFileError::invalid(format!("第 {i} 个条目损坏：{e}")))?;
        let name = entry
            .name()
            .map_err(|e| BidFileError::invalid(format!("第 {i} 个条目名称无效：{e}")))?
            .to_string();
        if name == MANIFEST_NAME || name == SIGNATURE_NAME {
            continue;
        }
        check_part_name(&name)?;
        let declared = manifest
            .part(&name)
            .ok_or_else(|| BidFileError::invalid(format!("包含清单未列出的文件“{name}”")))?;
        if parts.contains_key(&name) {
            return Err(BidFileError::invalid(format!("文件“{name}”重复出现")));
        }
        let target = into.join(&name);
        let mut out = File::create(&target).map_err(|e| BidFileError::io(&target, e))?;
        let copied = std::io::copy(&mut (&mut entry).take(declared.size + 1), &mut out)
            .map_err(|e| BidFileError::invalid(format!("文件“{name}”无法解压：{e}")))?;
        if copied > declared.size {
            return Err(BidFileError::invalid(format!(
                "文件“{name}”比清单声明的 {} 字节大",
                declared.size
            )));
        }
        parts.insert(name, target);
    }
    for part in &manifest.parts {
        if !parts.contains_key(&part.name) {
            return Err(BidFileError::invalid(format!(
                "缺少清单列出的文件“{}”",
                part.name
            )));
        }
    }
    Ok(ExtractedPackage {
        manifest_bytes,
        manifest,
        signature_der,
        parts,
    })
}
