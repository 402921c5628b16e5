//! Named rings (segment kind 3) across real processes: created by one program, opened by
//! name by another (spawned test roles, each with a watchdog), the element layout, the
//! flavour and the capacity checked; anonymous rings shared with forked children; the
//! header rules of FORMAT.md "Rings (kind 3)" enforced; the status snapshot.

use std::time::Duration;

use ipc_collections::ring::{control::Flavor, RingStatus};
use ipc_collections::{ByteRing, ErrorKind, MpmcRing, SharedArray, SharedLayout, SpscRing};
use ipc_testutil::{env, fork_run, report, role, spawn_role, unique_name, Cleanup, WATCHDOG};

/// The error kind of `r` (ring operations return the one error type).
fn kind<T>(r: ipc_collections::Result<T>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

const T: Option<Duration> = Some(Duration::from_secs(20));

#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Tick {
    seq: u64,
    square: u64,
}

#[test]
fn an_spsc_ring_created_by_one_program_is_drained_by_another_that_opens_it_by_name() {
    let test = "an_spsc_ring_created_by_one_program_is_drained_by_another_that_opens_it_by_name";
    const N: u64 = 100_000;
    match role().as_deref() {
        Some("consumer") => {
            let ring = SpscRing::<Tick>::open(&env("NAME")).unwrap();
            assert_eq!(ring.capacity(), 256);
            assert!(!ring.created());
            let mut rx = ring.consumer().unwrap();
            let mut next = 0;
            loop {
                match rx.pop(T) {
                    Ok(t) => {
                        assert_eq!(
                            t,
                            Tick {
                                seq: next,
                                square: next * next
                            }
                        );
                        next += 1;
                    }
                    Err(e) => {
                        // The error names the operation and the ring (the one error).
                        report(format!("{:?}: {e} after {next}", e.kind()));
                        return;
                    }
                }
            }
        }
        Some(_) => return,
        None => {}
    }
    let name = unique_name("nring");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<Tick>::create(&name, 256).unwrap();
    assert!(ring.created() && ring.unlinks_on_drop());
    let child = spawn_role(test, "consumer", &[("NAME", &name)]);
    {
        let mut tx = ring.producer().unwrap();
        for i in 0..N {
            tx.push(
                Tick {
                    seq: i,
                    square: i * i,
                },
                T,
            )
            .unwrap();
        }
    } // the producer detaches: the consumer drains, then sees Disconnected
    let lines = child.wait_output(WATCHDOG);
    assert_eq!(
        lines,
        [format!(
            "Disconnected: pop {name:?}: disconnected: every peer is gone after {N}"
        )]
    );
}

#[test]
fn a_byte_ring_carries_frames_between_programs_and_a_shell_style_writer() {
    let test = "a_byte_ring_carries_frames_between_programs_and_a_shell_style_writer";
    match role().as_deref() {
        Some("producer") => {
            let ring = ByteRing::open(&env("NAME")).unwrap();
            let mut tx = ring.producer().unwrap();
            for i in 0..1000usize {
                let frame: Vec<u8> = (0..i % 300).map(|j| (i + j) as u8).collect();
                tx.send(&frame, T).unwrap();
            }
            return;
        }
        Some(_) => return,
        None => {}
    }
    let name = unique_name("nbytes");
    let _c = Cleanup::shm(&name);
    let ring = ByteRing::create(&name, 4096).unwrap();
    assert_eq!(ring.max_frame(), 4096 / 2 - 8);
    let mut rx = ring.consumer().unwrap();
    let child = spawn_role(test, "producer", &[("NAME", &name)]);
    for i in 0..1000usize {
        let frame = rx.recv(T).unwrap();
        let want: Vec<u8> = (0..i % 300).map(|j| (i + j) as u8).collect();
        assert_eq!(&*frame, &want[..], "frame {i}");
    }
    child.wait_ok();
    assert_eq!(kind(rx.recv(T).map(|f| f.len())), ErrorKind::Disconnected);
}

