//! Thin typed wrappers over the host imports other than storage.

/// Events.
pub mod events {
    use serde::Serialize;

    use crate::Error;

    /// Emits an event with a JSON payload; it is published only if the invocation succeeds. Returns its id.
    pub fn emit(topic: &str, payload: &impl Serialize) -> Result<String, Error> {
        crate::bindings::portico::plugin::events::emit(topic, &crate::storage::encode(payload)?)
    }

    /// Decodes an event's payload.
    pub fn payload<T: serde::de::DeserializeOwned>(event: &crate::Event) -> Result<T, Error> {
        serde_json::from_str(&event.payload).map_err(|e| Error::invalid("payload", e.to_string()))
    }
}

/// The host's own activity, delivered as events (source `portico`) to plugins whose manifest lists the topics
/// in `events` (`portico:plugin` 0.1.1), like any plugin's events: at least once, in order per subscriber,
/// retried when the handler fails. Decode a payload with [`events::payload`] into the matching type here.
///
/// | topic | when | payload |
/// |---|---|---|
/// | `portico.user.signed_in` | a user signs in with their password (for a session or an API token) | [`UserEvent`] with `at` |
/// | `portico.user.active` | a user's first request of a day (UTC), once per user per day | [`UserEvent`] with `day` |
/// | `portico.plugin.enabled` / `.disabled` | a plugin is enabled or disabled for a program | [`PluginToggled`] |
/// | `portico.org.enrolled` | an organisation joins a program | [`TierEvent`] without `from` |
/// | `portico.tier.changed` | an organisation's tier in a program changes | [`TierEvent`] |
/// | `portico.org.unenrolled` | an organisation leaves a program | [`TierEvent`] (`tier` is the last one) |
///
/// ```text
/// fn on_event(_ctx: &Context, event: Event) -> Result<(), Error> {
///     if event.topic == activity::TIER_CHANGED {
///         let t: activity::TierEvent = events::payload(&event)?;
///         if t.to_rank > t.from_rank.unwrap_or(0) { award_badge(&t.org_id, "promoted")?; }
///     }
///     Ok(())
/// }
/// ```
pub mod activity {
    use serde::Deserialize;

    pub const SIGNED_IN: &str = "portico.user.signed_in";
    pub const ACTIVE: &str = "portico.user.active";
    pub const PLUGIN_ENABLED: &str = "portico.plugin.enabled";
    pub const PLUGIN_DISABLED: &str = "portico.plugin.disabled";
    pub const ORG_ENROLLED: &str = "portico.org.enrolled";
    pub const TIER_CHANGED: &str = "portico.tier.changed";
    pub const ORG_UNENROLLED: &str = "portico.org.unenrolled";

    /// A user signed in, or was active on a day.
    #[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
    pub struct UserEvent {
        pub user_id: String,
        /// `None` for vendor staff.
        pub org_id: Option<String>,
        /// The user's role key, e.g. `partner_admin`.
        pub role: String,
        /// Sign-in time, milliseconds since the epoch (`signed_in`).
        #[serde(default)]
        pub at: Option<i64>,
        /// The day, `YYYY-MM-DD` in UTC (`active`).
        #[serde(default)]
        pub day: Option<String>,
    }

    /// A plugin was enabled or disabled for a program.
    #[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
    pub struct PluginToggled {
        pub plugin_id: String,
        /// The program's key.
        pub program: String,
    }

    /// An organisation's standing in a program: enrolled, changed tier, or left.
    #[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
    pub struct TierEvent {
        pub org_id: String,
        /// The program's key.
        pub program: String,
        /// The tier's key now (`enrolled`; `unenrolled`: the last one), or see `to`.
        #[serde(default)]
        pub tier: Option<String>,
        #[serde(default)]
        pub tier_rank: Option<i64>,
        /// `tier.changed`: the tier keys before and after, with their ranks (higher is better).
        #[serde(default)]
        pub from: Option<String>,
        #[serde(default)]
        pub to: Option<String>,
        #[serde(default)]
        pub from_rank: Option<i64>,
        #[serde(default)]
        pub to_rank: i64,
    }
}

/// The directory of users, organisations and programs.
pub mod directory {
    pub use crate::bindings::portico::plugin::directory::{
        EnrolmentInfo, OrgInfo, ProgramInfo, TierInfo, UserInfo, get_org, get_org_logo, get_program, get_user,
        list_orgs, list_users, set_tier,
    };
}

/// Channel analytics (`portico:plugin` 0.1.4): the figures the manifest declares in `[[metrics]]`, counted per
/// day for the vendor's channel dashboard and the weekly digest, and lines on a partner organisation's timeline
/// (its 360 page). Both are written with the call's other writes, or not at all; count where the change happens
/// (the route that approves a deal), not in a page view.
///
/// ```text
/// analytics::count("won", Some(&deal.org_id), 1)?;
/// analytics::amount("won_revenue", Some(&deal.org_id), deal.amount_minor, &deal.currency)?;
/// analytics::timeline(&deal.org_id, &format!("Deal won: {} ({})", deal.customer, amount), Some(&link))?;
/// ```
pub mod analytics {
    use crate::Error;
    use crate::bindings::portico::plugin::analytics as wit;

