//! Where a seal goes: rectangles in the page *as displayed* and their mapping to PDF user
//! space, with `/Rotate` and boxes that do not start at 0,0; and the appearance streams that
//! draw the seal image (whole, or one vertical slice of a cross-page seal 骑缝章).
//!
//! Coordinates: a [`PageRect`] is in points, origin at the bottom-left corner of the visible
//! page (CropBox ∩ MediaBox) *as a viewer shows it after applying `/Rotate`*, x to the right
//! and y up — the same frame a page viewer (pdf.js) gives after flipping y. For unrotated pages
//! with a MediaBox at 0,0 this is exactly PDF user space.
//!
//! Guarantees: the image appears upright and inside the rectangle on screen and in print,
//! whatever the page rotation (the appearance carries a counter-rotating `/Matrix`).
//! Does not: honour UserUnit or viewports (VP); rectangles must lie within the visible page.

use crate::error::PdfError;
use crate::object::{Dict, Object};
use crate::pages::{BoxRect, PageInfo};
use serde::{Deserialize, Serialize};

/// A rectangle on the displayed page, in points (see the module doc for the frame).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PageRect {
    /// Left edge.
    pub x: f64,
    /// Bottom edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl PageRect {
    /// Parses `X,Y,W,H`.
    pub fn parse(s: &str) -> Result<Self, PdfError> {
        let v: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| PdfError::BadPlacement {
                detail: format!("“{s}”应为 X,Y,宽,高（单位：点）"),
            })?;
        let [x, y, w, h] = v.as_slice() else {
            return Err(PdfError::BadPlacement {
                detail: format!("“{s}”应为 4 个数字 X,Y,宽,高"),
            });
        };
        Ok(Self {
            x: *x,
            y: *y,
            w: *w,
            h: *h,
        })
    }
}

/// Tolerance for rectangles that touch the page edge.
const EDGE_TOLERANCE: f64 = 0.5;

/// The displayed size (width, height) of a page.
pub fn displayed_size(page: &PageInfo) -> (f64, f64) {
    let (w, h) = (page.visible.width(), page.visible.height());
    if page.rotate % 180 == 90 {
        (h, w)
    } else {
        (w, h)
    }
}

/// Maps a displayed rectangle to the widget `/Rect` in user space and the appearance
/// `/Matrix` that keeps the image upright.
pub fn to_user_space(page: &PageInfo, r: &PageRect) -> Result<(BoxRect, [f64; 6]), PdfError> {
    let (dw, dh) = displayed_size(page);
    let finite = [r.x, r.y, r.w, r.h].iter().all(|v| v.is_finite());
    if !finite || r.w <= 0.0 || r.h <= 0.0 {
        return Err(PdfError::BadPlacement {
            detail: "宽和高必须为正数".into(),
        });
    }
    if r.x < -EDGE_TOLERANCE
        || r.y < -EDGE_TOLERANCE
        || r.x + r.w > dw + EDGE_TOLERANCE
        || r.y + r.h > dh + EDGE_TOLERANCE
    {
        return Err(PdfError::BadPlacement {
            detail: format!(
                "第 {} 页可见区域为 {:.1}×{:.1} 点，矩形 {:.1},{:.1},{:.1},{:.1} 超出页面",
                page.index + 1,
                dw,
                dh,
                r.x,
                r.y,
                r.w,
                r.h
            ),
        });
    }
    let v = page.visible;
    let (cw, ch) = (v.width(), v.height());
    let (x, y, w, h) = match page.rotate {
        90 => (v.x0 + cw - r.y - r.h, v.y0 + r.x, r.h, r.w),
        180 => (v.x0 + cw - r.x - r.w, v.y0 + ch - r.y - r.h, r.w, r.h),
        270 => (v.x0 + r.y, v.y0 + ch - r.x - r.w, r.h, r.w),
        _ => (v.x0 + r.x, v.y0 + r.y, r.w, r.h),
    };
    let matrix = match page.rotate {
        90 => [0.0, 1.0, -1.0, 0.0, 0.0, 0.0],
        180 => [-1.0, 0.0, 0.0, -1.0, 0.0, 0.0],
        270 => [0.0, -1.0, 1.0, 0.0, 0.0, 0.0],
        _ => [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    };
    Ok((
        BoxRect {
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + h,
        },
        matrix,
    ))
}

/// Which part of the image a widget shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ImagePart {
    /// The whole image.
    Whole,
    /// Vertical slice `index` of `count` (from the left), for a cross-page seal.
    Slice {
        /// 0-based slice index.
        index: usize,
        /// Number of slices.
        count: usize,
    },
}

