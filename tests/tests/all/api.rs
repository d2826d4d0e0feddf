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
