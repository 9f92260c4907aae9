//! Periodic signals: when their ticks fall.
//!
//! `#[async_signal(schedule = "*/10 * * * * *")]` (or `every = "30s"`) fills a [`ScheduleDef`]
//! that the macro has already validated; the scheduler asks it for ticks. Ticks are pure
//! functions of the declaration and the clock, so every worker process computes the same ones
//! without talking to the others: the engine's tick keys then make each tick enqueue once.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// When a periodic signal is due, as declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduleDef {
    /// The schedule as written: the cron expression (`"*/10 * * * * *"`, `"@daily"`), or the
    /// `every` duration (`"30s"`) when [`every`](Self::every) is set.
    pub expr: &'static str,
    /// `every = "..."`: one tick per period, at the multiples of the period since the Unix
    /// epoch. `None` for a cron expression.
    pub every: Option<Duration>,
    /// The IANA time zone the cron expression is read in (`"Europe/Paris"`); `"UTC"` unless
    /// declared. Periods of `every` do not depend on it.
    pub timezone: &'static str,
    /// What the scheduler does with ticks that passed while no worker was running.
    pub catch_up: CatchUp,
}

/// What happens to the ticks missed while every worker was down, when one comes back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CatchUp {
    /// Enqueue only the most recent missed tick, then carry on (the default): a sweep that
    /// runs late runs once.
    #[default]
    Last,
    /// Enqueue none of the missed ticks: wait for the next one.
    None,
    /// Enqueue every missed tick, oldest first (up to the scheduler's limit), for jobs that
    /// must run once per period, such as a report per hour.
    All,
}

impl CatchUp {
    /// The name as declared: `"last"`, `"none"` or `"all"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Last => "last",
            CatchUp::None => "none",
            CatchUp::All => "all",
        }
    }
}

impl std::fmt::Display for CatchUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ScheduleDef {
    /// A cron schedule: 5 fields (minute hour day-of-month month day-of-week), 6 with seconds
    /// first, or an alias (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`), read in
    /// `timezone`.
    pub const fn cron(expr: &'static str, timezone: &'static str, catch_up: CatchUp) -> Self {
        ScheduleDef {
            expr,
            every: None,
            timezone,
            catch_up,
        }
    }

    /// A tick every `period`, at its multiples since the Unix epoch; `written` is the
    /// declaration (`"30s"`).
    pub const fn every(written: &'static str, period: Duration, catch_up: CatchUp) -> Self {
        ScheduleDef {
            expr: written,
            every: Some(period),
            timezone: "UTC",
            catch_up,
        }
    }

    /// `Ok` when the expression and the time zone parse (the macro has checked them; a
    /// hand-written definition may not be).
    pub fn check(&self) -> Result<(), String> {
        match self.every {
            Some(period) if period.is_zero() => Err(format!(
                "`every = \"{}\"` is zero; give a period such as `\"30s\"`",
                self.expr
            )),
            Some(_) => Ok(()),
            None => self.cron_in_zone().map(|_| ()),
        }
    }

    /// The first tick strictly after `t`; `None` when there is none (or the definition does
    /// not [`check`](Self::check)).
    pub fn next_after(&self, t: SystemTime) -> Option<SystemTime> {
        match self.every {
            Some(period) => next_multiple(period, t),
            None => {
                let (cron, tz) = self.cron_in_zone().ok()?;
                next_cron(&cron, tz, t)
            }
        }
    }

    /// The ticks in `(after, until]`, oldest first, at most `max` of them (the oldest ones).
    pub fn ticks_between(
        &self,
        after: SystemTime,
        until: SystemTime,
        max: usize,
    ) -> Vec<SystemTime> {
        let mut ticks = Vec::new();
        if max == 0 || until <= after {
            return ticks;
        }
        let cron = match self.every {
            Some(_) => None,
            None => match self.cron_in_zone() {
                Ok(parsed) => Some(parsed),
                Err(_) => return ticks,
            },
        };
        let mut t = after;
        while ticks.len() < max {
            let next = match (&cron, self.every) {
                (Some((cron, tz)), _) => next_cron(cron, *tz, t),
                (None, Some(period)) => next_multiple(period, t),
                (None, None) => None,
            };
            match next {
                Some(next) if next <= until => {
                    ticks.push(next);
                    t = next;
                }
                _ => break,
            }
        }
        ticks
    }

    fn cron_in_zone(&self) -> Result<(Cron, Tz), String> {
        let cron = parse_cron(self.expr)?;
        let tz = Tz::from_str(self.timezone)
            .map_err(|_| format!("unknown time zone `{}`", self.timezone))?;
        Ok((cron, tz))
    }
}

