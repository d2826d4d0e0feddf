//! HubSpot's CRM API (v3), as far as the connector uses it: OAuth 2.0 refresh (`/oauth/v1/token`, form body;
//! HubSpot's access tokens last 30 minutes) or a private app's static token, `crm/v3/properties/{object}`,
//! batch upsert by a unique property (`idProperty`), create and update by id, and search on
//! `hs_lastmodifieddate` followed through `paging.next.after`. Errors are read from HubSpot's bodies
//! (`{"status": "error", "category", "message"}`, and `policyName` for the ten-second burst limit).

use portico_crm::connector::{Changes, Crm, CrmRecord, Reply, Request, Target, Transport, checked, encode};
use portico_crm::retry::{Failure, retry_after_header};
use portico_crm::schema::{CrmField, Kind};
use portico_crm::watermark::parse_time;
use serde_json::{Map, Value, json};

/// Records per search page (HubSpot's maximum).
pub const PAGE: u32 = 100;

/// How far a search can page: HubSpot answers at most 10,000 results per query. A pull that reaches it starts a new
/// query from the newest modification it has seen (the engine's watermark does this).
pub const SEARCH_WINDOW: u32 = 10_000;

/// How long HubSpot's ten-second rolling limit takes to let up when it sends no `Retry-After`.
const BURST_WAIT_MS: i64 = 10_000;

/// How the connector signs in.
#[derive(Debug, Clone)]
pub enum Auth {
    /// An OAuth app: client credentials and the grant's refresh token.
    OAuth { client_id: String, client_secret: String, refresh_token: String },
    /// A private app's access token, which does not expire.
    PrivateApp(String),
}

/// A connection.
#[derive(Debug, Clone)]
pub struct HubSpot {
    /// `https://api.hubapi.com`.
    pub base_url: String,
    /// The account's id, for links into HubSpot (optional).
    pub portal_id: Option<String>,
    pub auth: Auth,
    pub access_token: Option<String>,
}

/// A HubSpot API error as a [`Failure`].
pub fn api_failure(reply: &Reply, oauth: bool) -> Failure {
    let body = reply.json().unwrap_or(Value::Null);
    let category = body["category"].as_str().unwrap_or("");
    let message = body["message"].as_str().map_or_else(|| format!("HTTP {}", reply.status), String::from);
    let words = if category.is_empty() { message.clone() } else { format!("{category}: {message}") };
    match (reply.status, category) {
        // An OAuth token that expired (or was replaced) is refreshed; a private app's token that is refused is
        // the connection's failure.
        (401, _) if oauth => Failure::Expired,
        (401, _) => Failure::Credentials(format!("the private app token was refused ({message})")),
        (429, _) | (_, "RATE_LIMITS") => {
            let policy = body["policyName"].as_str().unwrap_or("");
            let default = if policy == "DAILY" { 15 * 60_000 } else { BURST_WAIT_MS };
            Failure::RateLimited {
                wait_ms: retry_after_header(&reply.headers, 0).unwrap_or(default),
                message: if policy.is_empty() { message } else { format!("{policy}: {message}") },
            }
        }
        (403, _) | (_, "MISSING_SCOPES") => Failure::Permission(words),
        (404, _) | (_, "OBJECT_NOT_FOUND") => Failure::NotFound(words),
        (400 | 409 | 422, _) => Failure::Rejected(words),
        _ => Failure::Unavailable(words),
    }
}

/// A HubSpot property's kind.
fn kind(p: &Value) -> Kind {
    match (p["type"].as_str().unwrap_or(""), p["name"].as_str().unwrap_or("")) {
        (_, "amount") => Kind::Money,
        ("number", _) => Kind::Number,
        ("date", _) => Kind::Date,
        ("datetime", _) => Kind::DateTime,
        ("bool", _) => Kind::Boolean,
        ("enumeration", _) => Kind::Picklist(
            p["options"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| !o["hidden"].as_bool().unwrap_or(false))
                .filter_map(|o| o["value"].as_str().map(String::from))
                .collect(),
        ),
        _ => Kind::Text,
    }
}

