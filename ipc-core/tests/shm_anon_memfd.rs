//! Anonymous shared memory across `fork`, and size-sealed memfd segments passed to another
//! process.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use ipc_core::shm::{AnonShm, MemfdShm, Seals};
use ipc_core::ErrorKind;
use ipc_testutil::{env, fork_child, fork_run, report, role, spawn_role, wait_pid, WATCHDOG};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

use ipc_testutil::bytes::{pattern, read_bytes, write_bytes};

// ---------------------------------------------------------------------------------------
// Anonymous shared memory

#[test]
fn anon_memory_is_shared_with_a_forked_child_both_ways() {
    let mem = AnonShm::new(3 * 4096).unwrap();
    assert_eq!(mem.len(), 3 * 4096);
    assert!(!mem.is_read_only());
    assert_eq!(
        read_bytes(&mem, mem.len()),
        vec![0; 3 * 4096],
        "zero-filled"
    );
    write_bytes(&mem, 0, &pattern(4096, 1));
    let ok = fork_run(WATCHDOG, || {
        if read_bytes(&mem, 4096) != pattern(4096, 1) {
            return false;
        }
        // Write into the last page: the parent must see it after we exit.
        write_bytes(&mem, 2 * 4096, b"from the child");
        true
    });
    ok.expect("the child saw the parent's bytes");
    assert_eq!(
        &read_bytes(&mem, 2 * 4096 + 14)[2 * 4096..],
        b"from the child"
    );
}

#[test]
fn anon_counter_incremented_by_four_forked_children() {
    const CHILDREN: u64 = 4;
    const EACH: u64 = 10_000;
    let mem = AnonShm::new(64).unwrap();
    // SAFETY: offset 0 of a page-aligned mapping of 64 bytes holds an aligned u64; every
    // process accesses it only atomically.
    let counter = unsafe { &*(mem.as_ptr() as *const AtomicU64) };
    let pids: Vec<i32> = (0..CHILDREN)
        .map(|_| {
            fork_child(|| {
                for _ in 0..EACH {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                true
            })
        })
        .collect();
    for pid in pids {
        assert_eq!(wait_pid(pid, WATCHDOG), Some(0));
    }
    assert_eq!(counter.load(Ordering::Relaxed), CHILDREN * EACH);
}

#[test]
fn anon_bad_sizes_are_invalid_size() {
    for size in [0, usize::MAX, isize::MAX as usize, isize::MAX as usize + 1] {
        let e = AnonShm::new(size).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{size}: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// memfd

#[test]
fn sealed_memfd_refuses_to_shrink_or_grow_or_take_new_seals() {
    let m = MemfdShm::create("ipct-sealed", 10_000).unwrap();
    assert_eq!(m.len(), 10_000);
    let seals = m.seals();
    assert!(seals.contains(Seals::F_SEAL_SHRINK | Seals::F_SEAL_GROW | Seals::F_SEAL_SEAL));
    // The kernel says the same.
    let raw = fcntl(m.fd(), FcntlArg::F_GET_SEALS).unwrap();
    assert_eq!(Seals::from_bits_retain(raw), seals);

    assert_eq!(
        nix::unistd::ftruncate(m.fd(), 0),
        Err(Errno::EPERM),
        "shrink"
    );
    assert_eq!(
        nix::unistd::ftruncate(m.fd(), 4096),
        Err(Errno::EPERM),
        "shrink"
    );
    assert_eq!(
        nix::unistd::ftruncate(m.fd(), 20_000),
        Err(Errno::EPERM),
        "grow"
    );
    assert_eq!(
        nix::fcntl::fallocate(m.fd(), nix::fcntl::FallocateFlags::empty(), 0, 1 << 20),
        Err(Errno::EPERM),
        "grow by fallocate"
    );
    // F_SEAL_SEAL: the seals themselves cannot change any more.
    assert_eq!(
        fcntl(m.fd(), FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_WRITE)),
        Err(Errno::EPERM)
    );
    assert_eq!(nix::sys::stat::fstat(m.fd()).unwrap().st_size, 10_000);
    write_bytes(&m, 9_990, b"0123456789");
    assert_eq!(&read_bytes(&m, 10_000)[9_990..], b"0123456789");
}

#[test]
fn memfd_fd_passed_to_another_process_maps_the_same_memory() {
    const LEN: usize = 2 * 4096 + 100;
    if role().as_deref() == Some("receiver") {
        // Another process reaches the memfd through /proc/PID/fd/N (what SCM_RIGHTS or
        // inheritance would hand over directly); seals belong to the file, so they hold.
        let path = format!("/proc/{}/fd/{}", env("PARENT_PID"), env("MEMFD"));
        let fd: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap()
            .into();
        let m = MemfdShm::from_fd(fd).unwrap();
        assert_eq!(m.len(), LEN);
        assert!(!m.is_read_only());
        assert_eq!(read_bytes(&m, LEN), pattern(LEN, 4));
        assert_eq!(nix::unistd::ftruncate(m.fd(), 1), Err(Errno::EPERM));
        write_bytes(&m, 0, b"received");
        report("ok");
        return;
    }
    let m = MemfdShm::create("ipct-pass", LEN).unwrap();
    write_bytes(&m, 0, &pattern(LEN, 4));
    let lines = spawn_role(
        "memfd_fd_passed_to_another_process_maps_the_same_memory",
        "receiver",
        &[
            ("PARENT_PID", &std::process::id().to_string()),
            ("MEMFD", &m.fd().as_raw_fd().to_string()),
        ],
    )
    .wait_ok();
    assert_eq!(lines, ["ok"]);
    assert_eq!(read_bytes(&m, 8), b"received");
}

#[test]
fn memfd_from_fd_maps_read_only_when_the_fd_or_seals_forbid_writing() {
    let m = MemfdShm::create("ipct-ro", 4096).unwrap();
    write_bytes(&m, 0, b"abc");
    // A read-only fd of the same file.
    let ro: OwnedFd = std::fs::File::open(format!("/proc/self/fd/{}", m.fd().as_raw_fd()))
        .unwrap()
        .into();
    let r = MemfdShm::from_fd(ro).unwrap();
    assert!(r.is_read_only());
    assert_eq!(read_bytes(&r, 3), b"abc");

    // A memfd sealed against writes (sealed before anything maps it writable).
    let fd = memfd_create(
        c"ipct-wseal",
        MFdFlags::MFD_ALLOW_SEALING | MFdFlags::MFD_CLOEXEC,
    )
    .unwrap();
    nix::unistd::ftruncate(&fd, 4096).unwrap();
    fcntl(
        &fd,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE,
        ),
    )
    .unwrap();
    let w = MemfdShm::from_fd(fd).unwrap();
    assert!(w.is_read_only());
    assert_eq!(read_bytes(&w, 4096), vec![0; 4096]);
}

#[test]
fn memfd_from_fd_refuses_unsealed_or_foreign_files() {
    // A memfd whose size is not sealed.
    let fd = memfd_create(
        c"ipct-unsealed",
        MFdFlags::MFD_ALLOW_SEALING | MFdFlags::MFD_CLOEXEC,
    )
    .unwrap();
    nix::unistd::ftruncate(&fd, 4096).unwrap();
    let e = MemfdShm::from_fd(fd.try_clone().unwrap()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    // Only one of the two size seals.
    fcntl(&fd, FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK)).unwrap();
    let e = MemfdShm::from_fd(fd).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");

    // A memfd that does not allow sealing at all (it carries F_SEAL_SEAL only).
    let fd = memfd_create(c"ipct-nosealing", MFdFlags::MFD_CLOEXEC).unwrap();
    nix::unistd::ftruncate(&fd, 4096).unwrap();
    let e = MemfdShm::from_fd(fd).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");

    // Sealed, but size 0.
    let fd = memfd_create(
        c"ipct-empty",
        MFdFlags::MFD_ALLOW_SEALING | MFdFlags::MFD_CLOEXEC,
    )
    .unwrap();
    fcntl(
        &fd,
        FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW),
    )
    .unwrap();
    let e = MemfdShm::from_fd(fd).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");

    // Not a regular file: a directory and a pipe.
    let dir: OwnedFd = std::fs::File::open("/").unwrap().into();
    assert_eq!(
        MemfdShm::from_fd(dir).unwrap_err().kind(),
        ErrorKind::WrongType
    );
    let (r, w) = nix::unistd::pipe().unwrap();
    assert_eq!(
        MemfdShm::from_fd(r).unwrap_err().kind(),
        ErrorKind::WrongType
    );
    drop(w);

    // A regular file on a disk file system, which has no seals at all.
    let path = std::env::current_exe().unwrap();
    let exe: OwnedFd = std::fs::File::open(&path).unwrap().into();
    let e = MemfdShm::from_fd(exe.as_fd().try_clone_to_owned().unwrap()).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::WrongType | ErrorKind::InvalidInput),
        "{e}"
    );
}

