//! Sealing the composed bid PDF by scan (标书签章 + 会话签章, seed 4.3 / 2.12).
//!
//! One `sign` scan in session mode seals every placement: for each seal kind a lookup learns
//! the certificate and seal image ([`crate::phone_adapters::lookup_seal`]) and checks them
//! against the tender and bidder *before anything is embedded* (accepted CA, validity,
//! keyUsage, the bidder's company for company seals, the image bound to the certificate);
//! then each placement is one PAdES signature through `bidseal_pdf`'s prepare → digest →
//! finalize, with the phone as the signer (it receives and checks the DER signed attributes). "Seal all nodes of this kind" is one signature with one widget per
//! node, each at its own rectangle ([`WidgetLayout::PerPage`]); 骑缝章 is
//! [`WidgetLayout::CrossPage`].
//! [`placements_from_composition`] turns the composer's node record into placements, and
//! [`ensure_mandatory_sealed`] blocks generation while a mandatory node is unsealed.
//!
//! Guarantees: the input PDF is only read; the output appears (atomically) only when every
//! placement is sealed; the composed bytes are a prefix of the sealed file. Does not: choose
//! placements itself (the composer records them).

use crate::error::FlowError;
use crate::phone_adapters::{lookup_seal, PhoneSigner, SealIdentity, SealPolicy};
use crate::scan_session::{ScanPresenter, ScanSession, ScanTarget};
use bidseal_bid::compose::NodePlacement;
use bidseal_bid::tender::SealKind as NodeSealKind;
use bidseal_pdf::{PageRect, SealKind as PdfSealKind, SealRequest, WidgetLayout, WorkingCopy};
use bidseal_scan::{OperationKind, SealKind};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// One signature to place: one or more signing nodes sealed together.
#[derive(Debug, Clone)]
pub struct SealPlacement {
    /// Node ids covered by this signature.
    pub node_ids: Vec<String>,
    /// zh-CN label shown on the phone.
    pub label: String,
    /// Seal kind.
    pub kind: SealKind,
    /// Where the widgets go.
    pub layout: WidgetLayout,
}

/// What to seal.
#[derive(Debug, Clone)]
pub struct SealJob {
    /// The composed PDF (only read).
    pub input: PathBuf,
    /// The sealed PDF (written atomically at the end).
    pub output: PathBuf,
    /// Document name shown on the phone.
    pub document: String,
    /// Signatures, in order.
    pub placements: Vec<SealPlacement>,
    /// Whose certificates may seal (the tender's accepted CAs, the bidder).
    pub policy: SealPolicy,
}

/// One signature made.
#[derive(Debug, Clone)]
pub struct SealedPlacement {
    /// Nodes it covers.
    pub node_ids: Vec<String>,
    /// The PDF field name.
    pub field_name: String,
    /// Signer subject.
    pub signer: String,
}

/// The scan seal kind of a tender node seal kind.
pub fn scan_kind(kind: NodeSealKind) -> SealKind {
    match kind {
        NodeSealKind::Enterprise => SealKind::Enterprise,
        NodeSealKind::LegalPerson => SealKind::LegalPerson,
        NodeSealKind::LegalPersonSignature => SealKind::LegalPersonSignature,
        NodeSealKind::Personal => SealKind::Personal { index: 1 },
        NodeSealKind::Department => SealKind::Department,
    }
}

fn pdf_kind(kind: SealKind) -> PdfSealKind {
    match kind {
        SealKind::Enterprise => PdfSealKind::Enterprise,
        SealKind::LegalPerson => PdfSealKind::LegalPerson,
        SealKind::LegalPersonSignature => PdfSealKind::LegalPersonSignature,
        SealKind::Personal { .. } => PdfSealKind::Personal,
        SealKind::Department => PdfSealKind::Other("部门章".into()),
    }
}

