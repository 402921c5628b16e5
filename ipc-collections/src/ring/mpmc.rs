//! Multi-producer/multi-consumer typed ring: Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>, as in
//! crossbeam's `ArrayQueue`) across processes, plus recovery of slots abandoned by dead
//! producers and dead consumers.
//!
//! # The algorithm
//!
//! Each slot `i` has a stamp (u64, in the data region before the values). Position `p`
//! lives in slot `p & (capacity - 1)`; the slot's stamp is `p` when it is free for the
//! producer of position `p`, `p + 1` when that producer has published into it, and
//! `p + capacity` once a consumer has taken it (free for the next lap). A producer reads
//! `tail`, checks the stamp, claims the position with a CAS on `tail`, writes the value and
//! stores the stamp `p + 1` (Release). A consumer reads `head`, checks for stamp `p + 1`,
//! claims with a CAS on `head`, reads the value and stores `p + capacity` (Release).
//!
//! # Producers that die mid-publish
//!
//! In Vyukov's queue (and crossbeam's) a producer that stops between its CAS on `tail` and
//! its stamp store blocks every consumer at that position for ever: the slot reads as "not
//! yet published" and nothing else can advance past it. Threads of one process cannot die
//! alone, so that is fine there; processes can. Here each producer is registered in the
//! control block, and before its CAS it stores `claiming = p + 1` in its registry entry
//! (reset to 0 after publishing). A consumer that finds position `p` claimed
//! (`tail > p`) but unpublished (stamp `p`) for longer than about a millisecond scans the
//! producers' registry: if no LIVE registered producer has `claiming == p + 1`, the
//! claimer is dead (or its registration was taken over by a new process), so the consumer
//! claims `p` with a CAS on `head` and moves the stamp from `p` to `p + capacity` with a
//! CAS. If that CAS finds `p + 1` instead (the producer did publish, it was alive after
//! all), the consumer takes the value normally; otherwise the position is skipped and the
//! control block's `lost` counter is incremented.
//!
//! Why the scan cannot miss a live claimer: the claimer's `claiming` store is sequenced
//! before its CAS on `tail` (AcqRel), every change of `tail` is a CAS (one release
//! sequence), and the consumer saw `tail > p` with an Acquire load, so it sees
//! `claiming == p + 1` or a later value of that entry; a later value is only written after
//! the stamp `p + 1`, and every store to `claiming` is Release (read with Acquire), so
//! reading any later value makes the stamp store visible: the stamp CAS then fails and the
//! value is taken. (With a Relaxed store of the next claim, a scan that read that value
//! would not be ordered after the stamp store.)
//!
//! What is lost: exactly the one message whose producer was killed between claiming and
//! publishing (its `push` never returned, so no sender believes it was sent), one per
//! such crash, counted in `lost`. Nothing that was published is ever skipped, and no
//! message is delivered twice. Unlike recovery on a timer, a slow but live producer (even a
//! stopped one) is never skipped.
//!
//! # Consumers that die mid-take
//!
//! The mirror image: a consumer that stops between its CAS on `head` and its stamp store
//! (`p + capacity`) leaves the slot at stamp `p + 1` ("published, being read") for ever,
//! and the producer of position `p + capacity` finds the ring full there for ever. So a
//! consumer records `claiming = p + 1` in its own registry entry (the consumers' registry)
//! before its CAS on `head` (reset after the stamp store, or at once if the CAS fails). A
//! producer that finds its position's slot still held by the previous lap (stamp
//! `p + 1`, or `p` in the double crash below) while `head > p` (a consumer has taken `p`)
//! for longer than about a millisecond scans the consumers' registry: if no LIVE registered
//! consumer has `claiming == p + 1`, the taker is dead, and the producer frees the slot with
//! a CAS of the stamp to `p + capacity` (counting one loss in `lost`), then claims it as
//! usual. If the CAS finds `p + capacity`, the slot was freed meanwhile (by its consumer or
//! a rival producer) and nothing is counted. The argument that the scan cannot miss a live
//! taker is the producers' one with `head` for `tail`: every change of `head` is a CAS (one
//! release sequence), the taker's `claiming` store precedes its CAS, and every store to
//! `claiming` is Release, so a scan that reads any later value of the entry also sees the
//! taker's stamp store, and the stamp CAS then fails.
//!
//! What is lost: the message the dead consumer was copying (`pop` never returned it, so no
//! one received it; it is counted in `lost`, one per such crash). A consumer killed after
//! `pop` returned loses the message it held too, as with any queue, and that loss is not
//! counted. A consumer that recovers a dead producer's slot records its claim the same way
//! (it CASes `head` too); if it dies before its stamp CAS, the slot is left at stamp `p`
//! with `head > p`, which the producers' rule above frees as well (the message was already
//! lost with its producer; it is counted once).
//!
//! (Re-delivering the dead consumer's message instead would be possible, the slot still
//! holds it, but it would reach a consumer out of order with that producer's later
//! messages; a counted loss keeps every consumer's per-producer order.)

