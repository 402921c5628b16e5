//! The ring control block ([`Control`]): the counters, the futex words, the participant
//! registry and the statistics that every ring kind keeps in shared memory, and the
//! description of where a ring lives ([`RingLayout`]).
//!
//! FORMAT.md ("Rings (kind 3)") describes these bytes for readers in other languages; the
//! `offset_of!` assertions below pin each offset to that section. Every field is an atomic:
//! any process that maps the ring may change any of them at any time, so the algorithms
//! read each one once into a local, check it, and never index memory with an unchecked
//! value from here.

#[cfg(not(loom))]
use std::mem::offset_of;

use super::shim::{is_alive, this_process, AtomicU64, FutexWord, Ordering};
use super::{shim, RingError};

/// How many producers (and, separately, consumers) can be registered at once.
#[cfg(not(loom))]
pub const MAX_PARTICIPANTS: usize = 16;
/// Under loom: 3, so that a registry scan is a few loads (each is a loom branch point).
#[cfg(loom)]
pub const MAX_PARTICIPANTS: usize = 3;

/// The length of the control block in bytes (1536 in a normal build).
pub const CONTROL_LEN: usize = std::mem::size_of::<Control>();

/// The alignment the control block's offset must have.
pub const CONTROL_ALIGN: usize = 64;

/// The ring algorithm a control block belongs to (its `flavor` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Flavor {
    /// [`spsc`](super::spsc): one producer, one consumer, typed slots.
    Spsc = 1,
    /// [`mpmc`](super::mpmc): many producers and consumers, a stamp per typed slot.
    Mpmc = 2,
    /// [`bytes`](super::bytes): one producer, one consumer, variable-length frames.
    Bytes = 3,
}

impl Flavor {
    /// The flavour a control block's `flavor` word names, if any.
    pub const fn from_code(code: u32) -> Option<Flavor> {
        match code {
            1 => Some(Flavor::Spsc),
            2 => Some(Flavor::Mpmc),
            3 => Some(Flavor::Bytes),
            _ => None,
        }
    }

    /// The smallest capacity a ring of this flavour has (FORMAT.md, "Rings (kind 3)"): 1
    /// slot for SPSC, 2 for MPMC (a slot's stamp must tell "published" from "free for the
    /// next lap"), [`bytes::MIN_CAPACITY`](super::bytes::MIN_CAPACITY) bytes for a byte ring.
    pub const fn min_capacity(self) -> u64 {
        match self {
            Flavor::Spsc => 1,
            Flavor::Mpmc => 2,
            Flavor::Bytes => super::bytes::MIN_CAPACITY,
        }
    }

    /// The flavour in messages: `an SPSC ring`, `an MPMC ring`, `a byte ring`.
    pub const fn words(self) -> &'static str {
        match self {
            Flavor::Spsc => "an SPSC ring",
            Flavor::Mpmc => "an MPMC ring",
            Flavor::Bytes => "a byte ring",
        }
    }
}

/// The offset of the `flavor` word in the control block (FORMAT.md's table; pinned below).
pub const FLAVOR_OFFSET: usize = 384;
/// The offset of the control block's copy of the capacity.
pub const CAPACITY_OFFSET: usize = 392;
/// The offset of the control block's element size (0 for a byte ring).
pub const ELEM_SIZE_OFFSET: usize = 400;
/// The offset of the producer registry; the consumer registry follows it.
pub const PRODUCERS_OFFSET: usize = 512;
/// The length of a registry entry; its bytes 24..32 are reserved.
pub const ENTRY_LEN: usize = 32;

/// The bytes of the control block that are reserved (always 0), each range a multiple of
/// 4 long: the rest of the `tail` and `head` lines, the rest of the futex line, the word
/// after `flavor`, the rest of the identity line, and the last 8 bytes of every registry
/// entry (FORMAT.md, "The control block"). [`crate::format::validate_control`] refuses a
/// block with any of them set. Each is `(start, end)`.
pub const ZERO_AREAS: [(usize, usize); 37] = {
    let mut a = [(0, 0); 37];
    a[0] = (8, 128);
    a[1] = (136, 256);
    a[2] = (272, 384);
    a[3] = (388, 392);
    a[4] = (416, 512);
    let mut i = 0;
    while i < 32 {
        let at = PRODUCERS_OFFSET + i * ENTRY_LEN + 24;
        a[5 + i] = (at, at + 8);
        i += 1;
    }
    a
};

