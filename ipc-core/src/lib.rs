//! `ipc-core`: the Linux IPC layer under the typed shared-memory crates.
//!
//! Three layers, one module per domain (mirroring the C headers):
//! - thin calls into `libc`/`nix` that return `Result<_, Errno>` (nix's error numbers become
//!   this crate's own [`Errno`] at that boundary, so no nix type is in the public API);
//! - safe owning types ([`shm::Shm`], [`sysv::SysvShm`], [`sem::NamedSemaphore`],
//!   [`mq::MessageQueue`], ...) that release what they own on drop;
//! - in-place primitives that live inside shared memory and are only used by reference
//!   ([`sync::RawMutex`], [`sync::RawCondvar`], [`sync::RawRwLock`], [`sem::Semaphore`]).
//!
//! [`layout::SharedLayout`] is the contract that lets two separately built programs agree on
//! the bytes of a shared value.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

mod errno;
mod error;
pub mod layout;
pub mod memory;
pub mod mq;
pub mod name;
pub mod sem;
pub mod shm;
pub mod signal;
pub mod sync;
pub mod sysv;

pub use errno::Errno;
pub use error::{Error, ErrorKind, Result};
pub use layout::{SharedLayout, TypeLayout};
pub use memory::Memory;

/// How an open call treats an object that may or may not exist yet.
///
/// The default for every `create` is [`CreateMode::Exclusive`] (`O_CREAT | O_EXCL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CreateMode {
    /// Create a new object; fail with [`ErrorKind::AlreadyExists`] if the name is taken.
    #[default]
    Exclusive,
    /// Open an object that must already exist; fail with [`ErrorKind::NotFound`] otherwise.
    OpenExisting,
    /// Open the object if it exists, otherwise create it. Race-safe: when several processes
    /// try at once, exactly one creates and the others open.
    OpenOrCreate,
}
