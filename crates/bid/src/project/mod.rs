//! The bid project: a folder the user can see and back up (`NAME.bidproj/`), plus the local
//! index of recent projects (`index`).
//!
//! ```text
//! NAME.bidproj/
//!   project.json        everything the bidder entered (this module's ProjectFile), autosaved
//!   sources/tender.zip  the verified tender package, as downloaded
//!   sources/SECTION/NN.pdf|png|jpg|md  attachments per bid section: PDFs, scanned pages,
//!                       text chapters (copies; originals untouched)
//!   work/               intermediate files of composition and the QR codes of each scan run
//!   out/bid.pdf         the composed bid
//!   out/sealed.pdf, out/seals.json   the sealed bid and its record (sealing flow)
//!   out/stale/          sealed PDFs an edit made invalid, moved out of the way
//! ```
//!
//! Guarantees: every change is saved at once with an atomic write, so reopening restores
//! exactly what was entered; a project only ever holds a tender whose platform signature
//! verified against a pinned platform certificate at import, and reopening re-checks the stored
//! package against the fingerprint and hash recorded at import. Any edit invalidates the
//! recorded composition (the sealing step must never seal a stale layout) and moves a sealed
//! PDF made on it to `out/stale/` ([`BidProject::retired_seals`]); `set_all` stores several
//! fields all or nothing; attachments are refused unless they are a PDF, a PNG/JPEG scan (size
//! checked from its header before decoding) or a `.md` chapter. Does not: seal,
//! generate the bid file or talk to the platform.

pub mod composition;
pub mod form;
pub mod index;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::attachment;
use crate::fsio::write_atomic;
use crate::tender::{self, TenderError, TenderManifest, TenderPackage, TrustedPlatforms};
use composition::{Composition, NodePosition, PlacementError};

/// The project file inside the folder.
pub const PROJECT_FILE: &str = "project.json";
/// Format tag of `project.json`.
pub const PROJECT_FORMAT: &str = "bidseal-project/1";
/// Where the imported tender package is kept.
pub const TENDER_COPY: &str = "sources/tender.zip";
/// Folder suffix of a project.
pub const PROJECT_SUFFIX: &str = ".bidproj";
/// Largest PDF accepted as an attachment.
pub const MAX_ATTACHMENT_BYTES: u64 = 512 * 1024 * 1024;
/// The sealed bid PDF inside the project folder (written by the sealing flow).
pub const SEALED_PDF: &str = "out/sealed.pdf";
/// The sealing record inside the project folder (written by the sealing flow).
pub const SEAL_RECORD: &str = "out/seals.json";
/// Where seals made invalid by an edit are moved (`out/stale/sealed-UNIX.pdf`): kept for the
/// bidder's reference, never where a current sealed PDF is looked for.
pub const STALE_DIR: &str = "out/stale";
/// Largest image (pixels) accepted as a scanned attachment: 100 megapixels, an A4 page at
/// 1200 dpi; a larger one is a decompression bomb, not a scan.
pub const MAX_SCAN_PIXELS: u64 = 100_000_000;

/// The bidder (投标人) as printed on the generated forms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bidder {
    /// 投标人名称 (enterprise name, must match the certificate later).
    #[serde(default)]
    pub name: String,
    /// 统一社会信用代码.
    #[serde(default)]
    pub credit_code: String,
    /// 法定代表人.
    #[serde(default)]
    pub legal_representative: String,
    /// 地址.
    #[serde(default)]
    pub address: String,
    /// 联系人.
    #[serde(default)]
    pub contact: String,
    /// 联系电话.
    #[serde(default)]
    pub phone: String,
}

/// Keys `set` accepts for the bidder, with their zh-CN labels.
pub const BIDDER_KEYS: [(&str, &str); 6] = [
    ("bidder.name", "投标人名称"),
    ("bidder.credit_code", "统一社会信用代码"),
    ("bidder.legal_representative", "法定代表人"),
    ("bidder.address", "地址"),
    ("bidder.contact", "联系人"),
    ("bidder.phone", "联系电话"),
];

/// What an attachment is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// A PDF, merged page by page.
    #[default]
    Pdf,
    /// A text chapter (`.md`, see `attachment::parse_chapter`) laid out by the composer.
    Chapter,
    /// A scanned page (PNG or JPEG, e.g. 营业执照), composed as one A4 page fitted to it.
    Image,
}

