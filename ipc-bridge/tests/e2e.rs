//! End to end across real processes: producer -> ring A -> `ipc-bridge out` -> Zenoh over
//! 127.0.0.1 -> `ipc-bridge in` -> ring B -> consumer (this test process). Every bridge
//! and the producer are separate processes with a watchdog; crashes are real SIGKILLs.
//! Multicast scouting and gossip are off (the bridge's defaults), every endpoint is on
//! 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use ipc_collections::ByteRing;
use ipc_testutil::{spawn_role, unique_name, Cleanup};

const COUNT: u64 = 100_000;
const CAP: u64 = 1 << 16;

/// Two rings (A: producer side, B: consumer side) and a key, all unique, removed at the end.
struct Names {
    a: String,
    b: String,
    key: String,
    _clean: [Cleanup; 2],
}

fn names(tag: &str) -> Names {
    let a = unique_name(&format!("{tag}A"));
    let b = unique_name(&format!("{tag}B"));
    let key = format!("ipct/bridge{}", b.replace('/', "-"));
    Names {
        _clean: [Cleanup::shm(&a), Cleanup::shm(&b)],
        a,
        b,
        key,
    }
}

fn start_producer(test: &str, ring: &str, burst: u64) -> ipc_testutil::ChildProc {
    spawn_role(
        test,
        "producer",
        &[
            ("RING", ring),
            ("COUNT", &COUNT.to_string()),
            ("CAP", &CAP.to_string()),
            ("BURST", &burst.to_string()),
        ],
    )
}

fn is_producer() -> bool {
    if ipc_testutil::role().as_deref() == Some("producer") {
        producer_role();
        return true;
    }
    false
}

/// 10^5 frames with both bridges alive: every frame arrives once, in order, intact; both
/// bridges stop cleanly on SIGTERM and their counters say the same.
#[test]
fn hundred_thousand_frames_in_order_and_intact() {
    if is_producer() {
        return;
    }
    let n = names("e2e");
    let (bin, port) = Bridge::start_listening(|p| args("in", &n.b, &n.key, CAP, &["--listen", &ep(p)]));
    let bout = Bridge::start(&args("out", &n.a, &n.key, CAP, &["--connect", &ep(port)]));
    let ring = ByteRing::options().capacity(CAP).open_or_create(&n.b).expect("open ring B");
    let mut c = ring.consumer().expect("consumer");
    let producer = start_producer("hundred_thousand_frames_in_order_and_intact", &n.a, 0);
    let seen = consume_until(&mut c, COUNT - 1, Duration::from_secs(30), |_| {});
    assert_eq!(producer.wait_output(WATCHDOG), vec![format!("sent {COUNT}")]);
    assert_eq!(seen.gaps(COUNT), vec![], "frames lost with both bridges alive");
    assert_eq!(seen.seqs.len() as u64, COUNT);

    let out = bout.terminate();
    let inn = bin.terminate();
    assert_eq!(out.code, Some(0), "out did not stop cleanly: {}", out.stderr);
    assert_eq!(inn.code, Some(0), "in did not stop cleanly: {}", inn.stderr);
    let (so, si) = (out.stats(), inn.stats());
    assert_eq!(so["role"], "out");
    assert_eq!(si["role"], "in");
    for s in [&so, &si] {
        assert_eq!(s["frames"], COUNT, "{s}");
        assert_eq!(s["bytes"], seen.bytes, "{s}");
        assert_eq!(s["drops"], 0, "{s}");
        assert_eq!(s["reconnects"], 0, "{s}");
    }
    assert_eq!(si["lost"], 0);
    assert_eq!(si["reordered"], 0);
    assert_eq!(si["publishers"], 1);
    assert!(inn.stderr.contains("ipc-bridge in: frames=100000"), "{}", inn.stderr);
}
