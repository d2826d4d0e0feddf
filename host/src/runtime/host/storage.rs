//! `portico:plugin/storage`: records scoped to (tenant, plugin), and for partner callers to their org.

use serde_json::Value;

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::storage::{
    Condition, Filter, Host, QuerySpec, RecordPage, StoredRecord, Visibility,
};
use super::super::state::{Adds, HostState, Spend};
use super::{denied, invalid};
use crate::storage::plugin_data::{self, IndexSpec, PluginRecord, RecordQuery, RecordScope};

impl HostState {
    /// The collection's index specs, or `denied` if the manifest does not declare it.
    fn collection(&self, name: &str) -> Result<Vec<IndexSpec>, PluginError> {
        let c = self
            .plugin
            .manifest
            .collection(name)
            .ok_or_else(|| denied(format!("collection {name} is not declared in plugin.toml")))?;
        Ok(c.indexes.iter().map(|i| IndexSpec { field: i.field.clone(), unique: i.unique }).collect())
    }

    /// Whose records this call may read: a partner caller sees their org, unless the query asks for all
    /// orgs and the plugin holds the cross-org grant.
    fn read_scope(&self, visibility: Visibility) -> Result<RecordScope, PluginError> {
        let org = match &self.inv.caller {
            Some(c) if c.is_partner() => match visibility {
                Visibility::AllOrgs if self.plugin.manifest.grants.cross_org_read => None,
                Visibility::AllOrgs => {
                    return Err(denied("reading every organisation's records needs the cross_org_read grant"));
                }
                Visibility::CallerOrg => Some(c.org_id.clone()),
            },
            _ => None,
        };
        Ok(RecordScope { tenant_id: self.inv.tenant_id.clone(), plugin_id: self.plugin.manifest.id.clone(), org })
    }

    /// Whose records this call may write: a partner caller only their own org's, whatever the grants.
    fn write_scope(&self) -> RecordScope {
        let org = self.inv.caller.as_ref().filter(|c| c.is_partner()).map(|c| c.org_id.clone());
        RecordScope { tenant_id: self.inv.tenant_id.clone(), plugin_id: self.plugin.manifest.id.clone(), org }
    }

    /// A single-record read scope: partners see their org's, or any with the cross-org grant.
    fn get_scope(&self) -> RecordScope {
        let vis = if self.plugin.manifest.grants.cross_org_read { Visibility::AllOrgs } else { Visibility::CallerOrg };
        self.read_scope(vis).unwrap_or_else(|_| self.write_scope())
    }

    fn filters(
        &self,
        indexes: &[IndexSpec],
        filters: Vec<Filter>,
    ) -> Result<Vec<(String, plugin_data::Condition)>, PluginError> {
        filters
            .into_iter()
            .map(|f| {
                if !indexes.iter().any(|i| i.field == f.field) {
                    return Err(invalid("filters", format!("{} is not an indexed field of the collection", f.field)));
                }
                let cond = match f.condition {
                    Condition::Eq(v) => plugin_data::Condition::Eq(scalar(&v)?),
                    Condition::InList(vs) => {
                        plugin_data::Condition::In(vs.iter().map(|v| scalar(v)).collect::<Result<_, _>>()?)
                    }
                    Condition::Range((lo, hi)) => plugin_data::Condition::Range(
                        lo.as_deref().map(scalar).transpose()?,
                        hi.as_deref().map(scalar).transpose()?,
                    ),
                    Condition::Prefix(p) => {
                        no_nul("filters", &p)?;
                        plugin_data::Condition::Prefix(p)
                    }
                };
                Ok((f.field, cond))
            })
            .collect()
    }
}

impl HostState {
    /// One organisation's records: any for vendor staff and calls without a user, a partner's own only.
    fn org_scope(&self, org_id: String) -> Result<RecordScope, PluginError> {
        no_nul("org_id", &org_id)?;
        if let Some(c) = &self.inv.caller
            && c.is_partner()
            && c.org_id != org_id
        {
            return Err(denied("a partner's call may read only its own organisation's records"));
        }
        Ok(RecordScope {
            tenant_id: self.inv.tenant_id.clone(),
            plugin_id: self.plugin.manifest.id.clone(),
            org: Some(org_id),
        })
    }

