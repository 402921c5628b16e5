//! Named segments: POSIX shm objects opened and created for the typed segments, with the
//! options they share. The options vocabulary and the lifetime rule are `ipc_core`'s (see
//! the table in its crate documentation).

use std::time::Duration;

use ipc_core::shm::Shm;
use ipc_core::ErrorKind;

use crate::error::Result;
use crate::segment::creator::{self, Reclaim};
use crate::segment::{Deadline, Fresh, DEFAULT_OPEN_TIMEOUT};

/// The settings every typed named segment shares: `ipc_core`'s builder core, with the
/// typed segments' default open wait (5 s).
pub(crate) use ipc_core::options::NamedOptions;

/// The options of a typed segment builder: mode 0600, a 5 s open timeout, read-write, and
/// creators that unlink on drop.
pub(crate) const fn defaults() -> NamedOptions {
    NamedOptions::new(DEFAULT_OPEN_TIMEOUT)
}

/// Applies the lifetime rule to a handle: unlink on drop if asked, else if it created.
fn apply_lifetime(opts: &NamedOptions, shm: &mut Shm) {
    shm.set_unlink_on_drop(opts.unlinks(shm.created()));
}

/// Whether an opened (not created) handle unlinks on drop: only if asked. Set by each kind's
/// attach step only once the attach returned `Ok`: an open that fails (a timeout, a died
/// creator, another layout) must never remove a name it did not create (only
/// [`creator::remove_if_abandoned`] does).
pub(crate) fn unlink_opened(opts: &NamedOptions) -> bool {
    opts.unlinks(false)
}

/// The `create` verb of every typed segment builder: makes the object of `size` bytes
/// (see [`create_shm`]) and hands it to `make` (the kind's `Segment::create` with its init)
/// with the name and how to publish it.
pub(crate) fn create<H>(
    opts: &NamedOptions,
    name: &str,
    size: Result<usize>,
    make: impl FnOnce(Shm, &str, Fresh<Shm>) -> Result<H>,
) -> Result<H> {
    let size = size.map_err(|e| e.or_name(name))?;
    let shm = create_shm(name, size, opts)?;
    make(shm, name, unnamed())
}

/// The `create_unique` verb of every typed segment builder: as [`create`], under a fresh
/// random name starting with `prefix` (drawn again while taken; see
/// [`ipc_core::name::create_unique`]); `make` runs once, for the name that was won.
pub(crate) fn create_unique<H>(
    op: &'static str,
    opts: &NamedOptions,
    prefix: &str,
    size: Result<usize>,
    make: impl FnOnce(Shm, &str, Fresh<Shm>) -> Result<H>,
) -> Result<H> {
    let size = size.map_err(|e| e.or_name(prefix))?;
    let shm = ipc_core::name::create_unique(
        op,
        prefix,
        ipc_core::name::NameKind::Shm,
        |n| create_shm(n, size, opts),
        crate::value::is_taken,
    )?;
    let name = shm.name().to_owned();
    make(shm, &name, unnamed())
}

/// The `open` verb of every typed segment builder: opens `name` (read-only if the options
/// say so) and hands it to `attach` (the kind's checks, then the lifetime rule with
/// [`unlink_opened`]) with what is left of the [`timeout`](NamedOptions::timeout).
pub(crate) fn open<H>(
    opts: &NamedOptions,
    name: &str,
    attach: impl FnOnce(Shm, &str, Deadline) -> Result<H>,
) -> Result<H> {
    let mut wait = Deadline::after(opts.timeout);
    // No unlinker until attached: `attach` sets it on success (`unlink_opened`).
    let shm = open_shm(name, opts.read_only, &mut wait)?;
    attach(shm, name, wait)
}

/// `Clone`, `Debug` and `Default` for a typed segment builder, whose type parameter is only
/// a marker (`derive` would ask the element type to be `Clone`, `Debug` and `Default`):
/// `typed_builder_impls!(SharedOptions<T: SharedLayout>, T::LAYOUT.name, _t; named)`.
macro_rules! typed_builder_impls {
    ($builder:ident<$t:ident: $bound:path>, $what:expr, $marker:ident; $($field:ident),+) => {
        impl<$t: $bound> Clone for $builder<$t> {
            fn clone(&self) -> Self {
                $builder {
                    $($field: self.$field.clone(),)+
                    $marker: std::marker::PhantomData,
                }
            }
        }

        impl<$t: $bound> std::fmt::Debug for $builder<$t> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($builder))
                    .field("type", &$what)
                    $(.field(stringify!($field), &self.$field))+
                    .finish()
            }
        }

        impl<$t: $bound> Default for $builder<$t> {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}
