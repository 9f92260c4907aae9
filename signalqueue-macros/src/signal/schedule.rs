//! A periodic signal's `schedule`, `every` and `timezone`, checked at compile time with the
//! parsers the runtime computes its ticks with (`signalqueue/src/schedule.rs`), so a schedule
//! that compiles has ticks.

use std::str::FromStr;
use std::time::Duration;

use croner::parser::{CronParser, Seconds, Year};

/// How to write a schedule, for the error messages.
pub(crate) const CRON_FORMS: &str = "write 5 fields (`minute hour day-of-month month day-of-week`, as in `\"0 * * * *\"`), 6 with seconds first (`\"*/10 * * * * *\"`), or an alias: `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`";

/// `Err` with what is wrong when `expr` is not a cron expression the runtime accepts. The
/// parser's settings are the runtime's: seconds optional, no year field.
pub(crate) fn check_cron(expr: &str) -> Result<(), String> {
    let fields = expr.split_whitespace().count();
    if expr.trim_start().starts_with('@') {
        return parse(expr).map_err(|e| plain(&e.to_string()));
    }
    if !(5..=6).contains(&fields) {
        return Err(format!("it has {fields} fields"));
    }
    parse(expr).map_err(|e| match culprit(expr) {
        Some(field) => field,
        None => plain(&e.to_string()),
    })
}

fn parse(expr: &str) -> Result<(), croner::errors::CronError> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map(|_| ())
}

/// The first field that is wrong on its own, with its range: each field is tried with `*` in
/// every other, so the message names the field rather than the parser's "number out of
/// bounds".
fn culprit(expr: &str) -> Option<String> {
    const FIELDS: [(&str, &str); 6] = [
        ("second", "0-59"),
        ("minute", "0-59"),
        ("hour", "0-23"),
        ("day-of-month", "1-31"),
        ("month", "1-12 or JAN-DEC"),
        ("day-of-week", "0-7 or SUN-SAT"),
    ];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let names = &FIELDS[6 - fields.len()..];
    fields.iter().enumerate().find_map(|(i, field)| {
        let alone: Vec<&str> = (0..fields.len())
            .map(|j| if i == j { *field } else { "*" })
            .collect();
        parse(&alone.join(" ")).err().map(|_| {
            let (name, range) = names[i];
            format!("the {name} field `{field}` is not valid; it takes {range}")
        })
    })
}

/// `Err` with a suggestion when `name` is not an IANA time zone.
pub(crate) fn check_timezone(name: &str) -> Result<(), String> {
    if chrono_tz::Tz::from_str(name).is_ok() {
        return Ok(());
    }
    let close = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .find(|known| known.eq_ignore_ascii_case(name));
    Err(match close {
        Some(known) => format!("did you mean `\"{known}\"`?"),
        None => "write an IANA name such as `\"Europe/Paris\"` or `\"America/New_York\"`, or leave `timezone` out for UTC".into(),
    })
}

/// The period of `every = "..."`, or what is wrong with it.
pub(crate) fn parse_every(written: &str) -> Result<Duration, String> {
    match humantime::parse_duration(written) {
        Ok(d) if d.is_zero() => Err("the period is zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(plain(&e.to_string())),
    }
}

/// A library's message in the house style: lowercase first letter, no final period.
fn plain(message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