    async fn query_in(&mut self, scope: RecordScope, q: QuerySpec) -> Result<RecordPage, PluginError> {
        let indexes = self.collection(&q.collection)?;
        let filters = self.filters(&indexes, q.filters)?;
        if let Some((field, _)) = &q.order_by
            && !indexes.iter().any(|i| &i.field == field)
        {
            return Err(invalid("order_by", format!("{field} is not an indexed field of the collection")));
        }
        let rq = RecordQuery {
            collection: q.collection,
            filters,
            order_by: q
                .order_by
                .map(|(f, d)| (f, matches!(d, super::super::bindings::portico::plugin::storage::Direction::Desc))),
            limit: q.limit,
            cursor: q.cursor,
        };
        let tx = self.tx().await?;
        let (records, next_cursor) = plugin_data::query(tx, &scope, &rq).await.map_err(|e| self.storage_error(e))?;
        Ok(RecordPage { records: records.into_iter().map(to_wit).collect(), next_cursor })
    }

    async fn count_in(
        &mut self,
        scope: RecordScope,
        collection: String,
        filters: Vec<Filter>,
    ) -> Result<u64, PluginError> {
        let indexes = self.collection(&collection)?;
        let filters = self.filters(&indexes, filters)?;
        let tx = self.tx().await?;
        let n = plugin_data::count(tx, &scope, &collection, &filters).await.map_err(|e| self.storage_error(e))?;
        Ok(n as u64)
    }
}

/// Whether a record remembered from this invocation may be written in `scope` (a partner's own org only).
fn in_scope(r: &PluginRecord, scope: &RecordScope) -> bool {
    scope.org.is_none() || r.org_id == scope.org
}

fn scalar(v: &str) -> Result<Value, PluginError> {
    match serde_json::from_str::<Value>(v) {
        Ok(Value::String(s)) => no_nul("filters", &s).map(|()| Value::String(s)),
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v),
        _ => Err(invalid("filters", format!("{v} is not a JSON string, number or boolean"))),
    }
}

/// Refuses a NUL character where it would reach a database text column (PostgreSQL cannot store one): record
/// ids, and the values of indexed fields (record data itself is stored as JSON, where NUL is escaped).
fn no_nul(field: &str, text: &str) -> Result<(), PluginError> {
    if text.contains('\0') {
        return Err(invalid(field, format!("{field} may not contain a NUL character")));
    }
    Ok(())
}

fn indexed_values_ok(map: &serde_json::Map<String, Value>, indexes: &[IndexSpec]) -> Result<(), PluginError> {
    fn check(field: &str, v: &Value) -> Result<(), PluginError> {
        match v {
            Value::String(s) => no_nul(field, s),
            Value::Array(items) => items.iter().try_for_each(|i| check(field, i)),
            _ => Ok(()),
        }
    }
    indexes.iter().filter_map(|ix| map.get(&ix.field).map(|v| (ix, v))).try_for_each(|(ix, v)| check(&ix.field, v))
}

