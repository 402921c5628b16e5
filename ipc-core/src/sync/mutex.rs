//! [`RawMutex`]: a robust, process-shared `pthread_mutex_t`, and its RAII [`MutexGuard`].

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::Errno;

use super::shim::LockWord;
use super::{sys, Acquired};
use crate::layout::{SharedLayout, TypeLayout};
use crate::{Error, Result};

/// glibc's `FUTEX_WAITERS` bit of a robust mutex's lock word: somebody sleeps on it.
const FUTEX_WAITERS: u32 = 0x8000_0000;
/// glibc's mask of the owner's TID in a robust mutex's lock word.
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// Releases a glibc robust lock word that glibc's trylock leaked to thread `tid` (see
/// `RawMutex::release_after_notrecoverable_trylock`): if `word` holds `tid`, stores 0 and
/// wakes the sleepers if the waiters bit was set; otherwise does nothing.
///
/// Generic over the word so that the loom model (`tests/loom_mutex.rs`) runs this code.
pub(crate) fn release_leaked_lock_word<W: LockWord + ?Sized>(word: &W, tid: u32) {
    // Acquire: pairs with the Release of whoever last changed the word.
    if word.load_word(Ordering::Acquire) & FUTEX_TID_MASK == tid {
        // Nobody else can take the word while it holds our TID; others may only add the
        // waiters bit, which the swap captures. Release: pairs with the next locker's
        // acquiring CAS, as glibc's unlock does.
        let old = word.swap_word(0, Ordering::Release);
        if old & FUTEX_WAITERS != 0 {
            word.wake_all();
        }
    }
}

/// Options for [`RawMutex::init_in_place_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MutexOptions {
    /// `PTHREAD_PRIO_INHERIT`: a low-priority owner runs at the priority of the
    /// highest-priority waiter while it holds the mutex (needs the kernel's PI futexes).
    pub priority_inherit: bool,
}

impl MutexOptions {
    /// The defaults: robust, process-shared, error-checking, no priority inheritance.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`priority_inherit`](Self::priority_inherit).
    #[must_use]
    pub fn priority_inherit(mut self, on: bool) -> Self {
        self.priority_inherit = on;
        self
    }
}

/// A mutex that lives in shared memory and works across processes: a `pthread_mutex_t`
/// initialised with `PTHREAD_PROCESS_SHARED`, `PTHREAD_MUTEX_ROBUST` and
/// `PTHREAD_MUTEX_ERRORCHECK`.
///
/// - **Robust**: when the owner dies holding it, the next locker gets it with
///   [`Acquired::OwnerDied`], repairs the state it protects and calls
///   [`mark_consistent`](Self::mark_consistent). Unlocking without that makes the mutex
///   unrecoverable: every later acquire returns
///   [`ErrorKind::Unrecoverable`](crate::ErrorKind::Unrecoverable) at once.
/// - **Error-checking**: locking it again from the thread that holds it returns an error
///   (`EDEADLK`) instead of deadlocking.
/// - It holds no data; pair it with the data it protects (as `SharedMutex<T>` in
///   `ipc-collections` does), or use [`guard`](Self::guard) for an RAII unlock.
///
/// It is created only in place, in shared memory, by
/// [`SharedLayout::init_in_place`] or [`init_in_place_with`](Self::init_in_place_with), and
/// must never be moved afterwards.
///
/// # References
/// - <https://man7.org/linux/man-pages/man3/pthread_mutexattr_setrobust.3.html>
/// - <https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html>
#[repr(transparent)]
#[doc(alias = "pthread_mutex_t")]
pub struct RawMutex {
    inner: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: every operation goes through the pthread calls, which synchronise concurrent use
// from any thread (and any process); the struct is never accessed as plain data.
unsafe impl Sync for RawMutex {}

impl std::fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawMutex").finish_non_exhaustive()
    }
}

