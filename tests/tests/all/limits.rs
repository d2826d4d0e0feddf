//! What the host does on a plugin's behalf is bounded like the plugin itself: its templates (no host functions,
//! the deadline, the memory and output caps), its outbound requests (declared hosts only, no private networks
//! in any spelling, redirects checked, answers cut at the cap), what one call may emit, send, write and store,
//! what a plugin may hold in total, and what its text can do to the log. Each finding of the hostile plugin is
//! refused or bounded, the portal keeps answering meanwhile, and nothing half-written stays behind.

use std::io::Write;
use std::sync::{Arc, Mutex};

use portico_tests::{DbKind, TestApp, hostile, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};

/// The hostile plugin with the grants these tests need.
fn hostile_manifest() -> String {
    hostile().manifest_text().replace(
        "[grants]\n",
        "[grants]\noutbound_hosts = [\"127.0.0.1\", \"localhost\", \"2130706433\", \"0x7f.1\"]\nblobs = true\nnotifications = true\n",
    )
}

async fn app_with_hostile(tweak: impl FnOnce(&mut portico::Config)) -> (TestApp, String) {
    app_with_manifest(tweak, &hostile_manifest()).await
}

async fn app_with_manifest(tweak: impl FnOnce(&mut portico::Config), manifest: &str) -> (TestApp, String) {
    let app = spawn_app_with(DbKind::Sqlite, tweak).await;
    app.install(&hostile().package(Some(manifest)), &["reseller", "msp"]).await;
    let token = app.client().token("admin@acme.example", "portico-demo").await;
    (app, token)
}

async fn call(app: &TestApp, token: &str, path: &str) -> portico_tests::Page {
    app.client().api(Method::GET, &format!("/api/v1/p/hostile{path}"), Some(token), None).await
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.test_db.scalar(sql).await
}

/// Files the plugin has in the blob store.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    app.blob_files("/plugins/hostile/")
}

#[tokio::test]
async fn templates_reach_nothing_of_the_host_and_stop_at_the_plugins_limits() {
    let (app, _) = app_with_hostile(|_| {}).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    assert_eq!(admin.get("/p/hostile/render?t=fine").await.status, StatusCode::OK);
    // The host's environment is not there to read.
    let env = admin.get("/p/hostile/render?t=env").await;
    assert_eq!(env.status, StatusCode::INTERNAL_SERVER_ERROR);
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    assert!(!env.body.contains(&home) && !env.body.contains("sqlite://"), "{}", env.body);
    // A hundred megabytes of output stops at the output cap (256 KiB), a string doubled forty times at the memory
    // cap (16 MiB), and a loop of 900 million turns at the deadline (300 ms): each fails its own page.
    for t in ["huge", "double", "burn"] {
        let page = admin.get(&format!("/p/hostile/render?t={t}")).await;
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR, "{t}");
        assert!(page.body.len() < 64 << 10, "{t}: the error page is small");
    }
    // While a template burns CPU, the portal answers other requests: they finish first.
    let order = Arc::new(Mutex::new(Vec::new()));
    let (burn, health) = {
        let (order_a, order_b) = (order.clone(), order.clone());
        let burner = admin.http.get(format!("{}/p/hostile/render?t=burn", admin.base));
        let base = admin.base.clone();
        (
            async move {
                let s = burner.send().await.unwrap().status();
                order_a.lock().unwrap().push("burn");
                s
            },
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                for _ in 0..5 {
                    assert!(reqwest::get(format!("{base}/healthz")).await.unwrap().status().is_success());
                }
                order_b.lock().unwrap().push("health");
            },
        )
    };
    let (s, ()) = tokio::join!(burn, health);
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(*order.lock().unwrap(), ["health", "burn"], "other requests were answered while it burned");
    assert_eq!(admin.get("/p/hostile/render?t=fine").await.status, StatusCode::OK, "and the renderer is fine after");
}

/// A local HTTP server for outbound requests: small answers, a 400 MiB answer streamed without being held, and
/// redirects.
async fn outbound_target() -> u16 {
    use axum::body::Body;
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/ok", get(|| async { "hello from the crm" }))
        .route(
            "/huge",
            get(|| async {
                let chunk = bytes::Bytes::from(vec![0u8; 64 << 10]);
                let stream = futures::stream::iter((0..6400).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
                Body::from_stream(stream).into_response()
            }),
        )
        .route("/to-undeclared", get(|| async { Redirect::temporary("https://undeclared.example/steal") }))
        .route("/to-metadata", get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }))
        .route("/to-ok", get(|| async { Redirect::temporary("/ok") }))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn enc(url: &str) -> String {
    url::form_urlencoded::byte_serialize(url.as_bytes()).collect()
}

