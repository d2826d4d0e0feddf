//! A local Dynamics 365 for the connector's tests, playing both the Microsoft identity platform (client credentials
//! at `/{tenant}/oauth2/v2.0/token`, scope `{org}/.default`, `AADSTS` error codes) and the Dataverse Web API v9.2:
//! `EntityDefinitions(LogicalName='…')` with attributes, option sets and alternate keys; create, update by id
//! (`If-Match: *` never creates), upsert by an alternate key; `$filter` on `modifiedon` and `contains`, `$orderby`,
//! `odata.maxpagesize` paging through `@odata.nextLink`; `WinOpportunity` and `LoseOpportunity`, and the refusal to
//! set a closed status reason by writing it — with Dataverse's error bodies and its service protection limit.

// The helpers answer early with Dataverse's error response, as handlers do.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Map, Value, json};

pub use super::Fault;
use super::maybe_hang;

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "51f81489-12ee-4a9e-aaae-a2591f45987d";
pub const CLIENT_SECRET: &str = "d365~client~secret~Qx8";

/// The fake's state, shared with the test.
#[derive(Debug, Default)]
pub struct Environment {
    /// Records by table (logical name), then id; each its columns, with `{table}id`, `createdon`, `modifiedon`.
    pub records: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    pub sessions: Vec<String>,
    /// The client secret was removed from the app registration.
    pub secret_revoked: bool,
    pub faults: Vec<(Fault, u32)>,
    pub clock: i64,
    pub calls: Vec<String>,
    pub bodies: Vec<String>,
    pub base: String,
    next_id: u64,
}

impl Environment {
    fn stamp(&mut self) -> String {
        self.clock += 1_000;
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.clock)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    /// Stores a new record, stamped now; returns its id.
    pub fn insert(&mut self, table: &str, mut columns: Map<String, Value>) -> String {
        self.next_id += 1;
        let id = format!("00000000-0000-4000-8000-{:012x}", self.next_id);
        let stamp = self.stamp();
        columns.insert(format!("{table}id"), json!(id));
        columns.insert("createdon".into(), json!(stamp));
        columns.insert("modifiedon".into(), json!(stamp));
        if table == "opportunity" {
            columns.entry("statecode").or_insert(json!(0));
            columns.entry("statuscode").or_insert(json!(1));
        }
        self.records.entry(table.to_string()).or_default().insert(id.clone(), columns);
        id
    }

    /// Changes a record as a person in Dynamics would, stamped now. A bound lookup (`x@odata.bind`:
    /// `/accounts(id)`) is kept as Dataverse reads it back, `_x_value`.
    pub fn edit(&mut self, table: &str, id: &str, columns: Map<String, Value>) {
        let stamp = self.stamp();
        let rec = self.records.get_mut(table).and_then(|r| r.get_mut(id)).expect("the record exists");
        for (k, v) in columns {
            match k.strip_suffix("@odata.bind") {
                Some(nav) => {
                    let target = v.as_str().and_then(|b| b.rsplit_once('(')).map(|(_, id)| id.trim_end_matches(')'));
                    // A Customer-type lookup is bound per table (`parentcustomerid_account`) and read as one.
                    let column = customer_lookup(table, nav).unwrap_or(nav);
                    rec.insert(format!("_{column}_value"), json!(target));
                }
                None => {
                    rec.insert(k, v);
                }
            }
        }
        rec.insert("modifiedon".into(), json!(stamp));
    }

    pub fn find(&self, table: &str, column: &str, value: &Value) -> Vec<Map<String, Value>> {
        self.records
            .get(table)
            .into_iter()
            .flat_map(|r| r.values())
            .filter(|r| r.get(column) == Some(value))
            .cloned()
            .collect()
    }
}

/// A running fake Dynamics 365 (identity platform and environment on one address).
#[derive(Debug, Clone)]
pub struct FakeDynamics {
    pub base: String,
    pub env: Arc<Mutex<Environment>>,
}

impl FakeDynamics {
    pub async fn start() -> FakeDynamics {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let env =
            Arc::new(Mutex::new(Environment { clock: 1_796_000_000_000, base: base.clone(), ..Default::default() }));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/api/data/v9.2/{*rest}", any(web_api))
            .with_state(env.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the fake serves") });
        FakeDynamics { base, env }
    }

    pub fn env(&self) -> std::sync::MutexGuard<'_, Environment> {
        self.env.lock().expect("the fake's state")
    }

