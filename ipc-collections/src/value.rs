//! [`Shared<T>`]: one value of a [`SharedLayout`] type in a named (or anonymous) segment.

use std::marker::PhantomData;
use std::ops::Deref;

use ipc_core::shm::Shm;
use ipc_core::{Memory, SharedLayout};

use crate::error::Result;
use crate::format::{self, Kind, SegmentInfo, Spec};
use crate::ident;
use crate::segment::named::{self, NamedOptions};
use crate::segment::{Deadline, Expect, Fresh, Segment, DEFAULT_OPEN_TIMEOUT};

/// One value of type `T` in shared memory, laid out and published per `FORMAT.md`.
///
/// Created with [`create`](Shared::create) (the init closure gets exclusive `&mut T` before
/// any other process can see the value), opened with [`open`](Shared::open) (the stored
/// layout is checked against `T`'s; a mismatch is [`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch) naming the
/// fields). `Shared<T>` dereferences to `&T`: after init, plain fields are read-only, and
/// mutation goes through the atomics and locks (`SharedMutex`, `SharedRwLock`) that `T`
/// contains.
///
/// `M` is the memory the segment lives in: a named POSIX shm object ([`Shm`], the default)
/// or anything else implementing [`Memory`], such as anonymous shared memory inherited by
/// forked children ([`create_in`](Shared::create_in)).
///
/// [`Shm`]: ipc_core::shm::Shm
pub struct Shared<T: SharedLayout, M: Memory = Shm> {
    seg: Segment<M>,
    _t: PhantomData<fn() -> T>,
}

impl<T: SharedLayout, M: Memory> std::fmt::Debug for Shared<T, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.seg.name())
            .field("type", &T::LAYOUT.name)
            .field("info", self.seg.info())
            .finish()
    }
}

pub(crate) fn value_spec<T: SharedLayout>(schema: &str) -> Spec<'_> {
    Spec {
        kind: Kind::Value,
        elem_size: size_of::<T>(),
        elem_align: align_of::<T>(),
        // Computed at compile time (byte order and pointer width mixed in).
        fingerprint: const { T::LAYOUT.fingerprint() },
        schema,
        dims: &[],
        control_len: 0,
        ring_capacity: 0,
        ring_payload_len: 0,
    }
}

/// Refuses a read-only mapping for a `T` with interior mutability: safe code could write
/// through it (an atomic store, a lock) and fault.
fn refuse_read_only<T: SharedLayout>(name: &str) -> Result<()> {
    if !ident::has_interior_mutability(&T::LAYOUT) {
        return Ok(());
    }
    Err(ipc_core::Error::with_text(
        "Shared::open_read_only",
        ipc_core::ErrorKind::InvalidInput,
        format!(
            "{} contains atomics or locks, which a read-only mapping cannot serve",
            T::LAYOUT.name
        ),
    )
    .with_name(name))
}

impl<T: SharedLayout, M: Memory> Shared<T, M> {
    /// The number of bytes a segment holding one `T` needs (header, schema, payload).
    pub fn segment_len() -> Result<usize> {
        let schema = ident::schema(&T::LAYOUT);
        Ok(format::plan("Shared::segment_len", &value_spec::<T>(&schema))?.total_len)
    }

    /// Creates the segment in `mem` (for example anonymous shared memory that forked
    /// children inherit): claims it, zeroes it, writes the header, runs `T::init_in_place`
    /// and then `init` with exclusive access, and publishes the value.
    ///
    /// `mem` must be at least [`segment_len`](Self::segment_len) bytes
    /// ([`ipc_core::ErrorKind::InvalidSize`] otherwise) and free: memory that already holds
    /// a segment is refused with [`ipc_core::ErrorKind::AlreadyExists`], memory whose first
    /// 12 bytes are not zero with [`ipc_core::ErrorKind::InvalidInput`] (so `init` never
    /// gets `&mut` to a value that another handle can see). Of several handles racing to
    /// create in the same memory, exactly one succeeds.
    pub fn create_in(mem: M, init: impl FnOnce(&mut T)) -> Result<Self> {
        Self::create_impl("Shared::create_in", mem, "", Fresh::Used, init)
    }

