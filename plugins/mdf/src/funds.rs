//! The records and what happens to them: budgets and their buckets, requests through their approvals, claims
//! and their payments, and the ledger every movement of money writes.

use std::collections::BTreeMap;

use portico_sdk::directory;
use portico_sdk::files;
use portico_sdk::notify::{self, Audience, Notification};
use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Direction, Record};
use portico_sdk::{Value, events};
use serde::{Deserialize, Serialize};

use crate::ledger::{Kind, Totals, reimbursable};
use crate::money::{self, format};

pub const BUDGETS: Collection = Collection::new("budgets");
pub const BALANCES: Collection = Collection::new("balances");
pub const LEDGER: Collection = Collection::new("ledger");
pub const REQUESTS: Collection = Collection::new("requests");
pub const CLAIMS: Collection = Collection::new("claims");

pub const DAY_MS: i64 = 86_400_000;
/// Attempts at a balance another approval changed in between, before giving up with "try again".
const RETRIES: usize = 8;

/// Who acts.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
}

impl Actor {
    pub fn of(ctx: &Context) -> Result<Actor, Error> {
        let c = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
        Ok(Actor {
            id: c.user_id.clone(),
            name: c.name.clone(),
            org_id: c.org_id.clone(),
            org_name: c.org_name.clone(),
            role: c.role,
        })
    }

    pub fn staff(&self) -> bool {
        matches!(self.role, Role::VendorAdmin | Role::ChannelManager)
    }

    pub fn staff_only(&self, what: &str) -> Result<(), Error> {
        if self.staff() { Ok(()) } else { Err(Error::Denied(format!("only the vendor's staff {what}"))) }
    }
}

/// How a budget's funds are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Each partner has its own amount.
    #[default]
    Allocated,
    /// A pool per tier, each partner up to a cap.
    Pooled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Allocation {
    pub org_id: String,
    pub org_name: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Pool {
    pub tier: String,
    pub amount: i64,
    /// The most one partner may reserve from the pool.
    pub cap: i64,
}

/// A budget: one program, one period, one currency, one fund type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Budget {
    pub name: String,
    pub program: String,
    pub currency: String,
    /// The fund type and the share of a cost it reimburses (5–100 %).
    pub fund: String,
    pub pct: u32,
    pub starts_at: i64,
    pub ends_at: i64,
    /// Days after an activity's end a claim may be filed.
    pub claim_days: i64,
    /// Approvals above this (minor units) need a second approver, a vendor admin; 0: never.
    pub second_above: i64,
    pub mode: Mode,
    pub allocations: Vec<Allocation>,
    pub pools: Vec<Pool>,
    pub expired: bool,
    pub created_by: String,
}

/// A bucket's running totals: a partner's allocation, a tier's pool, or a partner's use of a pool (its cap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Balance {
    pub budget_id: String,
    pub bucket: String,
    pub totals: Totals,
}

/// One movement of money.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Entry {
    pub budget_id: String,
    pub bucket: String,
    pub org_id: String,
    pub kind: String,
    pub amount: i64,
    pub currency: String,
    pub request_id: Option<String>,
    pub claim_id: Option<String>,
    pub note: String,
    pub by: String,
    pub at: i64,
}

fn bucket_id(budget: &str, bucket: &str) -> String {
    format!("{budget}:{bucket}")
}

/// The buckets a partner's reservation moves: its allocation, or its tier's pool and its own use of it.
fn buckets(b: &Record<Budget>, org_id: &str, tier: Option<&str>) -> Result<Vec<String>, Error> {
    match b.data.mode {
        Mode::Allocated => {
            if b.data.allocations.iter().any(|a| a.org_id == org_id) {
                Ok(vec![format!("org:{org_id}")])
            } else {
                Err(Error::invalid("budget_id", "This budget has no allocation for your organisation."))
            }
        }
        Mode::Pooled => match tier {
            Some(t) if b.data.pools.iter().any(|p| p.tier == t) => {
                Ok(vec![format!("tier:{t}"), format!("use:{org_id}")])
            }
            _ => Err(Error::invalid("budget_id", "This budget has no pool for your tier.")),
        },
    }
}

/// Moves `amount` of `kind` through every bucket at once, or not at all: each balance is written only if no other
/// call changed it since it was read (a conflict is read again and retried), and an entry is written per bucket.
/// A movement that would take a bucket below zero is refused with what is left.
#[allow(clippy::too_many_arguments)]
pub fn post(
    ctx: &Context,
    b: &Record<Budget>,
    bucket_names: &[String],
    org_id: &str,
    kind: Kind,
    amount: i64,
    refs: (Option<&str>, Option<&str>),
    note: &str,
    by: &str,
) -> Result<(), Error> {
    let cur = &b.data.currency;
    'attempt: for _ in 0..RETRIES {
        let mut writes = Vec::new();
        for name in bucket_names {
            let id = bucket_id(&b.id, name);
            let Some(r) = BALANCES.get::<Balance>(&id)? else {
                return Err(Error::internal(format!("no balance {id}")));
            };
            let next = r.data.totals.apply(kind, amount).map_err(|_| {
                let left = r.data.totals.available();
                let what = if name.starts_with("use:") { "your cap in this pool" } else { "the budget" };
                Error::Conflict(match kind {
                    Kind::Reservation => {
                        format!("{what} has {} left; this needs {}", format(left.max(0), cur), format(amount, cur))
                    }
                    _ => {
                        format!("{} of {} cannot be moved: {what} does not hold it", kind.label(), format(amount, cur))
                    }
                })
            })?;
            writes.push((r, next));
        }
        for (r, next) in &writes {
            let mut d = r.data.clone();
            d.totals = *next;
            match BALANCES.update(&r.id, r.revision, &d) {
                Ok(_) => {}
                // Another approval changed it in between: read everything again (nothing of this attempt was
                // written unless an earlier bucket was, which the whole call then undoes by failing).
                Err(Error::Conflict(_)) if writes.first().is_some_and(|(f, _)| f.id == r.id) => continue 'attempt,
                Err(e) => return Err(e),
            }
        }
        for name in bucket_names {
            LEDGER.insert_with(
                None,
                Some(org_id).filter(|o| !o.is_empty()),
                &Entry {
                    budget_id: b.id.clone(),
                    bucket: name.clone(),
                    org_id: org_id.into(),
                    kind: kind.label().into(),
                    amount,
                    currency: cur.clone(),
                    request_id: refs.0.map(String::from),
                    claim_id: refs.1.map(String::from),
                    note: note.into(),
                    by: by.into(),
                    at: ctx.now_ms(),
                },
            )?;
        }
        return Ok(());
    }
    Err(Error::Conflict("many approvals are changing this budget at once: try again".into()))
}

