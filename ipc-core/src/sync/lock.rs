//! One lock family in the style of `lock_api`: raw lock traits ([`RawLock`],
//! [`RawLockShared`], [`CondvarLock`]) implemented by the in-place primitives, one generic
//! guarded value ([`Lock<R, T>`]) and one set of guards ([`LockGuard`], [`ReadLockGuard`]).
//!
//! Not `lock_api`'s own traits: a process-shared robust lock has no `const INIT` (it is
//! initialised in place, in shared memory, by
//! [`SharedLayout::init_in_place`]), must never move once
//! initialised (so it is only ever used by reference), and its acquire is fallible: the
//! owner died ([`Acquired::OwnerDied`]), the lock is unrecoverable, a timeout passed, a limit
//! was reached.
//!
//! # One poisoning story
//!
//! Every lock reports a dead holder the same way: an acquire returns
//! [`Acquired::OwnerDied`], a guard says so in [`LockGuard::is_poisoned`], and the repair
//! is one call, [`LockGuard::mark_consistent`] (or [`LockGuard::clear_poison`]). What the
//! raw lock does with the hook is its own: a [`RawMutex`] marks the pthread mutex
//! consistent (unlocking without that makes it unrecoverable), ipc-collections'
//! `PoisonMutex` clears its shared poison flag (unlocking without that leaves it poisoned),
//! a [`RawRwLock`](super::RawRwLock) never sees a dead holder (it records none).
//! [`Lock::lock`] refuses a poisoned lock with [`ErrorKind::Poisoned`]
//! (as `std::sync::Mutex::lock` does); [`Lock::lock_ignoring_poison`] hands out the guard.
//!
//! # Names in errors
//!
//! A lock inside shared memory does not know the name of the segment it lives in. Errors of
//! [`Lock`] and its guards (on the error path only: the fast path pays nothing) look the
//! lock's own address up in `/proc/self/maps` ([`mapping_name`]), so a `SharedMutex` in a
//! named segment reports the segment's name. `WouldBlock` is not named: try-lock loops
//! return it at the rate they poll, and it is an expected outcome, not a report.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::time::Duration;

use super::{Acquired, RawMutex};
use crate::layout::{Field, SharedLayout, TypeLayout};
use crate::process::Owner;
use crate::{Error, ErrorKind, Result};

/// An exclusive lock that lives in shared memory and is used by reference from every
/// process that maps it.
///
/// # Safety
/// Implementors guarantee that after a successful [`lock`](Self::lock),
/// [`try_lock`](Self::try_lock) or [`lock_timeout`](Self::lock_timeout), and until the
/// matching [`unlock`](Self::unlock), no other thread of any process holds the lock
/// (exclusively or, for [`RawLockShared`], shared), and that the acquire and the unlock are
/// acquire and release operations for the memory the lock protects.
pub unsafe trait RawLock: Sync {
    /// The type name of a [`Lock<Self, T>`] in its [`TypeLayout`]: part of the layout
    /// fingerprint, so it never changes once published (`"SharedMutex"` for
    /// ipc-collections' poison mutex, `"SharedRwLock"` for [`RawRwLock`](super::RawRwLock)).
    const LOCK_NAME: &'static str;

    /// Acquires the lock, waiting as long as another thread or process holds it.
    /// [`Acquired::OwnerDied`]: held now, but a holder died (see [`mark_consistent`](Self::mark_consistent)).
    ///
    /// # Errors
    /// As the implementor documents (`Unrecoverable`, `LimitReached`, `Os(EDEADLK)`, ...).
    fn lock(&self) -> Result<Acquired>;

    /// Acquires the lock if nobody holds it; [`ErrorKind::WouldBlock`] otherwise.
    ///
    /// # Errors
    /// `WouldBlock`, otherwise as [`lock`](Self::lock).
    fn try_lock(&self) -> Result<Acquired>;

