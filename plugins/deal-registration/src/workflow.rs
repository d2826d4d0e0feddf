//! The life of a deal: creating, submitting with conflict checks and a receipt, approval routing, protection
//! and its expiry, extensions, and the notifications and events each transition sends.

use std::collections::BTreeMap;

use portico_sdk::directory;
use portico_sdk::notify::{self, Audience, Notification};
use portico_sdk::storage::{Collection, Record};
use portico_sdk::{Context, Error, Role, Value, events, json, log};
use serde::{Deserialize, Serialize};

use crate::channel;
use crate::matching;
use crate::model::{Approval, Checked, Conflict, CrmOrigin, Deal, Extension, Input, Signoff, Status, Transition, iso};
use crate::receipts;
use crate::rules::{self, Route, Settings, Tier};

pub const DEALS: Collection = Collection::new("deals");
pub const CLAIMS: Collection = Collection::new("claims");

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// Statuses in which a registration competes for its customer.
const ACTIVE: [&str; 3] = ["submitted", "returned", "approved"];

/// Who acts: a signed-in user, or the plugin's own schedule.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub role: Option<Role>,
    pub org_id: String,
    pub org_name: String,
}

impl Actor {
    pub fn of(ctx: &Context) -> Result<Actor, Error> {
        let c = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
        Ok(Actor {
            id: c.user_id.clone(),
            name: c.name.clone(),
            role: Some(c.role),
            org_id: c.org_id.clone(),
            org_name: c.org_name.clone(),
        })
    }

    pub fn system() -> Actor {
        Actor::named("Portico".into())
    }

    /// An actor that is not a user: the schedule, or a CRM connector's sync or import.
    pub fn named(name: String) -> Actor {
        Actor { id: String::new(), name, role: None, org_id: String::new(), org_name: String::new() }
    }

    pub fn is_vendor(&self) -> bool {
        matches!(self.role, Some(Role::VendorAdmin | Role::ChannelManager))
    }

    fn role_key(&self) -> &'static str {
        match self.role {
            Some(Role::VendorAdmin) => "vendor_admin",
            Some(Role::ChannelManager) => "channel_manager",
            Some(Role::PartnerAdmin) => "partner_admin",
            Some(Role::PartnerUser) => "partner_user",
            None => "system",
        }
    }

    /// Partners act on their own organisation's deals; vendor staff on all.
    pub fn may_see(&self, deal: &Deal) -> bool {
        self.is_vendor() || deal.org_id == self.org_id
    }
}

/// The record of a protected customer: at most one per registrable domain.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claim {
    deal_id: String,
    expires_at: i64,
}

/// A deal the actor may see, or not found (the same answer whether it exists elsewhere or not at all).
pub fn load(actor: &Actor, id: &str) -> Result<Record<Deal>, Error> {
    match DEALS.get::<Deal>(id)? {
        Some(r) if actor.may_see(&r.data) => Ok(r),
        _ => Err(Error::NotFound(format!("no deal {id}"))),
    }
}

/// The partner's tier in the program and the program's tiers.
pub fn tier_of(org_id: &str, program: &str) -> Result<(Option<Tier>, Vec<Tier>), Error> {
    let tiers: Vec<Tier> = directory::get_program(program)?
        .map(|p| p.tiers.into_iter().map(|t| Tier { key: t.key, name: t.name, rank: t.rank }).collect())
        .unwrap_or_default();
    let tier = directory::get_org(org_id)?.and_then(|o| {
        o.enrolments.into_iter().find(|e| e.program == program).map(|e| Tier {
            key: e.tier,
            name: e.tier_name,
            rank: e.tier_rank,
        })
    });
    Ok((tier, tiers))
}

/// A new deal (a draft) for the actor's organisation, or vendor-sourced for vendor staff.
pub fn create(ctx: &Context, actor: &Actor, checked: Checked) -> Result<Record<Deal>, Error> {
    let now = ctx.now_ms();
    let program = ctx.program().ok_or_else(|| Error::Denied("deal registration is not enabled here".into()))?;
    let source = if actor.is_vendor() { "vendor" } else { "partner" };
    let mut deal = Deal::draft(program, source, checked, now);
    (deal.org_id, deal.org_name) = (actor.org_id.clone(), actor.org_name.clone());
    (deal.owner_id, deal.owner_name) = (actor.id.clone(), actor.name.clone());
    deal.timeline.push(Transition {
        at: now,
        by_id: actor.id.clone(),
        by_name: actor.name.clone(),
        from: None,
        to: Status::Draft,
        note: String::new(),
    });
    DEALS.insert(&deal)
}

/// Replaces the details of a draft or returned deal.
pub fn edit(actor: &Actor, mut rec: Record<Deal>, checked: Checked) -> Result<Record<Deal>, Error> {
    if !rec.data.status.editable() {
        return Err(Error::Conflict(format!("a deal that is {} cannot be edited", rec.data.status.label())));
    }
    if !actor.may_see(&rec.data) {
        return Err(Error::NotFound("no such deal".into()));
    }
    let d = &mut rec.data;
    d.input = checked.input;
    d.domain = checked.domain;
    d.name_norm = checked.name_norm;
    d.name_key_a = checked.name_keys[0].clone();
    d.name_key_b = checked.name_keys[1].clone();
    DEALS.update(&rec.id, rec.revision, &rec.data)
}

