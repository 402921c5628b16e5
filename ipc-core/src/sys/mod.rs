//! Crate-private helpers of the OS layer ([`file`]: fd checks shared by the named kinds) and,
//! here, those under the in-place primitives: deadlines on CLOCK_MONOTONIC,
//! saturating `timespec` arithmetic, the glibc `*_clock*` calls that the `libc` crate does
//! not declare (looked up with `dlsym`), and the brief spin before sleeping.

pub(crate) mod file;

use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How many times a blocking acquire retries its non-blocking form, with a growing pause
/// between tries, before it sleeps in the kernel. A cross-process cache-line round trip costs
/// ~0.1 µs and a futex wake ~50 µs, so a few µs of spinning pays off for short critical
/// sections without burning a core for long.
pub(crate) const SPIN_TRIES: u32 = 8;

/// Spins for `1 << try` pause instructions (capped), the backoff between spin tries.
#[inline]
pub(crate) fn backoff(try_no: u32) {
    for _ in 0..(1u32 << try_no.min(6)) {
        std::hint::spin_loop();
    }
}

/// A point in time on CLOCK_MONOTONIC (`Instant` is CLOCK_MONOTONIC on Linux), or never.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// `d` from now; a duration too large to represent means "never".
    pub(crate) fn after(d: Duration) -> Self {
        Deadline(Instant::now().checked_add(d))
    }

    /// Time left (zero once passed), or `None` for a deadline that never comes.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.0.map(|t| t.saturating_duration_since(Instant::now()))
    }
}

/// `d` as a relative `timespec`, saturating at the largest `time_t`.
pub(crate) fn rel_timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

/// The absolute CLOCK_MONOTONIC time `d` from now, as a `timespec`, saturating at the
/// largest `time_t` (so `Duration::MAX` means "wait for ever", never an overflow).
pub(crate) fn monotonic_after(d: Duration) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux, so the
    // call cannot fail (and if it did, `now` stays zero, which only shortens nothing: the
    // deadline is then `d` after boot, still a valid timespec).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let rel = rel_timespec(d);
    let mut sec = now.tv_sec.saturating_add(rel.tv_sec);
    let mut nsec = now.tv_nsec + rel.tv_nsec;
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec = sec.saturating_add(1);
    }
    if sec == libc::time_t::MAX {
        nsec = 999_999_999;
    }
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

/// `pthread_mutex_clocklock(3)` (glibc 2.30).
pub(crate) type MutexClockLock = unsafe extern "C" fn(
    *mut libc::pthread_mutex_t,
    libc::clockid_t,
    *const libc::timespec,
) -> c_int;
/// `pthread_rwlock_clockrdlock(3)` / `pthread_rwlock_clockwrlock(3)` (glibc 2.30).
pub(crate) type RwLockClockLock = unsafe extern "C" fn(
    *mut libc::pthread_rwlock_t,
    libc::clockid_t,
    *const libc::timespec,
) -> c_int;
/// `sem_clockwait(3)` (glibc 2.30).
pub(crate) type SemClockWait =
    unsafe extern "C" fn(*mut libc::sem_t, libc::clockid_t, *const libc::timespec) -> c_int;

/// Looks up a symbol of the C library at run time, once per process, caching the answer in
/// `slot` (0: not looked up yet, 1: absent, else the address).
///
/// The `libc` crate does not declare glibc's `*_clock*` calls, and this crate writes no
/// `extern` blocks, so they are found with `dlsym(RTLD_DEFAULT, ..)`. On a C library without
/// them (glibc < 2.30, or a 32-bit target where the 64-bit-time variants have other names)
/// the callers fall back to polling the non-blocking call.
///
/// The cache never blocks (two threads may both look the symbol up, with the same answer):
/// a blocking `OnceLock` would hang a child forked while another thread of its parent was
/// inside the lookup, since the child inherits the "running" state and nobody finishes it.
fn lookup(slot: &AtomicUsize, name: &CStr) -> Option<*mut c_void> {
    if cfg!(not(target_pointer_width = "64")) {
        return None;
    }
    // Relaxed: the address is a plain value; dlsym's own state is glibc's to synchronise.
    match slot.load(Ordering::Relaxed) {
        0 => {}
        1 => return None,
        addr => return Some(addr as *mut c_void),
    }
    // SAFETY: `name` is a valid NUL-terminated string; RTLD_DEFAULT searches the global
    // symbol scope and needs no handle.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    slot.store(if p.is_null() { 1 } else { p as usize }, Ordering::Relaxed);
    (!p.is_null()).then_some(p)
}

