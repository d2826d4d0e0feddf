//! Training and certification (issue 23): courses of lessons and quizzes, published as versions, learning paths
//! with prerequisites, enrolment and assignments, progress that resumes, and certifications that anyone can
//! verify by their code. Built only on the WIT API and the SDK.
//!
//! - [`course`], [`quiz`], [`cert`], [`scorm`]: the rules, free of the host and tested natively (versions and
//!   progress, prerequisites; scoring, attempt order, retakes; validity, standing, reminders, codes; a SCORM
//!   package's launch and its run-time data);
//! - [`import`]: courses from a SCORM package or a folder of Markdown files with front matter;
//! - [`learn`]: the records and what happens to them (authoring, enrolment, attempts, completion, certificates,
//!   the daily schedule);
//! - [`channel`]: the channel dashboard's figures, the partner's timeline and what a learner should do next;
//! - `web`: pages and the JSON API.

pub mod cert;
pub mod certificate;
pub mod channel;
pub mod course;
pub mod import;
pub mod learn;
pub mod quiz;
pub mod report;
pub mod scorm;

mod web;

mod plugin {
    use portico_sdk::Value;
    use portico_sdk::prelude::*;
    use portico_sdk::storage::Direction;

    use crate::cert::Standing;
    use crate::learn::{self, Actor, CERTS, Certificate, ENROLMENTS, Enrolment};

    const DAY_MS: i64 = 86_400_000;

    struct Lms;

    impl Plugin for Lms {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            if req.segments().first() == Some(&"verify") {
                return crate::web::verify(ctx, &req);
            }
            let actor = Actor::of(ctx)?;
            if req.api { crate::web::api(ctx, &actor, &req) } else { crate::web::page(ctx, &actor, &req) }
        }

        fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
            match schedule {
                "housekeeping" => learn::housekeeping(ctx),
                other => Err(Error::NotFound(format!("no schedule {other}"))),
            }
        }

        fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
            let actor = Actor::of(ctx)?;
            let now = ctx.now_ms();
            let (title, context) = match widget {
                "progress" => {
                    let list = ENROLMENTS
                        .query()
                        .eq("user_id", &actor.id)
                        .order_by("updated_at", Direction::Desc)
                        .limit(5)
                        .fetch::<Enrolment>()?;
                    let rows: Vec<Value> = list
                        .records
                        .iter()
                        .map(|r| json!({ "course_id": r.data.course_id, "title": r.data.title, "percent": r.data.percent,
                                          "status": r.data.status, "due": r.data.due_at.map(crate::cert::long_date),
                                          "overdue": r.data.status == "in_progress" && r.data.due_at.is_some_and(|d| d < now) }))
                        .collect();
                    ("My learning progress", json!({ "rows": rows }))
                }
                "expiring" => {
                    // Certificates of the caller's team (everyone's for vendor staff) expiring in the next 60 days.
                    let mut q = CERTS.query().range("expires_at", Some(now), Some(now + 60 * DAY_MS));
                    q = if actor.is_vendor() { q.all_orgs() } else { q.org(&actor.org_id) };
                    let list = q.order_by("expires_at", Direction::Asc).limit(10).fetch::<Certificate>()?;
                    let rows: Vec<Value> = list
                        .records
                        .iter()
                        .filter(|r| !r.data.renewed && r.data.standing(now) == Standing::Expiring)
                        .map(|r| {
                            json!({ "holder": r.data.user_name, "org": r.data.org_name, "name": r.data.name,
                                          "expires": r.data.expires_at.map(crate::cert::long_date),
                                          "days": r.data.expires_at.map(|e| learn::days_until(now, e)) })
                        })
                        .collect();
                    ("Team certifications expiring soon", json!({ "rows": rows, "vendor": actor.is_vendor() }))
                }
                other => return Err(Error::NotFound(format!("no widget {other}"))),
            };
            Ok(View {
                template: format!("widget_{widget}.html"),
                title: title.into(),
                context: context.to_string(),
                status: 200,
            })
        }

        fn next_steps(ctx: &Context) -> Result<Vec<NextStep>, Error> {
            crate::channel::next_steps(ctx)
        }

        fn render_card(ctx: &Context, card: &str, org_id: &str) -> Result<View, Error> {
            if card != "training" {
                return Err(Error::NotFound(format!("no card {card}")));
            }
            let now = ctx.now_ms();
            let completed = ENROLMENTS.query().org(org_id).eq("status", "completed").count()?;
            let in_progress = ENROLMENTS.query().org(org_id).eq("status", "in_progress").count()?;
            let certs = CERTS.query().org(org_id).limit(500).fetch::<Certificate>()?.records;
            let current: Vec<&Certificate> =
                certs.iter().map(|r| &r.data).filter(|k| !k.renewed && k.standing(now) != Standing::Expired).collect();
            let mut holders: Vec<&str> = current.iter().map(|k| k.user_id.as_str()).collect();
            holders.sort();
            holders.dedup();
            let expiring = current.iter().filter(|k| k.standing(now) == Standing::Expiring).count();
            Ok(View {
                template: "card_training.html".into(),
                title: "Training".into(),
                context: json!({ "completed": completed, "in_progress": in_progress, "certified": holders.len(),
                                 "expiring": expiring })
                .to_string(),
                status: 200,
            })
        }
    }

    portico_sdk::export_plugin!(Lms);
}
