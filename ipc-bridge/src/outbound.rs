//! `ipc-bridge out`: read frames from a local byte ring, publish each as one Zenoh sample,
//! and consume them from the ring only once `in` acknowledges them.
//!
//! Frames are read with [`peek_at`](ipc_collections::ring::bytes::Consumer::peek_at),
//! which leaves them in ring A: a frame `out` has published stays there until an
//! acknowledgement from `in` ([`wire::Ack`] on [`wire::ack_key`]) says it is in ring B,
//! and only then does [`release_to`](ipc_collections::ring::bytes::Consumer::release_to)
//! free its bytes. So a SIGKILLed `out` loses nothing: the next one starts at ring A's
//! head, the oldest unacknowledged frame, with the same positions, and `in` drops what it
//! already has. `out` sends again from the oldest unacknowledged frame when `in` asks
//! ([`wire::AckKind::Resend`]: a frame went missing), when a subscriber appears again (a
//! restarted `in`, a link back up), and when nothing was acknowledged for [`ACK_TIMEOUT`]
//! while frames wait (an acknowledgement or the last frames lost).
//!
//! The publisher is reliable with congestion control `Block`: when the link or the remote
//! side is slow, `put` waits, and ring A fills (its producer sees it full). The loop sends
//! only while a matching subscriber is known (`matching_listener`), so while no `in` side
//! is up, frames stay in ring A instead of being published to nobody. Ring A's capacity is
//! the window of unacknowledged frames.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipc_collections::{ByteRing, ErrorKind};
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::wire::{self, AckKind};
use crate::{Counters, Error, Stop, POLL};

/// How long `out` waits for an acknowledgement, while frames it sent are unacknowledged,
/// before it sends them again.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// What `ipc-bridge out` does.
#[derive(Debug, Clone)]
pub struct OutOptions {
    /// The local ring to read from.
    pub ring: String,
    /// The key expression to publish on.
    pub key: String,
    /// Create the ring with this capacity (bytes) if it does not exist; `None`: open it.
    pub create: Option<u64>,
    /// Zenoh express mode: send each sample at once instead of batching (lower latency,
    /// lower throughput).
    pub express: bool,
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

/// The acknowledgements received since the loop last looked.
#[derive(Default)]
struct Acks {
    /// The furthest `delivered` position acknowledged.
    delivered: Option<u64>,
    /// The earliest position `in` asked to send again from.
    resend: Option<u64>,
    /// Messages refused (malformed or of another stream).
    refused: u64,
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
    let stream = wire::stream_id(ring.info());
    let zerr = |what: &'static str| move |e: zenoh::Error| Error::Zenoh(format!("{what}: {e}"));

    let acks = Arc::new(Mutex::new(Acks::default()));
    let a = acks.clone();
    let _ack_sub = session
        .declare_subscriber(wire::ack_key(stream))
        .callback(move |sample| {
            let ack = wire::decode_ack(&sample.payload().to_bytes());
            let mut acks = a.lock().unwrap_or_else(|p| p.into_inner());
            match ack {
                Ok(ack) if ack.stream == stream => {
                    let d = ack.delivered;
                    // Positions grow (wrapping after 2^64 bytes, never in practice).
                    acks.delivered = Some(acks.delivered.map_or(d, |x| x.max(d)));
                    if ack.kind == AckKind::Resend {
                        acks.resend = Some(acks.resend.map_or(d, |x| x.min(d)));
                    }
                }
                _ => acks.refused += 1,
            }
        })
        .wait()
        .map_err(zerr("declaring the acknowledgement subscriber"))?;

    let publisher = session
        .declare_publisher(key)
        .congestion_control(CongestionControl::Block)
        .express(o.express)
        .wait()
        .map_err(zerr("declaring the publisher"))?;
    // Whether a subscriber matches, and how many times one appeared (a new `in`, or the
    // link back): each time, what was in flight may be lost, so send again from head.
    let matching = Arc::new(AtomicBool::new(false));
    let appeared = Arc::new(AtomicU64::new(0));
    let (m, ap) = (matching.clone(), appeared.clone());
    let _listener = publisher
        .matching_listener()
        .callback(move |s| {
            if s.matching() && !m.swap(true, Ordering::AcqRel) {
                ap.fetch_add(1, Ordering::AcqRel);
            } else if !s.matching() {
                m.store(false, Ordering::Release);
            }
        })
        .wait()
        .map_err(zerr("declaring the matching listener"))?;

