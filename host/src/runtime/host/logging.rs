//! `portico:plugin/logging`: lines in the host's log, tagged with plugin, tenant and request id.

use super::super::bindings::portico::plugin::logging::{Host, Level};
use super::super::state::HostState;

/// Longest log line kept; the rest is cut.
const MAX_LINE: usize = 4096;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let message: String = message.chars().take(MAX_LINE).collect();
        let (plugin, tenant, request_id) = (&self.plugin.manifest.id, &self.inv.tenant_slug, &self.inv.request_id);
        match level {
            Level::Debug => tracing::debug!(plugin = %plugin, tenant = %tenant, request_id = %request_id, "{message}"),
            Level::Info => tracing::info!(plugin = %plugin, tenant = %tenant, request_id = %request_id, "{message}"),
            Level::Warn => tracing::warn!(plugin = %plugin, tenant = %tenant, request_id = %request_id, "{message}"),
            Level::Error => tracing::error!(plugin = %plugin, tenant = %tenant, request_id = %request_id, "{message}"),
        }
    }
}
