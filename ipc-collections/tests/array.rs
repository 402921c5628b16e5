//! `SharedArray<T>` across real processes (named, and anonymous memory over fork), its
//! element-type and dims checks, bad dims, and a holder killed with the lock.

use std::time::{Duration, Instant};

use ipc_collections::ipc_core::shm::AnonShm;
use ipc_collections::ipc_core::ErrorKind;
use ipc_collections::{Error, Shared, SharedArray};
use ipc_testutil::{
    env, fork_child, fork_run, kill_count, random_kills, report, role, sigkill, spawn_role,
    unique_name, xorshift64, Cleanup,
};

#[test]
fn separate_processes_open_by_name_see_dims_and_fill_their_rows() {
    const ROWS: usize = 4;
    const COLS: usize = 1000;
    if role().as_deref() == Some("row-writer") {
        let name = env("NAME");
        let row: usize = env("ROW").parse().unwrap();
        let a = SharedArray::<f64>::open(&name).unwrap();
        assert_eq!(a.dims(), &[ROWS, COLS]);
        assert_eq!(a.info().payload.start % 64, 0);
        assert_eq!(a.as_ptr() as usize % 64, 0, "payload is cache-line aligned");
        // Wrong dims and a wrong element type are refused.
        let e = SharedArray::<f64>::options()
            .dims(&[COLS, ROWS])
            .open(&name)
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::LayoutMismatch), "{e}");
        let e = SharedArray::<u64>::open(&name).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::LayoutMismatch), "{e}");
        report(e);
        let a = SharedArray::<f64>::options()
            .dims(&[ROWS, COLS])
            .open(&name)
            .unwrap();
        let mut g = a.lock().unwrap();
        for c in 0..COLS {
            *g.at_mut(&[row, c]).unwrap() = (row * COLS + c) as f64;
        }
        return;
    }
    let name = unique_name("grid");
    let _c = Cleanup::shm(&name);
    let a = SharedArray::<f64>::create(&name, &[ROWS, COLS]).unwrap();
    assert_eq!(a.len(), ROWS * COLS);
    assert!(a.lock().unwrap().iter().all(|&x| x == 0.0), "zeroed");
    let children: Vec<_> = (0..ROWS)
        .map(|r| {
            spawn_role(
                "separate_processes_open_by_name_see_dims_and_fill_their_rows",
                "row-writer",
                &[("NAME", &name), ("ROW", &r.to_string())],
            )
        })
        .collect();
    for c in children {
        let lines = c.wait_ok();
        assert!(
            lines.iter().any(|l| l.contains("f64") && l.contains("u64")),
            "the element-type mismatch names both types: {lines:?}"
        );
    }
    let g = a.lock().unwrap();
    for (i, &x) in g.as_slice().iter().enumerate() {
        assert_eq!(x, i as f64, "element {i}");
    }
    drop(g);
    assert_eq!(a.get(&[3, 999]).unwrap(), 3999.0);
    let e = a.get(&[4, 0]).unwrap_err();
    assert!(
        matches!(Some(e.kind()), Some(ErrorKind::InvalidInput)),
        "{e}"
    );
}

#[test]
fn anonymous_array_is_shared_with_a_forked_child() {
    let len = SharedArray::<u32, AnonShm>::segment_len(&[16, 16]).unwrap();
    let a = SharedArray::<u32, _>::create_in(AnonShm::new(len).unwrap(), &[16, 16]).unwrap();
    let ok = fork_run(Duration::from_secs(30), || {
        let mut g = a.lock().unwrap();
        for (i, x) in g.iter_mut().enumerate() {
            *x = i as u32 * 3;
        }
        true
    });
    ok.expect("child failed");
    let g = a.lock().unwrap();
    assert!(g.iter().enumerate().all(|(i, &x)| x == i as u32 * 3));

    // Shared<T> works over anonymous memory too.
    let len = Shared::<std::sync::atomic::AtomicU64, AnonShm>::segment_len().unwrap();
    let v =
        Shared::<std::sync::atomic::AtomicU64, _>::create_in(AnonShm::new(len).unwrap(), |_| {})
            .unwrap();
    let ok = fork_run(Duration::from_secs(30), || {
        v.fetch_add(5, std::sync::atomic::Ordering::SeqCst);
        true
    });
    ok.unwrap();
    assert_eq!(v.load(std::sync::atomic::Ordering::SeqCst), 5);
}

