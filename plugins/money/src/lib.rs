//! Money in integer minor units with its currency: never a float. Amounts are parsed from what people type
//! ("12,500.50") and written back the same way; a currency's minor unit comes from ISO 4217 (two decimals unless
//! listed).

use serde::{Deserialize, Deserializer};

/// An amount as a JSON client sends it: text ("12,500.00") or a number (12500.5), kept as text for [`parse`] so
/// that no float ever holds money.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        _ => Err(serde::de::Error::custom("an amount is text like \"12500.00\" or a number")),
    }
}

/// Decimals of a currency's minor unit.
pub fn decimals(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "CLP" | "ISK" | "VND" | "XAF" | "XOF" | "UGX" | "PYG" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
}

/// A currency code as ISO 4217 writes it (three capital letters), or none.
pub fn currency(s: &str) -> Option<String> {
    let c = s.trim().to_ascii_uppercase();
    (c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase())).then_some(c)
}

/// A whole count as a form or a JSON client sends it: a number, its text, or nothing (empty).
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let bad = || serde::de::Error::custom("a count is a whole number like 40");
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or_else(bad),
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(None),
        serde_json::Value::String(s) => s.trim().replace(',', "").parse().map(Some).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Parses "12500", "12,500.5" or "12500.50" into minor units of `currency`; refuses more decimals than the
/// currency has, signs, and anything else, in words.
pub fn parse(s: &str, currency: &str) -> Result<i64, String> {
    let d = decimals(currency);
    let t: String = s.trim().chars().filter(|c| *c != ',' && *c != ' ' && *c != '_').collect();
    if t.is_empty() {
        return Err("Give an amount.".into());
    }
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t.as_str(), ""),
    };
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!("“{}” is not an amount: write it like 12,500.00.", s.trim()));
    }
    if frac.len() as u32 > d {
        return Err(format!("{currency} has {d} decimal{}.", if d == 1 { "" } else { "s" }));
    }
    let scale = 10_i64.pow(d);
    let w: i64 =
        if whole.is_empty() { 0 } else { whole.parse().map_err(|_| "That amount is too large.".to_string())? };
    let mut f: i64 =
        if frac.is_empty() { 0 } else { frac.parse().map_err(|_| "That amount is too large.".to_string())? };
    for _ in frac.len() as u32..d {
        f *= 10;
    }
    w.checked_mul(scale).and_then(|v| v.checked_add(f)).ok_or_else(|| "That amount is too large.".to_string())
}

/// Minor units written with thousands separators and the currency's decimals: "12,500.50 USD".
pub fn format(minor: i64, currency: &str) -> String {
    format!("{} {currency}", number(minor, currency))
}

/// The number alone, as a form field shows it: "12,500.50".
pub fn number(minor: i64, currency: &str) -> String {
    let d = decimals(currency);
    let scale = 10_i64.pow(d) as u64;
    let abs = minor.unsigned_abs();
    let whole = (abs / scale).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if minor < 0 { "-" } else { "" };
    if d == 0 {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{:0width$}", abs % scale, width = d as usize)
    }
}

/// `amount × pct / 100`, rounded down to the minor unit (a reimbursement never exceeds its share).
pub fn percent_of(amount: i64, pct: u32) -> i64 {
    ((i128::from(amount) * i128::from(pct)) / 100) as i64
}

/// `amount × bp / 10,000` (basis points: 250 is 2.5 %), rounded down to the minor unit.
pub fn basis_points_of(amount: i64, bp: u32) -> i64 {
    ((i128::from(amount) * i128::from(bp)) / 10_000) as i64
}

/// A percentage as people write it ("2.5", "4 %") in basis points (250), up to two decimals and at most 100 %.
pub fn percent_bp(s: &str) -> Option<u32> {
    let t = s.trim().trim_end_matches('%').trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() || frac.len() > 2 || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let bp = whole.parse::<u32>().ok()?.checked_mul(100)? + format!("{frac:0<2}").parse::<u32>().ok()?;
    (bp <= 10_000).then_some(bp)
}

/// An amount another plugin sent as a JSON number of major units (deal registration's `amount`) in minor units of
/// `currency`, rounded to the nearest; none for a negative, non-finite or absurd number.
pub fn from_major(amount: f64, currency: &str) -> Option<i64> {
    let minor = (amount * 10_f64.powi(decimals(currency) as i32)).round();
    (amount.is_finite() && amount >= 0.0 && minor < 9.0e15).then_some(minor as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_to_minor_units_and_back_without_floats() {
        assert_eq!(parse("12,500.50", "USD"), Ok(1_250_050));
        assert_eq!(parse("0.1", "EUR"), Ok(10));
        assert_eq!(parse("7", "JPY"), Ok(7));
        assert!(parse("1.5", "JPY").unwrap_err().contains("0 decimals"));
        assert!(parse("1.234", "USD").unwrap_err().contains("2 decimals"));
        assert!(parse("-5", "USD").unwrap_err().contains("not an amount"));
        assert!(parse("ten", "USD").is_err() && parse("", "USD").is_err());
        assert!(parse("99999999999999999999", "USD").unwrap_err().contains("too large"));
        assert_eq!(format(1_250_050, "USD"), "12,500.50 USD");
        assert_eq!(format(-5, "EUR"), "-0.05 EUR");
        assert_eq!(format(1_000_000, "JPY"), "1,000,000 JPY");
        assert_eq!(format(1_234, "KWD"), "1.234 KWD");
        // 0.1 + 0.2 in cents is exact.
        assert_eq!(parse("0.1", "USD").unwrap() + parse("0.2", "USD").unwrap(), parse("0.3", "USD").unwrap());
    }

    #[test]
    fn a_share_rounds_down() {
        assert_eq!(percent_of(999, 50), 499);
        assert_eq!(percent_of(1_000_000, 75), 750_000);
        assert_eq!(currency(" usd"), Some("USD".into()));
        assert_eq!(currency("US"), None);
    }

    #[test]
    fn rates_and_amounts_from_other_plugins() {
        assert_eq!(percent_bp("2.5"), Some(250));
        assert_eq!(percent_bp("4 %"), Some(400));
        assert_eq!(percent_bp("0.05"), Some(5));
        assert_eq!(percent_bp("100"), Some(10_000));
        assert_eq!(percent_bp("101"), None);
        assert_eq!(percent_bp("1.234"), None);
        assert_eq!(percent_bp("-1"), None);
        assert_eq!(basis_points_of(1_000_099, 250), 25_002);
        assert_eq!(from_major(48_000.0, "USD"), Some(4_800_000));
        assert_eq!(from_major(0.1 + 0.2, "USD"), Some(30));
        assert_eq!(from_major(1500.0, "JPY"), Some(1500));
        assert_eq!(from_major(-1.0, "USD"), None);
        assert_eq!(from_major(f64::NAN, "USD"), None);
    }
}
