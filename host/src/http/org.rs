//! The partner admin area (`/org…`): their own organisation's profile and logo, and its team.

use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::json;

use super::ctx::Auth;
use super::error::{HttpError, HttpResult};
use super::upload::UploadForm;
use super::view::{render_status, with};
use crate::app::AppState;
use crate::domain::OrgProfile;
use crate::storage::StorageError;

pub fn router() -> Router<AppState> {
    Router::new().route("/org", get(profile_page).post(save_profile)).merge(super::people::org_router())
}

async fn profile_view(
    state: &AppState,
    auth: &Auth,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResult<Response> {
    let scope = auth.ctx.scope(state);
    let org = scope.org(&auth.principal.user.org_id).await?.ok_or(HttpError::NotFound)?;
    let enrolments = scope.enrolments_of_org(&org.id).await?;
    let logo_url = org.logo_key.as_ref().map(|k| format!("/media/{k}"));
    let page = with(json!({ "org": org, "form": org, "enrolments": enrolments, "logo_url": logo_url }), extra);
    Ok(render_status(state, &auth.ctx, status, "org/profile.html", page).await?.into_response())
}

async fn profile_page(State(state): State<AppState>, auth: Auth) -> HttpResult<Response> {
    auth.principal.require_partner_admin()?;
    profile_view(&state, &auth, StatusCode::OK, json!({})).await
}

async fn save_profile(State(state): State<AppState>, auth: Auth, mp: Multipart) -> HttpResult<Response> {
    auth.principal.require_partner_admin()?;
    let form = UploadForm::read(mp, &["logo"]).await?;
    let p = OrgProfile {
        name: form.text("name"),
        website: form.text("website"),
        address: form.text("address"),
        phone: form.text("phone"),
        contact_email: form.text("contact_email"),
    };
    let mut errors = p.validate();
    errors.extend(form.file_errors.clone());
    let scope = auth.ctx.scope(&state);
    let org_id = auth.principal.user.org_id.clone();
    let old = scope.org(&org_id).await?.and_then(|o| o.logo_key);
    // The new logo is stored first: if the blob store refuses it (full, unreachable), nothing else has changed.
    let new_logo = match form.images.get("logo") {
        Some((kind, bytes)) if errors.is_empty() => {
            let key = format!(
                "tenants/{}/orgs/{org_id}/logo-{}.{}",
                auth.ctx.tenant.id,
                crate::domain::new_id(),
                kind.extension()
            );
            state.blobs.put(&key, bytes.clone()).await?;
            Some(Some(key))
        }
        _ if form.text("remove_logo") == "on" => Some(None),
        _ => None,
    };
    if errors.is_empty() {
        match scope.update_org_profile(&org_id, &p).await {
            Ok(()) => {}
            Err(StorageError::Conflict(_)) => {
                errors.insert("name".into(), "another organisation already uses this name".into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !errors.is_empty() {
        if let Some(Some(stored)) = &new_logo {
            let _ = state.blobs.delete(stored).await;
        }
        let echo = json!({ "name": p.name, "website": p.website, "address": p.address, "phone": p.phone, "contact_email": p.contact_email });
        return profile_view(
            &state,
            &auth,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "form": echo, "errors": errors }),
        )
        .await;
    }
    if let Some(key) = new_logo {
        scope.set_org_logo(&org_id, key.as_deref()).await?;
        if let Some(old) = old {
            let _ = state.blobs.delete(&old).await;
        }
    }
    scope.audit(Some(&auth.principal.user.id), "org.profile_updated", p.name.trim(), "").await?;
    Ok(Redirect::to("/org?flash=saved").into_response())
}
