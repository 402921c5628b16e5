//! Test support shared by the workspace's test suites (not published).
//!
//! - [`unique_name`]: a name no other test, run or process uses.
//! - [`Cleanup`]: removes a shm object, semaphore, queue or System V segment on drop, also
//!   when the test fails.
//! - [`spawn_role`] / [`spawn_ignored_role`] / [`ChildProc`]: re-executes the current test binary as a child that runs
//!   one test in a given role, with a watchdog that kills it and fails the test on a hang.
//! - [`fork_run`]: forks a child that runs a closure (for memory inherited across `fork`),
//!   with the same watchdog.
//! - [`child_drops`]: a forked child drops its copy of a handle or guard (fork-safety tests).
//! - [`run_with_watchdog`] / [`wait_child`]: runs another program (an example, a tool, a C
//!   reader) and returns its output, killing it and failing the test on a hang.
//! - [`wait_for`] / [`wait_for_child`]: polls a condition with a deadline (the parent side
//!   of a handshake).
//! - [`race`] / [`wait_for_start`] / [`assert_one_creator_per_round`]: processes that race
//!   from one common start instant, and the check of an open-or-create race.
//! - [`missing_reader`]: skips a test whose outside reader (cc, Python + NumPy) is missing,
//!   or fails it where [`REQUIRE_READERS_VAR`] is set (CI).
//! - [`xorshift64`]: a small deterministic random source for fuzz-style tests, and
//!   [`test_seed`] (`IPC_TEST_SEED` or the clock, printed) to start it.
//! - [`c_reader::build`]: compiles the C reader of FORMAT.md.
//! - [`proc_state`]: whether a peer process or thread is blocked in a wait right now (the
//!   observed state a test orders processes by, instead of a sleep).
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

pub mod bytes;
pub mod c_reader;
#[cfg(loom)]
pub mod loom;
pub mod privilege;
pub mod proc_state;
pub mod shared_mem;

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable that carries a child's role.
pub const ROLE_VAR: &str = "IPC_TEST_ROLE";

/// The prefix of every name a test creates; `.ci/run` looks for leftovers with it.
pub const PREFIX: &str = "ipct";

/// A default watchdog for child processes: long enough for a loaded 2-core CI machine.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// The environment variable that turns a missing outside reader (a C compiler, Python with
/// NumPy) from a skip into a failure: `.ci/run` sets it to `1`, so CI never passes a reader
/// test that did not run.
pub const REQUIRE_READERS_VAR: &str = "IPC_REQUIRE_READERS";

/// A test's prerequisite `what` is missing (`why`): fails the test when
/// [`REQUIRE_READERS_VAR`] is `1` (as in CI); otherwise prints a note, and the caller skips.
pub fn missing_reader(what: &str, why: &str) {
    let required = std::env::var(REQUIRE_READERS_VAR).is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{what} is missing ({why}), and {REQUIRE_READERS_VAR}=1 requires it"
    );
    eprintln!("skipped: {what} is missing ({why}); {REQUIRE_READERS_VAR}=1 makes this a failure");
}

/// A POSIX object name unique to this process and call: `/ipct-{tag}-{pid}-{n}`.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("/{PREFIX}-{tag}-{}-{n}", std::process::id())
}

/// The role this process was started in by [`spawn_role`], or `None` in the parent.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// The value of an environment variable set for a child by [`spawn_role`]; panics if it is
/// missing (a child started without what it needs is a test bug).
pub fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("child started without {key}"))
}

/// Prints a line that the parent's [`ChildProc::wait_output`] will return (it filters out
/// the test harness's own output).
pub fn report(line: impl std::fmt::Display) {
    // Start on a fresh line: the harness may have printed `test NAME ... ` without one.
    println!("\n@@ {line}");
}

/// What a [`Cleanup`] removes.
#[derive(Debug, Clone)]
enum What {
    Shm(CString),
    Sem(CString),
    Mq(CString),
    SysvShm(i32),
}

/// Removes an IPC object when dropped, ignoring "not found": create one right after
/// choosing a name so the object goes away even if the test panics.
#[derive(Debug)]
#[must_use = "the object is removed when this is dropped"]
pub struct Cleanup(What);

