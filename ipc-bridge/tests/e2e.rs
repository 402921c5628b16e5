//! End to end across real processes: producer -> ring A -> `ipc-bridge out` -> Zenoh over
//! 127.0.0.1 -> `ipc-bridge in` -> ring B -> consumer (this test process). Every bridge
//! and the producer are separate processes with a watchdog; crashes are real SIGKILLs, at
//! random points of the stream (seed printed, `IPC_TEST_SEED` replays; `IPC_TEST_KILLS`
//! sets how many). The producer runs free (no pause). Multicast scouting and gossip are
//! off (the bridge's defaults), every endpoint is on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use ipc_collections::ByteRing;
use ipc_testutil::spawn_role;

const COUNT: u64 = 100_000;
const CAP: u64 = 1 << 16;

fn start_producer(test: &str, ring: &str) -> ipc_testutil::ChildProc {
    spawn_role(
        test,
        "producer",
        &[
            ("RING", ring),
            ("COUNT", &COUNT.to_string()),
            ("CAP", &CAP.to_string()),
            ("BURST", "0"),
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
    let producer = start_producer("hundred_thousand_frames_in_order_and_intact", &n.a);
    let seen = consume_until(&mut c, COUNT - 1, Duration::from_secs(30), |_| {});
    assert_eq!(
        producer.wait_output(WATCHDOG),
        vec![format!("sent {COUNT}")]
    );
    seen.assert_exactly_once(COUNT);
    wait_ring_a_released(&n.a);

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
        assert_eq!(s["drops"], 0, "{s}");
        assert_eq!(s["reconnects"], 0, "{s}");
    }
    assert_eq!(si["frames"], COUNT, "{si}");
    assert_eq!(si["bytes"], seen.bytes, "{si}");
    assert_eq!(so["acked"], COUNT, "{so}");
    // On a loaded machine an acknowledgement can take longer than out's timeout (1 s):
    // then out sends again what waits, and in drops it as duplicates.
    let distinct = so["frames"].as_u64().unwrap() - so["resent"].as_u64().unwrap();
    assert_eq!(distinct, COUNT, "{so}");
    for k in ["lost", "duplicates", "gaps", "corrupted"] {
        assert_eq!(si[k], 0, "{k}: {si}");
    }
    assert_eq!(si["publishers"], 1);
    assert!(
        inn.stderr.contains("ipc-bridge in: frames=100000"),
        "{}",
        inn.stderr
    );
}

/// Waits until `out` has had every frame of ring A acknowledged (ring A empty).
fn wait_ring_a_released(a: &str) {
    ipc_testutil::wait_for("ring A released by acknowledgements", WATCHDOG, || {
        ipc_collections::ring::inspect(a)
            .expect("inspect ring A")
            .1
            .len
            == Some(0)
    });
}

/// Consumes ring B (attached as `c`) to the end of the stream; each time the frames so far
/// reach one of `kill_at`, SIGKILLs the bridge in `slot` and starts it again with
/// `restart` at once. Returns what arrived.
fn consume_with_crashes(
    c: &mut ipc_collections::ring::bytes::Consumer<'_>,
    slot: &mut Option<Bridge>,
    restart: &[String],
    kill_at: &[usize],
) -> Seen {
    let mut next_kill = 0;
    consume_until(c, COUNT - 1, Duration::from_secs(60), |s| {
        if kill_at.get(next_kill) == Some(&s.seqs.len()) {
            next_kill += 1;
            let ended = slot.take().expect("bridge running").crash();
            assert_eq!(
                ended.code, None,
                "the bridge was not killed: {}",
                ended.stderr
            );
            *slot = Some(Bridge::start(restart));
        }
    })
}

/// The kill points of a crash test: `IPC_TEST_KILLS` (default 20) random frame counts,
/// at least 1,000 frames apart.
fn kill_points() -> Vec<usize> {
    let kills = ipc_testutil::kill_count(20);
    let mut rng = ipc_testutil::xorshift64(seed());
    let at = points(&mut rng, kills, 1_000, COUNT - 1_000, 1_000);
    println!("{kills} kills at frames {at:?}");
    at
}

/// `out` SIGKILLed at random points (20 times) while the producer runs free, restarted at
/// once each time: the frames it had read but not had acknowledged are still in ring A
/// (it peeks, and consumes only what `in` acknowledged), so the consumer gets every frame
/// exactly once, in order; `in` (alive throughout) pushed each once, dropped what came
/// twice as duplicates, and sees one stream.
#[test]
fn out_sigkilled_at_random_points_loses_nothing_and_duplicates_nothing() {
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
    let kills = kill_points();
    let producer = start_producer(
        "out_sigkilled_at_random_points_loses_nothing_and_duplicates_nothing",
        &n.a,
    );
    let seen = consume_with_crashes(&mut c, &mut bout, &out_args, &kills);
    assert_eq!(
        producer.wait_output(WATCHDOG),
        vec![format!("sent {COUNT}")]
    );
    seen.assert_exactly_once(COUNT);
    wait_ring_a_released(&n.a);

    let out = bout.take().expect("restarted out").terminate();
    let inn = bin.terminate();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(inn.code, Some(0), "{}", inn.stderr);
    let (so, si) = (out.stats(), inn.stats());
    println!("after {} kills of out: in {si}\nlast out {so}", kills.len());
    // `in` pushed every frame once: the producer's count.
    assert_eq!(si["frames"], COUNT, "{si}");
    assert_eq!(si["bytes"], seen.bytes, "{si}");
    // Every `out` of ring A sends the same stream.
    assert_eq!(si["publishers"], 1, "{si}");
    for k in ["drops", "lost", "corrupted"] {
        assert_eq!(si[k], 0, "{k}: {si}");
    }
    assert_eq!(so["refused"], 0, "{so}");
    assert_eq!(so["reconnects"], 0, "{so}");
    // The last `out` had frames acknowledged and released, each published by it or by
    // one of the killed ones.
    assert!(so["acked"].as_u64().unwrap() > 0, "{so}");
}

/// `in` SIGKILLed at random points (20 times) while the producer runs free, restarted at
/// once each time: its progress segment says which frames are in ring B (its last push
/// included, whether or not it happened), `out` sends again what was not acknowledged,
/// and the consumer gets every frame exactly once, in order. `out` (alive throughout)
/// released exactly the producer's count from ring A.
#[test]
fn in_sigkilled_at_random_points_loses_nothing_and_duplicates_nothing() {
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
    let kills = kill_points();
    let producer = start_producer(
        "in_sigkilled_at_random_points_loses_nothing_and_duplicates_nothing",
        &n.a,
    );
    let seen = consume_with_crashes(&mut c, &mut bin, &in_args, &kills);
    assert_eq!(
        producer.wait_output(WATCHDOG),
        vec![format!("sent {COUNT}")]
    );
    seen.assert_exactly_once(COUNT);
    wait_ring_a_released(&n.a);

    let inn = bin.take().expect("restarted in").terminate();
    let out = bout.terminate();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(inn.code, Some(0), "{}", inn.stderr);
    let (so, si) = (out.stats(), inn.stats());
    println!("after {} kills of in: out {so}\nlast in {si}", kills.len());
    // Every frame acknowledged and released once, each position published at least once.
    assert_eq!(so["acked"], COUNT, "{so}");
    let distinct = so["frames"].as_u64().unwrap() - so["resent"].as_u64().unwrap();
    assert_eq!(distinct, COUNT, "{so}");
    assert_eq!(so["refused"], 0, "{so}");
    assert!(so["rewinds"].as_u64().unwrap() >= 1, "{so}");
    assert!(si["frames"].as_u64().unwrap() <= COUNT, "{si}");
    for k in ["drops", "lost", "corrupted"] {
        assert_eq!(si[k], 0, "{k}: {si}");
    }
}
