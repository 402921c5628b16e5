//! `#[derive(SharedLayout)]` (skeleton: implemented by the layout work).
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

use proc_macro::TokenStream;

/// Derives `SharedLayout` for a `#[repr(C)]` or `#[repr(transparent)]` struct.
#[proc_macro_derive(SharedLayout, attributes(shared_layout))]
pub fn derive_shared_layout(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    syn::Error::new_spanned(&input.ident, "SharedLayout derive: not implemented yet")
        .into_compile_error()
        .into()
}
