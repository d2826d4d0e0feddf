//! Salesforce's REST API, as far as the connector uses it: the OAuth 2.0 refresh-token flow
//! (`/services/oauth2/token`, which answers without `expires_in`, so an expired session shows as a 401
//! `INVALID_SESSION_ID`), `sobjects/{Object}/describe`, upsert by an external-id field
//! (`PATCH sobjects/{Object}/{Field}/{value}`), create and update by id, and SOQL queries on `SystemModstamp`
//! followed through `nextRecordsUrl`. Errors are read from Salesforce's own bodies (`[{"errorCode", "message"}]`
//! for the API, `{"error", "error_description"}` for OAuth).

use portico_crm::connector::{Changes, Crm, CrmRecord, Reply, Request, Target, Transport, checked, encode};
use portico_crm::retry::{Failure, retry_after_header};
use portico_crm::schema::{CrmField, Kind};
use portico_crm::watermark::{iso, parse_time};
use serde_json::{Map, Value};

/// The REST API version the connector speaks.
pub const API_VERSION: &str = "v60.0";

/// How long to wait when the org's daily API allowance is spent (`REQUEST_LIMIT_EXCEEDED`; Salesforce sends no
/// `Retry-After`, and the allowance is a rolling 24 hours).
const DAILY_LIMIT_WAIT_MS: i64 = 15 * 60_000;

/// A connection: where to sign in, the connected app's credentials and the grant, and the session once obtained.
#[derive(Debug, Clone)]
pub struct Salesforce {
    /// `https://login.salesforce.com`, `https://test.salesforce.com` or the org's My Domain.
    pub login_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// The session: the access token and the org's instance URL the token endpoint named.
    pub access_token: Option<String>,
    pub instance_url: Option<String>,
}

impl Salesforce {
    fn api(&self, path: &str) -> Result<String, Failure> {
        let base = self.instance_url.as_deref().ok_or(Failure::Expired)?;
        Ok(format!("{}/services/data/{API_VERSION}/{path}", base.trim_end_matches('/')))
    }

    fn call(&self, t: &mut dyn Transport, req: Request) -> Result<Reply, Failure> {
        let token = self.access_token.as_deref().ok_or(Failure::Expired)?;
        let reply = t.send(req.bearer(token).header("Accept", "application/json"))?;
        if reply.ok() { Ok(reply) } else { Err(api_failure(&reply)) }
    }

    fn query(&self, t: &mut dyn Transport, soql: &str) -> Result<Value, Failure> {
        let url = format!("{}?q={}", self.api("query")?, encode(soql));
        let reply = self.call(t, Request::new("GET", url))?;
        reply.json().ok_or_else(|| Failure::BadUrl("the query answer is not JSON: is this Salesforce?".into()))
    }
}

/// A Salesforce API error as a [`Failure`].
pub fn api_failure(reply: &Reply) -> Failure {
    let body = reply.json().unwrap_or(Value::Null);
    let first = body.as_array().and_then(|a| a.first()).cloned().unwrap_or(Value::Null);
    let code = first["errorCode"].as_str().unwrap_or("");
    let message =
        first["message"].as_str().map_or_else(|| format!("HTTP {}", reply.status), |m| format!("{code}: {m}"));
    match (reply.status, code) {
        (401, _) => Failure::Expired,
        (_, "REQUEST_LIMIT_EXCEEDED") => Failure::RateLimited {
            wait_ms: retry_after_header(&reply.headers, 0).unwrap_or(DAILY_LIMIT_WAIT_MS),
            message,
        },
        (429, _) => Failure::RateLimited { wait_ms: retry_after_header(&reply.headers, 0).unwrap_or(60_000), message },
        (403, _) => Failure::Permission(message),
        (404, _) => Failure::NotFound(message),
        (300 | 400 | 409 | 412 | 415, _) => Failure::Rejected(message),
        _ => Failure::Unavailable(message),
    }
}

