//! Opening a bid file at the hall (开标, seed 五 5.1): decrypt with a recipient's key agreement
//! (the phone, through the scan, in production), then verify everything and say exactly what
//! failed.
//!
//! Checks, in order, each reported separately in a [`BidOpeningReport`]:
//! 1. `envelope` — the envelope opens for this recipient and its GCM tag verifies (a single
//!    flipped byte fails here: "tampered"); "not a recipient" is reported as such;
//! 2. `package` — the package has the manifest, its signature and exactly the listed parts;
//! 2. `package` — the package has the manifest, its signature and exactly the listed parts,
//!    no duplicate names, each declared at its listed size with a plausible compression ratio
//!    (read from the zip directory: nothing is inflated yet);
//! 3. `manifest_signature` — the bidder's CMS signature over the manifest is valid, carries a
//!    signing time not after the bid deadline (nor in the future), its certificate chains to a
//!    CA the tender accepts and was valid at that time, allows digital signatures (keyUsage
//!    digitalSignature or nonRepudiation), and names the manifest's bidder (name + credit
//!    code). Only when it holds are the parts extracted (`extract`: bounded by the declared
//!    sizes and the free disk space);
//! 4. `project` — the manifest is for this tender's project, lot and platform;
//! 5. `hash:<part>` — every part's SHA-256 and size match the manifest;
//! 6. `pdf:<part>` — every PDF has at least one signature and every signature is valid at the
//!    manifest's signing time (byte range, digest, ECDSA, chain to the accepted CAs, no change
//!    after it but further signatures) and was made by a certificate allowed to sign, of the
//!    bidder's enterprise (name and credit code).
//!
//! Guarantees: a report is produced for every bid, never a panic; `passed` is true only if
//! every check ran and passed; plaintext is only written inside the caller's work folder
//! (folders `0700`, files `0600`): the decrypted package is a temporary removed before
//! returning (a killed run's is swept by the next), and parts are extracted only after the
//! bidder's signature verified. Does not: revocation lookups (a revoked certificate
//! cannot decrypt because the co-signing service refuses; PDF signer revocation is not checked).

pub mod report_pdf;

use crate::bidfile::package::open_package;
use crate::bidfile::{check_same_company, BidFileError, BidManifest, BidProjectIds, BidderIds};
use crate::tender::TenderPackage;
use bidseal_cms::cert::TrustStore;
use bidseal_cms::cert::{Certificate, KeyUsages};
use bidseal_cms::envelope::{self, KeyAgreement};
use bidseal_cms::signed_data::{sha256, verify_detached};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One check of one bid.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OpeningCheck {
    /// Stable key: `envelope`, `package`, `manifest_signature`, `project`, `hash:<part>`,
    /// `pdf:<part>`, `decrypt_scan`.
    pub key: String,
    /// zh-CN name shown in the table.
    pub name: String,
    /// Passed or not.
    pub passed: bool,
    /// zh-CN detail: what was found, or exactly why it failed.
    pub detail: String,
    /// Stable error code when it failed.
    pub code: Option<String>,
}

impl OpeningCheck {
    /// The check as one line of the opening record: `[通过] 名称：说明` or
    /// `[失败] 名称：说明（CODE）`.
    pub fn line(&self) -> String {
        // The code is a suffix of its own, so that the line reads back as two phrases (the
        // workflow's `i18n` puts it into English from the zh-CN text).
        let head = format!(
            "[{}] {}：{}",
            if self.passed { "通过" } else { "失败" },
            self.name,
            self.detail
        );
        match self.code.as_deref() {
            Some(code) => format!("{head}（{code}）"),
            None => head,
        }
    }

    fn pass(key: impl Into<String>, name: impl Into<String>, detail: impl Into<String>) -> Self {
        OpeningCheck {
            key: key.into(),
            name: name.into(),
            passed: true,
            detail: detail.into(),
            code: None,
        }
    }

    /// A failed check with a code.
    pub fn fail(
        key: impl Into<String>,
        name: impl Into<String>,
        code: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        OpeningCheck {
            key: key.into(),
            name: name.into(),
            passed: false,
            detail: detail.into(),
            code: Some(code.into()),
        }
    }
}

