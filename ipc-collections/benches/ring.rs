//! Ring throughput and latency across two processes, each beside its baseline in the same
//! run (issue 12's goals).
//!
//! Every comparison runs R rounds; in each round the candidate and the baseline run once
//! each (the order alternates), each in a freshly forked peer process over a fresh
//! anonymous shared mapping, timed in this process from the start signal to the last
//! message. The table gives the median time per message of each side and the median of the
//! per-round ratios (p10-p90 in brackets): a disturbance on this noisy 2-core VM hits both
//! sides of a round alike.
//!
//! 1. SPSC throughput, u64 messages, batches of up to 64 published at once, capacity 1024:
//!    `spsc::Producer::push_batch`/`Consumer::pop_batch` vs a minimal hand-written
//!    C-style SPSC ring (head/tail on their own lines, cached counters, batched
//!    publication) in the same kind of mapping. Goal: throughput ratio >= 0.8.
//! 2. SPSC throughput vs a pipe, a Unix stream socket pair and a POSIX message queue, one
//!    u64 per message (one `write`/`read`, `send`/`recv`, `mq_send`/`mq_receive`). Goal: >= 20x.
//! 3. One-way latency, spinning: a ping-pong through two SPSC rings (`try_push`, spinning
//!    `try_pop`) vs a bare ping-pong on two shared cache lines; half a round trip. Goal:
//!    ratio <= 1.2.
//! 4. Wake latency, sleeping: a ping-pong through two rings with blocking `pop` (spins 128
//!    polls, then sleeps on the futex) vs a raw futex ping-pong (`FUTEX_WAIT` at once,
//!    `FUTEX_WAKE` every time); half a round trip. Goal: ratio <= 1.1.
//!
//! ```text
//! cargo bench -p ipc-collections --bench ring            # about a minute
//! cargo bench -p ipc-collections --bench ring -- --quick # a few seconds
//! ```
//! Without `--bench` (under `cargo test --benches`) each comparison runs once, tiny.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipc_collections::ipc_core::shm::AnonShm;
use ipc_collections::ipc_core::sync::futex;
use ipc_collections::ring::{spsc, RingLayout};
use ipc_testutil::{fork_child, unique_name, wait_pid, Cleanup, WATCHDOG};

const CAP: u64 = 1024;
const BATCH: usize = 64;

struct Cfg {
    rounds: usize,
    fast_n: u64,
    slow_n: u64,
    lat_n: u64,
}

fn word(m: &AnonShm, off: usize) -> &AtomicU64 {
    assert!(off + 8 <= m.len() && off % 8 == 0);
    // SAFETY: in bounds and aligned (checked), the mapping outlives the reference, and the
    // word is only accessed atomically.
    unsafe { &*m.as_ptr().add(off).cast::<AtomicU64>() }
}

fn word32(m: &AnonShm, off: usize) -> &AtomicU32 {
    assert!(off + 4 <= m.len() && off % 4 == 0);
    // SAFETY: as `word`.
    unsafe { &*m.as_ptr().add(off).cast::<AtomicU32>() }
}

/// Runs `peer` in a forked child and `me` here; the child spins until the start flag, and
/// `me` is timed from setting it to its return. Returns the time.
fn timed(peer: impl FnOnce() -> bool, me: impl FnOnce()) -> Duration {
    let flag = AnonShm::new(4096).unwrap();
    let go = word(&flag, 0);
    let pid = fork_child(|| {
        go.store(1, Ordering::SeqCst);
        while go.load(Ordering::Acquire) != 2 {
            spin_loop();
        }
        peer()
    });
    while go.load(Ordering::Acquire) != 1 {
        spin_loop();
    }
    let t = Instant::now();
    go.store(2, Ordering::Release);
    me();
    let d = t.elapsed();
    assert_eq!(wait_pid(pid, WATCHDOG), Some(0), "peer failed");
    d
}

fn spsc_mem(cap: u64) -> (AnonShm, RingLayout) {
    let l = RingLayout::packed(cap);
    let m = AnonShm::new(l.data_offset + spsc::data_len::<u64>(cap).unwrap()).unwrap();
    // SAFETY: fresh memory, nobody attached.
    unsafe { spsc::init::<u64, _>(&m, l) }.unwrap();
    (m, l)
}

