//! The plugin runtime: the only code that knows wasmtime. One engine with a pooling allocator and an epoch
//! ticker; each plugin version compiled once (and cached on disk by content hash and engine), pre-instantiated,
//! and run in a fresh instance per invocation under a deadline, a memory cap and an output cap. An
//! invocation's storage writes and events share one transaction: committed if the call returns `Ok`, rolled
//! back on an error result, a trap or the deadline.

mod bindings;
mod host;
mod quota;
mod render;
mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portico_plugin_api::Manifest;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
    UpdateDeadline,
};

pub use bindings::portico::plugin::events::Event;
pub use bindings::{CallContext, Caller, FieldError, HttpRequest, HttpResponse, PluginError, View, WitRole};
use bindings::{Plugin, PluginIndices, PluginPre};
pub use quota::{Quotas, UsageCache};
pub use render::{RenderError, RenderLimits, Template};
use state::HostState;

use crate::blobs::Blobs;
use crate::domain::Role;
use crate::storage::{Db, StorageError};

/// How often the engine's epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Operator limits: plugin manifests may ask for less or more, within the maximums. The per-invocation budgets
/// (events, notifications, emails, writes, blob bytes) bound what one call can do; the quotas bound what a plugin
/// holds per tenant in total.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RuntimeLimits {
    pub default_timeout_ms: u64,
    pub max_timeout_ms: u64,
    pub default_memory_mib: u64,
    pub max_memory_mib: u64,
    pub default_output_kib: u64,
    pub max_output_kib: u64,
    /// Instances that may run at once (pool slots).
    pub max_concurrent_instances: u32,
    pub default_events: u64,
    pub max_events: u64,
    pub default_notifications: u64,
    pub max_notifications: u64,
    pub default_emails: u64,
    pub max_emails: u64,
    pub default_writes: u64,
    pub max_writes: u64,
    pub default_blob_mib: u64,
    pub max_blob_mib: u64,
    /// Largest answer to an outbound request, in MiB: read as it arrives and cut there.
    pub max_outbound_response_mib: u64,
    /// Addresses plugins may reach although private, loopback or link-local (`["127.0.0.0/8"]` for a local CRM
    /// in tests); none by default. Checked after DNS resolution and at every redirect.
    pub outbound_allow: Vec<ipnet::IpNet>,
    /// What one plugin may hold per tenant: stored records.
    pub quota_records: u64,
    /// … rows of its indexes.
    pub quota_index_rows: u64,
    /// … bytes of files, in MiB.
    pub quota_blob_mib: u64,
    /// … events not yet delivered.
    pub quota_outbox: u64,
    /// … emails sent in the last hour.
    pub quota_emails_per_hour: u64,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        RuntimeLimits {
            default_timeout_ms: 2_000,
            max_timeout_ms: 10_000,
            default_memory_mib: 32,
            max_memory_mib: 128,
            default_output_kib: 1_024,
            max_output_kib: 8_192,
            max_concurrent_instances: 128,
            default_events: 100,
            max_events: 10_000,
            default_notifications: 50,
            max_notifications: 1_000,
            default_emails: 10,
            max_emails: 200,
            default_writes: 1_000,
            max_writes: 100_000,
            default_blob_mib: 64,
            max_blob_mib: 2_048,
            max_outbound_response_mib: 8,
            outbound_allow: Vec::new(),
            quota_records: 10_000_000,
            quota_index_rows: 100_000_000,
            quota_blob_mib: 51_200,
            quota_outbox: 100_000,
            quota_emails_per_hour: 1_000,
        }
    }
}

/// The limits one invocation runs under.
#[derive(Debug, Clone, Copy)]
pub struct EffectiveLimits {
    pub timeout: Duration,
    pub memory_bytes: usize,
    pub output_bytes: usize,
    pub budget: Budget,
    pub quotas: Quotas,
}

/// What one invocation may do before it fails and is rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub events: u64,
    pub notifications: u64,
    pub emails: u64,
    pub writes: u64,
    pub blob_bytes: u64,
}

