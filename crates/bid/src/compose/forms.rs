//! The pages BidSeal writes itself: cover (封面), table of contents (目录), bid letter (投标函)
//! and bidder profile (投标人基本情况表), from the tender manifest and the project's data.
//!
//! Guarantees: each seal field of a form is returned with its exact rectangle, so signing
//! nodes anchored on it land where the form prints "（盖章）". Does not: decide page numbers
//! (the caller passes them) or draw footers (see `mod.rs`).

use crate::project::form::money_in_capitals;
use crate::project::ProjectFile;
use crate::tender::{FieldKind, GeneratedForm, TenderManifest};

use super::page::{Align, PageDraft, PdfRect, MM};

/// A generated page and the seal fields on it.
pub struct FormPage<'f> {
    pub draft: PageDraft<'f>,
    pub fields: Vec<(GeneratedForm, &'static str, PdfRect)>,
}

/// Size of a seal box (enterprise seals are 42 mm across; 45 mm leaves a margin).
pub const SEAL_BOX: f32 = 45.0 * MM;
const MARGIN: f32 = 25.0 * MM;

/// 封面.
pub fn cover<'f>(
    mut d: PageDraft<'f>,
    m: &TenderManifest,
    p: &ProjectFile,
    date: &str,
) -> FormPage<'f> {
    let cx = d.width / 2.0;
    let mut y = d.height - 60.0 * MM;
    d.text(
        cx,
        y,
        16.0,
        Align::Center,
        &format!("项目编号：{}", m.project.id),
    );
    y -= 40.0;
    for line in d.font().wrap(&m.project.name, 22.0, d.width - 2.0 * MARGIN) {
        d.text(cx, y, 22.0, Align::Center, &line);
        y -= 32.0;
    }
    d.text(
        cx,
        y,
        18.0,
        Align::Center,
        &format!("{}（{}）", m.project.lot.name, m.project.lot.id),
    );
    y -= 110.0;
    d.text(cx, y, 40.0, Align::Center, "投 标 文 件");
    let x = MARGIN + 25.0 * MM;
    let mut y = 95.0 * MM;
    for (label, value) in [
        ("投标人：", format!("{}（盖单位章）", p.bidder.name)),
        (
            "法定代表人：",
            format!("{}（签字或盖章）", p.bidder.legal_representative),
        ),
        ("日期：", date.to_string()),
    ] {
        let w = d.text(x, y, 14.0, Align::Left, label);
        d.text(x + w.max(84.0), y, 14.0, Align::Left, &value);
        y -= 28.0;
    }
    FormPage {
        draft: d,
        fields: Vec::new(),
    }
}

/// One line of the table of contents.
pub struct TocEntry {
    pub level: u8,
    pub title: String,
    pub page: u32,
}

/// Lines per table-of-contents page.
pub const TOC_LINES_PER_PAGE: usize = 30;

/// 目录 (one or more pages).
pub fn table_of_contents<'f>(
    drafts: Vec<PageDraft<'f>>,
    entries: &[TocEntry],
) -> Vec<FormPage<'f>> {
    let mut out = Vec::new();
    for (chunk_i, mut d) in drafts.into_iter().enumerate() {
        let mut y = d.height - 40.0 * MM;
        if chunk_i == 0 {
            d.text(d.width / 2.0, y, 22.0, Align::Center, "目  录");
        }
        y -= 40.0;
        let start = chunk_i * TOC_LINES_PER_PAGE;
        for e in entries.iter().skip(start).take(TOC_LINES_PER_PAGE) {
            let x = MARGIN + f32::from(e.level) * 24.0;
            let size = if e.level == 0 { 13.0 } else { 11.5 };
            let right = d.width - MARGIN;
            let num = e.page.to_string();
            let num_w = d.font().width(&num, size);
            let mut title = e.title.clone();
            while d.font().width(&title, size) > right - x - num_w - 30.0
                && title.chars().count() > 2
            {
                title.pop();
                if title.ends_with('…') {
                    title.pop();
                }
                title.push('…');
            }
            let tw = d.text(x, y, size, Align::Left, &title);
            d.text(right, y, size, Align::Right, &num);
            // Leader dots.
            let dot_w = d.font().width("·", size);
            let dots = ((right - num_w - 6.0 - (x + tw + 6.0)) / dot_w).max(0.0) as usize;
            d.text(x + tw + 6.0, y, size, Align::Left, &"·".repeat(dots));
            y -= 22.0;
        }
        out.push(FormPage {
            draft: d,
            fields: Vec::new(),
        });
    }
    out
}

