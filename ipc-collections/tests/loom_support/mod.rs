//! The loom driver and heap memory shared by the `loom_*` model tests.

use std::alloc::{alloc_zeroed, dealloc, Layout};

/// Runs `f` under loom with at most `bound` preemptions per execution (`None`: all
/// interleavings), unless `LOOM_MAX_PREEMPTIONS` says otherwise, and prints how many
/// executions loom explored (`--nocapture` shows it).
pub fn check(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    // Polling loops and registry scans make long paths (the default is 1000 branches).
    b.max_branches = 20_000;
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        b.preemption_bound = bound;
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    b.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!(
        "{}: {} executions, preemption bound {:?}",
        std::thread::current().name().unwrap_or("?"),
        runs.load(std::sync::atomic::Ordering::Relaxed),
        b.preemption_bound
    );
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
