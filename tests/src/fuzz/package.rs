//! Package unpacking: any bytes are either refused with a message or unpack into a package whose every file name
//! is a clean relative path (no zip-slip: no `..`, no absolute path, no links), within the size limits, and that
//! packs and unpacks again to the same thing. Never a panic.

use portico_plugin_api::package::{MAX_ENTRIES, MAX_PACKAGE_BYTES, Package};

fn clean(name: &str) {
    assert!(!name.is_empty() && !name.starts_with('/'), "{name:?}");
    assert!(name.split('/').all(|part| !part.is_empty() && part != "." && part != ".."), "{name:?}");
}

pub fn run(bytes: &[u8]) {
    let Ok(p) = Package::from_tar_gz(bytes) else { return };
    let mut total = p.wasm.len() + p.manifest_text.len();
    for (name, text) in &p.templates {
        clean(name);
        total += text.len();
    }
    for (name, data) in p.statics.iter().chain(&p.frames) {
        clean(name);
        total += data.len();
    }
    assert!(total as u64 <= MAX_PACKAGE_BYTES);
    assert!(p.templates.len() + p.statics.len() + p.frames.len() + 2 <= MAX_ENTRIES);
    let again = Package::from_tar_gz(&p.to_tar_gz()).expect("a package packs and unpacks");
    assert_eq!((&again.manifest_text, &again.wasm), (&p.manifest_text, &p.wasm));
    assert_eq!((&again.templates, &again.statics, &again.frames), (&p.templates, &p.statics, &p.frames));
}
