//! SCORM 1.2: what a package's `imsmanifest.xml` says to launch, and the run-time data model (`cmi.*`) a SCO reads
//! and writes through the API the lesson's frame gives it (`frame/scorm.js`). The frame checks values as the
//! standard says, but the learner's browser is not trusted: every commit is checked again here, against the same
//! vocabularies and sizes, before it counts.
//!
//! - Launch: the manifest's default organisation (or its first), its first item that references a resource, and
//!   that resource's `href` (with the item's `parameters`), resolved against the `xml:base` of the resources and
//!   the resource. SCORM 2004 packages are refused with a message saying so.
//! - Data: `cmi.core.lesson_status`, `cmi.core.score.{raw,min,max}`, `cmi.core.lesson_location`,
//!   `cmi.core.exit`, `cmi.core.session_time` (added to `total_time` when a session finishes), `cmi.suspend_data`
//!   and `cmi.comments`. A session that finishes with `exit` = `suspend` resumes (`cmi.core.entry` = `resume`).
//! - Outcome: `passed` or `completed` completes the lesson; `failed` is recorded with its score.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a package launches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// The organisation's title (the course's, as the package names it).
    pub title: String,
    /// The launched item's title (the lesson's).
    pub item: String,
    /// The SCO to open: a path inside the package, with its query string if the item gives parameters.
    pub href: String,
}

/// The first child element of `n` named `name` (in any namespace).
fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

/// Reads `imsmanifest.xml`: the SCO to launch, or why the package cannot be used.
pub fn launch(manifest: &str) -> Result<Launch, String> {
    let doc = roxmltree::Document::parse(manifest).map_err(|e| format!("imsmanifest.xml is not valid XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "manifest" {
        return Err("imsmanifest.xml has no <manifest> element".into());
    }
    let version = root
        .descendants()
        .find(|n| n.tag_name().name() == "schemaversion")
        .and_then(|n| n.text())
        .unwrap_or_default()
        .trim()
        .to_string();
    let attr = |n: roxmltree::Node<'_, '_>, name: &str| {
        n.attributes().find(|a| a.name().eq_ignore_ascii_case(name)).map(|a| a.value().to_string())
    };
    let is_2004 = version.contains("2004")
        || version.starts_with("CAM 1.3")
        || root.descendants().any(|n| n.tag_name().namespace().is_some_and(|ns| ns.contains("adlcp_v1p3")));
    if is_2004 {
        return Err("this is a SCORM 2004 package; export it as SCORM 1.2".into());
    }
    let orgs = child(root, "organizations").ok_or("imsmanifest.xml lists no organizations")?;
    let default = attr(orgs, "default");
    let org = orgs
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "organization")
        .find(|o| default.is_none() || attr(*o, "identifier") == default)
        .or_else(|| orgs.children().find(|c| c.is_element() && c.tag_name().name() == "organization"))
        .ok_or("imsmanifest.xml has no organization")?;
    let title = child(org, "title").and_then(|t| t.text()).unwrap_or_default().trim().to_string();
    let item = org
        .descendants()
        .find(|n| n.tag_name().name() == "item" && attr(*n, "identifierref").is_some())
        .ok_or("the organization has no item to launch")?;
    let resref = attr(item, "identifierref").unwrap_or_default();
    let item_title = child(item, "title").and_then(|t| t.text()).unwrap_or_default().trim().to_string();
    let resources = child(root, "resources").ok_or("imsmanifest.xml lists no resources")?;
    let res = resources
        .children()
        .find(|r| {
            r.is_element() && r.tag_name().name() == "resource" && attr(*r, "identifier").as_deref() == Some(&resref)
        })
        .ok_or_else(|| format!("the item refers to resource {resref}, which the manifest does not list"))?;
    if let Some(kind) = attr(res, "scormtype")
        && !kind.eq_ignore_ascii_case("sco")
    {
        return Err(format!("resource {resref} is an asset, not a SCO that reports to the LMS"));
    }
    let href =
        attr(res, "href").filter(|h| !h.trim().is_empty()).ok_or_else(|| format!("resource {resref} has no href"))?;
    let base = |n: roxmltree::Node<'_, '_>| {
        n.attributes().find(|a| a.name() == "base").map(|a| a.value().to_string()).unwrap_or_default()
    };
    let mut path = format!("{}{}{}", base(resources), base(res), href.trim());
    if path.contains("://") || path.starts_with('/') || path.split(['/', '?', '#']).any(|s| s == "..") {
        return Err(format!("the launch address {path} is outside the package"));
    }
    if let Some(p) = attr(item, "parameters").map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) {
        let p = p.trim_start_matches(['?', '&']);
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(p);
    }
    Ok(Launch { title, item: item_title, href: path })
}

