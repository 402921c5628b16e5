//! POSIX semaphores: [`Semaphore`], initialised in place inside shared memory
//! (`sem_init` with `pshared`), and [`NamedSemaphore`] (`sem_open`), with an RAII
//! [`SemGuard`] that acquires a unit and releases it on drop (posix_ipc's context manager).
//!
//! Waits are measured on CLOCK_MONOTONIC (`sem_clockwait`); a zero timeout tries once; a
//! timeout too large for a `timespec` waits for ever. Semaphores have no owner: a process
//! that dies between `wait` and `post` takes its unit with it.
//!
//! # References
//! - <https://man7.org/linux/man-pages/man7/sem_overview.7.html>

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use crate::Errno;

use crate::layout::{SharedLayout, TypeLayout};
use crate::name::{self, NameKind};
use crate::sync::sys;
use crate::{CreateMode, Error, ErrorKind, Result};

/// `SEM_VALUE_MAX`: the largest value a semaphore can hold on Linux (glibc's
/// `SEM_VALUE_MAX`, `INT_MAX`).
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

/// The operations shared by both kinds, on a raw `sem_t` pointer.
mod raw {
    use super::*;

    /// The error of a failed semaphore call, with the kinds callers act on.
    pub(super) fn err(op: &'static str, e: Errno) -> Error {
        match e {
            Errno::EOVERFLOW => Error::new(
                op,
                ErrorKind::LimitReached("semaphore value at SEM_VALUE_MAX".into()),
            ),
            e => Error::os(op, e),
        }
    }

    /// `sem_post`.
    ///
    /// # Safety
    /// `s` points to an initialised semaphore that stays valid for the call.
    #[inline]
    pub(super) unsafe fn post(s: *mut libc::sem_t) -> Result<()> {
        // SAFETY: `s` is a valid initialised semaphore (caller's contract).
        if unsafe { libc::sem_post(s) } == 0 {
            Ok(())
        } else {
            Err(err("sem_post", Errno::last()))
        }
    }

    /// One `sem_trywait`, returning 0 or the error number.
    ///
    /// # Safety
    /// As [`post`].
    #[inline]
    unsafe fn try_once(s: *mut libc::sem_t) -> c_int {
        // SAFETY: `s` is a valid initialised semaphore (caller's contract).
        if unsafe { libc::sem_trywait(s) } == 0 {
            0
        } else {
            Errno::last_raw()
        }
    }

    /// After a `sem_trywait` found the value 0: a few more, each after a short growing
    /// backoff; `EAGAIN` if the value stayed 0.
    ///
    /// # Safety
    /// As [`post`].
    unsafe fn spin_try(s: *mut libc::sem_t) -> c_int {
        let mut r = libc::EAGAIN;
        let mut i = 0;
        while r == libc::EAGAIN && i < sys::SPIN_TRIES {
            sys::backoff(i);
            // SAFETY: forwarded.
            r = unsafe { try_once(s) };
            i += 1;
        }
        r
    }

    /// `sem_wait`: one `sem_trywait` inline; if the value is 0, the out-of-line slow path.
    ///
    /// # Safety
    /// As [`post`].
    #[inline]
    pub(super) unsafe fn wait(s: *mut libc::sem_t) -> Result<()> {
        // SAFETY: forwarded.
        match unsafe { try_once(s) } {
            0 => Ok(()),
            // SAFETY: forwarded.
            libc::EAGAIN => unsafe { wait_contended(s) },
            e => Err(err("sem_wait", Errno::from_raw(e))),
        }
    }