// ---- 1: the ring and the hand-written baseline ----------------------------------------

fn ring_throughput(n: u64) -> Duration {
    let (m, l) = spsc_mem(CAP);
    let mut c = spsc::Consumer::<u64>::attach(&m, l).unwrap();
    timed(
        || {
            let mut p = spsc::Producer::<u64>::attach(&m, l).unwrap();
            let mut i = 0;
            while i < n {
                // Zero-copy: values written straight into the reserved slots.
                match p.reserve(BATCH.min((n - i) as usize)) {
                    Ok(mut r) => {
                        while r.push(i).is_ok() {
                            i += 1;
                        }
                        r.commit();
                    }
                    Err(_) => spin_loop(),
                }
            }
            true
        },
        || {
            let mut buf = [0u64; BATCH];
            let mut expect = 0;
            while expect < n {
                if let Ok(k) = c.pop_batch(&mut buf) {
                    for &v in &buf[..k] {
                        assert_eq!(v, expect);
                        expect += 1;
                    }
                } else {
                    spin_loop();
                }
            }
        },
    )
}

/// The baseline: head at 0, tail at 128, slots at 256, in an anonymous shared mapping.
fn hand_throughput(n: u64) -> Duration {
    let m = AnonShm::new(256 + CAP as usize * 8).unwrap();
    let slots = m.as_ptr().wrapping_add(256).cast::<u64>();
    let mask = CAP - 1;
    let (head, tail) = (word(&m, 0), word(&m, 128));
    timed(
        || {
            let (mut t, mut h) = (0u64, 0u64);
            let mut i = 0;
            while i < n {
                if CAP - (t - h) == 0 {
                    h = head.load(Ordering::Acquire);
                    if CAP - (t - h) == 0 {
                        spin_loop();
                        continue;
                    }
                }
                let k = (CAP - (t - h)).min(BATCH as u64).min(n - i);
                for j in 0..k {
                    // SAFETY: masked index inside the CAP slots of the mapping; the slot is
                    // free (t - h < CAP) until published.
                    unsafe { slots.add(((t + j) & mask) as usize).write(i + j) };
                }
                t += k;
                i += k;
                tail.store(t, Ordering::Release);
            }
            true
        },
        || {
            let (mut h, mut t) = (0u64, 0u64);
            let mut expect = 0;
            while expect < n {
                if h == t {
                    t = tail.load(Ordering::Acquire);
                    if h == t {
                        spin_loop();
                        continue;
                    }
                }
                let k = (t - h).min(BATCH as u64);
                for j in 0..k {
                    // SAFETY: published slot (h + j < t), masked index.
                    let v = unsafe { slots.add(((h + j) & mask) as usize).read() };
                    assert_eq!(v, expect);
                    expect += 1;
                }
                h += k;
                head.store(h, Ordering::Release);
            }
        },
    )
}

// ---- 2: pipe, socket, mq ----------------------------------------------------------------

fn fd_throughput(n: u64, socket: bool) -> Duration {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid out-array of two ints.
    let r = unsafe {
        if socket {
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr())
        } else {
            libc::pipe(fds.as_mut_ptr())
        }
    };
    assert_eq!(r, 0);
    let d = timed(
        || {
            for i in 0..n {
                // SAFETY: writes 8 bytes from a live u64 to our fd.
                let w = unsafe { libc::write(fds[1], (&i as *const u64).cast(), 8) };
                if w != 8 {
                    return false;
                }
            }
            true
        },
        || {
            let mut got = 0u64;
            for i in 0..n {
                let mut v = 0u64;
                let mut off = 0;
                while off < 8 {
                    // SAFETY: reads at most 8 - off bytes into the rest of `v`.
                    let r = unsafe {
                        libc::read(
                            fds[0],
                            (&mut v as *mut u64).cast::<u8>().add(off).cast(),
                            8 - off,
                        )
                    };
                    assert!(r > 0);
                    off += r as usize;
                }
                assert_eq!(v, i);
                got += 1;
            }
            assert_eq!(got, n);
        },
    );
    // SAFETY: our own fds, closed once.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    d
}

