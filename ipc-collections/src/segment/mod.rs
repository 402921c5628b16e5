//! The init protocol over any [`Memory`]: how a creator writes and publishes a segment and how
//! an opener validates it and waits for it to be ready.
//!
//! Creator: claim the memory by compare-exchanging the magic word from zero (so that of two
//! handles on the same memory only one creates, and nobody writes over a live segment),
//! write the rest of the header (all of it but the magic and the state word) and the
//! schema, then store the state `INITIALIZING` with Release. Run the in-place initialisers
//! and the user's init with exclusive access to the payload, then store `READY` with
//! Release. If initialisation fails or panics, store `FAILED` (and remove a named segment's
//! name, with its creator's lock still held). Only the creating process stores `READY` or
//! `FAILED`: a child forked inside init leaves the state alone.
//!
//! A named segment (a POSIX shm object) is made without a name and under its creator's
//! lock (see [`Fresh::Unnamed`] and `named`): `O_TMPFILE` in `/dev/shm`, a whole-file
//! open-file-description write lock (`F_OFD_SETLK`), the space reserved, the header written
//! and `INITIALIZING` stored, and only then `linkat` gives it its name. So from the first
//! instant the name exists, the object carries a valid header (creator pid and start time)
//! and its creator's lock; the creator releases the lock after it stores `READY` (a failed
//! creator closes the object, which releases it too). A creator killed at any instruction
//! leaves either nothing (before `linkat`: the kernel frees the unnamed file) or an object
//! that is `INITIALIZING` and unlocked, which every opener recognises at once:
//!
//! - "being made" = state `UNSET`/`INITIALIZING` and another description holds the lock
//!   (`F_OFD_GETLK`): wait, up to the open timeout;
//! - "abandoned" = state `UNSET`/`INITIALIZING`, nobody holds the lock, and the recorded
//!   creator (pid and start time) is not alive: [`CreatorDied`](crate::ErrorKind::CreatorDied)
//!   at once. The pid check only makes this stricter (a creator of a build before the lock
//!   rule holds no lock; it is judged by its pid alone, as before).
//!
//! `open_or_create` and `ipc gc` remove an abandoned object with
//! [`creator::remove_if_abandoned`]: take the write lock on their own description (so of
//! several reclaimers exactly one goes on, and a live creator is never robbed), re-check the
//! state and the creator, check that the name still refers to the locked object (`fstat`
//! against a fresh `lstat`), and only then `shm_unlink`. A forked child that inherits the
//! creator's descriptor shares its lock (OFD locks belong to the description): the object
//! counts as being made until every holder has closed it or died, which errs on the side of
//! waiting, never of removing a live object.
//!
//! Opener: load the state with Acquire. `UNSET`: the creator has not written the header yet
//! (wait; a non-zero magic that is not ours means the object is not a segment). `INITIALIZING`
//! or `READY`: copy the header and schema out of the shared memory, validate the copy against
//! the real size, check it against the expected type (so a mismatch fails at once). If not
//! ready yet, check that the creator is alive (its lock for a named object, then its pid and
//! start time) and wait with a bounded timeout. Everything after uses only the validated
//! copy.

pub mod creator;
pub mod format;
pub(crate) mod named;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_core::layout::TypeLayout;
use ipc_core::Memory;

use crate::error::{Error, LayoutMismatch, Result};
use format::{
    state, Kind, Plan, SegmentInfo, Spec, ANY_SEGMENT, HEADER_LEN, MAGIC, MAGIC_OFFSET,
    PLAIN_START, STATE_OFFSET,
};

/// The default time an opener waits for a creator to finish initialising a segment.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(5);

/// What an opener expects to find: the kind and the identity of the stored type.
#[derive(Debug, Clone)]
pub(crate) struct Expect<'a> {
    pub kind: Kind,
    pub elem_size: usize,
    pub elem_align: usize,
    pub fingerprint: u64,
    /// The layout of the value or element type (its schema must equal the stored one).
    pub layout: &'a TypeLayout,
    /// The control block length the opener's build uses (0 for none).
    pub control_len: usize,
}

/// A validated segment over memory `M`.
#[derive(Debug)]
pub(crate) struct Segment<M: Memory> {
    mem: M,
    info: SegmentInfo,
    name: String,
}