    /// Acquires the lock, waiting at most `d` (CLOCK_MONOTONIC; zero: try once).
    ///
    /// # Errors
    /// [`ErrorKind::Timeout`], otherwise as [`lock`](Self::lock).
    fn lock_timeout(&self, d: Duration) -> Result<Acquired>;

    /// Releases the lock.
    ///
    /// # Safety
    /// The calling thread holds it exclusively (a successful acquire above, not yet
    /// released), in this process.
    unsafe fn unlock(&self);

    /// The owner-died hook: declares the state protected by a lock acquired with
    /// [`Acquired::OwnerDied`] checked or repaired.
    ///
    /// # Errors
    /// As the implementor documents.
    ///
    /// # Safety
    /// The calling thread holds the lock, acquired with [`Acquired::OwnerDied`].
    unsafe fn mark_consistent(&self) -> Result<()>;

    /// Whether a holder died and the state it protected has not been declared repaired
    /// since: true from the moment the holder is dead, before anybody tries to lock (a
    /// snapshot, read without the lock).
    fn is_poisoned(&self) -> bool;
}

/// A [`RawLock`] that can also be held shared (a reader-writer lock).
///
/// # Safety
/// As [`RawLock`]: while any thread holds it shared, no thread holds it exclusively.
pub unsafe trait RawLockShared: RawLock {
    /// Acquires the lock shared, waiting while it is held exclusively.
    ///
    /// # Errors
    /// As the implementor documents.
    fn lock_shared(&self) -> Result<()>;

    /// Acquires the lock shared if nobody holds it exclusively; `WouldBlock` otherwise.
    ///
    /// # Errors
    /// `WouldBlock`, otherwise as [`lock_shared`](Self::lock_shared).
    fn try_lock_shared(&self) -> Result<()>;

    /// Acquires the lock shared, waiting at most `d`.
    ///
    /// # Errors
    /// `Timeout`, otherwise as [`lock_shared`](Self::lock_shared).
    fn lock_shared_timeout(&self, d: Duration) -> Result<()>;

    /// Releases a shared hold.
    ///
    /// # Safety
    /// The calling thread holds it shared, in this process.
    unsafe fn unlock_shared(&self);
}

/// A [`RawLock`] built on a [`RawMutex`], so that a [`RawCondvar`](super::RawCondvar) can
/// wait with its guards ([`RawCondvar::wait_guard`](super::RawCondvar::wait_guard)).
///
/// # Safety
/// [`raw_mutex`](Self::raw_mutex) is the mutex that [`RawLock::lock`] acquires, and holding
/// it is holding this lock.
pub unsafe trait CondvarLock: RawLock {
    /// The mutex a condvar wait releases and re-acquires.
    fn raw_mutex(&self) -> &RawMutex;

    /// Turns the outcome of re-acquiring [`raw_mutex`](Self::raw_mutex) into this lock's
    /// outcome, as [`RawLock::lock`] would (runs the owner-died hook). On `Err` the lock is
    /// not held.
    ///
    /// # Errors
    /// `r`'s error, or the hook's (after which the lock is released).
    ///
    /// # Safety
    /// If `r` is `Ok`, the calling thread holds `raw_mutex()`.
    unsafe fn relocked(&self, r: Result<Acquired>) -> Result<Acquired>;
}

/// The name of the shared memory object mapped at `addr` in this process, from
/// `/proc/self/maps`: `/NAME` for a POSIX shm object (`/dev/shm/NAME`), `memfd:NAME` for a
/// memfd, `None` for anything else (anonymous memory, the heap) or if the file cannot be
/// read. For error paths only: it reads a file.
#[cold]
pub fn mapping_name(addr: *const u8) -> Option<String> {
    let addr = addr as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut parts = line.splitn(6, ' ');
        let range = parts.next()?;
        let (start, end) = range.split_once('-')?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        if !(start..end).contains(&addr) {
            return None;
        }
        let path = parts.nth(4)?.trim_start();
        let path = path.strip_suffix(" (deleted)").unwrap_or(path);
        if let Some(name) = path.strip_prefix("/dev/shm/") {
            Some(format!("/{name}"))
        } else {
            path.strip_prefix("/memfd:").map(|m| format!("memfd:{m}"))
        }
    })
}

