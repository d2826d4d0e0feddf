//! Pages (`/p/deal-registration/…`) and the JSON API (`/api/v1/p/deal-registration/…`).

use portico_sdk::storage::{Direction, Record};
use portico_sdk::{Context, Error, Request, Response, Value, json};

use crate::matching;
use crate::model::{self, Deal, FieldErrors, Input, Status};
use crate::receipts::{self, Receipt};
use crate::rules::Settings;
use crate::workflow::{self, Actor, DEALS, Decision};

const BASE: &str = "/p/deal-registration";

fn page(template: &str, title: &str, status: u16, context: Value) -> Response {
    let mut r = Response::page(template, title, &context);
    if let Response::Page(v) = &mut r {
        v.status = status;
    }
    r
}

fn fields_json(errors: &FieldErrors) -> Value {
    Value::Object(errors.iter().map(|(f, m)| (f.to_string(), Value::String(m.clone()))).collect())
}

/// `{"error":{…}}` with every field's problem, the first as `field`.
fn invalid_json(errors: &FieldErrors) -> Response {
    let (field, message) = errors.first().cloned().unwrap_or(("deal", "is invalid".into()));
    Response::json_status(
        422,
        &json!({"error": {"code": "invalid", "message": format!("{}: {message}", field.replace('_', " ")),
                          "field": field, "fields": fields_json(errors)}}),
    )
}

/// Parses a form's amount (`25,000.50`, `25000`); `Err` for text that is not a number.
fn parse_amount(raw: &str) -> Result<Option<f64>, String> {
    let cleaned: String = raw.chars().filter(|c| !matches!(c, ',' | ' ' | '_' | '\u{a0}')).collect();
    if cleaned.is_empty() {
        return Ok(None);
    }
    cleaned.parse::<f64>().map(Some).map_err(|_| "enter a number like 25000".to_string())
}

fn form_input(req: &Request) -> (Input, FieldErrors) {
    let f = |k: &str| req.field(k).unwrap_or("").to_string();
    let mut errors = Vec::new();
    let amount = parse_amount(&f("amount")).unwrap_or_else(|e| {
        errors.push(("amount", e));
        None
    });
    let input = Input {
        customer_name: f("customer_name"),
        customer_domain: f("customer_domain"),
        country: f("country"),
        amount,
        currency: f("currency"),
        products: req.form.iter().filter(|(k, _)| k == "products").map(|(_, v)| v.clone()).collect(),
        expected_close_date: f("expected_close_date"),
        contact_name: f("contact_name"),
        contact_email: f("contact_email"),
        notes: f("notes"),
    };
    (input, errors)
}

/// Adds `more` to `errors`, keeping the first problem of each field (the form's own parse errors come first).
fn merge(errors: &mut FieldErrors, more: FieldErrors) {
    for (field, message) in more {
        if !errors.iter().any(|(f, _)| *f == field) {
            errors.push((field, message));
        }
    }
}

/// Human time left until `at` (or overdue).
fn until(now: i64, at: i64) -> (String, bool) {
    let d = at - now;
    let h = d.abs() / 3_600_000;
    let text = if h >= 48 {
        format!("{} days", h / 24)
    } else if h >= 1 {
        format!("{h} h")
    } else {
        "under 1 h".into()
    };
    if d < 0 { (format!("overdue by {text}"), true) } else { (format!("due in {text}"), false) }
}

fn amount_text(d: &Deal) -> String {
    d.input.amount.map(|a| format!("{} {}", workflow::group_thousands(a), d.input.currency)).unwrap_or_default()
}

/// A row of a deal list.
fn row(r: &Record<Deal>, now: i64) -> Value {
    let d = &r.data;
    let due = d.due_at.map(|at| until(now, at));
    json!({
        "id": r.id, "customer_name": d.input.customer_name, "domain": d.domain, "org_name": d.org_name,
        "amount": amount_text(d), "status": d.status, "status_label": d.status.label(),
        "registered_at": d.registered_at, "created_at": d.created_at, "expires_at": d.exclusivity_expires_at,
        "country": d.input.country, "conflicts": d.conflicts.len(),
        "due": due.as_ref().map(|(t, _)| t), "overdue": due.is_some_and(|(_, o)| o),
        "extension_pending": d.extension.as_ref().is_some_and(|e| e.status == "pending"),
        "step": d.approval.as_ref().filter(|a| a.mode == "chain")
            .map(|a| format!("step {} of {}", a.approvals.len() + 1, a.steps.len())),
    })
}

