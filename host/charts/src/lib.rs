//! Server-rendered SVG charts: bar, stacked bar, line and area over time, donut, gauge (progress), funnel and
//! sparkline. No script: a chart is a `<figure>` holding an SVG with `role="img"`, a title and a description, and
//! the numbers as a table that screen readers reach (visually hidden). Colours are CSS classes (`pt-s1`…`pt-s8`)
//! that themes map to custom properties derived from the tenant's brand, so a chart follows the theme and the
//! brand. Numbers, money and dates are formatted for the viewer's locale and time zone. Every piece of text is
//! escaped; the output is safe to place in any page.
//!
//! Plugin templates call it as `{{ chart(kind="bar", title=…, categories=…, series=…) }}`; the host's pages
//! through the same function of the host's template engine.

mod format;

use std::fmt::Write;

use serde::Deserialize;

pub use format::{Formatter, NumberStyle};

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Bar,
    StackedBar,
    Line,
    Area,
    Donut,
    Gauge,
    Funnel,
    Sparkline,
}

/// One named series of values, one per category (or point in time).
#[derive(Debug, Clone, Deserialize)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// A chart, as templates describe it.
#[derive(Debug, Clone, Deserialize)]
pub struct Chart {
    pub kind: Kind,
    /// Shown above the chart and given to assistive technology.
    #[serde(default)]
    pub title: String,
    /// A sentence saying what the chart shows; derived from the data when empty.
    #[serde(default)]
    pub description: String,
    /// Category labels (bar, stacked bar, donut, funnel).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Points in time, milliseconds since the epoch (line, area, sparkline); categories are used when empty.
    #[serde(default)]
    pub times: Vec<i64>,
    #[serde(default)]
    pub series: Vec<Series>,
    /// The value and maximum of a gauge.
    #[serde(default)]
    pub value: f64,
    #[serde(default)]
    pub max: f64,
    /// How values read.
    #[serde(default)]
    pub style: NumberStyle,
    /// ISO currency code for money.
    #[serde(default)]
    pub currency: String,
    /// What keeps this chart's element ids apart from every other chart on the page (the renderer sets it: the
    /// plugin, the template and the chart's place in it), so that two charts with the same title and data, from
    /// two plugins' widgets, do not share the ids their labels point at.
    #[serde(skip)]
    pub salt: String,
}

/// Renders a chart for a viewer.
pub fn render(chart: &Chart, fmt: &Formatter) -> String {
    let mut c = chart.clone();
    c.series.retain(|s| !s.name.is_empty() || !s.values.is_empty());
    for s in &mut c.series {
        for v in &mut s.values {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
    }
    let fmt = Formatter { style: c.style, currency: c.currency.clone(), ..fmt.clone() };
    let labels = labels(&c, &fmt);
    let svg = match c.kind {
        Kind::Bar => bars(&c, &labels, false, &fmt),
        Kind::StackedBar => bars(&c, &labels, true, &fmt),
        Kind::Line => lines(&c, &labels, false, &fmt),
        Kind::Area => lines(&c, &labels, true, &fmt),
        Kind::Sparkline => sparkline(&c),
        Kind::Donut => donut(&c, &labels, &fmt),
        Kind::Gauge => gauge(&c, &fmt),
        Kind::Funnel => funnel(&c, &labels, &fmt),
    };
    let id = chart_id(&c);
    let description = if c.description.is_empty() { describe(&c, &labels, &fmt) } else { c.description.clone() };
    let mut out = String::new();
    let _ = write!(
        out,
        "<figure class=\"pt-chart pt-chart-{kind}\"><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" \
         aria-labelledby=\"{id}-t {id}-d\" focusable=\"false\" viewBox=\"{vb}\" preserveAspectRatio=\"xMidYMid meet\">\
         <title id=\"{id}-t\">{title}</title><desc id=\"{id}-d\">{desc}</desc>{svg}</svg>{legend}{table}</figure>",
        kind = kind_class(c.kind),
        vb = view_box(c.kind),
        title = esc(&c.title),
        desc = esc(&description),
        legend = legend(&c),
        table = table(&c, &labels, &fmt),
    );
    out
}

fn kind_class(k: Kind) -> &'static str {
    match k {
        Kind::Bar => "bar",
        Kind::StackedBar => "stacked-bar",
        Kind::Line => "line",
        Kind::Area => "area",
        Kind::Donut => "donut",
        Kind::Gauge => "gauge",
        Kind::Funnel => "funnel",
        Kind::Sparkline => "sparkline",
    }
}

