//! [`MemfdShm`]: a memfd segment whose size the kernel has sealed, so that no process holding
//! its fd can shrink it under another's mapping (no `SIGBUS`) or grow it.

use std::ffi::CString;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat;

use crate::{Error, ErrorKind, Memory, Result};

use super::{check_size, Mapping};
use crate::sys::file::{regular_size, reserve};

/// The longest memfd name (the kernel prefixes it with `memfd:` in a 255-byte buffer).
pub const MEMFD_NAME_MAX: usize = 249;

bitflags::bitflags! {
    /// The seals of a memfd (`F_ADD_SEALS` / `F_GET_SEALS`): which changes to the file the
    /// kernel refuses. Bits this type does not name are kept as they are.
    ///
    /// # References
    /// [fcntl(2), "File Sealing"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Seals: libc::c_int {
        /// `F_SEAL_SEAL`: the set of seals itself can no longer change.
        const F_SEAL_SEAL = libc::F_SEAL_SEAL;
        /// `F_SEAL_SHRINK`: the file cannot shrink.
        const F_SEAL_SHRINK = libc::F_SEAL_SHRINK;
        /// `F_SEAL_GROW`: the file cannot grow.
        const F_SEAL_GROW = libc::F_SEAL_GROW;
        /// `F_SEAL_WRITE`: the contents cannot change.
        const F_SEAL_WRITE = libc::F_SEAL_WRITE;
        /// `F_SEAL_FUTURE_WRITE`: no new writable mapping or write; existing ones stay.
        const F_SEAL_FUTURE_WRITE = libc::F_SEAL_FUTURE_WRITE;
        // Bits of later kernels (F_SEAL_EXEC, ...) are kept, not dropped.
        const _ = !0;
    }
}

/// A memfd-backed segment with sealed size (`F_SEAL_SHRINK | F_SEAL_GROW`), mapped
/// read-write (or read-only when the fd or its seals forbid writing).
///
/// Pass [`fd`](MemfdShm::fd) to another process (fork/exec inheritance after clearing
/// close-on-exec, `SCM_RIGHTS`, or `/proc/PID/fd/N`); it maps it with
/// [`from_fd`](MemfdShm::from_fd), which checks the seals first. The memory lives until
/// the last fd and mapping are gone; there is no name to unlink.
///
/// # References
/// [memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html),
/// [fcntl(2), "File Sealing"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
#[derive(Debug)]
#[doc(alias = "memfd_create")]
pub struct MemfdShm {
    // Field order matters for drop: unmap first, then close.
    map: Mapping,
    fd: OwnedFd,
    seals: Seals,
}

// SAFETY: (1) the mapping is live, page-aligned (mmap's result), readable, and writable
// unless mapped read-only, for `len()` bytes, which the seals guarantee the file keeps;
// (2) it is unmapped only in Drop; (3) its length is fixed at construction.
unsafe impl Memory for MemfdShm {
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

/// The seals every [`MemfdShm`] needs: the size can neither shrink nor grow.
fn size_seals() -> SealFlag {
    SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW
}

impl MemfdShm {
    /// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`, reserves `size` bytes
    /// (`posix_fallocate`), seals the size with `F_SEAL_SHRINK | F_SEAL_GROW |
    /// F_SEAL_SEAL`, and maps it read-write.
    ///
    /// `name` is only a label (shown in `/proc/PID/fd`): any bytes but NUL, at most
    /// [`MEMFD_NAME_MAX`]; it does not have to be unique.
    ///
    /// # References
    /// [memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html),
    /// [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
    #[doc(alias = "memfd_create")]
    pub fn create(name: &str, size: usize) -> Result<MemfdShm> {
        let named = |e: Error| e.with_name(name);
        let bad = |why| {
            named(Error::with_text(
                "memfd_create",
                ErrorKind::InvalidName,
                why,
            ))
        };
        if name.len() > MEMFD_NAME_MAX {
            return Err(bad("longer than 249 bytes (the memfd name limit)"));
        }
        let c_name = CString::new(name).map_err(|_| bad("contains a NUL byte"))?;
        let len = check_size("memfd_create", size).map_err(named)?;
        let fd = memfd_create(
            c_name.as_c_str(),
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )
        .map_err(|e| named(Error::nix("memfd_create", e)))?;
        reserve(&fd, len).map_err(named)?;
        fcntl(
            &fd,
            FcntlArg::F_ADD_SEALS(size_seals() | SealFlag::F_SEAL_SEAL),
        )
        .map_err(|e| named(Error::nix("fcntl(F_ADD_SEALS)", e)))?;
        let map = Mapping::map_fd("mmap", &fd, len, false).map_err(named)?;
        Ok(MemfdShm {
            map,
            fd,
            seals: Seals::from_bits_retain((size_seals() | SealFlag::F_SEAL_SEAL).bits()),
        })
    }

