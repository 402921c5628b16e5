//! Who created a segment, and whether that process is still alive.
//!
//! A pid alone is not an identity: after the creator dies its pid can be reused by an
//! unrelated process. The header therefore records the creator's start time as well
//! (`/proc/PID/stat` field 22, in clock ticks since boot); a process with the same pid but
//! another start time is a different process. FORMAT.md ("Creator liveness") describes the
//! parsing; this is the one implementation of it (the opener and the `ipc` tool use it).

/// What [`remove_if_abandoned`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaim {
    /// The object was abandoned (unpublished, its creator dead and its lock free) and its
    /// name is removed; the creator's pid, as recorded (0 if no header was written).
    Removed(i32),
    /// Another open file description holds the lock: the creator is still making it, or
    /// another process is removing it right now. Left alone.
    Held,
    /// Published (READY or FAILED), not a segment, or its recorded creator is alive (a
    /// creator of a build before the lock rule): left alone.
    NotAbandoned,
    /// Abandoned, but the name no longer refers to it (somebody removed it, and maybe made
    /// a new object under the name): nothing removed.
    Replaced,
}

/// Removes the named shm object `name` if it is an abandoned segment: never published,
/// and its creator dead. `fd` is a descriptor of the object the caller opened under `name`,
/// **for writing** (its lock is taken).
///
/// The steps (FORMAT.md, "Init protocol", describes them for other languages):
/// 1. take the whole-file write lock through `fd`'s own open file description
///    (`F_OFD_SETLK`, non-blocking): refused while the creator is alive (it holds the lock
///    until READY) or while another reclaimer works on the object ([`Reclaim::Held`]);
/// 2. with the lock held, read the header (`pread`): our magic, a state of UNSET or
///    INITIALIZING, and a recorded creator that is not alive (pid and start time), else
///    [`Reclaim::NotAbandoned`];
/// 3. remove the name only if it still refers to this object (`fstat` of `fd` against a
///    fresh `lstat`): as every reclaimer takes the lock first, no other one can replace the
///    name in between ([`Reclaim::Replaced`] otherwise).
///
/// The lock stays held until the caller closes `fd` (the object is unnamed by then).
///
/// Errors: those of `fcntl` (`EBADF` for a read-only `fd`), `pread`, `shm_unlink`.
pub fn remove_if_abandoned(name: &str, fd: std::os::fd::BorrowedFd<'_>) -> crate::Result<Reclaim> {
    use super::format::{state, Header, HEADER_LEN, MAGIC};
    use ipc_core::shm::ofd;
    use std::os::unix::fs::FileExt;
    if !ofd::try_lock(fd).map_err(|e| e.with_name(name))? {
        return Ok(Reclaim::Held);
    }
    let file = std::fs::File::from(
        fd.try_clone_to_owned()
            .map_err(|e| io_error("dup", &e).with_name(name))?,
    );
    let mut buf = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("pread", &e).with_name(name)),
        }
    }
    let Some(header) = Header::read(&buf) else {
        return Ok(Reclaim::NotAbandoned);
    };
    if header.magic != MAGIC || !matches!(header.state, state::UNSET | state::INITIALIZING) {
        return Ok(Reclaim::NotAbandoned);
    }
    // UNSET with no pid: claimed by a creator that wrote no header yet (only a build before
    // the lock rule, or `create_in` over a plain `Shm::create`, leaves that under a name);
    // nobody holds its lock, and there is no pid to ask. UNSET with a pid (a `create_in`
    // creator between its header and INITIALIZING, which holds no lock) or INITIALIZING:
    // its recorded creator must be gone.
    let pid = header.creator_pid;
    if pid != 0 && is_alive(pid, header.creator_start_time) {
        return Ok(Reclaim::NotAbandoned);
    }
    Ok(if ofd::unlink_if_same(name, fd)? {
        Reclaim::Removed(pid)
    } else {
        Reclaim::Replaced
    })
}

fn io_error(op: &'static str, e: &std::io::Error) -> ipc_core::Error {
    ipc_core::Error::os(
        op,
        ipc_core::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    )
}

