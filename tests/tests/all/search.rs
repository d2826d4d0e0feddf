//! Full-text search as a host import, on SQLite FTS5 and PostgreSQL: words, phrases and prefixes ranked, with
//! highlighted snippets, and access filtered inside the query: a caller never finds, or counts, a document its
//! labels or organisation exclude.

use portico_tests::{DbKind, TestApp, capabilities, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn find(app: &TestApp, token: &str, q: &str, groups: Value) -> Value {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let path = format!("/api/v1/p/capabilities/find?q={}&groups={}", enc(q), enc(&groups.to_string()));
    let page = app.client().api(Method::GET, &path, Some(token), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.json()
}

fn ids(found: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        found["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn search_finds_words_phrases_and_prefixes_and_never_what_a_caller_may_not_see() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app(kind).await;
        app.install(&capabilities().package(None), &["reseller", "msp"]).await;
        let admin = app.client().token("admin@acme.example", "portico-demo").await;
        let bob = app.client().token("bob@northwind.example", "portico-demo").await;
        let fabrikam = app
            .state
            .db
            .tenant(&app.tenant_id("acme").await)
            .user_by_email("carol@fabrikam.example")
            .await
            .unwrap()
            .unwrap()
            .org_id;
        let docs = [
            json!({ "id": "a", "title": "Reseller pricing sheet", "text": "Pricing for the deal registration program and integration partners.", "labels": ["program:reseller"], "tags": ["pricing"] }),
            json!({ "id": "b", "title": "MSP pricing", "text": "Managed service pricing and integrations.", "labels": ["program:msp"], "tags": ["pricing"] }),
            json!({ "id": "c", "title": "Fabrikam's own pricing", "text": "A pricing note only Fabrikam may read.", "labels": ["program:reseller"], "org_id": fabrikam }),
            json!({ "id": "d", "title": "Onboarding guide", "text": "How to register a deal: open the form, fill it in.", "labels": ["program:reseller", "program:msp"] }),
        ];
        for d in &docs {
            let r = app.client().api(Method::POST, "/api/v1/p/capabilities/docs", Some(&admin), Some(d.clone())).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        // Words, with the vendor seeing everything.
        assert_eq!(ids(&find(&app, &admin, "pricing", json!([])).await), ["a", "b", "c"]);
        // A label group narrows inside the query: the count says so too.
        let reseller = find(&app, &admin, "pricing", json!([["program:reseller"]])).await;
        assert_eq!(ids(&reseller), ["a", "c"]);
        assert_eq!(reseller["total"], 2);
        // A partner never finds another organisation's document, even asking for everything.
        let partner = find(&app, &bob, "pricing", json!([])).await;
        assert_eq!(ids(&partner), ["a", "b"], "{partner}");
        assert_eq!(partner["total"], 2);
        assert_eq!(find(&app, &bob, "fabrikam", json!([])).await["total"], 0);
        // Phrases and prefixes; the title ranks above the text.
        assert_eq!(ids(&find(&app, &admin, "\"deal registration\"", json!([])).await), ["a"]);
        assert_eq!(ids(&find(&app, &admin, "integr*", json!([])).await), ["a", "b"]);
        let ranked = find(&app, &admin, "pricing", json!([["program:reseller", "program:msp"]])).await;
        assert_ne!(ranked["hits"][0]["id"], "d");
        // Snippets mark what matched.
        let snip = find(&app, &admin, "register", json!([])).await;
        assert!(snip["hits"][0]["snippet"].as_str().unwrap().contains("[register]"), "{snip}");
        // Query syntax cannot be injected.
        assert_eq!(find(&app, &admin, "pricing OR NOT NEAR( labels:*", json!([])).await["total"], 0);
        // Removed, not found; replaced, found by its new words only.
        app.client().api(Method::POST, "/api/v1/p/capabilities/docs/b/remove", Some(&admin), None).await;
        assert_eq!(ids(&find(&app, &admin, "managed", json!([])).await), Vec::<String>::new());
        let renamed = json!({ "id": "a", "title": "Distributor handbook", "text": "Nothing about money.", "labels": ["program:reseller"] });
        app.client().api(Method::POST, "/api/v1/p/capabilities/docs", Some(&admin), Some(renamed)).await;
        assert_eq!(ids(&find(&app, &admin, "pricing", json!([])).await), ["c"]);
        assert_eq!(ids(&find(&app, &admin, "handbook", json!([])).await), ["a"]);
    }
}

/// A broad query ranks and counts its first `MATCH_CAP` matches, and only the caller's: another tenant's (or
/// plugin's) thousand matches never crowd out this one's three, and a page past the cap is empty, not an error.
#[tokio::test]
async fn broad_queries_are_bounded_per_caller_and_never_crowded_out() {
    use portico::storage::search::{self, MATCH_CAP, SearchDoc, SearchQuery, SearchScope};
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let t = portico_tests::TestDb::new(kind).await;
        let backend = t.db.backend();
        let tenant = |slug: &str| portico::storage::NewTenant { slug: slug.into(), name: slug.into(), domain: None };
        let busy_id = t.db.create_tenant(&tenant("busy")).await.unwrap().id;
        let quiet_id = t.db.create_tenant(&tenant("quiet")).await.unwrap().id;
        let busy = SearchScope { tenant_id: &busy_id, plugin_id: "content" };
        let quiet = SearchScope { tenant_id: &quiet_id, plugin_id: "content" };
        let other_plugin = SearchScope { tenant_id: &quiet_id, plugin_id: "training" };
        let doc = |i: usize, title: &str| SearchDoc {
            id: format!("d{i}"),
            title: title.to_string(),
            text: format!("Widget datasheet number {i}."),
            tags: vec![],
            labels: vec![],
            org_id: None,
        };
        let n = MATCH_CAP as usize + 50;
        let mut conn = t.db.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
        for i in 0..n {
            search::index(&mut conn, backend, busy, &doc(i, "Widget"), 1).await.unwrap();
            search::index(&mut conn, backend, other_plugin, &doc(i, "Widget"), 1).await.unwrap();
        }
        for i in 0..3 {
            search::index(&mut conn, backend, quiet, &doc(i, if i == 1 { "Widget widget guide" } else { "Notes" }), 1)
                .await
                .unwrap();
        }
        sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
        // With statistics, as a portal that has run ANALYZE has them, every kind of term still plans.
        t.db.analyze().await.unwrap();
        for text in ["widget", "widget datasheet", "wid*", "\"widget datasheet\""] {
            let q = SearchQuery { text: text.into(), label_groups: vec![], limit: 20, ..Default::default() };
            let (hits, total) = search::query(&mut conn, backend, busy, &q).await.unwrap();
            assert_eq!((hits.len(), total), (20, MATCH_CAP as u64), "{kind:?} {text}");
        }
        let q = |offset: u32| SearchQuery { text: "widget".into(), limit: 20, offset, ..Default::default() };
        let (hits, total) = search::query(&mut conn, backend, quiet, &q(0)).await.unwrap();
        assert_eq!(total, 3, "{kind:?}");
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].id, "d1", "{kind:?}: the title match ranks first: {hits:?}");
        let (hits, total) = search::query(&mut conn, backend, quiet, &q(20)).await.unwrap();
        assert_eq!((hits.len(), total), (0, 3), "{kind:?}: a page past the last match still says how many");
        // No words, only the caller's scope: everything of its own, in the index's order.
        let all = SearchQuery { limit: 20, ..Default::default() };
        let (hits, total) = search::query(&mut conn, backend, quiet, &all).await.unwrap();
        assert_eq!((hits.len(), total), (3, 3), "{kind:?}");
        let (hits, total) = search::query(&mut conn, backend, busy, &q(0)).await.unwrap();
        assert_eq!(total, MATCH_CAP as u64, "{kind:?}: counted up to the cap");
        assert_eq!(hits.len(), 20);
        let (hits, _) = search::query(&mut conn, backend, busy, &q(MATCH_CAP as u32 - 5)).await.unwrap();
        assert_eq!(hits.len(), 5, "{kind:?}: the last page of the ranked matches");
        let (hits, _) = search::query(&mut conn, backend, busy, &q(u32::MAX)).await.unwrap();
        assert!(hits.is_empty());
    }
}
