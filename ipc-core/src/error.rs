//! The one error type of the whole stack (`ipc-core`, `ipc-collections` and the facade
//! re-export it): the operation, the object's name, and a kind a caller can match on.

use std::fmt;
use std::time::Duration;

use crate::Errno;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a caller can act on it.
///
/// Match on it through [`Error::kind`], by value (`e.kind() == ErrorKind::Timeout`), as on
/// std's `io::ErrorKind`: it is `Copy`, and what an occurrence adds (which rule a name
/// breaks, which check failed, which limit) is in the error's [`detail`](Error::detail) and
/// its message. OS errors that have no variant of their own stay available as
/// [`ErrorKind::Os`]; the two payloads left (`Os`'s errno, `CreatorDied`'s pid) are `Copy`
/// values a caller acts on (`Os(Errno::EDEADLK)`, the pid to look up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The named object does not exist (`ENOENT`).
    NotFound,
    /// An exclusive create found the name taken (`EEXIST`).
    AlreadyExists,
    /// The caller may not access the object (`EACCES`, `EPERM`).
    PermissionDenied,
    /// The name breaks the rules for that kind of object; the detail says which rule.
    InvalidName,
    /// A size is zero, overflows, or does not fit the object; the detail says which.
    InvalidSize,
    /// An argument other than a name or size is out of range; the detail says which.
    InvalidInput,
    /// The file system or memory behind the object is full (`ENOSPC`, `ENOMEM`).
    NoSpace,
    /// A limit of the OS was reached (`EMFILE`, `ENFILE`, a message-queue rlimit,
    /// a `/proc/sys` limit); the detail names the limit.
    LimitReached,
    /// A timed wait ran out (`ETIMEDOUT`).
    Timeout,
    /// A non-blocking call would have had to wait (`EAGAIN`, `EBUSY` of a try-lock).
    WouldBlock,
    /// A robust mutex whose owner died was not made consistent (`ENOTRECOVERABLE`): this
    /// acquire failed at once, and so does every later one, with one exception that glibc
    /// makes: a process killed inside its own acquire attempt of such a mutex (between
    /// taking the lock word and releasing it again) leaves the word marked owner-died by the
    /// kernel, and the next locker then gets the mutex with
    /// [`Acquired::OwnerDied`](crate::sync::Acquired::OwnerDied), told that the state it
    /// guards was never repaired. A not-recoverable mutex is thus never acquired as if it
    /// were clean, and never hangs its lockers.
    Unrecoverable,
    /// The object exists but is not what the caller asked for (not a regular file, a
    /// symlink, another kind of IPC object).
    WrongType,
    /// Any other OS error. `Os(Errno::EDEADLK)` is a lock that the calling thread already
    /// holds (locking it again would deadlock).
    Os(Errno),
    /// A typed segment holds a type whose layout differs from the caller's (another build, a
    /// field added, removed, reordered or retyped, another pointer width);
    /// [`Error::layout_mismatch`] names the fields.
    LayoutMismatch,
    /// A segment's header, schema, checksum or size (or a control block another process
    /// writes) is inconsistent; the detail says which check failed.
    Corrupted,
    /// A segment's creator did not publish it as ready within the open timeout.
    InitTimeout,
    /// A segment's creator (this pid, as recorded in its header) died, or its pid now belongs
    /// to another process, before it published the segment, and nobody holds its creator
    /// lock. The object stays until `open_or_create` or `ipc gc` removes it, or somebody
    /// unlinks it.
    CreatorDied(i32),
    /// A segment's creator failed to initialise it (its init panicked or an in-place init
    /// returned an error) and marked it failed.
    InitFailed,
    /// A process died holding a robust lock (a `SharedMutex`, a `SharedArray`'s lock), now or
    /// earlier, and nobody has cleared the poison since: the data may be half updated. The
    /// lock was released again and stays usable: take it with `lock_ignoring_poison`, check or
    /// repair the data, and call the guard's `clear_poison`.
    Poisoned,
    /// The other side of a channel is gone (every peer dropped its handle or died) and
    /// nothing is left to receive.
    Disconnected,
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
            Errno::ENAMETOOLONG => ErrorKind::InvalidName,
            Errno::ELOOP => ErrorKind::WrongType,
            Errno::EMFILE | Errno::ENFILE => ErrorKind::LimitReached,
            other => ErrorKind::Os(other),
        }
    }
}

