//! Byte ring: one producer, one consumer, variable-length frames, zero-copy on both sides.
//!
//! The data region is `capacity` bytes (a power of two, at least 64). `tail` and `head`
//! count bytes published and consumed; both are multiples of 8. A frame is a record:
//! an 8-byte header (`u32` length, `u32` kind: 1 frame, 2 padding) and the payload, padded
//! to a multiple of 8. A record never wraps: when the next frame's record does not fit
//! between `tail` and the end of the buffer, the producer first writes a padding record
//! (kind 2, length = the bytes after its header up to the end) and the frame starts at
//! offset 0. Both are published by one store of `tail`.
//!
//! The largest frame is [`max_frame`]`(capacity)` = `capacity / 2 - 8` bytes: a record of
//! at most half the buffer always fits in an empty ring, wherever `tail` is (either before
//! the end or, after a padding record, at the start). Longer frames get
//! [`InvalidSize`](crate::ErrorKind::InvalidSize).
//!
//! The producer writes a frame in place ([`Producer::reserve`] returns `&mut [u8]` inside
//! the ring, [`FrameMut::commit`] publishes it); the consumer reads it in place
//! ([`Consumer::try_recv`] returns a [`Frame`] borrowing the bytes, and dropping the
//! `Frame` releases them to the producer). Waiting, disconnection and the registry are as
//! in [`spsc`](super::spsc).
//!
//! The consumer checks every header it reads (once, into a local): the kind is 1 or 2, a
//! padding record ends exactly at the end of the buffer, a frame's length is at most
//! `max_frame`, and its record lies inside both the published bytes and the buffer.
//! Anything else is [`Corrupted`](crate::ErrorKind::Corrupted).

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use ipc_core::Memory;

use super::control::{block, Await, Control, Flavor, RingLayout};
use super::shim::Ordering;
use super::{Attachment, RingError};
use crate::error::Result;

/// The record header's length.
pub const HEADER: u64 = 8;
/// Record kind: a frame.
pub const KIND_FRAME: u32 = 1;
/// Record kind: padding up to the end of the buffer.
pub const KIND_PAD: u32 = 2;
/// The smallest capacity.
pub const MIN_CAPACITY: u64 = 64;

/// The largest frame a byte ring of `capacity` bytes carries: `capacity / 2 - 8` (and at
/// most `u32::MAX` rounded down to a multiple of 8).
pub const fn max_frame(capacity: u64) -> u64 {
    // The largest multiple of 8 that fits the u32 length field.
    const FIELD_MAX: u64 = u32::MAX as u64 - 7;
    // Saturating: a capacity below the minimum (which no valid ring has, but a tool may
    // ask about a corrupted one) gives 0, not an underflow.
    let m = (capacity / 2).saturating_sub(HEADER);
    if m > FIELD_MAX {
        FIELD_MAX
    } else {
        m
    }
}

/// Bytes of the data region: the capacity (`None` if it does not fit a `usize`).
pub fn data_len(capacity: u64) -> Option<usize> {
    usize::try_from(capacity).ok()
}

const fn record_len(len: u64) -> u64 {
    HEADER + len.next_multiple_of(8)
}

/// Formats a fresh byte ring in `mem` at `layout` (capacity in bytes).
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) if `layout` does not fit `mem` or the
/// capacity is below 64.
///
/// # Safety
/// As [`spsc::init`](super::spsc::init): exclusive access to the ring's bytes.
pub unsafe fn init<M: Memory + ?Sized>(mem: &M, layout: RingLayout) -> Result<()> {
    // SAFETY: forwarded from this function's contract.
    unsafe { init_raw(mem, layout) }.map_err(|e| e.into_error("init", ""))
}

/// [`init`], with the algorithms' outcome.
///
/// # Safety
/// As [`init`].
unsafe fn init_raw<M: Memory + ?Sized>(mem: &M, layout: RingLayout) -> Result<(), RingError> {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        super::format(
            mem,
            layout,
            super::Shape {
                flavor: Flavor::Bytes,
                min_cap: Flavor::Bytes.min_capacity(),
                elem_size: 0,
                data_len: data_len(layout.capacity),
                data_align: 8,
                tracked_cells: (layout.capacity / 8) as usize,
            },
        )
    }
    .map(|_| ())
}

