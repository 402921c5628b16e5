//! A forked child never releases, steals or confuses its parent's state (issue 19): every
//! handle a child can inherit over `fork` (each ring flavour's producer and consumer, a byte
//! ring's received frame, each lock guard, each creating handle) is dropped in a real forked
//! child, and the parent checks that its registration, lock or name is still its own.
//!
//! The child drops its copy through `Option::take` on a slot the parent keeps: the parent's
//! value stays where it was, the child's copy of it is dropped in the child only.

use std::sync::atomic::AtomicU64;

use ipc_collections::ipc_core::ErrorKind;
use ipc_collections::ring::Attached;
use ipc_collections::{
    ByteRing, MpmcRing, Shared, SharedArray, SharedLayout, SharedMutex, SharedRwLock, SpscRing,
};
use ipc_testutil::{child_drops, fork_run, unique_name, Cleanup, CHILD};

/// The error kind of `r`.
fn kind<T, E: Into<ipc_collections::Error>>(r: Result<T, E>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.into().kind(),
    }
}

/// This process, alive, as a ring status lists it.
fn me() -> Vec<Attached> {
    vec![Attached {
        pid: std::process::id() as i32,
        alive: true,
    }]
}

#[test]
fn spsc_producer_dropped_by_a_forked_child_stays_registered() {
    let name = unique_name("fork-spsc-p");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<u64>::create(&name, 8).unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut tx = Some(ring.producer().unwrap());
    child_drops(&mut tx);
    assert_eq!(
        ring.status().producers,
        me(),
        "the registration is the parent's"
    );
    // The consumer sees a live producer that has sent nothing: not Disconnected.
    assert_eq!(rx.try_pop(), Ok(None));
    // No second producer can attach beside the live one.
    assert!(matches!(kind(ring.producer()), ErrorKind::LimitReached));
    tx.as_mut().unwrap().push(7, None).unwrap();
    assert_eq!(rx.try_pop(), Ok(Some(7)));
}

#[test]
fn spsc_consumer_dropped_by_a_forked_child_stays_registered() {
    let name = unique_name("fork-spsc-c");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<u64>::create(&name, 1).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = Some(ring.consumer().unwrap());
    child_drops(&mut rx);
    assert_eq!(ring.status().consumers, me());
    assert!(matches!(kind(ring.consumer()), ErrorKind::LimitReached));
    assert_eq!(tx.try_push(1), Ok(true));
    // A full ring with a live consumer: WouldBlock, not Disconnected.
    assert_eq!(tx.try_push(2), Ok(false));
    assert_eq!(rx.as_mut().unwrap().try_pop(), Ok(Some(1)));
}

#[test]
fn mpmc_producer_and_consumer_dropped_by_a_forked_child_stay_registered() {
    let name = unique_name("fork-mpmc");
    let _c = Cleanup::shm(&name);
    let ring = MpmcRing::<u64>::create(&name, 2).unwrap();
    let mut tx = Some(ring.producer().unwrap());
    let mut rx = Some(ring.consumer().unwrap());
    child_drops(&mut tx);
    assert_eq!(ring.status().producers, me());
    assert_eq!(rx.as_mut().unwrap().try_pop(), Ok(None));
    child_drops(&mut rx);
    assert_eq!(ring.status().consumers, me());
    let tx = tx.as_mut().unwrap();
    assert_eq!(tx.try_push(1), Ok(true));
    assert_eq!(tx.try_push(2), Ok(true));
    assert_eq!(tx.try_push(3), Ok(false));
    assert_eq!(rx.as_mut().unwrap().try_pop(), Ok(Some(1)));
}

#[test]
fn byte_ring_producer_and_consumer_dropped_by_a_forked_child_stay_registered() {
    let name = unique_name("fork-bytes");
    let _c = Cleanup::shm(&name);
    let ring = ByteRing::create(&name, 64).unwrap();
    let mut tx = Some(ring.producer().unwrap());
    let mut rx = Some(ring.consumer().unwrap());
    child_drops(&mut tx);
    assert_eq!(ring.status().producers, me());
    assert!(matches!(kind(ring.producer()), ErrorKind::LimitReached));
    child_drops(&mut rx);
    assert_eq!(ring.status().consumers, me());
    assert!(matches!(kind(ring.consumer()), ErrorKind::LimitReached));
}

