//! Pages, widgets, the card and the JSON API.

use std::collections::BTreeMap;

use portico_sdk::Value;
use portico_sdk::directory;
use portico_sdk::files::{self, Disposition};
use portico_sdk::prelude::*;
use portico_sdk::storage::{Direction, Record};

use crate::funds::{
    self, ACTIVITY_TYPES, Action, Actor, AllocationFields, BALANCES, Balance, Budget, BudgetFields, CLAIMS, Claim,
    ClaimStatus, DAY_MS, Entry, LEDGER, Mode, PoolFields, Request as FundRequest, RequestFields, Status, date,
};
use crate::ledger::Totals;
use crate::money::format;
use crate::roi;

pub const BASE: &str = "/p/mdf";

/// A date as a date field and the CSV write it: `2027-03-31`.
fn ymd(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Draft => "Draft",
        Status::Submitted => "Waiting for approval",
        Status::AwaitingSecond => "Waiting for a second approval",
        Status::Approved => "Approved",
        Status::Returned => "Returned for changes",
        Status::Rejected => "Rejected",
        Status::Cancelled => "Cancelled",
        Status::Closed => "Closed",
    }
}

fn claim_label(s: ClaimStatus) -> &'static str {
    match s {
        ClaimStatus::Submitted => "Waiting for a decision",
        ClaimStatus::Approved => "Approved, to be paid",
        ClaimStatus::Rejected => "Rejected",
        ClaimStatus::Paid => "Paid",
    }
}

/// What the viewer should do next about a request (and its claim).
fn next_step(ctx: &Context, actor: &Actor, r: &FundRequest, claim: Option<&Claim>, claim_days: i64) -> String {
    let now = ctx.now_ms();
    let staff = actor.staff();
    match (r.status, staff) {
        (Status::Draft, false) => "Submit it for approval.".into(),
        (Status::Draft, true) => "The partner has not submitted it yet.".into(),
        (Status::Submitted, false) => "Waiting for the vendor's approval.".into(),
        (Status::Submitted, true) => "Approve it (in full or in part), return it for changes or reject it.".into(),
        (Status::AwaitingSecond, false) => "Waiting for a second approval.".into(),
        (Status::AwaitingSecond, true) => {
            format!("A vendor admin other than {} approves second.", r.first_approver_name)
        }
        (Status::Returned, false) => "Change it as asked and submit it again.".into(),
        (Status::Returned, true) => "Returned to the partner for changes.".into(),
        (Status::Approved, _) => {
            let deadline = r.ends_at + claim_days * DAY_MS;
            match claim.map(|c| c.status) {
                Some(ClaimStatus::Submitted) if staff => "Approve or reject the claim.".into(),
                Some(ClaimStatus::Submitted) => "Claim filed; waiting for the vendor's decision.".into(),
                Some(ClaimStatus::Approved) if staff => "Pay the approved claim.".into(),
                Some(ClaimStatus::Approved) => "Claim approved; payment is on its way.".into(),
                _ if now < r.ends_at => {
                    format!("Run the activity, then claim between {} and {}.", date(r.ends_at), date(deadline))
                }
                _ if now <= deadline => {
                    format!("Claim by {} with proof of performance and the invoice.", date(deadline))
                }
                _ => "The claim deadline has passed; the funds go back at the period's end.".into(),
            }
        }
        _ => "Nothing to do.".into(),
    }
}

fn budget_totals(b: &Record<Budget>) -> Result<(Totals, Vec<Record<Balance>>), Error> {
    let list = BALANCES.query().all_orgs().eq("budget_id", &b.id).limit(5000).fetch::<Balance>()?.records;
    let mut t = Totals::default();
    for bal in list.iter().filter(|x| !x.data.bucket.starts_with("use:")) {
        t.add(&bal.data.totals);
    }
    Ok((t, list))
}

fn totals_json(t: &Totals, cur: &str) -> Value {
    json!({ "allocated": t.allocated, "available": t.available(), "outstanding": t.outstanding(),
            "reimbursed": t.reimbursed, "expired": t.expired,
            "allocated_text": format(t.allocated, cur), "available_text": format(t.available(), cur),
            "outstanding_text": format(t.outstanding(), cur), "reimbursed_text": format(t.reimbursed, cur),
            "expired_text": format(t.expired, cur),
            "used_pct": if t.allocated > 0 { (t.outstanding() + t.reimbursed) * 100 / t.allocated } else { 0 } })
}

/// A budget as the API and pages show it; staff also see its allocations, pools and totals.
fn budget_json(b: &Record<Budget>, staff: bool) -> Result<Value, Error> {
    Ok(budget_json_with(b, if staff { Some(budget_totals(b)?.0) } else { None }))
}

/// [`budget_json`] with the totals already read (staff's view), or none (a partner's).
fn budget_json_with(b: &Record<Budget>, totals: Option<Totals>) -> Value {
    let d = &b.data;
    let cur = &d.currency;
    let mut v = json!({
        "id": b.id, "name": d.name, "program": d.program, "currency": cur, "fund": d.fund, "pct": d.pct,
        "starts": date(d.starts_at), "ends": date(d.ends_at), "starts_at": d.starts_at, "ends_at": d.ends_at,
        "claim_days": d.claim_days, "mode": d.mode, "expired": d.expired,
        "second_above": d.second_above, "second_above_text": (d.second_above > 0).then(|| format(d.second_above, cur)),
    });
    if let Some(totals) = totals {
        v["allocations"] = json!(
            d.allocations
                .iter()
                .map(|a| json!({ "org_id": a.org_id, "org_name": a.org_name,
            "amount": a.amount, "amount_text": format(a.amount, cur) }))
                .collect::<Vec<_>>()
        );
        v["pools"] = json!(
            d.pools
                .iter()
                .map(|p| json!({ "tier": p.tier, "amount": p.amount, "cap": p.cap,
            "amount_text": format(p.amount, cur), "cap_text": format(p.cap, cur) }))
                .collect::<Vec<_>>()
        );
        v["totals"] = totals_json(&totals, cur);
        v["created_by"] = json!(d.created_by);
    }
    v
}

