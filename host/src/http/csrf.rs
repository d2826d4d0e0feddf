//! CSRF protection for every state-changing request a browser could send on its own. `axum_csrf` issues an
//! encrypted cookie and HMAC'd form tokens; this middleware checks the token in one place, so no handler can
//! forget. Form bodies carry it as `csrf_token`, multipart forms in the action URL's query, scripts in the
//! `X-CSRF-Token` header. Requests with a bearer token carry no ambient credential, and a browser cannot
//! send `Content-Type: application/json` across sites without a CORS preflight (which Portico never grants),
//! so both are exempt, as is the digest's one-click unsubscribe (`POST /unsubscribe/{token}`, RFC 8058), which
//! mail clients send without a form token and which the signed token in its path authorises.
//!
//! Tokens are scoped. A host page's token (`Ctx::csrf_token`) is good for host routes only. Plugin markup is
//! untrusted, so it never receives that token: a plugin's pages and widgets get a token derived from it for that
//! plugin (`Scope::Plugin`), which this check accepts only on that plugin's own routes (`/p/{id}/…`,
//! `/api/v1/p/{id}/…`); a plugin form aimed at `/admin/…`, `/account` or another plugin is refused even when the
//! user submits it. The sign-out form, which is on every page, carries a token good for `/logout` only.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_csrf::CsrfToken;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::MAX_BODY_BYTES;
use super::error::HttpError;
use crate::app::AppState;

/// The form field, query parameter (multipart) and header that carry the token.
pub const FIELD: &str = "csrf_token";
const HEADER: &str = "x-csrf-token";

pub async fn protect(State(_state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || exempt(&req) {
        return next.run(req).await;
    }
    let Some(token) = req.extensions().get::<CsrfToken>().cloned() else {
        return HttpError::Csrf.into_response();
    };
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (submitted, req) = if let Some(h) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        (Some(h.to_string()), req)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let (parts, body) = req.into_parts();
        let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(_) => return HttpError::invalid("body", "the form is too large").into_response(),
        };
        let found = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == FIELD).map(|(_, v)| v.into_owned());
        (found, Request::from_parts(parts, Body::from(bytes)))
    } else {
        let found = req.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == FIELD).map(|(_, v)| v.into_owned())
        });
        (found, req)
    };
    let host_token = token.authenticity_token().unwrap_or_default();
    let accepted = submitted.is_some_and(|s| {
        let scope = Scope::of_path(req.uri().path());
        match &scope {
            Scope::Host => token.verify(&s).is_ok(),
            Scope::Logout => token.verify(&s).is_ok() || same(&scoped(&host_token, &scope), &s),
            Scope::Plugin(_) => same(&scoped(&host_token, &scope), &s),
        }
    });
    if accepted { next.run(req).await } else { HttpError::Csrf.into_response() }
}

/// What a form token is good for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The host's own routes.
    Host,
    /// `/logout` only: the sign-out form on every page, plugin pages included.
    Logout,
    /// One plugin's routes only.
    Plugin(String),
}

impl Scope {
    /// The scope whose token a request to `path` must carry.
    pub fn of_path(path: &str) -> Scope {
        if path == "/logout" {
            return Scope::Logout;
        }
        let rest = path.strip_prefix("/api/v1/p/").or_else(|| path.strip_prefix("/p/"));
        match rest.map(|r| r.split('/').next().unwrap_or_default()) {
            Some(id) if !id.is_empty() => Scope::Plugin(id.to_string()),
            _ => Scope::Host,
        }
    }
}

