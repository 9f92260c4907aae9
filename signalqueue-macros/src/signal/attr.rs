//! The attribute's arguments: `providing_args = [name: Type, ...]` (each type optionally
//! followed by `with MappingType`), `name`, `queue`, `on_missing`.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Token, Type};

use super::schedule;
use crate::errors::Errors;

/// One of `providing_args`.
pub(crate) struct Arg {
    pub(crate) name: Ident,
    pub(crate) ty: Type,
    /// `with Path`: the `Mapping` the argument travels through.
    pub(crate) mapping: Option<syn::Path>,
}

impl Arg {
    /// Whether the argument is sent by reference: its type's last path segment is `Ref<...>`.
    /// The macro cannot resolve names, so this is by spelling; the generated resolve step then
    /// needs the type to be `signalqueue::Ref`, and says so if it is another `Ref`.
    pub(crate) fn is_ref(&self) -> bool {
        match &self.ty {
            Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
                s.ident == "Ref" && matches!(s.arguments, syn::PathArguments::AngleBracketed(_))
            }),
            _ => false,
        }
    }
}

/// What to do when a referenced row is gone.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnMissing {
    Deliver,
    Skip,
}

/// What the scheduler does with ticks missed while no worker ran (`signalqueue::CatchUp`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CatchUp {
    Last,
    None,
    All,
}

/// When a periodic signal is due: a cron expression or a period, both validated.
pub(crate) enum When {
    Cron(LitStr),
    Every(LitStr, std::time::Duration),
}

mod kw {
    syn::custom_keyword!(with);
}

/// The parsed attribute; what is missing or wrong has been recorded in `Errors`.
#[derive(Default)]
pub(crate) struct SignalAttr {
    pub(crate) args: Vec<Arg>,
    pub(crate) name: Option<LitStr>,
    pub(crate) queue: Option<LitStr>,
    pub(crate) on_missing: Option<OnMissing>,
    /// Set when the signal is periodic and its schedule is valid.
    pub(crate) when: Option<When>,
    /// `timezone = "..."`, valid; only with `schedule`.
    pub(crate) timezone: Option<LitStr>,
    pub(crate) catch_up: Option<CatchUp>,
}

const KEYS: &str = "`providing_args`, `name`, `queue`, `on_missing`, `schedule`, `every`, `timezone` or `catch_up`";
const PERIODIC: &str =
    "`#[async_signal(schedule = \"0 * * * *\")]` or `#[async_signal(every = \"30s\")]`";
const EXAMPLE: &str = "`#[async_signal(providing_args = [instance: Order])]`";

