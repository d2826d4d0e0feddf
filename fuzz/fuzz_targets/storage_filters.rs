//! Plugin storage queries, differentially: random filters (eq, in, range, prefix; numbers, strings, booleans,
//! raw text), ordering and page sizes run through the host's query builder on a real SQLite database, and the
//! pages (followed by cursor to the end) must hold exactly the records a plain in-memory evaluation of the same
//! filters selects, each once, in the order the documented sort rules give. Never a panic or a database error.
//! The body is `portico_tests::fuzz::storage_filters`, which the normal tests also run over this target's corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_tests::fuzz::storage_filters::run(data));