/// One participant slot of the registry: who is attached (pid and start time), and for an
/// MPMC participant, which position it is claiming.
#[repr(C)]
pub struct Participant {
    /// `generation << 32 | pid`. pid 0: free. The generation counts registrations of this
    /// slot (it is bumped by each claim, kept by a release), so a stale view of an earlier
    /// occupant can be told from the current one. Claimed and released with CAS.
    pub id: AtomicU64,
    /// `(generation & 0xffff) << 48 | start_time`: the occupant's start time
    /// (`/proc/PID/stat` field 22), tagged with the low 16 bits of the generation it belongs
    /// to. Written just after the claim; until then the tag is an older generation's and a
    /// reader checks liveness by pid alone.
    pub start: AtomicU64,
    /// MPMC only: `pos + 1` while claiming position `pos`, 0 otherwise. A producer stores
    /// it before its CAS on `tail` and resets it after publishing the slot; a consumer
    /// stores it before its CAS on `head` and resets it after freeing the slot (or when the
    /// CAS fails). Every store is Release (see `ring::mpmc`'s module docs).
    pub claiming: AtomicU64,
    /// Reserved, 0.
    pub reserved: AtomicU64,
}

/// A reserved area of the control block: `N` zero words, each accessed atomically like
/// every control-block word (FORMAT.md), so that reading it races with nothing whatever a
/// peer writes. Plain `std` atomics also under loom: no model involves the padding.
type Pad<const N: usize> = [std::sync::atomic::AtomicU64; N];

/// A zeroed [`Pad`] (for the loom model's blocks: real ones live in mapped memory).
#[cfg(loom)]
fn pad_zero<const N: usize>() -> Pad<N> {
    std::array::from_fn(|_| std::sync::atomic::AtomicU64::new(0))
}

/// The control block of every ring kind (see FORMAT.md, "Rings (kind 3)").
///
/// One `#[repr(C)]` struct of atomics; a kind's `init` formats a fresh
/// one. Lines 0 and 1 hold one counter each and are written only by their side.
#[repr(C)]
pub struct Control {
    /// Line 0 (offset 0): `tail`, the count of slots (bytes for a byte ring) ever published
    /// (SPSC/bytes: written by the producer only; MPMC: the next position to claim, advanced
    /// by CAS). Never masked in shared memory; position `p` lives at `p & (capacity - 1)`.
    pub tail: AtomicU64,
    _pad0: Pad<15>,
    /// Line 1 (offset 128): `head`, the count of slots (bytes) ever consumed.
    pub head: AtomicU64,
    _pad1: Pad<15>,
    /// Line 2 (offset 256): consumers sleep on this word waiting for data; a producer that
    /// sees `data_sleepers > 0` after publishing increments it and wakes them.
    pub data_futex: FutexWord,
    /// How many consumers are (about to be) asleep on `data_futex`.
    pub data_sleepers: shim::AtomicU32,
    /// Producers sleep on this word waiting for space.
    pub space_futex: FutexWord,
    /// How many producers are (about to be) asleep on `space_futex`.
    pub space_sleepers: shim::AtomicU32,
    _pad2: Pad<14>,
    /// Line 3 (offset 384): the [`Flavor`], written at init (informational: never used to
    /// choose an algorithm).
    pub flavor: shim::AtomicU32,
    /// Reserved, 0.
    pub reserved0: shim::AtomicU32,
    /// The capacity written at init (slots, or bytes for a byte ring). Informational: the
    /// algorithms use the capacity from the validated header; attach compares the two.
    pub capacity: AtomicU64,
    /// The element size written at init (0 for a byte ring). Informational, as `capacity`.
    pub elem_size: AtomicU64,
    /// MPMC messages lost to participants killed mid-operation: a producer between claiming
    /// a slot and publishing it (counted by the consumer that skips the slot), a consumer
    /// between taking a slot and freeing it (counted by the producer that frees it).
    pub lost: AtomicU64,
    _pad3: Pad<12>,
    /// Offset 512: the producers' registry.
    pub producers: [Participant; MAX_PARTICIPANTS],
    /// Offset 1024: the consumers' registry.
    pub consumers: [Participant; MAX_PARTICIPANTS],
    /// Under loom, the model's tracking of the data region's plain accesses.
    #[cfg(loom)]
    pub(crate) tracker: shim::Tracker,
}

