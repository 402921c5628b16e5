//! POSIX message queues (`<mqueue.h>`): [`MessageQueue`], opened with [`MqOptions`].
//!
//! A queue holds up to `capacity` messages of up to `message_size` bytes each, set when it is
//! created. [`MessageQueue::receive`] returns the oldest message of the highest priority
//! (priority order, then FIFO). Send and receive come in three flavours:
//! - no timeout ([`send`](MessageQueue::send), [`receive`](MessageQueue::receive)): wait
//!   as long as it takes (unless the handle is non-blocking);
//! - zero timeout ([`try_send`](MessageQueue::try_send),
//!   [`try_receive`](MessageQueue::try_receive)): fail at once with
//!   [`ErrorKind::WouldBlock`];
//! - a timeout ([`send_timeout`](MessageQueue::send_timeout),
//!   [`receive_timeout`](MessageQueue::receive_timeout)): fail with
//!   [`ErrorKind::Timeout`].
//!
//! Messages are received into the caller's buffer: nothing is allocated per message.
//!
//! # Lifetime of the name
//! (One rule for every named kind: the [lifetime table](crate#options-and-lifetimes).)
//! The handle that creates a queue unlinks its name when dropped, unless told not to
//! ([`MqOptions::unlink_on_drop`], [`MessageQueue::set_unlink_on_drop`]); handles that
//! only open never unlink. Unlinking removes the name only: processes that have the queue
//! open keep using it until they close it. Only the creating *process* unlinks: a copy of the
//! handle inherited by a forked child does not. Nor does a handle remove a newer queue that
//! someone else created under the same name after this one's was unlinked (checked through
//! `/dev/mqueue` where the mqueue file system is mounted there). [`unlink`] removes a name
//! explicitly.
//!
//! ```no_run
//! use ipc_core::mq::MessageQueue;
//!
//! let q = MessageQueue::create("/jobs", 8, 128)?;
//! q.send(b"low", 1)?;
//! q.send(b"high", 5)?;
//! let mut buf = vec![0; q.message_size()];
//! let (n, prio) = q.receive(&mut buf)?;
//! assert_eq!((&buf[..n], prio), (&b"high"[..], 5));
//! # Ok::<(), ipc_core::Error>(())
//! ```
//!
//! # References
//! <https://man7.org/linux/man-pages/man7/mq_overview.7.html>

mod limits;
mod notify;
mod options;

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use crate::Errno;

use crate::name::{self, NameKind};
use crate::signal::Signal;
use crate::{Error, ErrorKind, Result};

pub use limits::{prio_max, rlimit_msgqueue, MqLimits};
pub use options::{Access, MqOptions};

/// The attributes of a queue (`struct mq_attr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqAttributes {
    /// `mq_maxmsg`: the most messages the queue holds.
    pub capacity: usize,
    /// `mq_msgsize`: the largest message in bytes.
    pub message_size: usize,
    /// `mq_curmsgs`: how many messages are in the queue now.
    pub current: usize,
    /// Whether this handle is non-blocking (`O_NONBLOCK` in `mq_flags`).
    pub nonblocking: bool,
}

/// How long a send or receive may wait.
#[derive(Clone, Copy)]
enum Wait {
    Forever,
    Poll,
    For(Duration),
}

/// An open POSIX message queue (`mqd_t`). Closed on drop (and unlinked, if this handle
/// created it; see the [module documentation](self)).
///
/// Safe to share between threads: every operation is one system call on the descriptor.
pub struct MessageQueue {
    mqd: libc::mqd_t,
    name: Box<str>,
    access: Access,
    capacity: usize,
    msg_size: usize,
    /// Whether this handle's `mq_open` created the queue.
    created: bool,
    /// The pid of the creating process while it should unlink on drop.
    owner: Option<crate::process::Owner>,
}