    /// Opens the segment another handle created in `mem` (e.g. memory mapped from an fd),
    /// checking its layout, waiting up to 5 s for it to be ready.
    pub fn open_in(mem: M) -> Result<Self> {
        Self::attach_impl(mem, "", Deadline::after(DEFAULT_OPEN_TIMEOUT))
    }

    pub(crate) fn create_impl(
        op: &'static str,
        mem: M,
        name: &str,
        fresh: Fresh<M>,
        init: impl FnOnce(&mut T),
    ) -> Result<Self> {
        let schema = ident::schema(&T::LAYOUT);
        let spec = value_spec::<T>(&schema);
        let plan = format::plan(op, &spec).map_err(|e| e.or_name(name))?;
        let seg = Segment::create(op, mem, name, &spec, &plan, fresh, |seg| {
            let p = seg.payload_ptr().cast::<T>();
            // SAFETY: the payload is aligned to max(64, align_of::<T>()) inside a
            // page-aligned mapping and holds size_of::<T>() zero-filled bytes; this handle
            // won the claim on the memory (Segment::create), so no other creator writes
            // them, and no opener reads them before the segment is published (READY).
            unsafe { T::init_in_place(p) }.map_err(|e| e.with_name(name))?;
            // SAFETY: as above, so this is the only reference to the value; init_in_place
            // made the zeroed bytes a valid T; the borrow is handed to `init` (a
            // higher-ranked closure argument, it cannot escape) and ends before the
            // segment is published.
            init(unsafe { &mut *p });
            Ok(())
        })?;
        Ok(Shared {
            seg,
            _t: PhantomData,
        })
    }

    pub(crate) fn attach_impl(mem: M, name: &str, wait: Deadline) -> Result<Self> {
        if mem.is_read_only() {
            refuse_read_only::<T>(name)?;
        }
        let expect = Expect {
            kind: Kind::Value,
            elem_size: size_of::<T>(),
            elem_align: align_of::<T>(),
            // Computed at compile time (byte order and pointer width mixed in).
            fingerprint: const { T::LAYOUT.fingerprint() },
            layout: &T::LAYOUT,
            control_len: 0,
        };
        let seg = Segment::attach(mem, name, Some(&expect), wait)?;
        Ok(Shared {
            seg,
            _t: PhantomData,
        })
    }

    /// What the segment's header says (creator, type name, schema, offsets).
    pub fn info(&self) -> &SegmentInfo {
        self.seg.info()
    }

    /// The memory the segment lives in.
    pub fn memory(&self) -> &M {
        self.seg.memory()
    }

    pub(crate) fn memory_mut(&mut self) -> &mut M {
        self.seg.memory_mut()
    }
}

/// Whether an error of an exclusive create says the name is taken.
pub(crate) fn is_taken(e: &crate::Error) -> bool {
    e.kind() == ipc_core::ErrorKind::AlreadyExists
}

/// Anonymous memory is reached through `Shared::<T>::anonymous` (the default memory type in
/// the path), so that `Shared::<SharedMutex<i64>>::anonymous(..)` needs no second type.
impl<T: SharedLayout> Shared<T, Shm> {
    /// One `T` in fresh anonymous shared memory, for `fork`ed children, without a name:
    /// process_shared's `Mutex.new`, `ConditionVariable.new` and `Semaphore.new`, then
    /// `fork`. `T` is any [`SharedLayout`] type, a derived struct or a primitive on its own:
    /// `Shared::<SharedMutex<i64>>::anonymous(|_| {})`,
    /// `Shared::<SharedCondvar>::anonymous(|_| {})`, `Shared::<Semaphore>::anonymous(..)`.
    /// `init` runs with exclusive access before anyone can see the value; children forked
    /// after this call share it. Shortcut for [`Shared::create_in`] with an
    /// [`AnonShm`](ipc_core::shm::AnonShm) of [`Shared::segment_len`] bytes.
    ///
    /// ```no_run
    /// use ipc_collections::{Shared, SharedMutex};
    ///
    /// let counter = Shared::<SharedMutex<i64>>::anonymous(|_| {})?;
    /// // fork here: the children's `counter` is the same mutex and value
    /// *counter.lock()? += 1;
    /// # Ok::<(), ipc_collections::Error>(())
    /// ```
    ///
    /// Errors: [`ipc_core::ErrorKind::NoSpace`] when the kernel refuses the memory; those
    /// of `T::init_in_place`.
    #[doc(alias = "MAP_ANONYMOUS")]
    pub fn anonymous(init: impl FnOnce(&mut T)) -> Result<Shared<T, ipc_core::shm::AnonShm>> {
        type Anon<T> = Shared<T, ipc_core::shm::AnonShm>;
        let mem = ipc_core::shm::AnonShm::new(Anon::<T>::segment_len()?)?;
        Anon::<T>::create_impl("Shared::anonymous", mem, "", Fresh::Zeroed, init)
    }
}

