//! Two separately compiled programs exchange a derived struct through shared memory, and a
//! third, built with another version of the struct, is refused with the differing fields
//! named. The programs are the examples `layout_writer`, `layout_reader` and
//! `layout_reader_v2` (each its own binary, with its own `Stats` declaration).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ipc_testutil::{unique_name, Cleanup, WATCHDOG};

const EXAMPLES: [&str; 3] = ["layout_writer", "layout_reader", "layout_reader_v2"];

/// `target/<profile>/examples/`, next to this test's `deps/` directory.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps")
        .join("examples")
}

/// The example's binary; `cargo test` builds examples, but `cargo test --test layout_cross`
/// does not, so build them if one is missing.
fn example(name: &str) -> PathBuf {
    let path = examples_dir().join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "ipc"]);
        for e in EXAMPLES {
            cmd.args(["--example", e]);
        }
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example");
        assert!(status.success(), "building the layout examples failed");
    }
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// Runs a program to completion with a watchdog (kill and fail on a hang).
fn run(name: &str, arg: &str) -> Output {
    let mut child = Command::new(example(name))
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn example");
    let deadline = Instant::now() + WATCHDOG;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: {name} still running after {WATCHDOG:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().expect("collect output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn separately_built_programs_share_a_derived_struct() {
    let name = unique_name("layout-x");
    let _cleanup = Cleanup::shm(&name);

    let w = run("layout_writer", &name);
    assert!(w.status.success(), "writer: {w:?}");
    assert!(stdout(&w).starts_with("wrote Stats(280/8){requests:AtomicU64(8/8)@0,"));

    let r = run("layout_reader", &name);
    assert!(r.status.success(), "reader: {r:?}");
    assert_eq!(
        stdout(&r),
        "requests=42 hist[3]=30 hist[31]=310 name=web-01\n",
        "the reader sees what the writer wrote"
    );
}

#[test]
fn a_reader_with_another_layout_is_refused_and_told_which_fields_differ() {
    let name = unique_name("layout-v2");
    let _cleanup = Cleanup::shm(&name);

    let w = run("layout_writer", &name);
    assert!(w.status.success(), "writer: {w:?}");

    let r = run("layout_reader_v2", &name);
    assert_eq!(r.status.code(), Some(3), "v2 reader must refuse: {r:?}");
    let out = stdout(&r);
    let lines: Vec<&str> = out.lines().collect();
    // The reader's own (v2) layout is "expected"; the writer's (v1) is "found".
    assert_eq!(
        lines,
        [
            "layout mismatch: field `hist`: type [u32;32] -> [u64;32]",
            "layout mismatch: field `name`: offset 136 -> 264",
            "layout mismatch: field `errors`: missing (expected AtomicU64 at offset 152)",
        ],
        "{out}"
    );
    // Refused before reading the value: it printed no field values.
    assert!(!out.contains("requests="));
}
