//! The fuzz targets' bodies, shared by the cargo-fuzz binaries in `fuzz/` (each a one-line `fuzz_target!` around
//! one of these functions) and by the normal test build, which replays every committed corpus input through them
//! (`tests/all/fuzz_corpus.rs`), so a regression of a past finding fails CI without an instrumented build.
//! Each function takes the raw bytes libFuzzer hands a target and decodes them exactly as `fuzz_target!` would
//! (`&str` when the bytes are UTF-8; `Arbitrary::arbitrary_take_rest` for structured inputs).

pub mod json_api;
pub mod manifest;
pub mod package;
pub mod storage_filters;

/// A target's body: the bytes of one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its binary and corpus directory.
pub const TARGETS: [(&str, Target); 4] = [
    ("manifest", manifest::run),
    ("package", package::run),
    ("storage_filters", storage_filters::run),
    ("json_api", json_api::run),
];

/// Where the workspace's root is (the corpora are under `fuzz/corpus/{target}`, plugin builds under `target/`).
pub fn workspace() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