impl RuntimeLimits {
    /// A plugin's limits: what its manifest asks for, clamped to the operator's maximums.
    pub fn for_manifest(&self, m: &Manifest) -> EffectiveLimits {
        let l = &m.limits;
        let pick = |asked: Option<u64>, default: u64, max: u64| asked.unwrap_or(default).clamp(1, max.max(1));
        EffectiveLimits {
            timeout: Duration::from_millis(pick(l.timeout_ms, self.default_timeout_ms, self.max_timeout_ms)),
            memory_bytes: (pick(l.memory_mib, self.default_memory_mib, self.max_memory_mib) << 20) as usize,
            output_bytes: (pick(l.output_kib, self.default_output_kib, self.max_output_kib) << 10) as usize,
            budget: Budget {
                events: pick(l.events, self.default_events, self.max_events),
                notifications: pick(l.notifications, self.default_notifications, self.max_notifications),
                emails: pick(l.emails, self.default_emails, self.max_emails),
                writes: pick(l.writes, self.default_writes, self.max_writes),
                blob_bytes: pick(l.blob_mib, self.default_blob_mib, self.max_blob_mib) << 20,
            },
            quotas: self.quotas(),
        }
    }

    /// The quotas every plugin of a tenant is held to.
    pub fn quotas(&self) -> Quotas {
        Quotas {
            records: self.quota_records,
            index_rows: self.quota_index_rows,
            blob_bytes: self.quota_blob_mib << 20,
            outbox: self.quota_outbox,
            emails_per_hour: self.quota_emails_per_hour,
        }
    }
}

/// Engine switches with a cost, for measuring: the defaults are what Portico runs with. (wasmtime's
/// component-model concurrency is not among them: Portico's WIT has no async calls, so wasmtime is built without
/// the `component-model-async` feature and the engine sets `concurrency_support(false)`; nothing of it is left to
/// switch on at run time.)
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Reset a reused memory slot by scanning for the pages the last instance touched (Linux 6.7+ `PAGEMAP_SCAN`),
    /// instead of zeroing the first `linear_memory_keep_resident` bytes whether touched or not.
    pub pagemap_scan: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { pagemap_scan: true }
    }
}

/// Why an invocation failed outside the plugin's own error results.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("plugin {0} is not installed")]
    NotInstalled(String),
    #[error("the plugin is not a valid component for portico:plugin: {0}")]
    Invalid(String),
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin ran past its deadline of {0:?}")]
    Timeout(Duration),
    #[error("the plugin exceeded its memory cap of {0} MiB")]
    MemoryCap(usize),
    #[error("the plugin's output exceeded its cap of {0} KiB")]
    OutputCap(usize),
    #[error("too many plugin invocations at once")]
    Busy,
    #[error("a storage write failed, so the invocation was rolled back")]
    WriteFailed,
    #[error("the database is unreachable, so the invocation was rolled back")]
    DatabaseUnavailable,
    #[error("the plugin went over its per-call budget ({0}), so the invocation was rolled back")]
    Budget(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What host imports need besides the invocation itself.
#[derive(Debug)]
pub struct RuntimeShared {
    pub db: Db,
    pub blobs: Blobs,
    pub http: crate::outbound::Outbound,
    pub extensions: crate::extensions::Extensions,
    pub usage: UsageCache,
    pub keyring: crate::secrets::Keyring,
    pub file_links: crate::file_links::LinkKey,
}

/// A compiled, pre-instantiated plugin version.
pub struct Compiled {
    pre: PluginPre<HostState>,
    indices: PluginIndices,
    /// The optional `partner-cards` export's `render-card`, when the component has it.
    card_export: Option<wasmtime::component::ComponentExportIndex>,
    /// The optional `next-steps` export's `steps`, when the component has it.
    steps_export: Option<wasmtime::component::ComponentExportIndex>,
    pub wasm_hash: String,
    /// The version of `portico:plugin` the component was built against (the newest its imports and exports name).
    pub api_version: Option<semver::Version>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled").field("wasm_hash", &self.wasm_hash).finish()
    }
}

/// An installed plugin ready to run: its manifest, its compiled code and its templates.
#[derive(Debug)]
pub struct LoadedPlugin {
    pub manifest: Manifest,
    pub compiled: Arc<Compiled>,
    pub limits: EffectiveLimits,
}

/// Everything about one invocation that the host imports answer from.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub tenant_id: String,
    pub tenant_slug: String,
    /// Program key and id.
    pub program: Option<(String, String)>,
    pub caller: Option<CallerInfo>,
    pub locale: String,
    pub time_zone: String,
    pub request_id: String,
    pub now_ms: i64,
    /// The plugin's settings for the program, validated, defaults filled in (JSON object).
    pub settings: String,
    pub limits: EffectiveLimits,
    /// Files uploaded with the request, stored by the host before the call.
    pub uploads: Vec<UploadedFile>,
}

