//! Merging the generated pages and the attached PDFs into one document with lopdf: page order,
//! footers (page numbers) stamped onto imported pages, the outline (bookmarks) and document
//! info.
//!
//! Guarantees: imported pages keep their own content, resources and annotations; the footer is
//! drawn from a form XObject wrapped in `q … Q` so it cannot inherit or leak graphics state; no
//! panic escapes from parsing a hostile attachment (lopdf is called under `catch_unwind`) and
//! encrypted attachments are refused. Does not: keep the attachments' own outlines, forms
//! (AcroForm) or signatures — an attached PDF that was itself signed is re-laid out and its
//! signature no longer covers it; and the footer ignores `/Rotate` (it sits at the bottom of
//! the unrotated page).

use std::collections::BTreeMap;

use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat};

pub use crate::attachment::{count_pages, load};

fn num(o: &Object) -> Option<f32> {
    match o {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) => Some(*r),
        _ => None,
    }
}

/// Looks an attribute up on a page or its ancestors (MediaBox, Resources, Rotate are inheritable).
fn inherited(doc: &Document, page: ObjectId, key: &[u8]) -> Option<Object> {
    let mut current = page;
    for _ in 0..32 {
        let dict = doc.get_dictionary(current).ok()?;
        if let Ok(v) = dict.get(key) {
            return Some(v.clone());
        }
        current = dict.get(b"Parent").and_then(Object::as_reference).ok()?;
    }
    None
}

/// MediaBox of every page of `doc` as `[x1, y1, x2, y2]`, in page order.
pub fn media_boxes(doc: &Document) -> Vec<[f32; 4]> {
    doc.get_pages()
        .values()
        .map(|id| {
            let b = inherited(doc, *id, b"MediaBox")
                .and_then(|o| match o {
                    Object::Reference(r) => doc.get_object(r).ok().cloned(),
                    other => Some(other),
                })
                .and_then(|o| o.as_array().ok().cloned())
                .and_then(|a| {
                    let v: Vec<f32> = a.iter().filter_map(num).collect();
                    (v.len() == 4).then(|| {
                        [
                            v[0].min(v[2]),
                            v[1].min(v[3]),
                            v[0].max(v[2]),
                            v[1].max(v[3]),
                        ]
                    })
                });
            b.unwrap_or([0.0, 0.0, 595.28, 841.89])
        })
        .collect()
}

/// Where a final page comes from.
#[derive(Debug, Clone, Copy)]
pub enum PlannedPage {
    /// Page number (1-based) of the generated document.
    Generated(u32),
    /// Page `page` (1-based) of imported document `doc`, with the footer drawn from generated
    /// page `footer` (1-based).
    Imported { doc: usize, page: u32, footer: u32 },
}

/// A bookmark.
#[derive(Debug, Clone)]
pub struct Bookmark {
    pub title: String,
    /// Final page index (0-based).
    pub page_index: usize,
    /// Top of the view on that page (PDF y), or the page top.
    pub top: Option<f32>,
    pub children: Vec<Bookmark>,
}

fn text_string(s: &str) -> Object {
    let mut bytes = vec![0xFE, 0xFF];
    for u in s.encode_utf16() {
        bytes.extend_from_slice(&u.to_be_bytes());
    }
    Object::String(bytes, StringFormat::Hexadecimal)
}

fn contents_of(doc: &Document, page: ObjectId) -> Vec<Object> {
    match doc
        .get_dictionary(page)
        .ok()
        .and_then(|d| d.get(b"Contents").ok())
    {
        Some(Object::Array(a)) => a.clone(),
        Some(o @ Object::Reference(_)) => vec![o.clone()],
        _ => Vec::new(),
    }
}

/// Turns a generated page into a form XObject (for footers), returning its id.
fn page_to_xobject(doc: &mut Document, page: ObjectId) -> Result<ObjectId, String> {
    let mut content = Vec::new();
    for id in doc.get_page_contents(page) {
        let stream = doc
            .get_object(id)
            .and_then(Object::as_stream)
            .map_err(|e| format!("页脚页面内容缺失: {e}"))?;
        let bytes = stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone());
        content.extend_from_slice(&bytes);
        content.push(b'\n');
    }
    let resources =
        inherited(doc, page, b"Resources").unwrap_or(Object::Dictionary(Dictionary::new()));
    let bbox = inherited(doc, page, b"MediaBox").unwrap_or_else(|| {
        Object::Array(vec![0.into(), 0.into(), 595.28f32.into(), 841.89f32.into()])
    });
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"XObject".to_vec()));
    dict.set("Subtype", Object::Name(b"Form".to_vec()));
    dict.set("BBox", bbox);
    dict.set("Resources", resources);
    let mut stream = Stream::new(dict, content);
    let _ = stream.compress();
    Ok(doc.add_object(stream))
}

