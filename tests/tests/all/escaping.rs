//! Every free-text field renders escaped: a `<script>` payload never reaches a page as markup.

use portico_tests::{DbKind, spawn_app};
use reqwest::StatusCode;

const XSS: &str = "<script>alert('x')</script>";

fn assert_escaped(page: &str, where_: &str) {
    assert!(!page.contains("<script>alert"), "raw payload on {where_}");
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
                ("website", "https://evil.example"),
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
        .text("website", "")
        .text("phone", "")
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