/// What both handles hold: the ring's [`Attachment`], with the byte ring's checks and
/// record accessors.
struct Side<'m> {
    at: Attachment<'m>,
}

impl<'m> std::ops::Deref for Side<'m> {
    type Target = Attachment<'m>;
    #[inline]
    fn deref(&self) -> &Attachment<'m> {
        &self.at
    }
}

impl<'m> std::ops::DerefMut for Side<'m> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Attachment<'m> {
        &mut self.at
    }
}

impl<'m> Side<'m> {
    fn attach<M: Memory + ?Sized>(
        mem: &'m M,
        layout: RingLayout,
        producer: bool,
    ) -> Result<Self, RingError> {
        let shape = super::Shape {
            flavor: Flavor::Bytes,
            min_cap: Flavor::Bytes.min_capacity(),
            elem_size: 0,
            data_len: data_len(layout.capacity),
            data_align: 8,
            tracked_cells: 0,
        };
        Ok(Side {
            at: Attachment::new(mem, layout, shape, producer, 1)?,
        })
    }

    /// `tail - head` checked: at most the capacity, both multiples of 8.
    fn used(&self, tail: u64, head: u64) -> Result<u64, RingError> {
        let used = tail.wrapping_sub(head);
        if used > self.cap || tail % 8 != 0 || head % 8 != 0 {
            return Err(RingError::Corrupted(
                "byte ring head/tail misaligned, or more than the capacity apart",
            ));
        }
        Ok(used)
    }

    /// Writes a record header at buffer offset `off` (a multiple of 8, `off + 8 <= cap`).
    fn write_header(&self, off: u64, len: u32, kind: u32) {
        // SAFETY: off + 8 <= cap (callers), the region holds cap bytes and is 8-aligned
        // (`resolve`); the producer owns the unpublished bytes.
        unsafe {
            self.data
                .add(off as usize)
                .cast::<[u32; 2]>()
                .write([len, kind])
        }
    }

    /// Reads the record header at buffer offset `off` (a multiple of 8, `off + 8 <= cap`).
    fn read_header(&self, off: u64) -> (u32, u32) {
        // SAFETY: as `write_header`; the consumer reads published bytes only, and any bit
        // pattern is a pair of u32s.
        let [len, kind] = unsafe { self.data.add(off as usize).cast::<[u32; 2]>().read() };
        (len, kind)
    }

    #[cfg(loom)]
    fn track(&self, from: u64, to: u64, write: bool) -> Vec<super::shim::model::Access> {
        (from / 8..to.div_ceil(8))
            .map(|i| {
                if write {
                    self.ctrl.tracker.write(i as usize)
                } else {
                    self.ctrl.tracker.read(i as usize)
                }
            })
            .collect()
    }
}

/// The producing end of a byte ring.
pub struct Producer<'m> {
    side: Side<'m>,
    tail: u64,
    cached_head: u64,
}

impl<'m> Producer<'m> {
    handle_basics!(
        side,
        "consumers",
        /// Attaches as the ring's producer.
        ///
        /// # Errors
        /// As [`spsc::Producer::attach`](super::spsc::Producer::attach).
    );

    fn attach_raw<M: Memory + ?Sized>(mem: &'m M, layout: RingLayout) -> Result<Self, RingError> {
        let side = Side::attach(mem, layout, true)?;
        // Acquire: pairs with the consumer's Release store of head.
        let head = side.ctrl.head.load(Ordering::Acquire);
        let tail = side.ctrl.tail.load(Ordering::Relaxed);
        side.used(tail, head)?;
        Ok(Producer {
            side,
            tail,
            cached_head: head,
        })
    }

    /// The largest frame this ring carries ([`max_frame`]).
    pub fn max_frame(&self) -> usize {
        max_frame(self.side.cap) as usize
    }

    /// The bytes published so far (tail): the position the next frame's record (or the
    /// padding before it) gets. It moves only on [`FrameMut::commit`], so a process that
    /// records it before a commit can tell afterwards, from the next producer's
    /// `position` (which starts at the ring's tail), whether that commit happened.
    pub fn position(&self) -> u64 {
        self.tail
    }

