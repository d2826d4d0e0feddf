//! `scripts/bench`: prints Portico's performance figures as a table and writes them as JSON.
//!
//! - plugin invocation overhead: instantiate + a no-op call, p50/p99 (µs), in a fresh instance each time, and
//!   the same through the full invoke path (transaction bookkeeping, metrics and logging included);
//! - a plugin JSON route versus a host-native JSON route, requests/s measured side by side in one run by an
//!   HTTP load generator on loopback (both authenticated by token, both answering a small JSON body);
//! - host start-up with every installed plugin loaded from the compiled-artifact cache;
//! - the dashboard with every bundled widget under 50 signed-in users (p50/p99 per request);
//! - the host's resident memory with 100 tenants, each with deal registration enabled and used once;
//! - what a hostile plugin costs the host: peak resident memory while it receives a 400 MiB answer and while its
//!   template tries to print 100 MB (each bounded by its cap), and how long a CPU-burning template runs before
//!   its deadline stops it;
//! - what feature plugins lean on, on SQLite and PostgreSQL: a 1 GiB file uploaded through a plugin route and
//!   downloaded from its link (the host's peak resident memory growth and throughput), full-text search over
//!   `BENCH_DOCS` (default 100,000) documents through a plugin route, and plugin storage with `BENCH_ROWS`
//!   (default 1,000,000) records: one partner's first page ordered by a field (the partner holding a fifth), and
//!   a two-filter query whose first filter matches half the records and whose second matches ten;
//! - the training plugin: its catalogue's first page with `BENCH_COURSES` (default 1,000) courses, and a learner's
//!   "my learning" among `BENCH_ENROLMENTS` (default 100,000) enrolments, as pages, on SQLite and PostgreSQL;
//! - co-branding: a batch run making `BENCH_PARTNERS` (default 500) partners' PDFs (ms per PDF), and one
//!   partner's PDF through the JSON API, on SQLite and PostgreSQL;
//! - market development funds: a partner's balance with `BENCH_LEDGER` (default 100,000) ledger entries in the
//!   budget, and 20 concurrent approvals against a budget that holds 10 of them, on SQLite and PostgreSQL;
//! - deal registration at scale: the conflict check and a submit (conflict check, receipt, writes) through the
//!   JSON API with `BENCH_DEALS` (default 1,000,000) existing deals, each with its receipt in the chain, in the
//!   tenant, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_tests::{
    DbKind, api_get, capabilities, co_branding, content, deals, guestbook, hostile, incentives, invocation, lms,
    load_plugin, mdf, spawn_app,
};
use serde_json::{Value, json};

/// The allocator the `portico` binary uses, so the in-process server measures as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../../../plugins/deal-registration/src/matching.rs"]
#[allow(dead_code)]
mod matching;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// What `wrk` measured: requests/s and latency percentiles (ms).
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
}

/// Drives `url` with `wrk`, a load generator in its own process, over `connections` keep-alive connections for
/// `dur`; every answer must be a success.
fn wrk(url: &str, header: &str, connections: usize, dur: Duration) -> Load {
    let out = std::process::Command::new("wrk")
        .args(["-t", "2", "-c", &connections.to_string(), "-d", &format!("{}s", dur.as_secs()), "--latency"])
        .args(["-H", header, url])
        .output()
        .expect("wrk (the load generator) must be installed: apt-get install wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !text.contains("Non-2xx"), "wrk {url} failed:\n{text}");
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("wrk printed no {prefix}:\n{text}"))
    };
    let ms = |v: String| {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = num.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => f64::NAN,
        }
    };
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0);
    Load {
        rps: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        p50_ms: ms(field("50%")),
        p99_ms: ms(field("99%")),
        requests,
    }
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

/// When fixture deal `i` was submitted: a second apart, the last one a little before `now`.
fn submitted_at(i: u64, n: u64, now: i64) -> i64 {
    now - (n - i) as i64 * 1000
}

