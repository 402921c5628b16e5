//! N processes increment one counter in shared memory under a robust, process-shared mutex
//! (the demo of Ruby's `process_shared`), and the total comes out exact.
//!
//! ```text
//! cargo run --example counter -- [PROCESSES] [INCREMENTS]     (defaults: 4, 10000)
//! ```
//!
//! The parent creates a POSIX shared-memory object holding a [`RawMutex`] and a counter,
//! initialises the mutex in place, then starts PROCESSES copies of this program (separate
//! processes, not threads or forks). Each opens the object by name and adds 1 to the counter
//! INCREMENTS times, with a separate load and store under the lock, so any lost update would
//! show. One worker is told to exit while holding the lock half-way through its loop; the
//! next locker gets `Acquired::OwnerDied`, repairs, marks the mutex consistent, and goes on.

use std::process::{Command, ExitCode};
use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicU64, Ordering};

use ipc_core::shm::Shm;
use ipc_core::sync::{Acquired, RawMutex};
use ipc_core::SharedLayout;

/// The shared state: the mutex and what it protects.
#[repr(C)]
struct Counter {
    lock: RawMutex,
    /// Protected by `lock`.
    value: AtomicU64,
    /// Protected by `lock`: how many owner-died repairs happened.
    repairs: AtomicU64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        return worker(
            &args[2],
            args[3].parse().expect("increments"),
            args[4] == "crash",
        );
    }
    let procs: usize = args.get(1).map_or(4, |a| a.parse().expect("PROCESSES"));
    let iters: u64 = args
        .get(2)
        .map_or(10_000, |a| a.parse().expect("INCREMENTS"));

    let name = format!("/ipc-example-counter-{}", std::process::id());
    let shm = Shm::create(&name, std::mem::size_of::<Counter>()).expect("shm_open");
    let counter = shm.as_ptr().cast::<Counter>();
    // SAFETY: the object was just created (O_EXCL), so nobody else maps it yet; the mapping
    // is page-aligned, zero-filled and large enough for a Counter.
    unsafe { RawMutex::init_in_place(addr_of_mut!((*counter).lock)) }.expect("mutex init");
    // SAFETY: initialised just above; the mapping lives as long as `shm`.
    let counter = unsafe { &*counter };

    let exe = std::env::current_exe().expect("current_exe");
    let children: Vec<_> = (0..procs)
        .map(|i| {
            let crash = if i == 0 { "crash" } else { "clean" };
            Command::new(&exe)
                .args(["worker", &name, &iters.to_string(), crash])
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    for mut child in children {
        child.wait().expect("wait for worker");
    }

    // Read the result under the lock, repairing it if the crashing worker was the last to
    // hold it.
    let mut guard = counter.lock.guard().expect("lock");
    if guard.acquired() == Acquired::OwnerDied {
        counter.repairs.fetch_add(1, Ordering::Relaxed);
        guard.mark_consistent().expect("mark consistent");
    }
    let total = counter.value.load(Ordering::Relaxed);
    let expected = procs as u64 * iters;
    println!(
        "{procs} processes x {iters} increments = {total} (expected {expected}); \
         owner-died repairs: {}",
        counter.repairs.load(Ordering::Relaxed)
    );
    drop(guard);
    if total == expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
    // `shm` drops here and unlinks the object.
}

fn worker(name: &str, iters: u64, crash: bool) -> ExitCode {
    let shm = Shm::open(name).expect("shm_open");
    assert!(shm.len() >= std::mem::size_of::<Counter>());
    // SAFETY: the parent initialised the Counter before starting any worker; the mapping
    // is page-aligned, large enough, and lives as long as `shm`.
    let counter = unsafe { &*shm.as_ptr().cast::<Counter>() };
    for i in 0..iters {
        let mut guard = counter.lock.guard().expect("lock");
        if guard.acquired() == Acquired::OwnerDied {
            // The previous owner died holding the lock. Here it always left the counter
            // consistent, so the repair is only to count the event.
            counter.repairs.fetch_add(1, Ordering::Relaxed);
            guard.mark_consistent().expect("mark consistent");
        }
        let v = counter.value.load(Ordering::Relaxed);
        counter.value.store(v + 1, Ordering::Relaxed);
        if crash && i == iters / 2 {
            // Add the increments this worker will no longer make (so the expected total
            // stays exact), then exit holding the lock: `exit` runs no destructors, so the
            // guard never unlocks and the kernel marks the mutex owner-died.
            counter.value.fetch_add(iters - i - 1, Ordering::Relaxed);
            std::process::exit(0);
        }
        drop(guard);
    }
    ExitCode::SUCCESS
}
