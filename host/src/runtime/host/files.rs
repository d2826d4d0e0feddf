//! `portico:plugin/files`: large files the host streams, so their bytes never pass through the plugin's memory.
//! Uploads arrive with the request (stored by the HTTP layer within the route's limits); the plugin keeps the ones
//! it wants (a row in its invocation's transaction, counted against its quota; the route's upload limit, not the
//! call's file budget, bounds its size, since the user sent the bytes, not the plugin), reads parts of them,
//! deletes them, and hands out signed links the host serves (`crate::file_links`). A zip the plugin holds can be
//! unpacked into a tree of files (`crate::archive` checks it), recorded as one row whose key prefixes its files,
//! and served by relative path to the sandboxed frames that load web content such as SCORM packages.

use futures::TryStreamExt;

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::files::{Disposition, FileInfo, Host, Tree, TreeEntry};
use super::super::state::{Adds, HostState};
use super::{denied, invalid};
use crate::archive::{TREE_TYPE, split_tree_key};
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
        let upload = self.inv.uploads.iter().find(|u| u.row.key == key).map(|u| u.row.size);
        let size = match upload {
            // An upload of this request, kept or not, can be read while the call runs.
            Some(_) if !self.plugin.manifest.grants.blobs => return Err(denied("files need the blobs grant")),
            Some(size) => size,
            None => self.file_size(&key).await?,
        };
        let len = u64::from(len.min(MAX_READ));
        let end = offset.saturating_add(len).min(size);
        // What is returned counts against the output cap, not what was asked for.
        self.charge_output(end.saturating_sub(offset) as usize)?;
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
        let row = self.own_file(&key).await?;
        let (tenant, plugin) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let tx = self.tx().await?;
        plugin_usage::forget_blob(tx, &tenant, &plugin, &key).await.map_err(|e| self.write_error(e))?;
        if row.is_some_and(|r| r.content_type == TREE_TYPE) {
            let blobs = self.shared.blobs.clone();
            let files = blobs.list(&format!("{key}/")).await.map_err(|e| PluginError::Unavailable(e.to_string()))?;
            self.deleted_blobs.extend(files.into_iter().map(|(k, _)| k));
        } else {
            self.deleted_blobs.push(key);
        }
        Ok(())
    }

    async fn unpack(&mut self, key: String, max_entries: u32, max_bytes: u64) -> Result<Tree, PluginError> {
        let (archive, size) = match self.inv.uploads.iter().find(|u| u.row.key == key) {
            Some(u) => (u.row.filename.clone(), u.row.size),
            None => {
                let row = self.own_file(&key).await?.ok_or_else(|| PluginError::NotFound("no such file".into()))?;
                (row.filename, row.size)
            }
        };
        if !self.plugin.manifest.grants.blobs {
            return Err(denied("files need the blobs grant"));
        }
        let blobs = self.shared.blobs.clone();
        // The archive to a local file first (the store may be S3): a zip is read from its end.
        let mut local =
            tokio::fs::File::from_std(tempfile::tempfile().map_err(|e| PluginError::Unavailable(e.to_string()))?);
        let mut stream = blobs
            .read_range(&key, 0..size)
            .await
            .map_err(|e| PluginError::Unavailable(e.to_string()))?
            .ok_or_else(|| PluginError::NotFound("the file is gone from the store".into()))?;
        while let Some(chunk) = stream.try_next().await.map_err(|e| PluginError::Unavailable(e.to_string()))? {
            tokio::io::AsyncWriteExt::write_all(&mut local, &chunk)
                .await
                .map_err(|e| PluginError::Unavailable(e.to_string()))?;
        }
        let mut local = local.into_std().await;
        std::io::Seek::rewind(&mut local).map_err(|e| PluginError::Unavailable(e.to_string()))?;
        let mut zip = zip::ZipArchive::new(local).map_err(|e| {
            invalid(
                "key",
                format!("{} is not a zip archive: {e}", if archive.is_empty() { "the file" } else { &archive }),
            )
        })?;
        let planned =
            crate::archive::plan(&mut zip, max_entries, max_bytes).map_err(|e| invalid("key", e.to_string()))?;
        let total: u64 = planned.iter().map(|p| p.size).sum();
        self.within_quota(Adds::BlobBytes(total)).await?;
        let tree_key = format!(
            "tenants/{}/plugins/{}/trees/{}",
            self.inv.tenant_id,
            self.plugin.manifest.id,
            crate::domain::new_id()
        );
        // Inflated on a blocking thread, each file streamed into the store as it comes.
        let handle = tokio::runtime::Handle::current();
        let (store, prefix, list) = (blobs.clone(), tree_key.clone(), planned.clone());
        let written = tokio::task::spawn_blocking(move || {
            let mut written: Vec<String> = Vec::new();
            let mut open: Option<crate::blobs::BlobWriter> = None;
            let outcome = crate::archive::extract(&mut zip, &list, |p, chunk| {
                let fail = |e: crate::blobs::BlobError| crate::archive::ArchiveError::Store(e.to_string());
                match chunk {
                    Some(bytes) => {
                        if open.is_none() {
                            let key = format!("{prefix}/{}", p.path);
                            open = Some(handle.block_on(store.writer(&key)).map_err(fail)?);
                            written.push(key);
                        }
                        let w = open.as_mut().expect("opened above");
                        handle.block_on(w.write(bytes::Bytes::copy_from_slice(bytes))).map_err(fail)
                    }
                    None => {
                        let key = format!("{prefix}/{}", p.path);
                        match open.take() {
                            Some(w) => handle.block_on(w.finish()).map_err(fail),
                            // An empty file.
                            None => {
                                written.push(key.clone());
                                handle.block_on(store.put(&key, Vec::new())).map_err(fail)
                            }
                        }
                    }
                }
            });
            if let Some(w) = open.take() {
                handle.block_on(w.abort());
            }
            (written, outcome)
        })
        .await
        .map_err(|e| PluginError::Unavailable(e.to_string()))?;
        let (written, outcome) = written;
        if let Err(e) = outcome {
            // Nothing of a refused archive is kept, whatever the call does next.
            super::super::state::drop_blobs(&blobs, written).await;
            return Err(match e {
                crate::archive::ArchiveError::Refused(m) => invalid("key", m),
                crate::archive::ArchiveError::Store(m) => PluginError::Unavailable(m),
            });
        }
        // The files follow the invocation: removed if it does not commit.
        self.new_blobs.extend(written);
        let row = BlobRow {
            key: tree_key.clone(),
            size: total,
            sha256: String::new(),
            content_type: TREE_TYPE.into(),
            filename: archive,
        };
        let (tenant, plugin, now) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone(), self.inv.now_ms);
        let tx = self.tx().await?;
        plugin_usage::record_blob(tx, &tenant, &plugin, &row, now).await.map_err(|e| self.write_error(e))?;
        let entries = planned
            .into_iter()
            .map(|p| TreeEntry {
                content_type: crate::archive::content_type_by_name(&p.path).into(),
                path: p.path,
                size: p.size,
            })
            .collect();
        Ok(Tree { key: tree_key, entries, size: total })
    }

    async fn tree_url(&mut self, key: String, ttl_seconds: u32) -> Result<String, PluginError> {
        match self.own_file(&key).await? {
            Some(row) if row.content_type == TREE_TYPE => {}
            _ => return Err(PluginError::NotFound("no such tree".into())),
        }
        if ttl_seconds == 0 || ttl_seconds > MAX_TTL_SECONDS {
            return Err(invalid("ttl-seconds", "give 1 second to a day"));
        }
        let ticket = Ticket {
            tenant: self.inv.tenant_id.clone(),
            key,
            expires: self.inv.now_ms + i64::from(ttl_seconds) * 1000,
            inline: true,
            filename: String::new(),
            user: None,
        };
        Ok(format!("/files/tree/{}/", self.shared.file_links.sign(&ticket)))
    }
}

impl HostState {
    /// The size of a file the plugin holds: a kept file, or one inside one of its trees.
    async fn file_size(&mut self, key: &str) -> Result<u64, PluginError> {
        match self.own_file(key).await? {
            Some(row) if row.content_type != TREE_TYPE => Ok(row.size),
            Some(_) => Err(invalid("key", "a tree is read file by file: key/path")),
            None => self.tree_file_size(key).await?.ok_or_else(|| PluginError::NotFound("no such file".into())),
        }
    }

    /// The size of `key` when it names a file inside one of the plugin's trees (`{tree}/{path}`).
    async fn tree_file_size(&mut self, key: &str) -> Result<Option<u64>, PluginError> {
        let Some((tree, path)) = split_tree_key(key) else { return Ok(None) };
        if crate::archive::clean_path(path).is_none() {
            return Ok(None);
        }
        match self.own_file(tree).await? {
            Some(row) if row.content_type == TREE_TYPE => {}
            _ => return Ok(None),
        }
        let blobs = self.shared.blobs.clone();
        Ok(blobs.head(key).await.map_err(|e| PluginError::Unavailable(e.to_string()))?.map(|(size, _)| size))
    }
}
