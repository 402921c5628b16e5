//! [`SharedMutex<T>`]: a value guarded by a robust, process-shared mutex, usable as a field
//! of a shared struct; [`LockError`] carries the guard when the previous owner died.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{align_of, offset_of, size_of};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use ipc_core::layout::{Field, TypeLayout};
use ipc_core::sync::{Acquired, RawMutex};
use ipc_core::SharedLayout;

/// A `T` guarded by a robust, process-shared mutex ([`RawMutex`]), in the spirit of
/// [`std::sync::Mutex`]; it lives inside shared memory, as (a field of) the value of a
/// [`Shared`](crate::Shared).
///
/// [`lock`](Self::lock) returns the guard, or [`LockError::OwnerDied`] carrying the guard
/// when the previous holder died holding the lock (a crashed process): repair the value and
/// call [`SharedMutexGuard::mark_consistent`], or drop the guard, which leaves the mutex
/// unrecoverable (every later lock fails at once with
/// [`ErrorKind::Unrecoverable`](ipc_core::ErrorKind::Unrecoverable), never hangs).
///
/// ```no_run
/// use std::sync::atomic::AtomicU64;
/// use ipc_collections::{Shared, SharedLayout, SharedMutex};
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// struct Stats {
///     requests: AtomicU64,
///     latency_hist: SharedMutex<[u64; 32]>,
/// }
///
/// let stats = Shared::<Stats>::create("/stats", |s| s.latency_hist.get_mut()[0] = 1)?;
/// let mut hist = stats.latency_hist.lock()?;
/// hist[3] += 1;
/// # Ok::<(), ipc_collections::Error>(())
/// ```
///
/// Its layout is a struct `SharedMutex{raw: RawMutex, data: T}`, so its schema names `T`
/// and a peer with another `T` is refused at open.
#[repr(C)]
pub struct SharedMutex<T> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which exists only while this thread
// holds the process-shared mutex, so accesses from different threads (and processes) are
// serialised; T: Send because a value mutated by one thread is later used by another.
unsafe impl<T: SharedLayout + Send> Sync for SharedMutex<T> {}

// SAFETY: 1. repr(C) of two SharedLayout types (UnsafeCell<T> has T's layout);
// 2. valid for every bit pattern once initialised, because RawMutex and T are; 3. no
// pointer meaningful to another process, because neither field holds one (see RawMutex's
// impl for the robust-list links glibc keeps in a held mutex); 4. no Drop; 5. LAYOUT
// lists both fields with their offset_of! and their types' layouts, and the struct's own
// size and alignment. Sync is implemented above for T: Send.
unsafe impl<T: SharedLayout + Send> SharedLayout for SharedMutex<T> {
    const LAYOUT: TypeLayout = TypeLayout::structure(
        "SharedMutex",
        size_of::<Self>(),
        align_of::<Self>(),
        &[
            Field {
                name: "raw",
                offset: offset_of!(Self, raw),
                layout: &RawMutex::LAYOUT,
            },
            Field {
                name: "data",
                offset: offset_of!(Self, data),
                layout: &T::LAYOUT,
            },
        ],
    );

    unsafe fn init_in_place(this: *mut Self) -> ipc_core::Result<()> {
        // SAFETY: `this` is valid for writes, aligned, zero-filled and exclusively ours
        // (this function's contract), so the same holds for each field, at its offset.
        unsafe {
            RawMutex::init_in_place(std::ptr::addr_of_mut!((*this).raw))?;
            T::init_in_place(std::ptr::addr_of_mut!((*this).data).cast::<T>())
        }
    }
}

impl<T> fmt::Debug for SharedMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMutex").finish_non_exhaustive()
    }
}

/// The outcome of a lock whose previous owner died, or a lock that failed.
pub enum LockError<G> {
    /// The previous owner died holding the lock. The guard is held now: repair the value,
    /// then call `mark_consistent` on it; dropping it unrepaired makes the lock
    /// unrecoverable.
    OwnerDied(G),
    /// The lock could not be taken: [`Unrecoverable`](ipc_core::ErrorKind::Unrecoverable)
    /// (an earlier owner died and nobody repaired it),
    /// [`Timeout`](ipc_core::ErrorKind::Timeout), [`WouldBlock`](ipc_core::ErrorKind::WouldBlock)
    /// (a try-lock), or another OS error.
    Failed(ipc_core::Error),
}

/// The result of a lock: the guard, or a [`LockError`].
pub type LockResult<G> = Result<G, LockError<G>>;

impl<G> LockError<G> {
    /// The guard of an [`OwnerDied`](LockError::OwnerDied) outcome.
    pub fn into_guard(self) -> Option<G> {
        match self {
            LockError::OwnerDied(g) => Some(g),
            LockError::Failed(_) => None,
        }
    }

    /// The error of a [`Failed`](LockError::Failed) outcome.
    pub fn error(&self) -> Option<&ipc_core::Error> {
        match self {
            LockError::OwnerDied(_) => None,
            LockError::Failed(e) => Some(e),
        }
    }

    /// The same outcome with the guard mapped (e.g. from a condvar's (guard, timeout) pair).
    pub fn map<H>(self, f: impl FnOnce(G) -> H) -> LockError<H> {
        match self {
            LockError::OwnerDied(g) => LockError::OwnerDied(f(g)),
            LockError::Failed(e) => LockError::Failed(e),
        }
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("the lock's previous owner died holding it"),
            LockError::Failed(e) => e.fmt(f),
        }
    }
}

impl<G> std::error::Error for LockError<G> {}

