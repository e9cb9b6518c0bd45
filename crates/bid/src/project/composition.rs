//! The record of a composition as the project keeps it in `project.json`: the composed PDF,
//! the pages of each section and where every signing node landed ([`NodePlacement`], what the
//! sealing step places seals on). Written by the composer (`crate::compose`), read by the
//! project, the sealing flow and the desktop.
//!
//! Here rather than in `compose` so that the project does not depend on the composer (the
//! composer depends on the project). Does not: lay anything out.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::tender::SealKind;

/// A rectangle in PDF user space: lower-left and upper-right corners, points.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PdfRect {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl PdfRect {
    /// From lower-left corner and size.
    pub fn from_xywh(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self {
            x1: x,
            y1: y,
            x2: x + w,
            y2: y + h,
        }
    }
}

/// Where a signing node landed on one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRect {
    /// 0-based page index in the composed PDF.
    pub page_index: u32,
    pub rect: PdfRect,
    /// The one seal kind this rectangle is for, when the node asks for several kinds on one
    /// page (each gets its own place, side by side); `None`: every kind of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SealKind>,
}

/// Where a signing node landed: one rectangle, or one per page for a cross-page seal (骑缝章:
/// each rectangle is that page's slice at the right edge; slices are equal widths, in page
/// order, so that together they make one seal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePlacement {
    pub node_id: String,
    pub section: String,
    pub label: String,
    pub seal_kinds: Vec<SealKind>,
    pub mandatory: bool,
    pub cross_page: bool,
    pub rects: Vec<NodeRect>,
}

/// Pages of one section in the composed PDF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionPages {
    pub section: String,
    pub title: String,
    /// 0-based, inclusive.
    pub first_page: u32,
    pub last_page: u32,
}

/// The record of a composition, saved in `project.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Composition {
    /// Path inside the project (`out/bid.pdf`).
    pub output: String,
    pub sha256: String,
    pub size: u64,
    pub pages: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub composed_at: OffsetDateTime,
    pub sections: Vec<SectionPages>,
    pub placements: Vec<NodePlacement>,
}
