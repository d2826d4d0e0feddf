//! Branding, themes and template overrides: what a vendor admin changes is what partners see.

use portico_tests::{DbKind, spawn_app};
use reqwest::StatusCode;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82";

fn branding(name: &str, primary: &str, theme: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("portal_name", name.to_string())
        .text("primary_color", primary.to_string())
        .text("accent_color", "#0f9d76")
        .text("theme", theme.to_string())
        .text("custom_css", ".brand-name { letter-spacing: .02em; }")
}

#[tokio::test]
async fn branding_changes_show_on_partner_pages() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    admin.get("/admin/branding").await;
    let form = branding("Acme Partner Hub", "#aa3377", "default").part(
        "logo",
        reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("logo.png").mime_str("image/png").unwrap(),
    );
    let page = admin.post_multipart("/admin/branding", form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let home = portico_tests::html_unescape(&bob.get("/").await.body);
    assert!(home.contains("Acme Partner Hub"));
    assert!(home.contains("--primary: #aa3377"));
    assert!(home.contains("letter-spacing: .02em"));
    let logo =
        regex::Regex::new(r#"src="(/media/[^"]+)""#).unwrap().captures(&home).expect("logo shown")[1].to_string();
    let res = bob.http.get(format!("{}{logo}", bob.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
    // The sign-in page carries the brand too.
    assert!(app.client().get("/login").await.body.contains("Acme Partner Hub"));
}

#[tokio::test]
async fn bad_branding_input_gets_field_errors_and_changes_nothing() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    admin.get("/admin/branding").await;
    let form = branding("", "red", "no-such-theme")
        .part("logo", reqwest::multipart::Part::bytes(b"<svg onload=alert(1)>".to_vec()).file_name("logo.svg"));
    let page = admin.post_multipart("/admin/branding", form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for msg in [
        "enter a portal name",
        "use a colour like #1f5fbf",
        "choose one of the installed themes",
        "use a PNG, JPEG, GIF, WebP or ICO image",
    ] {
        assert!(page.body.contains(msg), "missing {msg}");
    }
    assert!(app.client().get("/login").await.body.contains("Acme Partner Portal"));
}

#[tokio::test]
async fn switching_to_the_midnight_theme_changes_the_layout() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let before = portico_tests::html_unescape(&admin.get("/").await.body);
    assert!(before.contains(r#"class="topbar""#));
    assert!(before.contains("/static/default/style.css"));
    let page = admin.post_multipart("/admin/branding", branding("Acme Partner Portal", "#1f5fbf", "midnight")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let after = portico_tests::html_unescape(&admin.get("/").await.body);
    assert!(after.contains(r#"class="sidebar""#), "midnight lays navigation out in a sidebar");
    assert!(!after.contains(r#"class="topbar""#));
    assert!(after.contains("/static/midnight/style.css"));
    let css = admin.get("/static/midnight/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.contains("Midnight"));
}

#[tokio::test]
async fn a_tenant_template_override_wins_over_the_theme() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = app.tenant_id("acme").await;
    let globex = app.create_tenant("globex", "boss@globex.example", "globex-password").await;
    let _ = globex;
    app.state
        .db
        .tenant(&t)
        .set_template_override(
            "login.html",
            Some(r#"{% extends "layout.html" %}{% block content %}<p>Acme's own sign-in</p>{% endblock content %}"#),
        )
        .await
        .unwrap();
    assert!(app.client().get("/login").await.body.contains("Acme's own sign-in"));
    assert!(
        !app.client_for("globex.portico.test").get("/login").await.body.contains("Acme's own sign-in"),
        "other tenants keep the theme"
    );
    app.state.db.tenant(&t).set_template_override("login.html", None).await.unwrap();
    assert!(!app.client().get("/login").await.body.contains("Acme's own sign-in"));
}

/// A vendor admin overrides a page template from the admin UI: it is checked before it is saved, a version that
/// fails on a page's context falls back to the theme's, and removing it restores the theme's.
#[tokio::test]
async fn a_vendor_admin_manages_template_overrides_in_the_admin_ui() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let list = portico_tests::html_unescape(&admin.get("/admin/templates").await.body);
    assert!(list.contains("login.html") && list.contains("admin/orgs.html"), "lists the theme's templates");
    let edit = admin.get("/admin/templates/edit?name=login.html").await;
    assert!(portico_tests::html_unescape(&edit.body).contains("{% block content %}"), "starts from the theme's source");
    assert_eq!(admin.get("/admin/templates/edit?name=nope.html").await.status, StatusCode::NOT_FOUND);

    // A template that does not parse is refused with tera's message on the field, and the text is kept.
    let page = admin.post("/admin/templates", &[("name", "login.html"), ("source", "{% block content %}oops")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("e-source"), "a field-level error");
    assert!(portico_tests::html_unescape(&page.body).contains("{% block content %}oops"), "nothing typed is lost");
    // So is one for a template the theme does not have.
    let page = admin.post("/admin/templates", &[("name", "../secrets.html"), ("source", "x")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    // And the editor's own pages cannot be replaced, so the way back from a bad edit always works.
    let page = admin.post("/admin/templates", &[("name", "admin/template.html"), ("source", "gone")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(admin.get("/admin/templates/edit?name=admin/templates.html").await.status, StatusCode::NOT_FOUND);

    // A good one is used at once.
    let own =
        r#"{% extends "layout.html" %}{% block content %}<p>Sign in to the Acme channel</p>{% endblock content %}"#;
    let page = admin.post("/admin/templates", &[("name", "login.html"), ("source", own)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(app.client().get("/login").await.body.contains("Sign in to the Acme channel"));
    assert!(admin.get("/admin/templates").await.body.contains("yours"));
    assert!(admin.get("/admin/audit").await.body.contains("template.saved"));

    // One that parses but fails on the page's context (a variable the page lacks): the theme's is used.
    let broken = r#"{% extends "layout.html" %}{% block content %}{{ no_such_variable.field }}{% endblock content %}"#;
    let page = admin.post("/admin/templates", &[("name", "dashboard.html"), ("source", broken)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let dash = admin.get("/").await;
    assert_eq!(dash.status, StatusCode::OK, "the dashboard still renders");
    assert!(dash.body.contains("Welcome back"), "with the theme's template");

    // Removing the override restores the theme's.
    let page = admin.post("/admin/templates/remove", &[("name", "login.html")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(!app.client().get("/login").await.body.contains("Sign in to the Acme channel"));
}
