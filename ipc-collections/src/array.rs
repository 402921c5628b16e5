//! [`SharedArray<T>`]: an N-dimensional array (C order) in a named or anonymous segment,
//! guarded by a robust mutex in the segment's control block.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use ipc_core::shm::Shm;
use ipc_core::{ErrorKind, Memory, SharedLayout};

use crate::error::{Error, LayoutMismatch, Result};
use crate::format::{self, Kind, SegmentInfo, Spec};
use crate::ident;
use crate::lock::poison::PoisonMutex;
use crate::segment::named::{self, NamedOptions};
use crate::segment::{Deadline, Expect, Fresh, Segment, DEFAULT_OPEN_TIMEOUT};
use ipc_core::sync::{Acquired, LockGuard, RawLock};

/// An N-dimensional array of `T` (up to 8 dimensions, C order: the last index varies
/// fastest) in shared memory: IPC.jl's `WrappedArray(id, T, dims)` / `WrappedArray(id)` in
/// Rust.
///
/// - [`create`](Self::create) makes a named array of zeroed elements;
///   [`open`](Self::open) checks the element type (fingerprint and schema) and exposes the
///   stored [`dims`](Self::dims); [`options`](Self::options)`.dims(..).open(..)` also
///   checks them.
/// - Safe access cannot race with other processes: [`lock`](Self::lock) takes the array's
///   robust, process-shared mutex (it lives in the segment's control block) and returns a
///   guard that dereferences to `[T]`; [`get`](Self::get)/[`set`](Self::set) lock for one
///   element.
/// - Lock-free experts use [`as_slice_unchecked`](Self::as_slice_unchecked) /
///   [`as_mut_slice_unchecked`](Self::as_mut_slice_unchecked) under their own contract.
/// - The payload starts at an offset aligned to at least 64 bytes (a cache line).
/// - With the cargo feature `ndarray`, a locked array is also an `ndarray` view
///   (`ArrayGuard::view`, `ArrayGuard::view_mut`).
/// - Over anonymous memory shared with forked children: [`create_in`](Self::create_in)
///   with an [`AnonShm`](ipc_core::shm::AnonShm) of [`segment_len`](Self::segment_len)
///   bytes.
///
/// ```no_run
/// use ipc_collections::SharedArray;
///
/// let grid = SharedArray::<f64>::create("/grid", &[512, 512])?;
/// grid.set(&[3, 4], 1.5)?;
/// // in another process:
/// let grid = SharedArray::<f64>::open("/grid")?;
/// assert_eq!(grid.dims(), &[512, 512]);
/// let mut g = grid.lock()?;
/// g.as_mut_slice().fill(0.0);
/// # Ok::<(), ipc_collections::Error>(())
/// ```
pub struct SharedArray<T: SharedLayout, M: Memory = Shm> {
    seg: Segment<M>,
    len: usize,
    /// Elements are handed from thread to thread under the lock, like a `Mutex<[T]>`'s:
    /// the array is `Send`/`Sync` exactly when `T: Send` (and the memory allows).
    _t: PhantomData<std::sync::Mutex<T>>,
}

impl<T: SharedLayout, M: Memory> fmt::Debug for SharedArray<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedArray")
            .field("name", &self.seg.name())
            .field("type", &T::LAYOUT.name)
            .field("dims", &self.dims())
            .finish()
    }
}

// The control block FORMAT.md defines is exactly a PoisonMutex (its flag's offset is pinned
// in poison.rs).
const _: () = assert!(size_of::<PoisonMutex>() == format::ARRAY_CONTROL_LEN);

fn array_spec<'a, T: SharedLayout>(schema: &'a str, dims: &'a [usize]) -> Spec<'a> {
    Spec {
        kind: Kind::Array,
        elem_size: size_of::<T>(),
        elem_align: align_of::<T>(),
        // Computed at compile time (byte order and pointer width mixed in).
        fingerprint: const { T::LAYOUT.fingerprint() },
        schema,
        dims,
        control_len: format::ARRAY_CONTROL_LEN,
        ring_capacity: 0,
        ring_payload_len: 0,
    }
}