/// The result of opening one bid file.
#[derive(Debug, Clone, Serialize)]
pub struct BidOpeningReport {
    /// The bid file as given.
    pub bid_file: String,
    /// SHA-256 of the bid file (lower-case hex), when readable.
    pub bid_file_sha256: Option<String>,
    /// The recipient entry used to open it.
    pub opened_as: Option<String>,
    /// The bidder from the manifest (trust it only when `passed`).
    pub bidder: Option<BidderIds>,
    /// The project from the manifest.
    pub project: Option<BidProjectIds>,
    /// Price summary from the manifest (唱标).
    pub price: BTreeMap<String, String>,
    /// Every check, in order.
    pub checks: Vec<OpeningCheck>,
    /// Every check passed.
    pub passed: bool,
    /// Where the parts were extracted.
    pub extracted_to: Option<String>,
}

/// One price entry as the opening reads it out (唱标): "投标总价 4321000.50 元" for a field of
/// the tender's price form `form` (its label and unit), `key：value` for a field the form does
/// not name (never the bare `key=value` of the manifest).
pub fn price_entry(form: &[crate::tender::PriceFormField], key: &str, value: &str) -> String {
    match form.iter().find(|f| f.key == key) {
        Some(f) => match f.unit.as_deref() {
            Some(unit) => format!("{} {value} {unit}", f.label),
            None => format!("{} {value}", f.label),
        },
        None => format!("{key}：{value}"),
    }
}

impl BidOpeningReport {
    /// The bidder as the record names it, `名称（统一社会信用代码）`, or `（未能解密）`.
    pub fn bidder_text(&self) -> String {
        self.bidder
            .as_ref()
            .map(|b| format!("{}（{}）", b.name, b.credit_code))
            .unwrap_or_else(|| "（未能解密）".into())
    }

    /// The price entries read out with the tender's price form ([`price_entry`]), in key order.
    pub fn price_texts(&self, form: &[crate::tender::PriceFormField]) -> Vec<String> {
        self.price
            .iter()
            .map(|(k, v)| price_entry(form, k, v))
            .collect()
    }

    /// `通过` or `不通过`.
    pub fn verdict_text(&self) -> &'static str {
        if self.passed {
            "通过"
        } else {
            "不通过"
        }
    }

    /// A report for `bid_file` with no checks yet.
    pub fn new(bid_file: &Path) -> Self {
        BidOpeningReport {
            bid_file: bid_file.display().to_string(),
            bid_file_sha256: crate::bidfile::manifest::hash_file(bid_file)
                .ok()
                .map(|(h, _)| h),
            opened_as: None,
            bidder: None,
            project: None,
            price: BTreeMap::new(),
            checks: Vec::new(),
            passed: false,
            extracted_to: None,
        }
    }

    /// Adds a check.
    pub fn push(&mut self, check: OpeningCheck) {
        self.checks.push(check);
        self.passed = self.checks.iter().all(|c| c.passed) && self.has_all_checks();
    }

    fn has_all_checks(&self) -> bool {
        ["envelope", "package", "manifest_signature", "project"]
            .iter()
            .all(|k| self.checks.iter().any(|c| c.key == *k))
    }

    /// The first failed check, if any.
    pub fn first_failure(&self) -> Option<&OpeningCheck> {
        self.checks.iter().find(|c| !c.passed)
    }
}

/// What the hall knows about the tender: always taken from a verified tender package
/// ([`HallContext::from_tender`]), never guessed.
#[derive(Debug, Clone)]
pub struct HallContext {
    /// CAs the tender accepts.
    pub accepted: TrustStore,
    /// The tender's project ids (project id, lot id, platform id).
    pub expected_project: BidProjectIds,
    /// The tender's bid deadline: a manifest signed later is refused.
    pub bid_deadline: SystemTime,
    /// The tender's opening time, unix seconds (what the phone is told).
    pub opens_at: u64,
    /// Now (a signing time after it is refused).
    pub at: SystemTime,
}