use std::time::Duration;

use ipc_core::{Memory, SharedLayout};

use super::control::{live_claimer, peer, Control, Flavor, Peer, RingLayout, MAX_PARTICIPANTS};
use super::shim::{spin_hint, AtomicU64, Ordering, Throttle, SPIN_LIMIT};
use super::spsc::{deadline, next_sleep};
use super::{Attachment, RingError};
use crate::error::Result;

/// Bytes of the data region for `capacity` slots of `T`: `capacity` u64 stamps, then the
/// values at the next multiple of `T`'s alignment (`None` on overflow).
pub fn data_len<T>(capacity: u64) -> Option<usize> {
    region_len(
        capacity,
        std::mem::size_of::<T>(),
        std::mem::align_of::<T>(),
    )
}

/// Byte offset of the values inside the data region: after `capacity` u64 stamps, at the
/// next multiple of the element's alignment (`None` on overflow).
fn values_offset(capacity: u64, elem_align: usize) -> Option<usize> {
    let stamps = usize::try_from(capacity)
        .ok()?
        .checked_mul(std::mem::size_of::<AtomicU64>())?;
    stamps.checked_next_multiple_of(elem_align)
}

/// [`data_len`] for an element of `elem_size` bytes aligned to `elem_align` (a power of
/// two): the one formula the ring, the segment validator and FORMAT.md share
/// (`next_multiple_of(capacity * 8, elem_align) + capacity * elem_size`).
pub fn region_len(capacity: u64, elem_size: usize, elem_align: usize) -> Option<usize> {
    values_offset(capacity, elem_align)?
        .checked_add(usize::try_from(capacity).ok()?.checked_mul(elem_size)?)
}

fn elem_size<T>() -> Result<u64, RingError> {
    match std::mem::size_of::<T>() {
        0 => Err(RingError::Invalid("zero-sized element")),
        n => Ok(n as u64),
    }
}

fn data_align<T>() -> usize {
    std::mem::align_of::<T>().max(std::mem::align_of::<AtomicU64>())
}

/// Formats a fresh MPMC ring of `T` in `mem` at `layout` (stamp `i` in slot `i`).
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) if `layout` does not fit `mem`, or the
/// capacity is below 2.
///
/// # Safety
/// As [`spsc::init`](super::spsc::init): exclusive access to the ring's bytes.
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
    // SAFETY: forwarded from this function's contract.
    let r = unsafe {
        super::format(
            mem,
            layout,
            super::Shape {
                flavor: Flavor::Mpmc,
                min_cap: Flavor::Mpmc.min_capacity(),
                elem_size: size,
                data_len: data_len::<T>(layout.capacity),
                data_align: data_align::<T>(),
                tracked_cells: layout.capacity as usize,
            },
        )
    }?;
    let stamps = r.data.cast::<AtomicU64>();
    for i in 0..r.cap {
        // SAFETY: i < cap and the data region holds `cap` aligned stamps (`resolve`
        // checked data_len and the alignment); exclusive access by the contract.
        unsafe { stamps.add(i as usize).write(AtomicU64::new(i)) };
    }
    Ok(())
}

