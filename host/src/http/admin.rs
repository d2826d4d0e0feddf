//! The vendor admin area (`/admin/…`): partner orgs and their enrolments, programs and tiers, branding, mail
//! and the audit log. Channel managers may look at partner orgs; everything else is for vendor admins.

use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::ctx::Auth;
use super::error::{HttpError, HttpResult};
use super::extract::{Form, Query};
use super::upload::UploadForm;
use super::view::{FieldErrors, render, render_status, with};
use crate::app::AppState;
use crate::domain::{
    ListQuery, OrgKind, OrgProfile, Tier, check_new_program, check_program_details, key_from_name, valid_color,
    valid_key,
};
use crate::storage::{StorageError, TierMove};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_home))
        .route("/admin/orgs", get(orgs))
        .route("/admin/orgs/new", get(new_org_page).post(create_org))
        .route("/admin/orgs/{id}", get(org_page).post(save_org))
        .route("/admin/orgs/{id}/enrol", post(enrol))
        .route("/admin/orgs/{id}/unenrol", post(unenrol))
        .route("/admin/programs", get(programs).post(create_program))
        .route("/admin/programs/{id}", get(program_page).post(save_program))
        .route("/admin/programs/{id}/tiers", post(add_tier))
        .route("/admin/programs/{id}/tiers/{tier}/move", post(move_tier))
        .route("/admin/programs/{id}/tiers/{tier}", post(rename_tier))
        .route("/admin/programs/{id}/tiers/{tier}/remove", post(remove_tier))
        .route("/admin/branding", get(branding_page).post(save_branding))
        .route("/admin/mail", get(mail))
        .route("/admin/audit", get(audit))
        .merge(super::people::admin_router())
}

