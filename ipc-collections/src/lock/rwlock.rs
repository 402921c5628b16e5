//! [`SharedRwLock<T>`]: a value guarded by a process-shared reader-writer lock.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use ipc_core::process::Owner;
use ipc_core::sync::RawRwLock;
use ipc_core::SharedLayout;

use crate::lock::guarded::raw_and_data_layout;

/// A `T` guarded by a process-shared reader-writer lock ([`RawRwLock`]), in the spirit of
/// [`std::sync::RwLock`], living inside shared memory as (a field of) a
/// [`Shared`](crate::Shared) value.
///
/// **Not robust**: pthread rwlocks do not record their readers, so a process that dies
/// holding the lock is never noticed. After a writer dies holding it, [`read`](Self::read)
/// and [`write`](Self::write) block for ever and the timed forms return
/// [`Timeout`](ipc_core::ErrorKind::Timeout); after a reader dies, writers never get it.
/// Where holders may crash, use the timed forms or a [`SharedMutex`](crate::SharedMutex).
///
/// Re-entry from one thread: while a thread holds the write guard, its `read`/`write` calls
/// fail with `EDEADLK` (the try forms with `WouldBlock`), so it never gets a second guard;
/// a thread that holds a read guard and asks for the write lock waits for ever (as with
/// [`std::sync::RwLock`]; `write_timeout` returns `Timeout`).
///
/// Its layout is a struct `SharedRwLock{raw: RawRwLock, data: T}`.
#[repr(C)]
pub struct SharedRwLock<T> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through guards: shared references while a read lock is
// held (so T: Sync), a unique one while the write lock is held (so T: Send); the
// process-shared lock serialises writers against everybody in every process.
unsafe impl<T: SharedLayout + Send> Sync for SharedRwLock<T> {}

// SAFETY: 1. repr(C) of two SharedLayout types (UnsafeCell<T> has T's layout);
// 2. valid for every bit pattern once initialised, because RawRwLock and T are; 3. no
// pointers; 4. no Drop; 5. LAYOUT lists both fields with their offset_of! and layouts.
unsafe impl<T: SharedLayout + Send> SharedLayout for SharedRwLock<T> {
    raw_and_data_layout!("SharedRwLock", RawRwLock);
}

impl<T> fmt::Debug for SharedRwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRwLock").finish_non_exhaustive()
    }
}

impl<T: SharedLayout + Send> SharedRwLock<T> {
    /// `pthread_rwlock_rdlock`: shared access, waiting while a writer holds the lock.
    ///
    /// # References
    /// [pthread_rwlock_rdlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_rdlock.3p.html)
    #[doc(alias = "pthread_rwlock_rdlock")]
    pub fn read(&self) -> ipc_core::Result<SharedReadGuard<'_, T>> {
        self.raw.read()?;
        Ok(SharedReadGuard::new(self))
    }

    /// `pthread_rwlock_tryrdlock`: shared access if no writer holds the lock;
    /// [`WouldBlock`](ipc_core::ErrorKind::WouldBlock) otherwise.
    ///
    /// # References
    /// [pthread_rwlock_tryrdlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_tryrdlock.3p.html)
    #[doc(alias = "pthread_rwlock_tryrdlock")]
    pub fn try_read(&self) -> ipc_core::Result<SharedReadGuard<'_, T>> {
        self.raw.try_read()?;
        Ok(SharedReadGuard::new(self))
    }

    /// `pthread_rwlock_clockrdlock` (CLOCK_MONOTONIC): shared access, waiting at most
    /// `timeout`; [`Timeout`](ipc_core::ErrorKind::Timeout) otherwise.
    ///
    /// # References
    /// [pthread_rwlock_timedrdlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_timedrdlock.3p.html)
    #[doc(alias = "pthread_rwlock_clockrdlock")]
    pub fn read_timeout(&self, timeout: Duration) -> ipc_core::Result<SharedReadGuard<'_, T>> {
        self.raw.read_timeout(timeout)?;
        Ok(SharedReadGuard::new(self))
    }

    /// `pthread_rwlock_wrlock`: exclusive access, waiting while anybody holds the lock.
    ///
    /// # References
    /// [pthread_rwlock_wrlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_wrlock.3p.html)
    #[doc(alias = "pthread_rwlock_wrlock")]
    pub fn write(&self) -> ipc_core::Result<SharedWriteGuard<'_, T>> {
        self.raw.write()?;
        Ok(SharedWriteGuard::new(self))
    }

    /// `pthread_rwlock_trywrlock`: exclusive access if nobody holds the lock;
    /// [`WouldBlock`](ipc_core::ErrorKind::WouldBlock) otherwise.
    ///
    /// # References
    /// [pthread_rwlock_trywrlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_trywrlock.3p.html)
    #[doc(alias = "pthread_rwlock_trywrlock")]
    pub fn try_write(&self) -> ipc_core::Result<SharedWriteGuard<'_, T>> {
        self.raw.try_write()?;
        Ok(SharedWriteGuard::new(self))
    }

    /// `pthread_rwlock_clockwrlock` (CLOCK_MONOTONIC): exclusive access, waiting at most
    /// `timeout`; [`Timeout`](ipc_core::ErrorKind::Timeout) otherwise.
    ///
    /// # References
    /// [pthread_rwlock_timedwrlock(3p)](https://man7.org/linux/man-pages/man3/pthread_rwlock_timedwrlock.3p.html)
    #[doc(alias = "pthread_rwlock_clockwrlock")]
    pub fn write_timeout(&self, timeout: Duration) -> ipc_core::Result<SharedWriteGuard<'_, T>> {
        self.raw.write_timeout(timeout)?;
        Ok(SharedWriteGuard::new(self))
    }

    /// The value, through exclusive access (for the init closure of
    /// [`Shared::create`](crate::Shared::create)).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Shared access to the value of a [`SharedRwLock`]; releases the read lock on drop.
