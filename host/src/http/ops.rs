//! Operations endpoints, outside any tenant: `/healthz` (the process runs), `/readyz` (it can reach its
//! database) and `/metrics` (Prometheus text; behind a bearer token when `metrics_token` is set, since it shows
//! every tenant's traffic by route).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> axum::response::Response {
    if let Some(expected) = &state.config.metrics_token {
        use secrecy::ExposeSecret;
        let ok = super::ctx::bearer_token(&headers).is_some_and(|given| {
            // Compared by hash, so the time taken says nothing about how much of the token matched.
            crate::auth::hash_secret(given) == crate::auth::hash_secret(expected.expose_secret())
        });
        if !ok {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a metrics token is required\n")
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}
