//! Seal placement by the bidder: moving or resizing a signing node's seal on its page, or a
//! 骑缝章 over a page range, on the recorded composition (the desktop's drag-and-drop and the
//! CLI store it the same way: [`Composition::place`] through `BidProject::place_seal`).
//!
//! Guarantees: a placement is stored only when it fits the composition — the node exists; the
//! kind is one the node asks for (named when the node asks for several); a single seal lies on
//! a page of the node's own section, inside that page's media box, between [`MIN_SEAL`] and
//! [`MAX_SEAL`] on each side, overlapping no other seal on the page; a 骑缝章 covers at least
//! two consecutive pages of the document with the seal inside every page vertically. The
//! composer's rectangles stay available as the node's area ([`NodePlacement::anchor`]).
//! Coordinates are PDF points from the page's lower-left corner (composed pages are unrotated).
//! Does not: seal (the sealing flow reads `rects`), or keep placements across a composition
//! that changed the PDF (a new composition starts from the tender's anchors again).

use super::forms::SEAL_BOX;
use super::page::MM;
use super::{Composition, NodePlacement, NodeRect, PdfRect};
use crate::tender::SealKind;

// The placement and its refusals are data of the project (`project.json`); the logic is here.
pub use crate::project::composition::{NodePosition, PlacementError};

/// Smallest side of a seal the bidder may make, points (10 mm).
pub const MIN_SEAL: f32 = 10.0 * MM;
/// Largest side of a seal, points (80 mm: a handwritten signature can be wide).
pub const MAX_SEAL: f32 = 80.0 * MM;
/// Narrowest slice of a 骑缝章 on one page, points.
pub const MIN_SLICE: f32 = 2.0 * MM;
/// Most pages one 骑缝章 may cover.
pub const MAX_CROSS_PAGES: u32 = 2000;

/// The slices of a 骑缝章 over `first..=last` at the right edge of each page: equal widths
/// (the seal's width shared out, at least [`MIN_SLICE`]), centred at `y_mid` or at each
/// page's middle. The composer and [`Composition::place`] both use it.
pub(crate) fn cross_page_rects(
    boxes: &[[f32; 4]],
    first: u32,
    last: u32,
    y_mid: Option<f32>,
) -> Vec<NodeRect> {
    let n = (last.saturating_sub(first) + 1) as f32;
    let seal = SEAL_BOX;
    let slice = (seal / n).max(MIN_SLICE);
    (first..=last)
        .filter_map(|i| {
            let b = boxes.get(i as usize)?;
            let mid = y_mid.unwrap_or((b[1] + b[3]) / 2.0);
            Some(NodeRect {
                page_index: i,
                rect: PdfRect {
                    x1: b[2] - slice,
                    y1: mid - seal / 2.0,
                    x2: b[2],
                    y2: mid + seal / 2.0,
                },
                kind: None,
            })
        })
        .collect()
}

fn intersects(a: &PdfRect, b: &PdfRect) -> bool {
    a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2
}

fn inside(r: &PdfRect, b: &[f32; 4]) -> bool {
    r.x1 >= b[0] && r.y1 >= b[1] && r.x2 <= b[2] && r.y2 <= b[3]
}

