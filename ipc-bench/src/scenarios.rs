//! The scenarios, their implementations, and running one scenario into rows.

use std::any::Any;
use std::ffi::CString;

use ipc_testutil::{unique_name, Cleanup};

use crate::chan::{self, Mq};
use crate::measure::{self, quantile, sorted, Config, Imp, Keep};
use crate::{ours, peers, rings};

/// Whether a lower or a higher figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// What a row reports, from the seconds one operation took.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// Lower: value = seconds x factor; Higher: value = factor / seconds.
    pub factor: f64,
}

impl Metric {
    pub fn value(&self, secs: f64) -> f64 {
        match self.better {
            Better::Lower => secs * self.factor,
            Better::Higher => self.factor / secs.max(1e-15),
        }
    }
}

const NS: Metric = Metric {
    name: "time per operation",
    unit: "ns",
    better: Better::Lower,
    factor: 1e9,
};
const RTT_NS: Metric = Metric {
    name: "round trip",
    unit: "ns",
    better: Better::Lower,
    factor: 1e9,
};
const RTT_US: Metric = Metric {
    name: "round trip",
    unit: "us",
    better: Better::Lower,
    factor: 1e6,
};
const MMSG: Metric = Metric {
    name: "throughput",
    unit: "M msg/s",
    better: Better::Higher,
    factor: 1e-6,
};
const fn gbs(bytes: usize) -> Metric {
    Metric {
        name: "bandwidth",
        unit: "GB/s",
        better: Better::Higher,
        factor: bytes as f64 / 1e9,
    }
}
const CREATE_US: Metric = Metric {
    name: "create+open+close",
    unit: "us",
    better: Better::Lower,
    factor: 1e6,
};

/// Why an implementation has no figures.
#[derive(Debug, Clone)]
pub enum Unavail {
    /// Not compiled into this build (a peer without the `peers` feature).
    #[cfg_attr(feature = "peers", allow(dead_code))]
    NotBuilt(String),
    /// Set-up or a batch failed.
    Failed(String),
}

pub struct Contender {
    pub name: String,
    pub ours: bool,
    pub baseline: bool,
    pub imp: Result<Box<dyn Imp>, Unavail>,
}

fn c(name: &str, imp: Result<Box<dyn Imp>, String>) -> Contender {
    Contender {
        name: name.to_owned(),
        ours: name.contains("(ours)"),
        baseline: false,
        imp: imp.map_err(Unavail::Failed),
    }
}

fn base(name: &str, imp: Result<Box<dyn Imp>, String>) -> Contender {
    Contender {
        baseline: true,
        ..c(name, imp)
    }
}

fn peer(name: &str, imp: Result<Box<dyn Imp>, Unavail>) -> Contender {
    Contender {
        name: name.to_owned(),
        ours: false,
        baseline: false,
        imp,
    }
}

pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub metric: Metric,
    build: fn() -> Built,
}

/// Implementations, and what must outlive them (cleanup guards, the peers' folders).
type Built = (Vec<Contender>, Keep);

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            id: "1",
            title: "uncontended lock+unlock",
            metric: NS,
            build: s1_lock,
        },
        Scenario {
            id: "2",
            title: "ping-pong round trip, spinning",
            metric: RTT_NS,
            build: s2_spin,
        },
        Scenario {
            id: "3a",
            title: "ping-pong round trip, sleeping",
            metric: RTT_US,
            build: s3_sleep,
        },
        Scenario {
            id: "3b",
            title: "wake-up of a sleeping receiver, both sides asleep (ping-pong, 30 us pause before each send)",
            metric: RTT_US,
            build: s3_wake,
        },
        Scenario {
            id: "4",
            title: "u64 message throughput, 1 producer + 1 consumer process",
            metric: MMSG,
            build: s4_u64,
        },
        Scenario {
            id: "5a",
            title: "64 B messages, 1 producer + 1 consumer process",
            metric: gbs(64),
            build: s5_64,
        },
        Scenario {
            id: "5b",
            title: "4 KiB messages, 1 producer + 1 consumer process",
            metric: gbs(4096),
            build: s5_4k,
        },
        Scenario {
            id: "5c",
            title: "1 MiB messages, 1 producer + 1 consumer process",
            metric: gbs(1 << 20),
            build: s5_1m,
        },
        Scenario {
            id: "6",
            title: "create+open of a small named segment",
            metric: CREATE_US,
            build: s6_create,
        },
        Scenario {
            id: "7a",
            title: "64 MiB shared array, write (copy in)",
            metric: gbs(ours::ARRAY_ELEMS * 8),
            build: s7_write,
        },
        Scenario {
            id: "7b",
            title: "64 MiB shared array, read (copy out)",
            metric: gbs(ours::ARRAY_ELEMS * 8),
            build: s7_read,
        },
    ]
}

