//! The host JSON API under `/api/v1`: tokens, the caller, orgs, users and programs. Same rules as the pages;
//! errors are `{"error":{"code","message","field"?}}`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::ctx::{Auth, Ctx};
use super::error::{HttpError, HttpResult};
use super::extract::Query;
use crate::accounts::{self, Invitation};
use crate::app::AppState;
use crate::auth::login::{LoginError, authenticate};
use crate::auth::{hash_secret, new_secret};
use crate::domain::{ListQuery, OrgKind, OrgProfile, Role, UserStatus, check_new_program};
use crate::storage::StorageError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/me", get(me))
        .route("/orgs", get(list_orgs).post(create_org))
        .route("/orgs/{id}", get(get_org).patch(update_org))
        .route("/orgs/{id}/enrolments/{program_id}", put(enrol).delete(unenrol))
        .route("/users", get(list_users).post(invite_user))
        .route("/users/{id}", get(get_user).patch(update_user))
        .route("/users/{id}/invitation", post(resend_invitation))
        .route("/programs", get(list_programs).post(create_program))
        .route("/programs/{id}", get(get_program).patch(update_program))
        .route("/programs/{id}/tiers", post(add_tier))
        .route("/programs/{id}/tiers/{tier_id}/move", post(move_tier))
        .route("/programs/{id}/tiers/{tier_id}", axum::routing::patch(rename_tier).delete(remove_tier))
}

/// `Json<T>` whose rejections are API errors.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(HttpError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for HttpError {
    fn from(r: JsonRejection) -> Self {
        HttpError::Invalid { field: None, message: r.body_text() }
    }
}

/// The first field error of a validation, as an API error.
fn first_error(errors: std::collections::BTreeMap<String, String>) -> HttpResult<()> {
    if errors.is_empty() { Ok(()) } else { Err(field_error(errors)) }
}

