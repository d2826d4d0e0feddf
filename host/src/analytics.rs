//! Channel analytics: the catalogue of figures (the host's own and those plugins declare in `[[metrics]]`), the
//! tenant's reporting days, and the report a dashboard shows for a date range, built from per-day figures
//! (`storage::analytics`) without reading any raw history.
//!
//! Days are the tenant's: a figure counted at 23:30 in New York on 31 March belongs to March for a tenant in New
//! York, whoever looks at it. Distinct figures (active users and partners) are monthly: a member counts on the
//! first day it was active in a month, so the sum of a month's days up to a day is the month's figure to date.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use portico_plugin_api::{Manifest, MetricUnit};
use serde::Serialize;

use crate::storage::analytics::DayFigure;

/// Users active in a month (each counted on their first active day of the month).
pub const ACTIVE_USERS: &str = "portico.active_users";
/// Partner organisations with an active user in a month.
pub const ACTIVE_PARTNERS: &str = "portico.active_partners";
/// Sign-ins.
pub const SIGN_INS: &str = "portico.sign_ins";
/// Moves up a program's tiers.
pub const PROMOTIONS: &str = "portico.promotions";
/// Moves down a program's tiers.
pub const DEMOTIONS: &str = "portico.demotions";
/// Who counts the host's own figures.
pub const HOST: &str = "portico";

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date");

/// The tenant's day (days since 1970-01-01 in `tz`) of a UTC instant.
pub fn day_of(ms: i64, tz: &str) -> i64 {
    let tz: chrono_tz::Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    let Some(utc) = chrono::DateTime::from_timestamp_millis(ms) else { return 0 };
    (utc.with_timezone(&tz).date_naive() - EPOCH).num_days()
}

/// The date of a day number.
pub fn date(day: i64) -> NaiveDate {
    EPOCH + chrono::Days::new(day.max(0) as u64)
}

/// A day number of a date.
pub fn day(date: NaiveDate) -> i64 {
    (date - EPOCH).num_days()
}

/// The month (year × 12 + month − 1) a day is in.
pub fn month_of(day_number: i64) -> i64 {
    let d = date(day_number);
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// The first day of a month.
pub fn month_start(month: i64) -> i64 {
    let (y, m) = (month.div_euclid(12), month.rem_euclid(12) + 1);
    NaiveDate::from_ymd_opt(y as i32, m as u32, 1).map(day).unwrap_or(0)
}

/// The week (Monday to Sunday) a day is in, numbered from the week of 1970-01-01 (a Thursday).
pub fn week_of(day_number: i64) -> i64 {
    (day_number + 3).div_euclid(7)
}

/// A figure the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct MetricDef {
    /// `portico.active_users`, `deal-registration.submitted`.
    pub key: String,
    /// The host or the plugin that counts it.
    pub source: String,
    /// Its name, as the dashboard heads its figures.
    pub source_name: String,
    pub label: String,
    pub description: String,
    pub unit: MetricUnit,
    /// For a percent: the keys of the numerator and the denominator.
    pub ratio: Option<[String; 2]>,
    /// Counted once per member and month (active users and partners).
    pub monthly_distinct: bool,
}

/// The host's own figures.
pub fn host_metrics() -> Vec<MetricDef> {
    let def = |key: &str, label: &str, description: &str, monthly_distinct: bool| MetricDef {
        key: key.into(),
        source: HOST.into(),
        source_name: "Partners".into(),
        label: label.into(),
        description: description.into(),
        unit: MetricUnit::Count,
        ratio: None,
        monthly_distinct,
    };
    vec![
        def(ACTIVE_PARTNERS, "Monthly active partners", "partner organisations with a user active in the month", true),
        def(ACTIVE_USERS, "Monthly active users", "partner users active in the month", true),
        def(SIGN_INS, "Sign-ins", "partner users' sign-ins", false),
        def(PROMOTIONS, "Tier promotions", "partners moved up a tier", false),
        def(DEMOTIONS, "Tier demotions", "partners moved down a tier", false),
    ]
}

