//! The event outbox: events written in the emitting invocation's transaction, with one delivery row per
//! subscribed plugin of the tenant.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::Result;
use crate::domain::{ListQuery, Millis, Page, new_id};

/// Records an event and its deliveries; returns the event id.
pub async fn emit(
    conn: &mut AnyConnection,
    tenant_id: &str,
    source: &str,
    topic: &str,
    program: Option<&str>,
    payload: &str,
    now: Millis,
) -> Result<String> {
    let id = new_id();
    sqlx::query("INSERT INTO events (id, tenant_id, source, topic, program, payload, emitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&id)
        .bind(tenant_id)
        .bind(source)
        .bind(topic)
        .bind(program)
        .bind(payload)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO event_deliveries (event_id, tenant_id, plugin_id, status, attempts, next_attempt_at, leased_until, last_error, updated_at) \
         SELECT $1, tenant_id, plugin_id, 'pending', 0, $3, 0, '', $3 FROM plugin_subscriptions WHERE tenant_id = $2 AND topic = $4",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(now)
    .bind(topic)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// The source of the host's own events (`portico.*` topics).
pub const HOST_SOURCE: &str = "portico";

/// Records one of the host's own activity events (`portico.user.signed_in`, `portico.tier.changed`, …) on the
/// caller's connection, so it commits with the change it reports; delivered like any plugin's event to the
/// plugins that subscribe to its topic. Nothing is written when no plugin of the tenant subscribes (the host's
/// activity is frequent, and an event nobody receives is only a row to clean up); returns the event's id.
pub async fn emit_host(
    conn: &mut AnyConnection,
    tenant_id: &str,
    topic: &str,
    program: Option<&str>,
    payload: &serde_json::Value,
) -> Result<Option<String>> {
    let subscribers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM plugin_subscriptions WHERE tenant_id = $1 AND topic = $2")
            .bind(tenant_id)
            .bind(topic)
            .fetch_one(&mut *conn)
            .await?;
    if subscribers == 0 {
        return Ok(None);
    }
    let now = crate::domain::now_millis();
    emit(conn, tenant_id, HOST_SOURCE, topic, program, &payload.to_string(), now).await.map(Some)
}

/// A delivery claimed for a worker, with its event.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub tenant_id: String,
    pub plugin_id: String,
    pub attempts: i64,
    pub topic: String,
    pub source: String,
    pub program: Option<String>,
    pub payload: String,
    pub emitted_at: Millis,
}

/// A dead or pending delivery, for the admin's list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryRow {
    pub event_id: String,
    pub plugin_id: String,
    pub topic: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
    pub emitted_at: Millis,
    pub next_attempt_at: Millis,
}

