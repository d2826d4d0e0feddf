//! What training tells the channel dashboard: the figures of the manifest's `[[metrics]]` (enrolments, completions,
//! certifications), counted in the call that makes them so they commit with it; completions and certifications on
//! the partner organisation's timeline; and what the caller should do next about their training.
//!
//! Figures count for the learner's organisation when it is a partner's; vendor staff taking a course count in the
//! tenant's total only, and write no timeline.

use std::collections::BTreeSet;

use portico_sdk::analytics;
use portico_sdk::storage::Direction;
use portico_sdk::{Context, Error, NextStep, Role};

use crate::cert::{self, Standing};
use crate::learn::{self, Actor, CERTS, Certificate, ENROLMENTS, Enrolment};

const DAY_MS: i64 = 86_400_000;
/// Certificates expiring within this many days are a next step.
const EXPIRY_HORIZON_DAYS: i64 = 60;
/// Training due, or a certificate expiring, within this many days is urgent.
const URGENT_DAYS: i64 = 14;
/// The most steps the plugin suggests.
const MAX_STEPS: usize = 5;

/// The learner's organisation in a call of the learner's own, when it is a partner's.
fn own_partner_org<'a>(ctx: &Context, org_id: &'a str) -> Option<&'a str> {
    ctx.caller()
        .filter(|c| matches!(c.role, Role::PartnerAdmin | Role::PartnerUser) && c.org_id == org_id)
        .map(|_| org_id)
}

/// An enrolment started (or a completed course taken again to renew it); `partner` when the learner is a partner's.
pub fn enrolled(e: &Enrolment, partner: bool) -> Result<(), Error> {
    let org = (partner && !e.org_id.is_empty()).then_some(e.org_id.as_str());
    analytics::count("enrolments", org, 1)
}

/// A course completed, in the learner's own call.
pub fn completed(ctx: &Context, e: &Enrolment) -> Result<(), Error> {
    let org = own_partner_org(ctx, &e.org_id);
    analytics::count("completions", org, 1)?;
    match org {
        Some(org) => analytics::timeline(
            org,
            &format!("Course completed: {} by {}", e.title, e.user_name),
            Some(&format!("/p/lms/courses/{}", e.course_id)),
        ),
        None => Ok(()),
    }
}

/// A certificate issued, in the learner's own call.
pub fn certified(ctx: &Context, k: &Certificate) -> Result<(), Error> {
    let org = own_partner_org(ctx, &k.org_id);
    analytics::count("certifications", org, 1)?;
    match org {
        Some(org) => analytics::timeline(
            org,
            &format!("Certified: {} earned {}", k.user_name, k.name),
            Some(&format!("/p/lms/certificates/{}", k.code)),
        ),
        None => Ok(()),
    }
}

fn step(title: String, detail: String, link: String, due_ms: Option<i64>, urgent: bool) -> NextStep {
    NextStep { title, detail, link, due_ms, urgent }
}

