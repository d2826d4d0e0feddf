//! Pages, the widget, the card and the JSON API.

use std::collections::BTreeMap;

use portico_sdk::Value;
use portico_sdk::prelude::*;
use portico_sdk::storage::{Direction, Record};

use crate::model::{self, BUILT_IN, Criteria, Criterion, Tier};
use crate::rewards::{self, Accrual, CAMPAIGNS, Campaign, STATEMENTS, Statement};
use crate::tiers::{self, CRITERIA, Proposal, STANDINGS, Standing, figure_text, standing_id};

pub const BASE: &str = "/p/incentives";

/// Who is calling.
pub struct Actor {
    pub name: String,
    pub org_id: String,
    pub role: Role,
}

impl Actor {
    pub fn of(ctx: &Context) -> Result<Actor, Error> {
        let c = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
        Ok(Actor { name: c.name.clone(), org_id: c.org_id.clone(), role: c.role })
    }

    pub fn staff(&self) -> bool {
        matches!(self.role, Role::VendorAdmin | Role::ChannelManager)
    }

    fn staff_only(&self, what: &str) -> Result<(), Error> {
        if self.staff() { Ok(()) } else { Err(Error::Denied(format!("only the vendor's staff {what}"))) }
    }

    /// The organisation whose figures the call is about: a partner's own, or the one vendor staff name.
    fn org<'a>(&'a self, asked: Option<&'a str>) -> Result<&'a str, Error> {
        match (self.staff(), asked.filter(|o| !o.is_empty())) {
            (false, None) => Ok(&self.org_id),
            (false, Some(o)) if o == self.org_id => Ok(&self.org_id),
            (false, Some(_)) => Err(Error::NotFound("no such partner".into())),
            (true, Some(o)) => Ok(o),
            (true, None) => Err(Error::invalid("org", "name the partner organisation (org=…)")),
        }
    }
}

/// The program a call is about: `program=` in the query or form, else the call's program.
fn program(ctx: &Context, req: &Request) -> Result<String, Error> {
    req.query("program")
        .or_else(|| req.field("program"))
        .or(ctx.program())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::invalid("program", "name the program (program=…)"))
}