/// Registrations that may be for the same customer as `deal`: the same registrable domain, a similar company
/// name, or a somewhat similar name in the same country with an overlapping product. Candidates come from index
/// lookups (domain, and two name blocking keys), so the check stays fast with millions of deals.
pub fn find_conflicts(id: &str, deal: &Deal, threshold: f64, now: i64) -> Result<Vec<Conflict>, Error> {
    let mut candidates: BTreeMap<String, Deal> = BTreeMap::new();
    let keys = [deal.name_key_a.as_str(), deal.name_key_b.as_str()];
    let mut queries = Vec::new();
    if !deal.domain.is_empty() {
        queries.push(DEALS.query().eq("domain", &deal.domain));
    }
    if !deal.name_key_a.is_empty() {
        queries.push(DEALS.query().one_of("name_key_a", keys));
        queries.push(DEALS.query().one_of("name_key_b", keys));
    }
    for q in queries {
        for r in q.one_of("status", ACTIVE).all_orgs().limit(500).fetch::<Deal>()?.records {
            candidates.entry(r.id).or_insert(r.data);
        }
    }
    let mut out: Vec<Conflict> = candidates
        .into_iter()
        .filter(|(other_id, other)| {
            other_id != id && !(other.status == Status::Approved && other.expires_at.is_some_and(|e| e <= now))
        })
        .filter_map(|(other_id, other)| {
            let score = matching::name_similarity(&deal.name_norm, &other.name_norm);
            let mut kinds = Vec::new();
            if !deal.domain.is_empty() && deal.domain == other.domain {
                kinds.push("domain".to_string());
            }
            if score >= threshold {
                kinds.push("name".to_string());
            }
            let same_market = !deal.input.country.is_empty()
                && deal.input.country == other.input.country
                && !matching::products_overlap(&deal.input.products, &other.input.products).is_empty();
            if same_market && score >= threshold - 0.1 {
                kinds.push("country_products".to_string());
            }
            (!kinds.is_empty()).then(|| Conflict { deal_id: other_id, kinds, score: (score * 1000.0).round() / 1000.0 })
        })
        .collect();
    out.sort_by(|a, b| b.kinds.len().cmp(&a.kinds.len()).then(b.score.total_cmp(&a.score)));
    out.truncate(20);
    Ok(out)
}

/// The deal's conflicts as they stand now: found afresh while it competes for its customer (so a registration of
/// the same customer made later shows on the earlier one too, and a withdrawn one drops off), and as recorded
/// once it no longer competes.
pub fn current_conflicts(rec: &mut Record<Deal>, threshold: f64, now: i64) -> Result<(), Error> {
    if ACTIVE.contains(&rec.data.status.key()) {
        rec.data.conflicts = find_conflicts(&rec.id, &rec.data, threshold, now)?;
    }
    Ok(())
}

/// Takes the customer's protection for `id`; `Some(holder)` when another registration holds it.
fn claim(id: &str, deal: &Deal, expires_at: i64, now: i64) -> Result<Option<String>, Error> {
    if let Some(c) = CLAIMS.get::<Claim>(&deal.domain)? {
        if c.data.deal_id == id {
            CLAIMS.update(&c.id, c.revision, &Claim { deal_id: id.to_string(), expires_at })?;
            return Ok(None);
        }
        let holder_active = DEALS
            .get::<Deal>(&c.data.deal_id)?
            .is_some_and(|h| h.data.status == Status::Approved && h.data.expires_at.is_some_and(|e| e > now));
        if holder_active || !CLAIMS.delete(&c.id)? {
            return Ok(Some(c.data.deal_id));
        }
    }
    let mine = Claim { deal_id: id.to_string(), expires_at };
    match CLAIMS.insert_with(Some(&deal.domain), Some(&deal.org_id), &mine) {
        Ok(_) => Ok(None),
        // Another approval of the same customer committed first.
        Err(Error::Conflict(_)) => {
            Ok(Some(CLAIMS.get::<Claim>(&deal.domain)?.map(|c| c.data.deal_id).unwrap_or_default()))
        }
        Err(e) => Err(e),
    }
}

/// Gives up the customer's protection if `id` holds it.
fn release(id: &str, deal: &Deal) -> Result<(), Error> {
    if let Some(c) = CLAIMS.get::<Claim>(&deal.domain)?
        && c.data.deal_id == id
    {
        CLAIMS.delete(&c.id)?;
    }
    Ok(())
}

/// Adds a step to the timeline and moves the deal to `to` (which may be its status: a step within one).
fn record_transition(d: &mut Deal, actor: &Actor, now: i64, to: Status, note: &str) {
    d.timeline.push(Transition {
        at: now,
        by_id: actor.id.clone(),
        by_name: actor.name.clone(),
        from: Some(d.status),
        to,
        note: note.to_string(),
    });
    d.status = to;
}

fn link(id: &str) -> String {
    format!("/p/deal-registration/deals/{id}")
}

fn money(d: &Deal) -> String {
    match d.input.amount {
        Some(a) => format!("{} {}", group_thousands(a), d.input.currency),
        None => String::new(),
    }
}

