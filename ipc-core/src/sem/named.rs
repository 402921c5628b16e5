//! [`NamedSemaphore`] (`sem_open`, `sem_unlink`) and its builder [`SemOptions`]: a
//! [`Semaphore`] that lives in a named file of `/dev/shm`.

use std::ptr::NonNull;
use std::time::Duration;

use super::{check_value, SemGuard, Semaphore};
use crate::name::{self, NameKind};
use crate::options::NamedOptions;
use crate::{CreateMode, Errno, Error, ErrorKind, Result};

/// How [`NamedSemaphore`] creates or opens a semaphore: the builder every named kind shares
/// (see the [crate documentation](crate#options-and-lifetimes)).
///
/// ```no_run
/// use ipc_core::sem::NamedSemaphore;
///
/// let s = NamedSemaphore::options()
///     .value(1)
///     .mode(0o640)
///     .unlink_on_drop(false)
///     .open_or_create("/jobs")?;
/// # Ok::<(), ipc_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct SemOptions {
    value: u32,
    named: NamedOptions,
}

impl Default for SemOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SemOptions {
    /// The defaults: value 0, mode `0o600`, the creating handle unlinks on drop.
    pub fn new() -> Self {
        SemOptions {
            value: 0,
            // `sem_open` never waits: the timeout is unused.
            named: NamedOptions::new(std::time::Duration::ZERO),
        }
    }

    /// The initial value when this call creates the semaphore (default 0, at most
    /// [`SEM_VALUE_MAX`](super::SEM_VALUE_MAX)).
    pub fn value(mut self, value: u32) -> Self {
        self.value = value;
        self
    }

    crate::named_setters!(named; mode, unlink_on_drop);

    crate::options::named_verbs! {
        NamedSemaphore, "sem_open", "semaphore", NameKind::Semaphore;
        /// Errors: [`InvalidInput`](ErrorKind::InvalidInput) when the value exceeds
        /// [`SEM_VALUE_MAX`](super::SEM_VALUE_MAX) or the mode has bits outside `0o777`;
        /// [`LimitReached`](ErrorKind::LimitReached) naming `RLIMIT_FSIZE` when the file-size
        /// limit is below the size of a `sem_t` (glibc writes the semaphore to a file: the
        /// write would raise `SIGXFSZ`); on open, [`WrongType`](ErrorKind::WrongType) when the
        /// file glibc keeps under the name (`/dev/shm/sem.NAME`) is too small to be a
        /// semaphore (mapping it would fault), [`PermissionDenied`](ErrorKind::PermissionDenied);
        /// other OS errors.
        ///
        /// # References
        /// - <https://man7.org/linux/man-pages/man3/sem_open.3.html>
    }