#[cfg(not(loom))]
const _: () = {
    assert!(offset_of!(Control, tail) == 0);
    assert!(offset_of!(Control, head) == 128);
    assert!(offset_of!(Control, data_futex) == 256);
    assert!(offset_of!(Control, data_sleepers) == 260);
    assert!(offset_of!(Control, space_futex) == 264);
    assert!(offset_of!(Control, space_sleepers) == 268);
    assert!(offset_of!(Control, flavor) == FLAVOR_OFFSET);
    assert!(offset_of!(Control, reserved0) == 388);
    assert!(offset_of!(Control, capacity) == CAPACITY_OFFSET);
    assert!(offset_of!(Control, elem_size) == ELEM_SIZE_OFFSET);
    assert!(offset_of!(Control, _pad3) == 416);
    assert!(offset_of!(Control, _pad2) == 272);
    assert!(offset_of!(Control, lost) == 408);
    assert!(offset_of!(Control, producers) == PRODUCERS_OFFSET);
    assert!(offset_of!(Control, consumers) == PRODUCERS_OFFSET + MAX_PARTICIPANTS * ENTRY_LEN);
    assert!(std::mem::size_of::<Participant>() == ENTRY_LEN);
    assert!(offset_of!(Participant, reserved) == 24);
    assert!(offset_of!(Participant, start) == 8);
    assert!(offset_of!(Participant, claiming) == 16);
    assert!(std::mem::size_of::<Control>() == crate::format::RING_CONTROL_LEN);
    assert!(std::mem::align_of::<Control>() <= CONTROL_ALIGN);
};

/// Where a ring lives inside a [`Memory`](ipc_core::Memory): the control block's byte
/// offset, the data region's byte offset and the capacity. These come from the caller (for
/// a named ring: from the validated segment header) and stay in process memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLayout {
    /// Byte offset of the [`Control`] block (a multiple of [`CONTROL_ALIGN`]).
    pub control_offset: usize,
    /// Byte offset of the data region (slots, or the byte ring's buffer).
    pub data_offset: usize,
    /// Slots (typed rings) or bytes (byte ring); a power of two.
    pub capacity: u64,
}

impl RingLayout {
    /// The packing the rings use by default: the control block at 0, the data region at
    /// the next multiple of 128 after it.
    pub const fn packed(capacity: u64) -> RingLayout {
        RingLayout {
            control_offset: 0,
            data_offset: CONTROL_LEN.div_ceil(128) * 128,
            capacity,
        }
    }
}

/// The checked, process-local description of a ring: pointers into the memory, capacity
/// and mask. Built by [`resolve`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolved {
    pub(crate) ctrl: *const Control,
    pub(crate) data: *mut u8,
    pub(crate) cap: u64,
    pub(crate) mask: u64,
}

/// Checks `layout` against a memory of `mem_len` bytes at `base`, for a data region of
/// `data_len` bytes aligned to `data_align`: offsets aligned, regions inside the memory and
/// disjoint (all arithmetic checked), capacity a power of two of at least `min_cap`.
pub(crate) fn resolve(
    base: *mut u8,
    mem_len: usize,
    layout: RingLayout,
    min_cap: u64,
    data_len: Option<usize>,
    data_align: usize,
) -> Result<Resolved, RingError> {
    let cap = layout.capacity;
    if !cap.is_power_of_two() || cap < min_cap {
        return Err(RingError::Invalid(
            "capacity is not a power of two of the minimum size",
        ));
    }
    let data_len = data_len.ok_or(RingError::Invalid("data region size overflows"))?;
    if layout.control_offset % CONTROL_ALIGN != 0 || (base as usize) % CONTROL_ALIGN != 0 {
        return Err(RingError::Invalid(
            "control block offset not 64-byte aligned",
        ));
    }
    if layout.data_offset % data_align.max(8) != 0 {
        return Err(RingError::Invalid(
            "data region offset misaligned for the element",
        ));
    }
    let ctrl_end = layout
        .control_offset
        .checked_add(CONTROL_LEN)
        .ok_or(RingError::Invalid("control block offset overflows"))?;
    let data_end = layout
        .data_offset
        .checked_add(data_len)
        .ok_or(RingError::Invalid("data region offset overflows"))?;
    if ctrl_end > mem_len || data_end > mem_len {
        return Err(RingError::Invalid(
            "ring extends past the end of the memory",
        ));
    }
    if layout.data_offset < ctrl_end && layout.control_offset < data_end {
        return Err(RingError::Invalid("control block and data region overlap"));
    }
    Ok(Resolved {
        // The offsets are inside the memory (checked above), so these are in bounds.
        ctrl: base.wrapping_add(layout.control_offset) as *const Control,
        data: base.wrapping_add(layout.data_offset),
        cap,
        mask: cap - 1,
    })
}

