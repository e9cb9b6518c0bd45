//! Verification of every signature in a PDF, as the bid-opening hall shows it.
//!
//! For each signature field with a value: signer (name, organisation, credit code), seal kind
//! (`/Reason`), `/M`, the covered byte range and whether it covers the whole file, the
//! byte-range sanity check (the gap is exactly the `/Contents` string — no shadow content),
//! digest, signature and chain checks (via `bidseal_cms`), and what later revisions changed.
//!
//! Later revisions are judged by [`crate::diff`]: the file is re-read as it was at each
//! signature's covered end (a second reader over that prefix), and every object a later
//! section defines is compared with its signed version, stream data included. Under the
//! sealed-bid policy only new signature fields (widgets, appearances), the catalog/AcroForm/
//! `/Annots` entries they need, DSS, XMP metadata and `/Info` may change; anything else makes
//! the signature invalid and is listed in zh-CN ("签名后页面内容被替换：第 1 页"). Bytes after the
//! last `%%EOF` that are not whitespace also do (an update only a repairing reader would see).
//!
//! All signatures are hashed in one read of the file ([`byte_range_digests`]): nested byte
//! ranges share the prefix hash, so five signatures cost about one SHA-256 of the file.
//!
//! Guarantees: bounded work on hostile files (lazy reader, streamed hashing); a broken
//! signature is reported, never a panic; the `/ByteRange` gap must be exactly this signature's
//! `/Contents` hex string. Does not: check revocation or timestamps.

use crate::diff::{changes_between, Change, Policy};
use crate::error::PdfError;
use crate::object::{decode_text, Dict, Object};
use crate::reader::PdfReader;
use bidseal_cms::cert::TrustStore;
use bidseal_cms::signed_data::verify_detached;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::SystemTime;

/// What later revisions changed, relative to one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaterChanges {
    /// Nothing: the signature covers the whole file.
    None,
    /// Only what the policy accepts (new signatures and their bookkeeping, DSS, XMP, /Info).
    SignaturesAndAnnotations,
    /// Anything else (content, fonts, images, page attributes, other annotations…).
    Other,
}

/// The result for one signature.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    /// Field name (`/T`).
    pub field_name: String,
    /// Seal kind from `/Reason` (or `/Name` when no reason).
    pub seal_kind: Option<String>,
    /// `/Name` of the signature dictionary.
    pub name: Option<String>,
    /// `/M`.
    pub signing_time: Option<String>,
    /// `/SubFilter`.
    pub sub_filter: String,
    /// Signer common name.
    pub signer: Option<String>,
    /// Signer organisation.
    pub organization: Option<String>,
    /// Unified social credit code from the certificate.
    pub credit_code: Option<String>,
    /// The signer certificate, when the CMS parsed (for callers' own checks: key usage...).
    pub signer_certificate: Option<bidseal_cms::cert::Certificate>,
    /// `/ByteRange`.
    pub byte_range: Vec<u64>,
    /// End of the covered range (the revision the signature seals).
    pub covered_end: u64,
    /// The signature covers the whole file.
    pub covers_whole_file: bool,
    /// The byte range starts at 0 and its gap is exactly the `/Contents` hex string.
    pub byte_range_ok: bool,
    /// messageDigest equals the SHA-256 of the byte range.
    pub digest_ok: bool,
    /// The signature over the signed attributes verifies.
    pub signature_ok: bool,
    /// `None` when the chain reaches a trust anchor, else why not (zh-CN).
    pub chain_error: Option<String>,
    /// A problem that stopped the checks (unsupported or malformed CMS), zh-CN.
    pub error: Option<String>,
    /// What later revisions changed, accepted or not (zh-CN descriptions).
    pub changes: Vec<Change>,
    /// Classification of those changes.
    pub later_changes: LaterChanges,
}

