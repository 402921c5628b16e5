//! Helpers of the bridge's tests: spawning bridges with a watchdog, free loopback ports,
//! sequence-numbered checksummed frames, and the producer role.
#![allow(dead_code)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ipc_collections::ErrorKind;
use ipc_collections::ByteRing;
use ipc_core::signal::{self, Signal};

/// The watchdog of every bridge process and of every wait in these tests.
pub const WATCHDOG: Duration = Duration::from_secs(120);

/// A port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A running `ipc-bridge` with a watchdog; dropped while running, it is SIGKILLed.
pub struct Bridge {
    child: Option<Child>,
    out: Option<thread::JoinHandle<String>>,
    err: Option<thread::JoinHandle<String>>,
    args: Vec<String>,
}

/// What a bridge printed and how it ended.
#[derive(Debug)]
pub struct Ended {
    /// Its exit code (`None`: ended by a signal).
    pub code: Option<i32>,
    /// stdout (the `--stats` JSON line).
    pub stdout: String,
    /// stderr (messages and the counters as text).
    pub stderr: String,
}

impl Ended {
    /// The `--stats` JSON object.
    pub fn stats(&self) -> serde_json::Value {
        let line = self
            .stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("bridge printed no stats; stderr:\n{}", self.stderr));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("stats {line:?}: {e}"))
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}

