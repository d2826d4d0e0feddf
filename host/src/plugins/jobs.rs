//! Background work shared by replicas through the database: delivering events from the outbox (at least once,
//! with retries, backoff and a dead-letter list), running schedule ticks (once per tick across replicas), and
//! sweeping plugin files that no committed invocation owns.

use std::time::Duration;

use crate::app::AppState;
use crate::domain::now_millis;
use crate::runtime::Event;

/// Attempts before a delivery is dead-lettered.
pub const MAX_ATTEMPTS: i64 = 8;

/// Backoff after `attempts` failures: 2, 4, 8 … seconds, at most an hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    (1000i64 << attempts.clamp(1, 12)).min(3_600_000)
}

/// How long a plugin file may exist without its row before the sweeper takes it for an orphan: longer than any
/// invocation, so a file whose call is still running is never taken.
pub const ORPHAN_GRACE_MS: i64 = 3_600_000;

/// Removes plugin files that no committed invocation owns (their call failed and the removal did not happen, or
/// the process died between storing the file and committing), written after the sweeper first ran and more than
/// `grace_ms` ago. Returns how many it removed. Any replica may run it; removing twice is harmless.
pub async fn sweep_orphan_blobs(state: &AppState, grace_ms: i64) -> anyhow::Result<usize> {
    let now = now_millis();
    // Files stored before plugin files had rows are not orphans: only what came after the first sweep counts.
    let since: i64 = state.db.host_setting_or_init("plugin_blob_sweep_since", || now.to_string()).await?.parse()?;
    let candidates: Vec<String> = state
        .blobs
        .list("tenants/")
        .await?
        .into_iter()
        .filter(|(key, at)| key.contains("/plugins/") && *at >= since && *at < now - grace_ms)
        .map(|(key, _)| key)
        .collect();
    // A file of an unpacked tree has no row of its own: its tree's row owns it.
    let owner = |k: &str| crate::archive::split_tree_key(k).map_or(k.to_string(), |(tree, _)| tree.to_string());
    let mut owners: Vec<String> = candidates.iter().map(|k| owner(k)).collect();
    owners.sort();
    owners.dedup();
    let known = state.db.known_blobs(&owners).await?;
    let mut removed = 0;
    for key in candidates.into_iter().filter(|k| !known.contains(&owner(k))) {
        state.blobs.delete(&key).await?;
        tracing::info!(key = %key, "removed an orphaned plugin file");
        removed += 1;
    }
    Ok(removed)
}

/// Delivers due events; returns how many deliveries were attempted.
pub async fn deliver_due(state: &AppState, limit: i64) -> anyhow::Result<usize> {
    // The host's clock, as events are stamped with it (the same as the wall clock but in tests that move it).
    let now = state.clock.now_ms();
    let lease_ms = state.config.event_lease_secs.max(1) * 1000;
    let claimed = state.db.claim_deliveries(now, lease_ms, limit).await?;
    let n = claimed.len();
    for d in claimed {
        let outcome = deliver(state, &d).await;
        let now = state.clock.now_ms();
        match outcome {
            Ok(()) => state.db.delivery_done(&d.event_id, &d.plugin_id, now).await?,
            Err(cause) => {
                let retry = (d.attempts < MAX_ATTEMPTS).then(|| now + backoff_ms(d.attempts));
                tracing::warn!(plugin = %d.plugin_id, topic = %d.topic, attempts = d.attempts, cause = %cause, dead = retry.is_none(), "event delivery failed");
                state.db.delivery_failed(&d.event_id, &d.plugin_id, &cause, retry, now).await?;
            }
        }
    }
    Ok(n)
}

