//! The bundled plugins feeding the channel dashboard, through the real host: deal registration's, training's and
//! MDF's figures counted per day as deals, courses and funds move (a partner's part and the tenant's total; a
//! reversed win taken back; a vendor-sourced deal in the total only), the lines they add to a partner's timeline,
//! and the next steps each suggests to a partner user, a partner admin and vendor staff.

use std::collections::BTreeMap;

use portico::runtime::NextStep;
use portico_tests::{DbKind, Page, TestApp, deals, lms, mdf, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

struct Api<'a> {
    app: &'a TestApp,
    plugin: &'static str,
    token: String,
}

async fn as_user<'a>(app: &'a TestApp, plugin: &'static str, email: &str) -> Api<'a> {
    Api { app, plugin, token: app.client().token(email, "portico-demo").await }
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Page {
        let path = format!("/api/v1/p/{}{path}", self.plugin);
        self.app.client().api(method, &path, Some(&self.token), body).await
    }

    /// A POST that must succeed (200 or 201); its answer.
    async fn ok(&self, path: &str, body: Value) -> Value {
        let page = self.call(Method::POST, path, Some(body)).await;
        assert!(
            matches!(page.status, StatusCode::OK | StatusCode::CREATED),
            "POST {path}: {} {}",
            page.status,
            page.body
        );
        page.json()
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

/// Every figure of `org` (the tenant's total for ""), summed over all days, by (metric, unit).
async fn figures(app: &TestApp, org: &str) -> BTreeMap<(String, String), i64> {
    let tenant = app.tenant_id("acme").await;
    let rows = app.state.db.tenant(&tenant).metric_days(org, 0, 1_000_000).await.unwrap();
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry((r.metric, r.unit)).or_default() += r.value;
    }
    out
}

fn fig(f: &BTreeMap<(String, String), i64>, metric: &str, unit: &str) -> i64 {
    f.get(&(metric.to_string(), unit.to_string())).copied().unwrap_or(0)
}

/// The organisation of a demo user.
async fn org_of(app: &TestApp, email: &str) -> String {
    app.demo_user(email).await.org_id
}

/// A partner organisation's timeline, newest first: (source, text, link).
async fn timeline(app: &TestApp, org: &str) -> Vec<(String, String, Option<String>)> {
    let tenant = app.tenant_id("acme").await;
    let entries = app.state.db.tenant(&tenant).timeline(org, 100).await.unwrap();
    entries.into_iter().map(|e| (e.source, e.text, e.link)).collect()
}

/// The lines of `plugin` on the timeline.
fn lines_of(t: &[(String, String, Option<String>)], plugin: &str) -> Vec<String> {
    t.iter().filter(|(s, _, _)| s == plugin).map(|(_, text, _)| text.clone()).collect()
}

/// What `plugin` suggests `email` do next, as the partner dashboard asks it.
async fn next_steps(app: &TestApp, plugin: &str, email: &str) -> Vec<NextStep> {
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let user = app.demo_user(email).await;
    let active = portico::plugins::active_for(&app.state, &tenant, &user, None)
        .await
        .unwrap()
        .iter()
        .find(|a| a.plugin.manifest().id == plugin)
        .cloned()
        .unwrap_or_else(|| panic!("{plugin} is not enabled for {email}"));
    let inv = portico::plugins::user_invocation(&app.state, &tenant, &active, &user, "test");
    match app.state.runtime.next_steps(active.plugin.loaded.clone(), inv).await {
        Some(Ok(Ok(steps))) => steps,
        other => panic!("{plugin} gave no next steps for {email}: {other:?}"),
    }
}

fn titles(steps: &[NextStep]) -> Vec<&str> {
    steps.iter().map(|s| s.title.as_str()).collect()
}

fn deal(name: &str, domain: &str, amount: u32, currency: &str) -> Value {
    json!({
        "submit": true, "customer_name": name, "customer_domain": domain, "country": "US", "amount": amount,
        "currency": currency, "products": ["Edge Router"], "expected_close_date": "2027-03-31",
        "contact_name": "Jane Doe", "contact_email": "jane@example.com",
    })
}

async fn deal_figures_timeline_and_next_steps(kind: DbKind) {
    let app = spawn_app(kind).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    let bob = as_user(&app, "deal-registration", "bob@northwind.example").await;
    let alice = as_user(&app, "deal-registration", "alice@northwind.example").await;
    let carol = as_user(&app, "deal-registration", "carol@fabrikam.example").await;
    let manager = as_user(&app, "deal-registration", "manager@acme.example").await;
    let northwind = org_of(&app, "bob@northwind.example").await;
    let fabrikam = org_of(&app, "carol@fabrikam.example").await;

    // Registered: one deal and its amount, for Northwind and in the tenant's total.
    let globex = id_of(&bob.ok("/deals", deal("Globex Corporation", "globex.com", 48_000, "USD")).await);
    for org in ["", northwind.as_str()] {
        let f = figures(&app, org).await;
        assert_eq!(fig(&f, "deal-registration.submitted", ""), 1, "{org:?}: {f:?}");
        assert_eq!(fig(&f, "deal-registration.pipeline", "USD"), 4_800_000, "{org:?}: {f:?}");
    }
    let other = figures(&app, &fabrikam).await;
    assert!(!other.keys().any(|(m, _)| m.starts_with("deal-registration.")), "nothing for another partner: {other:?}");

    // Approved and won.
    manager.ok(&format!("/deals/{globex}/approve"), json!({})).await;
    manager.ok(&format!("/deals/{globex}/won"), json!({ "reason": "Purchase order received" })).await;
    let f = figures(&app, &northwind).await;
    assert_eq!(fig(&f, "deal-registration.approved", ""), 1, "{f:?}");
    assert_eq!(fig(&f, "deal-registration.won", ""), 1);
    assert_eq!(fig(&f, "deal-registration.closed", ""), 1);
    assert_eq!(fig(&f, "deal-registration.won_revenue", "USD"), 4_800_000);

    // Another, lost: closed twice, won once (the win rate's inputs); its pipeline in its own currency.
    let initech = id_of(&bob.ok("/deals", deal("Initech", "initech.com", 10_000, "EUR")).await);
    manager.ok(&format!("/deals/{initech}/approve"), json!({})).await;
    bob.ok(&format!("/deals/{initech}/lost"), json!({ "reason": "Budget cut" })).await;
    let f = figures(&app, &northwind).await;
    assert_eq!((fig(&f, "deal-registration.won", ""), fig(&f, "deal-registration.closed", "")), (1, 2), "{f:?}");
    assert_eq!(fig(&f, "deal-registration.pipeline", "EUR"), 1_000_000);
    assert_eq!(fig(&f, "deal-registration.won_revenue", "EUR"), 0);

    // Reversing the win takes it back, and its revenue; the deal stays closed.
    manager.ok(&format!("/deals/{globex}/reverse"), json!({ "reason": "The customer cancelled the order" })).await;
    for org in ["", northwind.as_str()] {
        let f = figures(&app, org).await;
        assert_eq!(fig(&f, "deal-registration.won", ""), 0, "{org:?}: {f:?}");
        assert_eq!(fig(&f, "deal-registration.won_revenue", "USD"), 0, "{org:?}: {f:?}");
        assert_eq!(fig(&f, "deal-registration.closed", ""), 2, "{org:?}: {f:?}");
    }

    // A deal returned for information and submitted again is one registration.
    let hooli = id_of(&bob.ok("/deals", deal("Hooli", "hooli.com", 5_000, "USD")).await);
    manager.ok(&format!("/deals/{hooli}/return"), json!({ "reason": "Add the number of sites" })).await;
    bob.ok(&format!("/deals/{hooli}/submit"), json!({})).await;
    // A rejected one is on the timeline; a vendor-sourced one counts in the tenant's total only.
    let soylent = id_of(&alice.ok("/deals", deal("Soylent", "soylent.com", 9_000, "USD")).await);
    manager.ok(&format!("/deals/{soylent}/reject"), json!({ "reason": "Insufficient information" })).await;
    manager.ok("/deals", deal("Massive Dynamic", "massivedynamic.com", 70_000, "USD")).await;
    assert_eq!(fig(&figures(&app, &northwind).await, "deal-registration.submitted", ""), 4);
    let total = figures(&app, "").await;
    assert_eq!(fig(&total, "deal-registration.submitted", ""), 5, "{total:?}");
    assert_eq!(fig(&total, "deal-registration.pipeline", "USD"), 4_800_000 + 500_000 + 900_000 + 7_000_000);

    let t = timeline(&app, &northwind).await;
    let lines = lines_of(&t, "deal-registration");
    for expected in [
        "Deal registered: Globex Corporation (48,000.00 USD) by Bob",
        "Deal approved: Globex Corporation (48,000.00 USD) by",
        "Deal won: Globex Corporation (48,000.00 USD)",
        "Deal lost: Initech (10,000.00 EUR)",
        "Win reversed: Globex Corporation (48,000.00 USD): The customer cancelled the order",
        "Deal rejected: Soylent: Insufficient information",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(expected)), "{expected:?} not in {lines:#?}");
    }
    assert_eq!(lines.iter().filter(|l| l.starts_with("Deal registered: Hooli")).count(), 1, "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("Massive Dynamic")), "the vendor's own deal is no partner's");
    assert!(
        t.iter()
            .filter(|(s, _, _)| s == "deal-registration")
            .all(|(_, _, l)| l.as_deref().is_some_and(|l| l.starts_with("/p/deal-registration/deals/"))),
        "{t:#?}"
    );
    assert!(lines_of(&timeline(&app, &fabrikam).await, "deal-registration").is_empty());

    // Next steps: a deal returned to Bob, his draft, and protection about to end; Alice's draft is hers.
    let tyrell = id_of(&bob.ok("/deals", deal("Tyrell Corporation", "tyrell.com", 20_000, "USD")).await);
    manager.ok(&format!("/deals/{tyrell}/return"), json!({ "reason": "Add the customer contact" })).await;
    let draft = id_of(&bob.ok("/deals", json!({ "customer_name": "Cyberdyne Systems" })).await);
    alice.ok("/deals", json!({ "customer_name": "Wayne Enterprises" })).await;
    let stark = id_of(&bob.ok("/deals", deal("Stark Industries", "starkindustries.com", 12_000, "USD")).await);
    manager.ok(&format!("/deals/{stark}/approve"), json!({ "protection_days": 5 })).await;
    let waiting = id_of(&carol.ok("/deals", deal("Acme Hotels", "acmehotels.com", 36_000, "USD")).await);

    let steps = next_steps(&app, "deal-registration", "bob@northwind.example").await;
    assert_eq!(
        titles(&steps),
        [
            "Add the missing details to Tyrell Corporation",
            "Close or extend Stark Industries",
            "Submit the draft for Cyberdyne Systems",
        ],
        "{steps:#?}"
    );
    assert!(steps[0].urgent && steps[0].detail.contains("Add the customer contact"), "{:?}", steps[0]);
    assert_eq!(steps[0].link, format!("/p/deal-registration/deals/{tyrell}"));
    let ends = app.state.clock.now_ms() + 5 * DAY;
    assert!(steps[1].urgent && steps[1].due_ms.is_some_and(|d| (d - ends).abs() < 60_000), "{:?}", steps[1]);
    assert_eq!(steps[2].link, format!("/p/deal-registration/deals/{draft}"));
    assert!(!steps[2].urgent);

    let steps = next_steps(&app, "deal-registration", "alice@northwind.example").await;
    let t = titles(&steps);
    assert!(t.contains(&"Add the missing details to Tyrell Corporation"), "the company's: {t:?}");
    assert!(
        t.contains(&"Submit the draft for Wayne Enterprises") && t.contains(&"Submit the draft for Cyberdyne Systems")
    );
    assert!(
        !titles(&next_steps(&app, "deal-registration", "bob@northwind.example").await)
            .contains(&"Submit the draft for Wayne Enterprises")
    );
    assert!(next_steps(&app, "deal-registration", "carol@fabrikam.example").await.is_empty(), "nothing of Northwind's");

    let steps = next_steps(&app, "deal-registration", "manager@acme.example").await;
    let review = steps
        .iter()
        .find(|s| s.title == "Review the deal registration for Acme Hotels")
        .unwrap_or_else(|| panic!("{steps:#?}"));
    assert_eq!(review.link, format!("/p/deal-registration/deals/{waiting}"));
    assert!(review.due_ms.is_some() && !review.urgent, "{review:?}");
    assert!(steps.len() <= 5);
    assert!(!titles(&steps).iter().any(|t| t.starts_with("Add the missing") || t.starts_with("Submit the draft")));
    // Past its SLA it is urgent.
    app.state.clock.advance(3 * DAY);
    let steps = next_steps(&app, "deal-registration", "manager@acme.example").await;
    assert!(steps.iter().any(|s| s.title == "Review the deal registration for Acme Hotels" && s.urgent), "{steps:#?}");
}

