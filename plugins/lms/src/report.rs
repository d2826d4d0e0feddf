//! The vendor's completion report: per course, per partner organisation and per program, how many enrolled and
//! how many completed, counted through the enrolments' indexes (never by reading every enrolment); as a page with
//! charts and as CSV.

use std::collections::BTreeMap;

use portico_sdk::Value;
use portico_sdk::directory;
use portico_sdk::prelude::*;
use portico_sdk::storage::Direction;
use serde::Serialize;

use crate::learn::{COURSES, Course, ENROLMENTS};

/// Courses per report page.
const COURSES_PER_PAGE: u32 = 50;

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// `course`, `partner` or `program`.
    pub scope: &'static str,
    pub id: String,
    pub name: String,
    pub enrolled: u64,
    pub completed: u64,
    /// Whole percent of the enrolled who completed.
    pub rate: u64,
}

fn line(scope: &'static str, id: String, name: String, enrolled: u64, completed: u64) -> Line {
    Line { scope, id, name, enrolled, completed, rate: (completed * 100).checked_div(enrolled).unwrap_or(0) }
}

/// The report: a page of courses (newest published first), every partner organisation, and the programs they are
/// in; the cursor of the next page of courses.
pub fn report(cursor: Option<&str>) -> Result<(Vec<Line>, Option<String>), Error> {
    let mut out = Vec::new();
    let page = COURSES
        .query()
        .all_orgs()
        .order_by("published_at", Direction::Desc)
        .limit(COURSES_PER_PAGE)
        .after(cursor.map(String::from))
        .fetch::<Course>()?;
    // Drafts (no `published_at`) come last in that order, and have no learners.
    for r in page.records.iter().filter(|r| r.data.version > 0) {
        let enrolled = ENROLMENTS.query().all_orgs().eq("course_id", &r.id).count()?;
        let completed = ENROLMENTS.query().all_orgs().eq("course_id", &r.id).eq("status", "completed").count()?;
        out.push(line("course", r.id.clone(), r.data.title.clone(), enrolled, completed));
    }
    let mut programs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for org in directory::list_orgs(None)?.into_iter().filter(|o| !o.is_vendor) {
        let enrolled = ENROLMENTS.query().org(&org.id).count()?;
        let completed = ENROLMENTS.query().org(&org.id).eq("status", "completed").count()?;
        for e in &org.enrolments {
            let p = programs.entry(e.program.clone()).or_default();
            (p.0, p.1) = (p.0 + enrolled, p.1 + completed);
        }
        out.push(line("partner", org.id, org.name, enrolled, completed));
    }
    for (key, (enrolled, completed)) in programs {
        let name = directory::get_program(&key)?.map_or_else(|| key.clone(), |p| p.name);
        out.push(line("program", key, name, enrolled, completed));
    }
    Ok((out, page.next_cursor))
}

/// The report as CSV: scope, id, name, enrolled, completed, completion rate (%).
pub fn csv(lines: &[Line]) -> Result<Vec<u8>, Error> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(["scope", "id", "name", "enrolled", "completed", "completion_rate_percent"])
        .map_err(Error::internal)?;
    for l in lines {
        let row = [
            l.scope.to_string(),
            l.id.clone(),
            l.name.clone(),
            l.enrolled.to_string(),
            l.completed.to_string(),
            l.rate.to_string(),
        ];
        w.write_record(&row).map_err(Error::internal)?;
    }
    w.into_inner().map_err(Error::internal)
}

/// The page's context: the lines by scope, and chart data (completion rate by course and by partner).
pub fn context(lines: &[Line], next: Option<String>) -> Value {
    let of = |scope: &str| lines.iter().filter(|l| l.scope == scope).collect::<Vec<_>>();
    let (courses, partners, programs) = (of("course"), of("partner"), of("program"));
    let chart = |ls: &[&Line]| {
        let mut top: Vec<&&Line> = ls.iter().filter(|l| l.enrolled > 0).collect();
        top.sort_by_key(|l| std::cmp::Reverse(l.enrolled));
        top.truncate(10);
        json!({ "labels": top.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
                "rates": top.iter().map(|l| l.rate).collect::<Vec<_>>() })
    };
    json!({ "courses": courses, "partners": partners, "programs": programs, "next_cursor": next,
            "course_chart": chart(&courses), "partner_chart": chart(&partners) })
}
