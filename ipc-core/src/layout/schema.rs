//! The schema string: writing a [`TypeLayout`] out, parsing it back ([`Schema`]), and
//! comparing two of them field by field ([`diff_schemas`]). The grammar is in the module
//! docs of `layout`.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};

use super::{fingerprint, Shape, TypeLayout};
use crate::{Error, ErrorKind, Result};

/// How deeply types may nest in a schema that [`Schema::parse`] accepts (a struct in an
/// array in a struct ... counts one level each); deeper input is refused rather than
/// risking the stack.
pub const MAX_SCHEMA_DEPTH: usize = 64;

// ---------------------------------------------------------------------------------------
// Writing

fn write_name(name: &str, out: &mut String) {
    if name.is_empty() {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
}

pub(super) fn write(l: &TypeLayout, out: &mut String) {
    // `write!` into a String cannot fail.
    match l.shape {
        Shape::Scalar => {
            write_name(l.name, out);
            let _ = write!(out, "({}/{})", l.size, l.align);
        }
        Shape::Opaque => {
            write_name(l.name, out);
            let _ = write!(out, "(opaque {}/{})", l.size, l.align);
        }
        Shape::Array { elem, len } => {
            out.push('[');
            write(elem, out);
            let _ = write!(out, ";{len}]");
        }
        Shape::Struct { fields } => {
            write_name(l.name, out);
            let _ = write!(out, "({}/{}){{", l.size, l.align);
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_name(f.name, out);
                out.push(':');
                write(f.layout, out);
                let _ = write!(out, "@{}", f.offset);
            }
            out.push('}');
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parsing

/// A schema parsed back from text (typically read from a shared segment written by another
/// build): the same tree as a [`TypeLayout`], owned.
///
/// Its `Display` writes the canonical text again, so `Schema::parse(s)?.to_string() == s`
/// for every `s` produced by [`TypeLayout::schema`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema(Node);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    name: String,
    size: usize,
    align: usize,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Scalar,
    Opaque,
    Array(Box<Node>, usize),
    Struct(Vec<SchemaField>),
}

/// One field of a struct in a parsed [`Schema`] (see [`SchemaShape::Struct`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaField {
    name: String,
    offset: usize,
    ty: Node,
}

impl SchemaField {
    /// The field's name (`0`, `1`, ... for a tuple struct's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field's offset in its struct.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The field's type.
    pub fn ty(&self) -> SchemaNode<'_> {
        SchemaNode(&self.ty)
    }
}

/// One type in a parsed [`Schema`], for walking the tree (e.g. to draw it, or to find the
/// scalars in it): a read-only view that borrows the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaNode<'a>(&'a Node);

/// What a [`SchemaNode`] is made of: the parsed counterpart of [`Shape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaShape<'a> {
    /// A scalar (`u64(8/8)`).
    Scalar,
    /// An opaque type (`RawMutex(opaque 40/8)`).
    Opaque,
    /// `[elem; len]`.
    Array {
        /// The element's type.
        elem: SchemaNode<'a>,
        /// The number of elements.
        len: usize,
    },
    /// A struct and its fields, in declaration order.
    Struct {
        /// The fields.
        fields: &'a [SchemaField],
    },
}

impl<'a> SchemaNode<'a> {
    /// The type's name (`[T;N]` for an array).
    pub fn name(self) -> &'a str {
        &self.0.name
    }

    /// The type's size in bytes (for an array, the element's size times the length: the
    /// parser refuses a schema where that overflows).
    pub fn size(self) -> usize {
        self.0.size
    }

    /// The type's alignment in bytes.
    pub fn align(self) -> usize {
        self.0.align
    }

    /// What the type is made of.
    pub fn shape(self) -> SchemaShape<'a> {
        match &self.0.kind {
            Kind::Scalar => SchemaShape::Scalar,
            Kind::Opaque => SchemaShape::Opaque,
            Kind::Array(elem, len) => SchemaShape::Array {
                elem: SchemaNode(elem),
                len: *len,
            },
            Kind::Struct(fields) => SchemaShape::Struct { fields },
        }
    }
}

