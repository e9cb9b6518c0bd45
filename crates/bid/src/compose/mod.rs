//! Composition: turns a bid project into one PDF — cover, table of contents, the generated
//! forms of each section (投标函, 投标人基本情况表) and the attached PDFs, with page numbers,
//! bookmarks per section and per signing node — and records where every signing node landed.
//!
//! Guarantees: all text BidSeal writes uses one embedded, subset CJK font (only the glyphs
//! used); page numbers in the table of contents are the PDF's own page numbers; every signing
//! node of the tender gets a [`NodePlacement`] with its page index(es) and rectangle(s) in PDF
//! user space, which is what the sealing step places seals on; the output is written
//! atomically to `out/bid.pdf` and recorded in `project.json` with its SHA-256. Refuses to
//! compose an incomplete project (lists what is missing), an attachment changed on disk since
//! it was attached, or text the font cannot draw.
//! Does not: seal (see the crate doc), or keep attachments' own bookmarks/forms/signatures.

pub mod chapter;
pub mod font;
pub mod forms;
pub mod merge;
pub mod page;
pub mod placement;
pub mod scan;

use std::path::{Path, PathBuf};

use printpdf::{PdfDocument, PdfSaveOptions};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::fsio::write_atomic;
use crate::project::{AttachmentKind, BidProject, ProjectError};
use crate::tender::{GeneratedForm, PageAnchor, SectionPage};

pub use crate::project::composition::{
    Composition, NodePlacement, NodeRect, PdfRect, SectionPages,
};
use font::CjkFont;
use forms::{FormPage, TocEntry};
use merge::{Bookmark, PlannedPage};
use page::{Align, PageDraft, MM};
pub use scan::scan_size;

/// Where the composed bid goes inside the project.
pub const OUTPUT: &str = "out/bid.pdf";

/// Composition errors.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("投标文件尚不完整，不能合成：\n{}", .0.join("\n"))]
    Incomplete(Vec<String>),
    #[error("附件 {file} 在添加后被修改或删除，请重新添加该附件")]
    AttachmentChanged { file: String },
    #[error("附件 {file} 无法合并：{why}")]
    AttachmentInvalid { file: String, why: String },
    #[error("内置字体缺少以下字符，请改用常用汉字：{chars}")]
    MissingGlyphs { chars: String },
    #[error("签章节点“{node}”所在的组成部分“{section}”没有任何页面，请先添加附件")]
    NodeWithoutPage { node: String, section: String },
    #[error("PDF 生成失败：{0}")]
    Pdf(String),
    #[error(transparent)]
    Project(#[from] ProjectError),
}

impl ComposeError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ComposeError::Incomplete(_) => "COMPOSE_INCOMPLETE",
            ComposeError::AttachmentChanged { .. } => "COMPOSE_ATTACHMENT_CHANGED",
            ComposeError::AttachmentInvalid { .. } => "COMPOSE_ATTACHMENT_INVALID",
            ComposeError::MissingGlyphs { .. } => "COMPOSE_MISSING_GLYPHS",
            ComposeError::NodeWithoutPage { .. } => "COMPOSE_NODE_WITHOUT_PAGE",
            ComposeError::Pdf(_) => "COMPOSE_PDF",
            ComposeError::Project(e) => e.code(),
        }
    }
}

/// What goes into a section, in order.
enum Part<'f> {
    Form(GeneratedForm),
    Attachment {
        doc: usize,
        pages: u32,
        title: String,
    },
    Chapter {
        drafts: Vec<PageDraft<'f>>,
        title: String,
    },
}

impl Part<'_> {
    fn pages(&self) -> u32 {
        match self {
            Part::Form(_) => 1,
            Part::Attachment { pages, .. } => *pages,
            Part::Chapter { drafts, .. } => drafts.len() as u32,
        }
    }

    fn title(&self) -> String {
        match self {
            Part::Form(f) => f.zh().to_string(),
            Part::Attachment { title, .. } | Part::Chapter { title, .. } => title.clone(),
        }
    }
}

