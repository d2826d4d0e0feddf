//! Pages and the JSON API.

use std::collections::BTreeMap;

use portico_sdk::Value;
use portico_sdk::directory;
use portico_sdk::prelude::*;
use portico_sdk::storage::Record;

use crate::cobrand::{self, Actor, Batch, Closed, Fields, Generated, Share};
use crate::template::{Source, Template};

pub const BASE: &str = "/p/co-branding";
const DAY_MS: i64 = 86_400_000;

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%-d %B %Y").to_string()).unwrap_or_default()
}

fn size_text(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{} KB", n.div_ceil(1 << 10)),
        n => format!("{n} bytes"),
    }
}

fn template_json(r: &Record<Template>, staff: bool) -> Value {
    let t = &r.data;
    let mut v = json!({
        "id": r.id, "name": t.name, "description": t.description, "kind": t.kind, "kind_label": t.kind.label(),
        "requires_approval": t.requires_approval, "pages": t.pages.len(),
        "areas": t.areas.iter().map(|a| json!({ "name": a.name, "label": a.label_or_name(), "source": a.source.key(),
            "source_label": a.source.label(), "default": a.default, "max_len": a.max_len, "max_lines": a.max_lines,
            "editable": a.source == Source::Text })).collect::<Vec<_>>(),
    });
    if staff {
        v["status"] = json!(t.status);
        v["programs"] = json!(t.programs);
        v["pdf_name"] = json!(t.pdf_name);
        v["subject"] = json!(t.subject);
        v["body"] = json!(t.body);
        v["placement"] = json!(t.areas);
        v["updated"] = json!(date(t.updated_at));
    }
    v
}

fn generated_json(r: &Record<Generated>) -> Value {
    let g = &r.data;
    json!({
        "id": r.id, "template_id": g.template_id, "template_name": g.template_name, "kind": g.kind,
        "kind_label": g.kind.label(), "org_id": r.org_id, "org_name": g.org_name, "user_name": g.user_name,
        "values": g.values, "value_list": g.values.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect::<Vec<_>>(),
        "customised": g.customised, "status": g.status, "usable": g.status.usable(),
        "reason": g.reason, "decided_by": g.decided_by, "filename": g.filename, "content_type": g.content_type,
        "size": g.size, "size_text": size_text(g.size), "subject": g.subject, "batch_id": g.batch_id,
        "created_at": g.created_at, "created": date(g.created_at), "downloads": g.downloads, "shares": g.shares,
    })
}

fn share_json(ctx: &Context, req: &Request, s: &Record<Share>, path: &str) -> Value {
    let now = ctx.now_ms();
    let state = match (s.data.revoked_at, s.data.expires_at <= now) {
        (Some(_), _) => "revoked",
        (None, true) => "expired",
        _ => "active",
    };
    json!({ "id": s.id, "path": path, "url": format!("{}{path}", origin(req)), "expires_at": s.data.expires_at,
            "expires": date(s.data.expires_at), "state": state, "opens": s.data.opens, "created_by": s.data.created_by })
}

fn batch_json(r: &Record<Batch>) -> Value {
    let b = &r.data;
    json!({ "id": r.id, "template_id": b.template_id, "template_name": b.template_name, "program": b.program,
            "partners": b.orgs.len(), "done": b.done, "made": b.made, "missing_logo": b.missing_logo,
            "failed": b.failed, "finished": b.finished_at.is_some(), "started_by": b.started_by_name,
            "started": date(b.created_at) })
}

/// The portal's origin as the browser sees it, for absolute share links.
fn origin(req: &Request) -> String {
    let host = req.headers.iter().find(|(k, _)| k == "host").map_or("localhost", |(_, v)| v.as_str());
    let loopback = host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    format!("{}://{host}", if loopback { "http" } else { "https" })
}

/// The free text a request gives: JSON `{"values": {…}}`, or form fields `v-{area}`.
fn values(req: &Request) -> Result<BTreeMap<String, String>, Error> {
    if req.form.is_empty() && !req.body.is_empty() {
        let v: Value = req.json()?;
        return Ok(v["values"]
            .as_object()
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default());
    }
    Ok(req.form.iter().filter_map(|(k, v)| Some((k.strip_prefix("v-")?.to_string(), v.clone()))).collect())
}

fn param(req: &Request, name: &str) -> Option<String> {
    if let Some(v) = req.field(name) {
        return Some(v.to_string());
    }
    if req.form.is_empty() && !req.body.is_empty() {
        let v: Value = req.json().ok()?;
        return match &v[name] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
    }
    req.query(name).map(String::from)
}

