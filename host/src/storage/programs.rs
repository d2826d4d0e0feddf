//! Programs, their ordered tiers, and partner enrolments.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Result, StorageError, TenantScope};
use crate::domain::{Enrolment, ListQuery, Page, Program, Tier, new_id, now_millis};

fn tier_from_row(r: &AnyRow) -> Result<Tier> {
    Ok(Tier { id: r.try_get("id")?, key: r.try_get("key")?, name: r.try_get("name")?, rank: r.try_get("rank")? })
}

fn enrolment_from_row(r: &AnyRow) -> Result<Enrolment> {
    Ok(Enrolment {
        org_id: r.try_get("org_id")?,
        org_name: r.try_get("org_name")?,
        program_id: r.try_get("program_id")?,
        program_key: r.try_get("program_key")?,
        program_name: r.try_get("program_name")?,
        tier_id: r.try_get("tier_id")?,
        tier_key: r.try_get("tier_key")?,
        tier_name: r.try_get("tier_name")?,
    })
}

const ENROLMENT_SELECT: &str = "SELECT e.org_id, o.name AS org_name, e.program_id, p.key AS program_key, \
     p.name AS program_name, e.tier_id, t.key AS tier_key, t.name AS tier_name \
     FROM enrolments e JOIN orgs o ON o.id = e.org_id JOIN programs p ON p.id = e.program_id \
     JOIN tiers t ON t.id = e.tier_id WHERE e.tier_id = t.id AND e.tenant_id = $1";

