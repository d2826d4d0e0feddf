//! The Portico host: a multi-tenant partner portal. See `ARCHITECTURE.md` for the code map.

pub mod accounts;
pub mod analytics;
pub mod app;
pub mod archive;
pub mod auth;
pub mod authoring;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod demo;
pub mod digest;
pub mod domain;
pub mod extensions;
pub mod file_links;
pub mod http;
pub mod mail;
pub mod outbound;
pub mod plugins;
pub mod render;
pub mod runtime;
pub mod secrets;
pub mod storage;
pub mod tenancy;
pub mod testing;

use std::net::SocketAddr;

pub use app::AppState;
pub use config::Config;

/// Serves the app on `listener` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let workers = state.config.workers.then(|| plugins::jobs::spawn_workers(state.clone()));
    // The sandboxed renderer compiles in the background (or loads from the cache) while the first requests come.
    let warm = state.clone();
    tokio::spawn(async move { warm.runtime.warm_renderer().await });
    let hourly = state.clone();
    let purge = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = hourly.db.purge_expired().await {
                tracing::warn!(error = %e, "purging expired sessions failed");
            }
            if let Err(e) = plugins::jobs::sweep_orphan_blobs(&hourly, plugins::jobs::ORPHAN_GRACE_MS).await {
                tracing::warn!(error = %e, "sweeping orphaned plugin files failed");
            }
        }
    });
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    purge.abort();
    if let Some(w) = workers {
        w.abort();
    }
    result
}
