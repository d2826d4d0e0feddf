//! The application state shared by every request, built once from [`Config`].

use std::sync::{Arc, OnceLock};

use axum_csrf::{CsrfConfig, Key, SameSite};
use base64::Engine;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;

use crate::blobs::Blobs;
use crate::config::Config;
use crate::mail::Mailer;
use crate::render::Renderer;
use crate::runtime::{Runtime, RuntimeShared};
use crate::storage::Db;
use crate::tenancy::Resolver;

/// Everything a request handler needs: one reference-counted pointer, so the clones axum makes for every
/// extractor and middleware cost one atomic increment (the fields themselves hold strings and keys).
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// The state itself (reached through [`AppState`]'s `Deref`).
#[derive(Debug)]
pub struct AppInner {
    pub config: Arc<Config>,
    pub db: Db,
    pub renderer: Arc<Renderer>,
    pub mailer: Mailer,
    pub blobs: Blobs,
    pub resolver: Resolver,
    pub csrf: CsrfConfig,
    pub metrics: PrometheusHandle,
    pub runtime: Arc<Runtime>,
    pub plugins: Arc<crate::plugins::Registry>,
    /// The keys plugin secrets are sealed with.
    pub keyring: crate::secrets::Keyring,
    /// Signs and checks links to plugins' files.
    pub file_links: crate::file_links::LinkKey,
    /// Rate limits for plugins' public routes.
    pub public_limiter: crate::http::PublicLimiter,
    /// Users already recorded as active today by this replica.
    pub active_today: ActiveToday,
    /// Channel dashboards' figures, kept for `channel_cache_secs`.
    pub reports: crate::analytics::ReportCache,
    /// The time plugins are told (`now-ms`) and schedules run at; tests move it forward.
    pub clock: Clock,
}

/// The host's clock for plugin invocations and schedules: the system's UTC time plus an offset that only tests
/// set, so expiry, reminders and SLAs can be driven without waiting. Shared by clones of the state.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl Clock {
    /// Now, in milliseconds since the Unix epoch, UTC.
    pub fn now_ms(&self) -> i64 {
        crate::domain::now_millis() + self.offset_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves this host's clock forward (or back, with a negative value).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AppState {
    /// Connects to the database, applies migrations, loads themes and instance secrets.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.effective_database_url()).await?;
        db.migrate().await?;
        Self::with_db(config, db).await
    }

    /// Like [`AppState::build`] over an already migrated database.
    pub async fn with_db(mut config: Config, db: Db) -> anyhow::Result<Self> {
        if !config.themes_dir.exists() {
            // The binary alone serves: without a themes directory, the built-in themes are written out and used.
            let builtin = crate::authoring::write_themes(&config.data_dir)?;
            tracing::warn!(missing = %config.themes_dir.display(), using = %builtin.display(), "serving the built-in themes");
            config.themes_dir = builtin;
        }
        let renderer = Renderer::load(&config.themes_dir)?;
        let mailer = Mailer::new(config.smtp.as_ref(), &config.data_dir)?;
        let blobs = match &config.blob_url {
            Some(url) => {
                let options: Vec<(&str, &str)> =
                    config.blob_options.iter().map(|(k, v)| (k.as_str(), v.expose_secret())).collect();
                Blobs::from_url(url, &options)?
            }
            None => Blobs::local(&config.data_dir.join("blobs"))?,
        };
        // The CSRF key is shared through the database so that every replica accepts every other's tokens.
        let key_b64 = db
            .host_setting_or_init("csrf_key", || {
                let mut k = [0u8; 64];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut k);
                base64::engine::general_purpose::STANDARD.encode(k)
            })
            .await?;
        let key_bytes = base64::engine::general_purpose::STANDARD.decode(key_b64)?;
        let salt = crate::auth::hash_secret(&String::from_utf8_lossy(&key_bytes));
        let csrf = CsrfConfig::default()
            .with_key(Some(Key::from(&key_bytes)))
            .with_salt(salt)
            .with_cookie_name("portico_csrf")
            .with_cookie_same_site(SameSite::Lax)
            .with_http_only(true)
            .with_secure(config.secure_cookies);
        let file_links = crate::file_links::LinkKey::derive(&key_bytes);
        let keyring =
            crate::secrets::Keyring::load(config.secrets_key.as_ref(), &config.secrets_old_keys, &config.data_dir)?;
        seal_plain_secrets(&db, &keyring).await?;
        let runtime = Runtime::new(
            config.runtime.clone(),
            RuntimeShared {
                db: db.clone(),
                blobs: blobs.clone(),
                http: crate::outbound::Outbound::new(
                    config.runtime.outbound_allow.clone(),
                    (config.runtime.max_outbound_response_mib << 20) as usize,
                ),
                usage: Default::default(),
                keyring: keyring.clone(),
                file_links: file_links.clone(),
                extensions: crate::extensions::Extensions::load(&config.extensions)?,
            },
            config.effective_cache_dir(),
        )?;
        let resolver =
            Resolver { base_domain: config.base_domain.clone(), default_tenant: config.default_tenant.clone() };
        let public_per_minute = config.public_routes_per_minute;
        Ok(Self(Arc::new(AppInner {
            config: Arc::new(config),
            db,
            renderer: Arc::new(renderer),
            mailer,
            blobs,
            resolver,
            csrf,
            metrics: metrics_handle(),
            runtime: Arc::new(runtime),
            plugins: Arc::default(),
            keyring,
            file_links,
            public_limiter: crate::http::PublicLimiter::new(public_per_minute),
            active_today: ActiveToday::default(),
            reports: Default::default(),
            clock: Clock::default(),
        })))
    }
}

