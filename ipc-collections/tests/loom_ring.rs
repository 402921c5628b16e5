//! Loom models of the ring algorithms: the real code of `ipc_collections::ring` (SPSC, MPMC
//! with the recovery of slots abandoned by dead producers and by dead consumers, the byte
//! ring) on loom's atomics, a loom model of the
//! futex and of process death (`ring/shim.rs`), over heap memory.
//!
//! Under `RUSTFLAGS="--cfg loom"` every slot (every 8 bytes of a byte ring) is tracked by a
//! loom cell while the ring code reads or writes it, so loom reports a plain access that is
//! not ordered after the last conflicting one (a missing Acquire/Release); a consumer that
//! sleeps for ever (a lost wake-up: the model's futex waits have no timeout) shows up as
//! loom's "deadlock"; the assertions check values, order, `Disconnected` after the drain,
//! and the `lost` count. Each test bounds loom's preemptions (`LOOM_MAX_PREEMPTIONS`
//! overrides; `-- --nocapture` prints how many executions each explored).
//!
//! Run (about a minute on two cores):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p typed-ipc-collections --release --test loom_ring
//! ```
#![cfg(loom)]

use ipc_collections::ring::shim::{die, set_pid};
use ipc_collections::ring::{bytes, mpmc, spsc, RingLayout};
use ipc_collections::ErrorKind;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use std::alloc::{alloc_zeroed, dealloc, Layout};

use ipc_testutil::loom::check;

fn spsc_ring(cap: u64) -> (Arc<HeapMem>, RingLayout) {
    let l = RingLayout::packed(cap);
    let m = HeapMem::new(l.data_offset + spsc::data_len::<u64>(cap).unwrap());
    // SAFETY: fresh memory, nobody attached.
    unsafe { spsc::init::<u64, _>(&m, l) }.unwrap();
    (Arc::new(m), l)
}

fn mpmc_ring(cap: u64) -> (Arc<HeapMem>, RingLayout) {
    let l = RingLayout::packed(cap);
    let m = HeapMem::new(l.data_offset + mpmc::data_len::<u64>(cap).unwrap());
    // SAFETY: fresh memory, nobody attached.
    unsafe { mpmc::init::<u64, _>(&m, l) }.unwrap();
    (Arc::new(m), l)
}

/// A start barrier: every participant attaches before anyone can see the others' side as
/// gone (a side that has attached and left before the rest attach reads as gone).
fn attached(n: &AtomicUsize) {
    n.fetch_add(1, Ordering::SeqCst);
}

fn wait_attached(n: &AtomicUsize, all: usize) {
    while n.load(Ordering::SeqCst) < all {
        thread::yield_now();
    }
}

/// A ring call's outcome that may be "empty"/"full" (`None`): a `try_pop`'s `Option`, a
/// `try_push`'s `bool`, a batch call's count (0).
trait Polled {
    type Out;
    fn ready(self) -> Option<Self::Out>;
}

impl<T> Polled for Option<T> {
    type Out = T;
    fn ready(self) -> Option<T> {
        self
    }
}

