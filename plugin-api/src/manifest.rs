//! `plugin.toml`: what a plugin is, what it asks for, and what it offers. Parsing reports the first
//! malformed field by its path; validation reports every broken rule, each with its path and reason.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::settings::SettingField;

/// A parsed, validated plugin manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique plugin id: lowercase letters, digits and dashes, e.g. `deal-registration`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The plugin's own version.
    pub version: semver::Version,
    /// The `portico:plugin` versions it works with, e.g. `^0.1`.
    pub api: semver::VersionReq,
    /// What it does, shown to the admin who installs it.
    #[serde(default)]
    pub description: String,
    /// What it asks the host for.
    #[serde(default)]
    pub grants: Grants,
    /// Pages and JSON routes, with the roles that may call them.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Navigation entries.
    #[serde(default)]
    pub nav: Vec<NavEntry>,
    /// Dashboard widgets.
    #[serde(default)]
    pub widgets: Vec<Widget>,
    /// Cards about one partner organisation on vendor staff's partner page (the optional `partner-cards`
    /// export). Since 0.1.1.
    #[serde(default)]
    pub cards: Vec<Card>,
    /// Figures it counts for the channel dashboard and the weekly digest (the `analytics` import). Since 0.1.4.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Event topics it subscribes to.
    #[serde(default)]
    pub events: Vec<String>,
    /// Periodic jobs.
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// Settings per program; the admin form is generated from these.
    #[serde(default)]
    pub settings: Vec<SettingField>,
    /// Resource limits it asks for, within the operator's maximums.
    #[serde(default)]
    pub limits: Limits,
}

/// What a plugin may reach through the host.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Storage collections and their indexes.
    #[serde(default)]
    pub collections: Vec<Collection>,
    /// Read every partner organisation's records and directory entries, not just the caller's.
    #[serde(default)]
    pub cross_org_read: bool,
    /// Host names it may send HTTP requests to. `*.example.com` allows every host under `example.com` (not
    /// `example.com` itself), for services that give each customer a host of its own (`acme.my.salesforce.com`);
    /// the wildcard needs at least two labels after it. Since 0.1.2.
    #[serde(default)]
    pub outbound_hosts: Vec<String>,
    /// Names of secrets the vendor stores for it.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Those of `secrets` the plugin may write itself (tokens it refreshes). Since 0.1.1.
    #[serde(default)]
    pub writable_secrets: Vec<String>,
    /// Send notifications and email to users.
    #[serde(default)]
    pub notifications: bool,
    /// Change the directory (set a partner's tier).
    #[serde(default)]
    pub directory_write: bool,
    /// Store files in the blob store.
    #[serde(default)]
    pub blobs: bool,
    /// Native host extensions it calls.
    #[serde(default)]
    pub extensions: Vec<String>,
}

/// A storage collection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    /// Name, e.g. `deals`.
    pub name: String,
    /// Indexed fields: only these may be filtered and sorted on.
    #[serde(default)]
    pub indexes: Vec<Index>,
}

/// An index on one top-level field of a collection's records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The field.
    pub field: String,
    /// No two records of the tenant may share a value.
    #[serde(default)]
    pub unique: bool,
}

/// HTTP methods a route accepts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// Portal roles, as the manifest names them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    VendorAdmin,
    ChannelManager,
    PartnerAdmin,
    PartnerUser,
}

/// A page or JSON route below the plugin's prefix.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Path pattern below `/p/{id}` (pages) or `/api/v1/p/{id}` (API): literal segments, `{name}` for one
    /// segment, and a trailing `*` for the rest.
    pub path: String,
    /// Accepted methods.
    #[serde(default = "default_methods")]
    pub methods: Vec<Method>,
    /// True for a JSON API route, false for a page.
    #[serde(default)]
    pub api: bool,
    /// Roles that may call it; none for a public route.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Answers without sign-in (certificate or receipt verification, share links): no caller in the context,
    /// rate-limited per client address, the tenant still from the host name. Since 0.1.1.
    #[serde(default)]
    pub public: bool,
    /// Accepts file uploads (`multipart/form-data`), streamed by the host into the blob store within these
    /// limits; the plugin gets handles (`files.uploads`). Since 0.1.1.
    #[serde(default)]
    pub upload: Option<Upload>,
}

/// What a route accepts as uploads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// Largest file, in MiB.
    pub max_mib: u64,
    /// Accepted types as judged from the content, e.g. `application/pdf`, `image/*`, `video/mp4`; any when empty.
    #[serde(default)]
    pub types: Vec<String>,
    /// Most files in one request.
    #[serde(default = "default_max_files")]
    pub max_files: u32,
}

