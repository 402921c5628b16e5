//! A private owning type for one `mmap`ed region: unmapped on drop.

use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::sys::mman::{self, MapFlags, ProtFlags};

use crate::{Error, ErrorKind, Result};

/// A shared mapping of `len` bytes at `ptr`, unmapped on drop.
///
/// Invariant: `ptr..ptr + len` is a live `MAP_SHARED` mapping owned by this value, readable,
/// and writable unless `read_only`.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: NonZeroUsize,
    read_only: bool,
}

// SAFETY: a Mapping is an address range plus its length; it holds no thread-bound state.
// Unmapping from another thread is fine, and the bytes themselves are only reached through
// raw pointers whose users do their own synchronisation (see `Memory`).
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` only gives out the address and length (plain values).
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, prot, MAP_SHARED, fd, 0)` over an object whose size was checked to be
    /// at least `len` bytes.
    pub(crate) fn map_fd(
        op: &'static str,
        fd: impl AsFd,
        len: NonZeroUsize,
        read_only: bool,
    ) -> Result<Self> {
        // SAFETY: mmap with a null hint cannot replace an existing mapping (no MAP_FIXED),
        // so no Rust object's memory is touched; the result is a fresh region that only this
        // Mapping owns. The fd is borrowed for the call only; the mapping stays valid after
        // it is closed.
        let ptr = unsafe { mman::mmap(None, len, prot(read_only), MapFlags::MAP_SHARED, fd, 0) }
            .map_err(|e| Error::nix(op, e))?;
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
            read_only,
        })
    }

    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0)`: zero-filled
    /// memory shared with children forked after this call.
    pub(crate) fn anonymous(op: &'static str, len: NonZeroUsize) -> Result<Self> {
        // SAFETY: as in `map_fd`: no MAP_FIXED, so the call only creates a new region that
        // this Mapping owns.
        let ptr = unsafe {
            mman::mmap_anonymous(
                None,
                len,
                prot(false),
                MapFlags::MAP_SHARED | MapFlags::MAP_ANONYMOUS,
            )
        }
        .map_err(|e| Error::nix(op, e))?;
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
            read_only: false,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }
}

fn prot(read_only: bool) -> ProtFlags {
    if read_only {
        ProtFlags::PROT_READ
    } else {
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len describe a mapping this value created and still owns (the type's
        // invariant); nothing borrows it any more, because every borrow of the memory is tied
        // to a borrow of the owner being dropped. An error (impossible for a valid range) is
        // ignored: there is nothing useful to do with it in drop.
        let _ = unsafe { mman::munmap(self.ptr.cast(), self.len.get()) };
    }
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// Checks a requested size: not zero, at most `isize::MAX`, and still at most `isize::MAX`
/// once rounded up to whole pages (what `mmap` really maps).
pub(crate) fn check_size(op: &'static str, size: usize) -> Result<NonZeroUsize> {
    let bad = |why: String| Error::with_text(op, ErrorKind::InvalidSize, why);
    let Some(nz) = NonZeroUsize::new(size) else {
        return Err(bad("size 0: a mapping needs at least one byte".into()));
    };
    let page = page_size();
    match size.checked_add(page - 1) {
        Some(r) if r / page * page <= isize::MAX as usize => Ok(nz),
        _ => Err(bad(format!(
            "{size} bytes is too large (more than isize::MAX once rounded up to pages)"
        ))),
    }
}
