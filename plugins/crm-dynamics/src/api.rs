//! Dynamics 365 (the Dataverse Web API, v9.2), as far as the connector uses it: client credentials against the
//! Microsoft identity platform (`/{tenant}/oauth2/v2.0/token`, scope `{org}/.default`; no refresh token — a new
//! token is asked for when the old one is refused), `EntityDefinitions(LogicalName='…')/Attributes` (with option
//! sets and alternate keys), upsert by an alternate key (`PATCH opportunities(portal_dealid='…')`), update by id
//! with `If-Match: *` (so an update never creates), create, and `$filter` on `modifiedon` followed through
//! `@odata.nextLink`. An opportunity is closed won or lost through the `WinOpportunity` and `LoseOpportunity`
//! actions, as Dataverse requires, not by writing its state. Errors are read from Dataverse's bodies
//! (`{"error": {"code", "message"}}`) and the identity platform's (`error`, `error_codes`).

use portico_crm::connector::{Changes, Crm, CrmRecord, Reply, Request, Target, Transport, checked, encode};
use portico_crm::retry::{Failure, retry_after_header};
use portico_crm::schema::{CrmField, Kind};
use portico_crm::watermark::{iso, parse_time};
use serde_json::{Map, Value, json};

/// The Web API version the connector speaks.
pub const API_VERSION: &str = "v9.2";

/// Records per page (`Prefer: odata.maxpagesize`).
pub const PAGE: u32 = 500;

/// An opportunity's `statuscode` values and the state each belongs to (0 open, 1 won, 2 lost): Dataverse's
/// defaults; a connection fills in the organisation's own from the schema.
pub const STANDARD_STATUSES: &[(i64, i64)] = &[(1, 0), (2, 0), (3, 1), (4, 2), (5, 2)];

/// A connection.
#[derive(Debug, Clone)]
pub struct Dynamics {
    /// `https://login.microsoftonline.com`.
    pub authority: String,
    /// The Microsoft Entra tenant (directory) id.
    pub tenant: String,
    /// The environment, `https://contoso.crm.dynamics.com`.
    pub org_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub access_token: Option<String>,
    /// The opportunity's `statuscode` values with their state (see [`STANDARD_STATUSES`]).
    pub statuses: Vec<(i64, i64)>,
    /// Fields whose values are option-set codes: written as numbers, though a mapping holds them as text.
    pub option_fields: Vec<String>,
    /// Customer-type lookups (they may name an account or a contact), which are bound through the navigation
    /// property of the table they name (`parentcustomerid_account`): Dataverse's standard ones, and the ones a
    /// read schema lists.
    pub customer_lookups: Vec<String>,
}

/// Dataverse's standard Customer-type lookups.
pub const STANDARD_CUSTOMER_LOOKUPS: &[&str] = &["customerid", "parentcustomerid"];

/// A Dataverse API error as a [`Failure`].
pub fn api_failure(reply: &Reply) -> Failure {
    let body = reply.json().unwrap_or(Value::Null);
    let (code, message) = (body["error"]["code"].as_str().unwrap_or(""), body["error"]["message"].as_str());
    let words = message.map_or_else(|| format!("HTTP {}", reply.status), |m| format!("{m} ({code})"));
    match reply.status {
        401 => Failure::Expired,
        429 => {
            Failure::RateLimited { wait_ms: retry_after_header(&reply.headers, 0).unwrap_or(60_000), message: words }
        }
        403 => Failure::Permission(words),
        404 | 412 => Failure::NotFound(words),
        400 | 409 => Failure::Rejected(words),
        _ => Failure::Unavailable(words),
    }
}

/// An identity platform error as a [`Failure`], in words (its `AADSTS` codes say what is wrong).
fn token_failure(reply: &Reply) -> Failure {
    let body = reply.json().unwrap_or(Value::Null);
    let error = body["error"].as_str().unwrap_or("");
    let codes: Vec<i64> = body["error_codes"].as_array().into_iter().flatten().filter_map(Value::as_i64).collect();
    let has = |c: i64| codes.contains(&c);
    if has(90002) || has(900023) {
        return Failure::BadUrl("the directory (tenant) id was not found".into());
    }
    if has(500011) || error == "invalid_scope" {
        return Failure::BadUrl("the organisation URL is not a Dynamics 365 environment of this directory".into());
    }
    if has(7000215) || has(7000222) {
        return Failure::Credentials("the client secret is wrong or has expired".into());
    }
    if has(700016) || error == "unauthorized_client" {
        return Failure::Credentials("the client (application) id is not known in this directory".into());
    }
    match error {
        "" if reply.status >= 500 => {
            Failure::Unavailable(format!("the identity platform answered HTTP {}", reply.status))
        }
        "" => Failure::BadUrl(format!("the sign-in address answered HTTP {} without an OAuth error", reply.status)),
        other => Failure::Credentials(format!("the identity platform refused the credentials ({other})")),
    }
}

