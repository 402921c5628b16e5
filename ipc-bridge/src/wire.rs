//! The bridge's messages on the wire: one Zenoh sample per ring frame (`out` to `in`), and
//! acknowledgements (`in` to `out`).
//!
//! A frame message:
//!
//! ```text
//! offset  size  field
//!      0     8  stream: u64, little-endian; ring A's identity (see `stream_id`)
//!      8     8  pos: u64; the frame's position in ring A (bytes ring A had consumed
//!               before it: `bytes::Consumer::position`), the same for every `out` that
//!               sends it
//!     16     8  next: u64; the position after it (the next frame's `pos`)
//!     24     8  base: u64; ring A's head when sent: every frame before it was acknowledged
//!     32     4  len: u32; the frame's length
//!     36     4  crc: u32; CRC-32 (IEEE) of bytes 0..36 and the frame's bytes
//!     40   len  the frame's bytes, unchanged
//! ```
//!
//! An acknowledgement, published by `in` on [`ack_key`]`(stream)`:
//!
//! ```text
//!      0     8  stream: u64
//!      8     8  delivered: u64; every frame of the stream before this position is in
//!               ring B (`in` keeps it in its progress segment, across its crashes)
//!     16     4  kind: u32; 0: acknowledgement, 1: resend from `delivered` (a frame
//!               arrived after a missing one)
//!     20     4  crc: u32; CRC-32 of bytes 0..20
//! ```
//!
//! Positions let `in` push each frame once, in order (a `pos` before what it delivered is
//! a duplicate, one after it a gap to be resent), and let `out` keep every frame in ring A
//! until `in` has it. This module is the one place that writes or reads these messages.

use std::fmt;

/// Bytes before the frame.
pub const HEADER_LEN: usize = 40;
/// The length of an acknowledgement.
pub const ACK_LEN: usize = 24;

/// The key expression of a stream's acknowledgements (`ipc-bridge/ack/<stream, hex>`).
pub fn ack_key(stream: u64) -> String {
    format!("ipc-bridge/ack/{stream:016x}")
}

/// A ring's stream identity: a hash of what its segment header records about its creation
/// (creator pid and start time, creation time), so every `out` of one ring sends one
/// stream, and a ring removed and created again is a new stream.
pub fn stream_id(info: &ipc_collections::SegmentInfo) -> u64 {
    [
        info.creator_pid as u32 as u64,
        info.creator_start_time,
        info.creation_time_ns,
    ]
    .iter()
    .fold(0x243f_6a88_85a3_08d3, |h, &v| mix(h ^ mix(v)))
}

/// splitmix64's finaliser.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The header of one frame message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Ring A's stream identity ([`stream_id`]).
    pub stream: u64,
    /// The frame's position in ring A.
    pub pos: u64,
    /// The position after it.
    pub next: u64,
    /// Ring A's head when it was sent (everything before it was acknowledged).
    pub base: u64,
}

/// What an acknowledgement asks of `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// Everything before `delivered` is in ring B: release it from ring A.
    Delivered,
    /// As `Delivered`, and send again from `delivered` on (a frame after it arrived before
    /// the one at `delivered`: something was lost on the way).
    Resend,
}

/// An acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The stream it acknowledges.
    pub stream: u64,
    /// Every frame before this position is in ring B.
    pub delivered: u64,
    /// What `out` does.
    pub kind: AckKind,
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
    /// The CRC differs from the header's: bytes changed on the way.
    Checksum,
    /// An acknowledgement's kind is neither 0 nor 1, or `next` is not after `pos`.
    Invalid,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Short { len } => write!(
                f,
                "bridge message of {len} bytes is shorter than its header"
            ),
            Malformed::Length { stated, found } => write!(
                f,
                "bridge message says {stated} frame bytes but carries {found}"
            ),
            Malformed::Checksum => f.write_str("bridge message: the CRC does not match"),
            Malformed::Invalid => f.write_str("bridge message: impossible field values"),
        }
    }
}

impl std::error::Error for Malformed {}

/// The largest frame a message carries (its length is a u32).
pub const MAX_FRAME: usize = u32::MAX as usize;

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

/// Writes `header` and `frame` into one message.
///
/// # Panics
/// If `frame` is longer than [`MAX_FRAME`] (a ring frame never is: its length is a u32).
pub fn encode(header: Header, frame: &[u8]) -> Vec<u8> {
    let len = u32::try_from(frame.len()).expect("a ring frame's length fits a u32");
    let mut msg = Vec::with_capacity(HEADER_LEN + frame.len());
    for v in [header.stream, header.pos, header.next, header.base] {
        msg.extend_from_slice(&v.to_le_bytes());
    }
    msg.extend_from_slice(&len.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&msg);
    crc.update(frame);
    msg.extend_from_slice(&crc.finalize().to_le_bytes());
    msg.extend_from_slice(frame);
    msg
}