/// The host's figures and every given plugin's, in the plugins' order.
pub fn catalogue<'a>(plugins: impl IntoIterator<Item = &'a Manifest>) -> Vec<MetricDef> {
    let mut all = host_metrics();
    for m in plugins {
        for x in &m.metrics {
            all.push(MetricDef {
                key: format!("{}.{}", m.id, x.name),
                source: m.id.clone(),
                source_name: m.name.clone(),
                label: x.label.clone(),
                description: x.description.clone(),
                unit: x.unit,
                ratio: x.ratio.as_ref().map(|[a, b]| [format!("{}.{a}", m.id), format!("{}.{b}", m.id)]),
                monthly_distinct: false,
            });
        }
    }
    all
}

/// A range of the tenant's days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub from: i64,
    pub to: i64,
}

/// How a range's trend is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    Day,
    Week,
    Month,
}

/// The longest range a dashboard shows (five years).
pub const MAX_DAYS: i64 = 5 * 366;

impl Range {
    /// The range a dashboard asks for: `from` and `to` as `YYYY-MM-DD` in the tenant's time zone, by default the
    /// 30 days up to `today`. An error names the field and says what is wrong.
    pub fn parse(from: Option<&str>, to: Option<&str>, today: i64) -> Result<Range, (&'static str, String)> {
        let parse = |field: &'static str, v: Option<&str>| -> Result<Option<i64>, (&'static str, String)> {
            match v.map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(|d| Some(day(d)))
                    .map_err(|_| (field, "enter a date as YYYY-MM-DD".to_string())),
            }
        };
        let to = parse("to", to)?.unwrap_or(today);
        let from = parse("from", from)?.unwrap_or(to - 29);
        if from > to {
            return Err(("from", "the start must not be after the end".into()));
        }
        if to - from + 1 > MAX_DAYS {
            return Err(("from", "choose a range of at most five years".into()));
        }
        if from < 0 {
            return Err(("from", "choose a date after 1970".into()));
        }
        Ok(Range { from, to })
    }

    pub fn days(&self) -> i64 {
        self.to - self.from + 1
    }

    /// The range of the same length just before.
    pub fn previous(&self) -> Range {
        Range { from: self.from - self.days(), to: self.from - 1 }
    }

    pub fn grain(&self) -> Grain {
        match self.days() {
            d if d <= 62 => Grain::Day,
            d if d <= 182 => Grain::Week,
            _ => Grain::Month,
        }
    }

    /// The first day any figure of the report reads: the previous range's start, or the start of its month for
    /// monthly figures.
    pub fn reads_from(&self) -> i64 {
        month_start(month_of(self.previous().from))
    }

    pub fn label(&self) -> String {
        format!("{} – {}", date(self.from).format("%-d %b %Y"), date(self.to).format("%-d %b %Y"))
    }
}

/// A range cut into the buckets of its trend: (first day, last day) each.
pub fn buckets(range: Range, grain: Grain) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut start = range.from;
    while start <= range.to {
        let end = match grain {
            Grain::Day => start,
            Grain::Week => start + 6,
            Grain::Month => month_start(month_of(start) + 1) - 1,
        }
        .min(range.to);
        out.push((start, end));
        start = end + 1;
    }
    out
}

/// Figures by (metric, unit) and day.
#[derive(Debug, Default)]
pub struct Figures(HashMap<(String, String), BTreeMap<i64, i64>>);

impl Figures {
    pub fn new(rows: Vec<DayFigure>) -> Self {
        let mut map: HashMap<(String, String), BTreeMap<i64, i64>> = HashMap::new();
        for r in rows {
            *map.entry((r.metric, r.unit)).or_default().entry(r.day).or_default() += r.value;
        }
        Figures(map)
    }

    /// The units a metric was counted in (currencies for money), largest total first; `[""]` for a count.
    pub fn units(&self, def: &MetricDef) -> Vec<String> {
        // A ratio is shown in its denominator's units: per currency for a ratio of money.
        let counted = def.ratio.as_ref().map_or(def.key.as_str(), |[_, den]| den.as_str());
        let mut units: Vec<(String, i64)> = self
            .0
            .iter()
            .filter(|((m, _), _)| *m == counted)
            .map(|((_, u), days)| (u.clone(), days.values().sum()))
            .collect();
        units.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if units.is_empty() || def.unit == MetricUnit::Count {
            return vec![String::new()];
        }
        units.into_iter().map(|(u, _)| u).collect()
    }

