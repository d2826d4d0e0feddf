//! Tier criteria and a partner's standing against them: the arithmetic, free of the host and tested natively.
//!
//! What a partner did is kept as [`Facts`], one record per organisation, added to as events arrive (per program
//! and month), so that a recalculation reads one record per partner and never a deal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The metrics the plugin counts itself, with their labels; custom metrics are recorded by a manager.
pub const BUILT_IN: [(&str, &str); 4] = [
    ("won_revenue", "Won revenue"),
    ("approved_deals", "Approved deal registrations"),
    ("won_deals", "Closed (won) deals"),
    ("certified_users", "Certified people"),
];

/// The metrics that may carry a threshold: the built-in ones and custom ones (`custom:key`).
pub fn is_metric(key: &str) -> bool {
    BUILT_IN.iter().any(|(k, _)| *k == key) || custom_key(key).is_some()
}

/// A custom metric's own key (`custom:csat` → `csat`).
pub fn custom_key(key: &str) -> Option<&str> {
    key.strip_prefix("custom:")
        .filter(|k| !k.is_empty() && k.len() <= 40 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// A program's rules (record id = the program's key): tier criteria, each a metric over the rolling period with a
/// threshold per tier, and how tiers change and rebates pay. Kept in one record per program rather than in the
/// plugin's settings because a recalculation covers every program in one scheduled call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    pub program: String,
    /// Months of the rolling period, this month included.
    pub rolling_months: u32,
    pub metrics: Vec<Criterion>,
    /// The currency won revenue is counted and thresholds are given in.
    #[serde(default = "usd")]
    pub currency: String,
    /// `EUR=1.08`: one euro of won revenue counts as 1.08 of `currency`; revenue without a rate is not counted.
    #[serde(default)]
    pub exchange_rates: Vec<String>,
    /// Tier changes are made at once instead of proposed to a manager.
    #[serde(default)]
    pub automatic: bool,
    /// Days a partner may stay below its tier's thresholds before a demotion is proposed.
    #[serde(default = "sixty")]
    pub grace_days: i64,
    /// Tier key → rebate on won revenue, in basis points (250 = 2.5 %).
    #[serde(default)]
    pub rebates: BTreeMap<String, u32>,
    #[serde(default)]
    pub updated_by: String,
    #[serde(default)]
    pub updated_at: i64,
}

fn usd() -> String {
    "USD".into()
}

fn sixty() -> i64 {
    60
}

impl Criteria {
    pub fn rates(&self) -> Rates {
        Rates::parse(&self.currency, &self.exchange_rates)
    }

    /// The rebate rate of a tier, in basis points (none when the tier earns none).
    pub fn rebate_bp(&self, tier: &str) -> Option<u32> {
        self.rebates.get(tier).copied().filter(|bp| *bp > 0)
    }
}

/// One metric and what each tier needs of it; a tier without a threshold does not ask for the metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub key: String,
    pub label: String,
    /// Tier key → threshold: minor units of the program's currency for won revenue, a count otherwise.
    pub thresholds: BTreeMap<String, i64>,
}

/// A program's tier as the directory has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    pub key: String,
    pub name: String,
    pub rank: u32,
}

/// What a partner did in one month of one program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Month {
    #[serde(default)]
    pub approved: i64,
    #[serde(default)]
    pub won: i64,
    /// Won revenue per currency, in minor units.
    #[serde(default)]
    pub revenue: BTreeMap<String, i64>,
}

/// What a partner did in one program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgramFacts {
    /// `YYYY-MM` → the month's counts.
    #[serde(default)]
    pub months: BTreeMap<String, Month>,
    /// Custom metric key → `YYYY-MM` → the value a manager recorded for that month.
    #[serde(default)]
    pub custom: BTreeMap<String, BTreeMap<String, i64>>,
}

/// Everything counted about one partner organisation (record id = the organisation's id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub org_id: String,
    #[serde(default)]
    pub programs: BTreeMap<String, ProgramFacts>,
    /// User id → the codes of their certifications in force.
    #[serde(default)]
    pub certified: BTreeMap<String, Vec<String>>,
}

