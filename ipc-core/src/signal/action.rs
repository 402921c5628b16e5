//! [`SigAction`]: what a process does when a signal arrives.

use std::fmt;
use std::mem::MaybeUninit;

use libc::{c_int, c_void};

use super::{SaFlags, SigSet, Signal};
use crate::{Error, Result};

/// A plain signal handler: `void handler(int signo)`.
pub type PlainHandler = extern "C" fn(c_int);

/// A handler with the signal's information: `void handler(int, siginfo_t *, void *)`,
/// installed with `SA_SIGINFO`.
pub type InfoHandler = extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);

/// What a [`SigAction`] does with the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `SIG_DFL`: the signal's default action (terminate, core dump, ignore, stop, continue).
    Default,
    /// `SIG_IGN`: the signal is discarded.
    Ignore,
    /// A function at `address` (as read back from the kernel; not callable from here).
    /// `siginfo` tells whether it was installed with `SA_SIGINFO` (three arguments).
    Function {
        /// The handler's address.
        address: usize,
        /// Whether it takes the `siginfo_t` arguments (`SA_SIGINFO`).
        siginfo: bool,
    },
}

/// A signal disposition (`struct sigaction`): a [`Handler`], a mask of signals blocked while
/// the handler runs, and flags.
///
/// The default and ignore actions are safe to build and install. An action that runs a
/// function is built with the `unsafe` constructors [`SigAction::handler`] and
/// [`SigAction::siginfo_handler`], whose contract is the async-signal-safety of the function.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/sigaction.2.html>
#[derive(Clone, Copy)]
#[doc(alias = "sigaction")]
pub struct SigAction(libc::sigaction);

impl SigAction {
    fn with_handler(handler: libc::sighandler_t, siginfo: bool) -> SigAction {
        // SAFETY: `struct sigaction` is plain data (a handler address, a sigset_t, an int
        // flags word and a restorer pointer): all zeroes is a valid value of it.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = handler;
        act.sa_mask = *SigSet::empty().as_raw();
        act.sa_flags = if siginfo { libc::SA_SIGINFO } else { 0 };
        SigAction(act)
    }

    /// `SIG_DFL`: the default action, with an empty mask and no flags.
    pub fn default_action() -> SigAction {
        Self::with_handler(libc::SIG_DFL, false)
    }

    /// `SIG_IGN`: ignore the signal, with an empty mask and no flags.
    pub fn ignore() -> SigAction {
        Self::with_handler(libc::SIG_IGN, false)
    }

    /// An action that runs `f(signo)`, with an empty mask and no flags.
    ///
    /// # Safety
    /// `f` runs asynchronously, interrupting whatever the thread it lands on was doing,
    /// possibly inside `malloc`, a held lock or a half-updated data structure. The caller
    /// guarantees that `f`:
    /// - calls only async-signal-safe functions (signal-safety(7)): no allocation, no
    ///   locks (including `println!` and the stdout lock), no panics that unwind;
    /// - touches shared state only through atomics (or `volatile sig_atomic_t`);
    /// - saves and restores `errno` if it calls anything that may change it;
    /// - stays valid (is not unloaded) for as long as it is installed.
    pub unsafe fn handler(f: PlainHandler) -> SigAction {
        Self::with_handler(f as libc::sighandler_t, false)
    }

    /// An action that runs `f(signo, info, context)` with the signal's information
    /// (`SA_SIGINFO`), with an empty mask.
    ///
    /// # Safety
    /// The contract of [`SigAction::handler`]. In addition `f` only reads `*info` (valid for
    /// the call) and treats `context` as an opaque `ucontext_t` pointer.
    pub unsafe fn siginfo_handler(f: InfoHandler) -> SigAction {
        Self::with_handler(f as libc::sighandler_t, true)
    }

    /// The action with `mask`: the signals blocked (in addition to the thread's mask and,
    /// unless `SA_NODEFER`, the signal itself) while the handler runs.
    #[must_use]
    pub fn with_mask(mut self, mask: SigSet) -> SigAction {
        self.0.sa_mask = *mask.as_raw();
        self
    }

    /// The action with `flags` (`SA_RESTART`, `SA_NODEFER`, `SA_RESETHAND`, ...).
    /// `SA_SIGINFO` is not taken from `flags`: it follows the handler's kind, so a plain
    /// handler is never called with three arguments.
    #[must_use]
    pub fn with_flags(mut self, flags: SaFlags) -> SigAction {
        let siginfo = self.0.sa_flags & libc::SA_SIGINFO;
        self.0.sa_flags = (flags.bits() & !libc::SA_SIGINFO) | siginfo;
        self
    }

    /// What the action does with the signal.
    pub fn handler_kind(&self) -> Handler {
        match self.0.sa_sigaction {
            libc::SIG_DFL => Handler::Default,
            libc::SIG_IGN => Handler::Ignore,
            address => Handler::Function {
                address,
                siginfo: self.0.sa_flags & libc::SA_SIGINFO != 0,
            },
        }
    }

    /// The signals blocked while the handler runs.
    pub fn mask(&self) -> SigSet {
        SigSet::from_raw(self.0.sa_mask)
    }

    /// The action's flags (bits [`SaFlags`] does not name, such as glibc's `SA_RESTORER`, are
    /// left out).
    pub fn flags(&self) -> SaFlags {
        SaFlags::from_bits_truncate(self.0.sa_flags)
    }
}

impl fmt::Debug for SigAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigAction")
            .field("handler", &self.handler_kind())
            .field("mask", &self.mask())
            .field("flags", &self.flags())
            .finish()
    }
}

fn sigaction(sig: Signal, new: Option<&SigAction>) -> Result<SigAction> {
    let mut old = MaybeUninit::<libc::sigaction>::uninit();
    let new_ptr = new.map_or(std::ptr::null(), |a| &a.0 as *const libc::sigaction);
    // SAFETY: `sig` is a valid signal number; `new_ptr` is null or points to a valid
    // `struct sigaction` borrowed for the call; `old` is a valid out-pointer. A handler in
    // `new` was vouched for by the caller of the unsafe constructor that built it (or was
    // read back from the kernel, where someone installed it before).
    let r = unsafe { libc::sigaction(sig.as_raw(), new_ptr, old.as_mut_ptr()) };
    if r != 0 {
        return Err(Error::os("sigaction", crate::Errno::last()).with_name(sig.to_string()));
    }
    // SAFETY: sigaction succeeded, so it filled in `old`.
    Ok(SigAction(unsafe { old.assume_init() }))
}

/// `sigaction`: the current action for `sig`.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/sigaction.2.html>
#[doc(alias = "sigaction")]
pub fn get_action(sig: Signal) -> Result<SigAction> {
    sigaction(sig, None)
}

/// `sigaction`: installs `action` for `sig` (for the whole process).
///
/// # Errors
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for `SIGKILL` and `SIGSTOP`,
/// whose action cannot be changed.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/sigaction.2.html>
#[doc(alias = "sigaction")]
pub fn set_action(sig: Signal, action: &SigAction) -> Result<()> {
    replace_action(sig, action).map(drop)
}

/// `sigaction`: installs `action` for `sig` and returns the action it replaced (to restore
/// later with [`set_action`]).
///
/// # Errors
/// As [`set_action`].
///
/// # References
/// <https://man7.org/linux/man-pages/man2/sigaction.2.html>
#[doc(alias = "sigaction")]
pub fn replace_action(sig: Signal, action: &SigAction) -> Result<SigAction> {
    sig.check_catchable("sigaction", "given an action")?;
    sigaction(sig, Some(action))
}
