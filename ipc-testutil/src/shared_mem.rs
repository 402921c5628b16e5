//! A typed anonymous shared mapping that forked children inherit ([`ShMem`]), for tests of
//! the in-place primitives, and [`park_forever`] for a forked child that waits to be killed.

/// A zero-filled anonymous shared mapping holding one `T`, unmapped on drop. A forked child
/// sees the same memory.
pub struct ShMem<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: the mapping is shared memory accessed only through `&T`, and `T: Sync`.
unsafe impl<T: Sync> Sync for ShMem<T> {}

impl<T: Sync> ShMem<T> {
    /// Maps zeroed shared memory for a `T` and runs `init` on it before anyone else sees it.
    pub fn new(init: impl FnOnce(*mut T)) -> Self {
        let len = std::mem::size_of::<T>().max(1);
        assert!(std::mem::align_of::<T>() <= 4096);
        // SAFETY: an anonymous mapping with a null hint has no preconditions.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap failed");
        let ptr = p.cast::<T>();
        init(ptr);
        ShMem { ptr, len }
    }
}

impl<T> std::ops::Deref for ShMem<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the mapping is page-aligned, sized for T, initialised by `new`, and stays
        // mapped until drop.
        unsafe { &*self.ptr }
    }
}

impl<T> Drop for ShMem<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no reference outlives self.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Parks a forked child for ever (until it is killed), without touching the heap.
pub fn park_forever() -> ! {
    loop {
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}
