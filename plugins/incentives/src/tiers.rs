//! Standing and tier changes: each partner's figures against every criterion of its program, recomputed daily and
//! on demand; promotions and demotions proposed to a channel manager (or made at once when the program says so),
//! a grace period before a demotion, and every change applied through the host's directory and recorded with the
//! figures that justified it.

use std::collections::{BTreeMap, HashMap};

use portico_sdk::directory;
use portico_sdk::notify::{self, Audience, Notification};
use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Direction, Record};
use serde::{Deserialize, Serialize};

use crate::facts::FACTS;
use crate::model::{self, Criteria, Facts, Tier};

pub const CRITERIA: Collection = Collection::new("criteria");
pub const STANDINGS: Collection = Collection::new("standings");
pub const PROPOSALS: Collection = Collection::new("proposals");

/// The plugin's own event that carries a chunk of a program's recalculation.
pub const RECALC_TOPIC: &str = "incentives.recalc";
/// Partners per chunk: one query of facts and one of standings each.
pub const CHUNK: usize = 500;
const DAY_MS: i64 = 86_400_000;
/// After a manager rejects a proposal, the same change is not proposed again for this long.
const REJECTED_FOR_DAYS: i64 = 30;

/// A partner's standing in a program (record id `{program}:{org}`), with the criteria it was computed against,
/// so the partner's pages need nothing of the vendor's records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Standing {
    pub program: String,
    pub org_id: String,
    pub org_name: String,
    pub tier: String,
    pub tier_name: String,
    pub tier_rank: u32,
    /// The tier the figures qualify for.
    pub target: String,
    pub target_name: String,
    pub target_rank: u32,
    pub figures: BTreeMap<String, i64>,
    /// Currencies of won revenue not counted for want of an exchange rate.
    #[serde(default)]
    pub uncounted: Vec<String>,
    pub criteria: Criteria,
    pub tiers: Vec<Tier>,
    pub currency: String,
    /// Since when the figures have been below the current tier, and when the demotion falls due.
    #[serde(default)]
    pub below_since: Option<i64>,
    #[serde(default)]
    pub demotion_due: Option<i64>,
    /// The pending proposal, if any.
    #[serde(default)]
    pub proposal_id: Option<String>,
    /// A rejected change not to propose again before a time: (tier, until).
    #[serde(default)]
    pub suppressed: Option<(String, i64)>,
    pub computed_at: i64,
}

/// A proposed (or automatic) tier change and what justified it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Proposal {
    pub program: String,
    pub org_id: String,
    pub org_name: String,
    pub from: String,
    pub from_name: String,
    pub to: String,
    pub to_name: String,
    /// `promotion` or `demotion`.
    pub kind: String,
    pub figures: BTreeMap<String, i64>,
    pub reason: String,
    /// `pending`, `approved`, `rejected`, `applied` (automatic) or `superseded`.
    pub status: String,
    pub created_at: i64,
    #[serde(default)]
    pub decided_at: Option<i64>,
    #[serde(default)]
    pub decided_by: String,
    #[serde(default)]
    pub note: String,
}

/// A partner of a program as the directory lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
    pub tier: String,
}

pub fn standing_id(program: &str, org: &str) -> String {
    format!("{program}:{org}")
}

/// A program's tiers, lowest first.
pub fn tiers(program: &str) -> Result<Vec<Tier>, Error> {
    let p = directory::get_program(program)?.ok_or_else(|| Error::NotFound(format!("no program {program}")))?;
    Ok(p.tiers.into_iter().map(|t| Tier { key: t.key, name: t.name, rank: t.rank }).collect())
}

/// A figure as people read it: money in the program's currency, counts as numbers.
pub fn figure_text(key: &str, v: i64, currency: &str) -> String {
    if key == "won_revenue" { portico_money::format(v, currency) } else { portico_money::number(v, "JPY") }
}

