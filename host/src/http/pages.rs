//! Signing in and out, invitations, password resets, and the dashboard.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Router, http::header};
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::json;

use super::ctx::{Auth, Ctx, SESSION_COOKIE};
use super::error::{HttpError, HttpResult};
use super::extract::{Form, Query};
use super::view::{FieldErrors, render, render_status};
use crate::accounts;
use crate::app::AppState;
use crate::auth::login::{LoginError, authenticate};
use crate::auth::{check_new_password, hash_password, hash_secret, new_secret};
use crate::domain::{ListQuery, now_millis};
use crate::storage::{AuthTokenPurpose, StorageError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/forgot", get(forgot_page).post(forgot))
        .route("/reset/{token}", get(reset_page).post(reset))
        .route("/invite/{token}", get(invite_page).post(accept_invite))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NextQuery {
    next: String,
}

/// Only same-site paths are followed after sign-in (no open redirects).
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") { next } else { "/" }
}

async fn login_page(State(state): State<AppState>, ctx: Ctx, Query(q): Query<NextQuery>) -> HttpResult<Response> {
    if ctx.principal.is_some() {
        return Ok(Redirect::to(safe_next(&q.next)).into_response());
    }
    Ok(render(&state, &ctx, "login.html", json!({ "next": q.next, "email": "" })).await?.into_response())
}

async fn login(State(state): State<AppState>, ctx: Ctx, Form(f): Form<LoginForm>) -> HttpResult<Response> {
    let scope = ctx.scope(&state);
    let fail = |status: StatusCode, message: String| {
        let errors: FieldErrors = [("form".to_string(), message)].into();
        (status, json!({ "next": f.next, "email": f.email, "errors": errors }))
    };
    let (status, page) = match authenticate(&state.config, scope, &f.email, &f.password, ctx.ip).await {
        Ok(user) => {
            let cookie = start_session(&state, &ctx, &user.id).await?;
            return Ok(([(header::SET_COOKIE, cookie)], Redirect::to(safe_next(&f.next))).into_response());
        }
        Err(LoginError::Invalid) => fail(StatusCode::UNAUTHORIZED, LoginError::Invalid.to_string()),
        Err(LoginError::Throttled(secs)) => {
            let (status, page) = fail(StatusCode::TOO_MANY_REQUESTS, LoginError::Throttled(secs).to_string());
            let (s, html) = render_status(&state, &ctx, status, "login.html", page).await?;
            return Ok((s, [(header::RETRY_AFTER, secs.to_string())], html).into_response());
        }
        Err(LoginError::Storage(e)) => return Err(e.into()),
    };
    Ok(render_status(&state, &ctx, status, "login.html", page).await?.into_response())
}

/// Creates a session and returns its `Set-Cookie` value.
pub(super) async fn start_session(state: &AppState, ctx: &Ctx, user_id: &str) -> HttpResult<String> {
    let token = new_secret();
    let ttl_ms = state.config.session_hours * 3600 * 1000;
    ctx.scope(state).create_session(&hash_secret(&token), user_id, now_millis() + ttl_ms).await?;
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies)
        .max_age(time_duration_secs(ttl_ms / 1000))
        .build();
    Ok(cookie.to_string())
}

fn time_duration_secs(secs: i64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(secs)
}

