//! The `#[shared_layout(...)]` helper attribute: `name = "..."` and `crate = "..."`.

use syn::{Attribute, LitStr, Path};

/// What `#[shared_layout(...)]` attributes set.
#[derive(Default)]
pub(crate) struct Options {
    /// `name = "Other"`: the name used in the layout instead of the type's bare name.
    pub(crate) name: Option<LitStr>,
    /// `crate = "path::to::ipc_core"`: where `SharedLayout` and `TypeLayout` live.
    pub(crate) krate: Option<Path>,
}

/// Reads every `#[shared_layout(...)]` attribute; unknown keys, repeated keys and names that
/// are not identifiers are errors spanned on the offending token.
pub(crate) fn parse(attrs: &[Attribute]) -> syn::Result<Options> {
    let mut opts = Options::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("shared_layout")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                check_name(&lit)?;
                if opts.name.replace(lit).is_some() {
                    return Err(meta.error("`name` given twice"));
                }
                Ok(())
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                let path: Path = lit.parse()?;
                if opts.krate.replace(path).is_some() {
                    return Err(meta.error("`crate` given twice"));
                }
                Ok(())
            } else {
                Err(meta.error("unknown `shared_layout` option; expected `name` or `crate`"))
            }
        })?;
    }
    Ok(opts)
}

/// A layout name goes into the schema string: it must be letters, digits and `_`.
fn check_name(lit: &LitStr) -> syn::Result<()> {
    let v = lit.value();
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(syn::Error::new(
            lit.span(),
            "a layout name must be non-empty ASCII letters, digits and `_`",
        ));
    }
    Ok(())
}
