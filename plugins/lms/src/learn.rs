//! The plugin's records and what happens to them, on the SDK: courses authored and published as versions,
//! enrolments and their progress, quiz attempts, certificates issued on completion, and the daily schedule
//! (certificate reminders and expiry, overdue assignments).
//!
//! Who sees what: vendor staff see every course (drafts too) and every learner; a partner admin sees the learners
//! of their own organisation; a partner user sees their own learning. Courses are the vendor's and every partner
//! reads them, so the plugin has the cross-organisation read grant and reads them with `all_orgs()` (a query is
//! otherwise the caller's organisation's); enrolments and certificates are stored for the learner's organisation
//! and every read of them names the caller's user or organisation.

use std::collections::{BTreeMap, BTreeSet};

use portico_sdk::Value;
use portico_sdk::notify::{self, Audience, Notification};
use portico_sdk::prelude::*;
use portico_sdk::search::{self, Document};
use portico_sdk::storage::{Collection, Direction, Query, Record};
use portico_sdk::{directory, events, files};
use serde::{Deserialize, Serialize};

use crate::cert::{self, Standing};
use crate::course::{Content, Outline, Path, missing_prerequisites};
use crate::quiz::{Finished, Score, may_attempt};

pub const COURSES: Collection = Collection::new("courses");
/// Published versions of courses (id `{course}.{version}`), never changed once written.
pub const VERSIONS: Collection = Collection::new("versions");
/// One per learner and course (id `{course}.{user}`), in the learner's organisation.
pub const ENROLMENTS: Collection = Collection::new("enrolments");
/// Certificates (id = the verification code), in the holder's organisation.
pub const CERTS: Collection = Collection::new("certificates");
pub const PATHS: Collection = Collection::new("paths");
/// The catalogue's topics (record [`TAGS_ID`]): every tag of a published course.
pub const META: Collection = Collection::new("meta");
pub const TAGS_ID: &str = "tags";

const DAY_MS: i64 = 86_400_000;

/// Who acts.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub org_id: String,
    pub org_name: String,
}

impl Actor {
    pub fn of(ctx: &Context) -> Result<Actor, Error> {
        let c = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
        Ok(Actor {
            id: c.user_id.clone(),
            name: c.name.clone(),
            role: c.role,
            org_id: c.org_id.clone(),
            org_name: c.org_name.clone(),
        })
    }

    pub fn is_vendor(&self) -> bool {
        matches!(self.role, Role::VendorAdmin | Role::ChannelManager)
    }

    pub fn is_partner_admin(&self) -> bool {
        self.role == Role::PartnerAdmin
    }

    fn vendor_only(&self) -> Result<(), Error> {
        if self.is_vendor() { Ok(()) } else { Err(Error::Denied("only the vendor's staff author courses".into())) }
    }
}

/// What a course certifies, if anything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertSpec {
    /// The certification's name ("Certified Edge Router Associate").
    pub name: String,
    /// Months it is valid; none for no expiry.
    pub validity_months: Option<u32>,
    /// Days before the expiry in which it is "expiring" and may be renewed.
    pub window_days: u32,
}

/// A course as authored: the draft being edited, and which version learners take.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Course {
    /// `draft` (never published) or `published`.
    pub status: String,
    pub draft: Outline,
    pub tags: Vec<String>,
    /// Minutes it takes, as the author estimates.
    pub minutes: u32,
    /// The version new enrolments take (0: none yet).
    pub version: u32,
    /// The published title (what the catalogue lists).
    pub title: String,
    pub summary: String,
    /// Lessons in the published version.
    pub lesson_count: u32,
    /// The draft has changes not yet published.
    pub draft_changed: bool,
    /// Courses to complete first.
    pub prerequisites: Vec<String>,
    /// Who must take it: `role:partner_admin`, `role:partner_user`, `tier:{key}` (a tier of the program).
    pub required_for: Vec<String>,
    pub certification: Option<CertSpec>,
    pub created_at: i64,
    pub updated_at: i64,
    pub published_at: Option<i64>,
}

/// A published version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Version {
    pub course_id: String,
    pub version: u32,
    pub outline: Outline,
    pub certification: Option<CertSpec>,
    pub published_at: i64,
}

/// A learner's attempts at one quiz.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuizState {
    /// The seed of the attempt in progress (its order), if one is open.
    pub open_seed: Option<u64>,
    pub finished: Vec<Finished>,
    pub best: u32,
    pub last: Option<Score>,
}

/// A learner in a course.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Enrolment {
    pub user_id: String,
    pub user_name: String,
    pub org_id: String,
    pub org_name: String,
    pub course_id: String,
    pub title: String,
    /// The version taken: kept until completed, however often the course is republished.
    pub version: u32,
    /// `in_progress` or `completed` (indexed).
    pub status: String,
    pub done: BTreeSet<String>,
    pub percent: u32,
    pub lessons: u32,
    pub last_lesson: Option<String>,
    pub quizzes: BTreeMap<String, QuizState>,
    /// SCORM lessons' run-time data, by lesson.
    pub scorm: BTreeMap<String, crate::scorm::Cmi>,
    pub enrolled_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    /// Assigned by a partner admin with a due date.
    pub due_at: Option<i64>,
    pub assigned_by: Option<String>,
    /// The due date while an overdue reminder is still to be sent (indexed).
    pub overdue_at: Option<i64>,
    /// Renewals so far.
    pub cycle: u32,
}

