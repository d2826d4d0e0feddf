//! The sync engine every connector plugin runs, on the SDK only: deal events become writes to the CRM, a schedule
//! pulls what changed in the CRM, and every synced deal has a link record that is also its line in the sync log.
//!
//! - **Portal → CRM.** A deal event (`deal.approved` and what follows it) stores the deal on its link and writes
//!   it at once: the customer's account found by its domain or created, the partner's account by the portal's org
//!   id, the opportunity upserted by the external-id field (or by the CRM id stored at the last write), then the
//!   accounts linked. A failure is recorded on the link with its attempts and the next try (see
//!   [`crate::retry`]); the event itself always succeeds, so nothing depends on the event being redelivered.
//! - **CRM → portal.** The `sync` schedule writes what is due, then pulls the opportunities modified since the
//!   watermark (minus the overlap), page by page, and for each one the portal knows decides field by field with
//!   [`crate::sync::inbound`]; the portal's changes are published as `crm.deal.changed`, which deal registration
//!   applies (won, lost, amount, close date) through its own workflow; the portal's winning values are written
//!   back. The watermark advances after each page.
//! - **A connection failure** (bad credentials, revoked grant, missing permission, wrong URL) pauses every write
//!   and pull and is shown as the connection's state until a sync succeeds again; what waited goes out then.

use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Direction, Record};
use portico_sdk::{events, http, log, secrets};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::conflict::Policy;
use crate::connector::{Crm, CrmRecord, Reply, Request as HttpRequest, Target, Transport, with_session};
use crate::retry::Failure;
use crate::schema::{CrmField, Entity, Mapping, Problem, reference_target, validate};
use crate::sync::{PortalDeal, inbound, inbound_fields, outbound, to_portal};
use crate::watermark::{advance, is_news, pull_from};

/// One record per synced deal (id = the deal's id): its CRM ids, its state in the sync log, the deal as last
/// seen and the values both sides last agreed on.
pub const LINKS: Collection = Collection::new("links");
/// The connection's state (one record, [`STATE_ID`]): mapping, watermark, session, health.
pub const STATE: Collection = Collection::new("state");
pub const STATE_ID: &str = "sync";

/// The deal events a connector subscribes to: a deal syncs once it is approved.
pub const DEAL_TOPICS: &[&str] =
    &["deal.approved", "deal.won", "deal.lost", "deal.extended", "deal.expired", "deal.withdrawn"];
/// Published when the CRM changed a synced deal; deal registration applies it.
pub const CHANGED_TOPIC: &str = "crm.deal.changed";
/// Published for each opportunity an admin imports; deal registration creates the deal.
pub const IMPORT_TOPIC: &str = "crm.deal.import";

/// Links written per scheduled run, and pages pulled per run (the rest waits for the next run: each run is one
/// plugin invocation, under its deadline).
pub const WRITES_PER_RUN: u32 = 50;
pub const PAGES_PER_RUN: u32 = 10;
/// Pulled records matched to a link per run: each costs a write and perhaps an event, within the per-call budgets
/// the connectors' manifests ask for (`[limits]` writes and events). A run that stops mid-page resumes at the last
/// record it handled.
pub const APPLIED_PER_RUN: u32 = 500;

/// What a connector plugin gives the engine besides its CRM protocol.
pub trait Connector: Crm + Sized {
    /// The plugin's id (`crm-salesforce`), for its pages' addresses.
    const PLUGIN: &'static str;

    /// Builds the connection from the plugin's settings and secrets (read with `secrets::get`) and the kept
    /// session; a message in words when something is missing.
    fn connect(settings: &Value, session: &Value) -> Result<Self, String>;

    /// What of the session to keep in storage rather than secrets (Salesforce's instance URL).
    fn session(&self) -> Value {
        Value::Null
    }

    /// The mapping a new connection starts with.
    fn default_mapping() -> Mapping;
}

/// A link, which is also a line of the sync log. Fields missing from a stored link (one written by an older
/// version) take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Link {
    pub deal_id: String,
    pub customer: String,
    pub org_name: String,
    /// `pending` (to write), `synced`, `failed` (waits for a retry), `paused` (waits for the connection).
    pub status: String,
    /// The last sync's direction: `out` (portal → CRM) or `in`.
    pub direction: String,
    pub crm_id: Option<String>,
    pub customer_account: Option<String>,
    pub partner_account: Option<String>,
    pub contact: Option<String>,
    /// The opportunity was imported from the CRM: its account and contact are the CRM's, not the portal's.
    pub from_crm: bool,
    /// The portal's id is on the CRM record, so upserts by the external-id field find it.
    pub keyed: bool,
    pub attempts: u32,
    /// When the next automatic attempt is due (indexed; none when waiting for a person).
    pub next_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<i64>,
    pub synced_at: Option<i64>,
    /// The deal as the last event carried it.
    pub deal: Value,
    /// When the portal last changed the deal.
    pub portal_at: i64,
    /// The values (in the portal's terms) both sides agreed on at the last sync.
    pub synced: Map<String, Value>,
    /// The CRM's modification time last applied.
    pub crm_modified: Option<i64>,
    pub updated_at: i64,
}

impl Link {
    /// The CRM id of the deal's record of `entity`, once written.
    pub fn id_of(&self, entity: Entity) -> Option<&str> {
        match entity {
            Entity::Deal => self.crm_id.as_deref(),
            Entity::Customer => self.customer_account.as_deref(),
            Entity::Partner => self.partner_account.as_deref(),
            Entity::Contact => self.contact.as_deref(),
        }
    }
}

