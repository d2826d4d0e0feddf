//! The records and what happens to them: templates, co-branded documents (made, approved, downloaded), share
//! links, batch runs and the usage behind the analytics.

use std::collections::BTreeMap;

use portico_sdk::directory::{self, OrgInfo};
use portico_sdk::files::{self, Disposition};
use portico_sdk::notify::{self, Audience, Notification};
use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Direction, Record};
use portico_sdk::{Value, analytics, blobs, events, secrets};
use serde::{Deserialize, Serialize};

use crate::html::{self, LogoSrc};
use crate::pdf::{self, Fonts, Logo, Vendor};
use crate::share;
use crate::template::{Area, Kind, Problems, Source, Status, Template};

pub const TEMPLATES: Collection = Collection::new("templates");
pub const GENERATED: Collection = Collection::new("generated");
pub const SHARES: Collection = Collection::new("shares");
pub const USAGE: Collection = Collection::new("usage");
pub const BATCHES: Collection = Collection::new("batches");

/// The topic of a batch's next chunk (delivered back to this plugin).
pub const BATCH_TOPIC: &str = "co-branding.batch";
/// Partners made per call of a batch: a chunk stays well inside a call's time and output.
pub const CHUNK: usize = 25;
const DAY_MS: i64 = 86_400_000;

/// Who acts.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub email: String,
    pub org_id: String,
    pub org_name: String,
    pub staff: bool,
    /// A partner's programs (empty for staff).
    pub programs: Vec<String>,
}

impl Actor {
    pub fn of(ctx: &Context) -> Result<Actor, Error> {
        let c = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
        let staff = matches!(c.role, Role::VendorAdmin | Role::ChannelManager);
        let programs = if staff {
            Vec::new()
        } else {
            directory::get_org(&c.org_id)?
                .map(|o| o.enrolments.into_iter().map(|e| e.program).collect())
                .unwrap_or_default()
        };
        Ok(Actor {
            id: c.user_id.clone(),
            name: c.name.clone(),
            email: c.email.clone(),
            org_id: c.org_id.clone(),
            org_name: c.org_name.clone(),
            staff,
            programs,
        })
    }

    pub fn staff_only(&self, what: &str) -> Result<(), Error> {
        if self.staff { Ok(()) } else { Err(Error::Denied(format!("only the vendor's staff {what}"))) }
    }
}

/// Field problems as the error a form or the API shows: one, the first of the form's order (the name before the
/// file, the file before the areas).
pub fn invalid(p: &Problems) -> Error {
    const ORDER: [&str; 6] = ["name", "kind", "subject", "file", "body", "areas"];
    let first = ORDER.iter().find_map(|k| p.get_key_value(*k)).or_else(|| p.iter().next());
    match first {
        Some((field, message)) => Error::invalid(field, message.clone()),
        None => Error::internal("no problem to report"),
    }
}

/// A template the actor may see: staff any; a partner a published one of one of their programs. Else not found.
pub fn usable(actor: &Actor, id: &str) -> Result<Record<Template>, Error> {
    match TEMPLATES.get::<Template>(id)? {
        Some(r) if actor.staff || (r.data.status == Status::Published && open_to(&r.data, &actor.programs)) => Ok(r),
        _ => Err(Error::NotFound(format!("no template {id}"))),
    }
}

fn open_to(t: &Template, programs: &[String]) -> bool {
    t.programs.is_empty() || t.programs.iter().any(|p| programs.contains(p))
}

/// The templates the actor may see, newest first.
pub fn templates(actor: &Actor) -> Result<Vec<Record<Template>>, Error> {
    // Partners' by the status index; ordered here (an index serves one field at a time).
    let q = if actor.staff {
        TEMPLATES.query().all_orgs().order_by("updated_at", Direction::Desc)
    } else {
        TEMPLATES.query().all_orgs().eq("status", "published")
    };
    let mut v: Vec<Record<Template>> = q
        .limit(500)
        .fetch::<Template>()?
        .records
        .into_iter()
        .filter(|r| actor.staff || open_to(&r.data, &actor.programs))
        .collect();
    v.sort_by_key(|r| std::cmp::Reverse(r.data.updated_at));
    Ok(v)
}