/// At attach, as the SPSC and byte rings check theirs: `tail - head <= capacity` (FORMAT.md,
/// "Which ring it is"). Both counters move while others use the ring, so they are read
/// head, tail, head: if head did not move meanwhile, `tail - head` is a distance the ring
/// really had (a producer claims `p` only after the consumer of `p - capacity` moved head
/// past it). A head that keeps moving in every round is a busy ring, not a corrupted one.
fn check_counters(ctrl: &Control, cap: u64) -> Result<(), RingError> {
    for _ in 0..8 {
        let head = ctrl.head.load(Ordering::Acquire);
        let tail = ctrl.tail.load(Ordering::Acquire);
        if ctrl.head.load(Ordering::Acquire) != head {
            continue;
        }
        if tail.wrapping_sub(head) > cap {
            return Err(RingError::Corrupted(
                "head and tail more than the capacity apart, or head past tail",
            ));
        }
        return Ok(());
    }
    Ok(())
}

/// What both handles hold: the ring's [`Attachment`] (any of the first
/// [`MAX_PARTICIPANTS`] registry entries), and where the stamps and the values are.
struct Ring<'m, T> {
    at: Attachment<'m>,
    stamps: *const AtomicU64,
    values: *mut T,
}

impl<'m, T> std::ops::Deref for Ring<'m, T> {
    type Target = Attachment<'m>;
    #[inline]
    fn deref(&self) -> &Attachment<'m> {
        &self.at
    }
}

impl<'m, T> std::ops::DerefMut for Ring<'m, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Attachment<'m> {
        &mut self.at
    }
}

impl<'m, T: SharedLayout + Copy> Ring<'m, T> {
    fn attach<M: Memory + ?Sized>(
        mem: &'m M,
        layout: RingLayout,
        producer: bool,
    ) -> Result<Self, RingError> {
        let shape = super::Shape {
            flavor: Flavor::Mpmc,
            min_cap: Flavor::Mpmc.min_capacity(),
            elem_size: elem_size::<T>()?,
            data_len: data_len::<T>(layout.capacity),
            data_align: data_align::<T>(),
            tracked_cells: 0,
        };
        let at = Attachment::new(mem, layout, shape, producer, MAX_PARTICIPANTS)?;
        check_counters(at.ctrl, at.cap)?;
        let off = values_offset(at.cap, std::mem::align_of::<T>())
            .ok_or(RingError::Invalid("capacity overflows"))?;
        Ok(Ring {
            stamps: at.data.cast(),
            // `off` < data_len, inside the memory (`resolve`).
            values: at.data.wrapping_add(off).cast(),
            at,
        })
    }

    #[inline]
    fn stamp(&self, pos: u64) -> &AtomicU64 {
        // SAFETY: the index is masked below cap, and the data region starts with `cap`
        // aligned stamps (`resolve`); they live as long as the borrowed memory.
        unsafe { &*self.stamps.add((pos & self.mask) as usize) }
    }

    #[inline]
    fn write_value(&self, pos: u64, v: T) {
        let i = (pos & self.mask) as usize;
        #[cfg(loom)]
        let _g = self.ctrl.tracker.write(i);
        // SAFETY: i < cap; the values region holds cap aligned slots (`data_len`,
        // `resolve`); this producer owns position `pos` until it stores the stamp.
        unsafe { self.values.add(i).write(v) }
    }

    #[inline]
    fn read_value(&self, pos: u64) -> T {
        let i = (pos & self.mask) as usize;
        #[cfg(loom)]
        let _g = self.ctrl.tracker.read(i);
        // SAFETY: as `write_value`; T is valid for every bit pattern (SharedLayout).
        unsafe { self.values.add(i).read() }
    }
}

