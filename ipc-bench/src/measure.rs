//! The interleaved-ratio machinery (moved here from `ipc-collections/benches/ratios.rs`).
//!
//! On a noisy shared machine two benchmarks measured one after the other can differ by
//! ±50 %, so a ratio of two separately measured medians says little. Here every
//! implementation of a scenario runs **interleaved**: for each of R rounds, one batch of
//! each (the order rotates between rounds, so nobody always runs first), each batch a fixed
//! number of operations calibrated to about the same wall time. A disturbance (another
//! process, a frequency change) hits a whole round alike, and the per-round ratio to the
//! baseline cancels it. A row reports the median, 10th and 90th percentile of its time per
//! operation over the rounds, and the median of its per-round ratios to the baseline.
//!
//! Batches timed by one thread of one process (lock, create+open, array copies) also read
//! that thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`): a round counts only when each such
//! batch stayed on the CPU for at least 99 % of its wall time. If fewer than [`MIN_CLEAN`]
//! rounds are clean, every round is used and the row is marked noisy. Batches that span two
//! processes (ping-pong, streaming) cannot be checked that way; their medians carry it.
//! What this cannot see: other processes competing for caches and memory bandwidth, and a
//! hypervisor stealing the virtual CPU.

use std::time::{Duration, Instant};

/// The wall time of one batch, and (when one thread timed it alone) its CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub wall: Duration,
    pub cpu: Option<Duration>,
}

impl Timing {
    /// A batch timed across processes: no CPU-time check.
    pub fn wall(wall: Duration) -> Timing {
        Timing { wall, cpu: None }
    }

    /// Whether the thread ran for (nearly) the whole batch: off the CPU for at most 1 % of
    /// the wall time. Cross-process batches count as clean.
    pub fn clean(&self) -> bool {
        self.cpu
            .is_none_or(|cpu| self.wall.saturating_sub(cpu) <= self.wall / 100)
    }
}

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`: the CPU time this thread has used.
pub fn thread_cpu_time() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// `clock_gettime(CLOCK_MONOTONIC)` as nanoseconds: one clock for every process of the
/// machine, so a time stamp taken in a child can be compared with one taken here.
pub fn monotonic_ns() -> u64 {
    let d = clock(libc::CLOCK_MONOTONIC);
    d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos())
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used are ones Linux supports.
    let r = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(r, 0, "clock_gettime({id})");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times a batch in one thread (the wall-clock interval lies inside the CPU-time interval).
pub struct Stopwatch {
    cpu: Duration,
    wall: Instant,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        let cpu = thread_cpu_time();
        Stopwatch {
            cpu,
            wall: Instant::now(),
        }
    }

    pub fn stop(self) -> Timing {
        let wall = self.wall.elapsed();
        Timing {
            wall,
            cpu: Some(thread_cpu_time().saturating_sub(self.cpu)),
        }
    }
}

/// One implementation of a scenario, ready to run batches.
pub trait Imp {
    /// Runs `n` operations and returns the time they took. Set-up that must not be timed
    /// happens inside, around the timed part. An error ends this implementation's row.
    fn batch(&mut self, n: u64) -> Result<Timing, String>;
}

/// Implementations, boxed.
pub type Imps = Vec<Box<dyn Imp>>;

/// What must outlive a scenario's implementations (cleanup guards, segments, folders).
pub type Keep = Vec<Box<dyn std::any::Any>>;

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Config {
    pub quick: bool,
    /// Rounds wanted per scenario (clean ones, where that can be checked).
    pub rounds: usize,
    /// Rounds run first and thrown away.
    pub warmup: usize,
    /// Each implementation's batch is calibrated to take about this long.
    pub batch_target: Duration,
    /// The most time spent collecting rounds for one scenario.
    pub budget: Duration,
}

impl Config {
    pub fn new(quick: bool) -> Config {
        if quick {
            Config {
                quick,
                rounds: 15,
                warmup: 1,
                batch_target: Duration::from_millis(1),
                budget: Duration::from_millis(1500),
            }
        } else {
            Config {
                quick,
                rounds: 201,
                warmup: 5,
                batch_target: Duration::from_millis(4),
                budget: Duration::from_secs(12),
            }
        }
    }
}

/// The largest batch calibration chooses.
pub const MAX_BATCH: u64 = 1 << 26;

/// Fewer clean rounds than this, and every round is used (the row is marked noisy).
pub const MIN_CLEAN: usize = 11;

/// The value at quantile `q` (nearest rank) of sorted, non-empty `v`.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Grows the batch until it takes at least the target time, then scales it to the target
/// from the fastest of three long-enough measurements.
pub fn calibrate(cfg: &Config, imp: &mut dyn Imp) -> Result<u64, String> {
    let target = cfg.batch_target.as_secs_f64();
    let mut n = 1u64;
    let time = |imp: &mut dyn Imp, n| -> Result<f64, String> {
        let t = imp.batch(n)?;
        let s = match t.cpu {
            Some(cpu) => t.wall.min(cpu),
            None => t.wall,
        };
        Ok(s.as_secs_f64().max(1e-9))
    };
    loop {
        let m = time(imp, n)?;
        if m >= target || n >= MAX_BATCH {
            // The fastest of three: a disturbance only ever adds time.
            let m = m.min(time(imp, n)?).min(time(imp, n)?);
            return Ok(((n as f64 * target / m).round() as u64).clamp(1, MAX_BATCH));
        }
        let grow = (target / m * 1.1).clamp(2.0, 100.0);
        n = ((n as f64 * grow).ceil() as u64).min(MAX_BATCH);
    }
}

/// Per-round seconds per operation of every implementation (None where it failed), and
/// whether each round was clean.
pub struct Rounds {
    pub per_op: Vec<Vec<Option<f64>>>,
    pub clean: Vec<bool>,
    pub noisy: bool,
}

/// Runs one batch of every live implementation per round, the order rotating, until
/// `cfg.rounds` clean rounds or the budget. An implementation whose batch fails is marked
/// in `failed` and skipped from then on.
pub fn interleave(
    cfg: &Config,
    imps: &mut [(&mut dyn Imp, u64)],
    failed: &mut [Option<String>],
) -> Rounds {
    let k = imps.len();
    let mut per_op = Vec::new();
    let mut clean = Vec::new();
    let started = Instant::now();
    let mut i = 0usize;
    loop {
        if k == 0 {
            break;
        }
        let mut row = vec![None; k];
        let mut ok = true;
        for j in 0..k {
            let idx = (i + j) % k;
            if failed[idx].is_some() {
                continue;
            }
            let (imp, n) = &mut imps[idx];
            match imp.batch(*n) {
                Ok(t) => {
                    ok &= t.clean();
                    row[idx] = Some(t.wall.as_secs_f64() / *n as f64);
                }
                Err(e) => failed[idx] = Some(e),
            }
        }
        i += 1;
        if i <= cfg.warmup {
            continue;
        }
        per_op.push(row);
        clean.push(ok);
        let have = clean.iter().filter(|c| **c).count();
        if have >= cfg.rounds || started.elapsed() >= cfg.budget {
            break;
        }
    }
    let have = clean.iter().filter(|c| **c).count();
    Rounds {
        noisy: have < cfg.rounds.min(MIN_CLEAN),
        per_op,
        clean,
    }
}
