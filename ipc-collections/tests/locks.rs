//! `SharedRwLock<T>` and `SharedCondvar` inside a `Shared<T>`, across real processes.

use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use ipc_collections::ipc_core::ErrorKind;
use ipc_collections::{Shared, SharedCondvar, SharedLayout, SharedMutex, SharedRwLock};
use ipc_testutil::{env, report, role, spawn_role, unique_name, Cleanup};

#[derive(SharedLayout)]
#[repr(C)]
struct Table {
    ready: AtomicU32,
    rows: SharedRwLock<[u64; 16]>,
}

#[test]
fn rwlock_writers_in_separate_processes_never_tear_a_row_set() {
    const WRITERS: usize = 3;
    const ROUNDS: u64 = 300;
    if role().as_deref() == Some("writer") {
        let t = Shared::<Table>::open(&env("NAME")).unwrap();
        for _ in 0..ROUNDS {
            // Every write keeps all 16 entries equal; readers check that they always are.
            let mut w = t.rows.write().unwrap();
            let next = w[0] + 1;
            w.iter_mut().for_each(|x| *x = next);
            drop(w);
            let r = t.rows.read().unwrap();
            assert!(r.iter().all(|&x| x == r[0]), "torn: {:?}", *r);
        }
        report("done");
        return;
    }
    let name = unique_name("table");
    let _c = Cleanup::shm(&name);
    let t = Shared::<Table>::create(&name, |t| t.rows.get_mut()[..].fill(10)).unwrap();
    let children: Vec<_> = (0..WRITERS)
        .map(|_| {
            spawn_role(
                "rwlock_writers_in_separate_processes_never_tear_a_row_set",
                "writer",
                &[("NAME", &name)],
            )
        })
        .collect();
    for c in children {
        assert_eq!(c.wait_ok(), ["done"]);
    }
    let r = t.rows.read().unwrap();
    assert!(
        r.iter().all(|&x| x == 10 + WRITERS as u64 * ROUNDS),
        "{:?}",
        *r
    );
    // While a read lock is held, a writer cannot get in; readers can.
    assert!(t.rows.try_read().is_ok());
    let e = t.rows.try_write().map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    let e = t
        .rows
        .write_timeout(Duration::from_millis(20))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

#[test]
fn rwlock_writer_killed_holding_it_makes_timed_forms_time_out_not_hang() {
    if role().as_deref() == Some("dying-writer") {
        let t = Shared::<Table>::open(&env("NAME")).unwrap();
        let _w = t.rows.write().unwrap();
        t.ready.store(1, std::sync::atomic::Ordering::SeqCst);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let name = unique_name("rwdead");
    let _c = Cleanup::shm(&name);
    let t = Shared::<Table>::create(&name, |_| {}).unwrap();
    let mut child = spawn_role(
        "rwlock_writer_killed_holding_it_makes_timed_forms_time_out_not_hang",
        "dying-writer",
        &[("NAME", &name)],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.ready.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "child never took the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
    ipc_testutil::sigkill(child.pid());
    child.kill();
    // pthread rwlocks are not robust (documented): the dead writer's lock is never
    // released, and the bounded forms say so instead of hanging.
    let e = t
        .rows
        .read_timeout(Duration::from_millis(30))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let e = t
        .rows
        .write_timeout(Duration::from_millis(30))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let e = t.rows.try_read().map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
}

#[derive(SharedLayout)]
#[repr(C)]
struct Channel {
    value: SharedMutex<u64>,
    changed: SharedCondvar,
}

#[test]
fn condvar_ping_pong_between_processes() {
    const ROUNDS: u64 = 50;
    if role().as_deref() == Some("ponger") {
        let ch = Shared::<Channel>::open(&env("NAME")).unwrap();
        for i in 0..ROUNDS {
            // Wait for the parent's odd value, answer with the next even one.
            let g = ch.value.lock().unwrap();
            let mut g = ch.changed.wait_while(g, |v| *v != 2 * i + 1).unwrap();
            *g += 1;
            drop(g);
            ch.changed.notify_all();
        }
        report("done");
        return;
    }
    let name = unique_name("chan");
    let _c = Cleanup::shm(&name);
    let ch = Shared::<Channel>::create(&name, |_| {}).unwrap();
    let child = spawn_role(
        "condvar_ping_pong_between_processes",
        "ponger",
        &[("NAME", &name)],
    );
    for i in 0..ROUNDS {
        let mut g = ch.value.lock().unwrap();
        assert_eq!(*g, 2 * i);
        *g += 1;
        drop(g);
        ch.changed.notify_all();
        let g = ch.value.lock().unwrap();
        let (g, t) = ch
            .changed
            .wait_timeout_while(g, Duration::from_secs(20), |v| *v != 2 * i + 2)
            .unwrap();
        assert!(!t.timed_out(), "round {i}: no answer");
        drop(g);
    }
    assert_eq!(child.wait_ok(), ["done"]);
    assert_eq!(*ch.value.lock().unwrap(), 2 * ROUNDS);

    // Nobody notifies: a timed wait returns with timed_out, the mutex held again.
    let start = Instant::now();
    let g = ch.value.lock().unwrap();
    let (g, t) = ch
        .changed
        .wait_timeout(g, Duration::from_millis(30))
        .unwrap();
    assert!(t.timed_out());
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(ch.value.try_lock().is_err(), "still held by this guard");
    drop(g);
}
