//! What the CRM connector plugins (`crm-salesforce`, `crm-hubspot`, `crm-dynamics`) have in common, kept free of
//! any one CRM's protocol and of the host, so that it is tested natively and each connector only speaks its CRM:
//!
//! - [`connector`]: the calls each CRM's protocol implements (refresh, describe, write, find, pull changes) over a
//!   transport the plugin backs with the host's outbound HTTP, and the session rule every call follows;
//! - [`admin`]: the mapping editor and the import of existing opportunities, the admin's pages beside the sync
//!   page;
//! - [`engine`]: the sync itself on the plugin SDK — deal events written to the CRM, the schedule's pulls, the
//!   sync log and its retries, the connection's health, and the JSON API every connector serves;
//! - [`schema`]: the portal's side of a mapping (which deal, partner-org and contact fields can be synced), a CRM
//!   object's fields as its own schema describes them, and the checks that refuse a mapping when it is saved
//!   (unknown field, incompatible type, read-only target, required field left unmapped, unknown picklist value),
//!   rather than when a sync first trips over it;
//! - [`conflict`]: what happens when both sides changed the same field since the last sync;
//! - [`retry`]: how a failed call is classified (expired session, rate limit, bad credentials, missing permission,
//!   bad data, outage) and when it is tried again;
//! - [`sync`]: the CRM fields a deal is written as, and what a pulled record changes on either side, field by
//!   field under the conflict policy;
//! - [`watermark`]: where the next pull starts, with an overlap so an edit made during a pull is not lost, and how
//!   the overlap's repeats are told apart from real changes.

pub mod admin;
pub mod conflict;
pub mod connector;
pub mod engine;
pub mod retry;
pub mod schema;
pub mod sync;
pub mod watermark;
