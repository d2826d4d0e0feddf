//! Field mapping: the portal's fields, a CRM object's fields as its schema describes them, and the checks a mapping
//! passes before it is saved.

use serde::{Deserialize, Serialize};

/// The portal's record kinds that sync, each to one CRM object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// A registered deal (Opportunity, deal, opportunity).
    Deal,
    /// The end customer's company, matched by its domain (Account, company, account).
    Customer,
    /// The partner organisation the deal belongs to (Account, company, account).
    Partner,
    /// The customer's contact person (Contact, contact, contact).
    Contact,
}

impl Entity {
    pub const ALL: [Entity; 4] = [Entity::Deal, Entity::Customer, Entity::Partner, Entity::Contact];

    pub fn key(self) -> &'static str {
        match self {
            Entity::Deal => "deal",
            Entity::Customer => "customer",
            Entity::Partner => "partner",
            Entity::Contact => "contact",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Entity::Deal => "Deal",
            Entity::Customer => "Customer account",
            Entity::Partner => "Partner account",
            Entity::Contact => "Customer contact",
        }
    }
}

/// What kind of value a field holds, on either side, as far as a mapping cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "values")]
pub enum Kind {
    /// Free text (also e-mail, URL, phone and long text on the CRM's side).
    Text,
    /// A number (integer, double, percent).
    Number,
    /// An amount of money (the portal keeps the currency beside it).
    Money,
    /// A calendar date.
    Date,
    /// A date and time.
    DateTime,
    /// True or false.
    Boolean,
    /// One of a fixed list of values (the CRM's picklist, with its API values).
    Picklist(Vec<String>),
    /// A reference to another record (an id).
    Reference,
}

impl Kind {
    pub fn label(&self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "a number",
            Kind::Money => "an amount",
            Kind::Date => "a date",
            Kind::DateTime => "a date and time",
            Kind::Boolean => "true or false",
            Kind::Picklist(_) => "a picklist",
            Kind::Reference => "a reference to another record",
        }
    }
}

/// A field of a CRM object, as the CRM's own schema describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmField {
    /// The API name (`Amount`, `amount`, `estimatedvalue`, `Partner_Deal_Id__c`).
    pub name: String,
    /// What the CRM shows people.
    pub label: String,
    pub kind: Kind,
    /// Can be written on create.
    pub createable: bool,
    /// Can be written on update.
    pub updateable: bool,
    /// Must have a value when a record is created, and the CRM gives it none by default.
    pub required: bool,
    /// Unique and usable to upsert by (Salesforce external id, HubSpot unique property, Dynamics alternate key).
    pub external_id: bool,
    /// Created by the customer rather than shipped with the CRM.
    pub custom: bool,
    /// Links to any number of records (a HubSpot association), so several portal links may map to it.
    #[serde(default)]
    pub many: bool,
}

/// A field of the portal that can be synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalField {
    pub entity: Entity,
    /// The key a mapping names it by.
    pub key: &'static str,
    pub label: &'static str,
    pub kind: PortalKind,
    /// Changes made in the CRM flow back into the portal (stage, amount, close date).
    pub inbound: bool,
}

/// The portal field's kind (a fixed set; a CRM field's [`Kind`] is matched against it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalKind {
    Text,
    Money,
    Date,
    /// The deal's status, mapped to the CRM's stage picklist value by value.
    Stage,
    /// The portal's own id of the record, written to the CRM's external-id field.
    Id,
    /// A link from the deal to another of its records (the customer's or the partner's account), made by the
    /// connector its CRM's way: a lookup field, an OData bind, an association.
    Reference,
}

