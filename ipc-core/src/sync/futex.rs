//! `futex(2)` on a 32-bit word in shared memory: the sleep/wake primitive under
//! [`RawCondvar`](super::RawCondvar), usable directly for other blocking structures (ring
//! buffers that sleep only when they must).
//!
//! These use the process-shared operations `FUTEX_WAIT` and `FUTEX_WAKE`, never the
//! `_PRIVATE` variants: the kernel keys a shared futex by the page it lives on, so a waiter
//! and a waker in different processes that map the same memory find each other. A process
//! killed while waiting is removed from the kernel's wait queue; it cannot absorb a wake-up.
//!
//! # References
//! - <https://man7.org/linux/man-pages/man2/futex.2.html>

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use crate::sys;
use crate::Errno;
use crate::{Error, Result};

/// How a [`wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A [`wake`] woke this waiter (or the kernel woke it spuriously, which the futex API
    /// allows): re-check the condition.
    Woken,
    /// The word did not hold the expected value when the call started: it has changed.
    Changed,
    /// A signal handler ran: re-check the condition and wait again if needed.
    Interrupted,
    /// The timeout passed.
    TimedOut,
}

/// `FUTEX_WAIT`: sleeps while `word` holds `expected`, until a [`wake`] on the same word
/// (from any process that maps it), the `timeout` (relative, measured on CLOCK_MONOTONIC;
/// `None` waits for ever) or a signal.
///
/// The comparison and the sleep are atomic with respect to [`wake`]: a waker that changes
/// the word and then wakes cannot be missed. Durations too large for a `timespec` saturate.
///
/// # Errors
/// Only on an OS error other than the outcomes in [`Wake`] (none is expected for a valid,
/// aligned word).
///
/// # References
/// - <https://man7.org/linux/man-pages/man2/futex.2.html>
#[doc(alias = "futex")]
#[doc(alias = "FUTEX_WAIT")]
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Result<Wake> {
    let ts = timeout.map(sys::rel_timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word.as_ptr()` is a valid, 4-byte aligned address for as long as the borrow
    // lasts (the kernel only reads it); `ts_ptr` is null or points to `ts`, alive until the
    // call returns; the remaining arguments are ignored by FUTEX_WAIT.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return Ok(Wake::Woken);
    }
    match Errno::last() {
        Errno::EAGAIN => Ok(Wake::Changed),
        Errno::EINTR => Ok(Wake::Interrupted),
        Errno::ETIMEDOUT => Ok(Wake::TimedOut),
        e => Err(Error::os("futex(FUTEX_WAIT)", e)),
    }
}

/// `FUTEX_WAKE`: wakes up to `n` processes or threads sleeping in [`wait`] on `word`
/// (`n` is clamped to `i32::MAX`); returns how many were woken.
///
/// # References
/// - <https://man7.org/linux/man-pages/man2/futex.2.html>
#[doc(alias = "futex")]
#[doc(alias = "FUTEX_WAKE")]
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    // SAFETY: `word.as_ptr()` is a valid, aligned address (FUTEX_WAKE only uses it as a key
    // and never dereferences it in user space); the remaining arguments are ignored.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    usize::try_from(r).unwrap_or(0)
}