/// What staff send to create a budget.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BudgetFields {
    pub name: String,
    pub program: String,
    pub currency: String,
    pub fund: String,
    pub pct: u32,
    /// `2027-01-01`.
    pub starts: String,
    pub ends: String,
    pub claim_days: Option<i64>,
    /// Amounts as people type them ("12,500.00"); empty: no second approval.
    #[serde(deserialize_with = "crate::money::text")]
    pub second_above: String,
    pub mode: Mode,
    pub allocations: Vec<AllocationFields>,
    pub pools: Vec<PoolFields>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AllocationFields {
    pub org_id: String,
    /// Instead of the id: the partner's name, as the directory has it.
    pub org_name: String,
    #[serde(deserialize_with = "crate::money::text")]
    pub amount: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PoolFields {
    pub tier: String,
    #[serde(deserialize_with = "crate::money::text")]
    pub amount: String,
    #[serde(deserialize_with = "crate::money::text")]
    pub cap: String,
}

pub fn date_ms(field: &str, s: &str) -> Result<i64, Error> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
        .ok_or_else(|| Error::invalid(field, "Give a date like 2027-03-31."))
}

pub fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%-d %B %Y").to_string()).unwrap_or_default()
}

/// Staff create a budget; its allocations or pools are allocated in the ledger at once.
pub fn create_budget(ctx: &Context, actor: &Actor, f: BudgetFields) -> Result<Record<Budget>, Error> {
    actor.staff_only("create budgets")?;
    if f.name.trim().is_empty() {
        return Err(Error::invalid("name", "Name the budget."));
    }
    let program = directory::get_program(&f.program)?.ok_or_else(|| Error::invalid("program", "Choose a program."))?;
    let currency =
        money::currency(&f.currency).ok_or_else(|| Error::invalid("currency", "Give a currency code like USD."))?;
    if !(5..=100).contains(&f.pct) {
        return Err(Error::invalid("pct", "A fund reimburses 5 to 100 % of a cost."));
    }
    let (starts_at, ends_at) = (date_ms("starts", &f.starts)?, date_ms("ends", &f.ends)? + DAY_MS - 1);
    if ends_at <= starts_at {
        return Err(Error::invalid("ends", "The period ends after it starts."));
    }
    let amount = |field: &str, s: &str| money::parse(s, &currency).map_err(|m| Error::invalid(field, m));
    let second_above = match f.second_above.trim() {
        "" => 0,
        s => amount("second_above", s)?,
    };
    let mut b = Budget {
        name: f.name.trim().into(),
        program: program.key.clone(),
        currency: currency.clone(),
        fund: if f.fund.trim().is_empty() { "Co-op marketing".into() } else { f.fund.trim().into() },
        pct: f.pct,
        starts_at,
        ends_at,
        claim_days: f.claim_days.unwrap_or(60).clamp(1, 365),
        second_above,
        mode: f.mode,
        created_by: actor.name.clone(),
        ..Default::default()
    };
    match f.mode {
        Mode::Allocated => {
            let members = directory::list_orgs(Some(&program.key))?;
            for (i, a) in f.allocations.iter().enumerate() {
                let org = members
                    .iter()
                    .find(|o| {
                        !o.is_vendor && (o.id == a.org_id || (a.org_id.is_empty() && o.name == a.org_name.trim()))
                    })
                    .cloned()
                    .ok_or_else(|| {
                        Error::invalid(&format!("allocations[{i}].org_id"), "Choose a partner of the program.")
                    })?;
                if b.allocations.iter().any(|x| x.org_id == org.id) {
                    return Err(Error::invalid(
                        &format!("allocations[{i}].org_id"),
                        format!("{} is allocated twice.", org.name),
                    ));
                }
                b.allocations.push(Allocation {
                    org_id: org.id,
                    org_name: org.name,
                    amount: amount(&format!("allocations[{i}].amount"), &a.amount)?,
                });
            }
            if b.allocations.is_empty() {
                return Err(Error::invalid("allocations", "Allocate funds to at least one partner."));
            }
        }
        Mode::Pooled => {
            for (i, p) in f.pools.iter().enumerate() {
                if !program.tiers.iter().any(|t| t.key == p.tier) {
                    return Err(Error::invalid(&format!("pools[{i}].tier"), "Choose a tier of the program."));
                }
                let pool = Pool {
                    tier: p.tier.clone(),
                    amount: amount(&format!("pools[{i}].amount"), &p.amount)?,
                    cap: amount(&format!("pools[{i}].cap"), &p.cap)?,
                };
                if pool.cap <= 0 || pool.cap > pool.amount {
                    return Err(Error::invalid(
                        &format!("pools[{i}].cap"),
                        "A partner's cap is above zero and at most the pool.",
                    ));
                }
                b.pools.push(pool);
            }
            if b.pools.is_empty() {
                return Err(Error::invalid("pools", "Give at least one tier a pool."));
            }
        }
    }
    let r = BUDGETS.insert(&b)?;
    let mut grants: Vec<(String, String, i64)> =
        b.allocations.iter().map(|a| (format!("org:{}", a.org_id), a.org_id.clone(), a.amount)).collect();
    grants.extend(b.pools.iter().map(|p| (format!("tier:{}", p.tier), String::new(), p.amount)));
    for (bucket, org, amount) in grants {
        BALANCES.insert_with(
            Some(&bucket_id(&r.id, &bucket)),
            None,
            &Balance { budget_id: r.id.clone(), bucket: bucket.clone(), totals: Totals::default() },
        )?;
        if amount > 0 {
            post(ctx, &r, &[bucket], &org, Kind::Allocation, amount, (None, None), "allocated", &actor.name)?;
            crate::channel::allocated(Some(&org), amount, &currency)?;
        }
    }
    Ok(r)
}

