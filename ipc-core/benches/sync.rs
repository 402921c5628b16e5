//! Speed of the in-place primitives.
//!
//! - `mutex/uncontended`: lock + unlock of [`RawMutex`] beside the same calls on a raw
//!   `libc` mutex with the same attributes (robust, process-shared, error-checking), both in
//!   shared memory: the wrapper should cost nothing.
//! - `condvar/notify_one without waiters`: the cost of a notify that skips the system call.
//! - `semaphore/post+wait`: one `post` and one `wait` of an in-place [`Semaphore`] and of a
//!   [`NamedSemaphore`].
//! - `pingpong/*`: one round trip to a forked child that echoes, through a
//!   [`RawCondvar`] + [`RawMutex`] and through two in-place semaphores.

use std::hint::black_box;
use std::ptr::addr_of_mut;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ipc_core::sem::{NamedSemaphore, Semaphore};
use ipc_core::shm::AnonShm;
use ipc_core::sync::{RawCondvar, RawMutex};
use ipc_core::SharedLayout;
use ipc_testutil::{fork_child, unique_name, wait_pid, Cleanup};

/// Shared memory holding one zeroed `T`, initialised by `init`; forked children see it.
struct Mem<T> {
    map: AnonShm,
    _t: std::marker::PhantomData<T>,
}

impl<T: Sync> Mem<T> {
    fn new(init: impl FnOnce(*mut T)) -> Self {
        assert!(std::mem::align_of::<T>() <= 4096);
        let map = AnonShm::new(std::mem::size_of::<T>()).expect("mmap");
        init(map.as_ptr().cast());
        Mem {
            map,
            _t: std::marker::PhantomData,
        }
    }

    fn get(&self) -> &T {
        // SAFETY: the mapping is page-aligned, large enough for a T, was initialised by
        // `new`, and lives as long as `self`.
        unsafe { &*self.map.as_ptr().cast::<T>() }
    }
}

/// In a forked child: die with the parent, so a crashed bench leaves no echo process.
fn die_with_parent() {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and has no memory arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}

#[repr(C)]
struct Mutexes {
    ours: RawMutex,
    theirs: std::cell::UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: `theirs` is only used through the pthread calls, which synchronise.
unsafe impl Sync for Mutexes {}

fn mutex(c: &mut Criterion) {
    let mem = Mem::<Mutexes>::new(|p| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe { RawMutex::init_in_place(addr_of_mut!((*p).ours)) }.expect("init");
        // SAFETY: as above (fresh, zeroed, aligned, unshared); UnsafeCell<T> has the layout
        // of T.
        unsafe { ipc_testutil::init_libc_robust_mutex(addr_of_mut!((*p).theirs).cast()) };
    });
    let m = mem.get();
    let mut g = c.benchmark_group("mutex/uncontended");
    g.bench_function("RawMutex lock+unlock", |b| {
        b.iter(|| {
            let a = black_box(&m.ours).lock();
            debug_assert!(a.is_ok());
            // SAFETY: locked just above on this thread.
            unsafe { m.ours.unlock() };
        })
    });
    g.bench_function("libc pthread_mutex lock+unlock", |b| {
        b.iter(|| {
            let p = black_box(m.theirs.get());
            // SAFETY: `p` is an initialised mutex in live memory; we unlock what we locked.
            unsafe {
                let r = libc::pthread_mutex_lock(p);
                debug_assert_eq!(r, 0);
                libc::pthread_mutex_unlock(p);
            }
        })
    });
    g.bench_function("RawMutex guard", |b| {
        b.iter(|| drop(black_box(&m.ours).guard()))
    });
    g.finish();
}

fn condvar(c: &mut Criterion) {
    let mem = Mem::<RawCondvar>::new(|p| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe { RawCondvar::init_in_place(p) }.expect("init");
    });
    let cv = mem.get();
    // Nobody sleeps: notify is one atomic add and one load, no system call.
    c.bench_function("condvar/notify_one without waiters", |b| {
        b.iter(|| black_box(cv).notify_one())
    });
}