impl HallContext {
    /// The hall's context from a tender package the caller verified (platform pinned).
    pub fn from_tender(tender: &TenderPackage, now: SystemTime) -> Result<Self, BidFileError> {
        let m = &tender.manifest;
        let unix = |t: time::OffsetDateTime| t.unix_timestamp().max(0) as u64;
        Ok(HallContext {
            accepted: crate::bidfile::accepted_cas(tender)?,
            expected_project: BidProjectIds {
                project_id: m.project.id.clone(),
                project_name: m.project.name.clone(),
                lot_id: m.project.lot.id.clone(),
                lot_name: m.project.lot.name.clone(),
                platform_id: m.platform.id.clone(),
            },
            bid_deadline: SystemTime::UNIX_EPOCH + Duration::from_secs(unix(m.bid_deadline)),
            opens_at: unix(m.opening_time),
            at: now,
        })
    }
}

/// Signing times this far after the hall's clock are tolerated (clock skew).
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The folder a bid file is opened into: `<work>/<file name>.opened/`.
pub fn opened_dir(work: &Path, bid_file: &Path) -> PathBuf {
    let name = bid_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bid".into());
    work.join(format!("{name}.opened"))
}

/// Removes the plaintext temporaries a killed hall left in any `<work>/*.opened/` folder
/// (see [`crate::fsio::sweep_stale_plaintext`]); run once when the hall starts. Returns how
/// many were removed.
pub fn sweep_work(work: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(work) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".opened"))
        .map(|e| crate::fsio::sweep_stale_plaintext(&e.path(), SystemTime::now()))
        .sum()
}

/// Decrypts `bid_file` with `agreement` into a private temporary package in
/// `<work>/<name>.opened/` (removed before returning, whatever happens) and verifies it (see
/// the module doc); the parts are extracted, mode `0600`, into `<work>/<name>.opened/parts/`
/// only after the bidder's signature over the manifest checked out. The report is complete
/// whatever fails.
pub async fn open_bid_file<K: KeyAgreement>(
    bid_file: &Path,
    work: &Path,
    agreement: &K,
    hall: &HallContext,
) -> BidOpeningReport {
    let mut report = BidOpeningReport::new(bid_file);
    let dir = opened_dir(work, bid_file);
    let parts_dir = dir.join("parts");
    let made = crate::fsio::create_private_dir(work)
        .and_then(|()| crate::fsio::create_private_dir(&dir))
        .and_then(|()| crate::fsio::create_private_dir(&parts_dir));
    if let Err(e) = made {
        let err = BidFileError::io(&parts_dir, e);
        report.push(OpeningCheck::fail(
            "envelope",
            "数字信封",
            err.code(),
            err.to_string(),
        ));
        return report;
    }
    crate::fsio::sweep_stale_plaintext(&dir, SystemTime::now());
    let plaintext = PlaintextFile(dir.join(crate::fsio::plaintext_temp_name(".zip")));
    match envelope::decrypt_file(bid_file, &plaintext.0, agreement, &mut |_, _| {}).await {
        Ok(summary) => {
            report.opened_as = Some(summary.opened_as.clone());
            report.push(OpeningCheck::pass(
                "envelope",
                "数字信封",
                format!(
                    "解密成功，完整性校验通过（{}，{} 字节）",
                    summary.opened_as, summary.plaintext_len
                ),
            ));
        }
        Err(e) => {
            let detail = match &e {
                envelope::EnvelopeError::NotRecipient { .. } => {
                    format!("扫码的证书不是本投标文件的解密证书：{e}")
                }
                envelope::EnvelopeError::Tampered | envelope::EnvelopeError::RecipientsTampered => {
                    format!("投标文件已被篡改：{e}")
                }
                _ => e.to_string(),
            };
            report.push(OpeningCheck::fail("envelope", "数字信封", e.code(), detail));
            return report;
        }
    }
    verify_package(&plaintext.0, &parts_dir, hall, &mut report);
    if report.extracted_to.is_none() {
        let _ = std::fs::remove_dir(&parts_dir);
    }
    report
}

/// The decrypted package: plaintext, removed when dropped (every return path of
/// [`open_bid_file`], and unwinding). A kill -9 leaves it to the next run's sweep.
struct PlaintextFile(PathBuf);

