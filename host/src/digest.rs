//! The weekly digest: from Monday 07:00 in the tenant's time zone, each active partner admin and channel manager
//! who has not opted out is mailed what changed in the week before (Monday to Sunday, the tenant's days) against
//! the week before that. Channel managers get the tenant's totals; a partner admin their own organisation's figures
//! and its timeline lines of the week, nothing of other partners'. A partner admin whose organisation had a week
//! with nothing in it gets no mail; a channel manager gets a short "quiet week" note, since a silent channel is
//! news to the vendor.
//!
//! Each (person, week) is claimed in the database before its mail goes out, so any number of replicas running the
//! workers send it once. Every digest carries a one-click unsubscribe link (RFC 8058): a token that is an HMAC over
//! tenant and user under a key derived from the instance secret replicas share, so nothing is stored for it and it
//! works on that tenant's portal only.

use std::collections::HashMap;

use base64::Engine;
use chrono::{TimeZone, Timelike};
use hmac::{Hmac, Mac};
use portico_plugin_api::MetricUnit;
use sha2::Sha256;

use crate::analytics::{self, Figures, Kpi, Range};
use crate::app::AppState;
use crate::config::Config;
use crate::domain::{Role, Tenant};
use crate::storage::analytics::{ALL_ORGS, TimelineEntry};
use crate::storage::digest::DigestRecipient;
use crate::storage::{Db, StorageError};

/// The tenant's local hour on Monday from which the week's digest goes out.
pub const SEND_HOUR: u32 = 7;
/// Digests one call handles at most; the rest go on the next call.
const BATCH: usize = 200;
/// Timeline lines a partner's digest lists at most.
const TIMELINE_LINES: usize = 15;

/// Sends every digest due at `now` that no replica has claimed yet; returns how many mails went out. Cheap when
/// nothing is due: a tenant before its Monday 07:00 costs no query, one after it a single query for who is still
/// owed this week's digest.
pub async fn send_due(state: &AppState, now: i64) -> anyhow::Result<usize> {
    let mut handled = 0;
    let mut sent = 0;
    let mut key: Option<UnsubscribeKey> = None;
    for tenant in state.db.list_tenants().await? {
        if handled >= BATCH {
            break;
        }
        let Some(week) = due_week(now, &tenant.timezone) else { continue };
        let recipients = state.db.tenant(&tenant.id).digest_recipients(week).await?;
        if recipients.is_empty() {
            continue;
        }
        let key = match &key {
            Some(k) => k.clone(),
            None => key.insert(UnsubscribeKey::load(&state.db).await?).clone(),
        };
        let budget = BATCH - handled;
        match send_tenant(state, &tenant, week, now, &key, recipients, budget).await {
            Ok(outcome) => {
                handled += outcome.claimed;
                sent += outcome.sent;
            }
            Err(e) => tracing::error!(tenant = %tenant.slug, error = %e, "weekly digest failed"),
        }
    }
    Ok(sent)
}

/// Whether people of `role` are sent the digest (and offered it on their account page): partner admins and channel
/// managers. [`crate::storage::TenantScope::digest_recipients`] selects the same roles.
pub fn receives(role: Role) -> bool {
    matches!(role, Role::PartnerAdmin | Role::ChannelManager)
}

/// The week (as [`analytics::week_of`] numbers it) whose digest is due at `now` in time zone `tz`: the current
/// week once its Monday has reached [`SEND_HOUR`], none before.
pub fn due_week(now: i64, tz: &str) -> Option<i64> {
    let tz: chrono_tz::Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    let local = chrono::DateTime::from_timestamp_millis(now)?.with_timezone(&tz);
    let today = analytics::day(local.date_naive());
    let week = analytics::week_of(today);
    (today > week_start(week) || local.hour() >= SEND_HOUR).then_some(week)
}

/// The first day (a Monday) of a week.
pub fn week_start(week: i64) -> i64 {
    week * 7 - 3
}

