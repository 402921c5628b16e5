//! [`ArrayView`]: a typed N-d view (C order) of memory the caller already has, at a byte
//! offset: IPC.jl's `WrappedArray(mem, T, dims; offset)`. And [`AtomicElement`], the element
//! types that many processes may read and write at once without a lock.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU64,
    AtomicU8, AtomicUsize,
};

use ipc_core::shm::{MemfdShm, Seals};
use ipc_core::{ErrorKind, Memory, SharedLayout};

use crate::error::{Error, Result};
use crate::format;

mod sealed {
    pub trait Sealed {}
}

/// An element type that any number of threads and processes may read and write at the same
/// time with no lock: the integer atomics. A [`SharedArray`](crate::SharedArray) of them
/// has a safe lock-free [`as_slice`](crate::SharedArray::as_slice), and
/// [`ArrayView::atomic`] views any writable [`Memory`] as a slice of them.
///
/// Sealed: implemented exactly for `AtomicU8` to `AtomicU64`, `AtomicUsize`, `AtomicI8` to
/// `AtomicI64` and `AtomicIsize` (all valid for every bit pattern, and mutated only
/// atomically through `&self`).
pub trait AtomicElement: SharedLayout + Send + sealed::Sealed {}

macro_rules! atomic_elements {
    ($($t:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl AtomicElement for $t {}
    )*};
}
atomic_elements!(
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
);

/// A typed, N-dimensional (C order) view of `dims` elements of `T` starting `offset` bytes
/// into a [`Memory`] (a [`SysvShm`](ipc_core::shm::sysv::SysvShm), a
/// [`MemfdShm`], an [`AnonShm`](ipc_core::shm::AnonShm), a plain
/// [`Shm`](ipc_core::shm::Shm) that a C program made, ...). It borrows the memory, so the
/// mapping outlives the view.
///
/// Every constructor checks, before any byte is touched: at least one dim (and at most
/// [`format::MAX_RANK`]); the element count and byte size do not overflow
/// ([`ErrorKind::InvalidSize`](crate::ErrorKind::InvalidSize)); the view fits inside the memory
/// ([`ErrorKind::InvalidSize`](crate::ErrorKind::InvalidSize)); the first element is aligned for `T`
/// ([`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)).
///
/// # When a view is safe
///
/// A `&[T]` over shared memory is sound only while nobody writes the bytes except through
/// interior mutability of `T`. The project can prove that in two cases, and those
/// constructors are safe:
///
/// - [`ArrayView::atomic`]: `T` is an [`AtomicElement`] (`AtomicU64`, ...): every access from
///   any process is an atomic operation, so concurrent writers are no data race. The memory
///   must be writable in this process (a safe `store` through a read-only mapping would
///   fault).
/// - [`ArrayView::sealed`]: the memory is a [`MemfdShm`] whose file carries
///   `F_SEAL_WRITE`: the kernel refuses every write and every writable mapping, in every
///   process, for good (a seal is never removed). Such a memfd is made outside
///   [`MemfdShm::create`] (whose memfds seal their set of seals): by a C program, or with
///   `memfd_create(MFD_ALLOW_SEALING)`, written, then sealed, and mapped with
///   [`MemfdShm::from_fd`].
///
/// A read-only mapping in *this* process is not such a proof: another process can hold a
/// writable mapping of the same object and write while the slice is read. Views of plain
/// element types over any other memory are [`ArrayView::from_memory`], `unsafe`, with the
/// contract written there.
///
/// ```no_run
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use ipc_collections::ArrayView;
/// use ipc_collections::ipc_core::shm::Shm;
///
/// // a 4096-byte object that a C program made, holding a 16x16 grid of u32 counters at
/// // byte 1024
/// let shm = Shm::open("/c-grid")?;
/// let grid = ArrayView::<AtomicU32>::atomic(&shm, 1024, &[16, 16])?;
/// grid.at(&[3, 4]).unwrap().fetch_add(1, Ordering::Relaxed);
/// # Ok::<(), ipc_collections::Error>(())
/// ```
pub struct ArrayView<'m, T> {
    ptr: *mut T,
    len: usize,
    dims: Vec<usize>,
    /// Borrows the memory (through a shared reference to `T`s in it).
    _mem: PhantomData<&'m [T]>,
}

// SAFETY: an ArrayView is a `&'m [T]` plus its dims: it can move to and be shared by other
// threads exactly when `&[T]` can, which needs `T: Sync` (SharedLayout requires it).
unsafe impl<T: Sync> Send for ArrayView<'_, T> {}
// SAFETY: as above: sharing the view shares `&[T]`, sound for `T: Sync`.
unsafe impl<T: Sync> Sync for ArrayView<'_, T> {}

impl<T: SharedLayout> fmt::Debug for ArrayView<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayView")
            .field("type", &T::LAYOUT.name)
            .field("dims", &self.dims)
            .finish()
    }
}

/// A bad-view error of kind `kind` for operation `op`, saying `why`.
fn bad(op: &'static str, kind: ErrorKind, why: impl Into<Box<str>>) -> Error {
    ipc_core::Error::with_text(op, kind, why)
}