/// `1234567.5` → `1,234,567.50`; whole amounts without decimals.
pub fn group_thousands(a: f64) -> String {
    let cents = (a * 100.0).round() as i64;
    let (whole, frac) = (cents / 100, cents % 100);
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if frac != 0 {
        out.push_str(&format!(".{frac:02}"));
    }
    out
}

fn to_partner(d: &Deal, title: String, body: String, id: &str) -> Result<(), Error> {
    notify::send(&Notification {
        audience: Audience::User(d.owner_id.clone()),
        title,
        body,
        link: Some(link(id)),
        email: true,
    })
}

fn to_approvers(roles: Vec<Role>, title: String, body: String, id: &str) -> Result<(), Error> {
    notify::send(&Notification { audience: Audience::Vendor(roles), title, body, link: Some(link(id)), email: true })
}

fn approver_roles(step: Option<&str>) -> Vec<Role> {
    match step {
        Some("vendor_admin") => vec![Role::VendorAdmin],
        Some("channel_manager") => vec![Role::ChannelManager],
        _ => vec![Role::ChannelManager, Role::VendorAdmin],
    }
}

/// Emits `deal.{topic}` with the deal's data and the transition that caused it.
fn emit(topic: &str, id: &str, d: &Deal, actor: &Actor, note: &str) -> Result<(), Error> {
    events::emit(
        &format!("deal.{topic}"),
        &json!({
            "deal": d.to_json(id, true),
            "transition": { "by": actor.name, "by_id": actor.id, "note": note,
                            "at": d.timeline.last().map(|t| iso(t.at)) },
        }),
    )?;
    Ok(())
}

/// Submits (or resubmits) a draft or returned deal: checks it completely, finds conflicts, appends a receipt,
/// routes it for approval and, when a rule says so and nothing conflicts, approves it at once.
pub fn submit(ctx: &Context, actor: &Actor, mut rec: Record<Deal>, s: &Settings) -> Result<Record<Deal>, Error> {
    let now = ctx.now_ms();
    let id = rec.id.clone();
    let d = &mut rec.data;
    if !d.status.editable() {
        return Err(Error::Conflict(format!("a deal that is {} cannot be submitted", d.status.label())));
    }
    let checked = crate::model::check(d.input.clone(), &s.products, true).map_err(|errors| {
        let (field, message) = errors.into_iter().next().unwrap_or(("deal", "is incomplete".into()));
        Error::invalid(field, message)
    })?;
    d.input = checked.input;
    d.domain = checked.domain;
    let (tier, tiers) = if d.source == "partner" { tier_of(&d.org_id, &d.program)? } else { (None, Vec::new()) };
    d.policy = s.policy(tier.as_ref());
    let amount = d.input.amount.unwrap_or_default();
    let (route, rule) = rules::route_for(&s.approval_rules, amount, tier.as_ref(), &tiers);
    d.approval = Some(Approval {
        mode: match &route {
            Route::Auto => "auto",
            Route::Single => "single",
            Route::Chain(_) => "chain",
        }
        .into(),
        steps: match &route {
            Route::Chain(steps) => steps.clone(),
            _ => vec!["channel_manager".into()],
        },
        approvals: Vec::new(),
        rule,
    });
    d.conflicts = find_conflicts(&id, d, s.similarity_threshold, now)?;
    d.registered_at.get_or_insert(now);
    d.submitted_at = Some(now);
    d.due_at = Some(now + i64::from(d.policy.sla_hours) * HOUR_MS);
    d.sla_reminded = false;
    let portal = ctx.tenant_slug().to_string();
    let receipt = receipts::append(&portal, &id, d, now)?;
    d.receipts.push(receipt.seq);
    let resubmitted = d.status == Status::Returned;
    record_transition(d, actor, now, Status::Submitted, if resubmitted { "resubmitted" } else { "" });
    let mut auto_approved = false;
    if route == Route::Auto && d.conflicts.is_empty() {
        let expires_at = now + i64::from(d.policy.protection_days) * DAY_MS;
        match claim(&id, d, expires_at, now)? {
            None => {
                grant_protection(d, now, expires_at);
                let note = format!("approved automatically: {}", d.approval.as_ref().map_or("", |a| a.rule.as_str()));
                record_transition(d, &Actor::system(), now, Status::Approved, &note);
                auto_approved = true;
            }
            Some(holder) => d.conflicts.push(Conflict { deal_id: holder, kinds: vec!["domain".into()], score: 1.0 }),
        }
    }
    let saved = DEALS.update(&id, rec.revision, &rec.data)?;
    let d = &saved.data;
    emit("submitted", &id, d, actor, "")?;
    // A resubmission (after the deal was returned for information) is the same registration: counted once.
    if !resubmitted {
        channel::submitted(&id, d, &actor.name)?;
    }
    if auto_approved {
        emit("approved", &id, d, &Actor::system(), "approved automatically")?;
        channel::approved(&id, d, "")?;
        to_partner(
            d,
            format!("Deal approved: {}", d.input.customer_name),
            format!("Your registration is protected until {}.", iso(d.expires_at.unwrap_or_default())),
            &id,
        )?;
    } else {
        let step = d.approval.as_ref().and_then(|a| a.steps.first()).map(String::as_str);
        let flag = if d.conflicts.is_empty() { "" } else { " It may conflict with another registration." };
        to_approvers(
            approver_roles(step),
            format!("Deal to approve: {}", d.input.customer_name),
            format!("{} registered {} for {}.{flag}", d.org_name, money(d), d.input.customer_name),
            &id,
        )?;
    }
    Ok(saved)
}

