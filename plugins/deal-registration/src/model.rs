//! A deal registration as stored, the input partners give, its validation, and the JSON the API answers.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::matching;

/// Where a deal is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Submitted,
    Returned,
    Approved,
    Rejected,
    Won,
    Lost,
    Expired,
    Withdrawn,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Draft,
        Status::Submitted,
        Status::Returned,
        Status::Approved,
        Status::Rejected,
        Status::Won,
        Status::Lost,
        Status::Expired,
        Status::Withdrawn,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::Returned => "returned",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Won => "won",
            Status::Lost => "lost",
            Status::Expired => "expired",
            Status::Withdrawn => "withdrawn",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Draft => "Draft",
            Status::Submitted => "Awaiting approval",
            Status::Returned => "Returned for information",
            Status::Approved => "Approved",
            Status::Rejected => "Rejected",
            Status::Won => "Won",
            Status::Lost => "Lost",
            Status::Expired => "Expired",
            Status::Withdrawn => "Withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.key() == s)
    }

    /// The partner may still edit the registration.
    pub fn editable(self) -> bool {
        matches!(self, Status::Draft | Status::Returned)
    }
}

/// The vendor's terms for one deal, taken from the program's settings when it is submitted, so that later
/// changes to the settings do not move the goalposts of registrations already made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub protection_days: u32,
    pub sla_hours: u32,
    pub reminder_days: u32,
    pub extension_policy: String,
    pub extension_days: u32,
    pub rejection_reasons: Vec<String>,
}

/// How a submitted deal is approved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// `auto`, `single` or `chain`.
    pub mode: String,
    /// Roles that approve in order (`channel_manager`, `vendor_admin`); one entry for `single`.
    pub steps: Vec<String>,
    /// Approvals given so far, in order.
    pub approvals: Vec<Signoff>,
    /// The rule that chose this route, as the admin wrote it.
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signoff {
    pub by_id: String,
    pub by_name: String,
    pub at: i64,
}

/// A registration this one may duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub deal_id: String,
    /// `domain`, `name` and/or `country_products`.
    pub kinds: Vec<String>,
    /// Company name similarity, 0–1.
    pub score: f64,
}

/// One step in the deal's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub at: i64,
    pub by_id: String,
    pub by_name: String,
    pub from: Option<Status>,
    pub to: Status,
    pub note: String,
}

/// A partner's request for more protection time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    /// `pending`, `granted` or `declined`.
    pub status: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub note: String,
}

/// What partners fill in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Input {
    pub customer_name: String,
    pub customer_domain: String,
    pub country: String,
    pub amount: Option<f64>,
    pub currency: String,
    pub products: Vec<String>,
    pub expected_close_date: String,
    pub contact_name: String,
    pub contact_email: String,
    pub notes: String,
}

/// A deal as stored. The top-level fields named in `plugin.toml` are indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    pub program: String,
    /// `partner` or `vendor`.
    pub source: String,
    /// The partner organisation it is registered for; the vendor's own for vendor-sourced deals.
    pub org_id: String,
    pub org_name: String,
    pub owner_id: String,
    pub owner_name: String,
    #[serde(flatten)]
    pub input: Input,
    /// The customer's registrable domain (indexed).
    pub domain: String,
    /// The company name, normalised (indexed for search).
    pub name_norm: String,
    pub name_key_a: String,
    pub name_key_b: String,
    pub status: Status,
    pub created_at: i64,
    /// The first submission: the time that counts for "who was first".
    pub registered_at: Option<i64>,
    pub submitted_at: Option<i64>,
    /// When approval is due (indexed; only while awaiting approval).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
    pub sla_reminded: bool,
    pub approved_at: Option<i64>,
    /// End of protection (indexed; only while approved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// When to remind the partner that protection ends (indexed; cleared once sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remind_at: Option<i64>,
    pub exclusivity_expires_at: Option<i64>,
    pub policy: Policy,
    pub approval: Option<Approval>,
    pub conflicts: Vec<Conflict>,
    pub extension: Option<Extension>,
    /// An extension request awaits a decision (indexed, for the managers' queue).
    #[serde(default)]
    pub extension_pending: bool,
    pub extensions_granted: u32,
    pub receipts: Vec<u64>,
    pub timeline: Vec<Transition>,
    /// For a deal imported from a CRM: the opportunity it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_origin: Option<CrmOrigin>,
    /// What its win added to the channel figures' won revenue, in minor units (so that reversing the win takes back
    /// exactly that, whatever the amount is by then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub won_minor: Option<i64>,
}

/// The CRM opportunity an imported deal came from, and the connector plugin it came through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmOrigin {
    pub plugin: String,
    pub id: String,
    pub crm: String,
    pub url: String,
}

