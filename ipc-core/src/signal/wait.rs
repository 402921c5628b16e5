//! Taking signals synchronously: [`wait`] (`sigtimedwait`) and [`suspend`] (`sigsuspend`).

use std::fmt;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use crate::Errno;
use libc::{c_int, c_long, pid_t, uid_t};

use super::{SigSet, Signal};
use crate::{Error, ErrorKind, Result};

/// Where a signal came from (`si_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// `SI_USER`: `kill` or `raise`.
    User,
    /// `SI_QUEUE`: `sigqueue` (so [`SigInfo::value`] is the sender's value).
    Queue,
    /// `SI_TIMER`: a POSIX timer expired.
    Timer,
    /// `SI_MESGQ`: a message arrived on an empty message queue with a notification
    /// registered ([`MessageQueue::notify`](crate::mq::MessageQueue::notify)).
    MessageQueue,
    /// `SI_ASYNCIO`: asynchronous I/O completed.
    AsyncIo,
    /// `SI_TKILL`: `tgkill` or `pthread_kill`.
    Tkill,
    /// `SI_KERNEL` or a positive, signal-specific code (`CLD_EXITED`, `SEGV_MAPERR`, ...):
    /// raised by the kernel. The raw code is in [`SigInfo::code`].
    Kernel,
    /// Any other code.
    Other,
}

/// What [`wait`] returns about a signal (`siginfo_t`).
///
/// Which fields mean something depends on the signal and its [`origin`](SigInfo::origin)
/// (see sigaction(2)); the others read as whatever the kernel left there (usually zero).
/// The accessors never fail: every field is a plain integer, and `si_signo` was checked to
/// be a valid [`Signal`] when the value was made.
#[derive(Clone, Copy)]
#[doc(alias = "siginfo_t")]
pub struct SigInfo(libc::siginfo_t);

impl SigInfo {
    /// `si_signo`: the signal.
    pub fn signal(&self) -> Signal {
        // Invariant: si_signo is a number `Signal::checked` accepts (see `from_raw`).
        Signal(self.0.si_signo)
    }

    /// `si_code`: where the signal came from, raw.
    pub fn code(&self) -> c_int {
        self.0.si_code
    }

    /// [`SigInfo::code`] decoded.
    pub fn origin(&self) -> Origin {
        origin_of(self.0.si_code)
    }

    /// `si_errno`: an error number associated with the signal (usually 0).
    pub fn errno(&self) -> c_int {
        self.0.si_errno
    }

    /// `si_pid`: the sending process (for [`Origin::User`], [`Origin::Queue`],
    /// [`Origin::Tkill`], [`Origin::MessageQueue`] and `SIGCHLD`).
    pub fn pid(&self) -> pid_t {
        // SAFETY: every member of the siginfo union is plain integers or pointers, so
        // reading this one is a read of initialised integer bytes whatever was written.
        unsafe { self.0.si_pid() }
    }

    /// `si_uid`: the real user id of the sender (same cases as [`SigInfo::pid`]).
    pub fn uid(&self) -> uid_t {
        // SAFETY: as in `pid`: an integer read from a union of plain-data members.
        unsafe { self.0.si_uid() }
    }

    /// `si_value.sival_ptr` as an integer: the value of [`queue`](super::queue) (or of a
    /// message-queue notification, or a timer).
    pub fn value(&self) -> usize {
        // SAFETY: as in `pid`; the pointer is only turned into its address, never used.
        unsafe { self.0.si_value() }.sival_ptr.addr()
    }

    /// `si_value.sival_int`: the value as a C `int`, as a C sender sets it with
    /// `sigqueue(pid, sig, (union sigval){ .sival_int = n })`.
    pub fn value_int(&self) -> c_int {
        // SAFETY: as in `pid`.
        unsafe { self.0.si_int() }
    }

    /// `si_status`: the exit status or signal of a child (`SIGCHLD`).
    pub fn status(&self) -> c_int {
        // SAFETY: as in `pid`.
        unsafe { self.0.si_status() }
    }

    /// `si_addr`: the faulting address (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`).
    pub fn addr(&self) -> usize {
        // SAFETY: as in `pid`; only the address is taken.
        unsafe { self.0.si_addr() }.addr()
    }

    /// `si_band`: the band event (`SIGIO`/`SIGPOLL`).
    pub fn band(&self) -> c_long {
        // SAFETY: as in `pid`.
        unsafe { self.0.si_band() }
    }

    /// `si_fd`: the file descriptor (`SIGIO`/`SIGPOLL`).
    pub fn fd(&self) -> c_int {
        // SAFETY: as in `pid`.
        unsafe { self.0.si_fd() }
    }

    /// The `siginfo_t` itself.
    pub fn as_raw(&self) -> &libc::siginfo_t {
        &self.0
    }

