//! The co-branded PDF, made inside the plugin with krilla: each page of the vendor's PDF drawn whole (embedded as
//! it is, vectors and fonts kept), then the partner's logo fitted into its box and the text areas wrapped, shrunk
//! as far as the area allows, or refused, never cut. The font (Liberation Sans, SIL OFL 1.1, `fonts/LICENSE.txt`)
//! is embedded, subset to the glyphs used, so the partner's name can be read back, searched and copied.

use std::collections::BTreeMap;
use std::sync::Arc;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{Point, Size, Transform};
use krilla::image::Image;
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::pdf::{Pdf, PdfDocument};
use krilla::text::{Font, TextDirection};

use crate::template::{ASCENT, Align, Area, Source, Template, fit, rgb as colour};

static REGULAR: &[u8] = include_bytes!("../fonts/LiberationSans-Regular.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/LiberationSans-Bold.ttf");

/// A font to draw with and its face to measure with.
struct Face {
    font: Font,
    shaper: rustybuzz::Face<'static>,
}

impl Face {
    fn load(data: &'static [u8]) -> Result<Face, String> {
        Ok(Face {
            font: Font::new(data.to_vec().into(), 0).ok_or("the font does not load")?,
            shaper: rustybuzz::Face::from_slice(data, 0).ok_or("the font does not parse")?,
        })
    }

    /// The width of `text` at `size`, as krilla lays it out (shaped, kerned).
    fn width(&self, text: &str, size: f32) -> f32 {
        let mut buf = rustybuzz::UnicodeBuffer::new();
        buf.push_str(text);
        let out = rustybuzz::shape(&self.shaper, &[], buf);
        let advance: i32 = out.glyph_positions().iter().map(|p| p.x_advance).sum();
        advance as f32 * size / self.shaper.units_per_em() as f32
    }
}

/// The fonts, loaded once for any number of documents (a batch).
pub struct Fonts {
    regular: Face,
    bold: Face,
}

impl Fonts {
    pub fn load() -> Result<Fonts, String> {
        Ok(Fonts { regular: Face::load(REGULAR)?, bold: Face::load(BOLD)? })
    }

    fn face(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

/// The vendor's PDF, parsed once.
pub struct Vendor {
    doc: PdfDocument,
    /// Each page's size in points, as shown (rotation applied).
    pub pages: Vec<(f32, f32)>,
}

/// Parses the vendor's PDF: refused in words a vendor understands when it cannot be used.
pub fn open(bytes: Vec<u8>) -> Result<Vendor, String> {
    let pdf = Pdf::new(bytes).map_err(|e| match format!("{e:?}") {
        s if s.contains("Encrypt") => {
            "The PDF is encrypted: save it without a password and upload it again.".to_string()
        }
        _ => "The file is not a PDF that can be read: save it again as PDF and upload it.".to_string(),
    })?;
    let pages: Vec<(f32, f32)> = pdf.pages().iter().map(|p| p.render_dimensions()).collect();
    if pages.is_empty() {
        return Err("The PDF has no pages.".into());
    }
    if pages.len() > 200 {
        return Err(format!("The PDF has {} pages; co-branded documents may have at most 200.", pages.len()));
    }
    Ok(Vendor { doc: PdfDocument::new(Arc::new(pdf)), pages })
}

/// A partner's logo, decoded once.
pub struct Logo(Image);

impl Logo {
    pub fn decode(content_type: &str, bytes: &[u8]) -> Result<Logo, String> {
        let data = bytes.to_vec().into();
        let image = match content_type {
            "image/png" => Image::from_png(data, true),
            "image/jpeg" => Image::from_jpeg(data, true),
            "image/gif" => Image::from_gif(data, true),
            "image/webp" => Image::from_webp(data, true),
            other => Err(format!("a logo cannot be {other}")),
        };
        image.map(Logo).map_err(|_| "The organisation's logo cannot be read as an image.".to_string())
    }
}

/// Why a document was not made: the area and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub area: String,
    pub message: String,
}

fn fill(c: (u8, u8, u8)) -> Fill {
    Fill { paint: rgb::Color::new(c.0, c.1, c.2).into(), opacity: NormalizedF32::ONE, rule: Default::default() }
}

/// Lays out every text area first, so nothing is drawn for a document that will be refused.
fn layout<'a>(
    fonts: &Fonts,
    t: &'a Template,
    text: &BTreeMap<String, String>,
) -> Result<Vec<(&'a Area, crate::template::Fitted)>, Refusal> {
    let mut out = Vec::new();
    for a in t.areas.iter().filter(|a| a.source != Source::Logo) {
        let Some(value) = text.get(&a.name).filter(|v| !v.trim().is_empty()) else { continue };
        let face = fonts.face(a.bold);
        let fitted = fit(a, value, &|s, size| face.width(s, size)).ok_or_else(|| Refusal {
            area: a.name.clone(),
            message: match a.source {
                Source::Text => format!(
                    "{} does not fit its space even at {} pt: shorten it or use fewer lines.",
                    a.label_or_name(),
                    a.min_size
                ),
                _ => format!(
                    "{} (“{}”) does not fit this template's space even at {} pt: ask the vendor to widen the area.",
                    a.label_or_name(),
                    value,
                    a.min_size
                ),
            },
        })?;
        out.push((a, fitted));
    }
    Ok(out)
}

