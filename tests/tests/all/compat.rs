//! Plugins built against an older minor version of `portico:plugin` keep installing and running unchanged on
//! every later host. `tests/fixtures/guestbook-api-0.1.0.tar.gz` is the SDK's guestbook as built against 0.1.0,
//! before any later version existed; it must pass here for as long as the host serves `^0.1`.

use portico_tests::{DbKind, spawn_app};
use reqwest::{Method, StatusCode};

fn fixture() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/guestbook-api-0.1.0.tar.gz")).expect("the fixture")
}

#[tokio::test]
async fn a_plugin_built_against_0_1_0_installs_and_runs_on_this_host() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app(kind).await;
        let installed = app.install(&fixture(), &["reseller"]).await;
        assert_eq!(installed.plugin_id, "guestbook");
        let mut bob = app.client();
        bob.login_ok("bob@northwind.example").await;
        let page = bob.get("/p/guestbook/").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Tell us how the partnership is going."));
        let signed = bob.post("/p/guestbook/", &[("note", "Still working on 0.1.0")]).await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
        assert!(bob.get("/p/guestbook/").await.body.contains("Still working on 0.1.0"));
        let token = app.client().token("manager@acme.example", "portico-demo").await;
        let api = app.client().api(Method::GET, "/api/v1/p/guestbook/entries", Some(&token), None).await;
        assert_eq!(api.status, StatusCode::OK, "{}", api.body);
        assert_eq!(api.json()["entries"][0]["note"], "Still working on 0.1.0");
        let mut manager = app.client();
        manager.login_ok("manager@acme.example").await;
        assert!(manager.get("/").await.body.contains("Still working on 0.1.0"), "its widget renders");
        // The admin sees which version of the API it was built against.
        let mut admin = app.client();
        admin.login_ok("admin@acme.example").await;
        assert!(admin.get("/admin/plugins/guestbook").await.body.contains("portico:plugin 0.1.0"));
    }
}
