//! Rewards: a rebate (a percentage of won revenue by tier) and SPIFFs (per won deal or per product, within a
//! campaign's dates) accrue when a deal is won; a reversed win claws them back; a payout run turns what has accrued
//! into one statement per partner. Every amount is an entry in integer minor units, never changed once written
//! except to be marked paid.

use std::collections::BTreeMap;

use portico_sdk::directory;
use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Direction, Record};
use serde::{Deserialize, Serialize};

use crate::facts::Deal;
use crate::model::month_of;

pub const CAMPAIGNS: Collection = Collection::new("campaigns");
pub const ACCRUALS: Collection = Collection::new("accruals");
pub const STATEMENTS: Collection = Collection::new("statements");

/// A SPIFF campaign of a program.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Campaign {
    pub name: String,
    pub program: String,
    /// `per_deal`: once per won deal; `per_product`: once per campaign product the deal names.
    pub kind: String,
    #[serde(default)]
    pub products: Vec<String>,
    pub amount: i64,
    pub currency: String,
    /// First and last day, `YYYY-MM-DD` (UTC), both included.
    pub starts: String,
    pub ends: String,
    #[serde(default)]
    pub created_by: String,
}

impl Campaign {
    /// Checks a campaign as a manager entered it.
    pub fn check(&self) -> Result<(), Error> {
        if self.name.trim().is_empty() || self.name.chars().count() > 120 {
            return Err(Error::invalid("name", "give the campaign a name (up to 120 characters)"));
        }
        if !matches!(self.kind.as_str(), "per_deal" | "per_product") {
            return Err(Error::invalid("kind", "a SPIFF pays per won deal or per product"));
        }
        if self.kind == "per_product" && self.products.is_empty() {
            return Err(Error::invalid("products", "name the products the SPIFF pays for"));
        }
        if self.amount <= 0 {
            return Err(Error::invalid("amount", "give the amount paid"));
        }
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        match (day(&self.starts), day(&self.ends)) {
            (None, _) => Err(Error::invalid("starts", "give the first day as YYYY-MM-DD")),
            (_, None) => Err(Error::invalid("ends", "give the last day as YYYY-MM-DD")),
            (Some(a), Some(b)) if b < a => Err(Error::invalid("ends", "the last day comes before the first")),
            _ => Ok(()),
        }
    }

    /// What the campaign pays for a deal won at `won_at`, if anything.
    pub fn pays(&self, deal: &Deal, won_at: i64) -> i64 {
        let day = chrono::DateTime::from_timestamp_millis(won_at).map(|t| t.format("%Y-%m-%d").to_string());
        if day.is_none_or(|d| d < self.starts || d > self.ends) || deal.program != self.program {
            return 0;
        }
        match self.kind.as_str() {
            "per_deal" => self.amount,
            _ => {
                let n =
                    deal.products.iter().filter(|p| self.products.iter().any(|c| c.eq_ignore_ascii_case(p))).count();
                self.amount * n as i64
            }
        }
    }
}

/// One entry of a partner's accrual ledger.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Accrual {
    pub org_id: String,
    pub org_name: String,
    pub program: String,
    pub deal_id: String,
    pub customer: String,
    /// `rebate`, `spiff` or `clawback`.
    pub kind: String,
    pub label: String,
    /// Minor units; negative for a clawback.
    pub amount: i64,
    pub currency: String,
    /// `YYYY-MM` of the month it accrued in.
    pub period: String,
    /// `accrued` until a statement pays it, then `paid`.
    pub status: String,
    #[serde(default)]
    pub statement_id: Option<String>,
    pub at: i64,
    /// Clawed back already (on a rebate or SPIFF).
    #[serde(default)]
    pub clawed_back: bool,
}

/// A partner's payout statement: the entries it pays, net per currency.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Statement {
    pub period: String,
    pub org_id: String,
    pub org_name: String,
    pub lines: Vec<Line>,
    pub totals: BTreeMap<String, i64>,
    pub created_at: i64,
    pub created_by: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Line {
    pub accrual_id: String,
    pub deal_id: String,
    pub customer: String,
    pub kind: String,
    pub label: String,
    pub amount: i64,
    pub currency: String,
    pub period: String,
}

/// The tier key and name of an organisation in a program, from the directory.
pub fn tier_of(org_id: &str, program: &str) -> Result<Option<(String, String)>, Error> {
    Ok(directory::get_org(org_id)?
        .and_then(|o| o.enrolments.into_iter().find(|e| e.program == program))
        .map(|e| (e.tier, e.tier_name)))
}

