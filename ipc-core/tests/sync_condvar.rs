//! RawCondvar across real processes: send/receive, timeouts, notify_all, and waiters killed
//! while they sleep.

use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::sync::{Acquired, RawCondvar, RawMutex};
use ipc_core::SharedLayout;
use ipc_testutil::shared_mem::ShMem;
use ipc_testutil::CHILD;
use ipc_testutil::{fork_child, sigkill, wait_for_child, wait_pid};

#[repr(C)]
struct Chan {
    m: RawMutex,
    cv: RawCondvar,
    /// Protected by `m`: 1 while `msg` holds an unread message.
    full: AtomicU32,
    msg: AtomicU64,
    /// Protected by `m`: how many waiters have entered their wait loop.
    waiting: AtomicU32,
    /// Protected by `m`: the condition waiters wait for.
    go: AtomicU32,
}

fn chan() -> ShMem<Chan> {
    ShMem::new(|p: *mut Chan| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe {
            RawMutex::init_in_place(addr_of_mut!((*p).m)).expect("mutex init");
            RawCondvar::init_in_place(addr_of_mut!((*p).cv)).expect("condvar init");
        }
    })
}

/// Waits under `c.m` until `go` is set; counts itself in `waiting` first.
fn wait_for_go(c: &Chan) -> bool {
    let Ok(mut g) = c.m.guard() else { return false };
    c.waiting.fetch_add(1, Ordering::SeqCst);
    while c.go.load(Ordering::SeqCst) == 0 {
        g = match c.cv.wait_guard(g) {
            Ok(g) => g,
            Err(_) => return false,
        };
    }
    g.acquired() == Acquired::Clean
}

/// True once `pid` sleeps in the kernel (state S with a futex wait channel).
fn sleeps_in_futex(pid: i32) -> bool {
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    wchan.contains("futex")
}

#[test]
fn send_and_receive_between_two_processes() {
    const N: u64 = 500;
    let c = chan();
    let c = &*c;
    let receiver = fork_child(|| {
        for want in 0..N {
            let Ok(mut g) = c.m.guard() else { return false };
            while c.full.load(Ordering::Relaxed) == 0 {
                g = match c.cv.wait_guard(g) {
                    Ok(g) => g,
                    Err(_) => return false,
                };
            }
            if c.msg.load(Ordering::Relaxed) != want * 3 {
                return false;
            }
            c.full.store(0, Ordering::Relaxed);
            c.cv.notify_all();
            drop(g);
        }
        true
    });
    for i in 0..N {
        let mut g = c.m.guard().expect("lock");
        while c.full.load(Ordering::Relaxed) == 1 {
            let (g2, _) =
                c.cv.wait_guard_timeout(g, Duration::from_secs(30))
                    .expect("wait");
            g = g2;
        }
        c.msg.store(i * 3, Ordering::Relaxed);
        c.full.store(1, Ordering::Relaxed);
        c.cv.notify_all();
        drop(g);
    }
    assert_eq!(
        wait_pid(receiver, CHILD),
        Some(0),
        "receiver got every message"
    );
}

#[test]
fn wait_timeout_times_out_and_holds_the_mutex_again() {
    let c = chan();
    assert_eq!(c.m.lock(), Ok(Acquired::Clean));
    let t = Instant::now();
    // SAFETY: `c.m` is held on this thread.
    let r = unsafe { c.cv.wait_timeout(&c.m, Duration::from_millis(50)) };
    assert_eq!(r, Ok((Acquired::Clean, true)));
    assert!(t.elapsed() >= Duration::from_millis(50));
    // Held again: another process cannot take it.
    ipc_testutil::fork_run(CHILD, || c.m.try_lock().is_err()).unwrap();
    // Zero: unlock, look once, relock.
    // SAFETY: `c.m` is held on this thread.
    let r = unsafe { c.cv.wait_timeout(&c.m, Duration::ZERO) };
    assert_eq!(r, Ok((Acquired::Clean, true)));
    // SAFETY: held on this thread.
    unsafe { c.m.unlock() };
}

#[test]
fn notify_wakes_a_timed_waiter_in_another_process() {
    let c = chan();
    let c = &*c;
    let pid = fork_child(|| {
        let Ok(mut g) = c.m.guard() else { return false };
        c.waiting.store(1, Ordering::SeqCst);
        while c.go.load(Ordering::SeqCst) == 0 {
            // Duration::MAX saturates: effectively for ever, never an overflow.
            match c.cv.wait_guard_timeout(g, Duration::MAX) {
                Ok((g2, false)) => g = g2,
                _ => return false,
            }
        }
        true
    });
    wait_for_child(pid, "the child to wait", CHILD, || {
        c.waiting.load(Ordering::SeqCst) == 1 && sleeps_in_futex(pid)
    });
    {
        let _g = c.m.guard().expect("lock");
        c.go.store(1, Ordering::SeqCst);
        c.cv.notify_one();
    }
    assert_eq!(wait_pid(pid, CHILD), Some(0));
}

