//! Plugins through the real host: install checks, per-program enablement, pages, JSON routes, navigation,
//! widgets and upgrades.

use portico::plugins::LifecycleError;
use portico_tests::{DbKind, guestbook, hostile, html_unescape, spawn_app};
use reqwest::{Method, StatusCode};

async fn acme(app: &portico_tests::TestApp) -> portico::domain::Tenant {
    app.state.db.tenant_by_slug("acme").await.unwrap().unwrap()
}

#[tokio::test]
async fn a_plugin_enabled_in_a_program_serves_its_partners_only() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&guestbook().package(None), &["reseller"]).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let home = html_unescape(&bob.get("/").await.body);
    assert!(home.contains(r#"href="/p/guestbook/""#), "nav entry shown to a reseller partner");
    let page = bob.get("/p/guestbook/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Tell us how the partnership is going."), "settings default reaches the template");
    // Contoso is in the MSP program only: the plugin does not exist for it.
    let mut dave = app.client();
    dave.login_ok("dave@contoso.example").await;
    assert!(!html_unescape(&dave.get("/").await.body).contains("/p/guestbook/"));
    assert_eq!(dave.get("/p/guestbook/").await.status, StatusCode::NOT_FOUND);
    let t = acme(&app).await;
    portico::cli::set_enabled(&app.state, &t, "guestbook", Some("msp"), true).await.unwrap();
    assert_eq!(dave.get("/p/guestbook/").await.status, StatusCode::OK);
    // Disabled again: gone.
    portico::cli::set_enabled(&app.state, &t, "guestbook", Some("msp"), false).await.unwrap();
    assert_eq!(dave.get("/p/guestbook/").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn partners_write_through_the_plugin_and_see_only_their_orgs_notes() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&guestbook().package(None), &["reseller", "msp"]).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    bob.get("/p/guestbook/").await;
    let page = bob.post("/p/guestbook/", &[("note", "Northwind <script>alert(1)</script> loves it")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let empty = bob.post("/p/guestbook/", &[("note", "   ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("write something first"));
    // A form without the CSRF token is refused before the plugin runs.
    assert_eq!(bob.post_raw("/p/guestbook/", &[("note", "forged")]).await.status, StatusCode::FORBIDDEN);
    let mine = bob.get("/p/guestbook/").await.body;
    assert!(mine.contains("Northwind &lt;script&gt;alert(1)&lt;/script&gt; loves it"), "escaped: {mine}");
    assert!(!mine.contains("<script>alert"));
    let mut carol = app.client();
    carol.login_ok("carol@fabrikam.example").await;
    assert!(!carol.get("/p/guestbook/").await.body.contains("Northwind"), "another partner org sees nothing of it");
    // Vendor staff read every org's notes, in the JSON API too.
    let token = app.client().token("manager@acme.example", "portico-demo").await;
    let api = app.client().api(Method::GET, "/api/v1/p/guestbook/entries", Some(&token), None).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    assert_eq!(api.json()["entries"][0]["org"], "Northwind Solutions");
    // The event went into the outbox with the write.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.test_db.url).await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE topic = 'guestbook.signed'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 1);
    // Unknown plugin routes are 404s; pages are not served on the API prefix.
    assert_eq!(bob.get("/p/guestbook/nope").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.client().api(Method::GET, "/api/v1/p/guestbook/", Some(&token), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn widgets_render_for_their_roles_and_a_failing_one_does_not_break_the_dashboard() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&guestbook().package(None), &["reseller"]).await;
    let broken = hostile().manifest_text().replace("id = \"hostile\"", "id = \"hostile-widget\"")
        + "\n[[widgets]]\nname = \"boom\"\ntitle = \"Broken widget\"\nroles = [\"channel_manager\"]\n";
    app.install(&hostile().package(Some(&broken)), &["reseller"]).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    bob.get("/p/guestbook/").await;
    bob.post("/p/guestbook/", &[("note", "Shipping our first deal")]).await;
    let mut manager = app.client();
    manager.login_ok("manager@acme.example").await;
    let dash = manager.get("/").await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(dash.body.contains("Latest guestbook notes"));
    assert!(dash.body.contains("Shipping our first deal"), "the working widget renders");
    assert!(dash.body.contains("Broken widget") && dash.body.contains("This widget is unavailable right now."));
    // Partner users are not in the widget's roles.
    assert!(!bob.get("/").await.body.contains("Latest guestbook notes"));
}

#[tokio::test]
async fn installs_are_refused_with_a_message_naming_the_problem() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = acme(&app).await;
    let g = guestbook();
    let future_api = g.manifest_text().replace("api = \"^0.1\"", "api = \"^2.0\"");
    let e = portico::plugins::install(&app.state, &t, &g.package(Some(&future_api)), None).await.unwrap_err();
    assert!(matches!(e, LifecycleError::Incompatible(_)));
    assert!(e.to_string().contains("^2.0") && e.to_string().contains("0.1.0"), "{e}");
    let bad_manifest = g.manifest_text().replace("version = \"0.1.0\"", "version = \"first\"");
    let e = portico::plugins::install(&app.state, &t, &g.package(Some(&bad_manifest)), None).await.unwrap_err();
    assert!(e.to_string().contains("version"), "{e}");
    let e = portico::plugins::install(&app.state, &t, b"definitely not a package", None).await.unwrap_err();
    assert!(e.to_string().contains("not a gzip-compressed tar archive"), "{e}");
    let mut not_a_component = portico::plugins::Package::from_tar_gz(&g.package(None)).unwrap();
    not_a_component.wasm = b"\0asm\x01\0\0\0".to_vec();
    let e = portico::plugins::install(&app.state, &t, &not_a_component.to_tar_gz(), None).await.unwrap_err();
    assert!(matches!(e, LifecycleError::Component(_)), "{e}");
    assert!(app.state.db.tenant(&t.id).installed_plugins().await.unwrap().is_empty(), "nothing was installed");
}

#[tokio::test]
async fn upgrades_run_the_migration_and_refuse_same_or_older_versions() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = acme(&app).await;
    let g = guestbook();
    app.install(&g.package(None), &["reseller"]).await;
    let again = portico::plugins::install(&app.state, &t, &g.package(None), None).await.unwrap_err();
    assert!(matches!(again, LifecycleError::SameVersion { .. }));
    let newer = g.manifest_text().replace("version = \"0.1.0\"", "version = \"0.2.0\"");
    let (p, outcome) = portico::plugins::install(&app.state, &t, &g.package(Some(&newer)), None).await.unwrap();
    assert_eq!(p.version, "0.2.0");
    assert_eq!(outcome, portico::plugins::Installed::Upgraded { from: "0.1.0".into() });
    let older = g.manifest_text();
    let e = portico::plugins::install(&app.state, &t, &g.package(Some(&older)), None).await.unwrap_err();
    assert!(matches!(e, LifecycleError::Downgrade { .. }), "{e}");
    // Enablement survives the upgrade.
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    assert_eq!(bob.get("/p/guestbook/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_uploads_a_plugin_sees_its_grants_then_enables_and_configures_it() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    admin.get("/admin/plugins").await;
    let bad = reqwest::multipart::Form::new()
        .part("package", reqwest::multipart::Part::bytes(b"garbage".to_vec()).file_name("x.tar.gz"));
    let page = admin.post_multipart("/admin/plugins", bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("not a gzip-compressed tar archive"));
    let form = reqwest::multipart::Form::new()
        .part("package", reqwest::multipart::Part::bytes(guestbook().package(None)).file_name("guestbook.tar.gz"));
    let page = admin.post_multipart("/admin/plugins", form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let detail = admin.get("/admin/plugins/guestbook").await;
    assert!(detail.body.contains("Stores <strong>entries</strong> records"), "grants are shown before enabling");
    // Installed but not enabled: partners do not have it.
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    assert_eq!(bob.get("/p/guestbook/").await.status, StatusCode::NOT_FOUND);
    let t = acme(&app).await;
    let reseller = app.state.db.tenant(&t.id).program_by_key("reseller").await.unwrap();
    let path = format!("/admin/plugins/guestbook/programs/{}", reseller.id);
    let bad = admin.post(&path, &[("enabled", "on"), ("setting_greeting", "Hi"), ("setting_max_length", "5")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("must be at least 10"), "field error from the schema");
    assert_eq!(bob.get("/p/guestbook/").await.status, StatusCode::NOT_FOUND, "a refused form changes nothing");
    let ok = admin
        .post(
            &path,
            &[("enabled", "on"), ("setting_greeting", "How is it going, partner?"), ("setting_max_length", "50")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert!(bob.get("/p/guestbook/").await.body.contains("How is it going, partner?"));
    let api = app
        .client()
        .api(
            Method::GET,
            "/api/v1/plugins",
            Some(&app.client().token("admin@acme.example", "portico-demo").await),
            None,
        )
        .await;
    let j = api.json();
    assert_eq!(j["items"][0]["id"], "guestbook");
    assert_eq!(j["items"][0]["version"], "0.1.0");
    assert!(j["items"][0]["grants"]["collections"].is_array());
    let on: Vec<_> = j["items"][0]["programs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["enabled"] == true)
        .map(|p| p["program"].clone())
        .collect();
    assert_eq!(on, vec![serde_json::json!("reseller")]);
    let audit = admin.get("/admin/audit?q=plugin").await.body;
    assert!(audit.contains("plugin.installed") && audit.contains("plugin.enabled"), "who changed what is recorded");
}

#[tokio::test]
async fn a_failing_migration_keeps_the_installed_version_and_its_data_untouched() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = acme(&app).await;
    app.install(&hostile().package(None), &["reseller"]).await;
    let newer = hostile().manifest_text().replace("version = \"0.1.0\"", "version = \"0.2.0\"");
    let e = portico::plugins::install(&app.state, &t, &hostile().package(Some(&newer)), None).await.unwrap_err();
    assert!(matches!(e, LifecycleError::Migration(..)), "{e}");
    assert!(e.to_string().contains("cannot migrate from 0.1.0"), "{e}");
    let installed = app.state.db.tenant(&t.id).installed_plugin("hostile").await.unwrap().unwrap();
    assert_eq!(installed.version, "0.1.0");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.test_db.url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plugin_records").fetch_one(&pool).await.unwrap();
    assert_eq!(n, 0, "the migration's writes were rolled back");
}

#[tokio::test]
async fn a_theme_overrides_a_plugin_template() {
    let themes = tempfile::tempdir().unwrap();
    copy(&portico_tests::themes_dir(), themes.path());
    let dir = themes.path().join("default/templates/plugins/guestbook");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<h1>Our own guestbook page</h1>{% for e in entries %}{{ e.note }}{% endfor %}",
    )
    .unwrap();
    let path = themes.path().to_path_buf();
    let app = portico_tests::spawn_app_with(DbKind::Sqlite, move |c| c.themes_dir = path).await;
    app.install(&guestbook().package(None), &["reseller"]).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let page = bob.get("/p/guestbook/").await;
    assert!(page.body.contains("Our own guestbook page"), "{}", page.body);
    assert!(page.body.contains("class=\"topbar\""), "still inside the portal layout");
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn plugin_notifications_reach_the_portal_and_the_mailbox() {
    let app = spawn_app(DbKind::Sqlite).await;
    let granted = hostile().manifest_text().replace("[grants]", "[grants]\nnotifications = true");
    app.install(&hostile().package(Some(&granted)), &["reseller"]).await;
    let token = app.client().token("bob@northwind.example", "portico-demo").await;
    let page = app.client().api(Method::GET, "/api/v1/p/hostile/notify", Some(&token), None).await;
    assert_eq!(page.json()["outcome"], "ok", "{}", page.body);
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let home = bob.get("/").await.body;
    assert!(home.contains("Notifications, 1 unread"), "the layout shows the unread count");
    let list = bob.get("/notifications").await.body;
    assert!(list.contains("Your deal was approved") && list.contains("Globex, 40,000 USD"));
    assert!(!bob.get("/").await.body.contains("1 unread"), "viewing marks them read");
    // Another user does not see it.
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    assert!(!alice.get("/notifications").await.body.contains("Your deal was approved"));
    // The mail worker sends it once.
    assert_eq!(portico::plugins::jobs::mail_notifications(&app.state, "http://portal.test").await.unwrap(), 1);
    assert_eq!(portico::plugins::jobs::mail_notifications(&app.state, "http://portal.test").await.unwrap(), 0);
    let t = acme(&app).await;
    let mail = app
        .state
        .db
        .tenant(&t.id)
        .list_mail(&portico::domain::ListQuery { q: "approved".into(), page: None })
        .await
        .unwrap();
    assert_eq!(mail.total, 1);
    assert_eq!(mail.items[0].to_addr, "bob@northwind.example");
    assert!(mail.items[0].body.contains("http://portal.test/p/hostile/noop"));
    // Without the grant the plugin may not notify.
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&hostile().package(None), &["reseller"]).await;
    let token = app.client().token("bob@northwind.example", "portico-demo").await;
    let page = app.client().api(Method::GET, "/api/v1/p/hostile/notify", Some(&token), None).await;
    assert!(page.json()["error"].as_str().unwrap().contains("notifications grant"));
}
