//! The Portico plugin SDK. A plugin is a type implementing [`Plugin`], exported with [`export_plugin!`] and
//! built for `wasm32-wasip2`. Everything else here is typed help over the host's WIT imports: [`storage`],
//! [`events`] (and the host's [`activity`] as events), [`directory`], [`notify`], [`http`], [`secrets`],
//! [`settings`], [`blobs`], [`files`], [`search`], [`log`]. How a plugin's pages behave in the browser (what
//! markup may do, the `data-pt-*` behaviours, the sandboxed frame, charts) is in [`ui`].
//!
//! ```text
//! use portico_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
//!         Ok(Response::page("hello.html", "Hello", &serde_json::json!({ "name": ctx.user_name() })))
//!     }
//! }
//!
//! export_plugin!(Hello);
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "portico_sdk::bindings",
        generate_all,
    });
}

mod context;
pub mod host;
pub mod storage;
pub mod ui;

pub use host::{
    activity, analytics, blobs, directory, events, extensions, files, http, log, notify, search, secrets, settings,
};

pub use context::{Context, Request, Response};
pub use serde_json::{Value, json};

pub use bindings::exports::portico::plugin::http_handler::View;
pub use bindings::exports::portico::plugin::next_steps::Step as NextStep;
pub use bindings::portico::plugin::events::Event;
pub use bindings::portico::plugin::types::{Error, FieldError, Role};

/// What most plugins import.
pub mod prelude {
    pub use crate::{Context, Error, Event, NextStep, Plugin, Request, Response, Role, View, export_plugin, json};
}

/// A plugin: every entry point has a default, so implement only what the manifest declares. Each call runs
/// in a fresh instance; keep nothing in statics between calls.
pub trait Plugin {
    /// A page or JSON route of the manifest.
    fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
        let _ = (ctx, req);
        Err(Error::NotFound("no such page".into()))
    }

    /// An event the manifest subscribes to. Return an error to have it retried.
    fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
        let _ = (ctx, event);
        Ok(())
    }

    /// A schedule of the manifest.
    fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
        let _ = (ctx, schedule);
        Ok(())
    }

    /// A dashboard widget of the manifest.
    fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
        let _ = ctx;
        Err(Error::NotFound(format!("no widget {widget}")))
    }

    /// Migrates data from an older version of the plugin on upgrade.
    fn migrate(ctx: &Context, from_version: &str) -> Result<(), Error> {
        let _ = (ctx, from_version);
        Ok(())
    }

    /// A card of the manifest's `[[cards]]` about partner organisation `org_id`, shown to vendor staff on the
    /// partner's page.
    fn render_card(ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
        let _ = (ctx, org_id);
        Err(Error::NotFound(format!("no card {card}")))
    }

    /// What the caller should do next (a deal awaiting information, training due, a claim to file), most pressing
    /// first; the partner dashboard lists a few of all plugins' steps. Link each to one of the plugin's pages.
    fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
        let _ = ctx;
        Ok(Vec::new())
    }
}

/// A plugin's entry points as plain functions (what [`export_plugin!`] refers to in a native build, where nothing
/// is exported).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct EntryPoints {
    pub handle: fn(&Context, Request) -> Result<Response, Error>,
    pub on_event: fn(&Context, Event) -> Result<(), Error>,
    pub run_schedule: fn(&Context, &str) -> Result<(), Error>,
    pub render_widget: fn(&Context, &str) -> Result<View, Error>,
    pub migrate: fn(&Context, &str) -> Result<(), Error>,
    pub render_card: fn(&Context, &str, &str) -> Result<View, Error>,
    pub next_steps: fn(&Context) -> Result<Vec<NextStep>, Error>,
}

/// Helpers to build errors.
impl Error {
    /// An input error on one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Error {
        Error::Invalid(FieldError { field: Some(field.to_string()), message: message.into() })
    }

    /// An internal error (logged by the host, not shown to users).
    pub fn internal(message: impl std::fmt::Display) -> Error {
        Error::Internal(message.to_string())
    }
}

