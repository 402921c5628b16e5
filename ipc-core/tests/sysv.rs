//! System V shared memory (`ipc_core::shm::sysv`): create, attach, info and remove across real
//! processes, keys from `ftok`, modes, and bad input.

use std::time::{Duration, SystemTime};

use ipc_core::shm::sysv::{self, ftok, Key, SysvShm};
use ipc_core::ErrorKind;
use ipc_testutil::{env, report, role, spawn_role, Cleanup};

use ipc_testutil::bytes::{pattern, read_bytes, write_bytes};
use ipc_testutil::privilege::{drop_privileges, is_root};

/// A temporary file to derive `ftok` keys from; removed on drop.
struct KeyFile(std::path::PathBuf);
impl KeyFile {
    fn new() -> Self {
        let p =
            std::env::temp_dir().join(ipc_testutil::unique_name("ftok").trim_start_matches('/'));
        std::fs::write(&p, b"ftok").unwrap();
        KeyFile(p)
    }
}
impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn create_attach_info_remove_across_processes() {
    const LEN: usize = 10_000;
    if role().as_deref() == Some("attacher") {
        let id: i32 = env("SYSV_ID").parse().unwrap();
        let seg = SysvShm::open_id(id).unwrap();
        assert!(!seg.created());
        assert!(!seg.unlinks_on_drop());
        assert!(!seg.is_read_only());
        assert_eq!(seg.len(), LEN);
        assert_eq!(seg.id(), id);
        assert!(seg.key().is_private());
        assert_eq!(read_bytes(&seg, LEN), pattern(LEN, 5));
        let info = seg.info().unwrap();
        assert_eq!(info.attach_count, 2, "the parent's and ours");
        assert_eq!(info.last_pid, std::process::id() as i32, "we attached last");
        assert_ne!(info.creator_pid, std::process::id() as i32);
        write_bytes(&seg, 0, b"child was here");
        report(std::process::id());
        return;
    }
    let mut seg = SysvShm::create(Key::PRIVATE, LEN).unwrap();
    let _guard = Cleanup::sysv_shm(seg.id());
    assert!(seg.created());
    assert!(seg.unlinks_on_drop());
    assert_eq!(seg.len(), LEN);
    let before = seg.info().unwrap();
    assert_eq!(before.size, LEN);
    assert_eq!(before.creator_pid, std::process::id() as i32);
    assert_eq!(before.last_pid, std::process::id() as i32);
    assert_eq!(before.attach_count, 1);
    assert_eq!(before.mode, 0o600);
    assert!(!before.removed);
    assert!(before.key.is_private());
    assert!(before.atime.is_some(), "shmat sets atime");
    assert_eq!(before.dtime, None, "never detached yet");
    assert!(before.ctime <= SystemTime::now());
    assert!(before.ctime > SystemTime::now() - Duration::from_secs(600));
    write_bytes(&seg, 0, &pattern(LEN, 5));

    let lines = spawn_role(
        "create_attach_info_remove_across_processes",
        "attacher",
        &[("SYSV_ID", &seg.id().to_string())],
    )
    .wait_ok();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let child: i32 = lines[0].parse().unwrap();
    assert_eq!(read_bytes(&seg, 14), b"child was here");
    let after = seg.info().unwrap();
    assert_eq!(after.attach_count, 1, "the child detached when it exited");
    assert_eq!(
        after.last_pid, child,
        "the child's detach was the last operation"
    );
    assert!(after.dtime.is_some());

    // IPC_RMID while attached: marked, still usable here, gone once detached.
    let id = seg.id();
    seg.remove().unwrap();
    assert!(!seg.unlinks_on_drop());
    assert!(seg.info().unwrap().removed);
    write_bytes(&seg, 0, b"still attached");
    assert_eq!(read_bytes(&seg, 14), b"still attached");
    drop(seg);
    assert_eq!(sysv::info(id).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        SysvShm::open_id(id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn read_only_attach_in_another_process_cannot_write() {
    if role().as_deref() == Some("ro") {
        let id: i32 = env("SYSV_ID").parse().unwrap();
        let seg = SysvShm::options().read_only(true).open_id(id).unwrap();
        assert!(seg.is_read_only());
        assert_eq!(read_bytes(&seg, 32), pattern(32, 9));
        let ptr = seg.as_ptr() as usize;
        let pid = ipc_testutil::fork_child(move || {
            // SAFETY: deliberately writes to a SHM_RDONLY attachment to show that it
            // faults; the forked child dies from the signal.
            unsafe { std::ptr::write_volatile(ptr as *mut u8, 0xAA) };
            true
        });
        assert_eq!(
            ipc_testutil::wait_pid(pid, ipc_testutil::WATCHDOG),
            None,
            "the write must kill the child by a signal"
        );
        report("ok");
        return;
    }
    let seg = SysvShm::create(Key::PRIVATE, 4096).unwrap();
    let _guard = Cleanup::sysv_shm(seg.id());
    write_bytes(&seg, 0, &pattern(32, 9));
    let lines = spawn_role(
        "read_only_attach_in_another_process_cannot_write",
        "ro",
        &[("SYSV_ID", &seg.id().to_string())],
    )
    .wait_ok();
    assert_eq!(lines, ["ok"]);
    assert_eq!(read_bytes(&seg, 32), pattern(32, 9), "unchanged");
}

#[test]
fn ftok_key_found_by_another_process_and_removed_by_the_creator_on_drop() {
    if role().as_deref() == Some("by-key") {
        let key = ftok(env("KEY_FILE"), b'S').unwrap();
        let seg = SysvShm::open(key).unwrap();
        assert_eq!(seg.key(), key);
        assert_eq!(read_bytes(&seg, 8), b"by a key");
        let ro = SysvShm::options().read_only(true).open(key).unwrap();
        assert!(ro.is_read_only());
        assert_eq!(ro.id(), seg.id());
        report(seg.id());
        return;
    }
    let file = KeyFile::new();
    let key = ftok(&file.0, b'S').unwrap();
    assert_eq!(ftok(&file.0, b'S').unwrap(), key, "ftok is deterministic");
    assert_ne!(ftok(&file.0, b'T').unwrap(), key, "proj_id takes part");
    let seg = SysvShm::options()
        .size(4096)
        .mode(0o640)
        .create(key)
        .unwrap();
    let _guard = Cleanup::sysv_shm(seg.id());
    assert_eq!(seg.info().unwrap().key, key);
    write_bytes(&seg, 0, b"by a key");
    // The key is taken now.
    let e = SysvShm::options()
        .size(4096)
        .mode(0o640)
        .create(key)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");

    let lines = spawn_role(
        "ftok_key_found_by_another_process_and_removed_by_the_creator_on_drop",
        "by-key",
        &[("KEY_FILE", file.0.to_str().unwrap())],
    )
    .wait_ok();
    assert_eq!(lines, [seg.id().to_string()]);
    drop(seg);
    assert_eq!(SysvShm::open(key).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn persist_then_remove_by_id() {
    let mut seg = SysvShm::create(Key::PRIVATE, 4096).unwrap();
    let id = seg.id();
    let _guard = Cleanup::sysv_shm(id);
    seg.set_unlink_on_drop(false);
    write_bytes(&seg, 0, b"kept");
    drop(seg);
    let again = SysvShm::open_id(id).unwrap();
    assert_eq!(read_bytes(&again, 4), b"kept");
    assert_eq!(again.info().unwrap().attach_count, 1);
    drop(again);
    assert!(sysv::info(id).is_ok(), "an opener does not remove");
    sysv::remove(id).unwrap();
    assert_eq!(sysv::info(id).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(sysv::remove(id).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn forked_copy_of_the_creator_only_detaches() {
    // A forked child inherits every attachment of the process, also those of tests running
    // on other threads (which count attachments): fork in a process of its own.
    if role().is_none() {
        let lines = spawn_role("forked_copy_of_the_creator_only_detaches", "forker", &[]).wait_ok();
        assert_eq!(lines, ["ok"]);
        return;
    }
    let seg = SysvShm::create(Key::PRIVATE, 4096).unwrap();
    let id = seg.id();
    let _guard = Cleanup::sysv_shm(id);
    let slot = std::cell::RefCell::new(Some(seg));
    // The forked child inherits the attachment; dropping its copy detaches it but must not
    // mark the segment for removal, because the child did not create it.
    ipc_testutil::fork_run(ipc_testutil::WATCHDOG, || {
        let seg = slot.borrow_mut().take().unwrap();
        let copy_removes = seg.unlinks_on_drop();
        drop(seg);
        !copy_removes
    })
    .unwrap();
    let info = sysv::info(id).unwrap();
    assert!(!info.removed, "the child's drop did not remove the segment");
    assert_eq!(
        info.attach_count, 1,
        "the child's inherited attachment is gone"
    );
    assert!(slot.borrow().as_ref().unwrap().unlinks_on_drop());
    drop(slot);
    assert_eq!(sysv::info(id).unwrap_err().kind(), ErrorKind::NotFound);
    report("ok");
}

#[test]
fn mode_is_exact_and_can_be_changed() {
    if let Some(r) = role() {
        // umask is process-wide: this runs in its own process.
        let umask = u32::from_str_radix(r.strip_prefix("umask-").unwrap(), 8).unwrap();
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
        for mode in [0o600, 0o666, 0o640, 0o400] {
            let seg = SysvShm::options()
                .size(4096)
                .mode(mode)
                .create(Key::PRIVATE)
                .unwrap();
            let _guard = Cleanup::sysv_shm(seg.id());
            assert_eq!(seg.info().unwrap().mode, mode, "umask {umask:o}");
        }
        report("ok");
        return;
    }
    for umask in ["umask-077", "umask-000"] {
        let lines = spawn_role("mode_is_exact_and_can_be_changed", umask, &[]).wait_ok();
        assert_eq!(lines, ["ok"]);
    }
    let seg = SysvShm::create(Key::PRIVATE, 4096).unwrap();
    let _guard = Cleanup::sysv_shm(seg.id());
    let ctime = seg.info().unwrap().ctime;
    seg.set_mode(0o644).unwrap();
    let info = seg.info().unwrap();
    assert_eq!(info.mode, 0o644);
    assert!(info.ctime >= ctime);
    let e = seg.set_mode(0o1644).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    assert_eq!(
        seg.info().unwrap().mode,
        0o644,
        "unchanged by the refused call"
    );
}

#[test]
fn bad_input_is_an_error() {
    for size in [0, usize::MAX, isize::MAX as usize] {
        let e = SysvShm::create(Key::PRIVATE, size).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{size}: {e}");
    }
    let e = SysvShm::options()
        .size(4096)
        .mode(0o10600)
        .create(Key::PRIVATE)
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");

    // A key nobody created: a fresh file's key.
    let file = KeyFile::new();
    let key = ftok(&file.0, b'Q').unwrap();
    for r in [
        SysvShm::open(key).map(drop),
        SysvShm::options().read_only(true).open(key).map(drop),
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::NotFound);
    }
    let e = SysvShm::open(Key::PRIVATE).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    for id in [-1, i32::MAX] {
        let e = SysvShm::open_id(id).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert_eq!(e.name(), Some(format!("id {id}").as_str()), "{e}");
        assert_eq!(
            SysvShm::options()
                .read_only(true)
                .open_id(id)
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(sysv::info(id).unwrap_err().kind(), ErrorKind::NotFound);
    }

    let e = ftok(&file.0, 0).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    let e = ftok("/no/such/file/for/ftok", b'x').unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = ftok("/tmp/a\0b", b'x').unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
}

#[test]
fn permissions_are_enforced_for_other_users() {
    if role().is_some() {
        let id: i32 = env("SYSV_ID").parse().unwrap();
        let dropped = drop_privileges();
        let ro = SysvShm::options().read_only(true).open_id(id).unwrap();
        assert_eq!(read_bytes(&ro, 5), b"token");
        let e = SysvShm::open_id(id).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        if dropped {
            // Only the owner or creator may change the mode or remove the segment.
            let e = ro.set_mode(0o666).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
            let e = sysv::remove(id).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        }
        report("ok");
        return;
    }
    // Root bypasses permission bits, so then the child checks as `nobody` (read for
    // everyone); otherwise as ourselves with write taken away.
    let mode = if is_root() { 0o644 } else { 0o444 };
    let seg = SysvShm::options()
        .size(4096)
        .mode(mode)
        .create(Key::PRIVATE)
        .unwrap();
    let _guard = Cleanup::sysv_shm(seg.id());
    write_bytes(&seg, 0, b"token");
    let lines = spawn_role(
        "permissions_are_enforced_for_other_users",
        "perm",
        &[("SYSV_ID", &seg.id().to_string())],
    )
    .wait_ok();
    assert_eq!(lines, ["ok"]);
    assert_eq!(seg.info().unwrap().mode, mode, "unchanged");
}

#[test]
fn open_or_create_by_key_creates_once_and_the_creator_removes() {
    let key = Key::new(0x1b00_0000 | (std::process::id() as i32 & 0xff_ffff));
    let a = SysvShm::open_or_create(key, 4096).unwrap();
    let _guard = Cleanup::sysv_shm(a.id());
    assert!(a.created() && a.unlinks_on_drop());
    let b = SysvShm::open_or_create(key, 4096).unwrap();
    assert!(!b.created() && !b.unlinks_on_drop());
    assert_eq!(a.id(), b.id());
    let ro = SysvShm::options().read_only(true).open(key).unwrap();
    assert!(ro.is_read_only());
    let e = SysvShm::options()
        .read_only(true)
        .size(4096)
        .create(Key::PRIVATE)
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    let id = a.id();
    drop((a, b, ro));
    assert_eq!(sysv::info(id).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(SysvShm::open(key).unwrap_err().kind(), ErrorKind::NotFound);
}
