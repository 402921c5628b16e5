//! [`RawRwLock`]: a process-shared `pthread_rwlock_t`, and its RAII guards.

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::ptr::NonNull;
use std::time::Duration;

use crate::Errno;

use super::lock::{LockGuard, RawLock, RawLockShared, ReadLockGuard};
use super::Acquired;
use crate::layout::{SharedLayout, TypeLayout};
use crate::sys;
use crate::{Error, ErrorKind, Result};

/// A reader-writer lock that lives in shared memory and works across processes: a
/// `pthread_rwlock_t` initialised with `PTHREAD_PROCESS_SHARED` (glibc's default,
/// reader-preferring kind).
///
/// **Not robust.** pthread rwlocks record no owner for readers, so a holder that dies is
/// never noticed: after a writer dies holding it, [`read`](Self::read) and
/// [`write`](Self::write) block for ever in every process, [`read_timeout`](Self::read_timeout)
/// and [`write_timeout`](Self::write_timeout) return [`ErrorKind::Timeout`], and the try forms
/// return [`ErrorKind::WouldBlock`]; after a reader dies holding it, readers go on but
/// writers never get it (timed forms: `Timeout`). The lock cannot be repaired; abandon the
/// segment. Where holders may crash, prefer the timed forms, or a [`RawMutex`](super::RawMutex).
///
/// Re-entrance: taking the write lock again, or the write lock while holding a read lock, on
/// the same thread returns an error (`EDEADLK`) or deadlocks, as glibc decides; do not.
///
/// # References
/// - <https://man7.org/linux/man-pages/man3/pthread_rwlock_rdlock.3p.html>
/// - <https://man7.org/linux/man-pages/man3/pthread_rwlockattr_setpshared.3p.html>
#[repr(transparent)]
#[doc(alias = "pthread_rwlock_t")]
pub struct RawRwLock {
    inner: UnsafeCell<libc::pthread_rwlock_t>,
}

// SAFETY: every operation goes through the pthread calls, which synchronise concurrent use
// from any thread and process.
unsafe impl Sync for RawRwLock {}

impl std::fmt::Debug for RawRwLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRwLock").finish_non_exhaustive()
    }
}

// SAFETY: 1. repr(transparent) over `pthread_rwlock_t`, a repr(C) byte array in `libc`;
// 2. valid for every bit pattern as Rust data; 3. a process-shared rwlock holds counters, a
// writer TID and flags, no pointer; 4. no Drop (destroy is a no-op for it on Linux);
// 5. LAYOUT names its exact size and alignment.
unsafe impl SharedLayout for RawRwLock {
    const LAYOUT: TypeLayout = TypeLayout::opaque(
        "RawRwLock",
        std::mem::size_of::<Self>(),
        std::mem::align_of::<Self>(),
    );

    /// `pthread_rwlock_init` with `PTHREAD_PROCESS_SHARED`.
    ///
    /// # Safety
    /// As [`SharedLayout::init_in_place`].
    unsafe fn init_in_place(this: *mut Self) -> Result<()> {
        let mut a = std::mem::MaybeUninit::<libc::pthread_rwlockattr_t>::uninit();
        // SAFETY: `a` is valid for writes of a `pthread_rwlockattr_t`.
        check("pthread_rwlockattr_init", unsafe {
            libc::pthread_rwlockattr_init(a.as_mut_ptr())
        })?;
        // SAFETY: `a` was initialised above.
        let mut res = check("pthread_rwlockattr_setpshared", unsafe {
            libc::pthread_rwlockattr_setpshared(a.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED)
        });
        if res.is_ok() {
            // SAFETY: `this` is valid for writes, aligned and unused by others (the caller's
            // contract); `UnsafeCell<T>` has the layout of `T`; `a` is initialised.
            res = check("pthread_rwlock_init", unsafe {
                libc::pthread_rwlock_init(this.cast::<libc::pthread_rwlock_t>(), a.as_ptr())
            });
        }
        // SAFETY: `a` was initialised above and is not used after this.
        unsafe { libc::pthread_rwlockattr_destroy(a.as_mut_ptr()) };
        res
    }
}

