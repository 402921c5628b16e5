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
//! The tree is that of `ipc_core::layout::Schema::parse`, the normative parser, which
//! refuses malformed input, overflowing sizes and nesting deeper than `MAX_SCHEMA_DEPTH`
//! (so the recursive walks here are bounded) with an error instead of panicking.

use ipc_core::layout::{Schema, SchemaField, SchemaNode, SchemaShape};

/// One line's text for a type (without its fields).
fn label(n: SchemaNode<'_>) -> String {
    let (name, size, align) = (n.name(), n.size(), n.align());
    match n.shape() {
        SchemaShape::Scalar | SchemaShape::Struct { .. } => format!("{name} ({size}/{align})"),
        SchemaShape::Opaque => format!("{name} (opaque {size}/{align})"),
        SchemaShape::Array { elem, len } => format!("[{}; {len}]", label(elem)),
    }
}

/// The fields to draw under a type: a struct's own, or those of the struct an array holds.
fn fields(n: SchemaNode<'_>) -> &[SchemaField] {
    match n.shape() {
        SchemaShape::Struct { fields } => fields,
        SchemaShape::Array { elem, .. } => fields(elem),
        _ => &[],
    }
}

fn draw(n: SchemaNode<'_>, prefix: &str, out: &mut String) {
    let fs = fields(n);
    for (i, f) in fs.iter().enumerate() {
        let last = i + 1 == fs.len();
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        out.push_str(&format!(
            "{} @{}: {}\n",
            f.name(),
            f.offset(),
            label(f.ty())
        ));
        let deeper = format!("{prefix}{}", if last { "    " } else { "│   " });
        draw(f.ty(), &deeper, out);
    }
}

/// Draws `schema` as a tree (one line per type and field, ending in a newline), or says why
/// it cannot.
pub fn render(schema: &str) -> Result<String, String> {
    let parsed = Schema::parse(schema).map_err(|e| e.to_string())?;
    let root = parsed.root();
    let mut out = format!("{}\n", label(root));
    draw(root, "", &mut out);
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

fn collect(
    n: SchemaNode<'_>,
    path: &str,
    at: u64,
    max: usize,
    out: &mut Vec<Leaf>,
) -> Result<(), String> {
    if out.len() >= max {
        return Ok(());
    }
    match n.shape() {
        SchemaShape::Scalar => out.push(Leaf {
            path: path.to_owned(),
            offset: at,
            ty: n.name().to_owned(),
            size: n.size() as u64,
        }),
        SchemaShape::Opaque => {}
        // An element without scalars adds nothing: skipping it keeps the walk bounded by
        // `max` (every element walked adds a leaf), where `[Empty(0/1){};18446744073709551615]`
        // would otherwise loop for ever.
        SchemaShape::Array { elem, .. } if !has_leaf(elem) => {}
        SchemaShape::Array { elem, len } => {
            let esize = elem.size() as u64;
            for i in 0..len as u64 {
                if out.len() >= max {
                    break;
                }
                // Saturating: an offset past 2^64 lies outside every payload, and the reader
                // that bounds each access by the payload skips it (FORMAT.md).
                let off = i.saturating_mul(esize).saturating_add(at);
                collect(elem, &format!("{path}[{i}]"), off, max, out)?;
            }
        }
        SchemaShape::Struct { fields } => {
            for f in fields {
                let off = at.saturating_add(f.offset() as u64);
                let p = if path.is_empty() {
                    f.name().to_owned()
                } else {
                    format!("{path}.{}", f.name())
                };
                collect(f.ty(), &p, off, max, out)?;
            }
        }
    }
    Ok(())
}

/// Whether `n` holds at least one scalar.
fn has_leaf(n: SchemaNode<'_>) -> bool {
    match n.shape() {
        SchemaShape::Scalar => true,
        SchemaShape::Opaque => false,
        SchemaShape::Array { elem, len } => len > 0 && has_leaf(elem),
        SchemaShape::Struct { fields } => fields.iter().any(|f| has_leaf(f.ty())),
    }
}

/// The scalar leaves of `schema` in layout order (opaque types such as locks are skipped),
/// at most `max` of them, and the size of the top-level type.
pub fn leaves(schema: &str, max: usize) -> Result<(Vec<Leaf>, u64), String> {
    let parsed = Schema::parse(schema).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    collect(parsed.root(), "", 0, max, &mut out)?;
    Ok((out, parsed.size() as u64))
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

/// The layout tree of `schema` as JSON: `{"name", "size", "align", "shape"}` plus `"fields"`
/// (each `{"name", "offset", "type"}`) for a struct and `"elem"`, `"len"` for an array
/// (`docs/ipc-json.md`). The parser bounds the depth, so the recursion is bounded.
pub fn json(schema: &str) -> Result<serde_json::Value, String> {
    let parsed = Schema::parse(schema).map_err(|e| e.to_string())?;
    Ok(node_json(parsed.root()))
}

fn node_json(n: SchemaNode<'_>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": n.name(),
        "size": n.size(),
        "align": n.align(),
    });
    let (shape, extra) = match n.shape() {
        SchemaShape::Scalar => ("scalar", None),
        SchemaShape::Opaque => ("opaque", None),
        SchemaShape::Array { elem, len } => (
            "array",
            Some(serde_json::json!({ "elem": node_json(elem), "len": len })),
        ),
        SchemaShape::Struct { fields } => (
            "struct",
            Some(serde_json::json!({ "fields": fields
                .iter()
                .map(|f| serde_json::json!({
                    "name": f.name(),
                    "offset": f.offset(),
                    "type": node_json(f.ty()),
                }))
                .collect::<Vec<_>>() })),
        ),
    };
    v["shape"] = shape.into();
    if let Some(serde_json::Value::Object(m)) = extra {
        for (k, x) in m {
            v[k] = x;
        }
    }
    v
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
