//! A failed CRM call, classified by what can be done about it, and when the work it was for is tried again.
//!
//! Nothing is dropped: a change that cannot be written waits in the sync log with its attempts and last error. An
//! outage backs off (30 s, doubling, at most an hour) for [`MAX_ATTEMPTS`] attempts and then waits for someone to
//! press retry; a rate limit waits as long as the CRM asked; an expired session is refreshed once and the call
//! retried once; bad credentials or a revoked grant pause every sync until the admin reconnects, after which the
//! waiting changes go out.

use chrono::DateTime;

/// Automatic attempts at a change before it waits for a manual retry.
pub const MAX_ATTEMPTS: u32 = 6;
/// The first back-off, doubled per attempt.
pub const FIRST_BACKOFF_MS: i64 = 30_000;
/// The longest back-off.
pub const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Why a CRM call failed. Messages are in words for the admin and never carry a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The access token expired or the session ended: refresh it and try once more.
    Expired,
    /// The connection is not set up (a setting or secret is missing): nothing syncs until the admin adds it.
    NotConfigured(String),
    /// The credentials are wrong or the grant was revoked: nothing syncs until the admin reconnects.
    Credentials(String),
    /// The connected user lacks a permission the call needs.
    Permission(String),
    /// Too many requests: wait this many milliseconds.
    RateLimited { wait_ms: i64, message: String },
    /// The CRM refused the data (a validation rule, a bad value): retrying the same data will not help.
    Rejected(String),
    /// The record is gone from the CRM.
    NotFound(String),
    /// The URL does not lead to the CRM (no such host, not its API).
    BadUrl(String),
    /// An outage, a timeout, a server error: worth trying again later.
    Unavailable(String),
}

impl Failure {
    /// What happened, in words.
    pub fn message(&self) -> String {
        match self {
            Failure::Expired => "the session expired".into(),
            Failure::NotConfigured(m) => format!("not connected yet: {m}"),
            Failure::Credentials(m) => format!("the CRM refused the credentials: {m}"),
            Failure::Permission(m) => format!("missing permission: {m}"),
            Failure::RateLimited { wait_ms, message } => {
                format!("rate limited, waiting {} s: {message}", (wait_ms + 999) / 1000)
            }
            Failure::Rejected(m) => format!("the CRM rejected the record: {m}"),
            Failure::NotFound(m) => format!("not found in the CRM: {m}"),
            Failure::BadUrl(m) => format!("the CRM's address is wrong: {m}"),
            Failure::Unavailable(m) => format!("the CRM is unavailable: {m}"),
        }
    }

    /// Whether the failure is the connection's (every call would fail alike) rather than one record's.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Failure::NotConfigured(_) | Failure::Credentials(_) | Failure::Permission(_) | Failure::BadUrl(_)
        )
    }

    /// When to try again after `attempts` attempts (this one included), or `None` to wait for a person: the
    /// connection's failures wait for a reconnect, rejected data for a fix, and a record past [`MAX_ATTEMPTS`] for
    /// a retry.
    pub fn next_attempt(&self, attempts: u32, now: i64) -> Option<i64> {
        match self {
            Failure::RateLimited { wait_ms, .. } => Some(now + (*wait_ms).clamp(1_000, MAX_BACKOFF_MS)),
            Failure::Expired | Failure::Unavailable(_) if attempts < MAX_ATTEMPTS => Some(now + backoff(attempts)),
            _ => None,
        }
    }
}

/// The back-off after `attempts` attempts: 30 s, 1 min, 2 min, … at most an hour.
pub fn backoff(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(20);
    (FIRST_BACKOFF_MS << doublings).min(MAX_BACKOFF_MS)
}

/// The wait a `Retry-After` header asks for, in milliseconds: seconds, or an HTTP date (RFC 9110), from `now`.
pub fn retry_after(value: &str, now: i64) -> Option<i64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u32>() {
        return Some(i64::from(secs) * 1000);
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.timestamp_millis();
    Some((at - now).max(0))
}

/// The `Retry-After` header among `headers`, if any, as a wait in milliseconds.
pub fn retry_after_header(headers: &[(String, String)], now: i64) -> Option<i64> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("retry-after")).and_then(|(_, v)| retry_after(v, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_back_off_then_wait_for_a_person() {
        let f = Failure::Unavailable("502".into());
        assert_eq!(f.next_attempt(1, 0), Some(30_000));
        assert_eq!(f.next_attempt(2, 0), Some(60_000));
        assert_eq!(f.next_attempt(5, 0), Some(480_000));
        assert_eq!(f.next_attempt(MAX_ATTEMPTS, 0), None);
        assert_eq!(backoff(40), MAX_BACKOFF_MS);
        assert_eq!(Failure::Rejected("bad".into()).next_attempt(1, 0), None);
        assert_eq!(Failure::Credentials("revoked".into()).next_attempt(1, 0), None);
        assert!(Failure::Credentials("revoked".into()).is_connection());
        assert!(!Failure::Rejected("bad".into()).is_connection());
    }

    #[test]
    fn rate_limits_wait_as_long_as_asked() {
        let now = DateTime::parse_from_rfc2822("Tue, 01 Dec 2026 22:00:00 GMT").unwrap().timestamp_millis();
        assert_eq!(retry_after("10", now), Some(10_000));
        assert_eq!(retry_after("Tue, 01 Dec 2026 22:01:00 GMT", now), Some(60_000));
        assert_eq!(retry_after("Tue, 01 Dec 2026 21:00:00 GMT", now), Some(0));
        assert_eq!(retry_after("soon", now), None);
        let headers = vec![("Retry-After".to_string(), "3".to_string())];
        assert_eq!(retry_after_header(&headers, now), Some(3_000));
        let f = Failure::RateLimited { wait_ms: 3_000, message: "TEN_SECONDLY_ROLLING".into() };
        assert_eq!(f.next_attempt(9, now), Some(now + 3_000));
        assert_eq!(f.message(), "rate limited, waiting 3 s: TEN_SECONDLY_ROLLING");
    }
}
