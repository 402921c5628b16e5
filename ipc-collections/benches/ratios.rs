//! The project's performance goals as ratios against baselines measured in the same run.
//!
//! Criterion prints times; on a noisy shared VM two benches measured one after the other
//! can differ by ±50 %, so a ratio of two separately measured medians says little. Here
//! each goal runs its candidate and its baseline **interleaved**: for each of R rounds, one
//! batch of the candidate and one batch of the baseline (the order alternates between
//! rounds, so neither side always runs first), each batch a fixed number of operations
//! timed with [`Instant`]. A disturbance (another process, a frequency change) hits both
//! sides of a round alike, and the per-round ratio cancels it. The table shows the median
//! time per operation of each side over the rounds, and the median of the per-round ratios
//! with their 10th and 90th percentiles.
//!
//! Goals (issues 4 and 6):
//! 1. `RawMutex` uncontended lock+unlock vs a raw `libc` robust, process-shared (and, like
//!    `RawMutex`, error-checking) `pthread_mutex_t` in the same anonymous shared mapping:
//!    ratio <= 1.10. For information also the RAII guard and `SharedMutex<u64>`.
//! 2. `Shared<T>` create + open (a small derived struct, both handles dropped, which
//!    unlinks) vs raw `shm_open(O_CREAT|O_EXCL)` + `ftruncate` + `mmap`, then `shm_open` +
//!    `fstat` + `mmap`, then `munmap`/`close`/`shm_unlink` (both sides write one word as
//!    creator and read one as opener): ratio <= 1.30. For information also `ipc-core`'s
//!    `Shm::create` + `Shm::open` vs the same raw sequence.
//! 3. `SharedArray<f64>` of 8 MiB: fill, copy in, copy out through the lock guard vs the
//!    same `slice::fill` / `copy_from_slice` (memcpy) between heap buffers. These are
//!    throughput goals: the ratio is **baseline time / candidate time** (higher is better),
//!    goal >= 0.90.
//! 4. For information: in-place `Semaphore` post+wait vs raw `sem_post`+`sem_wait`;
//!    `RawCondvar::notify_one` without waiters vs a relaxed atomic increment.
//!
//! For the cost goals (1, 2, 4) the ratio is candidate time / baseline time (lower is
//! better). "met?" compares the median ratio with the target; "(borderline)" means the
//! target lies inside the p10-p90 range of the rounds.
//!
//! ```text
//! cargo bench -p ipc-collections --bench ratios                # full run, about 30-60 s
//! RATIOS_QUICK=1 cargo bench -p ipc-collections --bench ratios # a few seconds
//! cargo bench -p ipc-collections --bench ratios -- --quick --rounds 31 --batch-ms 5 mutex
//! ```
//!
//! Arguments after `--`: `--quick`, `--rounds N`, `--batch-ms MS` (the wall time each batch
//! is calibrated to), and an optional filter (a substring of the goal names). The environment
//! variables `RATIOS_QUICK=1`, `RATIOS_ROUNDS`, `RATIOS_BATCH_MS` do the same. Other
//! `--flags` (criterion's, when all benches get the same arguments) are ignored. Without
//! `--bench` (that is, under `cargo test --benches`) every comparison runs once as a smoke
//! test and no figure means anything.
//!
//! Every shared-memory object has a unique `/ipct-` name with a cleanup guard made right
//! after the name, so nothing is left behind, also when a step fails.

use std::ffi::CString;
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_collections::ipc_core::sem::Semaphore;
use ipc_collections::ipc_core::shm::{AnonShm, Shm};
use ipc_collections::ipc_core::sync::{Acquired, RawCondvar, RawMutex};
use ipc_collections::{Shared, SharedArray, SharedLayout, SharedMutex};
use ipc_testutil::{unique_name, Cleanup};

/// The small derived struct of goal 2 (the same as in the `segment` bench).
#[derive(SharedLayout)]
#[repr(C)]
struct Small {
    hits: AtomicU64,
    data: [u64; 8],
}

