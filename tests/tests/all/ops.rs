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
async fn metrics_can_require_a_token() {
    let app = portico_tests::spawn_app_with(DbKind::Sqlite, |c| c.metrics_token = Some("scrape-me".into())).await;
    let c = app.client();
    let get = |token: Option<&'static str>| {
        let mut req = c.http.get(format!("{}/metrics", c.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap() }
    };
    assert_eq!(get(None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some("wrong")).await.status(), StatusCode::UNAUTHORIZED);
    let ok = get(Some("scrape-me")).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("portico_http_requests_total"));
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
    let mut c = app.client();
    c.login_ok("admin@acme.example").await;
    // A table gone from under the host: its query fails with an error that names the table.
    app.state.db.execute_raw("DROP TABLE mail").await.unwrap();
    let page = c.get("/admin/mail").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    let id = page.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(page.body.contains(&id), "the page names the request id");
    assert!(page.body.contains("Something went wrong"), "in the theme");
    assert!(!page.body.contains("no such table"), "the cause is not shown");
    assert!(!page.body.to_lowercase().contains("sqlx"));
}

/// Requests axum would refuse before any handler runs (a wrong method, a query string that does not parse, a
/// page number past the end of numbers) get the same error shapes as the rest.
#[tokio::test]
async fn malformed_requests_get_the_usual_error_shapes() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut c = app.client();
    c.login_ok("admin@acme.example").await;
    let token = c.token("admin@acme.example", "portico-demo").await;
    // A wrong method: 405, themed or JSON.
    let page = c.api(reqwest::Method::PUT, "/api/v1/me", Some(&token), None).await;
    assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(page.json()["error"]["code"], "method_not_allowed");
    let res = c.http.delete(format!("{}/login", c.base)).header("x-csrf-token", "x").send().await.unwrap();
    assert!(matches!(res.status(), StatusCode::METHOD_NOT_ALLOWED | StatusCode::FORBIDDEN), "{}", res.status());
    // A page number that is not a number.
    let page = c.get("/admin/orgs?page=abc").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("page"), "names the field");
    assert!(portico_tests::html_unescape(&page.body).contains("/static/default/style.css"), "in the theme");
    let page = c.api(reqwest::Method::GET, "/api/v1/orgs?page=abc", Some(&token), None).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.json()["error"]["code"], "invalid");
    // The largest page number there is: an empty page, not an overflow.
    for path in ["/admin/orgs", "/admin/users", "/admin/mail", "/admin/audit", "/admin/programs"] {
        let page = c.get(&format!("{path}?page={}", i64::MAX)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
    }
    let page = c.api(reqwest::Method::GET, &format!("/api/v1/orgs?page={}", i64::MAX), Some(&token), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.json()["items"].as_array().unwrap().len(), 0);
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