// SAFETY: 1. repr(transparent) over `pthread_mutex_t`, a repr(C) byte array in `libc`;
// 2. that array is valid for every bit pattern as far as Rust is concerned (no Rust code
// reads it as anything but bytes handed to glibc and the futex word, an atomic u32);
// 3. no process ever dereferences a pointer stored in it on another process's behalf: the
// lock state is the owner's TID and flag bits. While a thread holds a robust mutex, glibc
// does link it into that thread's robust list through the mutex's `__list` field, which
// then holds addresses in the *owner's* address space; only the owner's glibc (at unlock)
// and the kernel (when the owner dies, walking the owner's list in the owner's memory)
// follow them, and both are gone or done by the time another process acquires it, so the
// pointers are never meaningful to, nor used by, anybody else. (A peer that overwrites
// the bytes of a held mutex can corrupt its owner through those pointers: that is a peer
// writing a lock's bytes outside the lock's API, which the trust model leaves out.)
// 4. no Drop (a process-shared mutex needs no destroy on Linux);
// 5. LAYOUT names its exact size and alignment.
unsafe impl SharedLayout for RawMutex {
    const LAYOUT: TypeLayout = TypeLayout::opaque(
        "RawMutex",
        std::mem::size_of::<Self>(),
        std::mem::align_of::<Self>(),
    );

    /// `pthread_mutex_init` with the default [`MutexOptions`].
    ///
    /// # Safety
    /// As [`SharedLayout::init_in_place`]: `this` is valid for writes, aligned, and no other
    /// thread or process uses it until this returns.
    unsafe fn init_in_place(this: *mut Self) -> Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { Self::init_in_place_with(this, MutexOptions::default()) }
    }
}

/// Maps the return value of a lock call.
#[inline]
fn acquired(op: &'static str, r: c_int) -> Result<Acquired> {
    match r {
        0 => Ok(Acquired::Clean),
        libc::EOWNERDEAD => Ok(Acquired::OwnerDied),
        e => Err(Error::os(op, Errno::from_raw(e))),
    }
}

/// Checks the return value of a `pthread_mutexattr_*` call.
fn attr(op: &'static str, r: c_int) -> Result<()> {
    match r {
        0 => Ok(()),
        e => Err(Error::os(op, Errno::from_raw(e))),
    }
}

impl RawMutex {
    /// `pthread_mutex_init`: turns the memory at `this` into an unlocked robust,
    /// process-shared, error-checking mutex, with the given options.
    ///
    /// # Errors
    /// The OS error of `pthread_mutexattr_*` or `pthread_mutex_init` (e.g. `ENOTSUP` when
    /// priority inheritance is asked for on a kernel without PI futexes).
    ///
    /// # Safety
    /// `this` is valid for writes of `size_of::<RawMutex>()` bytes and aligned, and no other
    /// thread or process uses the memory until this returns. Re-initialising a mutex that
    /// someone holds or waits on is undefined behaviour in C terms; only the creator of a
    /// segment, before publishing it, may call this.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_init.3p.html>
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutexattr_setrobust.3.html>
    #[doc(alias = "pthread_mutex_init")]
    pub unsafe fn init_in_place_with(this: *mut Self, opts: MutexOptions) -> Result<()> {
        let mut a = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `a` is valid for writes of a `pthread_mutexattr_t`.
        attr("pthread_mutexattr_init", unsafe {
            libc::pthread_mutexattr_init(a.as_mut_ptr())
        })?;
        let res = (|| {
            let a = a.as_mut_ptr();
            // SAFETY: `a` was initialised by pthread_mutexattr_init above and is destroyed
            // only after this closure returns (the same holds for the calls below).
            attr("pthread_mutexattr_setpshared", unsafe {
                libc::pthread_mutexattr_setpshared(a, libc::PTHREAD_PROCESS_SHARED)
            })?;
            // SAFETY: as above.
            attr("pthread_mutexattr_setrobust", unsafe {
                libc::pthread_mutexattr_setrobust(a, libc::PTHREAD_MUTEX_ROBUST)
            })?;
            // SAFETY: as above.
            attr("pthread_mutexattr_settype", unsafe {
                libc::pthread_mutexattr_settype(a, libc::PTHREAD_MUTEX_ERRORCHECK)
            })?;
            if opts.priority_inherit {
                // SAFETY: as above.
                attr("pthread_mutexattr_setprotocol", unsafe {
                    libc::pthread_mutexattr_setprotocol(a, libc::PTHREAD_PRIO_INHERIT)
                })?;
            }
            // SAFETY: `this` is valid for writes and aligned, and unused by others (this
            // function's contract); `UnsafeCell<T>` has the layout of `T`, so the cast
            // pointer addresses the `pthread_mutex_t`; `a` is an initialised attribute.
            attr("pthread_mutex_init", unsafe {
                libc::pthread_mutex_init(this.cast::<libc::pthread_mutex_t>(), a)
            })
        })();
        // SAFETY: `a` was initialised above and is not used after this.
        unsafe { libc::pthread_mutexattr_destroy(a.as_mut_ptr()) };
        res
    }

