//! [`SharedMutex<T>`]: a value guarded by a robust, process-shared mutex, usable as a field
//! of a shared struct; a crashed holder poisons it (see [`crate::lock::poison`]).

use ipc_core::sync::{Lock, LockGuard};

use crate::lock::poison::PoisonMutex;

/// A `T` guarded by a robust, process-shared mutex, in the spirit of
/// [`std::sync::Mutex`]; it lives inside shared memory, as (a field of) the value of a
/// [`Shared`](crate::Shared).
///
/// **A crashed holder poisons it**, as a panicking holder poisons a `std` mutex: the lock
/// stays usable, but every [`lock`](Self::lock) in every process returns
/// [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) until a process that has checked the value
/// takes it with [`lock_ignoring_poison`](Self::lock_ignoring_poison) and calls
/// [`clear_poison`](LockGuard::clear_poison) on the guard. The errors are plain [`Error`](crate::Error)s,
/// so `?` works in any function (returning `ipc::Result`, `Box<dyn Error>` or
/// `anyhow::Result`), and no `?` can lose the crash: the poison stays in shared memory.
///
/// ```no_run
/// use std::sync::atomic::AtomicU64;
/// use ipc_collections::{Shared, SharedLayout, SharedMutex};
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// struct Stats {
///     requests: AtomicU64,
///     latency_hist: SharedMutex<[u64; 32]>,
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let stats = Shared::<Stats>::create("/stats", |s| s.latency_hist.get_mut()[0] = 1)?;
///     let mut hist = stats.latency_hist.lock()?;
///     hist[3] += 1;
///     Ok(())
/// }
/// ```
///
/// The way back after a crash:
///
/// ```no_run
/// # use ipc_collections::{ErrorKind, SharedMutex};
/// # fn f(m: &SharedMutex<[u64; 32]>) -> ipc_collections::Result<()> {
/// match m.lock() {
///     Ok(mut hist) => hist[3] += 1,
///     Err(e) if e.kind() == ErrorKind::Poisoned => {
///         let mut hist = m.lock_ignoring_poison()?;
///         hist.fill(0); // check or repair what the dead holder may have left half done
///         hist.clear_poison();
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
///
/// Its layout is a struct `SharedMutex{raw: PoisonMutex, data: T}`, so its schema names
/// `T` and a peer with another `T` is refused at open.
///
/// A thread may hold at most [`MAX_HELD_PER_THREAD`](ipc_core::sync::MAX_HELD_PER_THREAD)
/// (2048) robust locks at once: the kernel frees no more than that of a dead thread, so the
/// next lock is refused with [`LimitReached`](ipc_core::ErrorKind::LimitReached).
///
/// It is the generic [`Lock`] over [`PoisonMutex`]: [`lock`](Lock::lock),
/// [`try_lock`](Lock::try_lock), [`lock_timeout`](Lock::lock_timeout),
/// [`lock_ignoring_poison`](Lock::lock_ignoring_poison), [`is_poisoned`](Lock::is_poisoned)
/// (true as soon as a holder is dead), [`get_mut`](Lock::get_mut). Its errors name the
/// segment it lives in.
pub type SharedMutex<T> = Lock<PoisonMutex, T>;

/// Proof that this thread holds a [`SharedMutex`]: dereferences to the value; unlocks on
/// drop ([`LockGuard`] over [`PoisonMutex`]); [`is_poisoned`](LockGuard::is_poisoned) and
/// [`clear_poison`](LockGuard::clear_poison) for the repair after a crash. Not `Send`: a
/// pthread mutex must be unlocked by the thread that locked it.
pub type SharedMutexGuard<'a, T> = LockGuard<'a, PoisonMutex, T>;
