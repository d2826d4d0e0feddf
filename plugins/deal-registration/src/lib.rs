//! Deal registration, Portico's reference feature plugin. Partners register opportunities and are protected
//! for them; duplicates are found by the customer's registrable domain, by company name and by country and
//! products; every submission gets a receipt in a hash chain that proves who registered first; managers approve
//! from a queue ordered by SLA, under routing rules set per program. Built only on the WIT API and the SDK.
//!
//! Modules: [`matching`] (domains and names, pure), [`model`] (the stored deal and its validation), [`rules`]
//! (settings, approval routing, protection windows), [`receipts`] (the hash chain), [`workflow`] (transitions,
//! conflicts, protection, notifications, events, the schedule), [`channel`] (the channel dashboard's figures, the
//! partner's timeline and next steps) and `web` (pages and the JSON API).

pub mod channel;
pub mod matching;
pub mod model;
pub mod receipts;
pub mod rules;
pub mod workflow;

mod web;

mod plugin {
    use std::collections::BTreeMap;

    use portico_sdk::prelude::*;
    use portico_sdk::settings;
    use portico_sdk::storage::Direction;

    use crate::model::{Deal, Status};
    use crate::rules::Settings;
    use crate::workflow::{self, Actor, DEALS, group_thousands};

    struct DealRegistration;

    impl Plugin for DealRegistration {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            let s: Settings = settings::get()?;
            let actor = Actor::of(ctx)?;
            if req.api {
                crate::web::api_route(ctx, &actor, &req, &s)
            } else {
                crate::web::page_route(ctx, &actor, &req, &s)
            }
        }

        fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
            match event.topic.as_str() {
                "crm.deal.changed" => {
                    let payload: portico_sdk::Value = portico_sdk::events::payload(&event)?;
                    workflow::apply_crm_change(ctx, &event.source, &payload)
                }
                "crm.deal.import" => {
                    let payload: portico_sdk::Value = portico_sdk::events::payload(&event)?;
                    workflow::import_from_crm(ctx, &event.source, &payload, &settings::get::<Settings>()?)
                }
                _ => Ok(()),
            }
        }

        fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
            match schedule {
                "housekeeping" => workflow::housekeeping(ctx),
                other => Err(Error::NotFound(format!("no schedule {other}"))),
            }
        }

        fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
            let actor = Actor::of(ctx)?;
            let context = match widget {
                "pipeline" => pipeline(&actor)?,
                "approvals" => approvals(ctx, &settings::get::<Settings>()?)?,
                other => return Err(Error::NotFound(format!("no widget {other}"))),
            };
            Ok(View {
                template: format!("widget_{widget}.html"),
                title: if widget == "pipeline" { "Deal pipeline" } else { "Pending deal approvals" }.into(),
                context: context.to_string(),
                status: 200,
            })
        }

        fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
            crate::channel::next_steps(ctx)
        }

        fn render_card(_ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
            match card {
                "deals" => Ok(View {
                    template: "card_deals.html".into(),
                    title: "Deal registrations".into(),
                    context: partner_card(org_id)?.to_string(),
                    status: 200,
                }),
                other => Err(Error::NotFound(format!("no card {other}"))),
            }
        }
    }

    /// A partner's deal registrations at a glance, for vendor staff's page of that partner.
    fn partner_card(org_id: &str) -> Result<portico_sdk::Value, Error> {
        let shown = [Status::Submitted, Status::Approved, Status::Won, Status::Lost, Status::Expired];
        let mut counts = Vec::new();
        for st in shown {
            let n = DEALS.query().org(org_id).eq("status", st.key()).count()?;
            counts.push(json!({ "key": st.key(), "label": st.label(), "count": n }));
        }
        let recent = DEALS.query().org(org_id).order_by("created_at", Direction::Desc).limit(5).fetch::<Deal>()?;
        let rows: Vec<_> = recent
            .records
            .iter()
            .map(|r| {
                let d = &r.data;
                json!({ "id": r.id, "customer": d.input.customer_name, "status": d.status.key(),
                        "status_label": d.status.label(), "amount": d.input.amount.map(group_thousands),
                        "currency": d.input.currency })
            })
            .collect();
        Ok(json!({ "counts": counts, "recent": rows, "base": "/p/deal-registration" }))
    }

    /// Counts by status, and amounts per currency for the statuses that carry pipeline value.
    fn pipeline(actor: &Actor) -> Result<portico_sdk::Value, Error> {
        let shown = [Status::Draft, Status::Submitted, Status::Returned, Status::Approved, Status::Won, Status::Lost];
        let mut bars = Vec::new();
        for st in shown {
            let mut q = DEALS.query().eq("status", st.key());
            if actor.is_vendor() {
                q = q.all_orgs();
            }
            let n = q.clone().count()?;
            let mut amounts: BTreeMap<String, f64> = BTreeMap::new();
            let mut partial = false;
            if matches!(st, Status::Submitted | Status::Approved | Status::Won) && n > 0 {
                let page = q.limit(1000).fetch::<Deal>()?;
                partial = page.next_cursor.is_some();
                for r in page.records {
                    *amounts.entry(r.data.input.currency.clone()).or_default() +=
                        r.data.input.amount.unwrap_or_default();
                }
            }
            let amount =
                amounts.iter().map(|(c, a)| format!("{} {c}", group_thousands(*a))).collect::<Vec<_>>().join(" · ");
            bars.push((st, n, amount, partial));
        }
        let bars: Vec<_> = bars
            .into_iter()
            .map(|(st, n, amount, partial)| {
                json!({ "key": st.key(), "label": st.label(), "count": n, "amount": amount, "partial": partial })
            })
            .collect();
        let labels: Vec<_> = bars.iter().map(|b| b["label"].clone()).collect();
        let counts: Vec<_> = bars.iter().map(|b| b["count"].clone()).collect();
        Ok(json!({ "bars": bars, "labels": labels, "counts": counts, "base": "/p/deal-registration" }))
    }

    fn approvals(ctx: &Context, s: &Settings) -> Result<portico_sdk::Value, Error> {
        let now = ctx.now_ms();
        let q = DEALS.query().all_orgs().eq("status", "submitted");
        let total = q.clone().count()?;
        let page = q.order_by("due_at", Direction::Asc).limit(5).fetch::<Deal>()?;
        let mut rows = Vec::new();
        for mut r in page.records {
            workflow::current_conflicts(&mut r, s.similarity_threshold, now)?;
            let d = &r.data;
            let overdue = d.due_at.is_some_and(|at| at < now);
            rows.push(json!({ "id": r.id, "customer_name": d.input.customer_name, "org_name": d.org_name,
                              "due_at": d.due_at, "overdue": overdue, "conflicts": d.conflicts.len() }));
        }
        Ok(json!({ "rows": rows, "total": total, "base": "/p/deal-registration" }))
    }

    portico_sdk::export_plugin!(DealRegistration);
}
