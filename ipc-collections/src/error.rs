//! The error type of `ipc-collections`: what went wrong with a typed segment, by name.

use std::fmt;
use std::time::Duration;

use crate::format::Kind;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of a typed segment operation.
///
/// Every variant that concerns a named object carries its `name` (empty for segments over
/// anonymous memory).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The segment holds a type whose layout differs from the caller's: another build, a
    /// field added, removed, reordered or retyped, another pointer width. `diffs` names the
    /// differing fields (computed from the stored schema string).
    #[error("{name:?}: layout mismatch for {type_name}: {}", DiffList(diffs))]
    LayoutMismatch {
        /// The segment's name.
        name: String,
        /// The caller's type name.
        type_name: String,
        /// The schema string the caller expected.
        expected: String,
        /// The schema string stored in the segment.
        found: String,
        /// One line per difference, each naming the field path it concerns.
        diffs: Vec<String>,
    },
    /// The segment is of another kind (an array opened as a value, or not a segment of this
    /// format at all).
    #[error("{name:?}: wrong kind of object: expected {expected}, found {found}")]
    WrongKind {
        /// The segment's name.
        name: String,
        /// What the caller asked for.
        expected: Kind,
        /// What was found (a kind, or a description such as "no segment header").
        found: String,
    },
    /// A header field, the checksum, or the size of the object is inconsistent.
    #[error("{name:?}: corrupted segment: {reason}")]
    Corrupted {
        /// The segment's name.
        name: String,
        /// Which check failed.
        reason: String,
    },
    /// The creator did not publish the segment as ready within the open timeout (and it is
    /// still alive, or it could not be identified yet).
    #[error("{name:?}: not initialised within {timeout:?}{}", NoHeader(*header_seen))]
    InitTimeout {
        /// The segment's name.
        name: String,
        /// How long the opener waited.
        timeout: Duration,
        /// Whether the segment's magic (the first word of its header) was written by the
        /// deadline. `false`: the object may not be a segment of this format at all (plain
        /// zeroed memory, an object of another program), or its creator died before writing
        /// the header.
        header_seen: bool,
    },
    /// The creator died (or its pid now belongs to another process) before it published the
    /// segment as ready. The object stays until somebody unlinks it.
    #[error("{name:?}: creator (pid {pid}) died during initialisation")]
    CreatorDied {
        /// The segment's name.
        name: String,
        /// The creator's pid as recorded in the header.
        pid: i32,
    },
    /// The creator's initialisation failed (its init panicked or an in-place init returned an
    /// error); it marked the segment as failed.
    #[error("{name:?}: the creator failed to initialise the segment")]
    InitFailed {
        /// The segment's name.
        name: String,
    },
    /// A process died holding a robust lock ([`SharedMutex`](crate::SharedMutex), a
    /// [`SharedArray`](crate::SharedArray)'s lock), now or earlier, and nobody has cleared
    /// the poison since: the data may be half updated. The lock was released again and
    /// stays usable; take it with `lock_ignoring_poison`, check or repair the data, and call
    /// the guard's `clear_poison`.
    #[error(
        "{name:?}: poisoned: a process died holding the lock, the data may be inconsistent \
             (lock_ignoring_poison, repair, then clear_poison)"
    )]
    Poisoned {
        /// The segment's name (empty for a lock inside a value, which does not know it).
        name: String,
    },
    /// An error of the OS layer (`ipc-core`): not found, already exists, permission denied,
    /// invalid name or size, timeouts of locks, ... Its `Display` is the inner error's, which
    /// is also its `source()`.
    #[error("{0}")]
    Core(#[from] ipc_core::Error),
}

impl Error {
    /// The [`ipc_core::ErrorKind`] of a [`Error::Core`] error, `None` for the others.
    pub fn core_kind(&self) -> Option<&ipc_core::ErrorKind> {
        match self {
            Error::Core(e) => Some(e.kind()),
            _ => None,
        }
    }

    pub(crate) fn corrupted(name: &str, reason: impl Into<String>) -> Self {
        Error::Corrupted {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// The same error, naming the object (used where the name is known only later).
    pub(crate) fn named(mut self, new_name: &str) -> Self {
        match &mut self {
            Error::LayoutMismatch { name, .. }
            | Error::WrongKind { name, .. }
            | Error::Corrupted { name, .. }
            | Error::InitTimeout { name, .. }
            | Error::CreatorDied { name, .. }
            | Error::InitFailed { name }
            | Error::Poisoned { name } => *name = new_name.to_owned(),
            Error::Core(e) => {
                if e.name().is_none() {
                    *e = e.clone().with_name(new_name);
                }
            }
        }
        self
    }
}

/// The explanation of an [`Error::InitTimeout`] that never saw a segment header.
struct NoHeader(bool);

impl fmt::Display for NoHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            return Ok(());
        }
        f.write_str(
            " (no segment header: the object may not be a segment of this format, or its \
             creator died before writing one)",
        )
    }
}

struct DiffList<'a>(&'a [String]);

impl fmt::Display for DiffList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("fingerprints differ");
        }
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(d)?;
        }
        Ok(())
    }
}
