//! Pages and the JSON API.

use std::collections::BTreeMap;

use portico_sdk::Value;
use portico_sdk::files::{self, Disposition};
use portico_sdk::prelude::*;
use portico_sdk::search::{self, SearchQuery};
use portico_sdk::storage::Direction;
use portico_sdk::{directory, storage::Record};
use serde::Deserialize;

use crate::cert;
use crate::course::{Content, Lesson, Path};
use crate::learn::{self, Actor, CERTS, COURSES, Certificate, Course, Draft, ENROLMENTS, Enrolment, PATHS};

const BASE: &str = "/p/lms";

/// Markdown as HTML. Raw HTML in the Markdown is shown as text; the host sanitises every page besides.
pub fn markdown(md: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, html};
    let parser = Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

fn parse_date(field: &str, s: &str) -> Result<i64, Error> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| Error::invalid(field, "use a date like 2027-03-31"))
}

/// Courses of a catalogue page (id and course), and the cursor of the next page.
type CataloguePage = (Vec<(String, Course)>, Option<String>);

/// Courses per catalogue page.
const PAGE: u32 = 50;

/// A page of the catalogue: published courses (and drafts for staff), newest first, or those `q` finds (by their
/// title, summary, lessons and tags) and those of a tag, best first; and where the next page starts.
fn catalogue(actor: &Actor, q: Option<&str>, tag: Option<&str>, cursor: Option<&str>) -> Result<CataloguePage, Error> {
    // "All topics" is an empty tag.
    let tag = tag.filter(|t| !t.is_empty());
    let text = q.map(str::trim).filter(|q| !q.is_empty());
    let mut out = Vec::new();
    let next = if text.is_some() || tag.is_some() {
        let labels =
            if actor.is_vendor() { vec!["published".into(), "draft".into()] } else { vec!["published".into()] };
        let offset: u32 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let found = search::query(&SearchQuery {
            text: text.unwrap_or_default().to_string(),
            labels: vec![labels],
            tags: tag.map(|t| vec![t.to_string()]).unwrap_or_default(),
            limit: PAGE,
            offset,
        })?;
        for hit in &found.hits {
            if let Some(r) = COURSES.get::<Course>(&hit.id)? {
                out.push((r.id, r.data));
            }
        }
        (u64::from(offset + PAGE) < found.total).then(|| (offset + PAGE).to_string())
    } else {
        let order = if actor.is_vendor() { "updated_at" } else { "published_at" };
        let query = COURSES.query().all_orgs().order_by(order, Direction::Desc);
        let page = query.limit(PAGE).after(cursor.map(String::from)).fetch::<Course>()?;
        out.extend(page.records.into_iter().map(|r| (r.id, r.data)));
        page.next_cursor
    };
    out.retain(|(_, c)| actor.is_vendor() || c.version > 0);
    Ok((out, next))
}

fn course_json(id: &str, c: &Course, actor: &Actor) -> Value {
    let mut v = json!({
        "id": id, "title": if c.version > 0 { &c.title } else { &c.draft.title },
        "summary": if c.version > 0 { &c.summary } else { &c.draft.summary }, "tags": c.tags, "minutes": c.minutes,
        "version": c.version, "status": c.status, "prerequisites": c.prerequisites,
        "certification": c.certification, "published_at": c.published_at,
    });
    if actor.is_vendor() {
        v["draft"] = json!(c.draft);
        v["draft_changed"] = json!(c.draft_changed);
    }
    v
}

fn enrolment_json(id: &str, e: &Enrolment, now: i64) -> Value {
    json!({
        "id": id, "user_id": e.user_id, "user_name": e.user_name, "org_id": e.org_id, "org_name": e.org_name,
        "course_id": e.course_id, "title": e.title, "version": e.version, "status": e.status, "percent": e.percent,
        "done": e.done, "last_lesson": e.last_lesson, "enrolled_at": e.enrolled_at, "completed_at": e.completed_at,
        "due_at": e.due_at, "due": e.due_at.map(cert::long_date), "assigned_by": e.assigned_by,
        "overdue": e.status == "in_progress" && e.due_at.is_some_and(|d| d < now), "cycle": e.cycle,
    })
}

