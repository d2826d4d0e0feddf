//! Plugin markup is untrusted: every page, widget and fragment a plugin renders passes through this sanitizer
//! (ammonia, on html5ever's parser) before it reaches a browser. What survives is markup: text, structure, forms,
//! links and images, the `data-pt-*` attributes that drive the host's behaviour script, and stylesheets from the
//! plugin's own package. No script in any form (elements, event handlers, `javascript:` URLs, SVG or MathML),
//! no `<base>`, `<meta>`, frames, objects or inline styles, and no form or button that posts anywhere but the
//! plugin's own routes. The Content-Security-Policy says the same a second time, in the browser.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ammonia::{Builder, UrlRelative};

/// Elements plugin markup may use.
const TAGS: &[&str] = &[
    "a",
    "abbr",
    "address",
    "article",
    "aside",
    "audio",
    "b",
    "bdi",
    "bdo",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "data",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "label",
    "legend",
    "li",
    "link",
    "main",
    "mark",
    "meter",
    "nav",
    "ol",
    "optgroup",
    "option",
    "output",
    "p",
    "picture",
    "pre",
    // The marker `chart()` leaves where the host places a chart after sanitizing (see templates::place_charts).
    "pt-chart",
    "progress",
    "q",
    "s",
    "samp",
    "section",
    "select",
    "small",
    "source",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "track",
    "u",
    "ul",
    "var",
    "video",
    "wbr",
    "button",
];

/// Attributes every element may carry (besides `aria-*` and `data-*`).
const GENERIC: &[&str] = &["class", "id", "title", "lang", "dir", "role", "hidden", "tabindex"];

/// Attributes by element.
const BY_TAG: &[(&str, &[&str])] = &[
    ("a", &["href", "hreflang", "rel", "download"]),
    ("img", &["src", "alt", "width", "height", "loading", "decoding", "srcset", "sizes"]),
    ("source", &["src", "srcset", "type", "media", "sizes"]),
    // Media the portal serves (`/files/…` links a plugin made, or its own static files), with the browser's own
    // controls; never autoplay.
    ("video", &["src", "poster", "controls", "preload", "width", "height", "playsinline", "muted", "loop"]),
    ("audio", &["src", "controls", "preload", "loop"]),
    ("track", &["src", "kind", "srclang", "label", "default"]),
    ("link", &["rel", "href"]),
    ("form", &["action", "method", "enctype", "novalidate", "autocomplete", "accept-charset"]),
    (
        "input",
        &[
            "type",
            "name",
            "value",
            "checked",
            "disabled",
            "readonly",
            "required",
            "placeholder",
            "min",
            "max",
            "step",
            "pattern",
            "maxlength",
            "minlength",
            "multiple",
            "size",
            "autocomplete",
            "inputmode",
            "accept",
            "list",
            "spellcheck",
            "autofocus",
        ],
    ),
    ("button", &["type", "name", "value", "disabled"]),
    ("select", &["name", "multiple", "required", "disabled", "size", "autocomplete"]),
    ("option", &["value", "selected", "disabled", "label"]),
    ("optgroup", &["label", "disabled"]),
    (
        "textarea",
        &[
            "name",
            "rows",
            "cols",
            "placeholder",
            "required",
            "disabled",
            "readonly",
            "maxlength",
            "minlength",
            "wrap",
            "spellcheck",
        ],
    ),
    ("label", &["for"]),
    ("fieldset", &["disabled", "name"]),
    ("output", &["for", "name"]),
    ("meter", &["value", "min", "max", "low", "high", "optimum"]),
    ("progress", &["value", "max"]),
    ("td", &["colspan", "rowspan", "headers"]),
    ("th", &["colspan", "rowspan", "headers", "scope", "abbr"]),
    ("col", &["span"]),
    ("colgroup", &["span"]),
    ("ol", &["start", "reversed", "type"]),
    ("li", &["value"]),
    ("time", &["datetime"]),
    ("data", &["value"]),
    ("del", &["datetime"]),
    ("ins", &["datetime"]),
    ("details", &["open", "name"]),
    ("q", &["cite"]),
    ("blockquote", &["cite"]),
];

/// Attributes the host sets on the element around plugin markup; markup that carries them could pass itself off as
/// another plugin's to the behaviour script.
const HOST_ONLY: &[&str] = &["data-pt-plugin", "data-pt-bridge", "data-pt-widget"];

/// Sanitizes the markup of plugin `plugin_id`.
pub fn sanitize(plugin_id: &str, html: &str) -> String {
    builder(plugin_id).clean(html).to_string()
}

