//! What a sync writes and applies, as pure functions of a deal, a mapping and the last synced values: the CRM
//! fields of each record a deal is written as, and what a pulled CRM record changes in the portal (and what the
//! portal's winning values push back), decided field by field by the conflict policy.

use serde_json::{Map, Value, json};

use crate::conflict::{Outcome, Policy, decide};
use crate::connector::CrmRecord;
use crate::schema::{Entity, Mapping, portal_field};

/// A deal as deal registration's events carry it (`deal.approved` and the rest: `{"deal": {...}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct PortalDeal {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub customer_name: String,
    pub customer_domain: String,
    pub country: String,
    pub amount: Option<f64>,
    pub currency: String,
    pub products: Vec<String>,
    pub close_date: String,
    pub status: String,
    pub notes: String,
    pub contact_name: String,
    pub contact_email: String,
    /// For a deal imported from a CRM: the connector plugin it came through and the CRM id of its opportunity.
    pub origin: Option<(String, String)>,
}

impl PortalDeal {
    /// Reads the `deal` object of an event's payload (or the deal object itself).
    pub fn from_json(v: &Value) -> Option<PortalDeal> {
        let d = if v.get("deal").is_some_and(Value::is_object) { &v["deal"] } else { v };
        let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
        Some(PortalDeal {
            id: d["id"].as_str()?.to_string(),
            org_id: s("org_id"),
            org_name: s("org_name"),
            customer_name: s("customer_name"),
            customer_domain: if s("registrable_domain").is_empty() {
                s("customer_domain")
            } else {
                s("registrable_domain")
            },
            country: s("country"),
            amount: d["amount"].as_f64(),
            currency: s("currency"),
            products: d["products"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(String::from))
                .collect(),
            close_date: s("expected_close_date"),
            status: s("status"),
            notes: s("notes"),
            contact_name: s("contact_name"),
            contact_email: s("contact_email"),
            origin: d["crm_origin"]["plugin"]
                .as_str()
                .zip(d["crm_origin"]["id"].as_str())
                .map(|(p, i)| (p.into(), i.into())),
        })
    }

    /// The portal's value of a field of one of the deal's records (`None`: nothing to write).
    pub fn value(&self, entity: Entity, key: &str, mapping: &Mapping) -> Option<Value> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| json!(s.trim()));
        let (first, last) = split_name(&self.contact_name);
        match (entity, key) {
            (Entity::Deal, "portal_id") => text(&self.id),
            (Entity::Deal, "name") => {
                let products = self.products.join(", ");
                text(&if products.is_empty() {
                    self.customer_name.clone()
                } else {
                    format!("{} — {products}", self.customer_name)
                })
            }
            (Entity::Deal, "amount") => self.amount.map(|a| json!(a)),
            (Entity::Deal, "currency") => text(&self.currency),
            (Entity::Deal, "close_date") => text(&self.close_date),
            (Entity::Deal, "stage") => mapping.stage_for(&self.status).map(|v| json!(v)),
            (Entity::Deal, "products") => text(&self.products.join("; ")),
            (Entity::Deal, "notes") => text(&self.notes),
            (Entity::Deal, "partner") => text(&self.org_name),
            (Entity::Customer, "name") => text(&self.customer_name),
            (Entity::Customer, "domain") => text(&self.customer_domain),
            (Entity::Customer, "country") => text(&self.country),
            (Entity::Partner, "name") => text(&self.org_name),
            (Entity::Partner, "portal_id") => text(&self.org_id),
            (Entity::Contact, "name") => text(&self.contact_name),
            (Entity::Contact, "first_name") => text(&first),
            (Entity::Contact, "last_name") => text(&last),
            (Entity::Contact, "email") => text(&self.contact_email),
            _ => None,
        }
    }
}

impl PortalDeal {
    /// The value of a field a pull can change (`stage`, `amount`, `close_date`), in the portal's terms: what the
    /// last-sync snapshot holds and a pulled value is compared with.
    pub fn watched(&self, key: &str) -> Value {
        match key {
            "stage" => json!(self.status),
            "amount" => self.amount.map_or(Value::Null, |a| json!(a)),
            "close_date" => json!(self.close_date),
            _ => Value::Null,
        }
    }
}

/// "Ada King Lovelace" → ("Ada King", "Lovelace"); a single word is the last name (CRMs require one).
pub fn split_name(full: &str) -> (String, String) {
    let full = full.split_whitespace().collect::<Vec<_>>();
    match full.split_last() {
        Some((last, rest)) => (rest.join(" "), (*last).to_string()),
        None => (String::new(), String::new()),
    }
}

