//! `portico:plugin/analytics`: figures the manifest declares, counted per day, and partner organisations'
//! timelines. Both are kept in the invocation's state and written just before it commits (in key order, so
//! concurrent invocations adding to the same day's rows never wait on each other in a cycle); a call that fails
//! counts nothing.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::analytics::Host;
use super::super::state::{HostState, Spend};
use super::{denied, invalid};
use crate::domain::OrgKind;
use crate::storage::analytics::CountKey;
use portico_plugin_api::MetricUnit;

/// Longest timeline line.
const MAX_TEXT: usize = 300;

impl HostState {
    /// The partner organisation a figure or a line is for: a partner's call may name only its own; others any
    /// partner organisation of the tenant.
    async fn partner_org(&mut self, org_id: &str) -> Result<(), PluginError> {
        if let Some(c) = self.inv.caller.as_ref().filter(|c| c.is_partner()) {
            return if c.org_id == org_id {
                Ok(())
            } else {
                Err(denied("a partner's call counts only for its own organisation"))
            };
        }
        let db = self.shared.db.clone();
        let org = db.tenant(&self.inv.tenant_id).org(org_id).await.map_err(|e| self.storage_error(e))?;
        match org {
            Some(o) if o.kind == OrgKind::Partner => Ok(()),
            _ => Err(PluginError::NotFound(format!("no partner organisation {org_id}"))),
        }
    }
}

impl Host for HostState {
    async fn count(
        &mut self,
        metric: String,
        org_id: Option<String>,
        value: i64,
        unit: Option<String>,
    ) -> Result<(), PluginError> {
        let declared = self.plugin.manifest.metrics.iter().find(|m| m.name == metric).map(|m| m.unit);
        let unit = match (declared, unit) {
            (None, _) => return Err(denied(format!("metric {metric} is not declared in the manifest's [[metrics]]"))),
            (Some(MetricUnit::Percent), _) => {
                return Err(invalid("metric", "a percent metric is derived from its two counts; count those"));
            }
            (Some(MetricUnit::Money), Some(u)) if u.len() == 3 && u.chars().all(|c| c.is_ascii_uppercase()) => u,
            (Some(MetricUnit::Money), _) => {
                return Err(invalid("unit", "give the amount's currency code, such as USD"));
            }
            (Some(MetricUnit::Count), None) => String::new(),
            (Some(MetricUnit::Count), Some(_)) => return Err(invalid("unit", "a count takes no unit")),
        };
        let org_id = match org_id {
            Some(o) => {
                self.partner_org(&o).await?;
                Some(o)
            }
            None if self.inv.caller.as_ref().is_some_and(|c| c.is_partner()) => {
                self.inv.caller.as_ref().map(|c| c.org_id.clone())
            }
            None => None,
        };
        self.spend(Spend::Writes(1))?;
        let key = CountKey { metric: format!("{}.{metric}", self.plugin.manifest.id), org_id, unit };
        *self.counts.entry(key).or_default() += value;
        Ok(())
    }

    async fn timeline(&mut self, org_id: String, text: String, link: Option<String>) -> Result<(), PluginError> {
        let text = text.trim().to_string();
        if text.is_empty() || text.chars().count() > MAX_TEXT || text.chars().any(char::is_control) {
            return Err(invalid("text", "write one line of 1-300 characters"));
        }
        let own = format!("/p/{}/", self.plugin.manifest.id);
        if let Some(l) = &link
            && (!l.starts_with(&own) || l.contains("..") || l.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(invalid("link", format!("link to one of the plugin's own pages, under {own}")));
        }
        self.partner_org(&org_id).await?;
        self.spend(Spend::Writes(1))?;
        self.charge_output(text.len())?;
        self.timeline.push((org_id, text, link));
        Ok(())
    }
}
