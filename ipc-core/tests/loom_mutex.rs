//! Loom model of `RawMutex`'s workaround for glibc's trylock on a not-recoverable robust
//! mutex (see `RawMutex::release_after_notrecoverable_trylock` in `src/sync/mutex.rs`).
//!
//! glibc 2.36's `pthread_mutex_trylock` on a robust, non-PI mutex marked not recoverable
//! takes the lock word (CAS 0 -> its TID), sees the mark and returns `ENOTRECOVERABLE`
//! without releasing the word, so every later `pthread_mutex_lock` sleeps for ever.
//! `RawMutex` then releases the word itself with `release_leaked_lock_word`, which this
//! model runs (the real code, generic over the word) on a loom futex word, against a model
//! of glibc's robust lock, trylock and unlock on that word (the paths a not-recoverable
//! mutex takes, written after glibc 2.36's `pthread_mutex_lock.c`, `pthread_mutex_trylock.c`
//! and `lll_unlock`).
//!
//! Checked, under every interleaving (three-thread models: up to 6 preemptions): lockers
//! never hang (they fail with not-recoverable),
//! nobody ever finds another thread's TID where it expects its own (the repair never
//! releases a hold that is not the leaked one, also on a C library that has fixed the bug),
//! and the word ends free. Without the repair the model deadlocks, as the real glibc does.
//!
//! Run (about half a minute on two cores):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p ipc-core --release --test loom_mutex
//! ```
#![cfg(loom)]

use ipc_core::sync::loom_hooks::{futex_wait, futex_wake, release_leaked_lock_word, FutexWord};
use loom::sync::atomic::Ordering;
use loom::thread;

/// glibc's `FUTEX_WAITERS` bit of a robust lock word.
const FUTEX_WAITERS: u32 = 0x8000_0000;
/// glibc's owner-TID mask of a robust lock word.
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// The model's thread ids (TIDs are never 0).
const TIDS: [u32; 3] = [100, 101, 102];

/// What a lock call returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `EBUSY` (trylock only).
    Busy,
    /// `ENOTRECOVERABLE`.
    NotRecoverable,
}

/// A glibc robust mutex in the not-recoverable state: its lock word (`__lock`), and
/// `__owner == PTHREAD_MUTEX_NOTRECOVERABLE`, which is set before the model starts and
/// never changes, so it needs no atomic.
struct GlibcMutex {
    word: FutexWord,
}

impl GlibcMutex {
    fn new() -> Self {
        GlibcMutex {
            word: FutexWord::new(0),
        }
    }

    /// `pthread_mutex_lock` (robust path): CAS the word from 0 to our TID (plus the waiters
    /// bit once we have slept, as glibc assumes others still wait); while it is held, set
    /// the waiters bit and sleep on the word. Once held, the not-recoverable mark makes it
    /// release the word and fail.
    fn lock(&self, tid: u32) -> Outcome {
        let mut assume_waiters = 0;
        loop {
            match self.word.compare_exchange(
                0,
                tid | assume_waiters,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(mut old) => {
                    assert_ne!(old & FUTEX_TID_MASK, tid, "a locker found its own TID");
                    if old & FUTEX_WAITERS == 0 {
                        if self
                            .word
                            .compare_exchange(
                                old,
                                old | FUTEX_WAITERS,
                                Ordering::Relaxed,
                                Ordering::Relaxed,
                            )
                            .is_err()
                        {
                            continue;
                        }
                        old |= FUTEX_WAITERS;
                    }
                    assume_waiters = FUTEX_WAITERS;
                    futex_wait(&self.word, old, None).expect("modelled futex");
                }
            }
        }
        // __owner == PTHREAD_MUTEX_NOTRECOVERABLE: lll_unlock, return ENOTRECOVERABLE.
        self.unlock(tid);
        Outcome::NotRecoverable
    }

    /// `lll_unlock`: swap 0 in, wake one sleeper if the old value was above 1.
    fn unlock(&self, tid: u32) {
        let old = self.word.swap(0, Ordering::Release);
        assert_eq!(
            old & FUTEX_TID_MASK,
            tid,
            "the lock word changed hands while held"
        );
        if old > 1 {
            futex_wake(&self.word, 1);
        }
    }

