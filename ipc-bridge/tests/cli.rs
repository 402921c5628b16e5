//! The binary's interface: bad input gets a message and an exit status (2 for bad input,
//! 1 for a failure), never a panic; SIGINT and SIGTERM stop it cleanly with its counters.

mod common;

use std::net::TcpListener;
use std::process::Command;

use common::*;
use ipc_core::signal::Signal;
use ipc_testutil::{run_with_watchdog, unique_name, Cleanup};

fn run(args: &[&str]) -> Ended {
    let o = run_with_watchdog(
        Command::new(env!("CARGO_BIN_EXE_ipc-bridge")).args(args),
        WATCHDOG,
    );
    Ended {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn assert_fails(e: &Ended, code: i32, needle: &str) {
    assert_eq!(e.code, Some(code), "stderr: {}", e.stderr);
    assert!(e.stderr.contains(needle), "{needle:?} not in: {}", e.stderr);
    assert!(!e.stderr.contains("panicked"), "{}", e.stderr);
}

#[test]
fn bad_key_expression_is_a_usage_error() {
    let ring = unique_name("cliK");
    let e = run(&["out", "--ring", &ring, "--key", "a//b"]);
    assert_fails(&e, 2, "key expression: \"a//b\"");
}

#[test]
fn missing_ring_without_create_names_it() {
    let ring = unique_name("cliM");
    let e = run(&["in", "--ring", &ring, "--key", "ipct/cli"]);
    assert_fails(&e, 1, &ring);
    assert!(
        e.stderr.to_lowercase().contains("not found"),
        "{}",
        e.stderr
    );
}

#[test]
fn bad_config_file_and_bad_endpoint_are_usage_errors() {
    let dir = std::env::temp_dir().join(format!("ipct-bridge-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.json5");
    std::fs::write(&cfg, "{ mode: ").unwrap();
    let ring = unique_name("cliC");
    let e = run(&[
        "in",
        "--ring",
        &ring,
        "--key",
        "k",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_fails(&e, 2, "zenoh configuration: reading");
    let e = run(&["in", "--ring", &ring, "--key", "k", "--connect", "nowhere"]);
    assert_fails(&e, 2, "zenoh configuration: connect/endpoints");
}

#[test]
fn bad_full_policy_is_refused_by_the_parser() {
    let e = run(&["in", "--ring", "/x", "--key", "k", "--full", "sometimes"]);
    assert_fails(&e, 2, "expected `block` or `drop`");
}

#[test]
fn listen_port_in_use_is_a_session_error() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let ring = unique_name("cliP");
    let _clean = Cleanup::shm(&ring);
    let e = run(&[
        "in",
        "--ring",
        &ring,
        "--key",
        "k",
        "--create",
        "--listen",
        &ep(port),
    ]);
    assert_fails(&e, 1, "zenoh: opening the session");
}

#[test]
fn long_help_states_the_delivery_guarantee() {
    let e = run(&["--help"]);
    assert_eq!(e.code, Some(0));
    assert!(e.stdout.contains("Delivery guarantee"), "{}", e.stdout);
}

/// SIGINT and SIGTERM, to either role: exit status 0, counters on stderr and as JSON.
#[test]
fn sigint_and_sigterm_stop_cleanly_with_counters() {
    for (role, sig) in [
        ("in", Signal::INT),
        ("out", Signal::TERM),
        ("out", Signal::INT),
    ] {
        let ring = unique_name("cliS");
        let _clean = [
            Cleanup::shm(&ring),
            Cleanup::shm(&ipc_bridge::progress::name(&ring)),
        ];
        let (b, _port) = Bridge::start_listening(|p| {
            args(role, &ring, "ipct/cli/stop", 4096, &["--listen", &ep(p)])
        });
        // The ring exists once the bridge has set up (it is created before the loop).
        ipc_testutil::wait_for("the bridge's ring", WATCHDOG, || {
            ipc_collections::ring::inspect(&ring).is_ok()
        });
        b.signal(sig);
        let mut b = b;
        let e = b.wait();
        assert_eq!(e.code, Some(0), "{role} {sig:?}: {}", e.stderr);
        let s = e.stats();
        assert_eq!(s["role"], role);
        assert_eq!(s["ring"], ring.as_str());
        assert_eq!(s["frames"], 0);
        assert!(
            e.stderr.contains(&format!("ipc-bridge {role}: frames=0")),
            "{}",
            e.stderr
        );
    }
}
