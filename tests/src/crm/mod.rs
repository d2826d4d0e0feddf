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