/// The CRM fields to write for one of a deal's records, by the mapping (fields without a value are left out, so a
/// write never blanks what the CRM holds).
pub fn outbound(deal: &PortalDeal, mapping: &Mapping, entity: Entity) -> Map<String, Value> {
    let Some(om) = mapping.object(entity) else { return Map::new() };
    om.fields.iter().filter_map(|(key, crm)| Some((crm.clone(), deal.value(entity, key, mapping)?))).collect()
}

/// The deal fields a pull can change, with the CRM field each is mapped to.
pub fn inbound_fields(mapping: &Mapping) -> Vec<(&'static str, String)> {
    let Some(om) = mapping.object(Entity::Deal) else { return Vec::new() };
    om.fields
        .iter()
        .filter_map(|(key, crm)| {
            let pf = portal_field(Entity::Deal, key)?;
            pf.inbound.then_some((pf.key, crm.clone()))
        })
        .collect()
}

/// A pulled CRM value of deal field `key` in the portal's terms; `None` for a CRM stage the mapping does not
/// follow (an early pipeline stage), which changes nothing.
pub fn to_portal(key: &str, crm: &Value, mapping: &Mapping) -> Option<Value> {
    Some(match key {
        // Picklist values are text (Salesforce, HubSpot) or option-set codes (Dynamics).
        "stage" => {
            let value = match crm {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            json!(mapping.status_for(&value)?)
        }
        "amount" => {
            crm.as_f64().or_else(|| crm.as_str().and_then(|s| s.parse().ok())).map_or(Value::Null, |a| json!(a))
        }
        // Dates come as dates or as times (HubSpot's closedate): the portal keeps the day.
        "close_date" => crm.as_str().map_or(Value::Null, |s| json!(s.get(..10).unwrap_or(s))),
        _ => crm.clone(),
    })
}

/// What a pulled CRM record does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    /// Portal deal fields to change (`stage` as a portal status, `amount`, `close_date`).
    pub portal: Map<String, Value>,
    /// CRM fields to write back, where the portal's value won.
    pub crm: Map<String, Value>,
    /// The values both sides now agree on, to keep as the next sync's snapshot.
    pub synced: Map<String, Value>,
}

