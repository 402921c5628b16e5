//! posix_ipc's `ftruncate` on a `SharedMemory` it owns: grow a plain shared-memory object
//! while another handle maps it, and shrink it once nobody else does.
//!
//! ```text
//! cargo run --example shm_resize
//! ```
//!
//! Growing is safe for everyone (`Shm::grow`): a mapping of the old size stays valid, and
//! a peer sees the new bytes after `remap`. Shrinking is `unsafe` (`Shm::shrink`): the
//! caller promises that no process touches the bytes it takes away (they would fault with
//! `SIGBUS`).

use std::process::{Command, ExitCode, Stdio};

use ipc::os::shm::{self, Shm};

fn peer(name: &str) -> ipc::Result<()> {
    let mem = Shm::open(name)?;
    println!("peer: mapped {} bytes", mem.len());
    shm::write_at(&mem, mem.len() - 5, b"tail!")?;
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("/ipc-shm-resize-{}", std::process::id());
    let mut mem = Shm::create(&name, 4096)?;
    shm::write_at(&mem, 0, b"head")?;
    // Another handle (it could be in any process) maps the old 4096 bytes.
    let mut other = Shm::open(&name)?;

    mem.grow(1 << 20)?;
    println!("grew to {} bytes", mem.len());
    let mut b = [0; 4];
    shm::read_at(&other, 0, &mut b)?; // the old mapping is still valid
    println!(
        "the old mapping still reads {:?} ({} bytes)",
        String::from_utf8_lossy(&b),
        other.len()
    );
    println!("after remap it maps {} bytes", other.remap()?);

    let status = Command::new(std::env::current_exe()?)
        .args(["--peer", &name])
        .stderr(Stdio::inherit())
        .status()?;
    let mut tail = [0; 5];
    shm::read_at(&mem, mem.len() - 5, &mut tail)?;
    println!(
        "the peer wrote {:?} at the new end",
        String::from_utf8_lossy(&tail)
    );
    if !status.success() || &tail != b"tail!" {
        return Err("the peer did not see the grown object".into());
    }

    drop(other);
    // SAFETY: the peer has exited and `other` is dropped: this handle is the only mapping.
    unsafe { mem.shrink(8192)? };
    println!("shrank to {} bytes", mem.len());
    println!("shm_resize: ok");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("--peer") => peer(&args[2]).map_err(Into::into),
        _ => run(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shm_resize: {e}");
            ExitCode::FAILURE
        }
    }
}