/// Which users this replica already recorded as active today (the tenant's day), so a user's requests write their
/// daily activity (and its `portico.user.active` event) once a day, not once a request; the database's unique key
/// makes it once across replicas.
#[derive(Debug, Default)]
pub struct ActiveToday {
    /// The UTC day the set was started on (it is emptied daily), and (tenant's day, user id) seen.
    seen: std::sync::Mutex<(i64, std::collections::HashSet<(i64, String)>)>,
}

impl ActiveToday {
    /// Records `user` as active at `now` unless already done on the tenant's day.
    pub async fn record(&self, db: &Db, tenant: &crate::domain::Tenant, user: &crate::domain::User, now: i64) {
        let utc_day = now.div_euclid(86_400_000);
        let day = crate::analytics::day_of(now, &tenant.timezone);
        {
            let mut seen = self.seen.lock().expect("activity lock");
            if seen.0 != utc_day {
                *seen = (utc_day, std::collections::HashSet::new());
            }
            if !seen.1.insert((day, user.id.clone())) {
                return;
            }
        }
        let tenant_id = tenant.id.as_str();
        if let Err(e) = db.tenant(tenant_id).record_daily_activity(user, now).await {
            // Not worth failing the request for; the next request tries again.
            self.seen.lock().expect("activity lock").1.remove(&(day, user.id.clone()));
            tracing::warn!(error = %e, "recording a user's daily activity failed");
        }
    }
}

/// Seals secrets stored before secrets were sealed (in the clear), once, at start-up.
async fn seal_plain_secrets(db: &Db, keyring: &crate::secrets::Keyring) -> anyhow::Result<()> {
    for s in db.all_plugin_secrets().await?.into_iter().filter(|s| !s.sealed.starts_with("v1:")) {
        let sealed = keyring.seal(&s.tenant_id, &s.plugin_id, &s.name, &s.sealed);
        db.reseal_plugin_secret(&s, &sealed).await?;
    }
    Ok(())
}

/// Re-seals every plugin secret under the keyring's current key (after a new key was put first); returns how many
/// were re-sealed. A secret whose key is unknown is reported, not lost: it stays as it is.
pub async fn reseal_secrets(db: &Db, keyring: &crate::secrets::Keyring) -> anyhow::Result<usize> {
    let mut n = 0;
    for s in db.all_plugin_secrets().await? {
        if keyring.is_current(&s.sealed) {
            continue;
        }
        let value = keyring
            .open(&s.tenant_id, &s.plugin_id, &s.name, &s.sealed)
            .map_err(|e| anyhow::anyhow!("secret {} of plugin {}: {e}", s.name, s.plugin_id))?;
        if db.reseal_plugin_secret(&s, &keyring.seal(&s.tenant_id, &s.plugin_id, &s.name, &value)).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// The process-wide Prometheus recorder (installed once, even when tests build several apps).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .expect("valid buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program; then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