impl Drop for PlaintextFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Verifies an already decrypted package (checks 2–6 of the module doc) into `report`. Parts
/// are extracted into `parts_dir` only after the manifest signature verified, and
/// `report.extracted_to` is set only then.
pub fn verify_package(
    package_zip: &Path,
    parts_dir: &Path,
    hall: &HallContext,
    report: &mut BidOpeningReport,
) {
    let opened = match open_package(package_zip) {
        Ok(p) => p,
        Err(e) => {
            report.push(OpeningCheck::fail(
                "package",
                "文件包结构",
                e.code(),
                e.to_string(),
            ));
            return;
        }
    };
    report.push(OpeningCheck::pass(
        "package",
        "文件包结构",
        format!("清单列出 {} 个文件，均在包内", opened.manifest.parts.len()),
    ));
    report.bidder = Some(opened.manifest.bidder.clone());
    report.project = Some(opened.manifest.project.clone());
    report.price = opened.manifest.price.clone();
    // 3. Manifest signature: nothing is inflated unless it holds.
    let (check, signed_at) = manifest_signature_check(
        &opened.signature_der,
        &opened.manifest_bytes,
        &opened.manifest.bidder,
        hall,
    );
    report.push(check);
    // 4. Project.
    let expected = &hall.expected_project;
    let got = &opened.manifest.project;
    if got.project_id == expected.project_id
        && got.lot_id == expected.lot_id
        && got.platform_id == expected.platform_id
    {
        report.push(OpeningCheck::pass(
            "project",
            "项目与标段",
            format!("{} / {}", got.project_id, got.lot_id),
        ));
    } else {
        report.push(OpeningCheck::fail(
            "project",
            "项目与标段",
            "OPEN_WRONG_PROJECT",
            format!(
                "投标文件属于项目 {} 标段 {}（平台 {}），不是本次开标的 {} 标段 {}（平台 {}）",
                got.project_id,
                got.lot_id,
                got.platform_id,
                expected.project_id,
                expected.lot_id,
                expected.platform_id
            ),
        ));
    }
    let Some(signed_at) = signed_at else {
        return;
    };
    let package = match opened.extract(parts_dir) {
        Ok(p) => p,
        Err(e) => {
            report.push(OpeningCheck::fail(
                "extract",
                "解压文件",
                e.code(),
                e.to_string(),
            ));
            return;
        }
    };
    report.extracted_to = Some(parts_dir.display().to_string());
    let manifest: &BidManifest = &package.manifest;
    // 5 + 6. Hashes and PDF signatures.
    for part in &manifest.parts {
        let key = format!("hash:{}", part.name);
        let name = format!("文件摘要 {}", part.name);
        let Some(path) = package.parts.get(&part.name) else {
            report.push(OpeningCheck::fail(
                key,
                name,
                "OPEN_PART_MISSING",
                "文件缺失",
            ));
            continue;
        };
        match crate::bidfile::manifest::hash_file(path) {
            Ok((hash, size)) if hash == part.sha256 && size == part.size => report.push(
                OpeningCheck::pass(key, name, format!("SHA-256 {}…", &hash[..16])),
            ),
            Ok((hash, _)) => report.push(OpeningCheck::fail(
                key,
                name,
                "OPEN_HASH_MISMATCH",
                format!("文件已被篡改：SHA-256 为 {hash}，清单中为 {}", part.sha256),
            )),
            Err(e) => report.push(OpeningCheck::fail(key, name, e.code(), e.to_string())),
        }
        if part.name.to_ascii_lowercase().ends_with(".pdf") {
            report.push(pdf_check(
                &part.name,
                path,
                &manifest.bidder,
                hall,
                signed_at,
            ));
        }
    }
}

/// A bidder's signing certificate must allow signatures: keyUsage present with
/// digitalSignature or nonRepudiation.
fn signing_key_usage_ok(cert: &Certificate) -> bool {
    cert.key_usage().is_some_and(|ku| {
        ku.0.contains(KeyUsages::DigitalSignature) || ku.0.contains(KeyUsages::NonRepudiation)
    })
}