/// What a partner should do next about training, most pressing first: their assigned courses by due date, the
/// courses and paths required of them not yet completed, their certifications to renew, courses they started;
/// for a partner admin, then the team's certifications about to expire. Vendor staff: nothing.
pub fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
    let Some(caller) = ctx.caller() else { return Ok(Vec::new()) };
    if !matches!(caller.role, Role::PartnerAdmin | Role::PartnerUser) {
        return Ok(Vec::new());
    }
    let actor = Actor::of(ctx)?;
    let now = ctx.now_ms();
    let required = learn::required_for(ctx, &actor)?;
    let required_courses: BTreeSet<&str> = required
        .iter()
        .flat_map(|r| match &r.path {
            None => vec![r.id.as_str()],
            Some(courses) => courses.iter().map(String::as_str).collect(),
        })
        .collect();
    // What to do first (assigned, required, to renew), then the rest; urgent steps lead at the end.
    let mut first = Vec::new();
    let mut later = Vec::new();
    let mut open: Vec<_> = ENROLMENTS
        .query()
        .eq("user_id", &actor.id)
        .eq("status", "in_progress")
        .limit(100)
        .fetch::<Enrolment>()?
        .records;
    // Assigned ones by due date, then the latest touched.
    open.sort_by_key(|r| (r.data.due_at.unwrap_or(i64::MAX), -r.data.updated_at));
    let mut taking: BTreeSet<String> = BTreeSet::new();
    for r in &open {
        let e = &r.data;
        taking.insert(e.course_id.clone());
        let link = format!("/p/lms/courses/{}", e.course_id);
        match e.due_at {
            Some(due) => {
                let detail = if due < now {
                    format!(
                        "Assigned by {}; it was due on {}. You are {} % through.",
                        by(e),
                        cert::long_date(due),
                        e.percent
                    )
                } else {
                    format!("Assigned by {}, due {}. You are {} % through.", by(e), cert::long_date(due), e.percent)
                };
                first.push(step(
                    format!("Finish {}", e.title),
                    detail,
                    link,
                    Some(due),
                    due - now <= URGENT_DAYS * DAY_MS,
                ));
            }
            None if required_courses.contains(e.course_id.as_str()) => first.push(step(
                format!("Finish the required course {}", e.title),
                format!("Your role or tier requires it. You are {} % through.", e.percent),
                link,
                None,
                false,
            )),
            None => later.push(step(
                format!("Continue {}", e.title),
                format!("You are {} % through.", e.percent),
                link,
                None,
                false,
            )),
        }
    }
    // Required of the partner's role or tier: courses not taken, paths not completed.
    for req in &required {
        match &req.path {
            None => {
                if taking.contains(&req.id) || completed_course(&actor.id, &req.id)? {
                    continue;
                }
                first.push(step(
                    format!("Start the required course {}", req.title),
                    "Your role or tier requires it.".into(),
                    format!("/p/lms/courses/{}", req.id),
                    None,
                    false,
                ));
            }
            Some(courses) => {
                let mut left = 0;
                for c in courses {
                    if !completed_course(&actor.id, c)? {
                        left += 1;
                    }
                }
                if left > 0 {
                    first.push(step(
                        format!("Complete the {} path", req.title),
                        format!("Your role or tier requires it: {left} of {} courses to go.", courses.len()),
                        "/p/lms/my".into(),
                        None,
                        false,
                    ));
                }
            }
        }
    }
    // Certifications to renew: the caller's own, then (a partner admin) the team's.
    let expiring = |team: bool| -> Result<Vec<Certificate>, Error> {
        let q = CERTS.query().range("expires_at", Some(now), Some(now + EXPIRY_HORIZON_DAYS * DAY_MS));
        let q = if team { q } else { q.eq("user_id", &actor.id) };
        Ok(q.order_by("expires_at", Direction::Asc)
            .limit(50)
            .fetch::<Certificate>()?
            .records
            .into_iter()
            .map(|r| r.data)
            .filter(|k| !k.renewed && k.standing(now) == Standing::Expiring)
            .collect())
    };
    for k in expiring(false)? {
        let at = k.expires_at.unwrap_or(now);
        let link = if k.path { "/p/lms/my".to_string() } else { format!("/p/lms/courses/{}", k.course_id) };
        let s = step(
            format!("Renew your certification {}", k.name),
            format!("It expires on {}.", cert::long_date(at)),
            link,
            Some(at),
            at - now <= URGENT_DAYS * DAY_MS,
        );
        first.push(s);
    }
    let mut steps: Vec<NextStep> = first.into_iter().chain(later).collect();
    steps.sort_by_key(|s| !s.urgent);
    if caller.role == Role::PartnerAdmin && steps.len() < MAX_STEPS {
        for k in expiring(true)?.into_iter().filter(|k| k.user_id != actor.id) {
            let at = k.expires_at.unwrap_or(now);
            steps.push(step(
                format!("{}'s certification {} expires soon", k.user_name, k.name),
                format!("It expires on {}; remind them to renew it.", cert::long_date(at)),
                "/p/lms/team".into(),
                Some(at),
                at - now <= URGENT_DAYS * DAY_MS,
            ));
        }
    }
    steps.truncate(MAX_STEPS);
    Ok(steps)
}

fn by(e: &Enrolment) -> &str {
    e.assigned_by.as_deref().filter(|b| !b.is_empty()).unwrap_or("your admin")
}

/// Whether the user completed the course (their enrolment in it, by id).
fn completed_course(user_id: &str, course_id: &str) -> Result<bool, Error> {
    Ok(ENROLMENTS
        .get::<Enrolment>(&learn::enrolment_id(course_id, user_id))?
        .is_some_and(|r| r.data.status == "completed"))
}