/// Checks criteria as a manager entered them against the program's tiers.
pub fn check_criteria(c: &Criteria, tiers: &[Tier]) -> Result<(), Error> {
    if !(1..=36).contains(&c.rolling_months) {
        return Err(Error::invalid("rolling_months", "the rolling period is 1 to 36 months"));
    }
    if c.metrics.is_empty() {
        return Err(Error::invalid("metrics", "give at least one criterion"));
    }
    let mut seen = Vec::new();
    for m in &c.metrics {
        if !model::is_metric(&m.key) {
            return Err(Error::invalid("metrics", format!("{} is not a metric (custom ones are custom:key)", m.key)));
        }
        if seen.contains(&&m.key) {
            return Err(Error::invalid("metrics", format!("{} is listed twice", m.key)));
        }
        seen.push(&m.key);
        if m.label.trim().is_empty() || m.label.chars().count() > 80 {
            return Err(Error::invalid(
                &format!("label.{}", m.key),
                "give the criterion a label (up to 80 characters)",
            ));
        }
        for (tier, v) in &m.thresholds {
            if !tiers.iter().any(|t| &t.key == tier) {
                return Err(Error::invalid("metrics", format!("the program has no tier {tier}")));
            }
            if *v < 0 {
                return Err(Error::invalid(&format!("t.{}.{tier}", m.key), "a threshold is zero or more"));
            }
        }
    }
    Ok(())
}

/// Recalculates a whole program: the first chunk of its partners now, the others through the plugin's own event
/// (one chunk per delivery, so no call runs long). Returns how many partners the run covers.
pub fn recalculate_program(ctx: &Context, program: &str) -> Result<usize, Error> {
    let mut orgs: Vec<OrgRef> = directory::list_orgs(Some(program))?
        .into_iter()
        .filter(|o| !o.is_vendor)
        .filter_map(|o| {
            let tier = o.enrolments.iter().find(|e| e.program == program)?.tier.clone();
            Some(OrgRef { id: o.id, name: o.name, tier })
        })
        .collect();
    orgs.sort_by(|a, b| a.id.cmp(&b.id));
    let total = orgs.len();
    let mut chunks = orgs.chunks(CHUNK);
    if let Some(first) = chunks.next() {
        recalculate(ctx, program, first)?;
    }
    for chunk in chunks {
        portico_sdk::events::emit(RECALC_TOPIC, &json!({ "program": program, "orgs": chunk }))?;
    }
    Ok(total)
}

/// Recalculates one partner in every program it is in that has criteria: what changed its figures (a deal, a
/// certification, a custom metric) shows in its standing at once, not at the next daily run.
pub fn recalculate_org(ctx: &Context, org_id: &str, only: Option<&str>) -> Result<Vec<Record<Proposal>>, Error> {
    let Some(org) = directory::get_org(org_id)?.filter(|o| !o.is_vendor) else { return Ok(Vec::new()) };
    let mut made = Vec::new();
    for e in org.enrolments.iter().filter(|e| only.is_none_or(|p| p == e.program)) {
        let one = OrgRef { id: org.id.clone(), name: org.name.clone(), tier: e.tier.clone() };
        made.extend(recalculate(ctx, &e.program, std::slice::from_ref(&one))?);
    }
    Ok(made)
}

/// Recalculates some partners of a program and proposes (or makes) the tier changes they earn.
/// Returns the proposals made.
pub fn recalculate(ctx: &Context, program: &str, orgs: &[OrgRef]) -> Result<Vec<Record<Proposal>>, Error> {
    let Some(criteria) = CRITERIA.get::<Criteria>(program)?.map(|r| r.data) else { return Ok(Vec::new()) };
    let tiers = tiers(program)?;
    let ids: Vec<&str> = orgs.iter().map(|o| o.id.as_str()).collect();
    let facts: HashMap<String, Facts> = FACTS
        .query()
        .all_orgs()
        .one_of("org_id", ids.iter().copied())
        .limit(1000)
        .fetch::<Facts>()?
        .records
        .into_iter()
        .map(|r| (r.id, r.data))
        .collect();
    let sids: Vec<String> = ids.iter().map(|o| standing_id(program, o)).collect();
    let standings: HashMap<String, Record<Standing>> = STANDINGS
        .query()
        .all_orgs()
        .one_of("org_id", ids.iter().copied())
        .limit(1000)
        .fetch::<Standing>()?
        .records
        .into_iter()
        .filter(|r| sids.contains(&r.id))
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut made = Vec::new();
    for o in orgs {
        let sid = standing_id(program, &o.id);
        if let Some(p) = evaluate(ctx, &criteria, &tiers, o, facts.get(&o.id), standings.get(&sid), &sid)? {
            made.push(p);
        }
    }
    let pending = made.iter().filter(|p| p.data.status == "pending").count();
    if pending > 0 {
        notify::send(&Notification {
            audience: Audience::Vendor(vec![Role::VendorAdmin, Role::ChannelManager]),
            title: format!("{pending} tier change{} to approve", if pending == 1 { "" } else { "s" }),
            body: format!("The recalculation of the {program} program proposed tier changes."),
            link: Some(format!("{}/?program={program}", crate::web::BASE)),
            email: false,
        })?;
    }
    Ok(made)
}

