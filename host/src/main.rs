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

/// A failed command prints one line (the error and its causes) and exits with 1: never a stack trace, even with
/// `RUST_BACKTRACE` set. An internal failure (the database, say) also logs its full detail.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if is_internal(&e) {
                tracing::error!(error = ?e, "the command failed");
            }
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: many errors already name their source in their message.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

/// Whether an error is the system's rather than the user's: the database, or the storage layer over it.
fn is_internal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<sqlx::Error>() || c.is::<portico::storage::StorageError>())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config)?;
    // An author's terminal shows the build and the plugin's answers, not the throwaway portal's request log.
    let authoring = matches!(&cli.command, Command::Plugin(cmd) if portico::cli::is_authoring(cmd));
    init_logging(config.log_format, if authoring { "warn" } else { "info,sqlx=warn,tower_http=info" });
    match cli.command {
        Command::Migrate => {
            let db = portico::storage::Db::connect(&config.effective_database_url()).await?;
            db.migrate().await?;
            println!("migrations applied");
        }
        Command::Serve => serve(config, false).await?,
        Command::Demo => serve(config, true).await?,
        Command::Plugin(cmd) if portico::cli::is_authoring(&cmd) => portico::cli::run_authoring(&config, cmd).await?,
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

fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_env("PORTICO_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
