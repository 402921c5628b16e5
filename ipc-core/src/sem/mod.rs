//! POSIX semaphores: [`Semaphore`], initialised in place inside shared memory
//! (`sem_init` with `pshared`), and [`NamedSemaphore`] (`sem_open`), with an RAII
//! [`SemGuard`] that acquires a unit and releases it on drop (posix_ipc's context manager).
//!
//! Waits are measured on CLOCK_MONOTONIC (`sem_clockwait`); a zero timeout tries once; a
//! timeout too large for a `timespec` waits for ever. Semaphores have no owner: a process
//! that dies between `wait` and `post` takes its unit with it.
//!
//! # References
//! - <https://man7.org/linux/man-pages/man7/sem_overview.7.html>

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::marker::PhantomData;
use std::time::Duration;

use crate::Errno;

use crate::layout::{SharedLayout, TypeLayout};
use crate::process::Owner;
use crate::sys;
use crate::{Error, ErrorKind, Result};

mod named;

pub use named::{unlink, NamedSemaphore, SemOptions};

/// `SEM_VALUE_MAX`: the largest value a semaphore can hold on Linux (glibc's
/// `SEM_VALUE_MAX`, `INT_MAX`).
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

/// The operations shared by both kinds, on a raw `sem_t` pointer.
mod raw {
    use super::*;

    /// The error of a failed semaphore call, with the kinds callers act on.
    pub(super) fn err(op: &'static str, e: Errno) -> Error {
        match e {
            Errno::EOVERFLOW => Error::with_text(
                op,
                ErrorKind::LimitReached,
                "semaphore value at SEM_VALUE_MAX",
            ),
            e => Error::os(op, e),
        }
    }

    /// `sem_post`.
    ///
    /// # Safety
    /// `s` points to an initialised semaphore that stays valid for the call.
    #[inline]
    pub(super) unsafe fn post(s: *mut libc::sem_t) -> Result<()> {
        // SAFETY: `s` is a valid initialised semaphore (caller's contract).
        if unsafe { libc::sem_post(s) } == 0 {
            Ok(())
        } else {
            Err(err("sem_post", Errno::last()))
        }
    }

    /// One `sem_trywait`, returning 0 or the error number.
    ///
    /// # Safety
    /// As [`post`].
    #[inline]
    unsafe fn try_once(s: *mut libc::sem_t) -> c_int {
        // SAFETY: `s` is a valid initialised semaphore (caller's contract).
        if unsafe { libc::sem_trywait(s) } == 0 {
            0
        } else {
            Errno::last_raw()
        }
    }

    /// After a `sem_trywait` found the value 0: a few more, each after a short growing
    /// backoff; `EAGAIN` if the value stayed 0.
    ///
    /// # Safety
    /// As [`post`].
    unsafe fn spin_try(s: *mut libc::sem_t) -> c_int {
        let mut r = libc::EAGAIN;
        let mut i = 0;
        while r == libc::EAGAIN && i < sys::SPIN_TRIES {
            sys::backoff(i);
            // SAFETY: forwarded.
            r = unsafe { try_once(s) };
            i += 1;
        }
        r
    }

    /// `sem_wait`: one `sem_trywait` inline; if the value is 0, the out-of-line slow path.
    ///
    /// # Safety
    /// As [`post`].
    #[inline]
    pub(super) unsafe fn wait(s: *mut libc::sem_t) -> Result<()> {
        // SAFETY: forwarded.
        match unsafe { try_once(s) } {
            0 => Ok(()),
            // SAFETY: forwarded.
            libc::EAGAIN => unsafe { wait_contended(s) },
            e => Err(err("sem_wait", Errno::from_raw(e))),
        }
    }