impl Control {
    /// Writes a fresh control block at `ctrl`: counters 0, nobody asleep or registered,
    /// the flavor, capacity and element size recorded.
    ///
    /// # Safety
    /// `ctrl` is valid for writes of [`CONTROL_LEN`] bytes, aligned, and no other thread or
    /// process uses the ring until this returns (the creator's exclusive init).
    pub(crate) unsafe fn format(
        ctrl: *mut Control,
        flavor: Flavor,
        cap: u64,
        elem_size: u64,
        _tracked_cells: usize,
    ) {
        #[cfg(not(loom))]
        {
            // SAFETY: `ctrl` is valid for CONTROL_LEN bytes of writes (the contract) and no
            // one else accesses it yet; all-zero bytes are a valid `Control` (atomics only).
            unsafe { std::ptr::write_bytes(ctrl.cast::<u8>(), 0, CONTROL_LEN) };
        }
        #[cfg(loom)]
        {
            // SAFETY: as above; under loom the atomics are model objects that must be
            // built with `new`, so the whole struct is written.
            unsafe { std::ptr::write(ctrl, Control::new_model(_tracked_cells)) };
        }
        // SAFETY: initialised just above; shared references to atomics are fine.
        let c = unsafe { &*ctrl };
        c.flavor.store(flavor as u32, Ordering::Relaxed);
        c.capacity.store(cap, Ordering::Relaxed);
        c.elem_size.store(elem_size, Ordering::Relaxed);
    }

    #[cfg(loom)]
    fn new_model(cells: usize) -> Control {
        use shim::AtomicU32;
        let part = || Participant {
            id: AtomicU64::new(0),
            start: AtomicU64::new(0),
            claiming: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
        };
        Control {
            tail: AtomicU64::new(0),
            _pad0: pad_zero(),
            head: AtomicU64::new(0),
            _pad1: pad_zero(),
            data_futex: FutexWord::new(0),
            data_sleepers: AtomicU32::new(0),
            space_futex: FutexWord::new(0),
            space_sleepers: AtomicU32::new(0),
            _pad2: pad_zero(),
            flavor: AtomicU32::new(0),
            reserved0: AtomicU32::new(0),
            capacity: AtomicU64::new(0),
            elem_size: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            _pad3: pad_zero(),
            producers: std::array::from_fn(|_| part()),
            consumers: std::array::from_fn(|_| part()),
            tracker: shim::Tracker::new(cells),
        }
    }