impl super::Db {
    /// Claims up to `limit` due deliveries for `lease_ms`, so no other worker (or replica) takes them meanwhile.
    /// PostgreSQL uses `FOR UPDATE SKIP LOCKED`; SQLite has one writer at a time anyway.
    pub async fn claim_deliveries(&self, now: Millis, lease_ms: i64, limit: i64) -> Result<Vec<Delivery>> {
        let skip_locked = if self.backend() == super::Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let q = format!(
            "UPDATE event_deliveries SET leased_until = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE (event_id, plugin_id) IN (SELECT event_id, plugin_id FROM event_deliveries \
               WHERE status = 'pending' AND next_attempt_at <= $2 AND leased_until <= $2 ORDER BY next_attempt_at LIMIT $3 {skip_locked}) \
             RETURNING event_id, plugin_id, attempts"
        );
        let mut tx = self.begin_write().await?;
        let claimed: Vec<(String, String, i64)> = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("event_id")?, r.try_get("plugin_id")?, r.try_get("attempts")?)))
            .collect::<Result<_>>()?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(claimed.len());
        for (event_id, plugin_id, attempts) in claimed {
            let r =
                sqlx::query("SELECT tenant_id, topic, source, program, payload, emitted_at FROM events WHERE id = $1")
                    .bind(&event_id)
                    .fetch_one(self.pool())
                    .await?;
            out.push(Delivery {
                event_id,
                tenant_id: r.try_get("tenant_id")?,
                plugin_id,
                attempts,
                topic: r.try_get("topic")?,
                source: r.try_get("source")?,
                program: r.try_get("program")?,
                payload: r.try_get("payload")?,
                emitted_at: r.try_get("emitted_at")?,
            });
        }
        Ok(out)
    }

    /// Marks a delivery done.
    pub async fn delivery_done(&self, event_id: &str, plugin_id: &str, now: Millis) -> Result<()> {
        sqlx::query("UPDATE event_deliveries SET status = 'done', leased_until = 0, last_error = '', updated_at = $3 WHERE event_id = $1 AND plugin_id = $2")
            .bind(event_id)
            .bind(plugin_id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or dead when `retry_at` is `None`.
    pub async fn delivery_failed(
        &self,
        event_id: &str,
        plugin_id: &str,
        error: &str,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<()> {
        let (status, next) = match retry_at {
            Some(t) => ("pending", t),
            None => ("dead", now),
        };
        sqlx::query(
            "UPDATE event_deliveries SET status = $3, next_attempt_at = $4, leased_until = 0, last_error = $5, updated_at = $6 \
             WHERE event_id = $1 AND plugin_id = $2",
        )
        .bind(event_id)
        .bind(plugin_id)
        .bind(status)
        .bind(next)
        .bind(error)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Claims one tick of a schedule: true for exactly one caller (of any replica) per tick.
    pub async fn claim_schedule_tick(
        &self,
        tenant_id: &str,
        plugin_id: &str,
        schedule: &str,
        tick: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO schedule_ticks (tenant_id, plugin_id, schedule, last_tick) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, plugin_id, schedule) DO UPDATE SET last_tick = excluded.last_tick \
             WHERE schedule_ticks.last_tick < excluded.last_tick",
        )
        .bind(tenant_id)
        .bind(plugin_id)
        .bind(schedule)
        .bind(tick)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl super::TenantScope<'_> {
    /// Deliveries of this tenant that failed for good, newest first.
    /// Deliveries that used up their retries, most recently failed first, one page at a time (searched by
    /// topic or plugin).
    pub async fn dead_deliveries(&self, lq: &ListQuery) -> Result<Page<DeliveryRow>> {
        const WHERE: &str = "FROM event_deliveries d JOIN events e ON e.id = d.event_id \
             WHERE d.tenant_id = $1 AND d.status = 'dead' AND (LOWER(e.topic) LIKE $2 ESCAPE '\\' OR LOWER(d.plugin_id) LIKE $2 ESCAPE '\\')";
        let pattern = lq.like_pattern();
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) {WHERE}")))
            .bind(self.tenant_id())
            .bind(&pattern)
            .fetch_one(self.pool())
            .await?;
        let items = sqlx::query(AssertSqlSafe(format!(
            "SELECT d.event_id, d.plugin_id, e.topic, d.status, d.attempts, d.last_error, e.emitted_at, d.next_attempt_at \
             {WHERE} ORDER BY d.updated_at DESC, d.event_id LIMIT $3 OFFSET $4"
        )))
        .bind(self.tenant_id())
        .bind(&pattern)
        .bind(ListQuery::PER_PAGE)
        .bind(lq.offset())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(DeliveryRow {
                event_id: r.try_get("event_id")?,
                plugin_id: r.try_get("plugin_id")?,
                topic: r.try_get("topic")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                emitted_at: r.try_get("emitted_at")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
            })
        })
        .collect::<Result<_>>()?;
        Ok(Page { items, total, page: lq.page(), per_page: ListQuery::PER_PAGE })
    }

    /// Puts a dead delivery back in the queue, due now, with a fresh attempt count.
    pub async fn replay_delivery(&self, event_id: &str, plugin_id: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $4, leased_until = 0, updated_at = $4 \
             WHERE tenant_id = $1 AND event_id = $2 AND plugin_id = $3 AND status = 'dead'",
        )
        .bind(self.tenant_id())
        .bind(event_id)
        .bind(plugin_id)
        .bind(crate::domain::now_millis())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(super::StorageError::NotFound);
        }
        Ok(())
    }
}
