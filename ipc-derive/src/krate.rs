//! Finding the runtime crate (`ipc-core`) from the user's crate, which may depend on it
//! directly, or only on the facade `ipc` (`ipc::os`), or only on `ipc-collections`
//! (`ipc_collections::ipc_core`).

use proc_macro2::TokenStream;
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{format_ident, quote};

/// The path to `ipc-core` as seen from the crate being compiled, read from its
/// `Cargo.toml` (renamed dependencies included); `::ipc_core` if none of the three crates
/// is found there.
pub(crate) fn path() -> TokenStream {
    let direct = |name: &str| match crate_name(name) {
        // Inside the package itself (its tests, examples, doctests) the crate is linked
        // under its own name.
        Ok(FoundCrate::Itself) => Some(format_ident!("{}", name.replace('-', "_"))),
        Ok(FoundCrate::Name(n)) => Some(format_ident!("{}", n)),
        Err(_) => None,
    };
    if let Some(core) = direct("ipc-core") {
        return quote!(::#core);
    }
    if let Some(facade) = direct("ipc") {
        return quote!(::#facade::os);
    }
    if let Some(coll) = direct("ipc-collections") {
        return quote!(::#coll::ipc_core);
    }
    quote!(::ipc_core)
}
