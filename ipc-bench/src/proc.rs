//! The other process of a scenario: a forked worker that waits (asleep, on a pipe) for a
//! command, runs one batch of its side, and answers on another pipe.
//!
//! Forked rather than re-executed so that anonymous shared mappings and descriptors made
//! before the fork (a pipe, a socket pair, an `ipc-channel`) are inherited as they are; named
//! objects (segments, queues, iceoryx2 services) are opened by name in the child. A worker
//! that does not answer within [`WATCHDOG`] is killed, and the batch fails.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long a batch may take before its worker counts as hung.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// A command: what to run (`op`, meaning is the scenario's) and how many operations.
const EXIT: u64 = u64::MAX;

/// The child's side of the control pipes.
pub struct Ctl {
    ack: File,
}

impl Ctl {
    /// Tells the parent this side is ready (set up and about to wait for messages).
    pub fn ready(&mut self) -> Result<(), String> {
        self.send(&[1, 0, 0])
    }

    fn send(&mut self, words: &[u64; 3]) -> Result<(), String> {
        let mut b = [0u8; 24];
        for (c, w) in b.chunks_exact_mut(8).zip(words) {
            c.copy_from_slice(&w.to_ne_bytes());
        }
        self.ack.write_all(&b).map_err(|e| format!("ack: {e}"))
    }
}

/// What a child's batch function returns: two words for the parent (a duration, a time
/// stamp, ... as the scenario defines).
pub type Answer = Result<[u64; 2], String>;

/// A forked worker process.
pub struct Worker {
    pid: i32,
    cmd: File,
    ack: File,
    what: String,
}

/// A pipe with both ends close-on-exec, as (read, write).
pub fn pipe() -> std::io::Result<(File, File)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(r), File::from(w)))
}

impl Worker {
    /// Forks a worker that runs `f(ctl, op, n)` for every command until told to exit.
    pub fn spawn(
        what: &str,
        mut f: impl FnMut(&mut Ctl, u64, u64) -> Answer,
    ) -> Result<Worker, String> {
        let (cmd_r, cmd_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        let (ack_r, ack_w) = pipe().map_err(|e| format!("pipe: {e}"))?;
        // Whatever is buffered would be written twice otherwise.
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let (parent_cmd, parent_ack) = (cmd_w.as_raw_fd(), ack_r.as_raw_fd());
        let pid = ipc_testutil::fork_child(move || {
            // SAFETY: these are the parent's ends of the control pipes, open in this forked
            // copy; the child closes them so that it alone holds its ends (the parent sees
            // EOF when the child dies), and never uses them or drops their `File`s (the
            // child leaves with `_exit`).
            unsafe {
                libc::close(parent_cmd);
                libc::close(parent_ack);
            }
            let mut cmd_r = cmd_r;
            let mut ctl = Ctl { ack: ack_w };
            loop {
                let mut b = [0u8; 16];
                if cmd_r.read_exact(&mut b).is_err() {
                    return true;
                }
                let op = u64::from_ne_bytes(b[..8].try_into().expect("8 bytes"));
                let n = u64::from_ne_bytes(b[8..].try_into().expect("8 bytes"));
                if op == EXIT {
                    return true;
                }
                let words = match f(&mut ctl, op, n) {
                    Ok([a, b]) => [0, a, b],
                    Err(e) => {
                        eprintln!("ipc-bench worker: {e}");
                        [2, 0, 0]
                    }
                };
                if ctl.send(&words).is_err() {
                    return false;
                }
            }
        });
        Ok(Worker {
            pid,
            cmd: cmd_w,
            ack: ack_r,
            what: what.to_owned(),
        })
    }

    /// The worker's pid.
    #[cfg(test)]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Starts a batch.
    pub fn start(&mut self, op: u64, n: u64) -> Result<(), String> {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&op.to_ne_bytes());
        b[8..].copy_from_slice(&n.to_ne_bytes());
        self.cmd
            .write_all(&b)
            .map_err(|e| format!("{}: worker gone: {e}", self.what))
    }

