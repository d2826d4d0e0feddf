//! Numbers, money and dates for a viewer: separators, grouping, currency placement and date order come from the
//! viewer's locale (glibc's locale data, through `pure-rust-locales`, the same data chrono's localised dates
//! use), currency symbols and minor units from ISO 4217 (`iso_currency`), and dates are shown in the viewer's
//! time zone (`chrono-tz`).

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use pure_rust_locales::{Locale, locale_match};
use serde::Deserialize;

/// How a chart's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberStyle {
    /// Plain numbers: grouped, up to two decimals.
    #[default]
    Number,
    /// Amounts of `currency`, with its minor units.
    Money,
    /// Values already in percent (42.5 reads "42.5%").
    Percent,
}

/// Formats values for one viewer.
#[derive(Debug, Clone)]
pub struct Formatter {
    pub(crate) locale: Locale,
    pub(crate) tz: Tz,
    pub(crate) style: NumberStyle,
    pub(crate) currency: String,
}

impl Formatter {
    /// A formatter for a BCP 47 language tag (`de-DE`, `en`, `pt-BR`) and an IANA time zone; unknown tags read as
    /// `en-US` and unknown zones as UTC.
    pub fn new(language: &str, time_zone: &str) -> Self {
        Formatter {
            locale: locale_for(language).unwrap_or(Locale::en_US),
            tz: Tz::from_str(time_zone).unwrap_or(Tz::UTC),
            style: NumberStyle::Number,
            currency: String::new(),
        }
    }