pub(crate) use typed_builder_impls;

/// `shm_unlink`: removes the named segment `name` (existing mappings stay valid).
///
/// Errors: [`ipc_core::ErrorKind::NotFound`] if there is no such object,
/// [`ipc_core::ErrorKind::InvalidName`] for a bad name.
///
/// # References
/// [shm_unlink(3)](https://man7.org/linux/man-pages/man3/shm_unlink.3.html)
#[doc(alias = "shm_unlink")]
pub fn unlink(name: &str) -> Result<()> {
    ipc_core::shm::unlink(name)
}

/// Reads what the named segment `name` holds without knowing its type: opens it
/// read-only, waits (up to the default 5 s) for it to be ready, validates the header, and
/// returns it (kind, type name, schema, dims, creator, offsets). For tools that list or
/// print segments.
///
/// ```no_run
/// let info = ipc_collections::inspect("/grid")?;
/// println!("{:?} of {} {:?}: {}", info.kind, info.type_name, info.dims, info.schema);
/// # Ok::<(), ipc_collections::Error>(())
/// ```
pub fn inspect(name: &str) -> Result<crate::SegmentInfo> {
    inspect_timeout(name, DEFAULT_OPEN_TIMEOUT)
}

/// [`inspect`], waiting up to `timeout` for the segment to be ready.
pub fn inspect_timeout(name: &str, timeout: Duration) -> Result<crate::SegmentInfo> {
    let mut wait = Deadline::after(timeout);
    let shm = open_shm(name, true, &mut wait)?;
    let seg = crate::segment::Segment::attach(shm, name, None, wait)?;
    Ok(seg.info().clone())
}

/// How many times `open_or_create` goes round its open/create loop (each round repeats only
/// when the name was taken, removed or reclaimed in between).
const OPEN_OR_CREATE_ROUNDS: usize = 64;

/// Makes a new object of `size` bytes for the segment `name`, without a name yet and under
/// its creator's lock (see the init protocol in [`crate::segment`]): pass it to
/// `Segment::create` with [`unnamed`], which names it once its header is written.
///
/// A name that is already taken is refused here ([`ErrorKind::AlreadyExists`]), before any
/// space is reserved; one taken in between is refused when the object is named.
pub(crate) fn create_shm(name: &str, size: usize, opts: &NamedOptions) -> Result<Shm> {
    ipc_core::name::validate("shm_open", name, ipc_core::name::NameKind::Shm)?;
    if std::fs::symlink_metadata(format!("/dev/shm{name}")).is_ok() {
        return Err(ipc_core::Error::new("shm_open", ErrorKind::AlreadyExists).with_name(name));
    }
    let mut shm = Shm::options()
        .size(size)
        .mode(opts.mode)
        .create_unnamed(name)?;
    // The object has no name yet, so nobody else can hold a lock on it.
    if !ipc_core::shm::ofd::try_lock(shm.fd()).map_err(|e| e.with_name(name))? {
        return Err(ipc_core::Error::with_text(
            "fcntl(F_OFD_SETLK)",
            ErrorKind::InvalidInput,
            "an unnamed object was locked by somebody else",
        )
        .with_name(name));
    }
    apply_lifetime(opts, &mut shm);
    Ok(shm)
}

/// How `Segment::create` finishes an object made by [`create_shm`]: it names it (`linkat`)
/// after writing the header and releases the creator's lock after publishing it (by
/// closing the description the lock was taken through).
pub(crate) fn unnamed() -> Fresh<Shm> {
    Fresh::Unnamed {
        name: |shm| shm.link(),
        // The lock was taken through the first description (`create_shm`).
        published: |shm| shm.close_first_description(),
        // FAILED is stored and the lock (first description) still held: remove the name
        // while it is this object, so that the next open_or_create makes a new one. Best
        // effort: an error leaves a FAILED object, which openers report as InitFailed.
        failed: |shm| {
            let _ = ipc_core::shm::ofd::unlink_if_same(shm.name(), shm.fd());
        },
    }
}

