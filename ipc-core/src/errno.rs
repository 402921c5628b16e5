//! [`Errno`]: an OS error number, this crate's own type, so that no dependency's error type
//! (nix's) appears in the public API.

use std::fmt;

/// An OS error number (`errno`), as returned by the C calls this crate wraps.
///
/// A plain `i32` underneath ([`raw`](Errno::raw), [`from_raw`](Errno::from_raw)); the
/// associated constants name the codes this crate meets, and compare and match like enum
/// variants:
///
/// ```
/// use ipc_core::Errno;
///
/// let e = Errno::from_raw(libc::EAGAIN);
/// assert_eq!(e, Errno::EAGAIN);
/// assert!(matches!(e, Errno::EAGAIN | Errno::EINTR));
/// assert_eq!(format!("{e:?}"), "EAGAIN");
/// assert_eq!(e.to_string(), "Resource temporarily unavailable");
/// let io: std::io::Error = e.into();
/// assert_eq!(io.raw_os_error(), Some(libc::EAGAIN));
/// ```
///
/// `Display` is the C library's text for the code (`strerror`), `Debug` its symbolic name
/// (`EAGAIN`), or `Errno(n)` for a code without one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Errno(i32);

macro_rules! errno_consts {
    ($($name:ident,)*) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                pub const $name: Errno = Errno(libc::$name);
            )*
        }
        const NAMES: &[(i32, &str)] = &[$((libc::$name, stringify!($name)),)*];
    };
}

errno_consts! {
    EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, E2BIG, EBADF, EAGAIN, ENOMEM, EACCES, EFAULT,
    EBUSY, EEXIST, ENODEV, ENOTDIR, EISDIR, EINVAL, ENFILE, EMFILE, EFBIG, ENOSPC, ESPIPE,
    EROFS, ERANGE, EDEADLK, ENAMETOOLONG, ENOSYS, ELOOP, EIDRM, EOVERFLOW, EMSGSIZE,
    EOPNOTSUPP, ETIMEDOUT, EOWNERDEAD, ENOTRECOVERABLE,
}

impl Errno {
    /// The error number `raw` (no check: any `i32` is kept as it is).
    pub const fn from_raw(raw: i32) -> Errno {
        Errno(raw)
    }

    /// The number.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The calling thread's current `errno`, as left by the last failed C call.
    pub fn last() -> Errno {
        Errno(Self::last_raw())
    }

    /// [`last`](Errno::last) as a plain number.
    pub fn last_raw() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// The C library's text for the code (`strerror_r`), e.g. "No such file or directory";
    /// the same as `Display`.
    pub fn desc(self) -> String {
        let mut buf = [0 as libc::c_char; 256];
        // SAFETY: `buf` is writable for `buf.len()` bytes, the length passed; the XSI
        // strerror_r (the one libc binds) writes at most that many bytes, NUL-terminated.
        let r = unsafe { libc::strerror_r(self.0, buf.as_mut_ptr(), buf.len()) };
        if r != 0 {
            return format!("Unknown error {}", self.0);
        }
        // SAFETY: strerror_r returned 0, so `buf` holds a NUL-terminated string within
        // its length.
        let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        text.to_string_lossy().into_owned()
    }

    /// The symbolic name (`"ENOENT"`) of the codes that have an associated constant;
    /// `None` for the rest.
    pub fn name(self) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, name)| *name)
    }

    /// Converts nix's error number at the boundary of the thin OS layer.
    pub(crate) fn from_nix(e: nix::errno::Errno) -> Errno {
        Errno(e as i32)
    }
}

impl fmt::Display for Errno {
    /// The C library's text for the code (`strerror`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.desc())
    }
}

impl fmt::Debug for Errno {
    /// The symbolic name (`EAGAIN`), or `Errno(n)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}

impl From<Errno> for i32 {
    fn from(e: Errno) -> i32 {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_text_and_io_conversion() {
        assert_eq!(Errno::from_raw(libc::EDEADLK), Errno::EDEADLK);
        assert_eq!(Errno::EDEADLK.raw(), libc::EDEADLK);
        assert_eq!(format!("{:?}", Errno::ENOENT), "ENOENT");
        assert_eq!(Errno::ENOENT.name(), Some("ENOENT"));
        assert_eq!(Errno::ENOENT.to_string(), "No such file or directory");
        // A code without a constant: Debug falls back to the number.
        assert_eq!(format!("{:?}", Errno::from_raw(4095)), "Errno(4095)");
        assert_eq!(Errno::from_raw(4095).name(), None);
        let io = std::io::Error::from(Errno::EACCES);
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(io.raw_os_error(), Some(libc::EACCES));
    }

    #[test]
    fn matches_like_an_enum() {
        let e = Errno::from_raw(libc::EINTR);
        let what = match e {
            Errno::EAGAIN => "again",
            Errno::EINTR => "interrupted",
            _ => "other",
        };
        assert_eq!(what, "interrupted");
    }

    #[test]
    fn every_constant_agrees_with_nix_and_has_a_name() {
        for (code, name) in NAMES {
            let n = nix::errno::Errno::from_raw(*code);
            assert_eq!(format!("{n:?}"), *name);
            assert_eq!(Errno::from_nix(n).raw(), *code);
        }
    }
}
