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
//! On a busy 2-core machine a batch often loses a time slice to another process. Each batch
//! therefore also reads this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) before and after:
//! a round counts only when both of its batches stayed on the CPU for at least 99 % of
//! their wall-clock time (the figures themselves are wall-clock, from `Instant`). Batches
//! are short (about 0.5 ms), so most rounds come out clean and the two sides of a round run
//! under nearly the same conditions (with 3 ms batches the 8 MiB copies swung between runs
//! far more); rounds are run until 2001 are clean or the comparison's time budget (4 s)
//! is spent. If fewer than 11 are clean, every round is used and the row is marked `*`.
//! What this cannot see: other processes competing for caches and memory bandwidth, and a
//! hypervisor stealing the virtual CPU.
//!
//! Goals (issues 4 and 6):
//! 1. `RawMutex` uncontended lock+unlock vs a raw `libc` robust, process-shared (and, like
//!    `RawMutex`, error-checking) `pthread_mutex_t` in the same anonymous shared mapping:
//!    ratio <= 1.10. For information also the RAII guard, `SharedMutex<u64>`, and raw
//!    `pthread_mutex_trylock` + unlock (`RawMutex::lock` tries that first).
//! 2. `Shared<T>` create + open (a small derived struct, both handles dropped, which
//!    unlinks) vs raw `shm_open(O_CREAT|O_EXCL)` + `ftruncate` + `mmap`, then `shm_open` +
//!    `fstat` + `mmap`, then `munmap`/`close`/`shm_unlink` (both sides write one word as
//!    creator and read one as opener): ratio <= 1.30. For information also `ipc-core`'s
//!    `Shm::create` + `Shm::open` vs the same raw sequence.
//! 3. `SharedArray<f64>` of 8 MiB: fill, copy in, copy out through the lock guard vs the
//!    same `slice::fill` / `copy_from_slice` (memcpy) between heap buffers (`Vec<f64>`s,
//!    used from a 64-byte boundary like the array's payload). These are
//!    throughput goals: the ratio is **baseline time / candidate time** (higher is better),
//!    goal >= 0.90.
//! 4. For information: in-place `Semaphore` post+wait vs raw `sem_post`+`sem_wait` (and raw
//!    `sem_post`+`sem_trywait`, which `Semaphore::wait` tries first);
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
    /// Clean rounds wanted per comparison (one candidate batch and one baseline batch each,
    /// neither descheduled).
    rounds: usize,
    /// Rounds run first and thrown away.
    warmup: usize,
    /// The batch size is calibrated so that the slower side's batch takes about this long.
    batch_target: Duration,
    /// The most time spent collecting rounds for one comparison.
    budget: Duration,
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
        let (def_rounds, def_ms, budget) = if quick {
            (201, 0.5, 0.4f64)
        } else {
            (2001, 0.5, 4.0)
        };
        let explicit = rounds.is_some() || batch_ms.is_some();
        let rounds: usize = rounds.unwrap_or(def_rounds).max(1);
        let ms = batch_ms.unwrap_or(def_ms).clamp(0.01, 10_000.0);
        if !bench {
            return Config {
                rounds: 1,
                warmup: 0,
                batch_target: Duration::ZERO,
                budget: Duration::ZERO,
                filter,
                smoke: true,
            };
        }
        // An explicit round count or batch gets the time it needs.
        let budget = if explicit {
            budget.max(rounds as f64 * ms * 2.0 * 2.5 / 1e3)
        } else {
            budget
        };
        Config {
            rounds,
            warmup: if quick { 3 } else { 10 },
            batch_target: Duration::from_secs_f64(ms / 1e3),
            budget: Duration::from_secs_f64(budget),
            filter,
            smoke: false,
        }
    }

    fn wants(&self, goal: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| goal.contains(f))
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
    /// Rounds used and rounds run.
    used: usize,
    ran: usize,
    /// Too few clean rounds: every round was used.
    noisy: bool,
}

/// The time one batch took: wall-clock ([`Instant`], the figure reported) and this
/// thread's CPU time over the same interval (only to see whether it was descheduled).
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

