//! [`MqOptions`]: how to open or create a [`MessageQueue`].

use std::ffi::CStr;

use crate::Errno;

use super::limits::{self, MqLimits, PROC_DIR};
use super::MessageQueue;
use crate::name::{self, NameKind};
use crate::{CreateMode, Error, ErrorKind, Result};

/// Which directions a handle may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// `O_RDONLY`: receive only.
    ReadOnly,
    /// `O_WRONLY`: send only.
    WriteOnly,
    /// `O_RDWR`: send and receive.
    #[default]
    ReadWrite,
}

impl Access {
    fn flags(self) -> libc::c_int {
        match self {
            Access::ReadOnly => libc::O_RDONLY,
            Access::WriteOnly => libc::O_WRONLY,
            Access::ReadWrite => libc::O_RDWR,
        }
    }

    pub(super) fn can_send(self) -> bool {
        self != Access::ReadOnly
    }

    pub(super) fn can_receive(self) -> bool {
        self != Access::WriteOnly
    }
}

/// How a [`MessageQueue`] is created or opened (`mq_open`): the builder every named kind
/// shares (see the [crate documentation](crate#options-and-lifetimes)).
///
/// Defaults: read and write, blocking, mode `0o600`, the system's default capacity and
/// message size (`/proc/sys/fs/mqueue/msg_default` and `msgsize_default`), and the creating
/// handle unlinks the name when dropped.
///
/// Where queues differ: direction is [`access`](Self::access) (a queue can also be opened
/// write-only, so a `read_only` flag would not say enough); `mq_open` never waits, so there
/// is no `timeout` here (sends and receives take their own).
///
/// ```no_run
/// use ipc_core::mq::{Access, MessageQueue};
///
/// let q = MessageQueue::options()
///     .capacity(8)
///     .message_size(256)
///     .access(Access::ReadWrite)
///     .open_or_create("/jobs")?;
/// # Ok::<(), ipc_core::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MqOptions {
    capacity: Option<usize>,
    msg_size: Option<usize>,
    mode: u32,
    access: Access,
    nonblocking: bool,
    unlink_on_drop: Option<bool>,
}

impl Default for MqOptions {
    fn default() -> Self {
        MqOptions {
            capacity: None,
            msg_size: None,
            mode: crate::shm::DEFAULT_MODE,
            access: Access::ReadWrite,
            nonblocking: false,
            unlink_on_drop: None,
        }
    }
}

