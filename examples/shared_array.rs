//! Shared arrays by name, in the style of IPC.jl's `WrappedArray(id, T, dims)` (create) and
//! `WrappedArray(id)` (open, element type and dims read from the segment).
//!
//! ```text
//! cargo run --example shared_array                          # create, fill from 3 workers, print, remove
//! cargo run --example shared_array -- --persist /ipc-demo-grid   # same, but leave the segment
//! python3 read_array.py /ipc-demo-grid                      # the reader in FORMAT.md
//! cargo run --example shared_array -- --unlink /ipc-demo-grid
//! ```
//!
//! The parent creates a 3 x 5 `f64` array and starts one worker process per row; each
//! worker opens the array by name (getting its dims from the segment), takes the array's
//! robust lock and fills its row. The parent prints the result.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use ipc::collections::SharedArray;

const DIMS: [usize; 2] = [3, 5];

fn worker(name: &str, row: usize) -> Result<(), ipc::collections::Error> {
    // WrappedArray(id): type checked, dims read from the segment.
    let grid = SharedArray::<f64>::open(name)?;
    let cols = grid.dims()[1];
    let mut g = grid.lock()?;
    for c in 0..cols {
        if let Some(x) = g.at_mut(&[row, c]) {
            *x = (row * 10 + c) as f64 + 0.5;
        }
    }
    Ok(())
}

fn run(name: &str, persist: bool) -> Result<(), Box<dyn std::error::Error>> {
    // WrappedArray(id, Float64, (3, 5)).
    let grid = SharedArray::<f64>::options()
        .dims(&DIMS)
        .mode(0o644)
        .unlink_on_drop(!persist)
        .create(name, |_| {})?;
    let mut workers = Vec::new();
    for row in 0..DIMS[0] {
        workers.push(
            Command::new(std::env::current_exe()?)
                .args(["--worker", name, &row.to_string()])
                .spawn()?,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for mut w in workers {
        let status = loop {
            if let Some(s) = w.try_wait()? {
                break s;
            }
            if Instant::now() > deadline {
                w.kill()?;
                w.wait()?;
                return Err("a worker hung; killed".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if !status.success() {
            return Err(format!("a worker exited with {status}").into());
        }
    }
    let g = grid.lock()?;
    println!("{name}: f64 {:?}", grid.dims());
    for row in g.chunks(DIMS[1]) {
        println!("  {row:?}");
    }
    let ok = (0..DIMS[0])
        .all(|r| (0..DIMS[1]).all(|c| g.at(&[r, c]) == Some(&((r * 10 + c) as f64 + 0.5))));
    if !ok {
        return Err("the rows are not what the workers wrote".into());
    }
    if persist {
        println!("left {name} in place; remove it with --unlink {name}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r: Result<(), Box<dyn std::error::Error>> = match args.as_slice() {
        [flag, name, row] if flag == "--worker" => row
            .parse()
            .map_err(|e| format!("bad row: {e}").into())
            .and_then(|row| Ok(worker(name, row)?)),
        [flag, name] if flag == "--persist" => run(name, true),
        [flag, name] if flag == "--unlink" => ipc::collections::unlink(name).map_err(Into::into),
        [] => run(&format!("/ipc-demo-grid-{}", std::process::id()), false),
        _ => Err("usage: shared_array [--persist NAME | --unlink NAME]".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shared_array: {e}");
            ExitCode::FAILURE
        }
    }
}