impl SignalAttr {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> SignalAttr {
        let mut attr = SignalAttr::default();
        let mut seen_args: Option<Ident> = None;
        let mut on_missing_key: Option<Ident> = None;
        // The periodic keys as written (even when their value is wrong), for the checks
        // across keys once all are parsed.
        let mut schedule_lit: Option<LitStr> = None;
        let mut every_lit: Option<LitStr> = None;
        let mut timezone_lit: Option<LitStr> = None;
        let mut catch_up_key: Option<Ident> = None;
        // `schedule` or `every` was given, even with a value that is not a string.
        let mut periodic_key = false;
        let mut cron: Option<LitStr> = None;
        let mut every: Option<std::time::Duration> = None;
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
                        if first_time(
                            &mut seen_args,
                            &key,
                            errors,
                            "list every argument in one `providing_args = [...]`",
                        ) {
                            attr.args = parse_args(input, &key, errors)?;
                        } else {
                            skip_to_comma(input)?;
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
                    "on_missing" => {
                        if first_time(&mut on_missing_key, &key, errors, "keep one") {
                            attr.on_missing = parse_on_missing(input, &key, errors)?;
                        } else {
                            skip_to_comma(input)?;
                        }
                    }
                    "schedule" | "every" | "timezone" => {
                        let slot = match key.to_string().as_str() {
                            "schedule" => &mut schedule_lit,
                            "every" => &mut every_lit,
                            _ => &mut timezone_lit,
                        };
                        if key != "timezone" {
                            periodic_key = true;
                        }
                        let value = parse_string(input, &key, errors)?;
                        if slot.is_some() {
                            errors.at(&key, format!("`{key}` is given twice; keep one"));
                        } else if let Some(value) = value {
                            let written = value.value();
                            if key == "schedule" {
                                match schedule::check_cron(&written) {
                                    Ok(()) => cron = Some(value.clone()),
                                    Err(why) => errors.at(
                                        &value,
                                        format!(
                                            "`{written}` is not a cron expression ({why}); {}",
                                            schedule::CRON_FORMS
                                        ),
                                    ),
                                }
                            } else if key == "every" {
                                match schedule::parse_every(&written) {
                                    Ok(period) => every = Some(period),
                                    Err(why) => errors.at(
                                        &value,
                                        format!("`every = \"{written}\"` is not a period ({why}); write a duration with its unit, such as `\"30s\"`, `\"5m\"` or `\"1h 30m\"`"),
                                    ),
                                }
                            } else if let Err(how) = schedule::check_timezone(&written) {
                                errors.at(&value, format!("unknown time zone `{written}`; {how}"));
                            }
                            *slot = Some(value);
                        }
                    }
                    "catch_up" => {
                        if first_time(&mut catch_up_key, &key, errors, "keep one") {
                            attr.catch_up = parse_catch_up(input, &key, errors)?;
                        } else {
                            skip_to_comma(input)?;
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
            return attr;
        }
        // The schedule's literal stands for the periodic declaration in errors across keys.
        let periodic = schedule_lit.as_ref().or(every_lit.as_ref());
        if let (Some(_), Some(every)) = (&schedule_lit, &every_lit) {
            errors.at(
                every,
                "`every` and `schedule` both say when the signal is due; keep one: `every` for a fixed period, `schedule` for a cron expression",
            );
        }
        if let (None, Some(_), Some(timezone)) = (&schedule_lit, &every_lit, &timezone_lit) {
            errors.at(
                timezone,
                "`timezone` applies to `schedule`: `every` ticks at multiples of its period since the Unix epoch whatever the zone; remove `timezone`, or use a cron `schedule`",
            );
        }
        if !periodic_key {
            if let Some(timezone) = &timezone_lit {
                errors.at(
                    timezone,
                    format!("`timezone` applies to periodic signals; add a `schedule`, as in {PERIODIC}, or remove `timezone`"),
                );
            }
            if let Some(key) = &catch_up_key {
                errors.at(
                    key,
                    format!("`catch_up` applies to periodic signals; add a `schedule`, as in {PERIODIC}, or remove `catch_up`"),
                );
            }
        }
        if let (Some(periodic), Some(_)) = (periodic, &seen_args) {
            let key = if schedule_lit.is_some() {
                "schedule"
            } else {
                "every"
            };
            errors.at(
                periodic,
                format!("a periodic signal has no arguments: remove `providing_args`, or remove `{key}` and send the signal with its arguments yourself"),
            );
        } else if !periodic_key && seen_args.is_none() {
            errors.push(syn::Error::new(
                Span::call_site(),
                format!(
                    "missing `providing_args`: declare the signal's arguments, as in {EXAMPLE}, or make it periodic, as in {PERIODIC}"
                ),
            ));
        } else if let Some(key) = &on_missing_key {
            if !attr.args.iter().any(Arg::is_ref) {
                errors.at(
                    key,
                    "`on_missing` applies to arguments sent by reference, and this signal has none; \
                     remove it, or declare an argument as `instance: Ref<Order>`",
                );
            }
        }
        attr.when = match (cron, every) {
            (Some(cron), None) => Some(When::Cron(cron)),
            (None, Some(period)) => every_lit.map(|lit| When::Every(lit, period)),
            _ => None,
        };
        attr.timezone = timezone_lit;
        attr
    }
}

/// A string value, or an error saying the key takes one.
fn parse_string(
    input: ParseStream<'_>,
    key: &Ident,
    errors: &mut Errors,
) -> syn::Result<Option<LitStr>> {
    if input.peek(LitStr) {
        return Ok(Some(input.parse()?));
    }
    let bad: TokenStream = take_to_comma(input)?;
    errors.at(
        if bad.is_empty() {
            quote::ToTokens::to_token_stream(key)
        } else {
            bad
        },
        format!("`{key}` takes a string: `{key} = \"...\"`"),
    );
    Ok(None)
}

/// `"last"`, `"none"` or `"all"`.
fn parse_catch_up(
    input: ParseStream<'_>,
    key: &Ident,
    errors: &mut Errors,
) -> syn::Result<Option<CatchUp>> {
    const HOW: &str = "`catch_up = \"last\"` (after the workers were down across ticks, enqueue the most recent missed tick; the default), `\"none\"` (skip the missed ticks) or `\"all\"` (enqueue every missed tick, oldest first)";
    let Some(value) = parse_string_quietly(input, key, errors, HOW)? else {
        return Ok(None);
    };
    match value.value().as_str() {
        "last" => Ok(Some(CatchUp::Last)),
        "none" => Ok(Some(CatchUp::None)),
        "all" => Ok(Some(CatchUp::All)),
        other => {
            errors.at(
                &value,
                format!("unknown `catch_up` value `{other:?}`; expected {HOW}"),
            );
            Ok(None)
        }
    }
}

/// A string value, or an error saying the key takes one of `how`.
fn parse_string_quietly(
    input: ParseStream<'_>,
    key: &Ident,
    errors: &mut Errors,
    how: &str,
) -> syn::Result<Option<LitStr>> {
    if input.peek(LitStr) {
        return Ok(Some(input.parse()?));
    }
    let bad = take_to_comma(input)?;
    errors.at(
        if bad.is_empty() {
            quote::ToTokens::to_token_stream(key)
        } else {
            bad
        },
        format!("`{key}` takes a string: {how}"),
    );
    Ok(None)
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
            let mapping = parse_mapping(&content, &ty, errors)?;
            if args.iter().any(|a| a.name == name) {
                errors.at(
                    &name,
                    format!("argument `{name}` is listed twice; give each argument its own name"),
                );
            } else {
                args.push(Arg { name, ty, mapping });
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

/// `with MappingType` after an argument's type, if present.
fn parse_mapping(
    input: ParseStream<'_>,
    ty: &Type,
    errors: &mut Errors,
) -> syn::Result<Option<syn::Path>> {
    if !input.peek(kw::with) {
        return Ok(None);
    }
    let with: kw::with = input.parse()?;
    if input.peek(Ident) || input.peek(Token![::]) || input.peek(Token![crate]) {
        let fork = input.fork();
        if let Ok(path) = fork.parse::<syn::Path>() {
            if fork.is_empty() || fork.peek(Token![,]) {
                input.parse::<syn::Path>()?;
                return Ok(Some(path));
            }
        }
    }
    let bad = take_to_comma(input)?;
    let ty = quote::ToTokens::to_token_stream(ty).to_string();
    errors.at(
        if bad.is_empty() {
            quote::ToTokens::to_token_stream(&with)
        } else {
            bad
        },
        format!(
            "`with` takes the path of a type implementing `signalqueue::Mapping<{ty}>`, as in `when: Timestamp with TimestampMapping`"
        ),
    );
    Ok(None)
}

/// `"deliver"` or `"skip"`.
fn parse_on_missing(
    input: ParseStream<'_>,
    key: &Ident,
    errors: &mut Errors,
) -> syn::Result<Option<OnMissing>> {
    const HOW: &str = "`on_missing = \"deliver\"` (receivers get a `Ref` whose `get()` is `None`) or `on_missing = \"skip\"` (the signal is acknowledged without running receivers)";
    if !input.peek(LitStr) {
        let bad = take_to_comma(input)?;
        errors.at(
            if bad.is_empty() {
                quote::ToTokens::to_token_stream(key)
            } else {
                bad
            },
            format!("`on_missing` takes a string: {HOW}"),
        );
        return Ok(None);
    }
    let value: LitStr = input.parse()?;
    match value.value().as_str() {
        "deliver" => Ok(Some(OnMissing::Deliver)),
        "skip" => Ok(Some(OnMissing::Skip)),
        other => {
            errors.at(
                &value,
                format!("unknown `on_missing` value `{other:?}`; expected {HOW}"),
            );
            Ok(None)
        }
    }
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

/// A key that takes one value: remembers the first one in `seen` and returns true; a second one
/// is an error on that second key (as tracing-attributes reports duplicates), and false tells
/// the caller to skip its value, so one mistake gives one error.
fn first_time(seen: &mut Option<Ident>, key: &Ident, errors: &mut Errors, fix: &str) -> bool {
    if seen.is_some() {
        errors.at(key, format!("`{key}` is given twice; {fix}"));
        false
    } else {
        *seen = Some(key.clone());
        true
    }
}
