//! User management pages, shared by vendor admins (`/admin/users`, every org) and partner admins
//! (`/org/users`, their own org). The rules live in [`crate::accounts`]; the area only picks the scope.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::ctx::Auth;
use super::error::{HttpError, HttpResult};
use super::extract::{Form, Query};
use super::view::{FieldErrors, render, render_status, with};
use crate::accounts::{self, AccountError, Invitation};
use crate::app::AppState;
use crate::domain::{ListQuery, Role, UserStatus};

pub fn admin_router() -> Router<AppState> {
    routes("/admin/users")
}

pub fn org_router() -> Router<AppState> {
    routes("/org/users")
}

fn routes(base: &str) -> Router<AppState> {
    Router::new()
        .route(base, get(list))
        .route(&format!("{base}/invite"), get(invite_page).post(invite))
        .route(&format!("{base}/{{id}}"), get(user_page))
        .route(&format!("{base}/{{id}}/role"), post(change_role))
        .route(&format!("{base}/{{id}}/status"), post(change_status))
        .route(&format!("{base}/{{id}}/resend"), post(resend))
}

/// Which area a request is in, and so whose users it sees.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Area {
    Admin,
    Org,
}

impl Area {
    fn of(auth: &Auth) -> Result<Self, HttpError> {
        if auth.ctx.path.starts_with("/org/") {
            auth.principal.require_partner_admin()?;
            Ok(Area::Org)
        } else {
            auth.principal.require_vendor_admin()?;
            Ok(Area::Admin)
        }
    }

