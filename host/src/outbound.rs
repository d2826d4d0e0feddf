//! Outbound HTTP on plugins' behalf (the `outbound-http` import, and so every CRM connector): only to hosts the
//! plugin's manifest names, over HTTPS, and never into the portal's own network. Addresses are checked after DNS
//! resolution, by the resolver the connection itself uses (so a name cannot resolve to a public address for the
//! check and a private one for the connection), and IP literals in any spelling (`2130706433`, `0x7f.1`) are
//! normalised by URL parsing first. Loopback, private, link-local (cloud metadata), unique-local, multicast,
//! unspecified and reserved addresses are refused unless the operator lists them (`runtime.outbound_allow`).
//! Redirects are followed by hand, a few times at most, each hop checked like the first and only to declared
//! hosts. The answer is read as it arrives and cut at the cap, so a huge answer costs the cap, not its size.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Why an outbound request was not made or not completed. Messages are for the plugin's author.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The plugin may not reach this (undeclared host, private address, scheme).
    #[error("{0}")]
    Denied(String),
    /// The request itself is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The other side failed, timed out, or answered too much.
    #[error("{0}")]
    Unavailable(String),
}

/// A request as the plugin gives it.
#[derive(Debug)]
pub struct OutboundRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The answer.
#[derive(Debug)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The client plugins' requests go through.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow: Arc<Vec<IpNet>>,
    max_response: usize,
}

impl Outbound {
    /// A client that reaches `allow`ed private addresses only, and reads at most `max_response` bytes of an answer.
    pub fn new(allow: Vec<IpNet>, max_response: usize) -> Self {
        let allow = Arc::new(allow);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { allow: allow.clone() }))
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .expect("an HTTP client with the default TLS roots");
        Outbound { client, allow, max_response }
    }

    /// Sends a request for a plugin whose manifest declares `declared` hosts.
    pub async fn send(&self, declared: &[String], req: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let mut url = url::Url::parse(&req.url).map_err(|e| OutboundError::Invalid(format!("not a URL: {e}")))?;
        let mut method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| OutboundError::Invalid("not an HTTP method".into()))?;
        let mut body = req.body;
        for _ in 0..=MAX_REDIRECTS {
            self.check(&url, declared)?;
            let mut builder = self.client.request(method.clone(), url.clone()).body(body.clone());
            for (k, v) in &req.headers {
                builder = builder.header(k, v);
            }
            let mut res = builder.send().await.map_err(|e| self.failed(&url, e))?;
            let status = res.status();
            if status.is_redirection()
                && let Some(location) = res.headers().get(reqwest::header::LOCATION)
            {
                let location = location.to_str().map_err(|_| OutboundError::Unavailable("a bad redirect".into()))?;
                url = url.join(location).map_err(|e| {
                    OutboundError::Unavailable(format!("a redirect to something that is not a URL: {e}"))
                })?;
                // As browsers do: 303, and 301/302 after a POST, continue with a GET and no body.
                if status == reqwest::StatusCode::SEE_OTHER
                    || (matches!(status.as_u16(), 301 | 302) && method == reqwest::Method::POST)
                {
                    method = reqwest::Method::GET;
                    body = Vec::new();
                }
                continue;
            }
            if res.content_length().is_some_and(|n| n > self.max_response as u64) {
                return Err(self.too_large());
            }
            let headers = res
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let mut buf = Vec::new();
            while let Some(chunk) = res.chunk().await.map_err(|e| self.failed(&url, e))? {
                if buf.len() + chunk.len() > self.max_response {
                    return Err(self.too_large());
                }
                buf.extend_from_slice(&chunk);
            }
            return Ok(OutboundResponse { status: status.as_u16(), headers, body: buf });
        }
        Err(OutboundError::Unavailable(format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// A URL the plugin may reach: a declared host, HTTPS (plain HTTP only to a loopback address the operator
    /// allowed, as tests use), and an IP literal only where addresses may be reached.
    fn check(&self, url: &url::Url, declared: &[String]) -> Result<(), OutboundError> {
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            None => return Err(OutboundError::Invalid("the URL has no host".into())),
        };
        if !declared.iter().any(|d| declares(d, &host)) {
            return Err(OutboundError::Denied(format!("{host} is not among the outbound hosts in plugin.toml")));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !reachable(ip, &self.allow)
        {
            return Err(OutboundError::Denied(format!(
                "{host} is a private or reserved address, which plugins may not reach"
            )));
        }
        let loopback_allowed = literal.is_some_and(|ip| ip.is_loopback() && reachable(ip, &self.allow))
            || (host == "localhost" && self.allow.iter().any(|n| n.contains(&IpAddr::from([127, 0, 0, 1]))));
        match url.scheme() {
            "https" => Ok(()),
            "http" if loopback_allowed => Ok(()),
            _ => Err(OutboundError::Invalid("use https".into())),
        }
    }

    fn failed(&self, url: &url::Url, e: reqwest::Error) -> OutboundError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if let Some(b) = s.downcast_ref::<Blocked>() {
                return OutboundError::Denied(b.0.clone());
            }
            source = s.source();
        }
        let host = url.host_str().unwrap_or_default();
        if e.is_timeout() {
            OutboundError::Unavailable(format!("{host} did not answer in time"))
        } else {
            OutboundError::Unavailable(format!("the request to {host} failed: {}", e.without_url()))
        }
    }

    fn too_large(&self) -> OutboundError {
        OutboundError::Unavailable(format!(
            "the answer was larger than {} MiB, so it was cut off",
            self.max_response >> 20
        ))
    }
}

