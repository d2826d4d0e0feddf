//! A local HubSpot for the connector's tests: OAuth refresh at `/oauth/v1/token` (form body, 30-minute tokens that
//! rotate the refresh token) or a private app's static token; `crm/v3/properties/{object}`; create, update and
//! batch upsert by a unique property; and search with `GTE`/`EQ` filters, sorting and `after` paging that stops at
//! 10,000 results as HubSpot's does — with HubSpot's error bodies and its ten-second burst limit.

// The helpers answer early with HubSpot's error response, as handlers do.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde_json::{Map, Value, json};

pub use super::Fault;
use super::maybe_hang;

pub const CLIENT_ID: &str = "6a1b2c3d-portico-test";
pub const CLIENT_SECRET: &str = "hs-client-secret-77aa";
pub const REFRESH_TOKEN: &str = "na1-refresh-0f0f-1e1e";
pub const PRIVATE_APP_TOKEN: &str = "pat-na1-11112222-private";

/// The fake's state, shared with the test.
#[derive(Debug, Default)]
pub struct Account {
    /// Records by object (`deals`, `companies`, `contacts`), then id; each its properties (all strings).
    pub records: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    pub sessions: Vec<String>,
    /// The refresh token that is valid now (HubSpot may issue a new one at each refresh).
    pub refresh_token: String,
    pub revoked: bool,
    /// Refreshes granted so far.
    pub refreshes: u32,
    pub faults: Vec<(Fault, u32)>,
    pub clock: i64,
    pub calls: Vec<String>,
    pub bodies: Vec<String>,
    /// Associations: (object, id, other object, other id).
    pub associations: Vec<(String, String, String, String)>,
    next_id: u64,
}

impl Account {
    fn stamp(&mut self) -> String {
        self.clock += 1_000;
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.clock)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// Stores a new record, stamped now; returns its id.
    pub fn insert(&mut self, object: &str, properties: Map<String, Value>) -> String {
        self.next_id += 1;
        let id = (9_000 + self.next_id).to_string();
        let stamp = self.stamp();
        let mut rec: Map<String, Value> =
            properties.into_iter().map(|(k, v)| (k, Value::String(as_text(&v)))).collect();
        rec.insert("hs_object_id".into(), json!(id));
        rec.insert("createdate".into(), json!(stamp));
        rec.insert("hs_lastmodifieddate".into(), json!(stamp));
        self.records.entry(object.to_string()).or_default().insert(id.clone(), rec);
        id
    }

    /// Changes a record as a person in HubSpot would, stamped now.
    pub fn edit(&mut self, object: &str, id: &str, properties: Map<String, Value>) {
        let stamp = self.stamp();
        let rec = self.records.get_mut(object).and_then(|r| r.get_mut(id)).expect("the record exists");
        for (k, v) in properties {
            rec.insert(k, Value::String(as_text(&v)));
        }
        rec.insert("hs_lastmodifieddate".into(), json!(stamp));
    }

