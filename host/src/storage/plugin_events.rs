//! The event outbox: events written in the emitting invocation's transaction, with one delivery row per
//! subscribed plugin of the tenant.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{Millis, new_id};

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