fn builder(plugin_id: &str) -> Builder<'static> {
    let mut b = Builder::empty();
    b.tags(TAGS.iter().copied().collect())
        .clean_content_tags(
            ["script", "style", "template", "iframe", "object", "embed", "noscript", "svg", "math"]
                .into_iter()
                .collect(),
        )
        .generic_attributes(GENERIC.iter().copied().collect())
        .generic_attribute_prefixes(["aria-", "data-"].into_iter().collect())
        .tag_attributes(
            BY_TAG.iter().map(|(t, a)| (*t, a.iter().copied().collect::<HashSet<_>>())).collect::<HashMap<_, _>>(),
        )
        .url_schemes(["http", "https", "mailto", "tel", "data"].into_iter().collect())
        .url_relative(UrlRelative::PassThrough)
        .link_rel(None)
        .strip_comments(true);
    let own = Own::new(plugin_id);
    b.attribute_filter(move |element, attribute, value| own.filter(element, attribute, value));
    b
}

/// The plugin's own paths, which form actions, stylesheets and behaviour attributes may name.
struct Own {
    page: String,
    page_exact: String,
    api: String,
    statics: String,
    frames: String,
}

impl Own {
    fn new(id: &str) -> Self {
        Own {
            page: format!("/p/{id}/"),
            page_exact: format!("/p/{id}"),
            api: format!("/api/v1/p/{id}/"),
            statics: format!("/plugin-static/{id}/"),
            frames: format!("/plugin-frame/{id}/"),
        }
    }

    fn filter<'u>(&self, element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
        let keep = || Some(Cow::Borrowed(value));
        if HOST_ONLY.contains(&attribute) {
            return None;
        }
        match (element, attribute) {
            ("form", "action") => (value.is_empty() || self.is_page(value)).then(keep).flatten(),
            ("form", "method") => matches!(value.to_ascii_lowercase().as_str(), "get" | "post").then(keep).flatten(),
            ("form", "enctype") => matches!(
                value.to_ascii_lowercase().as_str(),
                "application/x-www-form-urlencoded" | "multipart/form-data"
            )
            .then(keep)
            .flatten(),
            // A stylesheet of the plugin's own package, nothing else a <link> can do (preload, prefetch, icons).
            ("link", "rel") => value.eq_ignore_ascii_case("stylesheet").then(keep).flatten(),
            ("link", "href") => {
                (clean_path(value) && value.starts_with(&self.statics) && value.ends_with(".css")).then(keep).flatten()
            }
            // Links go anywhere a person may follow, but never to a data: document.
            ("a", "href") => (!value.trim_start().to_ascii_lowercase().starts_with("data:")).then(keep).flatten(),
            // Images: the portal's own, or inline raster data.
            ("img", "src") => {
                let v = value.trim_start().to_ascii_lowercase();
                let raster = ["data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp"];
                (v.starts_with('/') && !v.starts_with("//") || raster.iter().any(|r| v.starts_with(r)))
                    .then(keep)
                    .flatten()
            }
            ("video" | "audio" | "source" | "track", "src") | ("video", "poster") => (clean_path(value)
                && (value.starts_with("/files/") || value.starts_with(&self.statics)))
            .then(keep)
            .flatten(),
            ("img", "srcset") | ("source", "srcset") => {
                value.split(',').all(|c| c.trim().starts_with('/') && !c.trim().starts_with("//")).then(keep).flatten()
            }
            ("input", "type") => (!value.eq_ignore_ascii_case("image")).then(keep).flatten(),
            (_, "data-pt-get") => self.is_page(value).then(keep).flatten(),
            (_, "data-pt-frame") => (clean_path(value) && value.starts_with(&self.frames)).then(keep).flatten(),
            _ => keep(),
        }
    }

    /// A path among the plugin's pages or JSON routes, with nothing that a browser would resolve elsewhere.
    fn is_page(&self, value: &str) -> bool {
        let path = value.split(['?', '#']).next().unwrap_or_default();
        clean_path(value) && (path == self.page_exact || path.starts_with(&self.page) || path.starts_with(&self.api))
    }
}