/// A certificate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Certificate {
    pub code: String,
    pub user_id: String,
    pub user_name: String,
    pub org_id: String,
    pub org_name: String,
    /// The course's id, or the learning path's when `path`.
    pub course_id: String,
    pub course_title: String,
    /// Earned by completing a learning path.
    pub path: bool,
    pub name: String,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub window_days: u32,
    /// The next reminder, while one is due (indexed).
    pub remind_at: Option<i64>,
    pub reminded_up_to: Option<i64>,
    /// The expiry, while its notice is still to go out (indexed).
    pub expiry_due: Option<i64>,
    /// A later certificate for the same course replaced it.
    pub renewed: bool,
}

impl Certificate {
    pub fn standing(&self, now: i64) -> Standing {
        cert::standing(now, self.expires_at, self.window_days)
    }

    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "code": self.code, "name": self.name, "user_id": self.user_id, "user_name": self.user_name,
            "org_id": self.org_id, "org_name": self.org_name, "course_id": self.course_id,
            "course_title": self.course_title, "issued_at": self.issued_at, "expires_at": self.expires_at,
            "issued": cert::long_date(self.issued_at), "expires": self.expires_at.map(cert::long_date),
            "standing": self.standing(now), "renewed": self.renewed,
        })
    }
}

fn version_id(course: &str, version: u32) -> String {
    format!("{course}.{version}")
}

pub fn enrolment_id(course: &str, user: &str) -> String {
    format!("{course}.{user}")
}

/// A course the actor may see: published ones to everyone, drafts to vendor staff only (a partner is told
/// nothing of a draft, not even that it exists).
pub fn course(actor: &Actor, id: &str) -> Result<Record<Course>, Error> {
    match COURSES.get::<Course>(id)? {
        Some(r) if actor.is_vendor() || r.data.version > 0 => Ok(r),
        _ => Err(Error::NotFound(format!("no course {id}"))),
    }
}

pub fn version(course: &str, version: u32) -> Result<Version, Error> {
    VERSIONS
        .get::<Version>(&version_id(course, version))?
        .map(|r| r.data)
        .ok_or_else(|| Error::NotFound(format!("no version {version} of course {course}")))
}

/// What an author sends to create or change a course's draft.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Draft {
    pub title: String,
    pub summary: String,
    pub tags: Vec<String>,
    pub minutes: u32,
    pub lessons: Vec<crate::course::Lesson>,
    pub prerequisites: Vec<String>,
    pub required_for: Vec<String>,
    pub certification: Option<CertSpec>,
}

/// Creates a course as a draft.
pub fn create(ctx: &Context, actor: &Actor, d: Draft) -> Result<Record<Course>, Error> {
    actor.vendor_only()?;
    let now = ctx.now_ms();
    let c = Course {
        status: "draft".into(),
        draft: Outline { title: d.title.trim().to_string(), summary: d.summary.trim().to_string(), lessons: d.lessons },
        tags: d.tags,
        minutes: d.minutes,
        prerequisites: d.prerequisites,
        required_for: d.required_for,
        certification: d.certification,
        draft_changed: true,
        created_at: now,
        updated_at: now,
        ..Default::default()
    };
    if c.draft.title.is_empty() {
        return Err(Error::invalid("title", "give the course a title"));
    }
    let rec = COURSES.insert(&c)?;
    index(&rec.id, &rec.data)?;
    Ok(rec)
}

/// Replaces a course's draft. Learners see nothing of it until it is published.
pub fn update(ctx: &Context, actor: &Actor, id: &str, d: Draft) -> Result<Record<Course>, Error> {
    actor.vendor_only()?;
    let mut rec = course(actor, id)?;
    let c = &mut rec.data;
    c.draft = Outline { title: d.title.trim().to_string(), summary: d.summary.trim().to_string(), lessons: d.lessons };
    c.tags = d.tags;
    c.minutes = d.minutes;
    c.prerequisites = d.prerequisites;
    c.required_for = d.required_for;
    c.certification = d.certification;
    c.draft_changed = true;
    c.updated_at = ctx.now_ms();
    if c.draft.title.is_empty() {
        return Err(Error::invalid("title", "give the course a title"));
    }
    let saved = COURSES.update(&rec.id, rec.revision, &rec.data)?;
    index(&saved.id, &saved.data)?;
    Ok(saved)
}

