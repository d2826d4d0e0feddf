//! Domain types shared by every layer: tenants, organisations, programs, tiers, users and roles.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. Stored and compared as such; shown in the viewer's time zone.
pub type Millis = i64;

/// Now, as [`Millis`].
pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// A new opaque, time-ordered identifier.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A vendor: one tenant of the deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub domain: Option<String>,
    pub theme: String,
    pub branding: Branding,
    pub timezone: String,
    pub updated_at: Millis,
}

/// How a tenant's portal looks. Colours are `#rrggbb`, validated on write.
#[derive(Debug, Clone, Serialize)]
pub struct Branding {
    pub portal_name: String,
    pub primary_color: String,
    pub accent_color: String,
    pub logo_key: Option<String>,
    pub favicon_key: Option<String>,
    pub custom_css: String,
}

/// Whether an organisation is the vendor itself or one of its partners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Vendor,
    Partner,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Vendor => "vendor",
            OrgKind::Partner => "partner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "vendor" => Some(OrgKind::Vendor),
            "partner" => Some(OrgKind::Partner),
            _ => None,
        }
    }
}

/// An organisation: the vendor or a partner company.
#[derive(Debug, Clone, Serialize)]
pub struct Org {
    pub id: String,
    pub kind: OrgKind,
    pub name: String,
    pub website: String,
    pub address: String,
    pub phone: String,
    pub contact_email: String,
    pub logo_key: Option<String>,
    pub created_at: Millis,
}

/// Editable profile fields of an organisation.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrgProfile {
    pub name: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub contact_email: String,
}

/// A partner program (reseller, MSP, referral…) with ordered tiers.
#[derive(Debug, Clone, Serialize)]
pub struct Program {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: String,
    pub tiers: Vec<Tier>,
}

/// One level of a program; a higher `rank` is a higher tier.
#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    pub id: String,
    pub key: String,
    pub name: String,
    pub rank: i64,
}

/// A partner org's enrolment in a program.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    pub org_id: String,
    pub org_name: String,
    pub program_id: String,
    pub program_key: String,
    pub program_name: String,
    pub tier_id: String,
    pub tier_key: String,
    pub tier_name: String,
}

/// What a user may do. Vendor roles belong to the vendor org, partner roles to a partner org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    VendorAdmin,
    ChannelManager,
    PartnerAdmin,
    PartnerUser,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::VendorAdmin, Role::ChannelManager, Role::PartnerAdmin, Role::PartnerUser];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::VendorAdmin => "vendor_admin",
            Role::ChannelManager => "channel_manager",
            Role::PartnerAdmin => "partner_admin",
            Role::PartnerUser => "partner_user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::VendorAdmin => "Vendor admin",
            Role::ChannelManager => "Channel manager",
            Role::PartnerAdmin => "Partner admin",
            Role::PartnerUser => "Partner user",
        }
    }

    /// Vendor staff (admin or channel manager), as opposed to partner users.
    pub fn is_vendor(self) -> bool {
        matches!(self, Role::VendorAdmin | Role::ChannelManager)
    }

    /// The org kind a user with this role must belong to.
    pub fn org_kind(self) -> OrgKind {
        if self.is_vendor() { OrgKind::Vendor } else { OrgKind::Partner }
    }
}

/// Account state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Invited, has not set a password yet.
    Invited,
    Active,
    Deactivated,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Invited => "invited",
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invited" => Some(UserStatus::Invited),
            "active" => Some(UserStatus::Active),
            "deactivated" => Some(UserStatus::Deactivated),
            _ => None,
        }
    }
}

/// A person who signs in.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    pub timezone: String,
    pub created_at: Millis,
    pub last_login_at: Option<Millis>,
}

/// One page of a list, with the total for paging controls.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
}

/// A list query: free-text search and 1-based page number.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: Option<i64>,
}

impl ListQuery {
    pub const PER_PAGE: i64 = 25;

    /// Pages past the millionth are read as the millionth: the offset stays far from overflowing, and a list
    /// that long is searched, not paged.
    pub const MAX_PAGE: i64 = 1_000_000;

    pub fn page(&self) -> i64 {
        self.page.unwrap_or(1).clamp(1, Self::MAX_PAGE)
    }

    pub fn offset(&self) -> i64 {
        (self.page() - 1) * Self::PER_PAGE
    }

    /// The search term as a `LIKE` pattern, with the wildcards of the term itself escaped.
    pub fn like_pattern(&self) -> String {
        let escaped = self.q.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    }
}

impl OrgProfile {
    /// Field errors for a profile, empty when it is acceptable.
    pub fn validate(&self) -> std::collections::BTreeMap<String, String> {
        let mut e = std::collections::BTreeMap::new();
        let name = self.name.trim();
        if name.is_empty() {
            e.insert("name".into(), "enter the organisation's name".into());
        } else if name.chars().count() > 200 {
            e.insert("name".into(), "use at most 200 characters".into());
        }
        let website = self.website.trim();
        if !website.is_empty()
            && url::Url::parse(&if website.contains("://") {
                website.to_string()
            } else {
                format!("https://{website}")
            })
            .is_err()
        {
            e.insert("website".into(), "enter a web address such as https://example.com".into());
        }
        if self.address.chars().count() > 1000 {
            e.insert("address".into(), "use at most 1000 characters".into());
        }
        if self.phone.chars().count() > 50 {
            e.insert("phone".into(), "use at most 50 characters".into());
        }
        let email = self.contact_email.trim();
        if !email.is_empty() && !crate::accounts::valid_email(&email.to_lowercase()) {
            e.insert("contact_email".into(), "enter a valid email address".into());
        }
        e
    }
}

