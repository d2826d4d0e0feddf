//! The sandbox: hostile plugins are stopped at their deadline, memory cap and output cap, traps roll back
//! their writes and events, and ungranted reaches are refused, while ordinary calls carry on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portico::runtime::{HttpResponse, PluginError, RuntimeError};
use portico_tests::{DbKind, TestApp, api_get, hostile, invocation, load_plugin, spawn_app};

async fn call(
    app: &TestApp,
    plugin: &Arc<portico::runtime::LoadedPlugin>,
    email: Option<&str>,
    path: &str,
) -> Result<Result<HttpResponse, PluginError>, RuntimeError> {
    let inv = invocation(app, plugin, email).await;
    app.state.runtime.handle_http(plugin.clone(), inv, api_get(path)).await
}

fn json_of(r: Result<Result<HttpResponse, PluginError>, RuntimeError>) -> serde_json::Value {
    match r {
        Ok(Ok(HttpResponse::Json((_, body)))) => serde_json::from_str(&body).unwrap(),
        other => panic!("expected JSON, got {other:?}"),
    }
}

async fn rows(app: &TestApp, table: &str) -> i64 {
    app.test_db.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
}

#[tokio::test]
async fn an_infinite_loop_stops_at_its_deadline_while_other_calls_succeed() {
    let app = spawn_app(DbKind::Sqlite).await;
    let plugin = load_plugin(&app, &hostile());
    let started = Instant::now();
    let looping = {
        let (state, plugin) = (app.state.clone(), plugin.clone());
        let inv = invocation(&app, &plugin, Some("bob@northwind.example")).await;
        tokio::spawn(async move { state.runtime.handle_http(plugin, inv, api_get("/loop")).await })
    };
    // This test runs on a single-threaded runtime: an ordinary call can only finish while the loop still runs if
    // the loop yields the thread at its epoch ticks.
    let (mut ok, mut while_looping) = (0, 0);
    for _ in 0..20 {
        if let Ok(Ok(_)) = call(&app, &plugin, Some("bob@northwind.example"), "/noop").await {
            ok += 1;
            if !looping.is_finished() {
                while_looping += 1;
            }
        }
    }
    assert!(while_looping > 0, "no ordinary call finished while the loop ran: it held the thread");
    let r = looping.await.unwrap();
    assert!(matches!(r, Err(RuntimeError::Timeout(_))), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped near its 300 ms deadline, took {:?}",
        started.elapsed()
    );
    assert_eq!(ok, 20, "ordinary calls all succeed meanwhile");
}

// With every instance slot taken, another call is refused at once as "busy" (a 503 to the user), not queued and
// not reported as the plugin's fault; the slots come back when the calls end.
#[tokio::test]
async fn a_full_instance_pool_queues_a_call_within_its_deadline_then_answers_busy() {
    let app = portico_tests::spawn_app_with(DbKind::Sqlite, |c| c.runtime.max_concurrent_instances = 2).await;
    let plugin = load_plugin(&app, &hostile());
    let mut loops = Vec::new();
    for _ in 0..2 {
        let (state, plugin) = (app.state.clone(), plugin.clone());
        let inv = invocation(&app, &plugin, Some("bob@northwind.example")).await;
        loops.push(tokio::spawn(async move { state.runtime.handle_http(plugin, inv, api_get("/loop")).await }));
    }
    // Let both loops take their slots (until their 300 ms deadline traps them).
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A call whose deadline ends before a slot frees up answers busy.
    let mut short = invocation(&app, &plugin, Some("bob@northwind.example")).await;
    short.limits.timeout = Duration::from_millis(100);
    let r = app.state.runtime.handle_http(plugin.clone(), short, api_get("/noop")).await;
    assert!(matches!(r, Err(RuntimeError::Busy)), "{r:?}");
    // One with time to spare waits for a slot and runs.
    let waiting = call(&app, &plugin, Some("bob@northwind.example"), "/noop").await;
    assert!(matches!(waiting, Ok(Ok(_))), "{waiting:?}");
    for l in loops {
        assert!(matches!(l.await.unwrap(), Err(RuntimeError::Timeout(_))));
    }
    assert!(matches!(call(&app, &plugin, Some("bob@northwind.example"), "/noop").await, Ok(Ok(_))));
}

