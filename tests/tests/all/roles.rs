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

/// A multipart form post: path, the form, and expected status per role.
type MultipartRow = (&'static str, fn() -> reqwest::multipart::Form, [u16; 4]);

const PAGES: &[Row] = &[
    ("/", [200, 200, 200, 200]),
    ("/account", [200, 200, 200, 200]),
    ("/notifications", [200, 200, 200, 200]),
    ("/admin", [303, 303, 403, 403]),
    ("/admin/orgs", [200, 200, 403, 403]),
    ("/admin/orgs/new", [200, 403, 403, 403]),
    ("/admin/orgs/{northwind}", [200, 200, 403, 403]),
    ("/admin/users", [200, 403, 403, 403]),
    ("/admin/users/invite", [200, 403, 403, 403]),
    ("/admin/users/{bob}", [200, 403, 403, 403]),
    ("/admin/programs", [200, 403, 403, 403]),
    ("/admin/programs/{reseller}", [200, 403, 403, 403]),
    ("/admin/branding", [200, 403, 403, 403]),
    ("/admin/templates", [200, 403, 403, 403]),
    ("/admin/templates/edit?name=login.html", [200, 403, 403, 403]),
    ("/admin/mail", [200, 403, 403, 403]),
    ("/admin/audit", [200, 403, 403, 403]),
    ("/admin/plugins", [200, 403, 403, 403]),
    ("/admin/plugins/{guestbook}", [200, 403, 403, 403]),
    ("/admin/plugins/dead-letters", [200, 403, 403, 403]),
    ("/org", [403, 403, 200, 403]),
    ("/org/users", [403, 403, 200, 403]),
    ("/org/users/invite", [403, 403, 200, 403]),
    ("/org/users/{bob}", [403, 403, 200, 403]),
];

/// One of [`ids`]' values by name.
fn id_of(ids: &[(&str, String)], name: &str) -> String {
    ids.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no id {name}"))
}

fn fill(path: &str, ids: &[(&str, String)]) -> String {
    ids.iter().fold(path.to_string(), |p, (k, v)| p.replace(&format!("{{{k}}}"), v))
}

/// The demo's ids the matrix's paths name, with the guestbook plugin installed and an invited Northwind user.
async fn ids(app: &portico_tests::TestApp) -> Vec<(&'static str, String)> {
    app.install(&portico_tests::guestbook().package(None), &["reseller"]).await;
    let t = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&t);
    let lq = portico::domain::ListQuery { q: "northwind".into(), page: None };
    let northwind = scope.list_partner_orgs(&lq).await.unwrap().items[0].id.clone();
    let reseller = scope.program_by_key("reseller").await.unwrap();
    let msp = scope.program_by_key("msp").await.unwrap();
    let invited = scope
        .create_user(&portico::storage::NewUser {
            org_id: northwind.clone(),
            email: "invited@northwind.example".into(),
            name: "Ina Invited".into(),
            role: portico::domain::Role::PartnerUser,
            status: portico::domain::UserStatus::Invited,
            password_hash: None,
        })
        .await
        .unwrap();
    vec![
        ("northwind", northwind),
        ("bob", scope.user_by_email("bob@northwind.example").await.unwrap().unwrap().id),
        ("invited", invited.id),
        ("reseller", reseller.id.clone()),
        ("silver", reseller.tiers[1].id.clone()),
        ("gold", reseller.tiers[2].id.clone()),
        ("msp", msp.id.clone()),
        ("msp_member", msp.tiers[0].id.clone()),
        ("guestbook", "guestbook".into()),
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

/// Every state-changing form of the admin and org areas. Each row is harmless to repeat (or undone by the
/// next), so the roles after the vendor admin meet the same portal. A vendor admin's 404 or 422 means the
/// request passed authorization and was then refused for what it asked.
#[tokio::test]
async fn every_role_may_submit_exactly_the_admin_forms_it_should() {
    let app = spawn_app(DbKind::Sqlite).await;
    let ids = ids(&app).await;
    let forms: &[FormRow] = &[
        ("/admin/orgs/new", &[("name", "Matrix Partner {i}")], [303, 403, 403, 403]),
        ("/admin/orgs/{northwind}", &[("name", "Northwind Solutions")], [303, 403, 403, 403]),
        (
            "/admin/orgs/{northwind}/enrol",
            &[("program_id", "{msp}"), ("tier_id", "{msp_member}")],
            [303, 403, 403, 403],
        ),
        ("/admin/orgs/{northwind}/unenrol", &[("program_id", "{msp}")], [303, 403, 403, 403]),
        ("/admin/programs", &[("name", "Matrix Program {i}"), ("tiers", "One, Two")], [303, 403, 403, 403]),
        ("/admin/programs/{reseller}", &[("name", "Reseller"), ("description", "")], [303, 403, 403, 403]),
        ("/admin/programs/{reseller}/tiers", &[("name", "Matrix Tier {i}")], [303, 403, 403, 403]),
        ("/admin/programs/{reseller}/tiers/{silver}/move", &[("direction", "up")], [303, 403, 403, 403]),
        ("/admin/programs/{reseller}/tiers/{silver}/move", &[("direction", "down")], [303, 403, 403, 403]),
        ("/admin/programs/{reseller}/tiers/{silver}", &[("name", "Silver")], [303, 403, 403, 403]),
        // Gold has Northwind: the admin is refused for that, the others before it.
        ("/admin/programs/{reseller}/tiers/{gold}/remove", &[], [409, 403, 403, 403]),
        (
            "/admin/users/invite",
            &[
                ("name", "Matrix Invitee"),
                ("email", "matrix{i}@northwind.example"),
                ("role", "partner_user"),
                ("org_id", "{northwind}"),
            ],
            [303, 403, 403, 403],
        ),
        ("/admin/users/{bob}/role", &[("role", "partner_user")], [303, 403, 403, 403]),
        ("/admin/users/{bob}/status", &[("status", "active")], [303, 403, 403, 403]),
        ("/admin/users/{invited}/resend", &[], [303, 403, 403, 403]),
        ("/admin/plugins/{guestbook}/programs/{reseller}", &[("enabled", "on")], [303, 403, 403, 403]),
        ("/admin/plugins/dead-letters/no-such-event/guestbook/replay", &[], [404, 403, 403, 403]),
        (
            "/admin/templates",
            &[("name", "forgot.html"), ("source", "<p>Ask your channel manager.</p>")],
            [303, 403, 403, 403],
        ),
        ("/admin/templates/remove", &[("name", "forgot.html")], [303, 403, 403, 403]),
        (
            "/org/users/invite",
            &[("name", "Org Invitee"), ("email", "org{i}@northwind.example"), ("role", "partner_user")],
            [403, 403, 303, 403],
        ),
        ("/org/users/{bob}/role", &[("role", "partner_user")], [403, 403, 303, 403]),
        ("/org/users/{bob}/status", &[("status", "active")], [403, 403, 303, 403]),
        ("/org/users/{invited}/resend", &[], [403, 403, 303, 403]),
    ];
    let mut failures = Vec::new();
    for (i, email) in ROLES.iter().enumerate() {
        let mut c = app.client();
        c.login_ok(email).await;
        for (path, fields, expected) in forms {
            let path = fill(path, &ids);
            let n = i.to_string();
            let fields: Vec<(&str, String)> =
                fields.iter().map(|(k, v)| (*k, fill(&v.replace("{i}", &n), &ids))).collect();
            let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page = c.post(&path, &refs).await;
            let got = page.status.as_u16();
            if got != expected[i] {
                failures.push(format!("{email} POST {path}: expected {}, got {got}", expected[i]));
            }
        }
        // The multipart forms (they carry files).
        let multipart: [MultipartRow; 3] = [
            (
                "/admin/branding",
                || {
                    reqwest::multipart::Form::new()
                        .text("portal_name", "Acme Partner Portal")
                        .text("primary_color", "#1d4ed8")
                        .text("accent_color", "#0f766e")
                        .text("theme", "default")
                },
                [303, 403, 403, 403],
            ),
            (
                "/admin/plugins",
                || {
                    let part = reqwest::multipart::Part::bytes(b"not a package".to_vec()).file_name("x.tar.gz");
                    reqwest::multipart::Form::new().part("package", part)
                },
                [422, 403, 403, 403],
            ),
            ("/org", || reqwest::multipart::Form::new().text("name", "Northwind Solutions"), [403, 403, 303, 403]),
        ];
        for (path, form, expected) in multipart {
            let got = c.post_multipart(path, form()).await.status.as_u16();
            if got != expected[i] {
                failures.push(format!("{email} POST {path} (multipart): expected {}, got {got}", expected[i]));
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
    // A spare token of the admin's, which nobody else may revoke (and the admin revokes it as their own first).
    let admin_spare = spare_token(&c, ROLES[0]).await;
    for (i, email) in ROLES.iter().enumerate() {
        let token = c.token(email, "portico-demo").await;
        let own_spare = if i == 0 { admin_spare.clone() } else { spare_token(&c, email).await };
        let calls: Vec<(Method, String, Option<serde_json::Value>, [u16; 4])> = vec![
            (Method::GET, "/api/v1/me".into(), None, [200, 200, 200, 200]),
            (Method::GET, "/api/v1/tokens".into(), None, [200, 200, 200, 200]),
            (Method::DELETE, format!("/api/v1/tokens/{own_spare}"), None, [204, 204, 204, 204]),
            (Method::DELETE, format!("/api/v1/tokens/{admin_spare}"), None, [404, 404, 404, 404]),
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
                    json!({"email": format!("new{i}@northwind.example"), "name": "New Person", "role": "partner_user", "org_id": id_of(&ids, "northwind")}),
                ),
                [201, 403, 201, 403],
            ),
            (Method::GET, fill("/api/v1/users/{bob}", &ids), None, [200, 403, 200, 200]),
            (
                Method::PATCH,
                fill("/api/v1/users/{bob}", &ids),
                Some(json!({"role": "partner_user"})),
                [200, 403, 200, 403],
            ),
            (Method::GET, "/api/v1/programs".into(), None, [200, 200, 200, 200]),
            (
                Method::POST,
                "/api/v1/programs".into(),
                Some(json!({"name": format!("Api Program {i}"), "tiers": ["A", "B"]})),
                [201, 403, 403, 403],
            ),
            (Method::GET, fill("/api/v1/programs/{reseller}", &ids), None, [200, 200, 200, 200]),
            (
                Method::PATCH,
                fill("/api/v1/programs/{reseller}", &ids),
                Some(json!({"description": "Resellers of Acme hardware"})),
                [200, 403, 403, 403],
            ),
            (
                Method::POST,
                fill("/api/v1/programs/{reseller}/tiers", &ids),
                Some(json!({"name": format!("Api Tier {i}")})),
                [201, 403, 403, 403],
            ),
            (
                Method::POST,
                fill("/api/v1/programs/{reseller}/tiers/{silver}/move", &ids),
                Some(json!({"direction": "up"})),
                [200, 403, 403, 403],
            ),
            (
                Method::POST,
                fill("/api/v1/programs/{reseller}/tiers/{silver}/move", &ids),
                Some(json!({"direction": "down"})),
                [200, 403, 403, 403],
            ),
            (
                Method::PUT,
                fill("/api/v1/orgs/{northwind}/enrolments/{msp}", &ids),
                Some(json!({"tier_id": id_of(&ids, "msp_member")})),
                [200, 403, 403, 403],
            ),
            (Method::DELETE, fill("/api/v1/orgs/{northwind}/enrolments/{msp}", &ids), None, [204, 403, 403, 403]),
            (
                Method::PATCH,
                fill("/api/v1/programs/{reseller}/tiers/{silver}", &ids),
                Some(json!({"name": "Silver"})),
                [200, 403, 403, 403],
            ),
            (Method::DELETE, fill("/api/v1/programs/{reseller}/tiers/{gold}", &ids), None, [409, 403, 403, 403]),
            (Method::POST, fill("/api/v1/users/{invited}/invitation", &ids), None, [202, 403, 202, 403]),
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

/// A second API token of `email`'s; its id.
async fn spare_token(c: &portico_tests::Client, email: &str) -> String {
    let page = c
        .api(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(json!({"email": email, "password": "portico-demo", "name": "spare"})),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    page.json()["id"].as_str().unwrap().to_string()
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

#[tokio::test]
async fn a_partner_admin_cannot_leave_their_org_without_one() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = app.tenant_id("acme").await;
    let alice = app.state.db.tenant(&t).user_by_email("alice@northwind.example").await.unwrap().unwrap();
    let mut c = app.client();
    c.login_ok("alice@northwind.example").await;
    c.get("/org/users").await;
    let page = c.post(&format!("/org/users/{}/role", alice.id), &[("role", "partner_user")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("at least one active partner admin"));
    // With a second admin, she may step down.
    let bob = app.state.db.tenant(&t).user_by_email("bob@northwind.example").await.unwrap().unwrap();
    assert_eq!(
        c.post(&format!("/org/users/{}/role", bob.id), &[("role", "partner_admin")]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        c.post(&format!("/org/users/{}/role", alice.id), &[("role", "partner_user")]).await.status,
        StatusCode::SEE_OTHER
    );
}
