//! [`SharedCondvar`]: a process-shared condition variable that pairs with
//! [`SharedMutex`](crate::SharedMutex) guards.

use std::fmt;
use std::mem::{align_of, offset_of, size_of};
use std::time::{Duration, Instant};

use ipc_core::layout::{Field, TypeLayout};
use ipc_core::sync::RawCondvar;
use ipc_core::SharedLayout;

use crate::error::Result;
use crate::SharedMutexGuard;

/// A condition variable in shared memory ([`RawCondvar`], a futex sequence counter that a
/// crashed waiter cannot break), used with the guard of a [`SharedMutex`](crate::SharedMutex),
/// in the spirit of [`std::sync::Condvar`].
///
/// Waits can wake spuriously: wait in a loop that re-checks the condition, or use
/// [`wait_while`](Self::wait_while). If a holder of the mutex died while this thread waited
/// (or the mutex is poisoned when the wait re-locks it), the wait returns
/// [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) as a lock does, and the mutex is released;
/// a guard from [`SharedMutex::lock_ignoring_poison`](crate::SharedMutex::lock_ignoring_poison)
/// keeps waiting through poison, as it locks through it.
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
    /// [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) if the mutex is poisoned when the wait
    /// re-locks it (a holder died; the mutex is released again); other errors if re-locking
    /// failed (the mutex is then not held). Either way the guard is gone.
    ///
    /// # References
    /// [pthread_cond_wait(3p)](https://man7.org/linux/man-pages/man3/pthread_cond_wait.3p.html)
    /// (the semantics followed; the implementation is a futex)
    #[doc(alias = "pthread_cond_wait")]
    pub fn wait<'a, T: SharedLayout + Send>(
        &self,
        guard: SharedMutexGuard<'a, T>,
    ) -> Result<SharedMutexGuard<'a, T>> {
        self.raw.wait_guard(guard)
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
    ) -> Result<(SharedMutexGuard<'a, T>, WaitTimeoutResult)> {
        let (guard, timed_out) = self.raw.wait_guard_timeout(guard, timeout)?;
        Ok((guard, WaitTimeoutResult(timed_out)))
    }

    /// Waits while `condition` holds for the guarded value (checked under the mutex before
    /// each wait), then returns the guard.
    pub fn wait_while<'a, T: SharedLayout + Send>(
        &self,
        mut guard: SharedMutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<SharedMutexGuard<'a, T>> {
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
    ) -> Result<(SharedMutexGuard<'a, T>, WaitTimeoutResult)> {
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