/// An OAuth token endpoint error as a [`Failure`], in words.
fn oauth_failure(reply: &Reply) -> Failure {
    let body = reply.json().unwrap_or(Value::Null);
    let (error, description) = (body["error"].as_str().unwrap_or(""), body["error_description"].as_str().unwrap_or(""));
    match error {
        "invalid_grant" => Failure::Credentials(format!(
            "the refresh token was revoked or has expired ({description}): connect again to grant access"
        )),
        "invalid_client_id" | "invalid_client" => {
            Failure::Credentials(format!("the client id or client secret is wrong ({description})"))
        }
        "" if reply.status >= 500 => Failure::Unavailable(format!("the token endpoint answered HTTP {}", reply.status)),
        "" => Failure::BadUrl(format!(
            "the login URL answered HTTP {} without an OAuth error: is it Salesforce's login URL?",
            reply.status
        )),
        other => Failure::Credentials(format!("{other}: {description}")),
    }
}

/// A SOQL string literal's content: backslash, quote and the LIKE wildcards escaped.
fn soql_like(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if matches!(c, '\\' | '\'' | '%' | '_') {
            out.push('\\');
        }
        if c == '\n' || c == '\r' {
            continue;
        }
        out.push(c);
    }
    out
}

/// Whether a name is a SOQL identifier (API names are letters, digits and underscores).
fn identifier(name: &str) -> Result<&str, Failure> {
    checked(name, |c| c.is_ascii_alphanumeric() || c == '_', "a Salesforce API name")
}

fn kind(field: &Value) -> Kind {
    match field["type"].as_str().unwrap_or("") {
        "currency" => Kind::Money,
        "double" | "int" | "long" | "percent" => Kind::Number,
        "date" => Kind::Date,
        "datetime" => Kind::DateTime,
        "boolean" => Kind::Boolean,
        "picklist" => Kind::Picklist(
            field["picklistValues"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["active"].as_bool().unwrap_or(true))
                .filter_map(|v| v["value"].as_str().map(String::from))
                .collect(),
        ),
        "reference" | "id" => Kind::Reference,
        _ => Kind::Text,
    }
}

impl Crm for Salesforce {
    const NAME: &'static str = "Salesforce";

