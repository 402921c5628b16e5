//! Writes a `Stats` into a layout-checked shared-memory segment and exits, leaving the
//! segment for a reader built separately (`layout_reader`, or `layout_reader_v2`, which has
//! another `Stats`). Usage: `layout_writer /name`.
//!
//! Run with `tests/layout_cross.rs`, which removes the segment afterwards.

#[path = "layout_common/mod.rs"]
mod common;

use std::sync::atomic::AtomicU64;

use ipc::SharedLayout;

/// Version 1 of the shared statistics.
#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    requests: AtomicU64,
    hist: [u64; 32],
    name: [u8; 16],
}

fn main() -> ipc::Result<()> {
    let name = std::env::args().nth(1).expect("usage: layout_writer /name");
    common::publish::<Stats>(&name, |s| {
        *s.requests.get_mut() = 42;
        for (i, h) in s.hist.iter_mut().enumerate() {
            *h = i as u64 * 10;
        }
        s.name[..6].copy_from_slice(b"web-01");
    })?;
    println!("wrote {}", Stats::LAYOUT.schema());
    Ok(())
}