#[test]
fn an_mpmc_ring_by_name_serves_producers_and_consumers_in_several_processes() {
    let test = "an_mpmc_ring_by_name_serves_producers_and_consumers_in_several_processes";
    const PER: u64 = 20_000;
    match role().as_deref() {
        Some("producer") => {
            let id: u64 = env("ID").parse().unwrap();
            let ring = MpmcRing::<Tick>::open(&env("NAME")).unwrap();
            let mut tx = ring.producer().unwrap();
            for i in 0..PER {
                tx.push(Tick { seq: i, square: id }, T).unwrap();
            }
            return;
        }
        Some(_) => return,
        None => {}
    }
    let name = unique_name("nmpmc");
    let _c = Cleanup::shm(&name);
    let ring = MpmcRing::<Tick>::create(&name, 64).unwrap();
    let mut rx = ring.consumer().unwrap();
    let kids: Vec<_> = (0..3)
        .map(|id| {
            spawn_role(
                test,
                "producer",
                &[("NAME", &name), ("ID", &id.to_string())],
            )
        })
        .collect();
    let mut next = [0u64; 3];
    for _ in 0..3 * PER {
        let t = rx.pop(T).unwrap();
        let p = t.square as usize;
        assert_eq!(t.seq, next[p], "producer {p}'s messages in order");
        next[p] += 1;
    }
    for k in kids {
        k.wait_ok();
    }
    assert_eq!(next, [PER; 3]);
    assert_eq!(ring.status().lost, 0);
}

#[test]
fn anonymous_rings_are_shared_with_forked_children() {
    let ring = SpscRing::<u64>::anonymous(8).unwrap();
    assert_eq!(ring.name(), "");
    let r = &ring;
    let mut rx = ring.consumer().unwrap();
    let pid = ipc_testutil::fork_child(|| {
        let mut tx = r.producer().unwrap();
        (0..1000).all(|i| tx.push(i, T).is_ok())
    });
    for i in 0..1000 {
        assert_eq!(rx.pop(T).unwrap(), i);
    }
    assert_eq!(ipc_testutil::wait_pid(pid, WATCHDOG), Some(0));
    assert_eq!(kind(rx.pop(T)), ErrorKind::Disconnected);

    let bytes = ByteRing::anonymous(256).unwrap();
    let b = &bytes;
    fork_run(WATCHDOG, || {
        b.producer().unwrap().send(b"from the child", T).is_ok()
    })
    .unwrap();
    assert_eq!(
        &*bytes.consumer().unwrap().recv(T).unwrap(),
        b"from the child"
    );
}

#[test]
fn opening_checks_kind_flavour_element_type_and_capacity() {
    let name = unique_name("nchk");
    let _c = Cleanup::shm(&name);
    let _ring = SpscRing::<u64>::create(&name, 16).unwrap();
    // Another flavour of ring.
    let e = MpmcRing::<u64>::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongType, "{e}");
    assert!(
        e.to_string().contains("an MPMC ring") && e.to_string().contains("an SPSC ring"),
        "{e}"
    );
    // Another element type.
    let e = SpscRing::<u32>::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LayoutMismatch, "{e}");
    // Another capacity.
    let e = SpscRing::<u64>::options()
        .capacity(32)
        .open(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LayoutMismatch, "{e}");
    assert!(SpscRing::<u64>::options().capacity(16).open(&name).is_ok());
    // Not a ring at all, and a ring opened as an array.
    assert_eq!(kind(SharedArray::<u64>::open(&name)), ErrorKind::WrongType);
    let arr = unique_name("narr");
    let _c2 = Cleanup::shm(&arr);
    let _a = SharedArray::<u64>::create(&arr, &[16]).unwrap();
    assert_eq!(kind(SpscRing::<u64>::open(&arr)), ErrorKind::WrongType);
    assert_eq!(
        kind(ipc_collections::ring::inspect(&arr)),
        ErrorKind::WrongType
    );

    // A byte ring and an SPSC ring of bytes share a layout: the control block tells them
    // apart.
    let b = unique_name("nbyte");
    let _c3 = Cleanup::shm(&b);
    let _br = ByteRing::create(&b, 64).unwrap();
    let e = SpscRing::<u8>::open(&b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongType);
    assert!(e.to_string().contains("a byte ring"), "{e}");
}

#[test]
fn bad_capacities_and_missing_options_are_typed_errors() {
    let name = unique_name("ncap");
    let _c = Cleanup::shm(&name);
    let invalid = |k: ErrorKind| matches!(k, ErrorKind::InvalidInput);
    assert!(invalid(kind(SpscRing::<u64>::create(&name, 0))));
    assert!(invalid(kind(SpscRing::<u64>::create(&name, 3))));
    assert!(invalid(kind(MpmcRing::<u64>::create(&name, 1))));
    assert!(invalid(kind(ByteRing::create(&name, 32))));
    assert!(invalid(kind(ByteRing::options().create(&name))));
    assert!(matches!(
        kind(SpscRing::<[u8; 4096]>::create(&name, 1 << 62)),
        ErrorKind::InvalidSize
    ));
    // Nothing was created by the refused calls.
    assert_eq!(kind(ByteRing::open(&name)), ErrorKind::NotFound);
    // The name rules are the shm ones.
    assert!(matches!(
        kind(ByteRing::create("no-slash", 64)),
        ErrorKind::InvalidName
    ));
}

