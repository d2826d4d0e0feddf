//! Test support: spawn the real app on port 0 with a throwaway database (SQLite file or a fresh PostgreSQL
//! database), and a browser-like client that keeps cookies and CSRF tokens.

pub mod crm;
pub mod fuzz;
pub mod process;

use std::net::SocketAddr;
use std::path::PathBuf;

use portico::storage::Db;
use portico::{AppState, Config};
use reqwest::StatusCode;
use reqwest::redirect::Policy;

/// Which database a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// Server for PostgreSQL tests; each test creates and drops its own database on it.
pub fn postgres_server() -> String {
    std::env::var("PORTICO_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A throwaway database: a SQLite file in a temp dir, or a new PostgreSQL database dropped on `Drop`.
pub struct TestDb {
    pub url: String,
    pub db: Db,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(kind: DbKind) -> TestDb {
        match kind {
            DbKind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                let db = Db::connect(&url).await.expect("connect sqlite");
                db.migrate().await.expect("migrate sqlite");
                TestDb { url, db, pg_name: None, _dir: Some(dir) }
            }
            DbKind::Postgres => {
                let server = postgres_server();
                let name = format!("portico_test_{}", uuid::Uuid::new_v4().simple());
                let admin =
                    Db::connect(&format!("{server}/postgres")).await.expect("connect to postgres (is it running?)");
                admin.execute_raw(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                admin.close().await;
                let url = format!("{server}/{name}");
                let db = Db::connect(&url).await.expect("connect test database");
                db.migrate().await.expect("migrate postgres");
                TestDb { url, db, pg_name: Some(name), _dir: None }
            }
        }
    }
}

impl TestDb {
    /// One number from the database, through a connection of its own (as another process would see it).
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.url).await.expect("connect");
        let n = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&pool).await.expect(sql);
        pool.close().await;
        n
    }

    /// A database that exists already (left as it is at the end).
    pub async fn existing(url: &str) -> TestDb {
        let db = Db::connect(url).await.expect("connect");
        TestDb { url: url.to_string(), db, pg_name: None, _dir: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        let server = postgres_server();
        // Drop runs inside the test's runtime, which this thread blocks: clean up on a thread with its own
        // runtime, and leave the test's pool alone (FORCE ends its connections).
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = Db::connect(&format!("{server}/postgres")).await {
                    let _ = admin.execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A running app.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub data_dir: PathBuf,
    pub test_db: TestDb,
    _data: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Where the workspace's themes are.
pub fn themes_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../themes")
}

/// A config for tests; `tweak` adjusts it before the app starts.
pub fn test_config(data_dir: &std::path::Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        themes_dir: themes_dir(),
        base_domain: Some("portico.test".into()),
        default_tenant: Some("acme".into()),
        // Tests drive the workers explicitly, so their outcomes are deterministic.
        workers: false,
        // Figures are read afresh, so a test sees what it just did.
        channel_cache_secs: 0,
        ..Config::default()
    }
}

/// Spawns the app with the demo tenant seeded.
pub async fn spawn_app(kind: DbKind) -> TestApp {
    spawn_app_with(kind, |_| {}).await
}

pub async fn spawn_app_with(kind: DbKind, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let test_db = TestDb::new(kind).await;
    let data = tempfile::tempdir().expect("data dir");
    let mut config = test_config(data.path());
    config.database_url = test_db.url.clone();
    tweak(&mut config);
    let state = AppState::with_db(config, test_db.db.clone()).await.expect("app state");
    portico::demo::seed(&state.db).await.expect("seed demo");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serve_state = state.clone();
    tokio::spawn(async move {
        let _ = portico::serve(serve_state, listener, async move {
            let _ = rx.await;
        })
        .await;
    });
    TestApp { addr, state, data_dir: data.path().to_path_buf(), test_db, _data: data, shutdown: Some(tx) }
}

impl TestApp {
    /// The files in the local blob store whose path contains `fragment` (`/plugins/hostile/`, say).
    pub fn blob_files(&self, fragment: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.data_dir.join("blobs")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.to_string_lossy().contains(fragment) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// A client for the default tenant (`http://127.0.0.1:port`).
    pub fn client(&self) -> Client {
        self.client_for("127.0.0.1")
    }

    /// A client for a host name (`globex.portico.test`) that resolves to this app.
    pub fn client_for(&self, host: &str) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .resolve(host, self.addr)
            .build()
            .expect("client");
        Client { http, base: format!("http://{host}:{}", self.addr.port()), csrf: None, scoped: Default::default() }
    }

    /// Creates a second tenant `slug` with a vendor org and one vendor admin.
    pub async fn create_tenant(&self, slug: &str, admin_email: &str, password: &str) -> String {
        use portico::domain::{OrgKind, OrgProfile, Role, UserStatus};
        let t = self
            .state
            .db
            .create_tenant(&portico::storage::NewTenant {
                slug: slug.into(),
                name: format!("{slug} Inc"),
                domain: None,
            })
            .await
            .expect("tenant");
        let scope = self.state.db.tenant(&t.id);
        let org = scope
            .create_org(OrgKind::Vendor, &OrgProfile { name: format!("{slug} Inc"), ..Default::default() })
            .await
            .unwrap();
        scope
            .create_user(&portico::storage::NewUser {
                org_id: org.id,
                email: admin_email.into(),
                name: format!("{slug} admin"),
                role: Role::VendorAdmin,
                status: UserStatus::Active,
                password_hash: Some(portico::auth::hash_password(password)),
            })
            .await
            .unwrap();
        t.id
    }

    pub async fn tenant_id(&self, slug: &str) -> String {
        self.state.db.tenant_by_slug(slug).await.unwrap().expect("tenant").id
    }

    /// The topics of the events plugin `source` emitted, in the order they were emitted.
    pub async fn event_topics(&self, source: &str) -> Vec<String> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.test_db.url).await.unwrap();
        sqlx::query_scalar::<_, String>("SELECT topic FROM events WHERE source = $1 ORDER BY emitted_at, topic")
            .bind(source)
            .fetch_all(&pool)
            .await
            .unwrap()
    }

    /// A user of the demo tenant, by e-mail.
    pub async fn demo_user(&self, email: &str) -> portico::domain::User {
        let tenant = self.tenant_id("acme").await;
        self.state.db.tenant(&tenant).user_by_email(email).await.unwrap().expect("a demo user")
    }
}