/// `e`, naming the segment the lock at `addr` lives in if it names nothing yet (see
/// [`mapping_name`]); `WouldBlock` is left as it is (see the module docs).
#[cold]
#[inline(never)]
pub fn name_lock_error(e: Error, addr: *const u8) -> Error {
    if e.name().is_some() || e.kind() == ErrorKind::WouldBlock {
        return e;
    }
    match mapping_name(addr) {
        Some(name) => e.with_name(name),
        None => e,
    }
}

/// A `T` guarded by a raw lock `R`, living in shared memory: `#[repr(C)] { raw: R, data: T }`
/// (ipc-collections' `SharedMutex<T>` and `SharedRwLock<T>` are this type).
///
/// Its layout is a struct named [`R::LOCK_NAME`](RawLock::LOCK_NAME) with the fields `raw`
/// and `data`, so its schema names `T` and a peer with another `T` is refused at open.
#[repr(C)]
pub struct Lock<R, T> {
    raw: R,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through guards, which exist only while this thread holds
// `raw` (exclusively for `&mut T`, shared for `&T`), so accesses from different threads and
// processes are serialised by R's contract; T: Send because a value changed by one thread is
// later used by another, and T: SharedLayout implies T: Sync for the shared guards.
unsafe impl<R: RawLock, T: SharedLayout + Send> Sync for Lock<R, T> {}

// SAFETY: 1. repr(C) of two SharedLayout types (UnsafeCell<T> has T's layout); 2. valid for
// every bit pattern once initialised, because R and T are; 3. no pointer meaningful to
// another process, because neither field holds one (R's own impl says so for R); 4. no Drop;
// 5. LAYOUT lists both fields with their offset_of! and layouts, and the struct's own size
// and alignment. Sync is implemented above.
unsafe impl<R: RawLock + SharedLayout, T: SharedLayout + Send> SharedLayout for Lock<R, T> {
    const LAYOUT: TypeLayout = TypeLayout::structure(
        R::LOCK_NAME,
        std::mem::size_of::<Self>(),
        std::mem::align_of::<Self>(),
        &[
            Field {
                name: "raw",
                offset: std::mem::offset_of!(Self, raw),
                layout: &<R as SharedLayout>::LAYOUT,
            },
            Field {
                name: "data",
                offset: std::mem::offset_of!(Self, data),
                layout: &<T as SharedLayout>::LAYOUT,
            },
        ],
    );

    unsafe fn init_in_place(this: *mut Self) -> Result<()> {
        // SAFETY: `this` is valid for writes, aligned, zero-filled and exclusively ours
        // (this function's contract), so the same holds for each field, at its offset;
        // `UnsafeCell<T>` has the layout of `T`.
        unsafe {
            R::init_in_place(std::ptr::addr_of_mut!((*this).raw))?;
            T::init_in_place(std::ptr::addr_of_mut!((*this).data).cast::<T>())
        }
    }
}

impl<R: RawLock, T> fmt::Debug for Lock<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = mapping_name(self.addr());
        f.debug_struct(R::LOCK_NAME)
            .field("name", &name)
            .field("poisoned", &self.raw.is_poisoned())
            .finish_non_exhaustive()
    }
}

/// How long an acquire may wait.
#[derive(Clone, Copy)]
enum Wait {
    Block,
    Try,
    For(Duration),
}

impl<R, T> Lock<R, T> {
    /// Where the lock lives (to find its segment's name on an error path).
    fn addr(&self) -> *const u8 {
        (self as *const Self).cast()
    }
}

