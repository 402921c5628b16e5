//! Typed segments against the raw system calls they sit on.
//!
//! - `create_open`: create a small named segment and open it a second time (then drop both,
//!   which unmaps and unlinks), beside raw `shm_open(O_CREAT|O_EXCL)` + `ftruncate` + `mmap`
//!   and `shm_open` + `fstat` + `mmap` (then `munmap`, `close`, `shm_unlink`). Goal: within
//!   1.3x.
//! - `open`: the typed open of an existing small segment beside `Shm::open` alone (the
//!   cost of header validation and the layout check).
//! - `array_fill` / `array_copy_in` / `array_copy_out`: 8 MiB of `f64` filled or copied
//!   through the guard of a locked `SharedArray`, beside `memset`/`memcpy` on ordinary
//!   heap memory of the same size. Goal: at least 0.9x the throughput.
//!
//! ```text
//! cargo bench -p typed-ipc-collections --bench segment -- --warm-up-time 1 --measurement-time 3
//! ```

use std::ffi::CString;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipc_collections::ipc_core::shm::Shm;
use ipc_collections::{Shared, SharedArray, SharedLayout};

#[derive(SharedLayout)]
#[repr(C)]
struct Small {
    hits: AtomicU64,
    data: [u64; 8],
}

fn name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "/ipcb-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Raw create + open + teardown of a `len`-byte object, the baseline.
fn raw_create_open(name: &CString, len: usize) {
    // SAFETY: plain system calls on a valid C string and fds/mappings this function owns;
    // each mapping is `len` bytes of an object sized to `len`, unmapped before return.
    unsafe {
        let fd = libc::shm_open(
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
            0o600,
        );
        assert!(fd >= 0);
        assert_eq!(libc::ftruncate(fd, len as libc::off_t), 0);
        let a = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        assert_ne!(a, libc::MAP_FAILED);
        let fd2 = libc::shm_open(name.as_ptr(), libc::O_RDWR, 0);
        assert!(fd2 >= 0);
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(fd2, &mut st), 0);
        let b = libc::mmap(
            std::ptr::null_mut(),
            st.st_size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd2,
            0,
        );
        assert_ne!(b, libc::MAP_FAILED);
        // Touch both, as the typed path does (header write and read).
        *(a as *mut u64) = 1;
        black_box(*(b as *const u64));
        libc::munmap(b, st.st_size as usize);
        libc::close(fd2);
        libc::munmap(a, len);
        libc::close(fd);
        libc::shm_unlink(name.as_ptr());
    }
}

fn create_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("create_open");
    let seg_len = Shared::<Small>::segment_len().unwrap();
    g.bench_function("shared", |b| {
        b.iter(|| {
            let n = name("s");
            let s = Shared::<Small>::create(&n, |s| s.data[0] = 1).unwrap();
            let o = Shared::<Small>::open(&n).unwrap();
            black_box(o.data[0]);
            drop(o);
            drop(s);
        })
    });
    // For reference: ipc-core's Shm alone (exact mode via fchmod, space reserved with
    // posix_fallocate, ownership check before unlinking), no header.
    g.bench_function("core_shm", |b| {
        b.iter(|| {
            let n = name("c");
            let s = Shm::create(&n, seg_len).unwrap();
            let o = Shm::open(&n).unwrap();
            black_box(o.len());
            drop(o);
            drop(s);
        })
    });
    g.bench_function("raw_shm_open_ftruncate_mmap", |b| {
        b.iter(|| {
            let n = CString::new(name("r")).unwrap();
            raw_create_open(&n, seg_len);
        })
    });
    g.finish();
}

/// Opening an existing small segment: the typed open (validate header, check layout)
/// beside ipc-core's `Shm::open` reading one word of it.
fn open(c: &mut Criterion) {
    let mut g = c.benchmark_group("open");
    let n = name("open");
    let _keep = Shared::<Small>::create(&n, |s| s.data[0] = 1).unwrap();
    g.bench_function("shared", |b| {
        b.iter(|| black_box(Shared::<Small>::open(&n).unwrap().data[0]))
    });
    g.bench_function("core_shm", |b| {
        b.iter(|| {
            let o = Shm::open(&n).unwrap();
            // SAFETY: offset 8 is inside the mapping (a whole segment) and aligned.
            black_box(unsafe { *o.as_ptr().add(8).cast::<u32>() })
        })
    });
    g.finish();
}

const ELEMS: usize = 1 << 20; // 8 MiB of f64

fn array(c: &mut Criterion) {
    let n = name("arr");
    let a = SharedArray::<f64>::create(&n, &[1024, ELEMS / 1024]).unwrap();
    let src: Vec<f64> = (0..ELEMS).map(|i| i as f64).collect();
    let mut heap = vec![0.0f64; ELEMS];
    let mut out = vec![0.0f64; ELEMS];

    let mut g = c.benchmark_group("array");
    g.throughput(Throughput::Bytes((ELEMS * 8) as u64));
    g.bench_function("fill/shared_array", |b| {
        b.iter(|| a.lock().unwrap().fill(black_box(2.5)))
    });
    g.bench_function("fill/heap", |b| b.iter(|| heap.fill(black_box(2.5))));
    g.bench_function("copy_in/shared_array", |b| {
        b.iter(|| a.lock().unwrap().copy_from_slice(black_box(&src)))
    });
    g.bench_function("copy_in/memcpy", |b| {
        b.iter(|| heap.copy_from_slice(black_box(&src)))
    });
    g.bench_function("copy_out/shared_array", |b| {
        b.iter(|| out.copy_from_slice(&a.lock().unwrap()))
    });
    g.bench_function("copy_out/memcpy", |b| {
        b.iter(|| out.copy_from_slice(black_box(&heap)))
    });
    g.finish();
}

criterion_group!(benches, create_open, open, array);
criterion_main!(benches);