impl Schema {
    /// Parses a schema in the grammar of the `layout` module docs.
    ///
    /// Never panics, whatever the input: malformed text, a number that does not fit in
    /// `usize`, an array whose size overflows, a duplicate field name, nesting deeper than
    /// [`MAX_SCHEMA_DEPTH`] or trailing bytes give an [`ErrorKind::InvalidInput`] error that
    /// says what and where.
    pub fn parse(text: &str) -> Result<Schema> {
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
        };
        let node = p.ty(0).map_err(|why| {
            Error::with_text(
                "parse schema",
                ErrorKind::InvalidInput,
                format!("schema: {why} at byte {}", p.pos),
            )
        })?;
        if p.pos != p.s.len() {
            return Err(Error::with_text(
                "parse schema",
                ErrorKind::InvalidInput,
                format!("schema: trailing bytes at byte {}", p.pos),
            ));
        }
        Ok(Schema(node))
    }

    /// The fingerprint this schema's tree has on this target: equal to
    /// [`TypeLayout::fingerprint`] of the layout it was written from (if its names were
    /// already in the grammar's alphabet). A reader can check that a stored schema and a
    /// stored fingerprint belong together.
    pub fn fingerprint(&self) -> u64 {
        fingerprint::mix(self.0.hash(fingerprint::start()))
    }

    /// The top-level type, to walk the tree (nested at most [`MAX_SCHEMA_DEPTH`] deep).
    pub fn root(&self) -> SchemaNode<'_> {
        SchemaNode(&self.0)
    }

    /// The top-level type's name (`[T;N]` for an array).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The top-level type's size in bytes.
    pub fn size(&self) -> usize {
        self.0.size
    }

    /// The top-level type's alignment in bytes.
    pub fn align(&self) -> usize {
        self.0.align
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f)
    }
}

impl Node {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Scalar => write!(f, "{}({}/{})", self.name, self.size, self.align),
            Kind::Opaque => write!(f, "{}(opaque {}/{})", self.name, self.size, self.align),
            Kind::Array(elem, len) => {
                f.write_str("[")?;
                elem.write(f)?;
                write!(f, ";{len}]")
            }
            Kind::Struct(fields) => {
                write!(f, "{}({}/{}){{", self.name, self.size, self.align)?;
                for (i, fld) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:", fld.name)?;
                    fld.ty.write(f)?;
                    write!(f, "@{}", fld.offset)?;
                }
                f.write_str("}")
            }
        }
    }

    /// The same walk as `fingerprint::node`, over the parsed tree.
    fn hash(&self, mut h: u64) -> u64 {
        use fingerprint::{byte, num, string};
        let tag = match self.kind {
            Kind::Scalar => fingerprint::TAG_SCALAR,
            Kind::Opaque => fingerprint::TAG_OPAQUE,
            Kind::Array(..) => fingerprint::TAG_ARRAY,
            Kind::Struct(..) => fingerprint::TAG_STRUCT,
        };
        h = num(num(byte(h, tag), self.size), self.align);
        match &self.kind {
            Kind::Scalar | Kind::Opaque => string(h, &self.name),
            Kind::Array(elem, len) => elem.hash(num(h, *len)),
            Kind::Struct(fields) => {
                h = num(string(h, &self.name), fields.len());
                for f in fields {
                    h = num(string(byte(h, fingerprint::TAG_FIELD), &f.name), f.offset);
                    h = f.ty.hash(h);
                }
                h
            }
        }
    }

    /// The type as a reader would write it: `u64`, `Stats`, `[u64;32]`.
    fn short(&self) -> String {
        match &self.kind {
            Kind::Array(elem, len) => format!("[{};{len}]", elem.short()),
            _ => self.name.clone(),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Scalar => "scalar",
            Kind::Opaque => "opaque",
            Kind::Array(..) => "array",
            Kind::Struct(..) => "struct",
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

type PResult<T> = std::result::Result<T, String>;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected `{}`", b as char))
        }
    }

    fn name(&mut self) -> PResult<String> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        if start == self.pos {
            return Err("expected a name".into());
        }
        // Only ASCII alphanumerics and `_` were taken: valid UTF-8.
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn number(&mut self) -> PResult<usize> {
        let start = self.pos;
        let mut n: usize = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(b - b'0')))
                .ok_or("number too large")?;
            self.pos += 1;
        }
        if start == self.pos {
            return Err("expected a number".into());
        }
        // One text per layout: the writer never puts a leading zero, and a reader that
        // compares schemas byte for byte must not meet `08` for `8` (FORMAT.md, "The schema
        // string").
        if self.s[start] == b'0' && self.pos - start > 1 {
            return Err("a number with a leading zero".into());
        }
        Ok(n)
    }

    /// `"(" [ "opaque " ] SIZE "/" ALIGN ")"`: returns (opaque, size, align).
    fn size_align(&mut self) -> PResult<(bool, usize, usize)> {
        self.expect(b'(')?;
        let opaque = self.s[self.pos..].starts_with(b"opaque ");
        if opaque {
            self.pos += "opaque ".len();
        }
        let size = self.number()?;
        self.expect(b'/')?;
        let align = self.number()?;
        self.expect(b')')?;
        Ok((opaque, size, align))
    }

    /// Parses one `type` (nested at `depth`).
    fn ty(&mut self, depth: usize) -> PResult<Node> {
        if depth >= MAX_SCHEMA_DEPTH {
            return Err(format!("nested deeper than {MAX_SCHEMA_DEPTH} levels"));
        }
        if self.eat(b'[') {
            let elem = self.ty(depth + 1)?;
            self.expect(b';')?;
            let len = self.number()?;
            self.expect(b']')?;
            let size = elem.size.checked_mul(len).ok_or("array size overflows")?;
            return Ok(Node {
                name: "[T;N]".into(),
                size,
                align: elem.align,
                kind: Kind::Array(Box::new(elem), len),
            });
        }
        let name = self.name()?;
        let (opaque, size, align) = self.size_align()?;
        let scalar = !opaque && self.peek() != Some(b'{');
        check_size_align(&name, scalar, size, align)?;
        if opaque {
            return Ok(Node {
                name,
                size,
                align,
                kind: Kind::Opaque,
            });
        }
        if !self.eat(b'{') {
            return Ok(Node {
                name,
                size,
                align,
                kind: Kind::Scalar,
            });
        }
        let mut fields = Vec::new();
        let mut seen = HashSet::new();
        if !self.eat(b'}') {
            loop {
                let fname = self.name()?;
                if !seen.insert(fname.clone()) {
                    return Err(format!("duplicate field `{fname}`"));
                }
                self.expect(b':')?;
                let ty = self.ty(depth + 1)?;
                self.expect(b'@')?;
                let offset = self.number()?;
                fields.push(SchemaField {
                    name: fname,
                    offset,
                    ty,
                });
                if self.eat(b'}') {
                    break;
                }
                self.expect(b',')?;
            }
        }
        Ok(Node {
            name,
            size,
            align,
            kind: Kind::Struct(fields),
        })
    }
}