    /// The sum of a metric on the days `from..=to`.
    pub fn sum(&self, key: &str, unit: &str, from: i64, to: i64) -> i64 {
        self.0.get(&(key.to_string(), unit.to_string())).map(|d| d.range(from..=to).map(|(_, v)| v).sum()).unwrap_or(0)
    }

    /// A metric's figure over `range`: its sum, or for a monthly distinct figure, the month of the range's end up
    /// to that day.
    pub fn value(&self, def: &MetricDef, unit: &str, range: Range) -> Value {
        if def.monthly_distinct {
            return Value::Amount(self.sum(&def.key, unit, month_start(month_of(range.to)), range.to));
        }
        match &def.ratio {
            Some([num, den]) => {
                Value::Share(self.sum(num, unit, range.from, range.to), self.sum(den, unit, range.from, range.to))
            }
            None => Value::Amount(self.sum(&def.key, unit, range.from, range.to)),
        }
    }
}

/// A figure: an amount (a count or minor units), or a share (numerator, denominator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Amount(i64),
    Share(i64, i64),
}

impl Value {
    /// As a chart's number: an amount (minor units as major for money), a share as a percentage.
    pub fn plot(self, unit: MetricUnit) -> f64 {
        match self {
            Value::Amount(n) if unit == MetricUnit::Money => n as f64 / 100.0,
            Value::Amount(n) => n as f64,
            Value::Share(_, 0) => 0.0,
            Value::Share(a, b) => a as f64 * 100.0 / b as f64,
        }
    }

    /// As the dashboard writes it.
    pub fn text(self, unit: MetricUnit, currency: &str) -> String {
        match self {
            Value::Share(_, 0) => "–".into(),
            Value::Share(..) => format!("{:.1}%", self.plot(unit)),
            Value::Amount(n) if unit == MetricUnit::Money => format!("{} {currency}", money(n)).trim().to_string(),
            Value::Amount(n) => group(n),
        }
    }

    /// As CSV writes it: a plain number (major units for money, a percentage with one decimal for a share).
    pub fn csv(self, unit: MetricUnit) -> String {
        match self {
            Value::Share(_, 0) => String::new(),
            Value::Share(..) => format!("{:.1}", self.plot(unit)),
            Value::Amount(n) if unit == MetricUnit::Money => {
                format!("{}{}.{:02}", if n < 0 { "-" } else { "" }, n.abs() / 100, n.abs() % 100)
            }
            Value::Amount(n) => n.to_string(),
        }
    }
}

/// One metric (in one unit) over a range and the range before.
#[derive(Debug, Clone, Serialize)]
pub struct Kpi {
    pub key: String,
    pub source: String,
    pub source_name: String,
    pub label: String,
    pub description: String,
    pub unit: MetricUnit,
    /// The currency of a money figure.
    pub currency: String,
    pub value: String,
    pub previous: String,
    /// Change against the previous range, in percent (none when the previous range had nothing).
    pub change: Option<f64>,
    /// The trend's bucket labels, and the two ranges' values per bucket.
    pub categories: Vec<String>,
    pub current_series: Vec<f64>,
    pub previous_series: Vec<f64>,
    /// The figure and the previous one as plain numbers (major units for money, percent for a share), as CSV and
    /// the JSON API give them.
    pub figure: String,
    pub previous_figure: String,
    /// Whether its partners can be listed (sums per organisation; not ratios).
    pub drill: bool,
}

