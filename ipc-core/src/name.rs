//! Checking the names of POSIX IPC objects before any system call sees them.
//!
//! A POSIX shared-memory object, semaphore or message queue is named `/something`: one
//! leading slash, no other slash, no NUL, not `/.` or `/..`, and at most a kind-specific
//! number of bytes after the slash (the file name limit of the file system behind it).

use std::ffi::CString;

use crate::{Error, ErrorKind, Result};

/// `NAME_MAX`: the longest file name, so the longest shm or queue name after the slash.
pub const NAME_MAX: usize = 255;

/// The kind of object a name is for; each has its own length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// `shm_open` (a file in `/dev/shm`): up to [`NAME_MAX`] bytes after the slash.
    Shm,
    /// `sem_open` (a file `sem.NAME` in `/dev/shm`): 4 bytes fewer than [`NAME_MAX`].
    Semaphore,
    /// `mq_open` (a file in `/dev/mqueue`): up to [`NAME_MAX`] bytes after the slash.
    MessageQueue,
}

impl NameKind {
    /// How many bytes may follow the leading slash.
    pub const fn max_len(self) -> usize {
        match self {
            NameKind::Shm | NameKind::MessageQueue => NAME_MAX,
            NameKind::Semaphore => NAME_MAX - 4,
        }
    }
}

/// Checks `name` against the rules for `kind` and returns it as a C string.
///
/// `op` names the operation for the error. Every rule gives
/// [`ErrorKind::InvalidName`] saying which rule was broken.
pub fn validate(op: &'static str, name: &str, kind: NameKind) -> Result<CString> {
    check(name, kind)
        .map_err(|why| Error::with_text(op, ErrorKind::InvalidName, why).with_name(name))?;
    // The NUL check above makes this infallible; map anyway rather than unwrap.
    CString::new(name).map_err(|_| {
        Error::with_text(op, ErrorKind::InvalidName, "contains a NUL byte").with_name(name)
    })
}

/// How many random bytes a unique name carries after its prefix (written as hex): 64 bits,
/// so two processes drawing the same name by chance is not a practical concern; a taken
/// name is drawn again anyway.
pub const UNIQUE_SUFFIX_BYTES: usize = 8;

/// How many fresh names [`create_unique`] tries before it reports
/// [`ErrorKind::LimitReached`] (every try found the name taken: a broken random source).
pub const UNIQUE_ATTEMPTS: usize = 32;

/// A fresh random name for `kind`: `prefix` followed by 16 hex digits from the kernel's
/// random source (`getrandom`), e.g. `/job-9f86d081884c7d65`. The name is new with
/// overwhelming probability, not certainly: create it exclusively and draw again when it is
/// taken, as [`create_unique`] (and every builder's `create_unique`) does.
///
/// Errors: [`ErrorKind::InvalidName`] when `prefix` does not start with `/`, holds another
/// `/` or a NUL, or is too long to leave room for the suffix; `getrandom`'s OS error.
#[doc(alias = "getrandom")]
pub fn unique(op: &'static str, prefix: &str, kind: NameKind) -> Result<String> {
    let bad =
        |why: &'static str| Error::with_text(op, ErrorKind::InvalidName, why).with_name(prefix);
    let rest = match prefix.strip_prefix('/') {
        Some(rest) => rest,
        None => return Err(bad("a unique-name prefix must start with '/'")),
    };
    if rest.contains('/') {
        return Err(bad("contains a '/' after the leading one"));
    }
    if rest.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if rest.len() + 2 * UNIQUE_SUFFIX_BYTES > kind.max_len() {
        return Err(bad(
            "too long: the prefix leaves no room for the 16-character random suffix",
        ));
    }
    let mut bytes = [0u8; UNIQUE_SUFFIX_BYTES];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `bytes`, a live
        // local buffer that getrandom writes at most that many bytes into.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n < 0 {
            let e = crate::Errno::last();
            if e == crate::Errno::EINTR {
                continue;
            }
            return Err(Error::os("getrandom", e));
        }
        filled += n as usize;
    }
    let mut name = String::with_capacity(prefix.len() + 2 * UNIQUE_SUFFIX_BYTES);
    name.push_str(prefix);
    for b in bytes {
        name.push_str(&format!("{b:02x}"));
    }
    // The prefix was checked above and the suffix is hex, so the name passes `check`.
    check(&name, kind).map_err(bad)?;
    Ok(name)
}