impl Polled for bool {
    type Out = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl Polled for usize {
    type Out = usize;
    fn ready(self) -> Option<usize> {
        (self > 0).then_some(self)
    }
}

/// Polls `f` until it is not empty/full, yielding to loom in between; an error as its kind.
fn poll<P: Polled>(mut f: impl FnMut() -> ipc_collections::Result<P>) -> Result<P::Out, ErrorKind> {
    loop {
        match f().map(Polled::ready) {
            Ok(None) => thread::yield_now(),
            Ok(Some(v)) => return Ok(v),
            Err(e) => return Err(e.kind()),
        }
    }
}

/// SPSC, blocking on both sides: 3 values through 2 slots (the producer must sleep for
/// space, the consumer for data), then the producer leaves; the consumer receives 0, 1, 2
/// in order and then `Disconnected`, and nobody sleeps for ever.
#[test]
fn spsc_blocking_push_pop_and_disconnect() {
    check(Some(2), || {
        let (m, l) = spsc_ring(2);
        let m2 = m.clone();
        let t = thread::spawn(move || {
            set_pid(2);
            let mut p = spsc::Producer::<u64>::attach(&*m2, l).unwrap();
            for i in 0..3 {
                p.push(i, None).unwrap();
            }
        });
        let mut c = spsc::Consumer::<u64>::attach(&*m, l).unwrap();
        for i in 0..3 {
            assert_eq!(c.pop(None).map_err(|e| e.kind()), Ok(i));
        }
        assert_eq!(
            c.pop(None).map_err(|e| e.kind()),
            Err(ErrorKind::Disconnected)
        );
        drop(c);
        t.join().unwrap();
    });
}

/// SPSC batches: a reservation and a batch push against batch pops, polling; values in
/// order, slots never read before written or overwritten before read.
#[test]
fn spsc_batches() {
    check(Some(3), || {
        let (m, l) = spsc_ring(4);
        let m2 = m.clone();
        let t = thread::spawn(move || {
            set_pid(2);
            let mut p = spsc::Producer::<u64>::attach(&*m2, l).unwrap();
            let mut r = p.reserve(2).unwrap().expect("room");
            r.push(1).unwrap();
            r.push(2).unwrap();
            r.commit();
            let mut sent = 0;
            while sent < 3 {
                sent += poll(|| p.push_batch(&[3, 4, 5][sent..])).unwrap();
            }
        });
        let mut c = spsc::Consumer::<u64>::attach(&*m, l).unwrap();
        let mut got = Vec::new();
        while got.len() < 5 {
            let mut buf = [0; 3];
            let n = poll(|| c.pop_batch(&mut buf)).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, [1, 2, 3, 4, 5]);
        t.join().unwrap();
    });
}

/// MPMC: two producers race for the slots of a 2-slot ring (each pushes one value), a
/// consumer pops both: each value received exactly once, nothing lost. (Models with two
/// consumers, polling or blocking, did not finish in 5 minutes even at 2 preemptions; the
/// cross-process stress test covers consumer contention.)
#[test]
fn mpmc_two_producers() {
    check(Some(3), || {
        let (m, l) = mpmc_ring(2);
        let n = Arc::new(AtomicUsize::new(0));
        let prods: Vec<_> = (0..2u64)
            .map(|k| {
                let m = m.clone();
                let n = n.clone();
                thread::spawn(move || {
                    set_pid(10 + k as i32);
                    let mut p = mpmc::Producer::<u64>::attach(&*m, l).unwrap();
                    attached(&n);
                    poll(|| p.try_push(k + 1)).unwrap();
                })
            })
            .collect();
        set_pid(21);
        let mut c = mpmc::Consumer::<u64>::attach(&*m, l).unwrap();
        wait_attached(&n, 2);
        let mut got = [poll(|| c.try_pop()).unwrap(), poll(|| c.try_pop()).unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_eq!(c.lost(), 0);
        for p in prods {
            p.join().unwrap();
        }
    });
}

/// The abandoned-slot recovery: producer A claims position 0 and dies before publishing;
/// producer B publishes position 1. The consumer skips position 0 (counting one loss) and
/// receives B's value; then, everyone gone, `Disconnected`.
#[test]
fn mpmc_producer_dies_mid_publish() {
    check(Some(3), || {
        let (m, l) = mpmc_ring(2);
        let n = Arc::new(AtomicUsize::new(0));
        let (ma, na) = (m.clone(), n.clone());
        let a = thread::spawn(move || {
            set_pid(2);
            let mut p = mpmc::Producer::<u64>::attach(&*ma, l).unwrap();
            attached(&na);
            p.claim_without_publishing().unwrap();
            // SIGKILL: the handle is never dropped.
            std::mem::forget(p);
            die();
        });
        let (mb, nb) = (m.clone(), n.clone());
        let b = thread::spawn(move || {
            set_pid(3);
            let mut p = mpmc::Producer::<u64>::attach(&*mb, l).unwrap();
            attached(&nb);
            poll(|| p.try_push(7)).unwrap();
        });
        set_pid(4);
        let mut c = mpmc::Consumer::<u64>::attach(&*m, l).unwrap();
        wait_attached(&n, 2);
        // B may have claimed position 0 and A position 1, or the other way round.
        assert_eq!(poll(|| c.try_pop()), Ok(7));
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(poll(|| c.try_pop()), Err(ErrorKind::Disconnected));
        assert_eq!(c.lost(), 1);
    });
}

/// The recovery never skips a live participant: A pushes three values through two slots
/// (the third needs the slot the consumer frees) while the consumer (whose stall checks are
/// due at once under loom) polls; every value arrives and nothing is lost, whichever side
/// is caught between its claim and its stamp store when the other looks.
#[test]
fn mpmc_live_slow_producer_and_consumer_are_never_skipped() {
    check(Some(3), || {
        let (m, l) = mpmc_ring(2);
        let ma = m.clone();
        let a = thread::spawn(move || {
            set_pid(2);
            let mut p = mpmc::Producer::<u64>::attach(&*ma, l).unwrap();
            for v in 5..8 {
                poll(|| p.try_push(v)).unwrap();
            }
            assert_eq!(p.lost(), 0);
        });
        set_pid(4);
        let mut c = mpmc::Consumer::<u64>::attach(&*m, l).unwrap();
        for v in 5..8 {
            assert_eq!(poll(|| c.try_pop()), Ok(v));
        }
        assert_eq!(c.lost(), 0);
        a.join().unwrap();
    });
}

/// The dead-consumer recovery: consumer A takes position 0 (value 1) and dies before
/// freeing its slot; the producer pushes three more values through the 2-slot ring, so
/// position 2 needs that slot: it finds A dead, frees the slot (one loss) and goes on.
/// Consumer B (attached first, so the consumers never look gone, and popping only once A
/// is dead, so A takes position 0) receives 2, 3, 4 in order, then `Disconnected`.
#[test]
fn mpmc_consumer_dies_mid_take() {
    // Bound 2: about 63 000 executions, seconds; bound 3 explores 1.1 million (minutes).
    check(Some(2), || {
        let (m, l) = mpmc_ring(2);
        set_pid(4);
        let mut c = mpmc::Consumer::<u64>::attach(&*m, l).unwrap();
        let ma = m.clone();
        let a = thread::spawn(move || {
            set_pid(3);
            let mut c = mpmc::Consumer::<u64>::attach(&*ma, l).unwrap();
            assert_eq!(poll(|| c.pop_without_freeing()), Ok(1));
            // SIGKILL: the handle is never dropped.
            std::mem::forget(c);
            die();
        });
        let mp = m.clone();
        let p = thread::spawn(move || {
            set_pid(2);
            let mut p = mpmc::Producer::<u64>::attach(&*mp, l).unwrap();
            for v in 1..5 {
                poll(|| p.try_push(v)).unwrap();
            }
            assert_eq!(p.lost(), 1);
        });
        a.join().unwrap();
        for v in 2..5 {
            assert_eq!(poll(|| c.try_pop()), Ok(v));
        }
        p.join().unwrap();
        assert_eq!(poll(|| c.try_pop()), Err(ErrorKind::Disconnected));
        assert_eq!(c.lost(), 1);
    });
}

/// Byte ring: three 24-byte frames through 64 bytes (records of 32: the third needs a
/// padding record at the wrap), zero-copy on both sides; contents intact, in order, then
/// `Disconnected`.
#[test]
fn byte_ring_frames_wrap_with_padding() {
    check(Some(2), || {
        let l = RingLayout::packed(64);
        let m = HeapMem::new(l.data_offset + bytes::data_len(64).unwrap());
        // SAFETY: fresh memory, nobody attached.
        unsafe { bytes::init(&m, l) }.unwrap();
        let m = Arc::new(m);
        let m2 = m.clone();
        let t = thread::spawn(move || {
            set_pid(2);
            let mut p = bytes::Producer::attach(&*m2, l).unwrap();
            // Frames of 20, 24, 24 bytes: records 32, 32, 32; the third lands after a
            // wrap (tail at 64, offset 0) - and a 16-byte frame first shifts it to force
            // padding: records 24 + 32 = 56, then 32 does not fit in the last 8.
            for (k, len) in [16usize, 24, 24].into_iter().enumerate() {
                loop {
                    match p.reserve(len) {
                        Ok(Some(mut f)) => {
                            f.fill(k as u8 + 1);
                            f.commit();
                            break;
                        }
                        Ok(None) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut c = bytes::Consumer::attach(&*m, l).unwrap();
        for (k, len) in [16usize, 24, 24].into_iter().enumerate() {
            loop {
                match c.try_recv() {
                    Ok(Some(f)) => {
                        assert_eq!(f.len(), len);
                        assert!(f.iter().all(|&b| b == k as u8 + 1));
                        break;
                    }
                    Ok(None) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        t.join().unwrap();
        assert_eq!(
            c.try_recv().err().map(|e| e.kind()),
            Some(ErrorKind::Disconnected)
        );
    });
}

/// Page-aligned, zeroed heap memory standing in for a shared mapping; the ring's control
/// block (loom model objects, written by `init`) is dropped with it.
pub struct HeapMem {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: the bytes are only accessed through the ring code, which synchronises them (and
// loom checks that); the pointer is owned.
unsafe impl Send for HeapMem {}
// SAFETY: as above.
unsafe impl Sync for HeapMem {}

impl HeapMem {
    /// `len` zeroed bytes, page-aligned.
    pub fn new(len: usize) -> HeapMem {
        let layout = Layout::from_size_align(len, 4096).unwrap();
        // SAFETY: len > 0.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        HeapMem { ptr, layout }
    }
}

impl Drop for HeapMem {
    fn drop(&mut self) {
        // SAFETY: every model puts its control block at offset 0 and formats it with
        // `init` (which writes a `Control` there); allocated in `new` with this layout.
        unsafe {
            std::ptr::drop_in_place(self.ptr.cast::<ipc_collections::ring::control::Control>());
            dealloc(self.ptr, self.layout)
        }
    }
}

// SAFETY: non-null, page-aligned, valid for `len` bytes until drop.
unsafe impl ipc_collections::ipc_core::Memory for HeapMem {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    fn len(&self) -> usize {
        self.layout.size()
    }
}
