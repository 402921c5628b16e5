//! Semaphores across real processes: named (`sem_open`) between separately started
//! processes, in place (`sem_init`, pshared) between forked ones; timeouts and bad input.

use std::os::unix::fs::PermissionsExt;
use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_core::sem::{self, NamedSemaphore, SemOptions, Semaphore, SEM_VALUE_MAX};
use ipc_core::{ErrorKind, SharedLayout};
use ipc_testutil::proc_state::{all_threads_sleep, gettid, sleeps_in_futex};
use ipc_testutil::shared_mem::ShMem;
use ipc_testutil::CHILD;
use ipc_testutil::{
    env, fork_child, report, role, spawn_role, unique_name, wait_for_child, wait_pid, Cleanup,
};

fn kind<T>(r: ipc_core::Result<T>) -> Result<T, ErrorKind> {
    r.map_err(|e| e.kind())
}

#[test]
fn named_posted_in_one_process_awaited_in_another() {
    if role().as_deref() == Some("poster") {
        let s = NamedSemaphore::open(&env("SEM_NAME")).expect("child open");
        // Post once the parent's thread sleeps in its wait (a wake-up, not a ready unit).
        let waiter: i32 = env("WAITER_TID").parse().unwrap();
        ipc_testutil::wait_for("the parent to wait", CHILD, || sleeps_in_futex(waiter));
        s.post().expect("post");
        report("posted");
        return;
    }
    let name = unique_name("sem-post");
    let _c = Cleanup::sem(&name);
    let s = NamedSemaphore::create(&name, 0).expect("create");
    let child = spawn_role(
        "named_posted_in_one_process_awaited_in_another",
        "poster",
        &[("SEM_NAME", &name), ("WAITER_TID", &gettid().to_string())],
    );
    s.wait_timeout(Duration::from_secs(30))
        .expect("the child's post arrives");
    assert_eq!(child.wait_ok(), ["posted"]);
    // The timeout case: nobody posts any more.
    let t = Instant::now();
    let e = s.wait_timeout(Duration::from_millis(100)).unwrap_err();
    assert!(t.elapsed() >= Duration::from_millis(100));
    // The error names the call and the semaphore, as every error of a named object does.
    assert_eq!(
        (e.kind(), e.op(), e.name()),
        (ErrorKind::Timeout, "sem_clockwait", Some(&*name))
    );
    assert_eq!(e.to_string(), format!("sem_clockwait {name:?}: timed out"));
    assert_eq!(
        kind(s.wait_timeout(Duration::ZERO)),
        Err(ErrorKind::Timeout)
    );
    let e = s.try_wait().unwrap_err();
    assert_eq!(
        (e.kind(), e.op(), e.name()),
        (ErrorKind::WouldBlock, "sem_trywait", Some(&*name))
    );
}

#[test]
fn named_awaited_in_a_child_with_a_timeout() {
    if role().as_deref() == Some("waiter") {
        let s = NamedSemaphore::open(&env("SEM_NAME")).expect("child open");
        let t = Instant::now();
        // The error, as a program would print it: it names the semaphore.
        let first = match s.wait_timeout(Duration::from_millis(100)) {
            Ok(()) => "Ok".to_owned(),
            Err(e) => format!("{:?}: {e}", e.kind()),
        };
        report(format!(
            "{first} {}",
            t.elapsed() >= Duration::from_millis(100)
        ));
        // The parent posts once it sees the report and this process sleeps in the wait.
        let g = s.guard_timeout(Duration::from_secs(30)).expect("wait");
        g.forget();
        report("got");
        return;
    }
    let name = unique_name("sem-wait");
    let _c = Cleanup::sem(&name);
    let s = NamedSemaphore::create(&name, 0).expect("create");
    let mut child = spawn_role(
        "named_awaited_in_a_child_with_a_timeout",
        "waiter",
        &[("SEM_NAME", &name)],
    );
    // Post only after the child's first wait timed out (its report) and its second wait
    // sleeps (every thread of the child asleep, one in a futex).
    let timed_out = format!("Timeout: sem_clockwait {name:?}: timed out true");
    assert_eq!(child.next_report(CHILD), timed_out);
    let pid = child.pid();
    wait_for_child(pid, "the child's second wait", CHILD, || {
        all_threads_sleep(pid, "futex")
    });
    s.post().expect("post");
    assert_eq!(child.wait_ok(), [timed_out.as_str(), "got"]);
    assert_eq!(s.value(), 0);
}