/// Splits a message into its header and frame, checking the frame's length and the CRC.
///
/// # Errors
/// [`Malformed`] says what is wrong.
pub fn decode(msg: &[u8]) -> Result<(Header, &[u8]), Malformed> {
    let (head, frame) = msg
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(Malformed::Short { len: msg.len() })?;
    let stated = u32_at(head, 32);
    if stated as usize != frame.len() {
        return Err(Malformed::Length {
            stated,
            found: frame.len(),
        });
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[..36]);
    crc.update(frame);
    if crc.finalize() != u32_at(head, 36) {
        return Err(Malformed::Checksum);
    }
    let h = Header {
        stream: u64_at(head, 0),
        pos: u64_at(head, 8),
        next: u64_at(head, 16),
        base: u64_at(head, 24),
    };
    // A record is at least 8 bytes and less than 2^32 + 8 (the ring's u32 length field).
    let rec = h.next.wrapping_sub(h.pos);
    if rec < 8 || rec > 2 * (u32::MAX as u64) + 16 || h.pos.wrapping_sub(h.base) > 1 << 62 {
        return Err(Malformed::Invalid);
    }
    Ok((h, frame))
}

/// Writes an acknowledgement.
pub fn encode_ack(ack: Ack) -> [u8; ACK_LEN] {
    let mut b = [0u8; ACK_LEN];
    b[..8].copy_from_slice(&ack.stream.to_le_bytes());
    b[8..16].copy_from_slice(&ack.delivered.to_le_bytes());
    let kind: u32 = match ack.kind {
        AckKind::Delivered => 0,
        AckKind::Resend => 1,
    };
    b[16..20].copy_from_slice(&kind.to_le_bytes());
    let crc = crc32fast::hash(&b[..20]);
    b[20..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Reads an acknowledgement.
///
/// # Errors
/// [`Malformed`] says what is wrong.
pub fn decode_ack(msg: &[u8]) -> Result<Ack, Malformed> {
    if msg.len() != ACK_LEN {
        return Err(if msg.len() < ACK_LEN {
            Malformed::Short { len: msg.len() }
        } else {
            Malformed::Length {
                stated: ACK_LEN as u32,
                found: msg.len(),
            }
        });
    }
    if crc32fast::hash(&msg[..20]) != u32_at(msg, 20) {
        return Err(Malformed::Checksum);
    }
    let kind = match u32_at(msg, 16) {
        0 => AckKind::Delivered,
        1 => AckKind::Resend,
        _ => return Err(Malformed::Invalid),
    };
    Ok(Ack {
        stream: u64_at(msg, 0),
        delivered: u64_at(msg, 8),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_malformed_kind() {
        let h = Header {
            stream: 0x0102_0304_0506_0708,
            pos: 4096,
            next: 4096 + 16,
            base: 1024,
        };
        let msg = encode(h, b"frame");
        assert_eq!(msg.len(), HEADER_LEN + 5);
        assert_eq!(&msg[..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&msg[32..36], &5u32.to_le_bytes());
        assert_eq!(decode(&msg), Ok((h, &b"frame"[..])));
        assert_eq!(decode(&encode(h, b"")), Ok((h, &b""[..])));
        assert_eq!(decode(&msg[..39]), Err(Malformed::Short { len: 39 }));
        assert_eq!(decode(&[]), Err(Malformed::Short { len: 0 }));
        assert_eq!(
            decode(&msg[..43]),
            Err(Malformed::Length {
                stated: 5,
                found: 3
            })
        );
        for i in [0, 9, 17, 25, 42] {
            let mut bad = msg.clone();
            bad[i] ^= 1;
            assert_eq!(decode(&bad), Err(Malformed::Checksum), "byte {i}");
        }
        let bad = encode(Header { next: h.pos, ..h }, b"x");
        assert_eq!(decode(&bad), Err(Malformed::Invalid));
    }

    #[test]
    fn acks_round_trip_and_refuse_damage() {
        for kind in [AckKind::Delivered, AckKind::Resend] {
            let a = Ack {
                stream: 7,
                delivered: 1 << 40,
                kind,
            };
            assert_eq!(decode_ack(&encode_ack(a)), Ok(a));
        }
        let a = encode_ack(Ack {
            stream: 7,
            delivered: 8,
            kind: AckKind::Delivered,
        });
        assert_eq!(decode_ack(&a[..23]), Err(Malformed::Short { len: 23 }));
        let mut bad = a;
        bad[9] ^= 1;
        assert_eq!(decode_ack(&bad), Err(Malformed::Checksum));
        let mut bad = a;
        bad[16] = 9;
        let crc = crc32fast::hash(&bad[..20]);
        bad[20..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_ack(&bad), Err(Malformed::Invalid));
    }
}