/// What staff send to create or change a template (multipart form fields or JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Fields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub kind: Option<String>,
    pub programs: Option<Vec<String>>,
    pub requires_approval: Option<bool>,
    pub body: Option<String>,
    pub subject: Option<String>,
    pub areas: Option<Vec<Area>>,
    pub status: Option<String>,
}

impl Fields {
    /// From a form: areas as JSON in one field, programs comma-separated, the approval box checked or not.
    pub fn from_form(req: &Request) -> Result<Fields, Error> {
        let text = |k: &str| req.field(k).map(str::to_string);
        let areas = match req.field("areas").map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(serde_json::from_str(s).map_err(|e| {
                Error::invalid("areas", format!("The areas are not valid JSON ({e}); see the example below the field."))
            })?),
            None => None,
        };
        Ok(Fields {
            name: text("name"),
            description: text("description"),
            kind: text("kind"),
            programs: text("programs")
                .map(|p| p.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
            requires_approval: Some(req.field("requires_approval").is_some_and(|v| v == "on" || v == "true")),
            body: text("body"),
            subject: text("subject"),
            areas,
            status: text("status"),
        })
    }
}

fn apply(t: &mut Template, f: Fields) -> Result<(), Error> {
    if let Some(v) = f.name {
        t.name = v.trim().to_string();
    }
    if let Some(v) = f.description {
        t.description = v.trim().to_string();
    }
    if let Some(v) = f.programs {
        t.programs = v;
    }
    if let Some(v) = f.requires_approval {
        t.requires_approval = v;
    }
    if let Some(v) = f.body {
        t.body = v;
    }
    if let Some(v) = f.subject {
        t.subject = v.trim().to_string();
    }
    if let Some(v) = f.areas {
        t.areas = v;
    }
    if let Some(s) = f.status {
        t.status = match s.as_str() {
            "draft" => Status::Draft,
            "published" => Status::Published,
            "archived" => Status::Archived,
            _ => return Err(Error::invalid("status", "Choose draft, published or archived.")),
        };
    }
    Ok(())
}

/// Reads a kept file whole (the vendor's PDF; at most what a call may read).
fn read_file(key: &str) -> Result<Vec<u8>, Error> {
    let size = files::stat(key)?.ok_or_else(|| Error::NotFound("the template's PDF is gone".into()))?.size;
    let mut out = Vec::with_capacity(size as usize);
    while (out.len() as u64) < size {
        let part = files::read(key, out.len() as u64, 4 << 20)?;
        if part.is_empty() {
            break;
        }
        out.extend_from_slice(&part);
    }
    Ok(out)
}

/// A sample partner for checking a template and for staff previews without a partner.
fn sample() -> Profile {
    Profile {
        org_id: String::new(),
        company: "Example Partner Ltd".into(),
        address: "1 Sample Street, Springfield".into(),
        phone: "+1 555 0199".into(),
        website: "https://partner.example".into(),
        contact_email: "hello@partner.example".into(),
        user_name: "Sam Sample".into(),
        user_email: "sam@partner.example".into(),
        logo: None,
        logo_url: None,
    }
}

/// Checks the template whole, and a PDF template by making a sample document from it: a template that cannot make
/// a document is refused when it is saved, not when a partner uses it.
fn check(t: &Template) -> Result<(), Error> {
    let p = t.problems();
    if !p.is_empty() {
        return Err(invalid(&p));
    }
    if t.kind == Kind::Pdf {
        let key = t.pdf.as_deref().ok_or_else(|| Error::invalid("file", "Upload the PDF."))?;
        let vendor = pdf::open(read_file(key)?).map_err(|m| Error::invalid("file", m))?;
        let fonts = Fonts::load().map_err(Error::internal)?;
        let text = fill_text(t, &sample(), &t.free_text(&BTreeMap::new()).unwrap_or_default());
        pdf::render(&fonts, &vendor, t, &text, None, &t.name)
            .map_err(|r| Error::invalid(&r.area, format!("With a sample partner: {}", r.message)))?;
    }
    Ok(())
}