    pub fn expire_tokens(&self) {
        self.env().sessions.clear();
    }

    /// The client secret is deleted from the app registration.
    pub fn revoke(&self) {
        let mut e = self.env();
        e.secret_revoked = true;
        e.sessions.clear();
    }

    pub fn reconnect(&self) {
        self.env().secret_revoked = false;
    }

    pub fn inject(&self, fault: Fault, times: u32) {
        self.env().faults.push((fault, times));
    }
}

type Shared = State<Arc<Mutex<Environment>>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

async fn token(State(env): Shared, Path(tenant): Path<String>, body: String) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let mut e = env.lock().expect("state");
    e.calls.push(format!("POST /{tenant}/oauth2/v2.0/token"));
    e.bodies.push(body.clone());
    let aad = |status: StatusCode, error: &str, code: i64, description: &str| {
        let body = json!({ "error": error, "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code], "timestamp": "2026-12-01 22:00:00Z",
            "trace_id": "0f5c9e1a-7c1b-4d1e-9b0e-2f3a4b5c6d7e", "correlation_id": "a1b2c3d4-e5f6-4a5b-8c7d-9e0f1a2b3c4d" });
        (status, axum::Json(body)).into_response()
    };
    if tenant != TENANT {
        return aad(StatusCode::BAD_REQUEST, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return aad(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return aad(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    if e.secret_revoked || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return aad(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, "Invalid client secret provided.");
    }
    if form.get("scope") != Some(&format!("{}/.default", e.base)) {
        return aad(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            500011,
            "The resource principal was not found in the tenant.",
        );
    }
    let access = format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.d365.{:06}", e.calls.len());
    e.sessions.push(access.clone());
    axum::Json(json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access }))
        .into_response()
}

/// An attribute's metadata as Dataverse describes it.
fn attr(name: &str, label: &str, kind: &str, create: bool, update: bool, required: &str, custom: bool) -> Value {
    json!({ "LogicalName": name, "AttributeType": kind, "IsValidForCreate": create, "IsValidForUpdate": update,
        "RequiredLevel": { "Value": required, "CanBeChanged": true }, "IsCustomAttribute": custom,
        "DisplayName": { "UserLocalizedLabel": { "Label": label, "LanguageCode": 1033 } } })
}

fn attributes(table: &str) -> Option<Vec<Value>> {
    let rw = |n: &str, l: &str, k: &str, req: &str| attr(n, l, k, true, true, req, n.starts_with("portal_"));
    let ro = |n: &str, l: &str, k: &str| attr(n, l, k, false, false, "SystemRequired", false);
    Some(match table {
        "opportunity" => vec![
            ro("opportunityid", "Opportunity", "Uniqueidentifier"),
            ro("modifiedon", "Modified On", "DateTime"),
            ro("createdon", "Created On", "DateTime"),
            attr("statecode", "Status", "State", false, true, "SystemRequired", false),
            rw("name", "Topic", "String", "ApplicationRequired"),
            rw("estimatedvalue", "Est. Revenue", "Money", "None"),
            rw("estimatedclosedate", "Est. Close Date", "DateTime", "None"),
            rw("statuscode", "Status Reason", "Status", "None"),
            rw("salesstagecode", "Sales Stage", "Picklist", "None"),
            rw("description", "Description", "Memo", "None"),
            rw("parentaccountid", "Account", "Lookup", "None"),
            rw("parentcontactid", "Contact", "Lookup", "None"),
            rw("portal_dealid", "Portal deal id", "String", "None"),
            rw("portal_partneraccountid", "Partner account", "Lookup", "None"),
        ],
        "account" => vec![
            ro("accountid", "Account", "Uniqueidentifier"),
            ro("modifiedon", "Modified On", "DateTime"),
            rw("name", "Account Name", "String", "ApplicationRequired"),
            rw("websiteurl", "Website", "String", "None"),
            rw("address1_country", "Country/Region", "String", "None"),
            rw("portal_orgid", "Portal org id", "String", "None"),
        ],
        "contact" => vec![
            ro("contactid", "Contact", "Uniqueidentifier"),
            ro("modifiedon", "Modified On", "DateTime"),
            rw("firstname", "First Name", "String", "None"),
            rw("lastname", "Last Name", "String", "ApplicationRequired"),
            rw("emailaddress1", "Email", "String", "None"),
            rw("parentcustomerid", "Company Name", "Customer", "None"),
        ],
        _ => return None,
    })
}

