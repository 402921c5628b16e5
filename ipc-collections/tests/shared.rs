//! `Shared<T>` and `SharedMutex<T>` across real processes: a derived struct with atomics
//! and a mutex, layout mismatches, open-or-create races, SIGKILLed creators and lock
//! holders, and every kind of bad segment.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_collections::ipc_core::shm::Shm;
use ipc_collections::ipc_core::ErrorKind;
use ipc_collections::{Error, Kind, Shared, SharedArray, SharedLayout, SharedMutex};
use ipc_testutil::proc_state::{gettid, task_state};
use ipc_testutil::{
    assert_one_creator_per_round, env, race, report, role, sigkill, spawn_role, unique_name,
    wait_for, wait_for_start, Cleanup,
};

#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    requests: AtomicU64,
    stage: AtomicU32,
    limit: u32,
    hist: SharedMutex<[u64; 8]>,
}

/// Another build's `Stats`: `hist` holds `u32`s.
mod v2 {
    use super::*;

    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub requests: AtomicU64,
        pub stage: AtomicU32,
        pub limit: u32,
        pub hist: SharedMutex<[u32; 8]>,
    }
}

#[derive(SharedLayout)]
#[repr(C)]
struct Config {
    id: u64,
    weights: [f64; 4],
}

/// How long the parent waits for a child's side of a handshake.
const HANDSHAKE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Cross-process use

#[test]
fn derived_struct_with_atomics_and_mutex_is_shared_by_separate_processes() {
    const WORKERS: usize = 3;
    const ROUNDS: u64 = 500;
    if role().as_deref() == Some("worker") {
        let stats = Shared::<Stats>::open(&env("NAME")).unwrap();
        assert!(!stats.created());
        assert_eq!(stats.limit, 42, "sees the creator's init");
        for i in 0..ROUNDS {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            let mut h = stats.hist.lock().unwrap();
            h[(i % 8) as usize] += 1;
        }
        report("done");
        return;
    }
    let name = unique_name("stats");
    let _c = Cleanup::shm(&name);
    let stats = Shared::<Stats>::create(&name, |s| {
        s.limit = 42;
        s.hist.get_mut()[0] = 1000;
    })
    .unwrap();
    assert!(stats.created());
    let children: Vec<_> = (0..WORKERS)
        .map(|_| {
            spawn_role(
                "derived_struct_with_atomics_and_mutex_is_shared_by_separate_processes",
                "worker",
                &[("NAME", &name)],
            )
        })
        .collect();
    for c in children {
        assert_eq!(c.wait_ok(), ["done"]);
    }
    let total = WORKERS as u64 * ROUNDS;
    assert_eq!(stats.requests.load(Ordering::Relaxed), total);
    let h = stats.hist.lock().unwrap();
    assert_eq!(h.iter().sum::<u64>(), 1000 + total, "no lost update: {h:?}");
    for (k, &v) in h.iter().enumerate() {
        let per_worker = (0..ROUNDS).filter(|i| i % 8 == k as u64).count() as u64;
        let init = if k == 0 { 1000 } else { 0 };
        assert_eq!(v, init + WORKERS as u64 * per_worker, "slot {k}");
    }
}

#[test]
fn another_layout_of_the_same_struct_is_a_mismatch_naming_the_field() {
    if role().as_deref() == Some("v2") {
        let e = Shared::<v2::Stats>::open(&env("NAME")).unwrap_err();
        match e.layout_mismatch_details() {
            Some(m) if e.kind() == ErrorKind::LayoutMismatch => {
                for d in &m.diffs {
                    report(d);
                }
            }
            _ => panic!("expected LayoutMismatch, got {e}"),
        }
        report(format!("msg {e}"));
        return;
    }
    let name = unique_name("v1v2");
    let _c = Cleanup::shm(&name);
    let _stats = Shared::<Stats>::create(&name, |_| {}).unwrap();
    let lines = spawn_role(
        "another_layout_of_the_same_struct_is_a_mismatch_naming_the_field",
        "v2",
        &[("NAME", &name)],
    )
    .wait_ok();
    assert!(
        lines.iter().any(|l| l.starts_with("field `hist")),
        "a diff names the field: {lines:?}"
    );
    let msg = lines.iter().find(|l| l.starts_with("msg ")).unwrap();
    assert!(msg.contains("hist"), "the message names the field: {msg}");
}