fn view_box(k: Kind) -> &'static str {
    match k {
        Kind::Sparkline => "0 0 120 30",
        Kind::Donut | Kind::Gauge => "0 0 200 200",
        _ => "0 0 360 200",
    }
}

/// An id for the chart's title and description, from its salt and content.
fn chart_id(c: &Chart) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let categories = c.categories.concat();
    let content = c.title.bytes().chain(categories.bytes()).chain(c.series.iter().flat_map(|s| s.name.bytes()));
    for b in c.salt.bytes().chain([0]).chain(content) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("ptc{:x}", h & 0xffff_ffff)
}

/// The label of each category or point in time.
fn labels(c: &Chart, fmt: &Formatter) -> Vec<String> {
    if !c.times.is_empty() { c.times.iter().map(|t| fmt.date(*t)).collect() } else { c.categories.clone() }
}

fn count(c: &Chart, labels: &[String]) -> usize {
    labels.len().max(c.series.iter().map(|s| s.values.len()).max().unwrap_or(0))
}

fn value(s: &Series, i: usize) -> f64 {
    s.values.get(i).copied().unwrap_or(0.0)
}

/// Plot area of the wide charts, in a view box sized for a card or widget (a third of a page), where the labels
/// stay legible; wider places scale it up to the figure's height cap.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 352.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 172.0;
/// Roughly how wide a character of an axis label is, in view box units.
const CHAR: f64 = 6.2;

/// Whether every value is a whole number (counts): then the axis has no fractional ticks.
fn integral(c: &Chart) -> bool {
    c.series.iter().flat_map(|s| s.values.iter()).all(|v| v.fract() == 0.0)
}

/// A round upper bound for an axis, and its tick step.
fn nice_max(max: f64, whole: bool) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, if whole { 1.0 } else { 0.25 });
    }
    let mag = 10f64.powf(max.log10().floor());
    // Steps of 1, 2 or 5 times a power of ten, at most six of them: ticks a reader takes in at a glance.
    for step in [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0] {
        let s = step * mag;
        if whole && s < 1.0 {
            continue;
        }
        if max / s <= 6.0 {
            return ((max / s).ceil() * s, s);
        }
    }
    (max, max / 4.0)
}

fn axis(out: &mut String, top: f64, step: f64, fmt: &Formatter) {
    let mut v = 0.0;
    while v <= top + step / 2.0 {
        let y = BOTTOM - (BOTTOM - TOP) * v / top;
        let _ = write!(
            out,
            "<line class=\"pt-grid\" x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"pt-axis\" x=\"{x:.1}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>",
            x = LEFT - 4.0,
            ty = y + 3.5,
            label = esc(&fmt.short(v))
        );
        v += step;
    }
}

/// Category or date labels under the plot, `slot` apart: every label when they fit, else every second, third…,
/// each cut to the room it has (the full text is in each mark's title and the table).
fn x_labels(out: &mut String, labels: &[String], slot: f64, at: impl Fn(usize) -> f64) {
    let every = ((40.0 / slot.max(1.0)).ceil() as usize).max(1);
    let room = ((slot * every as f64 / CHAR) as usize).max(3);
    for (i, l) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            out,
            "<text class=\"pt-axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            at(i),
            BOTTOM + 14.0,
            esc(&truncate(l, room))
        );
    }
}

