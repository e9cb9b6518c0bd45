//! The opening report as a PDF (开标记录): one line per bid (bidder, price, verdict) and every
//! check under it, with the embedded CJK font subset (the composer's font and page drawing, so
//! both kinds of PDF look the same; it draws Latin text too). The lines are made in zh-CN and
//! handed to the caller's `words` before they are laid out (the workflow's `i18n` puts them
//! into the reader's language; identity keeps them zh-CN).
//!
//! Guarantees: written atomically; long details wrap; pages are added as needed. Does not:
//! sign the report (a later step for the hall's own certificate).

use super::BidOpeningReport;
use crate::bidfile::BidFileError;
use crate::compose::font::CjkFont;
use crate::compose::page::{Align, PageDraft, A4};
use crate::tender::PriceFormField;
use printpdf::{PdfDocument, PdfPage, PdfSaveOptions};
use std::path::Path;

const MARGIN: f32 = 50.0;
const BOTTOM: f32 = 60.0;

/// Writes `reports` as a PDF at `path`; `title` heads the first page, `generated_at` is shown
/// under it; prices are labelled with the tender's price form `form` ([`price_entry`]); every
/// line of the body goes through `words` (its language) before layout.
pub fn write_report_pdf(
    path: &Path,
    title: &str,
    generated_at: &str,
    reports: &[BidOpeningReport],
    form: &[PriceFormField],
    words: &dyn Fn(&str) -> String,
) -> Result<(), BidFileError> {
    let font = CjkFont::builtin().map_err(|e| BidFileError::io(path, e))?;
    let mut doc = PdfDocument::new(title);
    let font_id = doc.add_font(font.parsed());
    let width = A4.0 - 2.0 * MARGIN;
    let mut pages: Vec<PdfPage> = Vec::new();
    let mut page = PageDraft::a4(&font, font_id.clone());
    let mut y = A4.1 - MARGIN - 10.0;
    page.text(A4.0 / 2.0, y, 16.0, Align::Center, title);
    y -= 22.0;
    page.text(A4.0 / 2.0, y, 9.0, Align::Center, generated_at);
    y -= 28.0;
    let mut lines: Vec<(f32, f32, String)> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let price = r.price_texts(form);
        lines.push((
            11.0,
            0.0,
            format!(
                "{}. 投标人：{} 结论：{}",
                i + 1,
                r.bidder_text(),
                r.verdict_text()
            ),
        ));
        lines.push((9.0, 12.0, format!("投标文件：{}", r.bid_file)));
        if !price.is_empty() {
            lines.push((9.0, 12.0, format!("报价：{}", price.join("，"))));
        }
        for c in &r.checks {
            lines.push((9.0, 12.0, c.line()));
        }
        lines.push((6.0, 0.0, String::new()));
    }
    for (size, indent, text) in lines {
        let text = if text.is_empty() { text } else { words(&text) };
        let leading = size * 1.5;
        let mut wrapped = font.wrap(&text, size, width - indent);
        if wrapped.is_empty() {
            wrapped.push(String::new());
        }
        for line in &wrapped {
            if y < BOTTOM {
                pages.push(
                    std::mem::replace(&mut page, PageDraft::a4(&font, font_id.clone())).finish(),
                );
                y = A4.1 - MARGIN;
            }
            page.text(MARGIN + indent, y, size, Align::Left, line);
            y -= leading;
        }
    }
    pages.push(page.finish());
    let opts = PdfSaveOptions {
        subset_fonts: true,
        ..Default::default()
    };
    let mut warnings = Vec::new();
    let bytes = doc.with_pages(pages).save(&opts, &mut warnings);
    crate::fsio::write_atomic(path, &bytes).map_err(|e| BidFileError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bidfile::BidderIds;
    use crate::opening::OpeningCheck;

    #[test]
    fn the_pdf_report_reads_back_in_chinese_with_pdftotext() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut reports = Vec::new();
        for i in 0..12 {
            let mut r = BidOpeningReport::new(Path::new("不存在.bidseal"));
            r.bidder = Some(BidderIds {
                name: format!("华夏建设工程有限公司{i}"),
                credit_code: "9111010871526726X9".into(),
            });
            r.price.insert("price".into(), "4321000.50".into());
            r.push(OpeningCheck::fail(
                "envelope",
                "数字信封",
                "E_ENV_TAMPERED",
                "投标文件已被篡改：".repeat(12),
            ));
            reports.push(r);
        }
        let path = dir.path().join("报告.pdf");
        let form = [crate::tender::PriceFormField {
            key: "price".into(),
            label: "投标总价".into(),
            kind: crate::tender::FieldKind::Money,
            unit: Some("元".into()),
            required: true,
            max: None,
        }];
        write_report_pdf(&path, "开标记录", "2026-11-29", &reports, &form, &|t| {
            t.to_string()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let out = std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .unwrap_or_else(|e| panic!("pdftotext is required (scripts/setup.sh): {e}"));
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("开标记录"), "{text}");
        assert!(
            text.contains("华夏建设工程有限公司11"),
            "all bids, over several pages: {text}"
        );
        assert!(text.contains("E_ENV_TAMPERED"), "{text}");
        // The price as read out at the opening: label and unit, not the manifest's key=value.
        assert!(text.contains("投标总价 4321000.50 元"), "{text}");
        assert!(!text.contains("price="), "{text}");
        let info = std::process::Command::new("pdfinfo")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("pdfinfo is required: {e}"));
        assert!(
            info.status.success(),
            "pdfinfo: {}",
            String::from_utf8_lossy(&info.stderr)
        );
        let info = String::from_utf8_lossy(&info.stdout);
        let pages: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("pdfinfo shows no page count: {info}"));
        assert!(
            pages >= 2,
            "12 bids need several pages, got {pages}: {info}"
        );
        // pdftotext ends every page with a form feed: the text really spans those pages.
        assert_eq!(text.matches('\u{c}').count(), pages, "{text}");
    }
}
