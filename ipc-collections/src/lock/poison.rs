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
//! [`RawLock::is_poisoned`](ipc_core::sync::RawLock::is_poisoned) aside), so `Relaxed`
//! suffices: the mutex's acquire and release order it. A peer may store any value there;
//! every value but 0 means poisoned (an array whose flag is neither 0 nor 1 when it is
//! opened is refused as corrupted:
//! [`format::validate_control`](crate::format::validate_control)).

use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipc_core::layout::{Field, TypeLayout};
use ipc_core::sync::{Acquired, CondvarLock, RawLock, RawMutex};
use ipc_core::SharedLayout;

use crate::error::Result;

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
            .field("poisoned", &RawLock::is_poisoned(self))
            .finish_non_exhaustive()
    }
}

impl PoisonMutex {
    /// After this thread (re)acquired the mutex with `acquired`: poisons and repairs a dead
    /// owner's lock, and reports the flag as the outcome ([`Acquired::OwnerDied`]: poisoned,
    /// now or earlier). On `Err` the mutex is released again.
    fn settle(&self, acquired: Acquired) -> Result<Acquired> {
        if acquired == Acquired::OwnerDied {
            // Poison before repairing: if this thread dies in between, the next locker sees
            // OwnerDied again and poisons again.
            self.poisoned.store(1, Ordering::Relaxed);
            // SAFETY: this thread holds the mutex, acquired with OwnerDied and not marked
            // consistent since.
            if let Err(e) = unsafe { self.raw.mark_consistent() } {
                // SAFETY: this thread holds the mutex (just above).
                unsafe { self.raw.unlock() };
                return Err(e);
            }
        }
        Ok(if self.poisoned.load(Ordering::Relaxed) != 0 {
            Acquired::OwnerDied
        } else {
            Acquired::Clean
        })
    }
}

// SAFETY: the lock is the RawMutex's, which gives exclusive hold across processes with
// acquire/release ordering; the flag is only an outcome on top.
unsafe impl RawLock for PoisonMutex {
    const LOCK_NAME: &'static str = "SharedMutex";

    #[inline]
    fn lock(&self) -> ipc_core::Result<Acquired> {
        self.settle(self.raw.lock()?)
    }

    fn try_lock(&self) -> ipc_core::Result<Acquired> {
        self.settle(self.raw.try_lock()?)
    }

    fn lock_timeout(&self, d: Duration) -> ipc_core::Result<Acquired> {
        self.settle(self.raw.lock_timeout(d)?)
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: forwarded from the trait's contract.
        unsafe { self.raw.unlock() }
    }

    /// Clears the poisoned flag for every process: the holder has checked or repaired the
    /// data. Never fails.
    unsafe fn mark_consistent(&self) -> ipc_core::Result<()> {
        self.poisoned.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the flag is set, or a holder is dead and the next locker will set it
    /// ([`RawMutex::is_poisoned`]): true as soon as the holder is dead.
    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed) != 0 || self.raw.is_poisoned()
    }
}

// SAFETY: `raw_mutex` is the mutex `lock` acquires; holding it is holding this lock.
unsafe impl CondvarLock for PoisonMutex {
    fn raw_mutex(&self) -> &RawMutex {
        &self.raw
    }

    unsafe fn relocked(&self, r: ipc_core::Result<Acquired>) -> ipc_core::Result<Acquired> {
        self.settle(r?)
    }
}
