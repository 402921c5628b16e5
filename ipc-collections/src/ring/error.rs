//! [`RingError`]: the ring algorithms' internal outcome, and its one way out to the crate's
//! error.
//!
//! The algorithms return this small `Copy` enum (no allocation, two words), so that the
//! outcomes a hot loop sees (full, empty) cost nothing. It never reaches the public
//! surface: a handle's public method turns `Full`/`Empty` into a value (`Ok(false)`,
//! `Ok(None)`) and every other outcome into the crate's [`Error`](crate::Error) with the
//! operation and the ring's name, through [`RingError::into_error`] (the one mapping).

use std::fmt;

/// Why a ring operation did not complete (internal; see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RingError {
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

impl RingError {
    /// The crate's error for this outcome of operation `op` on the ring `name` (empty: a
    /// ring in memory that has no name): `Full`/`Empty` are
    /// [`WouldBlock`](crate::ErrorKind::WouldBlock), `Disconnected` and `Timeout` their own
    /// kinds, `TooLarge` [`InvalidSize`](crate::ErrorKind::InvalidSize), `Busy`
    /// [`LimitReached`](crate::ErrorKind::LimitReached), `Invalid`
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput), `Corrupted`
    /// [`Corrupted`](crate::ErrorKind::Corrupted) saying what, `Os` its errno.
    ///
    /// Cold: only a call that fails for good gets here (a full or empty ring of a `try_`
    /// call never does), so the allocation of the error is off the hot path.
    #[cold]
    #[inline(never)]
    pub(crate) fn into_error(self, op: &'static str, name: &str) -> crate::Error {
        use crate::ErrorKind as K;
        let e = match self {
            RingError::Full | RingError::Empty => {
                crate::Error::with_text(op, K::WouldBlock, self.to_string())
            }
            RingError::Disconnected => crate::Error::new(op, K::Disconnected),
            RingError::Timeout => crate::Error::new(op, K::Timeout),
            RingError::TooLarge => crate::Error::with_text(op, K::InvalidSize, self.to_string()),
            RingError::Busy => crate::Error::with_text(op, K::LimitReached, self.to_string()),
            RingError::Invalid(what) => crate::Error::with_text(op, K::InvalidInput, what),
            RingError::Corrupted(what) => crate::Error::with_text(op, K::Corrupted, what),
            RingError::Os(errno) => crate::Error::os(op, ipc_core::Errno::from_raw(errno)),
        };
        e.or_name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::RingError;
    use crate::ErrorKind;

    #[test]
    fn ring_errors_map_to_the_one_error_kind() {
        let k = |e: RingError| e.into_error("op", "/r").kind();
        assert_eq!(k(RingError::Full), ErrorKind::WouldBlock);
        assert_eq!(k(RingError::Empty), ErrorKind::WouldBlock);
        assert_eq!(k(RingError::Disconnected), ErrorKind::Disconnected);
        assert_eq!(k(RingError::Timeout), ErrorKind::Timeout);
        assert_eq!(k(RingError::TooLarge), ErrorKind::InvalidSize);
        assert_eq!(k(RingError::Busy), ErrorKind::LimitReached);
        let e = RingError::Invalid("x").into_error("attach", "");
        assert_eq!(
            (e.kind(), e.detail(), e.name()),
            (ErrorKind::InvalidInput, Some("x"), None)
        );
        let e = RingError::Corrupted("y").into_error("pop", "/r");
        assert_eq!((e.kind(), e.detail()), (ErrorKind::Corrupted, Some("y")));
        assert_eq!((e.op(), e.name()), ("pop", Some("/r")));
        assert_eq!(
            k(RingError::Os(libc::EINTR)),
            ErrorKind::Os(ipc_core::Errno::from_raw(libc::EINTR))
        );
        assert_eq!(
            RingError::Timeout
                .into_error("push", "/sensors")
                .to_string(),
            "push \"/sensors\": timed out"
        );
    }
}