/// `YYYY-MM` of a time in milliseconds (UTC).
pub fn month_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m").to_string()).unwrap_or_default()
}

/// The first month of a rolling period of `months` ending with the month of `now`.
pub fn window_start(now: i64, months: u32) -> String {
    use chrono::{Datelike, Months};
    let Some(t) = chrono::DateTime::from_timestamp_millis(now) else { return String::new() };
    let first = t.date_naive().with_day(1).unwrap_or(t.date_naive());
    first.checked_sub_months(Months::new(months.max(1) - 1)).unwrap_or(first).format("%Y-%m").to_string()
}

/// Exchange rates to the program's currency: `EUR=1.08` means one euro counts as 1.08 of it. Parsed from the
/// settings' lines; bad lines are left out (the settings form shows them as the admin typed them).
#[derive(Debug, Clone, Default)]
pub struct Rates {
    pub currency: String,
    /// Currency → (numerator, denominator) of the rate in millionths, so no float touches money.
    pub per_million: BTreeMap<String, i64>,
}

impl Rates {
    pub fn parse(currency: &str, lines: &[String]) -> Rates {
        let mut per_million = BTreeMap::new();
        for line in lines {
            let Some((cur, rate)) = line.split_once('=') else { continue };
            let (Some(cur), Ok(rate)) = (portico_money::currency(cur), rate.trim().parse::<f64>()) else { continue };
            if rate.is_finite() && rate > 0.0 && rate < 1.0e6 {
                per_million.insert(cur, (rate * 1_000_000.0).round() as i64);
            }
        }
        Rates { currency: currency.to_string(), per_million }
    }

    /// An amount in minor units of `cur` in minor units of the program's currency; none without a rate.
    pub fn convert(&self, amount: i64, cur: &str) -> Option<i64> {
        if cur == self.currency {
            return Some(amount);
        }
        let rate = *self.per_million.get(cur)?;
        let shift = i32::try_from(portico_money::decimals(&self.currency)).unwrap_or(2)
            - i32::try_from(portico_money::decimals(cur)).unwrap_or(2);
        let scaled = i128::from(amount) * i128::from(rate) / 1_000_000;
        let v = if shift >= 0 { scaled * 10_i128.pow(shift as u32) } else { scaled / 10_i128.pow((-shift) as u32) };
        i64::try_from(v).ok()
    }
}

/// A partner's figures for each of the criteria over the rolling period ending with the month of `now`, and the
/// currencies of won revenue that could not be counted for want of a rate.
pub fn figures(c: &Criteria, facts: Option<&Facts>, now: i64, rates: &Rates) -> (BTreeMap<String, i64>, Vec<String>) {
    let from = window_start(now, c.rolling_months);
    let to = month_of(now);
    let empty = ProgramFacts::default();
    let pf = facts.and_then(|f| f.programs.get(&c.program)).unwrap_or(&empty);
    let months: Vec<&Month> = pf.months.range(from.clone()..=to.clone()).map(|(_, m)| m).collect();
    let mut uncounted = Vec::new();
    let mut out = BTreeMap::new();
    for m in &c.metrics {
        let v = match m.key.as_str() {
            "won_revenue" => months
                .iter()
                .flat_map(|mo| mo.revenue.iter())
                .map(|(cur, amount)| {
                    rates.convert(*amount, cur).unwrap_or_else(|| {
                        if !uncounted.contains(cur) {
                            uncounted.push(cur.clone());
                        }
                        0
                    })
                })
                .sum(),
            "approved_deals" => months.iter().map(|mo| mo.approved).sum(),
            "won_deals" => months.iter().map(|mo| mo.won).sum(),
            "certified_users" => facts.map_or(0, |f| f.certified.values().filter(|c| !c.is_empty()).count() as i64),
            other => custom_key(other)
                .and_then(|k| pf.custom.get(k))
                .map_or(0, |by_month| by_month.range(from.clone()..=to.clone()).map(|(_, v)| *v).sum()),
        };
        out.insert(m.key.clone(), v);
    }
    (out, uncounted)
}