/// Days to claim after an activity, by budget (for the requests' deadlines).
struct ClaimDays(BTreeMap<String, i64>);

impl ClaimDays {
    fn of(budgets: &[Record<Budget>]) -> ClaimDays {
        ClaimDays(budgets.iter().map(|b| (b.id.clone(), b.data.claim_days)).collect())
    }

    /// A request's (the default, 60, for a budget not among them).
    fn get(&self, r: &Record<FundRequest>) -> i64 {
        self.0.get(&r.data.budget_id).copied().unwrap_or(60)
    }
}

/// The days to claim of one request's budget.
fn claim_days_of(r: &Record<FundRequest>) -> Result<i64, Error> {
    let b = funds::BUDGETS.get::<Budget>(&r.data.budget_id)?.ok_or_else(|| Error::NotFound("the budget".into()))?;
    Ok(b.data.claim_days)
}

fn request_json(
    ctx: &Context,
    actor: &Actor,
    r: &Record<FundRequest>,
    claim: Option<&Record<Claim>>,
    claim_days: i64,
) -> Value {
    let d = &r.data;
    let cur = &d.currency;
    json!({
        "id": r.id, "org_id": r.org_id, "org_name": d.org_name, "user_name": d.user_name,
        "budget_id": d.budget_id, "budget_name": d.budget_name, "currency": cur,
        "activity_type": d.activity_type, "activity": d.activity, "description": d.description,
        "starts": date(d.starts_at), "ends": date(d.ends_at), "starts_at": d.starts_at, "ends_at": d.ends_at,
        "total_cost": d.total_cost, "own_share": d.own_share, "asked": d.asked, "approved": d.approved,
        "total_cost_text": format(d.total_cost, cur), "own_share_text": format(d.own_share, cur),
        "asked_text": format(d.asked, cur), "approved_text": format(d.approved, cur),
        "expected_leads": d.expected_leads, "expected_pipeline": d.expected_pipeline,
        "expected_pipeline_text": format(d.expected_pipeline, cur),
        "status": d.status, "status_label": status_label(d.status), "note": d.note,
        "first_approver": d.first_approver_name, "claim_deadline": date(d.ends_at + claim_days * DAY_MS),
        "claim_deadline_at": d.ends_at + claim_days * DAY_MS,
        "next": next_step(ctx, actor, d, claim.map(|c| &c.data), claim_days),
        "history": d.history.iter().map(|h| json!({ "at": date(h.at), "by": h.by, "what": h.what })).collect::<Vec<_>>(),
        "created": date(d.created_at), "updated": date(d.updated_at), "updated_at": d.updated_at,
        "claim_id": claim.map(|c| c.id.clone()),
    })
}

fn claim_json(c: &Record<Claim>) -> Value {
    let d = &c.data;
    let cur = &d.currency;
    json!({
        "id": c.id, "request_id": d.request_id, "budget_id": d.budget_id, "activity": d.activity,
        "org_id": c.org_id, "org_name": d.org_name, "currency": cur, "spend": d.spend, "payable": d.payable,
        "paid": d.paid, "owed": d.payable - d.paid, "spend_text": format(d.spend, cur),
        "payable_text": format(d.payable, cur), "paid_text": format(d.paid, cur),
        "owed_text": format(d.payable - d.paid, cur), "status": d.status, "status_label": claim_label(d.status),
        "note": d.note, "user_name": d.user_name, "created": date(d.created_at), "created_at": d.created_at,
        "payments": d.payments.iter().map(|p| json!({ "amount": p.amount, "amount_text": format(p.amount, cur),
            "at": date(p.at), "by": p.by, "reference": p.reference })).collect::<Vec<_>>(),
        "files": d.files.iter().enumerate().map(|(i, f)| json!({ "index": i, "kind": f.kind, "filename": f.filename,
            "content_type": f.content_type, "size": f.size })).collect::<Vec<_>>(),
    })
}

fn entry_json(e: &Record<Entry>) -> Value {
    let d = &e.data;
    json!({ "id": e.id, "budget_id": d.budget_id, "bucket": d.bucket, "org_id": d.org_id, "kind": d.kind,
            "amount": d.amount, "amount_text": format(d.amount, &d.currency), "currency": d.currency,
            "request_id": d.request_id, "claim_id": d.claim_id, "note": d.note, "by": d.by, "at": d.at,
            "date": date(d.at) })
}

fn balance_json(org_id: &str) -> Result<Value, Error> {
    let list = funds::balance(org_id)?;
    Ok(json!(
        list.iter()
            .map(|f| json!({
                "budget_id": f.budget_id, "budget": f.budget, "currency": f.currency,
                "available": f.available, "reserved": f.reserved, "reimbursed": f.reimbursed,
                "available_text": format(f.available, &f.currency), "reserved_text": format(f.reserved, &f.currency),
                "reimbursed_text": format(f.reimbursed, &f.currency),
            }))
            .collect::<Vec<_>>()
    ))
}

