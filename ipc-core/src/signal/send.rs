//! Sending signals: [`kill`] and [`queue`] (with a value).

use libc::pid_t;

use super::Signal;
use crate::{Error, ErrorKind, Result};

fn check_pid(op: &'static str, pid: pid_t) -> Result<()> {
    if pid <= 0 {
        return Err(Error::with_text(
            op,
            ErrorKind::InvalidInput,
            format!("pid {pid} is not a single process (process groups are not supported here)"),
        ));
    }
    Ok(())
}

fn os_error(op: &'static str, errno: crate::Errno, pid: pid_t) -> Error {
    let kind = match errno {
        crate::Errno::ESRCH => ErrorKind::NotFound,
        crate::Errno::EAGAIN => {
            return Error::with_text(
                op,
                ErrorKind::LimitReached,
                "queued signals of the receiver's user (RLIMIT_SIGPENDING)",
            )
            .with_name(format!("pid {pid}"))
        }
        _ => return Error::os(op, errno).with_name(format!("pid {pid}")),
    };
    Error::new(op, kind).with_name(format!("pid {pid}"))
}

/// `kill`: sends `signal` to process `pid`.
///
/// A standard signal sent several times while blocked is pending once; real-time signals
/// queue (see [`queue`]).
///
/// # Errors
/// [`ErrorKind::InvalidInput`] for `pid <= 0` (process groups and "every process" are not
/// offered), [`ErrorKind::NotFound`] if no such process exists,
/// [`ErrorKind::PermissionDenied`] if the caller may not signal it.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/kill.2.html>
pub fn kill(pid: pid_t, signal: Signal) -> Result<()> {
    check_pid("kill", pid)?;
    // SAFETY: kill has no memory preconditions; pid and signal number are plain integers.
    let r = unsafe { libc::kill(pid, signal.as_raw()) };
    if r != 0 {
        return Err(os_error("kill", crate::Errno::last(), pid));
    }
    Ok(())
}

/// `sigqueue`: sends `signal` with `value` to process `pid`.
///
/// The receiver sees `value` as [`SigInfo::value`](super::SigInfo::value) (C's
/// `si_value.sival_ptr`; on little-endian machines its low 32 bits are `sival_int`), its
/// origin as [`Origin::Queue`](super::Origin::Queue), and the sender's pid and uid. Real-time
/// signals queued several times arrive as many times, lowest signal number first and, for one
/// signal, in the order sent; a standard signal that is already pending is not queued again.
///
/// # Errors
/// As [`kill`], and [`ErrorKind::LimitReached`] naming `RLIMIT_SIGPENDING` when the
/// receiver's queue of signals is full.
///
/// # References
/// <https://man7.org/linux/man-pages/man3/sigqueue.3.html>
#[doc(alias = "sigqueue")]
pub fn queue(pid: pid_t, signal: Signal, value: usize) -> Result<()> {
    check_pid("sigqueue", pid)?;
    let value = libc::sigval {
        sival_ptr: std::ptr::without_provenance_mut(value),
    };
    // SAFETY: sigqueue has no memory preconditions; the value travels as an integer and is
    // never dereferenced by the kernel.
    let r = unsafe { libc::sigqueue(pid, signal.as_raw(), value) };
    if r != 0 {
        return Err(os_error("sigqueue", crate::Errno::last(), pid));
    }
    Ok(())
}