fn grant_protection(d: &mut Deal, now: i64, expires_at: i64) {
    d.approved_at = Some(now);
    d.due_at = None;
    d.expires_at = Some(expires_at);
    d.exclusivity_expires_at = Some(expires_at);
    set_reminder(d, now);
}

fn set_reminder(d: &mut Deal, now: i64) {
    let expires_at = d.expires_at.unwrap_or_default();
    let remind_at = expires_at - i64::from(d.policy.reminder_days) * DAY_MS;
    d.remind_at = (d.policy.reminder_days > 0 && remind_at > now).then_some(remind_at);
}

/// What a manager adds when deciding.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Decision {
    pub reason: String,
    pub note: String,
    /// Protection for this deal in days, instead of the program's or tier's window.
    pub protection_days: Option<u32>,
}

fn vendor_only(actor: &Actor) -> Result<(), Error> {
    if actor.is_vendor() {
        Ok(())
    } else {
        Err(Error::Denied("only the vendor's channel team decides on deals".into()))
    }
}

/// Approves a submitted deal, or one step of its approval chain. The final approval takes the customer's
/// protection; if another registration holds it, nothing changes and the manager is told.
pub fn approve(
    ctx: &Context,
    actor: &Actor,
    mut rec: Record<Deal>,
    s: &Settings,
    dec: Decision,
) -> Result<Record<Deal>, Error> {
    vendor_only(actor)?;
    let now = ctx.now_ms();
    let id = rec.id.clone();
    let d = &mut rec.data;
    if d.status != Status::Submitted {
        return Err(Error::Conflict(format!(
            "only deals awaiting approval can be approved; this one is {}",
            d.status.label()
        )));
    }
    if let Some(days) = dec.protection_days
        && !(1..=730).contains(&days)
    {
        return Err(Error::invalid("protection_days", "use 1 to 730 days"));
    }
    let approval = d.approval.get_or_insert_with(Approval::default);
    if approval.steps.is_empty() {
        approval.steps.push("channel_manager".into());
    }
    let step = approval.steps.get(approval.approvals.len()).cloned().unwrap_or_else(|| "channel_manager".into());
    let admin = actor.role == Some(Role::VendorAdmin);
    if approval.mode == "chain" && step != actor.role_key() && !admin {
        return Err(Error::Denied(format!("this step of the approval chain is for the {}", step.replace('_', " "))));
    }
    if approval.mode == "chain" && approval.approvals.iter().any(|a| a.by_id == actor.id) {
        return Err(Error::Conflict("you have already approved an earlier step of this deal".into()));
    }
    approval.approvals.push(Signoff { by_id: actor.id.clone(), by_name: actor.name.clone(), at: now });
    let (given, total) = (approval.approvals.len(), approval.steps.len());
    let done = given >= total;
    let next_step = approval.steps.get(given).cloned();
    d.conflicts = find_conflicts(&id, d, s.similarity_threshold, now)?;
    let note = [dec.note.trim(), dec.reason.trim()].into_iter().find(|n| !n.is_empty()).unwrap_or("").to_string();
    if !done {
        let step_note = format!(
            "approved step {given} of {total}{}",
            if note.is_empty() { String::new() } else { format!(": {note}") }
        );
        record_transition(d, actor, now, d.status, &step_note);
        let saved = DEALS.update(&id, rec.revision, &rec.data)?;
        to_approvers(
            approver_roles(next_step.as_deref()),
            format!("Deal to approve: {}", saved.data.input.customer_name),
            format!("{} approved step {given} of {total}; your approval is next.", actor.name),
            &id,
        )?;
        return Ok(saved);
    }
    let days = dec.protection_days.unwrap_or(d.policy.protection_days.max(1));
    d.policy.protection_days = days;
    let expires_at = now + i64::from(days) * DAY_MS;
    if let Some(holder) = claim(&id, d, expires_at, now)? {
        let until = DEALS.get::<Deal>(&holder)?.and_then(|h| h.data.expires_at).map(iso).unwrap_or_default();
        return Err(Error::Conflict(format!(
            "another registration for {} is protected until {until}; reject or return this one",
            d.domain
        )));
    }
    grant_protection(d, now, expires_at);
    record_transition(d, actor, now, Status::Approved, &note);
    let saved = DEALS.update(&id, rec.revision, &rec.data)?;
    let d = &saved.data;
    emit("approved", &id, d, actor, &note)?;
    channel::approved(&id, d, &actor.name)?;
    to_partner(
        d,
        format!("Deal approved: {}", d.input.customer_name),
        format!("{} approved your registration. It is protected until {}.", actor.name, iso(expires_at)),
        &id,
    )?;
    Ok(saved)
}

