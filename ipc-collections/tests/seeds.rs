//! What the seed libraries' users do (issue 11), across real processes: an array opened
//! without naming its type (IPC.jl `WrappedArray(id)`), typed views of memory the caller
//! has (`WrappedArray(mem, T, dims; offset)`), primitives in anonymous memory for forked
//! children (process_shared), unique names (posix_ipc `O_CREX`), and lock-free atomic
//! arrays.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use ipc_collections::ipc_core::sem::Semaphore;
use ipc_collections::ipc_core::shm::sysv::{Key, SysvShm};
use ipc_collections::ipc_core::shm::{self, AnonShm, MemfdShm, Shm};
use ipc_collections::ipc_core::ErrorKind;
use ipc_collections::{
    AnyArray, ArrayView, ElemType, Error, Shared, SharedArray, SharedCondvar, SharedMutex,
};
use ipc_testutil::{env, fork_child, fork_run, report, role, spawn_role, unique_name, wait_pid};
use ipc_testutil::{Cleanup, WATCHDOG};

/// An error's kind, owned (for `assert_eq!` against a kind with text).
fn kind(e: &Error) -> ErrorKind {
    e.kind()
}

// ---- 1. WrappedArray(id): open without naming the element type ----

#[test]
fn an_array_created_by_one_process_is_opened_untyped_and_printed_by_another() {
    match role().as_deref() {
        Some("creator") => {
            let name = env("NAME");
            // Kept after this process exits: the parent's Cleanup removes it.
            SharedArray::<f64>::options()
                .dims(&[2, 3])
                .unlink_on_drop(false)
                .create(&name, |x| {
                    for (i, v) in x.iter_mut().enumerate() {
                        *v = i as f64 + 0.5;
                    }
                })
                .unwrap();
            return;
        }
        Some("printer") => {
            let a = AnyArray::open(&env("NAME")).unwrap();
            report(format!(
                "{} {:?} {}",
                a.elem(),
                a.dims(),
                a.to_string_lossy().unwrap()
            ));
            assert!(matches!(a, AnyArray::F64(_)));
            assert!(a.typed::<f64>().is_some() && a.typed::<u64>().is_none());
            let typed = a.into_typed::<f64>().unwrap();
            assert_eq!(typed.get(&[1, 2]).unwrap(), 5.5);
            return;
        }
        _ => {}
    }
    let test = "an_array_created_by_one_process_is_opened_untyped_and_printed_by_another";
    let name = unique_name("anyarr");
    let _c = Cleanup::shm(&name);
    spawn_role(test, "creator", &[("NAME", &name)]).wait_ok();
    let lines = spawn_role(test, "printer", &[("NAME", &name)]).wait_ok();
    assert_eq!(
        lines,
        ["f64 [2, 3] [[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]"],
        "the printer learned type and dims from the segment"
    );
}

#[test]
fn every_scalar_and_atomic_element_type_is_recognised() {
    let n = unique_name("anyty");
    let _c = Cleanup::shm(&n);
    let a = SharedArray::<i8>::options()
        .dims(&[3])
        .create(&n, |x| x.copy_from_slice(&[-1, 0, 1]))
        .unwrap();
    let any = AnyArray::open(&n).unwrap();
    assert_eq!(any.elem(), ElemType::I8);
    assert_eq!(any.to_string_lossy().unwrap(), "[-1, 0, 1]");
    drop((any, a));

    let n = unique_name("anyty");
    let _c = Cleanup::shm(&n);
    let a = SharedArray::<AtomicU32>::create(&n, &[2, 1, 2]).unwrap();
    a.as_slice()[3].store(7, Ordering::Relaxed);
    let any = AnyArray::open(&n).unwrap();
    assert_eq!(any.elem(), ElemType::AtomicU32);
    assert_eq!(any.elem().size(), 4);
    assert_eq!(any.to_string_lossy().unwrap(), "[[[0, 0]], [[0, 7]]]");
    let e = any.into_typed::<u32>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LayoutMismatch, "{e}");
    drop(a);

    let n = unique_name("anyty");
    let _c = Cleanup::shm(&n);
    let _a = SharedArray::<u16>::create(&n, &[0, 4]).unwrap();
    let any = AnyArray::open(&n).unwrap();
    assert_eq!(
        (any.elem(), any.len(), any.is_empty()),
        (ElemType::U16, 0, true)
    );
    assert_eq!(any.to_string_lossy().unwrap(), "[]");
}