/// The rules every named node of a schema obeys, as every Rust type does (FORMAT.md, "The
/// schema string"): `ALIGN` is a power of two and `SIZE` a multiple of it; a scalar named
/// after one of Rust's fixed-width scalars (`u8` .. `u128`, `i8` .. `i128`, `f32`, `f64`
/// and the integer atomics) has that width, and one named `usize`/`isize` (or their
/// atomics) a power of two from 2 to 16 bytes, with an alignment no larger. Other scalar
/// names are allowed (a reader that does not know one names it and does not read it).
fn check_size_align(name: &str, scalar: bool, size: usize, align: usize) -> PResult<()> {
    if !align.is_power_of_two() {
        return Err(format!("`{name}`: alignment {align} is not a power of two"));
    }
    if size % align != 0 {
        return Err(format!(
            "`{name}`: size {size} is not a multiple of its alignment {align}"
        ));
    }
    if !scalar {
        return Ok(());
    }
    // An integer atomic has its integer's size (`AtomicU64` is a `u64`).
    let width = match name {
        "u8" | "i8" | "AtomicU8" | "AtomicI8" => Some(1),
        "u16" | "i16" | "AtomicU16" | "AtomicI16" => Some(2),
        "u32" | "i32" | "f32" | "AtomicU32" | "AtomicI32" => Some(4),
        "u64" | "i64" | "f64" | "AtomicU64" | "AtomicI64" => Some(8),
        "u128" | "i128" | "AtomicU128" | "AtomicI128" => Some(16),
        "usize" | "isize" | "AtomicUsize" | "AtomicIsize" if matches!(size, 2 | 4 | 8 | 16) => {
            Some(size)
        }
        "usize" | "isize" | "AtomicUsize" | "AtomicIsize" => {
            return Err(format!("`{name}` of {size} bytes: not a pointer width"));
        }
        _ => None,
    };
    match width {
        Some(w) if w != size || align > w => Err(format!(
            "scalar `{name}` of size {size} and alignment {align}: it is {w} bytes, aligned to at most {w}"
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Comparing

/// How many differences [`diff_schemas`] lists at most; a [`SchemaDiffKind::Truncated`]
/// entry after them says how many more there are.
pub const MAX_SCHEMA_DIFFS: usize = 64;

/// One difference between an expected and a found schema (see [`diff_schemas`]).
///
/// `Display` says what differs in words, e.g. ``field `hist`: expected type [u64;32], found [u32;32]``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDiff {
    path: String,
    /// `path[..root_len]` is the top-level type's name; the rest names a field.
    root_len: usize,
    kind: SchemaDiffKind,
}

/// What kind of difference a [`SchemaDiff`] is. Types are written short: `u64`, `Stats`,
/// `[u64;32]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaDiffKind {
    /// The found type has a field the expected one has not.
    Added {
        /// The field's type.
        ty: String,
        /// Its offset in the found type.
        offset: usize,
    },
    /// The found type lacks a field the expected one has.
    Missing {
        /// The field's type.
        ty: String,
        /// Its offset in the expected type.
        offset: usize,
    },
    /// The field is at another offset.
    Moved {
        /// The expected offset.
        expected: usize,
        /// The found offset.
        found: usize,
    },
    /// The type has another name, another kind (scalar, opaque, array, struct) or another
    /// array length; nothing below it is compared.
    Retyped {
        /// The expected type.
        expected: String,
        /// The found type.
        found: String,
    },
    /// Same type name, another size.
    Resized {
        /// The expected size.
        expected: usize,
        /// The found size.
        found: usize,
    },
    /// Same type name, another alignment.
    Realigned {
        /// The expected alignment.
        expected: usize,
        /// The found alignment.
        found: usize,
    },
    /// The same fields at the same offsets, declared in another order (only zero-sized
    /// fields, which share an offset, can do that): the fingerprint hashes the order, so
    /// this is a difference too.
    Reordered {
        /// The expected field names, in declaration order.
        expected: Vec<String>,
        /// The found field names, in declaration order.
        found: Vec<String>,
    },
    /// The list was cut after [`MAX_SCHEMA_DIFFS`] entries (or a megabyte of paths): this
    /// many more differences were found. Always the last entry.
    Truncated {
        /// How many differences are not listed.
        more: usize,
    },
    /// One of the schemas could not be parsed (from a corrupt or foreign segment).
    Unparseable {
        /// Which one: `"expected"` or `"found"`.
        which: &'static str,
        /// Why, and where.
        reason: String,
    },
}

impl SchemaDiff {
    fn new(path: &str, root_len: usize, kind: SchemaDiffKind) -> Self {
        SchemaDiff {
            path: path.to_owned(),
            root_len: root_len.min(path.len()),
            kind,
        }
    }

    /// Where the difference is: the expected top-level type's name, then `.field` for each
    /// field and `[]` for an array's element, e.g. `Stats.hist` or `Stats.inner.x`; empty for
    /// [`SchemaDiffKind::Unparseable`] and [`SchemaDiffKind::Truncated`].
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What differs.
    pub fn kind(&self) -> &SchemaDiffKind {
        &self.kind
    }
}

impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SchemaDiffKind::Unparseable { which, reason } => {
                return write!(f, "{which} schema unparseable: {reason}")
            }
            SchemaDiffKind::Truncated { more } => {
                return write!(f, "... and {more} more differences")
            }
            _ => {}
        }
        // The root's name, then `.field` / `[]` steps: the steps name a field.
        match self.path.get(self.root_len..) {
            Some(rest) if !rest.is_empty() => {
                write!(f, "field `{}`: ", rest.strip_prefix('.').unwrap_or(rest))?
            }
            _ => write!(f, "type `{}`: ", self.path)?,
        }
        match &self.kind {
            SchemaDiffKind::Added { ty, offset } => write!(f, "added ({ty} at offset {offset})"),
            SchemaDiffKind::Missing { ty, offset } => {
                write!(f, "missing (expected {ty} at offset {offset})")
            }
            SchemaDiffKind::Moved { expected, found } => {
                write!(f, "expected offset {expected}, found {found}")
            }
            SchemaDiffKind::Retyped { expected, found } => {
                write!(f, "expected type {expected}, found {found}")
            }
            SchemaDiffKind::Resized { expected, found } => {
                write!(f, "expected size {expected}, found {found}")
            }
            SchemaDiffKind::Realigned { expected, found } => {
                write!(f, "expected align {expected}, found {found}")
            }
            SchemaDiffKind::Reordered { expected, found } => {
                write!(
                    f,
                    "expected field order [{}], found [{}]",
                    expected.join(", "),
                    found.join(", ")
                )
            }
            SchemaDiffKind::Unparseable { .. } | SchemaDiffKind::Truncated { .. } => Ok(()),
        }
    }
}

