//! Transports as two-process channels, and the three ways a scenario drives them: ping-pong
//! round trips, a u64 stream, and a stream of byte messages.
//!
//! Each transport has a parent end (made before the fork, or opened by name after it) and a
//! child end, made in the worker on its first command by a factory closure (which owns what
//! the child inherited: a pipe end, a mapping, a name).

use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::measure::{monotonic_ns, Imp, Timing};
use crate::proc::{Deadline, Worker};

/// One end of a two-way u64 channel. Transports that carry no value (a futex word, a
/// semaphore) deliver a count instead; ping-pong never checks values, streaming does.
pub trait Chan {
    fn send(&mut self, v: u64) -> Result<(), String>;
    fn recv(&mut self) -> Result<u64, String>;
    /// Publishes what `send` may have held back (a batching ring).
    fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// Whether a stream's producer calls [`send_run`](Self::send_run) once for the whole
    /// batch (a transport that writes runs of values in place, as a ring's reserve/commit)
    /// rather than [`send`](Self::send) once per value.
    const WRITES_RUNS: bool = false;
    /// Sends the values `from..to` in order (see [`WRITES_RUNS`](Self::WRITES_RUNS)).
    fn send_run(&mut self, from: u64, to: u64) -> Result<(), String> {
        for i in from..to {
            self.send(i)?;
        }
        Ok(())
    }
}

/// One end of a one-way byte-message channel.
pub trait Bytes {
    fn send(&mut self, msg: &[u8]) -> Result<(), String>;
    /// Receives one message of `buf.len()` bytes into `buf`.
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String>;
}

/// A factory for the child's end, run in the worker.
pub type Make<C> = Box<dyn FnOnce() -> Result<C, String>>;

