//! [`Memory`]: the one trait every shared-memory object implements (an address and a
//! length), so that everything built on top works over any of them.

/// A region of memory that may be shared with other processes: POSIX shm, System V,
/// anonymous or memfd mappings.
///
/// # Safety
/// Implementors guarantee that, for as long as `&self` is borrowed:
/// 1. `as_ptr()` is non-null, page-aligned and valid for reads of `len()` bytes (and for
///    writes too unless `is_read_only()` returns true);
/// 2. the region stays mapped at that address (it is not unmapped, moved or shrunk);
/// 3. `len()` does not change.
///
/// Other processes may change the bytes at any time: callers must only access them through
/// atomics, process-shared locks, or `unsafe` code that documents its own synchronisation.
pub unsafe trait Memory {
    /// The start of the region.
    fn as_ptr(&self) -> *mut u8;
    /// The length of the region in bytes (never zero).
    fn len(&self) -> usize;
    /// Whether the region is mapped read-only in this process.
    fn is_read_only(&self) -> bool {
        false
    }
    /// Always false: a mapped region is never empty. Here for clippy's `len_without_is_empty`.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