fn default_max_files() -> u32 {
    10
}

impl Upload {
    /// Whether a sniffed content type is one this route accepts.
    pub fn accepts(&self, content_type: &str) -> bool {
        self.types.is_empty()
            || self.types.iter().any(|t| match t.strip_suffix("/*") {
                Some(family) => content_type.split('/').next() == Some(family),
                None => t == content_type,
            })
    }
}

fn default_methods() -> Vec<Method> {
    vec![Method::Get]
}

/// A navigation entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NavEntry {
    /// Link text.
    pub label: String,
    /// A page path of the plugin, below `/p/{id}`.
    pub path: String,
    /// Roles that see it.
    pub roles: Vec<Role>,
}

/// A dashboard widget.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Widget {
    /// Name passed to the widget export.
    pub name: String,
    /// Title shown above it.
    pub title: String,
    /// Roles that see it.
    pub roles: Vec<Role>,
}

/// A card about one partner organisation, for vendor staff.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// Name passed to the card export.
    pub name: String,
    /// Title shown above it.
    pub title: String,
}

/// A figure the plugin counts per day (`analytics.count`) or derives from two of them, shown on the vendor's channel
/// dashboard with its trend, its partners and a CSV export.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Name passed to `analytics.count`.
    pub name: String,
    /// What the dashboard calls it ("Deals registered").
    pub label: String,
    /// A count, an amount of money (counted in minor units of a currency), or the ratio of two of the plugin's
    /// counts or money metrics (`ratio = ["won", "closed"]`), derived and never counted itself; a ratio of money
    /// is shown per currency.
    #[serde(default)]
    pub unit: MetricUnit,
    /// For a ratio: the numerator's and the denominator's metric names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<[String; 2]>,
    /// One line for the dashboard's tooltip and the digest.
    #[serde(default)]
    pub description: String,
}

/// What a metric's numbers are.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetricUnit {
    /// Things counted.
    #[default]
    Count,
    /// Money in minor units, per currency.
    Money,
    /// A share: the ratio of two counts (or two money metrics, per currency), shown as a percentage.
    Percent,
}

/// A periodic job, run once per tick per tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Name passed to the scheduler export.
    pub name: String,
    /// Minutes between ticks.
    pub every_minutes: u32,
}

/// Limits a plugin asks for; the host clamps them to the operator's maximums.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock deadline per invocation, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear memory cap, in MiB.
    pub memory_mib: Option<u64>,
    /// Largest output (response body, view context) in KiB.
    pub output_kib: Option<u64>,
    /// Most events one invocation may emit.
    pub events: Option<u64>,
    /// Most notifications one invocation may send.
    pub notifications: Option<u64>,
    /// Most of those notifications that also go out by email.
    pub emails: Option<u64>,
    /// Most records one invocation may insert, update or delete.
    pub writes: Option<u64>,
    /// Most bytes of files one invocation may store, in MiB.
    pub blob_mib: Option<u64>,
}

/// One problem with a manifest: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// Dotted path of the field, e.g. `grants.collections[0].indexes[1].field`.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { write!(f, "{}", self.reason) } else { write!(f, "{}: {}", self.path, self.reason) }
    }
}

/// Every problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "plugin.toml: {}", parts.join("; "))
    }
}