/// 8 MiB of `f64`, for goal 3.
const ELEMS: usize = 1 << 20;

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// How much to measure.
#[derive(Debug, Clone)]
struct Config {
    /// Measured rounds per comparison (one candidate batch and one baseline batch each).
    rounds: usize,
    /// Rounds run first and thrown away.
    warmup: usize,
    /// The batch size is calibrated so that the slower side's batch takes about this long.
    batch_target: Duration,
    /// Only goals whose name contains this run.
    filter: Option<String>,
    /// Run under `cargo test`: one round of one operation, no calibration.
    smoke: bool,
}

impl Config {
    fn from_env_and_args() -> Config {
        let mut args: Vec<String> = std::env::args().skip(1).collect();
        let bench = args.iter().any(|a| a == "--bench");
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut quick = env("RATIOS_QUICK").is_some_and(|v| v != "0");
        let mut rounds = env("RATIOS_ROUNDS").and_then(|v| v.parse().ok());
        let mut batch_ms: Option<f64> = env("RATIOS_BATCH_MS").and_then(|v| v.parse().ok());
        let mut filter = None;
        args.reverse();
        while let Some(a) = args.pop() {
            match a.as_str() {
                "--bench" => {}
                "--quick" => quick = true,
                "--rounds" => rounds = args.pop().and_then(|v| v.parse().ok()),
                "--batch-ms" => batch_ms = args.pop().and_then(|v| v.parse().ok()),
                "--help" | "-h" => {
                    println!(
                        "ratios [--quick] [--rounds N] [--batch-ms MS] [FILTER]\n\
                         env: RATIOS_QUICK=1, RATIOS_ROUNDS=N, RATIOS_BATCH_MS=MS"
                    );
                    std::process::exit(0);
                }
                flag if flag.starts_with('-') => {
                    eprintln!("ratios: ignoring argument {flag}");
                    // Criterion's flags mostly take a value: skip it too.
                    if args.last().is_some_and(|v| !v.starts_with('-')) && !flag.contains('=') {
                        args.pop();
                    }
                }
                word => filter = Some(word.to_owned()),
            }
        }
        let (def_rounds, def_ms) = if quick { (21, 2.0) } else { (151, 10.0) };
        let rounds: usize = rounds.unwrap_or(def_rounds).max(1);
        let ms = batch_ms.unwrap_or(def_ms).clamp(0.01, 10_000.0);
        if !bench {
            return Config {
                rounds: 1,
                warmup: 0,
                batch_target: Duration::ZERO,
                filter,
                smoke: true,
            };
        }
        Config {
            rounds,
            warmup: if quick { 2 } else { 5 },
            batch_target: Duration::from_secs_f64(ms / 1e3),
            filter,
            smoke: false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------

/// What the ratio means and what it should be.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// A cost: ratio = candidate time / baseline time, goal `ratio <= x`.
    AtMost(f64),
    /// A throughput: ratio = baseline time / candidate time, goal `ratio >= x`.
    AtLeast(f64),
    /// A cost, for information only (ratio = candidate time / baseline time).
    Info,
}

/// One line of the table.
#[derive(Debug)]
struct Row {
    goal: String,
    /// Median time per operation, in seconds.
    cand: f64,
    base: f64,
    /// Median, 10th and 90th percentile of the per-round ratios.
    ratio: f64,
    p10: f64,
    p90: f64,
    target: Target,
    /// Bytes one operation moves (for a GB/s figure).
    bytes: Option<usize>,
    batch: usize,
}

/// One side of a comparison: runs `n` operations and returns the time they took. Set-up
/// that must not be timed (names, cleanup guards) happens inside, around the timed part.
trait Side {
    fn run(&mut self, n: usize) -> Duration;
}

impl<F: FnMut(usize) -> Duration> Side for F {
    fn run(&mut self, n: usize) -> Duration {
        self(n)
    }
}

/// A side that repeats `op` `n` times, all of it timed.
fn each(mut op: impl FnMut()) -> impl FnMut(usize) -> Duration {
    move |n| {
        let t = Instant::now();
        for _ in 0..n {
            op();
        }
        t.elapsed()
    }
}

/// The value at quantile `q` (nearest rank) of sorted `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Runs `cand` and `base` interleaved and summarises.
fn compare(
    cfg: &Config,
    goal: &str,
    target: Target,
    bytes: Option<usize>,
    mut cand: impl Side,
    mut base: impl Side,
) -> Row {
    let started = Instant::now();
    // Calibrate: grow the batch until the slower side takes at least the target time.
    let mut n = 1usize;
    if !cfg.smoke {
        loop {
            let m = cand.run(n).max(base.run(n));
            if m >= cfg.batch_target || n >= 1 << 26 {
                break;
            }
            let grow = (cfg.batch_target.as_secs_f64() / m.as_secs_f64().max(1e-9)) * 1.1;
            n = ((n as f64 * grow.clamp(2.0, 100.0)).ceil() as usize).min(1 << 26);
        }
    }
    let (mut tc, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..cfg.warmup + cfg.rounds {
        let (c, b) = if i % 2 == 0 {
            let c = cand.run(n);
            (c, base.run(n))
        } else {
            let b = base.run(n);
            (cand.run(n), b)
        };
        if i < cfg.warmup {
            continue;
        }
        let (c, b) = (c.as_secs_f64(), b.as_secs_f64());
        tc.push(c / n as f64);
        tb.push(b / n as f64);
        // A zero time (a coarse clock, a smoke run) would make a ratio infinite.
        let (c, b) = (c.max(1e-9), b.max(1e-9));
        ratios.push(match target {
            Target::AtLeast(_) => b / c,
            Target::AtMost(_) | Target::Info => c / b,
        });
    }
    let (tc, tb, ratios) = (sorted(tc), sorted(tb), sorted(ratios));
    eprintln!(
        "  {goal}: {} rounds x {n} ops, {:.1} s",
        cfg.rounds,
        started.elapsed().as_secs_f64()
    );
    Row {
        goal: goal.to_owned(),
        cand: quantile(&tc, 0.5),
        base: quantile(&tb, 0.5),
        ratio: quantile(&ratios, 0.5),
        p10: quantile(&ratios, 0.1),
        p90: quantile(&ratios, 0.9),
        target,
        bytes,
        batch: n,
    }
}

// ---------------------------------------------------------------------------------------
// Shared memory for the in-place primitives
// ---------------------------------------------------------------------------------------

/// Offsets of the two objects compared, each on its own cache lines.
const SLOT_A: usize = 0;
const SLOT_B: usize = 256;

/// One page of anonymous shared memory (the kind forked children share) holding the
/// candidate at `SLOT_A` and the baseline at `SLOT_B`.
fn two_slots() -> AnonShm {
    AnonShm::new(4096).expect("mmap one page")
}

/// A raw libc mutex with `RawMutex`'s attributes: robust, process-shared, error-checking.
///
/// # Safety
/// `m` is valid for writes of a `pthread_mutex_t`, aligned, and unused by anybody else.
unsafe fn init_libc_mutex(m: *mut libc::pthread_mutex_t) {
    let mut a = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: `a` is valid for writes of an attribute object; it is initialised by the first
    // call before the others use it and destroyed last. `m` is valid for writes, aligned and
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

/// The raw libc baseline of goal 1: `pthread_mutex_lock` + `pthread_mutex_unlock`.
fn libc_lock_unlock(p: *mut libc::pthread_mutex_t) -> impl FnMut(usize) -> Duration {
    each(move || {
        let p = black_box(p);
        // SAFETY: `p` points to a mutex initialised by `init_libc_mutex` in a mapping that
        // outlives this closure (the caller keeps it); this thread unlocks what it locked.
        unsafe {
            let r = libc::pthread_mutex_lock(p);
            assert!(r == 0, "pthread_mutex_lock: {r}");
            libc::pthread_mutex_unlock(p);
        }
    })
}

fn goal_mutex(cfg: &Config, rows: &mut Vec<Row>) {
    let map = two_slots();
    let ours = map.as_ptr().wrapping_add(SLOT_A).cast::<RawMutex>();
    let theirs = map
        .as_ptr()
        .wrapping_add(SLOT_B)
        .cast::<libc::pthread_mutex_t>();
    // SAFETY: both slots lie inside the one-page mapping (offsets 0 and 256, each object
    // under 64 bytes), are aligned (page-aligned base, offsets multiples of 256), zeroed,
    // and nobody else uses the fresh mapping.
    unsafe {
        RawMutex::init_in_place(ours).expect("RawMutex init");
        init_libc_mutex(theirs);
    }
    // SAFETY: initialised just above; the mapping outlives every use (`map` lives to the end
    // of this function) and the mutex never moves.
    let m: &RawMutex = unsafe { &*ours };

    if cfg.wants("1 RawMutex lock+unlock") {
        rows.push(compare(
            cfg,
            "1 RawMutex lock+unlock",
            Target::AtMost(1.10),
            None,
            each(|| {
                let a = black_box(m).lock();
                assert!(matches!(a, Ok(Acquired::Clean)), "lock: {a:?}");
                // SAFETY: locked just above by this thread.
                unsafe { m.unlock() };
            }),
            libc_lock_unlock(theirs),
        ));
    }
    if cfg.wants("1 RawMutex guard (info)") {
        rows.push(compare(
            cfg,
            "1 RawMutex guard (info)",
            Target::Info,
            None,
            each(|| drop(black_box(m).guard().expect("lock"))),
            libc_lock_unlock(theirs),
        ));
    }
    if cfg.wants("1 SharedMutex<u64> lock (info)") {
        let len = Shared::<SharedMutex<u64>, AnonShm>::segment_len().expect("segment_len");
        let sm = Shared::<SharedMutex<u64>, AnonShm>::create_in(
            AnonShm::new(len).expect("mmap"),
            |_| {},
        )
        .expect("create_in");
        rows.push(compare(
            cfg,
            "1 SharedMutex<u64> lock (info)",
            Target::Info,
            None,
            each(|| {
                let mut g = black_box(&*sm).lock().expect("lock");
                *g = black_box(*g);
            }),
            libc_lock_unlock(theirs),
        ));
    }
    drop(map);
}

// ---------------------------------------------------------------------------------------
// Goal 2: create + open
// ---------------------------------------------------------------------------------------

/// `n` fresh unique names (all with a tag of the same length), each with a guard that
/// unlinks it whatever happens.
fn fresh_names(tag: &str, n: usize) -> (Vec<String>, Vec<Cleanup>) {
    let names: Vec<String> = (0..n).map(|_| unique_name(tag)).collect();
    let guards = names.iter().map(|s| Cleanup::shm(s)).collect();
    (names, guards)
}

/// The raw baseline of goal 2: create, open, touch, tear down one `len`-byte object.
fn raw_create_open(name: &CString, len: usize) {
    // SAFETY: plain system calls with valid arguments: a NUL-terminated name, the fds just
    // returned (checked), mappings of `len` bytes of objects at least `len` bytes long
    // (ftruncate'd to `len`; the opener maps the fstat size), each word touched lies at
    // offset 0 of a live, page-aligned mapping, and each mapping, fd and name is released
    // exactly once before returning.
    unsafe {
        let fd = libc::shm_open(
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
            0o600,
        );
        assert!(fd >= 0, "shm_open create");
        assert_eq!(libc::ftruncate(fd, len as libc::off_t), 0, "ftruncate");
        let a = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        assert_ne!(a, libc::MAP_FAILED, "mmap create");
        let fd2 = libc::shm_open(name.as_ptr(), libc::O_RDWR, 0);
        assert!(fd2 >= 0, "shm_open open");
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(fd2, &mut st), 0, "fstat");
        let len2 = st.st_size as usize;
        let b = libc::mmap(
            std::ptr::null_mut(),
            len2,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd2,
            0,
        );
        assert_ne!(b, libc::MAP_FAILED, "mmap open");
        // Touch both, as the typed path does (header written by the creator, read by the
        // opener).
        a.cast::<u64>().write_volatile(1);
        black_box(b.cast::<u64>().read_volatile());
        libc::munmap(b, len2);
        libc::close(fd2);
        libc::munmap(a, len);
        libc::close(fd);
        libc::shm_unlink(name.as_ptr());
    }
}

/// The raw side of goal 2 as a [`Side`]: names made (untimed), then `n` raw cycles.
fn raw_side(len: usize) -> impl FnMut(usize) -> Duration {
    move |n| {
        let (names, _guards) = fresh_names("r", n);
        let cnames: Vec<CString> = names
            .iter()
            .map(|s| CString::new(s.as_str()).expect("no NUL"))
            .collect();
        let t = Instant::now();
        for c in &cnames {
            raw_create_open(c, len);
        }
        t.elapsed()
    }
}

fn goal_create_open(cfg: &Config, rows: &mut Vec<Row>) {
    let len = Shared::<Small>::segment_len().expect("segment_len");
    if cfg.wants("2 Shared<T> create+open") {
        rows.push(compare(
            cfg,
            "2 Shared<T> create+open",
            Target::AtMost(1.30),
            None,
            |n| {
                let (names, _guards) = fresh_names("s", n);
                let t = Instant::now();
                for name in &names {
                    let s = Shared::<Small>::create(name, |s| s.data[0] = 1).expect("create");
                    let o = Shared::<Small>::open(name).expect("open");
                    black_box(o.data[0]);
                    drop(o);
                    drop(s);
                }
                t.elapsed()
            },
            raw_side(len),
        ));
    }
    if cfg.wants("2 Shm create+open (info)") {
        rows.push(compare(
            cfg,
            "2 Shm create+open (info)",
            Target::Info,
            None,
            |n| {
                let (names, _guards) = fresh_names("c", n);
                let t = Instant::now();
                for name in &names {
                    let s = Shm::create(name, len).expect("create");
                    let o = Shm::open(name).expect("open");
                    assert!(s.len() >= 8 && o.len() >= 8);
                    // SAFETY: both mappings are live, page-aligned and at least 8 bytes long
                    // (checked above); `s` and `o` outlive the accesses.
                    unsafe {
                        s.as_ptr().cast::<u64>().write_volatile(1);
                        black_box(o.as_ptr().cast::<u64>().read_volatile());
                    }
                    drop(o);
                    drop(s);
                }
                t.elapsed()
            },
            raw_side(len),
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Goal 3: array throughput
// ---------------------------------------------------------------------------------------

fn goal_array(cfg: &Config, rows: &mut Vec<Row>) {
    let goals = [
        "3 SharedArray fill 8 MiB",
        "3 SharedArray copy in 8 MiB",
        "3 SharedArray copy out 8 MiB",
    ];
    if !goals.iter().any(|g| cfg.wants(g)) {
        return;
    }
    let name = unique_name("a");
    let _cleanup = Cleanup::shm(&name);
    let a = SharedArray::<f64>::create(&name, &[1024, ELEMS / 1024]).expect("create");
    let src: Vec<f64> = (0..ELEMS).map(|i| i as f64).collect();
    let mut heap = vec![1.0f64; ELEMS];
    let mut out = vec![1.0f64; ELEMS];
    a.lock().expect("lock").fill(1.0);
    let bytes = Some(ELEMS * std::mem::size_of::<f64>());
    let target = Target::AtLeast(0.90);

    if cfg.wants(goals[0]) {
        let heap = &mut heap;
        rows.push(compare(
            cfg,
            goals[0],
            target,
            bytes,
            each(|| black_box(&a).lock().expect("lock").fill(black_box(2.5))),
            each(|| black_box(heap.as_mut_slice()).fill(black_box(2.5))),
        ));
    }
    if cfg.wants(goals[1]) {
        let heap = &mut heap;
        rows.push(compare(
            cfg,
            goals[1],
            target,
            bytes,
            each(|| {
                black_box(&a)
                    .lock()
                    .expect("lock")
                    .copy_from_slice(black_box(&src))
            }),
            each(|| black_box(heap.as_mut_slice()).copy_from_slice(black_box(&src))),
        ));
    }
    if cfg.wants(goals[2]) {
        // Two destinations, so the sides do not share one buffer's cache state.
        let mut out2 = out.clone();
        let (out, out2, heap) = (&mut out, &mut out2, &heap);
        rows.push(compare(
            cfg,
            goals[2],
            target,
            bytes,
            each(|| {
                black_box(out.as_mut_slice()).copy_from_slice(&black_box(&a).lock().expect("lock"))
            }),
            each(|| black_box(out2.as_mut_slice()).copy_from_slice(black_box(heap))),
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Goal 4 (information): semaphore and condvar
// ---------------------------------------------------------------------------------------

fn info_sem_condvar(cfg: &Config, rows: &mut Vec<Row>) {
    if cfg.wants("4 Semaphore post+wait (info)") {
        let map = two_slots();
        let ours = map.as_ptr().wrapping_add(SLOT_A).cast::<Semaphore>();
        let theirs = map.as_ptr().wrapping_add(SLOT_B).cast::<libc::sem_t>();
        // SAFETY: both slots lie inside the one-page mapping, are aligned (page-aligned base,
        // offsets multiples of 256; sem_t needs 8) and unused by anybody else.
        unsafe {
            Semaphore::init_in_place(ours).expect("sem init");
            assert_eq!(libc::sem_init(theirs, 1, 0), 0, "sem_init");
        }
        // SAFETY: initialised above; `map` outlives every use and the semaphore never moves.
        let s: &Semaphore = unsafe { &*ours };
        rows.push(compare(
            cfg,
            "4 Semaphore post+wait (info)",
            Target::Info,
            None,
            each(|| {
                black_box(s).post().expect("post");
                s.wait().expect("wait");
            }),
            each(|| {
                let p = black_box(theirs);
                // SAFETY: `p` is the semaphore initialised by `sem_init` above, in a mapping
                // that outlives this closure; the post makes the wait return at once.
                unsafe {
                    assert_eq!(libc::sem_post(p), 0, "sem_post");
                    assert_eq!(libc::sem_wait(p), 0, "sem_wait");
                }
            }),
        ));
        drop(map);
    }
    if cfg.wants("4 Condvar notify_one, no waiter (info)") {
        let map = two_slots();
        let ours = map.as_ptr().wrapping_add(SLOT_A).cast::<RawCondvar>();
        // SAFETY: the slot lies inside the fresh, zeroed, page-aligned mapping nobody else
        // uses.
        unsafe { RawCondvar::init_in_place(ours) }.expect("condvar init");
        // SAFETY: initialised above (all-zero memory is a condvar); `map` outlives every
        // use. The counter is a zeroed, 4-aligned AtomicU32 in the same mapping, also only
        // reached through atomic operations.
        let (cv, counter): (&RawCondvar, &AtomicU32) = unsafe {
            (
                &*ours,
                &*map.as_ptr().wrapping_add(SLOT_B).cast::<AtomicU32>(),
            )
        };
        rows.push(compare(
            cfg,
            "4 Condvar notify_one, no waiter (info)",
            Target::Info,
            None,
            each(|| black_box(cv).notify_one()),
            each(|| {
                black_box(counter).fetch_add(1, Ordering::Relaxed);
            }),
        ));
        drop(map);
    }
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

fn fmt_time(secs: f64) -> String {
    match secs {
        s if s < 1e-6 => format!("{:.1} ns", s * 1e9),
        s if s < 1e-3 => format!("{:.2} us", s * 1e6),
        s => format!("{:.3} ms", s * 1e3),
    }
}

fn fmt_side(secs: f64, bytes: Option<usize>) -> String {
    match bytes {
        Some(b) => format!("{} ({:.1} GB/s)", fmt_time(secs), b as f64 / secs / 1e9),
        None => fmt_time(secs),
    }
}

fn print_table(cfg: &Config, rows: &[Row], elapsed: Duration) -> std::io::Result<()> {
    let mut o = std::io::stdout().lock();
    writeln!(o)?;
    if cfg.smoke {
        writeln!(
            o,
            "SMOKE RUN (no --bench argument): every comparison ran once; the figures mean nothing."
        )?;
    }
    writeln!(
        o,
        "Interleaved: {} rounds (+{} warm-up) per goal, each round one batch of candidate and \
         one of baseline, batches ~{:.0} ms; total {:.1} s.",
        cfg.rounds,
        cfg.warmup,
        cfg.batch_target.as_secs_f64() * 1e3,
        elapsed.as_secs_f64()
    )?;
    writeln!(
        o,
        "Times: median per operation. Ratio: median of the per-round ratios [p10-p90]; \
         cost goals (<=, info) = candidate/baseline time, lower is better; throughput goals \
         (>=) = baseline/candidate time, higher is better."
    )?;
    let head = [
        "goal",
        "candidate median",
        "baseline median",
        "ratio [p10-p90]",
        "target",
        "met?",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let (target, met) = match r.target {
                Target::AtMost(x) => (format!("<= {x:.2}"), r.ratio <= x),
                Target::AtLeast(x) => (format!(">= {x:.2}"), r.ratio >= x),
                Target::Info => ("-".to_owned(), true),
            };
            let met = match r.target {
                _ if cfg.smoke => "(smoke)".to_owned(),
                Target::Info => "-".to_owned(),
                Target::AtMost(x) | Target::AtLeast(x) => {
                    let verdict = if met { "yes" } else { "NO" };
                    if r.p10 <= x && x <= r.p90 {
                        format!("{verdict} (borderline)")
                    } else {
                        verdict.to_owned()
                    }
                }
            };
            [
                r.goal.clone(),
                fmt_side(r.cand, r.bytes),
                fmt_side(r.base, r.bytes),
                format!("{:.3} [{:.3}-{:.3}]", r.ratio, r.p10, r.p90),
                target,
                met,
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |o: &mut std::io::StdoutLock, cols: &[&str]| -> std::io::Result<()> {
        let padded: Vec<String> = cols
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(o, "{}", padded.join(" | ").trim_end())
    };
    line(&mut o, &head)?;
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(o, "{}", rule.join("-|-"))?;
    for row in &cells {
        line(&mut o, &row.each_ref().map(String::as_str))?;
    }
    writeln!(o)?;
    writeln!(
        o,
        "Baselines: 1 = libc pthread_mutex_lock+unlock (robust, pshared, errorcheck) in the same \
         anonymous shared page; 2 = shm_open(O_CREAT|O_EXCL)+ftruncate+mmap, shm_open+fstat+mmap, \
         munmap/close/shm_unlink; 3 = slice::fill / copy_from_slice (memcpy) between heap Vecs; \
         4 = libc sem_post+sem_wait (pshared) / AtomicU32::fetch_add(Relaxed)."
    )?;
    let batches: Vec<String> = rows
        .iter()
        .map(|r| format!("{}: {}", r.goal, r.batch))
        .collect();
    writeln!(o, "Ops per batch: {}", batches.join("; "))?;
    o.flush()
}

impl Config {
    fn wants(&self, goal: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| goal.contains(f))
    }
}

fn main() {
    let cfg = Config::from_env_and_args();
    let started = Instant::now();
    let mut rows = Vec::new();
    goal_mutex(&cfg, &mut rows);
    goal_create_open(&cfg, &mut rows);
    goal_array(&cfg, &mut rows);
    info_sem_condvar(&cfg, &mut rows);
    // A closed stdout (piped into `head`) is not worth a panic.
    let _ = print_table(&cfg, &rows, started.elapsed());
}
