//! Content library (issue 24): folders and tags of uploaded files and links, versions that can be restored, access
//! by program, tier and role with publish and expiry dates, search across titles, descriptions, tags and the text
//! of uploaded documents, and engagement (every view and download) with analytics. Built only on the WIT API and
//! the SDK.
//!
//! - [`library`], [`extract`], [`thumbnail`]: the rules, the text extraction and image thumbnails, free of the host
//!   and tested natively;
//! - [`content`]: the records and what happens to them;
//! - `web`: pages and the JSON API.

pub mod content;
pub mod extract;
pub mod library;
pub mod thumbnail;

mod web;

mod plugin {
    use portico_sdk::prelude::*;

    use crate::content::{self, Actor};

    struct Content;

    impl Plugin for Content {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            let actor = Actor::of(ctx)?;
            if req.api { crate::web::api(ctx, &actor, &req) } else { crate::web::page(ctx, &actor, &req) }
        }

        fn on_event(_ctx: &Context, event: Event) -> Result<(), Error> {
            let payload: portico_sdk::Value = portico_sdk::events::payload(&event)?;
            content::count(&event.topic, &payload)
        }

        fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
            match schedule {
                "dates" => content::dates(ctx),
                other => Err(Error::NotFound(format!("no schedule {other}"))),
            }
        }

        fn render_card(ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
            if card != "content" {
                return Err(Error::NotFound(format!("no card {card}")));
            }
            crate::web::card(ctx, org_id)
        }
    }

    portico_sdk::export_plugin!(Content);
}