/// An absolute path on this portal that no browser reads as another origin or another directory: starts with one
/// `/`, no backslash, no `..` or `.` segment (raw or percent-encoded), no control characters or whitespace.
pub fn clean_path(value: &str) -> bool {
    let path = value.split(['?', '#']).next().unwrap_or_default();
    value.starts_with('/')
        && !value.starts_with("//")
        && !value.contains('\\')
        && !value.chars().any(|c| c.is_control() || c.is_whitespace())
        && !path.to_ascii_lowercase().contains("%2e")
        && !path.to_ascii_lowercase().contains("%2f")
        && !path.to_ascii_lowercase().contains("%5c")
        && path.split('/').all(|seg| seg != ".." && seg != ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(html: &str) -> String {
        sanitize("notes", html)
    }

    #[test]
    fn media_plays_only_what_the_portal_serves() {
        let out = clean(
            "<video controls autoplay src=\"/files/tok.sig/intro.mp4\" poster=\"https://evil.example/x.png\" onplay=\"x()\">\
             <source src=\"https://evil.example/v.mp4\" type=\"video/mp4\"><track kind=\"captions\" src=\"/files/t.s/en.vtt\" srclang=\"en\"></video>\
             <audio controls src=\"/files/../admin\"></audio>",
        );
        assert!(out.contains("<video controls=\"\" src=\"/files/tok.sig/intro.mp4\">"), "{out}");
        assert!(out.contains("<track kind=\"captions\" src=\"/files/t.s/en.vtt\" srclang=\"en\">"), "{out}");
        for gone in ["autoplay", "evil.example", "onplay", "/files/../admin"] {
            assert!(!out.contains(gone), "{gone} kept: {out}");
        }
    }

    #[test]
    fn script_in_every_form_is_removed() {
        for attack in [
            "<script>alert(1)</script>",
            "<img src=/x.png onerror=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\" JaVaScRiPt:alert(1)\">x</a>",
            "<svg onload=alert(1)><script>alert(1)</script></svg>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<iframe src=\"/admin\"></iframe>",
            "<object data=\"/x.swf\"></object><embed src=\"/x\">",
            "<base href=\"https://evil.example/\">",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
            "<div style=\"background:url(/p/notes/beacon)\">x</div>",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "<form action=\"/admin/users\" method=post><button formaction=\"/admin/x\">go</button></form>",
            "<link rel=\"import\" href=\"/plugin-static/notes/x.html\"><link rel=stylesheet href=\"/static/x.css\">",
            "<input type=image src=/x.png formaction=/admin>",
            "<template><script>alert(1)</script></template><noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
            "<!-- <script>alert(1)</script> -->",
        ] {
            let out = clean(attack);
            let lower = out.to_ascii_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onload",
                "javascript:",
                "<iframe",
                "<object",
                "<embed",
                "<base",
                "<meta",
                "style=",
                "/admin",
                "formaction",
                "<svg",
                "<math",
                "data:text",
                "<!--",
                "x.html",
                "/static/x.css",
            ] {
                assert!(!lower.contains(bad), "{attack} became {out}");
            }
        }
    }

    #[test]
    fn ordinary_markup_survives() {
        let html = "<section class=\"card\"><h1 id=t>Notes</h1><p>Hello <strong>you</strong> &amp; <a href=\"/p/notes/1\">one</a></p>\
            <form method=\"post\" action=\"/p/notes/new\"><input type=\"hidden\" name=\"csrf_token\" value=\"t\">\
            <label for=\"n\">Note</label><textarea id=\"n\" name=\"note\" rows=\"3\" required></textarea>\
            <select name=\"k\"><option value=\"a\" selected>A</option></select><button type=\"submit\">Save</button></form>\
            <div data-pt-get=\"/p/notes/hint\" data-pt-target=\"#h\" aria-live=\"polite\" id=\"h\"></div>\
            <link rel=\"stylesheet\" href=\"/plugin-static/notes/app.css\"><img src=\"/plugin-static/notes/a.png\" alt=\"A\"></section>";
        let out = clean(html);
        for kept in [
            "action=\"/p/notes/new\"",
            "name=\"csrf_token\"",
            "required",
            "data-pt-get=\"/p/notes/hint\"",
            "aria-live=\"polite\"",
            "href=\"/plugin-static/notes/app.css\"",
            "<strong>you</strong>",
            "selected",
        ] {
            assert!(out.contains(kept), "{kept} missing from {out}");
        }
    }

    #[test]
    fn markup_cannot_pass_for_another_plugin_or_reach_its_routes() {
        let out = clean(
            "<div data-pt-plugin=\"other\" data-pt-bridge=\"x\"><a data-pt-get=\"/p/other/x\">a</a>\
             <a data-pt-get=\"/p/notes/../other/x\">b</a><form action=\"/p/other/x\"></form>\
             <form action=\"/p/notes/%2e%2e/other\"></form><form action=\"/p/notes\\\\..\"></form></div>",
        );
        for bad in ["data-pt-plugin", "data-pt-bridge", "/p/other", "%2e", "\\"] {
            assert!(!out.contains(bad), "{bad} in {out}");
        }
    }

    #[test]
    fn clean_paths_are_what_browsers_read_as_this_origin() {
        for good in ["/p/x", "/p/x/a?b=c/../d", "/"] {
            assert!(clean_path(good), "{good}");
        }
        for bad in
            ["//evil.example", "/\\evil.example", "https://evil.example", "/a/../b", "/a/%2E%2E/b", "/a\tb", "a/b", ""]
        {
            assert!(!clean_path(bad), "{bad}");
        }
    }
}
