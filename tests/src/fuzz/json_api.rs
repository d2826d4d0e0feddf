//! The JSON API's request bodies: arbitrary bytes posted (as JSON) to every JSON route that takes a body, the host's
//! and the deal registration plugin's, as a partner and as the vendor admin, through the real router on a real
//! (SQLite) database with the demo data. The answer is never a 500 and never a panic: a success, or a 4xx with a
//! `{"error":{…}}` body.
use std::net::SocketAddr;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::workspace;

struct World {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    partner: String,
    admin: String,
    routes: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req.body(Body::from(body)).unwrap();
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 24).await.unwrap().to_vec();
    (status, bytes)
}

async fn token(router: &axum::Router, email: &str) -> String {
    let body = serde_json::json!({ "email": email, "password": "portico-demo" }).to_string().into_bytes();
    let (status, bytes) = call(router, "POST", "/api/v1/tokens", None, body).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["token"].as_str().unwrap().to_string()
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let config = portico::Config {
            data_dir: dir.path().to_path_buf(),
            database_url: format!("sqlite://{}?mode=rwc", dir.path().join("fuzz.db").display()),
            themes_dir: workspace().join("themes"),
            default_tenant: Some("acme".into()),
            workers: false,
            ..portico::Config::default()
        };
        let (router, partner, admin, routes) = rt.block_on(async {
            let state = portico::AppState::build(config).await.unwrap();
            portico::demo::seed(&state.db).await.unwrap();
            let wasm = workspace().join("target/wasm32-wasip2/plugin/portico_plugin_deal_registration.wasm");
            assert!(wasm.exists(), "{} is missing: run scripts/build-plugins", wasm.display());
            let package =
                portico::cli::read_package(&workspace().join("plugins/deal-registration"), Some(&wasm)).unwrap();
            let tenant = state.db.tenant_by_slug("acme").await.unwrap().unwrap();
            let (p, _) = portico::plugins::install(&state, &tenant, &package, None).await.unwrap();
            portico::cli::set_enabled(&state, &tenant, &p.plugin_id, None, true).await.unwrap();
            let scope = state.db.tenant(&tenant.id);
            let bob = scope.user_by_email("bob@northwind.example").await.unwrap().unwrap();
            let router = portico::http::router(state);
            let partner = token(&router, "alice@northwind.example").await;
            let admin = token(&router, "admin@acme.example").await;
            // A deal to act on.
            let body = serde_json::json!({
                "customer_name": "Fuzz Corp", "customer_domain": "fuzz.example", "country": "US", "amount": 1000,
                "currency": "USD", "products": [], "expected_close_date": "2030-01-01", "submit": false,
            });
            let (_, bytes) = call(
                &router,
                "POST",
                "/api/v1/p/deal-registration/deals",
                Some(&partner),
                body.to_string().into_bytes(),
            )
            .await;
            let deal = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string))
                .unwrap_or_default();
            let routes = vec![
                ("POST", "/api/v1/tokens".to_string()),
                ("POST", "/api/v1/orgs".to_string()),
                ("PATCH", format!("/api/v1/orgs/{}", bob.org_id)),
                ("POST", "/api/v1/users".to_string()),
                ("PATCH", format!("/api/v1/users/{}", bob.id)),
                ("POST", "/api/v1/programs".to_string()),
                ("POST", "/api/v1/p/deal-registration/deals".to_string()),
                ("PATCH", format!("/api/v1/p/deal-registration/deals/{deal}")),
                ("POST", format!("/api/v1/p/deal-registration/deals/{deal}/submit")),
                ("POST", format!("/api/v1/p/deal-registration/deals/{deal}/reject")),
                ("POST", format!("/api/v1/p/deal-registration/deals/{deal}/approve")),
                ("POST", format!("/api/v1/p/deal-registration/deals/{deal}/extension-requests")),
                ("POST", "/api/v1/p/deal-registration/receipts/verify".to_string()),
            ];
            (router, partner, admin, routes)
        });
        World { rt, router, partner, admin, routes, _dir: dir }
    })
}

#[derive(Arbitrary, Debug)]
struct Input {
    route: u8,
    as_admin: bool,
    body: Vec<u8>,
}

pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let w = world();
    let (method, path) = &w.routes[input.route as usize % w.routes.len()];
    let token = if input.as_admin { &w.admin } else { &w.partner };
    let (status, body) = w.rt.block_on(call(&w.router, method, path, Some(token), input.body));
    let text = String::from_utf8_lossy(&body);
    assert!(!status.is_server_error(), "{method} {path}: {status} {text}");
    if status.is_client_error() {
        let v: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
        assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{text}");
    }
}
