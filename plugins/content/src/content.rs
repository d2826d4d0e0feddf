//! The library's records and what happens to them, on the SDK: assets (a file with its versions, or a link),
//! folders, the search index kept in step with each asset's text and access, downloads through links the host
//! serves, and engagement (every view and download) for analytics.
//!
//! Who sees what: vendor staff see every asset, with its state (scheduled, live, expired). A partner sees an asset
//! only while it is live and its access allows their program, tier and role; any other is "not found", by id, by
//! link and by search (the index filters by the same rules, inside the query, so nothing a partner may not open is
//! found or counted).

use portico_sdk::Value;
use portico_sdk::files::{self, Disposition, FileInfo};
use portico_sdk::prelude::*;
use portico_sdk::search::{self, Document, SearchQuery};
use portico_sdk::storage::{Collection, Direction, Record};
use portico_sdk::{analytics, directory, events};
use serde::{Deserialize, Serialize};

use crate::library::{Access, FileVersion, State, Viewer, push_version, query_labels};

pub const ASSETS: Collection = Collection::new("assets");
pub const FOLDERS: Collection = Collection::new("folders");
pub const ENGAGEMENT: Collection = Collection::new("engagement");
pub const VISITS: Collection = Collection::new("visits");

const DAY_MS: i64 = 86_400_000;
/// The largest file whose text is extracted for search (the host reads at most 8 MiB a call).
const EXTRACT_MAX_BYTES: u64 = 6 << 20;

/// An asset: a file (with every version uploaded) or a link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Asset {
    pub title: String,
    pub description: String,
    pub language: String,
    pub folder: Option<String>,
    pub tags: Vec<String>,
    /// A link instead of a file.
    pub url: Option<String>,
    pub versions: Vec<FileVersion>,
    /// The version partners get.
    pub current: u32,
    pub access: Access,
    pub publish_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// When it went (or goes) live: its publish date, or its creation (indexed; "new since your last visit").
    pub live_at: i64,
    /// When the clock next changes its state, while it will (indexed; the schedule re-indexes it then).
    pub due_at: Option<i64>,
    /// A thumbnail: made from an uploaded image, or uploaded (field `thumbnail`).
    pub thumbnail: Option<String>,
    /// The thumbnail was uploaded (a new version of the file keeps it).
    pub thumbnail_uploaded: bool,
    pub views: u64,
    pub downloads: u64,
    /// Ever viewed or downloaded (indexed: 0 or 1, for "assets nobody opens").
    pub opened: u8,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: String,
}

impl Asset {
    pub fn state(&self, now: i64) -> State {
        State::at(now, self.publish_at, self.expires_at)
    }

    pub fn current_version(&self) -> Option<&FileVersion> {
        self.versions.iter().find(|v| v.n == self.current)
    }
}

/// Who acts, and as what access sees them.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub org_name: String,
    pub staff: bool,
    pub viewer: Viewer,
}

impl Actor {
    pub fn of(ctx: &Context) -> Result<Actor, Error> {
        let c = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
        let staff = matches!(c.role, Role::VendorAdmin | Role::ChannelManager);
        let role = match c.role {
            Role::PartnerAdmin => "partner_admin",
            Role::PartnerUser => "partner_user",
            _ => "staff",
        };
        let program = ctx.program().map(String::from);
        let tier = match (&program, staff) {
            (Some(p), false) => directory::get_org(&c.org_id)?
                .and_then(|o| o.enrolments.into_iter().find(|e| &e.program == p))
                .map(|e| e.tier),
            _ => None,
        };
        Ok(Actor {
            id: c.user_id.clone(),
            name: c.name.clone(),
            org_id: c.org_id.clone(),
            org_name: c.org_name.clone(),
            staff,
            viewer: Viewer { program, tier, role: role.into() },
        })
    }

    pub fn staff_only(&self, what: &str) -> Result<(), Error> {
        if self.staff { Ok(()) } else { Err(Error::Denied(format!("only the vendor's staff {what}"))) }
    }
}

/// An asset the actor may open: staff any; a partner a live one their access allows. Anything else is not found.
pub fn openable(ctx: &Context, actor: &Actor, id: &str) -> Result<Record<Asset>, Error> {
    match ASSETS.get::<Asset>(id)? {
        Some(r)
            if actor.staff || (r.data.state(ctx.now_ms()) == State::Live && r.data.access.allows(&actor.viewer)) =>
        {
            Ok(r)
        }
        _ => Err(Error::NotFound(format!("no asset {id}"))),
    }
}

