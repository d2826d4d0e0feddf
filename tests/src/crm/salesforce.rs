//! A local Salesforce for the connector's tests: the endpoints the connector uses, answering as Salesforce does —
//! the OAuth 2.0 refresh-token flow (no `expires_in`; an expired or revoked session is a 401 `INVALID_SESSION_ID`),
//! `sobjects/{Object}/describe`, create, update, upsert by an external-id field, and SOQL queries paged through
//! `nextRecordsUrl` — with Salesforce's own error bodies. Faults are injected per test: sessions expire, the
//! refresh token is revoked, the daily API limit runs out, a write is stored and then its answer never arrives.

// The helpers answer early with Salesforce's error response, as handlers do.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Map, Value, json};

pub use super::Fault;
use super::maybe_hang;

/// The API version the fake serves under `/services/data/`.
pub const VERSION: &str = "v60.0";

/// The connected app's credentials the fake accepts.
pub const CLIENT_ID: &str = "3MVG9-portico-test";
pub const CLIENT_SECRET: &str = "sf-client-secret-8c1f";
pub const REFRESH_TOKEN: &str = "5Aep861-refresh-token-42";

/// The fake's state, shared with the test.
#[derive(Debug, Default)]
pub struct Org {
    /// Records by object, then id; each with `Id`, `SystemModstamp` and its fields.
    pub records: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    /// Access tokens that are valid now.
    pub sessions: Vec<String>,
    pub refresh_revoked: bool,
    pub faults: Vec<(Fault, u32)>,
    /// The clock records are stamped with (epoch ms); every write advances it by one second.
    pub clock: i64,
    /// Records per query page (Salesforce's default is 2,000).
    pub page_size: usize,
    /// Every request: method and path (with query), in order.
    pub calls: Vec<String>,
    /// Bodies of every request, for tests that look for leaked secrets.
    pub bodies: Vec<String>,
    /// The fake's own address, which the token endpoint names as the instance URL.
    pub base: String,
    next_id: u64,
    /// Query locators: the rows still to page through, and the query's total.
    cursors: BTreeMap<String, (Vec<Map<String, Value>>, usize)>,
}

impl Org {
    fn fault(&mut self, want: fn(&Fault) -> bool) -> Option<Fault> {
        super::take(&mut self.faults, want)
    }

    fn stamp(&mut self) -> String {
        self.clock += 1_000;
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.clock)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
            .to_string()
    }

    fn new_id(&mut self, object: &str) -> String {
        self.next_id += 1;
        let prefix = match object {
            "Account" => "001",
            "Contact" => "003",
            "Opportunity" => "006",
            _ => "a00",
        };
        format!("{prefix}{:015}", self.next_id)
    }

    /// Stores a new record, stamped now; returns its id.
    pub fn insert(&mut self, object: &str, fields: Map<String, Value>) -> String {
        let id = self.new_id(object);
        let mut rec = fields;
        rec.insert("Id".into(), json!(id));
        rec.insert("SystemModstamp".into(), json!(self.stamp()));
        self.records.entry(object.to_string()).or_default().insert(id.clone(), rec);
        id
    }

    /// Changes a record's fields as a person in Salesforce would, stamped now.
    pub fn edit(&mut self, object: &str, id: &str, fields: Map<String, Value>) {
        let stamp = self.stamp();
        let rec = self.records.get_mut(object).and_then(|r| r.get_mut(id)).expect("the record exists");
        rec.extend(fields);
        rec.insert("SystemModstamp".into(), json!(stamp));
    }

    /// The records of an object whose `field` equals `value`.
    pub fn find(&self, object: &str, field: &str, value: &Value) -> Vec<Map<String, Value>> {
        self.records
            .get(object)
            .into_iter()
            .flat_map(|r| r.values())
            .filter(|r| r.get(field) == Some(value))
            .cloned()
            .collect()
    }
}

/// A running fake Salesforce.
#[derive(Debug, Clone)]
pub struct FakeSalesforce {
    pub base: String,
    pub org: Arc<Mutex<Org>>,
}

