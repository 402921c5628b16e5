//! Replays the header fuzz target's committed inputs as an ordinary test (stable Rust, no
//! cargo-fuzz): every file in `fuzz/seeds/header/` (valid segments of each kind and edge
//! cases) and `fuzz/regressions/header/` (crash inputs the fuzzer found, kept once fixed),
//! plus a local `fuzz/corpus/header/` if a fuzz run left one, goes through the same
//! `header_check::run` the fuzz target calls for each input.

#[path = "../fuzz/fuzz_targets/header_check.rs"]
mod header_check;

use std::path::{Path, PathBuf};

/// The files of `fuzz/DIR/header`, sorted (none if the directory does not exist).
fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join("header");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"));
    files.sort();
    files
}

/// Runs every input of `dir`, each in a `catch_unwind` so that one failure names its file;
/// returns the number of inputs and of inputs the validator accepted at least once.
fn replay(dir: &str) -> (usize, usize) {
    let files = inputs(dir);
    let mut accepted = 0;
    for file in &files {
        let data = std::fs::read(file).unwrap();
        match std::panic::catch_unwind(|| header_check::run(&data)) {
            Ok(n) => accepted += usize::from(n > 0),
            Err(_) => panic!("fuzz input {} fails the header check", file.display()),
        }
    }
    (files.len(), accepted)
}

#[test]
fn fuzz_seeds_and_crash_inputs_replay_through_the_fuzz_check() {
    let (seeds, accepted) = replay("seeds");
    // The seed set is committed: a missing directory must not pass as "nothing to check".
    assert!(seeds >= 10, "only {seeds} seed inputs in fuzz/seeds/header");
    // The valid segments among them (one of each kind) pass the validator: the replay
    // reaches the checks behind the checksum, not only the early refusals.
    assert!(accepted >= 5, "{accepted} of {seeds} seeds accepted");
    // Crash inputs ever found (none so far; the README there says where they go) and a
    // local fuzz run's corpus, if any.
    let (crashes, _) = replay("regressions");
    let (local, _) = replay("corpus");
    eprintln!("replayed {seeds} seeds ({accepted} accepted), {crashes} crash inputs, {local} local corpus inputs");
}
