//! What deal registration tells the channel dashboard: the figures of the manifest's `[[metrics]]`, counted in the
//! call that moves a deal (so they commit with it), lines on the partner organisation's timeline, and what the
//! caller should do next.
//!
//! Figures count for the deal's partner organisation; a vendor-sourced deal (registered by the vendor's staff, for
//! the vendor's own organisation) counts in the tenant's total only and writes no timeline.

use portico_sdk::analytics;
use portico_sdk::storage::{Direction, Record};
use portico_sdk::{Context, Error, NextStep, Role};

use crate::model::{Deal, Status};
use crate::workflow::{DEALS, group_thousands};

const DAY_MS: i64 = 86_400_000;
/// Protection ending within this many days is a next step of the partner's.
const EXPIRY_HORIZON_DAYS: i64 = 14;
/// Protection ending within this many days is urgent.
const URGENT_DAYS: i64 = 7;
/// The most steps the plugin suggests.
const MAX_STEPS: usize = 5;

fn link(id: &str) -> String {
    format!("/p/deal-registration/deals/{id}")
}

/// The partner organisation a deal's figures count for; none for a vendor-sourced deal.
fn partner_org(d: &Deal) -> Option<&str> {
    (d.source != "vendor" && !d.org_id.is_empty()).then_some(d.org_id.as_str())
}

/// The deal's amount in minor units of its currency, if it has both.
pub fn minor(d: &Deal) -> Option<(i64, &str)> {
    let currency = d.input.currency.as_str();
    let amount = d.input.amount?;
    if currency.is_empty() {
        return None;
    }
    portico_money::from_major(amount, currency).map(|m| (m, currency))
}

/// `Globex Corporation (48,000.00 USD)`, or the name alone without an amount.
fn described(d: &Deal) -> String {
    match minor(d) {
        Some((m, cur)) => format!("{} ({})", d.input.customer_name, portico_money::format(m, cur)),
        None => match d.input.amount {
            Some(a) => format!("{} ({} {})", d.input.customer_name, group_thousands(a), d.input.currency),
            None => d.input.customer_name.clone(),
        },
    }
}

/// A line on the partner's timeline about deal `id`.
fn line(id: &str, d: &Deal, text: &str) -> Result<(), Error> {
    match partner_org(d) {
        Some(org) => analytics::timeline(org, text, Some(&link(id))),
        None => Ok(()),
    }
}

/// A deal's first submission (or its import): one more registration, its amount in the pipeline.
pub fn submitted(id: &str, d: &Deal, by: &str) -> Result<(), Error> {
    let org = partner_org(d);
    analytics::count("submitted", org, 1)?;
    if let Some((m, cur)) = minor(d) {
        analytics::amount("pipeline", org, m, cur)?;
    }
    let by = if by.trim().is_empty() { String::new() } else { format!(" by {}", by.trim()) };
    line(id, d, &format!("Deal registered: {}{by}", described(d)))
}

/// A deal approved (its final approval, or at once by a rule); `by` is empty for an automatic approval.
pub fn approved(id: &str, d: &Deal, by: &str) -> Result<(), Error> {
    analytics::count("approved", partner_org(d), 1)?;
    if by.trim().is_empty() {
        line(id, d, &format!("Deal approved automatically: {}", described(d)))
    } else {
        line(id, d, &format!("Deal approved: {} by {}", described(d), by.trim()))
    }
}

/// A deal rejected, with the reason.
pub fn rejected(id: &str, d: &Deal, note: &str) -> Result<(), Error> {
    line(id, d, &format!("Deal rejected: {}: {}", d.input.customer_name, note.trim()))
}

/// A deal closed as won (its amount, which the deal remembers in `won_minor`, into won revenue) or lost.
pub fn closed(id: &str, d: &mut Deal, won: bool) -> Result<(), Error> {
    let org = partner_org(d).map(String::from);
    let org = org.as_deref();
    analytics::count("closed", org, 1)?;
    if won {
        analytics::count("won", org, 1)?;
        if let Some((m, cur)) = minor(d) {
            analytics::amount("won_revenue", org, m, cur)?;
            d.won_minor = Some(m);
        }
        line(id, d, &format!("Deal won: {}", described(d)))
    } else {
        line(id, d, &format!("Deal lost: {}", described(d)))
    }
}

/// A win reversed: it no longer counts as won, nor its revenue (what the win counted); it stays closed.
pub fn reversed(id: &str, d: &Deal, reason: &str) -> Result<(), Error> {
    let org = partner_org(d);
    analytics::count("won", org, -1)?;
    let counted = d.won_minor.or_else(|| minor(d).map(|(m, _)| m));
    if let Some(m) = counted
        && !d.input.currency.is_empty()
    {
        analytics::amount("won_revenue", org, -m, &d.input.currency)?;
    }
    line(id, d, &format!("Win reversed: {}: {}", described(d), reason.trim()))
}

fn iso_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn step(title: String, detail: String, id: &str, due_ms: Option<i64>, urgent: bool) -> NextStep {
    NextStep { title, detail, link: link(id), due_ms, urgent }
}

