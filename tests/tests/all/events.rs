//! Events and schedules: at-least-once delivery to subscribers with retries and a dead-letter list that an
//! admin replays; schedule ticks run once however many workers race for them.

use portico_tests::{DbKind, TestApp, api_get, hostile, spawn_app};
use reqwest::StatusCode;

/// Installs the hostile plugin, subscribed to its own `hostile.wrote`, with a 1-minute schedule.
async fn subscriber(app: &TestApp) {
    let manifest = hostile().manifest_text().replace("[grants]", "events = [\"hostile.wrote\"]\n\n[grants]")
        + "\n[[schedules]]\nname = \"tick\"\nevery_minutes = 1\n";
    app.install(&hostile().package(Some(&manifest)), &["reseller"]).await;
}

async fn write(app: &TestApp, query: &str) {
    let token = app.client().token("bob@northwind.example", "portico-demo").await;
    let page =
        app.client().api(reqwest::Method::GET, &format!("/api/v1/p/hostile/write?{query}"), Some(&token), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

async fn events_delivered_once_and_failures_dead_letter_then_replay(kind: DbKind) {
    let app = spawn_app(kind).await;
    subscriber(&app).await;
    write(&app, "n=5").await;
    write(&app, "n=6&fail=1").await;
    // Deliver until nothing is due (the failing one backs off).
    for _ in 0..3 {
        portico::plugins::jobs::deliver_due(&app.state, 10).await.unwrap();
    }
    assert_eq!(
        app.test_db.scalar("SELECT COUNT(*) FROM plugin_records WHERE data LIKE '%\"topic\"%'").await,
        1,
        "the good event was handled once"
    );
    assert_eq!(app.test_db.scalar("SELECT COUNT(*) FROM event_deliveries WHERE status = 'done'").await, 1);
    assert_eq!(
        app.test_db.scalar("SELECT COUNT(*) FROM event_deliveries WHERE status = 'pending' AND attempts = 1").await,
        1,
        "the bad one waits to retry"
    );
    // Exhaust its attempts: it becomes dead.
    for _ in 0..portico::plugins::jobs::MAX_ATTEMPTS {
        app.state
            .db
            .execute_raw("UPDATE event_deliveries SET next_attempt_at = 0 WHERE status = 'pending'")
            .await
            .unwrap();
        portico::plugins::jobs::deliver_due(&app.state, 10).await.unwrap();
    }
    assert_eq!(app.test_db.scalar("SELECT COUNT(*) FROM event_deliveries WHERE status = 'dead'").await, 1);
    // The admin sees it and replays it once the cause is gone.
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let page = admin.get("/admin/plugins/dead-letters").await;
    assert!(page.body.contains("hostile.wrote") && page.body.contains("failing on purpose"), "{}", page.body);
    app.state
        .db
        .execute_raw("UPDATE events SET payload = '{\"n\":6,\"fail\":false}' WHERE payload LIKE '%\"fail\":true%'")
        .await
        .unwrap();
    let event_id =
        app.state.db.tenant(&app.tenant_id("acme").await).dead_deliveries(&Default::default()).await.unwrap().items[0]
            .event_id
            .clone();
    let page = admin.post(&format!("/admin/plugins/dead-letters/{event_id}/hostile/replay"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    portico::plugins::jobs::deliver_due(&app.state, 10).await.unwrap();
    assert_eq!(app.test_db.scalar("SELECT COUNT(*) FROM event_deliveries WHERE status = 'done'").await, 2);
    assert_eq!(app.test_db.scalar("SELECT COUNT(*) FROM plugin_records WHERE data LIKE '%\"topic\"%'").await, 2);
}

#[tokio::test]
async fn events_are_delivered_once_and_failures_dead_letter_then_replay_on_sqlite() {
    events_delivered_once_and_failures_dead_letter_then_replay(DbKind::Sqlite).await;
}

#[tokio::test]
async fn events_are_delivered_once_and_failures_dead_letter_then_replay_on_postgres() {
    events_delivered_once_and_failures_dead_letter_then_replay(DbKind::Postgres).await;
}

#[tokio::test]
async fn a_redelivered_event_is_handled_idempotently() {
    let app = spawn_app(DbKind::Sqlite).await;
    subscriber(&app).await;
    write(&app, "n=7").await;
    portico::plugins::jobs::deliver_due(&app.state, 10).await.unwrap();
    // As if the worker died after handling it but before recording that: deliver again.
    app.state
        .db
        .execute_raw("UPDATE event_deliveries SET status = 'pending', next_attempt_at = 0, leased_until = 0")
        .await
        .unwrap();
    portico::plugins::jobs::deliver_due(&app.state, 10).await.unwrap();
    assert_eq!(app.test_db.scalar("SELECT COUNT(*) FROM plugin_records WHERE data LIKE '%\"topic\"%'").await, 1);
}

#[tokio::test]
async fn concurrent_workers_run_each_schedule_tick_once() {
    let app = spawn_app(DbKind::Postgres).await;
    subscriber(&app).await;
    let now = portico::domain::now_millis();
    let runs = futures_run(&app, now).await;
    assert_eq!(runs, 1, "four racing workers, one run of the tick");
    assert_eq!(app.test_db.scalar("SELECT COUNT(*) FROM plugin_records WHERE data LIKE '%\"schedule\"%'").await, 1);
    // The next minute is a new tick.
    assert_eq!(portico::plugins::jobs::run_schedules(&app.state, now + 60_000).await.unwrap(), 1);
    let _ = api_get("/noop");
}

async fn futures_run(app: &TestApp, now: i64) -> usize {
    let mut handles = Vec::new();
    for _ in 0..4 {
        let state = app.state.clone();
        handles.push(tokio::spawn(async move { portico::plugins::jobs::run_schedules(&state, now).await.unwrap() }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total
}
