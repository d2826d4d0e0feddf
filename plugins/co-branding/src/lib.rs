//! Co-branding (issue 24): vendor templates — an uploaded PDF with areas placed on its pages, HTML pages and HTML
//! emails — that each partner fills with its logo, its profile and text of its own within the vendor's limits,
//! made into PDF and HTML inside the plugin; approval of customised versions, batch runs for every partner of a
//! program, signed expiring share links served by a public route, and usage by template and partner. Built only on
//! the WIT API and the SDK.
//!
//! - [`template`], [`html`], [`share`], [`pdf`]: the rules, the HTML and PDF making and the share tokens, free of
//!   the host and tested natively;
//! - [`cobrand`]: the records and what happens to them;
//! - `web`: pages and the JSON API.

pub mod cobrand;
pub mod html;
pub mod pdf;
pub mod share;
pub mod template;

pub(crate) mod web;

mod plugin {
    use portico_sdk::prelude::*;

    use crate::cobrand::{self, Actor};

    struct CoBranding;

    impl Plugin for CoBranding {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            if ctx.caller().is_none() {
                return crate::web::public(ctx, &req);
            }
            let actor = Actor::of(ctx)?;
            if req.api { crate::web::api(ctx, &actor, &req) } else { crate::web::page(ctx, &actor, &req) }
        }

        fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
            if event.topic != cobrand::BATCH_TOPIC {
                return Ok(());
            }
            let payload: portico_sdk::Value = portico_sdk::events::payload(&event)?;
            let id = payload["batch_id"].as_str().ok_or_else(|| Error::internal("a batch event without its id"))?;
            cobrand::run_batch(ctx, id).map(|_| ())
        }

        fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
            crate::cobrand::next_steps(ctx)
        }

        fn render_card(ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
            if card != "co_branding" {
                return Err(Error::NotFound(format!("no card {card}")));
            }
            crate::web::card(ctx, org_id)
        }
    }

    portico_sdk::export_plugin!(CoBranding);
}
