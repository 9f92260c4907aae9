//! The attribute's arguments: `providing_args = [name: Type, ...]`, `name`, `queue`.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Token, Type};

use crate::errors::Errors;

/// One of `providing_args`.
pub(crate) struct Arg {
    pub(crate) name: Ident,
    pub(crate) ty: Type,
}

/// The parsed attribute; what is missing or wrong has been recorded in `Errors`.
#[derive(Default)]
pub(crate) struct SignalAttr {
    pub(crate) args: Vec<Arg>,
    pub(crate) name: Option<LitStr>,
    pub(crate) queue: Option<LitStr>,
}

const KEYS: &str = "`providing_args`, `name` or `queue`";
const EXAMPLE: &str = "`#[async_signal(providing_args = [instance: Order])]`";

impl SignalAttr {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> SignalAttr {
        let mut attr = SignalAttr::default();
        let mut seen_args: Option<Span> = None;
        let parser = |input: ParseStream<'_>| -> syn::Result<()> {
            while !input.is_empty() {
                let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
                if !input.peek(Token![=]) {
                    errors.at(&key, format!("expected `=` after `{key}`, as in {EXAMPLE}"));
                    skip_to_comma(input)?;
                    continue;
                }
                input.parse::<Token![=]>()?;
                match key.to_string().as_str() {
                    "providing_args" => {
                        if seen_args.is_some() {
                            errors.at(&key, "`providing_args` is given twice; list every argument in one `providing_args = [...]`");
                            skip_to_comma(input)?;
                        } else {
                            seen_args = Some(key.span());
                            attr.args = parse_args(input, &key, errors)?;
                        }
                    }
                    "name" | "queue" => {
                        let value = if input.peek(LitStr) {
                            Some(input.parse::<LitStr>()?)
                        } else {
                            let bad: TokenStream = take_to_comma(input)?;
                            errors.at(
                                if bad.is_empty() {
                                    quote::ToTokens::to_token_stream(&key)
                                } else {
                                    bad
                                },
                                format!("`{key}` takes a string: `{key} = \"...\"`"),
                            );
                            None
                        };
                        let slot = if key == "name" {
                            &mut attr.name
                        } else {
                            &mut attr.queue
                        };
                        if slot.is_some() {
                            errors.at(&key, format!("`{key}` is given twice; keep one"));
                        } else if let Some(value) = value {
                            if value.value().is_empty() {
                                errors.at(&value, format!("`{key}` cannot be empty"));
                            }
                            *slot = Some(value);
                        }
                    }
                    other => {
                        errors.at(&key, format!("unknown key `{other}`; expected {KEYS}"));
                        skip_to_comma(input)?;
                    }
                }
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
            }
            Ok(())
        };
        if let Err(e) = parser.parse2(tokens) {
            errors.push(e);
        } else if seen_args.is_none() {
            errors.push(syn::Error::new(
                Span::call_site(),
                format!(
                    "missing `providing_args`: declare the signal's arguments, as in {EXAMPLE}"
                ),
            ));
        }
        attr
    }
}

/// `[name: Type, ...]`.
fn parse_args(input: ParseStream<'_>, key: &Ident, errors: &mut Errors) -> syn::Result<Vec<Arg>> {
    if !input.peek(syn::token::Bracket) {
        let bad = take_to_comma(input)?;
        errors.at(
            if bad.is_empty() {
                quote::ToTokens::to_token_stream(key)
            } else {
                bad
            },
            format!("`providing_args` takes a list in brackets, as in {EXAMPLE}"),
        );
        return Ok(Vec::new());
    }
    let content;
    let brackets = syn::bracketed!(content in input);
    let mut args: Vec<Arg> = Vec::new();
    let mut entries = 0;
    while !content.is_empty() {
        entries += 1;
        if !content.peek(Ident) {
            let bad = take_to_comma(&content)?;
            errors.at(
                bad,
                "expected an argument as `name: Type`, e.g. `instance: Order`",
            );
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
            continue;
        }
        let name: Ident = content.parse()?;
        if content.peek(Token![:]) && !content.peek(Token![::]) {
            content.parse::<Token![:]>()?;
            let ty: Type = content.parse()?;
            if args.iter().any(|a| a.name == name) {
                errors.at(
                    &name,
                    format!("argument `{name}` is listed twice; give each argument its own name"),
                );
            } else {
                args.push(Arg { name, ty });
            }
        } else {
            errors.at(
                &name,
                format!("argument `{name}` has no type; Rust needs `{name}: Type`, e.g. `{name}: Order`"),
            );
            skip_to_comma(&content)?;
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    if entries == 0 {
        errors.push(syn::Error::new(
            brackets.span.join(),
            format!("`providing_args` is empty; a signal carries at least one argument, as in {EXAMPLE}"),
        ));
    }
    Ok(args)
}

fn take_to_comma(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut out = TokenStream::new();
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt {
                if p.as_char() == ',' {
                    return Ok((out, rest));
                }
            }
            out.extend(std::iter::once(tt));
            rest = next;
        }
        Ok((out, rest))
    })
}

fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    take_to_comma(input).map(|_| ())
}
