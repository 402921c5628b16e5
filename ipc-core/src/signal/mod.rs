//! Signals: a [`Signal`] type that covers the real-time signals, signal sets, actions,
//! the thread's mask, queued signals with a value, and synchronous waiting.
//!
//! Mirrors `<signal.h>`:
//! - [`Signal`]: a valid signal number, standard (`SIGUSR1`) or real-time
//!   (`SIGRTMIN+n` .. `SIGRTMAX`), which nix's enum lacks; converts from and to the C
//!   number (`c_int`).
//! - [`SigSet`]: a `sigset_t` (empty, full, add, remove, contains, iterate).
//! - [`SigAction`]: a disposition ([`get_action`], [`set_action`], [`replace_action`]);
//!   default and ignore are safe, installing a handler is `unsafe`.
//! - [`mask`]: block, unblock, set and get the calling thread's mask; [`pending`].
//! - [`kill`], [`queue`] (a value travels with a queued signal).
//! - [`wait`] (`sigtimedwait`) returning a [`SigInfo`], and [`suspend`] (`sigsuspend`).
//! - [`SignalFd`] (`signalfd`): the same signals as a pollable file descriptor, for programs
//!   with an event loop.
//!
//! # Waiting for signals synchronously
//! The usual pattern, and the only reliable one in a process with several threads: block the
//! signals in every thread (block them in the main thread *before* starting other threads,
//! which inherit the mask), then take them with [`wait`]. A process-directed signal that some
//! thread leaves unblocked is delivered to that thread instead, where the default action of
//! most signals ends the process.
//!
//! ```no_run
//! use std::time::Duration;
//! use ipc_core::signal::{self, mask, SigSet, Signal};
//!
//! let sig = Signal::rt(1)?;
//! let set: SigSet = [sig].into_iter().collect();
//! mask::block(&set)?; // before spawning threads
//! if let Some(info) = signal::wait(&set, Some(Duration::from_secs(1)))? {
//!     println!("{} from pid {} with value {}", info.signal(), info.pid(), info.value());
//! }
//! # Ok::<(), ipc_core::Error>(())
//! ```
//!
//! # Reserved signals
//! glibc uses the first two real-time signal numbers (32 and 33) internally and moves
//! `SIGRTMIN` above them; [`Signal::new`] refuses them, as glibc's `sigaddset` does.

mod action;
mod fd;
pub mod mask;
mod send;
mod set;
mod wait;

use std::fmt;

use libc::c_int;

use crate::{Error, ErrorKind, Result};

pub use action::{
    get_action, replace_action, set_action, Handler, InfoHandler, PlainHandler, SigAction,
};
pub use fd::{FdSigInfo, SignalFd};
pub use mask::pending;
pub use send::{kill, queue};
pub use set::{SigSet, SigSetIter};
pub use wait::{suspend, wait, Origin, SigInfo};

bitflags::bitflags! {
    /// The flags of a [`SigAction`] (`sa_flags`). `SA_SIGINFO` follows the handler's kind
    /// (see [`SigAction::with_flags`]).
    ///
    /// # References
    /// [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SaFlags: c_int {
        /// `SA_NOCLDSTOP`: no `SIGCHLD` when a child stops or continues.
        const SA_NOCLDSTOP = libc::SA_NOCLDSTOP;
        /// `SA_NOCLDWAIT`: children do not become zombies.
        const SA_NOCLDWAIT = libc::SA_NOCLDWAIT;
        /// `SA_NODEFER`: the signal is not blocked while its handler runs.
        const SA_NODEFER = libc::SA_NODEFER;
        /// `SA_ONSTACK`: the handler runs on the alternate signal stack.
        const SA_ONSTACK = libc::SA_ONSTACK;
        /// `SA_RESETHAND`: the disposition resets to default on entry to the handler.
        const SA_RESETHAND = libc::SA_RESETHAND;
        /// `SA_RESTART`: interrupted system calls restart.
        const SA_RESTART = libc::SA_RESTART;
        /// `SA_SIGINFO`: the handler takes three arguments.
        const SA_SIGINFO = libc::SA_SIGINFO;
    }
}

