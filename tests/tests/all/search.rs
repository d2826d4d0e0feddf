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