/// What the memory of a new segment is.
pub(crate) enum Fresh<M> {
    /// Memory of unknown content (handed in by the caller): the claim decides whether it
    /// may be used, then everything after the first 12 bytes is zeroed.
    Used,
    /// Zero-filled memory (fresh anonymous memory).
    Zeroed,
    /// A new named object that has no name yet and holds its creator's lock
    /// (`named::create_shm`): zero-filled. `name` gives it its name once the header is
    /// written and `INITIALIZING` stored (its error, e.g. the name is taken, ends the create
    /// before `init` runs); `published` releases the lock once `READY` is stored; `failed`
    /// removes the name (only while it is still this object) after `FAILED` is stored, with
    /// the lock still held (FORMAT.md, init protocol step 8), whatever unlink-on-drop says.
    Unnamed {
        name: fn(&mut M) -> Result<()>,
        published: fn(&mut M),
        failed: fn(&M),
    },
}

/// Marks a segment FAILED unless disarmed, then runs `failed` (the named object's unlink):
/// covers an init that returns an error or panics. Only in the `owner` process: a child
/// forked inside init that fails leaves the parent's segment alone.
struct FailOnDrop<'a, M: Memory> {
    mem: &'a M,
    failed: Option<fn(&M)>,
    owner: ipc_core::process::Owner,
    armed: bool,
}

impl<M: Memory> Drop for FailOnDrop<'_, M> {
    fn drop(&mut self) {
        if self.armed && self.owner.is_current() {
            // Release: pairs with the Acquire load in `Segment::attach`.
            state_word(self.mem).store(state::FAILED, Ordering::Release);
            if let Some(failed) = self.failed {
                failed(self.mem);
            }
        }
    }
}

fn state_word<M: Memory>(mem: &M) -> &AtomicU32 {
    // SAFETY: callers checked mem.len() >= HEADER_LEN, so bytes 8..12 are inside the mapping,
    // which stays mapped while `mem` is borrowed (Memory contract 2); the mapping is
    // page-aligned (Memory contract 1), so offset 8 is aligned for AtomicU32. Every process
    // accesses this word only atomically.
    unsafe { &*mem.as_ptr().add(STATE_OFFSET).cast::<AtomicU32>() }
}

fn magic_word<M: Memory>(mem: &M) -> &AtomicU64 {
    // SAFETY: as in `state_word`: bytes 0..8 are inside the page-aligned mapping, which
    // outlives the borrow of `mem`, and offset 0 is aligned for AtomicU64. This crate only
    // ever accesses the magic atomically (the claim's compare-exchange, the openers' loads);
    // once the state is published it is immutable and also read as part of the header copy.
    unsafe { &*mem.as_ptr().add(MAGIC_OFFSET).cast::<AtomicU64>() }
}

/// Claims `mem` for a new segment: compare-exchanges the magic word from zero to
/// [`MAGIC`], so that of several handles that try to create a segment in the same memory
/// (a forked copy, a second mapping of the same object) exactly one goes on, and none ever
/// writes over a segment that others already use: handing out `&mut` to a payload that
/// another process reads would be a data race in safe code.
///
/// Refuses memory that already holds a segment ([`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists)) or other
/// data whose first 12 bytes are not zero ([`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)).
///
/// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists): ipc_core::ErrorKind::AlreadyExists
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput): ipc_core::ErrorKind::InvalidInput
fn claim<M: Memory>(op: &'static str, mem: &M, name: &str) -> Result<()> {
    use ipc_core::ErrorKind;
    let refuse = |kind| Err(ipc_core::Error::new(op, kind).with_name(name));
    let ours = u64::from_ne_bytes(MAGIC);
    // A state other than UNSET is only ever stored by a creator that won the claim below,
    // or by something that is not a creator of this format: either way the memory is in
    // use. (If a creator wins the claim between this load and the exchange, the exchange
    // fails.) Relaxed: nothing is read on the strength of this value.
    let found = if state_word(mem).load(Ordering::Relaxed) != state::UNSET {
        magic_word(mem).load(Ordering::Relaxed)
    } else {
        // Relaxed suffices for the claim: the exchange only decides who writes the header;
        // the header is published to openers by the Release store of the state.
        match magic_word(mem).compare_exchange(0, ours, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(()),
            Err(found) => found,
        }
    };
    if found == ours {
        return refuse(ErrorKind::AlreadyExists);
    }
    Err(ipc_core::Error::with_text(
        op,
        ErrorKind::InvalidInput,
        "the memory is in use: a segment can only be created in zero-filled memory",
    )
    .with_name(name))
}