/// Whether the liveness check of whoever holds position `pos` is due: the first sighting of
/// a stall at `pos` starts the clock (under loom the check is due at once), later ones are
/// due about once a millisecond (see [`Throttle`]).
fn stall_check_due(stall: &mut Option<(u64, Throttle)>, pos: u64) -> bool {
    match stall {
        Some((p, throttle)) if *p == pos => throttle.due(),
        _ => {
            let mut throttle = Throttle::new();
            let due = throttle.due() && cfg!(loom);
            *stall = Some((pos, throttle));
            due
        }
    }
}

/// A producing handle of an MPMC ring (any number may be attached, up to
/// [`MAX_PARTICIPANTS`]).
pub struct Producer<'m, T> {
    ring: Ring<'m, T>,
    /// The previous lap's position last seen taken by a consumer but not freed, and the
    /// clock of its liveness checks (module docs, "Consumers that die mid-take").
    stall: Option<(u64, Throttle)>,
}

impl<'m, T: SharedLayout + Copy> Producer<'m, T> {
    handle_basics!(
        ring,
        "consumers",
        /// Attaches as a producer (registering this process).
        ///
        /// # Errors
        /// [`LimitReached`](crate::ErrorKind::LimitReached) if all producer slots hold live
        /// processes; otherwise as [`spsc::Producer::attach`](super::spsc::Producer::attach).
    );

    fn attach_raw<M: Memory + ?Sized>(mem: &'m M, layout: RingLayout) -> Result<Self, RingError> {
        Ok(Producer {
            ring: Ring::attach(mem, layout, true)?,
            stall: None,
        })
    }

    /// Messages lost to participants killed mid-operation (the control block's counter,
    /// for the whole ring): see [`Consumer::lost`].
    pub fn lost(&self) -> u64 {
        self.ring.ctrl.lost.load(Ordering::Relaxed)
    }

    /// Pushes `v` if a slot is free: `Ok(true)` if pushed, `Ok(false)` if the ring is full
    /// (nothing is built for that outcome: a polling loop does not allocate; `v` is `Copy`,
    /// the caller still has it).
    ///
    /// # Errors
    /// [`Disconnected`](crate::ErrorKind::Disconnected) if full and every consumer is gone;
    /// [`Corrupted`](crate::ErrorKind::Corrupted) if a stamp or `tail` is impossible. Op
    /// `try_push`, the ring's name.
    #[inline]
    #[must_use = "Ok(false): the ring was full and nothing was pushed"]
    pub fn try_push(&mut self, v: T) -> Result<bool> {
        match self.push_raw(v) {
            Ok(()) => Ok(true),
            Err(RingError::Full) => Ok(false),
            Err(e) => Err(self.ring.error("try_push", e)),
        }
    }

    #[inline]
    fn push_raw(&mut self, v: T) -> Result<(), RingError> {
        let pos = self.claim()?;
        let r = &self.ring;
        r.write_value(pos, v);
        // Release: pairs with the consumer's Acquire stamp load; the value is visible.
        r.stamp(pos).store(pos.wrapping_add(1), Ordering::Release);
        // Release: pairs with the Acquire load in `live_claimer` (module docs).
        r.entry().claiming.store(0, Ordering::Release);
        Control::wake(&r.ctrl.data_futex, &r.ctrl.data_sleepers);
        Ok(())
    }

    /// For crash tests only: claims the next position exactly as
    /// [`try_push`](Self::try_push) does, then returns it without writing or publishing
    /// (the state a producer killed mid-publish leaves). The ring stays blocked at that
    /// position until this process is dead and a consumer recovers it.
    #[doc(hidden)]
    pub fn claim_without_publishing(&mut self) -> Result<u64> {
        self.claim()
            .map_err(|e| self.ring.error("claim_without_publishing", e))
    }