/// The days a week's digest reports on: the week before it.
pub fn reported(week: i64) -> Range {
    Range { from: week_start(week) - 7, to: week_start(week) - 1 }
}

/// The base URL of a tenant's portal for links in mail: its own domain, the configured public URL for the
/// default tenant, `{slug}.{base_domain}` (on the public URL's scheme and port) for another, else the public URL.
pub fn portal_url(config: &Config, tenant: &Tenant) -> String {
    let public = config.public_url();
    let host = match (&tenant.domain, &config.base_domain) {
        (Some(domain), _) => domain.clone(),
        _ if config.default_tenant.as_deref() == Some(tenant.slug.as_str()) => return public,
        (None, Some(base)) => format!("{}.{base}", tenant.slug),
        (None, None) => return public,
    };
    let Ok(mut url) = url::Url::parse(&public) else { return public };
    if url.set_host(Some(&host)).is_err() {
        return public;
    }
    url.as_str().trim_end_matches('/').to_string()
}

/// The key unsubscribe tokens are signed with.
#[derive(Clone)]
pub struct UnsubscribeKey([u8; 32]);

impl std::fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeKey(..)")
    }
}

/// The unsubscribe key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the instance secret is missing or unreadable")]
    Missing,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl UnsubscribeKey {
    /// Derived from the instance secret (the CSRF key every replica shares), as file links' key is.
    pub fn derive(instance_secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(instance_secret).expect("HMAC takes any key");
        mac.update(b"portico-digest-unsubscribe");
        UnsubscribeKey(mac.finalize().into_bytes().into())
    }

    /// The key of this deployment, from the instance secret in the database.
    pub async fn load(db: &Db) -> Result<Self, KeyError> {
        let stored = db.host_setting("csrf_key").await?.ok_or(KeyError::Missing)?;
        let secret = base64::engine::general_purpose::STANDARD.decode(stored).map_err(|_| KeyError::Missing)?;
        Ok(Self::derive(&secret))
    }

    /// The token of `user_id` of `tenant_id`: `{user id}.{mac}`, good for as long as the key is.
    pub fn token(&self, tenant_id: &str, user_id: &str) -> String {
        format!("{user_id}.{}", B64.encode(self.mac(tenant_id, user_id).finalize().into_bytes()))
    }

    /// The user a token is for, if this key made it for `tenant_id` (compared in constant time).
    pub fn verify(&self, tenant_id: &str, token: &str) -> Option<String> {
        let (user_id, mac) = token.rsplit_once('.')?;
        let given = B64.decode(mac).ok()?;
        self.mac(tenant_id, user_id).verify_slice(&given).ok()?;
        Some(user_id.to_string())
    }

    fn mac(&self, tenant_id: &str, user_id: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        // Lengths first, so no two (tenant, user) pairs feed the same bytes.
        mac.update(&(tenant_id.len() as u64).to_be_bytes());
        mac.update(tenant_id.as_bytes());
        mac.update(&(user_id.len() as u64).to_be_bytes());
        mac.update(user_id.as_bytes());
        mac
    }
}

/// What one tenant's run did: digests claimed (sent or skipped as empty) and mails sent.
struct Outcome {
    claimed: usize,
    sent: usize,
}

/// What a digest says about one scope (the tenant's totals, or one organisation).
struct Content {
    figures: Vec<String>,
    timeline: Vec<String>,
    /// More timeline lines than shown.
    more: bool,
}

impl Content {
    fn is_empty(&self) -> bool {
        self.figures.is_empty() && self.timeline.is_empty()
    }
}

