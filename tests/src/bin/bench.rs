//! `scripts/bench`: prints Portico's performance figures as a table and writes them as JSON.
//!
//! - plugin invocation overhead: instantiate + a no-op call, p50/p99 (µs), in a fresh instance each time, and
//!   the same through the full invoke path (thread hop and bookkeeping included);
//! - a plugin JSON route versus a host-native JSON route, requests/s measured side by side in one run by an
//!   HTTP load generator on loopback (both authenticated by token, both answering a small JSON body);
//! - host start-up with every installed plugin loaded from the compiled-artifact cache;
//! - the dashboard with every bundled widget under 50 signed-in users (p50/p99 per request);
//! - the host's resident memory with 100 tenants, each with deal registration enabled and used once;
//! - deal registration at scale: the conflict check and a submit (conflict check, receipt, writes) through the
//!   JSON API with `BENCH_DEALS` (default 1,000,000) existing deals in the tenant, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_tests::{DbKind, api_get, deals, guestbook, hostile, invocation, load_plugin, spawn_app};
use serde_json::{Value, json};

#[path = "../../../plugins/deal-registration/src/matching.rs"]
#[allow(dead_code)]
mod matching;

/// A table row: p50 and p99 of sorted samples.
fn print_percentiles(label: &str, sorted: &[f64]) {
    println!("{label:<52} {:>12.2} {:>12.2}", percentile(sorted, 0.5), percentile(sorted, 0.99));
}

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

const CONSONANTS: &[u8; 20] = b"bcdfghjklmnprstvwxzq";
const VOWELS: &[u8; 5] = b"aeiou";
const WORDS: [&str; 12] = [
    "Systems",
    "Logistics",
    "Foods",
    "Health",
    "Energy",
    "Media",
    "Capital",
    "Retail",
    "Labs",
    "Motors",
    "Bank",
    "Air",
];
const COUNTRIES: [&str; 10] = ["US", "DE", "GB", "FR", "NL", "ES", "IT", "SE", "JP", "BR"];
const PRODUCTS: [&str; 5] =
    ["Edge Router", "Cloud Firewall", "Wi-Fi 7 Access Point", "Managed SD-WAN", "Support Contract"];

/// A synthetic company name and unique domain for deal `i`.
fn company(i: u64) -> (String, String) {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut pick = |n: usize| {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (x % n as u64) as usize
    };
    // Two or three consonant-vowel-consonant syllables: about as varied as real company names' first letters.
    let first: String = (0..2 + pick(2))
        .flat_map(|_| [CONSONANTS[pick(20)] as char, VOWELS[pick(5)] as char, CONSONANTS[pick(20)] as char])
        .collect();
    let word = WORDS[pick(WORDS.len())];
    let mut name = first.clone();
    name[..1].make_ascii_uppercase();
    (format!("{name} {word}"), format!("{first}-{}-{i}.com", word.to_lowercase()))
}

