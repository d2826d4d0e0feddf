//! `portico:plugin/files`: large files the host streams, so their bytes never pass through the plugin's memory.
//! Uploads arrive with the request (stored by the HTTP layer within the route's limits); the plugin keeps the ones
//! it wants (a row in its invocation's transaction, counted against its quota; the route's upload limit, not the
//! call's file budget, bounds its size, since the user sent the bytes, not the plugin), reads parts of them,
//! deletes them, and hands out signed links the host serves (`crate::file_links`).

use futures::TryStreamExt;

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::files::{Disposition, FileInfo, Host};
use super::super::state::{Adds, HostState};
use super::{denied, invalid};
use crate::file_links::Ticket;
use crate::storage::plugin_usage::{self, BlobRow};

/// Longest a download link lives.
const MAX_TTL_SECONDS: u32 = 86_400;
/// Most bytes one `read` returns.
const MAX_READ: u32 = 8 << 20;

fn info(row: &BlobRow, field: &str) -> FileInfo {
    FileInfo {
        key: row.key.clone(),
        field: field.to_string(),
        size: row.size,
        sha256: row.sha256.clone(),
        content_type: row.content_type.clone(),
        filename: row.filename.clone(),
    }
}

impl HostState {
    /// The file, if it is the plugin's and recorded (kept by a committed call, or by this one).
    async fn own_file(&mut self, key: &str) -> Result<Option<BlobRow>, PluginError> {
        let prefix = format!("tenants/{}/plugins/{}/", self.inv.tenant_id, self.plugin.manifest.id);
        if !self.plugin.manifest.grants.blobs {
            return Err(denied("files need the blobs grant"));
        }
        if !key.starts_with(&prefix) {
            return Err(denied("that file belongs to someone else"));
        }
        let (tenant, plugin) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let tx = self.tx().await?;
        plugin_usage::blob_row(tx, &tenant, &plugin, key).await.map_err(|e| self.storage_error(e))
    }
}

impl Host for HostState {
    fn uploads(&mut self) -> Vec<FileInfo> {
        self.inv.uploads.iter().map(|u| info(&u.row, &u.field)).collect()
    }

    async fn keep(&mut self, key: String) -> Result<(), PluginError> {
        let Some(upload) = self.inv.uploads.iter().find(|u| u.row.key == key).cloned() else {
            return Err(invalid("key", "not a file uploaded with this request"));
        };
        if !self.plugin.manifest.grants.blobs {
            return Err(denied("files need the blobs grant"));
        }
        self.within_quota(Adds::BlobBytes(upload.row.size)).await?;
        let (tenant, plugin, now) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone(), self.inv.now_ms);
        let tx = self.tx().await?;
        plugin_usage::record_blob(tx, &tenant, &plugin, &upload.row, now).await.map_err(|e| self.write_error(e))?;
        Ok(())
    }

    async fn stat(&mut self, key: String) -> Result<Option<FileInfo>, PluginError> {
        Ok(self.own_file(&key).await?.map(|row| info(&row, "")))
    }

    async fn read(&mut self, key: String, offset: u64, len: u32) -> Result<Vec<u8>, PluginError> {
        let row = self.own_file(&key).await?.ok_or_else(|| PluginError::NotFound("no such file".into()))?;
        let len = u64::from(len.min(MAX_READ));
        self.charge_output(len as usize)?;
        let end = offset.saturating_add(len).min(row.size);
        let blobs = self.shared.blobs.clone();
        let stream = blobs
            .read_range(&key, offset.min(end)..end)
            .await
            .map_err(|e| PluginError::Unavailable(e.to_string()))?
            .ok_or_else(|| PluginError::NotFound("the file is gone from the store".into()))?;
        let chunks: Vec<bytes::Bytes> =
            stream.try_collect().await.map_err(|e| PluginError::Unavailable(e.to_string()))?;
        Ok(chunks.concat())
    }

    async fn serve_url(
        &mut self,
        key: String,
        filename: String,
        disposition: Disposition,
        ttl_seconds: u32,
        public: bool,
    ) -> Result<String, PluginError> {
        self.own_file(&key).await?.ok_or_else(|| PluginError::NotFound("no such file".into()))?;
        if ttl_seconds == 0 || ttl_seconds > MAX_TTL_SECONDS {
            return Err(invalid("ttl-seconds", "give 1 second to a day"));
        }
        let user = match (&self.inv.caller, public) {
            (_, true) => None,
            (Some(c), false) => Some(c.user_id.clone()),
            (None, false) => return Err(invalid("public", "a call without a user can only make public links")),
        };
        let name: String = filename.chars().filter(|c| !c.is_control() && !matches!(c, '/' | '\\')).take(200).collect();
        let ticket = Ticket {
            tenant: self.inv.tenant_id.clone(),
            key,
            expires: self.inv.now_ms + i64::from(ttl_seconds) * 1000,
            inline: matches!(disposition, Disposition::Inline),
            filename: name.clone(),
            user,
        };
        let token = self.shared.file_links.sign(&ticket);
        let shown: String =
            url::form_urlencoded::byte_serialize(if name.is_empty() { "download" } else { &name }.as_bytes())
                .collect::<String>()
                .replace('+', "%20");
        Ok(format!("/files/{token}/{shown}"))
    }

    async fn delete(&mut self, key: String) -> Result<(), PluginError> {
        self.own_file(&key).await?;
        let (tenant, plugin) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let tx = self.tx().await?;
        plugin_usage::forget_blob(tx, &tenant, &plugin, &key).await.map_err(|e| self.write_error(e))?;
        self.deleted_blobs.push(key);
        Ok(())
    }
}
