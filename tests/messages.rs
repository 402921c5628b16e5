//! What errors say: each test checks the error's kind and the key words of its message.

use std::error::Error as _;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::mpsc;
use std::time::Duration;

use ipc::os::shm::Shm;
use ipc::os::{Errno, ErrorKind};
use ipc::{LayoutMismatch, Shared, SharedArray, SharedMutex};
use ipc_testutil::{unique_name, Cleanup};

mod v1 {
    use super::*;
    #[derive(ipc::SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub hits: AtomicU64,
    }
}

mod v2 {
    use super::*;
    #[derive(ipc::SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub hits: AtomicU32,
    }
}

#[derive(ipc::SharedLayout)]
#[repr(C)]
struct Locked {
    m: SharedMutex<u64>,
}

#[test]
fn layout_mismatch_says_expected_and_found() {
    let name = unique_name("msg-layout");
    let _c = Cleanup::shm(&name);
    let _a = Shared::<v1::Stats>::create(&name, |_| {}).unwrap();
    let e = Shared::<v2::Stats>::open(&name).unwrap_err();
    let Some(LayoutMismatch { diffs, .. }) = e.layout_mismatch_details() else {
        panic!("not a layout mismatch: {e}");
    };
    // The opener expected its own type (AtomicU32) and found the creator's (AtomicU64).
    assert!(
        diffs
            .iter()
            .any(|d| d == "field `hits`: expected type AtomicU32, found AtomicU64"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(!msg.contains("->"), "{msg}");
}

#[test]
fn array_of_arrays_mismatch_names_the_element_type() {
    let name = unique_name("msg-arr");
    let _c = Cleanup::shm(&name);
    let _a = SharedArray::<[f64; 2]>::create(&name, &[3]).unwrap();
    let e = SharedArray::<[f64; 3]>::open(&name).unwrap_err();
    let Some(LayoutMismatch { type_name, .. }) = e.layout_mismatch_details() else {
        panic!("not a layout mismatch: {e}");
    };
    assert_eq!(type_name, "[f64;3]", "{e}");
    let msg = e.to_string();
    assert!(msg.contains("layout mismatch for [f64;3]"), "{msg}");
    assert!(!msg.contains("[T;N]"), "{msg}");

    let _c2 = Cleanup::shm(&format!("{name}-v"));
    let _v = Shared::<[f64; 2]>::create(&format!("{name}-v"), |_| {}).unwrap();
    let e = Shared::<[u64; 2]>::open(&format!("{name}-v")).unwrap_err();
    assert!(e.to_string().contains("layout mismatch for [u64;2]"), "{e}");
}

#[test]
fn wrong_number_of_indices_is_a_rank_error() {
    let name = unique_name("msg-rank");
    let _c = Cleanup::shm(&name);
    let a = SharedArray::<u32>::create(&name, &[4, 4]).unwrap();

    let e = a.get(&[1]).unwrap_err();
    assert!(
        matches!(Some(e.kind()), Some(ErrorKind::InvalidInput)),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("has 1 components"), "{msg}");
    assert!(msg.contains("rank 2"), "{msg}");
    assert!(!msg.contains("outside"), "{msg}");
    let e = a.set(&[0, 0, 0], 1).unwrap_err();
    assert!(e.to_string().contains("has 3 components"), "{e}");

    // The right rank but out of range stays an "outside" error.
    let e = a.get(&[4, 0]).unwrap_err();
    assert!(
        matches!(Some(e.kind()), Some(ErrorKind::InvalidInput)),
        "{e}"
    );
    assert!(e.to_string().contains("outside dims [4, 4]"), "{e}");
}

#[test]
fn relocking_a_held_mutex_says_this_thread_holds_it() {
    let name = unique_name("msg-deadlk");
    let _c = Cleanup::shm(&name);
    let s = Shared::<Locked>::create(&name, |_| {}).unwrap();
    let _g = s.m.lock().unwrap();
    let Err(e) = s.m.lock() else {
        panic!("a second lock on the same thread did not fail");
    };
    assert_eq!(e.kind(), ErrorKind::Os(Errno::EDEADLK), "{e}");
    assert_eq!(e.errno(), Some(Errno::EDEADLK));
    assert!(
        e.to_string().contains("this thread already holds the lock"),
        "{e}"
    );
}

#[test]
fn zeroed_object_times_out_saying_there_is_no_segment_header() {
    let name = unique_name("msg-zero");
    let _c = Cleanup::shm(&name);
    let len = Shared::<v1::Stats>::segment_len().unwrap();
    let _zeros = Shm::create(&name, len).unwrap();
    let e = Shared::<v1::Stats>::options()
        .timeout(Duration::from_millis(100))
        .open(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InitTimeout, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("not initialised in time: waited 100ms"),
        "{msg}"
    );
    assert!(msg.contains("no segment header"), "{msg}");
    assert!(msg.contains("may not be a segment of this format"), "{msg}");
}

#[test]
fn slow_creator_times_out_without_the_no_header_note() {
    let name = unique_name("msg-slow");
    let _c = Cleanup::shm(&name);
    let (in_init, wait_in_init) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let creator = {
        let name = name.clone();
        std::thread::spawn(move || {
            let _s = Shared::<v1::Stats>::create(&name, |_| {
                in_init.send(()).unwrap();
                // Bounded: the test releases it, or it gives up after the watchdog.
                let _ = released.recv_timeout(ipc_testutil::WATCHDOG);
            })
            .unwrap();
        })
    };
    wait_in_init.recv_timeout(ipc_testutil::WATCHDOG).unwrap();
    let e = Shared::<v1::Stats>::options()
        .timeout(Duration::from_millis(100))
        .open(&name)
        .unwrap_err();
    release.send(()).unwrap();
    creator.join().unwrap();
    assert_eq!(e.kind(), ErrorKind::InitTimeout, "{e}");
    assert!(!e.to_string().contains("no segment header"), "{e}");
}

/// Issue 10: one error type for the whole stack. A typed segment's open, an OS-layer call and
/// a lock all return `ipc::Error` (the OS layer's `ipc::os::Error` is the same type), with
/// `kind()`, and the OS error behind one is its `source()`.
#[test]
fn one_error_type_with_kind_and_the_errno_as_source() {
    let name = unique_name("msg-source");
    let e: ipc::Error = Shared::<v1::Stats>::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let os: ipc::os::Error = ipc::os::shm::Shm::open(&name).unwrap_err();
    assert_eq!(os.kind(), ErrorKind::NotFound);
    let errno = e
        .source()
        .and_then(|s| s.downcast_ref::<Errno>())
        .expect("the errno is the source");
    assert_eq!(*errno, Errno::ENOENT);
    // Same derives everywhere: Clone, PartialEq, and one pointer wide.
    assert_eq!(e.clone(), e);
    assert_eq!(
        std::mem::size_of::<ipc::Error>(),
        std::mem::size_of::<usize>()
    );
}
