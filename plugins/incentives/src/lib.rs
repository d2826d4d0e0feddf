//! Tiers and incentives (issue 26): partners' standing against each tier's criteria over a rolling period,
//! promotions and demotions a channel manager approves (or the program makes at once) with a grace period before a
//! demotion, rebates and SPIFFs accrued per won deal and clawed back when a win is reversed, and payout statements.
//! Built only on the WIT API and the SDK, driven by deal registration's and training's events.
//!
//! - [`model`]: criteria, figures over the rolling window and the tier they qualify for, free of the host;
//! - [`facts`]: what partners did, counted as events arrive;
//! - [`tiers`]: standing, recalculation and tier changes through the directory;
//! - [`rewards`]: SPIFF campaigns, the accrual ledger, clawbacks and payout statements;
//! - [`channel`]: the channel dashboard's figures, statements on the partner's timeline, tier changes to decide;
//! - `web`: pages, the widget, the card and the JSON API.

pub mod channel;
pub mod facts;
pub mod model;
pub mod rewards;
pub mod tiers;

pub(crate) mod web;

mod plugin {
    use portico_sdk::prelude::*;

    struct Incentives;

    impl Plugin for Incentives {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            let actor = crate::web::Actor::of(ctx)?;
            if req.api { crate::web::api(ctx, &actor, &req) } else { crate::web::page(ctx, &actor, &req) }
        }

        fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
            match event.topic.as_str() {
                crate::tiers::RECALC_TOPIC => crate::tiers::on_recalc_chunk(ctx, &event),
                "lms.certification.earned" | "lms.certification.expired" => crate::facts::on_certification(ctx, &event),
                t if t.starts_with("deal.") => crate::facts::on_deal(ctx, &event),
                _ => Ok(()),
            }
        }

        fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
            match schedule {
                "recalculate" => crate::tiers::daily(ctx),
                other => Err(Error::NotFound(format!("no schedule {other}"))),
            }
        }

        fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
            crate::web::widget(ctx, &crate::web::Actor::of(ctx)?, widget)
        }

        fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
            crate::channel::next_steps(ctx)
        }

        fn render_card(ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
            if card != "incentives" {
                return Err(Error::NotFound(format!("no card {card}")));
            }
            crate::web::card(ctx, org_id)
        }
    }

    portico_sdk::export_plugin!(Incentives);
}
