//! Verification of every signature in a PDF, as the bid-opening hall shows it.
//!
//! For each signature field with a value: signer (name, organisation, credit code), seal kind
//! (`/Reason`), `/M`, the covered byte range and whether it covers the whole file, the
//! byte-range sanity check (the gap is exactly the `/Contents` string — no shadow content),
//! digest, signature and chain checks (via `bidseal_cms`), and what later revisions changed.
//!
//! Later revisions are judged object by object: a new object is acceptable if it is signature
//! bookkeeping (signature, field, widget, appearance XObject, font, xref); an object that
//! existed when the signature was made may change only in the keys a new signature needs (see
//! `modification_allowed`) — any other change (page content, resources, metadata…) makes the
//! signature "changed afterwards" and therefore not valid.
//!
//! Guarantees: bounded work on hostile files (lazy reader, streamed hashing); a broken
//! signature is reported, never a panic. Does not: check revocation or timestamps, or judge
//! objects inside object streams by their historical version (the current stream is read).

use crate::error::PdfError;
use crate::object::{decode_text, Dict, ObjRef, Object};
use crate::reader::{PdfReader, XrefEntry};
use crate::seal::byte_range_digest;
use bidseal_cms::cert::TrustStore;
use bidseal_cms::signed_data::verify_detached;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::SystemTime;

/// What later revisions changed, relative to one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaterChanges {
    /// Nothing: the signature covers the whole file.
    None,
    /// Only signature fields, widgets, appearances, annotation lists and the form dictionary.
    SignaturesAndAnnotations,
    /// Anything else (content, fonts, metadata…): a reviewer must look.
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
    /// Object kinds added or changed after this signature, with counts.
    pub changes_after: BTreeMap<String, usize>,
    /// Classification of those changes.
    pub later_changes: LaterChanges,
}

impl SignatureReport {
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
        }
        let coverage = if self.covers_whole_file {
            "覆盖整个文件".to_owned()
        } else {
            let changes: Vec<String> = self
                .changes_after
                .iter()
                .map(|(k, n)| format!("{k}×{n}"))
                .collect();
            format!(
                "覆盖前 {} 字节，之后追加：{}",
                self.covered_end,
                changes.join(", ")
            )
        };
        format!(
            "[{verdict}] {} 签章类型={} 签名人={} 单位={} 信用代码={} 时间={} {}{}",
            self.field_name,
            self.seal_kind.as_deref().unwrap_or("-"),
            self.signer.as_deref().unwrap_or("-"),
            self.organization.as_deref().unwrap_or("-"),
            self.credit_code.as_deref().unwrap_or("-"),
            self.signing_time.as_deref().unwrap_or("-"),
            coverage,
            if problems.is_empty() {
                String::new()
            } else {
                format!(" 问题：{}", problems.join("；"))
            }
        )
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