/// What staff send to create or change an asset (multipart form fields or JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Fields {
    pub title: String,
    pub description: String,
    pub language: String,
    pub folder: Option<String>,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub access: Access,
    /// `2027-03-31` or empty.
    pub publish_date: Option<String>,
    pub expiry_date: Option<String>,
}

impl Fields {
    /// From a multipart or url-encoded form: lists are comma-separated.
    pub fn from_form(req: &Request) -> Fields {
        let text = |k: &str| req.field(k).map(str::trim).unwrap_or_default().to_string();
        let list = |k: &str| -> Vec<String> {
            text(k).split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
        };
        let opt = |k: &str| Some(text(k)).filter(|s| !s.is_empty());
        Fields {
            title: text("title"),
            description: text("description"),
            language: text("language"),
            folder: opt("folder"),
            tags: list("tags"),
            url: opt("url"),
            access: Access { programs: list("programs"), tiers: list("tiers"), roles: list("roles") },
            publish_date: opt("publish_date"),
            expiry_date: opt("expiry_date"),
        }
    }
}

fn parse_date(field: &str, s: &Option<String>) -> Result<Option<i64>, Error> {
    match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|d| Some(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis()))
            .map_err(|_| Error::invalid(field, "use a date like 2027-03-31")),
    }
}

/// Checks and applies fields to an asset.
fn apply(a: &mut Asset, f: Fields, now: i64) -> Result<(), Error> {
    if f.title.trim().is_empty() {
        return Err(Error::invalid("title", "give the asset a title"));
    }
    if let Some(u) = &f.url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(Error::invalid("url", "give a web address starting with https://"));
    }
    if let Some((field, message)) = f.access.check().into_iter().next() {
        return Err(Error::invalid(&field, message));
    }
    if let Some(folder) = &f.folder
        && FOLDERS.get::<Folder>(folder)?.is_none()
    {
        return Err(Error::invalid("folder", "choose a folder of the library"));
    }
    let publish_at = parse_date("publish_date", &f.publish_date)?;
    let expires_at = parse_date("expiry_date", &f.expiry_date)?;
    if let (Some(p), Some(e)) = (publish_at, expires_at)
        && e <= p
    {
        return Err(Error::invalid("expiry_date", "expire it after it is published"));
    }
    a.title = f.title.trim().to_string();
    a.description = f.description.trim().to_string();
    a.language = if f.language.trim().is_empty() { "en".into() } else { f.language.trim().to_lowercase() };
    a.folder = f.folder;
    a.tags = f.tags;
    a.url = f.url;
    a.access = f.access;
    a.publish_at = publish_at;
    a.expires_at = expires_at;
    a.live_at = publish_at.unwrap_or(a.created_at);
    a.due_at = State::next_change(now, publish_at, expires_at);
    a.updated_at = now;
    Ok(())
}

/// The settings' largest file, in bytes.
fn max_file_bytes() -> u64 {
    let s: Value = portico_sdk::settings::get().unwrap_or(Value::Null);
    s["max_file_mib"].as_u64().unwrap_or(200) << 20
}

/// A version from an upload of this request: kept, within the library's size limit.
fn version_of(upload: &FileInfo, actor: &Actor, now: i64) -> Result<FileVersion, Error> {
    let max = max_file_bytes();
    if upload.size > max {
        return Err(Error::invalid(
            "file",
            format!(
                "{} is {}, larger than the library's limit of {} MiB",
                upload.filename,
                crate::library::size_text(upload.size),
                max >> 20
            ),
        ));
    }
    files::keep(&upload.key)?;
    Ok(FileVersion {
        n: 0,
        key: upload.key.clone(),
        filename: upload.filename.clone(),
        content_type: upload.content_type.clone(),
        size: upload.size,
        sha256: upload.sha256.clone(),
        at: now,
        by: actor.name.clone(),
        restored_from: None,
    })
}

/// Creates an asset: the request's upload (field `file`) or a link.
pub fn create(ctx: &Context, actor: &Actor, f: Fields) -> Result<Record<Asset>, Error> {
    actor.staff_only("add to the library")?;
    let now = ctx.now_ms();
    let mut a = Asset { created_at: now, created_by: actor.name.clone(), ..Default::default() };
    apply(&mut a, f, now)?;
    let upload = files::uploads().into_iter().find(|u| u.field == "file");
    match (&upload, &a.url) {
        (Some(_), Some(_)) => return Err(Error::invalid("url", "give a file or a link, not both")),
        (None, None) => return Err(Error::invalid("file", "choose a file to upload, or give a link")),
        _ => {}
    }
    if let Some(u) = upload {
        a.current = push_version(&mut a.versions, version_of(&u, actor, now)?);
    }
    if let Some(t) = files::uploads().into_iter().find(|u| u.field == "thumbnail") {
        if !t.content_type.starts_with("image/") {
            return Err(Error::invalid("thumbnail", format!("{} is not an image", t.filename)));
        }
        files::keep(&t.key)?;
        a.thumbnail = Some(t.key);
        a.thumbnail_uploaded = true;
    }
    refresh_thumbnail(&mut a)?;
    let rec = ASSETS.insert(&a)?;
    index(ctx, &rec.id, &rec.data)?;
    Ok(rec)
}