/// The entity set (URL collection) of a table's logical name.
pub fn entity_set(object: &str) -> String {
    match object {
        "opportunity" => "opportunities".into(),
        o if o.ends_with('y') && !o.ends_with("ey") => format!("{}ies", &o[..o.len() - 1]),
        o if o.ends_with('s') => format!("{o}es"),
        o => format!("{o}s"),
    }
}

fn name(n: &str) -> Result<&str, Failure> {
    checked(n, |c| c.is_ascii_alphanumeric() || c == '_', "a Dataverse logical name")
}

/// A string literal in an OData URL: quotes doubled, then percent-encoded.
fn literal(v: &str) -> String {
    encode(&format!("'{}'", v.replace('\'', "''")))
}

/// A GUID as Dataverse ids are (checked, since it goes into a URL bare).
fn guid(id: &str) -> Result<&str, Failure> {
    let ok = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok { Ok(id) } else { Err(Failure::Rejected(format!("{id:?} is not a Dataverse id"))) }
}

/// An option-set choice: its code, and for a status reason the state it belongs to.
type Choice = (i64, Option<i64>);

fn label(v: &Value) -> Option<String> {
    v["UserLocalizedLabel"]["Label"].as_str().map(String::from)
}

impl Dynamics {
    fn api(&self, path: &str) -> String {
        format!("{}/api/data/{API_VERSION}/{path}", self.org_url.trim_end_matches('/'))
    }

    fn call(&self, t: &mut dyn Transport, req: Request) -> Result<Reply, Failure> {
        let token = self.access_token.as_deref().ok_or(Failure::Expired)?;
        let req = req
            .bearer(token)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0");
        let reply = t.send(req)?;
        if reply.ok() { Ok(reply) } else { Err(api_failure(&reply)) }
    }

    fn get(&self, t: &mut dyn Transport, url: String) -> Result<Value, Failure> {
        self.call(t, Request::new("GET", url))?
            .json()
            .ok_or_else(|| Failure::BadUrl("the answer is not JSON: is this a Dynamics 365 environment?".into()))
    }

    fn state_of(&self, code: i64) -> Option<i64> {
        self.statuses.iter().find(|(c, _)| *c == code).map(|(_, s)| *s)
    }

    /// The record's id from a `Prefer: return=representation` answer.
    fn id_of(object: &str, reply: &Reply) -> Result<String, Failure> {
        reply
            .json()
            .and_then(|b| b[format!("{object}id")].as_str().map(String::from))
            .ok_or_else(|| Failure::Unavailable("the record's id is missing from the answer".into()))
    }

    /// Closes an opportunity won or lost with Dataverse's action.
    fn close(&self, t: &mut dyn Transport, id: &str, code: i64, state: i64) -> Result<(), Failure> {
        let (action, subject) = if state == 1 {
            ("WinOpportunity", "Won in the partner portal")
        } else {
            ("LoseOpportunity", "Lost in the partner portal")
        };
        let body = json!({ "Status": code, "OpportunityClose": {
            "subject": subject, "opportunityid@odata.bind": format!("/opportunities({id})") } });
        self.call(t, Request::new("POST", self.api(action)).json(&body))?;
        Ok(())
    }
}

impl Crm for Dynamics {
    const NAME: &'static str = "Dynamics 365";

