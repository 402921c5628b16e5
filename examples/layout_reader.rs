//! Reads the `Stats` that `layout_writer` left in a segment, after checking that this build's
//! `Stats` has exactly the writer's layout. Usage: `layout_reader /name`. Exits with 3 and
//! prints what differs when the layouts disagree.

#[path = "layout_common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use ipc::SharedLayout;

/// The same declaration as the writer's, compiled separately.
#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    requests: AtomicU64,
    hist: [u64; 32],
    name: [u8; 16],
}

fn main() {
    let name = std::env::args().nth(1).expect("usage: layout_reader /name");
    match common::open::<Stats>(&name) {
        Ok(seg) => {
            let s = seg.get();
            let label = String::from_utf8_lossy(&s.name);
            println!(
                "requests={} hist[3]={} hist[31]={} name={}",
                s.requests.load(Ordering::Relaxed),
                s.hist[3],
                s.hist[31],
                label.trim_end_matches('\0')
            );
        }
        Err(common::OpenError::Mismatch(diffs)) => {
            for d in diffs {
                println!("layout mismatch: {d}");
            }
            std::process::exit(3);
        }
        Err(common::OpenError::Corrupt(why)) => {
            eprintln!("corrupt segment: {why}");
            std::process::exit(4);
        }
        Err(common::OpenError::Os(e)) => {
            eprintln!("{e}");
            std::process::exit(5);
        }
    }
}