/// Verifies every signature of the PDF at `path` against `trust`, at time `at`.
pub fn verify_file(
    path: &Path,
    trust: &TrustStore,
    at: SystemTime,
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
    let acroform_ref = catalog.reference(b"AcroForm");
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
    let mut signatures = Vec::new();
    for (name, value) in sig_fields {
        let sig = r.resolve(&value)?;
        let Some(sig) = sig.as_dict() else { continue };
        signatures.push(check_signature(
            &mut r,
            path,
            &name,
            sig,
            trust,
            at,
            acroform_ref,
        )?);
    }
    Ok(VerificationReport {
        file_len,
        revisions: r.sections().len(),
        signatures,
    })
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

fn check_signature(
    r: &mut PdfReader,
    path: &Path,
    field_name: &str,
    sig: &Dict,
    trust: &TrustStore,
    at: SystemTime,
    acroform_ref: Option<ObjRef>,
) -> Result<SignatureReport, PdfError> {
    let file_len = r.len();
    let byte_range: Vec<u64> = match sig.get(b"ByteRange") {
        Some(Object::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Object::Int(i) if *i >= 0 => Some(*i as u64),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
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
        changes_after: BTreeMap::new(),
        later_changes: LaterChanges::None,
    };
    let [0, a, b, c] = byte_range.as_slice() else {
        report.error = Some("/ByteRange 格式无效".into());
        return Ok(report);
    };
    let (a, b, c) = (*a, *b, *c);
    let end = b.saturating_add(c);
    report.covered_end = end;
    report.covers_whole_file = end == file_len;
    if a >= b || end > file_len {
        report.error = Some("/ByteRange 超出文件范围".into());
        return Ok(report);
    }
    // The gap must be exactly `<hex>` holding this signature's /Contents.
    let gap_ok = b - a == 2 + 2 * contents.len() as u64 && {
        let lt = r.read_at(a, 1)?;
        let gt = r.read_at(b - 1, 1)?;
        lt == b"<" && gt == b">"
    };
    report.byte_range_ok = gap_ok;
    let range = [0, a, b, c];
    let digest = byte_range_digest(path, &range)?;
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
    // Later revisions: every section starting at or after the covered end.
    let later: Vec<u32> = r
        .sections()
        .iter()
        .filter(|s| s.offset >= end)
        .flat_map(|s| s.entries.iter().map(|e| e.0))
        .collect::<HashSet<u32>>()
        .into_iter()
        .collect();
    let mut other = false;
    for num in later {
        // The version the signature covers: newest entry among the covered sections.
        let signed_entry = r
            .sections()
            .iter()
            .filter(|s| s.offset < end)
            .find_map(|s| s.entries.iter().find(|e| e.0 == num).map(|e| e.1));
        let now = r.object_shallow(ObjRef::new(num)).unwrap_or(Object::Null);
        let is_acroform = acroform_ref.is_some_and(|a| a.num == num);
        let (label, allowed) = match signed_entry {
            None | Some(XrefEntry::Free) => {
                let (label, allowed) = classify(&now, is_acroform);
                (format!("新增 {label}"), allowed)
            }
            Some(entry) => {
                let before = r.object_version(num, entry).unwrap_or(Object::Null);
                let (label, _) = classify(&now, is_acroform);
                (
                    format!("修改 {label}"),
                    modification_allowed(&before, &now, is_acroform),
                )
            }
        };
        other |= !allowed;
        *report.changes_after.entry(label).or_default() += 1;
    }
    report.later_changes = if report.changes_after.is_empty() {
        LaterChanges::None
    } else if other {
        LaterChanges::Other
    } else {
        LaterChanges::SignaturesAndAnnotations
    };
    Ok(report)
}

/// Whether an object that existed when the signature was made may change as it did: only
/// the bookkeeping a new signature needs (a page's `/Annots`, the catalog's `/AcroForm`, the
/// form's field list and flags, a signature field receiving its value, lists that only grew).
fn modification_allowed(before: &Object, now: &Object, is_acroform: bool) -> bool {
    match (before, now) {
        (Object::Array(old), Object::Array(new)) => {
            new.len() >= old.len() && new[..old.len()] == old[..]
        }
        (Object::Dict(old), Object::Dict(new)) => {
            let allowed: &[&[u8]] = if is_acroform || old.get(b"Fields").is_some() {
                &[b"Fields", b"SigFlags", b"DR", b"DA", b"NeedAppearances"]
            } else {
                match old.name(b"Type") {
                    Some(b"Page") => &[b"Annots"],
                    Some(b"Catalog") => &[b"AcroForm", b"DSS"],
                    _ if old.name(b"FT") == Some(b"Sig") || new.name(b"FT") == Some(b"Sig") => {
                        &[b"V", b"AP", b"Kids"]
                    }
                    _ => &[],
                }
            };
            let keys: HashSet<&Vec<u8>> =
                old.0.iter().chain(new.0.iter()).map(|(k, _)| k).collect();
            keys.into_iter()
                .filter(|k| old.get(k) != new.get(k))
                .all(|k| allowed.contains(&k.as_slice()))
        }
        _ => before == now,
    }
}

/// A label for an object and whether adding it after a signature is acceptable.
fn classify(obj: &Object, is_acroform: bool) -> (String, bool) {
    if is_acroform {
        return ("AcroForm".into(), true);
    }
    match obj {
        Object::Array(_) => ("数组(字段/注释列表)".into(), true),
        Object::Null => ("空对象".into(), true),
        Object::Dict(d) | Object::Stream(d, _) => {
            let ty = d
                .name(b"Type")
                .map(|t| String::from_utf8_lossy(t).into_owned());
            let sub = d
                .name(b"Subtype")
                .map(|t| String::from_utf8_lossy(t).into_owned());
            if d.name(b"FT") == Some(b"Sig")
                || d.get(b"Parent").is_some() && sub.as_deref() == Some("Widget")
            {
                return ("签名域".into(), true);
            }
            match (ty.as_deref(), sub.as_deref()) {
                (Some("Sig"), _) => ("签名".into(), true),
                (_, Some("Widget")) => ("Widget".into(), true),
                (Some("Annot"), Some(s)) => (format!("Annot/{s}"), true),
                (Some("XObject"), Some(s)) => (format!("XObject/{s}"), true),
                (Some("XRef"), _) => ("XRef".into(), true),
                (Some("Catalog"), _) => ("Catalog".into(), true),
                (Some("Page"), _) => ("Page".into(), true),
                (Some("Font"), _) | (Some("FontDescriptor"), _) => ("Font".into(), true),
                (Some("ObjStm"), _) => ("ObjStm".into(), true),
                (Some(t), _) => (t.to_owned(), false),
                (None, _) if d.get(b"Fields").is_some() => ("AcroForm".into(), true),
                (None, _) => ("字典".into(), false),
            }
        }
        _ => ("其他".into(), false),
    }
}
