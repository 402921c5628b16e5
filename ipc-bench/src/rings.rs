//! Our ring buffers (issue 12) as transports: the SPSC and MPMC u64 rings and the byte
//! ring, each in an anonymous shared mapping that the worker inherits, attached on each
//! side (the ring's registry then holds one producer and one consumer).

use std::rc::Rc;

use ipc_collections::ipc_core::shm::AnonShm;
use ipc_collections::ring::{bytes, mpmc, spsc, RingLayout};

use crate::chan::{Bytes, Chan};
use crate::proc::Deadline;

/// Slots of the u64 rings (as the hand-written ring of scenario 4).
pub const CAP: u64 = crate::chan::RING_CAP as u64;

/// Messages a batched SPSC producer publishes at once (as the hand-written ring).
const BATCH: usize = crate::chan::RING_BATCH as usize;

fn err(e: ipc_collections::Error) -> String {
    e.to_string()
}

/// How an end waits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `try_push`/`try_pop`, spinning while full/empty.
    Spin,
    /// Blocking `push`/`pop` (spins briefly, then sleeps on the ring's futex).
    Block,
    /// Spinning, and the SPSC producer publishes `push_batch`es of 64, the consumer takes
    /// `pop_batch`es.
    Batch,
    /// Spinning; a stream's producer writes runs of 64 values straight into the slots of a
    /// `reserve`d run and publishes each with `commit` (zero-copy); the consumer takes
    /// `pop_batch`es.
    Reserve,
}

/// A ring's mapping and layout.
#[derive(Clone)]
pub struct Mem {
    m: Rc<AnonShm>,
    l: RingLayout,
}

impl Mem {
    fn new(
        cap: u64,
        data_len: Option<usize>,
        init: impl FnOnce(&AnonShm, RingLayout) -> ipc_collections::Result<()>,
    ) -> Result<Mem, String> {
        let l = RingLayout::packed(cap);
        let len = l.data_offset + data_len.ok_or("ring: capacity too large")?;
        let m = AnonShm::new(len).map_err(|e| e.to_string())?;
        init(&m, l).map_err(err)?;
        Ok(Mem { m: Rc::new(m), l })
    }

    pub fn spsc() -> Result<Mem, String> {
        // SAFETY: the mapping is fresh and nobody has attached to it yet.
        Mem::new(CAP, spsc::data_len::<u64>(CAP), |m, l| unsafe {
            spsc::init::<u64, _>(m, l)
        })
    }

    pub fn mpmc() -> Result<Mem, String> {
        // SAFETY: the mapping is fresh and nobody has attached to it yet.
        Mem::new(CAP, mpmc::data_len::<u64>(CAP), |m, l| unsafe {
            mpmc::init::<u64, _>(m, l)
        })
    }

    /// A byte ring for messages of `size` bytes (room for 8 of them, at least 64 KiB).
    pub fn bytes(size: usize) -> Result<Mem, String> {
        let cap = (size as u64 * 8).next_power_of_two().max(64 << 10);
        // SAFETY: the mapping is fresh and nobody has attached to it yet.
        Mem::new(cap, bytes::data_len(cap), |m, l| unsafe {
            bytes::init(m, l)
        })
    }

    /// The mapping for as long as the returned reference's owner keeps `self.m`.
    ///
    /// # Safety
    /// The caller keeps a clone of `self.m` alive for as long as anything borrowed from the
    /// returned reference, and drops those borrowers first.
    unsafe fn mapping(&self) -> &'static AnonShm {
        // SAFETY: the AnonShm lives in the Rc's heap allocation, which does not move and
        // lives while a clone of the Rc does (the caller's contract).
        unsafe { &*Rc::as_ptr(&self.m) }
    }
}

/// One end of an SPSC u64 ring pair: a producer on `tx`, a consumer on `rx` (either may
/// be absent). Field order matters: the ends drop before the mappings they borrow.
pub struct Spsc {
    p: Option<spsc::Producer<'static, u64>>,
    c: Option<spsc::Consumer<'static, u64>>,
    mode: Mode,
    out: Vec<u64>,
    inb: [u64; BATCH],
    /// Values in `inb` (taken from the ring by the last `pop_batch`).
    inb_len: usize,
    at: usize,
    _mems: Vec<Mem>,
}

