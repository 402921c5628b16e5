//! The other half of the "two builds disagree" demonstration (see `stats_v1`): a later
//! build whose `Stats` gained a field and narrowed the histogram. Opening a segment made by
//! `stats_v1` fails with a `LayoutMismatch` that names both fields.
//!
//! Exit status: 0 when the open was refused with a layout mismatch (the expected outcome),
//! 2 if it was accepted, 1 on any other error.

use std::process::ExitCode;
use std::sync::atomic::AtomicU64;

use ipc::collections::{ErrorKind, Shared, SharedMutex};
use ipc::SharedLayout;

/// Version 2 of the shared statistics.
#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    hist: SharedMutex<[u32; 32]>,
}

fn main() -> ExitCode {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: stats_v2 NAME");
        return ExitCode::FAILURE;
    };
    match Shared::<Stats>::open(&name) {
        Err(e) if e.kind() == ErrorKind::LayoutMismatch => {
            println!("refused: {e}");
            for d in e.layout_mismatch_details().map_or(&[][..], |m| &m.diffs) {
                println!("  {d}");
            }
            ExitCode::SUCCESS
        }
        Ok(_) => {
            println!("opened {name} although its layout differs");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("stats_v2: {e}");
            ExitCode::FAILURE
        }
    }
}