#[tokio::test]
async fn a_memory_bomb_stops_at_its_cap() {
    let app = spawn_app(DbKind::Sqlite).await;
    let plugin = load_plugin(&app, &hostile());
    let r = call(&app, &plugin, None, "/membomb").await;
    assert!(matches!(r, Err(RuntimeError::MemoryCap(16))), "{r:?}");
    assert!(matches!(call(&app, &plugin, None, "/noop").await, Ok(Ok(_))), "the next call runs in a fresh instance");
}

#[tokio::test]
async fn a_panic_traps_and_the_next_call_is_unaffected() {
    let app = spawn_app(DbKind::Sqlite).await;
    let plugin = load_plugin(&app, &hostile());
    let r = call(&app, &plugin, None, "/panic").await;
    assert!(matches!(r, Err(RuntimeError::Trap(_))), "{r:?}");
    assert!(matches!(call(&app, &plugin, None, "/noop").await, Ok(Ok(_))));
}

#[tokio::test]
async fn output_over_the_cap_is_refused() {
    let app = spawn_app(DbKind::Sqlite).await;
    let plugin = load_plugin(&app, &hostile());
    let r = call(&app, &plugin, None, "/big-output").await;
    assert!(matches!(r, Err(RuntimeError::OutputCap(256))), "{r:?}");
}

async fn failed_invocations_leave_no_records_and_no_events(kind: DbKind) {
    let app = spawn_app(kind).await;
    let plugin = load_plugin(&app, &hostile());
    assert!(matches!(call(&app, &plugin, None, "/write-then-panic").await, Err(RuntimeError::Trap(_))));
    assert!(matches!(call(&app, &plugin, None, "/write-then-loop").await, Err(RuntimeError::Timeout(_))));
    assert!(matches!(call(&app, &plugin, None, "/write-then-error").await, Ok(Err(PluginError::Invalid(_)))));
    assert_eq!(rows(&app, "plugin_records").await, 0);
    assert_eq!(rows(&app, "plugin_index").await, 0);
    assert_eq!(rows(&app, "events").await, 0);
    // A successful one commits both.
    assert!(matches!(call(&app, &plugin, None, "/write?n=1").await, Ok(Ok(_))));
    assert_eq!(rows(&app, "plugin_records").await, 1);
    assert_eq!(rows(&app, "events").await, 1);
}

#[tokio::test]
async fn failed_invocations_leave_no_records_and_no_events_on_sqlite() {
    failed_invocations_leave_no_records_and_no_events(DbKind::Sqlite).await;
}

#[tokio::test]
async fn failed_invocations_leave_no_records_and_no_events_on_postgres() {
    failed_invocations_leave_no_records_and_no_events(DbKind::Postgres).await;
}

/// The directory-write grant is the vendor's trust in the plugin, not in its callers: a partner's call cannot move a
/// tier even through a plugin that holds the grant (incentives' tests cover the staff's and the system's calls).
#[tokio::test]
async fn a_partners_call_never_sets_a_tier_even_with_the_grant() {
    let app = spawn_app(DbKind::Sqlite).await;
    let base = load_plugin(&app, &hostile());
    let mut manifest = base.manifest.clone();
    manifest.grants.directory_write = true;
    let plugin =
        Arc::new(portico::runtime::LoadedPlugin { manifest, compiled: base.compiled.clone(), limits: base.limits });
    let t = app.tenant_id("acme").await;
    let tier = |org: String| {
        let app = &app;
        let t = t.clone();
        async move { app.state.db.tenant(&t).enrolments_of_org(&org).await.unwrap()[0].tier_key.clone() }
    };
    let fabrikam = app.state.db.tenant(&t).user_by_email("carol@fabrikam.example").await.unwrap().unwrap().org_id;
    let before = tier(fabrikam.clone()).await;
    assert_ne!(before, "gold");
    let j = json_of(call(&app, &plugin, Some("carol@fabrikam.example"), "/set-tier").await);
    assert_eq!(j["outcome"], "error", "{j}");
    assert!(j["error"].as_str().unwrap().contains("a partner's call cannot change tiers"), "{j}");
    assert_eq!(tier(fabrikam).await, before, "unchanged");
}