/// What an OS error says beyond its kind, where [`ErrorKind::from_errno`] folds it into a
/// kind that needs a detail (the rule or the limit).
fn errno_detail(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::ENAMETOOLONG => Some("name too long for the OS"),
        Errno::EMFILE => Some("open files of this process (RLIMIT_NOFILE)"),
        Errno::ENFILE => Some("open files of the system (fs.file-max)"),
        _ => None,
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NotFound => f.write_str("not found"),
            ErrorKind::AlreadyExists => f.write_str("already exists"),
            ErrorKind::PermissionDenied => f.write_str("permission denied"),
            ErrorKind::InvalidName => f.write_str("invalid name"),
            ErrorKind::InvalidSize => f.write_str("invalid size"),
            ErrorKind::InvalidInput => f.write_str("invalid argument"),
            ErrorKind::NoSpace => f.write_str("no space left"),
            ErrorKind::LimitReached => f.write_str("limit reached"),
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
            ErrorKind::LayoutMismatch => f.write_str("layout mismatch"),
            ErrorKind::Corrupted => f.write_str("corrupted segment"),
            ErrorKind::InitTimeout => f.write_str("not initialised in time"),
            ErrorKind::CreatorDied(pid) => {
                write!(f, "creator (pid {pid}) died during initialisation")
            }
            ErrorKind::InitFailed => f.write_str("the creator failed to initialise the segment"),
            ErrorKind::Poisoned => f.write_str(
                "poisoned: a process died holding the lock, the data may be inconsistent \
                 (lock_ignoring_poison, repair, then clear_poison)",
            ),
            ErrorKind::Disconnected => f.write_str("disconnected: every peer is gone"),
        }
    }
}

/// An error of an IPC operation: what was done (`op`, usually the C call), to which object
/// (`name`, when it has one), and what went wrong ([`ErrorKind`], through [`Error::kind`]).
///
/// One type for the whole stack, from a failed `shm_open` to a layout mismatch of a typed
/// segment or a poisoned lock, so every call can be used with `?` in one function. It is one
/// pointer wide (the details are boxed), `Clone`, `PartialEq`, `Send + Sync + 'static`, and
/// its `source()` is the OS error behind it, if any.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    op: &'static str,
    name: Option<Box<str>>,
    kind: ErrorKind,
    errno: Option<Errno>,
    /// A sentence appended to the message (see [`not_found_hint`]).
    hint: Option<&'static str>,
    /// More about this occurrence, appended to the kind's text (for the kinds that name a
    /// rule, a limit or a failed check, that text).
    detail: Option<Box<str>>,
    /// The fields that differ, for [`ErrorKind::LayoutMismatch`].
    mismatch: Option<LayoutMismatch>,
}

/// What an [`ErrorKind::LayoutMismatch`] found: the caller's type and schema, the segment's
/// schema, and one line per difference naming the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutMismatch {
    /// The caller's type name.
    pub type_name: String,
    /// The schema string the caller expected.
    pub expected: String,
    /// The schema string stored in the segment.
    pub found: String,
    /// One line per difference, each naming the field path it concerns (empty when only the
    /// fingerprints differ: another byte order or pointer width).
    pub diffs: Vec<String>,
}

/// What an opener that finds no object is told: the usual cause is a creator that let its
/// handle go (see the lifetime table in the crate documentation).
pub(crate) const NOT_FOUND_HINT: &str = "the handle that creates a name removes it when \
     dropped (or when its process exits) unless kept with `unlink_on_drop(false)` or \
     `set_unlink_on_drop(false)`; is the creator still running?";