#[tokio::test]
async fn outbound_requests_never_reach_the_portals_own_network_unless_the_operator_allows_it() {
    let port = outbound_target().await;
    // By default (as in the demo), loopback in every spelling is refused, before and after resolution.
    let (app, token) = app_with_hostile(|_| {}).await;
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://localhost:{port}/ok"),
        format!("http://2130706433:{port}/ok"),
        format!("http://0x7f.1:{port}/ok"),
        format!("https://localhost:{port}/ok"),
        format!("http://127.0.0.1:{}/metrics", app.addr.port()),
        format!("http://127.0.0.1:{}/api/v1/me", app.addr.port()),
    ] {
        let r = call(&app, &token, &format!("/fetch?url={}", enc(&url))).await.json();
        assert_eq!(r["outcome"], "error", "{url}: {r}");
        assert!(
            r["error"].as_str().unwrap().contains("Denied") || r["error"].as_str().unwrap().contains("Invalid"),
            "{url}: {r}"
        );
    }
    // An operator who runs a CRM on this machine allows loopback: then declared hosts answer, redirects are
    // followed only to declared hosts and public addresses, and a huge answer is cut at the cap.
    let (app, token) = app_with_hostile(|c| c.runtime.outbound_allow = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let ok = call(&app, &token, &format!("/fetch?url={}", enc(&format!("http://127.0.0.1:{port}/ok")))).await.json();
    assert_eq!((ok["outcome"].as_str(), ok["status"].as_u64()), (Some("ok"), Some(200)), "{ok}");
    assert_eq!(ok["body"], "hello from the crm");
    let via =
        call(&app, &token, &format!("/fetch?url={}", enc(&format!("http://127.0.0.1:{port}/to-ok")))).await.json();
    assert_eq!(via["body"], "hello from the crm", "a redirect to a declared host is followed: {via}");
    for (path, says) in [
        ("/to-undeclared", "not among the outbound hosts"),
        ("/to-metadata", "169.254.169.254"),
        ("/loop", "redirects"),
        ("/huge", "larger than 8 MiB"),
    ] {
        let r =
            call(&app, &token, &format!("/fetch?url={}", enc(&format!("http://127.0.0.1:{port}{path}")))).await.json();
        assert_eq!(r["outcome"], "error", "{path}: {r}");
        assert!(r["error"].as_str().unwrap().contains(says), "{path}: {r}");
    }
}

#[tokio::test]
async fn one_call_cannot_flood_the_outbox_the_mail_or_the_store_and_leaves_nothing_when_stopped() {
    // The budgets, not the clock, must stop these calls: a thousand writes can take longer than the plugin's
    // 300 ms on a busy machine, so the deadline here is the host's longest.
    let (app, token) =
        app_with_manifest(|_| {}, &hostile_manifest().replace("timeout_ms = 300", "timeout_ms = 10000")).await;
    // Within the budgets, fine.
    assert_eq!(call(&app, &token, "/events?n=100").await.status, StatusCode::OK);
    assert_eq!(call(&app, &token, "/writes?n=1000").await.status, StatusCode::OK);
    let events_before = scalar(&app, "SELECT COUNT(*) FROM events WHERE topic = 'hostile.flood'").await;
    let records_before = scalar(&app, "SELECT COUNT(*) FROM plugin_records WHERE plugin_id = 'hostile'").await;
    let mails_before = scalar(&app, "SELECT COUNT(*) FROM notifications WHERE plugin_id = 'hostile'").await;
    // One over each, and the whole call fails: nothing of it is kept.
    for path in ["/events?n=101", "/writes?n=1001", "/notify-many?n=11", "/blobs?n=65&kib=1024"] {
        let r = call(&app, &token, path).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {}", r.body);
    }
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM events WHERE topic = 'hostile.flood'").await, events_before);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM plugin_records WHERE plugin_id = 'hostile'").await, records_before);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM notifications WHERE plugin_id = 'hostile'").await, mails_before);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM plugin_blobs").await, 0);
    assert!(stored_files(&app).is_empty(), "files of the failed call are gone: {:?}", stored_files(&app));
    // The manifest may ask for more, up to the operator's maximum.
    let generous = hostile_manifest().replace("[limits]\n", "[limits]\nevents = 500\n");
    let app2 = spawn_app(DbKind::Sqlite).await;
    app2.install(&hostile().package(Some(&generous)), &["reseller"]).await;
    let token2 = app2.client().token("admin@acme.example", "portico-demo").await;
    assert_eq!(call(&app2, &token2, "/events?n=500").await.status, StatusCode::OK);
}