impl<T: SharedLayout, M: Memory> SharedArray<T, M> {
    /// The number of bytes a segment holding an array of `dims` needs.
    ///
    /// Errors: [`ipc_core::ErrorKind::InvalidSize`] if the element count or byte size
    /// overflows, [`ipc_core::ErrorKind::InvalidInput`] for no or more than 8 dimensions.
    pub fn segment_len(dims: &[usize]) -> Result<usize> {
        let schema = ident::schema(&T::LAYOUT);
        Ok(format::plan("SharedArray::segment_len", &array_spec::<T>(&schema, dims))?.total_len)
    }

    /// Creates the array in `mem` (for example an [`AnonShm`](ipc_core::shm::AnonShm) that
    /// forked children inherit), zeroed, and publishes it. `mem` must be at least
    /// [`segment_len`](Self::segment_len) bytes and free, as for
    /// [`Shared::create_in`](crate::Shared::create_in): memory that already holds a segment
    /// is [`ipc_core::ErrorKind::AlreadyExists`], other non-zero memory
    /// [`ipc_core::ErrorKind::InvalidInput`].
    pub fn create_in(mem: M, dims: &[usize]) -> Result<Self> {
        Self::create_impl("SharedArray::create_in", mem, "", dims, Fresh::Used, |_| {})
    }

    /// Opens an array that another handle created in `mem`, checking the element type.
    pub fn open_in(mem: M) -> Result<Self> {
        Self::attach_impl(mem, "", Deadline::after(DEFAULT_OPEN_TIMEOUT))
    }

    fn create_impl(
        op: &'static str,
        mem: M,
        name: &str,
        dims: &[usize],
        fresh: Fresh<M>,
        init: impl FnOnce(&mut [T]),
    ) -> Result<Self> {
        let schema = ident::schema(&T::LAYOUT);
        let spec = array_spec::<T>(&schema, dims);
        let plan = format::plan(op, &spec).map_err(|e| e.or_name(name))?;
        let len = format::element_count(dims).unwrap_or(0);
        let seg = Segment::create(op, mem, name, &spec, &plan, fresh, |seg| {
            let named = |e: ipc_core::Error| e.with_name(name);
            // SAFETY: the control block is ARRAY_CONTROL_LEN == size_of::<PoisonMutex>() bytes
            // (asserted at compile time) at a 64-aligned
            // offset in the page-aligned mapping, zero-filled, and exclusively ours: this
            // handle won the claim on the memory (Segment::create), and nobody else uses it
            // before the state becomes READY.
            unsafe { PoisonMutex::init_in_place(seg.control_ptr().cast()) }.map_err(named)?;
            let first = seg.payload_ptr().cast::<T>();
            // Zero-sized elements have no bytes to initialise, and their count may be as
            // large as usize::MAX: a loop over them would run for ages.
            let to_init = if size_of::<T>() == 0 { 0 } else { len };
            for i in 0..to_init {
                // SAFETY: i < len, and the payload holds len elements of T, aligned (offset
                // a multiple of max(64, align_of::<T>())), zero-filled, and unpublished.
                unsafe { T::init_in_place(first.add(i)) }.map_err(named)?;
            }
            // SAFETY: as above: len initialised elements, exclusively ours until READY; the
            // slice does not outlive this closure.
            init(unsafe { std::slice::from_raw_parts_mut(first, len) });
            Ok(())
        })?;
        Ok(SharedArray {
            seg,
            len,
            _t: PhantomData,
        })
    }

    fn attach_impl(mem: M, name: &str, wait: Deadline) -> Result<Self> {
        if mem.is_read_only() {
            return Err(ipc_core::Error::with_text(
                "SharedArray::open",
                ErrorKind::InvalidInput,
                "an array cannot be used through a read-only mapping (its lock is \
                         written)",
            )
            .with_name(name));
        }
        let expect = Expect {
            kind: Kind::Array,
            elem_size: size_of::<T>(),
            elem_align: align_of::<T>(),
            // Computed at compile time (byte order and pointer width mixed in).
            fingerprint: const { T::LAYOUT.fingerprint() },
            layout: &T::LAYOUT,
            control_len: format::ARRAY_CONTROL_LEN,
        };
        let seg = Segment::attach(mem, name, Some(&expect), wait)?;
        // The validator checked payload_len == product(dims) * elem_size without overflow,
        // and elem_size == size_of::<T>() was checked against T.
        let len = format::element_count(&seg.info().dims)
            .ok_or_else(|| Error::corrupted(name, "dims overflow"))?;
        Ok(SharedArray {
            seg,
            len,
            _t: PhantomData,
        })
    }

