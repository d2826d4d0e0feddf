//! Pages, the widget, the partner card and the JSON API. Every route checks who asks: a partner reads their own
//! points and their own company's board; other companies only through the partners' board, which names them only
//! if they opted in; vendor staff read every board and the rules, and give bonus points.

use std::collections::BTreeMap;

use portico_sdk::directory;
use portico_sdk::prelude::*;
use portico_sdk::{Value, storage::Direction};

use crate::rules::{self, Kind, Period, Rules, rule_label};
use crate::scores::{self, BoardViewer, EARNED, Earned, ORG_SCORES, OrgScore, Place};

pub const BASE: &str = "/p/gamification";
const STATIC: &str = "/plugin-static/gamification";

/// Who is calling.
pub struct Viewer {
    pub user_id: String,
    pub org_id: String,
    pub org_name: String,
    pub role: Role,
}

impl Viewer {
    pub fn of(ctx: &Context) -> Result<Viewer, Error> {
        let c = ctx.caller().ok_or_else(|| Error::Denied("sign in first".into()))?;
        Ok(Viewer { user_id: c.user_id.clone(), org_id: c.org_id.clone(), org_name: c.org_name.clone(), role: c.role })
    }

    pub fn staff(&self) -> bool {
        matches!(self.role, Role::VendorAdmin | Role::ChannelManager)
    }

    fn partner_admin(&self) -> bool {
        self.role == Role::PartnerAdmin
    }

    fn staff_only(&self, what: &str) -> Result<(), Error> {
        if self.staff() { Ok(()) } else { Err(Error::Denied(format!("only vendor staff {what}"))) }
    }

    fn partner_only(&self) -> Result<(), Error> {
        if self.staff() {
            Err(Error::invalid("user", "Vendor staff earn no points: see the partners' leaderboard."))
        } else {
            Ok(())
        }
    }

    fn board_viewer(&self) -> BoardViewer {
        if self.staff() { BoardViewer::Staff } else { BoardViewer::Partner(self.org_id.clone()) }
    }
}

fn period_of(req: &Request) -> Result<Kind, Error> {
    match req.query("period") {
        None | Some("") => Ok(Kind::Month),
        Some(p) => Kind::parse(p).ok_or_else(|| Error::invalid("period", "Use month, quarter or all.")),
    }
}

/// Which board: the viewer's company (a partner's default) or the partners'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Company,
    Partners,
}

fn scope_of(req: &Request, v: &Viewer) -> Result<Scope, Error> {
    match req.query("scope") {
        None | Some("") => Ok(if v.staff() { Scope::Partners } else { Scope::Company }),
        Some("company") => Ok(Scope::Company),
        Some("partners") => Ok(Scope::Partners),
        Some(_) => Err(Error::invalid("scope", "Use company or partners.")),
    }
}

/// The company whose board is asked for: a partner's own (naming another is refused); staff name one with `org`.
fn company_of(req: &Request, v: &Viewer) -> Result<String, Error> {
    let asked = req.query("org").filter(|o| !o.is_empty());
    if v.staff() {
        return asked.map(String::from).ok_or_else(|| Error::invalid("org", "Name the partner company (org)."));
    }
    match asked {
        Some(o) if o != v.org_id => Err(Error::Denied("a partner sees only its own company's board".into())),
        _ => Ok(v.org_id.clone()),
    }
}

/// The program whose partners' board is shown: the call's, or one staff choose.
fn program_of(ctx: &Context, req: &Request, v: &Viewer) -> String {
    match req.query("program").filter(|p| v.staff() && !p.is_empty()) {
        Some(p) => p.to_string(),
        None => ctx.program().unwrap_or_default().to_string(),
    }
}

fn image_url(image: &str) -> String {
    format!("{STATIC}/{image}")
}

fn rules_json(rules: &Rules, staff: bool) -> Value {
    let list: Vec<Value> = rules::RULES
        .iter()
        .filter(|(k, _)| *k != rules::BONUS)
        .map(|(k, label)| {
            json!({ "rule": k, "label": label, "points": rules.points_for(k), "daily_cap": rules.caps.get(*k) })
        })
        .collect();
    let mut v = json!({
        "rules": list,
        "badges": rules.badges.iter().map(|b| json!({ "key": b.key, "name": b.name, "how": b.how(),
            "measure": b.rule().unwrap_or("points"), "threshold": b.threshold, "repeatable": b.repeat,
            "image_url": image_url(&b.image) })).collect::<Vec<_>>(),
        "cross_partner": rules.cross_partner, "board_size": rules.board_size,
    });
    if staff {
        v["problems"] = json!(rules.problems);
    }
    v
}