impl Timing {
    /// Whether the thread ran for (nearly) the whole batch: off the CPU for at most 1 % of
    /// the wall-clock time. A batch that lost a time slice to another process is not clean.
    fn clean(&self) -> bool {
        self.wall.saturating_sub(self.cpu) <= self.wall / 100
    }
}

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`: the CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times a batch (the wall-clock interval lies inside the CPU-time interval).
struct Stopwatch {
    cpu: Duration,
    wall: Instant,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        let cpu = thread_cpu_time();
        Stopwatch {
            cpu,
            wall: Instant::now(),
        }
    }

    fn stop(self) -> Timing {
        let wall = self.wall.elapsed();
        Timing {
            wall,
            cpu: thread_cpu_time().saturating_sub(self.cpu),
        }
    }
}

/// One side of a comparison: runs `n` operations and returns the time they took. Set-up
/// that must not be timed (names, cleanup guards) happens inside, around the timed part.
trait Side {
    fn run(&mut self, n: usize) -> Timing;
}

impl<F: FnMut(usize) -> Timing> Side for F {
    fn run(&mut self, n: usize) -> Timing {
        self(n)
    }
}

/// A side that repeats `op` `n` times, all of it timed.
fn each(mut op: impl FnMut()) -> impl FnMut(usize) -> Timing {
    move |n| {
        let t = Stopwatch::start();
        for _ in 0..n {
            op();
        }
        t.stop()
    }
}

/// The value at quantile `q` (nearest rank) of sorted, non-empty `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// The largest batch calibration chooses.
const MAX_BATCH: usize = 1 << 26;