impl SignatureReport {
    /// The later changes the policy does not accept.
    pub fn violations(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| !c.allowed)
    }

    /// Intact, trusted, and nothing but signatures/annotations added afterwards.
    pub fn is_valid(&self) -> bool {
        self.error.is_none()
            && self.byte_range_ok
            && self.digest_ok
            && self.signature_ok
            && self.chain_error.is_none()
            && self.later_changes != LaterChanges::Other
    }

    /// A one-line zh-CN summary.
    pub fn summary_line(&self) -> String {
        let verdict = if self.is_valid() { "有效" } else { "无效" };
        let mut problems = Vec::new();
        if let Some(e) = &self.error {
            problems.push(e.clone());
        }
        if !self.byte_range_ok {
            problems.push("签名范围异常".into());
        }
        if !self.digest_ok {
            problems.push("摘要不符（内容被篡改）".into());
        }
        if !self.signature_ok {
            problems.push("签名值无效".into());
        }
        if let Some(c) = &self.chain_error {
            problems.push(format!("证书链：{c}"));
        }
        if self.later_changes == LaterChanges::Other {
            problems.push("签名后文件有其他修改".into());
            problems.extend(self.violations().map(|c| c.description.clone()));
        }
        let coverage = if self.covers_whole_file {
            "覆盖整个文件".to_owned()
        } else {
            let accepted = count_descriptions(self.changes.iter().filter(|c| c.allowed));
            format!(
                "覆盖前 {} 字节，之后追加：{}",
                self.covered_end,
                if accepted.is_empty() {
                    "-".into()
                } else {
                    accepted.join("，")
                }
            )
        };
        // The problems are a suffix of their own, so that the line reads back as two phrases
        // (`bidseal_workflow::i18n` puts it into English from the zh-CN text).
        let head = format!(
            "[{verdict}] {} 签章类型：{}，签名人：{}，单位：{}，信用代码：{}，签名时间：{}，{}",
            self.field_name,
            self.seal_kind.as_deref().unwrap_or("-"),
            self.signer.as_deref().unwrap_or("-"),
            self.organization.as_deref().unwrap_or("-"),
            self.credit_code.as_deref().unwrap_or("-"),
            self.signing_time
                .as_deref()
                .map_or_else(|| "-".to_string(), crate::date::display_pdf_date),
            coverage,
        );
        if problems.is_empty() {
            head
        } else {
            format!("{head} 问题：{}", problems.join("；"))
        }
    }
}

/// The result for a whole file.
#[derive(Debug, Clone)]
pub struct VerificationReport {
    /// File length.
    pub file_len: u64,
    /// Number of revisions (cross-reference sections).
    pub revisions: usize,
    /// One entry per signature, in field order.
    pub signatures: Vec<SignatureReport>,
}

impl VerificationReport {
    /// At least one signature and all valid.
    pub fn all_valid(&self) -> bool {
        !self.signatures.is_empty() && self.signatures.iter().all(SignatureReport::is_valid)
    }
}

/// Verifies every signature of the PDF at `path` against `trust`, at time `at`, under the
/// sealed-bid policy.
pub fn verify_file(
    path: &Path,
    trust: &TrustStore,
    at: SystemTime,
) -> Result<VerificationReport, PdfError> {
    verify_file_with(path, trust, at, Policy::SealedBid)
}

