//! Plugin pages (`/p/{plugin}/…`), plugin JSON routes (`/api/v1/p/{plugin}/…`), plugin static files and frames.
//! The host checks the manifest's route, method and roles, and that the plugin is enabled in one of the caller's
//! programs, before it invokes the plugin; it renders page views in the sandboxed renderer (the plugin's
//! templates, sanitized) inside the tenant's theme, and checks every answer: redirects stay on the portal, files
//! cannot run as pages, JSON statuses are real ones. Plugin markup is wrapped in an element naming its plugin,
//! which is what the behaviour script and the frame bridge trust.

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use portico_plugin_api::{Method, route_matches};
use serde_json::json;

use super::csrf::{self, Scope};
use super::ctx::{Auth, Ctx};
use super::error::{HttpError, HttpResult};
use super::security::{FILE_POLICY, FRAME_POLICY};
use super::view::base_context;
use crate::app::AppState;
use crate::plugins::{self, Active};
use crate::runtime::{HttpRequest, HttpResponse, PluginError, RenderError, RenderLimits, RuntimeError, Template};

/// The header the behaviour script sends for a region's refresh: the page view comes back without the layout.
const FRAGMENT: &str = "x-portico-fragment";
/// The header the frame bridge sends: a short-lived token bound to the plugin and the user's session.
const BRIDGE: &str = "x-portico-bridge";

pub fn page_router() -> Router<AppState> {
    Router::new()
        .route("/p/{plugin}", any(page))
        .route("/p/{plugin}/", any(page))
        .route("/p/{plugin}/{*rest}", any(page_rest))
        .route("/plugin-static/{plugin}/{*path}", get(static_file))
        .route("/plugin-frame/{plugin}/{*path}", get(frame_file))
        .route("/dashboard/widgets/{plugin}/{name}", get(widget_fragment))
}

pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/p/{plugin}", any(api))
        .route("/p/{plugin}/", any(api))
        .route("/p/{plugin}/{*rest}", any(api_rest))
}

async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(plugin): Path<String>,
    req: Request,
) -> HttpResult<Response> {
    dispatch(&state, &ctx, &plugin, "/", req, false).await
}

async fn page_rest(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((plugin, rest)): Path<(String, String)>,
    req: Request,
) -> HttpResult<Response> {
    dispatch(&state, &ctx, &plugin, &format!("/{rest}"), req, false).await
}

async fn api(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(plugin): Path<String>,
    req: Request,
) -> HttpResult<Response> {
    dispatch(&state, &ctx, &plugin, "/", req, true).await
}