    fn refresh(&mut self, t: &mut dyn Transport) -> Result<Vec<(String, String)>, Failure> {
        let url = format!("{}/services/oauth2/token", self.login_url.trim_end_matches('/'));
        let req = Request::new("POST", url).header("Accept", "application/json").form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ]);
        let reply = t.send(req)?;
        if !reply.ok() {
            return Err(oauth_failure(&reply));
        }
        let body = reply.json().unwrap_or(Value::Null);
        let (Some(token), Some(instance)) = (body["access_token"].as_str(), body["instance_url"].as_str()) else {
            return Err(Failure::BadUrl("the token endpoint's answer has no access token: is it Salesforce?".into()));
        };
        self.access_token = Some(token.to_string());
        self.instance_url = Some(instance.to_string());
        let mut changed = vec![("access_token".to_string(), token.to_string())];
        // Salesforce rotates the refresh token only when the connected app asks it to; keep a new one if given.
        if let Some(r) = body["refresh_token"].as_str().filter(|r| *r != self.refresh_token) {
            self.refresh_token = r.to_string();
            changed.push(("refresh_token".to_string(), r.to_string()));
        }
        Ok(changed)
    }

    fn describe(&mut self, t: &mut dyn Transport, object: &str) -> Result<Vec<CrmField>, Failure> {
        let url = self.api(&format!("sobjects/{}/describe", identifier(object)?))?;
        let body = self.call(t, Request::new("GET", url))?.json().unwrap_or(Value::Null);
        let fields = body["fields"].as_array().ok_or_else(|| Failure::NotFound(format!("no fields for {object}")))?;
        Ok(fields
            .iter()
            .filter_map(|f| {
                let name = f["name"].as_str()?.to_string();
                let createable = f["createable"].as_bool().unwrap_or(false);
                let required = createable
                    && !f["nillable"].as_bool().unwrap_or(true)
                    && !f["defaultedOnCreate"].as_bool().unwrap_or(false);
                Some(CrmField {
                    label: f["label"].as_str().unwrap_or(&name).to_string(),
                    kind: kind(f),
                    createable,
                    updateable: f["updateable"].as_bool().unwrap_or(false),
                    required,
                    external_id: f["externalId"].as_bool().unwrap_or(false),
                    custom: f["custom"].as_bool().unwrap_or(false),
                    many: false,
                    name,
                })
            })
            .collect())
    }

    fn write(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        target: Target<'_>,
        fields: &Map<String, Value>,
    ) -> Result<String, Failure> {
        let object = identifier(object)?;
        match target {
            Target::ExternalId { field, value } => {
                // The external id goes in the URL, and must not be in the body as well.
                let mut body = fields.clone();
                body.retain(|k, _| !k.eq_ignore_ascii_case(field));
                let url = self.api(&format!("sobjects/{object}/{}/{}", identifier(field)?, encode(value)))?;
                let reply = self.call(t, Request::new("PATCH", url.clone()).json(&Value::Object(body)))?;
                if let Some(id) = reply.json().and_then(|b| b["id"].as_str().map(String::from)) {
                    return Ok(id);
                }
                // Before API 46.0 an upsert that updated answered 204 without a body: read the id.
                let got = self.call(t, Request::new("GET", format!("{url}?fields=Id")))?;
                got.json()
                    .and_then(|b| b["Id"].as_str().map(String::from))
                    .ok_or_else(|| Failure::Unavailable("the upserted record's id could not be read".into()))
            }
            Target::Id(id) => {
                let url = self.api(&format!("sobjects/{object}/{}", identifier(id)?))?;
                self.call(t, Request::new("PATCH", url).json(&Value::Object(fields.clone())))?;
                Ok(id.to_string())
            }
            Target::New => {
                let url = self.api(&format!("sobjects/{object}"))?;
                let reply = self.call(t, Request::new("POST", url).json(&Value::Object(fields.clone())))?;
                reply
                    .json()
                    .and_then(|b| b["id"].as_str().map(String::from))
                    .ok_or_else(|| Failure::Unavailable("the created record's id is missing".into()))
            }
        }
    }

    fn read(&mut self, t: &mut dyn Transport, object: &str, id: &str, fields: &[String]) -> Result<CrmRecord, Failure> {
        let mut select = vec!["Id".to_string(), "SystemModstamp".to_string()];
        for f in fields {
            if !select.iter().any(|s| s.eq_ignore_ascii_case(f)) {
                select.push(identifier(f)?.to_string());
            }
        }
        let url =
            self.api(&format!("sobjects/{}/{}?fields={}", identifier(object)?, identifier(id)?, select.join(",")))?;
        let mut fields =
            self.call(t, Request::new("GET", url))?.json().and_then(|b| b.as_object().cloned()).unwrap_or_default();
        fields.remove("attributes");
        let modified = fields.get("SystemModstamp").and_then(Value::as_str).and_then(parse_time).unwrap_or(0);
        Ok(CrmRecord { id: id.to_string(), modified, fields })
    }

    fn find(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, Failure> {
        // A web domain is stored as a URL in most orgs (`https://www.example.com/`): match it inside the value.
        let soql = format!(
            "SELECT Id FROM {} WHERE {} LIKE '%{}%' ORDER BY CreatedDate LIMIT 1",
            identifier(object)?,
            identifier(field)?,
            soql_like(value)
        );
        let body = self.query(t, &soql)?;
        Ok(body["records"].as_array().and_then(|r| r.first()).and_then(|r| r["Id"].as_str()).map(String::from))
    }

    fn changed(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        fields: &[String],
        since: i64,
        next: Option<&str>,
    ) -> Result<Changes, Failure> {
        let body = match next {
            Some(path) => {
                let base = self.instance_url.as_deref().ok_or(Failure::Expired)?.trim_end_matches('/').to_string();
                if !path.starts_with("/services/data/") {
                    return Err(Failure::Unavailable(format!("an unexpected next page address: {path}")));
                }
                let reply = self.call(t, Request::new("GET", format!("{base}{path}")))?;
                reply.json().unwrap_or(Value::Null)
            }
            None => {
                let mut select = vec!["Id".to_string(), "SystemModstamp".to_string()];
                for f in fields {
                    if !select.iter().any(|s| s.eq_ignore_ascii_case(f)) {
                        select.push(identifier(f)?.to_string());
                    }
                }
                let soql = format!(
                    "SELECT {} FROM {} WHERE SystemModstamp >= {} ORDER BY SystemModstamp ASC, Id ASC",
                    select.join(", "),
                    identifier(object)?,
                    iso(since)
                );
                self.query(t, &soql)?
            }
        };
        let records = body["records"]
            .as_array()
            .ok_or_else(|| Failure::Unavailable("the query answer has no records".into()))?
            .iter()
            .filter_map(|r| {
                let mut fields = r.as_object()?.clone();
                fields.remove("attributes");
                let id = fields.get("Id")?.as_str()?.to_string();
                let modified = fields.get("SystemModstamp").and_then(Value::as_str).and_then(parse_time)?;
                Some(CrmRecord { id, modified, fields })
            })
            .collect();
        let done = body["done"].as_bool().unwrap_or(true);
        let next = if done { None } else { body["nextRecordsUrl"].as_str().map(String::from) };
        Ok(Changes { records, next })
    }

    fn associate(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        id: &str,
        field: &str,
        _to_object: &str,
        to_id: &str,
    ) -> Result<(), Failure> {
        let mut body = Map::new();
        body.insert(identifier(field)?.to_string(), Value::String(to_id.to_string()));
        self.write(t, object, Target::Id(id), &body).map(|_| ())
    }

    fn record_url(&self, object: &str, id: &str) -> String {
        let base = self.instance_url.as_deref().unwrap_or(&self.login_url).trim_end_matches('/');
        format!("{base}/lightning/r/{object}/{id}/view")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_crm::connector::{Script, with_session};
    use serde_json::json;

    fn sf() -> Salesforce {
        Salesforce {
            login_url: "https://login.example".into(),
            client_id: "cid".into(),
            client_secret: "shh".into(),
            refresh_token: "rt".into(),
            access_token: Some("old".into()),
            instance_url: Some("https://org.example".into()),
        }
    }

    #[test]
    fn an_expired_session_is_refreshed_with_the_refresh_token_and_the_call_retried() {
        let mut t = Script::default()
            .reply(401, json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]))
            .reply(200, json!({"access_token": "new", "instance_url": "https://org2.example", "token_type": "Bearer"}))
            .reply(
                200,
                json!({"fields": [{"name": "Name", "label": "Name", "type": "string", "createable": true,
                "updateable": true, "nillable": false, "defaultedOnCreate": false}]}),
            );
        let mut crm = sf();
        let mut refreshed = Vec::new();
        let fields = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "Opportunity")).unwrap();
        assert_eq!(fields[0].name, "Name");
        assert!(fields[0].required);
        assert_eq!(refreshed, vec![("access_token".to_string(), "new".to_string())]);
        assert_eq!(t.sent[1].url, "https://login.example/services/oauth2/token");
        let form = String::from_utf8(t.sent[1].body.clone()).unwrap();
        assert_eq!(form, "grant_type=refresh_token&client_id=cid&client_secret=shh&refresh_token=rt");
        assert_eq!(t.sent[2].url, "https://org2.example/services/data/v60.0/sobjects/Opportunity/describe");
        assert!(t.sent[2].headers.contains(&("Authorization".into(), "Bearer new".into())));
    }

    #[test]
    fn token_errors_say_what_is_wrong() {
        let revoked = json!({"error": "invalid_grant", "error_description": "expired access/refresh token"});
        let mut t = Script::default().reply(400, revoked);
        let err = sf().refresh(&mut t).unwrap_err();
        assert!(err.message().contains("revoked or has expired"), "{}", err.message());
        let mut t = Script::default().reply(400, json!({"error": "invalid_client_id", "error_description": "x"}));
        assert!(sf().refresh(&mut t).unwrap_err().message().contains("client id or client secret"));
        let mut t = Script::default().reply(404, Value::Null);
        assert!(matches!(sf().refresh(&mut t).unwrap_err(), Failure::BadUrl(_)));
        let err = sf().refresh(&mut Script::default().reply(400, json!({"error": "invalid_grant"}))).unwrap_err();
        assert!(!err.message().contains("shh") && !err.message().contains("rt"));
    }

    #[test]
    fn upserts_go_by_the_external_id_and_errors_are_classified() {
        let mut t = Script::default().reply(201, json!({"id": "006A", "success": true, "created": true}));
        let fields = json!({"Name": "Acme", "Portal_Deal_Id__c": "d1"}).as_object().unwrap().clone();
        let target = Target::ExternalId { field: "Portal_Deal_Id__c", value: "d/1" };
        assert_eq!(sf().write(&mut t, "Opportunity", target, &fields).unwrap(), "006A");
        assert_eq!(t.sent[0].method, "PATCH");
        assert_eq!(
            t.sent[0].url,
            "https://org.example/services/data/v60.0/sobjects/Opportunity/Portal_Deal_Id__c/d%2F1"
        );
        assert_eq!(String::from_utf8(t.sent[0].body.clone()).unwrap(), r#"{"Name":"Acme"}"#);

        let limit = json!([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]);
        let err = sf().write(&mut Script::default().reply(403, limit), "Opportunity", target, &fields).unwrap_err();
        assert!(matches!(err, Failure::RateLimited { wait_ms: DAILY_LIMIT_WAIT_MS, .. }), "{err:?}");
        let invalid =
            json!([{"errorCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [CloseDate]"}]);
        let err = sf().write(&mut Script::default().reply(400, invalid), "Opportunity", target, &fields).unwrap_err();
        assert_eq!(
            err.message(),
            "the CRM rejected the record: REQUIRED_FIELD_MISSING: Required fields are missing: [CloseDate]"
        );
        let denied = json!([{"errorCode": "INSUFFICIENT_ACCESS_OR_READONLY", "message": "insufficient access rights"}]);
        let err = sf().write(&mut Script::default().reply(403, denied), "Opportunity", target, &fields).unwrap_err();
        assert!(matches!(err, Failure::Permission(_)));
        assert!(matches!(sf().write(&mut t, "Opp'ty", target, &fields), Err(Failure::Rejected(_))));
    }

    #[test]
    fn changes_are_queried_by_system_modstamp_and_followed_across_pages() {
        let page1 = json!({"totalSize": 3, "done": false, "nextRecordsUrl": "/services/data/v60.0/query/01g-2000",
            "records": [{"attributes": {"type": "Opportunity"}, "Id": "006A", "SystemModstamp": "2026-12-01T10:00:00.000+0000", "StageName": "Closed Won"}]});
        let page2 = json!({"totalSize": 3, "done": true,
            "records": [{"attributes": {"type": "Opportunity"}, "Id": "006B", "SystemModstamp": "2026-12-01T11:00:00.000+0000", "StageName": "Prospecting"}]});
        let mut t = Script::default().reply(200, page1).reply(200, page2);
        let mut crm = sf();
        let fields = vec!["StageName".to_string(), "Amount".to_string()];
        let first = crm.changed(&mut t, "Opportunity", &fields, 0, None).unwrap();
        assert_eq!(first.records[0].id, "006A");
        assert!(!first.records[0].fields.contains_key("attributes"));
        assert_eq!(first.next.as_deref(), Some("/services/data/v60.0/query/01g-2000"));
        let second = crm.changed(&mut t, "Opportunity", &fields, 0, first.next.as_deref()).unwrap();
        assert_eq!((second.records.len(), second.next), (1, None));
        let q = &t.sent[0].url;
        assert!(q.starts_with("https://org.example/services/data/v60.0/query?q=SELECT%20Id%2C%20SystemModstamp%2C%20StageName%2C%20Amount%20FROM%20Opportunity%20WHERE%20SystemModstamp%20%3E%3D%201970-01-01T00%3A00%3A00.000Z"), "{q}");
        assert_eq!(t.sent[1].url, "https://org.example/services/data/v60.0/query/01g-2000");
        assert!(crm.changed(&mut t, "Opportunity", &fields, 0, Some("https://evil.example/x")).is_err());
    }

    #[test]
    fn finding_an_account_by_domain_escapes_the_value() {
        let mut t = Script::default().reply(200, json!({"totalSize": 1, "done": true, "records": [{"Id": "001A"}]}));
        let id = sf().find(&mut t, "Account", "Website", "o'brien_co.example").unwrap();
        assert_eq!(id.as_deref(), Some("001A"));
        let q = t.sent[0].url.split("q=").nth(1).unwrap().to_string();
        let decoded = q.replace("%20", " ").replace("%27", "'").replace("%25", "%").replace("%5C", "\\");
        assert!(decoded.contains(r"LIKE '%o\'brien\_co.example%'"), "{decoded}");
    }
}
