//! The `portico` binary.

use clap::Parser;
use portico::cli::{Cli, Command};
use portico::config::LogFormat;
use portico::{AppState, Config};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: a request allocates many small short-lived values (and a plugin
/// invocation more), and glibc's malloc spent a fifth of the host's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli.config)?;
    init_logging(config.log_format);
    match cli.command {
        Command::Migrate => {
            let db = portico::storage::Db::connect(&config.effective_database_url()).await?;
            db.migrate().await?;
            println!("migrations applied");
        }
        Command::Serve => serve(config, false).await?,
        Command::Demo => serve(config, true).await?,
        Command::Plugin(portico::cli::PluginCommand::New { name, dir, sdk }) => {
            let path = portico::cli::scaffold(&name, &dir, &sdk)?;
            println!("created {}: build it with `cargo build --release --target wasm32-wasip2` there", path.display());
        }
        Command::Secrets(portico::cli::SecretsCommand::NewKey) => {
            use secrecy::ExposeSecret;
            println!("{}", portico::secrets::new_key().expose_secret());
        }
        Command::Secrets(portico::cli::SecretsCommand::Rotate) => {
            let db = portico::storage::Db::connect(&config.effective_database_url()).await?;
            db.migrate().await?;
            portico::cli::rotate_secrets(&config, &db).await?;
        }
        Command::Plugin(cmd) => {
            let state = AppState::build(config).await?;
            portico::cli::run_plugin(&state, cmd).await?;
        }
        other => {
            let db = portico::storage::Db::connect(&config.effective_database_url()).await?;
            db.migrate().await?;
            portico::cli::run_admin(&db, &config, other).await?;
        }
    }
    Ok(())
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let addr = config.addr;
    let state = AppState::build(config).await?;
    if demo {
        let seeded = portico::demo::seed(&state.db).await?;
        portico::demo::logos(&state).await?;
        portico::demo::install_bundled(&state, std::path::Path::new(".")).await?;
        println!(
            "{}",
            if seeded { "Seeded the demo tenant \"acme\"." } else { "The demo tenant \"acme\" exists; not seeding." }
        );
        println!("Demo sign-ins (password: {}):", portico::demo::DEMO_PASSWORD);
        for (email, _, role) in portico::demo::DEMO_USERS {
            println!("  {email:<26} {}", role.label());
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, startup_ms = started.elapsed().as_millis() as u64, "portico is serving");
    println!("Portico is serving at http://{}", listener.local_addr()?);
    portico::serve(state, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("PORTICO_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
