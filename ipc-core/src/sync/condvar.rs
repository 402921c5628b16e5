//! [`RawCondvar`]: a process-shared condition variable on a futex sequence counter.
//!
//! See the [module docs](super) for why this is not glibc's `pthread_cond_t`.

use std::time::Duration;

use super::futex::Wake;
use super::lock::{CondvarLock, LockGuard};
use super::shim::{futex_wait, futex_wake, AtomicU32, FutexWord, Ordering};
use super::{Acquired, RawMutex};
#[cfg(not(loom))]
use crate::layout::{SharedLayout, TypeLayout};
use crate::sys::{self, Deadline};
use crate::Result;

/// How many times a waiter polls the sequence counter (with a short pause between polls)
/// before it registers as a sleeper and sleeps in the kernel.
///
/// Under loom, 2: enough to explore a notify seen while polling, one that lands between two
/// polls, and one that comes after the waiter registered as a sleeper, without 32 polls'
/// worth of interleavings.
const SPIN_POLLS: u32 = if cfg!(loom) { 2 } else { 32 };

/// A condition variable that lives in shared memory and works across processes, used with a
/// [`RawMutex`].
///
/// Two 32-bit words: `seq`, bumped by every notify, and `sleepers`, the number of waiters
/// that are (about to be) asleep in the kernel. A waiter reads `seq` while it holds the
/// mutex, unlocks, polls `seq` briefly, then registers in `sleepers` and sleeps with
/// `FUTEX_WAIT` while `seq` still holds the value it read. A notifier bumps `seq` and calls
/// `FUTEX_WAKE` only when `sleepers` is non-zero. Both sides update `sleepers` with a
/// read-modify-write (the notifier adds 0) after/before their access to `seq`, so either the
/// notifier sees the sleeper, or the sleeper sees the new `seq` (before or in `FUTEX_WAIT`)
/// and returns at once: no wake-up is lost. The protocol is model-checked with loom (see the
/// [module docs](super#model-checking-with-loom)).
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
///
/// Under `cfg(loom)` (model checking only) the words are loom's atomics and a loom model of
/// the futex: the type is then heap-only, not `SharedLayout`, and has a `wait_loom` method
/// for a loom mutex (see the [module docs](super#model-checking-with-loom)).
#[repr(C)]
#[doc(alias = "pthread_cond_t")]
pub struct RawCondvar {
    /// Bumped (wrapping) by every notify; waiters sleep while it holds the value they read
    /// under the mutex.
    seq: FutexWord,
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
// (Not under loom, where the words are loom's model objects.)
#[cfg(not(loom))]
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
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        RawCondvar {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// A condvar on the heap, for a loom model (loom's atomics cannot be built in a `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        RawCondvar {
            seq: FutexWord::new(0),
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
        let (acquired, timed_out) = self.wait_with(
            deadline,
            // SAFETY: the caller holds `m` on this thread (this function's contract), and
            // `wait_with` calls this once, before `relock`.
            || unsafe { m.unlock() },
            || m.lock(),
        );
        Ok((acquired?, timed_out))
    }

    /// The wait protocol, whatever the mutex: reads the sequence while the caller still
    /// holds the mutex, calls `unlock` (which releases it), sleeps while the sequence holds
    /// what was read, then calls `relock` and returns its result and whether `deadline`
    /// passed.
    ///
    /// The caller holds the mutex that its notifiers change the condition under; `unlock`
    /// releases it and `relock` takes it again. ([`RawMutex`] in real use; a loom mutex in
    /// the model, so that the model checks this very code.)
    #[inline]
    fn wait_with<R>(
        &self,
        deadline: Deadline,
        unlock: impl FnOnce(),
        relock: impl FnOnce() -> R,
    ) -> (R, bool) {
        // Relaxed: we hold the mutex, and a notifier that changes the condition does so
        // under the mutex after we release it, so its bump is ordered after this load by the
        // mutex (and its RMW then reads our value or a later one: it cannot be missed).
        let seq = self.seq.load(Ordering::Relaxed);
        unlock();
        let timed_out = self.sleep_while(seq, deadline);
        (relock(), timed_out)
    }

