//! `portico:plugin/secrets`: values the vendor stored, only by names the manifest declares; written by the plugin
//! only for names it declares writable. Sealed at rest (`crate::secrets`); a value is opened only here, into the
//! plugin's call, and never logged.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::secrets::Host;
use super::super::state::HostState;
use super::{denied, invalid};
use crate::storage::plugin_secrets;

/// Largest secret a plugin may store.
const MAX_SECRET: usize = 64 * 1024;

impl Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, PluginError> {
        if !self.plugin.manifest.grants.secrets.contains(&name) {
            return Err(denied(format!("secret {name} is not declared in plugin.toml")));
        }
        let db = self.shared.db.clone();
        let (tenant, plugin) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let sealed = db.tenant(&tenant).plugin_secret(&plugin, &name).await.map_err(|e| self.storage_error(e))?;
        let sealed =
            sealed.ok_or_else(|| PluginError::NotFound(format!("secret {name} is not set for this tenant")))?;
        self.shared.keyring.open(&tenant, &plugin, &name, &sealed).map_err(|e| {
            tracing::error!(plugin = %plugin, secret = %name, error = %e, "a stored secret does not open");
            PluginError::Unavailable(format!("secret {name} cannot be read; a vendor admin should set it again"))
        })
    }

    async fn set(&mut self, name: String, value: String) -> Result<(), PluginError> {
        if !self.plugin.manifest.grants.writable_secrets.contains(&name) {
            return Err(denied(format!("secret {name} is not declared writable in plugin.toml")));
        }
        if value.len() > MAX_SECRET {
            return Err(invalid("value", "a secret may hold at most 64 KiB"));
        }
        let (tenant, plugin, now) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone(), self.inv.now_ms);
        let sealed = self.shared.keyring.seal(&tenant, &plugin, &name, &value);
        let tx = self.tx().await?;
        plugin_secrets::set_secret_in(tx, &tenant, &plugin, &name, &sealed, now)
            .await
            .map_err(|e| self.write_error(e))?;
        let tx = self.tx().await?;
        let actor = format!("plugin {plugin}");
        crate::storage::audit_in(tx, &tenant, &actor, "plugin.secret.written", &plugin, &format!("secret {name}"))
            .await
            .map_err(|e| self.write_error(e))?;
        Ok(())
    }
}