#[test]
fn named_create_open_and_unlink() {
    let name = unique_name("sem-life");
    let _c = Cleanup::sem(&name);
    let a = NamedSemaphore::create(&name, 3).expect("create");
    assert_eq!(a.value(), 3);
    assert_eq!(a.name(), name);
    assert_eq!(
        kind(NamedSemaphore::create(&name, 0)).map(|_| ()),
        Err(ErrorKind::AlreadyExists)
    );
    let b = NamedSemaphore::open(&name).expect("open");
    b.try_wait().expect("a unit");
    assert_eq!(a.value(), 2, "same semaphore");
    let c = NamedSemaphore::open_or_create(&name, 9).expect("open_or_create opens");
    assert_eq!(c.value(), 2, "the value is not reset");
    drop((b, c));
    sem::unlink(&name).expect("unlink");
    assert_eq!(kind(sem::unlink(&name)), Err(ErrorKind::NotFound));
    assert_eq!(
        kind(NamedSemaphore::open(&name)).map(|_| ()),
        Err(ErrorKind::NotFound)
    );
    // The open handle keeps working after unlink.
    a.post().expect("post after unlink");
    assert_eq!(a.value(), 3);
    let d = NamedSemaphore::open_or_create(&name, 9).expect("open_or_create creates");
    assert_eq!(d.value(), 9);
}

#[test]
fn named_permissions_are_exact_whatever_the_umask() {
    if role().as_deref() == Some("umask") {
        // In its own process: the umask is process-wide.
        // SAFETY: umask has no preconditions.
        unsafe { libc::umask(env("UMASK").parse::<libc::mode_t>().expect("umask")) };
        let name = env("SEM_NAME");
        let perms: u32 = env("PERMS").parse().expect("perms");
        let _s = NamedSemaphore::options()
            .mode(perms)
            .create(&name)
            .expect("create");
        let path = format!("/dev/shm/sem.{}", &name[1..]);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        report(format!("{mode:o}"));
        return;
    }
    // A umask that would narrow the bits, and one that would widen the default.
    for (umask, perms) in [(0o077u32, 0o644u32), (0, 0o600)] {
        let name = unique_name("sem-mode");
        let _c = Cleanup::sem(&name);
        let child = spawn_role(
            "named_permissions_are_exact_whatever_the_umask",
            "umask",
            &[
                ("SEM_NAME", &name),
                ("UMASK", &umask.to_string()),
                ("PERMS", &perms.to_string()),
            ],
        );
        assert_eq!(child.wait_ok(), [format!("{perms:o}")], "umask {umask:o}");
    }
    // The default is 0600.
    let name = unique_name("sem-mode");
    let _c = Cleanup::sem(&name);
    let _s = NamedSemaphore::create(&name, 0).expect("create");
    let path = format!("/dev/shm/sem.{}", &name[1..]);
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the default");
}

#[test]
fn named_bad_input_is_an_error() {
    let name = unique_name("sem-bad");
    let _c = Cleanup::sem(&name);
    let too_big = kind(NamedSemaphore::create(&name, SEM_VALUE_MAX + 1)).map(|_| ());
    assert!(
        matches!(too_big, Err(ErrorKind::InvalidInput)),
        "{too_big:?}"
    );
    let bad_mode = kind(NamedSemaphore::options().mode(0o4777).create(&name)).map(|_| ());
    assert!(
        matches!(bad_mode, Err(ErrorKind::InvalidInput)),
        "{bad_mode:?}"
    );
    for bad in ["", "noslash", "/a/b", "/"] {
        let r = kind(NamedSemaphore::open(bad)).map(|_| ());
        assert!(matches!(r, Err(ErrorKind::InvalidName)), "{bad:?}: {r:?}");
    }
    let long = format!("/{}", "x".repeat(252));
    let r = kind(NamedSemaphore::create(&long, 0)).map(|_| ());
    assert!(matches!(r, Err(ErrorKind::InvalidName)), "{r:?}");
    assert!(matches!(
        kind(sem::unlink("nope")),
        Err(ErrorKind::InvalidName)
    ));
    // Nothing was created by the failed calls.
    assert_eq!(
        kind(NamedSemaphore::open(&name)).map(|_| ()),
        Err(ErrorKind::NotFound)
    );
    // At SEM_VALUE_MAX, post is an error, not a wrap.
    let s = SemOptions::new()
        .value(SEM_VALUE_MAX)
        .open_or_create(&name)
        .expect("create at max");
    assert_eq!(s.value(), SEM_VALUE_MAX);
    assert!(matches!(kind(s.post()), Err(ErrorKind::LimitReached)));
}

