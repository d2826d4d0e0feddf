//! Faults: the host killed with SIGKILL in the middle of a burst of writes, PostgreSQL stopped and restarted under
//! load, and a full disk under the blob store. Acknowledged writes survive, no invocation is half-applied, every
//! event is delivered, and failures while something is down are clean 503s/507s that leak nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portico_tests::process::{PrivatePostgres, Replica};
use portico_tests::{Client, DbKind, TestDb, spawn_app};
use reqwest::StatusCode;

use super::replicas::{demo_db, eventually, install_hostile, notes};

/// What a burst of writers saw: the `n` of each acknowledged write, and every other status.
#[derive(Default)]
struct Burst {
    acked: Vec<i64>,
    failures: Vec<(u16, String)>,
}

/// `writers` clients writing (note + event per call) through `base` until `stop` is set; connection errors end a
/// writer only when `stop_on_error`.
fn burst(
    base: &str,
    token: &str,
    writers: i64,
    stop: Arc<std::sync::atomic::AtomicBool>,
    stop_on_error: bool,
) -> (Arc<Mutex<Burst>>, Vec<tokio::task::JoinHandle<()>>) {
    let seen = Arc::new(Mutex::new(Burst::default()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let handles = (0..writers)
        .map(|w| {
            let (client, base, token, seen, stop) =
                (client.clone(), base.to_string(), token.to_string(), seen.clone(), stop.clone());
            tokio::spawn(async move {
                let mut k = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let n = 10_000 + w * 1_000_000 + k;
                    k += 1;
                    let url = format!("{base}/api/v1/p/hostile/write?n={n}");
                    match client.get(&url).bearer_auth(&token).send().await {
                        Ok(r) => {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            let mut s = seen.lock().unwrap();
                            if status == StatusCode::OK {
                                s.acked.push(n);
                            } else {
                                s.failures.push((status.as_u16(), body));
                            }
                        }
                        Err(_) if stop_on_error => return,
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect();
    (seen, handles)
}

/// After the fault: every acknowledged write is stored, each stored write has exactly its event (no
/// invocation half-applied), and every event is delivered.
async fn nothing_lost(db: &TestDb, acked: &[i64]) {
    let stored: BTreeSet<i64> =
        notes(db).await.iter().filter_map(|n| n["n"].as_i64()).filter(|n| *n >= 10_000).collect();
    let missing: Vec<_> = acked.iter().filter(|n| !stored.contains(n)).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let payloads: Vec<String> =
        sqlx::query_scalar("SELECT payload FROM events WHERE topic = 'hostile.wrote'").fetch_all(&pool).await.unwrap();
    pool.close().await;
    let mut emitted: Vec<i64> =
        payloads.iter().filter_map(|p| serde_json::from_str::<serde_json::Value>(p).ok()?["n"].as_i64()).collect();
    emitted.sort();
    assert_eq!(emitted, stored.iter().copied().collect::<Vec<_>>(), "each stored write has its one event");
    let total = emitted.len() as i64;
    eventually(Duration::from_secs(60), "every event delivered", || async {
        db.scalar("SELECT COUNT(*) FROM event_deliveries WHERE status = 'done'").await == total
    })
    .await;
}

async fn kill_9_during_a_burst_of_writes(kind: DbKind) {
    let db = demo_db(kind).await;
    let data = tempfile::tempdir().unwrap();
    let mut host = Replica::start(&db.url, data.path(), "host").await;
    install_hostile(&host.base, &db).await;
    let token = Client::at(&host.base).token("bob@northwind.example", "portico-demo").await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen, writers) = burst(&host.base, &token, 8, stop.clone(), true);
    eventually(Duration::from_secs(30), "a burst under way", || async { seen.lock().unwrap().acked.len() >= 50 }).await;
    host.kill();
    for w in writers {
        w.await.unwrap();
    }
    let acked = std::mem::take(&mut seen.lock().unwrap().acked);
    let failures = std::mem::take(&mut seen.lock().unwrap().failures);
    assert!(failures.is_empty(), "before the kill every write succeeds: {failures:?}");
    host.restart().await;
    nothing_lost(&db, &acked).await;
    eprintln!(
        "kill -9 on {kind:?}: {} writes acknowledged before the kill, every one found after the restart",
        acked.len()
    );
    // And the restarted host serves as before.
    let page = Client::at(&host.base).api(reqwest::Method::GET, "/api/v1/p/hostile/noop", Some(&token), None).await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_burst_of_writes_sqlite() {
    kill_9_during_a_burst_of_writes(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_burst_of_writes_postgres() {
    kill_9_during_a_burst_of_writes(DbKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopped_and_restarted_under_load() {
    let pg = PrivatePostgres::start();
    let admin = portico::storage::Db::connect(&pg.url("postgres")).await.unwrap();
    admin.execute_raw("CREATE DATABASE portico").await.unwrap();
    admin.close().await;
    let db = TestDb::existing(&pg.url("portico")).await;
    db.db.migrate().await.unwrap();
    portico::demo::seed(&db.db).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let host = Replica::start(&db.url, data.path(), "host").await;
    install_hostile(&host.base, &db).await;
    let token = Client::at(&host.base).token("bob@northwind.example", "portico-demo").await;
    db.db.close().await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen, writers) = burst(&host.base, &token, 4, stop.clone(), false);
    eventually(Duration::from_secs(30), "load under way", || async { seen.lock().unwrap().acked.len() >= 20 }).await;
    tokio::task::block_in_place(|| pg.stop());
    let down_at = Instant::now();
    // While it is down: requests fail, cleanly.
    eventually(Duration::from_secs(30), "failures while the database is down", || async {
        seen.lock().unwrap().failures.len() >= 4
    })
    .await;
    let acked_before_restart = seen.lock().unwrap().acked.len();
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(down_at.elapsed())).await;
    tokio::task::block_in_place(|| pg.start_again());
    let restarted = Instant::now();
    // After it is back: writes succeed again without restarting the host.
    eventually(Duration::from_secs(30), "writes succeed after the restart", || async {
        seen.lock().unwrap().acked.len() >= acked_before_restart + 20
    })
    .await;
    let recovered_s = restarted.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let burst = std::mem::take(&mut *seen.lock().unwrap());
    for (status, body) in &burst.failures {
        if *status != 503 {
            let log = host.log_text();
            let id = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|j| j["error"]["request_id"].as_str().map(str::to_string));
            let lines: Vec<&str> = log.lines().filter(|l| id.as_deref().is_some_and(|id| l.contains(id))).collect();
            panic!("a clean 'unavailable', not {status}: {body}\n{}", lines.join("\n"));
        }
        let j: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON error: {body}"));
        assert_eq!(j["error"]["code"], "unavailable", "{body}");
        let lower = body.to_lowercase();
        for leak in ["sqlx", "postgres", "connection refused", "127.0.0.1", "database error"] {
            assert!(!lower.contains(leak), "the error leaks {leak}: {body}");
        }
    }
    let db = TestDb::existing(&pg.url("portico")).await;
    nothing_lost(&db, &burst.acked).await;
    eprintln!(
        "PostgreSQL restart: {} writes acknowledged in all, {} clean 503s while it was down, 20 writes through again \
         {recovered_s:.1} s after it was back",
        burst.acked.len(),
        burst.failures.len()
    );
    assert!(!host.log_text().contains("panicked"), "{}", host.log_text());
}

/// Mounts a small tmpfs over a directory for the test's length (root only).
struct TinyDisk(std::path::PathBuf);

impl TinyDisk {
    fn mount(dir: &std::path::Path, size_kib: u32) -> Option<TinyDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyDisk(dir.to_path_buf()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A PNG-signed file of `len` bytes (the portal recognises images by their first bytes).
fn png(len: usize, fill: u8) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.resize(len, fill);
    b
}

#[tokio::test]
async fn a_full_blob_store_refuses_uploads_clearly_and_keeps_what_it_had() {
    let app = spawn_app(DbKind::Sqlite).await;
    let blobs = app.data_dir.join("blobs");
    let Some(_disk) = TinyDisk::mount(&blobs, 256) else {
        assert!(
            std::env::var_os("PORTICO_REQUIRE_FAULTS").is_none(),
            "mounting a small tmpfs needs root (PORTICO_REQUIRE_FAULTS is set)"
        );
        eprintln!("skipped: mounting a small tmpfs for the blob store needs root");
        return;
    };
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    let upload = |bytes: Vec<u8>| {
        reqwest::multipart::Form::new()
            .text("name", "Northwind Traders")
            .text("website", "https://northwind.example")
            .text("address", "")
            .text("phone", "")
            .text("contact_email", "")
            .part("logo", reqwest::multipart::Part::bytes(bytes).file_name("logo.png").mime_str("image/png").unwrap())
    };
    alice.get("/org").await;
    let first = png(150 * 1024, b'a');
    let page = alice.post_multipart("/org", upload(first.clone())).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let profile = alice.get("/org").await.body.replace("&#x2F;", "/");
    let logo_url =
        regex::Regex::new(r#"/media/tenants/[^"]+\.png"#).unwrap().find(&profile).unwrap().as_str().to_string();

    // The second logo does not fit beside the first (the old one is removed only after the new one is stored).
    let page = alice.post_multipart("/org", upload(png(150 * 1024, b'b'))).await;
    assert_eq!(page.status, StatusCode::INSUFFICIENT_STORAGE, "{}", page.body);
    assert!(page.body.contains("no space left to store files"), "{}", page.body);
    assert!(!page.body.contains("tmpfs") && !page.body.contains("os error"), "nothing internal: {}", page.body);
    // What was stored is intact and still in use, and no partial file is left behind.
    let profile = alice.get("/org").await.body.replace("&#x2F;", "/");
    assert!(profile.contains(&logo_url), "the org still shows its first logo");
    let served = alice.http.get(format!("{}{logo_url}", alice.base)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(served.to_vec(), first, "the first logo is intact");
    let mut files = Vec::new();
    let mut stack = vec![blobs.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    assert_eq!(files.len(), 1, "only the first logo is on disk: {files:?}");
    // The JSON API says the same for a plugin package that does not fit.
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    admin.get("/admin/plugins").await;
    let big = portico_tests::deals().package(None);
    assert!(big.len() > 110 * 1024, "the package must not fit in what is left");
    let form = reqwest::multipart::Form::new()
        .part("package", reqwest::multipart::Part::bytes(big).file_name("deal-registration.tar.gz"));
    let page = admin.post_multipart("/admin/plugins", form).await;
    assert_eq!(page.status, StatusCode::INSUFFICIENT_STORAGE, "{}", page.body);
    let installed = app.state.db.tenant(&app.tenant_id("acme").await).installed_plugins().await.unwrap();
    assert!(installed.is_empty(), "a package that could not be stored is not installed");
}