/// The bounded wait of one open: one deadline shared by all its steps (waiting for a new
/// object to be sized, then for its creator to publish it), so that a whole open gives up
/// after about its timeout, not a multiple of it; the pause between looks grows from 50 µs
/// to 10 ms.
///
/// For a named object it also holds a descriptor of the object (a `dup` of the opener's),
/// through which the creator's lock is probed (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
    pause: Duration,
    lock_probe: Option<Arc<OwnedFd>>,
}

impl Deadline {
    /// `timeout` from now, or about a century from now if that overflows (an effectively
    /// unbounded wait, never a panic).
    pub(crate) fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        let at = now
            .checked_add(timeout)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
            .unwrap_or(now);
        Deadline {
            at,
            timeout,
            pause: Duration::from_micros(50),
            lock_probe: None,
        }
    }

    /// Probes the creator's lock through `fd` (a descriptor of the named object being
    /// opened) when judging whether its creator is alive.
    pub(crate) fn probe_lock(&mut self, fd: OwnedFd) {
        self.lock_probe = Some(Arc::new(fd));
    }

    /// Whether the creator of an unpublished segment is gone: nobody holds the creator's
    /// lock (for a named object; a probe that fails counts as held) and the recorded
    /// creator `pid`/`start_time` is not alive.
    fn creator_gone(&self, pid: i32, start_time: u64) -> bool {
        let held = self
            .lock_probe
            .as_ref()
            .is_some_and(|fd| ipc_core::shm::ofd::is_locked(fd.as_fd()).unwrap_or(true));
        !held && !creator::is_alive(pid, start_time)
    }

    /// Sleeps for the next pause (never past the deadline); `false`, at once, if the
    /// deadline has passed.
    pub(crate) fn sleep(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.at {
            return false;
        }
        std::thread::sleep(self.pause.min(self.at - now));
        self.pause = (self.pause * 2).min(Duration::from_millis(10));
        true
    }

    /// [`InitTimeout`](crate::ErrorKind::InitTimeout) for the object `name`, with the whole timeout;
    /// `header_seen`: whether the segment's magic had been written.
    pub(crate) fn timed_out(&self, name: &str, header_seen: bool) -> Error {
        Error::init_timeout(name, self.timeout, header_seen)
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl<M: Memory> Segment<M> {
    /// Writes and publishes a new segment in `mem` per `spec`/`plan`.
    ///
    /// The memory is claimed first (see [`claim`]): memory that already holds a segment or
    /// whose first 12 bytes are not zero is refused. `fresh` says whether `mem` is known to
    /// be zero-filled (otherwise the segment's bytes after the first 12 are zeroed once the
    /// claim is won) and whether it is a named object still to be named (see [`Fresh`]). `init` gets the segment while it is
    /// still unpublished (state INITIALIZING) and has exclusive access to the payload and
    /// control block.
    pub(crate) fn create(
        op: &'static str,
        mem: M,
        name: &str,
        spec: &Spec<'_>,
        plan: &Plan,
        fresh: Fresh<M>,
        init: impl FnOnce(&Segment<M>) -> Result<()>,
    ) -> Result<Self> {
        use ipc_core::ErrorKind;
        if mem.is_read_only() {
            return Err(ipc_core::Error::with_text(
                op,
                ErrorKind::InvalidInput,
                "cannot create a segment in read-only memory",
            )
            .with_name(name));
        }
        if mem.len() < plan.total_len {
            return Err(ipc_core::Error::with_text(
                op,
                ErrorKind::InvalidSize,
                format!(
                    "memory of {} bytes is smaller than the {} bytes the segment needs",
                    mem.len(),
                    plan.total_len
                ),
            )
            .with_name(name));
        }
        claim(op, &mem, name)?;
        let (pid, start) = creator::this_process();
        let created_at = now_ns();
        let header = format::encode(spec, plan, pid, start, created_at);
        let bytes = header.to_bytes();
        let base = mem.as_ptr();
        if matches!(fresh, Fresh::Used) {
            // SAFETY: bytes PLAIN_START..total_len lie inside the mapping (mem.len() >=
            // total_len > PLAIN_START) and are writable (not read-only, checked above). This
            // handle won the claim on the magic word just now, so no other creator writes
            // them, and no opener reads them before it observes the state INITIALIZING,
            // which is stored with Release below. The magic and state words (0..12) are
            // left alone: they are only ever accessed atomically.
            unsafe {
                base.add(PLAIN_START)
                    .write_bytes(0, plan.total_len - PLAIN_START)
            };
        }
        // SAFETY: bytes 12..HEADER_LEN and the schema (HEADER_LEN..HEADER_LEN + schema_len)
        // lie inside the mapping (total_len >= payload_offset >= HEADER_LEN + schema_len by
        // construction of the plan, and mem.len() >= total_len); the sources are local
        // buffers that cannot overlap the mapping. This handle won the claim, so it is the
        // only writer; openers do not read these bytes before they observe the state
        // INITIALIZING, which is stored with Release below.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr().add(PLAIN_START),
                base.add(PLAIN_START),
                HEADER_LEN - PLAIN_START,
            );
            std::ptr::copy_nonoverlapping(
                spec.schema.as_ptr(),
                base.add(HEADER_LEN),
                spec.schema.len(),
            );
        }
        // Release: publishes the header bytes; pairs with the Acquire load in `attach`.
        state_word(&mem).store(state::INITIALIZING, Ordering::Release);

        let info = SegmentInfo {
            kind: spec.kind,
            pointer_width: size_of::<usize>() as u8,
            creator_pid: pid,
            creator_start_time: start,
            creation_time_ns: created_at,
            elem_size: spec.elem_size,
            elem_align: spec.elem_align,
            fingerprint: spec.fingerprint,
            type_name: String::from_utf8_lossy(header.type_name_bytes()).into_owned(),
            schema: spec.schema.to_owned(),
            control: plan.control_offset..plan.control_offset + spec.control_len,
            payload: plan.payload_offset..plan.total_len,
            dims: spec.dims.to_vec(),
            ring_capacity: spec.ring_capacity,
        };
        let mut seg = Segment {
            mem,
            info,
            name: name.to_owned(),
        };
        // The header just written passes the validator and says what `info` says.
        debug_assert_eq!(
            seg.read_and_validate().ok().as_ref(),
            Some(&seg.info),
            "a freshly written header must validate"
        );
        if let Fresh::Unnamed { name, .. } = &fresh {
            // From here on openers find the object, INITIALIZING and locked. If naming
            // fails, `name` has removed any name it made: the object is freed when `seg`
            // drops.
            name(&mut seg.mem)?;
        }
        // Only this process publishes or fails the segment: a child forked inside `init`
        // that returns or unwinds through here leaves the state (and the name) alone.
        let owner = ipc_core::process::Owner::current();
        {
            let mut fail = FailOnDrop {
                mem: &seg.mem,
                failed: match &fresh {
                    Fresh::Unnamed { failed, .. } => Some(*failed),
                    _ => None,
                },
                owner,
                armed: true,
            };
            init(&seg)?;
            fail.armed = false;
        }
        if owner.is_current() {
            // Release: publishes the initialised payload; pairs with the Acquire load in
            // `attach`.
            state_word(&seg.mem).store(state::READY, Ordering::Release);
        }
        if let Fresh::Unnamed { published, .. } = fresh {
            // After READY: an opener that sees the lock gone and then loads the state sees
            // READY (the unlock is a system call after the store).
            published(&mut seg.mem);
        }
        Ok(seg)
    }

    /// Validates an existing segment in `mem` against `expect` (any kind and type if
    /// `None`), waiting until `wait`'s deadline for its creator to publish it.
    pub(crate) fn attach(
        mem: M,
        name: &str,
        expect: Option<&Expect<'_>>,
        mut wait: Deadline,
    ) -> Result<Self> {
        if mem.len() < HEADER_LEN {
            return Err(Error::corrupted(
                name,
                format!(
                    "object of {} bytes is smaller than the {HEADER_LEN}-byte header",
                    mem.len()
                ),
            ));
        }
        let mut seg = Segment {
            mem,
            info: placeholder_info(),
            name: name.to_owned(),
        };
        let mut checked = false;
        loop {
            // Acquire: pairs with the Release stores of the creator in `create`.
            let st = state_word(&seg.mem).load(Ordering::Acquire);
            // The magic is stored before the state leaves UNSET, so a segment never shows
            // a magic other than zero or ours.
            let magic = magic_word(&seg.mem).load(Ordering::Relaxed);
            if magic != 0 && magic != u64::from_ne_bytes(MAGIC) {
                let expected =
                    expect.map_or_else(|| ANY_SEGMENT.to_owned(), |e| e.kind.to_string());
                return Err(Error::wrong_kind(
                    name,
                    expected,
                    "no segment header (bad magic)",
                ));
            }
            match st {
                state::UNSET => {}
                state::INITIALIZING | state::READY => {
                    if !checked {
                        seg.info = seg.read_and_validate()?;
                        // A corrupted segment is corrupted to every opener, whatever type
                        // it expects: the control block of a ready one is checked first.
                        if st == state::READY {
                            seg.validate_control()?;
                        }
                        if let Some(expect) = expect {
                            seg.check(expect)?;
                        }
                        checked = true;
                    } else if st == state::READY {
                        // First seen initialising: its control block is formatted now.
                        seg.validate_control()?;
                    }
                    if st == state::READY {
                        return Ok(seg);
                    }
                    if wait.creator_gone(seg.info.creator_pid, seg.info.creator_start_time) {
                        // It may have published just before dying.
                        if state_word(&seg.mem).load(Ordering::Acquire) == state::READY {
                            continue;
                        }
                        return Err(Error::creator_died(name, seg.info.creator_pid));
                    }
                }
                state::FAILED => return Err(Error::init_failed(name)),
                other => {
                    return Err(Error::corrupted(
                        name,
                        format!("state word {other:#x} is none of 0..=3"),
                    ))
                }
            }
            if !wait.sleep() {
                return Err(wait.timed_out(name, magic != 0));
            }
        }
    }

    /// Copies the header and schema out of the shared memory and validates the copy.
    fn read_and_validate(&self) -> Result<SegmentInfo> {
        let len = self.mem.len();
        let mut buf = vec![0u8; HEADER_LEN];
        // SAFETY: len >= HEADER_LEN was checked by both callers (create: len >= total_len >
        // HEADER_LEN; attach: explicitly); the mapping is valid for reads of len bytes while
        // self.mem is borrowed. The header is immutable once published (INITIALIZING was
        // observed with Acquire or written by us); a peer that writes it anyway only makes
        // the copy fail validation.
        unsafe { std::ptr::copy_nonoverlapping(self.mem.as_ptr(), buf.as_mut_ptr(), HEADER_LEN) };
        let schema_len = format::claimed_schema_len(&buf).unwrap_or(0);
        let avail = (len - HEADER_LEN).min(schema_len);
        buf.resize(HEADER_LEN + avail, 0);
        // SAFETY: HEADER_LEN + avail <= len, so the source lies inside the mapping; buf has
        // room for avail bytes after the header; the two cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.mem.as_ptr().add(HEADER_LEN),
                buf.as_mut_ptr().add(HEADER_LEN),
                avail,
            )
        };
        format::validate_header(&self.name, &buf, len as u64)
    }

    /// Checks the validated header against what the caller expects.
    pub(crate) fn check(&self, expect: &Expect<'_>) -> Result<()> {
        let info = &self.info;
        if info.kind != expect.kind {
            return Err(Error::wrong_kind(&self.name, expect.kind, info.kind));
        }
        let mut diffs = Vec::new();
        if usize::from(info.pointer_width) != size_of::<usize>() {
            diffs.push(format!(
                "pointer width: expected {}, found {}",
                size_of::<usize>(),
                info.pointer_width
            ));
        }
        // The fingerprint is a hash of the whole layout tree (byte order and pointer width
        // mixed in), and the schema is the same tree written out: a segment is this type
        // only if both are ours. (A header whose fingerprint and schema disagree is
        // consistent only if forged or written by a buggy build; comparing both means it is
        // refused either way.) The validator has checked that the header's type name is the
        // stored schema's top-level name, so equal schemas mean equal type names too.
        let expected_schema = crate::ident::schema(expect.layout);
        if info.fingerprint != expect.fingerprint || info.schema != expected_schema {
            diffs.extend(crate::ident::diffs(&expected_schema, &info.schema));
            if diffs.is_empty() && info.schema != expected_schema {
                diffs.push(format!(
                    "schema: expected {expected_schema:?}, found {:?}",
                    info.schema
                ));
            }
            if diffs.is_empty() {
                diffs.push(format!(
                    "fingerprint: expected {:#018x}, found {:#018x} (byte order or pointer \
                     width differ)",
                    expect.fingerprint, info.fingerprint
                ));
            }
        }
        if info.elem_size != expect.elem_size || info.elem_align != expect.elem_align {
            diffs.push(format!(
                "size/align: expected {}/{}, found {}/{}",
                expect.elem_size, expect.elem_align, info.elem_size, info.elem_align
            ));
        }
        if info.control.len() != expect.control_len {
            diffs.push(format!(
                "control block: expected {} bytes, found {}",
                expect.control_len,
                info.control.len()
            ));
        }
        if diffs.is_empty() {
            return Ok(());
        }
        Err(Error::layout_mismatch(
            &self.name,
            LayoutMismatch {
                type_name: expect.layout.type_name(),
                expected: crate::ident::schema(expect.layout),
                found: info.schema.clone(),
                diffs,
            },
        ))
    }

    /// The validated header.
    pub(crate) fn info(&self) -> &SegmentInfo {
        &self.info
    }

    /// The segment's name (empty over anonymous memory).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The memory the segment lives in.
    pub(crate) fn memory(&self) -> &M {
        &self.mem
    }

    /// The memory the segment lives in, mutably (to change its unlink-on-drop flag).
    pub(crate) fn memory_mut(&mut self) -> &mut M {
        &mut self.mem
    }

    /// The start of the payload: inside the mapping, aligned to max(64, elem_align), valid
    /// for `info().payload.len()` bytes.
    pub(crate) fn payload_ptr(&self) -> *mut u8 {
        // SAFETY: the payload range was validated to end within mem.len() (or planned so by
        // us), so the offset stays inside the mapping.
        unsafe { self.mem.as_ptr().add(self.info.payload.start) }
    }

    /// Copies the control block of a ready segment out of the mapping and validates the copy
    /// ([`format::validate_control`], the check `ipc` and the C reader make too).
    fn validate_control(&self) -> Result<()> {
        let info = &self.info;
        let bytes = match info.kind {
            Kind::Value => return Ok(()),
            #[cfg(loom)]
            Kind::Ring => return Ok(()),
            #[cfg(not(loom))]
            Kind::Ring => {
                // SAFETY: the validated control block of a ring is RING_CONTROL_LEN ==
                // size_of::<Control>() bytes, 64-aligned, inside the mapping that `self`
                // keeps; Control is atomics and plain integers, valid for every bit pattern.
                let ctrl = unsafe { &*self.control_ptr().cast::<crate::ring::control::Control>() };
                ctrl.copy_out()
            }
            Kind::Array => {
                let mut bytes = vec![0u8; info.control.len()];
                for at in [format::ARRAY_POISONED_OFFSET, format::ARRAY_RESERVED_OFFSET] {
                    // SAFETY: the validated control block of an array is ARRAY_CONTROL_LEN
                    // (48) bytes, 64-aligned, inside the mapping that `self` keeps, so the
                    // word at `at` (40 or 44) is in bounds and 4-aligned; a u32 is valid for
                    // every bit pattern, and the flag is only ever accessed atomically.
                    let word = unsafe { &*self.control_ptr().add(at).cast::<AtomicU32>() };
                    bytes[at..at + 4].copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
                }
                bytes
            }
        };
        format::validate_control(&self.name, info, &bytes).map(|_| ())
    }

    /// The start of the control block (64-aligned, `info().control.len()` bytes), if any.
    pub(crate) fn control_ptr(&self) -> *mut u8 {
        // SAFETY: as for the payload: the control range lies inside the mapping.
        unsafe { self.mem.as_ptr().add(self.info.control.start) }
    }
}

fn placeholder_info() -> SegmentInfo {
    SegmentInfo {
        kind: Kind::Value,
        pointer_width: 0,
        creator_pid: 0,
        creator_start_time: 0,
        creation_time_ns: 0,
        elem_size: 0,
        elem_align: 1,
        fingerprint: 0,
        type_name: String::new(),
        schema: String::new(),
        control: 0..0,
        payload: 0..0,
        dims: Vec::new(),
        ring_capacity: 0,
    }
}