#[test]
fn dims_that_overflow_or_have_a_bad_rank_are_errors_before_any_object_exists() {
    let name = unique_name("dims");
    let _c = Cleanup::shm(&name);
    for dims in [
        &[usize::MAX, 2][..],
        &[1 << 32, 1 << 32][..],
        &[usize::MAX / 8 + 1][..],
    ] {
        let e = SharedArray::<f64>::create(&name, dims).unwrap_err();
        assert!(
            matches!(Some(e.kind()), Some(ErrorKind::InvalidSize)),
            "{dims:?}: {e}"
        );
    }
    for dims in [&[][..], &[1; 9][..]] {
        let e = SharedArray::<f64>::create(&name, dims).unwrap_err();
        assert!(
            matches!(Some(e.kind()), Some(ErrorKind::InvalidInput)),
            "{dims:?}: {e}"
        );
    }
    assert!(
        !std::path::Path::new(&format!("/dev/shm{name}")).exists(),
        "nothing was created"
    );
    // A zero dimension is an empty array, not an error.
    let a = SharedArray::<f64>::create(&name, &[0, 5]).unwrap();
    assert!(a.is_empty());
    assert!(a.lock().unwrap().is_empty());
}

#[test]
fn an_array_of_zero_sized_elements_with_huge_dims_is_created_at_once() {
    // Under a watchdog: creating must not walk all usize::MAX elements.
    let ok = fork_run(Duration::from_secs(30), || {
        let dims = [usize::MAX];
        let len = SharedArray::<[u64; 0], AnonShm>::segment_len(&dims).unwrap();
        let a = SharedArray::<[u64; 0], _>::create_in(AnonShm::new(len).unwrap(), &dims).unwrap();
        a.len() == usize::MAX && a.lock().unwrap().len() == usize::MAX
    });
    ok.unwrap();
}

#[test]
fn open_or_create_array_creates_once_and_checks_dims() {
    let name = unique_name("ooc");
    let _c = Cleanup::shm(&name);
    let a = SharedArray::<i32>::open_or_create(&name, &[3, 3]).unwrap();
    assert!(a.created());
    a.set(&[1, 1], -7).unwrap();
    let b = SharedArray::<i32>::open_or_create(&name, &[3, 3]).unwrap();
    assert!(!b.created());
    assert_eq!(b.get(&[1, 1]).unwrap(), -7);
    let e = SharedArray::<i32>::open_or_create(&name, &[9]).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LayoutMismatch), "{e}");
    // Lock errors name the array.
    let g = a.lock().unwrap();
    let e = std::thread::scope(|s| {
        s.spawn(|| b.try_lock().map(|_| ()).unwrap_err())
            .join()
            .unwrap()
    });
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(e.name(), Some(name.as_str()), "{e}");
    drop(g);
}

#[test]
fn holder_of_the_array_lock_killed_poisons_it_and_clear_poison_repairs() {
    if role().as_deref() == Some("holder") {
        let a = SharedArray::<u64>::open(&env("NAME")).unwrap();
        let mut g = a.lock().unwrap();
        g[0] = 77;
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let name = unique_name("aholder");
    let _c = Cleanup::shm(&name);
    let a = SharedArray::<u64>::create(&name, &[8]).unwrap();
    let mut child = spawn_role(
        "holder_of_the_array_lock_killed_poisons_it_and_clear_poison_repairs",
        "holder",
        &[("NAME", &name)],
    );
    // The child holds the lock once try_lock would block.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match a.try_lock() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Ok(g) => drop(g),
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "child never took the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!a.is_poisoned(), "held by a live process");
    sigkill(child.pid());
    child.kill();
    // Issue 20: poisoned as soon as the holder is dead, before anybody tries to lock.
    assert!(a.is_poisoned(), "the holder was killed");
    // The convenience calls say so, naming the array, and keep saying so.
    for _ in 0..2 {
        let e = a.get(&[0]).unwrap_err();
        assert!(
            e.kind() == ErrorKind::Poisoned && e.name() == Some(name.as_str()),
            "{e}"
        );
        let e = a.set(&[1], 5).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Poisoned), "{e}");
    }
    assert!(a.is_poisoned());
    let mut g = a.lock_ignoring_poison().unwrap();
    assert!(g.is_poisoned());
    assert_eq!(g[0], 77);
    g[0] = 0;
    g.clear_poison();
    drop(g);
    assert_eq!(a.get(&[0]).unwrap(), 0);
    a.set(&[1], 5).unwrap();
    assert!(!a.is_poisoned());
}