/// Exports a [`Plugin`] implementation as the component's entry points.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        pub struct __PorticoExports;

        impl $crate::bindings::exports::portico::plugin::http_handler::Guest for __PorticoExports {
            fn handle(
                ctx: $crate::bindings::portico::plugin::types::CallContext,
                req: $crate::bindings::exports::portico::plugin::http_handler::Request,
            ) -> Result<$crate::bindings::exports::portico::plugin::http_handler::Response, $crate::Error> {
                <$plugin as $crate::Plugin>::handle(&$crate::Context::from_wit(ctx), $crate::Request::from_wit(req))
                    .map($crate::Response::into_wit)
            }
        }

        impl $crate::bindings::exports::portico::plugin::event_handler::Guest for __PorticoExports {
            fn on_event(ctx: $crate::bindings::portico::plugin::types::CallContext, ev: $crate::Event) -> Result<(), $crate::Error> {
                <$plugin as $crate::Plugin>::on_event(&$crate::Context::from_wit(ctx), ev)
            }
        }

        impl $crate::bindings::exports::portico::plugin::scheduler::Guest for __PorticoExports {
            fn run(ctx: $crate::bindings::portico::plugin::types::CallContext, schedule: String) -> Result<(), $crate::Error> {
                <$plugin as $crate::Plugin>::run_schedule(&$crate::Context::from_wit(ctx), &schedule)
            }
        }

        impl $crate::bindings::exports::portico::plugin::widgets::Guest for __PorticoExports {
            fn render(ctx: $crate::bindings::portico::plugin::types::CallContext, widget: String) -> Result<$crate::View, $crate::Error> {
                <$plugin as $crate::Plugin>::render_widget(&$crate::Context::from_wit(ctx), &widget)
            }
        }

        impl $crate::bindings::exports::portico::plugin::partner_cards::Guest for __PorticoExports {
            fn render_card(
                ctx: $crate::bindings::portico::plugin::types::CallContext,
                card: String,
                org_id: String,
            ) -> Result<$crate::View, $crate::Error> {
                <$plugin as $crate::Plugin>::render_card(&$crate::Context::from_wit(ctx), &card, &org_id)
            }
        }

        impl $crate::bindings::exports::portico::plugin::next_steps::Guest for __PorticoExports {
            fn steps(ctx: $crate::bindings::portico::plugin::types::CallContext) -> Result<Vec<$crate::NextStep>, $crate::Error> {
                <$plugin as $crate::Plugin>::next_steps(&$crate::Context::from_wit(ctx))
            }
        }

        impl $crate::bindings::exports::portico::plugin::lifecycle::Guest for __PorticoExports {
            fn migrate(ctx: $crate::bindings::portico::plugin::types::CallContext, from_version: String) -> Result<(), $crate::Error> {
                <$plugin as $crate::Plugin>::migrate(&$crate::Context::from_wit(ctx), &from_version)
            }
        }

        // Only a WebAssembly build exports the entry points: natively (a plugin's unit tests, a workspace build)
        // the crate is plain Rust, and a native shared library cannot carry the component model's export names.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_plugin_world!(__PorticoExports with_types_in $crate::bindings);

        /// Natively, the plugin's entry points by name (`#[used]`, so kept wherever the macro is invoked), so its
        /// code counts as used without the export.
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        #[used]
        static __PORTICO_ENTRY_POINTS: $crate::EntryPoints = $crate::EntryPoints {
            handle: <$plugin as $crate::Plugin>::handle,
            on_event: <$plugin as $crate::Plugin>::on_event,
            run_schedule: <$plugin as $crate::Plugin>::run_schedule,
            render_widget: <$plugin as $crate::Plugin>::render_widget,
            migrate: <$plugin as $crate::Plugin>::migrate,
            render_card: <$plugin as $crate::Plugin>::render_card,
            next_steps: <$plugin as $crate::Plugin>::next_steps,
        };
    };
}