/// A learner's SCORM data for one lesson, as the LMS keeps it between sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cmi {
    pub lesson_status: String,
    pub score_raw: String,
    pub score_min: String,
    pub score_max: String,
    pub lesson_location: String,
    pub suspend_data: String,
    pub comments: String,
    pub exit: String,
    /// `ab-initio` for a first session, `resume` after one that suspended, empty otherwise.
    pub entry: String,
    /// Accumulated over finished sessions, in hundredths of a second.
    pub total_centis: u64,
    /// The last commit applied (the frame numbers them; a stale or repeated one is ignored).
    pub seq: u64,
    pub sessions: u32,
}

impl Default for Cmi {
    fn default() -> Self {
        Cmi {
            lesson_status: "not attempted".into(),
            score_raw: String::new(),
            score_min: String::new(),
            score_max: String::new(),
            lesson_location: String::new(),
            suspend_data: String::new(),
            comments: String::new(),
            exit: String::new(),
            entry: "ab-initio".into(),
            total_centis: 0,
            seq: 0,
            sessions: 0,
        }
    }
}

/// How a commit left the lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Passed or completed: the lesson is done.
    Done,
    Failed,
    InProgress,
}

const STATUSES: &[&str] = &["passed", "completed", "failed", "incomplete", "browsed", "not attempted"];

/// A CMIDecimal score: empty, or a number from 0 to 100.
fn score(field: &str, v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    match v.parse::<f64>() {
        Ok(n) if (0.0..=100.0).contains(&n) && !v.contains(['e', 'E']) => Ok(()),
        _ => Err(format!("{field} must be a number from 0 to 100, not {v:?}")),
    }
}

/// A CMITimespan (`HHHH:MM:SS.SS`) in hundredths of a second.
pub fn timespan(v: &str) -> Option<u64> {
    let mut parts = v.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || h.len() < 2 || h.len() > 4 || m.len() != 2 {
        return None;
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.len() != 2 || frac.len() > 2 || ![h, m, whole, frac].iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (h, m, sec): (u64, u64, u64) = (h.parse().ok()?, m.parse().ok()?, whole.parse().ok()?);
    if m > 59 || sec > 59 {
        return None;
    }
    let centis = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse::<u64>().ok()? };
    Some(((h * 60 + m) * 60 + sec) * 100 + centis)
}

/// A total in hundredths of a second as a CMITimespan.
pub fn format_timespan(centis: u64) -> String {
    let s = centis / 100;
    format!("{:04}:{:02}:{:02}.{:02}", (s / 3600).min(9999), s / 60 % 60, s % 60, centis % 100)
}

impl Cmi {
    /// What the SCO reads at launch (`LMSGetValue`), the values as SCORM 1.2 names them.
    pub fn values(&self, student_id: &str, student_name: &str) -> BTreeMap<String, String> {
        let mut v = BTreeMap::new();
        let mut put = |k: &str, val: &str| v.insert(k.to_string(), val.to_string());
        put("cmi.core.student_id", student_id);
        put("cmi.core.student_name", student_name);
        put("cmi.core.lesson_status", &self.lesson_status);
        put("cmi.core.lesson_location", &self.lesson_location);
        put("cmi.core.entry", &self.entry);
        put("cmi.core.credit", "credit");
        put("cmi.core.lesson_mode", "normal");
        put("cmi.core.score.raw", &self.score_raw);
        put("cmi.core.score.min", &self.score_min);
        put("cmi.core.score.max", &self.score_max);
        put("cmi.core.total_time", &format_timespan(self.total_centis));
        put("cmi.suspend_data", &self.suspend_data);
        put("cmi.launch_data", "");
        put("cmi.comments", &self.comments);
        v
    }

