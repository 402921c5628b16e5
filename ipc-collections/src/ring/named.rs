//! Ring handles that own their memory: [`SpscRing`], [`MpmcRing`] and [`ByteRing`], created
//! and opened by name (a segment of kind 3, FORMAT.md "Rings (kind 3)") or over anonymous
//! memory for forked children, with the options vocabulary of every named kind
//! ([`RingOptions`]).
//!
//! A handle owns the segment; [`producer`](SpscRing::producer) and
//! [`consumer`](SpscRing::consumer) attach this process to the ring (registering its pid and
//! start time in the control block) and borrow the handle, so the memory outlives them.
//!
//! Opening checks, in order: the header and, the ring being ready, its control block are
//! valid ([`format::validate_control`]: a known flavour that agrees with the header's
//! layout, what init recorded, the flavour's minimum capacity, reserved areas zero; else
//! [`Corrupted`](crate::ErrorKind::Corrupted), whatever ring the caller expects); the
//! segment is a ring (else [`WrongType`](crate::ErrorKind::WrongType)), of this flavour
//! (else `WrongType` naming both), of this element type
//! ([`LayoutMismatch`](crate::ErrorKind::LayoutMismatch) with the differing fields). The
//! capacity comes from the validated header and lives in process memory.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;

use ipc_core::layout::TypeLayout;
use ipc_core::shm::{AnonShm, Shm};
use ipc_core::{ErrorKind, Memory, SharedLayout};

use crate::error::{Error, Result};
use crate::format::{self, Kind, SegmentInfo, Spec, RING_CONTROL_LEN};
use crate::ident;
use crate::segment::named::{self, NamedOptions};
use crate::segment::{Deadline, Expect, Fresh, Segment, DEFAULT_OPEN_TIMEOUT};

use super::control::{self, Control, Flavor, RingLayout};
use super::{bytes, mpmc, spsc, PeerExit};

mod sealed {
    pub trait Sealed {}
}

/// What a ring type needs of its segment: the flavour, the element type and the sizes.
#[doc(hidden)]
#[derive(Debug)]
pub struct Shape {
    /// The type's name in errors (`SpscRing`).
    what: &'static str,
    flavor: Flavor,
    layout: &'static TypeLayout,
    elem_size: usize,
    elem_align: usize,
    fingerprint: u64,
    min_cap: u64,
    data_len: fn(u64) -> Option<usize>,
}

/// The ring types a [`RingOptions`] builds: [`SpscRing<T>`], [`MpmcRing<T>`] and
/// [`ByteRing`] (sealed: implemented by these three only).
pub trait RingType: sealed::Sealed + Sized {
    #[doc(hidden)]
    const SHAPE: Shape;

    /// Formats a fresh ring of this type in `mem` at `layout`.
    ///
    /// # Safety
    /// As [`spsc::init`]: exclusive access to the ring's bytes.
    #[doc(hidden)]
    unsafe fn format<N: Memory>(mem: &N, layout: RingLayout) -> Result<()>;

    #[doc(hidden)]
    fn from_raw(raw: RawRing<Shm>) -> Self;
}

/// The segment and layout behind every ring handle.
#[doc(hidden)]
pub struct RawRing<M: Memory> {
    seg: Segment<M>,
    layout: RingLayout,
    /// What the other side's departure means for the producers and consumers attached
    /// through this handle.
    peer_exit: PeerExit,
}

/// What a flavour word names, in messages.
fn flavor_words(code: u32) -> &'static str {
    Flavor::from_code(code).map_or("a ring of an unknown flavour", Flavor::words)
}

impl<M: Memory> RawRing<M> {
    fn spec<'a>(shape: &Shape, schema: &'a str, dims: &'a [usize], cap: u64) -> Spec<'a> {
        Spec {
            kind: Kind::Ring,
            elem_size: shape.elem_size,
            elem_align: shape.elem_align,
            fingerprint: shape.fingerprint,
            schema,
            dims,
            control_len: RING_CONTROL_LEN,
            ring_capacity: cap,
            // A capacity too large for the region is refused by `plan` below via
            // `check_capacity` first; usize::MAX here would also be refused.
            ring_payload_len: (shape.data_len)(cap).unwrap_or(usize::MAX),
        }
    }

    /// Refuses a capacity the flavour cannot use.
    fn check_capacity(op: &'static str, shape: &Shape, cap: u64) -> Result<usize> {
        let bad = |why: String| Err(Error::with_text(op, ErrorKind::InvalidInput, why));
        if shape.elem_size == 0 {
            return bad(format!(
                "{} of a zero-sized element type: nothing to send",
                shape.what
            ));
        }
        if !cap.is_power_of_two() || cap < shape.min_cap {
            return bad(format!(
                "{} capacity {cap} is not a power of two of at least {}",
                shape.what, shape.min_cap
            ));
        }
        let dim = usize::try_from(cap).map_err(|_| {
            Error::with_text(
                op,
                ErrorKind::InvalidSize,
                format!("capacity {cap} exceeds usize"),
            )
        })?;
        (shape.data_len)(cap).ok_or_else(|| {
            Error::with_text(
                op,
                ErrorKind::InvalidSize,
                format!("{} of capacity {cap} does not fit in memory", shape.what),
            )
        })?;
        Ok(dim)
    }

    fn segment_len(op: &'static str, shape: &Shape, cap: u64) -> Result<usize> {
        let dim = Self::check_capacity(op, shape, cap)?;
        let schema = ident::schema(shape.layout);
        let dims = [dim];
        Ok(format::plan(op, &Self::spec(shape, &schema, &dims, cap))?.total_len)
    }