/// The properties a HubSpot pipeline needs before it takes a record (HubSpot's properties API has no "required").
fn required(object: &str, property: &str) -> bool {
    matches!((object, property), ("deals", "dealname" | "dealstage") | ("companies", "name") | ("contacts", "email"))
}

/// An object name as HubSpot's URLs take it.
fn object_name(object: &str) -> Result<&str, Failure> {
    checked(object, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-', "a HubSpot object")
}

impl HubSpot {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url.trim_end_matches('/'))
    }

    fn call(&mut self, t: &mut dyn Transport, req: Request) -> Result<Value, Failure> {
        let oauth = matches!(self.auth, Auth::OAuth { .. });
        let token = match &self.auth {
            Auth::PrivateApp(token) => token.clone(),
            Auth::OAuth { .. } => self.access_token.clone().ok_or(Failure::Expired)?,
        };
        let reply = t.send(req.bearer(&token).header("Accept", "application/json"))?;
        if !reply.ok() {
            return Err(api_failure(&reply, oauth));
        }
        if reply.body.is_empty() {
            return Ok(Value::Null);
        }
        reply.json().ok_or_else(|| Failure::BadUrl("the answer is not JSON: is this HubSpot's API address?".into()))
    }

    fn search(&mut self, t: &mut dyn Transport, object: &str, body: &Value) -> Result<Value, Failure> {
        let url = self.url(&format!("crm/v3/objects/{}/search", object_name(object)?));
        self.call(t, Request::new("POST", url).json(body))
    }
}

impl Crm for HubSpot {
    const NAME: &'static str = "HubSpot";

