//! Dashboards and channel analytics through the real host: the vendor's channel figures equal counts made by hand
//! across a range boundary and a time-zone boundary (on SQLite and PostgreSQL); each role sees exactly what it may
//! (a partner reaches no channel figure, list or export); the partner 360 page shows the cards and the timeline;
//! a slow or failing widget never holds up the dashboard.

use portico_tests::{DbKind, TestApp, deals, hostile, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Milliseconds of an RFC 3339 instant.
fn at(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
}

/// Moves the app's clock to `instant`.
fn set_clock(app: &TestApp, instant: &str) {
    app.state.clock.advance(at(instant) - app.state.clock.now_ms());
}

async fn submit_deal(app: &TestApp, token: &str, customer: &str, amount: f64) -> String {
    let page = app
        .client()
        .api(
            Method::POST,
            "/api/v1/p/deal-registration/deals",
            Some(token),
            Some(json!({ "submit": true, "customer_name": customer,
                "customer_domain": format!("{}.com", customer.to_lowercase().replace(' ', "-")), "country": "US",
                "amount": amount, "currency": "USD", "products": ["Edge Router"], "expected_close_date": "2027-06-30",
                "contact_name": "Pat", "contact_email": "pat@example.com" })),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    page.json()["id"].as_str().unwrap().to_string()
}

/// The channel report's figure `metric` (in `currency`), as the JSON API gives it: (value, previous).
fn figure(report: &Value, metric: &str, currency: &str) -> (String, String) {
    let k = report["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["metric"] == metric && k["currency"] == currency)
        .unwrap_or_else(|| panic!("no {metric} {currency} in {report}"));
    (k["value"].as_str().unwrap().to_string(), k["previous"].as_str().unwrap().to_string())
}

async fn channel(app: &TestApp, token: &str, query: &str) -> Value {
    let page = app.client().api(Method::GET, &format!("/api/v1/channel?{query}"), Some(token), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.json()
}

#[tokio::test]
async fn channel_figures_equal_hand_counts_across_a_range_and_a_time_zone_boundary() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app(kind).await;
        app.install(&deals().package(None), &["reseller", "msp"]).await;
        let tenant = app.tenant_id("acme").await;
        let scope = app.state.db.tenant(&tenant);
        // The vendor reports in New York time: 23:30 there on 31 March is 1 April in UTC, and counts in March.
        scope.set_timezone("America/New_York").await.unwrap();
        let user = |email: &str| {
            let scope = app.state.db.tenant(&tenant);
            let email = email.to_string();
            async move { scope.user_by_email(&email).await.unwrap().unwrap() }
        };
        let (alice, bob, carol) = (
            user("alice@northwind.example").await,
            user("bob@northwind.example").await,
            user("carol@fabrikam.example").await,
        );
        for (who, when) in [
            (&bob, "2026-03-31T23:30:00-04:00"),
            (&carol, "2026-03-15T12:00:00-04:00"),
            (&carol, "2026-03-20T10:00:00-04:00"),
            (&alice, "2026-04-01T00:30:00-04:00"),
            (&bob, "2026-04-02T10:00:00-04:00"),
        ] {
            assert!(scope.record_daily_activity(who, at(when)).await.unwrap());
        }
        let bob_token = app.client().token("bob@northwind.example", "portico-demo").await;
        let carol_token = app.client().token("carol@fabrikam.example", "portico-demo").await;
        let manager = app.client().token("manager@acme.example", "portico-demo").await;
        // Four deals: 1 March (before daylight saving) and 31 March late in New York, 1 April just after midnight,
        // and 28 February late.
        for (token, instant, customer, amount) in [
            (&bob_token, "2026-03-01T00:10:00-05:00", "Early Bird", 300.0),
            (&bob_token, "2026-03-31T23:30:00-04:00", "Late Night", 1000.0),
            (&carol_token, "2026-04-01T00:30:00-04:00", "April Fools", 2500.5),
            (&carol_token, "2026-02-28T23:50:00-05:00", "Leap Less", 40.0),
        ] {
            set_clock(&app, instant);
            submit_deal(&app, token, customer, amount).await;
        }
        set_clock(&app, "2026-05-10T12:00:00-04:00");

        // March: two deals (1 and 31 March), 1,300.00 USD; the 31 days before held one (28 February).
        let march = channel(&app, &manager, "from=2026-03-01&to=2026-03-31").await;
        assert_eq!(march["previous"], json!({ "from": "2026-01-29", "to": "2026-02-28" }));
        assert_eq!(figure(&march, "deal-registration.submitted", ""), ("2".into(), "1".into()));
        assert_eq!(figure(&march, "deal-registration.pipeline", "USD"), ("1300.00".into(), "40.00".into()));
        // Active in March: Bob (his deal on the 1st, then the 31st) and Carol (three days, counted once); their two
        // companies. In February only Carol, whose deal request of the 28th was her activity that day.
        assert_eq!(figure(&march, "portico.active_users", ""), ("2".into(), "1".into()));
        assert_eq!(figure(&march, "portico.active_partners", ""), ("2".into(), "1".into()));
        let k =
            march["kpis"].as_array().unwrap().iter().find(|k| k["metric"] == "deal-registration.submitted").unwrap();
        assert_eq!(k["series"].as_array().unwrap().len(), 31);
        assert_eq!((k["series"][0].as_f64(), k["series"][30].as_f64()), (Some(1.0), Some(1.0)));
        assert_eq!(k["change_percent"].as_f64(), Some(100.0));

        // April: Carol's deal of 00:30 on the 1st (New York time); Alice, Bob and Carol active, of two companies.
        let april = channel(&app, &manager, "from=2026-04-01&to=2026-04-30").await;
        // The 30 days before are 2-31 March: the deal of the 31st, not the one of the 1st.
        assert_eq!(figure(&april, "deal-registration.submitted", ""), ("1".into(), "1".into()));
        assert_eq!(figure(&april, "deal-registration.pipeline", "USD"), ("2500.50".into(), "1000.00".into()));
        assert_eq!(figure(&april, "portico.active_users", ""), ("3".into(), "2".into()));
        assert_eq!(figure(&april, "portico.active_partners", ""), ("2".into(), "2".into()));

        // Two days across the boundary: the 31 March and 1 April deals.
        let edge = channel(&app, &manager, "from=2026-03-31&to=2026-04-01").await;
        assert_eq!(figure(&edge, "deal-registration.submitted", ""), ("2".into(), "0".into()));

        // The partners behind a figure, and who was active.
        let drill = app
            .client()
            .api(
                Method::GET,
                "/api/v1/channel/deal-registration.pipeline?from=2026-03-01&to=2026-04-30",
                Some(&manager),
                None,
            )
            .await;
        assert_eq!(drill.status, StatusCode::OK, "{}", drill.body);
        let items = drill.json()["items"].clone();
        assert_eq!(items[0]["name"], "Fabrikam Systems");
        assert_eq!((items[0]["value"].as_str(), items[1]["value"].as_str()), (Some("2500.50"), Some("1300.00")));
        let who = app
            .client()
            .api(
                Method::GET,
                "/api/v1/channel/portico.active_users?from=2026-03-01&to=2026-03-31",
                Some(&manager),
                None,
            )
            .await;
        let names: Vec<String> =
            who.json()["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].starts_with("Bob") && names[1].starts_with("Carol"), "{names:?}");

        // The CSV export says the same.
        let mut web = app.client();
        web.login_ok("manager@acme.example").await;
        let csv = web.get("/admin/channel.csv?from=2026-03-01&to=2026-03-31").await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
        assert!(
            csv.body.contains("deal-registration.pipeline,Partner-sourced pipeline,USD,2026-03-01,2026-03-31,1300.00,2026-01-29,2026-02-28,40.00,")
                || csv.body.lines().any(|l| l.starts_with("deal-registration.pipeline,") && l.contains(",USD,2026-03-01,2026-03-31,1300.00,2026-01-29,2026-02-28,40.00,")),
            "{}",
            csv.body
        );
        let drill_csv =
            web.get("/admin/channel/deal-registration.submitted?from=2026-03-01&to=2026-04-30&format=csv").await;
        assert!(drill_csv.body.contains("Northwind Solutions,,2,2026-03-01,2026-04-30"), "{}", drill_csv.body);

        // A range that does not parse is a field error, never a 500.
        let bad = app.client().api(Method::GET, "/api/v1/channel?from=2026-13-01", Some(&manager), None).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert_eq!(bad.json()["error"]["field"], "from");
        let page = web.get("/?from=2026-04-30&to=2026-04-01").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("the start must not be after the end"), "{}", page.body);
    }
}

#[tokio::test]
async fn each_role_sees_exactly_the_channel_figures_it_may() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    let bob = app.client().token("bob@northwind.example", "portico-demo").await;
    submit_deal(&app, &bob, "Northwind Secret Deal", 77777.0).await;
    for email in ["carol@fabrikam.example", "alice@northwind.example", "bob@northwind.example"] {
        let token = app.client().token(email, "portico-demo").await;
        for path in
            ["/api/v1/channel", "/api/v1/channel/deal-registration.submitted", "/api/v1/channel/portico.active_users"]
        {
            let page = app.client().api(Method::GET, path, Some(&token), None).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{email} {path}: {}", page.body);
            assert!(!page.body.contains("77777") && !page.body.contains("777.77"));
        }
        let mut web = app.client();
        web.login_ok(email).await;
        for path in [
            "/admin/channel.csv",
            "/admin/channel/deal-registration.submitted",
            "/admin/channel/deal-registration.submitted?format=csv",
        ] {
            let page = web.get(path).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{email} {path}");
        }
        // A partner's dashboard is its own: no channel figures and no other company's deal.
        let home = web.get("/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(!home.body.contains("Monthly active partners") && !home.body.contains("Export CSV"));
        if email.starts_with("carol") {
            assert!(!home.body.contains("Northwind Secret Deal") && !home.body.contains("77,777"), "{}", home.body);
        }
    }
    // Vendor staff see the figures, a partner's part of them, and the export.
    for email in ["manager@acme.example", "admin@acme.example"] {
        let mut web = app.client();
        web.login_ok(email).await;
        let home = web.get("/").await;
        assert!(
            home.body.contains("Monthly active partners") && home.body.contains("Deals registered"),
            "{}",
            home.body
        );
        assert!(home.body.contains("Partners by tier") && home.body.contains("Sign-in recency"));
        let drill = web.get("/admin/channel/deal-registration.submitted").await;
        assert_eq!(drill.status, StatusCode::OK);
        assert!(
            drill.body.contains("Northwind Solutions") && !drill.body.contains("Fabrikam Systems"),
            "{}",
            drill.body
        );
        // A ratio has no list of its own, and an unknown figure is not found.
        assert_eq!(web.get("/admin/channel/deal-registration.conversion").await.status, StatusCode::NOT_FOUND);
        assert_eq!(web.get("/admin/channel/nothing.here").await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_partner_360_page_shows_every_plugins_card_and_the_partners_timeline() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let carol = app.client().token("carol@fabrikam.example", "portico-demo").await;
    submit_deal(&app, &carol, "Timeline Industries", 5000.0).await;
    let fabrikam = scope.user_by_email("carol@fabrikam.example").await.unwrap().unwrap().org_id;
    let reseller = scope.program_by_key("reseller").await.unwrap();
    let silver = reseller.tiers.iter().find(|t| t.key == "silver").unwrap();
    scope.enrol(&fabrikam, &reseller.id, &silver.id).await.unwrap();
    let mut web = app.client();
    web.login_ok("manager@acme.example").await;
    let page = web.get(&format!("/admin/orgs/{fabrikam}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Deal registrations"), "the deal registration card");
    assert!(page.body.contains("Recent activity"));
    assert!(page.body.contains("Moved up from Registered to Silver in Reseller"), "{}", page.body);
    assert!(page.body.contains("Timeline Industries"), "the plugin's own line");
    // Another partner's page holds none of it, and a partner cannot open one.
    let northwind = scope.user_by_email("bob@northwind.example").await.unwrap().unwrap().org_id;
    let other = web.get(&format!("/admin/orgs/{northwind}")).await;
    assert!(!other.body.contains("Timeline Industries") && !other.body.contains("to Silver in Reseller"));
    let mut partner = app.client();
    partner.login_ok("carol@fabrikam.example").await;
    assert_eq!(partner.get(&format!("/admin/orgs/{fabrikam}")).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_slow_or_failing_widget_never_holds_up_the_dashboard() {
    let app = spawn_app_with(DbKind::Sqlite, |c| c.widget_budget_ms = 100).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    // A plugin with a widget that never finishes (its deadline traps it) and one that fails.
    let manifest = hostile().manifest_text()
        + "\n[[widgets]]\nname = \"spin\"\ntitle = \"Spinning widget\"\nroles = [\"partner_user\", \"channel_manager\"]\n\
           \n[[widgets]]\nname = \"broken\"\ntitle = \"Broken widget\"\nroles = [\"partner_user\"]\n";
    app.install(&hostile().package(Some(&manifest)), &["reseller"]).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let home = bob.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    // The deal pipeline is there; the failing widget says so; the slow one is left for the page to load.
    assert!(home.body.contains("Deal pipeline") && home.body.contains("data-pt-plugin=\"deal-registration\""));
    assert!(home.body.contains("Broken widget") && home.body.contains("This widget is unavailable right now."));
    let spinning = home.body.find("Spinning widget").expect("the slow widget's card");
    assert!(
        home.body.contains("data-pt-widget=\"&#x2F;dashboard&#x2F;widgets&#x2F;hostile&#x2F;spin\"")
            || home.body.contains("data-pt-widget=\"/dashboard/widgets/hostile/spin\""),
        "{}",
        &home.body[spinning..]
    );
    assert!(home.body.contains("What to do next"));
    // Loaded on its own, the slow widget fails alone; the deal pipeline loads on its own too.
    let spin = bob.get("/dashboard/widgets/hostile/spin").await;
    assert_eq!(spin.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(spin.body.contains("This widget is unavailable right now."));
    let pipeline = bob.get("/dashboard/widgets/deal-registration/pipeline").await;
    assert_eq!(pipeline.status, StatusCode::OK);
    assert!(pipeline.body.starts_with("<div class=\"plugin-root\" data-pt-plugin=\"deal-registration\""));
    // Only the caller's own widgets: not another role's, not a plugin they do not have.
    assert_eq!(bob.get("/dashboard/widgets/deal-registration/approvals").await.status, StatusCode::NOT_FOUND);
    assert_eq!(bob.get("/dashboard/widgets/lms/anything").await.status, StatusCode::NOT_FOUND);
    let mut dave = app.client();
    dave.login_ok("dave@contoso.example").await;
    assert_eq!(dave.get("/dashboard/widgets/hostile/spin").await.status, StatusCode::NOT_FOUND, "not in his program");
}
