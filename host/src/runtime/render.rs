//! The sandboxed renderer: plugin templates are code the host runs for a plugin, so they run where the plugin's
//! code does. `host/render` (minijinja and the markup sanitizer, built for `wasm32-wasip2` by `build.rs` and
//! embedded here) is instantiated afresh for every rendering, in the same engine and pool as plugins, under the
//! plugin's remaining deadline (epoch interruption), its memory cap and its output cap. A template that loops for
//! minutes, doubles a string until it is gigabytes long or prints a hundred megabytes fails its own page and
//! nothing else. The renderer has its own small WIT world (`host/render/wit`) and so its own `bindgen!`; it imports
//! nothing from the host.

use std::time::{Duration, Instant};

use sha2::Digest;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::{Limiter, Runtime, RuntimeError};

mod guest {
    wasmtime::component::bindgen!({
        path: "render/wit",
        world: "render",
        exports: { default: async },
    });
}

pub use guest::exports::portico::render::renderer::Template;
use guest::exports::portico::render::renderer::{Failure, Job};

/// The renderer component, as built for this host.
const RENDER_WASM: &[u8] = include_bytes!(env!("PORTICO_RENDER_WASM"));

/// The limits of one rendering: what is left of the plugin's invocation.
#[derive(Debug, Clone, Copy)]
pub struct RenderLimits {
    /// When the plugin's deadline runs out (it started with the invocation the page belongs to); `None` for a
    /// second from when the rendering starts.
    pub deadline: Option<Instant>,
    pub memory_bytes: usize,
    pub output_bytes: usize,
}

impl RenderLimits {
    /// The limits of an invocation of `plugin` that started at `started`.
    pub fn after(started: Instant, limits: &super::EffectiveLimits) -> Self {
        RenderLimits {
            deadline: Some(started + limits.timeout),
            memory_bytes: limits.memory_bytes,
            output_bytes: limits.output_bytes,
        }
    }

    /// Limits for markup that belongs to no invocation (checks at install time): a second, 32 MiB, 8 MiB.
    pub fn standalone() -> Self {
        RenderLimits { deadline: None, memory_bytes: 32 << 20, output_bytes: 8 << 20 }
    }
}

/// Why a rendering failed: each is the plugin's failure, for its own page only.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template error: {0}")]
    Template(String),
    #[error("rendering ran past the plugin's deadline")]
    Timeout,
    #[error("rendering exceeded the plugin's memory cap")]
    MemoryCap,
    #[error("the rendered markup exceeded the plugin's output cap")]
    OutputCap,
    #[error("the renderer failed: {0}")]
    Renderer(String),
}

/// The compiled renderer, pre-instantiated.
pub(super) struct Renderer {
    pre: guest::RenderPre<RenderState>,
}

impl Renderer {
    pub(super) fn new(
        runtime_engine: &wasmtime::Engine,
        component: &wasmtime::component::Component,
    ) -> Result<Self, RuntimeError> {
        let mut linker = Linker::new(runtime_engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        let pre = linker.instantiate_pre(component).map_err(|e| RuntimeError::Invalid(format!("renderer: {e:#}")))?;
        let pre = guest::RenderPre::new(pre).map_err(|e| RuntimeError::Invalid(format!("renderer: {e:#}")))?;
        Ok(Renderer { pre })
    }

    /// The renderer's bytes, for the artifact cache.
    pub(super) fn wasm() -> &'static [u8] {
        RENDER_WASM
    }
}

/// Store data of one rendering: nothing granted (WASI without files, environment or sockets), a memory limit.
struct RenderState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
}

impl WasiView for RenderState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl Runtime {
    /// Compiles (or loads) the renderer now, so the first page after start-up does not wait for it.
    pub async fn warm_renderer(&self) {
        if let Err(e) = self.renderer().await {
            tracing::error!(error = %e, "the sandboxed renderer could not be prepared");
        }
    }

    /// The renderer, compiled on a blocking thread the first time it is needed.
    async fn renderer(&self) -> Result<&Renderer, RenderError> {
        self.renderer
            .get_or_try_init(|| async {
                let (engine, cache_dir) = (self.engine.clone(), self.cache_dir.clone());
                let component = tokio::task::spawn_blocking(move || {
                    let wasm = Renderer::wasm();
                    super::load_component(&engine, &cache_dir, &hex::encode(sha2::Sha256::digest(wasm)), wasm)
                })
                .await
                .map_err(|e| RenderError::Renderer(e.to_string()))?
                .map_err(|e| RenderError::Renderer(e.to_string()))?;
                Renderer::new(&self.engine, &component).map_err(|e| RenderError::Renderer(e.to_string()))
            })
            .await
    }

    /// Renders plugin `plugin_id`'s template `name` with `context` (JSON) and returns sanitized markup.
    pub async fn render_templates(
        &self,
        plugin_id: &str,
        templates: Vec<Template>,
        name: &str,
        context: String,
        limits: RenderLimits,
    ) -> Result<String, RenderError> {
        let job = Job {
            plugin_id: plugin_id.to_string(),
            templates,
            name: name.to_string(),
            context,
            max_output: limits.output_bytes as u64,
        };
        let r = self
            .in_renderer(limits, move |g, store| {
                Box::pin(async move { g.portico_render_renderer().call_render(store, &job).await })
            })
            .await?;
        r.map_err(|f| match f {
            Failure::Template(m) => RenderError::Template(m),
            Failure::TooLarge => RenderError::OutputCap,
        })
    }

    /// Checks that a plugin's templates parse (at install); the error names the template and line.
    pub async fn check_templates(&self, templates: Vec<Template>) -> Result<(), RenderError> {
        self.in_renderer(RenderLimits::standalone(), move |g, store| {
            Box::pin(async move { g.portico_render_renderer().call_check(store, &templates).await })
        })
        .await?
        .map_err(RenderError::Template)
    }

    /// Sanitizes markup of `plugin_id` that no template produced.
    pub async fn sanitize_markup(
        &self,
        plugin_id: &str,
        html: String,
        limits: RenderLimits,
    ) -> Result<String, RenderError> {
        let id = plugin_id.to_string();
        self.in_renderer(limits, move |g, store| {
            Box::pin(async move { g.portico_render_renderer().call_sanitize(store, &id, &html).await })
        })
        .await
    }

    async fn in_renderer<R, F>(&self, limits: RenderLimits, call: F) -> Result<R, RenderError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a guest::Render, &'a mut Store<RenderState>) -> RenderFuture<'a, R>,
    {
        let renderer = self.renderer().await?;
        let deadline = limits.deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        if Instant::now() >= deadline {
            return Err(RenderError::Timeout);
        }
        let Some(_slot) = self.slot(deadline).await else { return Err(RenderError::Timeout) };
        let state = RenderState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: Limiter { max_memory: limits.memory_bytes, refused: false },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });
        let result = match renderer.pre.instantiate_async(&mut store).await {
            Ok(instance) => call(&instance, &mut store).await,
            Err(e) => Err(e),
        };
        let refused = store.data().limiter.refused;
        result.map_err(|e| {
            if refused {
                RenderError::MemoryCap
            } else if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
                RenderError::Timeout
            } else {
                RenderError::Renderer(format!("{e:#}"))
            }
        })
    }
}

type RenderFuture<'a, R> = std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<R>> + Send + 'a>>;