#[tokio::test]
async fn ungranted_reaches_are_refused() {
    let app = spawn_app(DbKind::Sqlite).await;
    let plugin = load_plugin(&app, &hostile());
    let bob = Some("bob@northwind.example");
    for (path, expect) in [
        ("/undeclared-collection", "collection deals is not declared"),
        ("/cross-org", "cross_org_read"),
        ("/outbound", "not among the outbound hosts"),
        ("/secret", "secret stripe_key is not declared"),
        ("/set-tier", "directory_write grant"),
    ] {
        let j = json_of(call(&app, &plugin, bob, path).await);
        assert_eq!(j["outcome"], "error", "{path}: {j}");
        let e = j["error"].as_str().unwrap();
        assert!(e.contains("Denied") && e.contains(expect), "{path}: {e}");
    }
    let fs = json_of(call(&app, &plugin, bob, "/filesystem").await);
    assert_eq!(fs["outcome"], "error", "no filesystem: {fs}");
    let env = json_of(call(&app, &plugin, bob, "/environment").await);
    assert_eq!(env["vars"], 0, "no environment: {env}");
    // Nothing changed in the directory.
    let t = app.tenant_id("acme").await;
    let northwind = app.state.db.tenant(&t).user_by_email("bob@northwind.example").await.unwrap().unwrap().org_id;
    assert_eq!(app.state.db.tenant(&t).enrolments_of_org(&northwind).await.unwrap()[0].tier_key, "gold");
}

#[tokio::test]
async fn partners_see_only_their_own_orgs_records() {
    let app = spawn_app(DbKind::Sqlite).await;
    let plugin = load_plugin(&app, &hostile());
    for (who, n) in [("bob@northwind.example", "1"), ("carol@fabrikam.example", "2"), ("carol@fabrikam.example", "3")] {
        assert!(matches!(call(&app, &plugin, Some(who), &format!("/write?n={n}")).await, Ok(Ok(_))));
    }
    assert_eq!(json_of(call(&app, &plugin, Some("bob@northwind.example"), "/count").await)["count"], 1);
    assert_eq!(json_of(call(&app, &plugin, Some("carol@fabrikam.example"), "/count").await)["count"], 2);
    assert_eq!(
        json_of(call(&app, &plugin, Some("manager@acme.example"), "/count").await)["count"],
        3,
        "vendor staff see all"
    );
}

#[tokio::test]
async fn compiled_plugins_are_cached_on_disk_by_content() {
    let app = spawn_app(DbKind::Sqlite).await;
    let cache = app.data_dir.join("cache/plugins");
    let files = || -> Vec<String> {
        std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
    };
    let _ = load_plugin(&app, &hostile());
    let _ = load_plugin(&app, &hostile());
    assert_eq!(files().len(), 1, "the plugin, once: {:?}", files());
    assert!(files().iter().all(|f| f.ends_with(".cwasm")));
}