/// The Customer-type lookup a per-table navigation property binds (`parentcustomerid_account` →
/// `parentcustomerid`).
fn customer_lookup<'a>(table: &str, nav: &'a str) -> Option<&'a str> {
    let base = nav.strip_suffix("_account").or_else(|| nav.strip_suffix("_contact"))?;
    attributes(table)?
        .iter()
        .any(|a| a["LogicalName"] == json!(base) && a["AttributeType"] == json!("Customer"))
        .then_some(base)
}

/// Status reasons of an opportunity: (code, state, label).
const STATUSES: &[(i64, i64, &str)] = &[
    (1, 0, "In Progress"),
    (2, 0, "On Hold"),
    (100_000_001, 0, "Partner approved"),
    (3, 1, "Won"),
    (4, 2, "Canceled"),
    (5, 2, "Out-Sold"),
];

fn options(table: &str, cast: &str) -> Vec<Value> {
    let opt = |v: i64, state: Option<i64>, l: &str| {
        let mut o = json!({ "Value": v, "Label": { "UserLocalizedLabel": { "Label": l, "LanguageCode": 1033 } } });
        if let Some(s) = state {
            o["State"] = json!(s);
        }
        o
    };
    match (table, cast) {
        ("opportunity", "StatusAttributeMetadata") => vec![json!({ "LogicalName": "statuscode", "OptionSet": {
            "Options": STATUSES.iter().map(|(v, s, l)| opt(*v, Some(*s), l)).collect::<Vec<_>>() } })],
        ("opportunity", "PicklistAttributeMetadata") => vec![json!({ "LogicalName": "salesstagecode", "OptionSet": {
            "Options": [opt(1, None, "Qualify"), opt(2, None, "Develop"), opt(3, None, "Propose"), opt(4, None, "Close")] } })],
        _ => Vec::new(),
    }
}

fn keys(table: &str) -> Vec<Value> {
    match table {
        "opportunity" => vec![json!({ "LogicalName": "portal_dealid_key", "KeyAttributes": ["portal_dealid"] })],
        "account" => vec![json!({ "LogicalName": "portal_orgid_key", "KeyAttributes": ["portal_orgid"] })],
        _ => Vec::new(),
    }
}

fn table_of(set: &str) -> Option<&'static str> {
    match set {
        "opportunities" => Some("opportunity"),
        "accounts" => Some("account"),
        "contacts" => Some("contact"),
        _ => None,
    }
}

/// Checks columns as Dataverse does: unknown columns, columns not valid for the operation, and a closed status
/// reason written directly.
fn check(table: &str, body: &Map<String, Value>, creating: bool) -> Result<(), Response> {
    let known = attributes(table).unwrap_or_default();
    for (k, v) in body {
        // A lookup is bound by its navigation property (`parentaccountid@odata.bind`).
        let (k, bind) = match k.strip_suffix("@odata.bind") {
            Some(nav) => {
                // Dataverse has no single navigation property for a Customer-type lookup: it is bound per table.
                if known.iter().any(|a| a["LogicalName"] == json!(nav) && a["AttributeType"] == json!("Customer")) {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "0x80060888",
                        &format!(
                            "An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload."
                        ),
                    ));
                }
                (customer_lookup(table, nav).unwrap_or(nav), true)
            }
            None => (k.as_str(), false),
        };
        let Some(a) = known.iter().find(|a| a["LogicalName"] == json!(k)) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "0x80060888",
                &format!("Could not find a property named '{k}' on type 'Microsoft.Dynamics.CRM.{table}'."),
            ));
        };
        let lookup = matches!(a["AttributeType"].as_str(), Some("Lookup" | "Customer"));
        if bind != lookup {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "0x80060888",
                &format!("A lookup such as {k} is set with {k}@odata.bind, and only a lookup is"),
            ));
        }
        let valid = if creating { a["IsValidForCreate"] == json!(true) } else { a["IsValidForUpdate"] == json!(true) };
        if !valid {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "0x80048408",
                &format!("Field {k} is not valid for this operation"),
            ));
        }
        if k == "statuscode" {
            let state = STATUSES.iter().find(|(c, _, _)| Some(*c) == v.as_i64()).map(|(_, s, _)| *s);
            if state != Some(0) {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "0x80040203",
                    &format!("{v} is not a valid status code for state code OpportunityState.Open"),
                ));
            }
        }
    }
    if creating {
        for a in known.iter().filter(|a| a["RequiredLevel"]["Value"] == json!("ApplicationRequired")) {
            let n = a["LogicalName"].as_str().unwrap_or_default();
            if !body.contains_key(n) {
                return Err(error(StatusCode::BAD_REQUEST, "0x80040200", &format!("{n} is required")));
            }
        }
    }
    Ok(())
}

