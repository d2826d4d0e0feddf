//! When the portal and the CRM both changed a field since the last sync, a per-program policy decides.
//!
//! A synced record keeps a snapshot of each field's value as both sides last agreed on it. At a pull, a field
//! the CRM changed (its value differs from the snapshot) and the portal did not is applied to the portal; one the
//! portal changed and the CRM did not is the portal's to push; when both changed it to different values, the policy
//! decides, and the loser's value is overwritten by the winner's on its side.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wins when both sides changed a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The CRM is the system of record.
    #[default]
    CrmWins,
    /// The portal's value is kept and written back to the CRM.
    PortalWins,
    /// The later change wins, by the CRM's modification time against the portal's.
    NewerWins,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::CrmWins, Policy::PortalWins, Policy::NewerWins];

    pub fn key(self) -> &'static str {
        match self {
            Policy::CrmWins => "crm_wins",
            Policy::PortalWins => "portal_wins",
            Policy::NewerWins => "newer_wins",
        }
    }

    pub fn parse(s: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.key() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Policy::CrmWins => "The CRM wins",
            Policy::PortalWins => "The portal wins",
            Policy::NewerWins => "The newer change wins",
        }
    }
}

/// What to do with one field at a pull.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Neither side changed it, or both changed it to the same value (the snapshot takes it).
    Same,
    /// Write the CRM's value into the portal.
    TakeCrm(Value),
    /// Keep the portal's value, and write it to the CRM (the CRM's edit loses).
    KeepPortal(Value),
    /// Only the portal changed it: the outbound sync will push it; nothing to do inbound.
    PortalAhead,
}

/// Decides one field: its value at the last sync, in the portal and in the CRM now, and when each side last
/// changed the record (epoch milliseconds).
pub fn decide(policy: Policy, synced: &Value, portal: &Value, crm: &Value, portal_at: i64, crm_at: i64) -> Outcome {
    let crm_changed = crm != synced;
    let portal_changed = portal != synced;
    match (portal_changed, crm_changed) {
        (false, false) => Outcome::Same,
        (true, false) => Outcome::PortalAhead,
        (false, true) => Outcome::TakeCrm(crm.clone()),
        (true, true) if portal == crm => Outcome::Same,
        (true, true) => {
            let crm_wins = match policy {
                Policy::CrmWins => true,
                Policy::PortalWins => false,
                // A tie goes to the CRM, the system of record.
                Policy::NewerWins => crm_at >= portal_at,
            };
            if crm_wins { Outcome::TakeCrm(crm.clone()) } else { Outcome::KeepPortal(portal.clone()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_sided_changes_flow_the_way_they_were_made() {
        let (s, p, c) = (json!(100), json!(100), json!(150));
        assert_eq!(decide(Policy::PortalWins, &s, &p, &c, 0, 0), Outcome::TakeCrm(json!(150)));
        assert_eq!(decide(Policy::CrmWins, &s, &c, &s, 0, 0), Outcome::PortalAhead);
        assert_eq!(decide(Policy::CrmWins, &s, &s, &s, 0, 0), Outcome::Same);
        assert_eq!(decide(Policy::CrmWins, &s, &c, &c, 0, 0), Outcome::Same);
    }

    #[test]
    fn when_both_changed_the_policy_decides() {
        let (s, p, c) = (json!("2026-12-01"), json!("2027-01-15"), json!("2027-02-01"));
        assert_eq!(decide(Policy::CrmWins, &s, &p, &c, 20, 10), Outcome::TakeCrm(c.clone()));
        assert_eq!(decide(Policy::PortalWins, &s, &p, &c, 10, 20), Outcome::KeepPortal(p.clone()));
        assert_eq!(decide(Policy::NewerWins, &s, &p, &c, 20, 10), Outcome::KeepPortal(p.clone()));
        assert_eq!(decide(Policy::NewerWins, &s, &p, &c, 10, 20), Outcome::TakeCrm(c.clone()));
        assert_eq!(decide(Policy::NewerWins, &s, &p, &c, 10, 10), Outcome::TakeCrm(c));
        assert_eq!(Policy::parse("newer_wins"), Some(Policy::NewerWins));
        assert_eq!(Policy::parse("whatever"), None);
    }
}