#[tokio::test]
async fn files_follow_their_invocation_and_orphans_are_swept() {
    let (app, token) = app_with_hostile(|_| {}).await;
    for then in ["fail", "panic"] {
        let r = call(&app, &token, &format!("/blobs?n=3&then={then}")).await;
        assert!(r.status.is_client_error() || r.status.is_server_error(), "{then}");
        assert!(stored_files(&app).is_empty(), "{then}: {:?}", stored_files(&app));
    }
    let kept = call(&app, &token, "/blobs?n=2").await.json();
    let keys: Vec<String> = kept["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    assert_eq!(stored_files(&app).len(), 2);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM plugin_blobs WHERE plugin_id = 'hostile'").await, 2);
    // A delete that does not commit keeps the file; one that does removes it.
    let both = call(&app, &token, "/blobs?n=1&then=delete").await;
    assert_eq!(both.status, StatusCode::OK);
    assert_eq!(stored_files(&app).len(), 2, "stored and deleted in one call: gone");
    assert_eq!(call(&app, &token, &format!("/blob-delete?key={}", enc(&keys[0]))).await.json()["outcome"], "ok");
    assert_eq!(stored_files(&app).len(), 1);
    // A file left behind by a crash (written, never recorded) is swept after the grace period; recorded files stay.
    portico::plugins::jobs::sweep_orphan_blobs(&app.state, 0).await.unwrap();
    let orphan = format!("tenants/{}/plugins/hostile/crashed.bin", app.tenant_id("acme").await);
    app.state.blobs.put(&orphan, vec![1; 10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(portico::plugins::jobs::sweep_orphan_blobs(&app.state, 3_600_000).await.unwrap(), 0, "within grace");
    assert_eq!(portico::plugins::jobs::sweep_orphan_blobs(&app.state, 0).await.unwrap(), 1);
    assert_eq!(app.state.blobs.get(&orphan).await.unwrap(), None);
    assert_eq!(stored_files(&app).len(), 1, "the recorded file is kept");
}

#[tokio::test]
async fn a_plugin_at_its_quota_is_told_so_and_the_admin_sees_its_usage() {
    let (app, token) = app_with_hostile(|c| {
        c.runtime.quota_records = 5;
        c.runtime.quota_outbox = 3;
    })
    .await;
    assert_eq!(call(&app, &token, "/writes?n=5").await.status, StatusCode::OK);
    let over = call(&app, &token, "/writes?n=1").await;
    assert_eq!(over.status, StatusCode::SERVICE_UNAVAILABLE, "{}", over.body);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM plugin_records WHERE plugin_id = 'hostile'").await, 5);
    assert_eq!(call(&app, &token, "/events?n=3").await.status, StatusCode::OK);
    assert_eq!(call(&app, &token, "/events?n=1").await.status, StatusCode::SERVICE_UNAVAILABLE);
    // The admin's page of the plugin says where it stands.
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let page = admin.get("/admin/plugins/hostile").await;
    assert!(page.body.contains("Stored records") && page.body.contains("5 of 5"), "{}", page.body);
    // Other plugins and the rest of the portal are untouched.
    assert_eq!(admin.get("/").await.status, StatusCode::OK);
}

/// A writer that keeps what the log says.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_plugins_text_cannot_forge_a_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (app, token) = app_with_hostile(|_| {}).await;
    let forged =
        "fine\n2026-12-01T00:00:00.000000Z  INFO portico: admin password reset for admin@acme.example\r\x1b[2K";
    assert_eq!(call(&app, &token, &format!("/log?msg={}", enc(forged))).await.status, StatusCode::OK);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log.lines().find(|l| l.contains("fine")).expect("the plugin's line");
    assert!(line.contains("plugin=hostile") && line.contains("request_id="), "labelled: {line}");
    assert!(line.contains("fine\\n2026-12-01") && line.contains("\\r\\u{1b}[2K"), "escaped: {line}");
    assert!(!log.lines().any(|l| l.starts_with("2026-12-01T00:00:00.000000Z")), "no forged line: {log}");
}
