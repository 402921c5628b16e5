//! `ipc`: typed shared memory between processes.
//!
//! This is the facade crate. It re-exports the OS layer ([`core`], the crate `ipc-core`),
//! the derive macro ([`SharedLayout`](macro@SharedLayout)) and the typed named segments of
//! `ipc-collections`. See the repository README for a tour.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

pub use ipc_collections as collections;
pub use ipc_core as core;
pub use ipc_core::SharedLayout;
pub use ipc_core::{CreateMode, Error, ErrorKind, Result};
pub use ipc_derive::SharedLayout;
