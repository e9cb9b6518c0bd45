//! Bid projects in the window: the recent-project list (the local index the CLI also writes)
//! and one project as the bidder sees it — tender, bidder, and the tender-derived tree of
//! sections with their signing nodes and each node's state.
//!
//! Guarantees: a node is `done` only when the current sealing record (same composition, the
//! sealed PDF unchanged since) lists it, `unsealed` when the current composition places it,
//! `unmapped` otherwise; a new project is only created from a package verified against the
//! platform certificate the user names. Does not: edit the project (see `pages` for composing and
//! placing seals) or seal (see `scan`).

use super::CommandError;
use bidseal_bid::compose::NodeRect;
use bidseal_bid::project::form::money_in_capitals;
use bidseal_bid::project::index::{ProjectIndex, RecentProject};
use bidseal_bid::project::{AttachmentKind, BidProject, BIDDER_KEYS};
use bidseal_bid::tender::{FieldKind, PriceFormField, SealKind};
use bidseal_bid::tender::{PlatformCertificate, TrustedPlatforms};
use bidseal_bid::time::OffsetDateTime;
use bidseal_workflow::project_flow::current_seal_record;
use serde::Serialize;
use std::path::Path;

/// How many recent projects the home screen lists.
pub const RECENT_LIMIT: u32 = 20;

/// State of one signing node.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// 未映射: not placed on a page of the current composition (compose first).
    Unmapped,
    /// 未签章: placed, not sealed by the current sealing record.
    Unsealed,
    /// 已完成: sealed, and the sealed PDF is the one recorded.
    Done,
}

/// A signing node of the tender.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub id: String,
    pub label: String,
    /// Seal kinds asked for, zh-CN.
    pub seal_kinds: Vec<String>,
    pub mandatory: bool,
    /// 1-based pages it sits on in the composed PDF (empty when unmapped).
    pub pages: Vec<u32>,
    pub state: NodeState,
    /// Seal kinds as the tender names them (`enterprise`, `legal_person`, …), same order as
    /// `seal_kinds`.
    pub kind_ids: Vec<SealKind>,
    /// 骑缝章 (placed over a page range).
    pub cross_page: bool,
    /// Where the seals go now (PDF points, 0-based pages); empty when unmapped.
    pub rects: Vec<NodeRect>,
    /// The composer's place from the tender's anchor (the area the window snaps to).
    pub anchor: Vec<NodeRect>,
    /// The bidder placed or confirmed the seals in the window.
    pub placed: bool,
}

/// An attachment of a section.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    /// The name it was attached under.
    pub name: String,
    /// `pdf`, `image` or `chapter`.
    pub kind: AttachmentKind,
    /// Pages (0 for a chapter until laid out).
    pub pages: u32,
}

/// A field of the bid form or of the bidder's facts, with its stored value.
#[derive(Debug, Clone, Serialize)]
pub struct FormFieldView {
    /// The tender's definition (key, label, kind, unit, required, max); bidder facts are
    /// `text` fields keyed `bidder.…`.
    pub field: PriceFormField,
    /// The stored (canonical) value, empty when not filled.
    pub value: String,
    /// 大写金额 of a stored money value.
    pub capitals: Option<String>,
}

/// A section of the bid, with its signing nodes.
#[derive(Debug, Clone, Serialize)]
pub struct SectionView {
    pub id: String,
    pub title: String,
    /// Kind, zh-CN (商务标, 技术标, …).
    pub kind: String,
    pub attachments: usize,
    /// The attachments, in binding order.
    pub attachment_files: Vec<AttachmentView>,
    /// Fewest attachments the tender asks for.
    pub min_attachments: u32,
    pub nodes: Vec<NodeView>,
    /// 0-based first and last page in the composed PDF (when composed).
    pub pages: Option<(u32, u32)>,
}