fn bars(c: &Chart, labels: &[String], stacked: bool, fmt: &Formatter) -> String {
    let n = count(c, labels).max(1);
    let k = c.series.len().max(1);
    let max = (0..n)
        .map(|i| {
            if stacked {
                c.series.iter().map(|s| value(s, i).max(0.0)).sum::<f64>()
            } else {
                c.series.iter().map(|s| value(s, i)).fold(0.0, f64::max)
            }
        })
        .fold(0.0, f64::max);
    let (top, step) = nice_max(max, integral(c));
    let mut out = String::new();
    axis(&mut out, top, step, fmt);
    let slot = (RIGHT - LEFT) / n as f64;
    let group = slot * 0.7;
    for i in 0..n {
        let x0 = LEFT + slot * i as f64 + (slot - group) / 2.0;
        let mut base = BOTTOM;
        for (j, s) in c.series.iter().enumerate() {
            let v = value(s, i).max(0.0);
            let h = (BOTTOM - TOP) * v / top;
            let (x, w, y) = if stacked {
                (x0, group, base - h)
            } else {
                let w = group / k as f64;
                (x0 + w * j as f64, w, BOTTOM - h)
            };
            if stacked {
                base -= h;
            }
            let _ = write!(
                out,
                "<rect class=\"pt-s{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{}: {}</title></rect>",
                j % 8 + 1,
                (w - 1.0).max(1.0),
                esc(&format!("{} · {}", labels.get(i).map(String::as_str).unwrap_or(""), s.name)),
                esc(&fmt.value(value(s, i)))
            );
        }
    }
    x_labels(&mut out, labels, slot, |i| LEFT + slot * (i as f64 + 0.5));
    out
}

fn lines(c: &Chart, labels: &[String], area: bool, fmt: &Formatter) -> String {
    let n = count(c, labels);
    let max = c.series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max);
    let (top, step) = nice_max(max, integral(c));
    let mut out = String::new();
    axis(&mut out, top, step, fmt);
    // Points at the middle of equal slots, as bars are, so the first and last labels stay inside.
    let slot = (RIGHT - LEFT) / n.max(1) as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let y = |v: f64| BOTTOM - (BOTTOM - TOP) * v.max(0.0) / top;
    for (j, s) in c.series.iter().enumerate() {
        let points: Vec<String> = (0..n).map(|i| format!("{:.1},{:.1}", x(i), y(value(s, i)))).collect();
        if area && n > 0 {
            let _ = write!(
                out,
                "<polygon class=\"pt-area pt-s{}\" points=\"{:.1},{BOTTOM} {} {:.1},{BOTTOM}\"/>",
                j % 8 + 1,
                x(0),
                points.join(" "),
                x(n - 1)
            );
        }
        let _ = write!(out, "<polyline class=\"pt-line pt-s{}\" points=\"{}\"/>", j % 8 + 1, points.join(" "));
        for i in 0..n {
            let _ = write!(
                out,
                "<circle class=\"pt-dot pt-s{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{}: {}</title></circle>",
                j % 8 + 1,
                x(i),
                y(value(s, i)),
                esc(&format!("{} · {}", labels.get(i).map(String::as_str).unwrap_or(""), s.name)),
                esc(&fmt.value(value(s, i)))
            );
        }
    }
    x_labels(&mut out, labels, slot, x);
    out
}

fn sparkline(c: &Chart) -> String {
    let Some(s) = c.series.first() else { return String::new() };
    let n = s.values.len();
    let (lo, hi) = s.values.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let points: Vec<String> = s
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = if n <= 1 { 60.0 } else { 2.0 + 116.0 * i as f64 / (n - 1) as f64 };
            format!("{x:.1},{:.1}", 27.0 - 24.0 * (v - lo) / span)
        })
        .collect();
    format!("<polyline class=\"pt-line pt-s1\" points=\"{}\"/>", points.join(" "))
}

fn donut(c: &Chart, labels: &[String], fmt: &Formatter) -> String {
    let values: Vec<f64> = c.series.first().map(|s| s.values.iter().map(|v| v.max(0.0)).collect()).unwrap_or_default();
    let total: f64 = values.iter().sum();
    let mut out = String::new();
    let (cx, cy, r) = (100.0, 100.0, 70.0);
    let circumference = 2.0 * std::f64::consts::PI * r;
    let mut offset = 0.0;
    let _ = write!(out, "<circle class=\"pt-track\" cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\"/>");
    for (i, v) in values.iter().enumerate() {
        if total <= 0.0 || *v <= 0.0 {
            continue;
        }
        let len = circumference * v / total;
        let _ = write!(
            out,
            "<circle class=\"pt-slice pt-s{}\" cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" stroke-dasharray=\"{len:.2} {:.2}\" \
             stroke-dashoffset=\"{:.2}\" transform=\"rotate(-90 {cx} {cy})\"><title>{}: {}</title></circle>",
            i % 8 + 1,
            circumference - len,
            -offset,
            esc(labels.get(i).map(String::as_str).unwrap_or("")),
            esc(&fmt.value(*v))
        );
        offset += len;
    }
    let _ = write!(
        out,
        "<text class=\"pt-center\" x=\"{cx}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        cy + 6.0,
        esc(&fmt.short(total))
    );
    out
}