/// Every metric of `defs` over `range` against the range before.
pub fn report(defs: &[MetricDef], figures: &Figures, range: Range) -> Vec<Kpi> {
    let prev = range.previous();
    let mut out = Vec::new();
    for def in defs {
        for unit in figures.units(def) {
            let (cur, before) = (figures.value(def, &unit, range), figures.value(def, &unit, prev));
            let (grain, cur_b, prev_b) = if def.monthly_distinct {
                let months = |r: Range| -> Vec<(i64, i64)> {
                    (month_of(r.from)..=month_of(r.to))
                        .map(|m| (month_start(m), (month_start(m + 1) - 1).min(r.to)))
                        .collect()
                };
                (Grain::Month, months(range), months(prev))
            } else {
                (range.grain(), buckets(range, range.grain()), buckets(prev, range.grain()))
            };
            let point = |(a, b): (i64, i64)| figures.value(def, &unit, Range { from: a, to: b }).plot(def.unit);
            let categories = cur_b.iter().map(|&(a, _)| bucket_label(a, grain)).collect();
            let change = match (cur, before) {
                (Value::Amount(c), Value::Amount(p)) if p != 0 => Some((c - p) as f64 * 100.0 / p.abs() as f64),
                (Value::Share(_, d1), Value::Share(_, d2)) if d1 != 0 && d2 != 0 => {
                    Some(cur.plot(def.unit) - before.plot(def.unit))
                }
                _ => None,
            };
            out.push(Kpi {
                key: def.key.clone(),
                source: def.source.clone(),
                source_name: def.source_name.clone(),
                label: def.label.clone(),
                description: def.description.clone(),
                unit: def.unit,
                currency: unit.clone(),
                value: cur.text(def.unit, &unit),
                previous: before.text(def.unit, &unit),
                change,
                categories,
                current_series: cur_b.into_iter().map(point).collect(),
                previous_series: prev_b.into_iter().map(point).collect(),
                figure: cur.csv(def.unit),
                previous_figure: before.csv(def.unit),
                drill: def.ratio.is_none(),
            });
        }
    }
    out
}

fn bucket_label(day_number: i64, grain: Grain) -> String {
    let d = date(day_number);
    match grain {
        Grain::Day => d.format("%-d %b").to_string(),
        Grain::Week => format!("wk {}", d.format("%-d %b")),
        Grain::Month => d.format("%b %Y").to_string(),
    }
}

/// Dashboards' figures for a short while (`channel_cache_secs`), by what they were asked for (tenant and its
/// version, range, viewer's language and zone): every staff member's dashboard shows the same channel figures, and
/// recomputing them for each of many page views in a minute only repeats the work. Derived state: each replica keeps
/// its own, and a tenant change (its `updated_at`) starts afresh.
#[derive(Debug, Default)]
pub struct ReportCache {
    entries: std::sync::Mutex<HashMap<String, (std::time::Instant, std::sync::Arc<serde_json::Value>)>>,
}

/// Entries kept at most; past that the cache starts afresh (keys are few: tenants × ranges in use).
const CACHE_ENTRIES: usize = 512;

impl ReportCache {
    /// The value kept under `key` if younger than `ttl`.
    pub fn get(&self, key: &str, ttl: std::time::Duration) -> Option<std::sync::Arc<serde_json::Value>> {
        let entries = self.entries.lock().expect("report cache lock");
        entries.get(key).filter(|(at, _)| at.elapsed() < ttl).map(|(_, v)| v.clone())
    }

    /// Keeps `value` under `key`.
    pub fn put(&self, key: String, value: std::sync::Arc<serde_json::Value>) {
        let mut entries = self.entries.lock().expect("report cache lock");
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (std::time::Instant::now(), value));
    }
}

/// Minor units as major with two decimals and thousands separators.
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", group(minor.abs() / 100), minor.abs() % 100)
}

