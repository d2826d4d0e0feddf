//! Scratch: a certificate PDF (krilla + qrcode) and Markdown rendering (pulldown-cmark + ammonia), built both
//! natively and for wasm32-wasip2, the latter optionally as a Portico plugin component.

#[cfg(feature = "pdf")]
pub mod cert {
    use krilla::color::rgb;
    use krilla::geom::{PathBuilder, Point, Rect, Size};
    use krilla::image::Image;
    use krilla::metadata::Metadata;
    use krilla::num::NormalizedF32;
    use krilla::page::PageSettings;
    use krilla::paint::{Fill, Stroke};
    use krilla::text::Font;
    #[cfg(feature = "shape")]
    use krilla::text::TextDirection;
    use krilla::Document;

    static REGULAR: &[u8] = include_bytes!("../assets/LiberationSans-Regular-subset.ttf");
    static BOLD: &[u8] = include_bytes!("../assets/LiberationSans-Bold-subset.ttf");

    pub struct Certificate<'a> {
        pub learner: &'a str,
        pub certification: &'a str,
        pub vendor: &'a str,
        pub issued: &'a str,
        pub expires: Option<&'a str>,
        pub code: &'a str,
        pub verify_url: &'a str,
        pub logo_png: Option<&'a [u8]>,
        pub brand: (u8, u8, u8),
    }

    /// Advance width of `text` in points, shaped with rustybuzz (the shaper krilla uses).
    #[cfg(feature = "shape")]
    fn width(font: &[u8], size: f32, text: &str) -> f32 {
        let face = rustybuzz::Face::from_slice(font, 0).expect("font");
        let mut buf = rustybuzz::UnicodeBuffer::new();
        buf.push_str(text);
        let out = rustybuzz::shape(&face, &[], buf);
        let adv: i32 = out.glyph_positions().iter().map(|p| p.x_advance).sum();
        adv as f32 * size / face.units_per_em() as f32
    }

    /// Without a shaper: one glyph per character from the cmap, advances from hmtx (no kerning, no ligatures),
    /// enough for Latin, Greek and Cyrillic names.
    #[cfg(not(feature = "shape"))]
    fn glyphs(font: &[u8], text: &str) -> Vec<krilla::text::KrillaGlyph> {
        use skrifa::MetadataProvider;
        let f = skrifa::FontRef::new(font).expect("font");
        let cmap = f.charmap();
        let upem = f.metrics(skrifa::instance::Size::unscaled(), skrifa::instance::LocationRef::default()).units_per_em as f32;
        let gm = f.glyph_metrics(skrifa::instance::Size::unscaled(), skrifa::instance::LocationRef::default());
        text.char_indices()
            .map(|(i, ch)| {
                let gid = cmap.map(ch).unwrap_or_default();
                krilla::text::KrillaGlyph {
                    glyph_id: krilla::text::GlyphId::new(gid.to_u32()),
                    text_range: i..i + ch.len_utf8(),
                    x_advance: gm.advance_width(gid).unwrap_or(0.0) / upem,
                    x_offset: 0.0,
                    y_offset: 0.0,
                    y_advance: 0.0,
                    location: None,
                }
            })
            .collect()
    }

    #[cfg(not(feature = "shape"))]
    fn width(font: &[u8], size: f32, text: &str) -> f32 {
        glyphs(font, text).iter().map(|g| g.x_advance * size).sum()
    }

    fn text(s: &mut krilla::surface::Surface, font: &Font, data: &[u8], size: f32, at: Point, t: &str) {
        #[cfg(feature = "shape")]
        {
            let _ = data;
            s.draw_text(at, font.clone(), size, t, false, TextDirection::Auto);
        }
        #[cfg(not(feature = "shape"))]
        s.draw_glyphs(at, &glyphs(data, t), font.clone(), t, size, false);
    }

    fn fill(c: (u8, u8, u8)) -> Fill {
        Fill { paint: rgb::Color::new(c.0, c.1, c.2).into(), opacity: NormalizedF32::ONE, rule: Default::default() }
    }

    pub fn render(c: &Certificate) -> Result<Vec<u8>, String> {
        let (w, h) = (842.0_f32, 595.0_f32); // A4 landscape, points
        let regular = Font::new(REGULAR.to_vec().into(), 0).ok_or("regular font")?;
        let bold = Font::new(BOLD.to_vec().into(), 0).ok_or("bold font")?;
        let mut doc = Document::new();
        doc.set_metadata(
            Metadata::new()
                .title(format!("{} — {}", c.certification, c.learner))
                .creator("Portico LMS".into())
                .language("en".into()),
        );
        let mut page = doc.start_page_with(PageSettings::from_wh(w, h).ok_or("page")?);
        let mut s = page.surface();

        // Frame: a brand-coloured border (stroked rectangle) and a thin inner rule.
        let mut pb = PathBuilder::new();
        pb.push_rect(Rect::from_xywh(24.0, 24.0, w - 48.0, h - 48.0).ok_or("rect")?);
        let border = pb.finish().ok_or("path")?;
        s.set_fill(None);
        s.set_stroke(Some(Stroke { paint: rgb::Color::new(c.brand.0, c.brand.1, c.brand.2).into(), width: 6.0, ..Default::default() }));
        s.draw_path(&border);
        let mut pb = PathBuilder::new();
        pb.move_to(120.0, 300.0);
        pb.line_to(w - 120.0, 300.0);
        let rule = pb.finish().ok_or("path")?;
        s.set_stroke(Some(Stroke { width: 0.75, ..Default::default() }));
        s.draw_path(&rule);
        s.set_stroke(None);

        // Vendor logo (PNG, drawn at 64x64 in the top-left).
        if let Some(png) = c.logo_png {
            let img = Image::from_png(png.to_vec().into(), true)?;
            s.push_transform(&krilla::geom::Transform::from_translate(48.0, 48.0));
            s.draw_image(img, Size::from_wh(64.0, 64.0).ok_or("size")?);
            s.pop();
        }

        let centred = |s: &mut krilla::surface::Surface, font: &Font, data: &[u8], size: f32, y: f32, t: &str| {
            let x = (w - width(data, size, t)) / 2.0;
            text(s, font, data, size, Point::from_xy(x, y), t);
        };
        s.set_fill(Some(fill((40, 40, 40))));
        centred(&mut s, &regular, REGULAR, 14.0, 100.0, c.vendor);
        s.set_fill(Some(fill(c.brand)));
        centred(&mut s, &bold, BOLD, 34.0, 170.0, "Certificate of completion");
        s.set_fill(Some(fill((40, 40, 40))));
        centred(&mut s, &regular, REGULAR, 14.0, 220.0, "This certifies that");
        centred(&mut s, &bold, BOLD, 30.0, 285.0, c.learner);
        centred(&mut s, &regular, REGULAR, 14.0, 335.0, "has earned the certification");
        centred(&mut s, &bold, BOLD, 20.0, 370.0, c.certification);
        let dates = match c.expires {
            Some(e) => format!("Issued {} · Valid until {}", c.issued, e),
            None => format!("Issued {}", c.issued),
        };
        centred(&mut s, &regular, REGULAR, 12.0, 410.0, &dates);
        text(&mut s, &regular, REGULAR, 10.0, Point::from_xy(48.0, h - 60.0), &format!("Verification code: {}", c.code));
        text(&mut s, &regular, REGULAR, 9.0, Point::from_xy(48.0, h - 46.0), c.verify_url);

        // QR code to the verification page, as vector modules (one path; runs of dark modules merged per row).
        let qr = qrcode::QrCode::with_error_correction_level(c.verify_url.as_bytes(), qrcode::EcLevel::M)
            .map_err(|e| e.to_string())?;
        let n = qr.width();
        let colours = qr.to_colors();
        let side = 96.0_f32;
        let m = side / n as f32;
        let (ox, oy) = (w - 48.0 - side, h - 48.0 - side);
        let mut pb = PathBuilder::new();
        for y in 0..n {
            let mut x = 0;
            while x < n {
                if colours[y * n + x] == qrcode::Color::Dark {
                    let start = x;
                    while x < n && colours[y * n + x] == qrcode::Color::Dark {
                        x += 1;
                    }
                    pb.push_rect(
                        Rect::from_xywh(ox + start as f32 * m, oy + y as f32 * m, (x - start) as f32 * m, m).ok_or("rect")?,
                    );
                } else {
                    x += 1;
                }
            }
        }
        s.set_fill(Some(fill((0, 0, 0))));
        s.draw_path(&pb.finish().ok_or("qr path")?);

        s.finish();
        page.finish();
        doc.finish().map_err(|e| format!("{e:?}"))
    }
}