pub fn create(ctx: &Context, actor: &Actor, f: Fields) -> Result<Record<Template>, Error> {
    actor.staff_only("create templates")?;
    let kind = Kind::parse(f.kind.as_deref().unwrap_or("pdf"))
        .ok_or_else(|| Error::invalid("kind", "Choose PDF, HTML page or HTML email."))?;
    let mut t = Template { kind, created_by: actor.name.clone(), updated_at: ctx.now_ms(), ..Default::default() };
    apply(&mut t, f)?;
    if kind == Kind::Pdf {
        let upload = files::uploads().into_iter().find(|u| u.field == "file");
        if let Some(u) = upload {
            let vendor = pdf::open(files::read(&u.key, 0, u32::try_from(u.size).unwrap_or(u32::MAX))?)
                .map_err(|m| Error::invalid("file", m))?;
            files::keep(&u.key)?;
            t.pages = vendor.pages;
            t.pdf_name = u.filename.clone();
            t.pdf = Some(u.key);
        }
    }
    check(&t)?;
    TEMPLATES.insert(&t)
}

pub fn update(ctx: &Context, actor: &Actor, id: &str, f: Fields) -> Result<Record<Template>, Error> {
    actor.staff_only("change templates")?;
    let r = usable(actor, id)?;
    let mut t = r.data;
    apply(&mut t, f)?;
    t.updated_at = ctx.now_ms();
    check(&t)?;
    TEMPLATES.update(id, r.revision, &t)
}

/// The partner whose details fill a document.
#[derive(Debug, Clone)]
pub struct Profile {
    pub org_id: String,
    pub company: String,
    pub address: String,
    pub phone: String,
    pub website: String,
    pub contact_email: String,
    pub user_name: String,
    pub user_email: String,
    /// Content type and bytes.
    pub logo: Option<(String, Vec<u8>)>,
    /// The logo on this portal (an HTML preview in the page).
    pub logo_url: Option<String>,
}

impl Profile {
    pub fn of(org: OrgInfo, user_name: &str, user_email: &str) -> Result<Profile, Error> {
        let logo = directory::get_org_logo(&org.id)?;
        Ok(Profile {
            org_id: org.id,
            company: org.name,
            address: org.address,
            phone: org.phone,
            website: org.website,
            contact_email: org.contact_email,
            user_name: user_name.into(),
            user_email: user_email.into(),
            logo,
            logo_url: org.logo_url,
        })
    }

    fn field(&self, s: Source) -> &str {
        match s {
            Source::CompanyName => &self.company,
            Source::Address => &self.address,
            Source::Phone => &self.phone,
            Source::Website => &self.website,
            Source::ContactEmail => &self.contact_email,
            Source::UserName => &self.user_name,
            Source::UserEmail => &self.user_email,
            Source::Logo | Source::Text => "",
        }
    }
}

/// Every text area's value: the profile's fields and the free text.
fn fill_text(t: &Template, p: &Profile, free: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    t.areas
        .iter()
        .filter(|a| a.source != Source::Logo)
        .map(|a| {
            let v = match a.source {
                Source::Text => free.get(&a.name).cloned().unwrap_or_default(),
                // A website is a link in HTML: only a web address is kept (never `javascript:` and the like).
                Source::Website => {
                    let w = p.website.trim();
                    let lower = w.to_ascii_lowercase();
                    if lower.starts_with("https://") || lower.starts_with("http://") {
                        w.to_string()
                    } else {
                        String::new()
                    }
                }
                s => p.field(s).to_string(),
            };
            (a.name.clone(), v)
        })
        .collect()
}

/// A made document: its bytes, type and name.
pub struct Made {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub filename: String,
    pub subject: Option<String>,
}

/// What a batch keeps between documents: the fonts and the vendor's PDF, parsed once.
pub struct Maker {
    fonts: Option<Fonts>,
    vendor: Option<Vendor>,
}

impl Maker {
    pub fn new(t: &Template) -> Result<Maker, Error> {
        Ok(match (t.kind, &t.pdf) {
            (Kind::Pdf, Some(key)) => Maker {
                fonts: Some(Fonts::load().map_err(Error::internal)?),
                vendor: Some(pdf::open(read_file(key)?).map_err(|m| Error::invalid("file", m))?),
            },
            _ => Maker { fonts: None, vendor: None },
        })
    }