/// Compares the schema this build `expected` with the one `found` (e.g. in a segment written
/// by another build) and lists every difference, for error messages.
///
/// Empty exactly when the two schemas parse to the same tree, the tree their
/// [fingerprints](Schema::fingerprint) hash (in particular `diff_schemas(a, a)` is empty for
/// every parseable `a`). Fields are matched by name: a field only in `expected` is
/// [`Missing`](SchemaDiffKind::Missing), one only in `found` is
/// [`Added`](SchemaDiffKind::Added), one at another offset is
/// [`Moved`](SchemaDiffKind::Moved), and matched fields are compared recursively; the same
/// fields at the same offsets in another order are
/// [`Reordered`](SchemaDiffKind::Reordered). A type with
/// another name, kind or array length is [`Retyped`](SchemaDiffKind::Retyped) (and not looked
/// into); one with the same name and another size or alignment is
/// [`Resized`](SchemaDiffKind::Resized) / [`Realigned`](SchemaDiffKind::Realigned) (a struct's
/// size change is only listed when no field difference explains it). Never panics: a schema
/// that does not parse gives one [`Unparseable`](SchemaDiffKind::Unparseable) entry.
///
/// Bounded on hostile input: linear time in the two texts, and at most
/// [`MAX_SCHEMA_DIFFS`] entries (fewer if their paths add up to over a megabyte), then one
/// [`Truncated`](SchemaDiffKind::Truncated) entry that counts the rest.
///
/// ```
/// use ipc_core::layout::diff_schemas;
/// let old = "Stats(264/8){requests:u64(8/8)@0,hist:[u64(8/8);32]@8}";
/// let new = "Stats(136/8){requests:u64(8/8)@0,hist:[u32(4/4);32]@8}";
/// let diffs = diff_schemas(old, new);
/// assert_eq!(diffs.len(), 1);
/// assert_eq!(diffs[0].path(), "Stats.hist");
/// assert_eq!(diffs[0].to_string(), "field `hist`: expected type [u64;32], found [u32;32]");
/// assert!(diff_schemas(old, old).is_empty());
/// ```
pub fn diff_schemas(expected: &str, found: &str) -> Vec<SchemaDiff> {
    let mut out = Vec::new();
    let e = Schema::parse(expected);
    let f = Schema::parse(found);
    for (which, r) in [("expected", &e), ("found", &f)] {
        if let Err(err) = r {
            let reason = match (err.kind(), err.detail()) {
                (ErrorKind::InvalidInput, Some(why)) => why.to_owned(),
                (other, _) => other.to_string(),
            };
            out.push(SchemaDiff::new(
                "",
                0,
                SchemaDiffKind::Unparseable { which, reason },
            ));
        }
    }
    if let (Ok(e), Ok(f)) = (e, f) {
        let path = e.0.short();
        let mut d = Differ {
            root: path.len(),
            path,
            out,
            found: 0,
            path_bytes: 0,
        };
        d.nodes(&e.0, &f.0);
        if d.found > d.out.len() {
            let more = d.found - d.out.len();
            d.out
                .push(SchemaDiff::new("", 0, SchemaDiffKind::Truncated { more }));
        }
        out = d.out;
    }
    out
}

