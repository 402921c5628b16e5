//! `ipc ring create|push|pop|status` and the ring view of `ls` and `inspect`, run as a
//! separate process (CARGO_BIN_EXE_ipc) against real rings: frames between the tool and
//! Rust programs (test roles) in both directions, timeouts and disconnection, liveness of a
//! SIGKILLed consumer, wrong kinds, and `gc` of a ring whose creator died during init.
//! Every run of the tool and every child has a watchdog; every ring is removed by a
//! Cleanup guard, also on failure.

use std::io::Read as _;
use std::os::fd::FromRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use ipc_collections::format::Header;
use ipc_collections::{ByteRing, MpmcRing, SharedArray, SpscRing};
use ipc_core::shm::Shm;
use ipc_testutil::{
    role, run_with_watchdog, sigkill, spawn_role, unique_name, wait_child, wait_for, Cleanup,
    WATCHDOG,
};
use serde_json::Value;

/// What one run of the tool gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(o: std::process::Output) -> Self {
        Run {
            code: o.status.code().expect("ipc killed by a signal"),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `ipc ARGS` with a watchdog (killed and failed after [`WATCHDOG`]).
fn ipc(args: &[&str]) -> Run {
    run_with_watchdog(Command::new(env!("CARGO_BIN_EXE_ipc")).args(args), WATCHDOG).into()
}

/// Starts `ipc ARGS` with stdin, stdout and stderr piped.
fn spawn_ipc(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipc")
}

/// Runs `ipc ARGS` with `input` on stdin, with a watchdog.
fn ipc_stdin(args: &[&str], input: &[u8]) -> Run {
    let mut child = spawn_ipc(args);
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
    }
    let status = wait_child(&mut child, "ipc (stdin)", WATCHDOG);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_end(&mut err).unwrap();
    Run::from(std::process::Output {
        status,
        stdout: out,
        stderr: err,
    })
}

