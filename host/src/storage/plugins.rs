//! Installed plugins per tenant, their enablement and settings per program, subscriptions, secrets, and the
//! directory writes and notifications plugins make inside their invocation's transaction.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{Result, StorageError, TenantScope, optional};
use crate::domain::{Millis, Role, new_id, now_millis};

/// An installed plugin as stored.
#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    pub plugin_id: String,
    pub version: String,
    /// The manifest, as JSON.
    pub manifest: String,
    pub package_key: String,
    pub wasm_hash: String,
    pub installed_at: Millis,
    pub updated_at: Millis,
}

/// A plugin's state in one program.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginProgram {
    pub program_id: String,
    pub enabled: bool,
    /// Settings JSON object.
    pub settings: String,
}

/// Who a notification goes to.
#[derive(Debug)]
pub struct Audience<'a> {
    pub user: Option<&'a str>,
    pub org: Option<&'a str>,
    pub vendor: bool,
    pub roles: &'a [Role],
}

const INSTALL_COLUMNS: &str = "plugin_id, version, manifest, package_key, wasm_hash, installed_at, updated_at";

fn install_from_row(r: &sqlx::any::AnyRow) -> Result<InstalledPlugin> {
    Ok(InstalledPlugin {
        plugin_id: r.try_get("plugin_id")?,
        version: r.try_get("version")?,
        manifest: r.try_get("manifest")?,
        package_key: r.try_get("package_key")?,
        wasm_hash: r.try_get("wasm_hash")?,
        installed_at: r.try_get("installed_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl TenantScope<'_> {
    /// Installs or replaces a plugin and its event subscriptions, in one transaction.
    pub async fn save_install(&self, p: &InstalledPlugin, topics: &[String]) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO plugin_installs (tenant_id, plugin_id, version, manifest, package_key, wasm_hash, installed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, plugin_id) DO UPDATE SET version = excluded.version, \
             manifest = excluded.manifest, package_key = excluded.package_key, wasm_hash = excluded.wasm_hash, updated_at = excluded.updated_at",
        )
        .bind(self.tenant_id)
        .bind(&p.plugin_id)
        .bind(&p.version)
        .bind(&p.manifest)
        .bind(&p.package_key)
        .bind(&p.wasm_hash)
        .bind(p.installed_at)
        .bind(p.updated_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM plugin_subscriptions WHERE tenant_id = $1 AND plugin_id = $2")
            .bind(self.tenant_id)
            .bind(&p.plugin_id)
            .execute(&mut *tx)
            .await?;
        for topic in topics {
            sqlx::query("INSERT INTO plugin_subscriptions (tenant_id, plugin_id, topic) VALUES ($1, $2, $3)")
                .bind(self.tenant_id)
                .bind(&p.plugin_id)
                .bind(topic)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE tenants SET updated_at = $2 WHERE id = $1")
            .bind(self.tenant_id)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        let q = format!("SELECT {INSTALL_COLUMNS} FROM plugin_installs WHERE tenant_id = $1 ORDER BY plugin_id");
        sqlx::query(AssertSqlSafe(q))
            .bind(self.tenant_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(install_from_row)
            .collect()
    }

    pub async fn installed_plugin(&self, plugin_id: &str) -> Result<Option<InstalledPlugin>> {
        let q = format!("SELECT {INSTALL_COLUMNS} FROM plugin_installs WHERE tenant_id = $1 AND plugin_id = $2");
        optional(sqlx::query(AssertSqlSafe(q)).bind(self.tenant_id).bind(plugin_id).fetch_one(self.pool()).await)?
            .map(|r| install_from_row(&r))
            .transpose()
    }

    /// Every installed plugin enabled in at least one program, with each such program id and its settings, in
    /// one query (the per-request look-up of which plugins a user may use).
    pub async fn enabled_plugins(&self) -> Result<Vec<(InstalledPlugin, String, String)>> {
        // The manifest text is left out: callers load plugins by package key.
        let q = "SELECT i.plugin_id, i.version, '' AS manifest, i.package_key, i.wasm_hash, i.installed_at, i.updated_at, \
                 p.program_id, p.settings FROM plugin_installs i JOIN plugin_programs p ON p.tenant_id = i.tenant_id \
                 AND p.plugin_id = i.plugin_id WHERE i.tenant_id = $1 AND p.enabled = 1 ORDER BY i.plugin_id";
        sqlx::query(q)
            .bind(self.tenant_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((install_from_row(r)?, r.try_get("program_id")?, r.try_get("settings")?)))
            .collect()
    }

    /// The plugin's enablement and settings in each program that has a row.
    pub async fn plugin_programs(&self, plugin_id: &str) -> Result<Vec<PluginProgram>> {
        sqlx::query("SELECT program_id, enabled, settings FROM plugin_programs WHERE tenant_id = $1 AND plugin_id = $2")
            .bind(self.tenant_id)
            .bind(plugin_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| {
                Ok(PluginProgram {
                    program_id: r.try_get("program_id")?,
                    enabled: r.try_get::<i64, _>("enabled")? != 0,
                    settings: r.try_get("settings")?,
                })
            })
            .collect()
    }

    /// Enables or disables a plugin in a program, keeping its settings; a change is reported to plugins as
    /// `portico.plugin.enabled` or `portico.plugin.disabled`, in the same transaction.
    pub async fn set_plugin_enabled(&self, plugin_id: &str, program_id: &str, enabled: bool) -> Result<()> {
        let program = self.program(program_id).await?;
        let mut tx = self.db.begin_write().await?;
        let before: Option<i64> = sqlx::query_scalar(
            "SELECT enabled FROM plugin_programs WHERE tenant_id = $1 AND plugin_id = $2 AND program_id = $3",
        )
        .bind(self.tenant_id)
        .bind(plugin_id)
        .bind(program_id)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO plugin_programs (tenant_id, plugin_id, program_id, enabled, settings, updated_at) VALUES ($1, $2, $3, $4, '{}', $5) \
             ON CONFLICT (tenant_id, plugin_id, program_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(self.tenant_id)
        .bind(plugin_id)
        .bind(program_id)
        .bind(i64::from(enabled))
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        if before.unwrap_or(0) != i64::from(enabled) {
            let topic = if enabled { "portico.plugin.enabled" } else { "portico.plugin.disabled" };
            let payload = serde_json::json!({ "plugin_id": plugin_id, "program": program.key });
            super::plugin_events::emit_host(&mut tx, self.tenant_id, topic, Some(&program.key), &payload).await?;
        }
        super::touch_tenant(&mut tx, self.tenant_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Saves validated settings of a plugin in a program.
    pub async fn set_plugin_settings(&self, plugin_id: &str, program_id: &str, settings: &str) -> Result<()> {
        self.program(program_id).await?;
        sqlx::query(
            "INSERT INTO plugin_programs (tenant_id, plugin_id, program_id, enabled, settings, updated_at) VALUES ($1, $2, $3, 0, $4, $5) \
             ON CONFLICT (tenant_id, plugin_id, program_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(self.tenant_id)
        .bind(plugin_id)
        .bind(program_id)
        .bind(settings)
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        self.touch().await?;
        Ok(())
    }
}

/// A tier's key and rank, and its program's key, for the events that report a change.
async fn tier_of(conn: &mut AnyConnection, tenant_id: &str, tier_id: &str) -> Result<TierOf> {
    let row = sqlx::query(
        "SELECT t.key, t.rank, t.name, p.key AS program, p.name AS program_name FROM tiers t \
         JOIN programs p ON p.id = t.program_id WHERE t.tenant_id = $1 AND t.id = $2",
    )
    .bind(tenant_id)
    .bind(tier_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(TierOf {
        key: row.try_get("key")?,
        rank: row.try_get("rank")?,
        name: row.try_get("name")?,
        program: row.try_get("program")?,
        program_name: row.try_get("program_name")?,
    })
}

/// A tier with its program, as events and the timeline name them.
struct TierOf {
    key: String,
    rank: i64,
    name: String,
    program: String,
    program_name: String,
}

/// Moves a partner org to a tier of a program, on the caller's connection (a plugin's transaction).
pub async fn enrol_in(
    conn: &mut AnyConnection,
    tenant_id: &str,
    org_id: &str,
    program_id: &str,
    tier_id: &str,
) -> Result<()> {
    let valid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tiers t JOIN orgs o ON o.tenant_id = t.tenant_id \
         WHERE t.tenant_id = $1 AND t.id = $2 AND t.program_id = $3 AND o.id = $4 AND o.kind = 'partner'",
    )
    .bind(tenant_id)
    .bind(tier_id)
    .bind(program_id)
    .bind(org_id)
    .fetch_one(&mut *conn)
    .await?;
    if valid == 0 {
        return Err(StorageError::NotFound);
    }
    let before: Option<String> =
        sqlx::query_scalar("SELECT tier_id FROM enrolments WHERE tenant_id = $1 AND org_id = $2 AND program_id = $3")
            .bind(tenant_id)
            .bind(org_id)
            .bind(program_id)
            .fetch_optional(&mut *conn)
            .await?;
    if before.as_deref() != Some(tier_id) {
        // Reported to plugins with the change: an enrolment, or a move between tiers.
        let to = tier_of(conn, tenant_id, tier_id).await?;
        let (program, (to_key, to_rank)) = (to.program.clone(), (to.key.clone(), to.rank));
        let now = now_millis();
        let (topic, payload, line, moved) = match before {
            None => (
                "portico.org.enrolled",
                serde_json::json!({ "org_id": org_id, "program": program, "tier": to_key, "tier_rank": to_rank }),
                format!("Enrolled in {} at {}", to.program_name, to.name),
                None,
            ),
            Some(old) => {
                let from = tier_of(conn, tenant_id, &old).await?;
                let up = to.rank > from.rank;
                (
                    "portico.tier.changed",
                    serde_json::json!({ "org_id": org_id, "program": program, "from": from.key, "to": to_key,
                                        "from_rank": from.rank, "to_rank": to_rank }),
                    format!(
                        "Moved {} from {} to {} in {}",
                        if up { "up" } else { "down" },
                        from.name,
                        to.name,
                        to.program_name
                    ),
                    Some(if up { crate::analytics::PROMOTIONS } else { crate::analytics::DEMOTIONS }),
                )
            }
        };
        super::plugin_events::emit_host(conn, tenant_id, topic, Some(&program), &payload).await?;
        super::analytics::add_timeline(conn, tenant_id, org_id, now, crate::analytics::HOST, &line, None).await?;
        if let Some(metric) = moved {
            let tz = super::analytics::tenant_time_zone(conn, tenant_id).await?;
            let key =
                super::analytics::CountKey { metric: metric.into(), org_id: Some(org_id.into()), unit: String::new() };
            let day = crate::analytics::day_of(now, &tz);
            super::analytics::add_counts(conn, tenant_id, day, &[(key, 1)].into_iter().collect()).await?;
        }
    }
    sqlx::query(
        "INSERT INTO enrolments (tenant_id, org_id, program_id, tier_id, enrolled_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org_id, program_id) DO UPDATE SET tier_id = excluded.tier_id",
    )
    .bind(tenant_id)
    .bind(org_id)
    .bind(program_id)
    .bind(tier_id)
    .bind(now_millis())
    .execute(&mut *conn)
    .await?;
    super::touch_tenant(conn, tenant_id).await?;
    Ok(())
}

/// An audit entry on the caller's connection; `actor` names a plugin (`plugin:{id}`) rather than a user.
pub async fn audit_in(
    conn: &mut AnyConnection,
    tenant_id: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO audit_log (id, tenant_id, actor_id, action, subject, detail, at) VALUES ($1, $2, NULL, $3, $4, $5, $6)")
        .bind(new_id())
        .bind(tenant_id)
        .bind(action)
        .bind(subject)
        .bind(format!("{detail} ({actor})"))
        .bind(now_millis())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Writes one notification per active recipient; returns how many.
#[allow(clippy::too_many_arguments)]
pub async fn notify_in(
    conn: &mut AnyConnection,
    tenant_id: &str,
    plugin_id: &str,
    audience: &Audience<'_>,
    title: &str,
    body: &str,
    link: Option<&str>,
    email: bool,
    now: Millis,
) -> Result<u64> {
    let rows = sqlx::query(
        "SELECT u.id, u.role FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.tenant_id = $1 AND u.status = 'active' \
         AND ($2 = '' OR u.id = $2) AND ($3 = '' OR u.org_id = $3) AND ($4 = 0 OR o.kind = 'vendor')",
    )
    .bind(tenant_id)
    .bind(audience.user.unwrap_or(""))
    .bind(audience.org.unwrap_or(""))
    .bind(i64::from(audience.vendor))
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for r in rows {
        let role: String = r.try_get("role")?;
        if !audience.roles.is_empty() && !audience.roles.iter().any(|x| x.as_str() == role) {
            continue;
        }
        let user_id: String = r.try_get("id")?;
        sqlx::query(
            "INSERT INTO notifications (id, tenant_id, user_id, plugin_id, title, body, link, email, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id())
        .bind(tenant_id)
        .bind(&user_id)
        .bind(plugin_id)
        .bind(title)
        .bind(body)
        .bind(link)
        .bind(i64::from(email))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        n += 1;
    }
    Ok(n)
}

/// A notification as its recipient sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotificationRow {
    pub id: String,
    pub plugin_id: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub created_at: Millis,
    pub read_at: Option<Millis>,
}

/// A notification to mail, claimed by one worker.
#[derive(Debug, Clone)]
pub struct NotificationMail {
    pub tenant_id: String,
    pub to: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
}

impl TenantScope<'_> {
    /// A user's newest notifications.
    pub async fn notifications(&self, user_id: &str, limit: i64) -> Result<Vec<NotificationRow>> {
        sqlx::query(
            "SELECT id, plugin_id, title, body, link, created_at, read_at FROM notifications \
             WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(self.tenant_id)
        .bind(user_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(NotificationRow {
                id: r.try_get("id")?,
                plugin_id: r.try_get("plugin_id")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                link: r.try_get("link")?,
                created_at: r.try_get("created_at")?,
                read_at: r.try_get("read_at")?,
            })
        })
        .collect()
    }

    pub async fn unread_notifications(&self, user_id: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
        )
        .bind(self.tenant_id)
        .bind(user_id)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn mark_notifications_read(&self, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE notifications SET read_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL")
            .bind(self.tenant_id)
            .bind(user_id)
            .bind(now_millis())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

impl super::Db {
    /// Claims up to `limit` notifications still to be mailed (each is mailed at most once).
    pub async fn claim_notification_mail(&self, limit: i64) -> Result<Vec<NotificationMail>> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE notifications SET emailed_at = $1 WHERE id IN \
             (SELECT id FROM notifications WHERE email = 1 AND emailed_at IS NULL ORDER BY created_at LIMIT $2) \
             RETURNING tenant_id, user_id, title, body, link",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let tenant_id: String = r.try_get("tenant_id")?;
            let user_id: String = r.try_get("user_id")?;
            let to: String = sqlx::query_scalar("SELECT email FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(&tenant_id)
                .bind(&user_id)
                .fetch_one(&mut *tx)
                .await?;
            out.push(NotificationMail {
                tenant_id,
                to,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
                link: r.try_get("link")?,
            });
        }
        tx.commit().await?;
        Ok(out)
    }
}
