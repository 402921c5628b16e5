//! The segment format: the fixed header ([`Header`]), its encoder and its validator.
//!
//! `FORMAT.md` at the repository root is the normative description (offsets, the field
//! rules, the schema grammar, the checksum, the init protocol); this module implements it.
//! Integers are in the writer's native byte order, which the header records
//! (`byte_order`), so a reader on a machine of the other order refuses the segment instead
//! of misreading it.
//!
//! The 256-byte header is declared once, as the `#[repr(C)]` struct [`Header`] (zerocopy
//! derives check that it has no padding and can be read from any bytes); its offsets are
//! pinned to FORMAT.md's table by `offset_of!` assertions. The encoder, the validator, the
//! `ipc` tool and the tests that forge headers all go through it.

use std::mem::offset_of;
use std::ops::Range;

use ipc_core::layout::{Schema, SchemaNode, SchemaShape};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use crate::error::{Error, Result};

/// `b"ipc-seg\0"`: the first eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"ipc-seg\0";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// The length of the fixed header; the schema starts here.
pub const HEADER_LEN: usize = 256;
/// The byte-order mark, written as a native `u32`.
pub const BYTE_ORDER_MARK: u32 = 0x0102_0304;
/// The most array dimensions a header can hold.
pub const MAX_RANK: usize = 8;
/// The longest type name stored in the header (longer names are cut).
pub const MAX_TYPE_NAME: usize = 56;
/// The longest schema string a segment may hold.
pub const MAX_SCHEMA_LEN: usize = 1 << 20;
/// The largest element alignment a segment supports (a page).
pub const MAX_ALIGN: usize = 4096;
/// Every control block and payload starts at a multiple of this.
pub const MIN_PAYLOAD_ALIGN: usize = 64;
/// The length of an array segment's control block (kind 2): a robust process-shared
/// `pthread_mutex_t` at offset 0 (40 bytes on x86-64 glibc), a `u32` "poisoned" flag at
/// offset 40 (0 clean, 1 poisoned: a holder died), 4 reserved bytes at 44. A value segment
/// has no control block; any other length is corrupted (FORMAT.md, "Control block").
pub const ARRAY_CONTROL_LEN: usize = 48;
/// The offset of the "poisoned" flag in an array's control block.
pub const ARRAY_POISONED_OFFSET: usize = 40;
/// The length of a ring segment's control block (kind 3): the ring control block of
/// FORMAT.md, "Rings (kind 3)" ([`ring::control::Control`](crate::ring::control::Control),
/// whose size is pinned to this).
pub const RING_CONTROL_LEN: usize = 1536;

/// The fixed header: the first [`HEADER_LEN`] bytes of every segment, in the creator's
/// native byte order (FORMAT.md, "The fixed header", gives the meaning of each field).
///
/// Every bit pattern is a `Header` (it derives [`FromBytes`]), so one can be read from any
/// bytes with [`Header::read`] and then checked; [`validate_header`] does the checking.
/// `state` is the only field that changes after publication, and in shared memory it is
/// accessed only atomically: a `Header` is always a private copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// 0 unset, 1 initialising, 2 ready, 3 failed (mutable; atomic in shared memory).
    pub state: u32,
    /// [`BYTE_ORDER_MARK`] in the creator's byte order.
    pub byte_order: u32,
    /// [`VERSION`].
    pub version: u16,
    /// [`HEADER_LEN`].
    pub header_len: u16,
    /// [`Kind::code`]: 1 value, 2 array, 3 ring.
    pub kind: u16,
    /// Number of array dimensions: 0 for a value, `1..=8` for an array or ring.
    pub rank: u8,
    /// `size_of::<usize>()` of the creator's build.
    pub pointer_width: u8,
    /// The creator's pid (> 0).
    pub creator_pid: i32,
    /// Bytes used in `type_name` (`<= 56`).
    pub type_name_len: u32,
    /// The creator's start time, field 22 of `/proc/PID/stat`.
    pub creator_start_time: u64,
    /// Creation time, ns since the Unix epoch.
    pub creation_time_ns: u64,
    /// Size of the value (kind 1) or of one element (kinds 2, 3).
    pub elem_size: u64,
    /// Its alignment.
    pub elem_align: u64,
    /// The layout fingerprint of the value or element type.
    pub fingerprint: u64,
    /// [`HEADER_LEN`].
    pub schema_offset: u64,
    /// Length of the schema string.
    pub schema_len: u64,
    /// Start of the control block (0 if `control_len` is 0).
    pub control_offset: u64,
    /// Length of the control block.
    pub control_len: u64,
    /// Start of the payload.
    pub payload_offset: u64,
    /// Length of the payload.
    pub payload_len: u64,
    /// Ring capacity in elements (0 unless a ring).
    pub ring_capacity: u64,
    /// Array dimensions, C order; unused entries 0.
    pub dims: [u64; MAX_RANK],
    /// The schema's top-level type name, zero-padded (see [`type_name_of`]).
    pub type_name: [u8; MAX_TYPE_NAME],
    /// FNV-1a 64 of the header (state as zero, checksum excluded) and the schema.
    pub checksum: u64,
}