impl<G> From<LockError<G>> for crate::Error {
    /// Converts to [`Error::OwnerDied`](crate::Error::OwnerDied) or
    /// [`Error::Core`](crate::Error::Core). An owner-died guard is dropped unrepaired, which
    /// makes the lock unrecoverable.
    fn from(e: LockError<G>) -> Self {
        match e {
            LockError::OwnerDied(_) => crate::Error::OwnerDied,
            LockError::Failed(e) => crate::Error::Core(e),
        }
    }
}

/// Turns the outcome of a raw lock call into a guard or a [`LockError`].
pub(crate) fn outcome<G>(
    r: ipc_core::Result<Acquired>,
    make: impl FnOnce(bool) -> G,
) -> LockResult<G> {
    match r {
        Ok(Acquired::Clean) => Ok(make(false)),
        Ok(Acquired::OwnerDied) => Err(LockError::OwnerDied(make(true))),
        Err(e) => Err(LockError::Failed(e)),
    }
}

impl<T: SharedLayout + Send> SharedMutex<T> {
    /// `pthread_mutex_lock`: locks the mutex, waiting as long as another thread or process
    /// holds it.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] with the guard when the previous owner died holding it;
    /// [`LockError::Failed`] with [`Unrecoverable`](ipc_core::ErrorKind::Unrecoverable)
    /// at once when an earlier owner died and nobody repaired it, or `EDEADLK` when this
    /// thread already holds it.
    ///
    /// # References
    /// [pthread_mutex_lock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html)
    #[doc(alias = "pthread_mutex_lock")]
    pub fn lock(&self) -> LockResult<SharedMutexGuard<'_, T>> {
        outcome(self.raw.lock(), |died| SharedMutexGuard::new(self, died))
    }

    /// `pthread_mutex_trylock`: locks the mutex if nobody holds it;
    /// [`WouldBlock`](ipc_core::ErrorKind::WouldBlock) otherwise.
    ///
    /// # References
    /// [pthread_mutex_trylock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_trylock.3p.html)
    #[doc(alias = "pthread_mutex_trylock")]
    pub fn try_lock(&self) -> LockResult<SharedMutexGuard<'_, T>> {
        outcome(self.raw.try_lock(), |died| {
            SharedMutexGuard::new(self, died)
        })
    }

    /// `pthread_mutex_clocklock` (CLOCK_MONOTONIC): locks the mutex, waiting at most
    /// `timeout`; [`Timeout`](ipc_core::ErrorKind::Timeout) if it stays held.
    ///
    /// # References
    /// [pthread_mutex_timedlock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_timedlock.3p.html)
    #[doc(alias = "pthread_mutex_clocklock")]
    pub fn lock_timeout(&self, timeout: Duration) -> LockResult<SharedMutexGuard<'_, T>> {
        outcome(self.raw.lock_timeout(timeout), |died| {
            SharedMutexGuard::new(self, died)
        })
    }

    /// The value, through exclusive access (no locking needed): for the init closure of
    /// [`Shared::create`](crate::Shared::create), which runs before any other process can
    /// see the segment.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }
}

/// Proof that this thread holds a [`SharedMutex`]: dereferences to the value; unlocks on
/// drop. Not `Send`: a pthread mutex must be unlocked by the thread that locked it.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct SharedMutexGuard<'a, T: SharedLayout + Send> {
    lock: &'a SharedMutex<T>,
    /// Acquired from a dead owner and not yet marked consistent.
    inconsistent: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: SharedLayout + Send> SharedMutexGuard<'a, T> {
    fn new(lock: &'a SharedMutex<T>, inconsistent: bool) -> Self {
        SharedMutexGuard {
            lock,
            inconsistent,
            _not_send: PhantomData,
        }
    }

    /// Whether the lock was taken over from an owner that died and has not been marked
    /// consistent yet.
    pub fn is_inconsistent(&self) -> bool {
        self.inconsistent
    }

    /// `pthread_mutex_consistent`: declares the value repaired after
    /// [`LockError::OwnerDied`], so that unlocking leaves the mutex usable. Does nothing
    /// for a guard that was acquired cleanly.
    ///
    /// # References
    /// [pthread_mutex_consistent(3)](https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html)
    #[doc(alias = "pthread_mutex_consistent")]
    pub fn mark_consistent(&mut self) -> ipc_core::Result<()> {
        if self.inconsistent {
            // SAFETY: this guard proves the thread holds the mutex, and `inconsistent` says
            // it was acquired with OwnerDied and not marked since.
            unsafe { self.lock.raw.mark_consistent()? };
            self.inconsistent = false;
        }
        Ok(())
    }

    pub(crate) fn mutex(&self) -> &'a SharedMutex<T> {
        self.lock
    }

    pub(crate) fn set_inconsistent(&mut self, yes: bool) {
        self.inconsistent = yes;
    }
}

impl<T: SharedLayout + Send> Deref for SharedMutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the mutex, so no other
        // thread or process accesses the data; it lies inside the SharedMutex, which the
        // guard borrows; it was initialised with the mutex and is valid for every bit
        // pattern (T: SharedLayout).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: SharedLayout + Send> DerefMut for SharedMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; the guard is borrowed mutably, so this is the only
        // reference derived from it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: SharedLayout + Send> Drop for SharedMutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard proves this thread holds the mutex (it is not Send, so this is
        // the locking thread). If it is still inconsistent, this unlock makes the mutex
        // unrecoverable, as documented.
        unsafe { self.lock.raw.unlock() }
    }
}

impl<T: SharedLayout + Send + fmt::Debug> fmt::Debug for SharedMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMutexGuard")
            .field("data", &**self)
            .field("inconsistent", &self.inconsistent)
            .finish()
    }
}
