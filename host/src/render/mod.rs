//! Rendering of the host's own pages: tera templates looked up tenant override → tenant's theme → default theme,
//! with autoescaping on and without tera's `get_env` (a vendor's template override must not read the host's
//! environment). Plugin templates are not rendered here: they run in the sandboxed renderer (`runtime::render`);
//! this module only gathers their sources, with the theme's overrides of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tera::{Tera, Value};

use crate::domain::{Millis, Tenant};
use crate::storage::{StorageError, TenantScope};

/// The theme every other theme falls back to.
pub const DEFAULT_THEME: &str = "default";

/// Rendering failed. Template errors are bugs or a bad tenant override: logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("theme {theme}: {source}")]
    Load { theme: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("template {name}: {source}")]
    Template { name: String, source: tera::Error },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// `theme.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct ThemeInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// A loaded theme.
#[derive(Debug)]
pub struct Theme {
    pub key: String,
    pub info: ThemeInfo,
    pub static_dir: PathBuf,
    /// Where the theme's templates are; `plugins/{id}/…` under it overrides a plugin's templates.
    pub templates_dir: PathBuf,
    tera: Arc<Tera>,
}

/// A plugin's templates as (name, source), the theme's overrides applied.
pub type PluginSources = Arc<Vec<(String, String)>>;

/// A tenant's template set as of its `updated_at`; `None` when it has no overrides and uses its theme's.
type TenantSet = (Millis, Option<Arc<Tera>>);

/// All themes, plus a cache of per-tenant template sets keyed by the tenant's `updated_at`
/// (which every override change bumps, so replicas pick changes up on the next request).
#[derive(Debug)]
pub struct Renderer {
    themes: HashMap<String, Theme>,
    tenant_sets: Mutex<HashMap<String, TenantSet>>,
    /// Plugin template sources by (theme, package key), the theme's overrides applied; package keys are content
    /// hashes, so never stale.
    plugin_sets: Mutex<HashMap<(String, String), PluginSources>>,
}

impl Renderer {
    /// Loads every theme under `themes_dir`; `default` must exist.
    pub fn load(themes_dir: &Path) -> Result<Self, RenderError> {
        let load_err = |theme: &str, e: Box<dyn std::error::Error + Send + Sync>| RenderError::Load {
            theme: theme.into(),
            source: e,
        };
        let default_dir = themes_dir.join(DEFAULT_THEME);
        let mut themes = HashMap::new();
        let entries = std::fs::read_dir(themes_dir).map_err(|e| load_err(DEFAULT_THEME, e.into()))?;
        for entry in entries {
            let dir = entry.map_err(|e| load_err("?", e.into()))?.path();
            let Some(key) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
            let info_path = dir.join("theme.toml");
            if !info_path.exists() {
                continue;
            }
            let info: ThemeInfo =
                toml::from_str(&std::fs::read_to_string(&info_path).map_err(|e| load_err(&key, e.into()))?)
                    .map_err(|e| load_err(&key, e.into()))?;
            let mut tera = Tera::default();
            let mut files = template_files(&default_dir.join("templates")).map_err(|e| load_err(&key, e.into()))?;
            if key != DEFAULT_THEME {
                files.extend(template_files(&dir.join("templates")).map_err(|e| load_err(&key, e.into()))?);
            }
            // Later files with the same name replace earlier ones: the theme overrides the default.
            let mut by_name: HashMap<String, PathBuf> = HashMap::new();
            for (name, path) in files {
                by_name.insert(name, path);
            }
            tera.add_template_files(by_name.into_iter().map(|(n, p)| (p, Some(n))).collect::<Vec<_>>())
                .map_err(|e| load_err(&key, e.into()))?;
            register_filters(&mut tera);
            themes.insert(
                key.clone(),
                Theme {
                    key,
                    info,
                    static_dir: dir.join("static"),
                    templates_dir: dir.join("templates"),
                    tera: Arc::new(tera),
                },
            );
        }
        if !themes.contains_key(DEFAULT_THEME) {
            return Err(load_err(DEFAULT_THEME, "the default theme is missing".into()));
        }
        Ok(Self { themes, tenant_sets: Mutex::new(HashMap::new()), plugin_sets: Mutex::new(HashMap::new()) })
    }

