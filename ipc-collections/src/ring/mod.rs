//! Ring buffers in shared memory: the algorithms.
//!
//! - [`spsc`]: one producer, one consumer, typed slots (`T: SharedLayout + Copy`): the
//!   fastest path, batch publication, blocking with bounded futex sleeps.
//! - [`mpmc`]: many producers and consumers, Dmitry Vyukov's bounded queue with a stamp per
//!   slot, plus recovery of a slot whose producer died between claiming and publishing,
//!   or whose consumer died between taking and freeing it.
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
//! validate the header, then `attach` with the header's offsets and capacity. Every public
//! call returns the crate's one error ([`Error`](crate::Error)), naming the operation
//! (`push`, `try_pop`, `send`, `attach`...) and, for a named ring, the ring; a full or empty
//! ring is not an error of a `try_` call but its value (`Ok(false)`, `Ok(None)`), so a
//! polling loop never builds one.
//!
//! # Trust
//!
//! The capacity and mask are the caller's (validated header) and live in process memory.
//! Every counter, stamp and frame header read from shared memory is read once, checked
//! (`0 <= tail - head <= capacity`, a stamp one of the values the protocol allows, a frame
//! inside the published bytes and the buffer) and masked before it is used, so a corrupted
//! control block gives [`Corrupted`](crate::ErrorKind::Corrupted), never an out-of-bounds access, a panic,
//! or a wait past the caller's timeout. Slot contents are `SharedLayout` values (valid for
//! every bit pattern) or bytes. What is out of scope, as for every segment: a peer that
//! races on purpose (for example one that moves `head` forward while the consumer still
//! reads a frame) can make the data wrong, not the accesses out of bounds.

/// The three methods every producer and consumer handle of the ring algorithms has, written
/// once: `on_peer_exit` (its doc naming the other side, `$other`), `attach` (its doc, the
/// kind's, given as attributes) and `named`; `$state` is the handle's field that holds the
/// attachment (`side` or `ring`).
macro_rules! handle_basics {
    ($state:ident, $other:literal, $(#[$attach_doc:meta])*) => {
        #[doc = concat!("Chooses what the departure of the ", $other, " means for this handle (default")]
        /// [`PeerExit::Disconnect`](super::PeerExit::Disconnect):
        /// [`Disconnected`](crate::ErrorKind::Disconnected) once everything sent is received;
        /// [`PeerExit::Wait`](super::PeerExit::Wait): wait, within each call's timeout, for the
        /// next one).
        pub fn on_peer_exit(mut self, on: super::PeerExit) -> Self {
            self.$state.peer_exit = on;
            self
        }

        $(#[$attach_doc])*
        pub fn attach<M: Memory + ?Sized>(mem: &'m M, layout: RingLayout) -> Result<Self> {
            Self::attach_raw(mem, layout).map_err(|e| e.into_error("attach", ""))
        }

        /// This handle, naming `name` in its errors (a named ring's handles).
        pub(crate) fn named(mut self, name: &'m str) -> Self {
            self.$state.at.name = name;
            self
        }
    };
}

pub mod bytes;
pub mod control;
mod error;
#[cfg(not(loom))]
mod message;
pub mod mpmc;
#[cfg(not(loom))]
pub mod named;
#[cfg(not(loom))]
mod shim;
#[cfg(loom)]
pub mod shim;
pub mod spsc;

pub use control::RingLayout;
pub(crate) use error::RingError;
#[cfg(not(loom))]
pub use named::{
    inspect, Attached, ByteRing, ByteRingOptions, MpmcRing, MpmcRingOptions, RingOptions,
    RingStatus, RingType, SpscRing, SpscRingOptions,
};

use control::{Control, Flavor, Resolved};

/// How long a blocking operation sleeps at most before it checks the other side's
/// liveness again (so a dead peer is noticed within about this time).
pub const PEER_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// What the departure of the other side (every producer, for a consumer; every consumer,
/// for a producer) means for a handle: the choice of the process that holds it, set with
/// [`RingOptions::on_peer_exit`](named::RingOptions::on_peer_exit) or a handle's
/// `on_peer_exit`.
///
/// It is a handle's choice, not the ring's: it changes nothing in shared memory, so peers
/// built before it, other languages (FORMAT.md) and the `ipc` tool keep working, and each
/// process decides for itself whether a restarting peer is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerExit {
    /// Once the other side is gone (every handle of it dropped, or its processes dead) and
    /// everything it sent has been received, the call returns
    /// [`Disconnected`](crate::ErrorKind::Disconnected) (a push: at once if the ring is full). What
    /// a program should do then: stop, or drop its handle and open the ring again later.
    #[default]
    Disconnect,
    /// The other side's departure is not an error: a blocking call goes on waiting, within
    /// its timeout, for the next producer (consumer) to attach and send (make room); a
    /// non-blocking one reports the ring empty (full). For services that restart. Nothing
    /// pushed is lost by the wait itself; a message whose producer was killed before its
    /// push returned may be (see the ring's guarantees).
    Wait,
}

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

/// Checks `layout` against `mem` for a ring of `shape` (see [`control::resolve`]).
fn resolve_in<M: ipc_core::Memory + ?Sized>(
    mem: &M,
    layout: RingLayout,
    shape: &Shape,
) -> Result<Resolved, RingError> {
    if mem.is_read_only() {
        return Err(RingError::Invalid("memory mapped read-only"));
    }
    control::resolve(
        mem.as_ptr(),
        mem.len(),
        layout,
        shape.min_cap,
        shape.data_len,
        shape.data_align,
    )
}

/// What every handle of every ring kind holds: the control block, the data region,
/// capacity and mask (process memory, from the caller's layout), its registration among
/// the first `entries` entries of its side's registry, and the throttle of its liveness
/// checks of the other side. Dropping it leaves: the registration is released and both
/// futex words are woken, so that a sleeper on either side re-checks. A copy that a forked
/// child inherited leaves nothing: the registration is the parent's (see
/// [`ipc_core::process`]).
pub(crate) struct Attachment<'m> {
    pub(crate) ctrl: &'m Control,
    pub(crate) data: *mut u8,
    pub(crate) cap: u64,
    pub(crate) mask: u64,
    entries: usize,
    /// `Some` until the drop releases it.
    reg: Option<control::Registration>,
    /// The process that registered (only it releases the registration).
    pub(crate) owner: ipc_core::process::Owner,
    /// What the other side's departure means for this handle.
    pub(crate) peer_exit: PeerExit,
    /// The ring's name for errors (empty for a ring in memory that has none): a named
    /// ring's, which the handle borrows (see [`Attachment::error`]).
    pub(crate) name: &'m str,
    pub(crate) throttle: shim::Throttle,
    _mem: std::marker::PhantomData<&'m [u8]>,
}

