//! Gamification (issue 26): points for what partner users do — deals registered, approved and won, courses
//! completed, certifications earned, content downloaded, days active — by the program's rules with daily caps;
//! badges for counts and points, once or repeatedly; leaderboards by month, quarter and all time within a partner
//! company and across partners, where a company is named only if its admin opted in. Built only on the WIT API and
//! the SDK.
//!
//! - [`rules`]: the settings' rules, caps and badge catalogue, and the periods, free of the host and tested natively;
//! - [`scores`]: awards (once per event), scores by period, badges earned, the boards;
//! - `web`: pages, the widget, the partner card and the JSON API.

pub mod rules;
pub mod scores;

pub(crate) mod web;

mod plugin {
    use portico_sdk::prelude::*;

    use crate::web::Viewer;

    struct Gamification;

    impl Plugin for Gamification {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            let viewer = Viewer::of(ctx)?;
            if req.api { crate::web::api(ctx, &viewer, &req) } else { crate::web::page(ctx, &viewer, &req) }
        }

        fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
            crate::scores::on_event(ctx, &event)
        }

        fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
            crate::web::widget(ctx, &Viewer::of(ctx)?, widget)
        }

        fn render_card(ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
            if card != "points" {
                return Err(Error::NotFound(format!("no card {card}")));
            }
            crate::web::card(ctx, org_id)
        }
    }

    portico_sdk::export_plugin!(Gamification);
}