    fn create<R: RingType>(
        op: &'static str,
        mem: M,
        name: &str,
        cap: u64,
        fresh: Fresh<M>,
    ) -> Result<Self> {
        let shape = &R::SHAPE;
        let dim = Self::check_capacity(op, shape, cap).map_err(|e| e.or_name(name))?;
        let schema = ident::schema(shape.layout);
        let dims = [dim];
        let spec = Self::spec(shape, &schema, &dims, cap);
        let plan = format::plan(op, &spec).map_err(|e| e.or_name(name))?;
        let layout = RingLayout {
            control_offset: plan.control_offset,
            data_offset: plan.payload_offset,
            capacity: cap,
        };
        let seg = Segment::create(op, mem, name, &spec, &plan, fresh, |seg| {
            // SAFETY: the segment is unpublished (state INITIALIZING) and this handle won
            // the claim on the memory (Segment::create), so nobody else touches the ring's
            // bytes until the state becomes READY: the exclusive access `format` needs.
            unsafe { R::format(seg.memory(), layout) }.map_err(|e| e.or_name(name))
        })?;
        Ok(RawRing {
            seg,
            layout,
            peer_exit: PeerExit::Disconnect,
        })
    }

    fn attach<R: RingType>(mem: M, name: &str, wait: Deadline) -> Result<Self> {
        let shape = &R::SHAPE;
        if mem.is_read_only() {
            return Err(Error::with_text(
                "ring::open",
                ErrorKind::InvalidInput,
                "a ring cannot be used through a read-only mapping (its counters are \
                     written); use ring::inspect to look at one",
            )
            .with_name(name));
        }
        let seg = Segment::attach(mem, name, None, wait)?;
        let info = seg.info();
        if info.kind != Kind::Ring {
            return Err(Error::wrong_kind(name, Kind::Ring, info.kind));
        }
        // The control block was validated with the segment (format::validate_control: a
        // flavour word that is known and agrees with the header's layout, what init recorded
        // for it, the flavour's minimum capacity, reserved areas zero), so the flavour found
        // is a real ring of that flavour: another than this type's is another kind of ring.
        // SAFETY: the control block is RING_CONTROL_LEN == size_of::<Control>() bytes
        // (validated), 64-aligned inside the mapping, which `seg` keeps mapped; Control is
        // atomics only, valid for every bit pattern.
        let ctrl = unsafe { &*seg.control_ptr().cast::<Control>() };
        let found = ctrl.flavor.load(Ordering::Relaxed);
        if found != shape.flavor as u32 {
            return Err(Error::wrong_kind(
                name,
                shape.flavor.words(),
                flavor_words(found),
            ));
        }
        let expect = Expect {
            kind: Kind::Ring,
            elem_size: shape.elem_size,
            elem_align: shape.elem_align,
            fingerprint: shape.fingerprint,
            layout: shape.layout,
            control_len: RING_CONTROL_LEN,
        };
        seg.check(&expect)?;
        let cap = info.ring_capacity;
        if (shape.data_len)(cap) != Some(info.payload.len()) {
            // Cannot happen after the checks above (same flavour, same element layout).
            return Err(Error::corrupted(
                name,
                "ring payload length differs from the flavour's",
            ));
        }
        let layout = RingLayout {
            control_offset: info.control.start,
            data_offset: info.payload.start,
            capacity: cap,
        };
        Ok(RawRing {
            seg,
            layout,
            peer_exit: PeerExit::Disconnect,
        })
    }

    /// `e`, naming this ring (if it has a name).
    fn named(&self, e: Error) -> Error {
        e.or_name(self.seg.name())
    }

    fn control(&self) -> &Control {
        // SAFETY: as in `attach` (or planned so by `create`): the control block lies inside
        // the mapping that `self.seg` keeps alive, aligned, atomics only.
        unsafe { &*self.seg.control_ptr().cast::<Control>() }
    }

    fn status(&self) -> RingStatus {
        RingStatus::read(self.control(), self.seg.info())
    }
}

/// A process attached to a ring, as a [`RingStatus`] snapshot saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    /// Its pid.
    pub pid: i32,
    /// Whether that process is alive (by pid and start time, so a reused pid is not
    /// mistaken for it).
    pub alive: bool,
}

/// A snapshot of a ring's control block, for status displays (`ipc inspect`): read with
/// single atomic loads while others may be using the ring, so the fields need not be
/// consistent with each other, and a corrupted block shows what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingStatus {
    /// The flavour the control block records (`None` for an unknown code).
    pub flavor: Option<Flavor>,
    /// The capacity from the validated header: slots, or bytes for a byte ring.
    pub capacity: u64,
    /// The element size (1 for a byte ring, whose elements are bytes).
    pub elem_size: usize,
    /// Positions (bytes for a byte ring) ever consumed.
    pub head: u64,
    /// Positions (bytes) ever published (MPMC: claimed).
    pub tail: u64,
    /// `tail - head` if that is at most the capacity (`None`: the counters are corrupted).
    pub len: Option<u64>,
    /// The registered producers.
    pub producers: Vec<Attached>,
    /// The registered consumers.
    pub consumers: Vec<Attached>,
    /// Consumers asleep (or about to be) waiting for data.
    pub data_sleepers: u32,
    /// Producers asleep waiting for space.
    pub space_sleepers: u32,
    /// MPMC messages lost to producers that died between claiming a slot and publishing.
    pub lost: u64,
}

