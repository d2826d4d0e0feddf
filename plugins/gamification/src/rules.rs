//! The program's rules (points per event, daily caps), its badge catalogue and the periods points count in, read
//! from the settings: plain Rust, free of the host and tested natively.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike};
use serde::{Deserialize, Serialize};

/// The events that earn points, by the key the settings use, with what a person calls them.
pub const RULES: [(&str, &str); 8] = [
    ("deal_submitted", "Deal registered"),
    ("deal_approved", "Deal approved"),
    ("deal_won", "Deal won"),
    ("course_completed", "Course completed"),
    ("certification_earned", "Certification earned"),
    ("content_downloaded", "Content downloaded"),
    ("daily_active", "Active in the portal"),
    ("bonus", "Bonus from the vendor"),
];

/// The rule of vendor staff's bonus points (not configurable: the points are given with it).
pub const BONUS: &str = "bonus";

/// The rule of a user's first visit of a day.
pub const DAILY_ACTIVE: &str = "daily_active";

/// The images the plugin ships for badges.
pub const IMAGES: [&str; 8] = [
    "badge-first-deal.svg",
    "badge-deal-closer.svg",
    "badge-certified.svg",
    "badge-learner.svg",
    "badge-content-champion.svg",
    "badge-regular.svg",
    "badge-thousand-club.svg",
    "badge.svg",
];

/// Room for points in a board's order key: `period × SCALE + points`.
pub const SCALE: i64 = 1_000_000_000;

/// What a rule's key means to a person (the key itself when unknown).
pub fn rule_label(key: &str) -> &str {
    RULES.iter().find(|(k, _)| *k == key).map_or(key, |(_, l)| l)
}

/// The settings as the host stores them (defaults filled in from the manifest).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Settings {
    #[serde(default)]
    pub points: Vec<String>,
    #[serde(default)]
    pub daily_caps: Vec<String>,
    #[serde(default)]
    pub badges: Vec<String>,
    #[serde(default)]
    pub cross_partner: bool,
    #[serde(default)]
    pub board_size: Option<i64>,
}

/// What a badge counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// The events of one rule (capped or not).
    Count(String),
    /// All-time points.
    Points,
}

/// A badge of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Badge {
    pub key: String,
    pub name: String,
    pub measure: Measure,
    pub threshold: i64,
    /// Earned again each time the measure passes another `threshold`.
    pub repeat: bool,
    pub image: String,
}

impl Badge {
    /// How many times a user with `count` events of the badge's rule and `points` all-time points has earned it.
    pub fn times(&self, count: i64, points: i64) -> i64 {
        let v = self.value(count, points);
        if self.threshold <= 0 {
            return 0;
        }
        if self.repeat { v / self.threshold } else { i64::from(v >= self.threshold) }
    }

    /// The measure's value: the count or the points.
    pub fn value(&self, count: i64, points: i64) -> i64 {
        match self.measure {
            Measure::Count(_) => count,
            Measure::Points => points,
        }
    }

    /// The rule whose events it counts, if any.
    pub fn rule(&self) -> Option<&str> {
        match &self.measure {
            Measure::Count(r) => Some(r),
            Measure::Points => None,
        }
    }

    /// How it is earned, in words: "5 deals won, again every 5".
    pub fn how(&self) -> String {
        let what = match &self.measure {
            Measure::Count(r) => format!("{} × {}", self.threshold, rule_label(r).to_lowercase()),
            Measure::Points => format!("{} points", self.threshold),
        };
        if self.repeat { format!("{what}, earned again for every {}", self.threshold) } else { what }
    }
}

/// A program's rules, read from its settings, with the lines that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Points per event, by rule.
    pub points: BTreeMap<String, i64>,
    /// The most points per user per day, by rule.
    pub caps: BTreeMap<String, i64>,
    pub badges: Vec<Badge>,
    /// Whether the partners' board is on.
    pub cross_partner: bool,
    /// Places on a board.
    pub board_size: u32,
    /// Lines that were not understood, with why (shown to vendor staff).
    pub problems: Vec<String>,
}

