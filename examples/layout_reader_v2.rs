//! Like `layout_reader`, but built with version 2 of `Stats` (`hist` narrowed to `u32`, a
//! field `errors` added): opening what `layout_writer` (version 1) wrote must fail and name
//! the fields that differ. Usage: `layout_reader_v2 /name`; exits with 3 on the mismatch.

#[path = "layout_common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use ipc::SharedLayout;

/// Version 2: `hist` is narrower and `errors` is new.
#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    requests: AtomicU64,
    hist: [u32; 32],
    name: [u8; 16],
    errors: AtomicU64,
}

fn main() {
    let name = std::env::args()
        .nth(1)
        .expect("usage: layout_reader_v2 /name");
    match common::open::<Stats>(&name) {
        Ok(seg) => {
            let s = seg.get();
            let label = String::from_utf8_lossy(&s.name);
            println!(
                "requests={} errors={} hist[3]={} hist[31]={} name={}",
                s.requests.load(Ordering::Relaxed),
                s.errors.load(Ordering::Relaxed),
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
