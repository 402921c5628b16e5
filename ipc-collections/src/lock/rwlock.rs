//! [`SharedRwLock<T>`]: a value guarded by a process-shared reader-writer lock.

use ipc_core::sync::{Lock, LockGuard, RawRwLock, ReadLockGuard};

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
///
/// It is the generic [`Lock`] over [`RawRwLock`]: [`read`](Lock::read),
/// [`try_read`](Lock::try_read), [`read_timeout`](Lock::read_timeout),
/// [`write`](Lock::write), [`try_write`](Lock::try_write),
/// [`write_timeout`](Lock::write_timeout), [`get_mut`](Lock::get_mut).
pub type SharedRwLock<T> = Lock<RawRwLock, T>;

/// Shared access to the value of a [`SharedRwLock`]; releases the read lock on drop.
pub type SharedReadGuard<'a, T> = ReadLockGuard<'a, RawRwLock, T>;

/// Exclusive access to the value of a [`SharedRwLock`]; releases the write lock on drop.
pub type SharedWriteGuard<'a, T> = LockGuard<'a, RawRwLock, T>;