/// Publishes the draft as the next version: new enrolments take it; learners in progress finish theirs.
/// Refused, with every problem at its field, when the draft is not ready.
pub fn publish(
    ctx: &Context,
    actor: &Actor,
    id: &str,
) -> Result<Result<Record<Course>, Vec<crate::quiz::Problem>>, Error> {
    actor.vendor_only()?;
    let mut rec = course(actor, id)?;
    let mut problems = rec.data.draft.check();
    for p in &rec.data.prerequisites {
        if p == id || COURSES.get::<Course>(p)?.is_none() {
            problems.push(crate::quiz::Problem {
                field: "prerequisites".into(),
                message: format!("{p} is not another course"),
            });
        }
    }
    problems.extend(unknown_requirements(ctx, &rec.data.required_for)?);
    for (i, l) in rec.data.draft.lessons.iter().enumerate() {
        let Some(key) = l.content.file_key().filter(|k| !k.is_empty()) else { continue };
        let ours = match files::stat(key) {
            Ok(found) => found.is_some(),
            // Another plugin's, or no key the host knows.
            Err(Error::Denied(_) | Error::NotFound(_)) => false,
            Err(e) => return Err(e),
        };
        if !ours {
            problems.push(crate::quiz::Problem {
                field: format!("lessons.{i}"),
                message: "its file is not one uploaded to training (upload it again)".into(),
            });
        }
    }
    if let Some(c) = &rec.data.certification
        && c.name.trim().is_empty()
    {
        problems.push(crate::quiz::Problem {
            field: "certification.name".into(),
            message: "name the certification".into(),
        });
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let now = ctx.now_ms();
    let c = &mut rec.data;
    c.version += 1;
    c.status = "published".into();
    c.title = c.draft.title.clone();
    c.summary = c.draft.summary.clone();
    c.lesson_count = c.draft.lessons.len() as u32;
    c.draft_changed = false;
    c.published_at = Some(now);
    c.updated_at = now;
    let v = Version {
        course_id: rec.id.clone(),
        version: c.version,
        outline: c.draft.clone(),
        certification: c.certification.clone(),
        published_at: now,
    };
    VERSIONS.insert_with(Some(&version_id(&rec.id, v.version)), None, &v)?;
    add_topics(&c.tags)?;
    set_requirement(&rec.id, &c.title, &c.required_for, None)?;
    let saved = COURSES.update(&rec.id, rec.revision, &rec.data)?;
    index(&saved.id, &saved.data)?;
    Ok(Ok(saved))
}

/// The requirements (`role:…`, `tier:…`) that name no role a partner can have or no tier of a program partners
/// are in, as problems at `required_for`.
pub fn unknown_requirements(ctx: &Context, required_for: &[String]) -> Result<Vec<crate::quiz::Problem>, Error> {
    let mut problems = Vec::new();
    if required_for.is_empty() {
        return Ok(problems);
    }
    // The tiers of every program a partner is in (a course is not tied to one program).
    let mut programs: BTreeSet<String> = ctx.program().map(String::from).into_iter().collect();
    for o in directory::list_orgs(None)? {
        programs.extend(o.enrolments.into_iter().map(|e| e.program));
    }
    let mut tiers: BTreeSet<String> = BTreeSet::new();
    for p in &programs {
        tiers.extend(directory::get_program(p)?.into_iter().flat_map(|p| p.tiers.into_iter().map(|t| t.key)));
    }
    for r in required_for {
        let known = match r.split_once(':') {
            Some(("role", role)) => ["partner_admin", "partner_user"].contains(&role),
            Some(("tier", tier)) => tiers.contains(tier),
            _ => false,
        };
        if !known {
            problems.push(crate::quiz::Problem {
                field: "required_for".into(),
                message: format!(
                    "{r} is not role:partner_admin, role:partner_user or tier: and a tier of this program"
                ),
            });
        }
    }
    Ok(problems)
}

/// The catalogue's topics, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Topics {
    tags: BTreeSet<String>,
}

/// The catalogue's topics.
pub fn topics() -> Result<BTreeSet<String>, Error> {
    Ok(META.get::<Topics>(TAGS_ID)?.map(|r| r.data.tags).unwrap_or_default())
}

fn add_topics(tags: &[String]) -> Result<(), Error> {
    match META.get::<Topics>(TAGS_ID)? {
        Some(r) => {
            let mut all = r.data.clone();
            all.tags.extend(tags.iter().cloned());
            if all != r.data {
                META.update(TAGS_ID, r.revision, &all)?;
            }
        }
        None => {
            META.insert_with(Some(TAGS_ID), None, &Topics { tags: tags.iter().cloned().collect() })?;
        }
    }
    Ok(())
}

/// Which published courses are required, and for whom (record [`REQUIREMENTS_ID`] of [`META`]): read once per
/// "my learning", not by scanning the courses.
pub const REQUIREMENTS_ID: &str = "requirements";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Requirements {
    /// Course id → (title, who must take it).
    courses: BTreeMap<String, (String, Vec<String>)>,
    /// Path id → (title, who must complete it, its courses).
    paths: BTreeMap<String, (String, Vec<String>, Vec<String>)>,
}

/// A course or a learning path someone must complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Required {
    pub id: String,
    pub title: String,
    /// The path's courses; none for a course.
    pub path: Option<Vec<String>>,
}

/// Records who must take a course (`path` none) or complete a path (its courses).
fn set_requirement(id: &str, title: &str, required_for: &[String], path: Option<&[String]>) -> Result<(), Error> {
    let existing = META.get::<Requirements>(REQUIREMENTS_ID)?;
    let mut all = existing.as_ref().map(|r| r.data.clone()).unwrap_or_default();
    if required_for.is_empty() {
        all.courses.remove(id);
        all.paths.remove(id);
    } else if let Some(courses) = path {
        all.paths.insert(id.to_string(), (title.to_string(), required_for.to_vec(), courses.to_vec()));
    } else {
        all.courses.insert(id.to_string(), (title.to_string(), required_for.to_vec()));
    }
    match existing {
        Some(r) if r.data != all => META.update(REQUIREMENTS_ID, r.revision, &all).map(|_| ()),
        Some(_) => Ok(()),
        None => META.insert_with(Some(REQUIREMENTS_ID), None, &all).map(|_| ()),
    }
}