#[test]
fn an_unknown_element_type_or_a_value_segment_is_a_typed_error() {
    if role().as_deref() == Some("opener") {
        let e = AnyArray::open(&env("PAIRS")).unwrap_err();
        assert!(matches!(kind(&e), ErrorKind::InvalidInput), "{e}");
        assert!(e.to_string().contains("[u16; 2]"), "names the type: {e}");
        let e = AnyArray::open(&env("VALUE")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongType, "{e}");
        let e = AnyArray::open(&env("MISSING")).unwrap_err();
        assert_eq!(kind(&e), ErrorKind::NotFound);
        report("ok");
        return;
    }
    let pairs = unique_name("anybad");
    let _c1 = Cleanup::shm(&pairs);
    let value = unique_name("anybad");
    let _c2 = Cleanup::shm(&value);
    let _a = SharedArray::<[u16; 2]>::create(&pairs, &[4]).unwrap();
    let _v = Shared::<u64>::create(&value, |_| {}).unwrap();
    let lines = spawn_role(
        "an_unknown_element_type_or_a_value_segment_is_a_typed_error",
        "opener",
        &[
            ("PAIRS", &pairs),
            ("VALUE", &value),
            ("MISSING", &unique_name("anybad")),
        ],
    )
    .wait_ok();
    assert_eq!(lines, ["ok"]);
}

// ---- 2. WrappedArray(mem, T, dims; offset): views of memory the caller has ----