/// Splits `imps` (or the error they failed with) among `names`.
fn split(r: Result<Vec<Box<dyn Imp>>, String>, k: usize) -> Vec<Result<Box<dyn Imp>, String>> {
    match r {
        Ok(v) => v.into_iter().map(Ok).collect(),
        Err(e) => (0..k).map(|_| Err(e.clone())).collect(),
    }
}

fn s1_lock() -> Built {
    let (imps, keep) = match ours::locks() {
        Ok((v, keep)) => (Ok(v), keep),
        Err(e) => (Err(e), vec![]),
    };
    let mut it = split(imps, 3).into_iter();
    let mut next = || it.next().expect("3 implementations");
    (
        vec![
            c("RawMutex (ours)", next()),
            c("SharedMutex<u64> guard (ours)", next()),
            base("pthread robust pshared mutex", next()),
        ],
        keep,
    )
}

fn s2_spin() -> Built {
    let (p, ch) = chan::Spin::pair();
    let line = chan::pingpong("cache line", |_| Ok(p), Box::new(move || Ok(ch)));
    let hand = {
        // Two hand-written rings, one a direction, each end publishing every message.
        let (ap, ac) = chan::Ring::<1>::pair();
        let (bp, bc) = chan::Ring::<1>::pair();
        chan::pingpong(
            "hand-written ring",
            |_| Ok(chan::Duplex { tx: ap, rx: bc }),
            Box::new(move || Ok(chan::Duplex { tx: bp, rx: ac })),
        )
    };
    let (iox, keep) = peers::iceoryx2_spin();
    (
        vec![
            base("bare shared cache line", line),
            c("hand-written SPSC ring, one at a time", hand),
            c("SPSC ring (ours)", rings::spsc_pingpong(rings::Mode::Spin)),
            c("MPMC ring (ours)", rings::mpmc_pingpong()),
            peer("iceoryx2 pub-sub, busy-wait", iox),
        ],
        keep,
    )
}

fn mq_names(keep: &mut Vec<Box<dyn Any>>) -> Result<(CString, CString), String> {
    let a = unique_name("bench-mq");
    let b = unique_name("bench-mq");
    keep.push(Box::new(Cleanup::mq(&a)));
    keep.push(Box::new(Cleanup::mq(&b)));
    let (a, b) = (
        CString::new(a).expect("no NUL"),
        CString::new(b).expect("no NUL"),
    );
    Mq::create(&a)?;
    Mq::create(&b)?;
    Ok((a, b))
}

fn s3_sleep() -> Built {
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    let (fp, fc) = chan::Futex::pair();
    let futex = chan::pingpong("futex", |_| Ok(fp), Box::new(move || Ok(fc)));
    let cv_name = unique_name("bench-cv");
    keep.push(Box::new(Cleanup::shm(&cv_name)));
    let condvar =
        ours::Cv::pair(&cv_name).and_then(|(p, make)| chan::pingpong("condvar", |_| Ok(p), make));
    let sem = ours::Sem::pair()
        .and_then(|(p, ch)| chan::pingpong("semaphore", |_| Ok(p), Box::new(move || Ok(ch))));
    let pipe = chan::pipes()
        .and_then(|(p, ch)| chan::pingpong("pipe", |_| Ok(p), Box::new(move || Ok(ch))));
    let sock = chan::socket_pair()
        .and_then(|(p, ch)| chan::pingpong("unix socket", |_| Ok(p), Box::new(move || Ok(ch))));
    let mq = mq_names(&mut keep).and_then(|(a, b)| {
        let (a2, b2) = (a.clone(), b.clone());
        chan::pingpong(
            "mq",
            move |_| Mq::open(Some(&a), Some(&b)),
            Box::new(move || Mq::open(Some(&b2), Some(&a2))),
        )
    });
    (
        vec![
            base("raw futex", futex),
            c("SharedCondvar (ours)", condvar),
            c("Semaphore (ours)", sem),
            c(
                "SPSC ring, blocking (ours)",
                rings::spsc_pingpong(rings::Mode::Block),
            ),
            c("pipe", pipe),
            c("Unix socket", sock),
            c("POSIX message queue", mq),
            peer("ipc-channel", peers::ipc_channel_pingpong()),
            peer(
                "shared_memory + raw_sync events",
                peers::raw_sync_pingpong(),
            ),
        ],
        keep,
    )
}