/// Accrues a won deal's rebate (at the partner's tier when it was won) and the SPIFFs of campaigns running then.
/// Ids derive from the deal, so the same win never accrues twice.
pub fn accrue(ctx: &Context, deal: &Record<Deal>) -> Result<(), Error> {
    let d = &deal.data;
    let criteria = crate::tiers::CRITERIA.get::<crate::model::Criteria>(&d.program)?.map(|r| r.data);
    let won_at = d.won_at.unwrap_or(ctx.now_ms());
    let entry = |kind: &str, label: String, amount: i64, currency: &str| Accrual {
        org_id: d.org_id.clone(),
        org_name: d.org_name.clone(),
        program: d.program.clone(),
        deal_id: deal.id.clone(),
        customer: d.customer.clone(),
        kind: kind.into(),
        label,
        amount,
        currency: currency.into(),
        period: month_of(won_at),
        status: "accrued".into(),
        statement_id: None,
        at: won_at,
        clawed_back: false,
    };
    let mut entries = Vec::new();
    if let Some((tier, tier_name)) = tier_of(&d.org_id, &d.program)?
        && let Some(bp) = criteria.as_ref().and_then(|c| c.rebate_bp(&tier))
    {
        let amount = portico_money::basis_points_of(d.won_amount, bp);
        if amount > 0 {
            let pct = format!("{}.{:02}", bp / 100, bp % 100);
            let pct = pct.trim_end_matches('0').trim_end_matches('.');
            entries.push((
                format!("{}:rebate", deal.id),
                entry("rebate", format!("Rebate {pct} % at {tier_name}"), amount, &d.currency),
            ));
        }
    }
    let campaigns = CAMPAIGNS.query().eq("program", &d.program).limit(500).fetch::<Campaign>()?.records;
    for c in campaigns {
        let amount = c.data.pays(d, won_at);
        if amount > 0 {
            entries.push((
                format!("{}:spiff:{}", deal.id, c.id),
                entry("spiff", format!("SPIFF: {}", c.data.name), amount, &c.data.currency),
            ));
        }
    }
    let mut counted: BTreeMap<String, i64> = BTreeMap::new();
    for (id, a) in entries {
        if ACCRUALS.get::<Accrual>(&id)?.is_none() {
            ACCRUALS.insert_with(Some(&id), Some(&d.org_id), &a)?;
            *counted.entry(a.currency.clone()).or_default() += a.amount;
        }
    }
    crate::channel::accrued(&d.org_id, &counted)
}

/// Claws back everything a reversed win accrued: one negative entry per reward, in the current month, whether the
/// reward was paid already (the next statement nets it) or not (it nets to nothing).
pub fn claw_back(ctx: &Context, deal: &Record<Deal>, why: &str) -> Result<(), Error> {
    let now = ctx.now_ms();
    let list = ACCRUALS.query().all_orgs().eq("deal_id", &deal.id).limit(200).fetch::<Accrual>()?.records;
    let mut counted: BTreeMap<String, i64> = BTreeMap::new();
    for r in list.into_iter().filter(|r| r.data.kind != "clawback" && !r.data.clawed_back) {
        let mut back = r.data.clone();
        back.kind = "clawback".into();
        back.label = if why.trim().is_empty() {
            format!("Clawback of {}", r.data.label.to_lowercase())
        } else {
            format!("Clawback of {}: {}", r.data.label.to_lowercase(), why.trim())
        };
        back.amount = -r.data.amount;
        back.period = month_of(now);
        back.status = "accrued".into();
        back.statement_id = None;
        back.at = now;
        ACCRUALS.insert_with(Some(&format!("{}:clawback", r.id)), Some(&r.data.org_id), &back)?;
        *counted.entry(back.currency.clone()).or_default() += back.amount;
        let mut orig = r.data.clone();
        orig.clawed_back = true;
        ACCRUALS.update(&r.id, r.revision, &orig)?;
    }
    crate::channel::accrued(&deal.data.org_id, &counted)
}

/// Totals of a partner's entries per status and currency: `{"accrued": {"USD": 1200}, "paid": {…}}`.
pub fn totals(list: &[Record<Accrual>]) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for a in list {
        *out.entry(a.data.status.clone()).or_default().entry(a.data.currency.clone()).or_default() += a.data.amount;
    }
    out
}

/// An organisation's entries, newest first (all of them, in pages).
pub fn of_org(org_id: &str) -> Result<Vec<Record<Accrual>>, Error> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = ACCRUALS
            .query()
            .org(org_id)
            .order_by("at", Direction::Desc)
            .limit(1000)
            .after(cursor)
            .fetch::<Accrual>()?;
        out.extend(page.records);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// What a payout run did: statements written, and partners whose net was not positive (carried forward).
#[derive(Debug, Default, Serialize)]
pub struct Run {
    pub statements: Vec<String>,
    pub carried_forward: Vec<String>,
}

