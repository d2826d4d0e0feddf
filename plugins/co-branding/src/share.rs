//! Share links: `{share id}.{expiry in ms}.{signature}`, signed with HMAC-SHA256 under the plugin's own key and
//! bound to the tenant, so a forged, altered or other tenant's link is refused before anything is looked up; the
//! share record then says whether it was revoked.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &str, tenant: &str, id: &str, expires: i64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    m.update(format!("{tenant}\n{id}\n{expires}").as_bytes());
    m
}

/// The token of share `id` expiring at `expires` (ms).
pub fn sign(key: &str, tenant: &str, id: &str, expires: i64) -> String {
    let sig = mac(key, tenant, id, expires).finalize().into_bytes();
    format!("{id}.{expires}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The share id and expiry of a genuine token; None for anything else.
pub fn verify(key: &str, tenant: &str, token: &str) -> Option<(String, i64)> {
    let mut parts = token.split('.');
    let (id, expires, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || id.is_empty() || id.len() > 64 {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    mac(key, tenant, id, expires).verify_slice(&sig).ok()?;
    Some((id.to_string(), expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_and_any_change_does_not() {
        let t = sign("k", "acme", "s1", 1_000);
        assert_eq!(verify("k", "acme", &t), Some(("s1".into(), 1_000)));
        assert_eq!(verify("other", "acme", &t), None, "another key");
        assert_eq!(verify("k", "globex", &t), None, "another tenant");
        let longer = t.replacen(".1000.", ".999999.", 1);
        assert_eq!(verify("k", "acme", &longer), None, "a later expiry");
        assert_eq!(verify("k", "acme", "s1.1000"), None);
        assert_eq!(verify("k", "acme", &format!("{t}.x")), None);
    }
}
