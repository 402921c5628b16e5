//! POSIX named shared-memory objects: [`Shm`] and [`ShmOptions`] (`shm_open`, `mmap`,
//! `shm_unlink`).

use std::ffi::CString;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::mman;
use nix::sys::stat::{self, Mode};

use super::{check_size, Mapping};
use crate::name::{self, NameKind};
use crate::options::NamedOptions;
use crate::sys::file::{check_mode, regular_size, reserve, retry_eintr, still_names};
use crate::{CreateMode, Errno, Error, ErrorKind, Memory, Result};

/// How many times open-or-create goes round its create/open loop before giving up (each
/// round only repeats when another process removed or created the name in between).
const OPEN_OR_CREATE_ROUNDS: usize = 64;

/// Where glibc keeps POSIX shared memory objects, as files (`shm_open("/x")` opens
/// `/dev/shm/x`).
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// The file of the object `name` (`/x`): `/dev/shm/x`.
pub(crate) fn path_of(name: &str) -> String {
    format!("{SHM_DIR}{name}")
}

/// How long open-or-create waits for a concurrent creator to size a new object (size 0
/// until then) before reporting [`ErrorKind::InvalidSize`].
const SIZE_WAIT: Duration = Duration::from_millis(200);

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
    unlinker: Option<crate::process::Owner>,
    /// Made by `create_unnamed` and not yet given its name by `link`: the mode bits to set
    /// once named (until then the owner may read and write, so that `link` can reopen it).
    unnamed: Option<u32>,
    /// After `link`: the description the object was made through (holding its creator's
    /// locks), until `close_first_description`.
    first: Option<OwnedFd>,
}

