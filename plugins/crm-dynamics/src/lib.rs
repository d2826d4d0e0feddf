//! The Dynamics 365 connector. [`api`] speaks the Dataverse Web API for the sync engine of `portico-crm`; the
//! plugin's pages, routes and schedule come with the engine.

pub mod api;