/// Every portal field a mapping may use.
pub const PORTAL_FIELDS: &[PortalField] = &[
    PortalField {
        entity: Entity::Deal,
        key: "portal_id",
        label: "Portal deal id",
        kind: PortalKind::Id,
        inbound: false,
    },
    PortalField { entity: Entity::Deal, key: "name", label: "Deal name", kind: PortalKind::Text, inbound: false },
    PortalField { entity: Entity::Deal, key: "amount", label: "Amount", kind: PortalKind::Money, inbound: true },
    PortalField { entity: Entity::Deal, key: "currency", label: "Currency", kind: PortalKind::Text, inbound: false },
    PortalField {
        entity: Entity::Deal,
        key: "close_date",
        label: "Expected close date",
        kind: PortalKind::Date,
        inbound: true,
    },
    PortalField { entity: Entity::Deal, key: "stage", label: "Status", kind: PortalKind::Stage, inbound: true },
    PortalField { entity: Entity::Deal, key: "products", label: "Products", kind: PortalKind::Text, inbound: false },
    PortalField { entity: Entity::Deal, key: "notes", label: "Notes", kind: PortalKind::Text, inbound: false },
    PortalField { entity: Entity::Deal, key: "partner", label: "Partner name", kind: PortalKind::Text, inbound: false },
    PortalField {
        entity: Entity::Deal,
        key: "customer_account",
        label: "Link to the customer account",
        kind: PortalKind::Reference,
        inbound: false,
    },
    PortalField {
        entity: Entity::Deal,
        key: "partner_account",
        label: "Link to the partner account",
        kind: PortalKind::Reference,
        inbound: false,
    },
    PortalField {
        entity: Entity::Deal,
        key: "contact",
        label: "Link to the customer contact",
        kind: PortalKind::Reference,
        inbound: false,
    },
    PortalField { entity: Entity::Customer, key: "name", label: "Company", kind: PortalKind::Text, inbound: false },
    PortalField {
        entity: Entity::Customer,
        key: "domain",
        label: "Web domain",
        kind: PortalKind::Text,
        inbound: false,
    },
    PortalField { entity: Entity::Customer, key: "country", label: "Country", kind: PortalKind::Text, inbound: false },
    PortalField {
        entity: Entity::Partner,
        key: "name",
        label: "Partner company",
        kind: PortalKind::Text,
        inbound: false,
    },
    PortalField {
        entity: Entity::Partner,
        key: "portal_id",
        label: "Portal organisation id",
        kind: PortalKind::Id,
        inbound: false,
    },
    PortalField { entity: Entity::Contact, key: "name", label: "Full name", kind: PortalKind::Text, inbound: false },
    PortalField {
        entity: Entity::Contact,
        key: "first_name",
        label: "First name",
        kind: PortalKind::Text,
        inbound: false,
    },
    PortalField {
        entity: Entity::Contact,
        key: "last_name",
        label: "Last name",
        kind: PortalKind::Text,
        inbound: false,
    },
    PortalField { entity: Entity::Contact, key: "email", label: "E-mail", kind: PortalKind::Text, inbound: false },
    PortalField {
        entity: Entity::Contact,
        key: "customer_account",
        label: "Link to the customer account",
        kind: PortalKind::Reference,
        inbound: false,
    },
];

/// The record a reference field of an entity links to (`deal.customer_account` → the customer's account).
pub fn reference_target(entity: Entity, key: &str) -> Option<Entity> {
    match (entity, key) {
        (Entity::Deal, "customer_account") | (Entity::Contact, "customer_account") => Some(Entity::Customer),
        (Entity::Deal, "partner_account") => Some(Entity::Partner),
        (Entity::Deal, "contact") => Some(Entity::Contact),
        _ => None,
    }
}

/// The portal field of an entity by key.
pub fn portal_field(entity: Entity, key: &str) -> Option<&'static PortalField> {
    PORTAL_FIELDS.iter().find(|f| f.entity == entity && f.key == key)
}

/// The deal statuses a stage map assigns CRM stages to (the ones a CRM can move a deal into or out of).
pub const STAGE_STATUSES: &[&str] = &["submitted", "approved", "won", "lost"];

/// How one entity maps to one CRM object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectMapping {
    pub entity: Entity,
    /// The CRM object's API name (`Opportunity`, `deals`, `opportunity`).
    pub object: String,
    /// Portal field key → CRM field name.
    pub fields: Vec<(String, String)>,
    /// The CRM field the portal's id is upserted by, when the CRM has one (else the stored CRM id is used).
    pub external_id: Option<String>,
}

/// A whole mapping: the objects, and for the deal's stage the CRM value of each portal status and the portal status
/// of each CRM value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub objects: Vec<ObjectMapping>,
    /// (CRM stage value, portal status): every CRM value that means a status; the first one listed for a status is
    /// what the portal writes for it.
    pub stages: Vec<(String, String)>,
}

impl Mapping {
    pub fn object(&self, entity: Entity) -> Option<&ObjectMapping> {
        self.objects.iter().find(|o| o.entity == entity)
    }

    /// The CRM object an entity maps to, or "" when it is not mapped.
    pub fn object_name(&self, entity: Entity) -> &str {
        self.object(entity).map_or("", |o| o.object.as_str())
    }

    /// The CRM stage the portal writes for a status.
    pub fn stage_for(&self, status: &str) -> Option<&str> {
        self.stages.iter().find(|(_, s)| s == status).map(|(v, _)| v.as_str())
    }

    /// The portal status a CRM stage means (`None`: a stage the portal does not follow, e.g. "Prospecting").
    pub fn status_for(&self, stage: &str) -> Option<&str> {
        self.stages.iter().find(|(v, _)| v == stage).map(|(_, s)| s.as_str())
    }
}

