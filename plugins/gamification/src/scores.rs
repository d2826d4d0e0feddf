//! Points, badges and boards in storage: awarding an event's points (once, capped), the scores by period, the
//! badges earned, and the boards read from the indexes.

use std::collections::{BTreeMap, BTreeSet};

use portico_sdk::directory;
use portico_sdk::notify::{self, Audience, Notification};
use portico_sdk::prelude::*;
use portico_sdk::storage::{Collection, Direction, Record};
use portico_sdk::{Value, activity, analytics, events, settings};
use serde::{Deserialize, Serialize};

use crate::rules::{self, BONUS, DAILY_ACTIVE, Kind, Period, Rules, Settings};

pub const AWARDS: Collection = Collection::new("awards");
pub const SCORES: Collection = Collection::new("scores");
pub const ORG_SCORES: Collection = Collection::new("org_scores");
pub const EARNED: Collection = Collection::new("earned");
pub const COMPANIES: Collection = Collection::new("companies");

/// Awards kept on a user's all-time score, newest first.
const RECENT: usize = 10;

/// The program's rules, for the call's program.
pub fn current_rules() -> Result<Rules, Error> {
    Ok(Rules::parse(&settings::get::<Settings>()?))
}

/// Points given for one event to one user (id `{event}:{user}`), kept even when a cap left nothing to give.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Award {
    pub user_id: String,
    pub rule: String,
    /// What was given.
    pub points: i64,
    /// What the rule asked for before the cap.
    pub asked: i64,
    pub what: String,
    pub day: String,
    pub at: i64,
    /// `{user}|{day}|{rule}`: what the daily cap adds up.
    pub cap_key: String,
}

/// An award as the user's all-time score keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Brief {
    pub rule: String,
    pub points: i64,
    pub asked: i64,
    pub what: String,
    #[serde(default)]
    pub link: Option<String>,
    pub at: i64,
}

/// A user's points in one period.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Score {
    pub user_id: String,
    pub user_name: String,
    pub period: String,
    pub points: i64,
    /// Events counted, by rule (capped ones too).
    #[serde(default)]
    pub counts: BTreeMap<String, i64>,
    /// The latest awards (all-time score only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<Brief>,
    pub updated_at: i64,
    /// The order key of the period's kind (see the manifest): exactly one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<i64>,
}

impl Score {
    /// The order key of kind `kind`, if the record has it.
    pub fn key(&self, kind: Kind) -> Option<i64> {
        match kind {
            Kind::Month => self.m,
            Kind::Quarter => self.q,
            Kind::All => self.a,
        }
    }

    fn set_key(&mut self, p: &Period) {
        let k = Some(p.sort_key(self.points));
        match p.kind {
            Kind::Month => self.m = k,
            Kind::Quarter => self.q = k,
            Kind::All => self.a = k,
        }
    }
}

/// A company's points in one period of one program.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct OrgScore {
    pub org_id: String,
    pub org_name: String,
    pub program: String,
    pub period: String,
    /// `{program}:{period}`.
    pub board: String,
    pub points: i64,
    pub updated_at: i64,
}

/// A badge a user earned, and how often.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Earned {
    pub user_id: String,
    pub user_name: String,
    pub badge: String,
    pub name: String,
    pub image: String,
    pub times: i64,
    pub first_at: i64,
    pub last_at: i64,
}

/// A company's choice about the partners' board.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Company {
    pub opted_in: bool,
    pub by: String,
    pub at: i64,
}

/// Points someone earned by an event, before the rules weigh them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earning {
    pub rule: String,
    pub user_id: String,
    pub what: String,
    pub link: Option<String>,
    /// When it counts, if not when the event was emitted: the day a user was active, by the payload.
    pub at: Option<i64>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// What an event earns and for whom (none for events that earn nothing, or name no user).
