//! Named segments: POSIX shm objects opened and created for the typed segments, with the
//! options they share. The options vocabulary and the lifetime rule are `ipc_core`'s (see
//! the table in its crate documentation).

use std::time::Duration;

use ipc_core::shm::Shm;
use ipc_core::ErrorKind;

use crate::error::Result;
use crate::segment::{Deadline, DEFAULT_OPEN_TIMEOUT};

/// The settings every typed named segment shares (the common part of
/// [`SharedOptions`](crate::SharedOptions) and
/// [`SharedArrayOptions`](crate::SharedArrayOptions)).
#[derive(Debug, Clone)]
pub(crate) struct NamedOptions {
    pub(crate) mode: u32,
    pub(crate) timeout: Duration,
    pub(crate) read_only: bool,
    pub(crate) unlink_on_drop: Option<bool>,
}

impl NamedOptions {
    /// Mode 0600, a 5 s open timeout, read-write, and creators that unlink on drop.
    pub(crate) fn new() -> Self {
        NamedOptions {
            mode: ipc_core::shm::DEFAULT_MODE,
            timeout: DEFAULT_OPEN_TIMEOUT,
            read_only: false,
            unlink_on_drop: None,
        }
    }

    /// Applies the lifetime rule to a handle: unlink on drop if asked, else if it created.
    pub(crate) fn apply_lifetime(&self, shm: &mut Shm) {
        let created = shm.created();
        shm.set_unlink_on_drop(self.unlink_on_drop.unwrap_or(created));
    }
}

/// The setters every typed segment builder shares (`mode`, `timeout`, `unlink_on_drop`),
/// written once for [`SharedOptions`](crate::SharedOptions) and
/// [`SharedArrayOptions`](crate::SharedArrayOptions).
macro_rules! named_setters {
    () => {
        /// The permission bits of a created segment (default `0o600`, at most `0o777`),
        /// applied exactly whatever the umask.
        pub fn mode(mut self, bits: u32) -> Self {
            self.named.mode = bits;
            self
        }

        /// How long an open waits for the creator to finish initialising (and for a
        /// concurrently created object to be sized) before
        /// [`ErrorKind::InitTimeout`](crate::ErrorKind::InitTimeout): one deadline for the whole
        /// open. Default 5 s.
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.named.timeout = timeout;
            self
        }

        /// Whether dropping the handle unlinks the name. Default: true exactly when this
        /// call created the segment (see the lifetime table in `ipc_core`'s crate docs).
        pub fn unlink_on_drop(mut self, yes: bool) -> Self {
            self.named.unlink_on_drop = Some(yes);
            self
        }
    };
}
pub(crate) use named_setters;

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

/// Creates a new object of `size` bytes exclusively.
pub(crate) fn create_shm(name: &str, size: usize, opts: &NamedOptions) -> Result<Shm> {
    let mut shm = Shm::options().size(size).mode(opts.mode).create(name)?;
    opts.apply_lifetime(&mut shm);
    Ok(shm)
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
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSize(_)) && e.op() == "fstat" => {
                if !wait.sleep() {
                    // Size 0: not even a header yet.
                    return Err(wait.timed_out(name, false));
                }
            }
            other => return other,
        }
    }
}

/// Opens an existing object (read-only if asked), waiting while it has size 0.
pub(crate) fn open_shm(name: &str, read_only: bool, wait: &mut Deadline) -> Result<Shm> {
    // No wait inside: `wait` (the caller's timeout) governs the retries.
    let opts = Shm::options().read_only(read_only).timeout(Duration::ZERO);
    retry_unsized(name, wait, || opts.open(name))
}

/// Opens the object or creates it with `size` bytes (race-safe: exactly one caller
/// creates), waiting while an opened object has size 0. [`Shm::created`] says which.
pub(crate) fn open_or_create_shm(
    name: &str,
    size: usize,
    opts: &NamedOptions,
    wait: &mut Deadline,
) -> Result<Shm> {
    let mut shm = retry_unsized(name, wait, || {
        Shm::options()
            .size(size)
            .mode(opts.mode)
            .open_or_create(name)
    })?;
    opts.apply_lifetime(&mut shm);
    Ok(shm)
}
