//! What the `header` fuzz target does with one input, in one place: the fuzz target calls
//! [`run`] for every input libFuzzer makes, and `ipc-collections/tests/fuzz_corpus.rs`
//! (part of `cargo test --workspace`) calls it for every committed seed and crash input, so
//! the corpus replays on stable Rust without cargo-fuzz.
//!
//! The first 8 bytes of the input choose the object size the validator is told (`fstat`'s
//! answer, which need not match the bytes at hand); the rest are the segment's first bytes.
//! Each input is validated twice: as it is, and with the magic and the checksum fixed up,
//! so that the fuzzer also reaches the checks behind the checksum. The validator must
//! return `Ok` or `Err` for every input, never panic, and whatever it accepts must lie in
//! bounds of that size.

use ipc_collections::format::{self, HEADER_LEN, MAGIC};

/// Validates `bytes` as a segment of `file_len` bytes; what it accepts must be in bounds.
/// Returns whether it was accepted.
fn check(bytes: &[u8], file_len: u64) -> bool {
    let Ok(info) = format::validate_header("", bytes, file_len) else {
        return false;
    };
    assert!(info.payload.end as u64 <= file_len);
    assert!(info.payload.start % 64 == 0);
    assert!(info.control.end <= info.payload.start);
    assert!(HEADER_LEN + info.schema.len() <= info.payload.start);
    assert!(info.dims.len() <= format::MAX_RANK);
    true
}

/// One fuzz input: panics (an assertion) if the validator accepted something out of bounds,
/// or if it panicked itself. Returns how many of the (up to four) validations accepted.
pub fn run(data: &[u8]) -> usize {
    let (len, bytes) = match data.split_first_chunk::<8>() {
        Some((len, rest)) => (u64::from_le_bytes(*len), rest),
        None => (data.len() as u64, data),
    };
    let mut accepted =
        usize::from(check(bytes, len)) + usize::from(check(bytes, bytes.len() as u64));

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
        accepted +=
            usize::from(check(&fixed, len)) + usize::from(check(&fixed, fixed.len() as u64));
    }
    accepted
}
