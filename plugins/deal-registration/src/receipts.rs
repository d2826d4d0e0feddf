//! Receipts: evidence of who registered first. Every submission appends a receipt to the tenant's chain; each
//! receipt holds the SHA-256 of the registration as submitted and of the previous receipt, so neither a stored
//! registration nor the chain can be changed afterwards without verification noticing.

use portico_sdk::Error;
use portico_sdk::storage::{Collection, Direction};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model::{Deal, iso};

pub const RECEIPTS: Collection = Collection::new("receipts");

/// The `prev_hash` of the first receipt of a tenant.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A receipt as given to the partner and stored in the chain. Field order is the hashed order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub version: u32,
    pub portal: String,
    pub seq: u64,
    pub deal_id: String,
    pub org_id: String,
    pub customer_name: String,
    pub customer_domain: String,
    pub submitted_at: String,
    pub submitted_at_ms: i64,
    pub content_hash: String,
    pub prev_hash: String,
    pub hash: String,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The registration's content that a receipt vouches for, hashed in a fixed order.
pub fn content_hash(id: &str, deal: &Deal) -> String {
    let i = &deal.input;
    let content = json!([
        id,
        deal.program,
        deal.source,
        deal.org_id,
        i.customer_name,
        i.customer_domain,
        i.country,
        i.amount,
        i.currency,
        i.products,
        i.expected_close_date,
        i.contact_name,
        i.contact_email,
        i.notes,
    ]);
    sha256(content.to_string().as_bytes())
}

impl Receipt {
    /// The hash of every field but `hash`.
    pub fn compute_hash(&self) -> String {
        let body = json!([
            self.version,
            self.portal,
            self.seq,
            self.deal_id,
            self.org_id,
            self.customer_name,
            self.customer_domain,
            self.submitted_at,
            self.submitted_at_ms,
            self.content_hash,
            self.prev_hash,
        ]);
        sha256(body.to_string().as_bytes())
    }

    fn key(seq: u64) -> String {
        format!("{seq:012}")
    }
}

/// The newest receipt of the tenant, if any.
fn head() -> Result<Option<Receipt>, Error> {
    let page = RECEIPTS.query().all_orgs().order_by("seq", Direction::Desc).limit(1).fetch::<Receipt>()?;
    Ok(page.records.into_iter().next().map(|r| r.data))
}

/// Appends a receipt for a submission at `now`. Two submissions racing for the same sequence number collide on
/// the record id; the loser reads the new head and tries the next number.
pub fn append(portal: &str, id: &str, deal: &Deal, now: i64) -> Result<Receipt, Error> {
    for _ in 0..16 {
        let (seq, prev_hash) = match head()? {
            Some(h) => (h.seq + 1, h.hash),
            None => (1, GENESIS.to_string()),
        };
        let mut r = Receipt {
            version: 1,
            portal: portal.to_string(),
            seq,
            deal_id: id.to_string(),
            org_id: deal.org_id.clone(),
            customer_name: deal.input.customer_name.clone(),
            customer_domain: deal.domain.clone(),
            submitted_at: iso(now),
            submitted_at_ms: now,
            content_hash: content_hash(id, deal),
            prev_hash,
            hash: String::new(),
        };
        r.hash = r.compute_hash();
        match RECEIPTS.insert_with(Some(&Receipt::key(seq)), None, &r) {
            Ok(_) => return Ok(r),
            Err(Error::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Unavailable("too many registrations at once; try again".into()))
}

/// Receipt `seq` as stored in the chain.
fn stored(seq: u64) -> Result<Option<Receipt>, Error> {
    Ok(RECEIPTS.get::<Receipt>(&Receipt::key(seq))?.map(|r| r.data))
}

/// The receipt of the deal's latest submission, if it has been submitted.
pub fn latest(deal: &Deal) -> Result<Option<Receipt>, Error> {
    match deal.receipts.last() {
        Some(seq) => stored(*seq),
        None => Ok(None),
    }
}

/// The verdict on a receipt someone presents.
pub fn verify(presented: &Value) -> Result<Value, Error> {
    let verdict = |valid: bool, reason: String| Ok(json!({ "valid": valid, "reason": reason }));
    let r: Receipt = match serde_json::from_value(presented.clone()) {
        Ok(r) => r,
        Err(e) => return verdict(false, format!("this is not a Portico deal receipt: {e}")),
    };
    if r.compute_hash() != r.hash {
        return verdict(false, "the receipt has been altered: its hash does not match its contents".into());
    }
    let Some(s) = stored(r.seq)? else {
        return verdict(false, format!("receipt {} is not in this portal's chain", r.seq));
    };
    if s.compute_hash() != s.hash {
        return verdict(false, format!("the stored chain has been tampered with at receipt {}", r.seq));
    }
    if s != r {
        return verdict(false, format!("the receipt does not match receipt {} of the chain", r.seq));
    }
    let prev_ok = if r.seq == 1 {
        r.prev_hash == GENESIS
    } else {
        stored(r.seq - 1)?.is_some_and(|p| p.hash == r.prev_hash && p.compute_hash() == p.hash)
    };
    if !prev_ok {
        return verdict(false, format!("the chain is broken just before receipt {}", r.seq));
    }
    let Some(deal) = crate::workflow::DEALS.get::<Deal>(&r.deal_id)? else {
        return verdict(false, "the registration this receipt is for no longer exists".into());
    };
    let d = deal.data;
    if !d.receipts.contains(&r.seq) || d.org_id != r.org_id {
        return verdict(false, "the stored registration does not carry this receipt: it has been changed".into());
    }
    if d.receipts.first() == Some(&r.seq) && d.registered_at != Some(r.submitted_at_ms) {
        return verdict(false, "the stored registration time has been changed since this receipt".into());
    }
    let latest = d.receipts.last() == Some(&r.seq);
    if latest && !d.status.editable() && content_hash(&r.deal_id, &d) != r.content_hash {
        return verdict(false, "the stored registration has been changed since this receipt was issued".into());
    }
    let reason = if latest {
        format!("receipt {} is in the chain and matches the registration submitted at {}", r.seq, r.submitted_at)
    } else {
        format!(
            "receipt {} is in the chain; the registration was resubmitted later (receipt {})",
            r.seq,
            d.receipts.last().copied().unwrap_or_default()
        )
    };
    verdict(true, reason)
}
