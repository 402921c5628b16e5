//! `ipc-collections`: typed named segments over `ipc-core`.
//!
//! Every named typed object is one POSIX shared-memory object laid out as described in
//! `FORMAT.md` at the repository root: a fixed header ([`format`]), a schema string naming
//! the stored type's layout, an optional control block, and the payload at an offset
//! aligned to at least 64 bytes.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

mod creator;
mod error;
pub mod format;
mod ident;
mod named;
mod segment;
mod shared;
#[cfg(test)]
mod testmem;

pub use error::{Error, Result};
pub use format::{Kind, SegmentInfo};
pub use ipc_core;
pub use ipc_core::SharedLayout;
pub use ipc_derive::SharedLayout;
pub use named::{unlink, Options};
pub use segment::DEFAULT_OPEN_TIMEOUT;
pub use shared::Shared;