/// How many bytes of paths [`diff_schemas`] keeps at most (past the first difference): two
/// hostile schemas of a megabyte, one with a long name above many differing fields, would
/// otherwise ask for gigabytes. Real paths are far shorter, so real lists stop at
/// [`MAX_SCHEMA_DIFFS`] first.
const MAX_DIFF_PATH_BYTES: usize = 1 << 20;

/// The walk of [`diff_schemas`] over two parsed trees.
struct Differ {
    /// Where the walk is: the expected root's short type, then `.field` and `[]` steps,
    /// pushed on the way down and truncated on the way up (so building it costs linear
    /// time, however many fields share a long prefix).
    path: String,
    /// `path[..root]` is the root's short type.
    root: usize,
    /// The differences listed so far.
    out: Vec<SchemaDiff>,
    /// How many differences were found, listed or not.
    found: usize,
    /// The total length of the listed paths.
    path_bytes: usize,
}

impl Differ {
    /// Counts a difference at the current path and lists it if the bounds allow;
    /// `kind` is only built for a listed one.
    fn report(&mut self, kind: impl FnOnce() -> SchemaDiffKind) {
        self.found += 1;
        let fits = self.out.is_empty()
            || (self.out.len() < MAX_SCHEMA_DIFFS
                && self.path_bytes + self.path.len() <= MAX_DIFF_PATH_BYTES);
        if fits && self.found == self.out.len() + 1 {
            self.path_bytes += self.path.len();
            self.out
                .push(SchemaDiff::new(&self.path, self.root, kind()));
        }
    }

