//! `ipc-bridge`: bridges byte rings between hosts over Zenoh (see the crate docs of
//! `ipc_bridge` and the root README's "Beyond one machine").
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use ipc_bridge::inbound::{Full, InOptions};
use ipc_bridge::outbound::OutOptions;
use ipc_bridge::{config, Counters, Error};

/// Bridges this project's byte rings between hosts over Zenoh.
#[derive(Parser, Debug)]
#[command(name = "ipc-bridge", version, after_long_help = ipc_bridge::GUARANTEE)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Pop frames from a local ring and publish them on a key expression.
    Out {
        /// The local byte ring (a POSIX shm name such as `/frames`).
        #[arg(long)]
        ring: String,
        /// The Zenoh key expression to publish on (such as `site/frames`).
        #[arg(long)]
        key: String,
        /// Zenoh express mode: send each frame at once, unbatched (lower latency).
        #[arg(long)]
        express: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Subscribe to a key expression and push its frames into a local ring.
    In {
        /// The Zenoh key expression to subscribe to.
        #[arg(long)]
        key: String,
        /// The local byte ring (a POSIX shm name such as `/frames`).
        #[arg(long)]
        ring: String,
        /// When the local ring is full: `block` (wait; backpressure reaches the remote
        /// `out`) or `drop` (drop the newest frame and count it).
        #[arg(long, default_value = "block")]
        full: Full,
        /// Samples queued between Zenoh and the ring.
        #[arg(long, default_value_t = 1024)]
        queue: usize,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// Create the ring if it does not exist (it persists after the bridge exits; remove it
    /// with `ipc rm NAME`).
    #[arg(long)]
    create: bool,
    /// The capacity in bytes of a ring created with `--create` (a power of two >= 64).
    #[arg(long, default_value_t = 1 << 20)]
    capacity: u64,
    /// A Zenoh endpoint to connect to (repeatable), such as `tcp/192.0.2.7:7447`.
    #[arg(long, value_name = "ENDPOINT")]
    connect: Vec<String>,
    /// A Zenoh endpoint to listen on (repeatable), such as `tcp/0.0.0.0:7447`.
    #[arg(long, value_name = "ENDPOINT")]
    listen: Vec<String>,
    /// A Zenoh configuration file (JSON5), taken as written; --connect/--listen replace
    /// its endpoint lists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the counters as one JSON line on stdout when stopping.
    #[arg(long)]
    stats: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipc-bridge: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    // First, before Zenoh starts any thread: SIGINT/SIGTERM become a flag.
    let stop = ipc_bridge::signals::install()?;
    let (role, ring, key, common) = match &cli.cmd {
        Cmd::Out {
            ring, key, common, ..
        } => ("out", ring, key, common),
        Cmd::In {
            ring, key, common, ..
        } => ("in", ring, key, common),
    };
    ipc_bridge::key_expr(key)?;
    let cfg = config::build(common.config.as_deref(), &common.connect, &common.listen)?;
    let session = ipc_bridge::open_session(cfg)?;
    let counters = Arc::new(Counters::default());
    let watcher = ipc_bridge::watch_peers(&session, counters.clone())?;
    let create = common.create.then_some(common.capacity);
    let result = match &cli.cmd {
        Cmd::Out { express, .. } => ipc_bridge::outbound::run(
            &session,
            &OutOptions {
                ring: ring.clone(),
                key: key.clone(),
                create,
                express: *express,
            },
            &stop,
            &counters,
        ),
        Cmd::In { full, queue, .. } => ipc_bridge::inbound::run(
            &session,
            &InOptions {
                key: key.clone(),
                ring: ring.clone(),
                create,
                full: *full,
                queue: *queue,
            },
            &stop,
            &counters,
        ),
    };
    drop(watcher);
    if let Err(e) = zenoh::Wait::wait(session.close()) {
        eprintln!("ipc-bridge: closing the session: {e}");
    }
    eprintln!("{}", counters.to_text(role));
    if common.stats {
        println!("{}", counters.to_json(role, ring, key));
    }
    result
}