    /// The slow path of [`wait`]: a brief spin, then `sem_wait`, retrying on `EINTR`.
    ///
    /// # Safety
    /// As [`post`].
    #[cold]
    #[inline(never)]
    unsafe fn wait_contended(s: *mut libc::sem_t) -> Result<()> {
        // SAFETY: forwarded.
        match unsafe { spin_try(s) } {
            0 => return Ok(()),
            libc::EAGAIN => {}
            e => return Err(err("sem_wait", Errno::from_raw(e))),
        }
        loop {
            // SAFETY: `s` is a valid initialised semaphore (caller's contract).
            if unsafe { libc::sem_wait(s) } == 0 {
                return Ok(());
            }
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(err("sem_wait", e)),
            }
        }
    }

    /// `sem_trywait`.
    ///
    /// # Safety
    /// As [`post`].
    #[inline]
    pub(super) unsafe fn try_wait(s: *mut libc::sem_t) -> Result<()> {
        // SAFETY: forwarded.
        match unsafe { try_once(s) } {
            0 => Ok(()),
            libc::EAGAIN => Err(Error::new("sem_trywait", ErrorKind::WouldBlock)),
            e => Err(err("sem_trywait", Errno::from_raw(e))),
        }
    }

    /// `sem_clockwait` on CLOCK_MONOTONIC.
    ///
    /// # Safety
    /// As [`post`].
    pub(super) unsafe fn wait_timeout(s: *mut libc::sem_t, d: Duration) -> Result<()> {
        const OP: &str = "sem_clockwait";
        // SAFETY: forwarded.
        let mut r = unsafe { try_once(s) };
        if r == libc::EAGAIN && !d.is_zero() {
            // SAFETY: forwarded.
            r = unsafe { spin_try(s) };
        }
        match r {
            0 => return Ok(()),
            libc::EAGAIN if !d.is_zero() => {}
            libc::EAGAIN => return Err(Error::new(OP, ErrorKind::Timeout)),
            e => return Err(err(OP, Errno::from_raw(e))),
        }
        let r = match sys::sem_clockwait() {
            Some(clockwait) => {
                let abs = sys::monotonic_after(d);
                loop {
                    // SAFETY: `clockwait` is glibc's sem_clockwait; `s` is a valid initialised
                    // semaphore (caller's contract); `abs` is a valid timespec alive for the
                    // call.
                    if unsafe { clockwait(s, libc::CLOCK_MONOTONIC, &abs) } == 0 {
                        break 0;
                    }
                    match Errno::last_raw() {
                        libc::EINTR => continue,
                        e => break e,
                    }
                }
            }
            // SAFETY: forwarded.
            None => sys::poll_until(d, libc::EAGAIN, || unsafe { try_once(s) }),
        };
        match r {
            0 => Ok(()),
            libc::EAGAIN => Err(Error::new(OP, ErrorKind::Timeout)),
            e => Err(err(OP, Errno::from_raw(e))),
        }
    }

    /// `sem_getvalue`.
    ///
    /// # Safety
    /// As [`post`].
    pub(super) unsafe fn value(s: *mut libc::sem_t) -> u32 {
        let mut v: c_int = 0;
        // SAFETY: `s` is a valid initialised semaphore (caller's contract); `v` is a valid
        // out-pointer. glibc's sem_getvalue cannot fail for a valid semaphore.
        unsafe { libc::sem_getvalue(s, &mut v) };
        // glibc never reports waiters as a negative value; clamp anyway.
        u32::try_from(v).unwrap_or(0)
    }
}

/// Checks an initial value against [`SEM_VALUE_MAX`].
fn check_value(op: &'static str, value: u32) -> Result<()> {
    if value > SEM_VALUE_MAX {
        return Err(Error::new(
            op,
            ErrorKind::InvalidInput(format!(
                "initial value {value} exceeds SEM_VALUE_MAX ({SEM_VALUE_MAX})"
            )),
        ));
    }
    Ok(())
}

/// A counting semaphore that lives in shared memory and works across processes: a `sem_t`
/// initialised with `sem_init(pshared = 1)`.
///
/// Created only in place, by [`SharedLayout::init_in_place`] (value 0) or
/// [`init_in_place_with`](Self::init_in_place_with), and never moved afterwards.
///
/// # References
/// - <https://man7.org/linux/man-pages/man3/sem_init.3.html>
#[repr(transparent)]
#[doc(alias = "sem_t")]
pub struct Semaphore {
    inner: UnsafeCell<libc::sem_t>,
}

// SAFETY: every operation goes through the sem_* calls, which are atomic with respect to
// each other in any thread and process.
unsafe impl Sync for Semaphore {}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

// SAFETY: 1. repr(transparent) over `sem_t`, a repr(C) byte array in `libc`; 2. valid for
// every bit pattern as Rust data (glibc's process-shared sem_t is a 64-bit count/waiters word
// and a private flag); 3. no pointer; 4. no Drop (sem_destroy is a no-op on Linux);
// 5. LAYOUT names its exact size and alignment.
unsafe impl SharedLayout for Semaphore {
    const LAYOUT: TypeLayout = TypeLayout::opaque(
        "Semaphore",
        std::mem::size_of::<Self>(),
        std::mem::align_of::<Self>(),
    );

