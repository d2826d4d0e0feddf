//! Plugin pages (`/p/{plugin}/…`), plugin JSON routes (`/api/v1/p/{plugin}/…`) and plugin static files. The
//! host checks the manifest's route, method and roles, and that the plugin is enabled in one of the caller's
//! programs, before it invokes the plugin; it renders page views through the tenant's theme.

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use portico_plugin_api::{Method, route_matches};
use serde_json::json;

use super::ctx::Auth;
use super::error::{HttpError, HttpResult};
use super::view::base_context;
use crate::app::AppState;
use crate::plugins::{self, Active};
use crate::runtime::{HttpRequest, HttpResponse, PluginError, RuntimeError};

pub fn page_router() -> Router<AppState> {
    Router::new()
        .route("/p/{plugin}", any(page))
        .route("/p/{plugin}/", any(page))
        .route("/p/{plugin}/{*rest}", any(page_rest))
        .route("/plugin-static/{plugin}/{*path}", get(static_file))
}

pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/p/{plugin}", any(api))
        .route("/p/{plugin}/", any(api))
        .route("/p/{plugin}/{*rest}", any(api_rest))
}

async fn page(
    State(state): State<AppState>,
    auth: Auth,
    Path(plugin): Path<String>,
    req: Request,
) -> HttpResult<Response> {
    dispatch(&state, &auth, &plugin, "/", req, false).await
}

async fn page_rest(
    State(state): State<AppState>,
    auth: Auth,
    Path((plugin, rest)): Path<(String, String)>,
    req: Request,
) -> HttpResult<Response> {
    dispatch(&state, &auth, &plugin, &format!("/{rest}"), req, false).await
}

async fn api(
    State(state): State<AppState>,
    auth: Auth,
    Path(plugin): Path<String>,
    req: Request,
) -> HttpResult<Response> {
    dispatch(&state, &auth, &plugin, "/", req, true).await
}

async fn api_rest(
    State(state): State<AppState>,
    auth: Auth,
    Path((plugin, rest)): Path<(String, String)>,
    req: Request,
) -> HttpResult<Response> {
    dispatch(&state, &auth, &plugin, &format!("/{rest}"), req, true).await
}

fn method_of(m: &axum::http::Method) -> Option<Method> {
    Some(match *m {
        axum::http::Method::GET | axum::http::Method::HEAD => Method::Get,
        axum::http::Method::POST => Method::Post,
        axum::http::Method::PUT => Method::Put,
        axum::http::Method::PATCH => Method::Patch,
        axum::http::Method::DELETE => Method::Delete,
        _ => return None,
    })
}

/// Finds the plugin among those the caller may use, in the program the query names (or the first).
async fn active(state: &AppState, auth: &Auth, plugin_id: &str, program: Option<&str>) -> HttpResult<Active> {
    let all = plugins::active_for(state, &auth.ctx.tenant, &auth.principal.user, program)
        .await
        .map_err(HttpError::internal)?;
    all.iter().find(|a| a.plugin.manifest().id == plugin_id).cloned().ok_or(HttpError::NotFound)
}

async fn dispatch(
    state: &AppState,
    auth: &Auth,
    plugin_id: &str,
    path: &str,
    req: Request,
    api: bool,
) -> HttpResult<Response> {
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    let program = query.iter().find(|(k, _)| k == "program").map(|(_, v)| v.clone());
    let active = active(state, auth, plugin_id, program.as_deref()).await?;
    let manifest = active.plugin.manifest();
    let method = method_of(req.method()).ok_or(HttpError::NotFound)?;
    let route = manifest
        .routes
        .iter()
        .find(|r| r.api == api && r.methods.contains(&method) && route_matches(&r.path, path))
        .ok_or(HttpError::NotFound)?;
    if !plugins::role_allowed(&route.roles, auth.principal.role()) {
        return Err(HttpError::Forbidden);
    }
    let method_name = req.method().as_str().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "cookie" | "authorization" | "x-csrf-token"))
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body: Bytes = to_bytes(req.into_body(), super::MAX_BODY_BYTES)
        .await
        .map_err(|_| HttpError::invalid("body", "the request is too large"))?;
    let form = if is_form {
        url::form_urlencoded::parse(&body)
            .filter(|(k, _)| k != "csrf_token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    } else {
        Vec::new()
    };
    let wit_req =
        HttpRequest { method: method_name, path: path.to_string(), query, headers, body: body.to_vec(), form, api };
    let inv = plugins::user_invocation(state, &auth.ctx.tenant, &active, &auth.principal.user, &auth.ctx.request_id);
    let outcome = state.runtime.handle_http(active.plugin.loaded.clone(), inv, wit_req).await;
    let response = outcome.map_err(runtime_error)?.map_err(plugin_error)?;
    match response {
        HttpResponse::Page(view) if !api => {
            let html = render_view(state, auth, &active, &view.template, &view.context, &view.title).await?;
            let status = StatusCode::from_u16(view.status).unwrap_or(StatusCode::OK);
            Ok((status, html).into_response())
        }
        HttpResponse::Page(_) => {
            Err(HttpError::internal(format!("plugin {plugin_id} answered an API call with a page")))
        }
        HttpResponse::Json((status, body)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Ok((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        HttpResponse::Redirect(to) if to.starts_with('/') && !to.starts_with("//") => {
            Ok(Redirect::to(&to).into_response())
        }
        HttpResponse::Redirect(_) => Err(HttpError::internal(format!("plugin {plugin_id} redirected off the portal"))),
        HttpResponse::File(f) => {
            let safe: String =
                f.filename.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
            let disposition = format!("attachment; filename=\"{}\"", if safe.is_empty() { "download" } else { &safe });
            let ct =
                HeaderValue::from_str(&f.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
            let mut res = f.body.into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, ct);
            res.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
            );
            res.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            Ok(res)
        }
    }
}

/// Renders a plugin view: its template (theme override first) to a fragment, inside the portal layout.
pub(super) async fn render_view(
    state: &AppState,
    auth: &Auth,
    active: &Active,
    template: &str,
    context: &str,
    title: &str,
) -> HttpResult<Html<String>> {
    let fragment = render_fragment(state, auth, active, template, context)?;
    super::view::render(
        state,
        &auth.ctx,
        "plugin.html",
        json!({ "title": title, "plugin_html": fragment, "plugin_id": active.plugin.manifest().id }),
    )
    .await
}

/// A plugin template rendered with its context plus the base values (CSRF token, user, portal, time zone).
pub(super) fn render_fragment(
    state: &AppState,
    auth: &Auth,
    active: &Active,
    template: &str,
    context: &str,
) -> HttpResult<String> {
    let value: serde_json::Value = serde_json::from_str(context)
        .map_err(|e| HttpError::internal(format!("plugin view context is not JSON: {e}")))?;
    let mut ctx = base_context(state, &auth.ctx, json!({}))?;
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            ctx.insert(k, &v);
        }
    }
    let theme = &auth.ctx.tenant.theme;
    let u = &active.plugin;
    Ok(state.renderer.render_plugin(theme, &u.manifest().id, &u.package_key, &u.templates, template, &ctx)?)
}