async fn send_tenant(
    state: &AppState,
    tenant: &Tenant,
    week: i64,
    now: i64,
    key: &UnsubscribeKey,
    recipients: Vec<DigestRecipient>,
    budget: usize,
) -> anyhow::Result<Outcome> {
    let scope = state.db.tenant(&tenant.id);
    let tz: chrono_tz::Tz = tenant.timezone.parse().unwrap_or(chrono_tz::UTC);
    let range = reported(week);
    // Monthly distinct figures (active users and partners) are month-to-date counts, not a week's: left out.
    let defs: Vec<_> =
        crate::plugins::metric_catalogue(state, tenant).await?.into_iter().filter(|d| !d.monthly_distinct).collect();
    let base = portal_url(&state.config, tenant);
    let (from_ms, until_ms) = (day_start_ms(range.from, tz), day_start_ms(range.to + 1, tz));
    let mut contents: HashMap<String, Content> = HashMap::new();
    let mut outcome = Outcome { claimed: 0, sent: 0 };
    for r in recipients.into_iter().take(budget) {
        let partner = r.role != Role::ChannelManager;
        let org = if partner { r.org_id.as_str() } else { ALL_ORGS };
        if !contents.contains_key(org) {
            let rows = scope.metric_days(org, range.previous().from, range.to).await?;
            let kpis = analytics::report(&defs, &Figures::new(rows), range);
            let figures = kpis.iter().map(Line::of).filter(|l| !l.quiet()).map(|l| l.text()).collect();
            let (timeline, more) = if partner {
                let mut entries = scope.timeline_between(org, from_ms, until_ms, TIMELINE_LINES as i64 + 1).await?;
                let more = entries.len() > TIMELINE_LINES;
                entries.truncate(TIMELINE_LINES);
                (entries.iter().map(|e| timeline_line(e, tz, &base)).collect(), more)
            } else {
                (Vec::new(), false)
            };
            contents.insert(org.to_string(), Content { figures, timeline, more });
        }
        let content = &contents[org];
        // Claimed even when empty, so the week is done for them and not looked at again.
        if !scope.claim_digest(&r.user_id, week, now).await? {
            continue;
        }
        outcome.claimed += 1;
        if partner && content.is_empty() {
            continue;
        }
        let token = key.token(&tenant.id, &r.user_id);
        let unsubscribe = format!("{base}/unsubscribe/{token}");
        let subject = format!("{}: your weekly digest, {}", tenant.branding.portal_name, range.label());
        let body = body(&tenant.branding.portal_name, &r, range, content, &base, &unsubscribe);
        let headers = [
            ("List-Unsubscribe", format!("<{unsubscribe}>")),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".to_string()),
        ];
        state.mailer.send_with_headers(scope, &r.email, &subject, &body, Some(&token), &headers).await?;
        outcome.sent += 1;
    }
    Ok(outcome)
}

/// One figure of a digest, as a line says it.
struct Line<'a> {
    label: &'a str,
    value: &'a str,
    previous: &'a str,
    /// The figures as plain numbers (empty for a share of nothing).
    figure: &'a str,
    previous_figure: &'a str,
    /// Percent for an amount, percentage points for a share; none when the week before had nothing.
    change: Option<f64>,
    share: bool,
}

impl<'a> Line<'a> {
    fn of(k: &'a Kpi) -> Self {
        Line {
            label: &k.label,
            value: &k.value,
            previous: &k.previous,
            figure: &k.figure,
            previous_figure: &k.previous_figure,
            change: k.change,
            share: k.unit == MetricUnit::Percent,
        }
    }

    /// Nothing in either week (zero, or a share of nothing).
    fn quiet(&self) -> bool {
        nothing(self.figure) && nothing(self.previous_figure)
    }

    /// "Deals registered: 12 (+20% on the week before)".
    fn text(&self) -> String {
        let change = match self.change {
            _ if self.value == self.previous => "the same as the week before".to_string(),
            None if !nothing(self.previous_figure) => format!("{} the week before", self.previous),
            None => "none the week before".to_string(),
            Some(points) if self.share => format!("{points:+.1} points on the week before"),
            Some(percent) if percent.round() == 0.0 => format!("{percent:+.1}% on the week before"),
            Some(percent) => format!("{percent:+.0}% on the week before"),
        };
        format!("{}: {} ({change})", self.label, self.value)
    }
}

/// Whether a plain figure is zero or none.
fn nothing(figure: &str) -> bool {
    !figure.parse::<f64>().is_ok_and(|n| n != 0.0)
}