/// How long each side of scenario 3b pauses before it sends: longer than any spin phase,
/// so the receiver sleeps when the message comes.
const WAKE_PAUSE: std::time::Duration = std::time::Duration::from_micros(30);

fn s3_wake() -> Built {
    let (fp, fc) = chan::Futex::pair();
    let futex = chan::pingpong_delayed("futex", WAKE_PAUSE, |_| Ok(fp), Box::new(move || Ok(fc)));
    let sem = ours::Sem::pair().and_then(|(p, ch)| {
        chan::pingpong_delayed("semaphore", WAKE_PAUSE, |_| Ok(p), Box::new(move || Ok(ch)))
    });
    (
        vec![
            base("raw futex", futex),
            c(
                "SPSC ring, blocking (ours)",
                rings::spsc_pingpong_delayed(rings::Mode::Block, WAKE_PAUSE),
            ),
            c("Semaphore (ours)", sem),
        ],
        vec![],
    )
}

fn s4_u64() -> Built {
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    let (rp, rc) = chan::Ring::<{ chan::RING_BATCH }>::pair();
    let ring = chan::stream("ring", |_| Ok(rp), Box::new(move || Ok(rc)));
    let pipe = chan::one_pipe()
        .and_then(|(p, ch)| chan::stream("pipe", |_| Ok(p), Box::new(move || Ok(ch))));
    let sock = chan::socket_pair()
        .and_then(|(p, ch)| chan::stream("unix socket", |_| Ok(p), Box::new(move || Ok(ch))));
    let mq = mq_names(&mut keep).and_then(|(a, _)| {
        let a2 = a.clone();
        chan::stream(
            "mq",
            move |_| Mq::open(Some(&a), None),
            Box::new(move || Mq::open(None, Some(&a2))),
        )
    });
    let (iox, k) = peers::iceoryx2_u64();
    keep.extend(k);
    (
        vec![
            base("hand-written SPSC ring, batched", ring),
            c(
                "SPSC ring, push_batch/pop_batch (ours)",
                rings::spsc_stream(rings::Mode::Batch),
            ),
            c(
                "SPSC ring, reserve/commit (ours)",
                rings::spsc_stream(rings::Mode::Reserve),
            ),
            c(
                "SPSC ring, one at a time (ours)",
                rings::spsc_stream(rings::Mode::Spin),
            ),
            c("MPMC ring (ours)", rings::mpmc_stream()),
            c("pipe", pipe),
            c("Unix socket", sock),
            c("POSIX message queue", mq),
            peer("iceoryx2 pub-sub", iox),
        ],
        keep,
    )
}

fn s5(size: usize) -> Built {
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    let pipe = chan::one_pipe()
        .and_then(|(p, ch)| chan::byte_stream("pipe", size, |_| Ok(p), Box::new(move || Ok(ch))));
    let sock = chan::socket_pair().and_then(|(p, ch)| {
        chan::byte_stream("unix socket", size, |_| Ok(p), Box::new(move || Ok(ch)))
    });
    let (iox, k) = peers::iceoryx2_bytes(size);
    keep.extend(k);
    (
        vec![
            base("pipe", pipe),
            c("Unix socket", sock),
            peer("ipc-channel", peers::ipc_channel_bytes(size)),
            peer("iceoryx2 pub-sub", iox),
            c("byte ring (ours)", rings::byte_stream(size)),
        ],
        keep,
    )
}

fn s5_64() -> Built {
    s5(64)
}

fn s5_4k() -> Built {
    s5(4096)
}

fn s5_1m() -> Built {
    s5(1 << 20)
}

fn s6_create() -> Built {
    let mut it = split(ours::create_open(), 3).into_iter();
    let mut next = || it.next().expect("3 implementations");
    (
        vec![
            c("Shared<T> (ours)", next()),
            c("ipc-core Shm, untyped (ours)", next()),
            base("raw shm_open+ftruncate+mmap", next()),
        ],
        vec![],
    )
}

fn s7(read: bool) -> Built {
    let (imps, keep) = match ours::array() {
        Ok((v, a, g)) => (
            Ok(v),
            vec![Box::new(a) as Box<dyn Any>, Box::new(g) as Box<dyn Any>],
        ),
        Err(e) => (Err(e), vec![]),
    };
    let mut v = split(imps, 4);
    let (ours, memcpy) = if read {
        let m = v.pop().expect("4");
        (v.pop().expect("4"), m)
    } else {
        v.truncate(2);
        let m = v.pop().expect("2");
        (v.pop().expect("2"), m)
    };
    (
        vec![
            c("SharedArray<f64> (ours)", ours),
            base("memcpy between heap buffers", memcpy),
        ],
        keep,
    )
}

