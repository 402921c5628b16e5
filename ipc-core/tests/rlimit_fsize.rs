//! `RLIMIT_FSIZE` (issue 9): a create that would extend a file past the process's file-size
//! limit returns [`ErrorKind::LimitReached`] naming the limit and leaves nothing behind,
//! instead of dying of `SIGXFSZ` with a half-made object in `/dev/shm`.
//!
//! The limit is set in a child process of its own (re-executed test binary), so the test
//! harness is never limited.

use std::path::Path;

use ipc_core::sem::NamedSemaphore;
use ipc_core::shm::{MemfdShm, Shm};
use ipc_core::ErrorKind;
use ipc_testutil::{env, report, role, spawn_role, unique_name, Cleanup};

/// The soft limit the child sets: below a `sem_t` (32 bytes) and below any shm size.
const LIMIT: libc::rlim_t = 16;

fn describe<T>(r: ipc_core::Result<T>) -> String {
    match r {
        Ok(_) => "created".into(),
        Err(e) => match e.kind() {
            ErrorKind::LimitReached if e.detail().is_some_and(|w| w.contains("RLIMIT_FSIZE")) => {
                "LimitReached(RLIMIT_FSIZE)".into()
            }
            _ => format!("other: {e}"),
        },
    }
}

#[test]
fn creates_past_rlimit_fsize_are_limit_reached_and_leave_nothing() {
    if role().as_deref() == Some("limited") {
        ipc_testutil::set_soft_rlimit(libc::RLIMIT_FSIZE, LIMIT);
        let (shm, sem) = (env("SHM_NAME"), env("SEM_NAME"));
        report(format!(
            "shm create: {}",
            describe(Shm::create(&shm, 1 << 20))
        ));
        report(format!(
            "shm open_or_create: {}",
            describe(Shm::open_or_create(&shm, 4096))
        ));
        report(format!(
            "memfd create: {}",
            describe(MemfdShm::create("fsize", 1 << 20))
        ));
        report(format!(
            "sem create: {}",
            describe(NamedSemaphore::create(&sem, 1))
        ));
        report(format!(
            "sem open_or_create: {}",
            describe(NamedSemaphore::open_or_create(&sem, 1))
        ));
        return;
    }
    let (shm, sem) = (unique_name("fsize"), unique_name("fsize-sem"));
    let _c = (Cleanup::shm(&shm), Cleanup::sem(&sem));
    let lines = spawn_role(
        "creates_past_rlimit_fsize_are_limit_reached_and_leave_nothing",
        "limited",
        &[("SHM_NAME", &shm), ("SEM_NAME", &sem)],
    )
    .wait_ok(); // before the fix: the child died of SIGXFSZ here
    assert_eq!(
        lines,
        [
            "shm create: LimitReached(RLIMIT_FSIZE)",
            "shm open_or_create: LimitReached(RLIMIT_FSIZE)",
            "memfd create: LimitReached(RLIMIT_FSIZE)",
            "sem create: LimitReached(RLIMIT_FSIZE)",
            "sem open_or_create: LimitReached(RLIMIT_FSIZE)",
        ]
    );
    assert!(!Path::new(&format!("/dev/shm{shm}")).exists(), "shm left");
    assert!(
        !Path::new(&format!("/dev/shm/sem.{}", &sem[1..])).exists(),
        "semaphore left"
    );
}