impl Manifest {
    /// Parses and validates `plugin.toml`.
    pub fn parse(text: &str) -> Result<Manifest, ManifestErrors> {
        let de = toml::Deserializer::parse(text).map_err(|e| {
            ManifestErrors(vec![ManifestError {
                path: String::new(),
                reason: format!("not valid TOML: {}", e.message()),
            }])
        })?;
        let manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let reason = e.into_inner().message().to_string();
            ManifestErrors(vec![ManifestError { path: if path == "." { String::new() } else { path }, reason }])
        })?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Whether this plugin works with the host's API version; the error names both versions.
    pub fn check_api(&self, host: &semver::Version) -> Result<(), String> {
        if self.api.matches(host) {
            Ok(())
        } else {
            Err(format!(
                "{} {} needs portico:plugin {}, but this host serves portico:plugin {host}",
                self.id, self.version, self.api
            ))
        }
    }

    /// The collection of this name, if declared.
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.grants.collections.iter().find(|c| c.name == name)
    }

    /// Checks every rule and reports all that break.
    pub fn validate(&self) -> Result<(), ManifestErrors> {
        let mut e = Vec::new();
        let mut err = |path: String, reason: &str| e.push(ManifestError { path, reason: reason.to_string() });
        if !is_slug(&self.id, 40) {
            err("id".into(), "use 2-40 lowercase letters, digits and dashes, starting with a letter");
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 80 {
            err("name".into(), "give a name of 1-80 characters");
        }
        let mut names = BTreeSet::new();
        for (i, c) in self.grants.collections.iter().enumerate() {
            if !is_ident(&c.name) {
                err(
                    format!("grants.collections[{i}].name"),
                    "use lowercase letters, digits and underscores, starting with a letter",
                );
            }
            if !names.insert(&c.name) {
                err(format!("grants.collections[{i}].name"), "is declared twice");
            }
            let mut fields = BTreeSet::new();
            for (j, ix) in c.indexes.iter().enumerate() {
                if !is_ident(&ix.field) {
                    err(
                        format!("grants.collections[{i}].indexes[{j}].field"),
                        "use a top-level field name: lowercase letters, digits and underscores",
                    );
                }
                if !fields.insert(&ix.field) {
                    err(format!("grants.collections[{i}].indexes[{j}].field"), "is indexed twice");
                }
            }
        }
        for (i, h) in self.grants.outbound_hosts.iter().enumerate() {
            let ok = match h.strip_prefix("*.") {
                Some(domain) => is_host(domain) && domain.contains('.'),
                None => is_host(h),
            };
            if !ok {
                err(
                    format!("grants.outbound_hosts[{i}]"),
                    "name a host such as api.example.com (or every host under a domain, *.example.com), without \
                     scheme, port or path",
                );
            }
        }
        for (i, s) in self.grants.secrets.iter().enumerate() {
            if !is_ident(s) {
                err(
                    format!("grants.secrets[{i}]"),
                    "use lowercase letters, digits and underscores, starting with a letter",
                );
            }
        }
        for (i, w) in self.grants.writable_secrets.iter().enumerate() {
            if !self.grants.secrets.contains(w) {
                err(format!("grants.writable_secrets[{i}]"), "list it in grants.secrets too");
            }
        }
        for (i, x) in self.grants.extensions.iter().enumerate() {
            if !is_slug(x, 60) {
                err(format!("grants.extensions[{i}]"), "use lowercase letters, digits and dashes");
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            if let Some(reason) = route_path_problem(&r.path) {
                err(format!("routes[{i}].path"), reason);
            }
            if r.methods.is_empty() {
                err(format!("routes[{i}].methods"), "name at least one method");
            }
            if r.roles.is_empty() && !r.public {
                err(format!("routes[{i}].roles"), "name at least one role (or make the route public)");
            }
            if let Some(u) = &r.upload {
                if u.max_mib == 0 || u.max_mib > 10_240 {
                    err(format!("routes[{i}].upload.max_mib"), "give a size of 1 to 10240 MiB");
                }
                if !r.methods.iter().any(|m| matches!(m, Method::Post | Method::Put)) {
                    err(format!("routes[{i}].upload"), "uploads need a POST or PUT route");
                }
                for (j, t) in u.types.iter().enumerate() {
                    if !t.contains('/') || t.contains(char::is_whitespace) {
                        err(format!("routes[{i}].upload.types[{j}]"), "use a type such as application/pdf or image/*");
                    }
                }
            }
            if r.public && !r.roles.is_empty() {
                err(format!("routes[{i}].roles"), "a public route has no caller, so it names no roles");
            }
        }
        for (i, n) in self.nav.iter().enumerate() {
            if n.label.trim().is_empty() || n.label.chars().count() > 40 {
                err(format!("nav[{i}].label"), "give a label of 1-40 characters");
            }
            if !self
                .routes
                .iter()
                .any(|r| !r.api && r.methods.contains(&Method::Get) && route_matches(&r.path, &n.path))
            {
                err(format!("nav[{i}].path"), "must be a GET page route of this plugin");
            }
            if n.roles.is_empty() {
                err(format!("nav[{i}].roles"), "name at least one role");
            }
        }
        let mut widget_names = BTreeSet::new();
        for (i, w) in self.widgets.iter().enumerate() {
            if !is_ident(&w.name) {
                err(
                    format!("widgets[{i}].name"),
                    "use lowercase letters, digits and underscores, starting with a letter",
                );
            }
            if !widget_names.insert(&w.name) {
                err(format!("widgets[{i}].name"), "is declared twice");
            }
            if w.roles.is_empty() {
                err(format!("widgets[{i}].roles"), "name at least one role");
            }
        }
        let mut card_names = BTreeSet::new();
        for (i, c) in self.cards.iter().enumerate() {
            if !is_ident(&c.name) {
                err(
                    format!("cards[{i}].name"),
                    "use lowercase letters, digits and underscores, starting with a letter",
                );
            }
            if !card_names.insert(&c.name) {
                err(format!("cards[{i}].name"), "is declared twice");
            }
            if c.title.trim().is_empty() || c.title.chars().count() > 60 {
                err(format!("cards[{i}].title"), "give a title of 1-60 characters");
            }
        }
        let mut metric_names = BTreeSet::new();
        for (i, m) in self.metrics.iter().enumerate() {
            if !is_ident(&m.name) {
                err(
                    format!("metrics[{i}].name"),
                    "use lowercase letters, digits and underscores, starting with a letter",
                );
            }
            if !metric_names.insert(&m.name) {
                err(format!("metrics[{i}].name"), "is declared twice");
            }
            if m.label.trim().is_empty() || m.label.chars().count() > 60 {
                err(format!("metrics[{i}].label"), "give a label of 1-60 characters");
            }
            match (&m.ratio, m.unit) {
                (Some(parts), MetricUnit::Percent) => {
                    let unit_of = |name: &str| self.metrics.iter().find(|o| o.name == name).map(|o| o.unit);
                    let units = [unit_of(&parts[0]), unit_of(&parts[1])];
                    for (j, unit) in units.iter().enumerate() {
                        if !matches!(unit, Some(MetricUnit::Count | MetricUnit::Money)) {
                            err(format!("metrics[{i}].ratio[{j}]"), "name a count or money metric of this plugin");
                        }
                    }
                    if units[0].is_some() && units[1].is_some() && units[0] != units[1] {
                        err(format!("metrics[{i}].ratio"), "name two counts, or two money metrics");
                    }
                }
                (None, MetricUnit::Percent) => err(
                    format!("metrics[{i}].ratio"),
                    "a percent metric is the ratio of two counts (or two money metrics): name them",
                ),
                (Some(_), _) => err(format!("metrics[{i}].unit"), "a ratio's unit is percent"),
                (None, _) => {}
            }
        }
        for (i, t) in self.events.iter().enumerate() {
            if !is_topic(t) {
                err(format!("events[{i}]"), "use a dotted topic such as deal.approved");
            }
        }
        let mut schedule_names = BTreeSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            if !is_ident(&s.name) {
                err(
                    format!("schedules[{i}].name"),
                    "use lowercase letters, digits and underscores, starting with a letter",
                );
            }
            if !schedule_names.insert(&s.name) {
                err(format!("schedules[{i}].name"), "is declared twice");
            }
            if s.every_minutes == 0 {
                err(format!("schedules[{i}].every_minutes"), "must be at least 1");
            }
        }
        let mut keys = BTreeSet::new();
        for (i, s) in self.settings.iter().enumerate() {
            if !keys.insert(&s.key) {
                err(format!("settings[{i}].key"), "is declared twice");
            }
            for (field, reason) in s.problems() {
                err(format!("settings[{i}].{field}"), &reason);
            }
        }
        if e.is_empty() { Ok(()) } else { Err(ManifestErrors(e)) }
    }
}

