//! Text chapters: a bid section written as plain UTF-8 text (技术标 prose is usually written,
//! not scanned) that the composer lays out itself, with the same embedded CJK font as the
//! forms and with PNG/JPEG images.
//!
//! The format (a deliberately small subset of Markdown):
//! - `# 标题` and `## 小节` lines are headings;
//! - `![说明](images/x.png)` alone on a line places an image (path relative to the chapter
//!   file), scaled to the text width, with its caption below;
//! - other lines are paragraph text; consecutive lines join, a blank line ends a paragraph.
//!
//! The format itself (blocks, limits, [`parse`]) lives in `crate::attachment`, which the
//! project also uses to check a chapter when it is attached.
//!
//! Guarantees: [`parse`] never fails (anything unrecognised is paragraph text); image
//! references are only ever resolved through the project's recorded copies (see
//! `project::attach`), never against the file system at composition time.
//! Does not: support emphasis, lists, tables or links.

use std::collections::BTreeMap;

use printpdf::XObjectId;

use super::page::{Align, PageDraft, MM};
pub use crate::attachment::{parse_chapter as parse, Block, MAX_CHAPTER_BYTES, MAX_IMAGE_BYTES};

/// An image ready to place: its XObject in the generated document and its pixel size.
pub struct PlacedImage {
    pub id: XObjectId,
    pub px_w: usize,
    pub px_h: usize,
}

const MARGIN: f32 = 25.0 * MM;
const BOTTOM: f32 = 25.0 * MM;
const BODY: f32 = 11.0;
const LEADING: f32 = 19.0;

/// Lays a chapter out on as many A4 pages as it needs (`new_page` makes each page).
pub fn lay_out<'f>(
    blocks: &[Block],
    images: &BTreeMap<String, PlacedImage>,
    mut new_page: impl FnMut() -> PageDraft<'f>,
) -> Vec<PageDraft<'f>> {
    let mut pages = Vec::new();
    let mut d = new_page();
    let top = d.height - MARGIN;
    let width = d.width - 2.0 * MARGIN;
    let mut y = top;
    for block in blocks {
        match block {
            Block::Heading { level, text } => {
                let size = if *level == 1 { 16.0 } else { 13.5 };
                // Keep a heading with at least two lines of what follows.
                if y - size * 1.6 - 2.0 * LEADING < BOTTOM {
                    pages.push(std::mem::replace(&mut d, new_page()));
                    y = top;
                }
                if y < top {
                    y -= size * 0.6;
                }
                for line in d.font().wrap(text, size, width) {
                    d.text(MARGIN, y - size, size, Align::Left, &line);
                    y -= size * 1.6;
                }
            }
            Block::Paragraph(text) => {
                // First-line indent of two full-width spaces (首行缩进两字).
                let lines = d
                    .font()
                    .wrap(&format!("\u{3000}\u{3000}{text}"), BODY, width);
                for line in lines {
                    if y - LEADING < BOTTOM {
                        pages.push(std::mem::replace(&mut d, new_page()));
                        y = top;
                    }
                    d.text(MARGIN, y - BODY, BODY, Align::Left, &line);
                    y -= LEADING;
                }
                y -= LEADING * 0.4;
            }
            Block::Image { caption, reference } => {
                let Some(img) = images.get(reference) else {
                    continue;
                };
                let (pw, ph) = (img.px_w.max(1) as f32, img.px_h.max(1) as f32);
                let max_h = (top - BOTTOM) * 0.6;
                let scale = (width / pw).min(max_h / ph);
                let (w, h) = (pw * scale, ph * scale);
                if y - h - LEADING * 1.5 < BOTTOM {
                    pages.push(std::mem::replace(&mut d, new_page()));
                    y = top;
                }
                let x = MARGIN + (width - w) / 2.0;
                d.image(&img.id, x, y - h - 4.0, scale);
                y -= h + 8.0;
                d.text(MARGIN + width / 2.0, y - 10.0, 10.0, Align::Center, caption);
                y -= LEADING * 1.4;
            }
        }
    }
    pages.push(d);
    pages
}