    /// The slow path of [`wait`]: a brief spin, then `sem_wait`, retrying on `EINTR`.
    ///
    /// # Safety
    /// As [`post`].
    #[cold]
    #[inline(never)]
    unsafe fn wait_contended(s: *mut libc::sem_t) -> Result<()> {
        // SAFETY: forwarded.
        match unsafe { spin_try(s) } {
            0 => return Ok(()),
            libc::EAGAIN => {}
            e => return Err(err("sem_wait", Errno::from_raw(e))),
        }
        loop {
            // SAFETY: `s` is a valid initialised semaphore (caller's contract).
            if unsafe { libc::sem_wait(s) } == 0 {
                return Ok(());
            }
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(err("sem_wait", e)),
            }
        }
    }

    /// `sem_trywait`.
    ///
    /// # Safety
    /// As [`post`].
    #[inline]
    pub(super) unsafe fn try_wait(s: *mut libc::sem_t) -> Result<()> {
        // SAFETY: forwarded.
        match unsafe { try_once(s) } {
            0 => Ok(()),
            libc::EAGAIN => Err(Error::new("sem_trywait", ErrorKind::WouldBlock)),
            e => Err(err("sem_trywait", Errno::from_raw(e))),
        }
    }

    /// `sem_clockwait` on CLOCK_MONOTONIC.
    ///
    /// # Safety
    /// As [`post`].
    pub(super) unsafe fn wait_timeout(s: *mut libc::sem_t, d: Duration) -> Result<()> {
        const OP: &str = "sem_clockwait";
        // SAFETY: forwarded.
        let mut r = unsafe { try_once(s) };
        if r == libc::EAGAIN && !d.is_zero() {
            // SAFETY: forwarded.
            r = unsafe { spin_try(s) };
        }
        match r {
            0 => return Ok(()),
            libc::EAGAIN if !d.is_zero() => {}
            libc::EAGAIN => return Err(Error::new(OP, ErrorKind::Timeout)),
            e => return Err(err(OP, Errno::from_raw(e))),
        }
        let r = match sys::sem_clockwait() {
            Some(clockwait) => {
                let abs = sys::monotonic_after(d);
                loop {
                    // SAFETY: `clockwait` is glibc's sem_clockwait; `s` is a valid initialised
                    // semaphore (caller's contract); `abs` is a valid timespec alive for the
                    // call.
                    if unsafe { clockwait(s, libc::CLOCK_MONOTONIC, &abs) } == 0 {
                        break 0;
                    }
                    match Errno::last_raw() {
                        libc::EINTR => continue,
                        e => break e,
                    }
                }
            }
            // SAFETY: forwarded.
            None => sys::poll_until(d, libc::EAGAIN, || unsafe { try_once(s) }),
        };
        match r {
            0 => Ok(()),
            libc::EAGAIN => Err(Error::new(OP, ErrorKind::Timeout)),
            e => Err(err(OP, Errno::from_raw(e))),
        }
    }

    /// `sem_getvalue`.
    ///
    /// # Safety
    /// As [`post`].
    pub(super) unsafe fn value(s: *mut libc::sem_t) -> u32 {
        let mut v: c_int = 0;
        // SAFETY: `s` is a valid initialised semaphore (caller's contract); `v` is a valid
        // out-pointer. glibc's sem_getvalue cannot fail for a valid semaphore.
        unsafe { libc::sem_getvalue(s, &mut v) };
        // glibc never reports waiters as a negative value; clamp anyway.
        u32::try_from(v).unwrap_or(0)
    }
}

/// Checks an initial value against [`SEM_VALUE_MAX`].
pub(crate) fn check_value(op: &'static str, value: u32) -> Result<()> {
    if value > SEM_VALUE_MAX {
        return Err(Error::with_text(
            op,
            ErrorKind::InvalidInput,
            format!("initial value {value} exceeds SEM_VALUE_MAX ({SEM_VALUE_MAX})"),
        ));
    }
    Ok(())
}

/// A counting semaphore that lives in shared memory and works across processes: a `sem_t`
/// initialised with `sem_init(pshared = 1)`.
///
/// Created only in place, by [`SharedLayout::init_in_place`] (value 0) or
/// [`init_in_place_with`](Self::init_in_place_with), and never moved afterwards.
///
/// # References
/// - <https://man7.org/linux/man-pages/man3/sem_init.3.html>
#[repr(transparent)]
#[doc(alias = "sem_t")]
pub struct Semaphore {
    inner: UnsafeCell<libc::sem_t>,
}

// SAFETY: every operation goes through the sem_* calls, which are atomic with respect to
// each other in any thread and process.
unsafe impl Sync for Semaphore {}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

// SAFETY: 1. repr(transparent) over `sem_t`, a repr(C) byte array in `libc`; 2. valid for
// every bit pattern as Rust data (glibc's process-shared sem_t is a 64-bit count/waiters word
// and a private flag); 3. no pointer; 4. no Drop (sem_destroy is a no-op on Linux);
// 5. LAYOUT names its exact size and alignment.
unsafe impl SharedLayout for Semaphore {
    const LAYOUT: TypeLayout = TypeLayout::opaque(
        "Semaphore",
        std::mem::size_of::<Self>(),
        std::mem::align_of::<Self>(),
    );

    /// `sem_init(this, 1, 0)`.
    ///
    /// # Safety
    /// As [`SharedLayout::init_in_place`].
    unsafe fn init_in_place(this: *mut Self) -> Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { Self::init_in_place_with(this, 0) }
    }
}

impl Semaphore {
    /// `sem_init` with `pshared = 1`: turns the memory at `this` into a process-shared
    /// semaphore holding `value`.
    ///
    /// # Errors
    /// [`InvalidInput`](ErrorKind::InvalidInput) when `value > SEM_VALUE_MAX`.
    ///
    /// # Safety
    /// `this` is valid for writes of `size_of::<Semaphore>()` bytes and aligned, and no other
    /// thread or process uses it until this returns (re-initialising a semaphore that others
    /// wait on is undefined behaviour in C terms).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_init.3.html>
    #[doc(alias = "sem_init")]
    pub unsafe fn init_in_place_with(this: *mut Self, value: u32) -> Result<()> {
        check_value("sem_init", value)?;
        // SAFETY: `this` is valid for writes and aligned (caller's contract); `UnsafeCell<T>`
        // has the layout of `T`, so the cast addresses the `sem_t`.
        if unsafe { libc::sem_init(this.cast::<libc::sem_t>(), 1, value) } == 0 {
            Ok(())
        } else {
            Err(Error::os("sem_init", Errno::last()))
        }
    }