    /// The dimensions, C order.
    pub fn dims(&self) -> &[usize] {
        &self.seg.info().dims
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.dims().len()
    }

    /// The number of elements (the product of the dims).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What the segment's header says.
    pub fn info(&self) -> &SegmentInfo {
        self.seg.info()
    }

    /// The memory the array lives in.
    pub fn memory(&self) -> &M {
        self.seg.memory()
    }

    /// The flat (C order) position of the element at `index`, or `None` if `index` has the
    /// wrong number of components or one is out of range.
    pub fn flat_index(&self, index: &[usize]) -> Option<usize> {
        flat_index(self.dims(), index)
    }

    fn mutex(&self) -> &PoisonMutex {
        // SAFETY: the control block (validated: size_of::<PoisonMutex>() bytes, 64-aligned,
        // inside the mapping) holds the array's lock, initialised by the creator before
        // publication; PoisonMutex is only used through its own synchronised calls and
        // atomics; the reference borrows self, which keeps the mapping alive.
        unsafe { &*self.seg.control_ptr().cast::<PoisonMutex>() }
    }

    /// The guard for the lock this thread has just tried to take (`r`), or `r`'s error
    /// naming this array; refuses a poisoned lock unless `tolerate_poison`.
    #[inline]
    fn guard(
        &self,
        r: ipc_core::Result<Acquired>,
        tolerate_poison: bool,
    ) -> Result<ArrayGuard<'_, T, M>> {
        let acquired = self.named(r)?;
        // SAFETY: this thread has just acquired the array's lock; the payload holds `len`
        // initialised elements of T inside the mapping (aligned, valid for every bit
        // pattern), which `self` keeps mapped for the guard's borrow, and every safe access
        // to them from any process happens under that lock. The memory is writable: a
        // SharedArray is never opened read-only.
        let guard = unsafe {
            LockGuard::new(
                self.mutex(),
                std::ptr::slice_from_raw_parts_mut(self.as_ptr(), self.len),
                acquired,
                tolerate_poison,
            )
        };
        let guard = self.named(LockGuard::refuse_poison(guard))?;
        Ok(ArrayGuard { guard, array: self })
    }

    /// `pthread_mutex_lock` on the array's robust lock: exclusive access to all elements
    /// until the guard drops.
    ///
    /// # Errors
    /// - [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) when a process died holding the lock (now, or earlier and
    ///   nobody cleared it): the elements may be half written. The lock is released again
    ///   and stays usable; see [`lock_ignoring_poison`](Self::lock_ignoring_poison);
    /// - [`LimitReached`](ipc_core::ErrorKind::LimitReached) when this thread holds 2048
    ///   robust locks already; [`Os`](ipc_core::ErrorKind::Os)`(EDEADLK)` when it holds
    ///   this one.
    ///
    /// # References
    /// [pthread_mutex_lock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html)
    #[doc(alias = "pthread_mutex_lock")]
    pub fn lock(&self) -> Result<ArrayGuard<'_, T, M>> {
        self.guard(self.mutex().lock(), false)
    }

    /// As [`lock`](Self::lock) without waiting:
    /// [`WouldBlock`](ipc_core::ErrorKind::WouldBlock) if another holds it.
    ///
    /// # References
    /// [pthread_mutex_trylock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_trylock.3p.html)
    #[doc(alias = "pthread_mutex_trylock")]
    pub fn try_lock(&self) -> Result<ArrayGuard<'_, T, M>> {
        self.guard(self.mutex().try_lock(), false)
    }

    /// `pthread_mutex_clocklock`: as [`lock`](Self::lock), waiting at most `timeout`
    /// ([`Timeout`](ipc_core::ErrorKind::Timeout) if it stays held).
    ///
    /// # References
    /// [pthread_mutex_timedlock(3p)](https://man7.org/linux/man-pages/man3/pthread_mutex_timedlock.3p.html)
    #[doc(alias = "pthread_mutex_clocklock")]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ArrayGuard<'_, T, M>> {
        self.guard(self.mutex().lock_timeout(timeout), false)
    }

    /// Locks the array whether or not it is poisoned: the way back after a crash. Check or
    /// repair the elements, then call [`clear_poison`](ipc_core::sync::LockGuard::clear_poison) on the guard, and every process can
    /// use [`lock`](Self::lock), [`get`](Self::get) and [`set`](Self::set) again:
    ///
    /// ```no_run
    /// # use ipc_collections::{ErrorKind, SharedArray};
    /// # fn f(grid: &SharedArray<f64>) -> ipc_collections::Result<()> {
    /// match grid.set(&[0, 0], 1.0) {
    ///     Err(e) if e.kind() == ErrorKind::Poisoned => {
    ///         let mut g = grid.lock_ignoring_poison()?;
    ///         g.fill(0.0); // or check what the dead process may have left half written
    ///         g.clear_poison();
    ///     }
    ///     other => other?,
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`lock`](Self::lock), without `Poisoned`.
    pub fn lock_ignoring_poison(&self) -> Result<ArrayGuard<'_, T, M>> {
        self.guard(self.mutex().lock(), true)
    }

    /// Whether a process died holding the array's lock and nobody has cleared the poison
    /// since (a snapshot).
    pub fn is_poisoned(&self) -> bool {
        self.mutex().is_poisoned()
    }

    /// `r` with its error naming this array (arrays over anonymous memory have no name).
    fn named<R>(&self, r: ipc_core::Result<R>) -> ipc_core::Result<R> {
        let name = self.seg.name();
        r.map_err(|e| {
            if name.is_empty() {
                e
            } else {
                e.with_name(name)
            }
        })
    }

    fn index_error(&self, index: &[usize]) -> Error {
        let dims = self.dims();
        let why = if index.len() != dims.len() {
            format!(
                "index {index:?} has {} components, but the array has rank {} (dims {dims:?})",
                index.len(),
                dims.len()
            )
        } else {
            format!("index {index:?} is outside dims {dims:?}")
        };
        let e = ipc_core::Error::with_text("SharedArray::index", ErrorKind::InvalidInput, why);
        self.named::<()>(Err(e)).unwrap_err()
    }

    /// The element at `index` (one component per dimension), read under the lock.
    ///
    /// Errors: an out-of-range index ([`ipc_core::ErrorKind::InvalidInput`]); the errors of
    /// [`lock`](Self::lock), among them [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned) after a process died holding
    /// the lock (the way back is [`lock_ignoring_poison`](Self::lock_ignoring_poison)).
    pub fn get(&self, index: &[usize]) -> Result<T>
    where
        T: Copy,
    {
        let i = self
            .flat_index(index)
            .ok_or_else(|| self.index_error(index))?;
        let g = self.lock()?;
        Ok(g[i])
    }

    /// Writes `value` at `index` under the lock (errors as [`get`](Self::get)).
    pub fn set(&self, index: &[usize], value: T) -> Result<()> {
        let i = self
            .flat_index(index)
            .ok_or_else(|| self.index_error(index))?;
        let mut g = self.lock()?;
        g[i] = value;
        Ok(())
    }

    /// The first element's address (64-byte aligned), for FFI and lock-free code.
    pub fn as_ptr(&self) -> *mut T {
        self.seg.payload_ptr().cast()
    }

    /// All elements, without the lock.
    ///
    /// # Safety
    /// For as long as the slice lives, no thread or process may write any element other
    /// than through interior mutability of `T` itself (for example atomics): the caller
    /// guarantees this by its own protocol (a phase in which all processes only read, its
    /// own lock, or elements of atomic type). A write by another process while the slice
    /// is read is a data race (undefined behaviour), even though every bit pattern is a
    /// valid `T`.
    pub unsafe fn as_slice_unchecked(&self) -> &[T] {
        // SAFETY: the payload holds len initialised elements of T inside the mapping,
        // aligned, valid for every bit pattern; the caller guarantees no concurrent writes;
        // the slice borrows self, which keeps the mapping alive.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) }
    }

    /// All elements, mutably, without the lock.
    ///
    /// # Safety
    /// For as long as the slice lives, no other thread or process accesses the elements it
    /// covers (no other slice, guard or reference to them exists, in this process or
    /// another): for example each process owns a disjoint block of the array by the
    /// caller's protocol and touches only that block. The memory must not be mapped
    /// read-only.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice_unchecked(&self) -> &mut [T] {
        // SAFETY: as in as_slice_unchecked, and the caller guarantees exclusive access to
        // every element for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.len) }
    }
}

