//! `portico:plugin/notifications`: in-portal notifications (and mail) to users, with the notifications grant.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::notifications::{Audience, Host, Notification};
use super::super::domain_role;
use super::super::state::{Adds, HostState, Spend};
use super::{denied, invalid};

impl Host for HostState {
    async fn send(&mut self, n: Notification) -> Result<(), PluginError> {
        if !self.plugin.manifest.grants.notifications {
            return Err(denied("sending notifications needs the notifications grant"));
        }
        if n.title.trim().is_empty() || n.title.chars().count() > 200 {
            return Err(invalid("title", "give a title of 1-200 characters"));
        }
        if n.body.len() > 10_000 {
            return Err(invalid("body", "keep the text under 10,000 bytes"));
        }
        if let Some(link) = &n.link
            && (!link.starts_with('/') || link.starts_with("//"))
        {
            return Err(invalid("link", "links must be portal paths starting with /"));
        }
        let (user, org, roles, vendor) = match n.audience {
            Audience::User(id) => (Some(id), None, Vec::new(), false),
            Audience::Org((org, roles)) => (None, Some(org), roles, false),
            Audience::Vendor(roles) => (None, None, roles, true),
        };
        let roles: Vec<_> = roles.into_iter().map(domain_role).collect();
        if n.email {
            self.within_quota(Adds::Emails(1)).await?;
        }
        let (tenant, plugin, now) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone(), self.inv.now_ms);
        let tx = self.tx().await?;
        let audience = crate::storage::Audience { user: user.as_deref(), org: org.as_deref(), vendor, roles: &roles };
        let sent = crate::storage::notify_in(
            tx,
            &tenant,
            &plugin,
            &audience,
            &n.title,
            &n.body,
            n.link.as_deref(),
            n.email,
            now,
        )
        .await
        .map_err(|e| self.write_error(e))?;
        // Counted by recipient: a notification to an organisation is one per person, and so are its emails.
        self.spend(Spend::Notifications { count: sent, emails: if n.email { sent } else { 0 } })?;
        if n.email
            && let Err(e) = self.within_quota(Adds::Emails(0)).await
        {
            // The recipients are known only now: over the hourly quota, the whole call rolls back.
            self.over_budget.get_or_insert_with(|| "the emails-per-hour quota".into());
            return Err(e);
        }
        Ok(())
    }
}
