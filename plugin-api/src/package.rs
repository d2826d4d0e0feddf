//! Plugin packages: a directory or a `.tar.gz` holding `plugin.toml`, `plugin.wasm`, `templates/`, `static/` and
//! `frame/`. Unpacking refuses absolute paths, `..`, links, unexpected files and oversized content.
//!
//! Plugin markup is untrusted in the browser too, so what a package may serve on the portal's origin is limited:
//! `static/` holds styles, raster images, fonts and SVG (served so that it cannot script), and its stylesheets
//! may fetch only the package's own files. Client code (HTML documents, scripts) goes under `frame/`, which the host
//! serves only into sandboxed frames with an opaque origin.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use crate::Manifest;

/// Largest package accepted, packed or unpacked.
pub const MAX_PACKAGE_BYTES: u64 = 64 * 1024 * 1024;
/// Most files in a package.
pub const MAX_ENTRIES: usize = 2000;

/// Why a package was refused; the message names the file or field.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PackageError {
    #[error("the package is not a gzip-compressed tar archive: {0}")]
    Archive(String),
    #[error("{0}: {1}")]
    Entry(String, &'static str),
    #[error("the package holds more than {MAX_PACKAGE_BYTES} bytes")]
    TooLarge,
    #[error("the package holds more than {MAX_ENTRIES} files")]
    TooManyEntries,
    #[error("the package has no {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Manifest(String),
}

/// An unpacked package.
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: Manifest,
    pub manifest_text: String,
    pub wasm: Vec<u8>,
    /// Template name (relative to `templates/`) → source.
    pub templates: BTreeMap<String, String>,
    /// Static file path (relative to `static/`) → bytes.
    pub statics: BTreeMap<String, Vec<u8>>,
    /// Files of the plugin's sandboxed frames (relative to `frame/`) → bytes.
    pub frames: BTreeMap<String, Vec<u8>>,
}

/// The kinds of file `static/` may hold, by extension.
pub const STATIC_EXTENSIONS: &[&str] =
    &["css", "png", "jpg", "jpeg", "gif", "webp", "avif", "ico", "woff", "woff2", "ttf", "otf", "svg"];

/// Why a static file is refused, in words that say what to do instead.
const STATIC_ONLY: &str = "static/ holds only styles (.css), raster images (.png .jpg .gif .webp .avif .ico), fonts \
     (.woff2 .woff .ttf .otf) and .svg; plugin markup gets interactivity from the host's data-pt-* behaviours, and \
     client code that truly needs script goes under frame/, which runs in a sandboxed frame";

impl Package {
    /// Unpacks a `.tar.gz` package.
    pub fn from_tar_gz(bytes: &[u8]) -> Result<Package, PackageError> {
        let gz = flate2::read::GzDecoder::new(bytes).take(MAX_PACKAGE_BYTES + 1);
        let mut archive = tar::Archive::new(gz);
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        for entry in archive.entries().map_err(|e| PackageError::Archive(e.to_string()))? {
            let mut entry = entry.map_err(|e| PackageError::Archive(e.to_string()))?;
            let path = entry.path().map_err(|e| PackageError::Archive(e.to_string()))?.to_string_lossy().into_owned();
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            if !kind.is_file() {
                return Err(PackageError::Entry(path, "links and special files are not allowed"));
            }
            let name = clean(&path)?;
            total += entry.header().size().unwrap_or(u64::MAX);
            if total > MAX_PACKAGE_BYTES {
                return Err(PackageError::TooLarge);
            }
            if files.len() >= MAX_ENTRIES {
                return Err(PackageError::TooManyEntries);
            }
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(|e| PackageError::Archive(e.to_string()))?;
            files.insert(name, data);
        }
        Self::from_files(files)
    }