    /// Adds `n` to count metric `metric` today, for partner organisation `org_id` (none: the tenant's total only;
    /// in a partner's call, the partner's own organisation).
    pub fn count(metric: &str, org_id: Option<&str>, n: i64) -> Result<(), Error> {
        wit::count(metric, org_id, n, None)
    }

    /// Adds an amount in minor units of `currency` (`USD`) to money metric `metric` today.
    pub fn amount(metric: &str, org_id: Option<&str>, minor: i64, currency: &str) -> Result<(), Error> {
        wit::count(metric, org_id, minor, Some(currency))
    }

    /// Adds a line to partner organisation `org_id`'s timeline, optionally linking one of the plugin's pages.
    pub fn timeline(org_id: &str, text: &str, link: Option<&str>) -> Result<(), Error> {
        let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
        wit::timeline(org_id, &text, link)
    }
}

/// Notifications in the portal and by email.
pub mod notify {
    pub use crate::bindings::portico::plugin::notifications::{Audience, Notification, send};
}

/// Outbound HTTP to the hosts the manifest names.
pub mod http {
    pub use crate::bindings::portico::plugin::outbound_http::{Request, Response, send};
}

/// Secrets the vendor stored for the plugin (`get`), and those the plugin obtains itself (`set`, for names the
/// manifest lists in `grants.writable_secrets`, such as a refreshed OAuth token). Sealed at rest by the host.
///
/// ```text
/// let refresh = secrets::get("refresh_token")?;
/// let fresh = exchange(&refresh)?;          // the CRM's token endpoint, through `http::send`
/// secrets::set("access_token", &fresh)?;    // written with the call's other writes, or not at all
/// ```
pub mod secrets {
    pub use crate::bindings::portico::plugin::secrets::{get, set};
}

/// The plugin's settings for the call's program.
pub mod settings {
    use crate::Error;

    /// The settings decoded into `T` (defaults filled in by the host).
    pub fn get<T: serde::de::DeserializeOwned>() -> Result<T, Error> {
        let raw = crate::bindings::portico::plugin::settings::get()?;
        serde_json::from_str(&raw).map_err(|e| Error::internal(format!("settings do not decode: {e}")))
    }
}

/// Files in the blob store.
pub mod blobs {
    pub use crate::bindings::portico::plugin::blobs::{delete, get, put};
}

/// Large files the host streams (needs the `blobs` grant and `portico:plugin` 0.1.1): uploads to routes whose
/// manifest entry declares `upload = { max_mib, types }` arrive stored, judged by content, and hashed; keep the
/// ones you want, read parts of them, and let users download them through links the host serves with `Range`.
///
/// ```text
/// for f in files::uploads() {                  // handles: key, field, size, sha256, content_type, filename
///     files::keep(&f.key)?;                     // kept only if this call succeeds
/// }
/// let url = files::serve_url(&key, "brochure.pdf", files::Disposition::Inline, 600, false)?;
/// Ok(Response::redirect(url))                   // the host streams it, bound to this user's session
/// ```
///
/// Archives (`portico:plugin` 0.1.2): `unpack` a zip into a tree of files the host stores and serves by relative
/// path (`tree_url`), for web content such as a SCORM package, which a sandboxed frame loads without a session:
///
/// ```text
/// let tree = files::unpack(&upload.key, 2_000, 500 << 20)?;  // refused whole if unsafe or too big
/// let html = files::read(&format!("{}/index.html", tree.key), 0, 1 << 20)?;
/// let prefix = files::tree_url(&tree.key, 3_600)?;          // "/files/tree/{ticket}/"; + "index.html"
/// ```
pub mod files {
    pub use crate::bindings::portico::plugin::files::{
        Disposition, FileInfo, Tree, TreeEntry, delete, keep, read, serve_url, stat, tree_url, unpack, uploads,
    };
}

/// Full-text search over documents the plugin indexes (`portico:plugin` 0.1.1): words, "phrases" and prefix*
/// terms, ranked, with snippets. Give documents labels and queries groups of labels: a document is found only
/// when it shares a label with every group, inside the query, so nothing a caller may not open is found or
/// counted. Partner callers find only their own organisation's documents and those of none.
///
/// ```text
/// search::index(&Document { id: asset.id.clone(), title: asset.title.clone(), text: extracted, tags: asset.tags.clone(),
///     labels: vec!["program:reseller".into(), "tier:*".into()], org_id: None })?;
/// let found = search::query(&SearchQuery { text: "pricing sheet".into(),
///     labels: vec![vec!["program:reseller".into(), "program:*".into()]], tags: vec![], limit: 20, offset: 0 })?;
/// ```
pub mod search {
    pub use crate::bindings::portico::plugin::search::{
        Document, Fragment, Hit, Results, SearchQuery, index, query, remove,
    };
}

/// The host's structured log.
pub mod log {
    use crate::bindings::portico::plugin::logging::{Level, log};

    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Native host extensions the operator loaded, for plugins granted them.
pub mod extensions {
    pub use crate::bindings::portico::plugin::extensions::call;
}
