//! Builds the sandboxed renderer (`host/render`, a WebAssembly component) and hands its path to the host crate,
//! which embeds it, so the `portico` binary carries everything it runs. The renderer builds with its own target
//! directory (`{target}/render-guest`): the outer build holds the lock on the main one.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let guest = manifest_dir.join("render");
    for path in ["src", "wit", "Cargo.toml", "../charts/src", "../charts/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", guest.join(path).display());
    }
    println!("cargo:rerun-if-changed={}", manifest_dir.join("../Cargo.lock").display());
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../target"))
        .join("render-guest");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--locked", "--target", "wasm32-wasip2", "--profile", "plugin", "-p", "portico-render"])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(manifest_dir.join(".."));
    // What the outer build set for itself (flags for the host's target, its jobserver) is not the renderer's.
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS", "CARGO_TARGET_DIR"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo to build the renderer");
    assert!(
        status.success(),
        "building the sandboxed renderer (host/render) for wasm32-wasip2 failed; if the target is missing: \
         rustup target add wasm32-wasip2"
    );
    let wasm = target_dir.join("wasm32-wasip2/plugin/portico_render.wasm");
    assert!(wasm.exists(), "{} was not built", wasm.display());
    println!("cargo:rustc-env=PORTICO_RENDER_WASM={}", wasm.display());
}