    /// Makes the document for `p` with the free text `free` (already checked). A refusal names the area.
    pub fn make(&self, t: &Template, p: &Profile, free: &BTreeMap<String, String>) -> Result<Made, Error> {
        let text = fill_text(t, p, free);
        let slug: String = format!("{} {}", t.name, p.company)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        match (t.kind, &self.fonts, &self.vendor) {
            (Kind::Pdf, Some(fonts), Some(vendor)) => {
                let logo = match &p.logo {
                    Some((ct, bytes)) => Some(Logo::decode(ct, bytes).map_err(|m| Error::invalid("logo", m))?),
                    None => None,
                };
                let title = format!("{} — {}", t.name, p.company);
                let bytes = pdf::render(fonts, vendor, t, &text, logo.as_ref(), &title)
                    .map_err(|r| Error::invalid(&r.area, r.message))?;
                Ok(Made { bytes, content_type: "application/pdf", filename: format!("{slug}.pdf"), subject: None })
            }
            _ => {
                let logo = p.logo.as_ref().map(|(ct, b)| LogoSrc::Bytes(ct, b));
                let page = html::render(t, &text, logo, &p.company);
                let subject = (t.kind == Kind::Email).then(|| html::subject(t, &text));
                Ok(Made {
                    bytes: page.into_bytes(),
                    content_type: "text/html",
                    filename: format!("{slug}.html"),
                    subject,
                })
            }
        }
    }
}

/// The actor's own organisation as a profile, with their name and email.
pub fn own_profile(actor: &Actor) -> Result<Profile, Error> {
    let org = directory::get_org(&actor.org_id)?.ok_or_else(|| Error::NotFound("your organisation".into()))?;
    Profile::of(org, &actor.name, &actor.email)
}

/// Who a preview is for: a partner their own organisation; staff the partner `org` names, or a sample.
pub fn preview_profile(actor: &Actor, org: Option<&str>) -> Result<Profile, Error> {
    match (actor.staff, org.filter(|o| !o.is_empty())) {
        (false, _) => own_profile(actor),
        (true, Some(o)) => {
            let org = directory::get_org(o)?.ok_or_else(|| Error::NotFound(format!("no organisation {o}")))?;
            Profile::of(org, &actor.name, &actor.email)
        }
        (true, None) => Ok(sample()),
    }
}

/// A preview: made, not kept, not counted.
pub fn preview(
    actor: &Actor,
    id: &str,
    given: &BTreeMap<String, String>,
    org: Option<&str>,
) -> Result<(Record<Template>, Made), Error> {
    let r = usable(actor, id)?;
    let free = r.data.free_text(given).map_err(|p| invalid(&p))?;
    let p = preview_profile(actor, org)?;
    let made = Maker::new(&r.data)?.make(&r.data, &p, &free)?;
    Ok((r, made))
}

/// Where a co-branded document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DocStatus {
    /// Usable: made from the defaults, or from a template that needs no approval.
    #[default]
    Ready,
    /// Customised text waiting for staff.
    Pending,
    Approved,
    Rejected,
}

impl DocStatus {
    pub fn usable(self) -> bool {
        matches!(self, DocStatus::Ready | DocStatus::Approved)
    }
}

/// A co-branded document.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Generated {
    pub template_id: String,
    pub template_name: String,
    pub kind: Kind,
    pub org_name: String,
    pub user_id: String,
    pub user_name: String,
    /// The free text used.
    pub values: BTreeMap<String, String>,
    pub customised: bool,
    pub status: DocStatus,
    pub reason: String,
    pub decided_by: String,
    pub file: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub subject: Option<String>,
    pub batch_id: Option<String>,
    pub created_at: i64,
    pub downloads: u64,
    pub shares: u64,
}

/// Stores a made document for `org_id`.
fn store(
    now: i64,
    t: &Record<Template>,
    p: &Profile,
    by: (&str, &str),
    free: BTreeMap<String, String>,
    made: Made,
    batch: Option<&str>,
) -> Result<Record<Generated>, Error> {
    let customised = t.data.customised(&free);
    let status = if customised && t.data.requires_approval { DocStatus::Pending } else { DocStatus::Ready };
    let size = made.bytes.len() as u64;
    let file = blobs::put(&made.filename, made.content_type, &made.bytes)?;
    let g = Generated {
        template_id: t.id.clone(),
        template_name: t.data.name.clone(),
        kind: t.data.kind,
        org_name: p.company.clone(),
        user_id: by.0.into(),
        user_name: by.1.into(),
        values: free,
        customised,
        status,
        file,
        filename: made.filename,
        content_type: made.content_type.into(),
        size,
        subject: made.subject,
        batch_id: batch.map(String::from),
        created_at: now,
        ..Default::default()
    };
    let r = GENERATED.insert_with(None, Some(&p.org_id), &g)?;
    usage(now, &r, "generated")?;
    // The channel dashboard's figure, committed with the document.
    analytics::count("documents", Some(p.org_id.as_str()).filter(|o| !o.is_empty()), 1)?;
    Ok(r)
}

