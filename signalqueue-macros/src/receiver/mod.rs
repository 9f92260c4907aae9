//! `#[receiver(SIGNAL, sender = "...", retries = N, name = "...")]` on a function.

mod attr;
mod expand;

use proc_macro2::TokenStream;

use crate::errors::Errors;

/// Parses, validates and expands one `#[receiver]`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let attr = attr::ReceiverAttr::parse(attr, &mut errors);
    let func = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(func) => Some(func),
        Err(_) => {
            let first = item.clone().into_iter().find(|t| {
                // Point at the item's keyword, past attributes and visibility.
                !matches!(t, proc_macro2::TokenTree::Punct(p) if p.as_char() == '#')
                    && !matches!(t, proc_macro2::TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Bracket)
                    && !matches!(t, proc_macro2::TokenTree::Ident(i) if i == "pub")
                    && !matches!(t, proc_macro2::TokenTree::Group(g) if g.delimiter() == proc_macro2::Delimiter::Parenthesis)
            });
            errors.at(
                first.map(TokenStream::from).unwrap_or_else(|| item.clone()),
                "`#[receiver]` goes on a function, such as `async fn update_event_log(instance: Order) -> Result<(), BoxError>`",
            );
            None
        }
    };
    let checked = func
        .as_ref()
        .and_then(|f| expand::Receiver::check(f, &mut errors));
    match (errors.finish(), attr, checked) {
        (None, Some(attr), Some(receiver)) => {
            let mut out = item;
            out.extend(receiver.expand(&attr));
            out
        }
        (error, _, _) => {
            // The function itself stays, so calls to it and IDEs keep working.
            let mut out = error.map(|e| e.to_compile_error()).unwrap_or_default();
            out.extend(item);
            out
        }
    }
}
