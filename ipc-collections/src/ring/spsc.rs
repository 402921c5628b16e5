//! Single-producer/single-consumer typed ring: a [`Producer`] in one process, a
//! [`Consumer`] in another.
//!
//! The classic Lamport ring with the usual refinements (as in Rigtorp's `SPSCQueue` or the
//! Linux kernel's `kfifo`): `tail` (published slots) and `head` (consumed slots) are u64
//! counters that never wrap in practice, each on its own 128-byte line and written by its
//! side only; slot `p` is `p & (capacity - 1)`. Each side keeps its own counter in process
//! memory (the shared copy is written, never read back) and a cached copy of the other
//! side's, refreshed only when the cache says full/empty, so the lines move between cores
//! only when needed. Batches publish once ([`Producer::push_batch`],
//! [`Producer::reserve`], [`Consumer::pop_batch`]).
//!
//! Blocking forms try once, then spin a few polls (about a microsecond, each poll one
//! load of the other side's counter), then sleep on the control block's futex word for at
//! most [`PEER_POLL`] at a time (the sleeper count lets the other side skip the wake
//! system call when nobody sleeps), checking the other side's liveness between sleeps.
//!
//! Disconnection: when the producer's registration is gone (handle dropped, or process
//! dead by `/proc`), the consumer still receives everything published and then gets
//! [`Disconnected`](crate::ErrorKind::Disconnected). A producer gets `Disconnected` when the ring is full and
//! the consumer is gone (a push that finds space succeeds whether or not anyone will read
//! it). A new producer (consumer) may attach after the previous one left or died; it
//! continues from the shared counter.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use ipc_core::{Memory, SharedLayout};

use super::control::{block, Await, Control, Flavor, RingLayout};
use super::shim::Ordering;
use super::{Attachment, RingError, PEER_POLL};
use crate::error::Result;

/// Bytes of the data region for `capacity` slots of `T` (`None` on overflow).
pub fn data_len<T>(capacity: u64) -> Option<usize> {
    usize::try_from(capacity)
        .ok()?
        .checked_mul(std::mem::size_of::<T>())
}

fn elem_size<T>() -> Result<u64, RingError> {
    match std::mem::size_of::<T>() {
        0 => Err(RingError::Invalid("zero-sized element")),
        n => Ok(n as u64),
    }
}

/// Formats a fresh SPSC ring of `T` in `mem` at `layout`.
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) if `layout` does not fit `mem` (see
/// [`RingLayout`]).
///
/// # Safety
/// The caller has exclusive access to the ring's bytes: no handle is attached and no other
/// process or thread uses them until this returns (the creator's init). Formatting a live
/// ring would pull its counters from under its handles.
pub unsafe fn init<T: SharedLayout + Copy, M: Memory + ?Sized>(
    mem: &M,
    layout: RingLayout,
) -> Result<()> {
    // SAFETY: forwarded from this function's contract.
    unsafe { init_raw::<T, M>(mem, layout) }.map_err(|e| e.into_error("init", ""))
}

/// [`init`], with the algorithms' outcome.
///
/// # Safety
/// As [`init`].
unsafe fn init_raw<T: SharedLayout + Copy, M: Memory + ?Sized>(
    mem: &M,
    layout: RingLayout,
) -> Result<(), RingError> {
    let size = elem_size::<T>()?;
    let data = data_len::<T>(layout.capacity);
    // SAFETY: forwarded from this function's contract.
    unsafe {
        super::format(
            mem,
            layout,
            super::Shape {
                flavor: Flavor::Spsc,
                min_cap: Flavor::Spsc.min_capacity(),
                elem_size: size,
                data_len: data,
                data_align: std::mem::align_of::<T>(),
                tracked_cells: layout.capacity as usize,
            },
        )
    }
    .map(|_| ())
}

/// What both handles hold: the ring's [`Attachment`] (control block, slots, capacity and
/// mask, registration), typed.
struct Side<'m, T> {
    at: Attachment<'m>,
    _t: PhantomData<&'m T>,
}

