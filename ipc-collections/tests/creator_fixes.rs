//! The creator protocol's edge cases found in review, across real processes: a failed open
//! never removes a live creator's name; modes without owner write; a failure after the
//! name exists removes the name; a forked child inside init leaves the parent's state alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipc_collections::ipc_core::ErrorKind;
use ipc_collections::Shared;
use ipc_testutil::{report, role, spawn_role, unique_name, wait_for, Cleanup, WATCHDOG};

fn exists(name: &str) -> bool {
    std::fs::symlink_metadata(format!("/dev/shm{name}")).is_ok()
}

const SLOW: &str = "a_failed_open_with_unlink_on_drop_leaves_a_live_creators_name";

#[test]
fn a_failed_open_with_unlink_on_drop_leaves_a_live_creators_name() {
    if role().as_deref() == Some("slow-creator") {
        let go = Shared::<AtomicU64>::open(&ipc_testutil::env("GO")).unwrap();
        let s = Shared::<u64>::create(&ipc_testutil::env("NAME"), |v| {
            report("in-init");
            wait_for("the opener's go", WATCHDOG, || {
                go.load(Ordering::SeqCst) == 1
            });
            *v = 7;
        })
        .unwrap();
        assert_eq!(*s, 7);
        return;
    }
    let name = unique_name("slowinit");
    let go_name = unique_name("go");
    let _c = Cleanup::shm(&name);
    let _g = Cleanup::shm(&go_name);
    let go = Shared::<AtomicU64>::create(&go_name, |_| {}).unwrap();
    let mut child = spawn_role(SLOW, "slow-creator", &[("NAME", &name), ("GO", &go_name)]);
    assert_eq!(child.next_report(WATCHDOG), "in-init");
    let short = Duration::from_millis(50);
    let e = Shared::<u64>::options()
        .unlink_on_drop(true)
        .timeout(short)
        .open(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InitTimeout, "{e}");
    assert!(
        exists(&name),
        "a timed-out open removed the live creator's name"
    );
    let e = Shared::<u64>::options()
        .unlink_on_drop(true)
        .timeout(short)
        .open_or_create(&name, |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InitTimeout, "{e}");
    assert!(
        exists(&name),
        "a timed-out open_or_create removed the live creator's name"
    );
    // The creator finishes and publishes under its name.
    go.store(1, Ordering::SeqCst);
    child.wait_ok();
}

const MODES: &str = "a_non_root_creator_makes_and_opens_segments_without_owner_write";

#[test]
fn a_non_root_creator_makes_and_opens_segments_without_owner_write() {
    if role().as_deref() == Some("nobody") {
        let dropped = ipc_testutil::privilege::drop_privileges();
        for (i, mode) in [0o400u32, 0o440, 0o444].into_iter().enumerate() {
            let name = ipc_testutil::env(&format!("NAME{i}"));
            let s = Shared::<u64>::options()
                .mode(mode)
                .create(&name, |v| *v = 9)
                .unwrap_or_else(|e| panic!("create with mode {mode:o}: {e}"));
            assert_eq!(*s, 9);
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(format!("/dev/shm{name}")).unwrap();
            assert_eq!(
                meta.permissions().mode() & 0o777,
                mode,
                "the requested mode"
            );
            let r = Shared::<u64>::options()
                .read_only(true)
                .open(&name)
                .unwrap();
            assert_eq!(*r, 9);
            // Not writable by its owner: a read-write open is refused (unless root).
            let e = Shared::<u64>::open(&name).map(|_| ()).unwrap_err();
            assert_eq!(
                e.errno(),
                Some(ipc_collections::ipc_core::Errno::EACCES),
                "{e}"
            );
        }
        report(format!("dropped={dropped}"));
        return;
    }
    let names: Vec<String> = (0..3).map(|_| unique_name("mode")).collect();
    let _c: Vec<Cleanup> = names.iter().map(|n| Cleanup::shm(n)).collect();
    let envs: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("NAME{i}"), n.clone()))
        .collect();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (&**k, &**v)).collect();
    let lines = spawn_role(MODES, "nobody", &envs).wait_ok();
    assert_eq!(
        lines,
        [format!("dropped={}", ipc_testutil::privilege::is_root())]
    );
    // Each creator's handle unlinked its name.
    assert!(names.iter().all(|n| !exists(n)));
}

const FAILS: &str = "an_init_that_fails_after_the_name_exists_removes_the_name";