/// A set of field errors as one API error, naming the first field.
fn field_error(errors: std::collections::BTreeMap<String, String>) -> HttpError {
    match errors.into_iter().next() {
        Some((field, message)) => HttpError::invalid(&field, message),
        None => HttpError::invalid("body", "the request is not valid"),
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

async fn create_token(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<TokenRequest>,
) -> HttpResult<Response> {
    let scope = ctx.scope(&state);
    let user = match authenticate(&state.config, scope, &req.email, &req.password, ctx.ip).await {
        Ok(u) => u,
        Err(LoginError::Invalid) => return Err(HttpError::Unauthorized),
        Err(LoginError::Throttled(secs)) => return Err(HttpError::TooManyRequests { retry_after_secs: secs }),
        Err(LoginError::Storage(e)) => return Err(e.into()),
    };
    let name = req.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "API".to_string());
    if name.chars().count() > 100 {
        return Err(HttpError::invalid("name", "use at most 100 characters"));
    }
    let secret = new_secret();
    let token = scope.create_api_token(&user.id, &name, &hash_secret(&secret)).await?;
    scope.audit(Some(&user.id), "api_token.created", &name, "").await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": secret, "id": token.id, "name": token.name }))).into_response())
}

async fn list_tokens(State(state): State<AppState>, auth: Auth) -> HttpResult<Json<serde_json::Value>> {
    let tokens = auth.ctx.scope(&state).list_api_tokens(&auth.principal.user.id).await?;
    Ok(Json(json!({ "items": tokens })))
}

async fn revoke_token(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> HttpResult<StatusCode> {
    let scope = auth.ctx.scope(&state);
    scope.revoke_api_token(&auth.principal.user.id, &id).await?;
    scope.audit(Some(&auth.principal.user.id), "api_token.revoked", &id, "").await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(auth: Auth) -> Json<serde_json::Value> {
    Json(
        json!({ "user": auth.principal.user, "tenant": { "slug": auth.ctx.tenant.slug, "name": auth.ctx.tenant.name } }),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OrgQuery {
    q: String,
    page: Option<i64>,
    /// Only the partners enrolled in this program (by id).
    program_id: String,
}

async fn list_orgs(
    State(state): State<AppState>,
    auth: Auth,
    Query(oq): Query<OrgQuery>,
) -> HttpResult<Json<serde_json::Value>> {
    let scope = auth.ctx.scope(&state);
    if auth.principal.is_vendor_staff() {
        let lq = ListQuery { q: oq.q, page: oq.page };
        let page = scope.list_partner_orgs_in(&lq, Some(oq.program_id.as_str()).filter(|p| !p.is_empty())).await?;
        return Ok(Json(
            json!({ "items": page.items, "total": page.total, "page": page.page, "per_page": page.per_page }),
        ));
    }
    let own = scope.org(&auth.principal.user.org_id).await?.ok_or(HttpError::NotFound)?;
    Ok(Json(json!({ "items": [own], "total": 1, "page": 1, "per_page": ListQuery::PER_PAGE })))
}

async fn create_org(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(p): ApiJson<OrgProfile>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    first_error(p.validate())?;
    let scope = auth.ctx.scope(&state);
    let org = scope.create_org(OrgKind::Partner, &p).await.map_err(|e| match e {
        StorageError::Conflict(_) => HttpError::Conflict {
            field: Some("name".into()),
            message: "an organisation with this name already exists".into(),
        },
        e => e.into(),
    })?;
    scope.audit(Some(&auth.principal.user.id), "org.created", &org.name, "api").await?;
    Ok((StatusCode::CREATED, Json(json!(org))).into_response())
}

async fn get_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> HttpResult<Json<serde_json::Value>> {
    if !auth.principal.may_view_org(&id) {
        return Err(HttpError::NotFound);
    }
    let scope = auth.ctx.scope(&state);
    let org = scope.org(&id).await?.ok_or(HttpError::NotFound)?;
    let enrolments = scope.enrolments_of_org(&id).await?;
    Ok(Json(json!({ "org": org, "enrolments": enrolments })))
}

/// A partial org update: absent fields keep their value.
#[derive(Deserialize, Default)]
#[serde(default)]
struct OrgPatch {
    name: Option<String>,
    website: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    contact_email: Option<String>,
}

async fn update_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<OrgPatch>,
) -> HttpResult<Json<serde_json::Value>> {
    if !auth.principal.may_manage_org(&id) {
        return Err(if auth.principal.may_view_org(&id) { HttpError::Forbidden } else { HttpError::NotFound });
    }
    let scope = auth.ctx.scope(&state);
    let org = scope.org(&id).await?.filter(|o| o.kind == OrgKind::Partner).ok_or(HttpError::NotFound)?;
    let p = OrgProfile {
        name: patch.name.unwrap_or(org.name),
        website: patch.website.unwrap_or(org.website),
        address: patch.address.unwrap_or(org.address),
        phone: patch.phone.unwrap_or(org.phone),
        contact_email: patch.contact_email.unwrap_or(org.contact_email),
    };
    first_error(p.validate())?;
    scope.update_org_profile(&id, &p).await.map_err(|e| match e {
        StorageError::Conflict(_) => HttpError::Conflict {
            field: Some("name".into()),
            message: "another organisation already uses this name".into(),
        },
        e => e.into(),
    })?;
    scope.audit(Some(&auth.principal.user.id), "org.updated", p.name.trim(), "api").await?;
    Ok(Json(json!(scope.org(&id).await?.ok_or(HttpError::NotFound)?)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserQuery {
    q: String,
    page: Option<i64>,
    org_id: String,
}

async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    Query(uq): Query<UserQuery>,
) -> HttpResult<Json<serde_json::Value>> {
    let org = if auth.principal.is_vendor_admin() {
        Some(uq.org_id).filter(|o| !o.is_empty())
    } else if auth.principal.role() == Role::PartnerAdmin {
        Some(auth.principal.user.org_id.clone())
    } else {
        return Err(HttpError::Forbidden);
    };
    let page = auth.ctx.scope(&state).list_users(org.as_deref(), &ListQuery { q: uq.q, page: uq.page }).await?;
    Ok(Json(json!({ "items": page.items, "total": page.total, "page": page.page, "per_page": page.per_page })))
}

#[derive(Deserialize)]
struct InviteRequest {
    email: String,
    name: String,
    role: String,
    #[serde(default)]
    org_id: Option<String>,
}

async fn invite_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<InviteRequest>,
) -> HttpResult<Response> {
    if !matches!(auth.principal.role(), Role::VendorAdmin | Role::PartnerAdmin) {
        return Err(HttpError::Forbidden);
    }
    let role = Role::parse(&req.role).ok_or_else(|| {
        HttpError::invalid("role", "use vendor_admin, channel_manager, partner_admin or partner_user")
    })?;
    let org_id = req.org_id.unwrap_or_else(|| auth.principal.user.org_id.clone());
    let inv = Invitation { org_id, email: req.email, name: req.name, role };
    let user = accounts::invite_as(
        auth.ctx.scope(&state),
        &state.mailer,
        &auth.ctx.tenant.branding.portal_name,
        &auth.ctx.base_url,
        &auth.principal,
        &inv,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(user))).into_response())
}

async fn get_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> HttpResult<Json<serde_json::Value>> {
    let user = auth.ctx.scope(&state).user(&id).await?.ok_or(HttpError::NotFound)?;
    if !accounts::may_see_user(&auth.principal, &user) {
        return Err(HttpError::NotFound);
    }
    if user.id != auth.principal.user.id && !auth.principal.may_manage_org(&user.org_id) {
        return Err(HttpError::Forbidden);
    }
    Ok(Json(json!(user)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserPatch {
    role: Option<String>,
    status: Option<String>,
}

async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> HttpResult<Json<serde_json::Value>> {
    let scope = auth.ctx.scope(&state);
    let mut user = None;
    if let Some(role) = patch.role {
        let role = Role::parse(&role).ok_or_else(|| {
            HttpError::invalid("role", "use vendor_admin, channel_manager, partner_admin or partner_user")
        })?;
        user = Some(accounts::change_role(scope, &auth.principal, &id, role).await?);
    }
    if let Some(status) = patch.status {
        let status = match UserStatus::parse(&status) {
            Some(s @ (UserStatus::Active | UserStatus::Deactivated)) => s,
            _ => return Err(HttpError::invalid("status", "use active or deactivated")),
        };
        user = Some(accounts::change_status(scope, &auth.principal, &id, status).await?);
    }
    let user = user.ok_or_else(|| HttpError::invalid("role", "send a role or a status to change"))?;
    Ok(Json(json!(user)))
}

async fn list_programs(State(state): State<AppState>, auth: Auth) -> HttpResult<Json<serde_json::Value>> {
    let scope = auth.ctx.scope(&state);
    if auth.principal.is_vendor_staff() {
        return Ok(Json(json!({ "items": scope.list_programs().await? })));
    }
    let mut items = Vec::new();
    for e in scope.enrolments_of_org(&auth.principal.user.org_id).await? {
        let program = scope.program(&e.program_id).await?;
        items.push(json!({ "id": program.id, "key": program.key, "name": program.name, "description": program.description,
                           "tiers": program.tiers, "my_tier": { "id": e.tier_id, "key": e.tier_key, "name": e.tier_name } }));
    }
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct ProgramRequest {
    #[serde(default)]
    key: Option<String>,
    name: String,
    #[serde(default)]
    description: String,
    /// Tier names, lowest first.
    tiers: Vec<String>,
}

async fn create_program(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<ProgramRequest>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let p = check_new_program(
        req.key.as_deref().unwrap_or(""),
        &req.name,
        &req.description,
        req.tiers.iter().map(String::as_str),
    )
    .map_err(field_error)?;
    let scope = auth.ctx.scope(&state);
    let program = scope.create_program(&p.key, &p.name, &p.description, &p.tiers).await.map_err(|e| match e {
        StorageError::Conflict(_) => {
            HttpError::Conflict { field: Some("key".into()), message: "a program with this key already exists".into() }
        }
        e => e.into(),
    })?;
    scope.audit(Some(&auth.principal.user.id), "program.created", &program.name, "api").await?;
    Ok((StatusCode::CREATED, Json(json!(program))).into_response())
}

async fn get_program(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> HttpResult<Json<serde_json::Value>> {
    let scope = auth.ctx.scope(&state);
    if !auth.principal.is_vendor_staff() {
        let enrolled = scope.enrolments_of_org(&auth.principal.user.org_id).await?.iter().any(|e| e.program_id == id);
        if !enrolled {
            return Err(HttpError::NotFound);
        }
    }
    Ok(Json(json!(scope.program(&id).await?)))
}

#[derive(Deserialize)]
struct EnrolRequest {
    tier_id: String,
}

/// Enrols an org in a program at a tier, or moves it to that tier; answers the org's enrolments.
async fn enrol(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, program_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<EnrolRequest>,
) -> HttpResult<Json<serde_json::Value>> {
    auth.principal.require_vendor_admin()?;
    super::admin::enrol_org(&auth, &state, &id, &program_id, &req.tier_id).await?;
    Ok(Json(json!({ "enrolments": auth.ctx.scope(&state).enrolments_of_org(&id).await? })))
}

async fn unenrol(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, program_id)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    auth.principal.require_vendor_admin()?;
    super::admin::unenrol_org(&auth, &state, &id, &program_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A partial program update: absent fields keep their value.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ProgramPatch {
    name: Option<String>,
    description: Option<String>,
}

async fn update_program(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ProgramPatch>,
) -> HttpResult<Json<serde_json::Value>> {
    auth.principal.require_vendor_admin()?;
    let program = auth.ctx.scope(&state).program(&id).await?;
    let name = patch.name.unwrap_or(program.name);
    let description = patch.description.unwrap_or(program.description);
    first_error(crate::domain::check_program_details(&name, &description))?;
    super::admin::update_program(&auth, &state, &id, &name, &description).await?;
    Ok(Json(json!(auth.ctx.scope(&state).program(&id).await?)))
}

#[derive(Deserialize)]
struct TierRequest {
    name: String,
}

/// Adds a tier above the program's highest; answers the tier.
async fn add_tier(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TierRequest>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let tier = super::admin::add_tier_to(&auth, &state, &id, &req.name).await?;
    Ok((StatusCode::CREATED, Json(json!(tier))).into_response())
}

#[derive(Deserialize)]
struct MoveRequest {
    direction: String,
}

/// Moves a tier one place `up` or `down`; answers the program with its tiers in their new order.
async fn move_tier(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, tier_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<MoveRequest>,
) -> HttpResult<Json<serde_json::Value>> {
    auth.principal.require_vendor_admin()?;
    super::admin::move_tier_in(&auth, &state, &id, &tier_id, &req.direction).await?;
    Ok(Json(json!(auth.ctx.scope(&state).program(&id).await?)))
}

/// Sends a new invitation (the old link stops working) to an invited user the caller manages.
async fn resend_invitation(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> HttpResult<StatusCode> {
    if !matches!(auth.principal.role(), Role::VendorAdmin | Role::PartnerAdmin) {
        return Err(HttpError::Forbidden);
    }
    accounts::resend_invitation(
        auth.ctx.scope(&state),
        &state.mailer,
        &auth.ctx.tenant.branding.portal_name,
        &auth.ctx.base_url,
        &auth.principal,
        &id,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Renames a tier (its key stays); answers the program.
async fn rename_tier(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, tier_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<TierRequest>,
) -> HttpResult<Json<serde_json::Value>> {
    auth.principal.require_vendor_admin()?;
    super::admin::rename_tier_in(&auth, &state, &id, &tier_id, &req.name).await?;
    Ok(Json(json!(auth.ctx.scope(&state).program(&id).await?)))
}

/// Removes a tier no partner is enrolled at (`409` otherwise, or for a program's only tier).
async fn remove_tier(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, tier_id)): Path<(String, String)>,
) -> HttpResult<StatusCode> {
    auth.principal.require_vendor_admin()?;
    super::admin::remove_tier_from(&auth, &state, &id, &tier_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
