//! Package unpacking: any bytes are either refused with a message or unpack into a package whose every file name
//! is a clean relative path (no zip-slip: no `..`, no absolute path, no links), within the size limits, and that
//! packs and unpacks again to the same thing. Never a panic.
//! The body is `portico_tests::fuzz::package`, which the normal tests also run over this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_tests::fuzz::package::run(data));
