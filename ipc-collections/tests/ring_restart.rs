//! Rings whose users choose what a peer's departure means (issue 22): with
//! `on_peer_exit(PeerExit::Wait)` a consumer outlives producer restarts and a producer
//! outlives consumer restarts (peers SIGKILLed at random points; the seed is printed and
//! `IPC_TEST_SEED` replays it); by default a drained ring whose peer left is `Disconnected`.
//!
//! What "pushed" means: `push` returned `Ok`. Each producer stores, after every `Ok`, how
//! many it pushed; a producer killed between publishing a message and that store pushed one
//! more than it recorded, so the consumer must have received exactly the recorded count or
//! one more, in order, with nothing missing before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_collections::ipc_core::ErrorKind;
use ipc_collections::{PeerExit, Shared, SpscRing};
use ipc_testutil::{
    env, report, role, spawn_role, test_seed, unique_name, wait_for, xorshift64, Cleanup,
};

/// Long enough for a loaded 2-core machine; a hang fails here instead of stalling.
const PATIENCE: Duration = Duration::from_secs(30);

/// The survivor's wait per call: each one that times out counts as an idle round. Before
/// a killed peer is replaced, the survivor must have finished two idle rounds after the
/// kill (so one whole round lay after it): long enough for the default mode to have
/// reported `Disconnected` (a dead peer is seen within about `PEER_POLL`, 10 ms).
const IDLE: Duration = Duration::from_millis(50);

/// Waits until the survivor has finished two more idle rounds than `before`.
fn survivor_waited(idle: &AtomicU64, before: u64) {
    wait_for("the survivor to wait with its peer dead", PATIENCE, || {
        idle.load(Ordering::SeqCst) >= before + 2
    });
}

/// Progress counters shared with the children: per generation, messages pushed (producer
/// test) or the last value received plus one (consumer test).
type Progress = Shared<[AtomicU64; 4]>;

fn open_wait(name: &str) -> SpscRing<[u64; 2]> {
    SpscRing::<[u64; 2]>::options()
        .on_peer_exit(PeerExit::Wait)
        .open(name)
        .unwrap()
}