fn admit(e: &mut Environment, headers: &HeaderMap, call: String, body: &str) -> Result<(), Response> {
    e.calls.push(call);
    e.bodies.push(body.to_string());
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| e.sessions.iter().any(|s| s == t)) {
        return Err((
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Bearer authorization_uri=https://login.microsoftonline.com/")],
        )
            .into_response());
    }
    if super::take(&mut e.faults, |f| matches!(f, Fault::RateLimit)).is_some() {
        let body = json!({ "error": { "code": "0x80072322",
            "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds." } });
        return Err((StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "2")], axum::Json(body)).into_response());
    }
    if super::take(&mut e.faults, |f| matches!(f, Fault::Outage)).is_some() {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "0x80040216", "An unexpected error occurred."));
    }
    Ok(())
}

/// `name(args)` → (name, args).
fn call_parts(segment: &str) -> (&str, Option<&str>) {
    match segment.split_once('(') {
        Some((n, rest)) => (n, rest.strip_suffix(')')),
        None => (segment, None),
    }
}

fn unquote(v: &str) -> Option<String> {
    v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).map(|v| v.replace("''", "'"))
}

async fn web_api(
    State(env): Shared,
    method: Method,
    Path(rest): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (reply, hang) = {
        let mut e = env.lock().expect("state");
        if let Err(r) = admit(&mut e, &headers, format!("{method} {rest}"), &body) {
            return r;
        }
        let json_body: Map<String, Value> = serde_json::from_str(&body).unwrap_or_default();
        let segments: Vec<&str> = rest.split('/').collect();
        let reply = match (method.as_str(), segments.as_slice()) {
            ("GET", [def, what, cast @ ..]) if def.starts_with("EntityDefinitions(") => {
                let table = call_parts(def)
                    .1
                    .and_then(|a| a.strip_prefix("LogicalName="))
                    .and_then(unquote)
                    .unwrap_or_default();
                let Some(attrs) = attributes(&table) else {
                    return error(
                        StatusCode::NOT_FOUND,
                        "0x80040217",
                        &format!("Could not find an entity with name {table}"),
                    );
                };
                match (*what, cast) {
                    ("Attributes", []) => json!({ "value": attrs }),
                    ("Attributes", [c]) => {
                        json!({ "value": options(&table, c.trim_start_matches("Microsoft.Dynamics.CRM.")) })
                    }
                    ("Keys", []) => json!({ "value": keys(&table) }),
                    _ => return error(StatusCode::NOT_FOUND, "0x8006088a", "Resource not found for the segment"),
                }
            }
            ("POST", [action @ ("WinOpportunity" | "LoseOpportunity")]) => {
                let id = json_body
                    .get("OpportunityClose")
                    .and_then(|c| c["opportunityid@odata.bind"].as_str())
                    .and_then(|b| b.strip_prefix("/opportunities("))
                    .and_then(|b| b.strip_suffix(')'))
                    .unwrap_or_default()
                    .to_string();
                let status = json_body.get("Status").and_then(Value::as_i64).unwrap_or(0);
                let want = if *action == "WinOpportunity" { 1 } else { 2 };
                if STATUSES.iter().find(|(c, _, _)| *c == status).map(|(_, s, _)| *s) != Some(want) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "0x80040203",
                        &format!("{status} is not a valid status for {action}"),
                    );
                }
                if !e.records.get("opportunity").is_some_and(|r| r.contains_key(&id)) {
                    return error(
                        StatusCode::NOT_FOUND,
                        "0x80040217",
                        &format!("opportunity With Id = {id} Does Not Exist"),
                    );
                }
                e.edit(
                    "opportunity",
                    &id,
                    json!({ "statecode": want, "statuscode": status }).as_object().cloned().unwrap_or_default(),
                );
                return StatusCode::NO_CONTENT.into_response();
            }
            (m, [segment]) => {
                let (set, args) = call_parts(segment);
                let Some(table) = table_of(set) else {
                    return error(
                        StatusCode::NOT_FOUND,
                        "0x80060888",
                        &format!("Resource not found for the segment '{set}'."),
                    );
                };
                let id_col = format!("{table}id");
                match (m, args) {
                    ("GET", None) => return list(&mut e, table, &q, &headers),
                    ("GET", Some(id)) => {
                        let Some(rec) = e.records.get(table).and_then(|r| r.get(id)).cloned() else {
                            return error(
                                StatusCode::NOT_FOUND,
                                "0x80040217",
                                &format!("{table} With Id = {id} Does Not Exist"),
                            );
                        };
                        let mut out = Map::new();
                        out.insert("@odata.etag".into(), json!("W/\"1234567\""));
                        let known = attributes(table).unwrap_or_default();
                        for c in q.get("$select").map(|s| s.split(',').collect::<Vec<_>>()).unwrap_or_default() {
                            // A lookup is selected as `_x_value`, and only so.
                            let column = c.strip_prefix('_').and_then(|c| c.strip_suffix("_value")).unwrap_or(c);
                            let lookup = known.iter().any(|a| {
                                a["LogicalName"] == json!(column)
                                    && matches!(a["AttributeType"].as_str(), Some("Lookup" | "Customer"))
                            });
                            if !known.iter().any(|a| a["LogicalName"] == json!(column)) || lookup != (column != c) {
                                return error(
                                    StatusCode::BAD_REQUEST,
                                    "0x80060888",
                                    &format!(
                                        "Could not find a property named '{c}' on type 'Microsoft.Dynamics.CRM.{table}'."
                                    ),
                                );
                            }
                            out.insert(c.to_string(), rec.get(c).cloned().unwrap_or(Value::Null));
                        }
                        return axum::Json(Value::Object(out)).into_response();
                    }
                    ("POST", None) => {
                        if let Err(r) = check(table, &json_body, true) {
                            return r;
                        }
                        let id = e.insert(table, json_body);
                        Value::Object(e.records[table][&id].clone())
                    }
                    ("PATCH", Some(key)) => {
                        let existing = match key.split_once('=') {
                            Some((col, v)) => {
                                let is_key = keys(table).iter().any(|k| k["KeyAttributes"] == json!([col]));
                                if !is_key {
                                    return error(
                                        StatusCode::BAD_REQUEST,
                                        "0x80060891",
                                        &format!("{col} is not an alternate key"),
                                    );
                                }
                                let v = unquote(v).unwrap_or_default();
                                let found = e
                                    .find(table, col, &json!(v))
                                    .first()
                                    .and_then(|r| r[&id_col].as_str().map(String::from));
                                Err((col.to_string(), v, found))
                            }
                            None => Ok(key.to_string()),
                        };
                        match existing {
                            Ok(id) | Err((_, _, Some(id))) => {
                                // The connector updates by id with `If-Match: *`, so a missing record is an error,
                                // never a create.
                                if !e.records.get(table).is_some_and(|r| r.contains_key(&id)) {
                                    return error(
                                        StatusCode::NOT_FOUND,
                                        "0x80040217",
                                        &format!("{table} With Id = {id} Does Not Exist"),
                                    );
                                }
                                if let Err(r) = check(table, &json_body, false) {
                                    return r;
                                }
                                e.edit(table, &id, json_body);
                                if headers.get("prefer").is_none() {
                                    Value::Null
                                } else {
                                    Value::Object(e.records[table][&id].clone())
                                }
                            }
                            Err((col, v, None)) => {
                                let mut cols = json_body;
                                cols.insert(col, json!(v));
                                if let Err(r) = check(table, &cols, true) {
                                    return r;
                                }
                                let id = e.insert(table, cols);
                                Value::Object(e.records[table][&id].clone())
                            }
                        }
                    }
                    _ => return error(StatusCode::METHOD_NOT_ALLOWED, "0x80060888", "The method is not supported"),
                }
            }
            _ => return error(StatusCode::NOT_FOUND, "0x80060888", "Resource not found"),
        };
        (reply, super::take(&mut e.faults, |f| matches!(f, Fault::StoreThenHang(_))))
    };
    maybe_hang(hang).await;
    if reply.is_null() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::CREATED, axum::Json(reply)).into_response()
    }
}

