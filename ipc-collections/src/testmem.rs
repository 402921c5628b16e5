//! Page-aligned heap memory for the in-process unit tests of the segment protocol.

use std::alloc::{alloc_zeroed, dealloc, Layout};

pub(crate) struct HeapMem {
    ptr: *mut u8,
    layout: Layout,
}

impl HeapMem {
    pub(crate) fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, 4096).unwrap();
        // SAFETY: len > 0 in every test.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        HeapMem { ptr, layout }
    }

    /// A second handle on the same bytes (the "other process" of an in-process test).
    pub(crate) fn alias(&self) -> AliasMem {
        AliasMem(self.ptr, self.layout.size())
    }
}

impl Drop for HeapMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

// SAFETY: ptr is non-null, 4096-aligned, valid for len bytes until drop.
unsafe impl ipc_core::Memory for HeapMem {
    fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    fn len(&self) -> usize {
        self.layout.size()
    }
}

pub(crate) struct AliasMem(*mut u8, usize);

// SAFETY: tests keep the HeapMem alive longer than its aliases.
unsafe impl ipc_core::Memory for AliasMem {
    fn as_ptr(&self) -> *mut u8 {
        self.0
    }
    fn len(&self) -> usize {
        self.1
    }
}