#[test]
fn a_view_reads_what_another_process_wrote_into_a_plain_shm_at_an_offset() {
    const OFFSET: usize = 64;
    if role().as_deref() == Some("writer") {
        // As a C program would: a plain object, u32 values at byte 64, no header.
        let shm = Shm::options()
            .size(4096)
            .unlink_on_drop(false)
            .create(&env("NAME"))
            .unwrap();
        for i in 0..12u32 {
            shm::write_at(&shm, OFFSET + 4 * i as usize, &(i * 10).to_ne_bytes()).unwrap();
        }
        return;
    }
    if role().as_deref() == Some("adder") {
        let shm = Shm::open(&env("NAME")).unwrap();
        let v = ArrayView::<AtomicU32>::atomic(&shm, OFFSET, &[3, 4]).unwrap();
        for _ in 0..1000 {
            v.at(&[2, 3]).unwrap().fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    let test = "a_view_reads_what_another_process_wrote_into_a_plain_shm_at_an_offset";
    let name = unique_name("view");
    let _c = Cleanup::shm(&name);
    spawn_role(test, "writer", &[("NAME", &name)]).wait_ok();
    let shm = Shm::options().read_only(true).open(&name).unwrap();
    // SAFETY: the only writer has exited, and the adders start after this view is dropped.
    let v = unsafe { ArrayView::<u32>::from_memory(&shm, OFFSET, &[3, 4]) }.unwrap();
    assert_eq!(v.dims(), &[3, 4]);
    assert_eq!(v.len(), 12);
    assert_eq!(*v.at(&[1, 2]).unwrap(), 60);
    assert_eq!(v.iter().sum::<u32>(), 660);
    assert!(v.at(&[3, 0]).is_none());
    drop(v);
    // Atomic views are safe while other processes write: two of them add concurrently.
    let rw = Shm::open(&name).unwrap();
    let view = ArrayView::<AtomicU32>::atomic(&rw, OFFSET, &[3, 4]).unwrap();
    let kids: Vec<_> = (0..2)
        .map(|_| spawn_role(test, "adder", &[("NAME", &name)]))
        .collect();
    for k in kids {
        k.wait_ok();
    }
    assert_eq!(
        view.at(&[2, 3]).unwrap().load(Ordering::Relaxed),
        110 + 2000
    );
    // Atomics through this process's read-only mapping would fault on a store.
    let e = ArrayView::<AtomicU32>::atomic(&shm, OFFSET, &[3, 4]).unwrap_err();
    assert_eq!(kind(&e), ErrorKind::PermissionDenied);
}

#[test]
fn an_atomic_view_of_a_system_v_segment_is_shared_with_forked_children() {
    let seg = SysvShm::create(Key::PRIVATE, 4096).unwrap();
    let _c = Cleanup::sysv_shm(seg.id());
    let v = ArrayView::<AtomicI64>::atomic(&seg, 128, &[8]).unwrap();
    let kids: Vec<i32> = (0..2)
        .map(|k| {
            fork_child(|| {
                for _ in 0..500 {
                    v.as_slice()[k].fetch_add(1, Ordering::Relaxed);
                    v.as_slice()[7].fetch_sub(1, Ordering::Relaxed);
                }
                true
            })
        })
        .collect();
    for pid in kids {
        assert_eq!(wait_pid(pid, WATCHDOG), Some(0));
    }
    let got: Vec<i64> = v.iter().map(|x| x.load(Ordering::Relaxed)).collect();
    assert_eq!(got, [500, 500, 0, 0, 0, 0, 0, -1000]);
}

/// A memfd of 4096 bytes whose first bytes are `bytes`, sealed against writes and resizes,
/// made as a C program would (MemfdShm's own memfds seal their seals).
fn write_sealed_memfd(bytes: &[u8]) -> MemfdShm {
    // SAFETY: a NUL-terminated name and flags; the result is checked below.
    let raw = unsafe {
        libc::memfd_create(
            c"seeds-view".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    assert!(
        raw >= 0,
        "memfd_create: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).unwrap();
    file.set_len(4096).unwrap();
    let fd = OwnedFd::from(file);
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    // SAFETY: fcntl on an fd we own, with an int argument.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    assert_eq!(r, 0, "F_ADD_SEALS: {}", std::io::Error::last_os_error());
    MemfdShm::from_fd(fd).unwrap()
}

#[test]
fn a_write_sealed_memfd_gives_a_safe_view_of_plain_elements_in_a_forked_child() {
    let bytes: Vec<u8> = [1.5f64, 2.5, 3.5, 4.5]
        .iter()
        .flat_map(|x| x.to_ne_bytes())
        .collect();
    let m = write_sealed_memfd(&bytes);
    let v = ArrayView::<f64>::sealed(&m, 0, &[2, 2]).unwrap();
    assert_eq!(*v.at(&[1, 0]).unwrap(), 3.5);
    fork_run(WATCHDOG, || {
        // The child inherits the mapping; nobody can write it.
        let v = ArrayView::<f64>::sealed(&m, 8, &[3]).unwrap();
        v.as_slice() == [2.5, 3.5, 4.5]
    })
    .unwrap();
    // Without the seal: refused.
    let plain = MemfdShm::create("seeds-view", 4096).unwrap();
    let e = ArrayView::<f64>::sealed(&plain, 0, &[2]).unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::InvalidInput), "{e}");
}

#[test]
fn bad_views_are_typed_errors() {
    let mem = AnonShm::new(4096).unwrap();
    let atomic = |offset: usize, dims: &[usize]| {
        kind(&ArrayView::<AtomicU64>::atomic(&mem, offset, dims).unwrap_err())
    };
    assert!(
        matches!(atomic(4, &[2]), ErrorKind::InvalidInput),
        "misaligned"
    );
    assert!(
        matches!(atomic(0, &[513]), ErrorKind::InvalidSize),
        "larger than memory"
    );
    assert!(
        matches!(atomic(4088, &[2]), ErrorKind::InvalidSize),
        "runs off the end"
    );
    assert!(
        matches!(atomic(8192, &[0]), ErrorKind::InvalidSize),
        "offset past the end"
    );
    assert!(
        matches!(atomic(usize::MAX - 7, &[1]), ErrorKind::InvalidSize),
        "offset overflow"
    );
    assert!(
        matches!(atomic(0, &[1 << 40, 1 << 40]), ErrorKind::InvalidSize),
        "dims overflow"
    );
    assert!(
        matches!(atomic(0, &[usize::MAX / 4]), ErrorKind::InvalidSize),
        "bytes overflow"
    );
    assert!(matches!(atomic(0, &[]), ErrorKind::InvalidInput), "no dims");
    assert!(
        matches!(atomic(0, &[1; 9]), ErrorKind::InvalidInput),
        "rank 9"
    );
    // The exact fit and an empty view at the very end are fine.
    assert_eq!(
        ArrayView::<AtomicU64>::atomic(&mem, 0, &[512])
            .unwrap()
            .len(),
        512
    );
    assert!(ArrayView::<AtomicU64>::atomic(&mem, 4096, &[0])
        .unwrap()
        .is_empty());
    // SAFETY: nobody writes this memory (no other process or thread has it).
    let e = unsafe { ArrayView::<u16>::from_memory(&mem, 1, &[2]) }.unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::InvalidInput), "{e}");
}

// ---- 3. process_shared: primitives in anonymous memory, used by forked children ----

#[test]
fn a_counter_in_anonymous_memory_is_incremented_and_decremented_by_two_children() {
    let counter = Shared::<SharedMutex<i64>>::anonymous(|c| *c.get_mut() = 100).unwrap();
    let inc = fork_child(|| (0..1000).all(|_| counter.lock().map(|mut g| *g += 1).is_ok()));
    let dec = fork_child(|| (0..1000).all(|_| counter.lock().map(|mut g| *g -= 1).is_ok()));
    assert_eq!(wait_pid(inc, WATCHDOG), Some(0));
    assert_eq!(wait_pid(dec, WATCHDOG), Some(0));
    assert_eq!(*counter.lock().unwrap(), 100);
}

#[test]
fn a_condvar_in_anonymous_memory_hands_off_between_parent_and_child() {
    let state = Shared::<SharedMutex<u32>>::anonymous(|_| {}).unwrap();
    let cv = Shared::<SharedCondvar>::anonymous(|_| {}).unwrap();
    let child = fork_child(|| {
        // Wait for the parent's 1, answer with 2.
        let g = state.lock().unwrap();
        let (mut g, r) = cv
            .wait_timeout_while(g, Duration::from_secs(30), |v| *v != 1)
            .unwrap();
        if r.timed_out() {
            return false;
        }
        *g = 2;
        drop(g);
        cv.notify_all();
        true
    });
    *state.lock().unwrap() = 1;
    cv.notify_all();
    let g = state.lock().unwrap();
    let (g, r) = cv
        .wait_timeout_while(g, Duration::from_secs(30), |v| *v != 2)
        .unwrap();
    assert!(!r.timed_out());
    assert_eq!(*g, 2);
    drop(g);
    assert_eq!(wait_pid(child, WATCHDOG), Some(0));
}

#[test]
fn a_semaphore_and_an_array_in_anonymous_memory_work_across_fork() {
    let sem = Shared::<Semaphore>::anonymous(|_| {}).unwrap();
    let arr = SharedArray::<i64>::anonymous(&[2, 2]).unwrap();
    assert_eq!(arr.dims(), &[2, 2]);
    let child = fork_child(|| arr.set(&[1, 1], 42).is_ok() && sem.post().is_ok());
    sem.wait_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(arr.get(&[1, 1]).unwrap(), 42);
    assert_eq!(wait_pid(child, WATCHDOG), Some(0));
    let e = SharedArray::<i64>::anonymous(&[1 << 40, 1 << 40]).unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::InvalidSize), "{e}");
}