fn made_file(made: cobrand::Made) -> Response {
    Response::File { content_type: made.content_type.to_string(), filename: made.filename, body: made.bytes }
}

pub fn api(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["templates"]) => {
            let list: Vec<Value> = cobrand::templates(actor)?.iter().map(|r| template_json(r, actor.staff)).collect();
            Ok(Response::json(&json!({ "templates": list })))
        }
        ("POST", ["templates"]) => {
            let f = if req.form.is_empty() && !req.body.is_empty() { req.json()? } else { Fields::from_form(req)? };
            let r = cobrand::create(ctx, actor, f)?;
            Ok(Response::json_status(201, &template_json(&r, true)))
        }
        ("GET", ["templates", id]) => Ok(Response::json(&template_json(&cobrand::usable(actor, id)?, actor.staff))),
        ("PUT", ["templates", id]) => {
            let r = cobrand::update(ctx, actor, id, req.json()?)?;
            Ok(Response::json(&template_json(&r, true)))
        }
        ("POST", ["templates", id, "preview"]) => {
            let (_, made) = cobrand::preview(actor, id, &values(req)?, param(req, "org").as_deref())?;
            Ok(made_file(made))
        }
        ("POST", ["templates", id, "generate"]) => {
            let r = cobrand::generate(ctx, actor, id, &values(req)?)?;
            Ok(Response::json_status(201, &generated_json(&r)))
        }
        ("POST", ["templates", id, "batch"]) => {
            let program = param(req, "program").unwrap_or_default();
            let r = cobrand::start_batch(ctx, actor, id, &program)?;
            Ok(Response::json_status(if r.data.finished_at.is_some() { 201 } else { 202 }, &batch_json(&r)))
        }
        ("GET", ["batches", id]) => {
            actor.staff_only("see batches")?;
            let r = cobrand::BATCHES.get::<Batch>(id)?.ok_or_else(|| Error::NotFound(format!("no batch {id}")))?;
            Ok(Response::json(&batch_json(&r)))
        }
        ("GET", ["generated"]) => {
            let list: Vec<Value> = cobrand::documents(actor, req.query("status"))?.iter().map(generated_json).collect();
            Ok(Response::json(&json!({ "generated": list })))
        }
        ("GET", ["generated", id]) => Ok(Response::json(&generated_json(&cobrand::document(actor, id)?))),
        ("GET", ["generated", id, "download"]) => Ok(Response::redirect(cobrand::download(ctx, actor, id)?)),
        ("POST", ["generated", id, "approve"]) => {
            Ok(Response::json(&generated_json(&cobrand::decide(actor, id, true, "")?)))
        }
        ("POST", ["generated", id, "reject"]) => {
            let reason = param(req, "reason").unwrap_or_default();
            Ok(Response::json(&generated_json(&cobrand::decide(actor, id, false, &reason)?)))
        }
        ("GET", ["generated", id, "share"]) => {
            let list: Vec<Value> =
                cobrand::shares(ctx, actor, id)?.iter().map(|(s, p)| share_json(ctx, req, s, p)).collect();
            Ok(Response::json(&json!({ "shares": list })))
        }
        ("POST", ["generated", id, "share"]) => {
            let days = param(req, "days").and_then(|d| d.parse().ok()).unwrap_or(7);
            let (s, path) = cobrand::create_share(ctx, actor, id, days)?;
            Ok(Response::json_status(201, &share_json(ctx, req, &s, &path)))
        }
        ("DELETE", ["generated", id, "share", share_id]) => {
            let s = cobrand::revoke(ctx, actor, id, share_id)?;
            Ok(Response::json(&json!({ "id": s.id, "state": "revoked" })))
        }
        ("GET", ["analytics"]) => {
            actor.staff_only("see co-branding analytics")?;
            let days = req.query("days").and_then(|d| d.parse().ok()).unwrap_or(30_i64).clamp(1, 366);
            Ok(Response::json(&analytics_data(ctx, days)?))
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}

