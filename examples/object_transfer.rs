//! Ruby process_shared's `write_object`/`read_object` between processes, through a byte
//! ring and serde (cargo feature `serde`; postcard encoding): a parent makes the ring before
//! `fork`, the child writes objects of any serde type, the parent reads them back, in order,
//! then sees the child leave.
//!
//! ```text
//! cargo run --example object_transfer --features serde
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use ipc::{ByteRing, ErrorKind};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Job {
    id: u32,
    command: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    deadline_ms: Option<u64>,
}

fn job(id: u32) -> Job {
    Job {
        id,
        command: "convert".into(),
        args: vec![format!("in-{id}.png"), format!("out-{id}.jpg")],
        env: [("QUALITY".to_owned(), (80 + id % 20).to_string())].into(),
        deadline_ms: (id % 2 == 0).then_some(1000 * u64::from(id)),
    }
}

const WAIT: Option<Duration> = Some(Duration::from_secs(30));

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("object_transfer: ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("object_transfer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Anonymous: inherited by the child, gone with the last process (nothing to remove).
    let ring = ByteRing::anonymous(64 * 1024)?;
    // SAFETY: single-threaded here, so the child may run any code; it leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if pid == 0 {
        let ok = (|| -> ipc::Result<()> {
            let mut tx = ring.producer()?;
            for id in 0..100 {
                tx.send_object(&job(id), WAIT)?; // write_object
            }
            Ok(())
        })()
        .is_ok();
        // SAFETY: ends the child at once, without the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut rx = ring.consumer()?;
    let mut got = 0;
    loop {
        match rx.recv_object::<Job>(WAIT) {
            // read_object
            Ok(j) => {
                assert_eq!(j, job(got), "objects arrive whole and in order");
                got += 1;
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(e) => return Err(e.into()),
        }
    }
    let mut status = 0;
    // SAFETY: pid is our child; status is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    println!("object_transfer: the child wrote {got} jobs, the parent read them all");
    if got != 100 || status != 0 {
        return Err(format!("got {got} jobs, child status {status}").into());
    }
    Ok(())
}