// SAFETY: (1) `map` is a live mapping of `len()` bytes, page-aligned because mmap returns
// page-aligned addresses, readable (and writable unless mapped read-only), backed by the
// object's pages: `len()` is the `fstat` size, and a created object has its space reserved;
// (2) it is unmapped only in Drop and replaced only by `grow`, `shrink` and `remap`, which
// take `&mut self`, so it stays mapped while `&self` is borrowed; (3) its length changes only
// in those `&mut self` methods. A peer that later shrinks the object with `ftruncate`
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
    crate::options::named_shortcuts!(ShmOptions, "shm_open", "object"; size: usize);

    crate::options::named_handle!("object");

    /// The object's file descriptor (close-on-exec), e.g. for `fstat` or to pass along.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    memory_accessors!("the object's size when it was mapped");

    /// Grows the object to `new_len` bytes (`posix_fallocate`: the space is reserved, so a
    /// full `/dev/shm` is an error now, not a `SIGBUS` later) and maps it again whole; the
    /// new bytes are zero. posix_ipc's `ftruncate` to a larger size.
    ///
    /// Growing is safe for everyone: another process's mapping of the old size stays valid
    /// (every byte it maps still exists); it sees the new bytes after its own
    /// [`remap`](Self::remap). The file never shrinks here: if a peer grew it further
    /// meanwhile, that size is kept and mapped. Taking `&mut self` ends every borrow of the
    /// old mapping (slices, typed views) before it is replaced.
    ///
    /// Errors: [`ErrorKind::InvalidSize`] when `new_len` is smaller than the current size
    /// (shrinking is [`shrink`](Self::shrink), `unsafe`) or too large;
    /// [`ErrorKind::PermissionDenied`] for a read-only handle; [`ErrorKind::NoSpace`],
    /// [`ErrorKind::LimitReached`] (`RLIMIT_FSIZE`) as for create. On error the old mapping
    /// is kept.
    ///
    /// # References
    /// [posix_fallocate(3)](https://man7.org/linux/man-pages/man3/posix_fallocate.3.html),
    /// [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    #[doc(alias = "ftruncate")]
    #[doc(alias = "posix_fallocate")]
    pub fn grow(&mut self, new_len: usize) -> Result<()> {
        const OP: &str = "Shm::grow";
        let named = |e: Error| e.with_name(&*self.name);
        if self.is_read_only() {
            return Err(named(Error::new(OP, ErrorKind::PermissionDenied)));
        }
        let current = self.current_size().map_err(named)?;
        if new_len < current {
            return Err(named(Error::with_text(
                OP,
                ErrorKind::InvalidSize,
                format!(
                    "{new_len} bytes is smaller than the object's {current}: growing never \
                     shrinks (see Shm::shrink)"
                ),
            )));
        }
        let size = check_size(OP, new_len).map_err(named)?;
        reserve(&self.fd, size).map_err(named)?;
        self.remap().map(|_| ())
    }

    /// Shrinks (or grows) the object to exactly `new_len` bytes with `ftruncate` and maps
    /// it again whole.
    ///
    /// # Safety
    /// Shrinking takes the bytes past `new_len` away from **every** process that maps them:
    /// a later access there in any process is a `SIGBUS`, which safe code built on the
    /// mapping (a typed segment, an array view, another `Shm`'s `Memory`) cannot guard
    /// against. The caller guarantees that, from this call on, no other handle in any
    /// process maps the object beyond `new_len` bytes, or that none of them touches those
    /// bytes until it has called [`remap`](Self::remap) (for example: every peer has
    /// unmapped it, or all peers agreed by their own protocol and remapped). Growing needs
    /// no such promise: use [`grow`](Self::grow).
    ///
    /// Errors: [`ErrorKind::InvalidSize`] for 0 or too large; [`ErrorKind::PermissionDenied`]
    /// for a read-only handle. On error the old mapping is kept.
    ///
    /// # References
    /// [ftruncate(2)](https://man7.org/linux/man-pages/man2/ftruncate.2.html)
    #[doc(alias = "ftruncate")]
    pub unsafe fn shrink(&mut self, new_len: usize) -> Result<()> {
        const OP: &str = "ftruncate";
        let named = |e: Error| e.with_name(&*self.name);
        if self.is_read_only() {
            return Err(named(Error::new(OP, ErrorKind::PermissionDenied)));
        }
        let size = check_size(OP, new_len).map_err(named)?;
        let len = libc::off_t::try_from(size.get()).map_err(|_| {
            named(Error::with_text(
                OP,
                ErrorKind::InvalidSize,
                format!("{new_len} bytes does not fit off_t"),
            ))
        })?;
        crate::sys::file::check_fsize(OP, size.get()).map_err(named)?;
        retry_eintr(|| nix::unistd::ftruncate(&self.fd, len))
            .map_err(|e| named(Error::os(OP, e)))?;
        self.remap().map(|_| ())
    }

    /// Maps the object again at its current size (`fstat`), to see what a peer's
    /// [`grow`](Self::grow) added (or to stop mapping what a peer's
    /// [`shrink`](Self::shrink) took away). Returns the new length. Taking `&mut self` ends
    /// every borrow of the old mapping first.
    ///
    /// Errors: [`ErrorKind::InvalidSize`] if the object has size 0; `mmap`'s errors. On
    /// error the old mapping is kept.
    #[doc(alias = "mremap")]
    pub fn remap(&mut self) -> Result<usize> {
        let named = |e: Error| e.with_name(&*self.name);
        let size = self.current_size().map_err(named)?;
        let len = NonZeroUsize::new(size).ok_or_else(|| {
            named(Error::with_text(
                "fstat",
                ErrorKind::InvalidSize,
                "size 0: the object was truncated to nothing",
            ))
        })?;
        let read_only = self.is_read_only();
        let map = Mapping::map_fd("mmap", &self.fd, len, read_only).map_err(named)?;
        // The old mapping is unmapped here; nothing borrows it (we hold `&mut self`).
        self.map = map;
        Ok(size)
    }

    /// The object's size now (`fstat`).
    fn current_size(&self) -> Result<usize> {
        let st = stat::fstat(&self.fd).map_err(|e| Error::nix("fstat", e))?;
        regular_size(&st)
    }

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

    /// `linkat`: gives an object made by [`ShmOptions::create_unnamed`] its name, atomically
    /// and exclusively (as `O_CREAT | O_EXCL` would): from this call on, `shm_open(name)`
    /// in any process finds the object, with whatever this handle wrote into it before.
    ///
    /// The object gets the mode it was created with here, once named (until then its owner
    /// may read and write it, so that this call can reopen it by name).
    ///
    /// Errors: [`ErrorKind::AlreadyExists`] if the name is taken, or was replaced by
    /// another object right after it was made (the object stays unnamed);
    /// [`ErrorKind::Os`] if reopening, `fchmod` or mapping fails after `linkat` (the name
    /// is removed again while it is still this object: the object stays unnamed);
    /// [`ErrorKind::InvalidInput`] for a handle that was not made unnamed or was named
    /// already.
    ///
    /// # References
    /// [linkat(2)](https://man7.org/linux/man-pages/man2/linkat.2.html),
    /// [open(2), `O_TMPFILE`](https://man7.org/linux/man-pages/man2/open.2.html)
    #[doc(alias = "linkat")]
    pub fn link(&mut self) -> Result<()> {
        use std::os::fd::AsRawFd;
        const OP: &str = "linkat";
        let Some(mode) = self.unnamed else {
            return Err(Error::with_text(
                OP,
                ErrorKind::InvalidInput,
                "the object already has its name",
            )
            .with_name(&*self.name));
        };
        // Linking an O_TMPFILE file through its /proc/self/fd link with AT_SYMLINK_FOLLOW
        // needs no privilege (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
        let from = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        retry_eintr(|| {
            nix::unistd::linkat(
                nix::fcntl::AT_FDCWD,
                from.as_str(),
                nix::fcntl::AT_FDCWD,
                path_of(&self.name).as_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
            )
        })
        .map_err(|e| Error::os(OP, e).with_name(&*self.name))?;
        match self.named_again(mode) {
            Ok(()) => {
                self.unnamed = None;
                Ok(())
            }
            Err(e) => {
                // Undo our own linkat (only while the name is still our object): the
                // object stays unnamed, and the kernel frees it when this handle drops.
                let _ = super::ofd::unlink_if_same(&self.name, self.fd.as_fd());
                Err(e.with_name(&*self.name))
            }
        }
    }

    /// The rest of [`link`](Self::link) once the name exists: map the object again through
    /// a descriptor opened by name, so that /proc/PID/maps and /proc/PID/fd show the name
    /// (the O_TMPFILE description shows `/#INODE (deleted)` for ever, and tools find who
    /// maps an object by its path), and set the requested `mode` through it. The first
    /// description stays open, with whatever locks were taken through it, until
    /// `close_first_description`.
    fn named_again(&mut self, mode: u32) -> Result<()> {
        let (fd, len) = open_existing(&self.c_name, false, None)?;
        let (a, b) = (
            stat::fstat(&fd).map_err(|e| Error::nix("fstat", e))?,
            stat::fstat(&self.fd).map_err(|e| Error::nix("fstat", e))?,
        );
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
            // Somebody removed our name and made another object under it at once.
            return Err(Error::new("linkat", ErrorKind::AlreadyExists));
        }
        stat::fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(|e| Error::nix("fchmod", e))?;
        let map = Mapping::map_fd("mmap", &fd, len, false)?;
        // The old mapping is unmapped here; nothing borrows it (we hold `&mut self`).
        self.map = map;
        self.first = Some(std::mem::replace(&mut self.fd, fd));
        Ok(())
    }

    /// Closes the descriptor an object made by [`ShmOptions::create_unnamed`] was made
    /// through, which [`link`](Self::link) keeps open: the open-file-description locks
    /// taken through it before `link` ([`ofd::try_lock`](super::ofd::try_lock)) are
    /// released (once no forked child holds a copy of it either). Nothing happens for any
    /// other handle.
    pub fn close_first_description(&mut self) {
        self.first = None;
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
        if self.unlinks_on_drop() && still_names(self.fd.as_fd(), SHM_DIR, &self.name) {
            let _ = mman::shm_unlink(self.c_name.as_c_str());
        }
        // `map` then `fd` are dropped after this: munmap, then close.
    }
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
    named: NamedOptions,
}