    /// Themes by key, sorted.
    pub fn themes(&self) -> Vec<&Theme> {
        let mut v: Vec<_> = self.themes.values().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    pub fn has_theme(&self, key: &str) -> bool {
        self.themes.contains_key(key)
    }

    fn theme(&self, key: &str) -> &Theme {
        self.themes.get(key).unwrap_or_else(|| &self.themes[DEFAULT_THEME])
    }

    /// Renders `name` for a tenant (or with the default theme when there is none).
    pub async fn render(
        &self,
        scope: Option<TenantScope<'_>>,
        tenant: Option<&Tenant>,
        name: &str,
        ctx: &tera::Context,
    ) -> Result<String, RenderError> {
        let (tera, theme) = match (scope, tenant) {
            (Some(scope), Some(t)) => (self.tenant_set(scope, t).await?, self.theme(&t.theme)),
            _ => (self.theme(DEFAULT_THEME).tera.clone(), self.theme(DEFAULT_THEME)),
        };
        match tera.render(name, ctx) {
            Ok(html) => Ok(html),
            // The tenant's overrides parse (checked when saved) but one can still fail on a page's context, say
            // by naming a variable that page lacks: the page then uses the theme's templates, and the error is
            // logged for the operator, so a vendor's edit cannot take their portal down.
            Err(e) if !Arc::ptr_eq(&tera, &theme.tera) => {
                tracing::error!(
                    tenant = tenant.map(|t| t.slug.as_str()).unwrap_or_default(),
                    template = name,
                    error = %error_chain(&e),
                    "a tenant template override failed to render; the theme's templates were used"
                );
                theme.tera.render(name, ctx).map_err(|source| RenderError::Template { name: name.into(), source })
            }
            Err(source) => Err(RenderError::Template { name: name.into(), source }),
        }
    }

    /// The names of the templates a tenant on `theme` may override (the theme's and the default's), sorted.
    pub fn template_names(&self, theme: &str) -> Vec<String> {
        let mut names: Vec<String> = self.theme(theme).tera.get_template_names().map(str::to_string).collect();
        names.sort();
        names
    }

    /// Whether `theme` (with the default theme under it) has a template called `name`.
    pub fn has_template(&self, theme: &str, name: &str) -> bool {
        self.theme(theme).tera.get_template_names().any(|n| n == name)
    }

    /// The source of one of a theme's templates (or the default theme's, which it falls back to).
    pub fn theme_source(&self, theme: &str, name: &str) -> Option<String> {
        if !self.has_template(theme, name) {
            return None;
        }
        [self.theme(theme), self.theme(DEFAULT_THEME)]
            .iter()
            .find_map(|t| std::fs::read_to_string(t.templates_dir.join(name)).ok())
    }

    /// Checks a tenant override before it is saved: it must replace one of the theme's templates, and it must
    /// parse and fit the theme's inheritance (blocks, macros, the templates it extends or includes). The error
    /// is for the vendor admin who wrote it, with tera's line and column.
    pub fn check_override(&self, theme: &str, name: &str, body: &str) -> Result<(), String> {
        if !self.has_template(theme, name) {
            return Err(format!("{name} is not one of the theme's templates"));
        }
        let mut tera = (*self.theme(theme).tera).clone();
        tera.add_raw_template(name, body).map_err(|e| error_chain(&e))
    }

    /// A plugin's template sources for a theme: the package's, with the theme's `templates/plugins/{id}/…` over
    /// them.
    pub fn plugin_sources(
        &self,
        theme: &str,
        plugin_id: &str,
        package_key: &str,
        templates: &std::collections::BTreeMap<String, String>,
    ) -> PluginSources {
        let theme = self.theme(theme);
        let cache_key = (theme.key.clone(), package_key.to_string());
        if let Some(cached) = self.plugin_sets.lock().expect("plugin template lock").get(&cache_key) {
            return cached.clone();
        }
        let mut all = templates.clone();
        let overrides = theme.templates_dir.join("plugins").join(plugin_id);
        for (rel, path) in template_files(&overrides).unwrap_or_default() {
            if let Ok(body) = std::fs::read_to_string(path) {
                all.insert(rel, body);
            }
        }
        let sources = Arc::new(all.into_iter().collect::<Vec<_>>());
        self.plugin_sets.lock().expect("plugin template lock").insert(cache_key, sources.clone());
        sources
    }

    async fn tenant_set(&self, scope: TenantScope<'_>, t: &Tenant) -> Result<Arc<Tera>, RenderError> {
        let theme = self.theme(&t.theme);
        if let Some((version, set)) = self.tenant_sets.lock().expect("render cache lock").get(&t.id)
            && *version == t.updated_at
        {
            return Ok(set.clone().unwrap_or_else(|| theme.tera.clone()));
        }
        let overrides = scope.template_overrides().await?;
        let set = if overrides.is_empty() {
            None
        } else {
            let mut tera = (*theme.tera).clone();
            // A broken override is refused at save time; if one slips through, fall back to the theme.
            match tera.add_raw_templates(overrides) {
                Ok(()) => Some(Arc::new(tera)),
                Err(e) => {
                    tracing::error!(tenant = %t.slug, error = %e, "tenant template override does not load");
                    None
                }
            }
        };
        self.tenant_sets.lock().expect("render cache lock").insert(t.id.clone(), (t.updated_at, set.clone()));
        Ok(set.unwrap_or_else(|| theme.tera.clone()))
    }
}

/// `(name, path)` of every `.html` file under `dir`, names relative with `/`.
fn template_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                let rel = path.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A tera error with its causes, for messages to plugin authors.
fn error_chain(e: &tera::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn register_filters(tera: &mut Tera) {
    tera.register_filter("localtime", localtime);
    // tera's built-in `get_env` reads the host process's environment (database URLs, cloud keys): a tenant's
    // template override must not. Registering a function under the same name replaces it.
    tera.register_function("get_env", |_: &HashMap<String, Value>| -> tera::Result<Value> {
        Err(tera::Error::msg("get_env is not available in Portico templates"))
    });
    tera.register_function("chart", chart);
}

/// `{{ chart(kind="bar", title=…, categories=…, series=…, locale=viewer_locale, tz=viewer_tz) | safe }}`: the
/// same accessible SVG chart plugin templates draw (see `portico_charts`), for the host's own pages.
fn chart(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let mut spec: serde_json::Map<String, Value> = args
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "locale" | "tz"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(values) = spec.remove("values") {
        spec.entry("series").or_insert_with(|| serde_json::json!([{ "name": "", "values": values }]));
    }
    let chart: portico_charts::Chart =
        serde_json::from_value(Value::Object(spec)).map_err(|e| tera::Error::msg(format!("chart: {e}")))?;
    let fmt = portico_charts::Formatter::new(&text("locale"), &text("tz"));
    Ok(Value::String(portico_charts::render(&chart, &fmt)))
}

/// `{{ millis | localtime(tz=viewer_tz) }}`: a UTC timestamp shown in the viewer's time zone.
fn localtime(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let Some(ms) = value.as_i64() else { return Ok(Value::String(String::new())) };
    let tz: chrono_tz::Tz =
        args.get("tz").and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(chrono_tz::UTC);
    let Some(utc) = chrono::DateTime::from_timestamp_millis(ms) else { return Ok(Value::String(String::new())) };
    Ok(Value::String(utc.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()))
}

/// Undoes the template engines' escaping (tera's and minijinja's), as a browser reads the text: for reading a
/// rendered page's form tokens and text back (base64 tokens hold `/`, `=` and `+`, which are escaped). `&amp;` goes
/// last, so an escaped entity is not unescaped twice.
pub fn unescape_html(s: &str) -> String {
    [
        ("&#x2F;", "/"),
        ("&#x2f;", "/"),
        ("&#x3D;", "="),
        ("&#x2B;", "+"),
        ("&#x27;", "'"),
        ("&#39;", "'"),
        ("&quot;", "\""),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(s.to_string(), |v, (entity, c)| v.replace(entity, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_cannot_read_the_environment() {
        let mut tera = Tera::default();
        register_filters(&mut tera);
        tera.add_raw_template("t.html", "{{ get_env(name='HOME') }}").unwrap();
        let e = tera.render("t.html", &tera::Context::new()).unwrap_err();
        assert!(error_chain(&e).contains("get_env is not available"), "{}", error_chain(&e));
    }

    #[test]
    fn host_pages_draw_charts_for_the_viewer() {
        let mut tera = Tera::default();
        register_filters(&mut tera);
        tera.add_raw_template(
            "t.html",
            "{{ chart(kind='donut', title='Tiers', categories=['Gold', 'Silver'], values=[3, 1], locale='de-DE') | safe }}",
        )
        .unwrap();
        let html = tera.render("t.html", &tera::Context::new()).unwrap();
        assert!(html.starts_with("<figure class=\"pt-chart pt-chart-donut\">") && html.contains("Gold"), "{html}");
        tera.add_raw_template("bad.html", "{{ chart(kind='pie') }}").unwrap();
        assert!(error_chain(&tera.render("bad.html", &tera::Context::new()).unwrap_err()).contains("unknown variant"));
    }

    #[test]
    fn localtime_shows_the_viewers_zone() {
        let mut args = HashMap::new();
        args.insert("tz".to_string(), Value::String("Europe/Berlin".into()));
        let v = localtime(&Value::from(0i64), &args).unwrap();
        assert_eq!(v.as_str().unwrap(), "1970-01-01 01:00 CET");
        let v = localtime(&Value::from(0i64), &HashMap::new()).unwrap();
        assert_eq!(v.as_str().unwrap(), "1970-01-01 00:00 UTC");
    }
}
