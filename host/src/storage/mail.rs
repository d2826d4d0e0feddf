//! The record of every mail the host sent or kept, listed for vendor admins.

use sqlx::{AssertSqlSafe, Row};

use super::{Result, TenantScope};
use crate::domain::{ListQuery, Millis, Page, new_id, now_millis};

/// One mail as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MailRecord {
    pub id: String,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    /// `kept` (no SMTP configured), `sent` or `failed`.
    pub status: String,
    pub error: String,
    pub created_at: Millis,
}

impl TenantScope<'_> {
    pub async fn record_mail(&self, to: &str, subject: &str, body: &str, status: &str, error: &str) -> Result<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO mail (id, tenant_id, to_addr, subject, body, status, error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(self.tenant_id)
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(status)
        .bind(error)
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    /// Newest first, searched by recipient or subject.
    pub async fn list_mail(&self, lq: &ListQuery) -> Result<Page<MailRecord>> {
        let pattern = lq.like_pattern();
        let filter = "tenant_id = $1 AND (LOWER(to_addr) LIKE $2 ESCAPE '\\' OR LOWER(subject) LIKE $2 ESCAPE '\\')";
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM mail WHERE {filter}")))
            .bind(self.tenant_id)
            .bind(&pattern)
            .fetch_one(self.pool())
            .await?;
        let q = format!(
            "SELECT id, to_addr, subject, body, status, error, created_at FROM mail WHERE {filter} \
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
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
                Ok(MailRecord {
                    id: r.try_get("id")?,
                    to_addr: r.try_get("to_addr")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    status: r.try_get("status")?,
                    error: r.try_get("error")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Page { items, total, page: lq.page(), per_page: ListQuery::PER_PAGE })
    }
}
