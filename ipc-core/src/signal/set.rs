//! [`SigSet`]: a `sigset_t`.

use std::fmt;
use std::mem::MaybeUninit;

use super::Signal;

/// A set of signals (`sigset_t`), for masks, actions and [`wait`](super::wait).
///
/// # References
/// <https://man7.org/linux/man-pages/man3/sigsetops.3.html>
#[derive(Clone, Copy)]
#[repr(transparent)]
#[doc(alias = "sigset_t")]
pub struct SigSet(libc::sigset_t);

impl SigSet {
    /// `sigemptyset`: the set with no signal.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/sigemptyset.3.html>
    #[doc(alias = "sigemptyset")]
    pub fn empty() -> SigSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the whole sigset_t behind the valid out-pointer and
        // cannot fail for a valid pointer, so assume_init reads initialised memory.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            SigSet(set.assume_init())
        }
    }

    /// `sigfillset` without `SIGKILL` and `SIGSTOP`: every signal that can be blocked.
    ///
    /// The two signals that cannot be caught, blocked or ignored are left out so that
    /// `mask::block(&SigSet::full())` means what it says (and is not refused). glibc also
    /// leaves out its two reserved real-time signals.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/sigfillset.3.html>
    #[doc(alias = "sigfillset")]
    pub fn full() -> SigSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises the whole sigset_t behind the valid out-pointer and
        // cannot fail for a valid pointer, so assume_init reads initialised memory.
        let mut set = unsafe {
            libc::sigfillset(set.as_mut_ptr());
            SigSet(set.assume_init())
        };
        set.remove(Signal::KILL);
        set.remove(Signal::STOP);
        set
    }

    /// `sigaddset`: adds `signal`.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/sigaddset.3.html>
    #[doc(alias = "sigaddset")]
    pub fn add(&mut self, signal: Signal) {
        // SAFETY: self.0 is an initialised sigset_t we borrow mutably; `Signal` is always a
        // number in 1..=SIGRTMAX that glibc accepts, so the call cannot fail.
        unsafe { libc::sigaddset(&mut self.0, signal.as_raw()) };
    }

    /// The set with `signal` added (builder form of [`SigSet::add`]).
    #[must_use]
    pub fn with(mut self, signal: Signal) -> SigSet {
        self.add(signal);
        self
    }

    /// `sigdelset`: removes `signal`.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/sigdelset.3.html>
    #[doc(alias = "sigdelset")]
    pub fn remove(&mut self, signal: Signal) {
        // SAFETY: as in `add`: a valid, initialised set and a signal number glibc accepts.
        unsafe { libc::sigdelset(&mut self.0, signal.as_raw()) };
    }

    /// `sigismember`: whether `signal` is in the set.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/sigismember.3.html>
    #[doc(alias = "sigismember")]
    pub fn contains(&self, signal: Signal) -> bool {
        // SAFETY: a valid, initialised set read through a shared reference, and a signal
        // number glibc accepts (so the result is 0 or 1, never -1).
        unsafe { libc::sigismember(&self.0, signal.as_raw()) == 1 }
    }

    /// Whether the set holds no signal.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The signals in the set, in increasing order.
    pub fn iter(&self) -> SigSetIter<'_> {
        SigSetIter {
            set: self,
            next: 1,
            max: libc::SIGRTMAX(),
        }
    }

    /// A pointer to the `sigset_t`, for calls this crate does not wrap.
    pub fn as_ptr(&self) -> *const libc::sigset_t {
        &self.0
    }

    /// The set as a `sigset_t`.
    pub fn as_raw(&self) -> &libc::sigset_t {
        &self.0
    }

    /// A set from a `sigset_t` obtained from the C library (every bit pattern is a valid
    /// `sigset_t`).
    pub fn from_raw(raw: libc::sigset_t) -> SigSet {
        SigSet(raw)
    }
}

impl Default for SigSet {
    /// The empty set.
    fn default() -> Self {
        SigSet::empty()
    }
}

impl PartialEq for SigSet {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SigSet {}

impl fmt::Debug for SigSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Signal> for SigSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> Self {
        let mut set = SigSet::empty();
        set.extend(iter);
        set
    }
}

impl Extend<Signal> for SigSet {
    fn extend<I: IntoIterator<Item = Signal>>(&mut self, iter: I) {
        for s in iter {
            self.add(s);
        }
    }
}

impl<'a> IntoIterator for &'a SigSet {
    type Item = Signal;
    type IntoIter = SigSetIter<'a>;
    fn into_iter(self) -> SigSetIter<'a> {
        self.iter()
    }
}

/// The signals of a [`SigSet`], in increasing order ([`SigSet::iter`]).
#[derive(Debug, Clone)]
pub struct SigSetIter<'a> {
    set: &'a SigSet,
    next: libc::c_int,
    max: libc::c_int,
}

impl Iterator for SigSetIter<'_> {
    type Item = Signal;
    fn next(&mut self) -> Option<Signal> {
        while self.next <= self.max {
            let n = self.next;
            self.next += 1;
            // Numbers that are not valid `Signal`s (glibc's reserved ones) are never reported.
            if let Some(s) = Signal::checked(n) {
                if self.set.contains(s) {
                    return Some(s);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let rt = Signal::rt(2).unwrap();
        let mut s = SigSet::empty();
        assert!(s.is_empty());
        assert!(!s.contains(Signal::USR1));
        s.add(Signal::USR1);
        s.add(rt);
        assert!(s.contains(Signal::USR1) && s.contains(rt));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Signal::USR1, rt]);
        s.remove(Signal::USR1);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![rt]);
        assert_eq!(s, [rt].into_iter().collect());
        assert_ne!(s, SigSet::empty());
    }

    #[test]
    fn full_is_everything_blockable() {
        let full = SigSet::full();
        assert!(!full.contains(Signal::KILL));
        assert!(!full.contains(Signal::STOP));
        assert!(full.contains(Signal::USR1));
        assert!(full.contains(Signal::rt_max()));
        // 31 standard signals minus KILL and STOP, plus every real-time one.
        assert_eq!(full.iter().count(), 29 + Signal::rt_count() as usize);
    }
}
