//! [`SharedMutex<T>`]: a value guarded by a robust, process-shared mutex, usable as a field
//! of a shared struct; a crashed holder poisons it (see [`crate::lock::poison`]).

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use ipc_core::SharedLayout;

use crate::error::Result;
use crate::lock::guarded::raw_and_data_layout;
use crate::lock::poison::{PoisonGuard, PoisonMutex, Wait};

/// A `T` guarded by a robust, process-shared mutex, in the spirit of
/// [`std::sync::Mutex`]; it lives inside shared memory, as (a field of) the value of a
/// [`Shared`](crate::Shared).
///
/// **A crashed holder poisons it**, as a panicking holder poisons a `std` mutex: the lock
/// stays usable, but every [`lock`](Self::lock) in every process returns
/// [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) until a process that has checked the value
/// takes it with [`lock_ignoring_poison`](Self::lock_ignoring_poison) and calls
/// [`SharedMutexGuard::clear_poison`]. The errors are plain [`Error`](crate::Error)s,
/// so `?` works in any function (returning `ipc::Result`, `Box<dyn Error>` or
/// `anyhow::Result`), and no `?` can lose the crash: the poison stays in shared memory.
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
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let stats = Shared::<Stats>::create("/stats", |s| s.latency_hist.get_mut()[0] = 1)?;
///     let mut hist = stats.latency_hist.lock()?;
///     hist[3] += 1;
///     Ok(())
/// }
/// ```
///
/// The way back after a crash:
///
/// ```no_run
/// # use ipc_collections::{ErrorKind, SharedMutex};
/// # fn f(m: &SharedMutex<[u64; 32]>) -> ipc_collections::Result<()> {
/// match m.lock() {
///     Ok(mut hist) => hist[3] += 1,
///     Err(e) if e.kind() == ErrorKind::Poisoned => {
///         let mut hist = m.lock_ignoring_poison()?;
///         hist.fill(0); // check or repair what the dead holder may have left half done
///         hist.clear_poison();
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
///
/// Its layout is a struct `SharedMutex{raw: PoisonMutex, data: T}`, so its schema names
/// `T` and a peer with another `T` is refused at open.
///
/// A thread may hold at most [`MAX_HELD_PER_THREAD`](ipc_core::sync::MAX_HELD_PER_THREAD)
/// (2048) robust locks at once: the kernel frees no more than that of a dead thread, so the
/// next lock is refused with [`LimitReached`](ipc_core::ErrorKind::LimitReached).
#[repr(C)]
pub struct SharedMutex<T> {
    raw: PoisonMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which exists only while this thread
// holds the process-shared mutex, so accesses from different threads (and processes) are
// serialised; T: Send because a value mutated by one thread is later used by another.
unsafe impl<T: SharedLayout + Send> Sync for SharedMutex<T> {}

// SAFETY: 1. repr(C) of two SharedLayout types (UnsafeCell<T> has T's layout);
// 2. valid for every bit pattern once initialised, because PoisonMutex and T are; 3. no
// pointer meaningful to another process, because neither field holds one (see RawMutex's
// impl for the robust-list links glibc keeps in a held mutex); 4. no Drop; 5. LAYOUT
// lists both fields with their offset_of! and their types' layouts, and the struct's own
// size and alignment. Sync is implemented above for T: Send.
unsafe impl<T: SharedLayout + Send> SharedLayout for SharedMutex<T> {
    raw_and_data_layout!("SharedMutex", PoisonMutex);
}

impl<T> fmt::Debug for SharedMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMutex")
            .field("poisoned", &self.raw.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl<T: SharedLayout + Send> SharedMutex<T> {
    fn guard(&self, wait: Wait, ignore_poison: bool) -> Result<SharedMutexGuard<'_, T>> {
        Ok(SharedMutexGuard {
            lock: self,
            inner: self.raw.acquire(wait, ignore_poison)?,
        })
    }

    /// `pthread_mutex_lock`: locks the mutex, waiting as long as another thread or process
    /// holds it.
    ///
    /// # Errors
    /// - [`Poisoned`](crate::ErrorKind::Poisoned) when a holder died (now, or earlier and
    ///   nobody cleared it): the lock is released again; see
    ///   [`lock_ignoring_poison`](Self::lock_ignoring_poison);
    /// - [`LimitReached`](ipc_core::ErrorKind::LimitReached) when this thread holds 2048
    ///   robust locks already;
    /// - [`Os`](ipc_core::ErrorKind::Os)`(EDEADLK)` when this thread already holds it.
    ///
    /// # References
    /// [pthread_mutex_lock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html)
    #[doc(alias = "pthread_mutex_lock")]
    pub fn lock(&self) -> Result<SharedMutexGuard<'_, T>> {
        self.guard(Wait::Block, false)
    }

