//! `ipc-bridge in`: subscribe to a key expression, push each sample's frame into a local
//! byte ring.
//!
//! Samples wait in a bounded queue between Zenoh's receive thread and this loop. When the
//! local ring is full, [`Full::Block`] waits for room: the queue fills, Zenoh's receive
//! thread waits, TCP's window closes and the remote `out`'s `put` waits, so nothing is
//! dropped on this side. [`Full::Drop`] drops the newest frame (the one that does not fit)
//! and counts it.

use std::str::FromStr;
use std::time::Duration;

use ipc_collections::ErrorKind;
use zenoh::handlers::FifoChannel;
use zenoh::Wait;

use crate::outbound::open_ring;
use crate::wire::{self, SeqEvent, SeqTracker};
use crate::{Counters, Error, Stop, POLL};

/// What `in` does when the local ring has no room for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Wait for room (backpressure reaches the remote `out` through Zenoh and TCP).
    Block,
    /// Drop the frame that does not fit and count it in `drops`.
    Drop,
}

impl FromStr for Full {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "block" => Ok(Full::Block),
            "drop" => Ok(Full::Drop),
            _ => Err(format!("{s:?}: expected `block` or `drop`")),
        }
    }
}

/// What `ipc-bridge in` does.
#[derive(Debug, Clone)]
pub struct InOptions {
    /// The key expression to subscribe to.
    pub key: String,
    /// The local ring to push into.
    pub ring: String,
    /// Create the ring with this capacity (bytes) if it does not exist; `None`: open it.
    pub create: Option<u64>,
    /// When the ring is full.
    pub full: Full,
    /// Samples queued between Zenoh's receive thread and the ring.
    pub queue: usize,
}

/// Runs `in` until `stop`.
///
/// # Errors
/// [`Error::KeyExpr`], [`Error::Ring`] (the ring cannot be opened, another producer holds
/// it, it is corrupted), [`Error::Zenoh`].
pub fn run(
    session: &zenoh::Session,
    o: &InOptions,
    stop: &Stop,
    c: &Counters,
) -> Result<(), Error> {
    let key = crate::key_expr(&o.key)?;
    let ring = open_ring(&o.ring, o.create)?;
    let mut prod = ring.producer()?;
    let max_frame = ring.max_frame();
    let sub = session
        .declare_subscriber(key)
        .with(FifoChannel::new(o.queue.max(1)))
        .wait()
        .map_err(|e| Error::Zenoh(format!("declaring the subscriber: {e}")))?;
    let mut seqs = SeqTracker::default();
    let (mut said_corrupt, mut said_too_large) = (false, false);
    while !stop.requested() {
        let sample = match sub.recv_timeout(POLL) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => return Err(Error::Zenoh(format!("receiving: {e}"))),
        };
        let payload = sample.payload().to_bytes();
        let (header, frame) = match wire::decode(&payload) {
            Ok(m) => m,
            Err(e) => {
                Counters::add(&c.drops, 1);
                Counters::add(&c.corrupted, 1);
                if !said_corrupt {
                    said_corrupt = true;
                    eprintln!("ipc-bridge in: {e}; dropped (further ones only counted)");
                }
                continue;
            }
        };
        match seqs.observe(header) {
            SeqEvent::First => Counters::add(&c.publishers, 1),
            SeqEvent::InOrder => {}
            SeqEvent::Gap { missing } => Counters::add(&c.lost, missing),
            SeqEvent::Behind => Counters::add(&c.reordered, 1),
        }
        if frame.len() > max_frame {
            Counters::add(&c.drops, 1);
            if !said_too_large {
                said_too_large = true;
                eprintln!(
                    "ipc-bridge in: frame of {} bytes exceeds the ring's largest frame \
                     ({max_frame}); dropped (further ones only counted)",
                    frame.len()
                );
            }
            continue;
        }
        let sent = match o.full {
            Full::Drop => match prod.try_send(frame) {
                Err(e) if e.kind() == ErrorKind::Disconnected => Ok(false),
                r => r,
            },
            Full::Block => loop {
                match prod.send(frame, Some(POLL)) {
                    Ok(()) => break Ok(true),
                    // Full, and maybe the consumer gone: wait for room or a new consumer,
                    // or give the frame up at shutdown.
                    Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Disconnected) => {
                        if stop.requested() {
                            break Ok(false);
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => break Err(e),
                }
            },
        };
        match sent {
            Ok(true) => c.frame(frame.len()),
            Ok(false) => Counters::add(&c.drops, 1),
            Err(e) => return Err(Error::Ring(e)),
        }
    }
    Ok(())
}