impl MessageQueue {
    /// `mq_open(O_CREAT | O_EXCL)`: creates the queue `name` holding up to `capacity`
    /// messages of up to `message_size` bytes, mode `0o600`, for sending and receiving; the
    /// name is unlinked when this handle drops. Shortcut for
    /// `MessageQueue::options().capacity(capacity).message_size(message_size).create(name)`;
    /// errors as [`MqOptions::open_or_create`].
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_open.3.html>
    #[doc(alias = "mq_open")]
    pub fn create(name: &str, capacity: usize, message_size: usize) -> Result<MessageQueue> {
        Self::options()
            .capacity(capacity)
            .message_size(message_size)
            .create(name)
    }

    /// `mq_open`: opens the existing queue `name` for sending and receiving. Shortcut for
    /// `MessageQueue::options().open(name)`.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_open.3.html>
    #[doc(alias = "mq_open")]
    pub fn open(name: &str) -> Result<MessageQueue> {
        Self::options().open(name)
    }

    /// `mq_open`: opens `name` if it exists, else creates it with `capacity` and
    /// `message_size` (race-safe). Shortcut for
    /// `MessageQueue::options().capacity(..).message_size(..).open_or_create(name)`.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_open.3.html>
    #[doc(alias = "mq_open")]
    pub fn open_or_create(
        name: &str,
        capacity: usize,
        message_size: usize,
    ) -> Result<MessageQueue> {
        Self::options()
            .capacity(capacity)
            .message_size(message_size)
            .open_or_create(name)
    }

    /// The builder for every other combination (access, mode bits, non-blocking, who
    /// unlinks); the same as [`MqOptions::new`].
    pub fn options() -> MqOptions {
        MqOptions::new()
    }

    /// Wraps a freshly opened descriptor (closing it on failure, and unlinking the name if
    /// `created`).
    fn from_parts(
        mqd: libc::mqd_t,
        name: &str,
        access: Access,
        created: bool,
    ) -> Result<MessageQueue> {
        let mut q = MessageQueue {
            mqd,
            name: name.into(),
            access,
            capacity: 0,
            msg_size: 0,
            created,
            owner: None,
        };
        q.set_owner(created);
        let attr = q.attributes()?;
        q.capacity = attr.capacity;
        q.msg_size = attr.message_size;
        Ok(q)
    }

    fn set_owner(&mut self, owner: bool) {
        self.owner = owner.then(crate::process::Owner::current);
    }

    fn raw(&self) -> libc::mqd_t {
        self.mqd
    }