    /// A copy of the block's bytes, for [`crate::format::validate_control`]: each field read
    /// with one load of its width, the atomics atomically (Relaxed: the identity words and
    /// the reserved areas are written once, before the state word became ready, whose
    /// Acquire load precedes this; the counters are copied along, not trusted).
    #[cfg(not(loom))]
    pub(crate) fn copy_out(&self) -> Vec<u8> {
        let mut out = vec![0u8; CONTROL_LEN];
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        let r = Ordering::Relaxed;
        put(0, &self.tail.load(r).to_ne_bytes());
        put(128, &self.head.load(r).to_ne_bytes());
        put(256, &self.data_futex.load(r).to_ne_bytes());
        put(260, &self.data_sleepers.load(r).to_ne_bytes());
        put(264, &self.space_futex.load(r).to_ne_bytes());
        put(268, &self.space_sleepers.load(r).to_ne_bytes());
        put(FLAVOR_OFFSET, &self.flavor.load(r).to_ne_bytes());
        put(388, &self.reserved0.load(r).to_ne_bytes());
        put(CAPACITY_OFFSET, &self.capacity.load(r).to_ne_bytes());
        put(ELEM_SIZE_OFFSET, &self.elem_size.load(r).to_ne_bytes());
        put(408, &self.lost.load(r).to_ne_bytes());
        // The padding is read atomically too: whatever a peer writes there, this races
        // with nothing.
        for (pad, at) in [(&self._pad0[..], 8), (&self._pad1[..], 136)]
            .into_iter()
            .chain([(&self._pad2[..], 272), (&self._pad3[..], 416)])
        {
            for (i, w) in pad.iter().enumerate() {
                put(at + 8 * i, &w.load(r).to_ne_bytes());
            }
        }
        for (i, p) in self.producers.iter().chain(&self.consumers).enumerate() {
            let at = PRODUCERS_OFFSET + i * ENTRY_LEN;
            put(at, &p.id.load(r).to_ne_bytes());
            put(at + 8, &p.start.load(r).to_ne_bytes());
            put(at + 16, &p.claiming.load(r).to_ne_bytes());
            put(at + 24, &p.reserved.load(r).to_ne_bytes());
        }
        out
    }

    /// Checks what init recorded against what the caller expects.
    pub(crate) fn check_identity(
        &self,
        flavor: Flavor,
        cap: u64,
        elem_size: u64,
    ) -> Result<(), RingError> {
        if self.flavor.load(Ordering::Relaxed) != flavor as u32 {
            return Err(RingError::Corrupted(
                "control block flavor differs from the ring's kind",
            ));
        }
        if self.capacity.load(Ordering::Relaxed) != cap {
            return Err(RingError::Corrupted(
                "control block capacity differs from the header's",
            ));
        }
        if self.elem_size.load(Ordering::Relaxed) != elem_size {
            return Err(RingError::Corrupted("control block element size differs"));
        }
        Ok(())
    }

    /// Wakes every sleeper on `word` if `sleepers` says there may be one; no system call
    /// otherwise.
    ///
    /// The caller has just published a change (a counter store with Release); the SeqCst
    /// fence here pairs with the one in [`Control::sleep`]: either this load sees the
    /// sleeper's registration, or the sleeper's re-check sees the change.
    #[inline]
    pub(crate) fn wake(word: &FutexWord, sleepers: &shim::AtomicU32) {
        shim::fence(Ordering::SeqCst);
        if sleepers.load(Ordering::Relaxed) > 0 {
            // Release: pairs with the Acquire load of the word in `sleep`; a sleeper that
            // reads this new value also sees the change published before it.
            word.fetch_add(1, Ordering::Release);
            shim::futex_wake_all(word);
        }
    }

    /// Sleeps on `word` unless `ready()` (re-checked after registering as a sleeper) is
    /// true, for at most `max`. Returns whether `ready()` was true at the re-check.
    pub(crate) fn sleep(
        word: &FutexWord,
        sleepers: &shim::AtomicU32,
        max: std::time::Duration,
        ready: impl FnOnce() -> bool,
    ) -> Result<bool, RingError> {
        sleepers.fetch_add(1, Ordering::Relaxed);
        // SeqCst: pairs with the fence in `wake` (a store-buffering pair: the waker's
        // counter store then sleeper load, against our sleeper increment then counter load).
        shim::fence(Ordering::SeqCst);
        // Acquire: pairs with the Release increment in `wake`.
        let seen = word.load(Ordering::Acquire);
        let r = if ready() {
            Ok(true)
        } else {
            shim::futex_wait(word, seen, max).map(|()| false)
        };
        sleepers.fetch_sub(1, Ordering::Relaxed);
        r
    }
}

/// What a blocking operation of a one-producer/one-consumer ring waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Await {
    /// Room: the producer waits for `head` to move (on `space_futex`), or the consumer to
    /// be gone.
    Space,
    /// Data: the consumer waits for `tail` to move (on `data_futex`), or the producer to be
    /// gone.
    Data,
}