impl<R: RawLock, T: SharedLayout + Send> Lock<R, T> {
    #[inline]
    fn acquire(&self, wait: Wait, tolerate: bool) -> Result<LockGuard<'_, R, T>> {
        let r = match wait {
            Wait::Block => self.raw.lock(),
            Wait::Try => self.raw.try_lock(),
            Wait::For(d) => self.raw.lock_timeout(d),
        };
        let acquired = r.map_err(|e| name_lock_error(e, self.addr()))?;
        // SAFETY: this thread has just acquired `raw` exclusively; `data` lies beside it
        // in `self`, which the guard borrows, and is a valid T (T: SharedLayout).
        let g = unsafe { LockGuard::new(&self.raw, self.data.get(), acquired, tolerate) };
        LockGuard::refuse_poison(g)
    }

    /// Locks, waiting as long as another thread or process holds the lock.
    ///
    /// # Errors
    /// - [`Poisoned`](ErrorKind::Poisoned) when a holder died (now, or earlier and nobody
    ///   repaired it): the lock is released again; see
    ///   [`lock_ignoring_poison`](Self::lock_ignoring_poison);
    /// - the raw lock's errors (`LimitReached`, `Os(EDEADLK)` when this thread holds it, ...).
    ///
    /// Errors name the segment the lock lives in.
    ///
    /// # References
    /// [pthread_mutex_lock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html)
    #[doc(alias = "pthread_mutex_lock")]
    #[doc(alias = "pthread_rwlock_wrlock")]
    #[inline]
    pub fn lock(&self) -> Result<LockGuard<'_, R, T>> {
        self.acquire(Wait::Block, false)
    }

    /// Locks if nobody holds the lock; [`WouldBlock`](ErrorKind::WouldBlock) otherwise.
    /// Other errors as [`lock`](Self::lock).
    ///
    /// # References
    /// [pthread_mutex_trylock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_trylock.3p.html)
    #[doc(alias = "pthread_mutex_trylock")]
    #[doc(alias = "pthread_rwlock_trywrlock")]
    pub fn try_lock(&self) -> Result<LockGuard<'_, R, T>> {
        self.acquire(Wait::Try, false)
    }

    /// Locks, waiting at most `timeout` (CLOCK_MONOTONIC); [`Timeout`](ErrorKind::Timeout)
    /// if it stays held. Other errors as [`lock`](Self::lock).
    ///
    /// # References
    /// [pthread_mutex_timedlock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_timedlock.3p.html)
    #[doc(alias = "pthread_mutex_clocklock")]
    #[doc(alias = "pthread_rwlock_clockwrlock")]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockGuard<'_, R, T>> {
        self.acquire(Wait::For(timeout), false)
    }

    /// Locks whether or not the lock is poisoned: the way to check and repair the value
    /// after a crash. [`LockGuard::is_poisoned`] tells which;
    /// [`LockGuard::clear_poison`] declares the value repaired.
    ///
    /// # Errors
    /// As [`lock`](Self::lock), without `Poisoned`.
    pub fn lock_ignoring_poison(&self) -> Result<LockGuard<'_, R, T>> {
        self.acquire(Wait::Block, true)
    }

    /// Whether a holder died and nobody has repaired the value since: true as soon as the
    /// holder is dead, before anybody tries to lock (a snapshot; see
    /// [`RawLock::is_poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        self.raw.is_poisoned()
    }

    /// The value, through exclusive access (no locking needed): for the init closure of a
    /// segment's creator, which runs before any other process can see it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The raw lock.
    pub fn raw(&self) -> &R {
        &self.raw
    }
}