#[test]
fn notify_all_wakes_every_waiter() {
    let c = chan();
    let c = &*c;
    let pids: Vec<i32> = (0..3).map(|_| fork_child(|| wait_for_go(c))).collect();
    for &pid in &pids {
        wait_for_child(pid, "a child to sleep", CHILD, || sleeps_in_futex(pid));
    }
    assert_eq!(c.waiting.load(Ordering::SeqCst), 3);
    {
        let _g = c.m.guard().expect("lock");
        c.go.store(1, Ordering::SeqCst);
        c.cv.notify_all();
    }
    for pid in pids {
        assert_eq!(wait_pid(pid, CHILD), Some(0));
    }
}

#[test]
fn a_killed_waiter_does_not_stop_a_live_one_from_waking() {
    let c = chan();
    let c = &*c;
    // Two waiters asleep; the first to sleep is killed (so it is first in the futex queue
    // until the kernel drops it).
    let doomed = fork_child(|| wait_for_go(c));
    wait_for_child(doomed, "the doomed waiter to sleep", CHILD, || {
        sleeps_in_futex(doomed)
    });
    let live = fork_child(|| wait_for_go(c));
    wait_for_child(live, "the live waiter to sleep", CHILD, || {
        sleeps_in_futex(live)
    });
    sigkill(doomed);
    assert_eq!(wait_pid(doomed, CHILD), None);

    // One notify_one: it must reach the live waiter, not the dead one.
    {
        let _g = c.m.guard().expect("lock");
        c.go.store(1, Ordering::SeqCst);
        c.cv.notify_one();
    }
    assert_eq!(wait_pid(live, CHILD), Some(0), "the live waiter woke");

    // The condvar keeps working for later waiters, and notify with a stale sleeper count
    // does not block.
    let c2 = chan();
    let c2 = &*c2;
    let w = fork_child(|| wait_for_go(c2));
    wait_for_child(w, "a later waiter to sleep", CHILD, || sleeps_in_futex(w));
    sigkill(w);
    assert_eq!(wait_pid(w, CHILD), None);
    let t = Instant::now();
    c2.cv.notify_one();
    c2.cv.notify_all();
    assert!(t.elapsed() < Duration::from_secs(1));
    let w = fork_child(|| wait_for_go(c2));
    wait_for_child(w, "a fresh waiter to sleep", CHILD, || sleeps_in_futex(w));
    {
        let _g = c2.m.guard().expect("lock");
        c2.go.store(1, Ordering::SeqCst);
        c2.cv.notify_one();
    }
    assert_eq!(wait_pid(w, CHILD), Some(0));
}

#[test]
fn waiter_sees_owner_died_when_the_mutex_holder_is_killed() {
    let c = chan();
    let c = &*c;
    // A waiter that reports how it re-acquired the mutex.
    let waiter = fork_child(|| {
        let Ok(mut g) = c.m.guard() else { return false };
        c.waiting.store(1, Ordering::SeqCst);
        while c.go.load(Ordering::SeqCst) == 0 {
            g = match c.cv.wait_guard(g) {
                Ok(g) => g,
                Err(_) => return false,
            };
        }
        let died = g.acquired() == Acquired::OwnerDied;
        if died {
            let _ = g.mark_consistent();
        }
        died
    });
    wait_for_child(waiter, "the waiter to sleep", CHILD, || {
        sleeps_in_futex(waiter)
    });
    // A process that takes the mutex, sets the condition, notifies, and dies holding it.
    let killer = fork_child(|| {
        if c.m.lock().is_err() {
            return false;
        }
        c.go.store(1, Ordering::SeqCst);
        c.cv.notify_all();
        c.msg.store(1, Ordering::SeqCst);
        ipc_testutil::shared_mem::park_forever()
    });
    wait_for_child(killer, "the notifier to hold the mutex", CHILD, || {
        c.msg.load(Ordering::SeqCst) == 1
    });
    sigkill(killer);
    assert_eq!(wait_pid(killer, CHILD), None);
    assert_eq!(wait_pid(waiter, CHILD), Some(0), "waiter got OwnerDied");
}

#[test]
fn layout_is_two_words_and_zero_is_initialised() {
    assert_eq!(RawCondvar::LAYOUT.size, 8);
    assert_eq!(RawCondvar::LAYOUT.align, 4);
    assert_eq!(RawCondvar::LAYOUT.name, "RawCondvar");
}
