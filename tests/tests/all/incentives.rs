//! Tiers and incentives through the real host, driven by real events of deal registration and training: a partner
//! crossing Silver's thresholds is proposed, approved, and its tier changes everywhere (deal registration's
//! protection window follows); a demotion waits out its grace period; a rebate accrues on a won deal and is clawed
//! back when the win is reversed; a payout run nets the clawback; SPIFFs pay within their dates; partners see only
//! their own standing and rewards — on SQLite and PostgreSQL.

use portico_tests::{DbKind, Page, TestApp, deals, incentives, lms, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

async fn setup(kind: DbKind) -> TestApp {
    let app = spawn_app(kind).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    app.install(&lms().package(None), &["reseller", "msp"]).await;
    app.install(&incentives().package(None), &["reseller", "msp"]).await;
    // Deal registration: 30 days of protection, 60 at Silver, 90 at Gold; every deal approved by a manager.
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let program = scope.program_by_key("reseller").await.unwrap();
    let settings = json!({ "protection_days": 30, "tier_protection_days": ["silver=60", "gold=90"],
                           "approval_rules": ["=> single"] });
    scope.set_plugin_settings("deal-registration", &program.id, &settings.to_string()).await.unwrap();
    app
}

async fn token(app: &TestApp, email: &str) -> String {
    app.client().token(email, "portico-demo").await
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Page {
    app.client().api(method, &format!("/api/v1/p/incentives{path}"), Some(token), body).await
}

async fn deal_call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Page {
    app.client().api(method, &format!("/api/v1/p/deal-registration{path}"), Some(token), body).await
}

async fn deliver(app: &TestApp) {
    // Twice: a recalculation's own chunks and the events they cause come after the first round.
    for _ in 0..3 {
        portico::plugins::jobs::deliver_due(&app.state, 500).await.unwrap();
    }
}

/// The reseller program's criteria: Silver at 30,000 USD won (euros at 1.10), two approved registrations and one
/// certified person; Gold far above. Rebates 1 % at Registered, 2 % at Silver.
fn criteria() -> Value {
    json!({
        "program": "reseller", "rolling_months": 12, "currency": "USD", "exchange_rates": ["EUR=1.10"],
        "grace_days": 60, "automatic": false, "rebates": { "registered": "1", "silver": "2", "gold": "3.5" },
        "metrics": [
            { "key": "won_revenue", "label": "Won revenue", "thresholds": { "silver": "30,000", "gold": "500,000" } },
            { "key": "approved_deals", "label": "Approved registrations", "thresholds": { "silver": 2, "gold": 10 } },
            { "key": "certified_users", "label": "Certified people", "thresholds": { "silver": 1, "gold": 3 } },
        ],
    })
}

/// Registers and submits a deal as a partner, approves it as the manager; returns its id.
async fn approved_deal(
    app: &TestApp,
    partner: &str,
    manager: &str,
    customer: &str,
    amount: f64,
    currency: &str,
) -> String {
    let page = deal_call(
        app,
        partner,
        Method::POST,
        "/deals",
        Some(json!({ "submit": true, "customer_name": customer,
            "customer_domain": format!("{}.com", customer.to_lowercase().replace(' ', "-")), "country": "US",
            "amount": amount, "currency": currency, "products": ["Edge Router", "Cloud Firewall"],
            "expected_close_date": "2027-06-30", "contact_name": "Pat", "contact_email": "pat@example.com" })),
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let page = deal_call(app, manager, Method::POST, &format!("/deals/{id}/approve"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.json()["status"], "approved", "{}", page.body);
    id
}

/// A published course with a certification, completed by `learner`: training's real events.
async fn certify(app: &TestApp, admin: &str, learner: &str) {
    let course = json!({ "title": "Cloud Firewall essentials", "summary": "Deploy it.", "tags": ["security"], "minutes": 20,
        "certification": { "name": "Certified Firewall Associate", "validity_months": 12, "window_days": 30 },
        "lessons": [ { "id": "one", "title": "One", "content": { "kind": "text", "markdown": "Read this." } } ] });
    let lms = |method: Method, path: String, token: String, body: Value| async move {
        app.client().api(method, &format!("/api/v1/p/lms{path}"), Some(&token), Some(body)).await
    };
    let page = lms(Method::POST, "/courses".into(), admin.into(), course).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        lms(Method::POST, format!("/courses/{id}/publish"), admin.into(), json!({})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        lms(Method::POST, format!("/courses/{id}/enrol"), learner.into(), json!({})).await.status,
        StatusCode::OK
    );
    let done = lms(Method::POST, format!("/courses/{id}/lessons/one/complete"), learner.into(), json!({})).await;
    assert_eq!(done.json()["status"], "completed", "{}", done.body);
}

async fn tier_of(app: &TestApp, email: &str) -> String {
    let t = app.tenant_id("acme").await;
    let org = app.state.db.tenant(&t).user_by_email(email).await.unwrap().unwrap().org_id;
    app.state.db.tenant(&t).enrolments_of_org(&org).await.unwrap()[0].tier_key.clone()
}

async fn org_of(app: &TestApp, email: &str) -> String {
    let t = app.tenant_id("acme").await;
    app.state.db.tenant(&t).user_by_email(email).await.unwrap().unwrap().org_id
}

async fn silver_promotion_rebates_and_clawback(kind: DbKind) {
    let app = setup(kind).await;
    let (admin, manager, carol, bob) = (
        token(&app, "admin@acme.example").await,
        token(&app, "manager@acme.example").await,
        token(&app, "carol@fabrikam.example").await,
        token(&app, "bob@northwind.example").await,
    );
    let (fabrikam, northwind) =
        (org_of(&app, "carol@fabrikam.example").await, org_of(&app, "bob@northwind.example").await);
    // A partner cannot set criteria; bad criteria get a field error and store nothing.
    let page = call(&app, &carol, Method::PUT, "/criteria", Some(criteria())).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let mut bad = criteria();
    bad["metrics"][0]["thresholds"]["silver"] = json!("lots");
    let page = call(&app, &admin, Method::PUT, "/criteria", Some(bad)).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert_eq!(page.json()["error"]["field"], "t.won_revenue.silver", "{}", page.body);
    assert_eq!(call(&app, &admin, Method::GET, "/criteria?program=reseller", None).await.status, StatusCode::NOT_FOUND);
    let page = call(&app, &admin, Method::PUT, "/criteria", Some(criteria())).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.json()["recalculated"], json!(2), "Northwind and Fabrikam: {}", page.body);

    // Before any activity: Fabrikam holds Registered; Northwind (Gold, nothing done) is below its tier but within
    // the grace period, so nothing is proposed yet.
    let st = call(&app, &carol, Method::GET, "/standing?program=reseller", None).await.json();
    assert_eq!((st["tier"].as_str(), st["target"].as_str()), (Some("registered"), Some("registered")), "{st}");
    let nw = call(&app, &admin, Method::GET, &format!("/standing?program=reseller&org={northwind}"), None).await.json();
    assert_eq!(nw["direction"], "down", "{nw}");
    assert!(nw["demotion_due"].is_string(), "{nw}");
    assert_eq!(
        call(&app, &admin, Method::GET, "/proposals?program=reseller&status=pending", None).await.json()["proposals"],
        json!([])
    );

    // Fabrikam earns Silver: two approved registrations, both won (20,000 USD and 10,000 EUR = 11,000 USD), and a
    // certified person — all from deal registration's and training's real events.
    let d1 = approved_deal(&app, &carol, &manager, "Initech", 20_000.0, "USD").await;
    let d2 = approved_deal(&app, &carol, &manager, "Umbrella", 10_000.0, "EUR").await;
    for d in [&d1, &d2] {
        let page = deal_call(&app, &manager, Method::POST, &format!("/deals/{d}/won"), Some(json!({}))).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    certify(&app, &admin, &carol).await;
    deliver(&app).await;
    // A redelivered win counts once.
    app.state
        .db
        .execute_raw(
            "UPDATE event_deliveries SET status = 'pending', next_attempt_at = 0 WHERE plugin_id = 'incentives'",
        )
        .await
        .unwrap();
    deliver(&app).await;
    // Rebates at Registered (1 %) accrued on each win.
    let rw = call(&app, &carol, Method::GET, "/rewards", None).await.json();
    let amounts: Vec<(i64, String)> = rw["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["amount"].as_i64().unwrap(), e["currency"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(amounts.len(), 2, "{rw}");
    assert!(amounts.contains(&(20_000, "USD".into())) && amounts.contains(&(10_000, "EUR".into())), "{rw}");

    let page = call(&app, &manager, Method::POST, "/recalculate", Some(json!({ "program": "reseller" }))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let st = call(&app, &carol, Method::GET, "/standing?program=reseller", None).await.json();
    assert_eq!(st["target"], "silver", "{st}");
    let figures: Vec<(String, i64)> = st["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["key"].as_str().unwrap().to_string(), f["value"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        figures,
        vec![("won_revenue".into(), 3_100_000), ("approved_deals".into(), 2), ("certified_users".into(), 1)],
        "{st}"
    );
    let pending = call(&app, &manager, Method::GET, "/proposals?program=reseller&status=pending", None).await.json();
    let proposals = pending["proposals"].as_array().unwrap();
    assert_eq!(proposals.len(), 1, "{pending}");
    let p = &proposals[0];
    assert_eq!(
        (p["org_id"].as_str(), p["from"].as_str(), p["to"].as_str()),
        (Some(fabrikam.as_str()), Some("registered"), Some("silver"))
    );
    assert!(p["reason"].as_str().unwrap().contains("won revenue 31,000.00 USD ≥ 30,000.00 USD"), "{p}");
    let pid = p["id"].as_str().unwrap().to_string();
    // A partner neither approves nor sees another partner's standing or proposals.
    let page = call(&app, &carol, Method::POST, &format!("/proposals/{pid}/approve"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let page = call(&app, &bob, Method::GET, &format!("/standing?program=reseller&org={fabrikam}"), None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert_eq!(call(&app, &bob, Method::GET, "/proposals?program=reseller", None).await.json()["proposals"], json!([]));
    assert_eq!(tier_of(&app, "carol@fabrikam.example").await, "registered");

    // Approved: the directory has Fabrikam at Silver, with the change recorded with its figures.
    let page =
        call(&app, &manager, Method::POST, &format!("/proposals/{pid}/approve"), Some(json!({ "note": "well done" })))
            .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.json()["status"], "approved");
    assert_eq!(page.json()["figures"]["won_revenue"], json!(3_100_000));
    assert_eq!(tier_of(&app, "carol@fabrikam.example").await, "silver");
    let page = call(&app, &manager, Method::POST, &format!("/proposals/{pid}/approve"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "decided once: {}", page.body);
    // Deal registration follows: a new registration gets Silver's 60 days of protection.
    let d3 = approved_deal(&app, &carol, &manager, "Hooli", 5_000.0, "USD").await;
    let got = deal_call(&app, &carol, Method::GET, &format!("/deals/{d3}"), None).await.json();
    let (a, b) = (got["approved_at"].as_str().unwrap(), got["exclusivity_expires_at"].as_str().unwrap());
    let days = (chrono::DateTime::parse_from_rfc3339(b).unwrap() - chrono::DateTime::parse_from_rfc3339(a).unwrap())
        .num_days();
    assert_eq!(days, 60, "{got}");

    // The first win is reversed: its rebate is clawed back, and the revenue no longer counts.
    let page =
        deal_call(&app, &carol, Method::POST, &format!("/deals/{d1}/reverse"), Some(json!({ "reason": "no" }))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "only vendor staff reverse a win: {}", page.body);
    let page = deal_call(
        &app,
        &manager,
        Method::POST,
        &format!("/deals/{d1}/reverse"),
        Some(json!({ "reason": "order cancelled" })),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.json()["status"], "lost");
    deliver(&app).await;
    let rw = call(&app, &carol, Method::GET, "/rewards", None).await.json();
    let back: Vec<&Value> = rw["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "clawback").collect();
    assert_eq!(back.len(), 1, "{rw}");
    assert_eq!(back[0]["amount"], json!(-20_000));
    assert!(back[0]["label"].as_str().unwrap().contains("order cancelled"), "{rw}");
    call(&app, &manager, Method::POST, "/recalculate", Some(json!({ "program": "reseller", "org": fabrikam }))).await;
    let st = call(&app, &carol, Method::GET, "/standing?program=reseller", None).await.json();
    assert_eq!((st["tier"].as_str(), st["direction"].as_str()), (Some("silver"), Some("down")), "{st}");
    assert_eq!(st["figures"][0]["value"], json!(1_100_000), "{st}");

    // The payout run: USD nets to zero (carried forward), EUR is paid on a statement.
    let month = chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms()).unwrap().format("%Y-%m").to_string();
    assert_eq!(
        call(&app, &carol, Method::POST, "/statements", Some(json!({ "period": month }))).await.status,
        StatusCode::FORBIDDEN
    );
    let page = call(&app, &admin, Method::POST, "/statements", Some(json!({ "period": month }))).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert_eq!(page.json()["statements"].as_array().unwrap().len(), 1, "{}", page.body);
    assert_eq!(page.json()["carried_forward"], json!(["Fabrikam Systems"]), "{}", page.body);
    let list = call(&app, &carol, Method::GET, "/statements", None).await.json();
    assert_eq!(
        list["statements"][0]["totals"],
        json!([{ "currency": "EUR", "amount": 10_000, "text": "100.00 EUR" }]),
        "{list}"
    );
    assert_eq!(call(&app, &bob, Method::GET, "/statements", None).await.json()["statements"], json!([]));
    let sid = list["statements"][0]["id"].as_str().unwrap();
    let csv = app
        .client()
        .api(Method::GET, &format!("/api/v1/p/incentives/statements.csv?period={month}"), Some(&carol), None)
        .await;
    assert!(
        csv.body.contains(&format!("{sid},{month},Fabrikam Systems,{d2},Umbrella,rebate,Rebate 1 % at Registered")),
        "{}",
        csv.body
    );
    assert!(csv.body.ends_with(",100.00,EUR\n"), "{}", csv.body);
    // A second run pays nothing twice.
    let again = call(&app, &admin, Method::POST, "/statements", Some(json!({ "period": month }))).await.json();
    assert_eq!(again["statements"], json!([]), "{again}");

    // Northwind's grace period runs out: the daily schedule proposes the demotion; a rejection holds it off.
    app.state.clock.advance(61 * DAY);
    portico::plugins::jobs::run_schedules(&app.state, app.state.clock.now_ms()).await.unwrap();
    deliver(&app).await;
    let pending = call(&app, &manager, Method::GET, "/proposals?program=reseller&status=pending", None).await.json();
    let demotion = pending["proposals"].as_array().unwrap().iter().find(|p| p["org_id"] == json!(northwind)).cloned();
    let demotion = demotion.unwrap_or_else(|| panic!("no demotion: {pending}"));
    assert_eq!((demotion["kind"].as_str(), demotion["to"].as_str()), (Some("demotion"), Some("registered")));
    let did = demotion["id"].as_str().unwrap();
    let page = call(&app, &manager, Method::POST, &format!("/proposals/{did}/reject"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "a rejection says why: {}", page.body);
    let page = call(
        &app,
        &manager,
        Method::POST,
        &format!("/proposals/{did}/reject"),
        Some(json!({ "note": "strategic account" })),
    )
    .await;
    assert_eq!(page.json()["status"], "rejected", "{}", page.body);
    call(&app, &manager, Method::POST, "/recalculate", Some(json!({ "program": "reseller" }))).await;
    let pending = call(&app, &manager, Method::GET, "/proposals?program=reseller&status=pending", None).await.json();
    assert!(!pending["proposals"].as_array().unwrap().iter().any(|p| p["org_id"] == json!(northwind)), "{pending}");
    assert_eq!(tier_of(&app, "bob@northwind.example").await, "gold");
}

#[tokio::test]
async fn silver_promotion_rebates_and_clawback_on_sqlite() {
    silver_promotion_rebates_and_clawback(DbKind::Sqlite).await;
}

#[tokio::test]
async fn silver_promotion_rebates_and_clawback_on_postgres() {
    silver_promotion_rebates_and_clawback(DbKind::Postgres).await;
}

/// SPIFFs pay per product within their dates; with automatic changes the tier moves without a proposal to
/// approve; custom metrics count; the pages and the card show it all.
#[tokio::test]
async fn spiffs_automatic_changes_custom_metrics_and_the_pages() {
    let app = setup(DbKind::Sqlite).await;
    let (admin, manager, carol) = (
        token(&app, "admin@acme.example").await,
        token(&app, "manager@acme.example").await,
        token(&app, "carol@fabrikam.example").await,
    );
    let fabrikam = org_of(&app, "carol@fabrikam.example").await;
    let today = chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms()).unwrap();
    let day = |d: i64| (today + chrono::Duration::days(d)).format("%Y-%m-%d").to_string();
    let mut c = criteria();
    c["automatic"] = json!(true);
    c["metrics"] = json!([
        { "key": "approved_deals", "label": "Approved registrations", "thresholds": { "silver": 1 } },
        { "key": "custom:csat", "label": "Customer satisfaction", "thresholds": { "silver": 80 } },
    ]);
    assert_eq!(call(&app, &admin, Method::PUT, "/criteria", Some(c)).await.status, StatusCode::OK);
    let spiff = json!({ "program": "reseller", "name": "Firewall push", "kind": "per_product", "products": ["Cloud Firewall"],
                        "amount": "250", "currency": "USD", "starts": day(-1), "ends": day(10) });
    let bad = call(&app, &manager, Method::POST, "/campaigns", Some(json!({ "name": "x", "kind": "per_deal", "amount": "ten", "currency": "USD", "starts": day(0), "ends": day(1) }))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.json()["error"]["field"], "amount");
    assert_eq!(call(&app, &carol, Method::POST, "/campaigns", Some(spiff.clone())).await.status, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, &manager, Method::POST, "/campaigns", Some(spiff)).await.status, StatusCode::CREATED);
    let old = json!({ "program": "reseller", "name": "Last year", "kind": "per_deal", "amount": "999", "currency": "USD",
                      "starts": day(-400), "ends": day(-300) });
    assert_eq!(call(&app, &manager, Method::POST, "/campaigns", Some(old)).await.status, StatusCode::CREATED);
    let d = approved_deal(&app, &carol, &manager, "Vandelay", 8_000.0, "USD").await;
    deal_call(&app, &manager, Method::POST, &format!("/deals/{d}/won"), Some(json!({}))).await;
    deliver(&app).await;
    let rw = call(&app, &carol, Method::GET, "/rewards", None).await.json();
    let spiffs: Vec<&Value> = rw["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "spiff").collect();
    assert_eq!(spiffs.len(), 1, "only the running campaign pays: {rw}");
    assert_eq!(
        (spiffs[0]["amount"].as_i64(), spiffs[0]["label"].as_str()),
        (Some(25_000), Some("SPIFF: Firewall push"))
    );
    // The custom metric is missing: no change yet. Recorded (a partner cannot), the tier changes at once, as the
    // program changes tiers automatically: no proposal waits, and the change is on record as applied.
    assert_eq!(tier_of(&app, "carol@fabrikam.example").await, "registered");
    let month = today.format("%Y-%m").to_string();
    let body = json!({ "program": "reseller", "org": fabrikam, "metric": "csat", "month": month, "value": 91 });
    assert_eq!(call(&app, &carol, Method::POST, "/custom", Some(body.clone())).await.status, StatusCode::FORBIDDEN);
    let page = call(
        &app,
        &manager,
        Method::POST,
        "/custom",
        Some(json!({ "program": "reseller", "org": fabrikam, "metric": "nps", "month": month, "value": 1 })),
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert_eq!(call(&app, &manager, Method::POST, "/custom", Some(body)).await.status, StatusCode::OK);
    assert_eq!(tier_of(&app, "carol@fabrikam.example").await, "silver");
    let applied = call(&app, &manager, Method::GET, "/proposals?program=reseller&status=applied", None).await.json();
    assert_eq!(applied["proposals"][0]["org_id"], json!(fabrikam), "{applied}");
    assert_eq!(applied["proposals"][0]["decided_by"], "automatic", "{applied}");
    let page =
        call(&app, &manager, Method::POST, "/recalculate", Some(json!({ "program": "reseller", "org": fabrikam })))
            .await;
    assert_eq!(page.json()["proposals"], json!([]), "nothing more to change: {}", page.body);

    // The pages: the partner's standing and rewards, the manager's roster, the criteria form's field error.
    let mut web = app.client();
    web.login_ok("carol@fabrikam.example").await;
    let page = web.get("/p/incentives/?program=reseller").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Your tier: <span class=\"inc-tier\">Silver</span>")
            && page.body.contains("SPIFF: Firewall push"),
        "{}",
        page.body
    );
    assert!(page.body.contains("No tier above Silver is reached by figures"), "gold asks nothing: {}", page.body);
    assert_eq!(web.get("/p/incentives/criteria?program=reseller").await.status, StatusCode::FORBIDDEN);
    let mut staff = app.client();
    staff.login_ok("manager@acme.example").await;
    let page = staff.get("/p/incentives/?program=reseller").await;
    assert!(page.body.contains("Partners by tier") && page.body.contains("Fabrikam Systems"), "{}", page.body);
    assert!(page.body.contains("Recent tier changes") && page.body.contains("automatic"), "{}", page.body);
    let page = staff.get("/p/incentives/criteria?program=reseller").await;
    assert!(page.body.contains("Customer satisfaction"), "{}", page.body);
    let page = staff
        .post(
            "/p/incentives/criteria?program=reseller",
            &[
                ("program", "reseller"),
                ("rolling_months", "99"),
                ("currency", "USD"),
                ("grace_days", "60"),
                ("t.approved_deals.silver", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("the rolling period is 1 to 36 months"), "{}", page.body);
    let page = staff.get(&format!("/p/incentives/orgs/{fabrikam}?program=reseller")).await;
    assert!(page.body.contains("Record a custom metric") && page.body.contains("Tier history"), "{}", page.body);
    // The partner card on the vendor's partner page.
    let page = staff.get(&format!("/admin/orgs/{fabrikam}")).await;
    assert!(page.body.contains("Tier and rewards") && page.body.contains("Silver"), "{}", page.body);
}