#[test]
fn a_second_spsc_producer_is_refused_while_the_first_lives() {
    let ring = SpscRing::<u64>::anonymous(4).unwrap();
    let tx = ring.producer().unwrap();
    assert!(matches!(kind(ring.producer()), ErrorKind::LimitReached));
    drop(tx);
    ring.producer().unwrap();
}

#[test]
fn status_shows_length_attached_processes_and_their_liveness() {
    let name = unique_name("nstat");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<u64>::create(&name, 8).unwrap();
    let mut tx = ring.producer().unwrap();
    tx.push(1, None).unwrap();
    tx.push(2, None).unwrap();
    let s: RingStatus = ring.status();
    assert_eq!(s.flavor, Some(Flavor::Spsc));
    assert_eq!((s.capacity, s.len, s.tail, s.head), (8, Some(2), 2, 0));
    assert_eq!(s.producers.len(), 1);
    assert_eq!(s.producers[0].pid, std::process::id() as i32);
    assert!(s.producers[0].alive);
    assert!(s.consumers.is_empty());
    let (info, s2) = ipc_collections::ring::inspect(&name).unwrap();
    assert_eq!(info.ring_capacity, 8);
    assert_eq!(s2.len, Some(2));
}

#[test]
fn open_or_create_creates_once_and_then_opens() {
    let name = unique_name("nooc");
    let _c = Cleanup::shm(&name);
    let a = ByteRing::open_or_create(&name, 1024).unwrap();
    let b = ByteRing::open_or_create(&name, 1024).unwrap();
    assert!(a.created() && !b.created());
    assert_eq!(
        kind(ByteRing::open_or_create(&name, 2048)),
        ErrorKind::LayoutMismatch
    );
    let u = ByteRing::options()
        .capacity(64)
        .create_unique("/nring-")
        .unwrap();
    assert!(u.name().starts_with("/nring-"));
    let _c2 = Cleanup::shm(u.name());
}