impl RingStatus {
    /// Reads a status from a copy of a ring's control block: `control` holds the
    /// [`RING_CONTROL_LEN`] bytes at `info.control` of a validated ring segment, read for
    /// example with `pread` (as `ipc ls` does, so that an object truncated meanwhile cannot
    /// fault the reader and a ring still being initialised does not make it wait). `None`
    /// if `control` is not exactly that long. As with [`inspect`], a corrupted block shows
    /// what it holds.
    pub fn from_control_bytes(info: &SegmentInfo, control: &[u8]) -> Option<RingStatus> {
        if control.len() != RING_CONTROL_LEN {
            return None;
        }
        let mut copy = Box::<Control>::new_uninit();
        // SAFETY: `copy` is a fresh, aligned allocation of size_of::<Control>() ==
        // RING_CONTROL_LEN bytes (asserted in control.rs), `control` has exactly that many
        // (checked above), and the two do not overlap (one is a new allocation).
        unsafe {
            std::ptr::copy_nonoverlapping(
                control.as_ptr(),
                copy.as_mut_ptr().cast::<u8>(),
                RING_CONTROL_LEN,
            )
        };
        // SAFETY: every byte of the Control was written just above, and Control (atomics
        // and integers only) is valid for every bit pattern.
        let copy = unsafe { copy.assume_init() };
        Some(RingStatus::read(&copy, info))
    }

    fn read(ctrl: &Control, info: &SegmentInfo) -> RingStatus {
        let attached = |side: &[control::Participant]| {
            control::occupants(side)
                .into_iter()
                .map(|(pid, alive)| Attached { pid, alive })
                .collect()
        };
        // head, tail, head again: if head did not move meanwhile, `tail - head` is a length
        // the ring really had (the producer published at most `capacity` past a head it had
        // seen, which is at most this one); retried a few times while head moves, so a busy
        // healthy ring is not shown as corrupted.
        let (mut head, mut tail) = (0, 0);
        for _ in 0..8 {
            head = ctrl.head.load(Ordering::Acquire);
            tail = ctrl.tail.load(Ordering::Acquire);
            if ctrl.head.load(Ordering::Acquire) == head {
                break;
            }
        }
        let used = tail.wrapping_sub(head);
        RingStatus {
            flavor: Flavor::from_code(ctrl.flavor.load(Ordering::Relaxed)),
            capacity: info.ring_capacity,
            elem_size: info.elem_size,
            head,
            tail,
            len: (used <= info.ring_capacity).then_some(used),
            producers: attached(&ctrl.producers),
            consumers: attached(&ctrl.consumers),
            data_sleepers: ctrl.data_sleepers.load(Ordering::Relaxed),
            space_sleepers: ctrl.space_sleepers.load(Ordering::Relaxed),
            lost: ctrl.lost.load(Ordering::Relaxed),
        }
    }
}

/// Reads the status of the named ring `name`, whatever its flavour and element type: opens
/// it read-only (without attaching to it), waits up to 5 s for it to be ready, validates
/// the header and reads the control block. For tools (`ipc inspect`).
///
/// Errors: those of [`inspect`](crate::inspect); [`WrongType`](crate::ErrorKind::WrongType)
/// if the segment is not a ring.
pub fn inspect(name: &str) -> Result<(SegmentInfo, RingStatus)> {
    let mut wait = Deadline::after(DEFAULT_OPEN_TIMEOUT);
    let shm = named::open_shm(name, true, &mut wait)?;
    let seg = Segment::attach(shm, name, None, wait)?;
    if seg.info().kind != Kind::Ring {
        return Err(Error::wrong_kind(name, Kind::Ring, seg.info().kind));
    }
    // SAFETY: the validated control block of a ring segment is RING_CONTROL_LEN ==
    // size_of::<Control>() bytes, 64-aligned, inside the mapping `seg` keeps; Control is
    // atomics only, valid for every bit pattern, and only loaded from here (a read-only
    // mapping allows loads).
    let ctrl = unsafe { &*seg.control_ptr().cast::<Control>() };
    Ok((seg.info().clone(), RingStatus::read(ctrl, seg.info())))
}

/// How a ring is created or opened: the builder every named kind shares (see the
/// [lifetime table](ipc_core#options-and-lifetimes)), plus the capacity. Reached through
/// [`SpscRing::options`], [`MpmcRing::options`] and [`ByteRing::options`].
pub struct RingOptions<R: RingType> {
    named: NamedOptions,
    capacity: Option<u64>,
    peer_exit: PeerExit,
    _r: PhantomData<fn() -> R>,
}

/// The builder of [`SpscRing<T>`].
pub type SpscRingOptions<T> = RingOptions<SpscRing<T>>;
/// The builder of [`MpmcRing<T>`].
pub type MpmcRingOptions<T> = RingOptions<MpmcRing<T>>;
/// The builder of [`ByteRing`].
pub type ByteRingOptions = RingOptions<ByteRing>;

named::typed_builder_impls!(RingOptions<R: RingType>, R::SHAPE.what, _r; named, capacity, peer_exit);

impl<R: RingType> RingOptions<R> {
    /// No capacity, mode 0600, a 5 s open timeout, the creating handle unlinks on drop, and
    /// a peer's departure is [`Disconnected`](crate::ErrorKind::Disconnected).
    pub fn new() -> Self {
        RingOptions {
            named: named::defaults(),
            capacity: None,
            peer_exit: PeerExit::Disconnect,
            _r: PhantomData,
        }
    }

    ipc_core::named_setters!(named; mode, timeout, unlink_on_drop);

