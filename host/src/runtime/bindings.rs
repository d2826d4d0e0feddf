//! The host side of the WIT package `portico:plugin` (`plugin-api/wit`): the one `bindgen!` of the host.

wasmtime::component::bindgen!({
    path: "../plugin-api/wit",
    world: "plugin",
});

pub use self::exports::portico::plugin::http_handler::{Request as HttpRequest, Response as HttpResponse, View};
pub use self::portico::plugin::types::{CallContext, Caller, Error as PluginError, FieldError, Role as WitRole};
