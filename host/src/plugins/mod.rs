//! Plugin lifecycle: installing packages for a tenant (checked, compiled, stored), upgrading with the
//! migrate export, enabling and configuring them per program, and finding the plugins a request may use.

pub mod jobs;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use portico_plugin_api::{Manifest, Role as ManifestRole, SettingField, api_version, validate_settings};
use sha2::{Digest, Sha256};

pub use portico_plugin_api::package::{self, Package, PackageError};

use crate::app::AppState;
use crate::domain::{Role, Tenant, now_millis};
use crate::runtime::{CallerInfo, Invocation, LoadedPlugin, RuntimeError};
use crate::storage::{InstalledPlugin, StorageError, TenantScope};

/// Why installing, upgrading or loading a plugin failed. Messages name what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("{0}")]
    Incompatible(String),
    #[error("plugin.wasm: {0}")]
    Component(String),
    #[error("templates/{0}")]
    Template(String),
    #[error("{id} {version} is already installed; a different version upgrades it")]
    SameVersion { id: String, version: String },
    #[error("{id}: refusing to go back from {installed} to {offered}")]
    Downgrade { id: String, installed: String, offered: String },
    #[error("the upgrade's data migration failed, so {0} stays at the installed version: {1}")]
    Migration(String, String),
    #[error("plugin {0} is not installed")]
    NotInstalled(String),
    #[error("{0} is not one of the secrets plugin {1} declares")]
    UnknownSecret(String, String),
    #[error("give a value of 1 byte to 64 KiB")]
    SecretValue,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("blob store: {0}")]
    Blob(String),
    #[error("there is no space left to store the package")]
    BlobFull(String),
}

/// An installed plugin, unpacked and compiled.
#[derive(Debug)]
pub struct Unpacked {
    pub package_key: String,
    pub templates: BTreeMap<String, String>,
    pub statics: BTreeMap<String, Vec<u8>>,
    pub frames: BTreeMap<String, Vec<u8>>,
    pub loaded: Arc<LoadedPlugin>,
}

impl Unpacked {
    pub fn manifest(&self) -> &Manifest {
        &self.loaded.manifest
    }
}

/// Unpacked plugins by package key (content-addressed, so never stale), and which plugins each kind of user may
/// use, keyed by the tenant's `updated_at` (bumped by every change to installs, enablement, settings, programs or
/// enrolments, so an entry is never served after such a change, on any replica).
#[derive(Debug, Default)]
pub struct Registry {
    unpacked: Mutex<HashMap<String, Arc<Unpacked>>>,
    active: Mutex<HashMap<ActiveKey, Arc<[Active]>>>,
}

/// (tenant, its `updated_at`, the user's org or `*` for vendor staff, the program asked for).
type ActiveKey = (String, i64, String, Option<String>);

/// Entries kept before the cache is cleared (old `updated_at` versions are never asked for again).
const ACTIVE_CACHE_LIMIT: usize = 4096;

/// A plugin a request may use, in the program that applies.
#[derive(Debug, Clone)]
pub struct Active {
    pub plugin: Arc<Unpacked>,
    /// Program key and id.
    pub program: (String, String),
    /// Validated settings for that program (JSON object).
    pub settings: String,
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    New,
    Upgraded {
        from: String,
    },
    /// The same version again, replaced in place ([`reinstall`]).
    Replaced,
}

fn compile_checked(state: &AppState, package_key: String, p: Package) -> Result<Arc<Unpacked>, LifecycleError> {
    p.manifest.check_api(&api_version()).map_err(LifecycleError::Incompatible)?;
    let compiled = state.runtime.compile(&p.wasm).map_err(|e| match e {
        RuntimeError::Invalid(m) => LifecycleError::Component(m),
        other => LifecycleError::Component(other.to_string()),
    })?;
    let limits = state.runtime.limits.for_manifest(&p.manifest);
    Ok(Arc::new(Unpacked {
        package_key,
        templates: p.templates,
        statics: p.statics,
        frames: p.frames,
        loaded: Arc::new(LoadedPlugin { manifest: p.manifest, compiled, limits }),
    }))
}

/// Installs (or upgrades) a package for a tenant. An upgrade runs the new version's migrate export with the
/// old version first; if it fails, the old version stays installed. The version installed already is refused.
pub async fn install(
    state: &AppState,
    tenant: &Tenant,
    bytes: &[u8],
    actor: Option<&str>,
) -> Result<(InstalledPlugin, Installed), LifecycleError> {
    install_package(state, tenant, bytes, actor, false).await
}