fn mq_throughput(n: u64) -> Duration {
    let name = unique_name("ringbench-mq");
    let _cleanup = Cleanup::mq(&name);
    let cname = std::ffi::CString::new(name).unwrap();
    // SAFETY: an all-zero mq_attr is valid; the fields set are the ones mq_open reads.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = 10;
    attr.mq_msgsize = 8;
    // SAFETY: valid C string and attr pointer.
    let q = unsafe {
        libc::mq_open(
            cname.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
            0o600 as libc::mode_t,
            &attr as *const libc::mq_attr,
        )
    };
    assert!(q >= 0, "mq_open failed");
    let d = timed(
        || {
            for i in 0..n {
                // SAFETY: sends 8 bytes from a live u64 on our queue.
                if unsafe { libc::mq_send(q, (&i as *const u64).cast(), 8, 0) } != 0 {
                    return false;
                }
            }
            true
        },
        || {
            for i in 0..n {
                let mut v = 0u64;
                // SAFETY: receives at most 8 bytes (the queue's message size) into `v`.
                let r = unsafe {
                    libc::mq_receive(q, (&mut v as *mut u64).cast(), 8, std::ptr::null_mut())
                };
                assert_eq!(r, 8);
                assert_eq!(v, i);
            }
        },
    );
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::mq_close(q) };
    d
}

// ---- 3 and 4: latency --------------------------------------------------------------------

/// Spins for `d` (0: not at all).
fn spin_for(d: Duration) {
    if d.is_zero() {
        return;
    }
    let until = Instant::now() + d;
    while Instant::now() < until {
        spin_loop();
    }
}

/// A ping-pong through two rings. With `delay`, both sides spin that long before each
/// send, so the receiver has given up spinning and sleeps on the futex; the delays are
/// subtracted from the time returned, leaving the wake-ups.
fn ring_pingpong(n: u64, sleep: bool, delay: Duration) -> Duration {
    let (ma, la) = spsc_mem(64);
    let (mb, lb) = spsc_mem(64);
    let mut ping = spsc::Producer::<u64>::attach(&ma, la).unwrap();
    let mut pong = spsc::Consumer::<u64>::attach(&mb, lb).unwrap();
    let recv = move |c: &mut spsc::Consumer<u64>| -> u64 {
        if sleep {
            c.pop(None).unwrap()
        } else {
            loop {
                if let Ok(v) = c.try_pop() {
                    return v;
                }
                spin_loop();
            }
        }
    };
    let t = timed(
        || {
            let mut c = spsc::Consumer::<u64>::attach(&ma, la).unwrap();
            let mut p = spsc::Producer::<u64>::attach(&mb, lb).unwrap();
            for _ in 0..n {
                let v = recv(&mut c);
                spin_for(delay);
                if p.try_push(v).is_err() {
                    return false;
                }
            }
            true
        },
        || {
            for i in 0..n {
                spin_for(delay);
                ping.try_push(i).unwrap();
                assert_eq!(recv(&mut pong), i);
            }
        },
    );
    t.saturating_sub(delay * 2 * n as u32)
}

fn line_pingpong(n: u64) -> Duration {
    let m = AnonShm::new(4096).unwrap();
    let (a, b) = (word(&m, 0), word(&m, 128));
    timed(
        || {
            for i in 1..=n {
                while a.load(Ordering::Acquire) != i {
                    spin_loop();
                }
                b.store(i, Ordering::Release);
            }
            true
        },
        || {
            for i in 1..=n {
                a.store(i, Ordering::Release);
                while b.load(Ordering::Acquire) != i {
                    spin_loop();
                }
            }
        },
    )
}

/// A raw futex ping-pong (wait at once, wake every time), with the same delays as
/// [`ring_pingpong`].
fn futex_pingpong(n: u64, delay: Duration) -> Duration {
    let m = AnonShm::new(4096).unwrap();
    let (a, b) = (word32(&m, 0), word32(&m, 128));
    let wait_for = |w: &AtomicU32, v: u32| loop {
        let cur = w.load(Ordering::Acquire);
        if cur == v {
            return;
        }
        let _ = futex::wait(w, cur, None);
    };
    let t = timed(
        || {
            for i in 1..=n as u32 {
                wait_for(a, i);
                spin_for(delay);
                b.store(i, Ordering::Release);
                futex::wake(b, 1);
            }
            true
        },
        || {
            for i in 1..=n as u32 {
                spin_for(delay);
                a.store(i, Ordering::Release);
                futex::wake(a, 1);
                wait_for(b, i);
            }
        },
    );
    t.saturating_sub(delay * 2 * n as u32)
}