/// The token for `scope`, derived from the host page token (a secret of the session's CSRF cookie) so it needs no
/// storage and cannot be turned back into the host token. For [`Scope::Host`] it is the host token itself.
pub fn scoped(host_token: &str, scope: &Scope) -> String {
    let label = match scope {
        Scope::Host => return host_token.to_string(),
        Scope::Logout => "logout".to_string(),
        Scope::Plugin(id) => format!("plugin:{id}"),
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(host_token.as_bytes()).expect("HMAC takes any key");
    mac.update(b"portico-csrf-scope:");
    mac.update(label.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// How long a frame bridge token lasts: a page left open longer reloads its frame to talk again.
const BRIDGE_MILLIS: i64 = 2 * 60 * 60 * 1000;

/// A token for the frame bridge of plugin `plugin_id` on a page of this session: `{expiry}.{mac}`, the MAC keyed
/// by the session's host token (so bound to the user's session) over the plugin and the expiry.
pub fn bridge_token(host_token: &str, plugin_id: &str, now_ms: i64) -> String {
    let expires = now_ms + BRIDGE_MILLIS;
    format!("{expires}.{}", bridge_mac(host_token, plugin_id, expires))
}

/// Whether `token` is a live bridge token of this session for `plugin_id`.
pub fn verify_bridge(host_token: &str, plugin_id: &str, token: &str, now_ms: i64) -> bool {
    let Some((expires, mac)) = token.split_once('.') else { return false };
    let Ok(expires) = expires.parse::<i64>() else { return false };
    expires > now_ms && same(&bridge_mac(host_token, plugin_id, expires), mac)
}

fn bridge_mac(host_token: &str, plugin_id: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(host_token.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("portico-bridge:{plugin_id}:{expires}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of two tokens.
fn same(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

fn exempt(req: &Request) -> bool {
    let headers = req.headers();
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "));
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // RFC 8058's one-click unsubscribe: mail clients post without a form token; the signed link authorises it.
    let one_click = req.method() == Method::POST && super::unsubscribe::is_one_click(req.uri().path());
    bearer || json || one_click
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_family_needs_its_own_scope() {
        assert_eq!(Scope::of_path("/admin/users"), Scope::Host);
        assert_eq!(Scope::of_path("/account"), Scope::Host);
        assert_eq!(Scope::of_path("/logout"), Scope::Logout);
        assert_eq!(Scope::of_path("/p/deals/new"), Scope::Plugin("deals".into()));
        assert_eq!(Scope::of_path("/p/deals"), Scope::Plugin("deals".into()));
        assert_eq!(Scope::of_path("/api/v1/p/deals/x"), Scope::Plugin("deals".into()));
        assert_eq!(Scope::of_path("/api/v1/users"), Scope::Host);
        assert_eq!(Scope::of_path("/p/"), Scope::Host);
    }

    #[test]
    fn scoped_tokens_differ_by_scope_and_session() {
        let a = scoped("host-a", &Scope::Plugin("x".into()));
        assert_ne!(a, scoped("host-a", &Scope::Plugin("y".into())));
        assert_ne!(a, scoped("host-b", &Scope::Plugin("x".into())));
        assert_ne!(a, scoped("host-a", &Scope::Logout));
        assert_eq!(scoped("host-a", &Scope::Host), "host-a");
        assert!(same(&a, &a.clone()) && !same(&a, "short"));
    }

    #[test]
    fn bridge_tokens_are_bound_to_session_plugin_and_time() {
        let t = bridge_token("host-a", "lms", 1_000);
        assert!(verify_bridge("host-a", "lms", &t, 2_000));
        assert!(!verify_bridge("host-b", "lms", &t, 2_000), "another session");
        assert!(!verify_bridge("host-a", "mdf", &t, 2_000), "another plugin");
        assert!(!verify_bridge("host-a", "lms", &t, 1_000 + BRIDGE_MILLIS + 1), "expired");
        let forged = format!("{}.{}", 1_000 + 10 * BRIDGE_MILLIS, t.split_once('.').unwrap().1);
        assert!(!verify_bridge("host-a", "lms", &forged, 2_000), "expiry moved");
        assert!(!verify_bridge("host-a", "lms", "garbage", 2_000));
    }
}
