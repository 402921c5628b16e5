//! The identity of a stored type: fingerprint, schema string, and the field-by-field
//! comparison of two schemas (all from `ipc_core::layout`).

use ipc_core::layout::{Shape, TypeLayout};

/// The schema string of `layout` (grammar in `ipc_core::layout`).
pub(crate) fn schema(layout: &TypeLayout) -> String {
    layout.schema()
}

/// One line per difference between two schema strings, each naming the field it concerns.
pub(crate) fn diffs(expected: &str, found: &str) -> Vec<String> {
    ipc_core::layout::diff_schemas(expected, found)
        .iter()
        .map(ToString::to_string)
        .collect()
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