/// The standing the figures give a partner, written when it changed, with the proposal it calls for.
fn evaluate(
    ctx: &Context,
    c: &Criteria,
    tiers: &[Tier],
    org: &OrgRef,
    facts: Option<&Facts>,
    existing: Option<&Record<Standing>>,
    sid: &str,
) -> Result<Option<Record<Proposal>>, Error> {
    let now = ctx.now_ms();
    let (figures, uncounted) = model::figures(c, facts, now, &c.rates());
    let Some(current) = tiers.iter().find(|t| t.key == org.tier) else { return Ok(None) };
    let Some(target) = model::target(c, tiers, &figures) else { return Ok(None) };
    let prev = existing.map(|r| r.data.clone());
    let mut st = prev.clone().unwrap_or_default();
    st.program = c.program.clone();
    st.org_id = org.id.clone();
    st.org_name = org.name.clone();
    (st.tier, st.tier_name, st.tier_rank) = (current.key.clone(), current.name.clone(), current.rank);
    (st.target, st.target_name, st.target_rank) = (target.key.clone(), target.name.clone(), target.rank);
    st.figures = figures.clone();
    st.uncounted = uncounted;
    st.criteria = c.clone();
    st.tiers = tiers.to_vec();
    st.currency = c.currency.clone();
    if st.suppressed.as_ref().is_some_and(|(_, until)| *until <= now) {
        st.suppressed = None;
    }
    // What the figures call for: a promotion at once, a demotion after the grace period, or nothing.
    let wanted = if target.rank > current.rank {
        st.below_since = None;
        st.demotion_due = None;
        Some("promotion")
    } else if target.rank < current.rank {
        let since = *st.below_since.get_or_insert(now);
        let due = since + c.grace_days.max(0) * DAY_MS;
        st.demotion_due = Some(due);
        (now >= due).then_some("demotion")
    } else {
        st.below_since = None;
        st.demotion_due = None;
        None
    };
    let pending = match &st.proposal_id {
        Some(id) => PROPOSALS.get::<Proposal>(id)?.filter(|p| p.data.status == "pending"),
        None => None,
    };
    let mut made = None;
    let same_pending = pending.as_ref().is_some_and(|p| p.data.to == target.key && p.data.from == current.key);
    if !same_pending {
        if let Some(p) = pending {
            let mut d = p.data.clone();
            d.status = "superseded".into();
            d.decided_at = Some(now);
            PROPOSALS.update(&p.id, p.revision, &d)?;
            st.proposal_id = None;
        }
        let suppressed = st.suppressed.as_ref().is_some_and(|(t, _)| t == &target.key);
        if let Some(kind) = wanted.filter(|_| !suppressed) {
            let p = Proposal {
                program: c.program.clone(),
                org_id: org.id.clone(),
                org_name: org.name.clone(),
                from: current.key.clone(),
                from_name: current.name.clone(),
                to: target.key.clone(),
                to_name: target.name.clone(),
                kind: kind.into(),
                reason: model::reason(c, if kind == "promotion" { target } else { current }, &figures, |k, v| {
                    figure_text(k, v, &c.currency)
                }),
                figures,
                status: "pending".into(),
                created_at: now,
                ..Default::default()
            };
            let rec = PROPOSALS.insert_with(None, Some(&org.id), &p)?;
            if c.automatic {
                st.proposal_id = None;
                made = Some(apply(rec, "automatic", "the program changes tiers automatically", &mut st, now)?);
            } else {
                st.proposal_id = Some(rec.id.clone());
                made = Some(rec);
            }
        }
    }
    let changed = prev.as_ref().is_none_or(|p| {
        serde_json::to_value(p).ok() != serde_json::to_value(Standing { computed_at: p.computed_at, ..st.clone() }).ok()
    });
    if changed {
        st.computed_at = now;
        match existing {
            Some(r) => STANDINGS.update(sid, r.revision, &st)?,
            None => STANDINGS.insert_with(Some(sid), Some(&org.id), &st)?,
        };
    }
    Ok(made)
}