fn statuses() -> Vec<Value> {
    Status::ALL.iter().map(|s| json!({ "key": s, "label": s.label() })).collect()
}

/// The deals the actor may list, filtered; partners see only their organisation's.
fn list(actor: &Actor, req: &Request, limit: u32) -> Result<portico_sdk::storage::Page<Deal>, Error> {
    let mut q = DEALS.query().order_by("created_at", Direction::Desc).limit(limit);
    if actor.is_vendor() {
        q = q.all_orgs();
    }
    if let Some(s) = req.query("status").filter(|s| !s.is_empty()) {
        let st = Status::parse(s).ok_or_else(|| Error::invalid("status", "not a deal status"))?;
        q = q.eq("status", st.key());
    }
    if let Some(text) = req.query("q").map(str::trim).filter(|s| !s.is_empty()) {
        q = q.prefix("name_norm", &matching::normalize_company(text));
    }
    q.after(req.query("cursor").filter(|c| !c.is_empty()).map(str::to_string)).fetch::<Deal>()
}

/// The form's context: values, errors, products and currencies.
fn form_context(s: &Settings, input: &Input, errors: &FieldErrors, id: Option<&str>, action: &str) -> Value {
    json!({
        "base": BASE, "id": id, "action": action, "d": input,
        "amount": input.amount.map(|a| a.to_string()).unwrap_or_default(),
        "errors": fields_json(errors), "has_errors": !errors.is_empty(),
        "products": s.products, "currencies": model::currency_codes(),
    })
}

/// Everything the deal page shows; `error` when an action just failed.
fn deal_context(
    ctx: &Context,
    actor: &Actor,
    r: &Record<Deal>,
    s: &Settings,
    error: Option<String>,
) -> Result<Value, Error> {
    let now = ctx.now_ms();
    let mut r = r.clone();
    workflow::current_conflicts(&mut r, s.similarity_threshold, now)?;
    let r = &r;
    let d = &r.data;
    let vendor = actor.is_vendor();
    let conflicts: Vec<Value> = if vendor {
        d.conflicts
            .iter()
            .filter_map(|c| {
                let other = DEALS.get::<Deal>(&c.deal_id).ok().flatten()?;
                Some(json!({ "id": c.deal_id, "kinds": c.kinds, "pct": (c.score * 100.0).round(), "row": row(&other, now) }))
            })
            .collect()
    } else {
        Vec::new()
    };
    let receipt = receipts::latest(d).ok().flatten();
    let step = d.approval.as_ref().and_then(|a| a.steps.get(a.approvals.len())).cloned();
    let due = d.due_at.map(|at| until(now, at));
    let ext = &d.policy.extension_policy;
    let may_extend = d.status == Status::Approved
        && d.extension.as_ref().is_none_or(|e| e.status != "pending")
        && (ext == "unlimited" || (ext == "once" && d.extensions_granted == 0));
    let reasons =
        if d.policy.rejection_reasons.is_empty() { &s.rejection_reasons } else { &d.policy.rejection_reasons };
    Ok(json!({
        "base": BASE, "id": r.id, "deal": d.to_json(&r.id, vendor), "d": d, "status_label": d.status.label(),
        "amount": amount_text(d), "vendor": vendor, "conflict_rows": conflicts,
        "conflict_count": d.conflicts.len(),
        "receipt": receipt, "step": step,
        "due": due.as_ref().map(|(t, _)| t), "overdue": due.is_some_and(|(_, o)| o),
        "can_edit": d.status.editable(), "can_submit": d.status.editable(),
        "can_withdraw": matches!(d.status, Status::Draft | Status::Submitted | Status::Returned),
        "can_decide": vendor && d.status == Status::Submitted,
        "can_close": d.status == Status::Approved,
        "can_reverse": vendor && d.status == Status::Won,
        "can_request_extension": may_extend,
        "extension_pending": d.extension.as_ref().is_some_and(|e| e.status == "pending"),
        "reasons": reasons, "error": error,
        "done": None::<String>,
    }))
}

fn deal_page(
    ctx: &Context,
    actor: &Actor,
    r: &Record<Deal>,
    s: &Settings,
    status: u16,
    error: Option<String>,
    done: Option<&str>,
) -> Result<Response, Error> {
    let mut c = deal_context(ctx, actor, r, s, error)?;
    c["done"] = json!(done);
    Ok(page("deal.html", &r.data.input.customer_name, status, c))
}