impl<'m, T> std::ops::Deref for Side<'m, T> {
    type Target = Attachment<'m>;
    #[inline]
    fn deref(&self) -> &Attachment<'m> {
        &self.at
    }
}

impl<'m, T> std::ops::DerefMut for Side<'m, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Attachment<'m> {
        &mut self.at
    }
}

impl<'m, T: SharedLayout + Copy> Side<'m, T> {
    fn attach<M: Memory + ?Sized>(
        mem: &'m M,
        layout: RingLayout,
        producer: bool,
    ) -> Result<Self, RingError> {
        let shape = super::Shape {
            flavor: Flavor::Spsc,
            min_cap: Flavor::Spsc.min_capacity(),
            elem_size: elem_size::<T>()?,
            data_len: data_len::<T>(layout.capacity),
            data_align: std::mem::align_of::<T>(),
            tracked_cells: 0,
        };
        Ok(Side {
            at: Attachment::new(mem, layout, shape, producer, 1)?,
            _t: PhantomData,
        })
    }

    /// `tail - head`, checked against the capacity.
    #[inline]
    fn used(&self, tail: u64, head: u64) -> Result<u64, RingError> {
        let used = tail.wrapping_sub(head);
        if used > self.cap {
            return Err(RingError::Corrupted(
                "head and tail more than the capacity apart, or head past tail",
            ));
        }
        Ok(used)
    }

    #[inline]
    fn write_slot(&self, pos: u64, v: T) {
        let i = (pos & self.mask) as usize;
        #[cfg(loom)]
        let _g = self.ctrl.tracker.write(i);
        // SAFETY: i < cap (masked), and the data region holds cap slots of T, aligned
        // (checked by `resolve`); the protocol gives this side the slot until it publishes.
        unsafe { self.data.cast::<T>().add(i).write(v) }
    }

    #[inline]
    fn read_slot(&self, pos: u64) -> T {
        let i = (pos & self.mask) as usize;
        #[cfg(loom)]
        let _g = self.ctrl.tracker.read(i);
        // SAFETY: as in `write_slot`; T is valid for every bit pattern (SharedLayout).
        unsafe { self.data.cast::<T>().add(i).read() }
    }
}

pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|d| Instant::now().checked_add(d))
}

/// How long the next sleep may last: `None` if the deadline has passed.
pub(crate) fn next_sleep(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        None => Some(PEER_POLL),
        Some(d) => {
            let now = Instant::now();
            (now < d).then(|| (d - now).min(PEER_POLL))
        }
    }
}

/// The producing end of an SPSC ring.
pub struct Producer<'m, T> {
    side: Side<'m, T>,
    /// Slots published (the truth; the shared `tail` is a copy for the consumer).
    tail: u64,
    /// The last `head` read, checked.
    cached_head: u64,
}

impl<'m, T: SharedLayout + Copy> Producer<'m, T> {
    handle_basics!(
        side,
        "consumers",
        /// Attaches as the ring's producer (registering this process).
        ///
        /// # Errors
        /// [`LimitReached`](crate::ErrorKind::LimitReached) if a live producer is attached;
        /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a layout that does not fit
        /// `mem`; [`Corrupted`](crate::ErrorKind::Corrupted) if the control block does not
        /// describe an SPSC ring of this capacity and element size, or its counters are
        /// impossible.
    );

    fn attach_raw<M: Memory + ?Sized>(mem: &'m M, layout: RingLayout) -> Result<Self, RingError> {
        let side = Side::attach(mem, layout, true)?;
        // Acquire: pairs with the consumer's Release store of head (slots it freed).
        let head = side.ctrl.head.load(Ordering::Acquire);
        let tail = side.ctrl.tail.load(Ordering::Relaxed);
        side.used(tail, head)?;
        Ok(Producer {
            side,
            tail,
            cached_head: head,
        })
    }