/// A JSON body or form fields, whichever the request carries.
fn body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, Error> {
    if req.form.is_empty() {
        if req.body.is_empty() {
            return serde_json::from_value(json!({})).map_err(|e| Error::invalid("body", e.to_string()));
        }
        return req.json();
    }
    let map: serde_json::Map<String, Value> = req.form.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    serde_json::from_value(Value::Object(map)).map_err(|e| {
        // The one field a form can get wrong in shape: the expected leads.
        if e.to_string().contains("count") {
            Error::invalid("expected_leads", "Give the expected leads as a whole number, like 40.")
        } else {
            Error::invalid("body", "The form could not be read; send it again.")
        }
    })
}

fn action_of(s: &str) -> Option<Action> {
    Some(match s {
        "submit" => Action::Submit,
        "approve" => Action::Approve,
        "reject" => Action::Reject,
        "return" => Action::Return,
        "cancel" => Action::Cancel,
        _ => return None,
    })
}

/// Each request's claim among `claims`: the latest not rejected, else the latest.
fn claims_by_request(claims: Vec<Record<Claim>>) -> BTreeMap<String, Record<Claim>> {
    let rank = |c: &Record<Claim>| (c.data.status != ClaimStatus::Rejected, c.data.created_at);
    let mut out: BTreeMap<String, Record<Claim>> = BTreeMap::new();
    for c in claims {
        if out.get(&c.data.request_id).is_none_or(|cur| rank(&c) > rank(cur)) {
            out.insert(c.data.request_id.clone(), c);
        }
    }
    out
}

/// The claim of a request (the latest not rejected, else the latest).
fn claim_of(request_id: &str) -> Result<Option<Record<Claim>>, Error> {
    let list = CLAIMS.query().all_orgs().eq("request_id", request_id).limit(50).fetch::<Claim>()?.records;
    Ok(claims_by_request(list).remove(request_id))
}

/// The ledger of a budget the actor may see: staff every entry; a partner its own organisation's.
fn ledger(
    actor: &Actor,
    b: &Record<Budget>,
    limit: u32,
    after: Option<String>,
) -> Result<(Vec<Record<Entry>>, Option<String>), Error> {
    let q = LEDGER.query().eq("budget_id", &b.id).order_by("at", Direction::Desc).limit(limit).after(after);
    let q = if actor.staff() { q.all_orgs() } else { q.org(&actor.org_id) };
    let page = q.fetch::<Entry>()?;
    Ok((page.records, page.next_cursor))
}

/// Reimbursements paid in a period, as CSV: every organisation's for staff, the caller's own for a partner.
fn export_csv(ctx: &Context, actor: &Actor, from: &str, to: &str) -> Result<Response, Error> {
    let from_ms = if from.is_empty() { 0 } else { funds::date_ms("from", from)? };
    let to_ms = if to.is_empty() { ctx.now_ms() } else { funds::date_ms("to", to)? + DAY_MS - 1 };
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "paid_on",
        "partner",
        "activity",
        "budget",
        "fund",
        "amount",
        "currency",
        "reference",
        "claim_id",
        "request_id",
        "paid_by",
    ];
    w.write_record(header).map_err(Error::internal)?;
    let budgets: BTreeMap<String, Budget> = funds::budgets(actor)?.into_iter().map(|b| (b.id, b.data)).collect();
    let mut cursor = None;
    let mut rows = Vec::new();
    loop {
        let q = LEDGER
            .query()
            .eq("kind", "reimbursement")
            .range("at", Some(from_ms), Some(to_ms))
            .limit(1000)
            .after(cursor);
        let q = if actor.staff() { q.all_orgs() } else { q.org(&actor.org_id) };
        let page = q.fetch::<Entry>()?;
        rows.extend(page.records);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    rows.sort_by_key(|e| e.data.at);
    for e in rows {
        let d = &e.data;
        // A pooled budget writes a reimbursement to the pool and to the partner's use of it: one payment, one row.
        if d.bucket.starts_with("use:") {
            continue;
        }
        let b = budgets.get(&d.budget_id);
        let c = d.claim_id.as_deref().and_then(|id| CLAIMS.get::<Claim>(id).ok().flatten());
        w.write_record([
            ymd(d.at),
            c.as_ref().map(|c| c.data.org_name.clone()).unwrap_or_default(),
            c.as_ref().map(|c| c.data.activity.clone()).unwrap_or_default(),
            b.map(|b| b.name.clone()).unwrap_or_default(),
            b.map(|b| b.fund.clone()).unwrap_or_default(),
            crate::money::number(d.amount, &d.currency).replace(',', ""),
            d.currency.clone(),
            d.note.clone(),
            d.claim_id.clone().unwrap_or_default(),
            d.request_id.clone().unwrap_or_default(),
            d.by.clone(),
        ])
        .map_err(Error::internal)?;
    }
    let body = w.into_inner().map_err(Error::internal)?;
    let name = format!(
        "mdf-reimbursements-{}-{}.csv",
        if from.is_empty() { "start" } else { from },
        if to.is_empty() { "today" } else { to }
    );
    Ok(Response::File { content_type: "text/csv".into(), filename: name, body })
}