    /// Claims the next position (Vyukov's producer step, with `claiming` recorded first,
    /// and a slot abandoned by a dead consumer freed on the way).
    fn claim(&mut self) -> Result<u64, RingError> {
        let ctrl = self.ring.ctrl;
        let mut pos = ctrl.tail.load(Ordering::Relaxed);
        loop {
            let r = &self.ring;
            let me = r.entry();
            // Acquire: pairs with the consumer's Release stamp store, so its read of the
            // previous lap's value happens before our write.
            let s = r.stamp(pos).load(Ordering::Acquire);
            let d = s.wrapping_sub(pos);
            if d == 0 {
                // Before the claim, so a consumer that sees the claim sees this (module
                // docs). Release: a scan that reads a later value of this entry sees our
                // earlier stamp stores (module docs).
                me.claiming.store(pos.wrapping_add(1), Ordering::Release);
                // AcqRel: Release heads the release sequence on `tail` that carries
                // `claiming` to consumers; Acquire orders our later accesses.
                match ctrl.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => {
                        pos = now;
                        continue;
                    }
                }
            }
            let now = ctrl.tail.load(Ordering::Relaxed);
            if now != pos {
                pos = now;
                continue;
            }
            // Release: as above.
            me.claiming.store(0, Ordering::Release);
            // `tail` did not move: the stamp must be the previous lap's (`pos - cap`:
            // claimed, unpublished; `pos - cap + 1`: published, not yet freed), i.e. full.
            if d == r.cap.wrapping_neg() || d == 1u64.wrapping_sub(r.cap) {
                if self.free_abandoned(pos) {
                    continue;
                }
                return Err(if self.ring.other_gone(false) {
                    RingError::Disconnected
                } else {
                    RingError::Full
                });
            }
            return Err(RingError::Corrupted(
                "slot stamp impossible for the tail position",
            ));
        }
        self.stall = None;
        Ok(pos)
    }

    /// The slot of `pos` still holds the previous lap's position `q = pos - cap` (stamp
    /// `q + 1` or `q`). If a consumer has taken `q` (`head > q`) and no live consumer
    /// records `claiming == q + 1`, that consumer died before freeing the slot: free it
    /// (module docs, "Consumers that die mid-take"). Returns whether the slot is now free
    /// (retry the claim).
    fn free_abandoned(&mut self, pos: u64) -> bool {
        let r = &self.ring;
        let cap = r.cap;
        let q = pos.wrapping_sub(cap);
        // Acquire: pairs with the taker's AcqRel CAS on `head` (every change of `head` is a
        // CAS, so one release sequence), so the scan below sees its `claiming` record.
        let h = r.ctrl.head.load(Ordering::Acquire);
        // Not taken yet (`head <= q`: really full) unless `q < head <= pos`; anything else
        // is a stale or corrupted `head`, treated as full (the consumers check it).
        if h.wrapping_sub(q).wrapping_sub(1) >= cap {
            return false;
        }
        if !stall_check_due(&mut self.stall, q) {
            return false;
        }
        let want = q.wrapping_add(1);
        if live_claimer(&r.ctrl.consumers, want) {
            return false;
        }
        // Read the stamp again: `q` (a recovering consumer died before its stamp CAS) or
        // `q + 1` (a consumer died while copying); anything else: retry the claim.
        let s = r.stamp(pos).load(Ordering::Acquire);
        if s != q && s != want {
            return true;
        }
        // AcqRel: Release pairs with the Acquire stamp load of the producer of `pos` (the
        // dead taker's accesses ended before it was seen dead); Acquire pairs with a
        // consumer that freed the slot meanwhile.
        if r.stamp(pos)
            .compare_exchange(s, pos, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            r.ctrl.lost.fetch_add(1, Ordering::Relaxed);
            Control::wake(&r.ctrl.space_futex, &r.ctrl.space_sleepers);
        }
        self.stall = None;
        true
    }

    /// Pushes `v`, waiting for a free slot up to `timeout` (`None`: until one frees or
    /// every consumer is gone).
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout);
    /// [`Disconnected`](crate::ErrorKind::Disconnected);
    /// [`Corrupted`](crate::ErrorKind::Corrupted); [`Os`](crate::ErrorKind::Os). Op `push`,
    /// the ring's name.
    pub fn push(&mut self, v: T, timeout: Option<Duration>) -> Result<()> {
        self.push_wait(v, timeout)
            .map_err(|e| self.ring.error("push", e))
    }

    fn push_wait(&mut self, v: T, timeout: Option<Duration>) -> Result<(), RingError> {
        let deadline = deadline(timeout);
        let mut spins = 0;
        loop {
            match self.push_raw(v) {
                Err(RingError::Full) => {}
                r => return r,
            }
            if spins < SPIN_LIMIT {
                spins += 1;
                spin_hint();
                continue;
            }
            let Some(wait) = next_sleep(deadline) else {
                return Err(RingError::Timeout);
            };
            let r = &self.ring;
            Control::sleep(&r.ctrl.space_futex, &r.ctrl.space_sleepers, wait, || {
                let t = r.ctrl.tail.load(Ordering::Relaxed);
                r.stamp(t).load(Ordering::Relaxed) == t
                    || peer(&r.ctrl.consumers, false) == Peer::Gone
            })?;
            // After a bounded sleep, the next attempt checks the consumers' liveness at
            // once (a killed one is noticed within about one sleep, not 64).
            self.ring.throttle.expire();
            // A slot held by a consumer that may be dead is re-checked (throttled) after
            // each bounded sleep.
            if self.stall.is_some() {
                spins = 0;
            }
        }
    }
}