/// A failed action on a page shows the deal again with the message; anything unexpected propagates.
fn action_failed(ctx: &Context, actor: &Actor, id: &str, s: &Settings, e: Error) -> Result<Response, Error> {
    let (status, message) = match e {
        Error::Invalid(f) => (422, f.message),
        Error::Conflict(m) => (409, m),
        Error::Denied(m) => (403, m),
        other => return Err(other),
    };
    let r = workflow::load(actor, id)?;
    deal_page(ctx, actor, &r, s, status, Some(message), None)
}

/// Runs one of the deal's actions.
fn act(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    action: &str,
    s: &Settings,
    dec: Decision,
) -> Result<Record<Deal>, Error> {
    let r = workflow::load(actor, id)?;
    match action {
        "submit" => workflow::submit(ctx, actor, r, s),
        "approve" => workflow::approve(ctx, actor, r, s, dec),
        "reject" => workflow::reject(ctx, actor, r, dec),
        "return" => workflow::send_back(ctx, actor, r, dec),
        "withdraw" => workflow::withdraw(ctx, actor, r, dec),
        "won" => workflow::close(ctx, actor, r, true, dec),
        "lost" => workflow::close(ctx, actor, r, false, dec),
        "reverse" => workflow::reverse(ctx, actor, r, dec),
        "extension-requests" => workflow::request_extension(ctx, actor, r, &dec.reason),
        "extension-requests/grant" => workflow::decide_extension(ctx, actor, r, true, &dec.note),
        "extension-requests/decline" => workflow::decide_extension(ctx, actor, r, false, &dec.note),
        _ => Err(Error::NotFound(format!("no action {action}"))),
    }
}

fn done_message(action: &str, d: &Deal) -> &'static str {
    match (action, d.status) {
        ("submit", Status::Approved) => "approved",
        ("submit", _) => "submitted",
        ("approve", Status::Approved) => "approved",
        ("approve", _) => "step",
        ("extension-requests", _) => "extension",
        ("extension-requests/grant", _) => "extended",
        _ => "updated",
    }
}

/// The latest receipt of a deal the actor may see; not found before its first submission.
fn latest_receipt(actor: &Actor, id: &str) -> Result<Receipt, Error> {
    let r = workflow::load(actor, id)?;
    receipts::latest(&r.data)?.ok_or_else(|| Error::NotFound("no receipt yet".into()))
}

/// What the early duplicate hint says about a customer being typed in: the kinds of evidence and (for vendor
/// staff only) which deals.
struct Hint {
    kinds: Vec<String>,
    deal_ids: Vec<String>,
}

/// Probes the registrations for the customer in the query (`customer_name`, `customer_domain`, `country`,
/// `products`), as the form is being filled in.
fn duplicate_hint(ctx: &Context, req: &Request, s: &Settings) -> Result<Hint, Error> {
    let input = Input {
        customer_name: req.query("customer_name").unwrap_or("").to_string(),
        customer_domain: req.query("customer_domain").unwrap_or("").to_string(),
        country: req.query("country").unwrap_or("").to_uppercase(),
        products: req.query.iter().filter(|(k, _)| k == "products").map(|(_, v)| v.clone()).collect(),
        ..Input::default()
    };
    let name_norm = matching::normalize_company(&input.customer_name);
    let domain = matching::registrable_domain(&input.customer_domain).unwrap_or_default();
    if name_norm.is_empty() && domain.is_empty() {
        return Ok(Hint { kinds: Vec::new(), deal_ids: Vec::new() });
    }
    let name_keys = matching::name_keys(&name_norm);
    let checked = model::Checked { input, domain, name_norm, name_keys };
    let probe = workflow::probe(checked, ctx.program().unwrap_or(""));
    let found = workflow::find_conflicts("", &probe, s.similarity_threshold, ctx.now_ms())?;
    let mut kinds: Vec<String> = found.iter().flat_map(|c| c.kinds.iter().cloned()).collect();
    kinds.sort();
    kinds.dedup();
    Ok(Hint { kinds, deal_ids: found.into_iter().map(|c| c.deal_id).collect() })
}