/// The courses and paths the actor must complete, by their role and their organisation's tier in the call's
/// program: courses in id order, then paths in id order.
pub fn required_for(ctx: &Context, actor: &Actor) -> Result<Vec<Required>, Error> {
    let Some(r) = META.get::<Requirements>(REQUIREMENTS_ID)? else { return Ok(Vec::new()) };
    let role = match actor.role {
        Role::PartnerAdmin => "role:partner_admin",
        Role::PartnerUser => "role:partner_user",
        _ => return Ok(Vec::new()),
    };
    let tier = match ctx.program() {
        Some(p) => directory::get_org(&actor.org_id)?
            .and_then(|o| o.enrolments.into_iter().find(|e| e.program == p))
            .map(|e| format!("tier:{}", e.tier)),
        None => None,
    };
    let applies = |who: &[String]| who.iter().any(|w| w == role || Some(w) == tier.as_ref());
    let courses = r.data.courses.into_iter().filter(|(_, (_, who))| applies(who));
    let courses = courses.map(|(id, (title, _))| Required { id, title, path: None });
    let paths = r.data.paths.into_iter().filter(|(_, (_, who, _))| applies(who));
    let paths = paths.map(|(id, (title, _, courses))| Required { id, title, path: Some(courses) });
    Ok(courses.chain(paths).collect())
}

/// Defines a learning path (vendor staff): at least two published-or-draft courses, in order.
pub fn create_path(ctx: &Context, actor: &Actor, p: Path) -> Result<Record<Path>, Error> {
    if !actor.is_vendor() {
        return Err(Error::Denied("only the vendor's staff define learning paths".into()));
    }
    if p.title.trim().is_empty() {
        return Err(Error::invalid("title", "give the path a title"));
    }
    if p.courses.len() < 2 {
        return Err(Error::invalid("courses", "a path has at least two courses"));
    }
    for c in &p.courses {
        if COURSES.get::<Course>(c)?.is_none() {
            return Err(Error::invalid("courses", format!("{c} is not a course")));
        }
    }
    if let Some(problem) = unknown_requirements(ctx, &p.required_for)?.into_iter().next() {
        return Err(Error::invalid("required_for", problem.message));
    }
    if p.certification.as_ref().is_some_and(|c| c.name.trim().is_empty()) {
        return Err(Error::invalid("certification.name", "name the certification"));
    }
    let rec = PATHS.insert(&p)?;
    set_requirement(&rec.id, &p.title, &p.required_for, Some(&p.courses))?;
    Ok(rec)
}

/// Keeps the catalogue's search index in step with a course: published courses for everyone, drafts for staff.
fn index(id: &str, c: &Course) -> Result<(), Error> {
    let outline = &c.draft;
    let mut text = vec![outline.summary.clone()];
    for l in &outline.lessons {
        text.push(l.title.clone());
        if let Content::Text { markdown } = &l.content {
            text.push(markdown.clone());
        }
    }
    search::index(&Document {
        id: id.to_string(),
        title: if c.version > 0 { c.title.clone() } else { outline.title.clone() },
        text: text.join("\n"),
        tags: c.tags.clone(),
        labels: vec![if c.version > 0 { "published" } else { "draft" }.to_string()],
        org_id: None,
    })?;
    Ok(())
}

/// Enrols the actor (or renews a completed course whose certificate is expiring or expired): the course's
/// current version, its prerequisites checked first.
pub fn enrol(ctx: &Context, actor: &Actor, course_id: &str) -> Result<Record<Enrolment>, Error> {
    let c = course(actor, course_id)?;
    if c.data.version == 0 {
        return Err(Error::Conflict("this course is not published yet".into()));
    }
    let completed = completed_courses(&actor.id)?;
    let paths: Vec<Path> =
        PATHS.query().all_orgs().limit(200).fetch::<Path>()?.records.into_iter().map(|r| r.data).collect();
    let missing = missing_prerequisites(course_id, &c.data.prerequisites, &paths, &completed);
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|m| COURSES.get::<Course>(m).ok().flatten().map_or(m.clone(), |r| r.data.title))
            .collect();
        return Err(Error::Conflict(format!("complete {} first", names.join(", "))));
    }
    let (e, started) = start(ctx, &c, &actor.id, &actor.name, &actor.org_id, &actor.org_name, None)?;
    if started {
        crate::channel::enrolled(&e.data, !actor.is_vendor())?;
    }
    Ok(e)
}

/// The courses a learner has completed.
fn completed_courses(user_id: &str) -> Result<BTreeSet<String>, Error> {
    let done = ENROLMENTS.query().eq("user_id", user_id).eq("status", "completed").limit(500).fetch::<Enrolment>()?;
    Ok(done.records.into_iter().map(|r| r.data.course_id).collect())
}

/// Starts (or renews) a learner's enrolment at the course's current version; true when it started (or renewed) one,
/// false when the learner was in the course already.
fn start(
    ctx: &Context,
    c: &Record<Course>,
    user_id: &str,
    user_name: &str,
    org_id: &str,
    org_name: &str,
    assigned: Option<(i64, String)>,
) -> Result<(Record<Enrolment>, bool), Error> {
    let now = ctx.now_ms();
    let id = enrolment_id(&c.id, user_id);
    let v = version(&c.id, c.data.version)?;
    let fresh = Enrolment {
        user_id: user_id.to_string(),
        user_name: user_name.to_string(),
        org_id: org_id.to_string(),
        org_name: org_name.to_string(),
        course_id: c.id.clone(),
        title: v.outline.title.clone(),
        version: v.version,
        status: "in_progress".into(),
        lessons: v.outline.lessons.len() as u32,
        enrolled_at: now,
        updated_at: now,
        due_at: assigned.as_ref().map(|(d, _)| *d),
        overdue_at: assigned.as_ref().map(|(d, _)| *d),
        assigned_by: assigned.map(|(_, by)| by),
        ..Default::default()
    };
    match ENROLMENTS.get::<Enrolment>(&id)? {
        None => Ok((ENROLMENTS.insert_with(Some(&id), Some(org_id), &fresh)?, true)),
        Some(r) if r.data.status == "completed" => {
            // A renewal: allowed once the certificate is expiring or gone, or when there is none to keep.
            let current = CERTS
                .query()
                .eq("user_id", user_id)
                .eq("course_id", &c.id)
                .limit(20)
                .fetch::<Certificate>()?
                .records
                .into_iter()
                .filter(|k| !k.data.renewed)
                .any(|k| k.data.standing(now) == Standing::Active);
            if current {
                return Err(Error::Conflict(
                    "you hold this course's certification; renew it when it is expiring".into(),
                ));
            }
            let renewed = Enrolment { cycle: r.data.cycle + 1, ..fresh };
            Ok((ENROLMENTS.update(&id, r.revision, &renewed)?, true))
        }
        Some(r) => {
            // Already in progress: an assignment adds its due date; enrolling again changes nothing.
            if fresh.due_at.is_some() {
                let mut e = r.data.clone();
                e.due_at = fresh.due_at;
                e.overdue_at = fresh.due_at;
                e.assigned_by = fresh.assigned_by;
                return Ok((ENROLMENTS.update(&id, r.revision, &e)?, false));
            }
            Ok((r, false))
        }
    }
}