#[test]
fn read_only_open_in_another_process_reads_plain_data() {
    if role().as_deref() == Some("reader") {
        let name = env("NAME");
        let cfg = Shared::<Config>::options()
            .read_only(true)
            .open(&name)
            .unwrap();
        assert!(cfg.memory().is_read_only());
        report(format!("{} {:?}", cfg.id, cfg.weights));
        // A type with atomics would let safe code write through the read-only mapping.
        let e = Shared::<Stats>::options()
            .read_only(true)
            .open(&name)
            .unwrap_err();
        assert!(
            matches!(Some(e.kind()), Some(ErrorKind::InvalidInput)),
            "{e}"
        );
        return;
    }
    let name = unique_name("ro");
    let _c = Cleanup::shm(&name);
    let _cfg = Shared::<Config>::create(&name, |c| {
        c.id = 7;
        c.weights = [0.5, 1.5, 2.5, 3.5];
    })
    .unwrap();
    let lines = spawn_role(
        "read_only_open_in_another_process_reads_plain_data",
        "reader",
        &[("NAME", &name)],
    )
    .wait_ok();
    assert_eq!(lines, ["7 [0.5, 1.5, 2.5, 3.5]"]);
}

#[test]
fn open_or_create_raced_by_six_processes_has_exactly_one_creator() {
    const N: usize = 6;
    const ROUNDS: usize = 5;
    const GAP: Duration = Duration::from_millis(60);
    if role().as_deref() == Some("racer") {
        // Persist: a creator that finishes first must not unlink the name under the others.
        let opts = Shared::<Stats>::options().unlink_on_drop(false);
        for (i, name) in env("NAMES").split(',').enumerate() {
            wait_for_start(GAP * i as u32);
            let s = opts
                .open_or_create(name, |s| {
                    // Slow init: the others must wait for it, not see a half-made value.
                    std::thread::sleep(Duration::from_millis(20));
                    s.limit = 99;
                })
                .unwrap();
            assert_eq!(s.limit, 99, "saw the value only after its init");
            s.requests.fetch_add(1, Ordering::SeqCst);
            let info = s.info();
            report(format!(
                "{i} {} {}:{}",
                s.created(),
                info.creator_pid,
                info.creation_time_ns
            ));
        }
        return;
    }
    let names: Vec<String> = (0..ROUNDS).map(|_| unique_name("race")).collect();
    let _guards: Vec<Cleanup> = names.iter().map(|n| Cleanup::shm(n)).collect();
    let lines = race(
        "open_or_create_raced_by_six_processes_has_exactly_one_creator",
        "racer",
        N,
        &[("NAMES", &names.join(","))],
        Duration::from_millis(800),
    );
    assert_one_creator_per_round(&lines, ROUNDS, N);
    for (i, name) in names.iter().enumerate() {
        let s = Shared::<Stats>::open(name).unwrap();
        assert_eq!(s.requests.load(Ordering::SeqCst), N as u64, "round {i}");
    }
}