fn time(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).unwrap_or(0)
}

/// A `$select`/`$filter`/`$orderby`/`$top` query, paged by `odata.maxpagesize` with an offset as the skip token.
fn list(e: &mut Environment, table: &str, q: &BTreeMap<String, String>, headers: &HeaderMap) -> Response {
    let select: Vec<String> =
        q.get("$select").map(|s| s.split(',').map(|c| c.trim().to_string()).collect()).unwrap_or_default();
    let known = attributes(table).unwrap_or_default();
    for c in &select {
        if !known.iter().any(|a| a["LogicalName"] == json!(c)) {
            return error(
                StatusCode::BAD_REQUEST,
                "0x80060888",
                &format!("Could not find a property named '{c}' on type 'Microsoft.Dynamics.CRM.{table}'."),
            );
        }
    }
    let filter = q.get("$filter").cloned().unwrap_or_default();
    let ge = regex::Regex::new(r"^(\w+) ge (\S+)$").expect("a regex");
    let contains = regex::Regex::new(r"^contains\((\w+),'(.*)'\)$").expect("a regex");
    let mut rows: Vec<Map<String, Value>> = e
        .records
        .get(table)
        .into_iter()
        .flat_map(|r| r.values())
        .filter(|r| {
            if let Some(m) = ge.captures(&filter) {
                time(r.get(&m[1]).and_then(Value::as_str).unwrap_or("")) >= time(&m[2])
            } else if let Some(m) = contains.captures(&filter) {
                let want = m[2].replace("''", "'").to_lowercase();
                r.get(&m[1]).and_then(Value::as_str).is_some_and(|v| v.to_lowercase().contains(&want))
            } else {
                filter.is_empty()
            }
        })
        .cloned()
        .collect();
    if q.get("$orderby").is_some_and(|o| o.starts_with("modifiedon")) {
        rows.sort_by_key(|r| {
            (time(r.get("modifiedon").and_then(Value::as_str).unwrap_or("")), r[&format!("{table}id")].to_string())
        });
    }
    if let Some(top) = q.get("$top").and_then(|t| t.parse::<usize>().ok()) {
        rows.truncate(top);
    }
    let skip: usize = q.get("$skiptoken").and_then(|s| s.parse().ok()).unwrap_or(0);
    let size = headers
        .get("prefer")
        .and_then(|p| p.to_str().ok())
        .and_then(|p| p.strip_prefix("odata.maxpagesize="))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(5_000);
    let page: Vec<Value> = rows
        .iter()
        .skip(skip)
        .take(size)
        .map(|r| {
            let mut out = Map::new();
            out.insert("@odata.etag".into(), json!("W/\"1234567\""));
            for c in &select {
                out.insert(c.clone(), r.get(c).cloned().unwrap_or(Value::Null));
            }
            Value::Object(out)
        })
        .collect();
    let mut body = json!({ "@odata.context": format!("{}/api/data/v9.2/$metadata#{}", e.base, table), "value": page });
    if skip + size < rows.len() {
        let mut next: Vec<(String, String)> =
            q.iter().filter(|(k, _)| *k != "$skiptoken").map(|(k, v)| (k.clone(), v.clone())).collect();
        next.push(("$skiptoken".into(), (skip + size).to_string()));
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(next).finish();
        let set = match table {
            "opportunity" => "opportunities".to_string(),
            t => format!("{t}s"),
        };
        body["@odata.nextLink"] = json!(format!("{}/api/data/v9.2/{set}?{query}", e.base));
    }
    axum::Json(body).into_response()
}
