//! System V shared memory (`shmget`, `shmat`, `shmdt`, `shmctl`, `ftok`).
//!
//! A segment is found by a [`Key`] (from [`ftok`], a number agreed on, or
//! [`Key::PRIVATE`] for a fresh one whose id is passed along) or by its id. [`SysvShm`]
//! attaches it read-write or read-only, detaches on drop, and, when it created the segment,
//! removes it (`IPC_RMID`) on drop unless told otherwise (the [lifetime
//! table](crate#options-and-lifetimes)): the segment then disappears once the last process
//! detaches. [`SysvShmOptions`] is the builder shared by every named kind, over keys.
//!
//! Permissions of System V objects are not subject to the umask: the mode given to
//! [`SysvShmOptions::mode`] is the mode the segment gets.
//!
//! ```no_run
//! use ipc_core::shm::sysv::{Key, SysvShm};
//! use ipc_core::Memory;
//!
//! let seg = SysvShm::create(Key::PRIVATE, 1 << 16)?;
//! let id = seg.id(); // pass to another process, which calls SysvShm::open_id(id)
//! let info = seg.info()?;
//! assert_eq!(info.attach_count, 1);
//! # Ok::<(), ipc_core::Error>(())
//! ```
//!
//! # References
//! [sysvipc(7)](https://man7.org/linux/man-pages/man7/sysvipc.7.html)

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Errno;

use crate::shm::check_size;
use crate::{Error, ErrorKind, Memory, Result};

/// `SHM_DEST` of `<linux/shm.h>`: the segment is marked for removal (`IPC_RMID`) and goes
/// away when the last process detaches.
const SHM_DEST: u32 = 0o1000;

/// A System V IPC key: the name under which unrelated processes find a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(libc::key_t);

impl Key {
    /// `IPC_PRIVATE`: always creates a new segment, reachable only through its id.
    #[doc(alias = "IPC_PRIVATE")]
    pub const PRIVATE: Key = Key(libc::IPC_PRIVATE);

    /// A key from a number the cooperating programs agreed on. `0` is
    /// [`Key::PRIVATE`].
    pub const fn new(raw: libc::key_t) -> Key {
        Key(raw)
    }

    /// The raw `key_t`.
    pub const fn raw(self) -> libc::key_t {
        self.0
    }

    /// Whether this is [`Key::PRIVATE`].
    pub const fn is_private(self) -> bool {
        self.0 == libc::IPC_PRIVATE
    }
}

/// `ftok`: derives a [`Key`] from an existing file (its inode and device) and the low 8
/// bits `proj_id`, which must not be zero.
///
/// The same path and `proj_id` give the same key for as long as the file is not replaced.
///
/// Errors: [`ErrorKind::InvalidInput`] for `proj_id` 0 or a path with a NUL byte;
/// [`ErrorKind::NotFound`] if the file does not exist; other `stat` errors.
///
/// # References
/// [ftok(3)](https://man7.org/linux/man-pages/man3/ftok.3.html)
pub fn ftok(path: impl AsRef<Path>, proj_id: u8) -> Result<Key> {
    let path = path.as_ref();
    let named = |e: Error| e.with_name(path.to_string_lossy());
    if proj_id == 0 {
        return Err(named(Error::with_text(
            "ftok",
            ErrorKind::InvalidInput,
            "proj_id must not be 0",
        )));
    }
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        named(Error::with_text(
            "ftok",
            ErrorKind::InvalidInput,
            "path contains a NUL byte",
        ))
    })?;
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    let key = unsafe { libc::ftok(c_path.as_ptr(), libc::c_int::from(proj_id)) };
    if key == -1 {
        return Err(named(Error::os("ftok", Errno::last())));
    }
    Ok(Key(key))
}

