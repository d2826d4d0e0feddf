//! Templates and their areas, free of the host and tested natively: what a vendor may define, what a partner may
//! type into a free-text area, and how text is wrapped and shrunk into an area (or refused, never cut).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a template makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The vendor's PDF with the areas placed on its pages.
    #[default]
    Pdf,
    /// An HTML page with `{{area}}` placeholders.
    Html,
    /// An HTML email: a subject and a body with placeholders.
    Email,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "pdf" => Some(Kind::Pdf),
            "html" => Some(Kind::Html),
            "email" => Some(Kind::Email),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Pdf => "PDF",
            Kind::Html => "HTML page",
            Kind::Email => "HTML email",
        }
    }
}

/// What fills an area: a field of the partner's profile, the user's name or contact, or text the partner types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Logo,
    #[default]
    CompanyName,
    Address,
    Phone,
    Website,
    ContactEmail,
    UserName,
    UserEmail,
    /// Free text the partner may edit, within the area's limits; starts as the area's default.
    Text,
}

impl Source {
    pub const ALL: [Source; 9] = [
        Source::Logo,
        Source::CompanyName,
        Source::Address,
        Source::Phone,
        Source::Website,
        Source::ContactEmail,
        Source::UserName,
        Source::UserEmail,
        Source::Text,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Source::Logo => "logo",
            Source::CompanyName => "company_name",
            Source::Address => "address",
            Source::Phone => "phone",
            Source::Website => "website",
            Source::ContactEmail => "contact_email",
            Source::UserName => "user_name",
            Source::UserEmail => "user_email",
            Source::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|k| k.key() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Source::Logo => "Logo",
            Source::CompanyName => "Company name",
            Source::Address => "Address",
            Source::Phone => "Phone",
            Source::Website => "Website",
            Source::ContactEmail => "Company email",
            Source::UserName => "Your name",
            Source::UserEmail => "Your email",
            Source::Text => "Free text",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// A named area of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Area {
    /// Letters, digits and `_`; the placeholder `{{name}}` in HTML templates.
    pub name: String,
    /// What the partner sees.
    pub label: String,
    pub source: Source,
    /// The starting text of a free-text area.
    pub default: String,
    /// A free-text area's limits: characters and lines.
    pub max_len: u32,
    pub max_lines: u32,
    /// Where it sits on a PDF template: page (from 1), and a box in points from the page's top-left corner.
    pub page: u32,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// Text size in points, and the smallest it may shrink to before the text is refused.
    pub size: f32,
    pub min_size: f32,
    pub bold: bool,
    pub align: Align,
    /// `#rrggbb`.
    pub color: String,
}

impl Default for Area {
    fn default() -> Self {
        Area {
            name: String::new(),
            label: String::new(),
            source: Source::CompanyName,
            default: String::new(),
            max_len: 200,
            max_lines: 3,
            page: 1,
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0,
            size: 12.0,
            min_size: 7.0,
            bold: false,
            align: Align::Left,
            color: "#111111".into(),
        }
    }
}

/// Where a template is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Staff only.
    #[default]
    Draft,
    /// Partners of its programs may use it.
    Published,
    /// No new documents; those made stay.
    Archived,
}

/// A template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub kind: Kind,
    pub status: Status,
    /// Programs whose partners may use it; empty for every program.
    pub programs: Vec<String>,
    /// A document whose free text differs from the defaults must be approved by staff before it can be used.
    pub requires_approval: bool,
    /// The vendor's PDF (a kept file), its name and its pages' sizes in points.
    pub pdf: Option<String>,
    pub pdf_name: String,
    pub pages: Vec<(f32, f32)>,
    /// HTML and email templates: the body with `{{area}}` placeholders; an email's subject (placeholders too).
    pub body: String,
    pub subject: String,
    pub areas: Vec<Area>,
    pub updated_at: i64,
    pub created_by: String,
}