    fn refresh(&mut self, t: &mut dyn Transport) -> Result<Vec<(String, String)>, Failure> {
        let Auth::OAuth { client_id, client_secret, refresh_token } = &self.auth else {
            return Err(Failure::Credentials("the private app token was refused: create a new one".into()));
        };
        let req = Request::new("POST", self.url("oauth/v1/token")).header("Accept", "application/json").form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("refresh_token", refresh_token),
        ]);
        let reply = t.send(req)?;
        let body = reply.json().unwrap_or(Value::Null);
        if !reply.ok() {
            let status = body["status"].as_str().unwrap_or("");
            let message = body["message"].as_str().unwrap_or("");
            return Err(match status {
                "BAD_REFRESH_TOKEN" => Failure::Credentials(format!(
                    "the refresh token was revoked or is unknown ({message}): connect again to grant access"
                )),
                "BAD_CLIENT_ID" | "BAD_CLIENT_SECRET" | "INVALID_CLIENT" => {
                    Failure::Credentials(format!("the client id or client secret is wrong ({message})"))
                }
                _ if reply.status >= 500 => Failure::Unavailable(format!("HTTP {}", reply.status)),
                "" => Failure::BadUrl(format!(
                    "the token endpoint answered HTTP {} without HubSpot's error: is the API address right?",
                    reply.status
                )),
                other => Failure::Credentials(format!("{other}: {message}")),
            });
        }
        let Some(token) = body["access_token"].as_str() else {
            return Err(Failure::BadUrl("the token endpoint's answer has no access token: is it HubSpot?".into()));
        };
        self.access_token = Some(token.to_string());
        let mut changed = vec![("access_token".to_string(), token.to_string())];
        if let (Some(new), Auth::OAuth { refresh_token, .. }) = (body["refresh_token"].as_str(), &mut self.auth)
            && new != refresh_token
        {
            *refresh_token = new.to_string();
            changed.push(("refresh_token".to_string(), new.to_string()));
        }
        Ok(changed)
    }

    fn describe(&mut self, t: &mut dyn Transport, object: &str) -> Result<Vec<CrmField>, Failure> {
        let url = self.url(&format!("crm/v3/properties/{}", object_name(object)?));
        let body = self.call(t, Request::new("GET", url))?;
        let results =
            body["results"].as_array().ok_or_else(|| Failure::NotFound(format!("no properties of {object}")))?;
        // HubSpot links records by associations rather than fields: offered to a mapping as fields of their own.
        let associations = ["companies", "contacts"].into_iter().filter(|o| *o != object).map(|o| CrmField {
            name: format!("associations.{o}"),
            label: format!("Associated {o}"),
            kind: Kind::Reference,
            createable: true,
            updateable: true,
            required: false,
            external_id: false,
            custom: false,
            many: true,
        });
        Ok(results
            .iter()
            .filter(|p| !p["hidden"].as_bool().unwrap_or(false))
            .filter_map(|p| {
                let name = p["name"].as_str()?.to_string();
                let writable = !p["modificationMetadata"]["readOnlyValue"].as_bool().unwrap_or(false)
                    && !p["calculated"].as_bool().unwrap_or(false);
                Some(CrmField {
                    label: p["label"].as_str().unwrap_or(&name).to_string(),
                    kind: kind(p),
                    createable: writable,
                    updateable: writable,
                    required: required(object, &name),
                    external_id: p["hasUniqueValue"].as_bool().unwrap_or(false),
                    custom: !p["hubspotDefined"].as_bool().unwrap_or(false),
                    many: false,
                    name,
                })
            })
            .chain(associations)
            .collect())
    }

    fn write(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        target: Target<'_>,
        fields: &Map<String, Value>,
    ) -> Result<String, Failure> {
        let object = object_name(object)?;
        // HubSpot takes every property as a string (numbers and dates included).
        let properties: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        Value::String(s) => Value::String(s.clone()),
                        Value::Null => Value::String(String::new()),
                        other => Value::String(other.to_string()),
                    },
                )
            })
            .collect();
        let body = match target {
            Target::ExternalId { field, value } => {
                let mut properties = properties;
                properties.remove(field);
                let url = self.url(&format!("crm/v3/objects/{object}/batch/upsert"));
                let req = json!({ "inputs": [{ "idProperty": field, "id": value, "properties": properties }] });
                let body = self.call(t, Request::new("POST", url).json(&req))?;
                if let Some(err) = body["errors"].as_array().and_then(|e| e.first()) {
                    return Err(Failure::Rejected(err["message"].as_str().unwrap_or("the upsert failed").into()));
                }
                body["results"][0].clone()
            }
            Target::Id(id) => {
                let url = self.url(&format!("crm/v3/objects/{object}/{}", object_name(id)?));
                self.call(t, Request::new("PATCH", url).json(&json!({ "properties": properties })))?
            }
            Target::New => {
                let url = self.url(&format!("crm/v3/objects/{object}"));
                self.call(t, Request::new("POST", url).json(&json!({ "properties": properties })))?
            }
        };
        body["id"].as_str().map(String::from).ok_or_else(|| Failure::Unavailable("the record's id is missing".into()))
    }

    fn read(&mut self, t: &mut dyn Transport, object: &str, id: &str, fields: &[String]) -> Result<CrmRecord, Failure> {
        let mut properties = vec!["hs_lastmodifieddate".to_string()];
        properties.extend(fields.iter().filter(|f| !f.starts_with("associations.")).cloned());
        let associations: Vec<&str> = fields.iter().filter_map(|f| f.strip_prefix("associations.")).collect();
        let mut url = self.url(&format!(
            "crm/v3/objects/{}/{}?properties={}",
            object_name(object)?,
            object_name(id)?,
            encode(&properties.join(","))
        ));
        if !associations.is_empty() {
            url.push_str(&format!("&associations={}", encode(&associations.join(","))));
        }
        let body = self.call(t, Request::new("GET", url))?;
        let mut fields = body["properties"].as_object().cloned().unwrap_or_default();
        // An association reads as its pseudo-field: the first associated record's id.
        for to in associations {
            if let Some(first) = body["associations"][to]["results"][0]["id"].as_str() {
                fields.insert(format!("associations.{to}"), Value::String(first.to_string()));
            }
        }
        let modified = fields
            .get("hs_lastmodifieddate")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .or_else(|| body["updatedAt"].as_str().and_then(parse_time))
            .unwrap_or(0);
        Ok(CrmRecord { id: id.to_string(), modified, fields })
    }

    fn find(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, Failure> {
        let body = json!({
            "filterGroups": [{ "filters": [{ "propertyName": field, "operator": "EQ", "value": value }] }],
            "sorts": [{ "propertyName": "createdate", "direction": "ASCENDING" }],
            "properties": ["hs_object_id"],
            "limit": 1,
        });
        let found = self.search(t, object, &body)?;
        Ok(found["results"].as_array().and_then(|r| r.first()).and_then(|r| r["id"].as_str()).map(String::from))
    }

    fn changed(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        fields: &[String],
        since: i64,
        next: Option<&str>,
    ) -> Result<Changes, Failure> {
        let mut properties = vec!["hs_lastmodifieddate".to_string()];
        properties.extend(fields.iter().filter(|f| *f != "hs_lastmodifieddate").cloned());
        let mut body = json!({
            "filterGroups": [{ "filters": [
                { "propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since.to_string() }
            ] }],
            "sorts": [{ "propertyName": "hs_lastmodifieddate", "direction": "ASCENDING" }],
            "properties": properties,
            "limit": PAGE,
        });
        if let Some(after) = next {
            body["after"] = json!(after);
        }
        let found = self.search(t, object, &body)?;
        let records = found["results"]
            .as_array()
            .ok_or_else(|| Failure::Unavailable("the search answer has no results".into()))?
            .iter()
            .filter_map(|r| {
                let id = r["id"].as_str()?.to_string();
                let mut fields = r["properties"].as_object()?.clone();
                let modified = fields
                    .get("hs_lastmodifieddate")
                    .and_then(Value::as_str)
                    .and_then(parse_time)
                    .or_else(|| r["updatedAt"].as_str().and_then(parse_time))?;
                fields.insert("hs_object_id".into(), json!(id));
                Some(CrmRecord { id, modified, fields })
            })
            .collect();
        let after = found["paging"]["next"]["after"].as_str().map(String::from);
        // Past the search window HubSpot refuses the page: stop here, and the next pull starts from the newest
        // record seen.
        let next = after.filter(|a| a.parse::<u32>().is_ok_and(|n| n < SEARCH_WINDOW));
        Ok(Changes { records, next })
    }

    fn associate(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        id: &str,
        _field: &str,
        to_object: &str,
        to_id: &str,
    ) -> Result<(), Failure> {
        // HubSpot links records by associations (v4, the default association type), not by fields.
        let url = self.url(&format!(
            "crm/v4/objects/{}/{}/associations/default/{}/{}",
            object_name(object)?,
            object_name(id)?,
            object_name(to_object)?,
            object_name(to_id)?
        ));
        self.call(t, Request::new("PUT", url))?;
        Ok(())
    }

    fn record_url(&self, object: &str, id: &str) -> String {
        let type_id = match object {
            "contacts" => "0-1",
            "companies" => "0-2",
            "deals" => "0-3",
            other => other,
        };
        match &self.portal_id {
            Some(portal) => format!("https://app.hubspot.com/contacts/{portal}/record/{type_id}/{id}"),
            None => format!("https://app.hubspot.com/go-to/{type_id}/{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_crm::connector::{Script, with_session};

    fn hs() -> HubSpot {
        HubSpot {
            base_url: "https://api.example".into(),
            portal_id: Some("123".into()),
            auth: Auth::OAuth { client_id: "cid".into(), client_secret: "shh".into(), refresh_token: "rt".into() },
            access_token: Some("old".into()),
        }
    }

    #[test]
    fn an_expired_token_is_refreshed_with_a_form_body() {
        let expired = json!({"status": "error", "message": "The OAuth token used to make this call expired 2 minute(s) ago.",
            "category": "EXPIRED_AUTHENTICATION"});
        let mut t = Script::default()
            .reply(401, expired)
            .reply(
                200,
                json!({"access_token": "new", "refresh_token": "rt2", "expires_in": 1800, "token_type": "bearer"}),
            )
            .reply(
                200,
                json!({"results": [{"name": "dealname", "label": "Deal Name", "type": "string", "fieldType": "text",
                "modificationMetadata": {"readOnlyValue": false}, "hubspotDefined": true}]}),
            );
        let mut crm = hs();
        let mut refreshed = Vec::new();
        let fields = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "deals")).unwrap();
        assert!(fields[0].required && !fields[0].custom);
        assert_eq!(
            refreshed,
            vec![("access_token".to_string(), "new".to_string()), ("refresh_token".to_string(), "rt2".to_string())]
        );
        assert_eq!(t.sent[1].url, "https://api.example/oauth/v1/token");
        let form = String::from_utf8(t.sent[1].body.clone()).unwrap();
        assert_eq!(form, "grant_type=refresh_token&client_id=cid&client_secret=shh&refresh_token=rt");
    }

    #[test]
    fn the_ten_second_limit_and_missing_scopes_are_told_apart() {
        let burst = json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"});
        let err = hs().describe(&mut Script::default().reply(429, burst), "deals").unwrap_err();
        assert_eq!(
            err,
            Failure::RateLimited {
                wait_ms: 10_000,
                message: "TEN_SECONDLY_ROLLING: You have reached your ten_secondly_rolling limit.".into()
            }
        );
        let scopes = json!({"status": "error", "message": "This app hasn't been granted all required scopes",
            "category": "MISSING_SCOPES"});
        assert!(matches!(
            hs().describe(&mut Script::default().reply(403, scopes), "deals"),
            Err(Failure::Permission(_))
        ));
        let mut private = hs();
        private.auth = Auth::PrivateApp("pat-na1-secret".into());
        let err = private.describe(&mut Script::default().reply(401, json!({"status": "error"})), "deals").unwrap_err();
        assert!(err.is_connection() && !err.message().contains("pat-na1-secret"), "{err:?}");
    }

    #[test]
    fn upserts_use_the_unique_property_and_send_strings() {
        let mut t =
            Script::default().reply(200, json!({"status": "COMPLETE", "results": [{"id": "901", "new": true}]}));
        let fields =
            json!({"dealname": "Northwind", "amount": 48000, "portal_deal_id": "d1"}).as_object().unwrap().clone();
        let id =
            hs().write(&mut t, "deals", Target::ExternalId { field: "portal_deal_id", value: "d1" }, &fields).unwrap();
        assert_eq!(id, "901");
        let sent: Value = serde_json::from_slice(&t.sent[0].body).unwrap();
        assert_eq!(t.sent[0].url, "https://api.example/crm/v3/objects/deals/batch/upsert");
        assert_eq!(
            sent,
            json!({"inputs": [{"idProperty": "portal_deal_id", "id": "d1",
            "properties": {"dealname": "Northwind", "amount": "48000"}}]})
        );
    }

    #[test]
    fn changes_are_searched_by_last_modified_and_paged_by_after() {
        let page = json!({"total": 250, "results": [{"id": "901", "properties": {"hs_lastmodifieddate": "2026-12-01T10:00:00.000Z", "dealstage": "closedwon"}}],
            "paging": {"next": {"after": "100"}}});
        let mut t = Script::default().reply(200, page);
        let got = hs().changed(&mut t, "deals", &["dealstage".into()], 5, Some("100")).unwrap();
        assert_eq!(got.next.as_deref(), Some("100"));
        assert_eq!(got.records[0].fields["dealstage"], json!("closedwon"));
        let sent: Value = serde_json::from_slice(&t.sent[0].body).unwrap();
        assert_eq!(sent["after"], json!("100"));
        assert_eq!(sent["filterGroups"][0]["filters"][0]["value"], json!("5"));
        let last = json!({"total": 20000, "results": [], "paging": {"next": {"after": "10000"}}});
        let got = hs().changed(&mut Script::default().reply(200, last), "deals", &[], 5, None).unwrap();
        assert_eq!(got.next, None, "the search window ends the pull");
    }
}
