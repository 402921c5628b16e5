//! [`RawMutex`]: a robust, process-shared `pthread_mutex_t`, and its RAII [`MutexGuard`].

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use crate::Errno;

use super::lock::{CondvarLock, LockGuard, RawLock};
use super::Acquired;
use crate::layout::{SharedLayout, TypeLayout};
use crate::sys;
use crate::{Error, Result};

/// glibc's mask of the owner's TID in a robust mutex's lock word (`__lock`); the two bits
/// above it are `FUTEX_WAITERS` and `FUTEX_OWNER_DIED`. The word is 0, or `FUTEX_OWNER_DIED`
/// (plus maybe `FUTEX_WAITERS`) after the kernel freed it from a dead owner, when nobody
/// holds the mutex.
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// glibc's `PTHREAD_MUTEX_PRIO_INHERIT_NP` bit of the mutex kind (`__kind`).
const KIND_PRIO_INHERIT: i32 = 32;

/// The kernel walks at most this many entries of a dead thread's robust list
/// (`ROBUST_LIST_LIMIT` in `kernel/futex/core.c`); a robust mutex beyond it stays held by
/// the dead thread for ever.
pub const MAX_HELD_PER_THREAD: u32 = 2048;

/// An absolute time in the past: `pthread_mutex_timedlock` with it is glibc's full robust
/// acquire (owner-died and not-recoverable handling, robust-list bookkeeping) that returns
/// `ETIMEDOUT` instead of waiting: glibc checks `tv_sec < 0` before it sets the waiters bit
/// or makes any system call.
const PAST: libc::timespec = libc::timespec {
    tv_sec: -1,
    tv_nsec: 0,
};

