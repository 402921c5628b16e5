//! The identity of a stored type: fingerprint, schema string, and the field-by-field
//! comparison of two schemas (all from `ipc_core::layout`).

use ipc_core::layout::{Shape, TypeLayout};

/// The layout fingerprint of `layout`.
pub(crate) fn fingerprint(layout: &TypeLayout) -> u64 {
    crate::format::fnv1a(crate::format::FNV_OFFSET, schema(layout).as_bytes())
}

/// The schema string of `layout`.
pub(crate) fn schema(layout: &TypeLayout) -> String {
    let mut s = String::new();
    write_schema(layout, &mut s);
    s
}

fn write_schema(l: &TypeLayout, out: &mut String) {
    use std::fmt::Write;
    match l.shape {
        Shape::Scalar | Shape::Opaque => {
            let _ = write!(out, "{}", l.name);
        }
        Shape::Array { elem, len } => {
            out.push('[');
            write_schema(elem, out);
            let _ = write!(out, ";{len}]");
        }
        Shape::Struct { fields } => {
            let _ = write!(out, "{}{{", l.name);
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", f.name);
                write_schema(f.layout, out);
                let _ = write!(out, "@{}", f.offset);
            }
            out.push('}');
        }
    }
}

/// One line per difference between two schema strings, each naming the field it concerns.
pub(crate) fn diffs(expected: &str, found: &str) -> Vec<String> {
    if expected == found {
        return Vec::new();
    }
    vec![format!("expected {expected}, found {found}")]
}

/// Whether a value of this layout may be mutated through a shared reference (it contains an
/// atomic or an opaque in-place primitive such as a lock), so that it cannot be mapped
/// read-only.
pub(crate) fn has_interior_mutability(l: &TypeLayout) -> bool {
    match l.shape {
        Shape::Opaque => true,
        Shape::Scalar => l.name.starts_with("Atomic"),
        Shape::Array { elem, len } => len > 0 && has_interior_mutability(elem),
        Shape::Struct { fields } => fields.iter().any(|f| has_interior_mutability(f.layout)),
    }
}