/// What staff send to add funds to a budget: a partner (by id or name) of an allocated budget, or a tier of a
/// pooled one, and the amount.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TopUp {
    pub org_id: String,
    pub org_name: String,
    pub tier: String,
    #[serde(deserialize_with = "crate::money::text")]
    pub amount: String,
}

/// Staff add funds to a running budget: to a partner's allocation (a partner of the program not allocated yet gets
/// one) or to a tier's pool; an allocation entry in the ledger, and the budget's record of what was allocated.
pub fn top_up(ctx: &Context, actor: &Actor, id: &str, f: TopUp) -> Result<Record<Budget>, Error> {
    actor.staff_only("add funds")?;
    let b = budget(actor, id)?;
    if b.data.expired || ctx.now_ms() > b.data.ends_at {
        return Err(Error::Conflict("this budget's period is over".into()));
    }
    let amount = money::parse(&f.amount, &b.data.currency).map_err(|m| Error::invalid("amount", m))?;
    if amount <= 0 {
        return Err(Error::invalid("amount", "Add an amount above zero."));
    }
    let mut d = b.data.clone();
    let (bucket, org) = match d.mode {
        Mode::Allocated => {
            let org = directory::list_orgs(Some(&d.program))?
                .into_iter()
                .find(|o| !o.is_vendor && (o.id == f.org_id || (f.org_id.is_empty() && o.name == f.org_name.trim())))
                .ok_or_else(|| Error::invalid("org_id", "Choose a partner of the program."))?;
            match d.allocations.iter_mut().find(|a| a.org_id == org.id) {
                Some(a) => a.amount += amount,
                None => d.allocations.push(Allocation { org_id: org.id.clone(), org_name: org.name.clone(), amount }),
            }
            (format!("org:{}", org.id), org.id)
        }
        Mode::Pooled => {
            let pool = d
                .pools
                .iter_mut()
                .find(|p| p.tier == f.tier)
                .ok_or_else(|| Error::invalid("tier", "Choose a tier with a pool in this budget."))?;
            pool.amount += amount;
            (format!("tier:{}", f.tier), String::new())
        }
    };
    let bal = bucket_id(&b.id, &bucket);
    if BALANCES.get::<Balance>(&bal)?.is_none() {
        BALANCES.insert_with(
            Some(&bal),
            None,
            &Balance { budget_id: b.id.clone(), bucket: bucket.clone(), totals: Totals::default() },
        )?;
    }
    let out = BUDGETS.update(&b.id, b.revision, &d)?;
    post(ctx, &out, &[bucket], &org, Kind::Allocation, amount, (None, None), "added", &actor.name)?;
    crate::channel::allocated(Some(&org), amount, &out.data.currency)?;
    Ok(out)
}

