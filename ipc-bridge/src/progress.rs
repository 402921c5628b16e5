//! What `in` has delivered, kept where a restarted `in` finds it: a small named segment
//! next to ring B ([`name`]: the ring's name with `.ipc-bridge-in` appended), a
//! `Shared<Progress>`.
//!
//! Per stream (ring A, see [`wire::stream_id`](crate::wire::stream_id)) it holds the
//! position in ring A up to which every frame is in ring B (`delivered`). A push and the
//! update of `delivered` cannot be one store, so a push is recorded before it happens, with
//! ring B's position (its tail) at that moment:
//!
//! 1. `pending = 0`; the slot, the frame's `next` and ring B's position are written;
//!    `pending = 1`;
//! 2. the frame is pushed into ring B (one store of ring B's tail, which moves it);
//! 3. the slot's `delivered` is set to the frame's `next`.
//!
//! A process killed anywhere in this leaves either no pending push (`pending = 0`: none
//! was started, or its record was being written and the push had not begun), or a pending
//! push that happened exactly if ring B's tail has moved since; [`Progress::recover`],
//! called by the next `in` before it pushes anything, completes step 3 in that case. So
//! `delivered` is exact after any crash, and `in` pushes every frame once.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use ipc_collections::{Shared, SharedLayout};

use crate::Error;

/// How many streams a progress segment tracks; a new stream beyond that takes the slot
/// used least recently.
pub const STREAMS: usize = 8;

/// One stream's progress.
#[derive(SharedLayout, Debug)]
#[repr(C)]
pub struct Stream {
    /// The stream's identity (0: the slot is free).
    pub id: AtomicU64,
    /// Every frame of the stream before this position is in ring B.
    pub delivered: AtomicU64,
    /// When the slot was last used (a count of pushes), to pick one to reuse.
    pub used: AtomicU64,
}

/// The progress segment's value.
#[derive(SharedLayout, Debug)]
#[repr(C)]
pub struct Progress {
    /// Ring B's identity (its [`stream_id`](crate::wire::stream_id)); a ring removed and
    /// created again does not inherit the old ring's progress.
    pub ring: AtomicU64,
    /// 1 while the record below describes a push that may have happened.
    pub pending: AtomicU64,
    /// The pending push's slot.
    pub pending_slot: AtomicU64,
    /// The pending frame's `next`.
    pub pending_next: AtomicU64,
    /// Ring B's position before the pending push.
    pub pending_from: AtomicU64,
    /// Pushes so far (the clock of `Stream::used`).
    pub clock: AtomicU64,
    /// The streams.
    pub streams: [Stream; STREAMS],
}

/// The name of ring `ring`'s progress segment.
pub fn name(ring: &str) -> String {
    format!("{ring}.ipc-bridge-in")
}

/// A slot of the progress table.
pub type Slot = usize;

impl Progress {
    /// Opens (or creates) ring `ring`'s progress segment; it persists after `in` exits
    /// (remove it with `ipc rm`, with the ring). Resets it if it belonged to another ring
    /// of that name.
    ///
    /// # Errors
    /// [`Error::Ring`] if it cannot be opened or created (for example a segment of that
    /// name holding something else).
    pub fn open(ring: &str, ring_id: u64) -> Result<Shared<Progress>, Error> {
        let p = Shared::<Progress>::options()
            .unlink_on_drop(false)
            .open_or_create(&name(ring), |_| {})?;
        if p.ring.load(SeqCst) != ring_id {
            p.pending.store(0, SeqCst);
            for s in &p.streams {
                s.id.store(0, SeqCst);
                s.delivered.store(0, SeqCst);
                s.used.store(0, SeqCst);
            }
            p.ring.store(ring_id, SeqCst);
        }
        Ok(p)
    }

    /// Completes the push a killed `in` may have left pending: `ring_position` is ring B's
    /// position now (the new producer's). Returns whether one was completed.
    pub fn recover(&self, ring_position: u64) -> bool {
        if self.pending.load(SeqCst) != 1 {
            return false;
        }
        let done = ring_position != self.pending_from.load(SeqCst);
        if done {
            let slot = self.pending_slot.load(SeqCst) as usize;
            if let Some(s) = self.streams.get(slot) {
                s.delivered
                    .fetch_max(self.pending_next.load(SeqCst), SeqCst);
            }
        }
        self.pending.store(0, SeqCst);
        done
    }

    /// The slot of stream `id` (`None`: not tracked).
    pub fn find(&self, id: u64) -> Option<Slot> {
        self.streams.iter().position(|s| s.id.load(SeqCst) == id)
    }