/// Lazily made child end.
fn child_end<C>(slot: &mut Option<C>, make: &mut Option<Make<C>>) -> Result<(), String> {
    if slot.is_none() {
        let f = make.take().ok_or("child end: factory already failed")?;
        *slot = Some(f()?);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Drivers
// ---------------------------------------------------------------------------------------

/// Round trips: the parent sends, the worker echoes. One untimed round trip first (it
/// wakes the worker), then `n` timed ones.
///
/// With a `delay`, each side spins that long before each send, so the other side has
/// given up spinning and sleeps when the message comes: the round trip then measures two
/// wake-ups of a sleeping receiver (the delays are subtracted from the time returned).
pub struct PingPong<P> {
    w: Worker,
    p: P,
    delay: Duration,
}

pub fn pingpong<P: Chan + 'static, C: Chan + 'static>(
    what: &str,
    make_parent: impl FnOnce(&mut Worker) -> Result<P, String>,
    make_child: Make<C>,
) -> Result<Box<dyn Imp>, String> {
    pingpong_delayed(what, Duration::ZERO, make_parent, make_child)
}

/// [`pingpong`] with both sides spinning `delay` before each send (see [`PingPong`]).
pub fn pingpong_delayed<P: Chan + 'static, C: Chan + 'static>(
    what: &str,
    delay: Duration,
    make_parent: impl FnOnce(&mut Worker) -> Result<P, String>,
    make_child: Make<C>,
) -> Result<Box<dyn Imp>, String> {
    let mut make = Some(make_child);
    let mut c: Option<C> = None;
    let mut w = Worker::spawn(what, move |_ctl, op, n| {
        child_end(&mut c, &mut make)?;
        let c = c.as_mut().expect("made above");
        if op == SETUP {
            return Ok([0, 0]);
        }
        for _ in 0..n {
            let v = c.recv()?;
            spin_for(delay);
            c.send(v)?;
        }
        Ok([0, 0])
    })?;
    let p = make_parent(&mut w)?;
    Ok(Box::new(PingPong { w, p, delay }))
}

/// Spins (without sleeping) for `d`; nothing for zero.
#[inline]
fn spin_for(d: Duration) {
    if d.is_zero() {
        return;
    }
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

impl<P: Chan> Imp for PingPong<P> {
    fn batch(&mut self, n: u64) -> Result<Timing, String> {
        self.w.start(0, n + 1)?;
        self.p.send(0)?;
        self.p.recv()?;
        let t = Instant::now();
        for i in 1..=n {
            spin_for(self.delay);
            self.p.send(i)?;
            self.p.recv()?;
        }
        let wall = t.elapsed();
        self.w.finish()?;
        let spun = Duration::from_nanos((self.delay.as_nanos() as u64).saturating_mul(2 * n));
        Ok(Timing::wall(wall.saturating_sub(spun)))
    }
}

/// A stream of u64 from the parent (producer) to the worker (consumer), which checks every
/// value. Timed from just after the consumer is ready to the consumer's last receive (one
/// monotonic clock for both processes).
pub struct Stream<P> {
    w: Worker,
    p: P,
}

pub fn stream<P: Chan + 'static, C: Chan + 'static>(
    what: &str,
    make_parent: impl FnOnce(&mut Worker) -> Result<P, String>,
    make_child: Make<C>,
) -> Result<Box<dyn Imp>, String> {
    let mut make = Some(make_child);
    let mut c: Option<C> = None;
    let mut w = Worker::spawn(what, move |ctl, op, n| {
        child_end(&mut c, &mut make)?;
        let c = c.as_mut().expect("made above");
        if op == SETUP {
            return Ok([0, 0]);
        }
        ctl.ready()?;
        for i in 0..n {
            let v = c.recv()?;
            if v != i {
                return Err(format!("stream: expected {i}, received {v}"));
            }
        }
        Ok([monotonic_ns(), 0])
    })?;
    let p = make_parent(&mut w)?;
    Ok(Box::new(Stream { w, p }))
}

/// The op that only makes the child's end: a parent factory that needs the child's end
/// to exist (to wait for its connection) calls [`setup_child`].
pub const SETUP: u64 = 1;

/// Makes the worker's end now and waits until it is made.
#[cfg_attr(not(feature = "peers"), allow(dead_code))]
pub fn setup_child(w: &mut Worker) -> Result<(), String> {
    w.start(SETUP, 0)?;
    w.finish().map(drop)
}

impl<P: Chan> Imp for Stream<P> {
    fn batch(&mut self, n: u64) -> Result<Timing, String> {
        self.w.start(0, n)?;
        self.w.wait_ready()?;
        let t0 = monotonic_ns();
        if P::WRITES_RUNS {
            self.p.send_run(0, n)?;
        } else {
            for i in 0..n {
                self.p.send(i)?;
            }
        }
        self.p.flush()?;
        let [end, _] = self.w.finish()?;
        Ok(Timing::wall(Duration::from_nanos(end.saturating_sub(t0))))
    }
}

/// A stream of `size`-byte messages; every message is stamped with its number in its first
/// 8 bytes, which the consumer checks. Both sides copy: the producer from its own buffer,
/// the consumer into its own buffer.
pub struct ByteStream<P> {
    w: Worker,
    p: P,
    msg: Vec<u8>,
}

pub fn byte_stream<P: Bytes + 'static, C: Bytes + 'static>(
    what: &str,
    size: usize,
    make_parent: impl FnOnce(&mut Worker) -> Result<P, String>,
    make_child: Make<C>,
) -> Result<Box<dyn Imp>, String> {
    let mut make = Some(make_child);
    let mut c: Option<C> = None;
    let mut buf = vec![0u8; size];
    let mut w = Worker::spawn(what, move |ctl, op, n| {
        child_end(&mut c, &mut make)?;
        let c = c.as_mut().expect("made above");
        if op == SETUP {
            return Ok([0, 0]);
        }
        ctl.ready()?;
        for i in 0..n {
            c.recv(&mut buf)?;
            let v = u64::from_ne_bytes(buf[..8].try_into().expect("8 bytes"));
            if v != i {
                return Err(format!("byte stream: expected {i}, received {v}"));
            }
        }
        Ok([monotonic_ns(), 0])
    })?;
    let msg = (0..size).map(|i| i as u8).collect();
    let p = make_parent(&mut w)?;
    Ok(Box::new(ByteStream { w, p, msg }))
}

impl<P: Bytes> Imp for ByteStream<P> {
    fn batch(&mut self, n: u64) -> Result<Timing, String> {
        self.w.start(0, n)?;
        self.w.wait_ready()?;
        let t0 = monotonic_ns();
        for i in 0..n {
            self.msg[..8].copy_from_slice(&i.to_ne_bytes());
            self.p.send(&self.msg)?;
        }
        let [end, _] = self.w.finish()?;
        Ok(Timing::wall(Duration::from_nanos(end.saturating_sub(t0))))
    }
}

// ---------------------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------------------

/// A byte stream (pipe, Unix socket): u64 messages of 8 bytes, one write and one read each.
pub struct Fd<R, W> {
    pub rx: R,
    pub tx: W,
}

impl<R: Read, W: Write> Chan for Fd<R, W> {
    fn send(&mut self, v: u64) -> Result<(), String> {
        self.tx
            .write_all(&v.to_ne_bytes())
            .map_err(|e| format!("write: {e}"))
    }
    fn recv(&mut self) -> Result<u64, String> {
        let mut b = [0u8; 8];
        self.rx
            .read_exact(&mut b)
            .map_err(|e| format!("read: {e}"))?;
        Ok(u64::from_ne_bytes(b))
    }
}

impl<R: Read, W: Write> Bytes for Fd<R, W> {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        self.tx.write_all(msg).map_err(|e| format!("write: {e}"))
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.rx.read_exact(buf).map_err(|e| format!("read: {e}"))
    }
}

/// An end that only sends or only receives.
pub struct Never;

impl Read for Never {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("this end only sends"))
    }
}