impl<T: SharedLayout> Shared<T, Shm> {
    /// Creates the named segment `name` (exclusively: an existing name is
    /// [`ipc_core::ErrorKind::AlreadyExists`]) holding a `T`, runs `T::init_in_place` and
    /// then `init` with exclusive access, and publishes it. Mode 0600; the name is unlinked
    /// when this handle is dropped (the [lifetime
    /// table](ipc_core#options-and-lifetimes)), unless kept with
    /// [`set_unlink_on_drop(false)`](Self::set_unlink_on_drop). Shortcut for
    /// `Shared::<T>::options().create(name, init)`.
    ///
    /// Other processes that open the name meanwhile wait (up to their timeout) until `init`
    /// returns; if `init` panics they get [`ErrorKind::InitFailed`](crate::ErrorKind::InitFailed), if this process dies first
    /// they get [`ErrorKind::CreatorDied`](crate::ErrorKind::CreatorDied).
    ///
    /// ```no_run
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use ipc_collections::{Shared, SharedLayout};
    ///
    /// #[derive(SharedLayout)]
    /// #[repr(C)]
    /// struct Stats {
    ///     requests: AtomicU64,
    ///     limit: u64,
    /// }
    ///
    /// let stats = Shared::<Stats>::create("/web-stats", |s| s.limit = 100)?;
    /// stats.requests.fetch_add(1, Ordering::Relaxed);
    /// # Ok::<(), ipc_collections::Error>(())
    /// ```
    pub fn create(name: &str, init: impl FnOnce(&mut T)) -> Result<Self> {
        Self::options().create(name, init)
    }

    /// Opens the named segment read-write, checks that it holds a `T` (kind, fingerprint,
    /// schema, size, alignment, pointer width), and waits up to 5 s for its creator to
    /// publish it. Shortcut for `Shared::<T>::options().open(name)`; errors as
    /// [`SharedOptions::open`].
    pub fn open(name: &str) -> Result<Self> {
        Self::options().open(name)
    }

    /// Opens the named segment, or creates it (running `init`) if it does not exist.
    /// Race-safe: when several processes call this at once, exactly one creates and
    /// initialises, and the others wait for it and open the same object.
    /// [`created`](Self::created) says which happened. Shortcut for
    /// `Shared::<T>::options().open_or_create(name, init)`.
    pub fn open_or_create(name: &str, init: impl FnOnce(&mut T)) -> Result<Self> {
        Self::options().open_or_create(name, init)
    }

    /// The builder for every other combination (mode bits, timeout, read-only, who
    /// unlinks); the same as [`SharedOptions::new`].
    pub fn options() -> SharedOptions<T> {
        SharedOptions::new()
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.seg.name()
    }

    /// Whether this handle created the segment.
    pub fn created(&self) -> bool {
        self.memory().created()
    }

    /// Whether dropping this handle (in this process) unlinks the name.
    pub fn unlinks_on_drop(&self) -> bool {
        self.memory().unlinks_on_drop()
    }

    /// Chooses whether dropping this handle unlinks the name: `false` keeps the segment
    /// after this process (remove it later with [`unlink`](crate::unlink)); `true` makes
    /// this handle unlink it, also if another process created it.
    pub fn set_unlink_on_drop(&mut self, yes: bool) {
        self.memory_mut().set_unlink_on_drop(yes);
    }
}

