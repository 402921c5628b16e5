//! Cost of making and releasing a 4 KiB shared-memory segment: `ipc_core`'s types beside
//! the raw libc calls they wrap.
//!
//! `Shm::create` does more than the bare sequence (name check, `fchmod` for exact mode,
//! `posix_fallocate` to reserve the space, an inode check before unlinking on drop), so the
//! raw baseline is shown both bare (`ftruncate`) and with the same reservation and mode.
//!
//! ```text
//! cargo bench -p typed-ipc-core --bench shm -- --warm-up-time 1 --measurement-time 3
//! ```

use std::ffi::CString;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ipc_core::shm::sysv::{Key, SysvShm};
use ipc_core::shm::{AnonShm, MemfdShm, Shm};

const SIZE: usize = 4096;

fn name(tag: &str) -> String {
    format!("/ipct-bench-{tag}-{}", std::process::id())
}

/// The bare POSIX sequence: shm_open, ftruncate, mmap, touch, munmap, close, shm_unlink.
/// With `reserve`, also fchmod + posix_fallocate instead of ftruncate (what `Shm` does).
fn raw_cycle(c_name: &CString, reserve: bool) {
    // SAFETY: every call gets valid arguments (a NUL-terminated name, the fd just
    // returned, the mapping just made, of SIZE bytes); results are checked with asserts
    // and each resource is released exactly once.
    unsafe {
        let fd = libc::shm_open(
            c_name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
            0o600,
        );
        assert!(fd >= 0);
        if reserve {
            assert_eq!(libc::fchmod(fd, 0o600), 0);
            assert_eq!(libc::posix_fallocate(fd, 0, SIZE as libc::off_t), 0);
        } else {
            assert_eq!(libc::ftruncate(fd, SIZE as libc::off_t), 0);
        }
        let p = libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        black_box(p);
        assert_eq!(libc::munmap(p, SIZE), 0);
        libc::close(fd);
        assert_eq!(libc::shm_unlink(c_name.as_ptr()), 0);
    }
}

fn create_map_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("create+map+drop 4KiB");
    let n = name("create");
    g.bench_function("ipc_core Shm::create", |b| {
        b.iter(|| {
            let s = Shm::create(&n, SIZE).unwrap();
            black_box(s.as_ptr());
        })
    });
    let cn = CString::new(name("raw")).unwrap();
    g.bench_function(
        "libc shm_open+ftruncate+mmap+munmap+close+shm_unlink",
        |b| b.iter(|| raw_cycle(&cn, false)),
    );
    g.bench_function("libc same with fchmod+posix_fallocate", |b| {
        b.iter(|| raw_cycle(&cn, true))
    });
    g.bench_function("ipc_core MemfdShm::create (sealed)", |b| {
        b.iter(|| {
            let m = MemfdShm::create("ipct-bench", SIZE).unwrap();
            black_box(m.as_ptr());
        })
    });
    g.bench_function("ipc_core AnonShm::new", |b| {
        b.iter(|| {
            let m = AnonShm::new(SIZE).unwrap();
            black_box(m.as_ptr());
        })
    });
    g.bench_function("ipc_core SysvShm::create (private key)", |b| {
        b.iter(|| {
            let m = SysvShm::create(Key::PRIVATE, SIZE).unwrap();
            black_box(m.as_ptr());
        })
    });
    g.finish();
}

fn open_existing(c: &mut Criterion) {
    let mut g = c.benchmark_group("open+map+drop existing 4KiB");
    let n = name("open");
    let keep = Shm::create(&n, SIZE).unwrap();
    g.bench_function("ipc_core Shm::open", |b| {
        b.iter(|| {
            let s = Shm::open(&n).unwrap();
            black_box(s.len());
        })
    });
    let cn = CString::new(n.as_str()).unwrap();
    g.bench_function("libc shm_open+fstat+mmap+munmap+close", |b| {
        b.iter(|| {
            // SAFETY: valid name, fd and mapping as in raw_cycle; each released once.
            unsafe {
                let fd = libc::shm_open(cn.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0);
                assert!(fd >= 0);
                let mut st: libc::stat = std::mem::zeroed();
                assert_eq!(libc::fstat(fd, &mut st), 0);
                let len = st.st_size as usize;
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                black_box(p);
                libc::munmap(p, len);
                libc::close(fd);
            }
        })
    });
    g.finish();
    drop(keep);
}

criterion_group!(benches, create_map_drop, open_existing);
criterion_main!(benches);