thread_local! {
    /// How many `RawMutex`es this thread holds (see [`MAX_HELD_PER_THREAD`]).
    static HELD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Resets this thread's held count in a forked child: the child's only thread holds none of
/// the parent's mutexes (they are held by the parent's thread ID, and glibc gives the child
/// an empty robust list).
extern "C" fn reset_held_after_fork() {
    HELD.with(|h| h.set(0));
}

/// Registers [`reset_held_after_fork`] once per process, without ever waiting: a blocking
/// `Once` here would hang a child forked while another thread of its parent was inside the
/// registration (the child inherits the "running" state and nobody finishes it). A child
/// forked in that window registers nothing of its own; its count is then only reset by the
/// handler if the parent's registration had reached glibc before the fork.
#[inline]
fn register_fork_reset() {
    use std::sync::atomic::AtomicU8;
    /// 0: not registered, 1: being registered, 2: registered.
    static STATE: AtomicU8 = AtomicU8::new(0);
    // Relaxed: nothing else is published through STATE; the registration is glibc's.
    if STATE.load(Ordering::Relaxed) == 2 {
        return;
    }
    if STATE
        .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        // SAFETY: `reset_held_after_fork` is an `extern "C" fn()` that only touches a
        // thread-local Cell (no lock, no allocation: fit for an atfork child handler).
        unsafe { libc::pthread_atfork(None, None, Some(reset_held_after_fork)) };
        STATE.store(2, Ordering::Relaxed);
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
///   unrecoverable: later acquires return
///   [`ErrorKind::Unrecoverable`](crate::ErrorKind::Unrecoverable) at once, until a locker
///   is killed inside its acquire attempt: glibc keeps the not-recoverable mark in the
///   mutex's owner field, which its owner-died path overwrites, so the next locker gets
///   [`Acquired::OwnerDied`] (the state was never repaired: it repairs it, or unlocks it
///   unrepaired, which makes it not recoverable again). Never a clean acquire, never a
///   hang (`tests/sync_mutex.rs::unrecoverable_mutex_stays_unrecoverable_under_random_kills`).
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

    /// glibc's `__owner` (the third `int` of `pthread_mutex_t`): the holder's TID, or
    /// `PTHREAD_MUTEX_INCONSISTENT`/`PTHREAD_MUTEX_NOTRECOVERABLE` after an owner died.
    #[inline]
    fn owner_word(&self) -> &AtomicI32 {
        // SAFETY: bytes 8..12 of the valid, 8-aligned mutex are glibc's `__owner`. glibc
        // writes it with plain aligned 4-byte stores while it holds the mutex, which are
        // single-copy atomic on every Linux target, so a relaxed atomic load reads one whole
        // value written by one of them; nothing is read through it.
        unsafe { &*self.raw().cast::<AtomicI32>().add(2) }
    }

    /// Whether the mutex uses priority inheritance: glibc's `__kind` (the fifth `int` of
    /// `pthread_mutex_t`, public ABI like `__lock`) has `PTHREAD_MUTEX_PRIO_INHERIT_NP` set.
    #[inline]
    fn is_priority_inherit(&self) -> bool {
        // SAFETY: bytes 16..20 of the valid, 8-aligned mutex are glibc's `__kind`, written
        // only by `pthread_mutex_init` (before the mutex is shared) and read by glibc with
        // relaxed atomic loads, so a relaxed atomic view races with nothing non-atomic.
        let kind = unsafe { &*self.raw().cast::<AtomicI32>().add(4) };
        kind.load(Ordering::Relaxed) & KIND_PRIO_INHERIT != 0
    }

    /// One acquire attempt that never waits, through a glibc path that keeps the kernel's
    /// robust-list promise at every instruction; returns the C error number (`EBUSY` when
    /// another thread holds the mutex).
    ///
    /// Not `pthread_mutex_trylock`: on a robust, non-PI mutex in the not-recoverable state,
    /// glibc's trylock (2.36 `pthread_mutex_trylock.c`) takes the lock word, sees the
    /// not-recoverable mark, clears its pending robust-list entry and returns
    /// `ENOTRECOVERABLE` without releasing the word (it only does `if (oldval == id)`, and
    /// `oldval` is 0 there). The word then holds the caller's TID while the mutex is on
    /// neither its robust list nor its pending slot: a later `pthread_mutex_lock` sleeps for
    /// ever, and not even the caller's death frees it. Releasing the word afterwards (what
    /// this crate did before) leaves a window, with a system call in it, where a SIGKILL
    /// loses the word for good.
    ///
    /// `pthread_mutex_timedlock` with an absolute time in the past ([`PAST`]) is glibc's
    /// full robust acquire instead: the pending slot names the mutex from before the CAS
    /// until the mutex is on the robust list or released again, and on `ENOTRECOVERABLE` it
    /// releases the word itself before clearing the slot. So a SIGKILL at any instruction
    /// leaves the word either free or marked `FUTEX_OWNER_DIED` by the kernel, and the next
    /// locker is told. With `tv_sec < 0` it returns `ETIMEDOUT` before it sets the waiters
    /// bit or calls the kernel, so it is a true try. (It leaves the pending slot naming this
    /// mutex on that return; the kernel ignores a pending entry whose word does not hold the
    /// dying thread's TID, and the next robust operation overwrites it.)
    ///
    /// The priority-inheritance variant is different: its timed lock passes the time to the
    /// kernel (`FUTEX_LOCK_PI` refuses a negative one), and its trylock releases the word on
    /// `ENOTRECOVERABLE` with the pending slot still set, so PI mutexes use trylock.
    #[inline]
    fn try_acquire(&self) -> c_int {
        if self.is_priority_inherit() {
            // SAFETY: `self` is an initialised mutex (it can only be reached through a
            // reference after in-place initialisation) that is never moved while borrowed.
            return unsafe { libc::pthread_mutex_trylock(self.raw()) };
        }
        // SAFETY: as above; `PAST` is a valid timespec (tv_nsec < 1e9) with static storage.
        match unsafe { libc::pthread_mutex_timedlock(self.raw(), &PAST) } {
            libc::ETIMEDOUT => libc::EBUSY,
            r => r,
        }
    }

    /// After an attempt found it held: watches the lock word with a short, growing backoff
    /// and tries again when it looks free (test-and-test-and-set, so spinning lockers do not
    /// bounce the line with failed atomic operations); `EBUSY` if it stayed held.
    #[inline]
    fn spin_acquire(&self) -> c_int {
        for i in 0..sys::SPIN_TRIES {
            sys::backoff(i);
            // Relaxed: only a hint; the acquire itself is glibc's acquiring CAS.
            if self.futex_word().load(Ordering::Relaxed) & FUTEX_TID_MASK != 0 {
                continue;
            }
            let r = self.try_acquire();
            if r != libc::EBUSY {
                return r;
            }
        }
        libc::EBUSY
    }

    /// Refuses an acquire that would make this thread hold more than
    /// [`MAX_HELD_PER_THREAD`] mutexes.
    #[inline]
    fn check_held_limit(op: &'static str) -> Result<()> {
        if HELD.with(|h| h.get()) >= MAX_HELD_PER_THREAD {
            return Err(Error::with_text(
                op,
                crate::ErrorKind::LimitReached,
                format!(
                    "robust mutexes held by one thread at once ({MAX_HELD_PER_THREAD}, the \
                     kernel's ROBUST_LIST_LIMIT: one more would stay locked for ever if the \
                     thread died)"
                ),
            ));
        }
        Ok(())
    }

    /// Maps the return value of an acquire call and counts a successful one.
    #[inline]
    fn acquired(op: &'static str, r: c_int) -> Result<Acquired> {
        let a = match r {
            0 => Acquired::Clean,
            libc::EOWNERDEAD => Acquired::OwnerDied,
            e => return Err(Error::os(op, Errno::from_raw(e))),
        };
        register_fork_reset();
        HELD.with(|h| h.set(h.get() + 1));
        Ok(a)
    }

    /// The contended path of [`lock`](Self::lock): spin briefly, then sleep in
    /// `pthread_mutex_lock`. Kept out of line so the uncontended path is one inlined try.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self) -> Result<Acquired> {
        let r = self.spin_acquire();
        if r != libc::EBUSY {
            return Self::acquired("pthread_mutex_lock", r);
        }
        // SAFETY: `self` is an initialised mutex that does not move while borrowed.
        Self::acquired("pthread_mutex_lock", unsafe {
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
    ///   died and the next one unlocked without marking it consistent (after a locker was
    ///   killed inside its acquire of such a mutex, the next locker gets
    ///   [`Acquired::OwnerDied`] instead: see the type's docs);
    /// - [`LimitReached`](crate::ErrorKind::LimitReached) when this thread already holds
    ///   [`MAX_HELD_PER_THREAD`] `RawMutex`es (the kernel frees at most that many of a dead
    ///   thread's robust locks);
    /// - [`Os`](crate::ErrorKind::Os)`(EDEADLK)` when this thread already holds it;
    /// - other OS errors (`EINVAL` for memory that is not an initialised mutex).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html>
    #[doc(alias = "pthread_mutex_lock")]
    // Always: the uncontended path is a thread-local check, one glibc call and a
    // thread-local increment (the contended path is out of line); with only a hint LLVM
    // kept it out of line behind the generic guard (callgrind: +18 instructions a
    // lock+unlock of a bare RawMutex guard).
    #[inline(always)]
    pub fn lock(&self) -> Result<Acquired> {
        const OP: &str = "pthread_mutex_lock";
        Self::check_held_limit(OP)?;
        match self.try_acquire() {
            libc::EBUSY => self.lock_contended(),
            r => Self::acquired(OP, r),
        }
    }

    /// Acquires the mutex if nobody holds it, without waiting (`pthread_mutex_trylock`'s
    /// contract; see the source for why glibc's trylock itself is not used).
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
        const OP: &str = "pthread_mutex_trylock";
        Self::check_held_limit(OP)?;
        match self.try_acquire() {
            libc::EBUSY => Err(Error::new(OP, crate::ErrorKind::WouldBlock)),
            r => Self::acquired(OP, r),
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
        Self::check_held_limit(OP)?;
        let mut r = self.try_acquire();
        if r == libc::EBUSY && !d.is_zero() {
            r = self.spin_acquire();
        }
        if r != libc::EBUSY {
            return Self::acquired(OP, r);
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
            None => sys::poll_until(d, libc::EBUSY, || self.try_acquire()),
        };
        Self::acquired(OP, r)
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
        // contract is broken; then it was not counted as held either.
        if unsafe { libc::pthread_mutex_unlock(self.raw()) } == 0 {
            HELD.with(|h| h.set(h.get().saturating_sub(1)));
        }
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
        Ok(self.guard_of(self.lock()?))
    }

    /// [`try_lock`](Self::try_lock) returning an RAII guard.
    ///
    /// # Errors
    /// As [`try_lock`](Self::try_lock).
    pub fn try_guard(&self) -> Result<MutexGuard<'_>> {
        Ok(self.guard_of(self.try_lock()?))
    }

    /// [`lock_timeout`](Self::lock_timeout) returning an RAII guard.
    ///
    /// # Errors
    /// As [`lock_timeout`](Self::lock_timeout).
    pub fn guard_timeout(&self, d: Duration) -> Result<MutexGuard<'_>> {
        Ok(self.guard_of(self.lock_timeout(d)?))
    }
}

/// Exclusive hold of a [`RawMutex`] (the generic [`LockGuard`] over nothing): unlocks on
/// drop; reports [`Acquired::OwnerDied`] through [`LockGuard::acquired`] and repairs with
/// [`LockGuard::mark_consistent`]. Not `Send`: a pthread mutex must be unlocked by the thread
/// that locked it.
pub type MutexGuard<'a> = LockGuard<'a, RawMutex>;

impl RawMutex {
    /// A guard for this mutex, held by this thread with outcome `acquired`.
    #[inline]
    fn guard_of(&self, acquired: Acquired) -> MutexGuard<'_> {
        // SAFETY: the caller has just acquired the mutex on this thread; the guard protects
        // nothing (a dangling, aligned pointer to `()`, valid for zero-sized accesses), and
        // a bare mutex's guard hands OwnerDied to its holder (tolerates it).
        unsafe { LockGuard::new(self, NonNull::<()>::dangling().as_ptr(), acquired, true) }
    }

    /// Whether a holder died: the kernel has marked the lock word `FUTEX_OWNER_DIED` (it
    /// frees a dead thread's robust mutexes that way as the thread exits), or the word
    /// names a thread that no longer exists (the kernel could not free it: a thread past
    /// [`MAX_HELD_PER_THREAD`], or one still exiting), or a locker acquired it with
    /// [`Acquired::OwnerDied`] and has not marked it consistent yet, or it is unrecoverable.
    /// True from the moment the holder is dead, before anybody tries to lock. A snapshot,
    /// read without the lock; a TID reused by a new thread before the check reads as alive.
    pub fn is_poisoned(&self) -> bool {
        // Relaxed: a snapshot of what glibc and the kernel wrote; nothing is read through it.
        let word = self.futex_word().load(Ordering::Relaxed);
        if word & FUTEX_OWNER_DIED != 0 {
            return true;
        }
        let tid = word & FUTEX_TID_MASK;
        if tid != 0 && !thread_alive(tid) {
            return true;
        }
        // Relaxed as above: glibc's `__owner`, INT_MAX (inconsistent) or INT_MAX - 1 (not
        // recoverable) after an owner died.
        let owner = self.owner_word().load(Ordering::Relaxed);
        owner >= PTHREAD_MUTEX_NOTRECOVERABLE
    }
}