/// One delivery: skipped (done) when the plugin is gone or enabled nowhere; an error or trap retries.
async fn deliver(state: &AppState, d: &crate::storage::plugin_events::Delivery) -> Result<(), String> {
    let tenant = state.db.tenant_by_id(&d.tenant_id).await.map_err(|e| e.to_string())?.ok_or("tenant gone")?;
    let scope = state.db.tenant(&tenant.id);
    let Some(installed) = scope.installed_plugin(&d.plugin_id).await.map_err(|e| e.to_string())? else { return Ok(()) };
    let Some((program, settings)) =
        program_for(state, &tenant, &installed.plugin_id, d.program.as_deref()).await.map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let plugin = super::unpacked(state, &installed).await.map_err(|e| e.to_string())?;
    let settings = super::effective_settings(&plugin.manifest().settings, &settings);
    let inv = super::system_invocation(state, &tenant, &plugin, Some(program.clone()), settings);
    let event = Event {
        id: d.event_id.clone(),
        topic: d.topic.clone(),
        source: d.source.clone(),
        program: d.program.clone(),
        payload: d.payload.clone(),
        emitted_at: d.emitted_at,
    };
    match state.runtime.on_event(plugin.loaded.clone(), inv, event).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{e:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The program a tenant-wide call of a plugin runs in: `preferred` if enabled there, else the first enabled.
async fn program_for(
    state: &AppState,
    tenant: &crate::domain::Tenant,
    plugin_id: &str,
    preferred: Option<&str>,
) -> anyhow::Result<Option<((String, String), String)>> {
    let scope = state.db.tenant(&tenant.id);
    let enabled = scope.plugin_programs(plugin_id).await?;
    let programs = scope.list_programs().await?;
    let mut candidates: Vec<_> = programs
        .iter()
        .filter_map(|p| enabled.iter().find(|e| e.enabled && e.program_id == p.id).map(|e| (p, e)))
        .collect();
    candidates.sort_by_key(|(p, _)| Some(p.key.as_str()) != preferred);
    Ok(candidates.first().map(|(p, e)| ((p.key.clone(), p.id.clone()), e.settings.clone())))
}

/// Runs every schedule tick that is due at `now` and not yet claimed; returns how many ran.
pub async fn run_schedules(state: &AppState, now: i64) -> anyhow::Result<usize> {
    let mut ran = 0;
    for tenant in state.db.list_tenants().await? {
        let scope = state.db.tenant(&tenant.id);
        for installed in scope.installed_plugins().await? {
            let plugin = match super::unpacked(state, &installed).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(plugin = %installed.plugin_id, error = %e, "plugin does not load");
                    continue;
                }
            };
            if plugin.manifest().schedules.is_empty() {
                continue;
            }
            let Some((program, settings)) = program_for(state, &tenant, &installed.plugin_id, None).await? else {
                continue;
            };
            for s in &plugin.manifest().schedules {
                let period = i64::from(s.every_minutes) * 60_000;
                let tick = now / period;
                if !state.db.claim_schedule_tick(&tenant.id, &installed.plugin_id, &s.name, tick).await? {
                    continue;
                }
                let settings = super::effective_settings(&plugin.manifest().settings, &settings);
                let mut inv = super::system_invocation(state, &tenant, &plugin, Some(program.clone()), settings);
                inv.now_ms = now;
                match state.runtime.run_schedule(plugin.loaded.clone(), inv, s.name.clone()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(plugin = %installed.plugin_id, schedule = %s.name, error = ?e, "schedule returned an error")
                    }
                    Err(e) => {
                        tracing::warn!(plugin = %installed.plugin_id, schedule = %s.name, error = %e, "schedule failed")
                    }
                }
                ran += 1;
            }
        }
    }
    Ok(ran)
}

/// Mails the notifications plugins sent with `email: true`; returns how many.
pub async fn mail_notifications(state: &AppState, base_url: &str) -> anyhow::Result<usize> {
    let claimed = state.db.claim_notification_mail(50).await?;
    let n = claimed.len();
    for m in claimed {
        let Some(tenant) = state.db.tenant_by_id(&m.tenant_id).await? else { continue };
        let link = m.link.as_ref().map(|l| format!("\n\n{base_url}{l}\n")).unwrap_or_default();
        let body = format!("{}{link}", m.body);
        let subject = format!("{} — {}", m.title, tenant.branding.portal_name);
        state.mailer.send(state.db.tenant(&tenant.id), &m.to, &subject, &body, None).await?;
    }
    Ok(n)
}

/// Runs the outbox and schedules until the process ends.
pub fn spawn_workers(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut last_schedules = 0i64;
        loop {
            tick.tick().await;
            if let Err(e) = deliver_due(&state, 50).await {
                tracing::error!(error = %e, "event delivery loop failed");
            }
            if let Err(e) = mail_notifications(&state, &state.config.public_url()).await {
                tracing::error!(error = %e, "notification mail loop failed");
            }
            let now = state.clock.now_ms();
            if now - last_schedules >= 15_000 {
                last_schedules = now;
                if let Err(e) = run_schedules(&state, now).await {
                    tracing::error!(error = %e, "schedule loop failed");
                }
                if let Err(e) = crate::digest::send_due(&state, now).await {
                    tracing::error!(error = %e, "weekly digest loop failed");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_and_caps_at_an_hour() {
        assert_eq!(super::backoff_ms(1), 2_000);
        assert_eq!(super::backoff_ms(3), 8_000);
        assert_eq!(super::backoff_ms(40), 3_600_000);
    }
}