/// Rejects a submitted deal with one of the program's reasons.
pub fn reject(ctx: &Context, actor: &Actor, mut rec: Record<Deal>, dec: Decision) -> Result<Record<Deal>, Error> {
    vendor_only(actor)?;
    let d = &mut rec.data;
    if !matches!(d.status, Status::Submitted | Status::Returned) {
        return Err(Error::Conflict(format!("a deal that is {} cannot be rejected", d.status.label())));
    }
    let reason = dec.reason.trim();
    let known = &d.policy.rejection_reasons;
    if !known.iter().any(|r| r == reason) {
        let msg =
            if known.is_empty() { "give a reason".to_string() } else { format!("choose one of: {}", known.join("; ")) };
        return Err(Error::invalid("reason", msg));
    }
    let note = if dec.note.trim().is_empty() { reason.to_string() } else { format!("{reason}: {}", dec.note.trim()) };
    d.due_at = None;
    record_transition(d, actor, ctx.now_ms(), Status::Rejected, &note);
    channel::rejected(&rec.id, &rec.data, &note)?;
    decided(&rec, "rejected", actor, "Deal rejected", note)
}

/// Saves a decision, emits `deal.{topic}` with `note`, and tells the partner (`{title}: {customer}`, `note`).
fn decided(rec: &Record<Deal>, topic: &str, actor: &Actor, title: &str, note: String) -> Result<Record<Deal>, Error> {
    let saved = DEALS.update(&rec.id, rec.revision, &rec.data)?;
    emit(topic, &rec.id, &saved.data, actor, &note)?;
    to_partner(&saved.data, format!("{title}: {}", saved.data.input.customer_name), note, &rec.id)?;
    Ok(saved)
}

/// Returns a submitted deal to the partner for more information.
pub fn send_back(ctx: &Context, actor: &Actor, mut rec: Record<Deal>, dec: Decision) -> Result<Record<Deal>, Error> {
    vendor_only(actor)?;
    let d = &mut rec.data;
    if d.status != Status::Submitted {
        return Err(Error::Conflict(format!("a deal that is {} cannot be returned", d.status.label())));
    }
    let note =
        [dec.reason.trim(), dec.note.trim()].into_iter().filter(|n| !n.is_empty()).collect::<Vec<_>>().join(": ");
    if note.is_empty() {
        return Err(Error::invalid("reason", "say what information is missing"));
    }
    d.due_at = None;
    if let Some(a) = d.approval.as_mut() {
        a.approvals.clear();
    }
    record_transition(d, actor, ctx.now_ms(), Status::Returned, &note);
    decided(&rec, "returned", actor, "More information needed", note)
}

/// Withdraws a deal before it is approved.
pub fn withdraw(ctx: &Context, actor: &Actor, mut rec: Record<Deal>, dec: Decision) -> Result<Record<Deal>, Error> {
    let id = rec.id.clone();
    let d = &mut rec.data;
    if !matches!(d.status, Status::Draft | Status::Submitted | Status::Returned) {
        return Err(Error::Conflict(format!(
            "only deals not yet approved can be withdrawn; this one is {}",
            d.status.label()
        )));
    }
    let was_pending = d.status == Status::Submitted;
    d.due_at = None;
    record_transition(d, actor, ctx.now_ms(), Status::Withdrawn, dec.reason.trim());
    let saved = DEALS.update(&id, rec.revision, &rec.data)?;
    emit("withdrawn", &id, &saved.data, actor, dec.reason.trim())?;
    if was_pending {
        to_approvers(
            approver_roles(None),
            format!("Deal withdrawn: {}", saved.data.input.customer_name),
            format!("{} withdrew the registration.", actor.name),
            &id,
        )?;
    }
    Ok(saved)
}

/// Closes an approved deal as won or lost, which ends its protection.
pub fn close(
    ctx: &Context,
    actor: &Actor,
    mut rec: Record<Deal>,
    won: bool,
    dec: Decision,
) -> Result<Record<Deal>, Error> {
    let id = rec.id.clone();
    let d = &mut rec.data;
    if d.status != Status::Approved {
        return Err(Error::Conflict(format!("only approved deals can be closed; this one is {}", d.status.label())));
    }
    release(&id, d)?;
    d.expires_at = None;
    d.remind_at = None;
    let to = if won { Status::Won } else { Status::Lost };
    record_transition(d, actor, ctx.now_ms(), to, dec.reason.trim());
    channel::closed(&id, d, won)?;
    let saved = DEALS.update(&id, rec.revision, &rec.data)?;
    let topic = if won { "won" } else { "lost" };
    emit(topic, &id, &saved.data, actor, dec.reason.trim())?;
    to_approvers(
        approver_roles(None),
        format!("Deal {topic}: {}", saved.data.input.customer_name),
        format!("{} marked the deal {topic} ({}).", actor.name, money(&saved.data)),
        &id,
    )?;
    Ok(saved)
}