fn gauge(c: &Chart, fmt: &Formatter) -> String {
    let max = if c.max > 0.0 { c.max } else { 100.0 };
    let share = (c.value / max).clamp(0.0, 1.0);
    let (cx, cy, r) = (100.0, 100.0, 70.0);
    let circumference = 2.0 * std::f64::consts::PI * r;
    let len = circumference * share;
    format!(
        "<circle class=\"pt-track\" cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\"/>\
         <circle class=\"pt-slice pt-s1\" cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" stroke-dasharray=\"{len:.2} {:.2}\" \
         transform=\"rotate(-90 {cx} {cy})\"/>\
         <text class=\"pt-center\" x=\"{cx}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        circumference - len,
        cy + 6.0,
        esc(&format::percent(share * 100.0, fmt))
    )
}

/// Where a funnel's bars begin; its labels end just before.
const FUNNEL_BARS: f64 = 150.0;

fn funnel(c: &Chart, labels: &[String], fmt: &Formatter) -> String {
    let values: Vec<f64> = c.series.first().map(|s| s.values.iter().map(|v| v.max(0.0)).collect()).unwrap_or_default();
    let max = values.iter().copied().fold(0.0, f64::max).max(1.0);
    let n = values.len().max(1);
    let h = (BOTTOM - TOP) / n as f64;
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        let w = (RIGHT - FUNNEL_BARS) * v / max;
        let x = FUNNEL_BARS + (RIGHT - FUNNEL_BARS - w) / 2.0;
        let y = TOP + h * i as f64;
        let _ = write!(
            out,
            "<rect class=\"pt-s{}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {}</title></rect>\
             <text class=\"pt-axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} · {}</text>",
            i % 8 + 1,
            y + 2.0,
            w.max(1.0),
            (h - 4.0).max(1.0),
            esc(labels.get(i).map(String::as_str).unwrap_or("")),
            esc(&fmt.value(*v)),
            FUNNEL_BARS - 8.0,
            y + h / 2.0 + 4.0,
            esc(&truncate(labels.get(i).map(String::as_str).unwrap_or(""), 16)),
            esc(&fmt.short(*v))
        );
    }
    out
}

fn legend(c: &Chart) -> String {
    let named: Vec<&Series> = c.series.iter().filter(|s| !s.name.is_empty()).collect();
    let items: Vec<String> = match c.kind {
        Kind::Donut | Kind::Funnel => {
            c.categories.iter().enumerate().map(|(i, l)| (i, l.as_str())).map(|(i, l)| item(i, l)).collect()
        }
        Kind::Gauge | Kind::Sparkline => Vec::new(),
        _ if named.len() > 1 => named.iter().enumerate().map(|(i, s)| item(i, &s.name)).collect(),
        _ => Vec::new(),
    };
    if items.is_empty() {
        return String::new();
    }
    format!("<ul class=\"pt-legend\" aria-hidden=\"true\">{}</ul>", items.concat())
}

fn item(i: usize, label: &str) -> String {
    format!("<li><span class=\"pt-key pt-s{}\"></span>{}</li>", i % 8 + 1, esc(label))
}

