//! Local CRMs that speak each vendor's REST protocol for the endpoints the connectors use, for the connectors'
//! tests and the bench (no network beyond loopback).

pub mod salesforce;
