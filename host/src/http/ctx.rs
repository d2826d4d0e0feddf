//! The per-request context: the tenant (from the host name), the signed-in principal (from the session cookie
//! or a bearer token) and the CSRF form token. Loaded once by the `load` middleware; handlers extract it.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_csrf::CsrfToken;
use axum_extra::extract::CookieJar;

use super::error::HttpError;
use crate::app::AppState;
use crate::auth::{AuthVia, Principal, hash_secret, may_sign_in};
use crate::domain::Tenant;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "portico_session";

/// What every tenant-bound handler knows about its request.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub tenant: Tenant,
    pub principal: Option<Principal>,
    pub request_id: String,
    /// The request is for the JSON API (`/api/…`): errors are JSON, never redirects.
    pub api: bool,
    /// The token forms carry in their `csrf_token` field.
    pub csrf_token: String,
    /// Path and query, for "sign in, then come back here".
    pub path: String,
    /// `scheme://host` the request came to, for links in mail.
    pub base_url: String,
    /// The client's address, for login throttling.
    pub ip: Option<std::net::IpAddr>,
    /// This response's CSP nonce, for the host templates' `<script>` and `<style>` elements.
    pub csp_nonce: String,
    /// The viewer's language for numbers, money and dates (BCP 47, e.g. `de-DE`), from `Accept-Language`.
    pub language: String,
}

impl Ctx {
    pub fn scope<'a>(&'a self, state: &'a AppState) -> crate::storage::TenantScope<'a> {
        state.db.tenant(&self.tenant.id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Ctx>().cloned().ok_or_else(|| HttpError::internal("request context missing"))
    }
}

/// A [`Ctx`] whose request is signed in.
#[derive(Clone, Debug)]
pub struct Auth {
    pub ctx: Ctx,
    pub principal: Principal,
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state).await?;
        let principal = ctx.principal.clone().ok_or(HttpError::Unauthorized)?;
        Ok(Auth { ctx, principal })
    }
}

/// Resolves the tenant and principal and puts a [`Ctx`] into the request.
pub async fn load(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let api = req.uri().path().starts_with("/api/");
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("")
        .to_string();
    let tenant = match state.resolver.resolve(&state.db, &host).await {
        Ok(Some(t)) => t,
        Ok(None) => return no_portal(api),
        Err(e) => {
            tracing::error!(error = %e, request_id, "tenant lookup failed");
            return unavailable(api);
        }
    };
    let (mut parts, body) = req.into_parts();
    let principal = match principal(&state, &tenant, &parts).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, request_id, "principal lookup failed");
            return unavailable(api);
        }
    };
    if let Some(p) = &principal {
        state.active_today.record(&state.db, &tenant, &p.user, state.clock.now_ms()).await;
    }
    let csrf = CsrfToken::from_request_parts(&mut parts, &state.csrf).await.expect("csrf extraction is infallible");
    let csrf_token = csrf.authenticity_token().unwrap_or_default();
    parts.extensions.insert(csrf.clone());
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let ip = client_ip(peer, &parts.headers, &state.config.trusted_proxies);
    let scheme = if state.config.secure_cookies { "https" } else { "http" };
    let base_url = format!("{scheme}://{host}");
    let nonce = super::CspNonce::new();
    let csp_nonce = nonce.0.clone();
    let language = parts
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(|h| portico_charts::Formatter::from_accept_language(h, "UTC").language())
        .unwrap_or_else(|| "en-US".to_string());
    parts.extensions.insert(Ctx {
        tenant,
        principal,
        request_id,
        api,
        csrf_token,
        path,
        base_url,
        ip,
        csp_nonce,
        language,
    });
    req = Request::from_parts(parts, body);
    let mut res = next.run(req).await;
    if api {
        // JSON never runs script: its policy has no nonce at all.
        return res;
    }
    res.extensions_mut().insert(nonce);
    (csrf, res).into_response()
}