#[test]
fn create_in_raced_by_four_processes_has_one_winner_and_never_overwrites_a_live_segment() {
    const N: usize = 4;
    if role().as_deref() == Some("claimer") {
        // Every child maps the same zero-filled object and tries to create in it.
        let mem = Shm::open(&env("NAME")).unwrap();
        wait_for_start(Duration::ZERO);
        let me = std::process::id();
        match Shared::<Config, Shm>::create_in(mem, |c| c.id = u64::from(me)) {
            Ok(c) => {
                assert_eq!(c.id, u64::from(me));
                report(format!("won {me}"));
            }
            Err(e) if Some(e.kind()) == Some(ErrorKind::AlreadyExists) => report("lost"),
            Err(e) => panic!("unexpected error {e}"),
        }
        return;
    }
    let name = unique_name("claim");
    let _c = Cleanup::shm(&name);
    // One page: room for the value and for the array tried at the end.
    assert!(Shared::<Config, Shm>::segment_len().unwrap() <= 4096);
    let _raw = Shm::create(&name, 4096).unwrap();
    let lines = race(
        "create_in_raced_by_four_processes_has_one_winner_and_never_overwrites_a_live_segment",
        "claimer",
        N,
        &[("NAME", &name)],
        Duration::from_millis(800),
    );
    let winners: Vec<&String> = lines.iter().filter(|l| l.starts_with("won ")).collect();
    assert_eq!(winners.len(), 1, "exactly one creator: {lines:?}");
    assert_eq!(lines.len(), N, "{lines:?}");
    let winner: u64 = winners[0]["won ".len()..].parse().unwrap();
    let v = Shared::<Config, Shm>::open_in(Shm::open(&name).unwrap()).unwrap();
    assert_eq!(v.id, winner, "the segment holds the winner's value");
    // Creating again in the live segment is refused and leaves the value alone.
    let e = Shared::<Config, Shm>::create_in(Shm::open(&name).unwrap(), |c| c.id = 0).unwrap_err();
    assert_eq!(Some(e.kind()), Some(ErrorKind::AlreadyExists), "{e}");
    let e = SharedArray::<u8, Shm>::create_in(Shm::open(&name).unwrap(), &[8]).unwrap_err();
    assert_eq!(Some(e.kind()), Some(ErrorKind::AlreadyExists), "{e}");
    assert_eq!(v.id, winner);
}

// ---------------------------------------------------------------------------------------
// Crashes

/// The state word of a segment (offset 8 in FORMAT.md), read through a raw mapping.
fn state_of(shm: &Shm) -> u32 {
    // SAFETY: offset 8 is inside the mapping (at least one page) and 4-aligned; the word is
    // only ever accessed atomically.
    unsafe { (*shm.as_ptr().add(8).cast::<AtomicU32>()).load(Ordering::Acquire) }
}

#[test]
fn creator_killed_mid_init_is_creator_died() {
    if role().as_deref() == Some("stuck-creator") {
        let _s = Shared::<Stats>::create(&env("NAME"), |_| loop {
            std::thread::sleep(Duration::from_secs(1));
        });
        unreachable!("init never returns");
    }
    let name = unique_name("stuck");
    let _c = Cleanup::shm(&name);
    let mut child = spawn_role(
        "creator_killed_mid_init_is_creator_died",
        "stuck-creator",
        &[("NAME", &name)],
    );
    // Wait until the child is inside its init closure: state 1 (initialising).
    wait_for("the creator to start its init", HANDSHAKE, || {
        Shm::open(&name).is_ok_and(|shm| state_of(&shm) == 1)
    });
    // While it lives, an opener waits and times out.
    let opts = Shared::<Stats>::options().timeout(Duration::from_millis(50));
    let e = opts.open(&name).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InitTimeout), "{e}");

    let pid = child.pid();
    sigkill(pid);
    child.kill(); // reap
    let t = Instant::now();
    let e = Shared::<Stats>::open(&name).unwrap_err();
    assert!(e.kind() == ErrorKind::CreatorDied(pid), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2), "reported at once");
    // open_or_create removes the abandoned object and makes the segment again.
    let s = Shared::<Stats>::open_or_create(&name, |_| {}).unwrap();
    assert_eq!(s.info().creator_pid, std::process::id() as i32);
}