async fn api_rest(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((plugin, rest)): Path<(String, String)>,
    req: Request,
) -> HttpResult<Response> {
    dispatch(&state, &ctx, &plugin, &format!("/{rest}"), req, true).await
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

/// A plugin that could not be found or loaded: the database's unavailability as such, anything else internal.
fn lifecycle(e: plugins::LifecycleError) -> HttpError {
    match e {
        plugins::LifecycleError::Storage(s) => s.into(),
        other => HttpError::internal(other),
    }
}

/// Finds the plugin among those the caller may use, in the program the query names (or the first).
async fn active(state: &AppState, auth: &Auth, plugin_id: &str, program: Option<&str>) -> HttpResult<Active> {
    let all = plugins::active_for(state, &auth.ctx.tenant, &auth.principal.user, program).await.map_err(lifecycle)?;
    all.iter().find(|a| a.plugin.manifest().id == plugin_id).cloned().ok_or(HttpError::NotFound)
}

/// A plugin route: a public one answers anyone (no caller, rate-limited per client address); every other needs a
/// signed-in user whose role the route names, in a program where the plugin is enabled.
async fn dispatch(
    state: &AppState,
    ctx: &Ctx,
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
    let method = method_of(req.method()).ok_or(HttpError::NotFound)?;
    let public = |a: &Active| {
        a.plugin
            .manifest()
            .routes
            .iter()
            .any(|r| r.public && r.api == api && r.methods.contains(&method) && route_matches(&r.path, path))
    };
    if let Some(active) = plugins::public_active(state, &ctx.tenant, plugin_id).await.map_err(lifecycle)?
        && public(&active)
    {
        if let Some(retry_after_secs) = state.public_limiter.refuse(&ctx.tenant.id, ctx.ip) {
            return Err(HttpError::TooManyRequests { retry_after_secs });
        }
        let inv = plugins::anonymous_invocation(state, &ctx.tenant, &active, &ctx.request_id);
        let upload = active
            .plugin
            .manifest()
            .routes
            .iter()
            .find(|r| r.public && route_matches(&r.path, path) && r.api == api && r.methods.contains(&method))
            .and_then(|r| r.upload.clone());
        return run(state, ctx, None, &active, path, query, req, api, inv, upload).await;
    }
    let principal = ctx.principal.clone().ok_or(HttpError::Unauthorized)?;
    let auth = Auth { ctx: ctx.clone(), principal };
    let program = query.iter().find(|(k, _)| k == "program").map(|(_, v)| v.clone());
    let active = active(state, &auth, plugin_id, program.as_deref()).await?;
    let manifest = active.plugin.manifest();
    let route = manifest
        .routes
        .iter()
        .find(|r| !r.public && r.api == api && r.methods.contains(&method) && route_matches(&r.path, path))
        .ok_or(HttpError::NotFound)?;
    if !plugins::role_allowed(&route.roles, auth.principal.role()) {
        return Err(HttpError::Forbidden);
    }
    let upload = route.upload.clone();
    let inv = plugins::user_invocation(state, &auth.ctx.tenant, &active, &auth.principal.user, &auth.ctx.request_id);
    run(state, ctx, Some(&auth), &active, path, query, req, api, inv, upload).await
}

/// Runs a plugin route for the request and answers with what the plugin said, checked.
#[allow(clippy::too_many_arguments)]
async fn run(
    state: &AppState,
    ctx: &Ctx,
    auth: Option<&Auth>,
    active: &Active,
    path: &str,
    query: Vec<(String, String)>,
    req: Request,
    api: bool,
    mut inv: crate::runtime::Invocation,
    upload: Option<portico_plugin_api::Upload>,
) -> HttpResult<Response> {
    let plugin_id = active.plugin.manifest().id.as_str();
    if let Some(token) = req.headers().get(BRIDGE) {
        let token = token.to_str().unwrap_or_default();
        if auth.is_none() || !csrf::verify_bridge(&ctx.csrf_token, plugin_id, token, crate::domain::now_millis()) {
            return Err(HttpError::Forbidden);
        }
    }
    let fragment = !api && req.headers().contains_key(FRAGMENT);
    let method_name = req.method().as_str().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "cookie" | "authorization" | "x-csrf-token"))
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let boundary = multer::parse_boundary(&content_type).ok();
    let (body, form) = match (&upload, boundary) {
        // Files stream into the blob store within the route's limits; the plugin gets their handles.
        (Some(limits), Some(boundary)) => {
            let (form, files) =
                super::upload::receive_files(state, &ctx.tenant.id, plugin_id, limits, req.into_body(), boundary)
                    .await?;
            inv.uploads = files;
            (Bytes::new(), form)
        }
        _ => {
            let body: Bytes = to_bytes(req.into_body(), super::MAX_BODY_BYTES)
                .await
                .map_err(|_| HttpError::invalid("body", "the request is too large"))?;
            let form = if content_type.starts_with("application/x-www-form-urlencoded") {
                url::form_urlencoded::parse(&body)
                    .filter(|(k, _)| k != "csrf_token")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            } else {
                Vec::new()
            };
            (body, form)
        }
    };
    let uploaded: Vec<String> = inv.uploads.iter().map(|u| u.row.key.clone()).collect();
    let wit_req =
        HttpRequest { method: method_name, path: path.to_string(), query, headers, body: body.to_vec(), form, api };
    let started = std::time::Instant::now();
    let outcome = state.runtime.handle_http(active.plugin.loaded.clone(), inv, wit_req).await;
    // Uploads the call did not keep (or kept in a call that failed) leave the store now.
    super::upload::discard_unkept(state, &uploaded).await;
    let response = outcome.map_err(runtime_error)?.map_err(plugin_error)?;
    let status_of = |code: u16| {
        StatusCode::from_u16(code).ok().filter(|s| (200..600).contains(&s.as_u16())).ok_or_else(|| {
            HttpError::BadGateway(format!("plugin {plugin_id} answered with status {code}, which is not one"))
        })
    };
    match response {
        HttpResponse::Page(view) if fragment => {
            let html = render_fragment(state, ctx, active, &view.template, &view.context, started).await?;
            let res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html);
            Ok((status_of(view.status)?, res).into_response())
        }
        HttpResponse::Page(view) if !api => {
            let status = status_of(view.status)?;
            let html = render_view(state, ctx, active, &view.template, &view.context, &view.title, started).await?;
            Ok((status, html).into_response())
        }
        HttpResponse::Page(_) => {
            Err(HttpError::internal(format!("plugin {plugin_id} answered an API call with a page")))
        }
        HttpResponse::Json((status, body)) => {
            Ok((status_of(status)?, [(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        HttpResponse::Redirect(to) if same_origin_path(&to) => Ok(Redirect::to(&to).into_response()),
        HttpResponse::Redirect(to) => Err(HttpError::BadGateway(format!(
            "plugin {plugin_id} redirected to {:?}, which is not a path on this portal",
            to.escape_debug().to_string()
        ))),
        HttpResponse::File(f) => Ok(file_response(&f.content_type, &f.filename, f.body)),
    }
}

/// A path a browser reads as this portal's: one leading `/`, and nothing it would turn into another origin
/// (`//host`, `/\host`: browsers read backslashes as slashes) or another header (CR, LF), no tabs or other control
/// characters (which browsers strip, so `/\t/host` is `//host`), no scheme.
pub fn same_origin_path(to: &str) -> bool {
    to.starts_with('/')
        && !to.starts_with("//")
        && !to.contains('\\')
        && !to.chars().any(|c| c.is_control())
        && to.len() <= 2048
}

/// A file a plugin answers with: never a page of the portal. Types that a browser could run (HTML, SVG, XML,
/// scripts, anything unknown) are downloads; every file is `nosniff` and sandboxed, and its name is sanitized
/// (RFC 6266: an ASCII fallback and the UTF-8 name as `filename*`).
pub(super) fn file_response(content_type: &str, filename: &str, body: Vec<u8>) -> Response {
    let ct = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let inline = passive(&ct);
    let content_type = if ct.is_empty() || !ct.is_ascii() || ct.contains(|c: char| c.is_control()) {
        "application/octet-stream".to_string()
    } else if ct.starts_with("text/") {
        format!("{ct}; charset=utf-8")
    } else {
        ct
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let disposition = content_disposition(if inline { "inline" } else { "attachment" }, filename);
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ASCII by construction"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FILE_POLICY));
    res
}

/// Whether a browser shows a type without running anything: only these are served `inline`.
pub(super) fn passive(content_type: &str) -> bool {
    const PASSIVE: &[&str] = &[
        "text/plain",
        "text/csv",
        "application/pdf",
        "application/json",
        "application/zip",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "audio/mpeg",
        "audio/ogg",
        "video/mp4",
        "video/webm",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ];
    let ct = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    PASSIVE.contains(&ct.as_str())
}

/// `inline`/`attachment` with an ASCII `filename` and, when the name has more, an RFC 5987 `filename*`.
pub(super) fn content_disposition(kind: &str, filename: &str) -> String {
    let name: String = filename
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(200)
        .collect();
    let name = if name.is_empty() { "download".to_string() } else { name };
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') { c } else { '_' })
        .collect();
    if ascii == name {
        format!("{kind}; filename=\"{ascii}\"")
    } else {
        let encoded: String =
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>().replace('+', "%20");
        format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
    }
}

/// Renders a plugin view: its template (theme override first), sanitized, inside the portal layout.
pub(super) async fn render_view(
    state: &AppState,
    ctx: &Ctx,
    active: &Active,
    template: &str,
    context: &str,
    title: &str,
    started: std::time::Instant,
) -> HttpResult<Html<String>> {
    let fragment = render_fragment(state, ctx, active, template, context, started).await?;
    let id = &active.plugin.manifest().id;
    // A frame bridge only for a signed-in user's session; a public page has none.
    let bridge = match &ctx.principal {
        Some(_) => csrf::bridge_token(&ctx.csrf_token, id, crate::domain::now_millis()),
        None => String::new(),
    };
    super::view::render(
        state,
        ctx,
        "plugin.html",
        json!({ "title": title, "plugin_html": wrap(id, &bridge, &fragment), "plugin_id": id }),
    )
    .await
}

/// A plugin template rendered in the sandboxed renderer under what is left of the invocation's limits (from
/// `started`), with the plugin's context plus the base values (user, portal, time zone, and a form token good for
/// this plugin's routes only), and sanitized. The host's own form token and the page's nonce never reach it.
pub(super) async fn render_fragment(
    state: &AppState,
    ctx: &Ctx,
    active: &Active,
    template: &str,
    context: &str,
    started: std::time::Instant,
) -> HttpResult<String> {
    let value: serde_json::Value = serde_json::from_str(context)
        .map_err(|e| HttpError::internal(format!("plugin view context is not JSON: {e}")))?;
    let mut ctx_json = base_context(state, ctx, json!({}))?.into_json();
    if let (Some(base), serde_json::Value::Object(map)) = (ctx_json.as_object_mut(), value) {
        base.extend(map);
        let id = active.plugin.manifest().id.clone();
        base.insert("csrf_token".into(), csrf::scoped(&ctx.csrf_token, &Scope::Plugin(id)).into());
        for host_only in ["logout_token", "csp_nonce", "nav"] {
            base.remove(host_only);
        }
    }
    let u = &active.plugin;
    let sources = state.renderer.plugin_sources(&ctx.tenant.theme, &u.manifest().id, &u.package_key, &u.templates);
    let templates =
        sources.iter().map(|(name, source)| Template { name: name.clone(), source: source.clone() }).collect();
    let limits = RenderLimits::after(started, &u.loaded.limits);
    state
        .runtime
        .render_templates(&u.manifest().id, templates, template, ctx_json.to_string(), limits)
        .await
        .map_err(|e| render_error(&u.manifest().id, template, e))
}

/// Plugin markup in the element that names its plugin (and carries its frame bridge's token). The sanitizer
/// removes these attributes from the markup itself, so it cannot claim another plugin.
fn wrap(plugin_id: &str, bridge: &str, html: &str) -> String {
    let attr = |v: &str| v.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    format!(
        "<div class=\"plugin-root\" data-pt-plugin=\"{}\" data-pt-bridge=\"{}\">{html}</div>",
        attr(plugin_id),
        attr(bridge)
    )
}

/// A failed rendering is the plugin's failure: its page (or widget) fails, the cause is logged.
fn render_error(plugin_id: &str, template: &str, e: RenderError) -> HttpError {
    let why = crate::domain::escape_control(&e.to_string()).into_owned();
    HttpError::internal(format!("plugin {plugin_id}, template {}: {why}", crate::domain::escape_control(template)))
}

/// A plugin error as the HTTP error the caller sees.
pub(super) fn plugin_error(e: PluginError) -> HttpError {
    match e {
        PluginError::NotFound(_) => HttpError::NotFound,
        PluginError::Denied(_) => HttpError::Forbidden,
        PluginError::Invalid(f) => HttpError::Invalid { field: f.field, message: f.message },
        PluginError::Conflict(m) => HttpError::Conflict { field: None, message: m },
        PluginError::Unavailable(m) => HttpError::Unavailable(crate::domain::escape_control(&m).into_owned()),
        PluginError::Internal(m) => HttpError::internal(format!("plugin error: {}", crate::domain::escape_control(&m))),
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
    // The package allows nothing else under static/ (checked at install); an older package's other files are not
    // served.
    let ct = crate::archive::content_type_by_name(&path);
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, "private, max-age=3600"),
            // An SVG opened on its own is a document: sandboxed, it cannot script.
            (header::CONTENT_SECURITY_POLICY, FILE_POLICY),
        ],
        bytes,
    )
        .into_response())
}

/// A file of a plugin's `frame/`: custom client code, which only ever runs sandboxed under an opaque origin
/// (the CSP `sandbox` directive holds even when the file is opened on its own). Frames are framed by the portal's
/// plugin pages only, and they get no cookies, so these files answer without a session: they are the package's
/// code, not anyone's data.
async fn frame_file(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((plugin, path)): Path<(String, String)>,
) -> HttpResult<Response> {
    let installed = ctx.scope(&state).installed_plugin(&plugin).await?.ok_or(HttpError::NotFound)?;
    let unpacked = plugins::unpacked(&state, &installed).await.map_err(HttpError::internal)?;
    let bytes = unpacked.frames.get(&path).ok_or(HttpError::NotFound)?.clone();
    let ct = match path.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("wasm") => "application/wasm",
        Some("mp4") => "video/mp4",
        Some("mp3") => "audio/mpeg",
        _ => "application/octet-stream",
    };
    let mut res = ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "no-cache")], bytes).into_response();
    res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FRAME_POLICY));
    res.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    Ok(res)
}

