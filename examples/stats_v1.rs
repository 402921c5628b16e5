//! Half of the "two builds disagree" demonstration (see `stats_v2`): this build's `Stats`.
//!
//! ```text
//! cargo run --example stats_v1 -- NAME          # create NAME holding a Stats and leave it
//! cargo run --example stats_v1_reader -- NAME   # the same layout, built separately: opens it
//! cargo run --example stats_v2 -- NAME          # open it with another layout: LayoutMismatch
//! cargo run --example stats_v1_reader -- --unlink NAME   # remove it
//! ```

use std::process::ExitCode;
use std::sync::atomic::AtomicU64;

use ipc::collections::{Shared, SharedMutex};
use ipc::SharedLayout;

/// Version 1 of the shared statistics.
#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    requests: AtomicU64,
    hist: SharedMutex<[u64; 32]>,
}

fn main() -> ExitCode {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: stats_v1 NAME");
        return ExitCode::FAILURE;
    };
    // Kept after this process exits: the stats_v2 example opens it later.
    let opts = Shared::<Stats>::options().unlink_on_drop(false);
    let made = opts.create(&name, |s| {
        *s.requests.get_mut() = 41;
        s.hist.get_mut()[5] = 7;
    });
    match made {
        Ok(s) => {
            println!("created {name}: {}", s.info().schema);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stats_v1: {e}");
            ExitCode::FAILURE
        }
    }
}
