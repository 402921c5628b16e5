//! `ipc-bench`: this project beside its peers and the hardware limits, in one run.
//!
//! ```text
//! cargo run --release -p ipc-bench -- [--quick] [--json FILE] [--svg FILE] [IDS]
//! cargo run --release -p ipc-bench --features peers -- ...   # with iceoryx2, ipc-channel,
//!                                                            # shared_memory + raw_sync
//! ```
//!
//! Every scenario runs across real processes: the harness forks one worker per
//! implementation (or one for all, where the worker times itself), which waits asleep on a
//! pipe between batches. All implementations of a scenario run interleaved (see
//! [`measure`]), and each row gives the median, 10th and 90th percentile of its metric over
//! the rounds and the median per-round ratio to the scenario's baseline. A peer that was
//! not built or failed is a row that says so.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![allow(missing_docs)]

mod chan;
mod measure;
mod ours;
mod peers;
mod proc;
mod report;
mod rings;
mod scenarios;

use std::time::Instant;

use measure::Config;

struct Args {
    quick: bool,
    json: Option<String>,
    svg: Option<String>,
    filter: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        json: None,
        svg: None,
        filter: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--quick" => a.quick = true,
            "--json" => a.json = Some(it.next().ok_or("--json needs a file")?),
            "--svg" => a.svg = Some(it.next().ok_or("--svg needs a file")?),
            "-h" | "--help" => {
                println!(
                    "ipc-bench [--quick] [--json FILE] [--svg FILE] [IDS]\n\
                     IDS: run only these scenarios (comma-separated id prefixes: 1,5 runs 1, 5a, 5b)"
                );
                std::process::exit(0);
            }
            f if f.starts_with('-') => return Err(format!("unknown flag {f}")),
            f => a.filter = Some(f.to_owned()),
        }
    }
    Ok(a)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ipc-bench: {e}");
            std::process::exit(2);
        }
    };
    let cfg = Config::new(a.quick);
    let started = Instant::now();
    let mut results = Vec::new();
    for s in scenarios::all() {
        if let Some(f) = &a.filter {
            if !f.split(',').any(|f| s.id.starts_with(f)) {
                continue;
            }
        }
        eprintln!(
            "[{:5.1}s] {} {}",
            started.elapsed().as_secs_f64(),
            s.id,
            s.title
        );
        results.push(scenarios::run(&cfg, s));
    }
    let meta = report::Meta::now(&cfg, started.elapsed());
    let goals = report::goals(&results);
    let table = report::table(&meta, &results, &goals);
    print!("{table}");
    if let Some(path) = &a.json {
        let j = report::json(&meta, &results, &goals);
        if let Err(e) = std::fs::write(path, j) {
            eprintln!("ipc-bench: writing {path}: {e}");
            std::process::exit(1);
        }
    }
    if let Some(path) = &a.svg {
        if let Err(e) = report::svg(path, &meta, &results) {
            eprintln!("ipc-bench: drawing {path}: {e}");
            std::process::exit(1);
        }
    }
    if results.iter().flat_map(|r| &r.rows).any(|r| r.failed()) {
        eprintln!("ipc-bench: some implementations failed (see the table)");
        std::process::exit(1);
    }
}