    /// Waits for the worker's "ready" (see [`Ctl::ready`]).
    pub fn wait_ready(&mut self) -> Result<(), String> {
        match self.read_ack()? {
            [1, _, _] => Ok(()),
            [2, _, _] => Err(format!("{}: the worker's batch failed", self.what)),
            w => Err(format!("{}: expected ready, got {w:?}", self.what)),
        }
    }

    /// Waits for the end of the batch and returns the worker's answer.
    pub fn finish(&mut self) -> Result<[u64; 2], String> {
        match self.read_ack()? {
            [0, a, b] => Ok([a, b]),
            [2, _, _] => Err(format!(
                "{}: the worker's batch failed (see stderr)",
                self.what
            )),
            w => Err(format!("{}: unexpected answer {w:?}", self.what)),
        }
    }

    /// Runs a batch the worker times itself (wall ns, CPU ns).
    pub fn self_timed(&mut self, op: u64, n: u64) -> Result<crate::measure::Timing, String> {
        self.start(op, n)?;
        let [wall, cpu] = self.finish()?;
        Ok(crate::measure::Timing {
            wall: Duration::from_nanos(wall),
            cpu: Some(Duration::from_nanos(cpu)),
        })
    }

    fn read_ack(&mut self) -> Result<[u64; 3], String> {
        let deadline = Instant::now() + WATCHDOG;
        let mut b = [0u8; 24];
        let mut got = 0;
        while got < b.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.ack.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid pollfd; the timeout is a plain int.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(60_000) as i32) };
            if r == 0 {
                self.kill();
                return Err(format!(
                    "{}: worker did not answer within {WATCHDOG:?}; killed",
                    self.what
                ));
            }
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("{}: poll: {e}", self.what));
            }
            match self.ack.read(&mut b[got..]) {
                Ok(0) => return Err(format!("{}: worker died", self.what)),
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("{}: {e}", self.what)),
            }
        }
        let w = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Ok([w(0), w(1), w(2)])
    }

    fn kill(&mut self) {
        if self.pid > 0 {
            ipc_testutil::sigkill(self.pid);
            let _ = ipc_testutil::wait_pid(self.pid, Duration::from_secs(5));
            self.pid = 0;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.pid <= 0 {
            return;
        }
        if self.start(EXIT, 0).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let mut status = 0;
                // SAFETY: non-blocking waitpid on our own child with a valid status pointer.
                let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
                if r != 0 {
                    self.pid = 0;
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.kill();
    }
}

/// A deadline for a spinning or polling loop that waits on another process: it fails the
/// batch instead of hanging when the other side died.
///
/// Making one reads no clock (hot paths make one per message, and a clock read there
/// would be measured as part of the transport): the clock is read on the 4096th call of
/// [`check`](Self::check), which starts the [`WATCHDOG`] period, and every 4096 calls
/// after that.
pub struct Deadline {
    end: Option<Instant>,
    spins: u32,
}

impl Deadline {
    #[inline]
    pub fn new() -> Deadline {
        Deadline {
            end: None,
            spins: 0,
        }
    }

    /// Call in a wait loop; checks the clock every 4096 calls.
    #[inline]
    pub fn check(&mut self, what: &str) -> Result<(), String> {
        self.spins = self.spins.wrapping_add(1);
        if self.spins % 4096 == 0 {
            let now = Instant::now();
            match self.end {
                None => self.end = Some(now + WATCHDOG),
                Some(end) if now > end => {
                    return Err(format!(
                        "{what}: the other side did not answer in {WATCHDOG:?}"
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// Runs `f` on its own thread and fails the test if it has not finished in `secs` (the
/// watchdog of the cross-process tests).
#[cfg(test)]
pub fn within(secs: u64, f: impl FnOnce() + Send + 'static) {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => t.join().expect("test thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: still running after {secs} s"),
    }
}