/// The pages.
pub fn page_route(ctx: &Context, actor: &Actor, req: &Request, s: &Settings) -> Result<Response, Error> {
    let segs = req.segments();
    let post = req.method == "POST";
    match (post, segs.as_slice()) {
        (false, []) => {
            let p = list(actor, req, 50)?;
            let now = ctx.now_ms();
            let rows: Vec<Value> = p.records.iter().map(|r| row(r, now)).collect();
            Ok(page(
                "deals.html",
                "Deals",
                200,
                json!({
                    "base": BASE, "rows": rows, "next_cursor": p.next_cursor, "statuses": statuses(),
                    "status": req.query("status").unwrap_or(""), "q": req.query("q").unwrap_or(""),
                    "vendor": actor.is_vendor(),
                }),
            ))
        }
        // The duplicate hint under the form, refreshed by the host's behaviour script as the partner types: it says
        // only that a registration may exist and why, never whose.
        (false, ["check"]) => {
            let hint = duplicate_hint(ctx, req, s)?;
            let why: Vec<&str> = hint
                .kinds
                .iter()
                .map(|k| match k.as_str() {
                    "domain" => "the same website",
                    "name" => "a very similar company name",
                    "country_products" => "a similar name in the same country for the same products",
                    other => other,
                })
                .collect();
            Ok(page("hint.html", "Duplicate check", 200, json!({ "conflict": !hint.deal_ids.is_empty(), "why": why })))
        }
        (false, ["new"]) => {
            Ok(page("form.html", "Register a deal", 200, form_context(s, &workflow::blank(), &Vec::new(), None, "new")))
        }
        (true, ["new"]) => {
            let (input, mut errors) = form_input(req);
            let submitting = req.field("intent") == Some("submit");
            match model::check(input.clone(), &s.products, submitting) {
                Ok(checked) if errors.is_empty() => {
                    let rec = workflow::create(ctx, actor, checked)?;
                    let id = rec.id.clone();
                    let done = if submitting {
                        let saved = workflow::submit(ctx, actor, rec, s)?;
                        done_message("submit", &saved.data)
                    } else {
                        "draft"
                    };
                    Ok(Response::redirect(format!("{BASE}/deals/{id}?done={done}")))
                }
                Ok(_) => Ok(page("form.html", "Register a deal", 422, form_context(s, &input, &errors, None, "new"))),
                Err(more) => {
                    merge(&mut errors, more);
                    Ok(page("form.html", "Register a deal", 422, form_context(s, &input, &errors, None, "new")))
                }
            }
        }
        (false, ["queue"]) => queue(ctx, req, s),
        (false, ["export.csv"]) => export(actor, req),
        (false, ["verify"]) => Ok(page("verify.html", "Verify a receipt", 200, json!({ "base": BASE, "text": "" }))),
        (true, ["verify"]) => {
            let text = req.field("receipt").unwrap_or("").to_string();
            let verdict = match serde_json::from_str::<Value>(&text) {
                Ok(v) => receipts::verify(&v)?,
                Err(_) => json!({ "valid": false, "reason": "paste the receipt's JSON exactly as downloaded" }),
            };
            Ok(page("verify.html", "Verify a receipt", 200, json!({ "base": BASE, "text": text, "verdict": verdict })))
        }
        (false, ["deals", id]) => {
            let r = workflow::load(actor, id)?;
            let done = req.query("done").filter(|d| !d.is_empty());
            deal_page(ctx, actor, &r, s, 200, None, done)
        }
        (false, ["deals", id, "edit"]) => {
            let r = workflow::load(actor, id)?;
            if !r.data.status.editable() {
                return Ok(Response::redirect(format!("{BASE}/deals/{id}")));
            }
            Ok(page("form.html", "Edit deal", 200, form_context(s, &r.data.input, &Vec::new(), Some(id), "edit")))
        }
        (true, ["deals", id, "edit"]) => {
            let r = workflow::load(actor, id)?;
            let (input, mut errors) = form_input(req);
            let submitting = req.field("intent") == Some("submit");
            match model::check(input.clone(), &s.products, submitting) {
                Ok(checked) if errors.is_empty() => {
                    let saved = match workflow::edit(actor, r, checked) {
                        Ok(saved) => saved,
                        Err(e) => return action_failed(ctx, actor, id, s, e),
                    };
                    if !submitting {
                        return Ok(Response::redirect(format!("{BASE}/deals/{id}?done=saved")));
                    }
                    match workflow::submit(ctx, actor, saved, s) {
                        Ok(d) => Ok(Response::redirect(format!(
                            "{BASE}/deals/{id}?done={}",
                            done_message("submit", &d.data)
                        ))),
                        Err(e) => action_failed(ctx, actor, id, s, e),
                    }
                }
                Ok(_) => Ok(page("form.html", "Edit deal", 422, form_context(s, &input, &errors, Some(id), "edit"))),
                Err(more) => {
                    merge(&mut errors, more);
                    Ok(page("form.html", "Edit deal", 422, form_context(s, &input, &errors, Some(id), "edit")))
                }
            }
        }
        (false, ["deals", id, "receipt"]) => {
            let receipt = latest_receipt(actor, id)?;
            Ok(Response::File {
                content_type: "application/json".into(),
                filename: format!("deal-receipt-{}.json", receipt.seq),
                body: serde_json::to_vec_pretty(&receipt).map_err(Error::internal)?,
            })
        }
        (false, ["deals", id, "conflicts"]) => conflicts_page(ctx, actor, id, s),
        (true, ["deals", id, rest @ ..]) => {
            let action = rest.join("/");
            let dec = Decision {
                reason: req.field("reason").unwrap_or("").to_string(),
                note: req.field("note").unwrap_or("").to_string(),
                protection_days: match req.field("protection_days").map(str::trim).filter(|v| !v.is_empty()) {
                    None => None,
                    Some(v) => match v.parse() {
                        Ok(n) => Some(n),
                        Err(_) => {
                            return action_failed(
                                ctx,
                                actor,
                                id,
                                s,
                                Error::invalid("protection_days", "enter a whole number of days"),
                            );
                        }
                    },
                },
            };
            match act(ctx, actor, id, &action, s, dec) {
                Ok(saved) => {
                    Ok(Response::redirect(format!("{BASE}/deals/{id}?done={}", done_message(&action, &saved.data))))
                }
                Err(e) => action_failed(ctx, actor, id, s, e),
            }
        }
        _ => Err(Error::NotFound("no such page".into())),
    }
}