#[tokio::test]
async fn deal_figures_timeline_and_next_steps_sqlite() {
    deal_figures_timeline_and_next_steps(DbKind::Sqlite).await;
}

#[tokio::test]
async fn deal_figures_timeline_and_next_steps_postgres() {
    deal_figures_timeline_and_next_steps(DbKind::Postgres).await;
}

fn course(title: &str, certification: Value) -> Value {
    json!({
        "title": title, "summary": "Set up the router.", "tags": ["routing"], "minutes": 30,
        "certification": certification,
        "lessons": [
            { "id": "intro", "title": "Introduction", "content": { "kind": "text", "markdown": "Read this." } },
            { "id": "check", "title": "Check yourself", "content": { "kind": "quiz", "pass_percent": 50,
              "retake": { "policy": "unlimited" }, "questions": [
                { "id": "port", "prompt": "Which port does HTTPS use?", "kind": "single", "choices": [
                  { "id": "a", "text": "80", "correct": false }, { "id": "b", "text": "443", "correct": true } ] } ] } },
        ],
    })
}

/// A course created and published by vendor staff; its id.
async fn published(admin: &Api<'_>, body: Value) -> String {
    let id = id_of(&admin.ok("/courses", body).await);
    admin.ok(&format!("/courses/{id}/publish"), json!({})).await;
    id
}