/// A partner makes their co-branded version. Customised text of a template that needs approval waits for staff.
pub fn generate(
    ctx: &Context,
    actor: &Actor,
    id: &str,
    given: &BTreeMap<String, String>,
) -> Result<Record<Generated>, Error> {
    let t = usable(actor, id)?;
    if actor.staff {
        return Err(Error::Denied("staff make documents for partners with a batch run".into()));
    }
    if t.data.status != Status::Published {
        return Err(Error::Conflict("this template is not published".into()));
    }
    let free = t.data.free_text(given).map_err(|p| invalid(&p))?;
    let p = own_profile(actor)?;
    if p.logo.is_none() && t.data.areas.iter().any(|a| a.source == Source::Logo) {
        return Err(Error::invalid(
            "logo",
            "Your organisation has no logo yet: a partner admin can add one on the Organisation page.",
        ));
    }
    let made = Maker::new(&t.data)?.make(&t.data, &p, &free)?;
    let r = store(ctx.now_ms(), &t, &p, (&actor.id, &actor.name), free, made, None)?;
    if r.data.status == DocStatus::Pending {
        notify::send(&Notification {
            audience: Audience::Vendor(vec![Role::VendorAdmin, Role::ChannelManager]),
            title: format!("Approve {}'s {}", p.company, t.data.name),
            body: format!(
                "{} changed the text of a co-branded {}; it can be used once approved.",
                actor.name,
                t.data.kind.label()
            ),
            link: Some(format!("{}/approvals", crate::web::BASE)),
            email: true,
        })?;
    }
    Ok(r)
}

/// What vendor staff should do next: approve the co-branded documents waiting for them, oldest first. Partners have
/// nothing to do here that waits on them.
pub fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
    if !ctx.is_vendor_staff() {
        return Ok(Vec::new());
    }
    let waiting = GENERATED
        .query()
        .all_orgs()
        .eq("status", "pending")
        .order_by("created_at", Direction::Asc)
        .limit(5)
        .fetch::<Generated>()?
        .records;
    Ok(waiting
        .into_iter()
        .map(|r| NextStep {
            title: format!("Approve the {} of {}", r.data.template_name, r.data.org_name),
            detail: format!("{} changed its text; it can be used once approved.", r.data.user_name),
            link: format!("{}/approvals", crate::web::BASE),
            due_ms: None,
            urgent: false,
        })
        .collect())
}

/// A document the actor may see: staff any; a partner their organisation's. Else not found.
pub fn document(actor: &Actor, id: &str) -> Result<Record<Generated>, Error> {
    match GENERATED.get::<Generated>(id)? {
        Some(r) if actor.staff || r.org_id.as_deref() == Some(actor.org_id.as_str()) => Ok(r),
        _ => Err(Error::NotFound(format!("no document {id}"))),
    }
}

/// The documents the actor may see, newest first: a partner their organisation's, staff everyone's (or those of
/// one status).
pub fn documents(actor: &Actor, status: Option<&str>) -> Result<Vec<Record<Generated>>, Error> {
    let q = GENERATED.query();
    let q = match status {
        Some(s) => q.eq("status", s),
        None => q.order_by("created_at", Direction::Desc),
    };
    let q = if actor.staff { q.all_orgs() } else { q };
    let mut v = q.limit(500).fetch::<Generated>()?.records;
    v.sort_by_key(|r| std::cmp::Reverse(r.data.created_at));
    Ok(v)
}

fn require_usable(r: &Record<Generated>) -> Result<(), Error> {
    match r.data.status {
        DocStatus::Pending => Err(Error::Conflict("this document is waiting for the vendor's approval".into())),
        DocStatus::Rejected => {
            Err(Error::Conflict(format!("the vendor did not approve this document: {}", r.data.reason)))
        }
        _ => Ok(()),
    }
}