impl<R: RawLockShared, T: SharedLayout + Send> Lock<R, T> {
    #[inline]
    fn acquire_shared(&self, r: Result<()>) -> Result<ReadLockGuard<'_, R, T>> {
        r.map_err(|e| name_lock_error(e, self.addr()))?;
        // SAFETY: this thread has just acquired `raw` shared; `data` lies beside it.
        Ok(unsafe { ReadLockGuard::new(&self.raw, self.data.get()) })
    }

    /// Shared access, waiting while a writer holds the lock.
    ///
    /// # Errors
    /// The raw lock's (`LimitReached` for too many readers, `Os(EDEADLK)` when this thread
    /// holds the write lock), naming the segment.
    ///
    /// # References
    /// [pthread_rwlock_rdlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_rdlock.3p.html)
    #[doc(alias = "pthread_rwlock_rdlock")]
    #[inline]
    pub fn read(&self) -> Result<ReadLockGuard<'_, R, T>> {
        self.acquire_shared(self.raw.lock_shared())
    }

    /// Shared access if no writer holds the lock; [`WouldBlock`](ErrorKind::WouldBlock)
    /// otherwise.
    ///
    /// # References
    /// [pthread_rwlock_tryrdlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_tryrdlock.3p.html)
    #[doc(alias = "pthread_rwlock_tryrdlock")]
    pub fn try_read(&self) -> Result<ReadLockGuard<'_, R, T>> {
        self.acquire_shared(self.raw.try_lock_shared())
    }

    /// Shared access, waiting at most `timeout`; [`Timeout`](ErrorKind::Timeout) otherwise.
    ///
    /// # References
    /// [pthread_rwlock_timedrdlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_timedrdlock.3p.html)
    #[doc(alias = "pthread_rwlock_clockrdlock")]
    pub fn read_timeout(&self, timeout: Duration) -> Result<ReadLockGuard<'_, R, T>> {
        self.acquire_shared(self.raw.lock_shared_timeout(timeout))
    }

    /// Exclusive access: [`lock`](Self::lock) under the name a reader-writer lock uses.
    ///
    /// # Errors
    /// As [`lock`](Self::lock).
    #[doc(alias = "pthread_rwlock_wrlock")]
    #[inline]
    pub fn write(&self) -> Result<LockGuard<'_, R, T>> {
        self.lock()
    }

    /// [`try_lock`](Self::try_lock) under the name a reader-writer lock uses.
    ///
    /// # Errors
    /// As [`try_lock`](Self::try_lock).
    #[doc(alias = "pthread_rwlock_trywrlock")]
    pub fn try_write(&self) -> Result<LockGuard<'_, R, T>> {
        self.try_lock()
    }

    /// [`lock_timeout`](Self::lock_timeout) under the name a reader-writer lock uses.
    ///
    /// # Errors
    /// As [`lock_timeout`](Self::lock_timeout).
    #[doc(alias = "pthread_rwlock_clockwrlock")]
    pub fn write_timeout(&self, timeout: Duration) -> Result<LockGuard<'_, R, T>> {
        self.lock_timeout(timeout)
    }
}

/// Exclusive hold of a raw lock `R` and access to the `T` it protects (`()` for a bare
/// lock, `[T]` for an array); releases the lock on drop. Not `Send`: a pthread lock must be
/// released by the thread that took it. A copy inherited by a forked child releases nothing
/// (see [`crate::process`]).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, R: RawLock, T: ?Sized = ()> {
    raw: &'a R,
    data: NonNull<T>,
    acquired: Acquired,
    /// Taken ignoring poison: a poisoned lock is no error for this holder (also after a
    /// condvar wait re-locks it).
    tolerate: bool,
    /// The process that locked: a copy inherited by a forked child does not unlock.
    owner: Owner,
    _marker: PhantomData<(&'a mut T, *const ())>,
}

// SAFETY: `&LockGuard` gives `&T` (hence T: Sync) and reads plain fields; unlocking needs
// the guard by value or `&mut`.
unsafe impl<R: RawLock, T: ?Sized + Sync> Sync for LockGuard<'_, R, T> {}

impl<'a, R: RawLock, T: ?Sized> LockGuard<'a, R, T> {
    /// A guard for a lock this thread holds.
    ///
    /// # Safety
    /// The calling thread holds `raw` exclusively (acquired with outcome `acquired`), in
    /// this process; `data` is valid for reads and writes of a `T` for `'a`, and every
    /// access to it from any thread or process happens under `raw`.
    #[inline]
    pub unsafe fn new(raw: &'a R, data: *mut T, acquired: Acquired, tolerate_poison: bool) -> Self {
        LockGuard {
            raw,
            // SAFETY: `data` is valid for 'a (the caller's contract), hence not null.
            data: unsafe { NonNull::new_unchecked(data) },
            acquired,
            tolerate: tolerate_poison,
            owner: Owner::current(),
            _marker: PhantomData,
        }
    }

