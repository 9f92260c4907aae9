//! The item under the attribute: `pub static NAME: TypeName;`.

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Ident, Token, Type, Visibility};

use crate::errors::Errors;

/// The parsed declaration.
pub(crate) struct SignalItem {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    /// The struct to generate; `None` when it was missing (an error is recorded).
    pub(crate) ty: Option<Ident>,
}

const FORM: &str = "`pub static FORM_SUBMIT: FormSubmit;`";

impl SignalItem {
    /// `None` when the item is not a static at all.
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Option<SignalItem> {
        let parser = |input: ParseStream<'_>| -> syn::Result<Option<SignalItem>> {
            let attrs = input.call(Attribute::parse_outer)?;
            let vis: Visibility = input.parse()?;
            if !input.peek(Token![static]) {
                let rest: TokenStream = input.parse()?;
                let first = rest.clone().into_iter().next();
                errors.at(
                    first.map(|t| t.into()).unwrap_or(rest),
                    format!("`#[async_signal]` goes on a static declaration without a value, such as {FORM}"),
                );
                return Ok(None);
            }
            input.parse::<Token![static]>()?;
            if let Some(m) = input.parse::<Option<Token![mut]>>()? {
                errors.at(m, "a signal cannot be `static mut`; remove `mut`");
            }
            let name: Ident = input.parse()?;
            let ty = if input.peek(Token![:]) {
                let colon: Token![:] = input.parse()?;
                let ty: Type = input.parse()?;
                match &ty {
                    Type::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                        p.path.get_ident().cloned()
                    }
                    _ => {
                        let _ = colon;
                        errors.at(
                            &ty,
                            "the type of a signal static names the struct to generate; write a plain name such as `FormSubmit`",
                        );
                        None
                    }
                }
            } else {
                errors.at(
                    &name,
                    format!("`{name}` needs the name of the signal type to generate after a colon, as in {FORM}"),
                );
                None
            };
            if input.peek(Token![=]) {
                let eq: Token![=] = input.parse()?;
                let value: syn::Expr = input.parse()?;
                errors.at(
                    quote::quote!(#eq #value),
                    "remove the initializer: `#[async_signal]` generates the signal's value, write only the declaration as in `pub static FORM_SUBMIT: FormSubmit;`",
                );
            }
            input.parse::<Token![;]>()?;
            Ok(Some(SignalItem {
                attrs,
                vis,
                name,
                ty,
            }))
        };
        match parser.parse2(tokens) {
            Ok(item) => item,
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }

    /// The doc comment lines, for the generated items and the registry.
    pub(crate) fn doc_lines(&self) -> Vec<String> {
        self.attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .filter_map(|a| match &a.meta {
                syn::Meta::NameValue(nv) => match &nv.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => Some(s.value().trim().to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
}
