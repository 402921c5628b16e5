//! Ring buffers in shared memory: the algorithms.
//!
//! - [`spsc`]: one producer, one consumer, typed slots (`T: SharedLayout + Copy`): the
//!   fastest path, batch publication, blocking with bounded futex sleeps.
//! - [`mpmc`]: many producers and consumers, Dmitry Vyukov's bounded queue with a stamp per
//!   slot, plus recovery of a slot whose producer died between claiming and publishing.
//! - [`bytes`]: one producer, one consumer, variable-length frames (length-prefixed
//!   records, a padding record at the wrap), zero-copy on both sides.
//!
//! Every ring is a [`Control`] block plus a data region inside any
//! [`ipc_core::Memory`], placed by a [`RingLayout`]. The creator formats it with the kind's
//! `unsafe fn init`; producers and consumers then `attach` (registering their pid and start
//! time in the control block) and detach on drop. FORMAT.md ("Rings (kind 3)") describes
//! the bytes and the SPSC protocol for readers in other languages.
//!
//! # Seam for named rings
//!
//! A named ring (segment kind 3) is a segment whose header's `ring_capacity` gives
//! [`RingLayout::capacity`], whose control block is the [`Control`] block
//! ([`CONTROL_LEN`](control::CONTROL_LEN) bytes) and whose payload is the data region (its
//! length from the kind's `data_len`). Creating one is: create the segment, then call the
//! kind's `init` during the exclusive init, before publishing Ready; opening one is:
//! validate the header, then `attach` with the header's offsets and capacity. Errors map
//! from [`RingError`] to the crate's error.
//!
//! # Trust
//!
//! The capacity and mask are the caller's (validated header) and live in process memory.
//! Every counter, stamp and frame header read from shared memory is read once, checked
//! (`0 <= tail - head <= capacity`, a stamp one of the values the protocol allows, a frame
//! inside the published bytes and the buffer) and masked before it is used, so a corrupted
//! control block gives [`RingError::Corrupted`], never an out-of-bounds access, a panic,
//! or a wait past the caller's timeout. Slot contents are `SharedLayout` values (valid for
//! every bit pattern) or bytes. What is out of scope, as for every segment: a peer that
//! races on purpose (for example one that moves `head` forward while the consumer still
//! reads a frame) can make the data wrong, not the accesses out of bounds.

pub mod bytes;
pub mod control;
mod error;
pub mod mpmc;
#[cfg(not(loom))]
pub mod named;
#[cfg(not(loom))]
mod shim;
#[cfg(loom)]
pub mod shim;
pub mod spsc;

pub use control::RingLayout;
pub use error::RingError;
#[cfg(not(loom))]
pub use named::{
    inspect, Attached, ByteRing, ByteRingOptions, MpmcRing, MpmcRingOptions, RingOptions,
    RingStatus, RingType, SpscRing, SpscRingOptions,
};

use control::{Control, Flavor, Resolved};

/// How long a blocking operation sleeps at most before it checks the other side's
/// liveness again (so a dead peer is noticed within about this time).
pub const PEER_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// What a ring kind needs of its memory.
#[derive(Debug, Clone, Copy)]
struct Shape {
    flavor: Flavor,
    min_cap: u64,
    elem_size: u64,
    data_len: Option<usize>,
    data_align: usize,
    /// Cells the loom model tracks (slots, or 8-byte units of a byte ring).
    tracked_cells: usize,
}

/// Resolves `layout` in `mem` and checks what init recorded.
fn open<M: ipc_core::Memory + ?Sized>(
    mem: &M,
    layout: RingLayout,
    shape: Shape,
) -> Result<Resolved, RingError> {
    if mem.is_read_only() {
        return Err(RingError::Invalid("memory mapped read-only"));
    }
    let r = control::resolve(
        mem.as_ptr(),
        mem.len(),
        layout,
        shape.min_cap,
        shape.data_len,
        shape.data_align,
    )?;
    // SAFETY: `resolve` checked that the control block lies inside the memory, aligned;
    // `Control` is atomics only, valid for every bit pattern, and `mem` stays mapped while
    // borrowed (the `Memory` contract).
    let ctrl = unsafe { &*r.ctrl };
    ctrl.check_identity(shape.flavor, r.cap, shape.elem_size)?;
    Ok(r)
}

/// Formats a fresh ring of `shape` in `mem`.
///
/// # Safety
/// As the kinds' `init`: exclusive access to the ring's bytes.
unsafe fn format<M: ipc_core::Memory + ?Sized>(
    mem: &M,
    layout: RingLayout,
    shape: Shape,
) -> Result<Resolved, RingError> {
    if mem.is_read_only() {
        return Err(RingError::Invalid("memory mapped read-only"));
    }
    let r = control::resolve(
        mem.as_ptr(),
        mem.len(),
        layout,
        shape.min_cap,
        shape.data_len,
        shape.data_align,
    )?;
    // SAFETY: the control block is inside the memory and aligned (`resolve`), and the
    // caller has exclusive access (this function's contract).
    unsafe {
        Control::format(
            r.ctrl.cast_mut(),
            shape.flavor,
            r.cap,
            shape.elem_size,
            shape.tracked_cells,
        )
    };
    Ok(r)
}
