//! Plugin templates: Jinja as minijinja reads it, autoescaped, with the filters plugin templates were written
//! against (tera's keyword-argument forms of `replace`, `join`, `truncate`, `default`, `round` and `json_encode`
//! beside minijinja's own) and the host's `localtime`. Only the templates a page uses are parsed. Nothing here
//! reaches outside the context it is given: no environment, no files, no clock.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use minijinja::value::{Kwargs, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};

/// Why a rendering failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// For the plugin's author: what is wrong, where.
    Template(String),
    /// The output outgrew its cap.
    TooLarge,
}

/// A rendering: the markup, which holds a `<pt-chart data-chart="N"></pt-chart>` marker where each chart goes,
/// and the charts, which the host's own code drew (so they are trusted SVG, placed after sanitizing).
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub html: String,
    pub charts: Vec<String>,
}

/// Renders `name` from `sources` with the JSON `context`, writing at most `max_output` bytes (charts included).
/// `salt` (the plugin's id) keeps its charts' element ids apart from other plugins' on the same page.
pub fn render(
    sources: BTreeMap<String, String>,
    name: &str,
    context: &str,
    max_output: u64,
    salt: &str,
) -> Result<Rendered, Failure> {
    let ctx: serde_json::Value =
        serde_json::from_str(context).map_err(|e| Failure::Template(format!("the context is not JSON: {e}")))?;
    let cap = usize::try_from(max_output).unwrap_or(usize::MAX);
    let drawn = Arc::new(Charts { cap, salt: format!("{salt}/{name}"), ..Charts::default() });
    let mut env = environment(sources);
    let charts = Arc::clone(&drawn);
    env.add_function("chart", move |state: &State, kwargs: Kwargs| charts.draw(state, kwargs));
    let template = env.get_template(name).map_err(|e| Failure::Template(describe(&e)))?;
    let mut out = Capped { buf: Vec::new(), cap, over: false };
    let result = template.render_captured_to(Value::from_serialize(&ctx), &mut out);
    let charts_over = drawn.over.load(std::sync::atomic::Ordering::Relaxed);
    let drawn = std::mem::take(&mut *drawn.drawn.lock().unwrap_or_else(|p| p.into_inner()));
    let over = out.over || charts_over || out.buf.len() + drawn.iter().map(String::len).sum::<usize>() > cap;
    match result {
        Ok(_) if over => Err(Failure::TooLarge),
        Ok(_) => String::from_utf8(out.buf)
            .map(|html| Rendered { html, charts: drawn })
            .map_err(|_| Failure::Template("the output is not UTF-8".into())),
        Err(_) if over => Err(Failure::TooLarge),
        Err(e) => Err(Failure::Template(describe(&e))),
    }
}

/// The charts one rendering draws.
#[derive(Debug, Default)]
struct Charts {
    drawn: Mutex<Vec<String>>,
    cap: usize,
    /// The plugin and template: with each chart's place, its ids' salt.
    salt: String,
    over: std::sync::atomic::AtomicBool,
}

impl Charts {
    /// `{{ chart(kind="bar", title="…", categories=[…], series=[{"name": "…", "values": […]}]) }}`, or `values=[…]`
    /// for a single unnamed series; drawn for the viewer's locale and time zone (`viewer_locale`, `viewer_tz`).
    fn draw(&self, state: &State, kwargs: Kwargs) -> Result<Value, Error> {
        let mut spec = serde_json::Map::new();
        for key in kwargs.args() {
            let v: Value = kwargs.get(key)?;
            let json = serde_json::to_value(&v).map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
            spec.insert(key.to_string(), json);
        }
        if let Some(values) = spec.remove("values") {
            spec.entry("series").or_insert_with(|| serde_json::json!([{ "name": "", "values": values }]));
        }
        let mut chart: portico_charts::Chart = serde_json::from_value(serde_json::Value::Object(spec))
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("chart: {e}")))?;
        let place = self.drawn.lock().unwrap_or_else(|p| p.into_inner()).len();
        chart.salt = format!("{}#{place}", self.salt);
        let text = |name: &str| state.lookup(name).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let fmt = portico_charts::Formatter::new(&text("viewer_locale"), &text("viewer_tz"));
        let svg = portico_charts::render(&chart, &fmt);
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        if drawn.iter().map(String::len).sum::<usize>() + svg.len() > self.cap {
            self.over.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(Error::new(ErrorKind::InvalidOperation, "charts outgrew the output cap"));
        }
        drawn.push(svg);
        Ok(Value::from_safe_string(format!("<pt-chart data-chart=\"{}\"></pt-chart>", drawn.len() - 1)))
    }
}

