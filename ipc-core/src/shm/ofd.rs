//! Whole-file open-file-description locks (`fcntl(F_OFD_SETLK)`), and removing a name only
//! while it still refers to a given open object.
//!
//! An OFD lock belongs to the open file description, not to a process: the kernel drops it
//! when the last descriptor referring to that description is closed, which includes the
//! death of the process that held it. That makes it a liveness signal with no pid to trust
//! (pids are reused and differ between PID namespaces). A forked child that inherits the
//! descriptor shares the description, and with it the lock: the lock lasts until every
//! process that holds the description has closed it or died.
//!
//! The typed segments use these to mark an object "being made" (see `ipc_collections`'s
//! init protocol and FORMAT.md); they are usable on any file, and on `/dev/shm` (tmpfs)
//! objects in particular.
//!
//! # References
//! [fcntl(2), "Open file description locks"](https://man7.org/linux/man-pages/man2/fcntl.2.html)

use std::os::fd::BorrowedFd;

use nix::fcntl::{fcntl, FcntlArg};

use crate::{Errno, Error, Result};

/// A whole-file lock request of type `ty` (`F_WRLCK`, `F_UNLCK`); `l_pid` must be 0 for OFD
/// locks.
fn whole_file(ty: libc::c_int) -> libc::flock {
    libc::flock {
        l_type: ty as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

/// `fcntl(F_OFD_SETLK, F_WRLCK)` on the whole file: takes a write lock for this open file
/// description without waiting. `Ok(false)` if another description holds a lock on the
/// file (`EAGAIN`). Needs a descriptor opened for writing (`EBADF` otherwise).
///
/// Taking it again through the same description (or any descriptor that shares it, such
/// as a forked child's copy) succeeds: a description does not conflict with itself.
#[doc(alias = "F_OFD_SETLK")]
pub fn try_lock(fd: BorrowedFd<'_>) -> Result<bool> {
    let lock = whole_file(libc::F_WRLCK);
    match crate::sys::file::retry_eintr(|| fcntl(fd, FcntlArg::F_OFD_SETLK(&lock))) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
        Err(e) => Err(Error::os("fcntl(F_OFD_SETLK)", e)),
    }
}

/// `fcntl(F_OFD_SETLK, F_UNLCK)` on the whole file: releases this description's lock (if it
/// holds none, nothing happens).
#[doc(alias = "F_OFD_SETLK")]
pub fn unlock(fd: BorrowedFd<'_>) -> Result<()> {
    let lock = whole_file(libc::F_UNLCK);
    crate::sys::file::retry_eintr(|| fcntl(fd, FcntlArg::F_OFD_SETLK(&lock)))
        .map(|_| ())
        .map_err(|e| Error::os("fcntl(F_OFD_SETLK)", e))
}

/// `fcntl(F_OFD_GETLK, F_WRLCK)` on the whole file: whether another open file description
/// holds a lock on the file now (locks held through `fd`'s own description do not count).
/// Works on a read-only descriptor. A snapshot: a holder can release it (or die) at once
/// after.
#[doc(alias = "F_OFD_GETLK")]
pub fn is_locked(fd: BorrowedFd<'_>) -> Result<bool> {
    let mut lock = whole_file(libc::F_WRLCK);
    crate::sys::file::retry_eintr(|| fcntl(fd, FcntlArg::F_OFD_GETLK(&mut lock)))
        .map_err(|e| Error::os("fcntl(F_OFD_GETLK)", e))?;
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

/// `shm_unlink(name)`, but only while the shared memory object `name` is still the object
/// open as `fd` (same device and inode, `fstat` against a fresh `lstat` of
/// `/dev/shm{name}`): `Ok(false)`, and nothing removed, if the name is gone or now refers
/// to another object.
///
/// The check and the unlink are two steps: the caller makes them atomic with respect to
/// its peers by holding the write lock ([`try_lock`]) on `fd`, so that no other peer that
/// follows the same rule can remove the name (and let a new object take it) in between.
pub fn unlink_if_same(name: &str, fd: BorrowedFd<'_>) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let c_name = crate::name::validate("shm_unlink", name, crate::name::NameKind::Shm)?;
    let ours = nix::sys::stat::fstat(fd).map_err(|e| Error::nix("fstat", e).with_name(name))?;
    match std::fs::symlink_metadata(super::posix::path_of(name)) {
        Ok(m) if m.dev() == ours.st_dev && m.ino() == ours.st_ino => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(Error::os(
                "lstat",
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
            .with_name(name))
        }
    }
    match crate::sys::file::retry_eintr(|| nix::sys::mman::shm_unlink(c_name.as_c_str())) {
        Ok(()) => Ok(true),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(Error::os("shm_unlink", e).with_name(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_second_description_sees_and_cannot_take_the_lock_until_released() {
        let name = ipc_testutil::unique_name("ofd");
        let _c = ipc_testutil::Cleanup::shm(&name);
        let a = crate::shm::Shm::create(&name, 4096).unwrap();
        let b = crate::shm::Shm::open(&name).unwrap();
        let ro = crate::shm::Shm::options()
            .read_only(true)
            .open(&name)
            .unwrap();
        assert!(!is_locked(b.fd()).unwrap());
        assert!(try_lock(a.fd()).unwrap());
        assert!(
            try_lock(a.fd()).unwrap(),
            "a description never conflicts with itself"
        );
        assert!(!is_locked(a.fd()).unwrap(), "own lock does not count");
        assert!(is_locked(b.fd()).unwrap());
        assert!(is_locked(ro.fd()).unwrap(), "GETLK works read-only");
        assert!(!try_lock(b.fd()).unwrap());
        unlock(a.fd()).unwrap();
        assert!(!is_locked(b.fd()).unwrap());
        assert!(try_lock(b.fd()).unwrap());
        drop(b);
        assert!(
            !is_locked(a.fd()).unwrap(),
            "closing the holder drops the lock"
        );
        // The name still refers to `a`'s object: removed; a second time: gone, false.
        assert!(unlink_if_same(&name, a.as_fd()).unwrap());
        assert!(!unlink_if_same(&name, a.as_fd()).unwrap());
        // A new object under the name is not `a`'s: left alone.
        let c = crate::shm::Shm::create(&name, 4096).unwrap();
        assert!(!unlink_if_same(&name, a.as_fd()).unwrap());
        assert!(std::fs::symlink_metadata(format!("/dev/shm{name}")).is_ok());
        drop(c);
    }
}