impl Cleanup {
    /// `shm_unlink(name)` on drop.
    pub fn shm(name: &str) -> Self {
        Cleanup(What::Shm(
            CString::new(name).expect("test name without NUL"),
        ))
    }
    /// `sem_unlink(name)` on drop.
    pub fn sem(name: &str) -> Self {
        Cleanup(What::Sem(
            CString::new(name).expect("test name without NUL"),
        ))
    }
    /// `mq_unlink(name)` on drop.
    pub fn mq(name: &str) -> Self {
        Cleanup(What::Mq(CString::new(name).expect("test name without NUL")))
    }
    /// `shmctl(id, IPC_RMID)` on drop.
    pub fn sysv_shm(id: i32) -> Self {
        Cleanup(What::SysvShm(id))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // SAFETY: each call gets a valid NUL-terminated string (or a plain id and a null
        // buffer pointer, which IPC_RMID ignores); failures (already removed) are ignored.
        unsafe {
            match &self.0 {
                What::Shm(n) => libc::shm_unlink(n.as_ptr()),
                What::Sem(n) => libc::sem_unlink(n.as_ptr()),
                What::Mq(n) => libc::mq_unlink(n.as_ptr()),
                What::SysvShm(id) => libc::shmctl(*id, libc::IPC_RMID, std::ptr::null_mut()),
            };
        }
    }
}

/// A child process with a watchdog. Dropping it kills the child if it still runs.
#[derive(Debug)]
pub struct ChildProc {
    child: std::process::Child,
    reader: Option<thread::JoinHandle<()>>,
    /// The lines reported so far (filled by the reader thread as they arrive).
    reports: Arc<(Mutex<Vec<String>>, Condvar)>,
    /// How many of `reports` [`ChildProc::next_report`] has handed out.
    taken: usize,
}

/// Re-executes the current test binary so that it runs only the test `test` (its full path
/// inside the test binary, e.g. `shm_cross_process` or `module::name`) with [`role`] set to
/// `role` and the extra environment `envs`.
///
/// The test function checks [`role`] first and, in a child, plays its part and returns.
pub fn spawn_role(test: &str, role: &str, envs: &[(&str, &str)]) -> ChildProc {
    spawn_test(test, role, envs, false)
}

/// As [`spawn_role`], for a child entry point marked `#[ignore]`: a role that is not a test
/// of its own (a benchmark's producer, say) is ignored, so that a normal `cargo test` does
/// not count it as a passing test, and runs only as this child (with `--ignored`).
pub fn spawn_ignored_role(test: &str, role: &str, envs: &[(&str, &str)]) -> ChildProc {
    spawn_test(test, role, envs, true)
}

