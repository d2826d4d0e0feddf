//! Plugin administration (`/admin/plugins…`, vendor admins): install by upload, see what a plugin asks for,
//! enable it and configure it per program (a form generated from its settings schema), replay dead letters.
//! Also `GET /api/v1/plugins`.

use axum::Json;
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portico_plugin_api::{SettingType, validate_settings};
use serde_json::{Value, json};

use super::ctx::Auth;
use super::error::{HttpError, HttpResult};
use super::extract::{Form, Query};
use super::view::{FieldErrors, render_status, with};
use crate::app::AppState;
use crate::domain::ListQuery;
use crate::plugins::{self, LifecycleError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/plugins", get(list).post(upload))
        .route("/admin/plugins/dead-letters", get(dead_letters))
        .route("/admin/plugins/dead-letters/{event}/{plugin}/replay", post(replay))
        .route("/admin/plugins/{id}", get(detail))
        .route("/admin/plugins/{id}/programs/{program}", post(save_program))
        .route("/admin/plugins/{id}/secrets/{name}", post(save_secret))
}

pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(api_list))
        .route("/plugins/{id}/secrets", get(api_secrets))
        .route("/plugins/{id}/secrets/{name}", axum::routing::put(api_set_secret).delete(api_clear_secret))
}

/// Installed plugins with version, grants and per-program enablement, as JSON.
async fn plugin_rows(state: &AppState, auth: &Auth) -> HttpResult<Vec<Value>> {
    let scope = auth.ctx.scope(state);
    let programs = scope.list_programs().await?;
    let mut rows = Vec::new();
    for p in scope.installed_plugins().await? {
        let manifest: portico_plugin_api::Manifest = serde_json::from_str(&p.manifest).map_err(HttpError::internal)?;
        let enabled = scope.plugin_programs(&p.plugin_id).await?;
        let per_program: Vec<Value> = programs
            .iter()
            .map(|prog| json!({ "program": prog.key, "program_id": prog.id, "name": prog.name, "enabled": enabled.iter().any(|e| e.enabled && e.program_id == prog.id) }))
            .collect();
        rows.push(json!({ "id": p.plugin_id, "name": manifest.name, "version": p.version, "description": manifest.description,
                          "api": manifest.api.to_string(), "grants": manifest.grants, "programs": per_program, "installed_at": p.installed_at, "updated_at": p.updated_at }));
    }
    Ok(rows)
}

async fn api_list(State(state): State<AppState>, auth: Auth) -> HttpResult<Json<Value>> {
    auth.principal.require_vendor_admin()?;
    Ok(Json(json!({ "items": plugin_rows(&state, &auth).await?, "api_version": portico_plugin_api::API_VERSION })))
}

async fn list_view(state: &AppState, auth: &Auth, status: StatusCode, extra: Value) -> HttpResult<Response> {
    let rows = plugin_rows(state, auth).await?;
    let page = with(json!({ "plugins": rows, "api_version": portico_plugin_api::API_VERSION }), extra);
    Ok(render_status(state, &auth.ctx, status, "admin/plugins.html", page).await?.into_response())
}

async fn list(State(state): State<AppState>, auth: Auth) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    list_view(&state, &auth, StatusCode::OK, json!({})).await
}

async fn upload(State(state): State<AppState>, auth: Auth, mut mp: Multipart) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let mut bytes = None;
    while let Some(field) =
        mp.next_field().await.map_err(|e| HttpError::invalid("package", format!("the upload was cut short: {e}")))?
    {
        if field.name() == Some("package") {
            bytes = Some(
                field.bytes().await.map_err(|e| HttpError::invalid("package", format!("the upload failed: {e}")))?,
            );
        }
    }
    let fail = |message: String| {
        let errors: FieldErrors = [("package".to_string(), message)].into();
        json!({ "errors": errors })
    };
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        return list_view(
            &state,
            &auth,
            StatusCode::UNPROCESSABLE_ENTITY,
            fail("choose a plugin package (.tar.gz)".into()),
        )
        .await;
    };
    match plugins::install(&state, &auth.ctx.tenant, &bytes, Some(&auth.principal.user.id)).await {
        Ok((p, _)) => Ok(Redirect::to(&format!("/admin/plugins/{}?flash=saved", p.plugin_id)).into_response()),
        Err(e @ (LifecycleError::Storage(_) | LifecycleError::Blob(_))) => Err(HttpError::internal(e)),
        Err(LifecycleError::BlobFull(cause)) => Err(HttpError::StorageFull(cause)),
        Err(e) => list_view(&state, &auth, StatusCode::UNPROCESSABLE_ENTITY, fail(e.to_string())).await,
    }
}

