//! HTTP: the only module that knows HTTP. One `router()` per area, assembled here with the middleware stack:
//! request ids, tracing, metrics, tenant and principal loading, error rendering and CSRF protection.

mod account;
mod admin;
mod admin_plugins;
mod admin_templates;
mod api;
mod assets;
mod channel;
mod csrf;
mod ctx;
mod error;
mod extract;
mod files;
mod ops;
mod org;
mod pages;
mod people;
mod plugin_routes;
mod ratelimit;
mod security;
mod unsubscribe;
pub(crate) mod upload;
mod view;

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;

pub use ctx::{Auth, Ctx, SESSION_COOKIE};
pub use error::{ErrorInfo, HttpError, HttpResult};
pub use ratelimit::PublicLimiter;
pub use security::CspNonce;

/// Largest request body accepted (logo uploads are the biggest).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let tenant_routes = Router::new()
        .merge(pages::router())
        .merge(account::router())
        .merge(admin::router())
        .merge(channel::router())
        .merge(admin_plugins::router())
        .merge(admin_templates::router())
        .merge(org::router())
        .merge(assets::media_router())
        .merge(plugin_routes::page_router())
        .merge(files::router())
        .merge(unsubscribe::router())
        .nest(
            "/api/v1",
            api::router()
                .merge(plugin_routes::api_router())
                .merge(admin_plugins::api_router())
                .merge(channel::api_router()),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the error middleware, so a panic is answered like any other 500: themed or JSON, with the
        // request id, and logged with its cause.
        .layer(CatchPanicLayer::custom(panicked))
        .layer(from_fn_with_state(state.clone(), csrf::protect))
        .layer(from_fn_with_state(state.clone(), view::render_errors))
        .layer(from_fn_with_state(state.clone(), ctx::load));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(ops::router())
        .merge(assets::static_router(&state))
        .merge(assets::host_script_router())
        .merge(tenant_routes)
        .layer(from_fn(record_metrics))
        // Outside everything that answers, errors and panics included, so every response carries them.
        .layer(from_fn_with_state(state.clone(), security::headers))
        .layer(from_fn(limit_body))
        // axum's extractors (forms, JSON, multipart) enforce the same maximum.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Outside it too, for the routes that have no tenant (operations, static files).
        .layer(CatchPanicLayer::custom(|_| HttpError::internal("handler panicked").into_response_plain()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Bodies are at most [`MAX_BODY_BYTES`], except on plugin routes, which stream uploads within the limits their
/// manifest declares and read other bodies up to the same maximum themselves.
async fn limit_body(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/p/") || path.starts_with("/api/v1/p/") {
        return next.run(req).await;
    }
    let too_long = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES);
    if too_long {
        use axum::response::IntoResponse;
        return (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "the request is too large").into_response();
    }
    let (parts, body) = req.into_parts();
    let limited = Body::new(http_body_util::Limited::new(body, MAX_BODY_BYTES));
    next.run(Request::from_parts(parts, limited)).await
}

async fn not_found() -> HttpError {
    HttpError::NotFound
}

async fn method_not_allowed() -> HttpError {
    HttpError::MethodNotAllowed
}

/// A handler's panic as an internal error carrying the panic's message for the log.
fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    use axum::response::IntoResponse;
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    HttpError::internal(format!("handler panicked: {message}")).into_response()
}

/// Counts requests and records latencies by route template (not raw path, to bound label cardinality).
async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    let status = res.status();
    let labels = [("method", method), ("route", route), ("status", status.as_u16().to_string())];
    metrics::counter!("portico_http_requests_total", &labels).increment(1);
    metrics::histogram!("portico_http_request_duration_seconds", &labels[..2]).record(start.elapsed().as_secs_f64());
    if status.is_server_error() {
        metrics::counter!("portico_http_errors_total", &labels[..2]).increment(1);
    }
    res
}

impl HttpError {
    /// A plain response for failures outside the error middleware (a panic).
    fn into_response_plain(self) -> Response {
        use axum::response::IntoResponse;
        (self.status(), "internal error").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error_with_its_message_for_the_log() {
        let res = panicked(Box::new("index out of bounds"));
        assert_eq!(res.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let info = res.extensions().get::<ErrorInfo>().expect("rendered by the error layer");
        assert_eq!(info.code, "internal");
        assert_eq!(info.cause.as_deref(), Some("handler panicked: index out of bounds"));
        assert_eq!(info.message, "internal error", "the message shown says nothing of the cause");
        let res = panicked(Box::new(String::from("formatted")));
        assert_eq!(res.extensions().get::<ErrorInfo>().unwrap().cause.as_deref(), Some("handler panicked: formatted"));
    }
}