/// A file the host received with a request and stored, for the plugin to keep or not.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// The form field it came in.
    pub field: String,
    pub row: crate::storage::plugin_usage::BlobRow,
}

/// One thing a plugin suggests the caller do next (`next-steps.step` of the WIT).
#[derive(Debug, Clone, wasmtime::component::ComponentType, wasmtime::component::Lift)]
#[component(record)]
pub struct NextStep {
    pub title: String,
    pub detail: String,
    pub link: String,
    #[component(name = "due-ms")]
    pub due_ms: Option<i64>,
    pub urgent: bool,
}

/// The user an invocation is for.
#[derive(Debug, Clone)]
pub struct CallerInfo {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
}

impl CallerInfo {
    pub fn is_partner(&self) -> bool {
        !self.role.is_vendor()
    }
}

/// The engine, the linker with every host import, and the compiled-artifact cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    shared: Arc<RuntimeShared>,
    cache_dir: PathBuf,
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
    /// The sandboxed renderer, compiled (or loaded from the cache) on first use: commands that render nothing
    /// never pay for it.
    renderer: tokio::sync::OnceCell<render::Renderer>,
    /// One permit per instance the pooling allocator holds: an invocation or a rendering takes one for as long as
    /// its instance lives, so a burst beyond the pool (a dashboard of many widgets under load) waits its turn,
    /// within its own deadline, instead of failing at once.
    slots: Arc<tokio::sync::Semaphore>,
    pub limits: RuntimeLimits,
    pub tuning: Tuning,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("cache_dir", &self.cache_dir).field("limits", &self.limits).finish()
    }
}