/// Reverses a win the vendor's staff recorded in error or that fell through after booking (an order cancelled, a
/// return): the deal becomes lost, the reason goes on its timeline, and `deal.reversed` tells the plugins that
/// counted the win (incentives claws back its rewards). Only a won deal, only by vendor staff, always with a reason.
pub fn reverse(ctx: &Context, actor: &Actor, mut rec: Record<Deal>, dec: Decision) -> Result<Record<Deal>, Error> {
    vendor_only(actor)?;
    let id = rec.id.clone();
    let d = &mut rec.data;
    if d.status != Status::Won {
        return Err(Error::Conflict(format!("only a won deal can be reversed; this one is {}", d.status.label())));
    }
    let reason = dec.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(Error::invalid("reason", "say why the win is reversed (up to 1,000 characters)"));
    }
    let note = format!("win reversed: {reason}");
    record_transition(d, actor, ctx.now_ms(), Status::Lost, &note);
    channel::reversed(&id, d, reason)?;
    d.won_minor = None;
    let saved = DEALS.update(&id, rec.revision, &rec.data)?;
    emit("reversed", &id, &saved.data, actor, reason)?;
    Ok(saved)
}

/// Asks for more protection time, under the program's extension policy.
pub fn request_extension(
    ctx: &Context,
    actor: &Actor,
    mut rec: Record<Deal>,
    reason: &str,
) -> Result<Record<Deal>, Error> {
    let id = rec.id.clone();
    let d = &mut rec.data;
    if d.status != Status::Approved {
        return Err(Error::Conflict("only approved deals can be extended".into()));
    }
    match d.policy.extension_policy.as_str() {
        "none" => return Err(Error::Conflict("this program does not offer extensions".into())),
        "once" if d.extensions_granted >= 1 => {
            return Err(Error::Conflict(
                "this deal has already been extended once, which is all the program allows".into(),
            ));
        }
        _ => {}
    }
    if d.extension.as_ref().is_some_and(|e| e.status == "pending") {
        return Err(Error::Conflict("an extension request is already pending".into()));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(Error::invalid("reason", "say why the deal needs more time (up to 1,000 characters)"));
    }
    d.extension_pending = true;
    d.extension = Some(Extension {
        status: "pending".into(),
        reason: reason.to_string(),
        requested_by: actor.name.clone(),
        requested_at: ctx.now_ms(),
        decided_by: None,
        decided_at: None,
        note: String::new(),
    });
    let saved = DEALS.update(&id, rec.revision, &rec.data)?;
    to_approvers(
        approver_roles(None),
        format!("Extension requested: {}", saved.data.input.customer_name),
        format!("{} asks for {} more days: {reason}", actor.name, saved.data.policy.extension_days),
        &id,
    )?;
    Ok(saved)
}

/// Grants or declines the pending extension request.
pub fn decide_extension(
    ctx: &Context,
    actor: &Actor,
    mut rec: Record<Deal>,
    grant: bool,
    note: &str,
) -> Result<Record<Deal>, Error> {
    vendor_only(actor)?;
    let now = ctx.now_ms();
    let id = rec.id.clone();
    let d = &mut rec.data;
    let Some(ext) = d.extension.as_mut().filter(|e| e.status == "pending") else {
        return Err(Error::Conflict("there is no pending extension request".into()));
    };
    ext.status = if grant { "granted" } else { "declined" }.into();
    ext.decided_by = Some(actor.name.clone());
    ext.decided_at = Some(now);
    ext.note = note.trim().to_string();
    d.extension_pending = false;
    if !grant {
        let saved = DEALS.update(&id, rec.revision, &rec.data)?;
        let body = if note.trim().is_empty() {
            "Your extension request was declined.".to_string()
        } else {
            note.trim().to_string()
        };
        to_partner(&saved.data, format!("Extension declined: {}", saved.data.input.customer_name), body, &id)?;
        return Ok(saved);
    }
    if d.status != Status::Approved {
        return Err(Error::Conflict("only approved deals can be extended".into()));
    }
    let expires_at = d.expires_at.unwrap_or(now).max(now) + i64::from(d.policy.extension_days) * DAY_MS;
    if let Some(holder) = claim(&id, d, expires_at, now)? {
        return Err(Error::Conflict(format!("registration {holder} now holds this customer's protection")));
    }
    d.expires_at = Some(expires_at);
    d.exclusivity_expires_at = Some(expires_at);
    d.extensions_granted += 1;
    set_reminder(d, now);
    let note_text = format!("protection extended to {}", iso(expires_at));
    record_transition(d, actor, now, d.status, &note_text);
    let saved = DEALS.update(&id, rec.revision, &rec.data)?;
    emit("extended", &id, &saved.data, actor, &note_text)?;
    to_partner(&saved.data, format!("Protection extended: {}", saved.data.input.customer_name), note_text, &id)?;
    Ok(saved)
}