#[test]
fn creator_whose_init_panics_fails_a_waiting_opener_at_once() {
    if role().as_deref() == Some("panicking-creator") {
        let go = Shared::<AtomicU32>::open(&env("GO")).unwrap();
        let _s = Shared::<Stats>::create(&env("NAME"), |_| {
            // Fail only once the parent is waiting on the segment.
            while go.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            panic!("init fails on purpose");
        });
        unreachable!("init panics");
    }
    let name = unique_name("initfail");
    let _c = Cleanup::shm(&name);
    let go_name = unique_name("go");
    let _c2 = Cleanup::shm(&go_name);
    let go = Shared::<AtomicU32>::create(&go_name, |_| {}).unwrap();
    let mut child = spawn_role(
        "creator_whose_init_panics_fails_a_waiting_opener_at_once",
        "panicking-creator",
        &[("NAME", &name), ("GO", &go_name)],
    );
    // Map the segment while the creator is in its init (state 1), then wait on it.
    let mut raw = None;
    wait_for("the creator to start its init", HANDSHAKE, || {
        raw = Shm::open(&name).ok().filter(|shm| state_of(shm) == 1);
        raw.is_some()
    });
    let raw = raw.unwrap();
    let t = Instant::now();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let opener = std::thread::spawn(move || {
        tid_tx.send(gettid()).unwrap();
        Shared::<Stats, Shm>::open_in(raw)
    });
    // Let the creator fail only once the opener sleeps in its wait for the state.
    let opener_tid = tid_rx.recv().unwrap();
    wait_for("the opener to wait for Ready", HANDSHAKE, || {
        matches!(task_state(opener_tid), Some(('S', _)))
    });
    go.store(1, Ordering::SeqCst);
    let e = opener.join().unwrap().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InitFailed), "{e}");
    assert!(t.elapsed() < Duration::from_secs(4), "not a timeout");
    let status = child.wait_timeout(Duration::from_secs(30));
    assert!(!status.success(), "the creator's test panicked");
    assert!(
        !std::path::Path::new(&format!("/dev/shm{name}")).exists(),
        "the failed creator unlinked its name"
    );
}

/// Spawns `role` of `test`, which opens `name`, takes `stats.hist`, scribbles 999 into it
/// and signals stage 1; SIGKILLs it there.
fn kill_holder_of_hist(test: &str, stats: &Stats, name: &str) {
    stats.stage.store(0, Ordering::SeqCst);
    let mut child = spawn_role(test, "holder", &[("NAME", name)]);
    wait_for("the child to hold the lock", HANDSHAKE, || {
        stats.stage.load(Ordering::SeqCst) == 1
    });
    sigkill(child.pid());
    child.kill();
}

/// The `holder` role of the tests below.
fn hold_hist_until_killed() -> ! {
    let stats = Shared::<Stats>::open(&env("NAME")).unwrap();
    let mut h = stats.hist.lock().unwrap();
    h[0] = 999; // a half-done update
    stats.stage.store(1, Ordering::SeqCst);
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn is_poisoned(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Poisoned)
}

#[test]
fn holder_of_a_shared_mutex_killed_poisons_it_and_clear_poison_repairs() {
    const TEST: &str = "holder_of_a_shared_mutex_killed_poisons_it_and_clear_poison_repairs";
    if role().as_deref() == Some("holder") {
        hold_hist_until_killed();
    }
    let name = unique_name("holder");
    let _c = Cleanup::shm(&name);
    let stats = Shared::<Stats>::create(&name, |_| {}).unwrap();

    assert!(!stats.hist.is_poisoned(), "fresh");
    kill_holder_of_hist(TEST, &stats, &name);
    // Issue 20: poisoned as soon as the holder is dead, before anybody tries to lock.
    assert!(
        stats.hist.is_poisoned(),
        "the holder was killed; nobody has locked it since"
    );
    let e = stats.hist.lock().map(|_| ()).unwrap_err();
    assert!(is_poisoned(&e), "{e}");
    // Issue 20: the error and Debug name the segment the lock lives in.
    assert_eq!(e.name(), Some(name.as_str()), "{e}");
    let debug = format!("{:?}", stats.hist);
    assert!(debug.contains(&format!("{name:?}")), "{debug}");
    assert!(stats.hist.is_poisoned());
    // Sticky, and never a hang: every plain lock form says so at once.
    let t = Instant::now();
    assert!(is_poisoned(&stats.hist.try_lock().map(|_| ()).unwrap_err()));
    let e = stats
        .hist
        .lock_timeout(Duration::from_secs(5))
        .map(|_| ())
        .unwrap_err();
    assert!(is_poisoned(&e), "{e}");
    assert_eq!(e.name(), Some(name.as_str()), "{e}");
    assert!(t.elapsed() < Duration::from_secs(1));

    // Dropping a poisoned guard without clearing keeps it poisoned but usable.
    drop(stats.hist.lock_ignoring_poison().unwrap());
    assert!(stats.hist.is_poisoned());

    // The way back: lock through the poison, repair, clear.
    let mut g = stats.hist.lock_ignoring_poison().unwrap();
    assert!(g.is_poisoned());
    assert_eq!(g[0], 999, "sees the dead holder's partial write");
    g[0] = 0;
    g.clear_poison();
    assert!(!g.is_poisoned());
    drop(g);
    let g = stats.hist.lock().expect("clean lock after clear_poison");
    assert!(!g.is_poisoned());
    drop(g);

    // A second crash poisons it again.
    kill_holder_of_hist(TEST, &stats, &name);
    assert!(is_poisoned(&stats.hist.lock().map(|_| ()).unwrap_err()));
}