/// What `shmctl(IPC_STAT)` tells about a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SysvShmInfo {
    /// The key the segment was created with ([`Key::PRIVATE`] for a private one).
    pub key: Key,
    /// The segment's size in bytes (`shm_segsz`).
    pub size: usize,
    /// The pid of the process that created it (`shm_cpid`).
    pub creator_pid: i32,
    /// The pid of the last process that attached or detached (`shm_lpid`).
    pub last_pid: i32,
    /// How many attachments exist, in all processes (`shm_nattch`).
    pub attach_count: u64,
    /// The permission bits (`shm_perm.mode & 0o777`).
    pub mode: u32,
    /// Whether the segment is marked for removal (`SHM_DEST`): it goes away when the last
    /// attachment is detached, and can no longer be found by key.
    pub removed: bool,
    /// The owner's user id (`shm_perm.uid`).
    pub uid: u32,
    /// The owner's group id (`shm_perm.gid`).
    pub gid: u32,
    /// The creator's user id (`shm_perm.cuid`).
    pub creator_uid: u32,
    /// The creator's group id (`shm_perm.cgid`).
    pub creator_gid: u32,
    /// The last attach (`shm_atime`), if any.
    pub atime: Option<SystemTime>,
    /// The last detach (`shm_dtime`), if any.
    pub dtime: Option<SystemTime>,
    /// The last change: creation or `IPC_SET` (`shm_ctime`).
    pub ctime: SystemTime,
}

fn time(t: libc::time_t) -> Option<SystemTime> {
    u64::try_from(t)
        .ok()
        .filter(|&s| s != 0)
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// How errors name a segment found by id.
fn id_name(id: i32) -> String {
    format!("id {id}")
}

/// Maps an errno of an id-based call: an id that no longer (or never) names a segment is
/// [`ErrorKind::NotFound`].
fn id_error(op: &'static str, e: Errno) -> Error {
    match e {
        Errno::EINVAL | Errno::EIDRM => Error::new(op, ErrorKind::NotFound),
        e => Error::os(op, e),
    }
}

fn stat(id: i32) -> Result<libc::shmid_ds> {
    let mut ds = MaybeUninit::<libc::shmid_ds>::zeroed();
    // SAFETY: ds points to a writable shmid_ds that outlives the call; IPC_STAT only
    // writes into it.
    let r = unsafe { libc::shmctl(id, libc::IPC_STAT, ds.as_mut_ptr()) };
    if r == -1 {
        return Err(id_error("shmctl(IPC_STAT)", Errno::last()).with_name(id_name(id)));
    }
    // SAFETY: IPC_STAT succeeded and filled the struct (and it was zeroed before, so every
    // padding byte is initialised too).
    Ok(unsafe { ds.assume_init() })
}

/// `shmctl(IPC_STAT)`: what the kernel knows about segment `id`.
///
/// # References
/// [shmctl(2)](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[doc(alias = "shmctl")]
#[doc(alias = "IPC_STAT")]
pub fn info(id: i32) -> Result<SysvShmInfo> {
    let ds = stat(id)?;
    let mode = u32::from(ds.shm_perm.mode);
    Ok(SysvShmInfo {
        key: Key(ds.shm_perm.__key),
        size: ds.shm_segsz,
        creator_pid: ds.shm_cpid,
        last_pid: ds.shm_lpid,
        attach_count: ds.shm_nattch,
        mode: mode & 0o777,
        removed: mode & SHM_DEST != 0,
        uid: ds.shm_perm.uid,
        gid: ds.shm_perm.gid,
        creator_uid: ds.shm_perm.cuid,
        creator_gid: ds.shm_perm.cgid,
        atime: time(ds.shm_atime),
        dtime: time(ds.shm_dtime),
        ctime: time(ds.shm_ctime).unwrap_or(UNIX_EPOCH),
    })
}

/// `shmctl(IPC_RMID)`: marks segment `id` for removal. It disappears when the last process
/// detaches; until then attached processes keep using it, but it can no longer be found
/// by key.
///
/// # References
/// [shmctl(2)](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[doc(alias = "shmctl")]
#[doc(alias = "IPC_RMID")]
pub fn remove(id: i32) -> Result<()> {
    // SAFETY: IPC_RMID ignores the buffer argument, so a null pointer is fine.
    let r = unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    if r == -1 {
        return Err(id_error("shmctl(IPC_RMID)", Errno::last()).with_name(id_name(id)));
    }
    Ok(())
}

/// `shmctl(IPC_SET)`: sets the permission bits of segment `id` (at most `0o777`); owner
/// and group stay as they are.
///
/// # References
/// [shmctl(2)](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[doc(alias = "shmctl")]
#[doc(alias = "IPC_SET")]
pub fn set_mode(id: i32, mode: u32) -> Result<()> {
    crate::sys::file::check_mode("shmctl(IPC_SET)", mode)?;
    let mut ds = stat(id)?;
    // Keep the kernel's flag bits (SHM_DEST, SHM_LOCKED); IPC_SET only takes the low 9.
    ds.shm_perm.mode = (ds.shm_perm.mode & !0o777) | mode as libc::c_ushort;
    // SAFETY: ds is a valid, initialised shmid_ds (from IPC_STAT) that outlives the call;
    // IPC_SET only reads it.
    let r = unsafe { libc::shmctl(id, libc::IPC_SET, &mut ds) };
    if r == -1 {
        return Err(id_error("shmctl(IPC_SET)", Errno::last()).with_name(id_name(id)));
    }
    Ok(())
}

/// An attached System V shared-memory segment.
///
/// Detached (`shmdt`) on drop. A handle that created the segment also removes it
/// (`IPC_RMID`) on drop unless [`set_unlink_on_drop(false)`](SysvShm::set_unlink_on_drop)
/// (or [`SysvShmOptions::unlink_on_drop`]) makes it persist (see the [lifetime
/// table](crate#options-and-lifetimes)); handles that opened an existing segment never remove it unless asked.
/// Only the process that made the handle removes the segment: a copy inherited by a forked
/// child (attachments are inherited) only detaches.
///
/// # References
/// [shmget(2)](https://man7.org/linux/man-pages/man2/shmget.2.html),
/// [shmat(2)](https://man7.org/linux/man-pages/man2/shmat.2.html),
/// [shmctl(2)](https://man7.org/linux/man-pages/man2/shmctl.2.html)
#[derive(Debug)]
#[doc(alias = "shmget")]
#[doc(alias = "shmat")]
pub struct SysvShm {
    /// Invariant: the address `shmat` returned, attached until Drop; `len` bytes readable
    /// (and writable unless `read_only`).
    addr: NonNull<u8>,
    len: usize,
    id: i32,
    key: Key,
    read_only: bool,
    created: bool,
    /// The pid of the process that removes the segment on drop, if any (a forked child's
    /// copy of the handle must not).
    remover: Option<crate::process::Owner>,
}

// SAFETY: the handle is an address range plus plain ids; detaching from another thread is
// fine, and the bytes are only reached through raw pointers whose users synchronise (see
// `Memory`).
unsafe impl Send for SysvShm {}
// SAFETY: `&SysvShm` only gives out the address, length and ids, and IPC_STAT/IPC_SET,
// which the kernel serialises.
unsafe impl Sync for SysvShm {}

// SAFETY: (1) `addr` is the start of a live attachment (shmat without SHM_RND or an address
// hint returns a page-aligned address) of `len` bytes, the segment size from IPC_STAT,
// readable and writable unless attached with SHM_RDONLY; (2) it is detached only in Drop;
// (3) a System V segment's size never changes, and `len` is fixed at construction.
unsafe impl Memory for SysvShm {
    fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }
    fn len(&self) -> usize {
        self.len
    }
    fn is_read_only(&self) -> bool {
        self.read_only
    }
}

