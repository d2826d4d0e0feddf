//! `portico:plugin/events`: emitting into the outbox, inside the invocation's transaction.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::events::Host;
use super::super::state::{Adds, HostState, Spend};
use super::invalid;
use crate::storage::plugin_events;

/// Largest event payload.
const MAX_PAYLOAD: usize = 64 * 1024;

impl Host for HostState {
    async fn emit(&mut self, topic: String, payload: String) -> Result<String, PluginError> {
        let valid_topic = topic.len() <= 100
            && topic.contains('.')
            && topic.split('.').all(|p| {
                !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            });
        if !valid_topic {
            return Err(invalid("topic", "use a dotted lowercase topic such as deal.approved"));
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(invalid("payload", "an event payload may hold at most 64 KiB"));
        }
        if serde_json::from_str::<serde_json::Value>(&payload).is_err() {
            return Err(invalid("payload", "the payload must be JSON"));
        }
        self.charge_output(payload.len())?;
        self.spend(Spend::Events(1))?;
        self.within_quota(Adds::Event).await?;
        let (tenant, source, now) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone(), self.inv.now_ms);
        let program = self.inv.program.as_ref().map(|(key, _)| key.clone());
        let tx = self.tx().await?;
        let id = plugin_events::emit(tx, &tenant, &source, &topic, program.as_deref(), &payload, now)
            .await
            .map_err(|e| self.write_error(e))?;
        self.emitted.push(topic);
        Ok(id)
    }
}
