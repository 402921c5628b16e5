//! IPC.jl's `WrappedArray(mem, T, dims; offset)`: a typed N-d view of shared memory that
//! something else laid out (here a plain POSIX object written as a C program would: no
//! header, a 4 x 4 grid of `u32` at byte 256).
//!
//! ```text
//! cargo run --example array_view
//! ```
//!
//! A first process creates the plain object and writes the grid. The parent views it as
//! `AtomicU32`s (safe: every access is atomic) and starts two processes that add to every
//! cell at once through their own views; then it prints the grid.

use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use ipc::os::shm::{self, Shm};
use ipc::ArrayView;

const OFFSET: usize = 256;
const DIMS: [usize; 2] = [4, 4];
const ADDS: u32 = 1000;

/// What a C program would do: `shm_open`, `ftruncate`, write the numbers at an offset.
fn c_writer(name: &str) -> ipc::Result<()> {
    let mem = Shm::options()
        .size(4096)
        .unlink_on_drop(false)
        .create(name)?;
    for i in 0..16u32 {
        shm::write_at(&mem, OFFSET + 4 * i as usize, &i.to_ne_bytes())?;
    }
    Ok(())
}

fn adder(name: &str) -> ipc::Result<()> {
    let mem = Shm::open(name)?;
    let grid = ArrayView::<AtomicU32>::atomic(&mem, OFFSET, &DIMS)?;
    for _ in 0..ADDS {
        for cell in grid.iter() {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn peer(args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    let status = Command::new(std::env::current_exe()?)
        .args(args)
        .stderr(Stdio::inherit())
        .status()?;
    if !status.success() {
        return Err(format!("{args:?} failed: {status}").into());
    }
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("/ipc-array-view-{}", std::process::id());
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        peer(&["--c-writer", &name])?;
        let mem = Shm::open(&name)?;
        let grid = ArrayView::<AtomicU32>::atomic(&mem, OFFSET, &DIMS)?;
        let kids: Vec<_> = (0..2)
            .map(|_| {
                Command::new(std::env::current_exe()?)
                    .args(["--adder", &name])
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        for mut k in kids {
            if !k.wait()?.success() {
                return Err("an adder failed".into());
            }
        }
        println!("{name}: u32 {:?} at byte {OFFSET}", grid.dims());
        for r in 0..DIMS[0] {
            let row: Vec<u32> = (0..DIMS[1])
                .map(|c| grid.at(&[r, c]).map_or(0, |x| x.load(Ordering::Relaxed)))
                .collect();
            println!("  {row:?}");
        }
        let ok = grid
            .iter()
            .enumerate()
            .all(|(i, x)| x.load(Ordering::Relaxed) == i as u32 + 2 * ADDS);
        if !ok {
            return Err("an addition was lost".into());
        }
        Ok(())
    })();
    // The object was made to outlive its writer: remove it whatever happened.
    let _ = shm::unlink(&name);
    result?;
    println!("array_view: ok");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("--c-writer") => c_writer(&args[2]).map_err(Into::into),
        Some("--adder") => adder(&args[2]).map_err(Into::into),
        _ => run(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("array_view: {e}");
            ExitCode::FAILURE
        }
    }
}
