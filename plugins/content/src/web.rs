//! Pages and the JSON API.

use std::collections::BTreeMap;

use portico_sdk::Value;
use portico_sdk::files::{self, Disposition};
use portico_sdk::prelude::*;
use portico_sdk::storage::{Direction, Record};

use crate::content::{self, ASSETS, Actor, Asset, ENGAGEMENT, Engagement, Fields, Folder};
use crate::library::{State, size_text};

const BASE: &str = "/p/content";
const DAY_MS: i64 = 86_400_000;

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%-d %B %Y").to_string()).unwrap_or_default()
}

fn asset_json(ctx: &Context, actor: &Actor, r: &Record<Asset>) -> Value {
    let a = &r.data;
    let now = ctx.now_ms();
    let current = a.current_version();
    let mut v = json!({
        "id": r.id, "title": a.title, "description": a.description, "language": a.language, "folder": a.folder,
        "tags": a.tags, "kind": if a.url.is_some() { "link" } else { "file" }, "url": a.url,
        "current": a.current, "filename": current.map(|v| &v.filename), "content_type": current.map(|v| &v.content_type),
        "size": current.map(|v| v.size), "size_text": current.map(|v| size_text(v.size)),
        "live_at": a.live_at, "published": date(a.live_at), "updated_at": a.updated_at,
        "thumbnail": a.thumbnail.as_ref().and_then(|k| files::serve_url(k, "thumbnail.png", Disposition::Inline, 3600, false).ok()),
    });
    if actor.staff {
        v["state"] = json!(a.state(now));
        v["access"] = json!(a.access);
        v["publish_at"] = json!(a.publish_at);
        v["expires_at"] = json!(a.expires_at);
        v["expires"] = json!(a.expires_at.map(date));
        v["views"] = json!(a.views);
        v["downloads"] = json!(a.downloads);
        v["versions"] = json!(a.versions.len());
    }
    v
}

fn versions_json(a: &Asset) -> Vec<Value> {
    a.versions
        .iter()
        .rev()
        .map(|v| {
            json!({ "n": v.n, "filename": v.filename, "content_type": v.content_type, "size": v.size,
                    "size_text": size_text(v.size), "at": v.at, "date": date(v.at), "by": v.by,
                    "restored_from": v.restored_from, "current": v.n == a.current })
        })
        .collect()
}

fn fields(req: &Request) -> Result<Fields, Error> {
    if req.form.is_empty() && !req.body.is_empty() { req.json() } else { Ok(Fields::from_form(req)) }
}

pub fn api(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["assets"]) => {
            let l = content::list(
                ctx,
                actor,
                req.query("q"),
                req.query("folder"),
                req.query("tag"),
                req.query("language"),
            )?;
            let assets: Vec<Value> = l.assets.iter().map(|r| asset_json(ctx, actor, r)).collect();
            Ok(Response::json(&json!({ "assets": assets, "total": l.total })))
        }
        ("POST", ["assets"]) => {
            let r = content::create(ctx, actor, fields(req)?)?;
            Ok(Response::json_status(201, &asset_json(ctx, actor, &r)))
        }
        ("GET", ["assets", id]) => {
            let r = content::openable(ctx, actor, id)?;
            content::record(ctx, actor, &r, "view")?;
            Ok(Response::json(&asset_json(ctx, actor, &r)))
        }
        ("PUT", ["assets", id]) => {
            let r = content::update(ctx, actor, id, fields(req)?)?;
            Ok(Response::json(&asset_json(ctx, actor, &r)))
        }
        ("DELETE", ["assets", id]) => {
            content::delete(ctx, actor, id)?;
            Ok(Response::json(&json!({ "deleted": id })))
        }
        ("GET", ["assets", id, "versions"]) => {
            actor.staff_only("see an asset's versions")?;
            let r = content::openable(ctx, actor, id)?;
            Ok(Response::json(&json!({ "versions": versions_json(&r.data), "current": r.data.current })))
        }
        ("POST", ["assets", id, "versions"]) => {
            let r = content::upload_version(ctx, actor, id)?;
            Ok(Response::json_status(201, &json!({ "versions": versions_json(&r.data), "current": r.data.current })))
        }
        ("POST", ["assets", id, "versions", n, "restore"]) => {
            let n: u32 = n.parse().map_err(|_| Error::NotFound(format!("no version {n}")))?;
            let r = content::restore(ctx, actor, id, n)?;
            Ok(Response::json(&json!({ "versions": versions_json(&r.data), "current": r.data.current })))
        }
        ("GET", ["assets", id, "download"]) => Ok(Response::redirect(content::download(ctx, actor, id)?)),
        ("GET", ["folders"]) => {
            let list: Vec<Value> = content::folders()?
                .into_iter()
                .map(|r| json!({ "id": r.id, "name": r.data.name, "parent": r.data.parent }))
                .collect();
            Ok(Response::json(&json!({ "folders": list })))
        }
        ("POST", ["folders"]) => {
            let r = content::create_folder(actor, req.json::<Folder>()?)?;
            Ok(Response::json_status(201, &json!({ "id": r.id, "name": r.data.name, "parent": r.data.parent })))
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}