/// A memory limiter that remembers whether it refused to grow, so a resulting trap is reported as the cap.
struct Limiter {
    max_memory: usize,
    refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl Runtime {
    /// Builds the engine (pooling allocator, epoch interruption) and the linker, and starts the epoch ticker.
    pub fn new(limits: RuntimeLimits, shared: RuntimeShared, cache_dir: PathBuf) -> Result<Self, RuntimeError> {
        Self::tuned(limits, Arc::new(shared), cache_dir, Tuning::default())
    }

    /// Another runtime with the same limits, host services and artifact cache, but other engine switches: the
    /// bench measures what each switch costs, side by side.
    pub fn retuned(&self, tuning: Tuning) -> Result<Self, RuntimeError> {
        Self::tuned(self.limits.clone(), self.shared.clone(), self.cache_dir.clone(), tuning)
    }

    fn tuned(
        limits: RuntimeLimits,
        shared: Arc<RuntimeShared>,
        cache_dir: PathBuf,
        tuning: Tuning,
    ) -> Result<Self, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        let n = limits.max_concurrent_instances;
        pool.total_component_instances(n)
            .total_core_instances(n * 4)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .max_core_instances_per_component(16)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_memory_size((limits.max_memory_mib << 20) as usize)
            // Keep a little of each slot resident between instances: reusing it then costs no page faults.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(if tuning.pagemap_scan { Enabled::Auto } else { Enabled::No })
            // One fiber stack per running instance; a reused stack keeps its top resident.
            .total_stacks(n)
            .async_stack_keep_resident(64 << 10);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_reservation(limits.max_memory_mib << 20)
            .memory_guard_size(64 << 10)
            .concurrency_support(false);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Invalid(format!("engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("portico-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| RuntimeError::Invalid(format!("epoch ticker: {e}")))?;
        std::fs::create_dir_all(&cache_dir).map_err(|e| RuntimeError::Invalid(format!("cache dir: {e}")))?;
        Ok(Runtime {
            engine,
            linker,
            shared,
            cache_dir,
            compiled: Mutex::new(HashMap::new()),
            renderer: tokio::sync::OnceCell::new(),
            slots: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_instances as usize)),
            limits,
            tuning,
        })
    }

    /// Compiles (or loads from the disk cache) and pre-instantiates a component. The same bytes are compiled
    /// once per process and once per engine configuration on disk.
    pub fn compile(&self, wasm: &[u8]) -> Result<Arc<Compiled>, RuntimeError> {
        let hash = hex::encode(Sha256::digest(wasm));
        if let Some(c) = self.compiled.lock().expect("compiled lock").get(&hash) {
            return Ok(c.clone());
        }
        let component = self.load_component(&hash, wasm)?;
        let api_version = built_against(&self.engine, &component);
        let serves = portico_plugin_api::api_version();
        if let Some(v) = &api_version
            && (v.major != serves.major || v.minor != serves.minor || v.patch > serves.patch)
        {
            return Err(RuntimeError::Invalid(format!(
                "it was built against portico:plugin {v}, and this portal serves portico:plugin {serves}"
            )));
        }
        let instance_pre =
            self.linker.instantiate_pre(&component).map_err(|e| RuntimeError::Invalid(format!("{e:#}")))?;
        let indices = PluginIndices::new(&instance_pre).map_err(|e| RuntimeError::Invalid(format!("{e:#}")))?;
        let card_export = optional_export(&self.engine, &component, "partner-cards", "render-card");
        let steps_export = optional_export(&self.engine, &component, "next-steps", "steps");
        let pre = PluginPre::new(instance_pre).map_err(|e| RuntimeError::Invalid(format!("{e:#}")))?;
        let compiled =
            Arc::new(Compiled { pre, indices, card_export, steps_export, wasm_hash: hash.clone(), api_version });
        self.compiled.lock().expect("compiled lock").insert(hash, compiled.clone());
        Ok(compiled)
    }

    fn load_component(&self, hash: &str, wasm: &[u8]) -> Result<Component, RuntimeError> {
        load_component(&self.engine, &self.cache_dir, hash, wasm)
    }

    /// Handles a page or API request.
    pub async fn handle_http(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        req: HttpRequest,
    ) -> Result<Result<HttpResponse, PluginError>, RuntimeError> {
        let ctx = call_context(&inv);
        self.invoke(
            plugin,
            inv,
            move |p, store| {
                Box::pin(async move { p.portico_plugin_http_handler().call_handle(store, &ctx, &req).await })
            },
            response_size,
        )
        .await
    }

    /// Delivers an event.
    pub async fn on_event(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        event: Event,
    ) -> Result<Result<(), PluginError>, RuntimeError> {
        let ctx = call_context(&inv);
        self.invoke(
            plugin,
            inv,
            move |p, store| {
                Box::pin(async move { p.portico_plugin_event_handler().call_on_event(store, &ctx, &event).await })
            },
            |_| 0,
        )
        .await
    }

    /// Runs one tick of a schedule.
    pub async fn run_schedule(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        schedule: String,
    ) -> Result<Result<(), PluginError>, RuntimeError> {
        let ctx = call_context(&inv);
        self.invoke(
            plugin,
            inv,
            move |p, store| {
                Box::pin(async move { p.portico_plugin_scheduler().call_run(store, &ctx, &schedule).await })
            },
            |_| 0,
        )
        .await
    }

    /// Renders a dashboard widget.
    pub async fn render_widget(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        widget: String,
    ) -> Result<Result<View, PluginError>, RuntimeError> {
        let ctx = call_context(&inv);
        self.invoke(
            plugin,
            inv,
            move |p, store| Box::pin(async move { p.portico_plugin_widgets().call_render(store, &ctx, &widget).await }),
            |v: &View| v.context.len(),
        )
        .await
    }

    /// Renders a partner card (the optional `partner-cards` export); `None` when the plugin has no such export.
    pub async fn render_card(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        card: String,
        org_id: String,
    ) -> Option<Result<Result<View, PluginError>, RuntimeError>> {
        let export = plugin.compiled.card_export?;
        let ctx = call_context(&inv);
        let outcome = self
            .invoke_instance(
                plugin,
                inv,
                move |_, instance, store| {
                    Box::pin(async move {
                        let func = instance
                            .get_typed_func::<(&CallContext, &str, &str), (Result<View, PluginError>,)>(
                                &mut *store,
                                export,
                            )?;
                        let (r,) = func.call_async(&mut *store, (&ctx, &card, &org_id)).await?;
                        Ok(r)
                    })
                },
                |v: &View| v.context.len(),
            )
            .await;
        Some(outcome)
    }

    /// What the caller should do next (the optional `next-steps` export); `None` when the plugin has no such export.
    pub async fn next_steps(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
    ) -> Option<Result<Result<Vec<NextStep>, PluginError>, RuntimeError>> {
        let export = plugin.compiled.steps_export?;
        let ctx = call_context(&inv);
        let outcome = self
            .invoke_instance(
                plugin,
                inv,
                move |_, instance, store| {
                    Box::pin(async move {
                        let func = instance.get_typed_func::<(&CallContext,), (Result<Vec<NextStep>, PluginError>,)>(
                            &mut *store,
                            export,
                        )?;
                        let (r,) = func.call_async(&mut *store, (&ctx,)).await?;
                        Ok(r)
                    })
                },
                |v: &Vec<NextStep>| v.iter().map(|s| s.title.len() + s.detail.len() + s.link.len()).sum(),
            )
            .await;
        Some(outcome)
    }

    /// Migrates data on upgrade.
    pub async fn migrate(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        from: String,
    ) -> Result<Result<(), PluginError>, RuntimeError> {
        let ctx = call_context(&inv);
        self.invoke(
            plugin,
            inv,
            move |p, store| {
                Box::pin(async move { p.portico_plugin_lifecycle().call_migrate(store, &ctx, &from).await })
            },
            |_| 0,
        )
        .await
    }

    /// For benchmarks: `n` times, a fresh instance and a no-op HTTP call (`/noop`), each timed alone, on the
    /// calling task.
    pub async fn bench_instantiate_and_call(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        n: usize,
    ) -> Vec<Duration> {
        let req = HttpRequest {
            method: "GET".into(),
            path: "/noop".into(),
            query: vec![],
            headers: vec![],
            body: vec![],
            form: vec![],
            api: true,
        };
        let ctx = call_context(&inv);
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t = std::time::Instant::now();
            let mut store = self.store(plugin.clone(), inv.clone(), t);
            let instance = plugin.compiled.pre.instantiate_async(&mut store).await.expect("instantiate");
            let r = instance.portico_plugin_http_handler().call_handle(&mut store, &ctx, &req).await.expect("call");
            assert!(r.is_ok());
            times.push(t.elapsed());
        }
        times
    }

    /// Runs `call` in a fresh instance, then commits or rolls back its transaction. The plugin runs in a fiber on
    /// the calling task (no hand-over to a blocking thread); its deadline is counted in epoch ticks, at each of
    /// which it yields to the executor, so a busy plugin shares its worker thread, until the deadline traps it.
    async fn invoke<R, F, S>(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        call: F,
        size: S,
    ) -> Result<Result<R, PluginError>, RuntimeError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a Plugin, &'a mut Store<HostState>) -> CallFuture<'a, R>,
        S: FnOnce(&R) -> usize,
    {
        self.invoke_instance(plugin, inv, move |p, _, store| call(p, store), size).await
    }

    /// [`Runtime::invoke`] with the component's instance at hand, for exports the bindings do not cover.
    async fn invoke_instance<R, F, S>(
        &self,
        plugin: Arc<LoadedPlugin>,
        inv: Invocation,
        call: F,
        size: S,
    ) -> Result<Result<R, PluginError>, RuntimeError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a Plugin, &'a wasmtime::component::Instance, &'a mut Store<HostState>) -> CallFuture<'a, R>,
        S: FnOnce(&R) -> usize,
    {
        let started = std::time::Instant::now();
        let plugin_id = plugin.manifest.id.clone();
        let limits = inv.limits;
        let Some(_slot) = self.slot(started + limits.timeout).await else { return Err(RuntimeError::Busy) };
        let compiled = plugin.compiled.clone();
        let mut store = self.store(plugin, inv, started);
        let result = match compiled.pre.instance_pre().instantiate_async(&mut store).await {
            Ok(instance) => match compiled.indices.load(&mut store, &instance) {
                Ok(bindings) => call(&bindings, &instance, &mut store).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let refused_memory = store.data().limiter.refused;
        let mut state = store.into_data();
        let outcome = async {
            let (write_failed, db_unavailable) = (state.write_failed, state.db_unavailable);
            if let Some(what) = state.over_budget.take() {
                // Whatever the plugin answered, a call that went over its budget leaves nothing behind.
                let _ = state.finish(false).await;
                return Err(RuntimeError::Budget(what));
            }
            match result {
                Ok(Ok(_)) if write_failed => {
                    state.finish(false).await?;
                    Err(if db_unavailable { RuntimeError::DatabaseUnavailable } else { RuntimeError::WriteFailed })
                }
                Ok(Ok(value)) => {
                    let out = size(&value) + state.output_bytes;
                    if out > limits.output_bytes {
                        state.finish(false).await?;
                        return Err(RuntimeError::OutputCap(limits.output_bytes >> 10));
                    }
                    state.finish(true).await?;
                    Ok(Ok(value))
                }
                Ok(Err(e)) => {
                    state.finish(false).await?;
                    Ok(Err(e))
                }
                // The plugin trapped or ran out its deadline after the database failed it (waiting for a connection
                // can outlast a short deadline): that is the database's outage, not the plugin's fault.
                Err(_) if db_unavailable => {
                    let _ = state.finish(false).await;
                    Err(RuntimeError::DatabaseUnavailable)
                }
                Err(e) => {
                    state.finish(false).await?;
                    Err(classify(&e, refused_memory, &limits))
                }
            }
        }
        .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match &outcome {
            Ok(Ok(_)) => tracing::debug!(plugin = %plugin_id, ms, "plugin call succeeded"),
            Ok(Err(e)) => tracing::info!(plugin = %plugin_id, ms, error = ?e, "plugin call returned an error"),
            Err(e) => tracing::warn!(plugin = %plugin_id, ms, error = %e, "plugin call failed"),
        }
        metrics::histogram!("portico_plugin_call_seconds", "plugin" => plugin_id.clone()).record(ms / 1000.0);
        if outcome.as_ref().is_err() {
            metrics::counter!("portico_plugin_failures_total", "plugin" => plugin_id).increment(1);
        }
        outcome
    }

    /// A place in the instance pool, waited for until `deadline`.
    pub(crate) async fn slot(&self, deadline: std::time::Instant) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let wait = self.slots.clone().acquire_owned();
        tokio::time::timeout_at(deadline.into(), wait).await.ok()?.ok()
    }

    /// A store for one invocation: its host state, memory limiter and deadline. Every epoch tick the plugin
    /// yields to the executor; once the deadline (from `started`) has passed, the next tick traps it.
    fn store(&self, plugin: Arc<LoadedPlugin>, inv: Invocation, started: std::time::Instant) -> Store<HostState> {
        let deadline = started + inv.limits.timeout;
        let memory = inv.limits.memory_bytes;
        let mut store = Store::new(&self.engine, HostState::new(self.shared.clone(), plugin, inv, memory, deadline));
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        // tokio's `yield_now` lets the scheduler poll its I/O driver and every other ready task before the plugin
        // resumes; a plain wake-up would put it straight back in line ahead of tasks woken from other threads.
        store.epoch_deadline_callback(move |_| {
            Ok(if std::time::Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });
        store
    }
}

/// An optional export's function, at whichever 0.1.x the plugin was built against (the one that added it or later).
fn optional_export(
    engine: &Engine,
    component: &Component,
    interface: &str,
    func: &str,
) -> Option<wasmtime::component::ComponentExportIndex> {
    let prefix = format!("portico:plugin/{interface}@");
    let name = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .find(|n| n.starts_with(&prefix))?;
    let iface = component.get_export_index(None, &name)?;
    component.get_export_index(Some(&iface), func)
}

/// The newest version of `portico:plugin` a component's imports and exports name: what it was built against.
fn built_against(engine: &Engine, component: &Component) -> Option<semver::Version> {
    let ty = component.component_type();
    let names = ty.imports(engine).map(|(n, _)| n).chain(ty.exports(engine).map(|(n, _)| n));
    names
        .filter_map(|n| n.strip_prefix("portico:plugin/").and_then(|rest| rest.split_once('@')))
        .filter_map(|(_, v)| semver::Version::parse(v).ok())
        .max()
}

/// Compiled components of this process by content hash and engine, serialized: every runtime of the process (the
/// tests start hundreds) deserializes what one of them compiled, instead of compiling it again.
static ARTIFACTS: Mutex<Option<HashMap<String, Arc<Vec<u8>>>>> = Mutex::new(None);

/// Compiles a component, or loads it from this process's artifacts or the disk cache (`cache_dir`, keyed by the
/// component's SHA-256 and the engine's compatibility hash, written atomically).
fn load_component(
    engine: &Engine,
    cache_dir: &std::path::Path,
    hash: &str,
    wasm: &[u8],
) -> Result<Component, RuntimeError> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let key = format!("{hash}-{:016x}", h.finish());
    let path = cache_dir.join(format!("{key}.cwasm"));
    let remembered = ARTIFACTS.lock().expect("artifact lock").as_ref().and_then(|m| m.get(&key).cloned());
    if let Some(bytes) = remembered {
        if !path.exists() {
            write_artifact(&path, &bytes);
        }
        // SAFETY: the bytes are what `precompile_component` produced in this process for an engine with the same
        // compatibility hash.
        #[allow(unsafe_code)]
        if let Ok(c) = unsafe { Component::deserialize(engine, &bytes[..]) } {
            return Ok(c);
        }
    }
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(_) => {
            let bytes = engine.precompile_component(wasm).map_err(|e| RuntimeError::Invalid(format!("{e:#}")))?;
            write_artifact(&path, &bytes);
            bytes
        }
    };
    // SAFETY: the bytes are either what `precompile_component` just produced, or a file this process family wrote
    // from it under the data dir, named by content hash and engine hash and never changed in place; wasmtime
    // rejects artifacts of another engine configuration with an error, which is reported like any other.
    #[allow(unsafe_code)]
    let component = match unsafe { Component::deserialize(engine, &bytes) } {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "ignoring an unusable compiled plugin");
            let fresh = engine.precompile_component(wasm).map_err(|e| RuntimeError::Invalid(format!("{e:#}")))?;
            #[allow(unsafe_code)]
            let c = unsafe { Component::deserialize(engine, &fresh) }
                .map_err(|e| RuntimeError::Invalid(format!("{e:#}")))?;
            ARTIFACTS.lock().expect("artifact lock").get_or_insert_with(HashMap::new).insert(key, Arc::new(fresh));
            return Ok(c);
        }
    };
    ARTIFACTS.lock().expect("artifact lock").get_or_insert_with(HashMap::new).insert(key, Arc::new(bytes));
    Ok(component)
}

