//! Co-branded HTML pages and emails: the vendor's HTML with each `{{area}}` placeholder replaced by the partner's
//! value, escaped (a partner's name or text is never markup), line breaks kept, and the logo as an image embedded
//! in the file so it stands alone.

use std::collections::BTreeMap;

use base64::Engine;

use crate::template::{Kind, Source, Template, placeholders};

/// Text made safe inside HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Replaces every `{{ name }}` of `src` by what `value` gives for it (already safe for where it goes).
fn substitute(src: &str, value: &dyn Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        out.push_str(&rest[..i]);
        out.push_str(&value(after[..j].trim()));
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

/// The logo's `src`: a data URL of its bytes (so the file stands alone), or the URL given.
pub enum LogoSrc<'a> {
    Bytes(&'a str, &'a [u8]),
    Url(&'a str),
}

/// The subject of an email template filled in (plain text).
pub fn subject(t: &Template, text: &BTreeMap<String, String>) -> String {
    substitute(&t.subject, &|name| text.get(name).map(|v| v.replace('\n', " ")).unwrap_or_default())
}

/// The co-branded HTML: the template's body with its placeholders filled. A whole document (the template's own
/// `<html>`, or one made around a fragment, titled with the email's subject).
pub fn render(t: &Template, text: &BTreeMap<String, String>, logo: Option<LogoSrc>, company: &str) -> String {
    let logo_src = logo.map(|l| match l {
        LogoSrc::Bytes(ct, bytes) => {
            format!("data:{ct};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        LogoSrc::Url(u) => u.to_string(),
    });
    let value = |name: &str| -> String {
        match t.areas.iter().find(|a| a.name == name) {
            Some(a) if a.source == Source::Logo => match &logo_src {
                Some(src) => format!(
                    "<img src=\"{}\" alt=\"{}\" style=\"max-width:{}px;max-height:{}px\">",
                    escape(src),
                    escape(company),
                    if a.w > 0.0 { a.w } else { 240.0 },
                    if a.h > 0.0 { a.h } else { 80.0 }
                ),
                None => String::new(),
            },
            Some(_) => escape(text.get(name).map(String::as_str).unwrap_or_default()).replace('\n', "<br>"),
            None => String::new(),
        }
    };
    let body = substitute(&t.body, &value);
    if body.trim_start().to_ascii_lowercase().starts_with("<!doctype") || body.contains("<html") {
        return body;
    }
    let title = if t.kind == Kind::Email { subject(t, text) } else { t.name.clone() };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n<title>{}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        escape(&title)
    )
}

/// The names an HTML template's body and subject use.
pub fn used(t: &Template) -> Vec<String> {
    let mut v = placeholders(&t.body);
    v.extend(placeholders(&t.subject));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Area;

    fn template() -> Template {
        Template {
            name: "Welcome".into(),
            kind: Kind::Email,
            subject: "News from {{company}}".into(),
            body: "<h1>{{ company }}</h1>{{logo}}<p>{{note}}</p>".into(),
            areas: vec![
                Area { name: "company".into(), ..Default::default() },
                Area { name: "logo".into(), source: Source::Logo, w: 200.0, h: 60.0, ..Default::default() },
                Area { name: "note".into(), source: Source::Text, ..Default::default() },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn partner_text_is_escaped_and_never_markup() {
        let text = BTreeMap::from([
            ("company".to_string(), "Fabrikam <script>alert(1)</script> & Co".to_string()),
            ("note".to_string(), "Line one\n\"quoted\" <b>bold</b>".to_string()),
        ]);
        let html = render(&template(), &text, None, "Fabrikam");
        assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
        assert!(html.contains("<h1>Fabrikam &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co</h1>"), "{html}");
        assert!(html.contains("Line one<br>&quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt;"), "{html}");
        assert!(html.contains("<title>News from Fabrikam &lt;script&gt;"), "{html}");
        assert_eq!(subject(&template(), &text), "News from Fabrikam <script>alert(1)</script> & Co");
    }

    #[test]
    fn the_logo_is_embedded_with_the_company_as_its_text() {
        let text = BTreeMap::from([("company".to_string(), "Northwind".to_string())]);
        let html = render(&template(), &text, Some(LogoSrc::Bytes("image/png", b"\x89PNG")), "North\"wind");
        assert!(html.contains("<img src=\"data:image/png;base64,iVBORw==\" alt=\"North&quot;wind\""), "{html}");
        // Without a logo the placeholder is simply empty.
        assert!(!render(&template(), &text, None, "N").contains("<img"));
    }
}
