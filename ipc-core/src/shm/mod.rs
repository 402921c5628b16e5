//! Shared memory: POSIX named objects ([`Shm`]), anonymous memory for forked children
//! ([`AnonShm`]) and size-sealed memfd segments ([`MemfdShm`]). System V segments live in
//! [`crate::sysv`].
//!
//! Every type here implements [`Memory`], unmaps on drop, and releases only what it owns.
//!
//! [`read_at`] and [`write_at`] copy bytes in and out of any [`Memory`] with bounds checks;
//! typed access (values, arrays, locks, rings) is the business of `ipc-collections`.
//!
//! # Named objects
//! ```no_run
//! use ipc_core::shm::{self, Shm};
//!
//! // process A: create (exclusive), 4 KiB, mode 0600, unlinked when `a` is dropped (the
//! // lifetime table is in the crate docs)
//! let a = Shm::create("/demo", 4096)?;
//! shm::write_at(&a, 0, b"hello")?;
//!
//! // process B: open the existing object; its size comes from fstat
//! let b = Shm::open("/demo")?;
//! assert_eq!(b.len(), 4096);
//! let mut buf = [0; 5];
//! shm::read_at(&b, 0, &mut buf)?;
//!
//! // race-safe open-or-create; `created()` tells which happened
//! let c = Shm::open_or_create("/demo", 4096)?;
//! assert!(!c.created());
//!
//! // everything else through the builder: a read-only mapping, kept after this handle
//! let d = Shm::options().read_only(true).unlink_on_drop(false).open("/demo")?;
//! # Ok::<(), ipc_core::Error>(())
//! ```
//!
//! # What a peer can and cannot do
//! The size of a POSIX object is read with `fstat` and the whole object is mapped. A
//! cooperating peer that later shrinks the object with `ftruncate` would make accesses past
//! the new end fault (`SIGBUS`); this is outside the trust model (peers are parts of one
//! application). Where that matters, use [`MemfdShm`], whose size is sealed by the kernel.

use std::ffi::CString;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::mman;
use nix::sys::stat::{self, FileStat, Mode, SFlag};

use crate::name::{self, NameKind};
use crate::{CreateMode, Errno, Error, ErrorKind, Memory, Result};

/// The inherent accessors of every memory type (`as_ptr`, `len`, `is_empty`,
/// `is_read_only`), forwarding to its [`Memory`] impl so that callers need not import the
/// trait. `$len` says what the length is.
macro_rules! memory_accessors {
    ($len:literal) => {
        /// The start of the region (same as [`Memory::as_ptr`](crate::Memory::as_ptr)).
        pub fn as_ptr(&self) -> *mut u8 {
            crate::Memory::as_ptr(self)
        }

        #[doc = concat!("The length in bytes: ", $len, " (same as [`Memory::len`](crate::Memory::len)).")]
        pub fn len(&self) -> usize {
            crate::Memory::len(self)
        }

        /// Always false: a region is never empty.
        pub fn is_empty(&self) -> bool {
            false
        }

        /// Whether the region is mapped read-only in this process (same as
        /// [`Memory::is_read_only`](crate::Memory::is_read_only)).
        pub fn is_read_only(&self) -> bool {
            crate::Memory::is_read_only(self)
        }
    };
}
pub(crate) use memory_accessors;

mod anon;
mod map;
mod memfd;

pub use anon::AnonShm;
pub(crate) use map::{check_size, Mapping};
pub use memfd::{MemfdShm, Seals, MEMFD_NAME_MAX};

/// The default mode bits of a new object: read and write for the owner only.
pub const DEFAULT_MODE: u32 = 0o600;

/// How many times open-or-create goes round its create/open loop before giving up (each
/// round only repeats when another process removed or created the name in between).
const OPEN_OR_CREATE_ROUNDS: usize = 64;

/// How long open-or-create waits for a concurrent creator to size a new object (size 0
/// until then) before reporting [`ErrorKind::InvalidSize`].
const SIZE_WAIT: Duration = Duration::from_millis(200);

/// Sizes above this are compared with RAM + swap before reserving (see `reserve`).
const SYSINFO_CHECK_ABOVE: usize = 256 << 20;