/// Runs `attempt` until it stops failing with "size 0" (an object whose creator has not
/// sized it yet) or `wait`'s deadline passes ([`crate::ErrorKind::InitTimeout`]).
fn retry_unsized(
    name: &str,
    wait: &mut Deadline,
    mut attempt: impl FnMut() -> ipc_core::Result<Shm>,
) -> Result<Shm> {
    loop {
        match attempt() {
            // ipc-core reports an existing object of size 0 as an invalid size from
            // `fstat`; other invalid sizes (a size the file system refuses when creating)
            // are not transient and are returned as they are.
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSize) && e.op() == "fstat" => {
                if !wait.sleep() {
                    // Size 0: not even a header yet.
                    return Err(wait.timed_out(name, false));
                }
            }
            other => return other,
        }
    }
}

/// Opens an existing object (read-only if asked), waiting while it has size 0 (an object
/// made by another program: ours are never seen unsized). `wait` then probes the creator's
/// lock through a copy of its descriptor.
pub(crate) fn open_shm(name: &str, read_only: bool, wait: &mut Deadline) -> Result<Shm> {
    // No wait inside: `wait` (the caller's timeout) governs the retries.
    let opts = Shm::options().read_only(read_only).timeout(Duration::ZERO);
    let shm = retry_unsized(name, wait, || opts.open(name))?;
    let probe = shm.fd().try_clone_to_owned().map_err(|e| {
        ipc_core::Error::os(
            "dup",
            ipc_core::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
        .with_name(name)
    })?;
    wait.probe_lock(probe);
    Ok(shm)
}

/// `init` as a closure that runs it only if it is still in the option (taking it out): the
/// create step of [`open_or_create`] may be tried more than once (its object's name was
/// taken in between), and runs the caller's init only once the name is won.
pub(crate) fn init_once<T: ?Sized, F: FnOnce(&mut T)>(
    init: &mut Option<F>,
) -> impl FnOnce(&mut T) + '_ {
    move |v| {
        if let Some(init) = init.take() {
            init(v)
        }
    }
}

/// Removes `name` if it is an abandoned segment (see [`creator::remove_if_abandoned`]),
/// through a descriptor of its own: `true` if the name is free to create again (removed
/// here, or gone already).
fn reclaim(name: &str) -> Result<bool> {
    let shm = match Shm::options().timeout(Duration::ZERO).open(name) {
        Ok(shm) => shm,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    Ok(match creator::remove_if_abandoned(name, shm.fd())? {
        Reclaim::Removed(_) | Reclaim::Replaced => true,
        Reclaim::Held | Reclaim::NotAbandoned => false,
    })
}

/// Opens the segment `name` with `attach`, or makes it with `create` (given an object from
/// [`create_shm`], to pass on with [`unnamed`]) if there is none; race-safe: of several
/// processes exactly one creates, the others attach to its segment (waiting while it is
/// being made). A segment whose creator died before publishing it is removed (exactly one
/// of several racing callers removes it, and a live creator's object is never touched) and
/// made again. `create` may be called more than once (its object's name was taken in
/// between); it runs the caller's init only after the name is won.
pub(crate) fn open_or_create<X>(
    opts: &NamedOptions,
    name: &str,
    size: Result<usize>,
    mut create: impl FnMut(Shm, Fresh<Shm>) -> Result<X>,
    mut attach: impl FnMut(Shm, Deadline) -> Result<X>,
) -> Result<X> {
    let size = size.map_err(|e| e.or_name(name))?;
    let mut wait = Deadline::after(opts.timeout);
    for _ in 0..OPEN_OR_CREATE_ROUNDS {
        let mut w = wait.clone();
        match open_shm(name, false, &mut w) {
            // No unlinker until attached: the kind's `attach` sets it on success
            // (`unlink_opened`).
            Ok(shm) => match attach(shm, w) {
                Err(e) if matches!(e.kind(), ErrorKind::CreatorDied(_)) => {
                    if !reclaim(name)? && !wait.sleep() {
                        return Err(e);
                    }
                    continue;
                }
                other => return other,
            },
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match create_shm(name, size, opts).and_then(|shm| create(shm, unnamed())) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            other => return other,
        }
    }
    Err(ipc_core::Error::with_text(
        "shm_open",
        ErrorKind::LimitReached,
        format!(
            "open-or-create: the name was created and removed by others \
             {OPEN_OR_CREATE_ROUNDS} times in a row"
        ),
    )
    .with_name(name))
}
