//! What each connector implements for its CRM, over a transport that the plugin backs with the host's outbound
//! HTTP (and a test with a script), and the one rule every call follows: an expired session is refreshed once and
//! the call retried once.

use serde_json::{Map, Value};

use crate::retry::Failure;
use crate::schema::CrmField;

/// An HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &'static str, url: impl Into<String>) -> Self {
        Request { method, url: url.into(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = body.to_string().into_bytes();
        self.header("Content-Type", "application/json")
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        self.body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes();
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a URL's path segment or query value and
/// for form bodies alike.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `s` when it is a non-empty run of characters `allowed` accepts, so that it can go into a URL or a query bare;
/// else the record is rejected, saying `s` is not `what` ("a Salesforce API name").
pub fn checked<'a>(s: &'a str, allowed: fn(char) -> bool, what: &str) -> Result<&'a str, Failure> {
    if !s.is_empty() && s.chars().all(allowed) { Ok(s) } else { Err(Failure::Rejected(format!("{s:?} is not {what}"))) }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends requests: the host's outbound HTTP in a plugin, a script in a test. A transport failure (no route, a
/// timeout, a host the plugin may not reach) is already a [`Failure`].
pub trait Transport {
    fn send(&mut self, req: Request) -> Result<Reply, Failure>;
}

/// A record as pulled from the CRM: its id, when it was last modified (epoch ms) and its fields by API name.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmRecord {
    pub id: String,
    pub modified: i64,
    pub fields: Map<String, Value>,
}

/// A page of changed records and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub records: Vec<CrmRecord>,
    /// The CRM's own continuation (Salesforce `nextRecordsUrl`, HubSpot `after`, Dynamics `@odata.nextLink`).
    pub next: Option<String>,
}

/// How a record is written: by an external-id field and the portal's id, or by the CRM id stored at the last
/// write, or as a new record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target<'a> {
    ExternalId { field: &'a str, value: &'a str },
    Id(&'a str),
    New,
}

/// One CRM's protocol. Every method may fail with [`Failure::Expired`], on which [`with_session`] refreshes.
pub trait Crm {
    /// The CRM's name in messages and pages ("Salesforce").
    const NAME: &'static str;

    /// Obtains a fresh access token (refresh-token flow, client credentials, or nothing for a static token); the
    /// connector keeps it, and returns the secrets that changed (name, value) for the plugin to store.
    fn refresh(&mut self, t: &mut dyn Transport) -> Result<Vec<(String, String)>, Failure>;

    /// An object's fields, from the CRM's own schema.
    fn describe(&mut self, t: &mut dyn Transport, object: &str) -> Result<Vec<CrmField>, Failure>;

    /// Creates or updates a record; returns its CRM id.
    fn write(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        target: Target<'_>,
        fields: &Map<String, Value>,
    ) -> Result<String, Failure>;

    /// One record's `fields` and modification time, as it is now.
    fn read(&mut self, t: &mut dyn Transport, object: &str, id: &str, fields: &[String]) -> Result<CrmRecord, Failure>;

    /// The id of the record that reference `field` of record `id` names, if any (an opportunity's account).
    fn linked(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        id: &str,
        field: &str,
    ) -> Result<Option<String>, Failure> {
        let rec = self.read(t, object, id, &[field.to_string()])?;
        Ok(rec.fields.get(field).and_then(Value::as_str).map(String::from))
    }

    /// The id of a record whose `field` equals `value`, if any (an account by its web domain).
    fn find(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, Failure>;

    /// Records of `object` modified at or after `since` (epoch ms), oldest first, with `fields`; `next` continues
    /// a previous page.
    fn changed(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        fields: &[String],
        since: i64,
        next: Option<&str>,
    ) -> Result<Changes, Failure>;

    /// Links record `id` of `object` to record `to_id` of `to_object` through `field` (a lookup field of `object`,
    /// or for a CRM that links by associations, the pseudo-field its `describe` lists for them).
    fn associate(
        &mut self,
        t: &mut dyn Transport,
        object: &str,
        id: &str,
        field: &str,
        to_object: &str,
        to_id: &str,
    ) -> Result<(), Failure>;

    /// Where a person opens the record in the CRM.
    fn record_url(&self, object: &str, id: &str) -> String;
}

/// Runs `op`; when the session has expired, refreshes once (the changed secrets are added to `refreshed`) and runs
/// it once more. A second expiry, or a refresh that fails, is the connection's failure.
pub fn with_session<C: Crm + ?Sized, T>(
    crm: &mut C,
    t: &mut dyn Transport,
    refreshed: &mut Vec<(String, String)>,
    mut op: impl FnMut(&mut C, &mut dyn Transport) -> Result<T, Failure>,
) -> Result<T, Failure> {
    match op(crm, t) {
        Err(Failure::Expired) => {
            refreshed.extend(crm.refresh(t)?);
            match op(crm, t) {
                Err(Failure::Expired) => {
                    Err(Failure::Credentials("the CRM ended the session again right after it was renewed".into()))
                }
                other => other,
            }
        }
        other => other,
    }
}

/// A transport that answers from a script, for tests: each request is recorded, each answer taken in turn.
#[derive(Debug, Default)]
pub struct Script {
    pub sent: Vec<Request>,
    pub replies: std::collections::VecDeque<Result<Reply, Failure>>,
}

impl Script {
    pub fn reply(mut self, status: u16, body: Value) -> Self {
        let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
        self.replies.push_back(Ok(Reply { status, headers: Vec::new(), body }));
        self
    }