/// An image a chapter refers to, copied into the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChapterImage {
    /// The reference as written in the chapter (`images/site.png`).
    pub reference: String,
    /// The copy inside the project folder.
    pub file: String,
    pub sha256: String,
}

/// A document attached to a section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// Path inside the project folder (`sources/SECTION/NN.pdf` or `NN.md`).
    pub file: String,
    /// The name the user attached it under.
    pub original_name: String,
    pub sha256: String,
    /// Pages of a PDF, 1 for a scanned image; 0 for a chapter (known only once laid out).
    pub pages: u32,
    #[serde(default)]
    pub kind: AttachmentKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ChapterImage>,
}

/// The tender a project was made for, as recorded at import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenderRef {
    pub package: String,
    pub package_sha256: String,
    pub platform_fingerprint: String,
    pub project_id: String,
    pub project_name: String,
    pub lot_id: String,
    pub lot_name: String,
}

/// `project.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub format: String,
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub tender: TenderRef,
    pub bidder: Bidder,
    /// Price-form values by field key, canonical (see `form::normalise`).
    pub form: BTreeMap<String, String>,
    /// Attachments by section id, in binding order.
    pub attachments: BTreeMap<String, Vec<Attachment>>,
    /// The last composition, if still current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composition: Option<Composition>,
}