impl<T: crate::AtomicElement, M: Memory> SharedArray<T, M> {
    /// All elements, without the lock: safe because every element is an atomic, which any
    /// number of threads and processes may load, store and update at the same time (C
    /// order). The array's lock is not taken and not needed; guards from
    /// [`lock`](Self::lock) see the same atomics.
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use ipc_collections::SharedArray;
    ///
    /// let hits = SharedArray::<AtomicU64>::open("/hits")?;
    /// hits.as_slice()[7].fetch_add(1, Ordering::Relaxed); // no lock, no unsafe
    /// # Ok::<(), ipc_collections::Error>(())
    /// ```
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the payload holds len initialised elements of T inside the mapping,
        // aligned, valid for every bit pattern; the mapping is writable (a SharedArray is
        // never opened read-only); T is an integer atomic, so every access from any
        // process is atomic and none is a data race; the slice borrows self, which keeps
        // the mapping alive.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) }
    }
}

/// Anonymous memory is reached through `SharedArray::<T>::anonymous` (the default memory
/// type in the path), so that `SharedArray::<i64>::anonymous(&[2])` needs no second type.
impl<T: SharedLayout> SharedArray<T, Shm> {
    /// An array of `dims` (zeroed) in fresh anonymous shared memory, for `fork`ed children:
    /// process_shared's `SharedMemory.new(:int, n)`. Children forked after this call share
    /// the elements and the lock; the memory goes away with the last process that maps it
    /// (there is no name). Shortcut for [`SharedArray::create_in`] with an
    /// [`AnonShm`](ipc_core::shm::AnonShm) of [`SharedArray::segment_len`] bytes.
    ///
    /// Errors: as [`segment_len`](Self::segment_len), and
    /// [`ipc_core::ErrorKind::NoSpace`] when the kernel refuses the memory.
    #[doc(alias = "MAP_ANONYMOUS")]
    pub fn anonymous(dims: &[usize]) -> Result<SharedArray<T, ipc_core::shm::AnonShm>> {
        type Anon<T> = SharedArray<T, ipc_core::shm::AnonShm>;
        let mem = ipc_core::shm::AnonShm::new(Anon::<T>::segment_len(dims)?)?;
        Anon::<T>::create_impl(
            "SharedArray::anonymous",
            mem,
            "",
            dims,
            Fresh::Zeroed,
            |_| {},
        )
    }
}

