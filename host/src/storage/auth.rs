//! Credentials: browser sessions, API tokens, single-use invitation and reset tokens, and login throttling.
//! Only hashes of secrets are stored; the secrets themselves exist only in the user's hands.

use sqlx::Row;

use super::{Result, StorageError, TenantScope, optional, users::set_password_in};
use crate::domain::{Millis, new_id, now_millis};

/// A live session, found by the hash of its cookie value.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub tenant_id: String,
    pub user_id: String,
    pub expires_at: Millis,
}

/// An API token as listed to its owner (never the secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

/// What a single-use token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthTokenPurpose {
    Invite,
    Reset,
}

impl AuthTokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            AuthTokenPurpose::Invite => "invite",
            AuthTokenPurpose::Reset => "reset",
        }
    }
}

/// The throttle state for one key after a failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleState {
    /// Until when further attempts are refused (0 when not locked).
    pub locked_until: Millis,
}

impl super::Db {
    /// Finds a session by the hash of its token, if it has not expired.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        let r = optional(
            sqlx::query(
                "SELECT tenant_id, user_id, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(token_hash)
            .bind(now_millis())
            .fetch_one(self.pool())
            .await,
        )?;
        r.map(|r| {
            Ok(SessionRow {
                tenant_id: r.try_get("tenant_id")?,
                user_id: r.try_get("user_id")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(self.pool()).await?;
        Ok(())
    }

    /// Removes expired sessions and single-use tokens; run periodically.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = now_millis();
        let a = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(self.pool()).await?;
        let b = sqlx::query("DELETE FROM auth_tokens WHERE expires_at <= $1").bind(now).execute(self.pool()).await?;
        Ok(a.rows_affected() + b.rows_affected())
    }
}

impl TenantScope<'_> {
    pub async fn create_session(&self, token_hash: &str, user_id: &str, expires_at: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, tenant_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(self.tenant_id)
        .bind(user_id)
        .bind(now_millis())
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn create_api_token(&self, user_id: &str, name: &str, token_hash: &str) -> Result<ApiToken> {
        let t = ApiToken {
            id: new_id(),
            name: name.to_string(),
            created_at: now_millis(),
            last_used_at: None,
            revoked_at: None,
        };
        sqlx::query("INSERT INTO api_tokens (id, tenant_id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&t.id)
            .bind(self.tenant_id)
            .bind(user_id)
            .bind(&t.name)
            .bind(token_hash)
            .bind(t.created_at)
            .execute(self.pool())
            .await?;
        Ok(t)
    }

    /// The user an unrevoked API token belongs to; records its use.
    pub async fn api_token_user(&self, token_hash: &str) -> Result<Option<String>> {
        let row: Option<(String, Option<Millis>)> = optional(
            sqlx::query_as(
                "SELECT user_id, last_used_at FROM api_tokens \
                 WHERE tenant_id = $1 AND token_hash = $2 AND revoked_at IS NULL",
            )
            .bind(self.tenant_id)
            .bind(token_hash)
            .fetch_one(self.pool())
            .await,
        )?;
        let Some((user, last_used_at)) = row else { return Ok(None) };
        // Recorded at most once a minute per token, so API traffic is not a stream of writes: the statement runs
        // only when the use is due (on SQLite even an UPDATE that changes nothing takes the write lock), and only
        // once per process for a burst of calls that all found it due — each would otherwise hold a connection
        // while waiting for SQLite's write lock, which the pool's other users then lack.
        let now = now_millis();
        if last_used_at.is_none_or(|at| at < now - 60_000) && token_use_due(self.tenant_id, token_hash, now) {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $3 WHERE tenant_id = $1 AND token_hash = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $4)",
            )
            .bind(self.tenant_id)
            .bind(token_hash)
            .bind(now)
            .bind(now - 60_000)
            .execute(self.pool())
            .await?;
        }
        Ok(Some(user))
    }

    pub async fn list_api_tokens(&self, user_id: &str) -> Result<Vec<ApiToken>> {
        sqlx::query(
            "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens \
             WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC",
        )
        .bind(self.tenant_id)
        .bind(user_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(ApiToken {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
                last_used_at: r.try_get("last_used_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect()
    }

    /// Revokes one of `user_id`'s tokens; another user's token is "not found".
    pub async fn revoke_api_token(&self, user_id: &str, token_id: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(self.tenant_id)
        .bind(user_id)
        .bind(token_id)
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// Ends every session and API token of a user (on deactivation).
    pub async fn revoke_all_credentials(&self, user_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2")
            .bind(self.tenant_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(self.tenant_id)
        .bind(user_id)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM auth_tokens WHERE tenant_id = $1 AND user_id = $2")
            .bind(self.tenant_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a single-use token; earlier unused tokens of the same purpose for the user stop working.
    pub async fn create_auth_token(
        &self,
        user_id: &str,
        purpose: AuthTokenPurpose,
        token_hash: &str,
        expires_at: Millis,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM auth_tokens WHERE tenant_id = $1 AND user_id = $2 AND purpose = $3")
            .bind(self.tenant_id)
            .bind(user_id)
            .bind(purpose.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, tenant_id, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(self.tenant_id)
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(now_millis())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user of a valid (unused, unexpired) token, without using it up.
    pub async fn peek_auth_token(&self, purpose: AuthTokenPurpose, token_hash: &str) -> Result<Option<String>> {
        optional(
            sqlx::query_scalar(
                "SELECT user_id FROM auth_tokens WHERE tenant_id = $1 AND token_hash = $2 AND purpose = $3 \
                 AND used_at IS NULL AND expires_at > $4",
            )
            .bind(self.tenant_id)
            .bind(token_hash)
            .bind(purpose.as_str())
            .bind(now_millis())
            .fetch_one(self.pool())
            .await,
        )
    }

    /// Uses up a token and sets the user's password in one transaction. Returns the user id, or
    /// `NotFound` when the token is unknown, used, expired or for another purpose; two concurrent
    /// redemptions cannot both succeed.
    pub async fn redeem_auth_token(
        &self,
        purpose: AuthTokenPurpose,
        token_hash: &str,
        password_hash: &str,
    ) -> Result<String> {
        let mut tx = self.db.begin_write().await?;
        let now = now_millis();
        let user_id: String = sqlx::query_scalar(
            "UPDATE auth_tokens SET used_at = $5 WHERE tenant_id = $1 AND token_hash = $2 AND purpose = $3 \
             AND used_at IS NULL AND expires_at > $4 RETURNING user_id",
        )
        .bind(self.tenant_id)
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        set_password_in(&mut tx, self.tenant_id, &user_id, password_hash).await?;
        tx.commit().await?;
        Ok(user_id)
    }

    /// When `key` is locked out, until when.
    pub async fn throttle_locked_until(&self, key: &str) -> Result<Option<Millis>> {
        let until: Option<i64> = optional(
            sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE tenant_id = $1 AND key = $2")
                .bind(self.tenant_id)
                .bind(key)
                .fetch_one(self.pool())
                .await,
        )?;
        Ok(until.filter(|u| *u > now_millis()))
    }

    /// Counts a failure for `key`; after `max` failures inside `window_ms`, locks it for `window_ms`.
    pub async fn record_login_failure(&self, key: &str, max: i64, window_ms: i64) -> Result<ThrottleState> {
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO login_failures (tenant_id, key, failures, window_started_at, locked_until) VALUES ($1, $2, 1, $3, 0) \
             ON CONFLICT (tenant_id, key) DO UPDATE SET \
               failures = CASE WHEN login_failures.window_started_at <= $4 THEN 1 ELSE login_failures.failures + 1 END, \
               window_started_at = CASE WHEN login_failures.window_started_at <= $4 THEN $3 ELSE login_failures.window_started_at END",
        )
        .bind(self.tenant_id)
        .bind(key)
        .bind(now)
        .bind(now - window_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE login_failures SET locked_until = $4 WHERE tenant_id = $1 AND key = $2 AND failures >= $3 AND locked_until <= $5",
        )
        .bind(self.tenant_id)
        .bind(key)
        .bind(max)
        .bind(now + window_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let locked_until: i64 =
            sqlx::query_scalar("SELECT locked_until FROM login_failures WHERE tenant_id = $1 AND key = $2")
                .bind(self.tenant_id)
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(ThrottleState { locked_until })
    }

    pub async fn clear_login_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE tenant_id = $1 AND key = $2")
            .bind(self.tenant_id)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// Whether this process should record a token's use now: not if it did less than a minute ago. Forgets entries
/// older than a minute once it holds many.
fn token_use_due(tenant_id: &str, token_hash: &str, now: Millis) -> bool {
    static RECORDED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Millis>>> =
        std::sync::LazyLock::new(Default::default);
    let mut recorded = RECORDED.lock().expect("token use lock");
    if recorded.len() > 10_000 {
        recorded.retain(|_, at| *at >= now - 60_000);
    }
    let key = format!("{tenant_id}:{token_hash}");
    match recorded.get(&key) {
        Some(at) if *at >= now - 60_000 => false,
        _ => {
            recorded.insert(key, now);
            true
        }
    }
}
