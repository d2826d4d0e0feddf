//! The signed-in user's own account: name, time zone, password, the weekly digest and API tokens.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::ctx::Auth;
use super::error::{HttpError, HttpResult};
use super::extract::Form;
use super::view::{FieldErrors, render_status, with};
use crate::app::AppState;
use crate::auth::{check_new_password, hash_password, hash_secret, new_secret, verify_password};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_page).post(save_profile))
        .route("/account/password", post(change_password))
        .route("/account/digest", post(save_digest))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route("/notifications", get(notifications))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProfileForm {
    name: String,
    timezone: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordChange {
    current: String,
    password: String,
    confirm: String,
}

/// The digest checkbox: present (`on`) when ticked, absent when not.
#[derive(Deserialize, Default)]
#[serde(default)]
struct DigestForm {
    digest: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    #[serde(rename = "token_name")]
    name: String,
}

async fn page(state: &AppState, auth: &Auth, status: StatusCode, extra: serde_json::Value) -> HttpResult<Response> {
    let scope = auth.ctx.scope(state);
    let tokens = scope.list_api_tokens(&auth.principal.user.id).await?;
    let digest = if crate::digest::receives(auth.principal.user.role) {
        json!({ "enabled": !scope.digest_opted_out(&auth.principal.user.id).await? })
    } else {
        serde_json::Value::Null
    };
    let page = with(
        json!({ "me": auth.principal.user, "tokens": tokens, "timezones": common_timezones(), "digest": digest }),
        extra,
    );
    Ok(render_status(state, &auth.ctx, status, "account.html", page).await?.into_response())
}

async fn account_page(State(state): State<AppState>, auth: Auth) -> HttpResult<Response> {
    page(&state, &auth, StatusCode::OK, json!({})).await
}

async fn save_profile(State(state): State<AppState>, auth: Auth, Form(f): Form<ProfileForm>) -> HttpResult<Response> {
    let mut errors = FieldErrors::new();
    if f.name.trim().is_empty() || f.name.chars().count() > 200 {
        errors.insert("name".into(), "enter your name (at most 200 characters)".into());
    }
    if !f.timezone.is_empty() && f.timezone.parse::<chrono_tz::Tz>().is_err() {
        errors.insert("timezone".into(), "choose a time zone from the list".into());
    }
    if !errors.is_empty() {
        return page(
            &state,
            &auth,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "errors": errors, "form": { "name": f.name } }),
        )
        .await;
    }
    auth.ctx.scope(&state).update_user_profile(&auth.principal.user.id, &f.name, &f.timezone).await?;
    Ok(Redirect::to("/account?flash=saved").into_response())
}

async fn save_digest(State(state): State<AppState>, auth: Auth, Form(f): Form<DigestForm>) -> HttpResult<Response> {
    if !crate::digest::receives(auth.principal.user.role) {
        return Err(HttpError::NotFound);
    }
    let opt_out = f.digest.is_none();
    auth.ctx.scope(&state).set_digest_opt_out(&auth.principal.user.id, opt_out).await?;
    Ok(Redirect::to("/account?flash=saved").into_response())
}

async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    Form(f): Form<PasswordChange>,
) -> HttpResult<Response> {
    let scope = auth.ctx.scope(&state);
    let mut errors = FieldErrors::new();
    let stored = scope.password_hash(&auth.principal.user.id).await?.unwrap_or_default();
    let current = f.current.clone();
    let ok =
        tokio::task::spawn_blocking(move || verify_password(&stored, &current)).await.map_err(HttpError::internal)?;
    if !ok {
        errors.insert("current".into(), "your current password is not that".into());
    } else if let Err(m) = check_new_password(&f.password, &f.confirm) {
        errors.insert(if m.contains("differ") { "confirm" } else { "password" }.into(), m.into());
    }
    if !errors.is_empty() {
        return page(&state, &auth, StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errors })).await;
    }
    let pw = f.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw)).await.map_err(HttpError::internal)?;
    scope.set_password(&auth.principal.user.id, &hash).await?;
    scope.audit(Some(&auth.principal.user.id), "password.changed", &auth.principal.user.email, "").await?;
    // Every session ended with the change, this one too: start a fresh one.
    let cookie = super::pages::start_session(&state, &auth.ctx, &auth.principal.user.id).await?;
    Ok(([(axum::http::header::SET_COOKIE, cookie)], Redirect::to("/account?flash=password")).into_response())
}

async fn create_token(State(state): State<AppState>, auth: Auth, Form(f): Form<TokenForm>) -> HttpResult<Response> {
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        let errors: FieldErrors =
            [("token_name".to_string(), "name the token (at most 100 characters)".to_string())].into();
        return page(&state, &auth, StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errors })).await;
    }
    let secret = new_secret();
    let scope = auth.ctx.scope(&state);
    scope.create_api_token(&auth.principal.user.id, name, &hash_secret(&secret)).await?;
    scope.audit(Some(&auth.principal.user.id), "api_token.created", name, "").await?;
    // The secret is shown once, on this response only.
    page(&state, &auth, StatusCode::OK, json!({ "new_token": secret })).await
}

async fn revoke_token(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> HttpResult<Response> {
    let scope = auth.ctx.scope(&state);
    scope.revoke_api_token(&auth.principal.user.id, &id).await?;
    scope.audit(Some(&auth.principal.user.id), "api_token.revoked", &id, "").await?;
    Ok(Redirect::to("/account?flash=token_revoked").into_response())
}

/// Time zones offered in pickers: all IANA names.
pub(super) fn common_timezones() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect()
}

/// The user's notifications from plugins, newest first; viewing them marks them read.
async fn notifications(State(state): State<AppState>, auth: Auth) -> HttpResult<Response> {
    let scope = auth.ctx.scope(&state);
    let items = scope.notifications(&auth.principal.user.id, 100).await?;
    let page =
        render_status(&state, &auth.ctx, StatusCode::OK, "notifications.html", json!({ "items": items })).await?;
    scope.mark_notifications_read(&auth.principal.user.id).await?;
    Ok(page.into_response())
}
