//! The one configuration struct: `portico.toml`, then `PORTICO_*` environment overrides, loaded once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything the host is configured with. Built by [`Config::load`] and passed explicitly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address `serve` listens on.
    pub addr: SocketAddr,
    /// Database URL; empty means a SQLite file under the data dir.
    pub database_url: String,
    /// Where the SQLite file, blobs and kept mail live.
    pub data_dir: PathBuf,
    /// Where blobs (logos, plugin packages, plugin files) are kept: unset for `data_dir/blobs` on local disk, or
    /// `s3://bucket[/prefix]` for an S3-compatible object store (credentials and endpoint from the standard
    /// `AWS_*` environment variables), which every replica shares.
    pub blob_url: Option<String>,
    /// Settings of the S3 store beside or instead of the `AWS_*` environment, by the object store's key names
    /// (`aws_endpoint`, `aws_region`, `aws_access_key_id`, `aws_secret_access_key`, `aws_allow_http`, …); these
    /// win over the environment. Values are kept as secrets (never printed).
    #[serde(default, skip_serializing)]
    pub blob_options: std::collections::BTreeMap<String, SecretString>,
    /// Base domain for `{slug}.{base_domain}` tenant look-up, e.g. `portico.example`.
    pub base_domain: Option<String>,
    /// Tenant served for `localhost`, `127.0.0.1` and other hosts no tenant claims.
    pub default_tenant: Option<String>,
    /// Public URL of the portal, used in links sent by mail; defaults to `http://{addr}`.
    pub public_url: Option<String>,
    /// Mark cookies `Secure`; turn on when the portal is served over HTTPS.
    pub secure_cookies: bool,
    /// Load balancers and reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client.
    /// Requests from anywhere else are taken at their connection's address, so a client cannot claim another's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Sites allowed to embed the portal in a frame, as origins (`https://intranet.example`); none by default,
    /// and then no page may be framed at all (CSP `frame-ancestors 'none'`, `X-Frame-Options: DENY`).
    pub frame_ancestors: Vec<String>,
    /// The key plugin secrets are sealed with: 32 bytes, base64 (`portico secrets new-key` makes one). Every
    /// replica needs the same. Unset: a key generated on first start into `{data_dir}/secrets.key`.
    #[serde(default, skip_serializing)]
    pub secrets_key: Option<SecretString>,
    /// Keys secrets were sealed with before `secrets_key`, kept while `portico secrets rotate` re-seals them.
    #[serde(default, skip_serializing)]
    pub secrets_old_keys: Vec<SecretString>,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <this token>`.
    #[serde(default, skip_serializing)]
    pub metrics_token: Option<SecretString>,
    /// Requests a minute each client address may make to a tenant's public plugin routes (certificate
    /// verification, share links), in bursts of as many.
    pub public_routes_per_minute: u32,
    /// Session lifetime in hours.
    pub session_hours: i64,
    /// Failed logins within [`Config::throttle_window_secs`] that lock further attempts.
    pub throttle_max_failures: i64,
    /// Window, and lock-out length, for login throttling, in seconds.
    pub throttle_window_secs: i64,
    /// Outgoing mail; when absent, mail is kept under the data dir and listed for admins.
    pub smtp: Option<SmtpConfig>,
    /// Where themes live.
    pub themes_dir: PathBuf,
    /// Where compiled plugins (and the sandboxed renderer) are cached, by content and engine; default
    /// `{data_dir}/cache/plugins`. Processes on one machine may share it (files are written atomically).
    pub cache_dir: Option<PathBuf>,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// Plugin runtime limits.
    pub runtime: crate::runtime::RuntimeLimits,
    /// Native host extensions to load (trusted shared libraries); none by default.
    pub extensions: Vec<PathBuf>,
    /// Run the background workers (event delivery, schedules, notification mail) in this process.
    pub workers: bool,
    /// How long a worker holds an event delivery it claimed: if its replica dies mid-delivery, another (or the
    /// restarted one) delivers it after this many seconds. Longer than the slowest event handler's deadline.
    pub event_lease_secs: i64,
    /// How long the dashboard waits for plugin widgets before answering; a widget not ready by then is loaded by
    /// the page on its own, so one slow widget never holds up the others or the page.
    pub widget_budget_ms: u64,
    /// How long a replica reuses the channel dashboard's figures for the same tenant and range (0: never), so many
    /// staff views in a minute cost one computation. Figures are counted as activity happens, so this is how old
    /// they may be.
    pub channel_cache_secs: u64,
}

/// SMTP relay settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub from: String,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection (a local relay).
    None,
    /// STARTTLS upgrade, the usual submission setup.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

fn default_smtp_port() -> u16 {
    587
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".parse().expect("valid default address"),
            database_url: String::new(),
            data_dir: PathBuf::from("./data"),
            blob_url: None,
            blob_options: Default::default(),
            base_domain: None,
            default_tenant: Some("acme".into()),
            public_url: None,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            frame_ancestors: Vec::new(),
            secrets_key: None,
            secrets_old_keys: Vec::new(),
            metrics_token: None,
            public_routes_per_minute: 60,
            session_hours: 12,
            throttle_max_failures: 5,
            throttle_window_secs: 300,
            smtp: None,
            themes_dir: PathBuf::from("./themes"),
            cache_dir: None,
            log_format: LogFormat::Text,
            runtime: crate::runtime::RuntimeLimits::default(),
            extensions: Vec::new(),
            workers: true,
            event_lease_secs: 60,
            widget_budget_ms: 400,
            channel_cache_secs: 30,
        }
    }
}

impl Config {
    /// Loads `file` (if it exists), then `PORTICO_*` environment variables on top.
    /// Nested keys use a double underscore: `PORTICO_SMTP__HOST`.
    pub fn load(file: &Path) -> Result<Self, Box<figment::Error>> {
        let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("PORTICO_").split("__"))
            .extract()
            .map_err(Box::new)?;
        config.frame_ancestors = config
            .frame_ancestors
            .iter()
            .map(|a| frame_ancestor(a).map_err(|e| Box::new(figment::Error::from(e))))
            .collect::<Result<_, _>>()?;
        Ok(config)
    }

    /// The database URL actually used: the configured one, or `sqlite://{data_dir}/portico.db`.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("portico.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// Where compiled plugins are cached.
    pub fn effective_cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| self.data_dir.join("cache").join("plugins"))
    }

    /// Base URL for links in mail.
    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.addr)).trim_end_matches('/').to_string()
    }
}