/// Builds the final PDF.
///
/// `generated` is the printpdf output holding every generated page and the footer pages;
/// `imported` are the attachments in the order `plan` refers to them.
pub fn assemble(
    generated: &[u8],
    imported: Vec<Document>,
    plan: &[PlannedPage],
    outline: &[Bookmark],
    title: &str,
) -> Result<Vec<u8>, String> {
    let mut out = load(generated)?;
    let gen_pages = out.get_pages();
    let pages_root = out
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(Object::as_reference)
        .map_err(|e| format!("生成的 PDF 缺少页面树: {e}"))?;

    // Footer pages become form XObjects (one per imported page).
    let mut footer_xobjects: BTreeMap<u32, ObjectId> = BTreeMap::new();
    for p in plan {
        if let PlannedPage::Imported { footer, .. } = p {
            let page_id = *gen_pages.get(footer).ok_or("页脚页面缺失")?;
            let x = page_to_xobject(&mut out, page_id)?;
            footer_xobjects.insert(*footer, x);
        }
    }

    // Bring every attachment's objects over, with inherited page attributes made explicit.
    let mut imported_pages: Vec<BTreeMap<u32, ObjectId>> = Vec::new();
    for mut doc in imported {
        let pages = doc.get_pages();
        for id in pages.values() {
            for key in [&b"Resources"[..], b"MediaBox", b"CropBox", b"Rotate"] {
                if let Some(v) = inherited(&doc, *id, key) {
                    if let Ok(d) = doc.get_dictionary_mut(*id) {
                        if !d.has(key) {
                            d.set(key.to_vec(), v);
                        }
                    }
                }
            }
        }
        doc.renumber_objects_with(out.max_id + 1);
        let pages = doc.get_pages();
        // Drop the attachment's catalog and page-tree nodes; its pages get our page tree.
        let mut drop_ids = Vec::new();
        if let Ok(root) = doc.trailer.get(b"Root").and_then(Object::as_reference) {
            drop_ids.push(root);
        }
        for (id, obj) in &doc.objects {
            if let Object::Dictionary(d) = obj {
                if d.get(b"Type").and_then(Object::as_name).ok() == Some(b"Pages") {
                    drop_ids.push(*id);
                }
            }
        }
        for id in drop_ids {
            doc.objects.remove(&id);
        }
        out.max_id = out.max_id.max(doc.max_id);
        out.objects.extend(doc.objects);
        imported_pages.push(pages);
    }

    let wrap_open = out.add_object(Stream::new(Dictionary::new(), b"q\n".to_vec()));
    let mut kids = Vec::with_capacity(plan.len());
    for p in plan {
        let id = match *p {
            PlannedPage::Generated(n) => *gen_pages.get(&n).ok_or("生成页面缺失")?,
            PlannedPage::Imported { doc, page, footer } => {
                let id = *imported_pages
                    .get(doc)
                    .and_then(|m| m.get(&page))
                    .ok_or("附件页面缺失")?;
                let xobject = *footer_xobjects.get(&footer).ok_or("页脚缺失")?;
                let mb = media_box_of(&out, id);
                // Footer pages are A4-wide: centre them on this page's width.
                let tx = mb[0] + ((mb[2] - mb[0]) - 595.28) / 2.0;
                let ty = mb[1];
                let stamp = format!("Q\nq 1 0 0 1 {tx:.2} {ty:.2} cm /BidSealFooter Do Q\n");
                let stamp_id = out.add_object(Stream::new(Dictionary::new(), stamp.into_bytes()));
                let mut contents = vec![Object::Reference(wrap_open)];
                contents.extend(contents_of(&out, id));
                contents.push(Object::Reference(stamp_id));
                let resources = match out.get_dictionary(id).and_then(|d| d.get(b"Resources")) {
                    Ok(Object::Reference(r)) => out.get_dictionary(*r).cloned().unwrap_or_default(),
                    Ok(Object::Dictionary(d)) => d.clone(),
                    _ => Dictionary::new(),
                };
                let mut resources = resources;
                let mut xobjects = match resources.get(b"XObject") {
                    Ok(Object::Reference(r)) => out.get_dictionary(*r).cloned().unwrap_or_default(),
                    Ok(Object::Dictionary(d)) => d.clone(),
                    _ => Dictionary::new(),
                };
                xobjects.set("BidSealFooter", Object::Reference(xobject));
                resources.set("XObject", Object::Dictionary(xobjects));
                let d = out.get_dictionary_mut(id).map_err(|e| e.to_string())?;
                d.set("Contents", Object::Array(contents));
                d.set("Resources", Object::Dictionary(resources));
                id
            }
        };
        if let Ok(d) = out.get_dictionary_mut(id) {
            d.set("Parent", Object::Reference(pages_root));
        }
        kids.push(id);
    }
    // Pages of the generated document that are not in the plan (footer pages) leave the tree.
    for (n, id) in &gen_pages {
        if !plan
            .iter()
            .any(|p| matches!(p, PlannedPage::Generated(g) if g == n))
        {
            out.objects.remove(id);
        }
    }
    {
        let root = out
            .get_dictionary_mut(pages_root)
            .map_err(|e| e.to_string())?;
        root.set(
            "Kids",
            Object::Array(kids.iter().map(|k| Object::Reference(*k)).collect()),
        );
        root.set("Count", Object::Integer(kids.len() as i64));
    }

    if !outline.is_empty() {
        let outlines_id = out.new_object_id();
        let (first, last, count) = write_outline_level(&mut out, outline, outlines_id, &kids)?;
        let mut dict = Dictionary::new();
        dict.set("Type", Object::Name(b"Outlines".to_vec()));
        dict.set("First", Object::Reference(first));
        dict.set("Last", Object::Reference(last));
        dict.set("Count", Object::Integer(count));
        out.objects.insert(outlines_id, Object::Dictionary(dict));
        let catalog = out.catalog_mut().map_err(|e| e.to_string())?;
        catalog.set("Outlines", Object::Reference(outlines_id));
        catalog.set("PageMode", Object::Name(b"UseOutlines".to_vec()));
    }

    let mut info = Dictionary::new();
    info.set("Title", text_string(title));
    info.set(
        "Producer",
        text_string(concat!("BidSeal ", env!("CARGO_PKG_VERSION"))),
    );
    let info_id = out.add_object(info);
    out.trailer.set("Info", Object::Reference(info_id));

    // PDF 1.7 (ISO 32000-1): what PAdES signatures added later declare.
    out.version = "1.7".to_string();
    out.prune_objects();
    out.compress();
    let mut bytes = Vec::new();
    out.save_to(&mut bytes)
        .map_err(|e| format!("写出 PDF 失败: {e}"))?;
    Ok(bytes)
}