/// Field errors, by field name.
pub type Problems = BTreeMap<String, String>;

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The colour of an area as RGB, black when it is not `#rrggbb`.
pub fn rgb(s: &str) -> (u8, u8, u8) {
    let parse = || {
        let h = s.trim().strip_prefix('#')?;
        if h.len() != 6 {
            return None;
        }
        let c = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
        Some((c(0)?, c(2)?, c(4)?))
    };
    parse().unwrap_or((0, 0, 0))
}

/// The placeholders `{{ name }}` of an HTML body, in order.
pub fn placeholders(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        out.push(after[..j].trim().to_string());
        rest = &after[j + 2..];
    }
    out
}

impl Template {
    /// Everything wrong with the template, by field (`areas[2].w`, `body`, …).
    pub fn problems(&self) -> Problems {
        let mut p = Problems::new();
        if self.name.trim().is_empty() {
            p.insert("name".into(), "Give the template a name.".into());
        } else if self.name.chars().count() > 120 {
            p.insert("name".into(), "Keep the name under 120 characters.".into());
        }
        match self.kind {
            Kind::Pdf if self.pdf.is_none() => {
                p.insert("file".into(), "Upload the PDF the areas are placed on.".into());
            }
            Kind::Html | Kind::Email if self.body.trim().is_empty() => {
                p.insert("body".into(), "Write the HTML, with a {{placeholder}} for each area.".into());
            }
            _ => {}
        }
        if self.kind == Kind::Email && self.subject.trim().is_empty() {
            p.insert("subject".into(), "An email needs a subject.".into());
        }
        if self.areas.is_empty() {
            p.insert("areas".into(), "Add at least one area for the partner's details.".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.areas.iter().enumerate() {
            let f = |k: &str| format!("areas[{i}].{k}");
            if !valid_name(&a.name) {
                p.insert(f("name"), "Use letters, digits and _ (at most 40).".into());
            } else if !seen.insert(a.name.as_str()) {
                p.insert(f("name"), format!("Two areas are called {}.", a.name));
            }
            if a.source == Source::Text {
                if a.max_len == 0 || a.max_len > 2000 {
                    p.insert(f("max_len"), "Allow 1 to 2,000 characters.".into());
                }
                if a.max_lines == 0 || a.max_lines > 50 {
                    p.insert(f("max_lines"), "Allow 1 to 50 lines.".into());
                }
                if let Err(e) = a.check_text(&a.default) {
                    p.insert(f("default"), e);
                }
            }
            if self.kind == Kind::Pdf {
                if a.page == 0 || a.page as usize > self.pages.len().max(1) {
                    p.insert(f("page"), format!("The PDF has {} page(s).", self.pages.len()));
                } else if let Some(&(pw, ph)) = self.pages.get(a.page as usize - 1)
                    && (a.w <= 0.0
                        || a.h <= 0.0
                        || a.x < 0.0
                        || a.y < 0.0
                        || a.x + a.w > pw + 0.5
                        || a.y + a.h > ph + 0.5)
                {
                    p.insert(f("w"), format!("Place the box inside the page ({pw:.0} × {ph:.0} pt)."));
                }
                if a.source != Source::Logo && !(a.min_size >= 4.0 && a.min_size <= a.size && a.size <= 144.0) {
                    p.insert(
                        f("size"),
                        "Give a size up to 144 pt and a smallest size of 4 pt or more, not above it.".into(),
                    );
                }
            }
        }
        if matches!(self.kind, Kind::Html | Kind::Email) {
            let names: Vec<&str> = self.areas.iter().map(|a| a.name.as_str()).collect();
            for ph in placeholders(&self.body).iter().chain(placeholders(&self.subject).iter()) {
                if !names.contains(&ph.as_str()) {
                    p.insert("body".into(), format!("{{{{{ph}}}}} names no area."));
                }
            }
            for ph in placeholders(&self.subject) {
                if self.areas.iter().any(|a| a.name == ph && a.source == Source::Logo) {
                    p.insert("subject".into(), "A subject cannot hold the logo.".into());
                }
            }
        }
        p
    }

    /// The free-text areas.
    pub fn text_areas(&self) -> impl Iterator<Item = &Area> {
        self.areas.iter().filter(|a| a.source == Source::Text)
    }

    /// Whether `values` change any free-text area from its default (what needs approval).
    pub fn customised(&self, values: &BTreeMap<String, String>) -> bool {
        self.text_areas().any(|a| values.get(&a.name).is_some_and(|v| normalise(v) != normalise(&a.default)))
    }

    /// The partner's free text checked against each area's limits, defaults filled in.
    pub fn free_text(&self, given: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Problems> {
        let mut out = BTreeMap::new();
        let mut p = Problems::new();
        for a in self.text_areas() {
            let v = given.get(&a.name).map(|v| normalise(v)).unwrap_or_else(|| normalise(&a.default));
            match a.check_text(&v) {
                Ok(()) => {
                    out.insert(a.name.clone(), v);
                }
                Err(e) => {
                    p.insert(a.name.clone(), e);
                }
            }
        }
        if p.is_empty() { Ok(out) } else { Err(p) }
    }
}

/// Line endings made `\n`, trailing spaces and blank lines at the end removed.
pub fn normalise(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_string()
}

impl Area {
    /// A free-text value within the area's limits.
    pub fn check_text(&self, v: &str) -> Result<(), String> {
        let chars = v.chars().count();
        if chars > self.max_len as usize {
            return Err(format!("{} allows {} characters; this has {chars}.", self.label_or_name(), self.max_len));
        }
        let lines = if v.is_empty() { 0 } else { v.lines().count() };
        if lines > self.max_lines as usize {
            return Err(format!("{} allows {} line(s); this has {lines}.", self.label_or_name(), self.max_lines));
        }
        if v.chars().any(|c| c.is_control() && c != '\n') {
            return Err(format!("{} cannot hold control characters.", self.label_or_name()));
        }
        Ok(())
    }

    pub fn label_or_name(&self) -> &str {
        if self.label.is_empty() { &self.name } else { &self.label }
    }
}

/// Text laid out in an area: the size chosen and the lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub size: f32,
    pub lines: Vec<String>,
}

/// The space between baselines, as a multiple of the size.
pub const LEADING: f32 = 1.2;
/// How far the font (Liberation Sans) reaches above and below the baseline, as a multiple of the size.
pub const ASCENT: f32 = 0.905;
pub const DESCENT: f32 = 0.212;

/// The height `lines` lines take at `size`: the first line's ascent, the baselines' steps, the last one's descent.
pub fn height(lines: usize, size: f32) -> f32 {
    size * (ASCENT + DESCENT) + lines.saturating_sub(1) as f32 * size * LEADING
}

/// Wraps `text` (its own line breaks kept) to lines no wider than `width` at `size`, by words; None when a word
/// alone is too wide.
pub fn wrap(text: &str, width: f32, size: f32, measure: &dyn Fn(&str, f32) -> f32) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split_whitespace() {
            let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
            if measure(&candidate, size) <= width {
                line = candidate;
            } else if line.is_empty() {
                return None;
            } else {
                if measure(word, size) > width {
                    return None;
                }
                lines.push(std::mem::replace(&mut line, word.to_string()));
            }
        }
        lines.push(line);
    }
    Some(lines)
}

