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
pub mod progress;
pub mod signals;
pub mod stats;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use zenoh::Wait;

pub use signals::Stop;
pub use stats::Counters;

/// How often the loops look at the stop flag.
pub const POLL: Duration = Duration::from_millis(50);

/// The delivery guarantee (`GUARANTEE.md`, printed by `--help`; the README summarises it).
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
    zenoh::key_expr::KeyExpr::try_from(s.to_owned())
        .map_err(|e| Error::KeyExpr(format!("{s:?}: {e}")))
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

/// The liveliness key every bridge declares (`ipc-bridge/peer/ZID`): the other bridges
/// see it appear when a link to this one comes up and vanish when it goes down.
pub const PEER_TOKEN: &str = "ipc-bridge/peer";

/// Counts reconnects: every bridge declares a liveliness token under [`PEER_TOKEN`] and
/// watches the others'. When a remote bridge's token appears while none was present, after
/// one had been seen before, the link came back: that is a reconnect. Zenoh reports these
/// as events (a token vanishes when its link closes), so a link that is lost and re-dialed
/// within milliseconds is counted too. Keep the returned handles alive for as long as the
/// counting should go on.
///
/// # Errors
/// [`Error::Zenoh`] if the token or the subscriber cannot be declared.
pub fn watch_peers(session: &zenoh::Session, counters: Arc<Counters>) -> Result<impl Sized, Error> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    use zenoh::sample::SampleKind;

    let zerr = |what: &'static str| move |e: zenoh::Error| Error::Zenoh(format!("{what}: {e}"));
    let me = format!("{PEER_TOKEN}/{}", session.zid());
    let token = session
        .liveliness()
        .declare_token(me.clone())
        .wait()
        .map_err(zerr("declaring the liveliness token"))?;
    // (tokens present, ever seen one)
    let state = Mutex::new((HashSet::<String>::new(), false));
    let sub = session
        .liveliness()
        .declare_subscriber(format!("{PEER_TOKEN}/*"))
        .callback(move |sample| {
            let key = sample.key_expr().as_str().to_owned();
            if key == me {
                return;
            }
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            let (alive, ever) = &mut *st;
            match sample.kind() {
                SampleKind::Put => {
                    if alive.is_empty() {
                        if *ever {
                            Counters::add(&counters.reconnects, 1);
                            eprintln!("ipc-bridge: link to a peer bridge up again ({key})");
                        } else {
                            eprintln!("ipc-bridge: link to a peer bridge up ({key})");
                        }
                    }
                    *ever = true;
                    alive.insert(key);
                }
                SampleKind::Delete => {
                    // A token that vanishes was up, even if it came up before this
                    // subscriber was declared (no Put was seen for it).
                    *ever = true;
                    alive.remove(&key);
                    if alive.is_empty() {
                        eprintln!("ipc-bridge: link to the peer bridge lost ({key})");
                    }
                }
            }
        })
        .wait()
        .map_err(zerr("declaring the liveliness subscriber"))?;
    Ok((token, sub))
}