#[test]
fn byte_ring_frame_dropped_by_a_forked_child_stays_unreleased() {
    let name = unique_name("fork-frame");
    let _c = Cleanup::shm(&name);
    let ring = ByteRing::create(&name, 64).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    tx.send(b"frame", None).unwrap();
    // A received frame: the child's copy must not hand its bytes back to the producer.
    let mut frame = Some(rx.try_recv().unwrap().expect("a frame"));
    child_drops(&mut frame);
    assert_eq!(ring.status().head, 0, "the frame is still the parent's");
    assert_eq!(&**frame.as_ref().unwrap(), b"frame");
    drop(frame);
    assert!(ring.status().head > 0, "the parent's drop releases it");
}

#[derive(SharedLayout)]
#[repr(C)]
struct Locks {
    m: SharedMutex<u64>,
    rw: SharedRwLock<u64>,
    n: AtomicU64,
}

/// In a second forked child: the kind of error a try-lock of the parent's held lock gives.
fn held_in_another_process(f: impl FnOnce() -> Option<ErrorKind>) {
    fork_run(CHILD, move || f() == Some(ErrorKind::WouldBlock))
        .expect("another process finds the lock still held (WouldBlock)");
}

fn locks(tag: &str) -> (Cleanup, Shared<Locks>) {
    let name = unique_name(tag);
    (
        Cleanup::shm(&name),
        Shared::<Locks>::create(&name, |_| {}).unwrap(),
    )
}

#[test]
fn shared_mutex_guard_dropped_by_a_forked_child_does_not_unlock() {
    let (_c, s) = locks("fork-mutex");
    let mut g = Some(s.m.lock().unwrap());
    child_drops(&mut g);
    held_in_another_process(|| s.m.try_lock().err().map(|e| e.kind()));
    drop(g);
    drop(s.m.try_lock().unwrap());
}

#[test]
fn shared_write_guard_dropped_by_a_forked_child_does_not_unlock() {
    let (_c, s) = locks("fork-wguard");
    let mut g = Some(s.rw.write().unwrap());
    child_drops(&mut g);
    held_in_another_process(|| s.rw.try_read().err().map(|e| e.kind()));
    drop(g);
    drop(s.rw.try_write().unwrap());
}

#[test]
fn shared_read_guard_dropped_by_a_forked_child_does_not_unlock() {
    let (_c, s) = locks("fork-rguard");
    let mut g = Some(s.rw.read().unwrap());
    child_drops(&mut g);
    // A writer must still be kept out.
    held_in_another_process(|| s.rw.try_write().err().map(|e| e.kind()));
    drop(g);
    drop(s.rw.try_write().unwrap());
}

#[test]
fn array_guard_dropped_by_a_forked_child_does_not_unlock_the_parents_lock() {
    let name = unique_name("fork-array");
    let _c = Cleanup::shm(&name);
    let a = SharedArray::<u32>::create(&name, &[4]).unwrap();
    let mut g = Some(a.lock().unwrap());
    child_drops(&mut g);
    held_in_another_process(|| a.try_lock().err().map(|e| e.kind()));
    drop(g);
    drop(a.try_lock().unwrap());
}

#[test]
fn creating_handles_dropped_by_a_forked_child_keep_their_names() {
    let names: Vec<String> = (0..5)
        .map(|i| unique_name(&format!("fork-name{i}")))
        .collect();
    let _c: Vec<Cleanup> = names.iter().map(|n| Cleanup::shm(n)).collect();
    let mut shared = Some(Shared::<Locks>::create(&names[0], |_| {}).unwrap());
    let mut array = Some(SharedArray::<u32>::create(&names[1], &[4]).unwrap());
    let mut spsc = Some(SpscRing::<u64>::create(&names[2], 8).unwrap());
    let mut mpmc = Some(MpmcRing::<u64>::create(&names[3], 8).unwrap());
    let mut bytes = Some(ByteRing::create(&names[4], 64).unwrap());
    child_drops(&mut shared);
    child_drops(&mut array);
    child_drops(&mut spsc);
    child_drops(&mut mpmc);
    child_drops(&mut bytes);
    let exists = |n: &str| std::path::Path::new(&format!("/dev/shm{n}")).exists();
    for n in &names {
        assert!(exists(n), "{n} survives the child's drop");
    }
    assert!(shared.as_ref().unwrap().unlinks_on_drop());
    drop((shared, array, spsc, mpmc, bytes));
    for n in &names {
        assert!(!exists(n), "{n} is removed by the parent's drop");
    }
}
