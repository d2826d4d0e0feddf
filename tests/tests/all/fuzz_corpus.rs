//! Every committed fuzz corpus input (`fuzz/corpus/{target}/*`, minimised, with every input that ever failed a
//! target) replayed through the same function its cargo-fuzz target runs, in the normal test build: a regression of
//! a past finding fails here without a libFuzzer build. `scripts/fuzz` grows the corpora.

use std::path::PathBuf;

use portico_tests::fuzz::{self, TARGETS};

/// The corpus files of one target, sorted.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = fuzz::workspace().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input of `target`'s corpus, and names each that fails.
fn replay(target: &str) {
    let run = TARGETS.iter().find(|(name, _)| *name == target).expect("a target").1;
    let files = corpus(target);
    assert!(!files.is_empty(), "the {target} corpus is empty: run scripts/fuzz {target} and commit what it found");
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("read corpus input");
            std::panic::catch_unwind(|| run(&data)).is_err()
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(failed.is_empty(), "{target}: {} of {} corpus inputs fail: {failed:?}", failed.len(), files.len());
}

#[test]
fn the_manifest_corpus_still_parses_or_is_refused_with_reasons() {
    replay("manifest");
}

#[test]
fn the_package_corpus_still_unpacks_safely_or_is_refused() {
    replay("package");
}

#[test]
fn the_storage_filters_corpus_still_agrees_with_the_plain_evaluation() {
    replay("storage_filters");
}

#[test]
fn the_json_api_corpus_still_gets_no_server_error() {
    replay("json_api");
}

/// The first finding of `storage_filters`: ordering by a field some records lack gave the missing sort key an
/// integer 0 that SQLite could not decode as a number (fixed in `query_by_keys` with `0.0`).
#[test]
fn the_sqlite_ordering_crash_found_by_storage_filters_stays_fixed() {
    let path = fuzz::workspace().join("fuzz/corpus/storage_filters/finding-order-by-missing-field");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    fuzz::storage_filters::run(&data);
}