fn body(req: &Request) -> Result<Value, Error> {
    if req.body.is_empty() { Ok(json!({})) } else { req.json() }
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// The month before the one of `now`, `YYYY-MM`: what a payout run usually pays.
fn last_month(now: i64) -> String {
    model::window_start(now, 2)
}

// ----- JSON -----

fn criteria_json(c: &Criteria, tiers: &[Tier]) -> Value {
    json!({
        "program": c.program, "rolling_months": c.rolling_months, "currency": c.currency,
        "exchange_rates": c.exchange_rates, "automatic": c.automatic, "grace_days": c.grace_days,
        "rebates": tiers.iter().filter_map(|t| c.rebate_bp(&t.key).map(|bp| json!({ "tier": t.key, "tier_name": t.name,
            "percent": bp as f64 / 100.0 }))).collect::<Vec<_>>(),
        "metrics": c.metrics.iter().map(|m| json!({
            "key": m.key, "label": m.label,
            "thresholds": tiers.iter().filter_map(|t| m.thresholds.get(&t.key).map(|v| json!({
                "tier": t.key, "tier_name": t.name, "value": v, "text": figure_text(&m.key, *v, &c.currency) }))).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "updated_by": c.updated_by, "updated_at": c.updated_at,
    })
}

/// A standing with its progress to the next tier, per criterion.
fn standing_json(s: &Standing) -> Value {
    let next = s
        .tiers
        .iter()
        .filter(|t| t.rank > s.tier_rank && model::has_thresholds(&s.criteria, &t.key))
        .min_by_key(|t| t.rank);
    let progress = |tier: &str| -> Vec<Value> {
        model::progress(&s.criteria, tier, &s.figures)
            .into_iter()
            .map(|p| {
                let pct = if p.threshold <= 0 { 100 } else { (p.value.max(0) * 100 / p.threshold).min(100) };
                json!({ "key": p.key, "label": p.label, "value": p.value, "threshold": p.threshold, "met": p.met,
                        "pct": pct, "value_text": figure_text(&p.key, p.value, &s.currency),
                        "threshold_text": figure_text(&p.key, p.threshold, &s.currency),
                        "gap_text": figure_text(&p.key, (p.threshold - p.value).max(0), &s.currency) })
            })
            .collect()
    };
    let rebates: Vec<Value> = s
        .tiers
        .iter()
        .filter_map(|t| {
            s.criteria.rebate_bp(&t.key).map(|bp| json!({ "tier_name": t.name, "percent": format!("{}", bp as f64 / 100.0), "current": t.key == s.tier }))
        })
        .collect();
    json!({
        "program": s.program, "org_id": s.org_id, "org_name": s.org_name,
        "tier": s.tier, "tier_name": s.tier_name, "target": s.target, "target_name": s.target_name,
        "direction": if s.target_rank > s.tier_rank { "up" } else if s.target_rank < s.tier_rank { "down" } else { "steady" },
        "figures": s.criteria.metrics.iter().map(|m| { let v = s.figures.get(&m.key).copied().unwrap_or(0);
            json!({ "key": m.key, "label": m.label, "value": v, "text": figure_text(&m.key, v, &s.currency) }) }).collect::<Vec<_>>(),
        "uncounted": s.uncounted, "currency": s.currency, "rolling_months": s.criteria.rolling_months,
        "next": next.map(|t| json!({ "tier": t.key, "tier_name": t.name, "progress": progress(&t.key) })),
        "keep": progress(&s.tier),
        "below_since": s.below_since.map(date), "demotion_due": s.demotion_due.map(date),
        "proposal_id": s.proposal_id, "rebates": rebates, "computed_at": date(s.computed_at),
    })
}

fn proposal_json(p: &Record<Proposal>) -> Value {
    let d = &p.data;
    json!({ "id": p.id, "program": d.program, "org_id": d.org_id, "org_name": d.org_name, "from": d.from,
            "from_name": d.from_name, "to": d.to, "to_name": d.to_name, "kind": d.kind, "figures": d.figures,
            "reason": d.reason, "status": d.status, "created": date(d.created_at),
            "decided": d.decided_at.map(date), "decided_by": d.decided_by, "note": d.note })
}

fn accrual_json(a: &Record<Accrual>) -> Value {
    let d = &a.data;
    json!({ "id": a.id, "org_id": d.org_id, "org_name": d.org_name, "deal_id": d.deal_id, "customer": d.customer,
            "kind": d.kind, "label": d.label, "amount": d.amount, "currency": d.currency,
            "amount_text": portico_money::format(d.amount, &d.currency), "period": d.period, "status": d.status,
            "statement_id": d.statement_id, "date": date(d.at) })
}

fn statement_json(s: &Record<Statement>) -> Value {
    let d = &s.data;
    json!({ "id": s.id, "period": d.period, "org_id": d.org_id, "org_name": d.org_name, "lines": d.lines.len(),
            "totals": d.totals.iter().map(|(c, v)| json!({ "currency": c, "amount": v,
                "text": portico_money::format(*v, c) })).collect::<Vec<_>>(),
            "created": date(d.created_at), "created_by": d.created_by })
}

fn campaign_json(c: &Record<Campaign>) -> Value {
    let d = &c.data;
    json!({ "id": c.id, "name": d.name, "program": d.program, "kind": d.kind, "products": d.products,
            "amount": d.amount, "currency": d.currency, "amount_text": portico_money::format(d.amount, &d.currency),
            "starts": d.starts, "ends": d.ends })
}

/// Totals per status and currency as lists a template can walk.
fn totals_json(list: &[Record<Accrual>]) -> Value {
    let t = rewards::totals(list);
    let side = |status: &str| -> Vec<Value> {
        t.get(status)
            .map(|m| {
                m.iter()
                    .map(|(c, v)| json!({ "currency": c, "amount": v, "text": portico_money::format(*v, c) }))
                    .collect()
            })
            .unwrap_or_default()
    };
    json!({ "pending": side("accrued"), "paid": side("paid") })
}

// ----- Reading -----

fn standing(program: &str, org: &str) -> Result<Option<Record<Standing>>, Error> {
    STANDINGS.get::<Standing>(&standing_id(program, org))
}

fn criteria(program: &str) -> Result<Option<Criteria>, Error> {
    Ok(CRITERIA.get::<Criteria>(program)?.map(|r| r.data))
}

/// The programs vendor staff can pick: those with criteria, and the call's own.
fn programs(ctx: &Context) -> Result<Vec<String>, Error> {
    let mut list: Vec<String> =
        CRITERIA.query().limit(200).fetch::<Criteria>()?.records.into_iter().map(|r| r.id).collect();
    if let Some(p) = ctx.program()
        && !list.iter().any(|k| k == p)
    {
        list.push(p.to_string());
    }
    list.sort();
    Ok(list)
}

/// The roster of a program: every standing, best tier first.
fn roster(program: &str) -> Result<Vec<Record<Standing>>, Error> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = STANDINGS.query().all_orgs().eq("program", program).limit(1000).after(cursor).fetch::<Standing>()?;
        out.extend(page.records);
        match page.next_cursor {
            Some(c) if out.len() < 20_000 => cursor = Some(c),
            _ => break,
        }
    }
    out.sort_by(|a, b| b.data.tier_rank.cmp(&a.data.tier_rank).then(a.data.org_name.cmp(&b.data.org_name)));
    Ok(out)
}

fn statements(actor: &Actor, period: Option<&str>) -> Result<Vec<Record<Statement>>, Error> {
    let mut q = STATEMENTS.query().order_by("created_at", Direction::Desc).limit(1000);
    q = if actor.staff() { q.all_orgs() } else { q.org(&actor.org_id) };
    if let Some(p) = period.filter(|p| !p.is_empty()) {
        q = q.eq("period", p);
    }
    Ok(q.fetch::<Statement>()?.records)
}

// ----- Writing -----

/// A number field: money in `currency` for won revenue, a whole count otherwise.
fn threshold(key: &str, text: &str, currency: &str, field: &str) -> Result<Option<i64>, Error> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if key == "won_revenue" {
        return portico_money::parse(t, currency)
            .map(Some)
            .map_err(|m| Error::invalid(field, m.trim_end_matches('.').to_lowercase()));
    }
    t.replace(',', "")
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .map(Some)
        .ok_or_else(|| Error::invalid(field, "give a whole number"))
}

/// Criteria from a form (`t.{metric}.{tier}` thresholds, `label.{metric}`, custom rows `custom.{n}.key`,
/// `rebate.{tier}`) or the same fields flattened from JSON.
fn criteria_from(
    fields: &BTreeMap<String, String>,
    program: &str,
    tiers: &[Tier],
    by: &str,
    now: i64,
) -> Result<Criteria, Error> {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
    let rolling_months = get("rolling_months")
        .trim()
        .parse::<u32>()
        .map_err(|_| Error::invalid("rolling_months", "give the rolling period in months (1 to 36)"))?;
    let currency = portico_money::currency(get("currency"))
        .ok_or_else(|| Error::invalid("currency", "give an ISO currency code such as USD"))?;
    let grace_days = get("grace_days")
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (0..=365).contains(d))
        .ok_or_else(|| Error::invalid("grace_days", "give the grace period in days (0 to 365)"))?;
    let exchange_rates: Vec<String> =
        get("exchange_rates").lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    for line in &exchange_rates {
        let ok = line.split_once('=').is_some_and(|(c, r)| {
            portico_money::currency(c).is_some() && r.trim().parse::<f64>().is_ok_and(|r| r > 0.0 && r < 1.0e6)
        });
        if !ok {
            return Err(Error::invalid("exchange_rates", format!("“{line}” is not a rate like EUR=1.08")));
        }
    }
    let mut metrics = Vec::new();
    let mut keys: Vec<(String, String)> = BUILT_IN.iter().map(|(k, _)| (k.to_string(), k.to_string())).collect();
    for n in 1..=3 {
        let key = get(&format!("custom.{n}.key")).trim().to_lowercase().replace([' ', '-'], "_");
        if !key.is_empty() {
            keys.push((format!("custom:{key}"), format!("custom.{n}")));
        }
    }
    for (key, form_key) in keys {
        if key.starts_with("custom:") && model::custom_key(&key).is_none() {
            return Err(Error::invalid(&format!("{form_key}.key"), "a custom metric's key is letters, digits and _"));
        }
        let mut thresholds = BTreeMap::new();
        for t in tiers {
            let field = format!("t.{form_key}.{}", t.key);
            if let Some(v) = threshold(&key, get(&field), &currency, &field)? {
                thresholds.insert(t.key.clone(), v);
            }
        }
        if thresholds.is_empty() {
            continue;
        }
        let default = BUILT_IN.iter().find(|(k, _)| *k == key).map(|(_, l)| l.to_string()).unwrap_or_default();
        let label = get(&format!("label.{form_key}")).trim().to_string();
        metrics.push(Criterion { key, label: if label.is_empty() { default } else { label }, thresholds });
    }
    let mut rebates = BTreeMap::new();
    for t in tiers {
        let field = format!("rebate.{}", t.key);
        let v = get(&field).trim();
        if v.is_empty() {
            continue;
        }
        let bp = portico_money::percent_bp(v).ok_or_else(|| Error::invalid(&field, "give a percentage such as 2.5"))?;
        rebates.insert(t.key.clone(), bp);
    }
    let c = Criteria {
        program: program.into(),
        rolling_months,
        metrics,
        currency,
        exchange_rates,
        automatic: matches!(get("automatic"), "on" | "true" | "1"),
        grace_days,
        rebates,
        updated_by: by.into(),
        updated_at: now,
    };
    tiers::check_criteria(&c, tiers)?;
    Ok(c)
}