/// A partner's use of a pool, made on its first request (its "allocation" is the cap).
fn ensure_use(ctx: &Context, b: &Record<Budget>, org_id: &str, tier: &str) -> Result<(), Error> {
    let id = bucket_id(&b.id, &format!("use:{org_id}"));
    if BALANCES.get::<Balance>(&id)?.is_some() {
        return Ok(());
    }
    let cap = b.data.pools.iter().find(|p| p.tier == tier).map(|p| p.cap).unwrap_or(0);
    match BALANCES.insert_with(
        Some(&id),
        None,
        &Balance { budget_id: b.id.clone(), bucket: format!("use:{org_id}"), totals: Totals::default() },
    ) {
        Ok(_) => post(ctx, b, &[format!("use:{org_id}")], org_id, Kind::Allocation, cap, (None, None), "cap", "system"),
        // Made by a call at the same moment.
        Err(Error::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The buckets an approved request's reservation is held in.
fn held_in(b: &Record<Budget>, r: &Record<Request>) -> Result<Vec<String>, Error> {
    if !r.data.buckets.is_empty() {
        return Ok(r.data.buckets.clone());
    }
    let org = r.org_id.clone().unwrap_or_default();
    buckets(b, &org, tier_of(&org, &b.data.program)?.as_deref())
}

/// A partner's tier in a program.
fn tier_of(org_id: &str, program: &str) -> Result<Option<String>, Error> {
    Ok(directory::get_org(org_id)?
        .and_then(|o| o.enrolments.into_iter().find(|e| e.program == program))
        .map(|e| e.tier))
}

/// Which budgets the actor may see: staff every one; a partner those of its programs that hold funds for it (an
/// allocation of its own, or a pool for its tier).
fn visible_to(actor: &Actor) -> Result<impl Fn(&Record<Budget>) -> bool, Error> {
    let tiers: Option<BTreeMap<String, String>> = if actor.staff() {
        None
    } else {
        let org = directory::get_org(&actor.org_id)?;
        Some(org.map(|o| o.enrolments.into_iter().map(|e| (e.program, e.tier)).collect()).unwrap_or_default())
    };
    let org_id = actor.org_id.clone();
    Ok(move |b: &Record<Budget>| match (&tiers, b.data.mode) {
        (None, _) => true,
        (Some(_), Mode::Allocated) => b.data.allocations.iter().any(|a| a.org_id == org_id),
        (Some(t), Mode::Pooled) => t.get(&b.data.program).is_some_and(|t| b.data.pools.iter().any(|p| &p.tier == t)),
    })
}

/// The budgets the actor may see.
pub fn budgets(actor: &Actor) -> Result<Vec<Record<Budget>>, Error> {
    let visible = visible_to(actor)?;
    Ok(BUDGETS.query().all_orgs().limit(500).fetch::<Budget>()?.records.into_iter().filter(|b| visible(b)).collect())
}

/// A budget the actor may see; else not found.
pub fn budget(actor: &Actor, id: &str) -> Result<Record<Budget>, Error> {
    let visible = visible_to(actor)?;
    BUDGETS.get::<Budget>(id)?.filter(|b| visible(b)).ok_or_else(|| Error::NotFound(format!("no budget {id}")))
}

/// What a partner organisation has in a budget: available to request, reserved, reimbursed.
#[derive(Debug, Clone, Serialize)]
pub struct OrgFunds {
    pub budget_id: String,
    pub budget: String,
    pub currency: String,
    pub available: i64,
    pub reserved: i64,
    pub reimbursed: i64,
}

/// A partner organisation's funds in every budget that holds some for it (one currency per budget; never added
/// across currencies).
pub fn balance(org_id: &str) -> Result<Vec<OrgFunds>, Error> {
    let actor = Actor {
        id: String::new(),
        name: String::new(),
        org_id: org_id.into(),
        org_name: String::new(),
        role: Role::PartnerUser,
    };
    let mut out = Vec::new();
    for b in budgets(&actor)? {
        if b.data.expired {
            continue;
        }
        let get = |bucket: String| -> Result<Totals, Error> {
            Ok(BALANCES.get::<Balance>(&bucket_id(&b.id, &bucket))?.map(|r| r.data.totals).unwrap_or_default())
        };
        let (available, own) = match b.data.mode {
            Mode::Allocated => {
                let t = get(format!("org:{org_id}"))?;
                (t.available(), t)
            }
            Mode::Pooled => {
                let tier = tier_of(org_id, &b.data.program)?.unwrap_or_default();
                let pool = get(format!("tier:{tier}"))?;
                let cap = b.data.pools.iter().find(|p| p.tier == tier).map(|p| p.cap).unwrap_or(0);
                let used = BALANCES.get::<Balance>(&bucket_id(&b.id, &format!("use:{org_id}")))?.map(|r| r.data.totals);
                let mine = used.map(|t| t.available()).unwrap_or(cap);
                (mine.min(pool.available()), used.unwrap_or_default())
            }
        };
        out.push(OrgFunds {
            budget_id: b.id.clone(),
            budget: b.data.name.clone(),
            currency: b.data.currency.clone(),
            available,
            reserved: own.outstanding(),
            reimbursed: own.reimbursed,
        });
    }
    Ok(out)
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Draft,
    Submitted,
    /// Approved by a channel manager; above the program's limit it waits for a vendor admin.
    AwaitingSecond,
    /// Funds reserved.
    Approved,
    Returned,
    Rejected,
    Cancelled,
    /// Its claim was paid and the rest released.
    Closed,
}

/// A request for funds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Request {
    pub budget_id: String,
    pub budget_name: String,
    pub currency: String,
    /// One of [`ACTIVITY_TYPES`].
    pub activity_type: String,
    pub activity: String,
    pub description: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub total_cost: i64,
    pub own_share: i64,
    pub expected_leads: u32,
    pub expected_pipeline: i64,
    pub asked: i64,
    pub approved: i64,
    pub status: Status,
    pub org_name: String,
    pub user_id: String,
    pub user_name: String,
    pub first_approver: Option<String>,
    pub first_approver_name: String,
    pub note: String,
    pub history: Vec<Step>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Approved funds a partner's cancellation gave back, released by [`release_cancelled`].
    pub pending_release: i64,
    /// The buckets its reservation was taken from (a release goes back there, whatever the partner's tier is by
    /// then).
    pub buckets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Step {
    pub at: i64,
    pub by: String,
    pub what: String,
}

/// The kinds of activity funds pay for.
pub const ACTIVITY_TYPES: [&str; 7] =
    ["Event", "Webinar", "Digital campaign", "Trade show", "Print", "Training", "Other"];

/// What a partner sends for a request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RequestFields {
    pub budget_id: String,
    pub activity_type: String,
    pub activity: String,
    pub description: String,
    pub starts: String,
    pub ends: String,
    #[serde(deserialize_with = "crate::money::text")]
    pub total_cost: String,
    #[serde(deserialize_with = "crate::money::text")]
    pub own_share: String,
    #[serde(deserialize_with = "crate::money::count")]
    pub expected_leads: Option<u32>,
    #[serde(deserialize_with = "crate::money::text")]
    pub expected_pipeline: String,
    #[serde(deserialize_with = "crate::money::text")]
    pub asked: String,
}

fn apply_fields(r: &mut Request, f: &RequestFields, b: &Budget) -> Result<(), Error> {
    let cur = &b.currency;
    let amount = |field: &str, s: &str| money::parse(s, cur).map_err(|m| Error::invalid(field, m));
    if f.activity.trim().is_empty() {
        return Err(Error::invalid("activity", "Say what the activity is (an event, a campaign, a webinar…)."));
    }
    if !ACTIVITY_TYPES.contains(&f.activity_type.as_str()) {
        return Err(Error::invalid(
            "activity_type",
            format!("Choose the kind of activity: {}.", ACTIVITY_TYPES.join(", ")),
        ));
    }
    r.activity_type = f.activity_type.clone();
    r.activity = f.activity.trim().chars().take(120).collect();
    r.description = f.description.trim().chars().take(4000).collect();
    r.starts_at = date_ms("starts", &f.starts)?;
    r.ends_at = date_ms("ends", &f.ends)? + DAY_MS - 1;
    if r.ends_at < r.starts_at {
        return Err(Error::invalid("ends", "The activity ends after it starts."));
    }
    if r.starts_at < b.starts_at || r.ends_at > b.ends_at {
        return Err(Error::invalid(
            "starts",
            format!("The activity falls within the budget's period, {} to {}.", date(b.starts_at), date(b.ends_at)),
        ));
    }
    r.total_cost = amount("total_cost", &f.total_cost)?;
    r.own_share = if f.own_share.trim().is_empty() { 0 } else { amount("own_share", &f.own_share)? };
    r.expected_leads = f.expected_leads.unwrap_or(0);
    r.expected_pipeline =
        if f.expected_pipeline.trim().is_empty() { 0 } else { amount("expected_pipeline", &f.expected_pipeline)? };
    r.asked = amount("asked", &f.asked)?;
    if r.asked <= 0 {
        return Err(Error::invalid("asked", "Ask for an amount above zero."));
    }
    let most = money::percent_of(r.total_cost - r.own_share, b.pct).min(money::percent_of(r.total_cost, b.pct));
    if r.own_share > r.total_cost {
        return Err(Error::invalid("own_share", "Your own share is part of the total cost."));
    }
    if r.asked > most {
        return Err(Error::invalid(
            "asked",
            format!(
                "This fund reimburses {} % of the cost beyond your own share: at most {}.",
                b.pct,
                format(most, cur)
            ),
        ));
    }
    Ok(())
}

pub fn create_request(ctx: &Context, actor: &Actor, f: RequestFields, submit: bool) -> Result<Record<Request>, Error> {
    if actor.staff() {
        return Err(Error::Denied("partners request funds".into()));
    }
    let b = budget(actor, &f.budget_id)
        .map_err(|_| Error::invalid("budget_id", "Choose a budget that holds funds for you."))?;
    if b.data.expired || ctx.now_ms() > b.data.ends_at {
        return Err(Error::invalid("budget_id", "This budget's period is over."));
    }
    let mut r = Request {
        budget_id: b.id.clone(),
        budget_name: b.data.name.clone(),
        currency: b.data.currency.clone(),
        org_name: actor.org_name.clone(),
        user_id: actor.id.clone(),
        user_name: actor.name.clone(),
        created_at: ctx.now_ms(),
        updated_at: ctx.now_ms(),
        ..Default::default()
    };
    apply_fields(&mut r, &f, &b.data)?;
    r.history.push(Step { at: ctx.now_ms(), by: actor.name.clone(), what: "drafted".into() });
    let rec = REQUESTS.insert(&r)?;
    if submit { transition(ctx, actor, &rec.id, Action::Submit, None, "") } else { Ok(rec) }
}

pub fn update_request(ctx: &Context, actor: &Actor, id: &str, f: RequestFields) -> Result<Record<Request>, Error> {
    let r = request(actor, id)?;
    if actor.staff() || !matches!(r.data.status, Status::Draft | Status::Returned) {
        return Err(Error::Conflict("only a draft or a returned request can be changed, by its partner".into()));
    }
    let b = BUDGETS.get::<Budget>(&r.data.budget_id)?.ok_or_else(|| Error::NotFound("the budget".into()))?;
    let mut d = r.data.clone();
    let f = RequestFields { budget_id: r.data.budget_id.clone(), ..f };
    apply_fields(&mut d, &f, &b.data)?;
    d.updated_at = ctx.now_ms();
    REQUESTS.update(id, r.revision, &d)
}

/// A request the actor may see: staff any; a partner its organisation's. Else not found.
pub fn request(actor: &Actor, id: &str) -> Result<Record<Request>, Error> {
    match REQUESTS.get::<Request>(id)? {
        Some(r) if actor.staff() || r.org_id.as_deref() == Some(actor.org_id.as_str()) => Ok(r),
        _ => Err(Error::NotFound(format!("no request {id}"))),
    }
}

pub fn requests(actor: &Actor, status: Option<&str>) -> Result<Vec<Record<Request>>, Error> {
    let q = REQUESTS.query();
    let q = match status {
        Some(s) => q.eq("status", s),
        None => q.order_by("updated_at", Direction::Desc),
    };
    let q = if actor.staff() { q.all_orgs() } else { q };
    let mut v = q.limit(500).fetch::<Request>()?.records;
    v.sort_by_key(|r| std::cmp::Reverse(r.data.updated_at));
    Ok(v)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Submit,
    Approve,
    Reject,
    Return,
    Cancel,
}

/// Moves a request on. Approval by amount: a channel manager or vendor admin approves (in full or in part); above
/// the budget's limit a second approver, a vendor admin other than the first, approves too; the approved amount is
/// reserved at the final approval, at once, or the approval is refused with what is left.
pub fn transition(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    action: Action,
    amount: Option<&str>,
    note: &str,
) -> Result<Record<Request>, Error> {
    let r = request(actor, id)?;
    let mut d = r.data.clone();
    let b = BUDGETS.get::<Budget>(&d.budget_id)?.ok_or_else(|| Error::NotFound("the budget".into()))?;
    let now = ctx.now_ms();
    let what: String;
    let mut approved_now = false;
    // A first submission counts as requested; a resubmission after the request was returned is the same request.
    let first_submission = action == Action::Submit && d.status == Status::Draft;
    match action {
        Action::Submit => {
            if actor.staff() || !matches!(d.status, Status::Draft | Status::Returned) {
                return Err(Error::Conflict(
                    "only a draft or a returned request can be submitted, by its partner".into(),
                ));
            }
            d.status = Status::Submitted;
            what = "submitted".into();
        }
        Action::Approve => {
            actor.staff_only("approve requests")?;
            match d.status {
                Status::Submitted => {
                    let approve = match amount.map(str::trim).filter(|s| !s.is_empty()) {
                        Some(s) => money::parse(s, &d.currency).map_err(|m| Error::invalid("amount", m))?,
                        None => d.asked,
                    };
                    if approve <= 0 || approve > d.asked {
                        return Err(Error::invalid(
                            "amount",
                            format!("Approve above zero and at most the {} asked.", format(d.asked, &d.currency)),
                        ));
                    }
                    d.approved = approve;
                    d.first_approver = Some(actor.id.clone());
                    d.first_approver_name = actor.name.clone();
                    if b.data.second_above > 0 && approve > b.data.second_above {
                        d.status = Status::AwaitingSecond;
                        what = format!(
                            "approved {} (a vendor admin approves too, above {})",
                            format(approve, &d.currency),
                            format(b.data.second_above, &d.currency)
                        );
                    } else {
                        approved_now = true;
                        what = format!("approved {}", format(approve, &d.currency));
                    }
                }
                Status::AwaitingSecond => {
                    if actor.role != Role::VendorAdmin {
                        return Err(Error::Denied("above this budget's limit, a vendor admin approves second".into()));
                    }
                    if d.first_approver.as_deref() == Some(actor.id.as_str()) {
                        return Err(Error::Conflict("the second approval is someone else's than the first".into()));
                    }
                    approved_now = true;
                    what = format!("approved {} (second approval)", format(d.approved, &d.currency));
                }
                _ => return Err(Error::Conflict("this request is not waiting for approval".into())),
            }
        }
        Action::Reject | Action::Return => {
            actor.staff_only("decide on requests")?;
            if !matches!(d.status, Status::Submitted | Status::AwaitingSecond) {
                return Err(Error::Conflict("this request is not waiting for approval".into()));
            }
            if note.trim().is_empty() {
                return Err(Error::invalid("note", "Say why, so the partner knows what to change."));
            }
            d.status = if action == Action::Reject { Status::Rejected } else { Status::Returned };
            d.note = note.trim().chars().take(1000).collect();
            what =
                format!("{}: {}", if action == Action::Reject { "rejected" } else { "returned for changes" }, d.note);
        }
        Action::Cancel => {
            if actor.staff() && d.status != Status::Approved {
                return Err(Error::Conflict("staff cancel only an approved request".into()));
            }
            match d.status {
                Status::Draft | Status::Submitted | Status::Returned | Status::AwaitingSecond => {}
                Status::Approved => {
                    if CLAIMS.query().eq("request_id", &r.id).all_orgs().count()? > 0 {
                        return Err(Error::Conflict(
                            "a claim was filed for this request; it is settled through the claim".into(),
                        ));
                    }
                    if actor.staff() {
                        let org = r.org_id.clone().unwrap_or_default();
                        let names = held_in(&b, &r)?;
                        post(
                            ctx,
                            &b,
                            &names,
                            &org,
                            Kind::Release,
                            d.approved,
                            (Some(&r.id), None),
                            "request cancelled",
                            &actor.name,
                        )?;
                    } else {
                        // A partner's call cannot write the vendor's balances: the plugin's own event releases the
                        // reservation, in a call of its own, within a delivery.
                        d.pending_release = d.approved;
                        events::emit(CANCELLED_TOPIC, &json!({ "request_id": r.id }))?;
                    }
                }
                _ => return Err(Error::Conflict("this request can no longer be cancelled".into())),
            }
            d.status = Status::Cancelled;
            what = "cancelled".into();
        }
    }
    if approved_now {
        if now > b.data.ends_at || b.data.expired {
            return Err(Error::Conflict("this budget's period is over".into()));
        }
        let org = r.org_id.clone().unwrap_or_default();
        let tier = tier_of(&org, &b.data.program)?;
        let names = buckets(&b, &org, tier.as_deref())?;
        if b.data.mode == Mode::Pooled {
            ensure_use(ctx, &b, &org, tier.as_deref().unwrap_or_default())?;
        }
        post(ctx, &b, &names, &org, Kind::Reservation, d.approved, (Some(&r.id), None), "approved", &actor.name)?;
        d.buckets = names;
        d.status = Status::Approved;
    }
    d.history.push(Step { at: now, by: actor.name.clone(), what: what.clone() });
    d.updated_at = now;
    let out = REQUESTS.update(id, r.revision, &d)?;
    tell(&out, &what)?;
    if first_submission {
        crate::channel::requested(&out)?;
    }
    if approved_now {
        crate::channel::approved(&out, &actor.name)?;
        crate::roi::attach(&out)?;
        events::emit(
            "mdf.request.approved",
            &json!({ "request_id": out.id, "org_id": out.org_id, "budget_id": d.budget_id, "activity": d.activity,
                     "approved": d.approved, "currency": d.currency, "at": now }),
        )?;
    }
    Ok(out)
}

/// The plugin's own event that releases what a partner's cancellation gave back.
pub const CANCELLED_TOPIC: &str = "mdf.request.cancelled";

/// Releases a cancelled request's reservation (the plugin's own event, after a partner cancelled); once.
pub fn release_cancelled(ctx: &Context, request_id: &str) -> Result<(), Error> {
    let Some(r) = REQUESTS.get::<Request>(request_id)? else { return Ok(()) };
    if r.data.status != Status::Cancelled || r.data.pending_release <= 0 {
        return Ok(());
    }
    let b = BUDGETS.get::<Budget>(&r.data.budget_id)?.ok_or_else(|| Error::NotFound("the budget".into()))?;
    let org = r.org_id.clone().unwrap_or_default();
    let names = held_in(&b, &r)?;
    let by = r.data.user_name.clone();
    post(ctx, &b, &names, &org, Kind::Release, r.data.pending_release, (Some(&r.id), None), "request cancelled", &by)?;
    let mut d = r.data.clone();
    d.pending_release = 0;
    REQUESTS.update(&r.id, r.revision, &d)?;
    Ok(())
}

/// Everyone who should hear of a change: the partner who asked, or the vendor's approvers.
fn tell(r: &Record<Request>, what: &str) -> Result<(), Error> {
    let d = &r.data;
    let link = Some(format!("{}/requests/{}", crate::web::BASE, r.id));
    let (audience, email) = match d.status {
        Status::Submitted | Status::AwaitingSecond => (
            Audience::Vendor(if d.status == Status::AwaitingSecond {
                vec![Role::VendorAdmin]
            } else {
                vec![Role::ChannelManager, Role::VendorAdmin]
            }),
            true,
        ),
        _ => (Audience::User(d.user_id.clone()), true),
    };
    notify::send(&Notification {
        audience,
        title: format!("MDF: {} ({})", d.activity, d.org_name),
        body: what.into(),
        link,
        email,
    })
}

/// Where a claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    #[default]
    Submitted,
    Approved,
    Rejected,
    /// Paid in full; the unused reservation released.
    Paid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Proof {
    pub key: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// `proof` or `invoice`.
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Payment {
    pub amount: i64,
    pub at: i64,
    pub by: String,
    pub reference: String,
}

/// A claim against an approved request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Claim {
    pub request_id: String,
    pub budget_id: String,
    pub activity: String,
    pub org_name: String,
    pub currency: String,
    pub spend: i64,
    /// What the fund pays: its share of the spend, at most what was approved.
    pub payable: i64,
    pub paid: i64,
    pub payments: Vec<Payment>,
    pub files: Vec<Proof>,
    pub status: ClaimStatus,
    pub note: String,
    pub user_id: String,
    pub user_name: String,
    pub created_at: i64,
    pub settled_at: Option<i64>,
}

/// A partner claims for an approved request after the activity and before its deadline, with proof of performance
/// and an invoice (uploaded with the request: fields `proof` and `invoice`).
pub fn create_claim(ctx: &Context, actor: &Actor, request_id: &str, spend: &str) -> Result<Record<Claim>, Error> {
    if actor.staff() {
        return Err(Error::Denied("partners file claims".into()));
    }
    let r = request(actor, request_id)
        .map_err(|_| Error::invalid("request_id", "Choose one of your approved requests."))?;
    if r.data.status != Status::Approved {
        return Err(Error::invalid("request_id", "Claims are for approved requests."));
    }
    let b = BUDGETS.get::<Budget>(&r.data.budget_id)?.ok_or_else(|| Error::NotFound("the budget".into()))?;
    let now = ctx.now_ms();
    if now < r.data.ends_at {
        return Err(Error::invalid(
            "request_id",
            format!("Claim after the activity, which ends on {}.", date(r.data.ends_at)),
        ));
    }
    let deadline = r.data.ends_at + b.data.claim_days * DAY_MS;
    if now > deadline {
        return Err(Error::invalid(
            "request_id",
            format!(
                "The deadline for this claim was {}, {} days after the activity: it can no longer be claimed.",
                date(deadline),
                b.data.claim_days
            ),
        ));
    }
    let open = CLAIMS.query().eq("request_id", &r.id).fetch::<Claim>()?.records;
    if open.iter().any(|c| c.data.status != ClaimStatus::Rejected) {
        return Err(Error::Conflict("this request has a claim already".into()));
    }
    let spend = money::parse(spend, &r.data.currency).map_err(|m| Error::invalid("spend", m))?;
    let proofs: Vec<Proof> = files::uploads()
        .into_iter()
        .filter(|u| u.field == "proof" || u.field == "invoice")
        .map(|u| Proof { key: u.key, filename: u.filename, content_type: u.content_type, size: u.size, kind: u.field })
        .collect();
    if !proofs.iter().any(|p| p.kind == "proof") {
        return Err(Error::invalid("proof", "Attach proof of performance (photos, a report, the campaign's results)."));
    }
    if !proofs.iter().any(|p| p.kind == "invoice") {
        return Err(Error::invalid("invoice", "Attach the invoice."));
    }
    // Kept only once the claim is sure to be made (the host discards the uploads a call does not keep).
    for p in &proofs {
        files::keep(&p.key)?;
    }
    let c = Claim {
        request_id: r.id.clone(),
        budget_id: b.id.clone(),
        activity: r.data.activity.clone(),
        org_name: r.data.org_name.clone(),
        currency: r.data.currency.clone(),
        spend,
        payable: reimbursable(spend, b.data.pct, r.data.approved),
        files: proofs,
        user_id: actor.id.clone(),
        user_name: actor.name.clone(),
        created_at: now,
        ..Default::default()
    };
    let out = CLAIMS.insert(&c)?;
    crate::channel::claimed(&out)?;
    notify::send(&Notification {
        audience: Audience::Vendor(vec![Role::ChannelManager, Role::VendorAdmin]),
        title: format!("MDF claim: {} ({})", c.activity, c.org_name),
        body: format!(
            "{} claimed {} of {} spent.",
            actor.name,
            format(c.payable, &c.currency),
            format(spend, &c.currency)
        ),
        link: Some(format!("{}/claims", crate::web::BASE)),
        email: true,
    })?;
    Ok(out)
}

pub fn claim(actor: &Actor, id: &str) -> Result<Record<Claim>, Error> {
    match CLAIMS.get::<Claim>(id)? {
        Some(c) if actor.staff() || c.org_id.as_deref() == Some(actor.org_id.as_str()) => Ok(c),
        _ => Err(Error::NotFound(format!("no claim {id}"))),
    }
}

pub fn claims(actor: &Actor) -> Result<Vec<Record<Claim>>, Error> {
    let q = CLAIMS.query().order_by("created_at", Direction::Desc).limit(500);
    let q = if actor.staff() { q.all_orgs() } else { q };
    Ok(q.fetch::<Claim>()?.records)
}

/// Staff approve a claim (possibly for less than was claimed, never more), or reject it with a reason.
pub fn decide_claim(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    approve: bool,
    amount: Option<&str>,
    note: &str,
) -> Result<Record<Claim>, Error> {
    actor.staff_only("decide on claims")?;
    let c = claim(actor, id)?;
    if c.data.status != ClaimStatus::Submitted {
        return Err(Error::Conflict("this claim is not waiting for a decision".into()));
    }
    let mut d = c.data.clone();
    let claimed = d.payable;
    if approve {
        if let Some(s) = amount.map(str::trim).filter(|s| !s.is_empty()) {
            let a = money::parse(s, &d.currency).map_err(|m| Error::invalid("amount", m))?;
            if a <= 0 || a > d.payable {
                return Err(Error::invalid(
                    "amount",
                    format!("Approve above zero and at most {}.", format(d.payable, &d.currency)),
                ));
            }
            d.payable = a;
        }
        d.status = ClaimStatus::Approved;
    } else {
        if note.trim().is_empty() {
            return Err(Error::invalid("note", "Say why, so the partner can claim again."));
        }
        d.status = ClaimStatus::Rejected;
    }
    d.note = note.trim().chars().take(1000).collect();
    let out = CLAIMS.update(id, c.revision, &d)?;
    crate::channel::claim_reduced(&out, if approve { claimed - d.payable } else { claimed })?;
    notify::send(&Notification {
        audience: Audience::User(d.user_id.clone()),
        title: format!("MDF claim {}: {}", if approve { "approved" } else { "rejected" }, d.activity),
        body: if approve { format!("{} will be paid.", format(d.payable, &d.currency)) } else { d.note.clone() },
        link: Some(format!("{}/claims", crate::web::BASE)),
        email: true,
    })?;
    let _ = ctx;
    Ok(out)
}

/// Finance pays an approved claim, in one or more payments; the last one settles it and releases what the
/// reservation held beyond what was paid.
pub fn pay(ctx: &Context, actor: &Actor, id: &str, amount: &str, reference: &str) -> Result<Record<Claim>, Error> {
    actor.staff_only("pay claims")?;
    let c = claim(actor, id)?;
    if c.data.status != ClaimStatus::Approved {
        return Err(Error::Conflict("only an approved claim is paid".into()));
    }
    let mut d = c.data.clone();
    let left = d.payable - d.paid;
    let a = match amount.trim() {
        "" => left,
        s => money::parse(s, &d.currency).map_err(|m| Error::invalid("amount", m))?,
    };
    if a <= 0 || a > left {
        return Err(Error::invalid(
            "amount",
            format!("Pay above zero and at most the {} still owed.", format(left, &d.currency)),
        ));
    }
    let r = REQUESTS.get::<Request>(&d.request_id)?.ok_or_else(|| Error::NotFound("the request".into()))?;
    let b = BUDGETS.get::<Budget>(&d.budget_id)?.ok_or_else(|| Error::NotFound("the budget".into()))?;
    let org = c.org_id.clone().unwrap_or_default();
    let names = held_in(&b, &r)?;
    post(ctx, &b, &names, &org, Kind::Reimbursement, a, (Some(&r.id), Some(&c.id)), reference, &actor.name)?;
    d.paid += a;
    d.payments.push(Payment {
        amount: a,
        at: ctx.now_ms(),
        by: actor.name.clone(),
        reference: reference.trim().chars().take(200).collect(),
    });
    if d.paid == d.payable {
        d.status = ClaimStatus::Paid;
        d.settled_at = Some(ctx.now_ms());
        let unused = r.data.approved - d.paid;
        if unused > 0 {
            post(
                ctx,
                &b,
                &names,
                &org,
                Kind::Release,
                unused,
                (Some(&r.id), Some(&c.id)),
                "unused part released",
                &actor.name,
            )?;
        }
        let mut rd = r.data.clone();
        rd.status = Status::Closed;
        rd.history.push(Step {
            at: ctx.now_ms(),
            by: actor.name.clone(),
            what: format!("settled: {} paid", format(d.paid, &d.currency)),
        });
        REQUESTS.update(&r.id, r.revision, &rd)?;
        events::emit(
            "mdf.claim.paid",
            &json!({ "claim_id": c.id, "request_id": r.id, "org_id": org, "budget_id": b.id, "paid": d.paid,
                     "currency": d.currency, "at": ctx.now_ms() }),
        )?;
    }
    let out = CLAIMS.update(id, c.revision, &d)?;
    crate::channel::paid(&out, a)?;
    notify::send(&Notification {
        audience: Audience::User(d.user_id.clone()),
        title: format!("MDF payment: {}", d.activity),
        body: format!(
            "{} paid ({} of {}).",
            format(a, &d.currency),
            format(d.paid, &d.currency),
            format(d.payable, &d.currency)
        ),
        link: Some(format!("{}/claims", crate::web::BASE)),
        email: true,
    })?;
    Ok(out)
}

/// At a period's end: approved requests past their claim deadline without a claim are released, then what no
/// request holds expires, bucket by bucket, each an entry.
pub fn expire(ctx: &Context) -> Result<(), Error> {
    let now = ctx.now_ms();
    for b in BUDGETS.query().all_orgs().limit(500).fetch::<Budget>()?.records {
        if b.data.expired || now <= b.data.ends_at {
            continue;
        }
        // Approved requests whose claim deadline has passed with no claim: their reservation comes back first.
        let approved = REQUESTS
            .query()
            .all_orgs()
            .eq("budget_id", &b.id)
            .eq("status", "approved")
            .limit(1000)
            .fetch::<Request>()?
            .records;
        let mut waiting = false;
        for r in approved {
            let deadline = r.data.ends_at + b.data.claim_days * DAY_MS;
            let claimed = CLAIMS.query().all_orgs().eq("request_id", &r.id).count()? > 0;
            if claimed {
                continue;
            }
            if now <= deadline {
                waiting = true;
                continue;
            }
            let org = r.org_id.clone().unwrap_or_default();
            let names = held_in(&b, &r)?;
            post(
                ctx,
                &b,
                &names,
                &org,
                Kind::Release,
                r.data.approved,
                (Some(&r.id), None),
                "not claimed by the deadline",
                "schedule",
            )?;
            let mut d = r.data.clone();
            d.status = Status::Closed;
            d.history.push(Step { at: now, by: "schedule".into(), what: "closed: not claimed by the deadline".into() });
            REQUESTS.update(&r.id, r.revision, &d)?;
        }
        // What is available in the pools and allocations expires now; reservations still in their claim window stay.
        for bal in BALANCES.query().all_orgs().eq("budget_id", &b.id).limit(5000).fetch::<Balance>()?.records {
            if bal.data.bucket.starts_with("use:") {
                continue;
            }
            let left = bal.data.totals.available();
            if left > 0 {
                let org = bal.data.bucket.strip_prefix("org:").unwrap_or_default().to_string();
                post(
                    ctx,
                    &b,
                    std::slice::from_ref(&bal.data.bucket),
                    &org,
                    Kind::Expiry,
                    left,
                    (None, None),
                    "period ended",
                    "schedule",
                )?;
            }
        }
        if !waiting {
            let mut d = b.data.clone();
            d.expired = true;
            BUDGETS.update(&b.id, b.revision, &d)?;
        }
    }
    Ok(())
}

/// Every bucket's running totals against a recomputation from its entries: the mismatches, if any.
pub fn check(budget_id: &str) -> Result<Vec<Value>, Error> {
    let mut bad = Vec::new();
    let balances = BALANCES.query().all_orgs().eq("budget_id", budget_id).limit(5000).fetch::<Balance>()?.records;
    let mut entries: BTreeMap<String, Vec<(Kind, i64)>> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = LEDGER.query().all_orgs().eq("budget_id", budget_id).limit(1000).after(cursor).fetch::<Entry>()?;
        for e in page.records {
            let kind = serde_json::from_value::<Kind>(json!(e.data.kind)).map_err(Error::internal)?;
            entries.entry(e.data.bucket.clone()).or_default().push((kind, e.data.amount));
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    for b in balances {
        // Sorted by kind so a recomputation applies allocations before the rest, whatever order they were read in.
        let mut list = entries.remove(&b.data.bucket).unwrap_or_default();
        list.sort_by_key(|(k, _)| match k {
            Kind::Allocation => 0,
            Kind::Reservation => 1,
            Kind::Reimbursement => 2,
            Kind::Release => 3,
            Kind::Expiry => 4,
        });
        let sum = |k: Kind| list.iter().filter(|(x, _)| *x == k).map(|(_, a)| a).sum::<i64>();
        let recomputed = Totals {
            allocated: sum(Kind::Allocation),
            reserved: sum(Kind::Reservation),
            released: sum(Kind::Release),
            reimbursed: sum(Kind::Reimbursement),
            expired: sum(Kind::Expiry),
        };
        if recomputed != b.data.totals || recomputed.available() < 0 || recomputed.outstanding() < 0 {
            bad.push(json!({ "bucket": b.data.bucket, "stored": b.data.totals, "recomputed": recomputed }));
        }
    }
    for (bucket, _) in entries {
        bad.push(json!({ "bucket": bucket, "stored": null }));
    }
    Ok(bad)
}