#[test]
fn a_sigkilled_producer_program_leaves_a_ring_the_consumer_drains_then_sees_disconnected() {
    let test =
        "a_sigkilled_producer_program_leaves_a_ring_the_consumer_drains_then_sees_disconnected";
    match role().as_deref() {
        Some("producer") => {
            let ring = SpscRing::<u64>::open(&env("NAME")).unwrap();
            let mut tx = ring.producer().unwrap();
            for i in 0..100 {
                tx.push(i, T).unwrap();
            }
            report("sent");
            ipc_testutil::shared_mem::park_forever();
        }
        Some("consumer") => {
            let ring = SpscRing::<u64>::open(&env("NAME")).unwrap();
            let _rx = ring.consumer().unwrap();
            report("attached");
            ipc_testutil::shared_mem::park_forever();
        }
        Some(_) => return,
        None => {}
    }
    let name = unique_name("nkill");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<u64>::create(&name, 128).unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut child = spawn_role(test, "producer", &[("NAME", &name)]);
    ipc_testutil::wait_for("the producer's 100 messages", WATCHDOG, || {
        ring.status().len == Some(100)
    });
    child.kill(); // SIGKILL: no destructor runs, its registration stays behind
    let s = ring.status();
    assert_eq!(
        s.producers.len(),
        1,
        "the dead producer is still registered"
    );
    assert!(!s.producers[0].alive, "and shown dead");
    for i in 0..100 {
        assert_eq!(rx.pop(T).unwrap(), i, "everything it sent is drained");
    }
    assert_eq!(kind(rx.pop(T)), ErrorKind::Disconnected);
    drop(rx);

    // The other way round: a producer whose consumer was SIGKILLed gets Disconnected
    // once the ring is full, within its timeout.
    let mut child = spawn_role(test, "consumer", &[("NAME", &name)]);
    ipc_testutil::wait_for("the consumer to attach", WATCHDOG, || {
        ring.status().consumers.iter().any(|c| c.pid == child.pid())
    });
    child.kill();
    let mut tx = ring.producer().unwrap();
    let mut sent = 0u64;
    let err = loop {
        match tx.push(sent, T) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(sent, 128, "the ring filled up");
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
}

/// Forks a child that attaches with `attach` and then parks until killed; waits until the
/// ring shows it attached.
fn parked_peer(attach: impl FnOnce() -> bool, attached: impl Fn() -> bool) -> i32 {
    let pid = ipc_testutil::fork_child(|| {
        if attach() {
            ipc_testutil::shared_mem::park_forever();
        }
        false
    });
    ipc_testutil::wait_for_child(pid, "the peer to attach", WATCHDOG, attached);
    pid
}

/// SIGKILLs `pid` once the calling thread sleeps in a blocking call (its futex wait,
/// observed in `/proc`), and returns when it did so.
fn kill_later(pid: i32) -> std::thread::JoinHandle<std::time::Instant> {
    let sleeper = ipc_testutil::proc_state::gettid();
    std::thread::spawn(move || {
        ipc_testutil::wait_for_child(pid, "the caller to sleep in its wait", WATCHDOG, || {
            ipc_testutil::proc_state::sleeps_in_futex(sleeper)
        });
        ipc_testutil::sigkill(pid);
        std::time::Instant::now()
    })
}

#[test]
fn a_peer_killed_while_the_other_side_sleeps_is_noticed_within_a_few_sleeps() {
    // Not a speed claim: a liveness bound. A blocked call sleeps at most PEER_POLL (10 ms)
    // at a time; the liveness check (/proc) used to be due only every 64th attempt, so a
    // peer killed while the other side slept was noticed after 64 sleeps (>= 640 ms by
    // construction, 420-570 ms measured). Now it is checked after every sleep in which
    // nothing moved: a bound of 300 ms separates the two with room on a loaded machine.
    const BOUND: Duration = Duration::from_millis(300);
    let check =
        |what: &str, noticed: ErrorKind, killed: std::thread::JoinHandle<std::time::Instant>| {
            let at = killed.join().unwrap();
            assert_eq!(noticed, ErrorKind::Disconnected, "{what}");
            let after = at.elapsed();
            assert!(
                after < BOUND,
                "{what}: the death was noticed {after:?} after the kill"
            );
        };

    let ring = SpscRing::<u64>::anonymous(4).unwrap();
    let r = &ring;
    let mut rx = ring.consumer().unwrap();
    let pid = parked_peer(
        || r.producer().map(std::mem::forget).is_ok(),
        || !r.status().producers.is_empty(),
    );
    let k = kill_later(pid);
    let e = kind(rx.pop(T));
    ipc_testutil::wait_pid(pid, WATCHDOG);
    check("SPSC consumer", e, k);

    let ring = ByteRing::anonymous(64).unwrap();
    let r = &ring;
    let mut tx = ring.producer().unwrap();
    let pid = parked_peer(
        || r.consumer().map(std::mem::forget).is_ok(),
        || !r.status().consumers.is_empty(),
    );
    let k = kill_later(pid);
    let e = loop {
        // Fill the ring, then block on a full ring.
        if let Err(e) = tx.send(&[7; 24], T) {
            break e.kind();
        }
    };
    ipc_testutil::wait_pid(pid, WATCHDOG);
    check("byte ring producer", e, k);

    let ring = MpmcRing::<u64>::anonymous(4).unwrap();
    let r = &ring;
    let mut rx = ring.consumer().unwrap();
    let pid = parked_peer(
        || r.producer().map(std::mem::forget).is_ok(),
        || !r.status().producers.is_empty(),
    );
    let k = kill_later(pid);
    let e = kind(rx.pop(T));
    ipc_testutil::wait_pid(pid, WATCHDOG);
    check("MPMC consumer", e, k);
}

/// Writes `word` at byte `offset` of the control block of the named ring `name`, through a
/// second mapping (as a buggy or crashed process could).
fn scribble_control(
    name: &str,
    ring_info: &ipc_collections::SegmentInfo,
    offset: usize,
    word: u32,
) {
    let shm = ipc_collections::ipc_core::shm::Shm::open(name).unwrap();
    ipc_testutil::bytes::write_bytes(&shm, ring_info.control.start + offset, &word.to_ne_bytes());
}

#[test]
fn a_corrupted_flavour_word_is_corrupted_not_another_kind_of_ring() {
    const FLAVOR: usize = 384; // FORMAT.md, "Rings (kind 3)"
    let corrupted = |k: ErrorKind| matches!(k, ErrorKind::Corrupted);

    let name = unique_name("nflav");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<u64>::create(&name, 8).unwrap();
    // The MPMC word in a ring with the SPSC layout: neither an MPMC nor an SPSC ring.
    scribble_control(&name, ring.info(), FLAVOR, 2);
    assert!(corrupted(kind(MpmcRing::<u64>::open(&name))));
    assert!(corrupted(kind(SpscRing::<u64>::open(&name))));
    // An unknown flavour.
    scribble_control(&name, ring.info(), FLAVOR, 7);
    assert!(corrupted(kind(SpscRing::<u64>::open(&name))));
    // Restored: it opens again.
    scribble_control(&name, ring.info(), FLAVOR, 1);
    SpscRing::<u64>::open(&name).unwrap();

    // A byte ring whose word says SPSC has exactly the header of an SpscRing<u8>: the
    // element size the control block recorded (0 for a byte ring) gives it away.
    let b = unique_name("nflavb");
    let _c2 = Cleanup::shm(&b);
    let br = ByteRing::create(&b, 64).unwrap();
    scribble_control(&b, br.info(), FLAVOR, 1);
    assert!(corrupted(kind(SpscRing::<u8>::open(&b))));
    assert!(corrupted(kind(ByteRing::open(&b))));
}

#[test]
fn zero_sized_elements_are_refused_before_anything_is_created() {
    let name = unique_name("nzst");
    let _c = Cleanup::shm(&name);
    assert!(matches!(
        kind(SpscRing::<[u8; 0]>::create(&name, 8)),
        ErrorKind::InvalidInput
    ));
    assert!(matches!(
        kind(
            MpmcRing::<[u64; 0]>::options()
                .capacity(8)
                .unlink_on_drop(false)
                .create(&name)
        ),
        ErrorKind::InvalidInput
    ));
    assert_eq!(kind(ipc_collections::inspect(&name)), ErrorKind::NotFound);
}

#[test]
fn the_largest_frame_of_a_capacity_below_the_minimum_is_zero_not_an_underflow() {
    // Tools ask this of whatever capacity a (possibly corrupted) ring header holds.
    use ipc_collections::ring::bytes::max_frame;
    assert_eq!(max_frame(0), 0);
    assert_eq!(max_frame(8), 0);
    assert_eq!(max_frame(16), 0);
    assert_eq!(max_frame(64), 24);
}

/// Issue 19: opening something that is not a segment at all says what was expected (a
/// segment of this format), never "expected value segment" as it did for the rings.
#[test]
fn opening_a_non_segment_as_a_ring_names_what_was_expected() {
    let name = unique_name("nnonseg");
    let _c = Cleanup::shm(&name);
    std::fs::write(format!("/dev/shm{name}"), [0x55u8; 4096]).unwrap();
    let errors = [
        SpscRing::<u64>::open(&name).map(|_| ()).unwrap_err(),
        MpmcRing::<u64>::open(&name).map(|_| ()).unwrap_err(),
        ByteRing::open(&name).map(|_| ()).unwrap_err(),
        ipc_collections::inspect(&name).map(|_| ()).unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.kind(), ErrorKind::WrongType, "{e}");
        let text = e.to_string();
        assert!(
            text.contains("expected a segment of this format, found no segment header"),
            "{text}"
        );
        assert!(!text.contains("value segment"), "{text}");
    }
}

