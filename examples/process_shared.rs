//! Ruby process_shared's README, in Rust: a mutex, a condition variable, a semaphore and
//! shared memory made *before* `fork` and used by the children, with no derived struct and
//! no name.
//!
//! ```text
//! cargo run --example process_shared
//! ```
//!
//! 1. The counter: one child increments a `SharedMutex<i64>` 10000 times while another
//!    decrements it 10000 times; the parent sees the starting value again.
//! 2. The hand-off: a child waits on a `SharedCondvar` until the parent has put a request
//!    in shared memory, answers it, and signals back.
//! 3. `SharedMemory.new(:int, 4)`: an array of four `i64` that each child fills a slot of,
//!    counted with a semaphore.

use std::process::ExitCode;
use std::time::Duration;

use ipc::os::sem::Semaphore;
use ipc::{Shared, SharedArray, SharedCondvar, SharedMutex};

const WAIT: Duration = Duration::from_secs(30);

/// Forks a child that runs `f` and exits with 0 if it returned true; returns its pid.
fn fork(f: impl FnOnce() -> bool) -> Result<libc::pid_t, Box<dyn std::error::Error>> {
    // SAFETY: this example is single-threaded when it forks, so the child may run any
    // code; the child leaves with _exit and never returns into main.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if pid == 0 {
        let ok = f();
        // SAFETY: _exit ends the child at once, without running the parent's destructors
        // a second time.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    Ok(pid)
}

/// Waits for the child `pid` (> 0) and tells whether it exited with 0.
fn reap(pid: libc::pid_t) -> bool {
    assert!(pid > 0);
    let mut status = 0;
    // SAFETY: a pid of our own child (> 0) and a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 1. mutex = ProcessShared::Mutex.new; mem = SharedMemory.new(:int)
    let counter = Shared::<SharedMutex<i64>>::anonymous(|c| *c.get_mut() = 100)?;
    let inc = fork(|| (0..10_000).all(|_| counter.lock().map(|mut c| *c += 1).is_ok()))?;
    let dec = fork(|| (0..10_000).all(|_| counter.lock().map(|mut c| *c -= 1).is_ok()))?;
    if !(reap(inc) && reap(dec)) {
        return Err("a counter child failed".into());
    }
    let value = *counter.lock()?;
    println!("counter: 100 + 10000 - 10000 = {value}");
    if value != 100 {
        return Err("an update was lost".into());
    }

    // 2. cond = ProcessShared::ConditionVariable.new
    let mailbox = Shared::<SharedMutex<[i64; 2]>>::anonymous(|_| {})?; // [request, answer]
    let cond = Shared::<SharedCondvar>::anonymous(|_| {})?;
    let child = fork(|| {
        let run = || -> ipc::Result<bool> {
            let m = mailbox.lock()?;
            let (mut m, r) = cond.wait_timeout_while(m, WAIT, |m| m[0] == 0)?;
            if r.timed_out() {
                return Ok(false);
            }
            m[1] = m[0] * 2;
            drop(m);
            cond.notify_all();
            Ok(true)
        };
        run().unwrap_or(false)
    })?;
    mailbox.lock()?[0] = 21;
    cond.notify_all();
    let m = cond
        .wait_timeout_while(mailbox.lock()?, WAIT, |m| m[1] == 0)?
        .0;
    println!("hand-off: asked {}, the child answered {}", m[0], m[1]);
    let answer = m[1];
    drop(m);
    if !reap(child) || answer != 42 {
        return Err("the condvar hand-off failed".into());
    }

    // 3. SharedMemory.new(:int, 4), and a semaphore counting the children that are done.
    let slots = SharedArray::<i64>::anonymous(&[4])?;
    let done = Shared::<Semaphore>::anonymous(|_| {})?;
    let kids = (0..4)
        .map(|i| fork(|| slots.set(&[i], (i as i64 + 1) * 11).is_ok() && done.post().is_ok()))
        .collect::<Result<Vec<_>, _>>()?;
    for _ in 0..4 {
        done.wait_timeout(WAIT)?;
    }
    let all = slots.lock()?.to_vec();
    println!("slots: {all:?}");
    if !kids.into_iter().all(reap) || all != [11, 22, 33, 44] {
        return Err("a slot was not filled".into());
    }
    println!("process_shared: ok");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("process_shared: {e}");
            ExitCode::FAILURE
        }
    }
}
