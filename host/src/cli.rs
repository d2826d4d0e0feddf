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
        Command::Serve | Command::Migrate | Command::Demo => unreachable!("handled by main"),
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