    /// Where a record for `len` bytes would go: (padding bytes before it, its position).
    fn place(&mut self, len: usize) -> Result<(u64, u64), RingError> {
        let len = len as u64;
        if len > max_frame(self.side.cap) {
            return Err(RingError::TooLarge);
        }
        let rec = record_len(len);
        let off = self.tail & self.side.mask;
        let to_end = self.side.cap - off;
        let pad = if rec <= to_end { 0 } else { to_end };
        let need = pad + rec;
        if self.side.cap - self.tail.wrapping_sub(self.cached_head) < need {
            // Acquire: pairs with the consumer's Release store of head.
            let head = self.side.ctrl.head.load(Ordering::Acquire);
            let used = self.side.used(self.tail, head)?;
            self.cached_head = head;
            if self.side.cap - used < need {
                return Err(if self.side.other_gone(false) {
                    RingError::Disconnected
                } else {
                    RingError::Full
                });
            }
        }
        Ok((pad, self.tail.wrapping_add(pad)))
    }

    /// Reserves a frame of exactly `len` bytes inside the ring, to fill and
    /// [`commit`](FrameMut::commit); dropped without commit, nothing is sent. `Ok(None)` if
    /// there is no room now (nothing is built for that outcome).
    ///
    /// # Errors
    /// [`InvalidSize`](crate::ErrorKind::InvalidSize) above
    /// [`max_frame`](Self::max_frame); [`Disconnected`](crate::ErrorKind::Disconnected)
    /// (full and the consumer gone); [`Corrupted`](crate::ErrorKind::Corrupted). Op
    /// `reserve`, the ring's name.
    pub fn reserve(&mut self, len: usize) -> Result<Option<FrameMut<'_, 'm>>> {
        match self.place(len) {
            Ok((pad, start)) => Ok(Some(self.frame_mut(pad, start, len))),
            Err(RingError::Full) => Ok(None),
            Err(e) => Err(self.side.error("reserve", e)),
        }
    }

