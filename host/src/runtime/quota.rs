//! Quotas per (tenant, plugin): what a plugin may hold in total (records, index rows, files, undelivered events)
//! and send (emails per hour). Usage is counted from the database and kept for a few seconds per replica, with
//! each committed invocation's own additions counted in at once; a plugin at a quota is refused with
//! `unavailable` and a message a vendor can act on, and nothing else of the portal is slowed by the check.
//! Enforcement is therefore approximate by what other replicas wrote within the last few seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::state::Spent;
use crate::domain::Millis;
use crate::storage::{Db, PluginUsage, StorageError};

/// How long a counted usage is trusted before it is counted again.
const FRESH_FOR: Duration = Duration::from_secs(10);

/// The operator's quotas, as every invocation sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Quotas {
    pub records: u64,
    pub index_rows: u64,
    pub blob_bytes: u64,
    pub outbox: u64,
    pub emails_per_hour: u64,
}

/// Recently counted usage by (tenant, plugin).
#[derive(Debug, Default)]
pub struct UsageCache {
    entries: Mutex<HashMap<(String, String), (Instant, PluginUsage)>>,
}

impl UsageCache {
    /// The plugin's usage, counted again when the last count is older than a few seconds.
    pub async fn current(&self, db: &Db, tenant: &str, plugin: &str, now: Millis) -> Result<PluginUsage, StorageError> {
        let key = (tenant.to_string(), plugin.to_string());
        if let Some((at, usage)) = self.entries.lock().expect("usage lock").get(&key)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(*usage);
        }
        let usage = db.plugin_usage(tenant, plugin, now).await?;
        self.entries.lock().expect("usage lock").insert(key, (Instant::now(), usage));
        Ok(usage)
    }

    /// Counts a committed invocation's additions in, so the next invocation sees them before the next count.
    pub(super) fn add(&self, tenant: &str, plugin: &str, spent: &Spent) {
        let key = (tenant.to_string(), plugin.to_string());
        if let Some((_, u)) = self.entries.lock().expect("usage lock").get_mut(&key) {
            u.records = u.records.saturating_add_signed(spent.records_added);
            u.blob_bytes = u.blob_bytes.saturating_add(spent.blob_bytes);
            u.outbox = u.outbox.saturating_add(spent.events);
            u.emails_last_hour = u.emails_last_hour.saturating_add(spent.emails);
        }
    }

    /// Forgets what is counted for a tenant's plugin (after an admin cleared its data, say).
    pub fn forget(&self, tenant: &str, plugin: &str) {
        self.entries.lock().expect("usage lock").remove(&(tenant.to_string(), plugin.to_string()));
    }
}
