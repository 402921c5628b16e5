//! Process-shared locks that live inside shared memory: [`RawMutex`], [`RawCondvar`],
//! [`RawRwLock`], and the [`futex`] word they can sleep on.
//!
//! All of them are initialised in place on zero-filled shared memory through
//! [`SharedLayout::init_in_place`](crate::SharedLayout::init_in_place), are never moved
//! afterwards, and are used by reference from every process that maps the memory. Safe code
//! cannot re-initialise a live one: initialisation is `unsafe` and belongs to whoever creates
//! the segment with exclusive access. All timeouts are [`Duration`](std::time::Duration)s
//! measured on CLOCK_MONOTONIC, so a jump of the wall clock neither stretches nor cuts a
//! wait; a zero timeout means "try once"; durations too large for a `timespec` saturate
//! (they wait for ever, they never overflow).
//!
//! # Crash behaviour
//!
//! - [`RawMutex`] is a robust `pthread_mutex_t` (`PTHREAD_PROCESS_SHARED`,
//!   `PTHREAD_MUTEX_ROBUST`, error-checking). When its owner dies holding it, the next locker
//!   gets it with [`Acquired::OwnerDied`], repairs the protected state and calls
//!   [`RawMutex::mark_consistent`]. If it unlocks without doing so, the mutex becomes
//!   unrecoverable: every later lock, try-lock or timed lock fails at once with
//!   [`ErrorKind::Unrecoverable`](crate::ErrorKind::Unrecoverable), never blocks. This holds
//!   whatever instruction a SIGKILL interrupts, in any process: every acquire goes through a
//!   glibc path that keeps the mutex on the thread's robust list (or its pending slot) for
//!   as long as the lock word holds the thread's ID, so the kernel frees it from a dead
//!   thread. (glibc's own `pthread_mutex_trylock` breaks that on a not-recoverable mutex: it
//!   returns with the word still taken and the mutex on no list, and every later `lock`
//!   hangs; `RawMutex` never calls it for a robust non-PI mutex, see its source.)
//! - The kernel frees at most [`MAX_HELD_PER_THREAD`] (2048, `ROBUST_LIST_LIMIT`) robust
//!   mutexes of a dead thread; the rest would stay locked for ever. So a thread that already
//!   holds 2048 `RawMutex`es gets
//!   [`ErrorKind::LimitReached`](crate::ErrorKind::LimitReached) from the next acquire
//!   instead. (glibc robust mutexes that other code in the thread holds count against the
//!   same kernel limit without being counted here.)
//! - [`RawCondvar`] is not glibc's `pthread_cond_t`. glibc's condition variable (the
//!   two-group algorithm since 2.25) keeps waiter groups, group sizes and a waiter reference
//!   count inside the shared object, and each waiter updates them again after it wakes. A
//!   waiter killed in the middle of `pthread_cond_wait` never does: it stays counted in its
//!   group, so a later `pthread_cond_signal` can be spent on the dead waiter while a live one
//!   sleeps on, and its reference is never dropped, so `pthread_cond_destroy` (which waits
//!   for all references to go) blocks for ever. (Even without crashes the algorithm has had
//!   lost wake-ups, glibc bug 25847.) Instead `RawCondvar` is a sequence counter on a
//!   [`futex`] word (notify bumps it, a waiter sleeps while it still holds the value it read
//!   under the mutex) plus a count of sleepers, so notify skips the system call when nobody
//!   sleeps. The kernel drops a killed waiter from the futex queue, so it can never absorb a
//!   wake-up; a killed waiter only leaves the sleeper count too high, which costs a wasted
//!   wake system call per notify, nothing else. There is nothing to destroy, so dropping
//!   never blocks.
//! - [`RawRwLock`] is a `pthread_rwlock_t` (`PTHREAD_PROCESS_SHARED`), and pthread rwlocks
//!   are not robust: the lock records no owner for readers, so nothing can notice that a
//!   holder died. If a process dies holding the write lock, every later reader and writer
//!   blocks for ever in [`read`](RawRwLock::read)/[`write`](RawRwLock::write), and the timed
//!   forms return [`Timeout`](crate::ErrorKind::Timeout) (the try forms
//!   [`WouldBlock`](crate::ErrorKind::WouldBlock)). If a process dies holding a read lock,
//!   other readers go on (glibc's default, reader-preferring kind is used, so a waiting
//!   writer does not hold new readers back), but writers block for ever (timed forms:
//!   `Timeout`). The only repair is to abandon the segment. Use
//!   [`RawMutex`] where a holder may crash and the others must go on.
//! - [`crate::sem::Semaphore`] has no owner either: a process that dies between `wait` and
//!   `post` takes its unit with it.
//!
//! # Speed
//!
//! Blocking acquires first retry the non-blocking form a few times with a short, growing
//! spin (a cross-process cache-line round trip costs ~0.1 µs, a futex wake-up ~50 µs), then
//! sleep in the kernel.
//!
//! # Model checking with loom
//!
//! [`RawCondvar`]'s wait/notify protocol (sequence word, sleeper count, spin phase, skipped
//! wake system call) is lock-free code that a lost wake-up would hide in, so it is
//! model-checked with [loom](https://docs.rs/loom). Under `--cfg loom`, a shim
//! (`sync/shim.rs`) swaps the atomics for loom's and `futex(2)` for a loom model of it
//! (compare-and-enqueue atomic with respect to wake, as the kernel's hash-bucket lock makes
//! it), and `RawCondvar::wait_loom` runs the same wait code with a loom mutex in place of the
//! pthread one. Under `cfg(loom)` `RawCondvar` is a heap-only model object (not
//! [`SharedLayout`](crate::SharedLayout)); nothing else changes. Run:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p typed-ipc-core --release --test loom_condvar
//! ```
//!
//! (about 40 s on two cores; `LOOM_MAX_PREEMPTIONS=N` sets the preemption bound of
//! every model, `-- --nocapture` prints how many executions each explored.) The normal build
//! never compiles loom. The pthread-based [`RawMutex`] and [`RawRwLock`] cannot run under
//! loom; [`RawMutex`] adds no lock-free protocol of its own on top of glibc's (its spin
//! only reads the word before a full glibc acquire), and [`RawRwLock`] and [`Semaphore`](crate::sem::Semaphore) are glibc's own code with no
//! protocol of ours on top; nothing there to model.

mod condvar;
pub mod futex;
pub mod lock;
mod mutex;
mod rwlock;
#[doc(hidden)]
pub mod shim;

pub use condvar::RawCondvar;

pub use lock::{mapping_name, CondvarLock, Lock, LockGuard, RawLock, RawLockShared, ReadLockGuard};
pub use mutex::{MutexGuard, MutexOptions, RawMutex, MAX_HELD_PER_THREAD};
pub use rwlock::{RawRwLock, ReadGuard, WriteGuard};

/// How a lock was acquired: cleanly, or from an owner that died holding it.
#[must_use = "an OwnerDied lock must be repaired and marked consistent, or it becomes unrecoverable"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// The previous owner released the lock normally.
    Clean,
    /// The previous owner died holding the lock (`EOWNERDEAD`): the caller now holds it, must
    /// repair the protected state and call [`RawMutex::mark_consistent`] before unlocking, or
    /// the mutex becomes unrecoverable.
    OwnerDied,
}

impl Acquired {
    /// Whether the previous owner died holding the lock.
    pub fn owner_died(self) -> bool {
        self == Acquired::OwnerDied
    }
}
