//! What an error returned out of `main` says: the operation and the ring.
//!
//! ```text
//! cargo run --example ring_timeout -- /sensors
//! ```
//!
//! Creates the SPSC ring `NAME` (a unique name if none is given), attaches as its consumer
//! and waits 10 ms for a value nobody sends. The timeout goes out of `main` with `?`, and
//! Rust prints it as `Error: pop "/sensors": timed out`, exit status 1. The ring's creating
//! handle removes the name when it drops, before `main` returns.

use std::error::Error;
use std::time::Duration;

use ipc::SpscRing;

fn main() -> Result<(), Box<dyn Error>> {
    let ring = match std::env::args().nth(1) {
        Some(name) => SpscRing::<u64>::create(&name, 8)?,
        None => SpscRing::<u64>::options()
            .capacity(8)
            .create_unique("/ring-timeout")?,
    };
    let mut rx = ring.consumer()?;
    let v = rx.pop(Some(Duration::from_millis(10)))?;
    println!("received {v}");
    Ok(())
}
