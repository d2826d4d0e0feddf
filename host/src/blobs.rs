//! The blob store (logos, favicons; later plugin packages and content files): `object_store` over the local
//! filesystem under the data dir, or an S3-compatible store in production.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// A blob store failure.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No space left (or over quota) where blobs are kept: nothing was stored.
    #[error("blob store full: {0}")]
    Full(#[source] object_store::Error),
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    #[error("blob store setup: {0}")]
    Setup(#[from] std::io::Error),
    #[error("blob store setup: {0}")]
    Url(String),
}

/// A file being written in parts; [`BlobWriter::finish`] makes it visible, [`BlobWriter::abort`] leaves nothing.
pub struct BlobWriter {
    inner: object_store::WriteMultipart,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobWriter")
    }
}

impl BlobWriter {
    /// Adds bytes, waiting while two parts are already on their way (back pressure, bounded memory).
    pub async fn write(&mut self, chunk: bytes::Bytes) -> Result<(), BlobError> {
        self.inner.wait_for_capacity(2).await?;
        self.inner.put(chunk);
        Ok(())
    }

    /// Completes the file.
    pub async fn finish(self) -> Result<(), BlobError> {
        self.inner.finish().await.map(|_| ()).map_err(|e| if out_of_space(&e) { BlobError::Full(e) } else { e.into() })
    }

    /// Abandons the file; nothing of it stays.
    pub async fn abort(self) {
        let _ = self.inner.abort().await;
    }
}

/// Keys are `/`-separated paths; callers put tenant-owned blobs under `tenants/{tenant_id}/`.
#[derive(Clone, Debug)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

impl Blobs {
    /// A store on the local filesystem at `dir` (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir)?;
        Ok(Self { store: Arc::new(LocalFileSystem::new_with_prefix(dir)?) })
    }

    /// A store named by URL: `s3://bucket[/prefix]` is an S3-compatible object store (AWS S3, MinIO, Ceph,
    /// Cloudflare R2, …) configured by the standard environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ENDPOINT` for a non-AWS endpoint, `AWS_ALLOW_HTTP=true` for a plain-HTTP one; `options`
    /// (the same settings by the object store's key names, e.g. `aws_endpoint`) override the environment.
    pub fn from_url(url: &str, options: &[(&str, &str)]) -> Result<Self, BlobError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| BlobError::Url(format!("blob_url must start with s3:// (got {url})")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BlobError::Url("blob_url names no bucket".into()));
        }
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in options {
            let key: object_store::aws::AmazonS3ConfigKey =
                key.parse().map_err(|_| BlobError::Url(format!("blob_options: {key} is not an S3 setting")))?;
            builder = builder.with_config(key, *value);
        }
        let s3 = builder.build().map_err(|e| BlobError::Url(e.to_string()))?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> =
            if prefix.is_empty() { Arc::new(s3) } else { Arc::new(object_store::prefix::PrefixStore::new(s3, prefix)) };
        Ok(Self { store })
    }

    /// Stores a blob whole or not at all (the local store writes a staging file and renames it); a full disk
    /// is [`BlobError::Full`].
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        match self.store.put(&ObjectPath::from(key), PutPayload::from(bytes)).await {
            Ok(_) => Ok(()),
            Err(e) if out_of_space(&e) => Err(BlobError::Full(e)),
            Err(e) => Err(e.into()),
        }
    }

    /// The blob's bytes, or `None` when there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => Ok(Some(r.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A file written in parts as it arrives (an S3 multipart upload; a staging file on local disk), so a large
    /// upload never sits in memory: at most a few parts of 8 MiB at a time.
    pub async fn writer(&self, key: &str) -> Result<BlobWriter, BlobError> {
        let upload = self
            .store
            .put_multipart(&ObjectPath::from(key))
            .await
            .map_err(|e| if out_of_space(&e) { BlobError::Full(e) } else { BlobError::Store(e) })?;
        Ok(BlobWriter { inner: object_store::WriteMultipart::new_with_chunk_size(upload, 8 << 20) })
    }

    /// A file's size and entity tag, if it exists.
    pub async fn head(&self, key: &str) -> Result<Option<(u64, Option<String>)>, BlobError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(meta) => Ok(Some((meta.size, meta.e_tag))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Part of a file (`range` of its bytes), as a stream.
    pub async fn read_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Option<futures::stream::BoxStream<'static, Result<bytes::Bytes, BlobError>>>, BlobError> {
        use futures::StreamExt;
        if range.start >= range.end {
            return Ok(Some(futures::stream::empty().boxed()));
        }
        let options =
            object_store::GetOptions { range: Some(object_store::GetRange::Bounded(range)), ..Default::default() };
        match self.store.get_opts(&ObjectPath::from(key), options).await {
            Ok(r) => Ok(Some(r.into_stream().map(|c| c.map_err(BlobError::from)).boxed())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every file under `prefix`, with when it was last written (milliseconds since the epoch).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, i64)>, BlobError> {
        use futures::TryStreamExt;
        let items: Vec<object_store::ObjectMeta> =
            self.store.list(Some(&ObjectPath::from(prefix))).try_collect().await?;
        Ok(items.into_iter().map(|m| (m.location.to_string(), m.last_modified.timestamp_millis())).collect())
    }

    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether a store error comes from a full disk or an exhausted quota (ENOSPC, EDQUOT) anywhere in its causes.
fn out_of_space(e: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::StorageFull || io.kind() == std::io::ErrorKind::QuotaExceeded)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Image formats accepted for logos and favicons, recognised by their first bytes (not the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Ico,
}

impl ImageKind {
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0x89, b'P', b'N', b'G', ..] => Some(ImageKind::Png),
            [0xFF, 0xD8, 0xFF, ..] => Some(ImageKind::Jpeg),
            [b'G', b'I', b'F', b'8', ..] => Some(ImageKind::Gif),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(ImageKind::Webp),
            [0, 0, 1, 0, ..] => Some(ImageKind::Ico),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Gif => "gif",
            ImageKind::Webp => "webp",
            ImageKind::Ico => "ico",
        }
    }

    /// The content type for a stored key, by its extension.
    pub fn content_type_of(key: &str) -> Option<&'static str> {
        Some(match key.rsplit('.').next()? {
            "png" => "image/png",
            "jpg" => "image/jpeg",
            "gif" => "image/gif",
            "webp" => "image/webp",
            "ico" => "image/x-icon",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_content_not_name() {
        assert_eq!(ImageKind::sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageKind::Png));
        assert_eq!(ImageKind::sniff(b"<svg onload=alert(1)>"), None);
        assert_eq!(ImageKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageKind::Webp));
    }

    #[tokio::test]
    async fn local_store_round_trips_and_misses_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::local(dir.path()).unwrap();
        blobs.put("tenants/t/logo.png", b"abc".to_vec()).await.unwrap();
        assert_eq!(blobs.get("tenants/t/logo.png").await.unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(blobs.get("tenants/t/none.png").await.unwrap(), None);
    }
}