    /// A formatter for the first language of an `Accept-Language` header that has locale data.
    pub fn from_accept_language(header: &str, time_zone: &str) -> Self {
        let mut tags: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut bits = part.split(';');
                let tag = bits.next()?.trim();
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (!tag.is_empty() && tag != "*").then_some((q, tag))
            })
            .collect();
        tags.sort_by(|a, b| b.0.total_cmp(&a.0));
        let language = tags.iter().map(|(_, t)| *t).find(|t| locale_for(t).is_some()).unwrap_or("en-US");
        Formatter::new(language, time_zone)
    }

    /// The locale's name in BCP 47 form (`de-DE`).
    pub fn language(&self) -> String {
        format!("{:?}", self.locale).replace('_', "-")
    }

    /// The time zone's IANA name.
    pub fn time_zone(&self) -> &'static str {
        self.tz.name()
    }

    /// A value in full, in the formatter's style.
    pub fn value(&self, v: f64) -> String {
        match self.style {
            NumberStyle::Number => self.number(v, 2, false),
            NumberStyle::Percent => format!("{}%", self.number(v, 1, false)),
            NumberStyle::Money => self.money(v, self.minor_units(), true, false),
        }
    }

    /// A value shortened for an axis or the middle of a donut: 12.3k, 4.5M, 1.2B (money keeps its symbol).
    pub fn short(&self, v: f64) -> String {
        let (scaled, suffix) = match v.abs() {
            a if a >= 1e9 => (v / 1e9, "B"),
            a if a >= 1e6 => (v / 1e6, "M"),
            a if a >= 1e4 => (v / 1e3, "k"),
            _ => (v, ""),
        };
        let digits = if suffix.is_empty() { 2 } else { 1 };
        match self.style {
            NumberStyle::Percent => format!("{}%", self.number(v, 1, false)),
            NumberStyle::Money if suffix.is_empty() && v.fract() == 0.0 => self.money(v, 0, true, false),
            NumberStyle::Money if suffix.is_empty() => self.money(v, self.minor_units(), true, false),
            NumberStyle::Money => self.money(scaled, digits, false, true).replacen('\u{1}', suffix, 1),
            NumberStyle::Number => format!("{}{suffix}", self.number(scaled, digits, false)),
        }
    }

    /// A point in time (milliseconds since the epoch) as the locale writes a date, in the viewer's zone.
    pub fn date(&self, millis: i64) -> String {
        match Utc.timestamp_millis_opt(millis).single() {
            Some(t) => t.with_timezone(&self.tz).format_localized("%x", chrono_locale(self.locale)).to_string(),
            None => String::new(),
        }
    }

    fn minor_units(&self) -> usize {
        iso_currency::Currency::from_code(&self.currency).and_then(|c| c.exponent()).map(usize::from).unwrap_or(2)
    }

    /// `v` with `digits` decimals (trailing zeros dropped unless `fixed`), the locale's decimal point and grouping.
    fn number(&self, v: f64, digits: usize, fixed: bool) -> String {
        let point = locale_match!(self.locale => LC_NUMERIC::DECIMAL_POINT);
        let sep = locale_match!(self.locale => LC_NUMERIC::THOUSANDS_SEP);
        let grouping = locale_match!(self.locale => LC_NUMERIC::GROUPING);
        compose(v, digits, fixed, point, sep, grouping)
    }

    /// An amount with the currency symbol placed as the locale places it, with `digits` decimals (trailing zeros
    /// dropped unless `fixed`). With `marked`, a `\u{1}` follows the digits so a caller can put a magnitude suffix
    /// between the digits and the symbol.
    fn money(&self, v: f64, digits: usize, fixed: bool, marked: bool) -> String {
        let point = locale_match!(self.locale => LC_MONETARY::MON_DECIMAL_POINT);
        let sep = locale_match!(self.locale => LC_MONETARY::MON_THOUSANDS_SEP);
        let grouping = locale_match!(self.locale => LC_MONETARY::MON_GROUPING);
        let precedes = locale_match!(self.locale => LC_MONETARY::P_CS_PRECEDES) == 1;
        let spaced = locale_match!(self.locale => LC_MONETARY::P_SEP_BY_SPACE) == 1;
        let own = locale_match!(self.locale => LC_MONETARY::INT_CURR_SYMBOL).trim();
        let symbol = if self.currency.is_empty() || self.currency.eq_ignore_ascii_case(own) {
            locale_match!(self.locale => LC_MONETARY::CURRENCY_SYMBOL).to_string()
        } else {
            match iso_currency::Currency::from_code(&self.currency.to_ascii_uppercase()) {
                Some(c) => c.symbol().symbol,
                None => self.currency.clone(),
            }
        };
        let digits_text = compose(v.abs(), digits, fixed, point, sep, grouping);
        let digits_text = if marked { format!("{digits_text}\u{1}") } else { digits_text };
        let gap = if spaced || symbol.bytes().all(|b| b.is_ascii_alphabetic()) { "\u{a0}" } else { "" };
        let body = if precedes { format!("{symbol}{gap}{digits_text}") } else { format!("{digits_text}{gap}{symbol}") };
        if v < 0.0 && digits_text.chars().any(|c| c.is_ascii_digit() && c != '0') { format!("-{body}") } else { body }
    }
}

/// A formatted number from its parts.
fn compose(v: f64, digits: usize, fixed: bool, point: &str, sep: &str, grouping: &[i64]) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let text = format!("{:.*}", digits, v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = if fixed { frac } else { frac.trim_end_matches('0') };
    let mut out = String::new();
    if v < 0.0 && (int.bytes().any(|b| b != b'0') || frac.bytes().any(|b| b != b'0')) {
        out.push('-');
    }
    out.push_str(&group(int, sep, grouping));
    if !frac.is_empty() {
        out.push_str(point);
        out.push_str(frac);
    }
    out
}

/// Inserts `sep` into a string of digits as glibc's grouping rule says: the first size counts from the right,
/// each later size applies once, the last repeats, and zero or a negative size stops grouping.
fn group(int: &str, sep: &str, grouping: &[i64]) -> String {
    if sep.is_empty() || grouping.is_empty() {
        return int.to_string();
    }
    let digits: Vec<char> = int.chars().collect();
    let mut groups: Vec<String> = Vec::new();
    let mut end = digits.len();
    let mut sizes = grouping.iter().copied();
    let mut size = sizes.next().unwrap_or(0);
    while end > 0 {
        if size <= 0 || size as usize >= end {
            groups.push(digits[..end].iter().collect());
            break;
        }
        let start = end - size as usize;
        groups.push(digits[start..end].iter().collect());
        end = start;
        if let Some(next) = sizes.next() {
            size = next;
        }
    }
    groups.reverse();
    groups.join(sep)
}