// ---- 4. unique names ----

#[test]
fn unique_typed_segments_are_opened_by_their_returned_name_in_another_process() {
    if role().as_deref() == Some("opener") {
        let v = Shared::<AtomicU64>::open(&env("VALUE")).unwrap();
        assert_eq!(v.load(Ordering::Relaxed), 77);
        let a = SharedArray::<u8>::options()
            .dims(&[5])
            .open(&env("ARRAY"))
            .unwrap();
        assert_eq!(a.get(&[4]).unwrap(), 9);
        report("ok");
        return;
    }
    let prefix = unique_name("uniq") + "-";
    let v = Shared::<AtomicU64>::options()
        .create_unique(&prefix, |x| *x.get_mut() = 77)
        .unwrap();
    let _c1 = Cleanup::shm(v.name());
    let a = SharedArray::<u8>::options()
        .dims(&[5])
        .create_unique(&prefix, |x| x[4] = 9)
        .unwrap();
    let _c2 = Cleanup::shm(a.name());
    assert!(v.name().starts_with(&prefix) && a.name().starts_with(&prefix));
    assert_ne!(v.name(), a.name());
    assert_eq!(v.name().len(), prefix.len() + 16);
    let lines = spawn_role(
        "unique_typed_segments_are_opened_by_their_returned_name_in_another_process",
        "opener",
        &[("VALUE", v.name()), ("ARRAY", a.name())],
    )
    .wait_ok();
    assert_eq!(lines, ["ok"]);
    // The creator's handle removes the name, as for create.
    let name = v.name().to_owned();
    drop(v);
    assert_eq!(
        kind(&Shared::<AtomicU64>::open(&name).unwrap_err()),
        ErrorKind::NotFound
    );
}