    // The next position to send; everything before it since head was sent.
    let mut cursor = cons.position();
    // The furthest position this process sent (a send before it is a resend).
    let mut sent_to = cursor;
    let mut seen_appeared = 0;
    let mut last_progress = Instant::now();
    let mut waiting_said = false;
    let mut said_refused = false;
    while !stop.requested() {
        // Acknowledgements: release what `in` has, rewind where it asks.
        let (delivered, resend, refused) = {
            let mut acks = acks.lock().unwrap_or_else(|p| p.into_inner());
            let r = (acks.delivered.take(), acks.resend.take(), acks.refused);
            acks.refused = 0;
            r
        };
        Counters::add(&c.refused, refused);
        if let Some(d) = delivered {
            match release(&mut cons, d, c) {
                Ok(true) => last_progress = Instant::now(),
                Ok(false) => {}
                Err(e) if e.kind() == ErrorKind::InvalidInput => {
                    Counters::add(&c.refused, 1);
                    if !said_refused {
                        said_refused = true;
                        eprintln!("ipc-bridge out: acknowledgement of {d} refused ({e})");
                    }
                }
                Err(e) => return Err(Error::Ring(e)),
            }
        }
        let head = cons.position();
        // `in` may have more than this `out` sent (frames an earlier `out` sent): skip it.
        // (Positions are byte counts: they do not wrap in 2^64 bytes.)
        cursor = cursor.max(head);
        if let Some(r) = resend {
            // From what `in` has (at least head: what is before head was acknowledged).
            let from = if (head..=cursor).contains(&r) {
                r
            } else {
                head
            };
            if from != cursor {
                Counters::add(&c.rewinds, 1);
                cursor = from;
            }
            last_progress = Instant::now();
        }
        // Acquire: pairs with the listener's AcqRel updates.
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
        let now_appeared = appeared.load(Ordering::Acquire);
        if now_appeared != seen_appeared {
            seen_appeared = now_appeared;
            if cursor != head {
                Counters::add(&c.rewinds, 1);
                cursor = head;
            }
            last_progress = Instant::now();
        }
        if cursor != head && last_progress.elapsed() >= ACK_TIMEOUT {
            // Sent, not acknowledged for a while: the frames or the acknowledgements were
            // lost (a cut link, a killed `in`). Send again from the oldest.
            Counters::add(&c.rewinds, 1);
            cursor = head;
            last_progress = Instant::now();
        }
        // While frames wait for their acknowledgement, look at the acknowledgements again
        // soon; otherwise wait for a frame up to POLL.
        let wait = if cursor == head {
            POLL
        } else {
            Duration::from_millis(1)
        };
        let (msg, next) = match cons.peek_at(cursor, Some(wait)) {
            Ok(f) => {
                let h = wire::Header {
                    stream,
                    pos: cursor,
                    next: f.next(),
                    base: head,
                };
                (wire::encode(h, &f), f.next())
            }
            // Nothing yet, or the producer left (a new one may attach): keep polling.
            Err(e) if e.kind() == ErrorKind::Timeout => continue,
            Err(e) if e.kind() == ErrorKind::Disconnected => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(e) => return Err(Error::Ring(e)),
        };
        let len = msg.len() - wire::HEADER_LEN;
        match publisher.put(msg).wait() {
            Ok(()) => {
                c.frame(len);
                if cursor < sent_to {
                    Counters::add(&c.resent, 1);
                } else {
                    sent_to = next;
                }
                cursor = next;
            }
            // The frame stays in ring A: it is sent again after the next rewind.
            Err(e) => eprintln!("ipc-bridge out: publish failed ({e}); will retry"),
        }
    }
    Ok(())
}

/// Releases ring A up to `delivered` if that is past head (counting the frames in
/// `acked`); whether anything was released.
fn release(
    cons: &mut ipc_collections::ring::bytes::Consumer<'_>,
    delivered: u64,
    c: &Counters,
) -> ipc_collections::Result<bool> {
    if delivered <= cons.position() {
        // At or before head: acknowledged already.
        return Ok(false);
    }
    let n = cons.release_to(delivered)?;
    Counters::add(&c.acked, n);
    Ok(n > 0)
}