    /// [`wait`](Self::wait) for a loom mutex (model checking only): releases `guard`, sleeps
    /// until a notify, and locks `mutex` again, through the same protocol as `wait`.
    ///
    /// `guard` must be a guard of `mutex`.
    #[cfg(loom)]
    pub fn wait_loom<'a, T>(
        &self,
        guard: loom::sync::MutexGuard<'a, T>,
        mutex: &'a loom::sync::Mutex<T>,
    ) -> loom::sync::MutexGuard<'a, T> {
        self.wait_with(
            Deadline::after(Duration::MAX),
            || drop(guard),
            || mutex.lock().expect("loom mutex poisoned"),
        )
        .0
    }

    /// [`wait_timeout`](Self::wait_timeout) for a loom mutex (model checking only); returns
    /// the guard and whether the wait timed out.
    ///
    /// Loom has no clock: the modelled futex times out as soon as this waiter would sleep
    /// (the earliest a timeout can fire). Pass a long `d` (an hour), so that the spin
    /// phase's own deadline check never fires and the model stays deterministic.
    #[cfg(loom)]
    pub fn wait_timeout_loom<'a, T>(
        &self,
        guard: loom::sync::MutexGuard<'a, T>,
        mutex: &'a loom::sync::Mutex<T>,
        d: Duration,
    ) -> (loom::sync::MutexGuard<'a, T>, bool) {
        self.wait_with(
            Deadline::after(d),
            || drop(guard),
            || mutex.lock().expect("loom mutex poisoned"),
        )
    }

    /// Sleeps while `seq` holds `old`, until `deadline`; returns whether it timed out.
    fn sleep_while(&self, old: u32, deadline: Deadline) -> bool {
        for i in 0..SPIN_POLLS {
            // Acquire: pairs with the Release bump in notify, so what the notifier wrote
            // before notifying is visible (the mutex re-lock orders it anyway).
            if self.seq.load(Ordering::Acquire) != old {
                return false;
            }
            if deadline.remaining() == Some(Duration::ZERO) {
                return true;
            }
            sys::backoff(i.min(4));
        }
        // The handshake with `notify` (no lost wake-up): we register in `sleepers`, then
        // re-check `seq`; notify bumps `seq`, then reads `sleepers` with an RMW. The two RMWs
        // on `sleepers` are ordered one way or the other in its modification order, and each
        // reads the latest value:
        // - notify's first: ours reads its value (or a later one), so its Release
        //   synchronises with our Acquire, its bump of `seq` happens before our load below,
        //   and we see it and do not sleep;
        // - ours first: notify reads a count that includes us (a sleeper's decrement follows
        //   its own increment), so it calls FUTEX_WAKE; if we reach FUTEX_WAIT after that,
        //   the kernel's compare sees the bump (it is atomic with respect to the wake).
        // AcqRel: Acquire for the first case, Release for a notify that comes after us.
        //
        // (The classic form, a SeqCst load in notify and SeqCst operations here, orders the
        // same, but loom models SeqCst accesses as AcqRel only and reports a lost wake-up
        // there; two RMWs need no SeqCst at all, so loom checks this exact code. The cost is
        // one more locked instruction per notify, about 2 ns.)
        self.sleepers.fetch_add(1, Ordering::AcqRel);
        let timed_out = loop {
            // Relaxed: ordered after notify's bump by the RMWs above (first pass) or by
            // FUTEX_WAIT.
            if self.seq.load(Ordering::Relaxed) != old {
                break false;
            }
            let left = deadline.remaining();
            if left == Some(Duration::ZERO) {
                break true;
            }
            match futex_wait(&self.seq, old, left) {
                Ok(Wake::Woken) | Ok(Wake::Changed) => break false,
                Ok(Wake::Interrupted) => continue,
                Ok(Wake::TimedOut) => {
                    // A notify can land just as the timeout fires: report what happened.
                    break self.seq.load(Ordering::Relaxed) == old;
                }
                // Cannot happen for a valid aligned word; wake up (spuriously) rather than
                // spin.
                Err(_) => break false,
            }
        };
        // Relaxed: leaving needs no ordering. We no longer sleep, so a notify that still
        // counts us only makes a wake call nobody needs, and one that no longer does skips a
        // wake we do not need.
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
        timed_out
    }

    /// Bumps the sequence and wakes up to `n` sleepers, skipping the system call when nobody
    /// sleeps.
    #[inline]
    fn notify(&self, n: u32) {
        // Release: pairs with the Acquire polls in `sleep_while`.
        self.seq.fetch_add(1, Ordering::Release);
        // An RMW, not a load: pairs with the sleeper's registering RMW in `sleep_while`,
        // which explains the handshake. AcqRel: Release so that a sleeper registering after
        // this sees our bump; Acquire so that this counts a sleeper registered before.
        if self.sleepers.fetch_add(0, Ordering::AcqRel) != 0 {
            futex_wake(&self.seq, n);
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

    /// [`wait`](Self::wait) with a guard of any lock built on a [`RawMutex`] (a bare
    /// [`MutexGuard`](super::MutexGuard), or the guard of a [`Lock`](super::Lock) over ipc-collections'
    /// poison mutex): safe, because the guard proves that this thread holds the mutex.
    ///
    /// Returns the guard again, re-locked: check [`LockGuard::acquired`] for a holder that
    /// died meanwhile. A guard taken without tolerating poison gets
    /// [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) instead, as its lock call would
    /// (the lock is then released).
    ///
    /// # Errors
    /// As the lock's `lock`; the guard is then gone and the lock not held.
    pub fn wait_guard<'a, R: CondvarLock, T: ?Sized>(
        &self,
        guard: LockGuard<'a, R, T>,
    ) -> Result<LockGuard<'a, R, T>> {
        let raw = LockGuard::raw(&guard);
        // SAFETY: the guard proves this thread holds `raw`, hence `raw.raw_mutex()`
        // (CondvarLock's contract); the guard is not dropped while the wait runs.
        let r = unsafe { self.wait(raw.raw_mutex()) };
        // SAFETY: on Ok the wait re-acquired the mutex on this thread.
        let r = unsafe { raw.relocked(r) };
        guard.relocked(r)
    }

    /// [`wait_timeout`](Self::wait_timeout) with a guard, as [`wait_guard`](Self::wait_guard);
    /// returns the guard and whether the wait timed out.
    ///
    /// # Errors
    /// As [`wait_guard`](Self::wait_guard).
    pub fn wait_guard_timeout<'a, R: CondvarLock, T: ?Sized>(
        &self,
        guard: LockGuard<'a, R, T>,
        d: Duration,
    ) -> Result<(LockGuard<'a, R, T>, bool)> {
        let raw = LockGuard::raw(&guard);
        // SAFETY: as in `wait_guard`.
        let r = unsafe { self.wait_timeout(raw.raw_mutex(), d) };
        let timed_out = matches!(r, Ok((_, true)));
        // SAFETY: on Ok the wait re-acquired the mutex on this thread.
        let r = unsafe { raw.relocked(r.map(|(a, _)| a)) };
        Ok((guard.relocked(r)?, timed_out))
    }
}

impl Default for RawCondvar {
    fn default() -> Self {
        Self::new()
    }
}

/// Under `cfg(loom)` a `RawCondvar` is a model object (loom's atomics and futex model), not
/// a shared-memory layout, so it does not implement `SharedLayout`. These stand-ins let
/// crates that embed a `RawCondvar` in their own `SharedLayout` types (ipc-collections'
/// `SharedCondvar`) compile in a loom build, where only lock-free models run (for example
/// ipc-collections' `tests/loom_ring.rs`); nothing there places a condvar in shared memory.
#[cfg(loom)]
#[doc(hidden)]
impl RawCondvar {
    /// An opaque layout of the model object's size (never compared across builds).
    pub const LAYOUT: crate::layout::TypeLayout = crate::layout::TypeLayout::opaque(
        "RawCondvar(loom model)",
        std::mem::size_of::<Self>(),
        std::mem::align_of::<Self>(),
    );

    /// Never called in a loom build: a model condvar cannot be built in place.
    ///
    /// # Safety
    /// None needed: it only panics.
    pub unsafe fn init_in_place(_this: *mut Self) -> Result<()> {
        panic!("a loom model RawCondvar cannot be initialised in shared memory")
    }
}
