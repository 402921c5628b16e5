//! The bridge's message on the wire: one Zenoh sample per ring frame.
//!
//! ```text
//! offset  size  field
//!      0     8  publisher: u64, little-endian; random, fixed for one `out` process
//!      8     8  seq: u64, little-endian; 0, 1, 2, ... per publisher, one per frame
//!     16     4  len: u32, little-endian; the frame's length
//!     20     4  crc: u32, little-endian; CRC-32 (IEEE) of the frame's bytes
//!     24   len  the frame's bytes, unchanged
//! ```
//!
//! The header lets the receiving side see loss (a jump in `seq` from one publisher) and
//! order (a `seq` that goes back), tell a restarted `out` (a new `publisher`) from a gap,
//! and refuse a frame whose bytes changed on the way (`len`, `crc`). This module is the one
//! place that writes or reads it.

use std::fmt;

/// Bytes before the frame.
pub const HEADER_LEN: usize = 24;

/// The header of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which `out` process sent it (random per process).
    pub publisher: u64,
    /// Its place in that publisher's stream.
    pub seq: u64,
}

/// Why a message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the header.
    Short {
        /// The message's length.
        len: usize,
    },
    /// The header's `len` is not the length of what follows it.
    Length {
        /// The header's `len`.
        stated: u32,
        /// The bytes after the header.
        found: usize,
    },
    /// The frame's CRC differs from the header's: its bytes changed on the way.
    Checksum {
        /// The frame's `seq`.
        seq: u64,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Short { len } => write!(
                f,
                "bridge message of {len} bytes is shorter than its {HEADER_LEN}-byte header"
            ),
            Malformed::Length { stated, found } => write!(
                f,
                "bridge message says {stated} frame bytes but carries {found}"
            ),
            Malformed::Checksum { seq } => {
                write!(f, "bridge message {seq}: the frame's CRC does not match")
            }
        }
    }
}

impl std::error::Error for Malformed {}

/// The largest frame a message carries (its length is a u32).
pub const MAX_FRAME: usize = u32::MAX as usize;

/// Writes `header` and `frame` into one message.
///
/// # Panics
/// If `frame` is longer than [`MAX_FRAME`] (a ring frame never is: its length is a u32).
pub fn encode(header: Header, frame: &[u8]) -> Vec<u8> {
    let len = u32::try_from(frame.len()).expect("a ring frame's length fits a u32");
    let mut msg = Vec::with_capacity(HEADER_LEN + frame.len());
    msg.extend_from_slice(&header.publisher.to_le_bytes());
    msg.extend_from_slice(&header.seq.to_le_bytes());
    msg.extend_from_slice(&len.to_le_bytes());
    msg.extend_from_slice(&crc32fast::hash(frame).to_le_bytes());
    msg.extend_from_slice(frame);
    msg
}

/// Splits a message into its header and frame, checking the frame's length and CRC.
///
/// # Errors
/// [`Malformed`] says what is wrong.
pub fn decode(msg: &[u8]) -> Result<(Header, &[u8]), Malformed> {
    let (head, frame) = msg
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(Malformed::Short { len: msg.len() })?;
    let u64_at = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
    let h = Header {
        publisher: u64_at(0),
        seq: u64_at(8),
    };
    let stated = u32_at(16);
    if stated as usize != frame.len() {
        return Err(Malformed::Length {
            stated,
            found: frame.len(),
        });
    }
    if crc32fast::hash(frame) != u32_at(20) {
        return Err(Malformed::Checksum { seq: h.seq });
    }
    Ok((h, frame))
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
    fn round_trip_and_every_malformed_kind() {
        let h = Header {
            publisher: 0x0102_0304_0506_0708,
            seq: 42,
        };
        let msg = encode(h, b"frame");
        assert_eq!(msg.len(), HEADER_LEN + 5);
        assert_eq!(&msg[..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&msg[16..20], &5u32.to_le_bytes());
        assert_eq!(decode(&msg), Ok((h, &b"frame"[..])));
        assert_eq!(decode(&encode(h, b"")), Ok((h, &b""[..])));
        assert_eq!(decode(&msg[..23]), Err(Malformed::Short { len: 23 }));
        assert_eq!(decode(&[]), Err(Malformed::Short { len: 0 }));
        assert_eq!(
            decode(&msg[..27]),
            Err(Malformed::Length {
                stated: 5,
                found: 3
            })
        );
        let mut bad = msg.clone();
        bad[26] ^= 1;
        assert_eq!(decode(&bad), Err(Malformed::Checksum { seq: 42 }));
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