// The offsets of FORMAT.md's table, pinned: a field moved by mistake fails the build.
const _: () = assert!(size_of::<Header>() == HEADER_LEN);
const _: () = assert!(offset_of!(Header, magic) == 0);
const _: () = assert!(offset_of!(Header, state) == 8);
const _: () = assert!(offset_of!(Header, byte_order) == 12);
const _: () = assert!(offset_of!(Header, version) == 16);
const _: () = assert!(offset_of!(Header, header_len) == 18);
const _: () = assert!(offset_of!(Header, kind) == 20);
const _: () = assert!(offset_of!(Header, rank) == 22);
const _: () = assert!(offset_of!(Header, pointer_width) == 23);
const _: () = assert!(offset_of!(Header, creator_pid) == 24);
const _: () = assert!(offset_of!(Header, type_name_len) == 28);
const _: () = assert!(offset_of!(Header, creator_start_time) == 32);
const _: () = assert!(offset_of!(Header, creation_time_ns) == 40);
const _: () = assert!(offset_of!(Header, elem_size) == 48);
const _: () = assert!(offset_of!(Header, elem_align) == 56);
const _: () = assert!(offset_of!(Header, fingerprint) == 64);
const _: () = assert!(offset_of!(Header, schema_offset) == 72);
const _: () = assert!(offset_of!(Header, schema_len) == 80);
const _: () = assert!(offset_of!(Header, control_offset) == 88);
const _: () = assert!(offset_of!(Header, control_len) == 96);
const _: () = assert!(offset_of!(Header, payload_offset) == 104);
const _: () = assert!(offset_of!(Header, payload_len) == 112);
const _: () = assert!(offset_of!(Header, ring_capacity) == 120);
const _: () = assert!(offset_of!(Header, dims) == 128);
const _: () = assert!(offset_of!(Header, type_name) == 192);
const _: () = assert!(offset_of!(Header, checksum) == 248);

/// The offset of the magic word (accessed atomically by the init protocol).
pub(crate) const MAGIC_OFFSET: usize = offset_of!(Header, magic);
/// The offset of the state word (accessed atomically by the init protocol).
pub(crate) const STATE_OFFSET: usize = offset_of!(Header, state);
/// The first byte after the magic and the state word: what a creator writes plainly.
pub(crate) const PLAIN_START: usize = offset_of!(Header, byte_order);

impl Header {
    /// A copy of the header in the first [`HEADER_LEN`] bytes of `bytes`, unchecked;
    /// `None` if there are fewer.
    pub fn read(bytes: &[u8]) -> Option<Header> {
        Header::read_from_prefix(bytes).ok().map(|(h, _)| h)
    }

    /// The header's bytes, as stored.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out.copy_from_slice(self.as_bytes());
        out
    }

    /// The checksum this header should hold given `schema`: FNV-1a 64 over header bytes
    /// `0..248` with the state word taken as zero, then the schema bytes.
    pub fn compute_checksum(&self, schema: &[u8]) -> u64 {
        let mut h = *self;
        h.state = 0;
        let h = fnv1a(FNV_OFFSET, &h.as_bytes()[..offset_of!(Header, checksum)]);
        fnv1a(h, schema)
    }

    /// Stores [`compute_checksum`](Self::compute_checksum)`(schema)` in `checksum` (for
    /// writers, and for tests that forge a consistent header).
    pub fn seal(&mut self, schema: &[u8]) {
        self.checksum = self.compute_checksum(schema);
    }

    /// The used bytes of `type_name` (at most 56, whatever `type_name_len` says).
    pub fn type_name_bytes(&self) -> &[u8] {
        &self.type_name[..(self.type_name_len as usize).min(MAX_TYPE_NAME)]
    }

    /// Sets `type_name` and `type_name_len` to `name` cut to [`MAX_TYPE_NAME`] bytes at a
    /// char boundary.
    pub fn set_type_name(&mut self, name: &str) {
        let name = stored_type_name(name);
        self.type_name = [0; MAX_TYPE_NAME];
        self.type_name[..name.len()].copy_from_slice(name.as_bytes());
        self.type_name_len = name.len() as u32;
    }

    /// The dims the rank selects (at most 8).
    pub fn used_dims(&self) -> &[u64] {
        &self.dims[..usize::from(self.rank).min(MAX_RANK)]
    }

    /// The kind's name (`value`, `array`, `ring`), or the number if it is none of them.
    pub fn kind_name(&self) -> String {
        match Kind::from_code(self.kind) {
            Some(Kind::Value) => "value".into(),
            Some(Kind::Array) => "array".into(),
            Some(Kind::Ring) => "ring".into(),
            None => format!("unknown ({})", self.kind),
        }
    }
}

impl From<[u8; HEADER_LEN]> for Header {
    /// The header stored in these bytes, unchecked (every bit pattern is a `Header`).
    fn from(bytes: [u8; HEADER_LEN]) -> Header {
        zerocopy::transmute!(bytes)
    }
}

/// The values of the state word at offset 8.
pub(crate) mod state {
    /// Zero-filled: the creator has not written the header yet.
    pub const UNSET: u32 = 0;
    /// The header is final; the creator is initialising the payload.
    pub const INITIALIZING: u32 = 1;
    /// The payload is initialised; openers may use it.
    pub const READY: u32 = 2;
    /// The creator's initialisation failed; the segment is unusable.
    pub const FAILED: u32 = 3;
}

/// What a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// One value of a `SharedLayout` type ([`Shared`](crate::Shared)).
    Value,
    /// An N-dimensional array ([`SharedArray`](crate::SharedArray)).
    Array,
    /// A ring buffer ([`SpscRing`](crate::SpscRing), [`MpmcRing`](crate::MpmcRing),
    /// [`ByteRing`](crate::ByteRing)).
    Ring,
}

impl Kind {
    /// The number stored in the header.
    pub const fn code(self) -> u16 {
        match self {
            Kind::Value => 1,
            Kind::Array => 2,
            Kind::Ring => 3,
        }
    }

    /// The kind stored as `code`, if any.
    pub const fn from_code(code: u16) -> Option<Kind> {
        match code {
            1 => Some(Kind::Value),
            2 => Some(Kind::Array),
            3 => Some(Kind::Ring),
            _ => None,
        }
    }

