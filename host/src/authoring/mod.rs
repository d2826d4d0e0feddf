//! Writing plugins outside this repository: `portico plugin new | build | dev | test`. The binary carries all an
//! author needs besides a language toolchain: a template per language, the Rust SDK and the WIT of the API
//! version it serves, and the themes its throwaway portals render with.

mod portal;
mod scaffold;
mod scenario;
mod toolchain;

use std::path::Path;

pub use portal::{Portal, dev};
pub use scaffold::new_plugin;
pub use scenario::{Outcome, Scenario, run_scenario};
pub use toolchain::{Built, build};

/// A language a plugin is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    /// The template directory under `host/scaffold/`.
    fn key(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    /// Tells a plugin's language from the files its template wrote.
    pub fn detect(dir: &Path) -> anyhow::Result<Lang> {
        anyhow::ensure!(
            dir.join("plugin.toml").is_file(),
            "{} holds no plugin.toml: run this in a plugin's directory, or name one",
            dir.display()
        );
        if dir.join("Cargo.toml").is_file() {
            Ok(Lang::Rust)
        } else if dir.join("app.py").is_file() {
            Ok(Lang::Python)
        } else if dir.join("package.json").is_file() {
            Ok(Lang::Js)
        } else {
            anyhow::bail!(
                "cannot tell the language of {}: expected Cargo.toml (Rust), app.py (Python) or package.json \
                 (JavaScript) beside plugin.toml",
                dir.display()
            )
        }
    }
}

/// The files of `host/scaffold/` and the themes, compiled into the binary.
#[derive(rust_embed::RustEmbed)]
#[folder = "scaffold/"]
struct Templates;

/// The Rust SDK crate as it is published: its manifest, sources and WIT.
#[derive(rust_embed::RustEmbed)]
#[folder = "../sdk/"]
#[include = "Cargo.toml"]
#[include = "src/*.rs"]
#[include = "wit/*.wit"]
struct Sdk;

/// The themes a throwaway portal renders with, written into its data directory.
#[derive(rust_embed::RustEmbed)]
#[folder = "../themes/"]
struct Themes;

/// Writes the embedded themes under `dir`, returning the themes directory.
pub fn write_themes(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let root = dir.join("themes");
    for name in Themes::iter() {
        let path = root.join(name.as_ref());
        std::fs::create_dir_all(path.parent().expect("a file has a parent"))?;
        std::fs::write(&path, Themes::get(&name).expect("listed").data)?;
    }
    Ok(root)
}
