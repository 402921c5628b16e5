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
    let (bin, port) =
        Bridge::start_listening(|p| args("in", &n.b, &n.key, CAP, &["--listen", &ep(p)]));
    let bout = Bridge::start(&args("out", &n.a, &n.key, CAP, &["--connect", &ep(port)]));
    let ring = ByteRing::options()
        .capacity(CAP)
        .open_or_create(&n.b)
        .expect("open ring B");
    let mut c = ring.consumer().expect("consumer");
    let producer = start_producer("hundred_thousand_frames_in_order_and_intact", &n.a, 0);
    let seen = consume_until(&mut c, COUNT - 1, Duration::from_secs(30), |_| {});
    assert_eq!(
        producer.wait_output(WATCHDOG),
        vec![format!("sent {COUNT}")]
    );
    assert_eq!(
        seen.gaps(COUNT),
        vec![],
        "frames lost with both bridges alive"
    );
    assert_eq!(seen.seqs.len() as u64, COUNT);

    let out = bout.terminate();
    let inn = bin.terminate();
    assert_eq!(
        out.code,
        Some(0),
        "out did not stop cleanly: {}",
        out.stderr
    );
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
    assert!(
        inn.stderr.contains("ipc-bridge in: frames=100000"),
        "{}",
        inn.stderr
    );
}

/// Checks the delivery guarantee after one crash: every frame arrived at most once, in
/// order, intact; what is missing is one run of at most [`transit_bound`] frames; every
/// frame after it arrived. Returns the number lost.
fn check_one_crash(seen: &Seen, what: &str) -> u64 {
    let gaps = seen.gaps(COUNT);
    assert!(gaps.len() <= 1, "{what}: more than one run lost: {gaps:?}");
    let lost = gaps.first().map_or(0, |g| g.1);
    assert!(
        lost <= transit_bound(),
        "{what}: lost {lost} frames, more than could be in transit ({})",
        transit_bound()
    );
    assert_eq!(seen.seqs.len() as u64 + lost, COUNT);
    eprintln!(
        "{what}: lost {lost} of {COUNT} frames (bound {}), gaps {gaps:?}",
        transit_bound()
    );
    lost
}