/// A mapped POSIX shared-memory object (`shm_open` + `mmap`).
///
/// Created objects are unlinked when the creating handle is dropped, unless
/// [`set_unlink_on_drop(false)`](Shm::set_unlink_on_drop) (or
/// [`ShmOptions::unlink_on_drop`]) makes them persist. Handles that opened an existing
/// object never unlink it unless asked to. Only the process that made the handle unlinks:
/// a copy inherited by a forked child does not (as for
/// [`MessageQueue`](crate::mq::MessageQueue)), and no handle removes a newer object that
/// someone else created under the same name after this one was unlinked.
///
/// # References
/// - [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html)
/// - [shm_overview(7)](https://man7.org/linux/man-pages/man7/shm_overview.7.html)
#[derive(Debug)]
#[doc(alias = "shm_open")]
pub struct Shm {
    // Field order matters for drop: unmap first, then close.
    map: Mapping,
    fd: OwnedFd,
    name: Box<str>,
    c_name: CString,
    created: bool,
    /// The pid of the process that unlinks the name on drop, if any (a forked child's copy
    /// of the handle must not).
    unlinker: Option<u32>,
}

// SAFETY: (1) `map` is a live mapping of `len()` bytes, page-aligned because mmap returns
// page-aligned addresses, readable (and writable unless mapped read-only), backed by the
// object's pages: `len()` is the `fstat` size, and a created object has its space reserved;
// (2) it is unmapped only in Drop, so it stays mapped while `&self` is borrowed; (3) its
// length is fixed at construction. A peer that later shrinks the object with `ftruncate`
// would break (1) for the bytes past the new end (SIGBUS on access): that is outside the
// trust model (see the module documentation; `MemfdShm` seals the size instead).
unsafe impl Memory for Shm {
    fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn is_read_only(&self) -> bool {
        self.map.is_read_only()
    }
}

impl Shm {
    /// `shm_open(O_CREAT | O_EXCL)`: creates a new object of `size` bytes with mode 0600
    /// and maps it read-write; the name is unlinked when this handle drops. Shortcut for
    /// `Shm::options().size(size).create(name)`; errors as [`ShmOptions::create`].
    ///
    /// # References
    /// [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html),
    /// [posix_fallocate(3)](https://man7.org/linux/man-pages/man3/posix_fallocate.3.html)
    #[doc(alias = "shm_open")]
    pub fn create(name: &str, size: usize) -> Result<Shm> {
        Self::options().size(size).create(name)
    }

    /// `shm_open(O_RDWR)`: opens an existing object and maps all of it read-write; the
    /// size comes from `fstat`. Shortcut for `Shm::options().open(name)`; errors as
    /// [`ShmOptions::open`]. (Read-only: `Shm::options().read_only(true).open(name)`.)
    ///
    /// # References
    /// [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html)
    #[doc(alias = "shm_open")]
    pub fn open(name: &str) -> Result<Shm> {
        Self::options().open(name)
    }

    /// `shm_open`: opens `name` if it exists (mapped whole, at its `fstat` size), else
    /// creates it with `size` bytes and mode 0600 (race-safe: when several processes try at
    /// once, exactly one creates). [`created`](Shm::created) tells which happened; only a
    /// creating handle unlinks on drop. Shortcut for
    /// `Shm::options().size(size).open_or_create(name)`.
    ///
    /// # References
    /// [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html)
    #[doc(alias = "shm_open")]
    pub fn open_or_create(name: &str, size: usize) -> Result<Shm> {
        Self::options().size(size).open_or_create(name)
    }

    /// The builder for every other combination (mode bits, read-only, timeout, who
    /// unlinks); the same as [`ShmOptions::new`].
    pub fn options() -> ShmOptions {
        ShmOptions::new()
    }

    /// The object's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this handle created the object (rather than opening an existing one).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether dropping this handle (in this process) unlinks the name.
    pub fn unlinks_on_drop(&self) -> bool {
        self.unlinker == Some(std::process::id())
    }

