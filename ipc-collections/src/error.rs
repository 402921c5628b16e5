//! The error type: `ipc-core`'s [`Error`], one type for the whole stack. Typed segments add the
//! kinds [`LayoutMismatch`](ErrorKind::LayoutMismatch), [`Corrupted`](ErrorKind::Corrupted),
//! [`InitTimeout`](ErrorKind::InitTimeout), [`CreatorDied`](ErrorKind::CreatorDied),
//! [`InitFailed`](ErrorKind::InitFailed) and [`Poisoned`](ErrorKind::Poisoned); a segment of
//! another kind is [`WrongType`](ErrorKind::WrongType).

pub use ipc_core::{Error, ErrorKind, LayoutMismatch, Result};
