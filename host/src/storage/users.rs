//! Users of a tenant, with their org, role and account state.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Result, StorageError, TenantScope, analytics, optional};
use crate::domain::{ListQuery, Page, Role, User, UserStatus, new_id, now_millis};

/// What it takes to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    /// An argon2id PHC string, or `None` for an invited user who has not chosen a password.
    pub password_hash: Option<String>,
}

const SELECT: &str = "SELECT u.id, u.org_id, o.name AS org_name, u.email, u.name, u.role, u.status, u.timezone, \
     u.created_at, u.last_login_at FROM users u JOIN orgs o ON o.id = u.org_id";

fn user_from_row(r: &AnyRow) -> Result<User> {
    let role: String = r.try_get("role")?;
    let status: String = r.try_get("status")?;
    Ok(User {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        org_name: r.try_get("org_name")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| StorageError::Conflict(format!("bad role {role}")))?,
        status: UserStatus::parse(&status).ok_or_else(|| StorageError::Conflict(format!("bad status {status}")))?,
        timezone: r.try_get("timezone")?,
        created_at: r.try_get("created_at")?,
        last_login_at: r.try_get("last_login_at")?,
    })
}

/// Emails are compared case-insensitively: stored lower-cased and trimmed.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl TenantScope<'_> {
    pub async fn create_user(&self, u: &NewUser) -> Result<User> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO users (id, tenant_id, org_id, email, name, role, status, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(self.tenant_id)
        .bind(&u.org_id)
        .bind(normalize_email(&u.email))
        .bind(u.name.trim())
        .bind(u.role.as_str())
        .bind(u.status.as_str())
        .bind(&u.password_hash)
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        self.user(&id).await?.ok_or(StorageError::NotFound)
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        let q = format!("{SELECT} WHERE u.tenant_id = $1 AND u.id = $2");
        optional(sqlx::query(AssertSqlSafe(q)).bind(self.tenant_id).bind(id).fetch_one(self.pool()).await)?
            .map(|r| user_from_row(&r))
            .transpose()
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let q = format!("{SELECT} WHERE u.tenant_id = $1 AND u.email = $2");
        optional(
            sqlx::query(AssertSqlSafe(q))
                .bind(self.tenant_id)
                .bind(normalize_email(email))
                .fetch_one(self.pool())
                .await,
        )?
        .map(|r| user_from_row(&r))
        .transpose()
    }

    /// The stored password hash of an active user, for sign-in.
    pub async fn password_hash(&self, user_id: &str) -> Result<Option<String>> {
        let h: Option<Option<String>> = optional(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(self.tenant_id)
                .bind(user_id)
                .fetch_one(self.pool())
                .await,
        )?;
        Ok(h.flatten())
    }

    /// Users, optionally of one org, searched by name or email.
    pub async fn list_users(&self, org_id: Option<&str>, lq: &ListQuery) -> Result<Page<User>> {
        let pattern = lq.like_pattern();
        let filter = "u.tenant_id = $1 AND ($2 = '' OR u.org_id = $2) \
                      AND (LOWER(u.name) LIKE $3 ESCAPE '\\' OR u.email LIKE $3 ESCAPE '\\')";
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM users u WHERE {filter}")))
            .bind(self.tenant_id)
            .bind(org_id.unwrap_or(""))
            .bind(&pattern)
            .fetch_one(self.pool())
            .await?;
        let q = format!("{SELECT} WHERE {filter} ORDER BY o.name, u.email LIMIT $4 OFFSET $5");
        let items = sqlx::query(AssertSqlSafe(q))
            .bind(self.tenant_id)
            .bind(org_id.unwrap_or(""))
            .bind(&pattern)
            .bind(ListQuery::PER_PAGE)
            .bind(lq.offset())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(user_from_row)
            .collect::<Result<_>>()?;
        Ok(Page { items, total, page: lq.page(), per_page: ListQuery::PER_PAGE })
    }

    pub async fn set_user_role(&self, id: &str, role: Role) -> Result<()> {
        self.update_user_field(id, "role", role.as_str()).await
    }

    pub async fn set_user_status(&self, id: &str, status: UserStatus) -> Result<()> {
        self.update_user_field(id, "status", status.as_str()).await?;
        if status == UserStatus::Deactivated {
            self.revoke_all_credentials(id).await?;
        }
        Ok(())
    }

    pub async fn update_user_profile(&self, id: &str, name: &str, timezone: &str) -> Result<()> {
        self.update_user_field(id, "name", name.trim()).await?;
        self.update_user_field(id, "timezone", timezone).await
    }

    /// Sets a new password, activates an invited account and ends every session of the user, in one transaction.
    pub async fn set_password(&self, id: &str, password_hash: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        set_password_in(&mut tx, self.tenant_id, id, password_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a sign-in, reported to plugins as `portico.user.signed_in` in the same transaction.
    pub async fn touch_login(&self, user: &User) -> Result<()> {
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE users SET last_login_at = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant_id)
            .bind(&user.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let payload = serde_json::json!({ "user_id": user.id, "org_id": user.org_id, "role": user.role, "at": now });
        super::plugin_events::emit_host(&mut tx, self.tenant_id, "portico.user.signed_in", None, &payload).await?;
        if !user.role.is_vendor() {
            let tz = analytics::tenant_time_zone(&mut tx, self.tenant_id).await?;
            let key = analytics::CountKey {
                metric: crate::analytics::SIGN_INS.into(),
                org_id: Some(user.org_id.clone()),
                unit: String::new(),
            };
            let day = crate::analytics::day_of(now, &tz);
            analytics::add_counts(&mut tx, self.tenant_id, day, &[(key, 1)].into_iter().collect()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that a user was active today (UTC): the first time on a day, true, and reported to plugins as
    /// `portico.user.active` in the same transaction; every later time that day, false and nothing written.
    pub async fn record_daily_activity(&self, user: &User, now: crate::domain::Millis) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let tz = analytics::tenant_time_zone(&mut tx, self.tenant_id).await?;
        let day = crate::analytics::day_of(now, &tz);
        let inserted = sqlx::query(
            "INSERT INTO user_activity (tenant_id, user_id, day) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant_id)
        .bind(&user.id)
        .bind(day)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if inserted {
            let date = crate::analytics::date(day).format("%Y-%m-%d").to_string();
            let payload =
                serde_json::json!({ "user_id": user.id, "org_id": user.org_id, "role": user.role, "day": date });
            super::plugin_events::emit_host(&mut tx, self.tenant_id, "portico.user.active", None, &payload).await?;
            if !user.role.is_vendor() {
                count_monthly_active(&mut tx, self.tenant_id, user, day).await?;
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Counts the active vendor admins, so the last one cannot be demoted or deactivated.
    pub async fn count_active_vendor_admins(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND role = 'vendor_admin' AND status = 'active'",
        )
        .bind(self.tenant_id)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn count_active_partner_admins(&self, org_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND org_id = $2 AND role = 'partner_admin' AND status = 'active'",
        )
        .bind(self.tenant_id)
        .bind(org_id)
        .fetch_one(self.pool())
        .await?)
    }

    async fn update_user_field(&self, id: &str, column: &'static str, value: &str) -> Result<()> {
        let q = format!("UPDATE users SET {column} = $3 WHERE tenant_id = $1 AND id = $2");
        let done = sqlx::query(AssertSqlSafe(q)).bind(self.tenant_id).bind(id).bind(value).execute(self.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }
}

pub(super) async fn set_password_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant_id: &str,
    user_id: &str,
    password_hash: &str,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $3, status = CASE WHEN status = 'invited' THEN 'active' ELSE status END \
         WHERE tenant_id = $1 AND id = $2 AND status <> 'deactivated'",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(password_hash)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound);
    }
    sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Counts a partner user, and its organisation, once in the month of `day` towards the monthly active figures.
async fn count_monthly_active(conn: &mut sqlx::AnyConnection, tenant_id: &str, user: &User, day: i64) -> Result<()> {
    use crate::analytics::{ACTIVE_PARTNERS, ACTIVE_USERS, month_of};
    let month = month_of(day);
    let mut counts = std::collections::BTreeMap::new();
    for (metric, member) in [(ACTIVE_USERS, &user.id), (ACTIVE_PARTNERS, &user.org_id)] {
        if analytics::first_in_period(&mut *conn, tenant_id, metric, month, member).await? {
            let key =
                analytics::CountKey { metric: metric.into(), org_id: Some(user.org_id.clone()), unit: String::new() };
            counts.insert(key, 1);
        }
    }
    analytics::add_counts(conn, tenant_id, day, &counts).await
}