pub fn earning(event: &Event) -> Result<Option<Earning>, Error> {
    let p: Value = events::payload(event)?;
    let e = |rule: &str, user: Option<String>, what: String, link: Option<String>| {
        user.map(|user_id| Earning { rule: rule.into(), user_id, what, link, at: None })
    };
    Ok(match event.topic.as_str() {
        t @ ("deal.submitted" | "deal.approved" | "deal.won") => {
            let d = &p["deal"];
            let mut owner = text(&d["owner_id"]);
            if owner.is_none() && t == "deal.submitted" {
                owner = text(&p["transition"]["by_id"]);
            }
            let customer = text(&d["customer_name"]).unwrap_or_else(|| "a deal".into());
            let (rule, verb) = match t {
                "deal.submitted" => ("deal_submitted", "Deal registered"),
                "deal.approved" => ("deal_approved", "Deal approved"),
                _ => ("deal_won", "Deal won"),
            };
            let link = text(&d["id"]).map(|id| format!("/p/deal-registration/deals/{id}"));
            e(rule, owner, format!("{verb}: {customer}"), link)
        }
        "lms.course.completed" => {
            let title = text(&p["title"]).unwrap_or_else(|| "a course".into());
            let link = text(&p["course_id"]).map(|id| format!("/p/lms/courses/{id}"));
            e("course_completed", text(&p["user_id"]), format!("Course completed: {title}"), link)
        }
        "lms.certification.earned" => {
            let name = text(&p["name"]).unwrap_or_else(|| "a certification".into());
            let link = text(&p["code"]).map(|c| format!("/p/lms/certificates/{c}"));
            e("certification_earned", text(&p["user_id"]), format!("Certified: {name}"), link)
        }
        "content.downloaded" => {
            let title = text(&p["title"]).unwrap_or_else(|| "an asset".into());
            let link = text(&p["asset_id"]).map(|id| format!("/p/content/assets/{id}"));
            e("content_downloaded", text(&p["user_id"]), format!("Downloaded: {title}"), link)
        }
        activity::ACTIVE => {
            let a: activity::UserEvent =
                serde_json::from_value(p).map_err(|e| Error::invalid("payload", e.to_string()))?;
            // Vendor staff have no organisation here, and earn nothing.
            if a.org_id.is_none() {
                return Ok(None);
            }
            let day = a.day.unwrap_or_default();
            // The host stamps its own events with the wall clock; the day it names is the one that counts.
            let at = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|t| t.and_utc().timestamp_millis());
            e(DAILY_ACTIVE, Some(a.user_id), format!("Active on {day}"), None).map(|earning| Earning { at, ..earning })
        }
        _ => None,
    })
}

/// Handles a subscribed event: the points it earns, once.
pub fn on_event(ctx: &Context, event: &Event) -> Result<(), Error> {
    let Some(earning) = earning(event)? else { return Ok(()) };
    let rules = current_rules()?;
    let asked = rules.points_for(&earning.rule);
    // A deal names its program; other events are the program of the call that emitted them.
    let program = events::payload::<Value>(event)?["deal"]["program"].as_str().map(String::from);
    award(
        ctx,
        &rules,
        &format!("{}:{}", event.id, earning.user_id),
        &earning,
        asked,
        earning.at.unwrap_or(event.emitted_at),
        program.as_deref().or(event.program.as_deref()),
    )
}

/// A partner user, as the directory knows them.
struct Partner {
    id: String,
    name: String,
    org_id: String,
}

/// The user, if they are a partner's (vendor staff earn nothing).
fn partner(user_id: &str) -> Result<Option<Partner>, Error> {
    let Some(u) = directory::get_user(user_id)? else { return Ok(None) };
    if !matches!(u.role, Role::PartnerAdmin | Role::PartnerUser) || u.org_id.is_empty() {
        return Ok(None);
    }
    Ok(Some(Partner { id: u.id, name: u.name, org_id: u.org_id }))
}

