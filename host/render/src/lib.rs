//! The host's renderer for plugin markup: plugin templates rendered with minijinja, then sanitized, inside a
//! WebAssembly sandbox (`wit/render.wit`) that the host instantiates afresh for each rendering under the plugin's
//! deadline, memory cap and output cap. The logic is plain Rust that `cargo test` runs natively; only the export
//! at the bottom is WIT glue.

pub mod markup;
pub mod templates;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({ world: "render", path: "wit" });
}

use bindings::exports::portico::render::renderer::{Failure, Guest, Job, Template};

struct Renderer;

impl Guest for Renderer {
    fn render(job: Job) -> Result<String, Failure> {
        let sources = job.templates.into_iter().map(|t| (t.name, t.source)).collect();
        let r = templates::render(sources, &job.name, &job.context, job.max_output, &job.plugin_id).map_err(
            |e| match e {
                templates::Failure::Template(m) => Failure::Template(m),
                templates::Failure::TooLarge => Failure::TooLarge,
            },
        )?;
        Ok(templates::place_charts(&markup::sanitize(&job.plugin_id, &r.html), &r.charts))
    }

    fn check(templates: Vec<Template>) -> Result<(), String> {
        templates::check(templates.into_iter().map(|t| (t.name, t.source)).collect())
    }

    fn sanitize(plugin_id: String, html: String) -> String {
        markup::sanitize(&plugin_id, &html)
    }
}

/// The WIT export: generated code that needs `unsafe` (the canonical ABI), confined to this module, and only in
/// the WebAssembly build (a native shared library cannot carry the component model's export names).
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::{Renderer, bindings};
    bindings::export!(Renderer with_types_in bindings);
}