    fn err(&self, op: &'static str, errno: Errno) -> Error {
        Error::os(op, errno).with_name(&*self.name)
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The most messages the queue holds (`mq_maxmsg`, fixed at creation).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest message in bytes (`mq_msgsize`, fixed at creation): the buffer size
    /// [`receive`](Self::receive) needs.
    pub fn message_size(&self) -> usize {
        self.msg_size
    }

    /// Whether this handle created the queue (rather than opening an existing one).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether dropping this handle unlinks the name.
    pub fn unlinks_on_drop(&self) -> bool {
        self.owner.is_some_and(crate::process::Owner::is_current)
    }

    /// Sets whether dropping this handle unlinks the name: `false` makes the queue persist
    /// after this handle (remove it later with [`unlink`]); `true` makes this handle own the
    /// name even if another process created it.
    pub fn set_unlink_on_drop(&mut self, unlink: bool) {
        self.set_owner(unlink);
    }

    /// `mq_unlink`: removes the queue's name now (this and other open handles keep working)
    /// and stops this handle from unlinking it again on drop.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] if the name is already gone.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_unlink.3.html>
    #[doc(alias = "mq_unlink")]
    pub fn unlink(&mut self) -> Result<()> {
        self.owner = None;
        unlink(&self.name)
    }

    /// `mq_getattr`: capacity, message size, current number of messages, non-blocking flag.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_getattr.3.html>
    #[doc(alias = "mq_getattr")]
    pub fn attributes(&self) -> Result<MqAttributes> {
        // SAFETY: mq_attr is plain integers; all zeroes is a valid value.
        let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
        // SAFETY: `self.mqd` is an open queue descriptor owned by `self`; `a` is a valid
        // out-pointer.
        if unsafe { libc::mq_getattr(self.mqd, &mut a) } != 0 {
            return Err(self.err("mq_getattr", Errno::last()));
        }
        Ok(MqAttributes {
            capacity: usize::try_from(a.mq_maxmsg).unwrap_or(0),
            message_size: usize::try_from(a.mq_msgsize).unwrap_or(0),
            current: usize::try_from(a.mq_curmsgs).unwrap_or(0),
            nonblocking: a.mq_flags & libc::O_NONBLOCK as libc::c_long != 0,
        })
    }

    /// `mq_setattr`: switches this handle between blocking and non-blocking mode.
    ///
    /// The flag belongs to the open queue description, which a forked child shares.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_setattr.3.html>
    #[doc(alias = "mq_setattr")]
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<()> {
        // SAFETY: mq_attr is plain integers; all zeroes is a valid value.
        let mut a: libc::mq_attr = unsafe { std::mem::zeroed() };
        a.mq_flags = if nonblocking {
            libc::O_NONBLOCK as libc::c_long
        } else {
            0
        };
        // SAFETY: an open descriptor owned by `self`, a valid attribute struct to read and
        // a null "old attributes" pointer, which mq_setattr allows.
        if unsafe { libc::mq_setattr(self.mqd, &a, std::ptr::null_mut()) } != 0 {
            return Err(self.err("mq_setattr", Errno::last()));
        }
        Ok(())
    }

    fn check_send(&self, op: &'static str, msg: &[u8], prio: u32) -> Result<()> {
        if !self.access.can_send() {
            return Err(Error::new(op, ErrorKind::PermissionDenied).with_name(&*self.name));
        }
        if msg.len() > self.msg_size {
            return Err(Error::with_text(
                op,
                ErrorKind::InvalidSize,
                format!(
                    "message of {} bytes is longer than the queue's message size \
                     (mq_msgsize = {})",
                    msg.len(),
                    self.msg_size
                ),
            )
            .with_name(&*self.name));
        }
        let max = prio_max();
        if prio >= max {
            return Err(Error::with_text(
                op,
                ErrorKind::InvalidInput,
                format!("priority {prio} is not below MQ_PRIO_MAX = {max}"),
            )
            .with_name(&*self.name));
        }
        Ok(())
    }

    fn check_receive(&self, op: &'static str, buf: &[u8]) -> Result<()> {
        if !self.access.can_receive() {
            return Err(Error::new(op, ErrorKind::PermissionDenied).with_name(&*self.name));
        }
        if buf.len() < self.msg_size {
            return Err(Error::with_text(
                op,
                ErrorKind::InvalidSize,
                format!(
                    "buffer of {} bytes is shorter than the queue's message size \
                     (mq_msgsize = {}); the kernel needs room for the largest message",
                    buf.len(),
                    self.msg_size
                ),
            )
            .with_name(&*self.name));
        }
        Ok(())
    }

    /// Runs `call` (a send or receive taking an optional absolute CLOCK_REALTIME deadline)
    /// under `wait`, retrying on `EINTR` and on an early `ETIMEDOUT`.
    fn with_wait<T>(
        &self,
        op: &'static str,
        wait: Wait,
        mut call: impl FnMut(Option<&libc::timespec>) -> std::result::Result<T, Errno>,
    ) -> Result<T> {
        let deadline = match wait {
            Wait::For(d) => Instant::now().checked_add(d),
            _ => None,
        };
        loop {
            let r = match (wait, deadline) {
                (Wait::Poll, _) => {
                    // A deadline in the past: the kernel fails at once if it would wait.
                    call(Some(&libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    }))
                }
                (Wait::For(_), Some(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    call(Some(&realtime_deadline(left)))
                }
                // No timeout, or one too long to represent: wait without a deadline.
                _ => call(None),
            };
            match r {
                Ok(v) => return Ok(v),
                Err(Errno::EINTR) => continue,
                Err(Errno::ETIMEDOUT) => match (wait, deadline) {
                    (Wait::Poll, _) => {
                        return Err(Error::new(op, ErrorKind::WouldBlock).with_name(&*self.name))
                    }
                    // The wall clock jumped ahead of the monotonic deadline: wait for the
                    // rest.
                    (_, Some(deadline)) if Instant::now() < deadline => continue,
                    _ => return Err(self.err(op, Errno::ETIMEDOUT)),
                },
                Err(Errno::EMSGSIZE) => {
                    return Err(Error::with_text(
                        op,
                        ErrorKind::InvalidSize,
                        format!("message does not fit (mq_msgsize = {})", self.msg_size),
                    )
                    .with_name(&*self.name))
                }
                Err(Errno::EBADF) => {
                    return Err(Error::new(op, ErrorKind::PermissionDenied).with_name(&*self.name))
                }
                Err(e) => return Err(self.err(op, e)),
            }
        }
    }

    fn send_with(&self, op: &'static str, msg: &[u8], prio: u32, wait: Wait) -> Result<()> {
        self.check_send(op, msg, prio)?;
        self.with_wait(op, wait, |deadline| {
            // SAFETY: an open descriptor owned by `self`; `msg` is valid for reads of
            // `msg.len()` bytes; `deadline` is null or a valid timespec, all live for the
            // call.
            let r = unsafe {
                match deadline {
                    None => libc::mq_send(self.mqd, msg.as_ptr().cast(), msg.len(), prio),
                    Some(ts) => {
                        libc::mq_timedsend(self.mqd, msg.as_ptr().cast(), msg.len(), prio, ts)
                    }
                }
            };
            if r == 0 {
                Ok(())
            } else {
                Err(Errno::last())
            }
        })
    }

    /// `mq_send`: adds `msg` with priority `prio` (0 = lowest), waiting while the queue is
    /// full (interrupted waits resume). On a non-blocking handle a full queue fails with
    /// [`ErrorKind::WouldBlock`].
    ///
    /// # Errors
    /// [`ErrorKind::InvalidSize`] naming `mq_msgsize` if `msg` is longer than
    /// [`message_size`](Self::message_size); [`ErrorKind::InvalidInput`] naming `MQ_PRIO_MAX` if
    /// `prio >= `[`prio_max()`]; [`ErrorKind::PermissionDenied`] on a receive-only handle.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_send.3.html>
    #[doc(alias = "mq_send")]
    pub fn send(&self, msg: &[u8], prio: u32) -> Result<()> {
        self.send_with("mq_send", msg, prio, Wait::Forever)
    }

    /// `mq_timedsend` with a deadline in the past: adds `msg` if there is room now, else
    /// fails at once with [`ErrorKind::WouldBlock`].
    ///
    /// # Errors
    /// As [`send`](Self::send).
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_send.3.html>
    #[doc(alias = "mq_timedsend")]
    pub fn try_send(&self, msg: &[u8], prio: u32) -> Result<()> {
        self.send_with("mq_timedsend", msg, prio, Wait::Poll)
    }

    /// `mq_timedsend`: adds `msg`, waiting up to `timeout` for room; then fails with
    /// [`ErrorKind::Timeout`].
    ///
    /// The kernel takes an absolute `CLOCK_REALTIME` deadline, computed from `timeout` just
    /// before the call. If the wall clock jumps forward, the kernel reports the timeout
    /// early and the call waits again for the rest of `timeout` (measured on the monotonic
    /// clock); if it jumps backward during the wait, the wait is stretched by the jump.
    ///
    /// # Errors
    /// As [`send`](Self::send), and [`ErrorKind::Timeout`].
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_send.3.html>
    #[doc(alias = "mq_timedsend")]
    pub fn send_timeout(&self, msg: &[u8], prio: u32, timeout: Duration) -> Result<()> {
        self.send_with("mq_timedsend", msg, prio, Wait::For(timeout))
    }

    fn receive_with(&self, op: &'static str, buf: &mut [u8], wait: Wait) -> Result<(usize, u32)> {
        self.check_receive(op, buf)?;
        self.with_wait(op, wait, |deadline| {
            let mut prio = 0u32;
            // SAFETY: an open descriptor owned by `self`; `buf` is valid for writes of
            // `buf.len()` bytes (the kernel writes at most that many); `prio` is a valid
            // out-pointer; `deadline` is null or a valid timespec, all live for the call.
            let n = unsafe {
                match deadline {
                    None => {
                        libc::mq_receive(self.mqd, buf.as_mut_ptr().cast(), buf.len(), &mut prio)
                    }
                    Some(ts) => libc::mq_timedreceive(
                        self.mqd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut prio,
                        ts,
                    ),
                }
            };
            match usize::try_from(n) {
                Ok(n) => Ok((n, prio)),
                Err(_) => Err(Errno::last()),
            }
        })
    }

    /// `mq_receive`: takes the oldest message of the highest priority into `buf`, waiting
    /// while the queue is empty (interrupted waits resume); returns its length and priority.
    /// On a non-blocking handle an empty queue fails with [`ErrorKind::WouldBlock`].
    ///
    /// # Errors
    /// [`ErrorKind::InvalidSize`] naming `mq_msgsize` if `buf` is shorter than
    /// [`message_size`](Self::message_size) (the kernel's `EMSGSIZE`);
    /// [`ErrorKind::PermissionDenied`] on a send-only handle.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_receive.3.html>
    #[doc(alias = "mq_receive")]
    pub fn receive(&self, buf: &mut [u8]) -> Result<(usize, u32)> {
        self.receive_with("mq_receive", buf, Wait::Forever)
    }

    /// `mq_timedreceive` with a deadline in the past: takes a message if there is one now,
    /// else fails at once with [`ErrorKind::WouldBlock`].
    ///
    /// # Errors
    /// As [`receive`](Self::receive).
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_receive.3.html>
    #[doc(alias = "mq_timedreceive")]
    pub fn try_receive(&self, buf: &mut [u8]) -> Result<(usize, u32)> {
        self.receive_with("mq_timedreceive", buf, Wait::Poll)
    }

    /// `mq_timedreceive`: takes a message, waiting up to `timeout` for one; then fails with
    /// [`ErrorKind::Timeout`]. The wall-clock caveat of
    /// [`send_timeout`](Self::send_timeout) applies.
    ///
    /// # Errors
    /// As [`receive`](Self::receive), and [`ErrorKind::Timeout`].
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_receive.3.html>
    #[doc(alias = "mq_timedreceive")]
    pub fn receive_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<(usize, u32)> {
        self.receive_with("mq_timedreceive", buf, Wait::For(timeout))
    }

    /// `mq_notify` with `SIGEV_SIGNAL`: asks for `signal` when a message arrives on the
    /// empty queue. Same as [`notify_value`](Self::notify_value) with value 0.
    ///
    /// # Errors
    /// See [`notify_value`](Self::notify_value).
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_notify.3.html>
    #[doc(alias = "mq_notify")]
    pub fn notify(&self, signal: Signal) -> Result<()> {
        self.notify_value(signal, 0)
    }

    /// `mq_notify` with `SIGEV_SIGNAL`: asks the kernel to send `signal` to this process,
    /// carrying `value`, when a message arrives on the queue while it is empty.
    ///
    /// The receiver sees [`Origin::MessageQueue`](crate::signal::Origin::MessageQueue),
    /// the sending process's pid and uid, and `value`. A registration is one-shot: it is
    /// removed when the signal is sent, so register again (before draining the queue, to
    /// miss nothing). No signal is sent if another process is blocked in
    /// [`receive`](Self::receive) at that moment (it gets the message instead). Only one
    /// process at a time may be registered on a queue. Block the signal and take it with
    /// [`signal::wait`](crate::signal::wait), or install a handler, *before* registering:
    /// the default action of most signals ends the process.
    ///
    /// # Errors
    /// [`ErrorKind::LimitReached`] if another process is already registered (`EBUSY`).
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_notify.3.html>
    #[doc(alias = "mq_notify")]
    pub fn notify_value(&self, signal: Signal, value: usize) -> Result<()> {
        // SAFETY: sigevent is plain integers and pointers; all zeroes is a valid value.
        let mut ev: libc::sigevent = unsafe { std::mem::zeroed() };
        ev.sigev_notify = libc::SIGEV_SIGNAL;
        ev.sigev_signo = signal.as_raw();
        ev.sigev_value = libc::sigval {
            sival_ptr: std::ptr::without_provenance_mut(value),
        };
        // SAFETY: an open descriptor owned by `self` and a valid sigevent read during the
        // call (the kernel copies it).
        if unsafe { libc::mq_notify(self.mqd, &ev) } != 0 {
            return Err(match Errno::last() {
                Errno::EBUSY => Error::with_text(
                    "mq_notify",
                    ErrorKind::LimitReached,
                    "one notification registration per queue: another process holds it",
                )
                .with_name(&*self.name),
                e => self.err("mq_notify", e),
            });
        }
        Ok(())
    }

    /// `mq_notify` with `SIGEV_THREAD`: runs `f` once, on a new thread, when a message
    /// arrives on the queue while it is empty (posix_ipc's
    /// `request_notification(callable)`). The signal form is [`notify`](Self::notify).
    ///
    /// The kernel's rules apply as for the signal form: the registration is one-shot (call
    /// again, for example from `f`, to keep listening, and drain the queue after
    /// registering to miss nothing); nothing happens if another process is blocked in
    /// [`receive`](Self::receive) when the message arrives; one process per queue. `f` runs
    /// on a thread of glibc's, not the caller's; a panic in it is caught and ignored. The
    /// closure is dropped unrun when the registration is cancelled
    /// ([`cancel_notify`](Self::cancel_notify)) or this handle is closed; until then it is
    /// kept, with what it captures (an `Arc` of this queue in it keeps the queue open until
    /// the registration fires or is cancelled). Nothing here
    /// touches signal masks or handlers. (Why this is sound: the module `notify.rs`.)
    ///
    /// ```no_run
    /// use std::sync::mpsc;
    /// use ipc_core::mq::MessageQueue;
    ///
    /// let q = MessageQueue::create("/jobs", 8, 128)?;
    /// let (tx, rx) = mpsc::channel();
    /// q.notify_thread(move || {
    ///     let _ = tx.send(());
    /// })?;
    /// // ... another process sends ...
    /// rx.recv().unwrap();
    /// # Ok::<(), ipc_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::LimitReached`] if a process (this one included) is already registered
    /// (`EBUSY`); the closure is dropped unrun.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_notify.3.html>,
    /// <https://man7.org/linux/man-pages/man7/sigevent.7.html>
    #[doc(alias = "mq_notify")]
    #[doc(alias = "SIGEV_THREAD")]
    #[doc(alias = "request_notification")]
    pub fn notify_thread(&self, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let (ev, token) = notify::register(self.mqd, Box::new(f));
        // SAFETY: an open descriptor owned by `self`; `ev` is glibc's `struct sigevent`
        // with its SIGEV_THREAD arm filled in (the layout is pinned to libc::sigevent at
        // compile time in notify.rs), read during the call only: glibc copies the function
        // and value. The function is a plain `extern "C" fn` that lives for the whole
        // program, and the value is a number, not a pointer.
        let r = unsafe { libc::mq_notify(self.mqd, (&raw const ev).cast::<libc::sigevent>()) };
        if r != 0 {
            let errno = Errno::last();
            notify::forget(token);
            return Err(match errno {
                Errno::EBUSY => Error::with_text(
                    "mq_notify",
                    ErrorKind::LimitReached,
                    "one notification registration per queue: a process (maybe this one) \
                         holds it",
                )
                .with_name(&*self.name),
                e => self.err("mq_notify", e),
            });
        }
        Ok(())
    }

    /// `mq_notify(NULL)`: removes this process's notification registration, if it has one.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_notify.3.html>
    #[doc(alias = "mq_notify")]
    pub fn cancel_notify(&self) -> Result<()> {
        // SAFETY: an open descriptor owned by `self`; a null sigevent means "unregister".
        let r = unsafe { libc::mq_notify(self.mqd, std::ptr::null()) };
        // A closure of notify_thread will not run any more (if it has not yet).
        notify::forget_queue(self.mqd);
        if r != 0 {
            return Err(self.err("mq_notify", Errno::last()));
        }
        Ok(())
    }

    /// `mq_close`: closes the handle now, reporting an error (drop ignores it). Unlinks
    /// the name first if this handle would on drop.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man3/mq_close.3.html>
    #[doc(alias = "mq_close")]
    pub fn close(mut self) -> Result<()> {
        let unlinked = if self.unlinks_on_drop() && self.still_names_ours() {
            unlink(&self.name)
        } else {
            Ok(())
        };
        self.owner = None;
        notify::forget_queue(self.mqd);
        // SAFETY: the descriptor is owned by `self`; it is marked closed right after, so
        // `drop` does not close it again.
        let r = unsafe { libc::mq_close(self.mqd) };
        let errno = Errno::last();
        self.mqd = -1;
        let closed = if r != 0 {
            Err(self.err("mq_close", errno))
        } else {
            Ok(())
        };
        unlinked.and(closed)
    }
}

impl MessageQueue {
    /// Whether the name still refers to this handle's queue, as far as `/dev/mqueue` tells
    /// (true when the mqueue file system is not mounted there).
    fn still_names_ours(&self) -> bool {
        crate::sys::file::still_names(self.as_fd(), "/dev/mqueue", &self.name)
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        if self.mqd < 0 {
            return; // closed by `close`
        }
        if self.unlinks_on_drop() && self.still_names_ours() {
            let _ = unlink(&self.name);
        }
        // Closing removes this process's registration made through the descriptor.
        notify::forget_queue(self.mqd);
        // SAFETY: the descriptor is owned by `self` and still open (`close` sets it to -1).
        unsafe { libc::mq_close(self.mqd) };
    }
}

impl fmt::Debug for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageQueue")
            .field("name", &self.name)
            .field("mqd", &self.mqd)
            .field("access", &self.access)
            .field("capacity", &self.capacity)
            .field("msg_size", &self.msg_size)
            .field("created", &self.created)
            .field("unlink_on_drop", &self.unlinks_on_drop())
            .finish()
    }
}

