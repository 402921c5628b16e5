//! `ipc-collections`: typed named segments over `ipc-core`.
//!
//! - [`Shared<T>`]: one value of a [`SharedLayout`] type (typically a derived struct with
//!   atomics and locks) in a named segment; `create` with an exclusive init, `open` with
//!   the layout checked field by field.
//! - [`SharedArray<T>`]: an N-dimensional array (C order) by name, element type and dims
//!   verified at open, safe access under a robust lock.
//! - [`SharedMutex<T>`], [`SharedRwLock<T>`], [`SharedCondvar`]: process-shared locks
//!   around a value, usable as fields of shared structs.
//! - [`AnyArray`]: a named array opened without naming its element type (the type and
//!   dims come from the segment).
//! - [`ArrayView`]: a typed N-d view of any [`ipc_core::Memory`] at a byte offset, safe for
//!   [`AtomicElement`] types; a `SharedArray` of atomics has a lock-free
//!   [`as_slice`](SharedArray::as_slice).
//! - For `fork`ed children, without a name: [`Shared::anonymous`],
//!   [`SharedArray::anonymous`].
//!
//! Every named typed object is one POSIX shared-memory object laid out as described in
//! `FORMAT.md` at the repository root: a fixed header ([`mod@format`]), a schema string naming
//! the stored type's layout, an optional control block, and the payload at an offset
//! aligned to at least 64 bytes. The header is validated completely (checked arithmetic
//! against the object's real size, a checksum) before the payload is touched.
//!
//! # Trust model
//!
//! The processes sharing a segment are cooperating parts of one application, but any of
//! them can crash at any instruction, run an older build, or have a bug. A peer's bytes can
//! never make safe code here go out of bounds, panic, hang without a timeout, or see an
//! invalid value (shared types are valid for every bit pattern); a corrupted header is an
//! error. Defending against a peer that races on purpose (rewriting a published header,
//! writing plain fields that are read-only after init) is out of scope.
//!
//! # A creator that dies
//!
//! A named segment is made without a name, under its creator's lock (an open-file-description
//! lock, `F_OFD_SETLK`, that the kernel drops when the creator dies), and gets its name
//! (`linkat`) only once its header is written; the creator releases the lock after
//! publishing it. So a creator killed at any instruction leaves either nothing or an
//! unpublished object whose lock nobody holds, and that is recognised at once, with no
//! pid to trust: `open` reports [`ErrorKind::CreatorDied`] (not the whole
//! [`ErrorKind::InitTimeout`]), `open_or_create` removes the object (exactly one of several
//! racing callers does, after re-checking that the name still refers to it) and creates the
//! segment again, and `ipc gc` removes it. A creator that is alive, even stopped, holds its
//! lock and is never robbed; so does a child it forked while creating (the child shares the
//! lock) until it exits. The steps, for readers in other languages, are in `FORMAT.md`
//! ("The init protocol"); [`creator::remove_if_abandoned`] is the one implementation of the
//! removal.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

mod any;
mod array;
mod error;
mod ident;
mod lock;
pub mod ring;
mod segment;
#[cfg(test)]
mod testmem;
mod value;
mod view;

pub use any::{AnyArray, AnyArrayOptions, AnyElem, ElemType};
pub use array::{ArrayGuard, SharedArray, SharedArrayOptions};
pub use error::{Error, ErrorKind, LayoutMismatch, Result};
pub use format::{Kind, SegmentInfo};
pub use ipc_core;
pub use ipc_core::SharedLayout;
pub use ipc_derive::SharedLayout;
pub use lock::condvar::{SharedCondvar, WaitTimeoutResult};
pub use lock::mutex::{SharedMutex, SharedMutexGuard};
pub use lock::poison::{self, PoisonMutex};
pub use lock::rwlock::{SharedReadGuard, SharedRwLock, SharedWriteGuard};
#[cfg(not(loom))]
pub use ring::{
    ByteRing, ByteRingOptions, MpmcRing, MpmcRingOptions, PeerExit, RingOptions, RingStatus,
    SpscRing, SpscRingOptions,
};
pub use segment::named::{inspect, inspect_timeout, unlink};
pub use segment::{creator, format, DEFAULT_OPEN_TIMEOUT};
pub use value::{Shared, SharedOptions};
pub use view::{ArrayView, AtomicElement};