    /// The records of an object whose property equals `value`.
    pub fn find(&self, object: &str, property: &str, value: &str) -> Vec<Map<String, Value>> {
        self.records
            .get(object)
            .into_iter()
            .flat_map(|r| r.values())
            .filter(|r| r.get(property).and_then(Value::as_str) == Some(value))
            .cloned()
            .collect()
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A running fake HubSpot.
#[derive(Debug, Clone)]
pub struct FakeHubSpot {
    pub base: String,
    pub account: Arc<Mutex<Account>>,
}

impl FakeHubSpot {
    pub async fn start() -> FakeHubSpot {
        let account = Arc::new(Mutex::new(Account {
            clock: 1_796_000_000_000,
            refresh_token: REFRESH_TOKEN.into(),
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let app = Router::new()
            .route("/oauth/v1/token", post(token))
            .route("/crm/v3/properties/{object}", get(properties))
            .route("/crm/v3/objects/{object}", post(create))
            .route("/crm/v3/objects/{object}/batch/upsert", post(upsert))
            .route("/crm/v3/objects/{object}/search", post(search))
            .route("/crm/v3/objects/{object}/{id}", patch(update).get(read))
            .route("/crm/v4/objects/{object}/{id}/associations/default/{to_object}/{to_id}", put(associate))
            .with_state(account.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the fake serves") });
        FakeHubSpot { base, account }
    }

    pub fn account(&self) -> std::sync::MutexGuard<'_, Account> {
        self.account.lock().expect("the fake's state")
    }

    /// Every OAuth access token expires (they last 30 minutes).
    pub fn expire_tokens(&self) {
        self.account().sessions.clear();
    }

    /// The app is uninstalled from the account: the refresh token stops working.
    pub fn revoke(&self) {
        let mut a = self.account();
        a.revoked = true;
        a.sessions.clear();
    }

    pub fn inject(&self, fault: Fault, times: u32) {
        self.account().faults.push((fault, times));
    }
}

type Shared = State<Arc<Mutex<Account>>>;

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let body = json!({ "status": "error", "message": message, "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
        "category": category });
    (status, axum::Json(body)).into_response()
}

fn admit(a: &mut Account, headers: &HeaderMap, call: String, body: &str) -> Result<(), Response> {
    a.calls.push(call);
    a.bodies.push(body.to_string());
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let valid = token.is_some_and(|t| t == PRIVATE_APP_TOKEN || a.sessions.iter().any(|s| s == t));
    if !valid {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired 2 minute(s) ago.",
        ));
    }
    if super::take(&mut a.faults, |f| matches!(f, Fault::RateLimit)).is_some() {
        let body = json!({ "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
            "policyName": "TEN_SECONDLY_ROLLING" });
        return Err((StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response());
    }
    if super::take(&mut a.faults, |f| matches!(f, Fault::Outage)).is_some() {
        return Err(error(StatusCode::BAD_GATEWAY, "", "Bad gateway"));
    }
    Ok(())
}

async fn token(State(account): Shared, body: String) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let mut a = account.lock().expect("state");
    a.calls.push("POST /oauth/v1/token".into());
    a.bodies.push(body.clone());
    let oauth = |status: &str, message: &str| {
        let body =
            json!({ "status": status, "message": message, "correlationId": "0d1c8e2a-4b5f-4f1e-9a9e-3c5d7e9f1a2b" });
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return oauth("BAD_CLIENT_ID", "missing or unknown client id");
    }
    if form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return oauth("BAD_CLIENT_SECRET", "missing or invalid client secret");
    }
    if a.revoked || form.get("refresh_token") != Some(&a.refresh_token) {
        return oauth("BAD_REFRESH_TOKEN", "missing or unknown refresh token");
    }
    let n = a.calls.len();
    let access = format!("CJSP5qf1KhICAQEYs-gDIIGOBii1jQIyGQAf3xBKmlwHjX7OIpuIFEavB2-qYAGQsF4{n:06}");
    a.sessions.push(access.clone());
    // HubSpot issues a new refresh token now and then; the fake does on every second refresh.
    a.refreshes += 1;
    if a.refreshes % 2 == 0 {
        a.refresh_token = format!("na1-refresh-rotated-{n}");
    }
    axum::Json(json!({ "token_type": "bearer", "refresh_token": a.refresh_token, "access_token": access,
        "expires_in": 1800 }))
    .into_response()
}

fn schema(object: &str) -> Option<Vec<Value>> {
    let p = |name: &str, label: &str, kind: &str, field: &str, extra: Value| {
        let mut v = json!({ "name": name, "label": label, "type": kind, "fieldType": field,
            "modificationMetadata": { "archivable": true, "readOnlyDefinition": true, "readOnlyValue": false },
            "hubspotDefined": !name.starts_with("portal_"), "hasUniqueValue": false, "hidden": false, "options": [] });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let read_only = json!({ "modificationMetadata": { "readOnlyValue": true } });
    let stages =
        ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "contractsent", "closedwon", "closedlost"]
            .iter()
            .enumerate()
            .map(|(i, s)| json!({ "label": s, "value": s, "displayOrder": i, "hidden": false }))
            .collect::<Vec<_>>();
    Some(match object {
        "deals" => vec![
            p("dealname", "Deal Name", "string", "text", json!({})),
            p("amount", "Amount", "number", "number", json!({})),
            p("closedate", "Close Date", "datetime", "date", json!({})),
            p("dealstage", "Deal Stage", "enumeration", "radio", json!({ "options": stages })),
            p(
                "pipeline",
                "Pipeline",
                "enumeration",
                "select",
                json!({ "options": [{ "label": "Sales Pipeline", "value": "default" }] }),
            ),
            p("description", "Deal Description", "string", "textarea", json!({})),
            p("portal_deal_id", "Portal deal id", "string", "text", json!({ "hasUniqueValue": true })),
            p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only.clone()),
            p("hs_object_id", "Record ID", "number", "number", read_only.clone()),
        ],
        "companies" => vec![
            p("name", "Company name", "string", "text", json!({})),
            p("domain", "Company Domain Name", "string", "text", json!({})),
            p("country", "Country/Region", "string", "text", json!({})),
            p("portal_org_id", "Portal org id", "string", "text", json!({ "hasUniqueValue": true })),
            p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only.clone()),
        ],
        "contacts" => vec![
            p("firstname", "First Name", "string", "text", json!({})),
            p("lastname", "Last Name", "string", "text", json!({})),
            p("email", "Email", "string", "text", json!({ "hasUniqueValue": true })),
            p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only),
        ],
        _ => return None,
    })
}

