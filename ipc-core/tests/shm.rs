//! POSIX named shared memory (`ipc_core::shm::Shm`): cross-process behaviour with real
//! processes, and every bad input.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipc_core::shm::{self, Shm};
use ipc_core::{ErrorKind, Memory};
use ipc_testutil::{
    assert_one_creator_per_round, env, race, report, role, spawn_role, unique_name, wait_for_start,
    Cleanup,
};

use ipc_testutil::bytes::{pattern, read_bytes, write_bytes};
use ipc_testutil::privilege::{drop_privileges, is_root};
use ipc_testutil::proc_state::{gettid, sleeps_in};
use ipc_testutil::CHILD;

fn dev_shm(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm{name}"))
}

fn mode_of(fd: std::os::fd::BorrowedFd<'_>) -> u32 {
    nix::sys::stat::fstat(fd).unwrap().st_mode & 0o7777
}

// ---------------------------------------------------------------------------------------
// Cross-process

#[test]
fn cross_process_create_write_then_other_process_opens_and_reads() {
    const LEN: usize = 3 * 4096 + 17;
    if role().as_deref() == Some("reader") {
        let name = env("SHM_NAME");
        let shm = Shm::open(&name).unwrap();
        assert!(!shm.created());
        assert!(!shm.unlinks_on_drop());
        assert_eq!(shm.len(), LEN, "size comes from fstat");
        assert_eq!(read_bytes(&shm, LEN), pattern(LEN, 7));
        // Answer through the same memory.
        write_bytes(&shm, 0, b"reply from child");
        report(std::process::id());
        return;
    }
    let name = unique_name("xproc");
    let _guard = Cleanup::shm(&name);
    let shm = Shm::create(&name, LEN).unwrap();
    assert!(shm.created());
    assert!(shm.unlinks_on_drop());
    assert_eq!(shm.name(), name);
    assert_eq!(shm.len(), LEN);
    assert!(!shm.is_read_only());
    write_bytes(&shm, 0, &pattern(LEN, 7));

    let lines = spawn_role(
        "cross_process_create_write_then_other_process_opens_and_reads",
        "reader",
        &[("SHM_NAME", &name)],
    )
    .wait_ok();
    assert_eq!(lines.len(), 1, "child reported {lines:?}");
    assert_ne!(
        lines[0],
        std::process::id().to_string(),
        "a different process"
    );
    assert_eq!(read_bytes(&shm, 16), b"reply from child");

    // The creator's handle unlinks on drop; the opener's did not.
    assert!(dev_shm(&name).exists());
    drop(shm);
    assert!(!dev_shm(&name).exists());
}

