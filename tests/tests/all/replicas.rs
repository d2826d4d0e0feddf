//! Several `portico serve` processes on one PostgreSQL database and one blob store (a shared data dir): a session
//! from one is valid on the others, a plugin installed through one runs on all, schedule ticks run once across
//! replicas, and each event reaches its subscriber once.

use std::time::{Duration, Instant};

use portico_tests::process::{Replica, S3Server};
use portico_tests::{Client, DbKind, TestDb, hostile};
use reqwest::StatusCode;

/// The JSON data of every hostile note.
pub async fn notes(db: &TestDb) -> Vec<serde_json::Value> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT data FROM plugin_records WHERE plugin_id = 'hostile' AND collection = 'notes'")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows.iter().map(|r| serde_json::from_str(r).unwrap()).collect()
}

/// Polls `check` every 200 ms until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// As the demo's vendor admin on `base`: uploads the hostile plugin (subscribed to its own `hostile.wrote`, with a
/// one-minute schedule) through the admin page and enables it in the reseller program.
pub async fn install_hostile(base: &str, db: &TestDb) {
    let manifest = hostile().manifest_text().replace("[grants]", "events = [\"hostile.wrote\"]\n\n[grants]")
        + "\n[[schedules]]\nname = \"tick\"\nevery_minutes = 1\n";
    let mut admin = Client::at(base);
    admin.login_ok("admin@acme.example").await;
    admin.get("/admin/plugins").await;
    let form = reqwest::multipart::Form::new().part(
        "package",
        reqwest::multipart::Part::bytes(hostile().package(Some(&manifest))).file_name("hostile.tar.gz"),
    );
    let page = admin.post_multipart("/admin/plugins", form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let tenant = db.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let reseller = db.db.tenant(&tenant.id).program_by_key("reseller").await.unwrap();
    admin.get("/admin/plugins/hostile").await;
    let page = admin.post(&format!("/admin/plugins/hostile/programs/{}", reseller.id), &[("enabled", "on")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

/// A fresh PostgreSQL database with the demo tenant.
pub async fn demo_db(kind: DbKind) -> TestDb {
    let db = TestDb::new(kind).await;
    portico::demo::seed(&db.db).await.unwrap();
    db
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_share_sessions_and_plugins_and_run_ticks_and_deliveries_once() {
    let db = demo_db(DbKind::Postgres).await;
    // One blob store: an S3-compatible server when moto is installed (each replica then has a data dir of its
    // own), else a directory they share.
    let s3 = S3Server::start().await;
    let shared = tempfile::tempdir().unwrap();
    let own: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut replicas = Vec::new();
    for (k, name) in ["a", "b", "c"].into_iter().enumerate() {
        replicas.push(match &s3 {
            Some(s3) => Replica::start_with(&db.url, own[k].path(), name, s3.env("blobs")).await,
            None => Replica::start(&db.url, shared.path(), name).await,
        });
    }

    // A session made on A is valid on B and C (cookies do not depend on the port); signing out on B ends it on C.
    let mut bob = Client::at(&replicas[0].base);
    bob.login_ok("bob@northwind.example").await;
    for r in &replicas[1..] {
        bob.base = r.base.clone();
        assert_eq!(bob.get("/").await.status, StatusCode::OK, "the session works on {}", r.base);
    }
    bob.base = replicas[1].base.clone();
    let out = bob.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "a CSRF token from one replica is good on another");
    bob.base = replicas[2].base.clone();
    let page = bob.get("/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "signed out everywhere");
    assert!(page.location().unwrap_or_default().starts_with("/login"));

    // A logo uploaded through A is served by C.
    let mut alice = Client::at(&replicas[0].base);
    alice.login_ok("alice@northwind.example").await;
    alice.get("/org").await;
    let logo = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 4096]].concat();
    let form = reqwest::multipart::Form::new()
        .text("name", "Northwind Traders")
        .text("website", "https://northwind.example")
        .part(
            "logo",
            reqwest::multipart::Part::bytes(logo.clone()).file_name("logo.png").mime_str("image/png").unwrap(),
        );
    let page = alice.post_multipart("/org", form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    alice.base = replicas[2].base.clone();
    let profile = alice.get("/org").await.body.replace("&#x2F;", "/");
    let url = regex::Regex::new(r#"/media/tenants/[^"]+\.png"#).unwrap().find(&profile).unwrap().as_str().to_string();
    let served = alice.http.get(format!("{}{url}", alice.base)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(served.to_vec(), logo, "C serves the logo A stored");

    // A plugin installed and enabled through A runs on all three (C and B read its package from the blob store).
    install_hostile(&replicas[0].base, &db).await;
    let token = Client::at(&replicas[1].base).token("bob@northwind.example", "portico-demo").await;
    for r in &replicas {
        let page = Client::at(&r.base).api(reqwest::Method::GET, "/api/v1/p/hostile/noop", Some(&token), None).await;
        assert_eq!(page.status, StatusCode::OK, "{}: {}", r.base, page.body);
    }
    let installed_at = Instant::now();

    // Writes through every replica; each emitted event reaches the subscriber once, whichever worker claims it.
    for n in 0..30 {
        let r = &replicas[n % 3];
        let path = format!("/api/v1/p/hostile/write?n={}", 1000 + n);
        let page = Client::at(&r.base).api(reqwest::Method::GET, &path, Some(&token), None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    eventually(Duration::from_secs(30), "every delivery done", || async {
        db.scalar("SELECT COUNT(*) FROM event_deliveries WHERE status = 'done'").await == 30
    })
    .await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM event_deliveries").await, 30);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM event_deliveries WHERE attempts <> 1").await,
        0,
        "no delivery was claimed twice"
    );
    let handled = notes(&db).await.iter().filter(|n| n["topic"] == "hostile.wrote").count();
    assert_eq!(handled, 30);

    // Every replica checks schedules every 15 s: once all three have had a turn since the install, each
    // one-minute tick has run exactly once.
    eventually(Duration::from_secs(30), "a schedule tick ran", || async {
        notes(&db).await.iter().any(|n| n["schedule"] == "tick")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(16).saturating_sub(installed_at.elapsed())).await;
    let mut ticks: Vec<i64> = notes(&db)
        .await
        .iter()
        .filter(|n| n["schedule"] == "tick")
        .map(|n| n["at"].as_i64().unwrap() / 60_000)
        .collect();
    let runs = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert_eq!(runs, ticks.len(), "a tick ran more than once across replicas");
    for r in &replicas {
        assert!(!r.log_text().contains("panicked"), "{}", r.log_text());
    }
}
