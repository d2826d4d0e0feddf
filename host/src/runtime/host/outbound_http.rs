//! `portico:plugin/outbound-http`: requests only to hosts the manifest names, never into private networks, with
//! redirects checked hop by hop and the answer cut at a cap (`crate::outbound`).

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::outbound_http::{Host, Request, Response};
use super::super::state::HostState;
use super::{denied, invalid};
use crate::outbound::{OutboundError, OutboundRequest};

impl Host for HostState {
    async fn send(&mut self, req: Request) -> Result<Response, PluginError> {
        let out = self.shared.http.clone();
        let req = OutboundRequest { method: req.method, url: req.url, headers: req.headers, body: req.body };
        match out.send(&self.plugin.manifest.grants.outbound_hosts, req).await {
            Ok(r) => Ok(Response { status: r.status, headers: r.headers, body: r.body }),
            Err(OutboundError::Denied(m)) => Err(denied(m)),
            Err(OutboundError::Invalid(m)) => Err(invalid("url", m)),
            Err(OutboundError::Unavailable(m)) => Err(PluginError::Unavailable(m)),
        }
    }
}
