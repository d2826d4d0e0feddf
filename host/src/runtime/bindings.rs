//! The host side of the WIT package `portico:plugin` (`plugin-api/wit`): the one `bindgen!` of the host.
//!
//! Exports are called with `call_async` and the imports that wait on the database, the blob store or the network
//! are `async`: a plugin runs in a fiber on the request's own task, and a host call awaits its I/O there, instead
//! of the whole call being handed to a blocking thread and back. Imports that answer from memory stay plain.

wasmtime::component::bindgen!({
    path: "../plugin-api/wit",
    // What every plugin exports; the exports added since 0.1.0 (partner cards) are optional, looked up by name.
    world: "plugin-base",
    imports: {
        "portico:plugin/storage": async,
        "portico:plugin/events": async,
        "portico:plugin/directory": async,
        "portico:plugin/notifications": async,
        "portico:plugin/outbound-http": async,
        "portico:plugin/secrets": async,
        "portico:plugin/blobs": async,
        "portico:plugin/files.keep": async,
        "portico:plugin/files.stat": async,
        "portico:plugin/files.read": async,
        "portico:plugin/files.serve-url": async,
        "portico:plugin/files.delete": async,
        "portico:plugin/files.unpack": async,
        "portico:plugin/files.tree-url": async,
        "portico:plugin/search": async,
        "portico:plugin/analytics": async,
    },
    exports: { default: async },
});

pub use self::exports::portico::plugin::http_handler::{Request as HttpRequest, Response as HttpResponse, View};
pub use self::portico::plugin::types::{CallContext, Caller, Error as PluginError, FieldError, Role as WitRole};
pub use self::{PluginBase as Plugin, PluginBaseIndices as PluginIndices, PluginBasePre as PluginPre};
