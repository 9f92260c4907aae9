//! The attribute's arguments: the signal's path, then `sender`, `retries`, `name`.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitInt, LitStr, Path, Token};

use crate::errors::Errors;

/// The parsed attribute.
pub(crate) struct ReceiverAttr {
    pub(crate) signal: Path,
    pub(crate) sender: Option<LitStr>,
    pub(crate) retries: Option<LitInt>,
    pub(crate) name: Option<LitStr>,
    pub(crate) timeout_ms: Option<LitInt>,
}

const KEYS: &str = "`sender`, `retries`, `timeout_ms` or `name`";

impl ReceiverAttr {
    /// `None` when the signal path is missing or unreadable (an error is recorded).
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Option<ReceiverAttr> {
        if tokens.is_empty() {
            errors.push(syn::Error::new(
                Span::call_site(),
                "`#[receiver]` needs the signal it receives, as in `#[receiver(FORM_SUBMIT)]`",
            ));
            return None;
        }
        let parser = |input: ParseStream<'_>| -> syn::Result<ReceiverAttr> {
            let signal: Path = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected the path of a signal static first, as in `#[receiver(FORM_SUBMIT)]` or `#[receiver(crate::signals::FORM_SUBMIT)]`",
                )
            })?;
            let mut attr = ReceiverAttr {
                signal,
                sender: None,
                retries: None,
                name: None,
                timeout_ms: None,
            };
            while !input.is_empty() {
                input.parse::<Token![,]>()?;
                if input.is_empty() {
                    break;
                }
                let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                input.parse::<Token![=]>().map_err(|e| {
                    syn::Error::new(e.span(), format!("expected `=` after `{key}`"))
                })?;
                match key.to_string().as_str() {
                    "sender" | "name" => {
                        let lit: LitStr = input.parse().map_err(|e| {
                            syn::Error::new(
                                e.span(),
                                format!("`{key}` takes a string: `{key} = \"...\"`"),
                            )
                        })?;
                        let slot = if key == "sender" {
                            &mut attr.sender
                        } else {
                            &mut attr.name
                        };
                        if slot.is_some() {
                            errors.at(&key, format!("`{key}` is given twice; keep one"));
                        }
                        *slot = Some(lit);
                    }
                    "retries" => {
                        let lit: LitInt = input.parse().map_err(|e| {
                            syn::Error::new(
                                e.span(),
                                "`retries` takes a whole number: `retries = 3`",
                            )
                        })?;
                        if let Err(e) = lit.base10_parse::<u32>() {
                            errors.at(&lit, format!("`retries` must fit in a `u32`: {e}"));
                        }
                        if attr.retries.is_some() {
                            errors.at(&key, "`retries` is given twice; keep one");
                        }
                        attr.retries = Some(lit);
                    }
                    "timeout_ms" => {
                        let lit: LitInt = input.parse().map_err(|e| {
                            syn::Error::new(
                                e.span(),
                                "`timeout_ms` takes a whole number of milliseconds: `timeout_ms = 30000`",
                            )
                        })?;
                        match lit.base10_parse::<u64>() {
                            Ok(0) => errors.at(
                                &lit,
                                "`timeout_ms` must be at least 1; leave it out for no limit",
                            ),
                            Ok(_) => {}
                            Err(e) => {
                                errors.at(&lit, format!("`timeout_ms` must fit in a `u64`: {e}"))
                            }
                        }
                        if attr.timeout_ms.is_some() {
                            errors.at(&key, "`timeout_ms` is given twice; keep one");
                        }
                        attr.timeout_ms = Some(lit);
                    }
                    other => {
                        errors.at(&key, format!("unknown key `{other}`; expected {KEYS}"));
                        let _: TokenStream = input.step(|c| {
                            let mut rest = *c;
                            while let Some((tt, next)) = rest.token_tree() {
                                if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                                    break;
                                }
                                rest = next;
                            }
                            Ok((TokenStream::new(), rest))
                        })?;
                    }
                }
            }
            Ok(attr)
        };
        match parser.parse2(tokens) {
            Ok(attr) => Some(attr),
            Err(e) => {
                errors.push(e);
                None
            }
        }
    }
}
