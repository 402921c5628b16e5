//! `ipc`: every IPC object on a Linux machine from the command line.
//!
//! - `ipc ls [--json]` lists this project's typed segments (kind, type, dims, state, creator
//!   and whether it is alive; for a ring its flavour, length, producers and consumers),
//!   plain POSIX shared memory, named semaphores (with their
//!   value), message queues (with their depth), and System V shared memory, semaphore sets
//!   and message queues;
//! - `ipc inspect NAME [--json]`, `ipc schema`, `ipc diff`, `ipc dump` look inside a
//!   segment (`FORMAT.md`);
//! - `ipc rm NAME...` removes objects of any kind, `ipc gc [--dry-run]` the segments that
//!   are certainly stale;
//! - `ipc sem`, `ipc mq`, `ipc shm` create and use the POSIX kinds, `ipc array` typed
//!   arrays, `ipc ring` byte rings (push and pop frames; the status of a ring of any
//!   flavour).
//!
//! Exit status: 0 success, 1 an operation failed (a one-line message on stderr names the
//! object and the reason; a timeout says "timed out"), 2 bad usage.
//!
//! Reads never map an object: segments are read with `pread` after `fstat`, so an object
//! truncated by someone else cannot `SIGBUS` the tool. Names, type names, schemas and
//! messages from shared memory are escaped on output. Nothing the tool creates is removed
//! unless asked (`ipc rm`). The JSON documents are described in `docs/ipc-json.md`.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

