//! `ipc-core`: the Linux IPC layer under the typed shared-memory crates.
//!
//! Three layers, one module per domain (mirroring the C headers):
//! - thin calls into `libc`/`nix` that return `Result<_, Errno>` (nix's error numbers become
//!   this crate's own [`Errno`] at that boundary, so no nix type is in the public API);
//! - safe owning types ([`shm::Shm`], [`shm::sysv::SysvShm`], [`sem::NamedSemaphore`],
//!   [`mq::MessageQueue`], ...) that release what they own on drop;
//! - in-place primitives that live inside shared memory and are only used by reference
//!   ([`sync::RawMutex`], [`sync::RawCondvar`], [`sync::RawRwLock`], [`sem::Semaphore`]).
//!
//! [`layout::SharedLayout`] is the contract that lets two separately built programs agree on
//! the bytes of a shared value.
//!
//! # Options and lifetimes
//!
//! Every named object is made the same way, after [`std::fs::OpenOptions`]:
//!
//! - shortcuts for the common case, taking the kind's essential parameters:
//!   `Kind::create(name, ..)` (exclusive), `Kind::open(name)`, `Kind::open_or_create(name,
//!   ..)` (race-safe: exactly one of several concurrent callers creates);
//! - `Kind::options()` (the same as `KindOptions::new()`) for everything else, with the same
//!   words on every kind: `.mode(bits)` (permission bits only, default `0o600`, applied
//!   exactly whatever the umask), `.read_only(bool)` and `.timeout(Duration)` where they
//!   apply, `.unlink_on_drop(bool)`; the kind's own setters (`.size(n)`, `.value(n)`,
//!   `.capacity(n)`, `.message_size(n)`, ...); and the same three terminal verbs
//!   `.create(name)`, `.open(name)`, `.open_or_create(name)`, plus `.create_unique(prefix)`
//!   (an exclusive create under a fresh random name starting with `prefix`, drawn again
//!   while taken; the handle's `name()` tells it; see [`name::create_unique`]). A shortcut
//!   is exactly its builder call: `Shm::create(name, size)` is
//!   `Shm::options().size(size).create(name)`.
//! - every handle has `name()`, `created()`, `unlinks_on_drop()` and
//!   `set_unlink_on_drop(bool)`.
//!
//! | kind | shortcuts | builder setters | explicit removal |
//! |---|---|---|---|
//! | [`shm::Shm`] | `create(name, size)`, `open(name)`, `open_or_create(name, size)` | `size`, `mode`, `read_only`, `timeout` (size-0 wait), `unlink_on_drop` | [`shm::unlink`] |
//! | [`sem::NamedSemaphore`] | `create(name, value)`, `open(name)`, `open_or_create(name, value)` | `value`, `mode`, `unlink_on_drop` | [`sem::unlink`] |
//! | [`mq::MessageQueue`] | `create(name, capacity, message_size)`, `open(name)`, `open_or_create(name, capacity, message_size)` | `capacity`, `message_size`, `mode`, `access`, `nonblocking`, `unlink_on_drop` | [`mq::unlink`] |
//! | [`shm::sysv::SysvShm`] | `create(key, size)`, `open(key)`, `open_or_create(key, size)`, `open_id(id)` | `size`, `mode`, `read_only`, `unlink_on_drop` | [`shm::sysv::remove`] (`IPC_RMID`) |
//! | `Shared<T>`, `SharedArray<T>` (ipc-collections) | `create(name, init)` / `create(name, dims)`, `open(name)`, `open_or_create(..)` | `mode`, `timeout`, `read_only` (`Shared`), `dims` (`SharedArray`), `unlink_on_drop` | `ipc_collections::unlink` |
//! | `SpscRing<T>`, `MpmcRing<T>`, `ByteRing` (ipc-collections) | `create(name, capacity)`, `open(name)`, `open_or_create(name, capacity)`; `anonymous(capacity)` | `capacity`, `mode`, `timeout`, `unlink_on_drop` (no `read_only`: attaching writes the registry) | `ipc_collections::unlink` |
//! | `AnyArray` (ipc-collections; the element type chosen at run time) | `open(name)` | `dims`, `mode`, `timeout`, `unlink_on_drop`; verbs `create(name, elem, fill)`, `open(name)`, `open_or_create(name, elem, fill)`, `create_unique(prefix, elem, fill)` | `ipc_collections::unlink` |
//!
//! Where a word does not fit, the kind says why: System V has keys and ids instead of names,
//! and its "unlink" is `IPC_RMID`; a queue has three directions ([`mq::Access`]) instead of
//! `read_only`; `sem_open`, `mq_open` and `shmget` never wait, so those have no `timeout`.
//! Memory without a name ([`shm::AnonShm`], [`shm::MemfdShm`]) has nothing to remove.
//!
//! One implementation serves every builder: the shared settings are an
//! [`options::NamedOptions`], their setters come from one macro, and the verbs of every kind
//! go through one path per crate (the kind gives only its own part: size, value, capacity,
//! dims, message size, and how to make or check its object).
//!
//! **Timeouts, one way each.** How long an *open* waits (for an object to be sized, for a
//! typed segment to be published by its creator) is the builder's `.timeout(d)`, and only
//! that: there is no `open_timeout`; `Kind::open(name)` waits the kind's default. How long a
//! blocking *operation* on a handle waits is that operation's own: the rings' `push`, `pop`,
//! `send` and `receive` and [`signal::SignalFd::read_timeout`] take an `Option<Duration>`
//! (`None`: as long as it takes). The locks, semaphores and queues follow
//! `std::sync::mpsc::Receiver`: `x()` blocks, `try_x()` never does and `x_timeout(d)` waits
//! up to `d` (they have no `Option<Duration>` form, so the `_timeout` form is not a twin).
//! `ipc_collections::inspect_timeout` is the one open without a builder (a read-only look
//! at any segment), so it takes its wait as an argument.
//!
//! **One lifetime rule for every named kind:**
//!
//! | who | removes the name | when | how to keep it | how to remove it later |
//! |---|---|---|---|---|
//! | the handle that **created** it | yes | when the handle is dropped (also at the end of `main`; not on `SIGKILL` or `_exit`) | `.unlink_on_drop(false)` on the builder, or `set_unlink_on_drop(false)` on the handle | the kind's `unlink(name)` (or the handle's `unlink()`) |
//! | a handle that **opened** it | no | never, unless asked | (nothing to do) | `set_unlink_on_drop(true)` / `.unlink_on_drop(true)` makes it remove the name on drop |
//! | a **forked child's copy** of a creating handle | no | never (the handle remembers the creating pid) | (nothing to do) | the kind's `unlink(name)` |
//!
//! **Forked children.** Registrations, locks and names belong to a process, not to a copy
//! of a handle. A child that inherits a handle or a guard over `fork` and drops it releases
//! nothing of its parent's: a creating handle does not remove the name, a lock guard
//! ([`sync::LockGuard`] and [`sync::ReadLockGuard`], which every lock of the workspace
//! uses, and [`sem::SemGuard`]) does not unlock or post, and a ring producer, consumer
//! or received frame (ipc-collections) leaves its registration and bytes to the parent. The
//! child's drop only unmaps and closes its own copies of the mapping and descriptors. Each
//! of these records its [`process::Owner`] when it takes the state and releases it only in
//! that process. A child that needs a lock, a ring side or a name of its own takes or opens
//! it afresh.
//!
//! A handle never removes a newer object that someone else created under the same name
//! after this one's was removed (checked through `/dev/shm` and `/dev/mqueue`; System V ids
//! cannot be reused while attached). Removing a name never takes the object from processes
//! that have it open: they keep using it until they close it.
//!
//! The consequence to plan for: a process that creates an object and exits removes it. A
//! later `open` gets [`ErrorKind::NotFound`], whose message says so; keep the name with
//! `unlink_on_drop(false)` when it must outlive its creator.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

// The shared builder macros name this crate as `ipc_core` in their docs, here as elsewhere.
extern crate self as ipc_core;

mod errno;
mod error;
pub mod layout;
pub mod memory;
pub mod mq;
pub mod name;
pub mod options;
pub mod process;
pub mod sem;
pub mod shm;
pub mod signal;
pub mod sync;
mod sys;

pub use errno::Errno;
pub use error::{Error, ErrorKind, LayoutMismatch, Result};
pub use layout::{SharedLayout, TypeLayout};
pub use memory::Memory;

/// How an open call treats an object that may or may not exist yet: the three terminal
/// verbs of every options builder (`create`, `open`, `open_or_create`) map to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CreateMode {
    /// Create a new object; fail with [`ErrorKind::AlreadyExists`] if the name is taken.
    Exclusive,
    /// Open an object that must already exist; fail with [`ErrorKind::NotFound`] otherwise.
    OpenExisting,
    /// Open the object if it exists, otherwise create it. Race-safe: when several processes
    /// try at once, exactly one creates and the others open.
    OpenOrCreate,
}