    /// The capacity: slots for the typed rings (a power of two, at least 1 for SPSC and 2
    /// for MPMC), bytes for a byte ring (a power of two, at least 64; its largest frame is
    /// `capacity / 2 - 8`). Needed to create; an opened ring must have it if set
    /// ([`LayoutMismatch`](crate::ErrorKind::LayoutMismatch) otherwise).
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// What the departure of the other side means for every producer and consumer this
    /// handle attaches (see [`PeerExit`]): [`Disconnect`](PeerExit::Disconnect) (the
    /// default) makes a call return [`Disconnected`](crate::ErrorKind::Disconnected) once
    /// everything sent is received; [`Wait`](PeerExit::Wait) makes it wait, within its
    /// timeout, for the next producer (consumer) to attach, so that a service can restart
    /// without its peers failing.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ipc_collections::{PeerExit, SpscRing};
    ///
    /// let ring = SpscRing::<u64>::options().on_peer_exit(PeerExit::Wait).open("/ticks")?;
    /// let mut rx = ring.consumer()?;
    /// // Survives producer restarts; Timeout only if nothing comes for 3 s.
    /// let v = rx.pop(Some(Duration::from_secs(3)))?;
    /// # Ok::<(), ipc_collections::Error>(())
    /// ```
    pub fn on_peer_exit(mut self, on: PeerExit) -> Self {
        self.peer_exit = on;
        self
    }

    /// Hands the ring to its type, with this builder's per-handle choices.
    fn finish(&self, mut raw: RawRing<Shm>) -> R {
        raw.peer_exit = self.peer_exit;
        R::from_raw(raw)
    }

    fn capacity_or_err(&self, op: &'static str, name: &str) -> Result<u64> {
        self.capacity.ok_or_else(|| {
            Error::with_text(
                op,
                ErrorKind::InvalidInput,
                "no capacity given (RingOptions::capacity)",
            )
            .with_name(name)
        })
    }

    fn check_capacity(&self, raw: &RawRing<Shm>) -> Result<()> {
        match self.capacity {
            Some(want) if want != raw.layout.capacity => Err(Error::layout_mismatch(
                raw.seg.name(),
                crate::LayoutMismatch {
                    type_name: R::SHAPE.layout.type_name(),
                    expected: format!("capacity {want}"),
                    found: format!("capacity {}", raw.layout.capacity),
                    diffs: vec![format!(
                        "capacity: expected {want}, found {}",
                        raw.layout.capacity
                    )],
                },
            )),
            _ => Ok(()),
        }
    }

    /// The capacity, and the segment's size with it (an error without a capacity).
    fn sized(&self, op: &'static str, name: &str) -> Result<(u64, Result<usize>)> {
        let cap = self.capacity_or_err(op, name)?;
        Ok((cap, RawRing::<Shm>::segment_len(op, &R::SHAPE, cap)))
    }

    /// Creates the named ring exclusively with [`capacity`](Self::capacity) (an existing
    /// name is [`AlreadyExists`](ipc_core::ErrorKind::AlreadyExists)), empty, nobody
    /// attached.
    ///
    /// Errors: [`InvalidInput`](ipc_core::ErrorKind::InvalidInput) without a capacity or
    /// for one the flavour cannot use; [`InvalidSize`](ipc_core::ErrorKind::InvalidSize) if
    /// it does not fit in memory; the errors of [`ipc_core::shm::ShmOptions::create`].
    pub fn create(&self, name: &str) -> Result<R> {
        const OP: &str = "ring::create";
        let (cap, size) = self.sized(OP, name)?;
        named::create(&self.named, name, size, |shm, n, fresh| {
            RawRing::create::<R>(OP, shm, n, cap, fresh).map(|raw| self.finish(raw))
        })
    }

    /// As [`create`](Self::create), under a fresh random name that starts with `prefix`
    /// (`/jobs-` gives `/jobs-9f86d081884c7d65`); `name()` tells it.
    ///
    /// Errors: those of [`create`](Self::create);
    /// [`InvalidName`](ipc_core::ErrorKind::InvalidName) for a bad prefix.
    pub fn create_unique(&self, prefix: &str) -> Result<R> {
        const OP: &str = "ring::create_unique";
        let (cap, size) = self.sized(OP, prefix)?;
        named::create_unique(OP, &self.named, prefix, size, |shm, n, fresh| {
            RawRing::create::<R>(OP, shm, n, cap, fresh).map(|raw| self.finish(raw))
        })
    }

    /// Opens the named ring, checking that it is a ring of this flavour and element type
    /// (and of this capacity, if set), waiting up to the [`timeout`](Self::timeout) for its
    /// creator to publish it.
    ///
    /// Errors: [`NotFound`](ipc_core::ErrorKind::NotFound);
    /// [`WrongType`](crate::ErrorKind::WrongType) for another kind of segment or another
    /// flavour of ring; [`LayoutMismatch`](crate::ErrorKind::LayoutMismatch);
    /// [`Corrupted`](crate::ErrorKind::Corrupted);
    /// [`InitTimeout`](crate::ErrorKind::InitTimeout);
    /// [`CreatorDied`](crate::ErrorKind::CreatorDied);
    /// [`InitFailed`](crate::ErrorKind::InitFailed).
    pub fn open(&self, name: &str) -> Result<R> {
        named::open(&self.named, name, |shm, name, wait| {
            self.attach(shm, name, wait)
        })
    }

    /// Attaches an opened ring and checks its capacity, if set.
    fn attach(&self, shm: Shm, name: &str, wait: Deadline) -> Result<R> {
        let mut raw = RawRing::attach::<R>(shm, name, wait)?;
        self.check_capacity(&raw)?;
        raw.seg
            .memory_mut()
            .set_unlink_on_drop(named::unlink_opened(&self.named));
        Ok(self.finish(raw))
    }