pub fn update(ctx: &Context, actor: &Actor, id: &str, f: Fields) -> Result<Record<Asset>, Error> {
    actor.staff_only("change the library")?;
    let mut r = openable(ctx, actor, id)?;
    if r.data.url.is_none() && f.url.is_some() {
        return Err(Error::invalid("url", "this asset is a file; upload a new version instead"));
    }
    apply(&mut r.data, f, ctx.now_ms())?;
    let saved = ASSETS.update(&r.id, r.revision, &r.data)?;
    index(ctx, &saved.id, &saved.data)?;
    Ok(saved)
}

pub fn delete(ctx: &Context, actor: &Actor, id: &str) -> Result<(), Error> {
    actor.staff_only("delete from the library")?;
    let r = openable(ctx, actor, id)?;
    for v in &r.data.versions {
        // Several versions may share a file (a restore); each is deleted once.
        if r.data.versions.iter().position(|x| x.key == v.key) == r.data.versions.iter().position(|x| x.n == v.n) {
            files::delete(&v.key)?;
        }
    }
    match (&r.data.thumbnail, r.data.thumbnail_uploaded) {
        (Some(t), true) => files::delete(t)?,
        (Some(t), false) => portico_sdk::blobs::delete(t)?,
        (None, _) => {}
    }
    ASSETS.delete(&r.id)?;
    search::remove(&r.id)?;
    Ok(())
}

/// A new version from the request's upload: partners get it from now on; the earlier ones stay restorable.
pub fn upload_version(ctx: &Context, actor: &Actor, id: &str) -> Result<Record<Asset>, Error> {
    actor.staff_only("upload versions")?;
    let now = ctx.now_ms();
    let mut r = openable(ctx, actor, id)?;
    if r.data.url.is_some() {
        return Err(Error::invalid("file", "this asset is a link; change its address instead"));
    }
    let upload =
        files::uploads().into_iter().next().ok_or_else(|| Error::invalid("file", "choose a file to upload"))?;
    r.data.current = push_version(&mut r.data.versions, version_of(&upload, actor, now)?);
    r.data.updated_at = now;
    refresh_thumbnail(&mut r.data)?;
    let saved = ASSETS.update(&r.id, r.revision, &r.data)?;
    index(ctx, &saved.id, &saved.data)?;
    Ok(saved)
}

/// Makes an earlier version current again, as a new version (the history keeps every step).
pub fn restore(ctx: &Context, actor: &Actor, id: &str, n: u32) -> Result<Record<Asset>, Error> {
    actor.staff_only("restore versions")?;
    let now = ctx.now_ms();
    let mut r = openable(ctx, actor, id)?;
    let old =
        r.data.versions.iter().find(|v| v.n == n).cloned().ok_or_else(|| Error::NotFound(format!("no version {n}")))?;
    let v = FileVersion { at: now, by: actor.name.clone(), restored_from: Some(n), ..old };
    r.data.current = push_version(&mut r.data.versions, v);
    r.data.updated_at = now;
    refresh_thumbnail(&mut r.data)?;
    let saved = ASSETS.update(&r.id, r.revision, &r.data)?;
    index(ctx, &saved.id, &saved.data)?;
    Ok(saved)
}

/// Makes the thumbnail of the current file when it is an image or a PDF (unless one was uploaded); the previous generated
/// thumbnail is deleted.
fn refresh_thumbnail(a: &mut Asset) -> Result<(), Error> {
    if a.thumbnail_uploaded {
        return Ok(());
    }
    let made = match a.current_version() {
        Some(v) if v.size <= EXTRACT_MAX_BYTES && crate::thumbnail::can_make(&v.content_type) => {
            crate::thumbnail::make(&v.content_type, &files::read(&v.key, 0, v.size as u32)?)
        }
        _ => None,
    };
    if let Some(old) = a.thumbnail.take() {
        portico_sdk::blobs::delete(&old)?;
    }
    if let Some(png) = made {
        a.thumbnail = Some(portico_sdk::blobs::put("thumbnail.png", "image/png", &png)?);
    }
    Ok(())
}

