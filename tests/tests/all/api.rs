//! The host JSON API: tokens, lists with search and paging, and writes.

use portico_tests::{DbKind, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn tokens_are_issued_listed_and_revoked() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    let bad = c
        .api(Method::POST, "/api/v1/tokens", None, Some(json!({"email": "bob@northwind.example", "password": "nope"})))
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.json()["error"]["code"], "unauthorized");
    let token = c.token("bob@northwind.example", "portico-demo").await;
    let me = c.api(Method::GET, "/api/v1/me", Some(&token), None).await.json();
    assert_eq!(me["user"]["email"], "bob@northwind.example");
    assert!(me["user"].get("password_hash").is_none());
    let list = c.api(Method::GET, "/api/v1/tokens", Some(&token), None).await.json();
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    assert!(list["items"][0].get("token").is_none(), "secrets are never listed");
    // Tokens are stored hashed, never as issued.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.test_db.url).await.unwrap();
    let count = |v: String| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
                .bind(v)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(token.clone()).await, 0);
    assert_eq!(count(portico::auth::hash_secret(&token)).await, 1);
    assert_eq!(
        c.api(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&token), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(c.api(Method::GET, "/api/v1/me", Some(&token), None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_user_cannot_revoke_anothers_token() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    let bob = c.token("bob@northwind.example", "portico-demo").await;
    let alice = c.token("alice@northwind.example", "portico-demo").await;
    let bob_id = c.api(Method::GET, "/api/v1/tokens", Some(&bob), None).await.json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.api(Method::DELETE, &format!("/api/v1/tokens/{bob_id}"), Some(&alice), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.api(Method::GET, "/api/v1/me", Some(&bob), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn org_lists_search_and_paginate() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    let token = c.token("admin@acme.example", "portico-demo").await;
    for i in 0..30 {
        let page = c
            .api(Method::POST, "/api/v1/orgs", Some(&token), Some(json!({"name": format!("Zeta Partner {i:02}")})))
            .await;
        assert_eq!(page.status, StatusCode::CREATED);
    }
    let dup = c.api(Method::POST, "/api/v1/orgs", Some(&token), Some(json!({"name": "Zeta Partner 00"}))).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.json()["error"]["field"], "name");
    let p1 = c.api(Method::GET, "/api/v1/orgs?q=zeta", Some(&token), None).await.json();
    assert_eq!(p1["total"], 30);
    assert_eq!(p1["items"].as_array().unwrap().len(), 25);
    let p2 = c.api(Method::GET, "/api/v1/orgs?q=zeta&page=2", Some(&token), None).await.json();
    assert_eq!(p2["items"].as_array().unwrap().len(), 5);
    assert_eq!(p2["items"][4]["name"], "Zeta Partner 29");
    // Wildcards in the search are literal.
    assert_eq!(c.api(Method::GET, "/api/v1/orgs?q=%25", Some(&token), None).await.json()["total"], 0);
    // The admin pages page the same way.
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let page = admin.get("/admin/orgs?q=zeta&page=2").await.body;
    assert!(page.contains("Page 2 of 2"));
    assert!(page.contains("Zeta Partner 29"));
}

#[tokio::test]
async fn programs_are_created_with_ordered_tiers_and_partners_see_their_tier() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    let admin = c.token("admin@acme.example", "portico-demo").await;
    let page = c
        .api(
            Method::POST,
            "/api/v1/programs",
            Some(&admin),
            Some(json!({"name": "Referral", "tiers": ["Scout", "Ranger", "Ranger"]})),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.json()["error"]["field"], "tiers");
    let page = c
        .api(
            Method::POST,
            "/api/v1/programs",
            Some(&admin),
            Some(json!({"name": "Referral", "tiers": ["Scout", "Ranger"]})),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED);
    let p = page.json();
    assert_eq!(p["key"], "referral");
    assert_eq!(p["tiers"][0]["name"], "Scout");
    assert_eq!(p["tiers"][1]["rank"], 2);
    let dup =
        c.api(Method::POST, "/api/v1/programs", Some(&admin), Some(json!({"name": "Referral", "tiers": ["A"]}))).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let bob = c.token("bob@northwind.example", "portico-demo").await;
    let mine = c.api(Method::GET, "/api/v1/programs", Some(&bob), None).await.json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "only the programs Bob's org is in");
    assert_eq!(mine["items"][0]["my_tier"]["name"], "Gold");
    let referral = p["id"].as_str().unwrap();
    assert_eq!(
        c.api(Method::GET, &format!("/api/v1/programs/{referral}"), Some(&bob), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn users_are_invited_and_managed_through_the_api() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    let alice = c.token("alice@northwind.example", "portico-demo").await;
    let page = c
        .api(
            Method::POST,
            "/api/v1/users",
            Some(&alice),
            Some(json!({"email": "Zed@Northwind.example", "name": "Zed", "role": "partner_user"})),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let zed = page.json();
    assert_eq!(zed["email"], "zed@northwind.example");
    assert_eq!(zed["status"], "invited");
    let again = c
        .api(
            Method::POST,
            "/api/v1/users",
            Some(&alice),
            Some(json!({"email": "zed@northwind.example", "name": "Zed", "role": "partner_user"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.json()["error"]["field"], "email");
    let id = zed["id"].as_str().unwrap();
    let promoted = c
        .api(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&alice), Some(json!({"role": "partner_admin"})))
        .await;
    assert_eq!(promoted.json()["role"], "partner_admin");
    let off = c
        .api(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&alice), Some(json!({"status": "deactivated"})))
        .await;
    assert_eq!(off.json()["status"], "deactivated");
    let list = c.api(Method::GET, "/api/v1/users?q=zed", Some(&alice), None).await.json();
    assert_eq!(list["total"], 1);
}

/// Everything the program page does, the API does: details, tiers added, moved, renamed and removed, partners
/// enrolled and unenrolled, each checked as the page checks it.
#[tokio::test]
async fn programs_tiers_and_enrolments_are_managed_through_the_api() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    let token = c.token("admin@acme.example", "portico-demo").await;
    let call = |method: Method, path: String, body: Option<serde_json::Value>| {
        let c = &c;
        let token = token.clone();
        async move { c.api(method, &path, Some(&token), body).await }
    };
    let t = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&t);
    let reseller = scope.program_by_key("reseller").await.unwrap();
    let msp = scope.program_by_key("msp").await.unwrap();
    let base = format!("/api/v1/programs/{}", reseller.id);

    let page = call(Method::PATCH, base.clone(), Some(json!({"name": ""}))).await;
    assert_eq!((page.status, page.json()["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("name")));
    let page = call(Method::PATCH, base.clone(), Some(json!({"description": "Resell Acme gear"}))).await;
    assert_eq!(page.json()["description"], "Resell Acme gear");
    assert_eq!(page.json()["name"], "Reseller", "absent fields keep their value");

    let page = call(Method::POST, format!("{base}/tiers"), Some(json!({"name": "Platinum"}))).await;
    assert_eq!(page.status, StatusCode::CREATED);
    let platinum = page.json()["id"].as_str().unwrap().to_string();
    let page = call(Method::POST, format!("{base}/tiers"), Some(json!({"name": "platinum"}))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "same key");
    let page = call(Method::POST, format!("{base}/tiers/{platinum}/move"), Some(json!({"direction": "down"}))).await;
    let names: Vec<_> = page.json()["tiers"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(names, [json!("Registered"), json!("Silver"), json!("Platinum"), json!("Gold")]);
    let page =
        call(Method::POST, format!("{base}/tiers/{platinum}/move"), Some(json!({"direction": "sideways"}))).await;
    assert_eq!(page.json()["error"]["field"], "direction");

    let page = call(Method::PATCH, format!("{base}/tiers/{platinum}"), Some(json!({"name": "Gold"}))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "two tiers may not share a name");
    let page = call(Method::PATCH, format!("{base}/tiers/{platinum}"), Some(json!({"name": "Diamond"}))).await;
    assert_eq!(page.status, StatusCode::OK);
    let diamond =
        page.json()["tiers"].as_array().unwrap().iter().find(|t| t["id"] == platinum.as_str()).unwrap().clone();
    assert_eq!(
        (diamond["name"].clone(), diamond["key"].clone()),
        (json!("Diamond"), json!("platinum")),
        "the key stays"
    );

    // Gold has Northwind: it cannot be removed; Diamond has nobody: it can.
    let gold = &reseller.tiers.iter().find(|t| t.key == "gold").unwrap().id;
    let page = call(Method::DELETE, format!("{base}/tiers/{gold}"), None).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.json()["error"]["message"].as_str().unwrap().contains("partners are enrolled at Gold"));
    assert_eq!(call(Method::DELETE, format!("{base}/tiers/{platinum}"), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(Method::DELETE, format!("{base}/tiers/{platinum}"), None).await.status, StatusCode::NOT_FOUND);

    // Enrol Fabrikam in the MSP program, with a tier of another program refused first.
    let lq = portico::domain::ListQuery { q: "fabrikam".into(), page: None };
    let fabrikam = scope.list_partner_orgs(&lq).await.unwrap().items.remove(0).id;
    let enrol = format!("/api/v1/orgs/{fabrikam}/enrolments/{}", msp.id);
    let page = call(Method::PUT, enrol.clone(), Some(json!({"tier_id": gold}))).await;
    assert_eq!(page.json()["error"]["field"], "tier_id");
    let page = call(Method::PUT, enrol.clone(), Some(json!({"tier_id": msp.tiers[1].id}))).await;
    assert_eq!(page.status, StatusCode::OK);
    let programs: Vec<_> =
        page.json()["enrolments"].as_array().unwrap().iter().map(|e| e["tier_name"].clone()).collect();
    assert_eq!(programs, [json!("Premier"), json!("Registered")]);
    assert_eq!(call(Method::DELETE, enrol.clone(), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(scope.enrolments_of_org(&fabrikam).await.unwrap().len(), 1);
    // The vendor's own org is not a partner to enrol.
    let vendor = scope.vendor_org().await.unwrap().unwrap().id;
    let page = call(
        Method::PUT,
        format!("/api/v1/orgs/{vendor}/enrolments/{}", msp.id),
        Some(json!({"tier_id": msp.tiers[0].id})),
    )
    .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // Every change is in the audit log.
    let audit = scope.list_audit(&Default::default()).await.unwrap().items;
    for action in [
        "program.updated",
        "tier.added",
        "tier.moved",
        "tier.renamed",
        "tier.removed",
        "org.enrolled",
        "org.unenrolled",
    ] {
        assert!(audit.iter().any(|a| a.action == action), "{action}");
    }
}

/// The partner list narrows to one program's partners, on the page (with each partner's programs and tiers) and
/// in the API.
#[tokio::test]
async fn partner_lists_narrow_to_a_program() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = app.tenant_id("acme").await;
    let msp = app.state.db.tenant(&t).program_by_key("msp").await.unwrap();
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let all = admin.get("/admin/orgs").await.body;
    assert!(all.contains("Reseller · Gold") && all.contains("MSP · Member"), "each partner's programs and tiers");
    let only = admin.get(&format!("/admin/orgs?program={}", msp.id)).await.body;
    assert!(only.contains("Contoso Managed Services"));
    assert!(!only.contains("Northwind Solutions") && !only.contains("Fabrikam Systems"));
    let token = admin.token("admin@acme.example", "portico-demo").await;
    let page = admin.api(Method::GET, &format!("/api/v1/orgs?program_id={}", msp.id), Some(&token), None).await;
    assert_eq!(page.json()["total"], 1);
    assert_eq!(page.json()["items"][0]["name"], "Contoso Managed Services");
}