#[test]
fn an_init_that_fails_after_the_name_exists_removes_the_name() {
    if role().as_deref() == Some("failing-creator") {
        let name = ipc_testutil::env("NAME");
        let r = std::panic::catch_unwind(|| {
            Shared::<u64>::options()
                .unlink_on_drop(false)
                .create(&name, |_| panic!("init fails"))
        });
        assert!(r.is_err(), "the init's panic goes on to the caller");
        report(format!("exists={}", exists(&name)));
        return;
    }
    let name = unique_name("failinit");
    let _c = Cleanup::shm(&name);
    let lines = spawn_role(FAILS, "failing-creator", &[("NAME", &name)]).wait_ok();
    assert_eq!(
        lines,
        ["exists=false"],
        "a FAILED object was left under the name"
    );
    assert!(!exists(&name));
    // The name is free: the next open_or_create makes the segment (not InitFailed).
    let s = Shared::<u64>::open_or_create(&name, |v| *v = 3).unwrap();
    assert!(s.created());
    assert_eq!(*s, 3);
}

const UNSET: &str = "an_unset_object_whose_recorded_creator_lives_is_not_reclaimed";

#[test]
fn an_unset_object_whose_recorded_creator_lives_is_not_reclaimed() {
    use ipc_collections::creator::{remove_if_abandoned, Reclaim};
    use std::sync::atomic::AtomicU32;
    if role().as_deref() == Some("holder") {
        let mut s = Shared::<u64>::create(&ipc_testutil::env("NAME"), |_| {}).unwrap();
        s.set_unlink_on_drop(false);
        report("ready");
        ipc_testutil::shared_mem::park_forever();
    }
    let name = unique_name("unset");
    let _c = Cleanup::shm(&name);
    let mut child = spawn_role(UNSET, "holder", &[("NAME", &name)]);
    assert_eq!(child.next_report(WATCHDOG), "ready");
    let pid = child.pid();
    let shm = ipc_collections::ipc_core::shm::Shm::open(&name).unwrap();
    // Back to UNSET with the header written (FORMAT.md: the state word at offset 8): what
    // `Shared::create_in(Shm::create(n)?)` shows between its header and INITIALIZING,
    // holding no lock.
    // SAFETY: bytes 8..12 lie inside the page-aligned mapping `shm` keeps; the state word
    // is only ever accessed atomically.
    unsafe { (*shm.as_ptr().add(8).cast::<AtomicU32>()).store(0, Ordering::SeqCst) };
    assert_eq!(
        remove_if_abandoned(&name, shm.fd()).unwrap(),
        Reclaim::NotAbandoned,
        "the recorded creator is alive"
    );
    assert!(exists(&name));
    ipc_testutil::sigkill(pid);
    child.kill(); // reap
                  // The same description: its own lock does not conflict with itself.
    assert_eq!(
        remove_if_abandoned(&name, shm.fd()).unwrap(),
        Reclaim::Removed(pid)
    );
    assert!(!exists(&name));
}

const FORKS: &str = "a_child_forked_inside_init_leaves_the_parents_state_alone";

/// The state word of the segment `name` (FORMAT.md: offset 8), read through the file.
fn state_of(name: &str) -> u32 {
    let b = std::fs::read(format!("/dev/shm{name}")).unwrap();
    u32::from_ne_bytes(b[8..12].try_into().unwrap())
}

#[test]
fn a_child_forked_inside_init_leaves_the_parents_state_alone() {
    if role().as_deref() == Some("forker") {
        // In a re-exec'd process of its own (one thread): fork inside init, and let the
        // child unwind (panic) or return through `create`.
        let me = std::process::id();
        for child_panics in [true, false] {
            let name = ipc_testutil::env(if child_panics { "NAME0" } else { "NAME1" });
            let r = std::panic::catch_unwind(|| {
                Shared::<u64>::create(&name, |v| {
                    // SAFETY: fork has no preconditions; this process runs one thread.
                    let pid = unsafe { libc::fork() };
                    assert!(pid >= 0, "fork");
                    if pid == 0 {
                        if child_panics {
                            panic!("the child's init fails");
                        }
                        return;
                    }
                    assert_eq!(ipc_testutil::wait_pid(pid, WATCHDOG), Some(0));
                    assert_eq!(
                        state_of(&name),
                        1,
                        "still initialising (panics={child_panics})"
                    );
                    *v = 5;
                })
            });
            if std::process::id() != me {
                // The forked child, back from `create`: leave at once.
                // SAFETY: _exit ends the child without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            let s = r.expect("the parent's init completes").unwrap();
            assert_eq!(state_of(&name), 2);
            assert_eq!(*Shared::<u64>::open(&name).unwrap(), 5);
            drop(s);
        }
        report("done");
        return;
    }
    let (a, b) = (unique_name("forkinit"), unique_name("forkinit"));
    let _c = (Cleanup::shm(&a), Cleanup::shm(&b));
    let lines = spawn_role(FORKS, "forker", &[("NAME0", &a), ("NAME1", &b)]).wait_ok();
    assert_eq!(lines, ["done"]);
}
