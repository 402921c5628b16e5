//! The schema string (`FORMAT.md`, "The schema string") drawn as a tree:
//!
//! ```text
//! Stats (328/8)
//! ├── requests @0: AtomicU64 (8/8)
//! ├── hist @8: [u64 (8/8); 32]
//! └── lock @264: SharedMutex (48/8)
//!     ├── raw @0: RawMutex (opaque 40/8)
//!     └── data @40: u64 (8/8)
//! ```
//!
//! The text is first checked with `ipc_core::layout::Schema::parse` (the normative parser);
//! the small parser here only builds the tree to draw, and refuses anything it does not
//! understand (or nested deeper than `MAX_SCHEMA_DEPTH`) with an error instead of panicking.

use ipc_core::layout::{Schema, MAX_SCHEMA_DEPTH};

#[derive(Debug)]
enum Node {
    Scalar {
        name: String,
        size: u64,
        align: u64,
    },
    Opaque {
        name: String,
        size: u64,
        align: u64,
    },
    Array {
        elem: Box<Node>,
        len: u64,
    },
    Struct {
        name: String,
        size: u64,
        align: u64,
        fields: Vec<(String, u64, Node)>,
    },
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, lit: &str) -> Result<(), String> {
        if self.s[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(format!("expected {lit:?} at byte {}", self.pos))
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(format!("expected a name at byte {start}"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn number(&mut self) -> Result<u64, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("expected a number at byte {start}"))
    }

    fn size_align(&mut self) -> Result<(u64, u64), String> {
        let size = self.number()?;
        self.eat("/")?;
        let align = self.number()?;
        self.eat(")")?;
        Ok((size, align))
    }

    fn ty(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(format!("nested deeper than {MAX_SCHEMA_DEPTH}"));
        }
        if self.peek() == Some(b'[') {
            self.pos += 1;
            let elem = self.ty(depth + 1)?;
            self.eat(";")?;
            let len = self.number()?;
            self.eat("]")?;
            return Ok(Node::Array {
                elem: Box::new(elem),
                len,
            });
        }
        let name = self.name()?;
        self.eat("(")?;
        if self.s[self.pos..].starts_with(b"opaque ") {
            self.pos += "opaque ".len();
            let (size, align) = self.size_align()?;
            return Ok(Node::Opaque { name, size, align });
        }
        let (size, align) = self.size_align()?;
        if self.peek() != Some(b'{') {
            return Ok(Node::Scalar { name, size, align });
        }
        self.pos += 1;
        let mut fields = Vec::new();
        if self.peek() != Some(b'}') {
            loop {
                let fname = self.name()?;
                self.eat(":")?;
                let fty = self.ty(depth + 1)?;
                self.eat("@")?;
                let off = self.number()?;
                fields.push((fname, off, fty));
                if self.peek() == Some(b',') {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.eat("}")?;
        Ok(Node::Struct {
            name,
            size,
            align,
            fields,
        })
    }
}

/// One line's text for a type (without its fields).
fn label(n: &Node) -> String {
    match n {
        Node::Scalar { name, size, align } => format!("{name} ({size}/{align})"),
        Node::Opaque { name, size, align } => format!("{name} (opaque {size}/{align})"),
        Node::Array { elem, len } => format!("[{}; {len}]", label(elem)),
        Node::Struct {
            name, size, align, ..
        } => format!("{name} ({size}/{align})"),
    }
}

/// The fields to draw under a type: a struct's own, or those of the struct an array holds.
fn fields(n: &Node) -> &[(String, u64, Node)] {
    match n {
        Node::Struct { fields, .. } => fields,
        Node::Array { elem, .. } => fields(elem),
        _ => &[],
    }
}

fn draw(n: &Node, prefix: &str, out: &mut String) {
    let fs = fields(n);
    for (i, (name, off, ty)) in fs.iter().enumerate() {
        let last = i + 1 == fs.len();
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&format!("{name} @{off}: {}\n", label(ty)));
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        draw(ty, &deeper, out);
    }
}

/// Draws `schema` as a tree (one line per type and field, ending in a newline), or says why
/// it cannot.
pub fn render(schema: &str) -> Result<String, String> {
    Schema::parse(schema).map_err(|e| e.to_string())?;
    let mut p = Parser {
        s: schema.as_bytes(),
        pos: 0,
    };
    let root = p.ty(0)?;
    if p.pos != p.s.len() {
        return Err(format!("trailing bytes at byte {}", p.pos));
    }
    let mut out = format!("{}\n", label(&root));
    draw(&root, "", &mut out);
    Ok(out)
}

/// A scalar leaf of a layout: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// `field.sub[2].x`, or empty for a top-level scalar.
    pub path: String,
    /// Its byte offset from the start of the top-level type.
    pub offset: u64,
    /// The scalar's type name (`u64`, `AtomicI32`, `f32`, ...).
    pub ty: String,
    /// Its size in bytes.
    pub size: u64,
}

fn collect(n: &Node, path: &str, at: u64, max: usize, out: &mut Vec<Leaf>) -> Result<(), String> {
    if out.len() >= max {
        return Ok(());
    }
    match n {
        Node::Scalar { name, size, .. } => out.push(Leaf {
            path: path.to_owned(),
            offset: at,
            ty: name.clone(),
            size: *size,
        }),
        Node::Opaque { .. } => {}
        // An element without scalars adds nothing: skipping it keeps the walk bounded by
        // `max` (every element walked adds a leaf), where `[Empty(0/1){};18446744073709551615]`
        // would otherwise loop for ever.
        Node::Array { elem, .. } if !has_leaf(elem) => {}
        Node::Array { elem, len } => {
            let esize = size_of_node(elem).ok_or("array size overflows")?;
            for i in 0..*len {
                if out.len() >= max {
                    break;
                }
                let off = i
                    .checked_mul(esize)
                    .and_then(|o| o.checked_add(at))
                    .ok_or("offset overflows")?;
                collect(elem, &format!("{path}[{i}]"), off, max, out)?;
            }
        }
        Node::Struct { fields, .. } => {
            for (name, off, ty) in fields {
                let off = at.checked_add(*off).ok_or("offset overflows")?;
                let p = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                collect(ty, &p, off, max, out)?;
            }
        }
    }
    Ok(())
}

/// Whether `n` holds at least one scalar.
fn has_leaf(n: &Node) -> bool {
    match n {
        Node::Scalar { .. } => true,
        Node::Opaque { .. } => false,
        Node::Array { elem, len } => *len > 0 && has_leaf(elem),
        Node::Struct { fields, .. } => fields.iter().any(|(_, _, ty)| has_leaf(ty)),
    }
}

fn size_of_node(n: &Node) -> Option<u64> {
    match n {
        Node::Scalar { size, .. } | Node::Opaque { size, .. } | Node::Struct { size, .. } => {
            Some(*size)
        }
        Node::Array { elem, len } => size_of_node(elem)?.checked_mul(*len),
    }
}

/// The scalar leaves of `schema` in layout order (opaque types such as locks are skipped),
/// at most `max` of them, and the size of the top-level type.
pub fn leaves(schema: &str, max: usize) -> Result<(Vec<Leaf>, u64), String> {
    Schema::parse(schema).map_err(|e| e.to_string())?;
    let mut p = Parser {
        s: schema.as_bytes(),
        pos: 0,
    };
    let root = p.ty(0)?;
    let mut out = Vec::new();
    collect(&root, "", 0, max, &mut out)?;
    let size = size_of_node(&root).ok_or("size overflows")?;
    Ok((out, size))
}

/// Formats the scalar `ty` of `bytes.len()` bytes (native byte order). Atomics are shown as
/// the integers they wrap. `None` for a type this does not know.
pub fn scalar(ty: &str, bytes: &[u8]) -> Option<String> {
    let lower;
    let t = match ty.strip_prefix("Atomic") {
        Some(rest) => {
            lower = rest.to_ascii_lowercase();
            lower.as_str()
        }
        None => ty,
    };
    macro_rules! num {
        ($($name:literal => $t:ty),*) => {
            match t {
                $($name => Some(<$t>::from_ne_bytes(bytes.try_into().ok()?).to_string()),)*
                _ => None,
            }
        };
    }
    num!(
        "u8" => u8, "u16" => u16, "u32" => u32, "u64" => u64, "u128" => u128,
        "i8" => i8, "i16" => i16, "i32" => i32, "i64" => i64, "i128" => i128,
        "usize" => usize, "isize" => isize, "f32" => f32, "f64" => f64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_nested_structs_and_arrays() {
        let s = "Stats(328/8){requests:AtomicU64(8/8)@0,hist:[u64(8/8);32]@8,\
                 lock:SharedMutex(48/8){raw:RawMutex(opaque 40/8)@0,data:u64(8/8)@40}@264,\
                 pts:[P(8/4){x:f32(4/4)@0,y:f32(4/4)@4};2]@312}";
        let t = render(s).unwrap();
        let want = "Stats (328/8)\n\
                    ├── requests @0: AtomicU64 (8/8)\n\
                    ├── hist @8: [u64 (8/8); 32]\n\
                    ├── lock @264: SharedMutex (48/8)\n\
                    │   ├── raw @0: RawMutex (opaque 40/8)\n\
                    │   └── data @40: u64 (8/8)\n\
                    └── pts @312: [P (8/4); 2]\n    \
                        ├── x @0: f32 (4/4)\n    \
                        └── y @4: f32 (4/4)\n";
        assert_eq!(t, want, "\n{t}");
        assert_eq!(render("f64(8/8)").unwrap(), "f64 (8/8)\n");
        assert_eq!(render("Unit(0/1){}").unwrap(), "Unit (0/1)\n");
    }

    #[test]
    fn leaves_walk_structs_and_arrays_in_order() {
        let s = "T(40/8){a:AtomicU64(8/8)@0,l:RawMutex(opaque 8/8)@8,\
                 p:[P(8/4){x:f32(4/4)@0,y:i32(4/4)@4};2]@16,z:u8(1/1)@32}";
        let (ls, size) = leaves(s, 100).unwrap();
        assert_eq!(size, 40);
        let got: Vec<(&str, u64, &str)> = ls
            .iter()
            .map(|l| (l.path.as_str(), l.offset, l.ty.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", 0, "AtomicU64"),
                ("p[0].x", 16, "f32"),
                ("p[0].y", 20, "i32"),
                ("p[1].x", 24, "f32"),
                ("p[1].y", 28, "i32"),
                ("z", 32, "u8"),
            ]
        );
        assert_eq!(leaves(s, 2).unwrap().0.len(), 2);
        assert_eq!(leaves("f64(8/8)", 9).unwrap().0[0].path, "");
        // A huge array is not walked past the budget.
        let (ls, size) = leaves("[u8(1/1);18446744073709551615]", 3).unwrap();
        assert_eq!((ls.len(), size), (3, u64::MAX));
        // Nor is a huge array of elements without scalars (a hostile schema of a zero-sized
        // or opaque type): it has no leaves, and returns at once instead of looping 2^64
        // times.
        for s in [
            "[E(0/1){};18446744073709551615]",
            "[L(opaque 1/1);18446744073709551615]",
            "S(0/1){a:[[u8(1/1);0];18446744073709551615]@0,b:[E(0/1){x:[u8(1/1);0]@0};18446744073709551615]@0}",
        ] {
            assert_eq!(leaves(s, 3).unwrap().0, [], "{s}");
        }
        let (ls, _) = leaves(
            "[S(1/1){l:L(opaque 1/1)@0,x:u8(1/1)@0};18446744073709551615]",
            3,
        )
        .unwrap();
        assert_eq!(ls.len(), 3);
    }

    #[test]
    fn scalars_format_by_type() {
        assert_eq!(scalar("f64", &1.5f64.to_ne_bytes()).unwrap(), "1.5");
        assert_eq!(scalar("AtomicI32", &(-7i32).to_ne_bytes()).unwrap(), "-7");
        assert_eq!(scalar("u8", &[200]).unwrap(), "200");
        assert_eq!(scalar("usize", &7usize.to_ne_bytes()).unwrap(), "7");
        assert_eq!(scalar("u64", &[1, 2, 3]), None);
        assert_eq!(scalar("Foo", &[0; 8]), None);
    }

    #[test]
    fn refuses_malformed_and_deep_input_without_panicking() {
        for bad in [
            "",
            "(",
            "u64(8/8",
            "u64(8/8)x",
            "[u64(8/8);",
            "S(8/8){a:u64(8/8)@}",
            "S(8/8){a:u64(8/8)@0,}",
            "u64(99999999999999999999999/8)",
        ] {
            assert!(render(bad).is_err(), "{bad:?} accepted");
        }
        let deep = format!("{}u8(1/1){}", "[".repeat(10_000), ";1]".repeat(10_000));
        assert!(render(&deep).is_err());
    }
}
