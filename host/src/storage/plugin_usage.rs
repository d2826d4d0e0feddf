//! What a plugin holds in a tenant, against its quotas (records, index rows, files, undelivered events, recent
//! emails), and the rows of the files plugins store, which make those files follow their invocation's transaction.

use sqlx::{AnyConnection, Row};

use super::{Db, Result};
use crate::domain::Millis;

/// One plugin's use of one tenant's resources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PluginUsage {
    pub records: u64,
    pub index_rows: u64,
    pub blob_bytes: u64,
    /// Deliveries of its events still pending.
    pub outbox: u64,
    pub emails_last_hour: u64,
}

impl Db {
    /// Counts what plugin `plugin_id` holds in tenant `tenant_id` now.
    pub async fn plugin_usage(&self, tenant_id: &str, plugin_id: &str, now: Millis) -> Result<PluginUsage> {
        let count = |sql: &'static str| async move {
            let n: i64 = sqlx::query_scalar(sql).bind(tenant_id).bind(plugin_id).fetch_one(self.pool()).await?;
            Ok::<u64, super::StorageError>(n.max(0) as u64)
        };
        let records = count("SELECT COUNT(*) FROM plugin_records WHERE tenant_id = $1 AND plugin_id = $2").await?;
        let index_rows = count("SELECT COUNT(*) FROM plugin_index WHERE tenant_id = $1 AND plugin_id = $2").await?;
        let blob_bytes = count(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM plugin_blobs WHERE tenant_id = $1 AND plugin_id = $2",
        )
        .await?;
        let outbox = count(
            "SELECT COUNT(*) FROM event_deliveries d JOIN events e ON e.id = d.event_id \
             WHERE e.tenant_id = $1 AND e.source = $2 AND d.status = 'pending'",
        )
        .await?;
        let emails: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND plugin_id = $2 AND email = 1 AND created_at > $3",
        )
        .bind(tenant_id)
        .bind(plugin_id)
        .bind(now - 3_600_000)
        .fetch_one(self.pool())
        .await?;
        Ok(PluginUsage { records, index_rows, blob_bytes, outbox, emails_last_hour: emails.max(0) as u64 })
    }

    /// Which of these plugin file keys have a row (files whose invocation committed).
    pub async fn known_blobs(&self, keys: &[String]) -> Result<std::collections::HashSet<String>> {
        let mut known = std::collections::HashSet::new();
        for chunk in keys.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT blob_key FROM plugin_blobs WHERE blob_key IN ({})", placeholders.join(", "));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for k in chunk {
                q = q.bind(k);
            }
            for row in q.fetch_all(self.pool()).await? {
                known.insert(row.try_get::<String, _>("blob_key")?);
            }
        }
        Ok(known)
    }
}

/// A file a plugin holds: its key, size, the SHA-256 and type of its content, and the name it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
    pub filename: String,
}

const BLOB_COLUMNS: &str = "blob_key, plugin_id, size, sha256, content_type, filename";

fn blob_from_row(r: &sqlx::any::AnyRow) -> Result<BlobRow> {
    Ok(BlobRow {
        key: r.try_get("blob_key")?,
        size: r.try_get::<i64, _>("size")?.max(0) as u64,
        sha256: r.try_get("sha256")?,
        content_type: r.try_get("content_type")?,
        filename: r.try_get("filename")?,
    })
}

impl Db {
    /// A plugin file of tenant `tenant_id` by key, with the plugin that holds it (for the download route, which
    /// has a signed ticket instead of a plugin call).
    pub async fn plugin_blob(&self, tenant_id: &str, key: &str) -> Result<Option<(String, BlobRow)>> {
        let sql = format!("SELECT {BLOB_COLUMNS} FROM plugin_blobs WHERE blob_key = $1 AND tenant_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(key).bind(tenant_id).fetch_optional(self.pool()).await?;
        row.map(|r| Ok((r.try_get("plugin_id")?, blob_from_row(&r)?))).transpose()
    }
}

/// A file plugin `plugin_id` holds, read in its invocation's transaction (so it sees the call's own files).
pub async fn blob_row(
    conn: &mut AnyConnection,
    tenant_id: &str,
    plugin_id: &str,
    key: &str,
) -> Result<Option<BlobRow>> {
    let sql =
        format!("SELECT {BLOB_COLUMNS} FROM plugin_blobs WHERE blob_key = $1 AND tenant_id = $2 AND plugin_id = $3");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .bind(tenant_id)
        .bind(plugin_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(blob_from_row).transpose()
}

/// Records a file a plugin stored, in its invocation's transaction.
pub async fn record_blob(
    conn: &mut AnyConnection,
    tenant_id: &str,
    plugin_id: &str,
    row: &BlobRow,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO plugin_blobs (blob_key, tenant_id, plugin_id, size, created_at, sha256, content_type, filename) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.key)
    .bind(tenant_id)
    .bind(plugin_id)
    .bind(row.size as i64)
    .bind(now)
    .bind(&row.sha256)
    .bind(&row.content_type)
    .bind(&row.filename)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets a file a plugin deletes, in its invocation's transaction; its size, if it was known.
pub async fn forget_blob(conn: &mut AnyConnection, tenant_id: &str, plugin_id: &str, key: &str) -> Result<Option<u64>> {
    let size: Option<i64> =
        sqlx::query_scalar("SELECT size FROM plugin_blobs WHERE blob_key = $1 AND tenant_id = $2 AND plugin_id = $3")
            .bind(key)
            .bind(tenant_id)
            .bind(plugin_id)
            .fetch_optional(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM plugin_blobs WHERE blob_key = $1 AND tenant_id = $2 AND plugin_id = $3")
        .bind(key)
        .bind(tenant_id)
        .bind(plugin_id)
        .execute(&mut *conn)
        .await?;
    Ok(size.map(|s| s.max(0) as u64))
}
