//! A throwaway portal for an author's plugin: SQLite in a temporary directory, the demo tenant seeded, the plugin
//! installed and enabled in every program. `portico plugin dev` serves one and rebuilds the plugin into it as its
//! files change; `portico plugin test` runs a scenario against one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::app::AppState;
use crate::config::Config;
use crate::domain::Tenant;
use crate::plugins::Installed;

use super::{Lang, build, write_themes};

/// A portal that lives as long as this value; dropping it stops the server and removes its data.
pub struct Portal {
    pub state: AppState,
    pub tenant: Tenant,
    /// Where it serves, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal").field("url", &self.url).finish()
    }
}

impl Portal {
    /// Seeds a fresh demo portal and serves it on `addr` (port 0 picks a free one). Compiled components are cached
    /// in `cache_dir`, by default the user's (`~/.cache/portico`), so the next portal starts warm.
    pub async fn start(addr: SocketAddr, cache_dir: Option<PathBuf>) -> anyhow::Result<Portal> {
        let dir = tempfile::Builder::new().prefix("portico-dev-").tempdir()?;
        let themes_dir = write_themes(dir.path())?;
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: format!("sqlite://{}?mode=rwc", dir.path().join("portico.db").display()),
            themes_dir,
            addr,
            default_tenant: Some("acme".into()),
            cache_dir: cache_dir.or_else(user_cache_dir),
            ..Config::default()
        };
        let state = AppState::build(config).await?;
        crate::demo::seed(&state.db).await?;
        let tenant =
            state.db.tenant_by_slug("acme").await?.ok_or_else(|| anyhow::anyhow!("the demo tenant is missing"))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (choose another with --port)"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(crate::serve(state.clone(), listener, async move {
            let _ = stopped.await;
        }));
        Ok(Portal { state, tenant, url, stop: Some(stop), _dir: dir })
    }

    /// Installs a package, replacing the same version, and enables it in every program the first time.
    pub async fn install(&self, bytes: &[u8]) -> anyhow::Result<Installed> {
        let (installed, outcome) = crate::plugins::reinstall(&self.state, &self.tenant, bytes).await?;
        if outcome == Installed::New {
            crate::cli::set_enabled(&self.state, &self.tenant, &installed.plugin_id, None, true).await?;
        }
        Ok(outcome)
    }

    /// Builds the plugin in `dir` (off the async threads: a build takes seconds) and installs it.
    pub async fn build_and_install(&self, dir: &Path) -> anyhow::Result<super::Built> {
        let owned = dir.to_path_buf();
        let built = tokio::task::spawn_blocking(move || build(&owned, None)).await??;
        self.install(&built.bytes).await?;
        Ok(built)
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `portico plugin dev`: serves a throwaway portal with the plugin in `dir`, rebuilding and reinstalling it each
/// time its files change, until interrupted.
pub async fn dev(dir: &Path, addr: SocketAddr, cache_dir: Option<PathBuf>) -> anyhow::Result<()> {
    Lang::detect(dir)?;
    let dir = std::fs::canonicalize(dir)?;
    let portal = Portal::start(addr, cache_dir).await?;
    let started = Instant::now();
    let first = portal.build_and_install(&dir).await?;
    println!("Built and installed {} {} in {:.1} s.", first.id, first.version, started.elapsed().as_secs_f64());
    println!("Portico is serving at {} — the plugin is at {}/p/{}/", portal.url, portal.url, first.id);
    println!("Sign in as (password: {}):", crate::demo::DEMO_PASSWORD);
    for (email, _, role) in crate::demo::DEMO_USERS {
        println!("  {email:<26} {}", role.label());
    }
    println!("Watching {} for changes; Ctrl-C stops (the portal and its data go).", dir.display());

    let (tx, mut changed) = tokio::sync::mpsc::unbounded_channel::<()>();
    let root = dir.clone();
    let mut watcher = notify_debouncer_mini::new_debouncer(
        Duration::from_millis(300),
        move |events: notify_debouncer_mini::DebounceEventResult| {
            if let Ok(events) = events
                && events.iter().any(|e| is_source(&root, &e.path))
            {
                let _ = tx.send(());
            }
        },
    )?;
    watcher.watcher().watch(&dir, notify_debouncer_mini::notify::RecursiveMode::Recursive)?;
    loop {
        tokio::select! {
            Some(()) = changed.recv() => {
                while changed.try_recv().is_ok() {}
                let started = Instant::now();
                match portal.build_and_install(&dir).await {
                    Ok(b) => println!("Rebuilt and reinstalled {} {} in {:.1} s: reload the page.", b.id, b.version,
                        started.elapsed().as_secs_f64()),
                    Err(e) => eprintln!("error: {e:#}\nThe previous build keeps serving; save a fix to try again."),
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}

/// `$XDG_CACHE_HOME/portico` or `~/.cache/portico`.
fn user_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("portico"))
}

/// Whether a changed path is the author's source, not a build output, a dependency or a generated binding.
fn is_source(root: &Path, path: &Path) -> bool {
    const SKIP_DIRS: [&str; 7] = ["target", "node_modules", ".git", "__pycache__", ".venv", "bindings", "types"];
    let Ok(rel) = path.strip_prefix(root) else { return false };
    let rel: PathBuf = rel.to_path_buf();
    if rel.components().any(|c| SKIP_DIRS.iter().any(|d| c.as_os_str() == *d)) {
        return false;
    }
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !(name == "plugin.wasm" || name.ends_with(".tar.gz") || name.ends_with('~') || name.starts_with(".#"))
}

#[cfg(test)]
mod tests {
    use super::is_source;
    use std::path::Path;

    #[test]
    fn build_outputs_do_not_trigger_a_rebuild() {
        let root = Path::new("/p");
        for p in ["/p/app.py", "/p/templates/index.html", "/p/plugin.toml", "/p/src/lib.rs"] {
            assert!(is_source(root, Path::new(p)), "{p}");
        }
        for p in ["/p/target/x.wasm", "/p/plugin.wasm", "/p/notes-0.1.0.tar.gz", "/p/node_modules/a/b.js", "/q/app.py"]
        {
            assert!(!is_source(root, Path::new(p)), "{p}");
        }
    }
}
