//! This project's side of the scenarios (and the in-process baselines it is compared with
//! in the same worker): locks, condvar and semaphore wake-ups, create+open, array copies.

use std::cell::RefCell;
use std::ffi::CString;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ipc_collections::ipc_core::sem::Semaphore;
use ipc_collections::ipc_core::shm::Shm;
use ipc_collections::ipc_core::sync::{Acquired, RawMutex};
use ipc_collections::{ErrorKind, Shared, SharedArray, SharedCondvar, SharedLayout, SharedMutex};
use ipc_testutil::shared_mem::ShMem;
use ipc_testutil::{unique_name, Cleanup};

use crate::chan::{Chan, Make};
use crate::measure::{Imp, Imps, Keep, Stopwatch, Timing};
use crate::proc::{Deadline, Worker};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

// ---------------------------------------------------------------------------------------
// Sleeping wake-ups: condvar and semaphore
// ---------------------------------------------------------------------------------------

/// A turn counter under our robust mutex, and one condvar a direction.
#[derive(SharedLayout)]
#[repr(C)]
pub struct CvPair {
    turn: SharedMutex<u64>,
    to_child: SharedCondvar,
    to_parent: SharedCondvar,
}

/// One end of a condvar ping-pong: the parent makes the turn odd, the child makes it even.
pub struct Cv {
    s: Shared<CvPair>,
    parent: bool,
}

impl Cv {
    /// Creates the segment (the parent's end, which unlinks it on drop) and a factory for
    /// the child's end, which opens it by name.
    pub fn pair(name: &str) -> Result<(Cv, Make<Cv>), String> {
        let s = Shared::<CvPair>::create(name, |_| {}).map_err(err)?;
        let name = name.to_owned();
        Ok((
            Cv { s, parent: true },
            Box::new(move || {
                Ok(Cv {
                    s: Shared::<CvPair>::open(&name).map_err(err)?,
                    parent: false,
                })
            }),
        ))
    }
}

impl Chan for Cv {
    fn send(&mut self, _: u64) -> Result<(), String> {
        let mut g = self.s.turn.lock().map_err(err)?;
        *g += 1;
        drop(g);
        if self.parent {
            self.s.to_child.notify_one();
        } else {
            self.s.to_parent.notify_one();
        }
        Ok(())
    }
    fn recv(&mut self) -> Result<u64, String> {
        let mut g = self.s.turn.lock().map_err(err)?;
        let (cv, odd_is_mine) = if self.parent {
            (&self.s.to_parent, false)
        } else {
            (&self.s.to_child, true)
        };
        let mut d = Deadline::new();
        loop {
            let (g2, t) = cv
                .wait_timeout_while(g, Duration::from_millis(100), |v| {
                    (*v % 2 == 1) != odd_is_mine
                })
                .map_err(err)?;
            g = g2;
            if !t.timed_out() {
                return Ok(*g);
            }
            for _ in 0..4096 {
                d.check("condvar")?;
            }
        }
    }
}

#[repr(C, align(128))]
pub struct PadSem(Semaphore);

/// One end of a semaphore ping-pong: our in-place `Semaphore`, one a direction, in an
/// anonymous shared mapping the worker inherits.
pub struct Sem {
    m: Rc<ShMem<[PadSem; 2]>>,
    parent: bool,
    count: u64,
}

impl Sem {
    pub fn pair() -> Result<(Sem, Sem), String> {
        let mut res = Ok(());
        let m = Rc::new(ShMem::new(|p: *mut [PadSem; 2]| {
            for i in 0..2 {
                // SAFETY: `p` points to fresh, zeroed, page-aligned shared memory sized for
                // two padded semaphores that nobody else sees yet; element i is in bounds.
                let r = unsafe { Semaphore::init_in_place(std::ptr::addr_of_mut!((*p)[i].0)) };
                if let Err(e) = r {
                    res = Err(err(e));
                }
            }
        }));
        res?;
        let end = |parent| Sem {
            m: m.clone(),
            parent,
            count: 0,
        };
        Ok((end(true), end(false)))
    }
    fn sems(&self) -> (&Semaphore, &Semaphore) {
        let s: &[PadSem; 2] = &self.m;
        if self.parent {
            (&s[0].0, &s[1].0)
        } else {
            (&s[1].0, &s[0].0)
        }
    }
}

