//! What tiers and incentives tell the channel dashboard: the figures of the manifest's `[[metrics]]` (rewards
//! accrued, net of clawbacks, and payouts), counted in the call that writes them so they commit with it; statements
//! paid on the partner organisation's timeline; and the tier changes awaiting vendor staff's decision.

use std::collections::BTreeMap;

use portico_sdk::storage::{Direction, Record};
use portico_sdk::{Context, Error, NextStep, analytics, directory};

use crate::rewards::Statement;
use crate::tiers::{PROPOSALS, Proposal};

/// The organisation if it is a partner's (a deal the vendor registered for itself is the vendor's: its rewards,
/// if a campaign pays any, count in the tenant's total only).
fn partner(org_id: &str) -> Result<Option<&str>, Error> {
    if org_id.is_empty() {
        return Ok(None);
    }
    Ok(directory::get_org(org_id)?.filter(|o| !o.is_vendor).map(|_| org_id))
}

/// Rewards accrued for a partner (a rebate or a SPIFF), or taken back (a clawback, negative), by currency.
pub fn accrued(org_id: &str, amounts: &BTreeMap<String, i64>) -> Result<(), Error> {
    let org = partner(org_id)?;
    for (currency, amount) in amounts.iter().filter(|(_, a)| **a != 0) {
        analytics::amount("rebates", org, *amount, currency)?;
    }
    Ok(())
}

/// A statement paid: its totals as payouts, and a line on the partner's timeline.
pub fn statement_paid(st: &Record<Statement>) -> Result<(), Error> {
    let d = &st.data;
    let org = partner(&d.org_id)?;
    for (currency, amount) in d.totals.iter().filter(|(_, a)| **a != 0) {
        analytics::amount("payouts", org, *amount, currency)?;
    }
    let Some(org) = org else { return Ok(()) };
    let totals: Vec<String> = d.totals.iter().map(|(c, a)| portico_money::format(*a, c)).collect();
    analytics::timeline(
        org,
        &format!("Rewards statement for {} paid: {}", d.period, totals.join(" + ")),
        Some("/p/incentives/statements"),
    )
}

/// What vendor staff should do next: the tier changes the figures proposed, oldest first. Partners: nothing.
pub fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
    if !ctx.is_vendor_staff() {
        return Ok(Vec::new());
    }
    let pending = PROPOSALS
        .query()
        .all_orgs()
        .eq("status", "pending")
        .order_by("created_at", Direction::Asc)
        .limit(5)
        .fetch::<Proposal>()?
        .records;
    Ok(pending
        .into_iter()
        .map(|r| {
            let p = &r.data;
            let verb = if p.kind == "promotion" { "promotion" } else { "demotion" };
            NextStep {
                title: format!("Decide on {}'s {verb} to {}", p.org_name, p.to_name),
                detail: format!("{} → {}: {}", p.from_name, p.to_name, p.reason).chars().take(300).collect(),
                link: format!("/p/incentives/?program={}", p.program),
                due_ms: None,
                urgent: false,
            }
        })
        .collect())
}