/// The connection's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncState {
    pub mapping: Option<Mapping>,
    pub watermark: Option<i64>,
    /// Where an interrupted pull continues: the CRM's continuation of a page sequence, or (after a run that
    /// stopped mid-page) the modification time of the last record handled.
    pub next: Option<String>,
    pub resume_from: Option<i64>,
    pub session: Value,
    pub last_success_at: Option<i64>,
    pub last_pull_at: Option<i64>,
    /// Why nothing syncs (the connection's failure), until a call succeeds again.
    pub connection_error: Option<String>,
    /// Changes applied from the CRM, in all.
    pub pulled: u64,
}

/// Outbound HTTP through the host, as a [`Transport`].
#[derive(Debug, Default)]
pub struct HostHttp;

impl Transport for HostHttp {
    fn send(&mut self, req: HttpRequest) -> Result<Reply, Failure> {
        let r = http::Request { method: req.method.to_string(), url: req.url, headers: req.headers, body: req.body };
        match http::send(&r) {
            Ok(resp) => Ok(Reply { status: resp.status, headers: resp.headers, body: resp.body }),
            Err(Error::Denied(m)) => Err(Failure::BadUrl(format!("the portal may not reach that address: {m}"))),
            Err(Error::Invalid(e)) => Err(Failure::BadUrl(e.message)),
            Err(Error::Unavailable(m)) => Err(Failure::Unavailable(m)),
            Err(other) => Err(Failure::Unavailable(format!("{other:?}"))),
        }
    }
}

/// The state record, and its revision (none before the first save).
pub fn load_state() -> Result<(SyncState, Option<u64>), Error> {
    Ok(match STATE.get::<SyncState>(STATE_ID)? {
        Some(r) => (r.data, Some(r.revision)),
        None => (SyncState::default(), None),
    })
}

pub(crate) fn save_state(state: &SyncState, revision: Option<u64>) -> Result<(), Error> {
    match revision {
        Some(rev) => STATE.update(STATE_ID, rev, state).map(|_| ()),
        None => STATE.insert_with(Some(STATE_ID), None, state).map(|_| ()),
    }
}

/// The mapping in force: the saved one, or the connector's default.
pub fn mapping<C: Connector>(state: &SyncState) -> Mapping {
    state.mapping.clone().unwrap_or_else(C::default_mapping)
}

/// Stores the secrets a call obtained (refreshed tokens) and the session; never logs them.
pub(crate) fn keep_session<C: Connector>(
    crm: &C,
    refreshed: &[(String, String)],
    state: &mut SyncState,
) -> Result<(), Error> {
    for (name, value) in refreshed {
        secrets::set(name, value)?;
    }
    state.session = crm.session();
    Ok(())
}

/// A connection, or the reason there is none (as a connection failure).
pub(crate) fn connect<C: Connector>(state: &SyncState) -> Result<C, Failure> {
    let settings = portico_sdk::settings::get::<Value>().map_err(|e| Failure::NotConfigured(format!("{e:?}")))?;
    C::connect(&settings, &state.session).map_err(Failure::NotConfigured)
}

/// The policy for the call's program.
fn policy() -> Policy {
    portico_sdk::settings::get::<Value>()
        .ok()
        .and_then(|s| s["conflict_policy"].as_str().and_then(Policy::parse))
        .unwrap_or_default()
}

/// Handles a deal event: records the deal on its link and writes it to the CRM now. Always succeeds: a failure is
/// the link's, to be retried from the log.
pub fn on_deal_event<C: Connector>(ctx: &Context, event: &Event) -> Result<(), Error> {
    if !DEAL_TOPICS.contains(&event.topic.as_str()) {
        return Ok(());
    }
    let payload: Value = events::payload(event)?;
    let Some(deal) = PortalDeal::from_json(&payload) else {
        return Err(Error::invalid("payload", "the event carries no deal"));
    };
    let now = ctx.now_ms();
    let existing = LINKS.get::<Link>(&deal.id)?;
    let mut link = existing.as_ref().map(|r| r.data.clone()).unwrap_or_default();
    link.deal_id = deal.id.clone();
    link.customer = deal.customer_name.clone();
    link.org_name = deal.org_name.clone();
    link.deal = payload.get("deal").cloned().unwrap_or(payload.clone());
    // A deal imported from this CRM is its opportunity there.
    if link.crm_id.is_none()
        && let Some((plugin, crm_id)) = &deal.origin
        && plugin == C::PLUGIN
    {
        link.crm_id = Some(crm_id.clone());
        link.from_crm = true;
        // Both sides agree on what the deal was imported with.
        for key in ["stage", "amount", "close_date"] {
            link.synced.insert(key.to_string(), deal.watched(key));
        }
    }
    link.portal_at = now;
    link.status = "pending".into();
    link.attempts = 0;
    link.next_at = Some(now);
    let (mut state, state_rev) = load_state()?;
    if state.connection_error.is_none() {
        attempt::<C>(ctx, &mut state, &mut link)?;
        save_state(&state, state_rev)?;
    } else {
        link.status = "paused".into();
        link.next_at = None;
        link.last_error = state.connection_error.clone();
    }
    save_link(existing.as_ref(), &link, now)
}

fn save_link(existing: Option<&Record<Link>>, link: &Link, now: i64) -> Result<(), Error> {
    let mut link = link.clone();
    link.updated_at = now;
    match existing {
        Some(r) => LINKS.update(&r.id, r.revision, &link).map(|_| ()),
        None => LINKS.insert_with(Some(&link.deal_id), None, &link).map(|_| ()),
    }
}