/// Deep images (16-bit PNGs, float) become 8-bit, so printpdf can store colour images as JPEG
/// (DCT) instead of raw 16-bit samples; a printed bid gains nothing from more depth.
fn to_8bit(raw: printpdf::RawImage) -> printpdf::RawImage {
    use printpdf::{RawImageData, RawImageFormat as F};
    let format = match raw.data_format {
        F::R16 => F::R8,
        F::RG16 => F::RG8,
        F::RGB16 | F::RGBF32 => F::RGB8,
        F::RGBA16 | F::RGBAF32 => F::RGBA8,
        other => other,
    };
    let pixels = match raw.pixels {
        RawImageData::U16(v) => RawImageData::U8(v.into_iter().map(|x| (x >> 8) as u8).collect()),
        RawImageData::F32(v) => RawImageData::U8(
            v.into_iter()
                .map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect(),
        ),
        u8s => u8s,
    };
    printpdf::RawImage {
        pixels,
        data_format: format,
        ..raw
    }
}

/// Decodes a PNG/JPEG for placing on a page (8-bit, see [`to_8bit`]); `name` is for errors.
fn decode_image(bytes: &[u8], name: &str) -> Result<printpdf::RawImage, ComposeError> {
    let mut warnings = Vec::new();
    printpdf::RawImage::decode_from_bytes(bytes, &mut warnings)
        .map(to_8bit)
        .map_err(|why| ComposeError::AttachmentInvalid {
            file: name.to_string(),
            why,
        })
}

fn display_title(original_name: &str) -> String {
    let lower = original_name.to_ascii_lowercase();
    for ext in [".pdf", ".md", ".txt", ".png", ".jpg", ".jpeg"] {
        if lower.ends_with(ext) {
            return original_name[..original_name.len() - ext.len()].to_string();
        }
    }
    original_name.to_string()
}

