//! Byte patterns and unsynchronised copies in and out of a [`Memory`], for tests that
//! sequence their processes (so nobody writes the bytes meanwhile).

use ipc_core::Memory;

/// Bytes that are recognisable and depend on their position, so a shifted or partial copy
/// does not compare equal.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The first `len` bytes of `m`.
///
/// Plain (non-atomic) reads: only for tests that sequence their processes so that nobody
/// writes these bytes meanwhile.
pub fn read_bytes(m: &(impl Memory + ?Sized), len: usize) -> Vec<u8> {
    assert!(len <= m.len(), "read of {len} bytes from {}", m.len());
    // SAFETY: len <= m.len() (checked above), and `Memory` guarantees the region is mapped
    // and readable while `m` is borrowed; the tests sequence the processes so nobody writes
    // these bytes during the copy.
    unsafe { std::slice::from_raw_parts(m.as_ptr(), len).to_vec() }
}

/// Copies `bytes` into `m` at `offset` (plain writes; same sequencing rule as
/// [`read_bytes`]).
pub fn write_bytes(m: &(impl Memory + ?Sized), offset: usize, bytes: &[u8]) {
    assert!(!m.is_read_only(), "write to a read-only mapping");
    let end = offset.checked_add(bytes.len()).expect("range overflows");
    assert!(end <= m.len(), "write of {offset}..{end} into {}", m.len());
    // SAFETY: offset..end lies inside the region (checked above), which is writable
    // (is_read_only() is false) and mapped while `m` is borrowed; `bytes` is a separate Rust
    // slice, so the ranges do not overlap; no other process accesses these bytes meanwhile.
    unsafe {
        m.as_ptr()
            .add(offset)
            .copy_from_nonoverlapping(bytes.as_ptr(), bytes.len())
    };
}