/// Percent text for a gauge.
pub(crate) fn percent(v: f64, fmt: &Formatter) -> String {
    Formatter { style: NumberStyle::Percent, ..fmt.clone() }.value(v.round())
}

/// The locale for a BCP 47 tag, if there is data for it: `de-DE` → `de_DE`, a bare language takes its usual
/// country (`de` → `de_DE`, `en` → `en_US`).
fn locale_for(tag: &str) -> Option<Locale> {
    let mut parts = tag.trim().split(['-', '_']);
    let language = parts.next()?.to_ascii_lowercase();
    if language.is_empty() || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let region = parts.find(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_alphabetic()));
    if let Some(region) = region
        && let Ok(l) = Locale::from_str(&format!("{language}_{}", region.to_ascii_uppercase()))
    {
        return Some(l);
    }
    let usual = match language.as_str() {
        "en" => "US",
        "ja" => "JP",
        "zh" => "CN",
        "ko" => "KR",
        "sv" => "SE",
        "da" => "DK",
        "nb" | "no" => "NO",
        "cs" => "CZ",
        "el" => "GR",
        "uk" => "UA",
        "he" => "IL",
        "hi" => "IN",
        "ar" => "SA",
        "pt" => "BR",
        other => return Locale::from_str(&format!("{other}_{}", other.to_ascii_uppercase())).ok(),
    };
    Locale::from_str(&format!("{language}_{usual}")).ok()
}

/// chrono's locale of the same name (chrono re-exports the same enum; the conversion goes through the name so a
/// version skew between the two cannot silently mismatch).
fn chrono_locale(l: Locale) -> chrono::Locale {
    chrono::Locale::from_str(&format!("{l:?}")).unwrap_or(chrono::Locale::en_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_and_point_as_the_locale_does() {
        let us = Formatter::new("en-US", "UTC");
        assert_eq!(us.value(1234567.891), "1,234,567.89");
        assert_eq!(us.value(-0.001), "0");
        assert_eq!(us.value(12.0), "12");
        assert_eq!(Formatter::new("de", "UTC").value(1234567.5), "1.234.567,5");
        // India groups by three, then by two.
        assert_eq!(Formatter::new("en-IN", "UTC").value(12345678.0), "1,23,45,678");
        assert_eq!(us.short(12345.0), "12.3k");
        assert_eq!(Formatter::new("fr-FR", "UTC").short(2_500_000.0), "2,5M");
    }

    #[test]
    fn money_places_the_symbol_and_minor_units_by_locale_and_currency() {
        let money = |lang: &str, cur: &str, v: f64| {
            Formatter { style: NumberStyle::Money, currency: cur.into(), ..Formatter::new(lang, "UTC") }.value(v)
        };
        assert_eq!(money("en-US", "USD", 1234.5), "$1,234.50");
        assert_eq!(money("en-US", "EUR", -1234.5), "-€1,234.50");
        assert_eq!(money("de-DE", "EUR", 1234.5), "1.234,50\u{a0}€");
        assert_eq!(money("en-US", "JPY", 1234.0), "¥1,234");
        assert_eq!(money("en-US", "XYZ", 5.0), "XYZ\u{a0}5.00");
        let short = Formatter { style: NumberStyle::Money, currency: "EUR".into(), ..Formatter::new("de-DE", "UTC") };
        assert_eq!(short.short(2_500_000.0), "2,5M\u{a0}€");
    }

    #[test]
    fn accept_language_picks_the_best_known_language() {
        assert_eq!(Formatter::from_accept_language("xx-YY, de-CH;q=0.9, en;q=0.8", "UTC").language(), "de-CH");
        assert_eq!(Formatter::from_accept_language("fr;q=0.2, nl-NL;q=0.7", "UTC").language(), "nl-NL");
        assert_eq!(Formatter::from_accept_language("", "Nowhere/Else").language(), "en-US");
        assert_eq!(Formatter::from_accept_language("", "Nowhere/Else").time_zone(), "UTC");
    }
}
