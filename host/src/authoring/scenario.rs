//! `portico plugin test`: a scenario file of requests made as demo users against a throwaway portal, with the
//! statuses, JSON fields and text each must answer. It needs no language of its own, so a Python or JavaScript
//! author tests without Rust, and it goes through the whole host (routing, roles, CSRF, the JSON error shape,
//! rendering), not the plugin alone.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::Portal;
use crate::auth::{hash_secret, new_secret};
use crate::domain::now_millis;

/// A scenario file (`tests/scenario.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub steps: Vec<Step>,
}

/// One request and what it must answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Shown in the report; defaults to the request.
    pub name: Option<String>,
    /// The demo user's email, e.g. `bob@northwind.example`.
    #[serde(rename = "as")]
    pub user: String,
    /// `METHOD /path`: a page (`/p/…`) or the JSON API (`/api/v1/…`).
    pub request: String,
    /// A JSON body.
    pub json: Option<toml::Value>,
    /// Form fields (pages; the CSRF token is added as a browser would).
    pub form: Option<BTreeMap<String, String>>,
    /// The status code; defaults to any success (2xx or a redirect).
    pub status: Option<u16>,
    /// JSON fields by path (`notes.0.text`) and the values they must equal.
    #[serde(default)]
    pub expect: BTreeMap<String, toml::Value>,
    /// Text the response body must contain.
    #[serde(default)]
    pub contains: Vec<String>,
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let scenario: Scenario = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        anyhow::ensure!(!scenario.steps.is_empty(), "{} has no [[steps]]", path.display());
        for (i, step) in scenario.steps.iter().enumerate() {
            split_request(&step.request).map_err(|e| anyhow::anyhow!("{}: step {}: {e}", path.display(), i + 1))?;
        }
        Ok(scenario)
    }
}

/// How a scenario went (each step's line is printed as it runs).
#[derive(Debug, Default)]
pub struct Outcome {
    pub passed: usize,
    pub failed: usize,
}

/// Runs every step in order against `portal`, printing each as it goes.
pub async fn run_scenario(portal: &Portal, scenario: &Scenario) -> anyhow::Result<Outcome> {
    let mut users: BTreeMap<String, User> = BTreeMap::new();
    let mut outcome = Outcome::default();
    for (i, step) in scenario.steps.iter().enumerate() {
        let name = step.name.clone().unwrap_or_else(|| step.request.clone());
        if !users.contains_key(&step.user) {
            users.insert(step.user.clone(), signed_in(portal, &step.user).await?);
        }
        match run_step(portal, &users[&step.user], step).await {
            Ok(()) => {
                outcome.passed += 1;
                println!("  ok    {}. {name}", i + 1);
            }
            Err(why) => {
                outcome.failed += 1;
                println!("  FAIL  {}. {name}\n        {why}", i + 1);
            }
        }
    }
    Ok(outcome)
}

/// A demo user signed in: a browser session (in the client's cookie jar) for pages and an API token for the JSON
/// API, as a person and a script would hold them.
struct User {
    client: reqwest::Client,
    token: String,
}

async fn signed_in(portal: &Portal, email: &str) -> anyhow::Result<User> {
    let scope = portal.state.db.tenant(&portal.tenant.id);
    let user = scope.user_by_email(email).await?.ok_or_else(|| {
        let known: Vec<&str> = crate::demo::DEMO_USERS.iter().map(|(e, _, _)| *e).collect();
        anyhow::anyhow!("no demo user {email}; the demo users are {}", known.join(", "))
    })?;
    let session = new_secret();
    scope.create_session(&hash_secret(&session), &user.id, now_millis() + 3_600_000).await?;
    let token = new_secret();
    scope.create_api_token(&user.id, "portico plugin test", &hash_secret(&token)).await?;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = portal.url.parse()?;
    jar.add_cookie_str(&format!("{}={session}; Path=/", crate::http::SESSION_COOKIE), &url);
    let client = reqwest::Client::builder().cookie_provider(jar).redirect(reqwest::redirect::Policy::none()).build()?;
    Ok(User { client, token })
}