/// A partner admin (or vendor staff) assigns a course to a user of their organisation, due on a date.
pub fn assign(
    ctx: &Context,
    actor: &Actor,
    course_id: &str,
    user_id: &str,
    due_at: i64,
) -> Result<Record<Enrolment>, Error> {
    if !(actor.is_partner_admin() || actor.is_vendor()) {
        return Err(Error::Denied("only partner admins assign training".into()));
    }
    let user = directory::get_user(user_id)?
        .filter(|u| actor.is_vendor() || u.org_id == actor.org_id)
        .ok_or_else(|| Error::invalid("user_id", "choose a user of your organisation"))?;
    if due_at <= ctx.now_ms() {
        return Err(Error::invalid("due_date", "choose a date in the future"));
    }
    let c = course(actor, course_id)?;
    if c.data.version == 0 {
        return Err(Error::invalid("course_id", "this course is not published yet"));
    }
    let org = directory::get_org(&user.org_id)?.map(|o| o.name).unwrap_or_default();
    let (e, started) = start(ctx, &c, &user.id, &user.name, &user.org_id, &org, Some((due_at, actor.name.clone())))?;
    if started {
        crate::channel::enrolled(&e.data, matches!(user.role, Role::PartnerAdmin | Role::PartnerUser))?;
    }
    let body = format!("{} assigned you this course, due {}.", actor.name, cert::long_date(due_at));
    tell(&user.id, format!("Training assigned: {}", e.data.title), body, &c.id)?;
    Ok(e)
}

/// The actor's enrolment in a course (a partner admin may read their team's; staff anyone's).
pub fn my_enrolment(actor: &Actor, course_id: &str) -> Result<Option<Record<Enrolment>>, Error> {
    ENROLMENTS.get::<Enrolment>(&enrolment_id(course_id, &actor.id))
}

fn enrolled(actor: &Actor, course_id: &str) -> Result<Record<Enrolment>, Error> {
    my_enrolment(actor, course_id)?
        .filter(|e| e.data.status == "in_progress")
        .ok_or_else(|| Error::Conflict("enrol in the course first".into()))
}

/// Marks a text, video or file lesson done; a quiz is done only when passed.
pub fn complete_lesson(
    ctx: &Context,
    actor: &Actor,
    course_id: &str,
    lesson: &str,
) -> Result<Record<Enrolment>, Error> {
    let mut e = enrolled(actor, course_id)?;
    let v = version(course_id, e.data.version)?;
    let l = v
        .outline
        .lessons
        .iter()
        .find(|l| l.id == lesson)
        .ok_or_else(|| Error::NotFound(format!("no lesson {lesson}")))?;
    match l.content {
        Content::Quiz(_) => return Err(Error::Conflict("a quiz is done when it is passed".into())),
        Content::Scorm { .. } => {
            return Err(Error::Conflict(
                "a SCORM lesson is done when its package reports it passed or completed".into(),
            ));
        }
        _ => {}
    }
    e.data.done.insert(lesson.to_string());
    e.data.last_lesson = Some(lesson.to_string());
    progress(ctx, e, &v)
}

/// Saves progress; when the last lesson is done, completes the course and issues its certificate.
fn progress(ctx: &Context, mut e: Record<Enrolment>, v: &Version) -> Result<Record<Enrolment>, Error> {
    let now = ctx.now_ms();
    e.data.percent = v.outline.percent(&e.data.done);
    e.data.updated_at = now;
    if v.outline.complete(&e.data.done) && e.data.status != "completed" {
        e.data.status = "completed".into();
        e.data.completed_at = Some(now);
        e.data.overdue_at = None;
        let saved = ENROLMENTS.update(&e.id, e.revision, &e.data)?;
        events::emit(
            "lms.course.completed",
            &json!({ "user_id": saved.data.user_id, "user_name": saved.data.user_name, "org_id": saved.data.org_id,
                     "course_id": saved.data.course_id, "title": saved.data.title, "version": saved.data.version,
                     "completed_at": now, "cycle": saved.data.cycle }),
        )?;
        crate::channel::completed(ctx, &saved.data)?;
        if let Some(spec) = &v.certification {
            issue(ctx, &saved.data, (&saved.data.course_id, &saved.data.title, false), spec)?;
        }
        certify_paths(ctx, &saved.data)?;
        return Ok(saved);
    }
    ENROLMENTS.update(&e.id, e.revision, &e.data)
}

