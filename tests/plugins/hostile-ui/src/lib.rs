//! A plugin whose markup, files and answers try every way there is to run script on the portal's origin, take a
//! form token to the host's routes, or send something out of the page. The containment tests open its pages as
//! the vendor admin and check that nothing of it ran: it records a "hit" whenever anything reaches its beacon,
//! which only a script (or a rogue request) could do.

use portico_sdk::prelude::*;
use portico_sdk::storage::Collection;

const HITS: Collection = Collection::new("hits");

struct HostileUi;

fn hit(from: &str) -> Result<(), Error> {
    HITS.insert(&json!({ "from": from }))?;
    Ok(())
}

impl Plugin for HostileUi {
    fn handle(_ctx: &Context, req: Request) -> Result<Response, Error> {
        match (req.api, req.method.as_str(), req.path.as_str()) {
            (false, "GET", "/") => Ok(Response::page(
                "index.html",
                "Hostile <script>alert('title')</script>",
                &json!({
                    "payload": "<script>alert('context')</script>",
                    "link": "javascript:alert('link')",
                }),
            )),
            (false, "GET", "/frame") => Ok(Response::page("frame.html", "Hostile frame", &json!({}))),
            (false, "GET", "/fragment") => Ok(Response::page("fragment.html", "Fragment", &json!({}))),
            (false, "POST", "/note") => Ok(Response::redirect("/p/hostile-ui/?noted=1")),
            // Anything that reaches this was sent by a script or by a page the user did not mean to submit.
            (_, _, "/beacon") => {
                hit(req.query("from").unwrap_or("unknown"))?;
                Ok(Response::json(&json!({ "ok": true })))
            }
            // What the frame may legitimately do, through the bridge.
            (true, "POST", "/frame-ping") => {
                hit("frame-ping")?;
                Ok(Response::json(&json!({ "pong": true })))
            }
            (true, "GET", "/hits") => {
                let page = HITS.query().all_orgs().limit(100).fetch::<serde_json::Value>()?;
                let from: Vec<serde_json::Value> = page.records.into_iter().map(|r| r.data["from"].clone()).collect();
                Ok(Response::json(&json!({ "hits": from })))
            }
            (_, "GET", "/file") => {
                let kind = req.query("kind").unwrap_or("html");
                let (content_type, body) = match kind {
                    "html" => ("text/html", "<script>fetch('/api/v1/p/hostile-ui/beacon?from=file')</script>"),
                    "svg" => ("image/svg+xml", "<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
                    "js" => ("text/javascript", "fetch('/api/v1/p/hostile-ui/beacon?from=js')"),
                    "xml" => ("application/xml", "<x/>"),
                    "csv" => ("text/csv", "a,b\n1,2\n"),
                    "png" => ("image/png", "\u{89}PNG\r\n\u{1a}\n"),
                    _ => ("application/x-unknown", "?"),
                };
                Ok(Response::File {
                    content_type: content_type.into(),
                    filename: req.query("name").unwrap_or("report.html").into(),
                    body: body.as_bytes().to_vec(),
                })
            }
            (_, "GET", "/redirect") => Ok(Response::redirect(req.query("to").unwrap_or("/"))),
            (true, "GET", "/status") => {
                let code = req.query("code").and_then(|c| c.parse().ok()).unwrap_or(200);
                Ok(Response::Json(code, "{}".into()))
            }
            _ => Err(Error::NotFound("no such page".into())),
        }
    }

    fn render_widget(_ctx: &Context, _widget: &str) -> Result<View, Error> {
        Ok(View { template: "widget.html".into(), title: "ignored".into(), context: "{}".into(), status: 200 })
    }
}

export_plugin!(HostileUi);
