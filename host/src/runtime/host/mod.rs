//! Host implementations of the WIT imports, one file per interface. Every call checks the plugin's grants
//! (from its manifest) and the caller's scope before touching anything.

mod analytics;
mod blobs;
mod directory;
mod events;
mod extensions;
mod files;
mod logging;
mod notifications;
mod outbound_http;
mod search;
mod secrets;
mod settings;
mod storage;

use super::bindings::PluginError;

/// A refusal the plugin can show its author: which grant is missing.
fn denied(what: impl std::fmt::Display) -> PluginError {
    PluginError::Denied(what.to_string())
}

/// Input the plugin got wrong.
fn invalid(field: &str, message: impl Into<String>) -> PluginError {
    PluginError::Invalid(super::bindings::FieldError { field: Some(field.to_string()), message: message.into() })
}