    fn refresh(&mut self, t: &mut dyn Transport) -> Result<Vec<(String, String)>, Failure> {
        let url = format!("{}/{}/oauth2/v2.0/token", self.authority.trim_end_matches('/'), encode(&self.tenant));
        let scope = format!("{}/.default", self.org_url.trim_end_matches('/'));
        let req = Request::new("POST", url).header("Accept", "application/json").form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("scope", &scope),
        ]);
        let reply = t.send(req)?;
        if !reply.ok() {
            return Err(token_failure(&reply));
        }
        let token = reply.json().and_then(|b| b["access_token"].as_str().map(String::from));
        let Some(token) = token else {
            return Err(Failure::BadUrl("the token answer has no access token: is it the identity platform?".into()));
        };
        self.access_token = Some(token.clone());
        Ok(vec![("access_token".into(), token)])
    }

    fn describe(&mut self, t: &mut dyn Transport, object: &str) -> Result<Vec<CrmField>, Failure> {
        let entity = format!("EntityDefinitions(LogicalName={})", literal(name(object)?));
        let attrs = self.get(
            t,
            self.api(&format!(
                "{entity}/Attributes?$select=LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate,RequiredLevel,IsCustomAttribute,DisplayName"
            )),
        )?;
        // Option sets (picklists and status reasons) and alternate keys come from their own endpoints.
        let mut options: Vec<(String, Vec<Choice>)> = Vec::new();
        for cast in ["PicklistAttributeMetadata", "StatusAttributeMetadata"] {
            let got = self.get(
                t,
                self.api(&format!(
                    "{entity}/Attributes/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand=OptionSet($select=Options)"
                )),
            )?;
            for a in got["value"].as_array().into_iter().flatten() {
                let values = a["OptionSet"]["Options"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| Some((o["Value"].as_i64()?, o["State"].as_i64())))
                    .collect();
                options.push((a["LogicalName"].as_str().unwrap_or_default().to_string(), values));
            }
        }
        let keys = self.get(t, self.api(&format!("{entity}/Keys?$select=KeyAttributes")))?;
        let key_fields: Vec<String> = keys["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| match k["KeyAttributes"].as_array()?.as_slice() {
                [one] => one.as_str().map(String::from),
                _ => None,
            })
            .collect();
        if object == "opportunity"
            && let Some((_, codes)) = options.iter().find(|(n, _)| n == "statuscode")
        {
            self.statuses = codes.iter().filter_map(|(c, s)| Some((*c, (*s)?))).collect();
        }
        let attrs = attrs["value"].as_array().ok_or_else(|| Failure::NotFound(format!("no attributes of {object}")))?;
        Ok(attrs
            .iter()
            .filter_map(|a| {
                let name = a["LogicalName"].as_str()?.to_string();
                let create = a["IsValidForCreate"].as_bool().unwrap_or(false);
                let kind = match a["AttributeType"].as_str().unwrap_or("") {
                    "Money" => Kind::Money,
                    "Decimal" | "Double" | "Integer" | "BigInt" => Kind::Number,
                    "DateTime" => Kind::DateTime,
                    "Boolean" => Kind::Boolean,
                    "Picklist" | "Status" | "State" => Kind::Picklist(
                        options
                            .iter()
                            .find(|(n, _)| *n == name)
                            .map(|(_, v)| v.iter().map(|(c, _)| c.to_string()).collect())
                            .unwrap_or_default(),
                    ),
                    "Customer" => {
                        if !self.customer_lookups.contains(&name) {
                            self.customer_lookups.push(name.clone());
                        }
                        Kind::Reference
                    }
                    "Lookup" | "Owner" | "Uniqueidentifier" => Kind::Reference,
                    _ => Kind::Text,
                };
                let level = a["RequiredLevel"]["Value"].as_str().unwrap_or("None");
                Some(CrmField {
                    label: label(&a["DisplayName"]).unwrap_or_else(|| name.clone()),
                    kind,
                    createable: create,
                    updateable: a["IsValidForUpdate"].as_bool().unwrap_or(false),
                    required: create && matches!(level, "ApplicationRequired" | "SystemRequired"),
                    external_id: key_fields.contains(&name),
                    custom: a["IsCustomAttribute"].as_bool().unwrap_or(false),
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
        let object = name(object)?;
        let set = entity_set(object);
        let mut body = Map::new();
        let mut close = None;
        for (k, v) in fields {
            // Option-set codes are numbers on the wire.
            let v = match v.as_str().and_then(|s| s.parse::<i64>().ok()) {
                Some(n) if self.option_fields.iter().any(|f| f == k) || k == "statuscode" => json!(n),
                _ => v.clone(),
            };
            // A won or lost status reason is reached by closing the opportunity, never by writing it.
            if object == "opportunity"
                && k == "statuscode"
                && let Some(code) = v.as_i64()
                && let Some(state @ (1 | 2)) = self.state_of(code)
            {
                close = Some((code, state));
                continue;
            }
            body.insert(k.clone(), v);
        }
        let id = match target {
            Target::ExternalId { field, value } => {
                body.remove(field);
                let url = self.api(&format!("{set}({}={})", name(field)?, literal(value)));
                let reply = self.call(
                    t,
                    Request::new("PATCH", url).header("Prefer", "return=representation").json(&Value::Object(body)),
                )?;
                Self::id_of(object, &reply)?
            }
            Target::Id(id) => {
                let url = self.api(&format!("{set}({})", guid(id)?));
                self.call(t, Request::new("PATCH", url).header("If-Match", "*").json(&Value::Object(body)))?;
                id.to_string()
            }
            Target::New => {
                let url = self.api(&set);
                let reply = self.call(
                    t,
                    Request::new("POST", url).header("Prefer", "return=representation").json(&Value::Object(body)),
                )?;
                Self::id_of(object, &reply)?
            }
        };
        if let Some((code, state)) = close {
            self.close(t, &id, code, state)?;
        }
        Ok(id)
    }

    fn read(&mut self, t: &mut dyn Transport, object: &str, id: &str, fields: &[String]) -> Result<CrmRecord, Failure> {
        let object = name(object)?;
        let mut select = vec![format!("{object}id"), "modifiedon".to_string()];
        for f in fields {
            if !select.contains(f) {
                select.push(name(f)?.to_string());
            }
        }
        let url = self.api(&format!("{}({})?$select={}", entity_set(object), guid(id)?, select.join(",")));
        let mut fields = self.get(t, url)?.as_object().cloned().unwrap_or_default();
        fields.retain(|k, _| !k.starts_with('@'));
        let modified = fields.get("modifiedon").and_then(Value::as_str).and_then(parse_time).unwrap_or(0);
        Ok(CrmRecord { id: id.to_string(), modified, fields })
    }

    fn linked(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        id: &str,
        field: &str,
    ) -> Result<Option<String>, Failure> {
        // A lookup is selected, and read back, as `_x_value`.
        let object = name(object)?;
        let column = format!("_{}_value", name(field)?);
        let url = self.api(&format!("{}({})?$select={column}", entity_set(object), guid(id)?));
        Ok(self.get(t, url)?[&column].as_str().map(String::from))
    }

    fn find(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, Failure> {
        let object = name(object)?;
        let url = self.api(&format!(
            "{}?$select={object}id&$filter=contains({},{})&$orderby=createdon%20asc&$top=1",
            entity_set(object),
            name(field)?,
            literal(value)
        ));
        let found = self.get(t, url)?;
        Ok(found["value"]
            .as_array()
            .and_then(|v| v.first())
            .and_then(|r| r[format!("{object}id")].as_str())
            .map(String::from))
    }

    fn changed(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        fields: &[String],
        since: i64,
        next: Option<&str>,
    ) -> Result<Changes, Failure> {
        let object = name(object)?;
        let url = match next {
            Some(link) => {
                let base = self.api("");
                if !link.starts_with(&base) {
                    return Err(Failure::Unavailable(format!("an unexpected next page address: {link}")));
                }
                link.to_string()
            }
            None => {
                let mut select = vec![format!("{object}id"), "modifiedon".to_string()];
                for f in fields {
                    if !select.contains(f) {
                        select.push(name(f)?.to_string());
                    }
                }
                self.api(&format!(
                    "{}?$select={}&$filter=modifiedon%20ge%20{}&$orderby=modifiedon%20asc,{object}id%20asc",
                    entity_set(object),
                    select.join(","),
                    iso(since)
                ))
            }
        };
        let req = Request::new("GET", url).header("Prefer", format!("odata.maxpagesize={PAGE}"));
        let body = self.call(t, req)?.json().unwrap_or(Value::Null);
        let records = body["value"]
            .as_array()
            .ok_or_else(|| Failure::Unavailable("the answer has no records".into()))?
            .iter()
            .filter_map(|r| {
                let mut fields = r.as_object()?.clone();
                fields.retain(|k, _| !k.starts_with('@'));
                let id = fields.get(&format!("{object}id"))?.as_str()?.to_string();
                let modified = fields.get("modifiedon").and_then(Value::as_str).and_then(parse_time)?;
                Some(CrmRecord { id, modified, fields })
            })
            .collect();
        Ok(Changes { records, next: body["@odata.nextLink"].as_str().map(String::from) })
    }

    fn associate(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        id: &str,
        field: &str,
        to_object: &str,
        to_id: &str,
    ) -> Result<(), Failure> {
        // A lookup is set by binding its navigation property to the other record's address; a Customer-type
        // lookup has one navigation property per table it may name.
        let url = self.api(&format!("{}({})", entity_set(name(object)?), guid(id)?));
        let (field, to_object) = (name(field)?, name(to_object)?);
        let nav = if self.customer_lookups.iter().any(|f| f == field) {
            format!("{field}_{to_object}")
        } else {
            field.to_string()
        };
        let bind = json!({ format!("{nav}@odata.bind"): format!("/{}({})", entity_set(to_object), guid(to_id)?) });
        self.call(t, Request::new("PATCH", url).header("If-Match", "*").json(&bind))?;
        Ok(())
    }

    fn record_url(&self, object: &str, id: &str) -> String {
        format!("{}/main.aspx?etn={object}&pagetype=entityrecord&id={id}", self.org_url.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_crm::connector::Script;

    fn d365() -> Dynamics {
        Dynamics {
            authority: "https://login.example".into(),
            tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            org_url: "https://contoso.example".into(),
            client_id: "cid".into(),
            client_secret: "shh".into(),
            access_token: Some("tok".into()),
            statuses: STANDARD_STATUSES.to_vec(),
            option_fields: vec![],
            customer_lookups: STANDARD_CUSTOMER_LOOKUPS.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn tokens_come_from_client_credentials_and_errors_say_what_is_wrong() {
        let mut t =
            Script::default().reply(200, json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0"}));
        let mut c = d365();
        assert_eq!(c.refresh(&mut t).unwrap(), vec![("access_token".to_string(), "eyJ0".to_string())]);
        assert_eq!(t.sent[0].url, "https://login.example/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token");
        assert_eq!(
            String::from_utf8(t.sent[0].body.clone()).unwrap(),
            "grant_type=client_credentials&client_id=cid&client_secret=shh&scope=https%3A%2F%2Fcontoso.example%2F.default"
        );
        let bad_secret = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]});
        assert!(
            c.refresh(&mut Script::default().reply(401, bad_secret))
                .unwrap_err()
                .message()
                .contains("client secret is wrong")
        );
        let no_tenant = json!({"error": "invalid_request", "error_codes": [90002]});
        assert!(matches!(c.refresh(&mut Script::default().reply(400, no_tenant)), Err(Failure::BadUrl(_))));
        let no_app = json!({"error": "unauthorized_client", "error_codes": [700016]});
        assert!(c.refresh(&mut Script::default().reply(400, no_app)).unwrap_err().message().contains("application"));
    }

    #[test]
    fn winning_closes_the_opportunity_with_the_action() {
        let mut t = Script::default().reply(204, Value::Null).reply(204, Value::Null);
        let id = "00000000-0000-0000-0000-0000000000a1";
        let fields = json!({"name": "Globex", "statuscode": "3"}).as_object().unwrap().clone();
        assert_eq!(d365().write(&mut t, "opportunity", Target::Id(id), &fields).unwrap(), id);
        assert_eq!(t.sent[0].url, format!("https://contoso.example/api/data/v9.2/opportunities({id})"));
        assert!(t.sent[0].headers.contains(&("If-Match".into(), "*".into())));
        assert_eq!(serde_json::from_slice::<Value>(&t.sent[0].body).unwrap(), json!({"name": "Globex"}));
        assert_eq!(t.sent[1].url, "https://contoso.example/api/data/v9.2/WinOpportunity");
        let sent: Value = serde_json::from_slice(&t.sent[1].body).unwrap();
        assert_eq!(sent["Status"], json!(3));
        assert_eq!(sent["OpportunityClose"]["opportunityid@odata.bind"], json!(format!("/opportunities({id})")));
    }

    #[test]
    fn upserts_by_alternate_key_and_quotes_the_value() {
        let mut t = Script::default().reply(201, json!({"opportunityid": "00000000-0000-0000-0000-0000000000b2"}));
        let fields = json!({"name": "Globex", "portal_dealid": "d'1"}).as_object().unwrap().clone();
        let id = d365()
            .write(&mut t, "opportunity", Target::ExternalId { field: "portal_dealid", value: "d'1" }, &fields)
            .unwrap();
        assert_eq!(id, "00000000-0000-0000-0000-0000000000b2");
        assert_eq!(t.sent[0].url, "https://contoso.example/api/data/v9.2/opportunities(portal_dealid=%27d%27%271%27)");
        assert_eq!(serde_json::from_slice::<Value>(&t.sent[0].body).unwrap(), json!({"name": "Globex"}));
        let limited = Reply { status: 429, headers: vec![("Retry-After".into(), "7".into())],
            body: br#"{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}"#.to_vec() };
        let err = d365().describe(&mut Script::default().reply_with(limited), "opportunity").unwrap_err();
        assert!(matches!(err, Failure::RateLimited { wait_ms: 7_000, .. }), "{err:?}");
        assert!(d365().write(&mut t, "opportunity", Target::Id("not-a-guid"), &fields).is_err());
        assert_eq!(entity_set("account"), "accounts");
        assert_eq!(entity_set("new_territory"), "new_territories");
    }
}