/// The one blocking loop of the SPSC and byte rings' `push`/`pop`/`reserve_wait`/`recv`.
///
/// `attempt(slept)` is the non-blocking operation: `Ok(result)` ends the wait with that
/// result, `Err(seen)` means "would block" and gives the other side's counter as the
/// attempt saw it. `slept` is true after a sleep that ended with the counter unmoved (a
/// timeout, or the other side released): the attempt should then check the other side's
/// liveness at once ([`Throttle::expire`](super::shim::Throttle::expire)), so that a peer
/// killed while this side sleeps is noticed within about one sleep. Then: spin [`SPIN_LIMIT`](super::shim::SPIN_LIMIT) polls of that counter only (a
/// Relaxed hint: `attempt` re-reads it with the ordering it needs), then alternate attempts
/// and futex sleeps of at most [`PEER_POLL`](super::PEER_POLL) (the sleeper count lets the
/// other side skip the wake call when nobody sleeps), each sleep ending early when the
/// counter moved or the other side is gone, until `timeout` ([`RingError::Timeout`]).
#[inline]
pub(crate) fn block<R>(
    ctrl: &Control,
    what: Await,
    timeout: Option<std::time::Duration>,
    mut attempt: impl FnMut(bool) -> Result<Result<R, RingError>, u64>,
) -> Result<R, RingError> {
    let seen = match attempt(false) {
        Ok(r) => return r,
        Err(seen) => seen,
    };
    let deadline = super::spsc::deadline(timeout);
    let (counter, word, sleepers, others) = match what {
        Await::Space => (
            &ctrl.head,
            &ctrl.space_futex,
            &ctrl.space_sleepers,
            &ctrl.consumers[..1],
        ),
        Await::Data => (
            &ctrl.tail,
            &ctrl.data_futex,
            &ctrl.data_sleepers,
            &ctrl.producers[..1],
        ),
    };
    // Relaxed: only a hint that the counter moved; `attempt` re-reads it with Acquire.
    shim::spin_until(|| counter.load(Ordering::Relaxed) != seen);
    let mut slept = false;
    loop {
        let seen = match attempt(slept) {
            Ok(r) => return r,
            Err(seen) => seen,
        };
        let Some(wait) = super::spsc::next_sleep(deadline) else {
            return Err(RingError::Timeout);
        };
        Control::sleep(word, sleepers, wait, || {
            counter.load(Ordering::Relaxed) != seen || peer(others, false) == Peer::Gone
        })?;
        slept = counter.load(Ordering::Relaxed) == seen;
    }
}

/// What a side of the ring (the producers, or the consumers) looks like to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Someone is registered and, as far as was checked, alive.
    Present,
    /// Someone was registered once, and every registration is now released or dead.
    Gone,
    /// Nobody has registered on that side yet.
    NeverAttached,
}

const PID_MASK: u64 = 0xffff_ffff;

/// The liveness of the occupant described by `id` (pid != 0) in `p`.
fn occupant_alive(p: &Participant, id: u64) -> bool {
    let pid = (id & PID_MASK) as u32 as i32;
    let gen = id >> 32;
    let s = p.start.load(Ordering::Acquire);
    let start = if s >> 48 == gen & 0xffff {
        s & ((1 << 48) - 1)
    } else {
        0
    };
    is_alive(pid, start)
}

/// Whether a side of the ring (the registry entries it uses) is gone: at once when every
/// registration was released, within about a millisecond of polling (`throttle` spaces the
/// `/proc` checks) when its processes died.
///
/// Deliberately not inlined. An empty (full) poll of a non-blocking pop (push) calls this
/// every time; inlined, a consumer spinning on `try_pop` re-reads `tail` a few
/// nanoseconds sooner each poll, takes the line from the producer more often and slows
/// it: measured in `ipc-bench` scenario 4, one-at-a-time SPSC throughput fell from ~47
/// to ~18 M msg/s (the spinning round trip of scenario 2 did not change).
#[inline(never)]
pub(crate) fn side_gone(side: &[Participant], throttle: &mut super::shim::Throttle) -> bool {
    match peer(side, false) {
        Peer::Gone => true,
        Peer::NeverAttached => false,
        Peer::Present => throttle.due() && peer(side, true) == Peer::Gone,
    }
}