/// The public share link: the document, or a page saying why not.
pub fn public(ctx: &Context, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    let ["s", token] = segs.as_slice() else { return Err(Error::NotFound("no such page".into())) };
    let why = match cobrand::open_share(ctx, token)? {
        Ok(url) => return Ok(Response::redirect(url)),
        Err(Closed::Expired) => "This link has expired. Ask the partner who sent it for a new one.",
        Err(Closed::Revoked) => "This link was withdrawn by the partner who sent it.",
        Err(Closed::Unknown) => "This link is not valid. Check that it was copied whole.",
    };
    let mut v = Response::page("shared.html", "Shared document", &json!({ "message": why }));
    if let Response::Page(p) = &mut v {
        p.status = 410;
    }
    Ok(v)
}

pub fn page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    let post = req.method == "POST";
    match segs.as_slice() {
        [] => list_page(actor),
        ["new"] => new_page(ctx, actor, req),
        ["templates", id] => template_page(ctx, actor, id, None, BTreeMap::new(), None),
        ["templates", id, "preview"] if post => match cobrand::preview(actor, id, &values(req)?, req.field("org")) {
            Ok((_, made)) => Ok(made_file(made)),
            Err(Error::Invalid(f)) => form_error(ctx, actor, id, req, f),
            Err(e) => Err(e),
        },
        ["templates", id, "generate"] if post => match cobrand::generate(ctx, actor, id, &values(req)?) {
            Ok(r) => Ok(Response::redirect(format!("{BASE}/generated#doc-{}", r.id))),
            Err(Error::Invalid(f)) => form_error(ctx, actor, id, req, f),
            Err(e) => Err(e),
        },
        ["templates", id, "status"] if post => {
            let f = Fields { status: req.field("status").map(String::from), ..Default::default() };
            match cobrand::update(ctx, actor, id, f) {
                Ok(_) => Ok(Response::redirect(format!("{BASE}/templates/{id}"))),
                Err(Error::Invalid(f)) => template_page(ctx, actor, id, None, BTreeMap::new(), Some(f.message)),
                Err(e) => Err(e),
            }
        }
        ["templates", id, "batch"] if post => {
            match cobrand::start_batch(ctx, actor, id, req.field("program").unwrap_or_default()) {
                Ok(b) => Ok(Response::redirect(format!("{BASE}/batches/{}", b.id))),
                Err(Error::Invalid(f)) => template_page(ctx, actor, id, None, BTreeMap::new(), Some(f.message)),
                Err(Error::Conflict(m)) => template_page(ctx, actor, id, None, BTreeMap::new(), Some(m)),
                Err(e) => Err(e),
            }
        }
        ["batches", id] => {
            actor.staff_only("see batches")?;
            let r = cobrand::BATCHES.get::<Batch>(id)?.ok_or_else(|| Error::NotFound(format!("no batch {id}")))?;
            Ok(Response::page("batch.html", "Batch run", &json!({ "base": BASE, "batch": batch_json(&r) })))
        }
        ["generated"] => generated_page(ctx, actor, req, None),
        ["generated", id, "download"] => match cobrand::download(ctx, actor, id) {
            Ok(url) => Ok(Response::redirect(url)),
            Err(Error::Conflict(m)) => generated_page(ctx, actor, req, Some(m)),
            Err(e) => Err(e),
        },
        ["generated", id, "share"] if post => {
            let days = req.field("days").and_then(|d| d.parse().ok()).unwrap_or(0);
            match cobrand::create_share(ctx, actor, id, days) {
                Ok(_) => Ok(Response::redirect(format!("{BASE}/generated#doc-{id}"))),
                Err(Error::Invalid(f)) => generated_page(ctx, actor, req, Some(f.message)),
                Err(Error::Conflict(m)) => generated_page(ctx, actor, req, Some(m)),
                Err(e) => Err(e),
            }
        }
        ["generated", id, "share", share_id, "revoke"] if post => {
            cobrand::revoke(ctx, actor, id, share_id)?;
            Ok(Response::redirect(format!("{BASE}/generated#doc-{id}")))
        }
        ["generated", id, decision @ ("approve" | "reject")] if post => {
            match cobrand::decide(actor, id, *decision == "approve", req.field("reason").unwrap_or_default()) {
                Ok(_) => Ok(Response::redirect(format!("{BASE}/approvals"))),
                Err(Error::Invalid(f)) => approvals_page(actor, Some(f.message)),
                Err(Error::Conflict(m)) => approvals_page(actor, Some(m)),
                Err(e) => Err(e),
            }
        }
        ["approvals"] => approvals_page(actor, None),
        ["analytics"] => {
            if !actor.staff {
                return Err(Error::NotFound("no such page".into()));
            }
            let days =
                req.query("days").and_then(|d| d.parse().ok()).filter(|d| [7, 30, 90, 365].contains(d)).unwrap_or(30);
            let mut data = analytics_data(ctx, days)?;
            data["base"] = json!(BASE);
            Ok(Response::page("analytics.html", "Co-branding analytics", &data))
        }
        _ => Err(Error::NotFound("no such page".into())),
    }
}