    /// The ring's capacity in slots.
    pub fn capacity(&self) -> u64 {
        self.side.cap
    }

    /// Free slots as last seen, refreshing the cached head if fewer than `want`.
    #[inline]
    fn free(&mut self, want: u64) -> Result<u64, RingError> {
        let free = self.side.cap - self.tail.wrapping_sub(self.cached_head);
        if free >= want {
            return Ok(free);
        }
        // Acquire: pairs with the consumer's Release store of head, so its reads of the
        // slots it freed happen before our writes into them.
        let head = self.side.ctrl.head.load(Ordering::Acquire);
        let used = self.side.used(self.tail, head)?;
        self.cached_head = head;
        Ok(self.side.cap - used)
    }

    fn full_error(&mut self) -> RingError {
        if self.side.other_gone(false) {
            RingError::Disconnected
        } else {
            RingError::Full
        }
    }

    #[inline]
    fn publish(&mut self, tail: u64) {
        self.tail = tail;
        // Release: pairs with the consumer's Acquire load of tail; the slot writes happen
        // before it reads them.
        self.side.ctrl.tail.store(tail, Ordering::Release);
        Control::wake(&self.side.ctrl.data_futex, &self.side.ctrl.data_sleepers);
    }

    /// Pushes `v` if a slot is free: `Ok(true)` if pushed, `Ok(false)` if the ring is full
    /// (nothing is built for that outcome: a polling loop does not allocate; `v` is `Copy`,
    /// the caller still has it).
    ///
    /// # Errors
    /// [`Disconnected`](crate::ErrorKind::Disconnected) if full and the consumer is gone;
    /// [`Corrupted`](crate::ErrorKind::Corrupted). Op `try_push`, the ring's name.
    #[inline]
    #[must_use = "Ok(false): the ring was full and nothing was pushed"]
    pub fn try_push(&mut self, v: T) -> Result<bool> {
        match self.push_raw(v) {
            Ok(()) => Ok(true),
            Err(RingError::Full) => Ok(false),
            Err(e) => Err(self.side.error("try_push", e)),
        }
    }

    #[inline]
    fn push_raw(&mut self, v: T) -> Result<(), RingError> {
        if self.free(1)? == 0 {
            return Err(self.full_error());
        }
        self.side.write_slot(self.tail, v);
        self.publish(self.tail.wrapping_add(1));
        Ok(())
    }

    /// Pushes as many of `items` as fit (in order), publishing them once; returns how many
    /// (0: the ring is full, or `items` empty).
    ///
    /// # Errors
    /// As [`try_push`](Self::try_push) when none fits; op `push_batch`.
    pub fn push_batch(&mut self, items: &[T]) -> Result<usize> {
        if items.is_empty() {
            return Ok(0);
        }
        let free = self
            .free(items.len() as u64)
            .map_err(|e| self.side.error("push_batch", e))?;
        let n = (free as usize).min(items.len());
        if n == 0 {
            return match self.full_error() {
                RingError::Full => Ok(0),
                e => Err(self.side.error("push_batch", e)),
            };
        }
        for (k, &v) in items[..n].iter().enumerate() {
            self.side.write_slot(self.tail.wrapping_add(k as u64), v);
        }
        self.publish(self.tail.wrapping_add(n as u64));
        Ok(n)
    }

    /// Reserves up to `n` free slots (at least one) to fill with
    /// [`Reservation::push`]; nothing is visible to the consumer until
    /// [`Reservation::commit`] publishes them all at once. `Ok(None)` if no slot is free.
    ///
    /// # Errors
    /// As [`try_push`](Self::try_push) when no slot is free; op `reserve`.
    pub fn reserve(&mut self, n: usize) -> Result<Option<Reservation<'_, 'm, T>>> {
        let free = self
            .free(n as u64)
            .map_err(|e| self.side.error("reserve", e))?;
        let n = (free as usize).min(n);
        if n == 0 {
            return match self.full_error() {
                RingError::Full => Ok(None),
                e => Err(self.side.error("reserve", e)),
            };
        }
        Ok(Some(Reservation {
            prod: self,
            room: n,
            written: 0,
        }))
    }