impl Spsc {
    /// Attaches a producer to `tx` and a consumer to `rx`.
    pub fn attach(tx: Option<&Mem>, rx: Option<&Mem>, mode: Mode) -> Result<Spsc, String> {
        // SAFETY: `_mems` below keeps a clone of each mapping's Rc, and the ends (fields
        // declared before it) drop first.
        let p = tx
            .map(|m| spsc::Producer::attach(unsafe { m.mapping() }, m.l))
            .transpose()
            .map_err(err)?;
        // SAFETY: as above.
        let c = rx
            .map(|m| spsc::Consumer::attach(unsafe { m.mapping() }, m.l))
            .transpose()
            .map_err(err)?;
        Ok(Spsc {
            p,
            c,
            mode,
            out: Vec::with_capacity(BATCH),
            inb: [0; BATCH],
            inb_len: 0,
            at: 0,
            _mems: tx.into_iter().chain(rx).cloned().collect(),
        })
    }

    fn push_out(&mut self) -> Result<(), String> {
        let p = self.p.as_mut().ok_or("receive-only end")?;
        let mut done = 0;
        let mut d = Deadline::new();
        while done < self.out.len() {
            match p.push_batch(&self.out[done..]) {
                Ok(k) => done += k,
                Err(e) => return Err(err(e)),
            }
            if done < self.out.len() {
                std::hint::spin_loop();
                d.check("ring: full")?;
            }
        }
        self.out.clear();
        Ok(())
    }
}