/// Moves the partner to the proposal's tier through the directory and records who did it and why.
fn apply(
    mut p: Record<Proposal>,
    by: &str,
    note: &str,
    st: &mut Standing,
    now: i64,
) -> Result<Record<Proposal>, Error> {
    directory::set_tier(&p.data.org_id, &p.data.program, &p.data.to)?;
    p.data.status = if by == "automatic" { "applied".into() } else { "approved".into() };
    p.data.decided_at = Some(now);
    p.data.decided_by = by.into();
    p.data.note = note.into();
    let saved = PROPOSALS.update(&p.id, p.revision, &p.data)?;
    if let Some(t) = st.tiers.iter().find(|t| t.key == p.data.to) {
        (st.tier, st.tier_name, st.tier_rank) = (t.key.clone(), t.name.clone(), t.rank);
    }
    st.proposal_id = None;
    st.below_since = None;
    st.demotion_due = None;
    let d = &saved.data;
    let (title, body) = if d.kind == "promotion" {
        (
            format!("Welcome to {}", d.to_name),
            format!("Your company moved up from {} to {}. {}.", d.from_name, d.to_name, d.reason),
        )
    } else {
        (
            format!("Your tier is now {}", d.to_name),
            format!("Your company moved from {} to {}. {}.", d.from_name, d.to_name, d.reason),
        )
    };
    notify::send(&Notification {
        audience: Audience::Org((d.org_id.clone(), vec![Role::PartnerAdmin])),
        title,
        body,
        link: Some(format!("{}/", crate::web::BASE)),
        email: true,
    })?;
    Ok(saved)
}

/// A manager's decision on a pending proposal: approve (the tier changes now) or reject (with a note; the same
/// change is not proposed again for 30 days).
pub fn decide(ctx: &Context, id: &str, approve: bool, by: &str, note: &str) -> Result<Record<Proposal>, Error> {
    let p = PROPOSALS.get::<Proposal>(id)?.ok_or_else(|| Error::NotFound("no such proposal".into()))?;
    if p.data.status != "pending" {
        return Err(Error::Conflict(format!("this proposal is {} already", p.data.status)));
    }
    let now = ctx.now_ms();
    let sid = standing_id(&p.data.program, &p.data.org_id);
    let srec = STANDINGS.get::<Standing>(&sid)?;
    let mut st = srec.as_ref().map(|r| r.data.clone()).unwrap_or_default();
    let saved = if approve {
        let current = crate::rewards::tier_of(&p.data.org_id, &p.data.program)?.map(|(k, _)| k);
        if current.as_deref() != Some(p.data.from.as_str()) {
            return Err(Error::Conflict(format!(
                "{} is no longer {}: recalculate for a fresh proposal",
                p.data.org_name, p.data.from_name
            )));
        }
        if st.tiers.is_empty() {
            st.tiers = tiers(&p.data.program)?;
        }
        apply(p, by, note.trim(), &mut st, now)?
    } else {
        if note.trim().is_empty() || note.chars().count() > 1000 {
            return Err(Error::invalid("note", "say why the change is rejected (up to 1,000 characters)"));
        }
        let mut d = p.data.clone();
        d.status = "rejected".into();
        d.decided_at = Some(now);
        d.decided_by = by.into();
        d.note = note.trim().into();
        st.proposal_id = None;
        st.suppressed = Some((d.to.clone(), now + REJECTED_FOR_DAYS * DAY_MS));
        PROPOSALS.update(&p.id, p.revision, &d)?
    };
    if let Some(r) = srec {
        STANDINGS.update(&sid, r.revision, &st)?;
    }
    Ok(saved)
}

/// Proposals of a program with a status, newest first.
pub fn proposals(program: &str, status: Option<&str>, org: Option<&str>) -> Result<Vec<Record<Proposal>>, Error> {
    let mut q = PROPOSALS.query().order_by("created_at", Direction::Desc).limit(200);
    q = match org {
        Some(o) => q.org(o),
        None => q.all_orgs(),
    };
    if let Some(s) = status {
        q = q.eq("status", s);
    }
    Ok(q.fetch::<Proposal>()?.records.into_iter().filter(|p| p.data.program == program).collect())
}

/// The recalculation the plugin's own event carries.
pub fn on_recalc_chunk(ctx: &Context, event: &Event) -> Result<(), Error> {
    let p: portico_sdk::Value = portico_sdk::events::payload(event)?;
    let program = p["program"].as_str().ok_or_else(|| Error::internal("a recalculation without its program"))?;
    let orgs: Vec<OrgRef> = serde_json::from_value(p["orgs"].clone()).map_err(Error::internal)?;
    recalculate(ctx, program, &orgs)?;
    Ok(())
}

/// The daily schedule: every program with criteria.
pub fn daily(ctx: &Context) -> Result<(), Error> {
    for c in CRITERIA.query().limit(200).fetch::<Criteria>()?.records {
        recalculate_program(ctx, &c.id)?;
    }
    Ok(())
}
