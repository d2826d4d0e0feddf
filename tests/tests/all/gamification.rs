//! Points, badges and leaderboards through the real host, driven by the real events of deal registration and
//! training: points for each event, once however often an event is delivered, daily caps on the test clock, badges
//! once and repeatedly, the partners' board that names only companies that opted in (by API and page), and
//! partners kept to their own company — on SQLite and PostgreSQL.

use portico_tests::{DbKind, Page, TestApp, deals, gamification, lms, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

/// The demo portal with deal registration (one approver for every deal), training and gamification enabled in both
/// programs, and points rules without points for daily activity, so totals are exact.
async fn setup(kind: DbKind) -> TestApp {
    let app = spawn_app(kind).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    app.install(&lms().package(None), &["reseller", "msp"]).await;
    app.install(&gamification().package(None), &["reseller", "msp"]).await;
    set_settings(&app, "deal-registration", json!({ "approval_rules": ["=> single"] })).await;
    set_settings(
        &app,
        "gamification",
        json!({
            "points": ["deal_submitted=10", "deal_approved=25", "deal_won=100", "course_completed=50",
                       "certification_earned=150"],
            "daily_caps": ["deal_submitted=20"],
            "badges": ["first-deal | First deal | deal_submitted >= 1 | badge-first-deal.svg",
                       "closer | Closer | deal_submitted every 2",
                       "certified | Certified | certification_earned >= 1 | badge-certified.svg"],
            "cross_partner": true,
        }),
    )
    .await;
    app
}

/// Sets a plugin's settings in both programs (events that name no program, such as the host's daily activity,
/// are weighed by the rules of the first program the plugin is enabled in).
async fn set_settings(app: &TestApp, plugin: &str, settings: Value) {
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    for key in ["reseller", "msp"] {
        let program = scope.program_by_key(key).await.unwrap();
        scope.set_plugin_settings(plugin, &program.id, &settings.to_string()).await.unwrap();
    }
}

async fn token(app: &TestApp, email: &str) -> String {
    app.client().token(email, "portico-demo").await
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Page {
    app.client().api(method, path, Some(token), body).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> Page {
    call(app, token, Method::GET, &format!("/api/v1/p/gamification{path}"), None).await
}

async fn deliver(app: &TestApp) {
    portico::plugins::jobs::deliver_due(&app.state, 100).await.unwrap();
}

/// Registers and submits a deal as the token's user; returns its id.
async fn submit_deal(app: &TestApp, token: &str, customer: &str) -> String {
    let domain = format!("{}.com", customer.to_lowercase().replace(' ', ""));
    let body = json!({ "submit": true, "customer_name": customer, "customer_domain": domain, "country": "US",
                       "amount": 20000, "currency": "USD", "products": ["Edge Router"],
                       "expected_close_date": "2027-06-30", "contact_name": "Jane Doe",
                       "contact_email": "jane@example.com" });
    let page = call(app, token, Method::POST, "/api/v1/p/deal-registration/deals", Some(body)).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    page.json()["id"].as_str().unwrap().to_string()
}

async fn deal_action(app: &TestApp, token: &str, id: &str, action: &str) {
    let path = format!("/api/v1/p/deal-registration/deals/{id}/{action}");
    let page = call(app, token, Method::POST, &path, Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::OK, "{action}: {}", page.body);
}

/// The caller's points: (this month, this quarter, all time).
async fn points(app: &TestApp, token: &str) -> (i64, i64, i64) {
    let page = get(app, token, "/points").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let v = page.json();
    let of = |k: &str| {
        v["periods"].as_array().unwrap().iter().find(|p| p["period"] == k).unwrap()["points"].as_i64().unwrap()
    };
    (of("month"), of("quarter"), of("all"))
}

async fn notifications(app: &TestApp, email: &str) -> Vec<String> {
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let user = scope.user_by_email(email).await.unwrap().unwrap();
    scope.notifications(&user.id, 200).await.unwrap().into_iter().map(|n| n.title).collect()
}

/// A published course of two text lessons with a certification; returns its id.
async fn certified_course(app: &TestApp) -> String {
    let admin = token(app, "admin@acme.example").await;
    let body = json!({
        "title": "Edge Router basics", "summary": "Set up the router.", "tags": ["routing"], "minutes": 20,
        "certification": { "name": "Certified Router Associate", "validity_months": 12, "window_days": 30 },
        "lessons": [
            { "id": "intro", "title": "Introduction", "content": { "kind": "text", "markdown": "Read this." } },
            { "id": "setup", "title": "Setup", "content": { "kind": "text", "markdown": "Plug it in." } },
        ],
    });
    let page = call(app, &admin, Method::POST, "/api/v1/p/lms/courses", Some(body)).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let page = call(app, &admin, Method::POST, &format!("/api/v1/p/lms/courses/{id}/publish"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    id
}

async fn badge(app: &TestApp, token: &str, key: &str) -> Value {
    let list = get(app, token, "/badges").await.json();
    list["badges"].as_array().unwrap().iter().find(|b| b["key"] == key).cloned().unwrap_or(Value::Null)
}

async fn points_for_each_event_once_within_daily_caps(kind: DbKind) {
    let app = setup(kind).await;
    let (bob, manager) = (token(&app, "bob@northwind.example").await, token(&app, "manager@acme.example").await);

    // A deal registered, approved and won: 10 + 25 + 100 for its owner.
    let deal = submit_deal(&app, &bob, "Initech").await;
    deliver(&app).await;
    assert_eq!(points(&app, &bob).await.2, 10);
    let told = notifications(&app, "bob@northwind.example").await;
    assert!(told.iter().any(|t| t == "+10 points: Deal registered: Initech"), "{told:?}");
    assert!(told.iter().any(|t| t == "Badge earned: First deal"), "{told:?}");
    deal_action(&app, &manager, &deal, "approve").await;
    deal_action(&app, &bob, &deal, "won").await;
    deliver(&app).await;
    assert_eq!(points(&app, &bob).await.2, 135);

    // A course completed with its certification: 50 + 150.
    let course = certified_course(&app).await;
    let lms = |path: String| {
        let (app, bob) = (&app, &bob);
        async move {
            let page = call(app, bob, Method::POST, &format!("/api/v1/p/lms{path}"), Some(json!({}))).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        }
    };
    lms(format!("/courses/{course}/enrol")).await;
    lms(format!("/courses/{course}/lessons/intro/complete")).await;
    lms(format!("/courses/{course}/lessons/setup/complete")).await;
    deliver(&app).await;
    let (month, quarter, all) = points(&app, &bob).await;
    assert_eq!((month, quarter, all), (335, 335, 335));
    assert_eq!(badge(&app, &bob, "certified").await["earned"], json!(true));
    let recent = get(&app, &bob, "/points").await.json()["recent"].clone();
    let whats: Vec<&str> = recent.as_array().unwrap().iter().map(|a| a["what"].as_str().unwrap()).collect();
    assert!(whats.contains(&"Certified: Certified Router Associate"), "{whats:?}");
    assert!(whats.contains(&"Course completed: Edge Router basics"), "{whats:?}");

    // Every delivery to gamification made again: nothing counts twice.
    let awards = "SELECT COUNT(*) FROM plugin_records WHERE plugin_id = 'gamification' AND collection = 'awards'";
    assert_eq!(app.test_db.scalar(awards).await, 5);
    app.test_db
        .db
        .execute_raw(
            "UPDATE event_deliveries SET status = 'pending', next_attempt_at = 0, leased_until = 0 \
             WHERE plugin_id = 'gamification'",
        )
        .await
        .unwrap();
    let again = portico::plugins::jobs::deliver_due(&app.state, 100).await.unwrap();
    assert!(again >= 5, "{again} deliveries made again");
    assert_eq!(points(&app, &bob).await.2, 335);
    assert_eq!(app.test_db.scalar(awards).await, 5);
    let failed = "SELECT COUNT(*) FROM event_deliveries WHERE plugin_id = 'gamification' AND status <> 'done'";
    assert_eq!(app.test_db.scalar(failed).await, 0);

    // The daily cap on registrations is 20: the second deal of the day earns 10, the third and fourth nothing.
    for customer in ["Hooli", "Pied Piper", "Massive Dynamic"] {
        submit_deal(&app, &bob, customer).await;
    }
    deliver(&app).await;
    assert_eq!(points(&app, &bob).await.2, 345);
    let recent = get(&app, &bob, "/points").await.json()["recent"].clone();
    let capped = recent.as_array().unwrap().iter().filter(|a| a["capped"] == json!(true)).count();
    assert_eq!(capped, 2, "{recent}");
    // Capped registrations still count towards badges: four deals, the repeatable badge twice.
    let closer = badge(&app, &bob, "closer").await;
    assert_eq!((closer["earned"].clone(), closer["times"].clone()), (json!(true), json!(2)), "{closer}");
    assert!(notifications(&app, "bob@northwind.example").await.iter().any(|t| t == "Badge earned again: Closer (×2)"));
    // The next day the cap starts again.
    app.state.clock.advance(DAY);
    submit_deal(&app, &bob, "Soylent").await;
    deliver(&app).await;
    assert_eq!(points(&app, &bob).await.2, 355);
    // Vendor staff approved and earned nothing; they have no points to read.
    assert_eq!(get(&app, &manager, "/points").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn points_for_each_event_once_within_daily_caps_sqlite() {
    points_for_each_event_once_within_daily_caps(DbKind::Sqlite).await;
}

#[tokio::test]
async fn points_for_each_event_once_within_daily_caps_postgres() {
    points_for_each_event_once_within_daily_caps(DbKind::Postgres).await;
}

async fn the_partners_board_names_only_companies_that_opted_in(kind: DbKind) {
    let app = setup(kind).await;
    let (bob, carol) = (token(&app, "bob@northwind.example").await, token(&app, "carol@fabrikam.example").await);
    let northwind = app.demo_user("bob@northwind.example").await.org_id;
    submit_deal(&app, &bob, "Initech").await;
    submit_deal(&app, &carol, "Hooli").await;
    submit_deal(&app, &carol, "Pied Piper").await;
    deliver(&app).await;

    // Carol sees her company by name and Northwind as "a partner", by API and page, in every period.
    for period in ["month", "quarter", "all"] {
        let page = get(&app, &carol, &format!("/leaderboard?scope=partners&period={period}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let rows = page.json()["rows"].clone();
        assert_eq!(rows[0]["name"], "Fabrikam Systems", "{rows}");
        assert_eq!((rows[0]["points"].clone(), rows[0]["you"].clone()), (json!(20), json!(true)));
        assert_eq!((rows[1]["name"].clone(), rows[1]["points"].clone()), (json!("A partner"), json!(10)));
        assert!(!page.body.contains("Northwind") && !page.body.contains(&northwind), "{}", page.body);
        assert_eq!(page.json()["you"]["rank"], 1);
    }
    let mut web = app.client();
    web.login_ok("carol@fabrikam.example").await;
    let page = web.get("/p/gamification/leaderboard?scope=partners").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("A partner") && !page.body.contains("Northwind"), "{}", page.body);
    // Bob always recognises his own company.
    let rows = get(&app, &bob, "/leaderboard?scope=partners").await.json()["rows"].clone();
    assert_eq!((rows[1]["name"].clone(), rows[1]["you"].clone()), (json!("Northwind Solutions"), json!(true)));
    assert_eq!(rows[0]["name"], "A partner");

    // Only a partner admin decides: Bob may not; Alice opts in through the page.
    let page =
        call(&app, &bob, Method::POST, "/api/v1/p/gamification/company", Some(json!({ "opted_in": true }))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    let home = alice.get("/p/gamification/").await;
    assert!(home.body.contains("Show Northwind Solutions by name to other partners"), "{}", home.body);
    let page = alice.post("/p/gamification/company", &[("opted_in", "on")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = get(&app, &carol, "/leaderboard?scope=partners").await;
    assert_eq!(page.json()["rows"][1]["name"], "Northwind Solutions", "{}", page.body);
    assert!(web.get("/p/gamification/leaderboard?scope=partners").await.body.contains("Northwind Solutions"));
    // And opts out again.
    alice.post("/p/gamification/company", &[]).await;
    assert!(!get(&app, &carol, "/leaderboard?scope=partners").await.body.contains("Northwind"));

    // Staff see every company, marked whether partners see its name.
    let manager = token(&app, "manager@acme.example").await;
    let rows = get(&app, &manager, "/leaderboard?scope=partners&program=reseller").await.json()["rows"].clone();
    assert_eq!((rows[1]["name"].clone(), rows[1]["public"].clone()), (json!("Northwind Solutions"), json!(false)));

    // Where the vendor turns the board off, nobody reads it.
    set_settings(&app, "gamification", json!({ "cross_partner": false })).await;
    assert_eq!(get(&app, &carol, "/leaderboard?scope=partners").await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&app, &carol, "/leaderboard").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_partners_board_names_only_companies_that_opted_in_sqlite() {
    the_partners_board_names_only_companies_that_opted_in(DbKind::Sqlite).await;
}

#[tokio::test]
async fn the_partners_board_names_only_companies_that_opted_in_postgres() {
    the_partners_board_names_only_companies_that_opted_in(DbKind::Postgres).await;
}

#[tokio::test]
async fn partners_see_only_their_own_company_and_staff_see_each() {
    let app = setup(DbKind::Sqlite).await;
    let (bob, carol, manager) = (
        token(&app, "bob@northwind.example").await,
        token(&app, "carol@fabrikam.example").await,
        token(&app, "manager@acme.example").await,
    );
    let northwind = app.demo_user("bob@northwind.example").await.org_id;
    let bob_id = app.demo_user("bob@northwind.example").await.id;
    submit_deal(&app, &bob, "Initech").await;
    submit_deal(&app, &carol, "Hooli").await;
    deliver(&app).await;
    // Bonus points from staff, by email; a partner may not give them.
    let bonus = json!({ "email": "alice@northwind.example", "points": 40, "reason": "Hosted the partner webinar" });
    let page = call(&app, &manager, Method::POST, "/api/v1/p/gamification/bonus", Some(bonus.clone())).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let page = call(&app, &carol, Method::POST, "/api/v1/p/gamification/bonus", Some(bonus)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let alice = token(&app, "alice@northwind.example").await;
    assert_eq!(points(&app, &alice).await.2, 40);

    // Each company's board holds its own people only, ranked.
    let board = get(&app, &bob, "/leaderboard").await.json();
    let names: Vec<&str> = board["rows"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Alice Northwind", "Bob Northwind"], "{board}");
    assert_eq!((board["you"]["rank"].clone(), board["you"]["points"].clone()), (json!(2), json!(10)));
    let board = get(&app, &carol, "/leaderboard?period=all").await;
    assert!(board.body.contains("Carol Fabrikam") && !board.body.contains("Northwind"), "{}", board.body);

    // Another company's board or points are refused, by API and page.
    assert_eq!(get(&app, &carol, &format!("/leaderboard?org={northwind}")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&app, &carol, &format!("/points?user_id={bob_id}")).await.status, StatusCode::FORBIDDEN);
    let mut web = app.client();
    web.login_ok("carol@fabrikam.example").await;
    let page = web.get(&format!("/p/gamification/leaderboard?scope=company&org={northwind}")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.body.contains("Bob Northwind"));
    let home = web.get("/p/gamification/").await;
    assert!(home.body.contains("Carol Fabrikam") && !home.body.contains("Bob Northwind"), "{}", home.body);
    // Carol is a partner admin of a company that did not opt in: she is offered the choice.
    assert!(home.body.contains("Show Fabrikam Systems by name to other partners"));

    // Staff read any company's board, the rules, and the partner card.
    let page = get(&app, &manager, &format!("/leaderboard?scope=company&org={northwind}")).await;
    assert!(page.body.contains("Bob Northwind"), "{}", page.body);
    let rules = get(&app, &manager, "/rules").await.json();
    let won = rules["rules"].as_array().unwrap().iter().find(|r| r["rule"] == "deal_submitted").unwrap().clone();
    assert_eq!((won["points"].clone(), won["daily_cap"].clone()), (json!(10), json!(20)), "{rules}");
    assert_eq!(rules["problems"], json!([]));
    let mut staff = app.client();
    staff.login_ok("manager@acme.example").await;
    let card = staff.get(&format!("/admin/orgs/{northwind}")).await;
    assert!(card.body.contains("Points and badges") && card.body.contains("Bob Northwind"), "{}", card.body);
    let home = staff.get("/p/gamification/").await;
    assert!(home.body.contains("Northwind Solutions") && home.body.contains("Give bonus points"), "{}", home.body);

    // Bob's dashboard shows his points widget.
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let dash = web.get("/").await;
    assert!(
        dash.body.contains("My points and rank") && dash.body.contains("#2 in Northwind Solutions"),
        "{}",
        dash.body
    );
    let home = web.get("/p/gamification/").await;
    assert!(home.body.contains("First deal") && home.body.contains("gm-locked"), "{}", home.body);
    assert!(!home.body.contains("Show Northwind Solutions by name"), "only the partner admin decides");
}

#[tokio::test]
async fn daily_activity_earns_points_once_a_day() {
    let app = setup(DbKind::Sqlite).await;
    set_settings(&app, "gamification", json!({ "points": ["daily_active=2"], "daily_caps": ["daily_active=2"] })).await;
    let bob = token(&app, "bob@northwind.example").await;
    for _ in 0..3 {
        get(&app, &bob, "/badges").await;
    }
    deliver(&app).await;
    assert_eq!(points(&app, &bob).await.2, 2);
    app.state.clock.advance(DAY);
    get(&app, &bob, "/badges").await;
    deliver(&app).await;
    assert_eq!(points(&app, &bob).await.2, 4);
    // Daily points make no notice.
    assert!(!notifications(&app, "bob@northwind.example").await.iter().any(|t| t.contains("points")));
    // Vendor staff's activity earns nothing.
    let manager = token(&app, "manager@acme.example").await;
    get(&app, &manager, "/rules").await;
    deliver(&app).await;
    let scores = "SELECT COUNT(*) FROM plugin_records WHERE plugin_id = 'gamification' AND collection = 'scores' \
                  AND org_id IS NULL";
    assert_eq!(app.test_db.scalar(scores).await, 0);
}
