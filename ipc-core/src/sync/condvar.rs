//! [`RawCondvar`]: a process-shared condition variable on a futex sequence counter.
//!
//! See the [module docs](super) for why this is not glibc's `pthread_cond_t`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::futex::{self, Wake};
use super::sys::{self, Deadline};
use super::{Acquired, MutexGuard, RawMutex};
use crate::layout::{SharedLayout, TypeLayout};
use crate::Result;

/// How many times a waiter polls the sequence counter (with a short pause between polls)
/// before it registers as a sleeper and sleeps in the kernel.
const SPIN_POLLS: u32 = 32;

/// A condition variable that lives in shared memory and works across processes, used with a
/// [`RawMutex`].
///
/// Two 32-bit words: `seq`, bumped by every notify, and `sleepers`, the number of waiters
/// that are (about to be) asleep in the kernel. A waiter reads `seq` while it holds the
/// mutex, unlocks, polls `seq` briefly, then registers in `sleepers` and sleeps with
/// `FUTEX_WAIT` while `seq` still holds the value it read. A notifier bumps `seq` and calls
/// `FUTEX_WAKE` only when `sleepers` is non-zero. Both sides use sequentially consistent
/// operations on the two words, so either the notifier sees the sleeper, or the sleeper's
/// `FUTEX_WAIT` sees the new `seq` and returns at once: no wake-up is lost.
///
/// Waits can wake spuriously (a notify meant for another waiter, a signal, a wrap of the
/// 32-bit counter after exactly 2^32 notifies): always wait in a loop that re-checks the
/// condition under the mutex.
///
/// Crash behaviour: a waiter killed while asleep is removed from the futex queue by the
/// kernel and cannot absorb a wake-up; it leaves `sleepers` one too high, which only makes
/// notifies issue a (harmless) wake system call. There is no destroy step, so nothing can
/// block when the memory is dropped. All-zero memory is an initialised condvar.
///
/// # References
/// - <https://man7.org/linux/man-pages/man2/futex.2.html>
/// - <https://man7.org/linux/man-pages/man3/pthread_cond_wait.3p.html> (the semantics it
///   follows)
#[repr(C)]
#[doc(alias = "pthread_cond_t")]
pub struct RawCondvar {
    /// Bumped (wrapping) by every notify; waiters sleep while it holds the value they read
    /// under the mutex.
    seq: AtomicU32,
    /// Waiters registered to sleep in the kernel (too high after a killed waiter).
    sleepers: AtomicU32,
}

impl std::fmt::Debug for RawCondvar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawCondvar")
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .field("sleepers", &self.sleepers.load(Ordering::Relaxed))
            .finish()
    }
}

// SAFETY: 1. repr(C) of two `AtomicU32`s; 2. every bit pattern is a valid pair of counters;
// 3. no pointers; 4. no Drop; 5. LAYOUT names its exact size and alignment. All-zero memory
// is an initialised condvar, so the default `init_in_place` (nothing to do) is right.
unsafe impl SharedLayout for RawCondvar {
    const LAYOUT: TypeLayout = TypeLayout::opaque(
        "RawCondvar",
        std::mem::size_of::<Self>(),
        std::mem::align_of::<Self>(),
    );
}

impl RawCondvar {
    /// A condvar in ordinary memory (for tests and for building shared values on the stack
    /// before copying their bytes; a live condvar in shared memory is never moved).
    pub const fn new() -> Self {
        RawCondvar {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Waits for a notify: unlocks `m`, sleeps until [`notify_one`](Self::notify_one) or
    /// [`notify_all`](Self::notify_all) (or a spurious wake-up), then locks `m` again.
    ///
    /// Returns how `m` was re-acquired: [`Acquired::OwnerDied`] if another process died
    /// holding it in the meantime (repair and mark it consistent, as after
    /// [`RawMutex::lock`]).
    ///
    /// # Errors
    /// The errors of [`RawMutex::lock`] when re-locking; **the mutex is then not held**.
    ///
    /// # Safety
    /// The calling thread holds `m`.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_cond_wait.3p.html>
    #[doc(alias = "pthread_cond_wait")]
    pub unsafe fn wait(&self, m: &RawMutex) -> Result<Acquired> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.wait_until(m, Deadline::after(Duration::MAX)) }.map(|(a, _)| a)
    }

