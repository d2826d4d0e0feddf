//! A plugin that misbehaves on purpose. Each API path below `/api/v1/p/hostile/` does one bad thing, so the
//! sandbox tests can show the host stops it and nothing else is hurt; its pages (`/p/hostile/render?t=…`) are
//! templates that try to read the host's environment, print a hundred megabytes, burn CPU or fill memory.

use portico_sdk::prelude::*;
use portico_sdk::storage::Collection;
use portico_sdk::{Value, blobs, directory, events, http, log, secrets};

const NOTES: Collection = Collection::new("notes");

/// Describes an outcome the test reads: `ok` or the error the host returned.
fn outcome<T: std::fmt::Debug>(r: Result<T, Error>) -> Response {
    match r {
        Ok(v) => Response::json(&json!({ "outcome": "ok", "value": format!("{v:?}") })),
        Err(e) => Response::json(&json!({ "outcome": "error", "error": format!("{e:?}") })),
    }
}

/// The `n` of the query, 1 when absent.
fn count(req: &Request) -> u64 {
    req.query("n").and_then(|n| n.parse().ok()).unwrap_or(1)
}

struct Hostile;

impl Plugin for Hostile {
    fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
        match req.path.as_str() {
            "/noop" => Ok(Response::json(&json!({ "ok": true }))),
            "/loop" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "/membomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "/panic" => panic!("hostile plugin panics on purpose"),
            "/write" => {
                let n = req.query("n").unwrap_or("1").parse::<i64>().unwrap_or(1);
                NOTES.insert(&json!({ "n": n }))?;
                events::emit("hostile.wrote", &json!({ "n": n, "fail": req.query("fail") == Some("1") }))?;
                Ok(Response::json(&json!({ "ok": true })))
            }
            "/write-then-panic" => {
                NOTES.insert(&json!({ "n": 666 }))?;
                events::emit("hostile.wrote", &json!({ "n": 666 }))?;
                panic!("after writing");
            }
            "/write-then-loop" => {
                NOTES.insert(&json!({ "n": 667 }))?;
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "/write-then-error" => {
                NOTES.insert(&json!({ "n": 668 }))?;
                events::emit("hostile.wrote", &json!({ "n": 668 }))?;
                Err(Error::invalid("n", "refusing after writing"))
            }
            "/count" => Ok(Response::json(
                &json!({ "count": NOTES.query().all_orgs().count().or_else(|_| NOTES.query().count())? }),
            )),
            "/undeclared-collection" => Ok(outcome(Collection::new("deals").get::<Value>("x"))),
            "/cross-org" => Ok(outcome(NOTES.query().all_orgs().fetch::<Value>().map(|p| p.records.len()))),
            "/outbound" => Ok(outcome(http::send(&http::Request {
                method: "GET".into(),
                url: "https://example.com/".into(),
                headers: vec![],
                body: vec![],
            }))),
            "/secret" => Ok(outcome(secrets::get("stripe_key"))),
            "/set-tier" => Ok(outcome(directory::set_tier(
                &ctx.caller().map(|c| c.org_id.clone()).unwrap_or_default(),
                "reseller",
                "gold",
            ))),
            "/logo" => Ok(outcome(
                directory::get_org_logo(req.query("org").unwrap_or_default())
                    .map(|l| l.map(|(content_type, bytes)| (content_type, bytes.len()))),
            )),
            "/filesystem" => Ok(outcome(std::fs::read_dir("/").map(|d| d.count()).map_err(Error::internal))),
            "/environment" => {
                Ok(Response::json(&json!({ "vars": std::env::vars().count(), "args": std::env::args().count() })))
            }
            "/extension" => Ok(outcome(
                portico_sdk::extensions::call("upper", req.query("op").unwrap_or("uppercase"), b"hello partners")
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
            )),
            "/notify" => {
                let me = ctx.caller().map(|c| c.user_id.clone()).unwrap_or_default();
                Ok(outcome(portico_sdk::notify::send(&portico_sdk::notify::Notification {
                    audience: portico_sdk::notify::Audience::User(me),
                    title: "Your deal was approved".into(),
                    body: "Globex, 40,000 USD".into(),
                    link: Some("/p/hostile/noop".into()),
                    email: true,
                })))
            }
            "/insert" => {
                let data: Value = serde_json::from_slice(&req.body).map_err(Error::internal)?;
                Ok(outcome(NOTES.insert(&data).map(|r| r.id)))
            }
            "/query" => Ok(outcome(
                NOTES.query().eq("n", req.query("n").unwrap_or_default()).fetch::<Value>().map(|p| p.records.len()),
            )),
            "/big-output" => Ok(Response::json(&json!({ "blob": "x".repeat(1 << 20) }))),
            "/render" if !req.api => {
                let t = req.query("t").unwrap_or("env");
                Ok(Response::page(&format!("{t}.html"), "Render", &json!({ "blob": "x".repeat(2048) })))
            }
            "/events" => {
                let n = count(&req);
                for i in 0..n {
                    events::emit("hostile.flood", &json!({ "i": i }))?;
                }
                Ok(Response::json(&json!({ "emitted": n })))
            }
            "/writes" => {
                let n = count(&req);
                for i in 0..n {
                    NOTES.insert(&json!({ "n": i }))?;
                }
                Ok(Response::json(&json!({ "written": n })))
            }
            "/notify-many" => {
                let me = ctx.caller().map(|c| c.user_id.clone()).unwrap_or_default();
                for _ in 0..count(&req) {
                    portico_sdk::notify::send(&portico_sdk::notify::Notification {
                        audience: portico_sdk::notify::Audience::User(me.clone()),
                        title: "Flood".into(),
                        body: "flood".into(),
                        link: None,
                        email: true,
                    })?;
                }
                Ok(Response::json(&json!({ "ok": true })))
            }
            "/blobs" => {
                let size = req.query("kib").and_then(|k| k.parse::<usize>().ok()).unwrap_or(1) << 10;
                let mut keys = Vec::new();
                for i in 0..count(&req) {
                    keys.push(blobs::put(&format!("f{i}.bin"), "application/octet-stream", &vec![7u8; size])?);
                }
                match req.query("then") {
                    Some("fail") => Err(Error::invalid("then", "failing after storing files")),
                    Some("panic") => panic!("after storing files"),
                    Some("delete") => {
                        for k in &keys {
                            blobs::delete(k)?;
                        }
                        Ok(Response::json(&json!({ "keys": keys })))
                    }
                    _ => Ok(Response::json(&json!({ "keys": keys }))),
                }
            }
            "/blob-delete" => Ok(outcome(blobs::delete(req.query("key").unwrap_or_default()))),
            "/fetch" => {
                let r = http::send(&http::Request {
                    method: "GET".into(),
                    url: req.query("url").unwrap_or_default().to_string(),
                    headers: vec![],
                    body: vec![],
                });
                Ok(match r {
                    Ok(res) => Response::json(&json!({ "outcome": "ok", "status": res.status, "bytes": res.body.len(),
                                                       "body": String::from_utf8_lossy(&res.body[..res.body.len().min(200)]) })),
                    Err(e) => Response::json(&json!({ "outcome": "error", "error": format!("{e:?}") })),
                })
            }
            "/log" => {
                log::info(req.query("msg").unwrap_or_default());
                Ok(Response::json(&json!({ "ok": true })))
            }
            _ => Err(Error::NotFound("no such hostility".into())),
        }
    }

    /// Records each event once (by its id, so redeliveries are harmless); fails while the payload says so.
    fn on_event(_ctx: &Context, event: Event) -> Result<(), Error> {
        if event.payload.contains("\"fail\":true") {
            return Err(Error::Unavailable("failing on purpose".into()));
        }
        match NOTES.insert_with(Some(&event.id), None, &json!({ "n": 1, "topic": event.topic })) {
            Ok(_) | Err(Error::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `spin` never finishes (until its deadline traps it); any other widget fails.
    fn render_widget(_ctx: &Context, widget: &str) -> Result<View, Error> {
        if widget == "spin" {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Err(Error::internal(format!("widget {widget} fails on purpose")))
    }

    /// Refuses every upgrade, so the host must keep the installed version.
    fn migrate(_ctx: &Context, from_version: &str) -> Result<(), Error> {
        NOTES.insert(&json!({ "n": 3, "migrated_from": from_version }))?;
        Err(Error::internal(format!("cannot migrate from {from_version}")))
    }

    /// Records each tick it runs.
    fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
        NOTES.insert(&json!({ "n": 2, "schedule": schedule, "at": ctx.now_ms() }))?;
        Ok(())
    }
}

export_plugin!(Hostile);