impl FakeSalesforce {
    /// Starts one on a free loopback port.
    pub async fn start() -> FakeSalesforce {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let org = Arc::new(Mutex::new(Org {
            page_size: 2_000,
            clock: 1_796_000_000_000,
            base: base.clone(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/services/oauth2/token", post(token))
            .route("/services/data/{v}/sobjects/{object}/describe", get(describe))
            .route("/services/data/{v}/sobjects/{object}", post(create))
            .route("/services/data/{v}/sobjects/{object}/{id}", patch(update).get(read_by_id))
            .route("/services/data/{v}/sobjects/{object}/{field}/{value}", patch(upsert).get(read_by_field))
            .route("/services/data/{v}/query", get(query))
            .route("/services/data/{v}/query/{locator}", get(more))
            .with_state(org.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the fake serves") });
        FakeSalesforce { base, org }
    }

    pub fn org(&self) -> std::sync::MutexGuard<'_, Org> {
        self.org.lock().expect("the fake's state")
    }

    /// Ends every session, as Salesforce does when a session times out.
    pub fn expire_sessions(&self) {
        self.org().sessions.clear();
    }

    /// Revokes the refresh token (an admin removed the connected app's access).
    pub fn revoke(&self) {
        let mut org = self.org();
        org.refresh_revoked = true;
        org.sessions.clear();
    }

    /// Grants access again (the admin reconnected).
    pub fn reconnect(&self) {
        self.org().refresh_revoked = false;
    }

    pub fn inject(&self, fault: Fault, times: u32) {
        self.org().faults.push((fault, times));
    }
}

type Shared = State<Arc<Mutex<Org>>>;

fn errors(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!([{ "message": message, "errorCode": code }]))).into_response()
}

/// Checks the bearer token and the injected faults every API call meets; records the call.
fn admit(org: &mut Org, headers: &HeaderMap, call: String, body: &str) -> Result<(), Response> {
    org.calls.push(call);
    org.bodies.push(body.to_string());
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| org.sessions.iter().any(|s| s == t)) {
        return Err(errors(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid"));
    }
    if org.fault(|f| matches!(f, Fault::RateLimit)).is_some() {
        return Err(errors(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."));
    }
    if org.fault(|f| matches!(f, Fault::Outage)).is_some() {
        return Err(errors(StatusCode::SERVICE_UNAVAILABLE, "SERVER_UNAVAILABLE", "Service temporarily unavailable"));
    }
    Ok(())
}

async fn token(State(org): Shared, body: String) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let mut org = org.lock().expect("state");
    org.calls.push("POST /services/oauth2/token".into());
    org.bodies.push(body.clone());
    let oauth = |error: &str, description: &str| {
        (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": error, "error_description": description })))
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
        return oauth("unsupported_grant_type", "grant type not supported");
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return oauth("invalid_client_id", "client identifier invalid");
    }
    if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return oauth("invalid_client", "invalid client credentials");
    }
    if org.refresh_revoked || form.get("refresh_token").map(String::as_str) != Some(REFRESH_TOKEN) {
        return oauth("invalid_grant", "expired access/refresh token");
    }
    let n = org.sessions.len() + org.calls.len();
    let access = format!("00Dxx0000001gPL!AR{n:08}.session");
    org.sessions.push(access.clone());
    axum::Json(json!({
        "access_token": access,
        "instance_url": org.base,
        "id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001Sv6AAAS",
        "token_type": "Bearer",
        "issued_at": org.clock.to_string(),
        "signature": "CcSZdrXkZ6h1T4Ew9Gm3q8oYrQx2D2fiM1Yb0y8sUtc=",
    }))
    .into_response()
}

/// The objects the fake knows, with Salesforce's describe shape for each field.
fn schema(object: &str) -> Option<Vec<Value>> {
    let f = |name: &str, label: &str, kind: &str, nillable: bool, extra: Value| {
        let mut v = json!({ "name": name, "label": label, "type": kind, "createable": true, "updateable": true,
            "nillable": nillable, "defaultedOnCreate": false, "externalId": false, "custom": name.ends_with("__c"),
            "picklistValues": [] });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let read_only = json!({ "createable": false, "updateable": false });
    let system = |name: &str, kind: &str| f(name, name, kind, false, read_only.clone());
    let stages =
        ["Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Closed Won", "Closed Lost"]
            .iter()
            .map(|s| json!({ "value": s, "label": s, "active": true }))
            .collect::<Vec<_>>();
    Some(match object {
        "Opportunity" => vec![
            system("Id", "id"),
            system("SystemModstamp", "datetime"),
            system("IsWon", "boolean"),
            f("Name", "Opportunity Name", "string", false, json!({})),
            f("Amount", "Amount", "currency", true, json!({})),
            f("CloseDate", "Close Date", "date", false, json!({})),
            f("StageName", "Stage", "picklist", false, json!({ "picklistValues": stages })),
            f("Description", "Description", "textarea", true, json!({})),
            f("AccountId", "Account ID", "reference", true, json!({})),
            f("PartnerAccountId", "Partner Account", "reference", true, json!({})),
            f("Partner_Deal_Id__c", "Partner Deal Id", "string", true, json!({ "externalId": true })),
            f("Products__c", "Products", "string", true, json!({})),
        ],
        "Account" => vec![
            system("Id", "id"),
            system("SystemModstamp", "datetime"),
            f("Name", "Account Name", "string", false, json!({})),
            f("Website", "Website", "url", true, json!({})),
            f("BillingCountry", "Billing Country", "string", true, json!({})),
            f("Portal_Org_Id__c", "Portal Org Id", "string", true, json!({ "externalId": true })),
        ],
        "Contact" => vec![
            system("Id", "id"),
            system("SystemModstamp", "datetime"),
            f("FirstName", "First Name", "string", true, json!({})),
            f("LastName", "Last Name", "string", false, json!({})),
            f("Email", "Email", "email", true, json!({})),
            f("AccountId", "Account ID", "reference", true, json!({})),
        ],
        _ => return None,
    })
}

async fn describe(State(org): Shared, Path((_, object)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let mut org = org.lock().expect("state");
    if let Err(r) = admit(&mut org, &headers, format!("GET describe {object}"), "") {
        return r;
    }
    match schema(&object) {
        Some(fields) => axum::Json(json!({ "name": object, "fields": fields })).into_response(),
        None => errors(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist"),
    }
}

/// Checks a body's fields against the object's schema as Salesforce does (unknown or read-only fields).
fn check_fields(object: &str, body: &Map<String, Value>, creating: bool) -> Result<(), Response> {
    let fields = schema(object).unwrap_or_default();
    for (k, _) in body {
        let Some(f) = fields.iter().find(|f| f["name"] == json!(k)) else {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!("No such column '{k}' on sobject of type {object}"),
            ));
        };
        if !f["createable"].as_bool().unwrap_or(false) {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                &format!("Unable to create/update fields: {k}."),
            ));
        }
    }
    if creating {
        let missing: Vec<String> = fields
            .iter()
            .filter(|f| f["createable"] == json!(true) && f["nillable"] == json!(false))
            .filter_map(|f| f["name"].as_str())
            .filter(|n| !body.contains_key(*n))
            .map(String::from)
            .collect();
        if !missing.is_empty() {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                "REQUIRED_FIELD_MISSING",
                &format!("Required fields are missing: [{}]", missing.join(", ")),
            ));
        }
    }
    Ok(())
}

async fn create(
    State(org): Shared,
    Path((_, object)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Map<String, Value>>,
) -> Response {
    let (reply, hang) = {
        let mut org = org.lock().expect("state");
        if let Err(r) = admit(&mut org, &headers, format!("POST {object}"), &Value::Object(body.clone()).to_string()) {
            return r;
        }
        if schema(&object).is_none() {
            return errors(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
        }
        if let Err(r) = check_fields(&object, &body, true) {
            return r;
        }
        let id = org.insert(&object, body);
        let hang = org.fault(|f| matches!(f, Fault::StoreThenHang(_)));
        ((StatusCode::CREATED, axum::Json(json!({ "id": id, "success": true, "errors": [] }))), hang)
    };
    maybe_hang(hang).await;
    reply.into_response()
}

async fn update(
    State(org): Shared,
    Path((_, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Map<String, Value>>,
) -> Response {
    let hang = {
        let mut org = org.lock().expect("state");
        if let Err(r) =
            admit(&mut org, &headers, format!("PATCH {object}/{id}"), &Value::Object(body.clone()).to_string())
        {
            return r;
        }
        if let Err(r) = check_fields(&object, &body, false) {
            return r;
        }
        if !org.records.get(&object).is_some_and(|r| r.contains_key(&id)) {
            return errors(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Provided external ID field does not exist or is not accessible",
            );
        }
        org.edit(&object, &id, body);
        org.fault(|f| matches!(f, Fault::StoreThenHang(_)))
    };
    maybe_hang(hang).await;
    StatusCode::NO_CONTENT.into_response()
}

async fn upsert(
    State(org): Shared,
    Path((_, object, field, value)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Map<String, Value>>,
) -> Response {
    let (reply, hang) = {
        let mut org = org.lock().expect("state");
        if let Err(r) = admit(
            &mut org,
            &headers,
            format!("PATCH {object}/{field}/{value}"),
            &Value::Object(body.clone()).to_string(),
        ) {
            return r;
        }
        let is_external = schema(&object)
            .unwrap_or_default()
            .iter()
            .any(|f| f["name"] == json!(field) && f["externalId"] == json!(true));
        if !is_external {
            return errors(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("Provided external ID field does not exist or is not accessible: {field}"),
            );
        }
        if body.contains_key(&field) {
            return errors(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!("The external ID field {field} must not be in the request body"),
            );
        }
        let found = org.find(&object, &field, &json!(value));
        let reply = match found.as_slice() {
            [] => {
                let mut fields = body;
                fields.insert(field.clone(), json!(value));
                if let Err(r) = check_fields(&object, &fields, true) {
                    return r;
                }
                let id = org.insert(&object, fields);
                (StatusCode::CREATED, json!({ "id": id, "success": true, "errors": [], "created": true }))
            }
            [one] => {
                if let Err(r) = check_fields(&object, &body, false) {
                    return r;
                }
                let id = one["Id"].as_str().unwrap_or_default().to_string();
                org.edit(&object, &id, body);
                (StatusCode::OK, json!({ "id": id, "success": true, "errors": [], "created": false }))
            }
            many => {
                let ids: Vec<String> = many.iter().filter_map(|r| r["Id"].as_str().map(String::from)).collect();
                return (StatusCode::MULTIPLE_CHOICES, axum::Json(json!(ids))).into_response();
            }
        };
        (reply, org.fault(|f| matches!(f, Fault::StoreThenHang(_))))
    };
    maybe_hang(hang).await;
    (reply.0, axum::Json(reply.1)).into_response()
}

async fn read_by_id(
    State(org): Shared,
    Path((_, object, id)): Path<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut org = org.lock().expect("state");
    if let Err(r) = admit(&mut org, &headers, format!("GET {object}/{id}"), "") {
        return r;
    }
    let Some(rec) = org.records.get(&object).and_then(|r| r.get(&id)).cloned() else {
        return errors(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist");
    };
    let mut out = Map::new();
    out.insert("attributes".into(), json!({ "type": object }));
    match q.get("fields") {
        Some(fields) => {
            for f in fields.split(',') {
                out.insert(f.to_string(), rec.get(f).cloned().unwrap_or(Value::Null));
            }
        }
        None => out.extend(rec),
    }
    axum::Json(Value::Object(out)).into_response()
}

async fn read_by_field(
    State(org): Shared,
    Path((_, object, field, value)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut org = org.lock().expect("state");
    if let Err(r) = admit(&mut org, &headers, format!("GET {object}/{field}/{value}"), "") {
        return r;
    }
    match org.find(&object, &field, &json!(value)).first() {
        Some(r) => axum::Json(json!({ "attributes": { "type": object }, "Id": r["Id"] })).into_response(),
        None => errors(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist"),
    }
}

/// A SOQL query of the shapes the connector sends: `SELECT a, b FROM Obj [WHERE c [AND c]] [ORDER BY …] [LIMIT n]`,
/// conditions `F >= datetime`, `F = 'v'` and `F LIKE '%v%'`.
fn run_soql(org: &Org, soql: &str) -> Result<Vec<Map<String, Value>>, String> {
    let re = regex::Regex::new(
        r"(?is)^SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER\s+BY\s+(.+?))?(?:\s+LIMIT\s+(\d+))?$",
    )
    .expect("a regex");
    let c = re.captures(soql.trim()).ok_or_else(|| "unexpected token".to_string())?;
    let fields: Vec<String> = c[1].split(',').map(|f| f.trim().to_string()).collect();
    let object = &c[2];
    let known = schema(object).ok_or_else(|| format!("sObject type '{object}' is not supported."))?;
    for f in &fields {
        if !known.iter().any(|k| k["name"] == json!(f)) {
            return Err(format!("No such column '{f}' on entity '{object}'."));
        }
    }
    let cond = regex::Regex::new(r"(?is)^(\w+)\s*(>=|=|LIKE)\s*(.+)$").expect("a regex");
    let mut tests: Vec<(String, String, String)> = Vec::new();
    if let Some(w) = c.get(3) {
        for part in w.as_str().split(" AND ") {
            let m = cond.captures(part.trim()).ok_or_else(|| format!("unexpected condition {part}"))?;
            let value = m[3].trim();
            let value = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                Some(quoted) => {
                    let mut out = String::new();
                    let mut esc = false;
                    for ch in quoted.chars() {
                        if esc || ch != '\\' {
                            out.push(ch);
                            esc = false;
                        } else {
                            esc = true;
                        }
                    }
                    out
                }
                None => value.to_string(),
            };
            tests.push((m[1].to_string(), m[2].to_uppercase(), value));
        }
    }
    let time = |v: &str| watermark_ms(v);
    let mut rows: Vec<Map<String, Value>> = org
        .records
        .get(object)
        .into_iter()
        .flat_map(|r| r.values())
        .filter(|r| {
            tests.iter().all(|(f, op, v)| {
                let have = r.get(f).and_then(Value::as_str).unwrap_or("");
                match op.as_str() {
                    ">=" => time(have) >= time(v),
                    "=" => have == v,
                    _ => have.contains(v.trim_matches('%')),
                }
            })
        })
        .map(|r| {
            let mut out = Map::new();
            out.insert("attributes".into(), json!({ "type": object, "url": format!("/services/data/{VERSION}/sobjects/{object}/{}", r["Id"].as_str().unwrap_or_default()) }));
            for f in &fields {
                out.insert(f.clone(), r.get(f).cloned().unwrap_or(Value::Null));
            }
            out
        })
        .collect();
    if c.get(4).is_some_and(|o| o.as_str().contains("SystemModstamp")) {
        rows.sort_by_key(|r| {
            (time(r.get("SystemModstamp").and_then(Value::as_str).unwrap_or("")), r["Id"].to_string())
        });
    }
    if let Some(n) = c.get(5).and_then(|n| n.as_str().parse::<usize>().ok()) {
        rows.truncate(n);
    }
    Ok(rows)
}

fn watermark_ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// A page of rows, keeping the rest under a locator.
fn page(org: &mut Org, mut rows: Vec<Map<String, Value>>, total: usize) -> Response {
    let rest = if rows.len() > org.page_size { rows.split_off(org.page_size) } else { Vec::new() };
    let done = rest.is_empty();
    let mut body = json!({ "totalSize": total, "done": done, "records": rows });
    if !done {
        let locator = format!("01gxx{:010}-{}", org.calls.len(), total - rest.len());
        body["nextRecordsUrl"] = json!(format!("/services/data/{VERSION}/query/{locator}"));
        org.cursors.insert(locator, (rest, total));
    }
    axum::Json(body).into_response()
}

async fn query(State(org): Shared, Query(q): Query<BTreeMap<String, String>>, headers: HeaderMap) -> Response {
    let mut org = org.lock().expect("state");
    let soql = q.get("q").cloned().unwrap_or_default();
    if let Err(r) = admit(&mut org, &headers, format!("GET query {soql}"), "") {
        return r;
    }
    match run_soql(&org, &soql) {
        Ok(rows) => {
            let total = rows.len();
            page(&mut org, rows, total)
        }
        Err(message) => errors(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", &message),
    }
}

async fn more(State(org): Shared, Path((_, locator)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let mut org = org.lock().expect("state");
    if let Err(r) = admit(&mut org, &headers, format!("GET query/{locator}"), "") {
        return r;
    }
    let Some((rows, total)) = org.cursors.remove(&locator) else {
        return errors(StatusCode::NOT_FOUND, "INVALID_QUERY_LOCATOR", "invalid query locator");
    };
    page(&mut org, rows, total)
}
