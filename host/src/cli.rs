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
    /// Manage programs and their tiers.
    #[command(subcommand)]
    Program(ProgramCommand),
    /// Install, list, enable, disable, upgrade and package plugins; set their secrets.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage the key plugin secrets are sealed with.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-seal every plugin secret under a new key. Without `secrets_key` in the configuration, a new key is
    /// generated into `{data_dir}/secrets.key` and the old one is dropped once every secret is re-sealed. With
    /// `secrets_key`, put the new key there and the old one in `secrets_old_keys` first, then run this.
    Rotate,
    /// Print a new random key (for `secrets_key`).
    NewKey,
}

#[derive(Debug, Subcommand)]
pub enum ProgramCommand {
    /// Create a program with its tiers.
    Create {
        #[arg(long)]
        tenant: String,
        /// Short key, e.g. `reseller`.
        #[arg(long)]
        key: String,
        #[arg(long)]
        name: String,
        /// Tier names, lowest first, separated by commas.
        #[arg(long)]
        tiers: String,
    },
    /// List a tenant's programs with their tiers.
    List {
        #[arg(long)]
        tenant: String,
    },
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
    /// Create a new plugin that builds: a page, a JSON route, storage, a setting, a unit test and a scenario test,
    /// with what it builds against (the Rust SDK or the WIT of this portal's API) written beside it.
    New {
        /// Plugin id: lowercase letters, digits and dashes.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::authoring::Lang,
        /// Where to create it (a directory named after the plugin is made inside).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a plugin with its language's toolchain and write its package (`{id}-{version}.tar.gz`).
    Build {
        /// The plugin's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write the package.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Serve a throwaway portal (SQLite, the demo tenant) with the plugin installed and enabled, rebuilding and
    /// reinstalling it whenever its files change.
    Dev {
        /// The plugin's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The port to serve on (on 127.0.0.1).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Build the plugin and run its scenario file (requests as demo users against a throwaway portal, with the
    /// statuses and JSON fields they must answer).
    Test {
        /// The plugin's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The scenario file; defaults to `tests/scenario.toml` in the plugin's directory.
        #[arg(long)]
        scenario: Option<PathBuf>,
    },
    /// Set a secret a plugin declares, sealed at rest; the value is read from `PORTICO_SECRET_VALUE` or standard
    /// input and never printed.
    SetSecret {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        plugin: String,
        #[arg(long)]
        name: String,
    },
    /// Remove a secret of a plugin.
    ClearSecret {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        plugin: String,
        #[arg(long)]
        name: String,
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

/// Rotates the key plugin secrets are sealed with (see [`SecretsCommand::Rotate`]).
pub async fn rotate_secrets(config: &crate::Config, db: &crate::storage::Db) -> anyhow::Result<()> {
    use crate::secrets::{Keyring, new_key, read_key_file, write_key_file};
    if config.secrets_key.is_some() {
        let ring = Keyring::load(config.secrets_key.as_ref(), &config.secrets_old_keys, &config.data_dir)?;
        let n = crate::app::reseal_secrets(db, &ring).await?;
        println!("re-sealed {n} secrets under key {}; the old keys may now leave secrets_old_keys", ring.current_id());
        return Ok(());
    }
    let path = config.data_dir.join("secrets.key");
    let mut keys = if path.exists() { read_key_file(&path)? } else { Vec::new() };
    keys.insert(0, new_key());
    write_key_file(&path, &keys)?;
    let ring = Keyring::from_keys(&keys)?;
    let n = crate::app::reseal_secrets(db, &ring).await?;
    // Every secret opens with the new key now: the old ones go.
    write_key_file(&path, &keys[..1])?;
    println!("re-sealed {n} secrets under a new key {} in {}", ring.current_id(), path.display());
    Ok(())
}

/// A value from an environment variable or, failing that, standard input.
fn read_value(var: &str, prompt: &str) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(var) {
        return Ok(v);
    }
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line)
}

/// A copy of a plugin directory's manifest with the component beside it, for packaging.
fn tempdir_with_wasm(dir: &std::path::Path, wasm: &std::path::Path) -> anyhow::Result<TempPackageDir> {
    let base = std::env::temp_dir().join(format!("portico-package-{}", crate::domain::new_id()));
    std::fs::create_dir_all(&base)?;
    std::fs::copy(dir.join("plugin.toml"), base.join("plugin.toml"))?;
    std::fs::copy(wasm, base.join("plugin.wasm")).map_err(|e| anyhow::anyhow!("{}: {e}", wasm.display()))?;
    for sub in ["templates", "static", "frame"] {
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
                crate::plugins::Installed::Replaced => {
                    println!("replaced {} {} for {}", p.plugin_id, p.version, t.slug)
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
        PluginCommand::SetSecret { tenant, plugin, name } => {
            let t = tenant_of(tenant).await?;
            let value = read_value("PORTICO_SECRET_VALUE", &format!("value of {name}: "))?;
            crate::plugins::set_secret(state, &t, &plugin, &name, Some(value.trim_end_matches(['\r', '\n'])), None)
                .await?;
            println!("set secret {name} of {plugin} for {}", t.slug);
        }
        PluginCommand::ClearSecret { tenant, plugin, name } => {
            let t = tenant_of(tenant).await?;
            crate::plugins::set_secret(state, &t, &plugin, &name, None, None).await?;
            println!("cleared secret {name} of {plugin} for {}", t.slug);
        }
        PluginCommand::New { .. }
        | PluginCommand::Build { .. }
        | PluginCommand::Dev { .. }
        | PluginCommand::Test { .. } => {
            unreachable!("authoring commands need no portal; see run_authoring")
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
    /// Delete a tenant and everything it owns (orgs, users, plugin data, mail, audit log). Its blobs stay in the
    /// blob store. Cannot be undone.
    Delete {
        #[arg(long)]
        slug: String,
        /// Confirm: without it nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
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
        Command::Program(ProgramCommand::Create { tenant, key, name, tiers }) => {
            let t = db.tenant_by_slug(&tenant).await?.ok_or_else(|| anyhow::anyhow!("no tenant {tenant}"))?;
            anyhow::ensure!(
                crate::domain::valid_key(&key),
                "a program key is lowercase letters, digits and dashes, starting with a letter"
            );
            let tiers = crate::domain::parse_tier_names(tiers.split(',')).map_err(|m| anyhow::anyhow!("tiers: {m}"))?;
            let p = db.tenant(&t.id).create_program(&key, &name, "", &tiers).await?;
            println!(
                "created program {} with tiers {}",
                p.key,
                p.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(" < ")
            );
        }
        Command::Program(ProgramCommand::List { tenant }) => {
            let t = db.tenant_by_slug(&tenant).await?.ok_or_else(|| anyhow::anyhow!("no tenant {tenant}"))?;
            for p in db.tenant(&t.id).list_programs().await? {
                println!(
                    "{}\t{}\t{}",
                    p.key,
                    p.name,
                    p.tiers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(" < ")
                );
            }
        }
        Command::Tenant(TenantCommand::List) => {
            for t in db.list_tenants().await? {
                println!("{}\t{}\t{}", t.slug, t.name, t.domain.unwrap_or_default());
            }
        }
        Command::Tenant(TenantCommand::Delete { slug, yes }) => {
            let t = db.tenant_by_slug(&slug).await?.ok_or_else(|| anyhow::anyhow!("no tenant {slug}"))?;
            if !yes {
                anyhow::bail!("deleting {slug} ({}) removes all of its data; run again with --yes to do it", t.name);
            }
            db.delete_tenant(&t.id).await?;
            println!("deleted tenant {slug}");
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
                renderer.check_override(&t.theme, &name, &body).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
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
        Command::Serve | Command::Migrate | Command::Demo | Command::Plugin(_) | Command::Secrets(_) => {
            unreachable!("handled by main")
        }
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

/// Whether a plugin command is one of the authoring commands, which run without the configured portal.
pub fn is_authoring(cmd: &PluginCommand) -> bool {
    matches!(
        cmd,
        PluginCommand::New { .. }
            | PluginCommand::Build { .. }
            | PluginCommand::Dev { .. }
            | PluginCommand::Test { .. }
    )
}

/// Runs `portico plugin new | build | dev | test`.
pub async fn run_authoring(config: &crate::Config, cmd: PluginCommand) -> anyhow::Result<()> {
    use crate::authoring::{Portal, Scenario, build, dev, new_plugin, run_scenario};
    match cmd {
        PluginCommand::New { name, lang, dir } => {
            let path = new_plugin(&name, &dir, lang)?;
            println!("Created {}. Next:", path.display());
            println!("  cd {}", path.display());
            println!("  portico plugin dev     # serve it in a throwaway portal, rebuilt as you save");
            println!("  portico plugin test    # run tests/scenario.toml");
            println!("  portico plugin build   # write the package to install");
        }
        PluginCommand::Build { dir, output } => {
            let built = tokio::task::spawn_blocking(move || build(&dir, output.as_deref())).await??;
            println!("Built {} {}: {} ({} bytes)", built.id, built.version, built.package.display(), built.bytes.len());
        }
        PluginCommand::Dev { dir, port } => {
            dev(&dir, std::net::SocketAddr::from(([127, 0, 0, 1], port)), config.cache_dir.clone()).await?
        }
        PluginCommand::Test { dir, scenario } => {
            crate::authoring::Lang::detect(&dir)?;
            let file = scenario.unwrap_or_else(|| dir.join("tests/scenario.toml"));
            let scenario = Scenario::load(&file)?;
            let portal =
                Portal::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), config.cache_dir.clone()).await?;
            let built = portal.build_and_install(&dir).await?;
            println!("Running {} against {} {}:", file.display(), built.id, built.version);
            let outcome = run_scenario(&portal, &scenario).await?;
            anyhow::ensure!(outcome.failed == 0, "{} of {} steps failed", outcome.failed, scenario.steps.len());
            println!("All {} steps passed.", outcome.passed);
        }
        _ => unreachable!("checked by is_authoring"),
    }
    Ok(())
}