/// Issues the certificates of the learning paths that `e`, just completed, completes for its learner: each path
/// on which it is with a certification, every course of it completed, and no certificate of it still active.
fn certify_paths(ctx: &Context, e: &Enrolment) -> Result<(), Error> {
    let now = ctx.now_ms();
    let paths = PATHS.query().all_orgs().limit(200).fetch::<Path>()?.records;
    let mut completed: Option<BTreeSet<String>> = None;
    for p in paths.iter().filter(|p| p.data.certification.is_some() && p.data.courses.contains(&e.course_id)) {
        let completed = match &mut completed {
            Some(c) => c,
            None => completed.insert(completed_courses(&e.user_id)?),
        };
        if p.data.completed_in(completed) < p.data.courses.len() {
            continue;
        }
        let held = CERTS.query().eq("user_id", &e.user_id).eq("course_id", &p.id).limit(20).fetch::<Certificate>()?;
        if held.records.iter().any(|k| !k.data.renewed && k.data.standing(now) == Standing::Active) {
            continue;
        }
        let spec = p.data.certification.as_ref().expect("filtered above");
        issue(ctx, e, (&p.id, &p.data.title, true), spec)?;
    }
    Ok(())
}

/// Issues a certificate to `e`'s learner for `subject` (the id and title of a course, or of a path when its third
/// part is true); an earlier one of the same subject is marked renewed.
fn issue(
    ctx: &Context,
    e: &Enrolment,
    subject: (&str, &str, bool),
    spec: &CertSpec,
) -> Result<Record<Certificate>, Error> {
    let now = ctx.now_ms();
    let (subject_id, subject_title, path) = subject;
    for old in
        CERTS.query().eq("user_id", &e.user_id).eq("course_id", subject_id).limit(50).fetch::<Certificate>()?.records
    {
        if !old.data.renewed {
            let mut k = old.data.clone();
            k.renewed = true;
            k.remind_at = None;
            k.expiry_due = None;
            CERTS.update(&old.id, old.revision, &k)?;
        }
    }
    let expires_at = cert::expires_at(now, spec.validity_months);
    let code = cert::new_code(rand::random());
    let k = Certificate {
        code: code.clone(),
        user_id: e.user_id.clone(),
        user_name: e.user_name.clone(),
        org_id: e.org_id.clone(),
        org_name: e.org_name.clone(),
        course_id: subject_id.to_string(),
        course_title: subject_title.to_string(),
        path,
        name: spec.name.clone(),
        issued_at: now,
        expires_at,
        window_days: spec.window_days,
        remind_at: cert::reminders(expires_at, spec.window_days).into_iter().find(|at| *at > now),
        reminded_up_to: None,
        expiry_due: expires_at,
        renewed: false,
    };
    let rec = CERTS.insert_with(Some(&code), Some(&e.org_id), &k)?;
    crate::channel::certified(ctx, &k)?;
    events::emit(
        "lms.certification.earned",
        &json!({ "code": code, "name": k.name, "user_id": k.user_id, "org_id": k.org_id, "course_id": k.course_id,
                 "issued_at": now, "expires_at": expires_at }),
    )?;
    notify::send(&Notification {
        audience: Audience::User(k.user_id.clone()),
        title: format!("Certified: {}", k.name),
        body: match expires_at {
            Some(x) => format!("Your certificate is valid until {}.", cert::long_date(x)),
            None => "Your certificate does not expire.".into(),
        },
        link: Some(format!("/p/lms/certificates/{code}")),
        email: true,
    })?;
    Ok(rec)
}

/// A quiz lesson of the learner's version, with their state.
pub fn quiz_of(
    actor: &Actor,
    course_id: &str,
    lesson: &str,
) -> Result<(Record<Enrolment>, Version, crate::quiz::Quiz), Error> {
    let e = enrolled(actor, course_id)?;
    let v = version(course_id, e.data.version)?;
    let quiz = v
        .outline
        .lessons
        .iter()
        .find_map(|l| match &l.content {
            Content::Quiz(q) if l.id == lesson => Some(q.clone()),
            _ => None,
        })
        .ok_or_else(|| Error::NotFound(format!("no quiz {lesson}")))?;
    Ok((e, v, quiz))
}

/// Opens an attempt (or gives back the open one): the questions in the attempt's order, without the answers.
pub fn open_attempt(ctx: &Context, actor: &Actor, course_id: &str, lesson: &str) -> Result<Value, Error> {
    let (mut e, _, quiz) = quiz_of(actor, course_id, lesson)?;
    let state = e.data.quizzes.entry(lesson.to_string()).or_default();
    let seed = match state.open_seed {
        Some(s) => s,
        None => {
            if let Err(r) = may_attempt(quiz.retake, &state.finished, ctx.now_ms()) {
                return Err(Error::Conflict(r.message));
            }
            let s: u64 = rand::random();
            state.open_seed = Some(s);
            let saved = ENROLMENTS.update(&e.id, e.revision, &e.data)?;
            e = saved;
            s
        }
    };
    let questions: Vec<Value> = quiz
        .order(seed)
        .into_iter()
        .map(|(qi, choices)| {
            let q = &quiz.questions[qi];
            json!({ "id": q.id, "prompt": q.prompt, "kind": q.kind,
                    "choices": choices.into_iter().map(|ci| json!({ "id": q.choices[ci].id, "text": q.choices[ci].text })).collect::<Vec<_>>() })
        })
        .collect();
    Ok(json!({ "questions": questions, "pass_percent": quiz.pass_percent, "retake": quiz.retake,
               "attempts": e.data.quizzes.get(lesson).map_or(0, |s| s.finished.len()) }))
}

