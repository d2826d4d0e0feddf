//! `scripts/bench`: prints Portico's performance figures as a table and writes them as JSON.
//!
//! - plugin invocation overhead: instantiate + a no-op call, p50/p99 (µs), in a fresh instance each time, and
//!   the same through the full invoke path (thread hop and bookkeeping included);
//! - a plugin JSON route versus a host-native JSON route, requests/s measured side by side in one run by an
//!   HTTP load generator on loopback (both authenticated by token, both answering a small JSON body);
//! - host start-up with every installed plugin loaded from the compiled-artifact cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_tests::{DbKind, api_get, guestbook, hostile, invocation, load_plugin, spawn_app};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Requests per second of `path` with `concurrency` clients for `dur`.
async fn throughput(base: &str, path: &str, token: &str, concurrency: usize, dur: Duration) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let deadline = Instant::now() + dur;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, token) = (client.clone(), format!("{base}{path}"), token.to_string());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let r = client.get(&url).bearer_auth(&token).send().await.expect("request");
                assert!(r.status().is_success(), "{url}: {}", r.status());
                let _ = r.bytes().await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / dur.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let app = spawn_app(DbKind::Sqlite).await;
    let plugin = load_plugin(&app, &hostile());

    // 1. Invocation overhead.
    let pure =
        app.state.runtime.bench_instantiate_and_call(plugin.clone(), invocation(&app, &plugin, None).await, 5_000);
    let mut pure: Vec<f64> = pure.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    pure.sort_by(f64::total_cmp);
    let mut full = Vec::new();
    for _ in 0..2_000 {
        let inv = invocation(&app, &plugin, None).await;
        let t = Instant::now();
        let r = app.state.runtime.handle_http(plugin.clone(), inv, api_get("/noop")).await;
        full.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(matches!(r, Ok(Ok(_))));
    }
    full.sort_by(f64::total_cmp);

    // 2. Plugin route versus native route, alternating rounds in one run.
    app.install(&hostile().package(None), &["reseller"]).await;
    app.install(&guestbook().package(None), &["reseller"]).await;
    let base = format!("http://127.0.0.1:{}", app.addr.port());
    let token = app.client().token("bob@northwind.example", "portico-demo").await;
    let (mut native, mut plugin_rps) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        native.push(throughput(&base, "/api/v1/me", &token, 16, Duration::from_secs(3)).await);
        plugin_rps.push(throughput(&base, "/api/v1/p/hostile/noop", &token, 16, Duration::from_secs(3)).await);
    }
    let native_rps = native.iter().sum::<f64>() / native.len() as f64;
    let plugin_avg = plugin_rps.iter().sum::<f64>() / plugin_rps.len() as f64;

    // 3. Start-up with the installed plugins from the artifact cache.
    let config = app.state.config.as_ref().clone();
    let db = app.state.db.clone();
    let t = Instant::now();
    let state = portico::AppState::with_db(config, db).await.expect("state");
    let tenant = state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let installed = state.db.tenant(&tenant.id).installed_plugins().await.unwrap();
    for p in &installed {
        portico::plugins::unpacked(&state, p).await.expect("load plugin");
    }
    let startup_ms = t.elapsed().as_secs_f64() * 1000.0;

    let report = serde_json::json!({
        "invocation_instantiate_and_noop_us": { "p50": percentile(&pure, 0.5), "p99": percentile(&pure, 0.99), "n": pure.len() },
        "invocation_full_path_us": { "p50": percentile(&full, 0.5), "p99": percentile(&full, 0.99), "n": full.len() },
        "native_json_route_rps": native_rps,
        "plugin_json_route_rps": plugin_avg,
        "plugin_to_native_ratio": plugin_avg / native_rps,
        "startup_with_plugins_ms": startup_ms,
        "plugins_loaded": installed.len(),
    });
    println!("{:<52} {:>12} {:>12}", "measure", "p50 / value", "p99");
    println!(
        "{:<52} {:>12.1} {:>12.1}",
        "plugin instantiate + no-op call (µs)",
        percentile(&pure, 0.5),
        percentile(&pure, 0.99)
    );
    println!(
        "{:<52} {:>12.1} {:>12.1}",
        "plugin invoke, full path incl. thread hop (µs)",
        percentile(&full, 0.5),
        percentile(&full, 0.99)
    );
    println!("{:<52} {:>12.0}", "native JSON route (req/s, 16 clients)", native_rps);
    println!("{:<52} {:>12.0}", "plugin JSON route (req/s, 16 clients)", plugin_avg);
    println!("{:<52} {:>12.2}", "plugin / native throughput", plugin_avg / native_rps);
    println!("{:<52} {:>12.1}", format!("start-up with {} plugins from cache (ms)", installed.len()), startup_ms);
    let out = std::env::var("BENCH_JSON").unwrap_or_else(|_| "bench.json".into());
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).expect("write report");
    println!("wrote {out}");
    drop(Arc::new(()));
}