/// Creates an object under a fresh name: draws a name with [`unique`], calls `create` (an
/// exclusive create), and draws again while it fails with [`ErrorKind::AlreadyExists`], so
/// that the result is race-free (posix_ipc's `Semaphore(None, O_CREX)`). The name is the
/// handle's `name()`. `is_taken` tells whether an error of `create` is "already exists".
///
/// Errors: those of [`unique`] and of `create`; [`ErrorKind::LimitReached`] after
/// [`UNIQUE_ATTEMPTS`] taken names in a row.
pub fn create_unique<H, E: From<Error>>(
    op: &'static str,
    prefix: &str,
    kind: NameKind,
    mut create: impl FnMut(&str) -> std::result::Result<H, E>,
    is_taken: impl Fn(&E) -> bool,
) -> std::result::Result<H, E> {
    for _ in 0..UNIQUE_ATTEMPTS {
        let name = unique(op, prefix, kind)?;
        match create(&name) {
            Err(e) if is_taken(&e) => continue,
            other => return other,
        }
    }
    Err(Error::with_text(
        op,
        ErrorKind::LimitReached,
        format!("{UNIQUE_ATTEMPTS} random names in a row were taken"),
    )
    .with_name(prefix)
    .into())
}

fn check(name: &str, kind: NameKind) -> std::result::Result<(), &'static str> {
    let rest = match name.strip_prefix('/') {
        Some(rest) => rest,
        None if name.is_empty() => return Err("empty"),
        None => return Err("must start with '/'"),
    };
    if rest.is_empty() {
        return Err("nothing after the leading '/'");
    }
    if rest.contains('/') {
        return Err("contains a '/' after the leading one");
    }
    if rest.contains('\0') {
        return Err("contains a NUL byte");
    }
    if rest == "." || rest == ".." {
        return Err("'/.' and '/..' are not object names");
    }
    if rest.len() > kind.max_len() {
        return Err(match kind {
            NameKind::Semaphore => "longer than 251 bytes after the '/' (NAME_MAX - 4)",
            _ => "longer than 255 bytes after the '/' (NAME_MAX)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(name: &str, kind: NameKind) -> Option<&'static str> {
        match validate("test", name, kind) {
            Ok(_) => None,
            Err(e) => match e.kind() {
                ErrorKind::InvalidName => Some(e.detail().expect("a rule").to_owned().leak()),
                other => panic!("unexpected kind {other:?}"),
            },
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        assert_eq!(why("/a", NameKind::Shm), None);
        assert_eq!(why("/web-stats.v2", NameKind::Shm), None);
        assert_eq!(why(&format!("/{}", "x".repeat(255)), NameKind::Shm), None);
        assert_eq!(
            why(&format!("/{}", "x".repeat(251)), NameKind::Semaphore),
            None
        );
    }

    #[test]
    fn refuses_each_bad_name() {
        for kind in [NameKind::Shm, NameKind::Semaphore, NameKind::MessageQueue] {
            assert_eq!(why("", kind), Some("empty"));
            assert_eq!(why("a", kind), Some("must start with '/'"));
            assert_eq!(why("/", kind), Some("nothing after the leading '/'"));
            assert_eq!(
                why("/a/b", kind),
                Some("contains a '/' after the leading one")
            );
            assert_eq!(why("/a\0b", kind), Some("contains a NUL byte"));
            assert!(why("/.", kind).is_some());
            assert!(why("/..", kind).is_some());
            assert!(why(&format!("/{}", "x".repeat(256)), kind).is_some());
        }
        assert!(why(&format!("/{}", "x".repeat(252)), NameKind::Semaphore).is_some());
    }

    #[test]
    fn error_names_the_object_and_operation() {
        let e = validate("shm_open", "no-slash", NameKind::Shm).unwrap_err();
        assert_eq!(e.name(), Some("no-slash"));
        assert_eq!(e.op(), "shm_open");
        assert!(e.to_string().contains("must start with '/'"), "{e}");
    }
}