/// One bid project as the window shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectView {
    pub path: String,
    pub project_name: String,
    pub project_id: String,
    pub lot_name: String,
    pub tenderer: String,
    pub platform: String,
    pub bid_deadline: String,
    pub opening_time: String,
    pub bidder_name: String,
    pub bidder_credit_code: String,
    /// 法定代表人 as entered (the seal previews name them).
    pub legal_representative: String,
    pub composed_pages: Option<u32>,
    /// `out/sealed.pdf` exists (current or not: the signatures panel verifies it either way).
    pub has_sealed_pdf: bool,
    /// Media box of every composed page (`[x1, y1, x2, y2]`, points); empty when not composed
    /// or composed by a version that did not record them.
    pub page_boxes: Vec<[f32; 4]>,
    pub sections: Vec<SectionView>,
    /// The bidder's facts then the tender's bid form (投标函), with stored values.
    pub form: Vec<FormFieldView>,
    /// What is still to do, zh-CN (from the project).
    pub missing: Vec<String>,
}

pub(crate) fn project_err(e: bidseal_bid::project::ProjectError) -> CommandError {
    CommandError::coded(e.code(), e)
}

fn index_err(e: bidseal_bid::project::index::IndexError) -> CommandError {
    CommandError::coded("E_INDEX", e)
}

fn local_time(t: bidseal_bid::time::OffsetDateTime) -> String {
    bidseal_bid::time::format_description::parse_borrowed::<2>(
        "[year]-[month]-[day] [hour]:[minute]（UTC[offset_hour sign:mandatory]:[offset_minute]）",
    )
    .ok()
    .and_then(|f| t.format(&f).ok())
    .unwrap_or_else(|| t.to_string())
}

pub(crate) fn project_view(project: &BidProject) -> ProjectView {
    let m = project.manifest();
    let f = project.file();
    let record = current_seal_record(project);
    let sealed = |id: &str| {
        record
            .as_ref()
            .is_some_and(|r| r.seals.iter().any(|s| s.node_ids.iter().any(|n| n == id)))
    };
    let sections = m
        .sections
        .iter()
        .map(|s| SectionView {
            id: s.id.clone(),
            title: s.title.clone(),
            kind: s.kind.zh().into(),
            attachments: f.attachments.get(&s.id).map_or(0, Vec::len),
            attachment_files: f
                .attachments
                .get(&s.id)
                .into_iter()
                .flatten()
                .map(|a| AttachmentView {
                    name: a.original_name.clone(),
                    kind: a.kind,
                    pages: a.pages,
                })
                .collect(),
            min_attachments: s.min_attachments,
            nodes: m
                .signing_nodes
                .iter()
                .filter(|n| n.section == s.id)
                .map(|n| {
                    let placed = f.composition.as_ref().and_then(|c| {
                        c.placements
                            .iter()
                            .find(|p| p.node_id == n.id && !p.rects.is_empty())
                    });
                    let pages = placed
                        .map(|p| p.rects.iter().map(|r| r.page_index + 1).collect())
                        .unwrap_or_default();
                    let state = match placed {
                        None => NodeState::Unmapped,
                        Some(_) if sealed(&n.id) => NodeState::Done,
                        Some(_) => NodeState::Unsealed,
                    };
                    NodeView {
                        id: n.id.clone(),
                        label: n.label.clone(),
                        seal_kinds: n.seal_kinds.iter().map(|k| k.zh().to_string()).collect(),
                        mandatory: n.mandatory,
                        pages,
                        state,
                        kind_ids: n.seal_kinds.clone(),
                        cross_page: placed.is_some_and(|p| p.cross_page),
                        rects: placed.map(|p| p.rects.clone()).unwrap_or_default(),
                        anchor: placed.map(|p| p.anchor().to_vec()).unwrap_or_default(),
                        placed: placed.is_some_and(|p| p.placed),
                    }
                })
                .collect(),
            pages: f.composition.as_ref().and_then(|c| {
                c.sections
                    .iter()
                    .find(|p| p.section == s.id)
                    .map(|p| (p.first_page, p.last_page))
            }),
        })
        .collect();
    ProjectView {
        path: project.dir().display().to_string(),
        project_name: m.project.name.clone(),
        project_id: m.project.id.clone(),
        lot_name: m.project.lot.name.clone(),
        tenderer: m.tenderer.name.clone(),
        platform: m.platform.name.clone(),
        bid_deadline: local_time(m.bid_deadline),
        opening_time: local_time(m.opening_time),
        bidder_name: f.bidder.name.clone(),
        bidder_credit_code: f.bidder.credit_code.clone(),
        legal_representative: f.bidder.legal_representative.clone(),
        composed_pages: f.composition.as_ref().map(|c| c.pages),
        has_sealed_pdf: project
            .dir()
            .join(bidseal_bid::project::SEALED_PDF)
            .is_file(),
        page_boxes: f
            .composition
            .as_ref()
            .map(|c| c.page_boxes.clone())
            .unwrap_or_default(),
        sections,
        form: BIDDER_KEYS
            .iter()
            .zip([
                &f.bidder.name,
                &f.bidder.credit_code,
                &f.bidder.legal_representative,
                &f.bidder.address,
                &f.bidder.contact,
                &f.bidder.phone,
            ])
            .map(|((key, label), value)| FormFieldView {
                field: PriceFormField {
                    key: (*key).into(),
                    label: (*label).into(),
                    kind: FieldKind::Text,
                    unit: None,
                    required: matches!(
                        *key,
                        "bidder.name" | "bidder.credit_code" | "bidder.legal_representative"
                    ),
                    max: None,
                },
                value: value.clone(),
                capitals: None,
            })
            .chain(m.price_form.iter().map(|field| {
                let value = f.form.get(&field.key).cloned().unwrap_or_default();
                FormFieldView {
                    capitals: (field.kind == FieldKind::Money && !value.is_empty())
                        .then(|| money_in_capitals(&value))
                        .flatten(),
                    field: field.clone(),
                    value,
                }
            }))
            .collect(),
        missing: project.missing(),
    }
}

