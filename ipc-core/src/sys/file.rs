//! File-descriptor checks and helpers shared by the kinds of named object: the exact mode,
//! the file-size limit, space reservation, the size of a regular file, `EINTR` retries, and
//! whether a name still refers to the object a handle holds.

use std::num::NonZeroUsize;
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::sys::stat::{self, FileStat, SFlag};

use crate::{Errno, Error, ErrorKind, Result};

/// Sizes above this are compared with RAM + swap before reserving (see `reserve`).
const SYSINFO_CHECK_ABOVE: usize = 256 << 20;

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

/// [`ErrorKind::InvalidInput`] unless `bits` are permission bits only (at most `0o777`).
pub(crate) fn check_mode(op: &'static str, bits: u32) -> Result<()> {
    if bits & !0o777 != 0 {
        return Err(Error::with_text(
            op,
            ErrorKind::InvalidInput,
            format!("mode {bits:#o} has bits outside 0o777"),
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
        return Err(Error::with_text(
            op,
            ErrorKind::LimitReached,
            format!(
                "file size limit of this process (RLIMIT_FSIZE = {} bytes) is below the {size} \
                 bytes asked for",
                lim.rlim_cur
            ),
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
        Error::with_text(
            "posix_fallocate",
            ErrorKind::InvalidSize,
            format!("{size} bytes does not fit off_t"),
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
        Errno::EFBIG | Errno::EINVAL => Error::with_text(
            op,
            ErrorKind::InvalidSize,
            format!("the file system refuses this size ({e})"),
        ),
        e => Error::os(op, e),
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
            Error::with_text(
                "fstat",
                ErrorKind::InvalidSize,
                format!("size {} cannot be mapped", st.st_size),
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