    /// `this`, or, if it is poisoned and was made without tolerating poison,
    /// [`ErrorKind::Poisoned`] naming the segment, the lock released again (what
    /// [`Lock::lock`] does with a guard it has just made).
    ///
    /// # Errors
    /// `Poisoned`, as above.
    #[inline]
    pub fn refuse_poison(this: Self) -> Result<Self> {
        if this.acquired == Acquired::OwnerDied && !this.tolerate {
            let addr = (this.raw as *const R).cast();
            drop(this);
            return Err(name_lock_error(Error::poisoned(""), addr));
        }
        Ok(this)
    }

    /// How the lock was acquired; [`Acquired::OwnerDied`] until
    /// [`mark_consistent`](Self::mark_consistent) succeeds.
    pub fn acquired(&self) -> Acquired {
        self.acquired
    }

    /// Whether a holder died and the value is not declared repaired (only a guard taken
    /// ignoring poison, or a bare [`RawMutex`] guard, can see this).
    pub fn is_poisoned(&self) -> bool {
        self.acquired == Acquired::OwnerDied
    }

    /// The repair path after a holder died: declares the value checked or repaired for
    /// every process ([`RawLock::mark_consistent`]: `pthread_mutex_consistent` for a
    /// [`RawMutex`], clearing the poison flag for ipc-collections' locks). Does nothing
    /// after a clean acquire.
    ///
    /// # Errors
    /// The raw lock's (for a [`RawMutex`], `pthread_mutex_consistent`'s).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html>
    #[doc(alias = "pthread_mutex_consistent")]
    pub fn mark_consistent(&mut self) -> Result<()> {
        if self.acquired == Acquired::OwnerDied {
            // SAFETY: this guard holds the lock on this thread (guards are not Send), and
            // it was acquired with OwnerDied and not marked consistent since.
            unsafe { self.raw.mark_consistent() }
                .map_err(|e| name_lock_error(e, (self.raw as *const R).cast()))?;
            self.acquired = Acquired::Clean;
        }
        Ok(())
    }

    /// [`mark_consistent`](Self::mark_consistent) for locks whose repair cannot fail
    /// (ipc-collections' `SharedMutex` and array lock; a [`RawMutex`] held after
    /// `OwnerDied`): should it fail anyway, the guard stays poisoned
    /// ([`is_poisoned`](Self::is_poisoned) tells).
    pub fn clear_poison(&mut self) {
        let _ = self.mark_consistent();
    }

    /// The raw lock this guard holds (an associated function, so it does not hide a
    /// method of `T`).
    pub fn raw(this: &Self) -> &'a R {
        this.raw
    }

    /// Consumes the guard without releasing the lock; the caller must release it later, on
    /// this thread, with [`RawLock::unlock`].
    pub fn leak(this: Self) -> &'a R {
        let raw = this.raw;
        std::mem::forget(this);
        raw
    }

    /// This guard after a condvar wait released the lock and re-acquired it with outcome
    /// `r` (already through [`CondvarLock::relocked`]); on `Err` the lock is not held and
    /// the guard is forgotten, not dropped.
    pub(crate) fn relocked(mut self, r: Result<Acquired>) -> Result<Self> {
        match r {
            Ok(acquired) => {
                self.acquired = acquired;
                LockGuard::refuse_poison(self)
            }
            Err(e) => {
                let addr = (self.raw as *const R).cast();
                std::mem::forget(self);
                Err(name_lock_error(e, addr))
            }
        }
    }
}

