//! The layout contract: [`SharedLayout`], [`TypeLayout`], its fingerprint and its schema.
//!
//! Two programs built separately (another version, another compiler, another target) may
//! only share a value if they agree on every byte of it. [`SharedLayout`] marks the types for
//! which that agreement can be checked: each carries a [`TypeLayout`], a tree of names,
//! sizes, alignments and field offsets, from which come
//! - a 64-bit [fingerprint](TypeLayout::fingerprint), computed at compile time, for the
//!   fast check (equal fingerprints: same layout);
//! - a [schema](TypeLayout::schema), the same tree written out as text, stored next to the
//!   value so that a mismatch can be explained field by field ([`diff_schemas`]) and a tool
//!   can print what a segment holds.
//!
//! Implement the trait with `#[derive(SharedLayout)]` (crate `ipc-derive`, re-exported by
//! `ipc` and `ipc-collections`) on `#[repr(C)]` or `#[repr(transparent)]` structs.
//!
//! # Which types are `SharedLayout`
//!
//! | type | layout name | note |
//! | --- | --- | --- |
//! | `u8` ... `u128`, `i8` ... `i128` | `u8` ... `i128` | |
//! | `usize`, `isize` | `usize`, `isize` | size follows the pointer width (see below) |
//! | `f32`, `f64` | `f32`, `f64` | every bit pattern is some float (maybe a NaN) |
//! | `AtomicU8` ... `AtomicU64`, `AtomicI8` ... `AtomicI64`, `AtomicUsize`, `AtomicIsize` | their own names | the atomic's own alignment is recorded: `AtomicU64` is 8-aligned even where `u64` is not (i686) |
//! | `[T; N]` with `T: SharedLayout` | (none: written `[T;N]`) | |
//! | derived structs | the bare type name, or `#[shared_layout(name = "...")]` | |
//!
//! Deliberately not: `bool`, `char` and enums (not every bit pattern is valid, and another
//! process can write any byte), `AtomicBool`, `NonZero*`, `Option`, references, raw
//! pointers, `AtomicPtr` (meaningful in one process only), anything with a `Drop` or heap
//! data, `UnsafeCell` (not `Sync`; shared mutation goes through atomics and the locks).
//!
//! `usize` and `isize` are allowed: they are handy for indices and lengths, and a peer built
//! for another pointer width is caught anyway, because the pointer width is mixed into the
//! fingerprint and the schema records their size (`usize(8/8)` against `usize(4/4)`).
//! Prefer `u64`/`u32` in types that must be read by programs of another pointer width.
//!
//! # The fingerprint
//!
//! [`TypeLayout::fingerprint`] is a `const fn`, a pure function of the tree: a 64-bit FNV-1a
//! hash over a length-prefixed, tagged serialisation of every node (kind, name, size, align,
//! array length, field count, each field's name, offset and layout, in declaration order),
//! finished with the SplitMix64 mixer. The target's byte order and pointer width are hashed
//! first. Two builds get the same fingerprint exactly when they agree on all of these (up to
//! the odds of a 64-bit collision). It is not a cryptographic hash: it detects mistakes, not
//! a peer that forges a layout on purpose.
//!
//! Exactly, so that a program in another language can recompute it from a schema (as
//! [`Schema::fingerprint`] does):
//!
//! ```text
//! feed(b):   h = (h XOR b) * 0x100000001b3 mod 2^64        ; FNV-1a 64, h starts at 0xcbf29ce484222325
//! num(n):    feed the 8 bytes of n as a little-endian u64 (on every target)
//! str(s):    num(len(s)), then feed each byte of s
//! start:     feed(1) [format version]; feed('l' or 'b') [byte order]; feed(64 or 32) [pointer bits]
//! node(t):   feed(tag) with scalar 1, opaque 2, array 3, struct 4; num(size); num(align); then
//!   scalar, opaque:  str(name)
//!   array:           num(len); node(elem)             [the array's own name is not hashed]
//!   struct:          str(name); num(field count); for each field in order:
//!                    feed(5); str(field name); num(offset); node(field type)
//! finish:    z = h; z = (z XOR z>>30) * 0xbf58476d1ce4e5b9; z = (z XOR z>>27) * 0x94d049bb133111eb;
//!            fingerprint = z XOR z>>31                      ; SplitMix64's finaliser, mod 2^64
//! ```
//!
//! # The schema grammar
//!
//! [`TypeLayout::schema`] writes the tree as one line of ASCII text, with no whitespace
//! other than the single space after `opaque`:
//!
//! ```text
//! schema  = type
//! type    = scalar / opaque / array / struct
//! scalar  = NAME "(" SIZE "/" ALIGN ")"                      ; u64(8/8)
//! opaque  = NAME "(opaque " SIZE "/" ALIGN ")"               ; RawMutex(opaque 40/8)
//! array   = "[" type ";" LEN "]"                              ; [u64(8/8);32]
//! struct  = NAME "(" SIZE "/" ALIGN ")" "{" [fields] "}"      ; Unit(0/1){}
//! fields  = field *("," field)
//! field   = NAME ":" type "@" OFFSET                          ; hits:u64(8/8)@0
//! NAME    = 1*(ALPHA / DIGIT / "_")                           ; tuple fields are 0, 1, ...
//! SIZE = ALIGN = LEN = OFFSET = 1*DIGIT                       ; decimal, fits in usize
//! ```
//!
//! An array's size and alignment are not written: they are the element's size times the
//! length and the element's alignment. A struct's fields appear in declaration order. A name
//! containing a character outside `NAME` (only possible with a hand-written [`TypeLayout`])
//! is written with each such character replaced by `_`. Example:
//!
//! ```text
//! Stats(264/8){requests:AtomicU64(8/8)@0,hist:[u64(8/8);32]@8}
//! ```
//!
//! A schema read back from shared memory is untrusted: [`Schema::parse`] and
//! [`diff_schemas`] never panic on any input (nesting deeper than [`MAX_SCHEMA_DEPTH`],
//! numbers that overflow, duplicate field names and trailing bytes are errors).

