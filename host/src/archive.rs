//! Zip archives a plugin asks the host to unpack (`files.unpack`), such as SCORM packages: the central directory is
//! checked as a whole before a byte is written (paths relative and without `..`, no links, a bounded number of
//! entries and of bytes, no entry that inflates suspiciously), then each entry is streamed out through a sink
//! while the bytes actually inflated are counted against the same bounds, since a directory can lie about sizes.

use std::io::{Read, Seek};

/// Most entries any archive may hold, whatever a plugin asks.
pub const MAX_ENTRIES: u32 = 10_000;
/// Most bytes any archive may unpack to, whatever a plugin asks.
pub const MAX_BYTES: u64 = 4 << 30;
/// An entry that inflates more than this many times over is taken for a zip bomb, once it is past `RATIO_FLOOR`.
const MAX_RATIO: u64 = 200;
const RATIO_FLOOR: u64 = 1 << 20;

/// The type of the row that stands for an unpacked tree (its files, `{tree key}/{path}`, have none of their own).
pub const TREE_TYPE: &str = "application/x-portico-tree";

/// `(tree key, path)` of a key under a tree: `tenants/{t}/plugins/{p}/trees/{id}/{path}`.
pub fn split_tree_key(key: &str) -> Option<(&str, &str)> {
    let at = key.find("/trees/")? + "/trees/".len();
    let slash = at + key[at..].find('/')?;
    Some((&key[..slash], &key[slash + 1..]))
}

/// What is wrong with an archive, in words for the vendor who uploaded it.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Refused(String),
    #[error("the unpacked file could not be stored: {0}")]
    Store(String),
}

fn refused(m: impl Into<String>) -> ArchiveError {
    ArchiveError::Refused(m.into())
}

/// One file to unpack: its index in the archive, its clean path and its declared size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub index: usize,
    pub path: String,
    pub size: u64,
}

/// A path inside an archive as it may be stored: `/`-separated, relative, no empty, `.` or `..` segment, no
/// backslash, drive letter or control character.
pub fn clean_path(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > 1024 || raw.starts_with('/') || raw.contains('\\') || raw.contains(':') {
        return None;
    }
    let parts: Vec<&str> = raw.trim_end_matches('/').split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == ".." || p.chars().any(char::is_control)) {
        return None;
    }
    Some(parts.join("/"))
}