/// Composes the project's bid into `out/bid.pdf` and records the composition.
pub fn compose(project: &mut BidProject, now: OffsetDateTime) -> Result<Composition, ComposeError> {
    let missing = project.missing();
    if !missing.is_empty() {
        return Err(ComposeError::Incomplete(missing));
    }
    let font = CjkFont::builtin().map_err(ComposeError::Pdf)?;
    let manifest = project.manifest().clone();
    let file = project.file().clone();
    let mut doc = PdfDocument::new(&format!("{} 投标文件", manifest.project.name));
    let font_id = doc.add_font(font.parsed());
    let draft = || PageDraft::a4(&font, font_id.clone());

    // Everything the user typed must be drawable.
    let mut typed = String::new();
    for s in [
        &file.bidder.name,
        &file.bidder.legal_representative,
        &file.bidder.address,
        &file.bidder.contact,
        &file.bidder.phone,
        &manifest.project.name,
        &manifest.tenderer.name,
        &manifest.project.lot.name,
    ] {
        typed.push_str(s);
    }
    for v in file.form.values() {
        typed.push_str(v);
    }
    for s in &manifest.sections {
        typed.push_str(&s.title);
    }

    // Load attachments, checking they are what was attached; lay chapters out.
    let read_checked = |rel: &str, sha256: &str, name: &str| -> Result<Vec<u8>, ComposeError> {
        let bytes = std::fs::read(project.dir().join(rel)).map_err(|_| {
            ComposeError::AttachmentChanged {
                file: name.to_string(),
            }
        })?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(ComposeError::AttachmentChanged {
                file: name.to_string(),
            });
        }
        Ok(bytes)
    };
    let mut docs = Vec::new();
    let mut boxes: Vec<Vec<[f32; 4]>> = Vec::new();
    let mut parts: Vec<(String, Vec<Part<'_>>)> = Vec::new();
    for section in &manifest.sections {
        let mut list: Vec<Part<'_>> = section.generated.iter().map(|f| Part::Form(*f)).collect();
        for a in file.attachments.get(&section.id).into_iter().flatten() {
            typed.push_str(&a.original_name);
            let bytes = read_checked(&a.file, &a.sha256, &a.original_name)?;
            let title = display_title(&a.original_name);
            match a.kind {
                AttachmentKind::Pdf => {
                    let pdf =
                        merge::load(&bytes).map_err(|why| ComposeError::AttachmentInvalid {
                            file: a.original_name.clone(),
                            why,
                        })?;
                    boxes.push(merge::media_boxes(&pdf));
                    let pages = pdf.get_pages().len() as u32;
                    docs.push(pdf);
                    list.push(Part::Attachment {
                        doc: docs.len() - 1,
                        pages,
                        title,
                    });
                }
                AttachmentKind::Image => {
                    let raw = decode_image(&bytes, &a.original_name)?;
                    let (px_w, px_h) = (raw.width, raw.height);
                    let id = doc.add_image(&raw);
                    let drafts = vec![scan::scan_page(draft(), &id, px_w, px_h)];
                    list.push(Part::Chapter { drafts, title });
                }
                AttachmentKind::Chapter => {
                    let text =
                        String::from_utf8(bytes).map_err(|_| ComposeError::AttachmentInvalid {
                            file: a.original_name.clone(),
                            why: "不是 UTF-8 文字".into(),
                        })?;
                    let blocks = chapter::parse(&text);
                    for b in &blocks {
                        match b {
                            chapter::Block::Heading { text, .. }
                            | chapter::Block::Paragraph(text) => typed.push_str(text),
                            chapter::Block::Image { caption, .. } => typed.push_str(caption),
                        }
                    }
                    let mut placed = std::collections::BTreeMap::new();
                    for img in &a.images {
                        let bytes = read_checked(&img.file, &img.sha256, &img.reference)?;
                        let raw = decode_image(&bytes, &img.reference)?;
                        let (px_w, px_h) = (raw.width, raw.height);
                        placed.insert(
                            img.reference.clone(),
                            chapter::PlacedImage {
                                id: doc.add_image(&raw),
                                px_w,
                                px_h,
                            },
                        );
                    }
                    let drafts = chapter::lay_out(&blocks, &placed, draft);
                    list.push(Part::Chapter { drafts, title });
                }
            }
        }
        parts.push((section.id.clone(), list));
    }
    let missing_glyphs = font.missing(&typed);
    if !missing_glyphs.is_empty() {
        return Err(ComposeError::MissingGlyphs {
            chars: missing_glyphs.iter().collect(),
        });
    }

    // Table of contents entries and page numbers. Page 1 is the cover, then the TOC.
    let toc_len: usize = parts.iter().map(|(_, l)| 1 + l.len()).sum();
    let toc_pages = forms::toc_pages(toc_len) as u32;
    let mut next_page = 1 + toc_pages; // 0-based index of the next page
    let mut toc = Vec::new();
    let mut section_pages = Vec::new();
    for ((section_id, list), section) in parts.iter().zip(&manifest.sections) {
        let first = next_page;
        toc.push(TocEntry {
            level: 0,
            title: format!("{}（{}）", section.title, section.kind.zh()),
            page: first + 1,
        });
        for part in list {
            toc.push(TocEntry {
                level: 1,
                title: part.title(),
                page: next_page + 1,
            });
            next_page += part.pages();
        }
        section_pages.push(SectionPages {
            section: section_id.clone(),
            title: section.title.clone(),
            first_page: first,
            last_page: next_page.max(first + 1) - 1,
        });
    }
    let total = next_page;
    let date = format!("{}年{}月{}日", now.year(), u8::from(now.month()), now.day());

    // Generated document: every generated page in order, then one footer page per imported page.
    let footer = |d: &mut PageDraft<'_>, index: u32| {
        let w = d.width;
        d.text(
            w / 2.0,
            12.0 * MM,
            9.0,
            Align::Center,
            &format!("第 {} 页 共 {} 页", index + 1, total),
        );
    };
    let mut generated: Vec<printpdf::PdfPage> = Vec::new();
    let mut plan: Vec<PlannedPage> = Vec::new();
    let mut field_rects: Vec<(GeneratedForm, &'static str, String, NodeRect)> = Vec::new();
    let mut push_generated = |fp: FormPage<'_>,
                              index: u32,
                              section: Option<&str>,
                              generated: &mut Vec<printpdf::PdfPage>,
                              plan: &mut Vec<PlannedPage>| {
        let FormPage { mut draft, fields } = fp;
        if index > 0 {
            footer(&mut draft, index);
        }
        for (form, field, rect) in fields {
            field_rects.push((
                form,
                field,
                section.unwrap_or_default().to_string(),
                NodeRect {
                    page_index: index,
                    rect,
                    kind: None,
                },
            ));
        }
        generated.push(draft.finish());
        plan.push(PlannedPage::Generated(generated.len() as u32));
    };
    push_generated(
        forms::cover(draft(), &manifest, &file, &date),
        0,
        None,
        &mut generated,
        &mut plan,
    );
    let toc_drafts = (0..toc_pages).map(|_| draft()).collect();
    for (i, fp) in forms::table_of_contents(toc_drafts, &toc)
        .into_iter()
        .enumerate()
    {
        push_generated(fp, 1 + i as u32, None, &mut generated, &mut plan);
    }
    let mut imported_slots = Vec::new(); // final indexes of imported pages, in order
    let mut index = 1 + toc_pages;
    for (section_id, list) in parts {
        for part in list {
            match part {
                Part::Form(GeneratedForm::BidLetter) => {
                    push_generated(
                        forms::bid_letter(draft(), &manifest, &file, &date),
                        index,
                        Some(&section_id),
                        &mut generated,
                        &mut plan,
                    );
                    index += 1;
                }
                Part::Form(GeneratedForm::BidderProfile) => {
                    push_generated(
                        forms::bidder_profile(draft(), &file, &date),
                        index,
                        Some(&section_id),
                        &mut generated,
                        &mut plan,
                    );
                    index += 1;
                }
                Part::Chapter { drafts, .. } => {
                    for d in drafts {
                        push_generated(
                            FormPage {
                                draft: d,
                                fields: Vec::new(),
                            },
                            index,
                            Some(&section_id),
                            &mut generated,
                            &mut plan,
                        );
                        index += 1;
                    }
                }
                Part::Attachment { doc, pages, .. } => {
                    for p in 1..=pages {
                        plan.push(PlannedPage::Imported {
                            doc,
                            page: p,
                            footer: 0,
                        });
                        imported_slots.push(index);
                        index += 1;
                    }
                }
            }
        }
    }
    // Footer pages for imported pages, appended after the real generated pages.
    let mut slots = imported_slots.iter();
    for slot in plan.iter_mut() {
        if let PlannedPage::Imported { footer: f, .. } = slot {
            let mut d = draft();
            if let Some(i) = slots.next() {
                footer(&mut d, *i);
            }
            generated.push(d.finish());
            *f = generated.len() as u32;
        }
    }

    let title = format!(
        "{} {} 投标文件",
        manifest.project.name, manifest.project.lot.name
    );
    let opts = PdfSaveOptions {
        subset_fonts: true,
        ..Default::default()
    };
    let mut warnings = Vec::new();
    let generated_bytes = doc.with_pages(generated).save(&opts, &mut warnings);

    // Page geometry of the final document, for anchors.
    let mut page_boxes: Vec<[f32; 4]> = Vec::with_capacity(total as usize);
    for p in &plan {
        page_boxes.push(match p {
            PlannedPage::Generated(_) => [0.0, 0.0, page::A4.0, page::A4.1],
            PlannedPage::Imported { doc, page, .. } => boxes
                .get(*doc)
                .and_then(|b| b.get((*page as usize).saturating_sub(1)))
                .copied()
                .unwrap_or([0.0, 0.0, page::A4.0, page::A4.1]),
        });
    }

    let placements = place_nodes(&manifest, &section_pages, &field_rects, &page_boxes)?;
    let outline = outline(&manifest, &section_pages, &toc, &placements);
    let bytes = merge::assemble(&generated_bytes, docs, &plan, &outline, &title)
        .map_err(ComposeError::Pdf)?;

    let out_path: PathBuf = project.dir().join(OUTPUT);
    write_atomic(&out_path, &bytes)
        .map_err(|e| ComposeError::Pdf(format!("写出 {} 失败: {e}", out_path.display())))?;
    let composition = Composition {
        output: OUTPUT.into(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        pages: total,
        composed_at: now,
        sections: section_pages,
        placements,
        page_boxes,
    };
    project.record_composition(composition.clone())?;
    Ok(composition)
}

fn place_nodes(
    manifest: &crate::tender::TenderManifest,
    sections: &[SectionPages],
    fields: &[(GeneratedForm, &'static str, String, NodeRect)],
    boxes: &[[f32; 4]],
) -> Result<Vec<NodePlacement>, ComposeError> {
    let mut out = Vec::new();
    for node in &manifest.signing_nodes {
        let sp = sections.iter().find(|s| s.section == node.section);
        let no_page = || ComposeError::NodeWithoutPage {
            node: node.id.clone(),
            section: node.section.clone(),
        };
        let sp = sp
            .filter(|s| s.last_page >= s.first_page && s.first_page < boxes.len() as u32)
            .ok_or_else(no_page)?;
        let (rects, cross_page) = match &node.anchor {
            PageAnchor::FormField { form, field } => {
                let r = fields
                    .iter()
                    .find(|(f, name, section, _)| {
                        f == form && name == field && *section == node.section
                    })
                    .map(|(_, _, _, r)| r.clone())
                    .ok_or_else(no_page)?;
                (vec![r], false)
            }
            PageAnchor::SectionPage {
                page,
                right_mm,
                bottom_mm,
                width_mm,
                height_mm,
            } => {
                let index = match page {
                    SectionPage::First => sp.first_page,
                    SectionPage::Last => sp.last_page,
                };
                let b = boxes.get(index as usize).copied().ok_or_else(no_page)?;
                let (w, h) = (width_mm * MM, height_mm * MM);
                let x2 = (b[2] - right_mm * MM).clamp(b[0] + w, b[2]);
                let y1 = (b[1] + bottom_mm * MM).clamp(b[1], b[3] - h);
                (
                    vec![NodeRect {
                        page_index: index,
                        rect: PdfRect {
                            x1: x2 - w,
                            y1,
                            x2,
                            y2: y1 + h,
                        },
                        kind: None,
                    }],
                    false,
                )
            }
            PageAnchor::CrossPage => (
                placement::cross_page_rects(boxes, sp.first_page, sp.last_page, None),
                true,
            ),
        };
        // Several kinds on one single-page anchor (公章 + 法人签名): one place per kind, the
        // first at the anchor; the others are moved clear of it below.
        let rects = if !cross_page && node.seal_kinds.len() > 1 {
            rects
                .iter()
                .flat_map(|r| {
                    node.seal_kinds.iter().map(move |k| NodeRect {
                        kind: Some(*k),
                        ..r.clone()
                    })
                })
                .collect()
        } else {
            rects
        };
        out.push(NodePlacement {
            node_id: node.id.clone(),
            section: node.section.clone(),
            label: node.label.clone(),
            seal_kinds: node.seal_kinds.clone(),
            mandatory: node.mandatory,
            cross_page,
            rects,
            anchor_rects: Vec::new(),
            placed: false,
        });
    }
    separate_seals(&mut out, boxes);
    Ok(out)
}

/// Smallest gap kept between two seals on one page.
const SEAL_GAP: f32 = 3.0 * MM;

fn overlaps(a: &PdfRect, b: &PdfRect) -> bool {
    a.x1 < b.x2 + SEAL_GAP
        && b.x1 < a.x2 + SEAL_GAP
        && a.y1 < b.y2 + SEAL_GAP
        && b.y1 < a.y2 + SEAL_GAP
}

/// Moves single-page seal rectangles so that no two on one page overlap: cross-page slices
/// stay where they are; every other rectangle, in node order, keeps its place if it is free,
/// else takes the nearest free place inside the page (to the right, left, below, above, in
/// steps of 2 mm). A page too full for that keeps the rectangle where it was (never lost).
fn separate_seals(nodes: &mut [NodePlacement], boxes: &[[f32; 4]]) {
    let mut taken: Vec<(u32, PdfRect)> = nodes
        .iter()
        .filter(|n| n.cross_page)
        .flat_map(|n| n.rects.iter().map(|r| (r.page_index, r.rect)))
        .collect();
    for node in nodes.iter_mut().filter(|n| !n.cross_page) {
        for r in &mut node.rects {
            let Some(b) = boxes.get(r.page_index as usize).copied() else {
                continue;
            };
            let page = r.page_index;
            let free = |c: &PdfRect, taken: &[(u32, PdfRect)]| {
                c.x1 >= b[0]
                    && c.y1 >= b[1]
                    && c.x2 <= b[2]
                    && c.y2 <= b[3]
                    && !taken.iter().any(|(p, t)| *p == page && overlaps(c, t))
            };
            if !free(&r.rect, &taken) {
                let step = 2.0 * MM;
                let (w, h) = (b[2] - b[0], b[3] - b[1]);
                let shifted = |dx: f32, dy: f32| PdfRect {
                    x1: r.rect.x1 + dx,
                    y1: r.rect.y1 + dy,
                    x2: r.rect.x2 + dx,
                    y2: r.rect.y2 + dy,
                };
                let limit = (w.max(h) / step) as i32;
                let found = (1..=limit).find_map(|i| {
                    let d = i as f32 * step;
                    [(d, 0.0), (-d, 0.0), (0.0, -d), (0.0, d)]
                        .into_iter()
                        .map(|(dx, dy)| shifted(dx, dy))
                        .find(|c| free(c, &taken))
                });
                if let Some(c) = found {
                    r.rect = c;
                }
            }
            taken.push((page, r.rect));
        }
    }
}

fn outline(
    manifest: &crate::tender::TenderManifest,
    sections: &[SectionPages],
    toc: &[TocEntry],
    placements: &[NodePlacement],
) -> Vec<Bookmark> {
    let mut out = vec![
        Bookmark {
            title: "封面".into(),
            page_index: 0,
            top: None,
            children: Vec::new(),
        },
        Bookmark {
            title: "目录".into(),
            page_index: 1,
            top: None,
            children: Vec::new(),
        },
    ];
    // The TOC lists each section (level 0) followed by its parts (level 1).
    let mut heads = toc
        .iter()
        .enumerate()
        .filter(|(_, e)| e.level == 0)
        .map(|(i, _)| i)
        .peekable();
    for (section, sp) in manifest.sections.iter().zip(sections) {
        let Some(head) = heads.next() else { break };
        let end = heads.peek().copied().unwrap_or(toc.len());
        let mut children: Vec<Bookmark> = toc[head + 1..end]
            .iter()
            .map(|e| Bookmark {
                title: e.title.clone(),
                page_index: e.page as usize - 1,
                top: None,
                children: Vec::new(),
            })
            .collect();
        for p in placements.iter().filter(|p| p.section == sp.section) {
            if let Some(r) = p.rects.first() {
                let kinds: Vec<&str> = p.seal_kinds.iter().map(|k| k.zh()).collect();
                children.push(Bookmark {
                    title: format!("签章：{}（{}）", p.label, kinds.join("、")),
                    page_index: r.page_index as usize,
                    top: Some(r.rect.y2 + 20.0),
                    children: Vec::new(),
                });
            }
        }
        out.push(Bookmark {
            title: section.title.clone(),
            page_index: sp.first_page as usize,
            top: None,
            children,
        });
    }
    out
}

/// The composed PDF's path for a project folder.
pub fn output_path(project_dir: &Path) -> PathBuf {
    project_dir.join(OUTPUT)
}