#[tokio::test]
async fn training_counts_enrolments_completions_and_certifications() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&lms().package(None), &["reseller", "msp"]).await;
    let admin = as_user(&app, "lms", "admin@acme.example").await;
    let bob = as_user(&app, "lms", "bob@northwind.example").await;
    let alice = as_user(&app, "lms", "alice@northwind.example").await;
    let northwind = org_of(&app, "bob@northwind.example").await;
    let cert = json!({ "name": "Certified Router Technician", "validity_months": 12, "window_days": 60 });
    let router = published(&admin, course("Router basics", cert)).await;
    let wifi = published(&admin, course("Wi-Fi basics", Value::Null)).await;

    bob.ok(&format!("/courses/{router}/enrol"), json!({})).await;
    bob.ok(&format!("/courses/{router}/lessons/intro/complete"), json!({})).await;
    let f = figures(&app, &northwind).await;
    assert_eq!((fig(&f, "lms.enrolments", ""), fig(&f, "lms.completions", "")), (1, 0), "{f:?}");
    bob.ok(&format!("/quizzes/{router}/check/attempts"), json!({ "answers": { "port": ["b"] } })).await;
    // Vendor staff taking a course count in the tenant's total only.
    admin.ok(&format!("/courses/{wifi}/enrol"), json!({})).await;
    let f = figures(&app, &northwind).await;
    assert_eq!(fig(&f, "lms.enrolments", ""), 1, "{f:?}");
    assert_eq!(fig(&f, "lms.completions", ""), 1);
    assert_eq!(fig(&f, "lms.certifications", ""), 1);
    assert_eq!(fig(&figures(&app, "").await, "lms.enrolments", ""), 2);

    let lines = lines_of(&timeline(&app, &northwind).await, "lms");
    assert!(lines.iter().any(|l| l.starts_with("Course completed: Router basics by Bob")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("Certified: Bob") && l.ends_with("Certified Router Technician")));

    // Alice assigns Bob a course, due in three days: his most pressing step, and an enrolment of Northwind's.
    let due = chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms() + 3 * DAY)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let bob_id = app.demo_user("bob@northwind.example").await.id;
    alice.ok("/assignments", json!({ "course_id": wifi, "user_id": bob_id, "due_date": due })).await;
    assert_eq!(fig(&figures(&app, &northwind).await, "lms.enrolments", ""), 2);
    let steps = next_steps(&app, "lms", "bob@northwind.example").await;
    assert_eq!(steps.first().map(|s| s.title.as_str()), Some("Finish Wi-Fi basics"), "{steps:#?}");
    assert!(steps[0].urgent && steps[0].due_ms.is_some());
    assert_eq!(steps[0].link, format!("/p/lms/courses/{wifi}"));

    // Eleven months on, Bob's certificate is up for renewal; Alice sees it among the team's.
    app.state.clock.advance(320 * DAY);
    let steps = next_steps(&app, "lms", "bob@northwind.example").await;
    let renew = steps
        .iter()
        .find(|s| s.title == "Renew your certification Certified Router Technician")
        .unwrap_or_else(|| panic!("{steps:#?}"));
    assert_eq!(renew.link, format!("/p/lms/courses/{router}"));
    assert!(renew.due_ms.is_some_and(|d| d > app.state.clock.now_ms()));
    let steps = next_steps(&app, "lms", "alice@northwind.example").await;
    assert!(
        steps
            .iter()
            .any(|s| s.title.ends_with("certification Certified Router Technician expires soon")
                && s.link == "/p/lms/team"),
        "{steps:#?}"
    );
    assert!(next_steps(&app, "lms", "manager@acme.example").await.is_empty());
}