/// A browser-like client: cookies, no automatic redirects, and the CSRF token of its last page.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
    /// Tokens for the sign-out form and for plugins' forms, by scope (`logout`, `plugin:{id}`).
    pub scoped: std::collections::HashMap<String, String>,
}

impl Client {
    /// A client for a server at `base` (`http://127.0.0.1:port`), such as a replica process.
    pub fn at(base: &str) -> Client {
        let http = reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client");
        Client { http, base: base.trim_end_matches('/').to_string(), csrf: None, scoped: Default::default() }
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// The `Set-Cookie` header that sets cookie `name`, whole (value and attributes).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&prefix))
            .map(str::to_string)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// The `csrf_token` value in a page's first form that posts to the host's own routes (the sign-out form and
/// plugin forms carry tokens good for their own routes only).
pub fn csrf_in(html: &str) -> Option<String> {
    form_tokens(html, "/").into_iter().find(|(scope, _)| scope == "host").map(|(_, t)| t)
}

/// Every form's token with the scope it is good for (`host`, `logout`, `plugin:{id}`), as a browser would submit
/// it; a form without an action posts to `page_path`.
pub fn form_tokens(html: &str, page_path: &str) -> Vec<(String, String)> {
    let form = regex::Regex::new(r#"(?s)<form([^>]*)>(.*?)</form>"#).unwrap();
    let action = regex::Regex::new(r#"action="([^"]*)""#).unwrap();
    let token = regex::Regex::new(r#"name="csrf_token" value="([^"]+)""#).unwrap();
    form.captures_iter(html)
        .filter_map(|c| {
            let to = action.captures(&c[1]).map(|a| html_unescape(&a[1])).filter(|a| !a.is_empty());
            // A hidden field, or (multipart forms) the action's query.
            let in_query = to.as_deref().and_then(|a| {
                let query = a.split_once('?')?.1;
                url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "csrf_token")
                    .map(|(_, v)| v.into_owned())
            });
            let t = token.captures(&c[2]).map(|t| html_unescape(&t[1])).or(in_query)?;
            Some((csrf_scope(to.as_deref().unwrap_or(page_path)), t))
        })
        .collect()
}

/// The scope whose token a post to `path` needs, as the host decides it (`http::csrf::Scope::of_path`).
pub fn csrf_scope(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if path == "/logout" {
        return "logout".into();
    }
    match path.strip_prefix("/api/v1/p/").or_else(|| path.strip_prefix("/p/")).and_then(|r| r.split('/').next()) {
        Some(id) if !id.is_empty() => format!("plugin:{id}"),
        _ => "host".into(),
    }
}

/// Undoes the template engines' escaping (the host's [`portico::render::unescape_html`]).
pub fn html_unescape(s: &str) -> String {
    portico::render::unescape_html(s)
}

impl Client {
    async fn read(res: reqwest::Response) -> Page {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        Page { status, headers, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let page = Self::read(self.http.get(format!("{}{path}", self.base)).send().await.expect("get")).await;
        self.learn_tokens(&page.body, path);
        page
    }

    /// Keeps each form's token by the scope it is good for.
    fn learn_tokens(&mut self, html: &str, page_path: &str) {
        for (scope, token) in form_tokens(html, page_path) {
            if scope == "host" {
                self.csrf = Some(token);
            } else {
                self.scoped.insert(scope, token);
            }
        }
    }

    /// The token a browser would send to `path`: that of a form seen for its scope (the host's token when the
    /// client saw none, so a test can watch the refusal).
    pub fn token_for(&self, path: &str) -> String {
        let scope = csrf_scope(path);
        let scoped = if scope == "host" { None } else { self.scoped.get(&scope).cloned() };
        scoped.or_else(|| self.csrf.clone()).unwrap_or_default()
    }

    /// Posts a form with the client's CSRF token (fetching `/login` first if it has none).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        if self.csrf.is_none() {
            self.get("/login").await;
        }
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        let token = self.token_for(path);
        form.push(("csrf_token", &token));
        self.post_raw(path, &form).await
    }

    /// Posts a form exactly as given (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let page =
            Self::read(self.http.post(format!("{}{path}", self.base)).form(fields).send().await.expect("post")).await;
        self.learn_tokens(&page.body, path);
        page
    }

    /// Posts a multipart form with the CSRF token in the query string, as the upload forms do.
    pub async fn post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        if self.csrf.is_none() {
            self.get("/login").await;
        }
        let token = self.token_for(path);
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), &[("csrf_token", token)]).unwrap();
        Self::read(self.http.post(url).multipart(form).send().await.expect("multipart")).await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Page {
        self.get("/login").await;
        self.post("/login", &[("email", email), ("password", password)]).await
    }

