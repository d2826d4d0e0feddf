//! Pages: the base context every template gets (portal branding, user, navigation, CSRF token), the render
//! helper handlers call, and the middleware that turns errors into themed pages or JSON.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;

use super::ctx::Ctx;
use super::error::{ErrorInfo, HttpResult};
use crate::app::AppState;
use crate::domain::Role;

/// Field name → message, for re-rendering a form with what is wrong.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Serialize)]
struct NavItem {
    label: String,
    href: String,
    active: bool,
    /// Set on the vendor admin's settings pages, which a theme may gather under one menu ("Settings").
    group: Option<&'static str>,
}

/// The group of the vendor admin's less frequent pages.
const SETTINGS: &str = "Settings";

/// Navigation for a role: the host's entries, then the plugins' (`(label, href)` pairs).
fn nav(role: Option<Role>, path: &str, plugin_entries: Vec<(String, String)>) -> Vec<NavItem> {
    let Some(role) = role else { return Vec::new() };
    let mut items: Vec<(String, String, Option<&'static str>)> = vec![("Dashboard".into(), "/".into(), None)];
    items.extend(plugin_entries.into_iter().map(|(label, href)| (label, href, None)));
    let host: Vec<(&str, &str, Option<&'static str>)> = match role {
        Role::VendorAdmin => vec![
            ("Partners", "/admin/orgs", None),
            ("Users", "/admin/users", None),
            ("Programs", "/admin/programs", None),
            ("Plugins", "/admin/plugins", Some(SETTINGS)),
            ("Branding", "/admin/branding", Some(SETTINGS)),
            ("Page templates", "/admin/templates", Some(SETTINGS)),
            ("Mail", "/admin/mail", Some(SETTINGS)),
            ("Audit log", "/admin/audit", Some(SETTINGS)),
        ],
        Role::ChannelManager => vec![("Partners", "/admin/orgs", None)],
        Role::PartnerAdmin => vec![("My organisation", "/org", None), ("Team", "/org/users", None)],
        Role::PartnerUser => vec![],
    };
    items.extend(host.into_iter().map(|(l, h, g)| (l.to_string(), h.to_string(), g)));
    let path = path.split('?').next().unwrap_or(path);
    // The entry whose path is the longest prefix of the page's is the current one (`/org/users` is Team, not
    // My organisation; a plugin's `/queue` is not also its `/`).
    let matches = |href: &str| {
        let h = href.trim_end_matches('/');
        if href == "/" { path == "/" } else { path == h || path.starts_with(&format!("{h}/")) }
    };
    let current = items.iter().filter(|(_, h, _)| matches(h)).map(|(_, h, _)| h.trim_end_matches('/').len()).max();
    items
        .into_iter()
        .map(|(label, href, group)| {
            let active = matches(&href) && Some(href.trim_end_matches('/').len()) == current;
            NavItem { label, href, active, group }
        })
        .collect()
}

/// Known flash messages, shown after a redirect with `?flash=key`. Only keys travel in URLs, never text.
fn flash_message(key: &str) -> Option<&'static str> {
    Some(match key {
        "saved" => "Your changes were saved.",
        "created" => "Created.",
        "invited" => "Invitation sent.",
        "deactivated" => "The account was deactivated; its sessions and API tokens were ended.",
        "reactivated" => "The account was reactivated.",
        "password" => "Your password was changed. Please sign in again on your other devices.",
        "reset_sent" => "If an account exists for that address, we sent a link to reset its password.",
        "reset_done" => "Your password was set. Sign in with it now.",
        "signed_out" => "You signed out.",
        "token_revoked" => "The API token was revoked.",
        _ => return None,
    })
}

/// Builds the full template context: the page's own values under their names, plus the base values.
pub fn base_context(state: &AppState, ctx: &Ctx, page: impl Serialize) -> HttpResult<tera::Context> {
    base_context_with_nav(state, ctx, page, Vec::new())
}