#[test]
fn poisoned_shared_mutex_is_reported_to_every_process_until_cleared() {
    const TEST: &str = "poisoned_shared_mutex_is_reported_to_every_process_until_cleared";
    if role().as_deref() == Some("late-locker") {
        let stats = Shared::<Stats>::open(&env("NAME")).unwrap();
        for _ in 0..2 {
            match stats.hist.lock_timeout(Duration::from_secs(2)) {
                Err(e) if is_poisoned(&e) => report("poisoned"),
                Err(e) => report(format!("other: {e}")),
                Ok(g) => report(format!("locked {}", g[0])),
            }
        }
        return;
    }
    if role().as_deref() == Some("holder") {
        hold_hist_until_killed();
    }
    let name = unique_name("poison");
    let _c = Cleanup::shm(&name);
    let stats = Shared::<Stats>::create(&name, |_| {}).unwrap();
    kill_holder_of_hist(TEST, &stats, &name);
    // This process takes the lock first (and so poisons it), drops the error.
    assert!(is_poisoned(&stats.hist.lock().map(|_| ()).unwrap_err()));
    let lines = spawn_role(TEST, "late-locker", &[("NAME", &name)]).wait_ok();
    assert_eq!(lines, ["poisoned", "poisoned"]);
    // Cleared here: the other process locks normally and sees the repair.
    let mut g = stats.hist.lock_ignoring_poison().unwrap();
    g[0] = 5;
    g.clear_poison();
    drop(g);
    let lines = spawn_role(TEST, "late-locker", &[("NAME", &name)]).wait_ok();
    assert_eq!(lines, ["locked 5", "locked 5"]);
}

/// Issue 10: a lock used with `?` in a function returning `Box<dyn Error>` compiles, and a
/// crashed holder followed by `?` does not make the lock unusable: the poison survives the
/// `?` (nothing is lost), and the documented recovery path works.
#[test]
fn lock_with_question_mark_in_a_box_dyn_error_fn_and_recovery_after_a_crash() {
    const TEST: &str = "lock_with_question_mark_in_a_box_dyn_error_fn_and_recovery_after_a_crash";
    if role().as_deref() == Some("holder") {
        hold_hist_until_killed();
    }
    fn bump(stats: &Stats) -> Result<u64, Box<dyn std::error::Error>> {
        let mut h = stats.hist.lock()?;
        h[1] += 1;
        Ok(h[1])
    }
    fn repair(stats: &Stats) -> ipc_collections::Result<()> {
        let mut h = stats.hist.lock_ignoring_poison()?;
        h[0] = 0;
        h.clear_poison();
        Ok(())
    }
    let name = unique_name("qmark");
    let _c = Cleanup::shm(&name);
    let stats = Shared::<Stats>::create(&name, |_| {}).unwrap();
    assert_eq!(bump(&stats).unwrap(), 1);
    kill_holder_of_hist(TEST, &stats, &name);
    let e = bump(&stats).unwrap_err();
    let e = e
        .downcast_ref::<Error>()
        .expect("an ipc_collections::Error");
    assert!(is_poisoned(e), "{e}");
    assert!(e.to_string().contains("poisoned"), "{e}");
    // The `?` lost nothing: still poisoned, still lockable.
    assert!(is_poisoned(
        &bump(&stats).unwrap_err().downcast::<Error>().unwrap()
    ));
    repair(&stats).unwrap();
    assert_eq!(bump(&stats).unwrap(), 2);
}

