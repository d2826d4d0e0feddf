//! Plugin UI is contained: a plugin's markup, files and answers cannot run script on the portal's origin, take a
//! form token to the host's routes or another plugin's, or send the browser anywhere off the portal. The hostile
//! UI test plugin (`tests/plugins/hostile-ui`) tries each; the browser test (`e2e/tests/containment.test.mjs`)
//! opens the same pages in Chromium and watches for anything that ran.

use portico_tests::{DbKind, TestApp, hostile_ui, html_unescape, spawn_app};
use reqwest::{Method, StatusCode};

async fn app_with_hostile_ui() -> TestApp {
    let app = spawn_app(DbKind::Sqlite).await;
    app.install(&hostile_ui().package(None), &["reseller", "msp"]).await;
    app
}

/// The markup inside the element the host wraps a plugin's markup in.
fn plugin_part(body: &str) -> &str {
    let start = body.find("data-pt-plugin=\"hostile-ui\"").expect("the plugin's root");
    &body[start..]
}

#[tokio::test]
async fn no_script_of_a_plugin_reaches_its_page_and_the_page_script_is_the_hosts_alone() {
    let app = app_with_hostile_ui().await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let page = admin.get("/p/hostile-ui/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap().to_string();
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in the policy");
    // The only script element is the host's behaviour script, with this response's nonce.
    assert_eq!(page.body.matches("<script").count(), 1, "{}", page.body);
    assert!(page.body.contains(&format!("<script nonce=\"{nonce}\" src=\"/_portico/portico.js\"")));
    let part = plugin_part(&page.body).to_ascii_lowercase();
    for bad in [
        "<script",
        "onerror",
        "onload",
        "onmouseover",
        "=\"javascript:",
        "=javascript:",
        "<base",
        "<meta",
        "<iframe",
        "<object",
        "<embed",
        "<svg",
        "<math",
        "<style",
        " style=",
        "srcdoc",
        " formaction=",
        "data:text",
        "/admin/branding",
        "from=link-stylesheet",
        "prefetch",
        "data-pt-plugin=\"guestbook\"",
        "/admin/users",
        "/p/guestbook",
    ] {
        assert!(!part.contains(bad), "{bad} survived in the plugin's markup: {part}");
    }
    // What is plain markup survives, the context escaped.
    assert!(part.contains("&lt;script&gt;alert('context')&lt;/script&gt;"), "{part}");
    assert!(part.contains("action=\"/p/hostile-ui/note\""));
    // The host's own token (in its sign-out form it is not even that) never reaches plugin markup.
    let host_token = admin.csrf.clone().expect("a host token from the sign-in page");
    assert!(!page.body.contains(&host_token), "the host's form token is on a plugin page");
}

#[tokio::test]
async fn a_plugin_form_token_is_good_for_that_plugins_routes_only() {
    let app = app_with_hostile_ui().await;
    app.install(&portico_tests::guestbook().package(None), &["reseller"]).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let page = admin.get("/p/hostile-ui/").await;
    let plugin_token = portico_tests::form_tokens(&page.body, "/p/hostile-ui/")
        .into_iter()
        .find(|(scope, _)| scope == "plugin:hostile-ui")
        .map(|(_, t)| t)
        .expect("the plugin's form carries a token");
    let post = |path: &'static str, token: String| {
        let admin = &admin;
        async move {
            admin
                .http
                .post(format!("{}{path}", admin.base))
                .form(&[("csrf_token", token.as_str()), ("portal_name", "PWNED"), ("n", "1")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Even submitted by the user, a plugin's token does not work on the host's routes or another plugin's.
    assert_eq!(post("/admin/branding", plugin_token.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(post("/account", plugin_token.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(post("/p/guestbook/", plugin_token.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(post("/logout", plugin_token.clone()).await, StatusCode::FORBIDDEN);
    // On its own routes it does.
    assert_eq!(post("/p/hostile-ui/note", plugin_token.clone()).await, StatusCode::SEE_OTHER);
    let branding = admin.http.get(format!("{}/admin/branding", admin.base)).send().await.unwrap();
    assert!(!branding.text().await.unwrap().contains("PWNED"));
    // The sign-out form's token signs out, and does nothing else.
    let logout_token = admin.scoped.get("logout").cloned().expect("the sign-out form's token");
    assert_eq!(post("/admin/branding", logout_token.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(post("/logout", logout_token).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn plugin_files_cannot_run_as_pages_of_the_portal() {
    let app = app_with_hostile_ui().await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    for (kind, disposition) in [
        ("html", "attachment"),
        ("svg", "attachment"),
        ("js", "attachment"),
        ("xml", "attachment"),
        ("other", "attachment"),
        ("csv", "inline"),
        ("png", "inline"),
    ] {
        let res = admin.get(&format!("/p/hostile-ui/file?kind={kind}")).await;
        assert_eq!(res.status, StatusCode::OK, "{kind}");
        let h = |name: &str| res.headers[name].to_str().unwrap().to_string();
        assert!(h("content-disposition").starts_with(disposition), "{kind}: {}", h("content-disposition"));
        assert_eq!(h("x-content-type-options"), "nosniff", "{kind}");
        assert!(h("content-security-policy").starts_with("sandbox;"), "{kind}: {}", h("content-security-policy"));
        assert!(!h("content-type").starts_with("text/html") || disposition == "attachment");
    }
    // File names cannot break out of the header or name a path.
    let res = admin
        .get("/p/hostile-ui/file?kind=csv&name=..%2F..%2Fevil%22%0D%0ASet-Cookie%3A%20x%3D1%20%C3%A9t%C3%A9.csv")
        .await;
    let d = res.headers["content-disposition"].to_str().unwrap();
    assert!(!d.contains('/') || d.contains("%2F") || !d.contains("../"), "{d}");
    assert!(!d.contains("\r") && !d.contains("\n") && !d.contains("\"evil\""), "{d}");
    assert!(d.contains("filename*=UTF-8''"), "a UTF-8 name travels as filename*: {d}");
    assert!(!res.headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("x=")));
    // Static files of the package: styles, images, fonts; an SVG cannot script.
    let css = admin.get("/plugin-static/hostile-ui/ui.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers["content-security-policy"].to_str().unwrap().starts_with("sandbox;"));
}

#[tokio::test]
async fn plugin_redirects_stay_on_the_portal_and_statuses_are_real_ones() {
    let app = app_with_hostile_ui().await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    for to in [
        "//evil.example/",
        "/\\evil.example",
        "/\\/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\tevil",
        "/ok\r\nSet-Cookie: x=1",
        "evil.example",
    ] {
        let enc: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
        let res = admin.get(&format!("/p/hostile-ui/redirect?to={enc}")).await;
        assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{to:?} was let through");
        assert!(res.headers.get("location").is_none(), "{to:?}");
        assert!(!res.headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("x=")), "{to:?}");
    }
    let ok = admin.get("/p/hostile-ui/redirect?to=%2Fp%2Fhostile-ui%2F%3Fdone%3D1").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location().unwrap(), "/p/hostile-ui/?done=1");
    let token = app.client().token("admin@acme.example", "portico-demo").await;
    for code in ["999", "99", "0", "1000"] {
        let res = app
            .client()
            .api(Method::GET, &format!("/api/v1/p/hostile-ui/status?code={code}"), Some(&token), None)
            .await;
        assert_eq!(res.status, StatusCode::BAD_GATEWAY, "status {code}");
        assert_eq!(res.json()["error"]["code"], "bad_gateway", "{}", res.body);
    }
    let teapot = app.client().api(Method::GET, "/api/v1/p/hostile-ui/status?code=418", Some(&token), None).await;
    assert_eq!(teapot.status.as_u16(), 418);
}

#[tokio::test]
async fn manifest_text_is_escaped_wherever_it_appears() {
    let app = app_with_hostile_ui().await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    for path in ["/admin/plugins", "/admin/plugins/hostile-ui", "/", "/p/hostile-ui/"] {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let body = page.body.to_ascii_lowercase();
        assert_eq!(body.matches("<script").count(), 1, "{path}: only the host's script");
        for bad in ["<img src=x", "<b onmouseover"] {
            assert!(!body.contains(bad), "{bad} raw on {path}");
        }
    }
    let plugin_page = admin.get("/admin/plugins/hostile-ui").await.body;
    assert!(
        html_unescape(&plugin_page).contains("Hostile &lt;script&gt;alert('name')&lt;/script&gt; UI"),
        "name shown as text"
    );
}

#[tokio::test]
async fn a_region_refresh_gets_the_sanitized_fragment_without_the_layout() {
    let app = app_with_hostile_ui().await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let res = admin
        .http
        .get(format!("{}/p/hostile-ui/fragment", admin.base))
        .header("x-portico-fragment", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = res.text().await.unwrap();
    assert!(body.contains("<p id=\"frag\">fragment <b>bold</b></p>"), "{body}");
    assert!(!body.contains("<html") && !body.contains("<script") && !body.contains("onclick"), "{body}");
}

#[tokio::test]
async fn the_frame_bridge_token_is_bound_to_its_plugin_and_session() {
    let app = app_with_hostile_ui().await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let page = admin.get("/p/hostile-ui/frame").await;
    let bridge = regex::Regex::new(r#"data-pt-bridge="([^"]+)""#).unwrap().captures(&page.body).unwrap()[1].to_string();
    let call = |path: &'static str, token: String| {
        let admin = &admin;
        async move {
            admin
                .http
                .post(format!("{}{path}", admin.base))
                .header("content-type", "application/json")
                .header("x-portico-bridge", token)
                .body("{}")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(call("/api/v1/p/hostile-ui/frame-ping", bridge.clone()).await, StatusCode::OK);
    assert_eq!(call("/api/v1/p/hostile-ui/frame-ping", "1.forged".into()).await, StatusCode::FORBIDDEN);
    app.install(&portico_tests::guestbook().package(None), &["reseller"]).await;
    let elsewhere = admin
        .http
        .get(format!("{}/api/v1/p/guestbook/entries", admin.base))
        .header("x-portico-bridge", bridge.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(elsewhere, StatusCode::FORBIDDEN, "a bridge token of one plugin is no good for another");
    // Another session's page cannot lend its token.
    let mut other = app.client();
    other.login_ok("admin@acme.example").await;
    let stolen = other
        .http
        .post(format!("{}/api/v1/p/hostile-ui/frame-ping", other.base))
        .header("content-type", "application/json")
        .header("x-portico-bridge", bridge)
        .body("{}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(stolen, StatusCode::FORBIDDEN);
    // The frame's own files: sandboxed, framed by the portal only, no session needed.
    let frame = app.client().get("/plugin-frame/hostile-ui/app.html").await;
    assert_eq!(frame.status, StatusCode::OK);
    let csp = frame.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("sandbox allow-scripts allow-forms;") && !csp.contains("allow-same-origin"), "{csp}");
    assert!(csp.contains("connect-src 'none'") && csp.contains("frame-ancestors 'self'"), "{csp}");
}

#[tokio::test]
async fn a_package_carrying_active_content_outside_frame_is_refused_with_what_to_do() {
    let app = spawn_app(DbKind::Sqlite).await;
    let package = hostile_ui().package(None);
    let mut p = portico::plugins::Package::from_tar_gz(&package).unwrap();
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    for (name, body) in [
        ("static/app.js", "fetch('/admin')"),
        ("static/page.html", "<script></script>"),
        ("static/evil.css", "input[value^=a]{background:url(/api/v1/p/hostile-ui/beacon?a)}"),
    ] {
        let mut bad = p.clone();
        bad.statics.insert(name.trim_start_matches("static/").to_string(), body.as_bytes().to_vec());
        // Packed by hand, as a plugin author's own tooling might.
        let bytes = bad.to_tar_gz();
        let e = portico::plugins::install(&app.state, &tenant, &bytes, None).await.unwrap_err().to_string();
        assert!(e.contains(name), "{name}: {e}");
        assert!(e.contains("frame/") || e.contains("url()"), "the refusal says what to do: {e}");
    }
    p.frames.insert("player.js".into(), b"console.log(1)".to_vec());
    assert!(portico::plugins::install(&app.state, &tenant, &p.to_tar_gz(), None).await.is_ok());
}