/// `e`, with [`NOT_FOUND_HINT`] in its message if it is [`ErrorKind::NotFound`]. Used by
/// every open of a named object.
pub(crate) fn not_found_hint(mut e: Error) -> Error {
    if e.0.kind == ErrorKind::NotFound {
        e.0.hint = Some(NOT_FOUND_HINT);
    }
    e
}

/// `{:?}` is the message (as `Display`), so that an error returned out of `main` with `?`
/// prints what happened to which object (`Error: push "/sensors": timed out`), not a
/// struct; `{:#?}` shows the fields (op, name, kind, errno, detail).
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        let i = &*self.0;
        let mut d = f.debug_struct("Error");
        d.field("op", &i.op)
            .field("name", &i.name)
            .field("kind", &i.kind)
            .field("errno", &i.errno);
        if let Some(detail) = &i.detail {
            d.field("detail", detail);
        }
        if let Some(m) = &i.mismatch {
            d.field("mismatch", m);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.0;
        f.write_str(i.op)?;
        if let Some(name) = &i.name {
            write!(f, " {name:?}")?;
        }
        write!(f, ": {}", i.kind)?;
        if let Some(m) = &i.mismatch {
            write!(f, " for {}: ", m.type_name)?;
            if m.diffs.is_empty() {
                f.write_str("fingerprints differ")?;
            }
            for (n, d) in m.diffs.iter().enumerate() {
                if n > 0 {
                    f.write_str("; ")?;
                }
                f.write_str(d)?;
            }
        }
        if let Some(detail) = &i.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(hint) = i.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    /// The OS error behind this one, so a report that walks the chain shows the OS's text.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .errno
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The `op` of errors about a typed segment found by validating it rather than by a call.
const SEGMENT_OP: &str = "segment";

impl Error {
    fn from_parts(op: &'static str, kind: ErrorKind, errno: Option<Errno>) -> Self {
        Error(Box::new(Inner {
            op,
            name: None,
            kind,
            errno,
            hint: None,
            detail: None,
            mismatch: None,
        }))
    }

    /// An error of `kind` from operation `op` (no OS error behind it).
    pub fn new(op: &'static str, kind: ErrorKind) -> Self {
        Self::from_parts(op, kind, None)
    }

    /// An error of `kind` from operation `op` (no OS error behind it), saying `detail`
    /// after the kind's text: which rule, limit or check (the usual way to make an
    /// [`InvalidName`](ErrorKind::InvalidName), [`InvalidSize`](ErrorKind::InvalidSize),
    /// [`InvalidInput`](ErrorKind::InvalidInput), [`LimitReached`](ErrorKind::LimitReached)
    /// or [`Corrupted`](ErrorKind::Corrupted)).
    pub fn with_text(op: &'static str, kind: ErrorKind, detail: impl Into<Box<str>>) -> Self {
        Self::new(op, kind).with_detail(detail)
    }

    /// An error from the OS: `errno` returned by `op`, mapped to its [`ErrorKind`].
    pub fn os(op: &'static str, errno: Errno) -> Self {
        let e = Self::from_parts(op, ErrorKind::from_errno(errno), Some(errno));
        match errno_detail(errno) {
            Some(d) => e.with_detail(d),
            None => e,
        }
    }

    /// [`Error::os`] for an error number from nix (the boundary where nix's type ends).
    pub(crate) fn nix(op: &'static str, errno: nix::errno::Errno) -> Self {
        Self::os(op, Errno::from_nix(errno))
    }

    /// [`ErrorKind::Corrupted`] for the segment `name` (empty: not named yet).
    pub fn corrupted(name: &str, reason: impl Into<String>) -> Self {
        Self::with_text(SEGMENT_OP, ErrorKind::Corrupted, reason.into()).or_name(name)
    }

    /// [`ErrorKind::LayoutMismatch`] for the segment `name`, with what was compared.
    pub fn layout_mismatch(name: &str, mismatch: LayoutMismatch) -> Self {
        let mut e = Self::new("open", ErrorKind::LayoutMismatch).or_name(name);
        e.0.mismatch = Some(mismatch);
        e
    }

    /// [`ErrorKind::WrongType`] for a segment of another kind than the caller asked for (or
    /// no segment at all).
    pub fn wrong_kind(name: &str, expected: impl fmt::Display, found: impl fmt::Display) -> Self {
        Self::new("open", ErrorKind::WrongType)
            .or_name(name)
            .with_detail(format!("expected {expected}, found {found}"))
    }

    /// [`ErrorKind::InitTimeout`] after waiting `timeout`; `header_seen` false adds that the
    /// object may not be a segment at all.
    pub fn init_timeout(name: &str, timeout: Duration, header_seen: bool) -> Self {
        let why = if header_seen {
            format!("waited {timeout:?}")
        } else {
            format!(
                "waited {timeout:?} (no segment header: the object may not be a segment of \
                 this format, or its creator died before writing one)"
            )
        };
        Self::new("open", ErrorKind::InitTimeout)
            .or_name(name)
            .with_detail(why)
    }

    /// [`ErrorKind::CreatorDied`] for the creator `pid`.
    pub fn creator_died(name: &str, pid: i32) -> Self {
        Self::new("open", ErrorKind::CreatorDied(pid)).or_name(name)
    }

    /// [`ErrorKind::InitFailed`].
    pub fn init_failed(name: &str) -> Self {
        Self::new("open", ErrorKind::InitFailed).or_name(name)
    }

    /// [`ErrorKind::Poisoned`] (`name` empty for a lock inside a value, which does not know
    /// its segment).
    pub fn poisoned(name: &str) -> Self {
        Self::new("lock", ErrorKind::Poisoned).or_name(name)
    }

    /// The same error, naming the object it concerns.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<Box<str>>) -> Self {
        self.0.name = Some(name.into());
        self
    }

    /// The same error naming `name`, unless it names an object already or `name` is empty
    /// (for errors made where the name is not known yet).
    #[must_use]
    pub fn or_name(self, name: &str) -> Self {
        if self.0.name.is_some() || name.is_empty() {
            self
        } else {
            self.with_name(name)
        }
    }

    /// The same error with `detail` appended to its message (after the detail it has, if
    /// any).
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<Box<str>>) -> Self {
        let detail = detail.into();
        self.0.detail = Some(match self.0.detail.take() {
            Some(old) => format!("{old}: {detail}").into(),
            None => detail,
        });
        self
    }

    /// What went wrong, to match on: `e.kind() == ErrorKind::Timeout`.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The operation that failed (usually the name of the C call).
    pub fn op(&self) -> &'static str {
        self.0.op
    }

    /// The object's name, when the operation concerned a named object.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// The OS error behind this error, if there was one.
    pub fn errno(&self) -> Option<Errno> {
        self.0.errno
    }

    /// More about this occurrence than its kind says, if anything.
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// For [`ErrorKind::LayoutMismatch`]: the schemas compared and the fields that differ.
    pub fn layout_mismatch_details(&self) -> Option<&LayoutMismatch> {
        self.0.mismatch.as_ref()
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.0.kind {
            ErrorKind::NotFound => std::io::ErrorKind::NotFound,
            ErrorKind::AlreadyExists => std::io::ErrorKind::AlreadyExists,
            ErrorKind::PermissionDenied => std::io::ErrorKind::PermissionDenied,
            ErrorKind::Timeout => std::io::ErrorKind::TimedOut,
            ErrorKind::WouldBlock => std::io::ErrorKind::WouldBlock,
            ErrorKind::InvalidName | ErrorKind::InvalidSize | ErrorKind::InvalidInput => {
                std::io::ErrorKind::InvalidInput
            }
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