impl Write for Never {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("this end only receives"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Two pipes, as (parent end, child end).
/// Two ends of a transport, made together: (parent's, child's).
pub type Ends<P, C> = Result<(P, C), String>;

/// A pipe or socket end.
pub type FileFd = Fd<File, File>;

/// A Unix socket end.
pub type SockFd = Fd<std::os::unix::net::UnixStream, std::os::unix::net::UnixStream>;

pub fn pipes() -> Ends<FileFd, FileFd> {
    let (a_r, a_w) = crate::proc::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (b_r, b_w) = crate::proc::pipe().map_err(|e| format!("pipe: {e}"))?;
    Ok((Fd { rx: b_r, tx: a_w }, Fd { rx: a_r, tx: b_w }))
}

/// One pipe, as (producer end, consumer end).
pub fn one_pipe() -> Ends<Fd<Never, File>, Fd<File, Never>> {
    let (r, w) = crate::proc::pipe().map_err(|e| format!("pipe: {e}"))?;
    Ok((Fd { rx: Never, tx: w }, Fd { rx: r, tx: Never }))
}

/// A connected Unix stream socket pair, as (parent end, child end).
pub fn socket_pair() -> Ends<SockFd, SockFd> {
    let (a, b) = std::os::unix::net::UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let a2 = a.try_clone().map_err(|e| format!("dup: {e}"))?;
    let b2 = b.try_clone().map_err(|e| format!("dup: {e}"))?;
    Ok((Fd { rx: a, tx: a2 }, Fd { rx: b, tx: b2 }))
}

/// Two words on one cache line: the hardware floor of a spinning round trip.
#[repr(C, align(128))]
pub struct Line {
    a: AtomicU64,
    b: AtomicU64,
}

/// A spinning end over a [`Line`] in an anonymous shared mapping (inherited by the worker).
/// Sends a private sequence number; receives by spinning until the other word changes.
pub struct Spin {
    line: std::rc::Rc<ipc_testutil::shared_mem::ShMem<Line>>,
    parent: bool,
    seq: u64,
    last: u64,
}

impl Spin {
    pub fn pair() -> (Spin, Spin) {
        let m = std::rc::Rc::new(ipc_testutil::shared_mem::ShMem::new(|_: *mut Line| {}));
        let end = |parent| Spin {
            line: m.clone(),
            parent,
            seq: 0,
            last: 0,
        };
        (end(true), end(false))
    }
    fn words(&self) -> (&AtomicU64, &AtomicU64) {
        let l: &Line = &self.line;
        if self.parent {
            (&l.a, &l.b)
        } else {
            (&l.b, &l.a)
        }
    }
}

impl Chan for Spin {
    fn send(&mut self, _: u64) -> Result<(), String> {
        self.seq += 1;
        // Release: pairs with the Acquire load in the other side's recv.
        self.words().0.store(self.seq, Ordering::Release);
        Ok(())
    }
    fn recv(&mut self) -> Result<u64, String> {
        let mut d = Deadline::new();
        loop {
            let v = self.words().1.load(Ordering::Acquire);
            if v != self.last {
                self.last = v;
                return Ok(v);
            }
            std::hint::spin_loop();
            d.check("cache line")?;
        }
    }
}

/// Two futex words, one a direction: the raw `futex(2)` floor of a sleeping wake-up. Sends
/// a sequence number and always calls FUTEX_WAKE; waits with FUTEX_WAIT (bounded, so a
/// dead peer is noticed).
pub struct Futex {
    words: std::rc::Rc<ipc_testutil::shared_mem::ShMem<[AtomicU32; 64]>>,
    parent: bool,
    seq: u32,
    last: u32,
}

impl Futex {
    pub fn pair() -> (Futex, Futex) {
        let m = std::rc::Rc::new(ipc_testutil::shared_mem::ShMem::new(
            |_: *mut [AtomicU32; 64]| {},
        ));
        let end = |parent| Futex {
            words: m.clone(),
            parent,
            seq: 0,
            last: 0,
        };
        (end(true), end(false))
    }
    fn words(&self) -> (&AtomicU32, &AtomicU32) {
        // Word 0 and word 32: 128 bytes apart, on different cache lines.
        let w: &[AtomicU32; 64] = &self.words;
        if self.parent {
            (&w[0], &w[32])
        } else {
            (&w[32], &w[0])
        }
    }
}

fn futex(word: &AtomicU32, op: i32, val: u32, timeout: Option<&libc::timespec>) -> i64 {
    // SAFETY: `word` is a live, 4-aligned u32 in a shared mapping (so no FUTEX_PRIVATE
    // flag); the timeout is null or a valid timespec; FUTEX_WAIT/WAKE use no other argument.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            val,
            timeout.map_or(std::ptr::null(), |t| t as *const libc::timespec),
            std::ptr::null::<u32>(),
            0,
        )
    }
}