fn check(op: &'static str, r: c_int) -> Result<()> {
    match r {
        0 => Ok(()),
        libc::EAGAIN => Err(Error::with_text(
            op,
            ErrorKind::LimitReached,
            "readers of one rwlock",
        )),
        e => Err(Error::os(op, Errno::from_raw(e))),
    }
}

/// Which side of the lock a call takes.
#[derive(Clone, Copy)]
enum Side {
    Read,
    Write,
}

impl RawRwLock {
    #[inline]
    fn raw(&self) -> *mut libc::pthread_rwlock_t {
        self.inner.get()
    }

    #[inline]
    fn try_raw(&self, side: Side) -> c_int {
        // SAFETY: `self` is an initialised rwlock (reachable by reference only after
        // in-place initialisation) that does not move while borrowed.
        unsafe {
            match side {
                Side::Read => libc::pthread_rwlock_tryrdlock(self.raw()),
                Side::Write => libc::pthread_rwlock_trywrlock(self.raw()),
            }
        }
    }

    fn spin_try(&self, side: Side) -> c_int {
        let mut r = self.try_raw(side);
        let mut i = 0;
        while r == libc::EBUSY && i < sys::SPIN_TRIES {
            sys::backoff(i);
            r = self.try_raw(side);
            i += 1;
        }
        r
    }

    fn acquire(&self, side: Side, op: &'static str) -> Result<()> {
        let r = self.spin_try(side);
        if r != libc::EBUSY {
            return check(op, r);
        }
        // SAFETY: `self` is an initialised rwlock that does not move while borrowed.
        check(op, unsafe {
            match side {
                Side::Read => libc::pthread_rwlock_rdlock(self.raw()),
                Side::Write => libc::pthread_rwlock_wrlock(self.raw()),
            }
        })
    }

    fn try_acquire(&self, side: Side, op: &'static str) -> Result<()> {
        match self.try_raw(side) {
            libc::EBUSY => Err(Error::new(op, ErrorKind::WouldBlock)),
            r => check(op, r),
        }
    }

    fn acquire_timeout(&self, side: Side, d: Duration, op: &'static str) -> Result<()> {
        let r = if d.is_zero() {
            self.try_raw(side)
        } else {
            self.spin_try(side)
        };
        if r != libc::EBUSY {
            return check(op, r);
        }
        if d.is_zero() {
            return Err(Error::new(op, ErrorKind::Timeout));
        }
        let f = match side {
            Side::Read => sys::rwlock_clockrdlock(),
            Side::Write => sys::rwlock_clockwrlock(),
        };
        let r = match f {
            Some(clocklock) => {
                let abs = sys::monotonic_after(d);
                // SAFETY: `clocklock` is glibc's pthread_rwlock_clock{rd,wr}lock; `self` is an
                // initialised rwlock that does not move while borrowed; `abs` is a valid
                // timespec alive for the call.
                unsafe { clocklock(self.raw(), libc::CLOCK_MONOTONIC, &abs) }
            }
            None => sys::poll_until(d, libc::EBUSY, || self.try_raw(side)),
        };
        check(op, r)
    }

    /// `pthread_rwlock_rdlock`: takes a read lock, sleeping while a writer holds the lock
    /// (after a brief spin). Blocks for ever if a writer died holding it.
    ///
    /// # Errors
    /// [`LimitReached`](ErrorKind::LimitReached) when the maximum number of readers hold it
    /// (`EAGAIN`), `Os(EDEADLK)` when this thread holds the write lock, other OS errors.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_rwlock_rdlock.3p.html>
    #[doc(alias = "pthread_rwlock_rdlock")]
    pub fn read(&self) -> Result<()> {
        self.acquire(Side::Read, "pthread_rwlock_rdlock")
    }

