//! The tender manifest (`tender.json`): what the tenderer asks for, as data.
//!
//! Guarantees: [`TenderManifest::check`] refuses a manifest whose references do not resolve
//! (a signing node on an unknown section, a form anchor on a form that section does not
//! generate, duplicate ids, an opening before the deadline, no seal kind on a node), so the
//! rest of the crate can index by id without re-checking. Does not: check signatures or file
//! hashes (see `package`), or say anything about trust in the platform.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::OffsetDateTime;

use super::TenderError;

/// The format tag every manifest carries; a different tag is refused.
/// Name of the tender document PDF inside a package (listed in the manifest's documents).
pub const TENDER_PDF: &str = "tender.pdf";

pub const TENDER_FORMAT: &str = "bidseal-tender/1";

/// The whole manifest. Serialized with `serde_json` as UTF-8; the platform signs the exact bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenderManifest {
    /// Always [`TENDER_FORMAT`].
    pub format: String,
    pub project: TenderProject,
    pub tenderer: Tenderer,
    pub platform: PlatformRef,
    /// 投标截止时间 (RFC 3339 with offset).
    #[serde(with = "time::serde::rfc3339")]
    pub bid_deadline: OffsetDateTime,
    /// 开标时间 (RFC 3339); never before the deadline.
    #[serde(with = "time::serde::rfc3339")]
    pub opening_time: OffsetDateTime,
    /// When the platform issued this package.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// CA certificates whose bidder certificates this tender accepts (files under `trust/`).
    pub accepted_cas: Vec<PackagedFile>,
    /// The tender documents themselves (at least `tender.pdf`).
    pub documents: Vec<PackagedFile>,
    /// Required bid structure, in binding order.
    pub sections: Vec<BidSection>,
    /// Fields of the bid form (投标函 / 开标一览表).
    pub price_form: Vec<PriceFormField>,
    /// 签章节点: where the bid must be sealed, and with what.
    pub signing_nodes: Vec<SigningNode>,
}

/// 招标项目 and the lot (标段) this package is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenderProject {
    /// 项目编号.
    pub id: String,
    /// 项目名称.
    pub name: String,
    /// 标段.
    pub lot: Lot,
}

/// 标段 (section/lot of a project).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lot {
    /// 标段编号.
    pub id: String,
    /// 标段名称.
    pub name: String,
}

/// 招标人 and its agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenderer {
    /// 招标人.
    pub name: String,
    /// 招标代理机构, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
}

/// The trading platform that published the tender and signs its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformRef {
    /// Stable platform id (also the bid file's upload target).
    pub id: String,
    /// Display name (交易平台名称).
    pub name: String,
}

/// A file inside the package, bound to the manifest by size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagedFile {
    /// Path inside the zip.
    pub file: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// What it is (CA name, document title).
    pub title: String,
}

/// The four kinds of bid section Chinese tenders use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    /// 商务标.
    Business,
    /// 技术标.
    Technical,
    /// 报价.
    Price,
    /// 资格审查.
    Qualification,
}

impl SectionKind {
    /// The zh-CN name.
    pub fn zh(self) -> &'static str {
        match self {
            SectionKind::Business => "商务标",
            SectionKind::Technical => "技术标",
            SectionKind::Price => "报价",
            SectionKind::Qualification => "资格审查",
        }
    }
}

/// Documents the composer generates from the project's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratedForm {
    /// 投标函 (from the price form fields and the bidder).
    BidLetter,
    /// 投标人基本情况表 (qualification table from the bidder record).
    BidderProfile,
}

impl GeneratedForm {
    /// The zh-CN title printed on the page and in bookmarks.
    pub fn zh(self) -> &'static str {
        match self {
            GeneratedForm::BidLetter => "投标函",
            GeneratedForm::BidderProfile => "投标人基本情况表",
        }
    }

    /// Seal fields the form lays out (the anchors a [`SigningNode`] may name).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            GeneratedForm::BidLetter => &["bidder_seal", "legal_rep_seal"],
            GeneratedForm::BidderProfile => &["bidder_seal"],
        }
    }
}

/// One required section of the bid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidSection {
    /// Id used by signing nodes and `project attach --section`.
    pub id: String,
    pub kind: SectionKind,
    /// Title printed in the table of contents and bookmarks.
    pub title: String,
    /// What the bidder must put in it (shown to the bidder, listed in the table of contents).
    #[serde(default)]
    pub required_content: Vec<String>,
    /// Forms the composer generates at the start of this section.
    #[serde(default)]
    pub generated: Vec<GeneratedForm>,
    /// Minimum number of attached PDFs (0 = optional).
    #[serde(default)]
    pub min_attachments: u32,
}

/// Value kind of a price-form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Amount in yuan, up to 2 decimals, positive.
    Money,
    /// Whole number (days, months, people).
    Integer,
    /// Free text, one line.
    Text,
}

/// A field of the bid form (投标函).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFormField {
    /// Key used by `project set KEY=VALUE`.
    pub key: String,
    /// Label printed on the form (投标总价, 工期, 质量标准 ...).
    pub label: String,
    pub kind: FieldKind,
    /// Unit printed after the value (元, 日历天 ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// Upper bound for money/integer (最高投标限价), in the field's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
}

