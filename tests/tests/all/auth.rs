//! Signing in and out, throttling, CSRF, invitations and password resets.

use portico_tests::{DbKind, spawn_app, spawn_app_with};
use reqwest::StatusCode;

use crate::last_link_to;

#[tokio::test]
async fn login_then_logout_ends_the_session() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    c.login_ok("bob@northwind.example").await;
    let home = c.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Bob Northwind"));
    let cookie_before = c.http.get(format!("{}/", c.base)).send().await.unwrap();
    assert_eq!(cookie_before.status(), StatusCode::OK);
    let out = c.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = c.get("/").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), Some("/login?next=%2F"));
}

#[tokio::test]
async fn a_session_cookie_is_httponly_and_samesite() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    let page = c.login("alice@northwind.example", "portico-demo").await;
    let cookie = page.set_cookie("portico_session");
    let cookie = cookie.expect("session cookie set");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain http test server must not mark cookies Secure");
}

#[tokio::test]
async fn secure_cookies_when_configured_for_https() {
    let app = spawn_app_with(DbKind::Sqlite, |c| c.secure_cookies = true).await;
    let mut c = app.client();
    let page = c.login("alice@northwind.example", "portico-demo").await;
    let cookie = page.set_cookie("portico_session").unwrap();
    assert!(cookie.contains("Secure"));
}

#[tokio::test]
async fn wrong_password_is_refused_with_a_form_error_and_no_session() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    let page = c.login("bob@northwind.example", "not-the-password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("the email or password is wrong"));
    assert!(page.body.contains("value=\"bob@northwind.example\""), "the email is kept in the form");
    assert_eq!(c.get("/").await.status, StatusCode::SEE_OTHER);
    // An unknown email gets the very same answer.
    let page = c.login("nobody@northwind.example", "not-the-password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("the email or password is wrong"));
}

#[tokio::test]
async fn repeated_failures_throttle_logins_with_429_and_retry_after() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(c.login("bob@northwind.example", "wrong-password!").await.status);
    }
    assert!(statuses[..4].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    // Even the right password is refused while locked.
    let page = c.login("bob@northwind.example", "portico-demo").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = page.headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 300, "retry after {retry}");
    // Another user is not affected.
    c.login_ok("alice@northwind.example").await;
}

#[tokio::test]
async fn the_api_token_endpoint_is_throttled_too() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    let body = serde_json::json!({"email": "bob@northwind.example", "password": "nope-nope-nope"});
    let mut last = None;
    for _ in 0..6 {
        last = Some(c.api(reqwest::Method::POST, "/api/v1/tokens", None, Some(body.clone())).await);
    }
    let last = last.unwrap();
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(last.json()["error"]["code"], "too_many_requests");
    assert!(last.headers.get("retry-after").is_some());
}