    /// `sem_init(this, 1, 0)`.
    ///
    /// # Safety
    /// As [`SharedLayout::init_in_place`].
    unsafe fn init_in_place(this: *mut Self) -> Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { Self::init_in_place_with(this, 0) }
    }
}

impl Semaphore {
    /// `sem_init` with `pshared = 1`: turns the memory at `this` into a process-shared
    /// semaphore holding `value`.
    ///
    /// # Errors
    /// [`InvalidInput`](ErrorKind::InvalidInput) when `value > SEM_VALUE_MAX`.
    ///
    /// # Safety
    /// `this` is valid for writes of `size_of::<Semaphore>()` bytes and aligned, and no other
    /// thread or process uses it until this returns (re-initialising a semaphore that others
    /// wait on is undefined behaviour in C terms).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_init.3.html>
    #[doc(alias = "sem_init")]
    pub unsafe fn init_in_place_with(this: *mut Self, value: u32) -> Result<()> {
        check_value("sem_init", value)?;
        // SAFETY: `this` is valid for writes and aligned (caller's contract); `UnsafeCell<T>`
        // has the layout of `T`, so the cast addresses the `sem_t`.
        if unsafe { libc::sem_init(this.cast::<libc::sem_t>(), 1, value) } == 0 {
            Ok(())
        } else {
            Err(Error::os("sem_init", Errno::last()))
        }
    }

    #[inline]
    fn raw(&self) -> *mut libc::sem_t {
        self.inner.get()
    }

    /// `sem_post`: increments the value, waking one waiter.
    ///
    /// # Errors
    /// [`LimitReached`](ErrorKind::LimitReached) when the value is [`SEM_VALUE_MAX`].
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_post.3.html>
    #[doc(alias = "sem_post")]
    #[inline]
    pub fn post(&self) -> Result<()> {
        // SAFETY: `self` is an initialised semaphore (reachable by reference only after
        // in-place initialisation) that does not move while borrowed.
        unsafe { raw::post(self.raw()) }
    }

    /// `sem_wait`: decrements the value, sleeping while it is 0 (after a brief spin).
    /// Signals do not interrupt it.
    ///
    /// # Errors
    /// OS errors (`EINVAL` for memory that is not an initialised semaphore).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_wait.3.html>
    #[doc(alias = "sem_wait")]
    #[inline]
    pub fn wait(&self) -> Result<()> {
        // SAFETY: as in `post`.
        unsafe { raw::wait(self.raw()) }
    }

    /// `sem_trywait`: decrements the value if it is above 0, without waiting.
    ///
    /// # Errors
    /// [`WouldBlock`](ErrorKind::WouldBlock) when the value is 0.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_wait.3.html>
    #[doc(alias = "sem_trywait")]
    #[inline]
    pub fn try_wait(&self) -> Result<()> {
        // SAFETY: as in `post`.
        unsafe { raw::try_wait(self.raw()) }
    }

    /// `sem_clockwait` on CLOCK_MONOTONIC: decrements the value, waiting at most `d` for it
    /// to rise above 0 (zero: try once).
    ///
    /// # Errors
    /// [`Timeout`](ErrorKind::Timeout) when `d` passed.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_wait.3.html> (glibc's `sem_clockwait`
    ///   is `sem_timedwait` with the clock as an extra argument)
    #[doc(alias = "sem_clockwait")]
    #[doc(alias = "sem_timedwait")]
    pub fn wait_timeout(&self, d: Duration) -> Result<()> {
        // SAFETY: as in `post`.
        unsafe { raw::wait_timeout(self.raw(), d) }
    }

    /// `sem_getvalue`: the current value (a snapshot that may change at once).
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_getvalue.3.html>
    #[doc(alias = "sem_getvalue")]
    pub fn value(&self) -> u32 {
        // SAFETY: as in `post`.
        unsafe { raw::value(self.raw()) }
    }