/// `/admin` leads to the partner list, the one admin page every vendor staff member may see.
async fn admin_home(auth: Auth) -> HttpResult<Redirect> {
    auth.principal.require_vendor_staff()?;
    Ok(Redirect::to("/admin/orgs"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OrgListQuery {
    q: String,
    page: Option<i64>,
    /// Only the partners enrolled in this program.
    program: String,
}

async fn orgs(State(state): State<AppState>, auth: Auth, Query(oq): Query<OrgListQuery>) -> HttpResult<Response> {
    auth.principal.require_vendor_staff()?;
    let scope = auth.ctx.scope(&state);
    let lq = ListQuery { q: oq.q.clone(), page: oq.page };
    let program = Some(oq.program.as_str()).filter(|p| !p.is_empty());
    let page = scope.list_partner_orgs_in(&lq, program).await?;
    let pages = page.pages();
    // Each partner's programs and tiers, for the list's column.
    let ids: Vec<String> = page.items.iter().map(|o| o.id.clone()).collect();
    let mut enrolments: std::collections::HashMap<String, Vec<serde_json::Value>> = Default::default();
    for e in scope.enrolments_of_orgs(&ids).await? {
        enrolments.entry(e.org_id.clone()).or_default().push(json!({ "program": e.program_name, "tier": e.tier_name }));
    }
    let programs = scope.list_programs().await?;
    let ctx = json!({ "orgs": page, "pages": pages, "q": oq.q, "program": oq.program, "programs": programs,
                      "enrolments": enrolments });
    Ok(render(&state, &auth.ctx, "admin/orgs.html", ctx).await?.into_response())
}

async fn new_org_page(State(state): State<AppState>, auth: Auth) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    Ok(render(&state, &auth.ctx, "admin/org_new.html", json!({ "form": {} })).await?.into_response())
}

async fn create_org(State(state): State<AppState>, auth: Auth, Form(p): Form<OrgProfile>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let mut errors = p.validate();
    let scope = auth.ctx.scope(&state);
    if errors.is_empty() {
        match scope.create_org(OrgKind::Partner, &p).await {
            Ok(org) => {
                scope.audit(Some(&auth.principal.user.id), "org.created", &org.name, "").await?;
                return Ok(Redirect::to(&format!("/admin/orgs/{}?flash=created", org.id)).into_response());
            }
            Err(StorageError::Conflict(_)) => {
                errors.insert("name".into(), "an organisation with this name already exists".into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let page = json!({ "form": form_echo(&p), "errors": errors });
    Ok(render_status(&state, &auth.ctx, StatusCode::UNPROCESSABLE_ENTITY, "admin/org_new.html", page)
        .await?
        .into_response())
}

fn form_echo(p: &OrgProfile) -> serde_json::Value {
    json!({ "name": p.name, "website": p.website, "address": p.address, "phone": p.phone, "contact_email": p.contact_email })
}

async fn org_view(
    state: &AppState,
    auth: &Auth,
    id: &str,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResult<Response> {
    auth.principal.require_vendor_staff()?;
    let scope = auth.ctx.scope(state);
    let org = scope.org(id).await?.filter(|o| o.kind == OrgKind::Partner).ok_or(HttpError::NotFound)?;
    let enrolments = scope.enrolments_of_org(&org.id).await?;
    let programs = scope.list_programs().await?;
    // The first page of its users; the full list is the users page narrowed to this org.
    let users = scope.list_users(Some(&org.id), &ListQuery::default()).await?;
    // Every enabled plugin's cards about this partner, each rendered on its own (one failing or slow card is
    // shown as unavailable, the others as they are).
    let cards = super::plugin_routes::partner_cards(state, auth, &org.id).await;
    // Its recent activity across the host and every plugin, each line named by what wrote it.
    let active = crate::plugins::active_for(state, &auth.ctx.tenant, &auth.principal.user, None).await.ok();
    let name_of = |source: &str| -> String {
        active.iter().flat_map(|a| a.iter()).find(|a| a.plugin.manifest().id == source).map_or_else(
            || if source == crate::analytics::HOST { "Portal".into() } else { source.to_string() },
            |a| a.plugin.manifest().name.clone(),
        )
    };
    let timeline: Vec<serde_json::Value> = scope
        .timeline(&org.id, 25)
        .await?
        .into_iter()
        .map(|t| json!({ "at": t.at, "source_name": name_of(&t.source), "text": t.text, "link": t.link }))
        .collect();
    let page = with(
        json!({ "org": org, "form": org, "enrolments": enrolments, "programs": programs, "users": users.items,
                "users_total": users.total, "can_edit": auth.principal.is_vendor_admin(), "cards": cards,
                "timeline": timeline }),
        extra,
    );
    Ok(render_status(state, &auth.ctx, status, "admin/org.html", page).await?.into_response())
}

async fn org_page(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> HttpResult<Response> {
    org_view(&state, &auth, &id, StatusCode::OK, json!({})).await
}

async fn save_org(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Form(p): Form<OrgProfile>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let scope = auth.ctx.scope(&state);
    scope.org(&id).await?.filter(|o| o.kind == OrgKind::Partner).ok_or(HttpError::NotFound)?;
    let mut errors = p.validate();
    if errors.is_empty() {
        match scope.update_org_profile(&id, &p).await {
            Ok(()) => {
                scope.audit(Some(&auth.principal.user.id), "org.updated", p.name.trim(), "").await?;
                return Ok(Redirect::to(&format!("/admin/orgs/{id}?flash=saved")).into_response());
            }
            Err(StorageError::Conflict(_)) => {
                errors.insert("name".into(), "an organisation with this name already exists".into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    org_view(&state, &auth, &id, StatusCode::UNPROCESSABLE_ENTITY, json!({ "form": form_echo(&p), "errors": errors }))
        .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EnrolForm {
    program_id: String,
    tier_id: String,
}

async fn enrol(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<EnrolForm>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    match enrol_org(&auth, &state, &id, &f.program_id, &f.tier_id).await {
        Ok(()) => Ok(Redirect::to(&format!("/admin/orgs/{id}?flash=saved")).into_response()),
        Err(HttpError::Invalid { field: Some(field), message }) => {
            let errors: FieldErrors = [(field, message)].into();
            org_view(&state, &auth, &id, StatusCode::UNPROCESSABLE_ENTITY, json!({ "errors": errors })).await
        }
        Err(e) => Err(e),
    }
}

async fn unenrol(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<EnrolForm>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    unenrol_org(&auth, &state, &id, &f.program_id).await?;
    Ok(Redirect::to(&format!("/admin/orgs/{id}?flash=saved")).into_response())
}

// What the admin pages and the JSON API both do to programs, tiers and enrolments: checked, stored and
// audited the same way. A field error comes back as `HttpError::Invalid` naming the field.

/// Enrols a partner org in a program at a tier (or moves it to that tier).
pub(super) async fn enrol_org(
    auth: &Auth,
    state: &AppState,
    org_id: &str,
    program_id: &str,
    tier_id: &str,
) -> HttpResult<()> {
    let scope = auth.ctx.scope(state);
    scope.org(org_id).await?.filter(|o| o.kind == OrgKind::Partner).ok_or(HttpError::NotFound)?;
    let program = match scope.program(program_id).await {
        Ok(p) => p,
        Err(StorageError::NotFound) => return Err(HttpError::invalid("program_id", "choose a program")),
        Err(e) => return Err(e.into()),
    };
    let Some(tier) = program.tiers.iter().find(|t| t.id == tier_id) else {
        return Err(HttpError::invalid("tier_id", "choose a tier of the chosen program"));
    };
    scope.enrol(org_id, program_id, tier_id).await?;
    let detail = format!("{} at {}", program.name, tier.name);
    scope.audit(Some(&auth.principal.user.id), "org.enrolled", org_id, &detail).await?;
    Ok(())
}

pub(super) async fn unenrol_org(auth: &Auth, state: &AppState, org_id: &str, program_id: &str) -> HttpResult<()> {
    let scope = auth.ctx.scope(state);
    scope.org(org_id).await?.filter(|o| o.kind == OrgKind::Partner).ok_or(HttpError::NotFound)?;
    scope.unenrol(org_id, program_id).await?;
    scope.audit(Some(&auth.principal.user.id), "org.unenrolled", org_id, program_id).await?;
    Ok(())
}

/// Renames a program or changes its description, once [`check_program_details`] found nothing wrong.
pub(super) async fn update_program(
    auth: &Auth,
    state: &AppState,
    id: &str,
    name: &str,
    description: &str,
) -> HttpResult<()> {
    let scope = auth.ctx.scope(state);
    scope.update_program(id, name.trim(), description.trim()).await?;
    scope.audit(Some(&auth.principal.user.id), "program.updated", name.trim(), "").await?;
    Ok(())
}

/// Adds a tier above a program's highest.
pub(super) async fn add_tier_to(auth: &Auth, state: &AppState, program_id: &str, name: &str) -> HttpResult<Tier> {
    let scope = auth.ctx.scope(state);
    let key = key_from_name(name);
    if name.trim().is_empty() || name.chars().count() > 60 || !valid_key(&key) {
        return Err(HttpError::invalid("name", "enter a tier name of at most 60 characters, starting with a letter"));
    }
    let tier = scope.add_tier(program_id, &key, name.trim()).await.map_err(|e| match e {
        StorageError::Conflict(_) => HttpError::invalid("name", "this program already has a tier with that name"),
        e => e.into(),
    })?;
    scope.audit(Some(&auth.principal.user.id), "tier.added", &tier.name, program_id).await?;
    Ok(tier)
}

/// Renames a tier (its key stays); no two tiers of a program share a name.
pub(super) async fn rename_tier_in(
    auth: &Auth,
    state: &AppState,
    program_id: &str,
    tier_id: &str,
    name: &str,
) -> HttpResult<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(HttpError::invalid("name", "enter a tier name of at most 60 characters"));
    }
    let scope = auth.ctx.scope(state);
    let program = scope.program(program_id).await?;
    let tier = program.tiers.iter().find(|t| t.id == tier_id).ok_or(HttpError::NotFound)?;
    if program.tiers.iter().any(|t| t.id != tier_id && t.name.to_lowercase() == name.to_lowercase()) {
        return Err(HttpError::invalid("name", "this program already has a tier with that name"));
    }
    scope.rename_tier(program_id, tier_id, name).await?;
    scope.audit(Some(&auth.principal.user.id), "tier.renamed", name, &tier.name).await?;
    Ok(())
}

/// Removes a tier no partner is enrolled at.
pub(super) async fn remove_tier_from(auth: &Auth, state: &AppState, program_id: &str, tier_id: &str) -> HttpResult<()> {
    let scope = auth.ctx.scope(state);
    let program = scope.program(program_id).await?;
    let tier = program.tiers.iter().find(|t| t.id == tier_id).ok_or(HttpError::NotFound)?;
    if program.tiers.len() == 1 {
        return Err(HttpError::Conflict { field: None, message: "a program needs at least one tier".into() });
    }
    // Storage checks both again in its transaction; a refusal there is a partner enrolled since the read above.
    scope.remove_tier(program_id, tier_id).await.map_err(|e| match e {
        StorageError::Conflict(_) => HttpError::Conflict {
            field: None,
            message: format!("partners are enrolled at {}; move them to another tier first", tier.name),
        },
        e => e.into(),
    })?;
    scope.audit(Some(&auth.principal.user.id), "tier.removed", &tier.name, &program.name).await?;
    Ok(())
}

/// Moves a tier one place `up` or `down` its program's ladder.
pub(super) async fn move_tier_in(
    auth: &Auth,
    state: &AppState,
    program_id: &str,
    tier_id: &str,
    direction: &str,
) -> HttpResult<()> {
    let way = match direction {
        "up" => TierMove::Up,
        "down" => TierMove::Down,
        _ => return Err(HttpError::invalid("direction", "move a tier up or down")),
    };
    let scope = auth.ctx.scope(state);
    scope.move_tier(program_id, tier_id, way).await?;
    scope.audit(Some(&auth.principal.user.id), "tier.moved", tier_id, direction).await?;
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProgramForm {
    key: String,
    name: String,
    description: String,
    /// Tier names, lowest first, comma-separated.
    tiers: String,
}

async fn programs_view(
    state: &AppState,
    auth: &Auth,
    lq: &ListQuery,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResult<Response> {
    let scope = auth.ctx.scope(state);
    let found = scope.search_programs(lq).await?;
    let counts = scope.partner_counts().await?;
    let pages = found.pages();
    let rows: Vec<_> = found
        .items
        .iter()
        .map(|p| json!({ "program": p, "partners": counts.get(&p.id).copied().unwrap_or(0) }))
        .collect();
    let page = with(
        json!({ "programs": rows, "total": found.total, "page": found.page, "pages": pages, "q": lq.q, "form": {} }),
        extra,
    );
    Ok(render_status(state, &auth.ctx, status, "admin/programs.html", page).await?.into_response())
}

async fn programs(State(state): State<AppState>, auth: Auth, Query(lq): Query<ListQuery>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    programs_view(&state, &auth, &lq, StatusCode::OK, json!({})).await
}

async fn create_program(State(state): State<AppState>, auth: Auth, Form(f): Form<ProgramForm>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let scope = auth.ctx.scope(&state);
    let errors = match check_new_program(&f.key, &f.name, &f.description, f.tiers.split(',')) {
        Ok(p) => match scope.create_program(&p.key, &p.name, &p.description, &p.tiers).await {
            Ok(p) => {
                scope.audit(Some(&auth.principal.user.id), "program.created", &p.name, "").await?;
                return Ok(Redirect::to(&format!("/admin/programs/{}?flash=created", p.id)).into_response());
            }
            Err(StorageError::Conflict(_)) => {
                FieldErrors::from([("key".to_string(), "a program with this key already exists".to_string())])
            }
            Err(e) => return Err(e.into()),
        },
        Err(errors) => errors,
    };
    let form = json!({ "key": f.key, "name": f.name, "description": f.description, "tiers": f.tiers });
    let lq = ListQuery::default();
    programs_view(&state, &auth, &lq, StatusCode::UNPROCESSABLE_ENTITY, json!({ "form": form, "errors": errors })).await
}

async fn program_view(
    state: &AppState,
    auth: &Auth,
    id: &str,
    lq: &ListQuery,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResult<Response> {
    let scope = auth.ctx.scope(state);
    let program = scope.program(id).await?;
    let enrolments = scope.enrolments_of_program(id, lq).await?;
    let pages = enrolments.pages();
    let page = with(
        json!({ "program": program, "form": program, "enrolments": enrolments, "pages": pages, "q": lq.q }),
        extra,
    );
    Ok(render_status(state, &auth.ctx, status, "admin/program.html", page).await?.into_response())
}

async fn program_page(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(lq): Query<ListQuery>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    program_view(&state, &auth, &id, &lq, StatusCode::OK, json!({})).await
}

async fn save_program(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<ProgramForm>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let errors = check_program_details(&f.name, &f.description);
    if !errors.is_empty() {
        let form = json!({ "name": f.name, "description": f.description });
        let lq = ListQuery::default();
        let extra = json!({ "form": form, "errors": errors });
        return program_view(&state, &auth, &id, &lq, StatusCode::UNPROCESSABLE_ENTITY, extra).await;
    }
    update_program(&auth, &state, &id, &f.name, &f.description).await?;
    Ok(Redirect::to(&format!("/admin/programs/{id}?flash=saved")).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TierForm {
    name: String,
}

async fn add_tier(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<TierForm>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let r = add_tier_to(&auth, &state, &id, &f.name).await.map(|_| ());
    tier_form_outcome(&state, &auth, &id, r, "tier_name".into(), json!({ "tier_name": f.name })).await
}

/// A tier form's answer: back to the program page when it worked; when it was refused (422 for bad input, 409
/// for a rule), the page again with the refusal under `error_key` and `extra` (what was typed, which tier).
async fn tier_form_outcome(
    state: &AppState,
    auth: &Auth,
    program_id: &str,
    result: HttpResult<()>,
    error_key: String,
    extra: serde_json::Value,
) -> HttpResult<Response> {
    let (status, message) = match result {
        Ok(()) => return Ok(Redirect::to(&format!("/admin/programs/{program_id}?flash=saved")).into_response()),
        Err(HttpError::Invalid { message, .. }) => (StatusCode::UNPROCESSABLE_ENTITY, message),
        Err(HttpError::Conflict { message, .. }) => (StatusCode::CONFLICT, message),
        Err(e) => return Err(e),
    };
    let errors: FieldErrors = [(error_key, message)].into();
    let extra = with(json!({ "errors": errors }), extra);
    program_view(state, auth, program_id, &ListQuery::default(), status, extra).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MoveForm {
    direction: String,
}

async fn move_tier(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, tier)): Path<(String, String)>,
    Form(f): Form<MoveForm>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    move_tier_in(&auth, &state, &id, &tier, &f.direction).await?;
    Ok(Redirect::to(&format!("/admin/programs/{id}?flash=saved")).into_response())
}

async fn rename_tier(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, tier)): Path<(String, String)>,
    Form(f): Form<TierForm>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let r = rename_tier_in(&auth, &state, &id, &tier, &f.name).await;
    let extra = json!({ "edited_tier": tier, "edited_name": f.name });
    tier_form_outcome(&state, &auth, &id, r, format!("tier_{tier}"), extra).await
}

async fn remove_tier(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, tier)): Path<(String, String)>,
) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let r = remove_tier_from(&auth, &state, &id, &tier).await;
    tier_form_outcome(&state, &auth, &id, r, format!("tier_{tier}"), json!({ "edited_tier": tier })).await
}

async fn branding_view(
    state: &AppState,
    auth: &Auth,
    status: StatusCode,
    extra: serde_json::Value,
) -> HttpResult<Response> {
    let t = &auth.ctx.tenant;
    let themes: Vec<_> = state
        .renderer
        .themes()
        .iter()
        .map(|th| json!({ "key": th.key, "name": th.info.name, "description": th.info.description }))
        .collect();
    let form = json!({ "portal_name": t.branding.portal_name, "primary_color": t.branding.primary_color,
        "accent_color": t.branding.accent_color, "custom_css": t.branding.custom_css, "theme": t.theme,
        "timezone": t.timezone });
    let page = with(
        json!({ "themes": themes, "form": form, "has_logo": t.branding.logo_key.is_some(), "has_favicon": t.branding.favicon_key.is_some(),
                "timezones": super::account::common_timezones() }),
        extra,
    );
    Ok(render_status(state, &auth.ctx, status, "admin/branding.html", page).await?.into_response())
}

async fn branding_page(State(state): State<AppState>, auth: Auth) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    branding_view(&state, &auth, StatusCode::OK, json!({})).await
}

async fn save_branding(State(state): State<AppState>, auth: Auth, mp: Multipart) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let form = UploadForm::read(mp, &["logo", "favicon"]).await?;
    let t = &auth.ctx.tenant;
    let mut b = t.branding.clone();
    b.portal_name = form.text("portal_name").trim().to_string();
    b.primary_color = form.text("primary_color").trim().to_lowercase();
    b.accent_color = form.text("accent_color").trim().to_lowercase();
    b.custom_css = form.text("custom_css");
    let theme = form.text("theme");
    let timezone = form.text("timezone").trim().to_string();
    let mut errors: FieldErrors = form.file_errors.clone().into_iter().collect();
    if !timezone.is_empty() && timezone.parse::<chrono_tz::Tz>().is_err() {
        errors.insert("timezone".into(), "choose a time zone from the list".into());
    }
    if b.portal_name.is_empty() || b.portal_name.chars().count() > 100 {
        errors.insert("portal_name".into(), "enter a portal name of at most 100 characters".into());
    }
    for (field, value) in [("primary_color", &b.primary_color), ("accent_color", &b.accent_color)] {
        if !valid_color(value) {
            errors.insert(field.into(), "use a colour like #1f5fbf".into());
        }
    }
    if b.custom_css.len() > 50_000 {
        errors.insert("custom_css".into(), "keep custom CSS under 50,000 characters".into());
    }
    if !state.renderer.has_theme(&theme) {
        errors.insert("theme".into(), "choose one of the installed themes".into());
    }
    if !errors.is_empty() {
        let echo = json!({ "portal_name": b.portal_name, "primary_color": b.primary_color, "accent_color": b.accent_color,
                           "custom_css": b.custom_css, "theme": theme, "timezone": timezone });
        return branding_view(
            &state,
            &auth,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "form": echo, "errors": errors }),
        )
        .await;
    }
    let mut old_keys = Vec::new();
    for (field, slot) in [("logo", &mut b.logo_key), ("favicon", &mut b.favicon_key)] {
        if let Some((kind, bytes)) = form.images.get(field) {
            let key = format!("tenants/{}/branding/{field}-{}.{}", t.id, crate::domain::new_id(), kind.extension());
            state.blobs.put(&key, bytes.clone()).await?;
            old_keys.extend(slot.replace(key));
        } else if form.text(&format!("remove_{field}")) == "on" {
            old_keys.extend(slot.take());
        }
    }
    let scope = auth.ctx.scope(&state);
    scope.update_branding(&theme, &b).await?;
    scope.set_timezone(&timezone).await?;
    scope.audit(Some(&auth.principal.user.id), "branding.updated", &b.portal_name, &theme).await?;
    for key in old_keys {
        if let Err(e) = state.blobs.delete(&key).await {
            tracing::warn!(error = %e, "old branding image not deleted");
        }
    }
    Ok(Redirect::to("/admin/branding?flash=saved").into_response())
}

async fn mail(State(state): State<AppState>, auth: Auth, Query(lq): Query<ListQuery>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let page = auth.ctx.scope(&state).list_mail(&lq).await?;
    let pages = page.pages();
    let smtp = state.config.smtp.is_some();
    Ok(render(&state, &auth.ctx, "admin/mail.html", json!({ "mail": page, "pages": pages, "q": lq.q, "smtp": smtp }))
        .await?
        .into_response())
}

async fn audit(State(state): State<AppState>, auth: Auth, Query(lq): Query<ListQuery>) -> HttpResult<Response> {
    auth.principal.require_vendor_admin()?;
    let page = auth.ctx.scope(&state).list_audit(&lq).await?;
    let pages = page.pages();
    Ok(render(&state, &auth.ctx, "admin/audit.html", json!({ "entries": page, "pages": pages, "q": lq.q }))
        .await?
        .into_response())
}
