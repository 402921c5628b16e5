//! `ipc`: typed shared memory between processes.
//!
//! This is the facade crate. At its root are the typed named segments of `ipc-collections`
//! and the derive macro; the whole OS layer (the crate `ipc-core`: shared memory,
//! semaphores, locks, signals, message queues) is [`core`], and [`collections`] is
//! `ipc-collections` in full.
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
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

pub use ipc_collections as collections;
pub use ipc_collections::{
    unlink, Error, Result, Shared, SharedArray, SharedArrayOptions, SharedCondvar, SharedMutex,
    SharedOptions, SharedRwLock,
};
pub use ipc_core as core;
pub use ipc_core::ErrorKind;
pub use ipc_core::SharedLayout;
pub use ipc_derive::SharedLayout;