/// Answers of a quiz form or body: question id → chosen option ids.
fn answers_of(req: &Request) -> Result<Vec<(String, Vec<String>)>, Error> {
    if req.api {
        #[derive(Deserialize)]
        struct Body {
            answers: BTreeMap<String, Vec<String>>,
        }
        let b: Body = req.json()?;
        return Ok(b.answers.into_iter().collect());
    }
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &req.form {
        if let Some(q) = k.strip_prefix("q.") {
            out.entry(q.to_string()).or_default().push(v.clone());
        }
    }
    Ok(out.into_iter().collect())
}

fn problems_json(problems: &[crate::quiz::Problem]) -> Response {
    Response::json_status(
        422,
        &json!({ "error": { "code": "not_ready", "message": "the course cannot be published yet", "fields": problems } }),
    )
}

pub fn api(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let now = ctx.now_ms();
    let segs = req.segments();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["courses"]) => {
            let (list, next) = catalogue(actor, req.query("q"), req.query("tag"), req.query("cursor"))?;
            let courses: Vec<Value> = list.iter().map(|(id, c)| course_json(id, c, actor)).collect();
            Ok(Response::json(&json!({ "courses": courses, "next_cursor": next })))
        }
        ("POST", ["courses"]) => {
            let rec = learn::create(ctx, actor, req.json::<Draft>()?)?;
            Ok(Response::json_status(201, &course_json(&rec.id, &rec.data, actor)))
        }
        ("GET", ["courses", id]) => {
            let c = learn::course(actor, id)?;
            let mut v = course_json(&c.id, &c.data, actor);
            if c.data.version > 0 {
                let published = learn::version(&c.id, c.data.version)?;
                v["lessons"] = json!(published.outline.lessons.iter().map(lesson_summary).collect::<Vec<_>>());
            }
            Ok(Response::json(&v))
        }
        ("PUT", ["courses", id]) => {
            let rec = learn::update(ctx, actor, id, req.json::<Draft>()?)?;
            Ok(Response::json(&course_json(&rec.id, &rec.data, actor)))
        }
        ("POST", ["courses", id, "publish"]) => match learn::publish(ctx, actor, id)? {
            Ok(rec) => Ok(Response::json(&course_json(&rec.id, &rec.data, actor))),
            Err(problems) => Ok(problems_json(&problems)),
        },
        ("POST", ["courses", id, "enrol"]) => {
            let e = learn::enrol(ctx, actor, id)?;
            Ok(Response::json(&enrolment_json(&e.id, &e.data, now)))
        }
        ("POST", ["courses", id, "lessons", lesson, "complete"]) => {
            let e = learn::complete_lesson(ctx, actor, id, lesson)?;
            Ok(Response::json(&enrolment_json(&e.id, &e.data, now)))
        }
        ("GET", ["quizzes", course, lesson]) => Ok(Response::json(&learn::open_attempt(ctx, actor, course, lesson)?)),
        ("POST", ["quizzes", course, lesson, "attempts"]) => {
            let answers = answers_of(req)?;
            let (score, e) = learn::submit_attempt(ctx, actor, course, lesson, &answers)?;
            Ok(Response::json(&json!({ "score": score, "enrolment": enrolment_json(&e.id, &e.data, now) })))
        }
        ("GET", ["enrolments"]) => {
            let limit = req.query("limit").and_then(|l| l.parse().ok()).unwrap_or(50u32).clamp(1, 200);
            let (list, next) = learn::enrolments(actor, req.query("team") == Some("1"), limit, req.query("cursor"))?;
            let list: Vec<Value> = list.iter().map(|r| enrolment_json(&r.id, &r.data, now)).collect();
            Ok(Response::json(&json!({ "enrolments": list, "next_cursor": next })))
        }
        ("POST", ["assignments"]) => {
            #[derive(Deserialize)]
            struct Body {
                course_id: String,
                user_id: String,
                due_date: String,
            }
            let b: Body = req.json()?;
            let due = parse_date("due_date", &b.due_date)?;
            let e = learn::assign(ctx, actor, &b.course_id, &b.user_id, due)?;
            Ok(Response::json_status(201, &enrolment_json(&e.id, &e.data, now)))
        }
        ("GET", ["requirements"]) => {
            let (list, _) = learn::enrolments(actor, false, 200, None)?;
            Ok(Response::json(&json!({ "required": required(ctx, actor, &list)? })))
        }
        ("GET", ["certifications"]) => {
            let list = learn::certificates(actor, req.query("team") == Some("1"))?;
            let list: Vec<Value> = list.iter().map(|r| r.data.to_json(now)).collect();
            Ok(Response::json(&json!({ "certifications": list })))
        }
        ("GET", ["paths"]) => {
            let list: Vec<Value> =
                PATHS.query().all_orgs().limit(200).fetch::<Path>()?.records.iter().map(path_json).collect();
            Ok(Response::json(&json!({ "paths": list })))
        }
        ("POST", ["paths"]) => {
            Ok(Response::json_status(201, &path_json(&learn::create_path(ctx, actor, req.json()?)?)))
        }
        ("POST", ["media"]) => {
            if !actor.is_vendor() {
                return Err(Error::Denied("only the vendor's staff upload course files".into()));
            }
            let mut kept = Vec::new();
            for f in files::uploads() {
                files::keep(&f.key)?;
                kept.push(
                    json!({ "key": f.key, "filename": f.filename, "content_type": f.content_type, "size": f.size }),
                );
            }
            if kept.is_empty() {
                return Err(Error::invalid("file", "choose a file to upload"));
            }
            Ok(Response::json_status(201, &json!({ "files": kept })))
        }
        ("POST", ["imports"]) => match import(ctx, actor, req)? {
            Ok(c) => Ok(Response::json_status(201, &course_json(&c.id, &c.data, actor))),
            Err(problems) => Ok(Response::json_status(
                422,
                &json!({ "error": { "code": "invalid", "message": "nothing was imported", "fields": problems } }),
            )),
        },
        ("GET", ["scorm", course, lesson]) => {
            Ok(Response::json(&learn::scorm_launch(actor, course, lesson, req.query("preview") == Some("1"))?))
        }
        ("POST", ["scorm", course, lesson, "commit"]) => {
            #[derive(Deserialize)]
            struct Commit {
                seq: u64,
                #[serde(default)]
                values: BTreeMap<String, String>,
                #[serde(default)]
                finish: bool,
            }
            let c: Commit = req.json()?;
            Ok(Response::json(&learn::scorm_commit(ctx, actor, course, lesson, c.seq, &c.values, c.finish)?))
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}

