//! Static theme assets (`/static/{theme}/…`, falling back to the default theme's) and tenant media
//! (`/media/tenants/{tenant_id}/…`: logos and favicons, only the request's own tenant's), and the host's two scripts
//! (`/_portico/portico.js`, the behaviour script plugin markup drives; `/_portico/frame.js`, the bridge client for
//! plugin frames), compiled into the binary so they are pinned to the host's version.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::services::ServeDir;

use super::ctx::Ctx;
use super::error::{HttpError, HttpResult};
use crate::app::AppState;
use crate::blobs::ImageKind;
use crate::render::DEFAULT_THEME;

pub fn static_router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    let default_dir = state.config.themes_dir.join(DEFAULT_THEME).join("static");
    for theme in state.renderer.themes() {
        let serve = ServeDir::new(&theme.static_dir).fallback(ServeDir::new(&default_dir));
        router = router.nest_service(&format!("/static/{}", theme.key), serve);
    }
    router
}

/// The behaviour script that plugin markup drives through `data-pt-*` attributes.
pub const BEHAVIOUR_JS: &str = include_str!("../../assets/portico.js");
/// The bridge client that custom client code in a plugin frame loads.
pub const FRAME_JS: &str = include_str!("../../assets/frame.js");

pub fn host_script_router() -> Router<AppState> {
    let script = |body: &'static str| {
        move || async move {
            (
                [
                    (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                ],
                body,
            )
        }
    };
    Router::new()
        .route("/_portico/portico.js", get(script(BEHAVIOUR_JS)))
        .route("/_portico/frame.js", get(script(FRAME_JS)))
}

pub fn media_router() -> Router<AppState> {
    Router::new().route("/media/{*key}", get(media))
}

async fn media(State(state): State<AppState>, ctx: Ctx, Path(key): Path<String>) -> HttpResult<Response> {
    // Blobs of other tenants are invisible here, whatever the key says.
    let own = format!("tenants/{}/", ctx.tenant.id);
    if !key.starts_with(&own) || key.contains("..") {
        return Err(HttpError::NotFound);
    }
    let content_type = ImageKind::content_type_of(&key).ok_or(HttpError::NotFound)?;
    let bytes = state.blobs.get(&key).await?.ok_or(HttpError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}