    /// Reads a package directory (as a plugin author's build leaves it).
    pub fn from_dir(dir: &Path) -> Result<Package, PackageError> {
        let mut files = BTreeMap::new();
        let read = |p: &Path| std::fs::read(p).map_err(|e| PackageError::Archive(format!("{}: {e}", p.display())));
        for name in ["plugin.toml", "plugin.wasm"] {
            if dir.join(name).exists() {
                files.insert(name.to_string(), read(&dir.join(name))?);
            }
        }
        for sub in ["templates", "static", "frame"] {
            let root = dir.join(sub);
            let mut stack = vec![root.clone()];
            while let Some(d) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&d) else { continue };
                for e in entries.flatten() {
                    let p = e.path();
                    let meta = std::fs::symlink_metadata(&p).map_err(|e| PackageError::Archive(e.to_string()))?;
                    if meta.is_dir() {
                        stack.push(p);
                    } else if meta.is_file() {
                        let rel = p.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
                        files.insert(rel, read(&p)?);
                    }
                }
            }
        }
        Self::from_files(files)
    }

    fn from_files(mut files: BTreeMap<String, Vec<u8>>) -> Result<Package, PackageError> {
        let manifest_bytes = files.remove("plugin.toml").ok_or(PackageError::Missing("plugin.toml"))?;
        let manifest_text =
            String::from_utf8(manifest_bytes).map_err(|_| PackageError::Entry("plugin.toml".into(), "is not UTF-8"))?;
        let manifest = Manifest::parse(&manifest_text).map_err(|e| PackageError::Manifest(e.to_string()))?;
        let wasm = files.remove("plugin.wasm").ok_or(PackageError::Missing("plugin.wasm"))?;
        let mut templates = BTreeMap::new();
        let mut statics = BTreeMap::new();
        let mut frames = BTreeMap::new();
        for (name, data) in files {
            if let Some(t) = name.strip_prefix("templates/") {
                let text = String::from_utf8(data).map_err(|_| PackageError::Entry(name.clone(), "is not UTF-8"))?;
                templates.insert(t.to_string(), text);
            } else if let Some(s) = name.strip_prefix("static/") {
                let ext = s.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
                if !STATIC_EXTENSIONS.contains(&ext.as_str()) {
                    return Err(PackageError::Entry(name, STATIC_ONLY));
                }
                if ext == "css" {
                    let text = String::from_utf8(data.clone())
                        .map_err(|_| PackageError::Entry(name.clone(), "is not UTF-8"))?;
                    check_stylesheet(&text).map_err(|why| PackageError::Entry(name.clone(), why))?;
                }
                statics.insert(s.to_string(), data);
            } else if let Some(f) = name.strip_prefix("frame/") {
                frames.insert(f.to_string(), data);
            } else {
                return Err(PackageError::Entry(
                    name,
                    "is not plugin.toml, plugin.wasm, templates/…, static/… or frame/…",
                ));
            }
        }
        Ok(Package { manifest, manifest_text, wasm, templates, statics, frames })
    }

    /// Packs the package as `.tar.gz`, entries in a stable order.
    pub fn to_tar_gz(&self) -> Vec<u8> {
        let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(enc);
        let mut add = |name: &str, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, data).expect("writing to memory");
        };
        add("plugin.toml", self.manifest_text.as_bytes());
        add("plugin.wasm", &self.wasm);
        for (n, t) in &self.templates {
            add(&format!("templates/{n}"), t.as_bytes());
        }
        for (n, d) in &self.statics {
            add(&format!("static/{n}"), d);
        }
        for (n, d) in &self.frames {
            add(&format!("frame/{n}"), d);
        }
        tar.into_inner().expect("writing to memory").finish().expect("writing to memory")
    }
}

/// A plugin stylesheet styles; it does not fetch. Its `url(…)`s may name only the package's own files (relative
/// paths), and `@import` and `image-set()` are refused: otherwise attribute selectors could send what a page shows
/// (a form token, say) to a route of the plugin's, one request per guessed character. CSS escapes are read first,
/// so `\75 rl(` counts as `url(`.
pub fn check_stylesheet(css: &str) -> Result<(), &'static str> {
    let text = unescape_css(css).to_ascii_lowercase();
    if text.contains("@import") {
        return Err("stylesheets may not @import; put every rule in the package's own files");
    }
    if text.contains("image-set(") {
        return Err("stylesheets may not use image-set(); use url() with a file of the package");
    }
    let mut rest = text.as_str();
    while let Some(at) = rest.find("url(") {
        let after = &rest[at + 4..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].trim().trim_matches(|c| c == '"' || c == '\'');
        let relative = !target.is_empty()
            && !target.starts_with('/')
            && !target.contains(':')
            && !target.contains('\\')
            && !target.split('/').any(|seg| seg == "..");
        if !relative && !target.starts_with("data:image/") && !target.starts_with("data:font/") {
            return Err("url() in a stylesheet may name only the package's own files, by relative path");
        }
        rest = &after[end..];
    }
    Ok(())
}

/// CSS text with its escapes (`\75`, `\u`) replaced by the characters they stand for.
fn unescape_css(css: &str) -> String {
    let mut out = String::with_capacity(css.len());
    let mut chars = css.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        while hex.len() < 6 && chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            hex.push(chars.next().expect("peeked"));
        }
        if hex.is_empty() {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            if chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}'));
        }
    }
    out
}