#[cfg(feature = "md")]
pub mod md {
    /// Markdown to sanitized HTML.
    pub fn render(src: &str) -> String {
        use pulldown_cmark::{Options, Parser, html};
        let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS | Options::ENABLE_FOOTNOTES;
        let mut out = String::new();
        html::push_html(&mut out, Parser::new_ext(src, opts));
        ammonia::clean(&out)
    }
}

#[cfg(feature = "zip")]
pub mod unzip {
    use std::io::Read;
    /// The entries of a SCORM zip: safe relative paths (no absolute, `..`, or links) and their contents.
    pub fn entries(bytes: &[u8], max_total: u64) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
        let (mut out, mut total) = (Vec::new(), 0u64);
        for i in 0..z.len() {
            let mut f = z.by_index(i).map_err(|e| e.to_string())?;
            if f.is_dir() { continue; }
            if f.is_symlink() { return Err(format!("{:?} is a link", f.name())); }
            let path = f.enclosed_name().ok_or_else(|| format!("{:?} leaves the package", f.name()))?;
            let path = path.to_string_lossy().replace('\\', "/");
            let mut buf = Vec::new();
            // Bounded by what is left, whatever the header claims (zip bombs).
            (&mut f).take(max_total - total + 1).read_to_end(&mut buf).map_err(|e| e.to_string())?;
            total += buf.len() as u64;
            if total > max_total { return Err("the package is too large unpacked".into()); }
            out.push((path, buf));
        }
        Ok(out)
    }
}

