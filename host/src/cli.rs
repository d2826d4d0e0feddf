//! The `portico` command line: serve, migrate, demo, and tenant and user administration.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::domain::{OrgKind, OrgProfile, Role, UserStatus};
use crate::storage::{Db, NewTenant, NewUser};

#[derive(Debug, Parser)]
#[command(name = "portico", version, about = "Portico: an open partner portal platform")]
pub struct Cli {
    /// Configuration file; `PORTICO_*` environment variables override it.
    #[arg(long, short, global = true, default_value = "portico.toml", env = "PORTICO_CONFIG")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Seed the demo tenant if it is missing, print the demo sign-ins, then serve.
    Demo,
    /// Manage tenants (vendors).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Install, list, enable, disable, upgrade and package plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install a plugin package (a `.tar.gz` or a package directory) for a tenant.
    Install {
        #[arg(long)]
        tenant: String,
        /// The package: a `.tar.gz`, or a directory with `plugin.toml` and `templates/`.
        path: PathBuf,
        /// The component, when the directory does not hold `plugin.wasm` (e.g. `target/wasm32-wasip2/plugin/x.wasm`).
        #[arg(long)]
        wasm: Option<PathBuf>,
    },
    /// Upgrade an installed plugin to a newer package (runs its data migration; rolls back on failure).
    Upgrade {
        #[arg(long)]
        tenant: String,
        path: PathBuf,
        #[arg(long)]
        wasm: Option<PathBuf>,
    },
    /// List a tenant's plugins with version and per-program enablement.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Enable a plugin in a program (or every program).
    Enable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        plugin: String,
        /// Program key; omit for every program.
        #[arg(long)]
        program: Option<String>,
    },
    /// Disable a plugin in a program (or every program).
    Disable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        plugin: String,
        #[arg(long)]
        program: Option<String>,
    },
    /// Build a `.tar.gz` package from a plugin directory and its compiled component.
    Package {
        /// The plugin's directory (with `plugin.toml`, `templates/`, `static/`).
        dir: PathBuf,
        /// The compiled component; defaults to `plugin.wasm` in the directory.
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// Where to write the package; defaults to `{id}-{version}.tar.gz`.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Reads a package from a `.tar.gz` file or a directory (with the component given separately if needed).
pub fn read_package(path: &std::path::Path, wasm: Option<&std::path::Path>) -> anyhow::Result<Vec<u8>> {
    if path.is_dir() {
        let mut package = match crate::plugins::Package::from_dir(path) {
            Ok(p) => p,
            Err(crate::plugins::PackageError::Missing("plugin.wasm")) if wasm.is_some() => {
                let tmp = tempdir_with_wasm(path, wasm.expect("checked"))?;
                crate::plugins::Package::from_dir(tmp.path())?
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(w) = wasm {
            package.wasm = std::fs::read(w).map_err(|e| anyhow::anyhow!("{}: {e}", w.display()))?;
        }
        Ok(package.to_tar_gz())
    } else {
        Ok(std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?)
    }
}

/// A copy of a plugin directory's manifest with the component beside it, for packaging.
fn tempdir_with_wasm(dir: &std::path::Path, wasm: &std::path::Path) -> anyhow::Result<TempPackageDir> {
    let base = std::env::temp_dir().join(format!("portico-package-{}", crate::domain::new_id()));
    std::fs::create_dir_all(&base)?;
    std::fs::copy(dir.join("plugin.toml"), base.join("plugin.toml"))?;
    std::fs::copy(wasm, base.join("plugin.wasm")).map_err(|e| anyhow::anyhow!("{}: {e}", wasm.display()))?;
    for sub in ["templates", "static"] {
        copy_dir(&dir.join(sub), &base.join(sub))?;
    }
    Ok(TempPackageDir(base))
}

struct TempPackageDir(PathBuf);

impl TempPackageDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempPackageDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let meta = std::fs::symlink_metadata(e.path())?;
        if meta.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else if meta.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Runs a plugin command.
pub async fn run_plugin(state: &crate::AppState, cmd: PluginCommand) -> anyhow::Result<()> {
    let tenant_of = |slug: String| async move {
        state.db.tenant_by_slug(&slug).await?.ok_or_else(|| anyhow::anyhow!("no tenant {slug}"))
    };
    match cmd {
        PluginCommand::Install { tenant, path, wasm } | PluginCommand::Upgrade { tenant, path, wasm } => {
            let t = tenant_of(tenant).await?;
            let bytes = read_package(&path, wasm.as_deref())?;
            let (p, outcome) = crate::plugins::install(state, &t, &bytes, None).await?;
            match outcome {
                crate::plugins::Installed::New => println!("installed {} {} for {}", p.plugin_id, p.version, t.slug),
                crate::plugins::Installed::Upgraded { from } => {
                    println!("upgraded {} from {from} to {} for {}", p.plugin_id, p.version, t.slug)
                }
            }
        }
        PluginCommand::List { tenant } => {
            let t = tenant_of(tenant).await?;
            let scope = state.db.tenant(&t.id);
            let programs = scope.list_programs().await?;
            for p in scope.installed_plugins().await? {
                let enabled = scope.plugin_programs(&p.plugin_id).await?;
                let on: Vec<&str> = programs
                    .iter()
                    .filter(|prog| enabled.iter().any(|e| e.enabled && e.program_id == prog.id))
                    .map(|prog| prog.key.as_str())
                    .collect();
                println!(
                    "{}	{}	enabled in: {}",
                    p.plugin_id,
                    p.version,
                    if on.is_empty() { "-".to_string() } else { on.join(", ") }
                );
            }
        }
        PluginCommand::Enable { tenant, plugin, program } => {
            let t = tenant_of(tenant).await?;
            for key in set_enabled(state, &t, &plugin, program.as_deref(), true).await? {
                println!("enabled {plugin} in {key}");
            }
        }
        PluginCommand::Disable { tenant, plugin, program } => {
            let t = tenant_of(tenant).await?;
            for key in set_enabled(state, &t, &plugin, program.as_deref(), false).await? {
                println!("disabled {plugin} in {key}");
            }
        }
        PluginCommand::Package { dir, wasm, output } => {
            let bytes = read_package(&dir, wasm.as_deref())?;
            let package = crate::plugins::Package::from_tar_gz(&bytes)?;
            let out = output.unwrap_or_else(|| {
                PathBuf::from(format!("{}-{}.tar.gz", package.manifest.id, package.manifest.version))
            });
            std::fs::write(&out, &bytes)?;
            println!("wrote {} ({} bytes)", out.display(), bytes.len());
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with its vendor organisation.
    Create {
        /// URL-safe short name, used as `{slug}.{base_domain}`.
        #[arg(long)]
        slug: String,
        /// The vendor's name.
        #[arg(long)]
        name: String,
        /// A custom domain that serves this tenant.
        #[arg(long)]
        domain: Option<String>,
    },
    /// List tenants.
    List,
    /// Override one of the theme's templates for a tenant (checked before it is saved), or remove the override.
    Template {
        #[arg(long)]
        tenant: String,
        /// Template name, e.g. `login.html` or `admin/orgs.html`.
        #[arg(long)]
        name: String,
        /// File with the new template; omit with `--remove`.
        #[arg(long, required_unless_present = "remove")]
        file: Option<PathBuf>,
        /// Remove the override and use the theme's template again.
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an active user. The password is read from `PORTICO_NEW_PASSWORD` or standard input.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// vendor_admin, channel_manager, partner_admin or partner_user.
        #[arg(long)]
        role: String,
        /// The partner org's name (vendor roles join the vendor org).
        #[arg(long)]
        org: Option<String>,
    },
    /// List the users of a tenant.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Set a user's password (from `PORTICO_NEW_PASSWORD` or standard input); ends their sessions.
    SetPassword {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
}

/// Runs a tenant or user command against `db`, printing to stdout.
pub async fn run_admin(db: &Db, config: &crate::Config, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Tenant(TenantCommand::Create { slug, name, domain }) => {
            anyhow::ensure!(
                crate::tenancy::valid_slug(&slug),
                "slug must be 2-40 lowercase letters, digits or dashes, starting with a letter"
            );
            let t = db
                .create_tenant(&NewTenant { slug, name: name.clone(), domain: domain.map(|d| d.to_lowercase()) })
                .await?;
            db.tenant(&t.id).create_org(OrgKind::Vendor, &OrgProfile { name, ..Default::default() }).await?;
            println!("created tenant {} ({})", t.slug, t.id);
        }
        Command::Tenant(TenantCommand::List) => {
            for t in db.list_tenants().await? {
                println!("{}\t{}\t{}", t.slug, t.name, t.domain.unwrap_or_default());
            }
        }
        Command::Tenant(TenantCommand::Template { tenant, name, file, remove }) => {
            let t = db.tenant_by_slug(&tenant).await?.ok_or_else(|| anyhow::anyhow!("no tenant {tenant}"))?;
            let scope = db.tenant(&t.id);
            if remove {
                scope.set_template_override(&name, None).await?;
                println!("removed the override of {name} for {tenant}");
            } else {
                let path = file.expect("clap requires --file without --remove");
                let body = std::fs::read_to_string(&path)?;
                let renderer = crate::render::Renderer::load(&config.themes_dir)?;
                renderer.check_override(&t.theme, &name, &body)?;
                scope.set_template_override(&name, Some(&body)).await?;
                println!("{tenant} now uses {} for {name}", path.display());
            }
        }
        Command::User(UserCommand::Create { tenant, email, name, role, org }) => {
            let t = db.tenant_by_slug(&tenant).await?.ok_or_else(|| anyhow::anyhow!("no tenant {tenant}"))?;
            let scope = db.tenant(&t.id);
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role}"))?;
            let org = if role.is_vendor() {
                scope.vendor_org().await?.ok_or_else(|| anyhow::anyhow!("tenant {tenant} has no vendor org"))?
            } else {
                let name = org.ok_or_else(|| anyhow::anyhow!("partner roles need --org"))?;
                let page = scope.list_partner_orgs(&crate::domain::ListQuery { q: name.clone(), page: None }).await?;
                page.items
                    .into_iter()
                    .find(|o| o.name == name)
                    .ok_or_else(|| anyhow::anyhow!("no partner org named {name}"))?
            };
            let password = read_new_password()?;
            let hash = crate::auth::hash_password(&password);
            let u = scope
                .create_user(&NewUser {
                    org_id: org.id,
                    email,
                    name,
                    role,
                    status: UserStatus::Active,
                    password_hash: Some(hash),
                })
                .await?;
            println!("created user {} ({})", u.email, u.role.as_str());
        }
        Command::User(UserCommand::List { tenant }) => {
            let t = db.tenant_by_slug(&tenant).await?.ok_or_else(|| anyhow::anyhow!("no tenant {tenant}"))?;
            let mut lq = crate::domain::ListQuery::default();
            loop {
                let page = db.tenant(&t.id).list_users(None, &lq).await?;
                for u in &page.items {
                    println!("{}\t{}\t{}\t{}", u.email, u.role.as_str(), u.status.as_str(), u.org_name);
                }
                if page.page >= page.pages() {
                    break;
                }
                lq.page = Some(page.page + 1);
            }
        }
        Command::User(UserCommand::SetPassword { tenant, email }) => {
            let t = db.tenant_by_slug(&tenant).await?.ok_or_else(|| anyhow::anyhow!("no tenant {tenant}"))?;
            let scope = db.tenant(&t.id);
            let u = scope.user_by_email(&email).await?.ok_or_else(|| anyhow::anyhow!("no user {email}"))?;
            let password = read_new_password()?;
            scope.set_password(&u.id, &crate::auth::hash_password(&password)).await?;
            println!("password set for {}", u.email);
        }
        Command::Serve | Command::Migrate | Command::Demo | Command::Plugin(_) => unreachable!("handled by main"),
    }
    Ok(())
}

fn read_new_password() -> anyhow::Result<String> {
    let pw = match std::env::var("PORTICO_NEW_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    crate::auth::check_new_password(&pw, &pw).map_err(|m| anyhow::anyhow!("password: {m}"))?;
    Ok(pw)
}

/// Enables or disables an installed plugin in one program (by key) or all; returns the program keys changed.
pub async fn set_enabled(
    state: &crate::AppState,
    tenant: &crate::domain::Tenant,
    plugin: &str,
    program: Option<&str>,
    enabled: bool,
) -> anyhow::Result<Vec<String>> {
    let scope = state.db.tenant(&tenant.id);
    scope
        .installed_plugin(plugin)
        .await?
        .ok_or_else(|| anyhow::anyhow!("plugin {plugin} is not installed for {}", tenant.slug))?;
    let programs: Vec<_> =
        scope.list_programs().await?.into_iter().filter(|p| program.is_none_or(|k| k == p.key)).collect();
    anyhow::ensure!(!programs.is_empty(), "no program {}", program.unwrap_or("at all"));
    let mut keys = Vec::new();
    for p in programs {
        scope.set_plugin_enabled(plugin, &p.id, enabled).await?;
        scope.audit(None, if enabled { "plugin.enabled" } else { "plugin.disabled" }, plugin, &p.key).await?;
        keys.push(p.key);
    }
    Ok(keys)
}
