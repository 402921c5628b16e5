//! The agreeing half of the "two builds" demonstration: a separately built program that
//! declares the same `Stats` as `stats_v1` (its own copy of the struct, not a shared module),
//! opens the segment `stats_v1` left, checks the layout, reads what the creator wrote and
//! counts one more request.
//!
//! ```text
//! cargo run --example stats_v1 -- NAME
//! cargo run --example stats_v1_reader -- NAME            # prints requests=42 hist[5]=7
//! cargo run --example stats_v1_reader -- --unlink NAME   # removes NAME
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use ipc::collections::{unlink, Shared, SharedMutex};
use ipc::SharedLayout;

/// Version 1 of the shared statistics, declared independently of `stats_v1`.
#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    requests: AtomicU64,
    hist: SharedMutex<[u64; 32]>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, name] if flag == "--unlink" => unlink(name).map(|()| println!("removed {name}")),
        [name] => read(name),
        _ => {
            eprintln!("usage: stats_v1_reader [--unlink] NAME");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stats_v1_reader: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(name: &str) -> ipc::collections::Result<()> {
    let stats = Shared::<Stats>::open(name)?;
    let requests = stats.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let hist5 = stats.hist.lock()?[5];
    println!("requests={requests} hist[5]={hist5}");
    Ok(())
}
