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
    /// receiver, everything it sent has been received; for a sender, the ring is full. Only
    /// for a handle with [`PeerExit::Disconnect`](super::PeerExit) (the default): one with
    /// [`PeerExit::Wait`](super::PeerExit) waits for the next peer instead. A ring nobody
    /// has attached to the other side of yet is waited on in both modes.
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

/// The crate's one error for a ring outcome, so ring calls mix with `?` with every other
/// call: `Full`/`Empty` are [`WouldBlock`](crate::ErrorKind::WouldBlock), `Disconnected`
/// and `Timeout` their own kinds, `TooLarge` [`InvalidSize`](crate::ErrorKind::InvalidSize),
/// `Busy` [`LimitReached`](crate::ErrorKind::LimitReached), `Invalid`
/// [`InvalidInput`](crate::ErrorKind::InvalidInput), `Corrupted` keeps its message, `Os`
/// its errno.
impl From<RingError> for crate::Error {
    fn from(e: RingError) -> Self {
        use crate::ErrorKind as K;
        const OP: &str = "ring";
        match e {
            RingError::Full | RingError::Empty => {
                crate::Error::new(OP, K::WouldBlock).with_detail(e.to_string())
            }
            RingError::Disconnected => crate::Error::new(OP, K::Disconnected),
            RingError::Timeout => crate::Error::new(OP, K::Timeout),
            RingError::TooLarge => crate::Error::new(OP, K::InvalidSize(e.to_string())),
            RingError::Busy => crate::Error::new(OP, K::LimitReached(e.to_string())),
            RingError::Invalid(what) => crate::Error::new(OP, K::InvalidInput(what.into())),
            RingError::Corrupted(what) => crate::Error::new(OP, K::Corrupted(what.into())),
            RingError::Os(errno) => crate::Error::os(OP, ipc_core::Errno::from_raw(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RingError;
    use crate::ErrorKind;

    #[test]
    fn ring_errors_map_to_the_one_error_kind() {
        let k = |e: RingError| crate::Error::from(e).kind().clone();
        assert_eq!(k(RingError::Full), ErrorKind::WouldBlock);
        assert_eq!(k(RingError::Empty), ErrorKind::WouldBlock);
        assert_eq!(k(RingError::Disconnected), ErrorKind::Disconnected);
        assert_eq!(k(RingError::Timeout), ErrorKind::Timeout);
        assert!(matches!(k(RingError::TooLarge), ErrorKind::InvalidSize(_)));
        assert!(matches!(k(RingError::Busy), ErrorKind::LimitReached(_)));
        assert!(matches!(k(RingError::Invalid("x")), ErrorKind::InvalidInput(w) if w == "x"));
        assert!(matches!(k(RingError::Corrupted("y")), ErrorKind::Corrupted(w) if w == "y"));
        assert!(matches!(
            k(RingError::Os(libc::EINTR)),
            ErrorKind::Os(e) if e.raw() == libc::EINTR
        ));
    }
}