impl Chan for Sem {
    fn send(&mut self, _: u64) -> Result<(), String> {
        self.sems().0.post().map_err(err)
    }
    fn recv(&mut self) -> Result<u64, String> {
        let mut d = Deadline::new();
        loop {
            match self.sems().1.wait_timeout(Duration::from_millis(100)) {
                Ok(()) => {
                    self.count += 1;
                    return Ok(self.count);
                }
                Err(e) if matches!(e.kind(), ErrorKind::Timeout) => {
                    for _ in 0..4096 {
                        d.check("semaphore")?;
                    }
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Self-timed workers: one worker runs every implementation of a scenario, timing itself
// ---------------------------------------------------------------------------------------

/// One implementation run by a shared self-timing worker, as `op`.
pub struct SelfTimed {
    w: Rc<RefCell<Worker>>,
    op: u64,
}

impl Imp for SelfTimed {
    fn batch(&mut self, n: u64) -> Result<Timing, String> {
        self.w.borrow_mut().self_timed(self.op, n)
    }
}

/// `k` implementations over one worker (ops 0..k).
pub fn self_timed(w: Worker, k: u64) -> Vec<Box<dyn Imp>> {
    let w = Rc::new(RefCell::new(w));
    (0..k)
        .map(|op| Box::new(SelfTimed { w: w.clone(), op }) as Box<dyn Imp>)
        .collect()
}

fn timed(n: u64, mut op: impl FnMut() -> Result<(), String>) -> Result<[u64; 2], String> {
    let t = Stopwatch::start();
    for _ in 0..n {
        op()?;
    }
    let t = t.stop();
    Ok([
        t.wall.as_nanos() as u64,
        t.cpu.unwrap_or_default().as_nanos() as u64,
    ])
}

// ---- scenario 1: uncontended lock + unlock -------------------------------------------

#[repr(C, align(128))]
struct PadRaw(RawMutex);
#[repr(C, align(128))]
struct PadPthread(libc::pthread_mutex_t);

/// Our `RawMutex` and a raw libc robust, process-shared, error-checking pthread mutex
/// (like `RawMutex`) on separate lines of one shared page.
#[repr(C)]
struct LockPage {
    raw: PadRaw,
    pt: PadPthread,
}

/// Scenario 1: `[RawMutex, SharedMutex<u64>, pthread]`. The worker locks what the parent
/// made: the page it inherits and the named `SharedMutex<u64>` segment it opens.
pub fn locks() -> Result<(Imps, Keep), String> {
    let name = unique_name("bench-lock");
    let guard = Cleanup::shm(&name);
    let mut res = Ok(());
    let page = ShMem::new(|p: *mut LockPage| {
        // SAFETY: `p` points to fresh, zeroed, page-aligned shared memory sized for a
        // LockPage that nobody else sees yet; each field is aligned by its padding type.
        unsafe {
            if let Err(e) = RawMutex::init_in_place(std::ptr::addr_of_mut!((*p).raw.0)) {
                res = Err(err(e));
            }
            ipc_testutil::init_libc_robust_mutex(std::ptr::addr_of_mut!((*p).pt.0));
        }
    });
    res?;
    let sm = Shared::<SharedMutex<u64>>::create(&name, |_| {}).map_err(err)?;
    let mut opened: Option<Shared<SharedMutex<u64>>> = None;
    let w = Worker::spawn("lock", move |_, op, n| {
        let page: &LockPage = &page;
        match op {
            0 => {
                let m = &page.raw.0;
                timed(n, || {
                    match black_box(m).lock() {
                        Ok(Acquired::Clean) => {}
                        other => return Err(format!("RawMutex::lock: {other:?}")),
                    }
                    // SAFETY: locked just above by this thread.
                    unsafe { m.unlock() };
                    Ok(())
                })
            }
            1 => {
                if opened.is_none() {
                    opened = Some(Shared::open(&name).map_err(err)?);
                }
                let sm = opened.as_ref().expect("opened above");
                timed(n, || {
                    let mut g = black_box(&**sm).lock().map_err(err)?;
                    *g = black_box(*g);
                    Ok(())
                })
            }
            _ => {
                let p = std::ptr::addr_of!(page.pt.0).cast_mut();
                timed(n, || {
                    let p = black_box(p);
                    // SAFETY: `p` is the mutex initialised by init_libc_robust_mutex in the
                    // page this closure owns; this thread unlocks what it locked.
                    unsafe {
                        let r = libc::pthread_mutex_lock(p);
                        if r != 0 {
                            return Err(format!("pthread_mutex_lock: {r}"));
                        }
                        libc::pthread_mutex_unlock(p);
                    }
                    Ok(())
                })
            }
        }
    })?;
    // The segment lives until the scenario ends (the creator unlinks it on drop), then the
    // guard removes the name whatever happened.
    Ok((self_timed(w, 3), vec![Box::new(sm), Box::new(guard)]))
}

// ---- scenario 6: create + open ---------------------------------------------------------

/// The small derived struct of scenario 6.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Small {
    hits: AtomicU64,
    data: [u64; 8],
}

/// `n` fresh unique names, each with a guard that unlinks it whatever happens.
fn fresh_names(tag: &str, n: u64) -> (Vec<String>, Vec<Cleanup>) {
    let names: Vec<String> = (0..n).map(|_| unique_name(tag)).collect();
    let guards = names.iter().map(|s| Cleanup::shm(s)).collect();
    (names, guards)
}

/// The raw baseline: create, open, touch, tear down one `len`-byte object.
fn raw_create_open(name: &CString, len: usize) -> Result<(), String> {
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
        if fd < 0 {
            return Err("shm_open create".into());
        }
        if libc::ftruncate(fd, len as libc::off_t) != 0 {
            return Err("ftruncate".into());
        }
        let a = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        if a == libc::MAP_FAILED {
            return Err("mmap".into());
        }
        let fd2 = libc::shm_open(name.as_ptr(), libc::O_RDWR, 0);
        if fd2 < 0 {
            return Err("shm_open open".into());
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd2, &mut st) != 0 {
            return Err("fstat".into());
        }
        let len2 = st.st_size as usize;
        let b = libc::mmap(
            std::ptr::null_mut(),
            len2,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd2,
            0,
        );
        if b == libc::MAP_FAILED {
            return Err("mmap".into());
        }
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
    Ok(())
}

/// Untimed names, then a timed loop.
fn with_names(
    tag: &str,
    n: u64,
    mut op: impl FnMut(&str) -> Result<(), String>,
) -> Result<[u64; 2], String> {
    let (names, _guards) = fresh_names(tag, n);
    let mut it = names.iter();
    timed(n, || op(it.next().expect("n names")))
}

/// Scenario 6: `[Shared<Small>, Shm (info), raw]`: create and open a small segment, both in
/// the worker (the opener is usually another process; the cost is the same calls).
pub fn create_open() -> Result<Vec<Box<dyn Imp>>, String> {
    let len = Shared::<Small>::segment_len().map_err(err)?;
    let w = Worker::spawn("create+open", move |_, op, n| match op {
        0 => with_names("s", n, |name| {
            let s = Shared::<Small>::create(name, |s| s.data[0] = 1).map_err(err)?;
            let o = Shared::<Small>::open(name).map_err(err)?;
            black_box(o.data[0]);
            drop(o);
            drop(s);
            Ok(())
        }),
        1 => with_names("c", n, |name| {
            let s = Shm::create(name, len).map_err(err)?;
            let o = Shm::open(name).map_err(err)?;
            if s.len() < 8 || o.len() < 8 {
                return Err("short mapping".into());
            }
            // SAFETY: both mappings are live, page-aligned and at least 8 bytes long
            // (checked above); `s` and `o` outlive the accesses.
            unsafe {
                s.as_ptr().cast::<u64>().write_volatile(1);
                black_box(o.as_ptr().cast::<u64>().read_volatile());
            }
            // The creating handle unlinks on drop.
            drop(o);
            drop(s);
            Ok(())
        }),
        _ => with_names("r", n, |name| {
            raw_create_open(&CString::new(name).expect("no NUL"), len)
        }),
    })?;
    Ok(self_timed(w, 3))
}

// ---- scenario 7: 64 MiB array bandwidth ------------------------------------------------

/// 64 MiB of f64.
pub const ARRAY_ELEMS: usize = 8 << 20;

/// `ARRAY_ELEMS` heap `f64`s starting on a 64-byte boundary, as the array's payload does
/// (a large Vec from glibc's malloc starts 16 bytes past a page boundary, which can make a
/// memcpy slower and flatter the candidate).
struct Aligned {
    v: Vec<f64>,
    off: usize,
}

impl Aligned {
    fn new(x: f64) -> Aligned {
        let v = vec![x; ARRAY_ELEMS + 8];
        let off = v.as_ptr().align_offset(64);
        Aligned { v, off }
    }
    fn get(&mut self) -> &mut [f64] {
        &mut self.v[self.off..self.off + ARRAY_ELEMS]
    }
}

/// Scenario 7: `[ours write, memcpy write, ours read, memcpy read]`. The parent creates the
/// `SharedArray<f64>`; the worker opens it and copies a private buffer into it (write)
/// and out of it (read) through the lock guard, beside the same `copy_from_slice` between
/// heap buffers.
pub fn array() -> Result<(Imps, SharedArray<f64>, Cleanup), String> {
    let name = unique_name("bench-array");
    let guard = Cleanup::shm(&name);
    let a = SharedArray::<f64>::create(&name, &[ARRAY_ELEMS / 1024, 1024]).map_err(err)?;
    a.lock().map_err(err)?.fill(1.0);
    let mut state: Option<(SharedArray<f64>, [Aligned; 4])> = None;
    let w = Worker::spawn("array", move |_, op, n| {
        if state.is_none() {
            let a = SharedArray::<f64>::open(&name).map_err(err)?;
            let mut src = Aligned::new(0.0);
            for (i, x) in src.get().iter_mut().enumerate() {
                *x = i as f64;
            }
            state = Some((
                a,
                [src, Aligned::new(1.0), Aligned::new(1.0), Aligned::new(1.0)],
            ));
        }
        let (a, [src, heap, out, out2]) = state.as_mut().expect("made above");
        let (src, heap, out, out2) = (&*src.get(), heap.get(), out.get(), out2.get());
        match op {
            0 => timed(n, || {
                let mut g = black_box(&*a).lock().map_err(err)?;
                g.copy_from_slice(black_box(src));
                Ok(())
            }),
            1 => timed(n, || {
                black_box(&mut *heap).copy_from_slice(black_box(src));
                Ok(())
            }),
            2 => timed(n, || {
                let g = black_box(&*a).lock().map_err(err)?;
                black_box(&mut *out).copy_from_slice(&g);
                Ok(())
            }),
            _ => timed(n, || {
                // A second destination, so the sides do not share one buffer's state.
                black_box(&mut *out2).copy_from_slice(black_box(&*heap));
                Ok(())
            }),
        }
    })?;
    Ok((self_timed(w, 4), a, guard))
}
