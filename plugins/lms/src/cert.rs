//! Certifications: how long one is valid, where it stands (active, expiring, expired), when its holder is
//! reminded, and the code that lets anyone verify it.
//!
//! - Validity is counted in calendar months from the day of issue (issued 31 January for one month: valid to the
//!   end of 28 or 29 February, as a person would count it); none means it never expires.
//! - Expiring: within the renewal window (e.g. 60 days) before the expiry; expired from the expiry on. Renewing
//!   (completing again) issues a new certificate with a new code; the old one stays verifiable as what it was.
//! - Reminders go out at the start of the renewal window and a week before the expiry, once each.
//! - A verification code is 80 random bits, written as 16 Crockford base-32 characters in four groups
//!   (`7QF3-M9XT-R2BK-D4HN`): easy to read aloud and type, with the letters people confuse (I, L, O, U) left out and
//!   read as what they resemble.

use chrono::{DateTime, Datelike, Months, Utc};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// Where a certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Active,
    /// Inside the renewal window before the expiry.
    Expiring,
    Expired,
}

/// The expiry of a certificate issued at `issued` (epoch ms) and valid for `months` (none: never).
pub fn expires_at(issued: i64, months: Option<u32>) -> Option<i64> {
    let months = months.filter(|m| *m > 0)?;
    let issued = DateTime::<Utc>::from_timestamp_millis(issued)?;
    issued.checked_add_months(Months::new(months)).map(|t| t.timestamp_millis())
}

/// Where a certificate stands at `now`.
pub fn standing(now: i64, expires: Option<i64>, window_days: u32) -> Standing {
    match expires {
        None => Standing::Active,
        Some(e) if now >= e => Standing::Expired,
        Some(e) if now >= e - i64::from(window_days) * DAY_MS => Standing::Expiring,
        Some(_) => Standing::Active,
    }
}

/// The reminders a certificate gets before it expires: at the start of the renewal window, and a week before.
pub fn reminders(expires: Option<i64>, window_days: u32) -> Vec<i64> {
    let Some(e) = expires else { return Vec::new() };
    let mut at = vec![e - i64::from(window_days) * DAY_MS];
    if window_days > 7 {
        at.push(e - 7 * DAY_MS);
    }
    at
}

/// The first reminder due after `sent_up_to` and at or before `now`, if any: reminders a schedule missed are not
/// sent in a burst, only the latest.
pub fn due_reminder(expires: Option<i64>, window_days: u32, sent_up_to: Option<i64>, now: i64) -> Option<i64> {
    reminders(expires, window_days).into_iter().filter(|at| *at <= now && sent_up_to.is_none_or(|s| *at > s)).max()
}

/// Crockford's base-32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new verification code from 80 random bits.
pub fn new_code(random: [u8; 10]) -> String {
    let mut bits: u128 = 0;
    for b in random {
        bits = (bits << 8) | u128::from(b);
    }
    let chars: Vec<u8> = (0..16).rev().map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize]).collect();
    chars.chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
}

/// A code as typed (any case, with or without dashes or spaces, I and L for 1, O for 0), in its stored form; none
/// when it cannot be a code.
pub fn normalise_code(typed: &str) -> Option<String> {
    let mut out = Vec::new();
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'I' | 'L' => '1',
            'O' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c as u8);
    }
    (out.len() == 16)
        .then(|| out.chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-"))
}

/// A date for a certificate and its pages: `31 January 2027`.
pub fn long_date(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| format!("{} {} {}", t.day(), t.format("%B"), t.year()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn validity_counts_calendar_months() {
        assert_eq!(expires_at(at("2027-01-31T10:00:00Z"), Some(1)), Some(at("2027-02-28T10:00:00Z")));
        assert_eq!(expires_at(at("2027-03-15T00:00:00Z"), Some(24)), Some(at("2029-03-15T00:00:00Z")));
        assert_eq!(expires_at(at("2027-03-15T00:00:00Z"), None), None);
        assert_eq!(expires_at(at("2027-03-15T00:00:00Z"), Some(0)), None, "zero months is no expiry");
    }

    #[test]
    fn active_then_expiring_then_expired() {
        let e = Some(at("2027-12-31T00:00:00Z"));
        assert_eq!(standing(at("2027-10-31T23:59:59Z"), e, 60), Standing::Active);
        assert_eq!(standing(at("2027-11-01T00:00:00Z"), e, 60), Standing::Expiring, "60 days before");
        assert_eq!(standing(at("2027-12-30T23:59:59Z"), e, 60), Standing::Expiring);
        assert_eq!(standing(at("2027-12-31T00:00:00Z"), e, 60), Standing::Expired);
        assert_eq!(standing(i64::MAX, None, 60), Standing::Active);
    }

    #[test]
    fn reminders_come_once_each_and_a_missed_one_is_not_repeated() {
        let e = Some(at("2027-12-31T00:00:00Z"));
        let window = at("2027-11-01T00:00:00Z");
        let week = at("2027-12-24T00:00:00Z");
        assert_eq!(reminders(e, 60), vec![window, week]);
        assert_eq!(due_reminder(e, 60, None, window - 1), None);
        assert_eq!(due_reminder(e, 60, None, window), Some(window));
        assert_eq!(due_reminder(e, 60, Some(window), window + DAY_MS), None, "sent");
        assert_eq!(due_reminder(e, 60, Some(window), week), Some(week));
        assert_eq!(due_reminder(e, 60, None, week + 1), Some(week), "a schedule that missed both sends the latest");
        assert_eq!(due_reminder(None, 60, None, week), None);
        assert_eq!(reminders(e, 5), vec![at("2027-12-26T00:00:00Z")]);
    }

    #[test]
    fn codes_are_read_back_however_they_are_typed() {
        let code = new_code([0xff, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]);
        assert_eq!(code.len(), 19);
        assert_eq!(code.matches('-').count(), 3);
        assert!(code.chars().all(|c| c == '-' || ALPHABET.contains(&(c as u8))));
        assert_eq!(normalise_code(&code.to_lowercase().replace('-', " ")), Some(code.clone()));
        assert_eq!(normalise_code("o1il-0000-0000-0000"), Some("0111-0000-0000-0000".into()));
        assert_eq!(normalise_code("7QF3-M9XT-R2BK"), None, "too short");
        assert_eq!(normalise_code("7QF3-M9XT-R2BK-D4HU"), None, "U is not in the alphabet");
        assert_ne!(new_code([1; 10]), new_code([2; 10]));
        assert_eq!(long_date(at("2027-01-31T10:00:00Z")), "31 January 2027");
    }
}