/// A consuming handle of an MPMC ring.
pub struct Consumer<'m, T> {
    ring: Ring<'m, T>,
    /// The position last seen claimed but unpublished, and the clock of its claimer's
    /// liveness checks (see the module docs).
    stall: Option<(u64, Throttle)>,
}

/// What the recovery step decided about a claimed, unpublished position.
enum Recovery<T> {
    /// Wait: the claimer may be alive (or it is too early to check).
    Wait,
    /// The position was skipped (claimer dead); go on with the next.
    Skipped,
    /// The claimer published after all: here is the value.
    Value(T),
    /// Another consumer moved `head`: retry from there.
    Moved(u64),
}

impl<'m, T: SharedLayout + Copy> Consumer<'m, T> {
    handle_basics!(
        ring,
        "producers",
        /// Attaches as a consumer (registering this process).
        ///
        /// # Errors
        /// As [`Producer::attach`].
    );

    fn attach_raw<M: Memory + ?Sized>(mem: &'m M, layout: RingLayout) -> Result<Self, RingError> {
        Ok(Consumer {
            ring: Ring::attach(mem, layout, false)?,
            stall: None,
        })
    }

    /// Messages lost to participants killed mid-operation (the control block's counter,
    /// for the whole ring): a producer killed between claiming and publishing (its `push`
    /// never returned), or a consumer killed between taking a position and freeing its
    /// slot (its `pop` never returned). One per such crash; see the module docs.
    pub fn lost(&self) -> u64 {
        self.ring.ctrl.lost.load(Ordering::Relaxed)
    }

    /// Pops the oldest published value: `Ok(None)` if there is none (also while the next
    /// position is claimed but not yet published by a live producer; nothing is built for
    /// that outcome: a polling loop does not allocate).
    ///
    /// # Errors
    /// [`Disconnected`](crate::ErrorKind::Disconnected) once every producer is gone and
    /// nothing is left; [`Corrupted`](crate::ErrorKind::Corrupted). Op `try_pop`, the
    /// ring's name.
    #[inline]
    pub fn try_pop(&mut self) -> Result<Option<T>> {
        match self.pop_step(true) {
            Ok(v) => Ok(Some(v)),
            Err(RingError::Empty) => Ok(None),
            Err(e) => Err(self.ring.error("try_pop", e)),
        }
    }

