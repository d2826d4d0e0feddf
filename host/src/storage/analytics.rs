//! Channel analytics at rest: figures per day added to as activity happens (`daily_metrics`), who counted towards
//! a distinct figure in a period (`metric_members`), and partner organisations' timelines (`org_timeline`).
//! Reads take a few rows per day of a range; nothing here scans raw history.

use sqlx::{AnyConnection, Row};

use super::{Result, TenantScope};
use crate::domain::{Millis, new_id};

/// The `org_id` of a figure's tenant-wide total.
pub const ALL_ORGS: &str = "";

/// One figure to add: metric key, partner organisation (none: tenant total only), unit ('' for counts, a currency
/// for money) and the amount.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CountKey {
    pub metric: String,
    pub org_id: Option<String>,
    pub unit: String,
}

/// A figure on one day.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DayFigure {
    pub metric: String,
    pub unit: String,
    pub day: i64,
    pub value: i64,
}

/// One organisation's part of a figure over a range.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrgFigure {
    pub org_id: String,
    pub org_name: String,
    pub unit: String,
    pub value: i64,
}

/// One line of an organisation's timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimelineEntry {
    pub at: Millis,
    pub source: String,
    pub text: String,
    pub link: Option<String>,
}

/// Adds `counts` on `day` to each figure's organisation row and to the tenant's total, in key order (so two
/// invocations adding to the same rows never wait on each other in opposite orders).
pub async fn add_counts(
    conn: &mut AnyConnection,
    tenant_id: &str,
    day: i64,
    counts: &std::collections::BTreeMap<CountKey, i64>,
) -> Result<()> {
    let mut rows: std::collections::BTreeMap<(&str, &str, &str), i64> = std::collections::BTreeMap::new();
    for (k, v) in counts {
        *rows.entry((&k.metric, ALL_ORGS, &k.unit)).or_default() += v;
        if let Some(org) = k.org_id.as_deref().filter(|o| !o.is_empty()) {
            *rows.entry((&k.metric, org, &k.unit)).or_default() += v;
        }
    }
    for ((metric, org, unit), value) in rows {
        if value == 0 {
            continue;
        }
        sqlx::query(
            "INSERT INTO daily_metrics (tenant_id, metric, day, org_id, unit, value) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, metric, day, org_id, unit) DO UPDATE SET value = daily_metrics.value + excluded.value",
        )
        .bind(tenant_id)
        .bind(metric)
        .bind(day)
        .bind(org)
        .bind(unit)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records `member` as counted towards `metric` in `period`; true the first time.
pub async fn first_in_period(
    conn: &mut AnyConnection,
    tenant_id: &str,
    metric: &str,
    period: i64,
    member: &str,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO metric_members (tenant_id, metric, period, member) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(metric)
    .bind(period)
    .bind(member)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// Adds a line to a partner organisation's timeline.
pub async fn add_timeline(
    conn: &mut AnyConnection,
    tenant_id: &str,
    org_id: &str,
    at: Millis,
    source: &str,
    text: &str,
    link: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO org_timeline (id, tenant_id, org_id, at, source, text, link) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(tenant_id)
    .bind(org_id)
    .bind(at)
    .bind(source)
    .bind(text)
    .bind(link)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The tenant's reporting time zone (its own; UTC when unset or unknown).
pub async fn tenant_time_zone(conn: &mut AnyConnection, tenant_id: &str) -> Result<String> {
    let tz: Option<String> =
        sqlx::query_scalar("SELECT timezone FROM tenants WHERE id = $1").bind(tenant_id).fetch_optional(conn).await?;
    Ok(tz.unwrap_or_default())
}

impl TenantScope<'_> {
    /// Adds figures on `day`, in a transaction of their own (for host activity outside a plugin's invocation, and
    /// for loading history).
    pub async fn add_counts(&self, day: i64, counts: &std::collections::BTreeMap<CountKey, i64>) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        add_counts(&mut tx, self.tenant_id, day, counts).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records `member` as counted towards `metric` in `period`; true the first time.
    pub async fn first_in_period(&self, metric: &str, period: i64, member: &str) -> Result<bool> {
        let mut conn = self.pool().acquire().await?;
        first_in_period(&mut conn, self.tenant_id, metric, period, member).await
    }

    /// Every figure of `org_id` (or the tenant's totals, [`ALL_ORGS`]) on the days `from..=to`.
    pub async fn metric_days(&self, org_id: &str, from: i64, to: i64) -> Result<Vec<DayFigure>> {
        let rows = sqlx::query(
            "SELECT metric, unit, day, value FROM daily_metrics \
             WHERE tenant_id = $1 AND org_id = $2 AND day >= $3 AND day <= $4",
        )
        .bind(self.tenant_id)
        .bind(org_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DayFigure {
                    metric: r.try_get("metric")?,
                    unit: r.try_get("unit")?,
                    day: r.try_get("day")?,
                    value: r.try_get("value")?,
                })
            })
            .collect()
    }

    /// The partner organisations behind one figure on the days `from..=to`, largest first.
    pub async fn metric_by_org(&self, metric: &str, from: i64, to: i64) -> Result<Vec<OrgFigure>> {
        let rows = sqlx::query(
            "SELECT m.org_id, o.name, m.unit, CAST(SUM(m.value) AS BIGINT) AS value FROM daily_metrics m \
             JOIN orgs o ON o.id = m.org_id AND o.tenant_id = m.tenant_id \
             WHERE m.tenant_id = $1 AND m.metric = $2 AND m.day >= $3 AND m.day <= $4 AND m.org_id <> '' \
             GROUP BY m.org_id, o.name, m.unit ORDER BY value DESC, o.name",
        )
        .bind(self.tenant_id)
        .bind(metric)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OrgFigure {
                    org_id: r.try_get("org_id")?,
                    org_name: r.try_get("name")?,
                    unit: r.try_get("unit")?,
                    value: r.try_get("value")?,
                })
            })
            .collect()
    }

    /// Who counted towards a distinct figure in a period.
    pub async fn metric_members(&self, metric: &str, period: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT member FROM metric_members WHERE tenant_id = $1 AND metric = $2 AND period = $3 ORDER BY member",
        )
        .bind(self.tenant_id)
        .bind(metric)
        .bind(period)
        .fetch_all(self.pool())
        .await?)
    }

    /// A partner organisation's latest timeline entries, newest first.
    pub async fn timeline(&self, org_id: &str, limit: i64) -> Result<Vec<TimelineEntry>> {
        let rows = sqlx::query(
            "SELECT at, source, text, link FROM org_timeline WHERE tenant_id = $1 AND org_id = $2 \
             ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(self.tenant_id)
        .bind(org_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(timeline_entry).collect()
    }

    /// A partner organisation's timeline entries in `from..until` (milliseconds), oldest first, at most `limit`.
    pub async fn timeline_between(
        &self,
        org_id: &str,
        from: Millis,
        until: Millis,
        limit: i64,
    ) -> Result<Vec<TimelineEntry>> {
        let rows = sqlx::query(
            "SELECT at, source, text, link FROM org_timeline \
             WHERE tenant_id = $1 AND org_id = $2 AND at >= $3 AND at < $4 ORDER BY at, id LIMIT $5",
        )
        .bind(self.tenant_id)
        .bind(org_id)
        .bind(from)
        .bind(until)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(timeline_entry).collect()
    }

    /// Partner organisations per (program id, tier id), as enrolled now.
    pub async fn tier_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT program_id, tier_id, COUNT(*) AS n FROM enrolments WHERE tenant_id = $1 GROUP BY program_id, tier_id",
        )
        .bind(self.tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("program_id")?, r.try_get("tier_id")?, r.try_get("n")?))).collect()
    }

    /// Active partner users by when they last signed in, as of `now`: within 7 days, 30 days, 90 days, longer
    /// ago, never.
    pub async fn sign_in_recency(&self, now: Millis) -> Result<[i64; 5]> {
        const DAY: i64 = 86_400_000;
        let row = sqlx::query(
            "SELECT \
               SUM(CASE WHEN last_login_at >= $2 THEN 1 ELSE 0 END) AS d7, \
               SUM(CASE WHEN last_login_at < $2 AND last_login_at >= $3 THEN 1 ELSE 0 END) AS d30, \
               SUM(CASE WHEN last_login_at < $3 AND last_login_at >= $4 THEN 1 ELSE 0 END) AS d90, \
               SUM(CASE WHEN last_login_at < $4 THEN 1 ELSE 0 END) AS older, \
               SUM(CASE WHEN last_login_at IS NULL THEN 1 ELSE 0 END) AS never \
             FROM users WHERE tenant_id = $1 AND status = 'active' AND role IN ('partner_admin', 'partner_user')",
        )
        .bind(self.tenant_id)
        .bind(now - 7 * DAY)
        .bind(now - 30 * DAY)
        .bind(now - 90 * DAY)
        .fetch_one(self.pool())
        .await?;
        let get = |k: &str| -> Result<i64> { Ok(row.try_get::<Option<i64>, _>(k)?.unwrap_or(0)) };
        Ok([get("d7")?, get("d30")?, get("d90")?, get("older")?, get("never")?])
    }
}

/// A row of `org_timeline` (`at, source, text, link`).
fn timeline_entry(r: &sqlx::any::AnyRow) -> Result<TimelineEntry> {
    Ok(TimelineEntry {
        at: r.try_get("at")?,
        source: r.try_get("source")?,
        text: r.try_get("text")?,
        link: r.try_get("link")?,
    })
}