/// What the caller should do next, most pressing first: a partner admin about the company's deals, a partner user
/// about their own (deals returned for information, protection about to end, drafts not submitted); vendor staff
/// about the registrations and extension requests awaiting their decision.
pub fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
    let Some(caller) = ctx.caller() else { return Ok(Vec::new()) };
    let now = ctx.now_ms();
    match caller.role {
        Role::VendorAdmin | Role::ChannelManager => vendor_steps(now, caller.role == Role::VendorAdmin),
        Role::PartnerAdmin => partner_steps(now, None),
        Role::PartnerUser => partner_steps(now, Some(&caller.user_id)),
    }
}

/// A partner's steps; a query without `all_orgs` reads the caller's organisation only. With `owner`, only the
/// deals that user registered.
fn partner_steps(now: i64, owner: Option<&str>) -> Result<Vec<NextStep>, Error> {
    let mine = |r: &Record<Deal>| owner.is_none_or(|o| r.data.owner_id == o);
    let mut steps = Vec::new();
    let returned = DEALS.query().eq("status", Status::Returned.key()).limit(100).fetch::<Deal>()?.records;
    let mut returned: Vec<_> = returned.into_iter().filter(mine).collect();
    // The longest waiting first.
    returned.sort_by_key(|r| r.data.timeline.last().map(|t| t.at).unwrap_or(r.data.created_at));
    for r in &returned {
        let asked = r.data.timeline.last().map(|t| t.note.trim()).filter(|n| !n.is_empty());
        let detail = asked.map_or_else(
            || "The channel team asked for more information before approving it.".to_string(),
            |n| format!("The channel team asks: {n}"),
        );
        steps.push(step(
            format!("Add the missing details to {}", r.data.input.customer_name),
            detail.chars().take(300).collect(),
            &r.id,
            None,
            true,
        ));
    }
    let ending = DEALS
        .query()
        .range("expires_at", Some(now), Some(now + EXPIRY_HORIZON_DAYS * DAY_MS))
        .order_by("expires_at", Direction::Asc)
        .limit(100)
        .fetch::<Deal>()?
        .records;
    for r in ending.iter().filter(|r| mine(r) && r.data.status == Status::Approved) {
        let d = &r.data;
        let Some(at) = d.expires_at else { continue };
        let pending = d.extension.as_ref().is_some_and(|e| e.status == "pending");
        let may_extend = !pending
            && (d.policy.extension_policy == "unlimited"
                || (d.policy.extension_policy == "once" && d.extensions_granted == 0));
        let title = if may_extend {
            format!("Close or extend {}", d.input.customer_name)
        } else {
            format!("Close {} before its protection ends", d.input.customer_name)
        };
        let detail = if pending {
            format!("Protection ends on {}; your extension request awaits a decision.", iso_day(at))
        } else {
            format!("Protection ends on {}.", iso_day(at))
        };
        steps.push(step(title, detail, &r.id, Some(at), at - now <= URGENT_DAYS * DAY_MS));
    }
    if steps.len() < MAX_STEPS {
        let drafts = DEALS
            .query()
            .eq("status", Status::Draft.key())
            .order_by("created_at", Direction::Desc)
            .limit(100)
            .fetch::<Deal>()?
            .records;
        for r in drafts.iter().filter(|r| mine(r)) {
            steps.push(step(
                format!("Submit the draft for {}", r.data.input.customer_name),
                "A draft is not protected: submit it to register the customer.".into(),
                &r.id,
                None,
                false,
            ));
        }
    }
    steps.truncate(MAX_STEPS);
    Ok(steps)
}

/// Vendor staff's steps: registrations awaiting approval by SLA (a step of an approval chain only for the role it
/// waits for, or a vendor admin), then extension requests.
fn vendor_steps(now: i64, admin: bool) -> Result<Vec<NextStep>, Error> {
    let role = if admin { "vendor_admin" } else { "channel_manager" };
    let mut steps = Vec::new();
    let waiting = DEALS
        .query()
        .all_orgs()
        .eq("status", Status::Submitted.key())
        .order_by("due_at", Direction::Asc)
        .limit(50)
        .fetch::<Deal>()?
        .records;
    for r in &waiting {
        let d = &r.data;
        let step_role = d.approval.as_ref().and_then(|a| a.steps.get(a.approvals.len())).map(String::as_str);
        let chain = d.approval.as_ref().is_some_and(|a| a.mode == "chain");
        if chain && !admin && step_role.is_some_and(|s| s != role) {
            continue;
        }
        let overdue = d.due_at.is_some_and(|at| at < now);
        let detail = format!(
            "{} registered {}{}.",
            d.org_name,
            described(d),
            if d.conflicts.is_empty() { "" } else { "; it may conflict with another registration" }
        );
        steps.push(step(
            format!("Review the deal registration for {}", d.input.customer_name),
            detail.chars().take(300).collect(),
            &r.id,
            d.due_at,
            overdue,
        ));
        if steps.len() >= MAX_STEPS {
            return Ok(steps);
        }
    }
    let extensions = DEALS.query().all_orgs().eq("extension_pending", true).limit(20).fetch::<Deal>()?.records;
    for r in &extensions {
        let d = &r.data;
        let reason = d.extension.as_ref().map(|e| e.reason.trim()).unwrap_or_default();
        steps.push(step(
            format!("Decide on extending {}", d.input.customer_name),
            format!("{} asks for more time: {reason}", d.org_name).chars().take(300).collect(),
            &r.id,
            d.expires_at,
            d.expires_at.is_some_and(|at| at - now <= URGENT_DAYS * DAY_MS),
        ));
    }
    steps.truncate(MAX_STEPS);
    Ok(steps)
}
