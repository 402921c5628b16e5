//! Messages of every shape through a byte ring, between a parent and a forked child (each
//! child reaped with a watchdog): bytemuck `Pod` values and slices without serialisation,
//! and (feature `serde`) serialised objects, process_shared's `write_object`/`read_object`.

use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use ipc_collections::{ByteRing, ErrorKind};
use ipc_testutil::{fork_child, wait_pid, WATCHDOG};

const T: Option<Duration> = Some(Duration::from_secs(20));

#[derive(Pod, Zeroable, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Quote {
    price: f64,
    qty: u32,
    side: u8,
    _pad: [u8; 3],
}

fn quote(i: u32) -> Quote {
    Quote {
        price: f64::from(i) * 0.25,
        qty: i,
        side: (i % 2) as u8,
        _pad: [0; 3],
    }
}

#[test]
fn pod_values_and_slices_cross_processes_as_their_bytes() {
    let ring = ByteRing::anonymous(4096).unwrap();
    let r = &ring;
    let mut rx = ring.consumer().unwrap();
    let pid = fork_child(|| {
        let mut tx = r.producer().unwrap();
        (0..10_000).all(|i| tx.send_pod(&quote(i), T).is_ok())
            && tx.send_pod_slice(&[1u16, 2, 3], T).is_ok()
            && tx.send_pod(&7u64, T).is_ok()
    });
    for i in 0..10_000 {
        assert_eq!(rx.recv_pod::<Quote>(T).unwrap(), quote(i));
    }
    assert_eq!(rx.recv_pod_vec::<u16>(T).unwrap(), [1, 2, 3]);
    // A frame of the wrong size is an error for that frame only.
    let e = rx.recv_pod::<u32>(T).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");
    assert_eq!(wait_pid(pid, WATCHDOG), Some(0));
    assert_eq!(
        rx.recv_pod::<u64>(T).unwrap_err().kind(),
        ErrorKind::Disconnected
    );
}

#[test]
fn a_slice_whose_length_is_not_a_multiple_is_refused_and_the_next_frame_still_reads() {
    let ring = ByteRing::anonymous(256).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    tx.send(&[1, 2, 3], None).unwrap();
    tx.send_pod(&0x0102_0304u32, None).unwrap();
    let e = rx.recv_pod_vec::<u16>(None).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");
    assert_eq!(rx.try_recv_pod::<u32>(), Ok(Some(0x0102_0304)));
    assert_eq!(rx.try_recv_pod::<u32>(), Ok(None));
    // Larger than the largest frame (256 / 2 - 8 = 120 bytes).
    let e = tx.try_send_pod(&[0u8; 121]).unwrap_err();
    assert_eq!(
        (e.kind(), e.op()),
        (ErrorKind::InvalidSize, "try_send_pod"),
        "{e}"
    );
}

#[cfg(feature = "serde")]
mod objects {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Order {
        id: u64,
        customer: String,
        lines: Vec<(String, u32)>,
        notes: Option<String>,
        tags: BTreeMap<String, i64>,
    }

    fn order(i: u64) -> Order {
        Order {
            id: i,
            customer: format!("customer-{i}"),
            lines: (0..i % 5)
                .map(|k| (format!("item{k}"), k as u32 * 3))
                .collect(),
            notes: (i % 3 == 0).then(|| "fragile".repeat(i as usize % 4)),
            tags: [("priority".to_owned(), i as i64 - 50)].into(),
        }
    }

    #[test]
    fn serde_objects_written_by_a_child_are_read_by_the_parent() {
        let ring = ByteRing::anonymous(1 << 16).unwrap();
        let r = &ring;
        let mut rx = ring.consumer().unwrap();
        let pid = fork_child(|| {
            let mut tx = r.producer().unwrap();
            (0..2000).all(|i| tx.send_object(&order(i), T).is_ok())
                && tx.send_object("not an order", T).is_ok()
        });
        for i in 0..2000 {
            assert_eq!(rx.recv_object::<Order>(T).unwrap(), order(i));
        }
        let e = rx.recv_object::<Order>(T).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
        assert_eq!(wait_pid(pid, WATCHDOG), Some(0));
        assert_eq!(
            rx.recv_object::<Order>(T).unwrap_err().kind(),
            ErrorKind::Disconnected
        );
    }

    #[test]
    fn an_object_larger_than_the_largest_frame_is_an_invalid_size() {
        let ring = ByteRing::anonymous(64).unwrap();
        let mut tx = ring.producer().unwrap();
        let e = tx.send_object(&vec![7u8; 100], None).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");
    }
}
