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
            wait_for("the opener's go", WATCHDOG, || go.load(Ordering::SeqCst) == 1);
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
    assert_eq!(e.kind(), &ErrorKind::InitTimeout, "{e}");
    assert!(exists(&name), "a timed-out open removed the live creator's name");
    let e = Shared::<u64>::options()
        .unlink_on_drop(true)
        .timeout(short)
        .open_or_create(&name, |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InitTimeout, "{e}");
    assert!(exists(&name), "a timed-out open_or_create removed the live creator's name");
    // The creator finishes and publishes under its name.
    go.store(1, Ordering::SeqCst);
    child.wait_ok();
}