/// The flat position of `index` in an array of `dims` (C order).
pub(crate) fn flat_index(dims: &[usize], index: &[usize]) -> Option<usize> {
    if index.len() != dims.len() {
        return None;
    }
    let mut flat = 0usize;
    for (&i, &d) in index.iter().zip(dims) {
        if i >= d {
            return None;
        }
        // Cannot overflow: the product of dims fits in usize (validated), and flat < that.
        flat = flat * d + i;
    }
    Some(flat)
}

impl<T: SharedLayout> SharedArray<T, Shm> {
    /// Creates the named array `name` with `dims` (C order), elements zeroed, exclusively
    /// (an existing name is [`ipc_core::ErrorKind::AlreadyExists`]). Mode 0600; the name is
    /// unlinked when this handle drops (the [lifetime
    /// table](ipc_core#options-and-lifetimes)), unless kept with
    /// [`set_unlink_on_drop(false)`](Self::set_unlink_on_drop). Shortcut for
    /// `SharedArray::<T>::options().dims(dims).create(name, |_| {})`.
    ///
    /// Errors: a product of `dims` that overflows is [`ipc_core::ErrorKind::InvalidSize`];
    /// no or more than 8 dims is [`ipc_core::ErrorKind::InvalidInput`].
    pub fn create(name: &str, dims: &[usize]) -> Result<Self> {
        Self::options().dims(dims).create(name, |_| {})
    }

    /// Opens the named array, checking that its elements are `T` (kind, fingerprint,
    /// schema, size, alignment), waiting up to 5 s for its creator to publish it.
    /// [`dims`](Self::dims) tells its shape. Shortcut for
    /// `SharedArray::<T>::options().open(name)`; errors as [`SharedArrayOptions::open`].
    pub fn open(name: &str) -> Result<Self> {
        Self::options().open(name)
    }

