//! [`SharedCondvar`]: a process-shared condition variable that pairs with
//! [`SharedMutex`](crate::SharedMutex) guards.

use std::fmt;
use std::mem::{align_of, offset_of, size_of};
use std::time::{Duration, Instant};

use ipc_core::layout::{Field, TypeLayout};
use ipc_core::sync::{Acquired, RawCondvar};
use ipc_core::SharedLayout;

use crate::mutex::{LockError, LockResult, SharedMutexGuard};

/// A condition variable in shared memory ([`RawCondvar`], a futex sequence counter that a
/// crashed waiter cannot break), used with the guard of a [`SharedMutex`](crate::SharedMutex),
/// in the spirit of [`std::sync::Condvar`].
///
/// Waits can wake spuriously: wait in a loop that re-checks the condition, or use
/// [`wait_while`](Self::wait_while). If the mutex's owner died while this thread waited,
/// the wait returns [`LockError::OwnerDied`] with the guard, as a lock does.
///
/// Repair before waiting: a wait releases the mutex, and releasing a guard that is still
/// [inconsistent](SharedMutexGuard::is_inconsistent) (taken over from a dead owner and not
/// yet marked consistent) makes the mutex unrecoverable, as dropping it would; the wait
/// then fails with [`Unrecoverable`](ipc_core::ErrorKind::Unrecoverable).
#[repr(C)]
pub struct SharedCondvar {
    raw: RawCondvar,
}

// SAFETY: 1. repr(C) around one SharedLayout type; 2. valid for every bit pattern because
// RawCondvar is; 3. no pointers; 4. no Drop; 5. LAYOUT lists its one field with its offset
// and layout, and its own size and alignment. Sync because RawCondvar is.
unsafe impl SharedLayout for SharedCondvar {
    const LAYOUT: TypeLayout = TypeLayout::structure(
        "SharedCondvar",
        size_of::<Self>(),
        align_of::<Self>(),
        &[Field {
            name: "raw",
            offset: offset_of!(Self, raw),
            layout: &RawCondvar::LAYOUT,
        }],
    );

    unsafe fn init_in_place(this: *mut Self) -> ipc_core::Result<()> {
        // SAFETY: forwarded from this function's contract, for the one field.
        unsafe { RawCondvar::init_in_place(std::ptr::addr_of_mut!((*this).raw)) }
    }
}

impl fmt::Debug for SharedCondvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCondvar").finish_non_exhaustive()
    }
}

/// Whether a timed wait returned because its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because the timeout passed (not because of a notify).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl SharedCondvar {
    /// Waits for a notify: unlocks the guard's mutex, sleeps until
    /// [`notify_one`](Self::notify_one)/[`notify_all`](Self::notify_all) (or a spurious
    /// wake-up), locks the mutex again and returns the guard.
    ///
    /// # Errors
    /// [`LockError::OwnerDied`] (with the guard, mutex held) if another holder of the mutex
    /// died meanwhile; [`LockError::Failed`] if re-locking failed (the mutex is then not
    /// held, and the guard is gone).
    ///
    /// # References
    /// [pthread_cond_wait(3p)](https://man7.org/linux/man-pages/man3/pthread_cond_wait.3p.html)
    /// (the semantics followed; the implementation is a futex)
    #[doc(alias = "pthread_cond_wait")]
    pub fn wait<'a, T: SharedLayout + Send>(
        &self,
        guard: SharedMutexGuard<'a, T>,
    ) -> LockResult<SharedMutexGuard<'a, T>> {
        // SAFETY: the guard proves this thread holds the mutex.
        let r = unsafe { self.raw.wait(guard.mutex().raw()) };
        relock(guard, r)
    }

    /// Waits as [`wait`](Self::wait), at most `timeout` (CLOCK_MONOTONIC); the result says
    /// whether the time ran out. The mutex is held again in both cases.
    ///
    /// # References
    /// [pthread_cond_timedwait(3p)](https://man7.org/linux/man-pages/man3/pthread_cond_timedwait.3p.html)
    #[doc(alias = "pthread_cond_timedwait")]
    pub fn wait_timeout<'a, T: SharedLayout + Send>(
        &self,
        guard: SharedMutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(SharedMutexGuard<'a, T>, WaitTimeoutResult)> {
        // SAFETY: the guard proves this thread holds the mutex.
        let r = unsafe { self.raw.wait_timeout(guard.mutex().raw(), timeout) };
        let t = WaitTimeoutResult(matches!(r, Ok((_, true))));
        relock(guard, r.map(|(acq, _)| acq))
            .map(|g| (g, t))
            .map_err(|e| e.map(|g| (g, t)))
    }

    /// Waits while `condition` holds for the guarded value (checked under the mutex before
    /// each wait), then returns the guard.
    pub fn wait_while<'a, T: SharedLayout + Send>(
        &self,
        mut guard: SharedMutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<SharedMutexGuard<'a, T>> {
        while condition(&mut guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Waits while `condition` holds, at most `timeout` in all; the result says whether
    /// the time ran out with the condition still true.
    pub fn wait_timeout_while<'a, T: SharedLayout + Send>(
        &self,
        mut guard: SharedMutexGuard<'a, T>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<(SharedMutexGuard<'a, T>, WaitTimeoutResult)> {
        let start = Instant::now();
        loop {
            if !condition(&mut guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let Some(left) = timeout.checked_sub(start.elapsed()) else {
                return Ok((guard, WaitTimeoutResult(true)));
            };
            guard = self.wait_timeout(guard, left)?.0;
        }
    }

    /// Wakes one waiter (if any).
    ///
    /// # References
    /// [pthread_cond_signal(3p)](https://man7.org/linux/man-pages/man3/pthread_cond_signal.3p.html)
    #[doc(alias = "pthread_cond_signal")]
    pub fn notify_one(&self) {
        self.raw.notify_one()
    }

    /// Wakes all waiters.
    ///
    /// # References
    /// [pthread_cond_broadcast(3p)](https://man7.org/linux/man-pages/man3/pthread_cond_broadcast.3p.html)
    #[doc(alias = "pthread_cond_broadcast")]
    pub fn notify_all(&self) {
        self.raw.notify_all()
    }
}

/// The guard after a raw wait: held again cleanly, from a dead owner, or not at all.
fn relock<'a, T: SharedLayout + Send>(
    mut guard: SharedMutexGuard<'a, T>,
    r: ipc_core::Result<Acquired>,
) -> LockResult<SharedMutexGuard<'a, T>> {
    match r {
        Ok(Acquired::Clean) => Ok(guard),
        Ok(Acquired::OwnerDied) => {
            guard.set_inconsistent(true);
            Err(LockError::OwnerDied(guard))
        }
        Err(e) => {
            // The mutex is not held after a failed re-lock: the guard must not unlock it.
            std::mem::forget(guard);
            Err(LockError::Failed(e))
        }
    }
}