/// The schedule: expires protection that has run out, reminds partners before it does, and reminds approvers
/// of deals past their SLA. Each pass handles a bounded batch; the next tick continues.
pub fn housekeeping(ctx: &Context) -> Result<(), Error> {
    let now = ctx.now_ms();
    let system = Actor::system();
    let batch = |field: &str, status: &str| {
        // The time range is the selective filter (only deals due by now), so it goes first.
        DEALS.query().all_orgs().range(field, None::<i64>, Some(now)).eq("status", status).limit(200).fetch::<Deal>()
    };
    for mut rec in batch("expires_at", "approved")?.records {
        let id = rec.id.clone();
        let d = &mut rec.data;
        release(&id, d)?;
        d.expires_at = None;
        d.remind_at = None;
        record_transition(d, &system, now, Status::Expired, "protection period ended");
        let saved = DEALS.update(&id, rec.revision, &rec.data)?;
        emit("expired", &id, &saved.data, &system, "protection period ended")?;
        to_partner(
            &saved.data,
            format!("Protection ended: {}", saved.data.input.customer_name),
            "The protection period of this registration has ended.".into(),
            &id,
        )?;
    }
    for mut rec in batch("remind_at", "approved")?.records {
        let id = rec.id.clone();
        rec.data.remind_at = None;
        let saved = DEALS.update(&id, rec.revision, &rec.data)?;
        let d = &saved.data;
        let mut body = format!("Protection of this registration ends on {}.", iso(d.expires_at.unwrap_or_default()));
        if d.policy.extension_policy != "none" {
            body.push_str(" You can ask for an extension on the deal's page.");
        }
        to_partner(d, format!("Protection ends soon: {}", d.input.customer_name), body, &id)?;
    }
    for mut rec in batch("due_at", "submitted")?.records.into_iter().filter(|r| !r.data.sla_reminded) {
        let id = rec.id.clone();
        rec.data.sla_reminded = true;
        let saved = DEALS.update(&id, rec.revision, &rec.data)?;
        let d = &saved.data;
        let step = d.approval.as_ref().and_then(|a| a.steps.get(a.approvals.len())).map(String::as_str);
        to_approvers(
            approver_roles(step),
            format!("Approval overdue: {}", d.input.customer_name),
            format!("{}'s registration has waited past its {} h SLA.", d.org_name, d.policy.sla_hours),
            &id,
        )?;
    }
    Ok(())
}

/// A stand-in deal for checking what a partner is typing against the registrations there are.
pub fn probe(checked: Checked, program: &str) -> Deal {
    Deal::draft(program, "", checked, 0)
}

/// A blank input for the form.
pub fn blank() -> Input {
    Input { currency: "USD".into(), ..Input::default() }
}

/// The connectors whose `crm.deal.changed` events deal registration applies: the bundled ones. Any plugin can
/// emit any topic, so the source is checked; another connector is trusted by adding its id here in a release.
pub const CRM_SOURCES: &[&str] = &["crm-salesforce", "crm-hubspot", "crm-dynamics"];

/// Refuses an event that is not from one of [`CRM_SOURCES`].
fn trusted_crm(source: &str) -> Result<(), Error> {
    if CRM_SOURCES.contains(&source) {
        Ok(())
    } else {
        Err(Error::Denied(format!("{source} is not a CRM connector deal registration trusts")))
    }
}