    /// Opens the named array, or creates it with `dims` (zeroed) if it does not exist;
    /// race-safe (exactly one of several concurrent callers creates). The opened array's
    /// dims must equal `dims`. Shortcut for
    /// `SharedArray::<T>::options().dims(dims).open_or_create(name, |_| {})`.
    pub fn open_or_create(name: &str, dims: &[usize]) -> Result<Self> {
        Self::options().dims(dims).open_or_create(name, |_| {})
    }

    /// The builder for every other combination (dims check on open, mode bits, timeout,
    /// who unlinks, an init closure); the same as [`SharedArrayOptions::new`].
    pub fn options() -> SharedArrayOptions<T> {
        SharedArrayOptions::new()
    }

    /// [`LayoutMismatch`](crate::ErrorKind::LayoutMismatch) unless the array has exactly `dims`.
    fn check_dims(&self, dims: &[usize]) -> Result<()> {
        if self.dims() == dims {
            return Ok(());
        }
        Err(Error::layout_mismatch(
            self.name(),
            LayoutMismatch {
                type_name: format!("[{}]", T::LAYOUT.type_name()),
                expected: format!("{dims:?}"),
                found: format!("{:?}", self.dims()),
                diffs: vec![format!("dims: expected {dims:?}, found {:?}", self.dims())],
            },
        ))
    }

    /// The array's name.
    pub fn name(&self) -> &str {
        self.seg.name()
    }

    /// Whether this handle created the array.
    pub fn created(&self) -> bool {
        self.seg.memory().created()
    }

    /// Whether dropping this handle (in this process) unlinks the name.
    pub fn unlinks_on_drop(&self) -> bool {
        self.seg.memory().unlinks_on_drop()
    }

    /// Chooses whether dropping this handle unlinks the name: `false` keeps the array after
    /// this process (remove it later with [`unlink`](crate::unlink)); `true` makes this
    /// handle unlink it, also if another process created it.
    pub fn set_unlink_on_drop(&mut self, yes: bool) {
        self.seg.memory_mut().set_unlink_on_drop(yes);
    }
}

/// How a [`SharedArray<T>`] is created or opened: the builder every named kind shares (see
/// the [lifetime table](ipc_core#options-and-lifetimes)).
///
/// There is no `read_only`: every user of an array writes its lock.
///
/// ```no_run
/// use ipc_collections::SharedArray;
///
/// let a = SharedArray::<f64>::options()
///     .dims(&[3, 4])
///     .mode(0o640)
///     .unlink_on_drop(false)
///     .create("/grid", |x| x.fill(1.0))?;
/// // elsewhere: open, and insist on the shape
/// let b = SharedArray::<f64>::options().dims(&[3, 4]).open("/grid")?;
/// # Ok::<(), ipc_collections::Error>(())
/// ```
#[must_use]
pub struct SharedArrayOptions<T: SharedLayout> {
    named: NamedOptions,
    dims: Option<Vec<usize>>,
    _t: PhantomData<fn() -> T>,
}

named::typed_builder_impls!(SharedArrayOptions<T: SharedLayout>, T::LAYOUT.name, _t; named, dims);

impl<T: SharedLayout> SharedArrayOptions<T> {
    /// No dims, mode 0600, a 5 s open timeout, and the creating handle unlinks on drop.
    pub fn new() -> Self {
        SharedArrayOptions {
            named: named::defaults(),
            dims: None,
            _t: PhantomData,
        }
    }

    /// A builder with these shared settings and dims (for [`AnyArrayOptions`](crate::AnyArrayOptions)).
    pub(crate) fn with(named: NamedOptions, dims: Option<Vec<usize>>) -> Self {
        SharedArrayOptions {
            named,
            dims,
            _t: PhantomData,
        }
    }

    ipc_core::named_setters!(named; mode, timeout, unlink_on_drop);

    /// The dimensions (C order): the shape of a created array (needed to create), and the
    /// shape an opened array must have ([`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch) otherwise).
    pub fn dims(mut self, dims: &[usize]) -> Self {
        self.dims = Some(dims.to_vec());
        self
    }

    fn dims_or_err(&self, name: &str) -> Result<&[usize]> {
        self.dims.as_deref().ok_or_else(|| {
            ipc_core::Error::with_text(
                "SharedArray::create",
                ErrorKind::InvalidInput,
                "no dims given (SharedArrayOptions::dims)",
            )
            .with_name(name)
        })
    }