pub fn api(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["budgets"]) => {
            let list =
                funds::budgets(actor)?.iter().map(|b| budget_json(b, actor.staff())).collect::<Result<Vec<_>, _>>()?;
            Ok(Response::json(&json!({ "budgets": list })))
        }
        ("POST", ["budgets"]) => {
            let b = funds::create_budget(ctx, actor, body(req)?)?;
            Ok(Response::json_status(201, &budget_json(&b, true)?))
        }
        ("GET", ["budgets", id]) => Ok(Response::json(&budget_json(&funds::budget(actor, id)?, actor.staff())?)),
        ("GET", ["budgets", id, "ledger"]) => {
            let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(100_u32).clamp(1, 1000);
            let (list, next) = ledger(actor, &funds::budget(actor, id)?, limit, req.query("after").map(String::from))?;
            Ok(Response::json(&json!({ "entries": list.iter().map(entry_json).collect::<Vec<_>>(), "next": next })))
        }
        ("POST", ["budgets", id, "allocate"]) => {
            let b = funds::top_up(ctx, actor, id, body(req)?)?;
            Ok(Response::json(&budget_json(&b, true)?))
        }
        ("GET", ["budgets", id, "check"]) => {
            actor.staff_only("check the ledger")?;
            let b = funds::budget(actor, id)?;
            let bad = funds::check(&b.id)?;
            Ok(Response::json(&json!({ "ok": bad.is_empty(), "mismatches": bad })))
        }
        ("GET", ["balance"]) => {
            if actor.staff() {
                return Err(Error::invalid("org", "Vendor staff have no funds of their own: see the budgets."));
            }
            Ok(Response::json(&json!({ "org_id": actor.org_id, "funds": balance_json(&actor.org_id)? })))
        }
        ("GET", ["requests"]) => {
            let status = req.query("status");
            let claims = claims_by_request(funds::claims(actor)?);
            let days = ClaimDays::of(&funds::budgets(actor)?);
            let list: Vec<Value> = funds::requests(actor, status)?
                .iter()
                .map(|r| request_json(ctx, actor, r, claims.get(&r.id), days.get(r)))
                .collect();
            Ok(Response::json(&json!({ "requests": list })))
        }
        ("POST", ["requests"]) => {
            let f: RequestFields = body(req)?;
            let submit = matches!(req.param("submit").as_str(), "true" | "1");
            let r = funds::create_request(ctx, actor, f, submit)?;
            Ok(Response::json_status(201, &request_json(ctx, actor, &r, None, claim_days_of(&r)?)))
        }
        ("GET", ["requests", id]) => {
            let r = funds::request(actor, id)?;
            let mut v = request_json(ctx, actor, &r, claim_of(&r.id)?.as_ref(), claim_days_of(&r)?);
            v["deals"] = json!(roi::linked(&r.id)?.iter().map(deal_json).collect::<Vec<_>>());
            Ok(Response::json(&v))
        }
        ("PUT", ["requests", id]) => {
            let r = funds::update_request(ctx, actor, id, body(req)?)?;
            Ok(Response::json(&request_json(ctx, actor, &r, None, claim_days_of(&r)?)))
        }
        ("POST", ["requests", id, action]) if action_of(action).is_some() => {
            let act = action_of(action).unwrap_or(Action::Submit);
            let amount = req.param("amount");
            let r = funds::transition(ctx, actor, id, act, Some(&amount), &req.param("note"))?;
            Ok(Response::json(&request_json(ctx, actor, &r, claim_of(&r.id)?.as_ref(), claim_days_of(&r)?)))
        }
        ("POST", ["requests", id, "deals"]) => {
            let d = roi::link(actor, id, &req.param("deal_id"), true)?;
            Ok(Response::json(&deal_json(&d)))
        }
        ("POST", ["requests", id, "deals", deal, "unlink"]) => {
            let d = roi::link(actor, id, deal, false)?;
            Ok(Response::json(&deal_json(&d)))
        }
        ("GET", ["claims"]) => {
            let list: Vec<Value> = funds::claims(actor)?.iter().map(claim_json).collect();
            Ok(Response::json(&json!({ "claims": list })))
        }
        ("POST", ["claims"]) => {
            let c = funds::create_claim(ctx, actor, &req.param("request_id"), &req.param("spend"))?;
            Ok(Response::json_status(201, &claim_json(&c)))
        }
        ("GET", ["claims", id]) => Ok(Response::json(&claim_json(&funds::claim(actor, id)?))),
        ("GET", ["claims", id, "files", n]) => Ok(Response::redirect(file_url(actor, id, n)?)),
        ("POST", ["claims", id, decision @ ("approve" | "reject")]) => {
            let amount = req.param("amount");
            let c = funds::decide_claim(ctx, actor, id, *decision == "approve", Some(&amount), &req.param("note"))?;
            Ok(Response::json(&claim_json(&c)))
        }
        ("POST", ["claims", id, "pay"]) => {
            let c = funds::pay(ctx, actor, id, &req.param("amount"), &req.param("reference"))?;
            Ok(Response::json(&claim_json(&c)))
        }
        ("GET", ["roi"]) => {
            let [activity, partner, fund] = roi::report(actor)?;
            let rows = |v: Vec<roi::Row>| v.iter().map(roi::Row::json).collect::<Vec<_>>();
            Ok(Response::json(
                &json!({ "by_activity": rows(activity), "by_partner": rows(partner), "by_fund": rows(fund) }),
            ))
        }
        ("GET", ["export.csv"]) => {
            export_csv(ctx, actor, req.query("from").unwrap_or_default(), req.query("to").unwrap_or_default())
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}

fn deal_json(d: &Record<roi::Deal>) -> Value {
    let x = &d.data;
    json!({ "id": d.id, "customer": x.customer, "org_name": x.org_name, "status": x.status,
            "amount": x.amount, "currency": x.currency,
            "amount_text": x.amount.map(|a| format(a, &x.currency)).unwrap_or_else(|| "—".into()),
            "registered": date(x.registered_at), "request_id": x.request_id, "by_hand": x.by_hand,
            "linked_by": x.linked_by })
}

/// A short-lived link to one of a claim's files, for whoever may see the claim.
fn file_url(actor: &Actor, claim_id: &str, n: &str) -> Result<String, Error> {
    let c = funds::claim(actor, claim_id)?;
    let f = n
        .parse::<usize>()
        .ok()
        .and_then(|i| c.data.files.get(i))
        .ok_or_else(|| Error::NotFound("no such file".into()))?;
    files::serve_url(&f.key, &f.filename, Disposition::Attachment, 300, false)
}