/// Fits `text` into the area: the largest size from the area's own down to its smallest, by half points, at which
/// the wrapped lines fit its width, height and line limit. None when it fits at no size: the caller refuses it.
pub fn fit(area: &Area, text: &str, measure: &dyn Fn(&str, f32) -> f32) -> Option<Fitted> {
    let max_lines = if area.source == Source::Text { area.max_lines as usize } else { usize::MAX };
    let mut size = area.size;
    while size >= area.min_size - f32::EPSILON {
        if let Some(lines) = wrap(text, area.w, size, measure)
            && lines.len() <= max_lines
            && height(lines.len(), size) <= area.h + 0.01
        {
            return Some(Fitted { size, lines });
        }
        size -= 0.5;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character is half the size wide.
    fn mono(s: &str, size: f32) -> f32 {
        s.chars().count() as f32 * size * 0.5
    }

    fn pdf_template() -> Template {
        Template {
            name: "Flyer".into(),
            kind: Kind::Pdf,
            pdf: Some("k".into()),
            pages: vec![(595.0, 842.0)],
            areas: vec![
                Area { name: "company".into(), x: 40.0, y: 700.0, w: 300.0, h: 24.0, size: 16.0, ..Default::default() },
                Area {
                    name: "note".into(),
                    label: "Your message".into(),
                    source: Source::Text,
                    default: "Call us.".into(),
                    max_len: 60,
                    max_lines: 2,
                    x: 40.0,
                    y: 500.0,
                    w: 300.0,
                    h: 40.0,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_sound_template_has_no_problems_and_a_bad_one_says_where() {
        assert!(pdf_template().problems().is_empty(), "{:?}", pdf_template().problems());
        let mut t = pdf_template();
        t.areas[0].w = 900.0;
        t.areas[1].name = "company".into();
        t.areas[1].page = 2;
        let p = t.problems();
        assert!(p["areas[0].w"].contains("inside the page"), "{p:?}");
        assert!(p["areas[1].name"].contains("Two areas"), "{p:?}");
        assert!(p["areas[1].page"].contains("1 page"), "{p:?}");
        let html = Template {
            name: "Page".into(),
            kind: Kind::Html,
            body: "<h1>{{company}}</h1>{{ missing }}".into(),
            areas: vec![Area { name: "company".into(), ..Default::default() }],
            ..Default::default()
        };
        assert!(html.problems()["body"].contains("{{missing}} names no area"), "{:?}", html.problems());
    }

    #[test]
    fn free_text_is_held_to_its_limits_and_defaults_fill_the_rest() {
        let t = pdf_template();
        let filled = t.free_text(&BTreeMap::new()).unwrap();
        assert_eq!(filled["note"], "Call us.");
        assert!(!t.customised(&filled));
        let long = BTreeMap::from([("note".to_string(), "x".repeat(61))]);
        assert!(t.free_text(&long).unwrap_err()["note"].contains("allows 60 characters; this has 61"));
        let lines = BTreeMap::from([("note".to_string(), "a\nb\nc".to_string())]);
        assert!(t.free_text(&lines).unwrap_err()["note"].contains("2 line(s); this has 3"));
        let own = BTreeMap::from([("note".to_string(), "Ask for Bob.\r\n".to_string())]);
        let v = t.free_text(&own).unwrap();
        assert_eq!(v["note"], "Ask for Bob.");
        assert!(t.customised(&v));
    }

    #[test]
    fn text_is_wrapped_then_shrunk_and_refused_when_it_cannot_fit() {
        let a = Area { w: 100.0, h: 30.0, size: 12.0, min_size: 8.0, ..Default::default() };
        // 12 characters at 12 pt is 72 pt: one line at full size.
        assert_eq!(fit(&a, "Northwind Co", &mono).unwrap(), Fitted { size: 12.0, lines: vec!["Northwind Co".into()] });
        // Two lines need 12 × 1.117 + 14.4 = 27.8 pt at 12 pt: they fit.
        let two = fit(&a, "Northwind Solutions Ltd", &mono).unwrap();
        assert_eq!(two.lines.len(), 2);
        // Too long for two lines at 12 pt: shrunk until it fits, never cut.
        let shrunk = fit(&a, "Northwind Solutions International Ltd", &mono).unwrap();
        assert!(shrunk.size < 12.0 && shrunk.size >= 8.0, "{shrunk:?}");
        assert_eq!(shrunk.lines.join(" "), "Northwind Solutions International Ltd");
        // A word wider than the box at the smallest size: refused.
        assert_eq!(fit(&a, "Supercalifragilisticexpialidocious", &mono), None);
        // A free-text area's line limit holds even when the box is tall enough.
        let text = Area { source: Source::Text, max_lines: 1, h: 100.0, ..a.clone() };
        assert_eq!(fit(&text, "one\ntwo", &mono), None);
    }

    #[test]
    fn placeholders_are_found_with_or_without_spaces() {
        assert_eq!(placeholders("a {{x}} b {{ y }} {{z"), vec!["x", "y"]);
    }
}