    /// A `SigInfo` from a `siginfo_t` received elsewhere (for example the argument of a
    /// [`siginfo_handler`](super::SigAction::siginfo_handler)), or `None` if its `si_signo`
    /// is not a valid [`Signal`] (the kernel never reports such a number).
    ///
    /// Allocates nothing and takes no lock: a signal handler may call it.
    pub fn from_raw(raw: libc::siginfo_t) -> Option<SigInfo> {
        Signal::checked(raw.si_signo).map(|_| SigInfo(raw))
    }
}

impl fmt::Debug for SigInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigInfo")
            .field("signal", &self.signal())
            .field("code", &self.code())
            .field("origin", &self.origin())
            .field("errno", &self.errno())
            .field("pid", &self.pid())
            .field("uid", &self.uid())
            .field("value", &self.value())
            .finish_non_exhaustive()
    }
}

/// Decodes `si_code` / `ssi_code`.
pub(super) fn origin_of(code: c_int) -> Origin {
    match code {
        libc::SI_USER => Origin::User,
        libc::SI_QUEUE => Origin::Queue,
        libc::SI_TIMER => Origin::Timer,
        libc::SI_MESGQ => Origin::MessageQueue,
        libc::SI_ASYNCIO => Origin::AsyncIo,
        libc::SI_TKILL => Origin::Tkill,
        c if c > 0 => Origin::Kernel,
        _ => Origin::Other,
    }
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos() as c_long,
    }
}

/// `sigtimedwait`: takes one pending signal of `set`, waiting up to `timeout`.
///
/// - `None` waits until a signal of `set` is pending (`sigwaitinfo`).
/// - `Some(Duration::ZERO)` polls: it returns at once.
/// - `Some(d)` waits up to `d`, measured on the monotonic clock (the kernel's relative
///   timeout), so wall-clock changes do not affect it.
///
/// Returns `Ok(None)` when the time ran out. The signal is removed from the pending set, and
/// its handler (if any) does not run. When a handler for another signal interrupts the wait
/// (`EINTR`), the wait resumes with the time left.
///
/// The signals of `set` must be blocked (in every thread, for a process-directed signal;
/// see [`mask`](super::mask)), or they may be delivered normally instead of being taken here.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/sigtimedwait.2.html>
#[doc(alias = "sigtimedwait", alias = "sigwaitinfo")]
pub fn wait(set: &SigSet, timeout: Option<Duration>) -> Result<Option<SigInfo>> {
    let deadline = timeout.and_then(|d| Instant::now().checked_add(d));
    loop {
        let mut info = MaybeUninit::<libc::siginfo_t>::uninit();
        let r = match (timeout, deadline) {
            (Some(_), Some(deadline)) => {
                let ts = timespec(deadline.saturating_duration_since(Instant::now()));
                // SAFETY: `set` is an initialised sigset_t, `info` a valid out-pointer and
                // `ts` a valid timespec, all live for the call.
                unsafe { libc::sigtimedwait(set.as_ptr(), info.as_mut_ptr(), &ts) }
            }
            // No timeout, or one so long that the deadline overflows: wait without limit.
            _ => {
                // SAFETY: `set` is an initialised sigset_t and `info` a valid out-pointer.
                unsafe { libc::sigwaitinfo(set.as_ptr(), info.as_mut_ptr()) }
            }
        };
        if r > 0 {
            // SAFETY: the call succeeded, so the kernel filled in `info`.
            let raw = unsafe { info.assume_init() };
            return SigInfo::from_raw(raw).map(Some).ok_or_else(|| {
                Error::with_text(
                    "sigtimedwait",
                    ErrorKind::InvalidInput,
                    format!("reported signal number {r}"),
                )
            });
        }
        match Errno::last() {
            Errno::EAGAIN => return Ok(None),
            Errno::EINTR => continue,
            e => return Err(Error::os("sigtimedwait", e)),
        }
    }
}

/// `sigsuspend`: replaces the calling thread's mask with `mask` and sleeps until a signal
/// runs a handler (or ends the process); then restores the mask and returns.
///
/// The classic race-free pattern: block a signal, check the condition its handler sets,
/// then `suspend` with a mask that unblocks it, so a signal arriving between the check and
/// the sleep is not lost. `SIGKILL` and `SIGSTOP` in `mask` are ignored by the kernel.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/sigsuspend.2.html>
#[doc(alias = "sigsuspend")]
pub fn suspend(mask: &SigSet) {
    // SAFETY: `mask` is an initialised sigset_t borrowed for the call. sigsuspend always
    // returns -1 with EINTR after a handler ran, which is the success case.
    unsafe { libc::sigsuspend(mask.as_ptr()) };
}
