//! Security headers on every response, walked route family by route family: pages, the JSON API, plugin pages,
//! plugin JSON, plugin files and frames, theme assets, the host's scripts, tenant media, operations endpoints and
//! errors of each kind.

use portico_tests::{DbKind, guestbook, hostile_ui, spawn_app, spawn_app_with};
use reqwest::header::HeaderMap;

/// Checks the headers every response carries, and returns the CSP.
fn check(path: &str, h: &HeaderMap) -> String {
    let get = |name: &str| h.get(name).unwrap_or_else(|| panic!("{path}: no {name}")).to_str().unwrap().to_string();
    assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(get("referrer-policy"), "strict-origin-when-cross-origin", "{path}");
    assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{path}");
    assert!(get("permissions-policy").contains("camera=()"), "{path}");
    let csp = get("content-security-policy");
    assert!(!csp.contains("'unsafe-inline'") || csp.starts_with("sandbox"), "{path}: {csp}");
    if !csp.starts_with("sandbox") {
        for d in ["object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(d), "{path}: {d} missing from {csp}");
        }
        assert!(!csp.contains("'unsafe-eval'"), "{path}: {csp}");
        let script = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap().trim().to_string();
        assert!(script == "script-src 'none'" || script.starts_with("script-src 'nonce-"), "{path}: {script}");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
    }
    assert!(h.get("strict-transport-security").is_none(), "{path}: HSTS only with secure_cookies");
    csp
}

#[tokio::test]
async fn every_route_family_carries_the_security_headers() {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&guestbook().package(None), &["reseller", "msp"]).await;
    app.install(&hostile_ui().package(None), &["reseller", "msp"]).await;
    let anonymous = app.client();
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let token = app.client().token("admin@acme.example", "portico-demo").await;
    for path in [
        "/login",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/default/style.css",
        "/static/midnight/style.css",
        "/_portico/portico.js",
        "/_portico/frame.js",
        "/plugin-frame/hostile-ui/app.html",
        "/nope",
        "/api/v1/nope",
        "/api/v1/me",
    ] {
        let page = anonymous.http.get(format!("{}{path}", anonymous.base)).send().await.unwrap();
        check(path, page.headers());
    }
    for path in [
        "/",
        "/admin/users",
        "/admin/plugins",
        "/p/guestbook/",
        "/p/hostile-ui/",
        "/p/hostile-ui/file?kind=html",
        "/plugin-static/hostile-ui/ui.css",
        "/p/nope/",
        "/admin/nope",
    ] {
        let page = admin.get(path).await;
        let csp = check(path, &page.headers);
        if page.headers["content-type"].to_str().unwrap().starts_with("text/html") && !csp.starts_with("sandbox") {
            // The page's scripts and styles carry this response's nonce, and it changes every time.
            let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_string();
            assert!(page.body.contains(&format!("nonce=\"{nonce}\"")), "{path}");
            let again = admin.get(path).await;
            assert!(!again.body.contains(&format!("nonce=\"{nonce}\"")), "{path}: a nonce was used twice");
        }
    }
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/me"),
        (reqwest::Method::GET, "/api/v1/p/guestbook/entries"),
        (reqwest::Method::DELETE, "/api/v1/me"),
        (reqwest::Method::GET, "/api/v1/users/nope"),
    ] {
        let res = app.client().api(method.clone(), path, Some(&token), None).await;
        let csp = check(path, &res.headers);
        assert!(csp.contains("script-src 'none'"), "{method} {path}: JSON never runs: {csp}");
    }
    // A form refused for its token, and a plugin error page.
    let refused = admin.post_raw("/admin/branding", &[("portal_name", "x")]).await;
    check("refused form", &refused.headers);
    let bad = admin.get("/p/hostile-ui/redirect?to=%2F%2Fevil.example").await;
    check("plugin bad gateway", &bad.headers);
}

#[tokio::test]
async fn hsts_and_embedders_follow_the_configuration() {
    let app = spawn_app_with(DbKind::Sqlite, |c| {
        c.secure_cookies = true;
        c.frame_ancestors = vec!["https://intranet.example".into()];
    })
    .await;
    let res = app.client().http.get(format!("{}/login", app.client().base)).send().await.unwrap();
    let h = res.headers();
    assert_eq!(h["strict-transport-security"], "max-age=31536000; includeSubDomains");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors https://intranet.example;"), "{csp}");
    assert!(h.get("x-frame-options").is_none(), "X-Frame-Options cannot name an embedder; the CSP does");
}