/// The courses and learning paths required of the actor, each with how far they are (a path: by its courses
/// completed, with the next one to take).
fn required(ctx: &Context, actor: &Actor, mine: &[Record<Enrolment>]) -> Result<Vec<Value>, Error> {
    let status_of = |id: &str| mine.iter().find(|r| r.data.course_id == id).map(|r| &r.data);
    let title_of = |id: &str| -> Result<String, Error> {
        Ok(COURSES
            .get::<Course>(id)?
            .map(|c| if c.data.title.is_empty() { c.data.draft.title } else { c.data.title })
            .unwrap_or_default())
    };
    learn::required_for(ctx, actor)?
        .into_iter()
        .map(|r| match r.path {
            None => {
                let e = status_of(&r.id);
                Ok(json!({ "course_id": r.id, "title": r.title, "status": e.map_or("not_started", |e| e.status.as_str()),
                        "percent": e.map_or(0, |e| e.percent) }))
            }
            Some(courses) => {
                let done = courses.iter().filter(|c| status_of(c).is_some_and(|e| e.status == "completed")).count();
                let next = courses.iter().find(|c| status_of(c).is_none_or(|e| e.status != "completed"));
                let started = courses.iter().any(|c| status_of(c).is_some());
                let status = if next.is_none() {
                    "completed"
                } else if started {
                    "in_progress"
                } else {
                    "not_started"
                };
                Ok(json!({ "path_id": r.id, "title": r.title, "status": status, "course_id": next,
                        "next_title": next.map(|n| title_of(n)).transpose()?, "courses_done": done,
                        "courses": courses.len(), "percent": (done * 100).checked_div(courses.len()).unwrap_or(0) }))
            }
        })
        .collect()
}