/// Keeps the search index in step: title, description, tags and the current file's text, with the labels of its
/// access and state.
pub fn index(ctx: &Context, id: &str, a: &Asset) -> Result<(), Error> {
    let mut text = vec![a.description.clone()];
    if let Some(v) = a.current_version()
        && v.size <= EXTRACT_MAX_BYTES
    {
        let bytes = files::read(&v.key, 0, v.size as u32)?;
        text.push(crate::extract::text(&v.content_type, &v.filename, &bytes));
    }
    let mut labels = a.access.labels(a.state(ctx.now_ms()));
    labels.push(format!("lang:{}", a.language));
    search::index(&Document {
        id: id.to_string(),
        title: a.title.clone(),
        text: text.join("\n"),
        tags: a.tags.clone(),
        labels,
        org_id: None,
    })?;
    Ok(())
}

/// The schedule: assets whose publish or expiry date has come are re-indexed with their new state.
pub fn dates(ctx: &Context) -> Result<(), Error> {
    let now = ctx.now_ms();
    let due = ASSETS.query().all_orgs().range("due_at", None::<i64>, Some(now + 1)).limit(200).fetch::<Asset>()?;
    for r in due.records {
        let mut a = r.data.clone();
        a.due_at = State::next_change(now, a.publish_at, a.expires_at);
        let saved = ASSETS.update(&r.id, r.revision, &a)?;
        index(ctx, &saved.id, &saved.data)?;
    }
    Ok(())
}

/// A folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Folder {
    pub name: String,
    pub parent: Option<String>,
}

pub fn create_folder(actor: &Actor, f: Folder) -> Result<Record<Folder>, Error> {
    actor.staff_only("make folders")?;
    if f.name.trim().is_empty() {
        return Err(Error::invalid("name", "name the folder"));
    }
    if let Some(p) = &f.parent
        && FOLDERS.get::<Folder>(p)?.is_none()
    {
        return Err(Error::invalid("parent", "choose a folder of the library"));
    }
    FOLDERS.insert(&Folder { name: f.name.trim().to_string(), parent: f.parent })
}

pub fn folders() -> Result<Vec<Record<Folder>>, Error> {
    Ok(FOLDERS.query().all_orgs().limit(500).fetch::<Folder>()?.records)
}

/// Folders as the tree functions take them.
pub fn folder_refs(folders: &[Record<Folder>]) -> Vec<crate::library::FolderRef<'_>> {
    folders.iter().map(|f| (f.id.as_str(), f.data.name.as_str(), f.data.parent.as_deref())).collect()
}

/// A view or a download, recorded for the viewer's organisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Engagement {
    pub asset_id: String,
    pub title: String,
    /// `view` or `download`.
    pub kind: String,
    pub user_id: String,
    pub org_id: String,
    pub org_name: String,
    pub version: u32,
    pub at: i64,
    /// Days since the epoch (indexed).
    pub day: i64,
}

/// Records a partner's view or download, and announces it (`content.viewed`, `content.downloaded`); the asset's
/// counters follow from the announcement ([`count`]), since a partner's call cannot write the vendor's records.
/// Staff opening their own library is not engagement.
pub fn record(ctx: &Context, actor: &Actor, r: &Record<Asset>, kind: &str) -> Result<(), Error> {
    if actor.staff {
        return Ok(());
    }
    let now = ctx.now_ms();
    let e = Engagement {
        asset_id: r.id.clone(),
        title: r.data.title.clone(),
        kind: kind.into(),
        user_id: actor.id.clone(),
        org_id: actor.org_id.clone(),
        org_name: actor.org_name.clone(),
        version: r.data.current,
        at: now,
        day: now.div_euclid(DAY_MS),
    };
    ENGAGEMENT.insert(&e)?;
    if kind == "download" {
        // The channel dashboard's figure, committed with the download's record.
        analytics::count("downloads", Some(&actor.org_id), 1)?;
    }
    let topic = if kind == "download" { "content.downloaded" } else { "content.viewed" };
    events::emit(
        topic,
        &json!({ "asset_id": r.id, "title": r.data.title, "user_id": actor.id, "org_id": actor.org_id,
                 "version": r.data.current, "at": now }),
    )?;
    Ok(())
}