/// The numbers as a table, for screen readers (visually hidden by the theme's `pt-sr-only`).
fn table(c: &Chart, labels: &[String], fmt: &Formatter) -> String {
    let mut out = String::from("<table class=\"pt-sr-only\">");
    let _ = write!(out, "<caption>{}</caption>", esc(&c.title));
    match c.kind {
        Kind::Gauge => {
            let max = if c.max > 0.0 { c.max } else { 100.0 };
            let _ = write!(
                out,
                "<tbody><tr><th scope=\"row\">Value</th><td>{}</td></tr><tr><th scope=\"row\">Target</th><td>{}</td></tr></tbody>",
                esc(&fmt.value(c.value)),
                esc(&fmt.value(max))
            );
        }
        _ => {
            out.push_str("<thead><tr><td></td>");
            for s in &c.series {
                let _ =
                    write!(out, "<th scope=\"col\">{}</th>", esc(if s.name.is_empty() { &c.title } else { &s.name }));
            }
            out.push_str("</tr></thead><tbody>");
            for i in 0..count(c, labels) {
                let _ =
                    write!(out, "<tr><th scope=\"row\">{}</th>", esc(labels.get(i).map(String::as_str).unwrap_or("")));
                for s in &c.series {
                    let _ = write!(out, "<td>{}</td>", esc(&fmt.value(value(s, i))));
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody>");
        }
    }
    out.push_str("</table>");
    out
}

/// A sentence about the data, for the SVG's description.
fn describe(c: &Chart, labels: &[String], fmt: &Formatter) -> String {
    match c.kind {
        Kind::Gauge => format!("{} of {}", fmt.value(c.value), fmt.value(if c.max > 0.0 { c.max } else { 100.0 })),
        _ => {
            let parts: Vec<String> = c
                .series
                .iter()
                .map(|s| {
                    let pairs: Vec<String> = (0..count(c, labels).min(12))
                        .map(|i| {
                            format!("{} {}", labels.get(i).map(String::as_str).unwrap_or(""), fmt.value(value(s, i)))
                        })
                        .collect();
                    let name = if s.name.is_empty() { String::new() } else { format!("{}: ", s.name) };
                    format!("{name}{}", pairs.join(", "))
                })
                .collect();
            parts.join("; ")
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).collect::<String>() + "…" }
}

/// Escapes text for HTML and SVG, text and attributes alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt() -> Formatter {
        Formatter::new("en-US", "UTC")
    }

    fn bar() -> Chart {
        Chart {
            kind: Kind::Bar,
            title: "Deals <by> status".into(),
            description: String::new(),
            categories: vec!["Submitted".into(), "Approved".into(), "Won".into()],
            times: vec![],
            series: vec![Series { name: "Deals".into(), values: vec![12.0, 7.0, 3.0] }],
            value: 0.0,
            max: 0.0,
            style: NumberStyle::Number,
            currency: String::new(),
            salt: String::new(),
        }
    }

    #[test]
    fn a_bar_chart_is_an_accessible_escaped_svg_with_its_numbers_as_a_table() {
        let html = render(&bar(), &fmt());
        assert!(html.starts_with("<figure class=\"pt-chart pt-chart-bar\"><svg"));
        assert!(html.contains("role=\"img\"") && html.contains("aria-labelledby="));
        assert!(html.contains("<title id=\"") && html.contains(">Deals &lt;by&gt; status</title>"));
        assert!(html.contains("<desc id=\"") && html.contains("Submitted 12"));
        assert!(
            html.contains("<table class=\"pt-sr-only\">") && html.contains("<th scope=\"row\">Approved</th><td>7</td>")
        );
        assert_eq!(html.matches("<rect class=\"pt-s1\"").count(), 3);
        assert!(!html.contains("<script") && !html.contains("style="));
    }

    #[test]
    fn money_and_dates_follow_the_viewers_locale_and_zone() {
        let mut c = bar();
        c.style = NumberStyle::Money;
        c.currency = "EUR".into();
        c.series[0].values = vec![1234567.5, 0.0, 0.0];
        let de = render(&c, &Formatter::new("de-DE", "Europe/Berlin"));
        assert!(de.contains("1.234.567,50\u{a0}€"), "{de}");
        let us = render(&c, &Formatter::new("en-US", "UTC"));
        assert!(us.contains("€1,234,567.50"), "{us}");
        let mut t = bar();
        t.kind = Kind::Line;
        t.categories.clear();
        // 2026-01-31T23:30Z is already February in Berlin.
        t.times = vec![1_769_902_200_000, 1_770_000_000_000, 1_770_100_000_000];
        assert!(render(&t, &Formatter::new("de-DE", "Europe/Berlin")).contains("01.02.2026"));
        assert!(render(&t, &Formatter::new("en-US", "UTC")).contains("01/31/2026"));
    }

    #[test]
    fn every_kind_renders_and_odd_data_does_not_break_it() {
        for kind in [
            Kind::Bar,
            Kind::StackedBar,
            Kind::Line,
            Kind::Area,
            Kind::Donut,
            Kind::Gauge,
            Kind::Funnel,
            Kind::Sparkline,
        ] {
            let mut c = bar();
            c.kind = kind;
            c.value = 42.0;
            c.max = 80.0;
            let html = render(&c, &fmt());
            assert!(html.contains("</svg>") && html.contains("</figure>"), "{kind:?}");
            c.series = vec![Series { name: "x".into(), values: vec![f64::NAN, -5.0, f64::INFINITY] }];
            assert!(!render(&c, &fmt()).contains("NaN"), "{kind:?}");
            c.series.clear();
            c.categories.clear();
            assert!(render(&c, &fmt()).contains("</figure>"), "{kind:?} without data");
        }
        let mut g = bar();
        g.kind = Kind::Gauge;
        g.value = 3.0;
        g.max = 4.0;
        assert!(render(&g, &fmt()).contains("75%"));
    }

    /// The markup of one chart of each kind, as committed under `snapshots/`: a change to the drawing shows in
    /// review as a diff of these files (`UPDATE_SNAPSHOTS=1 cargo test -p portico-charts` rewrites them).
    #[test]
    fn markup_matches_the_snapshots() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
        let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
        let pipeline = Chart {
            kind: Kind::StackedBar,
            title: "Pipeline by quarter".into(),
            categories: vec!["Q1".into(), "Q2".into(), "Q3".into(), "Q4".into()],
            series: vec![
                Series { name: "Won".into(), values: vec![120_000.0, 95_500.0, 143_250.0, 80_000.0] },
                Series { name: "Open".into(), values: vec![40_000.0, 75_000.0, 60_000.0, 150_000.0] },
            ],
            style: NumberStyle::Money,
            currency: "USD".into(),
            ..bar()
        };
        let mut weekly = bar();
        weekly.kind = Kind::Area;
        weekly.title = "Sign-ins per week".into();
        weekly.categories.clear();
        weekly.times = (0..6).map(|w| 1_767_225_600_000 + w * 7 * 86_400_000).collect();
        weekly.series = vec![Series { name: "Sign-ins".into(), values: vec![12.0, 18.0, 9.0, 22.0, 30.0, 27.0] }];
        let mut tiers = bar();
        tiers.kind = Kind::Donut;
        tiers.title = "Partners by tier".into();
        tiers.categories = vec!["Gold".into(), "Silver".into(), "Registered".into()];
        tiers.series = vec![Series { name: String::new(), values: vec![4.0, 9.0, 23.0] }];
        let mut progress = bar();
        progress.kind = Kind::Gauge;
        progress.title = "Towards Gold".into();
        progress.value = 7_250.0;
        progress.max = 10_000.0;
        let mut stages = bar();
        stages.kind = Kind::Funnel;
        stages.title = "Course completion".into();
        stages.categories = vec!["Enrolled".into(), "Started".into(), "Passed".into()];
        stages.series = vec![Series { name: String::new(), values: vec![200.0, 140.0, 85.0] }];
        let mut trend = bar();
        trend.kind = Kind::Sparkline;
        trend.title = "Deals, last 8 weeks".into();
        trend.series = vec![Series { name: String::new(), values: vec![3.0, 5.0, 4.0, 8.0, 6.0, 9.0, 12.0, 11.0] }];
        for (name, chart, lang) in [
            ("bar", bar(), "en-US"),
            ("stacked-bar-money-de", pipeline, "de-DE"),
            ("area-times", weekly, "en-GB"),
            ("donut", tiers, "en-US"),
            ("gauge", progress, "en-US"),
            ("funnel", stages, "en-US"),
            ("sparkline", trend, "en-US"),
        ] {
            let html = render(&chart, &Formatter::new(lang, "Europe/Berlin")) + "\n";
            let path = dir.join(format!("{name}.html"));
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &html).unwrap();
            } else {
                let want = std::fs::read_to_string(&path).unwrap_or_default();
                assert_eq!(html, want, "{name} differs from {} (UPDATE_SNAPSHOTS=1 rewrites it)", path.display());
            }
        }
    }
}