#[test]
fn read_only_open_in_another_process_reads_and_cannot_write() {
    if role().as_deref() == Some("ro-reader") {
        let name = env("SHM_NAME");
        let shm = Shm::options().read_only(true).open(&name).unwrap();
        assert!(shm.is_read_only());
        assert!(Memory::is_read_only(&shm));
        assert_eq!(read_bytes(&shm, 64), pattern(64, 3));
        // The fd is O_RDONLY too.
        let fl = nix::fcntl::fcntl(shm.fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_eq!(fl & libc::O_ACCMODE, libc::O_RDONLY);
        // A write through the mapping faults: try it in a forked child, which must die
        // by SIGSEGV (PROT_READ), not exit.
        let ptr = shm.as_ptr() as usize;
        let pid = ipc_testutil::fork_child(move || {
            // SAFETY: deliberately writes to a PROT_READ page to show that it faults; the
            // forked child dies from the signal before the write could take effect.
            unsafe { std::ptr::write_volatile(ptr as *mut u8, 0xAA) };
            true
        });
        let code = ipc_testutil::wait_pid(pid, ipc_testutil::WATCHDOG);
        assert_eq!(code, None, "the write must kill the child by a signal");
        assert_eq!(read_bytes(&shm, 1), pattern(1, 3), "byte unchanged");
        report("ok");
        return;
    }
    let name = unique_name("ro");
    let _guard = Cleanup::shm(&name);
    // Mode 0400: only reading is permitted to anyone but the creator's existing fd.
    let shm = Shm::options().mode(0o400).size(4096).create(&name).unwrap();
    assert_eq!(mode_of(shm.fd()), 0o400);
    write_bytes(&shm, 0, &pattern(64, 3));
    let lines = spawn_role(
        "read_only_open_in_another_process_reads_and_cannot_write",
        "ro-reader",
        &[("SHM_NAME", &name)],
    )
    .wait_ok();
    assert_eq!(lines, ["ok"]);
}

#[test]
fn open_or_create_raced_by_six_processes_has_exactly_one_creator() {
    const N: usize = 6;
    /// Rounds, each on its own name at its own start time: a race is probabilistic, so run
    /// several.
    const ROUNDS: usize = 10;
    const GAP: Duration = Duration::from_millis(40);
    if role().as_deref() == Some("racer") {
        for (i, name) in env("SHM_NAMES").split(',').enumerate() {
            wait_for_start(GAP * i as u32);
            let shm = Shm::options()
                .size(4096)
                .unlink_on_drop(false)
                .open_or_create(name)
                .unwrap();
            assert!(shm.len() >= 4096, "a creator sized it before we saw it");
            let ino = nix::sys::stat::fstat(shm.fd()).unwrap().st_ino;
            // SAFETY: offset 0 is inside the 4096-byte mapping and 4-aligned (page-aligned
            // base); every racer touches this word only atomically.
            let counter = unsafe { &*(shm.as_ptr() as *const AtomicU32) };
            counter.fetch_add(1, Ordering::SeqCst);
            report(format!("{i} {} {ino}", shm.created()));
        }
        return;
    }
    let names: Vec<String> = (0..ROUNDS).map(|_| unique_name("race")).collect();
    let _guards: Vec<Cleanup> = names.iter().map(|n| Cleanup::shm(n)).collect();
    let lines = race(
        "open_or_create_raced_by_six_processes_has_exactly_one_creator",
        "racer",
        N,
        &[("SHM_NAMES", &names.join(","))],
        Duration::from_millis(700),
    );
    assert_one_creator_per_round(&lines, ROUNDS, N);
    for (i, name) in names.iter().enumerate() {
        let shm = Shm::open(name).unwrap();
        let ino = nix::sys::stat::fstat(shm.fd()).unwrap().st_ino.to_string();
        assert!(
            lines.contains(&format!("{i} true {ino}")),
            "round {i}: it is the object that persists"
        );
        // SAFETY: as in the children: aligned word inside the mapping, accessed atomically.
        let counter = unsafe { &*(shm.as_ptr() as *const AtomicU32) };
        assert_eq!(
            counter.load(Ordering::SeqCst),
            N as u32,
            "round {i}: every racer used it"
        );
    }
}

#[test]
fn open_or_create_in_one_process_reports_which_happened() {
    let name = unique_name("ooc");
    let _guard = Cleanup::shm(&name);
    let a = Shm::open_or_create(&name, 8192).unwrap();
    assert!(a.created());
    assert!(a.unlinks_on_drop());
    // An existing object keeps its size; the requested size is for creating only.
    let b = Shm::options().size(4096).open_or_create(&name).unwrap();
    assert!(!b.created());
    assert!(!b.unlinks_on_drop());
    assert_eq!(b.len(), 8192);
}

// ---------------------------------------------------------------------------------------
// Lifetime: unlink on drop, persistence, explicit unlink

#[test]
fn persist_keeps_the_object_and_unlink_removes_it() {
    let name = unique_name("persist");
    let _guard = Cleanup::shm(&name);
    let mut a = Shm::create(&name, 4096).unwrap();
    a.set_unlink_on_drop(false);
    assert!(!a.unlinks_on_drop());
    write_bytes(&a, 0, b"still here");
    drop(a);
    assert!(dev_shm(&name).exists());
    let b = Shm::open(&name).unwrap();
    assert_eq!(read_bytes(&b, 10), b"still here");
    drop(b);
    assert!(dev_shm(&name).exists(), "an opener does not unlink");
    shm::unlink(&name).unwrap();
    assert!(!dev_shm(&name).exists());
    let e = shm::unlink(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.name(), Some(name.as_str()));

    // Options: a creator that persists from the start.
    let c = Shm::options()
        .unlink_on_drop(false)
        .size(4096)
        .create(&name)
        .unwrap();
    assert!(c.created() && !c.unlinks_on_drop());
    drop(c);
    assert!(dev_shm(&name).exists());
    shm::unlink(&name).unwrap();
}

#[test]
fn creator_drop_does_not_remove_a_newer_object_of_the_same_name() {
    let name = unique_name("reuse");
    let _guard = Cleanup::shm(&name);
    let mut old = Shm::create(&name, 4096).unwrap();
    old.unlink().unwrap();
    assert!(!old.unlinks_on_drop());
    old.set_unlink_on_drop(true); // even asked to, it must not remove the new one
    let new = Shm::create(&name, 4096).unwrap();
    drop(old);
    assert!(dev_shm(&name).exists(), "the newer object survives");
    drop(new);
    assert!(!dev_shm(&name).exists());
}

#[test]
fn forked_copy_of_the_creator_does_not_unlink() {
    let name = unique_name("fork");
    let _guard = Cleanup::shm(&name);
    let slot = std::cell::RefCell::new(Some(Shm::create(&name, 4096).unwrap()));
    // The child drops its copy of the creating handle: that unmaps and closes, but must not
    // unlink, because the child is not the process that created the object.
    ipc_testutil::fork_run(ipc_testutil::WATCHDOG, || {
        let shm = slot.borrow_mut().take().unwrap();
        let copy_unlinks = shm.unlinks_on_drop();
        drop(shm);
        !copy_unlinks
    })
    .unwrap();
    assert!(
        dev_shm(&name).exists(),
        "the name survives the child's drop"
    );
    assert!(slot.borrow().as_ref().unwrap().unlinks_on_drop());
    drop(slot);
    assert!(!dev_shm(&name).exists(), "the creator's own drop unlinks");
}

#[test]
fn a_mapping_stays_valid_after_unlink() {
    let name = unique_name("unl");
    let _guard = Cleanup::shm(&name);
    let a = Shm::create(&name, 4096).unwrap();
    let b = Shm::open(&name).unwrap();
    shm::unlink(&name).unwrap();
    write_bytes(&a, 100, b"xyz");
    assert_eq!(read_bytes(&b, 103)[100..], *b"xyz");
    assert_eq!(Shm::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
}

// ---------------------------------------------------------------------------------------
// Mode bits, exact whatever the umask (umask is process-wide: each case in its own process)

#[test]
fn mode_bits_are_exact_under_any_umask() {
    if let Some(r) = role() {
        let umask = u32::from_str_radix(r.strip_prefix("umask-").unwrap(), 8).unwrap();
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
        for mode in [0o600, 0o640, 0o666, 0o400, 0o604] {
            let name = unique_name("mode");
            let _guard = Cleanup::shm(&name);
            let shm = Shm::options().mode(mode).size(4096).create(&name).unwrap();
            let got = mode_of(shm.fd());
            assert_eq!(got, mode, "umask {umask:o}: asked {mode:o}, got {got:o}");
            report(format!("{umask:o} {mode:o} {got:o}"));
        }
        let name = unique_name("mode");
        let _guard = Cleanup::shm(&name);
        let shm = Shm::create(&name, 4096).unwrap();
        assert_eq!(mode_of(shm.fd()), 0o600, "the default");
        return;
    }
    for umask in ["umask-077", "umask-000"] {
        let lines = spawn_role("mode_bits_are_exact_under_any_umask", umask, &[]).wait_ok();
        assert_eq!(lines.len(), 5, "{lines:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Bad input

#[test]
fn bad_names_are_refused_before_any_syscall() {
    let long = format!("/{}", "x".repeat(256));
    for bad in [
        "",
        "noslash",
        "/",
        "/a/b",
        "/a\0b",
        "/.",
        "/..",
        long.as_str(),
    ] {
        for r in [
            Shm::create(bad, 4096).map(drop),
            Shm::open(bad).map(drop),
            Shm::options().read_only(true).open(bad).map(drop),
            Shm::options().size(4096).open_or_create(bad).map(drop),
            shm::unlink(bad),
        ] {
            let e = r.unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::InvalidName), "{bad:?}: {e}");
            assert_eq!(e.name(), Some(bad));
        }
    }
}

#[test]
fn bad_sizes_are_refused_before_any_syscall() {
    let name = unique_name("size");
    let _guard = Cleanup::shm(&name);
    for size in [
        0,
        usize::MAX,
        isize::MAX as usize + 1,
        isize::MAX as usize, // overflows isize once rounded up to a page
        isize::MAX as usize - 1,
    ] {
        let opts = Shm::options().size(size);
        for e in [
            opts.create(&name).unwrap_err(),
            opts.open_or_create(&name).unwrap_err(),
        ] {
            assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{size}: {e}");
            assert!(!dev_shm(&name).exists(), "nothing was created for {size}");
        }
    }
    let e = Shm::create(&name, 0).unwrap_err();
    assert!(e.to_string().contains("size 0"), "{e}");
}

#[test]
fn more_than_dev_shm_holds_is_no_space_and_leaves_nothing() {
    let name = unique_name("nospace");
    let _guard = Cleanup::shm(&name);
    // 1 PiB: far beyond any /dev/shm, below isize::MAX. Reserved at create, so this is an
    // error now rather than a SIGBUS at first touch.
    let e = Shm::create(&name, 1 << 50).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSpace, "{e}");
    assert!(
        !dev_shm(&name).exists(),
        "the half-made object was unlinked"
    );
}

#[test]
fn exclusive_create_of_an_existing_name_is_already_exists() {
    let name = unique_name("excl");
    let _guard = Cleanup::shm(&name);
    let a = Shm::create(&name, 4096).unwrap();
    let e = Shm::create(&name, 4096).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert_eq!(e.name(), Some(name.as_str()));
    drop(a);
}

#[test]
fn open_of_a_missing_name_is_not_found() {
    let name = unique_name("missing");
    for r in [
        Shm::open(&name).map(drop),
        Shm::options().read_only(true).open(&name).map(drop),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert_eq!(e.name(), Some(name.as_str()));
    }
}

/// What a creator has between `shm_open(O_CREAT)` and sizing the object: a new object of
/// size 0 (made with the raw calls, since `Shm` never leaves one behind).
fn create_unsized(name: &str) -> OwnedFd {
    let fd = nix::sys::mman::shm_open(
        name,
        nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL | nix::fcntl::OFlag::O_RDWR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    assert_eq!(nix::sys::stat::fstat(&fd).unwrap().st_size, 0);
    fd
}

#[test]
fn opening_an_unsized_object_is_invalid_size() {
    let name = unique_name("unsized");
    let _guard = Cleanup::shm(&name);
    drop(create_unsized(&name));
    for r in [
        Shm::open(&name).map(drop),
        Shm::options().read_only(true).open(&name).map(drop),
    ] {
        let e = r.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");
        assert!(e.to_string().contains("size 0"), "{e}");
    }
    // Open-or-create waits a bounded time for the creator, then reports the same.
    let e = Shm::options().size(4096).open_or_create(&name).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");
}

#[test]
fn a_symlink_under_the_name_is_refused() {
    let target = unique_name("target");
    let _g1 = Cleanup::shm(&target);
    let link = unique_name("link");
    let _g2 = Cleanup::shm(&link); // shm_unlink removes the symlink itself
    let t = Shm::create(&target, 4096).unwrap();
    std::os::unix::fs::symlink(dev_shm(&target), dev_shm(&link)).unwrap();
    for r in [
        Shm::open(&link).map(drop),
        Shm::options().read_only(true).open(&link).map(drop),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongType, "{e}");
    }
    let e = Shm::options().size(4096).open_or_create(&link).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongType, "{e}");
    assert_eq!(
        Shm::create(&link, 4096).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    drop(t);
}

/// Removes a directory planted in /dev/shm, also if the test fails.
struct DirGuard(PathBuf);
impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_directory_or_fifo_under_the_name_is_wrong_type_without_hanging() {
    let dir = unique_name("dir");
    let _g = DirGuard(dev_shm(&dir));
    std::fs::create_dir(dev_shm(&dir)).unwrap();
    for r in [
        Shm::open(&dir).map(drop),
        Shm::options().read_only(true).open(&dir).map(drop),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongType, "{e}");
    }

    let fifo = unique_name("fifo");
    let _g2 = Cleanup::shm(&fifo);
    nix::unistd::mkfifo(
        &dev_shm(&fifo),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    // O_NONBLOCK: opening a FIFO for reading with no writer must not block.
    for r in [
        Shm::open(&fifo).map(drop),
        Shm::options().read_only(true).open(&fifo).map(drop),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongType, "{e}");
    }
}

#[test]
fn bad_options_are_invalid_input() {
    let name = unique_name("opts");
    let _guard = Cleanup::shm(&name);
    let e = Shm::options()
        .mode(0o4755)
        .size(4096)
        .create(&name)
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    let e = Shm::options()
        .read_only(true)
        .size(4096)
        .create(&name)
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    assert!(!dev_shm(&name).exists());
}

#[test]
fn fd_is_the_objects_descriptor_and_close_on_exec() {
    let name = unique_name("fd");
    let _guard = Cleanup::shm(&name);
    let shm = Shm::create(&name, 10_000).unwrap();
    let st = nix::sys::stat::fstat(shm.fd()).unwrap();
    assert_eq!(st.st_size, 10_000);
    let md = std::fs::metadata(dev_shm(&name)).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&md), st.st_ino);
    let flags = nix::fcntl::fcntl(shm.fd(), nix::fcntl::FcntlArg::F_GETFD).unwrap();
    assert_ne!(flags & libc::FD_CLOEXEC, 0);
    assert!(shm.fd().as_raw_fd() >= 0);
    // Space is reserved: all 10_000 bytes (3 pages) are allocated blocks.
    assert!(st.st_blocks * 512 >= 10_000, "blocks {}", st.st_blocks);
}

