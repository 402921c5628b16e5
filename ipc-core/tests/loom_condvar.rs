//! Loom model of [`RawCondvar`]'s wait/notify protocol: the sequence word, the sleeper count,
//! the spin phase before sleeping and the skipped wake system call when nobody sleeps.
//!
//! Under `RUSTFLAGS="--cfg loom"`, `RawCondvar` runs its real code on loom's atomics and a
//! loom model of the futex (`ipc-core/src/sync/shim.rs`); the pthread mutex is replaced by a
//! loom `Mutex` through `RawCondvar::wait_loom`/`wait_timeout_loom`, which call the same
//! wait protocol as `RawCondvar::wait`/`wait_timeout`. Loom runs each test body under every
//! interleaving (and the stale reads of the atomics it models) up to a bound on
//! preemptions: all interleavings for the two-thread models, 4 preemptions for the
//! three-thread ones. A waiter that sleeps for ever shows up as loom's "deadlock" panic, so
//! every test below that ends with all threads joined asserts "no lost wake-up"; each also
//! checks that the sleeper count is back to zero.
//!
//! A failing model prints loom's panic ("deadlock; threads = ..." or the assertion), after
//! which the test binary usually aborts (loom's objects panic when dropped during that
//! unwinding); run a single test by name to see which one failed.
//!
//! Run (about 40 s on two cores; loom's `LOOM_MAX_PREEMPTIONS` overrides the bounds, and
//! `-- --nocapture` prints how many executions each model explored):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p typed-ipc-core --release --test loom_condvar
//! ```
#![cfg(loom)]

use ipc_core::sync::RawCondvar;
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use ipc_testutil::loom::{check, ALL};

/// Three threads: 4 preemptions per execution (about half a minute for all three models on
/// two cores; 3 takes seconds, 5 several minutes).
const BOUNDED: Option<usize> = Some(4);

/// The state a test's mutex protects, with the condvar beside it.
#[derive(Default)]
struct State {
    /// The condition the waiters wait for.
    ready: bool,
    /// Waiters that have read the condition as false and are about to wait.
    waiting: u32,
    /// Wake-up tokens for `notify_one` tests: a waiter takes one and leaves.
    tokens: u32,
    /// Waiters that took a token.
    woken: u32,
}

struct Shared {
    m: Mutex<State>,
    cv: RawCondvar,
    /// The test's own (loom's) condvar, to wait for the waiters without using the one under
    /// test.
    done: Condvar,
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        m: Mutex::new(State::default()),
        cv: RawCondvar::new(),
        done: Condvar::new(),
    })
}

/// Asserts that no waiter is left counted as a sleeper (every waiter that registered has
/// left, including after a timeout).
fn assert_no_sleepers(cv: &RawCondvar) {
    let d = format!("{cv:?}");
    assert!(d.contains("sleepers: 0"), "{d}");
}

/// Waits under the mutex until `ready`, the canonical condvar loop.
fn wait_ready(s: &Shared) {
    let mut g = s.m.lock().unwrap();
    g.waiting += 1;
    while !g.ready {
        g = s.cv.wait_loom(g, &s.m);
    }
}

/// Waits until a token is there, takes it, counts itself as woken and tells the test.
fn take_token(s: &Shared) {
    let mut g = s.m.lock().unwrap();
    while g.tokens == 0 {
        g = s.cv.wait_loom(g, &s.m);
    }
    g.tokens -= 1;
    g.woken += 1;
    s.done.notify_all();
}

/// Polls (with yields, so loom does not count it as progress) until `n` waiters have
/// announced themselves under the mutex. A waiter announces itself before it reads the
/// sequence word in the same critical section, so once this returns, a notify can no longer
/// be "before the wait" for those waiters.
fn until_waiting(s: &Shared, n: u32) {
    loop {
        if s.m.lock().unwrap().waiting >= n {
            return;
        }
        thread::yield_now();
    }
}

/// One waiter, one notifier that sets the condition and notifies while holding the mutex.
#[test]
fn one_waiter_notify_under_lock_is_never_lost() {
    check(ALL, || {
        let s = shared();
        let n = {
            let s = s.clone();
            thread::spawn(move || {
                let mut g = s.m.lock().unwrap();
                g.ready = true;
                s.cv.notify_one();
                drop(g);
            })
        };
        wait_ready(&s);
        n.join().unwrap();
        assert_no_sleepers(&s.cv);
    });
}