    /// Chooses whether dropping this handle unlinks the name: `false` lets the object
    /// persist after this process (until [`unlink`] or a reboot); `true` makes this
    /// process's handle unlink it, also if another process created it.
    pub fn set_unlink_on_drop(&mut self, yes: bool) {
        self.unlinker = yes.then(std::process::id);
    }

    /// The object's file descriptor (close-on-exec), e.g. for `fstat` or to pass along.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    memory_accessors!("the object's size when it was mapped");

    /// `shm_unlink`: removes the name now (existing mappings stay valid) and stops this
    /// handle from unlinking it again on drop.
    ///
    /// # References
    /// [shm_unlink(3)](https://man7.org/linux/man-pages/man3/shm_unlink.3.html)
    #[doc(alias = "shm_unlink")]
    pub fn unlink(&mut self) -> Result<()> {
        self.unlinker = None;
        mman::shm_unlink(self.c_name.as_c_str())
            .map_err(|e| Error::nix("shm_unlink", e).with_name(&*self.name))
    }
}

impl AsFd for Shm {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // glibc keeps POSIX shm objects as files in /dev/shm.
        if self.unlinks_on_drop() && still_names(self.fd.as_fd(), "/dev/shm", &self.name) {
            let _ = mman::shm_unlink(self.c_name.as_c_str());
        }
        // `map` then `fd` are dropped after this: munmap, then close.
    }
}

/// Whether the object `name` (`/something`) in the file system mounted at `dir` is still the
/// file open as `fd`: somebody may have unlinked ours and created another under the same
/// name, which is not ours to remove.
///
/// Answers true (go ahead and unlink, as the name's owner) when it cannot tell: `fstat`
/// fails, or `dir` is not the file system the object lives on (not mounted there).
pub(crate) fn still_names(fd: BorrowedFd<'_>, dir: &str, name: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(ours) = stat::fstat(fd) else {
        return true;
    };
    match std::fs::symlink_metadata(format!("{dir}{name}")) {
        // The common case, answered with one lookup: the name is still our object.
        Ok(now) if now.dev() == ours.st_dev && now.ino() == ours.st_ino => true,
        // Another file, or none: not ours to remove, unless `dir` is not where our object
        // lives at all (then the lookup said nothing about it).
        Ok(_) => !same_fs(dir, &ours),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => !same_fs(dir, &ours),
        Err(_) => true,
    }
}

/// Whether `dir` is on the file system that holds the object `ours` was `fstat`ed from.
fn same_fs(dir: &str, ours: &stat::FileStat) -> bool {
    use std::os::unix::fs::MetadataExt;
    matches!(std::fs::metadata(dir), Ok(d) if d.dev() == ours.st_dev)
}

/// How a [`Shm`] is created or opened: the builder every named kind shares (see the
/// [crate documentation](crate#options-and-lifetimes)).
///
/// ```no_run
/// use ipc_core::shm::Shm;
/// let shm = Shm::options()
///     .size(1 << 20)
///     .mode(0o640)
///     .unlink_on_drop(false)
///     .open_or_create("/stats")?;
/// # Ok::<(), ipc_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ShmOptions {
    size: Option<usize>,
    mode: u32,
    read_only: bool,
    timeout: Duration,
    unlink_on_drop: Option<bool>,
}

impl Default for ShmOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ShmOptions {
    /// No size, mode 0600, read-write, a 200 ms sizing timeout, and the creating handle
    /// unlinks on drop.
    pub fn new() -> Self {
        ShmOptions {
            size: None,
            mode: DEFAULT_MODE,
            read_only: false,
            timeout: SIZE_WAIT,
            unlink_on_drop: None,
        }
    }

    /// The size in bytes of a created object (needed by [`create`](Self::create) and
    /// [`open_or_create`](Self::open_or_create)); an opened object is mapped whole, at the
    /// size `fstat` reports.
    pub fn size(mut self, bytes: usize) -> Self {
        self.size = Some(bytes);
        self
    }

    /// The permission bits of a created object (default `0o600`, at most `0o777`). They are
    /// applied with `fchmod` after creation, so the process umask changes nothing.
    pub fn mode(mut self, bits: u32) -> Self {
        self.mode = bits;
        self
    }