/// Nav entries of the plugins the signed-in user may use, for their role.
async fn plugin_nav(state: &AppState, ctx: &Ctx) -> Vec<(String, String)> {
    let Some(p) = &ctx.principal else { return Vec::new() };
    match crate::plugins::active_for(state, &ctx.tenant, &p.user, None).await {
        Ok(active) => active
            .iter()
            .flat_map(|a| {
                let id = a.plugin.manifest().id.clone();
                a.plugin
                    .manifest()
                    .nav
                    .iter()
                    .filter(|n| crate::plugins::role_allowed(&n.roles, p.user.role))
                    .map(move |n| (n.label.clone(), format!("/p/{id}{}", n.path)))
                    .collect::<Vec<_>>()
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "plugin navigation unavailable");
            Vec::new()
        }
    }
}

fn base_context_with_nav(
    state: &AppState,
    ctx: &Ctx,
    page: impl Serialize,
    plugin_entries: Vec<(String, String)>,
) -> HttpResult<tera::Context> {
    let mut c = tera::Context::from_serialize(page).map_err(super::HttpError::internal)?;
    let t = &ctx.tenant;
    let b = &t.branding;
    let media = |key: &Option<String>| key.as_ref().map(|k| format!("/media/{k}?v={}", t.updated_at));
    c.insert(
        "portal",
        &serde_json::json!({
            "name": b.portal_name,
            "vendor": t.name,
            "logo_url": media(&b.logo_key),
            "favicon_url": media(&b.favicon_key),
            "primary_color": b.primary_color,
            "accent_color": b.accent_color,
            // Custom CSS goes raw inside <style>, where only `</style` could end the element: every `<` is
            // written as the CSS escape `\3c ` instead, which means the same inside CSS strings.
            "custom_css": b.custom_css.replace('<', "\\3c "),
            "static": format!("/static/{}", if state.renderer.has_theme(&t.theme) { t.theme.as_str() } else { "default" }),
        }),
    );
    let user = ctx.principal.as_ref().map(|p| {
        serde_json::json!({
            "id": p.user.id, "name": p.user.name, "email": p.user.email, "role": p.user.role,
            "role_label": p.user.role.label(), "org_id": p.user.org_id, "org_name": p.user.org_name,
            "is_vendor": p.user.role.is_vendor(),
        })
    });
    c.insert("user", &user);
    c.insert("nav", &nav(ctx.principal.as_ref().map(|p| p.user.role), &ctx.path, plugin_entries));
    c.insert("csrf_token", &ctx.csrf_token);
    c.insert("logout_token", &super::csrf::scoped(&ctx.csrf_token, &super::csrf::Scope::Logout));
    c.insert("request_id", &ctx.request_id);
    let viewer_tz = ctx
        .principal
        .as_ref()
        .map(|p| p.user.timezone.clone())
        .filter(|tz| !tz.is_empty())
        .unwrap_or_else(|| t.timezone.clone());
    c.insert("viewer_tz", &viewer_tz);
    c.insert("viewer_locale", &ctx.language);
    let flash = url::Url::parse(&format!("http://x{}", ctx.path))
        .ok()
        .and_then(|u| u.query_pairs().find(|(k, _)| k == "flash").map(|(_, v)| v.into_owned()))
        .and_then(|k| flash_message(&k));
    c.insert("flash", &flash);
    if !c.contains_key("errors") {
        c.insert("errors", &FieldErrors::new());
    }
    Ok(c)
}

/// A page context with `extra`'s keys laid over `page`'s (a form's errors and echoed values over defaults).
pub fn with(mut page: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(p), serde_json::Value::Object(e)) = (page.as_object_mut(), extra) {
        p.extend(e);
    }
    page
}

/// Renders a page template through the tenant's theme.
pub async fn render(state: &AppState, ctx: &Ctx, template: &str, page: impl Serialize) -> HttpResult<Html<String>> {
    render_status(state, ctx, StatusCode::OK, template, page).await.map(|(_, h)| h)
}