/// The most recently opened projects (the local index shared with the CLI).
#[tauri::command]
pub fn recent_projects() -> Result<Vec<RecentProject>, CommandError> {
    ProjectIndex::open_default()
        .and_then(|i| i.recent(RECENT_LIMIT))
        .map_err(index_err)
}

/// Creates a project folder `dir` (`….bidproj`, new or empty) from the tender package at
/// `tender`, which must be signed by the platform certificate (PEM) at `platform_cert`; the
/// package is verified before anything is written.
#[tauri::command]
pub fn new_project(
    dir: String,
    tender: String,
    platform_cert: String,
) -> Result<ProjectView, CommandError> {
    let pem = std::fs::read_to_string(&platform_cert).map_err(|e| {
        CommandError::coded("E_IO", format!("无法读取平台证书 {platform_cert}：{e}"))
    })?;
    let cert = PlatformCertificate::from_pem(&pem).map_err(|e| CommandError::coded(e.code(), e))?;
    let project = BidProject::create(
        Path::new(&dir),
        Path::new(&tender),
        &TrustedPlatforms::pinned(vec![cert]),
        OffsetDateTime::now_utc(),
    )
    .map_err(project_err)?;
    let _ = ProjectIndex::open_default().and_then(|i| i.touch(&project.recent_entry()));
    Ok(project_view(&project))
}

/// Opens the project folder at `path` and notes it in the recent list.
#[tauri::command]
pub fn open_project(path: String) -> Result<ProjectView, CommandError> {
    let project = BidProject::open(Path::new(&path)).map_err(project_err)?;
    // The index is a convenience: failing to update it never blocks the bid.
    let _ = ProjectIndex::open_default().and_then(|i| i.touch(&project.recent_entry()));
    Ok(project_view(&project))
}
