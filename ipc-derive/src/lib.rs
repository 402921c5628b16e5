//! `#[derive(SharedLayout)]`: implements `ipc_core::SharedLayout` for `#[repr(C)]` and
//! `#[repr(transparent)]` structs, with a layout tree that two separately built programs
//! can compare before they share a value.
//!
//! Use it through `ipc` (the facade) or `ipc-collections`, which re-export it; the generated
//! code finds `ipc-core` whichever of the three crates the user depends on.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

mod attr;
mod expand;
mod krate;
mod repr;

use proc_macro::TokenStream;

/// Derives `SharedLayout` for a `#[repr(C)]` (optionally `align(N)`) or
/// `#[repr(transparent)]` struct (named, tuple or unit) whose fields are all `SharedLayout`.
///
/// ```
/// use ipc_core::SharedLayout;
/// use std::sync::atomic::AtomicU32;
///
/// #[derive(ipc_derive::SharedLayout)]
/// #[repr(C, align(64))]
/// struct Counters {
///     hits: AtomicU32,
///     misses: AtomicU32,
///     last: [u16; 4],
/// }
///
/// #[derive(ipc_derive::SharedLayout)]
/// #[repr(C)]
/// struct Pair<T>(T, T);
///
/// #[derive(ipc_derive::SharedLayout)]
/// #[repr(transparent)]
/// #[shared_layout(name = "Meters")] // the name peers see, instead of `Distance`
/// struct Distance(f64);
///
/// assert_eq!(
///     Counters::LAYOUT.schema(),
///     "Counters(64/64){hits:AtomicU32(4/4)@0,misses:AtomicU32(4/4)@4,last:[u16(2/2);4]@8}"
/// );
/// assert_eq!(Pair::<u8>::LAYOUT.schema(), "Pair(2/1){0:u8(1/1)@0,1:u8(1/1)@1}");
/// assert_eq!(Distance::LAYOUT.name, "Meters");
/// assert_ne!(
///     Pair::<u32>::LAYOUT.fingerprint(),
///     Pair::<i32>::LAYOUT.fingerprint()
/// );
/// ```
///
/// # What it generates
///
/// Inside `const _: () = { ... };`: `unsafe impl SharedLayout` with a `where` bound
/// `FieldType: SharedLayout` per field (spanned on the field's type, so a field that is not
/// `SharedLayout` is reported there), `LAYOUT` built from `size_of`, `align_of` and
/// `core::mem::offset_of!`, and `init_in_place` calling each field's `init_in_place` at its
/// place (raw-pointer projection with `addr_of_mut!`, never a reference to uninitialised
/// memory). A guard makes implementing `Drop` for the struct a compile error.
///
/// # Attributes
///
/// - `#[shared_layout(name = "Other")]`: the name recorded in the layout (default: the bare
///   type name, without module path, so moving the type between modules does not break
///   peers). Letters, digits and `_` only.
/// - `#[shared_layout(crate = "path")]`: where `ipc-core` is, if the default lookup (read
///   from the user's `Cargo.toml`: `ipc-core`, else `ipc` as `ipc::os`, else
///   `ipc-collections` as `ipc_collections::ipc_core`) does not find it.
///
/// # Refused, with an error at the offending token
///
/// No `repr` or `repr(Rust)` (layout not fixed), `repr(packed)` (unaligned atomics),
/// enums (invalid bit patterns), unions, lifetime parameters, fields that are not
/// `SharedLayout` (`bool`, `char`, pointers, references, `Option`, heap types, ...),
/// non-ASCII type or field names (the schema cannot carry them; a type can be given an
/// ASCII `name`), and `#[shared_layout(...)]` on a field (it would be ignored there).
#[proc_macro_derive(SharedLayout, attributes(shared_layout))]
pub fn derive_shared_layout(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
