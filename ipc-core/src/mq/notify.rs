//! `mq_notify` with `SIGEV_THREAD`: run a closure on a thread when a message arrives on an
//! empty queue (posix_ipc's `request_notification(callable)`).
//!
//! # Why this shape is sound
//!
//! glibc implements `SIGEV_THREAD` for queues with a helper thread that waits on a netlink
//! socket and starts a fresh thread calling `sigev_notify_function(sigev_value)`. The
//! closure is never handed to C as a pointer: it stays in a process-wide registry, and C
//! gets only a number (the token) in `sigev_value`. The trampoline looks the token up,
//! *removes* the closure, and runs it (outside the registry's lock, under
//! `catch_unwind`: a panic must not unwind into C). So:
//! - a notification that never comes (cancelled, the handle closed) only leaves a registry
//!   entry, which cancel and drop remove: nothing is leaked, nothing freed twice;
//! - a late notification for a token that was removed finds nothing and does nothing (no
//!   dangling pointer can exist);
//! - the registration is the kernel's own: one-shot, only on the empty-to-non-empty
//!   transition, none if another process is blocked in `mq_receive`, one registered process
//!   per queue. Nothing touches signal masks or dispositions, which a library cannot do
//!   soundly for a process it does not own (a thread waiting in `sigwaitinfo` needs the
//!   signal blocked in *every* thread).
//!
//! The `libc` crate's `sigevent` exposes only the thread-id arm of glibc's union, so the
//! thread arm is declared here once as [`SigeventThread`], its size and offsets pinned to
//! `libc::sigevent` by compile-time assertions.

use std::collections::BTreeMap;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The closures waiting for a notification: token -> (queue descriptor, closure).
type Registry = BTreeMap<u64, (libc::mqd_t, Box<dyn FnOnce() + Send + 'static>)>;

static REGISTRY: Mutex<Registry> = Mutex::new(BTreeMap::new());
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // A poisoned registry still holds consistent entries (each insert/remove is one call).
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// glibc's `struct sigevent` with the `_sigev_thread` arm of its union (`<bits/types/
/// sigevent_t.h>`): value, signo, notify, then the function and its thread attributes,
/// padded to the size of the whole struct.
#[repr(C)]
pub(super) struct SigeventThread {
    value: libc::sigval,
    signo: c_int,
    notify: c_int,
    function: Option<extern "C" fn(libc::sigval)>,
    attributes: *mut libc::pthread_attr_t,
    _pad: [u8; PAD],
}

/// Bytes after the thread arm up to `size_of::<libc::sigevent>()` (64 on Linux).
const PAD: usize = size_of::<libc::sigevent>() - 2 * size_of::<c_int>() - 3 * size_of::<usize>();

const _: () = {
    assert!(size_of::<SigeventThread>() == size_of::<libc::sigevent>());
    assert!(align_of::<SigeventThread>() == align_of::<libc::sigevent>());
    assert!(
        std::mem::offset_of!(SigeventThread, value)
            == std::mem::offset_of!(libc::sigevent, sigev_value)
    );
    assert!(
        std::mem::offset_of!(SigeventThread, signo)
            == std::mem::offset_of!(libc::sigevent, sigev_signo)
    );
    assert!(
        std::mem::offset_of!(SigeventThread, notify)
            == std::mem::offset_of!(libc::sigevent, sigev_notify)
    );
    // The union starts where libc's only exposed arm does.
    assert!(
        std::mem::offset_of!(SigeventThread, function)
            == std::mem::offset_of!(libc::sigevent, sigev_notify_thread_id)
    );
};

/// What glibc's notification thread calls: runs the closure registered under the token in
/// `v`, if it is still registered.
extern "C" fn trampoline(v: libc::sigval) {
    let token = v.sival_ptr as usize as u64;
    let f = registry().remove(&token);
    if let Some((_, f)) = f {
        // A panic must not unwind into glibc's thread start routine.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    }
}

/// Registers `f` for queue `mqd` and returns the sigevent to pass to `mq_notify`, plus its
/// token (to [`forget`] it if `mq_notify` fails).
pub(super) fn register(
    mqd: libc::mqd_t,
    f: Box<dyn FnOnce() + Send + 'static>,
) -> (SigeventThread, u64) {
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    registry().insert(token, (mqd, f));
    let ev = SigeventThread {
        value: libc::sigval {
            sival_ptr: std::ptr::without_provenance_mut(token as usize),
        },
        signo: 0,
        notify: libc::SIGEV_THREAD,
        function: Some(trampoline),
        attributes: std::ptr::null_mut(),
        _pad: [0; PAD],
    };
    (ev, token)
}

/// Drops the closure registered under `token`, if it is still there.
pub(super) fn forget(token: u64) {
    let f = registry().remove(&token);
    drop(f); // outside the lock: the closure's drop may do anything
}

/// Drops every closure registered for queue descriptor `mqd` (its registration was
/// cancelled or the descriptor is being closed).
pub(super) fn forget_queue(mqd: libc::mqd_t) {
    let gone: Vec<_> = {
        let mut r = registry();
        let tokens: Vec<u64> = r
            .iter()
            .filter(|(_, (q, _))| *q == mqd)
            .map(|(t, _)| *t)
            .collect();
        tokens.into_iter().filter_map(|t| r.remove(&t)).collect()
    };
    drop(gone); // outside the lock
}