    /// The control block length this kind requires (0, [`ARRAY_CONTROL_LEN`],
    /// [`RING_CONTROL_LEN`]).
    pub const fn control_len(self) -> usize {
        match self {
            Kind::Value => 0,
            Kind::Array => ARRAY_CONTROL_LEN,
            Kind::Ring => RING_CONTROL_LEN,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Value => "value segment",
            Kind::Array => "array segment",
            Kind::Ring => "ring segment",
        })
    }
}

/// FNV-1a 64 over `bytes`, continuing from `hash` (start with [`FNV_OFFSET`]).
pub const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}

/// The FNV-1a 64 offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV-1a 64 prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The type name a header stores for a schema whose top-level type is `node`: the name as
/// the schema writes it (`u64`, `Stats`, `Pair` for every `Pair<T>`), and for an array
/// `[E; N]` with `E` the element's type name (`[f64; 2]`, `[[u8; 4]; 3]`). The header holds
/// its first [`MAX_TYPE_NAME`] bytes (it is ASCII, as the schema is).
pub fn type_name_of(node: SchemaNode<'_>) -> String {
    match node.shape() {
        SchemaShape::Array { elem, len } => format!("[{}; {len}]", type_name_of(elem)),
        _ => node.name().to_owned(),
    }
}

/// What a validated header says: everything needed to use the segment without reading the
/// header again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// What the segment holds.
    pub kind: Kind,
    /// `size_of::<usize>()` of the creator's build.
    pub pointer_width: u8,
    /// The creator's pid.
    pub creator_pid: i32,
    /// The creator's start time (`/proc/PID/stat` field 22), to tell it from a reused pid.
    pub creator_start_time: u64,
    /// When the segment was created (ns since the Unix epoch, the creator's clock).
    pub creation_time_ns: u64,
    /// The value's or element's size in bytes.
    pub elem_size: usize,
    /// The value's or element's alignment.
    pub elem_align: usize,
    /// The layout fingerprint of the value or element type.
    pub fingerprint: u64,
    /// The value's or element's bare type name (possibly cut to 56 bytes).
    pub type_name: String,
    /// The layout tree of the value or element type, written out.
    pub schema: String,
    /// Where the control block lies (empty range at 0 if there is none).
    pub control: Range<usize>,
    /// Where the payload lies.
    pub payload: Range<usize>,
    /// The array dimensions (C order), empty for a value.
    pub dims: Vec<usize>,
    /// The ring capacity (0 unless the kind is a ring).
    pub ring_capacity: u64,
}

/// What a creator asks for: the input of [`plan`] and [`encode`].
#[derive(Debug, Clone)]
pub(crate) struct Spec<'a> {
    pub kind: Kind,
    pub elem_size: usize,
    pub elem_align: usize,
    pub fingerprint: u64,
    pub schema: &'a str,
    pub dims: &'a [usize],
    pub control_len: usize,
    pub ring_capacity: u64,
    /// The ring's data region length (kind 3 only: it depends on the ring's flavour, see
    /// [`ring_payload_lens`]); ignored for the other kinds.
    pub ring_payload_len: usize,
}

/// Where everything goes, computed with checked arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub control_offset: usize,
    pub payload_offset: usize,
    pub payload_len: usize,
    pub total_len: usize,
}

pub(crate) fn align_up(x: usize, align: usize) -> Option<usize> {
    debug_assert!(align.is_power_of_two());
    Some(x.checked_add(align - 1)? & !(align - 1))
}