/// The plugin's own engagement events, delivered to it without a user: the asset's view and download counters.
pub fn count(topic: &str, payload: &Value) -> Result<(), Error> {
    let Some(id) = payload["asset_id"].as_str() else { return Ok(()) };
    // Another delivery may update the same asset at once: read again and retry on a conflict.
    for _ in 0..5 {
        let Some(mut r) = ASSETS.get::<Asset>(id)? else { return Ok(()) };
        match topic {
            "content.downloaded" => r.data.downloads += 1,
            _ => r.data.views += 1,
        }
        r.data.opened = 1;
        match ASSETS.update(&r.id, r.revision, &r.data) {
            Ok(_) => return Ok(()),
            Err(Error::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict(format!("asset {id} kept changing; the delivery is retried")))
}

/// Where to send the actor to download an asset (the current file, or the link), recorded as a download. An
/// expired asset is not downloadable, even for staff (they see it as expired).
pub fn download(ctx: &Context, actor: &Actor, id: &str) -> Result<String, Error> {
    let r = openable(ctx, actor, id)?;
    if r.data.state(ctx.now_ms()) == State::Expired {
        return Err(Error::Conflict("this asset has expired and can no longer be downloaded".into()));
    }
    record(ctx, actor, &r, "download")?;
    if let Some(url) = &r.data.url {
        return Ok(url.clone());
    }
    let v = r.data.current_version().ok_or_else(|| Error::NotFound("this asset has no file yet".into()))?;
    files::serve_url(&v.key, &v.filename, Disposition::Attachment, 600, false)
}

/// A page of the library as the actor may see it: a search (ranked) or a listing (newest first), filtered by
/// folder, tag and language.
pub struct Listing {
    pub assets: Vec<Record<Asset>>,
    pub total: u64,
}

pub fn list(
    ctx: &Context,
    actor: &Actor,
    q: Option<&str>,
    folder: Option<&str>,
    tag: Option<&str>,
    language: Option<&str>,
) -> Result<Listing, Error> {
    let now = ctx.now_ms();
    // A folder holds its subfolders' assets too.
    let folder = folder.filter(|f| !f.is_empty());
    let all = if folder.is_some() { folders()? } else { Vec::new() };
    let refs = folder_refs(&all);
    let inside: Option<Vec<&str>> = folder.map(|f| crate::library::within(&refs, f));
    if let Some(text) = q.map(str::trim).filter(|s| !s.is_empty()) {
        let mut labels = if actor.staff { Vec::new() } else { query_labels(&actor.viewer) };
        if let Some(l) = language.filter(|l| !l.is_empty()) {
            labels.push(vec![format!("lang:{l}")]);
        }
        let found = search::query(&SearchQuery {
            text: text.to_string(),
            labels,
            tags: tag.filter(|t| !t.is_empty()).map(|t| vec![t.to_string()]).unwrap_or_default(),
            limit: 50,
            offset: 0,
        })?;
        let mut assets = Vec::new();
        for hit in found.hits {
            // The index and the records agree; a record is checked again all the same.
            if let Ok(r) = openable(ctx, actor, &hit.id)
                && inside.as_ref().is_none_or(|ids| r.data.folder.as_deref().is_some_and(|f| ids.contains(&f)))
            {
                assets.push(r);
            }
        }
        return Ok(Listing { total: found.total as u64, assets });
    }
    let mut query = ASSETS.query().all_orgs();
    if let Some(ids) = &inside {
        query = query.one_of("folder", ids.iter());
    }
    let page = query.order_by("updated_at", Direction::Desc).limit(500).fetch::<Asset>()?;
    let assets: Vec<Record<Asset>> = page
        .records
        .into_iter()
        .filter(|r| actor.staff || (r.data.state(now) == State::Live && r.data.access.allows(&actor.viewer)))
        .filter(|r| tag.is_none_or(|t| t.is_empty() || r.data.tags.iter().any(|x| x == t)))
        .filter(|r| language.is_none_or(|l| l.is_empty() || r.data.language == l))
        .collect();
    Ok(Listing { total: assets.len() as u64, assets })
}

/// A user's last visit to the library.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Visit {
    at: i64,
}

/// The actor's previous visit, and records this one.
pub fn visit(ctx: &Context, actor: &Actor) -> Result<Option<i64>, Error> {
    let now = ctx.now_ms();
    match VISITS.get::<Visit>(&actor.id)? {
        Some(r) => {
            VISITS.update(&r.id, r.revision, &Visit { at: now })?;
            Ok(Some(r.data.at))
        }
        None => {
            let org = (!actor.staff).then_some(actor.org_id.as_str());
            VISITS.insert_with(Some(&actor.id), org, &Visit { at: now })?;
            Ok(None)
        }
    }
}