/// Gives `asked` points (capped by the rules) for `earning`, once per `award_id`: the award, the user's scores by
/// period, the company's, the badges it completes and the notices, all in the call's one transaction — so a
/// redelivered event finds its award and changes nothing, and two deliveries at once collide on a revision and
/// one is retried.
pub fn award(
    ctx: &Context,
    rules: &Rules,
    award_id: &str,
    earning: &Earning,
    asked: i64,
    at: i64,
    program: Option<&str>,
) -> Result<(), Error> {
    if asked <= 0 {
        return Ok(());
    }
    let Some(user) = partner(&earning.user_id)? else { return Ok(()) };
    if AWARDS.get::<Award>(award_id)?.is_some() {
        return Ok(());
    }
    let day = rules::day(at);
    let cap_key = format!("{}|{day}|{}", user.id, earning.rule);
    let points = if rules.caps.contains_key(&earning.rule) {
        let today: i64 = AWARDS
            .query()
            .all_orgs()
            .eq("cap_key", &cap_key)
            .limit(1000)
            .fetch::<Award>()?
            .records
            .iter()
            .map(|a| a.data.points)
            .sum();
        rules.capped(&earning.rule, asked, today)
    } else {
        asked
    };
    let a = Award {
        user_id: user.id.clone(),
        rule: earning.rule.clone(),
        points,
        asked,
        what: earning.what.clone(),
        day,
        at,
        cap_key,
    };
    AWARDS.insert_with(Some(award_id), Some(&user.org_id), &a)?;
    if points > 0 {
        // The channel dashboard's figure, committed with the award.
        analytics::count("points", Some(&user.org_id), points)?;
    }
    let now = ctx.now_ms();
    let brief =
        Brief { rule: earning.rule.clone(), points, asked, what: earning.what.clone(), link: earning.link.clone(), at };
    let mut before = (0, 0);
    let mut after = (0, 0);
    for p in Period::all_at(at) {
        let id = format!("{}:{}", p.key, user.id);
        let saved = upsert(SCORES, &id, &user.org_id, |s: &mut Score| {
            if p.kind == Kind::All {
                before = (s.counts.get(&earning.rule).copied().unwrap_or(0), s.points);
                s.recent.insert(0, brief.clone());
                s.recent.truncate(RECENT);
            }
            s.user_id = user.id.clone();
            s.user_name = user.name.clone();
            s.period = p.key.clone();
            s.points += points;
            *s.counts.entry(earning.rule.clone()).or_default() += 1;
            s.updated_at = now;
            s.set_key(&p);
        })?;
        if p.kind == Kind::All {
            after = (saved.data.counts.get(&earning.rule).copied().unwrap_or(0), saved.data.points);
        }
    }
    if points > 0 {
        company_points(&user.org_id, program, at, points, now)?;
    }
    let badges = badges_crossed(rules, &user, &earning.rule, before, after, now)?;
    if points > 0 && earning.rule != DAILY_ACTIVE {
        let capped = if points < asked { format!(" ({asked} less the daily cap)") } else { String::new() };
        notify::send(&Notification {
            audience: Audience::User(user.id.clone()),
            title: format!("+{points} points: {}", earning.what),
            body: format!("You earned {points} points{capped}. See your rank on the leaderboard."),
            link: Some("/p/gamification/".into()),
            email: false,
        })?;
    }
    for (b, times) in badges {
        let title = if times > 1 {
            format!("Badge earned again: {} (×{times})", b.name)
        } else {
            format!("Badge earned: {}", b.name)
        };
        notify::send(&Notification {
            audience: Audience::User(user.id.clone()),
            title,
            body: format!("For {}.", b.how()),
            link: Some("/p/gamification/#badges".into()),
            email: false,
        })?;
    }
    Ok(())
}

/// Reads record `id` and changes it, or makes it for `org` (the revision read guards the write).
fn upsert<T>(c: Collection, id: &str, org: &str, change: impl FnOnce(&mut T)) -> Result<Record<T>, Error>
where
    T: Serialize + serde::de::DeserializeOwned + Default,
{
    match c.get::<T>(id)? {
        Some(r) => {
            let mut d = r.data;
            change(&mut d);
            c.update(id, r.revision, &d)
        }
        None => {
            let mut d = T::default();
            change(&mut d);
            c.insert_with(Some(id), Some(org), &d)
        }
    }
}

/// Adds to the company's points on the partners' board of the program the event was for, when the company is
/// enrolled in it, else of the company's first program.
fn company_points(org_id: &str, program: Option<&str>, at: i64, points: i64, now: i64) -> Result<(), Error> {
    let Some(org) = directory::get_org(org_id)? else { return Ok(()) };
    // An event emitted in a call of vendor staff names the staff member's program, which may not be the company's.
    let enrolled = |p: &str| org.enrolments.iter().any(|e| e.program == p);
    let program = match (program, org.enrolments.first()) {
        (Some(p), _) if enrolled(p) => p.to_string(),
        (_, Some(e)) => e.program.clone(),
        (_, None) => return Ok(()),
    };
    let name = org.name;
    for p in Period::all_at(at) {
        let board = format!("{program}:{}", p.key);
        upsert(ORG_SCORES, &format!("{board}:{org_id}"), org_id, |s: &mut OrgScore| {
            s.org_id = org_id.to_string();
            s.org_name = name.clone();
            s.program = program.clone();
            s.period = p.key.clone();
            s.board = board.clone();
            s.points += points;
            s.updated_at = now;
        })?;
    }
    Ok(())
}

