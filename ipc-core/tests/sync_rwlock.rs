//! RawRwLock across real processes: shared readers, exclusive writers, try/timed forms, and
//! what a holder killed with SIGKILL leaves behind (timed acquires still return).

use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::sync::RawRwLock;
use ipc_core::{ErrorKind, SharedLayout};
use ipc_testutil::proc_state::sleeps_in_futex;
use ipc_testutil::shared_mem::{park_forever, ShMem};
use ipc_testutil::CHILD;
use ipc_testutil::{fork_child, fork_run, sigkill, wait_for_child, wait_pid};

#[repr(C)]
struct Data {
    l: RawRwLock,
    /// Protected by `l` (written with a separate load and store under the write lock).
    n: AtomicU64,
    held: AtomicU32,
    release: AtomicU32,
}

fn data() -> ShMem<Data> {
    ShMem::new(|p: *mut Data| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe { RawRwLock::init_in_place(addr_of_mut!((*p).l)) }.expect("init");
    })
}

fn kind(r: ipc_core::Result<()>) -> Result<(), ErrorKind> {
    r.map_err(|e| e.kind())
}

/// Forks a child that takes the lock (`write` or read), flags `held`, and parks until
/// killed; returns once it holds the lock.
fn child_dies_holding(d: &Data, write: bool) -> i32 {
    d.held.store(0, Ordering::SeqCst);
    let pid = fork_child(|| {
        let r = if write { d.l.write() } else { d.l.read() };
        if r.is_err() {
            return false;
        }
        d.held.store(1, Ordering::SeqCst);
        park_forever()
    });
    wait_for_child(pid, "the child to hold the lock", CHILD, || {
        d.held.load(Ordering::SeqCst) == 1
    });
    pid
}

#[test]
fn writers_in_two_processes_exclude_each_other() {
    const ITERS: u64 = 2000;
    let d = data();
    let d = &*d;
    let pids: Vec<i32> = (0..2)
        .map(|_| {
            fork_child(|| {
                for _ in 0..ITERS {
                    let Ok(g) = d.l.write_guard() else {
                        return false;
                    };
                    let v = d.n.load(Ordering::Relaxed);
                    std::hint::spin_loop();
                    d.n.store(v + 1, Ordering::Relaxed);
                    drop(g);
                }
                true
            })
        })
        .collect();
    for pid in pids {
        assert_eq!(wait_pid(pid, CHILD), Some(0));
    }
    assert_eq!(d.n.load(Ordering::Relaxed), 2 * ITERS);
}

#[test]
fn readers_share_and_exclude_writers() {
    let d = data();
    let d = &*d;
    let pid = fork_child(|| {
        if d.l.read().is_err() {
            return false;
        }
        d.held.store(1, Ordering::SeqCst);
        while d.release.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: read-locked above on this thread.
        unsafe { d.l.unlock() };
        true
    });
    wait_for_child(pid, "the child to read-lock", CHILD, || {
        d.held.load(Ordering::SeqCst) == 1
    });
    // Another reader gets in at once; a writer does not.
    let g = d.l.read_guard_timeout(Duration::ZERO).expect("shared read");
    drop(g);
    assert_eq!(kind(d.l.try_write()), Err(ErrorKind::WouldBlock));
    assert_eq!(
        kind(d.l.write_timeout(Duration::from_millis(20))),
        Err(ErrorKind::Timeout)
    );
    d.release.store(1, Ordering::SeqCst);
    // Duration::MAX saturates, and the reader's unlock lets the writer in.
    let g = d.l.write_guard_timeout(Duration::MAX).expect("write");
    fork_run(CHILD, || kind(d.l.try_read()) == Err(ErrorKind::WouldBlock)).unwrap();
    drop(g);
    assert_eq!(wait_pid(pid, CHILD), Some(0));
}