/// One attempt at writing a link's deal; the outcome is recorded on the link and the connection's state.
fn attempt<C: Connector>(ctx: &Context, state: &mut SyncState, link: &mut Link) -> Result<(), Error> {
    let now = ctx.now_ms();
    link.attempts += 1;
    link.last_attempt_at = Some(now);
    link.direction = "out".into();
    let m = mapping::<C>(state);
    let result = connect::<C>(state).and_then(|mut crm| {
        let mut t = HostHttp;
        let mut refreshed = Vec::new();
        let r = push(&mut crm, &mut t, &mut refreshed, &m, policy(), link);
        keep_session(&crm, &refreshed, state).map_err(|e| Failure::Unavailable(format!("{e:?}")))?;
        Ok((r?, crm.record_url(m.object_name(Entity::Deal), link.crm_id.as_deref().unwrap_or_default())))
    });
    match result {
        Ok((kept, url)) => {
            log::info(&format!(
                "deal {} written to {} as {}",
                link.deal_id,
                C::NAME,
                link.crm_id.as_deref().unwrap_or_default()
            ));
            // Fields the CRM changed since the last sync and keeps: the portal follows.
            if !kept.is_empty() {
                publish::<C>(&link.deal_id, &kept, link.crm_id.as_deref().unwrap_or_default(), &url)?;
            }
            link.status = "synced".into();
            link.attempts = 0;
            link.next_at = None;
            link.last_error = None;
            link.synced_at = Some(now);
            state.connection_error = None;
            state.last_success_at = Some(now);
        }
        Err(f) => fail(state, link, &f, now),
    }
    Ok(())
}

/// Publishes what the CRM changed on a synced deal, in the portal's terms, for deal registration to apply.
fn publish<C: Connector>(deal_id: &str, changes: &Map<String, Value>, crm_id: &str, url: &str) -> Result<(), Error> {
    events::emit(
        CHANGED_TOPIC,
        &serde_json::json!({ "deal_id": deal_id, "changes": changes, "crm_id": crm_id, "crm": C::NAME, "url": url }),
    )?;
    Ok(())
}

/// Records a failure on a link (and on the connection, when it is the connection's).
fn fail(state: &mut SyncState, link: &mut Link, f: &Failure, now: i64) {
    log::warn(&format!("deal {}: {} (attempt {})", link.deal_id, f.message(), link.attempts));
    link.last_error = Some(f.message());
    link.next_at = f.next_attempt(link.attempts, now);
    link.status = if f.is_connection() {
        state.connection_error = Some(f.message());
        "paused"
    } else if link.next_at.is_some() {
        "pending"
    } else {
        "failed"
    }
    .into();
}

/// Writes a deal and the records it links to, and links them. The customer's account (found by its domain or
/// created), the partner's account (upserted by the portal's org id) and the customer's contact (found by e-mail
/// or created, and linked to the customer's account when created here) are written once and their CRM ids kept
/// on the link; an opportunity imported from the CRM keeps the account and contact it has there. A deal written
/// before is read back first: a field the CRM changed since the last sync is decided by the policy, and what the
/// CRM keeps is left as it is there and returned (in the portal's terms) for the portal to follow.
fn push<C: Crm>(
    crm: &mut C,
    t: &mut dyn Transport,
    refreshed: &mut Vec<(String, String)>,
    m: &Mapping,
    policy: Policy,
    link: &mut Link,
) -> Result<Map<String, Value>, Failure> {
    let deal =
        PortalDeal::from_json(&link.deal).ok_or_else(|| Failure::Rejected("the stored deal is unreadable".into()))?;
    if !link.from_crm && link.customer_account.is_none() {
        link.customer_account =
            find_or_create(crm, t, refreshed, m, &deal, Entity::Customer, "domain")?.map(|(id, _)| id);
    }
    if let Some(om) = m.object(Entity::Partner)
        && link.partner_account.is_none()
    {
        let fields = outbound(&deal, m, Entity::Partner);
        let target = match &om.external_id {
            Some(f) if !deal.org_id.is_empty() => Target::ExternalId { field: f, value: &deal.org_id },
            _ => Target::New,
        };
        link.partner_account = Some(with_session(crm, t, refreshed, |c, t| c.write(t, &om.object, target, &fields))?);
    }
    if !link.from_crm
        && link.contact.is_none()
        && !deal.contact_name.trim().is_empty()
        && let Some((id, created)) = find_or_create(crm, t, refreshed, m, &deal, Entity::Contact, "email")?
    {
        // A contact found by e-mail stays with the account it has.
        if created {
            link_references(crm, t, refreshed, m, Entity::Contact, &id, link)?;
        }
        link.contact = Some(id);
    }
    let om = m.object(Entity::Deal).ok_or_else(|| Failure::Rejected("deals are not mapped".into()))?;
    let mut fields = outbound(&deal, m, Entity::Deal);
    let watched = inbound_fields(m);
    let mut kept = Map::new();
    let mut crm_values = Map::new();
    if let Some(crm_id) = link.crm_id.clone()
        && !watched.is_empty()
    {
        let names: Vec<String> = watched.iter().map(|(_, f)| f.clone()).collect();
        let now = with_session(crm, t, refreshed, |c, t| c.read(t, &om.object, &crm_id, &names))?;
        let decided = inbound(&now, &deal, m, &link.synced, policy, link.portal_at);
        for (key, crm_field) in &watched {
            if decided.portal.contains_key(*key) {
                fields.remove(crm_field);
            }
        }
        kept = decided.portal;
        crm_values = decided.synced;
        // What the portal has not changed since the last sync is left as the CRM has it (a rep may have moved the
        // opportunity to a stage the portal does not follow).
        for (key, crm_field) in &watched {
            if link.synced.get(*key).is_some_and(|v| *v == deal.watched(key)) {
                fields.remove(crm_field);
            }
        }
    }
    // An opportunity imported from the CRM is the CRM's: the portal writes back only what changes in the portal.
    if link.from_crm {
        fields.retain(|f, _| watched.iter().any(|(_, w)| w == f));
    }
    let target = match (&om.external_id, &link.crm_id) {
        // Until the portal's id is on the record (an opportunity imported from the CRM), it is written by its CRM
        // id and the external id put there; from then on, upserts by it find the same record.
        (Some(f), Some(id)) if !link.keyed => {
            fields.insert(f.clone(), Value::String(deal.id.clone()));
            Target::Id(id)
        }
        (Some(f), _) => Target::ExternalId { field: f, value: &deal.id },
        (None, Some(id)) => Target::Id(id),
        (None, None) => Target::New,
    };
    let id = with_session(crm, t, refreshed, |c, t| c.write(t, &om.object, target, &fields))?;
    link.crm_id = Some(id.clone());
    link.keyed = true;
    link_references(crm, t, refreshed, m, Entity::Deal, &id, link)?;
    // What was just written, and what the CRM kept, is what both sides agree on.
    for (key, _) in watched {
        let v = if kept.contains_key(key) {
            crm_values.get(key).cloned().unwrap_or(Value::Null)
        } else {
            deal.watched(key)
        };
        link.synced.insert(key.to_string(), v);
    }
    Ok(kept)
}