/// An open project.
#[derive(Debug)]
pub struct BidProject {
    dir: PathBuf,
    file: ProjectFile,
    tender: TenderPackage,
    /// Where the last edit moved seals it made invalid (see [`BidProject::retired_seals`]).
    retired_seals: Option<PathBuf>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl BidProject {
    /// Creates a project folder for a tender package, verifying the package against the pinned
    /// platforms first. `dir` must end in `.bidproj` and must not exist yet (or be empty).
    pub fn create(
        dir: &Path,
        tender_path: &Path,
        trusted: &TrustedPlatforms,
        now: OffsetDateTime,
    ) -> Result<Self, ProjectError> {
        if !dir.to_string_lossy().ends_with(PROJECT_SUFFIX) {
            return Err(ProjectError::BadFolderName {
                path: dir.display().to_string(),
            });
        }
        if dir.exists()
            && std::fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(ProjectError::FolderNotEmpty {
                path: dir.display().to_string(),
            });
        }
        if trusted.is_empty() {
            return Err(ProjectError::PlatformNotPinned);
        }
        let verified = tender::verify(tender_path, trusted, now)?;
        let manifest = &verified.package.manifest;
        if manifest.bid_deadline <= now {
            return Err(ProjectError::DeadlinePassed {
                deadline: manifest.bid_deadline.to_string(),
            });
        }
        let package_bytes = std::fs::read(tender_path).map_err(|e| io_err(tender_path, e))?;
        for sub in ["sources", "work", "out"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| io_err(dir, e))?;
        }
        write_atomic(&dir.join(TENDER_COPY), &package_bytes).map_err(|e| io_err(dir, e))?;
        let id_seed = format!(
            "{}|{}|{}",
            dir.display(),
            now.unix_timestamp_nanos(),
            std::process::id()
        );
        let file = ProjectFile {
            format: PROJECT_FORMAT.into(),
            id: sha256_hex(id_seed.as_bytes())[..16].to_string(),
            created_at: now,
            updated_at: now,
            tender: TenderRef {
                package: TENDER_COPY.into(),
                package_sha256: sha256_hex(&package_bytes),
                platform_fingerprint: verified.package.platform.fingerprint().to_string(),
                project_id: manifest.project.id.clone(),
                project_name: manifest.project.name.clone(),
                lot_id: manifest.project.lot.id.clone(),
                lot_name: manifest.project.lot.name.clone(),
            },
            bidder: Bidder::default(),
            form: BTreeMap::new(),
            attachments: manifest
                .sections
                .iter()
                .map(|s| (s.id.clone(), Vec::new()))
                .collect(),
            composition: None,
        };
        let project = Self {
            dir: dir.to_path_buf(),
            file,
            tender: verified.package,
            retired_seals: None,
        };
        project.save()?;
        Ok(project)
    }

    /// Reopens a project folder, re-checking the stored tender package.
    pub fn open(dir: &Path) -> Result<Self, ProjectError> {
        let path = dir.join(PROJECT_FILE);
        let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        let file: ProjectFile = serde_json::from_slice(&bytes)
            .map_err(|e| ProjectError::ProjectFileInvalid { why: e.to_string() })?;
        if file.format != PROJECT_FORMAT {
            return Err(ProjectError::ProjectFileInvalid {
                why: format!("未知格式 {}", file.format),
            });
        }
        if file.tender.package != TENDER_COPY {
            return Err(ProjectError::ProjectFileInvalid {
                why: "招标文件包路径被修改".into(),
            });
        }
        let package_path = dir.join(TENDER_COPY);
        let package_bytes = std::fs::read(&package_path).map_err(|e| io_err(&package_path, e))?;
        let tender = tender::open(&package_path)?;
        if sha256_hex(&package_bytes) != file.tender.package_sha256
            || tender.platform.fingerprint() != file.tender.platform_fingerprint
        {
            return Err(ProjectError::TenderReplaced);
        }
        for (section, list) in &file.attachments {
            if tender.manifest.section(section).is_none() {
                return Err(ProjectError::UnknownSection {
                    section: section.clone(),
                });
            }
            for a in list {
                if !is_inside_sources(&a.file)
                    || a.images.iter().any(|i| !is_inside_sources(&i.file))
                {
                    return Err(ProjectError::ProjectFileInvalid {
                        why: format!("附件路径非法: {}", a.file),
                    });
                }
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            tender,
            retired_seals: None,
        })
    }

    /// The project folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Everything saved in `project.json`.
    pub fn file(&self) -> &ProjectFile {
        &self.file
    }

    /// The tender's manifest.
    pub fn manifest(&self) -> &TenderManifest {
        &self.tender.manifest
    }

    /// The verified tender package.
    pub fn tender(&self) -> &TenderPackage {
        &self.tender
    }

    /// Saves `project.json` atomically.
    pub fn save(&self) -> Result<(), ProjectError> {
        let bytes = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| ProjectError::ProjectFileInvalid { why: e.to_string() })?;
        let path = self.dir.join(PROJECT_FILE);
        write_atomic(&path, &bytes).map_err(|e| io_err(&path, e))
    }

    /// After any edit: the composition is gone and seals made on it are retired, so no stale
    /// sealed PDF stays where a current one is expected.
    fn changed(&mut self) -> Result<(), ProjectError> {
        self.file.updated_at = OffsetDateTime::now_utc();
        self.file.composition = None;
        self.save()?;
        self.retire_seals()
    }

    /// Moves `out/sealed.pdf` (and its record) to `out/stale/` when it exists: the bid it
    /// carries is no longer the project's. Remembered for [`BidProject::retired_seals`].
    fn retire_seals(&mut self) -> Result<(), ProjectError> {
        let sealed = self.dir.join(SEALED_PDF);
        if !sealed.exists() {
            return Ok(());
        }
        let stale = self.dir.join(STALE_DIR);
        std::fs::create_dir_all(&stale).map_err(|e| io_err(&stale, e))?;
        let stamp = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let target = stale.join(format!("sealed-{stamp}.pdf"));
        std::fs::rename(&sealed, &target).map_err(|e| io_err(&sealed, e))?;
        let record = self.dir.join(SEAL_RECORD);
        if record.exists() {
            let record_target = stale.join(format!("seals-{stamp}.json"));
            std::fs::rename(&record, &record_target).map_err(|e| io_err(&record, e))?;
        }
        self.retired_seals = Some(target);
        Ok(())
    }

    /// Where the last edit in this process moved a sealed PDF it made invalid, if it did: the
    /// caller tells the bidder to compose and seal again.
    pub fn retired_seals(&self) -> Option<&Path> {
        self.retired_seals.as_deref()
    }

    /// Copies a PDF, or a text chapter (`.md`/`.txt`) with the images it refers to, into the
    /// project as the next attachment of `section` (autosaved).
    pub fn attach(&mut self, section: &str, source: &Path) -> Result<Attachment, ProjectError> {
        if self.manifest().section(section).is_none() {
            return Err(ProjectError::UnknownSection {
                section: section.into(),
            });
        }
        let invalid = |why: String| ProjectError::AttachmentInvalid {
            file: source.display().to_string(),
            why,
        };
        let ext = source
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let is_chapter = ext == "md";
        let is_image = matches!(ext.as_str(), "png" | "jpg" | "jpeg");
        match ext.as_str() {
            "pdf" | "md" | "png" | "jpg" | "jpeg" => {}
            "txt" => {
                return Err(invalid(
                    "纯文本文件不能作为附件；如要作为文字章节排版，请改用 .md 扩展名（格式见文档），否则请先转换为 PDF".into(),
                ))
            }
            _ => {
                return Err(invalid(
                    "只接受 PDF、JPG/PNG 扫描件或 .md 文字章节；其他格式请先转换为 PDF".into(),
                ))
            }
        }
        let limit = if is_chapter {
            attachment::MAX_CHAPTER_BYTES
        } else if is_image {
            attachment::MAX_IMAGE_BYTES
        } else {
            MAX_ATTACHMENT_BYTES
        };
        let meta = std::fs::metadata(source).map_err(|e| io_err(source, e))?;
        if meta.len() > limit {
            return Err(invalid(format!("文件超过 {} MB", limit / 1024 / 1024)));
        }
        let bytes = std::fs::read(source).map_err(|e| io_err(source, e))?;
        let next = self.file.attachments.get(section).map_or(0, Vec::len) + 1;
        let folder = self.dir.join("sources").join(section);
        std::fs::create_dir_all(&folder).map_err(|e| io_err(&folder, e))?;
        let original_name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let attachment = if is_chapter {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| invalid("文字章节须为 UTF-8 编码".into()))?;
            let base = source.parent().unwrap_or(Path::new("."));
            let mut images = Vec::new();
            for block in attachment::parse_chapter(text) {
                let attachment::Block::Image { reference, .. } = block else {
                    continue;
                };
                if images
                    .iter()
                    .any(|i: &ChapterImage| i.reference == reference)
                {
                    continue;
                }
                let img_path = base.join(&reference);
                let img_ext = img_path
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase())
                    .unwrap_or_default();
                if !matches!(img_ext.as_str(), "png" | "jpg" | "jpeg") {
                    return Err(invalid(format!("图片“{reference}”须为 PNG 或 JPEG")));
                }
                let img_meta = std::fs::metadata(&img_path)
                    .map_err(|_| invalid(format!("找不到图片“{reference}”")))?;
                if img_meta.len() > attachment::MAX_IMAGE_BYTES {
                    return Err(invalid(format!("图片“{reference}”超过 32 MB")));
                }
                let img = std::fs::read(&img_path).map_err(|e| io_err(&img_path, e))?;
                check_scan_pixels(&img)
                    .map_err(|why| invalid(format!("图片“{reference}”{why}")))?;
                let rel = format!("sources/{section}/{next:02}-{}.{img_ext}", images.len() + 1);
                write_atomic(&self.dir.join(&rel), &img).map_err(|e| io_err(&img_path, e))?;
                images.push(ChapterImage {
                    reference,
                    file: rel,
                    sha256: sha256_hex(&img),
                });
            }
            let rel = format!("sources/{section}/{next:02}.md");
            write_atomic(&self.dir.join(&rel), &bytes).map_err(|e| io_err(source, e))?;
            Attachment {
                file: rel,
                original_name,
                sha256: sha256_hex(&bytes),
                pages: 0,
                kind: AttachmentKind::Chapter,
                images,
            }
        } else if is_image {
            check_scan_pixels(&bytes).map_err(invalid)?;
            let stored_ext = if ext == "png" { "png" } else { "jpg" };
            let rel = format!("sources/{section}/{next:02}.{stored_ext}");
            write_atomic(&self.dir.join(&rel), &bytes).map_err(|e| io_err(source, e))?;
            Attachment {
                file: rel,
                original_name,
                sha256: sha256_hex(&bytes),
                pages: 1,
                kind: AttachmentKind::Image,
                images: Vec::new(),
            }
        } else {
            let pages = attachment::count_pages(&bytes).map_err(invalid)?;
            let rel = format!("sources/{section}/{next:02}.pdf");
            write_atomic(&self.dir.join(&rel), &bytes).map_err(|e| io_err(source, e))?;
            Attachment {
                file: rel,
                original_name,
                sha256: sha256_hex(&bytes),
                pages,
                kind: AttachmentKind::Pdf,
                images: Vec::new(),
            }
        };
        self.file
            .attachments
            .entry(section.to_string())
            .or_default()
            .push(attachment.clone());
        self.changed()?;
        Ok(attachment)
    }

    /// Sets a bidder field (`bidder.*`) or a price-form field (by its key), validated (autosaved).
    pub fn set(&mut self, key: &str, value: &str) -> Result<String, ProjectError> {
        let stored = self.apply(key, value)?;
        self.changed()?;
        Ok(stored)
    }

    /// Sets several fields at once, all or nothing: if any value is refused, none is stored
    /// and the project is unchanged. Returns the stored (canonical) values in order.
    pub fn set_all(&mut self, assignments: &[(&str, &str)]) -> Result<Vec<String>, ProjectError> {
        let before = (self.file.bidder.clone(), self.file.form.clone());
        let mut stored = Vec::new();
        for (key, value) in assignments {
            match self.apply(key, value) {
                Ok(v) => stored.push(v),
                Err(e) => {
                    (self.file.bidder, self.file.form) = before;
                    return Err(e);
                }
            }
        }
        self.changed()?;
        Ok(stored)
    }

    /// Validates and applies one assignment in memory (no save).
    fn apply(&mut self, key: &str, value: &str) -> Result<String, ProjectError> {
        let refused = |why: String| ProjectError::ValueRefused {
            key: key.to_string(),
            why,
        };
        let value = if let Some(field) = key.strip_prefix("bidder.") {
            let v = value.trim().to_string();
            let v = if field == "credit_code" {
                form::check_credit_code(&v).map_err(refused)?
            } else {
                v
            };
            if v.chars().count() > 200 || v.chars().any(char::is_control) {
                return Err(refused("应为不超过 200 字的单行文字".into()));
            }
            let b = &mut self.file.bidder;
            let slot = match field {
                "name" => &mut b.name,
                "credit_code" => &mut b.credit_code,
                "legal_representative" => &mut b.legal_representative,
                "address" => &mut b.address,
                "contact" => &mut b.contact,
                "phone" => &mut b.phone,
                _ => {
                    return Err(ProjectError::UnknownKey {
                        key: key.into(),
                        known: self.known_keys(),
                    })
                }
            };
            *slot = v.clone();
            v
        } else {
            let Some(field) = self.manifest().field(key).cloned() else {
                return Err(ProjectError::UnknownKey {
                    key: key.into(),
                    known: self.known_keys(),
                });
            };
            let v = form::normalise(&field, value).map_err(refused)?;
            self.file.form.insert(key.to_string(), v.clone());
            v
        };
        Ok(value)
    }

    fn known_keys(&self) -> String {
        BIDDER_KEYS
            .iter()
            .map(|(k, _)| k.to_string())
            .chain(self.manifest().price_form.iter().map(|f| f.key.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What is still missing before the bid can be composed (zh-CN, one item per line).
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        let b = &self.file.bidder;
        for ((key, label), value) in
            BIDDER_KEYS
                .iter()
                .zip([&b.name, &b.credit_code, &b.legal_representative])
        {
            if value.is_empty() {
                out.push(format!(
                    "未填写{label}（bidseal project set DIR {key}=...）"
                ));
            }
        }
        for f in &self.manifest().price_form {
            if f.required && !self.file.form.contains_key(&f.key) {
                out.push(format!(
                    "未填写投标函“{}”（bidseal project set DIR {}=...）",
                    f.label, f.key
                ));
            }
        }
        for s in &self.manifest().sections {
            let n = self.file.attachments.get(&s.id).map_or(0, Vec::len) as u32;
            if n < s.min_attachments {
                out.push(format!("“{}”至少需要 {} 个附件，当前 {n} 个（bidseal project attach DIR --section {} FILE）", s.title, s.min_attachments, s.id));
            }
        }
        out
    }

    /// Stores where the bidder puts `node`'s seal of `kind` on the current composition
    /// ([`Composition::place`]), autosaved. When the seal rectangles change, a sealed PDF made
    /// on the old ones is retired (it no longer matches what the bidder sees).
    pub fn place_seal(
        &mut self,
        node: &str,
        kind: Option<crate::tender::SealKind>,
        position: &NodePosition,
    ) -> Result<(), ProjectError> {
        let mut composition = self
            .file
            .composition
            .clone()
            .ok_or(PlacementError::NotComposed)?;
        let changed = composition.place(node, kind, position)?;
        self.file.composition = Some(composition);
        self.file.updated_at = OffsetDateTime::now_utc();
        self.save()?;
        if changed {
            self.retire_seals()?;
        }
        Ok(())
    }

    /// Records a composition (called by `compose`), autosaved. The same PDF composed again
    /// keeps the bidder's seal placements (same pages, same places).
    pub fn record_composition(&mut self, mut composition: Composition) -> Result<(), ProjectError> {
        if let Some(old) = self
            .file
            .composition
            .as_ref()
            .filter(|old| old.sha256 == composition.sha256)
        {
            composition.placements = old.placements.clone();
        }
        self.file.updated_at = OffsetDateTime::now_utc();
        let sealed_on = std::fs::read(self.dir.join(SEAL_RECORD))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["composition_sha256"].as_str().map(str::to_string));
        let seals_still_fit = sealed_on.as_deref() == Some(composition.sha256.as_str());
        self.file.composition = Some(composition);
        self.save()?;
        if seals_still_fit {
            Ok(())
        } else {
            self.retire_seals()
        }
    }

    /// The index entry describing this project.
    pub fn recent_entry(&self) -> index::RecentProject {
        let path = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        index::RecentProject {
            path: path.display().to_string(),
            title: format!(
                "{} {}",
                self.file.tender.project_name, self.file.tender.lot_name
            ),
            tender_project_id: self.file.tender.project_id.clone(),
            lot_id: self.file.tender.lot_id.clone(),
            last_opened_unix: OffsetDateTime::now_utc().unix_timestamp(),
        }
    }
}

