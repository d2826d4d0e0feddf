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
}

impl HostState {
    pub(super) fn new(
        shared: Arc<RuntimeShared>,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        max_memory: usize,
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
            emitted: Vec::new(),
            output_bytes: 0,
            write_failed: false,
            db_unavailable: false,
            seen: HashMap::new(),
        }
    }

    /// The invocation's transaction, begun on first use.
    pub(super) async fn tx(&mut self) -> Result<&mut sqlx::Transaction<'static, Any>, PluginError> {
        if self.tx.is_none() {
            let tx = self.shared.db.begin().await.map_err(|e| self.storage_error(e))?;
            self.tx = Some(tx);
        }
        Ok(self.tx.as_mut().expect("just begun"))
    }

    /// Ends the invocation's transaction, if it began one: committed, or rolled back.
    pub(super) async fn finish(&mut self, commit: bool) -> Result<(), RuntimeError> {
        if let Some(tx) = self.tx.take() {
            if commit { tx.commit().await } else { tx.rollback().await }.map_err(StorageError::from)?;
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