/// The CRM id of a deal's record found by the value of its `key` field (the customer's domain, the contact's
/// e-mail), or created from the deal; and whether it was created. `None` when the entity is not mapped.
fn find_or_create<C: Crm>(
    crm: &mut C,
    t: &mut dyn Transport,
    refreshed: &mut Vec<(String, String)>,
    m: &Mapping,
    deal: &PortalDeal,
    entity: Entity,
    key: &str,
) -> Result<Option<(String, bool)>, Failure> {
    let Some(om) = m.object(entity) else { return Ok(None) };
    let by = om.fields.iter().find(|(k, _)| k == key).map(|(_, f)| f.clone());
    let value = deal.value(entity, key, m).and_then(|v| v.as_str().map(String::from));
    if let (Some(field), Some(value)) = (&by, &value)
        && let Some(id) = with_session(crm, t, refreshed, |c, t| c.find(t, &om.object, field, value))?
    {
        return Ok(Some((id, false)));
    }
    let fields = outbound(deal, m, entity);
    Ok(Some((with_session(crm, t, refreshed, |c, t| c.write(t, &om.object, Target::New, &fields))?, true)))
}

/// Links record `id` of `entity` to the records its mapped reference fields name, where the link knows them.
fn link_references<C: Crm>(
    crm: &mut C,
    t: &mut dyn Transport,
    refreshed: &mut Vec<(String, String)>,
    m: &Mapping,
    entity: Entity,
    id: &str,
    link: &Link,
) -> Result<(), Failure> {
    let Some(om) = m.object(entity) else { return Ok(()) };
    for (key, field) in &om.fields {
        let Some(to) = reference_target(entity, key) else { continue };
        if let (Some(to_id), Some(to_om)) = (link.id_of(to), m.object(to)) {
            with_session(crm, t, refreshed, |c, t| c.associate(t, &om.object, id, field, &to_om.object, to_id))?;
        }
    }
    Ok(())
}

/// The `sync` schedule (and "sync now"): writes what is due, then pulls what changed. Returns a summary.
pub fn run<C: Connector>(ctx: &Context) -> Result<Value, Error> {
    let now = ctx.now_ms();
    let (mut state, rev) = load_state()?;
    // A paused connection is probed once per run: when it works again (the admin reconnected, the outage is
    // over), what waited is put back in line.
    if state.connection_error.is_some() && probe::<C>(&mut state).is_ok() {
        state.connection_error = None;
        requeue(now, &["paused"])?;
    }
    let mut written = 0;
    let due = LINKS
        .query()
        .all_orgs()
        // `range` excludes its upper bound: due means at or before now.
        .range("next_at", None::<i64>, Some(now + 1))
        .order_by("next_at", Direction::Asc)
        .limit(WRITES_PER_RUN)
        .fetch::<Link>()?;
    for r in due.records {
        let mut link = r.data.clone();
        attempt::<C>(ctx, &mut state, &mut link)?;
        save_link(Some(&r), &link, now)?;
        written += 1;
        if state.connection_error.is_some() {
            break;
        }
    }
    let pulled = if state.connection_error.is_none() { pull::<C>(ctx, &mut state)? } else { 0 };
    save_state(&state, rev)?;
    Ok(serde_json::json!({ "written": written, "pulled": pulled, "connection_error": state.connection_error }))
}