impl Default for ShmOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ShmOptions {
    /// No size, mode 0600, read-write, a 200 ms sizing timeout (how long an open waits for
    /// an object of size 0, whose creator has not sized it yet, before
    /// [`ErrorKind::InvalidSize`]), and the creating handle unlinks on drop.
    pub fn new() -> Self {
        ShmOptions {
            size: None,
            named: NamedOptions::new(SIZE_WAIT),
        }
    }

    /// The size in bytes of a created object (needed by [`create`](Self::create) and
    /// [`open_or_create`](Self::open_or_create)); an opened object is mapped whole, at the
    /// size `fstat` reports.
    pub fn size(mut self, bytes: usize) -> Self {
        self.size = Some(bytes);
        self
    }

    crate::named_setters!(named; mode, read_only, timeout, unlink_on_drop);

    crate::options::named_verbs! {
        Shm, "shm_open", "object", NameKind::Shm;
        /// A created object is `fchmod`ed to the [`mode`](Self::mode) and its
        /// [`size`](Self::size) bytes reserved with `posix_fallocate` before the `mmap`, so a
        /// full `/dev/shm` is [`ErrorKind::NoSpace`] here rather than a later `SIGBUS`; an
        /// opened one is mapped whole, at the size `fstat` reports.
        ///
        /// Errors: [`ErrorKind::InvalidSize`] (no size, 0 or too large; or an opened object
        /// still of size 0 after the [`timeout`](Self::timeout)),
        /// [`ErrorKind::LimitReached`] naming `RLIMIT_FSIZE` when the process's file-size limit
        /// is below the size (nothing is left behind), [`ErrorKind::InvalidInput`] for mode
        /// bits outside `0o777` or `read_only` when creating, [`ErrorKind::WrongType`] for a
        /// symlink, directory or other non-regular file.
        ///
        /// # References
        /// [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html),
        /// [fchmod(2)](https://man7.org/linux/man-pages/man2/fchmod.2.html),
        /// [posix_fallocate(3)](https://man7.org/linux/man-pages/man3/posix_fallocate.3.html),
        /// [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    }

    /// The checks of every creating call: a valid name, mode bits, not read-only, a size.
    fn creating(&self, name: &str) -> Result<(CString, NonZeroUsize)> {
        let c_name = name::validate("shm_open", name, NameKind::Shm)?;
        let named = |e: Error| e.with_name(name);
        self.named.check_creating("shm_open").map_err(named)?;
        let Some(size) = self.size else {
            return Err(named(Error::with_text(
                "shm_open",
                ErrorKind::InvalidSize,
                "no size given (ShmOptions::size)",
            )));
        };
        Ok((c_name, check_size("shm_open", size).map_err(named)?))
    }

    fn open_as(&self, name: &str, how: CreateMode) -> Result<Shm> {
        let named = |e: Error| e.with_name(name);
        let (c_name, size) = if how == CreateMode::OpenExisting {
            let c_name = name::validate("shm_open", name, NameKind::Shm)?;
            check_mode("shm_open", self.named.mode).map_err(named)?;
            (c_name, None)
        } else {
            let (c_name, size) = self.creating(name)?;
            (c_name, Some(size))
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
                let (fd, len) =
                    open_existing(&c_name, self.named.read_only, Some(self.named.timeout))
                        .map_err(|e| named(crate::error::not_found_hint(e)))?;
                (fd, len, false)
            }
        };
        let map = match Mapping::map_fd("mmap", &fd, len, self.named.read_only) {
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
                .named
                .unlinks(created)
                .then(crate::process::Owner::current),
            unnamed: None,
            first: None,
        })
    }

    /// As [`create`](Self::create), but the object has no name yet: it is made with
    /// `O_TMPFILE` in `/dev/shm` (exact mode, space reserved, mapped), and
    /// [`Shm::link`] gives it `name` later, exclusively. Until then no other process can
    /// open it, and if this process dies first the kernel frees it: nothing is left
    /// behind. Whatever the handle writes before `link` (a header, a lock taken with
    /// [`ofd::try_lock`](super::ofd::try_lock)) is there from the first instant the name
    /// exists.
    ///
    /// Errors: those of [`create`](Self::create) (but a name that is taken is only
    /// reported by [`Shm::link`]); [`ErrorKind::Os`] with `EOPNOTSUPP` or `EISDIR` if
    /// `/dev/shm` cannot hold unnamed files (a kernel before 3.11 or another file system).
    ///
    /// # References
    /// [open(2), `O_TMPFILE`](https://man7.org/linux/man-pages/man2/open.2.html)
    #[doc(alias = "O_TMPFILE")]
    pub fn create_unnamed(&self, name: &str) -> Result<Shm> {
        let (c_name, size) = self.creating(name)?;
        let named = |e: Error| e.with_name(name);
        let flags = OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC;
        // Owner read-write until named: `link` reopens the object by name read-write (a
        // mode such as 0o400 would refuse that to a non-root owner); it sets the requested
        // mode through the new descriptor.
        let mode = Mode::from_bits_truncate(self.named.mode | 0o600);
        let fd = retry_eintr(|| nix::fcntl::open(SHM_DIR, flags, mode))
            .map_err(|e| named(Error::os("open(O_TMPFILE)", e)))?;
        stat::fchmod(&fd, mode).map_err(|e| named(Error::nix("fchmod", e)))?;
        reserve(&fd, size).map_err(named)?;
        let map = Mapping::map_fd("mmap", &fd, size, false).map_err(named)?;
        Ok(Shm {
            map,
            fd,
            name: name.into(),
            c_name,
            created: true,
            unlinker: self
                .named
                .unlinks(true)
                .then(crate::process::Owner::current),
            unnamed: Some(self.named.mode),
            first: None,
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
                Mode::from_bits_truncate(self.named.mode),
            )
        })
        .map_err(|e| Error::os("shm_open", e))?;
        let sized = (|| {
            stat::fchmod(&fd, Mode::from_bits_truncate(self.named.mode))
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
            match open_existing(c_name, false, Some(self.named.timeout)) {
                Ok((fd, len)) => return Ok((fd, len, false)),
                Err(e) if e.errno() == Some(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::with_text(
            "shm_open",
            ErrorKind::LimitReached,
            format!(
                "open-or-create: the name was created and removed by others {OPEN_OR_CREATE_ROUNDS} times in a row"
            ),
        ))
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
                return Err(Error::with_text(
                    "fstat",
                    ErrorKind::InvalidSize,
                    "size 0: the object exists but its creator has not sized it yet",
                ))
            }
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
