//! The system's limits on message queues: `/proc/sys/fs/mqueue/*`, `MQ_PRIO_MAX`,
//! `RLIMIT_MSGQUEUE`.

use std::sync::OnceLock;

use crate::{Error, ErrorKind, Result};

/// Where the kernel publishes the limits.
pub const PROC_DIR: &str = "/proc/sys/fs/mqueue";

/// The message-queue limits of the system (`/proc/sys/fs/mqueue`, see mq_overview(7)).
///
/// Processes without `CAP_SYS_RESOURCE` cannot create a queue above `msg_max` messages or
/// `msgsize_max` bytes a message; this crate refuses such a queue for every process (see
/// [`MqOptions`](super::MqOptions)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqLimits {
    /// `msg_max`: the most messages a queue may hold.
    pub msg_max: usize,
    /// `msgsize_max`: the largest message size a queue may have.
    pub msgsize_max: usize,
    /// `msg_default`: the capacity of a queue created without attributes.
    pub msg_default: usize,
    /// `msgsize_default`: the message size of a queue created without attributes.
    pub msgsize_default: usize,
    /// `queues_max`: the most queues the system may hold.
    pub queues_max: usize,
}

fn read(file: &'static str) -> Result<usize> {
    let path = format!("{PROC_DIR}/{file}");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        match e.raw_os_error() {
            Some(errno) => Error::os("read", crate::Errno::from_raw(errno)),
            None => Error::with_text("read", ErrorKind::InvalidInput, e.to_string()),
        }
        .with_name(path.clone())
    })?;
    text.trim().parse().map_err(|_| {
        Error::with_text(
            "read",
            ErrorKind::InvalidInput,
            format!("not a number: {:?}", text.trim()),
        )
        .with_name(path)
    })
}

impl MqLimits {
    /// Reads the five files of `/proc/sys/fs/mqueue`.
    ///
    /// # References
    /// <https://man7.org/linux/man-pages/man7/mq_overview.7.html>
    pub fn read() -> Result<MqLimits> {
        Ok(MqLimits {
            msg_max: read("msg_max")?,
            msgsize_max: read("msgsize_max")?,
            msg_default: read("msg_default")?,
            msgsize_default: read("msgsize_default")?,
            queues_max: read("queues_max")?,
        })
    }
}

/// `sysconf(_SC_MQ_PRIO_MAX)`: priorities are `0 .. max_priority()` (32768 on Linux).
///
/// # References
/// <https://man7.org/linux/man-pages/man3/sysconf.3.html>
#[doc(alias = "MQ_PRIO_MAX", alias = "sysconf")]
pub fn prio_max() -> u32 {
    static MAX: OnceLock<u32> = OnceLock::new();
    *MAX.get_or_init(|| {
        // SAFETY: sysconf has no memory preconditions.
        let v = unsafe { libc::sysconf(libc::_SC_MQ_PRIO_MAX) };
        // Linux's MQ_PRIO_MAX if the C library does not know.
        u32::try_from(v).ok().filter(|&v| v > 0).unwrap_or(32768)
    })
}

/// `getrlimit(RLIMIT_MSGQUEUE)`: the soft limit on the bytes of queues of the caller's user,
/// or `None` if unlimited or unknown.
///
/// # References
/// <https://man7.org/linux/man-pages/man2/getrlimit.2.html>
#[doc(alias = "RLIMIT_MSGQUEUE", alias = "getrlimit")]
pub fn rlimit_msgqueue() -> Option<u64> {
    rlimit(libc::RLIMIT_MSGQUEUE)
}

fn rlimit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for the call.
    let r = unsafe { libc::getrlimit(resource, &mut lim) };
    (r == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// Why `mq_open` failed with `EMFILE`: the file-descriptor limit or, when creating, the
/// per-user queue-memory limit.
pub(crate) fn emfile(creating: bool, capacity: usize, msg_size: usize) -> Error {
    let nofile = rlimit(libc::RLIMIT_NOFILE);
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .ok();
    let fds_full = matches!((nofile, open_fds), (Some(lim), Some(n)) if n + 1 >= lim);
    if creating && !fds_full {
        let lim = rlimit_msgqueue().map_or("unlimited".to_owned(), |l| format!("{l} bytes"));
        Error::with_text(
            "mq_open",
            ErrorKind::LimitReached,
            format!(
                "RLIMIT_MSGQUEUE ({lim} of message-queue memory for this user; this queue \
             needs {capacity} x {msg_size} bytes plus bookkeeping)"
            ),
        )
    } else {
        Error::with_text(
            "mq_open",
            ErrorKind::LimitReached,
            format!(
                "open files of this process (RLIMIT_NOFILE = {})",
                nofile.map_or("unlimited".to_owned(), |l| l.to_string())
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_readable_and_sane() {
        let l = MqLimits::read().unwrap();
        assert!(l.msg_max >= 1 && l.msg_default >= 1, "{l:?}");
        assert!(l.msgsize_max >= 128 && l.queues_max >= 1, "{l:?}");
        assert_eq!(prio_max(), 32768);
    }
}