/// The kill point of a crash test: a random frame count in 5,000..60,000 (the seed is
/// printed, and `IPC_TEST_SEED` replays it), so the bridge dies at a different point of the
/// stream on every run, not only at one chosen frame.
fn kill_point() -> usize {
    let seed = std::env::var("IPC_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    let at = 5_000 + (ipc_testutil::xorshift64(seed)() % 55_000) as usize;
    println!("kill point {at} (IPC_TEST_SEED={seed})");
    at
}

/// Consumes ring B (attached as `c`) to the end of the stream; when `kill_at` frames have
/// arrived, SIGKILLs the bridge in `slot`, records how much waits in ring A 300 ms later,
/// and starts it again with `restart`. Returns what arrived and what waited in ring A.
fn consume_with_a_crash(
    c: &mut ipc_collections::ring::bytes::Consumer<'_>,
    ring_a: &str,
    slot: &mut Option<Bridge>,
    restart: &[String],
    kill_at: usize,
) -> (Seen, Option<u64>) {
    let mut waiting_in_a = None;
    let seen = consume_until(c, COUNT - 1, Duration::from_secs(30), |s| {
        if s.seqs.len() == kill_at {
            let ended = slot.take().expect("bridge running").crash();
            assert_eq!(
                ended.code, None,
                "the bridge was not killed: {}",
                ended.stderr
            );
            std::thread::sleep(Duration::from_millis(300));
            // The producer went on: its frames wait in ring A for the bridge to come back.
            let (_, st) = ipc_collections::ring::inspect(ring_a).expect("inspect ring A");
            waiting_in_a = st.len;
            *slot = Some(Bridge::start(restart));
        }
    });
    (seen, waiting_in_a)
}

/// `out` SIGKILLed mid-stream and restarted: frames still in ring A wait there and arrive
/// after the restart; only frames `out` had already popped and handed on can be lost, as
/// one run; `in` keeps running and counts the new publisher and the reconnect.
#[test]
fn out_killed_mid_stream_and_restarted_loses_only_frames_in_transit() {
    if is_producer() {
        return;
    }
    let n = names("kout");
    let (bin, port) =
        Bridge::start_listening(|p| args("in", &n.b, &n.key, CAP, &["--listen", &ep_pinned(p)]));
    let out_args = args("out", &n.a, &n.key, CAP, &["--connect", &ep_pinned(port)]);
    let mut bout = Some(Bridge::start(&out_args));
    let ring = ByteRing::options()
        .capacity(CAP)
        .open_or_create(&n.b)
        .expect("open ring B");
    let mut c = ring.consumer().expect("consumer");
    let producer = start_producer(
        "out_killed_mid_stream_and_restarted_loses_only_frames_in_transit",
        &n.a,
        50,
    );
    let (seen, waiting_in_a) =
        consume_with_a_crash(&mut c, &n.a, &mut bout, &out_args, kill_point());
    assert_eq!(
        producer.wait_output(WATCHDOG),
        vec![format!("sent {COUNT}")]
    );
    assert!(
        waiting_in_a.is_some_and(|l| l > 0),
        "ring A held nothing while out was down: {waiting_in_a:?}"
    );
    check_one_crash(&seen, "out killed");

    let out = bout.take().expect("restarted out").terminate();
    let inn = bin.terminate();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(inn.code, Some(0), "{}", inn.stderr);
    let (so, si) = (out.stats(), inn.stats());
    assert_eq!(si["frames"], seen.seqs.len() as u64, "{si}");
    assert_eq!(si["bytes"], seen.bytes, "{si}");
    assert_eq!(si["publishers"], 2, "{si}");
    assert_eq!(si["reordered"], 0, "{si}");
    assert_eq!(si["drops"], 0, "{si}");
    assert_eq!(si["reconnects"], 1, "{si}");
    assert_eq!(so["drops"], 0, "{so}");
    assert_eq!(so["reconnects"], 0, "{so}");
}

/// `in` SIGKILLed mid-stream and restarted: `out` stops popping while no subscriber
/// matches, so ring A holds the stream; the loss is one run of frames in transit; `out`
/// counts the reconnect.
#[test]
fn in_killed_mid_stream_and_restarted_loses_only_frames_in_transit() {
    if is_producer() {
        return;
    }
    let n = names("kin");
    // Here `out` listens and `in` connects, so the restarted `in` dials the same port.
    let (bout, port) =
        Bridge::start_listening(|p| args("out", &n.a, &n.key, CAP, &["--listen", &ep_pinned(p)]));
    let in_args = args("in", &n.b, &n.key, CAP, &["--connect", &ep_pinned(port)]);
    let mut bin = Some(Bridge::start(&in_args));
    let ring = ByteRing::options()
        .capacity(CAP)
        .open_or_create(&n.b)
        .expect("open ring B");
    let mut c = ring.consumer().expect("consumer");
    let producer = start_producer(
        "in_killed_mid_stream_and_restarted_loses_only_frames_in_transit",
        &n.a,
        50,
    );
    let (seen, waiting_in_a) = consume_with_a_crash(&mut c, &n.a, &mut bin, &in_args, kill_point());
    assert_eq!(
        producer.wait_output(WATCHDOG),
        vec![format!("sent {COUNT}")]
    );
    assert!(
        waiting_in_a.is_some_and(|l| l > 0),
        "ring A held nothing while in was down: {waiting_in_a:?}"
    );
    let lost = check_one_crash(&seen, "in killed");

    let inn = bin.take().expect("restarted in").terminate();
    let out = bout.terminate();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(inn.code, Some(0), "{}", inn.stderr);
    let (so, si) = (out.stats(), inn.stats());
    // `out` handed every frame to Zenoh: the lost ones died in transit, as stated.
    assert_eq!(so["frames"], COUNT, "{so}");
    assert!(lost <= COUNT);
    assert_eq!(so["reconnects"], 1, "{so}");
    assert_eq!(si["publishers"], 1, "{si}");
    assert_eq!(si["drops"], 0, "{si}");
    assert_eq!(si["reordered"], 0, "{si}");
}