mod array;
mod header;
mod objects;
mod ops;
mod out;
mod procfs;
mod ring;
mod segment;
mod snapshot;
mod sysv;
mod tree;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit status:
  0  success
  1  the operation failed: a one-line message names the object and the reason
     (diff: the segments differ; a timeout says \"timed out\")
  2  bad usage

Names: POSIX objects as /NAME; System V objects as shmid:ID, semid:ID, msqid:ID.
Nothing the tool creates is removed unless asked (ipc rm).";

/// Every IPC object on this machine: list, inspect, create, use and remove them.
#[derive(Debug, Parser)]
#[command(name = "ipc", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every IPC object: segments, POSIX shm, semaphores, message queues, System V;
    /// or only those named, or only those whose names start with a prefix.
    Ls {
        /// One JSON document (docs/ipc-json.md) instead of a table.
        #[arg(long)]
        json: bool,
        /// Only objects whose names start with P (e.g. /myapp-).
        #[arg(long, value_name = "P", conflicts_with = "names")]
        prefix: Option<String>,
        /// Only these objects (exit 1, after listing the others, if one does not exist).
        names: Vec<String>,
    },
    /// Print a segment's header, its schema as a tree, validation, creator liveness and who
    /// maps it; for a semaphore, queue or System V object, everything known of it.
    Inspect {
        /// The object's name, e.g. /web-stats or semid:3.
        name: String,
        /// Which POSIX kind a /NAME is (default: shm if there is one, else sem, else mq).
        #[arg(long, value_enum)]
        kind: Option<objects::PosixKind>,
        /// One JSON document (docs/ipc-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Print the schema string of a valid segment.
    Schema {
        /// The segment's name.
        name: String,
        /// Draw the layout as a tree instead of printing the one-line string.
        #[arg(long)]
        tree: bool,
    },
    /// Compare two segments: kind, element type, dims, and their schemas field by field
    /// (exit 1 if they differ).
    Diff {
        /// The first segment (the "expected" side).
        name: String,
        /// The second segment.
        other: String,
    },
    /// Print the values in a ready segment: an array's elements, a value's scalar fields.
    ///
    /// The payload is read as a snapshot, without taking an array's lock: a writer that
    /// holds it at that moment may be caught halfway.
    Dump {
        /// The segment's name.
        name: String,
        /// Print at most this many values.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Remove objects of any kind (a name that exists as several kinds needs --kind).
    Rm {
        /// The objects: /NAME, or shmid:ID, semid:ID, msqid:ID for System V.
        #[arg(required = true)]
        names: Vec<String>,
        /// Which POSIX kind a /NAME is.
        #[arg(long, value_enum)]
        kind: Option<objects::PosixKind>,
    },
    /// Remove this project's segments that are certainly stale: their creator died before
    /// publishing them. Nothing else is removed.
    ///
    /// A ready segment whose creator is gone and that no process maps is listed as kept:
    /// the header does not record whether it was meant to outlive its creator. Liveness is
    /// judged by pid and start time in this PID namespace, as the library's opener does.
    Gc {
        /// Only list what would be removed, with the reason.
        #[arg(long)]
        dry_run: bool,
        /// Only look at segments whose name starts with this (e.g. /myapp-).
        #[arg(long, default_value = "/")]
        prefix: String,
    },
    /// Named POSIX semaphores.
    #[command(subcommand)]
    Sem(SemCommand),
    /// POSIX message queues.
    #[command(subcommand)]
    Mq(MqCommand),
    /// POSIX shared memory objects.
    #[command(subcommand)]
    Shm(ShmCommand),
    /// Typed arrays (SharedArray) of any integer, float or atomic element type.
    #[command(subcommand)]
    Array(ArrayCommand),
    /// Byte rings (ByteRing): create, push and pop frames; the status of any ring.
    #[command(subcommand)]
    Ring(RingCommand),
}

#[derive(Debug, Subcommand)]
enum RingCommand {
    /// Create a byte ring (it persists until `ipc rm`).
    Create {
        /// The ring's name, /NAME.
        name: String,
        /// Its capacity in bytes: a power of two, at least 64. The largest frame is half
        /// of it less 8 bytes.
        #[arg(long)]
        capacity: u64,
        /// Permission bits, in octal.
        #[arg(long, default_value = "600", value_parser = parse_mode)]
        mode: u32,
    },
    /// Send frames as the ring's producer (for as long as the command runs).
    ///
    /// MESSAGE is sent as one frame (its bytes). With `-` or no MESSAGE, every line of
    /// stdin is one frame, without its newline (an empty line is an empty frame). A full
    /// ring is waited on; a full ring whose consumer left is "disconnected" (exit 1), unless
    /// --follow. The producer stays attached from the first frame to the end of stdin.
    Push {
        /// The ring's name.
        name: String,
        /// The frame, or `-` for the lines of stdin.
        #[arg(allow_hyphen_values = true, value_parser = clap::value_parser!(std::ffi::OsString))]
        message: Option<std::ffi::OsString>,
        /// Wait at most this many seconds for room for each frame (exit 1, "timed out").
        #[arg(long, value_parser = parse_seconds)]
        timeout: Option<Duration>,
        /// Survive consumer restarts: a full ring whose consumer left is waited on (within
        /// --timeout) until the next consumer makes room, instead of "disconnected".
        #[arg(long)]
        follow: bool,
    },
    /// Receive frames as the ring's consumer and print each, one a line.
    ///
    /// A UTF-8 frame is printed as it is, its control characters (a newline too) escaped
    /// (`\n`, `\u{1b}`); bytes that are not UTF-8 as `\xNN`. When the producer has left
    /// and every frame is received, it is "disconnected" (exit 1), unless --follow; a ring
    /// nobody has produced into yet is waited on. A frame is consumed only once it is
    /// written: one that cannot be (stdout closed) stays in the ring.
    Pop {
        /// The ring's name.
        name: String,
        /// Wait at most this many seconds for each frame (exit 1, "timed out").
        #[arg(long, value_parser = parse_seconds)]
        timeout: Option<Duration>,
        /// Receive this many frames.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        count: u64,
        /// Receive until interrupted, surviving producer restarts: a producer that leaves
        /// is waited on until the next one sends (--timeout still bounds each wait).
        #[arg(long, conflicts_with = "count")]
        follow: bool,
        /// Write the frames' bytes exactly, without escaping or newlines.
        #[arg(long)]
        raw: bool,
    },
    /// Print a ring's status (any flavour): capacity, length, producers and consumers with
    /// their liveness, sleepers, losses. Read without attaching to the ring.
    Status {
        /// The ring's name.
        name: String,
        /// One JSON document (docs/ipc-json.md).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ArrayCommand {
    /// Create an array (it persists until `ipc rm`).
    Create {
        /// The array's name, /NAME.
        name: String,
        /// The element type: i8..i64, isize, u8..u64, usize, f32, f64, AtomicI8..AtomicUsize.
        #[arg(long = "type", value_parser = array::parse_type)]
        elem: ipc_collections::ElemType,
        /// The dimensions, C order: 3 or 2,3.
        #[arg(long, value_delimiter = ',', num_args = 1, required = true)]
        dims: Vec<usize>,
        /// Every element's initial value.
        #[arg(long, default_value = "0", allow_hyphen_values = true)]
        fill: String,
        /// Permission bits, in octal.
        #[arg(long, default_value = "600", value_parser = parse_mode)]
        mode: u32,
    },
    /// Print the element type, the dims and the values (C order), whatever the type.
    Show {
        /// The array's name.
        name: String,
        /// One JSON document (docs/ipc-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Write one element (under the array's lock, as every process does).
    #[command(allow_negative_numbers = true)]
    Set {
        /// The array's name.
        name: String,
        /// The element's index, one component per dimension: 1,2.
        #[arg(value_delimiter = ',', num_args = 1, required = true)]
        index: Vec<usize>,
        /// The value, parsed as the element type.
        value: String,
    },
}

#[derive(Debug, Subcommand)]
enum SemCommand {
    /// Create a semaphore (it persists until `ipc rm`).
    Create {
        /// The semaphore's name, /NAME.
        name: String,
        /// The initial value.
        #[arg(long, default_value_t = 0)]
        value: u32,
        /// Permission bits, in octal.
        #[arg(long, default_value = "600", value_parser = parse_mode)]
        mode: u32,
    },
    /// Add one to the value, waking a waiter.
    Post {
        /// The semaphore's name.
        name: String,
    },
    /// Wait until the value is above zero, then take one.
    Wait {
        /// The semaphore's name.
        name: String,
        /// Give up after this many seconds (exit 1, "timed out").
        #[arg(long, value_parser = parse_seconds)]
        timeout: Option<Duration>,
    },
    /// Print the value.
    Value {
        /// The semaphore's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum MqCommand {
    /// Create a queue (it persists until `ipc rm`).
    Create {
        /// The queue's name, /NAME.
        name: String,
        /// The most messages it holds (default: the system's).
        #[arg(long)]
        capacity: Option<usize>,
        /// The largest message in bytes (default: the system's).
        #[arg(long)]
        message_size: Option<usize>,
        /// Permission bits, in octal.
        #[arg(long, default_value = "600", value_parser = parse_mode)]
        mode: u32,
    },
    /// Send a message.
    Send {
        /// The queue's name.
        name: String,
        /// The message (its UTF-8 bytes).
        message: String,
        /// Its priority: higher ones are received first.
        #[arg(long, default_value_t = 0)]
        priority: u32,
        /// Give up after this many seconds if the queue stays full.
        #[arg(long, value_parser = parse_seconds)]
        timeout: Option<Duration>,
    },
    /// Receive the oldest message of the highest priority.
    Recv {
        /// The queue's name.
        name: String,
        /// Give up after this many seconds (exit 1, "timed out").
        #[arg(long, value_parser = parse_seconds)]
        timeout: Option<Duration>,
        /// Print {"message", "bytes", "priority", ...} as JSON.
        #[arg(long, conflicts_with = "raw")]
        json: bool,
        /// Write the message's bytes exactly, without escaping or a newline.
        #[arg(long)]
        raw: bool,
    },
    /// Print capacity, message size and depth.
    Attr {
        /// The queue's name.
        name: String,
        /// One JSON document.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ShmCommand {
    /// Create a zero-filled object (it persists until `ipc rm`).
    Create {
        /// The object's name, /NAME.
        name: String,
        /// Its size in bytes.
        #[arg(long)]
        size: usize,
        /// Permission bits, in octal.
        #[arg(long, default_value = "600", value_parser = parse_mode)]
        mode: u32,
    },
    /// Write the object's bytes to stdout.
    Cat {
        /// The object's name.
        name: String,
    },
}

/// Permission bits in octal (`600`, `0600`, `0o600`).
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| m & !0o777 == 0)
        .ok_or_else(|| format!("{s:?} is not permission bits in octal (at most 777)"))
}

/// A non-negative number of seconds (`0.5`, `10`).
fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|x| Duration::try_from_secs_f64(x).ok())
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

/// A failed operation: the one-line message for stderr (exit status 1).
#[derive(Debug)]
pub struct Failure {
    /// Names the object and the reason.
    pub message: String,
}

impl Failure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
        }
    }
}