/// Check 3; returns the signing time when the signature holds (the time at which every
/// certificate of this bid is checked).
fn manifest_signature_check(
    der: &[u8],
    manifest_bytes: &[u8],
    bidder: &BidderIds,
    hall: &HallContext,
) -> (OpeningCheck, Option<SystemTime>) {
    let (key, name) = ("manifest_signature", "投标人清单签名");
    let fail = |code: &str, detail: String| (OpeningCheck::fail(key, name, code, detail), None);
    let v = match verify_detached(der, &sha256(manifest_bytes), &hall.accepted, hall.at) {
        Ok(v) => v,
        Err(e) => return fail(e.code(), format!("签名无法解析：{e}")),
    };
    let who = format!(
        "{}（{}）",
        v.signer.common_name().unwrap_or_default(),
        v.signer.organization().unwrap_or_default()
    );
    if !v.digest_matches {
        return fail(
            "OPEN_MANIFEST_TAMPERED",
            "清单在签名后被修改（摘要不符）".into(),
        );
    }
    if !v.signature_valid || !v.signing_certificate_matches {
        return fail(
            "OPEN_SIGNATURE_INVALID",
            format!("签名值无效（签名人 {who}）"),
        );
    }
    let Some(signed_at) = v.signing_time else {
        // Only a `generate` signature carries signingTime; a PDF seal signature (PAdES, no
        // signingTime) reused as a manifest signature is refused (issue #10, point 2).
        return fail(
            "OPEN_MANIFEST_NOT_GENERATED",
            format!("清单签名没有签名时间属性，不是生成标书时的清单签名（签名人 {who}），不予认可"),
        );
    };
    if signed_at > hall.at + CLOCK_SKEW {
        return fail(
            "OPEN_SIGNATURE_INVALID",
            format!("签名时间晚于当前时间（签名人 {who}），签名不可信"),
        );
    }
    if signed_at > hall.bid_deadline {
        return fail(
            "OPEN_SIGNED_AFTER_DEADLINE",
            format!("清单签名时间晚于投标截止时间（签名人 {who}），不予受理"),
        );
    }
    if let Err(e) = hall
        .accepted
        .verify_chain(&v.signer, &v.certificates, signed_at)
    {
        return fail(
            "OPEN_CA_NOT_ACCEPTED",
            format!("签名证书 {who} 不是招标文件认可的 CA 签发，或签名时不在有效期内：{e}"),
        );
    }
    if !signing_key_usage_ok(&v.signer) {
        return fail(
            "OPEN_KEY_USAGE",
            format!("签名证书 {who} 的密钥用途不含数字签名，不能用于签署投标文件"),
        );
    }
    if let Err(e) = check_same_company(&v.signer, bidder) {
        return fail(e.code(), e.to_string());
    }
    (
        OpeningCheck::pass(key, name, format!("有效，签名人 {who}")),
        Some(signed_at),
    )
}

/// Check 6 for one PDF: every signature valid at `signed_at` (the manifest's signing time,
/// after every seal), chained to an accepted CA, by a certificate allowed to sign, of the
/// bidder's enterprise (name and credit code).
fn pdf_check(
    part: &str,
    path: &Path,
    bidder: &BidderIds,
    hall: &HallContext,
    signed_at: SystemTime,
) -> OpeningCheck {
    let key = format!("pdf:{part}");
    let name = format!("PDF 签章 {part}");
    let report = match bidseal_pdf::verify_file(path, &hall.accepted, signed_at) {
        Ok(r) => r,
        Err(e) => {
            return OpeningCheck::fail(key, name, e.code(), format!("无法验证：{e}"));
        }
    };
    if report.signatures.is_empty() {
        return OpeningCheck::fail(key, name, "OPEN_PDF_UNSIGNED", "文件没有任何签章");
    }
    let mut problems = Vec::new();
    for sig in &report.signatures {
        if !sig.is_valid() {
            problems.push(sig.summary_line());
            continue;
        }
        let Some(cert) = &sig.signer_certificate else {
            problems.push(format!("{}：没有签章证书", sig.field_name));
            continue;
        };
        if let Err(e) = check_same_company(cert, bidder) {
            problems.push(format!("{}：{e}", sig.field_name));
        } else if !signing_key_usage_ok(cert) {
            problems.push(format!(
                "{}：签章证书的密钥用途不含数字签名",
                sig.field_name
            ));
        }
    }
    if problems.is_empty() {
        OpeningCheck::pass(
            key,
            name,
            format!("{} 个签章全部有效", report.signatures.len()),
        )
    } else {
        OpeningCheck::fail(key, name, "OPEN_PDF_SIGNATURE_INVALID", problems.join("；"))
    }
}
