//! `portico:plugin/logging`: lines in the host's log, tagged with plugin, tenant and request id. A plugin's text
//! cannot forge log lines: control characters (newlines, carriage returns, terminal escapes) and the Unicode
//! separators and direction overrides are written as escapes, in text and JSON logs alike.

use super::super::bindings::portico::plugin::logging::{Host, Level};
use super::super::state::HostState;
use crate::domain::escape_control;

/// Longest log line kept; the rest is cut.
const MAX_LINE: usize = 4096;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let message: String = message.chars().take(MAX_LINE).collect();
        let message = escape_control(&message);
        let (plugin, tenant, request_id) = (&self.plugin.manifest.id, &self.inv.tenant_slug, &self.inv.request_id);
        match level {
            Level::Debug => tracing::debug!(plugin = %plugin, tenant = %tenant, request_id = %request_id, "{message}"),
            Level::Info => tracing::info!(plugin = %plugin, tenant = %tenant, request_id = %request_id, "{message}"),
            Level::Warn => tracing::warn!(plugin = %plugin, tenant = %tenant, request_id = %request_id, "{message}"),
            Level::Error => tracing::error!(plugin = %plugin, tenant = %tenant, request_id = %request_id, "{message}"),
        }
    }
}
