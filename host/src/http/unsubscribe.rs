//! Unsubscribing from the weekly digest by the link in its mail, without signing in: `GET` shows whose digest it
//! is and one button, `POST` turns it off. The `POST` is also what mail clients send for RFC 8058's one-click
//! unsubscribe (`List-Unsubscribe-Post`), so it needs no form token (the CSRF layer exempts exactly this route);
//! the signed token in the path is what authorises it. A token that is not this tenant's is "not found".

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::ctx::Ctx;
use super::error::{HttpError, HttpResult};
use super::view::render;
use crate::app::AppState;
use crate::digest::UnsubscribeKey;
use crate::domain::User;

pub fn router() -> Router<AppState> {
    Router::new().route("/unsubscribe/{token}", get(confirm_page).post(unsubscribe))
}

/// Whether a path is this router's `POST` target (one path segment after `/unsubscribe/`), for the CSRF layer.
pub(super) fn is_one_click(path: &str) -> bool {
    path.strip_prefix("/unsubscribe/").is_some_and(|token| !token.is_empty() && !token.contains('/'))
}

async fn confirm_page(State(state): State<AppState>, ctx: Ctx, Path(token): Path<String>) -> HttpResult<Response> {
    let user = user_of(&state, &ctx, &token).await?;
    let page = json!({ "token": token, "email": user.email, "done": false });
    Ok(render(&state, &ctx, "unsubscribe.html", page).await?.into_response())
}

async fn unsubscribe(State(state): State<AppState>, ctx: Ctx, Path(token): Path<String>) -> HttpResult<Response> {
    let user = user_of(&state, &ctx, &token).await?;
    let scope = ctx.scope(&state);
    if !scope.digest_opted_out(&user.id).await? {
        scope.set_digest_opt_out(&user.id, true).await?;
        scope.audit(Some(&user.id), "digest.unsubscribed", &user.email, "by the link in the digest").await?;
    }
    let page = json!({ "token": token, "email": user.email, "done": true });
    Ok(render(&state, &ctx, "unsubscribe.html", page).await?.into_response())
}

/// The user a token is for on this tenant; anything else is "not found", saying nothing of why.
async fn user_of(state: &AppState, ctx: &Ctx, token: &str) -> HttpResult<User> {
    let key = UnsubscribeKey::load(&state.db).await.map_err(HttpError::internal)?;
    let user_id = key.verify(&ctx.tenant.id, token).ok_or(HttpError::NotFound)?;
    ctx.scope(state).user(&user_id).await?.ok_or(HttpError::NotFound)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_unsubscribe_route_is_one_click() {
        assert!(super::is_one_click("/unsubscribe/abc.def"));
        assert!(!super::is_one_click("/unsubscribe/"));
        assert!(!super::is_one_click("/unsubscribe/abc/more"));
        assert!(!super::is_one_click("/account/digest"));
        assert!(!super::is_one_click("/p/unsubscribe/abc"));
    }
}