    /// [`wait`](Self::wait), returning a guard that [`post`](Self::post)s on drop.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub fn guard(&self) -> Result<SemGuard<'_>> {
        self.wait()?;
        Ok(SemGuard::new(self.raw()))
    }

    /// [`wait_timeout`](Self::wait_timeout), returning a guard that posts on drop.
    ///
    /// # Errors
    /// As [`wait_timeout`](Self::wait_timeout).
    pub fn guard_timeout(&self, d: Duration) -> Result<SemGuard<'_>> {
        self.wait_timeout(d)?;
        Ok(SemGuard::new(self.raw()))
    }
}

/// A unit taken from a semaphore, given back (`sem_post`) on drop.
#[must_use = "the unit is given back as soon as the guard is dropped"]
pub struct SemGuard<'a> {
    sem: *mut libc::sem_t,
    _borrow: PhantomData<&'a ()>,
}

// SAFETY: posting a semaphore from any thread is allowed (semaphores have no owner), and
// the pointer stays valid for 'a, borrowed from the semaphore that created the guard.
unsafe impl Send for SemGuard<'_> {}
// SAFETY: `&SemGuard` exposes nothing.
unsafe impl Sync for SemGuard<'_> {}

impl SemGuard<'_> {
    fn new(sem: *mut libc::sem_t) -> Self {
        SemGuard {
            sem,
            _borrow: PhantomData,
        }
    }

    /// Keeps the unit: drops the guard without posting.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl std::fmt::Debug for SemGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SemGuard")
    }
}