/// Scans a side's registry. With `check_liveness`, occupants are checked against `/proc`
/// (expensive); without, any occupant counts as present.
#[inline]
pub(crate) fn peer(side: &[Participant], check_liveness: bool) -> Peer {
    let mut seen = false;
    for p in side {
        // Acquire: pairs with the Release CAS of a release or claim, so whatever the
        // occupant published before leaving is visible after this says Gone.
        let id = p.id.load(Ordering::Acquire);
        if id >> 32 != 0 {
            seen = true;
        }
        if id & PID_MASK != 0 && (!check_liveness || occupant_alive(p, id)) {
            return Peer::Present;
        }
    }
    if seen {
        Peer::Gone
    } else {
        Peer::NeverAttached
    }
}

/// The occupants of a side's registry (pid, alive by pid and start time): a snapshot for
/// status displays, never used by the algorithms.
#[cfg_attr(loom, allow(dead_code))] // used by the named handles, which loom builds leave out
pub(crate) fn occupants(side: &[Participant]) -> Vec<(i32, bool)> {
    side.iter()
        .filter_map(|p| {
            let id = p.id.load(Ordering::Acquire);
            let pid = (id & PID_MASK) as u32 as i32;
            (pid != 0).then(|| (pid, occupant_alive(p, id)))
        })
        .collect()
}

/// Whether some LIVE registered participant of `side` has `claiming == want` (an MPMC
/// producer that may still publish position `want - 1`, or a consumer that may still free
/// its slot).
pub(crate) fn live_claimer(side: &[Participant], want: u64) -> bool {
    side.iter().any(|p| {
        let id = p.id.load(Ordering::Acquire);
        // Acquire: pairs with the Release stores of `claiming`; reading a value written
        // after the claim record (the reset, or a later claim) means the claimer's stamp
        // store is visible.
        id & PID_MASK != 0 && p.claiming.load(Ordering::Acquire) == want && occupant_alive(p, id)
    })
}

/// A registration in a side's registry, released (CAS back to free) on drop.
#[derive(Debug)]
pub(crate) struct Registration {
    entry: *const Participant,
    id: u64,
}

impl Registration {
    /// Claims a free slot (or one whose occupant is dead) among the first `limit` entries
    /// of `side`.
    ///
    /// # Safety
    /// `side` outlives the returned registration (the handle that holds it borrows the
    /// memory).
    pub(crate) unsafe fn claim(
        side: &[Participant],
        limit: usize,
    ) -> Result<Registration, RingError> {
        let (pid, start) = this_process();
        let pid_bits = u64::from(pid as u32);
        for p in side.iter().take(limit) {
            let mut cur = p.id.load(Ordering::Acquire);
            loop {
                if cur & PID_MASK != 0 && occupant_alive(p, cur) {
                    break;
                }
                let gen = ((cur >> 32) + 1) & PID_MASK;
                let gen = if gen == 0 { 1 } else { gen };
                let new = gen << 32 | pid_bits;
                // AcqRel: Acquire pairs with the release of the previous occupant; Release
                // publishes the claim (with `claiming` reset below, before any use).
                match p
                    .id
                    .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        // Release: every store to `claiming` is (ring::mpmc's docs).
                        p.claiming.store(0, Ordering::Release);
                        p.start.store(
                            (gen & 0xffff) << 48 | (start & ((1 << 48) - 1)),
                            Ordering::Release,
                        );
                        return Ok(Registration { entry: p, id: new });
                    }
                    Err(now) => cur = now,
                }
            }
        }
        Err(RingError::Busy)
    }

    /// The registry entry.
    #[inline]
    pub(crate) fn entry(&self) -> &Participant {
        // SAFETY: `claim`'s contract: the registry outlives the registration.
        unsafe { &*self.entry }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let p = self.entry();
        // Release: a scan that reads this sees our last stamp store (ring::mpmc's docs).
        p.claiming.store(0, Ordering::Release);
        // Release: pairs with the Acquire load in `peer`: everything this participant
        // published happens before another side sees it gone. A failed CAS means another
        // process took the entry over (it thought us dead): nothing to release.
        let _ = p.id.compare_exchange(
            self.id,
            self.id & !PID_MASK,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }
}