// ---------------------------------------------------------------------------------------
// Bad segments

/// Flips bit `bit` of byte `at` of the object `shm` maps.
fn flip(shm: &Shm, at: usize, bit: u8) {
    assert!(at < shm.len());
    // SAFETY: `at` is inside the writable mapping; no other thread or process uses the
    // segment during this test.
    unsafe { *shm.as_ptr().add(at) ^= 1 << bit };
}

#[test]
fn every_bit_flip_of_the_immutable_header_and_schema_is_an_error() {
    let name = unique_name("flip");
    let _c = Cleanup::shm(&name);
    let _s = Shared::<Stats>::create(&name, |s| s.limit = 5).unwrap();
    let raw = Shm::open(&name).unwrap();
    let schema_len = Stats::LAYOUT.schema().len();
    let opts = Shared::<Stats>::options().timeout(Duration::from_millis(1));
    let mut checked = 0;
    // Bytes 8..12 are the mutable state word; everything else up to the end of the schema
    // is immutable.
    for at in (0..256 + schema_len).filter(|b| !(8..12).contains(b)) {
        for bit in 0..8 {
            flip(&raw, at, bit);
            let r = opts.open(&name);
            flip(&raw, at, bit);
            match r {
                Err(e) if matches!(e.kind(), ErrorKind::Corrupted | ErrorKind::WrongType) => {
                    checked += 1
                }
                Err(e) => panic!("byte {at} bit {bit}: unexpected error {e}"),
                Ok(_) => panic!("byte {at} bit {bit}: flipped header accepted"),
            }
        }
    }
    assert_eq!(checked, (252 + schema_len) * 8);
    let s = Shared::<Stats>::open(&name).expect("intact again");
    assert_eq!(s.limit, 5);
}

#[test]
fn segments_too_small_for_header_or_payload_are_corrupted() {
    // Smaller than the header.
    let name = unique_name("tiny");
    let _c = Cleanup::shm(&name);
    let _raw = Shm::create(&name, 100).unwrap();
    let e = Shared::<Stats>::open(&name).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Corrupted), "{e}");

    // A valid array segment truncated: the header says more than the object holds.
    let name = unique_name("trunc");
    let _c = Cleanup::shm(&name);
    let a = SharedArray::<f64>::create(&name, &[64, 64]).unwrap();
    let new_len = a.info().payload.start as libc::off_t + 8;
    let raw = Shm::open(&name).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: ftruncate on a valid fd; nobody maps beyond the new size afterwards (the
    // existing mappings are not touched past it by this test).
    assert_eq!(unsafe { libc::ftruncate(raw.fd().as_raw_fd(), new_len) }, 0);
    let e = SharedArray::<f64>::open(&name).unwrap_err();
    match e.kind() {
        ErrorKind::Corrupted => assert!(
            e.detail().is_some_and(|r| r.contains("past the object")),
            "{e}"
        ),
        _ => panic!("expected Corrupted, got {e}"),
    }
    // `a`'s mapping now extends past the object's end; dropping it only unmaps it.
    drop(raw);
    drop(a);
}

