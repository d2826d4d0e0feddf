//! The storage layer: the only code that knows SQL. One [`Db`] over SQLite or PostgreSQL (through sqlx's
//! `Any` driver, with `$n` placeholders both understand), and [`TenantScope`], the one place that adds the
//! tenant to every query on tenant-owned rows.

pub mod analytics;
mod audit;
mod auth;
pub mod digest;
mod mail;
mod orgs;
pub mod plugin_data;
pub mod plugin_events;
pub mod plugin_secrets;
pub mod plugin_usage;
mod plugins;
mod programs;
pub mod search;
mod tenants;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use audit::AuditEntry;
pub use auth::{ApiToken, AuthTokenPurpose, SessionRow, ThrottleState};
pub use mail::MailRecord;
pub use plugin_secrets::{SealedSecret, SecretInfo};
pub use plugin_usage::PluginUsage;
pub use plugins::{
    Audience, InstalledPlugin, NotificationMail, NotificationRow, PluginProgram, audit_in, enrol_in, notify_in,
};
pub use programs::TierMove;
pub use tenants::NewTenant;
pub use users::{NewUser, normalize_email};

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Errors of the storage layer; callers match on `NotFound` and `Conflict`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; the string names the constraint or column.
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("unsupported database url: {0}")]
    UnsupportedUrl(String),
    /// The database cannot be reached right now (down, restarting, connections cut, pool exhausted): worth a
    /// retry, and answered 503, not 500.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StorageError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StorageError::Conflict(db.constraint().map(str::to_string).unwrap_or_else(|| db.message().to_string()))
            }
            _ if unreachable(&e) => StorageError::Unavailable(e),
            _ => StorageError::Database(e),
        }
    }
}

/// Whether an error means the database is out of reach rather than that the statement failed: I/O and pool
/// failures, and PostgreSQL's connection-exception (08) and operator-intervention (57: shutting down, starting up,
/// connection terminated) classes.
fn unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57")),
        _ => false,
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The migrations, embedded in the binary: (version, description, SQL) per database. Built at run time rather than
/// with `sqlx::migrate!`, whose proc macro compiles both database drivers a second time for every cold build;
/// the checksums are the same (SHA-384 of the SQL), so databases migrated either way agree.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../../../migrations/sqlite/0001_foundation.sql")),
    (2, "plugins", include_str!("../../../migrations/sqlite/0002_plugins.sql")),
    (3, "index by record and field", include_str!("../../../migrations/sqlite/0003_index_by_record_and_field.sql")),
    (4, "distinct index values", include_str!("../../../migrations/sqlite/0004_distinct_index_values.sql")),
    (5, "plugin limits", include_str!("../../../migrations/sqlite/0005_plugin_limits.sql")),
    (6, "activity and files", include_str!("../../../migrations/sqlite/0006_activity_and_files.sql")),
    (7, "search", include_str!("../../../migrations/sqlite/0007_search.sql")),
    (8, "org ordered index", include_str!("../../../migrations/sqlite/0008_org_ordered_index.sql")),
    (9, "search prefix index", include_str!("../../../migrations/sqlite/0009_search_prefix_index.sql")),
    (10, "search labels column", include_str!("../../../migrations/sqlite/0010_search_labels_column.sql")),
    (11, "channel analytics", include_str!("../../../migrations/sqlite/0011_channel_analytics.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../../../migrations/postgres/0001_foundation.sql")),
    (2, "plugins", include_str!("../../../migrations/postgres/0002_plugins.sql")),
    (3, "index by record and field", include_str!("../../../migrations/postgres/0003_index_by_record_and_field.sql")),
    (4, "distinct index values", include_str!("../../../migrations/postgres/0004_distinct_index_values.sql")),
    (5, "plugin limits", include_str!("../../../migrations/postgres/0005_plugin_limits.sql")),
    (6, "activity and files", include_str!("../../../migrations/postgres/0006_activity_and_files.sql")),
    (7, "search", include_str!("../../../migrations/postgres/0007_search.sql")),
    (8, "org ordered index", include_str!("../../../migrations/postgres/0008_org_ordered_index.sql")),
    (9, "search prefix index", include_str!("../../../migrations/postgres/0009_search_prefix_index.sql")),
    (10, "search labels column", include_str!("../../../migrations/postgres/0010_search_labels_column.sql")),
    (11, "channel analytics", include_str!("../../../migrations/postgres/0011_channel_analytics.sql")),
];

#[cfg(test)]
mod migration_tests {
    /// Every file under `migrations/` is embedded, in order: a new file cannot be forgotten.
    #[test]
    fn every_migration_file_is_embedded() {
        for (db, embedded) in [("sqlite", super::SQLITE_MIGRATIONS), ("postgres", super::POSTGRES_MIGRATIONS)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(db);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            assert_eq!(files.len(), embedded.len(), "{db}: {files:?}");
            for (file, (version, description, sql)) in files.iter().zip(embedded) {
                let (n, rest) = file.split_once('_').unwrap();
                assert_eq!(n.parse::<i64>().unwrap(), *version, "{db}/{file}");
                assert_eq!(rest.trim_end_matches(".sql").replace('_', " "), *description, "{db}/{file}");
                assert_eq!(std::fs::read_to_string(dir.join(file)).unwrap(), *sql, "{db}/{file}");
            }
        }
    }
}

fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType};
    sqlx::migrate::Migrator::with_migrations(
        migrations
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    std::borrow::Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sqlx::SqlStr::from_static(sql),
                    false,
                )
            })
            .collect(),
    )
}

/// A connection pool to the host database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// How many plugin invocations may hold a transaction at once (see [`Db::begin_invocation`]).
    tx_gate: Arc<tokio::sync::Semaphore>,
}

impl Db {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). SQLite runs in WAL mode with foreign keys on.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl(url.split(':').next().unwrap_or("").to_string()));
        };
        if backend == Backend::Sqlite
            && let Some(path) = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p))
            && let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| StorageError::Database(sqlx::Error::Io(e)))?;
        }
        let options = AnyConnectOptions::from_str(url)?;
        let max_connections = if backend == Backend::Sqlite { 8 } else { 16 };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        // SQLite has one writer, and an invocation's transaction takes the write lock up front: one at a time. On
        // PostgreSQL a quarter of the pool stays free of invocation transactions.
        let holders = if backend == Backend::Sqlite { 1 } else { max_connections as usize * 3 / 4 };
        Ok(Self { pool, backend, tx_gate: Arc::new(tokio::sync::Semaphore::new(holders)) })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => migrator(SQLITE_MIGRATIONS).run(&self.pool).await?,
            Backend::Postgres => migrator(POSTGRES_MIGRATIONS).run(&self.pool).await?,
        }
        Ok(())
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Queries scoped to one tenant. The only way to reach tenant-owned rows.
    pub fn tenant<'a>(&'a self, tenant_id: &'a str) -> TenantScope<'a> {
        TenantScope { db: self, tenant_id }
    }

    /// A host-wide setting, created with `init` on first use (used for instance secrets shared by replicas).
    pub async fn host_setting_or_init(&self, key: &str, init: impl FnOnce() -> String) -> Result<String> {
        sqlx::query("INSERT INTO host_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(init())
            .execute(&self.pool)
            .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM host_settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }

    /// Runs one statement of administrative SQL (creating or dropping a database); for tools and tests.
    pub async fn execute_raw(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Refreshes the query planner's statistics (`ANALYZE`), e.g. after a bulk load.
    /// Brings the planner statistics up to date, and on PostgreSQL also vacuums (so index-only scans see a
    /// current visibility map) and checkpoints: what a database that has lived with its rows for a while has
    /// done, and what a freshly bulk-loaded one (a benchmark fixture, an import) has not.
    pub async fn analyze(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("VACUUM ANALYZE").execute(&self.pool).await?;
            sqlx::query("CHECKPOINT").execute(&self.pool).await?;
        } else {
            sqlx::query("ANALYZE").execute(&self.pool).await?;
        }
        Ok(())
    }

    /// A pooled connection, for plugin data calls outside a transaction.
    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// Begins a write transaction (see [`Db::begin_write`]) for a plugin invocation.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.begin_write().await
    }

    /// Begins a plugin invocation's transaction, once a place among the invocations that may hold one is free;
    /// the place is held until the transaction ends (drop the permit after it).
    ///
    /// An invocation holding its transaction's connection also reads through the pool (the directory, its
    /// settings): if every connection were held by a transaction, or waiting in SQLite's `BEGIN IMMEDIATE`,
    /// those reads would wait for a connection until the timeouts failed every invocation at once. Invocations
    /// waiting for a place hold no connection. Waiting is bounded by `wait` (what is left of the call's time): then
    /// the database is unavailable.
    pub async fn begin_invocation(
        &self,
        wait: Duration,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Any>, tokio::sync::OwnedSemaphorePermit)> {
        let permit = tokio::time::timeout(wait, self.tx_gate.clone().acquire_owned())
            .await
            .map_err(|_| StorageError::Unavailable(sqlx::Error::PoolTimedOut))?
            .map_err(|_| StorageError::Unavailable(sqlx::Error::PoolClosed))?;
        Ok((self.begin_write().await?, permit))
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of failing on upgrade.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let statement = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        Ok(self.pool.begin_with(statement).await?)
    }
}

/// Queries on one tenant's rows: every statement here binds `tenant_id`.
#[derive(Clone, Copy, Debug)]
pub struct TenantScope<'a> {
    db: &'a Db,
    tenant_id: &'a str,
}

impl<'a> TenantScope<'a> {
    pub fn tenant_id(&self) -> &'a str {
        self.tenant_id
    }

    fn pool(&self) -> &'a AnyPool {
        &self.db.pool
    }
}

/// Bumps a tenant's `updated_at` (strictly, even twice in one millisecond). Caches of derived tenant state —
/// template sets, the plugins each user may use — are keyed by it, so every replica sees a change on its
/// next request.
pub(crate) async fn touch_tenant(conn: &mut sqlx::AnyConnection, tenant_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE tenants SET updated_at = CASE WHEN updated_at >= $2 THEN updated_at + 1 ELSE $2 END WHERE id = $1",
    )
    .bind(tenant_id)
    .bind(crate::domain::now_millis())
    .execute(conn)
    .await?;
    Ok(())
}

impl TenantScope<'_> {
    /// [`touch_tenant`] on a pooled connection.
    pub(crate) async fn touch(&self) -> Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        touch_tenant(&mut conn, self.tenant_id).await
    }
}

/// Maps "no row" to `None` for optional look-ups.
fn optional<T>(r: std::result::Result<T, sqlx::Error>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(sqlx::Error::RowNotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