/// The parser both the macro and the runtime use: seconds optional (5 fields are minutes
/// first, 6 fields seconds first), no year field, day-of-month and day-of-week combined by
/// "or" as in Vixie cron. Keep it in step with `signalqueue-macros/src/signal/schedule.rs`.
fn parse_cron(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

fn next_cron(cron: &Cron, tz: Tz, t: SystemTime) -> Option<SystemTime> {
    let local = DateTime::<Utc>::from(t).with_timezone(&tz);
    cron.find_next_occurrence(&local, false)
        .ok()
        .map(|next| SystemTime::from(next.with_timezone(&Utc)))
}

/// The first multiple of `period` since the epoch strictly after `t`.
fn next_multiple(period: Duration, t: SystemTime) -> Option<SystemTime> {
    let period = period.as_nanos();
    if period == 0 {
        return None;
    }
    let since = t.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    let next = (since / period + 1).checked_mul(period)?;
    let secs = u64::try_from(next / 1_000_000_000).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, (next % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        SystemTime::from(DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    fn show(ticks: &[SystemTime]) -> Vec<String> {
        ticks
            .iter()
            .map(|t| DateTime::<Utc>::from(*t).to_rfc3339())
            .collect()
    }

    #[test]
    fn six_fields_start_with_seconds() {
        let def = ScheduleDef::cron("*/10 * * * * *", "UTC", CatchUp::Last);
        assert_eq!(def.check(), Ok(()));
        let ticks = def.ticks_between(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:30Z"), 10);
        assert_eq!(
            show(&ticks),
            [
                "2026-01-01T00:00:10+00:00",
                "2026-01-01T00:00:20+00:00",
                "2026-01-01T00:00:30+00:00"
            ]
        );
    }

    #[test]
    fn five_fields_start_with_minutes() {
        let def = ScheduleDef::cron("*/10 * * * *", "UTC", CatchUp::Last);
        let next = def.next_after(at("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(show(&[next]), ["2026-01-01T00:10:00+00:00"]);
        // Strictly after: a tick is not its own successor.
        let next = def.next_after(next).unwrap();
        assert_eq!(show(&[next]), ["2026-01-01T00:20:00+00:00"]);
    }

    #[test]
    fn aliases() {
        let def = ScheduleDef::cron("@daily", "UTC", CatchUp::Last);
        let next = def.next_after(at("2026-01-01T12:00:00Z")).unwrap();
        assert_eq!(show(&[next]), ["2026-01-02T00:00:00+00:00"]);
        let def = ScheduleDef::cron("@hourly", "UTC", CatchUp::Last);
        let next = def.next_after(at("2026-01-01T12:30:00Z")).unwrap();
        assert_eq!(show(&[next]), ["2026-01-01T13:00:00+00:00"]);
    }

    #[test]
    fn a_time_zone_across_the_spring_dst_change() {
        // 9:00 in Paris is 8:00 UTC in winter and 7:00 UTC once clocks go forward on the last
        // Sunday of March (2026-03-29): that day is 23 hours long.
        let def = ScheduleDef::cron("0 9 * * *", "Europe/Paris", CatchUp::Last);
        let ticks = def.ticks_between(at("2026-03-27T12:00:00Z"), at("2026-03-30T12:00:00Z"), 10);
        assert_eq!(
            show(&ticks),
            [
                "2026-03-28T08:00:00+00:00",
                "2026-03-29T07:00:00+00:00",
                "2026-03-30T07:00:00+00:00"
            ]
        );
    }

    #[test]
    fn a_tick_in_the_skipped_hour() {
        // 2:30 does not exist in Paris on 2026-03-29 (2:00 becomes 3:00). croner runs such a
        // tick once, at the first instant after the gap (OCPS), rather than skip the day.
        let def = ScheduleDef::cron("30 2 * * *", "Europe/Paris", CatchUp::Last);
        let ticks = def.ticks_between(at("2026-03-28T00:00:00Z"), at("2026-03-30T12:00:00Z"), 10);
        assert_eq!(
            show(&ticks),
            [
                "2026-03-28T01:30:00+00:00",
                "2026-03-29T01:00:00+00:00",
                "2026-03-30T00:30:00+00:00"
            ]
        );
    }

    #[test]
    fn a_tick_in_the_repeated_hour_runs_once() {
        // On 2026-10-25 Paris goes from 3:00 back to 2:00, so 2:30 happens twice.
        let def = ScheduleDef::cron("30 2 * * *", "Europe/Paris", CatchUp::Last);
        let ticks = def.ticks_between(at("2026-10-24T12:00:00Z"), at("2026-10-25T12:00:00Z"), 10);
        assert_eq!(show(&ticks), ["2026-10-25T00:30:00+00:00"]);
    }

    #[test]
    fn every_counts_from_the_epoch() {
        let def = ScheduleDef::every("30s", Duration::from_secs(30), CatchUp::All);
        assert_eq!(def.check(), Ok(()));
        let next = def.next_after(at("2026-01-01T00:00:07Z")).unwrap();
        assert_eq!(show(&[next]), ["2026-01-01T00:00:30+00:00"]);
        let ticks = def.ticks_between(at("2026-01-01T00:00:30Z"), at("2026-01-01T00:10:00Z"), 3);
        assert_eq!(
            show(&ticks),
            [
                "2026-01-01T00:01:00+00:00",
                "2026-01-01T00:01:30+00:00",
                "2026-01-01T00:02:00+00:00"
            ]
        );
    }

    #[test]
    fn ticks_between_is_half_open() {
        let def = ScheduleDef::every("1m", Duration::from_secs(60), CatchUp::Last);
        let ticks = def.ticks_between(at("2026-01-01T00:01:00Z"), at("2026-01-01T00:02:00Z"), 10);
        assert_eq!(show(&ticks), ["2026-01-01T00:02:00+00:00"]);
        assert!(def
            .ticks_between(at("2026-01-01T00:02:00Z"), at("2026-01-01T00:02:00Z"), 10)
            .is_empty());
    }

    #[test]
    fn bad_definitions_have_no_ticks() {
        let def = ScheduleDef::cron("61 * * * *", "UTC", CatchUp::Last);
        assert!(def.check().is_err());
        assert_eq!(def.next_after(SystemTime::now()), None);
        let def = ScheduleDef::cron("* * * * *", "Europe/Pari", CatchUp::Last);
        assert!(def.check().unwrap_err().contains("unknown time zone"));
        let def = ScheduleDef::cron("* * * * * * *", "UTC", CatchUp::Last);
        assert!(def.check().is_err(), "a year field is not accepted");
    }
}