#[test]
fn named_open_of_an_empty_file_under_the_name_is_an_error_not_a_sigbus() {
    // glibc keeps `/NAME` as the file /dev/shm/sem.NAME and maps it without checking its
    // size; an empty file there (left by a crashed writer, or made by anyone) would make
    // the first sem_* call fault. Run in a forked child so that a SIGBUS fails the test
    // instead of killing the harness.
    let name = unique_name("sem-empty");
    let _c = Cleanup::sem(&name);
    std::fs::File::create(format!("/dev/shm/sem.{}", &name[1..])).unwrap();
    let pid = fork_child(|| {
        let open = kind(NamedSemaphore::open(&name).map(|s| s.value()));
        let either = kind(NamedSemaphore::open_or_create(&name, 1).map(|s| s.value()));
        open == Err(ErrorKind::WrongType) && either == Err(ErrorKind::WrongType)
    });
    assert_eq!(
        wait_pid(pid, CHILD),
        Some(0),
        "refused with WrongType, no SIGBUS"
    );
}

#[test]
fn named_guard_gives_the_unit_back() {
    let name = unique_name("sem-guard");
    let _c = Cleanup::sem(&name);
    let s = NamedSemaphore::create(&name, 1).expect("create");
    {
        let _g = s.guard().expect("acquire");
        assert_eq!(s.value(), 0);
        assert_eq!(kind(s.try_wait()), Err(ErrorKind::WouldBlock));
    }
    assert_eq!(s.value(), 1);
    s.guard_timeout(Duration::ZERO).expect("acquire").forget();
    assert_eq!(s.value(), 0);
}

#[repr(C)]
struct Shared {
    s: Semaphore,
    done: Semaphore,
    n: AtomicU64,
}

fn shared(value: u32) -> ShMem<Shared> {
    ShMem::new(|p: *mut Shared| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe {
            Semaphore::init_in_place_with(addr_of_mut!((*p).s), value).expect("init");
            Semaphore::init_in_place(addr_of_mut!((*p).done)).expect("init");
        }
    })
}

#[test]
fn in_place_semaphore_as_a_lock_across_processes() {
    const PROCS: usize = 3;
    const ITERS: u64 = 1000;
    let sh = shared(1);
    let sh = &*sh;
    let pids: Vec<i32> = (0..PROCS)
        .map(|_| {
            fork_child(|| {
                for _ in 0..ITERS {
                    let Ok(g) = sh.s.guard() else { return false };
                    let v = sh.n.load(Ordering::Relaxed);
                    std::hint::spin_loop();
                    sh.n.store(v + 1, Ordering::Relaxed);
                    drop(g);
                }
                true
            })
        })
        .collect();
    for pid in pids {
        assert_eq!(wait_pid(pid, CHILD), Some(0));
    }
    assert_eq!(sh.n.load(Ordering::Relaxed), PROCS as u64 * ITERS);
    assert_eq!(sh.s.value(), 1);
}

#[test]
fn in_place_semaphore_ping_pong_and_timeouts() {
    let sh = shared(0);
    let sh = &*sh;
    let pid = fork_child(|| {
        for _ in 0..200 {
            if sh.s.wait().is_err() || sh.done.post().is_err() {
                return false;
            }
        }
        true
    });
    for _ in 0..200 {
        sh.s.post().expect("post");
        sh.done
            .wait_timeout(Duration::MAX)
            .expect("the child answers");
    }
    assert_eq!(wait_pid(pid, CHILD), Some(0));
    // A huge timeout saturates (no overflow) and is ended by a post from another process,
    // sent once this thread sleeps in the wait.
    let waiter = gettid();
    let pid = fork_child(|| {
        let deadline = Instant::now() + CHILD;
        while !sleeps_in_futex(waiter) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        sh.done.post().is_ok()
    });
    sh.done
        .wait_timeout(Duration::from_secs(u64::MAX))
        .expect("woken by the post");
    assert_eq!(wait_pid(pid, CHILD), Some(0));
    let t = Instant::now();
    assert_eq!(
        kind(sh.done.wait_timeout(Duration::from_millis(50))),
        Err(ErrorKind::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        kind(sh.done.wait_timeout(Duration::ZERO)),
        Err(ErrorKind::Timeout)
    );
    assert_eq!(kind(sh.done.try_wait()), Err(ErrorKind::WouldBlock));
}

#[test]
fn in_place_bad_initial_value_is_an_error() {
    let mut r = None;
    let _sh = ShMem::new(|p: *mut Semaphore| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        r = Some(unsafe { Semaphore::init_in_place_with(p, SEM_VALUE_MAX + 1) });
    });
    let r = kind(r.expect("ran"));
    assert!(matches!(r, Err(ErrorKind::InvalidInput)), "{r:?}");
    let sh = ShMem::new(|p: *mut Semaphore| {
        // SAFETY: as above.
        unsafe { Semaphore::init_in_place_with(p, SEM_VALUE_MAX) }.expect("max is fine");
    });
    assert_eq!(sh.value(), SEM_VALUE_MAX);
    assert!(matches!(kind(sh.post()), Err(ErrorKind::LimitReached)));
    assert_eq!(Semaphore::LAYOUT.size, std::mem::size_of::<libc::sem_t>());
}

