//! Safety checks on untrusted zip files (bid packages at the hall, tender packages) that the
//! `zip` crate cannot give: it indexes entries by name and silently keeps only one of two
//! entries with the same name, so duplicates are found here by walking the raw central
//! directory; and the size/ratio limits every reader of this crate applies before inflating.
//!
//! Guarantees: [`central_directory_names`] reads only the end-of-central-directory records and
//! the central directory (bounded by [`MAX_CENTRAL_DIRECTORY`]), never an entry's data;
//! [`check_entry_sizes`] refuses an entry whose declared size exceeds its limit or whose
//! declared uncompressed/compressed ratio is implausible, before a byte is inflated. Does not:
//! trust the declared sizes afterwards (readers still stop one byte past the limit).

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Largest central directory read (128+256 entries of 200-byte names fit easily).
pub const MAX_CENTRAL_DIRECTORY: u64 = 4 * 1024 * 1024;
/// Highest declared uncompressed/compressed ratio accepted for an entry above
/// [`RATIO_FLOOR`] (PDFs are compressed already; text compresses ~10×; a bomb ~1000×).
pub const MAX_COMPRESSION_RATIO: u64 = 200;
/// Entries up to this size are not ratio-checked (a small JSON may compress well).
pub const RATIO_FLOOR: u64 = 1024 * 1024;

const EOCD_SIG: u64 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u64 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u64 = 0x0606_4b50;
const CENTRAL_SIG: u64 = 0x0201_4b50;

/// What is wrong with a zip's directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipCheckError {
    /// The file cannot be read.
    #[error("读取失败：{0}")]
    Io(String),
    /// The directory records are missing or inconsistent.
    #[error("zip 目录损坏：{0}")]
    Malformed(String),
    /// Two entries have the same name.
    #[error("条目“{0}”重复出现")]
    Duplicate(String),
    /// More entries than allowed.
    #[error("条目过多（{count} 个，上限 {limit}）")]
    TooMany {
        /// Entries found.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// An entry is declared larger than its limit.
    #[error("条目“{name}”声明大小 {declared} 字节，超过上限 {limit} 字节")]
    TooLarge {
        /// Entry name.
        name: String,
        /// Declared uncompressed size.
        declared: u64,
        /// The limit.
        limit: u64,
    },
    /// An entry's declared compression ratio is that of a zip bomb.
    #[error("条目“{name}”压缩比异常（{compressed} 字节解压为 {declared} 字节），疑似压缩炸弹")]
    Bomb {
        /// Entry name.
        name: String,
        /// Declared uncompressed size.
        declared: u64,
        /// Compressed size.
        compressed: u64,
    },
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]) as u64)
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

fn read_at(file: &mut File, offset: u64, len: u64) -> Result<Vec<u8>, ZipCheckError> {
    let io = |e: std::io::Error| ZipCheckError::Io(e.to_string());
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = Vec::new();
    file.take(len).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 != len {
        return Err(ZipCheckError::Malformed("目录记录超出文件末尾".into()));
    }
    Ok(buf)
}