async fn properties(State(account): Shared, Path(object): Path<String>, headers: HeaderMap) -> Response {
    let mut a = account.lock().expect("state");
    if let Err(r) = admit(&mut a, &headers, format!("GET properties {object}"), "") {
        return r;
    }
    match schema(&object) {
        Some(results) => axum::Json(json!({ "results": results })).into_response(),
        None => {
            error(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", &format!("Unable to infer object type from: {object}"))
        }
    }
}

/// Checks properties against the object's schema as HubSpot does (unknown, read-only, bad option).
fn check(object: &str, props: &Map<String, Value>) -> Result<(), Response> {
    let known = schema(object).unwrap_or_default();
    for (k, v) in props {
        let Some(p) = known.iter().find(|p| p["name"] == json!(k)) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!(
                    "Property values were not valid: [{{\"isValid\":false,\"message\":\"Property \\\"{k}\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"{k}\"}}]"
                ),
            ));
        };
        if p["modificationMetadata"]["readOnlyValue"] == json!(true) {
            return Err(error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &format!("{k} is a read only property")));
        }
        if let Some(options) = p["options"].as_array().filter(|o| !o.is_empty())
            && !options.iter().any(|o| o["value"] == *v)
        {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("Property values were not valid: {v} was not one of the allowed options for {k}"),
            ));
        }
    }
    Ok(())
}

fn record(id: &str, rec: &Map<String, Value>, wanted: Option<&[String]>) -> Value {
    let props: Map<String, Value> = match wanted {
        Some(w) => w.iter().map(|k| (k.clone(), rec.get(k).cloned().unwrap_or(Value::Null))).collect(),
        None => rec.clone(),
    };
    json!({ "id": id, "properties": props, "createdAt": rec["createdate"], "updatedAt": rec["hs_lastmodifieddate"],
        "archived": false })
}

fn properties_of(body: &Value) -> Map<String, Value> {
    body["properties"].as_object().cloned().unwrap_or_default()
}

async fn create(State(account): Shared, Path(object): Path<String>, headers: HeaderMap, body: String) -> Response {
    let (reply, hang) = {
        let mut a = account.lock().expect("state");
        if let Err(r) = admit(&mut a, &headers, format!("POST {object}"), &body) {
            return r;
        }
        let props = properties_of(&serde_json::from_str(&body).unwrap_or(Value::Null));
        if let Err(r) = check(&object, &props) {
            return r;
        }
        let id = a.insert(&object, props);
        let rec = a.records[&object][&id].clone();
        (record(&id, &rec, None), super::take(&mut a.faults, |f| matches!(f, Fault::StoreThenHang(_))))
    };
    maybe_hang(hang).await;
    (StatusCode::CREATED, axum::Json(reply)).into_response()
}

async fn update(
    State(account): Shared,
    Path((object, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut a = account.lock().expect("state");
    if let Err(r) = admit(&mut a, &headers, format!("PATCH {object}/{id}"), &body) {
        return r;
    }
    let props = properties_of(&serde_json::from_str(&body).unwrap_or(Value::Null));
    if let Err(r) = check(&object, &props) {
        return r;
    }
    if !a.records.get(&object).is_some_and(|r| r.contains_key(&id)) {
        return error(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "resource not found");
    }
    a.edit(&object, &id, props);
    axum::Json(record(&id, &a.records[&object][&id], None)).into_response()
}

async fn upsert(State(account): Shared, Path(object): Path<String>, headers: HeaderMap, body: String) -> Response {
    let (reply, hang) = {
        let mut a = account.lock().expect("state");
        if let Err(r) = admit(&mut a, &headers, format!("POST {object}/batch/upsert"), &body) {
            return r;
        }
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let mut results = Vec::new();
        for input in body["inputs"].as_array().into_iter().flatten() {
            let (Some(prop), Some(value)) = (input["idProperty"].as_str(), input["id"].as_str()) else {
                return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "idProperty and id are required");
            };
            let unique = schema(&object)
                .unwrap_or_default()
                .iter()
                .any(|p| p["name"] == json!(prop) && p["hasUniqueValue"] == json!(true));
            if !unique {
                return error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    &format!("{prop} is not a unique property and cannot be used as idProperty"),
                );
            }
            let props = properties_of(input);
            if let Err(r) = check(&object, &props) {
                return r;
            }
            let found = a.find(&object, prop, value).first().and_then(|r| r["hs_object_id"].as_str().map(String::from));
            let (id, new) = match found {
                Some(id) => {
                    a.edit(&object, &id, props);
                    (id, false)
                }
                None => {
                    let mut props = props;
                    props.insert(prop.to_string(), json!(value));
                    (a.insert(&object, props), true)
                }
            };
            let mut r = record(&id, &a.records[&object][&id], None);
            r["new"] = json!(new);
            results.push(r);
        }
        let reply = json!({ "status": "COMPLETE", "results": results, "startedAt": "2026-12-01T22:00:00.000Z",
            "completedAt": "2026-12-01T22:00:00.100Z" });
        (reply, super::take(&mut a.faults, |f| matches!(f, Fault::StoreThenHang(_))))
    };
    maybe_hang(hang).await;
    axum::Json(reply).into_response()
}