    /// Opens the named ring, or creates it with [`capacity`](Self::capacity) if it does not
    /// exist; race-safe (exactly one of several concurrent callers creates). An opened
    /// ring must have that capacity.
    pub fn open_or_create(&self, name: &str) -> Result<R> {
        const OP: &str = "ring::open_or_create";
        let (cap, size) = self.sized(OP, name)?;
        named::open_or_create(
            &self.named,
            name,
            size,
            |shm, fresh| {
                RawRing::create::<R>(OP, shm, name, cap, fresh).map(|raw| self.finish(raw))
            },
            |shm, wait| self.attach(shm, name, wait),
        )
    }
}

/// The methods every ring handle has, whatever its flavour and memory.
macro_rules! ring_handle_common {
    () => {
        /// The capacity from the validated header: slots, or bytes for a byte ring.
        pub fn capacity(&self) -> u64 {
            self.raw.layout.capacity
        }

        /// A snapshot of the control block: counters, who is attached (with liveness),
        /// sleepers, losses.
        pub fn status(&self) -> RingStatus {
            self.raw.status()
        }

        /// Chooses what the other side's departure means for the producers and consumers
        /// attached through this handle from now on (see [`RingOptions::on_peer_exit`];
        /// anonymous rings and `open_in` have no builder).
        pub fn set_on_peer_exit(&mut self, on: PeerExit) {
            self.raw.peer_exit = on;
        }

        /// What the segment's header says.
        pub fn info(&self) -> &SegmentInfo {
            self.raw.seg.info()
        }

        /// The ring's name (empty over anonymous memory).
        pub fn name(&self) -> &str {
            self.raw.seg.name()
        }

        /// The memory the ring lives in.
        pub fn memory(&self) -> &M {
            self.raw.seg.memory()
        }
    };
}

/// The methods of a named (POSIX shm) ring handle.
macro_rules! ring_handle_named {
    () => {
        /// Whether this handle created the ring.
        pub fn created(&self) -> bool {
            self.raw.seg.memory().created()
        }

        /// Whether dropping this handle (in this process) unlinks the name.
        pub fn unlinks_on_drop(&self) -> bool {
            self.raw.seg.memory().unlinks_on_drop()
        }

        /// Chooses whether dropping this handle unlinks the name: `false` keeps the ring
        /// after this process (remove it later with [`unlink`](crate::unlink)); `true` makes
        /// this handle unlink it, also if another process created it.
        pub fn set_unlink_on_drop(&mut self, yes: bool) {
            self.raw.seg.memory_mut().set_unlink_on_drop(yes);
        }
    };
}