impl SysvShm {
    /// `shmget(key, size, IPC_CREAT | IPC_EXCL | 0o600)` + `shmat`: creates a new segment of
    /// `size` zero bytes and attaches it read-write; it is removed when this handle drops.
    /// Shortcut for `SysvShm::options().size(size).create(key)`; errors as
    /// [`SysvShmOptions::create`].
    ///
    /// # References
    /// [shmget(2)](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmget")]
    pub fn create(key: Key, size: usize) -> Result<SysvShm> {
        Self::options().size(size).create(key)
    }

    /// `shmget(key, 0, 0)` + `shmat`: attaches the existing segment of `key` read-write.
    /// Shortcut for `SysvShm::options().open(key)`; errors as [`SysvShmOptions::open`].
    #[doc(alias = "shmget")]
    pub fn open(key: Key) -> Result<SysvShm> {
        Self::options().open(key)
    }

    /// Attaches the segment of `key`, creating it with `size` bytes if it does not exist
    /// (race-safe). Shortcut for `SysvShm::options().size(size).open_or_create(key)`.
    #[doc(alias = "shmget")]
    pub fn open_or_create(key: Key, size: usize) -> Result<SysvShm> {
        Self::options().size(size).open_or_create(key)
    }

    /// `shmat(id)`: attaches segment `id` read-write. Shortcut for
    /// `SysvShm::options().open_id(id)`; errors as [`SysvShmOptions::open_id`].
    #[doc(alias = "shmat")]
    pub fn open_id(id: i32) -> Result<SysvShm> {
        Self::options().open_id(id)
    }

