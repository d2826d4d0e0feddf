//! The certificate as a PDF, made inside the plugin: A4 landscape, the issuer's name and colour, the learner, the
//! certification, the dates, the verification code and a QR code to the public verification page. The fonts
//! (Liberation Sans, SIL OFL 1.1, `fonts/LICENSE.txt`) are embedded, subset to the glyphs used, so the text can be
//! read back (copied, searched, extracted with `pdftotext`).

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

static REGULAR: &[u8] = include_bytes!("../fonts/LiberationSans-Regular.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/LiberationSans-Bold.ttf");

/// What a certificate says.
#[derive(Debug, Clone)]
pub struct Certificate<'a> {
    pub issuer: &'a str,
    pub learner: &'a str,
    pub organisation: &'a str,
    pub certification: &'a str,
    pub course: &'a str,
    pub issued: &'a str,
    pub expires: Option<&'a str>,
    pub code: &'a str,
    pub verify_url: &'a str,
    /// The issuer's colour (RGB).
    pub brand: (u8, u8, u8),
}

/// A `#rrggbb` colour, or none.
pub fn parse_colour(s: &str) -> Option<(u8, u8, u8)> {
    let h = s.trim().strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let c = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
    Some((c(0)?, c(2)?, c(4)?))
}

fn fill(c: (u8, u8, u8)) -> Fill {
    Fill { paint: rgb::Color::new(c.0, c.1, c.2).into(), opacity: NormalizedF32::ONE, rule: Default::default() }
}

/// The width of `text` at `size`, as krilla will lay it out (shaped, kerned).
fn width(font: &[u8], size: f32, text: &str) -> f32 {
    let Some(face) = rustybuzz::Face::from_slice(font, 0) else { return 0.0 };
    let mut buf = rustybuzz::UnicodeBuffer::new();
    buf.push_str(text);
    let out = rustybuzz::shape(&face, &[], buf);
    let advance: i32 = out.glyph_positions().iter().map(|p| p.x_advance).sum();
    advance as f32 * size / face.units_per_em() as f32
}

/// The page: A4 landscape, in points.
const W: f32 = 842.0;
const H: f32 = 595.0;
/// The widest a centred line may be.
const LINE: f32 = W - 160.0;

/// A font, and its bytes to measure text with.
struct Typeface {
    font: Font,
    data: &'static [u8],
}

impl Typeface {
    fn load(data: &'static [u8]) -> Result<Typeface, String> {
        Ok(Typeface { font: Font::new(data.to_vec().into(), 0).ok_or("a font")?, data })
    }

    /// Draws `text` centred on the page at baseline `y`, shrunk until it fits a line (a long name is made smaller,
    /// never cut).
    fn centred(&self, s: &mut Surface, size: f32, y: f32, text: &str) {
        let mut size = size;
        while size > 8.0 && width(self.data, size, text) > LINE {
            size -= 1.0;
        }
        let x = (W - width(self.data, size, text)) / 2.0;
        s.draw_text(Point::from_xy(x, y), self.font.clone(), size, text, false, TextDirection::Auto);
    }
}