/// The number of elements of an array with `dims`, or `None` on overflow. A zero dim makes
/// the count 0 before any overflow check (`[2^40, 2^40, 0]` holds 0 elements); otherwise
/// the dims are multiplied left to right, each product checked (FORMAT.md, "Derived
/// offsets").
pub fn element_count(dims: &[usize]) -> Option<usize> {
    if dims.contains(&0) {
        return Some(0);
    }
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The offsets of a segment's parts, from the lengths of what precedes them. The `Err`
/// holds a reason (the caller turns it into an invalid-size or corruption error).
fn layout_parts(
    kind: Kind,
    elem_size: usize,
    elem_align: usize,
    schema_len: usize,
    dims: &[usize],
    control_len: usize,
    ring_payload_len: usize,
) -> std::result::Result<Plan, String> {
    let schema_end = HEADER_LEN
        .checked_add(schema_len)
        .ok_or("schema length overflows")?;
    let (control_offset, control_end) = if control_len == 0 {
        (0, schema_end)
    } else {
        let start = align_up(schema_end, MIN_PAYLOAD_ALIGN).ok_or("control offset overflows")?;
        let end = start
            .checked_add(control_len)
            .ok_or("control length overflows")?;
        (start, end)
    };
    let payload_align = elem_align.max(MIN_PAYLOAD_ALIGN);
    let payload_offset = align_up(control_end, payload_align).ok_or("payload offset overflows")?;
    let payload_len = match kind {
        Kind::Value => elem_size,
        Kind::Ring => ring_payload_len,
        Kind::Array => element_count(dims)
            .and_then(|n| n.checked_mul(elem_size))
            .ok_or_else(|| format!("dims {dims:?} of {elem_size}-byte elements overflow usize"))?,
    };
    let total_len = payload_offset
        .checked_add(payload_len)
        .filter(|&t| t <= isize::MAX as usize)
        .ok_or_else(|| format!("a payload of {payload_len} bytes does not fit in memory"))?;
    Ok(Plan {
        control_offset,
        payload_offset,
        payload_len,
        total_len,
    })
}

/// Cuts `name` to at most [`MAX_TYPE_NAME`] bytes at a char boundary.
pub(crate) fn stored_type_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_TYPE_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Computes where everything goes for `spec`. Invalid input is an
/// [`ipc_core::ErrorKind::InvalidSize`] or `InvalidInput` error of operation `op`.
pub(crate) fn plan(op: &'static str, spec: &Spec<'_>) -> Result<Plan> {
    use ipc_core::ErrorKind;
    let bad = |kind: ErrorKind, why: String| ipc_core::Error::with_text(op, kind, why);
    if !spec.elem_align.is_power_of_two() || spec.elem_align > MAX_ALIGN {
        return Err(bad(
            ErrorKind::InvalidInput,
            format!(
                "alignment {} is not a power of two up to {MAX_ALIGN}",
                spec.elem_align
            ),
        ));
    }
    if spec.kind != Kind::Value && (spec.dims.is_empty() || spec.dims.len() > MAX_RANK) {
        return Err(bad(
            ErrorKind::InvalidInput,
            format!(
                "an array needs 1 to {MAX_RANK} dimensions, got {}",
                spec.dims.len()
            ),
        ));
    }
    if spec.schema.len() > MAX_SCHEMA_LEN {
        return Err(bad(
            ErrorKind::InvalidInput,
            format!(
                "schema of {} bytes is longer than {MAX_SCHEMA_LEN}",
                spec.schema.len()
            ),
        ));
    }
    if let Err(why) = schema_agrees(spec.schema, spec.elem_size, spec.elem_align, None) {
        return Err(bad(ErrorKind::InvalidInput, why));
    }
    layout_parts(
        spec.kind,
        spec.elem_size,
        spec.elem_align,
        spec.schema.len(),
        spec.dims,
        spec.control_len,
        spec.ring_payload_len,
    )
    .map_err(|why| bad(ErrorKind::InvalidSize, why))
}

/// The header/schema agreement rules (FORMAT.md, "Header and schema"): the schema parses,
/// its top-level size and alignment are `elem_size` and `elem_align`, and (if given) the
/// stored type name is the first [`MAX_TYPE_NAME`] bytes of [`type_name_of`] its top-level
/// type. Returns the top-level type name.
fn schema_agrees(
    schema: &str,
    elem_size: usize,
    elem_align: usize,
    type_name: Option<&str>,
) -> std::result::Result<String, String> {
    let (size, align, name) = parsed_schema(schema)?;
    if (size, align) != (elem_size, elem_align) {
        return Err(format!(
            "the schema's size/align {size}/{align} differ from elem_size/elem_align {elem_size}/{elem_align}"
        ));
    }
    if let Some(stored) = type_name {
        if stored != stored_type_name(&name) {
            return Err(format!(
                "type name {stored:?} is not the schema's top-level name {:?}",
                stored_type_name(&name)
            ));
        }
    }
    Ok(name)
}

/// The top-level size, alignment and type name of `schema`, or why it does not parse.
///
/// Memoised for the last schema that parsed on this thread: creating and opening a segment
/// checks the same schema text several times (the creator's own spec, then the opener's
/// spec and the stored copy), and parsing it is a sizeable part of the cost (issue 14
/// measured create+open at 1.65x the raw calls, 1.52x with this). The parse is a pure
/// function of the text and the entry is used only for the byte-identical text, so every
/// check is the same as without it.
fn parsed_schema(schema: &str) -> std::result::Result<(usize, usize, String), String> {
    type Entry = Option<(String, usize, usize, String)>;
    thread_local! {
        static LAST: std::cell::RefCell<Entry> = const { std::cell::RefCell::new(None) };
    }
    let hit = LAST.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|(text, ..)| text == schema)
            .map(|(_, size, align, name)| (*size, *align, name.clone()))
    });
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let parsed = Schema::parse(schema).map_err(|e| format!("the schema does not parse: {e}"))?;
    let r = (parsed.size(), parsed.align(), type_name_of(parsed.root()));
    LAST.with(|l| *l.borrow_mut() = Some((schema.to_owned(), r.0, r.1, r.2.clone())));
    Ok(r)
}

/// The header for `spec` (with `plan`), checksum included, state word zero. The schema
/// follows it in the segment. `spec` passed [`plan`], so its schema parses.
pub(crate) fn encode(
    spec: &Spec<'_>,
    plan: &Plan,
    creator_pid: i32,
    creator_start_time: u64,
    creation_time_ns: u64,
) -> Header {
    let mut h = Header::new_zeroed();
    h.magic = MAGIC;
    h.byte_order = BYTE_ORDER_MARK;
    h.version = VERSION;
    h.header_len = HEADER_LEN as u16;
    h.kind = spec.kind.code();
    h.rank = spec.dims.len() as u8;
    h.pointer_width = size_of::<usize>() as u8;
    h.creator_pid = creator_pid;
    h.creator_start_time = creator_start_time;
    h.creation_time_ns = creation_time_ns;
    h.elem_size = spec.elem_size as u64;
    h.elem_align = spec.elem_align as u64;
    h.fingerprint = spec.fingerprint;
    h.schema_offset = HEADER_LEN as u64;
    h.schema_len = spec.schema.len() as u64;
    h.control_offset = plan.control_offset as u64;
    h.control_len = spec.control_len as u64;
    h.payload_offset = plan.payload_offset as u64;
    h.payload_len = plan.payload_len as u64;
    h.ring_capacity = spec.ring_capacity;
    for (slot, &d) in h.dims.iter_mut().zip(spec.dims) {
        *slot = d as u64;
    }
    let name = Schema::parse(spec.schema)
        .map(|s| type_name_of(s.root()))
        .unwrap_or_default();
    h.set_type_name(&name);
    h.seal(spec.schema.as_bytes());
    h
}

/// The schema length a header claims, bounded by [`MAX_SCHEMA_LEN`] (so a reader knows how
/// many bytes to copy before validating). `None` if the header is too short or the length
/// is out of range.
pub fn claimed_schema_len(header: &[u8]) -> Option<usize> {
    let n = Header::read(header)?.schema_len;
    usize::try_from(n).ok().filter(|&n| n <= MAX_SCHEMA_LEN)
}