    /// `fcntl(F_GET_SEALS)` + `mmap`: maps a memfd received from another process, after
    /// checking that it is a regular file of non-zero size carrying `F_SEAL_SHRINK` and
    /// `F_SEAL_GROW`.
    ///
    /// The mapping is read-only when the fd was opened read-only or the file carries
    /// `F_SEAL_WRITE` / `F_SEAL_FUTURE_WRITE`.
    ///
    /// Errors: [`ErrorKind::WrongType`] for a non-regular file or one that does not support
    /// seals (`EINVAL` of `F_GET_SEALS`: not a memfd or shmem file);
    /// [`ErrorKind::InvalidInput`] if the size seals are missing;
    /// [`ErrorKind::InvalidSize`] for size 0.
    ///
    /// # References
    /// [fcntl(2), "File Sealing"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
    #[doc(alias = "F_GET_SEALS")]
    pub fn from_fd(fd: OwnedFd) -> Result<MemfdShm> {
        // The file type first, for the error of a directory or pipe.
        let st = stat::fstat(&fd).map_err(|e| Error::nix("fstat", e))?;
        regular_size(&st)?;
        let raw = fcntl(&fd, FcntlArg::F_GET_SEALS).map_err(|e| match e {
            Errno::EINVAL => Error::new("fcntl(F_GET_SEALS)", ErrorKind::WrongType),
            e => Error::nix("fcntl(F_GET_SEALS)", e),
        })?;
        let seals = SealFlag::from_bits_retain(raw);
        if !seals.contains(size_seals()) {
            return Err(Error::with_text(
                "fcntl(F_GET_SEALS)",
                ErrorKind::InvalidInput,
                "the memfd's size is not sealed (F_SEAL_SHRINK | F_SEAL_GROW missing)",
            ));
        }
        // The size only now that it is known to be sealed: read before the seals, it could
        // have changed in between (another holder of the fd resizing, then sealing), and a
        // mapping longer than the file would fault (SIGBUS) past its end.
        let st = stat::fstat(&fd).map_err(|e| Error::nix("fstat", e))?;
        let size = regular_size(&st)?;
        let len = NonZeroUsize::new(size).ok_or_else(|| {
            Error::with_text(
                "fstat",
                ErrorKind::InvalidSize,
                "size 0: a sealed empty memfd cannot be mapped",
            )
        })?;
        let fl = fcntl(&fd, FcntlArg::F_GETFL).map_err(|e| Error::nix("fcntl(F_GETFL)", e))?;
        let acc = OFlag::from_bits_retain(fl) & OFlag::O_ACCMODE;
        let read_only = acc == OFlag::O_RDONLY
            || seals.intersects(SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_FUTURE_WRITE);
        let map = Mapping::map_fd("mmap", &fd, len, read_only)?;
        let seals = Seals::from_bits_retain(seals.bits());
        Ok(MemfdShm { map, fd, seals })
    }

    /// The memfd (close-on-exec), to pass to another process.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `fcntl(F_DUPFD_CLOEXEC)`: a second descriptor of the same memfd (close-on-exec), to
    /// hand to another process or to [`from_fd`](MemfdShm::from_fd).
    ///
    /// # References
    /// [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
    #[doc(alias = "dup")]
    pub fn try_clone_fd(&self) -> Result<OwnedFd> {
        self.fd.try_clone().map_err(|e| {
            Error::os(
                "fcntl(F_DUPFD_CLOEXEC)",
                crate::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })
    }

    /// The seals the file carried when this handle was made (`F_GET_SEALS`).
    pub fn seals(&self) -> Seals {
        self.seals
    }

    super::memory_accessors!("the sealed size");
}

impl AsFd for MemfdShm {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
