//! Return on the funds: the deals each activity brought. Deal registration's events (`deal.submitted`,
//! `deal.approved`, `deal.updated`, `deal.won`, `deal.lost`) keep one record per deal; a deal registered while one
//! of its partner's funded activities ran (or in the 90 days after it) is linked to that activity, and staff or the
//! partner may link or unlink a deal by hand, which the events then respect. Pipeline (deals submitted or approved)
//! and won revenue are summed per currency, never across currencies.

use std::collections::BTreeMap;

use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Record};
use portico_sdk::{Event, Value};
use serde::{Deserialize, Serialize};

use crate::funds::{self, Actor, DAY_MS, REQUESTS, Request, Status};
use crate::money;

pub const DEALS: Collection = Collection::new("deals");

/// How long after an activity a deal registered still counts as its result.
pub const ATTRIBUTION_DAYS: i64 = 90;

/// A deal as its events told of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Deal {
    pub customer: String,
    pub org_name: String,
    /// In minor units of `currency`; none when the deal has no amount.
    pub amount: Option<i64>,
    pub currency: String,
    /// Deal registration's status: `submitted`, `approved`, `won`, `lost`, …
    pub status: String,
    pub registered_at: i64,
    pub request_id: Option<String>,
    /// Linked or unlinked by a person (the events then leave the link alone).
    pub by_hand: bool,
    pub linked_by: String,
}

impl Deal {
    pub fn open(&self) -> bool {
        matches!(self.status.as_str(), "submitted" | "approved")
    }

    /// Counts the deal's amount into the pipeline (while open) or the won revenue.
    pub fn count_in(&self, pipeline: &mut Sums, won: &mut Sums) {
        let Some(a) = self.amount else { return };
        if self.open() {
            pipeline.add(&self.currency, a);
        } else if self.status == "won" {
            won.add(&self.currency, a);
        }
    }
}

fn iso_ms(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok().map(|d| d.timestamp_millis())
}

/// Applies a deal event: the record made or brought up to date, and linked to the partner's activity if it has
/// none and nobody chose otherwise.
pub fn on_deal(ctx: &Context, event: &Event) -> Result<(), Error> {
    let payload: Value = portico_sdk::events::payload(event)?;
    let d = &payload["deal"];
    let (Some(id), Some(org_id)) = (d["id"].as_str(), d["org_id"].as_str()) else {
        return Ok(());
    };
    let currency = money::currency(d["currency"].as_str().unwrap_or_default()).unwrap_or_else(|| "USD".into());
    // The deal's amount is a decimal number; written with the currency's decimals it parses to minor units exactly.
    let amount = d["amount"]
        .as_f64()
        .filter(|a| a.is_finite() && *a >= 0.0)
        .and_then(|a| money::parse(&format!("{a:.*}", money::decimals(&currency) as usize), &currency).ok());
    let registered_at = iso_ms(&d["registered_at"]).or_else(|| iso_ms(&d["created_at"])).unwrap_or(ctx.now_ms());
    let existing = DEALS.get::<Deal>(id)?;
    let mut deal = existing.as_ref().map(|r| r.data.clone()).unwrap_or_default();
    deal.customer = d["customer_name"].as_str().unwrap_or_default().into();
    deal.org_name = d["org_name"].as_str().unwrap_or_default().into();
    deal.amount = amount;
    deal.currency = currency;
    deal.status = d["status"].as_str().unwrap_or_default().into();
    deal.registered_at = registered_at;
    if deal.request_id.is_none() && !deal.by_hand {
        deal.request_id = activity_for(org_id, registered_at)?.map(|r| r.id);
        if deal.request_id.is_some() {
            deal.linked_by = "automatically, by date".into();
        }
    }
    match existing {
        Some(r) => {
            DEALS.update(id, r.revision, &deal)?;
        }
        None => {
            DEALS.insert_with(Some(id), Some(org_id), &deal)?;
        }
    }
    Ok(())
}

/// The partner's funded activity a deal registered at `at` belongs to: the latest to start of those running then
/// or ended less than [`ATTRIBUTION_DAYS`] before.
fn activity_for(org_id: &str, at: i64) -> Result<Option<Record<Request>>, Error> {
    let list = REQUESTS.query().org(org_id).limit(500).fetch::<Request>()?.records;
    Ok(list
        .into_iter()
        .filter(|r| matches!(r.data.status, Status::Approved | Status::Closed))
        .filter(|r| r.data.starts_at <= at && at <= r.data.ends_at + ATTRIBUTION_DAYS * DAY_MS)
        .max_by_key(|r| r.data.starts_at))
}

/// On an activity's approval: the partner's deals registered in its window and not yet linked (nor unlinked by a
/// person) become its results.
pub fn attach(r: &Record<Request>) -> Result<usize, Error> {
    let Some(org) = r.org_id.as_deref() else { return Ok(0) };
    let (from, to) = (r.data.starts_at, r.data.ends_at + ATTRIBUTION_DAYS * DAY_MS);
    let mut n = 0;
    for d in DEALS.query().org(org).limit(500).fetch::<Deal>()?.records {
        if d.data.request_id.is_none() && !d.data.by_hand && (from..=to).contains(&d.data.registered_at) {
            let mut data = d.data.clone();
            data.request_id = Some(r.id.clone());
            data.linked_by = "automatically, by date".into();
            DEALS.update(&d.id, d.revision, &data)?;
            n += 1;
        }
    }
    Ok(n)
}

