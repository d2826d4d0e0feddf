//! Market development funds (issue 25): budgets per period and program, allocated to partners or pooled per tier
//! with per-partner caps; requests through one or two approvals; claims with proof and invoice, paid in one or more
//! payments; a ledger of every movement of money whose running totals a check recomputes; ROI from the deals each
//! activity brought. Built only on the WIT API and the SDK.
//!
//! - [`money`] (the `portico-money` crate, shared with incentives), [`ledger`]: amounts in minor units and the
//!   ledger's arithmetic, free of the host and tested natively;
//! - [`funds`]: budgets, requests, claims and the ledger's entries;
//! - [`roi`]: deals linked to activities;
//! - [`channel`]: the channel dashboard's figures, the partner's timeline and what the caller should do next;
//! - `web`: pages, widgets, the card and the JSON API.

pub mod channel;
pub mod funds;
pub mod ledger;
pub use portico_money as money;
pub mod roi;

pub(crate) mod web;

mod plugin {
    use portico_sdk::prelude::*;

    use crate::funds::Actor;

    struct Mdf;

    impl Plugin for Mdf {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            let actor = Actor::of(ctx)?;
            if req.api { crate::web::api(ctx, &actor, &req) } else { crate::web::page(ctx, &actor, &req) }
        }

        fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
            if event.topic == crate::funds::CANCELLED_TOPIC {
                let payload: portico_sdk::Value = portico_sdk::events::payload(&event)?;
                let id =
                    payload["request_id"].as_str().ok_or_else(|| Error::internal("an event without its request"))?;
                return crate::funds::release_cancelled(ctx, id);
            }
            if event.topic.starts_with("deal.") { crate::roi::on_deal(ctx, &event) } else { Ok(()) }
        }

        fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
            match schedule {
                "expiry" => crate::funds::expire(ctx),
                other => Err(Error::NotFound(format!("no schedule {other}"))),
            }
        }

        fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
            crate::web::widget(ctx, &Actor::of(ctx)?, widget)
        }

        fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
            crate::channel::next_steps(ctx)
        }

        fn render_card(ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
            if card != "mdf" {
                return Err(Error::NotFound(format!("no card {card}")));
            }
            crate::web::card(ctx, org_id)
        }
    }

    portico_sdk::export_plugin!(Mdf);
}