    #[inline]
    fn raw(&self) -> *mut libc::sem_t {
        self.inner.get()
    }

    /// `sem_post`: increments the value, waking one waiter.
    ///
    /// # Errors
    /// [`LimitReached`](ErrorKind::LimitReached) when the value is [`SEM_VALUE_MAX`].
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_post.3.html>
    #[doc(alias = "sem_post")]
    #[inline]
    pub fn post(&self) -> Result<()> {
        // SAFETY: `self` is an initialised semaphore (reachable by reference only after
        // in-place initialisation) that does not move while borrowed.
        unsafe { raw::post(self.raw()) }
    }

    /// `sem_wait`: decrements the value, sleeping while it is 0 (after a brief spin).
    /// Signals do not interrupt it.
    ///
    /// # Errors
    /// OS errors (`EINVAL` for memory that is not an initialised semaphore).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_wait.3.html>
    #[doc(alias = "sem_wait")]
    #[inline]
    pub fn wait(&self) -> Result<()> {
        // SAFETY: as in `post`.
        unsafe { raw::wait(self.raw()) }
    }

    /// `sem_trywait`: decrements the value if it is above 0, without waiting.
    ///
    /// # Errors
    /// [`WouldBlock`](ErrorKind::WouldBlock) when the value is 0.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_wait.3.html>
    #[doc(alias = "sem_trywait")]
    #[inline]
    pub fn try_wait(&self) -> Result<()> {
        // SAFETY: as in `post`.
        unsafe { raw::try_wait(self.raw()) }
    }

    /// `sem_clockwait` on CLOCK_MONOTONIC: decrements the value, waiting at most `d` for it
    /// to rise above 0 (zero: try once).
    ///
    /// # Errors
    /// [`Timeout`](ErrorKind::Timeout) when `d` passed.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_wait.3.html> (glibc's `sem_clockwait`
    ///   is `sem_timedwait` with the clock as an extra argument)
    #[doc(alias = "sem_clockwait")]
    #[doc(alias = "sem_timedwait")]
    pub fn wait_timeout(&self, d: Duration) -> Result<()> {
        // SAFETY: as in `post`.
        unsafe { raw::wait_timeout(self.raw(), d) }
    }

    /// `sem_getvalue`: the current value (a snapshot that may change at once).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_getvalue.3.html>
    #[doc(alias = "sem_getvalue")]
    pub fn value(&self) -> u32 {
        // SAFETY: as in `post`.
        unsafe { raw::value(self.raw()) }
    }

    /// [`wait`](Self::wait), returning a guard that [`post`](Self::post)s on drop.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn guard(&self) -> Result<SemGuard<'_>> {
        self.wait()?;
        Ok(SemGuard::new(self.raw()))
    }

    /// [`wait_timeout`](Self::wait_timeout), returning a guard that posts on drop.
    ///
    /// # Errors
    /// As [`wait_timeout`](Self::wait_timeout).
    pub fn guard_timeout(&self, d: Duration) -> Result<SemGuard<'_>> {
        self.wait_timeout(d)?;
        Ok(SemGuard::new(self.raw()))
    }
}

/// A unit taken from a semaphore, given back (`sem_post`) on drop.
#[must_use = "the unit is given back as soon as the guard is dropped"]
pub struct SemGuard<'a> {
    sem: *mut libc::sem_t,
    /// The process that took the unit: a copy inherited by a forked child does not post.
    owner: Owner,
    _borrow: PhantomData<&'a ()>,
}

// SAFETY: posting a semaphore from any thread is allowed (semaphores have no owner), and
// the pointer stays valid for 'a, borrowed from the semaphore that created the guard.
unsafe impl Send for SemGuard<'_> {}
// SAFETY: `&SemGuard` exposes nothing.
unsafe impl Sync for SemGuard<'_> {}

impl SemGuard<'_> {
    fn new(sem: *mut libc::sem_t) -> Self {
        SemGuard {
            sem,
            owner: Owner::current(),
            _borrow: PhantomData,
        }
    }

    /// Keeps the unit: drops the guard without posting.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl std::fmt::Debug for SemGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SemGuard")
    }
}

impl Drop for SemGuard<'_> {
    fn drop(&mut self) {
        // A forked child's copy: the unit is the parent's (crate::process).
        if !self.owner.is_current() {
            return;
        }
        // SAFETY: the semaphore outlives the guard ('a borrows it). The only failure is
        // EOVERFLOW, impossible since this guard's own wait took a unit.
        let _ = unsafe { raw::post(self.sem) };
    }
}
