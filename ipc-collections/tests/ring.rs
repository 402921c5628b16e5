//! The ring algorithms across real processes, over anonymous shared memory inherited by
//! forked children (each reaped with a watchdog): stress with sequence-numbered,
//! checksummed messages (10^6 by default, `IPC_TEST_RING_MESSAGES` for more, e.g. 10^8 in
//! release mode; the children's watchdog grows with it), SIGKILLed producers and consumers
//! of every flavour, an MPMC producer killed between claiming and publishing and an MPMC
//! consumer killed between taking and freeing (each at a chosen point and at random points),
//! and a chaos process that writes random bytes into the control block while a watched
//! child keeps using the ring.
//!
//! Anonymous mappings have no name, so these tests leave nothing behind in /dev/shm.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_collections::ipc_core::shm::AnonShm;
use ipc_collections::ring::control::{Control, CONTROL_LEN};
use ipc_collections::ring::{bytes, mpmc, spsc, RingLayout};
use ipc_collections::ErrorKind;
use ipc_collections::SharedLayout;
use ipc_testutil::{fork_child, kill_count, random_kills, sigkill, wait_pid, xorshift64, WATCHDOG};

/// One message: who sent it, its number in that sender's stream, and a checksum of both.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Msg {
    producer: u64,
    seq: u64,
    check: u64,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Msg {
    fn new(producer: u64, seq: u64) -> Msg {
        Msg {
            producer,
            seq,
            check: mix(producer ^ mix(seq)),
        }
    }
    fn valid(&self) -> bool {
        self.check == mix(self.producer ^ mix(self.seq))
    }
}