/// A valid signal number: a standard signal (1..=31) or a real-time signal
/// (`SIGRTMIN` ..= `SIGRTMAX`).
///
/// Unlike nix's `Signal` enum this covers the real-time signals; convert from and to the C
/// number (`c_int`) with `TryFrom`/`From`. The value is always a number the C library accepts, so the functions of
/// this module never see signal 0, a number above `SIGRTMAX`, or glibc's reserved ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Signal(c_int);

macro_rules! standard_signals {
    ($($konst:ident = $libc:ident,)*) => {
        impl Signal {
            $(
                #[doc = concat!("`", stringify!($libc), "`.")]
                pub const $konst: Signal = Signal(libc::$libc);
            )*
        }
        const STANDARD_NAMES: &[(c_int, &str)] = &[$((libc::$libc, stringify!($libc)),)*];
    };
}

standard_signals! {
    HUP = SIGHUP,
    INT = SIGINT,
    QUIT = SIGQUIT,
    ILL = SIGILL,
    TRAP = SIGTRAP,
    ABRT = SIGABRT,
    BUS = SIGBUS,
    FPE = SIGFPE,
    KILL = SIGKILL,
    USR1 = SIGUSR1,
    SEGV = SIGSEGV,
    USR2 = SIGUSR2,
    PIPE = SIGPIPE,
    ALRM = SIGALRM,
    TERM = SIGTERM,
    STKFLT = SIGSTKFLT,
    CHLD = SIGCHLD,
    CONT = SIGCONT,
    STOP = SIGSTOP,
    TSTP = SIGTSTP,
    TTIN = SIGTTIN,
    TTOU = SIGTTOU,
    URG = SIGURG,
    XCPU = SIGXCPU,
    XFSZ = SIGXFSZ,
    VTALRM = SIGVTALRM,
    PROF = SIGPROF,
    WINCH = SIGWINCH,
    IO = SIGIO,
    PWR = SIGPWR,
    SYS = SIGSYS,
}

/// The highest standard (non-real-time) signal number on Linux.
const LAST_STANDARD: c_int = 31;

impl Signal {
    /// The signal with number `signo`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for 0, a negative number, a number above `SIGRTMAX`, or
    /// one of the numbers between 31 and `SIGRTMIN` that glibc reserves for itself.
    pub fn new(signo: c_int) -> Result<Signal> {
        if let Some(s) = Signal::checked(signo) {
            return Ok(s);
        }
        let max = libc::SIGRTMAX();
        let why = if signo <= 0 {
            format!("signal number {signo} is not positive (signals are 1..={max})")
        } else if signo > max {
            format!("signal number {signo} is above SIGRTMAX = {max}")
        } else {
            // What `checked` refuses between 1 and SIGRTMAX: glibc's reserved numbers.
            format!(
                "signal number {signo} is reserved by the C library (below SIGRTMIN = {})",
                libc::SIGRTMIN()
            )
        };
        Err(Error::with_text("signal", ErrorKind::InvalidInput, why))
    }

    /// The signal with number `signo` if it is one [`Signal::new`] accepts. Allocates
    /// nothing and takes no lock, so a signal handler may call it.
    pub(crate) fn checked(signo: c_int) -> Option<Signal> {
        let ok = (1..=LAST_STANDARD).contains(&signo)
            || (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signo);
        ok.then_some(Signal(signo))
    }

    /// The real-time signal `SIGRTMIN + n`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] if `SIGRTMIN + n` is above `SIGRTMAX` (see
    /// [`Signal::rt_count`]).
    pub fn rt(n: u32) -> Result<Signal> {
        let count = Self::rt_count();
        if n >= count {
            return Err(Error::with_text(
                "signal",
                ErrorKind::InvalidInput,
                format!(
                    "SIGRTMIN+{n} is above SIGRTMAX (there are {count} real-time signals: \
                     SIGRTMIN+0 ..= SIGRTMIN+{})",
                    count - 1
                ),
            ));
        }
        // n < count <= 64, so the cast and the sum stay in range.
        Ok(Signal(libc::SIGRTMIN() + n as c_int))
    }

