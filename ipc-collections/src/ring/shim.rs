//! What the ring algorithms run on: real atomics, `futex(2)`, `/proc` liveness and raw
//! memory in a normal build; loom's atomics, a loom model of the futex, a model of process
//! death and loom's access tracking under `cfg(loom)`.
//!
//! The algorithms in [`spsc`](super::spsc), [`mpmc`](super::mpmc) and
//! [`bytes`](super::bytes) are written once against the names below and model-checked by
//! `tests/loom_ring.rs` (`RUSTFLAGS="--cfg loom" cargo test -p typed-ipc-collections --release
//! --test loom_ring`), the same way `ipc-core`'s condvar is.
//!
//! - [`AtomicU32`], [`AtomicU64`], [`Ordering`], [`fence`], [`FutexWord`]: the workspace's
//!   one loom shim, `ipc_core::sync::shim` (std's atomics and a real futex word, a plain
//!   `AtomicU32` so the control block keeps its `repr(C)` layout; or loom's atomics and
//!   ipc-core's futex model: the word plus a wait queue whose "compare and enqueue" is
//!   atomic with respect to a wake, as the kernel's hash-bucket lock makes it).
//! - [`futex_wait`], [`futex_wake_all`]: that shim's futex calls in the rings' terms. Under
//!   loom the timeout is not passed on (a bounded wait that would hide a lost wake-up behind
//!   its timeout shows up as a loom deadlock instead).
//! - [`this_process`], [`is_alive`]: the `/proc` identity and liveness of
//!   `segment::creator`, or the model: each loom thread sets its pid with
//!   [`model::set_pid`] and "dies" with [`model::die`] (its writes before that are
//!   visible to whoever then sees it dead, as after a real exit).
//! - [`Tracker`]: nothing in a normal build; under loom one `loom::cell::UnsafeCell<()>`
//!   per slot (or per 8 bytes of a byte ring), whose guards are held while the real code
//!   reads or writes that slot's bytes, so that loom reports any access that is not
//!   ordered after the last conflicting one (a missing Acquire/Release shows up here).
//! - [`Throttle`]: rate-limits the expensive liveness checks (`/proc` reads) to one per
//!   millisecond; under loom every check is due (no clock, and the exploration must be
//!   deterministic).

use std::time::Duration;

pub(crate) use ipc_core::sync::shim::{fence, AtomicU32, AtomicU64, FutexWord, Ordering};

use crate::ring::RingError;

#[cfg(not(loom))]
pub(crate) use real::*;

#[cfg(loom)]
pub(crate) use model::{is_alive, this_process, Tracker};

/// `FUTEX_WAIT` on `word` while it holds `expected`, at most `timeout` (under loom: no
/// timeout, see the module docs). Every outcome (woken, changed, interrupted, timed out)
/// means "re-check"; only an OS error is an error.
#[inline]
pub(crate) fn futex_wait(
    word: &FutexWord,
    expected: u32,
    timeout: Duration,
) -> Result<(), RingError> {
    let timeout = if cfg!(loom) { None } else { Some(timeout) };
    ipc_core::sync::shim::futex_wait(word, expected, timeout)
        .map(|_| ())
        .map_err(|e| RingError::Os(e.errno().map_or(0, |e| e.raw())))
}

/// `FUTEX_WAKE` of every sleeper on `word` (everyone queued now).
#[inline]
pub(crate) fn futex_wake_all(word: &FutexWord) {
    ipc_core::sync::shim::futex_wake(word, u32::MAX);
}

#[cfg(loom)]
pub use model::{die, set_pid};

/// How many times a blocking operation polls the other side's counter (with a spin hint
/// between polls) before it sleeps: about a microsecond on a recent x86 (whose `pause`
/// takes ~140 cycles), several cache-line round trips, so a peer that is running and about
/// to answer is caught without a system call, while one that is not costs little CPU
/// before the sleep. Measured in `ipc-bench` scenarios 3a/3b: 128 polls (~7 us of
/// spinning) made the blocking ping-pong 1.4-1.6x of a raw futex ping-pong on the 2-core
/// VM, because the spinner holds a core the woken side needs; 16 polls made it 0.7-1.0x.
#[cfg(not(loom))]
pub(crate) const SPIN_LIMIT: u32 = 16;
/// Under loom: one poll, then the sleep protocol (the part worth exploring).
#[cfg(loom)]
pub(crate) const SPIN_LIMIT: u32 = 1;