impl MqOptions {
    /// The default options (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// The most messages the queue holds (`mq_maxmsg`); used only when the queue is
    /// created. At most `/proc/sys/fs/mqueue/msg_max`.
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = Some(messages);
        self
    }

    /// The largest message in bytes (`mq_msgsize`); used only when the queue is created.
    /// At most `/proc/sys/fs/mqueue/msgsize_max`.
    pub fn message_size(mut self, bytes: usize) -> Self {
        self.msg_size = Some(bytes);
        self
    }

    /// The permission bits of a created queue (default `0o600`), applied with `fchmod` after
    /// creation so the umask neither widens nor narrows them.
    pub fn mode(mut self, bits: u32) -> Self {
        self.mode = bits;
        self
    }

    /// Receive only, send only, or both (the default).
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Open in non-blocking mode (`O_NONBLOCK`): [`MessageQueue::send`] and
    /// [`MessageQueue::receive`] fail with [`ErrorKind::WouldBlock`] instead of waiting.
    pub fn nonblocking(mut self, nonblocking: bool) -> Self {
        self.nonblocking = nonblocking;
        self
    }

    /// Whether dropping the handle unlinks the name. Default: true exactly when this call
    /// created the queue. See [`MessageQueue::set_unlink_on_drop`].
    pub fn unlink_on_drop(mut self, yes: bool) -> Self {
        self.unlink_on_drop = Some(yes);
        self
    }

    /// `mq_open(O_CREAT | O_EXCL)`: creates the queue `name` (errors: see
    /// [`open_or_create`](Self::open_or_create)).
    #[doc(alias = "mq_open")]
    pub fn create(&self, name: &str) -> Result<MessageQueue> {
        self.open_as(name, CreateMode::Exclusive)
    }

    /// `mq_open` without `O_CREAT`: opens the existing queue `name` (errors: see
    /// [`open_or_create`](Self::open_or_create); [`ErrorKind::NotFound`]'s message recalls
    /// that a creator's handle unlinks the name when dropped).
    #[doc(alias = "mq_open")]
    pub fn open(&self, name: &str) -> Result<MessageQueue> {
        self.open_as(name, CreateMode::OpenExisting)
    }

    /// `mq_open`: opens the queue `name` if it exists, else creates it (race-safe: exactly
    /// one of several concurrent callers creates; [`MessageQueue::created`] says which).
    ///
    /// # Errors
    /// - [`ErrorKind::InvalidName`] for a bad name (checked before any system call);
    /// - [`ErrorKind::InvalidSize`] for a capacity or message size of zero;
    /// - [`ErrorKind::LimitReached`] for a capacity or message size above
    ///   `/proc/sys/fs/mqueue/msg_max` or `msgsize_max` (refused for every process, also
    ///   one with `CAP_SYS_RESOURCE` that the kernel would let through), for too many queues
    ///   (`queues_max`), or for `RLIMIT_MSGQUEUE` / `RLIMIT_NOFILE` (`EMFILE`); the text
    ///   names the limit and its value;
    /// - [`ErrorKind::InvalidInput`] for mode bits outside `0o777`;
    /// - [`ErrorKind::AlreadyExists`], [`ErrorKind::NotFound`],
    ///   [`ErrorKind::PermissionDenied`] as the create mode and permissions dictate.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_open.3.html>
    #[doc(alias = "mq_open")]
    pub fn open_or_create(&self, name: &str) -> Result<MessageQueue> {
        self.open_as(name, CreateMode::OpenOrCreate)
    }

    /// As [`create`](Self::create), under a fresh random name that starts with `prefix`:
    /// race-free, drawing again while the name is taken; [`MessageQueue::name`] tells the
    /// name (posix_ipc's `MessageQueue(None, O_CREX)`).
    ///
    /// Errors: those of [`create`](Self::create); [`ErrorKind::InvalidName`] for a prefix
    /// that does not start with `/`, holds another `/`, or leaves no room for the suffix.
    #[doc(alias = "O_CREX")]
    pub fn create_unique(&self, prefix: &str) -> Result<MessageQueue> {
        name::create_unique(
            "mq_open",
            prefix,
            NameKind::MessageQueue,
            |n| self.create(n),
            |e| e.kind() == ErrorKind::AlreadyExists,
        )
    }

    fn open_as(&self, name: &str, how: CreateMode) -> Result<MessageQueue> {
        let cname = name::validate("mq_open", name, NameKind::MessageQueue)?;
        let err = |e: Error| e.with_name(name);
        crate::sys::file::check_mode("mq_open", self.mode).map_err(err)?;
        let attr = match how {
            CreateMode::OpenExisting => None,
            _ => self.create_attr().map_err(err)?,
        };
        let mut flags = self.access.flags() | libc::O_CLOEXEC;
        if self.nonblocking {
            flags |= libc::O_NONBLOCK;
        }
        let (mqd, created) = match how {
            CreateMode::Exclusive => (self.create_mqd(&cname, flags, &attr).map_err(err)?, true),
            CreateMode::OpenExisting => (
                open_existing(&cname, flags).map_err(|e| err(crate::error::not_found_hint(e)))?,
                false,
            ),
            CreateMode::OpenOrCreate => {
                self.open_or_create_mqd(&cname, flags, &attr).map_err(err)?
            }
        };
        // A queue this call created is unlinked again if anything below fails.
        let mut q = MessageQueue::from_parts(mqd, name, self.access, created).map_err(err)?;
        if created {
            // SAFETY: fchmod takes a valid descriptor (an mqd_t is a file descriptor on
            // Linux, owned by `q`) and plain mode bits.
            if unsafe { libc::fchmod(q.raw(), self.mode as libc::mode_t) } != 0 {
                return Err(err(Error::os("fchmod", Errno::last())));
            }
        }
        q.set_owner(self.unlink_on_drop.unwrap_or(created));
        Ok(q)
    }

    /// The attributes to create with (both or neither given to the kernel), after checking
    /// them against the system's limits.
    fn create_attr(&self) -> Result<Option<(usize, usize)>> {
        if self.capacity.is_none() && self.msg_size.is_none() {
            return Ok(None);
        }
        for (what, v) in [("capacity", self.capacity), ("message size", self.msg_size)] {
            if v == Some(0) {
                return Err(Error::with_text(
                    "mq_open",
                    ErrorKind::InvalidSize,
                    format!("a queue's {what} must be at least 1"),
                ));
            }
        }
        let limits = MqLimits::read().ok();
        let capacity = match (self.capacity, limits) {
            (Some(c), _) => c,
            (None, Some(l)) => l.msg_default.min(l.msg_max),
            (None, None) => 10,
        };
        let msg_size = match (self.msg_size, limits) {
            (Some(s), _) => s,
            (None, Some(l)) => l.msgsize_default.min(l.msgsize_max),
            (None, None) => 8192,
        };
        if let Some(l) = limits {
            for (what, v, file, max) in [
                ("capacity", capacity, "msg_max", l.msg_max),
                ("message size", msg_size, "msgsize_max", l.msgsize_max),
            ] {
                if v > max {
                    return Err(Error::with_text(
                        "mq_open",
                        ErrorKind::LimitReached,
                        format!("{what} {v} is above {PROC_DIR}/{file} = {max}"),
                    ));
                }
            }
        }
        Ok(Some((capacity, msg_size)))
    }

    fn create_mqd(
        &self,
        name: &CStr,
        flags: libc::c_int,
        attr: &Option<(usize, usize)>,
    ) -> Result<libc::mqd_t> {
        // SAFETY: mq_attr is plain integers; all zeroes is a valid value.
        let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
        let attr_ptr = match attr {
            Some((capacity, msg_size)) => {
                // Saturating: a value above c_long::MAX (possible only when the /proc
                // limits could not be read) must not wrap to a negative one.
                a.mq_maxmsg = libc::c_long::try_from(*capacity).unwrap_or(libc::c_long::MAX);
                a.mq_msgsize = libc::c_long::try_from(*msg_size).unwrap_or(libc::c_long::MAX);
                &a as *const libc::mq_attr
            }
            None => std::ptr::null(),
        };
        // Created with 0o600 and widened or narrowed by fchmod in `open`, so the umask has
        // no say and nobody else can open the queue before its mode is final.
        let mode: libc::mode_t = 0o600;
        // SAFETY: `name` is a NUL-terminated string, the variadic arguments are the
        // mode_t and attribute pointer (null or a valid mq_attr) that O_CREAT requires,
        // all live for the call.
        let mqd = unsafe {
            libc::mq_open(
                name.as_ptr(),
                flags | libc::O_CREAT | libc::O_EXCL,
                mode,
                attr_ptr,
            )
        };
        if mqd >= 0 {
            return Ok(mqd);
        }
        let errno = Errno::last();
        let (capacity, msg_size) = attr.unwrap_or((0, 0));
        Err(match errno {
            Errno::EMFILE => limits::emfile(true, capacity, msg_size),
            Errno::ENOSPC => {
                let max = MqLimits::read().map_or("?".to_owned(), |l| l.queues_max.to_string());
                Error::with_text(
                    "mq_open",
                    ErrorKind::LimitReached,
                    format!("number of queues of the system ({PROC_DIR}/queues_max = {max})"),
                )
            }
            Errno::EINVAL => Error::with_text(
                "mq_open",
                ErrorKind::InvalidInput,
                format!("the kernel refused capacity {capacity} / message size {msg_size}"),
            ),
            e => Error::os("mq_open", e),
        })
    }

    /// Open the queue if it exists, else create it; retries when the other call loses a
    /// race (created or unlinked in between). Returns whether this call created it.
    fn open_or_create_mqd(
        &self,
        name: &CStr,
        flags: libc::c_int,
        attr: &Option<(usize, usize)>,
    ) -> Result<(libc::mqd_t, bool)> {
        let mut last = None;
        for _ in 0..100 {
            match self.create_mqd(name, flags, attr) {
                Ok(mqd) => return Ok((mqd, true)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            match open_existing(name, flags) {
                Ok(mqd) => return Ok((mqd, false)),
                Err(e) if e.kind() == ErrorKind::NotFound => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new("mq_open", ErrorKind::NotFound)))
    }
}

fn open_existing(name: &CStr, flags: libc::c_int) -> Result<libc::mqd_t> {
    // SAFETY: `name` is a NUL-terminated string live for the call; without O_CREAT no
    // variadic arguments are read.
    let mqd = unsafe { libc::mq_open(name.as_ptr(), flags) };
    if mqd >= 0 {
        return Ok(mqd);
    }
    Err(match Errno::last() {
        Errno::EMFILE => limits::emfile(false, 0, 0),
        e => Error::os("mq_open", e),
    })
}
