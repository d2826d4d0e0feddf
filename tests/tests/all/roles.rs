//! The role matrix: every role against every admin page, form and API route, allowed or refused.

use portico_tests::{DbKind, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

const ROLES: [&str; 4] =
    ["admin@acme.example", "manager@acme.example", "alice@northwind.example", "bob@northwind.example"];

/// Expected status per role, in the order of [`ROLES`]: vendor admin, channel manager, partner admin, partner user.
type Row = (&'static str, [u16; 4]);

/// A form post: path, fields, and expected status per role.
type FormRow = (&'static str, &'static [(&'static str, &'static str)], [u16; 4]);

const PAGES: &[Row] = &[
    ("/", [200, 200, 200, 200]),
    ("/account", [200, 200, 200, 200]),
    ("/admin/orgs", [200, 200, 403, 403]),
    ("/admin/orgs/new", [200, 403, 403, 403]),
    ("/admin/orgs/{northwind}", [200, 200, 403, 403]),
    ("/admin/users", [200, 403, 403, 403]),
    ("/admin/users/invite", [200, 403, 403, 403]),
    ("/admin/users/{bob}", [200, 403, 403, 403]),
    ("/admin/programs", [200, 403, 403, 403]),
    ("/admin/programs/{reseller}", [200, 403, 403, 403]),
    ("/admin/branding", [200, 403, 403, 403]),
    ("/admin/mail", [200, 403, 403, 403]),
    ("/admin/audit", [200, 403, 403, 403]),
    ("/admin/plugins", [200, 403, 403, 403]),
    ("/admin/plugins/dead-letters", [200, 403, 403, 403]),
    ("/org", [403, 403, 200, 403]),
    ("/org/users", [403, 403, 200, 403]),
    ("/org/users/invite", [403, 403, 200, 403]),
    ("/org/users/{bob}", [403, 403, 200, 403]),
];

fn fill(path: &str, ids: &[(&str, String)]) -> String {
    ids.iter().fold(path.to_string(), |p, (k, v)| p.replace(&format!("{{{k}}}"), v))
}

async fn ids(app: &portico_tests::TestApp) -> Vec<(&'static str, String)> {
    let t = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&t);
    let lq = portico::domain::ListQuery { q: "northwind".into(), page: None };
    vec![
        ("northwind", scope.list_partner_orgs(&lq).await.unwrap().items[0].id.clone()),
        ("bob", scope.user_by_email("bob@northwind.example").await.unwrap().unwrap().id),
        ("reseller", scope.program_by_key("reseller").await.unwrap().id),
    ]
}

#[tokio::test]
async fn every_role_gets_exactly_the_pages_it_should() {
    let app = spawn_app(DbKind::Sqlite).await;
    let ids = ids(&app).await;
    let mut failures = Vec::new();
    for (i, email) in ROLES.iter().enumerate() {
        let mut c = app.client();
        c.login_ok(email).await;
        for (path, expected) in PAGES {
            let path = fill(path, &ids);
            let got = c.get(&path).await.status.as_u16();
            if got != expected[i] {
                failures.push(format!("{email} GET {path}: expected {}, got {got}", expected[i]));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in() {
    let app = spawn_app(DbKind::Sqlite).await;
    let ids = ids(&app).await;
    let mut c = app.client();
    for (path, _) in PAGES {
        let path = fill(path, &ids);
        let page = c.get(&path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location().unwrap().starts_with("/login?next="), "{path}");
    }
}

#[tokio::test]
async fn every_role_may_submit_exactly_the_admin_forms_it_should() {
    let app = spawn_app(DbKind::Sqlite).await;
    let ids = ids(&app).await;
    let forms: &[FormRow] = &[
        ("/admin/orgs/new", &[("name", "Matrix Partner {i}")], [303, 403, 403, 403]),
        ("/admin/programs", &[("name", "Matrix Program {i}"), ("tiers", "One, Two")], [303, 403, 403, 403]),
        ("/admin/orgs/{northwind}", &[("name", "Northwind Solutions")], [303, 403, 403, 403]),
        ("/admin/users/{bob}/role", &[("role", "partner_user")], [303, 403, 403, 403]),
        ("/org/users/{bob}/role", &[("role", "partner_user")], [403, 403, 303, 403]),
    ];
    let mut failures = Vec::new();
    for (i, email) in ROLES.iter().enumerate() {
        let mut c = app.client();
        c.login_ok(email).await;
        for (path, fields, expected) in forms {
            let path = fill(path, &ids);
            let n = i.to_string();
            let fields: Vec<(&str, String)> = fields.iter().map(|(k, v)| (*k, v.replace("{i}", &n))).collect();
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let got = c.post(&path, &refs).await.status.as_u16();
            if got != expected[i] {
                failures.push(format!("{email} POST {path}: expected {}, got {got}", expected[i]));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn every_role_gets_exactly_the_api_it_should() {
    let app = spawn_app(DbKind::Sqlite).await;
    let ids = ids(&app).await;
    let c = app.client();
    let mut failures = Vec::new();
    for (i, email) in ROLES.iter().enumerate() {
        let token = c.token(email, "portico-demo").await;
        let calls: Vec<(Method, String, Option<serde_json::Value>, [u16; 4])> = vec![
            (Method::GET, "/api/v1/me".into(), None, [200, 200, 200, 200]),
            (Method::GET, "/api/v1/orgs".into(), None, [200, 200, 200, 200]),
            (
                Method::POST,
                "/api/v1/orgs".into(),
                Some(json!({"name": format!("Api Partner {i}")})),
                [201, 403, 403, 403],
            ),
            (Method::GET, fill("/api/v1/orgs/{northwind}", &ids), None, [200, 200, 200, 200]),
            (
                Method::PATCH,
                fill("/api/v1/orgs/{northwind}", &ids),
                Some(json!({"phone": "+1 555 0199"})),
                [200, 403, 200, 403],
            ),
            (Method::GET, "/api/v1/users".into(), None, [200, 403, 200, 403]),
            (
                Method::POST,
                "/api/v1/users".into(),
                Some(
                    json!({"email": format!("new{i}@northwind.example"), "name": "New Person", "role": "partner_user", "org_id": ids[0].1}),
                ),
                [201, 403, 201, 403],
            ),
            (Method::GET, fill("/api/v1/users/{bob}", &ids), None, [200, 404, 200, 200]),
            (
                Method::PATCH,
                fill("/api/v1/users/{bob}", &ids),
                Some(json!({"role": "partner_user"})),
                [200, 403, 200, 404],
            ),
            (Method::GET, "/api/v1/programs".into(), None, [200, 200, 200, 200]),
            (
                Method::POST,
                "/api/v1/programs".into(),
                Some(json!({"name": format!("Api Program {i}"), "tiers": ["A", "B"]})),
                [201, 403, 403, 403],
            ),
            (Method::GET, fill("/api/v1/programs/{reseller}", &ids), None, [200, 200, 200, 200]),
            (Method::GET, "/api/v1/plugins".into(), None, [200, 403, 403, 403]),
        ];
        for (method, path, body, expected) in calls {
            let page = c.api(method.clone(), &path, Some(&token), body).await;
            let got = page.status.as_u16();
            if got != expected[i] {
                failures.push(format!("{email} {method} {path}: expected {}, got {got}: {}", expected[i], page.body));
            }
            if got >= 400 {
                let j = page.json();
                assert!(j["error"]["code"].is_string() && j["error"]["message"].is_string(), "JSON error shape: {j}");
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn the_api_without_a_token_answers_401_json() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    for path in ["/api/v1/me", "/api/v1/orgs", "/api/v1/users", "/api/v1/programs"] {
        let page = c.api(Method::GET, path, None, None).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(page.json()["error"]["code"], "unauthorized");
    }
    let page = c.api(Method::GET, "/api/v1/me", Some("not-a-real-token"), None).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_partner_admin_cannot_touch_another_orgs_users() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&t);
    let carol = scope.user_by_email("carol@fabrikam.example").await.unwrap().unwrap();
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    alice.get("/org/users").await;
    // Pages: not found, as if Carol did not exist.
    assert_eq!(alice.get(&format!("/org/users/{}", carol.id)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        alice.post(&format!("/org/users/{}/status", carol.id), &[("status", "deactivated")]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        alice.post(&format!("/org/users/{}/role", carol.id), &[("role", "partner_user")]).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!alice.get("/org/users?q=carol").await.body.contains("carol@fabrikam.example"));
    // Inviting into another org is refused.
    let page = alice
        .post(
            "/org/users/invite",
            &[
                ("name", "Intruder"),
                ("email", "intruder@fabrikam.example"),
                ("role", "partner_admin"),
                ("org_id", &carol.org_id),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "the form ignores org_id and invites into Alice's own org");
    let intruder = scope.user_by_email("intruder@fabrikam.example").await.unwrap().unwrap();
    assert_ne!(intruder.org_id, carol.org_id);
    // API: same.
    let token = alice.token("alice@northwind.example", "portico-demo").await;
    let c = app.client();
    assert_eq!(
        c.api(Method::GET, &format!("/api/v1/users/{}", carol.id), Some(&token), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.api(
            Method::PATCH,
            &format!("/api/v1/users/{}", carol.id),
            Some(&token),
            Some(json!({"status": "deactivated"}))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let page = c
        .api(
            Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(json!({"email": "x@fabrikam.example", "name": "X", "role": "partner_user", "org_id": carol.org_id})),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.json()["error"]["field"], "org_id");
    assert_eq!(
        c.api(Method::PATCH, &format!("/api/v1/orgs/{}", carol.org_id), Some(&token), Some(json!({"name": "Pwned"})))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.api(Method::GET, &format!("/api/v1/orgs/{}", carol.org_id), Some(&token), None).await.status,
        StatusCode::NOT_FOUND
    );
    // Nothing changed.
    let carol_after = scope.user(&carol.id).await.unwrap().unwrap();
    assert_eq!(carol_after.status, portico::domain::UserStatus::Active);
    assert_eq!(carol_after.role, portico::domain::Role::PartnerAdmin);
    assert_eq!(scope.org(&carol.org_id).await.unwrap().unwrap().name, "Fabrikam Systems");
}

#[tokio::test]
async fn a_partner_admin_cannot_hand_out_vendor_roles() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    alice.get("/org/users/invite").await;
    let page = alice
        .post("/org/users/invite", &[("name", "Evil"), ("email", "evil@northwind.example"), ("role", "vendor_admin")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("you cannot give that role"));
}

#[tokio::test]
async fn the_last_vendor_admin_cannot_be_demoted() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let t = app.tenant_id("acme").await;
    let me = app.state.db.tenant(&t).user_by_email("admin@acme.example").await.unwrap().unwrap();
    admin.get("/admin/users").await;
    let page = admin.post(&format!("/admin/users/{}/role", me.id), &[("role", "channel_manager")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("at least one active vendor admin"));
}