/// One waiter, one notifier that sets the condition under the mutex and notifies after
/// unlocking: the notify can land anywhere in the waiter's unlock, spin, register, sleep
/// sequence, including when the waiter has not yet registered as a sleeper and the
/// notifier skips the wake system call.
#[test]
fn one_waiter_notify_after_unlock_is_never_lost() {
    check(ALL, || {
        let s = shared();
        let n = {
            let s = s.clone();
            thread::spawn(move || {
                s.m.lock().unwrap().ready = true;
                s.cv.notify_one();
            })
        };
        wait_ready(&s);
        n.join().unwrap();
        assert_no_sleepers(&s.cv);
    });
}

/// The skip-the-system-call path in isolation: a notify issued after the waiter has read
/// the sequence word (the waiter announced itself in the same critical section) must end
/// that one wait, with no condition loop to hide a lost wake-up: whether the waiter is
/// still polling, registered but not yet asleep, or asleep in the futex.
#[test]
fn notify_after_wait_began_ends_that_wait() {
    check(ALL, || {
        let s = shared();
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                let mut g = s.m.lock().unwrap();
                g.waiting += 1;
                // One wait, no loop: it must return.
                let g = s.cv.wait_loom(g, &s.m);
                drop(g);
            })
        };
        until_waiting(&s, 1);
        s.cv.notify_one();
        w.join().unwrap();
        assert_no_sleepers(&s.cv);
    });
}

/// Two waiters and `notify_all`: both wake.
#[test]
fn notify_all_wakes_both_waiters() {
    check(BOUNDED, || {
        let s = shared();
        let ws: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || wait_ready(&s))
            })
            .collect();
        s.m.lock().unwrap().ready = true;
        s.cv.notify_all();
        for w in ws {
            w.join().unwrap();
        }
        assert_no_sleepers(&s.cv);
    });
}

/// Two waiters that both began waiting, one `notify_all` without a condition to re-check:
/// both single waits end.
#[test]
fn notify_all_after_waits_began_ends_both() {
    check(BOUNDED, || {
        let s = shared();
        let ws: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || {
                    let mut g = s.m.lock().unwrap();
                    g.waiting += 1;
                    drop(s.cv.wait_loom(g, &s.m));
                })
            })
            .collect();
        until_waiting(&s, 2);
        s.cv.notify_all();
        for w in ws {
            w.join().unwrap();
        }
        assert_no_sleepers(&s.cv);
    });
}

/// Two waiters, one token and one `notify_one`: at least one waiter wakes and takes it
/// (the test waits for that on loom's own condvar; if nobody woke, that is a deadlock).
/// Then a second token and `notify_one` release the other.
#[test]
fn notify_one_with_two_waiters_wakes_at_least_one() {
    check(BOUNDED, || {
        let s = shared();
        let ws: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || take_token(&s))
            })
            .collect();
        s.m.lock().unwrap().tokens = 1;
        s.cv.notify_one();
        let mut g = s.m.lock().unwrap();
        while g.woken == 0 {
            g = s.done.wait(g).unwrap();
        }
        g.tokens += 1;
        drop(g);
        s.cv.notify_one();
        for w in ws {
            w.join().unwrap();
        }
        assert_eq!(s.m.lock().unwrap().woken, 2);
        assert_no_sleepers(&s.cv);
    });
}

/// A timed wait (the modelled timeout fires as soon as the waiter would sleep) against a
/// notifier that sets the condition under the mutex and notifies after unlocking: a wait
/// that reports "not timed out" was ended by the notify, so the condition is set when it
/// returns; either way the waiter leaves the sleeper count.
#[test]
fn timed_wait_reports_a_notify_only_when_there_was_one() {
    check(ALL, || {
        let s = shared();
        let n = {
            let s = s.clone();
            thread::spawn(move || {
                s.m.lock().unwrap().ready = true;
                s.cv.notify_one();
            })
        };
        let mut g = s.m.lock().unwrap();
        if !g.ready {
            let (g2, timed_out) =
                s.cv.wait_timeout_loom(g, &s.m, std::time::Duration::from_secs(3600));
            g = g2;
            assert!(timed_out || g.ready, "woken without a notify");
        }
        drop(g);
        n.join().unwrap();
        assert_no_sleepers(&s.cv);
    });
}

/// The model can fail: a wait that nobody notifies is reported as a deadlock (so the
/// futex model really blocks, and the tests above would see a lost wake-up).
#[test]
#[should_panic(expected = "deadlock")]
fn unnotified_wait_is_reported_as_deadlock() {
    check(ALL, || {
        // Leaked: loom's panic unwinds through this closure, and dropping loom objects then
        // would panic again (and abort the test binary).
        let s: &'static Shared = Box::leak(Box::new(Shared {
            m: Mutex::new(State::default()),
            cv: RawCondvar::new(),
            done: Condvar::new(),
        }));
        let g = s.m.lock().unwrap();
        drop(s.cv.wait_loom(g, &s.m));
    });
}