fn extension(name: &str) -> std::path::PathBuf {
    let path = portico_tests::target_dir().join("debug").join(format!("libportico_test_ext_{name}.so"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p portico-test-ext-{name}` (scripts/test does)",
        path.display()
    );
    path
}

#[tokio::test]
async fn a_granted_plugin_calls_a_native_extension_the_operator_loaded() {
    let path = extension("upper");
    let app = portico_tests::spawn_app_with(DbKind::Sqlite, move |c| c.extensions = vec![path]).await;
    let granted = hostile().manifest_text().replace("[grants]", "[grants]\nextensions = [\"upper\"]");
    app.install(&hostile().package(Some(&granted)), &["reseller"]).await;
    let token = app.client().token("bob@northwind.example", "portico-demo").await;
    let page = app.client().api(reqwest::Method::GET, "/api/v1/p/hostile/extension", Some(&token), None).await;
    let j = page.json();
    assert_eq!(j["outcome"], "ok", "{j}");
    assert!(j["value"].as_str().unwrap().contains("HELLO PARTNERS"));
    let page =
        app.client().api(reqwest::Method::GET, "/api/v1/p/hostile/extension?op=explode", Some(&token), None).await;
    assert!(page.json()["error"].as_str().unwrap().contains("unknown operation explode"));
}

#[tokio::test]
async fn extensions_need_the_grant_and_are_off_unless_configured() {
    // Loaded, but the plugin's manifest does not grant it.
    let path = extension("upper");
    let app = portico_tests::spawn_app_with(DbKind::Sqlite, move |c| c.extensions = vec![path]).await;
    let plugin = load_plugin(&app, &hostile());
    let j = json_of(call(&app, &plugin, None, "/extension").await);
    assert!(j["error"].as_str().unwrap().contains("extension upper is not declared"), "{j}");
    // Granted, but no extension configured: nothing is loaded.
    let app = spawn_app(DbKind::Sqlite).await;
    let granted = hostile().manifest_text().replace("[grants]", "[grants]\nextensions = [\"upper\"]");
    app.install(&hostile().package(Some(&granted)), &["reseller"]).await;
    let token = app.client().token("bob@northwind.example", "portico-demo").await;
    let page = app.client().api(reqwest::Method::GET, "/api/v1/p/hostile/extension", Some(&token), None).await;
    assert!(page.json()["error"].as_str().unwrap().contains("not loaded on this host"));
}

#[test]
fn an_extension_with_an_incompatible_abi_is_refused_naming_both_versions() {
    let e = portico::extensions::Extensions::load(&[extension("future")]).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("2.0.0") && m.contains(portico::extensions::EXTENSION_ABI), "{m}");
    let e =
        portico::extensions::Extensions::load(&[std::path::PathBuf::from("/nonexistent/libnothing.so")]).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/libnothing.so"));
}

/// A NUL character cannot reach a database text column (PostgreSQL refuses one): in an indexed value, a filter or
/// an id it is the plugin's input error, and the invocation's transaction stays usable.
#[tokio::test]
async fn nul_characters_in_indexed_values_and_filters_are_input_errors_on_postgres() {
    let app = spawn_app(DbKind::Postgres).await;
    let plugin = load_plugin(&app, &hostile());
    let inv = invocation(&app, &plugin, None).await;
    let mut req = api_get("/insert");
    req.body = br#"{"n": "a\u0000b"}"#.to_vec();
    let j = json_of(app.state.runtime.handle_http(plugin.clone(), inv, req).await);
    assert_eq!(j["outcome"], "error");
    assert!(j["error"].as_str().unwrap().contains("may not contain a NUL character"), "{j}");
    let j = json_of(call(&app, &plugin, None, "/query?n=a%00b").await);
    assert_eq!(j["outcome"], "error", "{j}");
    assert!(j["error"].as_str().unwrap().contains("NUL"), "{j}");
    // In unindexed data it is just JSON (escaped), stored and read back.
    let inv = invocation(&app, &plugin, None).await;
    let mut req = api_get("/insert");
    req.body = br#"{"n": 5, "note": "a\u0000b"}"#.to_vec();
    let j = json_of(app.state.runtime.handle_http(plugin.clone(), inv, req).await);
    assert_eq!(j["outcome"], "ok", "{j}");
    assert_eq!(rows(&app, "plugin_records").await, 1);
}

#[tokio::test]
async fn an_orgs_logo_reaches_a_plugin_only_for_an_org_it_may_see() {
    let app = spawn_app(DbKind::Sqlite).await;
    let plugin = load_plugin(&app, &hostile());
    let t = app.tenant_id("acme").await;
    let org_of = |email: &'static str| {
        let db = app.state.db.clone();
        let t = t.clone();
        async move { db.tenant(&t).user_by_email(email).await.unwrap().unwrap().org_id }
    };
    let (northwind, fabrikam) = (org_of("bob@northwind.example").await, org_of("carol@fabrikam.example").await);
    let png = b"\x89PNG\r\n\x1a\n-not-really-but-typed-by-its-key".to_vec();
    for org in [&northwind, &fabrikam] {
        let key = format!("tenants/{t}/orgs/{org}/logo-test.png");
        app.state.blobs.put(&key, png.clone()).await.unwrap();
        app.state.db.tenant(&t).set_org_logo(org, Some(&key)).await.unwrap();
    }
    let logo = |who: &'static str, org: String| {
        let (app, plugin) = (&app, &plugin);
        async move { json_of(call(app, plugin, Some(who), &format!("/logo?org={org}")).await) }
    };
    // Its own organisation's, with the type and every byte; another's is as if it had none (no cross-org grant).
    let own = logo("bob@northwind.example", northwind.clone()).await;
    assert_eq!(own["value"], format!("Some((\"image/png\", {}))", png.len()), "{own}");
    assert_eq!(logo("bob@northwind.example", fabrikam.clone()).await["value"], "None");
    // Vendor staff see any organisation's.
    let staff = logo("admin@acme.example", fabrikam).await;
    assert!(staff["value"].as_str().unwrap().starts_with("Some"), "{staff}");
    // An organisation without a logo, or none at all.
    app.state.db.tenant(&t).set_org_logo(&northwind, None).await.unwrap();
    assert_eq!(logo("bob@northwind.example", northwind).await["value"], "None");
    assert_eq!(logo("admin@acme.example", "nobody".into()).await["value"], "None");
}