    /// Pushes `v`, waiting for a free slot up to `timeout` (`None`: until the consumer
    /// frees one or is gone).
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout);
    /// [`Disconnected`](crate::ErrorKind::Disconnected);
    /// [`Corrupted`](crate::ErrorKind::Corrupted); [`Os`](crate::ErrorKind::Os) if the
    /// futex call fails. Op `push`, the ring's name.
    pub fn push(&mut self, v: T, timeout: Option<Duration>) -> Result<()> {
        let ctrl = self.side.ctrl;
        block(ctrl, Await::Space, timeout, |slept| {
            if slept {
                self.side.throttle.expire();
            }
            match self.push_raw(v) {
                Err(RingError::Full) => Err(self.cached_head),
                r => Ok(r),
            }
        })
        .map_err(|e| self.side.error("push", e))
    }
}

/// Slots reserved by [`Producer::reserve`]: filled in order, published together by
/// [`commit`](Self::commit). Dropped without commit, nothing is published.
pub struct Reservation<'p, 'm, T> {
    prod: &'p mut Producer<'m, T>,
    room: usize,
    written: usize,
}

impl<T: SharedLayout + Copy> Reservation<'_, '_, T> {
    /// Slots still free in the reservation.
    pub fn remaining(&self) -> usize {
        self.room - self.written
    }

    /// Writes `v` into the next reserved slot; gives it back if the reservation is full.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        if self.written == self.room {
            return Err(v);
        }
        self.prod
            .side
            .write_slot(self.prod.tail.wrapping_add(self.written as u64), v);
        self.written += 1;
        Ok(())
    }

    /// Publishes the written slots (one counter store, at most one wake); returns how many.
    pub fn commit(self) -> usize {
        let n = self.written;
        if n > 0 {
            let t = self.prod.tail.wrapping_add(n as u64);
            self.prod.publish(t);
        }
        n
    }
}

/// The consuming end of an SPSC ring.
pub struct Consumer<'m, T> {
    side: Side<'m, T>,
    /// Slots consumed (the truth; the shared `head` is a copy for the producer).
    head: u64,
    /// The last `tail` read, checked.
    cached_tail: u64,
}

impl<'m, T: SharedLayout + Copy> Consumer<'m, T> {
    handle_basics!(
        side,
        "producers",
        /// Attaches as the ring's consumer (registering this process).
        ///
        /// # Errors
        /// As [`Producer::attach`], for consumers.
    );

    fn attach_raw<M: Memory + ?Sized>(mem: &'m M, layout: RingLayout) -> Result<Self, RingError> {
        let side = Side::attach(mem, layout, false)?;
        let head = side.ctrl.head.load(Ordering::Relaxed);
        // Acquire: pairs with the producer's Release store of tail.
        let tail = side.ctrl.tail.load(Ordering::Acquire);
        side.used(tail, head)?;
        Ok(Consumer {
            side,
            head,
            cached_tail: tail,
        })
    }

    /// The ring's capacity in slots.
    pub fn capacity(&self) -> u64 {
        self.side.cap
    }

    /// Published slots not yet consumed, refreshing the cached tail if fewer than `want`.
    #[inline]
    fn available(&mut self, want: u64) -> Result<u64, RingError> {
        let avail = self.cached_tail.wrapping_sub(self.head);
        if avail >= want {
            return Ok(avail);
        }
        // Acquire: pairs with the producer's Release store of tail, so its slot writes
        // happen before our reads.
        let tail = self.side.ctrl.tail.load(Ordering::Acquire);
        let used = self.side.used(tail, self.head)?;
        self.cached_tail = tail;
        Ok(used)
    }

