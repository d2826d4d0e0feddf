//! `portico plugin new`: a plugin that builds, in any directory, from the templates in the binary.

use std::path::{Path, PathBuf};

use portico_plugin_api::{API_VERSION, WIT};

use super::{Lang, Sdk, Templates};

/// Writes a new plugin named `name` in `parent/name`: the manifest, a page template and a scenario test shared by
/// every language, the language's sources and unit test, and what it builds against (the Rust SDK, or the WIT).
pub fn new_plugin(name: &str, parent: &Path, lang: Lang) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        crate::tenancy::valid_slug(name),
        "a plugin id is 2-40 lowercase letters, digits and dashes, starting with a letter (got \"{name}\")"
    );
    let dir = parent.join(name);
    anyhow::ensure!(!dir.exists(), "{} exists already", dir.display());
    let title = title_of(name);
    let unit_test = match lang {
        Lang::Rust => "cargo test",
        Lang::Python => "python -m unittest",
        Lang::Js => "node --test",
    };
    let fill = |text: &str| {
        text.replace("__PLUGIN_ID__", name)
            .replace("__PLUGIN_TITLE__", &title)
            .replace("__API_VERSION__", API_VERSION)
            .replace("__UNIT_TEST__", unit_test)
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for prefix in ["common/", &format!("{}/", lang.key())] {
        for path in Templates::iter().filter(|p| p.starts_with(prefix)) {
            let data = Templates::get(&path).expect("listed").data;
            let data = match std::str::from_utf8(&data) {
                Ok(text) => fill(text).into_bytes(),
                Err(_) => data.into_owned(),
            };
            files.push((PathBuf::from(&path[prefix.len()..]), data));
        }
    }
    match lang {
        Lang::Rust => {
            let sdk = PathBuf::from(format!(".portico/portico-sdk-{API_VERSION}"));
            for path in Sdk::iter() {
                files.push((sdk.join(path.as_ref()), Sdk::get(&path).expect("listed").data.into_owned()));
            }
        }
        Lang::Python | Lang::Js => files.push((PathBuf::from("wit/portico.wit"), WIT.as_bytes().to_vec())),
    }
    for (path, data) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file has a parent"))?;
        std::fs::write(&path, data).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(dir)
}

/// `partner-notes` → `Partner Notes`.
fn title_of(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_gets_the_shared_files_and_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        for (lang, own) in [(Lang::Rust, "src/lib.rs"), (Lang::Python, "app.py"), (Lang::Js, "app.js")] {
            let name = format!("notes-{}", lang.key());
            let dir = new_plugin(&name, tmp.path(), lang).unwrap();
            let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
            let parsed = portico_plugin_api::Manifest::parse(&manifest).unwrap();
            assert_eq!(parsed.id, name);
            assert!(parsed.check_api(&portico_plugin_api::api_version()).is_ok());
            assert!(dir.join(own).is_file(), "{lang:?} has {own}");
            assert!(dir.join("tests/scenario.toml").is_file());
            let all = walk(&dir);
            assert!(!all.iter().any(|t| t.contains("__PLUGIN_") || t.contains("__API_VERSION__")), "{lang:?}");
            assert_eq!(Lang::detect(&dir).unwrap(), lang);
        }
        let again = new_plugin("notes-rust", tmp.path(), Lang::Rust).unwrap_err().to_string();
        assert!(again.contains("exists already"), "{again}");
        assert!(new_plugin("Bad Name", tmp.path(), Lang::Rust).unwrap_err().to_string().contains("plugin id"));
    }

    #[test]
    fn the_rust_sdk_written_is_the_repository_sdk_at_the_api_version() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = new_plugin("sdk-check", tmp.path(), Lang::Rust).unwrap();
        let sdk = dir.join(format!(".portico/portico-sdk-{API_VERSION}"));
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
        for entry in std::fs::read_dir(repo.join("src")).unwrap() {
            let name = entry.unwrap().file_name();
            let written = std::fs::read(sdk.join("src").join(&name)).expect("every SDK source is written");
            assert_eq!(written, std::fs::read(repo.join("src").join(&name)).unwrap());
        }
        assert_eq!(std::fs::read_to_string(sdk.join("wit/portico.wit")).unwrap(), WIT);
        let cargo: toml::Value = toml::from_str(&std::fs::read_to_string(sdk.join("Cargo.toml")).unwrap()).unwrap();
        assert_eq!(cargo["package"]["version"].as_str(), Some(API_VERSION), "the SDK's version is the API's");
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                out.push(t);
            }
        }
        out
    }
}