/// Issue 9: three processes doing nothing but `get`/`set` on one array while they are
/// SIGKILLed at random points. Before, `get` after a dead owner left the lock
/// unrecoverable, and within 20-30 kills the array's lock was held by a dead pid for good
/// (every process stuck). Now a crash poisons the array: get/set return `Poisoned` (one
/// worker repairs with `lock_ignoring_poison` + `clear_poison`), no call ever hangs or
/// reports `Timeout`/`Unrecoverable`, and afterwards the documented recovery path gives a
/// fully usable array.
#[test]
fn array_get_set_by_processes_killed_at_random_never_bricks_the_array() {
    const N: usize = 64;
    let len = SharedArray::<u64, AnonShm>::segment_len(&[N]).unwrap();
    let a = SharedArray::<u64, _>::create_in(AnonShm::new(len).unwrap(), &[N]).unwrap();
    let poisoned = |r: &Result<(), Error>| matches!(r, Err(e) if e.kind() == ErrorKind::Poisoned);
    let kills = kill_count(300);
    let outcome = random_kills(
        kills,
        3,
        Duration::from_micros(300),
        0x2545_f491_4f6c_dd1d,
        |slot| {
            fork_child(|| {
                let mut rng = xorshift64(u64::from(std::process::id()) | 1);
                loop {
                    let i = (rng() % N as u64) as usize;
                    let set = a.set(&[i], rng());
                    let get = a.get(&[i]).map(|_| ());
                    for r in [set, get] {
                        if r.is_ok() {
                            continue;
                        }
                        if !poisoned(&r) {
                            return false;
                        }
                        if slot == 0 {
                            // The repairer: what a user does after checking the data.
                            match a.lock_ignoring_poison() {
                                Ok(mut g) => g.clear_poison(),
                                Err(_) => return false,
                            }
                        }
                    }
                }
            })
        },
    );
    outcome.expect("a worker saw an error other than Poisoned");

    // Nobody holds the lock now. The next locker is told at once, never Timeout.
    let t = Instant::now();
    match a.lock_timeout(Duration::from_secs(2)) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::Poisoned => {}
        Err(e) => panic!("after {kills} random kills the next lock got {e}"),
    }
    assert!(t.elapsed() < Duration::from_secs(1));
    // The recovery path, then normal use from this and another process.
    let mut g = a.lock_ignoring_poison().unwrap();
    g.fill(7);
    g.clear_poison();
    drop(g);
    assert_eq!(a.get(&[3]).unwrap(), 7);
    fork_run(Duration::from_secs(30), || {
        a.set(&[3], 8).is_ok() && a.get(&[3]).ok() == Some(8)
    })
    .unwrap();
    assert_eq!(a.get(&[3]).unwrap(), 8);
}

#[cfg(feature = "ndarray")]
#[test]
fn ndarray_views_see_c_order_dims() {
    let name = unique_name("nd");
    let _c = Cleanup::shm(&name);
    let a = SharedArray::<i64>::create(&name, &[2, 3, 4]).unwrap();
    let mut g = a.lock().unwrap();
    {
        let mut v = g.view_mut().unwrap();
        assert_eq!(v.shape(), &[2, 3, 4]);
        v[[1, 2, 3]] = 7;
        v[[0, 1, 0]] = 5;
    }
    assert_eq!(g[23], 7, "last element in C order");
    assert_eq!(g[4], 5);
    let v = g.view().unwrap();
    assert_eq!(v.sum(), 12);
}

#[test]
fn create_past_rlimit_fsize_is_limit_reached_and_leaves_nothing() {
    // Issue 9: the segment's shm object is sized at create; past RLIMIT_FSIZE that raised
    // SIGXFSZ and killed the process, leaving the object in /dev/shm. The limit is set in a
    // child process of its own.
    if role().as_deref() == Some("limited") {
        ipc_testutil::set_soft_rlimit(libc::RLIMIT_FSIZE, 4096);
        let name = env("NAME");
        for r in [
            SharedArray::<f64>::create(&name, &[64, 64]).map(drop),
            SharedArray::<f64>::open_or_create(&name, &[64, 64]).map(drop),
            Shared::<[u64; 1024]>::create(&name, |_| {}).map(drop),
        ] {
            let e = r.unwrap_err();
            match Some(e.kind()) {
                Some(ErrorKind::LimitReached)
                    if e.detail().is_some_and(|w| w.contains("RLIMIT_FSIZE")) =>
                {
                    report("LimitReached(RLIMIT_FSIZE)")
                }
                _ => report(format!("other: {e}")),
            }
        }
        return;
    }
    let name = unique_name("arr-fsize");
    let _c = Cleanup::shm(&name);
    let lines = spawn_role(
        "create_past_rlimit_fsize_is_limit_reached_and_leaves_nothing",
        "limited",
        &[("NAME", &name)],
    )
    .wait_ok();
    assert_eq!(lines, ["LimitReached(RLIMIT_FSIZE)"; 3]);
    assert!(!std::path::Path::new(&format!("/dev/shm{name}")).exists());
}

#[test]
fn array_of_an_exited_creator_is_not_found_with_the_lifetime_hint() {
    // A process that creates an array and exits removes it (its handle drops); the opener
    // that comes later is told why, and how to keep it.
    if role().as_deref() == Some("creator") {
        let a = SharedArray::<u32>::create(&env("NAME"), &[4]).unwrap();
        a.set(&[1], 7).unwrap();
        report("made");
        return;
    }
    let name = unique_name("arr-gone");
    let _c = Cleanup::shm(&name);
    let lines = spawn_role(
        "array_of_an_exited_creator_is_not_found_with_the_lifetime_hint",
        "creator",
        &[("NAME", &name)],
    )
    .wait_ok();
    assert_eq!(lines, ["made"]);
    let e = SharedArray::<u32>::open(&name).unwrap_err();
    assert_eq!(Some(e.kind()), Some(ErrorKind::NotFound), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("removes it when dropped") && text.contains("unlink_on_drop(false)"),
        "{text}"
    );
}