#[test]
fn memfd_bad_names_and_sizes() {
    let e = MemfdShm::create("a\0b", 4096).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidName), "{e}");
    let e = MemfdShm::create(&"x".repeat(250), 4096).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidName), "{e}");
    assert!(
        MemfdShm::create(&"x".repeat(249), 4096).is_ok(),
        "249 bytes is the limit"
    );
    for size in [0, usize::MAX, isize::MAX as usize] {
        let e = MemfdShm::create("ipct-size", size).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{size}: {e}");
    }
    // Reserved at create: more than memory can hold is an error now, not a SIGBUS later.
    let e = MemfdShm::create("ipct-huge", 1 << 50).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoSpace, "{e}");
}

#[test]
fn memfd_cloned_fd_maps_the_same_memory_in_a_forked_child() {
    let m = MemfdShm::create("ipct-clone", 4096).unwrap();
    write_bytes(&m, 0, b"parent");
    let fd = m.try_clone_fd().unwrap();
    assert_ne!(fd.as_raw_fd(), m.fd().as_raw_fd());
    let flags = fcntl(&fd, FcntlArg::F_GETFD).unwrap();
    assert_ne!(flags & libc::FD_CLOEXEC, 0, "close-on-exec");
    let ok = fork_run(WATCHDOG, move || {
        let Ok(c) = MemfdShm::from_fd(fd) else {
            return false;
        };
        let good = read_bytes(&c, 6) == b"parent";
        write_bytes(&c, 100, b"child");
        good
    });
    ok.unwrap();
    assert_eq!(&read_bytes(&m, 105)[100..], b"child");
}
