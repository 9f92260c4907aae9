//! The path generated code uses to reach the runtime crate.

use proc_macro2::{Ident, Span, TokenStream};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::quote;

/// `::signalqueue`, or `::whatever` the user's Cargo.toml renamed it to.
pub(crate) fn runtime() -> TokenStream {
    match crate_name("signalqueue") {
        Ok(FoundCrate::Name(name)) => {
            let ident = Ident::new(&name, Span::call_site());
            quote!(::#ident)
        }
        // Inside signalqueue itself (its doctests and unit tests), `extern crate self as
        // signalqueue` makes the absolute path work; and when Cargo.toml cannot be read the
        // ordinary name is the best guess.
        Ok(FoundCrate::Itself) | Err(_) => quote!(::signalqueue),
    }
}