pub fn page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    let post = req.method == "POST";
    match segs.as_slice() {
        [] => home(ctx, actor),
        ["requests", "new"] if post => {
            let f: RequestFields = body(req)?;
            match funds::create_request(ctx, actor, f, req.field("submit") == Some("1")) {
                Ok(r) => Ok(Response::redirect(format!("{BASE}/requests/{}", r.id))),
                Err(Error::Invalid(e)) => request_form(ctx, actor, req, None, Some(e)),
                Err(e) => Err(e),
            }
        }
        ["requests", "new"] => request_form(ctx, actor, req, None, None),
        ["requests", id, "edit"] if post => match funds::update_request(ctx, actor, id, body(req)?) {
            Ok(r) if req.field("submit") == Some("1") => {
                match funds::transition(ctx, actor, &r.id, Action::Submit, None, "") {
                    Ok(_) => Ok(Response::redirect(format!("{BASE}/requests/{id}"))),
                    Err(Error::Conflict(m)) => request_page(ctx, actor, id, Some(m)),
                    Err(e) => Err(e),
                }
            }
            Ok(_) => Ok(Response::redirect(format!("{BASE}/requests/{id}"))),
            Err(Error::Invalid(e)) => request_form(ctx, actor, req, Some(id), Some(e)),
            Err(e) => Err(e),
        },
        ["requests", id, "edit"] => request_form(ctx, actor, req, Some(id), None),
        ["requests", id] => request_page(ctx, actor, id, None),
        ["requests", id, action] if post && action_of(action).is_some() => {
            let act = action_of(action).unwrap_or(Action::Submit);
            let done =
                funds::transition(ctx, actor, id, act, req.field("amount"), req.field("note").unwrap_or_default());
            after(ctx, actor, id, done.map(|_| ()))
        }
        ["requests", id, "claim"] if post => {
            let done = funds::create_claim(ctx, actor, id, req.field("spend").unwrap_or_default());
            after(ctx, actor, id, done.map(|_| ()))
        }
        ["requests", id, "deals"] if post => {
            let done = roi::link(actor, id, req.field("deal_id").unwrap_or_default(), true);
            after(ctx, actor, id, done.map(|_| ()))
        }
        ["requests", id, "deals", deal, "unlink"] if post => {
            let done = roi::link(actor, id, deal, false);
            after(ctx, actor, id, done.map(|_| ()))
        }
        ["claims"] => claims_page(actor),
        ["claims", id, "files", n] => Ok(Response::redirect(file_url(actor, id, n)?)),
        ["claims", id, decision @ ("approve" | "reject" | "pay")] if post => {
            let c = funds::claim(actor, id)?;
            let done = match *decision {
                "pay" => funds::pay(
                    ctx,
                    actor,
                    id,
                    req.field("amount").unwrap_or_default(),
                    req.field("reference").unwrap_or_default(),
                ),
                d => funds::decide_claim(
                    ctx,
                    actor,
                    id,
                    d == "approve",
                    req.field("amount"),
                    req.field("note").unwrap_or_default(),
                ),
            };
            after(ctx, actor, &c.data.request_id, done.map(|_| ()))
        }
        ["budgets"] => {
            actor.staff_only("see every budget")?;
            budgets_page(actor)
        }
        ["budgets", "new"] if post => {
            actor.staff_only("create budgets")?;
            match funds::create_budget(ctx, actor, budget_fields(req)) {
                Ok(b) => Ok(Response::redirect(format!("{BASE}/budgets/{}", b.id))),
                Err(Error::Invalid(e)) => budget_form(actor, req, Some(e)),
                Err(e) => Err(e),
            }
        }
        ["budgets", "new"] => {
            actor.staff_only("create budgets")?;
            budget_form(actor, req, None)
        }
        ["budgets", id, "allocate"] if post => {
            let f = funds::TopUp {
                org_id: req.field("org_id").unwrap_or_default().into(),
                tier: req.field("tier").unwrap_or_default().into(),
                amount: req.field("amount").unwrap_or_default().into(),
                ..Default::default()
            };
            match funds::top_up(ctx, actor, id, f) {
                Ok(_) => Ok(Response::redirect(format!("{BASE}/budgets/{id}"))),
                Err(Error::Invalid(e)) => budget_page(actor, id, req, Some(e.message)),
                Err(Error::Conflict(m)) => budget_page(actor, id, req, Some(m)),
                Err(e) => Err(e),
            }
        }
        ["budgets", id] => budget_page(actor, id, req, None),
        ["roi"] => {
            let [activity, partner, fund] = roi::report(actor)?;
            let rows = |v: Vec<roi::Row>| v.iter().map(roi::Row::json).collect::<Vec<_>>();
            Ok(Response::page(
                "roi.html",
                "MDF return on investment",
                &json!({ "base": BASE, "staff": actor.staff(), "by_activity": rows(activity), "by_partner": rows(partner),
                         "by_fund": rows(fund), "days": roi::ATTRIBUTION_DAYS }),
            ))
        }
        ["export.csv"] => {
            export_csv(ctx, actor, req.query("from").unwrap_or_default(), req.query("to").unwrap_or_default())
        }
        _ => Err(Error::NotFound("no such page".into())),
    }
}

/// After an action on a request's page: back to it, or the page again with what went wrong.
fn after(ctx: &Context, actor: &Actor, id: &str, done: Result<(), Error>) -> Result<Response, Error> {
    match done {
        Ok(()) => Ok(Response::redirect(format!("{BASE}/requests/{id}"))),
        Err(Error::Invalid(e)) => request_page(ctx, actor, id, Some(e.message)),
        Err(Error::Conflict(m)) | Err(Error::Denied(m)) => request_page(ctx, actor, id, Some(m)),
        Err(e) => Err(e),
    }
}

