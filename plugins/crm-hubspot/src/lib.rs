//! The HubSpot connector. [`api`] speaks HubSpot's CRM API for the sync engine of `portico-crm`; the plugin's
//! pages, routes and schedule come with the engine.

pub mod api;
