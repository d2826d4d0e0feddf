//! Integration tests: the real app on port 0 with a throwaway database per test.

mod api;
mod auth;
mod capabilities;
mod cobranding;
mod compat;
mod containment;
mod content;
mod crm;
mod dashboards;
mod deals;
mod demo;
mod digest;
mod escaping;
mod events;
mod faults;
mod files;
mod fuzz_corpus;
mod gamification;
mod harness;
mod headers;
mod incentives;
mod limits;
mod lms;
mod mail;
mod mdf;
mod ops;
mod plugin_analytics;
mod plugins;
mod replicas;
mod roles;
mod runtime;
mod search;
mod storage;
mod tenancy;
mod theming;

/// Reads the last mail sent to `to` through the database, and pulls the first portal link from it.
pub async fn last_link_to(app: &portico_tests::TestApp, to: &str) -> String {
    let tenant = app.tenant_id("acme").await;
    let page =
        app.state.db.tenant(&tenant).list_mail(&portico::domain::ListQuery { q: to.into(), page: None }).await.unwrap();
    let mail = page.items.first().unwrap_or_else(|| panic!("no mail to {to}"));
    let re = regex::Regex::new(r"https?://\S+/(invite|reset)/(\S+)").unwrap();
    let caps = re.captures(&mail.body).unwrap_or_else(|| panic!("no link in {}", mail.body));
    format!("/{}/{}", &caps[1], &caps[2])
}