    /// Called when the ring looked empty: `Disconnected` if the producer is gone and a
    /// re-read of `tail` (after seeing it gone) still shows nothing, else `Empty` or the
    /// count now available.
    fn empty_outcome(&mut self) -> Result<u64, RingError> {
        if !self.side.other_gone(true) {
            return Err(RingError::Empty);
        }
        // Seeing the producer gone (an Acquire load of its released registration, or its
        // death) happens after everything it published: re-read tail before concluding.
        match self.available(1)? {
            0 => Err(RingError::Disconnected),
            n => Ok(n),
        }
    }

    #[inline]
    fn release(&mut self, head: u64) {
        self.head = head;
        // Release: pairs with the producer's Acquire load of head; our slot reads happen
        // before it overwrites them.
        self.side.ctrl.head.store(head, Ordering::Release);
        Control::wake(&self.side.ctrl.space_futex, &self.side.ctrl.space_sleepers);
    }

    /// Pops the oldest value if one is published: `Ok(None)` if the ring is empty (as
    /// `VecDeque::pop_front`; nothing is built for that outcome: a polling loop does not
    /// allocate).
    ///
    /// # Errors
    /// [`Disconnected`](crate::ErrorKind::Disconnected) once the producer is gone and
    /// everything it published has been popped; [`Corrupted`](crate::ErrorKind::Corrupted).
    /// Op `try_pop`, the ring's name.
    #[inline]
    pub fn try_pop(&mut self) -> Result<Option<T>> {
        match self.pop_raw() {
            Ok(v) => Ok(Some(v)),
            Err(RingError::Empty) => Ok(None),
            Err(e) => Err(self.side.error("try_pop", e)),
        }
    }

    #[inline]
    fn pop_raw(&mut self) -> Result<T, RingError> {
        if self.available(1)? == 0 {
            self.empty_outcome()?;
        }
        let v = self.side.read_slot(self.head);
        self.release(self.head.wrapping_add(1));
        Ok(v)
    }

    /// Pops up to `out.len()` values into `out` (oldest first), releasing their slots
    /// once; returns how many (0: the ring is empty, or `out` is).
    ///
    /// # Errors
    /// As [`try_pop`](Self::try_pop) when nothing is available; op `pop_batch`.
    pub fn pop_batch(&mut self, out: &mut [T]) -> Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let mut avail = self
            .available(out.len() as u64)
            .map_err(|e| self.side.error("pop_batch", e))?;
        if avail == 0 {
            avail = match self.empty_outcome() {
                Ok(n) => n,
                Err(RingError::Empty) => return Ok(0),
                Err(e) => return Err(self.side.error("pop_batch", e)),
            };
        }
        let n = (avail as usize).min(out.len());
        for (k, o) in out[..n].iter_mut().enumerate() {
            *o = self.side.read_slot(self.head.wrapping_add(k as u64));
        }
        self.release(self.head.wrapping_add(n as u64));
        Ok(n)
    }

    /// Pops a value, waiting up to `timeout` (`None`: until one is published or the
    /// producer is gone).
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout);
    /// [`Disconnected`](crate::ErrorKind::Disconnected);
    /// [`Corrupted`](crate::ErrorKind::Corrupted); [`Os`](crate::ErrorKind::Os). Op `pop`,
    /// the ring's name.
    pub fn pop(&mut self, timeout: Option<Duration>) -> Result<T> {
        let ctrl = self.side.ctrl;
        block(ctrl, Await::Data, timeout, |slept| {
            if slept {
                self.side.throttle.expire();
            }
            match self.pop_raw() {
                Err(RingError::Empty) => Err(self.head),
                r => Ok(r),
            }
        })
        .map_err(|e| self.side.error("pop", e))
    }
}
