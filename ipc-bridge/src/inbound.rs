//! `ipc-bridge in`: subscribe to a key expression, push each sample's frame into a local
//! byte ring once, in order, and acknowledge it.
//!
//! Samples wait in a bounded queue between Zenoh's receive thread and this loop. Each
//! carries its stream (ring A) and position ([`wire::Header`]); `in` pushes a frame only if
//! it is the next one of its stream (its `pos` is the stream's `delivered` position, kept
//! in the [`progress`](crate::progress) segment across crashes): one before it is a duplicate (dropped,
//! counted in `duplicates`), one after it comes after a lost one (dropped, counted in
//! `gaps`, and `in` asks `out` to send again from `delivered`). After pushing, `in`
//! acknowledges what it has ([`wire::Ack`]) when its queue is empty or every
//! [`ACK_EVERY`] frames, so `out` frees ring A.
//!
//! When the local ring is full, [`Full::Block`] waits for room: the queue fills, Zenoh's
//! receive thread waits, TCP's window closes and the remote `out`'s `put` waits, so nothing
//! is dropped on this side. [`Full::Drop`] drops the newest frame (the one that does not
//! fit), counts it and acknowledges it as handled.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use ipc_collections::ErrorKind;
use zenoh::handlers::FifoChannel;
use zenoh::Wait;

use crate::outbound::open_ring;
use crate::progress::{Progress, Slot};
use crate::wire::{self, Ack, AckKind};
use crate::{Counters, Error, Stop, POLL};

/// Frames pushed between two acknowledgements at most (fewer when the queue runs empty).
pub const ACK_EVERY: u32 = 32;

/// How long after asking for a resend `in` waits before asking again (frames already on
/// their way after the gap arrive meanwhile, and are dropped as gaps).
pub const RESEND_AGAIN: Duration = Duration::from_millis(200);

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

/// One stream's acknowledgement state in this process.
struct Acking {
    slot: Slot,
    /// Frames handled since the last acknowledgement.
    unacked: u32,
    /// When `in` last asked for a resend, and from where.
    asked: Option<(Instant, u64)>,
}

