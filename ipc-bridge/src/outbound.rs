//! `ipc-bridge out`: pop frames from a local byte ring, publish each as one Zenoh sample.
//!
//! The publisher is reliable with congestion control `Block`: when the link or the remote
//! side is slow, `put` waits, this loop stops popping, the local ring fills and the local
//! producer sees a full ring (its own backpressure choice: block or `Full`). The loop pops
//! only while a matching subscriber is known (`matching_listener`), so while no `in` side is
//! up, frames stay in the local ring instead of being published to nobody.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipc_collections::{ByteRing, ErrorKind};
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::{wire, Counters, Error, Stop, POLL};

/// What `ipc-bridge out` does.
#[derive(Debug, Clone)]
pub struct OutOptions {
    /// The local ring to pop from.
    pub ring: String,
    /// The key expression to publish on.
    pub key: String,
    /// Create the ring with this capacity (bytes) if it does not exist; `None`: open it.
    pub create: Option<u64>,
    /// Zenoh express mode: send each sample at once instead of batching (lower latency,
    /// lower throughput).
    pub express: bool,
}

/// A fresh random publisher id for the wire header.
fn publisher_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS's random source, once per process.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// Opens (or creates) the ring named in `o`. A ring the bridge creates is not unlinked
/// when the bridge exits: a restarted bridge and the local producer keep using it.
pub(crate) fn open_ring(name: &str, create: Option<u64>) -> Result<ByteRing, Error> {
    Ok(match create {
        Some(capacity) => ByteRing::options()
            .capacity(capacity)
            .unlink_on_drop(false)
            .open_or_create(name)?,
        None => ByteRing::open(name)?,
    })
}

/// Runs `out` until `stop`.
///
/// # Errors
/// [`Error::KeyExpr`], [`Error::Ring`] (the ring cannot be opened, another consumer holds
/// it, it is corrupted), [`Error::Zenoh`].
pub fn run(
    session: &zenoh::Session,
    o: &OutOptions,
    stop: &Stop,
    c: &Counters,
) -> Result<(), Error> {
    let key = crate::key_expr(&o.key)?;
    let ring = open_ring(&o.ring, o.create)?;
    let mut cons = ring.consumer()?;
    let publisher = session
        .declare_publisher(key)
        .congestion_control(CongestionControl::Block)
        .express(o.express)
        .wait()
        .map_err(|e| Error::Zenoh(format!("declaring the publisher: {e}")))?;
    let matching = Arc::new(AtomicBool::new(false));
    let m = matching.clone();
    let _listener = publisher
        .matching_listener()
        .callback(move |s| m.store(s.matching(), Ordering::Release))
        .wait()
        .map_err(|e| Error::Zenoh(format!("declaring the matching listener: {e}")))?;
    let id = publisher_id();
    let mut seq = 0u64;
    let mut waiting_said = false;
    while !stop.requested() {
        // Acquire: pairs with the listener's Release store.
        if !matching.load(Ordering::Acquire) {
            if !waiting_said {
                eprintln!(
                    "ipc-bridge out: no subscriber on {}; frames wait in the ring",
                    o.key
                );
                waiting_said = true;
            }
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        waiting_said = false;
        let msg = match cons.recv(Some(POLL)) {
            Ok(frame) => wire::encode(wire::Header { publisher: id, seq }, &frame),
            // Nothing yet, or the producer left (a new one may attach): keep polling.
            Err(e) if e.kind() == ErrorKind::Timeout => continue,
            Err(e) if e.kind() == ErrorKind::Disconnected => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => return Err(Error::Ring(e)),
        };
        // The frame is released to the producer here, before the publish: at most once.
        let len = msg.len() - wire::HEADER_LEN;
        seq += 1;
        match publisher.put(msg).wait() {
            Ok(()) => c.frame(len),
            Err(e) => {
                Counters::add(&c.drops, 1);
                eprintln!("ipc-bridge out: publish failed ({e}); frame dropped");
            }
        }
    }
    Ok(())
}
