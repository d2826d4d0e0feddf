//! `portico:plugin/search`: full-text search over the plugin's documents (`crate::storage::search`), indexed inside
//! the invocation's transaction. A partner caller finds only documents of their own organisation or of none,
//! whatever the plugin asks; labels narrow further, inside the query.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::search::{Document, Fragment, Hit, Host, Results, SearchQuery};
use super::super::state::{HostState, Spend};
use super::invalid;
use crate::storage::search::{self, SearchDoc, SearchScope};

/// Largest text of one document.
const MAX_TEXT: usize = 1 << 20;

impl Host for HostState {
    async fn index(&mut self, doc: Document) -> Result<(), PluginError> {
        if doc.id.is_empty() || doc.id.len() > 200 || doc.id.contains('\0') {
            return Err(invalid("id", "use an id of 1-200 characters"));
        }
        if doc.text.len() > MAX_TEXT || doc.title.len() > 1000 {
            return Err(invalid("text", "a document's text may hold at most 1 MiB, its title 1,000 bytes"));
        }
        if doc.labels.len() > 100 || doc.tags.len() > 100 {
            return Err(invalid("labels", "at most 100 labels and 100 tags"));
        }
        // A partner's call indexes for its own organisation only.
        let org = match &self.inv.caller {
            Some(c) if c.is_partner() => Some(c.org_id.clone()),
            _ => doc.org_id,
        };
        self.spend(Spend::Writes(1))?;
        let backend = self.shared.db.backend();
        let (tenant, plugin, now) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone(), self.inv.now_ms);
        let d =
            SearchDoc { id: doc.id, title: doc.title, text: doc.text, tags: doc.tags, labels: doc.labels, org_id: org };
        let tx = self.tx().await?;
        let scope = SearchScope { tenant_id: &tenant, plugin_id: &plugin };
        search::index(tx, backend, scope, &d, now).await.map_err(|e| self.write_error(e))
    }

    async fn remove(&mut self, id: String) -> Result<bool, PluginError> {
        self.spend(Spend::Writes(1))?;
        let backend = self.shared.db.backend();
        let (tenant, plugin) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let tx = self.tx().await?;
        search::remove(tx, backend, SearchScope { tenant_id: &tenant, plugin_id: &plugin }, &id)
            .await
            .map_err(|e| self.write_error(e))
    }

    async fn query(&mut self, q: SearchQuery) -> Result<Results, PluginError> {
        if q.text.len() > 1000 {
            return Err(invalid("text", "a query may hold at most 1,000 characters"));
        }
        let org = self.inv.caller.as_ref().filter(|c| c.is_partner()).map(|c| c.org_id.clone());
        let query = search::SearchQuery {
            text: q.text,
            label_groups: q.labels,
            tags: q.tags,
            org,
            limit: q.limit,
            offset: q.offset,
        };
        let backend = self.shared.db.backend();
        let (tenant, plugin) = (self.inv.tenant_id.clone(), self.plugin.manifest.id.clone());
        let tx = self.tx().await?;
        let (hits, total) = search::query(tx, backend, SearchScope { tenant_id: &tenant, plugin_id: &plugin }, &query)
            .await
            .map_err(|e| self.storage_error(e))?;
        let hits = hits
            .into_iter()
            .map(|h| Hit {
                id: h.id,
                title: h.title,
                score: h.score,
                snippet: h.snippet.into_iter().map(|(text, hit)| Fragment { text, hit }).collect(),
            })
            .collect();
        Ok(Results { hits, total })
    }
}
