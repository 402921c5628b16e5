//! A counter shared by N processes, each incrementing it under a robust process-shared
//! mutex (the example of the `process_shared` crate, typed and layout-checked).
//!
//! ```text
//! cargo run --example shared_counter              # 4 processes x 10000 increments
//! cargo run --example shared_counter -- 8 50000
//! ```
//!
//! The parent creates the counter, starts the workers, waits for them, and checks that no
//! increment was lost. Exits 0 if the total is exact.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use ipc::collections::{Shared, SharedMutex};

fn worker(name: &str, rounds: u64) -> Result<(), ipc::collections::Error> {
    let counter = Shared::<SharedMutex<u64>>::open(name)?;
    for _ in 0..rounds {
        *counter.lock()? += 1;
    }
    Ok(())
}

fn run(procs: u64, rounds: u64) -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("/ipc-counter-{}", std::process::id());
    let counter = Shared::<SharedMutex<u64>>::create(&name, |_| {})?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..procs {
        workers.push(
            Command::new(std::env::current_exe()?)
                .args(["--worker", &name, &rounds.to_string()])
                .spawn()?,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
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
    let total = *counter.lock()?;
    println!(
        "{procs} processes x {rounds} increments = {total} in {:?}",
        started.elapsed()
    );
    if total != procs * rounds {
        return Err(format!("lost updates: expected {}", procs * rounds).into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r: Result<(), Box<dyn std::error::Error>> = match args.as_slice() {
        [flag, name, rounds] if flag == "--worker" => match rounds.parse() {
            Ok(n) => worker(name, n).map_err(Into::into),
            Err(e) => Err(format!("bad count: {e}").into()),
        },
        [] => run(4, 10_000),
        [p, r] => match (p.parse(), r.parse()) {
            (Ok(p), Ok(r)) => run(p, r),
            _ => Err("usage: shared_counter [PROCS ROUNDS]".into()),
        },
        _ => Err("usage: shared_counter [PROCS ROUNDS]".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shared_counter: {e}");
            ExitCode::FAILURE
        }
    }
}