/// Pulls changed opportunities and applies them; returns how many changed a deal.
fn pull<C: Connector>(ctx: &Context, state: &mut SyncState) -> Result<u64, Error> {
    let now = ctx.now_ms();
    let m = mapping::<C>(state);
    let Some(om) = m.object(Entity::Deal) else { return Ok(0) };
    let fields: Vec<String> = inbound_fields(&m).into_iter().map(|(_, f)| f).collect();
    let mut crm = match connect::<C>(state) {
        Ok(c) => c,
        Err(f) => {
            state.connection_error = Some(f.message());
            return Ok(0);
        }
    };
    let mut t = HostHttp;
    let mut refreshed = Vec::new();
    let policy = policy();
    let mut applied = 0;
    // A first pull starts now: existing opportunities are brought in by an import, not by the schedule.
    let first = state.watermark.is_none();
    let since = state.resume_from.take().unwrap_or_else(|| pull_from(state.watermark, now));
    let mut handled = 0;
    'pages: for _ in 0..PAGES_PER_RUN {
        let next = state.next.clone();
        let page = with_session(&mut crm, &mut t, &mut refreshed, |c, t| {
            c.changed(t, &om.object, &fields, since, next.as_deref())
        });
        let page = match page {
            Ok(p) => p,
            Err(f) => {
                if f.is_connection() {
                    state.connection_error = Some(f.message());
                }
                break;
            }
        };
        let mut newest = None;
        for rec in &page.records {
            let found = LINKS.query().all_orgs().eq("crm_id", &rec.id).limit(1).fetch::<Link>()?;
            let Some(r) = found.records.into_iter().next().filter(|r| is_news(r.data.crm_modified, rec.modified))
            else {
                newest = advance(newest, Some(rec.modified));
                continue;
            };
            if handled == APPLIED_PER_RUN {
                // The budget is spent: the next run starts at this record's time (its repeats are skipped).
                state.watermark = advance(state.watermark, newest);
                state.resume_from = Some(rec.modified);
                state.next = None;
                break 'pages;
            }
            handled += 1;
            newest = advance(newest, Some(rec.modified));
            let mut link = r.data.clone();
            let Some(deal) = PortalDeal::from_json(&link.deal) else { continue };
            let result = inbound(rec, &deal, &m, &link.synced, policy, link.portal_at);
            if !result.portal.is_empty() {
                publish::<C>(&link.deal_id, &result.portal, &rec.id, &crm.record_url(&om.object, &rec.id))?;
                applied += 1;
            }
            if !result.crm.is_empty() {
                let back = with_session(&mut crm, &mut t, &mut refreshed, |c, t| {
                    c.write(t, &om.object, Target::Id(&rec.id), &result.crm)
                });
                if let Err(f) = back {
                    fail(state, &mut link, &f, now);
                }
            }
            link.synced = result.synced;
            link.crm_modified = Some(rec.modified);
            link.direction = "in".into();
            link.synced_at = Some(now);
            save_link(Some(&r), &link, now)?;
        }
        state.watermark = advance(state.watermark, newest);
        state.next = page.next;
        if state.next.is_none() {
            if first {
                state.watermark = advance(state.watermark, Some(since));
            }
            break;
        }
    }
    keep_session(&crm, &refreshed, state)?;
    if applied > 0 {
        log::info(&format!("{applied} change(s) pulled from {} applied", C::NAME));
    }
    state.last_pull_at = Some(now);
    state.pulled += applied;
    if state.connection_error.is_none() {
        state.last_success_at = Some(now);
    }
    Ok(applied)
}

/// Obtains a fresh session: whether the connection works.
fn probe<C: Connector>(state: &mut SyncState) -> Result<(), Failure> {
    let mut crm = connect::<C>(state)?;
    let refreshed = crm.refresh(&mut HostHttp)?;
    keep_session(&crm, &refreshed, state).map_err(|e| Failure::Unavailable(format!("{e:?}")))
}

