//! Bid-form values (投标函): parsing and normalising what the bidder types for each price-form
//! field, the bidder's unified social credit code, and the amount in Chinese capitals
//! (大写金额) that a 投标函 prints beside the figures.
//!
//! Guarantees: a value accepted here is in canonical form (money as `123.40`, integers without
//! leading zeros) and within the tender's `max`. Does not: know about projects or files.

use crate::tender::{FieldKind, PriceFormField};

/// Why a value was refused (zh-CN, shown as is).
pub type FormRefusal = String;

/// Money in fen (1/100 yuan).
fn parse_money_fen(s: &str) -> Option<u64> {
    let s: String = s
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '，')
        .collect();
    let s = s
        .strip_prefix('¥')
        .or_else(|| s.strip_prefix('￥'))
        .unwrap_or(&s)
        .to_string();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), f.to_string()),
        None => (s.clone(), String::new()),
    };
    if int.is_empty() || int.len() > 15 || frac.len() > 2 {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let yuan: u64 = int.parse().ok()?;
    let mut fen: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    if frac.len() == 1 {
        fen *= 10;
    }
    yuan.checked_mul(100)?.checked_add(fen)
}

fn fen_to_string(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Normalises `raw` for `field`, or says why not.
pub fn normalise(field: &PriceFormField, raw: &str) -> Result<String, FormRefusal> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(format!("“{}”不能为空", field.label));
    }
    match field.kind {
        FieldKind::Money => {
            let fen = parse_money_fen(raw).ok_or_else(|| {
                format!("“{}”应为金额（元，最多两位小数），收到“{raw}”", field.label)
            })?;
            if fen == 0 {
                return Err(format!("“{}”必须大于 0", field.label));
            }
            if let Some(max) = field.max.as_deref().and_then(parse_money_fen) {
                if fen > max {
                    return Err(format!(
                        "“{}”{} 元超过最高限价 {} 元",
                        field.label,
                        fen_to_string(fen),
                        fen_to_string(max)
                    ));
                }
            }
            Ok(fen_to_string(fen))
        }
        FieldKind::Integer => {
            let v: u64 = raw
                .parse()
                .map_err(|_| format!("“{}”应为整数，收到“{raw}”", field.label))?;
            if let Some(max) = field.max.as_deref().and_then(|m| m.parse::<u64>().ok()) {
                if v > max {
                    return Err(format!("“{}”{v} 超过上限 {max}", field.label));
                }
            }
            Ok(v.to_string())
        }
        FieldKind::Text => {
            if raw.chars().count() > 200 || raw.chars().any(char::is_control) {
                return Err(format!("“{}”应为不超过 200 字的单行文字", field.label));
            }
            Ok(raw.to_string())
        }
    }
}

/// 大写金额 for a canonical money value (`1234.50` → `壹仟贰佰叁拾肆元伍角整`).
pub fn money_in_capitals(canonical: &str) -> Option<String> {
    const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
    const SMALL: [&str; 4] = ["", "拾", "佰", "仟"];
    const BIG: [&str; 4] = ["", "万", "亿", "万亿"];
    let fen = parse_money_fen(canonical)?;
    let (yuan, jiao, fen_d) = (fen / 100, (fen / 10) % 10, fen % 10);
    let mut out = String::new();
    if yuan > 0 {
        // Split into groups of four digits, most significant first.
        let mut groups = Vec::new();
        let mut y = yuan;
        while y > 0 {
            groups.push(y % 10_000);
            y /= 10_000;
        }
        let mut pending_zero = false;
        for (gi, g) in groups.iter().enumerate().rev() {
            if *g == 0 {
                pending_zero = !out.is_empty();
                continue;
            }
            if pending_zero || (!out.is_empty() && *g < 1000) {
                out.push('零');
            }
            pending_zero = false;
            let mut zero_run = false;
            let mut started = false;
            for pos in (0..4).rev() {
                let d = (g / 10u64.pow(pos as u32)) % 10;
                if d == 0 {
                    zero_run = started;
                    continue;
                }
                if zero_run {
                    out.push('零');
                    zero_run = false;
                }
                out.push(DIGITS[d as usize]);
                out.push_str(SMALL[pos]);
                started = true;
            }
            out.push_str(BIG.get(gi).copied().unwrap_or(""));
        }
        out.push('元');
    }
    if jiao == 0 && fen_d == 0 {
        if out.is_empty() {
            out.push_str("零元");
        }
        out.push('整');
        return Some(out);
    }
    if jiao > 0 {
        out.push(DIGITS[jiao as usize]);
        out.push('角');
    } else if yuan > 0 {
        out.push('零');
    }
    if fen_d > 0 {
        out.push(DIGITS[fen_d as usize]);
        out.push('分');
    } else {
        out.push('整');
    }
    Some(out)
}

/// Checks a 统一社会信用代码 (GB 32100-2015: 18 characters, check character last).
pub fn check_credit_code(code: &str) -> Result<String, FormRefusal> {
    const CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let code = code.trim().to_ascii_uppercase();
    let values: Option<Vec<u32>> = code
        .chars()
        .map(|c| CHARSET.find(c).map(|i| i as u32))
        .collect();
    let refuse = || format!("统一社会信用代码“{code}”无效：应为 18 位且校验位正确，请核对营业执照");
    let values = values.ok_or_else(refuse)?;
    if values.len() != 18 {
        return Err(refuse());
    }
    let sum: u32 = values.iter().zip(WEIGHTS.iter()).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    if values.last() != Some(&check) {
        return Err(refuse());
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(max: Option<&str>) -> PriceFormField {
        PriceFormField {
            key: "price".into(),
            label: "投标总价".into(),
            kind: FieldKind::Money,
            unit: Some("元".into()),
            required: true,
            max: max.map(String::from),
        }
    }

    #[test]
    fn money_is_normalised_and_capped() {
        assert_eq!(
            normalise(&money(None), "1,234,567.8").as_deref(),
            Ok("1234567.80")
        );
        assert_eq!(normalise(&money(None), "¥12").as_deref(), Ok("12.00"));
        assert!(normalise(&money(None), "12.345").is_err());
        assert!(normalise(&money(None), "-5").is_err());
        assert!(normalise(&money(Some("1000000")), "1000000.01").is_err());
        assert!(normalise(&money(Some("1000000")), "1000000").is_ok());
    }

    #[test]
    fn capitals_read_like_a_bank_cheque() {
        assert_eq!(
            money_in_capitals("1234567.80").as_deref(),
            Some("壹佰贰拾叁万肆仟伍佰陆拾柒元捌角整")
        );
        assert_eq!(
            money_in_capitals("100000000.00").as_deref(),
            Some("壹亿元整")
        );
        assert_eq!(
            money_in_capitals("10005.05").as_deref(),
            Some("壹万零伍元零伍分")
        );
        assert_eq!(money_in_capitals("0.30").as_deref(), Some("叁角整"));
        assert_eq!(
            money_in_capitals("20030000.00").as_deref(),
            Some("贰仟零叁万元整")
        );
    }

    #[test]
    fn credit_code_check_digit() {
        // A well-formed code (check character computed per GB 32100) and a one-character typo.
        assert!(check_credit_code("91350100M000100Y43").is_ok());
        assert!(check_credit_code("91350100M000100Y44").is_err());
        assert!(check_credit_code("9135").is_err());
    }
}