fn path_json(r: &Record<Path>) -> Value {
    json!({ "id": r.id, "title": r.data.title, "courses": r.data.courses, "required_for": r.data.required_for,
            "certification": r.data.certification })
}

/// An import (`kind` = `scorm`, a package; `markdown`, a folder of Markdown files or its zip) as a draft course,
/// or the problems at their files.
fn import(
    ctx: &Context,
    actor: &Actor,
    req: &Request,
) -> Result<Result<Record<Course>, Vec<crate::quiz::Problem>>, Error> {
    if !actor.is_vendor() {
        return Err(Error::Denied("only the vendor's staff import courses".into()));
    }
    let uploads = files::uploads();
    let problem = |message: &str| vec![crate::quiz::Problem { field: "files".into(), message: message.into() }];
    if uploads.is_empty() {
        return Ok(Err(problem("choose the files to import")));
    }
    match req.field("kind").unwrap_or("scorm") {
        "scorm" if uploads.len() == 1 => Ok(crate::import::scorm_course(ctx, actor, &uploads[0])?
            .map_err(|m| vec![crate::quiz::Problem { field: "files".into(), message: m }])),
        "scorm" => Ok(Err(problem("upload one SCORM package (a zip) at a time"))),
        "markdown" => crate::import::markdown_course(ctx, actor, &uploads),
        _ => Err(Error::invalid("kind", "import a scorm package or a markdown folder")),
    }
}