/// Scores the open attempt (opening one if none is): passed marks the lesson done.
pub fn submit_attempt(
    ctx: &Context,
    actor: &Actor,
    course_id: &str,
    lesson: &str,
    answers: &[(String, Vec<String>)],
) -> Result<(Score, Record<Enrolment>), Error> {
    let (mut e, v, quiz) = quiz_of(actor, course_id, lesson)?;
    let now = ctx.now_ms();
    let state = e.data.quizzes.entry(lesson.to_string()).or_default();
    if state.open_seed.is_none()
        && let Err(r) = may_attempt(quiz.retake, &state.finished, now)
    {
        return Err(Error::Conflict(r.message));
    }
    let score = quiz.score(answers);
    state.open_seed = None;
    state.finished.push(Finished { at: now, passed: score.passed });
    state.best = state.best.max(score.percent);
    state.last = Some(score.clone());
    e.data.last_lesson = Some(lesson.to_string());
    if score.passed {
        e.data.done.insert(lesson.to_string());
    }
    let saved = progress(ctx, e, &v)?;
    Ok((score, saved))
}

/// A SCORM lesson of a course's outline: its package's tree and the SCO's path.
fn scorm_lesson<'a>(outline: &'a Outline, lesson: &str) -> Result<(&'a str, &'a str), Error> {
    outline
        .lessons
        .iter()
        .find_map(|l| match &l.content {
            Content::Scorm { tree, launch } if l.id == lesson => Some((tree.as_str(), launch.as_str())),
            _ => None,
        })
        .ok_or_else(|| Error::NotFound(format!("no SCORM lesson {lesson}")))
}

/// How long the frame may load the package's files.
const SCORM_TTL_SECONDS: u32 = 4 * 3600;
/// The largest launch page the frame is given.
const SCORM_PAGE_BYTES: u32 = 2 << 20;

/// What the lesson's frame needs to run a SCO: the launch page, the address its relative URLs resolve against,
/// and the learner's data (`cmi.*` as SCORM 1.2 names them) with the number of the last commit. Vendor staff
/// previewing a draft get fresh data, and their commits are not kept.
pub fn scorm_launch(actor: &Actor, course_id: &str, lesson: &str, preview: bool) -> Result<Value, Error> {
    let (outline, cmi, status) = if preview && actor.is_vendor() {
        (course(actor, course_id)?.data.draft, crate::scorm::Cmi::default(), "preview".to_string())
    } else {
        let e = my_enrolment(actor, course_id)?.ok_or_else(|| Error::Conflict("enrol in the course first".into()))?;
        let v = version(course_id, e.data.version)?;
        let cmi = e.data.scorm.get(lesson).cloned().unwrap_or_default();
        (v.outline, cmi, e.data.status.clone())
    };
    let (tree, launch) = scorm_lesson(&outline, lesson)?;
    let page = launch.split(['?', '#']).next().unwrap_or_default();
    let html = files::read(&format!("{tree}/{page}"), 0, SCORM_PAGE_BYTES)?;
    let dir = page.rsplit_once('/').map_or(String::new(), |(d, _)| format!("{d}/"));
    let base = format!("{}{dir}", files::tree_url(tree, SCORM_TTL_SECONDS)?);
    Ok(json!({
        "html": String::from_utf8_lossy(&html), "base": base, "values": cmi.values(&actor.id, &actor.name),
        "seq": cmi.seq, "status": status, "preview": status == "preview",
    }))
}

/// A commit from a SCO (through the lesson's frame): checked against SCORM 1.2 and applied in order; a lesson
/// reported passed or completed is done, and may complete the course.
pub fn scorm_commit(
    ctx: &Context,
    actor: &Actor,
    course_id: &str,
    lesson: &str,
    seq: u64,
    values: &BTreeMap<String, String>,
    finish: bool,
) -> Result<Value, Error> {
    let mut e = my_enrolment(actor, course_id)?.ok_or_else(|| Error::Conflict("enrol in the course first".into()))?;
    let v = version(course_id, e.data.version)?;
    scorm_lesson(&v.outline, lesson)?;
    if e.data.status == "completed" {
        // The course is complete (a last commit after the one that completed it, or a review): nothing changes.
        return Ok(json!({ "applied": false, "done": e.data.done.contains(lesson), "course_completed": true }));
    }
    let cmi = e.data.scorm.entry(lesson.to_string()).or_default();
    let applied = cmi.commit(seq, values, finish).map_err(|m| Error::invalid("values", m))?;
    let (outcome, percent, status) = (cmi.outcome(), cmi.percent(), cmi.lesson_status.clone());
    if !applied {
        return Ok(
            json!({ "applied": false, "status": status, "score": percent, "done": e.data.done.contains(lesson) }),
        );
    }
    e.data.last_lesson = Some(lesson.to_string());
    if outcome == crate::scorm::Outcome::Done {
        e.data.done.insert(lesson.to_string());
    }
    let saved = progress(ctx, e, &v)?;
    Ok(json!({
        "applied": true, "status": status, "score": percent, "done": saved.data.done.contains(lesson),
        "course_completed": saved.data.status == "completed",
        "next": v.outline.resume_at(&saved.data.done).map(|l| l.id.clone()),
    }))
}

/// Records of `c` whose `field` (an index kept only while something is due) is at or before `now`: a bounded
/// batch, the next run takes the rest.
fn due<T: serde::de::DeserializeOwned>(c: Collection, field: &str, now: i64) -> Result<Vec<Record<T>>, Error> {
    Ok(c.query().all_orgs().range(field, None::<i64>, Some(now + 1)).limit(200).fetch::<T>()?.records)
}