/// How a [`Shared<T>`] is created or opened: the builder every named kind shares (see the
/// [lifetime table](ipc_core#options-and-lifetimes)).
///
/// ```no_run
/// use std::sync::atomic::AtomicU64;
/// use std::time::Duration;
/// use ipc_collections::Shared;
///
/// let counter = Shared::<AtomicU64>::options()
///     .mode(0o640)
///     .unlink_on_drop(false)
///     .create("/counter", |_| {})?;
/// let reader = Shared::<u64>::options()
///     .read_only(true)
///     .timeout(Duration::from_secs(1))
///     .open("/config");
/// # Ok::<(), ipc_collections::Error>(())
/// ```
///
/// [`read_only`](Self::read_only) is only for types without interior mutability: a `T`
/// containing an atomic or a lock would let safe code write through the read-only mapping,
/// so [`open`](Self::open) refuses it with [`ipc_core::ErrorKind::InvalidInput`].
#[must_use]
pub struct SharedOptions<T: SharedLayout> {
    named: NamedOptions,
    _t: PhantomData<fn() -> T>,
}

named::typed_builder_impls!(SharedOptions<T: SharedLayout>, T::LAYOUT.name, _t; named);

impl<T: SharedLayout> SharedOptions<T> {
    /// Mode 0600, a 5 s open timeout, read-write, and the creating handle unlinks on drop.
    pub fn new() -> Self {
        SharedOptions {
            named: named::defaults(),
            _t: PhantomData,
        }
    }

    ipc_core::named_setters!(named; mode, timeout, read_only, unlink_on_drop);

    /// Creates the named segment exclusively, runs `init`, and publishes it (see
    /// [`Shared::create`]).
    ///
    /// Errors: [`ipc_core::ErrorKind::AlreadyExists`]; [`ipc_core::ErrorKind::InvalidInput`]
    /// with `read_only`; the errors of [`ipc_core::shm::ShmOptions::create`] (among them
    /// [`ipc_core::ErrorKind::LimitReached`] naming `RLIMIT_FSIZE`).
    pub fn create(&self, name: &str, init: impl FnOnce(&mut T)) -> Result<Shared<T>> {
        self.refuse_read_only_create(name)?;
        named::create(
            &self.named,
            name,
            Shared::<T>::segment_len(),
            |shm, n, fresh| Shared::create_impl("Shared::create", shm, n, fresh, init),
        )
    }

    /// As [`create`](Self::create), under a fresh random name that starts with `prefix`
    /// (`/stats-` gives `/stats-9f86d081884c7d65`): race-free, drawing again while the name
    /// is taken; [`Shared::name`] tells the name. `init` runs once, for the name that was
    /// created.
    ///
    /// Errors: those of [`create`](Self::create); [`ipc_core::ErrorKind::InvalidName`] for a
    /// prefix that does not start with `/`, holds another `/`, or leaves no room for the
    /// suffix.
    pub fn create_unique(&self, prefix: &str, init: impl FnOnce(&mut T)) -> Result<Shared<T>> {
        const OP: &str = "Shared::create_unique";
        self.refuse_read_only_create(prefix)?;
        let size = Shared::<T>::segment_len();
        named::create_unique(OP, &self.named, prefix, size, |shm, n, fresh| {
            Shared::create_impl(OP, shm, n, fresh, init)
        })
    }

    /// Opens the named segment, checks that it holds a `T`, and waits up to the
    /// [`timeout`](Self::timeout) for its creator to publish it.
    ///
    /// Errors: [`ipc_core::ErrorKind::NotFound`] (its message recalls that a creator's
    /// handle unlinks the name when dropped); [`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch) naming the fields
    /// that differ; [`ErrorKind::WrongType`](crate::ErrorKind::WrongType); [`ErrorKind::Corrupted`](crate::ErrorKind::Corrupted); [`ErrorKind::InitTimeout`](crate::ErrorKind::InitTimeout);
    /// [`ErrorKind::CreatorDied`](crate::ErrorKind::CreatorDied); [`ErrorKind::InitFailed`](crate::ErrorKind::InitFailed).
    pub fn open(&self, name: &str) -> Result<Shared<T>> {
        if self.named.read_only {
            refuse_read_only::<T>(name)?;
        }
        named::open(&self.named, name, |shm, name, wait| {
            let mut s = Shared::<T>::attach_impl(shm, name, wait)?;
            s.set_unlink_on_drop(named::unlink_opened(&self.named));
            Ok(s)
        })
    }

