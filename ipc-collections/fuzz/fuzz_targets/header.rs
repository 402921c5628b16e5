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
//! The first 8 bytes of the input choose the object size the validator is told (`fstat`'s
//! answer, which need not match the bytes at hand); the rest are the segment's first bytes.
//! Each input is validated twice: as it is, and with the magic and the checksum fixed up,
//! so that the fuzzer also reaches the checks behind the checksum. The validator must
//! return `Ok` or `Err` for every input, never panic, and whatever it accepts must lie in
//! bounds of that size.
#![no_main]

use ipc_collections::format::{self, HEADER_LEN, MAGIC};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8], file_len: u64) {
    if let Ok(info) = format::validate_header("", bytes, file_len) {
        assert!(info.payload.end as u64 <= file_len);
        assert!(info.payload.start % 64 == 0);
        assert!(info.control.end <= info.payload.start);
        assert!(HEADER_LEN + info.schema.len() <= info.payload.start);
        assert!(info.dims.len() <= format::MAX_RANK);
    }
}

fuzz_target!(|data: &[u8]| {
    let (len, bytes) = match data.split_first_chunk::<8>() {
        Some((len, rest)) => (u64::from_le_bytes(*len), rest),
        None => (data.len() as u64, data),
    };
    check(bytes, len);
    check(bytes, bytes.len() as u64);

    // The same bytes with a valid magic and checksum.
    if bytes.len() >= HEADER_LEN {
        let mut fixed = bytes.to_vec();
        fixed[..8].copy_from_slice(&MAGIC);
        let schema_len = format::Header::read(&fixed).unwrap().schema_len;
        let schema_end = usize::try_from(schema_len)
            .ok()
            .and_then(|n| n.checked_add(HEADER_LEN))
            .filter(|&end| end <= fixed.len())
            .unwrap_or(fixed.len());
        let mut header = format::Header::read(&fixed).unwrap();
        header.seal(&fixed[HEADER_LEN..schema_end]);
        fixed[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        check(&fixed, len);
        check(&fixed, fixed.len() as u64);
    }
});
