//! CSRF protection for every state-changing request a browser could send on its own. `axum_csrf` issues an
//! encrypted cookie and HMAC'd form tokens; this middleware checks the token in one place, so no handler can
//! forget. Form bodies carry it as `csrf_token`, multipart forms in the action URL's query, scripts in the
//! `X-CSRF-Token` header. Requests with a bearer token carry no ambient credential, and a browser cannot
//! send `Content-Type: application/json` across sites without a CORS preflight (which Portico never grants),
//! so both are exempt.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_csrf::CsrfToken;

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
    match submitted {
        Some(s) if token.verify(&s).is_ok() => next.run(req).await,
        _ => HttpError::Csrf.into_response(),
    }
}

fn exempt(req: &Request) -> bool {
    let headers = req.headers();
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "));
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    bearer || json
}