/// [`verify_file`] with an explicit later-changes policy.
pub fn verify_file_with(
    path: &Path,
    trust: &TrustStore,
    at: SystemTime,
    policy: Policy,
) -> Result<VerificationReport, PdfError> {
    let mut r = PdfReader::open(path)?;
    let file_len = r.len();
    let root = r
        .trailer()
        .reference(b"Root")
        .ok_or_else(|| PdfError::corrupt("缺少 /Root"))?;
    let catalog = r.dict(root)?;
    let acroform = match catalog.get(b"AcroForm") {
        Some(a) => r.resolve(a)?,
        None => Object::Null,
    };
    let fields = match acroform.as_dict().and_then(|d| d.get(b"Fields")) {
        Some(f) => r.resolve(f)?,
        None => Object::Null,
    };
    let mut sig_fields = Vec::new();
    if let Object::Array(items) = fields {
        let mut seen = HashSet::new();
        for f in items {
            collect_sig_fields(&mut r, &f, "", false, 0, &mut seen, &mut sig_fields)?;
        }
    }
    // 1. Each signature's dictionary and byte-range sanity.
    let mut pending: Vec<PendingCheck> = Vec::new();
    for (name, value) in sig_fields {
        let sig = r.resolve(&value)?;
        let Some(sig) = sig.as_dict() else { continue };
        pending.push(check_byte_range(&mut r, &name, sig)?);
    }
    // 2. One read of the file for every digest.
    let ranges: Vec<[u64; 4]> = pending.iter().filter_map(|p| p.2).collect();
    let mut digests = byte_range_digests(path, &ranges)?.into_iter();
    // 3. The CMS of each.
    let mut signatures = Vec::with_capacity(pending.len());
    for (mut report, contents, range) in pending {
        if range.is_some() {
            let digest = digests
                .next()
                .ok_or_else(|| PdfError::corrupt("内部错误：摘要数量"))?;
            match verify_detached(&contents, &digest, trust, at) {
                Ok(v) => {
                    report.digest_ok = v.digest_matches;
                    report.signature_ok = v.signature_valid && v.signing_certificate_matches;
                    report.chain_error = v.chain.as_ref().err().map(ToString::to_string);
                    report.signer = v.signer.common_name();
                    report.organization = v.signer.organization();
                    report.credit_code = v.signer.credit_code();
                    report.signer_certificate = Some(v.signer.clone());
                }
                Err(e) => report.error = Some(e.to_string()),
            }
        }
        signatures.push(report);
    }
    // 4. What changed after each signature.
    judge_later_changes(path, &mut r, &mut signatures, policy)?;
    Ok(VerificationReport {
        file_len,
        revisions: r.sections().len(),
        signatures,
    })
}

/// Fills `changes`/`later_changes` of every signature: the file is re-read at each distinct
/// covered end, and consecutive versions are compared once (shared by the signatures).
fn judge_later_changes(
    path: &Path,
    full: &mut PdfReader,
    signatures: &mut [SignatureReport],
    policy: Policy,
) -> Result<(), PdfError> {
    let file_len = full.len();
    let mut ends: Vec<u64> = signatures
        .iter()
        .filter(|s| s.error.is_none() && s.covered_end > 0 && s.covered_end < file_len)
        .map(|s| s.covered_end)
        .collect();
    ends.sort_unstable();
    ends.dedup();
    // Readers of the signed versions (None when that prefix is not a readable PDF).
    let mut readers: Vec<(u64, Result<PdfReader, String>)> = Vec::new();
    for &end in &ends {
        let opened = File::open(path)
            .map_err(|e| PdfError::io(path, e))
            .and_then(|f| PdfReader::from_file(path, f, end))
            .map_err(|e| e.to_string());
        readers.push((end, opened));
    }
    // Changes of each segment: from one readable version to the next (the last to the file).
    let mut segment: BTreeMap<u64, Vec<Change>> = BTreeMap::new();
    let readable: Vec<usize> = (0..readers.len())
        .filter(|i| readers[*i].1.is_ok())
        .collect();
    for (k, &i) in readable.iter().enumerate() {
        let end = readers[i].0;
        let changes = match readable.get(k + 1) {
            Some(&j) => {
                let (left, right) = readers.split_at_mut(j);
                match (&mut left[i].1, &mut right[0].1) {
                    (Ok(a), Ok(b)) => changes_between(a, b, policy)?,
                    _ => Vec::new(),
                }
            }
            None => match &mut readers[i].1 {
                Ok(a) => changes_between(a, full, policy)?,
                Err(_) => Vec::new(),
            },
        };
        segment.insert(end, changes);
    }
    let tail_problem = trailing_data_problem(full)?;
    for sig in signatures.iter_mut() {
        if sig.error.is_some() || sig.covered_end == 0 || sig.covers_whole_file {
            continue;
        }
        let mut changes = Vec::new();
        if let Some((_, Err(e))) = readers.iter().find(|(e, _)| *e == sig.covered_end) {
            changes.push(Change {
                allowed: false,
                description: format!("无法读取签名覆盖的文件版本（{e}）"),
                page: None,
                object: None,
            });
        }
        for (_, c) in segment.range(sig.covered_end..) {
            changes.extend(c.iter().cloned());
        }
        if let Some(p) = &tail_problem {
            changes.push(p.clone());
        }
        if changes.is_empty() && !only_whitespace_after(full, sig.covered_end)? {
            // Bytes after the signature that no revision accounts for.
            changes.push(Change {
                allowed: false,
                description: "签名后追加了未被任何修订引用的数据".into(),
                page: None,
                object: None,
            });
        }
        if changes.is_empty() {
            continue; // only line ends appended: nothing changed
        }
        changes.sort();
        changes.dedup();
        sig.later_changes = if changes.iter().any(|c| !c.allowed) {
            LaterChanges::Other
        } else {
            LaterChanges::SignaturesAndAnnotations
        };
        sig.changes = changes;
    }
    Ok(())
}

