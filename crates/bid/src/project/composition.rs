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
    /// Where the seal(s) go: the composer's place from the tender's anchor, or where the
    /// bidder put them in the window (`Composition::place`, in `crate::compose::placement`).
    /// Everything that seals reads this.
    pub rects: Vec<NodeRect>,
    /// The composer's rectangles, kept once the bidder moved the seal (the area the window
    /// snaps to); empty while `rects` are still the composer's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anchor_rects: Vec<NodeRect>,
    /// The bidder placed (or confirmed) this node's seals in the window.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub placed: bool,
}

impl NodePlacement {
    /// The composer's rectangles (the node's area), whether or not the bidder moved the seal.
    pub fn anchor(&self) -> &[NodeRect] {
        if self.anchor_rects.is_empty() {
            &self.rects
        } else {
            &self.anchor_rects
        }
    }
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
    /// Media box `[x1, y1, x2, y2]` of every page, points (what placements are checked against
    /// and the window lays pages out with); empty in compositions made before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_boxes: Vec<[f32; 4]>,
}

/// Where the bidder puts a node's seal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodePosition {
    /// One seal on one page (0-based `page_index`), at `rect`.
    Page { page_index: u32, rect: PdfRect },
    /// 骑缝章 over pages `first_page..=last_page` (0-based), centred at height `y_mid`.
    CrossPage {
        first_page: u32,
        last_page: u32,
        y_mid: f32,
    },
}

/// Why a placement was refused; each says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    #[error("投标文件尚未合成，请先合成再放置印章")]
    NotComposed,
    #[error("合成记录缺少页面尺寸（旧版本合成），请重新合成后再放置印章")]
    NoPageGeometry,
    #[error("没有签章节点“{node}”，请重新打开项目")]
    UnknownNode { node: String },
    #[error("签章节点“{node}”不需要{kind}，请拖放该节点要求的印章")]
    KindNotAsked { node: String, kind: String },
    #[error("签章节点“{node}”需要多种印章，请指明放置的是哪一种")]
    KindNeeded { node: String },
    #[error("签章节点“{node}”是骑缝章，请选择页码范围放置")]
    NodeIsCrossPage { node: String },
    #[error("签章节点“{node}”不是骑缝章，请把印章放在页面上")]
    NodeNotCrossPage { node: String },
    #[error("第 {page} 页不属于签章节点“{node}”所在的“{section}”（第 {first}–{last} 页），请放在这些页面上")]
    OutsideSection {
        node: String,
        section: String,
        page: u32,
        first: u32,
        last: u32,
    },
    #[error("印章超出第 {page} 页的页面范围，请放在页面内")]
    OutsidePage { page: u32 },
    #[error("印章大小须在 10–80 毫米之间，请调整大小")]
    BadSize,
    #[error("印章与第 {page} 页上“{other}”的印章重叠，请换一个位置")]
    Overlaps { page: u32, other: String },
    #[error("骑缝章的页码范围 {first}–{last} 无效：须至少两页、不超过 {max} 页且在文件页数（{pages}）之内")]
    BadRange {
        first: u32,
        last: u32,
        pages: u32,
        max: u32,
    },
}

impl PlacementError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PlacementError::NotComposed => "PLACE_NOT_COMPOSED",
            PlacementError::NoPageGeometry => "PLACE_NO_GEOMETRY",
            PlacementError::UnknownNode { .. } => "PLACE_UNKNOWN_NODE",
            PlacementError::KindNotAsked { .. } => "PLACE_KIND_NOT_ASKED",
            PlacementError::KindNeeded { .. } => "PLACE_KIND_NEEDED",
            PlacementError::NodeIsCrossPage { .. } => "PLACE_NODE_IS_CROSS_PAGE",
            PlacementError::NodeNotCrossPage { .. } => "PLACE_NODE_NOT_CROSS_PAGE",
            PlacementError::OutsideSection { .. } => "PLACE_OUTSIDE_SECTION",
            PlacementError::OutsidePage { .. } => "PLACE_OUTSIDE_PAGE",
            PlacementError::BadSize => "PLACE_BAD_SIZE",
            PlacementError::Overlaps { .. } => "PLACE_OVERLAPS",
            PlacementError::BadRange { .. } => "PLACE_BAD_RANGE",
        }
    }
}