    /// Locks the mutex if nobody holds it; [`WouldBlock`](ipc_core::ErrorKind::WouldBlock)
    /// otherwise. Other errors as [`lock`](Self::lock).
    ///
    /// # References
    /// [pthread_mutex_trylock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_trylock.3p.html)
    #[doc(alias = "pthread_mutex_trylock")]
    pub fn try_lock(&self) -> Result<SharedMutexGuard<'_, T>> {
        self.guard(Wait::Try, false)
    }

    /// `pthread_mutex_clocklock` (CLOCK_MONOTONIC): locks the mutex, waiting at most
    /// `timeout`; [`Timeout`](ipc_core::ErrorKind::Timeout) if it stays held. Other errors as
    /// [`lock`](Self::lock).
    ///
    /// # References
    /// [pthread_mutex_timedlock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_timedlock.3p.html)
    #[doc(alias = "pthread_mutex_clocklock")]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<SharedMutexGuard<'_, T>> {
        self.guard(Wait::For(timeout), false)
    }

    /// Locks the mutex whether or not it is poisoned: the way to check and repair the value
    /// after a crash. [`SharedMutexGuard::is_poisoned`] tells which;
    /// [`SharedMutexGuard::clear_poison`] ends it for every process.
    ///
    /// # Errors
    /// As [`lock`](Self::lock), without `Poisoned`.
    pub fn lock_ignoring_poison(&self) -> Result<SharedMutexGuard<'_, T>> {
        self.guard(Wait::Block, true)
    }

    /// Whether a holder died and nobody has cleared the poison since (a snapshot).
    pub fn is_poisoned(&self) -> bool {
        self.raw.is_poisoned()
    }

    /// The value, through exclusive access (no locking needed): for the init closure of
    /// [`Shared::create`](crate::Shared::create), which runs before any other process can
    /// see the segment.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Proof that this thread holds a [`SharedMutex`]: dereferences to the value; unlocks on
/// drop. Not `Send`: a pthread mutex must be unlocked by the thread that locked it.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct SharedMutexGuard<'a, T: SharedLayout + Send> {
    lock: &'a SharedMutex<T>,
    inner: PoisonGuard<'a>,
}

impl<'a, T: SharedLayout + Send> SharedMutexGuard<'a, T> {
    /// Whether the value is poisoned: a holder died (only a guard from
    /// [`SharedMutex::lock_ignoring_poison`] can see this).
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Declares the value checked or repaired after a holder died: clears the poison for
    /// every process, so plain [`SharedMutex::lock`] works again.
    pub fn clear_poison(&mut self) {
        self.inner.clear_poison();
    }

    /// The mutex as a condvar wait sees it.
    pub(crate) fn raw_mutex(&self) -> &'a ipc_core::sync::RawMutex {
        self.inner.mutex().raw()
    }

    /// This guard back after a condvar wait re-locked the mutex with outcome `r`.
    pub(crate) fn relocked(self, r: ipc_core::Result<ipc_core::sync::Acquired>) -> Result<Self> {
        let lock = self.lock;
        Ok(SharedMutexGuard {
            lock,
            inner: self.inner.relocked(r)?,
        })
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

impl<T: SharedLayout + Send + fmt::Debug> fmt::Debug for SharedMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMutexGuard")
            .field("data", &**self)
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}