/// The folders in tree order, each with its depth and its name indented for a select.
fn folder_tree(folders: &[Record<Folder>]) -> Vec<Value> {
    crate::library::tree(&content::folder_refs(folders))
        .into_iter()
        .map(|(id, name, depth)| json!({ "id": id, "name": name, "depth": depth, "label": format!("{}{name}", "— ".repeat(depth)) }))
        .collect()
}

pub fn page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    match segs.as_slice() {
        [] => library(ctx, actor, req),
        ["new"] => new_page(ctx, actor, req),
        ["analytics"] => analytics(ctx, actor, req),
        ["assets", id] => asset_page(ctx, actor, req, id),
        ["assets", id, "download"] => match content::download(ctx, actor, id) {
            Ok(url) => Ok(Response::redirect(url)),
            Err(Error::Conflict(m)) => asset_page_with(ctx, actor, id, Some(json!({ "ok": false, "message": m }))),
            Err(e) => Err(e),
        },
        _ => Err(Error::NotFound("no such page".into())),
    }
}

fn library(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let last = content::visit(ctx, actor)?;
    let (q, folder, tag, language) = (req.query("q"), req.query("folder"), req.query("tag"), req.query("language"));
    let l = content::list(ctx, actor, q, folder, tag, language)?;
    let folders = content::folders()?;
    let names: BTreeMap<String, String> = folders.iter().map(|f| (f.id.clone(), f.data.name.clone())).collect();
    let mut tags: Vec<String> = l.assets.iter().flat_map(|r| r.data.tags.clone()).collect();
    tags.sort();
    tags.dedup();
    let assets: Vec<Value> = l
        .assets
        .iter()
        .map(|r| {
            let mut v = asset_json(ctx, actor, r);
            v["new"] = json!(!actor.staff && last.is_some_and(|at| r.data.live_at > at));
            v["folder_name"] = json!(r.data.folder.as_ref().and_then(|f| names.get(f)));
            v
        })
        .collect();
    let new_count = assets.iter().filter(|a| a["new"] == true).count();
    let folders = folder_tree(&folders);
    Ok(Response::page(
        "library.html",
        "Content",
        &json!({ "base": BASE, "assets": assets, "total": l.total, "q": q, "folder": folder, "tag": tag,
                 "language": language, "folders": folders, "tags": tags, "staff": actor.staff, "new_count": new_count,
                 "since": last.map(date) }),
    ))
}

fn asset_page(ctx: &Context, actor: &Actor, req: &Request, id: &str) -> Result<Response, Error> {
    let mut flash = None;
    if req.method == "POST" {
        let outcome = match req.field("action").unwrap_or("") {
            "restore" => {
                let n: u32 = req.field("version").and_then(|n| n.parse().ok()).unwrap_or(0);
                content::restore(ctx, actor, id, n)
                    .map(|r| format!("Version {n} restored as version {}.", r.data.current))
            }
            "delete" => {
                content::delete(ctx, actor, id)?;
                return Ok(Response::redirect(format!("{BASE}/")));
            }
            _ => Err(Error::invalid("action", "no such action")),
        };
        flash = Some(match outcome {
            Ok(m) => json!({ "ok": true, "message": m }),
            Err(Error::NotFound(m) | Error::Conflict(m)) => json!({ "ok": false, "message": m }),
            Err(e) => return Err(e),
        });
    } else {
        let r = content::openable(ctx, actor, id)?;
        content::record(ctx, actor, &r, "view")?;
    }
    asset_page_with(ctx, actor, id, flash)
}

fn asset_page_with(ctx: &Context, actor: &Actor, id: &str, flash: Option<Value>) -> Result<Response, Error> {
    let r = content::openable(ctx, actor, id)?;
    let a = &r.data;
    let now = ctx.now_ms();
    // Images show themselves as their thumbnail.
    let preview = match a.current_version() {
        Some(v) if v.content_type.starts_with("image/") => {
            Some(files::serve_url(&v.key, &v.filename, Disposition::Inline, 3600, false)?)
        }
        _ => None,
    };
    Ok(Response::page(
        "asset.html",
        &a.title.clone(),
        &json!({ "base": BASE, "asset": asset_json(ctx, actor, &r), "versions": if actor.staff { versions_json(a) } else { Vec::new() },
                 "staff": actor.staff, "expired": a.state(now) == State::Expired, "flash": flash, "preview": preview }),
    ))
}

