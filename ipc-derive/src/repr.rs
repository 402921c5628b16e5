//! Parsing `#[repr(...)]` into a typed value, and refusing the reprs whose layout is not
//! fixed by the language or that would make fields unaligned.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::Attribute;

/// The representation of a struct that the derive accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repr {
    /// `#[repr(C)]`, possibly with `align(N)`.
    C,
    /// `#[repr(transparent)]`.
    Transparent,
}

/// Reads every `#[repr(...)]` attribute of the item. Accepts `C` (with optional `align(N)`)
/// and `transparent`; refuses `packed` (unaligned fields: atomics and locks in them would be
/// UB), `Rust` and any other hint, each error spanned on the offending token; and with no
/// `C`/`transparent` at all, an error spanned on `span` (the type's name).
pub(crate) fn parse(attrs: &[Attribute], span: Span) -> syn::Result<Repr> {
    let mut repr = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident("C") {
                set(&mut repr, Repr::C, path.span())
            } else if path.is_ident("transparent") {
                set(&mut repr, Repr::Transparent, path.span())
            } else if path.is_ident("align") {
                // `align(N)`: raises the alignment, keeps the layout fixed. rustc checks N.
                let content;
                syn::parenthesized!(content in meta.input);
                let _: syn::LitInt = content.parse()?;
                Ok(())
            } else if path.is_ident("packed") {
                // Eat `packed(N)` if present so the error is ours, not a parse error.
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let _: proc_macro2::TokenStream = content.parse()?;
                }
                Err(meta.error(
                    "SharedLayout refuses `repr(packed)`: its fields may be unaligned, and \
                     atomics or locks in shared memory must be aligned",
                ))
            } else if path.is_ident("Rust") {
                Err(meta.error(
                    "SharedLayout refuses `repr(Rust)`: its layout may change between builds; \
                     use `#[repr(C)]`",
                ))
            } else {
                Err(meta.error(format!(
                    "SharedLayout does not support `repr({})`; use `#[repr(C)]` or \
                     `#[repr(transparent)]`",
                    path.get_ident()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "...".into())
                )))
            }
        })?;
    }
    repr.ok_or_else(|| {
        syn::Error::new(
            span,
            "SharedLayout needs a layout fixed by the language: add `#[repr(C)]` (optionally \
             with `align(N)`) or `#[repr(transparent)]`",
        )
    })
}

fn set(repr: &mut Option<Repr>, new: Repr, span: Span) -> syn::Result<()> {
    match repr {
        Some(_) => Err(syn::Error::new(span, "conflicting representation hints")),
        None => {
            *repr = Some(new);
            Ok(())
        }
    }
}