    #[inline]
    fn raw(&self) -> *mut libc::pthread_mutex_t {
        self.inner.get()
    }

    /// glibc's futex word `__lock`, the first `int` of `pthread_mutex_t` (public ABI:
    /// `PTHREAD_MUTEX_INITIALIZER` spells out the struct): 0 when free, else the owner's TID
    /// and flag bits.
    #[inline]
    fn futex_word(&self) -> &AtomicU32 {
        // SAFETY: the mutex memory is valid and aligned for the borrow of `self`
        // (`pthread_mutex_t` is 8-aligned, more than `AtomicU32` needs); its first 4 bytes
        // are glibc's futex word, which glibc and the kernel only access atomically, so an
        // atomic view of them races with nothing non-atomic.
        unsafe { &*self.raw().cast::<AtomicU32>() }
    }

    /// One `pthread_mutex_trylock`, returning its error number.
    #[inline]
    fn trylock_raw(&self) -> c_int {
        // SAFETY: `self` is an initialised mutex (it can only be reached through a reference
        // after in-place initialisation) that is never moved while borrowed.
        let r = unsafe { libc::pthread_mutex_trylock(self.raw()) };
        if r == libc::ENOTRECOVERABLE {
            self.release_after_notrecoverable_trylock();
        }
        r
    }

    /// Works around a glibc bug: `pthread_mutex_trylock` on a robust, non-PI mutex in the
    /// not-recoverable state takes the futex word (stores the caller's TID in it), sees the
    /// not-recoverable mark, and returns `ENOTRECOVERABLE` *without* releasing the word
    /// (glibc 2.36 `pthread_mutex_trylock.c` only releases it `if (oldval == id)`, and
    /// `oldval` is 0 there). Every later `pthread_mutex_lock` in any process then sleeps on
    /// the word for ever instead of failing, and since the mutex is not on the caller's
    /// robust list, not even the caller's death frees it. (`pthread_mutex_lock` and the
    /// timed forms release the word correctly, and so does the PI variant of trylock.)
    ///
    /// If the futex word holds this thread's TID after `ENOTRECOVERABLE`, this thread cannot
    /// really hold the mutex (an error-checking mutex would have said `EDEADLK` first), so it
    /// is the leaked word: release it as glibc's own unlock does (store 0, wake the sleepers
    /// if the waiters bit is set); the woken lockers then see the not-recoverable mark and
    /// fail at once.
    ///
    /// Why this is safe against concurrent lockers (also checked by the loom model in
    /// `tests/loom_mutex.rs`, which runs [`release_leaked_lock_word`] against a model of
    /// glibc's robust lock): while the word holds our TID, no other thread can take it
    /// (glibc's lockers only CAS it from 0) and no other thread clears it (only the owner
    /// unlocks, and the kernel's robust-list cleanup only runs for a dead thread, whose TID
    /// this is not); other lockers only add the waiters bit, which the swap returns. So the
    /// swap releases exactly the leaked hold and wakes whoever queued behind it. Each woken
    /// locker takes the word, sees the not-recoverable mark, releases the word and fails.
    ///
    /// What is left: if this thread dies between glibc's return and the swap, the word stays
    /// leaked (the mutex is not on our robust list); the window is a few instructions.
    #[cold]
    fn release_after_notrecoverable_trylock(&self) {
        // SAFETY: gettid has no preconditions and cannot fail.
        let tid = unsafe { libc::gettid() } as u32;
        release_leaked_lock_word(self.futex_word(), tid);
    }

    /// After a trylock found it held: tries again a few times with a short backoff before
    /// each try; `EBUSY` if it stayed held.
    #[inline]
    fn spin_trylock(&self) -> c_int {
        let mut r = libc::EBUSY;
        let mut i = 0;
        while r == libc::EBUSY && i < sys::SPIN_TRIES {
            sys::backoff(i);
            r = self.trylock_raw();
            i += 1;
        }
        r
    }