/// Validates a segment header: `bytes` holds the segment's first bytes (the header followed
/// by at least the schema), `file_len` is the object's real size (from `fstat`). Every field
/// is checked with checked arithmetic; the state word is not looked at (the caller reads it
/// atomically). `name` only labels the error.
///
/// This is the function the fuzz target drives; it never panics on any input.
#[doc(hidden)]
pub fn validate_header(name: &str, bytes: &[u8], file_len: u64) -> Result<SegmentInfo> {
    validate(bytes, file_len).map_err(|why| match why {
        Invalid::Corrupted(reason) => Error::corrupted(name, reason),
        Invalid::NotASegment => {
            Error::wrong_kind(name, ANY_SEGMENT, "no segment header (bad magic)")
        }
    })
}

enum Invalid {
    NotASegment,
    Corrupted(String),
}

impl From<String> for Invalid {
    fn from(s: String) -> Self {
        Invalid::Corrupted(s)
    }
}

impl From<&str> for Invalid {
    fn from(s: &str) -> Self {
        Invalid::Corrupted(s.to_owned())
    }
}

fn validate(bytes: &[u8], file_len: u64) -> std::result::Result<SegmentInfo, Invalid> {
    let file_len = usize::try_from(file_len).map_err(|_| "object size exceeds usize")?;
    let h = match Header::read(bytes) {
        Some(h) if file_len >= HEADER_LEN => h,
        _ => {
            return Err(format!(
                "object of {file_len} bytes is smaller than the {HEADER_LEN}-byte header"
            )
            .into())
        }
    };
    if h.magic != MAGIC {
        return Err(Invalid::NotASegment);
    }
    if h.byte_order != BYTE_ORDER_MARK {
        return Err(if h.byte_order == BYTE_ORDER_MARK.swap_bytes() {
            "written on a machine of the other byte order".into()
        } else {
            format!("byte-order mark {:#010x} is not 0x01020304", h.byte_order).into()
        });
    }
    if h.version != VERSION {
        return Err(format!("format version {}, this build reads {VERSION}", h.version).into());
    }
    if usize::from(h.header_len) != HEADER_LEN {
        return Err(format!("header length {}, expected {HEADER_LEN}", h.header_len).into());
    }
    // The schema is needed for the checksum; its length is bounded before anything else.
    if h.schema_offset != HEADER_LEN as u64 {
        return Err(format!("schema offset {}, expected {HEADER_LEN}", h.schema_offset).into());
    }
    let schema_len = usize::try_from(h.schema_len)
        .ok()
        .filter(|&n| n <= MAX_SCHEMA_LEN)
        .ok_or_else(|| format!("schema length {} out of range", h.schema_len))?;
    let schema_end = HEADER_LEN + schema_len;
    if schema_end > file_len {
        return Err(format!(
            "schema ends at byte {schema_end}, past the object's {file_len} bytes"
        )
        .into());
    }
    let schema_bytes = bytes
        .get(HEADER_LEN..schema_end)
        .ok_or("schema not supplied to the validator")?;
    let computed = h.compute_checksum(schema_bytes);
    if h.checksum != computed {
        return Err(format!(
            "header checksum {:#018x} does not match the contents ({computed:#018x})",
            h.checksum
        )
        .into());
    }
    // From here on the header is what the creator wrote; the checks below catch a creator
    // of another build writing nonsense, and keep every use in bounds regardless.
    let kind = Kind::from_code(h.kind).ok_or_else(|| format!("unknown kind {}", h.kind))?;
    let rank = usize::from(h.rank);
    if !matches!(h.pointer_width, 2 | 4 | 8 | 16) {
        return Err(format!("pointer width {} out of range", h.pointer_width).into());
    }
    if h.creator_pid <= 0 {
        return Err(format!("creator pid {} out of range", h.creator_pid).into());
    }
    let type_name_len = h.type_name_len as usize;
    if type_name_len > MAX_TYPE_NAME {
        return Err(format!("type name length {type_name_len} > {MAX_TYPE_NAME}").into());
    }
    if h.type_name[type_name_len..].iter().any(|&b| b != 0) {
        return Err("type name padding is not zero".into());
    }
    let type_name = std::str::from_utf8(h.type_name_bytes())
        .map_err(|_| "type name is not UTF-8")?
        .to_owned();
    let schema = std::str::from_utf8(schema_bytes)
        .map_err(|_| "schema is not UTF-8")?
        .to_owned();
    let elem_size = usize::try_from(h.elem_size).map_err(|_| "element size")?;
    let elem_align = usize::try_from(h.elem_align).map_err(|_| "element align")?;
    if !elem_align.is_power_of_two() || elem_align > MAX_ALIGN {
        return Err(format!("element alignment {elem_align} out of range").into());
    }
    if elem_size % elem_align != 0 {
        return Err(format!(
            "element size {elem_size} is not a multiple of its alignment {elem_align}"
        )
        .into());
    }
    schema_agrees(&schema, elem_size, elem_align, Some(&type_name))?;
    match kind {
        Kind::Value if rank != 0 => {
            return Err(format!("a value segment with rank {rank}").into());
        }
        Kind::Array | Kind::Ring if rank == 0 || rank > MAX_RANK => {
            return Err(format!("rank {rank} out of range 1..={MAX_RANK}").into());
        }
        _ => {}
    }
    let mut dims = Vec::with_capacity(rank);
    for (i, &d) in h.dims.iter().enumerate() {
        if i < rank {
            dims.push(usize::try_from(d).map_err(|_| format!("dimension {i} = {d}"))?);
        } else if d != 0 {
            return Err(format!("unused dimension {i} is {d}, not 0").into());
        }
    }
    if kind != Kind::Ring && h.ring_capacity != 0 {
        return Err(format!("ring capacity {} in a {kind}", h.ring_capacity).into());
    }
    let ring_payload_len = if kind == Kind::Ring {
        ring_payload_len(&h, &dims, elem_size, elem_align)?
    } else {
        0
    };
    let control_len = kind.control_len();
    if h.control_len != control_len as u64 {
        return Err(format!(
            "control_len {} in a {kind}: the control block of this kind is {control_len} bytes \
             (FORMAT.md, \"Control block\")",
            h.control_len
        )
        .into());
    }
    let plan = layout_parts(
        kind,
        elem_size,
        elem_align,
        schema_len,
        &dims,
        control_len,
        ring_payload_len,
    )?;
    if h.control_offset != plan.control_offset as u64 {
        return Err(format!(
            "control offset {}, expected {}",
            h.control_offset, plan.control_offset
        )
        .into());
    }
    if h.payload_offset != plan.payload_offset as u64 {
        return Err(format!(
            "payload offset {}, expected {}",
            h.payload_offset, plan.payload_offset
        )
        .into());
    }
    if h.payload_len != plan.payload_len as u64 {
        return Err(format!(
            "payload length {}, expected {} for the dims and element size",
            h.payload_len, plan.payload_len
        )
        .into());
    }
    if plan.total_len > file_len {
        return Err(format!(
            "payload ends at byte {}, past the object's {file_len} bytes",
            plan.total_len
        )
        .into());
    }
    Ok(SegmentInfo {
        kind,
        pointer_width: h.pointer_width,
        creator_pid: h.creator_pid,
        creator_start_time: h.creator_start_time,
        creation_time_ns: h.creation_time_ns,
        elem_size,
        elem_align,
        fingerprint: h.fingerprint,
        type_name,
        schema,
        control: plan.control_offset..plan.control_offset + control_len,
        payload: plan.payload_offset..plan.total_len,
        dims,
        ring_capacity: h.ring_capacity,
    })
}