mod fingerprint;
mod impls;
mod schema;

pub use schema::{
    diff_schemas, Schema, SchemaDiff, SchemaDiffKind, SchemaField, SchemaNode, SchemaShape,
    MAX_SCHEMA_DEPTH, MAX_SCHEMA_DIFFS,
};

use crate::Result;

/// The layout of a type as a tree: what two separately built programs compare before they
/// share a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeLayout {
    /// The type's bare name (no module path), e.g. `u64`, `RawMutex`, `Stats`; an
    /// identifier (letters, digits, `_`).
    pub name: &'static str,
    /// `size_of::<T>()`.
    pub size: usize,
    /// `align_of::<T>()`.
    pub align: usize,
    /// What the type is made of.
    pub shape: Shape,
}

/// What a [`TypeLayout`] is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A primitive scalar (integer, float, or an atomic of one); the name says which.
    Scalar,
    /// A type whose bytes are opaque but whose name, size and alignment are fixed, such as
    /// the in-place process-shared primitives (`RawMutex` wraps a `pthread_mutex_t`).
    Opaque,
    /// `[elem; len]`.
    Array {
        /// The element's layout.
        elem: &'static TypeLayout,
        /// The number of elements.
        len: usize,
    },
    /// A `repr(C)` or `repr(transparent)` struct and its fields in declaration order.
    Struct {
        /// The fields.
        fields: &'static [Field],
    },
}

/// One field of a struct layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field's name (`0`, `1`, ... for tuple structs).
    pub name: &'static str,
    /// `offset_of!(Struct, field)`.
    pub offset: usize,
    /// The field type's layout.
    pub layout: &'static TypeLayout,
}

impl TypeLayout {
    /// The layout of a type with fixed name, size and alignment but opaque contents.
    pub const fn opaque(name: &'static str, size: usize, align: usize) -> Self {
        TypeLayout {
            name,
            size,
            align,
            shape: Shape::Opaque,
        }
    }

    /// The layout of a primitive scalar.
    pub const fn scalar(name: &'static str, size: usize, align: usize) -> Self {
        TypeLayout {
            name,
            size,
            align,
            shape: Shape::Scalar,
        }
    }

    /// The layout of `[elem; len]` (the name is `"[T;N]"`; it is not part of the schema).
    ///
    /// The size saturates at `usize::MAX` if `elem.size * len` overflows, which no real
    /// array type can do.
    pub const fn array(elem: &'static TypeLayout, len: usize) -> Self {
        TypeLayout {
            name: "[T;N]",
            size: match elem.size.checked_mul(len) {
                Some(s) => s,
                None => usize::MAX,
            },
            align: elem.align,
            shape: Shape::Array { elem, len },
        }
    }

    /// The layout of a struct with the given fields (in declaration order).
    pub const fn structure(
        name: &'static str,
        size: usize,
        align: usize,
        fields: &'static [Field],
    ) -> Self {
        TypeLayout {
            name,
            size,
            align,
            shape: Shape::Struct { fields },
        }
    }