    /// `pthread_rwlock_tryrdlock`: takes a read lock if no writer holds it, without waiting.
    ///
    /// # Errors
    /// [`WouldBlock`](ErrorKind::WouldBlock) when a writer holds it, otherwise as
    /// [`read`](Self::read).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_rwlock_tryrdlock.3p.html>
    #[doc(alias = "pthread_rwlock_tryrdlock")]
    pub fn try_read(&self) -> Result<()> {
        self.try_acquire(Side::Read, "pthread_rwlock_tryrdlock")
    }

    /// `pthread_rwlock_clockrdlock` on CLOCK_MONOTONIC: takes a read lock, waiting at most
    /// `d` (zero: try once; too large for a `timespec`: for ever).
    ///
    /// # Errors
    /// [`Timeout`](ErrorKind::Timeout) when `d` passed (for instance because a writer died
    /// holding the lock), otherwise as [`read`](Self::read).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_rwlock_timedrdlock.3p.html> (glibc's
    ///   `pthread_rwlock_clockrdlock` takes the clock as an extra argument)
    #[doc(alias = "pthread_rwlock_clockrdlock")]
    #[doc(alias = "pthread_rwlock_timedrdlock")]
    pub fn read_timeout(&self, d: Duration) -> Result<()> {
        self.acquire_timeout(Side::Read, d, "pthread_rwlock_clockrdlock")
    }

    /// `pthread_rwlock_wrlock`: takes the write lock, sleeping while anyone holds the lock
    /// (after a brief spin). Blocks for ever if a holder died holding it.
    ///
    /// # Errors
    /// `Os(EDEADLK)` when this thread already holds the write lock, other OS errors.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_rwlock_wrlock.3p.html>
    #[doc(alias = "pthread_rwlock_wrlock")]
    pub fn write(&self) -> Result<()> {
        self.acquire(Side::Write, "pthread_rwlock_wrlock")
    }

    /// `pthread_rwlock_trywrlock`: takes the write lock if nobody holds the lock, without
    /// waiting.
    ///
    /// # Errors
    /// [`WouldBlock`](ErrorKind::WouldBlock) when it is held, otherwise as
    /// [`write`](Self::write).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_rwlock_trywrlock.3p.html>
    #[doc(alias = "pthread_rwlock_trywrlock")]
    pub fn try_write(&self) -> Result<()> {
        self.try_acquire(Side::Write, "pthread_rwlock_trywrlock")
    }

    /// `pthread_rwlock_clockwrlock` on CLOCK_MONOTONIC: takes the write lock, waiting at most
    /// `d` (zero: try once; too large for a `timespec`: for ever).
    ///
    /// # Errors
    /// [`Timeout`](ErrorKind::Timeout) when `d` passed (for instance because a holder died),
    /// otherwise as [`write`](Self::write).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_rwlock_timedwrlock.3p.html> (glibc's
    ///   `pthread_rwlock_clockwrlock` takes the clock as an extra argument)
    #[doc(alias = "pthread_rwlock_clockwrlock")]
    #[doc(alias = "pthread_rwlock_timedwrlock")]
    pub fn write_timeout(&self, d: Duration) -> Result<()> {
        self.acquire_timeout(Side::Write, d, "pthread_rwlock_clockwrlock")
    }

    /// `pthread_rwlock_unlock`: releases the read or write lock this thread holds.
    ///
    /// # Safety
    /// The calling thread holds a read or the write lock taken by a successful call above
    /// and not yet released.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_rwlock_unlock.3p.html>
    #[doc(alias = "pthread_rwlock_unlock")]
    pub unsafe fn unlock(&self) {
        // SAFETY: `self` is an initialised rwlock that this thread holds (caller's contract).
        let _ = unsafe { libc::pthread_rwlock_unlock(self.raw()) };
    }

