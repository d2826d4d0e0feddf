//! Typed storage: collections of serde types, with queries on the manifest's indexes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::portico::plugin::storage as wit;

pub use wit::{Direction, Visibility};

/// A stored record with its data decoded.
#[derive(Debug, Clone)]
pub struct Record<T> {
    pub id: String,
    pub revision: u64,
    pub org_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub data: T,
}

fn decode<T: DeserializeOwned>(r: wit::StoredRecord) -> Result<Record<T>, Error> {
    let data = serde_json::from_str(&r.data)
        .map_err(|e| Error::internal(format!("stored record {} does not decode: {e}", r.id)))?;
    Ok(Record {
        id: r.id,
        revision: r.revision,
        org_id: r.org_id,
        created_at: r.created_at,
        updated_at: r.updated_at,
        data,
    })
}

pub(crate) fn encode(value: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::internal)
}

fn scalar(value: impl Serialize) -> String {
    serde_json::to_string(&value).unwrap_or_else(|_| "null".into())
}

/// A collection declared in the manifest.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    name: &'static str,
}

impl Collection {
    /// The collection called `name`.
    pub const fn new(name: &'static str) -> Self {
        Collection { name }
    }

    /// A record by id.
    pub fn get<T: DeserializeOwned>(&self, id: &str) -> Result<Option<Record<T>>, Error> {
        wit::get(self.name, id)?.map(decode).transpose()
    }

    /// Stores a new record for the caller's organisation.
    pub fn insert<T: Serialize + DeserializeOwned>(&self, value: &T) -> Result<Record<T>, Error> {
        decode(wit::insert(self.name, None, None, &encode(value)?)?)
    }

    /// Stores a new record with a chosen id and, for vendor callers, a chosen organisation.
    pub fn insert_with<T: Serialize + DeserializeOwned>(
        &self,
        id: Option<&str>,
        org_id: Option<&str>,
        value: &T,
    ) -> Result<Record<T>, Error> {
        decode(wit::insert(self.name, id, org_id, &encode(value)?)?)
    }

    /// Replaces a record's data if it is still at `revision`.
    pub fn update<T: Serialize + DeserializeOwned>(
        &self,
        id: &str,
        revision: u64,
        value: &T,
    ) -> Result<Record<T>, Error> {
        decode(wit::update(self.name, id, Some(revision), &encode(value)?)?)
    }

    /// Deletes a record; true when it existed.
    pub fn delete(&self, id: &str) -> Result<bool, Error> {
        wit::delete(self.name, id, None)
    }

    /// Starts a query.
    pub fn query(&self) -> Query {
        Query {
            q: wit::QuerySpec {
                collection: self.name.to_string(),
                filters: Vec::new(),
                order_by: None,
                limit: 50,
                cursor: None,
                visibility: Visibility::CallerOrg,
            },
            org: None,
        }
    }
}

/// A query being built. Filters apply in the order they are added: the first is looked up in the index and the
/// others are checked on what it matched, so add the most selective first (a customer's domain before a status).
#[derive(Debug, Clone)]
pub struct Query {
    q: wit::QuerySpec,
    /// One organisation's records only ([`Query::org`]).
    org: Option<String>,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub records: Vec<Record<T>>,
    pub next_cursor: Option<String>,
}

impl Query {
    fn filter(mut self, field: &str, condition: wit::Condition) -> Self {
        self.q.filters.push(wit::Filter { field: field.to_string(), condition });
        self
    }

    /// `field == value`.
    pub fn eq(self, field: &str, value: impl Serialize) -> Self {
        self.filter(field, wit::Condition::Eq(scalar(value)))
    }

    /// `field` is one of `values`.
    pub fn one_of<V: Serialize>(self, field: &str, values: impl IntoIterator<Item = V>) -> Self {
        let values = values.into_iter().map(scalar).collect();
        self.filter(field, wit::Condition::InList(values))
    }

    /// `from <= field < to`; either bound may be `None`.
    pub fn range<V: Serialize>(self, field: &str, from: Option<V>, to: Option<V>) -> Self {
        self.filter(field, wit::Condition::Range((from.map(scalar), to.map(scalar))))
    }

    /// Text `field` starting with `prefix`.
    pub fn prefix(self, field: &str, prefix: &str) -> Self {
        self.filter(field, wit::Condition::Prefix(prefix.to_string()))
    }

    /// Sort by an indexed field: numbers before text, an array by its smallest element ascending and its largest
    /// descending, records without the field last, ties by id. Unfiltered, the page is read straight from the
    /// index (so "the newest receipt" is cheap beside a million records); filtered, the first filter's matches
    /// are sorted.
    pub fn order_by(mut self, field: &str, direction: Direction) -> Self {
        self.q.order_by = Some((field.to_string(), direction));
        self
    }

    /// At most `n` records per page.
    pub fn limit(mut self, n: u32) -> Self {
        self.q.limit = n;
        self
    }

    /// Continue after a previous page.
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.q.cursor = cursor;
        self
    }

    /// Every organisation's records (needs the cross-org grant for partner callers).
    pub fn all_orgs(mut self) -> Self {
        self.q.visibility = Visibility::AllOrgs;
        self
    }

    /// Only the records of partner organisation `org_id` (for a partner card, say): vendor staff and calls without
    /// a user may name any organisation, a partner caller only their own. Needs `portico:plugin` 0.1.1.
    pub fn org(mut self, org_id: &str) -> Self {
        self.org = Some(org_id.to_string());
        self
    }

    /// Runs the query.
    pub fn fetch<T: DeserializeOwned>(self) -> Result<Page<T>, Error> {
        let page = match &self.org {
            Some(org) => wit::query_org(&self.q, org)?,
            None => wit::query(&self.q)?,
        };
        Ok(Page {
            records: page.records.into_iter().map(decode).collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        })
    }

    /// Counts the matching records.
    pub fn count(self) -> Result<u64, Error> {
        match &self.org {
            Some(org) => wit::count_org(&self.q.collection, &self.q.filters, org),
            None => wit::count(&self.q.collection, &self.q.filters, self.q.visibility),
        }
    }
}
