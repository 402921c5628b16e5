//! The calling thread's signal mask (`pthread_sigmask`), and the pending signals.
//!
//! The mask is per thread: a new thread starts with its creator's mask, and a process
//! started with `std::process::Command` starts with an empty one (std clears it). In a
//! single-threaded process the thread's mask is the process's mask. To take a
//! process-directed signal with [`wait`](super::wait), block it in *every* thread, best in
//! the main thread before any other thread starts.

use std::mem::MaybeUninit;

use super::{SigSet, Signal};
use crate::{Error, Result};

fn pthread_sigmask(how: libc::c_int, set: Option<&SigSet>) -> Result<SigSet> {
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    let set_ptr = set.map_or(std::ptr::null(), SigSet::as_ptr);
    // SAFETY: `how` is one of SIG_BLOCK/SIG_UNBLOCK/SIG_SETMASK; `set_ptr` is null or points
    // to an initialised sigset_t borrowed for the call; `old` is a valid out-pointer.
    let r = unsafe { libc::pthread_sigmask(how, set_ptr, old.as_mut_ptr()) };
    if r != 0 {
        return Err(Error::os("pthread_sigmask", crate::Errno::from_raw(r)));
    }
    // SAFETY: pthread_sigmask succeeded, so it wrote the previous mask into `old`.
    Ok(SigSet::from_raw(unsafe { old.assume_init() }))
}

fn refuse_unblockable(set: &SigSet) -> Result<()> {
    for s in [Signal::KILL, Signal::STOP] {
        if set.contains(s) {
            s.check_catchable("pthread_sigmask", "blocked")?;
        }
    }
    Ok(())
}

/// `pthread_sigmask(SIG_BLOCK)`: adds `set` to the calling thread's mask; returns the
/// previous mask.
///
/// Blocked signals stay pending until unblocked or taken with [`wait`](super::wait).
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) if `set` holds `SIGKILL`
/// or `SIGSTOP` (which cannot be blocked; the kernel would silently skip them).
///
/// # References
/// <https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html>
#[doc(alias = "pthread_sigmask", alias = "sigprocmask")]
pub fn block(set: &SigSet) -> Result<SigSet> {
    refuse_unblockable(set)?;
    pthread_sigmask(libc::SIG_BLOCK, Some(set))
}

/// `pthread_sigmask(SIG_UNBLOCK)`: removes `set` from the calling thread's mask; returns
/// the previous mask. A pending signal that becomes unblocked is delivered before this
/// returns.
///
/// # References
/// <https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html>
#[doc(alias = "pthread_sigmask", alias = "sigprocmask")]
pub fn unblock(set: &SigSet) -> Result<SigSet> {
    pthread_sigmask(libc::SIG_UNBLOCK, Some(set))
}

/// `pthread_sigmask(SIG_SETMASK)`: replaces the calling thread's mask with `set`; returns
/// the previous mask (pass it back to restore).
///
/// # Errors
/// As [`block`].
///
/// # References
/// <https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html>
#[doc(alias = "pthread_sigmask", alias = "sigprocmask")]
pub fn set(set: &SigSet) -> Result<SigSet> {
    refuse_unblockable(set)?;
    pthread_sigmask(libc::SIG_SETMASK, Some(set))
}

/// `pthread_sigmask`: the calling thread's mask.
///
/// # References
/// <https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html>
#[doc(alias = "pthread_sigmask", alias = "sigprocmask")]
pub fn get() -> Result<SigSet> {
    pthread_sigmask(libc::SIG_BLOCK, None)
}

/// `sigpending`: the signals raised but not yet delivered because they are blocked,
/// pending for the calling thread or for the whole process.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/sigpending.2.html>
#[doc(alias = "sigpending")]
pub fn pending() -> Result<SigSet> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `set` is a valid out-pointer to a sigset_t.
    let r = unsafe { libc::sigpending(set.as_mut_ptr()) };
    if r != 0 {
        return Err(Error::os("sigpending", crate::Errno::last()));
    }
    // SAFETY: sigpending succeeded, so it filled in `set`.
    Ok(SigSet::from_raw(unsafe { set.assume_init() }))
}