/// ISO 3166-1 alpha-2 codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS \
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK \
FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM \
JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS \
MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM \
US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// ISO 4217 codes partners may register in.
const CURRENCIES: &str = "USD EUR GBP CHF JPY CNY INR AUD CAD NZD SEK NOK DKK PLN CZK HUF BRL MXN ZAR SGD HKD AED SAR \
KRW TRY ILS";

/// The currencies the form offers.
pub fn currency_codes() -> Vec<&'static str> {
    CURRENCIES.split_whitespace().collect()
}

/// A checked input, with what is derived from it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub input: Input,
    pub domain: String,
    pub name_norm: String,
    pub name_keys: [String; 2],
}

/// Field problems, in form order.
pub type FieldErrors = Vec<(&'static str, String)>;

fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace) && s.len() <= 254
}

/// Trims and checks what a partner entered. A draft only needs the customer's name; a submission needs
/// everything that conflict checks and approval depend on.
pub fn check(mut input: Input, products: &[String], for_submit: bool) -> Result<Checked, FieldErrors> {
    let mut errors: FieldErrors = Vec::new();
    for s in [
        &mut input.customer_name,
        &mut input.customer_domain,
        &mut input.country,
        &mut input.currency,
        &mut input.expected_close_date,
        &mut input.contact_name,
        &mut input.contact_email,
        &mut input.notes,
    ] {
        *s = s.trim().to_string();
    }
    input.country = input.country.to_uppercase();
    input.currency = input.currency.to_uppercase();
    input.products.retain(|p| !p.trim().is_empty());
    input.products.dedup();

    let name_norm = matching::normalize_company(&input.customer_name);
    if input.customer_name.is_empty() {
        errors.push(("customer_name", "enter the customer's company name".into()));
    } else if input.customer_name.chars().count() > 200 {
        errors.push(("customer_name", "keep it under 200 characters".into()));
    } else if name_norm.is_empty() {
        errors.push(("customer_name", "enter a name with letters or digits".into()));
    }
    let domain = if input.customer_domain.is_empty() {
        if for_submit {
            errors.push(("customer_domain", "enter the customer's website, e.g. globex.com".into()));
        }
        String::new()
    } else {
        match matching::registrable_domain(&input.customer_domain) {
            Some(d) => d,
            None => {
                errors.push(("customer_domain", "enter a website or domain such as globex.com".into()));
                String::new()
            }
        }
    };
    if input.country.is_empty() {
        if for_submit {
            errors.push(("country", "choose the customer's country".into()));
        }
    } else if input.country.len() != 2 || !COUNTRIES.split(' ').any(|c| c == input.country) {
        errors.push(("country", "use a two-letter ISO country code such as DE or US".into()));
    }
    match input.amount {
        None if for_submit => errors.push(("amount", "enter the expected deal value".into())),
        Some(a) if !a.is_finite() || a <= 0.0 => errors.push(("amount", "enter an amount above zero".into())),
        Some(a) if a > 1e12 => errors.push(("amount", "enter an amount below 1,000,000,000,000".into())),
        _ => {}
    }
    if let Some(a) = input.amount {
        input.amount = Some((a * 100.0).round() / 100.0);
    }
    if input.currency.is_empty() {
        if for_submit {
            errors.push(("currency", "choose a currency".into()));
        }
    } else if !CURRENCIES.split_whitespace().any(|c| c == input.currency) {
        errors
            .push(("currency", format!("use one of {}", CURRENCIES.split_whitespace().collect::<Vec<_>>().join(", "))));
    }
    if let Some(p) = input.products.iter().find(|p| !products.iter().any(|known| known.eq_ignore_ascii_case(p))) {
        errors.push(("products", format!("{p} is not on the product list")));
    } else if for_submit && input.products.is_empty() {
        errors.push(("products", "choose at least one product".into()));
    }
    if input.expected_close_date.is_empty() {
        if for_submit {
            errors.push(("expected_close_date", "enter the expected close date".into()));
        }
    } else if !is_date(&input.expected_close_date) {
        errors.push(("expected_close_date", "use a date like 2027-03-31".into()));
    }
    if input.contact_name.chars().count() > 200 {
        errors.push(("contact_name", "keep it under 200 characters".into()));
    }
    if !input.contact_email.is_empty() && !is_email(&input.contact_email) {
        errors.push(("contact_email", "enter an email address like jane@globex.com".into()));
    }
    if input.notes.chars().count() > 5000 {
        errors.push(("notes", "keep notes under 5,000 characters".into()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let name_keys = matching::name_keys(&name_norm);
    Ok(Checked { input, domain, name_norm, name_keys })
}

/// `2026-11-26T12:00:00.123Z` for a UTC millisecond timestamp.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn iso_opt(ms: Option<i64>) -> Value {
    ms.map(|m| Value::String(iso(m))).unwrap_or(Value::Null)
}

impl Deal {
    /// A new draft in `program` from checked input; the caller fills in who owns it.
    pub fn draft(program: &str, source: &str, checked: Checked, now: i64) -> Deal {
        let [name_key_a, name_key_b] = checked.name_keys;
        Deal {
            program: program.to_string(),
            source: source.to_string(),
            org_id: String::new(),
            org_name: String::new(),
            owner_id: String::new(),
            owner_name: String::new(),
            input: checked.input,
            domain: checked.domain,
            name_norm: checked.name_norm,
            name_key_a,
            name_key_b,
            status: Status::Draft,
            created_at: now,
            registered_at: None,
            submitted_at: None,
            due_at: None,
            sla_reminded: false,
            approved_at: None,
            expires_at: None,
            remind_at: None,
            exclusivity_expires_at: None,
            policy: Policy::default(),
            approval: None,
            conflicts: Vec::new(),
            extension: None,
            extension_pending: false,
            extensions_granted: 0,
            receipts: Vec::new(),
            timeline: Vec::new(),
            crm_origin: None,
            won_minor: None,
        }
    }

    /// The deal as the API shows it. Partners see that conflicts exist and why, never whose deals they are.
    pub fn to_json(&self, id: &str, vendor_view: bool) -> Value {
        let conflicts: Vec<Value> = self
            .conflicts
            .iter()
            .map(|c| {
                if vendor_view {
                    json!({ "deal_id": c.deal_id, "kinds": c.kinds, "score": c.score })
                } else {
                    json!({ "kinds": c.kinds })
                }
            })
            .collect();
        let i = &self.input;
        json!({
            "id": id,
            "program": self.program,
            "source": self.source,
            "org_id": self.org_id,
            "org_name": self.org_name,
            "owner_id": self.owner_id,
            "owner_name": self.owner_name,
            "customer_name": i.customer_name,
            "customer_domain": i.customer_domain,
            "registrable_domain": self.domain,
            "country": i.country,
            "amount": i.amount,
            "currency": i.currency,
            "products": i.products,
            "expected_close_date": i.expected_close_date,
            "contact_name": i.contact_name,
            "contact_email": i.contact_email,
            "notes": i.notes,
            "crm_origin": self.crm_origin,
            "status": self.status,
            "created_at": iso(self.created_at),
            "registered_at": iso_opt(self.registered_at),
            "submitted_at": iso_opt(self.submitted_at),
            "approval_due_at": iso_opt(self.due_at),
            "approved_at": iso_opt(self.approved_at),
            "exclusivity_expires_at": iso_opt(self.exclusivity_expires_at),
            "approval": self.approval.as_ref().map(|a| json!({
                "mode": a.mode, "steps": a.steps, "approved_steps": a.approvals.len(),
            })),
            "extension": self.extension,
            "extensions_granted": self.extensions_granted,
            "conflicts": conflicts,
            "receipts": self.receipts,
            "timeline": self.timeline.iter().map(|t| json!({
                "at": iso(t.at), "by": t.by_name, "from": t.from, "to": t.to, "note": t.note,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn products() -> Vec<String> {
        vec!["Edge Router".into(), "Cloud Firewall".into()]
    }

    fn full() -> Input {
        Input {
            customer_name: " Globex Inc. ".into(),
            customer_domain: "https://sales.globex.co.uk/x".into(),
            country: "gb".into(),
            amount: Some(12_000.456),
            currency: "gbp".into(),
            products: vec!["Edge Router".into()],
            expected_close_date: "2027-03-31".into(),
            contact_name: "Jane".into(),
            contact_email: "jane@globex.co.uk".into(),
            notes: String::new(),
        }
    }

    #[test]
    fn a_full_input_is_normalised() {
        let c = check(full(), &products(), true).unwrap();
        assert_eq!(c.domain, "globex.co.uk");
        assert_eq!(c.input.customer_name, "Globex Inc.");
        assert_eq!(c.input.country, "GB");
        assert_eq!(c.input.currency, "GBP");
        assert_eq!(c.input.amount, Some(12_000.46));
        assert_eq!(c.name_norm, "globex");
    }

    #[test]
    fn a_draft_needs_only_the_name_but_a_submission_needs_everything() {
        let draft = Input { customer_name: "Globex".into(), ..Input::default() };
        assert!(check(draft.clone(), &products(), false).is_ok());
        let errors = check(draft, &products(), true).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            ["customer_domain", "country", "amount", "currency", "products", "expected_close_date"],
            "{errors:?}"
        );
    }

    #[test]
    fn bad_values_are_named_by_field() {
        let bad = Input {
            customer_domain: "not a domain".into(),
            country: "XX".into(),
            amount: Some(-5.0),
            currency: "DOGE".into(),
            products: vec!["Toaster".into()],
            expected_close_date: "31/03/2027".into(),
            contact_email: "jane".into(),
            ..full()
        };
        let errors = check(bad, &products(), true).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            ["customer_domain", "country", "amount", "currency", "products", "expected_close_date", "contact_email"]
        );
    }
}