/// A file's size as people read it: 820 bytes, 12 KB, 3.4 MB.
fn size_text(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{} KB", bytes / 1_000),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// A part of a URL's query, percent-encoded.
fn query_part(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn lesson_summary(l: &Lesson) -> Value {
    let kind = match &l.content {
        Content::Text { .. } => "text",
        Content::Video { .. } => "video",
        Content::File { .. } => "file",
        Content::Quiz(_) => "quiz",
        Content::Scorm { .. } => "scorm",
    };
    json!({ "id": l.id, "title": l.title, "kind": kind })
}

/// The public verification: `GET verify/{code}` (JSON) and the page `/verify` (a form, or `?code=`).
pub fn verify(ctx: &Context, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    let typed = match segs.as_slice() {
        ["verify", code] => Some(code.to_string()),
        _ => req.field("code").or(req.query("code")).map(String::from),
    };
    let found = match &typed {
        Some(t) => learn::verify(ctx.now_ms(), t)?,
        None => None,
    };
    if req.api {
        return Ok(match found {
            Some(v) => Response::json(&v),
            // A forged code learns nothing: the same answer as a code never issued.
            None => Response::json_status(
                404,
                &json!({ "error": { "code": "not_found", "message": "no certificate has this code" } }),
            ),
        });
    }
    Ok(Response::page(
        "verify.html",
        "Verify a certificate",
        &json!({ "base": BASE, "code": typed, "result": found, "asked": typed.is_some() }),
    ))
}

pub fn page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let now = ctx.now_ms();
    let segs = req.segments();
    match segs.as_slice() {
        [] => {
            let (list, next) = catalogue(actor, req.query("q"), req.query("tag"), req.query("cursor"))?;
            let mine: BTreeMap<String, Enrolment> = ENROLMENTS
                .query()
                .eq("user_id", &actor.id)
                .limit(500)
                .fetch::<Enrolment>()?
                .records
                .into_iter()
                .map(|r| (r.data.course_id.clone(), r.data))
                .collect();
            let tags = learn::topics()?;
            let courses: Vec<Value> = list
                .iter()
                .map(|(id, c)| {
                    let mut v = course_json(id, c, actor);
                    v["mine"] = json!(mine.get(id).map(|e| json!({ "status": e.status, "percent": e.percent })));
                    v["lessons"] = json!(if c.version > 0 { c.lesson_count as usize } else { c.draft.lessons.len() });
                    v["summary_html"] = json!(markdown(v["summary"].as_str().unwrap_or_default()));
                    v
                })
                .collect();
            Ok(Response::page(
                "catalogue.html",
                "Training",
                &json!({ "base": BASE, "courses": courses, "q": req.query("q"), "tag": req.query("tag"), "tags": tags, "next_cursor": next,
                         "staff": actor.is_vendor(), "team": actor.is_partner_admin() }),
            ))
        }
        ["courses", id] => course_page(ctx, actor, req, id),
        ["courses", id, "lessons", lesson] => lesson_page(ctx, actor, req, id, lesson),
        ["import"] => import_page(ctx, actor, req),
        ["my"] => {
            let (list, _) = learn::enrolments(actor, false, 200, None)?;
            let enrolments: Vec<Value> = list.iter().map(|r| enrolment_json(&r.id, &r.data, now)).collect();
            let certs: Vec<Value> = learn::certificates(actor, false)?.iter().map(|r| r.data.to_json(now)).collect();
            let required = required(ctx, actor, &list)?;
            Ok(Response::page(
                "my.html",
                "My learning",
                &json!({ "base": BASE, "enrolments": enrolments, "certs": certs, "required": required }),
            ))
        }
        ["team"] => team_page(ctx, actor, req),
        ["reports"] | ["reports.csv"] => {
            if !actor.is_vendor() {
                return Err(Error::NotFound("no such page".into()));
            }
            let (lines, next) = crate::report::report(req.query("cursor"))?;
            if segs[0] == "reports.csv" {
                return Ok(Response::File {
                    content_type: "text/csv; charset=utf-8".into(),
                    filename: "training-report.csv".into(),
                    body: crate::report::csv(&lines)?,
                });
            }
            let mut context = crate::report::context(&lines, next);
            context["base"] = json!(BASE);
            context["cursor"] = json!(req.query("cursor"));
            Ok(Response::page("reports.html", "Training report", &context))
        }
        ["certificates", code, "pdf"] => {
            let k = viewable_certificate(actor, code)?;
            let settings: Value = portico_sdk::settings::get().unwrap_or(Value::Null);
            let text = |key: &str| settings[key].as_str().map(str::trim).filter(|v| !v.is_empty());
            // The issuer's name, as set; else the portal's own ("acme" → "Acme").
            let issuer = text("issuer").map_or_else(
                || {
                    let slug = ctx.tenant_slug();
                    slug.chars().take(1).flat_map(char::to_uppercase).chain(slug.chars().skip(1)).collect()
                },
                String::from,
            );
            let origin = match text("public_url") {
                Some(u) => u.trim_end_matches('/').to_string(),
                None => {
                    let host = req.headers.iter().find(|(k, _)| k == "host").map_or("localhost", |(_, v)| v.as_str());
                    let loopback =
                        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
                    format!("{}://{host}", if loopback { "http" } else { "https" })
                }
            };
            let verify_url = format!("{origin}{BASE}/verify?code={}", k.code);
            let (issued, expires) = (cert::long_date(k.issued_at), k.expires_at.map(cert::long_date));
            let pdf = crate::certificate::render(&crate::certificate::Certificate {
                issuer: &issuer,
                learner: &k.user_name,
                organisation: &k.org_name,
                certification: &k.name,
                course: &k.course_title,
                issued: &issued,
                expires: expires.as_deref(),
                code: &k.code,
                verify_url: &verify_url,
                brand: text("brand_colour").and_then(crate::certificate::parse_colour).unwrap_or((29, 78, 216)),
            })
            .map_err(Error::internal)?;
            Ok(Response::File {
                content_type: "application/pdf".into(),
                filename: format!("certificate-{}.pdf", k.code),
                body: pdf,
            })
        }
        ["certificates", code] => {
            let k = viewable_certificate(actor, code)?;
            Ok(Response::page(
                "certificate.html",
                &k.name.clone(),
                &json!({ "base": BASE, "cert": k.to_json(now), "verify": format!("{BASE}/verify?code={}", k.code) }),
            ))
        }
        _ => Err(Error::NotFound("no such page".into())),
    }
}

/// A certificate its holder, their partner admin or vendor staff may open.
fn viewable_certificate(actor: &Actor, code: &str) -> Result<Certificate, Error> {
    CERTS
        .get::<Certificate>(code)?
        .map(|r| r.data)
        .filter(|k| {
            k.user_id == actor.id || actor.is_vendor() || (actor.is_partner_admin() && k.org_id == actor.org_id)
        })
        .ok_or_else(|| Error::NotFound("no such certificate".into()))
}

fn course_page(ctx: &Context, actor: &Actor, req: &Request, id: &str) -> Result<Response, Error> {
    let now = ctx.now_ms();
    let mut flash: Option<Value> = None;
    let mut problems: Vec<crate::quiz::Problem> = Vec::new();
    if req.method == "POST" {
        match req.field("action").unwrap_or("") {
            "enrol" => match learn::enrol(ctx, actor, id) {
                Ok(_) => return Ok(Response::redirect(format!("{BASE}/courses/{id}"))),
                Err(Error::Conflict(m)) => flash = Some(json!({ "ok": false, "message": m })),
                Err(e) => return Err(e),
            },
            "publish" => match learn::publish(ctx, actor, id)? {
                Ok(c) => {
                    flash = Some(json!({ "ok": true, "message": format!("Published as version {}.", c.data.version) }))
                }
                Err(p) => {
                    problems = p;
                    flash = Some(json!({ "ok": false, "message": "Not published: fix what is listed below." }));
                }
            },
            _ => return Err(Error::invalid("action", "no such action")),
        }
    }
    let c = learn::course(actor, id)?;
    let mine = learn::my_enrolment(actor, id)?;
    let preview = actor.is_vendor() && (c.data.version == 0 || req.query("preview") == Some("draft"));
    let outline = match (&mine, preview) {
        (_, true) => c.data.draft.clone(),
        (Some(e), false) => learn::version(id, e.data.version)?.outline,
        (None, false) => learn::version(id, c.data.version)?.outline,
    };
    let done = mine.as_ref().map(|e| e.data.done.clone()).unwrap_or_default();
    let lessons: Vec<Value> = outline
        .lessons
        .iter()
        .map(|l| {
            let mut v = lesson_summary(l);
            v["done"] = json!(done.contains(&l.id));
            v
        })
        .collect();
    let resume = mine.as_ref().and_then(|_| outline.resume_at(&done)).map(|l| l.id.clone());
    let cert_code = CERTS
        .query()
        .eq("user_id", &actor.id)
        .eq("course_id", id)
        .limit(20)
        .fetch::<Certificate>()?
        .records
        .into_iter()
        .find(|k| !k.data.renewed)
        .map(|k| k.data.to_json(now));
    let newer = mine.as_ref().is_some_and(|e| e.data.status == "in_progress" && e.data.version < c.data.version);
    Ok(Response::page(
        "course.html",
        &outline.title.clone(),
        &json!({
            "base": BASE, "id": id, "title": outline.title, "summary": markdown(&outline.summary), "lessons": lessons,
            "course": course_json(&c.id, &c.data, actor), "mine": mine.as_ref().map(|e| enrolment_json(&e.id, &e.data, now)),
            "resume": resume, "cert": cert_code, "flash": flash, "problems": problems, "staff": actor.is_vendor(),
            "preview": preview, "newer_version": newer,
        }),
    ))
}

fn lesson_page(ctx: &Context, actor: &Actor, req: &Request, id: &str, lesson: &str) -> Result<Response, Error> {
    let now = ctx.now_ms();
    let c = learn::course(actor, id)?;
    let preview = actor.is_vendor() && req.query("preview") == Some("draft");
    let mine = learn::my_enrolment(actor, id)?;
    let outline = match (&mine, preview) {
        (_, true) => c.data.draft.clone(),
        (Some(e), false) => learn::version(id, e.data.version)?.outline,
        (None, false) => return Ok(Response::redirect(format!("{BASE}/courses/{id}"))),
    };
    let Some(pos) = outline.lessons.iter().position(|l| l.id == lesson) else {
        return Err(Error::NotFound(format!("no lesson {lesson}")));
    };
    let l = &outline.lessons[pos];
    let next = outline.lessons.get(pos + 1).map(|n| n.id.clone());
    let mut result: Option<Value> = None;
    let mut refusal: Option<String> = None;
    if req.method == "POST" && !preview {
        match &l.content {
            Content::Quiz(_) => match learn::submit_attempt(ctx, actor, id, lesson, &answers_of(req)?) {
                Ok((score, _)) => result = Some(json!(score)),
                Err(Error::Conflict(m)) => refusal = Some(m),
                Err(e) => return Err(e),
            },
            _ => {
                // Done: on to the first lesson not done yet (the course's page once none is left).
                let e = learn::complete_lesson(ctx, actor, id, lesson)?;
                return Ok(Response::redirect(match outline.resume_at(&e.data.done) {
                    Some(n) => format!("{BASE}/courses/{id}/lessons/{}", n.id),
                    None => format!("{BASE}/courses/{id}"),
                }));
            }
        }
    }
    let e = learn::my_enrolment(actor, id)?;
    let done = e.as_ref().is_some_and(|e| e.data.done.contains(lesson));
    let mut quiz: Option<Value> = None;
    let body = match &l.content {
        Content::Text { markdown: md } => json!({ "kind": "text", "html": markdown(md) }),
        Content::Video { blob: Some(key), .. } => {
            let info = files::stat(key)?;
            let name = info.as_ref().map_or("video", |f| f.filename.as_str());
            let src = files::serve_url(key, name, Disposition::Inline, 4 * 3600, false)?;
            json!({ "kind": "video", "src": src, "type": info.map(|f| f.content_type) })
        }
        Content::Video { url, .. } => json!({ "kind": "video", "url": url }),
        Content::File { blob, name } => {
            let info = files::stat(blob)?;
            let name = if name.is_empty() { info.as_ref().map_or("download", |f| f.filename.as_str()) } else { name };
            json!({ "kind": "file", "name": name, "size": info.as_ref().map(|f| size_text(f.size)),
                    "href": files::serve_url(blob, name, Disposition::Attachment, 3600, false)? })
        }
        Content::Scorm { .. } => {
            let cmi = e.as_ref().and_then(|e| e.data.scorm.get(lesson).cloned()).unwrap_or_default();
            let frame = format!(
                "/plugin-frame/lms/scorm.html?course={}&lesson={}{}",
                query_part(id),
                query_part(lesson),
                if preview { "&preview=1" } else { "" }
            );
            json!({ "kind": "scorm", "frame": frame, "status": cmi.lesson_status, "score": cmi.percent() })
        }
        Content::Quiz(q) => {
            if preview {
                quiz = Some(json!({ "questions": q.questions, "pass_percent": q.pass_percent }));
            } else if result.is_none() && !done && refusal.is_none() {
                match learn::open_attempt(ctx, actor, id, lesson) {
                    Ok(open) => quiz = Some(open),
                    Err(Error::Conflict(m)) => refusal = Some(m),
                    Err(err) => return Err(err),
                }
            }
            let state = e.as_ref().and_then(|e| e.data.quizzes.get(lesson).cloned());
            json!({ "kind": "quiz", "pass_percent": q.pass_percent, "best": state.as_ref().map(|s| s.best),
                    "attempts": state.as_ref().map_or(0, |s| s.finished.len()) })
        }
    };
    let lessons: Vec<Value> = outline
        .lessons
        .iter()
        .map(|x| {
            json!({ "id": x.id, "title": x.title, "current": x.id == lesson,
                         "done": e.as_ref().is_some_and(|e| e.data.done.contains(&x.id)) })
        })
        .collect();
    Ok(Response::page(
        "lesson.html",
        &l.title.clone(),
        &json!({
            "base": BASE, "course_id": id, "course_title": outline.title, "lesson": { "id": l.id, "title": l.title },
            "body": body, "quiz": quiz, "result": result, "refusal": refusal, "done": done, "next": next,
            "lessons": lessons, "preview": preview, "position": pos + 1, "count": outline.lessons.len(),
            "enrolment": e.as_ref().map(|e| enrolment_json(&e.id, &e.data, now)),
        }),
    ))
}

/// Vendor staff import a course: a SCORM package, or a folder of Markdown files.
fn import_page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    if !actor.is_vendor() {
        return Err(Error::NotFound("no such page".into()));
    }
    let mut problems = Vec::new();
    if req.method == "POST" {
        match import(ctx, actor, req)? {
            Ok(c) => return Ok(Response::redirect(format!("{BASE}/courses/{}", c.id))),
            Err(p) => problems = p,
        }
    }
    Ok(Response::page(
        "import.html",
        "Import a course",
        &json!({ "base": BASE, "problems": problems, "kind": req.field("kind") }),
    ))
}