/// Every entry name in the raw central directory of `file`, in order, refusing duplicates
/// and more than `max_entries` entries. Names are compared byte for byte (two spellings of the
/// same UTF-8 name are the same name).
pub fn central_directory_names(
    file: &mut File,
    max_entries: u64,
) -> Result<Vec<String>, ZipCheckError> {
    let len = file
        .metadata()
        .map_err(|e| ZipCheckError::Io(e.to_string()))?
        .len();
    let tail_len = len.min(22 + 65_535);
    let tail = read_at(file, len - tail_len, tail_len)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == Some(EOCD_SIG))
        .ok_or_else(|| ZipCheckError::Malformed("找不到目录结尾记录".into()))?;
    let eocd_pos = len - tail_len + eocd as u64;
    let field = |at: usize| u16_at(&tail, eocd + at).unwrap_or(0);
    let mut count = field(10);
    let mut cd_size = u32_at(&tail, eocd + 12).unwrap_or(0);
    let mut cd_offset = u32_at(&tail, eocd + 16).unwrap_or(0);
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // ZIP64: the locator sits just before the end record.
        let loc = eocd_pos
            .checked_sub(20)
            .ok_or_else(|| ZipCheckError::Malformed("缺少 ZIP64 定位记录".into()))?;
        let locator = read_at(file, loc, 20)?;
        if u32_at(&locator, 0) != Some(ZIP64_LOCATOR_SIG) {
            return Err(ZipCheckError::Malformed("缺少 ZIP64 定位记录".into()));
        }
        let rec_pos = u64_at(&locator, 8).unwrap_or(u64::MAX);
        if rec_pos >= loc {
            return Err(ZipCheckError::Malformed(
                "ZIP64 目录结尾记录位置无效".into(),
            ));
        }
        let rec = read_at(file, rec_pos, 56)?;
        if u32_at(&rec, 0) != Some(ZIP64_EOCD_SIG) {
            return Err(ZipCheckError::Malformed("ZIP64 目录结尾记录无效".into()));
        }
        count = u64_at(&rec, 32).unwrap_or(u64::MAX);
        cd_size = u64_at(&rec, 40).unwrap_or(u64::MAX);
        cd_offset = u64_at(&rec, 48).unwrap_or(u64::MAX);
    }
    if count > max_entries {
        return Err(ZipCheckError::TooMany {
            count,
            limit: max_entries,
        });
    }
    if cd_size > MAX_CENTRAL_DIRECTORY || cd_offset.saturating_add(cd_size) > eocd_pos {
        return Err(ZipCheckError::Malformed("中央目录大小或位置无效".into()));
    }
    let cd = read_at(file, cd_offset, cd_size)?;
    let mut names = Vec::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut at = 0usize;
    while at < cd.len() {
        if u32_at(&cd, at) != Some(CENTRAL_SIG) {
            return Err(ZipCheckError::Malformed(format!(
                "中央目录第 {} 条记录无效",
                names.len() + 1
            )));
        }
        let (Some(n), Some(x), Some(c)) = (
            u16_at(&cd, at + 28),
            u16_at(&cd, at + 30),
            u16_at(&cd, at + 32),
        ) else {
            return Err(ZipCheckError::Malformed("中央目录记录被截断".into()));
        };
        let raw = cd
            .get(at + 46..at + 46 + n as usize)
            .ok_or_else(|| ZipCheckError::Malformed("中央目录记录被截断".into()))?
            .to_vec();
        let name = String::from_utf8_lossy(&raw).into_owned();
        if !seen.insert(raw) {
            return Err(ZipCheckError::Duplicate(name));
        }
        names.push(name);
        if names.len() as u64 > max_entries {
            return Err(ZipCheckError::TooMany {
                count: names.len() as u64,
                limit: max_entries,
            });
        }
        at += 46 + (n + x + c) as usize;
    }
    if names.len() as u64 != count {
        return Err(ZipCheckError::Malformed(format!(
            "目录结尾记录声明 {count} 个条目，中央目录中有 {} 个",
            names.len()
        )));
    }
    Ok(names)
}