fn new_page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    actor.staff_only("add to the library")?;
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    if req.method == "POST" {
        match content::create(ctx, actor, Fields::from_form(req)) {
            Ok(r) => return Ok(Response::redirect(format!("{BASE}/assets/{}", r.id))),
            Err(Error::Invalid(f)) => {
                errors.insert(f.field.unwrap_or_default(), f.message);
            }
            Err(e) => return Err(e),
        }
    }
    let folders = folder_tree(&content::folders()?);
    let form: BTreeMap<&str, &str> = req.form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Ok(Response::page(
        "new.html",
        "Add to the library",
        &json!({ "base": BASE, "errors": errors, "form": form, "folders": folders }),
    ))
}

/// Vendor staff: the assets downloaded most, downloads by partner organisation and by week over the period, and
/// the assets nobody has opened.
fn analytics(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    if !actor.staff {
        return Err(Error::NotFound("no such page".into()));
    }
    let now = ctx.now_ms();
    let days: i64 =
        req.query("days").and_then(|d| d.parse().ok()).filter(|d| [7, 30, 90, 365].contains(d)).unwrap_or(30);
    let today = now.div_euclid(DAY_MS);
    let from = today - days + 1;
    let top: Vec<Value> = ASSETS
        .query()
        .all_orgs()
        .order_by("downloads", Direction::Desc)
        .limit(10)
        .fetch::<Asset>()?
        .records
        .iter()
        .filter(|r| r.data.downloads > 0)
        .map(|r| json!({ "id": r.id, "title": r.data.title, "downloads": r.data.downloads, "views": r.data.views }))
        .collect();
    let unopened: Vec<Value> = ASSETS
        .query()
        .all_orgs()
        .eq("opened", 0)
        .limit(50)
        .fetch::<Asset>()?
        .records
        .iter()
        .map(|r| json!({ "id": r.id, "title": r.data.title, "published": date(r.data.live_at) }))
        .collect();
    // The period's engagement, a bounded batch (the newest first).
    let period = ENGAGEMENT
        .query()
        .all_orgs()
        .range("day", Some(from), Some(today + 1))
        .order_by("day", Direction::Desc)
        .limit(10_000)
        .fetch::<Engagement>()?
        .records;
    let mut by_org: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_day: BTreeMap<i64, u64> = BTreeMap::new();
    let mut views = 0;
    for e in period.iter().map(|r| &r.data) {
        if e.kind == "download" {
            *by_org.entry(e.org_name.clone()).or_default() += 1;
            *by_day.entry(e.day).or_default() += 1;
        } else {
            views += 1;
        }
    }
    let mut orgs: Vec<(String, u64)> = by_org.into_iter().collect();
    orgs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    orgs.truncate(12);
    let days_list: Vec<i64> = (from..=today).collect();
    let trend: Vec<u64> = days_list.iter().map(|d| by_day.get(d).copied().unwrap_or(0)).collect();
    let labels: Vec<String> = days_list
        .iter()
        .map(|d| {
            chrono::DateTime::from_timestamp_millis(d * DAY_MS)
                .map(|t| t.format("%-d %b").to_string())
                .unwrap_or_default()
        })
        .collect();
    Ok(Response::page(
        "analytics.html",
        "Content analytics",
        &json!({ "base": BASE, "days": days, "top": top, "unopened": unopened,
                 "orgs": orgs.iter().map(|(n, c)| json!({ "name": n, "downloads": c })).collect::<Vec<_>>(),
                 "org_names": orgs.iter().map(|(n, _)| n).collect::<Vec<_>>(), "org_counts": orgs.iter().map(|(_, c)| c).collect::<Vec<_>>(),
                 "trend": trend, "trend_labels": labels, "downloads": trend.iter().sum::<u64>(), "views": views,
                 "capped": period.len() >= 10_000 }),
    ))
}

/// The partner card: what the organisation downloaded in the last 30 days, and its favourite.
pub fn card(ctx: &Context, org_id: &str) -> Result<View, Error> {
    let today = ctx.now_ms().div_euclid(DAY_MS);
    let recent = ENGAGEMENT
        .query()
        .org(org_id)
        .range("day", Some(today - 29), Some(today + 1))
        .limit(2000)
        .fetch::<Engagement>()?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut downloads = 0;
    for e in recent.records.iter().map(|r| &r.data).filter(|e| e.kind == "download") {
        downloads += 1;
        *counts.entry(e.title.clone()).or_default() += 1;
    }
    let top = counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(t, _)| t);
    let views = recent.records.iter().filter(|r| r.data.kind == "view").count();
    Ok(View {
        template: "card_content.html".into(),
        title: "Content".into(),
        context: json!({ "downloads": downloads, "views": views, "top": top }).to_string(),
        status: 200,
    })
}