    /// The contended path of [`lock`](Self::lock): spin briefly, then sleep in
    /// `pthread_mutex_lock`. Kept out of line so the uncontended path is one inlined trylock.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self) -> Result<Acquired> {
        let r = self.spin_trylock();
        if r != libc::EBUSY {
            return acquired("pthread_mutex_lock", r);
        }
        // SAFETY: `self` is an initialised mutex that does not move while borrowed.
        acquired("pthread_mutex_lock", unsafe {
            libc::pthread_mutex_lock(self.raw())
        })
    }

    /// `pthread_mutex_lock`: acquires the mutex, sleeping while another thread or process
    /// holds it (after a brief spin).
    ///
    /// Returns [`Acquired::OwnerDied`] when the previous owner died holding it: the caller
    /// holds it now, must repair the protected state and call
    /// [`mark_consistent`](Self::mark_consistent) before [`unlock`](Self::unlock).
    ///
    /// # Errors
    /// - [`Unrecoverable`](crate::ErrorKind::Unrecoverable), at once, when an earlier owner
    ///   died and the next one unlocked without marking it consistent;
    /// - [`Os`](crate::ErrorKind::Os)`(EDEADLK)` when this thread already holds it;
    /// - other OS errors (`EINVAL` for memory that is not an initialised mutex).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html>
    #[doc(alias = "pthread_mutex_lock")]
    #[inline]
    pub fn lock(&self) -> Result<Acquired> {
        // trylock first: glibc's robust trylock path is a little cheaper than its lock path
        // when the mutex is free; while it is held, spin briefly, then sleep (out of line).
        match self.trylock_raw() {
            0 => Ok(Acquired::Clean),
            libc::EBUSY => self.lock_contended(),
            r => acquired("pthread_mutex_lock", r),
        }
    }

    /// `pthread_mutex_trylock`: acquires the mutex if nobody holds it, without waiting.
    ///
    /// # Errors
    /// [`WouldBlock`](crate::ErrorKind::WouldBlock) when it is held (`EBUSY`), otherwise as
    /// [`lock`](Self::lock).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_trylock.3p.html>
    #[doc(alias = "pthread_mutex_trylock")]
    #[inline]
    pub fn try_lock(&self) -> Result<Acquired> {
        match self.trylock_raw() {
            libc::EBUSY => Err(Error::new(
                "pthread_mutex_trylock",
                crate::ErrorKind::WouldBlock,
            )),
            r => acquired("pthread_mutex_trylock", r),
        }
    }

    /// `pthread_mutex_clocklock` on CLOCK_MONOTONIC: acquires the mutex, waiting at most `d`.
    ///
    /// A zero `d` tries once. A `d` too large for a `timespec` waits for ever.
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout) when `d` passed with the mutex still held
    /// (also for a zero `d`), otherwise as [`lock`](Self::lock).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_timedlock.3p.html> (glibc's
    ///   `pthread_mutex_clocklock` takes the clock as an extra argument)
    #[doc(alias = "pthread_mutex_clocklock")]
    #[doc(alias = "pthread_mutex_timedlock")]
    pub fn lock_timeout(&self, d: Duration) -> Result<Acquired> {
        const OP: &str = "pthread_mutex_clocklock";
        let mut r = self.trylock_raw();
        if r == libc::EBUSY && !d.is_zero() {
            r = self.spin_trylock();
        }
        if r != libc::EBUSY {
            return acquired(OP, r);
        }
        if d.is_zero() {
            return Err(Error::new(OP, crate::ErrorKind::Timeout));
        }
        let r = match sys::mutex_clocklock() {
            Some(clocklock) => {
                let abs = sys::monotonic_after(d);
                // SAFETY: `clocklock` is glibc's pthread_mutex_clocklock; `self` is an
                // initialised mutex that does not move while borrowed; `abs` is a valid
                // timespec (tv_nsec < 1e9) alive for the call.
                unsafe { clocklock(self.raw(), libc::CLOCK_MONOTONIC, &abs) }
            }
            None => sys::poll_until(d, libc::EBUSY, || self.trylock_raw()),
        };
        acquired(OP, r)
    }

    /// `pthread_mutex_unlock`: releases the mutex.
    ///
    /// If it was acquired with [`Acquired::OwnerDied`] and not marked consistent since, this
    /// makes it unrecoverable for everyone.
    ///
    /// # Safety
    /// The calling thread holds the mutex (a successful `lock`, `try_lock`, `lock_timeout` or
    /// condvar wait, not yet followed by an unlock).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_unlock.3p.html>
    #[doc(alias = "pthread_mutex_unlock")]
    #[inline]
    pub unsafe fn unlock(&self) {
        // SAFETY: `self` is an initialised mutex that this thread holds (the caller's
        // contract). An error-checking mutex reports EPERM instead of misbehaving if the
        // contract is broken; there is nothing useful to do with that here.
        let _ = unsafe { libc::pthread_mutex_unlock(self.raw()) };
    }

    /// `pthread_mutex_consistent`: declares the state protected by a mutex acquired with
    /// [`Acquired::OwnerDied`] repaired, so that unlocking it leaves it usable.
    ///
    /// # Errors
    /// `EINVAL` ([`Os`](crate::ErrorKind::Os)) when the mutex is not in the owner-died state.
    ///
    /// # Safety
    /// The calling thread holds the mutex, acquired with [`Acquired::OwnerDied`].
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html>
    #[doc(alias = "pthread_mutex_consistent")]
    pub unsafe fn mark_consistent(&self) -> Result<()> {
        // SAFETY: `self` is an initialised mutex held by this thread (caller's contract).
        attr("pthread_mutex_consistent", unsafe {
            libc::pthread_mutex_consistent(self.raw())
        })
    }

    /// [`lock`](Self::lock) returning an RAII guard that unlocks on drop.
    ///
    /// The guard reports [`Acquired::OwnerDied`] through [`MutexGuard::acquired`]; repair the
    /// state, then call [`MutexGuard::mark_consistent`], or the mutex becomes unrecoverable
    /// when the guard drops.
    ///
    /// # Errors
    /// As [`lock`](Self::lock).
    #[inline]
    pub fn guard(&self) -> Result<MutexGuard<'_>> {
        let acquired = self.lock()?;
        Ok(MutexGuard::new(self, acquired))
    }

    /// [`try_lock`](Self::try_lock) returning an RAII guard.
    ///
    /// # Errors
    /// As [`try_lock`](Self::try_lock).
    pub fn try_guard(&self) -> Result<MutexGuard<'_>> {
        let acquired = self.try_lock()?;
        Ok(MutexGuard::new(self, acquired))
    }

    /// [`lock_timeout`](Self::lock_timeout) returning an RAII guard.
    ///
    /// # Errors
    /// As [`lock_timeout`](Self::lock_timeout).
    pub fn guard_timeout(&self, d: Duration) -> Result<MutexGuard<'_>> {
        let acquired = self.lock_timeout(d)?;
        Ok(MutexGuard::new(self, acquired))
    }
}