/// The data region lengths a ring of `capacity` elements of `elem_size` bytes (aligned to
/// `elem_align`) may have, one per layout: `[capacity * elem_size` (SPSC and byte rings: the
/// slots, or the bytes), MPMC's stamps-then-slots
/// ([`ring::mpmc::region_len`](crate::ring::mpmc::region_len))`]`. The second is always
/// longer than the first, so the header's `payload_len` tells the two layouts apart; the
/// control block's `flavor` then tells an SPSC ring from a byte ring. `None` on overflow.
pub fn ring_payload_lens(capacity: u64, elem_size: usize, elem_align: usize) -> Option<[usize; 2]> {
    let slots = usize::try_from(capacity).ok()?.checked_mul(elem_size)?;
    Some([
        slots,
        crate::ring::mpmc::region_len(capacity, elem_size, elem_align)?,
    ])
}

/// The ring rules (FORMAT.md, "Rings (kind 3)"): rank 1, `dims[0] == ring_capacity`, a power
/// of two, and a payload length that is one of [`ring_payload_lens`]. Returns that length.
fn ring_payload_len(
    h: &Header,
    dims: &[usize],
    elem_size: usize,
    elem_align: usize,
) -> std::result::Result<usize, String> {
    let cap = h.ring_capacity;
    if dims.len() != 1 {
        return Err(format!("a ring segment with rank {}, not 1", dims.len()));
    }
    if dims[0] as u64 != cap {
        return Err(format!(
            "ring dims[0] = {} differs from ring_capacity {cap}",
            dims[0]
        ));
    }
    if !cap.is_power_of_two() {
        return Err(format!("ring capacity {cap} is not a power of two"));
    }
    if elem_size == 0 {
        return Err("a ring of zero-sized elements".into());
    }
    let lens = ring_payload_lens(cap, elem_size, elem_align)
        .ok_or_else(|| format!("a ring of {cap} {elem_size}-byte elements overflows usize"))?;
    lens.into_iter()
        .find(|&l| l as u64 == h.payload_len)
        .ok_or_else(|| {
            format!(
                "payload length {} is neither ring layout's for capacity {cap} ({} or {})",
                h.payload_len, lens[0], lens[1]
            )
        })
}

/// What an opener that found no segment header says it expected, whatever kind it opens
/// (the kind is not known before the header is).
pub const ANY_SEGMENT: &str = "a segment of this format";

/// The offset of the reserved `u32` after the poisoned flag in an array's control block
/// (FORMAT.md, "Control block"): always 0.
pub const ARRAY_RESERVED_OFFSET: usize = ARRAY_POISONED_OFFSET + 4;

/// Validates the control block of a **ready** segment whose header passed
/// [`validate_header`] (`info`): `control` holds the `info.control.len()` bytes at
/// `info.control` (an opener copies them with atomic loads, `ipc` reads them with `pread`).
/// The rules are FORMAT.md's "Control block" and "Which ring it is":
///
/// - kind 2 (array): the poisoned flag is 0 or 1 and the 4 reserved bytes are 0 (the
///   `pthread_mutex_t` bytes are glibc's and not looked at);
/// - kind 3 (ring): the `flavor` word is 1, 2 or 3 and agrees with the header's payload
///   layout (MPMC's stamps-then-slots for 2, `capacity * elem_size` for 1 and 3); the
///   control block's `capacity` is the header's and its `elem_size` the header's (0 for a
///   byte ring); the capacity is at least the flavour's minimum
///   ([`Flavor::min_capacity`](crate::ring::control::Flavor::min_capacity)); a byte ring's
///   element type is `u8(1/1)`; the reserved word at 388, the zero areas (8..128,
///   136..256, 272..384, 416..512) and each registry entry's reserved bytes (24..32) are 0.
///
/// Returns the ring's flavour (`None` for the other kinds). This is the one check of a
/// control block: the ring openers, [`inspect`](crate::inspect), `ipc inspect`/`ls`/`dump`
/// and the C reader (`readers/c/read_segment.c`) all apply exactly these rules, so they
/// refuse the same segments (`tests/format_c_reader.rs::every_reader_gives_the_same_verdict`).
/// The counters (`head`, `tail`, the stamps) change while the ring is in use and are
/// checked where they are used (attach, push, pop), not here.
pub fn validate_control(
    name: &str,
    info: &SegmentInfo,
    control: &[u8],
) -> Result<Option<crate::ring::control::Flavor>> {
    check_control(info, control).map_err(|why| Error::corrupted(name, why))
}

