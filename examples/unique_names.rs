//! posix_ipc's `Semaphore(None, O_CREX)` and `SharedMemory(None, O_CREX)`: objects under
//! fresh random names, race-free, whose names are then handed to another process.
//!
//! ```text
//! cargo run --example unique_names
//! ```

use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use ipc::os::sem::NamedSemaphore;
use ipc::os::shm::{self, Shm};

fn child(sem: &str, mem: &str) -> ipc::Result<()> {
    let mem = Shm::open(mem)?;
    shm::write_at(&mem, 0, b"hello from the child")?;
    NamedSemaphore::open(sem)?.post()?;
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let prefix = format!("/ipc-unique-names-{}-", std::process::id());
    // A fresh name each: drawn at random, created exclusively, drawn again if taken.
    let sem = NamedSemaphore::options().value(0).create_unique(&prefix)?;
    let mem = Shm::options().size(4096).create_unique(&prefix)?;
    println!("semaphore {}\nshared memory {}", sem.name(), mem.name());
    let status = Command::new(std::env::current_exe()?)
        .args(["--child", sem.name(), mem.name()])
        .stderr(Stdio::inherit())
        .status()?;
    sem.wait_timeout(Duration::from_secs(30))?;
    let mut buf = [0; 20];
    shm::read_at(&mem, 0, &mut buf)?;
    println!("read: {}", String::from_utf8_lossy(&buf));
    if !status.success() || &buf != b"hello from the child" {
        return Err("the child did not get through".into());
    }
    // Both names are removed when `sem` and `mem` drop, as for create.
    println!("unique_names: ok");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("--child") => child(&args[2], &args[3]).map_err(Into::into),
        _ => run(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("unique_names: {e}");
            ExitCode::FAILURE
        }
    }
}