/// Number of table-of-contents pages `entries` need.
pub fn toc_pages(entries: usize) -> usize {
    entries.div_ceil(TOC_LINES_PER_PAGE).max(1)
}

/// The grid of a two-column form table (label | value) of `rows` rows of `row_h` from `top`
/// down, `width` wide with the value column at `col`; returns its bottom.
fn label_value_grid(
    d: &mut PageDraft,
    top: f32,
    rows: usize,
    row_h: f32,
    col: f32,
    width: f32,
) -> f32 {
    let bottom = top - rows as f32 * row_h;
    d.frame(
        PdfRect {
            x1: MARGIN,
            y1: bottom,
            x2: MARGIN + width,
            y2: top,
        },
        0.8,
    );
    d.line(col, bottom, col, top, 0.5);
    for i in 1..rows {
        let ly = top - i as f32 * row_h;
        d.line(MARGIN, ly, MARGIN + width, ly, 0.5);
    }
    bottom
}

fn seal_field(d: &mut PageDraft<'_>, x: f32, y: f32, label: &str, name: &str) -> PdfRect {
    // Keep the whole line inside the right margin.
    let total = d.font().width(label, 13.0) + d.font().width(name, 13.0);
    let x = x.min(d.width - MARGIN - total).max(MARGIN);
    let w = d.text(x, y, 13.0, Align::Left, label);
    d.text(x + w, y, 13.0, Align::Left, name);
    // The seal box is centred on the name, reaching below and above the line as a real seal
    // would overlap the signature line.
    let name_w = d.font().width(name, 13.0).max(SEAL_BOX / 2.0);
    let cx = x + w + name_w / 2.0;
    PdfRect::from_xywh(
        cx - SEAL_BOX / 2.0,
        y + 4.0 - SEAL_BOX / 2.0,
        SEAL_BOX,
        SEAL_BOX,
    )
}