    /// Signs in and asserts it worked.
    pub async fn login_ok(&mut self, email: &str) {
        let page = self.login(email, portico::demo::DEMO_PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "login as {email} failed: {}", page.body);
    }

    /// Posts a multipart form to a JSON route with an API token (uploads to a plugin's API).
    pub async fn api_multipart(&self, path: &str, token: &str, form: reqwest::multipart::Form) -> Page {
        let res = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).multipart(form).send().await;
        Self::read(res.expect("multipart")).await
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Page {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::read(req.send().await.expect("api request")).await
    }

    /// An API token for a user.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let page = self
            .api(
                reqwest::Method::POST,
                "/api/v1/tokens",
                None,
                Some(serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(page.status, StatusCode::CREATED, "token for {email}: {}", page.body);
        page.json()["token"].as_str().unwrap().to_string()
    }
}

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A plugin built for `wasm32-wasip2` by `scripts/build-plugins`: its manifest directory and crate name.
pub struct PluginSource {
    pub dir: PathBuf,
    pub crate_name: &'static str,
}

/// The hostile test plugin.
pub fn hostile() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/hostile"),
        crate_name: "portico_test_hostile",
    }
}

/// The test plugin whose markup and answers try to run script on the portal's origin.
pub fn hostile_ui() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/hostile-ui"),
        crate_name: "portico_test_hostile_ui",
    }
}

/// The bundled training and certification plugin.
pub fn lms() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/lms"),
        crate_name: "portico_plugin_lms",
    }
}

/// The bundled content library plugin.
pub fn content() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/content"),
        crate_name: "portico_plugin_content",
    }
}

/// The bundled co-branding plugin.
pub fn co_branding() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/co-branding"),
        crate_name: "portico_plugin_co_branding",
    }
}

/// The bundled market development funds plugin.
pub fn mdf() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/mdf"),
        crate_name: "portico_plugin_mdf",
    }
}

/// The bundled gamification plugin (points, badges, leaderboards).
pub fn gamification() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/gamification"),
        crate_name: "portico_plugin_gamification",
    }
}

/// The bundled tiers and incentives plugin.
pub fn incentives() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/incentives"),
        crate_name: "portico_plugin_incentives",
    }
}

/// The bundled deal registration plugin.
pub fn deals() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/deal-registration"),
        crate_name: "portico_plugin_deal_registration",
    }
}