fn list_page(actor: &Actor) -> Result<Response, Error> {
    let list: Vec<Value> = cobrand::templates(actor)?.iter().map(|r| template_json(r, actor.staff)).collect();
    let pending = if actor.staff { cobrand::documents(actor, Some("pending"))?.len() } else { 0 };
    let mine = if actor.staff { 0 } else { cobrand::documents(actor, None)?.len() };
    Ok(Response::page(
        "list.html",
        "Co-branding",
        &json!({ "base": BASE, "templates": list, "staff": actor.staff, "pending": pending, "mine": mine }),
    ))
}

/// A form's error shown on the template's page, with what was typed kept.
fn form_error(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    req: &Request,
    f: portico_sdk::FieldError,
) -> Result<Response, Error> {
    let typed = values(req)?;
    let errors = BTreeMap::from([(f.field.unwrap_or_default(), f.message)]);
    template_page(ctx, actor, id, Some(typed), errors, None)
}

fn template_page(
    _ctx: &Context,
    actor: &Actor,
    id: &str,
    typed: Option<BTreeMap<String, String>>,
    errors: BTreeMap<String, String>,
    flash: Option<String>,
) -> Result<Response, Error> {
    let r = cobrand::usable(actor, id)?;
    let t = &r.data;
    let mut v = template_json(&r, actor.staff);
    // The text to show in each free-text area: what was typed, or the default.
    let typed = typed.unwrap_or_default();
    v["fields"] =
        json!(
        t.text_areas()
            .map(|a| json!({ "name": a.name, "label": a.label_or_name(), "max_len": a.max_len, "max_lines": a.max_lines,
                             "value": typed.get(&a.name).cloned().unwrap_or_else(|| a.default.clone()),
                             "error": errors.get(&a.name) }))
            .collect::<Vec<_>>()
    );
    let other_errors: Vec<&String> =
        errors.iter().filter(|(k, _)| !t.text_areas().any(|a| &a.name == *k)).map(|(_, m)| m).collect();
    let mut ctx_json = json!({ "base": BASE, "t": v, "staff": actor.staff, "errors": other_errors, "flash": flash,
                               "status": if actor.staff { json!(t.status) } else { Value::Null } });
    if actor.staff {
        // The programs partners are enrolled in (those the template is offered in), for the batch form.
        let orgs = directory::list_orgs(None)?;
        let programs: std::collections::BTreeSet<&String> = orgs
            .iter()
            .flat_map(|o| o.enrolments.iter().map(|e| &e.program))
            .filter(|p| t.programs.is_empty() || t.programs.contains(p))
            .collect();
        let orgs: Vec<Value> = orgs.iter().map(|o| json!({ "id": o.id, "name": o.name })).collect();
        ctx_json["programs"] = json!(programs);
        ctx_json["orgs"] = json!(orgs);
    } else {
        let p = cobrand::own_profile(actor)?;
        ctx_json["has_logo"] = json!(p.logo.is_some());
        ctx_json["company"] = json!(p.company);
        ctx_json["profile_fields"] =
            json!(t.areas.iter().filter(|a| a.source != Source::Text).map(|a| a.label_or_name()).collect::<Vec<_>>());
        ctx_json["needs_logo"] = json!(t.areas.iter().any(|a| a.source == Source::Logo));
    }
    let status = if errors.is_empty() { 200 } else { 422 };
    let mut resp = Response::page("template.html", &t.name.clone(), &ctx_json);
    if let Response::Page(p) = &mut resp {
        p.status = status;
    }
    Ok(resp)
}

fn new_page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    actor.staff_only("create templates")?;
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    if req.method == "POST" {
        match Fields::from_form(req).and_then(|f| cobrand::create(ctx, actor, f)) {
            Ok(r) => return Ok(Response::redirect(format!("{BASE}/templates/{}", r.id))),
            Err(Error::Invalid(f)) => {
                errors.insert(f.field.unwrap_or_default(), f.message);
            }
            Err(e) => return Err(e),
        }
    }
    let form: BTreeMap<&str, &str> = req.form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sources: Vec<Value> = Source::ALL.iter().map(|s| json!({ "key": s.key(), "label": s.label() })).collect();
    let mut resp = Response::page(
        "new.html",
        "New co-branding template",
        &json!({ "base": BASE, "errors": errors, "form": form, "sources": sources,
                 "area_errors": errors.iter().filter(|(k, _)| k.starts_with("areas")).map(|(k, m)| format!("{k}: {m}")).collect::<Vec<_>>() }),
    );
    if let Response::Page(p) = &mut resp
        && !errors.is_empty()
    {
        p.status = 422;
    }
    Ok(resp)
}