    /// The builder for every other combination (mode bits, read-only, who removes); the
    /// same as [`SysvShmOptions::new`].
    pub fn options() -> SysvShmOptions {
        SysvShmOptions::new()
    }

    /// `shmat` + `IPC_STAT` for the size.
    fn attach(id: i32, key: Key, read_only: bool) -> Result<SysvShm> {
        let flags = if read_only { libc::SHM_RDONLY } else { 0 };
        // SAFETY: a null address lets the kernel choose a free range, so no existing
        // mapping is replaced; the attachment is owned by the SysvShm built below (or
        // detached on the error path).
        let addr = unsafe { libc::shmat(id, std::ptr::null(), flags) };
        if addr as isize == -1 {
            return Err(id_error("shmat", Errno::last()).with_name(id_name(id)));
        }
        let detach = |e: Error| {
            // SAFETY: addr was just returned by a successful shmat and is not used after.
            unsafe { libc::shmdt(addr) };
            e.with_name(id_name(id))
        };
        let Some(nn) = NonNull::new(addr.cast::<u8>()) else {
            return Err(detach(Error::with_text(
                "shmat",
                ErrorKind::InvalidInput,
                "attached at address 0",
            )));
        };
        // The size is read after attaching: a System V segment's size never changes, and
        // the attachment keeps the segment alive.
        let ds = stat(id).map_err(detach)?;
        if ds.shm_segsz == 0 || ds.shm_segsz > isize::MAX as usize {
            // Size 0 cannot be used; above isize::MAX no Rust slice or offset could span it.
            return Err(detach(Error::with_text(
                "shmctl(IPC_STAT)",
                ErrorKind::InvalidSize,
                format!("segment of {} bytes", ds.shm_segsz),
            )));
        }
        Ok(SysvShm {
            addr: nn,
            len: ds.shm_segsz,
            id,
            key,
            read_only,
            created: false,
            remover: None,
        })
    }

    /// The segment id (what [`open_id`](SysvShm::open_id) takes in another process).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The key the segment was found or created by.
    pub fn key(&self) -> Key {
        self.key
    }

    /// Whether this handle created the segment.
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether dropping this handle (in this process) removes the segment (`IPC_RMID`).
    pub fn unlinks_on_drop(&self) -> bool {
        self.remover.is_some_and(crate::process::Owner::is_current)
    }

    /// Chooses whether dropping this handle removes the segment (`IPC_RMID`): `false` lets
    /// it persist (until [`remove`] or a reboot); `true` makes this process's handle remove
    /// it, also if another process created it.
    pub fn set_unlink_on_drop(&mut self, yes: bool) {
        self.remover = yes.then(crate::process::Owner::current);
    }

    /// `shmctl(IPC_STAT)`: size, pids, attach count, mode and times of this segment.
    ///
    /// # References
    /// [shmctl(2)](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "IPC_STAT")]
    pub fn info(&self) -> Result<SysvShmInfo> {
        info(self.id)
    }

    /// `shmctl(IPC_SET)`: sets the permission bits (at most `0o777`).
    ///
    /// # References
    /// [shmctl(2)](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "IPC_SET")]
    pub fn set_mode(&self, mode: u32) -> Result<()> {
        set_mode(self.id, mode)
    }

    /// `shmctl(IPC_RMID)`: marks the segment for removal now (it stays attached here and
    /// in other processes until each detaches) and stops this handle from removing it again.
    ///
    /// # References
    /// [shmctl(2)](https://man7.org/linux/man-pages/man2/shmctl.2.html)
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&mut self) -> Result<()> {
        self.remover = None;
        remove(self.id)
    }

    crate::shm::memory_accessors!("the segment size (`shm_segsz`)");
}