/// Checks a view of `dims` `T`s at `offset` in `mem` and returns the first element's
/// address and the element count.
fn check<T, M: Memory + ?Sized>(
    op: &'static str,
    mem: &M,
    offset: usize,
    dims: &[usize],
) -> Result<(*mut T, usize)> {
    if dims.is_empty() || dims.len() > format::MAX_RANK {
        return Err(bad(
            op,
            ErrorKind::InvalidInput,
            format!(
                "{} dims: a view has 1 to {} dims",
                dims.len(),
                format::MAX_RANK
            ),
        ));
    }
    let len = format::element_count(dims).ok_or_else(|| {
        bad(
            op,
            ErrorKind::InvalidSize,
            format!("the element count of dims {dims:?} overflows"),
        )
    })?;
    let bytes = len.checked_mul(size_of::<T>()).ok_or_else(|| {
        bad(
            op,
            ErrorKind::InvalidSize,
            format!("{len} elements of {} bytes overflow usize", size_of::<T>()),
        )
    })?;
    match offset.checked_add(bytes) {
        Some(end) if end <= mem.len() => {}
        _ => {
            return Err(bad(
                op,
                ErrorKind::InvalidSize,
                format!(
                    "a view of {bytes} bytes at offset {offset} does not fit the {}-byte memory",
                    mem.len()
                ),
            ))
        }
    }
    // In bounds (offset + bytes <= len), so this is an address inside the mapping (or one
    // past its end for an empty view).
    let ptr = mem.as_ptr().wrapping_add(offset);
    if ptr as usize % align_of::<T>() != 0 {
        return Err(bad(
            op,
            ErrorKind::InvalidInput,
            format!(
                "offset {offset} is not aligned for {} (alignment {})",
                std::any::type_name::<T>(),
                align_of::<T>()
            ),
        ));
    }
    Ok((ptr.cast(), len))
}

impl<'m, T: AtomicElement> ArrayView<'m, T> {
    /// A lock-free view of atomic elements: safe, because every access by any process is
    /// an atomic operation (see [when a view is safe](ArrayView#when-a-view-is-safe)).
    ///
    /// Errors: as the [type's checks](ArrayView), and [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied) for
    /// memory mapped read-only in this process (an atomic store through it would fault).
    pub fn atomic<M: Memory + ?Sized>(mem: &'m M, offset: usize, dims: &[usize]) -> Result<Self> {
        const OP: &str = "ArrayView::atomic";
        if mem.is_read_only() {
            return Err(ipc_core::Error::new(OP, ErrorKind::PermissionDenied));
        }
        let (ptr, len) = check::<T, M>(OP, mem, offset, dims)?;
        Ok(Self::new(ptr, len, dims))
    }
}

impl<'m, T: SharedLayout> ArrayView<'m, T> {
    fn new(ptr: *mut T, len: usize, dims: &[usize]) -> Self {
        ArrayView {
            ptr,
            len,
            dims: dims.to_vec(),
            _mem: PhantomData,
        }
    }

    /// A view of a memfd whose contents the kernel has sealed (`F_SEAL_WRITE`): safe for
    /// every element type, because no process can write the bytes any more.
    ///
    /// Errors: as the [type's checks](ArrayView), and [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when the
    /// memfd lacks `F_SEAL_WRITE` (`F_SEAL_FUTURE_WRITE` is not enough: mappings made
    /// before it stay writable).
    pub fn sealed(mem: &'m MemfdShm, offset: usize, dims: &[usize]) -> Result<Self> {
        const OP: &str = "ArrayView::sealed";
        // Seals are only ever added, so one seen when the handle was made is still there.
        if !mem.seals().contains(Seals::F_SEAL_WRITE) {
            return Err(bad(
                OP,
                ErrorKind::InvalidInput,
                "the memfd is not sealed against writes (F_SEAL_WRITE missing)",
            ));
        }
        let (ptr, len) = check::<T, MemfdShm>(OP, mem, offset, dims)?;
        Ok(Self::new(ptr, len, dims))
    }

    /// A view of any element type over any memory, checked as the [type
    /// says](ArrayView).
    ///
    /// # Safety
    /// For as long as the view (or a slice or reference from it) lives, no thread or process
    /// writes the bytes it covers, other than through interior mutability of `T` itself:
    /// the caller guarantees this by its own protocol (the writer finished and signalled
    /// before the view was made, a lock of its own, a phase in which everybody only reads).
    /// A write by another process meanwhile is a data race, undefined behaviour, even
    /// though every bit pattern is a valid `T`. If `T` has interior mutability, the memory
    /// must not be mapped read-only.
    pub unsafe fn from_memory<M: Memory + ?Sized>(
        mem: &'m M,
        offset: usize,
        dims: &[usize],
    ) -> Result<Self> {
        let (ptr, len) = check::<T, M>("ArrayView::from_memory", mem, offset, dims)?;
        Ok(Self::new(ptr, len, dims))
    }

    /// The dimensions (C order).
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The number of elements (the product of the dims).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view has no elements (some dim is 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All elements, C order.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the constructor checked that len elements of T at ptr lie inside the
        // memory (no overflow) and that ptr is aligned for T; the memory stays mapped for
        // 'm (the view borrows it, and `Memory` keeps it mapped while borrowed); every bit
        // pattern is a valid T (SharedLayout); no process writes the bytes except through
        // T's interior mutability: proved by the safe constructors (atomic elements, a
        // write-sealed memfd) or promised by the caller of `from_memory`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The element at `index` (one component per dim), `None` if out of range.
    pub fn at(&self, index: &[usize]) -> Option<&T> {
        let i = crate::array::flat_index(&self.dims, index)?;
        self.as_slice().get(i)
    }

    /// The first element's address.
    pub fn as_ptr(&self) -> *mut T {
        self.ptr
    }
}

impl<T: SharedLayout> std::ops::Deref for ArrayView<'_, T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}