async fn run_step(portal: &Portal, user: &User, step: &Step) -> Result<(), String> {
    let client = &user.client;
    let (method, path) = split_request(&step.request)?;
    let url = format!("{}{path}", portal.url);
    let api = path.starts_with("/api/");
    let mut req = client.request(method.clone(), &url);
    if api {
        // The JSON API takes the bearer token, so a POST needs no CSRF token.
        req = req.bearer_auth(&user.token);
    }
    if let Some(json) = &step.json {
        req = req.json(&serde_json::to_value(json).map_err(|e| e.to_string())?);
    }
    if let Some(form) = &step.form {
        let mut fields = form.clone();
        if !api {
            fields.insert("csrf_token".into(), csrf_token(client, &url, path).await?);
        }
        req = req.form(&fields);
    }
    let res = req.send().await.map_err(|e| format!("the request failed: {e}"))?;
    let status = res.status().as_u16();
    let body = res.text().await.map_err(|e| format!("the body did not arrive: {e}"))?;
    let excerpt = || body.chars().take(300).collect::<String>();
    match step.status {
        Some(want) if want != status => return Err(format!("status {status}, expected {want}: {}", excerpt())),
        None if status >= 400 => return Err(format!("status {status}: {}", excerpt())),
        _ => {}
    }
    if !step.expect.is_empty() {
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| format!("the answer is not JSON: {}", excerpt()))?;
        for (path, want) in &step.expect {
            let want = serde_json::to_value(want).map_err(|e| e.to_string())?;
            match lookup(&json, path) {
                Some(got) if *got == want => {}
                Some(got) => return Err(format!("{path} is {got}, expected {want}")),
                None => return Err(format!("{path} is missing in {}", excerpt())),
            }
        }
    }
    for text in &step.contains {
        if !body.contains(text.as_str()) {
            return Err(format!("the answer does not contain {text:?}"));
        }
    }
    Ok(())
}

/// `POST /api/v1/p/x/notes` → (POST, `/api/v1/p/x/notes`).
fn split_request(request: &str) -> Result<(reqwest::Method, &str), String> {
    let (method, path) = request.trim().split_once(' ').ok_or_else(|| {
        format!("request = {request:?} is not \"METHOD /path\", e.g. \"GET /api/v1/p/my-plugin/notes\"")
    })?;
    let path = path.trim();
    if !path.starts_with('/') {
        return Err(format!("the path in request = {request:?} must start with /"));
    }
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| format!("{method} is not a method"))?;
    Ok((method, path))
}

/// A field of a JSON value by dotted path; numbers index arrays.
fn lookup<'a>(value: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(value, |v, key| match v {
        serde_json::Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        serde_json::Value::Object(map) => map.get(key),
        _ => None,
    })
}

/// The CSRF token of the page's form that posts to `path`, read as a browser would (the cookie half stays in the
/// jar). Tokens are scoped (a plugin's forms carry the plugin's, the layout's sign-out form its own), so the form
/// is found by its action.
async fn csrf_token(client: &reqwest::Client, url: &str, path: &str) -> Result<String, String> {
    let page = client.get(url).send().await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())?;
    let form = [format!("action=\"{path}\""), format!("action=\"{}\"", path.replace('/', "&#x2F;"))]
        .iter()
        .find_map(|action| page.find(action.as_str()))
        .ok_or_else(|| format!("the page has no form posting to {path}"))?;
    let marker = "name=\"csrf_token\" value=\"";
    let start = form + page[form..].find(marker).ok_or("the form has no csrf_token field")? + marker.len();
    let end = page[start..].find('"').ok_or("the csrf_token field is not closed")?;
    Ok(crate::render::unescape_html(&page[start..start + end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_path() {
        let v = serde_json::json!({ "notes": [{ "text": "a" }], "error": { "field": "text" } });
        assert_eq!(lookup(&v, "notes.0.text"), Some(&serde_json::json!("a")));
        assert_eq!(lookup(&v, "error.field"), Some(&serde_json::json!("text")));
        assert_eq!(lookup(&v, "notes.1.text"), None);
        assert_eq!(lookup(&v, "notes.x"), None);
    }

    #[test]
    fn tokens_are_read_as_the_browser_reads_them() {
        assert_eq!(crate::render::unescape_html("a&#x2F;b&#x2B;c&#x3D;&amp;"), "a/b+c=&");
        assert_eq!(crate::render::unescape_html("&amp;quot;"), "&quot;", "an escaped entity is unescaped once");
    }

    #[test]
    fn requests_name_a_method_and_a_path() {
        assert_eq!(split_request("GET /p/x/").unwrap().1, "/p/x/");
        assert!(split_request("/p/x/").is_err());
        assert!(split_request("GET p/x").is_err());
    }

    #[test]
    fn the_template_scenario_parses() {
        let text = include_str!("../../scaffold/common/tests/scenario.toml");
        let s: Scenario = toml::from_str(text).unwrap();
        assert!(s.steps.len() >= 4);
    }
}