    /// Opens the named segment, or creates it (running `init`) if it does not exist;
    /// race-safe (see [`Shared::open_or_create`]). Errors: those of
    /// [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(&self, name: &str, init: impl FnOnce(&mut T)) -> Result<Shared<T>> {
        self.refuse_read_only_create(name)?;
        let mut init = Some(init);
        named::open_or_create(
            &self.named,
            name,
            Shared::<T>::segment_len(),
            |shm, fresh| {
                let init = named::init_once(&mut init);
                Shared::create_impl("Shared::open_or_create", shm, name, fresh, init)
            },
            |shm, wait| {
                let mut s = Shared::<T>::attach_impl(shm, name, wait)?;
                s.set_unlink_on_drop(named::unlink_opened(&self.named));
                Ok(s)
            },
        )
    }

    fn refuse_read_only_create(&self, name: &str) -> Result<()> {
        let checked = self.named.check_creating("Shared::create");
        checked.map_err(|e| e.with_name(name))
    }
}

impl<T: SharedLayout, M: Memory> Deref for Shared<T, M> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the payload lies inside the mapping, is aligned for T and exactly
        // size_of::<T>() bytes (the header was validated and checked against T's layout,
        // including size and alignment); it holds an initialised T (we created it, or we
        // observed the state READY with Acquire); T is valid for every bit pattern
        // (SharedLayout contract 2), so no peer's bytes make it invalid; the reference
        // borrows self, which keeps the mapping alive. Only shared access is handed out:
        // mutation goes through T's atomics and locks. If the mapping is read-only, T has no
        // interior mutability (checked at open), so nothing can write through it.
        unsafe { &*self.seg.payload_ptr().cast::<T>() }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use ipc_core::layout::{Field, Shape, TypeLayout};

    use super::*;
    use crate::testmem::HeapMem;

    #[repr(C)]
    struct Pair {
        a: u64,
        b: AtomicU64,
    }

    const U64: TypeLayout = TypeLayout::scalar("u64", 8, 8);
    const ATOMIC_U64: TypeLayout = TypeLayout::scalar("AtomicU64", 8, 8);

    // SAFETY: repr(C), both fields valid for every bit pattern, no pointers, no Drop, and
    // LAYOUT describes it exactly.
    unsafe impl SharedLayout for Pair {
        const LAYOUT: TypeLayout = TypeLayout {
            name: "Pair",
            size: 16,
            align: 8,
            shape: Shape::Struct {
                fields: &[
                    Field {
                        name: "a",
                        offset: 0,
                        layout: &U64,
                    },
                    Field {
                        name: "b",
                        offset: 8,
                        layout: &ATOMIC_U64,
                    },
                ],
            },
        };
    }

    #[repr(C)]
    struct Other {
        a: u64,
        b: u64,
    }

    // SAFETY: as for Pair.
    unsafe impl SharedLayout for Other {
        const LAYOUT: TypeLayout = TypeLayout {
            name: "Pair",
            size: 16,
            align: 8,
            shape: Shape::Struct {
                fields: &[
                    Field {
                        name: "a",
                        offset: 0,
                        layout: &U64,
                    },
                    Field {
                        name: "c",
                        offset: 8,
                        layout: &U64,
                    },
                ],
            },
        };
    }

    #[test]
    fn create_then_open_sees_the_initialised_value() {
        let mem = HeapMem::new(Shared::<Pair, HeapMem>::segment_len().unwrap());
        let alias = mem.alias();
        let a = Shared::<Pair, _>::create_in(mem, |p| {
            p.a = 7;
            *p.b.get_mut() = 9;
        })
        .unwrap();
        let b = Shared::<Pair, _>::open_in(alias).unwrap();
        assert_eq!(b.a, 7);
        b.b.fetch_add(1, Ordering::Relaxed);
        assert_eq!(a.b.load(Ordering::Relaxed), 10);
        assert_eq!(b.info().type_name, "Pair");
        assert_eq!(b.info().payload.start % 64, 0);
    }

    #[test]
    fn other_layout_is_a_mismatch_naming_the_field() {
        let mem = HeapMem::new(Shared::<Pair, HeapMem>::segment_len().unwrap());
        let alias = mem.alias();
        let _a = Shared::<Pair, _>::create_in(mem, |_| {}).unwrap();
        let e = Shared::<Other, _>::open_in(alias).unwrap_err();
        assert!(
            matches!(e.kind(), ipc_core::ErrorKind::LayoutMismatch),
            "{e}"
        );
        assert!(e.to_string().contains("field `c`"), "{e}");
    }

    #[test]
    fn panicking_init_marks_the_segment_failed() {
        let mem = HeapMem::new(Shared::<Pair, HeapMem>::segment_len().unwrap());
        let alias = mem.alias();
        let alias2 = mem.alias();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = Shared::<Pair, _>::create_in(alias2, |_| panic!("init fails"));
        }));
        assert!(r.is_err());
        let e = Shared::<Pair, _>::open_in(alias).unwrap_err();
        assert!(matches!(e.kind(), ipc_core::ErrorKind::InitFailed), "{e}");
        drop(mem);
    }

    #[test]
    fn create_in_refuses_memory_in_use_and_leaves_it_alone() {
        let mem = HeapMem::new(Shared::<Pair, HeapMem>::segment_len().unwrap());
        let a = Shared::<Pair, _>::create_in(mem.alias(), |p| p.a = 7).unwrap();
        // A second creator over the live segment would zero it and hand out `&mut` to a
        // value the first handle reads.
        let e = Shared::<Pair, _>::create_in(mem.alias(), |p| p.a = 8).unwrap_err();
        assert_eq!(
            Some(e.kind()),
            Some(ipc_core::ErrorKind::AlreadyExists),
            "{e}"
        );
        assert_eq!(a.a, 7);
        assert!(Shared::<Pair, _>::open_in(mem.alias()).is_ok());

        // Memory holding something else: refused, not overwritten.
        let other = HeapMem::new(4096);
        // SAFETY: the test owns the memory; nobody else uses it.
        unsafe { ipc_core::Memory::as_ptr(&other).write_bytes(0x5a, 16) };
        let e = Shared::<Pair, _>::create_in(other.alias(), |_| {}).unwrap_err();
        assert!(
            matches!(Some(e.kind()), Some(ipc_core::ErrorKind::InvalidInput)),
            "{e}"
        );
        // SAFETY: as above.
        assert_eq!(unsafe { *ipc_core::Memory::as_ptr(&other).add(12) }, 0x5a);
        drop(a);
    }

    #[test]
    fn a_huge_timeout_does_not_overflow() {
        let mem = HeapMem::new(Shared::<Pair, HeapMem>::segment_len().unwrap());
        let alias = mem.alias();
        let _a = Shared::<Pair, _>::create_in(mem, |_| {}).unwrap();
        assert!(
            Shared::<Pair, _>::attach_impl(alias, "/t", Deadline::after(Duration::MAX)).is_ok()
        );
    }

    #[test]
    fn unset_segment_times_out_and_foreign_bytes_are_wrong_kind() {
        let mem = HeapMem::new(4096);
        let wait = Deadline::after(Duration::from_millis(30));
        let e = Shared::<Pair, _>::attach_impl(mem.alias(), "/t", wait).unwrap_err();
        assert!(matches!(e.kind(), ipc_core::ErrorKind::InitTimeout), "{e}");
        // SAFETY: the test owns the memory; nobody else uses it.
        unsafe { ipc_core::Memory::as_ptr(&mem).write_bytes(0xAB, 8) };
        let e = Shared::<Pair, _>::open_in(mem.alias()).unwrap_err();
        assert!(matches!(e.kind(), ipc_core::ErrorKind::WrongType), "{e}");
    }
}
