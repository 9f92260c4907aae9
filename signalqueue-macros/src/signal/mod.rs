//! `#[async_signal(providing_args = [...], name = "...", queue = "...")]` on
//! `static NAME: TypeName;`.

mod attr;
mod expand;
mod item;
mod schedule;

use proc_macro2::TokenStream;

use crate::errors::Errors;

/// Parses, validates and expands one `#[async_signal]`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let attr = attr::SignalAttr::parse(attr, &mut errors);
    let item = item::SignalItem::parse(item, &mut errors);
    match (errors.finish(), item) {
        (None, Some(item)) => expand::signal(&attr, &item),
        (Some(error), item) => {
            let mut out = error.to_compile_error();
            // A stand-in of the right name, so uses of the static elsewhere do not add
            // follow-on errors to the one that matters.
            if let Some(item) = item {
                out.extend(expand::stand_in(&attr, &item));
            }
            out
        }
        (None, None) => unreachable!("an item that fails to parse records an error"),
    }
}
