//! The call context, incoming requests and responses, in plain Rust types.

use serde::Serialize;

use crate::bindings::exports::portico::plugin::http_handler as wit_http;
use crate::bindings::portico::plugin::types::{CallContext, Caller, Role};
use crate::{Error, View};

/// Who a call is for and when: the tenant, the program, the user (if any), locale, time zone and the host's
/// clock.
#[derive(Debug, Clone)]
pub struct Context {
    inner: CallContext,
}

impl Context {
    #[doc(hidden)]
    pub fn from_wit(inner: CallContext) -> Self {
        Context { inner }
    }

    /// The tenant's id.
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    /// The program in effect, by key.
    /// The tenant's short name (its portal's slug), e.g. `acme`.
    pub fn tenant_slug(&self) -> &str {
        &self.inner.tenant_slug
    }

    pub fn program(&self) -> Option<&str> {
        self.inner.program.as_deref()
    }

    /// The signed-in user, for calls made on a user's behalf.
    pub fn caller(&self) -> Option<&Caller> {
        self.inner.caller.as_ref()
    }

    /// The user's name, or an empty string.
    pub fn user_name(&self) -> &str {
        self.inner.caller.as_ref().map(|c| c.name.as_str()).unwrap_or("")
    }

    /// The caller's role.
    pub fn role(&self) -> Option<Role> {
        self.inner.caller.as_ref().map(|c| c.role)
    }

    /// Vendor admin or channel manager.
    pub fn is_vendor_staff(&self) -> bool {
        matches!(self.role(), Some(Role::VendorAdmin | Role::ChannelManager))
    }

    /// The host's clock, milliseconds since the epoch, UTC.
    pub fn now_ms(&self) -> i64 {
        self.inner.now_ms
    }

    /// The viewer's IANA time zone.
    pub fn time_zone(&self) -> &str {
        &self.inner.time_zone
    }

    /// The viewer's locale.
    pub fn locale(&self) -> &str {
        &self.inner.locale
    }

    /// The request id, for logs.
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }
}

/// An incoming page or API request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path below the plugin's prefix, starting with `/`.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Headers (lowercase names), without credentials.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// Parsed form fields.
    pub form: Vec<(String, String)>,
    /// True for the JSON API.
    pub api: bool,
}

impl Request {
    #[doc(hidden)]
    pub fn from_wit(r: wit_http::Request) -> Self {
        Request {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
            form: r.form,
            api: r.api,
        }
    }

    /// A query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// One text parameter wherever the client put it: a form field, a top-level field of a JSON body (a string,
    /// number or boolean, as text), or the query; empty when absent. For routes that pages and the JSON API share.
    pub fn param(&self, name: &str) -> String {
        if let Some(v) = self.field(name) {
            return v.to_string();
        }
        if self.form.is_empty()
            && !self.body.is_empty()
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body)
        {
            match &v[name] {
                serde_json::Value::String(s) => return s.clone(),
                serde_json::Value::Number(n) => return n.to_string(),
                serde_json::Value::Bool(b) => return b.to_string(),
                _ => {}
            }
        }
        self.query(name).unwrap_or_default().to_string()
    }

    /// The path's segments, without empty ones: `/deals/42` → `["deals", "42"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::invalid("body", format!("not valid JSON: {e}")))
    }
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub enum Response {
    /// A page: template and context, rendered inside the portal layout.
    Page(View),
    /// JSON with a status code.
    Json(u16, String),
    /// A redirect to a path.
    Redirect(String),
    /// A file download.
    File { content_type: String, filename: String, body: Vec<u8> },
}

impl Response {
    /// A page from one of the plugin's templates.
    pub fn page(template: &str, title: &str, context: &impl Serialize) -> Response {
        Response::Page(View {
            template: template.to_string(),
            title: title.to_string(),
            context: serde_json::to_string(context).unwrap_or_else(|_| "{}".into()),
            status: 200,
        })
    }

    /// JSON with status 200.
    pub fn json(value: &impl Serialize) -> Response {
        Response::Json(200, serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
    }

    /// JSON with a status.
    pub fn json_status(status: u16, value: &impl Serialize) -> Response {
        Response::Json(status, serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
    }

    /// A redirect (303).
    pub fn redirect(to: impl Into<String>) -> Response {
        Response::Redirect(to.into())
    }

    #[doc(hidden)]
    pub fn into_wit(self) -> wit_http::Response {
        match self {
            Response::Page(v) => wit_http::Response::Page(v),
            Response::Json(s, b) => wit_http::Response::Json((s, b)),
            Response::Redirect(to) => wit_http::Response::Redirect(to),
            Response::File { content_type, filename, body } => {
                wit_http::Response::File(wit_http::File { content_type, filename, body })
            }
        }
    }
}