/// The test plugin that uses every capability `portico:plugin` 0.1.1 added (files, search, secrets, public
/// routes, activity events, partner cards).
pub fn capabilities() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/capabilities"),
        crate_name: "portico_test_capabilities",
    }
}

/// The bundled Salesforce connector.
pub fn crm_salesforce() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/crm-salesforce"),
        crate_name: "portico_plugin_crm_salesforce",
    }
}

/// The bundled HubSpot connector.
pub fn crm_hubspot() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/crm-hubspot"),
        crate_name: "portico_plugin_crm_hubspot",
    }
}

/// The bundled Dynamics 365 connector.
pub fn crm_dynamics() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/crm-dynamics"),
        crate_name: "portico_plugin_crm_dynamics",
    }
}

/// The SDK's example plugin.
pub fn guestbook() -> PluginSource {
    PluginSource {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk/example"),
        crate_name: "portico_example_guestbook",
    }
}

impl PluginSource {
    pub fn wasm(&self) -> Vec<u8> {
        let path = target_dir().join("wasm32-wasip2/plugin").join(format!("{}.wasm", self.crate_name));
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{} is missing ({e}): run ./scripts/build-plugins first", path.display()))
    }

    pub fn manifest(&self) -> portico_plugin_api::Manifest {
        portico_plugin_api::Manifest::parse(&std::fs::read_to_string(self.dir.join("plugin.toml")).unwrap()).unwrap()
    }
}

/// Compiles a plugin into the app's runtime, as a loaded plugin ready to invoke.
pub fn load_plugin(app: &TestApp, src: &PluginSource) -> std::sync::Arc<portico::runtime::LoadedPlugin> {
    let manifest = src.manifest();
    let compiled = app.state.runtime.compile(&src.wasm()).expect("compile plugin");
    let limits = app.state.runtime.limits.for_manifest(&manifest);
    std::sync::Arc::new(portico::runtime::LoadedPlugin { manifest, compiled, limits })
}

/// An invocation for `email` of the demo tenant (or a system call with `None`).
pub async fn invocation(
    app: &TestApp,
    plugin: &portico::runtime::LoadedPlugin,
    email: Option<&str>,
) -> portico::runtime::Invocation {
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let caller = match email {
        Some(e) => {
            let u = app.state.db.tenant(&tenant.id).user_by_email(e).await.unwrap().expect("user");
            Some(portico::runtime::CallerInfo {
                user_id: u.id,
                name: u.name,
                email: u.email,
                org_id: u.org_id,
                org_name: u.org_name,
                role: u.role,
            })
        }
        None => None,
    };
    portico::runtime::Invocation {
        tenant_id: tenant.id,
        tenant_slug: tenant.slug,
        program: None,
        caller,
        locale: "en".into(),
        time_zone: "UTC".into(),
        request_id: "test".into(),
        now_ms: portico::domain::now_millis(),
        settings: "{}".into(),
        limits: plugin.limits,
        uploads: Vec::new(),
    }
}

/// An API GET request to a plugin path.
pub fn api_get(path_and_query: &str) -> portico::runtime::HttpRequest {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let query = url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    portico::runtime::HttpRequest {
        method: "GET".into(),
        path: path.into(),
        query,
        headers: vec![],
        body: vec![],
        form: vec![],
        api: true,
    }
}

impl PluginSource {
    /// The plugin as a `.tar.gz` package, optionally with another manifest.
    pub fn package(&self, manifest: Option<&str>) -> Vec<u8> {
        let bytes = portico::cli::read_package(
            &self.dir,
            Some(&target_dir().join("wasm32-wasip2/plugin").join(format!("{}.wasm", self.crate_name))),
        )
        .expect("package");
        match manifest {
            None => bytes,
            Some(text) => {
                let mut p = portico::plugins::Package::from_tar_gz(&bytes).unwrap();
                p.manifest_text = text.to_string();
                p.to_tar_gz()
            }
        }
    }

    /// The plugin.toml text.
    pub fn manifest_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("plugin.toml")).unwrap()
    }
}

impl TestApp {
    /// Installs a package for the demo tenant and enables it in the given programs.
    pub async fn install(&self, package: &[u8], programs: &[&str]) -> portico::storage::InstalledPlugin {
        let tenant = self.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
        let (p, _) = portico::plugins::install(&self.state, &tenant, package, None).await.expect("install");
        for program in programs {
            portico::cli::set_enabled(&self.state, &tenant, &p.plugin_id, Some(program), true).await.unwrap();
        }
        p
    }
}