#[test]
fn objects_of_another_kind_are_wrong_kind() {
    let name = unique_name("kind");
    let _c = Cleanup::shm(&name);
    let _a = SharedArray::<u64>::create(&name, &[4]).unwrap();
    let e = Shared::<u64>::open(&name).unwrap_err();
    assert!(
        e.kind() == ErrorKind::WrongType
            && e.detail() == Some(&*format!("expected {}, found {}", Kind::Value, Kind::Array)),
        "{e}"
    );

    let name = unique_name("kind");
    let _c = Cleanup::shm(&name);
    let _v = Shared::<u64>::create(&name, |_| {}).unwrap();
    let e = SharedArray::<u64>::open(&name).unwrap_err();
    assert!(
        e.kind() == ErrorKind::WrongType
            && e.detail()
                .is_some_and(|d| d.starts_with(&format!("expected {}", Kind::Array))),
        "{e}"
    );

    // A shm object that is not a segment at all.
    let name = unique_name("foreign");
    let _c = Cleanup::shm(&name);
    let raw = Shm::create(&name, 4096).unwrap();
    // SAFETY: the first 64 bytes are inside the fresh mapping that only this test uses.
    unsafe { raw.as_ptr().write_bytes(0x5a, 64) };
    let e = Shared::<u64>::open(&name).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::WrongType), "{e}");

    // All zeros: indistinguishable from a creator that has not written its header yet, so
    // an opener waits and times out.
    let name = unique_name("zeros");
    let _c = Cleanup::shm(&name);
    let _raw = Shm::create(&name, 4096).unwrap();
    let opts = Shared::<u64>::options().timeout(Duration::from_millis(30));
    let e = opts.open(&name).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InitTimeout), "{e}");
}

#[test]
fn the_open_timeout_bounds_the_whole_open_not_each_wait() {
    // An object that stays at size 0 for most of the timeout, then is sized but never
    // published (state 0): the opener's wait for the size and its wait for the state share
    // one deadline.
    let name = unique_name("slow");
    let _c = Cleanup::shm(&name);
    let c_name = std::ffi::CString::new(name.clone()).unwrap();
    // SAFETY: a valid NUL-terminated name; the returned fd is owned below.
    let fd = unsafe {
        libc::shm_open(
            c_name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
            0o600,
        )
    };
    assert!(fd >= 0, "shm_open failed");
    // SAFETY: fd was just returned by shm_open and is owned by nobody else.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let sizer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        use std::os::fd::AsRawFd;
        // SAFETY: ftruncate on a valid fd.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 4096) }, 0);
    });
    let timeout = Duration::from_secs(1);
    let t = Instant::now();
    let e = Shared::<u64>::options()
        .timeout(timeout)
        .open(&name)
        .unwrap_err();
    let took = t.elapsed();
    sizer.join().unwrap();
    assert!(
        e.kind() == ErrorKind::InitTimeout
            && e.detail()
                .is_some_and(|d| d.starts_with(&format!("waited {timeout:?}"))),
        "{e}"
    );
    // Separate deadlines would give up only after 0.7 s + 1 s.
    assert!(took < Duration::from_millis(1500), "gave up after {took:?}");
}

#[test]
fn inspect_reads_any_segment_without_its_type() {
    let name = unique_name("inspect");
    let _c = Cleanup::shm(&name);
    let _a = SharedArray::<f32>::create(&name, &[2, 7]).unwrap();
    let info = ipc_collections::inspect(&name).unwrap();
    assert_eq!(info.kind, Kind::Array);
    assert_eq!(info.type_name, "f32");
    assert_eq!(info.schema, "f32(4/4)");
    assert_eq!(info.dims, vec![2, 7]);
    assert_eq!(info.payload.len(), 2 * 7 * 4);
    assert_eq!(info.creator_pid, std::process::id() as i32);

    let name = unique_name("inspect");
    let _c = Cleanup::shm(&name);
    let _s = Shared::<Stats>::create(&name, |_| {}).unwrap();
    let info = ipc_collections::inspect(&name).unwrap();
    assert_eq!(info.kind, Kind::Value);
    assert_eq!(info.schema, Stats::LAYOUT.schema());
    assert_eq!(info.fingerprint, Stats::LAYOUT.fingerprint());
}

// ---------------------------------------------------------------------------------------
// Lifetime