/// What became of a segment's creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// A running process with the recorded pid and start time.
    Alive,
    /// No such process, or a zombie.
    Dead,
    /// A process with the pid runs, but it started at another time: the creator died and its
    /// pid was reused.
    PidReused,
}

impl Liveness {
    /// A word for tables: `alive`, `dead`, `dead (pid reused)`.
    pub fn word(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Dead => "dead",
            Liveness::PidReused => "dead (pid reused)",
        }
    }
}

/// Parses the text of a `/proc/PID/stat` file: the state letter (field 3) and the start
/// time (field 22). Field 2 (the command) is in parentheses and may itself contain spaces
/// and `)`, so the fields after it start after the LAST `)` of the text. `None` if the text
/// does not have that shape.
pub fn parse_proc_stat(text: &str) -> Option<(&str, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    // Field 3 was the first after the `)`; field 22 is the 19th after that.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`), and whether it is still
/// running (not a zombie). `None` if there is no such process (or `pid <= 0`).
fn stat(pid: i32) -> Option<(u64, bool)> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (state, start) = parse_proc_stat(&text)?;
    Some((start, !matches!(state, "Z" | "X" | "x")))
}

/// What became of the process `pid` that started at `start_time` (clock ticks since boot;
/// 0 means unknown and matches any start time): a zombie counts as dead (it can no longer
/// finish anything).
pub fn liveness(pid: i32, start_time: u64) -> Liveness {
    match stat(pid) {
        None | Some((_, false)) => Liveness::Dead,
        Some((start, true)) if start_time != 0 && start != start_time => Liveness::PidReused,
        Some(_) => Liveness::Alive,
    }
}

/// The calling process's pid and start time.
///
/// The start time is read from `/proc` once per process and cached with the pid it belongs
/// to (a forked child has another pid, so it reads its own).
pub(crate) fn this_process() -> (i32, u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    // The pid (low 32 bits) and whether the entry is filled (bit 32), and the start time.
    static CACHED_PID: AtomicU64 = AtomicU64::new(0);
    static CACHED_START: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id() as i32;
    let tag = (1 << 32) | u64::from(pid as u32);
    // Acquire: pairs with the Release store below, so the start time read is the one
    // stored for this pid.
    if CACHED_PID.load(Ordering::Acquire) == tag {
        return (pid, CACHED_START.load(Ordering::Relaxed));
    }
    // /proc is always there on Linux; without it the start time is 0 and liveness falls
    // back to the pid alone.
    let start = stat(pid).map(|(s, _)| s).unwrap_or(0);
    CACHED_START.store(start, Ordering::Relaxed);
    // Release: publishes the start time stored just before (two threads racing here store
    // the same values).
    CACHED_PID.store(tag, Ordering::Release);
    (pid, start)
}

/// Whether the process `pid` that started at `start_time` is still alive (see
/// [`liveness`]).
pub(crate) fn is_alive(pid: i32, start_time: u64) -> bool {
    liveness(pid, start_time) == Liveness::Alive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let (pid, start) = this_process();
        assert!(start > 0);
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
        // pid_max is at most 2^22 on Linux.
        assert!(!is_alive(i32::MAX, 0));
        assert_eq!(liveness(pid, 0), Liveness::Alive);
        assert_eq!(liveness(pid, start + 1), Liveness::PidReused);
        assert_eq!(liveness(0, 0), Liveness::Dead);
        assert_eq!(liveness(-1, 0), Liveness::Dead);
    }

    #[test]
    fn proc_stat_takes_the_last_paren() {
        let fields = (4..=22)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let text = format!("42 (a) b (c)) d) S {fields} 23 24\n");
        assert_eq!(parse_proc_stat(&text), Some(("S", 22)));
        assert_eq!(parse_proc_stat("42 (x) S 4 5"), None);
        assert_eq!(parse_proc_stat("no paren"), None);
    }

    #[test]
    fn a_zombie_and_a_reaped_child_are_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let (start, _) = stat(pid).expect("unreaped child has a /proc entry");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while stat(pid).is_some_and(|(_, running)| running) {
            assert!(std::time::Instant::now() < deadline, "child never exited");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(!is_alive(pid, start), "zombie counted as alive");
        child.wait().unwrap();
        assert!(!is_alive(pid, start), "reaped child counted as alive");
    }
}