fn timeline_line(e: &TimelineEntry, tz: chrono_tz::Tz, base: &str) -> String {
    let when = chrono::DateTime::from_timestamp_millis(e.at)
        .map(|t| t.with_timezone(&tz).format("%a %-d %b").to_string())
        .unwrap_or_default();
    let text = e.text.split_whitespace().collect::<Vec<_>>().join(" ");
    match e.link.as_deref().filter(|l| l.starts_with('/')) {
        Some(link) => format!("- {when}: {text}\n  {base}{link}"),
        None => format!("- {when}: {text}"),
    }
}

fn body(portal: &str, r: &DigestRecipient, range: Range, c: &Content, base: &str, unsubscribe: &str) -> String {
    let mut out = format!("Hello {},\n\n", r.name);
    let whose = if r.role == Role::ChannelManager { "the channel".to_string() } else { r.org_name.clone() };
    out.push_str(&format!(
        "Here is the week at {portal} for {whose}: {}, compared with the week before.\n\n",
        range.label()
    ));
    if c.figures.is_empty() && c.timeline.is_empty() {
        out.push_str("It was a quiet week: nothing was counted.\n");
    }
    for line in &c.figures {
        out.push_str(line);
        out.push('\n');
    }
    if !c.timeline.is_empty() {
        out.push_str(&format!("\nWhat happened at {}:\n", r.org_name));
        for line in &c.timeline {
            out.push_str(line);
            out.push('\n');
        }
        if c.more {
            out.push_str("- and more on the portal\n");
        }
    }
    out.push_str(&format!("\nSee the dashboard: {base}/\n\n"));
    out.push_str(&format!(
        "You receive this weekly digest as a {} at {portal}. To stop it, open\n{unsubscribe}\n\
         or turn it off on your account page: {base}/account\n",
        r.role.label().to_lowercase()
    ));
    out
}