/// Pays what accrued up to and including `period`: one statement per partner with the entries of each currency
/// whose net is positive; a currency whose net is zero or negative (a clawback larger than what it earned since) stays
/// accrued and is carried into the next run.
pub fn payout(ctx: &Context, period: &str, by: &str) -> Result<Run, Error> {
    if chrono::NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").is_err() {
        return Err(Error::invalid("period", "give the period as YYYY-MM"));
    }
    let mut due: BTreeMap<String, Vec<Record<Accrual>>> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = ACCRUALS.query().all_orgs().eq("status", "accrued").limit(1000).after(cursor).fetch::<Accrual>()?;
        for r in page.records.into_iter().filter(|r| r.data.period.as_str() <= period) {
            due.entry(r.data.org_id.clone()).or_default().push(r);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let now = ctx.now_ms();
    let mut run = Run::default();
    for (org, entries) in due {
        let mut net: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &entries {
            *net.entry(e.data.currency.as_str()).or_default() += e.data.amount;
        }
        let paid: Vec<&Record<Accrual>> =
            entries.iter().filter(|e| net.get(e.data.currency.as_str()).is_some_and(|n| *n > 0)).collect();
        if paid.len() < entries.len() {
            run.carried_forward.push(entries[0].data.org_name.clone());
        }
        if paid.is_empty() {
            continue;
        }
        let mut st = Statement {
            period: period.into(),
            org_id: org.clone(),
            org_name: entries[0].data.org_name.clone(),
            created_at: now,
            created_by: by.into(),
            ..Default::default()
        };
        for e in &paid {
            *st.totals.entry(e.data.currency.clone()).or_default() += e.data.amount;
            st.lines.push(Line {
                accrual_id: e.id.clone(),
                deal_id: e.data.deal_id.clone(),
                customer: e.data.customer.clone(),
                kind: e.data.kind.clone(),
                label: e.data.label.clone(),
                amount: e.data.amount,
                currency: e.data.currency.clone(),
                period: e.data.period.clone(),
            });
        }
        let saved = STATEMENTS.insert_with(None, Some(&org), &st)?;
        crate::channel::statement_paid(&saved)?;
        for e in paid {
            let mut a = e.data.clone();
            a.status = "paid".into();
            a.statement_id = Some(saved.id.clone());
            ACCRUALS.update(&e.id, e.revision, &a)?;
        }
        run.statements.push(saved.id);
    }
    Ok(run)
}

/// Statements as CSV, one row per line: what finance pays and what a partner reconciles.
pub fn csv(statements: &[Record<Statement>]) -> Result<Vec<u8>, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::internal(e);
    w.write_record([
        "statement",
        "period",
        "partner",
        "deal",
        "customer",
        "kind",
        "description",
        "accrued_in",
        "amount",
        "currency",
    ])
    .map_err(io)?;
    for s in statements {
        for l in &s.data.lines {
            w.write_record([
                s.id.as_str(),
                &s.data.period,
                &s.data.org_name,
                &l.deal_id,
                &l.customer,
                &l.kind,
                &l.label,
                &l.period,
                &portico_money::number(l.amount, &l.currency).replace(',', ""),
                &l.currency,
            ])
            .map_err(io)?;
        }
    }
    w.into_inner().map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(products: &[&str]) -> Deal {
        Deal {
            program: "reseller".into(),
            products: products.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }
    }

    fn at(day: &str) -> i64 {
        chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(23, 59, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn a_spiff_pays_within_its_dates_per_deal_or_per_product() {
        let c = Campaign {
            name: "Q4 firewall push".into(),
            program: "reseller".into(),
            kind: "per_product".into(),
            products: vec!["Cloud Firewall".into(), "Edge Router".into()],
            amount: 25_000,
            currency: "USD".into(),
            starts: "2026-10-01".into(),
            ends: "2026-12-31".into(),
            created_by: String::new(),
        };
        assert!(c.check().is_ok());
        assert_eq!(c.pays(&deal(&["cloud firewall", "Edge Router", "Support"]), at("2026-12-31")), 50_000);
        assert_eq!(c.pays(&deal(&["Support"]), at("2026-11-01")), 0);
        assert_eq!(c.pays(&deal(&["Edge Router"]), at("2027-01-01")), 0, "after its last day");
        assert_eq!(c.pays(&deal(&["Edge Router"]), at("2026-09-30")), 0, "before its first");
        let per_deal = Campaign { kind: "per_deal".into(), products: vec![], ..c.clone() };
        assert_eq!(per_deal.pays(&deal(&[]), at("2026-10-01")), 25_000);
        let other = Deal { program: "msp".into(), ..deal(&[]) };
        assert_eq!(per_deal.pays(&other, at("2026-10-01")), 0, "another program's deal");
        let bad = Campaign { ends: "2026-09-01".into(), ..c };
        assert!(matches!(bad.check(), Err(Error::Invalid(f)) if f.field.as_deref() == Some("ends")));
    }
}
