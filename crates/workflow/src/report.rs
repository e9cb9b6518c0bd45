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
use bidseal_bid::time::{OffsetDateTime, UtcOffset};
use std::path::Path;

/// Unix seconds as `2026-12-01 16:53:00（北京时间）`, how BidSeal shows a time to people (China
/// Standard Time, UTC+8, no fractions); an out-of-range value is shown as the number.
pub fn format_beijing(unix: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format_beijing_time(t),
        Err(_) => unix.to_string(),
    }
}

/// A time as [`format_beijing`] shows it, whatever offset it carries.
pub fn format_beijing_time(t: OffsetDateTime) -> String {
    let Ok(beijing) = UtcOffset::from_hms(8, 0, 0) else {
        return t.unix_timestamp().to_string();
    };
    let t = t.to_offset(beijing);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}（北京时间）",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
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

/// Writes the reports as a Chinese PDF (开标记录) stamped with the current Beijing time,
/// atomically.
pub fn write_pdf_report(
    path: &Path,
    reports: &[BidOpeningReport],
    form: &[PriceFormField],
) -> Result<(), FlowError> {
    let stamp = format_beijing_time(OffsetDateTime::now_utc());
    bidseal_bid::opening::report_pdf::write_report_pdf(
        path,
        "开标记录（BidSeal 扫码解密与验证）",
        &format!("生成时间：{stamp}"),
        reports,
        form,
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
}