    /// A 64-bit hash of the whole tree, with the target's byte order and pointer width
    /// mixed in; `const`, so it costs nothing at run time.
    ///
    /// Two layouts get the same fingerprint exactly when they agree on every name, size,
    /// alignment, array length, field name and offset, on the target's endianness and on
    /// its pointer width (see the [module docs](self) for the algorithm).
    ///
    /// ```
    /// use ipc_core::SharedLayout;
    /// const FP: u64 = <[u32; 4] as SharedLayout>::LAYOUT.fingerprint();
    /// assert_ne!(FP, <[u32; 5] as SharedLayout>::LAYOUT.fingerprint());
    /// assert_ne!(FP, <[i32; 4] as SharedLayout>::LAYOUT.fingerprint());
    /// ```
    pub const fn fingerprint(&self) -> u64 {
        fingerprint::fingerprint(self)
    }

    /// The type's name as Rust writes it: [`name`](TypeLayout::name), except for an array,
    /// whose `name` is the placeholder `[T;N]` and whose type name is spelt out from its
    /// element, e.g. `[f64;2]` or `[[u8;4];2]`. For messages.
    pub fn type_name(&self) -> String {
        match self.shape {
            Shape::Array { elem, len } => format!("[{};{len}]", elem.type_name()),
            _ => self.name.to_owned(),
        }
    }

    /// The tree written out as text, in the grammar of the [module docs](self), e.g.
    /// `Stats(264/8){requests:AtomicU64(8/8)@0,hist:[u64(8/8);32]@8}`.
    ///
    /// It records every name, size, alignment, array length and offset, so
    /// [`diff_schemas`] can name each difference between two builds. (The target's
    /// byte order and pointer width are not in it: compare [`TypeLayout::fingerprint`] for
    /// those.)
    pub fn schema(&self) -> String {
        let mut out = String::new();
        schema::write(self, &mut out);
        out
    }
}

/// A type that may live in memory shared between processes built separately.
///
/// Derive it with `#[derive(SharedLayout)]` on a `#[repr(C)]` or `#[repr(transparent)]`
/// struct whose fields are all `SharedLayout`; it is implemented here for the integers,
/// floats, integer atomics and arrays (see the [module docs](self) for the list and for what
/// is left out on purpose).
///
/// ```
/// use ipc_core::{SharedLayout, TypeLayout};
/// use std::sync::atomic::AtomicU64;
///
/// #[derive(ipc_derive::SharedLayout)]
/// #[repr(C)]
/// struct Stats {
///     requests: AtomicU64,
///     hist: [u64; 32],
/// }
///
/// const L: TypeLayout = Stats::LAYOUT;
/// assert_eq!((L.name, L.size, L.align), ("Stats", 264, 8));
/// assert_eq!(
///     L.schema(),
///     "Stats(264/8){requests:AtomicU64(8/8)@0,hist:[u64(8/8);32]@8}"
/// );
/// // The fingerprint is a compile-time constant that changes with any layout change.
/// const FP: u64 = Stats::LAYOUT.fingerprint();
/// assert_ne!(FP, <[u64; 33] as SharedLayout>::LAYOUT.fingerprint());
/// ```
///
/// # Safety
/// Implementors guarantee that `Self`
/// 1. has a layout fixed by the language (`repr(C)`, `repr(transparent)`, a primitive, an
///    array of such);
/// 2. is valid for every bit pattern, once [`init_in_place`](Self::init_in_place) has run
///    (another process can write any bytes into it);
/// 3. holds no pointer, reference, file descriptor or handle meaningful in one process only;
/// 4. needs no `Drop` (a process may die and abandon it);
/// 5. is described exactly by [`LAYOUT`](Self::LAYOUT): `name` is the type's (stable) name,
///    `size` and `align` are `size_of::<Self>()` and `align_of::<Self>()`, and for a struct
///    `fields` lists every field in declaration order with its `offset_of!` and its type's
///    `LAYOUT`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shared between processes: it is not `SharedLayout`",
    label = "not `SharedLayout`",
    note = "`SharedLayout` is implemented for integers, floats, integer atomics, arrays of \
            them and `#[derive(SharedLayout)]` structs; not for `bool`, `char`, enums, \
            pointers, references, `Option`, `NonZero*` or heap types"
)]
pub unsafe trait SharedLayout: Sized + Sync + 'static {
    /// The layout tree of `Self`.
    const LAYOUT: TypeLayout;

    /// Turns zero-filled memory into a valid, initialised value in place (process-shared
    /// pthread objects need this). The default does nothing.
    ///
    /// # Safety
    /// `this` must be valid for writes of `size_of::<Self>()` bytes, aligned, zero-filled,
    /// and not accessed by any other thread or process until this returns.
    unsafe fn init_in_place(this: *mut Self) -> Result<()> {
        let _ = this;
        Ok(())
    }
}