/// A plugin error as the HTTP error the caller sees.
pub(super) fn plugin_error(e: PluginError) -> HttpError {
    match e {
        PluginError::NotFound(_) => HttpError::NotFound,
        PluginError::Denied(_) => HttpError::Forbidden,
        PluginError::Invalid(f) => HttpError::Invalid { field: f.field, message: f.message },
        PluginError::Conflict(m) => HttpError::Conflict { field: None, message: m },
        PluginError::Unavailable(m) => HttpError::Unavailable(m),
        PluginError::Internal(m) => HttpError::internal(format!("plugin error: {m}")),
    }
}

/// A runtime failure: the plugin's own request fails, and the cause is logged.
pub(super) fn runtime_error(e: RuntimeError) -> HttpError {
    match e {
        RuntimeError::Busy | RuntimeError::WriteFailed | RuntimeError::DatabaseUnavailable => {
            HttpError::Unavailable(e.to_string())
        }
        RuntimeError::Storage(s) => s.into(),
        other => HttpError::internal(other),
    }
}

async fn static_file(
    State(state): State<AppState>,
    auth: Auth,
    Path((plugin, path)): Path<(String, String)>,
) -> HttpResult<Response> {
    let installed = auth.ctx.scope(&state).installed_plugin(&plugin).await?.ok_or(HttpError::NotFound)?;
    let unpacked = plugins::unpacked(&state, &installed).await.map_err(HttpError::internal)?;
    let bytes = unpacked.statics.get(&path).ok_or(HttpError::NotFound)?.clone();
    let ct = match path.rsplit('.').next() {
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    };
    Ok(([(header::CONTENT_TYPE, ct), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], bytes).into_response())
}

/// The dashboard widgets of the caller's plugins, rendered concurrently. A widget that fails shows as
/// unavailable; the others render regardless.
pub(super) async fn widgets(state: &AppState, auth: &Auth) -> Vec<serde_json::Value> {
    let active = match plugins::active_for(state, &auth.ctx.tenant, &auth.principal.user, None).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "plugin widgets unavailable");
            return Vec::new();
        }
    };
    let mut jobs = Vec::new();
    for a in active.iter() {
        for w in a.plugin.manifest().widgets.iter().filter(|w| plugins::role_allowed(&w.roles, auth.principal.role())) {
            let inv = plugins::user_invocation(state, &auth.ctx.tenant, a, &auth.principal.user, &auth.ctx.request_id);
            let (a, w) = (a.clone(), w.clone());
            jobs.push(async move {
                let result = state.runtime.render_widget(a.plugin.loaded.clone(), inv, w.name.clone()).await;
                let html = match result {
                    Ok(Ok(view)) => render_fragment(state, auth, &a, &view.template, &view.context).map_err(|e| format!("{e:?}")),
                    Ok(Err(e)) => Err(format!("{e:?}")),
                    Err(e) => Err(e.to_string()),
                };
                match html {
                    Ok(html) => json!({ "plugin": a.plugin.manifest().id, "name": w.name, "title": w.title, "html": html }),
                    Err(cause) => {
                        tracing::warn!(plugin = %a.plugin.manifest().id, widget = %w.name, cause = %cause, "widget failed");
                        json!({ "plugin": a.plugin.manifest().id, "name": w.name, "title": w.title, "error": true })
                    }
                }
            });
        }
    }
    futures::future::join_all(jobs).await
}