    /// Open with `O_RDONLY` and map `PROT_READ` (needs only read permission). Only for
    /// [`open`](Self::open): a new object is all zeros, so a read-only creator is refused
    /// with [`ErrorKind::InvalidInput`].
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// How long an open waits for an object of size 0 (its creator has not sized it yet)
    /// before [`ErrorKind::InvalidSize`]. Default 200 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether dropping the handle unlinks the name. Default: true exactly when this call
    /// created the object.
    pub fn unlink_on_drop(mut self, yes: bool) -> Self {
        self.unlink_on_drop = Some(yes);
        self
    }

    /// `shm_open(O_CREAT | O_EXCL)` + `fchmod` + `posix_fallocate`, then `mmap`: creates a
    /// new object of [`size`](Self::size) bytes.
    ///
    /// Errors: [`ErrorKind::InvalidName`], [`ErrorKind::InvalidSize`] (no size, 0 or too
    /// large), [`ErrorKind::AlreadyExists`], [`ErrorKind::NoSpace`] (the space is reserved
    /// now, so a full `/dev/shm` is reported here rather than as a later `SIGBUS`),
    /// [`ErrorKind::LimitReached`] naming `RLIMIT_FSIZE` when the process's file-size limit
    /// is below the size (nothing is left behind), [`ErrorKind::InvalidInput`] for mode
    /// bits outside `0o777` or `read_only`.
    ///
    /// # References
    /// [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html),
    /// [fchmod(2)](https://man7.org/linux/man-pages/man2/fchmod.2.html),
    /// [posix_fallocate(3)](https://man7.org/linux/man-pages/man3/posix_fallocate.3.html),
    /// [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    #[doc(alias = "shm_open")]
    pub fn create(&self, name: &str) -> Result<Shm> {
        self.open_as(name, CreateMode::Exclusive)
    }

    /// `shm_open` + `fstat` + `mmap`: opens an existing object, mapped whole.
    ///
    /// Errors: [`ErrorKind::NotFound`] (its message recalls that a creator's handle unlinks
    /// the name when dropped); [`ErrorKind::WrongType`] for a symlink, directory or other
    /// non-regular file; [`ErrorKind::InvalidSize`] if the object still has size 0 after
    /// the [`timeout`](Self::timeout).
    #[doc(alias = "shm_open")]
    pub fn open(&self, name: &str) -> Result<Shm> {
        self.open_as(name, CreateMode::OpenExisting)
    }

    /// Opens `name` if it exists, else creates it with [`size`](Self::size) bytes
    /// (race-safe: exactly one of several concurrent callers creates).
    /// [`Shm::created`] tells which happened. Errors: those of [`create`](Self::create)
    /// and [`open`](Self::open).
    #[doc(alias = "shm_open")]
    pub fn open_or_create(&self, name: &str) -> Result<Shm> {
        self.open_as(name, CreateMode::OpenOrCreate)
    }

    fn open_as(&self, name: &str, how: CreateMode) -> Result<Shm> {
        let c_name = name::validate("shm_open", name, NameKind::Shm)?;
        let named = |e: Error| e.with_name(name);
        check_mode("shm_open", self.mode).map_err(named)?;
        let creating = how != CreateMode::OpenExisting;
        if creating && self.read_only {
            return Err(named(Error::new(
                "shm_open",
                ErrorKind::InvalidInput(
                    "read_only with a creating mode: create read-write, then open read-only".into(),
                ),
            )));
        }
        let size = if creating {
            let Some(size) = self.size else {
                return Err(named(Error::new(
                    "shm_open",
                    ErrorKind::InvalidSize("no size given (ShmOptions::size)".into()),
                )));
            };
            Some(check_size("shm_open", size).map_err(named)?)
        } else {
            None
        };
        let (fd, len, created) = match (how, size) {
            (CreateMode::Exclusive, Some(size)) => {
                let (fd, len) = self.create_fd(&c_name, size).map_err(named)?;
                (fd, len, true)
            }
            (CreateMode::OpenOrCreate, Some(size)) => {
                self.open_or_create_fd(&c_name, size).map_err(named)?
            }
            _ => {
                let (fd, len) = open_existing(&c_name, self.read_only, Some(self.timeout))
                    .map_err(|e| named(crate::error::not_found_hint(e)))?;
                (fd, len, false)
            }
        };
        let map = match Mapping::map_fd("mmap", &fd, len, self.read_only) {
            Ok(map) => map,
            Err(e) => {
                if created {
                    let _ = mman::shm_unlink(c_name.as_c_str());
                }
                return Err(named(e));
            }
        };
        Ok(Shm {
            map,
            fd,
            name: name.into(),
            c_name,
            created,
            unlinker: self
                .unlink_on_drop
                .unwrap_or(created)
                .then(std::process::id),
        })
    }