macro_rules! typed_ring {
    (
        $(#[$doc:meta])*
        $Ring:ident, $module:ident, $flavor:expr, $what:literal, $alias:literal
    ) => {
        $(#[$doc])*
        pub struct $Ring<T: SharedLayout + Copy, M: Memory = Shm> {
            raw: RawRing<M>,
            /// Values are handed from process to process like a channel's: the handle is
            /// `Send`/`Sync` exactly when `T: Send` (and the memory allows).
            _t: PhantomData<std::sync::Mutex<T>>,
        }

        impl<T: SharedLayout + Copy> sealed::Sealed for $Ring<T> {}

        impl<T: SharedLayout + Copy> RingType for $Ring<T> {
            const SHAPE: Shape = Shape {
                what: $what,
                flavor: $flavor,
                layout: &T::LAYOUT,
                elem_size: size_of::<T>(),
                elem_align: align_of::<T>(),
                fingerprint: T::LAYOUT.fingerprint(),
                min_cap: $flavor.min_capacity(),
                data_len: $module::data_len::<T>,
            };

            unsafe fn format<N: Memory>(
                mem: &N,
                layout: RingLayout,
            ) -> Result<()> {
                // SAFETY: forwarded from this function's contract.
                unsafe { $module::init::<T, N>(mem, layout) }
            }

            fn from_raw(raw: RawRing<Shm>) -> Self {
                $Ring { raw, _t: PhantomData }
            }
        }

        impl<T: SharedLayout + Copy, M: Memory> fmt::Debug for $Ring<T, M> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($what)
                    .field("name", &self.raw.seg.name())
                    .field("type", &T::LAYOUT.name)
                    .field("capacity", &self.raw.layout.capacity)
                    .finish()
            }
        }

        impl<T: SharedLayout + Copy, M: Memory> $Ring<T, M> {
            /// The number of bytes a segment holding a ring of `capacity` slots needs.
            ///
            /// Errors: [`InvalidInput`](ipc_core::ErrorKind::InvalidInput) for a capacity
            /// the flavour cannot use, [`InvalidSize`](ipc_core::ErrorKind::InvalidSize) if
            /// it overflows.
            pub fn segment_len(capacity: u64) -> Result<usize> {
                RawRing::<M>::segment_len(
                    concat!($what, "::segment_len"),
                    &<$Ring<T> as RingType>::SHAPE,
                    capacity,
                )
            }

            /// Creates the ring in `mem` (for example an
            /// [`AnonShm`](ipc_core::shm::AnonShm) that forked children inherit) and
            /// publishes it. `mem` must be at least [`segment_len`](Self::segment_len)
            /// bytes and free (zero-filled): memory that already holds a segment is
            /// [`AlreadyExists`](ipc_core::ErrorKind::AlreadyExists).
            pub fn create_in(mem: M, capacity: u64) -> Result<Self> {
                RawRing::create::<$Ring<T>>(concat!($what, "::create_in"), mem, "", capacity, Fresh::Used)
                    .map(|raw| $Ring { raw, _t: PhantomData })
            }

            /// Opens a ring that another handle created in `mem`, checking its flavour and
            /// element type.
            pub fn open_in(mem: M) -> Result<Self> {
                RawRing::attach::<$Ring<T>>(mem, "", Deadline::after(DEFAULT_OPEN_TIMEOUT))
                    .map(|raw| $Ring { raw, _t: PhantomData })
            }

            /// Attaches this process as a producer (registering its pid and start time in
            /// the control block); detaches when the producer drops.
            ///
            /// Errors: [`LimitReached`](ipc_core::ErrorKind::LimitReached) when every
            /// producer slot is held by a live process;
            /// [`Corrupted`](crate::ErrorKind::Corrupted) for a corrupted control block.
            pub fn producer(&self) -> Result<$module::Producer<'_, T>> {
                $module::Producer::attach(self.raw.seg.memory(), self.raw.layout)
                    .map(|p| p.named(self.raw.seg.name()).on_peer_exit(self.raw.peer_exit))
                    .map_err(|e| self.raw.named(e))
            }

            /// Attaches this process as a consumer; errors as [`producer`](Self::producer).
            pub fn consumer(&self) -> Result<$module::Consumer<'_, T>> {
                $module::Consumer::attach(self.raw.seg.memory(), self.raw.layout)
                    .map(|c| c.named(self.raw.seg.name()).on_peer_exit(self.raw.peer_exit))
                    .map_err(|e| self.raw.named(e))
            }

            ring_handle_common!();
        }

        impl<T: SharedLayout + Copy> $Ring<T, Shm> {
            #[doc = concat!("Creates the named ring `name` of `capacity` slots exclusively. \
                Mode 0600; the name is unlinked when this handle drops (the [lifetime \
                table](ipc_core#options-and-lifetimes)). Shortcut for `", $what,
                "::<T>::options().capacity(capacity).create(name)`; errors as \
                [`RingOptions::create`].")]
            pub fn create(name: &str, capacity: u64) -> Result<Self> {
                Self::options().capacity(capacity).create(name)
            }

            #[doc = concat!("Opens the named ring, checking that it is ", $alias,
                " of `T`, waiting up to 5 s for its creator to publish it; errors as \
                [`RingOptions::open`].")]
            pub fn open(name: &str) -> Result<Self> {
                Self::options().open(name)
            }

            /// Opens the named ring, or creates it with `capacity` slots if it does not
            /// exist; race-safe. An opened ring must have that capacity.
            pub fn open_or_create(name: &str, capacity: u64) -> Result<Self> {
                Self::options().capacity(capacity).open_or_create(name)
            }

            /// The builder for every other combination (mode bits, timeout, who unlinks,
            /// a unique name).
            pub fn options() -> RingOptions<Self> {
                RingOptions::new()
            }

            /// A ring of `capacity` slots in fresh anonymous shared memory, for `fork`ed
            /// children (no name; the memory goes away with the last process that maps
            /// it). Shortcut for `create_in` with an [`AnonShm`] of `segment_len` bytes.
            #[doc(alias = "MAP_ANONYMOUS")]
            pub fn anonymous(capacity: u64) -> Result<$Ring<T, AnonShm>> {
                let mem = AnonShm::new($Ring::<T, AnonShm>::segment_len(capacity)?)?;
                RawRing::create::<$Ring<T>>(concat!($what, "::anonymous"), mem, "", capacity, Fresh::Zeroed)
                    .map(|raw| $Ring { raw, _t: PhantomData })
            }

            ring_handle_named!();
        }
    };
}

typed_ring!(
    /// A single-producer/single-consumer ring of `T` in shared memory: one producer
    /// process, one consumer process, the fastest path ([`spsc`]).
    ///
    /// When the other side leaves or dies, a consumer receives what was sent and then
    /// [`Disconnected`](crate::ErrorKind::Disconnected), and a producer facing a full ring
    /// gets `Disconnected` (stop, or drop the handle and attach again later); with
    /// [`RingOptions::on_peer_exit`]`(`[`PeerExit::Wait`]`)` both wait, within their
    /// timeouts, for the next peer instead, so a service can restart without failing its
    /// peers. A ring whose other side has never attached is waited on either way.
    ///
    /// ```no_run
    /// use ipc_collections::SpscRing;
    ///
    /// let ring = SpscRing::<u64>::create("/ticks", 1024)?;
    /// let mut tx = ring.producer()?;
    /// tx.push(42, None)?;
    /// // in another process:
    /// let ring = SpscRing::<u64>::open("/ticks")?;
    /// let mut rx = ring.consumer()?;
    /// assert_eq!(rx.pop(None)?, 42);
    /// # Ok::<(), ipc_collections::Error>(())
    /// ```
    ///
    /// Every call returns the crate's one [`Error`](crate::Error), naming the operation and
    /// the ring; a full or empty ring is a value of the `try_` calls, not an error:
    ///
    /// ```
    /// use std::time::Duration;
    /// use ipc_collections::{ErrorKind, SpscRing};
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     // A unique name; the creating handle removes it when dropped.
    ///     let ring = SpscRing::<u64>::options().capacity(2).create_unique("/doc-spsc")?;
    ///     let name = ring.name().to_owned();
    ///     let mut tx = ring.producer()?;
    ///     let mut rx = ring.consumer()?;
    ///     assert_eq!(rx.try_pop()?, None); // empty
    ///     tx.push(1, None)?;
    ///     assert!(tx.try_push(2)?);
    ///     assert!(!tx.try_push(3)?); // full
    ///     let e = tx.push(3, Some(Duration::from_millis(10))).unwrap_err();
    ///     assert_eq!(e.kind(), ErrorKind::Timeout);
    ///     assert_eq!(e.to_string(), format!("push {name:?}: timed out"));
    ///     assert_eq!(rx.pop(None)?, 1);
    ///     assert_eq!(rx.try_pop()?, Some(2));
    ///     drop(tx); // the producer leaves: once all is received, the consumer is told
    ///     let e = rx.pop(None).unwrap_err();
    ///     assert_eq!(e.kind(), ErrorKind::Disconnected);
    ///     assert_eq!((e.op(), e.name()), ("pop", Some(name.as_str())));
    ///     drop(rx);
    ///     drop(ring); // the creator unlinks the name
    ///     assert_eq!(SpscRing::<u64>::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    ///     Ok(())
    /// }
    /// ```
    SpscRing, spsc, Flavor::Spsc, "SpscRing", "an SPSC ring"
);