/// Installs a package like [`install`], but replaces the version installed already (no migration, data kept):
/// the author's rebuild in `portico plugin dev`, never a vendor's portal.
pub async fn reinstall(
    state: &AppState,
    tenant: &Tenant,
    bytes: &[u8],
) -> Result<(InstalledPlugin, Installed), LifecycleError> {
    install_package(state, tenant, bytes, Some("portico plugin dev"), true).await
}

async fn install_package(
    state: &AppState,
    tenant: &Tenant,
    bytes: &[u8],
    actor: Option<&str>,
    replace_same_version: bool,
) -> Result<(InstalledPlugin, Installed), LifecycleError> {
    let package = Package::from_tar_gz(bytes)?;
    check_templates(state, &package).await?;
    let package_key = format!("plugins/{}.tar.gz", hex::encode(Sha256::digest(bytes)));
    let unpacked = compile_checked(state, package_key.clone(), package.clone())?;
    let m = unpacked.manifest();
    let scope = state.db.tenant(&tenant.id);
    let previous = scope.installed_plugin(&m.id).await?;
    let outcome = match &previous {
        None => Installed::New,
        Some(prev) if replace_same_version && semver::Version::parse(&prev.version).is_ok_and(|v| v == m.version) => {
            Installed::Replaced
        }
        Some(prev) => {
            let old = semver::Version::parse(&prev.version).unwrap_or(semver::Version::new(0, 0, 0));
            if old == m.version {
                return Err(LifecycleError::SameVersion { id: m.id.clone(), version: m.version.to_string() });
            }
            if old > m.version {
                return Err(LifecycleError::Downgrade {
                    id: m.id.clone(),
                    installed: old.to_string(),
                    offered: m.version.to_string(),
                });
            }
            let inv = system_invocation(state, tenant, &unpacked, None, "{}".into());
            match state.runtime.migrate(unpacked.loaded.clone(), inv, prev.version.clone()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(LifecycleError::Migration(m.id.clone(), format!("{e:?}"))),
                Err(e) => return Err(LifecycleError::Migration(m.id.clone(), e.to_string())),
            }
            Installed::Upgraded { from: prev.version.clone() }
        }
    };
    state.blobs.put(&package_key, bytes.to_vec()).await.map_err(|e| match e {
        crate::blobs::BlobError::Full(_) => LifecycleError::BlobFull(e.to_string()),
        other => LifecycleError::Blob(other.to_string()),
    })?;
    let now = now_millis();
    let record = InstalledPlugin {
        plugin_id: m.id.clone(),
        version: m.version.to_string(),
        manifest: serde_json::to_string(m).expect("manifest serializes"),
        package_key: package_key.clone(),
        wasm_hash: unpacked.loaded.compiled.wasm_hash.clone(),
        installed_at: previous.as_ref().map(|p| p.installed_at).unwrap_or(now),
        updated_at: now,
    };
    scope.save_install(&record, &m.events).await?;
    let detail = match &outcome {
        Installed::New => format!("{} installed", m.version),
        Installed::Upgraded { from } => format!("{from} -> {}", m.version),
        Installed::Replaced => format!("{} rebuilt", m.version),
    };
    scope.audit(actor, "plugin.installed", &m.id, &detail).await?;
    state.plugins.unpacked.lock().expect("registry lock").insert(package_key, unpacked);
    Ok((record, outcome))
}

/// Checks, in the sandboxed renderer, that every template of a package parses.
async fn check_templates(state: &AppState, p: &Package) -> Result<(), LifecycleError> {
    let templates = p
        .templates
        .iter()
        .map(|(name, source)| crate::runtime::Template { name: name.clone(), source: source.clone() })
        .collect();
    state.runtime.check_templates(templates).await.map_err(|e| match e {
        crate::runtime::RenderError::Template(m) => LifecycleError::Template(m),
        other => LifecycleError::Template(other.to_string()),
    })
}