fn media_box_of(doc: &Document, page: ObjectId) -> [f32; 4] {
    inherited(doc, page, b"MediaBox")
        .and_then(|o| match o {
            Object::Reference(r) => doc.get_object(r).ok().cloned(),
            other => Some(other),
        })
        .and_then(|o| {
            o.as_array()
                .ok()
                .map(|a| a.iter().filter_map(num).collect::<Vec<_>>())
        })
        .filter(|v| v.len() == 4)
        .map(|v| {
            [
                v[0].min(v[2]),
                v[1].min(v[3]),
                v[0].max(v[2]),
                v[1].max(v[3]),
            ]
        })
        .unwrap_or([0.0, 0.0, 595.28, 841.89])
}

/// Writes one level of outline items under `parent`; returns (first, last, visible count).
fn write_outline_level(
    doc: &mut Document,
    items: &[Bookmark],
    parent: ObjectId,
    pages: &[ObjectId],
) -> Result<(ObjectId, ObjectId, i64), String> {
    let ids: Vec<ObjectId> = items.iter().map(|_| doc.new_object_id()).collect();
    let mut count = 0;
    for (i, item) in items.iter().enumerate() {
        let page = *pages.get(item.page_index).ok_or("书签指向不存在的页面")?;
        let mut d = Dictionary::new();
        d.set("Title", text_string(&item.title));
        d.set("Parent", Object::Reference(parent));
        let top = item.top.map(Object::Real).unwrap_or(Object::Null);
        d.set(
            "Dest",
            Object::Array(vec![
                Object::Reference(page),
                Object::Name(b"XYZ".to_vec()),
                Object::Null,
                top,
                Object::Null,
            ]),
        );
        if i > 0 {
            d.set("Prev", Object::Reference(ids[i - 1]));
        }
        if let Some(next) = ids.get(i + 1) {
            d.set("Next", Object::Reference(*next));
        }
        count += 1;
        if !item.children.is_empty() {
            let (f, l, c) = write_outline_level(doc, &item.children, ids[i], pages)?;
            d.set("First", Object::Reference(f));
            d.set("Last", Object::Reference(l));
            d.set("Count", Object::Integer(c));
            count += c;
        }
        doc.objects.insert(ids[i], Object::Dictionary(d));
    }
    match (ids.first(), ids.last()) {
        (Some(f), Some(l)) => Ok((*f, *l, count)),
        _ => Err("空书签层级".into()),
    }
}
