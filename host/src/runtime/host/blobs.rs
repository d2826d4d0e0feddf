//! `portico:plugin/blobs`: files under the plugin's own space of the tenant, with the blobs grant. A file follows
//! its invocation: its row is written in the invocation's transaction, a file stored by a call that fails is
//! removed again, and a file deleted by a call leaves the store only once the call commits.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::blobs::Host;
use super::super::state::{Adds, HostState, Spend};
use super::{denied, invalid};
use crate::storage::plugin_usage;
use sha2::Digest;

/// Largest file a plugin may store through its own memory (large files stream through the host instead).
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
        if name.is_empty() || name.len() > 200 || name.contains("..") || name.starts_with('/') || name.contains('\0') {
            return Err(invalid("name", "use a relative file name without .."));
        }
        if body.len() > MAX_BLOB {
            return Err(invalid("body", "files may be at most 16 MiB"));
        }
        let size = body.len() as u64;
        let row = plugin_usage::BlobRow {
            key: String::new(),
            size,
            sha256: hex::encode(sha2::Sha256::digest(&body)),
            content_type: if content_type.is_ascii() && content_type.len() < 100 {
                content_type
            } else {
                String::new()
            },
            filename: name.clone(),
        };
        self.spend(Spend::BlobBytes(size))?;
        self.within_quota(Adds::BlobBytes(size)).await?;
        let key = format!("{prefix}{}-{name}", crate::domain::new_id());
        let (tenant, plugin, now) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone(), self.inv.now_ms);
        // The row first, in the transaction: if the store then fails, the row goes with the rollback.
        let row = plugin_usage::BlobRow { key: key.clone(), ..row };
        let tx = self.tx().await?;
        plugin_usage::record_blob(tx, &tenant, &plugin, &row, now).await.map_err(|e| self.write_error(e))?;
        let blobs = self.shared.blobs.clone();
        blobs
            .put(&key, body)
            .await
            .map_err(|e| PluginError::Unavailable(format!("the file could not be stored: {e}")))?;
        self.new_blobs.push(key.clone());
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
        let (tenant, plugin) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let tx = self.tx().await?;
        plugin_usage::forget_blob(tx, &tenant, &plugin, &key).await.map_err(|e| self.write_error(e))?;
        if let Some(i) = self.new_blobs.iter().position(|k| *k == key) {
            // Stored and deleted in the same call: gone either way.
            self.new_blobs.remove(i);
            let blobs = self.shared.blobs.clone();
            let _ = blobs.delete(&key).await;
        } else {
            self.deleted_blobs.push(key);
        }
        Ok(())
    }
}