fn queue(ctx: &Context, req: &Request, s: &Settings) -> Result<Response, Error> {
    let now = ctx.now_ms();
    let p = DEALS
        .query()
        .all_orgs()
        .eq("status", "submitted")
        .order_by("due_at", Direction::Asc)
        .limit(50)
        .after(req.query("cursor").map(str::to_string))
        .fetch::<Deal>()?;
    let mut rows = Vec::with_capacity(p.records.len());
    for mut r in p.records {
        workflow::current_conflicts(&mut r, s.similarity_threshold, now)?;
        rows.push(row(&r, now));
    }
    let ext = DEALS.query().all_orgs().eq("extension_pending", true).limit(100).fetch::<Deal>()?;
    let ext_rows: Vec<Value> = ext
        .records
        .iter()
        .map(|r| {
            let mut v = row(r, now);
            v["reason"] = json!(r.data.extension.as_ref().map(|e| e.reason.clone()));
            v
        })
        .collect();
    Ok(page(
        "queue.html",
        "Deal approvals",
        200,
        json!({
            "base": BASE, "rows": rows, "next_cursor": p.next_cursor, "extensions": ext_rows,
            "problems": s.problems(),
        }),
    ))
}

fn conflicts_page(ctx: &Context, actor: &Actor, id: &str, s: &Settings) -> Result<Response, Error> {
    if !actor.is_vendor() {
        return Err(Error::NotFound("no such page".into()));
    }
    let mut r = workflow::load(actor, id)?;
    let now = ctx.now_ms();
    workflow::current_conflicts(&mut r, s.similarity_threshold, now)?;
    let side = |rec: &Record<Deal>, kinds: &[String], score: Option<f64>| {
        let d = &rec.data;
        json!({
            "id": rec.id, "row": row(rec, now), "customer_domain": d.input.customer_domain, "country": d.input.country,
            "products": d.input.products, "contact": d.input.contact_name, "close": d.input.expected_close_date,
            "owner": d.owner_name, "kinds": kinds, "pct": score.map(|s| (s * 100.0).round()),
        })
    };
    let mut columns = vec![side(&r, &[], None)];
    for c in &r.data.conflicts {
        if let Some(other) = DEALS.get::<Deal>(&c.deal_id)? {
            columns.push(side(&other, &c.kinds, Some(c.score)));
        }
    }
    Ok(page("conflicts.html", "Possible duplicates", 200, json!({ "base": BASE, "id": id, "columns": columns })))
}

