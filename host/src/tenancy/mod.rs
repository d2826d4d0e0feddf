//! Tenancy: which vendor a request is for, found from its host name.

use crate::domain::Tenant;
use crate::storage::{Db, StorageError};

/// How a host name maps to a tenant: a custom domain, `{slug}.{base_domain}`, or the default tenant for
/// hosts no tenant claims (localhost, a bare IP).
#[derive(Debug, Clone)]
pub struct Resolver {
    pub base_domain: Option<String>,
    pub default_tenant: Option<String>,
}

impl Resolver {
    /// Finds the tenant for a `Host` header value (port ignored, case-insensitive).
    pub async fn resolve(&self, db: &Db, host: &str) -> Result<Option<Tenant>, StorageError> {
        let host = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return self.fallback(db).await;
        }
        if let Some(t) = db.tenant_by_domain(&host).await? {
            return Ok(Some(t));
        }
        if let Some(base) = &self.base_domain
            && let Some(slug) = host.strip_suffix(&format!(".{}", base.to_ascii_lowercase()))
            && !slug.contains('.')
        {
            return db.tenant_by_slug(slug).await;
        }
        if is_local(&host) { self.fallback(db).await } else { Ok(None) }
    }

    async fn fallback(&self, db: &Db) -> Result<Option<Tenant>, StorageError> {
        match &self.default_tenant {
            Some(slug) => db.tenant_by_slug(slug).await,
            None => Ok(None),
        }
    }
}

/// Hosts that get the default tenant: loopback names and bare IP addresses.
fn is_local(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok()
        || host.starts_with('[')
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [::1]:8080
        return host.split(']').next().map(|h| &host[..h.len() + 1]).unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// A tenant slug: 2–40 lowercase letters, digits and dashes, starting with a letter.
pub fn valid_slug(slug: &str) -> bool {
    let len = slug.len();
    (2..=40).contains(&len)
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("acme.example:8080"), "acme.example");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("localhost"), "localhost");
    }

    #[test]
    fn local_hosts_fall_back_to_the_default_tenant() {
        assert!(is_local("localhost"));
        assert!(is_local("127.0.0.1"));
        assert!(is_local("[::1]"));
        assert!(!is_local("evil.example"));
    }

    #[test]
    fn slugs_are_dns_labels() {
        assert!(valid_slug("acme"));
        assert!(valid_slug("acme-2"));
        assert!(!valid_slug("Acme"));
        assert!(!valid_slug("a"));
        assert!(!valid_slug("9lives"));
        assert!(!valid_slug("a.b"));
    }
}