impl Bridge {
    /// Starts `ipc-bridge ARGS`.
    pub fn start(args: &[String]) -> Bridge {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ipc-bridge"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ipc-bridge");
        let out = drain(child.stdout.take().expect("stdout"));
        let err = drain(child.stderr.take().expect("stderr"));
        Bridge {
            child: Some(child),
            out: Some(out),
            err: Some(err),
            args: args.to_vec(),
        }
    }

    /// Starts a bridge that listens on a fresh loopback port, made from `args(port)`; tries
    /// again with another port if the chosen one was taken meanwhile (the bridge exits).
    /// Returns it once the port accepts connections.
    pub fn start_listening(args: impl Fn(u16) -> Vec<String>) -> (Bridge, u16) {
        for _ in 0..5 {
            let port = free_port();
            let mut b = Bridge::start(&args(port));
            let deadline = Instant::now() + WATCHDOG;
            loop {
                if b.exited() {
                    let e = b.wait();
                    eprintln!(
                        "bridge on port {port} exited ({:?}): {}; retrying",
                        e.code, e.stderr
                    );
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return (b, port);
                }
                assert!(
                    Instant::now() < deadline,
                    "watchdog: bridge never listened on {port}"
                );
                thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("no free port after 5 tries");
    }

    /// The bridge's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// The arguments it was started with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Whether it has exited already.
    pub fn exited(&mut self) -> bool {
        matches!(
            self.child.as_mut().expect("running").try_wait(),
            Ok(Some(_))
        )
    }

    /// Sends `sig` (pid > 0 always: ipc_core's kill refuses anything else).
    pub fn signal(&self, sig: Signal) {
        signal::kill(self.pid(), sig).expect("signal the bridge");
    }

    /// SIGKILL (a real crash) and reap.
    pub fn crash(mut self) -> Ended {
        ipc_testutil::sigkill(self.pid());
        self.wait()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(mut self) -> Ended {
        self.signal(Signal::TERM);
        self.wait()
    }

    /// Waits (with the watchdog) for it to exit.
    pub fn wait(&mut self) -> Ended {
        let mut child = self.child.take().expect("running");
        let status = ipc_testutil::wait_child(&mut child, "ipc-bridge", WATCHDOG);
        Ended {
            code: status.code(),
            stdout: self
                .out
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
            stderr: self
                .err
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The common arguments of a test bridge: ring and key, created ring of `capacity`, stats.
pub fn args(role: &str, ring: &str, key: &str, capacity: u64, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [role, "--ring", ring, "--key", key, "--create", "--stats"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(["--capacity".to_string(), capacity.to_string()]);
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `tcp/127.0.0.1:PORT`.
pub fn ep(port: u16) -> String {
    format!("tcp/127.0.0.1:{port}")
}

/// FNV-1a, the frames' checksum.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The smallest test frame.
pub const MIN_FRAME: usize = 24;

/// Frame `seq`: `seq` (u64 LE), filler derived from `seq`, FNV-1a of the rest (u64 LE);
/// 24 to 256 bytes, the length varying with `seq`.
pub fn make_frame(seq: u64, buf: &mut Vec<u8>) {
    let len = MIN_FRAME + (seq.wrapping_mul(7919) % 233) as usize;
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes());
    let mut x = seq | 1;
    while buf.len() < len - 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.push(x as u8);
    }
    let sum = fnv(buf);
    buf.extend_from_slice(&sum.to_le_bytes());
}

/// Checks a frame's checksum and length and returns its `seq`.
pub fn check_frame(f: &[u8]) -> Result<u64, String> {
    if f.len() < MIN_FRAME {
        return Err(format!("frame of {} bytes", f.len()));
    }
    let (body, sum) = f.split_at(f.len() - 8);
    let seq = u64::from_le_bytes(body[..8].try_into().expect("8"));
    if fnv(body) != u64::from_le_bytes(sum.try_into().expect("8")) {
        return Err(format!(
            "checksum of frame {seq} ({} bytes, {} expected): {:02x?}",
            f.len(),
            MIN_FRAME + (seq.wrapping_mul(7919) % 233) as usize,
            &f[..f.len().min(64)]
        ));
    }
    let mut want = Vec::new();
    make_frame(seq, &mut want);
    if want != f {
        return Err(format!("frame {seq} differs from what was sent"));
    }
    Ok(seq)
}

/// The producer role: pushes `COUNT` frames into ring `RING` (created with capacity `CAP`
/// if needed, left in place for the test's cleanup), pausing 1 ms after every `BURST`
/// frames (0: never). While the ring is full and its consumer gone, it waits for the next.
pub fn producer_role() {
    let ring_name = ipc_testutil::env("RING");
    let count: u64 = ipc_testutil::env("COUNT").parse().expect("COUNT");
    let cap: u64 = ipc_testutil::env("CAP").parse().expect("CAP");
    let burst: u64 = ipc_testutil::env("BURST").parse().expect("BURST");
    let ring = ByteRing::options()
        .capacity(cap)
        .unlink_on_drop(false)
        .open_or_create(&ring_name)
        .expect("producer: open ring");
    let mut p = ring.producer().expect("producer: attach");
    let mut buf = Vec::new();
    for seq in 0..count {
        make_frame(seq, &mut buf);
        // A full ring whose consumer (`out`) died says Disconnected: wait for the next
        // `out` to attach, as a producer feeding a bridge does.
        let deadline = Instant::now() + WATCHDOG;
        loop {
            match p.send(&buf, Some(WATCHDOG)) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::Disconnected && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("producer: send frame {seq}: {e}"),
            }
        }
        if burst > 0 && seq % burst == burst - 1 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    ipc_testutil::report(format!("sent {count}"));
}

/// What a consumer saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every seq, in arrival order.
    pub seqs: Vec<u64>,
    /// Bytes received.
    pub bytes: u64,
}

impl Seen {
    /// Checks strictly increasing order and returns the missing runs `(first, len)` below
    /// `count`.
    pub fn gaps(&self, count: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut next = 0;
        for (i, &s) in self.seqs.iter().enumerate() {
            assert!(
                s >= next,
                "frame {s} arrived at position {i} after frame {} (reordered or duplicated)",
                next.max(1) - 1
            );
            if s > next {
                gaps.push((next, s - next));
            }
            next = s + 1;
        }
        if next < count {
            gaps.push((next, count - next));
        }
        gaps
    }
}

/// Consumes ring `ring` (already attached as `c`) until frame `last` arrives, checking
/// every frame; calls `on_frame(frames so far)` after each. Panics after `idle` with no
/// frame. While the ring's producer (`in`) is gone, it waits for the next.
pub fn consume_until(
    c: &mut ipc_collections::ring::bytes::Consumer<'_>,
    last: u64,
    idle: Duration,
    mut on_frame: impl FnMut(&Seen),
) -> Seen {
    let mut seen = Seen::default();
    let mut last_frame = Instant::now();
    loop {
        // While `in` is down, ring B's producer is gone: Disconnected once drained. Wait
        // for the next `in`, as a consumer fed by a bridge does.
        let f = match c.recv(Some(Duration::from_millis(100))) {
            Ok(f) => f,
            Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Disconnected) => {
                assert!(
                    last_frame.elapsed() < idle,
                    "consumer: no frame for {idle:?} ({e}); got {} frames, last {:?}",
                    seen.seqs.len(),
                    seen.seqs.last()
                );
                if e.kind() == ErrorKind::Disconnected {
                    thread::sleep(Duration::from_millis(1));
                }
                continue;
            }
            Err(e) => panic!("consumer: {e}"),
        };
        last_frame = Instant::now();
        let seq = check_frame(&f).unwrap_or_else(|e| panic!("consumer: {e}"));
        seen.bytes += f.len() as u64;
        drop(f);
        seen.seqs.push(seq);
        on_frame(&seen);
        if seq == last {
            return seen;
        }
    }
}

/// The socket buffer size the crash tests pin on their endpoints (`#so_sndbuf=..;so_rcvbuf=..`),
/// so that what can be in transit is bounded.
pub const SOCKBUF: u64 = 65_536;

/// `tcp/127.0.0.1:PORT` with both socket buffers pinned to [`SOCKBUF`].
pub fn ep_pinned(port: u16) -> String {
    format!("tcp/127.0.0.1:{port}#so_sndbuf={SOCKBUF};so_rcvbuf={SOCKBUF}")
}

/// The most frames the guarantee lets a crash lose (README, "Delivery guarantee"): the
/// frame in `out`'s hand, `out`'s Zenoh transmit queue (2 batches of 64 KiB for data),
/// both sockets' buffers (the kernel doubles the pinned size), `in`'s Zenoh receive buffer
/// (64 KiB) and `in`'s sample queue (`--queue`, 1024), counted in the smallest messages
/// (a [`MIN_FRAME`] frame plus the 16-byte bridge header).
pub fn transit_bound() -> u64 {
    let bytes = 2 * 65_535 + 2 * (2 * SOCKBUF) + 65_535;
    1 + bytes / (MIN_FRAME as u64 + ipc_bridge::wire::HEADER_LEN as u64) + 1024
}
