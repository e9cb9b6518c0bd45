//! The bid manifest (`manifest.json` inside the bid package): what the bidder signs.
//!
//! It names the project, lot and platform, the bidder (enterprise name + unified social credit
//! code), every part of the package with its size and SHA-256, the price summary from the bid
//! form, integrity-library record ids and the tool version. The bidder's detached CMS
//! signature over the exact bytes of this file is `manifest.p7s` next to it.
//!
//! Guarantees: parsing refuses unknown formats and more than [`MAX_PARTS`] parts; part names
//! are plain, unique file names (no folders, no `..`), so extracting can never escape its
//! folder. Does not: check signatures (see `opening`).

use super::error::BidFileError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::Path;

/// Format tag of this manifest version.
pub const MANIFEST_FORMAT: &str = "bidseal-bid/1";
/// Name of the manifest inside the package.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Name of the bidder's detached CMS signature over the manifest.
pub const SIGNATURE_NAME: &str = "manifest.p7s";
/// Most parts a package may list.
pub const MAX_PARTS: usize = 256;

/// Project, lot and platform the bid is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidProjectIds {
    /// Tender project id (项目编号).
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// Lot id (标段编号).
    pub lot_id: String,
    /// Lot name.
    pub lot_name: String,
    /// Trading platform id.
    pub platform_id: String,
}

/// Who bids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidderIds {
    /// Enterprise name, as in its certificate.
    pub name: String,
    /// Unified social credit code (统一社会信用代码).
    pub credit_code: String,
}

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidPart {
    /// File name inside the package.
    pub name: String,
    /// Bid section the file belongs to (商务标, 技术标...), when known.
    pub section: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidManifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Project ids.
    pub project: BidProjectIds,
    /// Bidder ids.
    pub bidder: BidderIds,
    /// Every file of the package except the manifest and its signature.
    pub parts: Vec<BidPart>,
    /// Price summary (bid-form field key → canonical value), e.g. `bid_price`.
    pub price: BTreeMap<String, String>,
    /// Integrity-library (诚信库) record ids the bid uses.
    pub integrity_records: Vec<String>,
    /// BidSeal version that made the file.
    pub tool_version: String,
    /// When the manifest was made, RFC 3339.
    pub created_at: String,
}

impl BidManifest {
    /// The exact bytes that are signed and packaged (pretty JSON, UTF-8).
    pub fn to_bytes(&self) -> Result<Vec<u8>, BidFileError> {
        serde_json::to_vec_pretty(self).map_err(|e| BidFileError::invalid(e.to_string()))
    }

    /// Parses and checks a manifest read from a package.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BidFileError> {
        let manifest: BidManifest = serde_json::from_slice(bytes)
            .map_err(|e| BidFileError::invalid(format!("manifest.json 无法解析：{e}")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(BidFileError::invalid(format!(
                "不支持的清单格式“{}”",
                manifest.format
            )));
        }
        manifest.check_parts()?;
        Ok(manifest)
    }

    /// Checks the part list: at most [`MAX_PARTS`], plain unique names.
    pub fn check_parts(&self) -> Result<(), BidFileError> {
        if self.parts.len() > MAX_PARTS {
            return Err(BidFileError::invalid(format!(
                "清单列出 {} 个文件，超过上限 {MAX_PARTS}",
                self.parts.len()
            )));
        }
        let mut seen = HashSet::new();
        for part in &self.parts {
            check_part_name(&part.name)?;
            if !seen.insert(part.name.as_str()) {
                return Err(BidFileError::BadPartName {
                    name: part.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// The part called `name`.
    pub fn part(&self, name: &str) -> Option<&BidPart> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// A part name must be a plain file name: no folder separators, not `.`/`..`, not one of the
/// reserved names, printable, at most 200 bytes.
pub fn check_part_name(name: &str) -> Result<(), BidFileError> {
    let bad = name.is_empty()
        || name.len() > 200
        || name == "."
        || name == ".."
        || name.starts_with('.')
        || name.contains(['/', '\\', ':', '\0'])
        || name.chars().any(char::is_control)
        || name == MANIFEST_NAME
        || name == SIGNATURE_NAME;
    if bad {
        return Err(BidFileError::BadPartName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Lower-case hex SHA-256 and size of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(String, u64), BidFileError> {
    let mut file = std::fs::File::open(path).map_err(|e| BidFileError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| BidFileError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

impl BidPart {
    /// Describes the file at `path` as part `name`.
    pub fn from_file(
        name: &str,
        section: Option<String>,
        path: &Path,
    ) -> Result<Self, BidFileError> {
        check_part_name(name)?;
        let (sha256, size) = hash_file(path)?;
        Ok(BidPart {
            name: name.to_string(),
            section,
            size,
            sha256,
        })
    }
}