#[cfg(feature = "plugin")]
mod plugin {
    use portico_sdk::prelude::*;

    struct Scratch;
    use portico_sdk::storage::Collection;
    use portico_sdk::Value;
    const ATTEMPTS: Collection = Collection::new("attempts");
    /// A SCORM 1.2 SCO as authoring tools write them: it looks for `API` in its window, then up the parents.
    const SCO: &str = include_str!("../sco.html");

    impl Plugin for Scratch {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            match req.segments().as_slice() {
                #[cfg(feature = "pdf")]
                ["cert"] => {
                    let pdf = crate::cert::render(&crate::cert::Certificate {
                        learner: req.query("name").unwrap_or("Bob Example"),
                        certification: "Certified Network Associate",
                        vendor: "Acme Networks",
                        issued: "2026-05-01",
                        expires: Some("2028-05-01"),
                        code: "7KQ2-M9XD-4HPA",
                        verify_url: "https://acme.example/p/lms/verify/7KQ2M9XD4HPA",
                        logo_png: None,
                        brand: (0, 84, 166),
                    })
                    .map_err(Error::internal)?;
                    Ok(Response::File { content_type: "application/pdf".into(), filename: "certificate.pdf".into(), body: pdf })
                }
                #[cfg(feature = "md")]
                ["md"] => Ok(Response::json(&json!({ "html": crate::md::render(req.query("src").unwrap_or("")) }))),
                // SCORM proof of concept: the player page, the attempt's state and the SCO, and its commits.
                ["player"] => Ok(Response::page("player.html", "SCORM player", &json!({}))),
                ["scorm", id] if req.method == "GET" => {
                    let saved = ATTEMPTS.get::<Value>(id)?.map(|r| r.data).unwrap_or(json!({}));
                    // SCO assets as the plugin's files behind per-file tickets: one public, one bound to the session.
                    use portico_sdk::{blobs, files};
                    let k1 = blobs::put("sco/pub.js", "text/javascript", b"window.pubLoaded = true;")?;
                    let k2 = blobs::put("sco/priv.js", "text/javascript", b"window.privLoaded = true;")?;
                    let pubu = files::serve_url(&k1, "pub.js", files::Disposition::Attachment, 600, true)?;
                    let privu = files::serve_url(&k2, "priv.js", files::Disposition::Attachment, 600, false)?;
                    let sco = SCO.replace("{{PUB}}", &pubu).replace("{{PRIV}}", &privu);
                    Ok(Response::json(&json!({ "cmi": saved, "sco": sco })))
                }
                ["scorm", id, "commit"] if req.method == "POST" => {
                    let body: Value = req.json()?;
                    portico_sdk::log::info(&format!("scorm commit for {id}: {body}"));
                    let data = json!({ "values": body["values"], "finished": body["finish"] });
                    match ATTEMPTS.get::<Value>(id)? {
                        Some(r) => { ATTEMPTS.update(id, r.revision, &data)?; }
                        None => { ATTEMPTS.insert_with(Some(id), None, &data)?; }
                    }
                    Ok(Response::json(&json!({ "ok": true, "user": ctx.user_name() })))
                }
                #[cfg(feature = "zip")]
                ["zip"] => {
                    let e = crate::unzip::entries(&req.body, 64 << 20).map_err(Error::internal)?;
                    Ok(Response::json(&e.iter().map(|(p, b)| (p.clone(), b.len())).collect::<Vec<_>>()))
                }
                ["attempts", id] => Ok(Response::json(&ATTEMPTS.get::<Value>(id)?.map(|r| r.data))),
                _ => Err(Error::NotFound("no such page".into())),
            }
        }
    }

    export_plugin!(Scratch);
}