/// Does a partner with these figures meet every threshold the criteria set for `tier`?
pub fn qualifies(c: &Criteria, tier: &str, figures: &BTreeMap<String, i64>) -> bool {
    c.metrics.iter().all(|m| m.thresholds.get(tier).is_none_or(|t| figures.get(&m.key).copied().unwrap_or(0) >= *t))
}

/// Do the criteria ask anything of `tier`? A tier they ask nothing of (above the lowest) is reached only by a
/// manager's hand in the directory, never by figures.
pub fn has_thresholds(c: &Criteria, tier: &str) -> bool {
    c.metrics.iter().any(|m| m.thresholds.contains_key(tier))
}

/// The highest tier with thresholds that the figures all meet; the lowest tier (entry) always qualifies.
pub fn target<'a>(c: &Criteria, tiers: &'a [Tier], figures: &BTreeMap<String, i64>) -> Option<&'a Tier> {
    let lowest = tiers.iter().min_by_key(|t| t.rank)?;
    Some(
        tiers
            .iter()
            .filter(|t| has_thresholds(c, &t.key) && qualifies(c, &t.key, figures))
            .max_by_key(|t| t.rank)
            .unwrap_or(lowest),
    )
}

/// One metric's progress towards a tier: the figure, the threshold and whether it is met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub key: String,
    pub label: String,
    pub value: i64,
    pub threshold: i64,
    pub met: bool,
}

/// How the figures stand against each threshold of `tier` (the metrics it asks for, in the criteria's order).
pub fn progress(c: &Criteria, tier: &str, figures: &BTreeMap<String, i64>) -> Vec<Progress> {
    c.metrics
        .iter()
        .filter_map(|m| {
            let threshold = *m.thresholds.get(tier)?;
            let value = figures.get(&m.key).copied().unwrap_or(0);
            Some(Progress { key: m.key.clone(), label: m.label.clone(), value, threshold, met: value >= threshold })
        })
        .collect()
}