    /// For crash tests only: pops exactly as [`try_pop`](Self::try_pop) does, reading the
    /// value, but returns without freeing its slot or clearing this consumer's `claiming`
    /// record (the state a consumer killed while copying leaves). The slot stays held until
    /// this process is dead and a producer frees it.
    #[doc(hidden)]
    pub fn pop_without_freeing(&mut self) -> Result<Option<T>> {
        match self.pop_step(false) {
            Ok(v) => Ok(Some(v)),
            Err(RingError::Empty) => Ok(None),
            Err(e) => Err(self.ring.error("pop_without_freeing", e)),
        }
    }

    /// Records the claim of `pos` in our registry entry, then claims it with a CAS on
    /// `head`; on failure clears the record and returns the current `head`.
    #[inline]
    fn claim_head(&self, pos: u64) -> Result<(), u64> {
        let ctrl = self.ring.ctrl;
        let me = self.ring.entry();
        // Before the CAS, so a producer that sees `head > pos` sees it (module docs).
        // Release: a scan that reads a later value of this entry sees our earlier stamp
        // stores.
        me.claiming.store(pos.wrapping_add(1), Ordering::Release);
        // Acquire (here, in the CAS and on reloads), with the CAS's Release: a consumer
        // that reads a head value written by another consumer's claim also sees the
        // producer CAS on `tail` that made that claim possible, so `tail - head` computed
        // from our loads never looks negative (loom found the false `Corrupted` that
        // Relaxed loads of head give). The Release also heads the release sequence on
        // `head` that carries `claiming` to a producer's scan.
        match ctrl.head.compare_exchange_weak(
            pos,
            pos.wrapping_add(1),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(now) => {
                // Release: as above.
                me.claiming.store(0, Ordering::Release);
                Err(now)
            }
        }
    }

    fn pop_step(&mut self, free: bool) -> Result<T, RingError> {
        let ctrl = self.ring.ctrl;
        let cap = self.ring.cap;
        let mut pos = ctrl.head.load(Ordering::Acquire);
        loop {
            // Acquire: pairs with the producer's Release stamp store (the value).
            let s = self.ring.stamp(pos).load(Ordering::Acquire);
            if s == pos.wrapping_add(1) {
                match self.claim_head(pos) {
                    Ok(()) => {
                        self.stall = None;
                        return Ok(self.take(pos, free));
                    }
                    Err(now) => {
                        pos = now;
                        continue;
                    }
                }
            }
            // Acquire: pairs with the producers' AcqRel CAS (release sequence), for
            // `claiming` in the recovery scan.
            let t = ctrl.tail.load(Ordering::Acquire);
            let used = t.wrapping_sub(pos);
            if used == 0 || used > cap || s != pos {
                let now = ctrl.head.load(Ordering::Acquire);
                if now != pos {
                    pos = now;
                    continue;
                }
            }
            if used == 0 {
                if !self.ring.other_gone(true) {
                    return Err(RingError::Empty);
                }
                // The producers are gone (seen after everything they published): re-read.
                if ctrl.tail.load(Ordering::Acquire) == pos {
                    return Err(RingError::Disconnected);
                }
                continue;
            }
            if used > cap {
                return Err(RingError::Corrupted(
                    "tail more than the capacity ahead of head",
                ));
            }
            if s != pos {
                // The previous lap's consumer has not yet freed the slot (`pos - cap + 1`),
                // so no producer could have claimed it: `tail` moved on after our stamp load.
                if s == pos.wrapping_add(1).wrapping_sub(cap) {
                    return Err(RingError::Empty);
                }
                return Err(RingError::Corrupted(
                    "slot stamp impossible for the head position",
                ));
            }
            // Claimed (tail > pos) and not published (stamp == pos).
            match self.recover(pos, free)? {
                Recovery::Wait => return Err(RingError::Empty),
                Recovery::Skipped => pos = pos.wrapping_add(1),
                Recovery::Value(v) => return Ok(v),
                Recovery::Moved(now) => pos = now,
            }
        }
    }

