//! Local CRMs that speak each vendor's REST protocol for the endpoints the connectors use, for the connectors'
//! tests and the bench (no network beyond loopback).

pub mod dynamics;
pub mod hubspot;
pub mod salesforce;

use std::time::Duration;

/// A fault to inject into the next matching calls of a local CRM.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The next API calls hit the CRM's rate limit (Salesforce: 403 `REQUEST_LIMIT_EXCEEDED`; HubSpot: 429
    /// `TEN_SECONDLY_ROLLING`; Dynamics: 429 with `Retry-After`).
    RateLimit,
    /// The next writes are stored, and then answered only after this long (past the caller's timeout).
    StoreThenHang(Duration),
    /// The next API calls answer 503.
    Outage,
}

/// Takes one use of the first injected fault that `want` picks, if any is left.
pub fn take(faults: &mut [(Fault, u32)], want: fn(&Fault) -> bool) -> Option<Fault> {
    let i = faults.iter().position(|(f, n)| *n > 0 && want(f))?;
    faults[i].1 -= 1;
    Some(faults[i].0.clone())
}

/// Waits when a write is to hang after it was stored (the fault is taken while the state is locked).
pub async fn maybe_hang(hang: Option<Fault>) {
    if let Some(Fault::StoreThenHang(d)) = hang {
        tokio::time::sleep(d).await;
    }
}

/// `n` deals synced with the local Salesforce, as the connector leaves them (an opportunity each, and the
/// connector's link to it, written straight to its storage), then all closed won in Salesforce: what a pull then
/// finds. For the connector's test of many changes and the bench.
pub async fn seed_synced_salesforce(app: &crate::TestApp, sf: &salesforce::FakeSalesforce, n: u64) {
    use portico::storage::plugin_data::{IndexSpec, RecordScope, bulk_insert};
    use serde_json::json;
    // n synced deals: an opportunity each in Salesforce, and the connector's link to it.
    let now = app.state.clock.now_ms();
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let mut links = Vec::new();
    {
        let mut org = sf.org();
        org.clock = now - 60_000;
        for k in 0..n {
            let deal_id = format!("deal{k:06}");
            let fields = json!({ "Name": format!("Customer {k}"), "Amount": 1000 + k, "CloseDate": "2027-03-31",
                                 "StageName": "Qualification", "Partner_Deal_Id__c": deal_id });
            let crm_id = org.insert("Opportunity", fields.as_object().unwrap().clone());
            let deal = json!({ "id": deal_id, "status": "approved", "amount": (1000 + k) as f64,
                               "expected_close_date": "2027-03-31", "customer_name": format!("Customer {k}") });
            let link = json!({ "deal_id": deal_id, "customer": format!("Customer {k}"), "org_name": "", "status": "synced",
                "direction": "out", "crm_id": crm_id, "attempts": 0, "deal": deal, "portal_at": now - 120_000,
                "synced": { "stage": "approved", "amount": (1000 + k) as f64, "close_date": "2027-03-31" },
                "updated_at": now - 120_000 });
            links.push((deal_id, None, link.as_object().unwrap().clone()));
        }
    }
    let rs = RecordScope { tenant_id: tenant.id.clone(), plugin_id: "crm-salesforce".into(), org: None };
    let indexes: Vec<IndexSpec> = ["status", "next_at", "crm_id", "updated_at"]
        .iter()
        .map(|f| IndexSpec { field: f.to_string(), unique: false })
        .collect();
    let mut tx = app.state.db.begin().await.unwrap();
    bulk_insert(&mut tx, &rs, "links", &links, &indexes, now).await.unwrap();
    tx.commit().await.unwrap();
    app.state.db.analyze().await.unwrap();
    // Closed won in Salesforce, all of them.
    {
        let mut org = sf.org();
        org.clock = now + 1_000;
        let ids: Vec<String> = org.records["Opportunity"].keys().cloned().collect();
        for id in ids {
            org.edit("Opportunity", &id, json!({ "StageName": "Closed Won" }).as_object().unwrap().clone());
        }
    }
}
