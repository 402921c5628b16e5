//! Finding the runtime crate (`ipc_core`) from the user's crate, which may depend on it
//! directly (package `typed-ipc-core`), or only on the facade (package `typed-ipc`, library
//! `ipc`: `ipc::os`), or only on `typed-ipc-collections` (`ipc_collections::ipc_core`).

use proc_macro2::TokenStream;
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{format_ident, quote};

/// A package of the family: its name on crates.io and its library's name, which differ
/// (`typed-ipc` / `ipc`, as `md-5` / `md5`).
struct Package {
    name: &'static str,
    lib: &'static str,
}

const CORE: Package = Package {
    name: "typed-ipc-core",
    lib: "ipc_core",
};
const FACADE: Package = Package {
    name: "typed-ipc",
    lib: "ipc",
};
const COLLECTIONS: Package = Package {
    name: "typed-ipc-collections",
    lib: "ipc_collections",
};

/// The name under which the crate being compiled sees `package`, if it depends on it (or
/// is it). proc-macro-crate answers with the dependency's key: a key that is just the
/// package name means "not renamed", and the crate is then linked under its library name;
/// any other key (`shmem = { package = "typed-ipc" }`) is the name to use.
fn linked_as(package: &Package) -> Option<proc_macro2::Ident> {
    match crate_name(package.name) {
        // Inside the package itself (its tests, examples, doctests) the crate is linked
        // under its library name.
        Ok(FoundCrate::Itself) => Some(format_ident!("{}", package.lib)),
        Ok(FoundCrate::Name(n)) if n == package.name.replace('-', "_") => {
            Some(format_ident!("{}", package.lib))
        }
        Ok(FoundCrate::Name(n)) => Some(format_ident!("{}", n)),
        Err(_) => None,
    }
}

/// The path to `ipc_core` as seen from the crate being compiled, read from its
/// `Cargo.toml` (renamed dependencies included); `::ipc_core` if none of the three crates
/// is found there.
pub(crate) fn path() -> TokenStream {
    if let Some(core) = linked_as(&CORE) {
        return quote!(::#core);
    }
    if let Some(facade) = linked_as(&FACADE) {
        return quote!(::#facade::os);
    }
    if let Some(coll) = linked_as(&COLLECTIONS) {
        return quote!(::#coll::ipc_core);
    }
    quote!(::ipc_core)
}