impl<'m> Attachment<'m> {
    /// Resolves `layout` in `mem`, checks what init recorded in the control block, and
    /// registers this process among the first `entries` producers (or consumers).
    fn new<M: ipc_core::Memory + ?Sized>(
        mem: &'m M,
        layout: RingLayout,
        shape: Shape,
        producer: bool,
        entries: usize,
    ) -> Result<Self, RingError> {
        let r = resolve_in(mem, layout, &shape)?;
        // SAFETY: `resolve` checked that the control block lies inside the memory, aligned;
        // `Control` is atomics only, valid for every bit pattern, and `mem` stays mapped
        // for 'm, which the returned attachment borrows (the `Memory` contract).
        let ctrl: &'m Control = unsafe { &*r.ctrl };
        ctrl.check_identity(shape.flavor, r.cap, shape.elem_size)?;
        let side = if producer {
            &ctrl.producers
        } else {
            &ctrl.consumers
        };
        // SAFETY: the registry lives in `mem`, borrowed for 'm: as long as the attachment,
        // which owns the registration.
        let reg = unsafe { control::Registration::claim(side, entries) }?;
        Ok(Attachment {
            ctrl,
            data: r.data,
            cap: r.cap,
            mask: r.mask,
            entries,
            reg: Some(reg),
            owner: ipc_core::process::Owner::current(),
            peer_exit: PeerExit::Disconnect,
            name: "",
            throttle: shim::Throttle::new(),
            _mem: std::marker::PhantomData,
        })
    }

    /// The crate's error for outcome `e` of operation `op` of this handle, naming the ring.
    #[cold]
    #[inline(never)]
    pub(crate) fn error(&self, op: &'static str, e: RingError) -> ipc_core::Error {
        e.into_error(op, self.name)
    }

    /// This handle's registry entry.
    pub(crate) fn entry(&self) -> &control::Participant {
        self.reg.as_ref().expect("registered until drop").entry()
    }

    /// Whether the other side (the producers if `producers`) is gone: at once if every
    /// registration was released, within about a millisecond of polling if the processes
    /// died (see [`control::side_gone`]).
    /// Always false for a handle that waits for the next peer ([`PeerExit::Wait`]).
    pub(crate) fn other_gone(&mut self, producers: bool) -> bool {
        if self.peer_exit == PeerExit::Wait {
            return false;
        }
        let ctrl = self.ctrl;
        let side = if producers {
            &ctrl.producers[..self.entries]
        } else {
            &ctrl.consumers[..self.entries]
        };
        control::side_gone(side, &mut self.throttle)
    }
}

impl Drop for Attachment<'_> {
    fn drop(&mut self) {
        if !self.owner.is_current() {
            // A forked child's copy: the registration is the parent's, which still uses it.
            std::mem::forget(self.reg.take());
            return;
        }
        // Release the registration first, then wake: a woken sleeper sees this side gone.
        drop(self.reg.take());
        Control::wake(&self.ctrl.data_futex, &self.ctrl.data_sleepers);
        Control::wake(&self.ctrl.space_futex, &self.ctrl.space_sleepers);
    }
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
    let r = resolve_in(mem, layout, &shape)?;
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