/// A stored deal as the plugin writes it, for the fixture; deal `i` of `n` was submitted `i`-th, with receipt `i + 1`.
fn deal_record(i: u64, n: u64, org: &(String, String), now: i64) -> serde_json::Map<String, Value> {
    let at = |i| submitted_at(i, n, now);
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
        "created_at": at(i), "registered_at": at(i), "submitted_at": at(i),
        "sla_reminded": false, "approved_at": null, "exclusivity_expires_at": null,
        "policy": { "protection_days": 60, "sla_hours": 48, "reminder_days": 7, "extension_policy": "once",
                    "extension_days": 30, "rejection_reasons": [] },
        "approval": null, "conflicts": [], "extension": null, "extension_pending": false, "extensions_granted": 0,
        "receipts": [i + 1], "timeline": [],
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

/// Receipt `i + 1` of the fixture's chain, for deal `i`, linked to the previous receipt's hash (the plugin's
/// hashing rule: SHA-256 of the fields in order as a JSON array; the content hash stands in for the deal's).
fn receipt_record(i: u64, n: u64, org: &(String, String), now: i64, prev_hash: &str) -> serde_json::Map<String, Value> {
    use sha2::{Digest, Sha256};
    let sha = |v: Value| hex::encode(Sha256::digest(v.to_string().as_bytes()));
    let (name, domain) = company(i);
    let at = submitted_at(i, n, now);
    let submitted = chrono::DateTime::from_timestamp_millis(at).unwrap().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let deal_id = format!("bench{i:08}");
    let content_hash = sha(json!([deal_id, name, domain]));
    let body = json!([1, "acme", i + 1, deal_id, org.0, name, domain, submitted, at, content_hash, prev_hash]);
    let hash = sha(body);
    match json!({
        "version": 1, "portal": "acme", "seq": i + 1, "deal_id": deal_id, "org_id": org.0, "customer_name": name,
        "customer_domain": domain, "submitted_at": submitted, "submitted_at_ms": at, "content_hash": content_hash,
        "prev_hash": prev_hash, "hash": hash,
    }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Submit and conflict-check latencies (ms, sorted) with `n` existing deals, and the seconds seeding took.
/// The indexes a plugin's manifest declares for a collection, to seed its storage as the host keeps it.
fn indexes(plugin: &portico_tests::PluginSource, collection: &str) -> Vec<portico::storage::plugin_data::IndexSpec> {
    let manifest = plugin.manifest();
    let c = manifest.collection(collection).expect("the manifest declares the collection");
    c.indexes
        .iter()
        .map(|i| portico::storage::plugin_data::IndexSpec { field: i.field.clone(), unique: i.unique })
        .collect()
}

async fn deals_at_scale(kind: DbKind, n: u64) -> (Vec<f64>, Vec<f64>, f64) {
    use portico::storage::plugin_data::{RecordScope, bulk_insert};
    let app = spawn_app(kind).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let scope = app.state.db.tenant(&tenant.id);
    let partners = scope.list_partner_orgs(&portico::domain::ListQuery { q: String::new(), page: None }).await.unwrap();
    let orgs: Vec<(String, String)> = partners.items.into_iter().map(|o| (o.id, o.name)).collect();
    let (deal_indexes, receipt_indexes) = (indexes(&deals(), "deals"), indexes(&deals(), "receipts"));
    let mut prev_hash = "0".repeat(64);
    let rs = RecordScope { tenant_id: tenant.id.clone(), plugin_id: "deal-registration".into(), org: None };
    let now = portico::domain::now_millis();
    let t = Instant::now();
    let batch = 5_000u64;
    let mut i = 0;
    while i < n {
        let (mut records, mut receipts) = (Vec::new(), Vec::new());
        for k in i..(i + batch).min(n) {
            let org = &orgs[(k % orgs.len() as u64) as usize];
            records.push((format!("bench{k:08}"), Some(org.0.clone()), deal_record(k, n, org, now)));
            let receipt = receipt_record(k, n, org, now, &prev_hash);
            prev_hash = receipt["hash"].as_str().unwrap().to_string();
            receipts.push((format!("{:012}", k + 1), Some(org.0.clone()), receipt));
        }
        let mut tx = app.state.db.begin().await.unwrap();
        bulk_insert(&mut tx, &rs, "deals", &records, &deal_indexes, now).await.unwrap();
        bulk_insert(&mut tx, &rs, "receipts", &receipts, &receipt_indexes, now).await.unwrap();
        tx.commit().await.unwrap();
        i += batch;
        if i % 100_000 == 0 {
            eprintln!("  seeded {i} deals and their receipts ({:.0} s)", t.elapsed().as_secs_f64());
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

/// Sorted latencies in ms as p50/p99 JSON.
fn spread(ms: &[f64]) -> Value {
    json!({ "p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99), "n": ms.len() })
}

/// A 1 GiB file uploaded through a plugin route (streamed to the blob store) and downloaded from the link the
/// plugin makes: the peak growth of this process's resident memory over its size before each (MiB), and each
/// direction's throughput (MiB/s).
async fn large_file(kind: DbKind) -> [f64; 4] {
    const MIB: usize = 1 << 20;
    const SIZE: usize = 1024 * MIB;
    let app = spawn_app(kind).await;
    app.install(&capabilities().package(None), &["reseller", "msp"]).await;
    let token = app.client().token("bob@northwind.example", portico::demo::DEMO_PASSWORD).await;
    let c = app.client();
    let chunk = bytes::Bytes::from(vec![b'p'; MIB]);
    let body = reqwest::Body::wrap_stream(futures::stream::iter(
        (0..SIZE / MIB).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    ));
    let part = reqwest::multipart::Part::stream_with_length(body, SIZE as u64).file_name("big.bin");
    let form = reqwest::multipart::Form::new().part("file", part);
    reset_peak();
    let before = rss_mib();
    let t = Instant::now();
    let res = c
        .http
        .post(format!("{}/api/v1/p/capabilities/upload-large", c.base))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
    let up_s = t.elapsed().as_secs_f64();
    let up_growth = peak_mib() - before;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["files"][0]["size"], SIZE as u64);
    let key = body["files"][0]["key"].as_str().unwrap().to_string();
    let link = c
        .api(reqwest::Method::GET, &format!("/api/v1/p/capabilities/link?key={key}&name=big.bin"), Some(&token), None)
        .await
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    reset_peak();
    let before = rss_mib();
    let t = Instant::now();
    let mut res = c.http.get(format!("{}{link}", c.base)).bearer_auth(&token).send().await.unwrap();
    let mut got = 0usize;
    while let Some(chunk) = res.chunk().await.unwrap() {
        got += chunk.len();
    }
    assert_eq!(got, SIZE);
    let down_s = t.elapsed().as_secs_f64();
    let down_growth = peak_mib() - before;
    [up_growth, down_growth, 1024.0 / up_s, 1024.0 / down_s]
}

/// A word with a capital first letter.
fn capitalized(w: &str) -> String {
    let mut c = w.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Words of the search fixture: pronounceable, a few thousand of them, used with a skewed frequency.
fn word(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut s = String::new();
    for _ in 0..3 {
        x = x.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        s.push(CONSONANTS[(x % 20) as usize] as char);
        s.push(VOWELS[((x >> 8) % 5) as usize] as char);
    }
    s
}

/// Full-text search over `n` documents through the capabilities plugin's route (the plugin's invocation and the
/// host's query together), as a partner whose labels admit about half of them: latencies in ms, sorted.
async fn search_at_scale(kind: DbKind, n: u64) -> (Vec<f64>, f64) {
    use portico::storage::search::{SearchDoc, SearchScope, index};
    let app = spawn_app(kind).await;
    app.install(&capabilities().package(None), &["reseller", "msp"]).await;
    let tenant = app.tenant_id("acme").await;
    let scope = SearchScope { tenant_id: &tenant, plugin_id: "capabilities" };
    let backend = app.state.db.backend();
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let mut tx = app.state.db.begin().await.unwrap();
        for k in i..(i + 2_000).min(n) {
            // Zipf-like: low word numbers are common, high ones rare.
            let pick = |j: u64| word((k * 7_919 + j * 104_729) % 4_000 / (1 + (k + j) % 7));
            let doc = SearchDoc {
                id: format!("d{k}"),
                title: format!("{} {} guide", pick(1), pick(2)),
                text: (0..60).map(pick).collect::<Vec<_>>().join(" "),
                tags: vec![["video", "pdf", "course"][(k % 3) as usize].into()],
                labels: vec![format!("tier:{}", ["gold", "silver"][(k % 2) as usize])],
                org_id: None,
            };
            index(&mut tx, backend, scope, &doc, 0).await.unwrap();
        }
        tx.commit().await.unwrap();
        i += 2_000;
    }
    app.state.db.analyze().await.unwrap();
    let seed_s = t.elapsed().as_secs_f64();
    let groups = url::form_urlencoded::byte_serialize(r#"[["tier:gold"]]"#.as_bytes()).collect::<String>();
    let ms = timed_searches(&app, |q| format!("/api/v1/p/capabilities/find?q={q}&groups={groups}")).await;
    (ms, seed_s)
}

/// 300 searches as Bob (a gold partner user), a third each single words, two words and prefixes of the fixture's
/// words, at the path `path_for` gives for the encoded query: latencies in ms, sorted.
async fn timed_searches(app: &portico_tests::TestApp, path_for: impl Fn(&str) -> String) -> Vec<f64> {
    let token = app.client().token("bob@northwind.example", portico::demo::DEMO_PASSWORD).await;
    let c = app.client();
    let mut ms = Vec::new();
    for q in 0..300u64 {
        let text = match q % 3 {
            0 => word(q * 13 % 500),
            1 => format!("{} {}", word(q * 13 % 500), word(q * 31 % 2_000)),
            _ => format!("{}*", &word(q * 17 % 1_000)[..3]),
        };
        let enc = url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let url = format!("{}{}", c.base, path_for(&enc));
        let t = Instant::now();
        let r = c.http.get(url).bearer_auth(&token).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
        let _ = r.bytes().await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    ms
}

/// Co-branding at scale: `n` reseller partners with a logo, the demo flyer as a published PDF template, and a batch
/// run for the program through the plugin's JSON route, its chunks delivered as the job runner does. The time per
/// PDF (the whole run over `n`: the vendor's PDF parsed once per chunk, each partner's logo read and embedded, the
/// PDF written to the blob store and recorded), and 30 single partner generations (ms, sorted) beside it.
async fn co_branding_at_scale(kind: DbKind, n: usize) -> (f64, f64, Vec<f64>) {
    use reqwest::multipart::{Form, Part};
    let app = spawn_app(kind).await;
    app.install(&co_branding().package(None), &["reseller", "msp"]).await;
    let t = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&t);
    let reseller = scope.program_by_key("reseller").await.unwrap();
    let silver = reseller.tiers.iter().find(|t| t.key == "silver").unwrap().id.clone();
    let logo = include_bytes!("../../../host/demo/northwind-logo.png").to_vec();
    let mut orgs: Vec<String> = Vec::new();
    for i in 0..n {
        let p = portico::domain::OrgProfile {
            name: format!("Reseller {i:04} Networks"),
            phone: format!("+1 555 {i:04}"),
            address: format!("{i} Market Street, Springfield"),
            website: format!("https://reseller{i}.example"),
            ..Default::default()
        };
        let org = scope.create_org(portico::domain::OrgKind::Partner, &p).await.unwrap();
        scope.enrol(&org.id, &reseller.id, &silver).await.unwrap();
        let key = format!("tenants/{t}/orgs/{}/logo-bench.png", org.id);
        app.state.blobs.put(&key, logo.clone()).await.unwrap();
        scope.set_org_logo(&org.id, Some(&key)).await.unwrap();
        orgs.push(org.id);
    }
    let northwind = scope.user_by_email("bob@northwind.example").await.unwrap().unwrap().org_id;
    let key = format!("tenants/{t}/orgs/{northwind}/logo-bench.png");
    app.state.blobs.put(&key, logo.clone()).await.unwrap();
    scope.set_org_logo(&northwind, Some(&key)).await.unwrap();

    let c = app.client();
    let admin = c.token("admin@acme.example", "portico-demo").await;
    let demo: Value =
        serde_json::from_str(include_str!("../../../plugins/co-branding/demo.json")).expect("the demo steps");
    let areas = demo[0]["body"]["areas"].as_str().unwrap().to_string();
    let flyer = include_bytes!("../../../plugins/co-branding/demo/cloud-firewall-flyer.pdf").to_vec();
    let form = Form::new()
        .text("name", "Cloud Firewall flyer")
        .text("kind", "pdf")
        .text("areas", areas)
        .part("file", Part::bytes(flyer).file_name("flyer.pdf"));
    let page = c.api_multipart("/api/v1/p/co-branding/templates", &admin, form).await;
    assert_eq!(page.status, reqwest::StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/p/co-branding/templates/{id}");
    let page = c.api(reqwest::Method::PUT, &path, Some(&admin), Some(json!({ "status": "published" }))).await;
    assert!(page.status.is_success(), "{}", page.body);

    let started = Instant::now();
    let page = c
        .api(reqwest::Method::POST, &format!("{path}/batch"), Some(&admin), Some(json!({ "program": "reseller" })))
        .await;
    assert!(page.status.is_success(), "{}", page.body);
    let batch = page.json()["id"].as_str().unwrap().to_string();
    loop {
        portico::plugins::jobs::deliver_due(&app.state, 10).await.unwrap();
        let b =
            c.api(reqwest::Method::GET, &format!("/api/v1/p/co-branding/batches/{batch}"), Some(&admin), None).await;
        if b.json()["finished"] == true {
            assert_eq!(b.json()["made"].as_u64(), Some(n as u64 + 1), "{}", b.body);
            break;
        }
    }
    let total = started.elapsed().as_secs_f64();
    let bob = c.token("bob@northwind.example", "portico-demo").await;
    let mut single = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let page =
            c.api(reqwest::Method::POST, &format!("{path}/generate"), Some(&bob), Some(json!({ "values": {} }))).await;
        assert_eq!(page.status, reqwest::StatusCode::CREATED, "{}", page.body);
        single.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    single.sort_by(f64::total_cmp);
    // Northwind and Fabrikam are reseller partners too (Fabrikam without a logo, listed): n + 1 PDFs made.
    (total * 1000.0 / (n as f64 + 1.0), total, single)
}

/// Market development funds at scale: a budget whose ledger holds `entries` entries for Northwind (bulk-seeded as
/// the plugin writes them: allocations and the reservations and releases of past requests, the bucket's running
/// totals set to what they add up to), then Bob's balance through the JSON API 300 times (the plugin reads the
/// running totals, never the entries); and 20 requests approved by 20 concurrent approvers against a budget that
/// holds 10 of them (each approval a read and a revision-checked write of the balance, retried when another
/// approval moved it). Latencies in ms, sorted; the number approved.
async fn mdf_at_scale(kind: DbKind, entries: u64) -> (Vec<f64>, Vec<f64>, usize) {
    use portico::storage::plugin_data::{RecordScope, bulk_insert};
    let app = spawn_app(kind).await;
    app.install(&mdf().package(None), &["reseller", "msp"]).await;
    let c = app.client();
    let admin = c.token("admin@acme.example", "portico-demo").await;
    let bob = c.token("bob@northwind.example", "portico-demo").await;
    let day = |d: i64| {
        chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms() + d * 86_400_000)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let budget = |amount: &str| {
        json!({ "name": "Bench", "program": "reseller", "currency": "USD", "pct": 100, "starts": day(-1),
                "ends": day(90), "mode": "allocated",
                "allocations": [{ "org_name": "Northwind Solutions", "amount": amount }] })
    };
    let page = c.api(reqwest::Method::POST, "/api/v1/p/mdf/budgets", Some(&admin), Some(budget("1,000,000.00"))).await;
    assert!(page.status.is_success(), "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let org = app.demo_user("bob@northwind.example").await.org_id;
    let tenant = app.tenant_id("acme").await;
    let rs = RecordScope { tenant_id: tenant, plugin_id: "mdf".into(), org: None };
    let indexes = indexes(&mdf(), "ledger");
    let now = portico::domain::now_millis();
    let mut i = 0;
    while i < entries {
        let mut tx = app.state.db.begin().await.unwrap();
        let rows: Vec<_> = (i..(i + 2_000).min(entries))
            .map(|k| {
                let kind = if k % 2 == 0 { "reservation" } else { "release" };
                let e = json!({ "budget_id": id, "bucket": format!("org:{org}"), "org_id": org, "kind": kind,
                                "amount": 100, "currency": "USD", "request_id": format!("r{}", k / 2), "note": "bench",
                                "by": "bench", "at": now - (entries - k) as i64 });
                (format!("e{k:07}"), Some(org.clone()), e.as_object().unwrap().clone())
            })
            .collect();
        bulk_insert(&mut tx, &rs, "ledger", &rows, &indexes, now).await.unwrap();
        tx.commit().await.unwrap();
        i += 2_000;
    }
    app.state.db.analyze().await.unwrap();
    let mut balance = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let page = c.api(reqwest::Method::GET, "/api/v1/p/mdf/balance", Some(&bob), None).await;
        assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
        balance.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    balance.sort_by(f64::total_cmp);
    // 20 approvals at once against a budget that holds 10.
    let page = c.api(reqwest::Method::POST, "/api/v1/p/mdf/budgets", Some(&admin), Some(budget("10,000.00"))).await;
    let small = page.json()["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for n in 0..20 {
        let body = json!({ "budget_id": small, "activity_type": "Event", "activity": format!("Event {n}"),
                           "starts": day(0), "ends": day(1), "total_cost": "1,000", "asked": "1,000", "submit": true });
        let page = c.api(reqwest::Method::POST, "/api/v1/p/mdf/requests", Some(&bob), Some(body)).await;
        assert_eq!(page.status, reqwest::StatusCode::CREATED, "{}", page.body);
        ids.push(page.json()["id"].as_str().unwrap().to_string());
    }
    let timed = ids.iter().map(|r| {
        let (c, admin, path) = (&c, &admin, format!("/api/v1/p/mdf/requests/{r}/approve"));
        async move {
            let t = Instant::now();
            let page = c.api(reqwest::Method::POST, &path, Some(admin), Some(json!({}))).await;
            (t.elapsed().as_secs_f64() * 1000.0, page.status == reqwest::StatusCode::OK)
        }
    });
    let results = futures::future::join_all(timed).await;
    let approved = results.iter().filter(|r| r.1).count();
    let mut approve: Vec<f64> = results.into_iter().map(|r| r.0).collect();
    approve.sort_by(f64::total_cmp);
    (balance, approve, approved)
}

/// Tiers and incentives at scale: `orgs` partner organisations enrolled in the reseller program (bulk-inserted into
/// the directory), `deals` deals as the plugin stores them (one record each) and what they add up to per partner and
/// month (the `facts` the events build, a year of approvals, wins and revenue in two currencies), and criteria on
/// three metrics. Then the daily recalculation, timed from the schedule's run until its last chunk is delivered: every
/// partner's figures over the rolling year, its standing written, and the proposals its figures call for. Returns
/// the total seconds, the seed seconds and the proposals made.
async fn incentives_at_scale(kind: DbKind, orgs: u64, deals: u64) -> (f64, f64, u64) {
    use portico::storage::plugin_data::{RecordScope, bulk_insert};
    let app = spawn_app(kind).await;
    app.install(&incentives().package(None), &["reseller", "msp"]).await;
    let c = app.client();
    let admin = c.token("admin@acme.example", "portico-demo").await;
    let criteria = json!({ "program": "reseller", "rolling_months": 12, "currency": "USD", "exchange_rates": ["EUR=1.08"],
        "grace_days": 60, "rebates": { "silver": "2", "gold": "3.5" },
        "metrics": [
            { "key": "won_revenue", "label": "Won revenue", "thresholds": { "silver": "100,000", "gold": "400,000" } },
            { "key": "approved_deals", "label": "Approved registrations", "thresholds": { "silver": 40, "gold": 80 } },
            { "key": "won_deals", "label": "Won deals", "thresholds": { "silver": 10, "gold": 30 } } ] });
    let page = c.api(reqwest::Method::PUT, "/api/v1/p/incentives/criteria", Some(&admin), Some(criteria)).await;
    assert!(page.status.is_success(), "{}", page.body);
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let program = scope.program_by_key("reseller").await.unwrap();
    let tiers = scope.tiers(&program.id).await.unwrap();
    let t = Instant::now();
    let now = portico::domain::now_millis();
    let ids: Vec<String> = (0..orgs).map(|i| format!("bench-org-{i:05}")).collect();
    for chunk in ids.chunks(500) {
        let orgs_sql: Vec<String> =
            chunk.iter().map(|id| format!("('{id}', '{tenant}', 'partner', 'Partner {id}', {now})")).collect();
        let enrol_sql: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| format!("('{tenant}', '{id}', '{}', '{}', {now})", program.id, tiers[i % tiers.len()].id))
            .collect();
        app.state
            .db
            .execute_raw(&format!(
                "INSERT INTO orgs (id, tenant_id, kind, name, created_at) VALUES {};                  INSERT INTO enrolments (tenant_id, org_id, program_id, tier_id, enrolled_at) VALUES {}",
                orgs_sql.join(", "),
                enrol_sql.join(", ")
            ))
            .await
            .unwrap();
    }
    let rs = RecordScope { tenant_id: tenant.clone(), plugin_id: "incentives".into(), org: None };
    let fact_indexes = indexes(&incentives(), "facts");
    let months: Vec<String> = (0..12)
        .map(|m| {
            chrono::DateTime::from_timestamp_millis(now - m * 30 * 86_400_000).unwrap().format("%Y-%m").to_string()
        })
        .collect();
    let per_org = deals / orgs.max(1);
    let mut k = 0_u64;
    for (n, chunk) in ids.chunks(1_000).enumerate() {
        let mut tx = app.state.db.begin().await.unwrap();
        // Each partner's deals spread over the year: as many approved, a third won, half of those in euros.
        let facts: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let scale = (n * 1_000 + i) as u64 % 7 + 1;
                let mut month_map = serde_json::Map::new();
                for (m, month) in months.iter().enumerate() {
                    let approved = (per_org * scale / 4 / 12).max(1) + (m as u64 % 2);
                    let won = approved / 3;
                    month_map.insert(
                        month.clone(),
                        json!({ "approved": approved, "won": won,
                        "revenue": { "USD": won * 1_500_000, "EUR": won * 900_000 } }),
                    );
                }
                let f = json!({ "org_id": id, "programs": { "reseller": { "months": month_map } }, "certified": {} });
                (id.clone(), Some(id.clone()), f.as_object().unwrap().clone())
            })
            .collect();
        bulk_insert(&mut tx, &rs, "facts", &facts, &fact_indexes, now).await.unwrap();
        tx.commit().await.unwrap();
        // The deals themselves, as the events stored them (never read by a recalculation).
        let mut rows = Vec::new();
        for id in chunk {
            for _ in 0..per_org {
                let d = json!({ "org_id": id, "org_name": format!("Partner {id}"), "program": "reseller", "customer": "Bench",
                    "currency": "USD", "amount": 1_500_000, "products": ["Edge Router"], "approved_month": months[k as usize % 12],
                    "won_month": null, "won_amount": 0 });
                rows.push((format!("d{k:07}"), Some(id.clone()), d.as_object().unwrap().clone()));
                k += 1;
            }
        }
        for part in rows.chunks(5_000) {
            let mut tx = app.state.db.begin().await.unwrap();
            bulk_insert(&mut tx, &rs, "deals", part, &[], now).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
    app.state.db.analyze().await.unwrap();
    let seed = t.elapsed().as_secs_f64();
    // The daily run: the schedule lists the program's partners and does the first chunk; the rest are its own
    // events, delivered until none is left.
    // A day on: the schedule is due.
    app.state.clock.advance(86_400_000);
    let t = Instant::now();
    portico::plugins::jobs::run_schedules(&app.state, app.state.clock.now_ms()).await.unwrap();
    while portico::plugins::jobs::deliver_due(&app.state, 1_000).await.unwrap() > 0 {}
    let total = t.elapsed().as_secs_f64();
    let standings = app
        .test_db
        .scalar("SELECT COUNT(*) FROM plugin_records WHERE plugin_id = 'incentives' AND collection = 'standings'")
        .await;
    assert!(standings as u64 >= orgs, "{standings} standings for {orgs} partners");
    let proposals = app
        .test_db
        .scalar("SELECT COUNT(*) FROM plugin_records WHERE plugin_id = 'incentives' AND collection = 'proposals'")
        .await;
    (total, seed, proposals as u64)
}

/// The content library at scale: `n` assets seeded as the plugin writes them (records, and search documents with
/// their access labels and 60 words of "extracted" text), a quarter of them for gold partners only and a tenth
/// expired; then, as Bob (a gold partner user), 300 searches through the plugin's JSON route (the plugin's
/// invocation, the host's query, and the plugin reading every hit again to check its access). Latencies in ms,
/// sorted, and the seed time.
async fn content_at_scale(kind: DbKind, n: u64) -> (Vec<f64>, f64) {
    use portico::storage::plugin_data::{RecordScope, bulk_insert};
    use portico::storage::search::{SearchDoc, SearchScope, index};
    let app = spawn_app(kind).await;
    app.install(&content().package(None), &["reseller", "msp"]).await;
    let tenant = app.tenant_id("acme").await;
    let rs = RecordScope { tenant_id: tenant.clone(), plugin_id: "content".into(), org: None };
    let scope = SearchScope { tenant_id: &tenant, plugin_id: "content" };
    let backend = app.state.db.backend();
    let indexes = indexes(&content(), "assets");
    let now = portico::domain::now_millis();
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let mut tx = app.state.db.begin().await.unwrap();
        let mut rows = Vec::new();
        for k in i..(i + 2_000).min(n) {
            let pick = |j: u64| word((k * 7_919 + j * 104_729) % 4_000 / (1 + (k + j) % 7));
            let gold = k % 4 == 0;
            let expired = k % 10 == 0;
            let title = format!("{} {} brochure", pick(1), pick(2));
            let tag = ["pdf", "video", "deck"][(k % 3) as usize];
            let tiers: Vec<&str> = if gold { vec!["gold"] } else { vec![] };
            let a = json!({ "title": title, "description": format!("About {}", pick(3)), "language": "en",
                "tags": [tag], "versions": [{ "n": 1, "key": format!("k{k}"),
                "filename": "a.pdf", "content_type": "application/pdf", "size": 1000 }], "current": 1,
                "access": { "tiers": tiers }, "expires_at": if expired { Some(now - 1) } else { None },
                "live_at": now - k as i64, "created_at": now - k as i64, "updated_at": now - k as i64, "opened": 0,
                "views": 0, "downloads": 0 });
            rows.push((format!("asset{k:06}"), None, a.as_object().unwrap().clone()));
            let mut labels = vec!["program:*".to_string(), "role:*".to_string(), "lang:en".to_string()];
            labels.push(if gold { "tier:gold".into() } else { "tier:*".into() });
            labels.push(if expired { "state:expired".into() } else { "state:live".into() });
            let doc = SearchDoc {
                id: format!("asset{k:06}"),
                title,
                text: (0..60).map(pick).collect::<Vec<_>>().join(" "),
                tags: vec![tag.into()],
                labels,
                org_id: None,
            };
            index(&mut tx, backend, scope, &doc, 0).await.unwrap();
        }
        bulk_insert(&mut tx, &rs, "assets", &rows, &indexes, now).await.unwrap();
        tx.commit().await.unwrap();
        i += 2_000;
    }
    app.state.db.analyze().await.unwrap();
    let seed_s = t.elapsed().as_secs_f64();
    let ms = timed_searches(&app, |q| format!("/api/v1/p/content/assets?q={q}")).await;
    (ms, seed_s)
}

/// The Salesforce connector pulling `n` changed opportunities from the local Salesforce and applying each to its
/// synced deal (matched by its link, decided field by field, published for deal registration), through "Sync now"
/// until all are done: records per second, and the seconds it took.
async fn crm_pull(kind: DbKind, n: u64) -> (f64, f64) {
    use portico_tests::crm::salesforce::{self as fake, FakeSalesforce};
    let sf = FakeSalesforce::start().await;
    let app =
        portico_tests::spawn_app_with(kind, |c| c.runtime.outbound_allow = vec!["127.0.0.0/8".parse().unwrap()]).await;
    app.install(&deals().package(None), &["reseller"]).await;
    let src = portico_tests::crm_salesforce();
    let manifest = src.manifest_text().replace("outbound_hosts = [", "outbound_hosts = [\"127.0.0.1\", ");
    app.install(&src.package(Some(&manifest)), &["reseller"]).await;
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let scope = app.state.db.tenant(&tenant.id);
    let program = scope.program_by_key("reseller").await.unwrap();
    let settings = json!({ "login_url": sf.base, "client_id": fake::CLIENT_ID, "conflict_policy": "crm_wins" });
    scope.set_plugin_settings("crm-salesforce", &program.id, &settings.to_string()).await.unwrap();
    for (name, value) in [("client_secret", fake::CLIENT_SECRET), ("refresh_token", fake::REFRESH_TOKEN)] {
        portico::plugins::set_secret(&app.state, &tenant, "crm-salesforce", name, Some(value), None).await.unwrap();
    }
    portico_tests::crm::seed_synced_salesforce(&app, &sf, n).await;
    let c = app.client();
    let admin = c.token("admin@acme.example", portico::demo::DEMO_PASSWORD).await;
    let t = Instant::now();
    let mut applied = 0;
    for _ in 0..100 {
        let r = c.api(reqwest::Method::POST, "/api/v1/p/crm-salesforce/sync", Some(&admin), None).await;
        assert!(r.status.is_success(), "{}", r.body);
        let pulled = r.json()["pulled"].as_u64().unwrap_or(0);
        applied += pulled;
        if applied >= n || pulled == 0 {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(applied, n, "every changed opportunity applied once");
    (n as f64 / secs, secs)
}

/// The training plugin at scale: `courses` published courses and `enrolments` enrolments, seeded into its storage
/// as the plugin writes them; then, as Bob (a partner user with 20 enrolments), the catalogue's first page and
/// "my learning", 300 times each, through the host's page route. Latencies in ms, sorted, and the seed time.
async fn lms_at_scale(kind: DbKind, courses: u64, enrolments: u64) -> (Vec<f64>, Vec<f64>, f64) {
    use portico::storage::plugin_data::{RecordScope, bulk_insert};
    let app = spawn_app(kind).await;
    app.install(&lms().package(None), &["reseller", "msp"]).await;
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let scope = app.state.db.tenant(&tenant.id);
    let bob = scope.user_by_email("bob@northwind.example").await.unwrap().unwrap();
    let partners = scope.list_partner_orgs(&portico::domain::ListQuery { q: String::new(), page: None }).await.unwrap();
    let orgs: Vec<(String, String)> = partners.items.into_iter().map(|o| (o.id, o.name)).collect();
    let indexes = |c: &str| indexes(&lms(), c);
    let rs = RecordScope { tenant_id: tenant.id.clone(), plugin_id: "lms".into(), org: None };
    let now = portico::domain::now_millis();
    let t = Instant::now();
    let lesson = |i: u64| {
        json!({ "id": format!("l{i}"), "title": format!("Lesson {i}"),
                                   "content": { "kind": "text", "markdown": "Read this." } })
    };
    let outline = |k: u64| {
        json!({ "title": format!("Course {k:04}"), "summary": format!("What course {k} teaches."),
                                    "lessons": [lesson(1), lesson(2), lesson(3)] })
    };
    let (mut course_rows, mut versions) = (Vec::new(), Vec::new());
    for k in 0..courses {
        let id = format!("course{k:05}");
        let tag = ["routing", "security", "sales"][(k % 3) as usize];
        let c = json!({ "status": "published", "draft": outline(k), "tags": [tag],
            "minutes": 30, "version": 1, "title": format!("Course {k:04}"), "summary": format!("What course {k} teaches."),
            "lesson_count": 3, "created_at": now - k as i64, "updated_at": now - k as i64, "published_at": now - k as i64 });
        course_rows.push((id.clone(), None, c.as_object().unwrap().clone()));
        let v = json!({ "course_id": id, "version": 1, "outline": outline(k), "published_at": now - k as i64 });
        versions.push((format!("{id}.1"), None, v.as_object().unwrap().clone()));
    }
    let mut tx = app.state.db.begin().await.unwrap();
    bulk_insert(&mut tx, &rs, "courses", &course_rows, &indexes("courses"), now).await.unwrap();
    bulk_insert(&mut tx, &rs, "versions", &versions, &indexes("versions"), now).await.unwrap();
    tx.commit().await.unwrap();
    let batch = 5_000u64;
    let mut i = 0;
    while i < enrolments {
        let mut rows = Vec::new();
        for k in i..(i + batch).min(enrolments) {
            // Bob has the first 20; the rest belong to 5,000 other learners across the partners.
            let (user, name, org) = if k < 20 {
                (bob.id.clone(), "Bob Northwind".to_string(), orgs.iter().find(|o| o.0 == bob.org_id).unwrap().clone())
            } else {
                (
                    format!("learner{:05}", k % 5_000),
                    format!("Learner {}", k % 5_000),
                    orgs[(k % orgs.len() as u64) as usize].clone(),
                )
            };
            let course = format!("course{:05}", (k * 7) % courses);
            let e = json!({ "user_id": user, "user_name": name, "org_id": org.0, "org_name": org.1, "course_id": course,
                "title": format!("Course {:04}", (k * 7) % courses), "version": 1,
                "status": if k % 3 == 0 { "completed" } else { "in_progress" }, "done": ["l1"], "percent": 33, "lessons": 3,
                "enrolled_at": now - k as i64, "updated_at": now - k as i64 });
            rows.push((format!("{course}.{user}.{k}"), Some(org.0.clone()), e.as_object().unwrap().clone()));
        }
        let mut tx = app.state.db.begin().await.unwrap();
        bulk_insert(&mut tx, &rs, "enrolments", &rows, &indexes("enrolments"), now).await.unwrap();
        tx.commit().await.unwrap();
        i += batch;
    }
    app.state.db.analyze().await.unwrap();
    let seed_s = t.elapsed().as_secs_f64();
    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let (mut catalogue, mut mine) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        for (path, into) in [("/p/lms/", &mut catalogue), ("/p/lms/my", &mut mine)] {
            let t = Instant::now();
            let page = web.get(path).await;
            assert!(page.status.is_success(), "{path}: {}", page.status);
            into.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    catalogue.sort_by(f64::total_cmp);
    mine.sort_by(f64::total_cmp);
    (catalogue, mine, seed_s)
}

/// Plugin storage with `n` records in one collection: one partner's first page (of 50) ordered by a field, the
/// partner holding a fifth of the records; and a query filtered by a field that half the records match, then by
/// one that ten match (in that order), ordered by creation. Latencies in ms, sorted, through the host's query
/// layer (what a plugin's `storage.query` runs).
async fn lists_at_scale(kind: DbKind, n: u64) -> (Vec<f64>, Vec<f64>, f64) {
    use portico::storage::plugin_data::{Condition, IndexSpec, RecordQuery, RecordScope, bulk_insert, query};
    let app = spawn_app(kind).await;
    let tenant = app.tenant_id("acme").await;
    let rs = RecordScope { tenant_id: tenant.clone(), plugin_id: "bench-lists".into(), org: None };
    let indexes: Vec<IndexSpec> =
        ["amount", "region", "code"].iter().map(|f| IndexSpec { field: f.to_string(), unique: false }).collect();
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let records: Vec<_> = (i..(i + 5_000).min(n))
            .map(|k| {
                let org = if k % 5 == 0 { "org-mine".to_string() } else { format!("org-{}", k % 50) };
                let code = if k % (n / 10).max(1) == 7 { "rare".to_string() } else { format!("c{}", k % 1_000) };
                let region = ["emea", "amer"][(k % 2) as usize];
                let data = json!({ "amount": (k * 7_919) % 1_000_003, "region": region, "code": code });
                (format!("row{k:08}"), Some(org), data.as_object().unwrap().clone())
            })
            .collect();
        let mut tx = app.state.db.begin().await.unwrap();
        bulk_insert(&mut tx, &rs, "rows", &records, &indexes, 1_000).await.unwrap();
        tx.commit().await.unwrap();
        i += 5_000;
        if i % 200_000 == 0 {
            eprintln!("  seeded {i} records ({:.0} s)", t.elapsed().as_secs_f64());
        }
    }
    app.state.db.analyze().await.unwrap();
    let seed_s = t.elapsed().as_secs_f64();
    let mine = RecordScope { org: Some("org-mine".into()), ..rs.clone() };
    let (mut first_page, mut two_filters) = (Vec::new(), Vec::new());
    for k in 0..300 {
        let q = RecordQuery {
            collection: "rows".into(),
            filters: vec![],
            order_by: Some(("amount".into(), k % 2 == 0)),
            limit: 50,
            cursor: None,
        };
        let mut tx = app.state.db.begin().await.unwrap();
        let t = Instant::now();
        let (page, _) = query(&mut tx, &mine, &q).await.unwrap();
        first_page.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(page.len(), 50);
        assert!(page.iter().all(|r| r.org_id.as_deref() == Some("org-mine")));
        let q = RecordQuery {
            collection: "rows".into(),
            filters: vec![
                ("region".into(), Condition::Eq(json!(["emea", "amer"][k % 2]))),
                ("code".into(), Condition::Eq(json!("rare"))),
            ],
            order_by: None,
            limit: 50,
            cursor: None,
        };
        let t = Instant::now();
        let (page, _) = query(&mut tx, &rs, &q).await.unwrap();
        two_filters.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(page.len() <= 10 && page.iter().all(|r| r.data.contains(r#""code":"rare""#)));
    }
    first_page.sort_by(f64::total_cmp);
    two_filters.sort_by(f64::total_cmp);
    (first_page, two_filters, seed_s)
}

/// The dashboard as the channel manager (who sees every bundled widget) under `users` connections of `wrk`,
/// each requesting it back to back for `dur`, all signed in as that manager.
async fn dashboard(app: &portico_tests::TestApp, users: usize, dur: Duration) -> Load {
    let mut c = app.client();
    let login = c.login("manager@acme.example", portico::demo::DEMO_PASSWORD).await;
    let cookie = login.set_cookie("portico_session").expect("session cookie");
    let cookie = cookie.split(';').next().unwrap_or_default().to_string();
    let page = c.get("/").await;
    assert!(page.body.contains("Pending deal approvals") && page.body.contains("Latest guestbook notes"));
    let url = format!("{}/", c.base);
    tokio::task::spawn_blocking(move || wrk(&url, &format!("Cookie: {cookie}"), users, dur)).await.unwrap()
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

/// Peak resident memory (MiB) since the last [`reset_peak`].
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Resets the kernel's record of peak resident memory to the present.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A local server whose `/huge` streams 400 MiB without holding it.
async fn huge_answer_server() -> u16 {
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/huge",
        axum::routing::get(|| async {
            let chunk = bytes::Bytes::from(vec![0u8; 64 << 10]);
            let stream = futures::stream::iter((0..6400).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            axum::body::Body::from_stream(stream).into_response()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// What a hostile plugin costs the host: (peak growth with a 400 MiB answer, peak growth rendering a 100 MB
/// template, ms until a CPU-burning template is stopped, the plugin's deadline in ms).
async fn hostile_costs() -> (f64, f64, f64, f64) {
    let app = portico_tests::spawn_app_with(DbKind::Sqlite, |c| {
        c.runtime.outbound_allow = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    // The hostile plugin with the default output cap (1 MiB) and deadline (2 s), and a local host to call.
    let manifest = hostile()
        .manifest_text()
        .replace("[grants]\n", "[grants]\noutbound_hosts = [\"127.0.0.1\"]\n")
        .replace("timeout_ms = 300\n", "")
        .replace("output_kib = 256\n", "");
    app.install(&hostile().package(Some(&manifest)), &["reseller"]).await;
    let port = huge_answer_server().await;
    let token = app.client().token("admin@acme.example", "portico-demo").await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    admin.get("/p/hostile/render?t=fine").await;
    let url: String =
        url::form_urlencoded::byte_serialize(format!("http://127.0.0.1:{port}/huge").as_bytes()).collect();
    let base = rss_mib();
    reset_peak();
    let r =
        app.client().api(reqwest::Method::GET, &format!("/api/v1/p/hostile/fetch?url={url}"), Some(&token), None).await;
    assert!(r.body.contains("larger than"), "{}", r.body);
    let answer_growth = peak_mib() - base;
    let base = rss_mib();
    reset_peak();
    assert!(admin.get("/p/hostile/render?t=huge").await.status.is_server_error());
    let template_growth = peak_mib() - base;
    let t = Instant::now();
    assert!(admin.get("/p/hostile/render?t=burn").await.status.is_server_error());
    let burn_ms = t.elapsed().as_secs_f64() * 1000.0;
    (answer_growth, template_growth, burn_ms, 2000.0)
}

/// Whether section `name` runs: all by default, or those `BENCH_ONLY` lists (comma-separated).
fn section(name: &str) -> bool {
    match std::env::var("BENCH_ONLY") {
        Ok(only) if !only.trim().is_empty() => only.split(',').any(|s| s.trim() == name),
        _ => true,
    }
}

/// A size the bench's caller may set in the environment (`BENCH_LEDGER=…`), else `default`.
fn env_size(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The databases a section runs on: `BENCH_DBS` (`sqlite,postgres` unless set).
fn bench_dbs() -> Vec<(&'static str, DbKind)> {
    let dbs = std::env::var("BENCH_DBS").unwrap_or_else(|_| "sqlite,postgres".into());
    [("sqlite", DbKind::Sqlite), ("postgres", DbKind::Postgres)]
        .into_iter()
        .filter(|(label, _)| dbs.split(',').any(|d| d.trim() == *label))
        .collect()
}

/// Instantiate + no-op call, `n` times on this thread (µs, sorted).
async fn instantiate_and_noop(
    runtime: &portico::runtime::Runtime,
    app: &portico_tests::TestApp,
    plugin: &Arc<portico::runtime::LoadedPlugin>,
    n: usize,
) -> Vec<f64> {
    let inv = invocation(app, plugin, None).await;
    let mut us: Vec<f64> = runtime
        .bench_instantiate_and_call(plugin.clone(), inv, n)
        .await
        .iter()
        .map(|d| d.as_secs_f64() * 1e6)
        .collect();
    us.sort_by(f64::total_cmp);
    us
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // A plugin call that fails under load says why (RUST_LOG, warnings by default).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let app = spawn_app(DbKind::Sqlite).await;
    let mut report = serde_json::Map::new();
    let mut table: Vec<String> = Vec::new();
    let row = |label: &str, a: f64, b: Option<f64>| match b {
        Some(b) => format!("{label:<56} {a:>12.2} {b:>12.2}"),
        None => format!("{label:<56} {a:>12.2}"),
    };

    if section("invoke") {
        // Instantiate + no-op with the engine as Portico runs it, and with each costly switch turned back on,
        // interleaved so that the machine's noise falls on all alike.
        let plugin = load_plugin(&app, &hostile());
        let rt = &app.state.runtime;
        let variants = [
            ("as configured", None),
            ("without pagemap_scan", Some(rt.retuned(portico::runtime::Tuning { pagemap_scan: false }).unwrap())),
        ];
        let wasm = hostile().wasm();
        let loaded: Vec<_> = variants
            .iter()
            .map(|(_, other)| match other {
                Some(runtime) => Arc::new(portico::runtime::LoadedPlugin {
                    manifest: plugin.manifest.clone(),
                    compiled: runtime.compile(&wasm).expect("compile"),
                    limits: plugin.limits,
                }),
                None => plugin.clone(),
            })
            .collect();
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        for _ in 0..5 {
            for (k, (_, other)) in variants.iter().enumerate() {
                let runtime = other.as_ref().unwrap_or(rt);
                samples[k].extend(instantiate_and_noop(runtime, &app, &loaded[k], 2_000).await);
            }
        }
        for (k, (label, _)) in variants.iter().enumerate() {
            samples[k].sort_by(f64::total_cmp);
            let (p50, p99) = (percentile(&samples[k], 0.5), percentile(&samples[k], 0.99));
            table.push(row(&format!("instantiate + no-op call, {label} (µs)"), p50, Some(p99)));
            report.insert(
                format!(
                    "invocation_instantiate_and_noop_us{}",
                    if k == 0 { String::new() } else { format!(" {label}") }
                ),
                json!({ "p50": p50, "p99": p99, "n": samples[k].len() }),
            );
        }
        let mut full = Vec::new();
        for _ in 0..5_000 {
            let inv = invocation(&app, &plugin, None).await;
            let t = Instant::now();
            let r = rt.handle_http(plugin.clone(), inv, api_get("/noop")).await;
            full.push(t.elapsed().as_secs_f64() * 1e6);
            assert!(matches!(r, Ok(Ok(_))));
        }
        full.sort_by(f64::total_cmp);
        table.push(row("plugin invoke, full path (µs)", percentile(&full, 0.5), Some(percentile(&full, 0.99))));
        report.insert(
            "invocation_full_path_us".into(),
            json!({ "p50": percentile(&full, 0.5), "p99": percentile(&full, 0.99), "n": full.len() }),
        );
    }

    app.install(&hostile().package(None), &["reseller"]).await;
    app.install(&guestbook().package(None), &["reseller"]).await;
    let base = format!("http://127.0.0.1:{}", app.addr.port());

    if section("routes") {
        // A plugin JSON route versus a host-native JSON route, both authenticated by token and answering a small
        // JSON body, driven by wrk in alternating rounds in one run.
        let token = app.client().token("bob@northwind.example", "portico-demo").await;
        let auth = format!("Authorization: Bearer {token}");
        let (mut native, mut plugin) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            for (path, out) in [("/api/v1/me", &mut native), ("/api/v1/p/hostile/noop", &mut plugin)] {
                let (url, auth) = (format!("{base}{path}"), auth.clone());
                out.push(
                    tokio::task::spawn_blocking(move || wrk(&url, &auth, 16, Duration::from_secs(3))).await.unwrap(),
                );
            }
        }
        let avg = |v: &[Load]| v.iter().map(|l| l.rps).sum::<f64>() / v.len() as f64;
        let (native_rps, plugin_rps) = (avg(&native), avg(&plugin));
        table.push(row("native JSON route (req/s, wrk, 16 connections)", native_rps, None));
        table.push(row("plugin JSON route (req/s, wrk, 16 connections)", plugin_rps, None));
        table.push(row("plugin / native throughput", plugin_rps / native_rps, None));
        report.insert("native_json_route_rps".into(), json!(native_rps));
        report.insert("plugin_json_route_rps".into(), json!(plugin_rps));
        report.insert("plugin_to_native_ratio".into(), json!(plugin_rps / native_rps));
        report.insert(
            "route_latency_ms".into(),
            json!({
                "native": { "p50": native[0].p50_ms, "p99": native[0].p99_ms },
                "plugin": { "p50": plugin[0].p50_ms, "p99": plugin[0].p99_ms },
            }),
        );
    }

    if section("startup") {
        // Start-up with the installed plugins from the artifact cache.
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
        table.push(row(&format!("start-up with {} plugins from cache (ms)", installed.len()), startup_ms, None));
        report.insert("startup_with_plugins_ms".into(), json!(startup_ms));
        report.insert("plugins_loaded".into(), json!(installed.len()));
    }

    if section("dashboard") {
        app.install(&deals().package(None), &["reseller", "msp"]).await;
        let dash = dashboard(&app, 50, Duration::from_secs(10)).await;
        table.push(row("dashboard, every bundled widget, 50 connections (ms)", dash.p50_ms, Some(dash.p99_ms)));
        table.push(row("dashboard throughput (pages/s)", dash.rps, None));
        report.insert(
            "dashboard_50_users_ms".into(),
            json!({ "p50": dash.p50_ms, "p99": dash.p99_ms, "n": dash.requests, "rps": dash.rps }),
        );
    }

    if section("memory") {
        let (rss_before, rss_after) = memory_with_tenants(&app, 100).await;
        table.push(row("resident memory, demo tenant only (MiB)", rss_before, None));
        table.push(row("resident memory with 100 more tenants (MiB)", rss_after, None));
        report.insert("rss_mib".into(), json!({ "before_100_tenants": rss_before, "with_100_tenants": rss_after }));
    }

    if section("limits") {
        let (answer, template, burn_ms, deadline_ms) = hostile_costs().await;
        table.push(row("peak memory growth, plugin gets a 400 MiB answer (MiB; cap 8)", answer, None));
        table.push(row("peak memory growth, template prints 100 MB (MiB; cap 1)", template, None));
        table.push(row(&format!("CPU-burning template stopped after (ms; deadline {deadline_ms})"), burn_ms, None));
        report.insert(
            "hostile_plugin".into(),
            json!({ "peak_growth_400mib_answer_mib": answer, "peak_growth_100mb_template_mib": template,
                    "burning_template_stopped_ms": burn_ms, "deadline_ms": deadline_ms }),
        );
    }

    if section("capabilities") {
        let dbs = std::env::var("BENCH_DBS").unwrap_or_else(|_| "sqlite,postgres".into());
        let docs: u64 = std::env::var("BENCH_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
        let rows: u64 = std::env::var("BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
        let mut out = serde_json::Map::new();
        for (label, kind) in [("sqlite", DbKind::Sqlite), ("postgres", DbKind::Postgres)] {
            if !dbs.split(',').any(|d| d.trim() == label) {
                continue;
            }
            let [up, down, up_rate, down_rate] = large_file(kind).await;
            table.push(row(&format!("1 GiB upload, peak memory growth, {label} (MiB; cap 64)"), up, None));
            table.push(row(&format!("1 GiB download, peak memory growth, {label} (MiB; cap 64)"), down, None));
            table.push(row(&format!("1 GiB upload / download, {label} (MiB/s)"), up_rate, Some(down_rate)));
            eprintln!("indexing {docs} documents on {label}…");
            let (search, search_seed) = search_at_scale(kind, docs).await;
            table.push(row(
                &format!("search, {docs} documents, {label} (ms; p99 ≤ 30)"),
                percentile(&search, 0.5),
                Some(percentile(&search, 0.99)),
            ));
            eprintln!("seeding {rows} records on {label}…");
            let (first, two, rows_seed) = lists_at_scale(kind, rows).await;
            table.push(row(
                &format!("partner's first page by a field, {rows} rows, {label} (ms)"),
                percentile(&first, 0.5),
                Some(percentile(&first, 0.99)),
            ));
            table.push(row(
                &format!("two filters (half, then ten), {rows} rows, {label} (ms)"),
                percentile(&two, 0.5),
                Some(percentile(&two, 0.99)),
            ));
            out.insert(
                label.into(),
                json!({
                    "large_file": { "size_mib": 1024, "upload_peak_growth_mib": up, "download_peak_growth_mib": down,
                                    "upload_mib_s": up_rate, "download_mib_s": down_rate },
                    "search": { "documents": docs, "seed_seconds": search_seed, "query_ms": spread(&search) },
                    "lists": { "records": rows, "seed_seconds": rows_seed, "partner_first_page_ms": spread(&first),
                               "two_filters_ms": spread(&two) },
                }),
            );
        }
        report.insert("capabilities".into(), Value::Object(out));
    }

    if section("crm") {
        let n: u64 = std::env::var("BENCH_CRM").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
        let dbs = std::env::var("BENCH_DBS").unwrap_or_else(|_| "sqlite,postgres".into());
        let mut out = serde_json::Map::new();
        for (label, kind) in [("sqlite", DbKind::Sqlite), ("postgres", DbKind::Postgres)] {
            if !dbs.split(',').any(|d| d.trim() == label) {
                continue;
            }
            eprintln!("pulling {n} changed opportunities on {label}…");
            let (rate, secs) = crm_pull(kind, n).await;
            table.push(row(
                &format!("Salesforce changes pulled and applied, {n} opportunities, {label} (per s)"),
                rate,
                None,
            ));
            out.insert(label.into(), json!({ "opportunities": n, "seconds": secs, "per_second": rate }));
        }
        report.insert("crm".into(), Value::Object(out));
    }

    if section("lms") {
        let courses: u64 = std::env::var("BENCH_COURSES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
        let enrolments: u64 = std::env::var("BENCH_ENROLMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
        let dbs = std::env::var("BENCH_DBS").unwrap_or_else(|_| "sqlite,postgres".into());
        let mut out = serde_json::Map::new();
        for (label, kind) in [("sqlite", DbKind::Sqlite), ("postgres", DbKind::Postgres)] {
            if !dbs.split(',').any(|d| d.trim() == label) {
                continue;
            }
            eprintln!("seeding {courses} courses and {enrolments} enrolments on {label}…");
            let (catalogue, mine, seed_s) = lms_at_scale(kind, courses, enrolments).await;
            table.push(row(
                &format!("training catalogue, {courses} courses, {label} (ms)"),
                percentile(&catalogue, 0.5),
                Some(percentile(&catalogue, 0.99)),
            ));
            table.push(row(
                &format!("my learning among {enrolments} enrolments, {label} (ms)"),
                percentile(&mine, 0.5),
                Some(percentile(&mine, 0.99)),
            ));
            out.insert(
                label.into(),
                json!({ "courses": courses, "enrolments": enrolments, "seed_seconds": seed_s,
                        "catalogue_ms": spread(&catalogue), "my_learning_ms": spread(&mine) }),
            );
        }
        report.insert("lms".into(), Value::Object(out));
    }

    if section("content") {
        let n: u64 = std::env::var("BENCH_ASSETS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
        let dbs = std::env::var("BENCH_DBS").unwrap_or_else(|_| "sqlite,postgres".into());
        let mut out = serde_json::Map::new();
        for (label, kind) in [("sqlite", DbKind::Sqlite), ("postgres", DbKind::Postgres)] {
            if !dbs.split(',').any(|d| d.trim() == label) {
                continue;
            }
            eprintln!("seeding {n} assets on {label}…");
            let (search, seed_s) = content_at_scale(kind, n).await;
            table.push(row(
                &format!("content search, {n} assets with extracted text, {label} (ms; p99 ≤ 50)"),
                percentile(&search, 0.5),
                Some(percentile(&search, 0.99)),
            ));
            out.insert(label.into(), json!({ "assets": n, "seed_seconds": seed_s, "search_ms": spread(&search) }));
        }
        report.insert("content".into(), Value::Object(out));
    }

    if section("co-branding") {
        let n: usize = std::env::var("BENCH_PARTNERS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
        let dbs = std::env::var("BENCH_DBS").unwrap_or_else(|_| "sqlite,postgres".into());
        let mut out = serde_json::Map::new();
        for (label, kind) in [("sqlite", DbKind::Sqlite), ("postgres", DbKind::Postgres)] {
            if !dbs.split(',').any(|d| d.trim() == label) {
                continue;
            }
            eprintln!("co-branding {n} partners on {label}…");
            let (per_pdf, total, single) = co_branding_at_scale(kind, n).await;
            table.push(row(&format!("co-branding batch, {n} partners' PDFs, {label} (ms per PDF)"), per_pdf, None));
            table.push(row(
                &format!("co-branding one partner's PDF via the API, {label} (ms)"),
                percentile(&single, 0.5),
                Some(percentile(&single, 0.99)),
            ));
            out.insert(
                label.into(),
                json!({ "partners": n, "batch_seconds": total, "ms_per_pdf": per_pdf, "single_ms": spread(&single) }),
            );
        }
        report.insert("co_branding".into(), Value::Object(out));
    }

    if section("mdf") {
        let n = env_size("BENCH_LEDGER", 100_000);
        let mut out = serde_json::Map::new();
        for (label, kind) in bench_dbs() {
            eprintln!("mdf with {n} ledger entries on {label}…");
            let (balance, approve, approved) = mdf_at_scale(kind, n).await;
            table.push(row(
                &format!("MDF partner balance, {n} ledger entries in the budget, {label} (ms; p99 ≤ 10)"),
                percentile(&balance, 0.5),
                Some(percentile(&balance, 0.99)),
            ));
            table.push(row(
                &format!("MDF approval, 20 concurrent approvers on one budget, {label} (ms; {approved} of 20 fit)"),
                percentile(&approve, 0.5),
                Some(percentile(&approve, 0.99)),
            ));
            out.insert(
                label.into(),
                json!({ "entries": n, "balance_ms": spread(&balance), "approve_ms": spread(&approve), "approved": approved }),
            );
        }
        report.insert("mdf".into(), Value::Object(out));
    }

    if section("incentives") {
        let (orgs, deals) = (env_size("BENCH_PARTNERS", 10_000), env_size("BENCH_INCENTIVE_DEALS", 1_000_000));
        let mut out = serde_json::Map::new();
        for (label, kind) in bench_dbs() {
            eprintln!("incentives with {orgs} partners and {deals} deals on {label}…");
            let (total, seed, proposals) = incentives_at_scale(kind, orgs, deals).await;
            table.push(row(
                &format!(
                    "Tier recalculation, {orgs} partners with {deals} deals, {label} (s in all; {proposals} proposals)"
                ),
                total,
                None,
            ));
            out.insert(
                label.into(),
                json!({ "partners": orgs, "deals": deals, "total_s": total, "seed_s": seed,
                                              "proposals": proposals }),
            );
        }
        report.insert("incentives".into(), Value::Object(out));
    }

    if section("gamification") {
        gamification_section(&mut table, &mut report, &row).await;
    }

    if section("authoring") {
        // The release binary beside the bench, as an author downloads it.
        let portico = std::env::var_os("PORTICO_BIN")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::current_exe().expect("the bench's path").with_file_name("portico"));
        for (lang, ready) in authoring_toolchains() {
            if let Err(why) = ready {
                table.push(format!("plugin new -> first answered request, {lang}: skipped ({why})"));
                continue;
            }
            // One round warms the toolchain's caches (npm's, Rust's dependencies); three are measured.
            let (mut rounds, mut calls) = (Vec::new(), Vec::new());
            for round in 0..4 {
                match new_to_first_request(&portico, lang, 18_480 + round).await {
                    Ok((s, page_ms, json_ms)) if round > 0 => {
                        rounds.push(s);
                        calls.push((page_ms, json_ms));
                    }
                    Ok(_) => {}
                    Err(e) => panic!("plugin new -> first request, {lang}: {e}"),
                }
            }
            rounds.sort_by(f64::total_cmp);
            let (page_ms, json_ms) = calls[calls.len() / 2];
            table.push(row(&format!("{lang} notes plugin: page / JSON route, p50 (ms)"), page_ms, Some(json_ms)));
            report.insert(format!("authoring_calls_ms {lang}"), json!({ "page_p50": page_ms, "json_p50": json_ms }));
            let (median, worst) = (rounds[rounds.len() / 2], rounds[rounds.len() - 1]);
            table.push(row(
                &format!("plugin new -> first answered request, {lang} (s, median/max)"),
                median,
                Some(worst),
            ));
            report.insert(
                format!("authoring_new_to_first_request_s {lang}"),
                json!({ "rounds": rounds, "median": median }),
            );
        }
    }

    if section("channel") {
        channel_section(&mut table, &mut report, &row).await;
    }

    if section("deals") {
        // Deal registration with a million deals, on both databases.
        let n: u64 = std::env::var("BENCH_DEALS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
        let mut scale = serde_json::Map::new();
        let dbs = std::env::var("BENCH_DBS").unwrap_or_else(|_| "sqlite,postgres".into());
        for (label, kind) in [("sqlite", DbKind::Sqlite), ("postgres", DbKind::Postgres)] {
            if !dbs.split(',').any(|d| d.trim() == label) {
                continue;
            }
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
            let (c50, c99) = (percentile(&checks, 0.5), percentile(&checks, 0.99));
            table.push(row(&format!("deal conflict check, {n} deals, {label} (ms)"), c50, Some(c99)));
            let (s50, s99) = (percentile(&submits, 0.5), percentile(&submits, 0.99));
            table.push(row(&format!("deal submit incl. check, {n} deals, {label} (ms)"), s50, Some(s99)));
        }
        report.insert("deal_registration".into(), Value::Object(scale));
    }

    println!("{:<56} {:>12} {:>12}", "measure", "p50 / value", "p99");
    for line in &table {
        println!("{line}");
    }
    let out = std::env::var("BENCH_JSON").unwrap_or_else(|_| "bench.json".into());
    std::fs::write(&out, serde_json::to_string_pretty(&Value::Object(report)).unwrap()).expect("write report");
    println!("wrote {out}");
}

/// The `channel` section: the vendor's dashboard (channel figures over the last 30 days and over a year, partners by
/// tier, sign-in recency, every bundled plugin's widgets and next steps) under 50 connections, on a portal of
/// `BENCH_ORGS` (default 1,000) partner organisations with a year of activity, on SQLite and PostgreSQL.
async fn channel_section(
    table: &mut Vec<String>,
    report: &mut serde_json::Map<String, Value>,
    row: &dyn Fn(&str, f64, Option<f64>) -> String,
) {
    let orgs = env_size("BENCH_ORGS", 1_000);
    let mut out = serde_json::Map::new();
    for (label, kind) in bench_dbs() {
        // As served: the channel figures reused for the default half a minute (the tests turn that off).
        let app = portico_tests::spawn_app_with(kind, |c| c.channel_cache_secs = 30).await;
        for p in [
            deals(),
            lms(),
            content(),
            co_branding(),
            mdf(),
            incentives(),
            portico_tests::gamification(),
            portico_tests::crm_salesforce(),
            portico_tests::crm_hubspot(),
            portico_tests::crm_dynamics(),
        ] {
            app.install(&p.package(None), &["reseller", "msp"]).await;
        }
        eprintln!("a year of channel activity for {orgs} partners on {label}…");
        let (rows, seed_s) = channel_history(&app, orgs).await;
        let mut c = app.client();
        let login = c.login("manager@acme.example", portico::demo::DEMO_PASSWORD).await;
        let cookie = login.set_cookie("portico_session").expect("session cookie");
        let cookie = cookie.split(';').next().unwrap_or_default().to_string();
        let page = c.get("/").await;
        assert!(page.body.contains("Monthly active partners") && page.body.contains("Deal pipeline"));
        let widgets = page.body.matches("class=\"card widget ").count();
        let today = chrono::Utc::now().date_naive();
        let year = format!("/?from={}&to={today}", today - chrono::Days::new(364));
        let mut loads = Vec::new();
        for path in ["/".to_string(), year] {
            let url = format!("{}{path}", c.base);
            let header = format!("Cookie: {cookie}");
            let load =
                tokio::task::spawn_blocking(move || wrk(&url, &header, 50, Duration::from_secs(10))).await.unwrap();
            // Widgets the page did not wait for would be loaded by the browser afterwards: say so if any were.
            let after = c.get(&path).await;
            let deferred = after.body.matches("data-pt-widget=").count();
            loads.push((load, deferred));
        }
        for ((load, deferred), range) in loads.iter().zip(["30 days", "12 months"]) {
            table.push(row(
                &format!("vendor dashboard, {range}, {orgs} partners, {widgets} widgets, 50 conns, {label} (ms)"),
                load.p50_ms,
                Some(load.p99_ms),
            ));
            table.push(row(
                &format!("vendor dashboard, {range}, {label} (pages/s; ≥ 400, {deferred} deferred)"),
                load.rps,
                None,
            ));
        }
        out.insert(
            label.into(),
            json!({ "partners": orgs, "figure_rows": rows, "seed_seconds": seed_s, "widgets": widgets,
                    "last_30_days": { "rps": loads[0].0.rps, "p50": loads[0].0.p50_ms, "p99": loads[0].0.p99_ms, "deferred_widgets": loads[0].1 },
                    "last_12_months": { "rps": loads[1].0.rps, "p50": loads[1].0.p50_ms, "p99": loads[1].0.p99_ms, "deferred_widgets": loads[1].1 } }),
        );
    }
    report.insert("vendor_dashboard".into(), Value::Object(out));
}

/// A year of channel activity, as the host and the plugins count it: `orgs` partner organisations (enrolled at
/// assorted tiers, two users each), of which about a third are active on a given day, each active day adding to a
/// few of the installed plugins' figures (and the monthly active figures on its first day in a month). Returns the
/// per-organisation figure rows written and the seconds it took.
async fn channel_history(app: &portico_tests::TestApp, orgs: u64) -> (u64, f64) {
    use portico::storage::analytics::CountKey;
    use portico_plugin_api::MetricUnit;
    let t = Instant::now();
    let tenant_id = app.tenant_id("acme").await;
    let tenant = app.state.db.tenant_by_id(&tenant_id).await.unwrap().unwrap();
    let scope = app.state.db.tenant(&tenant_id);
    let reseller = scope.program_by_key("reseller").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..orgs {
        let profile = portico::domain::OrgProfile {
            name: format!("{} {} {i}", capitalized(&word(i)), WORDS[(i % 12) as usize]),
            website: String::new(),
            address: String::new(),
            phone: String::new(),
            contact_email: format!("sales@partner{i}.com"),
        };
        let org = scope.create_org(portico::domain::OrgKind::Partner, &profile).await.unwrap();
        let tier = &reseller.tiers[(i as usize * 7) % reseller.tiers.len()];
        scope.enrol(&org.id, &reseller.id, &tier.id).await.unwrap();
        let mut users = Vec::new();
        for u in 0..2 {
            let user = scope
                .create_user(&portico::storage::NewUser {
                    org_id: org.id.clone(),
                    email: format!("user{u}@partner{i}.com"),
                    name: format!("User {u} of {i}"),
                    role: if u == 0 { portico::domain::Role::PartnerAdmin } else { portico::domain::Role::PartnerUser },
                    status: portico::domain::UserStatus::Active,
                    password_hash: None,
                })
                .await
                .unwrap();
            users.push(user);
        }
        ids.push((org.id, users));
    }
    let defs: Vec<_> = portico::plugins::metric_catalogue(&app.state, &tenant)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.ratio.is_none() && !d.monthly_distinct)
        .collect();
    let today = portico::analytics::day_of(app.state.clock.now_ms(), &tenant.timezone);
    let mut rows = 0u64;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for day in today - 364..=today {
        let month = portico::analytics::month_of(day);
        let mut counts = std::collections::BTreeMap::new();
        for (org, users) in &ids {
            if next() % 3 != 0 {
                continue;
            }
            for _ in 0..3 {
                let d = &defs[(next() % defs.len() as u64) as usize];
                let (unit, value) = match d.unit {
                    MetricUnit::Money => {
                        (["USD", "EUR"][(next() % 2) as usize].to_string(), (next() % 5_000_000) as i64)
                    }
                    _ => (String::new(), 1 + (next() % 3) as i64),
                };
                *counts.entry(CountKey { metric: d.key.clone(), org_id: Some(org.clone()), unit }).or_insert(0) +=
                    value;
            }
            let user = &users[(next() % 2) as usize];
            for (metric, member) in
                [(portico::analytics::ACTIVE_USERS, &user.id), (portico::analytics::ACTIVE_PARTNERS, org)]
            {
                if scope.first_in_period(metric, month, member).await.unwrap() {
                    let key = CountKey { metric: metric.into(), org_id: Some(org.clone()), unit: String::new() };
                    *counts.entry(key).or_insert(0) += 1;
                }
            }
        }
        rows += counts.len() as u64;
        scope.add_counts(day, &counts).await.unwrap();
    }
    (rows, t.elapsed().as_secs_f64())
}

/// The `gamification` section: the leaderboard among `BENCH_USERS` (default 50,000) users' scores, as the page and
/// as JSON, on SQLite and PostgreSQL (see [`gamification_at_scale`]).
async fn gamification_section(
    table: &mut Vec<String>,
    report: &mut serde_json::Map<String, Value>,
    row: &dyn Fn(&str, f64, Option<f64>) -> String,
) {
    let n = env_size("BENCH_USERS", 50_000);
    let mut out = serde_json::Map::new();
    for (label, kind) in bench_dbs() {
        eprintln!("gamification with {n} users' scores on {label}…");
        let [page, company, partners, seed_s] = gamification_at_scale(kind, n).await;
        let big = n / 5;
        for (what, ms) in [
            (format!("leaderboard page, {n} users ({big} in the company), {label} (ms; p99 ≤ 20)"), &page),
            (format!("leaderboard JSON, company board and rank, {label} (ms)"), &company),
            (format!("leaderboard JSON, partners' board and rank, {label} (ms)"), &partners),
        ] {
            table.push(row(&what, percentile(ms, 0.5), Some(percentile(ms, 0.99))));
        }
        out.insert(
            label.into(),
            json!({ "users": n, "company_users": big, "seed_seconds": seed_s[0], "page_ms": spread(&page),
                    "company_json_ms": spread(&company), "partners_json_ms": spread(&partners) }),
        );
    }
    report.insert("gamification".into(), Value::Object(out));
}

/// This month's, this quarter's and all time's period keys and order-key bases at `ms`, and last month's, as the
/// gamification plugin writes them (`rules::Period`).
fn gamification_periods(ms: i64) -> [(String, &'static str, i64); 4] {
    use chrono::Datelike;
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    let (y, m) = (i64::from(t.year()), i64::from(t.month()));
    let q = (m - 1) / 3 + 1;
    let last = y * 12 + m - 2;
    [
        (format!("m{y:04}-{m:02}"), "m", (y * 12 + m - 1) * 1_000_000_000),
        (format!("q{y:04}-Q{q}"), "q", (y * 4 + q - 1) * 1_000_000_000),
        ("all".into(), "a", 0),
        (format!("m{:04}-{:02}", last / 12, last % 12 + 1), "m", last * 1_000_000_000),
    ]
}

/// Gamification at scale: `n` users' scores seeded as the plugin writes them (this month, this quarter, all time and
/// last month for each: 4 × `n` records), a fifth of the users in Northwind and the rest in 400 other companies
/// (each with its own board records, half opted in); Bob's among them, in the middle of Northwind's board. Then, 300
/// times each, Bob's leaderboard page (his company's board this month, read from the index, and his rank, an indexed
/// count), the same as JSON, and the partners' board as JSON (its board key, his company's rank). Latencies in ms,
/// sorted, and the seconds seeding took.
async fn gamification_at_scale(kind: DbKind, n: u64) -> [Vec<f64>; 4] {
    use portico::storage::plugin_data::{RecordScope, bulk_insert};
    let plugin = portico_tests::gamification();
    let app = spawn_app(kind).await;
    app.install(&plugin.package(None), &["reseller", "msp"]).await;
    let bob = app.demo_user("bob@northwind.example").await;
    let northwind = bob.org_id.clone();
    let tenant = app.tenant_id("acme").await;
    let rs = RecordScope { tenant_id: tenant, plugin_id: "gamification".into(), org: None };
    let (score_ix, org_ix, company_ix) =
        (indexes(&plugin, "scores"), indexes(&plugin, "org_scores"), indexes(&plugin, "companies"));
    let now = app.state.clock.now_ms();
    let periods = gamification_periods(now);
    let big = n / 5;
    let org_of = |k: u64| if k < big { northwind.clone() } else { format!("benchorg{:03}", k % 400) };
    let t = Instant::now();
    let mut org_points: std::collections::BTreeMap<String, i64> = Default::default();
    let mut i = 0;
    while i < n {
        let mut rows = Vec::new();
        for k in i..(i + 2_000).min(n) {
            let org = org_of(k);
            // Bob stands in the middle of Northwind's board.
            let (user, name) = if k == big / 2 {
                (bob.id.clone(), bob.name.clone())
            } else {
                (format!("benchuser{k:06}"), format!("Bench User {k}"))
            };
            let points = ((k * 7_919) % 5_000) as i64;
            *org_points.entry(org.clone()).or_default() += points;
            for (p, field, base) in &periods {
                let mut s = json!({ "user_id": user, "user_name": name, "period": p, "points": points,
                                    "counts": { "deal_submitted": points / 10 }, "updated_at": now });
                s[*field] = json!(base + points);
                rows.push((format!("{p}:{user}"), Some(org.clone()), s.as_object().unwrap().clone()));
            }
        }
        let mut tx = app.state.db.begin().await.unwrap();
        bulk_insert(&mut tx, &rs, "scores", &rows, &score_ix, now).await.unwrap();
        tx.commit().await.unwrap();
        i += 2_000;
    }
    let mut boards = Vec::new();
    let mut companies = Vec::new();
    for (n_org, (org, points)) in org_points.iter().enumerate() {
        for (p, _, _) in &periods {
            let board = format!("reseller:{p}");
            let s = json!({ "org_id": org, "org_name": format!("Company {n_org}"), "program": "reseller",
                            "period": p, "board": board, "points": points, "updated_at": now });
            boards.push((format!("{board}:{org}"), Some(org.clone()), s.as_object().unwrap().clone()));
        }
        let c = json!({ "opted_in": n_org % 2 == 0, "by": "bench", "at": now });
        companies.push((org.clone(), Some(org.clone()), c.as_object().unwrap().clone()));
    }
    let mut tx = app.state.db.begin().await.unwrap();
    bulk_insert(&mut tx, &rs, "org_scores", &boards, &org_ix, now).await.unwrap();
    bulk_insert(&mut tx, &rs, "companies", &companies, &company_ix, now).await.unwrap();
    tx.commit().await.unwrap();
    app.state.db.analyze().await.unwrap();
    let seed_s = t.elapsed().as_secs_f64();

    let mut web = app.client();
    web.login_ok("bob@northwind.example").await;
    let token = app.client().token("bob@northwind.example", "portico-demo").await;
    let c = app.client();
    let (mut page, mut company, mut partners) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..300 {
        let t = Instant::now();
        let p = web.get("/p/gamification/leaderboard").await;
        page.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(p.status.is_success() && p.body.contains("gm-you"), "{}", p.body);
        let t = Instant::now();
        let p = c.api(reqwest::Method::GET, "/api/v1/p/gamification/leaderboard", Some(&token), None).await;
        company.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(p.status, reqwest::StatusCode::OK, "{}", p.body);
        assert!(p.json()["you"]["rank"].as_u64().unwrap() > 1, "{}", p.body);
        let t = Instant::now();
        let path = "/api/v1/p/gamification/leaderboard?scope=partners";
        let p = c.api(reqwest::Method::GET, path, Some(&token), None).await;
        partners.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(p.status, reqwest::StatusCode::OK, "{}", p.body);
    }
    for v in [&mut page, &mut company, &mut partners] {
        v.sort_by(f64::total_cmp);
    }
    [page, company, partners, vec![seed_s]]
}

/// From `portico plugin new` to the first request the plugin answers in `portico plugin dev`, for `lang`, in
/// seconds: scaffold, toolchain build, package, throwaway portal, install, sign-in and the page. The release
/// `portico` binary (beside this one, or `PORTICO_BIN`) runs as an author runs it; `CARGO_TARGET_DIR` is shared
/// across rounds so Rust's dependencies are warm, as on an author's machine after the first build.
async fn new_to_first_request(portico: &std::path::Path, lang: &str, port: u16) -> Result<(f64, f64, f64), String> {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-authoring");
    let t = Instant::now();
    let new = std::process::Command::new(portico)
        .args(["plugin", "new", "bench-notes", "--lang", lang])
        .current_dir(dir.path())
        .output()
        .map_err(|e| e.to_string())?;
    if !new.status.success() {
        return Err(String::from_utf8_lossy(&new.stderr).into_owned());
    }
    let mut dev = tokio::process::Command::new(portico)
        .args(["plugin", "dev", "--port", &port.to_string()])
        .current_dir(dir.path().join("bench-notes"))
        .env("CARGO_TARGET_DIR", &target)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut lines = tokio::io::BufReader::new(dev.stdout.take().expect("piped")).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) if line.starts_with("Portico is serving") => break,
            Ok(Some(_)) => {}
            _ => {
                let mut err = String::new();
                if let Some(mut e) = dev.stderr.take() {
                    let _ = tokio::io::AsyncReadExt::read_to_string(&mut e, &mut err).await;
                }
                return Err(format!("portico plugin dev stopped: {err}"));
            }
        }
    }
    let base = format!("http://127.0.0.1:{port}");
    let web = reqwest::Client::builder().cookie_store(true).build().map_err(|e| e.to_string())?;
    let login = web.get(format!("{base}/login")).send().await.map_err(|e| e.to_string())?;
    let html = login.text().await.map_err(|e| e.to_string())?;
    let csrf = portico_tests::csrf_in(&html).ok_or("no csrf token on /login")?;
    let form = [("email", "bob@northwind.example"), ("password", "portico-demo"), ("csrf_token", &csrf), ("next", "/")];
    web.post(format!("{base}/login")).form(&form).send().await.map_err(|e| e.to_string())?;
    let page = web.get(format!("{base}/p/bench-notes/")).send().await.map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    let status = page.status();
    if !status.is_success() {
        return Err(format!("the plugin's page answered {status}"));
    }
    // Then what each call costs once installed: the page and the JSON route, one at a time.
    let mut timed = [Vec::new(), Vec::new()];
    for _ in 0..100 {
        for (k, path) in ["/p/bench-notes/", "/api/v1/p/bench-notes/notes"].iter().enumerate() {
            let t = Instant::now();
            let r = web.get(format!("{base}{path}")).send().await.map_err(|e| e.to_string())?;
            r.bytes().await.map_err(|e| e.to_string())?;
            timed[k].push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let _ = dev.kill().await;
    let [mut page_ms, mut json_ms] = timed;
    page_ms.sort_by(f64::total_cmp);
    json_ms.sort_by(f64::total_cmp);
    Ok((secs, percentile(&page_ms, 0.5), percentile(&json_ms, 0.5)))
}

/// Which plugin languages this machine can build, and why not the others.
fn authoring_toolchains() -> Vec<(&'static str, Result<(), String>)> {
    let has = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd).args(args).output().map(|o| o.status.success()).unwrap_or(false)
    };
    let wasm_target = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("lib/rustlib/wasm32-wasip2"))
        .is_some_and(|p| p.is_dir());
    vec![
        ("rust", if wasm_target { Ok(()) } else { Err("the wasm32-wasip2 target is missing".into()) }),
        ("python", if has("componentize-py", &["--version"]) { Ok(()) } else { Err("no componentize-py".into()) }),
        ("js", if has("npm", &["--version"]) { Ok(()) } else { Err("no npm".into()) }),
    ]
}