impl<'a> LockGuard<'a, RawMutex> {
    /// The mutex this guard holds.
    pub fn mutex(&self) -> &'a RawMutex {
        self.raw
    }
}

impl<'a> LockGuard<'a, super::RawRwLock> {
    /// The lock this guard holds.
    pub fn rwlock(&self) -> &'a super::RawRwLock {
        self.raw
    }
}

impl<R: RawLock, T: ?Sized> Deref for LockGuard<'_, R, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock exclusively, so no
        // other thread or process accesses the data; `data` is valid for 'a (`new`'s
        // contract), which the guard's borrow does not outlive.
        unsafe { self.data.as_ref() }
    }
}

impl<R: RawLock, T: ?Sized> DerefMut for LockGuard<'_, R, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the guard is borrowed mutably, so this is the only
        // reference derived from it.
        unsafe { self.data.as_mut() }
    }
}

impl<R: RawLock, T: ?Sized> Drop for LockGuard<'_, R, T> {
    #[inline]
    fn drop(&mut self) {
        // A forked child's copy: the lock is the parent's (crate::process).
        if !self.owner.is_current() {
            return;
        }
        // SAFETY: the guard holds the lock exclusively, on this thread (it is not Send), in
        // the process that locked it (checked just above).
        unsafe { self.raw.unlock() };
    }
}

impl<R: RawLock, T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("data", &&**self)
            .field("acquired", &self.acquired)
            .finish()
    }
}

/// Shared hold of a raw lock `R` and shared access to the `T` it protects; released on
/// drop. Not `Send`; a copy inherited by a forked child releases nothing.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ReadLockGuard<'a, R: RawLockShared, T: ?Sized = ()> {
    raw: &'a R,
    data: NonNull<T>,
    /// The process that locked: a copy inherited by a forked child does not unlock.
    owner: Owner,
    _marker: PhantomData<(&'a T, *const ())>,
}

// SAFETY: `&ReadLockGuard` gives only `&T` (hence T: Sync).
unsafe impl<R: RawLockShared, T: ?Sized + Sync> Sync for ReadLockGuard<'_, R, T> {}

impl<'a, R: RawLockShared, T: ?Sized> ReadLockGuard<'a, R, T> {
    /// A guard for a lock this thread holds shared.
    ///
    /// # Safety
    /// The calling thread holds `raw` shared, in this process; `data` is valid for reads of
    /// a `T` for `'a`, and written only under `raw` held exclusively.
    #[inline]
    pub unsafe fn new(raw: &'a R, data: *mut T) -> Self {
        ReadLockGuard {
            raw,
            // SAFETY: `data` is valid for 'a (the caller's contract), hence not null.
            data: unsafe { NonNull::new_unchecked(data) },
            owner: Owner::current(),
            _marker: PhantomData,
        }
    }

    /// The raw lock this guard holds.
    pub fn raw(this: &Self) -> &'a R {
        this.raw
    }
}

impl<'a> ReadLockGuard<'a, super::RawRwLock> {
    /// The lock this guard holds.
    pub fn rwlock(&self) -> &'a super::RawRwLock {
        self.raw
    }
}

impl<R: RawLockShared, T: ?Sized> Deref for ReadLockGuard<'_, R, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a shared hold is kept while the guard lives, so no writer in any process
        // has access; `data` is valid for 'a (`new`'s contract).
        unsafe { self.data.as_ref() }
    }
}

impl<R: RawLockShared, T: ?Sized> Drop for ReadLockGuard<'_, R, T> {
    #[inline]
    fn drop(&mut self) {
        // A forked child's copy: the lock is the parent's (crate::process).
        if !self.owner.is_current() {
            return;
        }
        // SAFETY: this thread holds the lock shared (the guard is not Send), in the process
        // that locked it (checked just above).
        unsafe { self.raw.unlock_shared() };
    }
}

impl<R: RawLockShared, T: ?Sized + fmt::Debug> fmt::Debug for ReadLockGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadLockGuard")
            .field("data", &&**self)
            .finish()
    }
}