impl Drop for SemGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the semaphore outlives the guard ('a borrows it). The only failure is
        // EOVERFLOW, impossible since this guard's own wait took a unit.
        let _ = unsafe { raw::post(self.sem) };
    }
}

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
    mode: u32,
    unlink_on_drop: Option<bool>,
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
            mode: crate::shm::DEFAULT_MODE,
            unlink_on_drop: None,
        }
    }

    /// The initial value when this call creates the semaphore (default 0, at most
    /// [`SEM_VALUE_MAX`]).
    pub fn value(mut self, value: u32) -> Self {
        self.value = value;
        self
    }

    /// The permission bits of a created semaphore (default `0o600`, at most `0o777`),
    /// applied with `chmod` after the create so that the umask cannot change them.
    pub fn mode(mut self, bits: u32) -> Self {
        self.mode = bits;
        self
    }

    /// Whether dropping the handle unlinks the name. Default: true exactly when this call
    /// created the semaphore (see [`NamedSemaphore::set_unlink_on_drop`]).
    pub fn unlink_on_drop(mut self, yes: bool) -> Self {
        self.unlink_on_drop = Some(yes);
        self
    }

    /// `sem_open(O_CREAT | O_EXCL)`: creates the semaphore `name`.
    ///
    /// # Errors
    /// [`AlreadyExists`](ErrorKind::AlreadyExists) when the name is taken;
    /// [`InvalidName`](ErrorKind::InvalidName); [`InvalidInput`](ErrorKind::InvalidInput)
    /// when the value exceeds [`SEM_VALUE_MAX`] or the mode has bits outside `0o777`;
    /// [`LimitReached`](ErrorKind::LimitReached) naming `RLIMIT_FSIZE` when the file-size
    /// limit is below the size of a `sem_t` (glibc writes the semaphore to a file: the
    /// write would raise `SIGXFSZ`); other OS errors.
    ///
    /// # References
    /// - <https://man7.org/linux/man-pages/man3/sem_open.3.html>
    #[doc(alias = "sem_open")]
    pub fn create(&self, name: &str) -> Result<NamedSemaphore> {
        self.open_as(name, CreateMode::Exclusive)
    }

    /// `sem_open` without `O_CREAT`: opens the existing semaphore `name`.
    ///
    /// # Errors
    /// [`NotFound`](ErrorKind::NotFound) (its message recalls that a creator's handle
    /// unlinks the name when dropped), [`PermissionDenied`](ErrorKind::PermissionDenied),
    /// [`InvalidName`](ErrorKind::InvalidName); [`WrongType`](ErrorKind::WrongType) when the
    /// file glibc keeps under the name (`/dev/shm/sem.NAME`) is too small to be a semaphore
    /// (mapping it would fault); other OS errors.
    #[doc(alias = "sem_open")]
    pub fn open(&self, name: &str) -> Result<NamedSemaphore> {
        self.open_as(name, CreateMode::OpenExisting)
    }

    /// Opens the semaphore `name`, creating it if it does not exist. When several processes
    /// race, exactly one creates it ([`NamedSemaphore::created`] says which).
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open).
    #[doc(alias = "sem_open")]
    pub fn open_or_create(&self, name: &str) -> Result<NamedSemaphore> {
        self.open_as(name, CreateMode::OpenOrCreate)
    }

    fn open_as(&self, name: &str, how: CreateMode) -> Result<NamedSemaphore> {
        const OP: &str = "sem_open";
        let cname = name::validate(OP, name, NameKind::Semaphore)?;
        let path = format!("/dev/shm/sem.{}", &name[1..]);
        if how != CreateMode::OpenExisting {
            check_value(OP, self.value).map_err(|e| e.with_name(name))?;
            crate::shm::check_mode(OP, self.mode).map_err(|e| e.with_name(name))?;
        }
        let create = || -> Result<NonNull<libc::sem_t>> {
            // glibc writes the new semaphore into a file: below RLIMIT_FSIZE that write
            // would raise SIGXFSZ and kill the process.
            crate::shm::check_fsize(OP, std::mem::size_of::<libc::sem_t>())
                .map_err(|e| e.with_name(name))?;
            // SAFETY: `cname` is a valid NUL-terminated name; with O_CREAT, sem_open reads a
            // mode_t and an unsigned int from its variadic arguments, passed here as c_uint.
            let p = unsafe {
                libc::sem_open(
                    cname.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL,
                    self.mode as libc::c_uint,
                    self.value as libc::c_uint,
                )
            };
            let sem = opened(p, name)?;
            // The umask may have narrowed the permissions: set them exactly. glibc keeps a
            // named semaphore as the file `sem.NAME` in /dev/shm.
            if let Err(e) = std::fs::set_permissions(
                &path,
                std::os::unix::fs::PermissionsExt::from_mode(self.mode),
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
                        Err(e) if *e.kind() == ErrorKind::AlreadyExists => {}
                        r => break (r?, true),
                    }
                    match open() {
                        Err(e) if *e.kind() == ErrorKind::NotFound && tries < 100 => {}
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
                .unlink_on_drop
                .unwrap_or(created)
                .then(std::process::id),
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
    unlinker: Option<u32>,
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

impl NamedSemaphore {
    /// `sem_open(O_CREAT | O_EXCL)`: creates the semaphore `name` holding `value`, mode
    /// `0o600`; the name is unlinked when this handle drops. Shortcut for
    /// `NamedSemaphore::options().value(value).create(name)`; errors as
    /// [`SemOptions::create`].
    #[doc(alias = "sem_open")]
    pub fn create(name: &str, value: u32) -> Result<Self> {
        Self::options().value(value).create(name)
    }

    /// `sem_open` without `O_CREAT`: opens the existing semaphore `name`. Shortcut for
    /// `NamedSemaphore::options().open(name)`; errors as [`SemOptions::open`].
    #[doc(alias = "sem_open")]
    pub fn open(name: &str) -> Result<Self> {
        Self::options().open(name)
    }

    /// Opens the semaphore `name`, creating it with `value` (mode `0o600`) if it does not
    /// exist; race-safe. Shortcut for
    /// `NamedSemaphore::options().value(value).open_or_create(name)`.
    #[doc(alias = "sem_open")]
    pub fn open_or_create(name: &str, value: u32) -> Result<Self> {
        Self::options().value(value).open_or_create(name)
    }

    /// The builder for every other combination (mode bits, who unlinks); the same as
    /// [`SemOptions::new`].
    pub fn options() -> SemOptions {
        SemOptions::new()
    }

    /// The name this semaphore was opened with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this handle created the semaphore (rather than opening an existing one).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether dropping this handle (in this process) unlinks the name.
    pub fn unlinks_on_drop(&self) -> bool {
        self.unlinker == Some(std::process::id())
    }

    /// Chooses whether dropping this handle unlinks the name: `false` keeps the semaphore
    /// after this process (until [`unlink`] or a reboot); `true` makes this process's
    /// handle unlink it, also if another process created it.
    pub fn set_unlink_on_drop(&mut self, yes: bool) {
        self.unlinker = yes.then(std::process::id);
    }

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