/// Earns the badges whose measure moved from `before` to `after` (count of `rule`, points) past a threshold;
/// returns them with the times each is now earned.
fn badges_crossed(
    rules: &Rules,
    user: &Partner,
    rule: &str,
    before: (i64, i64),
    after: (i64, i64),
    now: i64,
) -> Result<Vec<(rules::Badge, i64)>, Error> {
    let mut out = Vec::new();
    for b in &rules.badges {
        let moved = match b.rule() {
            Some(r) => r == rule,
            None => after.1 != before.1,
        };
        if !moved {
            continue;
        }
        let times = b.times(after.0, after.1);
        if times == 0 {
            continue;
        }
        let id = format!("{}:{}", user.id, b.key);
        let known = EARNED.get::<Earned>(&id)?;
        if known.as_ref().is_some_and(|e| e.data.times >= times) {
            continue;
        }
        upsert(EARNED, &id, &user.org_id, |e: &mut Earned| {
            if e.first_at == 0 {
                e.first_at = now;
            }
            e.user_id = user.id.clone();
            e.user_name = user.name.clone();
            e.badge = b.key.clone();
            e.name = b.name.clone();
            e.image = b.image.clone();
            e.times = times;
            e.last_at = now;
        })?;
        out.push((b.clone(), times));
    }
    Ok(out)
}

/// Bonus points from vendor staff to a partner user, found by id or email, with a reason.
pub fn bonus(ctx: &Context, who: &str, points: i64, reason: &str) -> Result<String, Error> {
    if !(1..=100_000).contains(&points) {
        return Err(Error::invalid("points", "Give from 1 to 100,000 points."));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason", "Say what the points are for."));
    }
    let user = find_user(who.trim())?.ok_or_else(|| Error::invalid("user", "No partner user by that id or email."))?;
    let rules = current_rules()?;
    let now = ctx.now_ms();
    let earning =
        Earning { rule: BONUS.into(), user_id: user.clone(), what: format!("Bonus: {reason}"), link: None, at: None };
    let id = format!("bonus-{}-{now}:{user}", ctx.request_id().chars().take(24).collect::<String>());
    // The company's board is that of its own (first) program, whichever program the staff member is in.
    award(ctx, &rules, &id, &earning, points, now, None)?;
    Ok(user)
}

/// A partner user's id from their id or email address.
fn find_user(who: &str) -> Result<Option<String>, Error> {
    if !who.contains('@') {
        return Ok(partner(who)?.map(|p| p.id));
    }
    for org in directory::list_orgs(None)?.into_iter().filter(|o| !o.is_vendor) {
        if let Some(u) = directory::list_users(&org.id, &[])?.into_iter().find(|u| u.email.eq_ignore_ascii_case(who)) {
            return Ok(Some(u.id));
        }
    }
    Ok(None)
}

/// A user's score in `p`, if they have one.
pub fn score(user_id: &str, p: &Period) -> Result<Option<Record<Score>>, Error> {
    SCORES.get::<Score>(&format!("{}:{user_id}", p.key))
}

/// One place on a board.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    pub rank: u64,
    /// The person or company as the viewer may see it.
    pub name: String,
    pub points: i64,
    /// The viewer, or the viewer's company.
    pub you: bool,
    /// Staff's view of the partners' board: whether the company lets partners see its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
}

/// The top `n` users of `org` in `p`, read in order from the period's index (only this organisation's part), with
/// ranks (ties share one).
pub fn company_board(org: &str, p: &Period, n: u32, viewer: Option<&str>) -> Result<Vec<Place>, Error> {
    let page = SCORES.query().org(org).order_by(p.kind.field(), Direction::Desc).limit(n).fetch::<Score>()?;
    let mut out: Vec<Place> = Vec::new();
    for r in page.records.into_iter().filter(|r| r.data.key(p.kind).is_some_and(|k| p.holds(k))) {
        let points = r.data.points;
        let rank = match out.last() {
            Some(last) if last.points == points => last.rank,
            _ => out.len() as u64 + 1,
        };
        out.push(Place {
            rank,
            name: r.data.user_name,
            points,
            you: viewer == Some(r.data.user_id.as_str()),
            public: None,
        });
    }
    Ok(out)
}

