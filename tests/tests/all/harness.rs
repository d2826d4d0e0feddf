//! The plugin author's harness: the guestbook tested in-process, as its author would.

use portico::runtime::{HttpResponse, PluginError};
use portico::testing::Harness;
use portico_tests::{guestbook, target_dir};

#[tokio::test]
async fn the_harness_runs_a_plugin_end_to_end_without_the_portal() {
    let wasm = target_dir().join("wasm32-wasip2/plugin/portico_example_guestbook.wasm");
    let h = Harness::new(&guestbook().dir, &wasm).await.unwrap();
    let page = h.get("bob@northwind.example", "/").await.unwrap().json();
    assert_eq!(page["greeting"], "Tell us how the partnership is going.");
    let posted =
        h.post_form("bob@northwind.example", "/", &[("note", "Hello from the harness")]).await.unwrap().response();
    assert!(matches!(posted, HttpResponse::Redirect(_)));
    let again = h.post_form("bob@northwind.example", "/", &[("note", " ")]).await.unwrap().response();
    assert!(matches!(again, HttpResponse::Page(ref v) if v.status == 422));
    let entries = h.api_get("manager@acme.example", "/entries").await.unwrap().json();
    assert_eq!(entries["entries"][0]["note"], "Hello from the harness");
    let carol = h.get("carol@fabrikam.example", "/").await.unwrap().json();
    assert_eq!(carol["entries"].as_array().unwrap().len(), 0, "other partners see nothing");
    let widget = h.widget("manager@acme.example", "latest").await.unwrap().unwrap().unwrap();
    assert!(widget.context.contains("Hello from the harness"));
    let missing = h.get("bob@northwind.example", "/nope").await.unwrap().error();
    assert!(matches!(missing, PluginError::NotFound(_)));
    assert_eq!(h.deliver_events().await.unwrap(), 0, "nobody subscribes to guestbook.signed");
}