    /// Reads position `pos` (claimed by our CAS on head) and, if `free`, frees its slot and
    /// clears our claim record.
    #[inline]
    fn take(&mut self, pos: u64, free: bool) -> T {
        let r = &self.ring;
        let v = r.read_value(pos);
        if free {
            // Release: pairs with the producer's Acquire stamp load; our read happens
            // before the next lap's write.
            r.stamp(pos)
                .store(pos.wrapping_add(r.cap), Ordering::Release);
            // Release: pairs with the Acquire load in `live_claimer` (module docs).
            r.entry().claiming.store(0, Ordering::Release);
            Control::wake(&r.ctrl.space_futex, &r.ctrl.space_sleepers);
        }
        v
    }

    /// The abandoned-slot recovery (module docs).
    fn recover(&mut self, pos: u64, free: bool) -> Result<Recovery<T>, RingError> {
        if !stall_check_due(&mut self.stall, pos) {
            return Ok(Recovery::Wait);
        }
        let r = &self.ring;
        if live_claimer(&r.ctrl.producers, pos.wrapping_add(1)) {
            return Ok(Recovery::Wait);
        }
        // Recorded like any claim of `head`: if we die before the stamp CAS below, a
        // producer frees the slot (module docs).
        if let Err(now) = self.claim_head(pos) {
            return Ok(Recovery::Moved(now));
        }
        // The position is ours. AcqRel: Acquire pairs with a late publication (then we
        // read the value); Release pairs with the next lap's producer, as in `take`.
        let r = &self.ring;
        match r.stamp(pos).compare_exchange(
            pos,
            pos.wrapping_add(r.cap),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // Release: as in `take`.
                r.entry().claiming.store(0, Ordering::Release);
                r.ctrl.lost.fetch_add(1, Ordering::Relaxed);
                Control::wake(&r.ctrl.space_futex, &r.ctrl.space_sleepers);
                self.stall = None;
                Ok(Recovery::Skipped)
            }
            Err(s) if s == pos.wrapping_add(1) => {
                self.stall = None;
                Ok(Recovery::Value(self.take(pos, free)))
            }
            Err(_) => {
                r.entry().claiming.store(0, Ordering::Release);
                Err(RingError::Corrupted("stamp of a claimed slot changed"))
            }
        }
    }

    /// Pops a value, waiting up to `timeout` (`None`: until one is published or every
    /// producer is gone).
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout);
    /// [`Disconnected`](crate::ErrorKind::Disconnected);
    /// [`Corrupted`](crate::ErrorKind::Corrupted); [`Os`](crate::ErrorKind::Os). Op `pop`,
    /// the ring's name.
    pub fn pop(&mut self, timeout: Option<Duration>) -> Result<T> {
        self.pop_wait(timeout)
            .map_err(|e| self.ring.error("pop", e))
    }

    fn pop_wait(&mut self, timeout: Option<Duration>) -> Result<T, RingError> {
        let deadline = deadline(timeout);
        let mut spins = 0;
        loop {
            match self.pop_step(true) {
                Err(RingError::Empty) => {}
                r => return r,
            }
            if spins < SPIN_LIMIT {
                spins += 1;
                spin_hint();
                continue;
            }
            let Some(wait) = next_sleep(deadline) else {
                return Err(RingError::Timeout);
            };
            let r = &self.ring;
            // Sleep while the head slot is not published; a claimed-but-unpublished slot
            // is re-checked (liveness) after each bounded sleep.
            Control::sleep(&r.ctrl.data_futex, &r.ctrl.data_sleepers, wait, || {
                let h = r.ctrl.head.load(Ordering::Relaxed);
                r.stamp(h).load(Ordering::Relaxed) == h.wrapping_add(1)
                    || peer(&r.ctrl.producers, false) == Peer::Gone
            })?;
            // As in `push`: the producers' liveness is checked on the next attempt.
            self.ring.throttle.expire();
            if self.stall.is_some() {
                spins = 0;
            }
        }
    }
}