    fn base(self) -> &'static str {
        match self {
            Area::Admin => "/admin/users",
            Area::Org => "/org/users",
        }
    }

    /// Roles this area hands out.
    fn roles(self) -> Vec<serde_json::Value> {
        let roles: &[Role] = match self {
            Area::Admin => &Role::ALL,
            Area::Org => &[Role::PartnerAdmin, Role::PartnerUser],
        };
        roles.iter().map(|r| json!({ "key": r.as_str(), "label": r.label() })).collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserListQuery {
    q: String,
    page: Option<i64>,
    org: String,
}

async fn list(State(state): State<AppState>, auth: Auth, Query(uq): Query<UserListQuery>) -> HttpResult<Response> {
    let area = Area::of(&auth)?;
    let lq = ListQuery { q: uq.q.clone(), page: uq.page };
    let org_filter = match area {
        Area::Org => Some(auth.principal.user.org_id.clone()),
        Area::Admin => Some(uq.org.clone()).filter(|o| !o.is_empty()),
    };
    let page = auth.ctx.scope(&state).list_users(org_filter.as_deref(), &lq).await?;
    let pages = page.pages();
    let org_name = match org_filter.as_deref() {
        Some(id) if area == Area::Admin => auth.ctx.scope(&state).org(id).await?.map(|o| o.name),
        _ => None,
    };
    let ctx = json!({ "users": page, "pages": pages, "q": uq.q, "org": uq.org, "org_name": org_name, "base": area.base(), "area_admin": area == Area::Admin });
    Ok(render(&state, &auth.ctx, "users.html", ctx).await?.into_response())
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct InviteForm {
    email: String,
    name: String,
    role: String,
    org_id: String,
}

async fn invite_view(
    state: &AppState,
    auth: &Auth,
    area: Area,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResult<Response> {
    let scope = auth.ctx.scope(state);
    let orgs = match area {
        Area::Admin => {
            let mut orgs = vec![scope.vendor_org().await?.ok_or(HttpError::NotFound)?];
            // The picker lists every partner org; a tenant with thousands would want a search box here.
            let mut lq = ListQuery { q: String::new(), page: Some(1) };
            loop {
                let page = scope.list_partner_orgs(&lq).await?;
                let done = page.page >= page.pages();
                orgs.extend(page.items);
                if done {
                    break;
                }
                lq.page = Some(lq.page() + 1);
            }
            orgs
        }
        Area::Org => vec![scope.org(&auth.principal.user.org_id).await?.ok_or(HttpError::NotFound)?],
    };
    let page = with(
        json!({ "orgs": orgs, "roles": area.roles(), "base": area.base(), "form": { "role": "partner_user" } }),
        extra,
    );
    Ok(render_status(state, &auth.ctx, status, "user_invite.html", page).await?.into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InvitePageQuery {
    /// The org to invite into, preselected (an org page's "Invite a user" names its org).
    org: String,
}

async fn invite_page(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<InvitePageQuery>,
) -> HttpResult<Response> {
    let area = Area::of(&auth)?;
    // The role preselected fits the org: a vendor role for the vendor's own staff, else a partner role.
    let scope = auth.ctx.scope(&state);
    let org = match (area, q.org.is_empty()) {
        (Area::Admin, false) => scope.org(&q.org).await?,
        (Area::Admin, true) => scope.vendor_org().await?,
        (Area::Org, _) => None,
    };
    let form = match org {
        Some(o) if o.kind == crate::domain::OrgKind::Vendor => json!({ "org_id": o.id, "role": "channel_manager" }),
        Some(o) => json!({ "org_id": o.id, "role": "partner_user" }),
        None => json!({ "role": "partner_user" }),
    };
    invite_view(&state, &auth, area, StatusCode::OK, json!({ "form": form })).await
}

async fn invite(State(state): State<AppState>, auth: Auth, Form(f): Form<InviteForm>) -> HttpResult<Response> {
    let area = Area::of(&auth)?;
    let org_id = if area == Area::Org { auth.principal.user.org_id.clone() } else { f.org_id.clone() };
    let Some(role) = Role::parse(&f.role) else {
        let errors: FieldErrors = [("role".to_string(), "choose a role".to_string())].into();
        return invite_view(
            &state,
            &auth,
            area,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "errors": errors, "form": form_json(&f) }),
        )
        .await;
    };
    let inv = Invitation { org_id, email: f.email.clone(), name: f.name.clone(), role };
    let scope = auth.ctx.scope(&state);
    match accounts::invite_as(
        scope,
        &state.mailer,
        &auth.ctx.tenant.branding.portal_name,
        &auth.ctx.base_url,
        &auth.principal,
        &inv,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("{}?flash=invited", area.base())).into_response()),
        Err(AccountError::Invalid { field, message }) => {
            let errors: FieldErrors = [(field.to_string(), message)].into();
            invite_view(
                &state,
                &auth,
                area,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "errors": errors, "form": form_json(&f) }),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

fn form_json(f: &InviteForm) -> serde_json::Value {
    json!({ "email": f.email, "name": f.name, "role": f.role, "org_id": f.org_id })
}

async fn user_view(
    state: &AppState,
    auth: &Auth,
    area: Area,
    id: &str,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResult<Response> {
    let scope = auth.ctx.scope(state);
    let user = scope.user(id).await?.filter(|u| auth.principal.may_manage_org(&u.org_id)).ok_or(HttpError::NotFound)?;
    let roles: Vec<_> = area
        .roles()
        .into_iter()
        .filter(|r| Role::parse(r["key"].as_str().unwrap_or("")).is_some_and(|r| r.org_kind() == user.role.org_kind()))
        .collect();
    let page = with(
        json!({ "target": user, "roles": roles, "base": area.base(), "is_self": user.id == auth.principal.user.id }),
        extra,
    );
    Ok(render_status(state, &auth.ctx, status, "user.html", page).await?.into_response())
}

async fn user_page(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> HttpResult<Response> {
    let area = Area::of(&auth)?;
    user_view(&state, &auth, area, &id, StatusCode::OK, json!({})).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleForm {
    role: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatusForm {
    status: String,
}

/// Turns a rule violation into the user page with the message on its field.
async fn outcome(
    state: &AppState,
    auth: &Auth,
    area: Area,
    id: &str,
    r: Result<(), AccountError>,
    flash: &str,
) -> HttpResult<Response> {
    match r {
        Ok(()) => Ok(Redirect::to(&format!("{}/{id}?flash={flash}", area.base())).into_response()),
        Err(AccountError::Invalid { field, message }) => {
            let errors: FieldErrors = [(field.to_string(), message)].into();
            user_view(state, auth, area, id, StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errors })).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn change_role(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<RoleForm>,
) -> HttpResult<Response> {
    let area = Area::of(&auth)?;
    let r = match Role::parse(&f.role) {
        Some(role) => accounts::change_role(auth.ctx.scope(&state), &auth.principal, &id, role).await.map(|_| ()),
        None => Err(AccountError::Invalid { field: "role", message: "choose a role".into() }),
    };
    outcome(&state, &auth, area, &id, r, "saved").await
}

async fn change_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<StatusForm>,
) -> HttpResult<Response> {
    let area = Area::of(&auth)?;
    let (r, flash) = match UserStatus::parse(&f.status) {
        Some(s @ (UserStatus::Active | UserStatus::Deactivated)) => (
            accounts::change_status(auth.ctx.scope(&state), &auth.principal, &id, s).await.map(|_| ()),
            if s == UserStatus::Active { "reactivated" } else { "deactivated" },
        ),
        _ => (Err(AccountError::Invalid { field: "status", message: "choose active or deactivated".into() }), ""),
    };
    outcome(&state, &auth, area, &id, r, flash).await
}

async fn resend(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> HttpResult<Response> {
    let area = Area::of(&auth)?;
    let r = accounts::resend_invitation(
        auth.ctx.scope(&state),
        &state.mailer,
        &auth.ctx.tenant.branding.portal_name,
        &auth.ctx.base_url,
        &auth.principal,
        &id,
    )
    .await
    .map(|_| ());
    outcome(&state, &auth, area, &id, r, "invited").await
}
