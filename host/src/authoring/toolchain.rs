//! `portico plugin build`: runs the language's toolchain to make the component, then packages it. A missing tool is
//! named with the command that installs it; a failed build points at the tool's own output, shown as it ran.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Lang;

/// A built plugin package.
#[derive(Debug)]
pub struct Built {
    /// The `.tar.gz` written.
    pub package: PathBuf,
    /// Its bytes, for installing.
    pub bytes: Vec<u8>,
    pub id: String,
    pub version: String,
}

/// Builds the plugin in `dir` and writes its package to `output` (default: `{id}-{version}.tar.gz` in `dir`).
pub fn build(dir: &Path, output: Option<&Path>) -> anyhow::Result<Built> {
    let wasm = match Lang::detect(dir)? {
        Lang::Rust => cargo(dir)?,
        Lang::Python => {
            run(dir, &COMPONENTIZE_PY, &["-d", "wit", "-w", "plugin", "componentize", "app", "-o", "plugin.wasm"])?;
            dir.join("plugin.wasm")
        }
        Lang::Js => {
            if !dir.join("node_modules").is_dir() {
                run(dir, &NPM, &["install", "--no-audit", "--no-fund"])?;
            }
            run(dir, &NPM, &["run", "--silent", "build"])?;
            dir.join("plugin.wasm")
        }
    };
    let bytes = crate::cli::read_package(dir, Some(&wasm))?;
    let package = crate::plugins::Package::from_tar_gz(&bytes)?;
    let (id, version) = (package.manifest.id.clone(), package.manifest.version.to_string());
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| dir.join(format!("{id}-{version}.tar.gz")));
    std::fs::write(&out, &bytes).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    Ok(Built { package: out, bytes, id, version })
}

/// A command an author installs, and how.
struct Tool {
    program: &'static str,
    install: &'static str,
}

const CARGO: Tool = Tool { program: "cargo", install: "install Rust with rustup (https://rustup.rs)" };
const COMPONENTIZE_PY: Tool = Tool {
    program: "componentize-py",
    install: "install it with `pip install componentize-py==0.25.1` (Python 3.10 or later)",
};
const NPM: Tool =
    Tool { program: "npm", install: "install Node.js 20 or later (https://nodejs.org), which brings npm" };

/// Runs a tool in `dir` with its output on this terminal.
fn run(dir: &Path, tool: &Tool, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(tool.program).args(args).current_dir(dir).status().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!("{} is not installed: {}", tool.program, tool.install)
        } else {
            anyhow::anyhow!("could not run {}: {e}", tool.program)
        }
    })?;
    anyhow::ensure!(status.success(), "`{} {}` failed (its output is above)", tool.program, args.join(" "));
    Ok(())
}

/// `cargo build --release --target wasm32-wasip2`, returning the component's path in the target directory.
fn cargo(dir: &Path) -> anyhow::Result<PathBuf> {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output();
    if let Ok(out) = sysroot
        && out.status.success()
    {
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        anyhow::ensure!(
            sysroot.join("lib/rustlib/wasm32-wasip2").is_dir(),
            "the Rust target wasm32-wasip2 is not installed: run `rustup target add wasm32-wasip2`"
        );
    }
    run(dir, &CARGO, &["build", "--release", "--target", "wasm32-wasip2"])?;
    let meta = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(dir)
        .output()
        .map_err(|e| anyhow::anyhow!("could not run cargo metadata: {e}"))?;
    anyhow::ensure!(meta.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&meta.stderr).trim());
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout)?;
    let target = meta["target_directory"].as_str().ok_or_else(|| anyhow::anyhow!("cargo metadata names no target"))?;
    let name = meta["packages"][0]["name"].as_str().ok_or_else(|| anyhow::anyhow!("Cargo.toml names no package"))?;
    let wasm = Path::new(target).join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
    anyhow::ensure!(wasm.is_file(), "cargo built no component at {}", wasm.display());
    Ok(wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_named_with_how_to_install_it() {
        let tool = Tool { program: "portico-no-such-tool", install: "install it with `pip install it`" };
        let err = run(Path::new("."), &tool, &[]).unwrap_err().to_string();
        assert_eq!(err, "portico-no-such-tool is not installed: install it with `pip install it`");
        let failing = Tool { program: "false", install: "" };
        assert!(run(Path::new("."), &failing, &["x"]).unwrap_err().to_string().contains("`false x` failed"));
    }

    #[test]
    fn a_directory_without_a_plugin_is_refused_before_any_tool_runs() {
        let dir = tempfile::tempdir().unwrap();
        let err = build(dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("holds no plugin.toml"), "{err}");
    }
}
