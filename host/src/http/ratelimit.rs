//! Rate limiting of public plugin routes (certificate verification, share links): a token bucket per (tenant,
//! client address), refilled continuously, kept in this replica's memory. With several replicas behind a balancer a
//! client may get that many times the rate; the bound still holds per replica, which is what protects it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

/// Whose bucket: a tenant and a client address.
type Client = (String, Option<IpAddr>);

/// A token bucket per (tenant, client address): tokens left and when they were counted.
#[derive(Debug)]
pub struct PublicLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<Client, (f64, Instant)>>,
}

impl PublicLimiter {
    /// `per_minute` requests a minute per client, in bursts of as many.
    pub fn new(per_minute: u32) -> Self {
        PublicLimiter { per_minute: f64::from(per_minute.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    /// `None` when the request may go on; otherwise the seconds to wait.
    pub fn refuse(&self, tenant: &str, ip: Option<IpAddr>) -> Option<i64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= MAX_BUCKETS {
            let per_minute = self.per_minute;
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * per_minute / 60.0 < per_minute);
        }
        let (tokens, at) = buckets.entry((tenant.to_string(), ip)).or_insert((self.per_minute, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_minute / 60.0).min(self.per_minute);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            None
        } else {
            Some(((1.0 - *tokens) * 60.0 / self.per_minute).ceil().max(1.0) as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_refused_and_others_are_not() {
        let limiter = PublicLimiter::new(5);
        let me = Some("192.0.2.1".parse().unwrap());
        for _ in 0..5 {
            assert_eq!(limiter.refuse("t", me), None);
        }
        assert!(limiter.refuse("t", me).is_some_and(|s| s >= 1));
        assert_eq!(limiter.refuse("t", Some("192.0.2.2".parse().unwrap())), None, "another client");
        assert_eq!(limiter.refuse("t2", me), None, "another tenant");
    }
}