// ---- the harness ---------------------------------------------------------------------------

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Runs `cand` and `base` alternately for `cfg.rounds` rounds of `n` messages; prints the
/// medians per message (divided by `per`: 2 for half a round trip) and the ratio
/// `ratio(cand, base)` per round.
fn compare(
    cfg: &Cfg,
    (name, goal): (&str, &str),
    n: u64,
    per: f64,
    throughput: bool,
    cand: &dyn Fn(u64) -> Duration,
    base: &dyn Fn(u64) -> Duration,
) {
    let (mut c, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..cfg.rounds {
        let (tc, tb) = if round % 2 == 0 {
            let tc = cand(n);
            (tc, base(n))
        } else {
            let tb = base(n);
            (cand(n), tb)
        };
        let (tc, tb) = (tc.as_secs_f64(), tb.as_secs_f64());
        c.push(tc / n as f64 / per);
        b.push(tb / n as f64 / per);
        // Throughput: baseline time / candidate time (higher is better); latency: the
        // other way round (lower is better).
        r.push(if throughput { tb / tc } else { tc / tb });
    }
    for v in [&mut c, &mut b, &mut r] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{name:<44} {:>10.1} ns {:>10.1} ns   ratio {:>7.2} [{:.2}-{:.2}]  goal {goal}",
        quantile(&c, 0.5) * 1e9,
        quantile(&b, 0.5) * 1e9,
        quantile(&r, 0.5),
        quantile(&r, 0.1),
        quantile(&r, 0.9),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    let cfg = if !bench {
        Cfg {
            rounds: 1,
            fast_n: 1000,
            slow_n: 100,
            lat_n: 100,
        }
    } else if quick {
        Cfg {
            rounds: 5,
            fast_n: 1 << 20,
            slow_n: 1 << 14,
            lat_n: 1 << 12,
        }
    } else {
        Cfg {
            rounds: 21,
            fast_n: 1 << 22,
            slow_n: 1 << 16,
            lat_n: 1 << 14,
        }
    };
    println!(
        "{:<44} {:>13} {:>13}   median ratio [p10-p90]",
        "comparison (per message)", "candidate", "baseline"
    );
    compare(
        &cfg,
        (
            "spsc u64 throughput vs hand-written ring",
            ">= 0.8 (base/cand)",
        ),
        cfg.fast_n,
        1.0,
        true,
        &ring_throughput,
        &hand_throughput,
    );
    compare(
        &cfg,
        ("spsc u64 throughput vs pipe", ">= 20 (base/cand)"),
        cfg.slow_n,
        1.0,
        true,
        &ring_throughput,
        &|n| fd_throughput(n, false),
    );
    compare(
        &cfg,
        ("spsc u64 throughput vs unix socket", ">= 20 (base/cand)"),
        cfg.slow_n,
        1.0,
        true,
        &ring_throughput,
        &|n| fd_throughput(n, true),
    );
    compare(
        &cfg,
        ("spsc u64 throughput vs posix mq", ">= 20 (base/cand)"),
        cfg.slow_n,
        1.0,
        true,
        &ring_throughput,
        &mq_throughput,
    );
    compare(
        &cfg,
        (
            "one-way latency, spinning, vs cache line",
            "<= 1.2 (cand/base)",
        ),
        cfg.lat_n,
        2.0,
        false,
        &|n| ring_pingpong(n, false, Duration::ZERO),
        &line_pingpong,
    );
    compare(
        &cfg,
        (
            "ping-pong, blocking pop, vs raw futex",
            "info (ring spins first)",
        ),
        cfg.lat_n / 4,
        2.0,
        false,
        &|n| ring_pingpong(n, true, Duration::ZERO),
        &|n| futex_pingpong(n, Duration::ZERO),
    );
    let d = Duration::from_micros(30);
    compare(
        &cfg,
        (
            "wake latency, both asleep, vs raw futex",
            "<= 1.1 (cand/base)",
        ),
        cfg.lat_n / 8,
        2.0,
        false,
        &|n| ring_pingpong(n, true, d),
        &|n| futex_pingpong(n, d),
    );
}