typed_ring!(
    /// A multi-producer/multi-consumer ring of `T` in shared memory: up to 16 producers
    /// and 16 consumers in any processes, a stamp per slot ([`mpmc`]); a producer that dies
    /// between claiming and publishing a slot costs that one message, counted in
    /// [`RingStatus::lost`], never a stuck ring.
    ///
    /// When the other side leaves or dies, a consumer receives what was sent and then
    /// [`Disconnected`](crate::ErrorKind::Disconnected), and a producer facing a full ring
    /// gets `Disconnected` (stop, or drop the handle and attach again later); with
    /// [`RingOptions::on_peer_exit`]`(`[`PeerExit::Wait`]`)` both wait, within their
    /// timeouts, for the next peer instead, so a service can restart without failing its
    /// peers. A ring whose other side has never attached is waited on either way.
    ///
    /// ```no_run
    /// use ipc_collections::MpmcRing;
    ///
    /// let jobs = MpmcRing::<[u8; 32]>::open_or_create("/jobs", 256)?;
    /// jobs.producer()?.push([7; 32], None)?;
    /// # Ok::<(), ipc_collections::Error>(())
    /// ```
    ///
    /// Every call returns the crate's one [`Error`](crate::Error), naming the operation and
    /// the ring; a full or empty ring is a value of the `try_` calls, not an error:
    ///
    /// ```
    /// use std::time::Duration;
    /// use ipc_collections::{ErrorKind, MpmcRing};
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     // A unique name; the creating handle removes it when dropped.
    ///     let ring = MpmcRing::<u32>::options().capacity(2).create_unique("/doc-mpmc")?;
    ///     let name = ring.name().to_owned();
    ///     let (mut tx, mut rx) = (ring.producer()?, ring.consumer()?);
    ///     let e = rx.pop(Some(Duration::from_millis(10))).unwrap_err();
    ///     assert_eq!(e.kind(), ErrorKind::Timeout);
    ///     assert_eq!(e.to_string(), format!("pop {name:?}: timed out"));
    ///     while tx.try_push(7)? {} // until full
    ///     assert_eq!(rx.try_pop()?, Some(7));
    ///     drop(rx); // every consumer gone and the ring full: the producer is told
    ///     assert!(tx.try_push(8)?); // room: a push succeeds whoever will read it
    ///     let e = tx.try_push(9).unwrap_err();
    ///     assert_eq!(e.kind(), ErrorKind::Disconnected);
    ///     assert_eq!((e.op(), e.name()), ("try_push", Some(name.as_str())));
    ///     drop(tx);
    ///     drop(ring); // the creator unlinks the name
    ///     assert_eq!(MpmcRing::<u32>::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    ///     Ok(())
    /// }
    /// ```
    MpmcRing, mpmc, Flavor::Mpmc, "MpmcRing", "an MPMC ring"
);

/// A byte ring: one producer, one consumer, variable-length frames ([`bytes`]), zero-copy
/// on both sides (`reserve` + `commit`, a borrowed [`Frame`](bytes::Frame)). The capacity
/// is in bytes; the largest frame is `capacity / 2 - 8` ([`max_frame`](Self::max_frame)).
///
/// When the other side leaves or dies, a consumer receives what was sent and then
/// [`Disconnected`](crate::ErrorKind::Disconnected), and a producer facing a full ring
/// gets `Disconnected` (stop, or drop the handle and attach again later); with
/// [`RingOptions::on_peer_exit`]`(`[`PeerExit::Wait`]`)` both wait, within their
/// timeouts, for the next peer instead, so a service can restart without failing its
/// peers. A ring whose other side has never attached is waited on either way.
///
/// ```no_run
/// use ipc_collections::ByteRing;
///
/// let ring = ByteRing::create("/log", 1 << 20)?;
/// ring.producer()?.send(b"hello", None)?;
/// // in another process:
/// let ring = ByteRing::open("/log")?;
/// let mut rx = ring.consumer()?;
/// assert_eq!(&*rx.recv(None)?, b"hello");
/// # Ok::<(), ipc_collections::Error>(())
/// ```
///
/// Every call returns the crate's one [`Error`], naming the operation and the
/// ring; a full or empty ring is a value of the `try_` calls, not an error:
///
/// ```
/// use std::time::Duration;
/// use ipc_collections::{ByteRing, ErrorKind};
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     // A unique name; the creating handle removes it when dropped.
///     let ring = ByteRing::options().capacity(64).create_unique("/doc-bytes")?;
///     let name = ring.name().to_owned();
///     let (mut tx, mut rx) = (ring.producer()?, ring.consumer()?);
///     assert!(rx.try_recv()?.is_none()); // empty
///     while tx.try_send(b"frame")? {} // until full
///     let e = tx.send(b"frame", Some(Duration::from_millis(10))).unwrap_err();
///     assert_eq!(e.kind(), ErrorKind::Timeout);
///     assert_eq!(e.to_string(), format!("send {name:?}: timed out"));
///     let e = tx.try_send(&[0; 100]).unwrap_err(); // above max_frame
///     assert_eq!((e.kind(), e.op()), (ErrorKind::InvalidSize, "try_send"));
///     drop(tx); // the producer leaves: once all is received, the consumer is told
///     let e = loop {
///         match rx.try_recv() {
///             Ok(Some(frame)) => assert_eq!(&*frame, b"frame"),
///             Ok(None) => unreachable!("the producer is gone: Disconnected once drained"),
///             Err(e) => break e,
///         }
///     };
///     assert_eq!((e.kind(), e.op()), (ErrorKind::Disconnected, "try_recv"));
///     let e = rx.recv(None).map(|f| f.len()).unwrap_err();
///     assert_eq!(e.kind(), ErrorKind::Disconnected);
///     assert_eq!((e.op(), e.name()), ("recv", Some(name.as_str())));
///     drop(rx);
///     drop(ring); // the creator unlinks the name
///     assert_eq!(ByteRing::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
///     Ok(())
/// }
/// ```
pub struct ByteRing<M: Memory = Shm> {
    raw: RawRing<M>,
}