    /// The dims, and the segment's size with them (an error without dims).
    fn sized(&self, name: &str) -> Result<(&[usize], Result<usize>)> {
        let dims = self.dims_or_err(name)?;
        Ok((dims, SharedArray::<T>::segment_len(dims)))
    }

    /// Creates the named array exclusively with [`dims`](Self::dims); `init` fills the
    /// elements (zeroed before, exclusive access, C order) before any other process can see
    /// them.
    ///
    /// Errors: as [`SharedArray::create`]; [`ipc_core::ErrorKind::InvalidInput`] without
    /// dims; the errors of [`ipc_core::shm::ShmOptions::create`] (among them
    /// [`ipc_core::ErrorKind::LimitReached`] naming `RLIMIT_FSIZE`).
    pub fn create(&self, name: &str, init: impl FnOnce(&mut [T])) -> Result<SharedArray<T>> {
        let (dims, size) = self.sized(name)?;
        named::create(&self.named, name, size, |shm, n, fresh| {
            SharedArray::create_impl("SharedArray::create", shm, n, dims, fresh, init)
        })
    }

    /// As [`create`](Self::create), under a fresh random name that starts with `prefix`
    /// (`/grid-` gives `/grid-9f86d081884c7d65`): race-free, drawing again while the name is
    /// taken; [`SharedArray::name`] tells the name.
    ///
    /// Errors: those of [`create`](Self::create); [`ipc_core::ErrorKind::InvalidName`] for a
    /// prefix that does not start with `/`, holds another `/`, or leaves no room for the
    /// suffix.
    pub fn create_unique(
        &self,
        prefix: &str,
        init: impl FnOnce(&mut [T]),
    ) -> Result<SharedArray<T>> {
        const OP: &str = "SharedArray::create_unique";
        let (dims, size) = self.sized(prefix)?;
        named::create_unique(OP, &self.named, prefix, size, |shm, n, fresh| {
            SharedArray::create_impl(OP, shm, n, dims, fresh, init)
        })
    }

    /// Opens the named array, checking its element type (and its dims, if set), waiting up
    /// to the [`timeout`](Self::timeout) for its creator to publish it.
    ///
    /// Errors: [`ipc_core::ErrorKind::NotFound`] (its message recalls that a creator's
    /// handle unlinks the name when dropped); [`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch);
    /// [`ErrorKind::WrongType`](crate::ErrorKind::WrongType); [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted); [`ErrorKind::InitTimeout`](crate::ErrorKind::InitTimeout);
    /// [`ErrorKind::CreatorDied`](crate::ErrorKind::CreatorDied); [`ErrorKind::InitFailed`](crate::ErrorKind::InitFailed).
    pub fn open(&self, name: &str) -> Result<SharedArray<T>> {
        named::open(&self.named, name, |shm, name, wait| {
            self.attach(shm, name, wait)
        })
    }

    /// Attaches an opened array and checks its dims, if set.
    fn attach(&self, shm: Shm, name: &str, wait: Deadline) -> Result<SharedArray<T>> {
        let mut a = SharedArray::attach_impl(shm, name, wait)?;
        if let Some(dims) = &self.dims {
            a.check_dims(dims)?;
        }
        a.set_unlink_on_drop(named::unlink_opened(&self.named));
        Ok(a)
    }

    /// Opens the named array, or creates it with [`dims`](Self::dims) (running `init`) if
    /// it does not exist; race-safe. The opened array's dims must equal the dims.
    pub fn open_or_create(
        &self,
        name: &str,
        init: impl FnOnce(&mut [T]),
    ) -> Result<SharedArray<T>> {
        const OP: &str = "SharedArray::open_or_create";
        let (dims, size) = self.sized(name)?;
        let mut init = Some(init);
        named::open_or_create(
            &self.named,
            name,
            size,
            |shm, fresh| {
                let init = named::init_once(&mut init);
                SharedArray::create_impl(OP, shm, name, dims, fresh, init)
            },
            |shm, wait| self.attach(shm, name, wait),
        )
    }
}

