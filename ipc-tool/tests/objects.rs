//! The `ipc` binary (CARGO_BIN_EXE_ipc) against real objects of every kind: `ls` (table and
//! JSON), `rm`, `sem`, `mq`, `shm`, and `gc` after a creator was SIGKILLed mid-init. Every
//! run of the tool has a watchdog, and every object is removed also when a test fails.

use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use ipc_collections::format::Header;
use ipc_collections::{Shared, SharedLayout};
use ipc_core::shm::sysv::{Key, SysvShm};
use ipc_core::shm::Shm;
use ipc_testutil::{
    role, run_with_watchdog, spawn_role, unique_name, wait_child, wait_for, Cleanup, WATCHDOG,
};
use serde_json::Value;

/// What one run of the tool gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `ipc ARGS` with a watchdog (killed and failed after [`WATCHDOG`]).
fn ipc(args: &[&str]) -> Run {
    let o = run_with_watchdog(Command::new(env!("CARGO_BIN_EXE_ipc")).args(args), WATCHDOG);
    Run {
        code: o.status.code().expect("ipc killed by a signal"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `ipc ARGS` and asserts it succeeded; returns stdout.
fn ipc_ok(args: &[&str]) -> String {
    let r = ipc(args);
    assert_eq!(r.code, 0, "ipc {args:?}: {r:?}");
    r.stdout
}

/// `ipc ls --json`, parsed; the object called `name`, if listed.
fn ls_json_object(name: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(&ipc_ok(&["ls", "--json"])).expect("ls --json is JSON");
    assert_eq!(v["version"], 1);
    v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["name"] == name)
        .cloned()
}

/// Removes a System V semaphore set or message queue on drop (ipc-testutil's `Cleanup`
/// covers System V shared memory only).
struct SysvGuard {
    sem: bool,
    id: i32,
}

impl Drop for SysvGuard {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID reads no further argument of semctl and ignores msgctl's buffer
        // (null); an id that is already gone is an error return, ignored.
        unsafe {
            if self.sem {
                libc::semctl(self.id, 0, libc::IPC_RMID);
            } else {
                libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }
}

#[derive(SharedLayout)]
#[repr(C)]
struct Counter {
    hits: AtomicU64,
}

#[test]
fn ls_lists_and_rm_removes_every_kind() {
    let (shm, sem, mq, seg) = (
        unique_name("tool-shm"),
        unique_name("tool-sem"),
        unique_name("tool-mq"),
        unique_name("tool-seg"),
    );
    let _c = (
        Cleanup::shm(&shm),
        Cleanup::sem(&sem),
        Cleanup::mq(&mq),
        Cleanup::shm(&seg),
    );
    assert_eq!(
        ipc_ok(&["shm", "create", &shm, "--size", "100", "--mode", "640"]),
        format!("created shm {shm} (100 bytes)\n")
    );
    ipc_ok(&["sem", "create", &sem, "--value", "3"]);
    ipc_ok(&[
        "mq",
        "create",
        &mq,
        "--capacity",
        "4",
        "--message-size",
        "32",
    ]);
    ipc_ok(&["mq", "send", &mq, "one"]);
    ipc_ok(&["mq", "send", &mq, "two"]);
    let counter = Shared::<Counter>::create(&seg, |_| {}).unwrap();
    let sysv_shm = SysvShm::create(Key::PRIVATE, 4096).unwrap();
    let _cs = Cleanup::sysv_shm(sysv_shm.id());
    // SAFETY: semget/msgget take plain integers; IPC_PRIVATE always makes a new object.
    let (sem_id, msg_id) = unsafe {
        (
            libc::semget(libc::IPC_PRIVATE, 2, libc::IPC_CREAT | 0o600),
            libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600),
        )
    };
    assert!(sem_id >= 0 && msg_id >= 0, "semget/msgget failed");
    let _g = (
        SysvGuard {
            sem: true,
            id: sem_id,
        },
        SysvGuard {
            sem: false,
            id: msg_id,
        },
    );
    let (shmid, semid, msqid) = (
        format!("shmid:{}", sysv_shm.id()),
        format!("semid:{sem_id}"),
        format!("msqid:{msg_id}"),
    );

    // The table: one row per object, KIND first, NAME second.
    let table = ipc_ok(&["ls"]);
    let row = |name: &str| -> String {
        table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{table}"))
            .to_owned()
    };
    let pid = std::process::id();
    assert!(row(&shm).starts_with("shm "), "{table}");
    assert!(row(&shm).contains(" 0640 "), "{table}");
    assert!(row(&sem).ends_with("value 3"), "{table}");
    assert!(
        row(&mq).ends_with("depth 2/4 messages of up to 32 B"),
        "{table}"
    );
    assert!(
        row(&seg).ends_with(&format!(
            "value Counter (8 B each), ready, creator {pid} (alive)"
        )),
        "{table}"
    );
    assert!(row(&shmid).starts_with("sysv-shm "), "{table}");
    assert!(row(&shmid).contains(" 4096 "), "{table}");
    assert!(row(&semid).ends_with("2 semaphores"), "{table}");
    assert!(row(&msqid).ends_with("depth 0 messages"), "{table}");

    // JSON: the documented fields.
    let o = ls_json_object(&shm).unwrap();
    assert_eq!(
        (&o["kind"], &o["mode"], &o["size"]),
        (&"shm".into(), &"0640".into(), &100.into())
    );
    assert_eq!(o["uid"], u64::from(unsafe_getuid()));
    let o = ls_json_object(&sem).unwrap();
    assert_eq!((&o["kind"], &o["value"]), (&"sem".into(), &3.into()));
    let o = ls_json_object(&mq).unwrap();
    assert_eq!(
        (&o["kind"], &o["depth"], &o["capacity"], &o["message_size"]),
        (&"mq".into(), &2.into(), &4.into(), &32.into())
    );
    let o = ls_json_object(&seg).unwrap();
    assert_eq!(o["kind"], "segment");
    assert_eq!(o["segment_kind"], "value");
    assert_eq!(o["type_name"], "Counter");
    assert_eq!(o["state"], "ready");
    assert_eq!(o["creator"], "alive");
    assert_eq!(o["creator_pid"], pid);
    let o = ls_json_object(&shmid).unwrap();
    assert_eq!(
        (&o["kind"], &o["attached"]),
        (&"sysv-shm".into(), &1.into())
    );
    let o = ls_json_object(&semid).unwrap();
    assert_eq!(
        (&o["kind"], &o["semaphores"]),
        (&"sysv-sem".into(), &2.into())
    );
    let o = ls_json_object(&msqid).unwrap();
    assert_eq!((&o["kind"], &o["depth"]), (&"sysv-msg".into(), &0.into()));

    // inspect: every kind, text and JSON (the ls object plus the version).
    let text = ipc_ok(&["inspect", &sem]);
    assert!(
        text.starts_with(&format!("kind:            sem\nname:            {sem}\n")),
        "{text}"
    );
    assert!(text.contains("\nvalue:           3\n"), "{text}");
    let v: Value = serde_json::from_str(&ipc_ok(&["inspect", &mq, "--json"])).unwrap();
    assert_eq!(
        (&v["version"], &v["kind"], &v["depth"], &v["queued_bytes"]),
        (&1.into(), &"mq".into(), &2.into(), &6.into())
    );
    let text = ipc_ok(&["inspect", &shmid]);
    assert!(text.contains("\nattached:        1\n"), "{text}");
    assert!(text.contains("\nsysvipc.nattch:  1\n"), "{text}");
    let v: Value = serde_json::from_str(&ipc_ok(&["inspect", &semid, "--json"])).unwrap();
    assert_eq!(
        (&v["kind"], &v["semaphores"]),
        (&"sysv-sem".into(), &2.into())
    );
    assert_eq!(v["sysvipc"]["nsems"], "2");
    let v: Value = serde_json::from_str(&ipc_ok(&["inspect", &msqid, "--json"])).unwrap();
    assert_eq!((&v["kind"], &v["depth"]), (&"sysv-msg".into(), &0.into()));
    let v: Value = serde_json::from_str(&ipc_ok(&["inspect", &seg, "--json"])).unwrap();
    assert_eq!(
        (&v["kind"], &v["validation"]),
        (&"segment".into(), &"ok".into())
    );
    let r = ipc(&["inspect", &shm]);
    assert_eq!(r.code, 1, "a plain shm object is not a segment: {r:?}");
    assert!(r.stdout.contains("object size:     100 bytes"), "{r:?}");
    assert!(r.stderr.contains("not a segment"), "{r:?}");
    let r = ipc(&["inspect", "--kind", "mq", &sem]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        format!("ipc: {sem}: not found (no mq of that name)\n")
    );

    // Nothing the tool created went away when it exited.
    for p in [
        format!("/dev/shm{shm}"),
        format!("/dev/shm/sem.{}", &sem[1..]),
        format!("/dev/mqueue{mq}"),
    ] {
        assert!(std::path::Path::new(&p).exists(), "{p}");
    }

    // rm: every kind, by the names ls printed; one that is gone fails, the rest go on.
    let r = ipc(&[
        "rm",
        &shm,
        &sem,
        &mq,
        &seg,
        &shmid,
        &semid,
        &msqid,
        "/ipct-no-such-thing",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        "ipc: /ipct-no-such-thing: not found (no shared memory object, semaphore or message \
         queue of that name; System V objects are named shmid:ID, semid:ID, msqid:ID)\n"
    );
    for want in [
        format!("removed shm {shm}"),
        format!("removed sem {sem}"),
        format!("removed mq {mq}"),
        format!("removed shm {seg}"),
        format!("removed sysv-shm {shmid}"),
        format!("removed sysv-sem {semid}"),
        format!("removed sysv-msg {msqid}"),
    ] {
        assert!(r.stdout.contains(&want), "missing {want:?}: {r:?}");
    }
    for name in [&shm, &sem, &mq, &seg, &semid, &msqid] {
        assert!(ls_json_object(name).is_none(), "{name} still listed");
    }
    // The System V segment is only marked for removal while this process has it attached.
    assert!(ipc_core::shm::sysv::info(sysv_shm.id()).unwrap().removed);
    let r = ipc(&["rm", &semid]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&format!("{semid:?}: not found")), "{r:?}");
    drop((counter, sysv_shm));
}

fn unsafe_getuid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[test]
fn rm_refuses_an_ambiguous_name_and_bad_names() {
    let name = unique_name("tool-amb");
    let _c = (Cleanup::shm(&name), Cleanup::sem(&name));
    ipc_ok(&["shm", "create", &name, "--size", "8"]);
    ipc_ok(&["sem", "create", &name]);
    let r = ipc(&["rm", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        format!("ipc: {name}: ambiguous: there is a shm and a sem of that name; say which with --kind\n")
    );
    assert_eq!(
        ipc_ok(&["rm", "--kind", "sem", &name]),
        format!("removed sem {name}\n")
    );
    assert_eq!(ipc_ok(&["rm", &name]), format!("removed shm {name}\n"));
    for bad in ["no-slash", "/a/b", "/../x"] {
        let r = ipc(&["rm", bad]);
        assert_eq!(r.code, 1, "{bad}: {r:?}");
        assert!(r.stderr.contains("invalid name"), "{bad}: {r:?}");
    }
    assert_eq!(ipc(&["rm"]).code, 2);
    assert_eq!(ipc(&["rm", "--kind", "pipe", &name]).code, 2);
}

#[test]
fn sem_post_and_wait_across_two_processes() {
    let name = unique_name("tool-semw");
    let _c = Cleanup::sem(&name);
    assert_eq!(
        ipc_ok(&["sem", "create", &name]),
        format!("created sem {name} (value 0)\n")
    );
    assert_eq!(ipc_ok(&["sem", "value", &name]), "0\n");
    // A waiter in its own process blocks until another process posts.
    let mut waiter = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(["sem", "wait", &name, "--timeout", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = waiter.id() as i32;
    wait_for("the waiter to block in sem_wait", WATCHDOG, || {
        ipc_testutil::proc_state::all_threads_sleep(pid, "futex")
            || waiter.try_wait().unwrap().is_some()
    });
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "the waiter did not wait"
    );
    let t = Instant::now();
    ipc_ok(&["sem", "post", &name]);
    let status = wait_child(&mut waiter, "ipc sem wait", WATCHDOG);
    assert!(status.success(), "waiter: {status}");
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_eq!(ipc_ok(&["sem", "value", &name]), "0\n");

    // A wait that runs out says so.
    let t = Instant::now();
    let r = ipc(&["sem", "wait", &name, "--timeout", "0.2"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert!(r.stderr.contains(&format!("{name:?}: timed out")), "{r:?}");
    // Posts add up; each wait takes one.
    ipc_ok(&["sem", "post", &name]);
    ipc_ok(&["sem", "post", &name]);
    assert_eq!(ipc_ok(&["sem", "value", &name]), "2\n");
    ipc_ok(&["sem", "wait", &name]);
    assert_eq!(ipc_ok(&["sem", "value", &name]), "1\n");
    // Errors name the object and the reason.
    let r = ipc(&["sem", "create", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!("{name:?}: already exists")),
        "{r:?}"
    );
    let r = ipc(&["sem", "post", "/ipct-no-such-sem"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not found"), "{r:?}");
    let r = ipc(&["sem", "wait", &name, "--timeout", "soon"]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn mq_send_and_receive_with_priorities() {
    let name = unique_name("tool-mq");
    let _c = Cleanup::mq(&name);
    ipc_ok(&[
        "mq",
        "create",
        &name,
        "--capacity",
        "8",
        "--message-size",
        "64",
    ]);
    for (msg, prio) in [("low", "1"), ("high", "9"), ("mid", "5"), ("mid2", "5")] {
        ipc_ok(&["mq", "send", &name, msg, "--priority", prio]);
    }
    let attr: Value = serde_json::from_str(&ipc_ok(&["mq", "attr", &name, "--json"])).unwrap();
    assert_eq!(
        (&attr["capacity"], &attr["message_size"], &attr["depth"]),
        (&8.into(), &64.into(), &4.into())
    );
    assert_eq!(
        ipc_ok(&["mq", "attr", &name]),
        "capacity:      8\nmessage_size:  64\ndepth:         4\n"
    );
    let r: Value = serde_json::from_str(&ipc_ok(&["mq", "recv", &name, "--json"])).unwrap();
    assert_eq!((&r["message"], &r["priority"]), (&"high".into(), &9.into()));
    // Same priority: oldest first.
    assert_eq!(ipc_ok(&["mq", "recv", &name]), "mid\n");
    assert_eq!(ipc_ok(&["mq", "recv", &name, "--raw"]), "mid2");
    assert_eq!(ipc_ok(&["mq", "recv", &name, "--timeout", "5"]), "low\n");
    let r = ipc(&["mq", "recv", &name, "--timeout", "0.1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&format!("{name:?}: timed out")), "{r:?}");

    // A message with a terminal escape is shown escaped, unless asked for raw bytes.
    ipc_ok(&["mq", "send", &name, "\x1b[2Jx"]);
    assert_eq!(ipc_ok(&["mq", "recv", &name]), "\\u{1b}[2Jx\n");
    // A message from a Rust program, received by the tool.
    let q = ipc_core::mq::MessageQueue::open(&name).unwrap();
    q.send(b"from rust", 3).unwrap();
    let r: Value = serde_json::from_str(&ipc_ok(&["mq", "recv", &name, "--json"])).unwrap();
    assert_eq!(
        (&r["message"], &r["priority"]),
        (&"from rust".into(), &3.into())
    );
    // And the other way.
    ipc_ok(&["mq", "send", &name, "to rust", "--priority", "7"]);
    let mut buf = [0u8; 64];
    let (n, prio) = q.receive_timeout(&mut buf, WATCHDOG).unwrap();
    assert_eq!((&buf[..n], prio), (&b"to rust"[..], 7));

    let r = ipc(&["mq", "send", &name, &"x".repeat(65)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&format!("{name:?}")), "{r:?}");
}

#[test]
fn shm_create_and_cat() {
    let name = unique_name("tool-cat");
    let _c = Cleanup::shm(&name);
    ipc_ok(&["shm", "create", &name, "--size", "16"]);
    let meta = std::fs::metadata(format!("/dev/shm{name}")).unwrap();
    assert_eq!(meta.len(), 16);
    {
        let shm = Shm::open(&name).unwrap();
        // SAFETY: the 5 bytes lie inside the 16-byte read-write mapping that `shm` keeps
        // alive; nobody else writes the object.
        unsafe { shm.as_ptr().copy_from(b"hello".as_ptr(), 5) };
    }
    let o = run_with_watchdog(
        Command::new(env!("CARGO_BIN_EXE_ipc")).args(["shm", "cat", &name]),
        WATCHDOG,
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(o.stdout, b"hello\0\0\0\0\0\0\0\0\0\0\0");
    let r = ipc(&["shm", "create", &name, "--size", "16"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("already exists"), "{r:?}");
    let r = ipc(&["shm", "create", "/ipct-x", "--size", "0"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("invalid size"), "{r:?}");
    let r = ipc(&["shm", "cat", "/ipct-no-such-shm"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not found"), "{r:?}");
    assert_eq!(ipc(&["shm", "create", &name]).code, 2);
}

/// The state word of the segment `name` (0 if it is not there or too short yet).
fn state_of(name: &str) -> u32 {
    std::fs::read(format!("/dev/shm{name}"))
        .ok()
        .and_then(|b| Header::read(&b))
        .map_or(0, |h| h.state)
}

#[test]
fn gc_removes_a_segment_whose_creator_was_killed_mid_init_and_nothing_else() {
    match role().as_deref() {
        Some("stuck") => {
            // Initialises for ever: the parent kills this process mid-init.
            let _s = Shared::<Counter>::create(&ipc_testutil::env("SEG"), |_| loop {
                std::thread::sleep(Duration::from_secs(1));
            });
            unreachable!("init never returns");
        }
        Some("persist") => {
            let mut s = Shared::<Counter>::create(&ipc_testutil::env("SEG"), |_| {}).unwrap();
            s.set_unlink_on_drop(false);
            return;
        }
        _ => {}
    }
    let (stuck, live, kept) = (
        unique_name("tool-gc"),
        unique_name("tool-gc"),
        unique_name("tool-gc"),
    );
    let _c = (
        Cleanup::shm(&stuck),
        Cleanup::shm(&live),
        Cleanup::shm(&kept),
    );
    const TEST: &str = "gc_removes_a_segment_whose_creator_was_killed_mid_init_and_nothing_else";
    let mut child = spawn_role(TEST, "stuck", &[("SEG", &stuck)]);
    wait_for("the creator to be initialising", WATCHDOG, || {
        state_of(&stuck) == 1
    });
    // A real crash mid-init.
    child.kill();
    // A live segment, and a ready one whose creator exited keeping it on purpose.
    let live_seg = Shared::<Counter>::create(&live, |_| {}).unwrap();
    spawn_role(TEST, "persist", &[("SEG", &kept)]).wait_ok();
    // A live creator mid-init is not stale either.
    let mut busy = spawn_role(TEST, "stuck", &[("SEG", &format!("{live}-busy"))]);
    let _cb = Cleanup::shm(&format!("{live}-busy"));
    wait_for("the second creator to be initialising", WATCHDOG, || {
        state_of(&format!("{live}-busy")) == 1
    });

    // Only this test's names: other suites on the machine may be checking their own
    // crashed creators right now.
    let prefix = format!("/ipct-tool-gc-{}-", std::process::id());
    let r = ipc(&["gc", "--dry-run", "--prefix", &prefix]);
    assert_eq!(r.code, 0, "{r:?}");
    let line = |out: &str, name: &str| -> Option<String> {
        out.lines()
            .find(|l| {
                l.split_whitespace()
                    .any(|w| w.trim_end_matches(':') == name)
            })
            .map(str::to_owned)
    };
    let stuck_line = line(&r.stdout, &stuck).unwrap_or_else(|| panic!("{r:?}"));
    assert!(
        stuck_line.starts_with(&format!("would remove {stuck}: its creator (pid ")),
        "{stuck_line}"
    );
    assert!(
        stuck_line.ends_with("died before publishing it (state initialising)"),
        "{stuck_line}"
    );
    assert!(line(&r.stdout, &live).is_none(), "{r:?}");
    assert!(line(&r.stdout, &format!("{live}-busy")).is_none(), "{r:?}");
    let kept_line = line(&r.stdout, &kept).unwrap_or_else(|| panic!("{r:?}"));
    assert!(
        kept_line.starts_with(&format!("kept {kept}: ")),
        "{kept_line}"
    );
    assert!(std::path::Path::new(&format!("/dev/shm{stuck}")).exists());

    let r = ipc(&["gc", "--prefix", &prefix]);
    assert_eq!(r.code, 0, "{r:?}");
    let stuck_line = line(&r.stdout, &stuck).unwrap_or_else(|| panic!("{r:?}"));
    assert!(
        stuck_line.starts_with(&format!("removed {stuck}: ")),
        "{r:?}"
    );
    assert!(!std::path::Path::new(&format!("/dev/shm{stuck}")).exists());
    for other in [&live, &kept, &format!("{live}-busy")] {
        assert!(
            std::path::Path::new(&format!("/dev/shm{other}")).exists(),
            "{other} removed: {r:?}"
        );
    }
    // The live segment still works.
    assert_eq!(
        ls_json_object(&live).unwrap()["state"],
        "ready",
        "{live} changed"
    );
    busy.kill();
    drop(live_seg);
}

/// Object names are anyone's to choose: a terminal escape and a newline in one are
/// printed escaped (one line per object, no escape sequence reaches the terminal), and JSON
/// carries the exact name.
#[test]
fn hostile_object_names_are_escaped() {
    let name = format!("{}\x1b[2J\nforged", unique_name("tool-esc"));
    let _c = Cleanup::shm(&name);
    let shown = name.replace('\x1b', "\\u{1b}").replace('\n', "\\n");
    let r = ipc(&["shm", "create", &name, "--size", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, format!("created shm {shown} (1 bytes)\n"));
    let r = ipc(&["ls"]);
    assert!(!r.stdout.contains('\x1b'), "{r:?}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("shm ") && l.contains(&shown)),
        "{r:?}"
    );
    assert!(!r.stdout.lines().any(|l| l.starts_with("forged")), "{r:?}");
    let o = ls_json_object(&name).expect("listed with its exact name");
    assert_eq!(o["kind"], "shm");
    let r = ipc(&["inspect", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        !r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'),
        "{r:?}"
    );
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(r.stderr.contains("not a segment"), "{r:?}");
    let r = ipc(&["rm", &name]);
    assert_eq!(r.stdout, format!("removed shm {shown}\n"));
}

/// Without the mqueue file system, `ls` says that queues could not be listed instead of
/// listing none. Runs the tool in a private mount namespace with /dev/mqueue unmounted
/// (`unshare -m`, which needs privilege: skipped with a message where it is refused).
#[test]
fn ls_says_when_the_mqueue_file_system_is_not_mounted() {
    let script = format!(
        "umount /dev/mqueue || exit 97; exec '{}' ls --json",
        env!("CARGO_BIN_EXE_ipc")
    );
    let o = run_with_watchdog(
        Command::new("unshare").args(["-m", "sh", "-c", &script]),
        WATCHDOG,
    );
    if !o.status.success() {
        eprintln!(
            "skipped: no private mount namespace with /dev/mqueue unmounted here ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        return;
    }
    let v: Value = serde_json::from_slice(&o.stdout).expect("ls --json is JSON");
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with(
            "the mqueue file system is not mounted at /dev/mqueue: POSIX message queues \
             cannot be listed"
        )),
        "{notes:?}"
    );
    assert!(
        !v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "mq"),
        "{v}"
    );
}

/// `ipc gc` run by a user who cannot open an abandoned segment read-write (another user's,
/// mode 0644) says that it keeps it and why, instead of nothing.
#[test]
fn gc_says_why_it_keeps_an_abandoned_segment_it_cannot_open_read_write() {
    const TEST: &str = "gc_says_why_it_keeps_an_abandoned_segment_it_cannot_open_read_write";
    if role().as_deref() == Some("stuck") {
        let _s = Shared::<Counter>::options()
            .mode(0o644)
            .create(&ipc_testutil::env("SEG"), |_| loop {
                std::thread::sleep(Duration::from_secs(1));
            });
        unreachable!("init never returns");
    }
    if !ipc_testutil::privilege::is_root() {
        eprintln!("skipped: needs root to run `ipc gc` as another user");
        return;
    }
    let stuck = unique_name("tool-gcperm");
    let _c = Cleanup::shm(&stuck);
    let mut child = spawn_role(TEST, "stuck", &[("SEG", &stuck)]);
    wait_for("the creator to be initialising", WATCHDOG, || {
        state_of(&stuck) == 1
    });
    child.kill(); // SIGKILL mid-init: abandoned
    use std::os::unix::process::CommandExt;
    let prefix = format!("/ipct-tool-gcperm-{}-", std::process::id());
    let o = run_with_watchdog(
        Command::new(env!("CARGO_BIN_EXE_ipc"))
            .args(["gc", "--prefix", &prefix])
            .uid(65534)
            .gid(65534),
        WATCHDOG,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        stdout.lines().any(
            |l| l.starts_with(&format!("kept {stuck}: cannot open read-write: "))
                && l.contains("Permission denied")
        ),
        "{o:?}"
    );
    assert!(std::path::Path::new(&format!("/dev/shm{stuck}")).exists());
}
