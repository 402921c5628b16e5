//! What a process or one of its threads is doing right now, read from `/proc`: the parent
//! side of "the peer is blocked in its wait now" without sleeping and hoping.
//!
//! A thread blocked in a futex (a semaphore, a mutex, a condvar, a ring's sleeper word)
//! shows state `S` in `/proc/ID/stat` and a wait channel naming a futex function in
//! `/proc/ID/wchan`; one blocked in `mq_receive` names the message-queue wait instead.
//! `ID` may be a process id or the id of any thread (see [`gettid`]).

/// The calling thread's kernel id (`gettid`), to hand to a peer that waits for this thread
/// to block (a forked child sees it through shared memory or inherited memory).
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

/// Thread or process `id`'s state letter (field 3 of `/proc/ID/stat`) and kernel wait
/// channel (`/proc/ID/wchan`, `0` while it runs), or `None` once it is gone.
pub fn task_state(id: i32) -> Option<(char, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{id}/stat")).ok()?;
    // The command field (2) is in parentheses and may itself hold spaces and `)`.
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    let wchan = std::fs::read_to_string(format!("/proc/{id}/wchan")).unwrap_or_default();
    Some((state, wchan))
}

/// True while thread (or single-threaded process) `id` sleeps (state `S`) in a kernel wait
/// channel whose name contains `wchan` (e.g. `"futex"`).
pub fn sleeps_in(id: i32, wchan: &str) -> bool {
    matches!(task_state(id), Some(('S', w)) if w.contains(wchan))
}

/// True while thread (or single-threaded process) `id` sleeps in a futex wait.
pub fn sleeps_in_futex(id: i32) -> bool {
    sleeps_in(id, "futex")
}

/// True while every thread of process `pid` sleeps (state `S`) and at least one of them in
/// a wait channel containing `wchan`: for a child re-executed by
/// [`spawn_role`](crate::spawn_role), whose main thread waits in a futex for the thread
/// that runs the test.
pub fn all_threads_sleep(pid: i32, wchan: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut found = false;
    for task in tasks {
        let Some(tid) = task
            .ok()
            .and_then(|t| t.file_name().to_str()?.parse::<i32>().ok())
        else {
            return false;
        };
        match task_state(tid) {
            Some(('S', w)) => found |= w.contains(wchan),
            _ => return false,
        }
    }
    found
}