    /// Exclusive create, exact mode, space reserved. On any failure after `shm_open`, the
    /// half-made object is unlinked.
    fn create_fd(&self, c_name: &CString, size: NonZeroUsize) -> Result<(OwnedFd, NonZeroUsize)> {
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC;
        let fd = retry_eintr(|| {
            mman::shm_open(
                c_name.as_c_str(),
                flags | OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(self.mode),
            )
        })
        .map_err(|e| Error::os("shm_open", e))?;
        let sized = (|| {
            stat::fchmod(&fd, Mode::from_bits_truncate(self.mode))
                .map_err(|e| Error::nix("fchmod", e))?;
            reserve(&fd, size)
        })();
        match sized {
            Ok(()) => Ok((fd, size)),
            Err(e) => {
                let _ = mman::shm_unlink(c_name.as_c_str());
                Err(e)
            }
        }
    }

    /// The create/open loop: `EEXIST` on create means open; `ENOENT` on that open means the
    /// object went away in between, so create again. Bounded.
    fn open_or_create_fd(
        &self,
        c_name: &CString,
        size: NonZeroUsize,
    ) -> Result<(OwnedFd, NonZeroUsize, bool)> {
        for _ in 0..OPEN_OR_CREATE_ROUNDS {
            match self.create_fd(c_name, size) {
                Ok((fd, len)) => return Ok((fd, len, true)),
                Err(e) if e.errno() == Some(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            match open_existing(c_name, false, Some(self.timeout)) {
                Ok((fd, len)) => return Ok((fd, len, false)),
                Err(e) if e.errno() == Some(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            "shm_open",
            ErrorKind::LimitReached(format!(
                "open-or-create: the name was created and removed by others {OPEN_OR_CREATE_ROUNDS} times in a row"
            )),
        ))
    }
}

/// [`ErrorKind::InvalidInput`] unless `bits` are permission bits only (at most `0o777`).
pub(crate) fn check_mode(op: &'static str, bits: u32) -> Result<()> {
    if bits & !0o777 != 0 {
        return Err(Error::new(
            op,
            ErrorKind::InvalidInput(format!("mode {bits:#o} has bits outside 0o777")),
        ));
    }
    Ok(())
}

/// [`ErrorKind::LimitReached`] naming `RLIMIT_FSIZE` if this process may not make a file of
/// `size` bytes. Every create path that extends a file (`posix_fallocate`, `ftruncate`,
/// glibc's `sem_open`) calls this first: past the limit the kernel raises `SIGXFSZ`, whose
/// default action kills the process and would leave the half-made object behind.
pub(crate) fn check_fsize(op: &'static str, size: usize) -> Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) } != 0 {
        return Err(Error::os("getrlimit(RLIMIT_FSIZE)", Errno::last()));
    }
    if lim.rlim_cur != libc::RLIM_INFINITY && size as u64 > lim.rlim_cur {
        return Err(Error::new(
            op,
            ErrorKind::LimitReached(format!(
                "file size limit of this process (RLIMIT_FSIZE = {} bytes) is below the {size} \
                 bytes asked for",
                lim.rlim_cur
            )),
        ));
    }
    Ok(())
}

/// `posix_fallocate(fd, 0, size)`: sets the size and reserves the pages, so that a full
/// file system is an error now. Falls back to `ftruncate` where the file system cannot
/// reserve (`EOPNOTSUPP`).
///
/// A size beyond the machine's RAM plus swap (checked for sizes above
/// `SYSINFO_CHECK_ABOVE`) is [`ErrorKind::NoSpace`] at once: it could
/// never be reserved, and on a tmpfs without a size limit (memfd, or a `/dev/shm` mounted
/// with `size=0`) the kernel would otherwise allocate page by page until the OOM killer
/// steps in.
pub(crate) fn reserve(fd: &OwnedFd, size: NonZeroUsize) -> Result<()> {
    let len = libc::off_t::try_from(size.get()).map_err(|_| {
        Error::new(
            "posix_fallocate",
            ErrorKind::InvalidSize(format!("{size} bytes does not fit off_t")),
        )
    })?;
    check_fsize("posix_fallocate", size.get())?;
    // Small sizes skip the check (one syscall saved on every create): they cannot be what
    // exhausts a machine.
    if size.get() > SYSINFO_CHECK_ABOVE {
        let info = nix::sys::sysinfo::sysinfo().map_err(|e| Error::nix("sysinfo", e))?;
        let memory = info.ram_total().saturating_add(info.swap_total());
        if size.get() as u64 > memory {
            return Err(Error::new("posix_fallocate", ErrorKind::NoSpace));
        }
    }
    match retry_eintr(|| nix::fcntl::posix_fallocate(fd, 0, len)) {
        Ok(()) => Ok(()),
        Err(Errno::EOPNOTSUPP | Errno::EINVAL) => {
            retry_eintr(|| nix::unistd::ftruncate(fd, len)).map_err(|e| size_error("ftruncate", e))
        }
        Err(e) => Err(size_error("posix_fallocate", e)),
    }
}

fn size_error(op: &'static str, e: Errno) -> Error {
    match e {
        Errno::EFBIG | Errno::EINVAL => Error::new(
            op,
            ErrorKind::InvalidSize(format!("the file system refuses this size ({e})")),
        ),
        e => Error::os(op, e),
    }
}

/// Opens an existing object with `O_NOFOLLOW | O_NONBLOCK` (so a FIFO planted under the
/// name cannot block us), refuses anything but a regular file, and returns its size. With
/// `wait`, a size of 0 is polled for up to that long.
fn open_existing(
    c_name: &CString,
    read_only: bool,
    wait: Option<Duration>,
) -> Result<(OwnedFd, NonZeroUsize)> {
    let access = if read_only {
        OFlag::O_RDONLY
    } else {
        OFlag::O_RDWR
    };
    let flags = access | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = retry_eintr(|| mman::shm_open(c_name.as_c_str(), flags, Mode::empty())).map_err(
        |e| match e {
            // glibc turns EISDIR into EINVAL; the name itself was validated already, so
            // EINVAL here means a directory sits under the name.
            Errno::EISDIR | Errno::EINVAL | Errno::ENXIO | Errno::ENODEV => {
                Error::new("shm_open", ErrorKind::WrongType)
            }
            e => Error::os("shm_open", e),
        },
    )?;
    let deadline = wait.map(|w| std::time::Instant::now() + w);
    let mut pause = Duration::from_micros(50);
    loop {
        let st = stat::fstat(&fd).map_err(|e| Error::nix("fstat", e))?;
        let size = regular_size(&st)?;
        if let Some(size) = NonZeroUsize::new(size) {
            return Ok((fd, size));
        }
        match deadline {
            Some(d) if std::time::Instant::now() < d => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            _ => {
                return Err(Error::new(
                    "fstat",
                    ErrorKind::InvalidSize(
                        "size 0: the object exists but its creator has not sized it yet".into(),
                    ),
                ))
            }
        }
    }
}

/// The size of a regular file, or [`ErrorKind::WrongType`] / [`ErrorKind::InvalidSize`].
pub(crate) fn regular_size(st: &FileStat) -> Result<usize> {
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(Error::new("fstat", ErrorKind::WrongType));
    }
    let size = usize::try_from(st.st_size)
        .ok()
        .filter(|&s| s <= isize::MAX as usize)
        .ok_or_else(|| {
            Error::new(
                "fstat",
                ErrorKind::InvalidSize(format!("size {} cannot be mapped", st.st_size)),
            )
        })?;
    Ok(size)
}

/// Calls `f` until it fails with something other than `EINTR`; nix's error number becomes
/// this crate's [`Errno`] here.
pub(crate) fn retry_eintr<T>(
    mut f: impl FnMut() -> nix::Result<T>,
) -> std::result::Result<T, Errno> {
    loop {
        match f() {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r.map_err(Errno::from_nix),
        }
    }
}

/// `shm_unlink`: removes the name `name`. Processes that have the object mapped keep it
/// until they unmap it.
///
/// Errors: [`ErrorKind::InvalidName`], [`ErrorKind::NotFound`].
///
/// # References
/// [shm_unlink(3)](https://man7.org/linux/man-pages/man3/shm_unlink.3.html)
#[doc(alias = "shm_unlink")]
pub fn unlink(name: &str) -> Result<()> {
    let c_name = name::validate("shm_unlink", name, NameKind::Shm)?;
    mman::shm_unlink(c_name.as_c_str()).map_err(|e| Error::nix("shm_unlink", e).with_name(name))
}

/// The range `offset..offset + len` of `mem`, or [`ErrorKind::InvalidInput`].
fn range(op: &'static str, mem_len: usize, offset: usize, len: usize) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= mem_len => Ok(()),
        _ => Err(Error::new(
            op,
            ErrorKind::InvalidInput(format!(
                "bytes {offset}..{offset}+{len} are outside the {mem_len}-byte region"
            )),
        )),
    }
}