/// The partner cards of every plugin enabled for the tenant about org `org_id`, for vendor staff, rendered
/// concurrently. A card that fails shows as unavailable; the others render regardless.
pub(super) async fn partner_cards(state: &AppState, auth: &Auth, org_id: &str) -> Vec<serde_json::Value> {
    let active = match plugins::active_for(state, &auth.ctx.tenant, &auth.principal.user, None).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "plugin cards unavailable");
            return Vec::new();
        }
    };
    let mut jobs = Vec::new();
    for a in active.iter() {
        for c in a.plugin.manifest().cards.iter() {
            let inv = plugins::user_invocation(state, &auth.ctx.tenant, a, &auth.principal.user, &auth.ctx.request_id);
            let (a, c, org) = (a.clone(), c.clone(), org_id.to_string());
            jobs.push(async move {
                let started = std::time::Instant::now();
                let id = a.plugin.manifest().id.clone();
                let result = state.runtime.render_card(a.plugin.loaded.clone(), inv, c.name.clone(), org).await;
                let html = match result {
                    None => Err(format!("plugin {id} declares cards but has no partner-cards export")),
                    Some(Ok(Ok(view))) => render_fragment(state, &auth.ctx, &a, &view.template, &view.context, started)
                        .await
                        .map(|h| {
                            wrap(&id, &csrf::bridge_token(&auth.ctx.csrf_token, &id, crate::domain::now_millis()), &h)
                        })
                        .map_err(|e| format!("{e:?}")),
                    Some(Ok(Err(e))) => Err(format!("{e:?}")),
                    Some(Err(e)) => Err(e.to_string()),
                };
                match html {
                    Ok(html) => json!({ "plugin": id, "name": c.name, "title": c.title, "html": html }),
                    Err(cause) => {
                        tracing::warn!(plugin = %id, card = %c.name, cause = %cause, "partner card failed");
                        json!({ "plugin": id, "name": c.name, "title": c.title, "error": true })
                    }
                }
            });
        }
    }
    futures::future::join_all(jobs).await
}