fn home(ctx: &Context, actor: &Actor) -> Result<Response, Error> {
    let requests = funds::requests(actor, None)?;
    let claims = claims_by_request(funds::claims(actor)?);
    let budgets = funds::budgets(actor)?;
    let days = ClaimDays::of(&budgets);
    let rows: Vec<Value> =
        requests.iter().map(|r| request_json(ctx, actor, r, claims.get(&r.id), days.get(r))).collect();
    if !actor.staff() {
        return Ok(Response::page(
            "home.html",
            "Market development funds",
            &json!({ "base": BASE, "staff": false, "funds": balance_json(&actor.org_id)?, "requests": rows,
                     "claims": claims.values().map(claim_json).collect::<Vec<_>>() }),
        ));
    }
    let queue: Vec<&Value> =
        rows.iter().filter(|r| r["status"] == json!("submitted") || r["status"] == json!("awaiting_second")).collect();
    let claim_queue: Vec<Value> = claims
        .values()
        .filter(|c| matches!(c.data.status, ClaimStatus::Submitted | ClaimStatus::Approved))
        .map(claim_json)
        .collect();
    // Each budget's totals, read once: for its row, and for utilisation by program, one chart per currency (amounts
    // are never added across currencies).
    let mut list = Vec::new();
    let mut by_cur: BTreeMap<String, BTreeMap<String, Totals>> = BTreeMap::new();
    for b in &budgets {
        let t = budget_totals(b)?.0;
        by_cur.entry(b.data.currency.clone()).or_default().entry(b.data.program.clone()).or_default().add(&t);
        list.push(budget_json_with(b, Some(t)));
    }
    let charts: Vec<Value> = by_cur
        .iter()
        .map(|(cur, progs)| {
            let scale = 10_f64.powi(crate::money::decimals(cur) as i32);
            let major = |v: i64| v as f64 / scale;
            json!({ "currency": cur, "programs": progs.keys().collect::<Vec<_>>(),
                    "series": [
                        { "name": "Reimbursed", "values": progs.values().map(|t| major(t.reimbursed)).collect::<Vec<_>>() },
                        { "name": "Reserved", "values": progs.values().map(|t| major(t.outstanding())).collect::<Vec<_>>() },
                        { "name": "Available", "values": progs.values().map(|t| major(t.available())).collect::<Vec<_>>() },
                    ] })
        })
        .collect();
    Ok(Response::page(
        "home.html",
        "Market development funds",
        &json!({ "base": BASE, "staff": true, "queue": queue, "claim_queue": claim_queue, "budgets": list,
                 "charts": charts, "requests": rows }),
    ))
}

fn request_page(ctx: &Context, actor: &Actor, id: &str, flash: Option<String>) -> Result<Response, Error> {
    let r = funds::request(actor, id)?;
    let claim = claim_of(&r.id)?;
    let mut v = request_json(ctx, actor, &r, claim.as_ref(), claim_days_of(&r)?);
    let now = ctx.now_ms();
    let d = &r.data;
    let claim_open = claim.as_ref().is_none_or(|c| c.data.status == ClaimStatus::Rejected);
    let deals = roi::linked(&r.id)?;
    let mut pipeline = roi::Sums::default();
    let mut won = roi::Sums::default();
    for x in &deals {
        x.data.count_in(&mut pipeline, &mut won);
    }
    let org = r.org_id.clone().unwrap_or_default();
    let ctx_json = json!({
        "base": BASE, "staff": actor.staff(), "admin": actor.role == Role::VendorAdmin, "r": v.take(), "flash": flash,
        "claim": claim.as_ref().map(claim_json),
        "can_edit": !actor.staff() && matches!(d.status, Status::Draft | Status::Returned),
        "can_decide": actor.staff() && matches!(d.status, Status::Submitted | Status::AwaitingSecond),
        "can_cancel": if actor.staff() { d.status == Status::Approved && claim.is_none() }
                      else { matches!(d.status, Status::Draft | Status::Submitted | Status::Returned | Status::AwaitingSecond)
                             || (d.status == Status::Approved && claim.is_none()) },
        "can_claim": !actor.staff() && d.status == Status::Approved && claim_open && now >= d.ends_at,
        "deals": deals.iter().map(deal_json).collect::<Vec<_>>(),
        "pipeline": pipeline.text(), "won": won.text(),
        "can_link": matches!(d.status, Status::Approved | Status::Closed),
        "unlinked": if matches!(d.status, Status::Approved | Status::Closed) {
            roi::unlinked(&org)?.iter().map(deal_json).collect::<Vec<_>>() } else { Vec::new() },
    });
    Ok(Response::page("request.html", &format!("MDF: {}", d.activity), &ctx_json))
}

/// A form's error as its template shows it: by field, and the message for the alert.
fn form_error(error: Option<portico_sdk::FieldError>) -> (Value, String) {
    match error {
        Some(e) => (json!({ e.field.unwrap_or_default(): e.message.clone() }), e.message),
        None => (json!({}), String::new()),
    }
}