/// Tells a learner something about a course, in the portal and by e-mail.
fn tell(user_id: &str, title: String, body: String, course_id: &str) -> Result<(), Error> {
    tell_at(user_id, title, body, format!("/p/lms/courses/{course_id}"))
}

fn tell_at(user_id: &str, title: String, body: String, link: String) -> Result<(), Error> {
    notify::send(&Notification {
        audience: Audience::User(user_id.to_string()),
        title,
        body,
        link: Some(link),
        email: true,
    })
}

/// Where a certificate's holder goes to renew it: the course, or their learning for a path's.
fn renew_at(k: &Certificate) -> String {
    if k.path { "/p/lms/my".into() } else { format!("/p/lms/courses/{}", k.course_id) }
}

/// What the daily schedule does: certificate reminders and expiry notices, overdue assignment reminders.
pub fn housekeeping(ctx: &Context) -> Result<(), Error> {
    let now = ctx.now_ms();
    for r in due::<Certificate>(CERTS, "remind_at", now)? {
        let mut k = r.data.clone();
        if let Some(at) = cert::due_reminder(k.expires_at, k.window_days, k.reminded_up_to, now) {
            let expires = cert::long_date(k.expires_at.unwrap_or(at));
            let body = format!(
                "It expires on {expires}. Take the {} again to renew it.",
                if k.path { "path's courses" } else { "course" }
            );
            tell_at(&k.user_id, format!("Renew your certification: {}", k.name), body, renew_at(&k))?;
            k.reminded_up_to = Some(at);
        }
        k.remind_at = cert::reminders(k.expires_at, k.window_days).into_iter().find(|at| *at > now);
        CERTS.update(&r.id, r.revision, &k)?;
    }
    for r in due::<Certificate>(CERTS, "expiry_due", now)? {
        let mut k = r.data.clone();
        k.expiry_due = None;
        k.remind_at = None;
        CERTS.update(&r.id, r.revision, &k)?;
        events::emit(
            "lms.certification.expired",
            &json!({ "code": k.code, "name": k.name, "user_id": k.user_id, "org_id": k.org_id, "course_id": k.course_id,
                     "expired_at": k.expires_at }),
        )?;
        let body = format!("Take the {} again to renew it.", if k.path { "path's courses" } else { "course" });
        tell_at(&k.user_id, format!("Certification expired: {}", k.name), body, renew_at(&k))?;
    }
    for r in due::<Enrolment>(ENROLMENTS, "overdue_at", now)? {
        let mut e = r.data.clone();
        e.overdue_at = None;
        ENROLMENTS.update(&r.id, r.revision, &e)?;
        if e.status == "in_progress" {
            let body =
                format!("It was due on {}; you are {} % through.", cert::long_date(e.due_at.unwrap_or(now)), e.percent);
            tell(&e.user_id, format!("Training overdue: {}", e.title), body, &e.course_id)?;
        }
    }
    Ok(())
}

/// A query of learners' records narrowed to what the actor may list: their own; with `team`, their organisation's
/// for a partner admin and everyone's for vendor staff (a partner user has no team view of `what`).
fn whose(q: Query, actor: &Actor, team: bool, what: &str) -> Result<Query, Error> {
    if !team {
        Ok(q.eq("user_id", &actor.id))
    } else if actor.is_vendor() {
        Ok(q.all_orgs())
    } else if actor.is_partner_admin() {
        Ok(q.org(&actor.org_id))
    } else {
        Err(Error::Denied(format!("only partner admins see their team's {what}")))
    }
}

/// Enrolments the actor may list: their own; a partner admin's team (`team`); vendor staff anyone's.
pub fn enrolments(
    actor: &Actor,
    team: bool,
    limit: u32,
    cursor: Option<&str>,
) -> Result<(Vec<Record<Enrolment>>, Option<String>), Error> {
    let q = whose(ENROLMENTS.query(), actor, team, "training")?.order_by("updated_at", Direction::Desc);
    let page = q.limit(limit).after(cursor.map(String::from)).fetch::<Enrolment>()?;
    Ok((page.records, page.next_cursor))
}

/// Certificates the actor may list, like [`enrolments`].
pub fn certificates(actor: &Actor, team: bool) -> Result<Vec<Record<Certificate>>, Error> {
    let q = whose(CERTS.query(), actor, team, "certifications")?.order_by("issued_at", Direction::Desc);
    Ok(q.limit(200).fetch::<Certificate>()?.records)
}

/// What a verification says about a code: the certificate while it is valid; that it expired or was replaced;
/// nothing at all for a code that was never issued.
pub fn verify(now: i64, typed: &str) -> Result<Option<Value>, Error> {
    let Some(code) = cert::normalise_code(typed) else { return Ok(None) };
    let Some(r) = CERTS.get::<Certificate>(&code)? else { return Ok(None) };
    let k = r.data;
    let standing = k.standing(now);
    Ok(Some(json!({
        "valid": standing != Standing::Expired,
        "code": k.code, "holder": k.user_name, "organisation": k.org_name, "certification": k.name,
        "issued": cert::long_date(k.issued_at), "expires": k.expires_at.map(cert::long_date),
        "standing": standing, "renewed": k.renewed,
    })))
}

/// Days from now to a time, for "due in 3 days".
pub fn days_until(now: i64, at: i64) -> i64 {
    (at - now).div_euclid(DAY_MS)
}