/// The dashboard widgets of the caller's plugins, rendered concurrently for at most the configured budget
/// (`widget_budget_ms`). A widget that fails shows as unavailable; one not ready in time is left for the page to
/// load on its own (`/dashboard/widgets/{plugin}/{name}`); the others render regardless.
pub(super) async fn widgets(state: &AppState, auth: &Auth) -> Vec<serde_json::Value> {
    let active = match plugins::active_for(state, &auth.ctx.tenant, &auth.principal.user, None).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "plugin widgets unavailable");
            return Vec::new();
        }
    };
    let budget = std::time::Duration::from_millis(state.config.widget_budget_ms);
    let mut jobs = Vec::new();
    for a in active.iter() {
        for w in a.plugin.manifest().widgets.iter().filter(|w| plugins::role_allowed(&w.roles, auth.principal.role())) {
            jobs.push(async move {
                let id = &a.plugin.manifest().id;
                match tokio::time::timeout(budget, render_widget(state, auth, a, w)).await {
                    Ok(Ok(html)) => json!({ "plugin": id, "name": w.name, "title": w.title, "html": html }),
                    Ok(Err(())) => json!({ "plugin": id, "name": w.name, "title": w.title, "error": true }),
                    Err(_) => json!({ "plugin": id, "name": w.name, "title": w.title, "deferred": true,
                                      "src": format!("/dashboard/widgets/{id}/{}", w.name) }),
                }
            });
        }
    }
    futures::future::join_all(jobs).await
}