async fn detail_view(
    state: &AppState,
    auth: &Auth,
    id: &str,
    status: StatusCode,
    extra: Value,
) -> HttpResult<Response> {
    let scope = auth.ctx.scope(state);
    let installed = scope.installed_plugin(id).await?.ok_or(HttpError::NotFound)?;
    let manifest: portico_plugin_api::Manifest =
        serde_json::from_str(&installed.manifest).map_err(HttpError::internal)?;
    let enabled = scope.plugin_programs(id).await?;
    let mut programs = Vec::new();
    for prog in scope.list_programs().await? {
        let row = enabled.iter().find(|e| e.program_id == prog.id);
        let settings: Value = serde_json::from_str(&plugins::effective_settings(
            &manifest.settings,
            row.map(|r| r.settings.as_str()).unwrap_or("{}"),
        ))
        .unwrap_or(json!({}));
        let fields: Vec<Value> = manifest
            .settings
            .iter()
            .map(|f| {
                let v = settings.get(&f.key).cloned().unwrap_or(Value::Null);
                let shown = match (&f.kind, &v) {
                    (SettingType::List, Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
                    (_, Value::String(s)) => s.clone(),
                    (_, Value::Null) => String::new(),
                    (_, other) => other.to_string(),
                };
                json!({ "key": f.key, "label": f.label, "type": f.kind, "help": f.help, "options": f.options, "value": shown, "checked": v == Value::Bool(true) })
            })
            .collect();
        programs.push(json!({ "id": prog.id, "key": prog.key, "name": prog.name, "enabled": row.is_some_and(|r| r.enabled), "fields": fields }));
    }
    // Its secrets: which are set and when, never a value.
    let set = scope.plugin_secret_names(id).await?;
    let secrets: Vec<Value> = manifest
        .grants
        .secrets
        .iter()
        .map(|name| {
            let info = set.iter().find(|s| &s.name == name);
            json!({ "name": name, "set": info.is_some(), "updated_at": info.map(|i| i.updated_at),
                    "writable": manifest.grants.writable_secrets.contains(name) })
        })
        .collect();
    // What it holds against its quotas, counted now (not from a replica's cache).
    let usage = state.db.plugin_usage(&auth.ctx.tenant.id, id, crate::domain::now_millis()).await?;
    let q = state.runtime.limits.quotas();
    let row = |label: &str, used: u64, quota: u64, unit: &str| {
        let pct = used.saturating_mul(100).checked_div(quota).unwrap_or(100).min(100);
        json!({ "label": label, "used": group(used), "quota": group(quota), "unit": unit, "pct": pct, "full": used >= quota })
    };
    let usage_rows = vec![
        row("Stored records", usage.records, q.records, ""),
        row("Index rows", usage.index_rows, q.index_rows, ""),
        row("Files", usage.blob_bytes >> 20, q.blob_bytes >> 20, "MiB"),
        row("Undelivered events", usage.outbox, q.outbox, ""),
        row("Emails in the last hour", usage.emails_last_hour, q.emails_per_hour, ""),
    ];
    let built_against = match plugins::unpacked(state, &installed).await {
        Ok(u) => u.loaded.compiled.api_version.as_ref().map(|v| v.to_string()),
        Err(e) => {
            tracing::warn!(plugin = %id, error = %e, "could not load an installed plugin");
            None
        }
    };
    let page = with(
        json!({ "plugin": { "id": installed.plugin_id, "version": installed.version, "manifest": manifest,
                            "built_against": built_against, "serves": portico_plugin_api::api_version().to_string() },
                "programs": programs, "usage": usage_rows, "secrets": secrets }),
        extra,
    );
    Ok(render_status(state, &auth.ctx, status, "admin/plugin.html", page).await?.into_response())
}

/// A count with thousands separated, as the admin pages show numbers.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The secret form: a value sets it (write-only: the page never shows one), `clear` removes it.
#[derive(serde::Deserialize)]
struct SecretForm {
    #[serde(default)]
    value: String,
    #[serde(default)]
    clear: Option<String>,
}

async fn save_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, name)): Path<(String, String)>,
    Form(f): Form<SecretForm>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let value = if f.clear.is_some() { None } else { Some(f.value.as_str()) };
    let actor = Some(auth.principal.user.id.as_str());
    match plugins::set_secret(&state, &auth.ctx.tenant, &id, &name, value, actor).await {
        Ok(()) => Ok(Redirect::to(&format!("/admin/plugins/{id}?flash=saved")).into_response()),
        Err(LifecycleError::NotInstalled(_) | LifecycleError::UnknownSecret(..)) => Err(HttpError::NotFound),
        Err(LifecycleError::SecretValue) => {
            let errors: FieldErrors = [(format!("secret.{name}"), LifecycleError::SecretValue.to_string())].into();
            detail_view(&state, &auth, &id, StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errors })).await
        }
        Err(e) => Err(HttpError::internal(e)),
    }
}

