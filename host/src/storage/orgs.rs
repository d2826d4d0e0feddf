//! Organisations: the vendor org and partner orgs of a tenant.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Result, StorageError, TenantScope, optional};
use crate::domain::{ListQuery, Org, OrgKind, OrgProfile, Page, new_id, now_millis};

const COLUMNS: &str = "id, kind, name, website, address, phone, contact_email, logo_key, created_at";

fn org_from_row(r: &AnyRow) -> Result<Org> {
    let kind: String = r.try_get("kind")?;
    Ok(Org {
        id: r.try_get("id")?,
        kind: OrgKind::parse(&kind).ok_or_else(|| StorageError::Conflict(format!("bad org kind {kind}")))?,
        name: r.try_get("name")?,
        website: r.try_get("website")?,
        address: r.try_get("address")?,
        phone: r.try_get("phone")?,
        contact_email: r.try_get("contact_email")?,
        logo_key: r.try_get("logo_key")?,
        created_at: r.try_get("created_at")?,
    })
}

impl TenantScope<'_> {
    pub async fn create_org(&self, kind: OrgKind, p: &OrgProfile) -> Result<Org> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO orgs (id, tenant_id, kind, name, website, address, phone, contact_email, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(self.tenant_id)
        .bind(kind.as_str())
        .bind(p.name.trim())
        .bind(p.website.trim())
        .bind(p.address.trim())
        .bind(p.phone.trim())
        .bind(p.contact_email.trim())
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        self.org(&id).await?.ok_or(StorageError::NotFound)
    }

    pub async fn org(&self, id: &str) -> Result<Option<Org>> {
        let q = format!("SELECT {COLUMNS} FROM orgs WHERE tenant_id = $1 AND id = $2");
        optional(sqlx::query(AssertSqlSafe(q)).bind(self.tenant_id).bind(id).fetch_one(self.pool()).await)?
            .map(|r| org_from_row(&r))
            .transpose()
    }

    /// The tenant's own (vendor) organisation.
    pub async fn vendor_org(&self) -> Result<Option<Org>> {
        let q = format!("SELECT {COLUMNS} FROM orgs WHERE tenant_id = $1 AND kind = 'vendor' ORDER BY created_at");
        optional(sqlx::query(AssertSqlSafe(q)).bind(self.tenant_id).fetch_one(self.pool()).await)?
            .map(|r| org_from_row(&r))
            .transpose()
    }

    /// Partner orgs, searched by name, one page at a time.
    pub async fn list_partner_orgs(&self, lq: &ListQuery) -> Result<Page<Org>> {
        self.list_partner_orgs_in(lq, None).await
    }

    /// Every partner org, by name, optionally only those enrolled in one program: for a plugin's directory listing,
    /// which reads them in one query rather than page by page.
    pub async fn all_partner_orgs(&self, program_id: Option<&str>) -> Result<Vec<Org>> {
        let q = format!(
            "SELECT {COLUMNS} FROM orgs WHERE tenant_id = $1 AND kind = 'partner' AND ($2 = '' OR id IN \
             (SELECT org_id FROM enrolments WHERE tenant_id = $1 AND program_id = $2)) ORDER BY name"
        );
        sqlx::query(AssertSqlSafe(q))
            .bind(self.tenant_id)
            .bind(program_id.unwrap_or(""))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(org_from_row)
            .collect()
    }

    /// Partner orgs, searched by name, optionally only those enrolled in one program, one page at a time.
    pub async fn list_partner_orgs_in(&self, lq: &ListQuery, program_id: Option<&str>) -> Result<Page<Org>> {
        let pattern = lq.like_pattern();
        // `$3` is the program, or '' for every org.
        let filter = "tenant_id = $1 AND kind = 'partner' AND LOWER(name) LIKE $2 ESCAPE '\\' AND ($3 = '' OR id IN \
             (SELECT org_id FROM enrolments WHERE tenant_id = $1 AND program_id = $3))";
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM orgs WHERE {filter}")))
            .bind(self.tenant_id)
            .bind(&pattern)
            .bind(program_id.unwrap_or(""))
            .fetch_one(self.pool())
            .await?;
        let q = format!("SELECT {COLUMNS} FROM orgs WHERE {filter} ORDER BY name LIMIT $4 OFFSET $5");
        let items = sqlx::query(AssertSqlSafe(q))
            .bind(self.tenant_id)
            .bind(&pattern)
            .bind(program_id.unwrap_or(""))
            .bind(ListQuery::PER_PAGE)
            .bind(lq.offset())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(org_from_row)
            .collect::<Result<_>>()?;
        Ok(Page { items, total, page: lq.page(), per_page: ListQuery::PER_PAGE })
    }

    pub async fn update_org_profile(&self, id: &str, p: &OrgProfile) -> Result<()> {
        let done = sqlx::query(
            "UPDATE orgs SET name = $3, website = $4, address = $5, phone = $6, contact_email = $7 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant_id)
        .bind(id)
        .bind(p.name.trim())
        .bind(p.website.trim())
        .bind(p.address.trim())
        .bind(p.phone.trim())
        .bind(p.contact_email.trim())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    pub async fn set_org_logo(&self, id: &str, logo_key: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE orgs SET logo_key = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant_id)
            .bind(id)
            .bind(logo_key)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