/// One widget's markup, wrapped for its plugin; a failure is logged and reported as `Err(())`.
async fn render_widget(
    state: &AppState,
    auth: &Auth,
    a: &Active,
    w: &portico_plugin_api::Widget,
) -> Result<String, ()> {
    let started = std::time::Instant::now();
    let inv = plugins::user_invocation(state, &auth.ctx.tenant, a, &auth.principal.user, &auth.ctx.request_id);
    let result = state.runtime.render_widget(a.plugin.loaded.clone(), inv, w.name.clone()).await;
    let id = &a.plugin.manifest().id;
    let html = match result {
        Ok(Ok(view)) => render_fragment(state, &auth.ctx, a, &view.template, &view.context, started)
            .await
            .map(|h| wrap(id, &csrf::bridge_token(&auth.ctx.csrf_token, id, crate::domain::now_millis()), &h))
            .map_err(|e| format!("{e:?}")),
        Ok(Err(e)) => Err(format!("{e:?}")),
        Err(e) => Err(e.to_string()),
    };
    html.map_err(|cause| tracing::warn!(plugin = %id, widget = %w.name, cause = %cause, "widget failed"))
}

/// `GET /dashboard/widgets/{plugin}/{name}`: one widget of the caller's dashboard on its own, for a widget the
/// dashboard did not wait for (no deadline but the plugin's own). A failure answers 503 with a line to show.
async fn widget_fragment(
    State(state): State<AppState>,
    auth: Auth,
    Path((plugin, name)): Path<(String, String)>,
) -> HttpResult<Response> {
    let active =
        plugins::active_for(&state, &auth.ctx.tenant, &auth.principal.user, None).await.map_err(HttpError::internal)?;
    let a = active.iter().find(|a| a.plugin.manifest().id == plugin).ok_or(HttpError::NotFound)?;
    let w = a
        .plugin
        .manifest()
        .widgets
        .iter()
        .find(|w| w.name == name && plugins::role_allowed(&w.roles, auth.principal.role()))
        .ok_or(HttpError::NotFound)?;
    Ok(match render_widget(&state, &auth, a, w).await {
        Ok(html) => Html(html).into_response(),
        Err(()) => {
            (StatusCode::SERVICE_UNAVAILABLE, Html("<p class=\"muted\">This widget is unavailable right now.</p>"))
                .into_response()
        }
    })
}

