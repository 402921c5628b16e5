//! `ipc-bridge`: this project's byte rings between hosts, over Zenoh.
//!
//! Shared memory stops at the host. `ipc-bridge out` pops frames from a local byte ring and
//! publishes each one as a Zenoh sample on a key expression; `ipc-bridge in` subscribes to
//! the key expression and pushes each sample's frame into a local byte ring. Producers and
//! consumers keep their code (push to a ring, pop from a ring); Zenoh carries the frames.
//!
//! The delivery guarantee is written in [`GUARANTEE`] (and in the root README's "Beyond
//! one machine" section); the message format is in [`wire`].
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

pub mod config;
pub mod inbound;
pub mod outbound;
pub mod signals;
pub mod stats;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use zenoh::Wait;

pub use signals::Stop;
pub use stats::Counters;

/// How often the loops look at the stop flag (and the peer watcher at the peers).
pub const POLL: Duration = Duration::from_millis(50);

/// The delivery guarantee, word for word as the README states it.
pub const GUARANTEE: &str = include_str!("../GUARANTEE.md");

/// Why a bridge could not start or stopped on its own.
#[derive(Debug)]
pub enum Error {
    /// The Zenoh configuration (file, endpoints) is unusable.
    Config(String),
    /// The key expression is not a valid Zenoh key expression.
    KeyExpr(String),
    /// Opening or using the local ring failed.
    Ring(ipc_collections::Error),
    /// Zenoh failed (session open, declare, publish).
    Zenoh(String),
    /// An OS call of the bridge itself failed.
    Os(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(m) => write!(f, "zenoh configuration: {m}"),
            Error::KeyExpr(m) => write!(f, "key expression: {m}"),
            Error::Ring(e) => write!(f, "ring: {e}"),
            Error::Zenoh(m) => write!(f, "zenoh: {m}"),
            Error::Os(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ipc_collections::Error> for Error {
    fn from(e: ipc_collections::Error) -> Self {
        Error::Ring(e)
    }
}

impl Error {
    /// The process exit status for this error: 2 for bad input (configuration, key
    /// expression), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::KeyExpr(_) => 2,
            _ => 1,
        }
    }
}

/// Checks a key expression (Zenoh's syntax: `a/b/*`, `demo/**`, no empty chunk).
///
/// # Errors
/// [`Error::KeyExpr`] naming what is wrong.
pub fn key_expr(s: &str) -> Result<zenoh::key_expr::KeyExpr<'static>, Error> {
    zenoh::key_expr::KeyExpr::try_from(s.to_owned()).map_err(|e| Error::KeyExpr(format!("{s:?}: {e}")))
}

/// Opens the Zenoh session.
///
/// # Errors
/// [`Error::Zenoh`] (for example a `--listen` port already in use).
pub fn open_session(cfg: zenoh::Config) -> Result<zenoh::Session, Error> {
    zenoh::open(cfg)
        .wait()
        .map_err(|e| Error::Zenoh(format!("opening the session: {e}")))
}

/// Watches the session's peers until `stop`: counts a reconnect each time a peer link comes
/// up again after all links had been lost.
///
/// # Errors
/// [`Error::Os`] if the thread cannot be spawned.
pub fn watch_peers(
    session: zenoh::Session,
    stop: Stop,
    counters: Arc<Counters>,
) -> Result<std::thread::JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name("peers".into())
        .spawn(move || {
            let mut ever = false;
            let mut up = false;
            while !stop.requested() {
                let now = session.info().peers_zid().wait().next().is_some();
                if now && !up {
                    if ever {
                        Counters::add(&counters.reconnects, 1);
                        eprintln!("ipc-bridge: peer link up again");
                    }
                    ever = true;
                } else if up && !now {
                    eprintln!("ipc-bridge: peer link lost; Zenoh retries the connect endpoints");
                }
                up = now;
                std::thread::sleep(POLL);
            }
        })
        .map_err(|e| Error::Os(format!("spawning the peer watcher thread: {e}")))
}
