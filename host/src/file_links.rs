//! Links to plugins' files: a plugin that authorises a download asks for a link (`files.serve-url`); the host
//! signs what the link may do (which tenant's file, how it is shown, under which name, until when, and for whom)
//! and serves it itself (`/files/{ticket}/{name}`), streamed, with `Range` and an ETag. A link bound to a user works
//! only in that user's session; a public one (a share link) for whoever holds it, until it expires. Nothing is
//! stored: the ticket carries its terms and their HMAC under a key derived from the instance secret replicas share.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What a link lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Tenant id.
    #[serde(rename = "t")]
    pub tenant: String,
    /// Blob key.
    #[serde(rename = "k")]
    pub key: String,
    /// Until when, milliseconds since the epoch.
    #[serde(rename = "e")]
    pub expires: i64,
    /// Shown in the browser rather than saved (passive types only; the host decides).
    #[serde(rename = "i")]
    pub inline: bool,
    /// The file name it is served under.
    #[serde(rename = "n")]
    pub filename: String,
    /// The user whose session it needs; none for a public link.
    #[serde(rename = "u")]
    pub user: Option<String>,
}

/// The key tickets are signed with.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

impl LinkKey {
    /// Derived from the instance secret (the CSRF key every replica shares).
    pub fn derive(instance_secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(instance_secret).expect("HMAC takes any key");
        mac.update(b"portico-file-links");
        LinkKey(mac.finalize().into_bytes().into())
    }

    /// The ticket as it goes in a URL path segment.
    pub fn sign(&self, ticket: &Ticket) -> String {
        let body = B64.encode(serde_json::to_vec(ticket).expect("a ticket serializes"));
        format!("{body}.{}", B64.encode(self.mac(body.as_bytes())))
    }

    /// The ticket, if `token` is one this key signed and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Option<Ticket> {
        let (body, mac) = token.split_once('.')?;
        let given = B64.decode(mac).ok()?;
        let mut check = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        check.update(body.as_bytes());
        check.verify_slice(&given).ok()?;
        let ticket: Ticket = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        (ticket.expires > now).then_some(ticket)
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            tenant: "t".into(),
            key: "tenants/t/plugins/p/uploads/x".into(),
            expires: 2_000,
            inline: false,
            filename: "report.pdf".into(),
            user: Some("u1".into()),
        }
    }

    #[test]
    fn a_ticket_is_good_until_it_expires_and_cannot_be_altered() {
        let key = LinkKey::derive(b"instance secret");
        let token = key.sign(&ticket());
        assert_eq!(key.verify(&token, 1_000), Some(ticket()));
        assert_eq!(key.verify(&token, 2_000), None, "expired");
        assert_eq!(LinkKey::derive(b"another instance").verify(&token, 1_000), None);
        let mut longer = ticket();
        longer.expires = 9_000_000;
        let forged = format!("{}.{}", key.sign(&longer).split_once('.').unwrap().0, token.split_once('.').unwrap().1);
        assert_eq!(key.verify(&forged, 1_000), None, "terms changed under the old signature");
        assert_eq!(key.verify("garbage", 1_000), None);
    }
}