fn team_page(ctx: &Context, actor: &Actor, req: &Request) -> Result<Response, Error> {
    let now = ctx.now_ms();
    if !(actor.is_partner_admin() || actor.is_vendor()) {
        return Err(Error::Denied("only partner admins see their team's training".into()));
    }
    let mut flash = None;
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    if req.method == "POST" {
        let course_id = req.field("course_id").unwrap_or_default();
        let user_id = req.field("user_id").unwrap_or_default();
        let result = parse_date("due_date", req.field("due_date").unwrap_or_default())
            .and_then(|due| learn::assign(ctx, actor, course_id, user_id, due));
        match result {
            Ok(e) => {
                flash = Some(format!(
                    "Assigned {} to {}, due {}.",
                    e.data.title,
                    e.data.user_name,
                    e.data.due_at.map(cert::long_date).unwrap_or_default()
                ))
            }
            Err(Error::Invalid(f)) => {
                errors.insert(f.field.unwrap_or_default(), f.message);
            }
            Err(Error::NotFound(_)) => {
                errors.insert("course_id".into(), "choose a published course".into());
            }
            Err(e) => return Err(e),
        }
    }
    let (list, next) = learn::enrolments(actor, true, 200, req.query("cursor"))?;
    let enrolments: Vec<Value> = list.iter().map(|r| enrolment_json(&r.id, &r.data, now)).collect();
    let certs: Vec<Value> =
        learn::certificates(actor, true)?.iter().filter(|r| !r.data.renewed).map(|r| r.data.to_json(now)).collect();
    let users: Vec<Value> = if actor.is_partner_admin() {
        directory::list_users(&actor.org_id, &[])?.into_iter().map(|u| json!({ "id": u.id, "name": u.name })).collect()
    } else {
        Vec::new()
    };
    let courses: Vec<Value> = COURSES
        .query()
        .all_orgs()
        .eq("status", "published")
        .limit(200)
        .fetch::<Course>()?
        .records
        .into_iter()
        .map(|r| json!({ "id": r.id, "title": r.data.title }))
        .collect();
    Ok(Response::page(
        "team.html",
        "Team training",
        &json!({ "base": BASE, "enrolments": enrolments, "certs": certs, "users": users, "courses": courses,
                 "flash": flash, "errors": errors, "next_cursor": next, "form": {
                     "course_id": req.field("course_id"), "user_id": req.field("user_id"), "due_date": req.field("due_date") } }),
    ))
}