async fn read(
    State(account): Shared,
    Path((object, id)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut a = account.lock().expect("state");
    if let Err(r) = admit(&mut a, &headers, format!("GET {object}/{id}"), "") {
        return r;
    }
    let Some(rec) = a.records.get(&object).and_then(|r| r.get(&id)).cloned() else {
        return error(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "resource not found");
    };
    let wanted: Option<Vec<String>> = q.get("properties").map(|p| p.split(',').map(String::from).collect());
    let mut body = record(&id, &rec, wanted.as_deref());
    // `associations=companies,contacts`: the associated records of each type, as HubSpot lists them.
    for to in q.get("associations").into_iter().flat_map(|a| a.split(',')) {
        let results: Vec<Value> = a
            .associations
            .iter()
            .filter(|(o, i, t, _)| *o == object && *i == id && t == to)
            .map(|(_, _, _, to_id)| json!({ "id": to_id, "type": format!("{}_to_{}", object.trim_end_matches('s'), to.trim_end_matches('s')) }))
            .collect();
        body["associations"][to] = json!({ "results": results });
    }
    axum::Json(body).into_response()
}

async fn associate(
    State(account): Shared,
    Path((object, id, to_object, to_id)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut a = account.lock().expect("state");
    if let Err(r) = admit(&mut a, &headers, format!("PUT {object}/{id} associate {to_object}/{to_id}"), "") {
        return r;
    }
    let exists = |a: &Account, o: &str, i: &str| a.records.get(o).is_some_and(|r| r.contains_key(i));
    if !exists(&a, &object, &id) || !exists(&a, &to_object, &to_id) {
        return error(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "One or more objects of the association do not exist");
    }
    let link = (object.clone(), id.clone(), to_object.clone(), to_id.clone());
    if !a.associations.contains(&link) {
        a.associations.push(link);
    }
    axum::Json(json!({ "status": "COMPLETE", "results": [{ "from": { "id": id }, "to": { "id": to_id },
        "type": format!("{object}_to_{to_object}") }] }))
    .into_response()
}

async fn search(State(account): Shared, Path(object): Path<String>, headers: HeaderMap, body: String) -> Response {
    let mut a = account.lock().expect("state");
    if let Err(r) = admit(&mut a, &headers, format!("POST {object}/search"), &body) {
        return r;
    }
    let q: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let after: usize = q["after"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit = q["limit"].as_u64().unwrap_or(10).min(200) as usize;
    if after + limit > 10_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Cannot page past 10000 results; refine the search with filters",
        );
    }
    let time = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).unwrap_or_else(|_| s.parse().unwrap_or(0))
    };
    let filters: Vec<(String, String, String)> = q["filterGroups"][0]["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            (s("propertyName"), s("operator"), s("value"))
        })
        .collect();
    let mut rows: Vec<(String, Map<String, Value>)> = a
        .records
        .get(&object)
        .into_iter()
        .flat_map(|r| r.iter())
        .filter(|(_, r)| {
            filters.iter().all(|(p, op, v)| {
                let have = r.get(p).and_then(Value::as_str).unwrap_or("");
                match op.as_str() {
                    "GTE" if p.ends_with("date") => time(have) >= time(v),
                    "EQ" => have.eq_ignore_ascii_case(v),
                    _ => false,
                }
            })
        })
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect();
    if let Some(sort) = q["sorts"][0]["propertyName"].as_str() {
        let sort = sort.to_string();
        rows.sort_by_key(|(id, r)| {
            (time(r.get(&sort).and_then(Value::as_str).unwrap_or("")), id.parse::<u64>().unwrap_or(0))
        });
    }
    let wanted: Vec<String> =
        q["properties"].as_array().into_iter().flatten().filter_map(|p| p.as_str().map(String::from)).collect();
    let total = rows.len();
    let results: Vec<Value> = rows.iter().skip(after).take(limit).map(|(id, r)| record(id, r, Some(&wanted))).collect();
    let mut reply = json!({ "total": total, "results": results });
    if after + limit < total {
        reply["paging"] = json!({ "next": { "after": (after + limit).to_string() } });
    }
    axum::Json(reply).into_response()
}