async fn logout(State(state): State<AppState>, jar: axum_extra::extract::CookieJar) -> HttpResult<Response> {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        state.db.delete_session(&hash_secret(c.value())).await?;
    }
    let gone = Cookie::build((SESSION_COOKIE, "")).path("/").max_age(time_duration_secs(0)).build();
    Ok(([(header::SET_COOKIE, gone.to_string())], Redirect::to("/login?flash=signed_out")).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ForgotForm {
    email: String,
}

async fn forgot_page(State(state): State<AppState>, ctx: Ctx) -> HttpResult<Response> {
    Ok(render(&state, &ctx, "forgot.html", json!({ "email": "" })).await?.into_response())
}

async fn forgot(State(state): State<AppState>, ctx: Ctx, Form(f): Form<ForgotForm>) -> HttpResult<Response> {
    if !f.email.contains('@') {
        let errors: FieldErrors =
            [("email".to_string(), "enter the email address you sign in with".to_string())].into();
        let page = json!({ "email": f.email, "errors": errors });
        return Ok(render_status(&state, &ctx, StatusCode::UNPROCESSABLE_ENTITY, "forgot.html", page)
            .await?
            .into_response());
    }
    let scope = ctx.scope(&state);
    accounts::request_password_reset(scope, &state.mailer, &ctx.tenant.branding.portal_name, &ctx.base_url, &f.email)
        .await?;
    Ok(Redirect::to("/login?flash=reset_sent").into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    password: String,
    confirm: String,
}

async fn reset_page(State(state): State<AppState>, ctx: Ctx, Path(token): Path<String>) -> HttpResult<Response> {
    token_page(&state, &ctx, AuthTokenPurpose::Reset, &token).await
}

async fn invite_page(State(state): State<AppState>, ctx: Ctx, Path(token): Path<String>) -> HttpResult<Response> {
    token_page(&state, &ctx, AuthTokenPurpose::Invite, &token).await
}

async fn reset(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> HttpResult<Response> {
    redeem(&state, &ctx, AuthTokenPurpose::Reset, &token, &f).await
}

async fn accept_invite(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
    Form(f): Form<PasswordForm>,
) -> HttpResult<Response> {
    redeem(&state, &ctx, AuthTokenPurpose::Invite, &token, &f).await
}

fn token_template(purpose: AuthTokenPurpose) -> &'static str {
    match purpose {
        AuthTokenPurpose::Invite => "invite.html",
        AuthTokenPurpose::Reset => "reset.html",
    }
}

async fn token_page(state: &AppState, ctx: &Ctx, purpose: AuthTokenPurpose, token: &str) -> HttpResult<Response> {
    let scope = ctx.scope(state);
    let user = match scope.peek_auth_token(purpose, &hash_secret(token)).await? {
        Some(id) => scope.user(&id).await?,
        None => None,
    };
    let (status, valid) = if user.is_some() { (StatusCode::OK, true) } else { (StatusCode::GONE, false) };
    let page = json!({ "valid": valid, "token": token, "invitee": user.map(|u| json!({"name": u.name, "email": u.email, "org_name": u.org_name})) });
    Ok(render_status(state, ctx, status, token_template(purpose), page).await?.into_response())
}

async fn redeem(
    state: &AppState,
    ctx: &Ctx,
    purpose: AuthTokenPurpose,
    token: &str,
    f: &PasswordForm,
) -> HttpResult<Response> {
    let scope = ctx.scope(state);
    if let Err(message) = check_new_password(&f.password, &f.confirm) {
        let field = if message.contains("differ") { "confirm" } else { "password" };
        let errors: FieldErrors = [(field.to_string(), message.to_string())].into();
        let user = match scope.peek_auth_token(purpose, &hash_secret(token)).await? {
            Some(id) => scope.user(&id).await?,
            None => None,
        };
        let page = json!({ "valid": user.is_some(), "token": token, "errors": errors,
            "invitee": user.map(|u| json!({"name": u.name, "email": u.email, "org_name": u.org_name})) });
        return Ok(render_status(state, ctx, StatusCode::UNPROCESSABLE_ENTITY, token_template(purpose), page)
            .await?
            .into_response());
    }
    let pw = f.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw)).await.map_err(HttpError::internal)?;
    match scope.redeem_auth_token(purpose, &hash_secret(token), &hash).await {
        Ok(user_id) => {
            scope
                .audit(
                    Some(&user_id),
                    if purpose == AuthTokenPurpose::Invite { "invite.accepted" } else { "password.reset" },
                    &user_id,
                    "",
                )
                .await?;
            if purpose == AuthTokenPurpose::Invite {
                let cookie = start_session(state, ctx, &user_id).await?;
                return Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response());
            }
            Ok(Redirect::to("/login?flash=reset_done").into_response())
        }
        Err(StorageError::NotFound) => {
            let page = json!({ "valid": false, "token": token });
            Ok(render_status(state, ctx, StatusCode::GONE, token_template(purpose), page).await?.into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn dashboard(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<super::channel::RangeQuery>,
) -> HttpResult<Response> {
    // The plugins' widgets and next steps, and the host's own figures, are gathered side by side.
    let (widgets, steps) = futures::join!(
        super::plugin_routes::widgets(&state, &auth),
        super::plugin_routes::next_steps(&state, &auth, 6)
    );
    let scope = auth.ctx.scope(&state);
    let principal = &auth.principal;
    let page = if principal.is_vendor_staff() {
        // A range that does not parse is named on the form, and the default range is shown meanwhile.
        let (range, range_error) = match super::channel::range_of(&state, &auth, &q) {
            Ok(r) => (r, None),
            Err(HttpError::Invalid { field, message }) => {
                let empty = super::channel::RangeQuery::default();
                (super::channel::range_of(&state, &auth, &empty)?, Some(json!({ "field": field, "message": message })))
            }
            Err(e) => return Err(e),
        };
        let channel = super::channel::page_cached(&state, &auth, range).await?;
        let all = ListQuery::default();
        let partners = scope.list_partner_orgs(&all).await?.total;
        let audit = if principal.is_vendor_admin() {
            scope.list_audit(&all).await?.items.into_iter().take(6).collect()
        } else {
            Vec::new()
        };
        json!({ "vendor": true, "stats": { "partners": partners }, "channel": channel.as_ref(), "range_error": range_error,
                "form": { "from": q.from, "to": q.to }, "audit": audit })
    } else {
        let org = scope.org(&principal.user.org_id).await?.ok_or(HttpError::NotFound)?;
        let enrolments = scope.enrolments_of_org(&org.id).await?;
        let team = scope.list_users(Some(&org.id), &ListQuery::default()).await?.total;
        let mut ladders = Vec::new();
        for e in &enrolments {
            let tiers = scope.tiers(&e.program_id).await?;
            ladders
                .push(json!({ "program": e.program_name, "tier": e.tier_name, "tier_id": e.tier_id, "tiers": tiers }));
        }
        json!({ "vendor": false, "org": org, "enrolments": ladders, "team": team })
    };
    let page = super::view::with(page, json!({ "widgets": widgets, "next_steps": steps }));
    Ok(render(&state, &auth.ctx, "dashboard.html", page).await?.into_response())
}