/// The appearance Form XObject for a widget of displayed size `w`×`h` drawing `part` of the
/// image named `/Im0` (the image reference goes into `/Resources`).
pub fn appearance_stream(
    w: f64,
    h: f64,
    matrix: [f64; 6],
    part: ImagePart,
    image: Object,
) -> Object {
    let mut content = Vec::new();
    let num = |v: f64, out: &mut Vec<u8>| {
        crate::object::write_real(v, out);
        out.push(b' ');
    };
    content.extend_from_slice(b"q ");
    match part {
        ImagePart::Whole => {
            for v in [w, 0.0, 0.0, h, 0.0, 0.0] {
                num(v, &mut content);
            }
        }
        ImagePart::Slice { index, count } => {
            // Clip to this slice, then draw the full-width image shifted left.
            for v in [0.0, 0.0, w, h] {
                num(v, &mut content);
            }
            content.extend_from_slice(b"re W n ");
            let total = w * count as f64;
            for v in [total, 0.0, 0.0, h, -(index as f64) * w, 0.0] {
                num(v, &mut content);
            }
        }
    }
    content.extend_from_slice(b"cm /Im0 Do Q");
    let resources = Dict::new().with(b"XObject", Object::Dict(Dict::new().with(b"Im0", image)));
    let dict = Dict::new()
        .with(b"Type", Object::name("XObject"))
        .with(b"Subtype", Object::name("Form"))
        .with(
            b"BBox",
            Object::Array(vec![
                Object::Int(0),
                Object::Int(0),
                Object::real(w),
                Object::real(h),
            ]),
        )
        .with(
            b"Matrix",
            Object::Array(matrix.iter().map(|v| Object::real(*v)).collect()),
        )
        .with(b"Resources", Object::Dict(resources));
    Object::Stream(dict, content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjRef;

    fn page(rotate: u16, visible: BoxRect) -> PageInfo {
        PageInfo {
            index: 0,
            id: ObjRef::new(1),
            dict: Dict::new(),
            visible,
            rotate,
        }
    }

    #[test]
    fn unrotated_page_with_offset_box_shifts_the_rect() {
        let p = page(
            0,
            BoxRect {
                x0: 100.0,
                y0: 50.0,
                x1: 695.0,
                y1: 892.0,
            },
        );
        let (r, _) = to_user_space(
            &p,
            &PageRect {
                x: 10.0,
                y: 20.0,
                w: 30.0,
                h: 40.0,
            },
        )
        .unwrap();
        assert_eq!((r.x0, r.y0, r.x1, r.y1), (110.0, 70.0, 140.0, 110.0));
    }

    #[test]
    fn rotated_page_swaps_width_and_height() {
        let p = page(
            90,
            BoxRect {
                x0: 0.0,
                y0: 0.0,
                x1: 600.0,
                y1: 800.0,
            },
        );
        assert_eq!(displayed_size(&p), (800.0, 600.0));
        let (r, m) = to_user_space(
            &p,
            &PageRect {
                x: 10.0,
                y: 20.0,
                w: 100.0,
                h: 50.0,
            },
        )
        .unwrap();
        assert_eq!((r.width(), r.height()), (50.0, 100.0));
        assert_eq!((r.x0, r.y0), (530.0, 10.0));
        assert_eq!(m, [0.0, 1.0, -1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn rect_outside_the_page_is_refused() {
        let p = page(
            0,
            BoxRect {
                x0: 0.0,
                y0: 0.0,
                x1: 595.0,
                y1: 842.0,
            },
        );
        let err = to_user_space(
            &p,
            &PageRect {
                x: 500.0,
                y: 10.0,
                w: 200.0,
                h: 50.0,
            },
        )
        .unwrap_err();
        assert_eq!(err.code(), "E_PDF_PLACEMENT");
    }
}