fn to_wit(r: PluginRecord) -> StoredRecord {
    StoredRecord {
        id: r.id,
        revision: r.revision as u64,
        org_id: r.org_id,
        data: r.data,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn data(text: &str) -> Result<serde_json::Map<String, Value>, PluginError> {
    plugin_data::parse_data(text).map_err(|m| invalid("data", m))
}

impl Host for HostState {
    async fn get(&mut self, collection: String, id: String) -> Result<Option<StoredRecord>, PluginError> {
        self.collection(&collection)?;
        no_nul("id", &id)?;
        let scope = self.get_scope();
        let tx = self.tx().await?;
        let rec = plugin_data::get(tx, &scope, &collection, &id).await.map_err(|e| self.storage_error(e))?;
        let key = (collection, id);
        match &rec {
            Some(r) => self.seen.insert(key, r.clone()),
            None => self.seen.remove(&key),
        };
        Ok(rec.map(to_wit))
    }

    async fn insert(
        &mut self,
        collection: String,
        id: Option<String>,
        org_id: Option<String>,
        data_text: String,
    ) -> Result<StoredRecord, PluginError> {
        let indexes = self.collection(&collection)?;
        let map = data(&data_text)?;
        indexed_values_ok(&map, &indexes)?;
        self.charge_output(data_text.len())?;
        let scope = self.write_scope();
        if let Some(id) = &id {
            if id.is_empty() || id.len() > 100 {
                return Err(invalid("id", "use an id of 1-100 characters"));
            }
            no_nul("id", id)?;
        }
        if let Some(org) = &org_id {
            no_nul("org_id", org)?;
        }
        // Partners write for their own org; vendor staff and system calls may name one.
        let org = match &scope.org {
            Some(own) => Some(own.clone()),
            None => org_id,
        };
        self.spend(Spend::Writes(1))?;
        self.within_quota(Adds::Record).await?;
        let now = self.inv.now_ms;
        let tx = self.tx().await?;
        let rec = plugin_data::insert(tx, &scope, &collection, id.as_deref(), org.as_deref(), &map, &indexes, now)
            .await
            .map_err(|e| self.write_error(e))?;
        self.spent.records_added += 1;
        self.seen.insert((collection, rec.id.clone()), rec.clone());
        Ok(to_wit(rec))
    }

    async fn update(
        &mut self,
        collection: String,
        id: String,
        expected_revision: Option<u64>,
        data_text: String,
    ) -> Result<StoredRecord, PluginError> {
        let indexes = self.collection(&collection)?;
        let map = data(&data_text)?;
        indexed_values_ok(&map, &indexes)?;
        no_nul("id", &id)?;
        self.charge_output(data_text.len())?;
        self.spend(Spend::Writes(1))?;
        self.within_quota(Adds::IndexRows).await?;
        let scope = self.write_scope();
        let now = self.inv.now_ms;
        let key = (collection, id);
        let current = self.seen.remove(&key).filter(|r| in_scope(r, &scope));
        let tx = self.tx().await?;
        let (collection, id) = (&key.0, &key.1);
        let expected = expected_revision.map(|r| r as i64);
        let result = match current {
            Some(current) => {
                plugin_data::update_from(tx, &scope, collection, current, expected, &map, &indexes, now).await
            }
            None => plugin_data::update(tx, &scope, collection, id, expected, &map, &indexes, now).await,
        };
        let rec = result.map_err(|e| self.write_error(e))?;
        self.seen.insert(key, rec.clone());
        Ok(to_wit(rec))
    }

    async fn delete(
        &mut self,
        collection: String,
        id: String,
        expected_revision: Option<u64>,
    ) -> Result<bool, PluginError> {
        self.collection(&collection)?;
        no_nul("id", &id)?;
        self.spend(Spend::Writes(1))?;
        let scope = self.write_scope();
        let key = (collection, id);
        let current = self.seen.remove(&key).filter(|r| in_scope(r, &scope));
        let tx = self.tx().await?;
        let expected = expected_revision.map(|r| r as i64);
        let result = match &current {
            Some(current) => plugin_data::delete_from(tx, &scope, &key.0, current, expected).await,
            None => plugin_data::delete(tx, &scope, &key.0, &key.1, expected).await,
        };
        let deleted = result.map_err(|e| self.write_error(e))?;
        if deleted {
            self.spent.records_added -= 1;
        }
        Ok(deleted)
    }

    async fn query(&mut self, q: QuerySpec) -> Result<RecordPage, PluginError> {
        let scope = self.read_scope(q.visibility)?;
        self.query_in(scope, q).await
    }

    async fn count(
        &mut self,
        collection: String,
        filters: Vec<Filter>,
        visibility: Visibility,
    ) -> Result<u64, PluginError> {
        let scope = self.read_scope(visibility)?;
        self.count_in(scope, collection, filters).await
    }

    async fn query_org(&mut self, q: QuerySpec, org_id: String) -> Result<RecordPage, PluginError> {
        let scope = self.org_scope(org_id)?;
        self.query_in(scope, q).await
    }

    async fn count_org(
        &mut self,
        collection: String,
        filters: Vec<Filter>,
        org_id: String,
    ) -> Result<u64, PluginError> {
        let scope = self.org_scope(org_id)?;
        self.count_in(scope, collection, filters).await
    }
}