impl Chan for Futex {
    fn send(&mut self, _: u64) -> Result<(), String> {
        self.seq = self.seq.wrapping_add(1);
        let (tx, _) = self.words();
        // Release: pairs with the Acquire load in the other side's recv.
        tx.store(self.seq, Ordering::Release);
        futex(tx, libc::FUTEX_WAKE, 1, None);
        Ok(())
    }
    fn recv(&mut self) -> Result<u64, String> {
        let t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        let mut d = Deadline::new();
        loop {
            let (_, rx) = self.words();
            let v = rx.load(Ordering::Acquire);
            if v != self.last {
                self.last = v;
                return Ok(u64::from(v));
            }
            futex(rx, libc::FUTEX_WAIT, v, Some(&t));
            for _ in 0..4096 {
                d.check("futex")?;
            }
        }
    }
}

/// Two one-way channels as one two-way end: sends on `tx`, receives on `rx`.
pub struct Duplex<T, R> {
    pub tx: T,
    pub rx: R,
}

impl<T: Chan, R: Chan> Chan for Duplex<T, R> {
    fn send(&mut self, v: u64) -> Result<(), String> {
        self.tx.send(v)
    }
    fn recv(&mut self) -> Result<u64, String> {
        self.rx.recv()
    }
    fn flush(&mut self) -> Result<(), String> {
        self.tx.flush()
    }
}

/// A POSIX message queue pair by name (raw `mq_*`), messages of 8 bytes.
pub struct Mq {
    tx: libc::mqd_t,
    rx: libc::mqd_t,
}