/// `pthread_mutex_clocklock`, if the C library has it.
pub(crate) fn mutex_clocklock() -> Option<MutexClockLock> {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: glibc defines `pthread_mutex_clocklock` with exactly the C signature of
    // `MutexClockLock`, and a non-null data pointer from dlsym of a function is its
    // address (POSIX requires this conversion to work).
    lookup(&SLOT, c"pthread_mutex_clocklock")
        .map(|p| unsafe { std::mem::transmute::<*mut c_void, MutexClockLock>(p) })
}

/// `pthread_rwlock_clockrdlock`, if the C library has it.
pub(crate) fn rwlock_clockrdlock() -> Option<RwLockClockLock> {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: glibc defines `pthread_rwlock_clockrdlock` with exactly the C signature of
    // `RwLockClockLock`; see `mutex_clocklock` for the pointer conversion.
    lookup(&SLOT, c"pthread_rwlock_clockrdlock")
        .map(|p| unsafe { std::mem::transmute::<*mut c_void, RwLockClockLock>(p) })
}

/// `pthread_rwlock_clockwrlock`, if the C library has it.
pub(crate) fn rwlock_clockwrlock() -> Option<RwLockClockLock> {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: glibc defines `pthread_rwlock_clockwrlock` with exactly the C signature of
    // `RwLockClockLock`; see `mutex_clocklock` for the pointer conversion.
    lookup(&SLOT, c"pthread_rwlock_clockwrlock")
        .map(|p| unsafe { std::mem::transmute::<*mut c_void, RwLockClockLock>(p) })
}

/// `sem_clockwait`, if the C library has it.
pub(crate) fn sem_clockwait() -> Option<SemClockWait> {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: glibc defines `sem_clockwait` with exactly the C signature of
    // `SemClockWait`; see `mutex_clocklock` for the pointer conversion.
    lookup(&SLOT, c"sem_clockwait")
        .map(|p| unsafe { std::mem::transmute::<*mut c_void, SemClockWait>(p) })
}

/// The fallback for a missing `*_clock*` call: retries `try_once` (which returns the C
/// call's error number, `busy` meaning "held") with a growing sleep until it succeeds,
/// fails otherwise, or `d` has passed on CLOCK_MONOTONIC (then `ETIMEDOUT`).
pub(crate) fn poll_until(d: Duration, busy: c_int, mut try_once: impl FnMut() -> c_int) -> c_int {
    let deadline = Deadline::after(d);
    let mut nap = Duration::from_micros(50);
    loop {
        let r = try_once();
        if r != busy {
            return r;
        }
        match deadline.remaining() {
            Some(left) if left.is_zero() => return libc::ETIMEDOUT,
            Some(left) => std::thread::sleep(nap.min(left)),
            None => std::thread::sleep(nap),
        }
        nap = (nap * 2).min(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_after_saturates() {
        let t = monotonic_after(Duration::MAX);
        assert_eq!(t.tv_sec, libc::time_t::MAX);
        assert!(t.tv_nsec < 1_000_000_000);
        let t = monotonic_after(Duration::from_nanos(999_999_999));
        assert!(t.tv_nsec < 1_000_000_000 && t.tv_nsec >= 0);
    }

    #[test]
    fn deadline_never() {
        assert_eq!(Deadline::after(Duration::MAX).remaining(), None);
        assert_eq!(
            Deadline::after(Duration::ZERO).remaining(),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn glibc_clock_calls_found() {
        assert!(mutex_clocklock().is_some());
        assert!(rwlock_clockrdlock().is_some());
        assert!(rwlock_clockwrlock().is_some());
        assert!(sem_clockwait().is_some());
    }
}
