//! Generating the `SharedLayout` impl of an accepted struct.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericParam, Index, LitStr, Member};

use crate::{attr, krate, repr};

/// The whole derive: checks, then the impl inside `const _: () = { ... };`.
pub(crate) fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fields = check_data(input)?;
    repr::parse(&input.attrs, input.ident.span())?;
    check_generics(input)?;
    let opts = attr::parse(&input.attrs)?;
    if opts.name.is_none() {
        check_ascii(&input.ident, "type")?;
    }
    for f in &fields {
        check_field_attrs(f)?;
        if let Some(id) = &f.ident {
            check_ascii(id, "field")?;
        }
    }
    let krate = opts.krate.map(|p| quote!(#p)).unwrap_or_else(krate::path);

    let ident = &input.ident;
    let name = opts.name.unwrap_or_else(|| {
        let bare = ident.to_string();
        let bare = bare.strip_prefix("r#").unwrap_or(&bare);
        LitStr::new(bare, ident.span())
    });
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    let members: Vec<Member> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| match &f.ident {
            Some(id) => Member::Named(id.clone()),
            None => Member::Unnamed(Index {
                index: i as u32,
                span: f.ty.span(),
            }),
        })
        .collect();
    let field_names: Vec<String> = members
        .iter()
        .map(|m| match m {
            Member::Named(id) => {
                let s = id.to_string();
                s.strip_prefix("r#").unwrap_or(&s).to_owned()
            }
            Member::Unnamed(i) => i.index.to_string(),
        })
        .collect();
    let tys: Vec<&syn::Type> = fields.iter().map(|f| &f.ty).collect();

    // One bound per field, spanned on the field's type, so "not SharedLayout" lands there.
    // The crate path is re-spanned too: a predicate whose tokens come from two places is
    // reported at the derive instead of at the field.
    let bounds = tys.iter().map(|ty| {
        let span = ty.span();
        let krate = respan(&krate, span);
        quote_spanned! {span=> #ty: #krate::SharedLayout }
    });
    let mut preds: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    preds.extend(bounds);

    let layout_fields = members
        .iter()
        .zip(&field_names)
        .zip(&tys)
        .map(|((m, n), ty)| {
            quote! {
                #krate::layout::Field {
                    name: #n,
                    offset: ::core::mem::offset_of!(Self, #m),
                    layout: &<#ty as #krate::SharedLayout>::LAYOUT,
                }
            }
        });
    let inits = members.iter().zip(&tys).map(|(m, ty)| {
        quote! {
            <#ty as #krate::SharedLayout>::init_in_place(::core::ptr::addr_of_mut!((*this).#m))?;
        }
    });
    let init_fn = if fields.is_empty() {
        quote!()
    } else {
        quote! {
            unsafe fn init_in_place(this: *mut Self) -> #krate::Result<()> {
                // SAFETY: by this function's contract `this` is valid for writes of the whole
                // struct, aligned, zero-filled and exclusively ours; `addr_of_mut!` projects
                // to each field without creating a reference, so each field pointer is valid
                // for writes of that field, aligned (repr(C)/transparent place fields at
                // their alignment), zero-filled and exclusive: each field's `init_in_place`
                // contract holds.
                unsafe {
                    #(#inits)*
                }
                ::core::result::Result::Ok(())
            }
        }
    };

    let guard = format_ident!("__SharedLayoutMustNotImplDrop");
    Ok(quote! {
        const _: () = {
            #[automatically_derived]
            // SAFETY: the struct is repr(C) or repr(transparent) (checked by the derive), every
            // field is SharedLayout (bounds below), so it is valid for every bit pattern,
            // holds no process-local pointer and is Sync + 'static; it does not implement Drop
            // (checked below); LAYOUT is built from size_of, align_of and offset_of! of the
            // struct itself and each field's LAYOUT.
            unsafe impl #impl_generics #krate::SharedLayout for #ident #ty_generics
            where #(#preds,)*
            {
                const LAYOUT: #krate::TypeLayout = #krate::TypeLayout {
                    name: #name,
                    size: ::core::mem::size_of::<Self>(),
                    align: ::core::mem::align_of::<Self>(),
                    shape: #krate::layout::Shape::Struct {
                        fields: &[#(#layout_fields),*],
                    },
                };
                #init_fn
            }

            // A value in shared memory may be abandoned by a dying process: no Drop.
            // Implementing Drop for the struct makes these two impls conflict.
            trait #guard {}
            #[allow(drop_bounds)]
            impl<T: ::core::ops::Drop> #guard for T {}
            #[automatically_derived]
            impl #impl_generics #guard for #ident #ty_generics #where_clause {}
        };
    })
}

/// `tokens` with every span set to `span` (the crate path is a flat `::a::b`; groups are
/// re-spanned recursively all the same).
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut ng = Group::new(g.delimiter(), respan(&g.stream(), span));
                ng.set_span(span);
                tt = TokenTree::Group(ng);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// Only structs: enums have invalid bit patterns (a discriminant another process could
/// corrupt) and unions have no layout tree to check.
fn check_data(input: &DeriveInput) -> syn::Result<Vec<&syn::Field>> {
    match &input.data {
        Data::Struct(s) => Ok(match &s.fields {
            Fields::Named(f) => f.named.iter().collect(),
            Fields::Unnamed(f) => f.unnamed.iter().collect(),
            Fields::Unit => Vec::new(),
        }),
        Data::Enum(e) => Err(syn::Error::new(
            e.enum_token.span,
            "SharedLayout cannot be derived for an enum: not every bit pattern is a valid \
             discriminant, and another process can write any byte; use an integer field",
        )),
        Data::Union(u) => Err(syn::Error::new(
            u.union_token.span,
            "SharedLayout cannot be derived for a union: its layout cannot be checked field \
             by field; use a struct",
        )),
    }
}

/// `#[shared_layout(...)]` is a helper of the derive, so the compiler accepts it on a field
/// too, where it would be silently ignored (a field keeps its own name in the layout).
fn check_field_attrs(field: &syn::Field) -> syn::Result<()> {
    match field
        .attrs
        .iter()
        .find(|a| a.path().is_ident("shared_layout"))
    {
        Some(a) => Err(syn::Error::new_spanned(
            a,
            "`#[shared_layout(...)]` applies to the struct, not to a field: a field's name \
             in the layout is its Rust name",
        )),
        None => Ok(()),
    }
}

/// Names go into the schema, whose names are ASCII letters, digits and `_`; Rust also
/// allows other letters in identifiers (`café`), which the schema could not carry.
fn check_ascii(ident: &syn::Ident, what: &str) -> syn::Result<()> {
    let s = ident.to_string();
    let bare = s.strip_prefix("r#").unwrap_or(&s);
    if bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(());
    }
    let hint = if what == "type" {
        "; give the layout a name with `#[shared_layout(name = \"...\")]`"
    } else {
        ""
    };
    Err(syn::Error::new(
        ident.span(),
        format!(
            "SharedLayout needs ASCII names: the {what} name `{bare}` would be written into \
             the schema, which allows only ASCII letters, digits and `_`{hint}"
        ),
    ))
}

/// Type and const parameters are fine; lifetimes are not (`SharedLayout: 'static`, and a
/// borrow means nothing in another process).
fn check_generics(input: &DeriveInput) -> syn::Result<()> {
    for p in &input.generics.params {
        if let GenericParam::Lifetime(l) = p {
            return Err(syn::Error::new(
                l.lifetime.span(),
                "SharedLayout types cannot have lifetime parameters: a borrow is meaningless \
                 in another process",
            ));
        }
    }
    Ok(())
}