#[tokio::test]
async fn a_form_without_csrf_token_is_refused_with_403() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    c.get("/login").await;
    let page = c.post_raw("/login", &[("email", "admin@acme.example"), ("password", "portico-demo")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("reload the page"));
    let page = c
        .post_raw(
            "/login",
            &[("email", "admin@acme.example"), ("password", "portico-demo"), ("csrf_token", "Zm9yZ2Vk")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    c.login_ok("admin@acme.example").await;
    let page = c.post_raw("/admin/orgs/new", &[("name", "Sneaky Partner")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let orgs = c.get("/admin/orgs?q=Sneaky").await;
    assert!(!orgs.body.contains("Sneaky Partner"), "nothing was created");
}

#[tokio::test]
async fn a_csrf_token_from_another_browser_is_refused() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut attacker = app.client();
    attacker.get("/login").await;
    let stolen = attacker.csrf.clone().unwrap();
    let mut victim = app.client();
    victim.login_ok("admin@acme.example").await;
    let page = victim.post_raw("/admin/orgs/new", &[("name", "Forged"), ("csrf_token", &stolen)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_invitation_is_accepted_once_and_signs_the_user_in() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let tenant = app.tenant_id("acme").await;
    let northwind = app
        .state
        .db
        .tenant(&tenant)
        .list_partner_orgs(&portico::domain::ListQuery { q: "Northwind".into(), page: None })
        .await
        .unwrap()
        .items[0]
        .id
        .clone();
    let page = admin
        .post(
            "/admin/users/invite",
            &[
                ("name", "Nina New"),
                ("email", "nina@northwind.example"),
                ("role", "partner_user"),
                ("org_id", &northwind),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    // Kept mail is also written to the data dir.
    let kept = std::fs::read_dir(app.data_dir.join("mail").join(&tenant)).unwrap().count();
    assert_eq!(kept, 1);

    let link = last_link_to(&app, "nina@northwind.example").await;
    let mut nina = app.client();
    let form = nina.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("Welcome, Nina New"));
    let short = nina.post(&link, &[("password", "short"), ("confirm", "short")]).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.body.contains("use at least 10 characters"));
    let done = nina.post(&link, &[("password", "nina-secret-pw"), ("confirm", "nina-secret-pw")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let home = nina.get("/").await;
    assert!(home.body.contains("Nina New"), "signed in after accepting");

    // The link is single-use.
    let mut other = app.client();
    assert_eq!(other.get(&link).await.status, StatusCode::GONE);
    let again = other.post(&link, &[("password", "another-password"), ("confirm", "another-password")]).await;
    assert_eq!(again.status, StatusCode::GONE);
    other.login("nina@northwind.example", "nina-secret-pw").await;
    assert_eq!(other.get("/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_invitation_does_not_work() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let tenant = app.tenant_id("acme").await;
    let vendor = app.state.db.tenant(&tenant).vendor_org().await.unwrap().unwrap();
    admin
        .post(
            "/admin/users/invite",
            &[
                ("name", "Late Larry"),
                ("email", "larry@acme.example"),
                ("role", "channel_manager"),
                ("org_id", &vendor.id),
            ],
        )
        .await;
    let link = last_link_to(&app, "larry@acme.example").await;
    app.state.db.execute_raw("UPDATE auth_tokens SET expires_at = 0").await.unwrap();
    let mut larry = app.client();
    assert_eq!(larry.get(&link).await.status, StatusCode::GONE);
    let page = larry.post(&link, &[("password", "larry-password"), ("confirm", "larry-password")]).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("no longer works"));
}

#[tokio::test]
async fn a_password_reset_works_once_and_replaces_the_old_password() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let mut c = app.client();
    c.get("/forgot").await;
    let page = c.post("/forgot", &[("email", "bob@northwind.example")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // An unknown address gets the same answer and no mail.
    let page = c.post("/forgot", &[("email", "ghost@northwind.example")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let link = last_link_to(&app, "bob@northwind.example").await;
    let mismatch = c.post(&link, &[("password", "new-bob-password"), ("confirm", "other-bob-password")]).await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.body.contains("the two passwords differ"));
    let done = c.post(&link, &[("password", "new-bob-password"), ("confirm", "new-bob-password")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        c.post(&link, &[("password", "third-bob-password"), ("confirm", "third-bob-password")]).await.status,
        StatusCode::GONE
    );
    // The reset ended Bob's existing session, and only the new password works.
    assert_eq!(bob.get("/").await.status, StatusCode::SEE_OTHER);
    let mut fresh = app.client();
    assert_eq!(fresh.login("bob@northwind.example", "portico-demo").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(fresh.login("bob@northwind.example", "new-bob-password").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_expired_reset_link_does_not_work() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    c.post("/forgot", &[("email", "carol@fabrikam.example")]).await;
    let link = last_link_to(&app, "carol@fabrikam.example").await;
    app.state.db.execute_raw("UPDATE auth_tokens SET expires_at = 1").await.unwrap();
    assert_eq!(
        c.post(&link, &[("password", "carol-new-password"), ("confirm", "carol-new-password")]).await.status,
        StatusCode::GONE
    );
    c.login_ok("carol@fabrikam.example").await;
}

#[tokio::test]
async fn a_deactivated_user_is_signed_out_everywhere_and_cannot_sign_in() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let token = bob.token("bob@northwind.example", "portico-demo").await;
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    let tenant = app.tenant_id("acme").await;
    let bob_id = app.state.db.tenant(&tenant).user_by_email("bob@northwind.example").await.unwrap().unwrap().id;
    let page = alice.post(&format!("/org/users/{bob_id}/status"), &[("status", "deactivated")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(bob.get("/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(bob.api(reqwest::Method::GET, "/api/v1/me", Some(&token), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.client().login("bob@northwind.example", "portico-demo").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_in_returns_to_the_page_asked_for_but_never_off_site() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    c.get("/login?next=/account").await;
    let page = c
        .post("/login", &[("email", "bob@northwind.example"), ("password", "portico-demo"), ("next", "/account")])
        .await;
    assert_eq!(page.location(), Some("/account"));
    let mut c = app.client();
    c.get("/login").await;
    let page = c
        .post(
            "/login",
            &[("email", "bob@northwind.example"), ("password", "portico-demo"), ("next", "//evil.example/")],
        )
        .await;
    assert_eq!(page.location(), Some("/"));
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    c.login_ok("dave@contoso.example").await;
    c.get("/account").await;
    let page = c
        .post(
            "/account/password",
            &[("current", "wrong-current"), ("password", "dave-new-password"), ("confirm", "dave-new-password")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("your current password is not that"));
    let page = c
        .post(
            "/account/password",
            &[("current", "portico-demo"), ("password", "dave-new-password"), ("confirm", "dave-new-password")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/account").await.status, StatusCode::OK, "the session that changed it goes on");
    assert_eq!(app.client().login("dave@contoso.example", "dave-new-password").await.status, StatusCode::SEE_OTHER);
}

/// Behind a trusted load balancer, throttling by address uses the client's address from `X-Forwarded-For`:
/// one client's failures lock that client out, not everyone behind the balancer.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_by_its_own_address() {
    let app = spawn_app_with(DbKind::Sqlite, |c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let c = app.client();
    let token = |email: &'static str, password: &'static str, client: &'static str| {
        let req = c
            .http
            .post(format!("{}/api/v1/tokens", c.base))
            .header("x-forwarded-for", client)
            .json(&serde_json::json!({"email": email, "password": password}));
        async move { req.send().await.unwrap().status() }
    };
    // 20 failures from one client (the limit per address: four times the 5 per account), spread over five
    // accounts so that none is locked by its email; the 20th locks the address.
    let emails = ["a@acme.example", "b@acme.example", "c@acme.example", "d@acme.example", "e@acme.example"];
    for n in 0..20 {
        let expected = if n < 19 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(token(emails[n % 5], "wrong-password", "203.0.113.7").await, expected, "attempt {n}");
    }
    // That client is locked out, even with a right password; a client it claims to be on the left is not it.
    assert_eq!(token("alice@northwind.example", "portico-demo", "203.0.113.7").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        token("alice@northwind.example", "portico-demo", "198.51.100.1, 203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same balancer is not.
    assert_eq!(token("alice@northwind.example", "portico-demo", "203.0.113.8").await, StatusCode::CREATED);
}