fn s7_write() -> Built {
    s7(false)
}

fn s7_read() -> Built {
    s7(true)
}

// ---------------------------------------------------------------------------------------
// Running a scenario
// ---------------------------------------------------------------------------------------

/// One implementation's result.
pub struct Row {
    pub name: String,
    pub ours: bool,
    pub baseline: bool,
    /// None: measured. Some: why not.
    pub unavail: Option<Unavail>,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    /// Median, p10, p90 of the per-round ratio of this row's metric to the baseline's.
    pub ratio: Option<[f64; 3]>,
    pub rounds: usize,
    pub batch: u64,
    /// Seconds per operation in each round used (None where this row has no figure).
    pub per_round: Vec<Option<f64>>,
}

impl Row {
    pub fn failed(&self) -> bool {
        matches!(self.unavail, Some(Unavail::Failed(_)))
    }
}

pub struct Outcome {
    pub id: &'static str,
    pub title: &'static str,
    pub metric: Metric,
    pub rows: Vec<Row>,
    pub noisy: bool,
}

pub fn run(cfg: &Config, s: Scenario) -> Outcome {
    let (mut contenders, keep) = (s.build)();
    // Calibrate each.
    let mut batch = vec![0u64; contenders.len()];
    for (i, ct) in contenders.iter_mut().enumerate() {
        if let Ok(imp) = &mut ct.imp {
            match measure::calibrate(cfg, imp.as_mut()) {
                Ok(n) => batch[i] = n,
                Err(e) => ct.imp = Err(Unavail::Failed(e)),
            }
        }
    }
    let live: Vec<usize> = (0..contenders.len())
        .filter(|&i| contenders[i].imp.is_ok())
        .collect();
    let mut failed: Vec<Option<String>> = vec![None; live.len()];
    let rounds = {
        let mut imps: Vec<(&mut dyn Imp, u64)> = contenders
            .iter_mut()
            .zip(&batch)
            .filter_map(|(c, &n)| c.imp.as_mut().ok().map(|i| (i.as_mut() as &mut dyn Imp, n)))
            .collect();
        measure::interleave(cfg, &mut imps, &mut failed)
    };
    for (j, &i) in live.iter().enumerate() {
        if let Some(e) = failed[j].take() {
            contenders[i].imp = Err(Unavail::Failed(e));
        }
    }
    // The rounds used: the clean ones, or all if too few were clean.
    let used: Vec<usize> = (0..rounds.per_op.len())
        .filter(|&r| rounds.clean[r] || rounds.noisy)
        .collect();
    let base_col = contenders
        .iter()
        .position(|c| c.baseline)
        .and_then(|b| live.iter().position(|&i| i == b));
    let m = s.metric;
    let rows = contenders
        .iter()
        .enumerate()
        .map(|(i, ct)| {
            let col = live.iter().position(|&l| l == i);
            let per_round: Vec<Option<f64>> = used
                .iter()
                .map(|&r| col.and_then(|c| rounds.per_op[r][c]))
                .collect();
            let vals = sorted(per_round.iter().flatten().map(|&s| m.value(s)).collect());
            let unavail = match &ct.imp {
                Err(u) => Some(u.clone()),
                Ok(_) if vals.is_empty() => Some(Unavail::Failed("no round completed".into())),
                Ok(_) => None,
            };
            let ratio = base_col.and_then(|b| {
                let r = sorted(
                    used.iter()
                        .filter_map(|&r| {
                            let (x, y) = (rounds.per_op[r][col?]?, rounds.per_op[r][b]?);
                            Some(m.value(x) / m.value(y))
                        })
                        .collect(),
                );
                (!r.is_empty() && unavail.is_none())
                    .then(|| [quantile(&r, 0.5), quantile(&r, 0.1), quantile(&r, 0.9)])
            });
            let q = |p| {
                if vals.is_empty() {
                    f64::NAN
                } else {
                    quantile(&vals, p)
                }
            };
            Row {
                name: ct.name.clone(),
                ours: ct.ours,
                baseline: ct.baseline,
                unavail,
                median: q(0.5),
                p10: q(0.1),
                p90: q(0.9),
                ratio,
                rounds: vals.len(),
                batch: batch[i],
                per_round,
            }
        })
        .collect();
    // Workers first (they hold names and connections), then the guards.
    drop(contenders);
    drop(keep);
    Outcome {
        id: s.id,
        title: s.title,
        metric: m,
        rows,
        noisy: rounds.noisy,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;
    use crate::measure::Timing;

    /// A fake implementation: `per_op` seconds per operation, times a disturbance that
    /// hits every other round as a whole (3x), and an error from call `fail_at` on.
    struct Fake {
        per_op: f64,
        calls: Rc<Cell<u64>>,
        fail_at: Option<u64>,
        mine: u64,
    }

    impl Imp for Fake {
        fn batch(&mut self, n: u64) -> Result<Timing, String> {
            let c = self.calls.get();
            self.calls.set(c + 1);
            self.mine += 1;
            if self.fail_at.is_some_and(|f| self.mine >= f) {
                return Err("fake failure".into());
            }
            let factor = if (c / 2) % 2 == 1 { 3.0 } else { 1.0 };
            Ok(Timing::wall(Duration::from_secs_f64(
                n as f64 * self.per_op * factor,
            )))
        }
    }

    thread_local! {
        static CALLS: Rc<Cell<u64>> = Rc::new(Cell::new(0));
    }

    fn fake(per_op: f64, fail_at: Option<u64>) -> Result<Box<dyn Imp>, String> {
        Ok(Box::new(Fake {
            per_op,
            calls: CALLS.with(|c| c.clone()),
            fail_at,
            mine: 0,
        }))
    }

    fn two_fakes() -> Built {
        CALLS.with(|c| c.set(0));
        (
            vec![
                c("slow (ours)", fake(2e-3, None)),
                base("fast", fake(1e-3, None)),
            ],
            vec![],
        )
    }

    fn with_failure() -> Built {
        CALLS.with(|c| c.set(0));
        (
            vec![
                c("breaks (ours)", fake(1e-3, Some(8))),
                base("fast", fake(1e-3, None)),
                peer(
                    "absent peer",
                    Err(Unavail::NotBuilt("not built (test)".into())),
                ),
            ],
            vec![],
        )
    }

    fn scenario(build: fn() -> Built) -> Scenario {
        Scenario {
            id: "t",
            title: "test",
            metric: RTT_US,
            build,
        }
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 6.0);
        assert_eq!(quantile(&v, 0.1), 2.0);
        assert_eq!(quantile(&v, 0.9), 9.0);
        assert_eq!(quantile(&[4.0], 0.9), 4.0);
    }

    #[test]
    fn per_round_ratio_cancels_a_disturbance_that_hits_the_whole_round() {
        let out = run(&Config::new(true), scenario(two_fakes));
        let slow = &out.rows[0];
        let fast = &out.rows[1];
        assert!(slow.unavail.is_none() && fast.unavail.is_none());
        // Every other round is 3x slower for both, so the medians move, the ratio not.
        assert_eq!(
            slow.ratio.map(|r| r.map(|x| (x * 1e6).round() / 1e6)),
            Some([2.0; 3])
        );
        assert!(slow.p90 > slow.p10 * 2.9, "{} {}", slow.p10, slow.p90);
        assert_eq!(fast.ratio.map(|r| r[0]), Some(1.0));
        assert!(fast.baseline && !slow.baseline && slow.ours);
        assert_eq!(slow.rounds, Config::new(true).rounds);
    }

    #[test]
    fn a_failing_or_absent_implementation_is_a_row_that_says_so() {
        let out = run(&Config::new(true), scenario(with_failure));
        assert_eq!(out.rows.len(), 3, "no row is left out");
        let broken = &out.rows[0];
        assert!(
            matches!(&broken.unavail, Some(Unavail::Failed(m)) if m.contains("fake failure")),
            "{:?}",
            broken.unavail
        );
        assert!(broken.failed() && broken.ratio.is_none());
        assert!(out.rows[1].unavail.is_none(), "the others go on");
        assert!(matches!(&out.rows[2].unavail, Some(Unavail::NotBuilt(_))));
        assert!(!out.rows[2].failed());

        let meta = crate::report::Meta::now(&Config::new(true), Duration::ZERO);
        let j: serde_json::Value =
            serde_json::from_str(&crate::report::json(&meta, &[out], &[])).expect("valid JSON");
        let recs = j["records"].as_array().expect("records");
        assert_eq!(recs.len(), 3);
        for key in [
            "scenario",
            "implementation",
            "metric",
            "unit",
            "median",
            "p10",
            "p90",
            "rounds",
        ] {
            assert!(recs.iter().all(|r| r.get(key).is_some()), "{key}");
        }
        assert_eq!(recs[2]["implementation"], "absent peer");
        assert_eq!(recs[2]["status"], "not built (test)");
        assert!(recs[2]["median"].is_null());
        assert!(recs[1]["median"].as_f64().is_some());
    }
}