    /// `SIGRTMIN`: the first real-time signal available to programs.
    pub fn rt_min() -> Signal {
        Signal(libc::SIGRTMIN())
    }

    /// `SIGRTMAX`: the last real-time signal.
    pub fn rt_max() -> Signal {
        Signal(libc::SIGRTMAX())
    }

    /// How many real-time signals there are (`SIGRTMAX - SIGRTMIN + 1`).
    pub fn rt_count() -> u32 {
        (libc::SIGRTMAX() - libc::SIGRTMIN() + 1) as u32
    }

    /// The signal number.
    pub const fn as_raw(self) -> c_int {
        self.0
    }

    /// Whether this is a real-time signal (queued, ordered, carries a value reliably).
    pub fn is_realtime(self) -> bool {
        self.0 >= libc::SIGRTMIN()
    }

    /// `n` for the real-time signal `SIGRTMIN + n`, `None` for a standard signal.
    pub fn rt_offset(self) -> Option<u32> {
        self.is_realtime()
            .then(|| (self.0 - libc::SIGRTMIN()) as u32)
    }

    /// Whether a handler can be installed for the signal and it can be blocked or ignored
    /// (false only for `SIGKILL` and `SIGSTOP`).
    pub const fn can_be_caught(self) -> bool {
        self.0 != libc::SIGKILL && self.0 != libc::SIGSTOP
    }

    /// The refusal of `op` for `SIGKILL`/`SIGSTOP`, or `Ok` for any other signal.
    pub(crate) fn check_catchable(self, op: &'static str, what: &str) -> Result<()> {
        if self.can_be_caught() {
            Ok(())
        } else {
            Err(Error::with_text(
                op,
                ErrorKind::InvalidInput,
                format!("{self} cannot be caught, blocked or ignored, so it cannot be {what}"),
            )
            .with_name(self.to_string()))
        }
    }
}

impl fmt::Display for Signal {
    /// `SIGUSR1`, or `SIGRTMIN+n` for a real-time signal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.rt_offset() {
            return write!(f, "SIGRTMIN+{n}");
        }
        match STANDARD_NAMES.iter().find(|(n, _)| *n == self.0) {
            Some((_, name)) => f.write_str(name),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} ({})", self.0)
    }
}

impl TryFrom<c_int> for Signal {
    type Error = Error;

    /// Same as [`Signal::new`].
    fn try_from(signo: c_int) -> Result<Self> {
        Signal::new(signo)
    }
}

impl From<Signal> for c_int {
    fn from(s: Signal) -> c_int {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked() {
        assert!(Signal::new(0).is_err());
        assert!(Signal::new(-1).is_err());
        assert!(Signal::new(libc::SIGRTMAX() + 1).is_err());
        assert_eq!(Signal::new(libc::SIGUSR1).unwrap(), Signal::USR1);
        assert_eq!(Signal::new(libc::SIGRTMAX()).unwrap(), Signal::rt_max());
        for reserved in (LAST_STANDARD + 1)..libc::SIGRTMIN() {
            assert!(Signal::new(reserved).is_err(), "{reserved}");
        }
    }

    #[test]
    fn realtime_offsets_round_trip() {
        let count = Signal::rt_count();
        assert!(count >= 8, "POSIX requires at least 8 real-time signals");
        assert_eq!(Signal::rt(0).unwrap(), Signal::rt_min());
        assert_eq!(Signal::rt(count - 1).unwrap(), Signal::rt_max());
        let e = Signal::rt(count).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
        assert_eq!(Signal::rt(3).unwrap().rt_offset(), Some(3));
        assert_eq!(Signal::USR1.rt_offset(), None);
        assert_eq!(Signal::rt(3).unwrap().to_string(), "SIGRTMIN+3");
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
    }

    #[test]
    fn converts_with_c_int() {
        assert_eq!(Signal::try_from(libc::SIGUSR2).unwrap(), Signal::USR2);
        assert_eq!(c_int::from(Signal::USR2), libc::SIGUSR2);
        let e = Signal::try_from(0).unwrap_err();
        assert!(
            e.kind() == ErrorKind::InvalidInput
                && e.detail().is_some_and(|w| w.contains("not positive")),
            "{e}"
        );
    }
}