/// Puts the links of the given statuses back in line, now.
fn requeue(now: i64, statuses: &[&str]) -> Result<u64, Error> {
    let mut n = 0;
    for status in statuses {
        for r in LINKS.query().all_orgs().eq("status", *status).limit(200).fetch::<Link>()?.records {
            put_in_line(&r, now)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Puts one link back in line: due now, its attempts counted afresh.
fn put_in_line(r: &Record<Link>, now: i64) -> Result<(), Error> {
    let mut link = r.data.clone();
    link.status = "pending".into();
    link.attempts = 0;
    link.next_at = Some(now);
    save_link(Some(r), &link, now)
}

/// Checks a mapping against the CRM's schema (read now) and saves it, or returns its problems.
pub fn save_mapping<C: Connector>(m: Mapping) -> Result<Result<(), Vec<Problem>>, Error> {
    let (mut state, rev) = load_state()?;
    let mut crm = connect::<C>(&state).map_err(|f| Error::Unavailable(f.message()))?;
    let mut t = HostHttp;
    let mut refreshed = Vec::new();
    let mut schemas: Vec<(String, Vec<CrmField>)> = Vec::new();
    for om in &m.objects {
        match with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, &om.object)) {
            Ok(fields) => schemas.push((om.object.clone(), fields)),
            Err(Failure::NotFound(_)) => {}
            Err(f) => return Err(Error::Unavailable(f.message())),
        }
    }
    keep_session(&crm, &refreshed, &mut state)?;
    let problems = validate(&m, C::NAME, |o| schemas.iter().find(|(n, _)| n == o).map(|(_, f)| f.as_slice()));
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    state.mapping = Some(m);
    save_state(&state, rev)?;
    Ok(Ok(()))
}

/// "Test connection": obtains a session and reads the deal object's schema; says in words what is wrong.
pub fn test<C: Connector>(ctx: &Context) -> Result<Value, Error> {
    let now = ctx.now_ms();
    let (mut state, rev) = load_state()?;
    let m = mapping::<C>(&state);
    let object = m.object_name(Entity::Deal);
    let result = connect::<C>(&state).and_then(|mut crm| {
        let mut t = HostHttp;
        let mut refreshed = Vec::new();
        let r = crm.refresh(&mut t).and_then(|fresh| {
            refreshed = fresh;
            crm.describe(&mut t, object)
        });
        keep_session(&crm, &refreshed, &mut state).map_err(|e| Failure::Unavailable(format!("{e:?}")))?;
        r
    });
    let answer = match result {
        Ok(fields) => {
            if state.connection_error.take().is_some() {
                requeue(now, &["paused"])?;
            }
            serde_json::json!({ "ok": true, "message": format!("Connected: {object} has {} fields.", fields.len()) })
        }
        Err(f) => serde_json::json!({ "ok": false, "message": f.message() }),
    };
    save_state(&state, rev)?;
    Ok(answer)
}

/// Opportunities offered for import per page, and taken per import.
pub const IMPORT_LIMIT: usize = 100;
/// How far back the import page looks for opportunities (they are the CRM's, changed in the last year).
const IMPORT_LOOKBACK_MS: i64 = 365 * 86_400_000;

/// An opportunity as the import shows it, in the portal's terms.
fn import_row<C: Connector>(crm: &C, m: &Mapping, object: &str, rec: &CrmRecord) -> Value {
    let om = m.object(Entity::Deal);
    let field = |key: &str| om.and_then(|o| o.fields.iter().find(|(k, _)| k == key)).map(|(_, f)| f.as_str());
    let value = |key: &str| {
        field(key).and_then(|f| rec.fields.get(f)).and_then(|raw| to_portal(key, raw, m)).unwrap_or(Value::Null)
    };
    serde_json::json!({
        "crm_id": rec.id, "url": crm.record_url(object, &rec.id),
        "name": field("name").and_then(|f| rec.fields.get(f)).cloned().unwrap_or(Value::Null),
        "amount": value("amount"), "close_date": value("close_date"),
        // A stage the portal does not follow is an open opportunity: it comes in approved.
        "status": value("stage").as_str().unwrap_or("approved"),
    })
}

/// The deal fields an import reads: the name and what a pull follows.
fn import_fields(m: &Mapping) -> Vec<String> {
    let mut fields: Vec<String> = inbound_fields(m).into_iter().map(|(_, f)| f).collect();
    if let Some((_, name)) = m.object(Entity::Deal).and_then(|o| o.fields.iter().find(|(k, _)| k == "name")) {
        fields.push(name.clone());
    }
    fields
}

/// Whether a deal is linked to this CRM record already.
fn is_linked(crm_id: &str) -> Result<bool, Error> {
    Ok(LINKS.query().all_orgs().eq("crm_id", crm_id).count()? > 0)
}

/// Opportunities of the CRM that no deal is linked to, changed in the last year (the CRM's first page of them,
/// oldest first): what the import page offers. `Err` says in words why the CRM could not be asked.
pub fn import_candidates<C: Connector>(ctx: &Context) -> Result<Result<Vec<Value>, String>, Error> {
    let (mut state, rev) = load_state()?;
    let m = mapping::<C>(&state);
    let Some(om) = m.object(Entity::Deal) else { return Ok(Err("deals are not mapped".into())) };
    let mut crm = match connect::<C>(&state) {
        Ok(c) => c,
        Err(f) => return Ok(Err(f.message())),
    };
    let (mut t, mut refreshed) = (HostHttp, Vec::new());
    let fields = import_fields(&m);
    let since = ctx.now_ms() - IMPORT_LOOKBACK_MS;
    let page = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.changed(t, &om.object, &fields, since, None));
    keep_session(&crm, &refreshed, &mut state)?;
    save_state(&state, rev)?;
    let page = match page {
        Ok(p) => p,
        Err(f) => return Ok(Err(f.message())),
    };
    let mut out = Vec::new();
    for rec in page.records.iter().rev() {
        if out.len() == IMPORT_LIMIT {
            break;
        }
        if !is_linked(&rec.id)? {
            out.push(import_row(&crm, &m, &om.object, rec));
        }
    }
    Ok(Ok(out))
}

/// Imports opportunities as deals of a partner organisation: each is read from the CRM (with its account, for
/// the customer's name, domain and country) and handed to deal registration as a `crm.deal.import` event, which
/// creates the deal (once, however often it is imported) and links it back to the opportunity. Returns how many
/// were handed over and, in words, why the others were not.
pub fn import<C: Connector>(org_id: &str, ids: &[String]) -> Result<Value, Error> {
    let org = portico_sdk::directory::get_org(org_id)?
        .filter(|o| !o.is_vendor)
        .ok_or_else(|| Error::invalid("org_id", "choose a partner organisation"))?;
    if ids.is_empty() {
        return Err(Error::invalid("ids", "choose at least one opportunity"));
    }
    if ids.len() > IMPORT_LIMIT {
        return Err(Error::invalid("ids", format!("import at most {IMPORT_LIMIT} opportunities at a time")));
    }
    let (mut state, rev) = load_state()?;
    let m = mapping::<C>(&state);
    let om = m.object(Entity::Deal).ok_or_else(|| Error::Conflict("deals are not mapped".into()))?;
    let mut crm = connect::<C>(&state).map_err(|f| Error::Unavailable(f.message()))?;
    let (mut t, mut refreshed) = (HostHttp, Vec::new());
    let fields = import_fields(&m);
    let (mut queued, mut skipped) = (0, Vec::new());
    let mut broken: Option<String> = None;
    for id in ids {
        let id = id.trim();
        let outcome = if let Some(why) = &broken {
            Err(why.clone())
        } else if is_linked(id)? {
            Err("already in the portal".to_string())
        } else {
            match read_for_import(&mut crm, &mut t, &mut refreshed, &m, &om.object, id, &fields) {
                Ok(payload) => Ok(payload),
                Err(f) => {
                    if f.is_connection() {
                        broken = Some(f.message());
                    }
                    Err(f.message())
                }
            }
        };
        match outcome {
            Ok((rec, customer)) => {
                let row = import_row(&crm, &m, &om.object, &rec);
                let name = row["name"].as_str().unwrap_or_default().to_string();
                let deal = serde_json::json!({
                    "customer_name": customer.0.unwrap_or_else(|| name.clone()),
                    "customer_domain": customer.1.unwrap_or_default(),
                    "country": customer.2.unwrap_or_default(),
                    "amount": row["amount"], "expected_close_date": row["close_date"].as_str().unwrap_or_default(),
                    "notes": format!("Imported from {}: {name}", C::NAME),
                });
                events::emit(
                    IMPORT_TOPIC,
                    &serde_json::json!({ "crm_id": rec.id, "crm": C::NAME, "url": row["url"], "org_id": org.id,
                                         "status": row["status"], "deal": deal }),
                )?;
                queued += 1;
            }
            Err(reason) => skipped.push(serde_json::json!({ "crm_id": id, "reason": reason })),
        }
    }
    keep_session(&crm, &refreshed, &mut state)?;
    save_state(&state, rev)?;
    log::info(&format!("{queued} opportunit(y/ies) imported from {} for {}", C::NAME, org.name));
    Ok(serde_json::json!({ "queued": queued, "skipped": skipped, "org": org.name }))
}