#[test]
fn a_bad_unique_prefix_is_invalid_name() {
    for prefix in ["no-slash-", "/a/b-", &format!("/{}", "x".repeat(250))] {
        let e = Shared::<u64>::options()
            .create_unique(prefix, |_| {})
            .unwrap_err();
        assert!(matches!(kind(&e), ErrorKind::InvalidName), "{prefix}: {e}");
        let e = SharedArray::<u64>::options()
            .dims(&[1])
            .create_unique(prefix, |_| {})
            .unwrap_err();
        assert!(matches!(kind(&e), ErrorKind::InvalidName), "{prefix}: {e}");
    }
}

// ---- 7. atomic arrays without the lock ----

#[test]
fn two_processes_update_an_atomic_array_without_the_lock() {
    const N: usize = 64;
    if role().as_deref() == Some("adder") {
        let a = SharedArray::<AtomicU64>::options()
            .dims(&[N])
            .open(&env("NAME"))
            .unwrap();
        for _ in 0..1000 {
            for x in a.as_slice() {
                x.fetch_add(1, Ordering::Relaxed);
            }
        }
        return;
    }
    let name = unique_name("atomarr");
    let _c = Cleanup::shm(&name);
    let a = SharedArray::<AtomicU64>::create(&name, &[N]).unwrap();
    // Hold the array's lock the whole time: the lock-free view does not need it.
    let guard = a.lock().unwrap();
    let kids: Vec<_> = (0..2)
        .map(|_| {
            spawn_role(
                "two_processes_update_an_atomic_array_without_the_lock",
                "adder",
                &[("NAME", &name)],
            )
        })
        .collect();
    for k in kids {
        k.wait_ok();
    }
    drop(guard);
    assert!(a
        .as_slice()
        .iter()
        .all(|x| x.load(Ordering::Relaxed) == 2000));
}
