//! What market development funds tell the channel dashboard: the figures of the manifest's `[[metrics]]` (money
//! allocated, requested, approved, claimed and paid), counted in the call that moves the money so they commit with
//! it; requests, claims and payments on the partner organisation's timeline; and what the caller should do next.
//!
//! `claimed` is what partners' claims ask the fund to pay, net of claims rejected or approved for less, so that
//! utilisation (claimed against allocated) counts what the funds were actually used for. A pool of a tier is
//! allocated to no partner in particular: it counts in the tenant's total only.

use std::collections::BTreeMap;

use portico_sdk::analytics;
use portico_sdk::storage::{Direction, Record};
use portico_sdk::{Context, Error, NextStep, Role};

use crate::funds::{BUDGETS, Budget, CLAIMS, Claim, ClaimStatus, DAY_MS, REQUESTS, Request, Status, date};
use crate::money::format;

/// A claim deadline within this many days is urgent.
const URGENT_DAYS: i64 = 14;
/// The most steps the plugin suggests.
const MAX_STEPS: usize = 5;

fn request_link(id: &str) -> String {
    format!("/p/mdf/requests/{id}")
}

fn org(id: &Option<String>) -> Option<&str> {
    id.as_deref().filter(|o| !o.is_empty())
}

/// Funds allocated: to a partner (`org_id`), or to a tier's pool (none).
pub fn allocated(org_id: Option<&str>, amount: i64, currency: &str) -> Result<(), Error> {
    if amount == 0 {
        return Ok(());
    }
    analytics::amount("allocated", org_id.filter(|o| !o.is_empty()), amount, currency)
}

/// A request submitted for the first time (a resubmission after it was returned is the same request).
pub fn requested(r: &Record<Request>) -> Result<(), Error> {
    let d = &r.data;
    analytics::amount("requested", org(&r.org_id), d.asked, &d.currency)?;
    match org(&r.org_id) {
        Some(o) => analytics::timeline(
            o,
            &format!(
                "MDF request submitted: {} ({} asked) by {}",
                d.activity,
                format(d.asked, &d.currency),
                d.user_name
            ),
            Some(&request_link(&r.id)),
        ),
        None => Ok(()),
    }
}

/// A request approved: its funds reserved.
pub fn approved(r: &Record<Request>, by: &str) -> Result<(), Error> {
    let d = &r.data;
    analytics::amount("approved", org(&r.org_id), d.approved, &d.currency)?;
    match org(&r.org_id) {
        Some(o) => analytics::timeline(
            o,
            &format!("MDF request approved: {} ({}) by {by}", d.activity, format(d.approved, &d.currency)),
            Some(&request_link(&r.id)),
        ),
        None => Ok(()),
    }
}

/// A claim filed: what it asks the fund to pay.
pub fn claimed(c: &Record<Claim>) -> Result<(), Error> {
    let d = &c.data;
    analytics::amount("claimed", org(&c.org_id), d.payable, &d.currency)?;
    match org(&c.org_id) {
        Some(o) => analytics::timeline(
            o,
            &format!("MDF claim filed: {} ({}) by {}", d.activity, format(d.payable, &d.currency), d.user_name),
            Some(&request_link(&d.request_id)),
        ),
        None => Ok(()),
    }
}

/// A claim decided: `less` is what no longer counts as claimed (all of it when rejected, the difference when
/// approved for less).
pub fn claim_reduced(c: &Record<Claim>, less: i64) -> Result<(), Error> {
    if less <= 0 {
        return Ok(());
    }
    analytics::amount("claimed", org(&c.org_id), -less, &c.data.currency)
}

/// A payment of a claim.
pub fn paid(c: &Record<Claim>, amount: i64) -> Result<(), Error> {
    let d = &c.data;
    analytics::amount("paid", org(&c.org_id), amount, &d.currency)?;
    match org(&c.org_id) {
        Some(o) => analytics::timeline(
            o,
            &format!("MDF payment: {} for {}", format(amount, &d.currency), d.activity),
            Some(&request_link(&d.request_id)),
        ),
        None => Ok(()),
    }
}

fn step(title: String, detail: String, link: String, due_ms: Option<i64>, urgent: bool) -> NextStep {
    NextStep { title, detail, link, due_ms, urgent }
}

/// What the caller should do next, most pressing first: a partner admin about the company's requests, a partner
/// user about their own (claims to file before their deadline, requests returned for changes, drafts); vendor staff
/// about requests and claims awaiting their decision, then approved claims to pay.
pub fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
    let Some(caller) = ctx.caller() else { return Ok(Vec::new()) };
    let now = ctx.now_ms();
    match caller.role {
        Role::VendorAdmin | Role::ChannelManager => vendor_steps(&caller.user_id, caller.role == Role::VendorAdmin),
        Role::PartnerAdmin => partner_steps(now, None),
        Role::PartnerUser => partner_steps(now, Some(&caller.user_id)),
    }
}

