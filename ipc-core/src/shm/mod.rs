//! Shared memory: POSIX named objects ([`Shm`]), anonymous memory for forked children
//! ([`AnonShm`]) and size-sealed memfd segments ([`MemfdShm`]). System V segments are
//! [`sysv::SysvShm`].
//!
//! Every type here implements [`Memory`], unmaps on drop, and releases only what it owns.
//!
//! [`read_at`] and [`write_at`] copy bytes in and out of any [`Memory`] with bounds checks;
//! typed access (values, arrays, locks, rings) is the business of `ipc-collections`.
//!
//! # Named objects
//! ```no_run
//! use ipc_core::shm::{self, Shm};
//!
//! // process A: create (exclusive), 4 KiB, mode 0600, unlinked when `a` is dropped (the
//! // lifetime table is in the crate docs)
//! let a = Shm::create("/demo", 4096)?;
//! shm::write_at(&a, 0, b"hello")?;
//!
//! // process B: open the existing object; its size comes from fstat
//! let b = Shm::open("/demo")?;
//! assert_eq!(b.len(), 4096);
//! let mut buf = [0; 5];
//! shm::read_at(&b, 0, &mut buf)?;
//!
//! // race-safe open-or-create; `created()` tells which happened
//! let c = Shm::open_or_create("/demo", 4096)?;
//! assert!(!c.created());
//!
//! // everything else through the builder: a read-only mapping, kept after this handle
//! let d = Shm::options().read_only(true).unlink_on_drop(false).open("/demo")?;
//! # Ok::<(), ipc_core::Error>(())
//! ```
//!
//! # What a peer can and cannot do
//! The size of a POSIX object is read with `fstat` and the whole object is mapped. A
//! cooperating peer that later shrinks the object with `ftruncate` would make accesses past
//! the new end fault (`SIGBUS`); this is outside the trust model (peers are parts of one
//! application). Where that matters, use [`MemfdShm`], whose size is sealed by the kernel.
//!
//! Resizing through this crate follows one rule: growing is safe for everyone
//! ([`Shm::grow`]: every byte another process maps still exists; it sees the new ones after
//! [`Shm::remap`]), shrinking is `unsafe` ([`Shm::shrink`]: the caller promises that no
//! process touches the bytes it takes away).

use std::sync::atomic::{AtomicU8, Ordering};

use crate::{Error, ErrorKind, Memory, Result};

/// The inherent accessors of every memory type (`as_ptr`, `len`, `is_empty`,
/// `is_read_only`), forwarding to its [`Memory`] impl so that callers need not import the
/// trait. `$len` says what the length is.
macro_rules! memory_accessors {
    ($len:literal) => {
        /// The start of the region (same as [`Memory::as_ptr`](crate::Memory::as_ptr)).
        pub fn as_ptr(&self) -> *mut u8 {
            crate::Memory::as_ptr(self)
        }

        #[doc = concat!("The length in bytes: ", $len, " (same as [`Memory::len`](crate::Memory::len)).")]
        pub fn len(&self) -> usize {
            crate::Memory::len(self)
        }

        /// Always false: a region is never empty.
        pub fn is_empty(&self) -> bool {
            false
        }

        /// Whether the region is mapped read-only in this process (same as
        /// [`Memory::is_read_only`](crate::Memory::is_read_only)).
        pub fn is_read_only(&self) -> bool {
            crate::Memory::is_read_only(self)
        }
    };
}
pub(crate) use memory_accessors;

mod anon;
mod map;
mod memfd;
pub mod ofd;
mod posix;
pub mod sysv;

pub use anon::AnonShm;
pub(crate) use map::{check_size, Mapping};
pub use memfd::{MemfdShm, Seals, MEMFD_NAME_MAX};
pub use posix::{unlink, Shm, ShmOptions};

/// The default mode bits of a new object: read and write for the owner only.
pub const DEFAULT_MODE: u32 = 0o600;

/// The range `offset..offset + len` of `mem`, or [`ErrorKind::InvalidInput`].
fn range(op: &'static str, mem_len: usize, offset: usize, len: usize) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= mem_len => Ok(()),
        _ => Err(Error::with_text(
            op,
            ErrorKind::InvalidInput,
            format!("bytes {offset}..{offset}+{len} are outside the {mem_len}-byte region"),
        )),
    }
}

/// Copies `buf.len()` bytes at `offset` of `mem` into `buf`, bounds-checked.
///
/// Each byte is read with a relaxed atomic load, so a concurrent writer in another process
/// is not a data race; but nothing orders the bytes among themselves, so a message that is
/// being written meanwhile can be read torn. Coordinate with an atomic flag, a lock or a
/// semaphore (or use the typed segments of `ipc-collections`). Meant for small messages;
/// it is not a fast bulk copy.
///
/// Errors: [`ErrorKind::InvalidInput`] if the range leaves the region.
pub fn read_at<M: Memory + ?Sized>(mem: &M, offset: usize, buf: &mut [u8]) -> Result<()> {
    range("read_at", mem.len(), offset, buf.len())?;
    for (i, b) in buf.iter_mut().enumerate() {
        // SAFETY: offset + i < mem.len() (checked above), so the byte is inside the region,
        // which `Memory` guarantees is mapped and readable while `mem` is borrowed. AtomicU8
        // has the size and alignment of u8, every bit pattern is valid, and other processes
        // only change the byte, never unmap it under us. A relaxed atomic load of a byte is
        // allowed on read-only memory too.
        let a = unsafe { AtomicU8::from_ptr(mem.as_ptr().add(offset + i)) };
        *b = a.load(Ordering::Relaxed);
    }
    Ok(())
}

/// Copies `bytes` into `mem` at `offset`, bounds-checked; the counterpart of [`read_at`]
/// (relaxed atomic byte stores: no data race, but no ordering among the bytes either).
///
/// Errors: [`ErrorKind::InvalidInput`] if the range leaves the region,
/// [`ErrorKind::PermissionDenied`] if `mem` is mapped read-only.
pub fn write_at<M: Memory + ?Sized>(mem: &M, offset: usize, bytes: &[u8]) -> Result<()> {
    if mem.is_read_only() {
        return Err(Error::new("write_at", ErrorKind::PermissionDenied));
    }
    range("write_at", mem.len(), offset, bytes.len())?;
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: offset + i < mem.len() (checked above) and the region is writable
        // (is_read_only() is false), mapped while `mem` is borrowed; AtomicU8 has the
        // layout of u8 and any byte value is valid. Other processes access shared bytes
        // through atomics too (or race at their own documented risk).
        let a = unsafe { AtomicU8::from_ptr(mem.as_ptr().add(offset + i)) };
        a.store(b, Ordering::Relaxed);
    }
    Ok(())
}