/// A user's rank in their company in `p` (one more than those with more points) and their points.
pub fn company_rank(org: &str, user_id: &str, p: &Period) -> Result<Standing, Error> {
    let points = score(user_id, p)?.map_or(0, |s| s.data.points);
    let above = SCORES.query().org(org).range(p.kind.field(), Some(p.sort_key(points + 1)), p.end_key()).count()?;
    Ok((above + 1, points))
}

/// The companies that let the partners' board name them.
pub fn opted_in() -> Result<BTreeSet<String>, Error> {
    Ok(COMPANIES
        .query()
        .all_orgs()
        .eq("opted_in", true)
        .limit(1000)
        .fetch::<Company>()?
        .records
        .into_iter()
        .filter_map(|r| r.org_id)
        .collect())
}

/// A rank and the points it stands on.
pub type Standing = (u64, i64);

/// Who looks at the partners' board: vendor staff see every name (marked public or not); a partner sees its own
/// company's, and other companies' only where they opted in.
#[derive(Debug, Clone)]
pub enum BoardViewer {
    Staff,
    Partner(String),
}

/// The top `n` companies of `program` in `p`, named as `viewer` may see them, and the viewer's company's rank and
/// points (partners).
pub fn partner_board(
    program: &str,
    p: &Period,
    n: u32,
    viewer: &BoardViewer,
) -> Result<(Vec<Place>, Option<Standing>), Error> {
    let board = format!("{program}:{}", p.key);
    let page = ORG_SCORES
        .query()
        .all_orgs()
        .eq("board", &board)
        .order_by("points", Direction::Desc)
        .limit(n)
        .fetch::<OrgScore>()?;
    let public = opted_in()?;
    let mut out: Vec<Place> = Vec::new();
    for r in page.records {
        let d = r.data;
        let own = matches!(viewer, BoardViewer::Partner(o) if *o == d.org_id);
        let shown = public.contains(&d.org_id);
        let name = match viewer {
            BoardViewer::Staff => d.org_name,
            BoardViewer::Partner(_) if own || shown => d.org_name,
            BoardViewer::Partner(_) => "A partner".into(),
        };
        let rank = match out.last() {
            Some(last) if last.points == d.points => last.rank,
            _ => out.len() as u64 + 1,
        };
        let public = matches!(viewer, BoardViewer::Staff).then_some(shown);
        out.push(Place { rank, name, points: d.points, you: own, public });
    }
    let mine = match viewer {
        BoardViewer::Partner(org) => {
            let points = ORG_SCORES.get::<OrgScore>(&format!("{board}:{org}"))?.map_or(0, |r| r.data.points);
            let above = ORG_SCORES
                .query()
                .all_orgs()
                .eq("board", &board)
                .range("points", Some(points + 1), None::<i64>)
                .count()?;
            Some((above + 1, points))
        }
        BoardViewer::Staff => None,
    };
    Ok((out, mine))
}

/// Whether a company opted in, and sets it (its partner admin's call).
pub fn set_opt_in(ctx: &Context, org: &str, on: bool) -> Result<(), Error> {
    let by = ctx.user_name().to_string();
    let now = ctx.now_ms();
    upsert(COMPANIES, org, org, |c: &mut Company| {
        c.opted_in = on;
        c.by = by;
        c.at = now;
    })?;
    Ok(())
}

/// Whether company `org` opted in.
pub fn is_opted_in(org: &str) -> Result<bool, Error> {
    Ok(COMPANIES.get::<Company>(org)?.is_some_and(|c| c.data.opted_in))
}

/// The badges a user earned, by key.
pub fn earned_by(user_id: &str) -> Result<BTreeMap<String, Earned>, Error> {
    Ok(EARNED
        .query()
        .eq("user_id", user_id)
        .limit(500)
        .fetch::<Earned>()?
        .records
        .into_iter()
        .map(|r| (r.data.badge.clone(), r.data))
        .collect())
}
