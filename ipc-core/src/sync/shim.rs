//! The one loom shim of the workspace: what lock-free code runs on, the real atomics and
//! `futex(2)` calls in a normal build, or loom's atomics and a loom model of the futex under
//! `cfg(loom)`.
//!
//! [`RawCondvar`](super::RawCondvar)'s wait/notify protocol is written once, against the
//! names below, and model-checked under `RUSTFLAGS="--cfg loom"` by `tests/loom_condvar.rs`
//! (how to run it: the [module docs](super#model-checking-with-loom)). ipc-collections'
//! rings use the same names (its `ring/shim.rs` adds only what is theirs: process liveness,
//! slot-access tracking, the liveness throttle), so both crates are checked against one
//! futex model.
//!
//! - [`AtomicU32`], [`AtomicU64`], [`Ordering`], [`fence`]: `std::sync::atomic`, or loom's.
//! - [`FutexWord`]: the 32-bit word a waiter sleeps on. In a normal build it *is* an
//!   [`AtomicU32`] (so a struct that holds one keeps its `repr(C)` layout), and
//!   [`futex_wait`]/[`futex_wake`] are [`super::futex::wait`]/[`super::futex::wake`]. Under
//!   loom it is the atomic plus a wait queue behind a loom `Mutex` and `Condvar`, emulating
//!   what the kernel guarantees: `FUTEX_WAIT` compares the word and enqueues the caller
//!   atomically with respect to `FUTEX_WAKE` (the kernel holds the futex hash-bucket lock for
//!   both), and `FUTEX_WAKE` of `n` wakes up to `n` callers that are queued at that moment,
//!   oldest first.

#[cfg(not(loom))]
pub use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(not(loom))]
pub use real::{futex_wait, futex_wake, FutexWord};

#[cfg(loom)]
pub use model::{futex_wait, futex_wake, FutexWord};

#[cfg(not(loom))]
mod real {
    use std::time::Duration;

    use super::super::futex::{self, Wake};
    use crate::Result;

    /// The word a waiter sleeps on: a plain [`AtomicU32`](std::sync::atomic::AtomicU32).
    pub type FutexWord = std::sync::atomic::AtomicU32;

    /// [`futex::wait`].
    #[inline]
    pub fn futex_wait(word: &FutexWord, expected: u32, timeout: Option<Duration>) -> Result<Wake> {
        futex::wait(word, expected, timeout)
    }

    /// [`futex::wake`].
    #[inline]
    pub fn futex_wake(word: &FutexWord, n: u32) -> usize {
        futex::wake(word, n)
    }
}

#[cfg(loom)]
mod model {
    use std::collections::VecDeque;
    use std::time::Duration;

    use loom::sync::{Condvar, Mutex};

    use super::super::futex::Wake;
    use super::{AtomicU32, Ordering};
    use crate::Result;

    /// A loom model of a futex word: the atomic value, and the queue of its sleepers.
    pub struct FutexWord {
        value: AtomicU32,
        /// Stands in for the kernel's hash bucket: its lock makes "compare and enqueue" in
        /// [`futex_wait`] atomic with respect to [`futex_wake`].
        queue: Mutex<Queue>,
        /// Where the sleepers of `queue` block; notified (all) whenever a wake moves tickets
        /// to `woken`, each sleeper then checks for its own ticket.
        cv: Condvar,
    }

    /// Sleepers in arrival order, and the ones a wake has released but that have not run
    /// yet.
    #[derive(Default)]
    struct Queue {
        next_ticket: u64,
        sleeping: VecDeque<u64>,
        woken: Vec<u64>,
    }

    impl FutexWord {
        /// A word holding `v`, nobody asleep on it.
        pub fn new(v: u32) -> Self {
            FutexWord {
                value: AtomicU32::new(v),
                queue: Mutex::new(Queue::default()),
                cv: Condvar::new(),
            }
        }
    }

    impl std::ops::Deref for FutexWord {
        type Target = AtomicU32;

        fn deref(&self) -> &AtomicU32 {
            &self.value
        }
    }

    /// `FUTEX_WAIT`, modelled: sleeps while the word holds `expected`, until a
    /// [`futex_wake`] picks this sleeper.
    ///
    /// Loom has no clock, so a wait with a timeout is modelled as one whose timeout passes
    /// at once (a legal outcome of a short timeout); timed waits of the condvar take the
    /// same code path but are not what the model explores.
    pub fn futex_wait(word: &FutexWord, expected: u32, timeout: Option<Duration>) -> Result<Wake> {
        let mut q = word.queue.lock().expect("futex model lock");
        // Relaxed: the kernel reads the word with no ordering of its own; what orders this
        // read after a waker's change is the bucket lock, which the waker takes after its
        // change (a lock the waker released before we took it makes its change visible).
        // A real FUTEX_WAIT also issues a full barrier first; leaving that out makes the
        // model weaker than the kernel, so it can only find more interleavings, not fewer.
        if word.value.load(Ordering::Relaxed) != expected {
            return Ok(Wake::Changed);
        }
        if timeout.is_some() {
            return Ok(Wake::TimedOut);
        }
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.sleeping.push_back(ticket);
        loop {
            if let Some(i) = q.woken.iter().position(|&t| t == ticket) {
                q.woken.swap_remove(i);
                return Ok(Wake::Woken);
            }
            q = word.cv.wait(q).expect("futex model lock");
        }
    }

    /// `FUTEX_WAKE`, modelled: releases up to `n` sleepers queued now, oldest first;
    /// returns how many.
    pub fn futex_wake(word: &FutexWord, n: u32) -> usize {
        let mut q = word.queue.lock().expect("futex model lock");
        let k = q.sleeping.len().min(n as usize);
        for _ in 0..k {
            let t = q.sleeping.pop_front().expect("k <= len");
            q.woken.push(t);
        }
        if k > 0 {
            word.cv.notify_all();
        }
        k
    }
}