/// How a [`SysvShm`] is created or attached: the builder every named kind shares (see the
/// [crate documentation](crate#options-and-lifetimes)), over keys instead of names.
///
/// Where System V differs: the name is a [`Key`] (or an id, [`open_id`](Self::open_id));
/// "unlink" is `IPC_RMID` ([`remove`]), after which the segment lives on until the last
/// process detaches; an open never waits (`shmget` creates and sizes in one call), so there
/// is no `timeout`.
///
/// ```no_run
/// use ipc_core::shm::sysv::{Key, SysvShm};
/// let seg = SysvShm::options().size(1 << 16).mode(0o640).create(Key::new(0x5eed))?;
/// let ro = SysvShm::options().read_only(true).open_id(seg.id())?;
/// # Ok::<(), ipc_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct SysvShmOptions {
    size: Option<usize>,
    mode: u32,
    read_only: bool,
    unlink_on_drop: Option<bool>,
}

impl Default for SysvShmOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SysvShmOptions {
    /// No size, mode `0o600`, read-write, the creating handle removes on drop.
    pub fn new() -> Self {
        SysvShmOptions {
            size: None,
            mode: crate::shm::DEFAULT_MODE,
            read_only: false,
            unlink_on_drop: None,
        }
    }

    /// The size in bytes of a created segment (needed to create).
    pub fn size(mut self, bytes: usize) -> Self {
        self.size = Some(bytes);
        self
    }

    /// The permission bits of a created segment (default `0o600`, at most `0o777`; System V
    /// modes are not subject to the umask).
    pub fn mode(mut self, bits: u32) -> Self {
        self.mode = bits;
        self
    }

    /// Attach with `SHM_RDONLY` (writes through the mapping fault). Only for opens: a
    /// read-only creator is refused with [`ErrorKind::InvalidInput`].
    pub fn read_only(mut self, yes: bool) -> Self {
        self.read_only = yes;
        self
    }

    /// Whether dropping the handle removes the segment (`IPC_RMID`). Default: true exactly
    /// when this call created it.
    pub fn unlink_on_drop(mut self, yes: bool) -> Self {
        self.unlink_on_drop = Some(yes);
        self
    }

    /// `shmget(key, size, IPC_CREAT | IPC_EXCL | mode)` + `shmat`: creates a new segment of
    /// [`size`](Self::size) zero bytes. With [`Key::PRIVATE`] the segment is always new and
    /// found only by its [`id`](SysvShm::id).
    ///
    /// Errors: [`ErrorKind::InvalidSize`] (no size, 0, too large, or above
    /// `kernel.shmmax`), [`ErrorKind::AlreadyExists`], [`ErrorKind::NoSpace`]
    /// (`kernel.shmmni` or `kernel.shmall` reached, or no memory),
    /// [`ErrorKind::InvalidInput`] for a bad mode or `read_only`.
    ///
    /// # References
    /// [shmget(2)](https://man7.org/linux/man-pages/man2/shmget.2.html)
    #[doc(alias = "shmget")]
    pub fn create(&self, key: Key) -> Result<SysvShm> {
        let (id, _) = self.get(key, true)?;
        self.attach_new(id, key, true)
    }

    /// `shmget(key, 0, 0)` + `shmat`: attaches the existing segment of `key`.
    ///
    /// Errors: [`ErrorKind::NotFound`] (its message recalls that a creator's handle removes
    /// the segment when dropped), [`ErrorKind::PermissionDenied`],
    /// [`ErrorKind::InvalidInput`] for [`Key::PRIVATE`] (which never names an existing
    /// segment; use [`open_id`](Self::open_id)).
    ///
    /// # References
    /// [shmget(2)](https://man7.org/linux/man-pages/man2/shmget.2.html),
    /// [shmat(2)](https://man7.org/linux/man-pages/man2/shmat.2.html)
    #[doc(alias = "shmget")]
    pub fn open(&self, key: Key) -> Result<SysvShm> {
        let named = |e: Error| e.with_name(format!("key {:#x}", key.0));
        if key.is_private() {
            return Err(named(Error::with_text(
                "shmget",
                ErrorKind::InvalidInput,
                "IPC_PRIVATE never names an existing segment: open it by id",
            )));
        }
        // SAFETY: shmget takes plain values; size 0 and no IPC_CREAT only look up.
        let id = unsafe { libc::shmget(key.0, 0, 0) };
        if id == -1 {
            return Err(named(crate::error::not_found_hint(Error::os(
                "shmget",
                Errno::last(),
            ))));
        }
        self.attach_new(id, key, false)
    }