/// A partner's steps; a query without `all_orgs` reads the caller's organisation only.
fn partner_steps(now: i64, user: Option<&str>) -> Result<Vec<NextStep>, Error> {
    let mine = |r: &Record<Request>| user.is_none_or(|u| r.data.user_id == u);
    let of_status = |s: &str| -> Result<Vec<Record<Request>>, Error> {
        Ok(REQUESTS
            .query()
            .eq("status", s)
            .order_by("updated_at", Direction::Asc)
            .limit(100)
            .fetch::<Request>()?
            .records
            .into_iter()
            .filter(mine)
            .collect())
    };
    let mut budgets: BTreeMap<String, Option<Budget>> = BTreeMap::new();
    let mut claims_due = Vec::new();
    for r in of_status("approved")? {
        let d = &r.data;
        if now < d.ends_at {
            continue;
        }
        let days = match budgets.get(&d.budget_id) {
            Some(b) => b.as_ref().map(|b| b.claim_days),
            None => {
                let b = BUDGETS.get::<Budget>(&d.budget_id)?.map(|b| b.data);
                let days = b.as_ref().map(|b| b.claim_days);
                budgets.insert(d.budget_id.clone(), b);
                days
            }
        };
        let deadline = d.ends_at + days.unwrap_or(60) * DAY_MS;
        if now > deadline {
            continue;
        }
        let claims = CLAIMS.query().eq("request_id", &r.id).limit(20).fetch::<Claim>()?.records;
        if claims.iter().any(|c| c.data.status != ClaimStatus::Rejected) {
            continue;
        }
        let detail = format!(
            "Claim up to {} by {} with proof of performance and the invoice.",
            format(d.approved, &d.currency),
            date(deadline)
        );
        claims_due.push((
            deadline,
            step(
                format!("File the claim for {}", d.activity),
                detail,
                request_link(&r.id),
                Some(deadline),
                deadline - now < URGENT_DAYS * DAY_MS,
            ),
        ));
    }
    claims_due.sort_by_key(|(deadline, _)| *deadline);
    let mut steps: Vec<NextStep> = claims_due.into_iter().map(|(_, s)| s).collect();
    for r in of_status("returned")? {
        let note = r.data.note.trim();
        let detail = if note.is_empty() {
            "The vendor returned it for changes.".to_string()
        } else {
            format!("The vendor asks: {note}").chars().take(300).collect()
        };
        steps.push(step(format!("Change and resubmit {}", r.data.activity), detail, request_link(&r.id), None, false));
    }
    if steps.len() < MAX_STEPS {
        for r in of_status("draft")? {
            steps.push(step(
                format!("Submit your request for {}", r.data.activity),
                format!("{} asked, not yet submitted for approval.", format(r.data.asked, &r.data.currency)),
                request_link(&r.id),
                None,
                false,
            ));
        }
    }
    steps.truncate(MAX_STEPS);
    Ok(steps)
}

/// Vendor staff's steps: requests awaiting a decision (the second approval above a budget's limit only for a
/// vendor admin other than the first approver), claims awaiting one, then approved claims to pay; oldest first.
fn vendor_steps(user_id: &str, admin: bool) -> Result<Vec<NextStep>, Error> {
    let mut steps = Vec::new();
    let requests = |s: &str| {
        REQUESTS.query().all_orgs().eq("status", s).order_by("updated_at", Direction::Asc).limit(20).fetch::<Request>()
    };
    let mut waiting = requests("submitted")?.records;
    if admin {
        waiting.extend(
            requests("awaiting_second")?
                .records
                .into_iter()
                .filter(|r| r.data.first_approver.as_deref() != Some(user_id)),
        );
        waiting.sort_by_key(|r| r.data.updated_at);
    }
    for r in &waiting {
        let d = &r.data;
        let (title, amount) = if d.status == Status::AwaitingSecond {
            (format!("Give the second approval for {}", d.activity), d.approved)
        } else {
            (format!("Review the MDF request for {}", d.activity), d.asked)
        };
        let detail = format!("{} asks for {} ({}).", d.org_name, format(amount, &d.currency), d.budget_name);
        steps.push(step(title, detail, request_link(&r.id), None, false));
    }
    let claims = |s: &str| {
        CLAIMS.query().all_orgs().eq("status", s).order_by("created_at", Direction::Asc).limit(10).fetch::<Claim>()
    };
    for c in claims("submitted")?.records {
        let d = &c.data;
        steps.push(step(
            format!("Review the MDF claim for {}", d.activity),
            format!(
                "{} claims {} of {} spent.",
                d.org_name,
                format(d.payable, &d.currency),
                format(d.spend, &d.currency)
            ),
            request_link(&d.request_id),
            None,
            false,
        ));
    }
    if steps.len() < MAX_STEPS {
        for c in claims("approved")?.records {
            let d = &c.data;
            steps.push(step(
                format!("Pay the approved claim for {}", d.activity),
                format!("{} is owed {}.", d.org_name, format(d.payable - d.paid, &d.currency)),
                request_link(&d.request_id),
                None,
                false,
            ));
        }
    }
    steps.truncate(MAX_STEPS);
    Ok(steps)
}