/// A download link for the actor's session. Partners only for a usable document; staff any (to review it).
pub fn download(ctx: &Context, actor: &Actor, id: &str) -> Result<String, Error> {
    let r = document(actor, id)?;
    if !actor.staff {
        require_usable(&r)?;
        let mut g = r.data.clone();
        g.downloads += 1;
        GENERATED.update(&r.id, r.revision, &g)?;
        usage(ctx.now_ms(), &r, "downloaded")?;
    }
    let disposition = if r.data.kind == Kind::Pdf { Disposition::Inline } else { Disposition::Attachment };
    files::serve_url(&r.data.file, &r.data.filename, disposition, 600, false)
}

/// Staff approve or reject a waiting document; its maker hears either way.
pub fn decide(actor: &Actor, id: &str, approve: bool, reason: &str) -> Result<Record<Generated>, Error> {
    actor.staff_only("approve documents")?;
    let r = document(actor, id)?;
    if r.data.status != DocStatus::Pending {
        return Err(Error::Conflict("this document is not waiting for approval".into()));
    }
    let reason = reason.trim();
    if !approve && reason.is_empty() {
        return Err(Error::invalid("reason", "Say why, so the partner can change it."));
    }
    let mut g = r.data.clone();
    g.status = if approve { DocStatus::Approved } else { DocStatus::Rejected };
    g.reason = reason.chars().take(500).collect();
    g.decided_by = actor.name.clone();
    let out = GENERATED.update(&r.id, r.revision, &g)?;
    notify::send(&Notification {
        audience: Audience::User(g.user_id.clone()),
        title: if approve {
            format!("Approved: your {}", g.template_name)
        } else {
            format!("Not approved: your {}", g.template_name)
        },
        body: if approve {
            "You can download and share it now.".into()
        } else {
            format!("{}: {}", actor.name, g.reason)
        },
        link: Some(format!("{}/generated", crate::web::BASE)),
        email: true,
    })?;
    Ok(out)
}

/// A share link of a document.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Share {
    pub generated_id: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub opens: u64,
}