/// Refuses an entry declared larger than `limit`, or (above [`RATIO_FLOOR`]) with a
/// compression ratio above [`MAX_COMPRESSION_RATIO`].
pub fn check_entry_sizes(
    name: &str,
    declared: u64,
    compressed: u64,
    limit: u64,
) -> Result<(), ZipCheckError> {
    if declared > limit {
        return Err(ZipCheckError::TooLarge {
            name: name.into(),
            declared,
            limit,
        });
    }
    if declared > RATIO_FLOOR && declared / compressed.max(1) > MAX_COMPRESSION_RATIO {
        return Err(ZipCheckError::Bomb {
            name: name.into(),
            declared,
            compressed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(names: &[&str]) -> tempfile::NamedTempFile {
        let mut tmp = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut zip = zip::ZipWriter::new(tmp.as_file_mut());
            for n in names {
                zip.start_file(*n, zip::write::SimpleFileOptions::default())
                    .unwrap_or_else(|e| panic!("{e}"));
                zip.write_all(b"x").unwrap_or_else(|e| panic!("{e}"));
            }
            zip.finish().unwrap_or_else(|e| panic!("{e}"));
        }
        tmp
    }

    /// Renames the second entry to the first one's name in place (same length), the way an
    /// attacker makes a duplicate the zip crate would merge.
    fn duplicate_second_entry(path: &std::path::Path) {
        let mut bytes = std::fs::read(path).unwrap_or_default();
        let from = b"b.pdf";
        let mut i = 0;
        while i + from.len() <= bytes.len() {
            if &bytes[i..i + from.len()] == from {
                bytes[i..i + from.len()].copy_from_slice(b"a.pdf");
            }
            i += 1;
        }
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn names_come_back_in_order() {
        let tmp = zip_with(&["a.pdf", "b.pdf"]);
        let mut f = File::open(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            central_directory_names(&mut f, 10),
            Ok(vec!["a.pdf".to_string(), "b.pdf".to_string()])
        );
    }

    #[test]
    fn a_duplicate_name_the_zip_crate_merges_is_found() {
        let tmp = zip_with(&["a.pdf", "b.pdf"]);
        duplicate_second_entry(tmp.path());
        // The zip crate opens it and sees one entry fewer.
        let z = zip::ZipArchive::new(File::open(tmp.path()).unwrap_or_else(|e| panic!("{e}")));
        assert!(z.map(|z| z.len() < 2).unwrap_or(true));
        let mut f = File::open(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            central_directory_names(&mut f, 10),
            Err(ZipCheckError::Duplicate("a.pdf".into()))
        );
    }

    /// A ZIP64 archive as a writer makes one past 4 GiB: the classic end record says 0xFFFF /
    /// 0xFFFFFFFF and the real values are in the ZIP64 end record (python's zipfile with its
    /// limits lowered writes those records for a small archive).
    #[test]
    fn a_zip64_end_record_is_followed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("z64.zip");
        let program = "import sys, zipfile\nzipfile.ZIP64_LIMIT = 10\n\
            zipfile.ZIP_FILECOUNT_LIMIT = 1\n\
            with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z:\n    \
                z.writestr('a.pdf', b'hello')\n    z.writestr('b.pdf', b'x' * 50)\n";
        let out = std::process::Command::new("python3")
            .args(["-c", program])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("python3 is required: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut bytes = std::fs::read(&path).unwrap_or_default();
        let eocd = bytes
            .windows(4)
            .rposition(|w| w == b"PK\x05\x06")
            .unwrap_or_else(|| panic!("no end record"));
        assert!(
            bytes.windows(4).any(|w| w == b"PK\x06\x06"),
            "ZIP64 record written"
        );
        // count, count, size, offset → "see the ZIP64 record".
        bytes[eocd + 8..eocd + 20].copy_from_slice(&[0xFF; 12]);
        std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let z = zip::ZipArchive::new(File::open(&path).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            z.map(|z| z.len()).ok(),
            Some(2),
            "the zip crate reads it too"
        );
        let mut f = File::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            central_directory_names(&mut f, 10),
            Ok(vec!["a.pdf".to_string(), "b.pdf".to_string()])
        );
    }

    #[test]
    fn too_many_entries_are_refused_before_reading_them() {
        let tmp = zip_with(&["a", "b", "c"]);
        let mut f = File::open(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            central_directory_names(&mut f, 2),
            Err(ZipCheckError::TooMany { .. })
        ));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        tmp.write_all(b"PK\x05\x06")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut f = File::open(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(central_directory_names(&mut f, 2).is_err());
        let empty = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        let mut f = File::open(empty.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(central_directory_names(&mut f, 2).is_err());
    }

    #[test]
    fn sizes_and_ratio_are_bounded() {
        assert!(check_entry_sizes("a", 10, 10, 10).is_ok());
        assert!(check_entry_sizes("a", 11, 11, 10).is_err());
        assert!(check_entry_sizes("a", 2 << 20, 2 << 20, u64::MAX).is_ok());
        assert!(matches!(
            check_entry_sizes("a", 10 << 30, 10 << 20, u64::MAX),
            Err(ZipCheckError::Bomb { .. })
        ));
    }
}