impl Rules {
    /// Reads the settings; a line that cannot be read is left out and reported in `problems`.
    pub fn parse(s: &Settings) -> Rules {
        let mut problems = Vec::new();
        let points = pairs(&s.points, "Points per event", &mut problems);
        let caps = pairs(&s.daily_caps, "Daily caps", &mut problems);
        let mut badges: Vec<Badge> = Vec::new();
        for line in s.badges.iter().filter(|l| !l.trim().is_empty()) {
            match badge(line) {
                Ok(b) if badges.iter().any(|x| x.key == b.key) => {
                    problems.push(format!("Badges: “{line}” repeats the key {}", b.key))
                }
                Ok(b) => badges.push(b),
                Err(why) => problems.push(format!("Badges: “{line}” {why}")),
            }
        }
        Rules {
            points,
            caps,
            badges,
            cross_partner: s.cross_partner,
            board_size: s.board_size.unwrap_or(10).clamp(3, 100) as u32,
            problems,
        }
    }

    /// The points an event of `rule` earns (0 for none).
    pub fn points_for(&self, rule: &str) -> i64 {
        self.points.get(rule).copied().unwrap_or(0)
    }

    /// What a user still may earn from `rule` today, having earned `today` from it; `asked` when uncapped.
    pub fn capped(&self, rule: &str, asked: i64, today: i64) -> i64 {
        match self.caps.get(rule) {
            Some(cap) => asked.min(cap - today).max(0),
            None => asked,
        }
    }
}

/// `rule=number` lines, for known rules only.
fn pairs(lines: &[String], what: &str, problems: &mut Vec<String>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            problems.push(format!("{what}: “{line}” is not event=points"));
            continue;
        };
        let k = k.trim();
        if k == BONUS || !RULES.iter().any(|(r, _)| *r == k) {
            problems.push(format!("{what}: “{line}” names no event points are given for"));
            continue;
        }
        match v.trim().parse::<i64>() {
            Ok(n) if (0..=1_000_000).contains(&n) => {
                out.insert(k.to_string(), n);
            }
            _ => problems.push(format!("{what}: “{line}” needs a whole number from 0 to 1,000,000")),
        }
    }
    out
}

/// One badge line: `key | name | condition | image`.
fn badge(line: &str) -> Result<Badge, String> {
    let parts: Vec<&str> = line.split('|').map(str::trim).collect();
    let (key, name, cond) = match parts.as_slice() {
        [k, n, c] | [k, n, c, _] => (*k, *n, *c),
        _ => return Err("is not key | name | condition | image".into()),
    };
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || key.len() > 40 {
        return Err("needs a key of letters, digits, - and _".into());
    }
    if name.is_empty() {
        return Err("needs a name".into());
    }
    let words: Vec<&str> = cond.split_whitespace().collect();
    let (what, repeat, n) = match words.as_slice() {
        [w, ">=", n] => (*w, false, *n),
        [w, "every", n] => (*w, true, *n),
        _ => return Err("needs a condition like deal_won >= 1 or points every 500".into()),
    };
    let measure = if what == "points" {
        Measure::Points
    } else if RULES.iter().any(|(r, _)| *r == what) {
        Measure::Count(what.to_string())
    } else {
        return Err(format!("counts {what}, which is neither points nor an event"));
    };
    let threshold = match n.parse::<i64>() {
        Ok(t) if t >= 1 => t,
        _ => return Err("needs a threshold of at least 1".into()),
    };
    let image = match parts.get(3) {
        Some(i) if IMAGES.contains(i) => i.to_string(),
        Some(i) if !i.is_empty() => return Err(format!("names the image {i}, which the plugin does not have")),
        _ => "badge.svg".to_string(),
    };
    Ok(Badge { key: key.into(), name: name.into(), measure, threshold, repeat, image })
}

/// A kind of period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Month,
    Quarter,
    All,
}

impl Kind {
    /// From the API's `period` parameter.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "month" => Kind::Month,
            "quarter" => Kind::Quarter,
            "all" => Kind::All,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Month => "month",
            Kind::Quarter => "quarter",
            Kind::All => "all",
        }
    }

    /// The indexed field that orders this kind's records.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Month => "m",
            Kind::Quarter => "q",
            Kind::All => "a",
        }
    }
}

/// One period: this month, this quarter, or all time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub kind: Kind,
    /// In record ids and board keys: `m2026-05`, `q2026-Q2`, `all`.
    pub key: String,
    /// For people: `May 2026`, `Q2 2026`, `All time`.
    pub label: String,
    /// Months or quarters since year 0 (0 for all time).
    pub index: i64,
}