/// The PDF's bytes.
pub fn render(c: &Certificate) -> Result<Vec<u8>, String> {
    let (w, h) = (W, H);
    let regular = Typeface::load(REGULAR)?;
    let bold = Typeface::load(BOLD)?;
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(format!("{} — {}", c.certification, c.learner))
            .creator(c.issuer.to_string())
            .language("en".into()),
    );
    let mut page = doc.start_page_with(PageSettings::from_wh(w, h).ok_or("the page size")?);
    let mut s = page.surface();

    // A border in the issuer's colour and a rule under the name.
    let mut pb = PathBuilder::new();
    pb.push_rect(Rect::from_xywh(24.0, 24.0, w - 48.0, h - 48.0).ok_or("the border")?);
    s.set_fill(None);
    s.set_stroke(Some(Stroke {
        paint: rgb::Color::new(c.brand.0, c.brand.1, c.brand.2).into(),
        width: 6.0,
        ..Default::default()
    }));
    s.draw_path(&pb.finish().ok_or("the border")?);
    let mut pb = PathBuilder::new();
    pb.move_to(160.0, 300.0);
    pb.line_to(w - 160.0, 300.0);
    s.set_stroke(Some(Stroke { width: 0.75, ..Default::default() }));
    s.draw_path(&pb.finish().ok_or("the rule")?);
    s.set_stroke(None);

    let ink = (40, 40, 40);
    s.set_fill(Some(fill(ink)));
    regular.centred(&mut s, 15.0, 96.0, c.issuer);
    s.set_fill(Some(fill(c.brand)));
    bold.centred(&mut s, 34.0, 168.0, "Certificate of completion");
    s.set_fill(Some(fill(ink)));
    regular.centred(&mut s, 14.0, 222.0, "This certifies that");
    bold.centred(&mut s, 30.0, 288.0, c.learner);
    if !c.organisation.is_empty() {
        regular.centred(&mut s, 13.0, 322.0, c.organisation);
    }
    regular.centred(&mut s, 14.0, 356.0, &format!("completed {} and holds the certification", c.course));
    bold.centred(&mut s, 20.0, 388.0, c.certification);
    let dates = match c.expires {
        Some(e) => format!("Issued {} · valid until {}", c.issued, e),
        None => format!("Issued {} · does not expire", c.issued),
    };
    regular.centred(&mut s, 12.0, 424.0, &dates);
    s.draw_text(
        Point::from_xy(48.0, h - 62.0),
        regular.font.clone(),
        11.0,
        &format!("Verification code: {}", c.code),
        false,
        TextDirection::Auto,
    );
    s.draw_text(Point::from_xy(48.0, h - 46.0), regular.font.clone(), 9.0, c.verify_url, false, TextDirection::Auto);

    // The QR code to the verification page, its dark modules as rectangles (runs in a row merged).
    let qr = qrcode::QrCode::with_error_correction_level(c.verify_url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| e.to_string())?;
    let n = qr.width();
    let modules = qr.to_colors();
    let side = 96.0_f32;
    let m = side / n as f32;
    let (ox, oy) = (w - 48.0 - side, h - 48.0 - side);
    let mut pb = PathBuilder::new();
    for y in 0..n {
        let mut x = 0;
        while x < n {
            if modules[y * n + x] != qrcode::Color::Dark {
                x += 1;
                continue;
            }
            let start = x;
            while x < n && modules[y * n + x] == qrcode::Color::Dark {
                x += 1;
            }
            let r = Rect::from_xywh(ox + start as f32 * m, oy + y as f32 * m, (x - start) as f32 * m, m);
            pb.push_rect(r.ok_or("a QR module")?);
        }
    }
    s.set_fill(Some(fill((0, 0, 0))));
    s.draw_path(&pb.finish().ok_or("the QR code")?);
    s.finish();
    page.finish();
    doc.finish().map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_renders_and_names_its_holder() {
        let pdf = render(&Certificate {
            issuer: "Acme Networks",
            learner: "Bob Ñúñez-Northwind",
            organisation: "Northwind Solutions",
            certification: "Certified Edge Router Associate",
            course: "Edge Router fundamentals",
            issued: "7 December 2026",
            expires: Some("7 December 2028"),
            code: "7QF3-M9XT-R2BK-D4HN",
            verify_url: "https://portal.example/p/lms/verify?code=7QF3-M9XT-R2BK-D4HN",
            brand: (29, 78, 216),
        })
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() < 200_000, "fonts are subset: {} bytes", pdf.len());
        assert_eq!(parse_colour("#1d4ed8"), Some((29, 78, 216)));
        assert_eq!(parse_colour("blue"), None);
    }
}
