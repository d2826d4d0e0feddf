//! Tenants: the one table looked up without a tenant scope (to resolve the tenant itself).

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Db, Result, TenantScope, optional};
use crate::domain::{Branding, Tenant, new_id, now_millis};

/// What it takes to create a tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub domain: Option<String>,
}

const COLUMNS: &str = "id, slug, name, domain, theme, portal_name, primary_color, accent_color, logo_key, \
                       favicon_key, custom_css, timezone, updated_at";

fn tenant_from_row(r: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: r.try_get("id")?,
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        domain: r.try_get("domain")?,
        theme: r.try_get("theme")?,
        branding: Branding {
            portal_name: r.try_get("portal_name")?,
            primary_color: r.try_get("primary_color")?,
            accent_color: r.try_get("accent_color")?,
            logo_key: r.try_get("logo_key")?,
            favicon_key: r.try_get("favicon_key")?,
            custom_css: r.try_get("custom_css")?,
        },
        timezone: r.try_get("timezone")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Db {
    pub async fn create_tenant(&self, t: &NewTenant) -> Result<Tenant> {
        let id = new_id();
        let now = now_millis();
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, domain, portal_name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(&t.slug)
        .bind(&t.name)
        .bind(&t.domain)
        .bind(&t.name)
        .bind(now)
        .execute(self.pool())
        .await?;
        self.tenant_by_id(&id).await?.ok_or(super::StorageError::NotFound)
    }

    /// Deletes a tenant and everything it owns, in one transaction: the tables that carry `tenant_id` without a
    /// foreign key first, then the tenant, which cascades to the rest. Its blobs stay in the blob store.
    pub async fn delete_tenant(&self, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if self.backend() == super::Backend::Sqlite {
            // The FTS5 table has no tenant column to cascade from.
            sqlx::query(
                "DELETE FROM search_fts WHERE rowid IN (SELECT fts_rowid FROM search_docs WHERE tenant_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        for table in
            ["plugin_index", "plugin_unique", "plugin_records", "event_deliveries", "schedule_ticks", "login_failures"]
        {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE tenant_id = $1")))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM tenants WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn tenant_by_id(&self, id: &str) -> Result<Option<Tenant>> {
        let q = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
        optional(sqlx::query(AssertSqlSafe(q)).bind(id).fetch_one(self.pool()).await)?
            .map(|r| tenant_from_row(&r))
            .transpose()
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        let q = format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1");
        optional(sqlx::query(AssertSqlSafe(q)).bind(slug).fetch_one(self.pool()).await)?
            .map(|r| tenant_from_row(&r))
            .transpose()
    }

    pub async fn tenant_by_domain(&self, domain: &str) -> Result<Option<Tenant>> {
        let q = format!("SELECT {COLUMNS} FROM tenants WHERE domain = $1");
        optional(sqlx::query(AssertSqlSafe(q)).bind(domain).fetch_one(self.pool()).await)?
            .map(|r| tenant_from_row(&r))
            .transpose()
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let q = format!("SELECT {COLUMNS} FROM tenants ORDER BY slug");
        sqlx::query(AssertSqlSafe(q)).fetch_all(self.pool()).await?.iter().map(tenant_from_row).collect()
    }
}

impl TenantScope<'_> {
    /// Saves branding and theme; the caller has validated colours and theme name.
    pub async fn update_branding(&self, theme: &str, b: &Branding) -> Result<()> {
        sqlx::query(
            "UPDATE tenants SET theme = $2, portal_name = $3, primary_color = $4, accent_color = $5, \
             logo_key = $6, favicon_key = $7, custom_css = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(self.tenant_id)
        .bind(theme)
        .bind(&b.portal_name)
        .bind(&b.primary_color)
        .bind(&b.accent_color)
        .bind(&b.logo_key)
        .bind(&b.favicon_key)
        .bind(&b.custom_css)
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets the tenant's time zone (IANA name; empty for UTC): the portal's default for viewers, and the one its
    /// channel figures count days in (figures already counted keep their days).
    pub async fn set_timezone(&self, timezone: &str) -> Result<()> {
        sqlx::query("UPDATE tenants SET timezone = $2, updated_at = $3 WHERE id = $1")
            .bind(self.tenant_id)
            .bind(timezone)
            .bind(now_millis())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The tenant's template overrides, by template name.
    pub async fn template_overrides(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT name, body FROM tenant_templates WHERE tenant_id = $1 ORDER BY name")
            .bind(self.tenant_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok((r.try_get("name")?, r.try_get("body")?))).collect()
    }

    /// Sets (or with `None` removes) one template override, and bumps the tenant so renderers reload.
    pub async fn set_template_override(&self, name: &str, body: Option<&str>) -> Result<()> {
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        match body {
            Some(body) => {
                sqlx::query(
                    "INSERT INTO tenant_templates (tenant_id, name, body, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant_id, name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                )
                .bind(self.tenant_id)
                .bind(name)
                .bind(body)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM tenant_templates WHERE tenant_id = $1 AND name = $2")
                    .bind(self.tenant_id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("UPDATE tenants SET updated_at = $2 WHERE id = $1")
            .bind(self.tenant_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