/// The token of an `Authorization: Bearer …` header.
pub(super) fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

async fn principal(
    state: &AppState,
    tenant: &Tenant,
    parts: &Parts,
) -> Result<Option<Principal>, crate::storage::StorageError> {
    let scope = state.db.tenant(&tenant.id);
    let bearer = bearer_token(&parts.headers);
    let (user_id, via) = if let Some(token) = bearer {
        match scope.api_token_user(&hash_secret(token)).await? {
            Some(u) => (u, AuthVia::ApiToken),
            None => return Ok(None),
        }
    } else {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(cookie) = jar.get(SESSION_COOKIE) else { return Ok(None) };
        match state.db.session(&hash_secret(cookie.value())).await? {
            // A session is only good on the tenant it was made for.
            Some(s) if s.tenant_id == tenant.id => (s.user_id, AuthVia::Session),
            _ => return Ok(None),
        }
    };
    let user = scope.user(&user_id).await?.filter(may_sign_in);
    Ok(user.map(|user| Principal { user, tenant: tenant.clone(), via }))
}

fn no_portal(api: bool) -> Response {
    bare_error(
        api,
        StatusCode::NOT_FOUND,
        "unknown_portal",
        "No portal here",
        "No partner portal is served at this address. Check the link you followed.",
    )
}

/// The database could not be reached before the tenant (and so its theme) was known: a plain page or a JSON error,
/// with a hint to retry shortly.
fn unavailable(api: bool) -> Response {
    let mut res = bare_error(
        api,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Unavailable",
        "The portal is unavailable right now; try again in a few seconds.",
    );
    res.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
    res
}

/// An error answered without a tenant: JSON for the API, else a self-contained page (no theme to render with).
fn bare_error(api: bool, status: StatusCode, code: &str, title: &str, message: &str) -> Response {
    if api {
        let body = serde_json::json!({"error": {"code": code, "message": message}});
        return (status, axum::Json(body)).into_response();
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{title}</title>\
         <body style=\"font-family:system-ui;max-width:40rem;margin:4rem auto\"><h1>{title}</h1><p>{message}</p></body></html>"
    );
    (status, axum::response::Html(html)).into_response()
}

/// The client's address: the connection's peer, unless the peer is a trusted proxy. Then it is the right-most
/// address in `X-Forwarded-For` that is not itself a trusted proxy: each proxy appends the address it saw, so the
/// entries left of that one are whatever the client chose to send.
fn client_ip(
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let entries: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    for entry in entries.into_iter().rev() {
        match entry.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            // Only trusted proxies wrote this far right; an entry none of them would write ends the walk.
            Err(_) => break,
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for f in forwarded {
            h.append("x-forwarded-for", f.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwarded_it() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // No proxies trusted: the header is ignored, whoever sent it.
        assert_eq!(client_ip(Some(ip("10.0.0.2")), &headers(&["203.0.113.9"]), &[]), Some(ip("10.0.0.2")));
        // An untrusted peer cannot claim another address.
        assert_eq!(client_ip(Some(ip("198.51.100.1")), &headers(&["203.0.113.9"]), &trusted), Some(ip("198.51.100.1")));
        // Through the load balancer: the address it saw.
        assert_eq!(client_ip(Some(ip("10.0.0.2")), &headers(&["203.0.113.9"]), &trusted), Some(ip("203.0.113.9")));
        // A spoofed entry on the left is passed over; proxies on the right are skipped.
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), &headers(&["1.2.3.4, 203.0.113.9", "10.0.0.3"]), &trusted),
            Some(ip("203.0.113.9"))
        );
        // Without the header, or with garbage in it, the peer.
        assert_eq!(client_ip(Some(ip("10.0.0.2")), &headers(&[]), &trusted), Some(ip("10.0.0.2")));
        assert_eq!(client_ip(Some(ip("10.0.0.2")), &headers(&["not-an-ip"]), &trusted), Some(ip("10.0.0.2")));
    }
}
