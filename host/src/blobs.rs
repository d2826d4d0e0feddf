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
    /// `AWS_REGION`, `AWS_ENDPOINT` for a non-AWS endpoint, `AWS_ALLOW_HTTP=true` for a plain-HTTP one.
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| BlobError::Url(format!("blob_url must start with s3:// (got {url})")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BlobError::Url("blob_url names no bucket".into()));
        }
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| BlobError::Url(e.to_string()))?;
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