fn generated_page(ctx: &Context, actor: &Actor, req: &Request, flash: Option<String>) -> Result<Response, Error> {
    let docs = cobrand::documents(actor, None)?;
    let mut list = Vec::new();
    for r in docs.iter().take(100) {
        let mut v = generated_json(r);
        if r.data.status.usable() && !actor.staff {
            let shares: Vec<Value> =
                cobrand::shares(ctx, actor, &r.id)?.iter().map(|(s, p)| share_json(ctx, req, s, p)).collect();
            v["share_links"] = json!(shares);
        }
        list.push(v);
    }
    let max_days = portico_sdk::settings::get::<Value>().ok().and_then(|s| s["share_days"].as_i64()).unwrap_or(30);
    let mut resp = Response::page(
        "generated.html",
        if actor.staff { "Co-branded documents" } else { "My co-branded documents" },
        &json!({ "base": BASE, "docs": list, "staff": actor.staff, "flash": flash, "max_days": max_days }),
    );
    if let (Response::Page(p), true) = (&mut resp, flash.is_some()) {
        p.status = 409;
    }
    Ok(resp)
}

fn approvals_page(actor: &Actor, flash: Option<String>) -> Result<Response, Error> {
    if !actor.staff {
        return Err(Error::NotFound("no such page".into()));
    }
    let list: Vec<Value> = cobrand::documents(actor, Some("pending"))?.iter().map(generated_json).collect();
    Ok(Response::page("approvals.html", "Approvals", &json!({ "base": BASE, "docs": list, "flash": flash })))
}

/// Generated, downloaded, shared and opened, by template and by partner, over the last `days`.
fn analytics_data(ctx: &Context, days: i64) -> Result<Value, Error> {
    let today = ctx.now_ms().div_euclid(DAY_MS);
    let rows = cobrand::usage_since(today - days + 1)?;
    const KINDS: [&str; 4] = ["generated", "downloaded", "shared", "opened"];
    let mut by_template: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    let mut by_org: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for u in &rows {
        let Some(k) = KINDS.iter().position(|k| *k == u.kind) else { continue };
        by_template.entry(u.template_name.clone()).or_default()[k] += 1;
        by_org.entry(u.org_name.clone()).or_default()[k] += 1;
    }
    let table = |m: &BTreeMap<String, [u64; 4]>| -> Vec<Value> {
        let mut v: Vec<(&String, &[u64; 4])> = m.iter().collect();
        v.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then(a.0.cmp(b.0)));
        v.iter()
            .map(|(n, c)| json!({ "name": n, "generated": c[0], "downloaded": c[1], "shared": c[2], "opened": c[3] }))
            .collect()
    };
    let names: Vec<&String> = by_template.keys().collect();
    let series: Vec<Value> = KINDS
        .iter()
        .enumerate()
        .map(|(i, k)| json!({ "name": k, "values": by_template.values().map(|c| c[i]).collect::<Vec<_>>() }))
        .collect();
    let totals: Vec<u64> = (0..4).map(|i| by_template.values().map(|c| c[i]).sum()).collect();
    Ok(json!({ "days": days, "by_template": table(&by_template), "by_partner": table(&by_org),
               "template_names": names, "series": series,
               "totals": { "generated": totals[0], "downloaded": totals[1], "shared": totals[2], "opened": totals[3] },
               "capped": rows.len() >= 20_000 }))
}

/// The partner card: the last 30 days' documents, downloads and shares.
pub fn card(ctx: &Context, org_id: &str) -> Result<View, Error> {
    let today = ctx.now_ms().div_euclid(DAY_MS);
    let c = cobrand::org_usage(org_id, today - 29)?;
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    Ok(View {
        template: "card_co_branding.html".into(),
        title: "Co-branding".into(),
        context: json!({ "generated": n("generated"), "downloaded": n("downloaded"), "shared": n("shared"),
                         "opened": n("opened") })
        .to_string(),
        status: 200,
    })
}