    /// Waits for a notify as [`wait`](Self::wait), at most `d` on CLOCK_MONOTONIC.
    ///
    /// Returns how `m` was re-acquired and whether the wait timed out (`true`: `d` passed
    /// without a notify reaching this waiter). `m` is held again in both cases. A zero `d`
    /// unlocks and re-locks `m` once.
    ///
    /// # Errors
    /// As [`wait`](Self::wait); **the mutex is then not held**.
    ///
    /// # Safety
    /// The calling thread holds `m`.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_cond_timedwait.3p.html>
    #[doc(alias = "pthread_cond_timedwait")]
    #[doc(alias = "pthread_cond_clockwait")]
    pub unsafe fn wait_timeout(&self, m: &RawMutex, d: Duration) -> Result<(Acquired, bool)> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.wait_until(m, Deadline::after(d)) }
    }

    /// # Safety
    /// The calling thread holds `m`.
    unsafe fn wait_until(&self, m: &RawMutex, deadline: Deadline) -> Result<(Acquired, bool)> {
        // Relaxed: we hold `m`, and a notifier that changes the condition does so under `m`
        // after we release it, so its bump is ordered after this load by the mutex.
        let seq = self.seq.load(Ordering::Relaxed);
        // SAFETY: the caller holds `m` on this thread.
        unsafe { m.unlock() };
        let timed_out = self.sleep_while(seq, deadline);
        let acquired = m.lock()?;
        Ok((acquired, timed_out))
    }

    /// Sleeps while `seq` holds `old`, until `deadline`; returns whether it timed out.
    fn sleep_while(&self, old: u32, deadline: Deadline) -> bool {
        for i in 0..SPIN_POLLS {
            // Acquire: pairs with the SeqCst bump in notify, so what the notifier wrote
            // before notifying is visible (the mutex re-lock orders it anyway).
            if self.seq.load(Ordering::Acquire) != old {
                return false;
            }
            if deadline.remaining() == Some(Duration::ZERO) {
                return true;
            }
            sys::backoff(i.min(4));
        }
        // SeqCst: pairs with the SeqCst load of `sleepers` in notify (a Dekker pattern with
        // the bump of `seq`): either notify sees us, or our FUTEX_WAIT sees its bump.
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let timed_out = loop {
            if self.seq.load(Ordering::SeqCst) != old {
                break false;
            }
            let left = deadline.remaining();
            if left == Some(Duration::ZERO) {
                break true;
            }
            match futex::wait(&self.seq, old, left) {
                Ok(Wake::Woken) | Ok(Wake::Changed) => break false,
                Ok(Wake::Interrupted) => continue,
                Ok(Wake::TimedOut) => {
                    // A notify can land just as the timeout fires: report what happened.
                    break self.seq.load(Ordering::SeqCst) == old;
                }
                // Cannot happen for a valid aligned word; wake up (spuriously) rather than
                // spin.
                Err(_) => break false,
            }
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        timed_out
    }

    /// Bumps the sequence and wakes up to `n` sleepers, skipping the system call when nobody
    /// sleeps.
    #[inline]
    fn notify(&self, n: u32) {
        // SeqCst: see `sleep_while`.
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            futex::wake(&self.seq, n);
        }
    }

    /// Wakes one waiter (`FUTEX_WAKE` of 1; the system call is skipped when nobody sleeps).
    ///
    /// Waiters that are still polling before they sleep see the notify too, so more than
    /// one may return: waiters must re-check their condition.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_cond_signal.3p.html>
    #[doc(alias = "pthread_cond_signal")]
    #[inline]
    pub fn notify_one(&self) {
        self.notify(1);
    }

    /// Wakes all waiters (`FUTEX_WAKE` of `INT_MAX`; skipped when nobody sleeps).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_cond_broadcast.3p.html>
    #[doc(alias = "pthread_cond_broadcast")]
    #[inline]
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }

    /// [`wait`](Self::wait) with a [`MutexGuard`]: safe, because the guard proves that this
    /// thread holds the mutex.
    ///
    /// Returns the guard again (check [`MutexGuard::acquired`] for an owner that died
    /// meanwhile).
    ///
    /// # Errors
    /// As [`RawMutex::lock`]; the guard is then gone and the mutex not held.
    pub fn wait_guard<'a>(&self, guard: MutexGuard<'a>) -> Result<MutexGuard<'a>> {
        let m = guard.leak();
        // SAFETY: the guard held `m` on this thread; leaking it hands that hold to us.
        let acquired = unsafe { self.wait(m) }?;
        Ok(MutexGuard::relocked(m, acquired))
    }

    /// [`wait_timeout`](Self::wait_timeout) with a [`MutexGuard`]; returns the guard and
    /// whether the wait timed out.
    ///
    /// # Errors
    /// As [`RawMutex::lock`]; the guard is then gone and the mutex not held.
    pub fn wait_guard_timeout<'a>(
        &self,
        guard: MutexGuard<'a>,
        d: Duration,
    ) -> Result<(MutexGuard<'a>, bool)> {
        let m = guard.leak();
        // SAFETY: the guard held `m` on this thread; leaking it hands that hold to us.
        let (acquired, timed_out) = unsafe { self.wait_timeout(m, d) }?;
        Ok((MutexGuard::relocked(m, acquired), timed_out))
    }
}

impl Default for RawCondvar {
    fn default() -> Self {
        Self::new()
    }
}
