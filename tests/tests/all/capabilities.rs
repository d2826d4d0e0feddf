//! The host capabilities added for the feature plugins (`portico:plugin` 0.1.1), through the host with the
//! capabilities test plugin: secrets sealed at rest (write-only for admins, writable by the plugin where declared,
//! re-sealed by rotation), public routes, the host's activity as events, partner cards, and one organisation's
//! records.

use portico_tests::{DbKind, TestApp, capabilities, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};

async fn with_capabilities(app: &TestApp) -> String {
    app.install(&capabilities().package(None), &["reseller", "msp"]).await;
    app.client().token("admin@acme.example", "portico-demo").await
}

async fn api(app: &TestApp, token: &str, method: Method, path: &str) -> portico_tests::Page {
    app.client().api(method, &format!("/api/v1/p/capabilities{path}"), Some(token), None).await
}

/// Every text value of every table, as a database dump would show it.
async fn dump(app: &TestApp) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.test_db.url).await.unwrap();
    let tables: Vec<String> = if app.test_db.url.starts_with("postgres") {
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&pool)
            .await
            .unwrap()
    } else {
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(&pool).await.unwrap()
    };
    let mut out = String::new();
    // sqlx's own bookkeeping holds no secrets (and a DATETIME column the Any driver cannot read).
    for t in tables.into_iter().filter(|t| t != "_sqlx_migrations") {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{t}\""))).fetch_all(&pool).await.unwrap();
        for row in rows {
            use sqlx::Row;
            for i in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
    }
    pool.close().await;
    out
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_write_only_and_survive_a_key_rotation() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app(kind).await;
        let token = with_capabilities(&app).await;
        let (admin_value, plugin_value) = ("sk-live-4f8d2a91c7e3", "oauth-refreshed-77ab19e0");
        // A vendor admin sets one on the plugin's page; the page never shows it again.
        let mut admin = app.client();
        admin.login_ok("admin@acme.example").await;
        admin.get("/admin/plugins/capabilities").await;
        let set = admin.post("/admin/plugins/capabilities/secrets/api_key", &[("value", admin_value)]).await;
        assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
        let page = admin.get("/admin/plugins/capabilities").await.body;
        assert!(page.contains("api_key") && !page.contains(admin_value), "write-only");
        // And by the API, which lists names only.
        let put = app
            .client()
            .api(
                Method::PUT,
                "/api/v1/plugins/capabilities/secrets/access_token",
                Some(&token),
                Some(serde_json::json!({ "value": "first" })),
            )
            .await;
        assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
        let listed = app.client().api(Method::GET, "/api/v1/plugins/capabilities/secrets", Some(&token), None).await;
        assert!(!listed.body.contains("first") && listed.body.contains("access_token"), "{}", listed.body);
        let bad = app
            .client()
            .api(
                Method::PUT,
                "/api/v1/plugins/capabilities/secrets/undeclared",
                Some(&token),
                Some(serde_json::json!({ "value": "x" })),
            )
            .await;
        assert_eq!(bad.status, StatusCode::NOT_FOUND);
        // The plugin reads it, writes the one it may, and may not write the other.
        let read = api(&app, &token, Method::GET, "/secret?name=api_key").await.json();
        assert_eq!(read["value"], format!("{admin_value:?}"));
        let wrote = api(&app, &token, Method::POST, &format!("/secret?name=access_token&value={plugin_value}")).await;
        assert_eq!(wrote.json()["outcome"], "ok", "{}", wrote.body);
        assert_eq!(
            api(&app, &token, Method::GET, "/secret?name=access_token").await.json()["value"],
            format!("{plugin_value:?}")
        );
        let refused = api(&app, &token, Method::POST, "/secret?name=api_key&value=overwritten").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        // A call that fails writes nothing.
        api(&app, &token, Method::POST, "/secret?name=access_token&value=rolled-back&then=fail").await;
        assert_eq!(
            api(&app, &token, Method::GET, "/secret?name=access_token").await.json()["value"],
            format!("{plugin_value:?}")
        );
        // Nothing in the database is a secret in plain text, before and after the key is rotated.
        let before = dump(&app).await;
        for v in [admin_value, plugin_value] {
            assert!(!before.contains(v), "{v} is stored in plain text");
        }
        let key_file = app.data_dir.join("secrets.key");
        let old_key = std::fs::read_to_string(&key_file).unwrap();
        portico::cli::rotate_secrets(&app.state.config, &app.state.db).await.unwrap();
        let new_key = std::fs::read_to_string(&key_file).unwrap();
        assert_ne!(old_key, new_key);
        assert_eq!(new_key.lines().count(), 1, "the old key is dropped once every secret is re-sealed");
        let after = dump(&app).await;
        for v in [admin_value, plugin_value] {
            assert!(!after.contains(v), "{v} is stored in plain text after rotation");
        }
        assert_ne!(before, after, "every sealed value changed");
        // A portal with the new key reads them.
        let reloaded =
            portico::AppState::with_db(app.state.config.as_ref().clone(), app.state.db.clone()).await.unwrap();
        let sealed = reloaded
            .db
            .tenant(&app.tenant_id("acme").await)
            .plugin_secret("capabilities", "api_key")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            reloaded.keyring.open(&app.tenant_id("acme").await, "capabilities", "api_key", &sealed).unwrap(),
            admin_value
        );
        // The audit log says who set what, never the value.
        let audit = dump(&app).await;
        assert!(audit.contains("plugin.secret.set") && audit.contains("plugin.secret.written"));
    }
}