/// Runs `in` until `stop`.
///
/// # Errors
/// [`Error::KeyExpr`], [`Error::Ring`] (the ring or its progress segment cannot be opened,
/// another producer holds the ring, it is corrupted), [`Error::Zenoh`].
pub fn run(
    session: &zenoh::Session,
    o: &InOptions,
    stop: &Stop,
    c: &Counters,
) -> Result<(), Error> {
    let key = crate::key_expr(&o.key)?;
    let ring = open_ring(&o.ring, o.create)?;
    let mut prod = ring.producer()?;
    let progress = Progress::open(&o.ring, wire::stream_id(ring.info()))?;
    if progress.recover(prod.position()) {
        eprintln!("ipc-bridge in: the last push of the previous `in` had happened; recorded");
    }
    let max_frame = ring.max_frame();
    let sub = session
        .declare_subscriber(key)
        .with(FifoChannel::new(o.queue.max(1)))
        .wait()
        .map_err(|e| Error::Zenoh(format!("declaring the subscriber: {e}")))?;
    let mut streams: HashMap<u64, Acking> = HashMap::new();
    let ack = |stream: u64, a: &mut Acking, kind: AckKind| {
        let msg = wire::encode_ack(Ack {
            stream,
            delivered: progress.delivered(a.slot),
            kind,
        });
        a.unacked = 0;
        // An acknowledgement lost is replaced by the next; `out` resends after a timeout.
        if let Err(e) = session
            .put(wire::ack_key(stream), msg.to_vec())
            .express(true)
            .wait()
        {
            eprintln!("ipc-bridge in: acknowledging failed ({e})");
        }
    };
    let (mut said_corrupt, mut said_too_large) = (false, false);
    while !stop.requested() {
        let sample = match sub.try_recv() {
            Ok(Some(s)) => s,
            Ok(None) => {
                // The queue ran empty: acknowledge what was pushed, then wait.
                for (&id, a) in streams.iter_mut().filter(|(_, a)| a.unacked > 0) {
                    ack(id, a, AckKind::Delivered);
                }
                match sub.recv_timeout(POLL) {
                    Ok(Some(s)) => s,
                    Ok(None) => continue,
                    Err(e) => return Err(Error::Zenoh(format!("receiving: {e}"))),
                }
            }
            Err(e) => return Err(Error::Zenoh(format!("receiving: {e}"))),
        };
        let payload = sample.payload().to_bytes();
        let (h, frame) = match wire::decode(&payload) {
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
        let a = streams.entry(h.stream).or_insert_with(|| {
            Counters::add(&c.publishers, 1);
            let slot = progress
                .find(h.stream)
                .unwrap_or_else(|| progress.add(h.stream, h.base));
            Acking {
                slot,
                unacked: 0,
                asked: None,
            }
        });
        // Frames before `base` were acknowledged: by this ring's earlier `in`s (then they
        // are delivered), or by another `in` (not here: counted as a run lost).
        let mut delivered = progress.delivered(a.slot);
        if h.base > delivered {
            Counters::add(&c.lost, 1);
            progress.skip(a.slot, h.base);
            delivered = h.base;
        }
        if h.next <= delivered {
            // Pushed already (sent again after a crash, a cut link or a timeout).
            Counters::add(&c.duplicates, 1);
            a.unacked += 1;
            if a.unacked >= ACK_EVERY {
                ack(h.stream, a, AckKind::Delivered);
            }
            continue;
        }
        if h.pos != delivered {
            // After a missing frame (or straddling `delivered`, which a consistent ring
            // never sends): drop it and ask for the stream again from `delivered`.
            Counters::add(&c.gaps, 1);
            let again = match a.asked {
                Some((at, from)) => from != delivered || at.elapsed() >= RESEND_AGAIN,
                None => true,
            };
            if again {
                a.asked = Some((Instant::now(), delivered));
                ack(h.stream, a, AckKind::Resend);
            }
            continue;
        }
        a.asked = None;
        a.unacked += 1;
        if frame.len() > max_frame {
            Counters::add(&c.drops, 1);
            progress.skip(a.slot, h.next);
            if !said_too_large {
                said_too_large = true;
                eprintln!(
                    "ipc-bridge in: frame of {} bytes exceeds the ring's largest frame \
                     ({max_frame}); dropped (further ones only counted)",
                    frame.len()
                );
            }
        } else {
            let at = prod.position();
            let sent = progress.push(a.slot, h.next, at, || match o.full {
                Full::Drop => match prod.try_send(frame) {
                    Err(e) if e.kind() == ErrorKind::Disconnected => Ok(false),
                    // Ok(false): ring B is full.
                    r => r,
                },
                Full::Block => loop {
                    match prod.send(frame, Some(POLL)) {
                        Ok(()) => break Ok(true),
                        // Full, and maybe the consumer gone: wait for room or a new
                        // consumer, or give the frame up at shutdown (it stays
                        // unacknowledged: the next `in` gets it again).
                        Err(e)
                            if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Disconnected) =>
                        {
                            if stop.requested() {
                                break Ok(false);
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => break Err(e),
                    }
                },
            });
            match sent {
                Ok(true) => c.frame(frame.len()),
                Ok(false) => {
                    Counters::add(&c.drops, 1);
                    if o.full == Full::Drop {
                        // Dropped on purpose: handled, not to be sent again.
                        progress.skip(a.slot, h.next);
                    }
                }
                Err(e) => return Err(Error::Ring(e)),
            }
        }
        if a.unacked >= ACK_EVERY {
            ack(h.stream, a, AckKind::Delivered);
        }
    }
    for (&id, a) in streams.iter_mut().filter(|(_, a)| a.unacked > 0) {
        ack(id, a, AckKind::Delivered);
    }
    Ok(())
}