/// The key share links are signed with, made on first use.
fn share_key(create: bool) -> Result<Option<String>, Error> {
    match secrets::get("share_key") {
        Ok(k) => Ok(Some(k)),
        Err(Error::NotFound(_)) if create => {
            let bytes: [u8; 32] = rand::random();
            let k: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            secrets::set("share_key", &k)?;
            Ok(Some(k))
        }
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn share_days() -> i64 {
    portico_sdk::settings::get::<Value>().ok().and_then(|s| s["share_days"].as_i64()).unwrap_or(30).clamp(1, 365)
}

/// The path of a share link.
pub fn share_path(ctx: &Context, key: &str, r: &Record<Share>) -> String {
    format!("{}/s/{}", crate::web::BASE, share::sign(key, ctx.tenant_id(), &r.id, r.data.expires_at))
}

/// A partner shares a usable document of their organisation for `days` (at most the setting).
pub fn create_share(ctx: &Context, actor: &Actor, id: &str, days: i64) -> Result<(Record<Share>, String), Error> {
    let r = document(actor, id)?;
    require_usable(&r)?;
    let max = share_days();
    if !(1..=max).contains(&days) {
        return Err(Error::invalid("days", format!("A link may last 1 to {max} days.")));
    }
    let key = share_key(true)?.ok_or_else(|| Error::internal("no share key"))?;
    let now = ctx.now_ms();
    let s = Share {
        generated_id: r.id.clone(),
        created_by: actor.name.clone(),
        created_at: now,
        expires_at: now + days * DAY_MS,
        ..Default::default()
    };
    let org = r.org_id.clone().unwrap_or_default();
    let share = SHARES.insert_with(None, Some(&org), &s)?;
    let mut g = r.data.clone();
    g.shares += 1;
    GENERATED.update(&r.id, r.revision, &g)?;
    usage(now, &r, "shared")?;
    let path = share_path(ctx, &key, &share);
    Ok((share, path))
}

/// A document's share links, newest first, with their paths.
pub fn shares(ctx: &Context, actor: &Actor, id: &str) -> Result<Vec<(Record<Share>, String)>, Error> {
    let r = document(actor, id)?;
    let q = SHARES.query().eq("generated_id", &r.id).limit(200);
    let q = match &r.org_id {
        Some(o) if actor.staff => q.org(o),
        _ => q,
    };
    let mut v = q.fetch::<Share>()?.records;
    v.sort_by_key(|r| std::cmp::Reverse(r.data.created_at));
    let key = share_key(false)?.unwrap_or_default();
    Ok(v.into_iter()
        .map(|s| {
            let p = share_path(ctx, &key, &s);
            (s, p)
        })
        .collect())
}

/// Revokes a share link: it stops working at once.
pub fn revoke(ctx: &Context, actor: &Actor, id: &str, share_id: &str) -> Result<Record<Share>, Error> {
    let r = document(actor, id)?;
    let s = SHARES
        .get::<Share>(share_id)?
        .filter(|s| s.data.generated_id == r.id)
        .ok_or_else(|| Error::NotFound(format!("no share link {share_id}")))?;
    if s.data.revoked_at.is_some() {
        return Ok(s);
    }
    let mut d = s.data.clone();
    d.revoked_at = Some(ctx.now_ms());
    SHARES.update(&s.id, s.revision, &d)
}

/// Why a share link does not open.
pub enum Closed {
    /// Forged, altered or unknown: nothing is said about it.
    Unknown,
    Expired,
    Revoked,
}

/// Opens a share link (anyone holding it): a short-lived public link to the file, and the open counted.
pub fn open_share(ctx: &Context, token: &str) -> Result<Result<String, Closed>, Error> {
    let Some(key) = share_key(false)? else { return Ok(Err(Closed::Unknown)) };
    let Some((share_id, expires_at)) = share::verify(&key, ctx.tenant_id(), token) else {
        return Ok(Err(Closed::Unknown));
    };
    if expires_at <= ctx.now_ms() {
        return Ok(Err(Closed::Expired));
    }
    let Some(s) = SHARES.get::<Share>(&share_id)? else { return Ok(Err(Closed::Unknown)) };
    if s.data.revoked_at.is_some() {
        return Ok(Err(Closed::Revoked));
    }
    let Some(g) = GENERATED.get::<Generated>(&s.data.generated_id)? else { return Ok(Err(Closed::Unknown)) };
    if !g.data.status.usable() {
        return Ok(Err(Closed::Revoked));
    }
    let mut d = s.data.clone();
    d.opens += 1;
    SHARES.update(&s.id, s.revision, &d)?;
    usage(ctx.now_ms(), &g, "opened")?;
    let disposition = if g.data.kind == Kind::Pdf { Disposition::Inline } else { Disposition::Attachment };
    // Five minutes is enough to start the download; the share link itself is what lasts.
    Ok(Ok(files::serve_url(&g.data.file, &g.data.filename, disposition, 300, true)?))
}

/// One use of a template by a partner: made, downloaded, shared, or a share link opened.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Usage {
    pub template_id: String,
    pub template_name: String,
    pub org_name: String,
    pub kind: String,
    pub day: i64,
}

fn usage(now: i64, g: &Record<Generated>, kind: &str) -> Result<(), Error> {
    let u = Usage {
        template_id: g.data.template_id.clone(),
        template_name: g.data.template_name.clone(),
        org_name: g.data.org_name.clone(),
        kind: kind.into(),
        day: now.div_euclid(DAY_MS),
    };
    USAGE.insert_with(None, g.org_id.as_deref(), &u)?;
    Ok(())
}

/// A batch run: one template for every partner of a program, made in chunks.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Batch {
    pub template_id: String,
    pub template_name: String,
    pub program: String,
    pub started_by: String,
    pub started_by_name: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// The partners, as they were when it started; `done` of them handled.
    pub orgs: Vec<String>,
    pub done: usize,
    pub made: u32,
    pub missing_logo: Vec<Named>,
    pub failed: Vec<Failed>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Named {
    pub org_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Failed {
    pub org_id: String,
    pub name: String,
    pub reason: String,
}

/// Staff start a batch for every partner of `program`; the first chunk is made at once, the rest follow.
pub fn start_batch(ctx: &Context, actor: &Actor, id: &str, program: &str) -> Result<Record<Batch>, Error> {
    actor.staff_only("run batches")?;
    let t = usable(actor, id)?;
    if t.data.status != Status::Published {
        return Err(Error::Conflict("publish the template before making it for every partner".into()));
    }
    if directory::get_program(program)?.is_none() {
        return Err(Error::invalid("program", format!("There is no program {program}.")));
    }
    if !t.data.programs.is_empty() && !t.data.programs.iter().any(|p| p == program) {
        return Err(Error::invalid("program", "The template is not offered in that program."));
    }
    let orgs: Vec<String> = directory::list_orgs(Some(program))?.into_iter().map(|o| o.id).collect();
    let b = Batch {
        template_id: t.id.clone(),
        template_name: t.data.name.clone(),
        program: program.into(),
        started_by: actor.id.clone(),
        started_by_name: actor.name.clone(),
        created_at: ctx.now_ms(),
        orgs,
        ..Default::default()
    };
    let r = BATCHES.insert(&b)?;
    run_batch(ctx, &r.id)
}

/// Makes the next chunk of a batch and, when partners remain, asks for the next by an event to itself.
pub fn run_batch(ctx: &Context, id: &str) -> Result<Record<Batch>, Error> {
    let r = BATCHES.get::<Batch>(id)?.ok_or_else(|| Error::NotFound(format!("no batch {id}")))?;
    let mut b = r.data.clone();
    if b.finished_at.is_some() {
        return Ok(r);
    }
    let t = TEMPLATES.get::<Template>(&b.template_id)?.ok_or_else(|| Error::NotFound("the batch's template".into()))?;
    let maker = Maker::new(&t.data)?;
    let free = t.data.free_text(&BTreeMap::new()).map_err(|p| invalid(&p))?;
    let needs_logo = t.data.areas.iter().any(|a| a.source == Source::Logo);
    let end = (b.done + CHUNK).min(b.orgs.len());
    for org_id in b.orgs[b.done..end].iter().cloned() {
        let Some(org) = directory::get_org(&org_id)? else { continue };
        let name = org.name.clone();
        let p = Profile::of(org, &b.started_by_name, "")?;
        if needs_logo && p.logo.is_none() {
            b.missing_logo.push(Named { org_id, name });
            continue;
        }
        match maker.make(&t.data, &p, &free) {
            Ok(made) => {
                store(ctx.now_ms(), &t, &p, (&b.started_by, &b.started_by_name), free.clone(), made, Some(id))?;
                b.made += 1;
            }
            Err(Error::Invalid(e)) => b.failed.push(Failed { org_id, name, reason: e.message }),
            Err(e) => return Err(e),
        }
    }
    b.done = end;
    if b.done >= b.orgs.len() {
        b.finished_at = Some(ctx.now_ms());
        notify::send(&Notification {
            audience: Audience::User(b.started_by.clone()),
            title: format!("Batch done: {}", b.template_name),
            body: format!(
                "{} made; {} without a logo; {} could not be made.",
                b.made,
                b.missing_logo.len(),
                b.failed.len()
            ),
            link: Some(format!("{}/batches/{id}", crate::web::BASE)),
            email: false,
        })?;
    } else {
        events::emit(BATCH_TOPIC, &json!({ "batch_id": id }))?;
    }
    BATCHES.update(id, r.revision, &b)
}

/// The card on a partner's page: what they made, downloaded and shared.
pub fn org_usage(org_id: &str, since_day: i64) -> Result<BTreeMap<String, u64>, Error> {
    let recent = USAGE.query().org(org_id).range("day", Some(since_day), None::<i64>).limit(5000).fetch::<Usage>()?;
    let mut counts = BTreeMap::new();
    for u in recent.records {
        *counts.entry(u.data.kind).or_default() += 1;
    }
    Ok(counts)
}

/// Usage over the last `days`, every partner (staff analytics); capped at the newest 20,000.
pub fn usage_since(since_day: i64) -> Result<Vec<Usage>, Error> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = USAGE
            .query()
            .all_orgs()
            .range("day", Some(since_day), None::<i64>)
            .limit(1000)
            .after(cursor)
            .fetch::<Usage>()?;
        out.extend(page.records.into_iter().map(|r| r.data));
        cursor = page.next_cursor;
        if cursor.is_none() || out.len() >= 20_000 {
            break;
        }
    }
    Ok(out)
}
