//! Deal registration through the real host: the JSON API, the pages, the schedule on a controllable clock, and
//! the evidence (receipts) — on SQLite and PostgreSQL.

#[path = "../../../plugins/deal-registration/src/matching.rs"]
#[allow(dead_code)]
mod matching;

use matching::{Evidence, MATCH_TABLE};
use portico_tests::{DbKind, Page, TestApp, deals, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// The demo portal with deal registration enabled in both programs and `settings` for `reseller`.
async fn setup(kind: DbKind, settings: Value) -> TestApp {
    let app = spawn_app(kind).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    if !settings.is_null() {
        let tenant = app.tenant_id("acme").await;
        let scope = app.state.db.tenant(&tenant);
        let program = scope.program_by_key("reseller").await.unwrap();
        scope.set_plugin_settings("deal-registration", &program.id, &settings.to_string()).await.unwrap();
    }
    app
}

struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

async fn as_user<'a>(app: &'a TestApp, email: &str) -> Api<'a> {
    Api { app, token: app.client().token(email, "portico-demo").await }
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Page {
        let path = format!("/api/v1/p/deal-registration{path}");
        self.app.client().api(method, &path, Some(&self.token), body).await
    }

    async fn get(&self, path: &str) -> Page {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Page {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Registers and submits a deal; returns it.
    async fn submit(&self, body: Value) -> Value {
        let mut body = body;
        body["submit"] = json!(true);
        let page = self.post("/deals", body).await;
        assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
        page.json()
    }

    async fn act(&self, id: &str, action: &str, body: Value) -> Page {
        self.post(&format!("/deals/{id}/{action}"), body).await
    }
}

fn deal(name: &str, domain: &str) -> Value {
    json!({
        "customer_name": name, "customer_domain": domain, "country": "DE", "amount": 20000, "currency": "EUR",
        "products": ["Edge Router"], "expected_close_date": "2027-03-31", "contact_name": "Jane Doe",
        "contact_email": "jane@example.com",
    })
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Titles of the notifications a demo user has received, newest first.
async fn notifications(app: &TestApp, email: &str) -> Vec<String> {
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let user = scope.user_by_email(email).await.unwrap().unwrap();
    scope.notifications(&user.id, 200).await.unwrap().into_iter().map(|n| n.title).collect()
}

async fn run_schedules(app: &TestApp) {
    portico::plugins::jobs::run_schedules(&app.state, app.state.clock.now_ms()).await.unwrap();
}

async fn drafts_submissions_and_receipts(kind: DbKind) {
    let app = setup(kind, Value::Null).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    // A draft needs only the customer's name.
    let page = bob.post("/deals", json!({ "customer_name": "Tyrell Corporation" })).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let draft = page.json();
    let id = id_of(&draft);
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["receipts"], json!([]));
    // Submitting it incomplete names the first missing field and changes nothing.
    let page = bob.act(&id, "submit", Value::Null).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert_eq!(page.json()["error"]["field"], "customer_domain");
    assert_eq!(bob.get(&format!("/deals/{id}")).await.json()["status"], "draft");
    // Completed and submitted, it gets a receipt.
    let page = bob.call(Method::PUT, &format!("/deals/{id}"), Some(deal("Tyrell Corporation", "tyrell.com"))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let page = bob.act(&id, "submit", Value::Null).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let submitted = page.json();
    assert_eq!(submitted["status"], "submitted");
    assert!(submitted["registered_at"].as_str().unwrap().ends_with('Z'));
    assert!(submitted["approval_due_at"].is_string());
    assert_eq!(submitted["timeline"].as_array().unwrap().len(), 2);
    let receipt = bob.get(&format!("/deals/{id}/receipt")).await.json();
    assert_eq!(receipt["seq"], 1);
    assert_eq!(receipt["prev_hash"], "0".repeat(64));
    assert_eq!(receipt["deal_id"], id);
    assert_eq!(receipt["submitted_at"], submitted["registered_at"]);
    let verdict = bob.post("/receipts/verify", receipt.clone()).await.json();
    assert_eq!(verdict["valid"], true, "{verdict}");
    // Anyone with the receipt can check it, without seeing the deal.
    let carol = as_user(&app, "carol@fabrikam.example").await;
    assert_eq!(carol.post("/receipts/verify", receipt.clone()).await.json()["valid"], true);
    assert_eq!(carol.get(&format!("/deals/{id}")).await.status, StatusCode::NOT_FOUND);
    // A receipt edited by hand fails.
    let mut forged = receipt.clone();
    forged["submitted_at_ms"] = json!(receipt["submitted_at_ms"].as_i64().unwrap() - DAY);
    let verdict = carol.post("/receipts/verify", forged).await.json();
    assert_eq!(verdict["valid"], false);
    assert!(verdict["reason"].as_str().unwrap().contains("altered"), "{verdict}");
    let verdict = carol.post("/receipts/verify", json!({ "hello": 1 })).await.json();
    assert_eq!(verdict["valid"], false);
    // The next submission in the tenant chains to the first.
    let other = carol.submit(deal("Cyberdyne Systems", "cyberdyne.com")).await;
    let second = carol.get(&format!("/deals/{}/receipt", id_of(&other))).await.json();
    assert_eq!(second["seq"], 2);
    assert_eq!(second["prev_hash"], receipt["hash"]);
    // Lists show one's own organisation's deals, filtered.
    let mine = bob.get("/deals?status=submitted").await.json();
    assert_eq!(mine["deals"].as_array().unwrap().len(), 1);
    assert_eq!(bob.get("/deals?q=tyr").await.json()["deals"].as_array().unwrap().len(), 1);
    assert_eq!(bob.get("/deals?q=cyber").await.json()["deals"].as_array().unwrap().len(), 0);
    assert_eq!(bob.get("/deals?status=approved").await.json()["deals"].as_array().unwrap().len(), 0);
    let manager = as_user(&app, "manager@acme.example").await;
    assert_eq!(manager.get("/deals").await.json()["deals"].as_array().unwrap().len(), 2);
    assert_eq!(bob.get("/deals?status=nonsense").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn drafts_submissions_and_receipts_on_sqlite() {
    drafts_submissions_and_receipts(DbKind::Sqlite).await;
}

#[tokio::test]
async fn drafts_submissions_and_receipts_on_postgres() {
    drafts_submissions_and_receipts(DbKind::Postgres).await;
}

#[tokio::test]
async fn bad_input_gets_field_errors_and_stores_nothing() {
    let app = setup(DbKind::Sqlite, Value::Null).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let bad = json!({
        "customer_name": "", "customer_domain": "not a domain", "country": "XX", "amount": -5, "currency": "DOGE",
        "products": ["Toaster"], "expected_close_date": "31/03/2027", "contact_email": "jane", "submit": true,
    });
    let page = bob.post("/deals", bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    let err = &page.json()["error"];
    assert_eq!(err["code"], "invalid");
    let fields: Vec<&String> = err["fields"].as_object().unwrap().keys().collect();
    for f in ["customer_name", "customer_domain", "country", "amount", "currency", "products", "expected_close_date"] {
        assert!(fields.iter().any(|k| *k == f), "{f} missing in {err}");
    }
    let page = bob.post("/deals", json!({ "customer_name": 5 })).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    // The form shows each problem next to its field, keeps what was typed, and stores nothing.
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let page = web.get("/p/deal-registration/new").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Edge Router"), "the product list from the settings");
    let page = web
        .post(
            "/p/deal-registration/new",
            &[
                ("customer_name", "Soylent Corp"),
                ("customer_domain", "soylent"),
                ("amount", "lots"),
                ("intent", "submit"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("enter a website or domain such as globex.com"));
    assert!(page.body.contains("enter a number like 25000"));
    assert!(page.body.contains("value=\"Soylent Corp\""));
    assert!(page.body.contains("aria-invalid=\"true\""));
    let n = app.test_db.scalar("SELECT COUNT(*) FROM plugin_records WHERE collection = 'deals'").await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn every_pair_of_the_matching_table_behaves_through_the_api() {
    let app = setup(DbKind::Sqlite, Value::Null).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let manager = as_user(&app, "manager@acme.example").await;
    assert!(MATCH_TABLE.len() >= 30);
    for (i, &(evidence, a, b, should_match, why)) in MATCH_TABLE.iter().enumerate() {
        // Register `a` with the other evidence unique to it, then ask about `b` alone.
        let (name, domain) = match evidence {
            Evidence::Domain => (format!("Unrelated Customer Number {i}"), a.to_string()),
            Evidence::Name => (a.to_string(), format!("unique-customer-{i}.com")),
        };
        let mut body = deal(&name, &domain);
        body["country"] = json!("FR");
        let registered = id_of(&bob.submit(body).await);
        let query = match evidence {
            Evidence::Domain => format!("customer_domain={}", urlencode(b)),
            Evidence::Name => format!("customer_name={}", urlencode(b)),
        };
        let found = manager.get(&format!("/conflicts?{query}")).await.json();
        let ids: Vec<&str> = found["deal_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(ids.contains(&registered.as_str()), should_match, "{a:?} / {b:?} ({why}): {found}");
        // Withdraw it so that it does not compete with the next rows.
        assert_eq!(bob.act(&registered, "withdraw", Value::Null).await.status, StatusCode::OK);
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn duplicates_are_flagged_and_partners_learn_only_that_one_exists() {
    let app = setup(DbKind::Sqlite, Value::Null).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let carol = as_user(&app, "carol@fabrikam.example").await;
    let manager = as_user(&app, "manager@acme.example").await;
    let mut globex = deal("Globex Corporation", "https://www.globex.co.uk/about");
    globex["country"] = json!("GB");
    let first = id_of(&bob.submit(globex).await);
    // Same registrable domain and a near-identical name.
    let page = carol
        .post(
            "/deals",
            json!({ "submit": true, "customer_name": "Globex Corp",
        "customer_domain": "sales.globex.co.uk", "country": "GB", "amount": 5000, "currency": "GBP",
        "products": ["Cloud Firewall"], "expected_close_date": "2027-01-31" }),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED);
    assert!(
        !page.body.contains(&first) && !page.body.contains("Northwind"),
        "a partner never learns whose: {}",
        page.body
    );
    let second = page.json();
    let kinds = &second["conflicts"][0]["kinds"];
    assert_eq!(kinds, &json!(["domain", "name"]), "{second}");
    assert!(second["conflicts"][0].get("deal_id").is_none());
    // Same name, another domain.
    let mut other_domain = deal("GLOBEX LTD", "globex-uk.com");
    other_domain["country"] = json!("GB");
    let third = carol.submit(other_domain).await;
    assert_eq!(third["conflicts"][0]["kinds"], json!(["name", "country_products"]), "{third}");
    // A somewhat similar name only counts in the same country with the same products.
    let near = json!({ "similarity_threshold": 0.95 });
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let reseller = scope.program_by_key("reseller").await.unwrap();
    scope.set_plugin_settings("deal-registration", &reseller.id, &near.to_string()).await.unwrap();
    let mut traders = deal("Northwind Traders", "nwtraders.de");
    traders["products"] = json!(["Edge Router", "Cloud Firewall"]);
    bob.submit(traders).await;
    let mut trading = deal("Northwind Trading", "nw-trading.de");
    trading["products"] = json!(["Cloud Firewall"]);
    let same_market = carol.submit(trading.clone()).await;
    assert_eq!(same_market["conflicts"][0]["kinds"], json!(["country_products"]), "{same_market}");
    assert_eq!(carol.act(&id_of(&same_market), "withdraw", Value::Null).await.status, StatusCode::OK);
    trading["country"] = json!("AT");
    trading["customer_domain"] = json!("nw-trading.at");
    assert_eq!(carol.submit(trading).await["conflicts"], json!([]), "another country is another customer");
    // Nothing in common: no conflict.
    assert_eq!(carol.submit(deal("Initech", "initech.com")).await["conflicts"], json!([]));
    // The early hint: partners get a yes and the kinds; vendor staff also get the ids.
    let hint = carol.get("/conflicts?customer_name=Globex%20Inc&customer_domain=globex.co.uk").await.json();
    assert_eq!(hint["conflict"], true);
    assert!(hint.get("deal_ids").is_none());
    let hint = manager.get("/conflicts?customer_domain=www.globex.co.uk").await.json();
    assert!(hint["deal_ids"].as_array().unwrap().iter().any(|v| v == &json!(first)), "{hint}");
    assert_eq!(carol.get("/conflicts?customer_name=Hooli").await.json()["conflict"], false);
    // The manager sees the candidates, side by side.
    let seen = manager.get(&format!("/deals/{}", id_of(&second))).await.json();
    assert_eq!(seen["conflicts"][0]["deal_id"], first);
    // The earlier registration shows the later ones as they stand now.
    let earlier = manager.get(&format!("/deals/{first}")).await.json();
    let ids: Vec<&Value> = earlier["conflicts"].as_array().unwrap().iter().map(|c| &c["deal_id"]).collect();
    assert!(ids.contains(&&second["id"]) && ids.contains(&&third["id"]), "{earlier}");
    let mut web = app.client();
    web.login_ok("manager@acme.example").await;
    let page = web.get(&format!("/p/deal-registration/deals/{}/conflicts", id_of(&second))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Northwind Solutions") && page.body.contains("Fabrikam Systems"));
    assert!(page.body.contains("dr-same"), "matching values are highlighted");
}

#[tokio::test]
async fn a_partner_never_sees_or_touches_another_partners_deal() {
    let app = setup(DbKind::Sqlite, Value::Null).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let id = id_of(&bob.submit(deal("Massive Dynamic", "massivedynamic.com")).await);
    for email in ["carol@fabrikam.example", "dave@contoso.example"] {
        let other = as_user(&app, email).await;
        assert_eq!(other.get(&format!("/deals/{id}")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(other.get(&format!("/deals/{id}/receipt")).await.status, StatusCode::NOT_FOUND);
        for action in ["withdraw", "submit", "won", "approve", "extension-requests"] {
            let page = other.act(&id, action, json!({ "reason": "x" })).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{email} {action}: {}", page.body);
        }
        let list = other.get("/deals").await;
        assert!(!list.body.contains(&id) && !list.body.contains("Massive"), "{}", list.body);
        let mut web = app.client();
        web.login_ok(email).await;
        assert_eq!(web.get(&format!("/p/deal-registration/deals/{id}")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(web.get(&format!("/p/deal-registration/deals/{id}/conflicts")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(web.get("/p/deal-registration/export.csv").await.status, StatusCode::FORBIDDEN);
        assert_eq!(web.get("/p/deal-registration/queue").await.status, StatusCode::FORBIDDEN);
    }
    // A partner cannot decide on its own deal either.
    assert_eq!(bob.act(&id, "approve", Value::Null).await.status, StatusCode::FORBIDDEN);
    assert_eq!(bob.get(&format!("/deals/{id}")).await.json()["status"], "submitted");
}

async fn one_protection_per_customer_under_concurrency(kind: DbKind) {
    // Every partner deal is approved at once when nothing conflicts.
    let app = setup(kind, json!({ "approval_rules": ["=> auto"] })).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let carol = as_user(&app, "carol@fabrikam.example").await;
    let mut a = deal("Hooli", "hooli.com");
    a["submit"] = json!(true);
    let (x, y) = tokio::join!(bob.post("/deals", a.clone()), carol.post("/deals", a));
    assert_eq!((x.status, y.status), (StatusCode::CREATED, StatusCode::CREATED), "{} {}", x.body, y.body);
    let statuses = [x.json()["status"].clone(), y.json()["status"].clone()];
    assert_eq!(statuses.iter().filter(|s| *s == "approved").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "submitted").count(), 1, "{statuses:?}");
    // Two managers approving two registrations of one customer at the same instant: one wins.
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let reseller = scope.program_by_key("reseller").await.unwrap();
    scope.set_plugin_settings("deal-registration", &reseller.id, "{}").await.unwrap();
    let p1 = id_of(&bob.submit(deal("Pied Piper", "piedpiper.com")).await);
    let p2 = id_of(&carol.submit(deal("Pied Piper Inc", "www.piedpiper.com")).await);
    let manager = as_user(&app, "manager@acme.example").await;
    let admin = as_user(&app, "admin@acme.example").await;
    let (x, y) = tokio::join!(manager.act(&p1, "approve", Value::Null), admin.act(&p2, "approve", Value::Null));
    let mut codes = [x.status, y.status];
    codes.sort();
    assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT], "{} / {}", x.body, y.body);
    let loser = if x.status == StatusCode::CONFLICT { &x } else { &y };
    assert!(loser.json()["error"]["message"].as_str().unwrap().contains("is protected until"), "{}", loser.body);
    let approved = app.test_db.scalar(
        "SELECT COUNT(*) FROM plugin_records WHERE collection = 'deals' AND data LIKE '%piedpiper.com%' AND data LIKE '%\"status\":\"approved\"%'",
    )
    .await;
    assert_eq!(approved, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_protection_per_customer_under_concurrency_on_sqlite() {
    one_protection_per_customer_under_concurrency(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_protection_per_customer_under_concurrency_on_postgres() {
    one_protection_per_customer_under_concurrency(DbKind::Postgres).await;
}

#[tokio::test]
async fn approval_routes_by_size_and_tier_and_every_transition_is_recorded() {
    let settings = json!({
        "approval_rules": ["amount < 50000 and tier >= gold => auto",
                           "amount >= 250000 => chain channel_manager, vendor_admin", "=> single"],
        "tier_protection_days": ["gold=90"],
        "protection_days": 30,
        "rejection_reasons": ["Existing vendor opportunity", "Insufficient information"],
    });
    let app = setup(DbKind::Sqlite, settings).await;
    let bob = as_user(&app, "bob@northwind.example").await; // Northwind is Gold
    let carol = as_user(&app, "carol@fabrikam.example").await; // Fabrikam is Registered
    let manager = as_user(&app, "manager@acme.example").await;
    let admin = as_user(&app, "admin@acme.example").await;

    // A Gold partner under the limit with no conflict: approved at once, protected for the Gold window.
    let auto = bob.submit(deal("Vandelay Industries", "vandelay.com")).await;
    assert_eq!(auto["status"], "approved", "{auto}");
    let registered = chrono::DateTime::parse_from_rfc3339(auto["registered_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(auto["exclusivity_expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires - registered).num_days(), 90);
    assert!(notifications(&app, "bob@northwind.example").await.iter().any(|t| t.starts_with("Deal approved")));

    // A Registered partner: one approver, who can set this deal's window.
    let single = id_of(&carol.submit(deal("Kramerica", "kramerica.com")).await);
    assert!(notifications(&app, "manager@acme.example").await.iter().any(|t| t == "Deal to approve: Kramerica"));
    let page = manager.act(&single, "approve", json!({ "protection_days": 5000 })).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let approved = manager.act(&single, "approve", json!({ "protection_days": 45, "note": "good fit" })).await.json();
    assert_eq!(approved["status"], "approved", "{approved}");
    let (a, b) = (approved["approved_at"].as_str().unwrap(), approved["exclusivity_expires_at"].as_str().unwrap());
    let days = chrono::DateTime::parse_from_rfc3339(b).unwrap() - chrono::DateTime::parse_from_rfc3339(a).unwrap();
    assert_eq!(days.num_days(), 45);

    // A large deal: a chain of channel manager, then vendor admin, each a different person.
    let mut big = deal("Wonka Industries", "wonka.com");
    big["amount"] = json!(300000);
    let chain = id_of(&bob.submit(big).await);
    let step = manager.act(&chain, "approve", Value::Null).await.json();
    assert_eq!(step["status"], "submitted");
    assert_eq!(step["approval"]["approved_steps"], 1);
    assert_eq!(
        manager.act(&chain, "approve", Value::Null).await.status,
        StatusCode::FORBIDDEN,
        "not the manager's step"
    );
    assert!(notifications(&app, "admin@acme.example").await.iter().any(|t| t == "Deal to approve: Wonka Industries"));
    assert_eq!(admin.act(&chain, "approve", Value::Null).await.json()["status"], "approved");

    // Rejection needs one of the configured reasons.
    let rejected = id_of(&carol.submit(deal("Sirius Cybernetics", "sirius-cybernetics.com")).await);
    let page = manager.act(&rejected, "reject", json!({ "reason": "I don't like it" })).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.json()["error"]["field"], "reason");
    let page = manager.act(&rejected, "reject", json!({ "reason": "Insufficient information" })).await;
    assert_eq!(page.json()["status"], "rejected");
    assert_eq!(carol.act(&rejected, "withdraw", Value::Null).await.status, StatusCode::CONFLICT);

    // Returned for information, edited and resubmitted: a new receipt, the old one still verifies.
    let returned = id_of(&carol.submit(deal("Blue Sun", "bluesun.com")).await);
    assert_eq!(manager.act(&returned, "return", Value::Null).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(manager.act(&returned, "return", json!({ "reason": "Which site?" })).await.json()["status"], "returned");
    let old = carol.get(&format!("/deals/{returned}/receipt")).await.json();
    let mut edited = deal("Blue Sun Corporation", "bluesun.com");
    edited["notes"] = json!("Main site in Berlin");
    assert_eq!(carol.call(Method::PUT, &format!("/deals/{returned}"), Some(edited)).await.status, StatusCode::OK);
    let resubmitted = carol.act(&returned, "submit", Value::Null).await.json();
    assert_eq!(resubmitted["status"], "submitted");
    assert_eq!(resubmitted["receipts"].as_array().unwrap().len(), 2);
    let verdict = carol.post("/receipts/verify", old).await.json();
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert!(verdict["reason"].as_str().unwrap().contains("resubmitted"));

    // Withdraw only before approval; won and lost close approved deals.
    assert_eq!(bob.act(&id_of(&auto), "withdraw", Value::Null).await.status, StatusCode::CONFLICT);
    assert_eq!(carol.act(&returned, "withdraw", Value::Null).await.json()["status"], "withdrawn");
    assert_eq!(bob.act(&id_of(&auto), "won", Value::Null).await.json()["status"], "won");
    assert_eq!(carol.act(&single, "lost", json!({ "reason": "budget cut" })).await.json()["status"], "lost");
    assert_eq!(bob.act(&id_of(&auto), "lost", Value::Null).await.status, StatusCode::CONFLICT);

    // Every transition is on the timeline with who, when and why.
    let timeline = carol.get(&format!("/deals/{single}")).await.json()["timeline"].clone();
    let steps: Vec<(&str, &str)> =
        timeline.as_array().unwrap().iter().map(|t| (t["to"].as_str().unwrap(), t["by"].as_str().unwrap())).collect();
    assert_eq!(steps.iter().map(|s| s.0).collect::<Vec<_>>(), ["draft", "submitted", "approved", "lost"]);
    assert_eq!(timeline[2]["note"], "good fit");
    assert_eq!(timeline[3]["note"], "budget cut");
    assert!(timeline[2]["at"].as_str().unwrap().ends_with('Z'));

    let topics = app.event_topics("deal-registration").await;
    for t in ["deal.submitted", "deal.approved", "deal.rejected", "deal.returned", "deal.won", "deal.lost"] {
        assert!(topics.iter().any(|x| x == t), "{t} not in {topics:?}");
    }
    let payload = app.test_db.scalar("SELECT COUNT(*) FROM events WHERE topic = 'deal.won' AND payload LIKE '%\"customer_name\":\"Vandelay Industries\"%'").await;
    assert_eq!(payload, 1, "events carry the deal's data");
}

#[tokio::test]
async fn sla_reminders_expiry_and_extensions_follow_the_clock() {
    let settings = json!({
        "approval_rules": ["=> single"], "protection_days": 30, "expiry_reminder_days": 7, "sla_hours": 48,
        "extension_policy": "once", "extension_days": 30,
    });
    let app = setup(DbKind::Sqlite, settings).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let carol = as_user(&app, "carol@fabrikam.example").await;
    let manager = as_user(&app, "manager@acme.example").await;
    let id = id_of(&bob.submit(deal("Soylent", "soylent.com")).await);
    let overdue = |titles: Vec<String>| titles.iter().filter(|t| t.starts_with("Approval overdue")).count();

    // Not yet overdue: no reminder. Past the SLA: one, and only one.
    app.state.clock.advance(47 * HOUR);
    run_schedules(&app).await;
    assert_eq!(overdue(notifications(&app, "manager@acme.example").await), 0);
    app.state.clock.advance(2 * HOUR);
    run_schedules(&app).await;
    assert_eq!(overdue(notifications(&app, "manager@acme.example").await), 1);
    app.state.clock.advance(HOUR);
    run_schedules(&app).await;
    assert_eq!(overdue(notifications(&app, "manager@acme.example").await), 1);
    let mut web = app.client();
    web.login_ok("manager@acme.example").await;
    let queue = web.get("/p/deal-registration/queue").await;
    assert!(queue.body.contains("dr-overdue-row") && queue.body.contains("overdue by"), "{}", queue.body);

    // Approved for 30 days; a reminder 7 days before the end.
    assert_eq!(manager.act(&id, "approve", Value::Null).await.json()["status"], "approved");
    app.state.clock.advance(22 * DAY);
    run_schedules(&app).await;
    assert!(!notifications(&app, "bob@northwind.example").await.iter().any(|t| t.starts_with("Protection ends soon")));
    app.state.clock.advance(2 * DAY);
    run_schedules(&app).await;
    let soon = |t: Vec<String>| t.iter().filter(|t| t.starts_with("Protection ends soon")).count();
    assert_eq!(soon(notifications(&app, "bob@northwind.example").await), 1);

    // One extension, one pending request at a time.
    let before = bob.get(&format!("/deals/{id}")).await.json()["exclusivity_expires_at"].clone();
    assert_eq!(bob.act(&id, "extension-requests", json!({})).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let req = bob.act(&id, "extension-requests", json!({ "reason": "customer board meets in March" })).await;
    assert_eq!(req.status, StatusCode::OK, "{}", req.body);
    assert_eq!(req.json()["extension"]["status"], "pending");
    assert_eq!(bob.act(&id, "extension-requests", json!({ "reason": "again" })).await.status, StatusCode::CONFLICT);
    assert_eq!(bob.act(&id, "extension-requests/grant", Value::Null).await.status, StatusCode::FORBIDDEN);
    let granted = manager.act(&id, "extension-requests/grant", Value::Null).await.json();
    assert_eq!(granted["extensions_granted"], 1);
    let after = &granted["exclusivity_expires_at"];
    let grown = chrono::DateTime::parse_from_rfc3339(after.as_str().unwrap()).unwrap()
        - chrono::DateTime::parse_from_rfc3339(before.as_str().unwrap()).unwrap();
    assert_eq!(grown.num_days(), 30);
    let page = bob.act(&id, "extension-requests", json!({ "reason": "once more" })).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("already been extended once"));

    // Meanwhile another partner's registration of the customer cannot be approved.
    let rival = id_of(&carol.submit(deal("Soylent Corp", "soylent.com")).await);
    assert_eq!(manager.act(&rival, "approve", Value::Null).await.status, StatusCode::CONFLICT);

    // Past the end, the schedule expires it and the customer is free again.
    app.state.clock.advance(40 * DAY);
    run_schedules(&app).await;
    assert_eq!(bob.get(&format!("/deals/{id}")).await.json()["status"], "expired");
    assert!(notifications(&app, "bob@northwind.example").await.iter().any(|t| t.starts_with("Protection ended")));
    let topics = app.event_topics("deal-registration").await;
    assert!(topics.iter().any(|t| t == "deal.expired") && topics.iter().any(|t| t == "deal.extended"), "{topics:?}");
    // The rival was overdue long ago; approving it now succeeds.
    assert_eq!(manager.act(&rival, "approve", Value::Null).await.json()["status"], "approved");
}

#[tokio::test]
async fn a_tampered_registration_or_chain_fails_verification() {
    let app = setup(DbKind::Sqlite, Value::Null).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let id = id_of(&bob.submit(deal("Oscorp", "oscorp.com")).await);
    let second = id_of(&bob.submit(deal("Gringotts", "gringotts.com")).await);
    let receipt = bob.get(&format!("/deals/{id}/receipt")).await.json();
    let later = bob.get(&format!("/deals/{second}/receipt")).await.json();
    assert_eq!(bob.post("/receipts/verify", receipt.clone()).await.json()["valid"], true);
    // Someone with database access raises the deal's value.
    app.state
        .db
        .execute_raw(&format!(
            "UPDATE plugin_records SET data = REPLACE(data, '\"amount\":20000.0', '\"amount\":90000.0') WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    assert_eq!(bob.get(&format!("/deals/{id}")).await.json()["amount"], 90000.0, "the edit took effect");
    let verdict = bob.post("/receipts/verify", receipt.clone()).await.json();
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert!(verdict["reason"].as_str().unwrap().contains("changed"), "{verdict}");
    // Someone rewrites the first receipt to claim an earlier time and recomputes its hash: the chain breaks.
    let ms = receipt["submitted_at_ms"].as_i64().unwrap();
    app.state
        .db
        .execute_raw(&format!(
            "UPDATE plugin_records SET data = REPLACE(data, '\"submitted_at_ms\":{ms}', '\"submitted_at_ms\":{}') WHERE collection = 'receipts' AND id = '000000000001'",
            ms - DAY
        ))
        .await
        .unwrap();
    let verdict = bob.post("/receipts/verify", later).await.json();
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert!(verdict["reason"].as_str().unwrap().contains("broken"), "{verdict}");
}

#[tokio::test]
async fn partners_and_managers_work_through_the_pages() {
    let app = setup(DbKind::Sqlite, Value::Null).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    // The form first, as a browser would: its token is good for deal registration's routes only.
    bob.get("/p/deal-registration/new").await;
    let page = bob
        .post(
            "/p/deal-registration/new",
            &[
                ("customer_name", "Stark Industries"),
                ("customer_domain", "https://www.starkindustries.com"),
                ("country", "us"),
                ("amount", "125,000"),
                ("currency", "USD"),
                ("products", "Edge Router"),
                ("products", "Cloud Firewall"),
                ("expected_close_date", "2027-06-30"),
                ("intent", "submit"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().unwrap().to_string();
    assert!(location.ends_with("?done=submitted"), "{location}");
    let detail = bob.get(&location).await;
    assert_eq!(detail.status, StatusCode::OK);
    for text in [
        "Awaiting approval",
        "125,000 USD",
        "Edge Router, Cloud Firewall",
        "Timeline",
        "Download receipt",
        "starkindustries.com",
    ] {
        assert!(detail.body.contains(text), "{text} missing on the deal page");
    }
    let list = bob.get("/p/deal-registration/?status=submitted").await;
    assert!(list.body.contains("Stark Industries"));
    let id = location.trim_start_matches("/p/deal-registration/deals/").split('?').next().unwrap().to_string();
    let receipt = bob.get(&format!("/p/deal-registration/deals/{id}/receipt")).await;
    assert_eq!(receipt.headers["content-type"], "application/json");
    assert!(receipt.headers["content-disposition"].to_str().unwrap().contains("deal-receipt-1.json"));
    let verify = bob.post("/p/deal-registration/verify", &[("receipt", &receipt.body)]).await;
    assert!(verify.body.contains("Valid."), "{}", verify.body);

    let mut manager = app.client();
    manager.login_ok("manager@acme.example").await;
    let queue = manager.get("/p/deal-registration/queue").await;
    assert!(queue.body.contains("Stark Industries") && queue.body.contains("due in"), "{}", queue.body);
    manager.get(&format!("/p/deal-registration/deals/{id}")).await;
    let page = manager.post(&format!("/p/deal-registration/deals/{id}/approve"), &[("protection_days", "")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    // A failed action shows the deal again with the reason.
    let page = manager.post(&format!("/p/deal-registration/deals/{id}/withdraw"), &[]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("only deals not yet approved can be withdrawn"));
    let csv = manager.get("/p/deal-registration/export.csv").await;
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.body.starts_with("id,partner,customer_name"));
    assert!(csv.body.contains("\"Stark Industries\"") && csv.body.contains("\"approved\""));

    // The partner sees the approval, its notification and the pipeline widget on the dashboard.
    let detail = bob.get(&format!("/p/deal-registration/deals/{id}")).await;
    assert!(detail.body.contains("Protected until"));
    let home = bob.get("/").await;
    assert!(home.body.contains("Deal pipeline") && home.body.contains("dr-bars"), "{}", home.body);
    let home = manager.get("/").await;
    assert!(home.body.contains("Pending deal approvals"));
    assert!(notifications(&app, "bob@northwind.example").await.iter().any(|t| t == "Deal approved: Stark Industries"));
}