/// Issue 19 (FORMAT.md, "Which ring it is"): attaching checks `tail - head <= capacity`
/// for every flavour; the MPMC ring did not (SPSC and byte rings did). A producer or
/// consumer attaching to an MPMC ring whose counters are more than the capacity apart, or
/// whose head is past its tail, gets Corrupted; restored, it attaches.
#[test]
fn attaching_to_an_mpmc_ring_checks_its_counters_as_the_others_do() {
    const TAIL: usize = 0; // FORMAT.md, "The control block"
    const HEAD: usize = 128;
    let name = unique_name("nmpmcctr");
    let _c = Cleanup::shm(&name);
    let ring = MpmcRing::<u64>::create(&name, 8).unwrap();
    let info = ring.info().clone();
    let shm = ipc_collections::ipc_core::shm::Shm::open(&name).unwrap();
    let set = |at: usize, v: u64| {
        ipc_testutil::bytes::write_bytes(&shm, info.control.start + at, &v.to_ne_bytes())
    };
    for (tail, head) in [(9, 0), (0, 1), (u64::MAX, 0)] {
        set(TAIL, tail);
        set(HEAD, head);
        for e in [
            ring.producer().map(|_| ()).unwrap_err(),
            ring.consumer().map(|_| ()).unwrap_err(),
        ] {
            assert!(
                matches!(e.kind(), ErrorKind::Corrupted),
                "tail {tail} head {head}: {e}"
            );
        }
    }
    // A full ring (tail - head == capacity) is not corrupted.
    set(TAIL, 8);
    set(HEAD, 0);
    drop(ring.producer().unwrap());
    set(TAIL, 0);
    drop(ring.consumer().unwrap());
}
