//! The program's settings and the rules in them: protection windows per tier and approval routing.

use serde::Deserialize;

use crate::model::Policy;

/// The plugin's settings for one program (defaults come from `plugin.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub products: Vec<String>,
    pub protection_days: u32,
    pub tier_protection_days: Vec<String>,
    pub approval_rules: Vec<String>,
    pub sla_hours: u32,
    pub expiry_reminder_days: u32,
    pub extension_policy: String,
    pub extension_days: u32,
    pub rejection_reasons: Vec<String>,
    pub similarity_threshold: f64,
}

/// A partner's tier in the deal's program: its key, name and rank (higher is better).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub key: String,
    pub name: String,
    pub rank: u32,
}

impl Settings {
    /// The protection window for a partner at `tier`: the tier's override, else the program's window.
    pub fn protection_days_for(&self, tier: Option<&Tier>) -> u32 {
        let Some(tier) = tier else { return self.protection_days };
        self.tier_protection_days
            .iter()
            .filter_map(|line| line.split_once('='))
            .find(|(t, _)| {
                let t = t.trim();
                t.eq_ignore_ascii_case(&tier.key) || t.eq_ignore_ascii_case(&tier.name)
            })
            .and_then(|(_, d)| d.trim().parse().ok())
            .filter(|d| (1..=730).contains(d))
            .unwrap_or(self.protection_days)
    }

    /// The terms a submission is made under.
    pub fn policy(&self, tier: Option<&Tier>) -> Policy {
        Policy {
            protection_days: self.protection_days_for(tier),
            sla_hours: self.sla_hours,
            reminder_days: self.expiry_reminder_days,
            extension_policy: self.extension_policy.clone(),
            extension_days: self.extension_days,
            rejection_reasons: self.rejection_reasons.clone(),
        }
    }

    /// Lines of the settings that do not parse, for the managers' queue page.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .approval_rules
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Rule::parse(l).err().map(|e| format!("approval rule {}: {e}", i + 1)))
            .collect();
        for (i, line) in self.tier_protection_days.iter().enumerate() {
            let ok = line
                .split_once('=')
                .and_then(|(_, d)| d.trim().parse::<u32>().ok())
                .is_some_and(|d| (1..=730).contains(&d));
            if !ok {
                out.push(format!("protection window per tier, line {}: write tier=days with 1-730 days", i + 1));
            }
        }
        out
    }
}

/// What a rule decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Approve at once, when there is no conflict.
    Auto,
    /// Any channel manager or vendor admin.
    Single,
    /// These roles, in order.
    Chain(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    AmountBelow(f64),
    AmountAtLeast(f64),
    TierAtLeast(String),
    TierIs(String),
}

/// One line of the approval rules: `conditions => action`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    conds: Vec<Cond>,
    pub route: Route,
    pub text: String,
}

const ROLES: [&str; 2] = ["channel_manager", "vendor_admin"];

impl Rule {
    pub fn parse(line: &str) -> Result<Rule, String> {
        let (when, then) = line.split_once("=>").ok_or("write conditions, then => and an action")?;
        let mut conds = Vec::new();
        for part in when.split(" and ").map(str::trim).filter(|p| !p.is_empty()) {
            let words: Vec<&str> = part.split_whitespace().collect();
            let cond = match words.as_slice() {
                ["amount", op, n] => {
                    let n: f64 = n.replace(['_', ','], "").parse().map_err(|_| format!("{n} is not a number"))?;
                    match *op {
                        "<" => Cond::AmountBelow(n),
                        ">=" => Cond::AmountAtLeast(n),
                        _ => return Err(format!("amount takes < or >=, not {op}")),
                    }
                }
                ["tier", op, t] => match *op {
                    ">=" => Cond::TierAtLeast(t.to_lowercase()),
                    "=" | "==" => Cond::TierIs(t.to_lowercase()),
                    _ => return Err(format!("tier takes >= or =, not {op}")),
                },
                _ => return Err(format!("cannot read the condition \"{part}\"")),
            };
            conds.push(cond);
        }
        let then = then.trim();
        let route = match then.split_once(' ').map_or((then, ""), |(a, b)| (a, b.trim())) {
            ("auto", "") => Route::Auto,
            ("single", "") => Route::Single,
            ("chain", roles) if !roles.is_empty() => {
                let steps: Vec<String> = roles.split(',').map(|r| r.trim().to_string()).collect();
                if let Some(bad) = steps.iter().find(|s| !ROLES.contains(&s.as_str())) {
                    return Err(format!("{bad} is not a role that approves (use channel_manager or vendor_admin)"));
                }
                Route::Chain(steps)
            }
            _ => return Err(format!("cannot read the action \"{then}\" (use auto, single or chain ROLE, ROLE)")),
        };
        Ok(Rule { conds, route, text: line.trim().to_string() })
    }

