//! Thumbnails made inside the plugin, at most 480 × 320 with the proportions kept, as PNG: of uploaded images (PNG,
//! JPEG, GIF, WebP) and of the first page of uploaded PDFs (rendered by hayro, a PDF rasteriser in safe Rust, with
//! its embedded standard fonts). Images larger than the decoder's limits (16,000 pixels a side, 96 MiB decoded) and
//! PDFs that do not parse (or are encrypted) get none; nor do other types (a vendor may upload a thumbnail for them).

use std::io::Cursor;

/// The largest side of a thumbnail.
const WIDTH: u32 = 480;
const HEIGHT: u32 = 320;

/// Whether a thumbnail can be made of a file of this type.
pub fn can_make(content_type: &str) -> bool {
    content_type == "application/pdf" || content_type.starts_with("image/")
}

/// A PNG thumbnail of a file's bytes, by its type (as the host judged it from the content).
pub fn make(content_type: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    match content_type {
        "application/pdf" => pdf_first_page(bytes),
        t if t.starts_with("image/") => image(bytes),
        _ => None,
    }
}

/// The first page of a PDF, scaled to fit the thumbnail on a white ground.
fn pdf_first_page(bytes: &[u8]) -> Option<Vec<u8>> {
    use hayro::hayro_interpret::InterpreterSettings;
    let pdf = hayro::hayro_syntax::Pdf::new(bytes.to_vec()).ok()?;
    let page = pdf.pages().first()?;
    let (w, h) = page.render_dimensions();
    let scale = (WIDTH as f32 / w).min(HEIGHT as f32 / h);
    if !scale.is_finite() || scale <= 0.0 {
        return None;
    }
    let settings = hayro::RenderSettings {
        x_scale: scale,
        y_scale: scale,
        bg_color: hayro::vello_cpu::color::palette::css::WHITE,
        ..Default::default()
    };
    let pixmap = hayro::render(page, &hayro::RenderCache::new(), &InterpreterSettings::default(), &settings);
    pixmap.into_png().ok()
}

/// An image, if the decoder reads it within its limits.
fn image(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_000);
    limits.max_image_height = Some(16_000);
    limits.max_alloc = Some(96 << 20);
    reader.limits(limits);
    let img = reader.decode().ok()?;
    let small = if img.width() > WIDTH || img.height() > HEIGHT { img.thumbnail(WIDTH, HEIGHT) } else { img };
    let mut out = Vec::new();
    small.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_image_becomes_a_small_png_and_other_bytes_none() {
        let big = image::RgbImage::from_fn(1200, 600, |x, _| image::Rgb([(x % 256) as u8, 80, 160]));
        let mut png = Vec::new();
        big.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let thumb = image::load_from_memory(&make("image/png", &png).unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (480, 240));
        assert_eq!(make("image/png", b"%PDF-1.7 not an image"), None);
        assert_eq!(make("application/pdf", b"%PDF-1.7 not a PDF either"), None);
        assert_eq!(make("text/plain", b"hello"), None);
    }

    #[test]
    fn a_pdfs_first_page_becomes_a_thumbnail_that_shows_it() {
        // An A4 page (595 × 842 points) filled black but for a white margin.
        let pdf = one_page_pdf(b"0 0 0 rg 100 100 395 642 re f");
        let thumb = image::load_from_memory(&make("application/pdf", &pdf).unwrap()).unwrap().to_rgb8();
        assert_eq!(thumb.height(), 320);
        assert!((225..=227).contains(&thumb.width()), "width {}", thumb.width());
        assert_eq!(thumb.get_pixel(2, 2).0, [255, 255, 255], "the margin is white");
        let (cx, cy) = (thumb.width() / 2, thumb.height() / 2);
        assert_eq!(thumb.get_pixel(cx, cy).0, [0, 0, 0], "the drawing is there");
    }

    /// A minimal PDF of one A4 page with the given content stream, its cross-reference table computed.
    fn one_page_pdf(content: &[u8]) -> Vec<u8> {
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>".to_string(),
            format!("<< /Length {} >>\nstream\n{}\nendstream", content.len(), String::from_utf8_lossy(content)),
        ];
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).bytes());
        }
        let xref = out.len();
        out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
        for off in offsets {
            out.extend(format!("{off:010} 00000 n \n").bytes());
        }
        out.extend(
            format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).bytes(),
        );
        out
    }
}