/// Fewer clean rounds than this, and every round is used (the row is marked noisy).
const MIN_CLEAN: usize = 11;

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
    // Calibrate: grow the batch until the slower side takes at least the target time, then
    // scale it to the target from the median of three such (long enough) measurements.
    let mut n = 1usize;
    if !cfg.smoke {
        let target = cfg.batch_target.as_secs_f64();
        // Time on the CPU, so that a lost time slice does not shrink the batch.
        let mut slower = |n| {
            let (c, b) = (cand.run(n), base.run(n));
            c.wall
                .min(c.cpu)
                .max(b.wall.min(b.cpu))
                .as_secs_f64()
                .max(1e-9)
        };
        loop {
            let m = slower(n);
            if m >= target || n >= MAX_BATCH {
                let m = sorted(vec![m, slower(n), slower(n)])[1];
                n = ((n as f64 * target / m).round() as usize).clamp(1, MAX_BATCH);
                break;
            }
            let grow = (target / m * 1.1).clamp(2.0, 100.0);
            n = ((n as f64 * grow).ceil() as usize).min(MAX_BATCH);
        }
    }
    // Rounds: (candidate, baseline) wall-clock seconds per batch, and whether both were
    // clean. The order alternates so that neither side always runs first.
    let mut rounds: Vec<(f64, f64, bool)> = Vec::new();
    let measuring = Instant::now();
    let mut i = 0usize;
    loop {
        let (c, b) = if i % 2 == 0 {
            let c = cand.run(n);
            (c, base.run(n))
        } else {
            let b = base.run(n);
            (cand.run(n), b)
        };
        i += 1;
        if i <= cfg.warmup {
            continue;
        }
        let clean = c.clean() && b.clean();
        rounds.push((c.wall.as_secs_f64(), b.wall.as_secs_f64(), clean));
        let have = rounds.iter().filter(|r| r.2).count();
        if have >= cfg.rounds || measuring.elapsed() >= cfg.budget {
            break;
        }
    }
    let clean = rounds.iter().filter(|r| r.2).count();
    let noisy = clean < cfg.rounds.min(MIN_CLEAN);
    let used: Vec<(f64, f64)> = rounds
        .iter()
        .filter(|r| r.2 || noisy)
        .map(|r| (r.0, r.1))
        .collect();
    let per_op = |t: f64| t / n as f64;
    let tc = sorted(used.iter().map(|r| per_op(r.0)).collect());
    let tb = sorted(used.iter().map(|r| per_op(r.1)).collect());
    let ratios = sorted(
        used.iter()
            .map(|&(c, b)| {
                // A zero time (a coarse clock, a smoke run) would make a ratio infinite.
                let (c, b) = (c.max(1e-9), b.max(1e-9));
                match target {
                    Target::AtLeast(_) => b / c,
                    Target::AtMost(_) | Target::Info => c / b,
                }
            })
            .collect(),
    );
    eprintln!(
        "  {goal}: {} of {} rounds clean, {n} ops per batch, {:.1} s",
        clean,
        rounds.len(),
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
        used: used.len(),
        ran: rounds.len(),
        noisy,
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

/// The raw libc baseline of goal 1: `pthread_mutex_lock` + `pthread_mutex_unlock`.
fn libc_lock_unlock(p: *mut libc::pthread_mutex_t) -> impl FnMut(usize) -> Timing {
    each(move || {
        let p = black_box(p);
        // SAFETY: `p` points to a mutex initialised by `init_libc_robust_mutex` in a mapping that
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
        ipc_testutil::init_libc_robust_mutex(theirs);
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
    if cfg.wants("1 libc trylock+unlock (info)") {
        // Where RawMutex's cost comes from: it calls pthread_mutex_trylock first.
        rows.push(compare(
            cfg,
            "1 libc trylock+unlock (info)",
            Target::Info,
            None,
            each(|| {
                let p = black_box(theirs);
                // SAFETY: as in `libc_lock_unlock`: an initialised mutex in a live mapping;
                // this thread unlocks what its successful trylock locked.
                unsafe {
                    let r = libc::pthread_mutex_trylock(p);
                    assert!(r == 0, "pthread_mutex_trylock: {r}");
                    libc::pthread_mutex_unlock(p);
                }
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
fn raw_side(len: usize) -> impl FnMut(usize) -> Timing {
    move |n| {
        let (names, _guards) = fresh_names("r", n);
        let cnames: Vec<CString> = names
            .iter()
            .map(|s| CString::new(s.as_str()).expect("no NUL"))
            .collect();
        let t = Stopwatch::start();
        for c in &cnames {
            raw_create_open(c, len);
        }
        t.stop()
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
                let t = Stopwatch::start();
                for name in &names {
                    let s = Shared::<Small>::create(name, |s| s.data[0] = 1).expect("create");
                    let o = Shared::<Small>::open(name).expect("open");
                    black_box(o.data[0]);
                    drop(o);
                    drop(s);
                }
                t.stop()
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
                let t = Stopwatch::start();
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
                t.stop()
            },
            raw_side(len),
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Goal 3: array throughput
// ---------------------------------------------------------------------------------------

/// `ELEMS` heap `f64`s (a `Vec`, written once so its pages are mapped) starting on a
/// 64-byte boundary, as the `SharedArray` payload does. A large `Vec` from glibc's malloc
/// starts 16 bytes past a page boundary, and a memcpy from or to such a buffer can be
/// slower than between aligned ones, which would flatter the candidate.
struct Aligned {
    v: Vec<f64>,
    off: usize,
}

impl Aligned {
    fn new() -> Aligned {
        let v = vec![1.0f64; ELEMS + 8];
        let off = v.as_ptr().align_offset(64);
        assert!(off < 8, "an f64 pointer is 8-aligned");
        Aligned { v, off }
    }

    fn get(&mut self) -> &mut [f64] {
        &mut self.v[self.off..self.off + ELEMS]
    }
}

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
    let mut src = Aligned::new();
    for (i, x) in src.get().iter_mut().enumerate() {
        *x = i as f64;
    }
    let src = &*src.get();
    let mut heap = Aligned::new();
    let mut out = Aligned::new();
    a.lock().expect("lock").fill(1.0);
    let bytes = Some(ELEMS * std::mem::size_of::<f64>());
    let target = Target::AtLeast(0.90);

    if cfg.wants(goals[0]) {
        let heap = heap.get();
        rows.push(compare(
            cfg,
            goals[0],
            target,
            bytes,
            each(|| black_box(&a).lock().expect("lock").fill(black_box(2.5))),
            each(|| black_box(&mut *heap).fill(black_box(2.5))),
        ));
    }
    if cfg.wants(goals[1]) {
        let heap = heap.get();
        rows.push(compare(
            cfg,
            goals[1],
            target,
            bytes,
            each(|| {
                black_box(&a)
                    .lock()
                    .expect("lock")
                    .copy_from_slice(black_box(src))
            }),
            each(|| black_box(&mut *heap).copy_from_slice(black_box(src))),
        ));
    }
    if cfg.wants(goals[2]) {
        // Two destinations, so the sides do not share one buffer's cache state.
        let mut out2 = Aligned::new();
        let (out, out2, heap) = (out.get(), out2.get(), &*heap.get());
        rows.push(compare(
            cfg,
            goals[2],
            target,
            bytes,
            each(|| black_box(&mut *out).copy_from_slice(&black_box(&a).lock().expect("lock"))),
            each(|| black_box(&mut *out2).copy_from_slice(black_box(heap))),
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Goal 4 (information): semaphore and condvar
// ---------------------------------------------------------------------------------------

fn info_sem_condvar(cfg: &Config, rows: &mut Vec<Row>) {
    let sem_goals = [
        "4 Semaphore post+wait (info)",
        "4 libc sem_post+sem_trywait (info)",
    ];
    if sem_goals.iter().any(|g| cfg.wants(g)) {
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
        if cfg.wants(sem_goals[0]) {
            rows.push(compare(
                cfg,
                sem_goals[0],
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
        }
        if cfg.wants(sem_goals[1]) {
            // Where Semaphore::wait's cost comes from: it calls sem_trywait first.
            rows.push(compare(
                cfg,
                sem_goals[1],
                Target::Info,
                None,
                each(|| {
                    let p = black_box(theirs);
                    // SAFETY: as below; the post makes the trywait succeed.
                    unsafe {
                        assert_eq!(libc::sem_post(p), 0, "sem_post");
                        assert_eq!(libc::sem_trywait(p), 0, "sem_trywait");
                    }
                }),
                each(|| {
                    let p = black_box(theirs);
                    // SAFETY: `p` is the semaphore initialised by `sem_init` above, in a
                    // mapping that outlives this closure; the post makes the wait return.
                    unsafe {
                        assert_eq!(libc::sem_post(p), 0, "sem_post");
                        assert_eq!(libc::sem_wait(p), 0, "sem_wait");
                    }
                }),
            ));
        }
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
        "Interleaved: per goal up to {} clean rounds (+{} warm-up, at most {:.1} s), each round \
         one batch of candidate and one of baseline, batches ~{:.1} ms, timed with Instant; a \
         round is clean when neither batch was off the CPU for more than 1% of it (thread CPU \
         time). Total {:.1} s.",
        cfg.rounds,
        cfg.warmup,
        cfg.budget.as_secs_f64(),
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
                format!(
                    "{:.3} [{:.3}-{:.3}]{}",
                    r.ratio,
                    r.p10,
                    r.p90,
                    if r.noisy { " *" } else { "" }
                ),
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
         munmap/close/shm_unlink; 3 = slice::fill / copy_from_slice (memcpy) between 64-byte-aligned heap Vecs; \
         4 = libc sem_post+sem_wait (pshared) / AtomicU32::fetch_add(Relaxed)."
    )?;
    let batches: Vec<String> = rows
        .iter()
        .map(|r| format!("{}: {} x {}", r.goal, r.used, r.batch))
        .collect();
    writeln!(o, "Rounds used x ops per batch: {}", batches.join("; "))?;
    if rows.iter().any(|r| r.noisy) {
        writeln!(
            o,
            "* fewer than {MIN_CLEAN} clean rounds: every round run was used (the machine was \
             busy); treat that row with suspicion."
        )?;
    }
    let ran: usize = rows.iter().map(|r| r.ran).sum();
    let used: usize = rows.iter().map(|r| r.used).sum();
    writeln!(o, "Rounds: {used} used of {ran} run.")?;
    o.flush()
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