impl From<ipc_core::Error> for Failure {
    fn from(e: ipc_core::Error) -> Self {
        Failure::new(e.to_string())
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Ls {
            json,
            prefix,
            names,
        } => objects::ls(json, prefix.as_deref(), &names),
        Command::Inspect { name, kind, json } => objects::inspect(&name, kind, json),
        Command::Schema { name, tree } => segment::schema(&name, tree),
        Command::Diff { name, other } => segment::diff(&name, &other),
        Command::Dump { name, max } => segment::dump(&name, max),
        Command::Rm { names, kind } => objects::rm(&names, kind),
        Command::Gc { dry_run, prefix } => objects::gc(dry_run, &prefix),
        Command::Sem(c) => match c {
            SemCommand::Create { name, value, mode } => ops::sem_create(&name, value, mode),
            SemCommand::Post { name } => ops::sem_post(&name),
            SemCommand::Wait { name, timeout } => ops::sem_wait(&name, timeout),
            SemCommand::Value { name } => ops::sem_value(&name),
        },
        Command::Mq(c) => match c {
            MqCommand::Create {
                name,
                capacity,
                message_size,
                mode,
            } => ops::mq_create(&name, capacity, message_size, mode),
            MqCommand::Send {
                name,
                message,
                priority,
                timeout,
            } => ops::mq_send(&name, &message, priority, timeout),
            MqCommand::Recv {
                name,
                timeout,
                json,
                raw,
            } => ops::mq_recv(&name, timeout, json, raw),
            MqCommand::Attr { name, json } => ops::mq_attr(&name, json),
        },
        Command::Array(c) => match c {
            ArrayCommand::Create {
                name,
                elem,
                dims,
                fill,
                mode,
            } => array::create(&name, elem, &dims, &fill, mode),
            ArrayCommand::Show { name, json } => array::show(&name, json),
            ArrayCommand::Set { name, index, value } => array::set(&name, &index, &value),
        },
        Command::Ring(c) => match c {
            RingCommand::Create {
                name,
                capacity,
                mode,
            } => ring::create(&name, capacity, mode),
            RingCommand::Push {
                name,
                message,
                timeout,
                follow,
            } => ring::push(&name, message, timeout, follow),
            RingCommand::Pop {
                name,
                timeout,
                count,
                follow,
                raw,
            } => ring::pop(&name, timeout, (!follow).then_some(count), raw),
            RingCommand::Status { name, json } => ring::status(&name, json),
        },
        Command::Shm(c) => match c {
            ShmCommand::Create { name, size, mode } => ops::shm_create(&name, size, mode),
            ShmCommand::Cat { name } => ops::shm_cat(&name),
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // One line: a newline inside the message (from a name) is escaped too.
            out::err(&format!(
                "ipc: {}\n",
                out::escape_controls(&f.message, false)
            ));
            ExitCode::from(1)
        }
    }
}
