//! `ipc`: typed shared memory between processes.
//!
//! This is the facade crate. At its root are the typed named segments of `ipc-collections`
//! and the derive macro; the whole OS layer (the crate `ipc-core`: shared memory,
//! semaphores, locks, signals, message queues) is [`os`], and [`collections`] is
//! `ipc-collections` in full. (The OS layer is `os`, not `core`, so that `use ipc::*;`
//! leaves the language's [`core`] unambiguous.)
//!
//! ```
//! use ipc::{Shared, SharedLayout, SharedMutex};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! #[derive(SharedLayout)]
//! #[repr(C)]
//! struct Stats {
//!     requests: AtomicU64,
//!     hist: SharedMutex<[u64; 32]>,
//! }
//!
//! # fn main() -> ipc::Result<()> {
//! # let name = format!("/ipc-doc-facade-{}", std::process::id());
//! // In one process: create and initialise, exclusively, before anyone else sees it.
//! let stats = Shared::<Stats>::create(&name, |s| *s.requests.get_mut() = 1)?;
//! // In another (here the same, for brevity): open, with the layout checked field by field.
//! let seen = Shared::<Stats>::open(&name)?;
//! seen.requests.fetch_add(1, Ordering::Relaxed);
//! seen.hist.lock()?[3] += 1;
//! assert_eq!(stats.requests.load(Ordering::Relaxed), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Where is X?
//!
//! ## From C
//!
//! | C call | Here |
//! |---|---|
//! | `shm_open` | [`os::shm::Shm::create`], [`Shm::open`](os::shm::Shm::open), [`os::shm::ShmOptions`]; typed: [`Shared`], [`SharedArray`] |
//! | `shm_unlink` | [`os::shm::unlink`], [`Shm::unlink`](os::shm::Shm::unlink); typed segments: [`unlink`] |
//! | `mmap` | done by every opener (the mapping is the [`os::Memory`] of the handle); anonymous shared memory for `fork`: [`os::shm::AnonShm`] |
//! | `ftruncate` | done by [`os::shm::Shm::create`], which reserves the space (`posix_fallocate`) so a full `/dev/shm` is an error, not a `SIGBUS`; resizing later: [`Shm::grow`](os::shm::Shm::grow) (safe for other mappers), [`Shm::shrink`](os::shm::Shm::shrink) (`unsafe`: the bytes taken away fault in every process), a peer's [`Shm::remap`](os::shm::Shm::remap) |
//! | `memfd_create` | [`os::shm::MemfdShm`] (size sealed with [`os::shm::Seals`]) |
//! | `shmget`, `shmat`, `shmdt` | [`os::shm::sysv::SysvShm`] |
//! | `shmctl` | [`os::shm::sysv::info`] (`IPC_STAT`), [`os::shm::sysv::remove`] (`IPC_RMID`), [`os::shm::sysv::set_mode`] (`IPC_SET`) |
//! | `ftok` | [`os::shm::sysv::ftok`] |
//! | `sem_open`, `sem_close` | [`os::sem::NamedSemaphore`] |
//! | `sem_post`, `sem_wait`, `sem_trywait` | [`NamedSemaphore::post`](os::sem::Semaphore::post), [`wait`](os::sem::Semaphore::wait), [`try_wait`](os::sem::Semaphore::try_wait) |
//! | `sem_timedwait` | [`NamedSemaphore::wait_timeout`](os::sem::Semaphore::wait_timeout) (a [`Duration`](std::time::Duration) on `CLOCK_MONOTONIC`) |
//! | `sem_unlink` | [`os::sem::unlink`] |
//! | `sem_init` (unnamed, in shared memory) | [`os::sem::Semaphore`] |
//! | `pthread_mutex_*` (process-shared, robust) | typed: [`SharedMutex`]; raw: [`os::sync::RawMutex`]; `pthread_mutex_consistent`: done for you on [`SharedMutex`], which a dead holder poisons instead (repair: [`lock_ignoring_poison`](SharedMutex::lock_ignoring_poison), [`clear_poison`](os::sync::LockGuard::clear_poison)); raw: [`os::sync::RawMutex::mark_consistent`] |
//! | `pthread_cond_*` | typed: [`SharedCondvar`]; raw: [`os::sync::RawCondvar`] |
//! | `pthread_rwlock_*` | typed: [`SharedRwLock`]; raw: [`os::sync::RawRwLock`] |
//! | `futex` | [`os::sync::futex::wait`], [`os::sync::futex::wake`] |
//! | `kill` | [`os::signal::kill`] |
//! | `sigqueue` | [`os::signal::queue`] |
//! | `sigtimedwait`, `sigwaitinfo` | [`os::signal::wait`] |
//! | `sigaction` | [`os::signal::SigAction`], [`os::signal::set_action`], [`os::signal::get_action`] |
//! | `sigprocmask`, `pthread_sigmask` | [`os::signal::mask`] |
//! | `signalfd` | [`os::signal::SignalFd`] |
//! | `mq_open` | [`os::mq::MessageQueue::create`], [`MessageQueue::open`](os::mq::MessageQueue::open), [`os::mq::MqOptions`] |
//! | `mq_send`, `mq_timedsend` | [`MessageQueue::send`](os::mq::MessageQueue::send), [`send_timeout`](os::mq::MessageQueue::send_timeout) |
//! | `mq_receive`, `mq_timedreceive` | [`MessageQueue::receive`](os::mq::MessageQueue::receive), [`receive_timeout`](os::mq::MessageQueue::receive_timeout) |
//! | `mq_notify` (`SIGEV_SIGNAL`) | [`MessageQueue::notify`](os::mq::MessageQueue::notify) |
//! | `mq_notify` (`SIGEV_THREAD`) | [`MessageQueue::notify_thread`](os::mq::MessageQueue::notify_thread) (a closure on a thread) |
//! | `getrandom` + `O_CREAT \| O_EXCL` in a loop (a fresh name) | `create_unique(prefix)` on every named builder: [`os::shm::ShmOptions::create_unique`], [`os::sem::SemOptions::create_unique`], [`os::mq::MqOptions::create_unique`], [`SharedOptions::create_unique`], [`SharedArrayOptions::create_unique`], [`collections::RingOptions::create_unique`]; the name alone: [`os::name::unique`] |
//! | `mq_getattr` | [`MessageQueue::attributes`](os::mq::MessageQueue::attributes) |
//! | `mq_unlink` | [`os::mq::unlink`] |
//! | `errno` | [`os::Errno`], behind every [`os::Error`] ([`os::Error::errno`]) |
//!
//! ## From the seed libraries
//!
//! | Seed | Here |
//! |---|---|
//! | Julia IPC.jl `SharedMemory` | [`os::shm::Shm`]; typed: [`Shared`] |
//! | Julia IPC.jl `WrappedArray(id, T, dims)` | [`SharedArray`] (element type and dims checked on open) |
//! | Julia IPC.jl `WrappedArray(id)` (type and dims from the segment) | [`AnyArray::open`]: match on the element type ([`ElemType`]) or ask for it ([`AnyArray::typed`], [`AnyArray::into_typed`]); [`AnyArray::to_string_lossy`] prints it; [`AnyArray::options`] creates one of a type chosen at run time |
//! | Julia IPC.jl `WrappedArray(mem, T, dims; offset)` | [`ArrayView`] over any [`os::Memory`]: safe for atomic elements ([`ArrayView::atomic`]) and write-sealed memfds ([`ArrayView::sealed`]), `unsafe` otherwise ([`ArrayView::from_memory`]) |
//! | Julia IPC.jl `Semaphore` | [`os::sem::NamedSemaphore`]; in shared memory: [`os::sem::Semaphore`] |
//! | Julia IPC.jl `sigqueue` | [`os::signal::queue`] |
//! | Julia IPC.jl `TimeValue` and clock helpers | not wrapped: std has them ([`Duration`](std::time::Duration), [`Instant`](std::time::Instant), [`SystemTime`](std::time::SystemTime)); every timeout here is a `Duration` measured on `CLOCK_MONOTONIC` |
//! | Julia IPC.jl `umask` | not wrapped on purpose: objects get their mode bits with `fchmod` after create ([`os::shm::ShmOptions::mode`], [`SharedOptions::mode`]), so the umask neither widens nor narrows them |
//! | Python posix_ipc `Semaphore` | [`os::sem::NamedSemaphore`]; `Semaphore(None, O_CREX)`: [`os::sem::SemOptions::create_unique`] |
//! | Python posix_ipc `MessageQueue` | [`os::mq::MessageQueue`]; `request_notification(callable)`: [`MessageQueue::notify_thread`](os::mq::MessageQueue::notify_thread), `request_notification(signum)`: [`MessageQueue::notify`](os::mq::MessageQueue::notify); `MessageQueue(None, O_CREX)`: [`os::mq::MqOptions::create_unique`] |
//! | Python posix_ipc `SharedMemory` | [`os::shm::Shm`]; `SharedMemory(None, O_CREX)`: [`os::shm::ShmOptions::create_unique`]; `ftruncate` / `O_TRUNC` on it: [`Shm::grow`](os::shm::Shm::grow), [`Shm::shrink`](os::shm::Shm::shrink) |
//! | Python posix_ipc `unlink_semaphore`, `unlink_message_queue`, `unlink_shared_memory` | [`os::sem::unlink`], [`os::mq::unlink`], [`os::shm::unlink`] |
//! | Python sysv_ipc `SharedMemory`, `ftok`, `remove_shared_memory` | [`os::shm::sysv::SysvShm`], [`os::shm::sysv::ftok`], [`os::shm::sysv::remove`]; sysv_ipc's `Semaphore` and `MessageQueue` (System V): **not built**, use the POSIX ones |
//! | Python `multiprocessing.shared_memory.SharedMemory` | [`os::shm::Shm`]; typed: [`Shared`], [`SharedArray`]; `ShareableList`: **not yet** |
//! | Ruby process_shared `Mutex`, `synchronize` | [`SharedMutex`], [`SharedMutex::lock`] (the guard unlocks on drop, like the block's end); `Mutex.new` then `fork`: [`Shared::anonymous`] (`Shared::<SharedMutex<T>>::anonymous(..)`) |
//! | Ruby process_shared `SharedMemory` | [`Shared`], [`SharedArray`], [`os::shm::Shm`]; `SharedMemory.new(:int, n)` then `fork`: [`SharedArray::anonymous`] |
//! | Ruby process_shared `Semaphore.new` then `fork` | `Shared::<os::sem::Semaphore>::anonymous(..)` ([`Shared::anonymous`]) |
//! | Ruby process_shared `ConditionVariable` | [`SharedCondvar`]; `ConditionVariable.new` then `fork`: `Shared::<SharedCondvar>::anonymous(..)` |
//! | an array of atomics without the lock | [`SharedArray::as_slice`] for [`AtomicElement`] types (`SharedArray<AtomicU64>`) |
//!
//! | process_shared / Boost.Interprocess message queue between processes, iceoryx2 publish-subscribe | rings: [`SpscRing`] (one producer, one consumer), [`MpmcRing`] (up to 16 of each), [`ByteRing`] (variable-length frames, zero-copy); by name, or `anonymous(capacity)` for `fork`; builder [`collections::RingOptions`]; what a peer's departure means (`Disconnected`, or waiting for the next one): [`PeerExit`]; a snapshot of who is attached: [`SpscRing::status`], [`collections::ring::inspect`] |
//!
//! **Not built:**
//! unique names for System V segments (their `IPC_PRIVATE` key is unique already:
//! [`os::shm::sysv::Key::PRIVATE`]).
//!
//! # `use ipc::*` and the language's `core`
//!
//! ```
//! use ipc::*;
//! use core::mem;
//!
//! #[derive(SharedLayout)]
//! #[repr(C)]
//! struct Pair {
//!     a: u32,
//!     b: u32,
//! }
//! assert_eq!(mem::size_of::<Pair>(), Pair::LAYOUT.size);
//! let _kind: Option<os::ErrorKind> = None;
//! ```
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

#[doc(inline)]
pub use ipc_collections as collections;
pub use ipc_collections::{
    unlink, AnyArray, AnyArrayOptions, ArrayView, AtomicElement, ByteRing, ElemType, Error,
    MpmcRing, PeerExit, Result, Shared, SharedArray, SharedArrayOptions, SharedCondvar,
    SharedMutex, SharedOptions, SharedRwLock, SpscRing,
};
#[doc(inline)]
pub use ipc_core as os;
pub use ipc_core::SharedLayout;
pub use ipc_core::{ErrorKind, LayoutMismatch};
pub use ipc_derive::SharedLayout;