    fn matches(&self, amount: f64, tier: Option<&Tier>, tiers: &[Tier]) -> bool {
        let rank_of = |key: &str| tiers.iter().find(|t| t.key == key || t.name.to_lowercase() == key).map(|t| t.rank);
        self.conds.iter().all(|c| match c {
            Cond::AmountBelow(n) => amount < *n,
            Cond::AmountAtLeast(n) => amount >= *n,
            Cond::TierIs(k) => tier.is_some_and(|t| t.key == *k || t.name.to_lowercase() == *k),
            Cond::TierAtLeast(k) => match (tier, rank_of(k)) {
                (Some(t), Some(min)) => t.rank >= min,
                _ => false,
            },
        })
    }
}

/// The route for a deal: the first rule that matches; one approver when none does. Lines that do not parse are
/// skipped (and listed on the queue page by [`Settings::problems`]).
pub fn route_for(rules: &[String], amount: f64, tier: Option<&Tier>, tiers: &[Tier]) -> (Route, String) {
    rules
        .iter()
        .filter_map(|l| Rule::parse(l).ok())
        .find(|r| r.matches(amount, tier, tiers))
        .map(|r| (r.route, r.text))
        .unwrap_or((Route::Single, String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers() -> Vec<Tier> {
        ["Registered", "Silver", "Gold"]
            .iter()
            .enumerate()
            .map(|(i, n)| Tier { key: n.to_lowercase(), name: n.to_string(), rank: i as u32 + 1 })
            .collect()
    }

    fn rules() -> Vec<String> {
        vec![
            "amount < 50000 and tier >= gold => auto".into(),
            "amount >= 250000 => chain channel_manager, vendor_admin".into(),
            "=> single".into(),
        ]
    }

    #[test]
    fn the_first_matching_rule_routes_the_deal() {
        let t = tiers();
        let (gold, silver) = (Some(&t[2]), Some(&t[1]));
        assert_eq!(route_for(&rules(), 10_000.0, gold, &t).0, Route::Auto);
        assert_eq!(route_for(&rules(), 10_000.0, silver, &t).0, Route::Single);
        assert_eq!(route_for(&rules(), 50_000.0, gold, &t).0, Route::Single);
        assert_eq!(
            route_for(&rules(), 300_000.0, gold, &t).0,
            Route::Chain(vec!["channel_manager".into(), "vendor_admin".into()])
        );
        assert_eq!(route_for(&rules(), 10_000.0, None, &t).0, Route::Single, "vendor-sourced deals have no tier");
        assert_eq!(route_for(&[], 1.0, gold, &t), (Route::Single, String::new()));
    }

    #[test]
    fn broken_rules_are_explained() {
        for (line, want) in [
            ("amount > 5 => auto", "amount takes < or >="),
            ("colour = red => auto", "cannot read the condition"),
            ("=> chain partner_user", "partner_user is not a role"),
            ("amount < 5", "write conditions"),
            ("=> approve", "cannot read the action"),
        ] {
            let e = Rule::parse(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn tiers_override_the_protection_window() {
        let s = Settings {
            products: vec![],
            protection_days: 30,
            tier_protection_days: vec!["silver=60".into(), "Gold = 90".into(), "bronze=x".into()],
            approval_rules: vec![],
            sla_hours: 48,
            expiry_reminder_days: 7,
            extension_policy: "once".into(),
            extension_days: 30,
            rejection_reasons: vec![],
            similarity_threshold: 0.9,
        };
        let t = tiers();
        assert_eq!(s.protection_days_for(Some(&t[0])), 30);
        assert_eq!(s.protection_days_for(Some(&t[1])), 60);
        assert_eq!(s.protection_days_for(Some(&t[2])), 90);
        assert_eq!(s.protection_days_for(None), 30);
        assert_eq!(s.problems().len(), 1);
    }
}
