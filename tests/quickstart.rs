//! The root examples as integration tests: each is a separately built binary doing real
//! cross-process work (found next to this test's executable, in `target/<profile>/examples`).

use std::path::PathBuf;
use std::process::{Command, Output};

use ipc_testutil::{run_with_watchdog, unique_name, Cleanup, WATCHDOG};

/// The path of example `name`, built by `cargo test` alongside this test.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/quickstart-HASH -> target/<profile>/examples/NAME
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built (cargo test builds the examples)",
        path.display()
    );
    path
}

/// Runs an example with a watchdog of 60 s and returns its output.
fn run(name: &str, args: &[&str]) -> Output {
    run_with_watchdog(Command::new(example(name)).args(args), WATCHDOG)
}

/// Runs an example that must succeed and returns what it printed.
fn run_ok(name: &str, args: &[&str]) -> String {
    let out = run(name, args);
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The names in /dev/shm that start with `prefix`.
fn leftovers(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn quickstart_second_process_works_on_all_three_objects_and_nothing_is_left() {
    let out = run("quickstart", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("quickstart: ok"), "{stdout}");
    assert!(
        stdout.contains("worker "),
        "the second process ran: {stdout}"
    );
    // The example names its objects /ipc-quickstart-<its pid>-*.
    let pid = out_pid(&stdout);
    assert!(leftovers(&format!("ipc-quickstart-{pid}-")).is_empty());
}

/// The creator's pid, from the worker's line "... opened /ipc-quickstart-PID-stats ...".
fn out_pid(stdout: &str) -> String {
    let at = stdout.find("/ipc-quickstart-").expect("names printed") + "/ipc-quickstart-".len();
    stdout[at..].split('-').next().unwrap().to_owned()
}

#[test]
fn shared_counter_loses_no_increment() {
    let out = run("shared_counter", &["3", "2000"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("= 6000 in"), "{stdout}");
}

#[test]
fn shared_array_workers_fill_their_rows() {
    let name = unique_name("demo-grid");
    let _c = Cleanup::shm(&name);
    let out = run("shared_array", &["--persist", &name]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("[20.5, 21.5, 22.5, 23.5, 24.5]"),
        "{stdout}"
    );
    assert!(std::path::Path::new(&format!("/dev/shm{name}")).exists());
    let out = run("shared_array", &["--unlink", &name]);
    assert!(out.status.success());
    assert!(!std::path::Path::new(&format!("/dev/shm{name}")).exists());
}

#[test]
fn separately_built_binaries_with_the_same_layout_share_a_derived_struct() {
    let name = unique_name("stats-v1v1");
    let _c = Cleanup::shm(&name);
    run_ok("stats_v1", &[&name]);
    for expected in ["requests=42 hist[5]=7\n", "requests=43 hist[5]=7\n"] {
        assert_eq!(
            run_ok("stats_v1_reader", &[&name]),
            expected,
            "each reader sees the creator's values and the previous reader's increment"
        );
    }
    run_ok("stats_v1_reader", &["--unlink", &name]);
    assert!(!std::path::Path::new(&format!("/dev/shm{name}")).exists());
}

#[test]
fn separately_built_binaries_with_different_layouts_get_layout_mismatch() {
    let name = unique_name("stats-v1v2");
    let _c = Cleanup::shm(&name);
    run_ok("stats_v1", &[&name]);
    let out = run("stats_v2", &[&name]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("refused:"), "{stdout}");
    assert!(
        stdout.contains("field `errors`"),
        "names the added field: {stdout}"
    );
    assert!(
        stdout.contains("field `hist"),
        "names the changed field: {stdout}"
    );
}

// ---- the seed workflows of issue 11 (each example checks its own result and prints
// "NAME: ok"; the names it makes start with /ipc-NAME-PID and must all be gone) ----

/// Runs a seed example, checks it reported success, and that it left nothing in /dev/shm
/// under its prefix (its own pid is in every name it makes).
fn run_seed(name: &str, prefix: &str) -> String {
    let stdout = run_ok(name, &[]);
    assert!(stdout.contains(&format!("{name}: ok")), "{stdout}");
    assert!(
        leftovers(prefix).is_empty(),
        "{name} left {:?}",
        leftovers(prefix)
    );
    stdout
}

#[test]
fn any_array_second_process_prints_an_array_it_did_not_name_the_type_of() {
    let out = run_seed("any_array", "ipc-any-array-");
    assert!(
        out.contains("i32 [2, 3] [[1, 2, 3], [40, 50, 60]]"),
        "{out}"
    );
    assert!(out.contains("sum 156"), "{out}");
}

#[test]
fn array_view_processes_add_through_views_of_a_plain_object() {
    let out = run_seed("array_view", "ipc-array-view-");
    assert!(out.contains("[2012, 2013, 2014, 2015]"), "{out}");
}

#[test]
fn process_shared_counter_hand_off_and_slots_work_across_fork() {
    let out = run_seed("process_shared", "ipc-process-shared-");
    assert!(out.contains("counter: 100 + 10000 - 10000 = 100"), "{out}");
    assert!(out.contains("the child answered 42"), "{out}");
    assert!(out.contains("slots: [11, 22, 33, 44]"), "{out}");
}

#[test]
fn unique_names_are_handed_to_a_child_and_removed() {
    let out = run_seed("unique_names", "ipc-unique-names-");
    assert!(out.contains("read: hello from the child"), "{out}");
    // The semaphore lives in /dev/shm as sem.NAME.
    assert!(leftovers("sem.ipc-unique-names-").is_empty());
}

#[test]
fn shm_resize_grows_under_a_peer_and_shrinks_alone() {
    let out = run_seed("shm_resize", "ipc-shm-resize-");
    assert!(
        out.contains("the old mapping still reads \"head\" (4096 bytes)"),
        "{out}"
    );
    assert!(out.contains("shrank to 8192 bytes"), "{out}");
}

#[test]
fn mq_callback_sees_every_message_of_another_process() {
    let out = run_seed("mq_callback", "ipc-mq-callback-");
    assert!(out.contains("callback got \"three\""), "{out}");
    let left: Vec<_> = std::fs::read_dir("/dev/mqueue")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("ipc-mq-callback-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn atomic_array_workers_lose_no_hit_without_the_lock() {
    let out = run_seed("atomic_array", "ipc-atomic-array-");
    assert!(out.contains("total 30000"), "{out}");
}

#[test]
fn ring_producer_and_consumer_programs_talk_through_a_named_ring_and_leave_nothing() {
    let name = unique_name("ringex");
    let _c = Cleanup::shm(&name);
    // The consumer first (it creates the ring and waits), then the producer; and the other
    // way round.
    for consumer_first in [true, false] {
        let spawn = |prog: &str| {
            std::process::Command::new(example(prog))
                .args([name.as_str(), "50000"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = if consumer_first {
            ("ring_consumer", "ring_producer")
        } else {
            ("ring_producer", "ring_consumer")
        };
        let mut a = spawn(first);
        // Start the second once the first created the ring and blocks in it (the consumer
        // waiting for data, the producer on the full ring): asleep in a futex wait.
        let pid = a.id() as i32;
        ipc_testutil::wait_for_child(
            pid,
            &format!("{first} to block in the ring"),
            WATCHDOG,
            || {
                std::path::Path::new(&format!("/dev/shm{name}")).exists()
                    && ipc_testutil::proc_state::all_threads_sleep(pid, "futex")
            },
        );
        let mut b = spawn(second);
        let mut out = String::new();
        for (child, prog) in [(&mut a, first), (&mut b, second)] {
            let status = ipc_testutil::wait_child(child, prog, WATCHDOG);
            let mut text = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut text).unwrap();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut text).unwrap();
            assert!(
                status.success(),
                "{prog} (consumer_first={consumer_first}): {text}"
            );
            out += &text;
        }
        assert!(
            out.contains("ring_consumer: 50000 readings from")
                && out.contains("in order, checksums ok")
                && out.contains("ring_producer: sent 50000 readings"),
            "consumer_first={consumer_first}: {out}"
        );
        assert!(
            leftovers(name.trim_start_matches('/')).is_empty(),
            "the consumer removed the ring"
        );
    }
}

#[test]
fn an_error_returned_out_of_main_names_the_operation_and_the_ring() {
    let name = unique_name("ringerr");
    let _c = Cleanup::shm(&name);
    let out = run("ring_timeout", &[&name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `?` out of `main` prints the error's Debug form: the message, naming op and ring.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end(), format!("Error: pop {name:?}: timed out"));
    assert!(
        leftovers(name.trim_start_matches('/')).is_empty(),
        "the ring is removed"
    );
}

#[cfg(feature = "serde")]
#[test]
fn object_transfer_moves_serde_objects_from_a_forked_child() {
    let out = run_ok("object_transfer", &[]);
    assert!(out.contains("the child wrote 100 jobs"), "{out}");
}
