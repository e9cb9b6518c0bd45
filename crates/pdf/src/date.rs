//! Dates as PDF writes them (`D:YYYYMMDDHHmmSS` with `Z` or `+HH'mm'`) and as BidSeal shows
//! them to people: Beijing time (UTC+8) to the second, `2026-12-01 16:06:58（北京时间）`.
//!
//! Guarantees: pure arithmetic on the proleptic Gregorian calendar (no time zone database, no
//! clock); a date that does not read as a PDF date is `None`, never a guess. Does not: accept
//! dates before year 1 or after 9999.

/// Year, month, day of `days` since 1970-01-01 (H. Hinnant's civil-from-days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m as u32, d as u32)
}

/// Days since 1970-01-01 of a civil date (days-from-civil).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day, hour, minute, second)` in UTC of Unix seconds.
pub fn utc_parts(unix: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (days, rem) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Unix seconds as `2026-12-01 16:53:00（北京时间）` (China Standard Time, UTC+8, no fractions).
pub fn format_beijing(unix: i64) -> String {
    let Some(local) = unix.checked_add(8 * 3600) else {
        return unix.to_string();
    };
    let (y, m, d, hh, mm, ss) = utc_parts(local);
    if !(1..=9999).contains(&y) {
        return unix.to_string();
    }
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}（北京时间）")
}

/// Unix seconds of a PDF date (`D:20261201160658Z`, `D:20261201160658+08'00'`, `D:2026`…;
/// missing fields default as ISO 32000-1 §7.9.4 says; no offset means UTC). `None` if the
/// text is not a PDF date or names an impossible date.
pub fn parse_pdf_date(text: &str) -> Option<i64> {
    let s = text.trim();
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 4 || digits % 2 != 0 || digits > 14 {
        return None;
    }
    let field = |from: usize, default: u32| -> Option<u32> {
        if from + 2 <= digits {
            s.get(from..from + 2)?.parse().ok()
        } else {
            Some(default)
        }
    };
    let year: i64 = s.get(0..4)?.parse().ok()?;
    let (month, day) = (field(4, 1)?, field(6, 1)?);
    let (hour, minute, second) = (field(8, 0)?, field(10, 0)?, field(12, 0)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let rest = s.get(digits..)?;
    let offset = match rest.chars().next() {
        None | Some('Z') => 0,
        Some(sign @ ('+' | '-')) => {
            let tz: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
            let h: i64 = tz.get(0..2)?.parse().ok()?;
            let m: i64 = tz.get(2..4).map_or(Some(0), |m| m.parse().ok())?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if sign == '+' {
                secs
            } else {
                -secs
            }
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset,
    )
}

/// A PDF date as people read it: Beijing time, or the text as written when it is not a date.
pub fn display_pdf_date(text: &str) -> String {
    parse_pdf_date(text).map_or_else(|| text.to_string(), format_beijing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates_read_as_beijing_time() {
        // 2026-12-01 16:06:58 UTC is 2026-12-02 00:06:58 in Beijing (the day changes).
        assert_eq!(
            display_pdf_date("D:20261201160658Z"),
            "2026-12-02 00:06:58（北京时间）"
        );
        assert_eq!(
            parse_pdf_date("D:20261202000658+08'00'"),
            parse_pdf_date("D:20261201160658Z")
        );
        assert_eq!(
            parse_pdf_date("D:20261201110658-05'00"),
            parse_pdf_date("D:20261201160658Z")
        );
        assert_eq!(parse_pdf_date("D:1970"), Some(0));
        assert_eq!(parse_pdf_date("19700101000001"), Some(1));
        assert_eq!(parse_pdf_date("D:20240229120000Z"), Some(1_709_208_000));
        for bad in [
            "",
            "D:",
            "D:202",
            "D:20230229120000Z",
            "D:20261301000000Z",
            "D:20261200000000Z",
            "D:20261201240000Z",
            "D:20261201160658X",
            "D:20261201160658+24'00'",
            "D:2026120116065",
            "yesterday",
        ] {
            assert_eq!(parse_pdf_date(bad), None, "{bad}");
        }
        assert_eq!(display_pdf_date("yesterday"), "yesterday");
    }

    #[test]
    fn round_trip_with_the_writer() {
        for unix in [0_i64, 951_782_400, 1_796_115_180, 4_102_444_799] {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix as u64);
            assert_eq!(parse_pdf_date(&crate::seal::pdf_date(t)), Some(unix));
        }
        assert_eq!(
            format_beijing(1_796_115_180),
            "2026-12-01 16:53:00（北京时间）"
        );
        assert_eq!(format_beijing(i64::MAX), i64::MAX.to_string());
    }
}
