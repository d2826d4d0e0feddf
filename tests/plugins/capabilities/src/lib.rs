//! Uses each host capability added for the feature plugins (`portico:plugin` 0.1.1) through the SDK only, so the
//! tests can check them end to end: writable secrets, public routes, the host's activity events, partner cards and
//! one organisation's records.

use portico_sdk::prelude::*;
use portico_sdk::storage::Collection;
use portico_sdk::{files, search, secrets};

const SEEN: Collection = Collection::new("seen");
const CODES: Collection = Collection::new("codes");

fn outcome<T: std::fmt::Debug>(r: Result<T, Error>) -> Response {
    match r {
        Ok(v) => Response::json(&json!({ "outcome": "ok", "value": format!("{v:?}") })),
        Err(e) => Response::json(&json!({ "outcome": "error", "error": format!("{e:?}") })),
    }
}

struct Capabilities;

impl Plugin for Capabilities {
    fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
        let segs = req.segments();
        match (req.api, req.method.as_str(), segs.as_slice()) {
            // Public: a code is genuine when a signed-in user issued it; a forged one says nothing of anything.
            (api, "GET", ["verify", code]) => {
                let genuine = CODES.query().all_orgs().eq("n", code).count().unwrap_or(0) > 0;
                let signed_in = ctx.caller().is_some();
                if api {
                    Ok(Response::json(&json!({ "valid": genuine, "caller": signed_in })))
                } else {
                    Ok(Response::page("verify.html", "Verify", &json!({ "valid": genuine, "code": code })))
                }
            }
            (true, "POST", ["codes"]) => {
                let n = req.query("n").unwrap_or_default().to_string();
                CODES.insert(&json!({ "n": n }))?;
                Ok(Response::json(&json!({ "code": n })))
            }
            (true, "GET", ["secret"]) => Ok(outcome(secrets::get(req.query("name").unwrap_or_default()))),
            (true, "POST", ["secret"]) => {
                let (name, value) = (req.query("name").unwrap_or_default(), req.query("value").unwrap_or_default());
                secrets::set(name, value)?;
                if req.query("then") == Some("fail") {
                    return Err(Error::invalid("then", "failing after writing the secret"));
                }
                Ok(outcome(Ok::<_, Error>(name.to_string())))
            }
            // Keeps every file but those sent in a field named `skip`; answers with their handles.
            (true, "POST", ["upload"] | ["upload-large"]) => {
                let mut kept = Vec::new();
                for f in files::uploads() {
                    if f.field != "skip" {
                        files::keep(&f.key)?;
                    }
                    kept.push(json!({ "key": f.key, "field": f.field, "size": f.size, "sha256": f.sha256,
                                      "content_type": f.content_type, "filename": f.filename }));
                }
                if req.query("then") == Some("fail") {
                    return Err(Error::invalid("then", "failing after keeping the files"));
                }
                Ok(Response::json(&json!({ "files": kept, "note": req.field("note") })))
            }
            (true, "GET", ["link"]) => {
                let disposition = if req.query("inline") == Some("1") {
                    files::Disposition::Inline
                } else {
                    files::Disposition::Attachment
                };
                let ttl = req.query("ttl").and_then(|t| t.parse().ok()).unwrap_or(600);
                let url = files::serve_url(
                    req.query("key").unwrap_or_default(),
                    req.query("name").unwrap_or("file"),
                    disposition,
                    ttl,
                    req.query("public") == Some("1"),
                )?;
                Ok(Response::json(&json!({ "url": url })))
            }
            (true, "GET", ["read"]) => {
                let key = req.query("key").unwrap_or_default();
                let offset = req.query("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
                let bytes = files::read(key, offset, 16)?;
                Ok(Response::json(
                    &json!({ "bytes": String::from_utf8_lossy(&bytes), "stat": files::stat(key)?.map(|f| f.size) }),
                ))
            }
            (true, "POST", ["docs"]) => {
                let d: serde_json::Value = req.json()?;
                let list = |k: &str| -> Vec<String> {
                    d[k].as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                        .unwrap_or_default()
                };
                search::index(&search::Document {
                    id: d["id"].as_str().unwrap_or_default().to_string(),
                    title: d["title"].as_str().unwrap_or_default().to_string(),
                    text: d["text"].as_str().unwrap_or_default().to_string(),
                    tags: list("tags"),
                    labels: list("labels"),
                    org_id: d["org_id"].as_str().map(str::to_string),
                })?;
                Ok(Response::json(&json!({ "ok": true })))
            }
            (true, "POST", ["docs", id, "remove"]) => Ok(Response::json(&json!({ "removed": search::remove(id)? }))),
            (true, "GET", ["find"]) => {
                let groups: Vec<Vec<String>> =
                    req.query("groups").and_then(|g| serde_json::from_str(g).ok()).unwrap_or_default();
                let tags: Vec<String> =
                    req.query("tags").and_then(|g| serde_json::from_str(g).ok()).unwrap_or_default();
                let found = search::query(&search::SearchQuery {
                    text: req.query("q").unwrap_or_default().to_string(),
                    labels: groups,
                    tags,
                    limit: 20,
                    offset: 0,
                })?;
                let hits: Vec<_> = found
                    .hits
                    .iter()
                    .map(|h| {
                        let marked: String = h
                            .snippet
                            .iter()
                            .map(|f| if f.hit { format!("[{}]", f.text) } else { f.text.clone() })
                            .collect();
                        json!({ "id": h.id, "title": h.title, "snippet": marked, "score": h.score })
                    })
                    .collect();
                Ok(Response::json(&json!({ "hits": hits, "total": found.total })))
            }
            (true, "GET", ["seen"]) => {
                let page = SEEN.query().all_orgs().limit(200).fetch::<serde_json::Value>()?;
                let seen: Vec<_> = page.records.into_iter().map(|r| r.data).collect();
                Ok(Response::json(&json!({ "seen": seen })))
            }
            (true, "GET", ["org-codes", org]) => {
                let n = CODES.query().org(org).count()?;
                Ok(Response::json(&json!({ "count": n })))
            }
            _ => Err(Error::NotFound("no such route".into())),
        }
    }

    /// Records each host event once, by its id.
    fn on_event(_ctx: &Context, event: Event) -> Result<(), Error> {
        let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap_or_default();
        let record = json!({ "topic": event.topic, "source": event.source, "payload": payload });
        match SEEN.insert_with(Some(&event.id), None, &record) {
            Ok(_) | Err(Error::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn render_card(_ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
        let codes = CODES.query().org(org_id).count()?;
        Ok(View {
            template: "card.html".into(),
            title: card.into(),
            context: json!({ "org_id": org_id, "codes": codes }).to_string(),
            status: 200,
        })
    }
}

export_plugin!(Capabilities);
