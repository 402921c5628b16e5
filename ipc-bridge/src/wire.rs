//! The bridge's message on the wire: one Zenoh sample per ring frame.
//!
//! ```text
//! offset  size  field
//!      0     8  publisher: u64, little-endian; random, fixed for one `out` process
//!      8     8  seq: u64, little-endian; 0, 1, 2, ... per publisher, one per frame
//!     16     n  the frame's bytes, unchanged
//! ```
//!
//! The header lets the receiving side see loss (a jump in `seq` from one publisher) and
//! order (a `seq` that goes back), and tell a restarted `out` (a new `publisher`) from a
//! gap. This module is the one place that writes or reads it.

use std::fmt;

/// Bytes before the frame.
pub const HEADER_LEN: usize = 16;

/// The header of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which `out` process sent it (random per process).
    pub publisher: u64,
    /// Its place in that publisher's stream.
    pub seq: u64,
}

/// A message too short to hold the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed {
    /// The message's length.
    pub len: usize,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bridge message of {} bytes is shorter than its {HEADER_LEN}-byte header",
            self.len
        )
    }
}

impl std::error::Error for Malformed {}

/// Writes `header` and `frame` into one message.
pub fn encode(header: Header, frame: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(HEADER_LEN + frame.len());
    msg.extend_from_slice(&header.publisher.to_le_bytes());
    msg.extend_from_slice(&header.seq.to_le_bytes());
    msg.extend_from_slice(frame);
    msg
}

/// Splits a message into its header and frame.
///
/// # Errors
/// [`Malformed`] if it is shorter than [`HEADER_LEN`].
pub fn decode(msg: &[u8]) -> Result<(Header, &[u8]), Malformed> {
    let (head, frame) = msg
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(Malformed { len: msg.len() })?;
    let (p, s) = head.split_at(8);
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    Ok((
        Header {
            publisher: word(p),
            seq: word(s),
        },
        frame,
    ))
}

/// Tracks one receiver's view of every publisher's sequence: what is missing, what came
/// out of order.
#[derive(Debug, Default)]
pub struct SeqTracker {
    next: std::collections::HashMap<u64, u64>,
}

/// What one message's header says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqEvent {
    /// The first message seen from this publisher.
    First,
    /// The next one, as expected.
    InOrder,
    /// `missing` messages of this publisher never arrived before this one.
    Gap {
        /// How many.
        missing: u64,
    },
    /// A message at or before one already seen (never expected over a reliable link).
    Behind,
}

impl SeqTracker {
    /// Records `h` and says how it fits its publisher's stream.
    pub fn observe(&mut self, h: Header) -> SeqEvent {
        let next = self.next.insert(h.publisher, h.seq.wrapping_add(1));
        match next {
            None => SeqEvent::First,
            Some(n) if n == h.seq => SeqEvent::InOrder,
            Some(n) if h.seq > n => SeqEvent::Gap { missing: h.seq - n },
            Some(n) => {
                // Keep the furthest point reached.
                self.next.insert(h.publisher, n);
                SeqEvent::Behind
            }
        }
    }

    /// Publishers seen.
    pub fn publishers(&self) -> usize {
        self.next.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_short_message() {
        let h = Header {
            publisher: 0x0102_0304_0506_0708,
            seq: 42,
        };
        let msg = encode(h, b"frame");
        assert_eq!(msg.len(), HEADER_LEN + 5);
        assert_eq!(&msg[..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(decode(&msg), Ok((h, &b"frame"[..])));
        assert_eq!(decode(&msg[..HEADER_LEN]), Ok((h, &b""[..])));
        assert_eq!(decode(&msg[..15]), Err(Malformed { len: 15 }));
        assert_eq!(decode(&[]), Err(Malformed { len: 0 }));
    }

    #[test]
    fn tracker_names_gaps_and_reorders() {
        let mut t = SeqTracker::default();
        let h = |publisher, seq| Header { publisher, seq };
        assert_eq!(t.observe(h(1, 5)), SeqEvent::First);
        assert_eq!(t.observe(h(1, 6)), SeqEvent::InOrder);
        assert_eq!(t.observe(h(1, 10)), SeqEvent::Gap { missing: 3 });
        assert_eq!(t.observe(h(1, 7)), SeqEvent::Behind);
        assert_eq!(t.observe(h(1, 11)), SeqEvent::InOrder);
        assert_eq!(t.observe(h(2, 0)), SeqEvent::First);
        assert_eq!(t.publishers(), 2);
    }
}
