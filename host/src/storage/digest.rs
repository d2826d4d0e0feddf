//! The weekly digest at rest: who opted out (`users.digest_opt_out`), who is due this week, and the claim on a
//! (person, week) in `digest_sends` that makes each digest go out once across replicas.

use sqlx::Row;

use super::{Db, Result, StorageError, TenantScope, optional};
use crate::domain::{Millis, Role};

/// A person the digest goes to.
#[derive(Debug, Clone)]
pub struct DigestRecipient {
    pub user_id: String,
    pub org_id: String,
    pub org_name: String,
    pub email: String,
    pub name: String,
    pub role: Role,
}

impl TenantScope<'_> {
    /// Active partner admins and channel managers who have not opted out and whose digest of `week` has not been
    /// claimed, by email.
    pub async fn digest_recipients(&self, week: i64) -> Result<Vec<DigestRecipient>> {
        let rows = sqlx::query(
            "SELECT u.id, u.org_id, o.name AS org_name, u.email, u.name, u.role FROM users u \
             JOIN orgs o ON o.id = u.org_id AND o.tenant_id = u.tenant_id \
             WHERE u.tenant_id = $1 AND u.status = 'active' AND u.role IN ('partner_admin', 'channel_manager') \
             AND u.digest_opt_out = 0 AND NOT EXISTS (SELECT 1 FROM digest_sends d \
               WHERE d.tenant_id = u.tenant_id AND d.user_id = u.id AND d.week = $2) \
             ORDER BY u.email",
        )
        .bind(self.tenant_id)
        .bind(week)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok(DigestRecipient {
                    user_id: r.try_get("id")?,
                    org_id: r.try_get("org_id")?,
                    org_name: r.try_get("org_name")?,
                    email: r.try_get("email")?,
                    name: r.try_get("name")?,
                    role: Role::parse(&role).ok_or_else(|| StorageError::Conflict(format!("bad role {role}")))?,
                })
            })
            .collect()
    }

    /// Claims `user_id`'s digest of `week`: true for the one caller that recorded it, false when it was already
    /// claimed (by this replica or another).
    pub async fn claim_digest(&self, user_id: &str, week: i64, now: Millis) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO digest_sends (tenant_id, user_id, week, sent_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant_id)
        .bind(user_id)
        .bind(week)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }

    /// Whether a user turned the digest off (false for a user that does not exist).
    pub async fn digest_opted_out(&self, user_id: &str) -> Result<bool> {
        let flag: Option<i64> = optional(
            sqlx::query_scalar("SELECT digest_opt_out FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(self.tenant_id)
                .bind(user_id)
                .fetch_one(self.pool())
                .await,
        )?;
        Ok(flag.unwrap_or(0) != 0)
    }

    /// Turns a user's digest off (`opt_out`) or back on.
    pub async fn set_digest_opt_out(&self, user_id: &str, opt_out: bool) -> Result<()> {
        sqlx::query("UPDATE users SET digest_opt_out = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant_id)
            .bind(user_id)
            .bind(i64::from(opt_out))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

impl Db {
    /// A host-wide setting, if it has been set.
    pub async fn host_setting(&self, key: &str) -> Result<Option<String>> {
        optional(
            sqlx::query_scalar("SELECT value FROM host_settings WHERE key = $1").bind(key).fetch_one(self.pool()).await,
        )
    }
}