fn spawn_test(test: &str, role: &str, envs: &[(&str, &str)], ignored: bool) -> ChildProc {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .args(ignored.then_some("--ignored"))
        .env(ROLE_VAR, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn child test process");
    let stdout = child.stdout.take().expect("piped stdout");
    let reports = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let shared = Arc::clone(&reports);
    let reader = thread::spawn(move || {
        let lines = BufReader::new(stdout).lines().map_while(|l| l.ok());
        for line in lines.filter_map(|l| l.strip_prefix("@@ ").map(str::to_owned)) {
            let (list, arrived) = &*shared;
            list.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            arrived.notify_all();
        }
    });
    ChildProc {
        child,
        reader: Some(reader),
        reports,
        taken: 0,
    }
}

impl ChildProc {
    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the child to exit; after `timeout`, kills it and panics.
    pub fn wait_timeout(&mut self, timeout: Duration) -> ExitStatus {
        let what = format!("child {}", self.pid());
        wait_child(&mut self.child, &what, timeout)
    }

    /// Waits (with the watchdog), asserts the child succeeded, and returns the lines it
    /// printed with [`report`].
    pub fn wait_output(mut self, timeout: Duration) -> Vec<String> {
        let status = self.wait_timeout(timeout);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let lines = self
            .reports
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        assert!(
            status.success(),
            "child {} failed: {status}; reported {lines:?}",
            self.pid()
        );
        lines
    }

    /// Waits with the default [`WATCHDOG`] and asserts success.
    pub fn wait_ok(self) -> Vec<String> {
        self.wait_output(WATCHDOG)
    }

    /// The next line the child reports with [`report`], as soon as it is printed (the
    /// parent side of a handshake: act once the child said where it is). After `timeout`,
    /// or if the child's output ends first, kills the child and panics.
    pub fn next_report(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (list, arrived) = &*self.reports;
        let mut lines = list.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(line) = lines.get(self.taken) {
                self.taken += 1;
                return line.clone();
            }
            let now = Instant::now();
            let ended = self.reader.as_ref().is_none_or(|r| r.is_finished());
            if now >= deadline || ended {
                drop(lines);
                self.kill();
                panic!(
                    "child {} reported nothing more (waited {timeout:?})",
                    self.pid()
                );
            }
            // Bounded: the reader thread may end (child exited) without a notification.
            let wait = (deadline - now).min(Duration::from_millis(50));
            lines = arrived
                .wait_timeout(lines, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Sends SIGKILL and reaps the child.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Forks a child that runs `f` and exits with 0 if it returns true, 1 if false or if it
/// panics. Waits with a watchdog of `timeout` (then SIGKILL and panic). `Ok` if the child
/// succeeded; otherwise an error that says how it ended (its check failed or it panicked,
/// another exit status, or a signal).
///
/// For memory that only a forked child inherits (anonymous shared mappings, fds). Keep `f`
/// short: it runs in a copy of a multi-threaded process, where only this thread exists.
pub fn fork_run(timeout: Duration, f: impl FnOnce() -> bool) -> Result<(), String> {
    let pid = fork_child(f);
    match wait_pid(pid, timeout) {
        Some(0) => Ok(()),
        Some(1) => Err(format!(
            "forked child {pid}: its check failed or it panicked (exit status 1)"
        )),
        Some(code) => Err(format!("forked child {pid} exited with status {code}")),
        None => Err(format!("forked child {pid} was killed by a signal")),
    }
}

/// Forks a child that drops its copy of what `slot` holds, and waits for it (watchdog
/// [`CHILD`]); the parent's value stays in the slot. For tests that a handle or guard
/// inherited over `fork` releases nothing of the parent's when the child drops it.
pub fn child_drops<T>(slot: &mut Option<T>) {
    fork_run(CHILD, || {
        drop(slot.take().expect("the slot is full"));
        true
    })
    .unwrap();
    assert!(slot.is_some(), "the parent's value stays");
}

/// Forks a child that runs `f` (exit 0 on true, 1 on false or panic) and returns its pid
/// without waiting. Reap it with [`wait_pid`].
pub fn fork_child(f: impl FnOnce() -> bool) -> i32 {
    // SAFETY: fork has no preconditions; in the child we only run `f` and `_exit`, never
    // return into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false);
        // SAFETY: _exit ends the child at once without running the parent's atexit handlers
        // or destructors, which belong to the parent.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    pid
}

/// Waits for child `pid` up to `timeout`; then SIGKILLs it and panics. Returns its exit code,
/// or `None` if a signal ended it.
pub fn wait_pid(pid: i32, timeout: Duration) -> Option<i32> {
    assert!(pid > 0, "wait_pid({pid}): not a child's pid");
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer; WNOHANG makes the call non-blocking.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid({pid}) failed");
        if r == pid {
            return if libc::WIFEXITED(status) {
                Some(libc::WEXITSTATUS(status))
            } else {
                None
            };
        }
        if Instant::now() >= deadline {
            // SAFETY: plain syscalls on our own child's pid.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("watchdog: forked child {pid} still running after {timeout:?}; killed");
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// The timeout for forked children that should finish quickly.
pub const CHILD: Duration = Duration::from_secs(30);

/// Sends SIGKILL to `pid` (a real crash, for crash tests).
///
/// Refuses (panics on) a pid of 0 or below: `kill(0, ..)` would hit the whole process group
/// and `kill(-1, ..)` every process on the machine.
pub fn sigkill(pid: i32) {
    assert!(
        pid > 0,
        "sigkill({pid}): refusing to signal a process group or every process"
    );
    // SAFETY: kill has no memory preconditions; pid > 0 names one process.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Runs `cmd` to completion (stdin from `/dev/null`, stdout and stderr captured) with a
/// watchdog: after `timeout` it kills the program and panics. Returns its status and output.
///
/// Both pipes are drained by threads while the program runs, so a program that writes more
/// than a pipe holds does not stall.
pub fn run_with_watchdog(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = wait_child(&mut child, &format!("{cmd:?}"), timeout);
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Waits for `child` to exit; after `timeout`, kills and reaps it and panics (the message
/// names the child as `what`). For a program spawned with its own pipes; [`run_with_watchdog`]
/// covers the common case.
pub fn wait_child(child: &mut Child, what: &str, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: {what} still running after {timeout:?}; killed");
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Polls `cond` (every millisecond) until it holds; panics after `timeout` (a watchdog for
/// the parent side of a handshake).
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// As [`wait_for`], for a handshake with the forked child `pid`: on timeout it SIGKILLs and
/// reaps that child before panicking, so a failed test leaves no process behind.
pub fn wait_for_child(pid: i32, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() >= deadline {
            sigkill(pid);
            let _ = wait_pid(pid, timeout);
            panic!("timed out waiting for {what} (child {pid} killed)");
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// A wall-clock instant `after` from now, as nanoseconds since the epoch (to hand to
/// children through the environment for `wait_until`).
fn start_in(after: Duration) -> u128 {
    (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + after).as_nanos()
}

/// Sleeps, then spins, until the wall-clock time `start` (ns since the epoch), so that
/// several processes act at the same instant.
fn wait_until(start: u128) {
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        if now >= start {
            return;
        }
        if start - now > 2_000_000 {
            thread::sleep(Duration::from_nanos((start - now - 1_000_000) as u64));
        }
        std::hint::spin_loop();
    }
}

/// The environment variable carrying the common start instant of [`race`]'s children.
pub const START_VAR: &str = "IPC_TEST_START_NANOS";

/// Runs a race between real processes: spawns `racers` children of the test `test` in
/// `role` (with the extra environment `envs`), all told one start instant `lead` from now,
/// waits for each with the watchdog, and returns every line they printed with [`report`].
///
/// Each child calls [`wait_for_start`] (once, or once per round with growing offsets) so
/// that the racers really act at the same instant.
pub fn race(
    test: &str,
    role: &str,
    racers: usize,
    envs: &[(&str, &str)],
    lead: Duration,
) -> Vec<String> {
    let start = start_in(lead).to_string();
    let mut envs = envs.to_vec();
    envs.push((START_VAR, &start));
    let children: Vec<ChildProc> = (0..racers).map(|_| spawn_role(test, role, &envs)).collect();
    children.into_iter().flat_map(ChildProc::wait_ok).collect()
}

/// In a child started by [`race`]: waits until the common start instant plus `offset`.
pub fn wait_for_start(offset: Duration) {
    let start: u128 = env(START_VAR).parse().expect("a start instant from race()");
    wait_until(start + offset.as_nanos());
}

/// Checks the reports of an open-or-create race run in `rounds` rounds by `racers`
/// processes, each reporting `"{round} {created} {object id}"` once per round: every round
/// has a report from every racer, exactly one creator, and one object.
pub fn assert_one_creator_per_round(lines: &[String], rounds: usize, racers: usize) {
    for i in 0..rounds {
        let prefix = format!("{i} ");
        let round: Vec<&str> = lines
            .iter()
            .filter_map(|r| r.strip_prefix(&prefix))
            .collect();
        assert_eq!(round.len(), racers, "round {i}: {round:?}");
        let creators = round.iter().filter(|r| r.starts_with("true ")).count();
        assert_eq!(creators, 1, "round {i}: exactly one creator: {round:?}");
        let ids: std::collections::BTreeSet<&str> =
            round.iter().filter_map(|r| r.split(' ').nth(1)).collect();
        assert_eq!(ids.len(), 1, "round {i}: all saw one object: {round:?}");
    }
}

/// Initialises a raw libc mutex with the attributes `ipc_core::sync::RawMutex` uses (robust,
/// process-shared, error-checking): the baseline the lock benchmarks compare against.
/// Panics if a pthread call fails.
///
/// # Safety
/// `m` is valid for writes of a `pthread_mutex_t`, aligned, and used by nobody else until
/// this returns.
pub unsafe fn init_libc_robust_mutex(m: *mut libc::pthread_mutex_t) {
    let mut a = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: `a` is valid for writes of an attribute object; the first call initialises it
    // before the others use it and it is destroyed last. `m` is valid for writes, aligned and
    // unused (this function's contract).
    unsafe {
        assert_eq!(libc::pthread_mutexattr_init(a.as_mut_ptr()), 0);
        let a = a.as_mut_ptr();
        assert_eq!(
            libc::pthread_mutexattr_setpshared(a, libc::PTHREAD_PROCESS_SHARED),
            0
        );
        assert_eq!(
            libc::pthread_mutexattr_setrobust(a, libc::PTHREAD_MUTEX_ROBUST),
            0
        );
        assert_eq!(
            libc::pthread_mutexattr_settype(a, libc::PTHREAD_MUTEX_ERRORCHECK),
            0
        );
        assert_eq!(libc::pthread_mutex_init(m, a), 0);
        libc::pthread_mutexattr_destroy(a);
    }
}

/// Lowers this process's soft limit `resource` (e.g. `libc::RLIMIT_FSIZE`) to `cur`, keeping
/// the hard limit. For a child process of its own: the limit stays for the rest of the
/// process.
pub fn set_soft_rlimit(resource: libc::__rlimit_resource_t, cur: libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for getrlimit and a valid rlimit for setrlimit;
    // lowering a soft limit affects only this process.
    unsafe {
        assert_eq!(libc::getrlimit(resource, &mut lim), 0, "getrlimit");
        lim.rlim_cur = cur;
        assert_eq!(libc::setrlimit(resource, &lim), 0, "setrlimit");
    }
}

/// How many random SIGKILLs a crash-loop test makes: `default`, or the value of the
/// environment variable `IPC_TEST_KILLS` when it is set (the on-demand mode, e.g. `100000`).
pub fn kill_count(default: usize) -> usize {
    std::env::var("IPC_TEST_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A crash loop: keeps `workers` worker processes running (each started by `spawn(slot)`,
/// which returns its pid, e.g. from [`fork_child`]; a worker loops until it is killed and
/// exits only when it finds something wrong), and `kills` times SIGKILLs a randomly chosen
/// one after a random pause of up to `max_pause` (spun, not slept, so the kill lands at an
/// arbitrary instruction of the worker's loop) and starts a replacement in its slot. Then
/// kills the rest.
///
/// Returns an error naming the worker and its exit code when a worker ended on its own
/// before it was killed (its check failed). Every worker is reaped, with a watchdog.
pub fn random_kills(
    kills: usize,
    workers: usize,
    max_pause: Duration,
    seed: u64,
    mut spawn: impl FnMut(usize) -> i32,
) -> Result<(), String> {
    assert!(workers > 0, "random_kills needs a worker");
    let mut rng = xorshift64(seed);
    let mut pids: Vec<i32> = (0..workers).map(&mut spawn).collect();
    let mut result = Ok(());
    let max_nanos = u64::try_from(max_pause.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    for _ in 0..kills {
        let until = Instant::now() + Duration::from_nanos(rng() % max_nanos);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        let slot = (rng() % workers as u64) as usize;
        sigkill(pids[slot]);
        if let Some(code) = wait_pid(pids[slot], WATCHDOG) {
            result = Err(format!(
                "worker {} exited with status {code} before it was killed",
                pids[slot]
            ));
            pids.remove(slot);
            break;
        }
        pids[slot] = spawn(slot);
    }
    for pid in pids {
        sigkill(pid);
        if let Some(code) = wait_pid(pid, WATCHDOG) {
            result = result.and(Err(format!(
                "worker {pid} exited with status {code} before it was killed"
            )));
        }
    }
    result
}

/// The seed of a random crash test: `IPC_TEST_SEED` if set (to replay a run), else one
/// drawn from the clock. Printed, so that a failing run can be replayed.
pub fn test_seed() -> u64 {
    let seed = std::env::var("IPC_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("IPC_TEST_SEED={seed}");
    seed
}

/// A xorshift64 generator (Marsaglia's 13/7/17 variant) started from `seed` (not 0): the
/// same seed gives the same sequence, so a fuzz-style test that fails can be rerun.
pub fn xorshift64(seed: u64) -> impl FnMut() -> u64 {
    assert_ne!(seed, 0, "xorshift64 needs a seed other than 0");
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_with_watchdog_returns_status_and_both_outputs() {
        let o = run_with_watchdog(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            WATCHDOG,
        );
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
    }

    #[test]
    #[should_panic(expected = "watchdog")]
    fn run_with_watchdog_kills_a_hanging_program() {
        run_with_watchdog(Command::new("sleep").arg("30"), Duration::from_millis(200));
    }

    #[test]
    #[should_panic(expected = "timed out waiting for nothing")]
    fn wait_for_panics_after_its_timeout() {
        wait_for("nothing", Duration::from_millis(20), || false);
    }

    #[test]
    fn xorshift64_is_the_13_7_17_shift_and_repeats_for_a_seed() {
        let mut x = 7u64;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a: Vec<u64> = std::iter::repeat_with(xorshift64(7)).take(4).collect();
        assert_eq!(a[0], x);
        let b: Vec<u64> = std::iter::repeat_with(xorshift64(7)).take(4).collect();
        assert_eq!(a, b);
    }
}