    /// [`reserve`](Self::reserve), waiting for room up to `timeout` (`None`: until there is
    /// room or the consumer is gone).
    ///
    /// # Errors
    /// As `reserve`, and [`Timeout`](crate::ErrorKind::Timeout),
    /// [`Os`](crate::ErrorKind::Os) (op `reserve_wait`).
    pub fn reserve_wait(
        &mut self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<FrameMut<'_, 'm>> {
        self.reserve_wait_as("reserve_wait", len, timeout)
    }

    fn reserve_wait_as(
        &mut self,
        op: &'static str,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<FrameMut<'_, 'm>> {
        let ctrl = self.side.ctrl;
        let (pad, start) = block(ctrl, Await::Space, timeout, |slept| {
            if slept {
                self.side.throttle.expire();
            }
            match self.place(len) {
                Err(RingError::Full) => Err(self.cached_head),
                r => Ok(r),
            }
        })
        .map_err(|e| self.side.error(op, e))?;
        Ok(self.frame_mut(pad, start, len))
    }

    fn frame_mut(&mut self, pad: u64, start: u64, len: usize) -> FrameMut<'_, 'm> {
        #[cfg(loom)]
        let guards = self
            .side
            .track(
                self.tail & self.side.mask,
                (self.tail & self.side.mask) + pad.min(8),
                true,
            )
            .into_iter()
            .chain(self.side.track(
                start & self.side.mask,
                (start & self.side.mask) + record_len(len as u64),
                true,
            ))
            .collect();
        FrameMut {
            prod: self,
            pad,
            start,
            len,
            #[cfg(loom)]
            _guards: guards,
        }
    }

    /// Sends a copy of `bytes` as one frame if there is room: `Ok(true)` if sent,
    /// `Ok(false)` if the ring is full (nothing is built for that outcome).
    ///
    /// # Errors
    /// As [`reserve`](Self::reserve), op `try_send`.
    #[must_use = "Ok(false): the ring was full and nothing was sent"]
    pub fn try_send(&mut self, bytes: &[u8]) -> Result<bool> {
        self.try_send_as("try_send", bytes)
    }

    /// [`try_send`](Self::try_send) with the caller's op in errors.
    pub(crate) fn try_send_as(&mut self, op: &'static str, bytes: &[u8]) -> Result<bool> {
        match self.place(bytes.len()) {
            Ok((pad, start)) => {
                let mut f = self.frame_mut(pad, start, bytes.len());
                f.copy_from_slice(bytes);
                f.commit();
                Ok(true)
            }
            Err(RingError::Full) => Ok(false),
            Err(e) => Err(self.side.error(op, e)),
        }
    }

    /// Sends a copy of `bytes`, waiting for room up to `timeout`.
    ///
    /// # Errors
    /// As [`reserve_wait`](Self::reserve_wait), op `send`.
    pub fn send(&mut self, bytes: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.send_as("send", bytes, timeout)
    }

    /// [`send`](Self::send) with the caller's op in errors.
    pub(crate) fn send_as(
        &mut self,
        op: &'static str,
        bytes: &[u8],
        timeout: Option<Duration>,
    ) -> Result<()> {
        let mut f = self.reserve_wait_as(op, bytes.len(), timeout)?;
        f.copy_from_slice(bytes);
        f.commit();
        Ok(())
    }

    /// The ring's name for errors (empty for a ring without one).
    #[cfg_attr(not(feature = "serde"), allow(dead_code))]
    pub(crate) fn ring_name(&self) -> &str {
        self.side.name
    }
}

/// A frame reserved in the ring by the producer: write it through `DerefMut`, then
/// [`commit`](Self::commit).
pub struct FrameMut<'p, 'm> {
    prod: &'p mut Producer<'m>,
    pad: u64,
    start: u64,
    len: usize,
    #[cfg(loom)]
    _guards: Vec<super::shim::model::Access>,
}

impl FrameMut<'_, '_> {
    /// Publishes the frame (and the padding record before it, if any): one store of
    /// `tail`, and a wake only if the consumer sleeps.
    #[cfg_attr(not(loom), allow(unused_mut))]
    pub fn commit(mut self) {
        #[cfg(loom)]
        let guards = std::mem::take(&mut self._guards);
        let side = &self.prod.side;
        if self.pad > 0 {
            side.write_header(
                self.prod.tail & side.mask,
                (self.pad - HEADER) as u32,
                KIND_PAD,
            );
        }
        side.write_header(self.start & side.mask, self.len as u32, KIND_FRAME);
        let tail = self.start.wrapping_add(record_len(self.len as u64));
        // Under loom: our writes end here, before the publication.
        #[cfg(loom)]
        drop(guards);
        self.prod.tail = tail;
        // Release: pairs with the consumer's Acquire load of tail; the headers and the
        // payload happen before its reads.
        side.ctrl.tail.store(tail, Ordering::Release);
        Control::wake(&side.ctrl.data_futex, &side.ctrl.data_sleepers);
    }
}

impl Deref for FrameMut<'_, '_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let side = &self.prod.side;
        let off = (self.start & side.mask) + HEADER;
        // SAFETY: `place` put the record inside the buffer (off + len <= cap: the record
        // never wraps) and inside the free space, which this producer alone writes until it
        // publishes; the slice borrows the producer, so no second reservation overlaps.
        unsafe { std::slice::from_raw_parts(side.data.add(off as usize), self.len) }
    }
}

impl DerefMut for FrameMut<'_, '_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let side = &self.prod.side;
        let off = (self.start & side.mask) + HEADER;
        // SAFETY: as in `deref`, and `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(side.data.add(off as usize), self.len) }
    }
}

/// The consuming end of a byte ring.
pub struct Consumer<'m> {
    side: Side<'m>,
    head: u64,
    cached_tail: u64,
}

/// Where the next frame is: payload offset in the buffer, length, head after it.
#[derive(Clone, Copy)]
struct Found {
    off: u64,
    len: u64,
    rec_from: u64,
    next: u64,
}

