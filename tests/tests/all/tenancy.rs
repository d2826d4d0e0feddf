//! Tenants are isolated: same emails in two tenants, sessions and tokens bound to their tenant.

use portico_tests::{DbKind, spawn_app};
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn two_tenants_with_the_same_emails_see_nothing_of_each_other() {
    let app = spawn_app(DbKind::Sqlite).await;
    // Globex has a user with the very email of Acme's admin, with another password.
    app.create_tenant("globex", "admin@acme.example", "globex-password").await;
    let mut acme = app.client_for("acme.portico.test");
    let mut globex = app.client_for("globex.portico.test");

    // Each password works only on its own tenant.
    assert_eq!(globex.login("admin@acme.example", "portico-demo").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(acme.login("admin@acme.example", "globex-password").await.status, StatusCode::UNAUTHORIZED);
    acme.login_ok("admin@acme.example").await;
    assert_eq!(globex.login("admin@acme.example", "globex-password").await.status, StatusCode::SEE_OTHER);

    // Lists are per tenant.
    let acme_orgs = acme.get("/admin/orgs").await.body;
    let globex_orgs = globex.get("/admin/orgs").await.body;
    assert!(acme_orgs.contains("Northwind Solutions"));
    assert!(!globex_orgs.contains("Northwind Solutions"));
    assert!(!globex.get("/admin/users").await.body.contains("bob@northwind.example"));

    // Acme's ids are unknown on Globex.
    let acme_id = app.tenant_id("acme").await;
    let bob = app.state.db.tenant(&acme_id).user_by_email("bob@northwind.example").await.unwrap().unwrap();
    assert_eq!(globex.get(&format!("/admin/users/{}", bob.id)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        globex.post(&format!("/admin/users/{}/status", bob.id), &[("status", "deactivated")]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.state.db.tenant(&acme_id).user(&bob.id).await.unwrap().unwrap().status,
        portico::domain::UserStatus::Active
    );

    // An API token is only good on its tenant.
    let acme_token = acme.token("admin@acme.example", "portico-demo").await;
    assert_eq!(acme.api(Method::GET, "/api/v1/me", Some(&acme_token), None).await.status, StatusCode::OK);
    assert_eq!(globex.api(Method::GET, "/api/v1/me", Some(&acme_token), None).await.status, StatusCode::UNAUTHORIZED);
    let page = globex
        .api(
            Method::GET,
            &format!("/api/v1/orgs/{}", bob.org_id),
            Some(&globex.token("admin@acme.example", "globex-password").await),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_session_cookie_from_one_tenant_is_not_valid_on_another() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.create_tenant("globex", "boss@globex.example", "globex-password").await;
    let mut acme = app.client_for("acme.portico.test");
    let page = acme.login("admin@acme.example", "portico-demo").await;
    let cookie = page.set_cookie("portico_session").unwrap();
    let value = cookie.split(';').next().unwrap().to_string();
    // Replay Acme's session cookie against Globex.
    let globex = app.client_for("globex.portico.test");
    let res = globex.http.get(format!("{}/", globex.base)).header("cookie", value.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "not signed in on globex");
    let res = acme.http.get(format!("{}/", acme.base)).header("cookie", value).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn hosts_resolve_to_tenants_by_subdomain_custom_domain_or_default() {
    let app = spawn_app(DbKind::Sqlite).await;
    let globex = app.create_tenant("globex", "boss@globex.example", "globex-password").await;
    app.state
        .db
        .execute_raw(&format!("UPDATE tenants SET domain = 'partners.globex.example' WHERE id = '{globex}'"))
        .await
        .unwrap();
    let mut by_domain = app.client_for("partners.globex.example");
    assert!(by_domain.get("/login").await.body.contains("globex Inc"));
    let mut by_sub = app.client_for("globex.portico.test");
    assert!(by_sub.get("/login").await.body.contains("globex Inc"));
    let mut local = app.client();
    assert!(local.get("/login").await.body.contains("Acme Partner Portal"));
    let mut unknown = app.client_for("nobody.portico.test");
    let page = unknown.get("/login").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("No portal here"));
    let page = unknown.api(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(page.json()["error"]["code"], "unknown_portal");
    let mut stranger = app.client_for("evil.example");
    assert_eq!(stranger.get("/login").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn media_of_another_tenant_is_not_served() {
    let app = spawn_app(DbKind::Sqlite).await;
    let globex = app.create_tenant("globex", "boss@globex.example", "globex-password").await;
    let key = format!("tenants/{globex}/branding/logo-x.png");
    app.state.blobs.put(&key, b"\x89PNG\r\n\x1a\nfake".to_vec()).await.unwrap();
    let mut acme = app.client();
    assert_eq!(acme.get(&format!("/media/{key}")).await.status, StatusCode::NOT_FOUND);
    let mut g = app.client_for("globex.portico.test");
    assert_eq!(g.get(&format!("/media/{key}")).await.status, StatusCode::OK);
}