/// A whole number with thousands separators.
pub fn group(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_belongs_to_the_tenants_time_zone() {
        // 2026-04-01T03:30Z is still 31 March in New York.
        let ms = chrono::DateTime::parse_from_rfc3339("2026-04-01T03:30:00Z").unwrap().timestamp_millis();
        assert_eq!(date(day_of(ms, "America/New_York")), NaiveDate::from_ymd_opt(2026, 3, 31).unwrap());
        assert_eq!(date(day_of(ms, "UTC")), NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
        assert_eq!(date(day_of(ms, "not a zone")), NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
    }

    #[test]
    fn months_and_weeks_are_calendar_ones() {
        let d = day(NaiveDate::from_ymd_opt(2026, 3, 15).unwrap());
        assert_eq!(date(month_start(month_of(d))), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        assert_eq!(date(month_start(month_of(d) + 10)), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        // 2026-03-16 is a Monday: a new week.
        assert_eq!(week_of(d) + 1, week_of(d + 1));
        assert_eq!(week_of(d + 1), week_of(d + 7));
    }

    #[test]
    fn a_range_defaults_to_thirty_days_and_refuses_nonsense() {
        let today = day(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        let r = Range::parse(None, None, today).unwrap();
        assert_eq!((r.days(), r.to), (30, today));
        assert_eq!(r.previous(), Range { from: today - 59, to: today - 30 });
        assert_eq!(Range::parse(Some("2026-13-01"), None, today).unwrap_err().0, "from");
        assert_eq!(Range::parse(Some("2026-12-08"), Some("2026-12-01"), today).unwrap_err().0, "from");
        assert_eq!(Range::parse(Some("2010-01-01"), Some("2026-12-01"), today).unwrap_err().0, "from");
    }

    #[test]
    fn a_report_sums_the_range_and_compares_it_with_the_one_before() {
        let to = day(NaiveDate::from_ymd_opt(2026, 3, 31).unwrap());
        let range = Range { from: to - 9, to };
        let rows = vec![
            DayFigure { metric: "d.won".into(), unit: "".into(), day: to, value: 3 },
            DayFigure { metric: "d.won".into(), unit: "".into(), day: to - 9, value: 1 },
            DayFigure { metric: "d.won".into(), unit: "".into(), day: to - 10, value: 2 },
            DayFigure { metric: "d.won".into(), unit: "".into(), day: to + 1, value: 50 },
            DayFigure { metric: "d.decided".into(), unit: "".into(), day: to, value: 8 },
            DayFigure { metric: "d.amount".into(), unit: "EUR".into(), day: to, value: 150_050 },
            DayFigure { metric: "d.amount".into(), unit: "USD".into(), day: to, value: 900_000 },
            DayFigure { metric: ACTIVE_USERS.into(), unit: "".into(), day: to - 20, value: 4 },
            DayFigure { metric: ACTIVE_USERS.into(), unit: "".into(), day: to - 40, value: 7 },
        ];
        let figures = Figures::new(rows);
        let plugin = |name: &str, unit, ratio: Option<[&str; 2]>| MetricDef {
            key: format!("d.{name}"),
            source: "d".into(),
            source_name: "D".into(),
            label: name.into(),
            description: String::new(),
            unit,
            ratio: ratio.map(|[a, b]| [format!("d.{a}"), format!("d.{b}")]),
            monthly_distinct: false,
        };
        let mut defs = host_metrics();
        defs.truncate(2);
        defs.push(plugin("won", MetricUnit::Count, None));
        defs.push(plugin("decided", MetricUnit::Count, None));
        defs.push(plugin("amount", MetricUnit::Money, None));
        defs.push(plugin("conversion", MetricUnit::Percent, Some(["won", "decided"])));
        let kpis = report(&defs, &figures, range);
        let get = |k: &str, u: &str| kpis.iter().find(|x| x.key == k && x.currency == u).unwrap();
        let won = get("d.won", "");
        assert_eq!((won.value.as_str(), won.previous.as_str(), won.change), ("4", "2", Some(100.0)));
        assert_eq!(won.current_series.len(), 10);
        assert_eq!((won.current_series[0], won.current_series[9]), (1.0, 3.0));
        assert_eq!(get("d.conversion", "").value, "50.0%");
        assert_eq!(get("d.amount", "USD").value, "9,000.00 USD");
        assert_eq!(get("d.amount", "EUR").figure, "1500.50");
        // March to date holds the 4 users first active on the 11th, as it did at the previous range's end (the
        // 21st); February's 7 count for neither.
        let users = get(ACTIVE_USERS, "");
        assert_eq!((users.value.as_str(), users.previous.as_str()), ("4", "4"));
        assert_eq!(users.categories, vec!["Mar 2026".to_string()]);
    }
}