/// The date `days` from the test clock's today.
fn day(app: &TestApp, days: i64) -> String {
    chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms() + days * DAY)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

fn funds_request(budget: &str, activity: &str, starts: String, ends: String, asked: &str, submit: bool) -> Value {
    json!({
        "budget_id": budget, "activity_type": "Event", "activity": activity, "starts": starts, "ends": ends,
        "total_cost": "12,000.00", "own_share": "2,000.00", "expected_leads": 10, "expected_pipeline": "50,000",
        "asked": asked, "submit": submit,
    })
}

#[tokio::test]
async fn mdf_counts_money_as_it_moves_and_says_what_to_do_next() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&mdf().package(None), &["reseller", "msp"]).await;
    let admin = as_user(&app, "mdf", "admin@acme.example").await;
    let manager = as_user(&app, "mdf", "manager@acme.example").await;
    let bob = as_user(&app, "mdf", "bob@northwind.example").await;
    let alice = as_user(&app, "mdf", "alice@northwind.example").await;
    let carol = as_user(&app, "mdf", "carol@fabrikam.example").await;
    let northwind = org_of(&app, "bob@northwind.example").await;

    let budget = id_of(
        &admin
            .ok(
                "/budgets",
                json!({
                    "name": "Co-op", "program": "reseller", "currency": "USD", "fund": "Co-op marketing", "pct": 50,
                    "starts": day(&app, -1), "ends": day(&app, 90), "mode": "allocated", "claim_days": 10,
                    "allocations": [{ "org_name": "Northwind Solutions", "amount": "25,000.00" },
                                    { "org_name": "Fabrikam Systems", "amount": "5,000.00" }],
                }),
            )
            .await,
    );
    let roadshow = id_of(
        &bob.ok("/requests", funds_request(&budget, "Roadshow", day(&app, 0), day(&app, 2), "5,000.00", true)).await,
    );
    manager.ok(&format!("/requests/{roadshow}/approve"), json!({ "amount": "4,500.00" })).await;
    let webinar = id_of(
        &bob.ok("/requests", funds_request(&budget, "Webinar", day(&app, 0), day(&app, 1), "1,000.00", true)).await,
    );
    manager.ok(&format!("/requests/{webinar}/approve"), json!({})).await;
    alice.ok("/requests", funds_request(&budget, "Newsletter", day(&app, 10), day(&app, 12), "800.00", false)).await;
    let show = id_of(
        &alice
            .ok("/requests", funds_request(&budget, "Trade show", day(&app, 20), day(&app, 22), "1,000.00", true))
            .await,
    );
    manager.ok(&format!("/requests/{show}/return"), json!({ "note": "Add the stand's size" })).await;
    carol.ok("/requests", funds_request(&budget, "Customer day", day(&app, 5), day(&app, 6), "2,000.00", true)).await;

    // After the roadshow, Bob claims: 50 % of 8,000.00 spent, within the 4,500.00 approved.
    app.state.clock.advance(3 * DAY);
    let form = reqwest::multipart::Form::new()
        .text("request_id", roadshow.clone())
        .text("spend", "8,000.00")
        .part("proof", reqwest::multipart::Part::bytes(b"%PDF-1.4 proof".to_vec()).file_name("photos.pdf"))
        .part("invoice", reqwest::multipart::Part::bytes(b"%PDF-1.4 invoice".to_vec()).file_name("invoice.pdf"));
    let page = app.client().api_multipart("/api/v1/p/mdf/claims", &bob.token, form).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let claim = id_of(&page.json());

    // What to do next: Bob files the webinar's claim before its deadline (soon: urgent); Alice also changes the
    // returned request and submits her draft; staff review Fabrikam's request and Bob's claim.
    let steps = next_steps(&app, "mdf", "bob@northwind.example").await;
    assert_eq!(titles(&steps), ["File the claim for Webinar"], "{steps:#?}");
    assert!(steps[0].urgent && steps[0].due_ms.is_some_and(|d| d > app.state.clock.now_ms()), "{:?}", steps[0]);
    assert_eq!(steps[0].link, format!("/p/mdf/requests/{webinar}"));
    let steps = next_steps(&app, "mdf", "alice@northwind.example").await;
    assert_eq!(
        titles(&steps),
        ["File the claim for Webinar", "Change and resubmit Trade show", "Submit your request for Newsletter"],
        "{steps:#?}"
    );
    assert!(steps[1].detail.contains("Add the stand's size"));
    let t = titles(&next_steps(&app, "mdf", "manager@acme.example").await).join(" | ");
    assert!(
        t.contains("Review the MDF request for Customer day") && t.contains("Review the MDF claim for Roadshow"),
        "{t}"
    );
    assert!(next_steps(&app, "mdf", "carol@fabrikam.example").await.is_empty());

    // The claim is approved for less, and paid in two payments.
    manager.ok(&format!("/claims/{claim}/approve"), json!({ "amount": "3,500.00" })).await;
    admin.ok(&format!("/claims/{claim}/pay"), json!({ "amount": "2,000.00", "reference": "ACH 1" })).await;
    admin.ok(&format!("/claims/{claim}/pay"), json!({ "reference": "ACH 2" })).await;

    let f = figures(&app, &northwind).await;
    assert_eq!(fig(&f, "mdf.allocated", "USD"), 2_500_000, "{f:?}");
    assert_eq!(fig(&f, "mdf.requested", "USD"), 500_000 + 100_000 + 100_000, "drafts are not requests: {f:?}");
    assert_eq!(fig(&f, "mdf.approved", "USD"), 450_000 + 100_000);
    assert_eq!(fig(&f, "mdf.claimed", "USD"), 350_000, "claimed 4,000.00, approved 3,500.00");
    assert_eq!(fig(&f, "mdf.paid", "USD"), 350_000);
    let total = figures(&app, "").await;
    assert_eq!(fig(&total, "mdf.allocated", "USD"), 3_000_000, "{total:?}");
    assert_eq!(fig(&total, "mdf.requested", "USD"), 900_000);

    let lines = lines_of(&timeline(&app, &northwind).await, "mdf");
    for expected in [
        "MDF request submitted: Roadshow (5,000.00 USD asked) by Bob",
        "MDF request approved: Roadshow (4,500.00 USD) by",
        "MDF claim filed: Roadshow (4,000.00 USD) by Bob",
        "MDF payment: 2,000.00 USD for Roadshow",
        "MDF payment: 1,500.00 USD for Roadshow",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(expected)), "{expected:?} not in {lines:#?}");
    }
    assert!(!lines.iter().any(|l| l.contains("Newsletter")), "a draft is not on the timeline");
    let steps = next_steps(&app, "mdf", "manager@acme.example").await;
    assert!(!titles(&steps).iter().any(|t| t.contains("Roadshow")), "settled: {steps:#?}");
}