    /// Attaches the segment of `key`, creating it with [`size`](Self::size) bytes if it does
    /// not exist (race-safe: `shmget` decides atomically). [`SysvShm::created`] tells which
    /// happened. Errors: those of [`create`](Self::create) and [`open`](Self::open).
    #[doc(alias = "shmget")]
    pub fn open_or_create(&self, key: Key) -> Result<SysvShm> {
        if key.is_private() {
            return self.create(key);
        }
        let (id, created) = self.get(key, false)?;
        self.attach_new(id, key, created)
    }

    /// `shmat(id)`: attaches segment `id`, found by id rather than key.
    ///
    /// Errors: [`ErrorKind::NotFound`] if `id` names no segment (or a removed one),
    /// [`ErrorKind::PermissionDenied`].
    ///
    /// # References
    /// [shmat(2)](https://man7.org/linux/man-pages/man2/shmat.2.html)
    #[doc(alias = "shmat")]
    pub fn open_id(&self, id: i32) -> Result<SysvShm> {
        let key = info(id).map_err(crate::error::not_found_hint)?.key;
        self.attach_new(id, key, false)
    }

    /// `shmget` with `IPC_CREAT` (and `IPC_EXCL` when `exclusive`), checking the options
    /// first; returns the id and whether this call created the segment.
    fn get(&self, key: Key, exclusive: bool) -> Result<(i32, bool)> {
        let named = |e: Error| e.with_name(format!("key {:#x}", key.0));
        crate::sys::file::check_mode("shmget", self.mode).map_err(named)?;
        if self.read_only {
            return Err(named(Error::with_text(
                "shmget",
                ErrorKind::InvalidInput,
                "read_only with a creating mode: create read-write, then open read-only",
            )));
        }
        let Some(size) = self.size else {
            return Err(named(Error::with_text(
                "shmget",
                ErrorKind::InvalidSize,
                "no size given (SysvShmOptions::size)",
            )));
        };
        let size = check_size("shmget", size).map_err(named)?;
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | self.mode as libc::c_int;
        for _ in 0..64 {
            // SAFETY: shmget takes plain values.
            let id = unsafe { libc::shmget(key.0, size.get(), flags) };
            if id != -1 {
                return Ok((id, true));
            }
            let e = Errno::last();
            if e == Errno::EEXIST && !exclusive {
                // SAFETY: as above; no IPC_CREAT only looks up.
                let id = unsafe { libc::shmget(key.0, 0, 0) };
                if id != -1 {
                    return Ok((id, false));
                }
                match Errno::last() {
                    // Removed in between: create again.
                    Errno::ENOENT => continue,
                    e => return Err(named(Error::os("shmget", e))),
                }
            }
            return Err(named(match e {
                Errno::EINVAL => Error::with_text(
                    "shmget",
                    ErrorKind::InvalidSize,
                    format!("{size} bytes is outside kernel.shmmin..=kernel.shmmax"),
                ),
                e => Error::os("shmget", e),
            }));
        }
        Err(named(Error::with_text(
            "shmget",
            ErrorKind::LimitReached,
            "open-or-create: the key was created and removed by others 64 times in a row",
        )))
    }

    /// Attaches `id` and applies the lifetime options; a segment this call created is
    /// removed again if attaching fails.
    fn attach_new(&self, id: i32, key: Key, created: bool) -> Result<SysvShm> {
        match SysvShm::attach(id, key, self.read_only) {
            Ok(mut seg) => {
                seg.created = created;
                seg.set_unlink_on_drop(self.unlink_on_drop.unwrap_or(created));
                Ok(seg)
            }
            Err(e) => {
                if created {
                    let _ = remove(id);
                }
                Err(e)
            }
        }
    }
}

impl Drop for SysvShm {
    fn drop(&mut self) {
        // Remove before detaching: while this attachment exists the id cannot have been
        // reused for another segment, so the removal can only hit ours.
        if self.unlinks_on_drop() {
            let _ = remove(self.id);
        }
        // SAFETY: addr is this handle's live attachment (the type's invariant) and nothing
        // borrows the memory any more (borrows are tied to borrows of self).
        unsafe { libc::shmdt(self.addr.as_ptr().cast()) };
    }
}