    pub fn reply_with(mut self, reply: Reply) -> Self {
        self.replies.push_back(Ok(reply));
        self
    }
}

impl Transport for Script {
    fn send(&mut self, req: Request) -> Result<Reply, Failure> {
        self.sent.push(req);
        self.replies.pop_front().unwrap_or_else(|| Err(Failure::Unavailable("the script has no more answers".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A CRM whose calls fail with an expired session until refreshed `fresh` times.
    struct Flaky {
        refreshes: u32,
        needs: u32,
    }

    impl Crm for Flaky {
        const NAME: &'static str = "Flaky";
        fn refresh(&mut self, t: &mut dyn Transport) -> Result<Vec<(String, String)>, Failure> {
            t.send(Request::new("POST", "https://crm.test/token").form(&[("grant_type", "refresh_token")]))?;
            self.refreshes += 1;
            Ok(vec![("access_token".into(), format!("tok{}", self.refreshes))])
        }
        fn describe(&mut self, _: &mut dyn Transport, _: &str) -> Result<Vec<CrmField>, Failure> {
            if self.refreshes < self.needs { Err(Failure::Expired) } else { Ok(Vec::new()) }
        }
        fn write(
            &mut self,
            _: &mut dyn Transport,
            _: &str,
            _: Target<'_>,
            _: &Map<String, Value>,
        ) -> Result<String, Failure> {
            unreachable!()
        }
        fn find(&mut self, _: &mut dyn Transport, _: &str, _: &str, _: &str) -> Result<Option<String>, Failure> {
            unreachable!()
        }
        fn read(&mut self, _: &mut dyn Transport, _: &str, _: &str, _: &[String]) -> Result<CrmRecord, Failure> {
            unreachable!()
        }
        fn changed(
            &mut self,
            _: &mut dyn Transport,
            _: &str,
            _: &[String],
            _: i64,
            _: Option<&str>,
        ) -> Result<Changes, Failure> {
            unreachable!()
        }
        fn associate(
            &mut self,
            _: &mut dyn Transport,
            _: &str,
            _: &str,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<(), Failure> {
            unreachable!()
        }
        fn record_url(&self, _: &str, id: &str) -> String {
            id.into()
        }
    }

    #[test]
    fn an_expired_session_is_refreshed_once_and_the_call_retried_once() {
        let mut t = Script::default().reply(200, json!({}));
        let mut crm = Flaky { refreshes: 0, needs: 1 };
        let mut refreshed = Vec::new();
        assert!(with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "Opportunity")).is_ok());
        assert_eq!(refreshed, vec![("access_token".to_string(), "tok1".to_string())]);
        assert_eq!(t.sent.len(), 1);
        assert_eq!(t.sent[0].body, b"grant_type=refresh_token");

        let mut t = Script::default().reply(200, json!({})).reply(200, json!({}));
        let mut crm = Flaky { refreshes: 0, needs: 2 };
        let err = with_session(&mut crm, &mut t, &mut Vec::new(), |c, t| c.describe(t, "Opportunity")).unwrap_err();
        assert!(matches!(err, Failure::Credentials(_)), "{err:?}");
        assert_eq!(t.sent.len(), 1, "one refresh, not a loop");
    }

    #[test]
    fn form_bodies_are_encoded() {
        let r = Request::new("POST", "x").form(&[("refresh_token", "a b&c=d/é")]);
        assert_eq!(String::from_utf8(r.body).unwrap(), "refresh_token=a%20b%26c%3Dd%2F%C3%A9");
    }
}
