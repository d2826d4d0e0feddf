//! The SDK's example plugin: a guestbook. Partners sign it (their notes stay within their organisation);
//! vendor staff read every note on a page and in a dashboard widget. It shows pages with forms, typed storage
//! with an index, settings, an event, a JSON route, and a region the host's behaviour script refreshes (the notes
//! list polls `/latest`, a fragment, with `data-pt-get`: no plugin JavaScript).

use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Direction};
use portico_sdk::{events, settings};
use serde::{Deserialize, Serialize};

const ENTRIES: Collection = Collection::new("entries");

/// A note in the guestbook.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub note: String,
    pub author: String,
    pub author_id: String,
    pub org: String,
    pub created_ms: i64,
}

#[derive(Deserialize)]
struct Settings {
    greeting: String,
    max_length: usize,
}

/// Checks a note against the configured length; plain logic that `cargo test` runs natively.
pub fn check_note(note: &str, max_length: usize) -> Result<String, String> {
    let note = note.trim();
    if note.is_empty() {
        return Err("write something first".into());
    }
    if note.chars().count() > max_length {
        return Err(format!("keep it under {max_length} characters"));
    }
    Ok(note.to_string())
}

fn latest(limit: u32) -> Result<Vec<Entry>, Error> {
    let page = ENTRIES.query().order_by("created_ms", Direction::Desc).limit(limit).fetch::<Entry>()?;
    Ok(page.records.into_iter().map(|r| r.data).collect())
}

struct Guestbook;

impl Plugin for Guestbook {
    fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
        let s: Settings = settings::get()?;
        match (req.method.as_str(), req.path.as_str(), req.api) {
            ("GET", "/entries", true) => Ok(Response::json(&json!({ "entries": latest(100)? }))),
            // The notes list alone: the page's list refreshes itself from here every 15 seconds.
            ("GET", "/latest", false) => Ok(Response::page("latest.html", "Notes", &json!({ "entries": latest(50)? }))),
            ("GET", "/", false) => Ok(Response::page(
                "index.html",
                "Guestbook",
                &json!({ "greeting": s.greeting, "max_length": s.max_length, "entries": latest(50)?, "note": "" }),
            )),
            ("POST", "/", false) => {
                let caller = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
                match check_note(req.field("note").unwrap_or(""), s.max_length) {
                    Ok(note) => {
                        let entry = Entry {
                            note,
                            author: caller.name.clone(),
                            author_id: caller.user_id.clone(),
                            org: caller.org_name.clone(),
                            created_ms: ctx.now_ms(),
                        };
                        ENTRIES.insert(&entry)?;
                        events::emit("guestbook.signed", &entry)?;
                        Ok(Response::redirect("/p/guestbook/"))
                    }
                    Err(message) => {
                        let mut view = Response::page(
                            "index.html",
                            "Guestbook",
                            &json!({ "greeting": s.greeting, "max_length": s.max_length, "entries": latest(50)?,
                                     "note": req.field("note").unwrap_or(""), "error": message }),
                        );
                        if let Response::Page(v) = &mut view {
                            v.status = 422;
                        }
                        Ok(view)
                    }
                }
            }
            _ => Err(Error::NotFound("no such page".into())),
        }
    }

    fn render_widget(_ctx: &Context, widget: &str) -> Result<View, Error> {
        match widget {
            "latest" => Ok(View {
                template: "latest.html".into(),
                title: "Latest guestbook notes".into(),
                context: json!({ "entries": latest(5)? }).to_string(),
                status: 200,
            }),
            other => Err(Error::NotFound(format!("no widget {other}"))),
        }
    }
}

export_plugin!(Guestbook);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_trimmed_and_bounded() {
        assert_eq!(check_note("  hello ", 10), Ok("hello".to_string()));
        assert!(check_note("   ", 10).is_err());
        assert_eq!(check_note("0123456789x", 10), Err("keep it under 10 characters".to_string()));
    }
}