/// Holds a [`RawMutex`] and unlocks it on drop. Not `Send`: a pthread mutex must be unlocked
/// by the thread that locked it.
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct MutexGuard<'a> {
    mutex: &'a RawMutex,
    acquired: Acquired,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing `&MutexGuard` between threads only exposes `acquired()` and `mutex()`,
// which read plain data; unlocking needs the guard by value or `&mut`.
unsafe impl Sync for MutexGuard<'_> {}

impl std::fmt::Debug for MutexGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutexGuard")
            .field("acquired", &self.acquired)
            .finish_non_exhaustive()
    }
}

impl<'a> MutexGuard<'a> {
    /// A guard for a mutex this thread has just re-acquired (after a condvar wait).
    pub(crate) fn relocked(mutex: &'a RawMutex, acquired: Acquired) -> Self {
        Self::new(mutex, acquired)
    }

    fn new(mutex: &'a RawMutex, acquired: Acquired) -> Self {
        MutexGuard {
            mutex,
            acquired,
            _not_send: PhantomData,
        }
    }

    /// How the mutex was acquired; [`Acquired::OwnerDied`] until
    /// [`mark_consistent`](Self::mark_consistent) succeeds.
    pub fn acquired(&self) -> Acquired {
        self.acquired
    }

    /// The mutex this guard holds.
    pub fn mutex(&self) -> &'a RawMutex {
        self.mutex
    }

    /// `pthread_mutex_consistent`: declares the protected state repaired after
    /// [`Acquired::OwnerDied`]. Does nothing after a clean acquire.
    ///
    /// # Errors
    /// As [`RawMutex::mark_consistent`].
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html>
    #[doc(alias = "pthread_mutex_consistent")]
    pub fn mark_consistent(&mut self) -> Result<()> {
        if self.acquired == Acquired::OwnerDied {
            // SAFETY: this guard holds the mutex on this thread (guards are not Send) and it
            // was acquired with OwnerDied.
            unsafe { self.mutex.mark_consistent()? };
            self.acquired = Acquired::Clean;
        }
        Ok(())
    }

    /// Consumes the guard without unlocking; the caller must unlock the mutex later on this
    /// thread with [`RawMutex::unlock`].
    pub fn leak(self) -> &'a RawMutex {
        let m = self.mutex;
        std::mem::forget(self);
        m
    }
}

impl Drop for MutexGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds the mutex, on this thread (it is not Send).
        unsafe { self.mutex.unlock() };
    }
}