    /// `pthread_mutex_trylock` (robust path), with glibc's bug: on the not-recoverable mark
    /// it returns without releasing the word it took.
    fn glibc_trylock(&self, tid: u32) -> Outcome {
        match self
            .word
            .compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed)
        {
            Err(_) => Outcome::Busy,
            Ok(_) => Outcome::NotRecoverable,
        }
    }

    /// `pthread_mutex_trylock` of a C library without the bug (as glibc's PI path, and any
    /// fixed version): it releases the word before returning `ENOTRECOVERABLE`.
    fn fixed_trylock(&self, tid: u32) -> Outcome {
        match self
            .word
            .compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed)
        {
            Err(_) => Outcome::Busy,
            Ok(_) => {
                self.unlock(tid);
                Outcome::NotRecoverable
            }
        }
    }

    /// `RawMutex`'s trylock: the C library's (`fixed`: without the bug), then the repair
    /// after `ENOTRECOVERABLE`.
    fn trylock_with(&self, tid: u32, fixed: bool) -> Outcome {
        let r = if fixed {
            self.fixed_trylock(tid)
        } else {
            self.glibc_trylock(tid)
        };
        if r == Outcome::NotRecoverable {
            release_leaked_lock_word(&self.word, tid);
        }
        r
    }

    /// `RawMutex`'s trylock on glibc 2.36.
    fn trylock(&self, tid: u32) -> Outcome {
        self.trylock_with(tid, false)
    }
}

/// Every interleaving (two threads).
const ALL: Option<usize> = None;
/// Three threads: 6 preemptions per execution (about 15 s; all interleavings of
/// `two_trylockers_and_a_locker_never_hang` take over a minute).
const BOUNDED: Option<usize> = Some(6);

/// Runs `f` under loom with at most `bound` preemptions per execution (`None`: all
/// interleavings), unless `LOOM_MAX_PREEMPTIONS` says otherwise, and prints how many
/// executions loom explored (`--nocapture` shows it).
fn check(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        b.preemption_bound = bound;
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    b.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!(
        "{}: {} executions, preemption bound {:?}",
        std::thread::current().name().unwrap_or("?"),
        runs.load(std::sync::atomic::Ordering::Relaxed),
        b.preemption_bound
    );
}

/// A mutex for one execution, leaked: threads need `'static`, and a loom `Arc` dropped
/// while loom unwinds a failed execution would abort the test binary.
fn mutex() -> &'static GlibcMutex {
    Box::leak(Box::new(GlibcMutex::new()))
}

/// A trylocker (with the repair) and a locker: the locker fails at once or after being
/// woken, never hangs; the word ends free.
#[test]
fn repaired_trylock_and_lock_never_hang() {
    check(ALL, || {
        let m = mutex();
        let t = thread::spawn(move || m.trylock(TIDS[0]));
        assert_eq!(m.lock(TIDS[1]), Outcome::NotRecoverable);
        let r = t.join().unwrap();
        assert!(matches!(r, Outcome::Busy | Outcome::NotRecoverable));
        assert_eq!(m.word.load(Ordering::Relaxed), 0);
    });
}

/// Two trylockers and a locker: whoever holds the word, the repair releases only its own
/// leaked hold, and everybody finishes.
#[test]
fn two_trylockers_and_a_locker_never_hang() {
    check(BOUNDED, || {
        let m = mutex();
        let ts: Vec<_> = TIDS[..2]
            .iter()
            .map(|&tid| thread::spawn(move || m.trylock(tid)))
            .collect();
        assert_eq!(m.lock(TIDS[2]), Outcome::NotRecoverable);
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(m.word.load(Ordering::Relaxed), 0);
    });
}

/// A trylocker and two lockers (both may sleep on the word, so the waiters bit is set and
/// the repair must wake them).
#[test]
fn repaired_trylock_wakes_two_sleeping_lockers() {
    check(BOUNDED, || {
        let m = mutex();
        let t = thread::spawn(move || m.trylock(TIDS[0]));
        let l = thread::spawn(move || m.lock(TIDS[1]));
        assert_eq!(m.lock(TIDS[2]), Outcome::NotRecoverable);
        assert_eq!(l.join().unwrap(), Outcome::NotRecoverable);
        t.join().unwrap();
        assert_eq!(m.word.load(Ordering::Relaxed), 0);
    });
}

/// On a C library without the bug the repair finds the word released (free, or already
/// another locker's) and must leave it alone: the locker's unlock asserts that it still finds
/// its own TID.
#[test]
fn repair_after_a_fixed_trylock_leaves_other_holds_alone() {
    check(BOUNDED, || {
        let m = mutex();
        let t = thread::spawn(move || m.trylock_with(TIDS[0], true));
        let l = thread::spawn(move || m.lock(TIDS[1]));
        assert_eq!(m.lock(TIDS[2]), Outcome::NotRecoverable);
        assert_eq!(l.join().unwrap(), Outcome::NotRecoverable);
        t.join().unwrap();
        assert_eq!(m.word.load(Ordering::Relaxed), 0);
    });
}

/// The model shows glibc's bug: without the repair, a locker after a trylock sleeps for
/// ever (loom reports the deadlock).
#[test]
#[should_panic(expected = "deadlock")]
fn unrepaired_glibc_trylock_hangs_the_next_locker() {
    check(ALL, || {
        let m = mutex();
        assert_eq!(m.glibc_trylock(TIDS[0]), Outcome::NotRecoverable);
        m.lock(TIDS[1]);
    });
}