/// The JSON API's criteria body, flattened to the form's fields.
fn fields_of_json(v: &Value) -> BTreeMap<String, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    let mut f = BTreeMap::new();
    for k in ["rolling_months", "currency", "grace_days", "automatic"] {
        f.insert(k.to_string(), text(&v[k]));
    }
    f.entry("currency".into()).and_modify(|c| {
        if c.is_empty() {
            *c = "USD".into()
        }
    });
    f.entry("grace_days".into()).and_modify(|c| {
        if c.is_empty() {
            *c = "60".into()
        }
    });
    let rates: Vec<String> = v["exchange_rates"].as_array().map(|a| a.iter().map(text).collect()).unwrap_or_default();
    f.insert("exchange_rates".into(), rates.join("\n"));
    if let Some(r) = v["rebates"].as_object() {
        for (tier, pct) in r {
            f.insert(format!("rebate.{tier}"), text(pct));
        }
    }
    let mut n = 0;
    for m in v["metrics"].as_array().into_iter().flatten() {
        let key = m["key"].as_str().unwrap_or_default();
        let form_key = match key.strip_prefix("custom:") {
            Some(k) => {
                n += 1;
                f.insert(format!("custom.{n}.key"), k.to_string());
                format!("custom.{n}")
            }
            None => key.to_string(),
        };
        f.insert(format!("label.{form_key}"), m["label"].as_str().unwrap_or_default().to_string());
        for (tier, t) in m["thresholds"].as_object().into_iter().flatten() {
            f.insert(format!("t.{form_key}.{tier}"), text(t));
        }
    }
    f
}

