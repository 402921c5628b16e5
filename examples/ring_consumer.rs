//! A consumer program: opens (or creates) the named SPSC ring `NAME` of `Reading`s, receives
//! until the producer has left and everything it sent is drained (`Disconnected`), checks
//! order and checksums, prints a summary, and removes the ring. See `ring_producer`.
//!
//! What a peer's departure means: a ring nobody has produced into yet is waited on (within
//! the pop's timeout); once a producer has attached, its leaving (or dying) ends the stream:
//! `pop` returns what is left, then `Disconnected`, which this program takes as "done".
//! A consumer that must outlive producer restarts opens the ring with
//! `.on_peer_exit(PeerExit::Wait)` instead: `pop` then waits, within its timeout, for the
//! next producer, and the program decides when it is done (a count, an end message, a
//! `Timeout`).
//!
//! ```text
//! cargo run --example ring_consumer -- /sensors 100000 &
//! cargo run --example ring_producer -- /sensors 100000
//! ```

use std::process::ExitCode;
use std::time::Duration;

use ipc::{ErrorKind, SharedLayout, SpscRing};

/// The same struct as the producer's, declared separately: opening the ring compares the
/// two layouts field by field.
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
    let expect: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    match run(name, expect) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ring_consumer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(name: &str, expect: u64) -> ipc::Result<()> {
    let mut ring = SpscRing::<Reading>::options()
        .capacity(1024)
        .open_or_create(name)?;
    // This program removes the ring when it is done, whoever created it.
    ring.set_unlink_on_drop(true);
    let mut rx = ring.consumer()?;
    let (mut next, mut sum) = (0u64, 0f64);
    loop {
        // Waits for the producer to attach and send (a producer that never comes is a
        // timeout after a minute); `Disconnected` once it has left and all is read.
        match rx.pop(Some(Duration::from_secs(60))) {
            Ok(r) => {
                let check = r.seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(r.sensor);
                if r.seq != next || r.check != check {
                    return Err(ipc::Error::with_text(
                        "ring_consumer",
                        ErrorKind::Corrupted,
                        format!("reading {next}: got {r:?}"),
                    ));
                }
                next += 1;
                sum += f64::from(r.celsius);
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(e) => return Err(e),
        }
    }
    println!(
        "ring_consumer: {next} readings from {name} in order, checksums ok, mean {:.2} C",
        sum / next.max(1) as f64
    );
    if next != expect {
        return Err(ipc::Error::with_text(
            "ring_consumer",
            ErrorKind::InvalidInput,
            format!("expected {expect} readings, got {next}"),
        ));
    }
    Ok(())
}