    fn open_as(&self, name: &str, how: CreateMode) -> Result<NamedSemaphore> {
        const OP: &str = "sem_open";
        let cname = name::validate(OP, name, NameKind::Semaphore)?;
        let path = format!("/dev/shm/sem.{}", &name[1..]);
        if how != CreateMode::OpenExisting {
            check_value(OP, self.value).map_err(|e| e.with_name(name))?;
            crate::sys::file::check_mode(OP, self.named.mode).map_err(|e| e.with_name(name))?;
        }
        let create = || -> Result<NonNull<libc::sem_t>> {
            // glibc writes the new semaphore into a file: below RLIMIT_FSIZE that write
            // would raise SIGXFSZ and kill the process.
            crate::sys::file::check_fsize(OP, std::mem::size_of::<libc::sem_t>())
                .map_err(|e| e.with_name(name))?;
            // SAFETY: `cname` is a valid NUL-terminated name; with O_CREAT, sem_open reads a
            // mode_t and an unsigned int from its variadic arguments, passed here as c_uint.
            let p = unsafe {
                libc::sem_open(
                    cname.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL,
                    self.named.mode as libc::c_uint,
                    self.value as libc::c_uint,
                )
            };
            let sem = opened(p, name)?;
            // The umask may have narrowed the permissions: set them exactly. glibc keeps a
            // named semaphore as the file `sem.NAME` in /dev/shm.
            if let Err(e) = std::fs::set_permissions(
                &path,
                std::os::unix::fs::PermissionsExt::from_mode(self.named.mode),
            ) {
                // SAFETY: `sem` came from sem_open and is closed once; `cname` is valid.
                unsafe {
                    libc::sem_close(sem.as_ptr());
                    libc::sem_unlink(cname.as_ptr());
                }
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                return Err(Error::os("chmod", errno).with_name(name));
            }
            Ok(sem)
        };
        let open = || -> Result<NonNull<libc::sem_t>> {
            // SAFETY: `cname` is a valid NUL-terminated name; without O_CREAT no variadic
            // arguments are read.
            let sem = opened(unsafe { libc::sem_open(cname.as_ptr(), 0) }, name)
                .map_err(crate::error::not_found_hint)?;
            // glibc maps the file /dev/shm/sem.NAME without looking at its size. glibc's own
            // creators link the file in only once it is complete, but any other file under
            // that name (an empty one left by a crashed writer, or made by anyone) would
            // make the first sem_* call fault with SIGBUS. Refuse what is not a regular
            // file of at least one sem_t. (A file swapped in between the open and this
            // check is a peer racing on purpose, outside the trust model.)
            let size_ok = std::fs::metadata(&path).is_ok_and(|m| {
                m.file_type().is_file() && m.len() >= std::mem::size_of::<libc::sem_t>() as u64
            });
            if !size_ok {
                // SAFETY: `sem` came from sem_open above and is closed once, here.
                unsafe { libc::sem_close(sem.as_ptr()) };
                return Err(Error::new(OP, ErrorKind::WrongType).with_name(name));
            }
            Ok(sem)
        };
        let (sem, created) = match how {
            CreateMode::Exclusive => (create()?, true),
            CreateMode::OpenExisting => (open()?, false),
            CreateMode::OpenOrCreate => {
                // Exclusive create, else open; if the other creator unlinked it in between,
                // try again (bounded: a peer that creates and unlinks in a loop is a bug).
                let mut tries = 0;
                loop {
                    match create() {
                        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                        r => break (r?, true),
                    }
                    match open() {
                        Err(e) if e.kind() == ErrorKind::NotFound && tries < 100 => {}
                        r => break (r?, false),
                    }
                    tries += 1;
                }
            }
        };
        // The file's identity, so that drop removes this semaphore's name only while the
        // name still refers to it (not a newer one someone created after an unlink).
        let file = std::fs::metadata(&path).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        });
        Ok(NamedSemaphore {
            sem,
            name: name.into(),
            file,
            created,
            unlinker: self
                .named
                .unlinks(created)
                .then(crate::process::Owner::current),
        })
    }
}

/// A named POSIX semaphore (`sem_open`): any process that knows the name can open it.
///
/// It dereferences to [`Semaphore`], which has the operations (`post`, `wait`,
/// `try_wait`, `wait_timeout`, `value`, `guard`, `guard_timeout`): a named semaphore is a
/// `sem_t` that glibc maps from a file, the same object as an in-place one.
///
/// Dropping the handle closes it (`sem_close`). The handle that created the name also
/// unlinks it, unless told otherwise ([`SemOptions::unlink_on_drop`],
/// [`set_unlink_on_drop`](Self::set_unlink_on_drop)); see the
/// [lifetime table](crate#options-and-lifetimes).
///
/// # References
/// - <https://man7.org/linux/man-pages/man3/sem_open.3.html>
/// - <https://man7.org/linux/man-pages/man7/sem_overview.7.html>
#[doc(alias = "sem_open")]
pub struct NamedSemaphore {
    sem: NonNull<libc::sem_t>,
    name: Box<str>,
    /// `(st_dev, st_ino)` of `/dev/shm/sem.NAME` when it was opened.
    file: Option<(u64, u64)>,
    created: bool,
    /// The pid of the process that unlinks the name on drop, if any (a forked child's copy
    /// of the handle must not).
    unlinker: Option<crate::process::Owner>,
}

// SAFETY: the sem_t mapping stays valid until Drop's sem_close, and all sem_* calls on it
// are thread-safe.
unsafe impl Send for NamedSemaphore {}
// SAFETY: as above.
unsafe impl Sync for NamedSemaphore {}

impl std::fmt::Debug for NamedSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedSemaphore")
            .field("name", &self.name)
            .field("value", &self.value())
            .field("created", &self.created)
            .field("unlinks_on_drop", &self.unlinks_on_drop())
            .finish()
    }
}

impl std::ops::Deref for NamedSemaphore {
    type Target = Semaphore;

    fn deref(&self) -> &Semaphore {
        // SAFETY: `self.sem` came from sem_open: an initialised, suitably aligned sem_t that
        // stays mapped until Drop's sem_close, and the reference borrows `self`. Semaphore is
        // repr(transparent) over UnsafeCell<sem_t>, so the cast addresses the same bytes, and
        // every access goes through the thread- and process-safe sem_* calls.
        unsafe { &*self.sem.as_ptr().cast::<Semaphore>() }
    }
}