impl Period {
    /// The period of `kind` that holds `ms`.
    pub fn of(kind: Kind, ms: i64) -> Period {
        let t = DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let (y, m) = (i64::from(t.year()), i64::from(t.month()));
        match kind {
            Kind::Month => Period {
                kind,
                key: format!("m{y:04}-{m:02}"),
                label: t.format("%B %Y").to_string(),
                index: y * 12 + m - 1,
            },
            Kind::Quarter => {
                let q = (m - 1) / 3 + 1;
                Period { kind, key: format!("q{y:04}-Q{q}"), label: format!("Q{q} {y}"), index: y * 4 + q - 1 }
            }
            Kind::All => Period { kind, key: "all".into(), label: "All time".into(), index: 0 },
        }
    }

    /// This month, this quarter and all time at `ms`.
    pub fn all_at(ms: i64) -> [Period; 3] {
        [Period::of(Kind::Month, ms), Period::of(Kind::Quarter, ms), Period::of(Kind::All, ms)]
    }

    /// The order key of a record with `points` in this period.
    pub fn sort_key(&self, points: i64) -> i64 {
        self.index * SCALE + points.clamp(0, SCALE - 1)
    }

    /// The first order key past this period's (none for all time).
    pub fn end_key(&self) -> Option<i64> {
        (self.kind != Kind::All).then_some((self.index + 1) * SCALE)
    }

    /// Whether an order key belongs to this period.
    pub fn holds(&self, key: i64) -> bool {
        key >= self.index * SCALE && self.end_key().is_none_or(|end| key < end)
    }
}

/// The day (UTC) of `ms`, `2026-05-14`.
pub fn day(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// A date for people, `14 May 2026`.
pub fn date(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.format("%-d %B %Y").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            points: vec!["deal_won=100".into(), "daily_active = 2".into(), "bogus=3".into(), "deal_approved=x".into()],
            daily_caps: vec!["daily_active=2".into()],
            badges: vec![
                "first | First deal | deal_submitted >= 1 | badge-first-deal.svg".into(),
                "closer | Deal closer | deal_won every 5".into(),
                "club | Club | points >= 1000 | nope.svg".into(),
                "first | Again | points >= 5".into(),
            ],
            cross_partner: true,
            board_size: Some(500),
        }
    }

    #[test]
    fn rules_read_what_they_can_and_report_the_rest() {
        let r = Rules::parse(&settings());
        assert_eq!(r.points_for("deal_won"), 100);
        assert_eq!(r.points_for("daily_active"), 2);
        assert_eq!(r.points_for("deal_approved"), 0);
        assert_eq!(r.badges.len(), 2);
        assert_eq!(r.badges[1].image, "badge.svg");
        assert_eq!(r.problems.len(), 4, "{:?}", r.problems);
        assert_eq!(r.board_size, 100);
    }

    #[test]
    fn caps_limit_a_day_and_never_go_negative() {
        let r = Rules::parse(&settings());
        assert_eq!(r.capped("daily_active", 2, 0), 2);
        assert_eq!(r.capped("daily_active", 2, 1), 1);
        assert_eq!(r.capped("daily_active", 2, 5), 0);
        assert_eq!(r.capped("deal_won", 100, 1_000), 100);
    }

    #[test]
    fn repeatable_badges_count_each_multiple() {
        let r = Rules::parse(&settings());
        let closer = &r.badges[1];
        assert_eq!((closer.times(4, 0), closer.times(5, 0), closer.times(11, 0)), (0, 1, 2));
        let first = &r.badges[0];
        assert_eq!((first.times(0, 0), first.times(1, 0), first.times(7, 0)), (0, 1, 1));
    }

    #[test]
    fn periods_order_the_current_one_first() {
        let may = 1_778_716_800_000; // 2026-05-14
        let [m, q, a] = Period::all_at(may);
        assert_eq!((m.key.as_str(), q.key.as_str(), a.key.as_str()), ("m2026-05", "q2026-Q2", "all"));
        assert_eq!(m.label, "May 2026");
        let april = Period::of(Kind::Month, may - 20 * 86_400_000);
        assert!(m.sort_key(0) > april.sort_key(999_999));
        assert!(m.holds(m.sort_key(12)) && !m.holds(april.sort_key(12)));
        assert_eq!(a.sort_key(12), 12);
        assert_eq!(day(may), "2026-05-14");
    }
}