/// Sets (or, with `None`, clears) a secret of an installed plugin, for a name its manifest declares: sealed,
/// stored and audited with the actor, never with the value.
pub async fn set_secret(
    state: &AppState,
    tenant: &Tenant,
    plugin_id: &str,
    name: &str,
    value: Option<&str>,
    actor: Option<&str>,
) -> Result<(), LifecycleError> {
    let scope = state.db.tenant(&tenant.id);
    let installed =
        scope.installed_plugin(plugin_id).await?.ok_or_else(|| LifecycleError::NotInstalled(plugin_id.into()))?;
    let manifest: Manifest =
        serde_json::from_str(&installed.manifest).map_err(|e| LifecycleError::Incompatible(e.to_string()))?;
    if !manifest.grants.secrets.iter().any(|s| s == name) {
        return Err(LifecycleError::UnknownSecret(name.to_string(), plugin_id.to_string()));
    }
    match value {
        Some(v) => {
            if v.is_empty() || v.len() > 64 * 1024 {
                return Err(LifecycleError::SecretValue);
            }
            let sealed = state.keyring.seal(&tenant.id, plugin_id, name, v);
            scope.set_plugin_secret(plugin_id, name, &sealed).await?;
            scope.audit(actor, "plugin.secret.set", plugin_id, &format!("secret {name}")).await?;
        }
        None => {
            if scope.clear_plugin_secret(plugin_id, name).await? {
                scope.audit(actor, "plugin.secret.cleared", plugin_id, &format!("secret {name}")).await?;
            }
        }
    }
    Ok(())
}

/// The unpacked, compiled form of an installed plugin (from the cache, or the blob store on first use).
pub async fn unpacked(state: &AppState, installed: &InstalledPlugin) -> Result<Arc<Unpacked>, LifecycleError> {
    if let Some(u) = state.plugins.unpacked.lock().expect("registry lock").get(&installed.package_key) {
        return Ok(u.clone());
    }
    let bytes = state
        .blobs
        .get(&installed.package_key)
        .await
        .map_err(|e| LifecycleError::Blob(e.to_string()))?
        .ok_or_else(|| LifecycleError::Blob(format!("{} is missing from the blob store", installed.package_key)))?;
    let package = Package::from_tar_gz(&bytes)?;
    let u = compile_checked(state, installed.package_key.clone(), package)?;
    state.plugins.unpacked.lock().expect("registry lock").insert(installed.package_key.clone(), u.clone());
    Ok(u)
}

/// The settings of a plugin in a program: stored values checked against the schema, defaults filled in.
/// Values a newer schema no longer accepts fall back to their defaults.
pub fn effective_settings(schema: &[SettingField], stored: &str) -> String {
    let values =
        serde_json::from_str::<serde_json::Value>(stored).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default();
    let settings = validate_settings(schema, &values)
        .or_else(|_| validate_settings(schema, &serde_json::Map::new()))
        .unwrap_or_default();
    serde_json::Value::Object(settings).to_string()
}

/// Programs that apply to a user: their org's for partners, every program for vendor staff; `(key, id)`.
/// The programs whose plugins `who` may use: every program for vendor staff (`*`), an org's enrolments otherwise.
async fn programs_for(scope: TenantScope<'_>, who: &str) -> Result<Vec<(String, String)>, StorageError> {
    if who == "*" {
        scope.program_keys().await
    } else {
        Ok(scope.enrolments_of_org(who).await?.into_iter().map(|e| (e.program_key, e.program_id)).collect())
    }
}

/// The plugins a user may use: installed, and enabled in one of their programs (the first such program applies,
/// or `program_key` when given and enabled).
pub async fn active_for(
    state: &AppState,
    tenant: &Tenant,
    user: &crate::domain::User,
    program_key: Option<&str>,
) -> Result<Arc<[Active]>, LifecycleError> {
    let who = if user.role.is_vendor() { "*".to_string() } else { user.org_id.clone() };
    active_among(state, tenant, who, program_key).await
}

/// The plugins enabled in the programs of `who` (an org, or `*` for all), cached until the tenant changes.
async fn active_among(
    state: &AppState,
    tenant: &Tenant,
    who: String,
    program_key: Option<&str>,
) -> Result<Arc<[Active]>, LifecycleError> {
    let key: ActiveKey = (tenant.id.clone(), tenant.updated_at, who, program_key.map(str::to_string));
    if let Some(hit) = state.plugins.active.lock().expect("registry lock").get(&key) {
        return Ok(hit.clone());
    }
    let scope = state.db.tenant(&tenant.id);
    let programs = programs_for(scope, &key.2).await?;
    // For each plugin, the first of the user's programs (in their order) where it is enabled applies.
    let mut best: Vec<(InstalledPlugin, usize, String)> = Vec::new();
    for (installed, program_id, stored) in scope.enabled_plugins().await? {
        let Some(pos) = programs.iter().position(|(key, id)| *id == program_id && program_key.is_none_or(|k| k == key))
        else {
            continue;
        };
        match best.iter_mut().find(|(i, _, _)| i.plugin_id == installed.plugin_id) {
            Some(entry) if pos < entry.1 => *entry = (installed, pos, stored),
            Some(_) => {}
            None => best.push((installed, pos, stored)),
        }
    }
    let mut out = Vec::with_capacity(best.len());
    for (installed, pos, stored) in best {
        match unpacked(state, &installed).await {
            Ok(plugin) => {
                let settings = effective_settings(&plugin.manifest().settings, &stored);
                out.push(Active { plugin, program: programs[pos].clone(), settings });
            }
            Err(e) => tracing::error!(plugin = %installed.plugin_id, error = %e, "installed plugin does not load"),
        }
    }
    let out: Arc<[Active]> = out.into();
    let mut cache = state.plugins.active.lock().expect("registry lock");
    if cache.len() >= ACTIVE_CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, out.clone());
    Ok(out)
}