/// Puts each chart where its marker is in sanitized markup; a marker naming no chart is dropped.
pub fn place_charts(html: &str, charts: &[String]) -> String {
    const OPEN: &str = "<pt-chart data-chart=\"";
    const CLOSE: &str = "\"></pt-chart>";
    let mut out = String::with_capacity(html.len() + charts.iter().map(String::len).sum::<usize>());
    let mut rest = html;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        match after.find(CLOSE) {
            Some(end) => {
                if let Some(chart) = after[..end].parse::<usize>().ok().and_then(|n| charts.get(n)) {
                    out.push_str(chart);
                }
                rest = &after[end + CLOSE.len()..];
            }
            None => {
                out.push_str(OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Checks that every template parses.
pub fn check(sources: BTreeMap<String, String>) -> Result<(), String> {
    let names: Vec<String> = sources.keys().cloned().collect();
    let env = environment(sources);
    for name in names {
        if !name.ends_with(".html") {
            return Err(format!("{name}: templates must end in .html (so they are autoescaped)"));
        }
        env.get_template(&name).map_err(|e| describe(&e))?;
    }
    Ok(())
}

fn environment(sources: BTreeMap<String, String>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(move |name| Ok(sources.get(name).cloned()));
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_recursion_limit(100);
    env.add_filter("localtime", localtime);
    env.add_filter("replace", replace);
    env.add_filter("join", join);
    env.add_filter("truncate", truncate);
    env.add_filter("default", default);
    env.add_filter("round", round);
    env.add_filter("json_encode", json_encode);
    env
}

/// An error with its template, line and cause, for the plugin's author.
fn describe(e: &Error) -> String {
    let mut out = match (e.name(), e.line()) {
        (Some(name), Some(line)) => format!("{name}, line {line}: {}", e.detail().unwrap_or(&e.kind().to_string())),
        _ => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A writer that refuses to grow past its cap, so a runaway template stops instead of filling memory.
struct Capped {
    buf: Vec<u8>,
    cap: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            self.over = true;
            return Err(std::io::Error::other("output cap reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `{{ millis | localtime(tz=viewer_tz) }}`: a UTC timestamp in the viewer's time zone.
fn localtime(value: Value, tz: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let tz = kwargs.get::<Option<String>>("tz")?.or(tz);
    kwargs.assert_all_used()?;
    let Some(ms) = i64::try_from(value).ok() else { return Ok(String::new()) };
    let zone: chrono_tz::Tz = tz.and_then(|t| t.parse().ok()).unwrap_or(chrono_tz::UTC);
    let Some(utc) = chrono::DateTime::from_timestamp_millis(ms) else { return Ok(String::new()) };
    Ok(utc.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string())
}

/// `replace("a", "b")` or tera's `replace(from="a", to="b")`.
fn replace(value: String, from: Option<String>, to: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let from = kwargs.get::<Option<String>>("from")?.or(from);
    let to = kwargs.get::<Option<String>>("to")?.or(to);
    kwargs.assert_all_used()?;
    match (from, to) {
        (Some(from), Some(to)) if !from.is_empty() => Ok(value.replace(&from, &to)),
        _ => Err(Error::new(ErrorKind::MissingArgument, "replace needs what to replace and what with")),
    }
}

/// `join(", ")` or tera's `join(sep=", ")`.
fn join(state: &State, value: Value, sep: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let sep = kwargs.get::<Option<String>>("sep")?.or(sep).unwrap_or_default();
    kwargs.assert_all_used()?;
    let _ = state;
    let mut parts = Vec::new();
    for item in value.try_iter()? {
        parts.push(item.to_string());
    }
    Ok(parts.join(&sep))
}

/// `truncate(20)` or tera's `truncate(length=20, end="…")`: at most `length` characters, then `end`.
fn truncate(value: String, length: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let length = kwargs.get::<Option<usize>>("length")?.or(length).unwrap_or(255);
    let end = kwargs.get::<Option<String>>("end")?.unwrap_or_else(|| "…".to_string());
    kwargs.assert_all_used()?;
    if value.chars().count() <= length {
        return Ok(value);
    }
    Ok(value.chars().take(length).collect::<String>() + &end)
}

/// `default("x")` or tera's `default(value="x")`: the value, or the default when it is undefined or none.
fn default(value: Value, fallback: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let fallback = kwargs.get::<Option<Value>>("value")?.or(fallback).unwrap_or_else(|| Value::from(""));
    kwargs.assert_all_used()?;
    Ok(if value.is_undefined() || value.is_none() { fallback } else { value })
}

/// `round` or tera's `round(method="ceil", precision=2)`.
fn round(value: f64, precision: Option<i32>, kwargs: Kwargs) -> Result<f64, Error> {
    let precision = kwargs.get::<Option<i32>>("precision")?.or(precision).unwrap_or(0).clamp(0, 12);
    let method = kwargs.get::<Option<String>>("method")?.unwrap_or_else(|| "common".into());
    kwargs.assert_all_used()?;
    let factor = 10f64.powi(precision);
    let scaled = value * factor;
    let r = match method.as_str() {
        "ceil" => scaled.ceil(),
        "floor" => scaled.floor(),
        _ => scaled.round(),
    };
    Ok(r / factor)
}

/// tera's `json_encode`: the value as JSON text (escaped like any other text where it is printed).
fn json_encode(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    let pretty = kwargs.get::<Option<bool>>("pretty")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let v = serde_json::to_value(&value).map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
    let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) };
    text.map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(source: &str, ctx: &str) -> Result<String, Failure> {
        render(BTreeMap::from([("t.html".to_string(), source.to_string())]), "t.html", ctx, 1 << 20, "p")
            .map(|r| r.html)
    }

    #[test]
    fn renders_escaped_with_tera_style_and_jinja_style_arguments() {
        let out = one(
            "{{ name }}|{{ s | replace(from='a', to='b') }}|{{ s | replace('a', 'c') }}|{{ xs | join(sep=', ') }}\
             |{{ xs | join('/') }}|{{ long | truncate(length=3, end='') }}|{{ missing | default(value='d') }}\
             |{{ 1.256 | round(precision=2) }}|{{ 0 | localtime(tz='Europe/Berlin') }}|{% for x in xs %}{{ loop.index }}{% endfor %}",
            r#"{"name":"<b>&","s":"aa","xs":["x","y"],"long":"abcdef"}"#,
        )
        .unwrap();
        assert_eq!(out, "&lt;b&gt;&amp;|bb|cc|x, y|x&#x2f;y|abc|d|1.26|1970-01-01 01:00 CET|12");
    }

    #[test]
    fn includes_resolve_among_the_plugins_templates_only() {
        let sources = BTreeMap::from([
            ("a.html".to_string(), "[{% include 'b.html' %}]".to_string()),
            ("b.html".to_string(), "b".to_string()),
            ("c.html".to_string(), "{% include '../../etc/passwd' %}".to_string()),
        ]);
        assert_eq!(render(sources.clone(), "a.html", "{}", 100, "p").unwrap().html, "[b]");
        assert!(matches!(render(sources, "c.html", "{}", 100, "p"), Err(Failure::Template(_))));
    }

    #[test]
    fn output_stops_at_its_cap() {
        let r = one("{% for i in range(1000) %}{% for j in range(1000) %}0123456789{% endfor %}{% endfor %}", "{}");
        assert_eq!(r, Err(Failure::TooLarge));
    }

    #[test]
    fn errors_name_the_template_and_line() {
        let e = check(BTreeMap::from([("bad.html".to_string(), "ok\n{% if %}".to_string())])).unwrap_err();
        assert!(e.contains("bad.html") && e.contains("line 2"), "{e}");
        let e = check(BTreeMap::from([("x.txt".to_string(), "".to_string())])).unwrap_err();
        assert!(e.contains("must end in .html"), "{e}");
    }

    #[test]
    fn charts_are_drawn_for_the_viewer_and_placed_after_sanitizing() {
        let source = "<p>{{ chart(kind='bar', title=t, categories=['A', 'B'], values=[1234.5, 2], style='money', \
                      currency='EUR') }}</p><pt-chart data-chart=\"9\"></pt-chart>";
        let r = render(
            BTreeMap::from([("t.html".to_string(), source.to_string())]),
            "t.html",
            r#"{"t":"<Pipeline>","viewer_locale":"de-DE","viewer_tz":"Europe/Berlin"}"#,
            1 << 20,
            "p",
        )
        .unwrap();
        assert_eq!(r.charts.len(), 1);
        assert!(r.charts[0].contains("&lt;Pipeline&gt;") && r.charts[0].contains("1.234,50\u{a0}€"), "{}", r.charts[0]);
        let clean = crate::markup::sanitize("p", &r.html);
        let page = place_charts(&clean, &r.charts);
        assert!(page.starts_with("<p><figure class=\"pt-chart pt-chart-bar\">"), "{page}");
        assert!(!page.contains("pt-chart data-chart"), "a marker naming no chart is dropped: {page}");
        // The same chart from two plugins' widgets, or twice in one template: ids of their own.
        let same = "{{ chart(kind='donut', title='Sync', categories=['A'], values=[0]) }}";
        let twice = format!("{same}{same}");
        let render_for = |plugin: &str, src: &str| {
            render(BTreeMap::from([("w.html".to_string(), src.to_string())]), "w.html", "{}", 1 << 20, plugin).unwrap()
        };
        let id = |svg: &str| svg.split("aria-labelledby=\"").nth(1).unwrap().split('-').next().unwrap().to_string();
        let (a, b) = (render_for("crm-hubspot", same), render_for("crm-dynamics", same));
        assert_ne!(id(&a.charts[0]), id(&b.charts[0]));
        let both = render_for("crm-hubspot", &twice);
        assert_ne!(id(&both.charts[0]), id(&both.charts[1]));
        assert_eq!(id(&render_for("crm-hubspot", same).charts[0]), id(&a.charts[0]), "stable from render to render");
        let bad = one("{{ chart(kind='pie') }}", "{}").unwrap_err();
        assert!(matches!(&bad, Failure::Template(m) if m.contains("chart: unknown variant")), "{bad:?}");
    }

    #[test]
    fn charts_count_against_the_output_cap() {
        let source = "{% for i in range(100) %}{{ chart(kind='bar', values=range(50)) }}{% endfor %}";
        let r = render(BTreeMap::from([("t.html".to_string(), source.to_string())]), "t.html", "{}", 64 << 10, "p");
        assert_eq!(r, Err(Failure::TooLarge));
    }
}