/// Why a partner is proposed for `tier`, in words: each threshold with the figure that meets (or misses) it.
pub fn reason(c: &Criteria, tier: &Tier, figures: &BTreeMap<String, i64>, fmt: impl Fn(&str, i64) -> String) -> String {
    let parts: Vec<String> = progress(c, &tier.key, figures)
        .iter()
        .map(|p| {
            let sign = if p.met { "≥" } else { "<" };
            format!("{} {} {sign} {}", p.label.to_lowercase(), fmt(&p.key, p.value), fmt(&p.key, p.threshold))
        })
        .collect();
    if parts.is_empty() {
        format!("{} asks for nothing more", tier.name)
    } else {
        format!("{}: {}", tier.name, parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONTH: i64 = 31 * 86_400_000;

    fn criteria() -> Criteria {
        let t = |pairs: &[(&str, i64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Criteria {
            program: "reseller".into(),
            rolling_months: 12,
            metrics: vec![
                Criterion {
                    key: "won_revenue".into(),
                    label: "Won revenue".into(),
                    thresholds: t(&[("silver", 10_000_000), ("gold", 50_000_000)]),
                },
                Criterion {
                    key: "approved_deals".into(),
                    label: "Approved deal registrations".into(),
                    thresholds: t(&[("silver", 3), ("gold", 10)]),
                },
                Criterion {
                    key: "certified_users".into(),
                    label: "Certified people".into(),
                    thresholds: t(&[("gold", 2)]),
                },
                Criterion {
                    key: "custom:csat".into(),
                    label: "Customer satisfaction".into(),
                    thresholds: t(&[("gold", 80)]),
                },
            ],
            ..Default::default()
        }
    }

    fn tiers() -> Vec<Tier> {
        ["registered", "silver", "gold"]
            .iter()
            .enumerate()
            .map(|(i, k)| Tier { key: k.to_string(), name: k.to_string(), rank: i as u32 })
            .collect()
    }

    fn now() -> i64 {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn the_window_counts_this_month_and_the_eleven_before() {
        assert_eq!(window_start(now(), 12), "2026-01");
        assert_eq!(window_start(now(), 1), "2026-12");
        assert_eq!(window_start(now(), 24), "2025-01");
        assert_eq!(month_of(now()), "2026-12");
    }

    #[test]
    fn figures_sum_the_window_convert_currencies_and_say_what_they_could_not() {
        let mut f = Facts { org_id: "o".into(), ..Default::default() };
        let pf = f.programs.entry("reseller".into()).or_default();
        let mut m = Month { approved: 2, won: 1, ..Default::default() };
        m.revenue.insert("USD".into(), 9_000_000);
        m.revenue.insert("EUR".into(), 1_000_000);
        m.revenue.insert("JPY".into(), 5_000);
        pf.months.insert("2026-11".into(), m);
        // Out of the window: not counted.
        pf.months.insert("2025-12".into(), Month { approved: 40, ..Default::default() });
        pf.months.insert("2026-01".into(), Month { approved: 1, ..Default::default() });
        pf.custom.insert("csat".into(), [("2026-06".to_string(), 85)].into());
        f.certified.insert("u1".into(), vec!["C1".into()]);
        f.certified.insert("u2".into(), vec![]);
        let rates = Rates::parse("USD", &["EUR=1.10".into(), "nonsense".into(), "GBP=-1".into()]);
        let (fig, uncounted) = figures(&criteria(), Some(&f), now(), &rates);
        assert_eq!(fig["won_revenue"], 9_000_000 + 1_100_000);
        assert_eq!(fig["approved_deals"], 3);
        assert_eq!(fig["certified_users"], 1);
        assert_eq!(fig["custom:csat"], 85);
        assert_eq!(uncounted, vec!["JPY".to_string()]);
        // Silver's thresholds are met, gold's are not: the target is silver.
        assert_eq!(target(&criteria(), &tiers(), &fig).unwrap().key, "silver");
        let p = progress(&criteria(), "gold", &fig);
        assert_eq!(p.iter().filter(|p| p.met).count(), 1, "{p:?}");
        let why = reason(&criteria(), &tiers()[1], &fig, |_, v| v.to_string());
        assert!(why.contains("won revenue 10100000 ≥ 10000000"), "{why}");
        assert!(why.contains("approved deal registrations 3 ≥ 3"), "{why}");
    }

    #[test]
    fn without_figures_a_partner_stays_at_entry_and_months_roll_off() {
        let (fig, _) = figures(&criteria(), None, now(), &Rates::parse("USD", &[]));
        assert_eq!(target(&criteria(), &tiers(), &fig).unwrap().key, "registered");
        let mut f = Facts::default();
        let pf = f.programs.entry("reseller".into()).or_default();
        let mut m = Month { approved: 3, ..Default::default() };
        m.revenue.insert("USD".into(), 10_000_000);
        pf.months.insert("2026-12".into(), m);
        let (fig, _) = figures(&criteria(), Some(&f), now(), &Rates::parse("USD", &[]));
        assert_eq!(target(&criteria(), &tiers(), &fig).unwrap().key, "silver");
        let (later, _) = figures(&criteria(), Some(&f), now() + 12 * MONTH, &Rates::parse("USD", &[]));
        assert_eq!(target(&criteria(), &tiers(), &later).unwrap().key, "registered");
        // A tier the criteria ask nothing of is not reached by figures.
        let mut silver_only = criteria();
        for m in &mut silver_only.metrics {
            m.thresholds.remove("gold");
        }
        assert_eq!(target(&silver_only, &tiers(), &fig).unwrap().key, "silver");
        assert!(!has_thresholds(&silver_only, "gold"));
    }

    #[test]
    fn rates_respect_minor_units() {
        let r = Rates::parse("USD", &["JPY=0.0067".into(), "KWD=3.25".into()]);
        assert_eq!(r.convert(100_000, "JPY"), Some(67_000));
        assert_eq!(r.convert(1_000, "KWD"), Some(325));
        assert_eq!(r.convert(5, "CHF"), None);
        assert!(is_metric("custom:nps") && !is_metric("custom:") && !is_metric("custom:a b") && !is_metric("x"));
    }
}