impl Chan for Spsc {
    fn send(&mut self, v: u64) -> Result<(), String> {
        match self.mode {
            Mode::Batch | Mode::Reserve => {
                self.out.push(v);
                if self.out.len() == BATCH {
                    self.push_out()?;
                }
                Ok(())
            }
            Mode::Block => {
                let p = self.p.as_mut().ok_or("receive-only end")?;
                p.push(v, Some(crate::proc::WATCHDOG)).map_err(err)
            }
            Mode::Spin => {
                let p = self.p.as_mut().ok_or("receive-only end")?;
                let mut d = Deadline::new();
                loop {
                    match p.try_push(v) {
                        Ok(true) => return Ok(()),
                        Ok(false) => {
                            std::hint::spin_loop();
                            d.check("ring: full")?;
                        }
                        Err(e) => return Err(err(e)),
                    }
                }
            }
        }
    }
    fn flush(&mut self) -> Result<(), String> {
        self.push_out()
    }
    const WRITES_RUNS: bool = true;
    fn send_run(&mut self, from: u64, to: u64) -> Result<(), String> {
        if self.mode != Mode::Reserve {
            for i in from..to {
                self.send(i)?;
            }
            return Ok(());
        }
        let p = self.p.as_mut().ok_or("receive-only end")?;
        let mut d = Deadline::new();
        let mut i = from;
        while i < to {
            match p.reserve(BATCH.min((to - i) as usize)) {
                Ok(Some(mut r)) => {
                    while r.push(i).is_ok() {
                        i += 1;
                    }
                    r.commit();
                }
                Ok(None) => {
                    std::hint::spin_loop();
                    d.check("ring: full")?;
                }
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<u64, String> {
        let c = self.c.as_mut().ok_or("send-only end")?;
        let mut d = Deadline::new();
        match self.mode {
            Mode::Batch | Mode::Reserve => {
                if self.at == self.inb_len {
                    loop {
                        match c.pop_batch(&mut self.inb) {
                            Ok(k) if k > 0 => {
                                self.inb_len = k;
                                break;
                            }
                            Ok(_) => {
                                std::hint::spin_loop();
                                d.check("ring: empty")?;
                            }
                            Err(e) => return Err(err(e)),
                        }
                    }
                    self.at = 0;
                }
                self.at += 1;
                Ok(self.inb[self.at - 1])
            }
            Mode::Block => c.pop(Some(crate::proc::WATCHDOG)).map_err(err),
            Mode::Spin => loop {
                match c.try_pop() {
                    Ok(Some(v)) => return Ok(v),
                    Ok(None) => {
                        std::hint::spin_loop();
                        d.check("ring: empty")?;
                    }
                    Err(e) => return Err(err(e)),
                }
            },
        }
    }
}

/// One end of an MPMC u64 ring pair (`try_push`/`try_pop`, spinning).
pub struct Mpmc {
    p: Option<mpmc::Producer<'static, u64>>,
    c: Option<mpmc::Consumer<'static, u64>>,
    _mems: Vec<Mem>,
}

impl Mpmc {
    pub fn attach(tx: Option<&Mem>, rx: Option<&Mem>) -> Result<Mpmc, String> {
        // SAFETY: `_mems` keeps a clone of each mapping's Rc; the ends drop first.
        let p = tx
            .map(|m| mpmc::Producer::attach(unsafe { m.mapping() }, m.l))
            .transpose()
            .map_err(err)?;
        // SAFETY: as above.
        let c = rx
            .map(|m| mpmc::Consumer::attach(unsafe { m.mapping() }, m.l))
            .transpose()
            .map_err(err)?;
        Ok(Mpmc {
            p,
            c,
            _mems: tx.into_iter().chain(rx).cloned().collect(),
        })
    }
}

impl Chan for Mpmc {
    fn send(&mut self, v: u64) -> Result<(), String> {
        let p = self.p.as_mut().ok_or("receive-only end")?;
        let mut d = Deadline::new();
        loop {
            match p.try_push(v) {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    std::hint::spin_loop();
                    d.check("mpmc: full")?;
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
    fn recv(&mut self) -> Result<u64, String> {
        let c = self.c.as_mut().ok_or("send-only end")?;
        let mut d = Deadline::new();
        loop {
            match c.try_pop() {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {
                    std::hint::spin_loop();
                    d.check("mpmc: empty")?;
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
}

/// One end of a byte ring: frames copied in with `try_send`, received in place and copied
/// out (spinning).
pub struct ByteRing {
    p: Option<bytes::Producer<'static>>,
    c: Option<bytes::Consumer<'static>>,
    _mem: Mem,
}

impl ByteRing {
    pub fn attach(m: &Mem, producer: bool) -> Result<ByteRing, String> {
        // SAFETY: `_mem` keeps a clone of the mapping's Rc; the ends drop first.
        let mapping = unsafe { m.mapping() };
        let (p, c) = if producer {
            (
                Some(bytes::Producer::attach(mapping, m.l).map_err(err)?),
                None,
            )
        } else {
            (
                None,
                Some(bytes::Consumer::attach(mapping, m.l).map_err(err)?),
            )
        };
        Ok(ByteRing {
            p,
            c,
            _mem: m.clone(),
        })
    }
}

impl Bytes for ByteRing {
    fn send(&mut self, msg: &[u8]) -> Result<(), String> {
        let p = self.p.as_mut().ok_or("receive-only end")?;
        let mut d = Deadline::new();
        loop {
            match p.try_send(msg) {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    std::hint::spin_loop();
                    d.check("byte ring: full")?;
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let c = self.c.as_mut().ok_or("send-only end")?;
        let mut d = Deadline::new();
        loop {
            match c.try_recv() {
                Ok(Some(f)) => {
                    if f.len() != buf.len() {
                        return Err(format!(
                            "byte ring: {} bytes, expected {}",
                            f.len(),
                            buf.len()
                        ));
                    }
                    buf.copy_from_slice(&f);
                    return Ok(());
                }
                Ok(None) => {
                    std::hint::spin_loop();
                    d.check("byte ring: empty")?;
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The scenarios' implementations
// ---------------------------------------------------------------------------------------

use crate::chan;
use crate::measure::Imp;

/// Round trips through two SPSC rings (one a direction).
pub fn spsc_pingpong(mode: Mode) -> Result<Box<dyn Imp>, String> {
    spsc_pingpong_delayed(mode, std::time::Duration::ZERO)
}

/// Round trips through two SPSC rings, each side pausing `delay` before it sends (see
/// [`chan::PingPong`]).
pub fn spsc_pingpong_delayed(
    mode: Mode,
    delay: std::time::Duration,
) -> Result<Box<dyn Imp>, String> {
    let (a, b) = (Mem::spsc()?, Mem::spsc()?);
    let (a2, b2) = (a.clone(), b.clone());
    chan::pingpong_delayed(
        "spsc ring",
        delay,
        move |_| Spsc::attach(Some(&a), Some(&b), mode),
        Box::new(move || Spsc::attach(Some(&b2), Some(&a2), mode)),
    )
}

/// Round trips through two MPMC rings.
pub fn mpmc_pingpong() -> Result<Box<dyn Imp>, String> {
    let (a, b) = (Mem::mpmc()?, Mem::mpmc()?);
    let (a2, b2) = (a.clone(), b.clone());
    chan::pingpong(
        "mpmc ring",
        move |_| Mpmc::attach(Some(&a), Some(&b)),
        Box::new(move || Mpmc::attach(Some(&b2), Some(&a2))),
    )
}

/// A u64 stream through one SPSC ring: `Mode::Batch` (`push_batch`es of 64),
/// `Mode::Reserve` (runs of 64 written in place, one `commit` each) or `Mode::Spin`
/// (`try_push`/`try_pop`, one value at a time).
pub fn spsc_stream(mode: Mode) -> Result<Box<dyn Imp>, String> {
    let a = Mem::spsc()?;
    let a2 = a.clone();
    chan::stream(
        "spsc ring",
        move |_| Spsc::attach(Some(&a), None, mode),
        Box::new(move || Spsc::attach(None, Some(&a2), mode)),
    )
}

/// A u64 stream through one MPMC ring, one message at a time.
pub fn mpmc_stream() -> Result<Box<dyn Imp>, String> {
    let a = Mem::mpmc()?;
    let a2 = a.clone();
    chan::stream(
        "mpmc ring",
        move |_| Mpmc::attach(Some(&a), None),
        Box::new(move || Mpmc::attach(None, Some(&a2))),
    )
}

/// `size`-byte frames through the byte ring.
pub fn byte_stream(size: usize) -> Result<Box<dyn Imp>, String> {
    let a = Mem::bytes(size)?;
    let a2 = a.clone();
    chan::byte_stream(
        "byte ring",
        size,
        move |_| ByteRing::attach(&a, true),
        Box::new(move || ByteRing::attach(&a2, false)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::within;

    #[test]
    fn spsc_and_mpmc_streams_deliver_every_value_in_order_across_processes() {
        within(60, || {
            for mut imp in [
                spsc_stream(Mode::Batch).expect("spsc batched"),
                spsc_stream(Mode::Reserve).expect("spsc reserve/commit"),
                spsc_stream(Mode::Spin).expect("spsc one at a time"),
                mpmc_stream().expect("mpmc"),
            ] {
                // Many times the capacity, and not a multiple of the batch.
                for n in [1, 3 * CAP + 7, 100_000] {
                    imp.batch(n).expect("the consumer checked every value");
                }
            }
        });
    }

    #[test]
    fn ring_round_trips_cross_to_a_forked_worker_spinning_and_sleeping() {
        within(60, || {
            for mut imp in [
                spsc_pingpong(Mode::Spin).expect("spsc"),
                spsc_pingpong(Mode::Block).expect("spsc blocking"),
                mpmc_pingpong().expect("mpmc"),
            ] {
                for n in [1, 1000] {
                    imp.batch(n).expect("round trips");
                }
            }
        });
    }

    #[test]
    fn byte_ring_frames_arrive_whole_and_in_order() {
        within(60, || {
            for size in [64, 4096, 1 << 20] {
                let mut imp = byte_stream(size).expect("byte ring");
                // More frames than the ring holds (8), so it wraps.
                imp.batch(50).expect("every frame whole, stamped in order");
            }
        });
    }
}