#[must_use = "the lock is released when the guard is dropped"]
pub struct SharedReadGuard<'a, T: SharedLayout + Send> {
    lock: &'a SharedRwLock<T>,
    /// The process that locked: a copy inherited by a forked child does not unlock.
    owner: Owner,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: SharedLayout + Send> SharedReadGuard<'a, T> {
    fn new(lock: &'a SharedRwLock<T>) -> Self {
        SharedReadGuard {
            lock,
            owner: Owner::current(),
            _not_send: PhantomData,
        }
    }
}

impl<T: SharedLayout + Send> Deref for SharedReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read lock is held while the guard lives, so no writer (in any process)
        // has access; the data lies in the borrowed SharedRwLock and is a valid T.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: SharedLayout + Send> Drop for SharedReadGuard<'_, T> {
    fn drop(&mut self) {
        // A forked child's copy: the lock is the parent's (ipc_core::process).
        if !self.owner.is_current() {
            return;
        }
        // SAFETY: this thread holds a read lock (the guard is not Send), in the process that
        // locked (checked just above).
        unsafe { self.lock.raw.unlock() }
    }
}

/// Exclusive access to the value of a [`SharedRwLock`]; releases the write lock on drop.
#[must_use = "the lock is released when the guard is dropped"]
pub struct SharedWriteGuard<'a, T: SharedLayout + Send> {
    lock: &'a SharedRwLock<T>,
    /// The process that locked: a copy inherited by a forked child does not unlock.
    owner: Owner,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: SharedLayout + Send> SharedWriteGuard<'a, T> {
    fn new(lock: &'a SharedRwLock<T>) -> Self {
        SharedWriteGuard {
            lock,
            owner: Owner::current(),
            _not_send: PhantomData,
        }
    }
}

impl<T: SharedLayout + Send> Deref for SharedWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the write lock is held while the guard lives: no other accessor in any
        // process; the data is a valid T inside the borrowed SharedRwLock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: SharedLayout + Send> DerefMut for SharedWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; the guard is borrowed mutably, so this is the only
        // reference derived from it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: SharedLayout + Send> Drop for SharedWriteGuard<'_, T> {
    fn drop(&mut self) {
        // A forked child's copy: the lock is the parent's (ipc_core::process).
        if !self.owner.is_current() {
            return;
        }
        // SAFETY: this thread holds the write lock (the guard is not Send), in the process that
        // locked (checked just above).
        unsafe { self.lock.raw.unlock() }
    }
}
