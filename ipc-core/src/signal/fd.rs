//! [`SignalFd`]: signals read from a file descriptor (`signalfd`), for event loops.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::Errno;
use libc::{c_int, pid_t, uid_t};

use super::wait::origin_of;
use super::{Origin, SigSet, Signal};
use crate::{Error, Result};

/// A file descriptor that becomes readable when a signal of its set is pending
/// (`signalfd`); reading it takes the signal, as [`wait`](super::wait) does.
///
/// Like [`wait`](super::wait), it only sees signals that are blocked (in every thread, for
/// process-directed signals): block the set with [`mask::block`](super::mask::block) first.
/// The descriptor is non-blocking and close-on-exec; put it in a `poll`/`epoll` set
/// ([`AsFd`]) and call [`try_read`](Self::try_read) when it is readable, or use
/// [`read_timeout`](Self::read_timeout).
///
/// # References
/// <https://man7.org/linux/man-pages/man2/signalfd.2.html>
#[doc(alias = "signalfd")]
pub struct SignalFd {
    fd: OwnedFd,
    set: SigSet,
}

impl SignalFd {
    /// `signalfd`: a descriptor for the signals of `set`.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man2/signalfd.2.html>
    #[doc(alias = "signalfd")]
    pub fn new(set: &SigSet) -> Result<SignalFd> {
        // SAFETY: -1 asks for a new descriptor; `set` is an initialised sigset_t borrowed for
        // the call; the flags are valid signalfd flags.
        let fd =
            unsafe { libc::signalfd(-1, set.as_ptr(), libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::os("signalfd", Errno::last()));
        }
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(SignalFd { fd, set: *set })
    }

    /// `signalfd` on this descriptor: replaces the set of signals it reports.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man2/signalfd.2.html>
    #[doc(alias = "signalfd")]
    pub fn set_signals(&mut self, set: &SigSet) -> Result<()> {
        // SAFETY: an open signalfd descriptor owned by `self`, an initialised sigset_t, and
        // valid flags (ignored when modifying, per the man page).
        let r = unsafe { libc::signalfd(self.fd.as_raw_fd(), set.as_ptr(), 0) };
        if r < 0 {
            return Err(Error::os("signalfd", Errno::last()));
        }
        self.set = *set;
        Ok(())
    }

    /// The signals this descriptor reports.
    pub fn signals(&self) -> &SigSet {
        &self.set
    }

    /// `read`: takes one pending signal of the set, or `None` if none is pending.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man2/signalfd.2.html>
    #[doc(alias = "read")]
    pub fn try_read(&self) -> Result<Option<FdSigInfo>> {
        // SAFETY: signalfd_siginfo is plain integers; all zeroes is a valid value.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        loop {
            // SAFETY: an open descriptor owned by `self`; `info` is valid for writes of
            // `size` bytes.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if n == size as isize {
                let signo = c_int::try_from(info.ssi_signo).unwrap_or(0);
                if Signal::checked(signo).is_none() {
                    return Err(Error::with_text(
                        "read",
                        crate::ErrorKind::InvalidInput,
                        format!("signalfd reported signal number {}", info.ssi_signo),
                    ));
                }
                return Ok(Some(FdSigInfo(info)));
            }
            match Errno::last() {
                _ if n >= 0 => {
                    return Err(Error::with_text(
                        "read",
                        crate::ErrorKind::InvalidSize,
                        format!("signalfd returned {n} bytes, not one signalfd_siginfo ({size})"),
                    ))
                }
                Errno::EAGAIN => return Ok(None),
                Errno::EINTR => continue,
                e => return Err(Error::os("read", e)),
            }
        }
    }

    /// `poll` then `read`: takes one pending signal of the set, waiting up to `timeout`
    /// (`None`: without limit; zero: a poll), measured on the monotonic clock. `Ok(None)`
    /// when the time ran out.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man2/poll.2.html>
    #[doc(alias = "poll")]
    pub fn read_timeout(&self, timeout: Option<Duration>) -> Result<Option<FdSigInfo>> {
        let deadline = timeout.and_then(|d| Instant::now().checked_add(d));
        loop {
            if let Some(info) = self.try_read()? {
                return Ok(Some(info));
            }
            let ms: c_int = match (timeout, deadline) {
                (Some(_), Some(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    // Round up, so the wait does not end a little early and spin.
                    c_int::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(c_int::MAX)
                }
                _ => -1,
            };
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid pollfd for the call.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 && Errno::last() != Errno::EINTR {
                return Err(Error::os("poll", Errno::last()));
            }
        }
    }
}

impl fmt::Debug for SignalFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalFd")
            .field("fd", &self.fd.as_raw_fd())
            .field("signals", &self.set)
            .finish()
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A signal read from a [`SignalFd`] (`struct signalfd_siginfo`): the fields of
/// [`SigInfo`](super::SigInfo) in the layout signalfd uses.
#[derive(Clone, Copy)]
pub struct FdSigInfo(libc::signalfd_siginfo);

impl FdSigInfo {
    /// `ssi_signo`: the signal.
    pub fn signal(&self) -> Signal {
        // Invariant: checked to be a valid `Signal` by `try_read`, the only constructor
        // (`ssi_signo` is at most SIGRTMAX there, so the cast is lossless).
        Signal(self.0.ssi_signo as c_int)
    }

    /// `ssi_code`: where the signal came from, raw.
    pub fn code(&self) -> c_int {
        self.0.ssi_code
    }

    /// [`FdSigInfo::code`] decoded.
    pub fn origin(&self) -> Origin {
        origin_of(self.0.ssi_code)
    }

    /// `ssi_errno`.
    pub fn errno(&self) -> c_int {
        self.0.ssi_errno
    }

    /// `ssi_pid`: the sending process.
    pub fn pid(&self) -> pid_t {
        self.0.ssi_pid as pid_t
    }

    /// `ssi_uid`: the sender's real user id.
    pub fn uid(&self) -> uid_t {
        self.0.ssi_uid
    }

    /// `ssi_ptr`: the value sent with [`queue`](super::queue).
    pub fn value(&self) -> usize {
        self.0.ssi_ptr as usize
    }

    /// `ssi_int`: the value as a C `int`.
    pub fn value_int(&self) -> c_int {
        self.0.ssi_int
    }

    /// `ssi_status`: a child's exit status or signal (`SIGCHLD`).
    pub fn status(&self) -> c_int {
        self.0.ssi_status
    }

    /// `ssi_addr`: the faulting address.
    pub fn addr(&self) -> u64 {
        self.0.ssi_addr
    }

    /// `ssi_band`: the band event (`SIGIO`).
    pub fn band(&self) -> u32 {
        self.0.ssi_band
    }

    /// `ssi_fd`: the file descriptor (`SIGIO`).
    pub fn fd(&self) -> c_int {
        self.0.ssi_fd
    }

    /// The `signalfd_siginfo` itself.
    pub fn as_raw(&self) -> &libc::signalfd_siginfo {
        &self.0
    }
}

impl fmt::Debug for FdSigInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdSigInfo")
            .field("signal", &self.signal())
            .field("code", &self.code())
            .field("origin", &self.origin())
            .field("pid", &self.pid())
            .field("uid", &self.uid())
            .field("value", &self.value())
            .finish_non_exhaustive()
    }
}