async fn api_secrets(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> HttpResult<Json<Value>> {
    auth.principal.require_vendor_admin()?;
    let scope = auth.ctx.scope(&state);
    let installed = scope.installed_plugin(&id).await?.ok_or(HttpError::NotFound)?;
    let manifest: portico_plugin_api::Manifest =
        serde_json::from_str(&installed.manifest).map_err(HttpError::internal)?;
    let set = scope.plugin_secret_names(&id).await?;
    let items: Vec<Value> = manifest
        .grants
        .secrets
        .iter()
        .map(|name| {
            let info = set.iter().find(|s| &s.name == name);
            json!({ "name": name, "set": info.is_some(), "updated_at": info.map(|i| i.updated_at) })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(serde::Deserialize)]
struct SecretBody {
    value: String,
}

async fn api_set_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, name)): Path<(String, String)>,
    Json(body): Json<SecretBody>,
) -> HttpResult<StatusCode> {
    auth.principal.require_vendor_admin()?;
    secret_outcome(
        plugins::set_secret(&state, &auth.ctx.tenant, &id, &name, Some(&body.value), Some(&auth.principal.user.id))
            .await,
    )
}

async fn api_clear_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, name)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    auth.principal.require_vendor_admin()?;
    secret_outcome(plugins::set_secret(&state, &auth.ctx.tenant, &id, &name, None, Some(&auth.principal.user.id)).await)
}

fn secret_outcome(r: Result<(), LifecycleError>) -> HttpResult<StatusCode> {
    match r {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(LifecycleError::NotInstalled(_) | LifecycleError::UnknownSecret(..)) => Err(HttpError::NotFound),
        Err(e @ LifecycleError::SecretValue) => Err(HttpError::invalid("value", e.to_string())),
        Err(e) => Err(HttpError::internal(e)),
    }
}

async fn detail(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    detail_view(&state, &auth, &id, StatusCode::OK, json!({})).await
}

/// Saves one program's enablement and settings, validated against the schema.
async fn save_program(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, program)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let scope = auth.ctx.scope(&state);
    let installed = scope.installed_plugin(&id).await?.ok_or(HttpError::NotFound)?;
    let manifest: portico_plugin_api::Manifest =
        serde_json::from_str(&installed.manifest).map_err(HttpError::internal)?;
    let prog = scope.program(&program).await?;
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let mut values = serde_json::Map::new();
    let mut errors = FieldErrors::new();
    for f in &manifest.settings {
        match f.from_form(get(&format!("setting_{}", f.key))) {
            Ok(Some(v)) => {
                values.insert(f.key.clone(), v);
            }
            Ok(None) => {}
            Err(m) => {
                errors.insert(format!("{}.{}", prog.id, f.key), m);
            }
        }
    }
    let validated = match validate_settings(&manifest.settings, &values) {
        Ok(v) if errors.is_empty() => v,
        Ok(_) => serde_json::Map::new(),
        Err(list) => {
            for (k, m) in list {
                errors.entry(format!("{}.{k}", prog.id)).or_insert(m);
            }
            serde_json::Map::new()
        }
    };
    if !errors.is_empty() {
        return detail_view(&state, &auth, &id, StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errors })).await;
    }
    let enabled = get("enabled") == Some("on");
    scope.set_plugin_settings(&id, &prog.id, &Value::Object(validated).to_string()).await?;
    scope.set_plugin_enabled(&id, &prog.id, enabled).await?;
    let action = if enabled { "plugin.enabled" } else { "plugin.disabled" };
    scope.audit(Some(&auth.principal.user.id), action, &id, &format!("{} (settings saved)", prog.key)).await?;
    Ok(Redirect::to(&format!("/admin/plugins/{id}?flash=saved")).into_response())
}

async fn dead_letters(State(state): State<AppState>, auth: Auth, Query(lq): Query<ListQuery>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let rows = auth.ctx.scope(&state).dead_deliveries(&lq).await?;
    let page = json!({ "deliveries": rows, "pages": rows.pages(), "q": lq.q });
    Ok(render_status(&state, &auth.ctx, StatusCode::OK, "admin/dead_letters.html", page).await?.into_response())
}

async fn replay(
    State(state): State<AppState>,
    auth: Auth,
    Path((event, plugin)): Path<(String, String)>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let scope = auth.ctx.scope(&state);
    scope.replay_delivery(&event, &plugin).await?;
    scope.audit(Some(&auth.principal.user.id), "event.replayed", &plugin, &event).await?;
    Ok(Redirect::to("/admin/plugins/dead-letters?flash=saved").into_response())
}