/// The tenant's channel figures: the host's own, then those every plugin enabled in one of its programs declares
/// (by plugin id).
pub async fn metric_catalogue(
    state: &AppState,
    tenant: &Tenant,
) -> Result<Vec<crate::analytics::MetricDef>, LifecycleError> {
    let active = active_among(state, tenant, "*".into(), None).await?;
    let mut manifests: Vec<&Manifest> = active.iter().map(|a| a.plugin.manifest()).collect();
    manifests.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(crate::analytics::catalogue(manifests))
}

/// Does the manifest let this role in?
pub fn role_allowed(roles: &[ManifestRole], role: Role) -> bool {
    roles.iter().any(|r| manifest_role(*r) == role)
}

pub fn manifest_role(r: ManifestRole) -> Role {
    match r {
        ManifestRole::VendorAdmin => Role::VendorAdmin,
        ManifestRole::ChannelManager => Role::ChannelManager,
        ManifestRole::PartnerAdmin => Role::PartnerAdmin,
        ManifestRole::PartnerUser => Role::PartnerUser,
    }
}

/// An invocation on a user's behalf.
pub fn user_invocation(
    state: &AppState,
    tenant: &Tenant,
    active: &Active,
    user: &crate::domain::User,
    request_id: &str,
) -> Invocation {
    let caller = CallerInfo {
        user_id: user.id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        org_id: user.org_id.clone(),
        org_name: user.org_name.clone(),
        role: user.role,
    };
    let tz = if user.timezone.is_empty() { tenant.timezone.clone() } else { user.timezone.clone() };
    Invocation {
        tenant_id: tenant.id.clone(),
        tenant_slug: tenant.slug.clone(),
        program: Some(active.program.clone()),
        caller: Some(caller),
        locale: "en".into(),
        time_zone: tz,
        request_id: request_id.to_string(),
        now_ms: state.clock.now_ms(),
        settings: active.settings.clone(),
        limits: active.plugin.loaded.limits,
        uploads: Vec::new(),
    }
}

/// A plugin of the tenant for a public route: installed and enabled in at least one program (the first of the
/// tenant's programs where it is enabled gives the settings), whoever asks; from the same cache as vendor staff's.
pub async fn public_active(
    state: &AppState,
    tenant: &Tenant,
    plugin_id: &str,
) -> Result<Option<Active>, LifecycleError> {
    let all = active_among(state, tenant, "*".to_string(), None).await?;
    Ok(all.iter().find(|a| a.plugin.manifest().id == plugin_id).cloned())
}

/// An invocation for a public route: no caller.
pub fn anonymous_invocation(state: &AppState, tenant: &Tenant, active: &Active, request_id: &str) -> Invocation {
    Invocation {
        tenant_id: tenant.id.clone(),
        tenant_slug: tenant.slug.clone(),
        program: Some(active.program.clone()),
        caller: None,
        locale: "en".into(),
        time_zone: tenant.timezone.clone(),
        request_id: request_id.to_string(),
        now_ms: state.clock.now_ms(),
        settings: active.settings.clone(),
        limits: active.plugin.loaded.limits,
        uploads: Vec::new(),
    }
}

/// An invocation without a user (events, schedules, migrations).
pub fn system_invocation(
    state: &AppState,
    tenant: &Tenant,
    plugin: &Unpacked,
    program: Option<(String, String)>,
    settings: String,
) -> Invocation {
    Invocation {
        tenant_id: tenant.id.clone(),
        tenant_slug: tenant.slug.clone(),
        program,
        caller: None,
        locale: "en".into(),
        time_zone: tenant.timezone.clone(),
        request_id: crate::domain::new_id(),
        now_ms: state.clock.now_ms(),
        settings,
        limits: plugin.loaded.limits,
        uploads: Vec::new(),
    }
}