/// On Linux a queue descriptor is a file descriptor: it can be polled (readable when a
/// message is waiting, writable when there is room) with `poll`/`epoll`.
impl AsFd for MessageQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is open for as long as `self` lives, which bounds the
        // borrow.
        unsafe { BorrowedFd::borrow_raw(self.mqd) }
    }
}

impl AsRawFd for MessageQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.mqd
    }
}

/// `mq_unlink`: removes the queue's name. Processes that have it open keep using it; it is
/// destroyed when the last one closes it.
///
/// # Errors
/// [`ErrorKind::InvalidName`], [`ErrorKind::NotFound`], [`ErrorKind::PermissionDenied`].
///
/// # References
/// <https://man7.org/linux/man-pages/man3/mq_unlink.3.html>
#[doc(alias = "mq_unlink")]
pub fn unlink(name: &str) -> Result<()> {
    let cname = name::validate("mq_unlink", name, NameKind::MessageQueue)?;
    // SAFETY: `cname` is a NUL-terminated string live for the call.
    if unsafe { libc::mq_unlink(cname.as_ptr()) } != 0 {
        return Err(Error::os("mq_unlink", Errno::last()).with_name(name));
    }
    Ok(())
}

/// `CLOCK_REALTIME` now plus `left`, saturating, as the absolute deadline `mq_timed*` take.
fn realtime_deadline(left: Duration) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid out-pointer; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    let secs = libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX);
    let mut nsec = now.tv_nsec + libc::c_long::from(left.subsec_nanos() as i32);
    let mut sec = now.tv_sec.saturating_add(secs);
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec = sec.saturating_add(1);
    }
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}