/// Turns the composer's record into signatures: per required seal kind, all single-rectangle
/// nodes of that kind become one signature with one widget per node (a second signature of the
/// kind is started only when a page would carry two widgets of the same one); each cross-page
/// node is one 骑缝章. Page rectangles are in PDF points from the page's lower-left corner (the
/// composer's pages are unrotated).
pub fn placements_from_composition(nodes: &[NodePlacement]) -> Vec<SealPlacement> {
    let mut out: Vec<SealPlacement> = Vec::new();
    // Per seal kind, the signatures still open for more widgets.
    let mut open: HashMap<String, Vec<usize>> = HashMap::new();
    for node in nodes {
        for kind in &node.seal_kinds {
            let kind = scan_kind(*kind);
            if node.cross_page && node.rects.len() >= 2 {
                let pages: Vec<usize> = node
                    .rects
                    .iter()
                    .map(|r| r.page_index as usize + 1)
                    .collect();
                let width: f64 = node
                    .rects
                    .iter()
                    .map(|r| f64::from(r.rect.x2 - r.rect.x1))
                    .sum();
                let first = &node.rects[0].rect;
                out.push(SealPlacement {
                    node_ids: vec![node.node_id.clone()],
                    label: format!("{}（骑缝章）", node.label),
                    kind,
                    layout: WidgetLayout::CrossPage {
                        pages,
                        y: f64::from(first.y1),
                        width,
                        height: f64::from(first.y2 - first.y1),
                    },
                });
                continue;
            }
            for r in node
                .rects
                .iter()
                .filter(|r| r.kind.is_none_or(|k| scan_kind(k) == kind))
            {
                let rect = PageRect {
                    x: f64::from(r.rect.x1),
                    y: f64::from(r.rect.y1),
                    w: f64::from(r.rect.x2 - r.rect.x1),
                    h: f64::from(r.rect.y2 - r.rect.y1),
                };
                let page = r.page_index as usize + 1;
                let candidates = open.entry(kind.name_zh()).or_default();
                let free = candidates.iter().copied().find(|&i| match &out[i].layout {
                    WidgetLayout::PerPage { widgets } => !widgets.iter().any(|(p, _)| *p == page),
                    _ => false,
                });
                match free {
                    Some(i) => {
                        if let WidgetLayout::PerPage { widgets } = &mut out[i].layout {
                            widgets.push((page, rect));
                        }
                        if !out[i].node_ids.contains(&node.node_id) {
                            out[i].node_ids.push(node.node_id.clone());
                        }
                        out[i].label = format!("{}等 {} 处", kind.name_zh(), out[i].node_ids.len());
                    }
                    None => {
                        candidates.push(out.len());
                        out.push(SealPlacement {
                            node_ids: vec![node.node_id.clone()],
                            label: node.label.clone(),
                            kind,
                            layout: WidgetLayout::PerPage {
                                widgets: vec![(page, rect)],
                            },
                        });
                    }
                }
            }
        }
    }
    out
}