/// Decides a pulled record field by field. `synced` holds the values (in the portal's terms) both sides agreed on
/// at the last sync; `portal_at` and `record.modified` say which side changed later (for [`Policy::NewerWins`]).
/// A CRM stage the mapping does not follow (an early pipeline stage) changes nothing.
pub fn inbound(
    record: &CrmRecord,
    deal: &PortalDeal,
    mapping: &Mapping,
    synced: &Map<String, Value>,
    policy: Policy,
    portal_at: i64,
) -> Applied {
    let mut out = Applied::default();
    for (key, crm_field) in inbound_fields(mapping) {
        let crm_raw = record.fields.get(&crm_field).cloned().unwrap_or(Value::Null);
        let Some(crm) = to_portal(key, &crm_raw, mapping) else { continue };
        let portal = deal.watched(key);
        let before = synced.get(key).cloned().unwrap_or(Value::Null);
        match decide(policy, &before, &portal, &crm, portal_at, record.modified) {
            Outcome::Same => {
                out.synced.insert(key.into(), crm);
            }
            Outcome::TakeCrm(v) => {
                out.portal.insert(key.into(), v.clone());
                out.synced.insert(key.into(), v);
            }
            Outcome::KeepPortal(v) => {
                if let Some(crm_value) = deal.value(Entity::Deal, key, mapping) {
                    out.crm.insert(crm_field.clone(), crm_value);
                }
                out.synced.insert(key.into(), v);
            }
            Outcome::PortalAhead => {
                out.synced.insert(key.into(), before);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ObjectMapping;

    fn mapping() -> Mapping {
        let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Mapping {
            objects: vec![
                ObjectMapping {
                    entity: Entity::Deal,
                    object: "Opportunity".into(),
                    fields: f(&[
                        ("name", "Name"),
                        ("amount", "Amount"),
                        ("close_date", "CloseDate"),
                        ("stage", "StageName"),
                        ("notes", "Description"),
                    ]),
                    external_id: Some("Partner_Deal_Id__c".into()),
                },
                ObjectMapping {
                    entity: Entity::Contact,
                    object: "Contact".into(),
                    fields: f(&[("first_name", "FirstName"), ("last_name", "LastName"), ("email", "Email")]),
                    external_id: None,
                },
            ],
            stages: vec![
                ("Qualification".into(), "approved".into()),
                ("Closed Won".into(), "won".into()),
                ("Closed Lost".into(), "lost".into()),
            ],
        }
    }

    fn deal() -> PortalDeal {
        PortalDeal::from_json(&json!({"deal": {
            "id": "d1", "org_id": "o1", "org_name": "Northwind", "customer_name": "Globex", "customer_domain": "https://www.globex.example",
            "registrable_domain": "globex.example", "amount": 48000.0, "currency": "EUR", "products": ["Edge Router", "Support"],
            "expected_close_date": "2027-03-31", "status": "approved", "notes": "", "contact_name": "Ada King Lovelace",
            "contact_email": "ada@globex.example"}}))
        .unwrap()
    }

    #[test]
    fn a_deal_is_written_by_the_mapping_without_blanking_what_it_lacks() {
        let m = mapping();
        let d = deal();
        assert_eq!(
            Value::Object(outbound(&d, &m, Entity::Deal)),
            json!({"Name": "Globex — Edge Router, Support", "Amount": 48000.0, "CloseDate": "2027-03-31", "StageName": "Qualification"})
        );
        assert_eq!(
            Value::Object(outbound(&d, &m, Entity::Contact)),
            json!({"FirstName": "Ada King", "LastName": "Lovelace", "Email": "ada@globex.example"})
        );
        assert!(outbound(&d, &m, Entity::Customer).is_empty(), "not mapped, not written");
        assert_eq!(d.customer_domain, "globex.example");
        let draft = PortalDeal { status: "draft".into(), ..d };
        assert!(!outbound(&draft, &m, Entity::Deal).contains_key("StageName"), "a status without a stage");
        assert_eq!(split_name("Cher"), (String::new(), "Cher".into()));
    }

    fn record(fields: Value, modified: i64) -> CrmRecord {
        CrmRecord { id: "006A".into(), modified, fields: fields.as_object().unwrap().clone() }
    }

    #[test]
    fn a_pull_applies_what_only_the_crm_changed_and_the_policy_decides_the_rest() {
        let m = mapping();
        let d = deal();
        let synced =
            json!({"stage": "approved", "amount": 48000.0, "close_date": "2027-03-31"}).as_object().unwrap().clone();
        // The CRM closed it won and moved the date; the portal changed nothing.
        let r = record(json!({"StageName": "Closed Won", "Amount": 48000, "CloseDate": "2027-02-28"}), 20);
        let a = inbound(&r, &d, &m, &synced, Policy::CrmWins, 10);
        assert_eq!(Value::Object(a.portal), json!({"stage": "won", "close_date": "2027-02-28"}));
        assert!(a.crm.is_empty());
        assert_eq!(a.synced["stage"], json!("won"));

        // Both changed the amount: each policy.
        let portal = PortalDeal { amount: Some(50000.0), ..d.clone() };
        let r = record(json!({"StageName": "Qualification", "Amount": 61000, "CloseDate": "2027-03-31"}), 20);
        let crm_wins = inbound(&r, &portal, &m, &synced, Policy::CrmWins, 30);
        assert_eq!(Value::Object(crm_wins.portal), json!({"amount": 61000.0}));
        let portal_wins = inbound(&r, &portal, &m, &synced, Policy::PortalWins, 10);
        assert!(portal_wins.portal.is_empty());
        assert_eq!(Value::Object(portal_wins.crm), json!({"Amount": 50000.0}));
        assert_eq!(portal_wins.synced["amount"], json!(50000.0));
        let newer = inbound(&r, &portal, &m, &synced, Policy::NewerWins, 30);
        assert_eq!(Value::Object(newer.crm), json!({"Amount": 50000.0}), "the portal's edit is newer");
        let newer = inbound(&r, &portal, &m, &synced, Policy::NewerWins, 10);
        assert_eq!(Value::Object(newer.portal), json!({"amount": 61000.0}), "the CRM's edit is newer");

        // An early pipeline stage the portal does not follow changes nothing; HubSpot's times give their day.
        let r = record(json!({"StageName": "Prospecting", "Amount": "48000", "CloseDate": "2027-03-31T00:00:00Z"}), 20);
        let a = inbound(&r, &d, &m, &synced, Policy::CrmWins, 10);
        assert!(a.portal.is_empty() && a.crm.is_empty(), "{a:?}");
        // Dynamics' status reasons are numbers.
        let mut coded = m.clone();
        coded.stages = vec![("1".into(), "approved".into()), ("3".into(), "won".into())];
        let r = record(json!({"StageName": 3, "Amount": 48000, "CloseDate": "2027-03-31"}), 20);
        let synced_coded =
            json!({"stage": "approved", "amount": 48000.0, "close_date": "2027-03-31"}).as_object().unwrap().clone();
        assert_eq!(inbound(&r, &d, &coded, &synced_coded, Policy::CrmWins, 10).portal["stage"], json!("won"));
    }
}
