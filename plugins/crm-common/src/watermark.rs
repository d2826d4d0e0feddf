//! Where a pull of changed CRM records starts, and which pulled records are news.
//!
//! A pull asks for records modified since the watermark minus an overlap, in modification order, page by page.
//! The overlap catches a record whose edit committed during the previous pull with a modification time just
//! before that pull's last record (a CRM stamps the time an edit began, and its search index lags); the repeats it
//! brings are recognised by the modification time last applied to each record and skipped, so nothing is applied
//! twice. The watermark advances after each applied page to the newest time seen, so an interrupted pull resumes
//! where it stopped.

use chrono::{DateTime, SecondsFormat, Utc};

/// How far before the watermark a pull starts again.
pub const OVERLAP_MS: i64 = 5 * 60_000;

/// Where the next pull starts: the watermark minus the overlap, or the beginning when there is none (a first pull
/// of everything is an import, which the admin starts by hand: a scheduled pull with no watermark starts from
/// `first_pull_from`).
pub fn pull_from(watermark: Option<i64>, first_pull_from: i64) -> i64 {
    watermark.map_or(first_pull_from, |w| (w - OVERLAP_MS).max(0))
}

/// Whether a pulled record at `modified` is news, given the modification time last applied to it.
pub fn is_news(applied: Option<i64>, modified: i64) -> bool {
    applied.is_none_or(|a| modified > a)
}

/// The watermark after a page whose newest record was modified at `newest`.
pub fn advance(watermark: Option<i64>, newest: Option<i64>) -> Option<i64> {
    match (watermark, newest) {
        (Some(w), Some(n)) => Some(w.max(n)),
        (w, n) => w.or(n),
    }
}

/// Epoch milliseconds as the ISO 8601 UTC time CRMs take in queries (`2026-12-01T22:00:00.000Z`).
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An ISO 8601 time as a CRM writes it (`2026-12-01T22:00:00.000Z`, `2026-12-01T22:00:00.000+0000`,
/// `2026-12-01T22:00:00Z`) as epoch milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulls_overlap_and_skip_what_they_already_applied() {
        assert_eq!(pull_from(None, 7), 7);
        assert_eq!(pull_from(Some(1_000_000), 0), 1_000_000 - OVERLAP_MS);
        assert_eq!(pull_from(Some(10), 0), 0);
        assert!(is_news(None, 5));
        assert!(is_news(Some(4), 5));
        assert!(!is_news(Some(5), 5));
        assert_eq!(advance(Some(10), Some(7)), Some(10));
        assert_eq!(advance(Some(10), Some(12)), Some(12));
        assert_eq!(advance(None, Some(3)), Some(3));
        assert_eq!(advance(Some(3), None), Some(3));
    }

    #[test]
    fn times_read_as_each_crm_writes_them() {
        let t = parse_time("2026-12-01T22:00:00.000Z").unwrap();
        assert_eq!(parse_time("2026-12-01T22:00:00.000+0000"), Some(t));
        assert_eq!(parse_time("2026-12-01T23:00:00+01:00"), Some(t));
        assert_eq!(iso(t), "2026-12-01T22:00:00.000Z");
        assert_eq!(parse_time("yesterday"), None);
    }
}
