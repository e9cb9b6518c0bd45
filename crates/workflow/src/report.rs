//! The opening report as people read it (开标记录): the result table, the JSON and PDF files,
//! and times in Beijing time. Shared by `bidseal open`, `bidseal demo`, `project
//! trial-decrypt` and the desktop's hall view, so the same bid reads the same everywhere.
//!
//! Guarantees: prices carry the labels and units of the tender's price form (投标总价 4321000.50
//! 元), never the manifest's `key=value`; times are Beijing time (UTC+8) to the second, never
//! raw UTC with fractions; files are written atomically. Does not: decide whether a bid passed
//! (`bidseal_bid::opening` does) or sign the report.

use crate::FlowError;
use bidseal_bid::opening::BidOpeningReport;
use bidseal_bid::tender::PriceFormField;
use bidseal_bid::time::OffsetDateTime;
use std::path::Path;

/// Unix seconds as `2026-12-01 16:53:00（北京时间）`, how BidSeal shows a time to people (China
/// Standard Time, UTC+8, no fractions); an out-of-range value is shown as the number. The one
/// implementation is `bidseal_pdf::date` (also used for the signing times of PDF signatures).
pub fn format_beijing(unix: i64) -> String {
    bidseal_pdf::date::format_beijing(unix)
}

/// A time as [`format_beijing`] shows it, whatever offset it carries.
pub fn format_beijing_time(t: OffsetDateTime) -> String {
    format_beijing(t.unix_timestamp())
}

/// The result table, one line per entry: a heading, then per bid its number, file, bidder,
/// labelled prices and verdict, then every check indented under it.
pub fn opening_table(reports: &[BidOpeningReport], form: &[PriceFormField]) -> Vec<String> {
    let mut lines = vec![format!("开标结果（{} 份投标文件）", reports.len())];
    for (i, r) in reports.iter().enumerate() {
        let price = r.price_texts(form);
        lines.push(format!(
            "{}. {} 投标人：{} 报价：{} 结论：{}",
            i + 1,
            r.bid_file,
            r.bidder_text(),
            if price.is_empty() {
                "-".into()
            } else {
                price.join("，")
            },
            r.verdict_text()
        ));
        lines.extend(r.checks.iter().map(|c| format!("   {}", c.line())));
    }
    lines
}

/// `report` with its checks' names and details in `lang`, for people (a window, a printed
/// table); data — bidder, file names, prices — and the codes as they are. The JSON record keeps
/// the zh-CN texts (write it from the report itself).
pub fn checks_in(lang: crate::i18n::Lang, mut report: BidOpeningReport) -> BidOpeningReport {
    for c in &mut report.checks {
        c.name = crate::i18n::error_text(lang, None, &c.name);
        c.detail = crate::i18n::error_text(lang, c.code.as_deref(), &c.detail);
    }
    report
}