#[test]
fn read_at_and_write_at_are_bounds_checked() {
    let name = unique_name("rw");
    let _guard = Cleanup::shm(&name);
    let shm = Shm::create(&name, 100).unwrap();
    shm::write_at(&shm, 90, b"0123456789").unwrap();
    let mut buf = [0; 10];
    shm::read_at(&shm, 90, &mut buf).unwrap();
    assert_eq!(&buf, b"0123456789");
    assert_eq!(read_bytes(&shm, 100)[90..], *b"0123456789");
    for offset in [91, 100, usize::MAX] {
        let e = shm::write_at(&shm, offset, b"0123456789").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
        let e = shm::read_at(&shm, offset, &mut buf).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    }
    shm::read_at(&shm, 100, &mut []).unwrap();
    let ro = Shm::options().read_only(true).open(&name).unwrap();
    let e = shm::write_at(&ro, 0, b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    shm::read_at(&ro, 95, &mut buf[..5]).unwrap();
    assert_eq!(&buf[..5], b"56789");
}

#[test]
fn read_permission_is_enough_for_read_only_open_and_not_for_read_write() {
    if role().is_some() {
        let name = env("SHM_NAME");
        let dropped = drop_privileges();
        let ro = Shm::options().read_only(true).open(&name).unwrap();
        assert!(ro.is_read_only());
        assert_eq!(read_bytes(&ro, 5), b"token");
        let e = Shm::open(&name).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        if dropped {
            // Another user's object in the sticky /dev/shm: not ours to remove.
            let e = shm::unlink(&name).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        }
        report("ok");
        return;
    }
    let name = unique_name("perm");
    let _guard = Cleanup::shm(&name);
    // Read for everyone, write for the owner only. When the suite runs as root, the child
    // checks as `nobody`; otherwise as ourselves, so take write away from the owner too.
    let mode = if is_root() { 0o644 } else { 0o444 };
    let shm = Shm::options().mode(mode).size(4096).create(&name).unwrap();
    write_bytes(&shm, 0, b"token");
    let lines = spawn_role(
        "read_permission_is_enough_for_read_only_open_and_not_for_read_write",
        "unprivileged",
        &[("SHM_NAME", &name)],
    )
    .wait_ok();
    assert_eq!(lines, ["ok"]);
    assert!(dev_shm(&name).exists());
}

#[test]
fn open_or_create_waits_for_a_creator_that_sizes_the_object_late() {
    let name = unique_name("late");
    let _guard = Cleanup::shm(&name);
    // A creator that made the object but has not sized it yet, and sizes it once the
    // opener below sleeps in its wait for the size (observed, not hoped for).
    let fd = create_unsized(&name);
    let opener = gettid();
    let sizer = std::thread::spawn(move || {
        ipc_testutil::wait_for("the opener to wait for the size", CHILD, || {
            sleeps_in(opener, "nanosleep")
        });
        nix::unistd::ftruncate(&fd, 8192).unwrap();
    });
    let shm = Shm::options().size(4096).open_or_create(&name).unwrap();
    sizer.join().unwrap();
    assert!(!shm.created());
    assert_eq!(shm.len(), 8192, "the creator's size, read after it was set");
}