/// The customer's name, domain and country, as the account's fields hold them.
type Customer = (Option<String>, Option<String>, Option<String>);

/// An opportunity, and its account's name, domain and country where the mapping links one.
fn read_for_import<C: Crm>(
    crm: &mut C,
    t: &mut dyn Transport,
    refreshed: &mut Vec<(String, String)>,
    m: &Mapping,
    object: &str,
    id: &str,
    fields: &[String],
) -> Result<(CrmRecord, Customer), Failure> {
    let rec = with_session(crm, t, refreshed, |c, t| c.read(t, object, id, fields))?;
    let mut customer = (None, None, None);
    let link_field = m.object(Entity::Deal).and_then(|o| o.fields.iter().find(|(k, _)| k == "customer_account"));
    if let (Some((_, field)), Some(acct)) = (link_field, m.object(Entity::Customer))
        && let Some(acct_id) = with_session(crm, t, refreshed, |c, t| c.linked(t, object, id, field))?
    {
        let names: Vec<String> = acct.fields.iter().map(|(_, f)| f.clone()).collect();
        let got = with_session(crm, t, refreshed, |c, t| c.read(t, &acct.object, &acct_id, &names))?;
        let text = |key: &str| {
            acct.fields
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, f)| got.fields.get(f))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        customer = (text("name"), text("domain"), text("country"));
    }
    Ok((rec, customer))
}

/// Puts failed and paused links back in line, now (after a fix or a reconnect); one link, or all.
pub fn retry(ctx: &Context, id: Option<&str>) -> Result<u64, Error> {
    let now = ctx.now_ms();
    let Some(id) = id else {
        let (mut state, rev) = load_state()?;
        state.connection_error = None;
        save_state(&state, rev)?;
        return requeue(now, &["failed", "paused"]);
    };
    let Some(r) = LINKS.get::<Link>(id)? else { return Ok(0) };
    put_in_line(&r, now)?;
    Ok(1)
}

/// A page of the sync log, newest first, of one status or all: the entries and the cursor of the next page.
fn log_page<C: Connector>(
    state: &SyncState,
    status: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Value>, Option<String>), Error> {
    let mut q = LINKS.query().all_orgs().order_by("updated_at", Direction::Desc);
    if let Some(s) = status {
        q = q.eq("status", s);
    }
    let page = q.limit(limit).after(cursor.map(String::from)).fetch::<Link>()?;
    let m = mapping::<C>(state);
    let crm = connect::<C>(state).ok();
    let entries = page.records.iter().map(|r| log_entry(r, crm.as_ref(), m.object_name(Entity::Deal))).collect();
    Ok((entries, page.next_cursor))
}

/// The link as the log shows it.
pub fn log_entry<C: Connector>(r: &Record<Link>, crm: Option<&C>, object: &str) -> Value {
    let l = &r.data;
    serde_json::json!({
        "deal_id": l.deal_id, "customer": l.customer, "partner": l.org_name, "status": l.status,
        "direction": l.direction, "crm_id": l.crm_id,
        "crm_url": l.crm_id.as_deref().zip(crm).map(|(id, c)| c.record_url(object, id)),
        "attempts": l.attempts, "last_error": l.last_error, "next_at": l.next_at,
        "last_attempt_at": l.last_attempt_at, "synced_at": l.synced_at, "updated_at": l.updated_at,
    })
}

/// The connection's health: last success, pending and failed links, failures in the last 24 hours.
pub fn status(ctx: &Context) -> Result<Value, Error> {
    let (state, _) = load_state()?;
    let count = |s: &str| LINKS.query().all_orgs().eq("status", s).count();
    let day_ago = ctx.now_ms() - 86_400_000;
    let failed_today = LINKS
        .query()
        .all_orgs()
        .one_of("status", ["failed", "paused"])
        .range("updated_at", Some(day_ago), None::<i64>)
        .count()?;
    Ok(serde_json::json!({
        "connected": state.connection_error.is_none(),
        "connection_error": state.connection_error,
        "last_success_at": state.last_success_at,
        "last_pull_at": state.last_pull_at,
        "watermark": state.watermark,
        "pending": count("pending")?,
        "synced": count("synced")?,
        "failed": count("failed")?,
        "paused": count("paused")?,
        "failed_24h": failed_today,
        "pulled": state.pulled,
        "mapping_saved": state.mapping.is_some(),
    }))
}