/// A safe relative path inside the package, with `/` separators.
fn clean(path: &str) -> Result<String, PackageError> {
    let p = Path::new(path);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return Err(PackageError::Entry(path.to_string(), "must be a relative path inside the package")),
        }
    }
    if parts.is_empty() {
        return Err(PackageError::Entry(path.to_string(), "is empty"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Write the raw name so hostile paths survive into the archive.
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    const MANIFEST: &str = "id = \"demo\"\nname = \"Demo\"\nversion = \"0.1.0\"\napi = \"^0.1\"\n";

    #[test]
    fn a_package_round_trips() {
        let p = Package::from_tar_gz(&tar_gz(&[
            ("plugin.toml", MANIFEST.as_bytes()),
            ("plugin.wasm", b"\0asm"),
            ("templates/a.html", b"<p>a</p>"),
        ]))
        .unwrap();
        assert_eq!(p.manifest.id, "demo");
        assert_eq!(p.templates["a.html"], "<p>a</p>");
        let again = Package::from_tar_gz(&p.to_tar_gz()).unwrap();
        assert_eq!(again.wasm, p.wasm);
    }

    #[test]
    fn static_files_are_styles_images_and_fonts_and_script_goes_to_frames() {
        let with = |name: &str, data: &[u8]| {
            Package::from_tar_gz(&tar_gz(&[("plugin.toml", MANIFEST.as_bytes()), ("plugin.wasm", b"x"), (name, data)]))
        };
        for ok in ["static/a.css", "static/img/a.PNG", "static/f.woff2", "static/logo.svg"] {
            assert!(with(ok, b"p{}").is_ok(), "{ok}");
        }
        for bad in
            ["static/form.js", "static/page.html", "static/x.mjs", "static/x.wasm", "static/x.xml", "static/noext"]
        {
            let e = with(bad, b"x").unwrap_err();
            assert!(e.to_string().contains("frame/"), "{bad}: {e}");
        }
        let p = with("frame/player.js", b"alert(1)").unwrap();
        assert_eq!(p.frames["player.js"], b"alert(1)");
        assert_eq!(Package::from_tar_gz(&p.to_tar_gz()).unwrap().frames, p.frames);
    }

    #[test]
    fn stylesheets_fetch_only_the_packages_own_files() {
        for ok in [
            "a{background:url(img/a.png)}",
            "a{background:url('x.png')}",
            "@font-face{src:url(f.woff2)}",
            "p{color:red}",
        ] {
            assert!(check_stylesheet(ok).is_ok(), "{ok}");
        }
        for bad in [
            "@import 'https://evil.example/x.css';",
            "input[value^=a]{background:url(/p/evil/leak?a)}",
            "a{background:url(https://evil.example/x)}",
            "a{background:url(//evil.example/x)}",
            "a{background:\\75 rl(/p/evil/x)}",
            "a{background:\\000075rl(/p/evil/x)}",
            "a{background:url(../../p/evil)}",
            "a{background-image:image-set('https://evil.example/x' 1x)}",
            "@\\69mport url(x)",
        ] {
            assert!(check_stylesheet(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaping_paths_are_refused() {
        for bad in ["../plugin.toml", "/etc/passwd", "templates/../../x"] {
            let e = Package::from_tar_gz(&tar_gz(&[("plugin.toml", MANIFEST.as_bytes()), (bad, b"x")])).unwrap_err();
            assert!(matches!(e, PackageError::Entry(..)), "{bad}: {e}");
        }
    }

    #[test]
    fn missing_pieces_and_garbage_are_named() {
        assert_eq!(
            Package::from_tar_gz(&tar_gz(&[("plugin.wasm", b"x")])).unwrap_err(),
            PackageError::Missing("plugin.toml")
        );
        assert_eq!(
            Package::from_tar_gz(&tar_gz(&[("plugin.toml", MANIFEST.as_bytes())])).unwrap_err(),
            PackageError::Missing("plugin.wasm")
        );
        assert!(matches!(Package::from_tar_gz(b"not a tarball").unwrap_err(), PackageError::Archive(_)));
        let bad_manifest =
            Package::from_tar_gz(&tar_gz(&[("plugin.toml", b"id = 3"), ("plugin.wasm", b"x")])).unwrap_err();
        assert!(bad_manifest.to_string().contains("id"), "{bad_manifest}");
        assert!(matches!(
            Package::from_tar_gz(&tar_gz(&[
                ("plugin.toml", MANIFEST.as_bytes()),
                ("plugin.wasm", b"x"),
                ("README", b"x")
            ]))
            .unwrap_err(),
            PackageError::Entry(..)
        ));
    }
}
