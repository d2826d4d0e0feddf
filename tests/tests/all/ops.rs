//! Health, readiness, metrics, request ids, and errors that never leak their cause.

use portico_tests::{DbKind, spawn_app};
use reqwest::StatusCode;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(c.get("/readyz").await.body, "ready");
    app.state.db.close().await;
    let page = c.get("/readyz").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn metrics_count_requests_by_route_in_prometheus_text() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    c.get("/login").await;
    c.get("/does-not-exist").await;
    let m = c.get("/metrics").await;
    assert!(m.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(
        m.body.contains("portico_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"}"),
        "{}",
        m.body
    );
    assert!(m.body.contains("portico_http_request_duration_seconds_bucket"));
    assert!(m.body.contains("route=\"unmatched\""), "unknown paths are not labels of their own");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    let page = c.get("/login").await;
    assert!(page.headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn unknown_routes_get_a_themed_404() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    let page = c.get("/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Page not found"));
    assert!(portico_tests::html_unescape(&page.body).contains("/static/default/style.css"), "rendered in the theme");
    let api = c.api(reqwest::Method::GET, "/api/v1/nothing-here", None, None).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_500_shows_a_request_id_and_never_the_cause() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = app.tenant_id("acme").await;
    // A tenant override that references a missing variable fails at render time.
    app.state
        .db
        .tenant(&t)
        .set_template_override("dashboard.html", Some("{{ no_such_variable.field }}"))
        .await
        .unwrap();
    let mut c = app.client();
    c.login_ok("bob@northwind.example").await;
    let page = c.get("/").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = page.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(page.body.contains(&id), "the page names the request id");
    assert!(!page.body.contains("no_such_variable"), "the cause is not shown");
    assert!(!page.body.to_lowercase().contains("tera"));
}

#[tokio::test]
async fn bad_json_gets_a_field_level_json_error() {
    let app = spawn_app(DbKind::Sqlite).await;
    let c = app.client();
    let token = c.token("admin@acme.example", "portico-demo").await;
    let res = c
        .http
        .post(format!("{}/api/v1/orgs", c.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let j: serde_json::Value = res.json().await.unwrap();
    assert_eq!(j["error"]["code"], "invalid");
    let page = c
        .api(
            reqwest::Method::POST,
            "/api/v1/orgs",
            Some(&token),
            Some(serde_json::json!({"name": "", "contact_email": "nope"})),
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let e = &page.json()["error"];
    assert_eq!(e["field"], "contact_email");
    assert_eq!(e["code"], "invalid");
}