/// A stored deal as the plugin writes it, for the fixture.
fn deal_record(i: u64, org: &(String, String), now: i64) -> serde_json::Map<String, Value> {
    let (name, domain) = company(i);
    let norm = matching::normalize_company(&name);
    let [ka, kb] = matching::name_keys(&norm);
    let status =
        ["submitted", "approved", "approved", "won", "lost", "expired", "rejected", "withdrawn"][(i % 8) as usize];
    let mut d = json!({
        "program": "reseller", "source": "partner", "org_id": org.0, "org_name": org.1, "owner_id": "bench",
        "owner_name": "Bench", "customer_name": name, "customer_domain": domain, "country": COUNTRIES[(i % 10) as usize],
        "amount": 1000 + (i % 500) * 100, "currency": "USD", "products": [PRODUCTS[(i % 5) as usize]],
        "expected_close_date": "2027-06-30", "contact_name": "", "contact_email": "", "notes": "",
        "domain": domain, "name_norm": norm, "name_key_a": ka, "name_key_b": kb, "status": status,
        "created_at": now - (i as i64) * 1000, "registered_at": now - (i as i64) * 1000, "submitted_at": now - (i as i64) * 1000,
        "sla_reminded": false, "approved_at": null, "exclusivity_expires_at": null,
        "policy": { "protection_days": 60, "sla_hours": 48, "reminder_days": 7, "extension_policy": "once",
                    "extension_days": 30, "rejection_reasons": [] },
        "approval": null, "conflicts": [], "extension": null, "extension_pending": false, "extensions_granted": 0,
        "receipts": [], "timeline": [],
    });
    match status {
        "submitted" => d["due_at"] = json!(now + 48 * 3_600_000),
        "approved" => {
            d["expires_at"] = json!(now + 60 * 86_400_000);
            d["exclusivity_expires_at"] = d["expires_at"].clone();
            d["approved_at"] = json!(now);
        }
        _ => {}
    }
    match d {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Submit and conflict-check latencies (ms, sorted) with `n` existing deals, and the seconds seeding took.
async fn deals_at_scale(kind: DbKind, n: u64) -> (Vec<f64>, Vec<f64>, f64) {
    use portico::storage::plugin_data::{IndexSpec, RecordScope, bulk_insert};
    let app = spawn_app(kind).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let scope = app.state.db.tenant(&tenant.id);
    let partners = scope.list_partner_orgs(&portico::domain::ListQuery { q: String::new(), page: None }).await.unwrap();
    let orgs: Vec<(String, String)> = partners.items.into_iter().map(|o| (o.id, o.name)).collect();
    let manifest = deals().manifest();
    let indexes: Vec<IndexSpec> = manifest
        .collection("deals")
        .unwrap()
        .indexes
        .iter()
        .map(|i| IndexSpec { field: i.field.clone(), unique: i.unique })
        .collect();
    let rs = RecordScope { tenant_id: tenant.id.clone(), plugin_id: "deal-registration".into(), org: None };
    let now = portico::domain::now_millis();
    let t = Instant::now();
    let batch = 5_000u64;
    let mut i = 0;
    while i < n {
        let records: Vec<_> = (i..(i + batch).min(n))
            .map(|k| {
                let org = &orgs[(k % orgs.len() as u64) as usize];
                (format!("bench{k:08}"), Some(org.0.clone()), deal_record(k, org, now))
            })
            .collect();
        let mut tx = app.state.db.begin().await.unwrap();
        bulk_insert(&mut tx, &rs, "deals", &records, &indexes, now).await.unwrap();
        tx.commit().await.unwrap();
        i += batch;
        if i % 100_000 == 0 {
            eprintln!("  seeded {i} deals ({:.0} s)", t.elapsed().as_secs_f64());
        }
    }
    app.state.db.analyze().await.unwrap();
    let seed_s = t.elapsed().as_secs_f64();

    let base = format!("http://127.0.0.1:{}", app.addr.port());
    let token = app.client().token("carol@fabrikam.example", "portico-demo").await;
    let client = reqwest::Client::new();
    let (mut checks, mut submits) = (Vec::new(), Vec::new());
    for k in 0..300u64 {
        // Every fourth probe is a customer that exists (a conflict by domain and name); the rest are new.
        let existing = k % 4 == 0;
        let (name, domain) = if existing { company((k * 3_331 % (n / 8).max(1)) * 8) } else { company(n + k) };
        let url = format!("{base}/api/v1/p/deal-registration/conflicts");
        let t = Instant::now();
        let r = client
            .get(&url)
            .query(&[("customer_name", &name), ("customer_domain", &domain)])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
        let found: Value = r.json().await.unwrap();
        checks.push(t.elapsed().as_secs_f64() * 1000.0);
        // A new synthetic name may still resemble an existing one; an existing customer must always be found.
        assert!(!existing || found["conflict"] == true, "{name} {domain}: {found}");
        let body = json!({
            "submit": true, "customer_name": name, "customer_domain": domain, "country": "US", "amount": 25000,
            "currency": "USD", "products": ["Edge Router"], "expected_close_date": "2027-06-30",
        });
        let t = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/p/deal-registration/deals"))
            .json(&body)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "{}", r.text().await.unwrap_or_default());
        let _ = r.bytes().await;
        submits.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    checks.sort_by(f64::total_cmp);
    submits.sort_by(f64::total_cmp);
    (checks, submits, seed_s)
}

/// Latencies (ms, sorted) of the dashboard as the channel manager (who sees every bundled widget), with `users`
/// signed-in clients requesting it back to back for `dur`.
async fn dashboard(app: &portico_tests::TestApp, users: usize, dur: Duration) -> Vec<f64> {
    let mut clients = Vec::new();
    for _ in 0..users {
        let mut c = app.client();
        c.login_ok("manager@acme.example").await;
        clients.push(c);
    }
    let deadline = Instant::now() + dur;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = c.http.get(format!("{}/", c.base)).send().await.expect("dashboard");
                    assert!(r.status().is_success(), "dashboard: {}", r.status());
                    let body = r.text().await.unwrap_or_default();
                    assert!(body.contains("Pending deal approvals") && body.contains("Latest guestbook notes"));
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    all
}

/// This process's resident memory in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Resident memory (MiB) before and after adding `n` tenants, each with deal registration installed, enabled and
/// its deals page and dashboard served once.
async fn memory_with_tenants(app: &portico_tests::TestApp, n: usize) -> (f64, f64) {
    let before = rss_mib();
    let package = deals().package(None);
    for i in 0..n {
        let slug = format!("tenant{i}");
        let email = format!("admin@{slug}.example");
        let id = app.create_tenant(&slug, &email, "bench-password-1").await;
        let tenant = app.state.db.tenant_by_id(&id).await.unwrap().unwrap();
        let tiers = [("member".to_string(), "Member".to_string()), ("gold".to_string(), "Gold".to_string())];
        app.state.db.tenant(&id).create_program("reseller", "Reseller", "", &tiers).await.unwrap();
        let (p, _) = portico::plugins::install(&app.state, &tenant, &package, None).await.unwrap();
        portico::cli::set_enabled(&app.state, &tenant, &p.plugin_id, None, true).await.unwrap();
        let mut c = app.client_for(&format!("{slug}.portico.test"));
        let page = c.login(&email, "bench-password-1").await;
        assert_eq!(page.status, reqwest::StatusCode::SEE_OTHER);
        assert!(c.get("/p/deal-registration/").await.status.is_success());
        assert!(c.get("/").await.status.is_success());
    }
    (before, rss_mib())
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

    // 4. The dashboard with every bundled widget, 50 users.
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    let dash = dashboard(&app, 50, Duration::from_secs(10)).await;

    // 5. Memory with 100 tenants.
    let (rss_before, rss_after) = memory_with_tenants(&app, 100).await;

    // 6. Deal registration with a million deals, on both databases.
    let n: u64 = std::env::var("BENCH_DEALS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let mut scale = serde_json::Map::new();
    let mut rows = Vec::new();
    for (label, kind) in [("sqlite", DbKind::Sqlite), ("postgres", DbKind::Postgres)] {
        eprintln!("seeding {n} deals on {label}…");
        let (checks, submits, seed_s) = deals_at_scale(kind, n).await;
        scale.insert(
            label.into(),
            json!({
                "existing_deals": n, "seed_seconds": seed_s,
                "conflict_check_ms": { "p50": percentile(&checks, 0.5), "p99": percentile(&checks, 0.99), "n": checks.len() },
                "submit_with_conflict_check_ms": { "p50": percentile(&submits, 0.5), "p99": percentile(&submits, 0.99), "n": submits.len() },
            }),
        );
        rows.push((label, checks, submits));
    }

    let report = serde_json::json!({
        "dashboard_50_users_ms": { "p50": percentile(&dash, 0.5), "p99": percentile(&dash, 0.99), "n": dash.len() },
        "rss_mib": { "before_100_tenants": rss_before, "with_100_tenants": rss_after },
        "deal_registration": scale,
        "invocation_instantiate_and_noop_us": { "p50": percentile(&pure, 0.5), "p99": percentile(&pure, 0.99), "n": pure.len() },
        "invocation_full_path_us": { "p50": percentile(&full, 0.5), "p99": percentile(&full, 0.99), "n": full.len() },
        "native_json_route_rps": native_rps,
        "plugin_json_route_rps": plugin_avg,
        "plugin_to_native_ratio": plugin_avg / native_rps,
        "startup_with_plugins_ms": startup_ms,
        "plugins_loaded": installed.len(),
    });
    println!("{:<52} {:>12} {:>12}", "measure", "p50 / value", "p99");
    print_percentiles("plugin instantiate + no-op call (µs)", &pure);
    print_percentiles("plugin invoke, full path incl. thread hop (µs)", &full);
    println!("{:<52} {:>12.0}", "native JSON route (req/s, 16 clients)", native_rps);
    println!("{:<52} {:>12.0}", "plugin JSON route (req/s, 16 clients)", plugin_avg);
    println!("{:<52} {:>12.2}", "plugin / native throughput", plugin_avg / native_rps);
    println!("{:<52} {:>12.1}", format!("start-up with {} plugins from cache (ms)", installed.len()), startup_ms);
    print_percentiles("dashboard, every bundled widget, 50 users (ms)", &dash);
    println!("{:<52} {:>12.0}", "resident memory, demo tenant only (MiB)", rss_before);
    println!("{:<52} {:>12.0}", "resident memory with 100 more tenants (MiB)", rss_after);
    for (label, checks, submits) in &rows {
        print_percentiles(&format!("deal conflict check, {n} deals, {label} (ms)"), checks);
        print_percentiles(&format!("deal submit incl. check, {n} deals, {label} (ms)"), submits);
    }
    let out = std::env::var("BENCH_JSON").unwrap_or_else(|_| "bench.json".into());
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).expect("write report");
    println!("wrote {out}");
    drop(Arc::new(()));
}
