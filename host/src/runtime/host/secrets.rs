//! `portico:plugin/secrets`: values the vendor stored, only by names the manifest declares.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::secrets::Host;
use super::super::state::HostState;
use super::denied;

impl Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, PluginError> {
        if !self.plugin.manifest.grants.secrets.contains(&name) {
            return Err(denied(format!("secret {name} is not declared in plugin.toml")));
        }
        let db = self.shared.db.clone();
        let (tenant, plugin) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let value = db.tenant(&tenant).plugin_secret(&plugin, &name).await.map_err(|e| self.storage_error(e))?;
        value.ok_or_else(|| PluginError::NotFound(format!("secret {name} is not set for this tenant")))
    }
}
