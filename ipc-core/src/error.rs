//! The one error type of `ipc-core`: the operation, the object's name, and a kind a caller can
//! match on.

use std::fmt;

use crate::Errno;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a caller can act on it.
///
/// Match on it through [`Error::kind`]. OS errors that have no variant of their own stay
/// available as [`ErrorKind::Os`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The named object does not exist (`ENOENT`).
    NotFound,
    /// An exclusive create found the name taken (`EEXIST`).
    AlreadyExists,
    /// The caller may not access the object (`EACCES`, `EPERM`).
    PermissionDenied,
    /// The name breaks the rules for that kind of object; the text says which rule.
    InvalidName(&'static str),
    /// A size is zero, overflows, or does not fit the object; the text says which.
    InvalidSize(String),
    /// An argument other than a name or size is out of range; the text says which.
    InvalidInput(String),
    /// The file system or memory behind the object is full (`ENOSPC`, `ENOMEM`).
    NoSpace,
    /// A limit of the OS was reached (`EMFILE`, `ENFILE`, a message-queue rlimit,
    /// a `/proc/sys` limit); the text names the limit.
    LimitReached(String),
    /// A timed wait ran out (`ETIMEDOUT`).
    Timeout,
    /// A non-blocking call would have had to wait (`EAGAIN`, `EBUSY` of a try-lock).
    WouldBlock,
    /// A robust mutex whose owner died was not made consistent: it can never be locked again.
    Unrecoverable,
    /// The object exists but is not what the caller asked for (not a regular file, a
    /// symlink, another kind of IPC object).
    WrongType,
    /// Any other OS error. `Os(Errno::EDEADLK)` is a lock that the calling thread already
    /// holds (locking it again would deadlock).
    Os(Errno),
}

impl ErrorKind {
    /// The kind that an OS error maps to.
    pub fn from_errno(errno: Errno) -> Self {
        match errno {
            Errno::ENOENT => ErrorKind::NotFound,
            Errno::EEXIST => ErrorKind::AlreadyExists,
            Errno::EACCES | Errno::EPERM => ErrorKind::PermissionDenied,
            Errno::ENOSPC | Errno::ENOMEM => ErrorKind::NoSpace,
            Errno::ETIMEDOUT => ErrorKind::Timeout,
            Errno::EAGAIN => ErrorKind::WouldBlock,
            Errno::ENOTRECOVERABLE => ErrorKind::Unrecoverable,
            Errno::ENAMETOOLONG => ErrorKind::InvalidName("name too long for the OS"),
            Errno::ELOOP => ErrorKind::WrongType,
            Errno::EMFILE => {
                ErrorKind::LimitReached("open files of this process (RLIMIT_NOFILE)".into())
            }
            Errno::ENFILE => {
                ErrorKind::LimitReached("open files of the system (fs.file-max)".into())
            }
            other => ErrorKind::Os(other),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NotFound => f.write_str("not found"),
            ErrorKind::AlreadyExists => f.write_str("already exists"),
            ErrorKind::PermissionDenied => f.write_str("permission denied"),
            ErrorKind::InvalidName(why) => write!(f, "invalid name: {why}"),
            ErrorKind::InvalidSize(why) => write!(f, "invalid size: {why}"),
            ErrorKind::InvalidInput(why) => write!(f, "invalid argument: {why}"),
            ErrorKind::NoSpace => f.write_str("no space left"),
            ErrorKind::LimitReached(what) => write!(f, "limit reached: {what}"),
            ErrorKind::Timeout => f.write_str("timed out"),
            ErrorKind::WouldBlock => f.write_str("would block"),
            ErrorKind::Unrecoverable => {
                f.write_str("unrecoverable: a previous owner died and the state was not repaired")
            }
            ErrorKind::WrongType => f.write_str("not an object of the expected type"),
            // Every EDEADLK of this crate comes from a pthread lock (an error-checking or
            // robust mutex, a rwlock) that the calling thread already holds.
            ErrorKind::Os(Errno::EDEADLK) => {
                f.write_str("this thread already holds the lock (EDEADLK: it would deadlock)")
            }
            ErrorKind::Os(errno) => write!(f, "{errno} ({errno:?}, {})", errno.raw()),
        }
    }
}

/// An error of an IPC operation: what was done (`op`, usually the C call), to which object
/// (`name`, when it has one), and what went wrong ([`ErrorKind`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    op: &'static str,
    name: Option<Box<str>>,
    kind: ErrorKind,
    /// Also the error's `source()`, so a report that walks the chain shows the OS's text.
    #[source]
    errno: Option<Errno>,
    /// A sentence appended to the message (see [`not_found_hint`]).
    hint: Option<&'static str>,
}

/// What an opener that finds no object is told: the usual cause is a creator that let its
/// handle go (see the lifetime table in the crate documentation).
pub(crate) const NOT_FOUND_HINT: &str = "the handle that creates a name removes it when \
     dropped (or when its process exits) unless kept with `unlink_on_drop(false)` or \
     `set_unlink_on_drop(false)`; is the creator still running?";

/// `e`, with [`NOT_FOUND_HINT`] in its message if it is [`ErrorKind::NotFound`]. Used by
/// every open of a named object.
pub(crate) fn not_found_hint(mut e: Error) -> Error {
    if e.kind == ErrorKind::NotFound {
        e.hint = Some(NOT_FOUND_HINT);
    }
    e
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, ": {}", self.kind)?;
        if let Some(hint) = self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl Error {
    /// An error of `kind` from operation `op` (no OS error behind it).
    pub fn new(op: &'static str, kind: ErrorKind) -> Self {
        Error {
            op,
            name: None,
            kind,
            errno: None,
            hint: None,
        }
    }

    /// An error from the OS: `errno` returned by `op`, mapped to its [`ErrorKind`].
    pub fn os(op: &'static str, errno: Errno) -> Self {
        Error {
            op,
            name: None,
            kind: ErrorKind::from_errno(errno),
            errno: Some(errno),
            hint: None,
        }
    }

    /// [`Error::os`] for an error number from nix (the boundary where nix's type ends).
    pub(crate) fn nix(op: &'static str, errno: nix::errno::Errno) -> Self {
        Self::os(op, Errno::from_nix(errno))
    }

    /// The same error, naming the object it concerns.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<Box<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The operation that failed (usually the name of the C call).
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The object's name, when the operation concerned a named object.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The OS error behind this error, if there was one.
    pub fn errno(&self) -> Option<Errno> {
        self.errno
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.kind {
            ErrorKind::NotFound => std::io::ErrorKind::NotFound,
            ErrorKind::AlreadyExists => std::io::ErrorKind::AlreadyExists,
            ErrorKind::PermissionDenied => std::io::ErrorKind::PermissionDenied,
            ErrorKind::Timeout => std::io::ErrorKind::TimedOut,
            ErrorKind::WouldBlock => std::io::ErrorKind::WouldBlock,
            ErrorKind::InvalidName(_) | ErrorKind::InvalidSize(_) | ErrorKind::InvalidInput(_) => {
                std::io::ErrorKind::InvalidInput
            }
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
