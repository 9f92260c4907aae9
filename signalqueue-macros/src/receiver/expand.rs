//! What `#[receiver]` writes besides the function itself: a glue function that unpacks the
//! signal's arguments and calls it, and the link-time registration.
//!
//! The glue calls the user's function with arguments typed by the signal, each spanned on the
//! matching parameter's type, so rustc itself checks the signature: a parameter of the wrong
//! type is an ordinary `E0308` at that parameter, a wrong count an error at the parameter list.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Type};

use super::attr::ReceiverAttr;
use crate::crate_path;
use crate::errors::Errors;

/// A function that can be a receiver.
pub(crate) struct Receiver<'a> {
    func: &'a ItemFn,
    takes_delivery: bool,
    arg_types: Vec<&'a Type>,
}

impl<'a> Receiver<'a> {
    /// Checks what rustc's type checking of the glue cannot say well.
    pub(crate) fn check(func: &'a ItemFn, errors: &mut Errors) -> Option<Receiver<'a>> {
        let sig = &func.sig;
        let mut ok = true;
        if !sig.generics.params.is_empty() {
            errors.at(
                &sig.generics,
                "a receiver cannot be generic: the worker calls it with the signal's argument types",
            );
            ok = false;
        }
        if let Some(u) = &sig.unsafety {
            errors.at(
                u,
                "a receiver cannot be `unsafe fn`: the worker has no way to uphold its contract",
            );
            ok = false;
        }
        let mut arg_types = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(r) => {
                    errors.at(
                        r,
                        "a receiver must be a free function, not a method; call the method from a function",
                    );
                    ok = false;
                }
                FnArg::Typed(t) => arg_types.push(&*t.ty),
            }
        }
        if !ok {
            return None;
        }
        let takes_delivery = arg_types.first().is_some_and(|t| is_delivery(t));
        if takes_delivery {
            arg_types.remove(0);
        }
        Some(Receiver {
            func,
            takes_delivery,
            arg_types,
        })
    }

    pub(crate) fn expand(&self, attr: &ReceiverAttr) -> TokenStream {
        let sq = crate_path::runtime();
        let p = quote!(#sq::__private);
        let sig = &self.func.sig;
        let fn_name = &sig.ident;
        let signal = &attr.signal;
        let ids: Vec<_> = self
            .arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| format_ident!("__sq_arg{}", i, span = t.span()))
            .collect();
        let params_span = sig.paren_token.span.join();
        let pattern = quote_spanned!(params_span=> (#(#ids,)*));
        let delivery = self.takes_delivery.then(|| quote!(&__sq_delivery,));
        let output_span = match &sig.output {
            syn::ReturnType::Default => fn_name.span(),
            syn::ReturnType::Type(_, t) => t.span(),
        };
        let call = quote!(#fn_name(#delivery #(#ids),*));
        // Paths spanned entirely on the user's tokens, so trait errors point there and not at
        // the attribute: a bad return type at the return type, a non-signal at its path.
        let p_at_output = respan(p.clone(), output_span);
        let run = if sig.asyncness.is_some() {
            quote_spanned!(output_span=> #p_at_output::IntoReceiverResult::into_receiver_result(#call.await))
        } else {
            quote_spanned!(output_span=> #p_at_output::run_blocking(move || #call).await)
        };
        let split = respan(quote!(#p::split), signal.span());
        let signal_ref = quote_spanned!(signal.span()=> &#signal);
        let name = match &attr.name {
            Some(lit) => quote!(#lit),
            None => quote!(::core::concat!(
                ::core::module_path!(),
                "::",
                ::core::stringify!(#fn_name)
            )),
        };
        let sender = match &attr.sender {
            Some(lit) => quote!(::core::option::Option::Some(#lit)),
            None => quote!(::core::option::Option::None),
        };
        let retries = match &attr.retries {
            Some(lit) => quote!(::core::option::Option::Some(#lit)),
            None => quote!(::core::option::Option::None),
        };
        let timeout = match &attr.timeout_ms {
            Some(lit) => {
                quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#lit)))
            }
            None => quote!(::core::option::Option::None),
        };
        let location = quote_spanned!(Span::call_site()=> ::core::concat!(::core::file!(), ":", ::core::line!()));
        quote! {
            const _: () = {
                #[allow(unused_variables)]
                fn __sq_glue(__sq_request: #p::GlueRequest<'_>) -> #p::GlueResponse {
                    match #split(#signal_ref, __sq_request) {
                        #p::Split::Signal(def) => #p::GlueResponse::Signal(def),
                        #p::Split::Call(__sq_delivery, __sq_args) => {
                            let #pattern = __sq_args.__sq_into_tuple();
                            #p::GlueResponse::Call(#p::Box::pin(async move { #run }))
                        }
                    }
                }
                static __SQ_RECEIVER: #p::ReceiverDef = #p::ReceiverDef {
                    name: #name,
                    location: #location,
                    sender: #sender,
                    retries: #retries,
                    timeout: #timeout,
                    glue: __sq_glue,
                };
                #p::inventory::submit! {
                    #p::ReceiverRegistration(&__SQ_RECEIVER)
                }
            };
        }
    }
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// `&Delivery` (or `&signalqueue::Delivery`...): the optional first parameter.
fn is_delivery(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) => p
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "Delivery" && s.arguments.is_empty()),
            _ => false,
        },
        _ => false,
    }
}
