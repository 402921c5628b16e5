//! Two processes, one POSIX shared-memory segment.
//!
//! ```text
//! cargo run --example shm_demo
//! ```
//!
//! The first process creates a segment, writes a message into it, and starts a second
//! process (this same program with the argument `reader NAME`). The reader opens the
//! segment by name, prints the message, and copies it back to the second half of the
//! segment as a receipt. The writer then checks that the reader printed and returned exactly
//! the bytes it wrote; it exits non-zero if not. The segment is removed when the writer's
//! handle is dropped.
//!
//! Layout of the segment (all little-endian):
//! `[0..4)` message length, `[8..8+len)` the message, `[HALF..HALF+len)` the receipt.

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipc::os::shm::{self, Shm};

const SIZE: usize = 4096;
const HALF: usize = SIZE / 2;
const DATA: usize = 8;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("reader") => match args.get(2) {
            Some(name) => reader(name),
            None => Err("usage: shm_demo reader NAME".into()),
        },
        None => writer(),
        Some(other) => Err(format!("unknown argument {other:?}; run without arguments").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shm_demo: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

fn writer() -> Res {
    let name = format!("/ipc-demo-{}", std::process::id());
    // Exclusive create, mode 0600, space reserved; unlinked when `seg` is dropped (also on
    // every error return below).
    let seg = Shm::create(&name, SIZE)?;
    let message = format!("hello from process {} through {name}", std::process::id());
    shm::write_at(&seg, 0, &(message.len() as u32).to_le_bytes())?;
    shm::write_at(&seg, DATA, message.as_bytes())?;
    println!(
        "writer {}: wrote {message:?} into {name}",
        std::process::id()
    );

    // The second process: this program again, as the reader.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["reader", &name])
        .stdout(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Err("the reader did not finish within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().ok_or("no stdout")?, &mut out)?;
    print!("{out}");
    if !status.success() {
        return Err(format!("the reader failed: {status}").into());
    }

    // Check the reader's work: what it printed, and the receipt it wrote into the segment.
    let printed = out
        .lines()
        .find_map(|l| l.split_once("read: ").map(|(_, m)| m.to_owned()))
        .ok_or("the reader printed no message")?;
    if printed != format!("{message:?}") {
        return Err(format!("the reader printed {printed}, expected {message:?}").into());
    }
    let mut receipt = vec![0; message.len()];
    shm::read_at(&seg, HALF, &mut receipt)?;
    if receipt != message.as_bytes() {
        return Err("the receipt in shared memory differs from the message".into());
    }
    println!(
        "writer {}: the reader read the exact {} bytes; removing {name}",
        std::process::id(),
        message.len()
    );
    drop(seg); // unlinks the name
    Ok(())
}

fn reader(name: &str) -> Res {
    let seg = Shm::open(name)?; // size from fstat; never unlinks
    let mut len = [0; 4];
    shm::read_at(&seg, 0, &mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    // The length comes from another process: check it before use (read_at would refuse an
    // out-of-range read anyway).
    if len > HALF - DATA {
        return Err(format!("message length {len} does not fit the segment").into());
    }
    let mut message = vec![0; len];
    shm::read_at(&seg, DATA, &mut message)?;
    let message = String::from_utf8(message)?;
    println!(
        "reader {}: opened {name} ({} bytes), read: {message:?}",
        std::process::id(),
        seg.len()
    );
    shm::write_at(&seg, HALF, message.as_bytes())?;
    Ok(())
}
