//! Named segments: POSIX shm objects opened and created for the typed segments, with the
//! options they share.

use std::time::Duration;

use ipc_core::shm::{Shm, ShmOptions};
use ipc_core::{CreateMode, ErrorKind};

use crate::error::Result;
use crate::segment::{Deadline, DEFAULT_OPEN_TIMEOUT};

/// Options for creating and opening named segments ([`Shared`](crate::Shared),
/// [`SharedArray`](crate::SharedArray)).
///
/// ```no_run
/// use std::time::Duration;
/// use ipc_collections::{Options, Shared};
/// use std::sync::atomic::AtomicU64;
///
/// let opts = Options::new().mode(0o640).timeout(Duration::from_secs(1)).persist(true);
/// let counter = Shared::<AtomicU64>::create_with("/counter", &opts, |_| {})?;
/// # Ok::<(), ipc_collections::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) mode: u32,
    pub(crate) timeout: Duration,
    pub(crate) persist: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// Mode 0600, a 5 s open timeout, and creators that unlink on drop.
    pub fn new() -> Self {
        Options {
            mode: ipc_core::shm::DEFAULT_MODE,
            timeout: DEFAULT_OPEN_TIMEOUT,
            persist: false,
        }
    }

    /// The permission bits of a created object (at most `0o777`; the umask does not apply).
    pub fn mode(mut self, bits: u32) -> Self {
        self.mode = bits;
        self
    }

    /// How long an opener waits for the creator to finish initialising (and for a
    /// concurrently created object to be sized) before
    /// [`Error::InitTimeout`](crate::Error::InitTimeout): one deadline for the whole open.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether a created segment outlives its creator's handle (`true`: nobody unlinks it
    /// on drop; remove it with [`unlink`]). Default `false`: the creator's handle unlinks
    /// the name when dropped.
    pub fn persist(mut self, yes: bool) -> Self {
        self.persist = yes;
        self
    }
}

/// `shm_unlink`: removes the named segment `name` (existing mappings stay valid).
///
/// Errors: [`ipc_core::ErrorKind::NotFound`] if there is no such object,
/// [`ipc_core::ErrorKind::InvalidName`] for a bad name.
///
/// # References
/// [shm_unlink(3)](https://man7.org/linux/man-pages/man3/shm_unlink.3.html)
#[doc(alias = "shm_unlink")]
pub fn unlink(name: &str) -> Result<()> {
    Ok(ipc_core::shm::unlink(name)?)
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
    inspect_with(name, &Options::new())
}

/// [`inspect`] with [`Options`] (the timeout).
pub fn inspect_with(name: &str, opts: &Options) -> Result<crate::SegmentInfo> {
    let mut wait = Deadline::after(opts.timeout);
    let shm = open_shm(name, true, &mut wait)?;
    let seg = crate::segment::Segment::attach(shm, name, None, wait)?;
    Ok(seg.info().clone())
}

/// Creates a new object of `size` bytes exclusively.
pub(crate) fn create_shm(name: &str, size: usize, opts: &Options) -> Result<Shm> {
    Ok(ShmOptions::new()
        .create_mode(CreateMode::Exclusive)
        .mode(opts.mode)
        .unlink_on_drop(!opts.persist)
        .open(name, size)?)
}

/// Runs `attempt` until it stops failing with "size 0" (an object whose creator has not
/// sized it yet) or `wait`'s deadline passes ([`crate::Error::InitTimeout`]).
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
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSize(_)) && e.op() == "fstat" => {
                if !wait.sleep() {
                    // Size 0: not even a header yet.
                    return Err(wait.timed_out(name, false));
                }
            }
            other => return Ok(other?),
        }
    }
}

/// Opens an existing object (read-only if asked), waiting while it has size 0.
pub(crate) fn open_shm(name: &str, read_only: bool, wait: &mut Deadline) -> Result<Shm> {
    retry_unsized(name, wait, || {
        ShmOptions::new()
            .create_mode(CreateMode::OpenExisting)
            .read_only(read_only)
            .open(name, 0)
    })
}

/// Opens the object or creates it with `size` bytes (race-safe: exactly one caller
/// creates), waiting while an opened object has size 0. [`Shm::created`] says which.
pub(crate) fn open_or_create_shm(
    name: &str,
    size: usize,
    opts: &Options,
    wait: &mut Deadline,
) -> Result<Shm> {
    let mut shm = retry_unsized(name, wait, || {
        ShmOptions::new()
            .create_mode(CreateMode::OpenOrCreate)
            .mode(opts.mode)
            .open(name, size)
    })?;
    let created = shm.created();
    shm.set_unlink_on_drop(created && !opts.persist);
    Ok(shm)
}