fn save_criteria(
    ctx: &Context,
    actor: &Actor,
    program: &str,
    fields: &BTreeMap<String, String>,
) -> Result<(Criteria, usize), Error> {
    actor.staff_only("set tier criteria")?;
    let tiers = tiers::tiers(program)?;
    let c = criteria_from(fields, program, &tiers, &actor.name, ctx.now_ms())?;
    match CRITERIA.get::<Criteria>(program)? {
        Some(r) => CRITERIA.update(program, r.revision, &c)?,
        None => CRITERIA.insert_with(Some(program), None, &c)?,
    };
    let n = tiers::recalculate_program(ctx, program)?;
    Ok((c, n))
}

fn campaign_from(fields: &BTreeMap<String, String>, program: &str, by: &str) -> Result<Campaign, Error> {
    let get = |k: &str| fields.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let currency = portico_money::currency(&get("currency"))
        .ok_or_else(|| Error::invalid("currency", "give an ISO currency code such as USD"))?;
    let amount = portico_money::parse(&get("amount"), &currency)
        .map_err(|m| Error::invalid("amount", m.trim_end_matches('.').to_lowercase()))?;
    let c = Campaign {
        name: get("name"),
        program: program.into(),
        kind: get("kind"),
        products: get("products")
            .split([',', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        amount,
        currency,
        starts: get("starts"),
        ends: get("ends"),
        created_by: by.into(),
    };
    c.check()?;
    Ok(c)
}

fn json_fields(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(","),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn record_custom(
    ctx: &Context,
    actor: &Actor,
    program: &str,
    org: &str,
    f: &BTreeMap<String, String>,
) -> Result<(), Error> {
    actor.staff_only("record custom metrics")?;
    let get = |k: &str| f.get(k).map(|s| s.trim()).unwrap_or_default();
    let metric = get("metric").trim_start_matches("custom:");
    let c = criteria(program)?.ok_or_else(|| Error::invalid("metric", "set the program's criteria first"))?;
    if !c.metrics.iter().any(|m| m.key == format!("custom:{metric}")) {
        return Err(Error::invalid("metric", "not a custom metric of the program's criteria"));
    }
    let now_month = model::month_of(ctx.now_ms());
    let month = if get("month").is_empty() { now_month.as_str() } else { get("month") };
    if chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_err() {
        return Err(Error::invalid("month", "give the month as YYYY-MM"));
    }
    let value = get("value")
        .replace(',', "")
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| Error::invalid("value", "give a whole number"))?;
    if portico_sdk::directory::get_org(org)?.is_none_or(|o| o.is_vendor) {
        return Err(Error::NotFound("no such partner".into()));
    }
    crate::facts::record_custom(org, program, metric, month, value)?;
    tiers::recalculate_org(ctx, org, Some(program))?;
    Ok(())
}

/// Recalculates one partner (vendor staff, from its page) or a whole program.
fn recalculate(ctx: &Context, actor: &Actor, program: &str, org: Option<&str>) -> Result<Value, Error> {
    actor.staff_only("recalculate standings")?;
    if criteria(program)?.is_none() {
        return Err(Error::invalid("program", "set the program's criteria first"));
    }
    match org.filter(|o| !o.is_empty()) {
        Some(o) => {
            let info = portico_sdk::directory::get_org(o)?.ok_or_else(|| Error::NotFound("no such partner".into()))?;
            let tier = info
                .enrolments
                .iter()
                .find(|e| e.program == program)
                .map(|e| e.tier.clone())
                .ok_or_else(|| Error::invalid("org", "the partner is not in this program"))?;
            let made = tiers::recalculate(ctx, program, &[tiers::OrgRef { id: info.id, name: info.name, tier }])?;
            Ok(json!({ "partners": 1, "proposals": made.iter().map(proposal_json).collect::<Vec<_>>() }))
        }
        None => Ok(json!({ "partners": tiers::recalculate_program(ctx, program)? })),
    }
}

// ----- API -----

pub fn api(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    let m = req.method.as_str();
    match (m, segs.as_slice()) {
        ("GET", ["criteria"]) => {
            let program = program(ctx, req)?;
            let c = if actor.staff() {
                criteria(&program)?
            } else {
                standing(&program, &actor.org_id)?.map(|s| s.data.criteria)
            };
            let c = c.ok_or_else(|| Error::NotFound(format!("no criteria for {program} yet")))?;
            Ok(Response::json(&criteria_json(&c, &tiers::tiers(&program)?)))
        }
        ("PUT" | "POST", ["criteria"]) => {
            let v = body(req)?;
            let program = v["program"].as_str().map(str::to_string).map_or_else(|| program(ctx, req), Ok)?;
            let (c, n) = save_criteria(ctx, actor, &program, &fields_of_json(&v))?;
            let mut out = criteria_json(&c, &tiers::tiers(&program)?);
            out["recalculated"] = json!(n);
            Ok(Response::json(&out))
        }
        ("GET", ["standing"]) => {
            let program = program(ctx, req)?;
            if actor.staff() && req.query("org").is_none() {
                let list: Vec<Value> = roster(&program)?.iter().map(|s| standing_json(&s.data)).collect();
                return Ok(Response::json(&json!({ "program": program, "standings": list })));
            }
            let org = actor.org(req.query("org"))?;
            let s = standing(&program, org)?
                .ok_or_else(|| Error::NotFound("no standing yet: it is calculated daily".into()))?;
            Ok(Response::json(&standing_json(&s.data)))
        }
        ("GET", ["proposals"]) => {
            let program = program(ctx, req)?;
            let org = if actor.staff() { req.query("org") } else { Some(actor.org_id.as_str()) };
            let list = tiers::proposals(&program, req.query("status"), org)?;
            Ok(Response::json(&json!({ "proposals": list.iter().map(proposal_json).collect::<Vec<_>>() })))
        }
        ("POST", ["proposals", id, decision @ ("approve" | "reject")]) => {
            actor.staff_only("decide on tier changes")?;
            let note = body(req)?["note"].as_str().unwrap_or_default().to_string();
            let p = tiers::decide(ctx, id, *decision == "approve", &actor.name, &note)?;
            Ok(Response::json(&proposal_json(&p)))
        }
        ("POST", ["recalculate"]) => {
            let v = body(req)?;
            let program = v["program"].as_str().map(str::to_string).map_or_else(|| program(ctx, req), Ok)?;
            Ok(Response::json(&recalculate(ctx, actor, &program, v["org"].as_str())?))
        }
        ("POST", ["custom"]) => {
            let v = body(req)?;
            let f = json_fields(&v);
            let program = v["program"].as_str().map(str::to_string).map_or_else(|| program(ctx, req), Ok)?;
            // The partner by id, or by name (as sample data names it).
            let org = match (f.get("org").filter(|o| !o.is_empty()), f.get("org_name")) {
                (Some(id), _) => id.clone(),
                (None, Some(name)) => portico_sdk::directory::list_orgs(Some(&program))?
                    .into_iter()
                    .find(|o| &o.name == name)
                    .map(|o| o.id)
                    .ok_or_else(|| Error::invalid("org_name", "no partner of the program has that name"))?,
                (None, None) => return Err(Error::invalid("org", "name the partner organisation")),
            };
            record_custom(ctx, actor, &program, &org, &f)?;
            Ok(Response::json(&json!({ "ok": true })))
        }
        ("GET", ["rewards"]) => {
            let org = actor.org(req.query("org"))?;
            let list = rewards::of_org(org)?;
            Ok(Response::json(&json!({ "org_id": org, "totals": totals_json(&list),
                "entries": list.iter().map(accrual_json).collect::<Vec<_>>() })))
        }
        ("GET", ["statements"]) => {
            let list = statements(actor, req.query("period"))?;
            Ok(Response::json(&json!({ "statements": list.iter().map(statement_json).collect::<Vec<_>>() })))
        }
        ("POST", ["statements"]) => {
            actor.staff_only("run payouts")?;
            let period = body(req)?["period"].as_str().unwrap_or_default().to_string();
            let run = rewards::payout(ctx, &period, &actor.name)?;
            Ok(Response::json_status(201, &run))
        }
        ("GET", ["statements.csv"]) => csv_file(actor, req.query("period"), None),
        ("GET", ["statements", id]) => {
            let s = one_statement(actor, id)?;
            let mut v = statement_json(&s);
            v["lines"] = json!(
                s.data
                    .lines
                    .iter()
                    .map(|l| json!({ "deal_id": l.deal_id, "customer": l.customer,
                "kind": l.kind, "label": l.label, "amount": l.amount, "currency": l.currency,
                "amount_text": portico_money::format(l.amount, &l.currency), "period": l.period }))
                    .collect::<Vec<_>>()
            );
            Ok(Response::json(&v))
        }
        ("GET", ["campaigns"]) => {
            actor.staff_only("manage SPIFF campaigns")?;
            let list = CAMPAIGNS.query().limit(500).fetch::<Campaign>()?.records;
            Ok(Response::json(&json!({ "campaigns": list.iter().map(campaign_json).collect::<Vec<_>>() })))
        }
        ("POST", ["campaigns"]) => {
            actor.staff_only("manage SPIFF campaigns")?;
            let v = body(req)?;
            let program = v["program"].as_str().map(str::to_string).map_or_else(|| program(ctx, req), Ok)?;
            let c = campaign_from(&json_fields(&v), &program, &actor.name)?;
            let saved = CAMPAIGNS.insert_with(None, None, &c)?;
            Ok(Response::json_status(201, &campaign_json(&saved)))
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}

fn one_statement(actor: &Actor, id: &str) -> Result<Record<Statement>, Error> {
    let s = STATEMENTS.get::<Statement>(id)?.ok_or_else(|| Error::NotFound("no such statement".into()))?;
    if !actor.staff() && s.data.org_id != actor.org_id {
        return Err(Error::NotFound("no such statement".into()));
    }
    Ok(s)
}

fn csv_file(actor: &Actor, period: Option<&str>, id: Option<&str>) -> Result<Response, Error> {
    let list = match id {
        Some(id) => vec![one_statement(actor, id)?],
        None => statements(actor, period)?,
    };
    let name = match (id, period) {
        (Some(id), _) => format!("statement-{id}.csv"),
        (None, Some(p)) if !p.is_empty() => format!("statements-{p}.csv"),
        _ => "statements.csv".into(),
    };
    Ok(Response::File { content_type: "text/csv".into(), filename: name, body: rewards::csv(&list)? })
}

// ----- Pages -----

fn view(template: &str, title: &str, status: u16, context: Value) -> Response {
    Response::Page(View { template: template.into(), title: title.into(), context: context.to_string(), status })
}

pub fn page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    let post = req.method == "POST";
    let form: BTreeMap<String, String> = req.form.iter().cloned().collect();
    match segs.as_slice() {
        [] if actor.staff() => manager(ctx, actor, req, None),
        [] => partner(ctx, actor, &program(ctx, req)?, &actor.org_id, false),
        ["orgs", org, "custom"] if post => {
            let program = program(ctx, req)?;
            match record_custom(ctx, actor, &program, org, &form) {
                Ok(()) => Ok(Response::redirect(format!("{BASE}/orgs/{org}?program={program}&done=custom"))),
                Err(Error::Invalid(e)) => {
                    let mut r = partner(ctx, actor, &program, org, true)?;
                    if let Response::Page(v) = &mut r {
                        let mut c: Value = serde_json::from_str(&v.context).unwrap_or_default();
                        c["custom_error"] = json!({ "field": e.field, "message": e.message });
                        c["custom_form"] = json!(form);
                        v.context = c.to_string();
                        v.status = 422;
                    }
                    Ok(r)
                }
                Err(e) => Err(e),
            }
        }
        ["orgs", org] => {
            actor.staff_only("see another partner's standing")?;
            partner(ctx, actor, &program(ctx, req)?, org, true)
        }
        ["criteria"] if post => {
            let program = program(ctx, req)?;
            match save_criteria(ctx, actor, &program, &form) {
                Ok(_) => Ok(Response::redirect(format!("{BASE}/?program={program}&done=criteria"))),
                Err(Error::Invalid(e)) => criteria_page(actor, &program, Some(&form), Some(e)),
                Err(e) => Err(e),
            }
        }
        ["criteria"] => criteria_page(actor, &program(ctx, req)?, None, None),
        ["campaigns"] if post => {
            actor.staff_only("manage SPIFF campaigns")?;
            let program = program(ctx, req)?;
            match campaign_from(&form, &program, &actor.name) {
                Ok(c) => {
                    CAMPAIGNS.insert_with(None, None, &c)?;
                    Ok(Response::redirect(format!("{BASE}/campaigns?program={program}&done=1")))
                }
                Err(Error::Invalid(e)) => campaigns_page(ctx, actor, req, Some(&form), Some(e)),
                Err(e) => Err(e),
            }
        }
        ["campaigns"] => campaigns_page(ctx, actor, req, None, None),
        ["proposals", id, decision @ ("approve" | "reject")] if post => {
            actor.staff_only("decide on tier changes")?;
            let note = req.field("note").unwrap_or_default();
            match tiers::decide(ctx, id, *decision == "approve", &actor.name, note) {
                Ok(p) => Ok(Response::redirect(format!("{BASE}/?program={}&done={decision}", p.data.program))),
                Err(Error::Invalid(e)) => manager(ctx, actor, req, Some((Some(id.to_string()), e.message))),
                Err(Error::Conflict(m)) => manager(ctx, actor, req, Some((Some(id.to_string()), m))),
                Err(e) => Err(e),
            }
        }
        ["recalculate"] if post => {
            let program = program(ctx, req)?;
            match recalculate(ctx, actor, &program, req.field("org")) {
                Ok(_) => match req.field("org").filter(|o| !o.is_empty()) {
                    Some(o) => Ok(Response::redirect(format!("{BASE}/orgs/{o}?program={program}&done=recalculated"))),
                    None => Ok(Response::redirect(format!("{BASE}/?program={program}&done=recalculated"))),
                },
                Err(Error::Invalid(e)) => manager(ctx, actor, req, Some((None, e.message))),
                Err(e) => Err(e),
            }
        }
        ["statements"] if post => {
            actor.staff_only("run payouts")?;
            match rewards::payout(ctx, req.field("period").unwrap_or_default(), &actor.name) {
                Ok(run) => Ok(Response::redirect(format!(
                    "{BASE}/statements?done={}&carried={}",
                    run.statements.len(),
                    run.carried_forward.len()
                ))),
                Err(Error::Invalid(e)) => manager(ctx, actor, req, Some((None, e.message))),
                Err(e) => Err(e),
            }
        }
        ["statements"] => statements_page(ctx, actor, req),
        ["statements.csv"] => csv_file(actor, req.query("period"), None),
        ["statements", file] if file.ends_with(".csv") => csv_file(actor, None, Some(file.trim_end_matches(".csv"))),
        _ => Err(Error::NotFound("no such page".into())),
    }
}

fn manager(
    ctx: &Context,
    actor: &Actor,
    req: &Request,
    error: Option<(Option<String>, String)>,
) -> Result<Response, Error> {
    actor.staff_only("manage tiers")?;
    let programs = programs(ctx)?;
    let program = program(ctx, req).ok().or_else(|| programs.first().cloned()).unwrap_or_default();
    let c = criteria(&program)?;
    let tiers = if program.is_empty() { Vec::new() } else { tiers::tiers(&program).unwrap_or_default() };
    let roster = if c.is_some() { roster(&program)? } else { Vec::new() };
    let by_tier: Vec<Value> = tiers
        .iter()
        .rev()
        .map(|t| {
            let members: Vec<Value> =
                roster.iter().filter(|s| s.data.tier == t.key).map(|s| standing_json(&s.data)).collect();
            json!({ "key": t.key, "name": t.name, "count": members.len(), "members": members })
        })
        .collect();
    let queue: Vec<Value> = tiers::proposals(&program, Some("pending"), None)?.iter().map(proposal_json).collect();
    let history: Vec<Value> = tiers::proposals(&program, None, None)?
        .iter()
        .filter(|p| matches!(p.data.status.as_str(), "approved" | "applied" | "rejected"))
        .take(10)
        .map(proposal_json)
        .collect();
    let (error_id, error_text) = error.clone().unwrap_or_default();
    let status = if error.is_some() { 422 } else { 200 };
    Ok(view(
        "manager.html",
        "Tiers and incentives",
        status,
        json!({
            "base": BASE, "program": program, "programs": programs, "criteria": c.as_ref().map(|c| criteria_json(c, &tiers)),
            "tiers": by_tier, "tier_names": tiers.iter().rev().map(|t| t.name.clone()).collect::<Vec<_>>(),
            "tier_counts": tiers.iter().rev().map(|t| roster.iter().filter(|s| s.data.tier == t.key).count()).collect::<Vec<_>>(),
            "queue": queue, "history": history, "partners": roster.len(),
            "error": error.map(|_| error_text), "error_id": error_id,
            "period": req.field("period").map(str::to_string).unwrap_or_else(|| last_month(ctx.now_ms())),
            "done": req.query("done"),
        }),
    ))
}

fn partner(ctx: &Context, actor: &Actor, program: &str, org: &str, staff_view: bool) -> Result<Response, Error> {
    let org = actor.org(Some(org))?;
    let s = standing(program, org)?;
    let list = rewards::of_org(org)?;
    let stmts: Vec<Value> = STATEMENTS
        .query()
        .org(org)
        .order_by("created_at", Direction::Desc)
        .limit(12)
        .fetch::<Statement>()?
        .records
        .iter()
        .map(statement_json)
        .collect();
    let history: Vec<Value> = tiers::proposals(program, None, Some(org))?.iter().take(10).map(proposal_json).collect();
    let custom: Vec<Value> = s
        .as_ref()
        .map(|s| {
            s.data
                .criteria
                .metrics
                .iter()
                .filter(|m| m.key.starts_with("custom:"))
                .map(|m| json!({ "key": m.key, "label": m.label }))
                .collect()
        })
        .unwrap_or_default();
    let title = s.as_ref().map(|s| s.data.org_name.clone()).unwrap_or_else(|| "Your tier".into());
    Ok(view(
        "partner.html",
        if staff_view { &title } else { "Your tier and rewards" },
        200,
        json!({
            "base": BASE, "program": program, "org_id": org, "staff": staff_view,
            "standing": s.as_ref().map(|s| standing_json(&s.data)), "totals": totals_json(&list),
            "entries": list.iter().take(20).map(accrual_json).collect::<Vec<_>>(), "statements": stmts,
            "history": history, "custom": custom, "month": model::month_of(ctx.now_ms()),
        }),
    ))
}

/// A form's error as its template shows it: by field, and the message for the alert.
fn field_errors(error: Option<&portico_sdk::FieldError>) -> (Value, String) {
    match error {
        Some(e) => (json!({ e.field.clone().unwrap_or_default(): e.message }), e.message.clone()),
        None => (json!({}), String::new()),
    }
}

fn criteria_page(
    actor: &Actor,
    program: &str,
    typed: Option<&BTreeMap<String, String>>,
    error: Option<portico_sdk::FieldError>,
) -> Result<Response, Error> {
    actor.staff_only("set tier criteria")?;
    let tiers = tiers::tiers(program)?;
    let c = criteria(program)?;
    // The form's fields: what was typed, else the saved criteria, else a starting point.
    let fields: BTreeMap<String, String> = match (typed, &c) {
        (Some(t), _) => t.clone(),
        (None, Some(c)) => {
            let mut f = BTreeMap::new();
            f.insert("rolling_months".into(), c.rolling_months.to_string());
            f.insert("currency".into(), c.currency.clone());
            f.insert("grace_days".into(), c.grace_days.to_string());
            f.insert("exchange_rates".into(), c.exchange_rates.join("\n"));
            if c.automatic {
                f.insert("automatic".into(), "on".into());
            }
            let mut n = 0;
            for m in &c.metrics {
                let key = match m.key.strip_prefix("custom:") {
                    Some(k) => {
                        n += 1;
                        f.insert(format!("custom.{n}.key"), k.into());
                        format!("custom.{n}")
                    }
                    None => m.key.clone(),
                };
                f.insert(format!("label.{key}"), m.label.clone());
                for (t, v) in &m.thresholds {
                    let text =
                        if m.key == "won_revenue" { portico_money::number(*v, &c.currency) } else { v.to_string() };
                    f.insert(format!("t.{key}.{t}"), text);
                }
            }
            for (t, bp) in &c.rebates {
                f.insert(format!("rebate.{t}"), format!("{}", *bp as f64 / 100.0));
            }
            f
        }
        (None, None) => [("rolling_months", "12"), ("currency", "USD"), ("grace_days", "60")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let mut rows: Vec<Value> = BUILT_IN
        .iter()
        .map(|(k, l)| {
            let label = get(&format!("label.{k}"));
            json!({ "key": k, "custom": false, "label": if label.is_empty() { l.to_string() } else { label },
                    "cells": tiers.iter().skip(1).map(|t| json!({ "tier": t.key, "tier_name": t.name, "name": format!("t.{k}.{}", t.key),
                        "value": get(&format!("t.{k}.{}", t.key)) })).collect::<Vec<_>>() })
        })
        .collect();
    for n in 1..=3 {
        let key = format!("custom.{n}");
        rows.push(json!({ "key": key, "custom": true, "n": n, "custom_key": get(&format!("{key}.key")), "label": get(&format!("label.{key}")),
            "cells": tiers.iter().skip(1).map(|t| json!({ "tier": t.key, "tier_name": t.name, "name": format!("t.{key}.{}", t.key),
                "value": get(&format!("t.{key}.{}", t.key)) })).collect::<Vec<_>>() }));
    }
    let (errors, message) = field_errors(error.as_ref());
    Ok(view(
        "criteria.html",
        "Tier criteria",
        if error.is_some() { 422 } else { 200 },
        json!({
            "base": BASE, "program": program, "tiers": tiers, "upper_tiers": tiers.iter().skip(1).collect::<Vec<_>>(),
        "lowest": tiers.first().map(|t| t.name.clone()), "rows": rows, "f": fields, "errors": errors, "error": message,
            "automatic": matches!(get("automatic").as_str(), "on" | "true" | "1"),
            "rebates": tiers.iter().map(|t| json!({ "tier": t.key, "tier_name": t.name, "name": format!("rebate.{}", t.key),
                "value": get(&format!("rebate.{}", t.key)) })).collect::<Vec<_>>(),
        }),
    ))
}

fn campaigns_page(
    ctx: &Context,
    actor: &Actor,
    req: &Request,
    typed: Option<&BTreeMap<String, String>>,
    error: Option<portico_sdk::FieldError>,
) -> Result<Response, Error> {
    actor.staff_only("manage SPIFF campaigns")?;
    let program = program(ctx, req)?;
    let list: Vec<Value> = CAMPAIGNS
        .query()
        .eq("program", &program)
        .limit(500)
        .fetch::<Campaign>()?
        .records
        .iter()
        .map(campaign_json)
        .collect();
    let (errors, message) = field_errors(error.as_ref());
    let f = typed.cloned().unwrap_or_else(|| {
        [("kind", "per_deal"), ("currency", "USD")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    });
    Ok(view(
        "campaigns.html",
        "SPIFF campaigns",
        if error.is_some() { 422 } else { 200 },
        json!({
            "base": BASE, "program": program, "campaigns": list, "f": f, "errors": errors, "error": message,
            "done": req.query("done"),
        }),
    ))
}

fn statements_page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let list: Vec<Value> = statements(actor, req.query("period"))?.iter().map(statement_json).collect();
    Ok(view(
        "statements.html",
        "Payout statements",
        200,
        json!({
            "base": BASE, "staff": actor.staff(), "statements": list, "period": req.query("period").unwrap_or_default(),
            "done": req.query("done"), "carried": req.query("carried"), "last_month": last_month(ctx.now_ms()),
        }),
    ))
}

// ----- Widget and card -----

pub fn widget(ctx: &Context, actor: &Actor, widget: &str) -> Result<View, Error> {
    if widget != "progress" {
        return Err(Error::NotFound(format!("no widget {widget}")));
    }
    let s = match ctx.program() {
        Some(p) => standing(p, &actor.org_id)?,
        None => STANDINGS.query().org(&actor.org_id).limit(1).fetch::<Standing>()?.records.into_iter().next(),
    };
    Ok(View {
        template: "widget_progress.html".into(),
        title: "My tier progress".into(),
        context: json!({ "base": BASE, "standing": s.as_ref().map(|s| standing_json(&s.data)) }).to_string(),
        status: 200,
    })
}

pub fn card(ctx: &Context, org_id: &str) -> Result<View, Error> {
    let standings: Vec<Value> = STANDINGS
        .query()
        .org(org_id)
        .limit(20)
        .fetch::<Standing>()?
        .records
        .iter()
        .map(|s| standing_json(&s.data))
        .collect();
    let list = rewards::of_org(org_id)?;
    let _ = ctx;
    Ok(View {
        template: "card_incentives.html".into(),
        title: "Tier and rewards".into(),
        context: json!({ "base": BASE, "org_id": org_id, "standings": standings, "totals": totals_json(&list) })
            .to_string(),
        status: 200,
    })
}
