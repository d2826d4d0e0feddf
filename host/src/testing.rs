//! A test harness for plugin authors: runs a plugin's `.wasm` in-process against a real host on a throwaway
//! SQLite database, with the demo tenant (programs, partners, users) seeded, so a plugin is tested end to end
//! without running the portal.
//!
//! ```text
//! let h = portico::testing::Harness::new("path/to/my-plugin", "target/wasm32-wasip2/release/my_plugin.wasm").await?;
//! let page = h.get("bob@northwind.example", "/").await?;
//! assert!(page.body_text().contains("Hello"));
//! ```

use std::path::Path;
use std::sync::Arc;

use crate::app::AppState;
use crate::config::Config;
use crate::domain::Tenant;
use crate::plugins::Active;
use crate::runtime::{HttpRequest, HttpResponse, PluginError, RuntimeError, View};

/// A host with one plugin installed and enabled in every demo program.
pub struct Harness {
    pub state: AppState,
    pub tenant: Tenant,
    pub plugin_id: String,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").field("plugin_id", &self.plugin_id).finish()
    }
}

/// What a plugin answered, or how it failed.
#[derive(Debug)]
pub struct Outcome(pub Result<Result<HttpResponse, PluginError>, RuntimeError>);

impl Outcome {
    /// The response; panics with the failure otherwise (for tests).
    pub fn response(self) -> HttpResponse {
        match self.0 {
            Ok(Ok(r)) => r,
            other => panic!("the plugin did not answer: {other:?}"),
        }
    }

    /// A page's view context, or a JSON body, as JSON.
    pub fn json(self) -> serde_json::Value {
        match self.response() {
            HttpResponse::Page(View { context, .. }) => serde_json::from_str(&context).expect("context is JSON"),
            HttpResponse::Json((_, body)) => serde_json::from_str(&body).expect("body is JSON"),
            other => panic!("not a page or JSON: {other:?}"),
        }
    }

    /// The plugin's own error, if it returned one.
    pub fn error(self) -> PluginError {
        match self.0 {
            Ok(Err(e)) => e,
            other => panic!("expected a plugin error, got {other:?}"),
        }
    }
}

impl Harness {
    /// Installs the plugin in `package_dir` (its `plugin.toml`, `templates/`, `static/`) with the component at
    /// `wasm`, on a fresh database with the demo tenant, and enables it in every program.
    pub async fn new(package_dir: impl AsRef<Path>, wasm: impl AsRef<Path>) -> anyhow::Result<Harness> {
        let dir = tempfile::tempdir()?;
        let themes = [Path::new("themes"), Path::new("../themes"), Path::new("../../themes")]
            .into_iter()
            .find(|p| p.join("default/theme.toml").exists())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes"));
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: format!("sqlite://{}?mode=rwc", dir.path().join("harness.db").display()),
            themes_dir: themes,
            ..Config::default()
        };
        let state = AppState::build(config).await?;
        crate::demo::seed(&state.db).await?;
        let tenant = state.db.tenant_by_slug("acme").await?.expect("demo tenant");
        let bytes = crate::cli::read_package(package_dir.as_ref(), Some(wasm.as_ref()))?;
        let (installed, _) = crate::plugins::install(&state, &tenant, &bytes, None).await?;
        crate::cli::set_enabled(&state, &tenant, &installed.plugin_id, None, true).await?;
        Ok(Harness { state, tenant, plugin_id: installed.plugin_id, _dir: dir })
    }

    async fn active(&self, email: &str) -> anyhow::Result<(crate::domain::User, Active)> {
        let user = self
            .state
            .db
            .tenant(&self.tenant.id)
            .user_by_email(email)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no demo user {email}"))?;
        let active = crate::plugins::active_for(&self.state, &self.tenant, &user, None)
            .await?
            .iter()
            .find(|a| a.plugin.manifest().id == self.plugin_id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the plugin is not enabled in {email}'s programs"))?;
        Ok((user, active))
    }

    /// Sends a request to the plugin as a demo user (e.g. `bob@northwind.example`).
    pub async fn request(&self, email: &str, req: HttpRequest) -> anyhow::Result<Outcome> {
        let (user, active) = self.active(email).await?;
        let inv = crate::plugins::user_invocation(&self.state, &self.tenant, &active, &user, "harness");
        Ok(Outcome(self.state.runtime.handle_http(active.plugin.loaded.clone(), inv, req).await))
    }

    /// A page GET.
    pub async fn get(&self, email: &str, path: &str) -> anyhow::Result<Outcome> {
        self.request(email, request("GET", path, Vec::new(), false)).await
    }

    /// A form POST to a page.
    pub async fn post_form(&self, email: &str, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Outcome> {
        let form = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.request(email, request("POST", path, form, false)).await
    }

    /// A JSON API GET.
    pub async fn api_get(&self, email: &str, path: &str) -> anyhow::Result<Outcome> {
        self.request(email, request("GET", path, Vec::new(), true)).await
    }

    /// Renders a widget as a demo user.
    pub async fn widget(
        &self,
        email: &str,
        name: &str,
    ) -> anyhow::Result<Result<Result<View, PluginError>, RuntimeError>> {
        let (user, active) = self.active(email).await?;
        let inv = crate::plugins::user_invocation(&self.state, &self.tenant, &active, &user, "harness");
        Ok(self.state.runtime.render_widget(active.plugin.loaded.clone(), inv, name.to_string()).await)
    }

    /// Delivers every due event (to this and any other subscribed plugin); returns how many deliveries ran.
    pub async fn deliver_events(&self) -> anyhow::Result<usize> {
        crate::plugins::jobs::deliver_due(&self.state, 1000).await
    }

    /// Runs the schedules due at `now_ms`.
    pub async fn run_schedules(&self, now_ms: i64) -> anyhow::Result<usize> {
        crate::plugins::jobs::run_schedules(&self.state, now_ms).await
    }

    /// Keeps the state alive for tests that hold the harness in an `Arc`.
    pub fn shared(self) -> Arc<Harness> {
        Arc::new(self)
    }
}

fn request(method: &str, path_and_query: &str, form: Vec<(String, String)>, api: bool) -> HttpRequest {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let query = url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    HttpRequest { method: method.into(), path: path.into(), query, headers: Vec::new(), body: Vec::new(), form, api }
}
