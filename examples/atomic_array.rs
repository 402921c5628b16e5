//! An array of atomic counters shared by name and updated by several processes at once
//! without its lock (`SharedArray::<AtomicU64>::as_slice`: safe, no `unsafe`).
//!
//! ```text
//! cargo run --example atomic_array
//! ```

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};

use ipc::SharedArray;

const WORKERS: u64 = 3;
const HITS: u64 = 10_000;

fn worker(name: &str, id: usize) -> ipc::Result<()> {
    let hits = SharedArray::<AtomicU64>::open(name)?;
    let counters = hits.as_slice();
    for i in 0..HITS {
        counters[(i as usize + id) % counters.len()].fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("/ipc-atomic-array-{}", std::process::id());
    let hits = SharedArray::<AtomicU64>::create(&name, &[8])?;
    let kids = (0..WORKERS)
        .map(|id| {
            Command::new(std::env::current_exe()?)
                .args(["--worker", &name, &id.to_string()])
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    for mut k in kids {
        if !k.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    let counts: Vec<u64> = hits
        .as_slice()
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let total: u64 = counts.iter().sum();
    println!("{name}: {counts:?}, total {total}");
    if total != WORKERS * HITS {
        return Err("a hit was lost".into());
    }
    println!("atomic_array: ok");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("--worker") => worker(&args[2], args[3].parse().unwrap_or(0)).map_err(Into::into),
        _ => run(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("atomic_array: {e}");
            ExitCode::FAILURE
        }
    }
}