    /// Applies a commit from the frame: `seq` orders commits (an older or repeated one changes nothing and is not
    /// an error: the frame may resend), `values` are `cmi.*` elements the SCO set, `finish` ends the session.
    /// Any value the standard does not allow refuses the whole commit.
    pub fn commit(&mut self, seq: u64, values: &BTreeMap<String, String>, finish: bool) -> Result<bool, String> {
        if seq <= self.seq {
            return Ok(false);
        }
        let mut next = self.clone();
        let mut session: Option<u64> = None;
        for (k, v) in values {
            match k.as_str() {
                "cmi.core.lesson_status" => {
                    if !STATUSES.contains(&v.as_str()) || v == "not attempted" {
                        return Err(format!("cmi.core.lesson_status cannot be {v:?}"));
                    }
                    next.lesson_status = v.clone();
                }
                "cmi.core.score.raw" | "cmi.core.score.min" | "cmi.core.score.max" => {
                    score(k, v)?;
                    let slot = match k.as_str() {
                        "cmi.core.score.raw" => &mut next.score_raw,
                        "cmi.core.score.min" => &mut next.score_min,
                        _ => &mut next.score_max,
                    };
                    *slot = v.clone();
                }
                "cmi.core.lesson_location" if v.chars().count() <= 255 => next.lesson_location = v.clone(),
                "cmi.suspend_data" if v.chars().count() <= 4096 => next.suspend_data = v.clone(),
                "cmi.comments" if v.chars().count() <= 4096 => next.comments = v.clone(),
                "cmi.core.exit" if ["", "time-out", "suspend", "logout"].contains(&v.as_str()) => next.exit = v.clone(),
                "cmi.core.session_time" => {
                    session =
                        Some(timespan(v).ok_or_else(|| format!("cmi.core.session_time {v:?} is not HHHH:MM:SS.SS"))?)
                }
                "cmi.core.lesson_location" | "cmi.suspend_data" | "cmi.comments" => {
                    return Err(format!("{k} is longer than SCORM 1.2 allows"));
                }
                "cmi.core.exit" => return Err(format!("cmi.core.exit cannot be {v:?}")),
                other => return Err(format!("{other} cannot be set")),
            }
        }
        if next.lesson_status == "not attempted" {
            next.lesson_status = "incomplete".into();
        }
        next.seq = seq;
        if finish {
            next.total_centis = next.total_centis.saturating_add(session.unwrap_or(0));
            next.sessions += 1;
            next.entry = if next.exit == "suspend" { "resume".into() } else { String::new() };
        }
        *self = next;
        Ok(true)
    }

    pub fn outcome(&self) -> Outcome {
        match self.lesson_status.as_str() {
            "passed" | "completed" => Outcome::Done,
            "failed" => Outcome::Failed,
            _ => Outcome::InProgress,
        }
    }