#[test]
fn timed_acquires_return_after_a_writer_is_killed_holding_it() {
    let d = data();
    let pid = child_dies_holding(&d, true);
    sigkill(pid);
    assert_eq!(wait_pid(pid, CHILD), None);

    // Not robust: the dead writer's lock stays held for ever. Timed forms return.
    for timeout in [Duration::ZERO, Duration::from_millis(100)] {
        let t = Instant::now();
        assert_eq!(kind(d.l.read_timeout(timeout)), Err(ErrorKind::Timeout));
        assert_eq!(kind(d.l.write_timeout(timeout)), Err(ErrorKind::Timeout));
        let waited = t.elapsed();
        assert!(waited >= timeout * 2, "waited {waited:?}");
        assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    }
    assert_eq!(kind(d.l.try_read()), Err(ErrorKind::WouldBlock));
    assert_eq!(kind(d.l.try_write()), Err(ErrorKind::WouldBlock));
    // Also from another process.
    fork_run(CHILD, || {
        d.l.read_timeout(Duration::from_millis(50))
            .is_err_and(|e| e.kind() == ErrorKind::Timeout)
    })
    .unwrap();
}

#[test]
fn a_killed_reader_lets_readers_in_but_keeps_writers_out() {
    let d = data();
    let pid = child_dies_holding(&d, false);
    sigkill(pid);
    assert_eq!(wait_pid(pid, CHILD), None);

    let g =
        d.l.read_guard_timeout(Duration::from_secs(5))
            .expect("read");
    drop(g);
    let t = Instant::now();
    assert_eq!(
        kind(d.l.write_timeout(Duration::from_millis(100))),
        Err(ErrorKind::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
    // A writer waiting in vain does not hold new readers back (reader-preferring kind):
    // a reader gets in while the writer sleeps in its wait (observed), and the writer is
    // still waiting after the reader left (it flags `held` = 3 only once its wait ended).
    let d = &*d;
    let writer = fork_child(|| {
        let timed_out =
            d.l.write_timeout(Duration::from_secs(3))
                .is_err_and(|e| e.kind() == ErrorKind::Timeout);
        d.held.store(3, Ordering::SeqCst);
        timed_out
    });
    wait_for_child(writer, "the writer to sleep in its wait", CHILD, || {
        sleeps_in_futex(writer)
    });
    fork_run(CHILD, || {
        d.l.try_read().is_ok() && {
            // SAFETY: read-locked just above on this thread.
            unsafe { d.l.unlock() };
            true
        }
    })
    .unwrap();
    assert_ne!(
        d.held.load(Ordering::SeqCst),
        3,
        "the writer's wait ended before the reader was let in"
    );
    assert_eq!(wait_pid(writer, CHILD), Some(0), "the writer timed out");
}

#[test]
fn layout_is_pthread_rwlock() {
    assert_eq!(
        RawRwLock::LAYOUT.size,
        std::mem::size_of::<libc::pthread_rwlock_t>()
    );
    assert_eq!(RawRwLock::LAYOUT.name, "RawRwLock");
}

/// `SharedRwLock` (ipc-collections) hands out `&mut T` under the write lock and `&T` under a
/// read lock, so the thread that holds the write lock must never get the lock again in
/// either mode: glibc records the writer's TID and says `EDEADLK` (or `EBUSY` for the try
/// forms) instead.
#[test]
fn the_writer_thread_cannot_take_the_lock_again() {
    let d = data();
    d.l.write().expect("write");
    let deadlk = |r: ipc_core::Result<()>| matches!(r, Err(e) if e.errno() == Some(ipc_core::Errno::EDEADLK));
    assert!(deadlk(d.l.read()), "read while writing");
    assert!(deadlk(d.l.write()), "write while writing");
    assert!(deadlk(d.l.read_timeout(Duration::from_millis(10))));
    assert!(deadlk(d.l.write_timeout(Duration::from_millis(10))));
    assert_eq!(kind(d.l.try_read()), Err(ErrorKind::WouldBlock));
    assert_eq!(kind(d.l.try_write()), Err(ErrorKind::WouldBlock));
    // SAFETY: the write lock is held on this thread (every attempt above failed).
    unsafe { d.l.unlock() };
    // Released once: free for everybody.
    fork_run(CHILD, || d.l.try_write().is_ok()).unwrap();
}