fn semaphore(c: &mut Criterion) {
    let mem = Mem::<Semaphore>::new(|p| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe { Semaphore::init_in_place(p) }.expect("init");
    });
    let s = mem.get();
    let name = unique_name("bench-sem");
    let _cleanup = Cleanup::sem(&name);
    let named = NamedSemaphore::create(&name, 0).expect("create");
    let mut g = c.benchmark_group("semaphore/post+wait");
    g.bench_function("Semaphore (in place)", |b| {
        b.iter(|| {
            black_box(s).post().expect("post");
            s.wait().expect("wait");
        })
    });
    g.bench_function("NamedSemaphore", |b| {
        b.iter(|| {
            black_box(&named).post().expect("post");
            named.wait().expect("wait");
        })
    });
    g.finish();
}

#[repr(C)]
struct CvPing {
    m: RawMutex,
    cv: RawCondvar,
    /// Protected by `m`: 1 = the parent's ball is with the child, 0 = back with the parent.
    turn: AtomicU32,
    stop: AtomicU32,
}

#[repr(C)]
struct SemPing {
    ping: Semaphore,
    pong: Semaphore,
    stop: AtomicU32,
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingpong/round-trip");
    g.measurement_time(Duration::from_secs(3));

    let mem = Mem::<CvPing>::new(|p| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe {
            RawMutex::init_in_place(addr_of_mut!((*p).m)).expect("init");
            RawCondvar::init_in_place(addr_of_mut!((*p).cv)).expect("init");
        }
    });
    let cv = mem.get();
    let child = fork_child(|| {
        die_with_parent();
        let Ok(mut guard) = cv.m.guard() else {
            return false;
        };
        loop {
            while cv.turn.load(Ordering::Relaxed) != 1 {
                if cv.stop.load(Ordering::Relaxed) == 1 {
                    return true;
                }
                guard = match cv.cv.wait_guard(guard) {
                    Ok(g) => g,
                    Err(_) => return false,
                };
            }
            cv.turn.store(0, Ordering::Relaxed);
            cv.cv.notify_all();
        }
    });
    g.bench_function("condvar", |b| {
        b.iter(|| {
            let mut guard = cv.m.guard().expect("lock");
            cv.turn.store(1, Ordering::Relaxed);
            cv.cv.notify_all();
            while cv.turn.load(Ordering::Relaxed) != 0 {
                guard = cv.cv.wait_guard(guard).expect("wait");
            }
        })
    });
    {
        let _guard = cv.m.guard().expect("lock");
        cv.stop.store(1, Ordering::Relaxed);
        cv.cv.notify_all();
    }
    assert_eq!(wait_pid(child, Duration::from_secs(30)), Some(0));

    let mem = Mem::<SemPing>::new(|p| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe {
            Semaphore::init_in_place(addr_of_mut!((*p).ping)).expect("init");
            Semaphore::init_in_place(addr_of_mut!((*p).pong)).expect("init");
        }
    });
    let sp = mem.get();
    let child = fork_child(|| {
        die_with_parent();
        loop {
            if sp.ping.wait().is_err() {
                return false;
            }
            if sp.stop.load(Ordering::Acquire) == 1 {
                return true;
            }
            if sp.pong.post().is_err() {
                return false;
            }
        }
    });
    g.bench_function("semaphore", |b| {
        b.iter(|| {
            sp.ping.post().expect("post");
            sp.pong.wait().expect("wait");
        })
    });
    // Release: pairs with the child's Acquire load after its wait.
    sp.stop.store(1, Ordering::Release);
    sp.ping.post().expect("post");
    assert_eq!(wait_pid(child, Duration::from_secs(30)), Some(0));
    g.finish();
}

criterion_group!(benches, mutex, condvar, semaphore, pingpong);
criterion_main!(benches);