/// A change a CRM connector pulled from the CRM (`crm.deal.changed`): `{"deal_id", "changes": {"stage",
/// "amount", "close_date"}, "crm", "url"}`. A won or lost stage closes an approved deal through [`close`] (its
/// events, notifications and the end of protection, as when a manager closes it); amount and close date are
/// updated with a note on the timeline. Anything else, or a deal in another state, is left alone: the CRM may
/// not reopen, reject or withdraw a registration.
pub fn apply_crm_change(ctx: &Context, source: &str, payload: &Value) -> Result<(), Error> {
    trusted_crm(source)?;
    let Some(id) = payload["deal_id"].as_str() else { return Err(Error::invalid("deal_id", "is missing")) };
    let Some(mut rec) = DEALS.get::<Deal>(id)? else { return Ok(()) };
    let crm = payload["crm"].as_str().unwrap_or("the CRM");
    let actor = Actor::named(format!("{crm} sync"));
    let changes = &payload["changes"];
    let now = ctx.now_ms();
    let mut notes = Vec::new();
    {
        let d = &mut rec.data;
        if let Some(amount) = changes["amount"].as_f64().filter(|a| a.is_finite() && *a >= 0.0)
            && d.input.amount != Some(amount)
        {
            d.input.amount = Some(amount);
            notes.push(format!("amount changed in {crm} to {} {}", group_thousands(amount), d.input.currency));
        }
        if let Some(date) =
            changes["close_date"].as_str().filter(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
            && d.input.expected_close_date != date
        {
            d.input.expected_close_date = date.to_string();
            notes.push(format!("expected close date changed in {crm} to {date}"));
        }
        if !notes.is_empty() {
            let status = d.status;
            d.timeline.push(Transition {
                at: now,
                by_id: String::new(),
                by_name: actor.name.clone(),
                from: Some(status),
                to: status,
                note: notes.join("; "),
            });
        }
    }
    if !notes.is_empty() {
        rec = DEALS.update(id, rec.revision, &rec.data)?;
        emit("updated", id, &rec.data, &actor, &notes.join("; "))?;
    }
    let won = match changes["stage"].as_str() {
        Some("won") => true,
        Some("lost") => false,
        _ => return Ok(()),
    };
    if rec.data.status != Status::Approved {
        return Ok(());
    }
    let reason = format!("closed {} in {crm}", if won { "won" } else { "lost" });
    close(ctx, &actor, rec, won, Decision { reason, ..Default::default() })?;
    Ok(())
}

/// An opportunity a CRM connector imports for a partner (`crm.deal.import`): `{"crm_id", "crm", "url", "org_id",
/// "status": "approved" | "won" | "lost", "deal": {customer_name, customer_domain, country, amount,
/// expected_close_date, notes}}`. The deal is created once per opportunity (its id is derived from the
/// connector and the CRM id, so a repeated import changes nothing), owned by the partner, and remembers where it
/// came from so that the connector links it to the opportunity rather than creating another. An open
/// opportunity becomes an approved deal with the program's protection, unless another registration protects the
/// customer: then it waits for a manager's approval, its conflict shown. A closed one is recorded as won or lost.
/// What the CRM holds that the portal cannot use (a website that is no domain, a country that is no ISO code) is
/// left out rather than failing the import.
pub fn import_from_crm(ctx: &Context, source: &str, payload: &Value, s: &Settings) -> Result<(), Error> {
    trusted_crm(source)?;
    let text = |k: &str| payload[k].as_str().map(str::trim).filter(|v| !v.is_empty());
    let (Some(crm_id), Some(org_id)) = (text("crm_id"), text("org_id")) else {
        return Err(Error::invalid("crm_id", "an import names the opportunity and the partner"));
    };
    let id = format!("{source}-{crm_id}");
    if id.len() > 100 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::invalid("crm_id", "is not a CRM record id"));
    }
    if DEALS.get::<Deal>(&id)?.is_some() {
        return Ok(());
    }
    let Some(org) = directory::get_org(org_id)?.filter(|o| !o.is_vendor) else {
        log::warn(&format!("an import from {source} names no partner organisation ({org_id}): skipped"));
        return Ok(());
    };
    let program = ctx.program().ok_or_else(|| Error::Denied("deal registration is not enabled here".into()))?;
    let crm = text("crm").unwrap_or("the CRM").to_string();
    let mut input: Input = serde_json::from_value(payload["deal"].clone()).unwrap_or_default();
    input.products.clear();
    let checked = match crate::model::check(input.clone(), &s.products, false) {
        Ok(c) => c,
        Err(errors) => {
            for (field, _) in &errors {
                match *field {
                    "customer_domain" => input.customer_domain.clear(),
                    "country" => input.country.clear(),
                    "amount" => input.amount = None,
                    "currency" => input.currency.clear(),
                    "expected_close_date" => input.expected_close_date.clear(),
                    "notes" => input.notes = input.notes.chars().take(5000).collect(),
                    _ => {}
                }
            }
            crate::model::check(input, &s.products, false).map_err(|errors| {
                let (field, message) = errors.into_iter().next().unwrap_or(("deal", "is unreadable".into()));
                Error::invalid(field, message)
            })?
        }
    };
    let now = ctx.now_ms();
    let actor = Actor::named(format!("{crm} import"));
    let mut d = Deal::draft(program, "partner", checked, now);
    (d.org_id, d.org_name) = (org.id.clone(), org.name.clone());
    d.owner_name = actor.name.clone();
    d.crm_origin = Some(CrmOrigin {
        plugin: source.to_string(),
        id: crm_id.to_string(),
        crm: crm.clone(),
        url: text("url").unwrap_or_default().to_string(),
    });
    let (tier, _) = tier_of(&d.org_id, &d.program)?;
    d.policy = s.policy(tier.as_ref());
    d.registered_at = Some(now);
    d.submitted_at = Some(now);
    record_transition(&mut d, &actor, now, Status::Submitted, &format!("imported from {crm}"));
    let topic = match text("status") {
        Some(closed @ ("won" | "lost")) => {
            let to = if closed == "won" { Status::Won } else { Status::Lost };
            record_transition(&mut d, &actor, now, to, &format!("closed {closed} in {crm}"));
            closed
        }
        _ => {
            d.conflicts = find_conflicts(&id, &d, s.similarity_threshold, now)?;
            let expires_at = now + i64::from(d.policy.protection_days.max(1)) * DAY_MS;
            let holder = if d.domain.is_empty() { None } else { claim(&id, &d, expires_at, now)? };
            match holder {
                None => {
                    grant_protection(&mut d, now, expires_at);
                    record_transition(&mut d, &actor, now, Status::Approved, &format!("an opportunity in {crm}"));
                    "approved"
                }
                Some(holder) => {
                    if !d.conflicts.iter().any(|c| c.deal_id == holder) {
                        d.conflicts.push(Conflict { deal_id: holder, kinds: vec!["domain".into()], score: 1.0 });
                    }
                    d.due_at = Some(now + i64::from(d.policy.sla_hours) * HOUR_MS);
                    d.approval = Some(Approval {
                        mode: "single".into(),
                        steps: vec!["channel_manager".into()],
                        ..Default::default()
                    });
                    "submitted"
                }
            }
        }
    };
    // The partner's registration, counted as imported: approved, or closed as won or lost.
    channel::submitted(&id, &d, &actor.name)?;
    match topic {
        "approved" => channel::approved(&id, &d, &actor.name)?,
        closed @ ("won" | "lost") => channel::closed(&id, &mut d, closed == "won")?,
        _ => {}
    }
    let saved = DEALS.insert_with(Some(&id), Some(&org.id), &d)?;
    emit(topic, &id, &saved.data, &actor, &format!("imported from {crm}"))?;
    if topic == "submitted" {
        to_approvers(
            approver_roles(None),
            format!("Imported deal to approve: {}", saved.data.input.customer_name),
            format!("{crm} import for {}: another registration protects this customer.", saved.data.org_name),
            &id,
        )?;
    }
    Ok(())
}