/// glibc's `FUTEX_OWNER_DIED` bit of a robust mutex's lock word.
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;

/// glibc's `PTHREAD_MUTEX_NOTRECOVERABLE` value of `__owner` (`PTHREAD_MUTEX_INCONSISTENT`
/// is one more, `INT_MAX`).
const PTHREAD_MUTEX_NOTRECOVERABLE: i32 = i32::MAX - 1;

/// Whether thread `tid` (a kernel thread ID, as a robust lock word holds) exists:
/// `kill(tid, 0)` finds any thread by its ID; `EPERM` means it exists but is not ours.
fn thread_alive(tid: u32) -> bool {
    let Ok(tid) = libc::pid_t::try_from(tid) else {
        return false;
    };
    // SAFETY: signal 0 sends nothing; kill only checks that the target exists.
    let r = unsafe { libc::kill(tid, 0) };
    r == 0 || Errno::last() == Errno::EPERM
}

// SAFETY: a successful acquire of a robust pthread mutex gives this thread the mutex
// exclusively across every process that maps it, and pthread lock/unlock are acquire and
// release operations.
unsafe impl RawLock for RawMutex {
    const LOCK_NAME: &'static str = "Mutex";

    #[inline]
    fn lock(&self) -> Result<Acquired> {
        RawMutex::lock(self)
    }

    #[inline]
    fn try_lock(&self) -> Result<Acquired> {
        RawMutex::try_lock(self)
    }

    fn lock_timeout(&self, d: Duration) -> Result<Acquired> {
        RawMutex::lock_timeout(self, d)
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: forwarded from the trait's contract.
        unsafe { RawMutex::unlock(self) }
    }

    unsafe fn mark_consistent(&self) -> Result<()> {
        // SAFETY: forwarded from the trait's contract.
        unsafe { RawMutex::mark_consistent(self) }
    }

    fn is_poisoned(&self) -> bool {
        RawMutex::is_poisoned(self)
    }
}

// SAFETY: the mutex is itself.
unsafe impl CondvarLock for RawMutex {
    fn raw_mutex(&self) -> &RawMutex {
        self
    }

    unsafe fn relocked(&self, r: Result<Acquired>) -> Result<Acquired> {
        r
    }
}