/// 投标函.
pub fn bid_letter<'f>(
    mut d: PageDraft<'f>,
    m: &TenderManifest,
    p: &ProjectFile,
    date: &str,
) -> FormPage<'f> {
    let width = d.width - 2.0 * MARGIN;
    let mut y = d.height - 40.0 * MM;
    d.text(
        d.width / 2.0,
        y,
        22.0,
        Align::Center,
        GeneratedForm::BidLetter.zh(),
    );
    y -= 44.0;
    d.text(
        MARGIN,
        y,
        13.0,
        Align::Left,
        &format!("致：{}", m.tenderer.name),
    );
    y -= 28.0;
    let headline_price = m
        .price_form
        .iter()
        .find(|f| f.kind == FieldKind::Money)
        .and_then(|f| p.form.get(&f.key).map(|v| (f, v.clone())));
    let mut body = format!(
        "    根据贵方“{}”（项目编号：{}）{}的招标文件，我方在认真研究招标文件全部内容后，\
         愿按招标文件的要求承担本标段的全部工作",
        m.project.name, m.project.id, m.project.lot.name
    );
    if let Some((f, v)) = &headline_price {
        body.push_str(&format!(
            "，{}为人民币（大写）{}（¥{}元）",
            f.label,
            money_in_capitals(v).unwrap_or_default(),
            v
        ));
    }
    body.push_str("。我方承诺在投标有效期内不修改、撤销投标文件，并对所递交投标文件的真实性负责。");
    y = d.paragraph(MARGIN, y, width, 13.0, 22.0, &body);
    y -= 12.0;

    // The bid form table: label | value.
    let row_h = 26.0;
    let col = MARGIN + 45.0 * MM;
    let top = y + 8.0;
    let mut rows: Vec<(String, String)> = Vec::new();
    for f in &m.price_form {
        let v = p.form.get(&f.key).cloned().unwrap_or_default();
        let shown = match (&f.kind, f.unit.as_deref()) {
            (FieldKind::Money, unit) => format!("¥{v} {}", unit.unwrap_or("元")),
            (_, Some(unit)) if !v.is_empty() => format!("{v} {unit}"),
            _ => v.clone(),
        };
        rows.push((f.label.clone(), shown));
        if f.kind == FieldKind::Money && !v.is_empty() {
            rows.push((
                format!("{}（大写）", f.label),
                money_in_capitals(&v).unwrap_or_default(),
            ));
        }
    }
    for (i, (label, value)) in rows.iter().enumerate() {
        let base = top - (i as f32 + 1.0) * row_h + 8.0;
        d.text(MARGIN + 6.0, base, 12.0, Align::Left, label);
        d.text(col + 6.0, base, 12.0, Align::Left, value);
    }
    let bottom = label_value_grid(&mut d, top, rows.len(), row_h, col, width);

    let x = d.width / 2.0 - 10.0 * MM;
    let mut y = bottom - 30.0 * MM;
    let bidder = seal_field(&mut d, x, y, "投标人（盖单位章）：", &p.bidder.name);
    y -= 30.0 * MM;
    let legal = seal_field(
        &mut d,
        x,
        y,
        "法定代表人（签字或盖章）：",
        &p.bidder.legal_representative,
    );
    y -= 18.0 * MM;
    d.text(x, y, 13.0, Align::Left, &format!("日期：{date}"));
    FormPage {
        draft: d,
        fields: vec![
            (GeneratedForm::BidLetter, "bidder_seal", bidder),
            (GeneratedForm::BidLetter, "legal_rep_seal", legal),
        ],
    }
}

/// 投标人基本情况表.
pub fn bidder_profile<'f>(mut d: PageDraft<'f>, p: &ProjectFile, date: &str) -> FormPage<'f> {
    let width = d.width - 2.0 * MARGIN;
    let mut y = d.height - 40.0 * MM;
    d.text(
        d.width / 2.0,
        y,
        22.0,
        Align::Center,
        GeneratedForm::BidderProfile.zh(),
    );
    y -= 40.0;
    let b = &p.bidder;
    let rows = [
        ("投标人名称", b.name.as_str()),
        ("统一社会信用代码", b.credit_code.as_str()),
        ("法定代表人", b.legal_representative.as_str()),
        ("地址", b.address.as_str()),
        ("联系人", b.contact.as_str()),
        ("联系电话", b.phone.as_str()),
    ];
    let row_h = 30.0;
    let col = MARGIN + 45.0 * MM;
    let top = y;
    for (i, (label, value)) in rows.iter().enumerate() {
        let base = top - (i as f32 + 1.0) * row_h + 10.0;
        d.text(MARGIN + 6.0, base, 12.0, Align::Left, label);
        let lines = d.font().wrap(value, 12.0, MARGIN + width - col - 12.0);
        d.text(
            col + 6.0,
            base,
            12.0,
            Align::Left,
            lines.first().map(String::as_str).unwrap_or(""),
        );
    }
    let bottom = label_value_grid(&mut d, top, rows.len(), row_h, col, width);
    let x = d.width / 2.0 - 10.0 * MM;
    let y = bottom - 35.0 * MM;
    let seal = seal_field(&mut d, x, y, "投标人（盖单位章）：", &b.name);
    d.text(
        x,
        y - 18.0 * MM,
        13.0,
        Align::Left,
        &format!("日期：{date}"),
    );
    FormPage {
        draft: d,
        fields: vec![(GeneratedForm::BidderProfile, "bidder_seal", seal)],
    }
}