/// A `#rrggbb` colour.
/// Text from outside (a plugin's log line or error) made safe for one log line: control characters (newline,
/// carriage return, tab, terminal escapes), Unicode line and paragraph separators and bidirectional overrides are
/// written as escapes (`\n`, `\u{1b}`), so no text can start a forged line or hide what follows it.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    let risky = |c: char| {
        c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(risky) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if risky(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

pub fn valid_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// A machine key (program or tier): 1–40 lowercase letters, digits, `-` or `_`, starting with a letter.
pub fn valid_key(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A key derived from a display name: "Gold Plus" → "gold-plus".
pub fn key_from_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(40).collect()
}

/// A new program as entered and checked: the key derived from the name when left blank, tiers lowest first.
#[derive(Debug, Clone)]
pub struct NewProgram {
    pub key: String,
    pub name: String,
    pub description: String,
    pub tiers: Vec<(String, String)>,
}

/// Field errors for a program's name and description.
pub fn check_program_details(name: &str, description: &str) -> std::collections::BTreeMap<String, String> {
    let mut errors = std::collections::BTreeMap::new();
    if name.trim().is_empty() || name.chars().count() > 100 {
        errors.insert("name".into(), "enter a name of at most 100 characters".into());
    }
    if description.chars().count() > 2000 {
        errors.insert("description".into(), "use at most 2000 characters".into());
    }
    errors
}

/// Checks a new program (form or API): details, key and tier names; every broken field is reported.
pub fn check_new_program<'a>(
    key: &str,
    name: &str,
    description: &str,
    tiers: impl IntoIterator<Item = &'a str>,
) -> Result<NewProgram, std::collections::BTreeMap<String, String>> {
    let mut errors = check_program_details(name, description);
    let key = if key.trim().is_empty() { key_from_name(name) } else { key.trim().to_string() };
    if !valid_key(&key) {
        errors.insert("key".into(), "use lowercase letters, digits and dashes, starting with a letter".into());
    }
    let tiers = parse_tier_names(tiers).unwrap_or_else(|m| {
        errors.insert("tiers".into(), m);
        Vec::new()
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NewProgram { key, name: name.trim().to_string(), description: description.trim().to_string(), tiers })
}

/// Tier names, lowest first, as `(key, name)` pairs; an error names the first unusable or repeated name.
pub fn parse_tier_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<(String, String)>, String> {
    let mut tiers: Vec<(String, String)> = Vec::new();
    for name in names.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
        let key = key_from_name(name);
        if !valid_key(&key) || name.chars().count() > 60 || tiers.iter().any(|(k, _)| *k == key) {
            return Err(format!("\"{name}\" is not a usable, distinct tier name"));
        }
        tiers.push((key, name.to_string()));
    }
    if tiers.is_empty() {
        return Err("name at least one tier, lowest first".into());
    }
    Ok(tiers)
}

#[cfg(test)]
mod escape_tests {
    use super::escape_control;

    #[test]
    fn control_characters_cannot_start_a_log_line() {
        assert_eq!(escape_control("plain text, é"), "plain text, é");
        assert_eq!(
            escape_control("ok\n2026-12-01T00:00:00Z INFO admin password reset\r\x1b[2K"),
            "ok\\n2026-12-01T00:00:00Z INFO admin password reset\\r\\u{1b}[2K"
        );
        assert_eq!(escape_control("a\u{2028}b\u{202e}c"), "a\\u{2028}b\\u{202e}c");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_names_must_be_distinct_and_present() {
        assert_eq!(parse_tier_names(["Registered", " Gold "]).unwrap()[1], ("gold".to_string(), "Gold".to_string()));
        assert!(parse_tier_names(["Gold", "gold"]).is_err());
        assert!(parse_tier_names(["", " "]).is_err());
    }

    #[test]
    fn keys_derive_from_names() {
        assert_eq!(key_from_name("Gold Plus"), "gold-plus");
        assert_eq!(key_from_name("  MSP — Premier! "), "msp-premier");
        assert!(valid_key("gold-plus"));
        assert!(!valid_key("Gold"));
    }

    #[test]
    fn org_profile_validation_names_fields() {
        let p = OrgProfile {
            name: " ".into(),
            website: "not a url with spaces".into(),
            contact_email: "x".into(),
            ..Default::default()
        };
        let e = p.validate();
        assert!(e.contains_key("name") && e.contains_key("website") && e.contains_key("contact_email"));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        let q = ListQuery { q: "50%_off".into(), page: None };
        assert_eq!(q.like_pattern(), "%50\\%\\_off%");
    }
}