impl sealed::Sealed for ByteRing {}

impl RingType for ByteRing {
    const SHAPE: Shape = Shape {
        what: "ByteRing",
        flavor: Flavor::Bytes,
        layout: &<u8 as SharedLayout>::LAYOUT,
        elem_size: 1,
        elem_align: 1,
        fingerprint: <u8 as SharedLayout>::LAYOUT.fingerprint(),
        min_cap: Flavor::Bytes.min_capacity(),
        data_len: bytes::data_len,
    };

    unsafe fn format<N: Memory>(mem: &N, layout: RingLayout) -> Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { bytes::init::<N>(mem, layout) }
    }

    fn from_raw(raw: RawRing<Shm>) -> Self {
        ByteRing { raw }
    }
}

impl<M: Memory> fmt::Debug for ByteRing<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteRing")
            .field("name", &self.raw.seg.name())
            .field("capacity", &self.raw.layout.capacity)
            .finish()
    }
}

impl<M: Memory> ByteRing<M> {
    /// The number of bytes a segment holding a byte ring of `capacity` bytes needs.
    ///
    /// Errors: [`InvalidInput`](ipc_core::ErrorKind::InvalidInput) for a capacity that is
    /// not a power of two of at least 64.
    pub fn segment_len(capacity: u64) -> Result<usize> {
        RawRing::<M>::segment_len("ByteRing::segment_len", &ByteRing::SHAPE, capacity)
    }

    /// Creates the byte ring in `mem` (zero-filled, at least
    /// [`segment_len`](Self::segment_len) bytes) and publishes it.
    pub fn create_in(mem: M, capacity: u64) -> Result<Self> {
        RawRing::create::<ByteRing>("ByteRing::create_in", mem, "", capacity, Fresh::Used)
            .map(|raw| ByteRing { raw })
    }

    /// Opens a byte ring that another handle created in `mem`.
    pub fn open_in(mem: M) -> Result<Self> {
        RawRing::attach::<ByteRing>(mem, "", Deadline::after(DEFAULT_OPEN_TIMEOUT))
            .map(|raw| ByteRing { raw })
    }

    /// The largest frame this ring carries: `capacity / 2 - 8` bytes.
    pub fn max_frame(&self) -> usize {
        bytes::max_frame(self.raw.layout.capacity) as usize
    }

    /// Attaches this process as the producer; errors as [`SpscRing::producer`].
    pub fn producer(&self) -> Result<bytes::Producer<'_>> {
        bytes::Producer::attach(self.raw.seg.memory(), self.raw.layout)
            .map(|p| {
                p.named(self.raw.seg.name())
                    .on_peer_exit(self.raw.peer_exit)
            })
            .map_err(|e| self.raw.named(e))
    }

    /// Attaches this process as the consumer; errors as [`SpscRing::producer`].
    pub fn consumer(&self) -> Result<bytes::Consumer<'_>> {
        bytes::Consumer::attach(self.raw.seg.memory(), self.raw.layout)
            .map(|c| {
                c.named(self.raw.seg.name())
                    .on_peer_exit(self.raw.peer_exit)
            })
            .map_err(|e| self.raw.named(e))
    }

    ring_handle_common!();
}

impl ByteRing<Shm> {
    /// Creates the named byte ring `name` of `capacity` bytes exclusively (mode 0600,
    /// unlinked when this handle drops). Shortcut for
    /// `ByteRing::options().capacity(capacity).create(name)`.
    pub fn create(name: &str, capacity: u64) -> Result<Self> {
        Self::options().capacity(capacity).create(name)
    }

    /// Opens the named byte ring; errors as [`RingOptions::open`].
    pub fn open(name: &str) -> Result<Self> {
        Self::options().open(name)
    }

    /// Opens the named byte ring, or creates it with `capacity` bytes; race-safe.
    pub fn open_or_create(name: &str, capacity: u64) -> Result<Self> {
        Self::options().capacity(capacity).open_or_create(name)
    }

    /// The builder for every other combination.
    pub fn options() -> ByteRingOptions {
        RingOptions::new()
    }

    /// A byte ring of `capacity` bytes in fresh anonymous shared memory, for `fork`ed
    /// children.
    #[doc(alias = "MAP_ANONYMOUS")]
    pub fn anonymous(capacity: u64) -> Result<ByteRing<AnonShm>> {
        let mem = AnonShm::new(ByteRing::<AnonShm>::segment_len(capacity)?)?;
        RawRing::create::<ByteRing>("ByteRing::anonymous", mem, "", capacity, Fresh::Zeroed)
            .map(|raw| ByteRing { raw })
    }

    ring_handle_named!();
}
