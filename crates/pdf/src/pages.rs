//! Finding pages in the page tree without loading all of it, with inherited attributes.
//!
//! Guarantees: only the nodes on the way to the wanted pages are loaded (subtrees are skipped
//! by `/Count`); loops in the tree and absurd depths are errors, never hangs. `/MediaBox`,
//! `/CropBox` and `/Rotate` are inherited from ancestors as ISO 32000-1 §7.7.3.4 says.
//! Does not: repair trees whose `/Count` lies (it falls back to counting kids it sees).

use crate::error::PdfError;
use crate::object::{Dict, ObjRef, Object};
use crate::reader::PdfReader;
use std::collections::HashSet;

const MAX_TREE_DEPTH: usize = 64;

/// A rectangle `[x0 y0 x1 y1]` normalised so that x0 < x1 and y0 < y1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxRect {
    /// Left.
    pub x0: f64,
    /// Bottom.
    pub y0: f64,
    /// Right.
    pub x1: f64,
    /// Top.
    pub y1: f64,
}

impl BoxRect {
    fn from_object(o: &Object) -> Option<Self> {
        let Object::Array(a) = o else { return None };
        let v: Vec<f64> = a.iter().filter_map(Object::as_f64).collect();
        let [a, b, c, d] = v.as_slice() else {
            return None;
        };
        let r = Self {
            x0: a.min(*c),
            y0: b.min(*d),
            x1: a.max(*c),
            y1: b.max(*d),
        };
        (r.x1 > r.x0 && r.y1 > r.y0 && [r.x0, r.x1, r.y0, r.y1].iter().all(|v| v.is_finite()))
            .then_some(r)
    }

    /// Width.
    pub fn width(&self) -> f64 {
        self.x1 - self.x0
    }

    /// Height.
    pub fn height(&self) -> f64 {
        self.y1 - self.y0
    }

    fn intersect(&self, o: &BoxRect) -> Option<BoxRect> {
        let r = BoxRect {
            x0: self.x0.max(o.x0),
            y0: self.y0.max(o.y0),
            x1: self.x1.min(o.x1),
            y1: self.y1.min(o.y1),
        };
        (r.x1 > r.x0 && r.y1 > r.y0).then_some(r)
    }
}

/// One page with its effective geometry.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// 0-based page index.
    pub index: usize,
    /// The page object.
    pub id: ObjRef,
    /// The page dictionary as stored.
    pub dict: Dict,
    /// The visible region: CropBox ∩ MediaBox (MediaBox when no CropBox).
    pub visible: BoxRect,
    /// `/Rotate` normalised to 0, 90, 180 or 270.
    pub rotate: u16,
}

#[derive(Default, Clone)]
struct Inherited {
    media: Option<Object>,
    crop: Option<Object>,
    rotate: Option<Object>,
}

/// The number of pages (root `/Count`).
pub fn page_count(reader: &mut PdfReader) -> Result<usize, PdfError> {
    let root = pages_root(reader)?;
    let d = reader.dict(root)?;
    Ok(d.int(b"Count").unwrap_or(0).clamp(0, 10_000_000) as usize)
}

fn pages_root(reader: &mut PdfReader) -> Result<ObjRef, PdfError> {
    let root = reader
        .trailer()
        .reference(b"Root")
        .ok_or_else(|| PdfError::corrupt("缺少 /Root"))?;
    let catalog = reader.dict(root)?;
    catalog
        .reference(b"Pages")
        .ok_or_else(|| PdfError::corrupt("目录缺少 /Pages"))
}

/// Loads the pages with the given 0-based indices (sorted, deduplicated), in that order.
pub fn find_pages(reader: &mut PdfReader, wanted: &[usize]) -> Result<Vec<PageInfo>, PdfError> {
    let mut wanted: Vec<usize> = wanted.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let count = page_count(reader)?;
    if let Some(&last) = wanted.last() {
        if last >= count {
            return Err(PdfError::PageOutOfRange {
                page: last + 1,
                count,
            });
        }
    }
    let root = pages_root(reader)?;
    let mut out = Vec::with_capacity(wanted.len());
    let mut seen = HashSet::new();
    walk(
        reader,
        root,
        0,
        &wanted,
        Inherited::default(),
        0,
        &mut seen,
        &mut out,
    )?;
    if out.len() != wanted.len() {
        return Err(PdfError::corrupt("页面树与 /Count 不一致"));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    reader: &mut PdfReader,
    node: ObjRef,
    first_index: usize,
    wanted: &[usize],
    mut inh: Inherited,
    depth: usize,
    seen: &mut HashSet<u32>,
    out: &mut Vec<PageInfo>,
) -> Result<usize, PdfError> {
    if depth > MAX_TREE_DEPTH || !seen.insert(node.num) {
        return Err(PdfError::ReferenceLoop);
    }
    let dict = reader.dict(node)?;
    for (key, slot) in [
        (&b"MediaBox"[..], &mut inh.media),
        (b"CropBox", &mut inh.crop),
        (b"Rotate", &mut inh.rotate),
    ] {
        if let Some(v) = dict.get(key) {
            *slot = Some(reader.resolve(v)?);
        }
    }
    let kids = match dict.get(b"Kids") {
        Some(k) => Some(reader.resolve(k)?),
        None => None,
    };
    let is_leaf = dict.name(b"Type") == Some(b"Page") || kids.is_none();
    if is_leaf {
        if wanted.binary_search(&first_index).is_ok() {
            out.push(page_info(first_index, node, dict, &inh)?);
        }
        return Ok(1);
    }
    let Some(Object::Array(kids)) = kids else {
        return Err(PdfError::corrupt("页面树 /Kids 无效"));
    };
    let mut index = first_index;
    for kid in kids {
        let Object::Ref(kid) = kid else { continue };
        let remaining: Vec<usize> = wanted.iter().copied().filter(|w| *w >= index).collect();
        if remaining.is_empty() {
            break;
        }
        // Skip a subtree that holds none of the wanted pages, by its /Count.
        let kid_dict = reader.dict(kid)?;
        let kid_count =
            if kid_dict.name(b"Type") == Some(b"Page") || kid_dict.get(b"Kids").is_none() {
                Some(1)
            } else {
                kid_dict
                    .int(b"Count")
                    .filter(|c| *c >= 0)
                    .map(|c| c as usize)
            };
        if let Some(c) = kid_count {
            if !remaining.iter().any(|w| *w < index + c) {
                index += c;
                continue;
            }
        }
        index += walk(
            reader,
            kid,
            index,
            wanted,
            inh.clone(),
            depth + 1,
            seen,
            out,
        )?;
    }
    Ok(index - first_index)
}

fn page_info(index: usize, id: ObjRef, dict: Dict, inh: &Inherited) -> Result<PageInfo, PdfError> {
    // A page without MediaBox is broken; use A4 as viewers do.
    let a4 = BoxRect {
        x0: 0.0,
        y0: 0.0,
        x1: 595.0,
        y1: 842.0,
    };
    let media = inh
        .media
        .as_ref()
        .and_then(BoxRect::from_object)
        .unwrap_or(a4);
    let visible = inh
        .crop
        .as_ref()
        .and_then(BoxRect::from_object)
        .and_then(|c| c.intersect(&media))
        .unwrap_or(media);
    let rotate = inh.rotate.as_ref().and_then(Object::as_f64).unwrap_or(0.0) as i64;
    let rotate = (rotate.rem_euclid(360) / 90 * 90) as u16;
    Ok(PageInfo {
        index,
        id,
        dict,
        visible,
        rotate,
    })
}