/// An embedding site as the origin a CSP `frame-ancestors` source names: `https://host[:port]`, nothing more.
fn frame_ancestor(given: &str) -> Result<String, String> {
    let bad = || format!("frame_ancestors: {given:?} is not an origin such as https://intranet.example");
    let url = url::Url::parse(given).map_err(|_| bad())?;
    let only_origin = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    if !matches!(url.scheme(), "https" | "http") || !only_origin || !url.username().is_empty() {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_contract() {
        let c = Config::default();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert!(c.effective_database_url().starts_with("sqlite://./data/portico.db"));
    }

    #[test]
    fn trusted_proxies_read_addresses_and_ranges() {
        let dir = std::env::temp_dir().join(format!("portico-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("portico.toml");
        std::fs::write(&file, "trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7/32\", \"::1/128\"]\n").unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(c.trusted_proxies[0].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn frame_ancestors_are_origins_only() {
        assert_eq!(frame_ancestor("https://intranet.example").unwrap(), "https://intranet.example");
        assert_eq!(frame_ancestor("https://Intranet.example:8443/").unwrap(), "https://intranet.example:8443");
        for bad in ["*", "'self'", "https://a.example/path", "https://a.example; script-src *", "javascript:x"] {
            assert!(frame_ancestor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn smtp_password_is_never_serialized() {
        let smtp = SmtpConfig {
            host: "mail".into(),
            port: 25,
            username: Some("u".into()),
            password: Some(SecretString::from("hunter2")),
            tls: SmtpTls::None,
            from: "a@b".into(),
        };
        assert!(!format!("{smtp:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&smtp).unwrap().contains("hunter2"));
    }
}
