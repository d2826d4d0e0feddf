//! Thumbnails of uploaded images (PNG, JPEG, GIF, WebP), made inside the plugin: at most 480 × 320, the picture's
//! proportions kept, as PNG. Images larger than the decoder's limits (16,000 pixels a side, 96 MiB decoded) get
//! none; nor do other types (a vendor may upload a thumbnail for them).

use std::io::Cursor;

/// The largest side of a thumbnail.
const WIDTH: u32 = 480;
const HEIGHT: u32 = 320;

/// A PNG thumbnail of an image's bytes, if they are an image the decoder reads within its limits.
pub fn make(bytes: &[u8]) -> Option<Vec<u8>> {
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
        let thumb = image::load_from_memory(&make(&png).unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (480, 240));
        assert_eq!(make(b"%PDF-1.7 not an image"), None);
    }
}
