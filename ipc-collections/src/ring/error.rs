//! [`RingError`]: what the ring algorithms return.
//!
//! This is the algorithms' own small error type; the named ring types map it into the
//! crate's error (`Full`/`Empty` become "would block", `Corrupted` keeps its message).

use std::fmt;

/// Why a ring operation did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// A non-blocking push found no free slot (or no room for the frame).
    Full,
    /// A non-blocking pop found nothing published.
    Empty,
    /// The other side is gone (every handle of it dropped, or its process dead) and, for a
    /// receiver, everything it sent has been received.
    Disconnected,
    /// A blocking operation's timeout passed.
    Timeout,
    /// A frame longer than the byte ring's largest frame (see `ByteRing::max_frame`).
    TooLarge,
    /// Every participant slot of this side is held by a live process.
    Busy,
    /// The caller's description of the ring is unusable (capacity not a power of two,
    /// offsets misaligned, regions overlapping or outside the memory).
    Invalid(&'static str),
    /// A counter, stamp or frame header read from shared memory is impossible: the control
    /// block or the slots are corrupted. Names what was found wrong.
    Corrupted(&'static str),
    /// A system call failed (the errno).
    Os(i32),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Full => f.write_str("ring is full"),
            RingError::Empty => f.write_str("ring is empty"),
            RingError::Disconnected => f.write_str("the other side of the ring is gone"),
            RingError::Timeout => f.write_str("ring operation timed out"),
            RingError::TooLarge => f.write_str("frame larger than the ring's largest frame"),
            RingError::Busy => f.write_str("every participant slot of the ring is taken"),
            RingError::Invalid(what) => write!(f, "invalid ring description: {what}"),
            RingError::Corrupted(what) => write!(f, "ring control block corrupted: {what}"),
            RingError::Os(e) => write!(f, "ring system call failed: errno {e}"),
        }
    }
}

impl std::error::Error for RingError {}
