//! Which process a handle, a registration or a guard belongs to.
//!
//! After `fork` the child holds a copy of every handle and guard its parent had, on the
//! stack of the thread that forked. Registrations, locks and names belong to a process,
//! not to a copy of a handle: a copy that a child inherited and drops releases nothing of
//! its parent's (it unmaps and closes only its own copies of the mapping and descriptors).
//! Each type that releases shared state on drop records its [`Owner`] when it takes that
//! state and releases it only when [`Owner::is_current`] still holds (see the crate's
//! lifetime table).
//!
//! The pid is cached in process memory and refreshed in a forked child by a
//! `pthread_atfork` child handler, so that a check costs one load rather than a `getpid`
//! system call (guards check on every unlock). A child made without glibc's `fork` (a raw
//! `clone` system call) runs no handler: such a child must not use inherited handles.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// The calling process's pid, 0 until cached.
static PID: AtomicU32 = AtomicU32::new(0);
/// Whether the `pthread_atfork` handler is registered: `UNREGISTERED`, `REGISTERING`
/// (one thread is at it) or `REGISTERED`. Not a `Once`: a child forked while another
/// thread ran a `Once` would find it running for ever and block.
static AT_FORK: AtomicU8 = AtomicU8::new(UNREGISTERED);
const UNREGISTERED: u8 = 0;
const REGISTERING: u8 = 1;
const REGISTERED: u8 = 2;

/// Runs in the child after `fork` (before `fork` returns there): the cached pid is the
/// parent's and must be refreshed.
extern "C" fn refresh_in_child() {
    // getpid is async-signal-safe, as a handler in the child of a threaded process must be.
    PID.store(std::process::id(), Ordering::Relaxed);
}

/// The calling process's pid, as cached (one load once cached).
#[inline]
pub fn current_pid() -> u32 {
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    first_pid()
}

/// Registers the handler and fills the cache, once; meanwhile (another thread registering,
/// or a child forked while one did, or a failed registration) asks the kernel each time.
#[cold]
fn first_pid() -> u32 {
    let pid = std::process::id();
    if AT_FORK
        .compare_exchange(
            UNREGISTERED,
            REGISTERING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        // SAFETY: pthread_atfork has no preconditions; the handler is a plain function
        // that lives for the whole program and only stores into an atomic. It fails only
        // for lack of memory (ENOMEM): then the cache stays empty and every call asks the
        // kernel.
        if unsafe { libc::pthread_atfork(None, None, Some(refresh_in_child)) } == 0 {
            // Cached only once the handler is registered: a child forked before this store
            // finds 0 and asks the kernel; one forked after it has the handler's value.
            PID.store(pid, Ordering::Relaxed);
            AT_FORK.store(REGISTERED, Ordering::Release);
        }
    }
    pid
}

/// The process that may release something shared (a registration, a lock, a name): the
/// one that took it. A copy inherited over `fork` is not that process.
///
/// ```
/// use ipc_core::process::Owner;
/// let owner = Owner::current();
/// assert!(owner.is_current());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner(u32);

impl Owner {
    /// The calling process.
    #[inline]
    pub fn current() -> Owner {
        Owner(current_pid())
    }

    /// Whether the calling process is this owner (false in a forked child of it).
    #[inline]
    pub fn is_current(self) -> bool {
        self.0 == current_pid()
    }

    /// The owner's pid.
    pub fn pid(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_pid_is_this_process() {
        assert_eq!(current_pid(), std::process::id());
        assert!(Owner::current().is_current());
        assert_eq!(Owner::current().pid(), std::process::id());
    }
}