/// The co-branded PDF: `text` holds each text area's value by name (profile fields and the partner's own),
/// `logo` the partner's logo (its areas left empty without one).
pub fn render(
    fonts: &Fonts,
    vendor: &Vendor,
    t: &Template,
    text: &BTreeMap<String, String>,
    logo: Option<&Logo>,
    title: &str,
) -> Result<Vec<u8>, Refusal> {
    let laid = layout(fonts, t, text)?;
    let mut doc = Document::new();
    doc.set_metadata(Metadata::new().title(title.to_string()).creator("Portico co-branding".into()));
    for (i, &(w, h)) in vendor.pages.iter().enumerate() {
        let n = i as u32 + 1;
        let settings = PageSettings::from_wh(w, h).ok_or_else(|| refusal("file", "A page of the PDF has no size."))?;
        let mut page = doc.start_page_with(settings);
        let mut s = page.surface();
        s.draw_pdf_page(&vendor.doc, Size::from_wh(w, h).expect("a page has a size"), i);
        if let Some(Logo(image)) = logo {
            for a in t.areas.iter().filter(|a| a.source == Source::Logo && a.page == n) {
                // Fitted into the box, its proportions kept, aligned as the area says and centred vertically.
                let (iw, ih) = image.size();
                let scale = (a.w / iw.max(1) as f32).min(a.h / ih.max(1) as f32);
                let (dw, dh) = (iw as f32 * scale, ih as f32 * scale);
                let dx = match a.align {
                    Align::Left => 0.0,
                    Align::Center => (a.w - dw) / 2.0,
                    Align::Right => a.w - dw,
                };
                let Some(size) = Size::from_wh(dw, dh) else { continue };
                s.push_transform(&Transform::from_translate(a.x + dx, a.y + (a.h - dh) / 2.0));
                s.draw_image(image.clone(), size);
                s.pop();
            }
        }
        for (a, f) in laid.iter().filter(|(a, _)| a.page == n) {
            let face = fonts.face(a.bold);
            s.set_fill(Some(fill(colour(&a.color))));
            for (k, line) in f.lines.iter().enumerate() {
                let lw = face.width(line, f.size);
                let dx = match a.align {
                    Align::Left => 0.0,
                    Align::Center => (a.w - lw) / 2.0,
                    Align::Right => a.w - lw,
                };
                let baseline = a.y + f.size * ASCENT + k as f32 * f.size * crate::template::LEADING;
                s.draw_text(
                    Point::from_xy(a.x + dx, baseline),
                    face.font.clone(),
                    f.size,
                    line,
                    false,
                    TextDirection::Auto,
                );
            }
        }
        s.finish();
        page.finish();
    }
    doc.finish().map_err(|e| match format!("{e:?}") {
        s if s.contains("VersionMismatch") => {
            refusal("file", "The PDF is version 2.0: save it as PDF 1.7 or older and upload it again.")
        }
        _ => refusal("file", "The vendor's PDF could not be drawn: save it again as PDF and upload it."),
    })
}

fn refusal(area: &str, message: &str) -> Refusal {
    Refusal { area: area.into(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Kind;

    /// A one-page PDF (Helvetica) saying `words`.
    pub fn vendor_pdf(words: &str) -> Vec<u8> {
        let stream = format!("BT /F1 18 Tf 72 720 Td ({words}) Tj ET");
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_string(),
            format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
        ];
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
        );
        out
    }

    fn template() -> Template {
        Template {
            name: "Flyer".into(),
            kind: Kind::Pdf,
            pages: vec![(612.0, 792.0)],
            areas: vec![Area {
                name: "company".into(),
                x: 72.0,
                y: 100.0,
                w: 200.0,
                h: 30.0,
                size: 18.0,
                min_size: 12.0,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_vendors_page_and_the_partners_name_are_both_in_the_pdf() {
        let vendor = open(vendor_pdf("Cloud Firewall")).unwrap();
        assert_eq!(vendor.pages, vec![(612.0, 792.0)]);
        let fonts = Fonts::load().unwrap();
        let text = BTreeMap::from([("company".to_string(), "Northwind Solutions".to_string())]);
        let pdf = render(&fonts, &vendor, &template(), &text, None, "Flyer").unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        // The vendor's page is embedded as a form XObject, its font with it.
        let raw = String::from_utf8_lossy(&pdf);
        assert!(raw.contains("/XObject") && raw.contains("Helvetica"), "the vendor's page is not embedded");
    }

    #[test]
    fn text_that_cannot_fit_refuses_the_document() {
        let vendor = open(vendor_pdf("x")).unwrap();
        let fonts = Fonts::load().unwrap();
        let long = "Northwind Solutions International Holdings Limited of Greater Seattle and the Pacific Northwest";
        let text = BTreeMap::from([("company".to_string(), long.to_string())]);
        let r = render(&fonts, &vendor, &template(), &text, None, "Flyer").unwrap_err();
        assert_eq!(r.area, "company");
        assert!(r.message.contains("does not fit"), "{r:?}");
    }

    #[test]
    fn what_is_not_a_pdf_is_refused_in_words() {
        assert!(open(b"hello".to_vec()).err().unwrap().contains("not a PDF"));
    }
}
