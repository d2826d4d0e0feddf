//! `portico:plugin/directory`: users, organisations and programs, as the caller may see them.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::directory::{
    EnrolmentInfo, Host, OrgInfo, ProgramInfo, TierInfo, UserInfo,
};
use super::super::bindings::portico::plugin::types::Role as WitRole;
use super::super::state::HostState;
use super::super::{domain_role, wit_role};
use super::denied;
use std::collections::HashMap;

use crate::domain::{Enrolment, ListQuery, Org, OrgKind, User, UserStatus};

impl HostState {
    /// May this call see organisation `org_id`? Partners see their own unless the cross-org grant is held.
    fn may_see_org(&self, org_id: &str) -> bool {
        match &self.inv.caller {
            Some(c) if c.is_partner() => c.org_id == org_id || self.plugin.manifest.grants.cross_org_read,
            _ => true,
        }
    }

    async fn org_info(&mut self, org: Org) -> Result<OrgInfo, PluginError> {
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        let enrolments = db.tenant(&tenant).enrolments_of_org(&org.id).await.map_err(|e| self.storage_error(e))?;
        let ranks = self.tier_ranks(&enrolments).await?;
        Ok(org_info_with(org, enrolments, &ranks))
    }

    /// The rank of every tier of the programs these enrolments are in, by tier id.
    async fn tier_ranks(&mut self, enrolments: &[Enrolment]) -> Result<HashMap<String, u32>, PluginError> {
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        let mut programs: Vec<&str> = enrolments.iter().map(|e| e.program_id.as_str()).collect();
        programs.sort_unstable();
        programs.dedup();
        let mut ranks = HashMap::new();
        for p in programs {
            for t in db.tenant(&tenant).tiers(p).await.map_err(|e| self.storage_error(e))? {
                ranks.insert(t.id, t.rank as u32);
            }
        }
        Ok(ranks)
    }
}

/// An organisation as plugins see it, with its enrolments and their tiers' ranks.
fn org_info_with(org: Org, enrolments: Vec<Enrolment>, ranks: &HashMap<String, u32>) -> OrgInfo {
    let infos = enrolments
        .into_iter()
        .map(|e| EnrolmentInfo {
            program: e.program_key,
            tier_rank: ranks.get(&e.tier_id).copied().unwrap_or(0),
            tier: e.tier_key,
            tier_name: e.tier_name,
        })
        .collect();
    {
        OrgInfo {
            id: org.id,
            name: org.name,
            is_vendor: org.kind == OrgKind::Vendor,
            website: org.website,
            contact_email: org.contact_email,
            phone: org.phone,
            address: org.address,
            logo_url: org.logo_key.map(|k| format!("/media/{k}")),
            enrolments: infos,
        }
    }
}

fn user_info(u: User) -> UserInfo {
    UserInfo { id: u.id, name: u.name, email: u.email, role: wit_role(u.role), org_id: u.org_id }
}

impl Host for HostState {
    async fn get_user(&mut self, id: String) -> Result<Option<UserInfo>, PluginError> {
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        let user = db.tenant(&tenant).user(&id).await.map_err(|e| self.storage_error(e))?;
        Ok(user.filter(|u| self.may_see_org(&u.org_id)).map(user_info))
    }

    async fn list_users(&mut self, org_id: String, roles: Vec<WitRole>) -> Result<Vec<UserInfo>, PluginError> {
        if !self.may_see_org(&org_id) {
            return Ok(Vec::new());
        }
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        let wanted: Vec<_> = roles.into_iter().map(domain_role).collect();
        let mut out = Vec::new();
        let mut lq = ListQuery::default();
        loop {
            let page = db.tenant(&tenant).list_users(Some(&org_id), &lq).await.map_err(|e| self.storage_error(e))?;
            let last = page.page >= page.pages();
            out.extend(
                page.items
                    .into_iter()
                    .filter(|u| u.status == UserStatus::Active && (wanted.is_empty() || wanted.contains(&u.role)))
                    .map(user_info),
            );
            if last {
                break;
            }
            lq.page = Some(page.page + 1);
        }
        Ok(out)
    }

    async fn get_org(&mut self, id: String) -> Result<Option<OrgInfo>, PluginError> {
        if !self.may_see_org(&id) {
            return Ok(None);
        }
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        let org = db.tenant(&tenant).org(&id).await.map_err(|e| self.storage_error(e))?;
        match org {
            Some(o) => Ok(Some(self.org_info(o).await?)),
            None => Ok(None),
        }
    }

