//! Figures, not assertions (run by hand, in release):
//! `cargo test --release --test bench -- --ignored --nocapture --exact bridge_beside_direct_ring`.
//!
//! The same producer and consumer programs, first over one ring (direct), then over
//! ring A -> `ipc-bridge out` -> Zenoh over 127.0.0.1 -> `ipc-bridge in` -> ring B
//! (bridged), in one run: throughput at 64 B and 4 KiB frames, and one-way latency (frame
//! stamped with CLOCK_MONOTONIC by the producer, read by the consumer: one host, one clock)
//! at 1000 frames/s. With `IPC_BRIDGE_BEFORE=PATH` (another build of the `ipc-bridge`
//! binary, e.g. of the previous commit) a third column shows that build in the same run.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ipc_collections::ByteRing;
use ipc_testutil::{spawn_ignored_role, unique_name, Cleanup};

const CAP: u64 = 1 << 22;

/// CLOCK_MONOTONIC in nanoseconds (system-wide: comparable across processes).
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The bench producer: `COUNT` frames of `SIZE` bytes (seq, send time, zeros) into `RING`;
/// `GAP_US` microseconds between frames (0: as fast as the ring takes them).
fn bench_producer() {
    let ring = ByteRing::options()
        .capacity(CAP)
        .unlink_on_drop(false)
        .open_or_create(&ipc_testutil::env("RING"))
        .expect("open ring");
    let count: u64 = ipc_testutil::env("COUNT").parse().unwrap();
    let size: usize = ipc_testutil::env("SIZE").parse().unwrap();
    let gap = Duration::from_micros(ipc_testutil::env("GAP_US").parse().unwrap());
    let mut p = ring.producer().expect("producer");
    let mut buf = vec![0u8; size.max(16)];
    let start = Instant::now();
    for seq in 0..count {
        if !gap.is_zero() {
            let due = start + gap * seq as u32;
            while Instant::now() < due {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        buf[8..16].copy_from_slice(&mono_ns().to_le_bytes());
        p.send(&buf, Some(WATCHDOG)).expect("send");
    }
}

struct Figures {
    per_s: f64,
    bytes_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Consumes `count` frames from `c`: rate and latency over the last 90% (the first 10%
/// warm up: frames pushed before `out` found its subscriber waited in ring A).
fn measure(c: &mut ipc_collections::ring::bytes::Consumer<'_>, count: u64) -> Figures {
    let skip = count / 10;
    let mut lat = Vec::with_capacity(count as usize);
    let mut first = None;
    let mut bytes = 0u64;
    for want in 0..count {
        let f = c.recv(Some(Duration::from_secs(30))).expect("frame");
        let now = mono_ns();
        let seq = u64::from_le_bytes(f[..8].try_into().unwrap());
        assert_eq!(seq, want, "lost or reordered");
        if want < skip {
            continue;
        }
        lat.push(now.saturating_sub(u64::from_le_bytes(f[8..16].try_into().unwrap())));
        bytes += f.len() as u64;
        first.get_or_insert((Instant::now(), bytes));
    }
    let (t0, b0) = first.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    Figures {
        per_s: (count - skip - 1) as f64 / secs,
        bytes_per_s: (bytes - b0) as f64 / secs,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
    }
}

/// One case: direct (`bridge` = None) or through the bridge binary given with the extra
/// `out` flags.
fn case(bridge: Option<(&str, &[&str])>, size: usize, count: u64, gap_us: u64) -> Figures {
    let (a, b) = (unique_name("bnA"), unique_name("bnB"));
    let _clean = [
        Cleanup::shm(&a),
        Cleanup::shm(&b),
        Cleanup::shm(&ipc_bridge::progress::name(&b)),
    ];
    let key = format!("ipct/bench{}", b.replace('/', "-"));
    let mut bridges = Vec::new();
    let consumer_ring = match bridge {
        None => &a,
        Some((exe, out_flags)) => {
            let (bin, port) = Bridge::start_listening_bin(exe, |p| {
                args("in", &b, &key, CAP, &["--listen", &ep(p)])
            });
            let mut flags = vec!["--connect".to_string(), ep(port)];
            flags.extend(out_flags.iter().map(|s| s.to_string()));
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            bridges.push(bin);
            bridges.push(Bridge::start_bin(exe, &args("out", &a, &key, CAP, &flags)));
            &b
        }
    };
    let ring = ByteRing::options()
        .capacity(CAP)
        .open_or_create(consumer_ring)
        .expect("ring");
    let mut c = ring.consumer().expect("consumer");
    let prod = spawn_ignored_role(
        "bench_producer_role",
        "producer",
        &[
            ("RING", &a),
            ("COUNT", &count.to_string()),
            ("SIZE", &size.to_string()),
            ("GAP_US", &gap_us.to_string()),
        ],
    );
    let f = measure(&mut c, count);
    prod.wait_output(WATCHDOG);
    for b in bridges {
        let e = b.terminate();
        assert_eq!(e.code, Some(0), "{}", e.stderr);
    }
    f
}

/// The producer's entry point, not a test: the benchmark re-executes this test binary to
/// run it as a child, in the role `producer` (`spawn_ignored_role` passes `--ignored`).
/// Ignored, so a normal `cargo test` lists it as ignored, never as passed; run without
/// the role (e.g. by a bare `--ignored`), it fails and says what it is.
#[test]
#[ignore = "the benchmark's producer child, not a test: runs only as bridge_beside_direct_ring's child"]
fn bench_producer_role() {
    assert_eq!(
        ipc_testutil::role().as_deref(),
        Some("producer"),
        "bench_producer_role is the producer child of bridge_beside_direct_ring, not a test"
    );
    bench_producer();
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn bridge_beside_direct_ring() {
    let now = env!("CARGO_BIN_EXE_ipc-bridge");
    let before = std::env::var("IPC_BRIDGE_BEFORE").ok();
    let mut builds = vec![("bridged", now.to_string())];
    if let Some(b) = before {
        builds.insert(0, ("bridged, before", b));
    }
    let head: Vec<String> = builds.iter().map(|(n, _)| format!(" {n} |")).collect();
    let ratio: Vec<String> = builds
        .iter()
        .map(|(n, _)| format!(" {n} / direct |"))
        .collect();
    let line = |row: &str, d: String, cells: Vec<(String, String)>| {
        let (v, r): (Vec<String>, Vec<String>) = cells.into_iter().unzip();
        println!("| {row} | {d} |{}|{}|", v.join("|"), r.join("|"));
    };
    println!(
        "\n| case | direct |{}{}\n|---|---|{}",
        head.concat(),
        ratio.concat(),
        "---|".repeat(2 * builds.len())
    );
    for (size, count) in [(64usize, 1_000_000u64), (4096, 200_000)] {
        let d = case(None, size, count, 0);
        let cells = builds
            .iter()
            .map(|(_, exe)| {
                let br = case(Some((exe, &[])), size, count, 0);
                (
                    format!(
                        " {:.2} M/s, {:.0} MB/s ",
                        br.per_s / 1e6,
                        br.bytes_per_s / 1e6
                    ),
                    format!(" {:.2} ", br.per_s / d.per_s),
                )
            })
            .collect();
        line(
            &format!("throughput, {size} B frames"),
            format!("{:.2} M/s, {:.0} MB/s", d.per_s / 1e6, d.bytes_per_s / 1e6),
            cells,
        );
    }
    let d = case(None, 64, 3000, 1000);
    for (name, flags) in [("batched", &[][..]), ("--express", &["--express"][..])] {
        let cells = builds
            .iter()
            .map(|(_, exe)| {
                let br = case(Some((exe, flags)), 64, 3000, 1000);
                (
                    format!(" {:.1} / {:.1} µs ", br.p50_us, br.p99_us),
                    format!(
                        " {:.1} / {:.1} ",
                        br.p50_us / d.p50_us,
                        br.p99_us / d.p99_us
                    ),
                )
            })
            .collect();
        line(
            &format!("one-way latency p50 / p99, 64 B at 1000/s, {name}"),
            format!("{:.1} / {:.1} µs", d.p50_us, d.p99_us),
            cells,
        );
    }
}
