//! `ipc-collections`: typed named segments over `ipc-core` (skeleton).
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

pub use ipc_core;
pub use ipc_core::SharedLayout;
pub use ipc_derive::SharedLayout;