/// Renders with a status, e.g. 422 for a form with errors.
pub async fn render_status(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    template: &str,
    page: impl Serialize,
) -> HttpResult<(StatusCode, Html<String>)> {
    let entries = plugin_nav(state, ctx).await;
    let mut c = base_context_with_nav(state, ctx, page, entries)?;
    // Host pages only: a plugin's context never has the nonce (nor the host's form token).
    c.insert("csp_nonce", &ctx.csp_nonce);
    if let Some(p) = &ctx.principal {
        c.insert("unread_notifications", &ctx.scope(state).unread_notifications(&p.user.id).await.unwrap_or(0));
    }
    let html = state.renderer.render(Some(ctx.scope(state)), Some(&ctx.tenant), template, &c).await?;
    Ok((status, Html(html)))
}

/// Turns an [`ErrorInfo`] response into a themed page, a login redirect or a JSON error; logs 500s.
pub async fn render_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ctx = req.extensions().get::<Ctx>().cloned();
    let res = next.run(req).await;
    let Some(info) = res.extensions().get::<ErrorInfo>().cloned() else { return res };
    let Some(ctx) = ctx else { return res };
    let status = res.status();
    if let Some(cause) = &info.cause {
        tracing::error!(request_id = %ctx.request_id, status = status.as_u16(), cause = %cause, "request failed");
    }
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    if ctx.api {
        let mut body = serde_json::json!({ "error": info });
        if status.is_server_error() {
            body["error"]["request_id"] = serde_json::Value::String(ctx.request_id.clone());
        }
        let mut out = (status, Json(body)).into_response();
        if let Some(r) = retry_after {
            out.headers_mut().insert(header::RETRY_AFTER, r);
        }
        return out;
    }
    if status == StatusCode::UNAUTHORIZED {
        let next = url::form_urlencoded::byte_serialize(ctx.path.as_bytes()).collect::<String>();
        return Redirect::to(&format!("/login?next={next}")).into_response();
    }
    let title = match status {
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
        StatusCode::INSUFFICIENT_STORAGE => "No space left",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let page = serde_json::json!({ "status": status.as_u16(), "title": title, "message": info.message });
    match render_status(&state, &ctx, status, "error.html", page).await {
        Ok(r) => {
            let mut out = r.into_response();
            if let Some(r) = retry_after {
                out.headers_mut().insert(header::RETRY_AFTER, r);
            }
            out
        }
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, error = %e, "error page did not render");
            (status, format!("{title} (request {})", ctx.request_id)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_with_the_longest_matching_path_is_current() {
        let plugin = vec![
            ("Deals".to_string(), "/p/deal-registration/".to_string()),
            ("Approvals".to_string(), "/p/deal-registration/queue".to_string()),
        ];
        let current = |role: Role, path: &str| -> Vec<String> {
            nav(Some(role), path, plugin.clone()).into_iter().filter(|i| i.active).map(|i| i.label).collect()
        };
        assert_eq!(current(Role::ChannelManager, "/p/deal-registration/queue"), ["Approvals"]);
        assert_eq!(current(Role::ChannelManager, "/p/deal-registration/deals/42?done=saved"), ["Deals"]);
        assert_eq!(current(Role::ChannelManager, "/"), ["Dashboard"]);
        assert_eq!(current(Role::PartnerAdmin, "/org/users/7"), ["Team"]);
        assert_eq!(current(Role::PartnerAdmin, "/org"), ["My organisation"]);
        assert!(current(Role::PartnerAdmin, "/organisations").is_empty());
        // A vendor admin's settings pages are grouped; the daily ones are not.
        let admin = nav(Some(Role::VendorAdmin), "/admin/templates", Vec::new());
        let grouped: Vec<&str> = admin.iter().filter(|i| i.group.is_some()).map(|i| i.label.as_str()).collect();
        assert_eq!(grouped, ["Plugins", "Branding", "Page templates", "Mail", "Audit log"]);
        assert!(admin.iter().any(|i| i.active && i.label == "Page templates"));
    }
}
