//! `portico:plugin/blobs`: files under the plugin's own space of the tenant, with the blobs grant.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::blobs::Host;
use super::super::state::HostState;
use super::{denied, invalid};

/// Largest file a plugin may store.
const MAX_BLOB: usize = 16 * 1024 * 1024;

impl HostState {
    fn blob_prefix(&self) -> Result<String, PluginError> {
        if !self.plugin.manifest.grants.blobs {
            return Err(denied("storing files needs the blobs grant"));
        }
        Ok(format!("tenants/{}/plugins/{}/", self.inv.tenant_id, self.plugin.manifest.id))
    }
}

impl Host for HostState {
    async fn put(&mut self, name: String, content_type: String, body: Vec<u8>) -> Result<String, PluginError> {
        let prefix = self.blob_prefix()?;
        if name.is_empty() || name.len() > 200 || name.contains("..") || name.starts_with('/') {
            return Err(invalid("name", "use a relative file name without .."));
        }
        if body.len() > MAX_BLOB {
            return Err(invalid("body", "files may be at most 16 MiB"));
        }
        let key = format!("{prefix}{}-{name}", crate::domain::new_id());
        let blobs = self.shared.blobs.clone();
        let stored = key.clone();
        let _ = content_type;
        blobs
            .put(&stored, body)
            .await
            .map_err(|e| PluginError::Unavailable(format!("the file could not be stored: {e}")))?;
        Ok(key)
    }

    async fn get(&mut self, key: String) -> Result<Option<(String, Vec<u8>)>, PluginError> {
        let prefix = self.blob_prefix()?;
        if !key.starts_with(&prefix) {
            return Err(denied("that file belongs to someone else"));
        }
        let blobs = self.shared.blobs.clone();
        let bytes = blobs.get(&key).await.map_err(|e| PluginError::Unavailable(e.to_string()))?;
        Ok(bytes.map(|b| ("application/octet-stream".to_string(), b)))
    }

    async fn delete(&mut self, key: String) -> Result<(), PluginError> {
        let prefix = self.blob_prefix()?;
        if !key.starts_with(&prefix) {
            return Err(denied("that file belongs to someone else"));
        }
        let blobs = self.shared.blobs.clone();
        blobs.delete(&key).await.map_err(|e| PluginError::Unavailable(e.to_string()))
    }
}