impl<'m> Consumer<'m> {
    handle_basics!(
        side,
        "producers",
        /// Attaches as the ring's consumer.
        ///
        /// # Errors
        /// As [`spsc::Producer::attach`](super::spsc::Producer::attach).
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

    /// Published bytes from `from` on (`from` between head and the cached tail, which
    /// callers ensure: `head`, or a position [`check_at`](Self::check_at) accepted).
    fn available(&mut self, from: u64) -> Result<u64, RingError> {
        if self.cached_tail != from {
            return Ok(self.cached_tail.wrapping_sub(from));
        }
        // Acquire: pairs with the producer's Release store of tail (headers and payload).
        let tail = self.side.ctrl.tail.load(Ordering::Acquire);
        self.side.used(tail, self.head)?;
        self.cached_tail = tail;
        Ok(tail.wrapping_sub(from))
    }

    /// Finds the next frame (checking its headers), or `Empty`/`Disconnected`.
    fn find(&mut self) -> Result<Found, RingError> {
        self.find_at(self.head)
    }

    /// Finds the frame whose record (or the padding before it) starts at `at`, a record
    /// boundary between head and the cached tail (checking its headers), or
    /// `Empty`/`Disconnected` if nothing is published from `at` on.
    fn find_at(&mut self, at: u64) -> Result<Found, RingError> {
        let mut avail = self.available(at)?;
        if avail == 0 {
            if !self.side.other_gone(true) {
                return Err(RingError::Empty);
            }
            // The producer is gone, seen after all it published: re-read tail once.
            avail = self.available(at)?;
            if avail == 0 {
                return Err(RingError::Disconnected);
            }
        }
        let cap = self.side.cap;
        let mut head = at;
        let mut off = head & self.side.mask;
        if avail < HEADER {
            return Err(RingError::Corrupted(
                "published bytes end inside a record header",
            ));
        }
        let (mut len, mut kind) = self.side.read_header(off);
        if kind == KIND_PAD {
            let to_end = cap - off;
            if u64::from(len) + HEADER != to_end || to_end > avail {
                return Err(RingError::Corrupted(
                    "padding record does not end at the buffer's end",
                ));
            }
            head = head.wrapping_add(to_end);
            avail -= to_end;
            off = 0;
            if avail < HEADER {
                return Err(RingError::Corrupted(
                    "padding record not followed by a frame",
                ));
            }
            (len, kind) = self.side.read_header(0);
        }
        if kind != KIND_FRAME {
            return Err(RingError::Corrupted(
                "record kind is neither frame nor padding",
            ));
        }
        let len = u64::from(len);
        if len > max_frame(cap) {
            return Err(RingError::Corrupted("frame longer than the largest frame"));
        }
        let rec = record_len(len);
        if rec > avail || off + rec > cap {
            return Err(RingError::Corrupted(
                "frame extends past the published bytes or the buffer",
            ));
        }
        Ok(Found {
            off: off + HEADER,
            len,
            rec_from: at,
            next: head.wrapping_add(rec),
        })
    }

    /// Checks that `at` lies between head and the published tail (re-reading tail if
    /// needed) and is a multiple of 8; it must also be a record boundary, which
    /// [`peek_at`](Self::peek_at) and [`release_to`](Self::release_to) ensure by only
    /// accepting head or the positions their frames returned (a wrong boundary reads as
    /// [`RingError::Corrupted`], never out of bounds: every header is checked).
    fn check_at(&mut self, at: u64) -> Result<(), RingError> {
        let ahead = at.wrapping_sub(self.head);
        if at % 8 != 0 {
            return Err(RingError::Invalid("position is not a record boundary"));
        }
        if ahead > self.cached_tail.wrapping_sub(self.head) {
            // Acquire: pairs with the producer's Release store of tail.
            let tail = self.side.ctrl.tail.load(Ordering::Acquire);
            self.side.used(tail, self.head)?;
            self.cached_tail = tail;
            if ahead > tail.wrapping_sub(self.head) {
                return Err(RingError::Invalid(
                    "position is before head or past the published bytes",
                ));
            }
        }
        Ok(())
    }

    /// The position of the next frame [`try_recv`](Self::try_recv) returns: the bytes
    /// consumed so far (head). Positions only grow; a frame keeps its position until it
    /// is consumed, also across consumers (a new consumer starts at head).
    pub fn position(&self) -> u64 {
        self.head
    }

    /// The frame at position `at` (head, or a [`Peeked::next`] since), without consuming
    /// it: it stays in the ring, for this consumer or the next one after a crash, until
    /// [`release_to`](Self::release_to) passes it. Non-blocking: `Ok(None)` if nothing is
    /// published at `at` yet.
    ///
    /// # Errors
    /// [`Disconnected`](crate::ErrorKind::Disconnected) once the producer is gone and
    /// nothing is published from `at` on; [`InvalidInput`](crate::ErrorKind::InvalidInput)
    /// if `at` is before head, past the published bytes or not a multiple of 8;
    /// [`Corrupted`](crate::ErrorKind::Corrupted). Op `try_peek_at`, the ring's name.
    pub fn try_peek_at(&mut self, at: u64) -> Result<Option<Peeked<'_, 'm>>> {
        const OP: &str = "try_peek_at";
        self.check_at(at).map_err(|e| self.side.error(OP, e))?;
        match self.find_at(at) {
            Ok(f) => Ok(Some(self.peeked(f))),
            Err(RingError::Empty) => Ok(None),
            Err(e) => Err(self.side.error(OP, e)),
        }
    }

    /// [`try_peek_at`](Self::try_peek_at), waiting up to `timeout` (`None`: until a frame
    /// is published at `at` or the producer is gone).
    ///
    /// # Errors
    /// As `try_peek_at`, with [`Timeout`](crate::ErrorKind::Timeout) where it has nothing,
    /// and [`Os`](crate::ErrorKind::Os). Op `peek_at`, the ring's name.
    pub fn peek_at(&mut self, at: u64, timeout: Option<Duration>) -> Result<Peeked<'_, 'm>> {
        const OP: &str = "peek_at";
        self.check_at(at).map_err(|e| self.side.error(OP, e))?;
        let ctrl = self.side.ctrl;
        let f = block(ctrl, Await::Data, timeout, |slept| {
            if slept {
                self.side.throttle.expire();
            }
            match self.find_at(at) {
                // Nothing published from `at` on: wait for tail to move past it.
                Err(RingError::Empty) => Err(at),
                r => Ok(r),
            }
        })
        .map_err(|e| self.side.error(OP, e))?;
        Ok(self.peeked(f))
    }

    /// Consumes every frame before position `to` (head, or a [`Peeked::next`] since),
    /// releasing their bytes to the producer: head moves to `to`. Walks the records from
    /// head to `to`, so a position that is no record boundary is refused, not stored.
    ///
    /// Returns the number of frames consumed.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) if `to` is before head, past the
    /// published bytes, or not the end of a frame; [`Corrupted`](crate::ErrorKind::Corrupted).
    /// Op `release_to`, the ring's name.
    pub fn release_to(&mut self, to: u64) -> Result<u64> {
        self.release_to_inner(to)
            .map_err(|e| self.side.error("release_to", e))
    }

    fn release_to_inner(&mut self, to: u64) -> Result<u64, RingError> {
        self.check_at(to)?;
        let mut at = self.head;
        let mut frames = 0;
        while at != to {
            let f = match self.find_at(at) {
                Ok(f) => f,
                Err(RingError::Empty | RingError::Disconnected) => {
                    return Err(RingError::Invalid("position is not the end of a frame"))
                }
                Err(e) => return Err(e),
            };
            if f.next.wrapping_sub(self.head) > to.wrapping_sub(self.head) {
                return Err(RingError::Invalid("position is not the end of a frame"));
            }
            at = f.next;
            frames += 1;
        }
        if to != self.head {
            self.advance(to);
        }
        Ok(frames)
    }

    /// Under loom: the read accesses of the frame `f` (its header and payload).
    #[cfg(loom)]
    fn read_guards(&self, f: &Found) -> Vec<super::shim::model::Access> {
        let from = f.rec_from & self.side.mask;
        let mut g = self.side.track(from, from + 8, false);
        g.extend(
            self.side
                .track(f.off - HEADER, f.off + f.len.next_multiple_of(8), false),
        );
        g
    }

    /// Moves head to `to` (a frame's end at or after head): its bytes go back to the
    /// producer.
    fn advance(&mut self, to: u64) {
        self.head = to;
        // Release: pairs with the producer's Acquire load of head; our reads of the
        // frames before `to` happen before it reuses the bytes.
        self.side.ctrl.head.store(to, Ordering::Release);
        Control::wake(&self.side.ctrl.space_futex, &self.side.ctrl.space_sleepers);
    }

    fn peeked(&mut self, f: Found) -> Peeked<'_, 'm> {
        #[cfg(loom)]
        let guards = self.read_guards(&f);
        Peeked {
            cons: self,
            off: f.off,
            len: f.len as usize,
            at: f.rec_from,
            next: f.next,
            #[cfg(loom)]
            _guards: guards,
        }
    }

    fn frame(&mut self, f: Found) -> Frame<'_, 'm> {
        #[cfg(loom)]
        let guards = self.read_guards(&f);
        let _ = f.rec_from;
        Frame {
            cons: self,
            off: f.off,
            len: f.len as usize,
            next: f.next,
            #[cfg(loom)]
            _guards: guards,
        }
    }

    /// The next frame, if one is published: borrowed in place, released when dropped.
    ///
    /// `Ok(None)` if nothing is published (nothing is built for that outcome: a polling
    /// loop does not allocate).
    ///
    /// # Errors
    /// [`Disconnected`](crate::ErrorKind::Disconnected) once the producer is gone and
    /// everything it sent has been received; [`Corrupted`](crate::ErrorKind::Corrupted).
    /// Op `try_recv`, the ring's name.
    pub fn try_recv(&mut self) -> Result<Option<Frame<'_, 'm>>> {
        self.try_recv_as("try_recv")
    }

    /// [`try_recv`](Self::try_recv) with the caller's op in errors.
    pub(crate) fn try_recv_as(&mut self, op: &'static str) -> Result<Option<Frame<'_, 'm>>> {
        match self.find() {
            Ok(f) => Ok(Some(self.frame(f))),
            Err(RingError::Empty) => Ok(None),
            Err(e) => Err(self.side.error(op, e)),
        }
    }

    /// The next frame, waiting up to `timeout` (`None`: until one is published or the
    /// producer is gone).
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout);
    /// [`Disconnected`](crate::ErrorKind::Disconnected);
    /// [`Corrupted`](crate::ErrorKind::Corrupted); [`Os`](crate::ErrorKind::Os). Op `recv`,
    /// the ring's name.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Frame<'_, 'm>> {
        self.recv_as("recv", timeout)
    }

    /// [`recv`](Self::recv) with the caller's op in errors.
    pub(crate) fn recv_as(
        &mut self,
        op: &'static str,
        timeout: Option<Duration>,
    ) -> Result<Frame<'_, 'm>> {
        let ctrl = self.side.ctrl;
        let f = block(ctrl, Await::Data, timeout, |slept| {
            if slept {
                self.side.throttle.expire();
            }
            match self.find() {
                Err(RingError::Empty) => Err(self.head),
                r => Ok(r),
            }
        })
        .map_err(|e| self.side.error(op, e))?;
        Ok(self.frame(f))
    }
}