fn check_control(
    info: &SegmentInfo,
    c: &[u8],
) -> std::result::Result<Option<crate::ring::control::Flavor>, String> {
    use crate::ring::control::{self, Flavor};
    if c.len() != info.kind.control_len() {
        return Err(format!(
            "a control block of {} bytes, not {}",
            c.len(),
            info.kind.control_len()
        ));
    }
    let u32_at = |at: usize| u32::from_ne_bytes(c[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_ne_bytes(c[at..at + 8].try_into().expect("8 bytes"));
    match info.kind {
        Kind::Value => Ok(None),
        Kind::Array => {
            let flag = u32_at(ARRAY_POISONED_OFFSET);
            if flag > 1 {
                return Err(format!(
                    "the array's poisoned flag is {flag}, neither 0 (clean) nor 1 (poisoned)"
                ));
            }
            if u32_at(ARRAY_RESERVED_OFFSET) != 0 {
                return Err("the array control block's reserved bytes 44..48 are not 0".into());
            }
            Ok(None)
        }
        Kind::Ring => {
            if let Some(at) = control::ZERO_AREAS
                .iter()
                .flat_map(|&(start, end)| (start..end).step_by(4))
                .find(|&at| u32_at(at) != 0)
            {
                return Err(format!(
                    "the ring control block's reserved bytes at {at}..{} are not 0",
                    at + 4
                ));
            }
            let code = u32_at(control::FLAVOR_OFFSET);
            let cap = info.ring_capacity;
            let mpmc_layout = crate::ring::mpmc::region_len(cap, info.elem_size, info.elem_align)
                == Some(info.payload.len());
            let flavor = match Flavor::from_code(code) {
                Some(f) if (f == Flavor::Mpmc) == mpmc_layout => f,
                _ => {
                    return Err(format!(
                        "the control block's flavour word {code} does not match the header's {}                          layout",
                        if mpmc_layout {
                            "MPMC"
                        } else {
                            "SPSC or byte ring"
                        }
                    ))
                }
            };
            let recorded = u64_at(control::CAPACITY_OFFSET);
            if recorded != cap {
                return Err(format!(
                    "control block capacity {recorded} differs from the header's {cap}"
                ));
            }
            let want_elem = if flavor == Flavor::Bytes {
                0
            } else {
                info.elem_size as u64
            };
            let elem = u64_at(control::ELEM_SIZE_OFFSET);
            if elem != want_elem {
                return Err(format!(
                    "control block element size {elem} differs from {want_elem} ({})",
                    flavor.words()
                ));
            }
            if cap < flavor.min_capacity() {
                return Err(format!(
                    "{} of capacity {cap}, below its minimum {}",
                    flavor.words(),
                    flavor.min_capacity()
                ));
            }
            if flavor == Flavor::Bytes {
                let bytes = crate::ident::schema(&<u8 as ipc_core::SharedLayout>::LAYOUT);
                if info.schema != bytes {
                    return Err(format!(
                        "a byte ring of elements {}, not {bytes}",
                        info.schema
                    ));
                }
            }
            Ok(Some(flavor))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(dims: &'a [usize], schema: &'a str) -> Spec<'a> {
        Spec {
            kind: if dims.is_empty() {
                Kind::Value
            } else {
                Kind::Array
            },
            elem_size: 8,
            elem_align: 8,
            fingerprint: 0x1234_5678_9abc_def0,
            schema,
            dims,
            control_len: if dims.is_empty() {
                0
            } else {
                ARRAY_CONTROL_LEN
            },
            ring_capacity: 0,
            ring_payload_len: 0,
        }
    }

    fn segment(s: &Spec<'_>) -> (Vec<u8>, Plan) {
        let p = plan("test", s).unwrap();
        let h = encode(s, &p, 4242, 99, 1_700_000_000_000_000_000);
        let mut v = vec![0u8; p.total_len];
        v[..HEADER_LEN].copy_from_slice(h.as_bytes());
        v[HEADER_LEN..HEADER_LEN + s.schema.len()].copy_from_slice(s.schema.as_bytes());
        (v, p)
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn round_trip_value_and_array() {
        let (v, p) = segment(&spec(&[], "f64(8/8)"));
        let info = validate_header("/x", &v, v.len() as u64).unwrap();
        assert_eq!(info.kind, Kind::Value);
        assert_eq!(info.payload, p.payload_offset..p.total_len);
        assert_eq!(info.payload.start % 64, 0);
        assert_eq!(info.creator_pid, 4242);
        assert_eq!(info.type_name, "f64");
        assert_eq!(info.schema, "f64(8/8)");

        let (v, p) = segment(&spec(&[3, 5], "f64(8/8)"));
        let info = validate_header("/x", &v, v.len() as u64).unwrap();
        assert_eq!(info.kind, Kind::Array);
        assert_eq!(info.dims, vec![3, 5]);
        assert_eq!(info.payload.len(), 3 * 5 * 8);
        assert_eq!(info.control.len(), ARRAY_CONTROL_LEN);
        assert_eq!(info.control.start % 64, 0);
        assert!(info.control.end <= info.payload.start);
        assert_eq!(p.payload_offset % 64, 0);
    }

    #[test]
    fn too_small_object_is_refused() {
        let (v, _) = segment(&spec(&[4], "f64(8/8)"));
        for len in [0, 10, HEADER_LEN - 1, HEADER_LEN + 2, v.len() - 1] {
            let e = validate_header("/x", &v, len as u64).unwrap_err();
            assert!(
                matches!(e.kind(), ipc_core::ErrorKind::Corrupted),
                "{len}: {e}"
            );
        }
        let e = validate_header("/x", &v[..100], v.len() as u64).unwrap_err();
        assert!(matches!(e.kind(), ipc_core::ErrorKind::Corrupted), "{e}");
    }

    #[test]
    fn every_bit_flip_of_header_and_schema_is_an_error() {
        let schema = "Point(8/8){x:f64(8/8)@0}";
        let (v, _) = segment(&spec(&[2, 2], schema));
        for byte in (0..HEADER_LEN + schema.len()).filter(|b| !(8..12).contains(b)) {
            for bit in 0..8 {
                let mut w = v.clone();
                w[byte] ^= 1 << bit;
                assert!(
                    validate_header("/x", &w, w.len() as u64).is_err(),
                    "flip of byte {byte} bit {bit} accepted"
                );
            }
        }
    }

    /// A small deterministic fuzz on stable: random byte and word mutations of a valid
    /// array header and of valid SPSC- and MPMC-layout ring headers, with the checksum fixed
    /// up half of the time so that the checks behind it are reached too. Nothing may panic,
    /// and anything accepted must be in bounds, its payload one the kind allows.
    #[test]
    fn random_mutations_never_panic_and_accepted_headers_are_in_bounds() {
        let schema = "Point(8/8){x:f64(8/8)@0,y:f32(4/4)@0}";
        let ring = |payload: usize| Spec {
            kind: Kind::Ring,
            dims: &[8],
            control_len: RING_CONTROL_LEN,
            ring_capacity: 8,
            ring_payload_len: payload,
            ..spec(&[8], schema)
        };
        let seeds = [
            segment(&spec(&[3, 4], schema)).0,
            segment(&ring(64)).0,
            segment(&ring(crate::ring::mpmc::region_len(8, 8, 8).unwrap())).0,
        ];
        let mut next = ipc_testutil::xorshift64(0x9e37_79b9_7f4a_7c15);
        let mut accepted = [0; 3];
        for round in 0..120_000 {
            let seed = round % seeds.len();
            let valid = &seeds[seed];
            let mut w = valid.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % (HEADER_LEN as u64 + schema.len() as u64)) as usize;
                match next() % 3 {
                    0 => w[at] = next() as u8,
                    1 => w[at] ^= 1 << (next() % 8),
                    _ => {
                        let at = at & !7;
                        let v = [0, 1, u64::MAX, 1 << 63, next(), next() % 4096];
                        let v = v[(next() % v.len() as u64) as usize];
                        if at + 8 <= w.len() {
                            w[at..at + 8].copy_from_slice(&v.to_ne_bytes());
                        }
                    }
                }
            }
            if round % 2 == 0 {
                let mut h = Header::read(&w).unwrap();
                let claimed = claimed_schema_len(&w).unwrap_or(0);
                let end = (HEADER_LEN + claimed).min(w.len());
                h.seal(&w[HEADER_LEN..end]);
                w[..HEADER_LEN].copy_from_slice(h.as_bytes());
            }
            let file_len = match next() % 4 {
                0 => next() % (w.len() as u64 * 2),
                _ => w.len() as u64,
            };
            if let Ok(info) = validate_header("/x", &w, file_len) {
                accepted[seed] += 1;
                assert!(info.payload.end as u64 <= file_len);
                assert_eq!(info.payload.start % 64, 0);
                assert!(info.control.end <= info.payload.start);
                assert_eq!(info.control.len(), info.kind.control_len());
                if info.kind == Kind::Ring {
                    let lens =
                        ring_payload_lens(info.ring_capacity, info.elem_size, info.elem_align)
                            .unwrap();
                    assert!(lens.contains(&info.payload.len()), "{info:?}");
                    assert_eq!(info.dims, [info.ring_capacity as usize]);
                } else {
                    assert_eq!(
                        info.payload.len(),
                        element_count(&info.dims).unwrap() * info.elem_size
                    );
                }
            }
        }
        // Some mutations hit bytes no check depends on (e.g. the creation time).
        assert!(accepted.iter().all(|&n| n > 0), "{accepted:?}");
    }

    #[test]
    fn dims_overflow_is_an_invalid_size() {
        let s = spec(&[usize::MAX / 2, 3], "f64(8/8)");
        let e = plan("test", &s).unwrap_err();
        assert!(
            matches!(Some(e.kind()), Some(ipc_core::ErrorKind::InvalidSize)),
            "{e}"
        );
    }

    #[test]
    fn long_type_names_are_cut_to_56_bytes() {
        let schema = format!("[{}(8/8){{}};2]", "N".repeat(80));
        let mut s = spec(&[], &schema);
        s.elem_size = 16;
        let (v, _) = segment(&s);
        let info = validate_header("/x", &v, v.len() as u64).unwrap();
        assert_eq!(info.type_name, format!("[{}", "N".repeat(55)));
        let mut h = Header::new_zeroed();
        h.set_type_name(&"é".repeat(40)); // 80 bytes, cut at a char boundary
        assert_eq!(h.type_name_bytes(), "é".repeat(28).as_bytes());
    }
}