fn json(r: &Run) -> Value {
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

/// The `ls --json` object of `name`.
fn ls_object(name: &str) -> Value {
    let r = ipc(&["ls", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    json(&r)["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {r:?}"))
        .clone()
}

/// The table row `ipc ls` prints for `name`.
fn ls_row(name: &str) -> String {
    let r = ipc(&["ls"]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("{name} not listed:\n{}", r.stdout))
        .to_owned()
}

#[test]
fn push_and_pop_round_trip_through_the_tool() {
    let name = unique_name("ring-rt");
    let _c = Cleanup::shm(&name);
    let r = ipc(&["ring", "create", &name, "--capacity", "4096"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!("created byte ring {name} (4096 bytes, frames up to 2040 bytes)\n")
    );
    // Kept after the tool exits, and a byte ring the library opens.
    assert_eq!(ByteRing::open(&name).unwrap().capacity(), 4096);

    assert_eq!(ipc(&["ring", "push", &name, "hello world"]).code, 0);
    assert_eq!(ipc(&["ring", "push", &name, "-starts-with-a-dash"]).code, 0);
    // stdin: one frame a line, without its newline; an empty line is an empty frame, the
    // last line needs no newline; control characters and bytes that are not UTF-8 pass.
    let input = ["grüße".as_bytes(), b"\n\nesc \x1b[2J\nbad \xff\nlast"].concat();
    let r = ipc_stdin(&["ring", "push", &name], &input);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");

    let st = json(&ipc(&["ring", "status", "--json", &name]));
    assert_eq!(st["version"], 1);
    assert_eq!(st["ring"]["flavor"], "bytes");
    assert_eq!(st["ring"]["capacity"], 4096);
    assert_eq!(st["ring"]["max_frame"], 2040);
    assert_eq!(st["ring"]["head"], 0);
    // Seven records of 8 bytes of header plus the payload rounded up to 8.
    let payloads: [usize; 7] = [11, 19, 7, 0, 8, 5, 4];
    let used: usize = payloads.iter().map(|n| 8 + n.next_multiple_of(8)).sum();
    assert_eq!(st["ring"]["len"], used);
    assert_eq!(st["ring"]["producers"], Value::Array(vec![]));

    let r = ipc(&["ring", "pop", &name, "--count", "7", "--timeout", "10"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "hello world\n-starts-with-a-dash\ngrüße\n\nesc \\u{1b}[2J\nbad \\xff\nlast\n"
    );
    // --raw writes the bytes exactly.
    assert_eq!(ipc(&["ring", "push", &name, "raw\tbytes"]).code, 0);
    let o = run_with_watchdog(
        Command::new(env!("CARGO_BIN_EXE_ipc")).args(["ring", "pop", &name, "--raw"]),
        WATCHDOG,
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(o.stdout, b"raw\tbytes");

    // Drained, and the producer (the last `ipc ring push`) has left: disconnected, at once.
    let r = ipc(&["ring", "pop", &name, "--timeout", "30"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        format!("ipc: {name}: disconnected: the producer left and the ring is drained\n")
    );
    let st = json(&ipc(&["ring", "status", "--json", &name]));
    assert_eq!(st["ring"]["len"], 0);

    // Bad usage is exit 2; a frame above the largest is exit 1 naming both sizes.
    assert_eq!(ipc(&["ring", "pop", &name, "--count", "0"]).code, 2);
    assert_eq!(ipc(&["ring", "create", &name]).code, 2);
    let big = "x".repeat(2041);
    let r = ipc(&["ring", "push", &name, &big]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("2041 bytes is larger than the ring's largest frame (2040"),
        "{r:?}"
    );
    let r = ipc(&["ring", "create", &format!("{name}-x"), "--capacity", "100"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not a power of two"), "{r:?}");
    let r = ipc(&["ring", "create", &name, "--capacity", "64"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("already exists"), "{r:?}");

    let r = ipc(&["rm", &name]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn a_rust_producer_feeds_ipc_ring_pop() {
    if role().as_deref() == Some("producer") {
        let ring = ByteRing::open(&ipc_testutil::env("RING")).unwrap();
        let mut tx = ring.producer().unwrap();
        for f in [&b"first"[..], b"second frame", b"\x00\x01binary"] {
            tx.send(f, Some(WATCHDOG)).unwrap();
        }
        ipc_testutil::report("sent");
        return;
    }
    let name = unique_name("ring-prod");
    let _c = Cleanup::shm(&name);
    let ring = ByteRing::create(&name, 1024).unwrap();
    // The tool waits first (nobody has produced yet: it waits rather than disconnects),
    // then the program produces.
    let mut pop = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(["ring", "pop", &name, "--count", "3", "--timeout", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("ipc ring pop to attach", WATCHDOG, || {
        ring.status().consumers.len() == 1
    });
    let producer = spawn_role(
        "a_rust_producer_feeds_ipc_ring_pop",
        "producer",
        &[("RING", &name)],
    );
    assert_eq!(producer.wait_ok(), ["sent"]);
    let status = wait_child(&mut pop, "ipc ring pop", WATCHDOG);
    let mut out = String::new();
    pop.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out, "first\nsecond frame\n\\u{0}\\u{1}binary\n");
    // The producer's process exited: the next pop drains nothing and says so.
    let r = ipc(&["ring", "pop", &name, "--timeout", "30"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("disconnected"), "{r:?}");
    assert!(ring.status().consumers.is_empty());
}

#[test]
fn ipc_ring_push_feeds_a_rust_consumer() {
    if role().as_deref() == Some("consumer") {
        let ring = ByteRing::open(&ipc_testutil::env("RING")).unwrap();
        let mut rx = ring.consumer().unwrap();
        ipc_testutil::report("attached");
        loop {
            match rx.recv(Some(WATCHDOG)) {
                Ok(f) => ipc_testutil::report(format!("frame {:?}", &*f)),
                Err(e) => {
                    let kind = e.kind();
                    ipc_testutil::report(format!("end {kind:?}"));
                    return;
                }
            }
        }
    }
    let name = unique_name("ring-cons");
    let _c = Cleanup::shm(&name);
    let ring = ByteRing::create(&name, 256).unwrap();
    let consumer = spawn_role(
        "ipc_ring_push_feeds_a_rust_consumer",
        "consumer",
        &[("RING", &name)],
    );
    let pid = consumer.pid();
    wait_for("the consumer to attach", WATCHDOG, || {
        ring.status().consumers.len() == 1
    });
    // The byte ring has one consumer: the tool says who holds it.
    let r = ipc(&["ring", "pop", &name, "--timeout", "1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "busy: the ring already has a consumer (pid {pid} (alive))"
        )),
        "{r:?}"
    );
    // 40 frames of 16-byte records, 640 bytes through a 256-byte ring: push waits for room.
    let lines: String = (0..40).map(|i| format!("line {i}\n")).collect();
    let r = ipc_stdin(
        &["ring", "push", &name, "--timeout", "30"],
        lines.as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let mut want = vec!["attached".to_owned()];
    want.extend((0..40).map(|i| format!("frame {:?}", format!("line {i}").as_bytes())));
    // `ipc ring push` exited after its last frame: the consumer drains, then sees the
    // producer gone.
    want.push("end Disconnected".into());
    assert_eq!(consumer.wait_ok(), want);
}

#[test]
fn pop_and_push_timeouts_are_timeouts() {
    let (fresh, full) = (unique_name("ring-to"), unique_name("ring-to"));
    let _c = (Cleanup::shm(&fresh), Cleanup::shm(&full));
    let _fresh = ByteRing::create(&fresh, 64).unwrap();
    // Nobody ever produced: pop waits its timeout, then says so.
    let t0 = std::time::Instant::now();
    let r = ipc(&["ring", "pop", &fresh, "--timeout", "0.3"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        r.stderr,
        format!("ipc: {fresh}: timed out: no frame within 0.3 s\n")
    );
    // A full ring that no consumer ever attached to: push waits for room, then times out.
    let ring = ByteRing::create(&full, 64).unwrap();
    {
        let mut tx = ring.producer().unwrap();
        while let Ok(true) = tx.try_send(&[7; 24]) {}
    }
    let t0 = std::time::Instant::now();
    let r = ipc(&["ring", "push", &full, "x", "--timeout", "0.2"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        r.stderr,
        format!(
            "ipc: {full}: timed out: no room for a frame of 1 bytes within 0.2 s (0 frames \
             sent)\n"
        )
    );
    // --count: what arrived is printed, the message counts it. The producers have left,
    // so the ring ends disconnected rather than timed out.
    let r = ipc(&["ring", "pop", &full, "--count", "5", "--timeout", "0.2"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 2, "{r:?}");
    assert!(
        r.stderr.contains(
            "disconnected: the producer left and the ring is drained (2 of 5 frames received)"
        ),
        "{r:?}"
    );
    // Full again, and the consumer (that pop) has left: push says so instead of waiting.
    {
        let mut tx = ring.producer().unwrap();
        while let Ok(true) = tx.try_send(&[7; 24]) {}
    }
    let r = ipc(&["ring", "push", &full, "x", "--timeout", "30"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "ipc: {full}: disconnected: the consumer left and the ring is full (0 frames sent)\n"
        )
    );
}

#[test]
fn inspect_and_ls_show_a_live_and_a_killed_consumer() {
    if role().as_deref() == Some("consumer") {
        let ring = MpmcRing::<u64>::open(&ipc_testutil::env("RING")).unwrap();
        let _rx = ring.consumer().unwrap();
        ipc_testutil::report("attached");
        // Stays attached until the parent kills it (the watchdog is the parent's).
        ipc_testutil::shared_mem::park_forever();
    }
    let name = unique_name("ring-live");
    let _c = Cleanup::shm(&name);
    let ring = MpmcRing::<u64>::create(&name, 16).unwrap();
    let mut tx = ring.producer().unwrap();
    tx.push(5, None).unwrap();
    const TEST: &str = "inspect_and_ls_show_a_live_and_a_killed_consumer";
    let mut live = spawn_role(TEST, "consumer", &[("RING", &name)]);
    let mut doomed = spawn_role(TEST, "consumer", &[("RING", &name)]);
    wait_for("both consumers to attach", WATCHDOG, || {
        ring.status().consumers.len() == 2
    });
    let (live_pid, dead_pid) = (live.pid(), doomed.pid());
    sigkill(dead_pid);
    doomed.wait_timeout(WATCHDOG);
    let me = std::process::id() as i32;

    let r = ipc(&["inspect", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    for want in [
        "ring:\n  flavour:       MPMC ring\n  capacity:      16 slots of 8 bytes\n  length:        1 slots (head 0, tail 1)\n".to_owned(),
        format!("  producers:     pid {me} (alive)\n"),
        "  sleepers:      0 waiting for data, 0 waiting for space\n  lost:          0 messages\n".to_owned(),
    ] {
        assert!(r.stdout.contains(&want), "{want:?} not in\n{}", r.stdout);
    }
    let consumers_line = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("consumers:"))
        .unwrap();
    assert!(
        consumers_line.contains(&format!("pid {live_pid} (alive)"))
            && consumers_line.contains(&format!("pid {dead_pid} (dead)")),
        "{consumers_line}"
    );

    let v = json(&ipc(&["inspect", "--json", &name]));
    let ringv = &v["ring"];
    assert_eq!(ringv["flavor"], "mpmc");
    assert_eq!(ringv["unit"], "slots");
    assert_eq!(ringv["capacity"], 16);
    assert_eq!(ringv["elem_size"], 8);
    assert_eq!(ringv["max_frame"], Value::Null);
    assert_eq!(ringv["len"], 1);
    assert_eq!(ringv["lost"], 0);
    assert_eq!(
        ringv["producers"],
        serde_json::json!([{ "pid": me, "alive": true }])
    );
    let mut consumers = ringv["consumers"].as_array().unwrap().clone();
    consumers.sort_by_key(|c| c["pid"].as_i64());
    let mut want = vec![
        serde_json::json!({ "pid": live_pid, "alive": true }),
        serde_json::json!({ "pid": dead_pid, "alive": false }),
    ];
    want.sort_by_key(|c| c["pid"].as_i64());
    assert_eq!(consumers, want);
    // The tool reads the same control block the library does.
    let lib = ring.status();
    assert_eq!(ringv["head"], lib.head);
    assert_eq!(ringv["tail"], lib.tail);

    // ls: the ring row and its JSON object.
    let row = ls_row(&name);
    assert!(row.contains("MPMC ring, 1/16 slots used"), "{row}");
    assert!(row.contains(&format!("pid {dead_pid} (dead)")), "{row}");
    let o = ls_object(&name);
    assert_eq!(o["segment_kind"], "ring");
    assert_eq!(o["ring_capacity"], 16);
    assert_eq!(o["ring"]["flavor"], "mpmc");
    assert_eq!(o["ring"]["consumers"].as_array().unwrap().len(), 2);

    // ring status works on any flavour.
    let r = ipc(&["ring", "status", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("type:            u64\n"), "{r:?}");
    live.kill();
    drop(tx);
}

#[test]
fn wrong_kinds_are_refused_with_a_clear_message() {
    let (arr, spsc) = (unique_name("ring-arr"), unique_name("ring-spsc"));
    let _c = (Cleanup::shm(&arr), Cleanup::shm(&spsc));
    let _a = SharedArray::<u32>::options()
        .dims(&[4])
        .create(&arr, |_| {})
        .unwrap();
    let _s = SpscRing::<u32>::create(&spsc, 8).unwrap();
    let r = ipc(&["ring", "push", &arr, "hi"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        format!(
            "ipc: {arr}: not a byte ring (expected ring segment, found array segment); `ipc \
             ring` pushes and pops byte rings\n"
        )
    );
    let r = ipc(&["ring", "pop", &spsc, "--timeout", "0.1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "{spsc}: not a byte ring (expected a byte ring, found an SPSC ring)"
        )),
        "{r:?}"
    );
    let r = ipc(&["ring", "status", &arr]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        format!("ipc: {arr}: not a ring (expected ring segment, found array segment)\n")
    );
    // Nothing was changed: the array is still an array the library opens.
    assert!(SharedArray::<u32>::open(&arr).is_ok());
    let r = ipc(&["ring", "push", &format!("{arr}-none"), "x"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not found"), "{r:?}");
}

/// The state word of `name`, read as a copy (0 if unreadable).
fn state_of(name: &str) -> u32 {
    std::fs::read(format!("/dev/shm{name}"))
        .ok()
        .and_then(|b| Header::read(&b))
        .map_or(0, |h| h.state)
}

#[test]
fn gc_removes_a_ring_whose_creator_died_during_init() {
    if role().as_deref() == Some("creator") {
        let mut r = ByteRing::create(&ipc_testutil::env("RING"), 128).unwrap();
        r.set_unlink_on_drop(false);
        return;
    }
    let (stale, kept) = (unique_name("ring-gc"), unique_name("ring-gc"));
    let _c = (Cleanup::shm(&stale), Cleanup::shm(&kept));
    const TEST: &str = "gc_removes_a_ring_whose_creator_died_during_init";
    spawn_role(TEST, "creator", &[("RING", &stale)]).wait_ok();
    spawn_role(TEST, "creator", &[("RING", &kept)]).wait_ok();
    // A ring's init has no user code to stop in, so a creator killed mid-init is made the
    // way it looks afterwards: its (now dead) creator's header back at "initialising".
    {
        let shm = Shm::open(&stale).unwrap();
        let at = std::mem::offset_of!(Header, state);
        assert!(at + 4 <= shm.len());
        // SAFETY: the state word lies inside the read-write mapping (checked above), which
        // lives until `shm` drops; it is 4-aligned (FORMAT.md) and accessed atomically by
        // every process, as here.
        let word = unsafe { &*shm.as_ptr().add(at).cast::<AtomicU32>() };
        word.store(1, std::sync::atomic::Ordering::SeqCst);
    }
    assert_eq!(state_of(&stale), 1);
    // ls and inspect say so; the ring columns are unknown (not formatted yet).
    let row = ls_row(&stale);
    assert!(
        row.contains("initialising") && row.contains("dead"),
        "{row}"
    );
    assert_eq!(ls_object(&stale)["ring"], Value::Null);
    let r = ipc(&["ring", "status", &stale]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("died during initialisation"), "{r:?}");
    let r = ipc(&["ring", "pop", &stale, "--timeout", "0.1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("died during initialisation"), "{r:?}");

    let r = ipc(&["gc", "--dry-run", "--prefix", &stale]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!("would remove {stale}:")),
        "{r:?}"
    );
    assert!(std::path::Path::new(&format!("/dev/shm{stale}")).exists());
    let r = ipc(&["gc", "--prefix", &stale]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with(&format!("removed {stale}: its creator (pid ")),
        "{r:?}"
    );
    assert!(!std::path::Path::new(&format!("/dev/shm{stale}")).exists());
    // The ready ring kept on purpose stays (listed as kept, not removed).
    let r = ipc(&["gc", "--prefix", &kept]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with(&format!("kept {kept}:")), "{r:?}");
    assert!(std::path::Path::new(&format!("/dev/shm{kept}")).exists());
    assert_eq!(ipc(&["rm", &kept]).code, 0);
}

#[test]
fn a_frame_that_cannot_be_printed_stays_in_the_ring() {
    let name = unique_name("ring-pipe");
    let _c = Cleanup::shm(&name);
    let ring = ByteRing::create(&name, 256).unwrap();
    {
        let mut tx = ring.producer().unwrap();
        assert!(tx.try_send(b"one").unwrap(), "room in the ring");
        assert!(tx.try_send(b"two").unwrap(), "room in the ring");
    }
    // A pipe whose reading end is closed before the tool starts (like `ipc ring pop |
    // head -0` once head has exited), so the tool's first write fails whatever the timing.
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (read_end, write_end) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(read_end);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(["ring", "pop", &name, "--count", "2", "--timeout", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_child(&mut child, "ipc ring pop (closed stdout)", WATCHDOG);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write to stdout")
            && stderr.contains("the frame was left in the ring (0 of 2 frames received)"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Nothing was lost.
    assert_eq!(ring.status().len, Some(32));
    let r = ipc(&["ring", "pop", &name, "--count", "2", "--timeout", "10"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "one\ntwo\n"), "{r:?}");
}

/// A running `ipc ARGS` whose stdout lines arrive on a channel (read by a thread), with
/// stdin piped; killed on drop if still running.
struct Streaming {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Streaming {
    fn start(args: &[&str]) -> Streaming {
        let mut child = spawn_ipc(args);
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Streaming { child, lines }
    }

    /// The next line of stdout, within the watchdog.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(WATCHDOG)
            .expect("watchdog: no line from ipc")
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[test]
fn ls_selects_by_prefix_or_by_name() {
    let prefix = format!("/ipct-tool-lsp-{}-", std::process::id());
    let (a, b) = (format!("{prefix}a"), format!("{prefix}b"));
    let other = unique_name("ring-lso");
    let _c = (Cleanup::shm(&a), Cleanup::shm(&b), Cleanup::shm(&other));
    let _ra = ByteRing::create(&a, 64).unwrap();
    let _rb = SpscRing::<u64>::create(&b, 4).unwrap();
    let _ro = ByteRing::create(&other, 64).unwrap();
    let names = |r: &Run| -> Vec<String> {
        json(r)["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = ipc(&["ls", "--json", "--prefix", &prefix]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut got = names(&r);
    got.sort();
    assert_eq!(got, [a.clone(), b.clone()]);
    let r = ipc(&["ls", "--json", &b, &other]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(names(&r).len(), 2, "{r:?}");
    // The table: a header and one row.
    let r = ipc(&["ls", &a]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 2, "{r:?}");
    assert_eq!(
        r.stdout.lines().nth(1).unwrap().split_whitespace().nth(1),
        Some(a.as_str())
    );
    // A name that is nothing: the others are listed, then exit 1 naming it.
    let missing = format!("{prefix}missing");
    let r = ipc(&["ls", &a, &missing]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 2, "{r:?}");
    assert_eq!(r.stderr, format!("ipc: not found: {missing}\n"));
    // --prefix and names together are bad usage.
    assert_eq!(ipc(&["ls", "--prefix", &prefix, &a]).code, 2);
}

#[test]
fn pop_follow_survives_a_producer_restart() {
    if role().as_deref() == Some("producer") {
        let ring = ByteRing::open(&ipc_testutil::env("RING")).unwrap();
        let mut tx = ring.producer().unwrap();
        let gen = ipc_testutil::env("GEN");
        for i in 0..2 {
            tx.send(format!("gen{gen}-{i}").as_bytes(), Some(WATCHDOG))
                .unwrap();
        }
        ipc_testutil::report("sent");
        return;
    }
    let name = unique_name("ring-follow");
    let _c = Cleanup::shm(&name);
    let ring = ByteRing::create(&name, 256).unwrap();
    let mut pop = Streaming::start(&["ring", "pop", &name, "--follow"]);
    wait_for("ipc ring pop to attach", WATCHDOG, || {
        ring.status().consumers.len() == 1
    });
    for gen in ["1", "2"] {
        let p = spawn_role(
            "pop_follow_survives_a_producer_restart",
            "producer",
            &[("RING", &name), ("GEN", gen)],
        );
        assert_eq!(p.wait_ok(), ["sent"]);
        assert_eq!(pop.line(), format!("gen{gen}-0"));
        assert_eq!(pop.line(), format!("gen{gen}-1"));
        // The producer has left (its registration released) and the ring is drained: the
        // tool sleeps waiting for the next one instead of exiting "disconnected".
        // (It exiting ends the wait at once, and fails below.)
        wait_for(
            "ipc ring pop to wait for the next producer",
            WATCHDOG,
            || {
                let st = ring.status();
                !pop.running()
                    || st.producers.is_empty() && st.len == Some(0) && st.data_sleepers > 0
            },
        );
        assert!(pop.running(), "ipc ring pop --follow exited");
    }
    // Until interrupted.
    // SAFETY: kill has no memory preconditions; the pid is our running child's.
    unsafe { libc::kill(pop.pid(), libc::SIGINT) };
    let status = wait_child(&mut pop.child, "ipc ring pop --follow", WATCHDOG);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGINT)
    );
}

#[test]
fn push_keeps_one_producer_across_a_stdin_stream_and_follow_outlives_a_consumer() {
    let name = unique_name("ring-stream");
    let _c = Cleanup::shm(&name);
    // 64 bytes: four 16-byte records fill it.
    let ring = ByteRing::create(&name, 64).unwrap();
    let mut push = Streaming::start(&["ring", "push", &name, "--follow"]);
    let mut stdin = push.child.stdin.take().unwrap();
    let mut write = |line: &str| {
        use std::io::Write as _;
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    let me =
        |st: &ipc_collections::RingStatus| st.producers.iter().map(|a| a.pid).collect::<Vec<_>>();
    let mut rx = ring.consumer().unwrap();
    for i in 0..4 {
        write(&format!("s{i}"));
        assert_eq!(
            &*rx.recv(Some(WATCHDOG)).unwrap(),
            format!("s{i}").as_bytes()
        );
        // Between the lines of one stream, one registration: the tool's.
        assert_eq!(me(&ring.status()), [push.pid()]);
    }
    // The consumer leaves; the stream fills the ring and one more line waits for room.
    drop(rx);
    for i in 4..9 {
        write(&format!("s{i}"));
    }
    wait_for("ipc ring push to wait for room", WATCHDOG, || {
        !push.running() || ring.status().space_sleepers > 0
    });
    assert!(push.running(), "ipc ring push --follow exited");
    let mut rx = ring.consumer().unwrap();
    for i in 4..9 {
        assert_eq!(
            &*rx.recv(Some(WATCHDOG)).unwrap(),
            format!("s{i}").as_bytes()
        );
    }
    assert_eq!(me(&ring.status()), [push.pid()]);
    drop(stdin);
    let status = wait_child(&mut push.child, "ipc ring push", WATCHDOG);
    assert!(status.success(), "{status:?}");
    assert!(
        ring.status().producers.is_empty(),
        "it left at the end of stdin"
    );
}
