//! Plugin secrets as stored: sealed text (`crate::secrets` seals and opens it; nothing here sees a value in the
//! clear), with when each was last set. Vendor admins set them; a plugin may write those its manifest declares
//! writable, inside its invocation's transaction.

use sqlx::{AnyConnection, Row};

use super::{Db, Result, TenantScope, optional};
use crate::domain::{Millis, now_millis};

/// A secret's name and when it was set, never its value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecretInfo {
    pub name: String,
    pub updated_at: Millis,
}

/// One stored secret, for re-sealing under a new key.
#[derive(Debug, Clone)]
pub struct SealedSecret {
    pub tenant_id: String,
    pub plugin_id: String,
    pub name: String,
    pub sealed: String,
}

impl TenantScope<'_> {
    /// A plugin's secret as sealed, if set.
    pub async fn plugin_secret(&self, plugin_id: &str, name: &str) -> Result<Option<String>> {
        optional(
            sqlx::query_scalar(
                "SELECT value FROM plugin_secrets WHERE tenant_id = $1 AND plugin_id = $2 AND name = $3",
            )
            .bind(self.tenant_id)
            .bind(plugin_id)
            .bind(name)
            .fetch_one(self.pool())
            .await,
        )
    }

    /// Stores a sealed secret (replacing any).
    pub async fn set_plugin_secret(&self, plugin_id: &str, name: &str, sealed: &str) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        set_secret_in(&mut conn, self.tenant_id, plugin_id, name, sealed, now_millis()).await
    }

    /// Removes a secret; true when it was set.
    pub async fn clear_plugin_secret(&self, plugin_id: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM plugin_secrets WHERE tenant_id = $1 AND plugin_id = $2 AND name = $3")
            .bind(self.tenant_id)
            .bind(plugin_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The names of a plugin's secrets that are set, with when.
    pub async fn plugin_secret_names(&self, plugin_id: &str) -> Result<Vec<SecretInfo>> {
        let rows = sqlx::query(
            "SELECT name, updated_at FROM plugin_secrets WHERE tenant_id = $1 AND plugin_id = $2 ORDER BY name",
        )
        .bind(self.tenant_id)
        .bind(plugin_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(SecretInfo { name: r.try_get("name")?, updated_at: r.try_get("updated_at")? })).collect()
    }
}

impl Db {
    /// Every stored secret of every tenant, sealed: for re-sealing them under a new key.
    pub async fn all_plugin_secrets(&self) -> Result<Vec<SealedSecret>> {
        let rows =
            sqlx::query("SELECT tenant_id, plugin_id, name, value FROM plugin_secrets").fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(SealedSecret {
                    tenant_id: r.try_get("tenant_id")?,
                    plugin_id: r.try_get("plugin_id")?,
                    name: r.try_get("name")?,
                    sealed: r.try_get("value")?,
                })
            })
            .collect()
    }

    /// Replaces a secret's sealed value if it is still `was` (a concurrent write wins); true when replaced.
    pub async fn reseal_plugin_secret(&self, s: &SealedSecret, now_sealed: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE plugin_secrets SET value = $1 WHERE tenant_id = $2 AND plugin_id = $3 AND name = $4 AND value = $5",
        )
        .bind(now_sealed)
        .bind(&s.tenant_id)
        .bind(&s.plugin_id)
        .bind(&s.name)
        .bind(&s.sealed)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Stores a sealed secret on the caller's connection (a plugin's transaction).
pub async fn set_secret_in(
    conn: &mut AnyConnection,
    tenant_id: &str,
    plugin_id: &str,
    name: &str,
    sealed: &str,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO plugin_secrets (tenant_id, plugin_id, name, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, plugin_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(tenant_id)
    .bind(plugin_id)
    .bind(name)
    .bind(sealed)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