/// What the caller should do next, from every plugin of theirs with the `next-steps` export, asked concurrently
/// within the widget budget: urgent first, then by due date; at most `limit`. A step must link one of its
/// plugin's own pages; a plugin that fails or is late suggests nothing this time.
pub(super) async fn next_steps(state: &AppState, auth: &Auth, limit: usize) -> Vec<serde_json::Value> {
    let Ok(active) = plugins::active_for(state, &auth.ctx.tenant, &auth.principal.user, None).await else {
        return Vec::new();
    };
    let budget = std::time::Duration::from_millis(state.config.widget_budget_ms);
    let jobs = active.iter().map(|a| async move {
        let inv = plugins::user_invocation(state, &auth.ctx.tenant, a, &auth.principal.user, &auth.ctx.request_id);
        let id = a.plugin.manifest().id.clone();
        let asked = tokio::time::timeout(budget, state.runtime.next_steps(a.plugin.loaded.clone(), inv)).await;
        let steps = match asked {
            Ok(Some(Ok(Ok(steps)))) => steps,
            Ok(None) => Vec::new(),
            Ok(Some(Ok(Err(e)))) => {
                tracing::info!(plugin = %id, error = ?e, "next steps returned an error");
                Vec::new()
            }
            Ok(Some(Err(e))) => {
                tracing::warn!(plugin = %id, error = %e, "next steps failed");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let own = format!("/p/{id}/");
        steps
            .into_iter()
            .filter(|s| s.link.starts_with(&own) && !s.link.contains("..") && !s.title.trim().is_empty())
            .take(limit)
            .map(|s| (a.plugin.manifest().name.clone(), s))
            .collect::<Vec<_>>()
    });
    let mut all: Vec<(String, crate::runtime::NextStep)> =
        futures::future::join_all(jobs).await.into_iter().flatten().collect();
    all.sort_by_key(|(_, s)| (!s.urgent, s.due_ms.unwrap_or(i64::MAX)));
    all.into_iter()
        .take(limit)
        .map(|(plugin, s)| {
            let title: String = s.title.chars().take(120).collect();
            let detail: String = s.detail.chars().take(200).collect();
            json!({ "plugin": plugin, "title": title, "detail": detail, "link": s.link, "due": s.due_ms, "urgent": s.urgent })
        })
        .collect()
}