/// The catalogue with the user's standing on each badge.
fn badges_json(rules: &Rules, user_id: Option<&str>) -> Result<Vec<Value>, Error> {
    let (earned, all) = match user_id {
        Some(u) => (scores::earned_by(u)?, scores::score(u, &Period::of(Kind::All, 0))?.map(|r| r.data)),
        None => (BTreeMap::new(), None),
    };
    Ok(rules
        .badges
        .iter()
        .map(|b| {
            let e = earned.get(&b.key);
            let value =
                all.as_ref().map_or(0, |s| b.value(b.rule().map_or(0, |r| *s.counts.get(r).unwrap_or(&0)), s.points));
            let times = e.map_or(0, |e| e.times);
            let next = if b.repeat { (times + 1) * b.threshold } else { b.threshold };
            json!({ "key": b.key, "name": b.name, "how": b.how(), "image_url": image_url(&b.image),
                    "repeatable": b.repeat, "threshold": b.threshold, "earned": times > 0, "times": times,
                    "earned_on": e.map(|e| rules::date(e.last_at)), "progress": value,
                    "next": if !b.repeat && times > 0 { Value::Null } else { json!(next) } })
        })
        .collect())
}

fn recent_json(s: Option<&scores::Score>) -> Vec<Value> {
    s.map(|s| {
        s.recent
            .iter()
            .map(|b| {
                json!({ "rule": b.rule, "rule_label": rule_label(&b.rule), "points": b.points, "asked": b.asked,
                        "capped": b.points < b.asked, "what": b.what, "link": b.link, "at": b.at,
                        "date": rules::date(b.at) })
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The caller's points: each period's total and rank in their company, the latest awards, badges earned.
fn points_json(ctx: &Context, v: &Viewer) -> Result<Value, Error> {
    let mut periods = Vec::new();
    let mut all = None;
    for p in Period::all_at(ctx.now_ms()) {
        let (rank, points) = scores::company_rank(&v.org_id, &v.user_id, &p)?;
        periods.push(json!({ "period": p.kind.name(), "key": p.key, "label": p.label, "points": points,
                             "rank": rank }));
        if p.kind == Kind::All {
            all = scores::score(&v.user_id, &p)?;
        }
    }
    let earned = scores::earned_by(&v.user_id)?;
    Ok(json!({ "user_id": v.user_id, "name": ctx.user_name(), "org_name": v.org_name, "periods": periods,
               "recent": recent_json(all.as_ref().map(|r| &r.data)),
               "badges_earned": earned.values().map(|e| e.times).sum::<i64>() }))
}

/// A board as the API and the pages give it.
fn board_json(
    ctx: &Context,
    v: &Viewer,
    rules: &Rules,
    kind: Kind,
    scope: Scope,
    org: Option<&str>,
    program: &str,
) -> Result<Value, Error> {
    let p = Period::of(kind, ctx.now_ms());
    let head = json!({ "period": kind.name(), "key": p.key, "label": p.label });
    let mut out = match scope {
        Scope::Company => {
            let org = org.unwrap_or(&v.org_id);
            let rows = scores::company_board(org, &p, rules.board_size, Some(&v.user_id))?;
            let you = if v.staff() { None } else { Some(scores::company_rank(org, &v.user_id, &p)?) };
            json!({ "scope": "company", "rows": rows,
                    "you": you.map(|(rank, points)| json!({ "rank": rank, "points": points })) })
        }
        Scope::Partners => {
            // The setting governs what partners see; vendor staff read every program's board.
            if !rules.cross_partner && !v.staff() {
                return Err(Error::Denied("the vendor has not turned on the partners' leaderboard".into()));
            }
            let (rows, mine) = scores::partner_board(program, &p, rules.board_size, &v.board_viewer())?;
            json!({ "scope": "partners", "program": program, "rows": rows,
                    "you": mine.map(|(rank, points)| json!({ "rank": rank, "points": points })) })
        }
    };
    for (k, x) in head.as_object().into_iter().flatten() {
        out[k] = x.clone();
    }
    Ok(out)
}

pub fn api(ctx: &Context, v: &Viewer, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["points"]) => {
            v.partner_only()?;
            if req.query("user_id").is_some_and(|u| u != v.user_id) {
                return Err(Error::Denied("a partner reads only their own points".into()));
            }
            Ok(Response::json(&points_json(ctx, v)?))
        }
        ("GET", ["badges"]) => {
            let rules = scores::current_rules()?;
            let user = (!v.staff()).then_some(v.user_id.as_str());
            Ok(Response::json(&json!({ "badges": badges_json(&rules, user)? })))
        }
        ("GET", ["leaderboard"]) => {
            let rules = scores::current_rules()?;
            let scope = scope_of(req, v)?;
            let org = if scope == Scope::Company { Some(company_of(req, v)?) } else { None };
            let program = program_of(ctx, req, v);
            Ok(Response::json(&board_json(ctx, v, &rules, period_of(req)?, scope, org.as_deref(), &program)?))
        }
        ("GET", ["rules"]) => {
            let rules = scores::current_rules()?;
            let mut out = rules_json(&rules, v.staff());
            out["program"] = json!(ctx.program());
            Ok(Response::json(&out))
        }
        ("GET", ["company"]) => {
            v.partner_only()?;
            Ok(Response::json(&json!({ "org_id": v.org_id, "opted_in": scores::is_opted_in(&v.org_id)? })))
        }
        ("POST", ["company"]) => {
            if !v.partner_admin() {
                return Err(Error::Denied("only a partner admin decides whether the company is named".into()));
            }
            let on = matches!(req.param("opted_in").as_str(), "true" | "1" | "on");
            scores::set_opt_in(ctx, &v.org_id, on)?;
            Ok(Response::json(&json!({ "org_id": v.org_id, "opted_in": on })))
        }
        ("POST", ["bonus"]) => {
            v.staff_only("give bonus points")?;
            let points = req
                .param("points")
                .trim()
                .parse::<i64>()
                .map_err(|_| Error::invalid("points", "Give the points as a whole number."))?;
            let who = if req.param("user_id").is_empty() { req.param("email") } else { req.param("user_id") };
            let user = scores::bonus(ctx, &who, points, &req.param("reason"))?;
            Ok(Response::json_status(201, &json!({ "user_id": user, "points": points })))
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}

pub fn page(ctx: &Context, v: &Viewer, req: &Request) -> Result<Response, Error> {
    let segs = req.segments();
    let post = req.method == "POST";
    match segs.as_slice() {
        [] if !post => home(ctx, v, req.query("done")),
        ["company"] if post => {
            if !v.partner_admin() {
                return Err(Error::Denied("only a partner admin decides whether the company is named".into()));
            }
            let on = req.field("opted_in") == Some("on");
            scores::set_opt_in(ctx, &v.org_id, on)?;
            Ok(Response::redirect(format!("{BASE}/?done={}", if on { "named" } else { "anonymous" })))
        }
        ["bonus"] if post => {
            v.staff_only("give bonus points")?;
            let f = |k: &str| req.field(k).unwrap_or_default().to_string();
            let done = f("points")
                .trim()
                .parse::<i64>()
                .map_err(|_| Error::invalid("points", "Give the points as a whole number."))
                .and_then(|n| scores::bonus(ctx, &f("email"), n, &f("reason")));
            match done {
                Ok(_) => Ok(Response::redirect(format!("{BASE}/?done=bonus"))),
                Err(Error::Invalid(e)) => home_with(ctx, v, None, Some(e.message), &req.form),
                Err(e) => Err(e),
            }
        }
        ["leaderboard"] if !post => leaderboard_page(ctx, v, req),
        _ => Err(Error::NotFound("no such page".into())),
    }
}

fn flash_for(done: Option<&str>) -> Option<String> {
    Some(
        match done? {
            "named" => "Your company is now named on the partners' leaderboard.",
            "anonymous" => "Your company now shows as “A partner” to other partners.",
            "bonus" => "Bonus points given.",
            _ => return None,
        }
        .to_string(),
    )
}

/// The tabs of a board: each period and (where on) each scope, as links.
fn tabs(v: &Viewer, rules: &Rules, kind: Kind, scope: Scope, extra: &str) -> Value {
    let scope_name = |s: Scope| if s == Scope::Company { "company" } else { "partners" };
    let periods: Vec<Value> = [Kind::Month, Kind::Quarter, Kind::All]
        .iter()
        .map(|k| {
            json!({ "label": match k { Kind::Month => "This month", Kind::Quarter => "This quarter", Kind::All => "All time" },
                    "href": format!("{BASE}/leaderboard?period={}&scope={}{extra}", k.name(), scope_name(scope)),
                    "current": *k == kind })
        })
        .collect();
    let mut scopes = Vec::new();
    if !v.staff() {
        scopes.push(json!({ "label": "My company", "current": scope == Scope::Company,
                            "href": format!("{BASE}/leaderboard?period={}&scope=company", kind.name()) }));
    }
    if rules.cross_partner || v.staff() {
        scopes.push(json!({ "label": "Partner companies", "current": scope == Scope::Partners,
                            "href": format!("{BASE}/leaderboard?period={}&scope=partners{extra}", kind.name()) }));
    }
    json!({ "periods": periods, "scopes": scopes })
}

fn home(ctx: &Context, v: &Viewer, done: Option<&str>) -> Result<Response, Error> {
    home_with(ctx, v, flash_for(done), None, &[])
}

/// The home page: a partner's points, ranks, badges, latest awards and the company's board; staff's partners'
/// board, rules and bonus form. `error` is a bonus form's mistake, shown with what was `typed`.
fn home_with(
    ctx: &Context,
    v: &Viewer,
    flash: Option<String>,
    error: Option<String>,
    typed: &[(String, String)],
) -> Result<Response, Error> {
    let rules = scores::current_rules()?;
    let program = ctx.program().unwrap_or_default().to_string();
    let now = ctx.now_ms();
    if v.staff() {
        let mut boards = Vec::new();
        for (key, name) in programs()? {
            let board = board_json(ctx, v, &rules, Kind::Month, Scope::Partners, None, &key)?;
            boards.push(json!({ "key": key, "name": name, "board": board }));
        }
        let form: BTreeMap<String, String> = typed.iter().cloned().collect();
        return Ok(Response::page(
            "home.html",
            "Points and badges",
            &json!({ "base": BASE, "staff": true, "boards": boards, "rules": rules_json(&rules, true),
                     "badges": badges_json(&rules, None)?, "program": program, "error": error, "form": form, "flash": flash,
                     "tabs": tabs(v, &rules, Kind::Month, Scope::Partners, "") }),
        ));
    }
    let points = points_json(ctx, v)?;
    let company = board_json(ctx, v, &rules, Kind::Month, Scope::Company, None, &program)?;
    let partners = if rules.cross_partner {
        let p = Period::of(Kind::Month, now);
        scores::partner_board(&program, &p, 1, &v.board_viewer())?
            .1
            .map(|(rank, points)| json!({ "rank": rank, "points": points }))
    } else {
        None
    };
    Ok(Response::page(
        "home.html",
        "Points and badges",
        &json!({ "base": BASE, "staff": false, "me": points, "company": company, "partners": partners,
                 "badges": badges_json(&rules, Some(&v.user_id))?, "rules": rules_json(&rules, false),
                 "admin": v.partner_admin(), "opted_in": scores::is_opted_in(&v.org_id)?,
                 "org_name": v.org_name, "cross_partner": rules.cross_partner, "flash": flash,
                 "tabs": tabs(v, &rules, Kind::Month, Scope::Company, "") }),
    ))
}

/// The programs partners are enrolled in, by key, with their names.
fn programs() -> Result<Vec<(String, String)>, Error> {
    let mut keys: Vec<String> =
        directory::list_orgs(None)?.into_iter().flat_map(|o| o.enrolments.into_iter().map(|e| e.program)).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for k in keys {
        let name = directory::get_program(&k)?.map_or_else(|| k.clone(), |p| p.name);
        out.push((k, name));
    }
    Ok(out)
}

fn leaderboard_page(ctx: &Context, v: &Viewer, req: &Request) -> Result<Response, Error> {
    let rules = scores::current_rules()?;
    let kind = period_of(req)?;
    let scope = scope_of(req, v)?;
    let program = program_of(ctx, req, v);
    let (org, extra) = match scope {
        Scope::Company => {
            let org = company_of(req, v)?;
            let extra = if v.staff() { format!("&org={org}") } else { String::new() };
            (Some(org), extra)
        }
        Scope::Partners => (
            None,
            if v.staff() && req.query("program").is_some() { format!("&program={program}") } else { String::new() },
        ),
    };
    let board = board_json(ctx, v, &rules, kind, scope, org.as_deref(), &program)?;
    let company_name = match (&org, v.staff()) {
        (Some(o), true) => directory::get_org(o)?.map(|x| x.name).unwrap_or_default(),
        (Some(_), false) => v.org_name.clone(),
        _ => String::new(),
    };
    let in_top = board["rows"].as_array().is_some_and(|r| r.iter().any(|x| x["you"] == json!(true)));
    let title = match scope {
        Scope::Company => format!("Leaderboard: {company_name}"),
        Scope::Partners => "Leaderboard: partner companies".to_string(),
    };
    // Staff switch between the programs' partners' boards.
    let program_tabs: Vec<Value> = if v.staff() && scope == Scope::Partners {
        programs()?
            .into_iter()
            .map(|(key, name)| {
                json!({ "label": name, "current": key == program,
                        "href": format!("{BASE}/leaderboard?period={}&scope=partners&program={key}", kind.name()) })
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Response::page(
        "leaderboard.html",
        &title,
        &json!({ "base": BASE, "staff": v.staff(), "board": board, "company_name": company_name,
                 "partners": scope == Scope::Partners, "in_top": in_top, "title": title,
                 "programs": program_tabs,
                 "tabs": tabs(v, &rules, kind, scope, &extra) }),
    ))
}

pub fn widget(ctx: &Context, v: &Viewer, widget: &str) -> Result<View, Error> {
    if widget != "points" {
        return Err(Error::NotFound(format!("no widget {widget}")));
    }
    v.partner_only()?;
    let p = Period::of(Kind::Month, ctx.now_ms());
    let (rank, points) = scores::company_rank(&v.org_id, &v.user_id, &p)?;
    let total = scores::score(&v.user_id, &Period::of(Kind::All, 0))?.map_or(0, |s| s.data.points);
    let badges = scores::earned_by(&v.user_id)?.values().map(|e| e.times).sum::<i64>();
    Ok(View {
        template: "widget_points.html".into(),
        title: "My points and rank".into(),
        context: json!({ "base": BASE, "label": p.label, "points": points, "rank": rank, "total": total,
                         "badges": badges, "org_name": v.org_name })
        .to_string(),
        status: 200,
    })
}

/// Vendor staff's card about a partner: its points this quarter (in every program), its top users and the badges
/// its users earned.
pub fn card(ctx: &Context, org_id: &str) -> Result<View, Error> {
    let p = Period::of(Kind::Quarter, ctx.now_ms());
    let points: i64 = ORG_SCORES
        .query()
        .org(org_id)
        .limit(1000)
        .fetch::<OrgScore>()?
        .records
        .iter()
        .filter(|r| r.data.period == p.key)
        .map(|r| r.data.points)
        .sum();
    let top: Vec<Place> = scores::company_board(org_id, &p, 5, None)?;
    let mut badges: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for e in EARNED.query().org(org_id).order_by("last_at", Direction::Desc).limit(500).fetch::<Earned>()?.records {
        let b = badges.entry(e.data.name.clone()).or_insert_with(|| (image_url(&e.data.image), 0));
        b.1 += e.data.times;
    }
    let badges: Vec<Value> =
        badges.into_iter().map(|(name, (image, n))| json!({ "name": name, "image_url": image, "count": n })).collect();
    Ok(View {
        template: "card_points.html".into(),
        title: "Points and badges".into(),
        context: json!({ "base": BASE, "label": p.label, "points": points, "top": top, "badges": badges,
                         "org_id": org_id })
        .to_string(),
        status: 200,
    })
}