fn csv_field(s: &str) -> String {
    // Quote everything, double quotes, and keep spreadsheet formulas from running.
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn export(actor: &Actor, req: &Request) -> Result<Response, Error> {
    if !actor.is_vendor() {
        return Err(Error::NotFound("no such page".into()));
    }
    let mut out = String::from(
        "id,partner,customer_name,customer_domain,country,amount,currency,products,expected_close_date,status,registered_at,exclusivity_expires_at\n",
    );
    let mut cursor = None;
    for _ in 0..20 {
        let mut q = DEALS.query().all_orgs().order_by("created_at", Direction::Asc).limit(1000).after(cursor);
        if let Some(st) = req.query("status").and_then(Status::parse) {
            q = q.eq("status", st.key());
        }
        let p = q.fetch::<Deal>()?;
        for r in &p.records {
            let d = &r.data;
            let cells = [
                r.id.clone(),
                d.org_name.clone(),
                d.input.customer_name.clone(),
                d.domain.clone(),
                d.input.country.clone(),
                d.input.amount.map(|a| format!("{a:.2}")).unwrap_or_default(),
                d.input.currency.clone(),
                d.input.products.join("; "),
                d.input.expected_close_date.clone(),
                d.status.key().to_string(),
                d.registered_at.map(model::iso).unwrap_or_default(),
                d.exclusivity_expires_at.map(model::iso).unwrap_or_default(),
            ];
            out.push_str(&cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        cursor = p.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(Response::File {
        content_type: "text/csv; charset=utf-8".into(),
        filename: "deals.csv".into(),
        body: out.into_bytes(),
    })
}

/// An optional JSON body: empty or `null` means the defaults.
fn body_or_default<T: serde::de::DeserializeOwned + Default>(req: &Request) -> Result<T, Error> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match req.json::<Value>()? {
        Value::Null => Ok(T::default()),
        v => serde_json::from_value(v).map_err(|e| Error::invalid("body", e.to_string())),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct NewDeal {
    #[serde(flatten)]
    input: Input,
    submit: bool,
}

/// The JSON API.
pub fn api_route(ctx: &Context, actor: &Actor, req: &Request, s: &Settings) -> Result<Response, Error> {
    let segs = req.segments();
    let vendor = actor.is_vendor();
    let one = |r: &Record<Deal>| Response::json(&r.data.to_json(&r.id, vendor));
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["deals"]) => {
            let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(50u32).clamp(1, 200);
            let p = list(actor, req, limit)?;
            let deals: Vec<Value> = p.records.iter().map(|r| r.data.to_json(&r.id, vendor)).collect();
            Ok(Response::json(&json!({ "deals": deals, "next_cursor": p.next_cursor })))
        }
        ("POST", ["deals"]) => {
            let body: NewDeal = req.json()?;
            let checked = match model::check(body.input, &s.products, body.submit) {
                Ok(c) => c,
                Err(errors) => return Ok(invalid_json(&errors)),
            };
            let mut rec = workflow::create(ctx, actor, checked)?;
            if body.submit {
                rec = workflow::submit(ctx, actor, rec, s)?;
            }
            Ok(Response::json_status(201, &rec.data.to_json(&rec.id, vendor)))
        }
        ("GET", ["deals", id]) => {
            let mut r = workflow::load(actor, id)?;
            workflow::current_conflicts(&mut r, s.similarity_threshold, ctx.now_ms())?;
            Ok(one(&r))
        }
        ("PUT", ["deals", id]) => {
            let r = workflow::load(actor, id)?;
            let input: Input = req.json()?;
            let checked = match model::check(input, &s.products, false) {
                Ok(c) => c,
                Err(errors) => return Ok(invalid_json(&errors)),
            };
            Ok(one(&workflow::edit(actor, r, checked)?))
        }
        ("GET", ["deals", id, "receipt"]) => Ok(Response::json(&latest_receipt(actor, id)?)),
        ("POST", ["deals", id, rest @ ..]) => {
            let dec: Decision = body_or_default(req)?;
            Ok(one(&act(ctx, actor, id, &rest.join("/"), s, dec)?))
        }
        ("POST", ["receipts", "verify"]) => {
            let v: Value = req.json()?;
            Ok(Response::json(&receipts::verify(&v)?))
        }
        ("GET", ["conflicts"]) => {
            let hint = duplicate_hint(ctx, req, s)?;
            let mut out = json!({ "conflict": !hint.deal_ids.is_empty(), "kinds": hint.kinds });
            if vendor {
                out["deal_ids"] = json!(hint.deal_ids);
            }
            Ok(Response::json(&out))
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}