impl Composition {
    /// Stores where the bidder puts `node`'s seal of `kind` (`None`: the node's only kind, or a
    /// 骑缝章). Returns whether the seal rectangles changed (a sealed PDF made on the old ones
    /// no longer matches); confirming the composer's place only marks the node placed.
    pub fn place(
        &mut self,
        node: &str,
        kind: Option<SealKind>,
        position: &NodePosition,
    ) -> Result<bool, PlacementError> {
        if self.page_boxes.len() != self.pages as usize {
            return Err(PlacementError::NoPageGeometry);
        }
        let index = self
            .placements
            .iter()
            .position(|p| p.node_id == node)
            .ok_or_else(|| PlacementError::UnknownNode { node: node.into() })?;
        let p = &self.placements[index];
        let new_rects = match position {
            NodePosition::Page { page_index, rect } => {
                let kind = self.single_kind(p, kind)?;
                let rect = self.check_single(p, *page_index, rect)?;
                let mine = NodeRect {
                    page_index: *page_index,
                    rect,
                    kind,
                };
                // The node's other kinds keep their places.
                let mut rects: Vec<NodeRect> =
                    p.rects.iter().filter(|r| r.kind != kind).cloned().collect();
                for other in self.placements.iter().enumerate().flat_map(|(i, o)| {
                    let own = i == index;
                    o.rects
                        .iter()
                        .filter(move |r| !own || r.kind != kind)
                        .map(move |r| (o, r))
                }) {
                    let (o, r) = other;
                    if r.page_index == *page_index && intersects(&r.rect, &rect) {
                        return Err(PlacementError::Overlaps {
                            page: page_index + 1,
                            other: o.label.clone(),
                        });
                    }
                }
                rects.push(mine);
                let order = |r: &NodeRect| {
                    r.kind
                        .and_then(|k| p.seal_kinds.iter().position(|s| *s == k))
                        .unwrap_or(0)
                };
                rects.sort_by_key(order);
                rects
            }
            NodePosition::CrossPage {
                first_page,
                last_page,
                y_mid,
            } => {
                if !p.cross_page {
                    return Err(PlacementError::NodeNotCrossPage {
                        node: p.label.clone(),
                    });
                }
                if let Some(k) = kind.filter(|k| !p.seal_kinds.contains(k)) {
                    return Err(PlacementError::KindNotAsked {
                        node: p.label.clone(),
                        kind: k.zh().into(),
                    });
                }
                let (first, last) = (*first_page, *last_page);
                if first >= last || last >= self.pages || last - first + 1 > MAX_CROSS_PAGES {
                    return Err(PlacementError::BadRange {
                        first: first.saturating_add(1),
                        last: last.saturating_add(1),
                        pages: self.pages,
                        max: MAX_CROSS_PAGES,
                    });
                }
                let rects = cross_page_rects(&self.page_boxes, first, last, Some(*y_mid));
                if let Some(r) = rects.iter().find(|r| {
                    !y_mid.is_finite() || !inside(&r.rect, &self.page_boxes[r.page_index as usize])
                }) {
                    return Err(PlacementError::OutsidePage {
                        page: r.page_index + 1,
                    });
                }
                rects
            }
        };
        let p = &mut self.placements[index];
        let changed = p.rects != new_rects;
        if changed && p.anchor_rects.is_empty() {
            p.anchor_rects = p.rects.clone();
        }
        p.rects = new_rects;
        p.placed = true;
        Ok(changed)
    }

    /// The kind a single seal is for: `None` only when the node asks for one kind.
    fn single_kind(
        &self,
        p: &NodePlacement,
        kind: Option<SealKind>,
    ) -> Result<Option<SealKind>, PlacementError> {
        if p.cross_page {
            return Err(PlacementError::NodeIsCrossPage {
                node: p.label.clone(),
            });
        }
        match kind {
            Some(k) if !p.seal_kinds.contains(&k) => Err(PlacementError::KindNotAsked {
                node: p.label.clone(),
                kind: k.zh().into(),
            }),
            // A node of one kind keeps its one rectangle for every kind (`kind: None`).
            Some(_) if p.seal_kinds.len() == 1 => Ok(None),
            Some(k) => Ok(Some(k)),
            None if p.seal_kinds.len() > 1 => Err(PlacementError::KindNeeded {
                node: p.label.clone(),
            }),
            None => Ok(None),
        }
    }