/// Writes a compiled artifact atomically (a temporary file renamed into place), or warns.
fn write_artifact(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).is_err() {
        tracing::warn!(path = %path.display(), "could not cache the compiled plugin");
    }
}

/// What an export call returns: the future of the plugin's answer, borrowing its instance and store.
type CallFuture<'a, R> =
    std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<Result<R, PluginError>>> + Send + 'a>>;

/// Turns a wasmtime error into what went wrong, in the plugin's terms.
fn classify(e: &wasmtime::Error, refused_memory: bool, limits: &EffectiveLimits) -> RuntimeError {
    if refused_memory {
        return RuntimeError::MemoryCap(limits.memory_bytes >> 20);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => RuntimeError::Timeout(limits.timeout),
        Some(t) => RuntimeError::Trap(t.to_string()),
        // Every instance slot (or fiber stack) of the pool is taken.
        None if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => RuntimeError::Busy,
        None => RuntimeError::Trap(format!("{e:#}")),
    }
}

fn response_size(r: &HttpResponse) -> usize {
    match r {
        HttpResponse::Page(v) => v.context.len() + v.template.len() + v.title.len(),
        HttpResponse::Json((_, body)) => body.len(),
        HttpResponse::Redirect(to) => to.len(),
        HttpResponse::File(f) => f.body.len(),
    }
}