/// The bytes from `from` to the end are PDF whitespace (at most 64 KiB are looked at; more
/// counts as data).
fn only_whitespace_after(r: &mut PdfReader, from: u64) -> Result<bool, PdfError> {
    let n = r.len().saturating_sub(from);
    if n > 64 * 1024 {
        return Ok(false);
    }
    Ok(r.read_at(from, n as usize)?.iter().all(is_pdf_whitespace))
}

fn is_pdf_whitespace(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

/// Non-whitespace after the last `%%EOF`: data only a repairing reader would pick up.
fn trailing_data_problem(r: &mut PdfReader) -> Result<Option<Change>, PdfError> {
    let len = r.len();
    let tail_len = 4096.min(len);
    let tail = r.read_at(len - tail_len, tail_len as usize)?;
    let after = match tail.windows(5).rposition(|w| w == b"%%EOF") {
        Some(p) => &tail[p + 5..],
        None => &tail[..],
    };
    Ok((!after.iter().all(is_pdf_whitespace)).then(|| Change {
        allowed: false,
        description: "文件末尾 %%EOF 之后有未被交叉引用表引用的数据".into(),
        page: None,
        object: None,
    }))
}

/// Distinct descriptions with counts ("新增签名控件：第 1 页×2").
fn count_descriptions<'a>(changes: impl Iterator<Item = &'a Change>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in changes {
        *counts.entry(c.description.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(d, n)| {
            if n > 1 {
                format!("{d}×{n}")
            } else {
                d.to_owned()
            }
        })
        .collect()
}

fn collect_sig_fields(
    r: &mut PdfReader,
    field: &Object,
    parent_name: &str,
    parent_is_sig: bool,
    depth: usize,
    seen: &mut HashSet<u32>,
    out: &mut Vec<(String, Object)>,
) -> Result<(), PdfError> {
    if depth > 16 || out.len() > 10_000 {
        return Ok(());
    }
    if let Object::Ref(id) = field {
        if !seen.insert(id.num) {
            return Ok(());
        }
    }
    let obj = r.resolve(field)?;
    let Some(d) = obj.as_dict() else {
        return Ok(());
    };
    let partial = match d.get(b"T") {
        Some(Object::Str(t)) => decode_text(t),
        _ => String::new(),
    };
    let name = match (parent_name.is_empty(), partial.is_empty()) {
        (true, _) => partial.clone(),
        (false, true) => parent_name.to_owned(),
        (false, false) => format!("{parent_name}.{partial}"),
    };
    let is_sig = d.name(b"FT").map_or(parent_is_sig, |ft| ft == b"Sig");
    if is_sig && !partial.is_empty() {
        if let Some(v) = d.get(b"V") {
            out.push((name.clone(), v.clone()));
            return Ok(());
        }
    }
    if let Some(kids) = d.get(b"Kids") {
        if let Object::Array(kids) = r.resolve(kids)? {
            for k in kids {
                collect_sig_fields(r, &k, &name, is_sig, depth + 1, seen, out)?;
            }
        }
    }
    Ok(())
}

fn text_of(d: &Dict, key: &[u8]) -> Option<String> {
    match d.get(key) {
        Some(Object::Str(s)) => Some(decode_text(s)),
        _ => None,
    }
}

/// A signature's report so far, its CMS bytes and the byte range to hash.
type PendingCheck = (SignatureReport, Vec<u8>, Option<[u64; 4]>);

/// Reads one signature dictionary and checks its `/ByteRange` (format, inside the file, the
/// gap exactly `<hex of /Contents>`); returns the report so far, the CMS bytes and the range
/// to hash (None when the range is unusable).
fn check_byte_range(
    r: &mut PdfReader,
    field_name: &str,
    sig: &Dict,
) -> Result<PendingCheck, PdfError> {
    let file_len = r.len();
    let raw_range: Vec<Object> = match sig.get(b"ByteRange") {
        Some(Object::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let byte_range: Vec<u64> = raw_range
        .iter()
        .filter_map(|v| match v {
            Object::Int(i) if *i >= 0 => Some(*i as u64),
            _ => None,
        })
        .collect();
    let contents = match sig.get(b"Contents") {
        Some(Object::Str(s)) => s.clone(),
        _ => Vec::new(),
    };
    let name = text_of(sig, b"Name");
    let reason = text_of(sig, b"Reason");
    let mut report = SignatureReport {
        field_name: field_name.to_owned(),
        seal_kind: reason.clone().or_else(|| name.clone()),
        name,
        signing_time: text_of(sig, b"M"),
        sub_filter: sig
            .name(b"SubFilter")
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default(),
        signer: None,
        organization: None,
        credit_code: None,
        signer_certificate: None,
        byte_range: byte_range.clone(),
        covered_end: 0,
        covers_whole_file: false,
        byte_range_ok: false,
        digest_ok: false,
        signature_ok: false,
        chain_error: None,
        error: None,
        changes: Vec::new(),
        later_changes: LaterChanges::None,
    };
    let ([0, a, b, c], 4) = (byte_range.as_slice(), raw_range.len()) else {
        report.error = Some("/ByteRange 格式无效（应为 4 个非负整数且从 0 开始）".into());
        return Ok((report, contents, None));
    };
    let (a, b, c) = (*a, *b, *c);
    let Some(end) = b.checked_add(c) else {
        report.error = Some("/ByteRange 超出文件范围".into());
        return Ok((report, contents, None));
    };
    report.covered_end = end;
    report.covers_whole_file = end == file_len;
    if a >= b || end > file_len {
        report.error = Some("/ByteRange 超出文件范围或区间重叠".into());
        return Ok((report, contents, None));
    }
    // The gap must be exactly `<hex>` of this signature's /Contents, nothing else.
    report.byte_range_ok = b - a == 2 + 2 * contents.len() as u64 && {
        let gap = r.read_at(a, (b - a) as usize)?;
        gap.first() == Some(&b'<')
            && gap.last() == Some(&b'>')
            && decode_hex(&gap[1..gap.len() - 1]).as_deref() == Some(&contents[..])
    };
    Ok((report, contents, Some([0, a, b, c])))
}

fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    let nibble = |h: u8| (h as char).to_digit(16).map(|d| d as u8);
    hex.chunks(2)
        .map(|p| match p {
            [h, l] => Some(nibble(*h)? << 4 | nibble(*l)?),
            _ => None,
        })
        .collect()
}

/// SHA-256 of several `/ByteRange`s `[0 a b c]` in one sequential read: one running hash of
/// the file is cloned at each `a` (so nested signatures share the prefix), and each clone then
/// hashes only its own `[b, b+c)`. Ranges must lie inside the file with `a < b`.
pub fn byte_range_digests(path: &Path, ranges: &[[u64; 4]]) -> Result<Vec<[u8; 32]>, PdfError> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let mut f = File::open(path).map_err(|e| PdfError::io(path, e))?;
    let len = f.metadata().map_err(|e| PdfError::io(path, e))?.len();
    for &[start, a, b, c] in ranges {
        if start != 0 || a >= b || b.checked_add(c).is_none_or(|e| e > len) {
            return Err(PdfError::corrupt("ByteRange 超出文件范围"));
        }
    }
    let last_a = ranges.iter().map(|r| r[1]).max().unwrap_or(0);
    let stop = ranges.iter().map(|r| r[2] + r[3]).max().unwrap_or(0);
    let mut cuts: Vec<u64> = ranges
        .iter()
        .flat_map(|r| [r[1], r[2], r[2] + r[3]])
        .collect();
    cuts.push(stop);
    cuts.sort_unstable();
    cuts.dedup();
    let mut main = Sha256::new();
    let mut forks: Vec<Option<Sha256>> = ranges
        .iter()
        .map(|r| (r[1] == 0).then(Sha256::new))
        .collect();
    const CHUNK: u64 = 1 << 20;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut pos = 0u64;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| PdfError::io(path, e))?;
    while pos < stop {
        let next_cut = cuts.iter().copied().find(|c| *c > pos).unwrap_or(stop);
        let next = next_cut.min(pos + CHUNK);
        let n = (next - pos) as usize;
        f.read_exact(&mut buf[..n])
            .map_err(|e| PdfError::io(path, e))?;
        let data = &buf[..n];
        if pos < last_a {
            main.update(data);
        }
        for (k, fork) in forks.iter_mut().enumerate() {
            let [_, _, b, c] = ranges[k];
            if let Some(h) = fork {
                if pos >= b && next <= b + c {
                    h.update(data);
                }
            }
        }
        pos = next;
        for (k, fork) in forks.iter_mut().enumerate() {
            if fork.is_none() && ranges[k][1] == pos {
                *fork = Some(main.clone());
            }
        }
    }
    Ok(forks
        .into_iter()
        .map(|h| h.map(|h| h.finalize().into()).unwrap_or([0; 32]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::byte_range_digest;

    #[test]
    fn one_pass_digests_equal_separate_digests_for_nested_and_odd_ranges() {
        let dir = std::env::temp_dir().join(format!("bidseal-brd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("data.bin");
        // 3 MiB of varied bytes (more than one read chunk).
        let data: Vec<u8> = (0..3 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(&path, &data).expect("write");
        let len = data.len() as u64;
        let ranges = vec![
            [0, 1000, 1500, 500_000],        // an early signature
            [0, 1_200_000, 1_201_000, 5000], // a later one, gap across a chunk edge
            [0, 0, 10, len - 10],            // empty first part
            [0, len - 100, len - 2, 2],      // covers nearly everything
            [0, 1000, 1500, 500_000],        // duplicate range
            [0, 2_000_000, 2_000_001, 0],    // nothing after the gap
        ];
        let one_pass = byte_range_digests(&path, &ranges).expect("digests");
        assert_eq!(one_pass.len(), ranges.len());
        for (r, d) in ranges.iter().zip(&one_pass) {
            assert_eq!(*d, byte_range_digest(&path, r).expect("digest"), "{r:?}");
        }
        // Out of file or inverted ranges are refused, not hashed.
        assert!(byte_range_digests(&path, &[[0, 10, 20, len]]).is_err());
        assert!(byte_range_digests(&path, &[[0, 20, 10, 5]]).is_err());
        assert!(byte_range_digests(&path, &[[5, 10, 20, 5]]).is_err());
        assert!(byte_range_digests(&path, &[]).expect("none").is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