#[test]
fn creator_unlinks_on_drop_unless_kept_and_openers_never_unlink() {
    let name = unique_name("life");
    let _c = Cleanup::shm(&name);
    let path = format!("/dev/shm{name}");

    let s = Shared::<u64>::create(&name, |v| *v = 1).unwrap();
    let o = Shared::<u64>::open(&name).unwrap();
    drop(o);
    assert!(
        std::path::Path::new(&path).exists(),
        "an opener never unlinks"
    );
    drop(s);
    assert!(!std::path::Path::new(&path).exists(), "the creator unlinks");
    let e = Shared::<u64>::open(&name).unwrap_err();
    assert!(matches!(Some(e.kind()), Some(ErrorKind::NotFound)), "{e}");

    let mut s = Shared::<u64>::create(&name, |v| *v = 2).unwrap();
    assert!(s.created() && s.unlinks_on_drop());
    s.set_unlink_on_drop(false);
    assert!(!s.unlinks_on_drop());
    drop(s);
    assert_eq!(*Shared::<u64>::open(&name).unwrap(), 2, "kept");
    ipc_collections::unlink(&name).unwrap();
    assert!(!std::path::Path::new(&path).exists());
    let e = ipc_collections::unlink(&name).unwrap_err();
    assert!(matches!(Some(e.kind()), Some(ErrorKind::NotFound)), "{e}");
}

#[test]
fn a_forked_copy_of_the_creators_handle_does_not_unlink() {
    let name = unique_name("forkcopy");
    let _c = Cleanup::shm(&name);
    let path = format!("/dev/shm{name}");
    let s = std::cell::RefCell::new(Some(Shared::<u64>::create(&name, |v| *v = 3).unwrap()));
    // The child drops its copy of the creator's handle; only the parent's may unlink.
    let ok = ipc_testutil::fork_run(ipc_testutil::WATCHDOG, || {
        drop(s.borrow_mut().take());
        std::path::Path::new(&path).exists()
    });
    ok.expect("the child's drop removed the name");
    assert!(std::path::Path::new(&path).exists());
    assert_eq!(*Shared::<u64>::open(&name).unwrap(), 3);
    drop(s);
    assert!(!std::path::Path::new(&path).exists(), "the creator unlinks");
}

#[test]
fn exclusive_create_of_a_taken_name_and_bad_names_are_errors() {
    let name = unique_name("excl");
    let _c = Cleanup::shm(&name);
    let _s = Shared::<u64>::create(&name, |_| {}).unwrap();
    let e = Shared::<u64>::create(&name, |_| {}).unwrap_err();
    assert!(
        matches!(Some(e.kind()), Some(ErrorKind::AlreadyExists)),
        "{e}"
    );
    for bad in ["", "no-slash", "/a/b"] {
        let e = Shared::<u64>::create(bad, |_| {}).unwrap_err();
        assert!(
            matches!(Some(e.kind()), Some(ErrorKind::InvalidName)),
            "{bad:?}: {e}"
        );
    }
}

/// Issue 20: errors of a lock inside a `Shared<T>` name the segment (found from the lock's
/// address), for the mutex and the rwlock, and `Debug` shows it.
#[test]
fn lock_errors_inside_a_shared_value_name_the_segment() {
    #[derive(SharedLayout)]
    #[repr(C)]
    struct Locks {
        m: SharedMutex<u64>,
        rw: ipc_collections::SharedRwLock<u64>,
    }
    let name = unique_name("lockname");
    let _c = Cleanup::shm(&name);
    let locks = Shared::<Locks>::create(&name, |_| {}).unwrap();
    let g = locks.m.lock().unwrap();
    // Error-checking mutex: relocking from the holding thread is EDEADLK, not a hang.
    let e = locks
        .m
        .lock_timeout(Duration::from_secs(5))
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Os(_)), "{e}");
    assert_eq!(
        e.errno(),
        Some(ipc_collections::ipc_core::Errno::EDEADLK),
        "{e}"
    );
    assert_eq!(e.name(), Some(name.as_str()), "{e}");
    drop(g);
    let w = locks.rw.write().unwrap();
    let e = locks.rw.read().map(|_| ()).unwrap_err();
    assert_eq!(
        e.errno(),
        Some(ipc_collections::ipc_core::Errno::EDEADLK),
        "{e}"
    );
    assert_eq!(e.name(), Some(name.as_str()), "{e}");
    drop(w);
    let debug = format!("{:?}", locks.m);
    assert!(debug.contains(&format!("{name:?}")), "{debug}");
}
