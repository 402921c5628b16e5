//! A producer program: creates the named SPSC ring `NAME` of `Reading`s (or opens it if the
//! consumer made it first), sends `COUNT` numbered, checksummed readings, and leaves. Built
//! on its own; the consumer is another program (`ring_consumer`) that only shares the
//! struct's layout, which opening checks field by field.
//!
//! ```text
//! cargo run --example ring_consumer -- /sensors 100000 &   # start the consumer first, or
//! cargo run --example ring_producer -- /sensors 100000     # the other way round
//! ```
//!
//! A push into a full ring waits for room (here up to 30 s); if the consumer has left (or
//! died) meanwhile, it returns `Disconnected` and this program stops with that error. A
//! producer that must outlive consumer restarts opens the ring with
//! `.on_peer_exit(PeerExit::Wait)`: a full ring is then waited on, within the push's timeout,
//! until the next consumer makes room.
//!
//! The ring is removed when the last of the two that opened it with `open_or_create`
//! leaves: the creator's handle unlinks the name on drop, and the other keeps its mapping.

use std::process::ExitCode;
use std::time::Duration;

use ipc::{SharedLayout, SpscRing};

/// One reading (the consumer declares the same struct; `SharedLayout` records its layout).
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
struct Reading {
    seq: u64,
    sensor: u32,
    celsius: f32,
    check: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map_or("/sensors", String::as_str);
    let count: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    match run(name, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ring_producer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str, count: u64) -> ipc::Result<()> {
    let ring = SpscRing::<Reading>::options()
        .capacity(1024)
        // Keep the name while the other program may still open it; the consumer removes it.
        .unlink_on_drop(false)
        .open_or_create(name)?;
    let mut tx = ring.producer()?;
    let wait = Some(Duration::from_secs(30));
    for seq in 0..count {
        let sensor = (seq % 7) as u32;
        let celsius = 20.0 + (seq % 100) as f32 / 10.0;
        let check = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(sensor);
        tx.push(
            Reading {
                seq,
                sensor,
                celsius,
                check,
            },
            wait,
        )?;
    }
    println!("ring_producer: sent {count} readings into {name}");
    Ok(())
}
