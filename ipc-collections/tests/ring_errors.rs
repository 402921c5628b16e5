//! Every ring operation fails with the crate's one error, naming the operation and the
//! ring (`push "/sensors": timed out`), and reports a full or empty ring of its `try_`
//! form as a value (`Ok(false)`, `Ok(None)`), not an error. One named ring of each flavour
//! (unique names, removed by a guard also on failure); the peer-side departures that make
//! `Disconnected` are drops of the other handle here (a killed peer is covered by the
//! crash tests of `ring.rs` and `named_ring.rs`).

use std::time::Duration;

use ipc_collections::{ByteRing, Error, ErrorKind, MpmcRing, SpscRing};
use ipc_testutil::{unique_name, Cleanup};

/// A short timeout for the blocking calls that must time out.
const SHORT: Option<Duration> = Some(Duration::from_millis(5));

/// Asserts that `r` failed with `kind`, from operation `op`, naming the ring `name`, and
/// that the message says so first.
#[track_caller]
fn check<T>(r: ipc_collections::Result<T>, kind: ErrorKind, op: &str, name: &str) {
    let e: Error = match r {
        Ok(_) => panic!("{op}: expected {kind:?}, got Ok"),
        Err(e) => e,
    };
    assert_eq!((e.kind(), e.op(), e.name()), (kind, op, Some(name)), "{e}");
    assert!(
        e.to_string().starts_with(&format!("{op} {name:?}: ")),
        "{e}"
    );
}

#[test]
fn every_spsc_ring_operation_names_itself_and_the_ring() {
    let name = unique_name("rerr-spsc");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<u64>::create(&name, 2).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    check(ring.producer(), ErrorKind::LimitReached, "attach", &name);
    check(ring.consumer(), ErrorKind::LimitReached, "attach", &name);
    // Empty and full are values; waiting past the timeout is an error.
    assert_eq!(rx.try_pop(), Ok(None));
    assert_eq!(rx.pop_batch(&mut [0; 4]), Ok(0));
    check(rx.pop(SHORT), ErrorKind::Timeout, "pop", &name);
    assert_eq!(tx.try_push(1), Ok(true));
    assert_eq!(tx.push_batch(&[2, 3]), Ok(1));
    assert_eq!(tx.try_push(4), Ok(false));
    assert_eq!(tx.push_batch(&[4]), Ok(0));
    assert!(tx.reserve(1).unwrap().is_none());
    check(tx.push(4, SHORT), ErrorKind::Timeout, "push", &name);
    // The consumer leaves: a full ring is Disconnected for every push form.
    drop(rx);
    check(tx.try_push(4), ErrorKind::Disconnected, "try_push", &name);
    check(
        tx.push_batch(&[4]),
        ErrorKind::Disconnected,
        "push_batch",
        &name,
    );
    check(tx.reserve(1), ErrorKind::Disconnected, "reserve", &name);
    check(tx.push(4, SHORT), ErrorKind::Disconnected, "push", &name);
    // The producer leaves: a consumer drains, then every pop form is Disconnected.
    drop(tx);
    let mut rx = ring.consumer().unwrap();
    assert_eq!(rx.try_pop(), Ok(Some(1)));
    assert_eq!(rx.pop(SHORT), Ok(2));
    check(rx.try_pop(), ErrorKind::Disconnected, "try_pop", &name);
    check(
        rx.pop_batch(&mut [0; 4]),
        ErrorKind::Disconnected,
        "pop_batch",
        &name,
    );
    check(rx.pop(SHORT), ErrorKind::Disconnected, "pop", &name);
}

#[test]
fn every_mpmc_ring_operation_names_itself_and_the_ring() {
    let name = unique_name("rerr-mpmc");
    let _c = Cleanup::shm(&name);
    let ring = MpmcRing::<u32>::create(&name, 2).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    assert_eq!(rx.try_pop(), Ok(None));
    check(rx.pop(SHORT), ErrorKind::Timeout, "pop", &name);
    assert_eq!(tx.try_push(1), Ok(true));
    assert_eq!(tx.try_push(2), Ok(true));
    assert_eq!(tx.try_push(3), Ok(false));
    check(tx.push(3, SHORT), ErrorKind::Timeout, "push", &name);
    drop(rx);
    check(tx.try_push(3), ErrorKind::Disconnected, "try_push", &name);
    check(tx.push(3, SHORT), ErrorKind::Disconnected, "push", &name);
    drop(tx);
    let mut rx = ring.consumer().unwrap();
    assert_eq!(rx.try_pop(), Ok(Some(1)));
    assert_eq!(rx.pop(SHORT), Ok(2));
    check(rx.try_pop(), ErrorKind::Disconnected, "try_pop", &name);
    check(rx.pop(SHORT), ErrorKind::Disconnected, "pop", &name);
}