/// Whether a concrete path (`/deals/42`) matches a route pattern (`/deals/{id}`, `/deals/*`).
pub fn route_matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.trim_end_matches('/').split('/');
    let mut s = path.trim_end_matches('/').split('/');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some("*"), _) => return true,
            (Some(a), Some(b)) if a.starts_with('{') && a.ends_with('}') && !b.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

fn route_path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("must start with /");
    }
    if path.contains("..") || path.contains("//") || path.contains('?') || path.contains('#') {
        return Some("use plain segments without .., //, ? or #");
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        if *seg == "*" && i + 1 != segments.len() {
            return Some("* may only end a path");
        }
    }
    None
}

fn is_slug(s: &str, max: usize) -> bool {
    (2..=max).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.ends_with('-')
}

pub(crate) fn is_ident(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_topic(s: &str) -> bool {
    s.contains('.')
        && s.len() <= 100
        && s.split('.').all(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        })
}

fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "deal-registration"
name = "Deal registration"
version = "1.2.0"
api = "^0.1"
description = "Register deals."
events = ["deal.approved"]

[grants]
collections = [{ name = "deals", indexes = [{ field = "customer_domain" }, { field = "receipt_hash", unique = true }] }]
cross_org_read = true
outbound_hosts = ["api.hubspot.com"]
secrets = ["hubspot_token"]
notifications = true