/// The files of the archive to unpack (directories are implied by paths), or why the archive is refused.
pub fn plan<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    max_entries: u32,
    max_bytes: u64,
) -> Result<Vec<Planned>, ArchiveError> {
    let (max_entries, max_bytes) = (max_entries.min(MAX_ENTRIES) as usize, max_bytes.min(MAX_BYTES));
    let mut out = Vec::new();
    let mut total: u64 = 0;
    for index in 0..zip.len() {
        let f = zip.by_index_raw(index).map_err(|e| refused(format!("the archive cannot be read: {e}")))?;
        let name =
            f.name().map_err(|e| refused(format!("the archive holds a name that cannot be read: {e}")))?.to_string();
        let Some(path) = clean_path(&name) else {
            return Err(refused(format!("the archive holds an unsafe path: {}", printable(&name))));
        };
        if f.is_symlink() {
            return Err(refused(format!("the archive holds a link, which is not allowed: {path}")));
        }
        if f.is_dir() {
            continue;
        }
        if f.encrypted() {
            return Err(refused(format!("{path} is encrypted")));
        }
        let size = f.size();
        if size > RATIO_FLOOR && size / f.compressed_size().max(1) > MAX_RATIO {
            return Err(refused(format!(
                "{path} inflates {}-fold, which looks like a zip bomb",
                size / f.compressed_size().max(1)
            )));
        }
        total = total.saturating_add(size);
        if total > max_bytes {
            return Err(refused(format!("the archive unpacks to more than {} MiB", max_bytes >> 20)));
        }
        out.push(Planned { index, path, size });
        if out.len() > max_entries {
            return Err(refused(format!("the archive holds more than {max_entries} files")));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in &out {
        if !seen.insert(p.path.as_str()) {
            return Err(refused(format!("the archive holds {} twice", p.path)));
        }
    }
    Ok(out)
}

/// Inflates each planned file into `sink(path, chunk)` (an empty chunk closes a file), refusing any whose bytes
/// run past its declared size.
pub fn extract<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    planned: &[Planned],
    mut sink: impl FnMut(&Planned, Option<&[u8]>) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut buf = vec![0u8; 1 << 20];
    for p in planned {
        let f = zip.by_index(p.index).map_err(|e| refused(format!("{} cannot be read: {e}", p.path)))?;
        // One byte more than declared is enough to know the directory lied.
        let mut f = f.take(p.size + 1);
        let mut read: u64 = 0;
        loop {
            let n = f.read(&mut buf).map_err(|e| refused(format!("{} is damaged: {e}", p.path)))?;
            if n == 0 {
                break;
            }
            read += n as u64;
            if read > p.size {
                return Err(refused(format!("{} is larger than the archive says", p.path)));
            }
            sink(p, Some(&buf[..n]))?;
        }
        sink(p, None)?;
    }
    Ok(())
}

fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The type a served file of an unpacked tree or a plugin's frame folder gets, by its name's extension.
pub fn content_type_by_name(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "xml" | "xsd" | "dtd" => "application/xml",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "vtt" => "text/vtt",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> zip::ZipArchive<Cursor<Vec<u8>>> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(body).unwrap();
        }
        zip::ZipArchive::new(Cursor::new(w.finish().unwrap().into_inner())).unwrap()
    }

    #[test]
    fn paths_stay_inside_the_tree() {
        assert_eq!(clean_path("index.html").as_deref(), Some("index.html"));
        assert_eq!(clean_path("a/b/c.js").as_deref(), Some("a/b/c.js"));
        assert_eq!(clean_path("dir/").as_deref(), Some("dir"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "C:/x", "a/\u{1}b"] {
            assert_eq!(clean_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_package_is_planned_and_streamed_whole() {
        let mut z = archive(&[("imsmanifest.xml", b"<manifest/>"), ("sco/index.html", b"<p>hi</p>")]);
        let planned = plan(&mut z, 10, 1 << 20).unwrap();
        assert_eq!(planned.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(), ["imsmanifest.xml", "sco/index.html"]);
        let mut got: Vec<(String, Vec<u8>)> = Vec::new();
        extract(&mut z, &planned, |p, chunk| {
            match chunk {
                Some(c) if got.last().is_some_and(|(n, _)| *n == p.path) => got.last_mut().unwrap().1.extend(c),
                Some(c) => got.push((p.path.clone(), c.to_vec())),
                None => {}
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(got[1], ("sco/index.html".to_string(), b"<p>hi</p>".to_vec()));
    }

    #[test]
    fn unsafe_or_oversized_archives_are_refused_whole() {
        let msg = |r: Result<Vec<Planned>, ArchiveError>| r.unwrap_err().to_string();
        assert!(msg(plan(&mut archive(&[("ok.txt", b"1"), ("../evil", b"2")]), 10, 1 << 20)).contains("unsafe path"));
        let many: Vec<(String, &[u8])> = (0..5).map(|i| (format!("f{i}"), &b"x"[..])).collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        assert!(msg(plan(&mut archive(&many), 4, 1 << 20)).contains("more than 4 files"));
        assert!(msg(plan(&mut archive(&[("big", &[7u8; 5000])]), 10, 4096)).contains("more than 0 MiB"));
        // Zeros compress a thousand-fold: a bomb in miniature.
        let bomb = vec![0u8; 4 << 20];
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("zeros", deflated).unwrap();
        w.write_all(&bomb).unwrap();
        let mut z = zip::ZipArchive::new(Cursor::new(w.finish().unwrap().into_inner())).unwrap();
        assert!(msg(plan(&mut z, 10, 1 << 30)).contains("zip bomb"));
    }

    #[test]
    fn a_tree_file_names_its_tree() {
        assert_eq!(
            split_tree_key("tenants/t/plugins/p/trees/abc/sco/a.js"),
            Some(("tenants/t/plugins/p/trees/abc", "sco/a.js"))
        );
        assert_eq!(split_tree_key("tenants/t/plugins/p/trees/abc"), None);
        assert_eq!(split_tree_key("tenants/t/plugins/p/x"), None);
    }

    #[test]
    fn types_follow_the_extension() {
        assert_eq!(content_type_by_name("a/B.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type_by_name("x.woff2"), "font/woff2");
        assert_eq!(content_type_by_name("noext"), "application/octet-stream");
    }
}
