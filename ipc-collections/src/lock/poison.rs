//! [`PoisonMutex`]: the robust lock under [`SharedMutex`](crate::SharedMutex) and
//! [`SharedArray`](crate::SharedArray): a [`RawMutex`] plus a *poisoned* flag, so that a
//! crash marks the data suspect for every process without ever making the lock unusable.
//!
//! # The protocol
//!
//! When a process dies holding the lock, the kernel frees it and the next locker gets it
//! with [`Acquired::OwnerDied`]. That locker sets the shared poisoned flag and *at once*
//! marks the pthread mutex consistent, so the mutex itself never becomes not-recoverable
//! through this API, whatever the locker does next (returns an error through `?`, drops the
//! guard, or dies too: if it dies before `mark_consistent`, the next locker sees `OwnerDied`
//! again and poisons again). From then on every plain lock in every process fails with
//! [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) (after releasing the lock), until a process
//! that has checked or repaired the data clears the flag through a guard taken with
//! `lock_ignoring_poison` (`clear_poison`). This is `std::sync::Mutex`'s poisoning, with a
//! crashed process in the place of a panicking thread, and the flag stored in shared memory.
//!
//! The flag is written and read only while the mutex is held (the snapshot read of
//! [`PoisonMutex::is_poisoned`] aside), so `Relaxed` suffices: the mutex's acquire and
//! release order it. A peer may store any value there; every value but 0 means poisoned
//! (an array whose flag is neither 0 nor 1 when it is opened is refused as corrupted:
//! [`format::validate_control`](crate::format::validate_control)).

use std::marker::PhantomData;
use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipc_core::layout::{Field, TypeLayout};
use ipc_core::process::Owner;
use ipc_core::sync::{Acquired, RawMutex};
use ipc_core::SharedLayout;

use crate::error::{Error, Result};

/// A robust, process-shared mutex ([`RawMutex`]) with a poisoned flag beside it: the lock of
/// a [`SharedMutex`](crate::SharedMutex) and the control block of a
/// [`SharedArray`](crate::SharedArray) (see the module docs for the protocol).
///
/// Layout (48 bytes on x86_64, the array control block of `FORMAT.md`): the
/// `pthread_mutex_t` at 0, the poisoned flag (`u32`, 0 = clean) after it, 4 reserved bytes.
#[repr(C)]
pub struct PoisonMutex {
    raw: RawMutex,
    /// 0, or (any other value) poisoned: a holder died. Accessed only under `raw`.
    poisoned: AtomicU32,
    /// Zero; reserved.
    reserved: u32,
}

// The array control block of FORMAT.md: the flag at ARRAY_POISONED_OFFSET.
const _: () = assert!(offset_of!(PoisonMutex, poisoned) == crate::format::ARRAY_POISONED_OFFSET);

// SAFETY: 1. repr(C) of SharedLayout types (RawMutex, AtomicU32, u32); 2. valid for every bit
// pattern once initialised, because each field is (any poisoned value is meaningful, the
// reserved word is never read); 3. no pointer meaningful to another process (see RawMutex's
// impl for the robust-list links glibc keeps in a held mutex); 4. no Drop; 5. LAYOUT lists
// the three fields with their offset_of! and layouts, and the struct's own size and
// alignment (repr(C) leaves no padding: 40 + 4 + 4 bytes, 8-aligned).
unsafe impl SharedLayout for PoisonMutex {
    const LAYOUT: TypeLayout = TypeLayout::structure(
        "PoisonMutex",
        size_of::<Self>(),
        align_of::<Self>(),
        &[
            Field {
                name: "raw",
                offset: offset_of!(Self, raw),
                layout: &RawMutex::LAYOUT,
            },
            Field {
                name: "poisoned",
                offset: offset_of!(Self, poisoned),
                layout: &AtomicU32::LAYOUT,
            },
            Field {
                name: "reserved",
                offset: offset_of!(Self, reserved),
                layout: &u32::LAYOUT,
            },
        ],
    );

