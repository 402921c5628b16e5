//! Quickstart: typed shared memory between two processes.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! The first process creates three named segments:
//! - `Stats`, a derived struct with an atomic counter and a histogram behind a robust
//!   process-shared mutex;
//! - a 4 x 8 `SharedArray<f64>`;
//! - a mutex-guarded `f64` total.
//!
//! It then starts itself again as a second process, which opens the three by name (each
//! open checks the stored layout against its own build's), works on them, and exits. The
//! first checks the second's work and exits 0 if everything adds up, 1 otherwise. The
//! creator's handles remove the segments when they drop.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc::collections::{Shared, SharedArray, SharedMutex};
use ipc::SharedLayout;

/// Request statistics shared by every worker process.
#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    /// Requests served, by anybody.
    requests: AtomicU64,
    /// Latency histogram, updated under its lock.
    latency_hist: SharedMutex<[u64; 32]>,
}

const ROWS: usize = 4;
const COLS: usize = 8;

fn names(base: &str) -> (String, String, String) {
    (
        format!("{base}-stats"),
        format!("{base}-grid"),
        format!("{base}-total"),
    )
}

/// The second process: open everything by name and work on it.
fn worker(base: &str) -> Result<(), ipc::collections::Error> {
    let (stats_name, grid_name, total_name) = names(base);
    let stats = Shared::<Stats>::open(&stats_name)?;
    let grid = SharedArray::<f64>::options()
        .dims(&[ROWS, COLS])
        .open(&grid_name)?;
    let total = Shared::<SharedMutex<f64>>::open(&total_name)?;
    println!(
        "worker {}: opened {} ({}), {} {:?} and {}",
        std::process::id(),
        stats_name,
        stats.info().schema,
        grid_name,
        grid.dims(),
        total_name
    );

    stats.requests.fetch_add(100, Ordering::Relaxed);
    stats.latency_hist.lock()?[5] += 7;
    let sum: f64 = {
        let mut g = grid.lock()?;
        g.iter_mut().for_each(|x| *x *= 2.0);
        g.iter().sum()
    };
    *total.lock()? += sum;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        return match worker(&args[2]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("worker failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run() {
        Ok(true) => {
            println!("quickstart: ok");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("quickstart: FAILED");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let base = format!("/ipc-quickstart-{}", std::process::id());
    let (stats_name, grid_name, total_name) = names(&base);

    // Create: each init runs with exclusive access before anybody else can open.
    let stats = Shared::<Stats>::create(&stats_name, |s| s.latency_hist.get_mut()[0] = 1)?;
    let grid = SharedArray::<f64>::options()
        .dims(&[ROWS, COLS])
        .create(&grid_name, |cells| {
            for (i, c) in cells.iter_mut().enumerate() {
                *c = i as f64;
            }
        })?;
    let total = Shared::<SharedMutex<f64>>::create(&total_name, |t| *t.get_mut() = 0.5)?;
    stats.requests.fetch_add(1, Ordering::Relaxed);

    // The second process: this program again, with a role.
    let mut child = Command::new(std::env::current_exe()?)
        .args(["worker", &base])
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Err("worker hung; killed".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if !status.success() {
        return Err(format!("worker exited with {status}").into());
    }

    // Check the worker's work.
    Ok(check(&stats, &grid, &total)?)
    // stats, grid and total drop here: as their creator, this process unlinks the names.
}

/// What the first process sees after the worker is done.
fn check(
    stats: &Stats,
    grid: &SharedArray<f64>,
    total: &SharedMutex<f64>,
) -> ipc::collections::Result<bool> {
    let requests = stats.requests.load(Ordering::Relaxed);
    let hist = *stats.latency_hist.lock()?;
    let cells = grid.lock()?.to_vec();
    let expected_sum: f64 = (0..ROWS * COLS).map(|i| 2.0 * i as f64).sum();
    let t = *total.lock()?;
    println!("requests = {requests}, hist[0..6] = {:?}", &hist[..6]);
    println!("grid row 3 = {:?}", &cells[3 * COLS..]);
    println!("total = {t}");
    Ok(requests == 101
        && hist[0] == 1
        && hist[5] == 7
        && cells.iter().enumerate().all(|(i, &c)| c == 2.0 * i as f64)
        && t == 0.5 + expected_sum)
}
