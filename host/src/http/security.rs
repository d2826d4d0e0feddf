//! Security headers on every response (pages, API, plugin pages and files, static assets, errors): a
//! Content-Security-Policy whose `script-src` admits only the host's own scripts, by a nonce made per response,
//! and the headers that keep the portal from being framed, sniffed or leaking its URLs. Responses that carry
//! untrusted active content (plugin files, plugin frames) set a sandboxing policy of their own, which is kept.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use rand::RngCore;

use crate::app::AppState;

/// The nonce of one response: host templates put it on their `<script>` and `<style>` elements. Plugin markup
/// never receives it. URL-safe base64, which CSP allows and templates print without escaping.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

impl CspNonce {
    pub fn new() -> Self {
        let mut bytes = [0u8; 18];
        rand::rng().fill_bytes(&mut bytes);
        CspNonce(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl Default for CspNonce {
    fn default() -> Self {
        Self::new()
    }
}

/// The policy of a file a plugin answers with, or a static file of its package: nothing in it may run, and opened
/// on its own it is a sandboxed document of an opaque origin.
pub const FILE_POLICY: &str = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// The policy of a plugin frame's documents: scripts run, but in a sandbox with an opaque origin (no cookies, no
/// access to the portal's pages or storage), unable to connect anywhere; they reach their plugin's JSON routes only
/// through the page's bridge. Only the portal may frame them.
pub const FRAME_POLICY: &str = "sandbox allow-scripts allow-forms; default-src 'self' data: blob:; \
     script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; connect-src 'none'; \
     form-action 'none'; base-uri 'self'; object-src 'none'; frame-ancestors 'self'";

/// Adds the security headers to every response; a policy the handler set (files, frames) is kept.
pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let nonce = res.extensions().get::<CspNonce>().map(|n| n.0.clone());
    let ancestors = &state.config.frame_ancestors;
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = page_policy(nonce.as_deref(), ancestors);
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&policy).expect("a policy is ASCII"));
        if ancestors.is_empty() {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static(PERMISSIONS));
    if state.config.secure_cookies {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    res
}

/// Powerful browser features no portal page uses.
const PERMISSIONS: &str = "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), \
     magnetometer=(), microphone=(), midi=(), payment=(), usb=(), xr-spatial-tracking=()";

/// The policy of the portal's own pages (and of everything else without one of its own). `script-src` names only
/// the nonce: without one (JSON, static files) no script may run at all.
pub fn page_policy(nonce: Option<&str>, frame_ancestors: &[String]) -> String {
    let (script, style) = match nonce {
        Some(n) => (format!("'nonce-{n}'"), format!("'self' 'nonce-{n}'")),
        None => ("'none'".to_string(), "'self'".to_string()),
    };
    let ancestors = if frame_ancestors.is_empty() { "'none'".to_string() } else { frame_ancestors.join(" ") };
    format!(
        "default-src 'self'; script-src {script}; style-src {style}; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; frame-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {ancestors}; worker-src 'none'; manifest-src 'self'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_admits_scripts_by_nonce_only() {
        let p = page_policy(Some("abc"), &[]);
        assert!(p.contains("script-src 'nonce-abc';"));
        assert!(!p.contains("unsafe-inline") && !p.contains("unsafe-eval"));
        for d in ["object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"] {
            assert!(p.contains(d), "{d} in {p}");
        }
        assert!(page_policy(None, &[]).contains("script-src 'none'"));
        let embedded = page_policy(None, &["https://intranet.example".into()]);
        assert!(embedded.contains("frame-ancestors https://intranet.example;"));
    }

    #[test]
    fn nonces_differ_per_response() {
        assert_ne!(CspNonce::new().0, CspNonce::new().0);
    }
}
