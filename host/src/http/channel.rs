//! The vendor's channel analytics: the dashboard's figures over a date range against the range before (on `/` for
//! vendor staff), the partners behind a figure (`/admin/channel/{metric}`), CSV exports of both, and the same as
//! JSON (`/api/v1/channel…`). Vendor staff only. Everything is read from per-day figures (`daily_metrics`), a few
//! rows per day of the range, never from raw history.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use portico_plugin_api::MetricUnit;
use serde::Deserialize;
use serde_json::json;

use super::ctx::Auth;
use super::error::{HttpError, HttpResult};
use super::extract::Query;
use super::view::render;
use crate::analytics::{self, Figures, Kpi, MetricDef, Range};
use crate::app::AppState;
use crate::storage::analytics::ALL_ORGS;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/channel.csv", get(report_csv)).route("/admin/channel/{metric}", get(drill_page))
}

pub fn api_router() -> Router<AppState> {
    Router::new().route("/channel", get(report_json)).route("/channel/{metric}", get(drill_json))
}

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD` (the tenant's days), `format=csv` for a download.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub format: Option<String>,
}

/// The channel's figures over a range.
pub(super) struct Report {
    pub range: Range,
    pub kpis: Vec<Kpi>,
    pub tiers: Vec<serde_json::Value>,
    pub recency: [i64; 5],
}

/// Today in the tenant's time zone.
fn today(state: &AppState, auth: &Auth) -> i64 {
    analytics::day_of(state.clock.now_ms(), &auth.ctx.tenant.timezone)
}

/// The range a query asks for, or a field error.
pub(super) fn range_of(state: &AppState, auth: &Auth, q: &RangeQuery) -> HttpResult<Range> {
    Range::parse(q.from.as_deref(), q.to.as_deref(), today(state, auth))
        .map_err(|(field, message)| HttpError::Invalid { field: Some(field.into()), message })
}

/// Every figure of the tenant over `range`, the partners by tier now, and partner users by sign-in recency.
pub(super) async fn report(state: &AppState, auth: &Auth, range: Range) -> HttpResult<Report> {
    auth.principal.require_vendor_staff()?;
    let scope = auth.ctx.scope(state);
    let defs = catalogue(state, auth).await?;
    let rows = scope.metric_days(ALL_ORGS, range.reads_from(), range.to).await?;
    let kpis = analytics::report(&defs, &Figures::new(rows), range);
    let counts = scope.tier_counts().await?;
    let mut tiers = Vec::new();
    for p in scope.list_programs().await? {
        let per_tier: Vec<(String, i64)> = p
            .tiers
            .iter()
            .map(|t| {
                let n = counts.iter().find(|(pid, tid, _)| *pid == p.id && *tid == t.id).map_or(0, |c| c.2);
                (t.name.clone(), n)
            })
            .collect();
        let total: i64 = per_tier.iter().map(|(_, n)| n).sum();
        tiers.push(json!({ "program": p.name, "program_id": p.id, "program_key": p.key, "total": total,
                           "tiers": per_tier.iter().map(|(name, n)| json!({ "name": name, "partners": n })).collect::<Vec<_>>() }));
    }
    let recency = scope.sign_in_recency(state.clock.now_ms()).await?;
    Ok(Report { range, kpis, tiers, recency })
}

async fn catalogue(state: &AppState, auth: &Auth) -> HttpResult<Vec<MetricDef>> {
    crate::plugins::metric_catalogue(state, &auth.ctx.tenant).await.map_err(HttpError::internal)
}

/// The dashboard's context for `range` (see [`page_context`]), reused for `channel_cache_secs`.
pub(super) async fn page_cached(
    state: &AppState,
    auth: &Auth,
    range: Range,
) -> HttpResult<std::sync::Arc<serde_json::Value>> {
    auth.principal.require_vendor_staff()?;
    let t = &auth.ctx.tenant;
    let key = format!(
        "page:{}:{}:{}:{}:{}:{}",
        t.id, t.updated_at, range.from, range.to, auth.ctx.language, auth.principal.user.timezone
    );
    cached(state, key, async { Ok(page_context(&report(state, auth, range).await?, auth)) }).await
}

/// What `key` holds in the report cache, or `make`'s value, kept.
async fn cached(
    state: &AppState,
    key: String,
    make: impl std::future::Future<Output = HttpResult<serde_json::Value>>,
) -> HttpResult<std::sync::Arc<serde_json::Value>> {
    let ttl = std::time::Duration::from_secs(state.config.channel_cache_secs);
    if let Some(hit) = state.reports.get(&key, ttl) {
        return Ok(hit);
    }
    let value = std::sync::Arc::new(make.await?);
    if !ttl.is_zero() {
        state.reports.put(key, value.clone());
    }
    Ok(value)
}

const RECENCY: [&str; 5] = ["Within 7 days", "8–30 days ago", "31–90 days ago", "Over 90 days ago", "Never"];

/// The dashboard's context: the range form, the figures as tiles with their trend charts, tiers and recency.
fn page_context(report: &Report, auth: &Auth) -> serde_json::Value {
    let viewer_tz = auth.principal.user.timezone.as_str();
    let fmt = portico_charts::Formatter::new(&auth.ctx.language, if viewer_tz.is_empty() { "UTC" } else { viewer_tz });
    let prev = report.range.previous();
    let mut groups: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    for (i, k) in report.kpis.iter().enumerate() {
        let style = match k.unit {
            MetricUnit::Money => "money",
            MetricUnit::Percent => "percent",
            MetricUnit::Count => "number",
        };
        let chart = chart(
            &fmt,
            json!({ "kind": "line", "title": format!("{} by {}", k.label, grain_word(k, report.range)),
                    "categories": k.categories, "style": style, "currency": k.currency,
                    "series": [{ "name": "This period", "values": k.current_series },
                               { "name": "Previous period", "values": k.previous_series }] }),
            &format!("kpi{i}"),
        );
        let trend = match k.change {
            Some(c) if c > 0.05 => "up",
            Some(c) if c < -0.05 => "down",
            Some(_) => "flat",
            None => "none",
        };
        let change =
            k.change.map(|c| if k.unit == MetricUnit::Percent { format!("{c:+.1} pts") } else { format!("{c:+.0}%") });
        let tile = json!({ "key": k.key, "label": k.label, "description": k.description, "value": k.value,
                           "previous": k.previous, "change": change, "trend": trend, "chart": chart,
                           "drill": k.drill, "currency": k.currency });
        let group = k.source_name.clone();
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, tiles)) => tiles.push(tile),
            None => groups.push((group, vec![tile])),
        }
    }
    let tiers: Vec<serde_json::Value> = report
        .tiers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let names: Vec<&str> = p["tiers"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
            let values: Vec<i64> =
                p["tiers"].as_array().into_iter().flatten().filter_map(|t| t["partners"].as_i64()).collect();
            let donut = chart(
                &fmt,
                json!({ "kind": "donut", "title": format!("Partners by tier in {}", p["program"].as_str().unwrap_or("")),
                        "categories": names, "series": [{ "name": "Partners", "values": values }] }),
                &format!("tiers{i}"),
            );
            json!({ "program": p["program"], "program_id": p["program_id"], "total": p["total"], "tiers": p["tiers"], "chart": donut })
        })
        .collect();
    let recency = chart(
        &fmt,
        json!({ "kind": "bar", "title": "Partner users by last sign-in", "categories": RECENCY,
                "series": [{ "name": "Users", "values": report.recency }] }),
        "recency",
    );
    json!({
        "range": { "from": analytics::date(report.range.from).to_string(), "to": analytics::date(report.range.to).to_string(),
                   "label": report.range.label(), "previous": prev.label(), "days": report.range.days() },
        "presets": presets(report.range.to),
        "groups": groups.into_iter().map(|(name, tiles)| json!({ "name": name, "tiles": tiles })).collect::<Vec<_>>(),
        "tiers": tiers,
        "recency": { "chart": recency, "rows": RECENCY.iter().zip(report.recency).map(|(l, n)| json!({ "label": l, "users": n })).collect::<Vec<_>>() },
    })
}

fn grain_word(k: &Kpi, range: Range) -> &'static str {
    if k.key == analytics::ACTIVE_USERS || k.key == analytics::ACTIVE_PARTNERS {
        return "month";
    }
    match range.grain() {
        analytics::Grain::Day => "day",
        analytics::Grain::Week => "week",
        analytics::Grain::Month => "month",
    }
}

/// Quick ranges ending on `to`.
fn presets(to: i64) -> Vec<serde_json::Value> {
    [("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90), ("Last 12 months", 365)]
        .iter()
        .map(|(label, days)| {
            json!({ "label": label, "from": analytics::date(to - days + 1).to_string(), "to": analytics::date(to).to_string() })
        })
        .collect()
}

fn chart(fmt: &portico_charts::Formatter, spec: serde_json::Value, salt: &str) -> String {
    match serde_json::from_value::<portico_charts::Chart>(spec) {
        Ok(mut c) => {
            c.salt = format!("channel-{salt}");
            portico_charts::render(&c, fmt)
        }
        Err(e) => {
            tracing::error!(error = %e, "channel chart");
            String::new()
        }
    }
}

/// The figures as CSV: one line per figure (and currency), with the previous range and the change.
fn kpi_csv(report: &Report) -> String {
    let prev = report.range.previous();
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "metric",
        "label",
        "currency",
        "from",
        "to",
        "value",
        "previous_from",
        "previous_to",
        "previous",
        "change_percent",
    ]);
    for k in &report.kpis {
        let change = k.change.map(|c| format!("{c:.1}")).unwrap_or_default();
        let _ = w.write_record([
            k.key.as_str(),
            &k.label,
            &k.currency,
            &analytics::date(report.range.from).to_string(),
            &analytics::date(report.range.to).to_string(),
            &k.figure,
            &analytics::date(prev.from).to_string(),
            &analytics::date(prev.to).to_string(),
            &k.previous_figure,
            &change,
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn csv_download(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

async fn report_csv(State(state): State<AppState>, auth: Auth, Query(q): Query<RangeQuery>) -> HttpResult<Response> {
    auth.principal.require_vendor_staff()?;
    let range = range_of(&state, &auth, &q)?;
    let report = report(&state, &auth, range).await?;
    let name = format!("channel-{}-{}.csv", analytics::date(range.from), analytics::date(range.to));
    Ok(csv_download(&name, kpi_csv(&report)))
}

async fn report_json(State(state): State<AppState>, auth: Auth, Query(q): Query<RangeQuery>) -> HttpResult<Response> {
    auth.principal.require_vendor_staff()?;
    let range = range_of(&state, &auth, &q)?;
    let t = &auth.ctx.tenant;
    let key = format!("json:{}:{}:{}:{}", t.id, t.updated_at, range.from, range.to);
    let body = cached(&state, key, report_body(&state, &auth, range)).await?;
    Ok(Json(body.as_ref().clone()).into_response())
}

/// The channel report as the JSON API gives it.
async fn report_body(state: &AppState, auth: &Auth, range: Range) -> HttpResult<serde_json::Value> {
    let report = report(state, auth, range).await?;
    let prev = range.previous();
    let kpis: Vec<serde_json::Value> = report
        .kpis
        .iter()
        .map(|k| {
            json!({ "metric": k.key, "label": k.label, "unit": k.unit, "currency": k.currency, "value": k.figure,
                    "previous": k.previous_figure, "change_percent": k.change, "buckets": k.categories,
                    "series": k.current_series, "previous_series": k.previous_series })
        })
        .collect();
    Ok(json!({
        "from": analytics::date(range.from).to_string(), "to": analytics::date(range.to).to_string(),
        "previous": { "from": analytics::date(prev.from).to_string(), "to": analytics::date(prev.to).to_string() },
        "grain": range.grain(), "kpis": kpis, "tiers": report.tiers,
        "sign_in_recency": RECENCY.iter().zip(report.recency).map(|(l, n)| json!({ "label": l, "users": n })).collect::<Vec<_>>(),
    }))
}

/// The partners (or, for active users, the people) behind one figure over a range.
struct Drill {
    def: MetricDef,
    range: Range,
    /// (name, link, unit, value) per row.
    rows: Vec<(String, Option<String>, String, String)>,
    /// For a monthly figure: the month shown.
    month: Option<String>,
}

async fn drill(state: &AppState, auth: &Auth, metric: &str, q: &RangeQuery) -> HttpResult<Drill> {
    auth.principal.require_vendor_staff()?;
    let range = range_of(state, auth, q)?;
    let def = catalogue(state, auth)
        .await?
        .into_iter()
        .find(|d| d.key == metric && d.ratio.is_none())
        .ok_or(HttpError::NotFound)?;
    let scope = auth.ctx.scope(state);
    if def.monthly_distinct {
        let month = analytics::month_of(range.to);
        let members = scope.metric_members(&def.key, month).await?;
        let mut rows = Vec::new();
        for id in members {
            let row = if def.key == analytics::ACTIVE_USERS {
                scope
                    .user(&id)
                    .await?
                    .map(|u| (format!("{} ({})", u.name, u.email), Some(format!("/admin/orgs/{}", u.org_id))))
            } else {
                scope.org(&id).await?.map(|o| (o.name, Some(format!("/admin/orgs/{}", o.id))))
            };
            if let Some((name, link)) = row {
                rows.push((name, link, String::new(), "1".to_string()));
            }
        }
        rows.sort_by_key(|a| a.0.to_lowercase());
        let label = analytics::date(analytics::month_start(month)).format("%B %Y").to_string();
        return Ok(Drill { def, range, rows, month: Some(label) });
    }
    let rows = scope
        .metric_by_org(&def.key, range.from, range.to)
        .await?
        .into_iter()
        .map(|o| {
            let value = analytics::Value::Amount(o.value);
            (o.org_name, Some(format!("/admin/orgs/{}", o.org_id)), o.unit.clone(), value.csv(def.unit))
        })
        .collect();
    Ok(Drill { def, range, rows, month: None })
}

async fn drill_page(
    State(state): State<AppState>,
    auth: Auth,
    Path(metric): Path<String>,
    Query(q): Query<RangeQuery>,
) -> HttpResult<Response> {
    let d = drill(&state, &auth, &metric, &q).await?;
    let (from, to) = (analytics::date(d.range.from).to_string(), analytics::date(d.range.to).to_string());
    if q.format.as_deref() == Some("csv") {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(["name", "currency", "value", "from", "to"]);
        for (name, _, unit, value) in &d.rows {
            let _ = w.write_record([name.as_str(), unit, value, &from, &to]);
        }
        let body = String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default();
        return Ok(csv_download(&format!("{}-{from}-{to}.csv", d.def.key.replace('.', "-")), body));
    }
    let rows: Vec<serde_json::Value> = d
        .rows
        .iter()
        .map(|(name, link, unit, value)| {
            let shown = match d.def.unit {
                MetricUnit::Money => format!("{} {unit}", value),
                _ => value.clone(),
            };
            json!({ "name": name, "link": link, "value": shown })
        })
        .collect();
    let page = json!({ "metric": d.def, "rows": rows, "month": d.month, "from": from, "to": to,
                       "range_label": d.range.label(), "people": d.def.key == analytics::ACTIVE_USERS });
    Ok(render(&state, &auth.ctx, "admin/channel_drill.html", page).await?.into_response())
}

async fn drill_json(
    State(state): State<AppState>,
    auth: Auth,
    Path(metric): Path<String>,
    Query(q): Query<RangeQuery>,
) -> HttpResult<Response> {
    let d = drill(&state, &auth, &metric, &q).await?;
    let items: Vec<serde_json::Value> = d
        .rows
        .iter()
        .map(|(name, link, unit, value)| {
            let org_id = link.as_deref().and_then(|l| l.strip_prefix("/admin/orgs/"));
            json!({ "name": name, "org_id": org_id, "currency": unit, "value": value })
        })
        .collect();
    Ok(Json(json!({ "metric": d.def.key, "label": d.def.label, "from": analytics::date(d.range.from).to_string(),
                    "to": analytics::date(d.range.to).to_string(), "month": d.month, "items": items }))
    .into_response())
}