impl Mq {
    /// Creates queue `name` (exclusively), with room for 10 messages of 8 bytes (the
    /// default `msg_max` an unprivileged user may ask for).
    pub fn create(name: &std::ffi::CStr) -> Result<(), String> {
        let mut attr: libc::mq_attr =
            // SAFETY: mq_attr is plain integers; all-zero is a valid value.
            unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = 10;
        attr.mq_msgsize = 8;
        // SAFETY: a NUL-terminated name and a valid attr pointer.
        let q = unsafe {
            libc::mq_open(
                name.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                0o600 as libc::mode_t,
                &attr as *const libc::mq_attr,
            )
        };
        if q < 0 {
            return Err(format!("mq_open: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: q is the descriptor just opened.
        unsafe { libc::mq_close(q) };
        Ok(())
    }

    /// Opens `tx` for sending and `rx` for receiving (either may be None).
    pub fn open(tx: Option<&std::ffi::CStr>, rx: Option<&std::ffi::CStr>) -> Result<Mq, String> {
        let open = |n: Option<&std::ffi::CStr>, flags| -> Result<libc::mqd_t, String> {
            let Some(n) = n else { return Ok(-1) };
            // SAFETY: a NUL-terminated name; no O_CREAT, so no further arguments.
            let q = unsafe { libc::mq_open(n.as_ptr(), flags | libc::O_CLOEXEC) };
            if q < 0 {
                return Err(format!("mq_open: {}", std::io::Error::last_os_error()));
            }
            Ok(q)
        };
        Ok(Mq {
            tx: open(tx, libc::O_WRONLY)?,
            rx: open(rx, libc::O_RDONLY)?,
        })
    }
}

impl Drop for Mq {
    fn drop(&mut self) {
        for q in [self.tx, self.rx] {
            if q >= 0 {
                // SAFETY: a descriptor this value opened and closes once.
                unsafe { libc::mq_close(q) };
            }
        }
    }
}

impl Chan for Mq {
    fn send(&mut self, v: u64) -> Result<(), String> {
        let b = v.to_ne_bytes();
        // SAFETY: an open queue descriptor, a valid 8-byte buffer.
        let r = unsafe { libc::mq_send(self.tx, b.as_ptr().cast(), 8, 0) };
        if r != 0 {
            return Err(format!("mq_send: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<u64, String> {
        let mut b = [0u8; 8];
        let mut d = Deadline::new();
        loop {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid, writable timespec.
            unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
            ts.tv_sec += 1;
            // SAFETY: an open queue descriptor, an 8-byte buffer (the queue's message size),
            // a null priority pointer (allowed) and a valid timespec.
            let r = unsafe {
                libc::mq_timedreceive(self.rx, b.as_mut_ptr().cast(), 8, std::ptr::null_mut(), &ts)
            };
            if r == 8 {
                return Ok(u64::from_ne_bytes(b));
            }
            let e = std::io::Error::last_os_error();
            if r >= 0 || !matches!(e.raw_os_error(), Some(libc::ETIMEDOUT | libc::EINTR)) {
                return Err(format!("mq_receive: {e} ({r})"));
            }
            for _ in 0..4096 {
                d.check("mq")?;
            }
        }
    }
}

/// The minimal hand-written SPSC ring of scenario 4's baseline: u64 slots, head and tail
/// counters on their own 128-byte lines, each side caching the other's counter and
/// publishing its own once every [`RING_BATCH`] messages (or when it has to wait).
#[repr(C)]
pub struct RawRing {
    tail: Padded,
    head: Padded,
    slots: [AtomicU64; RING_CAP],
}

#[repr(C, align(128))]
struct Padded(AtomicU64);

pub const RING_CAP: usize = 4096;
pub const RING_BATCH: u64 = 64;

/// One end of a [`RawRing`] in an anonymous shared mapping, each side publishing its
/// counter every `B` messages (a constant, as in a hand-written ring): [`RING_BATCH`] for
/// scenario 4's baseline, 1 (every message) for scenario 2's.
pub struct Ring<const B: u64 = RING_BATCH> {
    r: std::rc::Rc<ipc_testutil::shared_mem::ShMem<RawRing>>,
    /// The producer's tail or the consumer's head (private, published in batches).
    mine: u64,
    /// Cached copy of the other side's counter.
    theirs: u64,
    producer: bool,
}

impl<const B: u64> Ring<B> {
    pub fn pair() -> (Ring<B>, Ring<B>) {
        let m = std::rc::Rc::new(ipc_testutil::shared_mem::ShMem::new(|_: *mut RawRing| {}));
        let end = |producer| Ring {
            r: m.clone(),
            mine: 0,
            theirs: 0,
            producer,
        };
        (end(true), end(false))
    }
}

impl<const B: u64> Chan for Ring<B> {
    fn send(&mut self, v: u64) -> Result<(), String> {
        debug_assert!(self.producer);
        let r: &RawRing = &self.r;
        if self.mine - self.theirs == RING_CAP as u64 {
            // Publish what we have, then wait for room.
            // Release: pairs with the consumer's Acquire load of tail.
            r.tail.0.store(self.mine, Ordering::Release);
            let mut d = Deadline::new();
            loop {
                // Acquire: pairs with the consumer's Release store of head (its reads of
                // the slots are done).
                self.theirs = r.head.0.load(Ordering::Acquire);
                if self.mine - self.theirs < RING_CAP as u64 {
                    break;
                }
                std::hint::spin_loop();
                d.check("ring: full")?;
            }
        }
        r.slots[self.mine as usize % RING_CAP].store(v, Ordering::Relaxed);
        self.mine += 1;
        if self.mine % B == 0 {
            // Release: publishes the slots written above to the consumer.
            r.tail.0.store(self.mine, Ordering::Release);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), String> {
        // Release: publishes every slot written.
        self.r.tail.0.store(self.mine, Ordering::Release);
        Ok(())
    }
    fn recv(&mut self) -> Result<u64, String> {
        let r: &RawRing = &self.r;
        if self.mine == self.theirs {
            // Release: hands the slots read so far back to the producer.
            r.head.0.store(self.mine, Ordering::Release);
            let mut d = Deadline::new();
            loop {
                // Acquire: pairs with the producer's Release store of tail.
                self.theirs = r.tail.0.load(Ordering::Acquire);
                if self.theirs != self.mine {
                    break;
                }
                std::hint::spin_loop();
                d.check("ring: empty")?;
            }
        }
        let v = r.slots[self.mine as usize % RING_CAP].load(Ordering::Relaxed);
        self.mine += 1;
        if self.mine % B == 0 {
            // Release: the slots up to here are read.
            r.head.0.store(self.mine, Ordering::Release);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proc::within;

    #[test]
    fn pipe_round_trips_cross_to_a_forked_worker() {
        within(60, || {
            let (p, c) = pipes().expect("pipes");
            let mut imp = pingpong("pipe", |_| Ok(p), Box::new(move || Ok(c))).expect("spawn");
            for n in [1, 100] {
                let t = imp.batch(n).expect("batch");
                assert!(t.wall > Duration::ZERO && t.cpu.is_none());
            }
        });
    }

    #[test]
    fn the_hand_written_ring_delivers_every_value_in_order_across_processes() {
        within(60, || {
            let (p, c) = Ring::<RING_BATCH>::pair();
            let mut imp = stream("ring", |_| Ok(p), Box::new(move || Ok(c))).expect("spawn");
            // Many times the capacity, and not a multiple of the publication batch.
            for n in [1, 3 * RING_CAP as u64 + 7, 100_000] {
                imp.batch(n).expect("the consumer checked every value");
            }
        });
    }

    /// Sends one wrong value at 5.
    struct Skips(Fd<Never, File>);

    impl Chan for Skips {
        fn send(&mut self, v: u64) -> Result<(), String> {
            Chan::send(&mut self.0, if v == 5 { 6 } else { v })
        }
        fn recv(&mut self) -> Result<u64, String> {
            Chan::recv(&mut self.0)
        }
    }

    #[test]
    fn a_wrong_value_in_a_stream_fails_the_batch() {
        within(60, || {
            let (p, c) = one_pipe().expect("pipe");
            let mut imp = stream("pipe", |_| Ok(Skips(p)), Box::new(move || Ok(c))).expect("spawn");
            imp.batch(5).expect("values 0..5 are right");
            let e = imp.batch(10).expect_err("value 5 is wrong");
            assert!(e.contains("batch failed"), "{e}");
        });
    }

    #[test]
    fn a_worker_killed_mid_batch_fails_the_batch_at_once() {
        within(60, || {
            let mut w = Worker::spawn("sleeper", |_, _, _| {
                std::thread::sleep(Duration::from_secs(120));
                Ok([0, 0])
            })
            .expect("spawn");
            w.start(0, 1).expect("start");
            ipc_testutil::sigkill(w.pid());
            let t = std::time::Instant::now();
            let e = w.finish().expect_err("the worker is dead");
            assert!(e.contains("worker died"), "{e}");
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "noticed by EOF, not the watchdog"
            );
        });
    }
}