    /// Runs `f` with `step` appended to the path.
    fn at(&mut self, step: &[&str], f: impl FnOnce(&mut Self)) {
        let len = self.path.len();
        for s in step {
            self.path.push_str(s);
        }
        f(self);
        self.path.truncate(len);
    }

    fn nodes(&mut self, e: &Node, f: &Node) {
        if e == f {
            return;
        }
        if !same_short(e, f) || e.kind_name() != f.kind_name() {
            self.report(|| {
                let (es, fs) = (e.short(), f.short());
                let (expected, found) = if es == fs {
                    // Same name, another kind: say which kinds.
                    (
                        format!("{es} ({})", e.kind_name()),
                        format!("{fs} ({})", f.kind_name()),
                    )
                } else {
                    (es, fs)
                };
                SchemaDiffKind::Retyped { expected, found }
            });
            return;
        }
        let before = self.found;
        match (&e.kind, &f.kind) {
            (Kind::Array(ee, _), Kind::Array(fe, _)) => {
                self.at(&["[]"], |d| d.nodes(ee, fe));
                // The element's differences explain the array's size and alignment.
                return;
            }
            (Kind::Struct(ef), Kind::Struct(ff)) => self.fields(ef, ff),
            _ => {}
        }
        let explained = self.found > before;
        if e.align != f.align {
            self.report(|| SchemaDiffKind::Realigned {
                expected: e.align,
                found: f.align,
            });
        }
        if e.size != f.size && !explained {
            self.report(|| SchemaDiffKind::Resized {
                expected: e.size,
                found: f.size,
            });
        }
    }

    fn fields(&mut self, ef: &[SchemaField], ff: &[SchemaField]) {
        let before = self.found;
        // Indexed by name, so a hostile schema with many fields costs linear time.
        let found: HashMap<&str, &SchemaField> = ff.iter().map(|f| (f.name.as_str(), f)).collect();
        let expected: HashSet<&str> = ef.iter().map(|f| f.name.as_str()).collect();
        for e in ef {
            self.at(&[".", &e.name], |d| match found.get(e.name.as_str()) {
                None => d.report(|| SchemaDiffKind::Missing {
                    ty: e.ty.short(),
                    offset: e.offset,
                }),
                Some(f) => {
                    if e.offset != f.offset {
                        d.report(|| SchemaDiffKind::Moved {
                            expected: e.offset,
                            found: f.offset,
                        });
                    }
                    d.nodes(&e.ty, &f.ty);
                }
            });
        }
        for f in ff.iter().filter(|f| !expected.contains(f.name.as_str())) {
            self.at(&[".", &f.name], |d| {
                d.report(|| SchemaDiffKind::Added {
                    ty: f.ty.short(),
                    offset: f.offset,
                })
            });
        }
        if self.found == before && !ef.iter().map(|f| &f.name).eq(ff.iter().map(|f| &f.name)) {
            let names = |fs: &[SchemaField]| fs.iter().map(|f| f.name.clone()).collect();
            self.report(|| SchemaDiffKind::Reordered {
                expected: names(ef),
                found: names(ff),
            });
        }
    }
}

/// Whether two nodes have the same short type (`u64`, `Stats`, `[u64;32]`), i.e.
/// `e.short() == f.short()`, without allocating.
fn same_short(e: &Node, f: &Node) -> bool {
    match (&e.kind, &f.kind) {
        (Kind::Array(ee, el), Kind::Array(fe, fl)) => el == fl && same_short(ee, fe),
        (Kind::Array(..), _) | (_, Kind::Array(..)) => false,
        _ => e.name == f.name,
    }
}
