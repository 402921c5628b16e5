//! Issue 19: `open_or_create` on a segment whose creator was SIGKILLed before publishing
//! it: several real processes race on the abandoned name; exactly one removes it and
//! creates the segment again, all of them end up with that one usable segment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipc_collections::ipc_core::ErrorKind;
use ipc_collections::{Shared, SharedArray};
use ipc_testutil::{
    assert_one_creator_per_round, race, role, sigkill, spawn_role, unique_name, wait_for,
    wait_for_start, Cleanup, WATCHDOG,
};

const TEST: &str = "racing_reclaimers_exactly_one_recreates_an_abandoned_segment";
const RACERS: usize = 4;
const ROUNDS: usize = 3;

/// Whether the object `name` holds a header in state 1 (initialising): the creator is
/// inside its init (FORMAT.md: the state word at offset 8).
fn initialising(name: &str) -> bool {
    let Ok(bytes) = std::fs::read(format!("/dev/shm{name}")) else {
        return false;
    };
    bytes.get(8..12) == Some(&1u32.to_ne_bytes()[..])
}

/// A creator SIGKILLed inside its init: the name is left, unpublished, lock free.
fn abandoned(name: &str) -> i32 {
    let mut child = spawn_role(TEST, "stuck-creator", &[("NAME", name)]);
    wait_for("the creator to start its init", WATCHDOG, || {
        initialising(name)
    });
    let pid = child.pid();
    sigkill(pid);
    child.kill(); // reap
    let e = SharedArray::<u64>::open(name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CreatorDied(pid), "{e}");
    pid
}

#[test]
fn racing_reclaimers_exactly_one_recreates_an_abandoned_segment() {
    match role().as_deref() {
        Some("stuck-creator") => {
            let _a = SharedArray::<u64>::options().dims(&[1024]).create(
                &ipc_testutil::env("NAME"),
                |_| loop {
                    std::thread::sleep(Duration::from_secs(1));
                },
            );
            unreachable!("init never returns");
        }
        Some("reclaimer") => {
            let name = ipc_testutil::env("NAME");
            let round = ipc_testutil::env("ROUND");
            let done = Shared::<AtomicU64>::open(&ipc_testutil::env("DONE")).unwrap();
            wait_for_start(Duration::ZERO);
            let a = SharedArray::<u64>::options()
                .dims(&[1024])
                .open_or_create(&name, |e| e[0] = 42)
                .unwrap();
            assert_eq!(a.lock().unwrap()[0], 42, "initialised by the one creator");
            let info = a.info();
            ipc_testutil::report(format!(
                "{round} {} {}:{}",
                a.created(),
                info.creator_pid,
                info.creation_time_ns
            ));
            // Keep the segment until every racer has it (the creator's handle unlinks it).
            done.fetch_add(1, Ordering::SeqCst);
            wait_for("every racer", WATCHDOG, || {
                done.load(Ordering::SeqCst) == RACERS as u64
            });
            return;
        }
        _ => {}
    }
    for round in 0..ROUNDS {
        let name = unique_name("reclaim");
        let _c = Cleanup::shm(&name);
        let done_name = unique_name("reclaim-done");
        let _cd = Cleanup::shm(&done_name);
        let _done = Shared::<AtomicU64>::create(&done_name, |_| {}).unwrap();
        let dead = abandoned(&name);
        let round_s = round.to_string();
        let lines = race(
            TEST,
            "reclaimer",
            RACERS,
            &[("NAME", &name), ("DONE", &done_name), ("ROUND", &round_s)],
            Duration::from_millis(300),
        );
        // Reported as round 0 each time: one round per race.
        let lines: Vec<String> = lines
            .iter()
            .map(|l| l.replacen(&format!("{round} "), "0 ", 1))
            .collect();
        assert_one_creator_per_round(&lines, 1, RACERS);
        assert!(
            lines.iter().all(|l| !l.contains(&format!(" {dead}:"))),
            "the dead creator's segment was never handed out: {lines:?}"
        );
        assert!(
            !std::path::Path::new(&format!("/dev/shm{name}")).exists(),
            "the new creator's handle removed the name"
        );
    }
}