    /// The raw score as a whole percent of the range (min–max, 0–100 when not given).
    pub fn percent(&self) -> Option<u32> {
        let raw: f64 = self.score_raw.parse().ok()?;
        let min: f64 = self.score_min.parse().unwrap_or(0.0);
        let max: f64 = self.score_max.parse().unwrap_or(100.0);
        (max > min).then(|| (((raw - min) / (max - min)) * 100.0).clamp(0.0, 100.0).round() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"<?xml version="1.0"?>
<manifest identifier="acme" version="1.0" xmlns="http://www.imsproject.org/xsd/imscp_rootv1p1p2"
  xmlns:adlcp="http://www.adlnet.org/xsd/adlcp_rootv1p2">
  <metadata><schema>ADL SCORM</schema><schemaversion>1.2</schemaversion></metadata>
  <organizations default="org2">
    <organization identifier="org1"><title>Not this</title><item identifier="i0" identifierref="r0"/></organization>
    <organization identifier="org2"><title>Firewall basics</title>
      <item identifier="top"><title>Module</title>
        <item identifier="i1" identifierref="r1" parameters="?start=1"><title>Lesson</title></item>
      </item>
    </organization>
  </organizations>
  <resources xml:base="content/">
    <resource identifier="r0" type="webcontent" adlcp:scormtype="sco" href="zero.html"/>
    <resource identifier="r1" type="webcontent" adlcp:scormtype="sco" xml:base="sco/" href="index.html"/>
  </resources>
</manifest>"#;

    #[test]
    fn the_manifest_names_the_sco_to_launch() {
        let l = launch(MANIFEST).unwrap();
        let want = Launch {
            title: "Firewall basics".into(),
            item: "Lesson".into(),
            href: "content/sco/index.html?start=1".into(),
        };
        assert_eq!(l, want);
        let asset = MANIFEST.replace(r#"scormtype="sco" xml:base"#, r#"scormtype="asset" xml:base"#);
        assert!(launch(&asset).unwrap_err().contains("asset"));
        let outside = MANIFEST.replace(r#"href="index.html""#, r#"href="../../etc/x.html""#);
        assert!(launch(&outside).unwrap_err().contains("outside the package"));
        let v2004 = MANIFEST.replace("<schemaversion>1.2", "<schemaversion>2004 4th Edition");
        assert!(launch(&v2004).unwrap_err().contains("SCORM 2004"));
        assert!(launch("<manifest").unwrap_err().contains("not valid XML"));
    }

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn commits_apply_in_order_and_finish_a_session() {
        let mut c = Cmi::default();
        assert!(c.commit(1, &vals(&[("cmi.core.lesson_location", "p3"), ("cmi.suspend_data", "a=1")]), false).unwrap());
        assert_eq!((c.lesson_status.as_str(), c.outcome()), ("incomplete", Outcome::InProgress));
        let suspend = vals(&[("cmi.core.exit", "suspend"), ("cmi.core.session_time", "00:12:30.5")]);
        assert!(c.commit(2, &suspend, true).unwrap());
        assert_eq!((c.entry.as_str(), c.total_centis), ("resume", 75_050));
        assert_eq!(c.values("u1", "Ann")["cmi.core.total_time"], "0000:12:30.50");
        // A stale commit (sent before, arriving after) changes nothing.
        assert!(!c.commit(1, &vals(&[("cmi.core.lesson_status", "failed")]), false).unwrap());
        let pass =
            vals(&[("cmi.core.lesson_status", "passed"), ("cmi.core.score.raw", "85"), ("cmi.core.score.max", "100")]);
        assert!(c.commit(3, &pass, false).unwrap());
        assert_eq!((c.outcome(), c.percent()), (Outcome::Done, Some(85)));
    }

    #[test]
    fn values_outside_scorm_1_2_refuse_the_commit_whole() {
        let mut c = Cmi::default();
        for bad in [
            vals(&[("cmi.core.lesson_status", "done")]),
            vals(&[("cmi.core.score.raw", "101")]),
            vals(&[("cmi.core.score.raw", "1e2")]),
            vals(&[("cmi.suspend_data", &"x".repeat(4097))]),
            vals(&[("cmi.core.session_time", "1:2:3")]),
            vals(&[("cmi.core.student_id", "someone-else")]),
            vals(&[("cmi.core.lesson_location", "ok"), ("cmi.core.exit", "never")]),
        ] {
            assert!(c.commit(1, &bad, false).is_err(), "{bad:?}");
        }
        assert_eq!(c, Cmi::default(), "nothing of a refused commit is kept");
        assert_eq!(timespan("0001:00:00"), Some(360_000));
        assert_eq!(timespan("00:00:61"), None);
    }
}