/// The waits and posts of [`Semaphore`] (which this handle derefs to), with errors that
/// name the semaphore (`sem_clockwait "/ready": timed out`): these shadow the unnamed ones.
impl NamedSemaphore {
    /// [`Semaphore::post`], its error naming this semaphore.
    #[doc(alias = "sem_post")]
    pub fn post(&self) -> Result<()> {
        (**self).post().map_err(|e| e.or_name(&self.name))
    }

    /// [`Semaphore::wait`], its error naming this semaphore.
    #[doc(alias = "sem_wait")]
    pub fn wait(&self) -> Result<()> {
        (**self).wait().map_err(|e| e.or_name(&self.name))
    }

    /// [`Semaphore::try_wait`], its error naming this semaphore.
    #[doc(alias = "sem_trywait")]
    pub fn try_wait(&self) -> Result<()> {
        (**self).try_wait().map_err(|e| e.or_name(&self.name))
    }

    /// [`Semaphore::wait_timeout`], its error naming this semaphore
    /// ([`Timeout`](crate::ErrorKind::Timeout): `sem_clockwait "/ready": timed out`).
    #[doc(alias = "sem_clockwait")]
    #[doc(alias = "sem_timedwait")]
    pub fn wait_timeout(&self, d: Duration) -> Result<()> {
        (**self).wait_timeout(d).map_err(|e| e.or_name(&self.name))
    }

    /// [`Semaphore::guard`], its error naming this semaphore.
    pub fn guard(&self) -> Result<SemGuard<'_>> {
        (**self).guard().map_err(|e| e.or_name(&self.name))
    }

    /// [`Semaphore::guard_timeout`], its error naming this semaphore.
    pub fn guard_timeout(&self, d: Duration) -> Result<SemGuard<'_>> {
        (**self).guard_timeout(d).map_err(|e| e.or_name(&self.name))
    }
}

impl NamedSemaphore {
    crate::options::named_shortcuts!(SemOptions, "sem_open", "semaphore"; value: u32);

    crate::options::named_handle!("semaphore");

    /// `sem_unlink`: removes the name now (open handles keep working) and stops this handle
    /// from unlinking it again on drop.
    #[doc(alias = "sem_unlink")]
    pub fn unlink(&mut self) -> Result<()> {
        self.unlinker = None;
        unlink(&self.name)
    }

    /// Whether `/dev/shm/sem.NAME` is still the file this handle opened.
    fn still_names_ours(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some(ours) = self.file else {
            return true;
        };
        match std::fs::symlink_metadata(format!("/dev/shm/sem.{}", &self.name[1..])) {
            Ok(m) => (m.dev(), m.ino()) == ours,
            Err(_) => false,
        }
    }
}

impl Drop for NamedSemaphore {
    /// `sem_unlink` if this handle unlinks on drop, then `sem_close`.
    fn drop(&mut self) {
        if self.unlinks_on_drop() && self.still_names_ours() {
            let _ = unlink(&self.name);
        }
        // SAFETY: `self.sem` came from sem_open and is closed exactly once, here; guards
        // and `&Semaphore`s borrow `self`, so none outlives it.
        unsafe { libc::sem_close(self.sem.as_ptr()) };
    }
}
/// Turns sem_open's result into a pointer or an error naming `name`.
fn opened(p: *mut libc::sem_t, name: &str) -> Result<NonNull<libc::sem_t>> {
    if p == libc::SEM_FAILED {
        return Err(Error::os("sem_open", Errno::last()).with_name(name));
    }
    NonNull::new(p).ok_or_else(|| Error::os("sem_open", Errno::EINVAL).with_name(name))
}

/// `sem_unlink`: removes the name `name`; processes that have the semaphore open keep using
/// it until they close it.
///
/// # Errors
/// [`NotFound`](ErrorKind::NotFound), [`PermissionDenied`](ErrorKind::PermissionDenied),
/// [`InvalidName`](ErrorKind::InvalidName).
///
/// # References
/// - <https://man7.org/linux/man-pages/man3/sem_unlink.3.html>
#[doc(alias = "sem_unlink")]
pub fn unlink(name: &str) -> Result<()> {
    let cname = name::validate("sem_unlink", name, NameKind::Semaphore)?;
    // SAFETY: `cname` is a valid NUL-terminated string.
    if unsafe { libc::sem_unlink(cname.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(Error::os("sem_unlink", Errno::last()).with_name(name))
    }
}
