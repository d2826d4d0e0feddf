//! Page templates a tenant overrides (`/admin/templates`, vendor admins): the tenant's own version of any of its
//! theme's templates, checked before it is saved. Lookup is tenant override → theme → default theme, and a page
//! whose override fails on its context falls back to the theme's (see `Renderer::render`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::ctx::Auth;
use super::error::{HttpError, HttpResult};
use super::extract::{Form, Query};
use super::view::{FieldErrors, render_status};
use crate::app::AppState;

/// The largest override accepted: a whole page layout is a few KiB.
const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// The editor's own pages, which no override may replace: the way back from a bad edit must always work
/// (`portico tenant template --remove` is the operator's way back from anything else).
const EDITOR: [&str; 2] = ["admin/templates.html", "admin/template.html"];

/// Whether a tenant may override `name` on `theme` from the admin UI.
fn editable(state: &AppState, theme: &str, name: &str) -> bool {
    !EDITOR.contains(&name) && state.renderer.has_template(theme, name)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/templates", get(list).post(save))
        .route("/admin/templates/edit", get(edit_page))
        .route("/admin/templates/remove", post(remove))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TemplateForm {
    name: String,
    source: String,
}

async fn list(State(state): State<AppState>, auth: Auth) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let overrides = auth.ctx.scope(&state).template_overrides().await?;
    let rows: Vec<_> = state
        .renderer
        .template_names(&auth.ctx.tenant.theme)
        .into_iter()
        .filter(|name| !EDITOR.contains(&name.as_str()))
        .map(|name| {
            let overridden = overrides.iter().any(|(o, _)| *o == name);
            json!({ "name": name, "overridden": overridden })
        })
        .collect();
    render_status(
        &state,
        &auth.ctx,
        StatusCode::OK,
        "admin/templates.html",
        json!({ "templates": rows, "overridden": overrides.len() }),
    )
    .await
    .map(IntoResponse::into_response)
}

async fn edit_page(State(state): State<AppState>, auth: Auth, Query(f): Query<TemplateForm>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    edit_view(&state, &auth, StatusCode::OK, &f.name, None, FieldErrors::new()).await
}

/// The editor for one template: the tenant's override if it has one, else the theme's source to start from.
async fn edit_view(
    state: &AppState,
    auth: &Auth,
    status: StatusCode,
    name: &str,
    source: Option<String>,
    errors: FieldErrors,
) -> HttpResult<Response> {
    let theme = &auth.ctx.tenant.theme;
    if !editable(state, theme, name) {
        return Err(HttpError::NotFound);
    }
    let theme_source = state.renderer.theme_source(theme, name).ok_or(HttpError::NotFound)?;
    let current = auth.ctx.scope(state).template_overrides().await?.into_iter().find(|(n, _)| n == name);
    let overridden = current.is_some();
    let source = source.or(current.map(|(_, body)| body)).unwrap_or_else(|| theme_source.clone());
    let page = json!({
        "name": name,
        "source": source,
        "theme_source": theme_source,
        "overridden": overridden,
        "errors": errors,
    });
    Ok(render_status(state, &auth.ctx, status, "admin/template.html", page).await?.into_response())
}

async fn save(State(state): State<AppState>, auth: Auth, Form(f): Form<TemplateForm>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let theme = &auth.ctx.tenant.theme;
    if !editable(&state, theme, &f.name) {
        return Err(HttpError::invalid(
            "name",
            "choose one of the theme's templates (the template editor's own cannot be replaced)",
        ));
    }
    let mut errors = FieldErrors::new();
    if f.source.trim().is_empty() {
        errors.insert("source".into(), "enter the template, or remove the override to use the theme's".into());
    } else if f.source.len() > MAX_TEMPLATE_BYTES {
        errors.insert("source".into(), format!("use at most {} KiB", MAX_TEMPLATE_BYTES / 1024));
    } else if let Err(message) = state.renderer.check_override(theme, &f.name, &f.source) {
        errors.insert("source".into(), message);
    }
    if !errors.is_empty() {
        return edit_view(&state, &auth, StatusCode::UNPROCESSABLE_ENTITY, &f.name, Some(f.source), errors).await;
    }
    let scope = auth.ctx.scope(&state);
    scope.set_template_override(&f.name, Some(&f.source)).await?;
    scope.audit(Some(&auth.principal.user.id), "template.saved", &f.name, "").await?;
    let name = url::form_urlencoded::byte_serialize(f.name.as_bytes()).collect::<String>();
    Ok(Redirect::to(&format!("/admin/templates/edit?name={name}&flash=saved")).into_response())
}

async fn remove(State(state): State<AppState>, auth: Auth, Form(f): Form<TemplateForm>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let scope = auth.ctx.scope(&state);
    scope.set_template_override(&f.name, None).await?;
    scope.audit(Some(&auth.principal.user.id), "template.removed", &f.name, "").await?;
    Ok(Redirect::to("/admin/templates?flash=saved").into_response())
}