/// A mapping problem, for the field it concerns (`deal.amount`, `stages.won`) and in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem { field: field.into(), message: message.into() }
}

/// Whether a portal field's values can be written into a CRM field of this kind.
pub fn compatible(portal: PortalKind, crm: &Kind) -> bool {
    match portal {
        PortalKind::Text | PortalKind::Id => matches!(crm, Kind::Text),
        PortalKind::Money => matches!(crm, Kind::Money | Kind::Number),
        PortalKind::Date => matches!(crm, Kind::Date | Kind::DateTime),
        PortalKind::Stage => matches!(crm, Kind::Picklist(_)),
        PortalKind::Reference => matches!(crm, Kind::Reference),
    }
}

/// Checks a mapping against the CRM objects' schemas (`schema(object)` gives an object's fields, or `None` for an
/// object the CRM does not have). Every problem is reported, each in words an admin can act on; an empty list means
/// the mapping can be saved. `crm` names the CRM in messages.
pub fn validate<'a>(mapping: &Mapping, crm: &str, schema: impl Fn(&str) -> Option<&'a [CrmField]>) -> Vec<Problem> {
    let mut out = Vec::new();
    for entity in Entity::ALL {
        let Some(om) = mapping.object(entity) else {
            if entity == Entity::Deal {
                out.push(problem("deal", "deals must be mapped to a CRM object"));
            }
            continue;
        };
        let at = |key: &str| format!("{}.{key}", entity.key());
        let Some(fields) = schema(&om.object) else {
            out.push(problem(entity.key(), format!("{crm} has no object {}", om.object)));
            continue;
        };
        let find = |name: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name));
        let mut targets: Vec<&str> = Vec::new();
        for (key, name) in &om.fields {
            let Some(pf) = portal_field(entity, key) else {
                out.push(problem(at(key), format!("the portal has no {} field {key}", entity.label().to_lowercase())));
                continue;
            };
            let Some(cf) = find(name) else {
                out.push(problem(at(key), format!("{} has no field {name}", om.object)));
                continue;
            };
            if !cf.many && targets.iter().any(|t| t.eq_ignore_ascii_case(name)) {
                out.push(problem(at(key), format!("{name} is already mapped to another portal field")));
                continue;
            }
            targets.push(name);
            if !cf.createable && !cf.updateable {
                out.push(problem(at(key), format!("{name} is read-only in {crm}")));
            }
            if let Some(to) = reference_target(entity, key)
                && mapping.object(to).is_none()
            {
                out.push(problem(at(key), format!("{} are not mapped, so there is nothing to link to", plural(to))));
            }
            if !compatible(pf.kind, &cf.kind) {
                out.push(problem(
                    at(key),
                    format!(
                        "{name} holds {}, and the portal's {} is {}",
                        cf.kind.label(),
                        pf.label,
                        portal_kind(pf.kind)
                    ),
                ));
            }
        }
        for cf in fields.iter().filter(|f| f.required && f.createable) {
            let mapped = om.fields.iter().any(|(_, n)| n.eq_ignore_ascii_case(&cf.name))
                || om.external_id.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&cf.name));
            if !mapped {
                out.push(problem(
                    entity.key(),
                    format!("{} ({}) is required by {crm} and not mapped", cf.label, cf.name),
                ));
            }
        }
        if let Some(ext) = &om.external_id {
            match find(ext) {
                None => out.push(problem(at("external_id"), format!("{} has no field {ext}", om.object))),
                Some(cf) if !cf.external_id => out.push(problem(
                    at("external_id"),
                    format!("{ext} is not an external id in {crm}: upserts by it could create duplicates"),
                )),
                Some(_) => {}
            }
        }
        if entity == Entity::Deal {
            let stage = om.fields.iter().find(|(k, _)| k == "stage").and_then(|(_, n)| find(n));
            match stage.map(|f| &f.kind) {
                Some(Kind::Picklist(values)) => {
                    for (value, status) in &mapping.stages {
                        if !values.iter().any(|v| v == value) {
                            out.push(problem(format!("stages.{status}"), format!("{value} is not a stage in {crm}")));
                        }
                        if !STAGE_STATUSES.contains(&status.as_str()) {
                            out.push(problem(format!("stages.{status}"), format!("{status} is not a deal status")));
                        }
                    }
                    for status in ["won", "lost"] {
                        if mapping.stage_for(status).is_none() {
                            out.push(problem(format!("stages.{status}"), format!("no {crm} stage means {status}")));
                        }
                    }
                }
                _ if !mapping.stages.is_empty() => {
                    out.push(problem("stages", "stages are mapped but the deal's status is not"));
                }
                _ => {}
            }
        }
    }
    out
}

