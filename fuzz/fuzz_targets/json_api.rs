//! The JSON API's request bodies: arbitrary bytes posted (as JSON) to every JSON route that takes a body, the host's
//! and the deal registration plugin's, as a partner and as the vendor admin, through the real router on a real
//! (SQLite) database with the demo data. The answer is never a 500 and never a panic: a success, or a 4xx with a
//! `{"error":{…}}` body.
//! The body is `portico_tests::fuzz::json_api`, which the normal tests also run over this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_tests::fuzz::json_api::run(data));
