//! Fuzzes the segment header validator with arbitrary bytes and sizes.
//!
//! ```text
//! cd ipc-collections/fuzz && cargo +nightly fuzz run header
//! ```
//!
//! Without cargo-fuzz or nightly (stable Rust; the same coverage flags cargo-fuzz passes):
//!
//! ```text
//! cd ipc-collections/fuzz
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
//!   -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
//!   --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
//!   cargo build --release --target x86_64-unknown-linux-gnu
//! mkdir -p corpus/header
//! target/x86_64-unknown-linux-gnu/release/header corpus/header -max_total_time=60
//! ```
//!
//! Each input goes to `header_check::run` (the one definition of what an input means and
//! what must hold, shared with `ipc-collections/tests/fuzz_corpus.rs`, which replays the
//! committed seeds and crash inputs in `seeds/header/` and `regressions/header/` on every
//! `cargo test`). Start a run from those seeds:
//!
//! ```text
//! cargo +nightly fuzz run header corpus/header seeds/header regressions/header
//! ```
//!
//! A crash input libFuzzer finds (in `artifacts/header/`, not committed) belongs in
//! `regressions/header/` once fixed, so that it replays in every test run.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod header_check;

fuzz_target!(|data: &[u8]| {
    header_check::run(data);
});