fn plural(e: Entity) -> &'static str {
    match e {
        Entity::Deal => "deals",
        Entity::Customer => "customer accounts",
        Entity::Partner => "partner accounts",
        Entity::Contact => "customer contacts",
    }
}

fn portal_kind(k: PortalKind) -> &'static str {
    match k {
        PortalKind::Text | PortalKind::Id => "text",
        PortalKind::Money => "an amount",
        PortalKind::Date => "a date",
        PortalKind::Stage => "a status",
        PortalKind::Reference => "a link to another record",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: Kind) -> CrmField {
        CrmField {
            name: name.into(),
            label: name.into(),
            kind,
            createable: true,
            updateable: true,
            required: false,
            external_id: false,
            custom: name.ends_with("__c"),
            many: false,
        }
    }

    fn opportunity() -> Vec<CrmField> {
        let stages = ["Prospecting", "Qualification", "Closed Won", "Closed Lost"].map(String::from).to_vec();
        vec![
            CrmField { required: true, ..field("Name", Kind::Text) },
            field("Amount", Kind::Money),
            CrmField { required: true, ..field("CloseDate", Kind::Date) },
            CrmField { required: true, ..field("StageName", Kind::Picklist(stages)) },
            CrmField { external_id: true, ..field("Portal_Deal_Id__c", Kind::Text) },
            field("Description", Kind::Text),
            CrmField { createable: false, updateable: false, ..field("IsWon", Kind::Boolean) },
            CrmField { createable: false, updateable: false, ..field("SystemModstamp", Kind::DateTime) },
        ]
    }

    fn mapping() -> Mapping {
        let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Mapping {
            objects: vec![ObjectMapping {
                entity: Entity::Deal,
                object: "Opportunity".into(),
                fields: f(&[
                    ("name", "Name"),
                    ("amount", "Amount"),
                    ("close_date", "CloseDate"),
                    ("stage", "StageName"),
                ]),
                external_id: Some("Portal_Deal_Id__c".into()),
            }],
            stages: vec![
                ("Qualification".into(), "approved".into()),
                ("Closed Won".into(), "won".into()),
                ("Closed Lost".into(), "lost".into()),
            ],
        }
    }

    fn check(m: &Mapping) -> Vec<String> {
        let opp = opportunity();
        validate(m, "Salesforce", |o| (o == "Opportunity").then_some(opp.as_slice()))
            .into_iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect()
    }

    #[test]
    fn a_sound_mapping_passes() {
        assert_eq!(check(&mapping()), Vec::<String>::new());
        assert_eq!(mapping().stage_for("won"), Some("Closed Won"));
        assert_eq!(mapping().status_for("Prospecting"), None);
    }

    #[test]
    fn each_kind_of_mistake_is_refused_in_words() {
        let mut m = mapping();
        m.objects[0].fields.retain(|(k, _)| k != "close_date");
        m.objects[0].fields.push(("notes".into(), "IsWon".into()));
        m.objects[0].fields.push(("currency".into(), "Amount".into()));
        m.objects[0].fields.push(("products".into(), "Nope__c".into()));
        m.objects[0].external_id = Some("Description".into());
        m.stages.push(("Negotiation".into(), "approved".into()));
        m.stages.retain(|(_, s)| s != "lost");
        assert_eq!(
            check(&m),
            vec![
                "deal.notes: IsWon is read-only in Salesforce",
                "deal.notes: IsWon holds true or false, and the portal's Notes is text",
                "deal.currency: Amount is already mapped to another portal field",
                "deal.products: Opportunity has no field Nope__c",
                "deal: CloseDate (CloseDate) is required by Salesforce and not mapped",
                "deal.external_id: Description is not an external id in Salesforce: upserts by it could create duplicates",
                "stages.approved: Negotiation is not a stage in Salesforce",
                "stages.lost: no Salesforce stage means lost",
            ]
        );
    }

    #[test]
    fn unknown_objects_and_types_are_refused() {
        let mut m = mapping();
        m.objects[0].fields[1] = ("amount".into(), "Name".into());
        m.objects[0].fields.retain(|(k, _)| k != "name");
        m.objects.push(ObjectMapping {
            entity: Entity::Customer,
            object: "Acount".into(),
            fields: vec![],
            external_id: None,
        });
        assert_eq!(
            check(&m),
            vec![
                "deal.amount: Name holds text, and the portal's Amount is an amount",
                "customer: Salesforce has no object Acount",
            ]
        );
        let none = Mapping { objects: vec![], stages: vec![] };
        assert_eq!(check(&none), vec!["deal: deals must be mapped to a CRM object"]);
    }
}