    /// Takes a slot for the new stream `id`, delivered up to `base` (what its `out` had
    /// acknowledged: everything before it was delivered by an earlier `in`).
    pub fn add(&self, id: u64, base: u64) -> Slot {
        let slot = self
            .streams
            .iter()
            .position(|s| s.id.load(SeqCst) == 0)
            .unwrap_or_else(|| {
                (0..STREAMS)
                    .min_by_key(|&i| self.streams[i].used.load(SeqCst))
                    .expect("STREAMS > 0")
            });
        let s = &self.streams[slot];
        // The id last: a crash before it leaves the slot looking free or as it was.
        s.id.store(0, SeqCst);
        s.delivered.store(base, SeqCst);
        s.used.store(self.clock.load(SeqCst), SeqCst);
        s.id.store(id, SeqCst);
        slot
    }

    /// The position before which every frame of the stream in `slot` is in ring B.
    pub fn delivered(&self, slot: Slot) -> u64 {
        self.streams[slot].delivered.load(SeqCst)
    }

    /// Moves `slot`'s delivered position to `to` without a push (a frame deliberately
    /// dropped, or frames acknowledged elsewhere).
    pub fn skip(&self, slot: Slot, to: u64) {
        self.streams[slot].delivered.fetch_max(to, SeqCst);
    }

    /// Pushes one frame of `slot` ending at `next`: records the push (ring B at
    /// `ring_position`), runs `push`, and if it pushed (`Ok(true)`), moves `delivered` to
    /// `next`. See the module docs for why this order is crash-safe.
    ///
    /// # Errors
    /// `push`'s.
    pub fn push<E>(
        &self,
        slot: Slot,
        next: u64,
        ring_position: u64,
        push: impl FnOnce() -> Result<bool, E>,
    ) -> Result<bool, E> {
        self.pending.store(0, SeqCst);
        self.pending_slot.store(slot as u64, SeqCst);
        self.pending_next.store(next, SeqCst);
        self.pending_from.store(ring_position, SeqCst);
        self.pending.store(1, SeqCst);
        let pushed = push();
        if let Ok(true) = pushed {
            let s = &self.streams[slot];
            s.delivered.store(next, SeqCst);
            s.used.store(self.clock.fetch_add(1, SeqCst) + 1, SeqCst);
        }
        self.pending.store(0, SeqCst);
        pushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Shared<Progress, ipc_collections::ipc_core::shm::AnonShm> {
        Shared::<Progress>::anonymous(|_| {}).expect("anonymous progress")
    }

    #[test]
    fn a_push_counts_exactly_when_the_ring_moved() {
        let p = fresh();
        let slot = p.add(42, 100);
        assert_eq!(p.find(42), Some(slot));
        assert_eq!(p.delivered(slot), 100);
        // A push that happened: delivered moves.
        assert_eq!(p.push(slot, 140, 0, || Ok::<_, ()>(true)), Ok(true));
        assert_eq!(p.delivered(slot), 140);
        // A killed `in`: the record is written, the push may or may not have happened.
        for (moved, want) in [(false, 140), (true, 180)] {
            p.pending_slot.store(slot as u64, SeqCst);
            p.pending_next.store(180, SeqCst);
            p.pending_from.store(64, SeqCst);
            p.pending.store(1, SeqCst);
            assert_eq!(p.recover(if moved { 96 } else { 64 }), moved);
            assert_eq!(p.delivered(slot), want);
            assert!(!p.recover(96), "recovered twice");
        }
        // A refused push (ring full with --full drop) leaves delivered alone.
        assert_eq!(p.push(slot, 220, 96, || Ok::<_, ()>(false)), Ok(false));
        assert_eq!(p.delivered(slot), 180);
        assert!(!p.recover(200));
    }

    #[test]
    fn streams_beyond_the_table_reuse_the_least_recently_used_slot() {
        let p = fresh();
        let slots: Vec<Slot> = (1..=STREAMS as u64).map(|id| p.add(id, 0)).collect();
        for (i, &s) in slots.iter().enumerate().skip(1) {
            p.push(s, 8 * (i as u64 + 1), 0, || Ok::<_, ()>(true))
                .unwrap();
        }
        // Stream 1 was never pushed: its slot goes to the new stream.
        let s = p.add(99, 8);
        assert_eq!(s, slots[0]);
        assert_eq!(p.find(1), None);
        assert_eq!(p.find(99), Some(s));
        assert_eq!(p.delivered(s), 8);
    }
}
