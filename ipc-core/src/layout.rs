//! The layout contract: [`SharedLayout`] and [`TypeLayout`].
//!
//! (Skeleton: the fingerprint, the schema string, the schema comparison and the impls for
//! primitives, atomics and arrays are added by the layout work.)

use crate::Result;

/// The layout of a type as a tree: what two separately built programs compare before they
/// share a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeLayout {
    /// The type's bare name (no module path), e.g. `u64`, `RawMutex`, `Stats`.
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
}

/// A type that may live in memory shared between processes built separately.
///
/// # Safety
/// Implementors guarantee that `Self`
/// 1. has a layout fixed by the language (`repr(C)`, `repr(transparent)`, a primitive, an
///    array of such);
/// 2. is valid for every bit pattern, once [`init_in_place`](Self::init_in_place) has run
///    (another process can write any bytes into it);
/// 3. holds no pointer, reference, file descriptor or handle meaningful in one process only;
/// 4. needs no `Drop` (a process may die and abandon it);
/// 5. is described exactly by [`LAYOUT`](Self::LAYOUT).
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