/// The deals linked to a request.
pub fn linked(request_id: &str) -> Result<Vec<Record<Deal>>, Error> {
    Ok(DEALS.query().all_orgs().eq("request_id", request_id).limit(500).fetch::<Deal>()?.records)
}

/// The partner's deals not linked to any activity (to link by hand).
pub fn unlinked(org_id: &str) -> Result<Vec<Record<Deal>>, Error> {
    let mut v: Vec<_> = DEALS
        .query()
        .org(org_id)
        .limit(500)
        .fetch::<Deal>()?
        .records
        .into_iter()
        .filter(|d| d.data.request_id.is_none())
        .collect();
    v.sort_by_key(|d| std::cmp::Reverse(d.data.registered_at));
    Ok(v)
}

/// Links (or, with `link` false, unlinks) a deal to a request, by hand: both of the same partner, which the actor
/// may see.
pub fn link(actor: &Actor, request_id: &str, deal_id: &str, link: bool) -> Result<Record<Deal>, Error> {
    let r = funds::request(actor, request_id)?;
    let d = DEALS
        .get::<Deal>(deal_id)?
        .filter(|d| d.org_id == r.org_id)
        .ok_or_else(|| Error::invalid("deal_id", "Choose one of this partner's deals."))?;
    if link && !matches!(r.data.status, Status::Approved | Status::Closed) {
        return Err(Error::Conflict("deals are linked to approved activities".into()));
    }
    let mut data = d.data.clone();
    if link {
        data.request_id = Some(r.id.clone());
    } else if data.request_id.as_deref() == Some(r.id.as_str()) {
        data.request_id = None;
    } else {
        return Err(Error::invalid("deal_id", "That deal is not linked to this activity."));
    }
    data.by_hand = true;
    data.linked_by = actor.name.clone();
    DEALS.update(deal_id, d.revision, &data)
}

/// Sums per currency, written out: "12,000.00 USD · 3,000.00 EUR" (never added across currencies).
#[derive(Debug, Clone, Default)]
pub struct Sums(BTreeMap<String, i64>);

impl Sums {
    pub fn add(&mut self, currency: &str, amount: i64) {
        *self.0.entry(currency.to_string()).or_default() += amount;
    }

    pub fn text(&self) -> String {
        if self.0.is_empty() {
            return "—".into();
        }
        self.0.iter().map(|(c, a)| money::format(*a, c)).collect::<Vec<_>>().join(" · ")
    }

    pub fn json(&self) -> Value {
        json!(self.0.iter().map(|(c, a)| json!({ "currency": c, "amount": a })).collect::<Vec<_>>())
    }
}

/// A row of the ROI report.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub key: String,
    pub label: String,
    pub funded: Sums,
    pub deals: usize,
    pub pipeline: Sums,
    pub won: Sums,
}

impl Row {
    pub fn json(&self) -> Value {
        json!({ "key": self.key, "label": self.label, "funded": self.funded.text(), "deals": self.deals,
                "pipeline": self.pipeline.text(), "won": self.won.text(), "funded_amounts": self.funded.json(),
                "pipeline_amounts": self.pipeline.json(), "won_amounts": self.won.json() })
    }
}

/// ROI by activity, by partner and by fund, over the approved and closed requests the actor may see.
pub fn report(actor: &Actor) -> Result<[Vec<Row>; 3], Error> {
    let requests: Vec<Record<Request>> = funds::requests(actor, None)?
        .into_iter()
        .filter(|r| matches!(r.data.status, Status::Approved | Status::Closed))
        .collect();
    let budgets: BTreeMap<String, String> =
        funds::budgets(actor)?.into_iter().map(|b| (b.id.clone(), b.data.fund.clone())).collect();
    let mut by: [BTreeMap<String, Row>; 3] = Default::default();
    for r in &requests {
        let fund = budgets.get(&r.data.budget_id).cloned().unwrap_or_default();
        let keys = [
            (r.id.clone(), format!("{} ({})", r.data.activity, r.data.org_name)),
            (r.org_id.clone().unwrap_or_default(), r.data.org_name.clone()),
            (fund.clone(), fund.clone()),
        ];
        let deals = linked(&r.id)?;
        for (i, (key, label)) in keys.into_iter().enumerate() {
            let row = by[i].entry(key.clone()).or_insert_with(|| Row { key, label, ..Default::default() });
            row.funded.add(&r.data.currency, r.data.approved);
            row.deals += deals.len();
            for d in &deals {
                d.data.count_in(&mut row.pipeline, &mut row.won);
            }
        }
    }
    Ok(by.map(|m| m.into_values().collect()))
}
