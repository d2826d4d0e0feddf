//! `portico:plugin/outbound-http`: requests only to hosts the manifest names, with a timeout.

use std::time::Duration;

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::outbound_http::{Host, Request, Response};
use super::super::state::HostState;
use super::{denied, invalid};

/// Largest response body handed to a plugin.
const MAX_RESPONSE: usize = 8 * 1024 * 1024;

impl Host for HostState {
    async fn send(&mut self, req: Request) -> Result<Response, PluginError> {
        let url = url::Url::parse(&req.url).map_err(|e| invalid("url", format!("not a URL: {e}")))?;
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        if !self.plugin.manifest.grants.outbound_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
            return Err(denied(format!("{host} is not among the outbound hosts in plugin.toml")));
        }
        let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]");
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(invalid("url", "use https (plain http only to loopback, for tests)"));
        }
        let method =
            reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|_| invalid("method", "not an HTTP method"))?;
        let mut builder = self.shared.http.request(method, url).timeout(Duration::from_secs(10)).body(req.body);
        for (k, v) in req.headers {
            builder = builder.header(k, v);
        }
        let result = async move {
            let res = builder.send().await?;
            let status = res.status().as_u16();
            let headers = res
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let body = res.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        match result {
            Ok((_, _, body)) if body.len() > MAX_RESPONSE => {
                Err(PluginError::Unavailable("the response was too large".into()))
            }
            Ok((status, headers, body)) => Ok(Response { status, headers, body: body.to_vec() }),
            Err(e) => Err(PluginError::Unavailable(format!("the request failed: {}", e.without_url()))),
        }
    }
}
