//! What partners did, counted as the events arrive: deal registration's `deal.*` events (approved and won deals,
//! won revenue, and a win reversed), training's certifications, and the custom metrics a manager records. Each
//! event changes the partner's [`Facts`] record in the same transaction as the deal it concerns, and a deal
//! remembers what was counted for it, so a redelivered event changes nothing.

use portico_sdk::Value;
use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Record};
use serde::{Deserialize, Serialize};

use crate::model::{Facts, month_of};

pub const FACTS: Collection = Collection::new("facts");
pub const DEALS: Collection = Collection::new("deals");

/// A deal as the events told of it, with what was counted for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Deal {
    pub org_id: String,
    pub org_name: String,
    pub program: String,
    pub customer: String,
    pub currency: String,
    /// The deal's amount in minor units, as last told.
    pub amount: i64,
    #[serde(default)]
    pub products: Vec<String>,
    /// The month its approval was counted in.
    #[serde(default)]
    pub approved_month: Option<String>,
    /// The month its win was counted in, and the amount counted.
    #[serde(default)]
    pub won_month: Option<String>,
    #[serde(default)]
    pub won_amount: i64,
    #[serde(default)]
    pub won_at: Option<i64>,
    #[serde(default)]
    pub reversed_at: Option<i64>,
}

/// Changes an organisation's facts: read, change, and write at the revision read (a concurrent change fails the
/// event, which the host delivers again).
pub fn change_facts(org_id: &str, f: impl FnOnce(&mut Facts)) -> Result<(), Error> {
    match FACTS.get::<Facts>(org_id)? {
        Some(mut r) => {
            f(&mut r.data);
            FACTS.update(org_id, r.revision, &r.data)?;
        }
        None => {
            let mut facts = Facts { org_id: org_id.to_string(), ..Default::default() };
            f(&mut facts);
            FACTS.insert_with(Some(org_id), Some(org_id), &facts)?;
        }
    }
    Ok(())
}

/// One of deal registration's events: `{"deal": {…}, "transition": {…}}`.
pub fn on_deal(ctx: &Context, event: &Event) -> Result<(), Error> {
    let payload: Value = portico_sdk::events::payload(event)?;
    let d = &payload["deal"];
    let (Some(id), Some(org_id)) = (d["id"].as_str(), d["org_id"].as_str().filter(|o| !o.is_empty())) else {
        return Ok(());
    };
    let program = d["program"].as_str().or(event.program.as_deref()).unwrap_or_default().to_string();
    let currency = portico_money::currency(d["currency"].as_str().unwrap_or_default()).unwrap_or_default();
    let amount = d["amount"].as_f64().and_then(|a| portico_money::from_major(a, &currency)).unwrap_or(0);
    let existing = DEALS.get::<Deal>(id)?;
    let mut deal = existing.as_ref().map(|r| r.data.clone()).unwrap_or_default();
    if deal.won_month.is_none() && deal.reversed_at.is_none() {
        deal.org_id = org_id.to_string();
        deal.org_name = d["org_name"].as_str().unwrap_or_default().to_string();
        deal.program = program.clone();
        deal.customer = d["customer_name"].as_str().unwrap_or_default().to_string();
        deal.currency = currency.clone();
        deal.amount = amount;
        deal.products = d["products"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
    }
    let month = month_of(event.emitted_at);
    let (mut counted, mut reversed, mut changed) = (false, false, true);
    match event.topic.as_str() {
        "deal.approved" if deal.approved_month.is_none() => {
            deal.approved_month = Some(month.clone());
            change_facts(org_id, |f| {
                f.programs.entry(program.clone()).or_default().months.entry(month).or_default().approved += 1
            })?;
        }
        "deal.won" if deal.won_month.is_none() && deal.reversed_at.is_none() => {
            deal.won_month = Some(month.clone());
            deal.won_amount = amount;
            deal.won_at = Some(event.emitted_at);
            change_facts(org_id, |f| {
                let m = f.programs.entry(program.clone()).or_default().months.entry(month).or_default();
                m.won += 1;
                *m.revenue.entry(currency.clone()).or_default() += amount;
            })?;
            counted = true;
        }
        "deal.reversed" if deal.won_month.is_some() => {
            let won_month = deal.won_month.take().unwrap_or_default();
            let won_amount = std::mem::take(&mut deal.won_amount);
            deal.reversed_at = Some(event.emitted_at);
            let cur = deal.currency.clone();
            change_facts(org_id, |f| {
                let m = f.programs.entry(program.clone()).or_default().months.entry(won_month).or_default();
                m.won -= 1;
                *m.revenue.entry(cur).or_default() -= won_amount;
            })?;
            reversed = true;
        }
        _ => changed = false,
    }
    let saved = match existing {
        Some(r) => DEALS.update(id, r.revision, &deal)?,
        None => DEALS.insert_with(Some(id), Some(org_id), &deal)?,
    };
    if counted {
        crate::rewards::accrue(ctx, &saved)?;
    } else if reversed {
        crate::rewards::claw_back(ctx, &saved, payload["transition"]["note"].as_str().unwrap_or_default())?;
    }
    if changed {
        crate::tiers::recalculate_org(ctx, org_id, Some(&program))?;
    }
    Ok(())
}

/// Training's certifications: a person counts as certified while at least one certificate of theirs is in force.
pub fn on_certification(ctx: &Context, event: &Event) -> Result<(), Error> {
    let p: Value = portico_sdk::events::payload(event)?;
    let (Some(user), Some(org), Some(code)) = (p["user_id"].as_str(), p["org_id"].as_str(), p["code"].as_str()) else {
        return Ok(());
    };
    if org.is_empty() {
        return Ok(());
    }
    let earned = event.topic == "lms.certification.earned";
    change_facts(org, |f| {
        let codes = f.certified.entry(user.to_string()).or_default();
        codes.retain(|c| c != code);
        if earned {
            codes.push(code.to_string());
        }
        if codes.is_empty() {
            f.certified.remove(user);
        }
    })?;
    crate::tiers::recalculate_org(ctx, org, None)?;
    Ok(())
}

/// Records a custom metric's value for a partner and month (a manager's figure: replaces what was there).
pub fn record_custom(org_id: &str, program: &str, metric: &str, month: &str, value: i64) -> Result<(), Error> {
    change_facts(org_id, |f| {
        f.programs
            .entry(program.to_string())
            .or_default()
            .custom
            .entry(metric.to_string())
            .or_default()
            .insert(month.to_string(), value);
    })
}

/// The facts of one organisation.
pub fn of(org_id: &str) -> Result<Option<Record<Facts>>, Error> {
    FACTS.get::<Facts>(org_id)
}
