//! The audit log: who changed what, per tenant.

use sqlx::{AssertSqlSafe, Row};

use super::{Result, TenantScope};
use crate::domain::{ListQuery, Millis, Page, new_id, now_millis};

/// One audit entry, with the actor's email resolved for display.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub actor: Option<String>,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub at: Millis,
}

impl TenantScope<'_> {
    pub async fn audit(&self, actor_id: Option<&str>, action: &str, subject: &str, detail: &str) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (id, tenant_id, actor_id, action, subject, detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(new_id())
            .bind(self.tenant_id)
            .bind(actor_id)
            .bind(action)
            .bind(subject)
            .bind(detail)
            .bind(now_millis())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether the log holds an entry with this action (a marker such as `demo.seeded`).
    pub async fn has_audit(&self, action: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND action = $2")
            .bind(self.tenant_id)
            .bind(action)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    pub async fn list_audit(&self, lq: &ListQuery) -> Result<Page<AuditEntry>> {
        let pattern = lq.like_pattern();
        let filter =
            "a.tenant_id = $1 AND (LOWER(a.action) LIKE $2 ESCAPE '\\' OR LOWER(a.subject) LIKE $2 ESCAPE '\\')";
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM audit_log a WHERE {filter}")))
            .bind(self.tenant_id)
            .bind(&pattern)
            .fetch_one(self.pool())
            .await?;
        let q = format!(
            "SELECT u.email AS actor, a.action, a.subject, a.detail, a.at FROM audit_log a \
             LEFT JOIN users u ON u.id = a.actor_id WHERE {filter} ORDER BY a.at DESC, a.id DESC LIMIT $3 OFFSET $4"
        );
        let items = sqlx::query(AssertSqlSafe(q))
            .bind(self.tenant_id)
            .bind(&pattern)
            .bind(ListQuery::PER_PAGE)
            .bind(lq.offset())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    subject: r.try_get("subject")?,
                    detail: r.try_get("detail")?,
                    at: r.try_get("at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Page { items, total, page: lq.page(), per_page: ListQuery::PER_PAGE })
    }
}