    /// The rectangle, normalised, if it fits a page of the node's section.
    fn check_single(
        &self,
        p: &NodePlacement,
        page_index: u32,
        rect: &PdfRect,
    ) -> Result<PdfRect, PlacementError> {
        let finite = [rect.x1, rect.y1, rect.x2, rect.y2]
            .iter()
            .all(|v| v.is_finite());
        if !finite {
            return Err(PlacementError::BadSize);
        }
        let r = PdfRect {
            x1: rect.x1.min(rect.x2),
            y1: rect.y1.min(rect.y2),
            x2: rect.x1.max(rect.x2),
            y2: rect.y1.max(rect.y2),
        };
        let (w, h) = (r.x2 - r.x1, r.y2 - r.y1);
        if !(MIN_SEAL..=MAX_SEAL).contains(&w) || !(MIN_SEAL..=MAX_SEAL).contains(&h) {
            return Err(PlacementError::BadSize);
        }
        if let Some(s) = self.sections.iter().find(|s| s.section == p.section) {
            if page_index < s.first_page || page_index > s.last_page {
                return Err(PlacementError::OutsideSection {
                    node: p.label.clone(),
                    section: s.title.clone(),
                    page: page_index.saturating_add(1),
                    first: s.first_page + 1,
                    last: s.last_page + 1,
                });
            }
        }
        let b = self
            .page_boxes
            .get(page_index as usize)
            .ok_or(PlacementError::OutsidePage {
                page: page_index.saturating_add(1),
            })?;
        if !inside(&r, b) {
            return Err(PlacementError::OutsidePage {
                page: page_index + 1,
            });
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::SectionPages;
    use time::OffsetDateTime;

    const A4: [f32; 4] = [0.0, 0.0, 595.28, 841.89];

    fn node(id: &str, section: &str, kinds: &[SealKind], rects: Vec<NodeRect>) -> NodePlacement {
        NodePlacement {
            node_id: id.into(),
            section: section.into(),
            label: format!("节点{id}"),
            seal_kinds: kinds.to_vec(),
            mandatory: true,
            cross_page: false,
            rects,
            anchor_rects: Vec::new(),
            placed: false,
        }
    }

    fn at(page: u32, x: f32, y: f32, kind: Option<SealKind>) -> NodeRect {
        NodeRect {
            page_index: page,
            rect: PdfRect::from_xywh(x, y, 120.0, 120.0),
            kind,
        }
    }

    /// Pages 0–1 front matter, 2–4 商务标 (`business`), 5–9 技术标 (`technical`).
    fn composition() -> Composition {
        let letter = node(
            "letter",
            "business",
            &[SealKind::Enterprise],
            vec![at(2, 400.0, 100.0, None)],
        );
        let two = node(
            "sign",
            "business",
            &[SealKind::Enterprise, SealKind::LegalPersonSignature],
            vec![
                at(3, 100.0, 100.0, Some(SealKind::Enterprise)),
                at(3, 300.0, 100.0, Some(SealKind::LegalPersonSignature)),
            ],
        );
        let mut cross = node("cross", "technical", &[SealKind::Enterprise], Vec::new());
        cross.cross_page = true;
        cross.rects = cross_page_rects(&[A4; 10], 5, 9, None);
        Composition {
            output: "out/bid.pdf".into(),
            sha256: "00".into(),
            size: 1,
            pages: 10,
            composed_at: OffsetDateTime::UNIX_EPOCH,
            sections: vec![
                SectionPages {
                    section: "business".into(),
                    title: "商务标".into(),
                    first_page: 2,
                    last_page: 4,
                },
                SectionPages {
                    section: "technical".into(),
                    title: "技术标".into(),
                    first_page: 5,
                    last_page: 9,
                },
            ],
            placements: vec![letter, two, cross],
            page_boxes: vec![A4; 10],
        }
    }

    fn page(page_index: u32, x: f32, y: f32, w: f32, h: f32) -> NodePosition {
        NodePosition::Page {
            page_index,
            rect: PdfRect::from_xywh(x, y, w, h),
        }
    }

    #[test]
    fn a_moved_seal_is_stored_and_the_composers_place_kept_as_the_area() {
        let mut c = composition();
        let original = c.placements[0].rects.clone();
        assert!(c
            .place("letter", None, &page(4, 50.0, 60.0, 100.0, 90.0))
            .unwrap());
        let p = &c.placements[0];
        assert_eq!(
            p.rects,
            vec![NodeRect {
                page_index: 4,
                rect: PdfRect::from_xywh(50.0, 60.0, 100.0, 90.0),
                kind: None
            }]
        );
        assert_eq!(p.anchor(), original.as_slice());
        assert!(p.placed);
        // Moving again keeps the first area, not the previous drop.
        assert!(c
            .place(
                "letter",
                Some(SealKind::Enterprise),
                &page(2, 60.0, 60.0, 100.0, 90.0)
            )
            .unwrap());
        assert_eq!(c.placements[0].anchor(), original.as_slice());
        // The same place again is no change.
        assert!(!c
            .place("letter", None, &page(2, 60.0, 60.0, 100.0, 90.0))
            .unwrap());
    }

    #[test]
    fn confirming_the_composers_place_marks_placed_without_a_change() {
        let mut c = composition();
        let r = c.placements[0].rects[0].rect;
        let changed = c
            .place(
                "letter",
                None,
                &NodePosition::Page {
                    page_index: 2,
                    rect: r,
                },
            )
            .unwrap();
        assert!(!changed);
        assert!(c.placements[0].placed);
        assert!(c.placements[0].anchor_rects.is_empty());
    }

    #[test]
    fn one_kind_of_a_two_kind_node_moves_the_other_stays() {
        let mut c = composition();
        c.place(
            "sign",
            Some(SealKind::LegalPersonSignature),
            &page(4, 300.0, 300.0, 150.0, 60.0),
        )
        .unwrap();
        let rects = &c.placements[1].rects;
        assert_eq!(rects.len(), 2);
        assert_eq!(rects[0], at(3, 100.0, 100.0, Some(SealKind::Enterprise)));
        assert_eq!(rects[1].page_index, 4);
        assert_eq!(rects[1].kind, Some(SealKind::LegalPersonSignature));
        // Which kind must be said.
        assert_eq!(
            c.place("sign", None, &page(4, 50.0, 500.0, 100.0, 100.0))
                .unwrap_err()
                .code(),
            "PLACE_KIND_NEEDED"
        );
    }

    #[test]
    fn refusals_each_with_their_code_and_nothing_changed() {
        let base = composition();
        let cases: Vec<(&str, Option<SealKind>, NodePosition, &str)> = vec![
            (
                "nobody",
                None,
                page(2, 0.0, 0.0, 100.0, 100.0),
                "PLACE_UNKNOWN_NODE",
            ),
            (
                "letter",
                Some(SealKind::Personal),
                page(2, 50.0, 50.0, 100.0, 100.0),
                "PLACE_KIND_NOT_ASKED",
            ),
            // Another section's page, the cover, a page past the end.
            (
                "letter",
                None,
                page(5, 50.0, 50.0, 100.0, 100.0),
                "PLACE_OUTSIDE_SECTION",
            ),
            (
                "letter",
                None,
                page(0, 50.0, 50.0, 100.0, 100.0),
                "PLACE_OUTSIDE_SECTION",
            ),
            (
                "letter",
                None,
                page(u32::MAX, 50.0, 50.0, 100.0, 100.0),
                "PLACE_OUTSIDE_SECTION",
            ),
            // Off the page by one point, too small, too big, not a number.
            (
                "letter",
                None,
                page(2, 496.0, 50.0, 100.0, 100.0),
                "PLACE_OUTSIDE_PAGE",
            ),
            (
                "letter",
                None,
                page(2, -1.0, 50.0, 100.0, 100.0),
                "PLACE_OUTSIDE_PAGE",
            ),
            (
                "letter",
                None,
                page(2, 50.0, 50.0, 20.0, 100.0),
                "PLACE_BAD_SIZE",
            ),
            (
                "letter",
                None,
                page(2, 50.0, 50.0, 300.0, 100.0),
                "PLACE_BAD_SIZE",
            ),
            (
                "letter",
                None,
                page(2, f32::NAN, 50.0, 100.0, 100.0),
                "PLACE_BAD_SIZE",
            ),
            (
                "letter",
                None,
                page(2, f32::INFINITY, 50.0, 100.0, 100.0),
                "PLACE_BAD_SIZE",
            ),
            // On top of the two-kind node's 公章 (page 4 = index 3), by one point.
            (
                "letter",
                None,
                page(3, 219.0, 219.0, 100.0, 100.0),
                "PLACE_OVERLAPS",
            ),
            // A two-kind node's seal on its own other seal.
            (
                "sign",
                Some(SealKind::LegalPersonSignature),
                page(3, 150.0, 150.0, 100.0, 100.0),
                "PLACE_OVERLAPS",
            ),
            // Range positions for the wrong node kinds, bad ranges.
            (
                "letter",
                None,
                NodePosition::CrossPage {
                    first_page: 2,
                    last_page: 4,
                    y_mid: 400.0,
                },
                "PLACE_NODE_NOT_CROSS_PAGE",
            ),
            (
                "cross",
                None,
                page(6, 50.0, 50.0, 100.0, 100.0),
                "PLACE_NODE_IS_CROSS_PAGE",
            ),
            (
                "cross",
                None,
                NodePosition::CrossPage {
                    first_page: 4,
                    last_page: 4,
                    y_mid: 400.0,
                },
                "PLACE_BAD_RANGE",
            ),
            (
                "cross",
                None,
                NodePosition::CrossPage {
                    first_page: 5,
                    last_page: 10,
                    y_mid: 400.0,
                },
                "PLACE_BAD_RANGE",
            ),
            (
                "cross",
                None,
                NodePosition::CrossPage {
                    first_page: 6,
                    last_page: 2,
                    y_mid: 400.0,
                },
                "PLACE_BAD_RANGE",
            ),
            (
                "cross",
                None,
                NodePosition::CrossPage {
                    first_page: 0,
                    last_page: u32::MAX,
                    y_mid: 400.0,
                },
                "PLACE_BAD_RANGE",
            ),
            (
                "cross",
                None,
                NodePosition::CrossPage {
                    first_page: 5,
                    last_page: 9,
                    y_mid: 20.0,
                },
                "PLACE_OUTSIDE_PAGE",
            ),
            (
                "cross",
                None,
                NodePosition::CrossPage {
                    first_page: 5,
                    last_page: 9,
                    y_mid: f32::NAN,
                },
                "PLACE_OUTSIDE_PAGE",
            ),
            (
                "cross",
                Some(SealKind::Personal),
                NodePosition::CrossPage {
                    first_page: 5,
                    last_page: 9,
                    y_mid: 400.0,
                },
                "PLACE_KIND_NOT_ASKED",
            ),
        ];
        for (node, kind, position, code) in cases {
            let mut c = base.clone();
            let err = c.place(node, kind, &position).unwrap_err();
            assert_eq!(err.code(), code, "{node} {position:?}: {err}");
            assert_eq!(c, base, "a refused placement changes nothing ({code})");
        }
    }

    #[test]
    fn a_cross_page_seal_over_a_new_range_is_sliced_at_the_right_edge() {
        let mut c = composition();
        assert!(c
            .place(
                "cross",
                None,
                &NodePosition::CrossPage {
                    first_page: 2,
                    last_page: 9,
                    y_mid: 300.0
                }
            )
            .unwrap());
        let rects = &c.placements[2].rects;
        assert_eq!(
            rects.iter().map(|r| r.page_index).collect::<Vec<_>>(),
            (2..=9).collect::<Vec<_>>()
        );
        let w = rects[0].rect.x2 - rects[0].rect.x1;
        assert!((w - (SEAL_BOX / 8.0).max(MIN_SLICE)).abs() < 0.01);
        for r in rects {
            assert_eq!(r.rect.x2, A4[2]);
            assert!((r.rect.y1 + r.rect.y2 - 600.0).abs() < 0.01);
        }
    }

    #[test]
    fn an_old_composition_without_page_sizes_asks_to_compose_again() {
        let mut c = composition();
        c.page_boxes.clear();
        assert_eq!(
            c.place("letter", None, &page(2, 50.0, 50.0, 100.0, 100.0))
                .unwrap_err()
                .code(),
            "PLACE_NO_GEOMETRY"
        );
    }
}
