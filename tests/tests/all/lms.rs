//! Training and certification through the real host: authoring and versions, enrolment and prerequisites,
//! progress that resumes, quizzes and their retake policies, certificates, their expiry and reminders on the test
//! clock, the public verification, and partner isolation — on SQLite and PostgreSQL.

use portico_tests::{DbKind, Page, TestApp, lms, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

async fn setup(kind: DbKind) -> TestApp {
    let app = spawn_app(kind).await;
    app.install(&lms().package(None), &["reseller", "msp"]).await;
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
        self.app.client().api(method, &format!("/api/v1/p/lms{path}"), Some(&self.token), body).await
    }

    async fn get(&self, path: &str) -> Page {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Page {
        self.call(Method::POST, path, Some(body)).await
    }
}

fn quiz(retake: Value) -> Value {
    json!({ "kind": "quiz", "pass_percent": 50, "retake": retake, "questions": [
        { "id": "port", "prompt": "Which port does HTTPS use?", "kind": "single", "choices": [
            { "id": "a", "text": "80", "correct": false }, { "id": "b", "text": "443", "correct": true } ] },
        { "id": "igp", "prompt": "Which are interior gateway protocols?", "kind": "multiple", "choices": [
            { "id": "ospf", "text": "OSPF", "correct": true }, { "id": "isis", "text": "IS-IS", "correct": true },
            { "id": "bgp", "text": "BGP", "correct": false } ] },
    ] })
}

fn course(title: &str, retake: Value, certification: Value) -> Value {
    json!({
        "title": title, "summary": "Set up and **run** the router.", "tags": ["routing"], "minutes": 30,
        "certification": certification,
        "lessons": [
            { "id": "intro", "title": "Introduction", "content": { "kind": "text", "markdown": "# Welcome\n\n<script>alert(1)</script> Read this." } },
            { "id": "setup", "title": "Setup", "content": { "kind": "text", "markdown": "Plug it in." } },
            { "id": "check", "title": "Check yourself", "content": quiz(retake) },
        ],
    })
}

/// Creates and publishes a course as the vendor admin; returns its id.
async fn published(app: &TestApp, body: Value) -> String {
    let admin = as_user(app, "admin@acme.example").await;
    let page = admin.post("/courses", body).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let page = admin.post(&format!("/courses/{id}/publish"), json!({})).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    id
}

fn right() -> Value {
    json!({ "answers": { "port": ["b"], "igp": ["ospf", "isis"] } })
}

fn wrong() -> Value {
    json!({ "answers": { "port": ["a"], "igp": ["bgp"] } })
}

async fn notifications(app: &TestApp, email: &str) -> Vec<String> {
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let user = scope.user_by_email(email).await.unwrap().unwrap();
    scope.notifications(&user.id, 200).await.unwrap().into_iter().map(|n| n.title).collect()
}

async fn run_schedules(app: &TestApp) {
    portico::plugins::jobs::run_schedules(&app.state, app.state.clock.now_ms()).await.unwrap();
}

async fn a_learner_completes_a_course_and_is_certified(kind: DbKind) {
    let app = setup(kind).await;
    let cert = json!({ "name": "Certified Router Associate", "validity_months": 12, "window_days": 60 });
    let id = published(&app, course("Edge Router basics", json!({ "policy": "unlimited" }), cert)).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    assert_eq!(bob.post(&format!("/courses/{id}/enrol"), json!({})).await.status, StatusCode::OK);

    // Progress is kept per lesson and resumes at the first lesson not done.
    let page = bob.post(&format!("/courses/{id}/lessons/setup/complete"), json!({})).await;
    assert_eq!(page.json()["percent"], 33, "{}", page.body);
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let course_page = web.get(&format!("/p/lms/courses/{id}")).await;
    assert!(course_page.body.contains(&format!("/p/lms/courses/{id}/lessons/intro\">Resume")), "{}", course_page.body);
    // Markdown is rendered; the script in it is text, and the host's sanitiser keeps any from running.
    let lesson = web.get(&format!("/p/lms/courses/{id}/lessons/intro")).await;
    assert!(lesson.body.contains("<h1>Welcome</h1>") && !lesson.body.contains("<script>alert"), "{}", lesson.body);
    // The page's "Mark as done" moves on to the first lesson not done: the quiz, as setup is done already.
    let done = web.post(&format!("/p/lms/courses/{id}/lessons/intro"), &[]).await;
    assert_eq!(done.location(), Some(format!("/p/lms/courses/{id}/lessons/check").as_str()), "{}", done.body);
    let quiz_page = web.get(&format!("/p/lms/courses/{id}/lessons/check")).await;
    assert!(quiz_page.body.contains("Which port does HTTPS use?"), "{}", quiz_page.body);
    // A quiz lesson is done only when passed.
    let page = bob.post(&format!("/courses/{id}/lessons/check/complete"), json!({})).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);

    // The quiz: its questions without their answers; a failed attempt, then a passing one.
    let open = bob.get(&format!("/quizzes/{id}/check")).await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.body);
    assert!(!open.body.contains("correct"), "the answers are not given away: {}", open.body);
    let failed = bob.post(&format!("/quizzes/{id}/check/attempts"), wrong()).await.json();
    assert_eq!((failed["score"]["percent"].clone(), failed["score"]["passed"].clone()), (json!(0), json!(false)));
    let half = bob
        .post(&format!("/quizzes/{id}/check/attempts"), json!({ "answers": { "port": ["b"], "igp": ["ospf"] } }))
        .await
        .json();
    assert_eq!((half["score"]["percent"].clone(), half["score"]["passed"].clone()), (json!(50), json!(true)), "{half}");
    assert_eq!(half["enrolment"]["status"], "completed");

    // Certified: an event, a notification, and a code that verifies without signing in.
    let certs = bob.get("/certifications").await.json();
    let code = certs["certifications"][0]["code"].as_str().unwrap().to_string();
    assert_eq!(certs["certifications"][0]["standing"], "active");
    assert!(app.event_topics("lms").await.iter().any(|t| t == "lms.certification.earned"));
    assert!(app.event_topics("lms").await.iter().any(|t| t == "lms.course.completed"));
    assert!(
        notifications(&app, "bob@northwind.example").await.iter().any(|t| t == "Certified: Certified Router Associate")
    );
    let anyone = app.client();
    let v = anyone.api(Method::GET, &format!("/api/v1/p/lms/verify/{}", code.to_lowercase()), None, None).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    assert_eq!((v.json()["valid"].clone(), v.json()["holder"].clone()), (json!(true), json!("Bob Northwind")));
    let page = app.client().get(&format!("/p/lms/verify?code={code}")).await;
    assert!(page.body.contains("Valid.") && page.body.contains("Bob Northwind"), "{}", page.body);
    // The certificate as a PDF, made inside the plugin: its text names the holder, the certification and the
    // code (pdftotext), and it renders (pdftoppm; the image is left in the test's temporary directory to look at).
    let pdf_path = format!("/p/lms/certificates/{code}/pdf");
    let res = web.http.get(format!("{}{pdf_path}", web.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let pdf = res.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("certificate.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .args([file.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils; .ci/run installs it)");
    let text = String::from_utf8_lossy(&text.stdout);
    for want in
        ["Bob Northwind", "Certified Router Associate", "Northwind Solutions", code.as_str(), "/p/lms/verify?code="]
    {
        assert!(text.contains(want), "{want} in the PDF's text: {text}");
    }
    let png = std::process::Command::new("pdftoppm")
        .args([
            "-png",
            "-r",
            "40",
            "-singlefile",
            file.to_str().unwrap(),
            dir.path().join("certificate").to_str().unwrap(),
        ])
        .status()
        .expect("pdftoppm");
    assert!(png.success() && dir.path().join("certificate.png").exists());
    if let Ok(keep) = std::env::var("PORTICO_KEEP_CERTIFICATE") {
        std::fs::copy(&file, &keep).unwrap();
    }
    // Another partner's admin may not have it.
    let mut carol = app.client();
    carol.login_ok("carol@fabrikam.example").await;
    assert_eq!(carol.get(&pdf_path).await.status, StatusCode::NOT_FOUND);
    // A forged code says nothing about anyone.
    let forged = anyone.api(Method::GET, "/api/v1/p/lms/verify/7QF3-M9XT-R2BK-D4HN", None, None).await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
    assert!(!forged.body.contains("Bob"));
    let page = app.client().get("/p/lms/verify?code=7QF3-M9XT-R2BK-D4HN").await;
    assert!(page.body.contains("No certificate has this code"), "{}", page.body);

    // Expiry on the clock: reminders at 60 and 7 days before, once each; then expired, and the code no longer
    // verifies. Taking the course again renews it with a new code.
    let reminders = |t: Vec<String>| t.iter().filter(|t| t.starts_with("Renew your certification")).count();
    app.state.clock.advance(300 * DAY);
    run_schedules(&app).await;
    assert_eq!(reminders(notifications(&app, "bob@northwind.example").await), 0);
    app.state.clock.advance(6 * DAY);
    run_schedules(&app).await;
    run_schedules(&app).await;
    assert_eq!(reminders(notifications(&app, "bob@northwind.example").await), 1);
    assert_eq!(bob.get("/certifications").await.json()["certifications"][0]["standing"], "expiring");
    app.state.clock.advance(54 * DAY);
    run_schedules(&app).await;
    assert_eq!(reminders(notifications(&app, "bob@northwind.example").await), 2);
    app.state.clock.advance(8 * DAY);
    run_schedules(&app).await;
    assert!(app.event_topics("lms").await.iter().any(|t| t == "lms.certification.expired"));
    let v = anyone.api(Method::GET, &format!("/api/v1/p/lms/verify/{code}"), None, None).await.json();
    assert_eq!((v["valid"].clone(), v["standing"].clone()), (json!(false), json!("expired")), "{v}");
    let renewed = bob.post(&format!("/courses/{id}/enrol"), json!({})).await.json();
    assert_eq!(
        (renewed["status"].clone(), renewed["percent"].clone(), renewed["cycle"].clone()),
        (json!("in_progress"), json!(0), json!(1))
    );
    for l in ["intro", "setup"] {
        bob.post(&format!("/courses/{id}/lessons/{l}/complete"), json!({})).await;
    }
    bob.post(&format!("/quizzes/{id}/check/attempts"), right()).await;
    let certs = bob.get("/certifications").await.json()["certifications"].clone();
    assert_eq!(certs.as_array().unwrap().len(), 2);
    assert_ne!(certs[0]["code"], json!(code));
    assert_eq!((certs[0]["standing"].clone(), certs[1]["renewed"].clone()), (json!("active"), json!(true)));
}

#[tokio::test]
async fn a_learner_completes_a_course_and_is_certified_sqlite() {
    a_learner_completes_a_course_and_is_certified(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_learner_completes_a_course_and_is_certified_postgres() {
    a_learner_completes_a_course_and_is_certified(DbKind::Postgres).await;
}

#[tokio::test]
async fn each_retake_policy_is_kept() {
    let app = setup(DbKind::Sqlite).await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let attempt = |id: String| {
        let bob = &bob;
        async move { bob.post(&format!("/quizzes/{id}/check/attempts"), wrong()).await }
    };
    let two = published(&app, course("Two tries", json!({ "policy": "attempts", "max": 2 }), Value::Null)).await;
    bob.post(&format!("/courses/{two}/enrol"), json!({})).await;
    assert_eq!(attempt(two.clone()).await.status, StatusCode::OK);
    assert_eq!(attempt(two.clone()).await.status, StatusCode::OK);
    let third = attempt(two.clone()).await;
    assert_eq!(third.status, StatusCode::CONFLICT);
    assert!(third.body.contains("you have used all 2 attempts"), "{}", third.body);

    let cool = published(&app, course("Cool down", json!({ "policy": "cooldown", "hours": 24 }), Value::Null)).await;
    bob.post(&format!("/courses/{cool}/enrol"), json!({})).await;
    assert_eq!(attempt(cool.clone()).await.status, StatusCode::OK);
    let early = attempt(cool.clone()).await;
    assert!(early.body.contains("24 hours after your last attempt"), "{}", early.body);
    app.state.clock.advance(24 * HOUR);
    assert_eq!(attempt(cool.clone()).await.status, StatusCode::OK);

    let free = published(&app, course("As often as you like", json!({ "policy": "unlimited" }), Value::Null)).await;
    bob.post(&format!("/courses/{free}/enrol"), json!({})).await;
    for _ in 0..5 {
        assert_eq!(attempt(free.clone()).await.status, StatusCode::OK);
    }
    // Passed, a quiz is not taken again.
    bob.post(&format!("/quizzes/{free}/check/attempts"), right()).await;
    assert_eq!(attempt(free.clone()).await.status, StatusCode::CONFLICT);
    // The page says why, too.
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let page = web.get(&format!("/p/lms/courses/{two}/lessons/check")).await;
    assert!(page.body.contains("you have used all 2 attempts"), "{}", page.body);
}

#[tokio::test]
async fn prerequisites_drafts_and_versions() {
    let app = setup(DbKind::Sqlite).await;
    let admin = as_user(&app, "admin@acme.example").await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let basics = published(&app, course("Basics", json!({ "policy": "unlimited" }), Value::Null)).await;
    let mut advanced = course("Advanced", json!({ "policy": "unlimited" }), Value::Null);
    advanced["prerequisites"] = json!([basics]);
    let advanced = published(&app, advanced).await;
    // A path: basics, advanced, expert; expert needs both before it.
    let expert = published(&app, course("Expert", json!({ "policy": "unlimited" }), Value::Null)).await;
    let path = admin.post("/paths", json!({ "title": "Routing", "courses": [basics, advanced, expert] })).await;
    assert_eq!(path.status, StatusCode::CREATED, "{}", path.body);
    let refused = bob.post(&format!("/courses/{advanced}/enrol"), json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("complete Basics first"), "{}", refused.body);
    let paths = bob.get("/paths").await.body;
    assert!(paths.contains(&expert), "{paths}");
    let refused = bob.post(&format!("/courses/{expert}/enrol"), json!({})).await;
    assert!(refused.body.contains("complete Basics, Advanced first"), "{}", refused.body);
    bob.post(&format!("/courses/{basics}/enrol"), json!({})).await;
    for l in ["intro", "setup"] {
        bob.post(&format!("/courses/{basics}/lessons/{l}/complete"), json!({})).await;
    }
    bob.post(&format!("/quizzes/{basics}/check/attempts"), right()).await;
    assert_eq!(bob.post(&format!("/courses/{advanced}/enrol"), json!({})).await.status, StatusCode::OK);

    // A draft is invisible to partners, as if it did not exist.
    let draft =
        admin.post("/courses", course("Secret roadmap", json!({ "policy": "unlimited" }), Value::Null)).await.json();
    let draft_id = draft["id"].as_str().unwrap();
    assert_eq!(bob.get(&format!("/courses/{draft_id}")).await.status, StatusCode::NOT_FOUND);
    let listed = bob.get("/courses").await.body;
    assert!(listed.contains("Advanced") && !listed.contains("Secret roadmap"), "{listed}");
    assert!(!bob.get("/courses?q=roadmap").await.body.contains("Secret roadmap"));
    assert!(admin.get("/courses?q=roadmap").await.body.contains("Secret roadmap"));
    // Publishing is refused, at the field, while the draft is not ready.
    let mut broken = course("Broken", json!({ "policy": "attempts", "max": 0 }), json!({ "name": "" }));
    broken["lessons"][2]["content"]["questions"][0]["choices"][0]["correct"] = json!(true);
    let b = admin.post("/courses", broken).await.json();
    let page = admin.post(&format!("/courses/{}/publish", b["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = page.json()["error"]["fields"].to_string();
    for f in ["lessons.2.retake", "lessons.2.questions.0.choices", "certification.name"] {
        assert!(fields.contains(f), "{f} in {fields}");
    }

    // Edited mid-way: Bob, in progress on version 1, finishes version 1; Carol, enrolling now, takes version 2.
    let mut v2 = course("Advanced", json!({ "policy": "unlimited" }), Value::Null);
    v2["prerequisites"] = json!([basics]);
    v2["lessons"]
        .as_array_mut()
        .unwrap()
        .insert(2, json!({ "id": "bgp", "title": "BGP", "content": { "kind": "text", "markdown": "New." } }));
    assert_eq!(admin.call(Method::PUT, &format!("/courses/{advanced}"), Some(v2)).await.status, StatusCode::OK);
    bob.post(&format!("/courses/{advanced}/lessons/intro/complete"), json!({})).await;
    assert!(
        !bob.get(&format!("/courses/{advanced}")).await.body.contains("\"bgp\""),
        "unpublished edits are not shown"
    );
    assert_eq!(admin.post(&format!("/courses/{advanced}/publish"), json!({})).await.json()["version"], 2);
    let e = bob.post(&format!("/courses/{advanced}/lessons/setup/complete"), json!({})).await.json();
    assert_eq!((e["version"].clone(), e["percent"].clone()), (json!(1), json!(66)), "{e}");
    assert_eq!(
        bob.post(&format!("/courses/{advanced}/lessons/bgp/complete"), json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let done = bob.post(&format!("/quizzes/{advanced}/check/attempts"), right()).await.json();
    assert_eq!(done["enrolment"]["status"], "completed", "version 1 completed without the new lesson");
    let carol = as_user(&app, "carol@fabrikam.example").await;
    carol.post(&format!("/courses/{basics}/enrol"), json!({})).await;
    for l in ["intro", "setup"] {
        carol.post(&format!("/courses/{basics}/lessons/{l}/complete"), json!({})).await;
    }
    carol.post(&format!("/quizzes/{basics}/check/attempts"), right()).await;
    let e = carol.post(&format!("/courses/{advanced}/enrol"), json!({})).await.json();
    assert_eq!(e["version"], 2, "{e}");
    let e = carol.post(&format!("/courses/{advanced}/lessons/bgp/complete"), json!({})).await.json();
    assert_eq!(e["percent"], 25, "{e}");
}

#[tokio::test]
async fn partners_see_only_their_own_learners() {
    let app = setup(DbKind::Sqlite).await;
    let id = published(
        &app,
        course("Basics", json!({ "policy": "unlimited" }), json!({ "name": "Basics certified", "window_days": 30 })),
    )
    .await;
    let bob = as_user(&app, "bob@northwind.example").await;
    let alice = as_user(&app, "alice@northwind.example").await;
    let carol = as_user(&app, "carol@fabrikam.example").await;
    let manager = as_user(&app, "manager@acme.example").await;
    for who in [&bob, &carol] {
        who.post(&format!("/courses/{id}/enrol"), json!({})).await;
        for l in ["intro", "setup"] {
            who.post(&format!("/courses/{id}/lessons/{l}/complete"), json!({})).await;
        }
        who.post(&format!("/quizzes/{id}/check/attempts"), right()).await;
    }
    // Alice (Northwind's admin) sees Bob, not Carol, by API and page; Bob sees only himself; the vendor sees both.
    let team = alice.get("/enrolments?team=1").await.body;
    assert!(team.contains("Bob Northwind") && !team.contains("Carol"), "{team}");
    let certs = alice.get("/certifications?team=1").await.body;
    assert!(certs.contains("Bob Northwind") && !certs.contains("Carol"), "{certs}");
    assert_eq!(bob.get("/enrolments?team=1").await.status, StatusCode::FORBIDDEN);
    let mine = bob.get("/enrolments").await.body;
    assert!(mine.contains("Bob Northwind") && !mine.contains("Carol"));
    let all = manager.get("/enrolments?team=1").await.body;
    assert!(all.contains("Bob Northwind") && all.contains("Carol Fabrikam"), "{all}");
    let mut web = app.client();
    web.login_ok("alice@northwind.example").await;
    let page = web.get("/p/lms/team").await.body;
    assert!(page.contains("Bob Northwind") && !page.contains("Carol"), "{page}");
    let catalogue = web.get("/p/lms/").await.body;
    assert!(catalogue.contains("Basics") && !catalogue.contains("Completed"), "{catalogue}");
    let found = web.get("/p/lms/?q=router&tag=").await.body;
    assert!(found.contains("Basics"), "found by the text of its lessons: {found}");
    // Carol's certificate page is not Alice's to open.
    let carol_code =
        carol.get("/certifications").await.json()["certifications"][0]["code"].as_str().unwrap().to_string();
    assert_eq!(web.get(&format!("/p/lms/certificates/{carol_code}")).await.status, StatusCode::NOT_FOUND);
    // Alice may not assign training to Carol, who is not hers.
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let carol_user = scope.user_by_email("carol@fabrikam.example").await.unwrap().unwrap();
    let refused = alice
        .post("/assignments", json!({ "course_id": id, "user_id": carol_user.id, "due_date": "2099-01-31" }))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("choose a user of your organisation"));
    // The partner card on Fabrikam's page counts Fabrikam's own.
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let org_page = admin.get(&format!("/admin/orgs/{}", carol_user.org_id)).await.body;
    let card = &org_page[org_page.find("Courses completed").expect("the training card")..];
    assert!(card.contains("<dd>1</dd>"), "{card}");
}

#[tokio::test]
async fn assignments_come_with_a_due_date_and_an_overdue_reminder() {
    let app = setup(DbKind::Sqlite).await;
    let id = published(&app, course("Onboarding", json!({ "policy": "unlimited" }), Value::Null)).await;
    let alice = as_user(&app, "alice@northwind.example").await;
    let tenant = app.tenant_id("acme").await;
    let bob_id = app.state.db.tenant(&tenant).user_by_email("bob@northwind.example").await.unwrap().unwrap().id;
    let now = app.state.clock.now_ms();
    let due = chrono::DateTime::from_timestamp_millis(now + 10 * DAY).unwrap().format("%Y-%m-%d").to_string();
    let bad = alice.post("/assignments", json!({ "course_id": id, "user_id": bob_id, "due_date": "31/01/2027" })).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["error"]["field"], "due_date");
    let page = alice.post("/assignments", json!({ "course_id": id, "user_id": bob_id, "due_date": due })).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert!(notifications(&app, "bob@northwind.example").await.iter().any(|t| t == "Training assigned: Onboarding"));
    let overdue = |t: Vec<String>| t.iter().filter(|t| t.starts_with("Training overdue")).count();
    app.state.clock.advance(10 * DAY);
    run_schedules(&app).await;
    assert_eq!(overdue(notifications(&app, "bob@northwind.example").await), 0);
    app.state.clock.advance(DAY);
    run_schedules(&app).await;
    run_schedules(&app).await;
    assert_eq!(overdue(notifications(&app, "bob@northwind.example").await), 1, "once");
    let bob = as_user(&app, "bob@northwind.example").await;
    assert_eq!(bob.get("/enrolments").await.json()["enrolments"][0]["overdue"], true);
}

#[tokio::test]
async fn the_catalogue_pages_through_many_courses_and_filters_by_topic() {
    let app = setup(DbKind::Sqlite).await;
    for i in 0..56 {
        let mut c = course(&format!("Course {i:02}"), json!({ "policy": "unlimited" }), Value::Null);
        c["tags"] = json!([if i % 8 == 0 { "security" } else { "routing" }]);
        published(&app, c).await;
    }
    let bob = as_user(&app, "bob@northwind.example").await;
    let first = bob.get("/courses").await.json();
    assert_eq!(first["courses"].as_array().unwrap().len(), 50);
    assert_eq!(first["courses"][0]["title"], "Course 55", "newest first");
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = bob.get(&format!("/courses?cursor={cursor}")).await.json();
    assert_eq!((second["courses"].as_array().unwrap().len(), second["next_cursor"].clone()), (6, Value::Null));
    let security = bob.get("/courses?tag=security").await.json();
    assert_eq!(security["courses"].as_array().unwrap().len(), 7, "{security}");
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let page = web.get("/p/lms/").await.body;
    assert!(page.contains("More courses") && page.contains(r#"<option value="security">security</option>"#), "{page}");
}

#[tokio::test]
async fn the_vendor_reports_completion_by_course_partner_and_program_partners_cannot() {
    let app = setup(DbKind::Sqlite).await;
    let id = published(&app, course("Basics", json!({ "policy": "unlimited" }), Value::Null)).await;
    let other = published(&app, course("Other", json!({ "policy": "unlimited" }), Value::Null)).await;
    for (who, finish) in
        [("bob@northwind.example", true), ("alice@northwind.example", false), ("carol@fabrikam.example", true)]
    {
        let u = as_user(&app, who).await;
        u.post(&format!("/courses/{id}/enrol"), json!({})).await;
        if finish {
            for l in ["intro", "setup"] {
                u.post(&format!("/courses/{id}/lessons/{l}/complete"), json!({})).await;
            }
            u.post(&format!("/quizzes/{id}/check/attempts"), right()).await;
        }
    }
    let mut admin = app.client();
    admin.login_ok("manager@acme.example").await;
    let page = admin.get("/p/lms/reports").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Completion rate by course"), "a chart: {}", page.body);
    // Hand-counted: Basics 3 enrolled, 2 completed (66 %); Northwind 2 and 1 (50 %); Fabrikam 1 and 1.
    let res = admin.http.get(format!("{}/p/lms/reports.csv", admin.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with("scope,id,name,enrolled,completed,completion_rate_percent\n"), "{csv}");
    assert!(csv.contains(&format!("course,{id},Basics,3,2,66\n")), "{csv}");
    assert!(csv.contains(&format!("course,{other},Other,0,0,0\n")), "{csv}");
    assert!(csv.contains(",Northwind Solutions,2,1,50\n") && csv.contains(",Fabrikam Systems,1,1,100\n"), "{csv}");
    assert!(csv.contains("program,reseller,"), "{csv}");
    // Partners have no report, by page or CSV.
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    assert_eq!(alice.get("/p/lms/reports").await.status, StatusCode::FORBIDDEN);
    assert_eq!(alice.get("/p/lms/reports.csv").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn courses_required_for_a_role_or_a_tier_show_where_they_apply() {
    let app = setup(DbKind::Sqlite).await;
    let mut users = course("For every partner user", json!({ "policy": "unlimited" }), Value::Null);
    users["required_for"] = json!(["role:partner_user"]);
    let users = published(&app, users).await;
    let mut gold = course("For gold partners", json!({ "policy": "unlimited" }), Value::Null);
    gold["required_for"] = json!(["tier:gold"]);
    let gold = published(&app, gold).await;
    published(&app, course("Optional", json!({ "policy": "unlimited" }), Value::Null)).await;
    // A requirement the program does not know is refused at its field.
    let admin = as_user(&app, "admin@acme.example").await;
    let mut bad = course("Bad", json!({ "policy": "unlimited" }), Value::Null);
    bad["required_for"] = json!(["tier:platinum"]);
    let b = admin.post("/courses", bad).await.json();
    let page = admin.post(&format!("/courses/{}/publish", b["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.json()["error"]["fields"][0]["field"], "required_for");

    // Bob is a partner user at Northwind (gold in reseller): both. Alice, its admin: the gold one. Carol, an admin
    // at Fabrikam (registered): none.
    let ids = |v: Value| -> Vec<String> {
        v["required"].as_array().unwrap().iter().map(|r| r["course_id"].as_str().unwrap().to_string()).collect()
    };
    let bob = as_user(&app, "bob@northwind.example").await;
    let mut want = vec![users.clone(), gold.clone()];
    want.sort();
    assert_eq!(ids(bob.get("/requirements").await.json()), want);
    assert_eq!(
        ids(as_user(&app, "alice@northwind.example").await.get("/requirements").await.json()),
        vec![gold.clone()]
    );
    assert!(ids(as_user(&app, "carol@fabrikam.example").await.get("/requirements").await.json()).is_empty());
    // "My learning" shows them with how far Bob is.
    bob.post(&format!("/courses/{gold}/enrol"), json!({})).await;
    bob.post(&format!("/courses/{gold}/lessons/intro/complete"), json!({})).await;
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let page = web.get("/p/lms/my").await.body;
    assert!(page.contains("Required for you") && page.contains("33 % done") && page.contains("not started"), "{page}");
}

/// A zip of `files` (path, content), as an authoring tool would export it.
fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file(*name, deflated).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const SCORM_MANIFEST: &str = r#"<?xml version="1.0"?>
<manifest identifier="fw" version="1.0" xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
  xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="o"><organization identifier="o"><title>Firewall basics</title>
    <item identifier="i" identifierref="r"><title>Firewall basics</title></item></organization></organizations>
  <resources><resource identifier="r" type="webcontent" adlcp:scormtype="sco" href="sco/index.html">
    <file href="sco/index.html"/><file href="sco/sco.js"/></resource></resources>
</manifest>"#;

/// A SCORM 1.2 package whose page loads its own script by a relative path.
fn scorm_package() -> Vec<u8> {
    zip_of(&[
        ("imsmanifest.xml", SCORM_MANIFEST),
        (
            "sco/index.html",
            "<!doctype html><html><head><title>FW</title><script src=\"sco.js\"></script></head><body><p id=\"q\">Ready</p></body></html>",
        ),
        (
            "sco/sco.js",
            "var api = window.API; api.LMSInitialize(''); api.LMSSetValue('cmi.core.lesson_status', 'passed');",
        ),
    ])
}

async fn import(app: &TestApp, token: &str, kind: &str, files: Vec<(&str, Vec<u8>)>) -> Page {
    let mut form = reqwest::multipart::Form::new().text("kind", kind.to_string());
    for (name, bytes) in files {
        form = form.part("files", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()));
    }
    app.client().api_multipart("/api/v1/p/lms/imports", token, form).await
}

#[tokio::test]
async fn a_scorm_package_is_unpacked_served_by_path_and_its_commits_count() {
    let app = setup(DbKind::Sqlite).await;
    let admin = as_user(&app, "admin@acme.example").await;
    let trees = || app.blob_files("/plugins/lms/trees/").len();

    // Unsafe or unusable packages are refused whole, saying why, and leave nothing behind.
    let evil = zip_of(&[("imsmanifest.xml", SCORM_MANIFEST), ("../../etc/cron.d/x", "boom")]);
    let page = import(&app, &admin.token, "scorm", vec![("evil.zip", evil)]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("unsafe path"), "{}", page.body);
    let bare = zip_of(&[("sco/index.html", "<p>no manifest</p>")]);
    let page = import(&app, &admin.token, "scorm", vec![("bare.zip", bare)]).await;
    assert!(page.body.contains("no imsmanifest.xml"), "{}", page.body);
    let v2004 = zip_of(&[("imsmanifest.xml", &SCORM_MANIFEST.replace(">1.2<", ">2004 4th Edition<"))]);
    let page = import(&app, &admin.token, "scorm", vec![("new.zip", v2004)]).await;
    assert!(page.body.contains("SCORM 2004"), "{}", page.body);
    assert_eq!(trees(), 0, "refused packages keep no files");
    // Partners import nothing.
    let bob = as_user(&app, "bob@northwind.example").await;
    assert_eq!(import(&app, &bob.token, "scorm", vec![("p.zip", scorm_package())]).await.status, StatusCode::FORBIDDEN);

    // A real package becomes a draft course of one SCORM lesson.
    portico::plugins::jobs::sweep_orphan_blobs(&app.state, 0).await.unwrap();
    let page = import(&app, &admin.token, "scorm", vec![("firewall.zip", scorm_package())]).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    assert_eq!(page.json()["title"], "Firewall basics");
    assert_eq!(trees(), 3);
    // The orphan sweeper knows a tree's files by their tree's row: kept; a tree file without one is swept.
    let orphan = format!("tenants/{}/plugins/lms/trees/gone/x.js", app.tenant_id("acme").await);
    app.state.blobs.put(&orphan, vec![1; 10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(portico::plugins::jobs::sweep_orphan_blobs(&app.state, 0).await.unwrap(), 1);
    assert_eq!(trees(), 3);
    assert_eq!(admin.post(&format!("/courses/{id}/publish"), json!({})).await.status, StatusCode::OK);
    assert_eq!(admin.get(&format!("/courses/{id}")).await.json()["lessons"][0]["kind"], "scorm");

    // Launching: the page's HTML and the address its relative URLs resolve against.
    let launch = format!("/scorm/{id}/sco");
    assert_eq!(bob.get(&launch).await.status, StatusCode::CONFLICT, "not enrolled yet");
    bob.post(&format!("/courses/{id}/enrol"), json!({})).await;
    let l = bob.get(&launch).await.json();
    assert!(l["html"].as_str().unwrap().contains("<script src=\"sco.js\">"), "{l}");
    assert_eq!(l["values"]["cmi.core.entry"], "ab-initio");
    assert_eq!((l["values"]["cmi.core.student_name"].as_str(), l["seq"].as_u64()), (Some("Bob Northwind"), Some(0)));
    let base = l["base"].as_str().unwrap().to_string();
    assert!(base.starts_with("/files/tree/") && base.ends_with("/sco/"), "{base}");
    // The package's files load without a session (the frame has none), typed by name, sandboxed.
    let mut anon = app.client();
    let js = anon.get(&format!("{base}sco.js")).await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert!(js.headers["content-security-policy"].to_str().unwrap().starts_with("sandbox allow-scripts"));
    let part =
        app.client().http.get(format!("{}{base}sco.js", anon.base)).header("range", "bytes=0-8").send().await.unwrap();
    assert_eq!((part.status(), part.text().await.unwrap()), (StatusCode::PARTIAL_CONTENT, "var api =".to_string()));
    // Nothing outside the tree, and no forged ticket.
    for escape in ["..%2F..%2Fsecret", "%2e%2e%2f%2e%2e%2fsecret", "..%5C..%5Csecret", "%2Fetc%2Fpasswd"] {
        assert_eq!(anon.get(&format!("{base}{escape}")).await.status, StatusCode::NOT_FOUND, "{escape}");
    }
    // A `..` the browser resolves stays inside the tree (the package's own manifest, one level up).
    assert_eq!(anon.get(&format!("{base}%2e%2e/imsmanifest.xml")).await.status, StatusCode::OK);
    let forged = base.replacen("/files/tree/", "/files/tree/x", 1);
    assert_eq!(anon.get(&format!("{forged}sco.js")).await.status, StatusCode::NOT_FOUND);
    // A tree's ticket is no file link, and another tenant's host does not serve it.
    let as_file = base.trim_end_matches("sco/").replacen("/files/tree/", "/files/", 1);
    assert_eq!(anon.get(&format!("{as_file}x")).await.status, StatusCode::NOT_FOUND);

    // Commits: checked against SCORM 1.2, applied in order; a suspended session resumes.
    let commit = |seq: u64, values: Value, finish: bool| {
        let bob = &bob;
        let path = format!("{launch}/commit");
        async move { bob.post(&path, json!({ "seq": seq, "values": values, "finish": finish })).await }
    };
    let c = commit(1, json!({ "cmi.core.lesson_status": "incomplete", "cmi.suspend_data": "page=3" }), false).await;
    assert_eq!((c.status, c.json()["applied"].as_bool()), (StatusCode::OK, Some(true)), "{}", c.body);
    let bad = commit(2, json!({ "cmi.core.lesson_status": "done" }), false).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("cmi.core.lesson_status cannot be"), "{}", bad.body);
    let stale = commit(1, json!({ "cmi.core.lesson_status": "failed" }), false).await;
    assert_eq!(stale.json()["applied"], false);
    let fin = commit(2, json!({ "cmi.core.exit": "suspend", "cmi.core.session_time": "0000:05:00" }), true).await;
    assert_eq!(fin.json()["done"], false, "{}", fin.body);
    let l = bob.get(&launch).await.json();
    assert_eq!(
        (l["values"]["cmi.core.entry"].as_str(), l["values"]["cmi.suspend_data"].as_str()),
        (Some("resume"), Some("page=3"))
    );
    assert_eq!((l["values"]["cmi.core.total_time"].as_str(), l["seq"].as_u64()), (Some("0000:05:00.00"), Some(2)));
    // "Mark as done" does not apply: the package says when it is done.
    assert_eq!(bob.post(&format!("/courses/{id}/lessons/sco/complete"), json!({})).await.status, StatusCode::CONFLICT);
    let pass = commit(3, json!({ "cmi.core.lesson_status": "passed", "cmi.core.score.raw": "80" }), false).await;
    assert_eq!((pass.json()["done"].as_bool(), pass.json()["score"].as_u64()), (Some(true), Some(80)), "{}", pass.body);
    assert_eq!(pass.json()["course_completed"], true);
    // The finishing commit after completion changes nothing and is no error.
    assert_eq!(commit(4, json!({ "cmi.core.session_time": "0000:01:00" }), true).await.status, StatusCode::OK);
    let mine = bob.get("/enrolments").await.json();
    assert_eq!(mine["enrolments"][0]["status"], "completed", "{mine}");
    assert!(app.event_topics("lms").await.contains(&"lms.course.completed".to_string()));

    // The lesson page holds the player frame; another partner's learner has no state of Bob's to launch.
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let page = web.get(&format!("/p/lms/courses/{id}/lessons/sco")).await;
    assert!(
        page.body.contains(&format!("data-pt-frame=\"/plugin-frame/lms/scorm.html?course={id}&amp;lesson=sco\"")),
        "{}",
        page.body
    );
    let frame = web.get("/plugin-frame/lms/scorm.html").await;
    assert_eq!(frame.status, StatusCode::OK);
    let carol = as_user(&app, "carol@fabrikam.example").await;
    assert_eq!(carol.get(&launch).await.status, StatusCode::CONFLICT);
}

/// The first bytes of an MP4 file (an `ftyp` box), padded.
fn mp4(len: usize) -> Vec<u8> {
    let mut v = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    v.resize(len, 7);
    v
}

#[tokio::test]
async fn uploaded_videos_stream_with_seeking_and_files_download() {
    let app = setup(DbKind::Sqlite).await;
    let admin = as_user(&app, "admin@acme.example").await;
    let media = |token: String, name: &'static str, bytes: Vec<u8>| {
        let c = app.client();
        async move {
            let form =
                reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
            let res = c
                .http
                .post(format!("{}/api/v1/p/lms/media", c.base))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, video) = media(admin.token.clone(), "wizard.mp4", mp4(200_000)).await;
    assert_eq!(status, StatusCode::CREATED, "{video}");
    assert_eq!(video["files"][0]["content_type"], "video/mp4");
    let video = video["files"][0]["key"].as_str().unwrap().to_string();
    let sheet = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
    let (_, file) = media(admin.token.clone(), "datasheet.pdf", sheet).await;
    let file = file["files"][0]["key"].as_str().unwrap().to_string();
    // Types are judged by content; partners upload nothing.
    let (status, _) = media(admin.token.clone(), "movie.mp4", b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let bob = as_user(&app, "bob@northwind.example").await;
    assert_eq!(media(bob.token.clone(), "x.mp4", mp4(100)).await.0, StatusCode::FORBIDDEN);

    // A lesson naming a file that is not the plugin's is not published.
    let mut body = json!({ "title": "Wizard walkthrough", "lessons": [
        { "id": "watch", "title": "Watch", "content": { "kind": "video", "blob": "tenants/x/plugins/lms/uploads/nope" } } ] });
    let draft = admin.post("/courses", body.clone()).await.json();
    let did = draft["id"].as_str().unwrap();
    let page = admin.post(&format!("/courses/{did}/publish"), json!({})).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert_eq!(page.json()["error"]["fields"][0]["field"], "lessons.0");
    body["lessons"] = json!([
        { "id": "watch", "title": "Watch", "content": { "kind": "video", "blob": video } },
        { "id": "sheet", "title": "Datasheet", "content": { "kind": "file", "blob": file } },
    ]);
    let id = published(&app, body).await;
    bob.post(&format!("/courses/{id}/enrol"), json!({})).await;

    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let page = web.get(&format!("/p/lms/courses/{id}/lessons/watch")).await;
    let src = regex::Regex::new(r#"<video[^>]* src="(/files/[^"]+)""#).unwrap();
    let src = src.captures(&page.body).unwrap_or_else(|| panic!("{}", page.body))[1].replace("&amp;", "&");
    // Seeking: a range of the video, as a player asks for it.
    let res = web.http.get(format!("{}{src}", web.base)).header("range", "bytes=100000-100009").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()["content-range"], "bytes 100000-100009/200000");
    assert_eq!(res.headers()["content-type"], "video/mp4");
    // The link is Bob's: not another user's, not anyone's.
    assert_eq!(app.client().get(&src).await.status, StatusCode::SEE_OTHER, "to the sign-in");
    let mut carol = app.client();
    carol.login_ok("carol@fabrikam.example").await;
    assert_eq!(carol.get(&src).await.status, StatusCode::NOT_FOUND);
    let page = web.get(&format!("/p/lms/courses/{id}/lessons/sheet")).await;
    let href = regex::Regex::new(r#"href="(/files/[^"]+)""#).unwrap();
    let href = href.captures(&page.body).unwrap_or_else(|| panic!("{}", page.body))[1].replace("&amp;", "&");
    let dl = web.get(&href).await;
    assert_eq!(dl.status, StatusCode::OK);
    assert!(dl.headers["content-disposition"].to_str().unwrap().starts_with("attachment"), "{:?}", dl.headers);
    assert!(page.body.contains("datasheet.pdf"));
}

#[tokio::test]
async fn a_folder_of_markdown_files_becomes_a_course() {
    let app = setup(DbKind::Sqlite).await;
    let admin = as_user(&app, "admin@acme.example").await;
    let folder = vec![
        ("course.md", b"---\ntitle: Switching essentials\ntags: [switching]\nminutes: 20\n---\nVLANs, trunks and spanning tree.".to_vec()),
        ("02-trunks.md", b"# Trunks\n\nCarry many VLANs on one link.".to_vec()),
        ("01-vlans.md", b"---\ntitle: What a VLAN is\n---\nOne switch, many networks.".to_vec()),
        ("03-check.md", b"---\nkind: quiz\ntitle: Check\nquestions:\n  - prompt: Which protocol prevents loops?\n    choices:\n      - text: STP\n        correct: true\n      - text: ARP\n---\n".to_vec()),
    ];
    let page = import(&app, &admin.token, "markdown", folder.clone()).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let c = admin.get(&format!("/courses/{id}")).await.json();
    assert_eq!(c["title"], "Switching essentials");
    assert_eq!(admin.post(&format!("/courses/{id}/publish"), json!({})).await.status, StatusCode::OK);
    let lessons = admin.get(&format!("/courses/{id}")).await.json()["lessons"].clone();
    let got: Vec<(String, String)> = lessons
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["title"].as_str().unwrap().to_string(), l["kind"].as_str().unwrap().to_string()))
        .collect();
    let want = [("What a VLAN is", "text"), ("Trunks", "text"), ("Check", "quiz")];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));

    // The same folder zipped (as a folder inside the zip) gives the same course.
    let texts: Vec<(String, String)> =
        folder.iter().map(|(n, b)| (format!("switching/{n}"), String::from_utf8(b.clone()).unwrap())).collect();
    let pairs: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let page = import(&app, &admin.token, "markdown", vec![("switching.zip", zip_of(&pairs))]).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert_eq!(app.blob_files("/plugins/lms/trees/").len(), 0, "the zip's text is all that is kept");

    // Problems are named at their file; nothing is created.
    let before = admin.get("/courses").await.json()["courses"].as_array().unwrap().len();
    let bad = vec![
        ("course.md", b"---\ntitle: T\ncolour: red\n---\n".to_vec()),
        ("a.md", b"---\nkind: podcast\n---\n".to_vec()),
    ];
    let page = import(&app, &admin.token, "markdown", bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let problems = page.json()["error"]["fields"].clone();
    let fields: Vec<&str> = problems.as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["course.md", "a.md"]);
    assert_eq!(admin.get("/courses").await.json()["courses"].as_array().unwrap().len(), before);

    // The page: staff see both forms, and a failed import says why at the form.
    let mut web = app.client();
    web.login_ok("admin@acme.example").await;
    let page = web.get("/p/lms/import").await;
    assert!(page.body.contains("A SCORM 1.2 package") && page.body.contains("multiple"), "{}", page.body);
    let form = reqwest::multipart::Form::new()
        .text("kind", "markdown")
        .part("files", reqwest::multipart::Part::bytes(b"just text".to_vec()).file_name("notes.txt"));
    let page = web.post_multipart("/p/lms/import", form).await;
    assert!(page.body.contains("no Markdown lessons"), "{}", page.body);
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    assert_eq!(bob.get("/p/lms/import").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_learning_path_certifies_and_can_be_required() {
    let app = setup(DbKind::Sqlite).await;
    let first = published(&app, course("Path one", json!({ "policy": "unlimited" }), Value::Null)).await;
    let second = published(&app, course("Path two", json!({ "policy": "unlimited" }), Value::Null)).await;
    let admin = as_user(&app, "admin@acme.example").await;
    let bad = admin
        .post("/paths", json!({ "title": "P", "courses": [first, second], "required_for": ["tier:platinum"] }))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let cert = json!({ "name": "Certified Routing Professional", "validity_months": 24, "window_days": 60 });
    let page = admin
        .post(
            "/paths",
            json!({ "title": "Routing professional", "courses": [first, second],
                                 "required_for": ["role:partner_user"], "certification": cert }),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let path = page.json()["id"].as_str().unwrap().to_string();

    let bob = as_user(&app, "bob@northwind.example").await;
    let required = bob.get("/requirements").await.json();
    let entry = required["required"].as_array().unwrap().iter().find(|r| r["path_id"] == path.as_str()).cloned();
    let entry = entry.unwrap_or_else(|| panic!("{required}"));
    assert_eq!((entry["courses_done"].as_u64(), entry["course_id"].as_str()), (Some(0), Some(first.as_str())));
    assert_eq!(entry["next_title"], "Path one");
    // Partner admins are not partner users: the path is not theirs.
    let alice = as_user(&app, "alice@northwind.example").await.get("/requirements").await.json();
    assert!(!alice.to_string().contains(&path));

    let finish = |course: String| {
        let bob = &bob;
        async move {
            bob.post(&format!("/courses/{course}/enrol"), json!({})).await;
            for l in ["intro", "setup"] {
                bob.post(&format!("/courses/{course}/lessons/{l}/complete"), json!({})).await;
            }
            bob.post(&format!("/quizzes/{course}/check/attempts"), right()).await
        }
    };
    // The second course needs the first (the path's order).
    assert_eq!(bob.post(&format!("/courses/{second}/enrol"), json!({})).await.status, StatusCode::CONFLICT);
    finish(first.clone()).await;
    assert!(bob.get("/certifications").await.json()["certifications"].as_array().unwrap().is_empty());
    finish(second.clone()).await;
    let certs = bob.get("/certifications").await.json();
    assert_eq!(certs["certifications"][0]["name"], "Certified Routing Professional", "{certs}");
    assert_eq!(certs["certifications"][0]["course_title"], "Routing professional");
    let required = bob.get("/requirements").await.json();
    let entry =
        required["required"].as_array().unwrap().iter().find(|r| r["path_id"] == path.as_str()).cloned().unwrap();
    assert_eq!((entry["status"].as_str(), entry["percent"].as_u64()), (Some("completed"), Some(100)));
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    assert!(web.get("/p/lms/my").await.body.contains("Learning path <strong>Routing professional</strong>: 2 of 2"));
}
