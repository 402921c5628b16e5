//! What `in` does when its local ring is full, across real processes: `--full block`
//! waits (backpressure through Zenoh and TCP back to `out` and ring A), `--full drop`
//! drops the newest frames and counts them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ipc_collections::ByteRing;
use ipc_testutil::{spawn_role, unique_name, Cleanup};

fn producer(test: &str, ring: &str, count: u64, cap: u64) -> ipc_testutil::ChildProc {
    spawn_role(
        test,
        "producer",
        &[
            ("RING", ring),
            ("COUNT", &count.to_string()),
            ("CAP", &cap.to_string()),
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

/// A consumer that stops reading for 6 s, longer than Zenoh's default 5 s before it
/// closes a link whose blocked send does not progress: with `--full block` (and the
/// bridge's `bridge.json5`), nothing is lost, the stall only propagates back.
#[test]
fn full_block_outlasts_a_consumer_stall_without_loss() {
    if is_producer() {
        return;
    }
    const COUNT: u64 = 20_000;
    const CAP: u64 = 4096;
    let (a, b) = (unique_name("bpA"), unique_name("bpB"));
    let _clean = [Cleanup::shm(&a), Cleanup::shm(&b)];
    let key = format!("ipct/bridge{}", b.replace('/', "-"));
    let (bin, port) = Bridge::start_listening(|p| {
        args(
            "in",
            &b,
            &key,
            CAP,
            &[
                "--listen",
                &ep_pinned(p),
                "--full",
                "block",
                "--queue",
                "16",
            ],
        )
    });
    let bout = Bridge::start(&args(
        "out",
        &a,
        &key,
        CAP,
        &["--connect", &ep_pinned(port)],
    ));
    let ring = ByteRing::options()
        .capacity(CAP)
        .open_or_create(&b)
        .expect("ring B");
    let mut c = ring.consumer().expect("consumer");
    let prod = producer(
        "full_block_outlasts_a_consumer_stall_without_loss",
        &a,
        COUNT,
        CAP,
    );
    let mut stalled = false;
    let seen = consume_until(&mut c, COUNT - 1, Duration::from_secs(30), |_| {
        if !stalled {
            stalled = true;
            let until = Instant::now() + Duration::from_secs(6);
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    assert_eq!(prod.wait_output(WATCHDOG), vec![format!("sent {COUNT}")]);
    assert_eq!(seen.gaps(COUNT), vec![], "frames lost to a consumer stall");
    let (so, si) = (bout.terminate().stats(), bin.terminate().stats());
    assert_eq!(so["frames"], COUNT, "{so}");
    assert_eq!(si["frames"], COUNT, "{si}");
    assert_eq!(si["drops"], 0, "{si}");
    assert_eq!(si["corrupted"], 0, "{si}");
    assert_eq!(
        si["reconnects"], 0,
        "the link was closed and reopened: {si}"
    );
}

/// `--full drop`: a consumer that does not read; ring B keeps what fits, in order, `in`
/// drops each frame that does not fit when it arrives and counts it; frames + drops =
/// frames sent.
#[test]
fn full_drop_drops_what_does_not_fit_and_counts_it() {
    if is_producer() {
        return;
    }
    const COUNT: u64 = 5_000;
    const CAP_A: u64 = 1 << 16;
    const CAP_B: u64 = 4096;
    let (a, b) = (unique_name("dpA"), unique_name("dpB"));
    let _clean = [Cleanup::shm(&a), Cleanup::shm(&b)];
    let key = format!("ipct/bridge{}", b.replace('/', "-"));
    let (bin, port) = Bridge::start_listening(|p| {
        args(
            "in",
            &b,
            &key,
            CAP_B,
            &["--listen", &ep(p), "--full", "drop"],
        )
    });
    let bout = Bridge::start(&args("out", &a, &key, CAP_A, &["--connect", &ep(port)]));
    let ring = ByteRing::options()
        .capacity(CAP_B)
        .open_or_create(&b)
        .expect("ring B");
    let mut c = ring.consumer().expect("consumer");
    let prod = producer(
        "full_drop_drops_what_does_not_fit_and_counts_it",
        &a,
        COUNT,
        CAP_A,
    );
    assert_eq!(prod.wait_output(WATCHDOG), vec![format!("sent {COUNT}")]);
    // `out` has popped everything once ring A is empty; give `in` time to handle it.
    ipc_testutil::wait_for("ring A drained", WATCHDOG, || {
        ipc_collections::ring::inspect(&a).expect("inspect A").1.len == Some(0)
    });
    std::thread::sleep(Duration::from_millis(500));
    let si = bin.terminate().stats();
    let so = bout.terminate().stats();
    assert_eq!(so["frames"], COUNT, "{so}");
    let kept = si["frames"].as_u64().expect("frames");
    assert!(kept > 0 && kept < COUNT, "{si}");
    assert_eq!(kept + si["drops"].as_u64().expect("drops"), COUNT, "{si}");
    assert_eq!(
        si["lost"], 0,
        "drops on this side are not upstream loss: {si}"
    );
    // Ring B holds exactly the kept frames, in order: the first ones, then (as the frames'
    // lengths vary) later ones that fitted into what space was left.
    let mut kept_seqs = Vec::new();
    loop {
        match c.try_recv() {
            Ok(Some(f)) => kept_seqs.push(check_frame(&f).unwrap_or_else(|e| panic!("{e}"))),
            Ok(None) => panic!("draining ring B: empty while its producer is attached"),
            Err(e) if e.kind() == ipc_collections::ErrorKind::Disconnected => break,
            Err(e) => panic!("draining ring B: {e}"),
        }
    }
    assert_eq!(kept_seqs.len() as u64, kept);
    assert_eq!(kept_seqs[0], 0);
    assert!(kept_seqs.windows(2).all(|w| w[0] < w[1]), "{kept_seqs:?}");
}

/// A frame larger than ring B's largest frame cannot be pushed: `in` drops it, counts it
/// in `drops`, and goes on with the next (its sequence is still seen, so it is no `lost`).
#[test]
fn frame_larger_than_the_local_ring_takes_is_dropped_and_counted() {
    if is_producer() {
        return;
    }
    const COUNT: u64 = 2_000;
    const CAP_A: u64 = 1 << 16;
    const CAP_B: u64 = 256; // largest frame 120 bytes; the test frames are 24 to 256
    let (a, b) = (unique_name("tlA"), unique_name("tlB"));
    let _clean = [Cleanup::shm(&a), Cleanup::shm(&b)];
    let key = format!("ipct/bridge{}", b.replace('/', "-"));
    let (bin, port) =
        Bridge::start_listening(|p| args("in", &b, &key, CAP_B, &["--listen", &ep(p)]));
    let bout = Bridge::start(&args("out", &a, &key, CAP_A, &["--connect", &ep(port)]));
    let ring = ByteRing::options()
        .capacity(CAP_B)
        .open_or_create(&b)
        .expect("ring B");
    assert_eq!(ring.max_frame(), 120);
    let mut c = ring.consumer().expect("consumer");
    let fits: Vec<u64> = (0..COUNT)
        .filter(|&s| {
            let mut f = Vec::new();
            make_frame(s, &mut f);
            f.len() <= 120
        })
        .collect();
    let prod = producer(
        "frame_larger_than_the_local_ring_takes_is_dropped_and_counted",
        &a,
        COUNT,
        CAP_A,
    );
    let last = *fits.last().expect("some frames fit");
    let seen = consume_until(&mut c, last, Duration::from_secs(30), |_| {});
    assert_eq!(prod.wait_output(WATCHDOG), vec![format!("sent {COUNT}")]);
    assert_eq!(seen.seqs, fits);
    ipc_testutil::wait_for("ring A drained", WATCHDOG, || {
        ipc_collections::ring::inspect(&a).expect("inspect A").1.len == Some(0)
    });
    std::thread::sleep(Duration::from_millis(300));
    let ei = bin.terminate();
    let si = ei.stats();
    bout.terminate();
    assert_eq!(si["frames"], fits.len() as u64, "{si}");
    assert_eq!(si["drops"], COUNT - fits.len() as u64, "{si}");
    assert_eq!(si["lost"], 0, "{si}");
    assert!(
        ei.stderr.contains("exceeds the ring's largest frame (120)"),
        "{}",
        ei.stderr
    );
}