impl TenantScope<'_> {
    /// Creates a program with its tiers, lowest first (`(key, name)` pairs).
    pub async fn create_program(
        &self,
        key: &str,
        name: &str,
        description: &str,
        tiers: &[(String, String)],
    ) -> Result<Program> {
        let id = new_id();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO programs (id, tenant_id, key, name, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(self.tenant_id)
        .bind(key)
        .bind(name)
        .bind(description)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        for (rank, (tkey, tname)) in tiers.iter().enumerate() {
            sqlx::query(
                "INSERT INTO tiers (id, tenant_id, program_id, key, name, rank) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new_id())
            .bind(self.tenant_id)
            .bind(&id)
            .bind(tkey)
            .bind(tname)
            .bind(rank as i64 + 1)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.touch().await?;
        self.program(&id).await
    }

    pub async fn program(&self, id: &str) -> Result<Program> {
        let r = sqlx::query("SELECT id, key, name, description FROM programs WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant_id)
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        let tiers = self.tiers(id).await?;
        Ok(Program {
            id: r.try_get("id")?,
            key: r.try_get("key")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            tiers,
        })
    }

    pub async fn program_by_key(&self, key: &str) -> Result<Program> {
        let id: String = sqlx::query_scalar("SELECT id FROM programs WHERE tenant_id = $1 AND key = $2")
            .bind(self.tenant_id)
            .bind(key)
            .fetch_one(self.pool())
            .await?;
        self.program(&id).await
    }

    /// `(key, id)` of every program, by name: the cheap form of [`TenantScope::list_programs`].
    pub async fn program_keys(&self) -> Result<Vec<(String, String)>> {
        sqlx::query("SELECT key, id FROM programs WHERE tenant_id = $1 ORDER BY name")
            .bind(self.tenant_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("id")?)))
            .collect()
    }

    pub async fn list_programs(&self) -> Result<Vec<Program>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM programs WHERE tenant_id = $1 ORDER BY name")
            .bind(self.tenant_id)
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.program(&id).await?);
        }
        Ok(out)
    }

    pub async fn update_program(&self, id: &str, name: &str, description: &str) -> Result<()> {
        let done = sqlx::query("UPDATE programs SET name = $3, description = $4 WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant_id)
            .bind(id)
            .bind(name)
            .bind(description)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        self.touch().await?;
        Ok(())
    }

    /// Tiers of a program, lowest first.
    pub async fn tiers(&self, program_id: &str) -> Result<Vec<Tier>> {
        sqlx::query("SELECT id, key, name, rank FROM tiers WHERE tenant_id = $1 AND program_id = $2 ORDER BY rank")
            .bind(self.tenant_id)
            .bind(program_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(tier_from_row)
            .collect()
    }

    /// Appends a tier above the current highest one.
    pub async fn add_tier(&self, program_id: &str, key: &str, name: &str) -> Result<Tier> {
        let mut tx = self.db.begin_write().await?;
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM programs WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant_id)
            .bind(program_id)
            .fetch_one(&mut *tx)
            .await?;
        if exists == 0 {
            return Err(StorageError::NotFound);
        }
        let top: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(rank), 0) FROM tiers WHERE tenant_id = $1 AND program_id = $2")
                .bind(self.tenant_id)
                .bind(program_id)
                .fetch_one(&mut *tx)
                .await?;
        let tier = Tier { id: new_id(), key: key.to_string(), name: name.to_string(), rank: top + 1 };
        sqlx::query("INSERT INTO tiers (id, tenant_id, program_id, key, name, rank) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&tier.id)
            .bind(self.tenant_id)
            .bind(program_id)
            .bind(&tier.key)
            .bind(&tier.name)
            .bind(tier.rank)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.touch().await?;
        Ok(tier)
    }

    /// Renames a tier. Its key, which URLs, the API and plugin settings use, stays.
    pub async fn rename_tier(&self, program_id: &str, tier_id: &str, name: &str) -> Result<()> {
        let done = sqlx::query("UPDATE tiers SET name = $4 WHERE tenant_id = $1 AND program_id = $2 AND id = $3")
            .bind(self.tenant_id)
            .bind(program_id)
            .bind(tier_id)
            .bind(name)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        self.touch().await
    }

    /// Removes a tier, unless partners are enrolled at it or it is the program's last (both `Conflict`).
    pub async fn remove_tier(&self, program_id: &str, tier_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let tiers: Vec<String> = sqlx::query_scalar("SELECT id FROM tiers WHERE tenant_id = $1 AND program_id = $2")
            .bind(self.tenant_id)
            .bind(program_id)
            .fetch_all(&mut *tx)
            .await?;
        if !tiers.iter().any(|t| t == tier_id) {
            return Err(StorageError::NotFound);
        }
        if tiers.len() == 1 {
            return Err(StorageError::Conflict("the program's only tier".into()));
        }
        let enrolled: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enrolments WHERE tenant_id = $1 AND tier_id = $2")
            .bind(self.tenant_id)
            .bind(tier_id)
            .fetch_one(&mut *tx)
            .await?;
        if enrolled > 0 {
            return Err(StorageError::Conflict("partners enrolled at the tier".into()));
        }
        sqlx::query("DELETE FROM tiers WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant_id)
            .bind(tier_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.touch().await
    }

    /// Swaps a tier with its neighbour (`up` = towards higher rank), keeping ranks dense.
    pub async fn move_tier(&self, program_id: &str, tier_id: &str, direction: TierMove) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let tiers: Vec<(String, i64)> =
            sqlx::query("SELECT id, rank FROM tiers WHERE tenant_id = $1 AND program_id = $2 ORDER BY rank")
                .bind(self.tenant_id)
                .bind(program_id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("rank")?)))
                .collect::<Result<_>>()?;
        let pos = tiers.iter().position(|(id, _)| id == tier_id).ok_or(StorageError::NotFound)?;
        let other = match direction {
            TierMove::Up if pos + 1 < tiers.len() => pos + 1,
            TierMove::Down if pos > 0 => pos - 1,
            _ => return Ok(()),
        };
        // Park one row on a free rank so the (program, rank) unique constraint holds at each step.
        for (id, rank) in [(&tiers[pos].0, -1), (&tiers[other].0, tiers[pos].1), (&tiers[pos].0, tiers[other].1)] {
            sqlx::query("UPDATE tiers SET rank = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(self.tenant_id)
                .bind(id)
                .bind(rank)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.touch().await?;
        Ok(())
    }

    /// Enrols an org in a program at a tier, or moves it to that tier.
    pub async fn enrol(&self, org_id: &str, program_id: &str, tier_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        super::enrol_in(&mut tx, self.tenant_id, org_id, program_id, tier_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes an org from a program; reported to plugins as `portico.org.unenrolled`, in the same transaction.
    pub async fn unenrol(&self, org_id: &str, program_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let was = sqlx::query(
            "SELECT t.key AS tier, p.key AS program FROM enrolments e JOIN tiers t ON t.id = e.tier_id \
             JOIN programs p ON p.id = e.program_id WHERE e.tenant_id = $1 AND e.org_id = $2 AND e.program_id = $3",
        )
        .bind(self.tenant_id)
        .bind(org_id)
        .bind(program_id)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM enrolments WHERE tenant_id = $1 AND org_id = $2 AND program_id = $3")
            .bind(self.tenant_id)
            .bind(org_id)
            .bind(program_id)
            .execute(&mut *tx)
            .await?;
        if let Some(row) = was {
            let (tier, program): (String, String) = (row.try_get("tier")?, row.try_get("program")?);
            let payload = serde_json::json!({ "org_id": org_id, "program": program, "tier": tier });
            super::plugin_events::emit_host(
                &mut tx,
                self.tenant_id,
                "portico.org.unenrolled",
                Some(&program),
                &payload,
            )
            .await?;
        }
        super::touch_tenant(&mut tx, self.tenant_id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn enrolments_of_org(&self, org_id: &str) -> Result<Vec<Enrolment>> {
        let q = format!("{ENROLMENT_SELECT} AND e.org_id = $2 ORDER BY p.name");
        sqlx::query(AssertSqlSafe(q))
            .bind(self.tenant_id)
            .bind(org_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(enrolment_from_row)
            .collect()
    }

    /// Every enrolment of the tenant, by program name.
    pub async fn all_enrolments(&self) -> Result<Vec<Enrolment>> {
        let q = format!("{ENROLMENT_SELECT} ORDER BY p.name");
        sqlx::query(AssertSqlSafe(q))
            .bind(self.tenant_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(enrolment_from_row)
            .collect()
    }

    /// The enrolments of several orgs (a page of the partner list), by program name.
    pub async fn enrolments_of_orgs(&self, org_ids: &[String]) -> Result<Vec<Enrolment>> {
        if org_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..org_ids.len()).map(|i| format!("${}", i + 2)).collect();
        let q = format!("{ENROLMENT_SELECT} AND e.org_id IN ({}) ORDER BY p.name", placeholders.join(", "));
        let mut query = sqlx::query(AssertSqlSafe(q)).bind(self.tenant_id);
        for id in org_ids {
            query = query.bind(id);
        }
        query.fetch_all(self.pool()).await?.iter().map(enrolment_from_row).collect()
    }

    /// A program's enrolled partners, searched by org name, one page at a time.
    pub async fn enrolments_of_program(&self, program_id: &str, lq: &ListQuery) -> Result<Page<Enrolment>> {
        let pattern = lq.like_pattern();
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM enrolments e JOIN orgs o ON o.id = e.org_id \
             WHERE e.tenant_id = $1 AND e.program_id = $2 AND LOWER(o.name) LIKE $3 ESCAPE '\\'",
        )
        .bind(self.tenant_id)
        .bind(program_id)
        .bind(&pattern)
        .fetch_one(self.pool())
        .await?;
        let q = format!(
            "{ENROLMENT_SELECT} AND e.program_id = $2 AND LOWER(o.name) LIKE $3 ESCAPE '\\' ORDER BY o.name LIMIT $4 OFFSET $5"
        );
        let items = sqlx::query(AssertSqlSafe(q))
            .bind(self.tenant_id)
            .bind(program_id)
            .bind(&pattern)
            .bind(ListQuery::PER_PAGE)
            .bind(lq.offset())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(enrolment_from_row)
            .collect::<Result<_>>()?;
        Ok(Page { items, total, page: lq.page(), per_page: ListQuery::PER_PAGE })
    }

    /// How many partners each program has, by program id (programs without partners are absent).
    pub async fn partner_counts(&self) -> Result<HashMap<String, i64>> {
        sqlx::query("SELECT program_id, COUNT(*) AS n FROM enrolments WHERE tenant_id = $1 GROUP BY program_id")
            .bind(self.tenant_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("program_id")?, r.try_get("n")?)))
            .collect()
    }

    /// Programs, searched by name or key, one page at a time.
    pub async fn search_programs(&self, lq: &ListQuery) -> Result<Page<Program>> {
        let pattern = lq.like_pattern();
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM programs WHERE tenant_id = $1 AND (LOWER(name) LIKE $2 ESCAPE '\\' OR key LIKE $2 ESCAPE '\\')",
        )
        .bind(self.tenant_id)
        .bind(&pattern)
        .fetch_one(self.pool())
        .await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM programs WHERE tenant_id = $1 AND (LOWER(name) LIKE $2 ESCAPE '\\' OR key LIKE $2 ESCAPE '\\') \
             ORDER BY name LIMIT $3 OFFSET $4",
        )
        .bind(self.tenant_id)
        .bind(&pattern)
        .bind(ListQuery::PER_PAGE)
        .bind(lq.offset())
        .fetch_all(self.pool())
        .await?;
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            items.push(self.program(&id).await?);
        }
        Ok(Page { items, total, page: lq.page(), per_page: ListQuery::PER_PAGE })
    }
}

/// Which way [`TenantScope::move_tier`] moves a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierMove {
    Up,
    Down,
}