/// Writes the reports as JSON (the schema of `BidOpeningReport`, docs/cli.md), atomically.
pub fn write_json_report(path: &Path, reports: &[BidOpeningReport]) -> Result<(), FlowError> {
    let json = serde_json::to_vec_pretty(reports).map_err(|e| FlowError::System {
        detail: format!("报告无法编码为 JSON：{e}"),
    })?;
    bidseal_bid::fsio::write_atomic(path, &json).map_err(|e| FlowError::WriteFailed {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// Writes the reports as a PDF (开标记录) stamped with the current Beijing time, atomically,
/// in the language of this process ([`crate::i18n::language`]: title, headings, verdicts and
/// the checks' words; data — bidder, file names, price labels — as it is).
pub fn write_pdf_report(
    path: &Path,
    reports: &[BidOpeningReport],
    form: &[PriceFormField],
) -> Result<(), FlowError> {
    write_pdf_report_in(crate::i18n::language(), path, reports, form)
}

/// [`write_pdf_report`] in `lang`.
fn write_pdf_report_in(
    lang: crate::i18n::Lang,
    path: &Path,
    reports: &[BidOpeningReport],
    form: &[PriceFormField],
) -> Result<(), FlowError> {
    let words = |text: &str| crate::i18n::error_text(lang, None, text);
    let stamp = format_beijing_time(OffsetDateTime::now_utc());
    bidseal_bid::opening::report_pdf::write_report_pdf(
        path,
        &words("开标记录（BidSeal 扫码解密与验证）"),
        &words(&format!("生成时间：{stamp}")),
        reports,
        form,
        &words,
    )
    .map_err(FlowError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bidseal_bid::bidfile::BidderIds;
    use bidseal_bid::opening::OpeningCheck;
    use bidseal_bid::tender::FieldKind;

    fn form() -> Vec<PriceFormField> {
        vec![
            PriceFormField {
                key: "price".into(),
                label: "投标总价".into(),
                kind: FieldKind::Money,
                unit: Some("元".into()),
                required: true,
                max: None,
            },
            PriceFormField {
                key: "duration".into(),
                label: "工期".into(),
                kind: FieldKind::Integer,
                unit: Some("日历天".into()),
                required: true,
                max: None,
            },
        ]
    }

    #[test]
    fn beijing_time_to_the_second() {
        // 2026-12-01T08:53:00Z is 16:53 in Beijing.
        assert_eq!(
            format_beijing(1_796_115_180),
            "2026-12-01 16:53:00（北京时间）"
        );
        assert_eq!(format_beijing(i64::MAX), i64::MAX.to_string());
        let with_nanos =
            OffsetDateTime::from_unix_timestamp_nanos(1_796_115_180_123_456_789).expect("in range");
        assert_eq!(
            format_beijing_time(with_nanos),
            "2026-12-01 16:53:00（北京时间）"
        );
    }

    #[test]
    fn the_table_reads_labels_and_units_not_key_value() {
        let mut r = BidOpeningReport::new(Path::new("甲.bsbid"));
        r.bidder = Some(BidderIds {
            name: "华夏建设工程有限公司".into(),
            credit_code: "9111010871526726X9".into(),
        });
        r.price.insert("price".into(), "4321000.50".into());
        r.price.insert("duration".into(), "300".into());
        r.price.insert("note".into(), "无".into());
        r.push(OpeningCheck::fail(
            "envelope",
            "数字信封",
            "E_ENV_TAMPERED",
            "已被篡改",
        ));
        let text = opening_table(&[r], &form()).join("\n");
        assert!(text.contains("开标结果（1 份投标文件）"), "{text}");
        assert!(text.contains("投标总价 4321000.50 元"), "{text}");
        assert!(text.contains("工期 300 日历天"), "{text}");
        assert!(text.contains("note：无"), "{text}");
        assert!(!text.contains('='), "{text}");
        assert!(
            text.contains("[失败] 数字信封：已被篡改（E_ENV_TAMPERED）"),
            "{text}"
        );
        assert!(text.contains("结论：不通过"), "{text}");
    }

    /// The report PDF in English: title, headings, verdicts and the failed checks' words are
    /// English (read back with pdftotext); only data (bidder, file, price labels) is Chinese.
    /// zh-CN stays as it was.
    #[test]
    fn the_pdf_report_speaks_the_chosen_language() {
        use crate::i18n::Lang;
        let dir = std::env::temp_dir().join(format!("bidseal-report-en-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut r = BidOpeningReport::new(Path::new("甲.bsbid"));
        r.bidder = Some(BidderIds {
            name: "华夏建设工程有限公司".into(),
            credit_code: "9111010871526726X9".into(),
        });
        r.price.insert("price".into(), "4321000.50".into());
        r.push(OpeningCheck::fail(
            "pdf:投标文件.pdf",
            "PDF 签章 投标文件.pdf",
            "OPEN_PDF_UNSIGNED",
            "文件没有任何签章",
        ));
        r.push(OpeningCheck::fail(
            "hash:附件.pdf",
            "文件摘要 附件.pdf",
            "OPEN_HASH_MISMATCH",
            "文件已被篡改：SHA-256 为 ab12，清单中为 cd34",
        ));
        let read = |lang: Lang| {
            let path = dir.join(format!("{lang:?}.pdf"));
            write_pdf_report_in(lang, &path, std::slice::from_ref(&r), &form()).expect("write");
            let out = std::process::Command::new("pdftotext")
                .arg(&path)
                .arg("-")
                .output()
                .expect("pdftotext");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let en = read(Lang::En);
        let data = "华夏建设工程有限公司 甲.bsbid 投标总价 元 投标文件.pdf 附件.pdf";
        let mut foreign = Vec::new();
        let mut run = String::new();
        for c in en.chars().chain(['\n']) {
            if ('\u{3400}'..='\u{9fff}').contains(&c) {
                run.push(c);
            } else if !run.is_empty() {
                if !data.contains(run.as_str()) {
                    foreign.push(std::mem::take(&mut run));
                }
                run.clear();
            }
        }
        assert!(foreign.is_empty(), "not data: {foreign:?}\n{en}");
        let en = en.split_whitespace().collect::<Vec<_>>().join(" ");
        for part in [
            "Opening record",
            "bidder: 华夏建设工程有限公司",
            "verdict: FAILED",
            "the file has no seal at all (OPEN_PDF_UNSIGNED)",
            "its SHA-256 is ab12, the manifest says cd34",
            "(Beijing time)",
        ] {
            assert!(en.contains(part), "{part}: {en}");
        }
        let zh = read(Lang::ZhCn);
        assert!(zh.contains("开标记录"), "{zh}");
        assert!(zh.contains("结论：不通过"), "{zh}");
        assert!(zh.contains("文件没有任何签章（OPEN_PDF_UNSIGNED）"), "{zh}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
