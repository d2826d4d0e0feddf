//! __PLUGIN_TITLE__: a Portico plugin. `portico plugin build` compiles and packages it, `portico plugin dev`
//! serves it in a throwaway portal, `portico plugin test` runs `tests/scenario.toml`; `cargo test` runs the
//! unit tests natively.

mod notes;

use portico_sdk::prelude::*;
use portico_sdk::settings;
use portico_sdk::storage::{Collection, Direction, Record};
use serde::{Deserialize, Serialize};

const NOTES: Collection = Collection::new("notes");
const PAGE: &str = "/p/__PLUGIN_ID__/";

/// A note as it is stored.
#[derive(Debug, Serialize, Deserialize)]
struct Note {
    text: String,
    author: String,
    author_id: String,
    created_ms: i64,
}

/// A note as pages and the JSON API show it.
#[derive(Debug, Serialize)]
struct Shown {
    id: String,
    text: String,
    author: String,
    created_ms: i64,
}

impl From<Record<Note>> for Shown {
    fn from(r: Record<Note>) -> Self {
        Shown { id: r.id, text: r.data.text, author: r.data.author, created_ms: r.data.created_ms }
    }
}

#[derive(Deserialize)]
struct Settings {
    greeting: String,
}

#[derive(Deserialize)]
struct NewNote {
    #[serde(default)]
    text: String,
}

/// The 20 latest notes the caller may see (a partner sees their own organisation's), newest first.
fn latest() -> Result<Vec<Shown>, Error> {
    let page = NOTES.query().order_by("created_ms", Direction::Desc).limit(20).fetch::<Note>()?;
    Ok(page.records.into_iter().map(Shown::from).collect())
}

/// Stores a note by the caller.
fn add(ctx: &Context, text: String) -> Result<Shown, Error> {
    let caller = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
    let note = Note { text, author: caller.name.clone(), author_id: caller.user_id.clone(), created_ms: ctx.now_ms() };
    Ok(NOTES.insert(&note)?.into())
}

fn page(text: &str, error: Option<&str>) -> Result<Response, Error> {
    let s: Settings = settings::get()?;
    let context = json!({ "greeting": s.greeting, "notes": latest()?, "text": text, "error": error });
    let mut response = Response::page("index.html", "__PLUGIN_TITLE__", &context);
    if let (Response::Page(view), Some(_)) = (&mut response, error) {
        view.status = 422;
    }
    Ok(response)
}

struct Plugin;

impl portico_sdk::Plugin for Plugin {
    fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
        match (req.method.as_str(), req.path.as_str(), req.api) {
            ("GET", "/", false) => page("", None),
            ("POST", "/", false) => {
                let text = req.field("text").unwrap_or("");
                match notes::check_text(text) {
                    Ok(text) => {
                        add(ctx, text)?;
                        Ok(Response::redirect(PAGE))
                    }
                    Err(problem) => page(text, Some(&problem)),
                }
            }
            ("GET", "/notes", true) => Ok(Response::json(&json!({ "notes": latest()? }))),
            ("POST", "/notes", true) => {
                let text = req.json::<NewNote>().map(|n| n.text).unwrap_or_default();
                let text = notes::check_text(&text).map_err(|problem| Error::invalid("text", problem))?;
                Ok(Response::json_status(201, &add(ctx, text)?))
            }
            _ => Err(Error::NotFound("no such page".into())),
        }
    }
}

export_plugin!(Plugin);