/// The request form: new, or editing a draft or a returned request; with what was typed and the error, if any.
fn request_form(
    ctx: &Context,
    actor: &Actor,
    req: &Request,
    id: Option<&str>,
    error: Option<portico_sdk::FieldError>,
) -> Result<Response, Error> {
    if actor.staff() {
        return Err(Error::Denied("partners request funds".into()));
    }
    let mut form: BTreeMap<String, String> = req.form.iter().cloned().collect();
    if let (Some(id), true) = (id, req.form.is_empty()) {
        let r = funds::request(actor, id)?;
        let d = &r.data;
        let plain = |minor: i64| crate::money::number(minor, &d.currency);
        form = BTreeMap::from([
            ("budget_id".into(), d.budget_id.clone()),
            ("activity_type".into(), d.activity_type.clone()),
            ("activity".into(), d.activity.clone()),
            ("description".into(), d.description.clone()),
            ("starts".into(), ymd(d.starts_at)),
            ("ends".into(), ymd(d.ends_at)),
            ("total_cost".into(), plain(d.total_cost)),
            ("own_share".into(), plain(d.own_share)),
            ("expected_leads".into(), d.expected_leads.to_string()),
            ("expected_pipeline".into(), plain(d.expected_pipeline)),
            ("asked".into(), plain(d.asked)),
        ]);
    }
    let now = ctx.now_ms();
    let budgets: Vec<Value> = funds::budgets(actor)?
        .iter()
        .filter(|b| !b.data.expired && b.data.ends_at >= now)
        .map(|b| json!({ "id": b.id, "label": format!("{} — {} ({} %, {} to {})", b.data.name, b.data.fund, b.data.pct, date(b.data.starts_at), date(b.data.ends_at)) }))
        .collect();
    let (errors, message) = form_error(error);
    Ok(Response::page(
        "request_form.html",
        if id.is_some() { "Change the request" } else { "Request funds" },
        &json!({ "base": BASE, "id": id, "form": form, "budgets": budgets, "types": ACTIVITY_TYPES,
                 "errors": errors,
                 "message": message, "funds": balance_json(&actor.org_id)? }),
    ))
}

fn claims_page(actor: &Actor) -> Result<Response, Error> {
    let list: Vec<Value> = funds::claims(actor)?.iter().map(claim_json).collect();
    Ok(Response::page("claims.html", "MDF claims", &json!({ "base": BASE, "staff": actor.staff(), "claims": list })))
}

fn budgets_page(actor: &Actor) -> Result<Response, Error> {
    let list = funds::budgets(actor)?.iter().map(|b| budget_json(b, true)).collect::<Result<Vec<_>, _>>()?;
    Ok(Response::page("budgets.html", "MDF budgets", &json!({ "base": BASE, "budgets": list })))
}

/// The programs partners are enrolled in, with their names and tiers.
fn programs() -> Result<Vec<directory::ProgramInfo>, Error> {
    let mut keys: Vec<String> =
        directory::list_orgs(None)?.into_iter().flat_map(|o| o.enrolments.into_iter().map(|e| e.program)).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        if let Some(p) = directory::get_program(&k)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// The budget form's fields: allocations from `alloc-{org}`, pools from `pool-{tier}` and `cap-{tier}`.
fn budget_fields(req: &Request) -> BudgetFields {
    let f = |k: &str| req.field(k).unwrap_or_default().to_string();
    let mode = if f("mode") == "pooled" { Mode::Pooled } else { Mode::Allocated };
    let allocations = req
        .form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("alloc-")?, v)))
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(org, v)| AllocationFields { org_id: org.to_string(), amount: v.clone(), ..Default::default() })
        .collect();
    let pools = req
        .form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("pool-")?, v)))
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(tier, v)| PoolFields { tier: tier.to_string(), amount: v.clone(), cap: f(&format!("cap-{tier}")) })
        .collect();
    BudgetFields {
        name: f("name"),
        program: f("program"),
        currency: f("currency"),
        fund: f("fund"),
        pct: f("pct").trim().parse().unwrap_or(0),
        starts: f("starts"),
        ends: f("ends"),
        claim_days: f("claim_days").trim().parse().ok(),
        second_above: f("second_above"),
        mode,
        allocations,
        pools,
    }
}

fn budget_form(actor: &Actor, req: &Request, error: Option<portico_sdk::FieldError>) -> Result<Response, Error> {
    let _ = actor;
    let programs = programs()?;
    let chosen = req
        .field("program")
        .or(req.query("program"))
        .map(String::from)
        .or_else(|| programs.first().map(|p| p.key.clone()));
    let program = programs.iter().find(|p| Some(&p.key) == chosen.as_ref());
    let orgs: Vec<Value> = match program {
        Some(p) => directory::list_orgs(Some(&p.key))?
            .into_iter()
            .filter(|o| !o.is_vendor)
            .map(|o| {
                let tier =
                    o.enrolments.iter().find(|e| e.program == p.key).map(|e| e.tier_name.clone()).unwrap_or_default();
                json!({ "id": o.id, "name": o.name, "tier": tier, "value": req.field(&format!("alloc-{}", o.id)) })
            })
            .collect(),
        None => Vec::new(),
    };
    let tiers: Vec<Value> = program
        .map(|p| {
            p.tiers
                .iter()
                .map(|t| {
                    json!({ "key": t.key, "name": t.name, "pool": req.field(&format!("pool-{}", t.key)),
                                  "cap": req.field(&format!("cap-{}", t.key)) })
                })
                .collect()
        })
        .unwrap_or_default();
    let form: BTreeMap<String, String> = req.form.iter().cloned().collect();
    let (errors, message) = form_error(error);
    Ok(Response::page(
        "budget_form.html",
        "New MDF budget",
        &json!({ "base": BASE, "form": form, "program": chosen,
                 "programs": programs.iter().map(|p| json!({ "key": p.key, "name": p.name })).collect::<Vec<_>>(),
                 "orgs": orgs, "tiers": tiers, "message": message,
                 "errors": errors }),
    ))
}

