//! The data of one invocation's `Store`: the sandbox's (empty) WASI context, memory limits, and everything the
//! host imports need to answer for the right tenant, plugin, program and caller.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::Any;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::PluginError;
use super::{Invocation, Limiter, LoadedPlugin, RuntimeError, RuntimeShared};
use crate::storage::StorageError;
use crate::storage::plugin_data::PluginRecord;

/// Store data for one invocation.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: Limiter,
    pub(super) shared: Arc<RuntimeShared>,
    pub(super) plugin: Arc<LoadedPlugin>,
    pub(super) inv: Invocation,
    /// The invocation's transaction, begun at the first write and committed only if the call succeeds.
    pub(super) tx: Option<sqlx::Transaction<'static, Any>>,
    /// The invocation's place among those holding a transaction (see [`crate::storage::Db::begin_invocation`]),
    /// given back when the transaction ends.
    pub(super) tx_permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// When the call's time is up (its start plus its timeout).
    pub(super) deadline: std::time::Instant,
    /// Events emitted, for the log line of the call.
    pub(super) emitted: Vec<String>,
    /// Bytes the plugin has written through host calls, against the output cap.
    pub(super) output_bytes: usize,
    /// A write failed in a way that may have left the transaction half-written (not a refused write, which
    /// leaves nothing): the invocation is rolled back whatever the plugin answers.
    pub(super) write_failed: bool,
    /// A host call found the database unreachable.
    pub(super) db_unavailable: bool,
    /// Records this invocation read or wrote, by (collection, id), as of its own transaction: an update or
    /// delete of one of them needs no second read (the write still checks the revision).
    pub(super) seen: HashMap<(String, String), PluginRecord>,
    /// What the invocation has used of its budget.
    pub(super) spent: Spent,
    /// Set when the plugin went over a budget: the invocation fails and is rolled back whatever it answers.
    pub(super) over_budget: Option<String>,
    /// Files this invocation stored: removed again if it does not commit.
    pub(super) new_blobs: Vec<String>,
    /// Files this invocation deleted: removed from the store only once it commits.
    pub(super) deleted_blobs: Vec<String>,
    /// Figures counted (`analytics.count`), written just before the invocation commits.
    pub(super) counts: std::collections::BTreeMap<crate::storage::analytics::CountKey, i64>,
    /// Timeline lines (organisation, text, link), written just before the invocation commits.
    pub(super) timeline: Vec<(String, String, Option<String>)>,
}

/// What an invocation has used of its budget.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Spent {
    pub events: u64,
    pub notifications: u64,
    pub emails: u64,
    pub writes: u64,
    pub blob_bytes: u64,
    /// Records inserted less records deleted, against the records quota.
    pub records_added: i64,
}

/// What a host call is about to add to what the plugin holds, against its quotas.
#[derive(Debug, Clone, Copy)]
pub(super) enum Adds {
    Record,
    IndexRows,
    Event,
    Emails(u64),
    BlobBytes(u64),
}

/// The kinds of budget one invocation has.
#[derive(Debug, Clone, Copy)]
pub(super) enum Spend {
    Events(u64),
    Notifications { count: u64, emails: u64 },
    Writes(u64),
    BlobBytes(u64),
}