/// A frame read in place by [`Consumer::peek_at`] without consuming it: dropping it
/// releases nothing ([`Consumer::release_to`] does).
pub struct Peeked<'c, 'm> {
    cons: &'c Consumer<'m>,
    off: u64,
    len: usize,
    at: u64,
    next: u64,
    #[cfg(loom)]
    _guards: Vec<super::shim::model::Access>,
}

impl Peeked<'_, '_> {
    /// The frame's position (where its record, or the padding before it, starts).
    pub fn position(&self) -> u64 {
        self.at
    }

    /// The position after the frame: the next frame's, and what
    /// [`Consumer::release_to`] takes to consume this one and all before it.
    pub fn next(&self) -> u64 {
        self.next
    }
}

impl Deref for Peeked<'_, '_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `find_at` checked that the record lies inside the buffer and inside the
        // published bytes at or after head, which the producer does not write until head
        // passes them (`release_to`, which needs the consumer this borrows).
        unsafe { std::slice::from_raw_parts(self.cons.side.data.add(self.off as usize), self.len) }
    }
}

/// A received frame, borrowed in place from the ring; dropping it releases its bytes to
/// the producer.
pub struct Frame<'c, 'm> {
    cons: &'c mut Consumer<'m>,
    off: u64,
    len: usize,
    next: u64,
    #[cfg(loom)]
    _guards: Vec<super::shim::model::Access>,
}

impl Frame<'_, '_> {
    /// The ring's name for errors about this frame (empty for a ring without one).
    pub(crate) fn ring_name(&self) -> &str {
        self.cons.side.name
    }
}

impl Deref for Frame<'_, '_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `find` checked that the record lies inside the buffer and inside the
        // published bytes, which the producer does not write until head passes them (on
        // this frame's drop).
        unsafe { std::slice::from_raw_parts(self.cons.side.data.add(self.off as usize), self.len) }
    }
}

impl Drop for Frame<'_, '_> {
    fn drop(&mut self) {
        #[cfg(loom)]
        self._guards.clear();
        if !self.cons.side.owner.is_current() {
            // A forked child's copy: the frame is the parent's to release.
            return;
        }
        self.cons.advance(self.next);
    }
}