[[routes]]
path = "/deals"
methods = ["GET", "POST"]
roles = ["partner_admin", "partner_user"]

[[routes]]
path = "/deals/{id}"
roles = ["partner_admin", "partner_user", "channel_manager"]

[[routes]]
path = "/deals/*"
api = true
methods = ["GET", "POST"]
roles = ["partner_user"]

[[nav]]
label = "Deals"
path = "/deals"
roles = ["partner_user"]

[[widgets]]
name = "pipeline"
title = "Pipeline"
roles = ["partner_user"]

[[schedules]]
name = "expire"
every_minutes = 60

[[settings]]
key = "protection_days"
label = "Protection window (days)"
type = "integer"
default = 90
min = 1
max = 365
"#;

    #[test]
    fn a_complete_manifest_parses() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.id, "deal-registration");
        assert_eq!(m.version, semver::Version::new(1, 2, 0));
        assert!(m.collection("deals").unwrap().indexes[1].unique);
        assert_eq!(m.routes[1].methods, vec![Method::Get], "GET is the default method");
    }

    #[test]
    fn a_type_error_names_the_field_path() {
        let bad = GOOD.replace("every_minutes = 60", "every_minutes = \"hourly\"");
        let e = Manifest::parse(&bad).unwrap_err();
        assert_eq!(e.0[0].path, "schedules[0].every_minutes", "{e}");
    }

    #[test]
    fn unknown_fields_are_refused_by_path() {
        let bad = GOOD.replace("cross_org_read = true", "cross_org_reads = true");
        let e = Manifest::parse(&bad).unwrap_err();
        assert!(e.0[0].path.starts_with("grants"), "{e}");
        assert!(e.to_string().contains("cross_org_reads"), "{e}");
    }

    #[test]
    fn a_bad_version_is_refused() {
        let e = Manifest::parse(&GOOD.replace("version = \"1.2.0\"", "version = \"one\"")).unwrap_err();
        assert_eq!(e.0[0].path, "version");
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_path() {
        let bad = GOOD
            .replace("id = \"deal-registration\"", "id = \"Deal Registration\"")
            .replace("{ field = \"receipt_hash\", unique = true }", "{ field = \"customer_domain\" }")
            .replace("\"api.hubspot.com\"", "\"https://api.hubspot.com/v3\"")
            .replace("path = \"/deals\"\nroles", "path = \"/elsewhere\"\nroles")
            .replace("events = [\"deal.approved\"]", "events = [\"approved\"]")
            .replace("every_minutes = 60", "every_minutes = 0")
            .replace("max = 365", "max = 0");
        let e = Manifest::parse(&bad).unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|x| x.path.as_str()).collect();
        for p in [
            "id",
            "grants.collections[0].indexes[1].field",
            "grants.outbound_hosts[0]",
            "nav[0].path",
            "events[0]",
            "schedules[0].every_minutes",
            "settings[0].max",
        ] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
    }

    #[test]
    fn outbound_hosts_may_name_every_host_under_a_domain() {
        let with = |hosts: &str| GOOD.replace("[\"api.hubspot.com\"]", hosts);
        assert!(Manifest::parse(&with("[\"*.my.salesforce.com\", \"login.salesforce.com\"]")).is_ok());
        for bad in ["[\"*.com\"]", "[\"*\"]", "[\"api.*.com\"]", "[\"*.*.example.com\"]"] {
            let e = Manifest::parse(&with(bad)).unwrap_err();
            assert_eq!(e.0[0].path, "grants.outbound_hosts[0]", "{bad}");
        }
    }

    #[test]
    fn an_incompatible_api_range_names_both_versions() {
        let m = Manifest::parse(&GOOD.replace("api = \"^0.1\"", "api = \"^2.0\"")).unwrap();
        let e = m.check_api(&crate::api_version()).unwrap_err();
        assert!(e.contains("^2.0") && e.contains(crate::API_VERSION), "{e}");
        assert!(Manifest::parse(GOOD).unwrap().check_api(&crate::api_version()).is_ok());
    }

    #[test]
    fn route_patterns_match_paths() {
        assert!(route_matches("/deals", "/deals"));
        assert!(route_matches("/deals", "/deals/"));
        assert!(route_matches("/deals/{id}", "/deals/42"));
        assert!(!route_matches("/deals/{id}", "/deals"));
        assert!(!route_matches("/deals/{id}", "/deals/42/edit"));
        assert!(route_matches("/deals/*", "/deals/42/edit"));
        assert!(route_matches("/*", "/anything"));
        assert!(!route_matches("/deals", "/dealsx"));
    }
}