/// The first instant of a tenant's day, in milliseconds (the first that exists when a time change skips midnight).
fn day_start_ms(day: i64, tz: chrono_tz::Tz) -> i64 {
    let midnight = analytics::date(day).and_time(chrono::NaiveTime::MIN);
    (0..=3)
        .find_map(|h| tz.from_local_datetime(&(midnight + chrono::TimeDelta::hours(h))).earliest())
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
    }

    #[test]
    fn a_weeks_digest_is_due_from_monday_seven_in_the_tenants_zone() {
        // Monday 2026-03-16, 06:59 and 07:00 in New York (UTC-4 then).
        assert_eq!(due_week(ms("2026-03-16T10:59:00Z"), "America/New_York"), None);
        let week = due_week(ms("2026-03-16T11:00:00Z"), "America/New_York").unwrap();
        assert_eq!(analytics::date(week_start(week)).to_string(), "2026-03-16");
        // Still that week's digest on Sunday night; the next week's from the next Monday 07:00.
        assert_eq!(due_week(ms("2026-03-23T03:59:00Z"), "America/New_York"), Some(week));
        assert_eq!(due_week(ms("2026-03-23T10:59:00Z"), "America/New_York"), None);
        assert_eq!(due_week(ms("2026-03-23T11:00:00Z"), "America/New_York"), Some(week + 1));
        // The same instant is Monday 16:00 in Tokyo, and still Sunday in Honolulu.
        assert_eq!(due_week(ms("2026-03-16T07:00:00Z"), "Asia/Tokyo"), Some(week));
        assert_eq!(due_week(ms("2026-03-16T07:00:00Z"), "Pacific/Honolulu"), Some(week - 1));
        let r = reported(week);
        assert_eq!(
            (analytics::date(r.from).to_string(), analytics::date(r.to).to_string()),
            ("2026-03-09".into(), "2026-03-15".into())
        );
    }

    #[test]
    fn a_day_starts_at_the_tenants_midnight() {
        let day = analytics::day(chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap());
        assert_eq!(day_start_ms(day, chrono_tz::America::New_York), ms("2026-03-09T04:00:00Z"));
        assert_eq!(day_start_ms(day, chrono_tz::UTC), ms("2026-03-09T00:00:00Z"));
        // Santiago skipped from 24:00 to 01:00 on 2022-09-11: the day began at 01:00 local.
        let skipped = analytics::day(chrono::NaiveDate::from_ymd_opt(2022, 9, 11).unwrap());
        assert_eq!(day_start_ms(skipped, chrono_tz::America::Santiago), ms("2022-09-11T04:00:00Z"));
    }

    #[test]
    fn a_token_names_its_user_and_works_for_its_tenant_only() {
        let key = UnsubscribeKey::derive(b"instance secret");
        let token = key.token("t1", "u1");
        assert_eq!(key.verify("t1", &token).as_deref(), Some("u1"));
        assert_eq!(key.verify("t2", &token), None, "another tenant");
        assert_eq!(UnsubscribeKey::derive(b"another instance").verify("t1", &token), None);
        let forged = format!("u2.{}", token.split_once('.').unwrap().1);
        assert_eq!(key.verify("t1", &forged), None, "another user under the same mac");
        assert_eq!(key.verify("t1", "garbage"), None);
        assert_eq!(key.verify("t1", "u1."), None);
    }

    #[test]
    fn links_in_mail_go_to_the_tenants_own_portal() {
        let tenant = |slug: &str, domain: Option<&str>| Tenant {
            id: "t".into(),
            slug: slug.into(),
            name: slug.into(),
            domain: domain.map(str::to_string),
            theme: "default".into(),
            branding: crate::domain::Branding {
                portal_name: slug.into(),
                primary_color: String::new(),
                accent_color: String::new(),
                logo_key: None,
                favicon_key: None,
                custom_css: String::new(),
            },
            timezone: "UTC".into(),
            updated_at: 0,
        };
        let config = Config {
            public_url: Some("https://acme.portico.example/".into()),
            base_domain: Some("portico.example".into()),
            default_tenant: Some("acme".into()),
            ..Config::default()
        };
        assert_eq!(portal_url(&config, &tenant("acme", None)), "https://acme.portico.example");
        assert_eq!(portal_url(&config, &tenant("globex", None)), "https://globex.portico.example");
        assert_eq!(
            portal_url(&config, &tenant("initech", Some("partners.initech.example"))),
            "https://partners.initech.example"
        );
        let bare = Config { base_domain: None, ..config };
        assert_eq!(portal_url(&bare, &tenant("globex", None)), "https://acme.portico.example");
    }

    #[test]
    fn a_figure_line_says_how_it_changed() {
        let line = |value: &'static str, previous: &'static str, change: Option<f64>| Line {
            label: "Deals registered",
            value,
            previous,
            figure: value.trim_end_matches('%'),
            previous_figure: previous.trim_end_matches('%'),
            change,
            share: value.ends_with('%'),
        };
        let text = |value, previous, change| line(value, previous, change).text();
        assert_eq!(text("12", "10", Some(20.0)), "Deals registered: 12 (+20% on the week before)");
        assert_eq!(text("9", "10", Some(-10.0)), "Deals registered: 9 (-10% on the week before)");
        assert_eq!(text("1,001", "1,000", Some(0.1)), "Deals registered: 1,001 (+0.1% on the week before)");
        assert_eq!(text("3", "0", None), "Deals registered: 3 (none the week before)");
        assert_eq!(text("4", "4", Some(0.0)), "Deals registered: 4 (the same as the week before)");
        assert_eq!(text("55.0%", "50.0%", Some(5.0)), "Deals registered: 55.0% (+5.0 points on the week before)");
        assert!(line("0", "0", None).quiet());
        assert!(!line("0", "2", Some(-100.0)).quiet());
        let shares_of_nothing = Line { figure: "", previous_figure: "", ..line("–", "–", None) };
        assert!(shares_of_nothing.quiet());
    }
}
