//! The text of an uploaded document, extracted inside the plugin for search: plain text and CSV as they are,
//! Markdown without its markup, HTML without its tags (script and style dropped), PDF through its text operators.
//! Other types have no text. At most [`MAX_CHARS`] characters are kept.

/// Most characters of a document's text the index keeps.
pub const MAX_CHARS: usize = 200_000;

pub fn text(content_type: &str, filename: &str, bytes: &[u8]) -> String {
    let ct = content_type.split(';').next().unwrap_or_default().trim();
    let name = filename.to_ascii_lowercase();
    let out = match ct {
        "application/pdf" => pdf_extract::extract_text_from_mem(bytes).unwrap_or_default(),
        "text/html" => html2text::from_read(bytes, 200).unwrap_or_default(),
        "text/plain" | "text/csv" if name.ends_with(".md") || name.ends_with(".markdown") => {
            markdown(&String::from_utf8_lossy(bytes))
        }
        "text/plain" | "text/csv" => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    let out: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    out.chars().take(MAX_CHARS).collect()
}

fn markdown(md: &str) -> String {
    use pulldown_cmark::{Event, Parser};
    let mut out = String::new();
    for e in Parser::new(md) {
        match e {
            Event::Text(t) | Event::Code(t) => {
                out.push_str(&t);
                out.push(' ');
            }
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_comes_out_of_each_kind() {
        assert_eq!(text("text/plain", "a.txt", b"Hello  \n world"), "Hello world");
        assert_eq!(text("text/plain", "a.md", b"# Title\n\n*bold* `code`"), "Title bold code");
        let html = text(
            "text/html",
            "a.html",
            b"<html><head><style>p{}</style><script>x()</script></head><body><p>Visible words</p></body></html>",
        );
        assert!(html.contains("Visible words") && !html.contains("x()"), "{html}");
        assert_eq!(text("image/png", "a.png", b"\x89PNG"), "");
    }
}