/// Whether a manifest's `declared` host (or `*.domain`, every host under the domain) covers `host`.
fn declares(declared: &str, host: &str) -> bool {
    match declared.strip_prefix("*.") {
        Some(domain) => normalize_host(domain)
            .is_some_and(|d| host.strip_suffix(d.as_str()).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))),
        None => normalize_host(declared).as_deref() == Some(host),
    }
}

/// A host as a manifest declares it, in the form URL parsing gives it (`2130706433` is `127.0.0.1`).
fn normalize_host(declared: &str) -> Option<String> {
    let url = url::Url::parse(&format!("https://{declared}/")).ok()?;
    Some(match url.host()? {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    })
}

/// Whether plugins may connect to `ip`: a public unicast address, or one the operator allowed.
pub fn reachable(ip: IpAddr, allow: &[IpNet]) -> bool {
    if allow.iter().any(|n| n.contains(&ip)) {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return reachable(IpAddr::V4(v4), allow);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is a metadata address)
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64, which embeds an IPv4 address
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2002)) // 6to4, which embeds an IPv4 address
        }
    }
}

fn public_v4(ip: std::net::Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16: cloud metadata services live here
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (carrier-grade NAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240) // reserved
}

/// The refusal the resolver gives, found again in the error chain for a clear message.
#[derive(Debug)]
struct Blocked(String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Blocked {}

/// Resolves names for the connection, keeping only the addresses plugins may reach.
struct GuardedResolver {
    allow: Arc<Vec<IpNet>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok: Vec<SocketAddr> = found.iter().copied().filter(|a| reachable(a.ip(), &allow)).collect();
            if ok.is_empty() {
                let why = if found.is_empty() {
                    format!("{host} does not resolve")
                } else {
                    format!("{host} resolves to a private or reserved address, which plugins may not reach")
                };
                return Err(Box::new(Blocked(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(ok.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_unreachable_unless_allowed() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "240.0.0.1",
            "192.0.0.1",
        ] {
            assert!(!reachable(bad.parse().unwrap(), &[]), "{bad}");
        }
        for good in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(reachable(good.parse().unwrap(), &[]), "{good}");
        }
        let allow: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        assert!(reachable("127.0.0.1".parse().unwrap(), &allow));
        assert!(!reachable("10.0.0.1".parse().unwrap(), &allow));
    }

    #[test]
    fn ip_literals_in_any_spelling_are_the_same_host() {
        for spelling in ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "127.0.0.1"] {
            assert_eq!(normalize_host(spelling).as_deref(), Some("127.0.0.1"), "{spelling}");
        }
        assert_eq!(normalize_host("API.Example.com").as_deref(), Some("api.example.com"));
    }

    #[test]
    fn a_wildcard_covers_the_hosts_under_its_domain_only() {
        for host in ["acme.my.salesforce.com", "a.b.my.salesforce.com"] {
            assert!(declares("*.my.salesforce.com", host), "{host}");
        }
        for host in
            ["my.salesforce.com", "evilmy.salesforce.com", "acme.my.salesforce.com.evil.example", ".my.salesforce.com"]
        {
            assert!(!declares("*.my.salesforce.com", host), "{host}");
        }
        assert!(declares("*.My.Salesforce.com", "acme.my.salesforce.com"));
        assert!(declares("login.salesforce.com", "login.salesforce.com"));
        assert!(!declares("login.salesforce.com", "x.login.salesforce.com"));
    }

    #[tokio::test]
    async fn loopback_in_other_spellings_and_undeclared_hosts_are_refused() {
        let out = Outbound::new(Vec::new(), 1 << 20);
        let declared = vec!["127.0.0.1".to_string(), "localhost".to_string(), "example.com".to_string()];
        for url in ["http://2130706433/", "http://0x7f.1/", "https://127.0.0.1/", "https://[::ffff:7f00:1]/"] {
            let req = OutboundRequest { method: "GET".into(), url: url.into(), headers: vec![], body: vec![] };
            assert!(
                matches!(
                    out.send(&declared, req).await,
                    Err(OutboundError::Denied(_)) | Err(OutboundError::Invalid(_))
                ),
                "{url}"
            );
        }
        let req = OutboundRequest {
            method: "GET".into(),
            url: "https://evil.example/".into(),
            headers: vec![],
            body: vec![],
        };
        let e = out.send(&declared, req).await.unwrap_err().to_string();
        assert!(e.contains("not among the outbound hosts"), "{e}");
        let req =
            OutboundRequest { method: "GET".into(), url: "https://localhost/".into(), headers: vec![], body: vec![] };
        let e = out.send(&declared, req).await.unwrap_err().to_string();
        assert!(e.contains("private or reserved"), "{e}");
    }
}