// ---------------------------------------------------------------------------------------
// Lifetime: the one rule of every named kind (ipc_core's crate docs)

fn sem_file(name: &str) -> std::path::PathBuf {
    format!("/dev/shm/sem.{}", &name[1..]).into()
}

#[test]
fn named_creator_unlinks_on_drop_openers_never_and_kept_names_stay() {
    let name = unique_name("sem-life");
    let _c = Cleanup::sem(&name);
    let a = NamedSemaphore::create(&name, 2).unwrap();
    assert!(a.created() && a.unlinks_on_drop());
    let b = NamedSemaphore::open(&name).unwrap();
    assert!(!b.created() && !b.unlinks_on_drop());
    drop(b);
    assert!(sem_file(&name).exists(), "an opener's drop left the name");
    drop(a);
    assert!(
        !sem_file(&name).exists(),
        "the creator's drop removed the name"
    );

    // Kept: from the builder, or on the handle; removed later with sem::unlink.
    let a = NamedSemaphore::options()
        .unlink_on_drop(false)
        .create(&name)
        .unwrap();
    assert!(a.created() && !a.unlinks_on_drop());
    drop(a);
    let mut b = NamedSemaphore::open(&name).unwrap();
    b.set_unlink_on_drop(false);
    drop(b);
    assert!(sem_file(&name).exists(), "kept");
    // An opener asked to remove the name does.
    let b = NamedSemaphore::options()
        .unlink_on_drop(true)
        .open(&name)
        .unwrap();
    assert!(b.unlinks_on_drop());
    drop(b);
    assert!(!sem_file(&name).exists());
    assert_eq!(kind(sem::unlink(&name)), Err(ErrorKind::NotFound));

    // A creator's drop does not remove a newer semaphore made under the name after its
    // own was unlinked.
    let mut a = NamedSemaphore::create(&name, 0).unwrap();
    sem::unlink(&name).unwrap();
    a.set_unlink_on_drop(true);
    let newer = NamedSemaphore::options()
        .unlink_on_drop(false)
        .create(&name)
        .unwrap();
    drop(a);
    assert!(
        sem_file(&name).exists(),
        "the newer semaphore kept its name"
    );
    drop(newer);
}

#[test]
fn named_created_by_an_exited_process_is_gone_and_not_found_says_why() {
    if role().as_deref() == Some("creator") {
        let s = NamedSemaphore::create(&env("SEM_NAME"), 1).unwrap();
        s.post().unwrap();
        report(s.value());
        return; // the handle drops: the name goes with it
    }
    let name = unique_name("sem-exit");
    let _c = Cleanup::sem(&name);
    let lines = spawn_role(
        "named_created_by_an_exited_process_is_gone_and_not_found_says_why",
        "creator",
        &[("SEM_NAME", &name)],
    )
    .wait_ok();
    assert_eq!(lines, ["2"]);
    let e = NamedSemaphore::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("unlink_on_drop(false)"), "{e}");
}

#[test]
fn named_forked_copy_of_the_creator_does_not_unlink() {
    let name = unique_name("sem-fork");
    let _c = Cleanup::sem(&name);
    let s = NamedSemaphore::create(&name, 0).unwrap();
    let slot = std::cell::RefCell::new(Some(s));
    ipc_testutil::fork_run(ipc_testutil::WATCHDOG, || {
        let s = slot.borrow_mut().take().unwrap();
        let copy_unlinks = s.unlinks_on_drop();
        drop(s);
        !copy_unlinks && sem_file(&name).exists()
    })
    .unwrap();
    assert!(sem_file(&name).exists(), "the child's drop left the name");
    assert!(slot.borrow().as_ref().unwrap().unlinks_on_drop());
    drop(slot);
    assert!(!sem_file(&name).exists());
}

#[test]
fn named_semaphore_is_a_semaphore() {
    // One implementation: the named handle derefs to the in-place type.
    fn takes(s: &Semaphore) -> u32 {
        s.post().unwrap();
        s.value()
    }
    let name = unique_name("sem-deref");
    let _c = Cleanup::sem(&name);
    let s = NamedSemaphore::create(&name, 1).unwrap();
    assert_eq!(takes(&s), 2);
    let _g = s.guard().unwrap();
    assert_eq!(s.value(), 1);
}