fn budget_page(actor: &Actor, id: &str, req: &Request, flash: Option<String>) -> Result<Response, Error> {
    actor.staff_only("see a budget's ledger")?;
    let b = funds::budget(actor, id)?;
    let cur = b.data.currency.clone();
    let (totals, balances) = budget_totals(&b)?;
    let scale = 10_f64.powi(crate::money::decimals(&cur) as i32);
    let major = |v: i64| v as f64 / scale;
    // By partner: allocations, or each partner's use of its pool; by tier: the pools.
    let names: BTreeMap<String, String> =
        b.data.allocations.iter().map(|a| (a.org_id.clone(), a.org_name.clone())).collect();
    let mut partners = Vec::new();
    let mut tiers = Vec::new();
    // What each bucket is, in words, for the ledger.
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for bal in &balances {
        let t = &bal.data.totals;
        if let Some(org) = bal.data.bucket.strip_prefix("org:").or_else(|| bal.data.bucket.strip_prefix("use:")) {
            let name = match names.get(org) {
                Some(n) => n.clone(),
                None => directory::get_org(org)?.map(|o| o.name).unwrap_or_else(|| org.to_string()),
            };
            let what = if bal.data.bucket.starts_with("use:") { format!("{name} (its cap)") } else { name.clone() };
            labels.insert(bal.data.bucket.clone(), what);
            partners.push((name, *t));
        } else if let Some(tier) = bal.data.bucket.strip_prefix("tier:") {
            labels.insert(bal.data.bucket.clone(), format!("the {tier} pool"));
            tiers.push((tier.to_string(), *t));
        }
    }
    partners.sort_by(|a, b| a.0.cmp(&b.0));
    let chart = |rows: &[(String, Totals)]| {
        json!({ "categories": rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), "series": [
            { "name": "Reimbursed", "values": rows.iter().map(|r| major(r.1.reimbursed)).collect::<Vec<_>>() },
            { "name": "Reserved", "values": rows.iter().map(|r| major(r.1.outstanding())).collect::<Vec<_>>() },
            { "name": "Available", "values": rows.iter().map(|r| major(r.1.available().max(0))).collect::<Vec<_>>() },
        ] })
    };
    let rows = |rows: &[(String, Totals)]| {
        rows.iter()
            .map(|(n, t)| {
                let mut v = totals_json(t, &cur);
                v["name"] = json!(n);
                v
            })
            .collect::<Vec<_>>()
    };
    let (entries, next) = ledger(actor, &b, 100, req.query("after").map(String::from))?;
    let bad = funds::check(&b.id)?;
    // Who funds can be added for: the program's partners (allocated) or the pools' tiers.
    let targets: Vec<Value> = match b.data.mode {
        Mode::Allocated => directory::list_orgs(Some(&b.data.program))?
            .into_iter()
            .filter(|o| !o.is_vendor)
            .map(|o| json!({ "value": o.id, "label": o.name }))
            .collect(),
        Mode::Pooled => {
            b.data.pools.iter().map(|p| json!({ "value": p.tier, "label": format!("the {} pool", p.tier) })).collect()
        }
    };
    Ok(Response::page(
        "budget.html",
        &format!("Budget: {}", b.data.name),
        &json!({ "base": BASE, "b": budget_json_with(&b, Some(totals)), "by_partner": chart(&partners), "by_tier": chart(&tiers),
                 "partners": rows(&partners), "tiers": rows(&tiers), "pooled": b.data.mode == Mode::Pooled,
                 "entries": entries.iter().map(|e| {
                     let mut v = entry_json(e);
                     v["bucket_label"] = json!(labels.get(&e.data.bucket).cloned().unwrap_or_else(|| e.data.bucket.clone()));
                     v
                 }).collect::<Vec<_>>(),
                 "next": next, "check_ok": bad.is_empty(), "flash": flash, "targets": targets,
                 "open": !b.data.expired,
                 "mismatches": bad.len() }),
    ))
}

pub fn widget(ctx: &Context, actor: &Actor, widget: &str) -> Result<View, Error> {
    let (title, context) = match widget {
        "available" => ("My available funds", json!({ "base": BASE, "funds": balance_json(&actor.org_id)? })),
        "pending" => {
            actor.staff_only("see the approval queue")?;
            let mut list = funds::requests(actor, Some("submitted"))?;
            list.extend(funds::requests(actor, Some("awaiting_second"))?);
            list.sort_by_key(|r| r.data.updated_at);
            let claims = CLAIMS.query().all_orgs().eq("status", "submitted").count()?;
            let days = ClaimDays::of(&funds::budgets(actor)?);
            let rows: Vec<Value> =
                list.iter().take(5).map(|r| request_json(ctx, actor, r, None, days.get(r))).collect();
            ("Pending MDF approvals", json!({ "base": BASE, "count": list.len(), "rows": rows, "claims": claims }))
        }
        other => return Err(Error::NotFound(format!("no widget {other}"))),
    };
    Ok(View {
        template: format!("widget_{widget}.html"),
        title: title.into(),
        context: context.to_string(),
        status: 200,
    })
}

pub fn card(ctx: &Context, org_id: &str) -> Result<View, Error> {
    let requests = funds::REQUESTS.query().org(org_id).limit(500).fetch::<FundRequest>()?.records;
    let open = requests.iter().filter(|r| matches!(r.data.status, Status::Submitted | Status::AwaitingSecond)).count();
    let approved = requests.iter().filter(|r| r.data.status == Status::Approved).count();
    let _ = ctx;
    Ok(View {
        template: "card_mdf.html".into(),
        title: "Market development funds".into(),
        context: json!({ "base": BASE, "funds": balance_json(org_id)?, "open": open, "approved": approved,
                         "requests": requests.len() })
        .to_string(),
        status: 200,
    })
}