/// The mandatory nodes not covered by `sealed`, one zh-CN line each; `Err(MissingSeals)` when
/// any — generation must not go on.
pub fn ensure_mandatory_sealed(
    nodes: &[NodePlacement],
    sealed: &[SealedPlacement],
) -> Result<(), FlowError> {
    let missing: Vec<String> = nodes
        .iter()
        .filter(|n| n.mandatory)
        .filter(|n| !sealed.iter().any(|s| s.node_ids.contains(&n.node_id)))
        .map(|n| {
            let kinds: Vec<&str> = n.seal_kinds.iter().map(|k| k.zh()).collect();
            format!("{}（{}，需{}）", n.label, n.node_id, kinds.join("、"))
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(FlowError::MissingSeals { missing })
    }
}

/// Seals every placement of `job` with one scan in session mode.
pub async fn seal_by_scan(
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    job: &SealJob,
) -> Result<Vec<SealedPlacement>, FlowError> {
    let mut copy = WorkingCopy::create(&job.input, &job.output)?;
    let session = Arc::new(ScanSession::start(target, OperationKind::Sign, true, presenter).await?);
    let result = seal_all(&session, target, presenter, job, &mut copy).await;
    session.end().await;
    let sealed = result?;
    copy.commit(&job.output)?;
    presenter.status(&format!(
        "已完成 {} 个签章：{}",
        sealed.len(),
        job.output.display()
    ));
    Ok(sealed)
}

async fn seal_all(
    session: &Arc<ScanSession>,
    target: &ScanTarget,
    presenter: &mut dyn ScanPresenter,
    job: &SealJob,
    copy: &mut WorkingCopy,
) -> Result<Vec<SealedPlacement>, FlowError> {
    let mut identities: HashMap<String, SealIdentity> = HashMap::new();
    let mut sealed = Vec::new();
    for placement in &job.placements {
        let key = placement.kind.name_zh();
        if !identities.contains_key(&key) {
            let identity = lookup_seal(session, target, placement.kind, &job.policy).await?;
            identities.insert(key.clone(), identity);
        }
        let identity = identities.get(&key).ok_or_else(|| FlowError::System {
            detail: "印章信息缺失".into(),
        })?;
        let pages: Vec<u32> = match &placement.layout {
            WidgetLayout::SameRect { pages, .. } | WidgetLayout::CrossPage { pages, .. } => {
                pages.iter().map(|p| *p as u32).collect()
            }
            WidgetLayout::PerPage { widgets } => widgets.iter().map(|(p, _)| *p as u32).collect(),
        };
        let signer = PhoneSigner::new(
            session.clone(),
            target.clone(),
            identity.chain.clone(),
            placement.kind,
            job.document.clone(),
            pages,
        );
        let leaf = &identity.chain[0];
        let request = SealRequest {
            kind: pdf_kind(placement.kind),
            image_png: identity.image_png.clone(),
            layout: placement.layout.clone(),
            signer_name: leaf.common_name().unwrap_or_default(),
            time: SystemTime::now(),
            contents_capacity: 0,
        };
        let pending = copy.seal(request, &signer).await?;
        presenter.status(&format!("已盖{}：{}", key, placement.label));
        sealed.push(SealedPlacement {
            node_ids: placement.node_ids.clone(),
            field_name: pending.field_name,
            signer: leaf.subject_string(),
        });
        presenter.progress(sealed.len(), job.placements.len());
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_bid::compose::{NodeRect, PdfRect};

    fn node(id: &str, kind: NodeSealKind, rects: &[(u32, f32, f32)], cross: bool) -> NodePlacement {
        NodePlacement {
            node_id: id.into(),
            section: "business".into(),
            label: id.into(),
            seal_kinds: vec![kind],
            mandatory: true,
            cross_page: cross,
            rects: rects
                .iter()
                .map(|&(page_index, x, y)| NodeRect {
                    page_index,
                    rect: PdfRect::from_xywh(x, y, 100.0, 100.0),
                    kind: None,
                })
                .collect(),
            anchor_rects: Vec::new(),
            placed: false,
        }
    }

    #[test]
    fn nodes_of_one_kind_at_different_places_are_one_signature() {
        let nodes = [
            node(
                "letter",
                NodeSealKind::Enterprise,
                &[(6, 380.0, 120.0)],
                false,
            ),
            node(
                "table",
                NodeSealKind::Enterprise,
                &[(7, 60.0, 500.0)],
                false,
            ),
            node(
                "legal",
                NodeSealKind::LegalPerson,
                &[(6, 200.0, 120.0)],
                false,
            ),
            // A second 公章 on page 7 cannot share the signature that already has a widget there.
            node(
                "again",
                NodeSealKind::Enterprise,
                &[(7, 300.0, 300.0)],
                false,
            ),
            node(
                "riding",
                NodeSealKind::Enterprise,
                &[(0, 545.0, 400.0), (1, 545.0, 400.0)],
                true,
            ),
        ];
        let placements = placements_from_composition(&nodes);
        assert_eq!(placements.len(), 4, "{placements:#?}");
        let first = &placements[0];
        assert_eq!(first.node_ids, ["letter", "table"]);
        let WidgetLayout::PerPage { widgets } = &first.layout else {
            panic!("not one widget per node: {first:?}");
        };
        let pages: Vec<usize> = widgets.iter().map(|(p, _)| *p).collect();
        assert_eq!(pages, [7, 8]);
        assert_eq!((widgets[0].1.x, widgets[1].1.x), (380.0, 60.0));
        assert_eq!(placements[1].node_ids, ["legal"]);
        assert_eq!(placements[2].node_ids, ["again"]);
        assert!(matches!(
            placements[3].layout,
            WidgetLayout::CrossPage { .. }
        ));
    }
}