#[tokio::test]
async fn public_routes_answer_without_a_session_and_refuse_a_flood() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app_with(kind, |c| c.public_routes_per_minute = 5).await;
        let token = with_capabilities(&app).await;
        let partner = app.client().token("bob@northwind.example", "portico-demo").await;
        assert_eq!(api(&app, &partner, Method::POST, "/codes?n=CERT-2026-0042").await.status, StatusCode::OK);
        let anyone = app.client();
        let genuine =
            anyone.http.get(format!("{}/p/capabilities/verify/CERT-2026-0042", anyone.base)).send().await.unwrap();
        assert_eq!(genuine.status(), StatusCode::OK);
        assert!(genuine.text().await.unwrap().contains("Code CERT-2026-0042 is genuine."));
        let json = anyone.api(Method::GET, "/api/v1/p/capabilities/verify/FORGED-1", None, None).await;
        assert_eq!(json.json(), serde_json::json!({ "valid": false, "caller": false }), "a forged code says nothing");
        // Signed in or not, a public route has no caller.
        assert_eq!(api(&app, &token, Method::GET, "/verify/CERT-2026-0042").await.json()["caller"], false);
        // Other routes still need a session.
        assert_eq!(
            anyone.api(Method::GET, "/api/v1/p/capabilities/seen", None, None).await.status,
            StatusCode::UNAUTHORIZED
        );
        // A flood from one address is refused with a time to come back (the limit is five a minute here).
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(anyone.api(Method::GET, "/api/v1/p/capabilities/verify/X", None, None).await);
        }
        let refused = statuses.iter().find(|p| p.status == StatusCode::TOO_MANY_REQUESTS).expect("a refusal");
        assert!(refused.headers.get("retry-after").is_some());
    }
}