#[test]
fn a_waiting_consumer_outlives_three_producer_restarts() {
    const LAST: u64 = 3; // generations 0..3 are killed, generation 3 finishes
    const N_LAST: u64 = 2_000;
    if role().as_deref() == Some("producer") {
        let gen: u64 = env("GEN").parse().unwrap();
        let count: u64 = env("COUNT").parse().unwrap();
        let ring = open_wait(&env("NAME"));
        let acks = Progress::open(&env("ACKS")).unwrap();
        let mut tx = ring.producer().unwrap();
        for i in 0..count {
            tx.push([gen, i], Some(PATIENCE)).unwrap();
            acks[gen as usize].store(i + 1, Ordering::SeqCst);
        }
        report("done");
        return;
    }
    let mut rng = xorshift64(test_seed());
    let (name, acks_name) = (unique_name("restart-p"), unique_name("restart-pa"));
    let (_c1, _c2) = (Cleanup::shm(&name), Cleanup::shm(&acks_name));
    let ring = SpscRing::<[u64; 2]>::options()
        .capacity(16)
        .on_peer_exit(PeerExit::Wait)
        .create(&name)
        .unwrap();
    let acks = Progress::create(&acks_name, |_| {}).unwrap();
    let mut rx = ring.consumer().unwrap();
    let kill_at: Vec<u64> = (0..LAST).map(|_| 1 + rng() % 5_000).collect();
    println!("producers killed after {kill_at:?} acknowledged pushes");
    let idle = AtomicU64::new(0);
    let deadline = Instant::now() + 4 * PATIENCE;
    let received = std::thread::scope(|s| {
        s.spawn(|| {
            for gen in 0..=LAST {
                let count = if gen == LAST { N_LAST } else { u64::MAX };
                let envs = [
                    ("NAME", name.as_str()),
                    ("ACKS", acks_name.as_str()),
                    ("GEN", &gen.to_string()),
                    ("COUNT", &count.to_string()),
                ];
                let mut p = spawn_role(
                    "a_waiting_consumer_outlives_three_producer_restarts",
                    "producer",
                    &envs,
                );
                if gen == LAST {
                    assert_eq!(p.wait_ok(), ["done"]);
                } else {
                    let at = kill_at[gen as usize];
                    wait_for("the producer's pushes", PATIENCE, || {
                        acks[gen as usize].load(Ordering::SeqCst) >= at
                    });
                    p.kill(); // SIGKILL, then reaped
                    survivor_waited(&idle, idle.load(Ordering::SeqCst));
                }
            }
        });
        // The consumer: blocking pops; a producer's death is not an error in this mode,
        // only a wait (counted in `idle`) for the next one.
        let mut next = [0u64; 4];
        let mut gen_seen = 0;
        loop {
            let [g, i] = match rx.pop(Some(IDLE)) {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::Timeout && Instant::now() < deadline => {
                    idle.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                Err(e) => panic!("pop: {e}"),
            };
            assert!(
                g >= gen_seen && g <= LAST,
                "generation {g} after {gen_seen}"
            );
            gen_seen = g;
            assert_eq!(
                i, next[g as usize],
                "generation {g}: in order, none missing"
            );
            next[g as usize] += 1;
            if g == LAST && i == N_LAST - 1 {
                break next;
            }
        }
    });
    for gen in 0..LAST as usize {
        let acked = acks[gen].load(Ordering::SeqCst);
        assert!(
            received[gen] == acked || received[gen] == acked + 1,
            "generation {gen}: received {} of {acked} pushed (+1 if killed before recording)",
            received[gen]
        );
        println!(
            "generation {gen}: {acked} pushed, {} received",
            received[gen]
        );
    }
    assert_eq!(received[LAST as usize], N_LAST);
    // The last producer left and the ring is drained: this mode keeps waiting (Timeout).
    let e = rx.pop(Some(Duration::from_millis(100))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[test]
fn a_waiting_producer_outlives_three_consumer_restarts() {
    const LAST: u64 = 3;
    const N: u64 = 20_000;
    if role().as_deref() == Some("consumer") {
        let gen: usize = env("GEN").parse().unwrap();
        let ring = open_wait(&env("NAME"));
        let seen = Progress::open(&env("SEEN")).unwrap();
        let mut rx = ring.consumer().unwrap();
        let mut last = None;
        loop {
            let [_, v] = rx.pop(Some(PATIENCE)).unwrap();
            // In order: a restarted consumer may get again the one message its killed
            // predecessor took but had not freed, never an older one.
            assert!(last.is_none_or(|l| v > l), "{v} after {last:?}");
            last = Some(v);
            seen[gen].store(v + 1, Ordering::SeqCst);
            if v == N - 1 {
                report("done");
                return;
            }
        }
    }
    let mut rng = xorshift64(test_seed());
    let (name, seen_name) = (unique_name("restart-c"), unique_name("restart-cs"));
    let (_c1, _c2) = (Cleanup::shm(&name), Cleanup::shm(&seen_name));
    // A small ring: the producer is often blocked on a full ring when a consumer dies.
    let ring = SpscRing::<[u64; 2]>::options()
        .capacity(8)
        .on_peer_exit(PeerExit::Wait)
        .create(&name)
        .unwrap();
    let seen = Progress::create(&seen_name, |_| {}).unwrap();
    let mut tx = ring.producer().unwrap();
    let kill_at: Vec<u64> = (0..LAST).map(|g| 1 + g * 5_000 + rng() % 5_000).collect();
    println!("consumers killed after receiving {kill_at:?}");
    let idle = AtomicU64::new(0);
    let deadline = Instant::now() + 4 * PATIENCE;
    std::thread::scope(|s| {
        s.spawn(|| {
            for gen in 0..=LAST {
                let envs = [
                    ("NAME", name.as_str()),
                    ("SEEN", seen_name.as_str()),
                    ("GEN", &gen.to_string()),
                ];
                let mut c = spawn_role(
                    "a_waiting_producer_outlives_three_consumer_restarts",
                    "consumer",
                    &envs,
                );
                if gen == LAST {
                    assert_eq!(c.wait_ok(), ["done"]);
                } else {
                    let at = kill_at[gen as usize];
                    wait_for("the consumer's pops", PATIENCE, || {
                        seen[gen as usize].load(Ordering::SeqCst) >= at
                    });
                    c.kill();
                    survivor_waited(&idle, idle.load(Ordering::SeqCst));
                }
            }
        });
        // The producer: every push succeeds although consumers die, some of them while it
        // waits on a full ring.
        for i in 0..N {
            loop {
                match tx.push([0, i], Some(IDLE)) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::Timeout && Instant::now() < deadline => {
                        idle.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("push {i}: {e}"),
                }
            }
        }
    });
    for gen in 1..=LAST as usize {
        let (before, now) = (
            seen[gen - 1].load(Ordering::SeqCst),
            seen[gen].load(Ordering::SeqCst),
        );
        assert!(
            now > before,
            "consumer {gen} went on from its predecessor's {before}"
        );
    }
    assert_eq!(seen[LAST as usize].load(Ordering::SeqCst), N);
}

#[test]
fn by_default_a_drained_ring_whose_peer_left_is_disconnected() {
    if role().as_deref() == Some("producer") {
        let ring = SpscRing::<[u64; 2]>::open(&env("NAME")).unwrap();
        let mut tx = ring.producer().unwrap();
        for i in 0..5 {
            tx.push([0, i], None).unwrap();
        }
        report("done");
        return;
    }
    let name = unique_name("restart-d");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<[u64; 2]>::create(&name, 8).unwrap();
    let mut rx = ring.consumer().unwrap();
    let envs = [("NAME", name.as_str())];
    let p = spawn_role(
        "by_default_a_drained_ring_whose_peer_left_is_disconnected",
        "producer",
        &envs,
    );
    assert_eq!(p.wait_ok(), ["done"]);
    for i in 0..5 {
        assert_eq!(rx.pop(Some(PATIENCE)).unwrap(), [0, i], "drained first");
    }
    let e = rx.pop(Some(PATIENCE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e}");
    // A producer: a full ring whose consumer left is Disconnected at once.
    let mut tx = ring.producer().unwrap();
    drop(rx);
    for i in 0..8 {
        tx.push([1, i], None).unwrap();
    }
    let e = tx.push([1, 8], Some(PATIENCE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e}");
}