/// The spin phase of a blocking operation: up to [`SPIN_LIMIT`] polls of `changed` (which
/// must be a single load of the other side's counter, nothing else: no liveness check, no
/// clock), a spin hint after each; returns whether it saw a change. The caller then
/// retries its non-blocking operation, which re-reads the counter with the ordering it
/// needs, and sleeps if that still fails.
#[inline]
pub(crate) fn spin_until(mut changed: impl FnMut() -> bool) -> bool {
    for _ in 0..SPIN_LIMIT {
        if changed() {
            return true;
        }
        spin_hint();
    }
    false
}

/// A pause inside a polling loop: a CPU spin hint, or a loom yield (loom needs one in every
/// loop that waits for another thread).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Rate limit for the liveness checks that read `/proc` (see the module docs).
///
/// It reads the clock only every 64th call, so a polling loop pays a counter increment,
/// not a clock read, per poll.
#[derive(Debug)]
pub(crate) struct Throttle {
    #[cfg(not(loom))]
    last: Option<std::time::Instant>,
    #[cfg(not(loom))]
    calls: u32,
}

impl Throttle {
    /// A throttle whose first check is due at once.
    pub(crate) fn new() -> Self {
        Throttle {
            #[cfg(not(loom))]
            last: None,
            #[cfg(not(loom))]
            calls: 0,
        }
    }

    /// Makes the next [`due`](Self::due) true at once: after a bounded sleep in which
    /// nothing moved, the other side's liveness is checked on the next attempt instead of
    /// 64 attempts (about 0.6 s of sleeps) later.
    #[inline]
    pub(crate) fn expire(&mut self) {
        #[cfg(not(loom))]
        {
            self.last = None;
        }
    }

    /// Whether a check is due now (and if so, starts a new period).
    #[inline]
    pub(crate) fn due(&mut self) -> bool {
        #[cfg(not(loom))]
        {
            self.calls = self.calls.wrapping_add(1);
            if self.last.is_some() && self.calls % 64 != 0 {
                return false;
            }
            let now = std::time::Instant::now();
            match self.last {
                Some(t) if now.duration_since(t) < std::time::Duration::from_millis(1) => false,
                _ => {
                    self.last = Some(now);
                    true
                }
            }
        }
        #[cfg(loom)]
        true
    }
}

#[cfg(not(loom))]
mod real {
    /// This process's pid and start time (`/proc/self/stat`, cached).
    #[inline]
    pub(crate) fn this_process() -> (i32, u64) {
        crate::segment::creator::this_process()
    }

    /// Whether `pid`, started at `start` (0: unknown, any start time matches), still runs.
    #[inline]
    pub(crate) fn is_alive(pid: i32, start: u64) -> bool {
        crate::segment::creator::is_alive(pid, start)
    }
}

#[cfg(loom)]
pub mod model {
    //! The loom models of process identity and death, and of slot accesses (the futex
    //! model is ipc-core's).
    use std::cell::Cell;

    use loom::sync::Mutex;

    loom::thread_local! {
        static PID: Cell<i32> = Cell::new(1);
    }

    loom::lazy_static! {
        static ref DEAD: Mutex<Vec<i32>> = Mutex::new(Vec::new());
    }

    /// Sets the model pid of the calling loom thread (default 1).
    pub fn set_pid(pid: i32) {
        PID.with(|p| p.set(pid));
    }

    /// Marks the calling loom thread's model process dead (a SIGKILL at this point: the
    /// thread must do nothing with the ring afterwards and must not drop its handles; use
    /// `std::mem::forget`).
    pub fn die() {
        let pid = PID.with(|p| p.get());
        DEAD.lock().expect("model lock").push(pid);
    }

    /// The calling thread's model pid, start time 1.
    pub(crate) fn this_process() -> (i32, u64) {
        (PID.with(|p| p.get()), 1)
    }

    /// Whether model process `pid` has not died.
    pub(crate) fn is_alive(pid: i32, _start: u64) -> bool {
        pid > 0 && !DEAD.lock().expect("model lock").contains(&pid)
    }

    /// One loom cell per slot, to check the ordering of the slots' plain accesses.
    pub(crate) struct Tracker {
        cells: Vec<loom::cell::UnsafeCell<()>>,
    }

    impl std::fmt::Debug for Tracker {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Tracker")
        }
    }

    /// A held access to a cell.
    pub(crate) enum Access {
        Read(#[allow(dead_code)] loom::cell::ConstPtr<()>),
        Write(#[allow(dead_code)] loom::cell::MutPtr<()>),
    }

    impl Tracker {
        pub(crate) fn new(n: usize) -> Self {
            Tracker {
                cells: (0..n).map(|_| loom::cell::UnsafeCell::new(())).collect(),
            }
        }
        pub(crate) fn write(&self, i: usize) -> Access {
            Access::Write(self.cells[i].get_mut())
        }
        pub(crate) fn read(&self, i: usize) -> Access {
            Access::Read(self.cells[i].get())
        }
    }
}