#[test]
fn every_byte_ring_operation_names_itself_and_the_ring() {
    let name = unique_name("rerr-bytes");
    let _c = Cleanup::shm(&name);
    // 64 bytes: the largest frame is 24 bytes; two 24-byte frames fill the ring.
    let ring = ByteRing::create(&name, 64).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    assert!(rx.try_recv().unwrap().is_none());
    assert_eq!(rx.try_recv_pod::<u64>(), Ok(None));
    check(
        rx.recv(SHORT).map(|f| f.len()),
        ErrorKind::Timeout,
        "recv",
        &name,
    );
    check(
        rx.recv_pod::<u64>(SHORT),
        ErrorKind::Timeout,
        "recv_pod",
        &name,
    );
    check(
        rx.recv_pod_vec::<u16>(SHORT),
        ErrorKind::Timeout,
        "recv_pod_vec",
        &name,
    );
    // Too large for the ring, whatever its fill.
    check(
        tx.try_send(&[0; 25]),
        ErrorKind::InvalidSize,
        "try_send",
        &name,
    );
    check(
        tx.reserve(25).map(|_| ()),
        ErrorKind::InvalidSize,
        "reserve",
        &name,
    );
    check(
        tx.send(&[0; 25], None),
        ErrorKind::InvalidSize,
        "send",
        &name,
    );
    check(
        tx.try_send_pod(&[0u8; 25]),
        ErrorKind::InvalidSize,
        "try_send_pod",
        &name,
    );
    // Full: a value for the try forms, a timeout for the waiting ones.
    assert_eq!(tx.try_send(&[1; 24]), Ok(true));
    assert_eq!(tx.try_send_pod(&[2u8; 24]), Ok(true));
    assert_eq!(tx.try_send(&[3; 24]), Ok(false));
    assert!(tx.reserve(24).unwrap().is_none());
    check(tx.send(&[3; 24], SHORT), ErrorKind::Timeout, "send", &name);
    check(
        tx.reserve_wait(24, SHORT).map(|_| ()),
        ErrorKind::Timeout,
        "reserve_wait",
        &name,
    );
    check(
        tx.send_pod(&[3u8; 24], SHORT),
        ErrorKind::Timeout,
        "send_pod",
        &name,
    );
    check(
        tx.send_pod_slice(&[3u8; 24], SHORT),
        ErrorKind::Timeout,
        "send_pod_slice",
        &name,
    );
    // A frame of the wrong length for a Pod: an error for that frame, naming the ring.
    check(
        rx.recv_pod::<u64>(SHORT),
        ErrorKind::InvalidSize,
        "recv_pod",
        &name,
    );
    check(
        rx.try_recv_pod::<u32>(),
        ErrorKind::InvalidSize,
        "try_recv_pod",
        &name,
    );
    // The consumer leaves: a push that finds room succeeds; a full ring is Disconnected.
    drop(rx);
    assert_eq!(tx.try_send(&[4; 24]), Ok(true));
    assert_eq!(tx.try_send(&[5; 24]), Ok(true));
    check(
        tx.try_send(&[6; 8]),
        ErrorKind::Disconnected,
        "try_send",
        &name,
    );
    check(
        tx.send(&[6; 8], SHORT),
        ErrorKind::Disconnected,
        "send",
        &name,
    );
    check(
        tx.send_pod(&6u64, SHORT),
        ErrorKind::Disconnected,
        "send_pod",
        &name,
    );
    // The producer leaves: a consumer drains, then every receive form is Disconnected.
    drop(tx);
    let mut rx = ring.consumer().unwrap();
    assert_eq!(rx.try_recv().unwrap().as_deref(), Some(&[4; 24][..]));
    assert_eq!(&*rx.recv(SHORT).unwrap(), &[5; 24]);
    check(
        rx.try_recv().map(|_| ()),
        ErrorKind::Disconnected,
        "try_recv",
        &name,
    );
    check(
        rx.recv(SHORT).map(|_| ()),
        ErrorKind::Disconnected,
        "recv",
        &name,
    );
    check(
        rx.recv_pod::<u64>(SHORT),
        ErrorKind::Disconnected,
        "recv_pod",
        &name,
    );
    check(
        rx.try_recv_pod::<u64>(),
        ErrorKind::Disconnected,
        "try_recv_pod",
        &name,
    );
    check(
        rx.recv_pod_vec::<u8>(SHORT),
        ErrorKind::Disconnected,
        "recv_pod_vec",
        &name,
    );
}

#[cfg(feature = "serde")]
#[test]
fn byte_ring_objects_name_their_operation_and_the_ring() {
    let name = unique_name("rerr-obj");
    let _c = Cleanup::shm(&name);
    let ring = ByteRing::create(&name, 64).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    check(
        rx.recv_object::<u32>(SHORT),
        ErrorKind::Timeout,
        "recv_object",
        &name,
    );
    // 8 varints of 10 bytes: larger than the largest frame (24 bytes).
    check(
        tx.send_object(&[u64::MAX; 8], SHORT),
        ErrorKind::InvalidSize,
        "send_object",
        &name,
    );
    tx.send(&[0xff; 3], None).unwrap();
    check(
        rx.recv_object::<u32>(SHORT),
        ErrorKind::InvalidInput,
        "recv_object",
        &name,
    );
    drop(rx);
    while let Ok(true) = tx.try_send(&[0; 8]) {}
    check(
        tx.send_object(&1u8, SHORT),
        ErrorKind::Disconnected,
        "send_object",
        &name,
    );
}
