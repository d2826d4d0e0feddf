//! Every free-text field renders escaped: a `<script>` payload never reaches a page as markup.

use portico_tests::{DbKind, spawn_app};
use reqwest::StatusCode;

const XSS: &str = "<script>alert('x')</script>";

/// A payload that would break out of a quoted attribute value.
const ATTR: &str = "\"><svg onload=alert(2)>";

/// Each payload the tests send, as it would appear if it reached the page unescaped.
const RAW: [&str; 5] = ["<script>alert", "<img src=x onerror", "<b>1</b>", "<svg onload", "</style><script>"];

fn assert_escaped(page: &str, where_: &str) {
    for raw in RAW {
        assert!(!page.contains(raw), "raw payload {raw:?} on {where_}");
    }
}

#[tokio::test]
async fn script_payloads_in_every_free_text_field_render_escaped() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    admin.get("/admin/orgs/new").await;
    let page = admin
        .post(
            "/admin/orgs/new",
            &[
                ("name", &format!("Evil {XSS}")),
                ("website", &format!("https://evil.example/{ATTR}")),
                ("address", XSS),
                ("phone", "<b>1</b>"),
                ("contact_email", "a@evil.example"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let org_path = page.location().unwrap().split('?').next().unwrap().to_string();
    let org_id = org_path.rsplit('/').next().unwrap().to_string();
    let page = admin
        .post("/admin/programs", &[("name", &format!("Prog {XSS}")), ("description", XSS), ("tiers", "Low, High")])
        .await;
    let program_path = page.location().unwrap().split('?').next().unwrap().to_string();
    admin.post(&format!("{program_path}/tiers"), &[("name", "Top <img src=x onerror=alert(1)>")]).await;
    admin
        .post(
            "/admin/users/invite",
            &[
                ("name", &format!("Mallory {XSS}")),
                ("email", "mallory@evil.example"),
                ("role", "partner_admin"),
                ("org_id", &org_id),
            ],
        )
        .await;
    admin.post("/account", &[("name", &format!("Ada {XSS}")), ("timezone", "")]).await;
    let t = app.tenant_id("acme").await;
    let mallory = app.state.db.tenant(&t).user_by_email("mallory@evil.example").await.unwrap().unwrap();
    let mallory_path = format!("/admin/users/{}", mallory.id);
    admin.post("/account/tokens", &[("token_name", XSS)]).await;
    let form = reqwest::multipart::Form::new()
        .text("portal_name", format!("Portal {XSS}"))
        .text("primary_color", "#123456")
        .text("accent_color", "#654321")
        .text("theme", "default")
        .text("custom_css", "body{} </style><script>alert('css')</script>");
    let page = admin.post_multipart("/admin/branding", form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

    for path in [
        "/",
        "/admin/orgs",
        &org_path,
        "/admin/programs",
        &program_path,
        "/admin/users",
        &mallory_path,
        "/admin/audit",
        "/admin/mail",
        "/account",
        "/admin/branding",
        "/admin/orgs?q=<script>alert(1)</script>",
        "/nope<script>alert(1)</script>",
    ] {
        let page = admin.get(path).await;
        assert_escaped(&page.body, path);
        assert!(!page.body.contains("</style><script>"), "custom CSS broke out of its style element on {path}");
    }
    let dash = admin.get("/admin/orgs").await.body;
    assert!(dash.contains("Evil &lt;script&gt;"), "escaped form shown");

    // The partner side too: Alice edits her org with payloads, Bob sees them escaped.
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    alice.get("/org").await;
    let form = reqwest::multipart::Form::new()
        .text("name", format!("Northwind {XSS}"))
        .text("address", XSS)
        .text("website", format!("https://northwind.example/{ATTR}"))
        .text("phone", "<b>1</b>")
        .text("contact_email", "");
    assert_eq!(alice.post_multipart("/org", form).await.status, StatusCode::SEE_OTHER);
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    for path in ["/", "/account"] {
        assert_escaped(&bob.get(path).await.body, path);
    }
    assert_escaped(&alice.get("/org").await.body, "/org");
    assert_escaped(&alice.get("/org/users").await.body, "/org/users");
}

/// What a visitor types and gets shown again (searches, a refused form, the address after sign-in, an invitation)
/// is escaped too.
#[tokio::test]
async fn payloads_echoed_back_render_escaped() {
    let app = spawn_app(DbKind::Sqlite).await;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut anon = app.client();
    let login = anon.get(&format!("/login?next={}", enc(&format!("/{ATTR}{XSS}")))).await;
    assert_escaped(&login.body, "/login?next=");
    anon.get("/forgot").await;
    let refused = anon.post("/login", &[("email", &format!("{ATTR}{XSS}")), ("password", "x")]).await;
    assert_escaped(&refused.body, "the refused sign-in form");
    let refused = anon.post("/forgot", &[("email", &format!("{ATTR}{XSS}"))]).await;
    assert_escaped(&refused.body, "the refused reset form");

    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    for base in ["/admin/orgs", "/admin/users", "/admin/mail", "/admin/audit"] {
        let path = format!("{base}?q={}", enc(&format!("{ATTR}{XSS}")));
        assert_escaped(&admin.get(&path).await.body, &path);
    }
    // An invitation whose name and org carry payloads, and its accept page.
    let t = app.tenant_id("acme").await;
    admin.get("/admin/orgs/new").await;
    let page = admin.post("/admin/orgs/new", &[("name", &format!("Org {ATTR}{XSS}"))]).await;
    let org_id = page.location().unwrap().split('?').next().unwrap().rsplit('/').next().unwrap().to_string();
    let page = admin
        .post(
            "/admin/users/invite",
            &[
                ("name", &format!("Ivy {ATTR}{XSS}")),
                ("email", "ivy@evil.example"),
                ("role", "partner_admin"),
                ("org_id", &org_id),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let mail = app.state.db.tenant(&t).list_mail(&Default::default()).await.unwrap().items.remove(0);
    let link = regex::Regex::new(r"/invite/[A-Za-z0-9_-]+").unwrap().find(&mail.body).unwrap().as_str().to_string();
    assert_escaped(&app.client().get(&link).await.body, "the invitation page");

    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    alice.get("/org/users/invite").await;
    alice
        .post(
            "/org/users/invite",
            &[("name", &format!("Pat {ATTR}{XSS}")), ("email", "pat@northwind.example"), ("role", "partner_user")],
        )
        .await;
    let pat = app.state.db.tenant(&t).user_by_email("pat@northwind.example").await.unwrap().unwrap();
    for path in [format!("/org/users/{}", pat.id), format!("/org/users?q={}", enc(&format!("{ATTR}{XSS}")))] {
        assert_escaped(&alice.get(&path).await.body, &path);
    }
    let refused =
        alice.post("/org/users/invite", &[("name", &format!("{ATTR}{XSS}")), ("email", &format!("{ATTR}{XSS}"))]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_escaped(&refused.body, "the refused invitation form");
}