/// Messages per stress test: 10^6, or `IPC_TEST_RING_MESSAGES`.
fn messages() -> u64 {
    std::env::var("IPC_TEST_RING_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// The watchdog of a stress test's children: the default plus 5 µs a message (10^8
/// messages take minutes; each push and pop still has its own 30 s timeout, so a stuck ring
/// fails sooner).
fn stress_watchdog() -> Duration {
    WATCHDOG + Duration::from_micros(5).saturating_mul(messages().try_into().unwrap_or(u32::MAX))
}

const T: Option<Duration> = Some(Duration::from_secs(30));

fn mem_for(layout: RingLayout, data_len: usize) -> AnonShm {
    AnonShm::new(layout.data_offset + data_len).unwrap()
}

fn spsc_ring(cap: u64) -> (AnonShm, RingLayout) {
    let l = RingLayout::packed(cap);
    let m = mem_for(l, spsc::data_len::<Msg>(cap).unwrap());
    // SAFETY: fresh memory, nobody attached.
    unsafe { spsc::init::<Msg, _>(&m, l) }.unwrap();
    (m, l)
}

fn mpmc_ring(cap: u64) -> (AnonShm, RingLayout) {
    let l = RingLayout::packed(cap);
    let m = mem_for(l, mpmc::data_len::<Msg>(cap).unwrap());
    // SAFETY: fresh memory, nobody attached.
    unsafe { mpmc::init::<Msg, _>(&m, l) }.unwrap();
    (m, l)
}

fn byte_ring(cap: u64) -> (AnonShm, RingLayout) {
    let l = RingLayout::packed(cap);
    let m = mem_for(l, bytes::data_len(cap).unwrap());
    // SAFETY: fresh memory, nobody attached.
    unsafe { bytes::init(&m, l) }.unwrap();
    (m, l)
}

/// A shared array of counters for children to report into.
fn counters(n: usize) -> AnonShm {
    AnonShm::new(n * 8).unwrap()
}

fn counter(m: &AnonShm, i: usize) -> &AtomicU64 {
    assert!((i + 1) * 8 <= m.len());
    // SAFETY: in bounds (checked), 8-aligned (page-aligned base), zero-initialised memory
    // that lives as long as `m`, accessed only atomically.
    unsafe { &*m.as_ptr().add(i * 8).cast::<AtomicU64>() }
}

/// The kind of `r`'s error (`None` if it succeeded): ring calls return the one error.
fn kind<T>(r: ipc_collections::Result<T>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

// ---- in-process behaviour -------------------------------------------------------------

#[test]
fn spsc_full_empty_batches_and_disconnect() {
    let (m, l) = spsc_ring(8);
    let mut c = spsc::Consumer::<Msg>::attach(&m, l).unwrap();
    assert_eq!(c.try_pop(), Ok(None));
    let mut p = spsc::Producer::<Msg>::attach(&m, l).unwrap();
    assert_eq!(
        kind(spsc::Producer::<Msg>::attach(&m, l)),
        Some(ErrorKind::LimitReached)
    );
    let items: Vec<Msg> = (0..5).map(|i| Msg::new(1, i)).collect();
    assert_eq!(p.push_batch(&items), Ok(5));
    let mut r = p.reserve(10).unwrap().expect("room");
    assert_eq!(r.remaining(), 3);
    for i in 5..8 {
        r.push(Msg::new(1, i)).unwrap();
    }
    assert!(r.push(Msg::new(1, 99)).is_err());
    assert_eq!(r.commit(), 3);
    assert_eq!(p.try_push(Msg::new(1, 8)), Ok(false));
    assert!(p.reserve(1).unwrap().is_none());
    assert_eq!(p.push_batch(&items), Ok(0));
    assert_eq!(
        kind(p.push(Msg::new(1, 8), Some(Duration::from_millis(20)))),
        Some(ErrorKind::Timeout)
    );
    let mut out = [Msg::new(0, 0); 3];
    assert_eq!(c.pop_batch(&mut out), Ok(3));
    assert_eq!(out.map(|m| m.seq), [0, 1, 2]);
    drop(p);
    for i in 3..8 {
        assert_eq!(c.pop(T).unwrap().seq, i);
    }
    assert_eq!(kind(c.try_pop()), Some(ErrorKind::Disconnected));
    assert_eq!(kind(c.pop(T)), Some(ErrorKind::Disconnected));
    assert_eq!(kind(c.pop_batch(&mut out)), Some(ErrorKind::Disconnected));
    // A new producer may attach and continue.
    let mut p = spsc::Producer::<Msg>::attach(&m, l).unwrap();
    assert_eq!(c.pop_batch(&mut out), Ok(0));
    assert_eq!(p.try_push(Msg::new(2, 0)), Ok(true));
    assert_eq!(c.try_pop(), Ok(Some(Msg::new(2, 0))));
    drop(c);
    for i in 0..8 {
        assert_eq!(p.try_push(Msg::new(2, i)), Ok(true));
    }
    assert_eq!(
        kind(p.try_push(Msg::new(2, 9))),
        Some(ErrorKind::Disconnected)
    );
}

#[test]
fn layouts_that_do_not_fit_are_invalid() {
    let l = RingLayout::packed(8);
    let m = mem_for(l, spsc::data_len::<Msg>(8).unwrap());
    for (bad, what) in [
        (RingLayout { capacity: 6, ..l }, "capacity"),
        (
            RingLayout {
                capacity: 1 << 40,
                ..l
            },
            "past the end",
        ),
        (
            RingLayout {
                control_offset: 8,
                ..l
            },
            "aligned",
        ),
        (
            RingLayout {
                data_offset: 64,
                ..l
            },
            "overlap",
        ),
    ] {
        // SAFETY: nobody uses the memory.
        match unsafe { spsc::init::<Msg, _>(&m, bad) } {
            Err(e) if e.kind() == ErrorKind::InvalidInput => {
                assert!(e.detail().is_some_and(|d| d.contains(what)), "{e}")
            }
            r => panic!("{bad:?}: {r:?}"),
        }
    }
    // Attaching with another kind or capacity than init recorded.
    let (m, l) = spsc_ring(8);
    assert!(matches!(
        kind(mpmc::Consumer::<Msg>::attach(&m, l)),
        Some(ErrorKind::Corrupted | ErrorKind::InvalidInput)
    ));
    assert_eq!(
        kind(spsc::Consumer::<u64>::attach(&m, l)),
        Some(ErrorKind::Corrupted)
    );
}

#[test]
fn corrupted_counters_stamps_and_frames_are_errors() {
    fn ctrl_word(m: &AnonShm, off: usize) -> &AtomicU64 {
        // SAFETY: inside the control block, aligned, accessed atomically.
        unsafe { &*m.as_ptr().add(off).cast::<AtomicU64>() }
    }
    // SPSC: tail more than the capacity ahead of head.
    let (m, l) = spsc_ring(8);
    let mut c = spsc::Consumer::<Msg>::attach(&m, l).unwrap();
    ctrl_word(&m, 0).store(9, Ordering::Relaxed);
    assert_eq!(kind(c.try_pop()), Some(ErrorKind::Corrupted));
    ctrl_word(&m, 0).store(u64::MAX, Ordering::Relaxed);
    assert_eq!(kind(c.pop(T)), Some(ErrorKind::Corrupted));
    assert_eq!(
        kind(spsc::Producer::<Msg>::attach(&m, l)),
        Some(ErrorKind::Corrupted)
    );

    // MPMC: a stamp no protocol state allows, at the head and at the tail.
    let (m, l) = mpmc_ring(8);
    let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
    let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
    assert_eq!(p.try_push(Msg::new(1, 0)), Ok(true));
    let stamps = l.data_offset;
    ctrl_word(&m, stamps).store(77, Ordering::Relaxed);
    assert_eq!(kind(c.try_pop()), Some(ErrorKind::Corrupted));
    ctrl_word(&m, stamps + 8).store(12345, Ordering::Relaxed);
    assert_eq!(kind(p.try_push(Msg::new(1, 1))), Some(ErrorKind::Corrupted));

    // Byte ring: a frame longer than the largest, a bad kind, padding that does not reach
    // the end, a frame past the published bytes.
    for (len, kind, what) in [
        (1000u32, bytes::KIND_FRAME, "longer"),
        (8, 7, "kind"),
        (8, bytes::KIND_PAD, "padding"),
        (40, bytes::KIND_FRAME, "past the published"),
    ] {
        let (m, l) = byte_ring(256);
        let mut p = bytes::Producer::attach(&m, l).unwrap();
        let mut c = bytes::Consumer::attach(&m, l).unwrap();
        assert_eq!(p.try_send(&[1; 8]), Ok(true));
        ctrl_word(&m, l.data_offset)
            .store(u64::from(kind) << 32 | u64::from(len), Ordering::Relaxed);
        let r = c.try_recv().map(|f| f.map(|f| f.len()));
        match r {
            Err(e) if e.kind() == ErrorKind::Corrupted => {
                assert!(e.detail().is_some_and(|d| d.contains(what)), "{e}")
            }
            Err(e) => panic!("{what}: {e:?}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    }
}

#[test]
fn byte_ring_wraps_with_padding_and_enforces_the_largest_frame() {
    let (m, l) = byte_ring(256);
    let mut p = bytes::Producer::attach(&m, l).unwrap();
    let mut c = bytes::Consumer::attach(&m, l).unwrap();
    assert_eq!(p.max_frame(), 120);
    assert_eq!(kind(p.reserve(121)), Some(ErrorKind::InvalidSize));
    for round in 0..50u8 {
        let len = 1 + (round as usize * 37) % 120;
        let mut f = p.reserve(len).unwrap().expect("room");
        f.fill(round);
        f.commit();
        let got = c.try_recv().unwrap().expect("a frame");
        assert_eq!(got.len(), len);
        assert!(got.iter().all(|&b| b == round));
    }
    // A reservation dropped without commit sends nothing.
    {
        let mut abandoned = p.reserve(10).unwrap().expect("room");
        abandoned.fill(0xee);
    }
    assert!(c.try_recv().unwrap().is_none());
    // Full: 128-byte records (plus padding at the wrap) in 256 bytes: one or two fit.
    let mut sent = 0u8;
    while p.try_send(&[sent; 120]).unwrap() {
        sent += 1;
    }
    assert!(p.reserve(8).unwrap().is_none());
    assert!((1..=2).contains(&sent), "{sent}");
    drop(p);
    for i in 0..sent {
        let f = c.recv(T).unwrap();
        assert_eq!((f.len(), f[0]), (120, i));
    }
    assert_eq!(kind(c.recv(T)), Some(ErrorKind::Disconnected));
}

// ---- stress across processes -----------------------------------------------------------

#[test]
fn spsc_stress_across_processes() {
    let n = messages();
    let (m, l) = spsc_ring(1024);
    let mut c = spsc::Consumer::<Msg>::attach(&m, l).unwrap();
    let pid = fork_child(|| {
        let mut p = spsc::Producer::<Msg>::attach(&m, l).unwrap();
        let mut seq = 0;
        while seq < n {
            match seq % 3 {
                // Single blocking pushes.
                0 => {
                    for _ in 0..100.min(n - seq) {
                        if p.push(Msg::new(7, seq), T).is_err() {
                            return false;
                        }
                        seq += 1;
                    }
                }
                // Batches.
                1 => {
                    let batch: Vec<Msg> = (seq..n.min(seq + 64)).map(|s| Msg::new(7, s)).collect();
                    match p.push_batch(&batch) {
                        Ok(0) => std::hint::spin_loop(),
                        Ok(k) => seq += k as u64,
                        Err(_) => return false,
                    }
                }
                // Reserve/commit.
                _ => match p.reserve(32) {
                    Ok(Some(mut r)) => {
                        while seq < n && r.push(Msg::new(7, seq)).is_ok() {
                            seq += 1;
                        }
                        r.commit();
                    }
                    Ok(None) => std::hint::spin_loop(),
                    Err(_) => return false,
                },
            }
        }
        true
    });
    let mut expect = 0;
    let mut buf = [Msg::new(0, 0); 64];
    while expect < n {
        let k = if expect % 2 == 0 {
            buf[0] = c.pop(T).unwrap();
            1
        } else {
            match c.pop_batch(&mut buf) {
                Ok(0) => continue,
                Ok(k) => k,
                Err(e) => panic!("{e}"),
            }
        };
        for msg in &buf[..k] {
            assert!(msg.valid() && msg.producer == 7, "bad message {msg:?}");
            assert_eq!(msg.seq, expect, "lost, duplicated or reordered");
            expect += 1;
        }
    }
    assert_eq!(kind(c.pop(T)), Some(ErrorKind::Disconnected));
    assert_eq!(wait_pid(pid, stress_watchdog()), Some(0));
}

#[test]
fn mpmc_stress_three_producers_two_consumers() {
    const P: u64 = 3;
    const C: usize = 2;
    let per = messages() / P;
    let (m, l) = mpmc_ring(256);
    // Counter 0: processes attached (the start barrier); then one bit per message.
    let words = (per as usize).div_ceil(64);
    let seen = counters(1 + P as usize * words);
    let bit = |prod: u64, seq: u64| -> (&AtomicU64, u64) {
        let i = prod as usize * (per as usize).div_ceil(64) + (seq / 64) as usize;
        (counter(&seen, 1 + i), 1 << (seq % 64))
    };
    let barrier = || {
        counter(&seen, 0).fetch_add(1, Ordering::SeqCst);
        let t = Instant::now();
        while counter(&seen, 0).load(Ordering::SeqCst) < P + C as u64 {
            if t.elapsed() > Duration::from_secs(30) {
                return false;
            }
            std::thread::yield_now();
        }
        true
    };
    let mut pids = Vec::new();
    for _ in 0..C {
        pids.push(fork_child(|| {
            let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
            if !barrier() {
                return false;
            }
            let mut last: HashMap<u64, u64> = HashMap::new();
            loop {
                match c.pop(T) {
                    Ok(msg) => {
                        if !msg.valid() || msg.producer >= P || msg.seq >= per {
                            return false;
                        }
                        // Per producer, each consumer sees increasing numbers.
                        if last
                            .insert(msg.producer, msg.seq)
                            .is_some_and(|s| s >= msg.seq)
                        {
                            return false;
                        }
                        let (w, b) = bit(msg.producer, msg.seq);
                        if w.fetch_or(b, Ordering::Relaxed) & b != 0 {
                            return false; // duplicate
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Disconnected => return c.lost() == 0,
                    Err(_) => return false,
                }
            }
        }));
    }
    for prod in 0..P {
        pids.push(fork_child(|| {
            let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
            if !barrier() {
                return false;
            }
            (0..per).all(|s| p.push(Msg::new(prod, s), T).is_ok())
        }));
    }
    for pid in pids {
        assert_eq!(
            wait_pid(pid, stress_watchdog()),
            Some(0),
            "child {pid} failed"
        );
    }
    for prod in 0..P {
        for s in 0..per {
            let (w, b) = bit(prod, s);
            assert!(
                w.load(Ordering::Relaxed) & b != 0,
                "message {prod}/{s} lost"
            );
        }
    }
}

#[test]
fn byte_ring_stress_across_processes() {
    let n = messages() / 4;
    let (m, l) = byte_ring(1 << 16);
    let mut c = bytes::Consumer::attach(&m, l).unwrap();
    let pid = fork_child(|| {
        let mut p = bytes::Producer::attach(&m, l).unwrap();
        let max = p.max_frame() as u64;
        let mut rng = xorshift64(99);
        for seq in 0..n {
            // Mostly small frames, sometimes up to the largest.
            let len = 8 + (rng() % if seq % 64 == 0 { max - 7 } else { 200 }) as usize;
            let Ok(mut f) = p.reserve_wait(len, T) else {
                return false;
            };
            f[..8].copy_from_slice(&seq.to_le_bytes());
            let fill = mix(seq) as u8;
            f[8..].fill(fill);
            f.commit();
        }
        true
    });
    for seq in 0..n {
        let f = c.recv(T).unwrap();
        assert_eq!(u64::from_le_bytes(f[..8].try_into().unwrap()), seq);
        let fill = mix(seq) as u8;
        assert!(f[8..].iter().all(|&b| b == fill), "frame {seq} corrupted");
    }
    assert_eq!(kind(c.recv(T)), Some(ErrorKind::Disconnected));
    assert_eq!(wait_pid(pid, stress_watchdog()), Some(0));
}

// ---- crashes --------------------------------------------------------------------------

#[test]
fn spsc_producer_sigkilled_mid_stream_consumer_drains_then_disconnected() {
    let (m, l) = spsc_ring(64);
    let mut c = spsc::Consumer::<Msg>::attach(&m, l).unwrap();
    let pid = fork_child(|| {
        let mut p = spsc::Producer::<Msg>::attach(&m, l).unwrap();
        (0..).all(|s| p.push(Msg::new(1, s), T).is_ok())
    });
    let mut expect = 0;
    while expect < 10_000 {
        assert_eq!(c.pop(T).unwrap().seq, expect);
        expect += 1;
    }
    sigkill(pid);
    assert_eq!(wait_pid(pid, WATCHDOG), None);
    let t = Instant::now();
    loop {
        match c.pop(T) {
            Ok(msg) => {
                assert_eq!(msg.seq, expect, "the drain lost or reordered a message");
                expect += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Disconnected, "{e}");
                break;
            }
        }
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn spsc_consumer_sigkilled_producer_sees_disconnected() {
    let (m, l) = spsc_ring(64);
    let mut p = spsc::Producer::<Msg>::attach(&m, l).unwrap();
    let got = counters(1);
    let pid = fork_child(|| {
        let mut c = spsc::Consumer::<Msg>::attach(&m, l).unwrap();
        loop {
            if c.pop(T).is_err() {
                return false;
            }
            counter(&got, 0).fetch_add(1, Ordering::Relaxed);
        }
    });
    for s in 0..10_000 {
        p.push(Msg::new(1, s), T).unwrap();
    }
    ipc_testutil::wait_for("consumer progress", WATCHDOG, || {
        counter(&got, 0).load(Ordering::Relaxed) > 1000
    });
    sigkill(pid);
    assert_eq!(wait_pid(pid, WATCHDOG), None);
    let t = Instant::now();
    let mut s = 10_000;
    let err = loop {
        match p.push(Msg::new(1, s), T) {
            Ok(()) => s += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
    assert!(
        s - 10_000 <= 64,
        "pushed {} after the consumer died",
        s - 10_000
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn mpmc_producer_killed_mid_publish_is_skipped_and_counted() {
    let (m, l) = mpmc_ring(8);
    let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
    let flag = counters(1);
    let stuck = fork_child(|| {
        let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
        if p.claim_without_publishing() != Ok(0) {
            return false;
        }
        counter(&flag, 0).store(1, Ordering::SeqCst);
        loop {
            std::hint::spin_loop();
        }
    });
    ipc_testutil::wait_for("the claim", WATCHDOG, || {
        counter(&flag, 0).load(Ordering::SeqCst) == 1
    });
    let other = fork_child(|| {
        let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
        (0..100).all(|s| p.push(Msg::new(2, s), T).is_ok())
    });
    // While the claimer lives, the slot is never skipped, however long it stalls.
    assert_eq!(
        kind(c.pop(Some(Duration::from_millis(100)))),
        Some(ErrorKind::Timeout)
    );
    assert_eq!(c.lost(), 0);
    sigkill(stuck);
    assert_eq!(wait_pid(stuck, WATCHDOG), None);
    for s in 0..100 {
        let msg = c.pop(T).unwrap();
        assert_eq!((msg.producer, msg.seq), (2, s));
    }
    assert_eq!(c.lost(), 1);
    assert_eq!(wait_pid(other, WATCHDOG), Some(0));
    assert_eq!(kind(c.pop(T)), Some(ErrorKind::Disconnected));
}

#[test]
fn mpmc_producers_sigkilled_at_random_points_never_block_the_ring() {
    let (m, l) = mpmc_ring(16);
    let stats = counters(2); // 0: messages received, 1: lost as the consumer saw it
    let consumer = fork_child(|| {
        let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
        let mut next: HashMap<u64, u64> = HashMap::new();
        loop {
            let msg = match c.pop(T) {
                Ok(msg) => msg,
                Err(_) => return false,
            };
            if msg.producer == u64::MAX {
                counter(&stats, 1).store(c.lost(), Ordering::SeqCst);
                return true;
            }
            // Per producer: 0, 1, 2, ... with no gap (only a killed producer's last,
            // unpublished message can be missing, and nothing comes after it).
            let e = next.entry(msg.producer).or_insert(0);
            if !msg.valid() || msg.seq != *e {
                return false;
            }
            *e += 1;
            counter(&stats, 0).fetch_add(1, Ordering::Relaxed);
        }
    });
    // This process stays registered as a producer throughout, so the consumer never sees
    // "every producer gone" (Disconnected) between the last kill and the final message.
    let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
    let kills = kill_count(40);
    random_kills(
        kills,
        3,
        Duration::from_millis(5),
        0x9e37_79b9_7f4a_7c15,
        |_| {
            fork_child(|| {
                let Ok(mut p) = mpmc::Producer::<Msg>::attach(&m, l) else {
                    return false;
                };
                let me = u64::from(std::process::id());
                (0..).all(|s| p.push(Msg::new(me, s), T).is_ok())
            })
        },
    )
    .unwrap();
    // Every killed producer is dead; the ring still delivers.
    p.push(Msg::new(u64::MAX, 0), T).unwrap();
    assert_eq!(wait_pid(consumer, WATCHDOG), Some(0));
    let lost = counter(&stats, 1).load(Ordering::SeqCst);
    assert!(lost <= kills as u64 + 3, "lost {lost} with {kills} kills");
    assert!(counter(&stats, 0).load(Ordering::Relaxed) > 0);
    eprintln!(
        "{kills} kills: {} messages received, {lost} lost mid-publish",
        counter(&stats, 0).load(Ordering::Relaxed)
    );
}

#[test]
fn mpmc_consumer_killed_mid_take_is_freed_and_counted() {
    let (m, l) = mpmc_ring(8);
    let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
    let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
    assert_eq!(p.try_push(Msg::new(1, 0)), Ok(true));
    let flag = counters(1);
    // Takes position 0 and stops before freeing its slot (a consumer killed mid-copy).
    let taker = fork_child(|| {
        let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
        if c.pop_without_freeing() != Ok(Some(Msg::new(1, 0))) {
            return false;
        }
        counter(&flag, 0).store(1, Ordering::SeqCst);
        loop {
            std::hint::spin_loop();
        }
    });
    ipc_testutil::wait_for_child(taker, "the take", WATCHDOG, || {
        counter(&flag, 0).load(Ordering::SeqCst) == 1
    });
    for s in 1..8 {
        assert_eq!(p.try_push(Msg::new(1, s)), Ok(true));
    }
    for s in 1..8 {
        assert_eq!(c.try_pop().unwrap().map(|m| m.seq), Some(s));
    }
    // Position 8 needs slot 0: while the taker lives, its slot is never freed, however
    // long it stalls.
    assert_eq!(
        kind(p.push(Msg::new(1, 8), Some(Duration::from_millis(100)))),
        Some(ErrorKind::Timeout)
    );
    assert_eq!(p.lost(), 0);
    sigkill(taker);
    assert_eq!(wait_pid(taker, WATCHDOG), None);
    // Dead: the producer frees the slot and the ring goes on, every lap.
    for s in 8..100 {
        p.push(Msg::new(1, s), T).unwrap();
        assert_eq!(c.pop(T).unwrap(), Msg::new(1, s));
    }
    assert_eq!((p.lost(), c.lost()), (1, 1));
    drop(p);
    assert_eq!(kind(c.pop(T)), Some(ErrorKind::Disconnected));
}

/// The double crash: producer X claims position 0 and is killed; consumer Y starts rule 1
/// (FORMAT.md, "The MPMC protocol": records `claiming = 1`, CASes `head` from 0 to 1, done
/// here by hand through the control block's fields) and is killed before its stamp CAS,
/// leaving stamp 0 behind `head`. A producer that comes round to that slot frees it (rule
/// 2), and X's message is counted lost once.
#[test]
fn mpmc_consumer_killed_mid_recovery_is_freed_and_counted_once() {
    fn control(m: &AnonShm, l: RingLayout) -> &Control {
        // SAFETY: `init` formatted a control block at this offset, inside the mapping and
        // aligned; it is atomics only and lives as long as `m`.
        unsafe { &*m.as_ptr().add(l.control_offset).cast::<Control>() }
    }
    let (m, l) = mpmc_ring(4);
    let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
    let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
    let flag = counters(1);
    let x = fork_child(|| {
        let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
        if p.claim_without_publishing() != Ok(0) {
            return false;
        }
        counter(&flag, 0).store(1, Ordering::SeqCst);
        loop {
            std::hint::spin_loop();
        }
    });
    ipc_testutil::wait_for_child(x, "X's claim", WATCHDOG, || {
        counter(&flag, 0).load(Ordering::SeqCst) == 1
    });
    sigkill(x);
    assert_eq!(wait_pid(x, WATCHDOG), None);
    let y = fork_child(|| {
        let _c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
        let ctrl = control(&m, l);
        let me = u64::from(std::process::id());
        let Some(entry) = ctrl
            .consumers
            .iter()
            .find(|e| e.id.load(Ordering::Acquire) & 0xffff_ffff == me)
        else {
            return false;
        };
        entry.claiming.store(1, Ordering::Release);
        if ctrl
            .head
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        counter(&flag, 0).store(2, Ordering::SeqCst);
        loop {
            std::hint::spin_loop();
        }
    });
    ipc_testutil::wait_for_child(y, "Y's half recovery", WATCHDOG, || {
        counter(&flag, 0).load(Ordering::SeqCst) == 2
    });
    sigkill(y);
    assert_eq!(wait_pid(y, WATCHDOG), None);
    // Positions 1..=3 flow; position 4 needs slot 0 (stamp 0, behind `head`).
    for s in 1..=3 {
        assert_eq!(p.try_push(Msg::new(1, s)), Ok(true));
        assert_eq!(c.try_pop().unwrap().map(|m| m.seq), Some(s));
    }
    for s in 4..20 {
        p.push(Msg::new(1, s), T).unwrap();
        assert_eq!(c.pop(T).unwrap().seq, s);
    }
    assert_eq!(c.lost(), 1);
}

#[test]
fn mpmc_consumers_sigkilled_at_random_points_never_block_the_ring() {
    const TRACKED: u64 = 1 << 22;
    let (m, l) = mpmc_ring(16);
    // 0: stop, 1: messages pushed, then one bit per message (the first TRACKED).
    let stats = counters(2 + TRACKED as usize / 64);
    let bit = |seq: u64| (counter(&stats, 2 + (seq / 64) as usize), 1u64 << (seq % 64));
    // Checks a received message and marks it; false on a bad or duplicated one.
    let record = |msg: Msg, last: &mut Option<u64>| -> bool {
        if !msg.valid() || msg.producer != 1 || last.is_some_and(|l| l >= msg.seq) {
            return false;
        }
        *last = Some(msg.seq);
        if msg.seq < TRACKED {
            let (w, b) = bit(msg.seq);
            return w.fetch_or(b, Ordering::Relaxed) & b == 0;
        }
        true
    };
    // This process stays registered as a consumer (popping only at the end), so the
    // producer never sees "every consumer gone" between a kill and the replacement.
    let mut drain = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
    let producer = fork_child(|| {
        let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
        let mut seq = 0;
        let mut since = Instant::now();
        loop {
            match p.push(Msg::new(1, seq), Some(Duration::from_millis(20))) {
                Ok(()) => {
                    seq += 1;
                    since = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::Timeout => {
                    if counter(&stats, 0).load(Ordering::SeqCst) == 1 {
                        counter(&stats, 1).store(seq, Ordering::SeqCst);
                        return true;
                    }
                    // The consumers keep taking: a push blocked this long is a stuck ring.
                    if since.elapsed() > Duration::from_secs(30) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    });
    let kills = kill_count(100);
    let r = random_kills(
        kills,
        3,
        Duration::from_millis(5),
        0x2545_f491_4f6c_dd1d,
        |_| {
            fork_child(|| {
                let Ok(mut c) = mpmc::Consumer::<Msg>::attach(&m, l) else {
                    return false;
                };
                let mut last = None;
                loop {
                    match c.pop(T) {
                        Ok(msg) if record(msg, &mut last) => {}
                        _ => return false,
                    }
                }
            })
        },
    );
    // Every consumer worker is dead; the producer, blocked on a full ring, stops.
    counter(&stats, 0).store(1, Ordering::SeqCst);
    let status = wait_pid(producer, WATCHDOG);
    r.unwrap();
    assert_eq!(status, Some(0), "the producer saw an error or a stuck ring");
    let pushed = counter(&stats, 1).load(Ordering::SeqCst);
    let mut last = None;
    let err = loop {
        match drain.pop(T) {
            Ok(msg) => assert!(record(msg, &mut last), "bad or duplicated {msg:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
    let missing = (0..pushed.min(TRACKED))
        .filter(|&s| {
            let (w, b) = bit(s);
            w.load(Ordering::Relaxed) & b == 0
        })
        .count() as u64;
    let lost = drain.lost();
    // A killed consumer loses at most the one message it held: counted if it died while
    // copying it, not if `pop` had returned it.
    assert!(
        lost <= missing && missing <= kills as u64 + 3,
        "pushed {pushed}, missing {missing}, lost {lost}, {kills} kills"
    );
    eprintln!("{kills} consumer kills: {pushed} pushed, {missing} missing, {lost} lost mid-take");
}

#[test]
fn mpmc_producer_sigkilled_mid_stream_consumer_drains_then_disconnected() {
    let (m, l) = mpmc_ring(64);
    let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
    let pid = fork_child(|| {
        let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
        (0..).all(|s| p.push(Msg::new(1, s), T).is_ok())
    });
    let mut expect = 0;
    while expect < 10_000 {
        assert_eq!(c.pop(T).unwrap().seq, expect);
        expect += 1;
    }
    sigkill(pid);
    assert_eq!(wait_pid(pid, WATCHDOG), None);
    let err = loop {
        match c.pop(T) {
            Ok(msg) => {
                assert!(msg.valid());
                assert_eq!(msg.seq, expect, "the drain lost or reordered a message");
                expect += 1;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
    // At most the message it was publishing when killed, counted.
    assert!(c.lost() <= 1, "lost {}", c.lost());
}

#[test]
fn mpmc_consumer_sigkilled_producer_sees_disconnected() {
    let (m, l) = mpmc_ring(64);
    let mut p = mpmc::Producer::<Msg>::attach(&m, l).unwrap();
    let got = counters(1);
    let pid = fork_child(|| {
        let mut c = mpmc::Consumer::<Msg>::attach(&m, l).unwrap();
        loop {
            if c.pop(T).is_err() {
                return false;
            }
            counter(&got, 0).fetch_add(1, Ordering::Relaxed);
        }
    });
    for s in 0..10_000 {
        p.push(Msg::new(1, s), T).unwrap();
    }
    ipc_testutil::wait_for_child(pid, "consumer progress", WATCHDOG, || {
        counter(&got, 0).load(Ordering::Relaxed) > 1000
    });
    sigkill(pid);
    assert_eq!(wait_pid(pid, WATCHDOG), None);
    let mut s = 10_000;
    let err = loop {
        match p.push(Msg::new(1, s), T) {
            Ok(()) => s += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
    assert!(
        s - 10_000 <= 64,
        "pushed {} after the consumer died",
        s - 10_000
    );
}

#[test]
fn byte_ring_producer_sigkilled_mid_stream_consumer_drains_then_disconnected() {
    let (m, l) = byte_ring(4096);
    let mut c = bytes::Consumer::attach(&m, l).unwrap();
    let pid = fork_child(|| {
        let mut p = bytes::Producer::attach(&m, l).unwrap();
        (0u64..).all(|s| {
            let mut f = [mix(s) as u8; 40];
            f[..8].copy_from_slice(&s.to_le_bytes());
            p.send(&f[..8 + (s % 33) as usize], T).is_ok()
        })
    });
    let mut expect = 0u64;
    let err = loop {
        if expect == 10_000 {
            sigkill(pid);
            assert_eq!(wait_pid(pid, WATCHDOG), None);
        }
        match c.recv(T) {
            Ok(f) => {
                assert_eq!(f.len(), 8 + (expect % 33) as usize);
                assert_eq!(u64::from_le_bytes(f[..8].try_into().unwrap()), expect);
                assert!(f[8..].iter().all(|&b| b == mix(expect) as u8));
                expect += 1;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
    assert!(expect >= 10_000);
}

#[test]
fn byte_ring_consumer_sigkilled_producer_sees_disconnected() {
    let (m, l) = byte_ring(4096);
    let mut p = bytes::Producer::attach(&m, l).unwrap();
    let got = counters(1);
    let pid = fork_child(|| {
        let mut c = bytes::Consumer::attach(&m, l).unwrap();
        loop {
            if c.recv(T).is_err() {
                return false;
            }
            counter(&got, 0).fetch_add(1, Ordering::Relaxed);
        }
    });
    for _ in 0..10_000 {
        p.send(&[7; 24], T).unwrap();
    }
    ipc_testutil::wait_for_child(pid, "consumer progress", WATCHDOG, || {
        counter(&got, 0).load(Ordering::Relaxed) > 1000
    });
    sigkill(pid);
    assert_eq!(wait_pid(pid, WATCHDOG), None);
    let mut sent = 0;
    let err = loop {
        match p.send(&[7; 24], T) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
    // 32-byte records in 4096 bytes.
    assert!(sent <= 128, "sent {sent} after the consumer died");
}

/// A child writes random bytes at random offsets of the control block (registry
/// included; for MPMC also the stamps; for the byte ring the whole buffer, so the frame
/// headers) while a second child keeps using both ends of the ring, re-attaching every 64
/// rounds: every operation returns (an error or a value) within its timeout, nothing panics
/// or faults (the user is a child reaped with a watchdog, so a panic, a SIGBUS or a hang is
/// a failed test, not a dead or stuck test binary), and corruption is reported as
/// `Corrupted`.
#[test]
fn chaos_in_the_control_block_gives_errors_never_crashes_or_hangs() {
    for flavor in 0..3u64 {
        let cap = 64;
        let (m, l) = match flavor {
            0 => spsc_ring(cap),
            1 => mpmc_ring(cap),
            _ => byte_ring(1024),
        };
        let scribble = match flavor {
            0 => CONTROL_LEN,
            1 => l.data_offset + cap as usize * 8,
            _ => l.data_offset + 1024,
        };
        // 0: stop, 1: go; the user's tallies: 2 rounds, 3 ok, 4 Corrupted, 5 worst (ns).
        let shared = counters(6);
        let chaos = fork_child(|| {
            let mut rng = xorshift64(0x5eed + flavor);
            while counter(&shared, 1).load(Ordering::SeqCst) == 0 {
                std::hint::spin_loop();
            }
            while counter(&shared, 0).load(Ordering::Relaxed) == 0 {
                let off = (rng() as usize % scribble) & !7;
                if off >= CONTROL_LEN && off < l.data_offset {
                    continue;
                }
                // Mostly small values (plausible counters), sometimes anything.
                let v = match rng() % 4 {
                    0 => rng(),
                    _ => rng() % 256,
                };
                // SAFETY: off + 8 <= the mapping's length, 8-aligned; atomic store.
                unsafe { &*m.as_ptr().add(off).cast::<AtomicU64>() }.store(v, Ordering::Relaxed);
                for _ in 0..(rng() % 2000) {
                    std::hint::spin_loop();
                }
            }
            true
        });
        let user = fork_child(|| {
            let timeout = Some(Duration::from_millis(2));
            let (mut corrupted, mut ok) = (0u64, 0u64);
            let mut worst = Duration::ZERO;
            let until = Instant::now() + Duration::from_millis(700);
            let mut rounds = 0u64;
            let mut tally = |r: ipc_collections::Result<()>| match r.map_err(|e| e.kind()) {
                Ok(()) => ok += 1,
                Err(ErrorKind::Corrupted) => corrupted += 1,
                Err(
                    ErrorKind::Timeout
                    | ErrorKind::WouldBlock
                    | ErrorKind::LimitReached
                    | ErrorKind::Disconnected,
                ) => {}
                Err(e) => panic!("flavor {flavor}: unexpected {e:?}"),
            };
            // Each operation reads the counters, stamps and headers afresh; each
            // re-attach runs the attach checks on the scribbled block.
            macro_rules! hammer {
                ($attach_p:expr, $attach_c:expr, $push:expr, $pop:expr) => {{
                    let (mut p, mut c) = (None, None);
                    counter(&shared, 1).store(1, Ordering::SeqCst);
                    while Instant::now() < until {
                        if rounds % 64 == 0 {
                            (p, c) = (None, None);
                        }
                        let t = Instant::now();
                        if p.is_none() {
                            p = $attach_p.map_err(|e| tally(Err(e))).ok();
                        }
                        if c.is_none() {
                            c = $attach_c.map_err(|e| tally(Err(e))).ok();
                        }
                        if let Some(p) = p.as_mut() {
                            tally($push(p, rounds));
                        }
                        if let Some(c) = c.as_mut() {
                            tally($pop(c));
                        }
                        worst = worst.max(t.elapsed());
                        rounds += 1;
                    }
                }};
            }
            match flavor {
                0 => hammer!(
                    spsc::Producer::<Msg>::attach(&m, l),
                    spsc::Consumer::<Msg>::attach(&m, l),
                    |p: &mut spsc::Producer<Msg>, i| p.push(Msg::new(1, i), timeout),
                    |c: &mut spsc::Consumer<Msg>| c.pop(timeout).map(|_| ())
                ),
                1 => hammer!(
                    mpmc::Producer::<Msg>::attach(&m, l),
                    mpmc::Consumer::<Msg>::attach(&m, l),
                    |p: &mut mpmc::Producer<Msg>, i| p.push(Msg::new(1, i), timeout),
                    |c: &mut mpmc::Consumer<Msg>| c.pop(timeout).map(|_| ())
                ),
                _ => hammer!(
                    bytes::Producer::attach(&m, l),
                    bytes::Consumer::attach(&m, l),
                    |p: &mut bytes::Producer, i: u64| p
                        .send(&[9; 100][..i as usize % 100], timeout),
                    |c: &mut bytes::Consumer| c.recv(timeout).map(|f| assert!(f.len() <= 504))
                ),
            }
            for (i, v) in [rounds, ok, corrupted, worst.as_nanos() as u64]
                .into_iter()
                .enumerate()
            {
                counter(&shared, 2 + i).store(v, Ordering::SeqCst);
            }
            true
        });
        let user_status = wait_pid(user, WATCHDOG);
        counter(&shared, 0).store(1, Ordering::Relaxed);
        assert_eq!(wait_pid(chaos, WATCHDOG), Some(0));
        assert_eq!(
            user_status,
            Some(0),
            "flavor {flavor}: the user panicked or faulted"
        );
        let [rounds, ok, corrupted, worst] =
            [2, 3, 4, 5].map(|i| counter(&shared, i).load(Ordering::SeqCst));
        let worst = Duration::from_nanos(worst);
        eprintln!(
            "flavor {flavor}: {rounds} rounds, {ok} ok, {corrupted} Corrupted, worst {worst:?}"
        );
        assert!(corrupted > 0, "flavor {flavor}: chaos never detected");
        // Operations with 2 ms timeouts: far below a second unless one hung.
        assert!(
            worst < Duration::from_secs(2),
            "flavor {flavor}: a round took {worst:?}"
        );
    }
}