/// Kinds of seal a signing node may require (seed 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealKind {
    /// 企业公章.
    Enterprise,
    /// 法人章.
    LegalPerson,
    /// 法定代表人手写签名.
    LegalPersonSignature,
    /// 个人私章.
    Personal,
    /// 部门章.
    Department,
}

impl SealKind {
    /// The zh-CN name.
    pub fn zh(self) -> &'static str {
        match self {
            SealKind::Enterprise => "企业公章",
            SealKind::LegalPerson => "法人章",
            SealKind::LegalPersonSignature => "法人签名",
            SealKind::Personal => "个人章",
            SealKind::Department => "部门章",
        }
    }
}

/// Which page of a section an anchor means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionPage {
    First,
    Last,
}

/// Where on the composed bid a signing node sits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PageAnchor {
    /// A seal field of a generated form (exact rectangle known to the composer).
    FormField { form: GeneratedForm, field: String },
    /// A box on the first/last page of the section's content, measured in millimetres from the
    /// page's lower-right corner (distances to the right and bottom edges, then size).
    SectionPage {
        page: SectionPage,
        right_mm: f32,
        bottom_mm: f32,
        width_mm: f32,
        height_mm: f32,
    },
    /// 骑缝章: a strip on the right edge of every page of the section.
    CrossPage,
}

/// 签章节点.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningNode {
    pub id: String,
    /// Section id.
    pub section: String,
    /// What the bidder sees (投标函落款 ...).
    pub label: String,
    pub anchor: PageAnchor,
    /// Seals required at this node (all of them).
    pub seal_kinds: Vec<SealKind>,
    /// A mandatory node blocks bid-file generation while unsealed.
    #[serde(default = "yes")]
    pub mandatory: bool,
}

fn yes() -> bool {
    true
}

impl TenderManifest {
    /// The section with this id.
    pub fn section(&self, id: &str) -> Option<&BidSection> {
        self.sections.iter().find(|s| s.id == id)
    }

    /// The price-form field with this key.
    pub fn field(&self, key: &str) -> Option<&PriceFormField> {
        self.price_form.iter().find(|f| f.key == key)
    }

    /// Structural checks; see the module doc.
    pub fn check(&self) -> Result<(), TenderError> {
        let bad = |why: String| Err(TenderError::ManifestInvalid { why });
        if self.format != TENDER_FORMAT {
            return Err(TenderError::UnsupportedFormat {
                found: self.format.clone(),
            });
        }
        if self.project.id.trim().is_empty() || self.project.lot.id.trim().is_empty() {
            return bad("项目编号或标段编号为空".into());
        }
        if self.opening_time < self.bid_deadline {
            return bad("开标时间早于投标截止时间".into());
        }
        if self.sections.is_empty() {
            return bad("未定义任何投标文件组成部分".into());
        }
        if !self.documents.iter().any(|d| d.file == TENDER_PDF) {
            return bad(format!("未列出招标文件正文 {}", TENDER_PDF));
        }
        if self.accepted_cas.is_empty() {
            return bad("未列出任何可接受的 CA 根证书".into());
        }
        let mut ids = BTreeSet::new();
        for s in &self.sections {
            if s.id.is_empty() || !ids.insert(s.id.as_str()) {
                return bad(format!("投标文件组成部分编号“{}”为空或重复", s.id));
            }
            if !is_plain_id(&s.id) {
                return bad(format!("组成部分编号“{}”只能使用字母、数字、- 和 _", s.id));
            }
        }
        let mut keys = BTreeSet::new();
        for f in &self.price_form {
            if !keys.insert(f.key.as_str()) || !is_plain_id(&f.key) || f.key.starts_with("bidder") {
                return bad(format!("投标函字段“{}”非法或重复", f.key));
            }
        }
        let mut node_ids = BTreeSet::new();
        for n in &self.signing_nodes {
            if !node_ids.insert(n.id.as_str()) || !is_plain_id(&n.id) {
                return bad(format!("签章节点编号“{}”非法或重复", n.id));
            }
            let Some(section) = self.section(&n.section) else {
                return bad(format!(
                    "签章节点“{}”引用了不存在的组成部分“{}”",
                    n.id, n.section
                ));
            };
            if n.seal_kinds.is_empty() {
                return bad(format!("签章节点“{}”未指定印章类型", n.id));
            }
            match &n.anchor {
                PageAnchor::FormField { form, field } => {
                    if !section.generated.contains(form) {
                        return bad(format!(
                            "签章节点“{}”指向“{}”，但组成部分“{}”不生成该表单",
                            n.id,
                            form.zh(),
                            section.title
                        ));
                    }
                    if !form.fields().contains(&field.as_str()) {
                        return bad(format!("签章节点“{}”的表单位置“{field}”不存在", n.id));
                    }
                }
                PageAnchor::SectionPage {
                    right_mm,
                    bottom_mm,
                    width_mm,
                    height_mm,
                    ..
                } => {
                    let all = [*right_mm, *bottom_mm, *width_mm, *height_mm];
                    if all
                        .iter()
                        .any(|v| !v.is_finite() || *v < 0.0 || *v > 2000.0)
                        || *width_mm < 5.0
                        || *height_mm < 5.0
                    {
                        return bad(format!("签章节点“{}”的位置尺寸不合理", n.id));
                    }
                }
                PageAnchor::CrossPage => {}
            }
        }
        Ok(())
    }
}

/// Ids are ASCII letters, digits, `-` and `_` (they become file and field names).
pub(crate) fn is_plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