fn call_context(inv: &Invocation) -> CallContext {
    CallContext {
        tenant_id: inv.tenant_id.clone(),
        tenant_slug: inv.tenant_slug.clone(),
        program: inv.program.as_ref().map(|(key, _)| key.clone()),
        caller: inv.caller.as_ref().map(|c| Caller {
            user_id: c.user_id.clone(),
            name: c.name.clone(),
            email: c.email.clone(),
            org_id: c.org_id.clone(),
            org_name: c.org_name.clone(),
            role: wit_role(c.role),
        }),
        locale: inv.locale.clone(),
        time_zone: inv.time_zone.clone(),
        request_id: inv.request_id.clone(),
        now_ms: inv.now_ms,
    }
}

pub(crate) fn wit_role(r: Role) -> WitRole {
    match r {
        Role::VendorAdmin => WitRole::VendorAdmin,
        Role::ChannelManager => WitRole::ChannelManager,
        Role::PartnerAdmin => WitRole::PartnerAdmin,
        Role::PartnerUser => WitRole::PartnerUser,
    }
}

pub(crate) fn domain_role(r: WitRole) -> Role {
    match r {
        WitRole::VendorAdmin => Role::VendorAdmin,
        WitRole::ChannelManager => Role::ChannelManager,
        WitRole::PartnerAdmin => Role::PartnerAdmin,
        WitRole::PartnerUser => Role::PartnerUser,
    }
}