impl HostState {
    pub(super) fn new(
        shared: Arc<RuntimeShared>,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        max_memory: usize,
        deadline: std::time::Instant,
    ) -> Self {
        // Nothing is granted: no preopened directories, no environment, no arguments, stdio discarded, every
        // socket address denied. Only the clocks and random sources work.
        let wasi = WasiCtx::builder().build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter { max_memory, refused: false },
            shared,
            plugin,
            inv,
            tx: None,
            tx_permit: None,
            deadline,
            emitted: Vec::new(),
            output_bytes: 0,
            write_failed: false,
            db_unavailable: false,
            seen: HashMap::new(),
            spent: Spent::default(),
            over_budget: None,
            new_blobs: Vec::new(),
            deleted_blobs: Vec::new(),
            counts: Default::default(),
            timeline: Vec::new(),
        }
    }

    /// Counts what a host call is about to do against the invocation's budget. Over it, the call is refused and
    /// the whole invocation will fail and roll back, so a plugin that ignores the refusal gains nothing.
    pub(super) fn spend(&mut self, what: Spend) -> Result<(), PluginError> {
        let b = self.inv.limits.budget;
        let s = &mut self.spent;
        let over = match what {
            Spend::Events(n) => {
                s.events += n;
                (s.events > b.events).then(|| format!("{} events per call", b.events))
            }
            Spend::Notifications { count, emails } => {
                s.notifications += count;
                s.emails += emails;
                if s.notifications > b.notifications {
                    Some(format!("{} notifications per call", b.notifications))
                } else {
                    (s.emails > b.emails).then(|| format!("{} emails per call", b.emails))
                }
            }
            Spend::Writes(n) => {
                s.writes += n;
                (s.writes > b.writes).then(|| format!("{} record writes per call", b.writes))
            }
            Spend::BlobBytes(n) => {
                s.blob_bytes += n;
                (s.blob_bytes > b.blob_bytes).then(|| format!("{} MiB of files per call", b.blob_bytes >> 20))
            }
        };
        match over {
            Some(limit) => {
                let message = format!("this call went over its budget of {limit}");
                self.over_budget.get_or_insert(limit);
                Err(PluginError::Denied(message))
            }
            None => Ok(()),
        }
    }

    /// The invocation's transaction, begun on first use.
    pub(super) async fn tx(&mut self) -> Result<&mut sqlx::Transaction<'static, Any>, PluginError> {
        if self.tx.is_none() {
            // Waiting for a transaction is bounded by the call's own time; a call that spent it all waiting (the
            // database down, or too busy) hears "unavailable", as its caller will, not a deadline of its own.
            let left = self.deadline.saturating_duration_since(std::time::Instant::now());
            let begun = self.shared.db.begin_invocation(left).await;
            let (tx, permit) = begun.map_err(|e| self.storage_error(e))?;
            if std::time::Instant::now() >= self.deadline {
                self.db_unavailable = true;
                return Err(PluginError::Unavailable("the database is busy; try again".into()));
            }
            self.tx = Some(tx);
            self.tx_permit = Some(permit);
        }
        Ok(self.tx.as_mut().expect("just begun"))
    }

    /// Refuses a host call that would take the plugin past one of its quotas in this tenant, with a message that
    /// says what a vendor or operator can do about it.
    pub(super) async fn within_quota(&mut self, adds: Adds) -> Result<(), PluginError> {
        let q = self.inv.limits.quotas;
        let (db, tenant, plugin) =
            (self.shared.db.clone(), self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let usage = match self.shared.usage.current(&db, &tenant, &plugin, self.inv.now_ms).await {
            Ok(u) => u,
            Err(e) => return Err(self.storage_error(e)),
        };
        let s = &self.spent;
        let over = match adds {
            Adds::Record if usage.records.saturating_add_signed(s.records_added) >= q.records => {
                Some(format!("{} stored records (runtime.quota_records)", q.records))
            }
            Adds::Record | Adds::IndexRows if usage.index_rows >= q.index_rows => {
                Some(format!("{} index rows (runtime.quota_index_rows)", q.index_rows))
            }
            Adds::Event if usage.outbox + s.events > q.outbox => {
                Some(format!("{} undelivered events (runtime.quota_outbox)", q.outbox))
            }
            Adds::Emails(n) if usage.emails_last_hour + s.emails + n > q.emails_per_hour => {
                Some(format!("{} emails an hour (runtime.quota_emails_per_hour)", q.emails_per_hour))
            }
            Adds::BlobBytes(n) if usage.blob_bytes + s.blob_bytes + n > q.blob_bytes => {
                Some(format!("{} MiB of files (runtime.quota_blob_mib)", q.blob_bytes >> 20))
            }
            _ => None,
        };
        match over {
            Some(what) => Err(PluginError::Unavailable(format!(
                "plugin {plugin} has reached its quota of {what} in this portal: a vendor admin can delete some of \
                 its data, or the operator can raise the quota (usage is on the plugin's admin page)"
            ))),
            None => Ok(()),
        }
    }

    /// Ends the invocation's transaction, if it began one: committed, or rolled back. Files follow it: those it
    /// stored are removed on a rollback, those it deleted leave the store only after a commit. (A crash between
    /// the two leaves an orphan file, which the blob sweeper removes.)
    pub(super) async fn finish(&mut self, commit: bool) -> Result<(), RuntimeError> {
        if commit && (!self.counts.is_empty() || !self.timeline.is_empty()) {
            self.write_analytics().await?;
        }
        let committed = match self.tx.take() {
            Some(tx) if commit => tx.commit().await.map(|_| true),
            Some(tx) => tx.rollback().await.map(|_| false),
            None => Ok(commit),
        };
        self.tx_permit = None;
        let committed = match committed {
            Ok(c) => c,
            Err(e) => {
                drop_blobs(&self.shared.blobs, std::mem::take(&mut self.new_blobs)).await;
                return Err(StorageError::from(e).into());
            }
        };
        let gone =
            if committed { std::mem::take(&mut self.deleted_blobs) } else { std::mem::take(&mut self.new_blobs) };
        drop_blobs(&self.shared.blobs, gone).await;
        if committed {
            self.shared.usage.add(&self.inv.tenant_id, &self.plugin.manifest.id, &self.spent);
        }
        Ok(())
    }

    /// Writes what the invocation counted and its timeline lines into its transaction.
    async fn write_analytics(&mut self) -> Result<(), RuntimeError> {
        use crate::storage::analytics as a;
        let (tenant, source, now) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone(), self.inv.now_ms);
        let counts = std::mem::take(&mut self.counts);
        let lines = std::mem::take(&mut self.timeline);
        let tx = self.tx().await.map_err(|_| RuntimeError::DatabaseUnavailable)?;
        let written = async {
            if !counts.is_empty() {
                let tz = a::tenant_time_zone(&mut *tx, &tenant).await?;
                a::add_counts(&mut *tx, &tenant, crate::analytics::day_of(now, &tz), &counts).await?;
            }
            for (org, text, link) in &lines {
                a::add_timeline(&mut *tx, &tenant, org, now, &source, text, link.as_deref()).await?;
            }
            Ok::<_, StorageError>(())
        }
        .await;
        if let Err(e) = written {
            if let Some(tx) = self.tx.take() {
                let _ = tx.rollback().await;
            }
            self.tx_permit = None;
            return Err(e.into());
        }
        Ok(())
    }

    /// Counts bytes against the output cap.
    pub(super) fn charge_output(&mut self, bytes: usize) -> Result<(), PluginError> {
        self.output_bytes += bytes;
        if self.output_bytes > self.inv.limits.output_bytes {
            return Err(PluginError::Denied(format!(
                "output cap of {} KiB reached",
                self.inv.limits.output_bytes / 1024
            )));
        }
        Ok(())
    }

    /// A failed write as the plugin sees it; one that may have left partial rows dooms the invocation's
    /// transaction.
    pub(super) fn write_error(&mut self, e: StorageError) -> PluginError {
        if !matches!(e, StorageError::NotFound | StorageError::Conflict(_)) {
            self.write_failed = true;
        }
        self.storage_error(e)
    }

    /// A storage failure as the plugin sees it; remembers an unreachable database, so that whatever the plugin
    /// does next (give up, trap, run out its deadline waiting) the caller hears "unavailable", not a plugin fault.
    pub(super) fn storage_error(&mut self, e: StorageError) -> PluginError {
        if matches!(e, StorageError::Unavailable(_)) {
            self.db_unavailable = true;
        }
        storage_error(e)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl super::bindings::portico::plugin::types::Host for HostState {}

/// Removes files of an invocation that did not keep them; one that cannot be removed is left to the sweeper.
pub(super) async fn drop_blobs(blobs: &crate::blobs::Blobs, keys: Vec<String>) {
    for key in keys {
        if let Err(e) = blobs.delete(&key).await {
            tracing::warn!(key = %key, error = %e, "a plugin file could not be removed; the sweeper will");
        }
    }
}

/// A storage failure as the plugin sees it: expected ones by name, the rest as `unavailable` (logged).
fn storage_error(e: StorageError) -> PluginError {
    match e {
        StorageError::NotFound => PluginError::NotFound("not found".into()),
        StorageError::Conflict(m) => PluginError::Conflict(m),
        other => {
            tracing::error!(error = %other, "plugin storage call failed");
            PluginError::Unavailable("storage is unavailable; try again".into())
        }
    }
}