    unsafe fn init_in_place(this: *mut Self) -> ipc_core::Result<()> {
        // SAFETY: `this` is valid for writes, aligned, zero-filled and exclusively ours
        // (this function's contract), so the same holds for its `raw` field; the zeroed flag
        // and reserved word are already valid (clean).
        unsafe { RawMutex::init_in_place(std::ptr::addr_of_mut!((*this).raw)) }
    }
}

impl std::fmt::Debug for PoisonMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoisonMutex")
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

/// How long an acquire may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Until the lock is free.
    Block,
    /// Not at all: `WouldBlock` if it is held.
    Try,
    /// At most this long: `Timeout` if it stays held.
    For(Duration),
}

impl PoisonMutex {
    /// Whether a holder died and nobody has cleared the flag since (a snapshot, read
    /// without the lock).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed) != 0
    }

    /// Acquires the lock. A dead owner's lock poisons the data and is marked consistent at
    /// once. With `ignore_poison` false a poisoned lock is released again and
    /// [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) returned; with it true the guard is returned and says whether the
    /// data is poisoned.
    pub(crate) fn acquire(&self, wait: Wait, ignore_poison: bool) -> Result<PoisonGuard<'_>> {
        let acquired = match wait {
            Wait::Block => self.raw.lock(),
            Wait::Try => self.raw.try_lock(),
            Wait::For(d) => self.raw.lock_timeout(d),
        }?;
        PoisonGuard {
            lock: self,
            owner: Owner::current(),
            poisoned: false,
            ignore_poison,
            _not_send: PhantomData,
        }
        .settle(acquired)
    }

    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }
}

/// Proof that this thread holds a [`PoisonMutex`]; releases it on drop. Not `Send`: a
/// pthread mutex must be unlocked by the thread that locked it.
pub(crate) struct PoisonGuard<'a> {
    lock: &'a PoisonMutex,
    /// The process that locked: a copy inherited by a forked child does not unlock.
    owner: Owner,
    /// The flag as this holder saw it, or cleared since.
    poisoned: bool,
    /// Taken with `lock_ignoring_poison`: a poisoned lock is no error for this holder.
    ignore_poison: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'a> PoisonGuard<'a> {
    /// After this thread (re)acquired the mutex with `acquired`: poisons and repairs a dead
    /// owner's lock, reads the flag, and refuses a poisoned lock unless poison is ignored.
    fn settle(mut self, acquired: Acquired) -> Result<Self> {
        if acquired == Acquired::OwnerDied {
            // Poison before repairing: if this thread dies in between, the next locker sees
            // OwnerDied again and poisons again.
            self.lock.poisoned.store(1, Ordering::Relaxed);
            // SAFETY: this thread holds the mutex (the guard exists only then), acquired
            // with OwnerDied and not marked consistent since. On error the guard's drop
            // unlocks.
            unsafe { self.lock.raw.mark_consistent() }?;
        }
        self.poisoned = self.lock.poisoned.load(Ordering::Relaxed) != 0;
        if self.poisoned && !self.ignore_poison {
            return Err(Error::poisoned(""));
        }
        Ok(self)
    }

    /// The outcome of re-locking the mutex after a condvar wait, for the guard that held
    /// it before the wait. A failed re-lock leaves the mutex not held: the guard is then
    /// forgotten, not dropped.
    pub(crate) fn relocked(self, r: ipc_core::Result<Acquired>) -> Result<Self> {
        match r {
            Ok(acquired) => self.settle(acquired),
            Err(e) => {
                std::mem::forget(self);
                Err(e)
            }
        }
    }

    /// Whether the data is poisoned (a holder died) as far as this holder knows.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Clears the poisoned flag for every process: the holder has checked or repaired the
    /// data.
    pub(crate) fn clear_poison(&mut self) {
        self.lock.poisoned.store(0, Ordering::Relaxed);
        self.poisoned = false;
    }

    pub(crate) fn mutex(&self) -> &'a PoisonMutex {
        self.lock
    }
}

impl Drop for PoisonGuard<'_> {
    fn drop(&mut self) {
        // A forked child's copy: the mutex is the parent's (ipc_core::process).
        if !self.owner.is_current() {
            return;
        }
        // SAFETY: the guard exists only while this thread (it is not Send) holds the mutex,
        // in the process that locked it (checked just above).
        unsafe { self.lock.raw.unlock() }
    }
}