    /// [`read`](Self::read) returning an RAII guard.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_guard(&self) -> Result<ReadGuard<'_>> {
        self.read()?;
        Ok(self.read_guard_of())
    }

    /// [`read_timeout`](Self::read_timeout) returning an RAII guard.
    ///
    /// # Errors
    /// As [`read_timeout`](Self::read_timeout).
    pub fn read_guard_timeout(&self, d: Duration) -> Result<ReadGuard<'_>> {
        self.read_timeout(d)?;
        Ok(self.read_guard_of())
    }

    /// [`write`](Self::write) returning an RAII guard.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn write_guard(&self) -> Result<WriteGuard<'_>> {
        self.write()?;
        Ok(self.write_guard_of())
    }

    /// [`write_timeout`](Self::write_timeout) returning an RAII guard.
    ///
    /// # Errors
    /// As [`write_timeout`](Self::write_timeout).
    pub fn write_guard_timeout(&self, d: Duration) -> Result<WriteGuard<'_>> {
        self.write_timeout(d)?;
        Ok(self.write_guard_of())
    }
}

impl RawRwLock {
    /// A guard for the read lock this thread has just taken.
    fn read_guard_of(&self) -> ReadGuard<'_> {
        // SAFETY: the caller has just taken a read lock on this thread; the guard protects
        // nothing (a dangling, aligned pointer to `()`, valid for zero-sized reads).
        unsafe { ReadLockGuard::new(self, NonNull::<()>::dangling().as_ptr()) }
    }

    /// A guard for the write lock this thread has just taken.
    fn write_guard_of(&self) -> WriteGuard<'_> {
        // SAFETY: as above, for the write lock; a rwlock never reports a dead owner.
        unsafe {
            LockGuard::new(
                self,
                NonNull::<()>::dangling().as_ptr(),
                Acquired::Clean,
                false,
            )
        }
    }
}

// SAFETY: a pthread rwlock's write lock excludes every other holder, read or write, in every
// process that maps it; lock and unlock are acquire and release operations.
unsafe impl RawLock for RawRwLock {
    const LOCK_NAME: &'static str = "SharedRwLock";

    #[inline]
    fn lock(&self) -> Result<Acquired> {
        self.write().map(|()| Acquired::Clean)
    }

    fn try_lock(&self) -> Result<Acquired> {
        self.try_write().map(|()| Acquired::Clean)
    }

    fn lock_timeout(&self, d: Duration) -> Result<Acquired> {
        self.write_timeout(d).map(|()| Acquired::Clean)
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: forwarded from the trait's contract.
        unsafe { RawRwLock::unlock(self) }
    }

    /// Never called: a rwlock never returns [`Acquired::OwnerDied`].
    unsafe fn mark_consistent(&self) -> Result<()> {
        Ok(())
    }

    /// Always false: a pthread rwlock records no owner for its readers, so a dead holder is
    /// never noticed (see the type's docs).
    fn is_poisoned(&self) -> bool {
        false
    }
}

// SAFETY: read locks exclude the write lock, in every process.
unsafe impl RawLockShared for RawRwLock {
    #[inline]
    fn lock_shared(&self) -> Result<()> {
        self.read()
    }

    fn try_lock_shared(&self) -> Result<()> {
        self.try_read()
    }

    fn lock_shared_timeout(&self, d: Duration) -> Result<()> {
        self.read_timeout(d)
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        // SAFETY: forwarded from the trait's contract.
        unsafe { RawRwLock::unlock(self) }
    }
}

/// Holds a read lock of a [`RawRwLock`] (the generic [`ReadLockGuard`] over nothing);
/// released on drop. Not `Send`.
pub type ReadGuard<'a> = ReadLockGuard<'a, RawRwLock>;

/// Holds the write lock of a [`RawRwLock`] (the generic [`LockGuard`] over nothing);
/// released on drop. Not `Send`.
pub type WriteGuard<'a> = LockGuard<'a, RawRwLock>;