/// Refuses an image whose header is not PNG/JPEG or declares more than [`MAX_SCAN_PIXELS`],
/// before anything decodes it.
fn check_scan_pixels(bytes: &[u8]) -> Result<(), String> {
    let (w, h) = attachment::scan_size(bytes)?;
    if w == 0 || h == 0 || w.saturating_mul(h) > MAX_SCAN_PIXELS {
        return Err(format!(
            "图片 {w}×{h} 像素超出范围（最多 {} 万像素）",
            MAX_SCAN_PIXELS / 10_000
        ));
    }
    Ok(())
}

/// `sources/SECTION/NN.pdf` and nothing that could escape the folder.
fn is_inside_sources(rel: &str) -> bool {
    let mut parts = rel.split('/');
    parts.next() == Some("sources")
        && rel.split('/').count() == 3
        && rel
            .split('/')
            .all(|p| !p.is_empty() && p != ".." && p != "." && !p.contains('\\'))
}

fn io_err(path: &Path, e: std::io::Error) -> ProjectError {
    ProjectError::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

/// Project errors, each with a stable code and a zh-CN message.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("读写 {path} 失败: {why}")]
    Io { path: String, why: String },
    #[error("投标项目文件夹须以 .bidproj 结尾：{path}")]
    BadFolderName { path: String },
    #[error("文件夹 {path} 已存在且非空，请换一个位置新建投标项目")]
    FolderNotEmpty { path: String },
    #[error("未指定信任的交易平台证书，不能导入招标文件（使用 --platform-cert 指定平台证书）")]
    PlatformNotPinned,
    #[error("招标文件包校验失败：{0}")]
    Tender(#[from] TenderError),
    #[error("投标截止时间 {deadline} 已过，不能再新建投标项目")]
    DeadlinePassed { deadline: String },
    #[error("project.json 无效：{why}")]
    ProjectFileInvalid { why: String },
    #[error("项目中的招标文件包与导入时不同（已被替换），请重新导入招标文件")]
    TenderReplaced,
    #[error("招标文件中没有组成部分“{section}”")]
    UnknownSection { section: String },
    #[error("附件 {file} 不能使用：{why}")]
    AttachmentInvalid { file: String, why: String },
    #[error("未知字段“{key}”，可用字段：{known}")]
    UnknownKey { key: String, known: String },
    #[error("字段“{key}”的值无效：{why}")]
    ValueRefused { key: String, why: String },
    #[error(transparent)]
    Placement(#[from] PlacementError),
}

impl ProjectError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProjectError::Io { .. } => "PROJECT_IO",
            ProjectError::BadFolderName { .. } => "PROJECT_BAD_FOLDER_NAME",
            ProjectError::FolderNotEmpty { .. } => "PROJECT_FOLDER_NOT_EMPTY",
            ProjectError::PlatformNotPinned => "PROJECT_PLATFORM_NOT_PINNED",
            ProjectError::Tender(e) => e.code(),
            ProjectError::DeadlinePassed { .. } => "PROJECT_DEADLINE_PASSED",
            ProjectError::ProjectFileInvalid { .. } => "PROJECT_FILE_INVALID",
            ProjectError::TenderReplaced => "PROJECT_TENDER_REPLACED",
            ProjectError::UnknownSection { .. } => "PROJECT_UNKNOWN_SECTION",
            ProjectError::AttachmentInvalid { .. } => "PROJECT_ATTACHMENT_INVALID",
            ProjectError::UnknownKey { .. } => "PROJECT_UNKNOWN_KEY",
            ProjectError::ValueRefused { .. } => "PROJECT_VALUE_REFUSED",
            ProjectError::Placement(e) => e.code(),
        }
    }
}