/// Copies `buf.len()` bytes at `offset` of `mem` into `buf`, bounds-checked.
///
/// Each byte is read with a relaxed atomic load, so a concurrent writer in another process
/// is not a data race; but nothing orders the bytes among themselves, so a message that is
/// being written meanwhile can be read torn. Coordinate with an atomic flag, a lock or a
/// semaphore (or use the typed segments of `ipc-collections`). Meant for small messages;
/// it is not a fast bulk copy.
///
/// Errors: [`ErrorKind::InvalidInput`] if the range leaves the region.
pub fn read_at<M: Memory + ?Sized>(mem: &M, offset: usize, buf: &mut [u8]) -> Result<()> {
    range("read_at", mem.len(), offset, buf.len())?;
    for (i, b) in buf.iter_mut().enumerate() {
        // SAFETY: offset + i < mem.len() (checked above), so the byte is inside the region,
        // which `Memory` guarantees is mapped and readable while `mem` is borrowed. AtomicU8
        // has the size and alignment of u8, every bit pattern is valid, and other processes
        // only change the byte, never unmap it under us. A relaxed atomic load of a byte is
        // allowed on read-only memory too.
        let a = unsafe { AtomicU8::from_ptr(mem.as_ptr().add(offset + i)) };
        *b = a.load(Ordering::Relaxed);
    }
    Ok(())
}

/// Copies `bytes` into `mem` at `offset`, bounds-checked; the counterpart of [`read_at`]
/// (relaxed atomic byte stores: no data race, but no ordering among the bytes either).
///
/// Errors: [`ErrorKind::InvalidInput`] if the range leaves the region,
/// [`ErrorKind::PermissionDenied`] if `mem` is mapped read-only.
pub fn write_at<M: Memory + ?Sized>(mem: &M, offset: usize, bytes: &[u8]) -> Result<()> {
    if mem.is_read_only() {
        return Err(Error::new("write_at", ErrorKind::PermissionDenied));
    }
    range("write_at", mem.len(), offset, bytes.len())?;
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: offset + i < mem.len() (checked above) and the region is writable
        // (is_read_only() is false), mapped while `mem` is borrowed; AtomicU8 has the
        // layout of u8 and any byte value is valid. Other processes access shared bytes
        // through atomics too (or race at their own documented risk).
        let a = unsafe { AtomicU8::from_ptr(mem.as_ptr().add(offset + i)) };
        a.store(b, Ordering::Relaxed);
    }
    Ok(())
}
