//! `plugin.toml` parsing: any text either parses into a manifest that validates, or is refused with errors that
//! each name a field path and a reason. Never a panic.
//! The body is `portico_tests::fuzz::manifest`, which the normal tests also run over this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_tests::fuzz::manifest::run(data));