/// Exclusive access to all elements of a [`SharedArray`] while its mutex is held: the
/// generic [`LockGuard`] over `[T]` (C order), to which it dereferences (so `g[i]`,
/// `g.iter()`, [`is_poisoned`](LockGuard::is_poisoned),
/// [`clear_poison`](LockGuard::clear_poison) work on it), with the array's dims beside it
/// for [`at`](Self::at)/[`at_mut`](Self::at_mut) and the `ndarray` views. Unlocks on drop
/// (the inner guard does). Not `Send`.
#[must_use = "the array is unlocked when the guard is dropped"]
pub struct ArrayGuard<'a, T: SharedLayout, M: Memory = Shm> {
    guard: LockGuard<'a, PoisonMutex, [T]>,
    array: &'a SharedArray<T, M>,
}

impl<T: SharedLayout + fmt::Debug, M: Memory> fmt::Debug for ArrayGuard<'_, T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayGuard")
            .field("dims", &self.array.dims())
            .field("guard", &self.guard)
            .finish()
    }
}

impl<'a, T: SharedLayout, M: Memory> ArrayGuard<'a, T, M> {
    /// All elements (C order).
    pub fn as_slice(&self) -> &[T] {
        &self.guard
    }

    /// All elements, mutably (C order).
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.guard
    }

    /// The dimensions.
    pub fn dims(&self) -> &'a [usize] {
        self.array.dims()
    }

    /// The element at `index` (one component per dimension), `None` if out of range.
    pub fn at(&self, index: &[usize]) -> Option<&T> {
        let i = self.array.flat_index(index)?;
        self.as_slice().get(i)
    }

    /// The element at `index`, mutably, `None` if out of range.
    pub fn at_mut(&mut self, index: &[usize]) -> Option<&mut T> {
        let i = self.array.flat_index(index)?;
        self.as_mut_slice().get_mut(i)
    }
}

#[cfg(feature = "ndarray")]
impl<T: SharedLayout, M: Memory> ArrayGuard<'_, T, M> {
    /// The locked array as an [`ndarray`] view with its dims (C order), for the duration of
    /// the lock. (Feature `ndarray`.)
    ///
    /// The `Err` case cannot happen for a validated segment (the element count is the
    /// product of the dims); it is returned rather than unwrapped.
    pub fn view(&self) -> std::result::Result<ndarray::ArrayViewD<'_, T>, ndarray::ShapeError> {
        ndarray::ArrayViewD::from_shape(ndarray::IxDyn(self.array.dims()), self.as_slice())
    }

    /// The locked array as a mutable [`ndarray`] view (C order). (Feature `ndarray`.)
    pub fn view_mut(
        &mut self,
    ) -> std::result::Result<ndarray::ArrayViewMutD<'_, T>, ndarray::ShapeError> {
        let dims = self.array.dims();
        ndarray::ArrayViewMutD::from_shape(ndarray::IxDyn(dims), self.as_mut_slice())
    }
}

impl<'a, T: SharedLayout, M: Memory> Deref for ArrayGuard<'a, T, M> {
    type Target = LockGuard<'a, PoisonMutex, [T]>;

    fn deref(&self) -> &Self::Target {
        &self.guard
    }
}

impl<T: SharedLayout, M: Memory> DerefMut for ArrayGuard<'_, T, M> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::{flat_index, SharedArray};

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_can_move_between_threads() {
        // Compile-time checks: a handle can be shared by the threads of a process.
        send_sync::<SharedArray<f64>>();
        send_sync::<crate::Shared<std::sync::atomic::AtomicU64>>();
        send_sync::<crate::Shared<crate::SharedMutex<[u8; 16]>>>();
    }

    #[test]
    fn flat_index_is_c_order_and_bounds_checked() {
        assert_eq!(flat_index(&[2, 3], &[0, 0]), Some(0));
        assert_eq!(flat_index(&[2, 3], &[0, 2]), Some(2));
        assert_eq!(flat_index(&[2, 3], &[1, 0]), Some(3));
        assert_eq!(flat_index(&[2, 3], &[1, 2]), Some(5));
        assert_eq!(flat_index(&[2, 3], &[2, 0]), None);
        assert_eq!(flat_index(&[2, 3], &[0, 3]), None);
        assert_eq!(flat_index(&[2, 3], &[0]), None);
        assert_eq!(flat_index(&[2, 3], &[0, 0, 0]), None);
    }
}