/// The JSON API every connector serves under `/api/v1/p/{plugin}/`: `status`, `test`, `mapping` (GET, PUT),
/// `log`, `log/{id}/retry`, `log/retry-failed`, `sync`, `import` (GET: the opportunities on offer; POST
/// `{"org_id", "ids"}`: import them as the partner's deals).
pub fn api<C: Connector>(ctx: &Context, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["status"]) => Ok(Response::json(&status(ctx)?)),
        ("POST", ["test"]) => Ok(Response::json(&test::<C>(ctx)?)),
        ("GET", ["mapping"]) => {
            let (state, _) = load_state()?;
            Ok(Response::json(
                &serde_json::json!({ "mapping": mapping::<C>(&state), "saved": state.mapping.is_some() }),
            ))
        }
        ("PUT", ["mapping"]) => {
            let m: Mapping = req.json()?;
            match save_mapping::<C>(m)? {
                Ok(()) => Ok(Response::json(&serde_json::json!({ "saved": true }))),
                Err(problems) => Ok(Response::json_status(
                    422,
                    &serde_json::json!({ "error": { "code": "invalid_mapping", "message": "the mapping does not fit the CRM's schema", "fields": problems } }),
                )),
            }
        }
        ("GET", ["log"]) => {
            let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(50u32).clamp(1, 200);
            let (state, _) = load_state()?;
            let (entries, next_cursor) = log_page::<C>(&state, req.query("status"), limit, req.query("cursor"))?;
            Ok(Response::json(&serde_json::json!({ "entries": entries, "next_cursor": next_cursor })))
        }
        ("POST", ["log", "retry-failed"]) => Ok(Response::json(&serde_json::json!({ "queued": retry(ctx, None)? }))),
        ("POST", ["log", id, "retry"]) => match retry(ctx, Some(id))? {
            0 => Err(Error::NotFound("no such sync log entry".into())),
            n => Ok(Response::json(&serde_json::json!({ "queued": n }))),
        },
        ("POST", ["sync"]) => Ok(Response::json(&run::<C>(ctx)?)),
        ("GET", ["import"]) => match import_candidates::<C>(ctx)? {
            Ok(candidates) => Ok(Response::json(&serde_json::json!({ "candidates": candidates }))),
            Err(why) => Err(Error::Unavailable(why)),
        },
        ("POST", ["import"]) => {
            #[derive(Deserialize)]
            struct Body {
                org_id: String,
                ids: Vec<String>,
            }
            let b: Body = req.json()?;
            Ok(Response::json(&import::<C>(&b.org_id, &b.ids)?))
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}

/// The admin's page: the connection's health with "Test connection", "Sync now" and "Retry all failed", the
/// mapping in force, and the sync log with a retry per entry. A form posts `action` back to the page.
pub fn page<C: Connector>(ctx: &Context, req: &Request, title: &str) -> Result<Response, Error> {
    match req.segments().as_slice() {
        [] => {}
        ["mapping"] => return crate::admin::mapping_page::<C>(req, &format!("{} field mapping", C::NAME)),
        ["import"] => return crate::admin::import_page::<C>(ctx, req, &format!("Import from {}", C::NAME)),
        _ => return Err(Error::NotFound("no such page".into())),
    }
    let mut flash = None;
    if req.method == "POST" {
        let action = req.field("action").unwrap_or("");
        flash = Some(match action {
            "test" => test::<C>(ctx)?,
            "sync" => {
                let r = run::<C>(ctx)?;
                let message = match r["connection_error"].as_str() {
                    Some(e) => format!("Nothing synced: {e}"),
                    None => format!(
                        "Wrote {} deal(s) and applied {} change(s) from {}.",
                        r["written"],
                        r["pulled"],
                        C::NAME
                    ),
                };
                serde_json::json!({ "ok": r["connection_error"].is_null(), "message": message })
            }
            "retry-failed" => {
                serde_json::json!({ "ok": true, "message": format!("{} entr(y/ies) put back in line.", retry(ctx, None)?) })
            }
            a => match a.strip_prefix("retry:") {
                Some(id) if retry(ctx, Some(id))? == 1 => {
                    serde_json::json!({ "ok": true, "message": "Put back in line." })
                }
                _ => return Err(Error::invalid("action", "no such action")),
            },
        });
    }
    let health = status(ctx)?;
    let (state, _) = load_state()?;
    let m = mapping::<C>(&state);
    let filter = req.query("status").filter(|s| ["pending", "synced", "failed", "paused"].contains(s));
    let (entries, next_cursor) = log_page::<C>(&state, filter, 50, req.query("cursor"))?;
    let fields: Vec<Value> = m
        .objects
        .iter()
        .flat_map(|om| {
            om.fields.iter().map(move |(k, f)| {
                let label = crate::schema::portal_field(om.entity, k).map_or(k.as_str(), |p| p.label);
                serde_json::json!({ "entity": om.entity.label(), "portal": label, "object": om.object, "crm": f })
            })
        })
        .collect();
    Ok(Response::page(
        "sync.html",
        title,
        &serde_json::json!({
            "crm": C::NAME, "base": format!("/p/{}/", C::PLUGIN), "status": health, "flash": flash,
            "entries": entries, "next_cursor": next_cursor, "fields": fields, "stages": m.stages,
            "filter": req.query("status"),
        }),
    ))
}

/// The sync-health widget: the connection, the last success, failures in the last 24 hours, and the sync log's
/// entries by status as a chart.
pub fn widget<C: Connector>(ctx: &Context) -> Result<View, Error> {
    let health = status(ctx)?;
    let statuses = [("synced", "Synced"), ("pending", "Waiting"), ("failed", "Failed"), ("paused", "Paused")];
    let labels: Vec<&str> = statuses.iter().map(|(_, l)| *l).collect();
    let counts: Vec<Value> = statuses.iter().map(|(k, _)| health[*k].clone()).collect();
    let crm = C::NAME;
    Ok(View {
        template: "widget_sync.html".into(),
        title: format!("{crm} sync health"),
        context: serde_json::json!({ "crm": crm, "base": format!("/p/{}/", C::PLUGIN), "status": health,
                                     "labels": labels, "counts": counts })
        .to_string(),
        status: 200,
    })
}
