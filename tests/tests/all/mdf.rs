//! Market development funds through the real host: 20 concurrent approvals against one budget, partial approvals,
//! claims and payments that add up in the ledger to the cent, a second approver above the limit, the claim deadline,
//! expiry at the period's end on the test clock, ROI from deal registration's events, and partners kept to their own
//! funds by page, API and CSV — with the ledger's running totals recomputed after each test, on SQLite and
//! PostgreSQL.

use portico_tests::{DbKind, Page, TestApp, capabilities, deals, mdf, spawn_app};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

async fn setup(kind: DbKind) -> TestApp {
    let app = spawn_app(kind).await;
    app.install(&mdf().package(None), &["reseller", "msp"]).await;
    app
}

async fn token(app: &TestApp, email: &str) -> String {
    app.client().token(email, "portico-demo").await
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Page {
    app.client().api(method, &format!("/api/v1/p/mdf{path}"), Some(token), body).await
}

/// The date `days` from the test clock's today.
fn day(app: &TestApp, days: i64) -> String {
    chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms() + days * DAY)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

/// A budget of the reseller program allocated to Northwind (and Fabrikam), made by the vendor admin.
async fn budget(app: &TestApp, admin: &str, extra: Value) -> String {
    let mut body = json!({
        "name": "Co-op", "program": "reseller", "currency": "USD", "fund": "Co-op marketing", "pct": 50,
        "starts": day(app, -1), "ends": day(app, 90), "mode": "allocated",
        "allocations": [{ "org_name": "Northwind Solutions", "amount": "25,000.00" },
                        { "org_name": "Fabrikam Systems", "amount": "5,000.00" }],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let page = call(app, admin, Method::POST, "/budgets", Some(body)).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    page.json()["id"].as_str().unwrap().to_string()
}

/// A submitted request; `fields` override the defaults.
async fn request(app: &TestApp, partner: &str, budget: &str, fields: Value) -> Value {
    let mut body = json!({
        "budget_id": budget, "activity_type": "Event", "activity": "Roadshow", "starts": day(app, 0),
        "ends": day(app, 2), "total_cost": "12,000.00", "own_share": "2,000.00", "expected_leads": 10,
        "expected_pipeline": "50,000", "asked": "5,000.00", "submit": true,
    });
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    let page = call(app, partner, Method::POST, "/requests", Some(body)).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    page.json()
}

/// The ledger's running totals equal a recomputation from its entries, for every budget.
async fn check_ledger(app: &TestApp, admin: &str) {
    let list = call(app, admin, Method::GET, "/budgets", None).await.json();
    for b in list["budgets"].as_array().unwrap() {
        let id = b["id"].as_str().unwrap();
        let page = call(app, admin, Method::GET, &format!("/budgets/{id}/check"), None).await;
        assert_eq!(page.json()["ok"], json!(true), "budget {id}: {}", page.body);
    }
}

async fn balance(app: &TestApp, partner: &str, budget: &str) -> Value {
    let page = call(app, partner, Method::GET, "/balance", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.json()["funds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["budget_id"] == json!(budget))
        .cloned()
        .unwrap_or(Value::Null)
}

async fn claim(app: &TestApp, partner: &str, request_id: &str, spend: &str, invoice: bool) -> Page {
    let mut form = Form::new()
        .text("request_id", request_id.to_string())
        .text("spend", spend.to_string())
        .part("proof", Part::bytes(b"%PDF-1.4 proof of performance".to_vec()).file_name("photos.pdf"));
    if invoice {
        form = form.part("invoice", Part::bytes(b"%PDF-1.4 invoice".to_vec()).file_name("invoice.pdf"));
    }
    app.client().api_multipart("/api/v1/p/mdf/claims", partner, form).await
}

async fn twenty_concurrent_approvals_never_overdraw_a_budget(kind: DbKind) {
    let app = setup(kind).await;
    let (admin, manager, bob) = (
        token(&app, "admin@acme.example").await,
        token(&app, "manager@acme.example").await,
        token(&app, "bob@northwind.example").await,
    );
    let id = budget(
        &app,
        &admin,
        json!({ "pct": 100, "allocations": [{ "org_name": "Northwind Solutions", "amount": "10,000.00" }] }),
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let r = request(&app, &bob, &id, json!({ "activity": format!("Campaign {n}"), "total_cost": "1,000.00", "own_share": "0", "asked": "1,000.00" })).await;
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    // Twenty approvers at once, each for 1,000.00 of a 10,000.00 budget.
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, rid)| {
            let (app, who, path) =
                (&app, if n % 2 == 0 { &admin } else { &manager }, format!("/requests/{rid}/approve"));
            async move { call(app, who, Method::POST, &path, Some(json!({}))).await }
        })
        .collect();
    let pages = futures::future::join_all(tasks).await;
    let approved = pages.iter().filter(|p| p.status == StatusCode::OK).count();
    for p in pages.iter().filter(|p| p.status != StatusCode::OK) {
        assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
        let why = p.json()["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(why.contains("left; this needs 1,000.00 USD") || why.contains("try again"), "{why}");
    }
    assert!((1..=10).contains(&approved), "{approved} approved");
    let funds = balance(&app, &bob, &id).await;
    assert_eq!(funds["available"], json!(1_000_000 - 100_000 * approved as i64), "{funds}");
    assert_eq!(funds["reserved"], json!(100_000 * approved as i64));
    // A refused approval left its request waiting, untouched.
    let list = call(&app, &admin, Method::GET, "/requests?status=submitted", None).await.json();
    assert_eq!(list["requests"].as_array().unwrap().len(), 20 - approved);
    check_ledger(&app, &admin).await;
}

#[tokio::test]
async fn twenty_concurrent_approvals_never_overdraw_a_budget_sqlite() {
    twenty_concurrent_approvals_never_overdraw_a_budget(DbKind::Sqlite).await;
}

#[tokio::test]
async fn twenty_concurrent_approvals_never_overdraw_a_budget_postgres() {
    twenty_concurrent_approvals_never_overdraw_a_budget(DbKind::Postgres).await;
}

async fn partial_approval_claims_and_payments_add_up_to_the_cent(kind: DbKind) {
    let app = setup(kind).await;
    // A plugin that records the MDF events it receives, to check their documented payloads.
    let text = capabilities().manifest_text();
    let (from, to) = (text.find("events = [").unwrap(), text.find("]\n\n[grants]").unwrap() + 1);
    let manifest = format!("{}events = [\"mdf.request.approved\", \"mdf.claim.paid\"]{}", &text[..from], &text[to..]);
    app.install(&capabilities().package(Some(&manifest)), &["reseller", "msp"]).await;
    let (admin, manager, bob) = (
        token(&app, "admin@acme.example").await,
        token(&app, "manager@acme.example").await,
        token(&app, "bob@northwind.example").await,
    );
    let id = budget(&app, &admin, json!({ "second_above": "10,000.00" })).await;
    // Asking beyond the fund's share of the cost is refused on the field.
    let page = call(
        &app,
        &bob,
        Method::POST,
        "/requests",
        Some(json!({ "budget_id": id, "activity_type": "Event",
        "activity": "Too much", "starts": day(&app, 0), "ends": day(&app, 1), "total_cost": "1,000", "asked": "600" })),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert_eq!(page.json()["error"]["field"], json!("asked"));
    assert!(page.body.contains("at most 500.00 USD"), "{}", page.body);
    let r = request(&app, &bob, &id, json!({})).await;
    let rid = r["id"].as_str().unwrap();
    // A partner cannot approve; the manager approves in part, with cents.
    assert_eq!(
        call(&app, &bob, Method::POST, &format!("/requests/{rid}/approve"), Some(json!({}))).await.status,
        StatusCode::FORBIDDEN
    );
    let page =
        call(&app, &manager, Method::POST, &format!("/requests/{rid}/approve"), Some(json!({ "amount": "4,500.01" })))
            .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!((page.json()["status"].clone(), page.json()["approved"].clone()), (json!("approved"), json!(450_001)));
    // A claim before the activity has ended is refused.
    let page = claim(&app, &bob, rid, "8,000.03", true).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("Claim after the activity"), "{}", page.body);
    app.state.clock.advance(3 * DAY);
    // Without the invoice: refused on the field, nothing kept.
    let page = claim(&app, &bob, rid, "8,000.03", false).await;
    assert_eq!(
        (page.status, page.json()["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("invoice"))
    );
    assert!(call(&app, &bob, Method::GET, "/claims", None).await.json()["claims"].as_array().unwrap().is_empty());
    // Spent less than planned: the fund pays its 50 %, rounded down to the cent.
    let page = claim(&app, &bob, rid, "8,000.03", true).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let c = page.json();
    let cid = c["id"].as_str().unwrap();
    assert_eq!(c["payable"], json!(400_001));
    assert_eq!(
        call(&app, &bob, Method::POST, &format!("/claims/{cid}/approve"), Some(json!({}))).await.status,
        StatusCode::FORBIDDEN
    );
    let page =
        call(&app, &admin, Method::POST, &format!("/claims/{cid}/approve"), Some(json!({ "amount": "4,000.02" })))
            .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert_eq!(
        call(&app, &admin, Method::POST, &format!("/claims/{cid}/approve"), Some(json!({}))).await.status,
        StatusCode::OK
    );
    // Paid in two payments; a payment above what is owed is refused.
    let pay = |amount: &'static str| {
        let (app, admin, path) = (&app, &admin, format!("/claims/{cid}/pay"));
        async move { call(app, admin, Method::POST, &path, Some(json!({ "amount": amount, "reference": "ACH 1" }))).await }
    };
    assert_eq!(pay("1,500.00").await.status, StatusCode::OK);
    let page = pay("3,000.00").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("2,500.01 USD still owed"), "{}", page.body);
    let page = pay("").await;
    assert_eq!((page.status, page.json()["status"].clone()), (StatusCode::OK, json!("paid")), "{}", page.body);
    // The events, with their documented payloads.
    portico::plugins::jobs::deliver_due(&app.state, 100).await.unwrap();
    let seen = app.client().api(Method::GET, "/api/v1/p/capabilities/seen", Some(&admin), None).await.json();
    let payload = |topic: &str| {
        seen["seen"].as_array().unwrap().iter().find(|e| e["topic"] == topic).map(|e| e["payload"].clone())
    };
    let approved = payload("mdf.request.approved").unwrap_or_else(|| panic!("{seen}"));
    assert_eq!(
        (approved["request_id"].as_str(), &approved["approved"], &approved["currency"]),
        (Some(rid), &json!(450_001), &json!("USD"))
    );
    assert!(
        approved["org_id"].is_string() && approved["budget_id"] == json!(id) && approved["at"].is_i64(),
        "{approved}"
    );
    let paid = payload("mdf.claim.paid").unwrap_or_else(|| panic!("{seen}"));
    assert_eq!(
        (paid["claim_id"].as_str(), &paid["paid"], &paid["request_id"]),
        (Some(cid), &json!(400_001), &json!(rid))
    );
    // The request is settled: what the claim did not use (500.00) came back.
    let r = call(&app, &bob, Method::GET, &format!("/requests/{rid}"), None).await.json();
    assert_eq!(r["status"], json!("closed"));
    let funds = balance(&app, &bob, &id).await;
    assert_eq!(funds["available"], json!(2_500_000 - 450_001 + 50_000), "{funds}");
    assert_eq!((funds["reserved"].clone(), funds["reimbursed"].clone()), (json!(0), json!(400_001)));
    let ledger = call(&app, &admin, Method::GET, &format!("/budgets/{id}/ledger"), None).await.json();
    let mut moves: Vec<(String, i64)> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["org_id"] == r["org_id"])
        .map(|e| (e["kind"].as_str().unwrap().to_string(), e["amount"].as_i64().unwrap()))
        .collect();
    moves.sort();
    assert_eq!(
        moves,
        [
            ("allocation", 2_500_000),
            ("reimbursement", 150_000),
            ("reimbursement", 250_001),
            ("release", 50_000),
            ("reservation", 450_001)
        ]
        .map(|(k, a)| (k.to_string(), a))
    );
    // Above the budget's limit a second approver, a vendor admin other than the first, approves too.
    let big = request(
        &app,
        &bob,
        &id,
        json!({ "activity": "Trade show", "total_cost": "30,000", "own_share": "0", "asked": "12,000" }),
    )
    .await;
    let bid = big["id"].as_str().unwrap();
    let page = call(&app, &admin, Method::POST, &format!("/requests/{bid}/approve"), Some(json!({}))).await;
    assert_eq!(page.json()["status"], json!("awaiting_second"), "{}", page.body);
    assert_eq!(balance(&app, &bob, &id).await["reserved"], json!(0), "nothing reserved before the second approval");
    let page = call(&app, &admin, Method::POST, &format!("/requests/{bid}/approve"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    let page = call(&app, &manager, Method::POST, &format!("/requests/{bid}/approve"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    // Returned without a note: refused; with one, the partner can change and resubmit.
    let page = call(&app, &manager, Method::POST, &format!("/requests/{bid}/return"), Some(json!({}))).await;
    assert_eq!(page.json()["error"]["field"], json!("note"), "{}", page.body);
    let page =
        call(&app, &manager, Method::POST, &format!("/requests/{bid}/return"), Some(json!({ "note": "Ask for less" })))
            .await;
    assert_eq!(page.json()["status"], json!("returned"), "{}", page.body);
    let page = call(&app, &bob, Method::PUT, &format!("/requests/{bid}"), Some(json!({ "activity_type": "Trade show",
        "activity": "Trade show", "starts": day(&app, 0), "ends": day(&app, 2), "total_cost": "30,000", "asked": "9,000" }))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        call(&app, &bob, Method::POST, &format!("/requests/{bid}/submit"), Some(json!({}))).await.status,
        StatusCode::OK
    );
    let page = call(&app, &manager, Method::POST, &format!("/requests/{bid}/approve"), Some(json!({}))).await;
    assert_eq!(page.json()["status"], json!("approved"), "{}", page.body);
    // Cancelled by the partner before any claim: the reservation comes back, in the call of the plugin's own
    // event (a partner's call cannot write the vendor's balances).
    let page = call(&app, &bob, Method::POST, &format!("/requests/{bid}/cancel"), Some(json!({}))).await;
    assert_eq!(page.json()["status"], json!("cancelled"), "{}", page.body);
    portico::plugins::jobs::deliver_due(&app.state, 100).await.unwrap();
    assert_eq!(balance(&app, &bob, &id).await["available"], json!(2_500_000 - 450_001 + 50_000));
    check_ledger(&app, &admin).await;
}

#[tokio::test]
async fn partial_approval_claims_and_payments_add_up_to_the_cent_sqlite() {
    partial_approval_claims_and_payments_add_up_to_the_cent(DbKind::Sqlite).await;
}

#[tokio::test]
async fn partial_approval_claims_and_payments_add_up_to_the_cent_postgres() {
    partial_approval_claims_and_payments_add_up_to_the_cent(DbKind::Postgres).await;
}

#[tokio::test]
async fn a_late_claim_is_refused_and_unclaimed_funds_expire_at_the_periods_end() {
    let app = setup(DbKind::Sqlite).await;
    let (admin, bob) = (token(&app, "admin@acme.example").await, token(&app, "bob@northwind.example").await);
    let id = budget(&app, &admin, json!({ "ends": day(&app, 30), "claim_days": 10 })).await;
    let r = request(&app, &bob, &id, json!({ "asked": "1,000.00" })).await;
    let rid = r["id"].as_str().unwrap();
    let page = call(&app, &admin, Method::POST, &format!("/requests/{rid}/approve"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let deadline = chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms() + 12 * DAY).unwrap();
    app.state.clock.advance(14 * DAY);
    let page = claim(&app, &bob, rid, "2,000.00", true).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    let why = page.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(why.contains(&format!("The deadline for this claim was {}", deadline.format("%-d %B %Y"))), "{why}");
    assert!(why.contains("it can no longer be claimed"), "{why}");
    // Before the period ends, the schedule changes nothing.
    portico::plugins::jobs::run_schedules(&app.state, app.state.clock.now_ms()).await.unwrap();
    assert_eq!(balance(&app, &bob, &id).await["available"], json!(2_500_000 - 100_000));
    // After it: the unclaimed reservation is released, then everything left expires, each an entry.
    app.state.clock.advance(20 * DAY);
    portico::plugins::jobs::run_schedules(&app.state, app.state.clock.now_ms()).await.unwrap();
    let r = call(&app, &bob, Method::GET, &format!("/requests/{rid}"), None).await.json();
    assert_eq!(r["status"], json!("closed"), "{r}");
    let b = call(&app, &admin, Method::GET, &format!("/budgets/{id}"), None).await.json();
    assert_eq!(b["expired"], json!(true), "{b}");
    assert_eq!(b["totals"]["available"], json!(0));
    assert_eq!(b["totals"]["expired"], json!(3_000_000), "Northwind's 25,000 and Fabrikam's 5,000");
    assert_eq!(balance(&app, &bob, &id).await, Value::Null, "an ended budget offers nothing");
    let ledger = call(&app, &admin, Method::GET, &format!("/budgets/{id}/ledger"), None).await.json();
    let kinds: Vec<&str> = ledger["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"release") && kinds.iter().filter(|k| **k == "expiry").count() == 2, "{kinds:?}");
    // A new request against it is refused.
    let page = call(
        &app,
        &bob,
        Method::POST,
        "/requests",
        Some(json!({ "budget_id": id, "activity_type": "Event",
        "activity": "Late", "starts": day(&app, 0), "ends": day(&app, 1), "total_cost": "100", "asked": "10" })),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    check_ledger(&app, &admin).await;
}

#[tokio::test]
async fn a_partner_never_sees_another_orgs_funds() {
    let app = setup(DbKind::Sqlite).await;
    let (admin, bob, carol, dave) = (
        token(&app, "admin@acme.example").await,
        token(&app, "bob@northwind.example").await,
        token(&app, "carol@fabrikam.example").await,
        token(&app, "dave@contoso.example").await,
    );
    let shared = budget(&app, &admin, json!({ "pct": 100 })).await;
    let only_northwind = budget(
        &app,
        &admin,
        json!({ "name": "Gold only", "allocations": [{ "org_name": "Northwind Solutions", "amount": "9,000" }] }),
    )
    .await;
    let r = request(&app, &bob, &shared, json!({ "asked": "2,000.00" })).await;
    let rid = r["id"].as_str().unwrap();
    assert_eq!(
        call(&app, &admin, Method::POST, &format!("/requests/{rid}/approve"), Some(json!({}))).await.status,
        StatusCode::OK
    );
    app.state.clock.advance(3 * DAY);
    let c = claim(&app, &bob, rid, "2,000.00", true).await.json();
    let cid = c["id"].as_str().unwrap();
    call(&app, &admin, Method::POST, &format!("/claims/{cid}/approve"), Some(json!({}))).await;
    assert_eq!(
        call(&app, &admin, Method::POST, &format!("/claims/{cid}/pay"), Some(json!({ "reference": "NW-1" })))
            .await
            .status,
        StatusCode::OK
    );
    // Carol of Fabrikam: only the shared budget, only her funds, nothing of Northwind's anywhere.
    let list = call(&app, &carol, Method::GET, "/budgets", None).await.json();
    let ids: Vec<&str> = list["budgets"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [shared.as_str()]);
    assert!(list["budgets"][0].get("allocations").is_none(), "partners do not see others' allocations: {list}");
    assert_eq!(
        call(&app, &carol, Method::GET, &format!("/budgets/{only_northwind}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(call(&app, &carol, Method::GET, &format!("/requests/{rid}"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, &carol, Method::GET, &format!("/claims/{cid}"), None).await.status, StatusCode::NOT_FOUND);
    assert!(call(&app, &carol, Method::GET, "/requests", None).await.json()["requests"].as_array().unwrap().is_empty());
    assert!(call(&app, &carol, Method::GET, "/claims", None).await.json()["claims"].as_array().unwrap().is_empty());
    let ledger = call(&app, &carol, Method::GET, &format!("/budgets/{shared}/ledger"), None).await.json();
    let orgs: Vec<&Value> = ledger["entries"].as_array().unwrap().iter().map(|e| &e["org_id"]).collect();
    assert!(!orgs.is_empty() && orgs.iter().all(|o| **o != r["org_id"]), "{ledger}");
    assert_eq!(balance(&app, &carol, &shared).await["available"], json!(500_000));
    let csv = call(&app, &carol, Method::GET, "/export.csv", None).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(!csv.body.contains("Northwind") && !csv.body.contains("NW-1"), "{}", csv.body);
    let csv = call(&app, &admin, Method::GET, "/export.csv", None).await;
    assert!(csv.body.contains("Northwind Solutions,Roadshow,Co-op,Co-op marketing,2000.00,USD,NW-1"), "{}", csv.body);
    // Nor by page; and she cannot act on it.
    let mut web = app.client();
    web.login_ok("carol@fabrikam.example").await;
    assert_eq!(web.get(&format!("/p/mdf/requests/{rid}")).await.status, StatusCode::NOT_FOUND);
    assert!(!web.get("/p/mdf/").await.body.contains("Roadshow"));
    assert_eq!(web.get(&format!("/p/mdf/budgets/{shared}")).await.status, StatusCode::FORBIDDEN);
    let page = claim(&app, &carol, rid, "1.00", true).await;
    assert_eq!(
        (page.status, page.json()["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("request_id"))
    );
    assert_eq!(
        call(&app, &carol, Method::POST, &format!("/requests/{rid}/cancel"), Some(json!({}))).await.status,
        StatusCode::NOT_FOUND
    );
    let page = call(&app, &carol, Method::POST, "/budgets", Some(json!({ "name": "Mine" }))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // A request against a budget that holds nothing for her is refused on the field.
    let page = call(
        &app,
        &carol,
        Method::POST,
        "/requests",
        Some(json!({ "budget_id": only_northwind, "activity_type": "Event",
        "activity": "x", "starts": day(&app, 0), "ends": day(&app, 1), "total_cost": "100", "asked": "10" })),
    )
    .await;
    assert_eq!(page.json()["error"]["field"], json!("budget_id"), "{}", page.body);
    // Dave of Contoso (MSP program) sees none of the reseller budgets, and has no balance in them.
    assert!(call(&app, &dave, Method::GET, "/budgets", None).await.json()["budgets"].as_array().unwrap().is_empty());
    assert!(call(&app, &dave, Method::GET, "/balance", None).await.json()["funds"].as_array().unwrap().is_empty());
    check_ledger(&app, &admin).await;
}

#[tokio::test]
async fn a_pooled_budget_holds_each_partner_to_its_cap() {
    let app = setup(DbKind::Postgres).await;
    let (admin, dave) = (token(&app, "admin@acme.example").await, token(&app, "dave@contoso.example").await);
    let page = call(&app, &admin, Method::POST, "/budgets", Some(json!({
        "name": "MSP pool", "program": "msp", "currency": "EUR", "pct": 75, "starts": day(&app, -1), "ends": day(&app, 60),
        "mode": "pooled", "pools": [{ "tier": "member", "amount": "20,000", "cap": "8,000" }] }))).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    assert_eq!(balance(&app, &dave, &id).await["available"], json!(800_000), "the cap, before any use");
    let ask = |amount: &'static str| {
        let (app, dave, id) = (&app, &dave, id.clone());
        async move {
            request(app, dave, &id, json!({ "activity_type": "Digital campaign", "total_cost": "20,000", "own_share": "0", "asked": amount })).await
        }
    };
    let first = ask("6,000").await;
    let second = ask("3,000").await;
    let ok = call(
        &app,
        &admin,
        Method::POST,
        &format!("/requests/{}/approve", first["id"].as_str().unwrap()),
        Some(json!({})),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let page = call(
        &app,
        &admin,
        Method::POST,
        &format!("/requests/{}/approve", second["id"].as_str().unwrap()),
        Some(json!({})),
    )
    .await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(page.body.contains("your cap in this pool has 2,000.00 EUR left"), "{}", page.body);
    let page = call(
        &app,
        &admin,
        Method::POST,
        &format!("/requests/{}/approve", second["id"].as_str().unwrap()),
        Some(json!({ "amount": "2,000" })),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(balance(&app, &dave, &id).await["available"], json!(0));
    let b = call(&app, &admin, Method::GET, &format!("/budgets/{id}"), None).await.json();
    assert_eq!(b["totals"]["available"], json!(1_200_000), "the pool keeps the rest for other members: {b}");
    // Staff add to the member pool; each partner's cap stays as it was.
    let page = call(
        &app,
        &admin,
        Method::POST,
        &format!("/budgets/{id}/allocate"),
        Some(json!({ "tier": "member", "amount": "5,000" })),
    )
    .await;
    assert_eq!(page.json()["totals"]["available"], json!(1_700_000), "{}", page.body);
    assert_eq!(balance(&app, &dave, &id).await["available"], json!(0));
    let page = call(
        &app,
        &admin,
        Method::POST,
        &format!("/budgets/{id}/allocate"),
        Some(json!({ "tier": "premier", "amount": "1" })),
    )
    .await;
    assert_eq!(page.json()["error"]["field"], json!("tier"), "{}", page.body);
    check_ledger(&app, &admin).await;
}

#[tokio::test]
async fn deals_registered_during_an_activity_count_towards_its_roi() {
    let app = setup(DbKind::Sqlite).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    let (admin, bob) = (token(&app, "admin@acme.example").await, token(&app, "bob@northwind.example").await);
    let id = budget(&app, &admin, json!({})).await;
    let r = request(&app, &bob, &id, json!({ "starts": day(&app, -1), "ends": day(&app, 10) })).await;
    let rid = r["id"].as_str().unwrap();
    call(&app, &admin, Method::POST, &format!("/requests/{rid}/approve"), Some(json!({}))).await;
    // Bob registers a deal in deal registration; its events reach MDF.
    let page = app
        .client()
        .api(
            Method::POST,
            "/api/v1/p/deal-registration/deals",
            Some(&bob),
            Some(json!({
            "submit": true, "customer_name": "Globex Corporation", "customer_domain": "globex.com", "country": "US",
            "amount": 48000.5, "currency": "USD", "products": ["Edge Router"], "expected_close_date": day(&app, 60),
            "contact_name": "Hank", "contact_email": "hank@globex.com" })),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let deal = page.json()["id"].as_str().unwrap().to_string();
    portico::plugins::jobs::deliver_due(&app.state, 100).await.unwrap();
    let got = call(&app, &bob, Method::GET, &format!("/requests/{rid}"), None).await.json();
    assert_eq!(got["deals"][0]["id"], json!(deal), "{got}");
    assert_eq!(got["deals"][0]["amount"], json!(4_800_050));
    let roi = call(&app, &admin, Method::GET, "/roi", None).await.json();
    assert_eq!(roi["by_activity"][0]["pipeline"], json!("48,000.50 USD"), "{roi}");
    assert_eq!(roi["by_partner"][0]["label"], json!("Northwind Solutions"));
    // Unlinked by hand, it stays unlinked when its next event comes; linked again by hand.
    let page = call(&app, &bob, Method::POST, &format!("/requests/{rid}/deals/{deal}/unlink"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        call(&app, &bob, Method::GET, &format!("/requests/{rid}"), None).await.json()["deals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let page =
        call(&app, &admin, Method::POST, &format!("/requests/{rid}/deals"), Some(json!({ "deal_id": deal }))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Another partner cannot link it to theirs, nor see it.
    let carol = token(&app, "carol@fabrikam.example").await;
    assert_eq!(call(&app, &carol, Method::GET, "/roi", None).await.json()["by_activity"], json!([]));
    check_ledger(&app, &admin).await;
}

#[tokio::test]
async fn the_pages_show_funds_the_queue_and_the_ledger() {
    let app = setup(DbKind::Sqlite).await;
    let (admin, bob) = (token(&app, "admin@acme.example").await, token(&app, "bob@northwind.example").await);
    let id = budget(&app, &admin, json!({})).await;
    let r = request(&app, &bob, &id, json!({ "activity": "Harbour roadshow" })).await;
    let rid = r["id"].as_str().unwrap();
    let mut staff = app.client();
    staff.login_ok("manager@acme.example").await;
    let page = staff.get("/p/mdf/").await;
    assert!(page.body.contains("Harbour roadshow") && page.body.contains("Utilisation by program"), "{}", page.body);
    // Approve in part through the page's form; a bad amount comes back on the page.
    assert!(staff.get(&format!("/p/mdf/requests/{rid}")).await.body.contains("Approve (USD)"));
    let page = staff.post(&format!("/p/mdf/requests/{rid}/approve"), &[("amount", "lots")]).await;
    assert!(page.body.contains("is not an amount"), "{}", page.body);
    let page = staff.post(&format!("/p/mdf/requests/{rid}/approve"), &[("amount", "4,000")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = staff.get(&format!("/p/mdf/budgets/{id}")).await;
    assert!(
        page.body.contains("reservation") && page.body.contains("every balance equals the sum of its entries"),
        "{}",
        page.body
    );
    // The partner's page: funds available and what to do next; the request form keeps what was typed.
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let page = web.get("/p/mdf/").await;
    assert!(page.body.contains("21,000.00 USD") && page.body.contains("Run the activity"), "{}", page.body);
    assert!(web.get("/p/mdf/requests/new").await.body.contains("Submit for approval"));
    let page = web
        .post(
            "/p/mdf/requests/new",
            &[
                ("budget_id", &id),
                ("activity_type", "Event"),
                ("activity", "Kept title"),
                ("starts", &day(&app, 0)),
                ("ends", &day(&app, 1)),
                ("total_cost", "100"),
                ("asked", "99"),
                ("expected_leads", ""),
                ("submit", "1"),
            ],
        )
        .await;
    assert!(page.body.contains("Kept title") && page.body.contains("at most 50.00 USD"), "{}", page.body);
    assert!(page.body.contains("aria-invalid=\"true\" aria-describedby=\"e-asked\""), "{}", page.body);
    // The card on the partner's page, for staff.
    let org = app.demo_user("bob@northwind.example").await.org_id;
    let mut admin_web = app.client();
    admin_web.login_ok("admin@acme.example").await;
    let page = admin_web.get(&format!("/admin/orgs/{org}")).await;
    assert!(page.body.contains("<strong>21,000.00 USD</strong> available"), "{}", page.body);
    check_ledger(&app, &admin).await;
}

#[tokio::test]
async fn staff_add_funds_to_a_running_budget() {
    let app = setup(DbKind::Sqlite).await;
    let (admin, bob) = (token(&app, "admin@acme.example").await, token(&app, "bob@northwind.example").await);
    let id = budget(
        &app,
        &admin,
        json!({ "ends": day(&app, 30), "allocations": [{ "org_name": "Northwind Solutions", "amount": "1,000" }] }),
    )
    .await;
    let add = |body: Value| {
        let (app, admin, path) = (&app, &admin, format!("/budgets/{id}/allocate"));
        async move { call(app, admin, Method::POST, &path, Some(body)).await }
    };
    let page = add(json!({ "org_name": "Northwind Solutions", "amount": "2,500.50" })).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(balance(&app, &bob, &id).await["available"], json!(350_050));
    // A partner of the program without an allocation gets one; a partner of another program is refused.
    let page = add(json!({ "org_name": "Fabrikam Systems", "amount": "700" })).await;
    assert_eq!(page.json()["allocations"].as_array().unwrap().len(), 2, "{}", page.body);
    let page = add(json!({ "org_name": "Contoso Managed Services", "amount": "700" })).await;
    assert_eq!(page.json()["error"]["field"], json!("org_id"), "{}", page.body);
    let page = add(json!({ "org_name": "Northwind Solutions", "amount": "-5" })).await;
    assert_eq!(page.json()["error"]["field"], json!("amount"), "{}", page.body);
    let page = call(
        &app,
        &bob,
        Method::POST,
        &format!("/budgets/{id}/allocate"),
        Some(json!({ "org_name": "Northwind Solutions", "amount": "9" })),
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Not after the period.
    app.state.clock.advance(40 * DAY);
    let page = add(json!({ "org_name": "Northwind Solutions", "amount": "1" })).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    check_ledger(&app, &admin).await;
}