#[tokio::test]
async fn the_hosts_activity_reaches_subscribed_plugins_once() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app(kind).await;
        let token = with_capabilities(&app).await;
        let deliver = || async { portico::plugins::jobs::deliver_due(&app.state, 500).await.unwrap() };
        let topics = |seen: &serde_json::Value, topic: &str| {
            seen["seen"].as_array().unwrap().iter().filter(|e| e["topic"] == topic).cloned().collect::<Vec<_>>()
        };
        let mut bob = app.client();
        bob.login_ok("bob@northwind.example").await;
        bob.get("/").await;
        bob.get("/account").await;
        deliver().await;
        let seen = api(&app, &token, Method::GET, "/seen").await.json();
        let bob_id = app
            .state
            .db
            .tenant(&app.tenant_id("acme").await)
            .user_by_email("bob@northwind.example")
            .await
            .unwrap()
            .unwrap()
            .id;
        assert!(topics(&seen, "portico.user.signed_in").iter().any(|e| e["payload"]["user_id"] == bob_id.as_str()));
        let active = |seen: &serde_json::Value| {
            topics(seen, "portico.user.active").iter().filter(|e| e["payload"]["user_id"] == bob_id.as_str()).count()
        };
        assert_eq!(active(&seen), 1, "one activity event a day, however many requests");
        assert_eq!(topics(&seen, "portico.user.active")[0]["source"], "portico");
        app.state.clock.advance(86_400_000);
        bob.get("/").await;
        deliver().await;
        assert_eq!(active(&api(&app, &token, Method::GET, "/seen").await.json()), 2, "and one the next day");
        // Tier changes, enrolments and plugin enablement.
        let t = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
        let scope = app.state.db.tenant(&t.id);
        let northwind = scope.user_by_email("alice@northwind.example").await.unwrap().unwrap().org_id;
        let reseller = scope.program_by_key("reseller").await.unwrap();
        let silver = scope.tiers(&reseller.id).await.unwrap().into_iter().find(|t| t.key == "silver").unwrap();
        scope.enrol(&northwind, &reseller.id, &silver.id).await.unwrap();
        let msp = scope.program_by_key("msp").await.unwrap();
        let member = scope.tiers(&msp.id).await.unwrap().into_iter().next().unwrap();
        scope.enrol(&northwind, &msp.id, &member.id).await.unwrap();
        scope.unenrol(&northwind, &msp.id).await.unwrap();
        portico::cli::set_enabled(&app.state, &t, "capabilities", Some("msp"), false).await.unwrap();
        deliver().await;
        let seen = api(&app, &token, Method::GET, "/seen").await.json();
        let changed = topics(&seen, "portico.tier.changed");
        assert_eq!(changed.len(), 1, "{seen}");
        assert_eq!(changed[0]["payload"]["from"], "gold");
        assert_eq!(changed[0]["payload"]["to"], "silver");
        assert_eq!(changed[0]["payload"]["program"], "reseller");
        assert_eq!(topics(&seen, "portico.org.enrolled").len(), 1);
        assert_eq!(topics(&seen, "portico.org.unenrolled")[0]["payload"]["program"], "msp");
        assert_eq!(topics(&seen, "portico.plugin.disabled")[0]["payload"]["program"], "msp");
        // Delivered twice (a retry), recorded once.
        deliver().await;
        assert_eq!(api(&app, &token, Method::GET, "/seen").await.json(), seen);
    }
}

#[tokio::test]
async fn partner_cards_of_every_enabled_plugin_show_on_the_partners_page() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app(kind).await;
        let token = with_capabilities(&app).await;
        app.install(&portico_tests::deals().package(None), &["reseller", "msp"]).await;
        // A plugin that declares a card but does not render it: its card is unavailable, the others are not.
        let broken = portico_tests::hostile().manifest_text().replace("id = \"hostile\"", "id = \"hostile-card\"")
            + "\n[[cards]]\nname = \"nothing\"\ntitle = \"Broken card\"\n";
        app.install(&portico_tests::hostile().package(Some(&broken)), &["reseller"]).await;
        let bob = app.client().token("bob@northwind.example", "portico-demo").await;
        for n in ["A-1", "A-2"] {
            api(&app, &bob, Method::POST, &format!("/codes?n={n}")).await;
        }
        let tenant = app.tenant_id("acme").await;
        let scope = app.state.db.tenant(&tenant);
        let northwind = scope.user_by_email("bob@northwind.example").await.unwrap().unwrap().org_id;
        let fabrikam = scope.user_by_email("carol@fabrikam.example").await.unwrap().unwrap().org_id;
        let mut manager = app.client();
        manager.login_ok("manager@acme.example").await;
        let page = manager.get(&format!("/admin/orgs/{northwind}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("2 codes issued by this partner"), "{}", page.body);
        assert!(
            page.body.contains("Capabilities &lt;b&gt;card&lt;&#x2F;b&gt;")
                || page.body.contains("Capabilities &lt;b&gt;card&lt;/b&gt;")
        );
        assert!(page.body.contains("Deal registrations"));
        assert!(page.body.contains("Broken card") && page.body.contains("This card is unavailable right now."));
        assert_eq!(page.body.matches("<script").count(), 1, "the card's markup is sanitized");
        assert!(manager.get(&format!("/admin/orgs/{fabrikam}")).await.body.contains("0 codes issued by this partner"));
        // One organisation's records: vendor staff name any, a partner only their own.
        assert_eq!(api(&app, &token, Method::GET, &format!("/org-codes/{northwind}")).await.json()["count"], 2);
        assert_eq!(api(&app, &bob, Method::GET, &format!("/org-codes/{northwind}")).await.json()["count"], 2);
        assert_eq!(api(&app, &bob, Method::GET, &format!("/org-codes/{fabrikam}")).await.status, StatusCode::FORBIDDEN);
        // Partners do not see partner pages at all.
        let mut alice = app.client();
        alice.login_ok("alice@northwind.example").await;
        assert_eq!(alice.get(&format!("/admin/orgs/{northwind}")).await.status, StatusCode::FORBIDDEN);
    }
}