    async fn get_org_logo(&mut self, id: String) -> Result<Option<(String, Vec<u8>)>, PluginError> {
        if !self.may_see_org(&id) {
            return Ok(None);
        }
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        let org = db.tenant(&tenant).org(&id).await.map_err(|e| self.storage_error(e))?;
        let Some(key) = org.and_then(|o| o.logo_key) else { return Ok(None) };
        let Some(content_type) = crate::blobs::ImageKind::content_type_of(&key) else { return Ok(None) };
        let blobs = self.shared.blobs.clone();
        let bytes =
            blobs.get(&key).await.map_err(|e| PluginError::Unavailable(format!("the logo could not be read: {e}")))?;
        match bytes {
            Some(bytes) => {
                self.charge_output(bytes.len())?;
                Ok(Some((content_type.to_string(), bytes)))
            }
            // The row names a logo the store no longer has: as if there were none.
            None => Ok(None),
        }
    }

    async fn list_orgs(&mut self, program: Option<String>) -> Result<Vec<OrgInfo>, PluginError> {
        // Three queries whatever the number of partners (a program of 10,000 is listed for a recalculation): the
        // orgs, every enrolment, and the tiers of the programs they are in.
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        let scope = db.tenant(&tenant);
        let program_id = match &program {
            Some(key) => match scope.program_by_key(key).await {
                Ok(p) => Some(p.id),
                Err(crate::storage::StorageError::NotFound) => return Ok(Vec::new()),
                Err(e) => return Err(self.storage_error(e)),
            },
            None => None,
        };
        let orgs = scope.all_partner_orgs(program_id.as_deref()).await.map_err(|e| self.storage_error(e))?;
        let orgs: Vec<Org> = orgs.into_iter().filter(|o| self.may_see_org(&o.id)).collect();
        let enrolments = if orgs.is_empty() {
            Vec::new()
        } else {
            db.tenant(&tenant).all_enrolments().await.map_err(|e| self.storage_error(e))?
        };
        let ranks = self.tier_ranks(&enrolments).await?;
        let mut by_org: HashMap<String, Vec<Enrolment>> = HashMap::new();
        for e in enrolments {
            by_org.entry(e.org_id.clone()).or_default().push(e);
        }
        Ok(orgs
            .into_iter()
            .map(|o| {
                let es = by_org.remove(&o.id).unwrap_or_default();
                org_info_with(o, es, &ranks)
            })
            .collect())
    }

    async fn get_program(&mut self, key: String) -> Result<Option<ProgramInfo>, PluginError> {
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        match db.tenant(&tenant).program_by_key(&key).await {
            Ok(p) => Ok(Some(ProgramInfo {
                key: p.key,
                name: p.name,
                tiers: p
                    .tiers
                    .into_iter()
                    .map(|t| TierInfo { key: t.key, name: t.name, rank: t.rank as u32 })
                    .collect(),
            })),
            Err(crate::storage::StorageError::NotFound) => Ok(None),
            Err(e) => Err(self.storage_error(e)),
        }
    }

    async fn set_tier(&mut self, org_id: String, program: String, tier: String) -> Result<(), PluginError> {
        if !self.plugin.manifest.grants.directory_write {
            return Err(denied("setting a tier needs the directory_write grant"));
        }
        // The grant is the vendor's trust in the plugin, not in every caller: a partner's call never moves tiers
        // (a plugin applies a partner's standing in a call of its own or of vendor staff).
        if self.inv.caller.as_ref().is_some_and(|c| c.is_partner()) {
            return Err(denied("a partner's call cannot change tiers"));
        }
        let db = self.shared.db.clone();
        let tenant = self.inv.tenant_id.clone();
        let p = db.tenant(&tenant).program_by_key(&program).await.map_err(|e| self.storage_error(e))?;
        let t = p
            .tiers
            .iter()
            .find(|t| t.key == tier)
            .ok_or_else(|| PluginError::NotFound(format!("program {program} has no tier {tier}")))?;
        // Directory writes join the invocation's transaction, so they roll back with it.
        let plugin = self.plugin.manifest.id.clone();
        let tx = self.tx().await?;
        let written = async {
            crate::storage::enrol_in(&mut *tx, &tenant, &org_id, &p.id, &t.id).await?;
            crate::storage::audit_in(
                &mut *tx,
                &tenant,
                &format!("plugin:{plugin}"),
                "org.tier_set",
                &org_id,
                &format!("{program} at {tier}"),
            )
            .await
        }
        .await;
        written.map_err(|e| self.write_error(e))?;
        Ok(())
    }
}
